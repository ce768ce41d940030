import { describe, expect, it } from "vitest";
import { derive, fromBase64, open, seal, sealing, toBase64, type Keys } from "./channel";

/** A shell for the page to talk to: the other side of the channel, in WebCrypto too. */
function fakeShell(answer: (cmd: string, args: unknown) => unknown) {
  const seen: { cmd: string; args: unknown }[] = [];
  let keys: Keys | null = null;
  let tamper = false;
  const internals = {
    metadata: { currentWebview: { label: "main" } },
    invoke: async (cmd: string, args?: unknown): Promise<unknown> => {
      seen.push({ cmd, args });
      if (cmd === "open_channel") {
        const pair = await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"]);
        const shellPublic = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
        keys = await derive(pair.privateKey, fromBase64((args as { pageKey: string }).pageKey), shellPublic, "main", true);
        return toBase64(shellPublic);
      }
      if (cmd === "sealed") {
        if (!keys) throw { code: "locked" };
        const call = JSON.parse(await open(keys.toShell, keys.label, (args as { message: string }).message));
        let reply;
        try {
          reply = { ok: answer(call.cmd, call.args) };
        } catch (e) {
          reply = { err: e };
        }
        const sealed = await seal(keys.toPage, keys.label, JSON.stringify(reply));
        if (!tamper) return sealed;
        const bytes = fromBase64(sealed);
        bytes[bytes.length - 1] ^= 1;
        return toBase64(bytes);
      }
      return `raw ${cmd}`;
    },
  };
  return { invoke: sealing(() => internals), seen, lock: () => (keys = null), tamper: () => (tamper = true) };
}

describe("the page's sealed channel", () => {
  it("seals every command but the open ones, and opens the answers", async () => {
    const shell = fakeShell((cmd, args) => ({ cmd, args }));
    const got = await shell.invoke("get_item", { id: "canary-secret-value" });
    expect(got).toEqual({ cmd: "get_item", args: { id: "canary-secret-value" } });
    expect(await shell.invoke("lock")).toBe("raw lock");
    expect(await shell.invoke("plugin:event|listen", {})).toBe("raw plugin:event|listen");
    expect(shell.seen.map((s) => s.cmd)).toEqual(["open_channel", "sealed", "lock", "plugin:event|listen"]);
    // Nothing of the command crossed in the clear.
    expect(JSON.stringify(shell.seen)).not.toContain("canary");
    expect(JSON.stringify(shell.seen)).not.toContain("get_item");
    // One channel for the page's life.
    await shell.invoke("status");
    expect(shell.seen.filter((s) => s.cmd === "open_channel")).toHaveLength(1);
  });

  it("passes the shell's refusals on as they were, and refuses a tampered answer", async () => {
    const shell = fakeShell(() => {
      throw { code: "wrong_credentials", message: "wrong password or Secret Key" };
    });
    await expect(shell.invoke("unlock", { password: "x" })).rejects.toEqual({ code: "wrong_credentials", message: "wrong password or Secret Key" });
    shell.tamper();
    await expect(shell.invoke("unlock", { password: "x" })).rejects.toThrow();
  });

  it("fails a command once the shell closed the channel (a lock)", async () => {
    const shell = fakeShell(() => 1);
    expect(await shell.invoke("status")).toBe(1);
    shell.lock();
    await expect(shell.invoke("status")).rejects.toEqual({ code: "locked" });
  });
});
