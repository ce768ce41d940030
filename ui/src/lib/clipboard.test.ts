import { describe, expect, it } from "vitest";
import { SecretClipboard } from "./clipboard";

function fakeClipboard() {
  const state = { text: "" };
  return {
    state,
    clip: {
      writeText: async (t: string) => void (state.text = t),
      readText: async () => state.text,
    },
  };
}

describe("clipboard auto-clear", () => {
  it("clears a copied secret when the time is up", async () => {
    const { state, clip } = fakeClipboard();
    const pending: Array<() => void> = [];
    const c = new SecretClipboard(clip, (f) => (pending.push(f), 1 as never), () => {});
    await c.copy("hunter2", 30);
    expect(state.text).toBe("hunter2");
    pending[0]();
    await new Promise((r) => setTimeout(r, 0));
    expect(state.text).toBe("");
  });
  it("leaves what the user copied afterwards", async () => {
    const { state, clip } = fakeClipboard();
    const pending: Array<() => void> = [];
    const c = new SecretClipboard(clip, (f) => (pending.push(f), 1 as never), () => {});
    await c.copy("hunter2", 30);
    state.text = "something else";
    pending[0]();
    await new Promise((r) => setTimeout(r, 0));
    expect(state.text).toBe("something else");
  });
});
