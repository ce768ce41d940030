import { describe, expect, it, vi } from "vitest";
import { DEFAULTS, loadSettings, throttle, saveSettings, type StorageLike } from "./settings";

function memory(initial: string | null = null): StorageLike & { value: string | null } {
  return {
    value: initial,
    getItem() {
      return this.value;
    },
    setItem(_k, v) {
      this.value = v;
    },
  };
}

describe("settings", () => {
  it("defaults to a 5-minute auto-lock, 30 s clipboard, the system theme and language, and locking with the screen", () => {
    expect(loadSettings(memory())).toEqual(DEFAULTS);
    expect(DEFAULTS).toEqual({ autoLockMinutes: 5, clipboardSeconds: 30, theme: "system", lockOnScreenLock: true, language: "system" });
  });
  it("round-trips what is saved", () => {
    const m = memory();
    saveSettings(m, { autoLockMinutes: 0, clipboardSeconds: 90, theme: "dark", lockOnScreenLock: false, language: "fr" });
    expect(loadSettings(m)).toEqual({ autoLockMinutes: 0, clipboardSeconds: 90, theme: "dark", lockOnScreenLock: false, language: "fr" });
  });
  it("replaces each unreadable value by its default, keeping the good ones", () => {
    expect(loadSettings(memory('{"autoLockMinutes":-3,"clipboardSeconds":60,"theme":"neon","lockOnScreenLock":"no","language":"de"}'))).toEqual({
      autoLockMinutes: 5,
      clipboardSeconds: 60,
      theme: "system",
      lockOnScreenLock: true,
      language: "system",
    });
    expect(loadSettings(memory('{"clipboardSeconds":1.5}')).clipboardSeconds).toBe(30);
    expect(loadSettings(memory("not json"))).toEqual(DEFAULTS);
    expect(loadSettings(memory("[1,2]"))).toEqual(DEFAULTS);
  });
});

describe("throttle", () => {
  it("passes the first call, then one per interval", () => {
    let t = 1_000;
    const f = vi.fn();
    const call = throttle(f, 10_000, () => t);
    call();
    call();
    expect(f).toHaveBeenCalledTimes(1);
    t += 9_999;
    call();
    expect(f).toHaveBeenCalledTimes(1);
    t += 1;
    call();
    call();
    expect(f).toHaveBeenCalledTimes(2);
  });
});
