/** The app's commands, as generated from Rust (`bindings.ts`), with failures turned into
 * thrown `AppError`s carrying the stable code from the client core. */
import { commands, events, type Action, type Compose, type Failure, type FolderPass, type ImportProgress, type Lang, type ListFilter, type Proof, type SecondFactorStep, type Transfer } from "./bindings";
import { has, t } from "./i18n.svelte";
import { getCurrentWebviewWindow } from "@tauri-apps/api/webviewWindow";

export class AppError extends Error {
  constructor(
    public code: string,
    message: string,
    /** What the message adds to the code (the server's or the system's own words). */
    public detail: string | null = null,
  ) {
    super(message);
  }
}

type Result<T> = { status: "ok"; data: T } | { status: "error"; error: Failure };

async function unwrap<T>(p: Promise<Result<T>>): Promise<T> {
  const r = await p;
  if (r.status === "error") throw new AppError(r.error.code, r.error.message, r.error.detail ?? null);
  return r.data;
}

export const api = {
  status: () => unwrap(commands.status()),
  /** Tells the shell the UI's language, for its menus, tray and notifications. */
  setLanguage: (lang: Lang) => unwrap(commands.setLanguage(lang)),
  signup: (server: string, username: string, password: string, email: string | null) =>
    unwrap(commands.signup(server, username, password, email)),
  login: (server: string, username: string, password: string, secretKey: string, code: string | null) =>
    unwrap(commands.login(server, username, password, secretKey, code)),
  /** `code`: only for the one unlock through the server after a password change elsewhere. */
  unlock: (password: string, secretKey: string | null, code: string | null = null) =>
    unwrap(commands.unlock(password, secretKey, code)),
  unlockKeychain: () => unwrap(commands.unlockKeychain()),
  keychainUnlock: (enabled: boolean, secretKey: string | null) => unwrap(commands.keychainUnlock(enabled, secretKey)),
  chooseCa: () => unwrap(commands.chooseCa()),
  setServerCa: (path: string | null) => unwrap(commands.setServerCa(path)),
  moveServer: (server: string, password: string, secretKey: string | null, code: string | null) =>
    unwrap(commands.moveServer(server, password, secretKey, code)),
  /** After the server ended this device's session (`signed_out`). */
  signInAgain: (password: string, secretKey: string | null, code: string | null) =>
    unwrap(commands.signInAgain(password, secretKey, code)),
  lock: () => unwrap(commands.lock()),
  /** The user did something: the shell's idle lock counts from now. */
  activity: () => commands.activity(),
  setAutoLock: (minutes: number) => commands.setAutoLock(minutes),
  search: (query: string, filter: ListFilter, offset: number, limit: number) =>
    unwrap(commands.search(query, filter, offset, limit)),
  labels: () => unwrap(commands.labels()),
  history: (id: string) => unwrap(commands.history(id)),
  restoreVersion: (id: string, savedAt: number) => unwrap(commands.restoreVersion(id, savedAt)),
  getItem: (id: string) => unwrap(commands.getItem(id)),
  saveItem: (item: Parameters<typeof commands.saveItem>[0]) => unwrap(commands.saveItem(item)),
  trashItem: (id: string, restore: boolean) => unwrap(commands.trashItem(id, restore)),
  totp: (id: string) => unwrap(commands.totp(id)),
  generatePassword: (length: number, symbols: boolean) => unwrap(commands.generatePassword(length, symbols)),
  sync: () => unwrap(commands.sync()),
  chooseFiles: () => unwrap(commands.chooseFiles()),
  chooseDestination: (name: string) => unwrap(commands.chooseDestination(name)),
  uploadFiles: (paths: string[]) => unwrap(commands.uploadFiles(paths)),
  attachFile: (id: string, path: string) => unwrap(commands.attachFile(id, path)),
  downloadFile: (id: string, index: number, dest: string) => unwrap(commands.downloadFile(id, index, dest)),
  previewFile: (id: string, index: number) => unwrap(commands.previewFile(id, index)),
  usage: () => unwrap(commands.usage()),
  chooseFolder: () => unwrap(commands.chooseFolder()),
  watchedFolder: () => unwrap(commands.watchedFolder()),
  watchFolder: (dir: string | null) => unwrap(commands.watchFolder(dir)),
  account: () => unwrap(commands.account()),
  updateAccount: (username: string | null, email: string | null, phone: string | null, proof: Proof) =>
    unwrap(commands.updateAccount(username, email, phone, proof)),
  changePassword: (newPassword: string, proof: Proof) => unwrap(commands.changePassword(newPassword, proof)),
  /** A new Secret Key and its kit, not in use until `changeSecretKey`. */
  newSecretKey: () => unwrap(commands.newSecretKey()),
  changeSecretKey: (newSecretKey: string, proof: Proof) =>
    unwrap(commands.changeSecretKey(newSecretKey, proof)),
  totpSetup: (proof: Proof) => unwrap(commands.totpSetup(proof)),
  secondFactor: (step: SecondFactorStep, code: string, proof: Proof | null) =>
    unwrap(commands.secondFactor(step, code, proof)),
  devices: () => unwrap(commands.devices()),
  revokeDevice: (id: string, proof: Proof) => unwrap(commands.revokeDevice(id, proof)),
  deviceName: () => unwrap(commands.deviceName()),
  renameDevice: (name: string) => unwrap(commands.renameDevice(name)),
  /** The unauthorized attempts against the account the server recorded. */
  attempts: () => unwrap(commands.attempts()),
  exportVault: (password: string, dest: string) => unwrap(commands.exportVault(password, dest)),
  deleteAccount: (confirmUsername: string, proof: Proof) => unwrap(commands.deleteAccount(confirmUsername, proof)),
  /** Notes a point of start-up for the app benchmark, once the screen has painted. */
  mark: (name: string) => void commands.mark(name),
  markPainted: (name: string) => requestAnimationFrame(() => requestAnimationFrame(() => void commands.mark(name))),
  /** Copies a secret; the shell clears it after `seconds` if still there, or at lock. */
  copySecret: (value: string, seconds: number) => unwrap(commands.copySecret(value, seconds)),
  mailFolders: () => unwrap(commands.mailFolders()),
  mailList: (folder: string | null, query: string, offset: number, limit: number) =>
    unwrap(commands.mailList(folder, query, offset, limit)),
  mailOpen: (id: string) => unwrap(commands.mailOpen(id)),
  mailSaveDraft: (compose: Compose) => unwrap(commands.mailSaveDraft(compose)),
  mailDraft: (id: string) => unwrap(commands.mailDraft(id)),
  mailSend: (compose: Compose) => unwrap(commands.mailSend(compose)),
  mailReply: (id: string, all: boolean) => unwrap(commands.mailReply(id, all)),
  mailForward: (id: string) => unwrap(commands.mailForward(id)),
  mailMove: (id: string, folder: string) => unwrap(commands.mailMove(id, folder)),
  mailCorrespondents: (prefix: string) => unwrap(commands.mailCorrespondents(prefix)),
  mailBlock: (address: string, block: boolean) => unwrap(commands.mailBlock(address, block)),
  mailMark: (id: string, read: boolean | null, starred: boolean | null) => unwrap(commands.mailMark(id, read, starred)),
  /** A correspondent's safety numbers (theirs pinned, theirs offered if changed, ours). */
  peerSafety: (address: string) => unwrap(commands.peerSafety(address)),
  peerVerify: (username: string, digits: string) => unwrap(commands.peerVerify(username, digits)),
  peerAccept: (username: string, digits: string) => unwrap(commands.peerAccept(username, digits)),
  /** Reads an export (`preview`: reports only) and, unless previewing, imports it. */
  importFile: (path: string, format: string | null, password: string | null, preview: boolean) =>
    unwrap(commands.importFile(path, format, password, preview)),
  /** Stops the import under way: nothing is added. */
  importCancel: () => unwrap(commands.importCancel()),
  openMain: (item: string | null) => commands.openMain(item),
  hideQuick: () => commands.hideQuick(),
  /** Calls `cb` with each menu, tray or system action; returns the function that stops it. */
  /** Calls `cb` with each request the shell sends to this window (not those it sends to
   * another: a lock sent to the quick-search window must not lock this one again). */
  onAction: (cb: (a: Action) => void) =>
    events.appAction(getCurrentWebviewWindow()).listen((e) => cb(e.payload.action)),
  /** Calls `cb` after each pass over the watched folder; returns the function that stops it. */
  onFolderPass: (cb: (p: FolderPass) => void) => events.folderPass.listen((e) => cb(e.payload)),
  /** Calls `cb` when another device changed something (the shell's push channel). */
  onRemoteChange: (cb: () => void) => events.remoteChange.listen(() => cb()),
  /** Calls `cb` with each transfer progress report; returns the function that stops it. */
  onTransfer: (cb: (t: Transfer) => void) => events.transfer.listen((e) => cb(e.payload)),
  /** Calls `cb` with an import's progress; returns the function that stops it. */
  onImportProgress: (cb: (p: ImportProgress) => void) => events.importProgress.listen((e) => cb(e.payload)),
};

/** A message for the user from any thrown value, in the UI's language: each code has its
 * wording, followed by the detail the client core or server gave (in their words). */
export function describe(e: unknown): string {
  if (e instanceof AppError) {
    const key = `error.${e.code}`;
    if (!has(key)) return e.message;
    const wording = t(key, e.detail === null ? {} : { detail: e.detail });
    // A code worded with a detail that did not come: the core's own message says more.
    return wording.includes("{detail}") ? e.message : wording;
  }
  if (e instanceof Error) return e.message;
  return String(e);
}
