/** What the reading pane asks the Mail view to do with the open message. */
export type Act = "reply" | "replyAll" | "forward" | "archive" | "trash" | "block" | "inbox" | "edit" | "star" | "unread"
  /** Something about it changed elsewhere (its sender's key was verified): shown anew. */
  | "refresh";
