import { has, t } from "./i18n.svelte";

/** What the reading pane asks the Mail view to do with the open message. */
export type Act = "reply" | "replyAll" | "forward" | "archive" | "trash" | "block" | "inbox" | "edit" | "star" | "unread"
  /** Something about it changed elsewhere (its sender's key was verified): shown anew. */
  | "refresh";

/** A mail folder's name as shown: a standard folder's in the UI's language, the user's own
 * as they named it. */
export const folderName = (name: string) => {
  const k = `mail.folder.${name}`;
  return has(k) ? t(k) : name;
};
