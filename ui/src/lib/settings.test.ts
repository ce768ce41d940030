import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { DEFAULTS, IdleTimer, loadSettings, saveSettings, type StorageLike } from "./settings";

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

describe("IdleTimer", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("fires after the idle time, and activity pushes it back", () => {
    const idle = vi.fn();
    const t = new IdleTimer(5, idle);
    vi.advanceTimersByTime(4 * 60_000);
    t.touch();
    vi.advanceTimersByTime(4 * 60_000);
    expect(idle).not.toHaveBeenCalled();
    vi.advanceTimersByTime(60_000);
    expect(idle).toHaveBeenCalledTimes(1);
  });
  it("never fires at 0 minutes or once stopped", () => {
    const idle = vi.fn();
    new IdleTimer(0, idle);
    const t = new IdleTimer(1, idle);
    t.stop();
    vi.advanceTimersByTime(24 * 3_600_000);
    expect(idle).not.toHaveBeenCalled();
  });
});
