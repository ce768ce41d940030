/** The app's preferences on this device: not secret and naming no content, so kept in the
 * webview's local storage. Anything unreadable falls back to the defaults. */

import type { LangSetting } from "./i18n.svelte";

export type Theme = "system" | "light" | "dark";

export interface Settings {
  /** Lock after this many minutes without a key press or pointer move; 0: never. */
  autoLockMinutes: number;
  /** Clear a copied secret from the clipboard after this many seconds. */
  clipboardSeconds: number;
  theme: Theme;
  /** Lock when the screen locks or the system goes to sleep. */
  lockOnScreenLock: boolean;
  /** English, French, or the system's language. */
  language: LangSetting;
}

export const DEFAULTS: Settings = { autoLockMinutes: 5, clipboardSeconds: 30, theme: "system", lockOnScreenLock: true, language: "system" };
const KEY = "krypt7-settings";

export interface StorageLike {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
}

function whole(v: unknown, min: number, max: number, fallback: number): number {
  return typeof v === "number" && Number.isInteger(v) && v >= min && v <= max ? v : fallback;
}

/** The stored settings, each one checked; defaults for what is missing or wrong. */
export function loadSettings(store: StorageLike): Settings {
  let raw: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(store.getItem(KEY) ?? "{}");
    if (parsed && typeof parsed === "object") raw = parsed as Record<string, unknown>;
  } catch {
    // unreadable: defaults
  }
  return {
    autoLockMinutes: whole(raw.autoLockMinutes, 0, 24 * 60, DEFAULTS.autoLockMinutes),
    clipboardSeconds: whole(raw.clipboardSeconds, 5, 600, DEFAULTS.clipboardSeconds),
    theme: raw.theme === "light" || raw.theme === "dark" || raw.theme === "system" ? raw.theme : DEFAULTS.theme,
    lockOnScreenLock: typeof raw.lockOnScreenLock === "boolean" ? raw.lockOnScreenLock : DEFAULTS.lockOnScreenLock,
    language: raw.language === "en" || raw.language === "fr" || raw.language === "system" ? raw.language : DEFAULTS.language,
  };
}

export function saveSettings(store: StorageLike, s: Settings): void {
  store.setItem(KEY, JSON.stringify(s));
}

/** Calls `f` at once, then at most once every `ms` however often the result is called: the
 * page's activity reports to the shell, which measures the idle lock on the wall clock. */
export function throttle(f: () => void, ms: number, now: () => number = () => Date.now()): () => void {
  let last = -Infinity;
  return () => {
    const t = now();
    if (t - last >= ms) {
      last = t;
      f();
    }
  };
}
