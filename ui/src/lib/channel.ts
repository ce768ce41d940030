/** The page's side of the sealed channel (`src-tauri/src/channel.rs`, `docs/desktop.md`,
 * "Memory after lock"): every command but the open ones below crosses to the shell sealed,
 * and its answer comes back sealed, so WebKit's copies of the messages in the app's process
 * are ciphertext under keys that a lock destroys. The page's private key is made by
 * WebCrypto and cannot be exported; the keys die with the page's process. */

/** The commands that carry nothing secret and go as they are (the shell has the same list). */
const OPEN = new Set(["lock", "activity", "set_auto_lock", "mark", "open_main", "hide_quick", "set_language"]);
const TO_SHELL = "krypt7 page channel v1: page to shell";
const TO_PAGE = "krypt7 page channel v1: shell to page";
const NONCE = 12;

const text = new TextEncoder();
const words = new TextDecoder();

/** Both directions' keys and the window's label (bound into every message). */
export interface Keys {
  toShell: CryptoKey;
  toPage: CryptoKey;
  label: Uint8Array<ArrayBuffer>;
}

export const toBase64 = (b: Uint8Array): string => btoa(String.fromCharCode(...b));
export const fromBase64 = (s: string): Uint8Array<ArrayBuffer> => Uint8Array.from(atob(s), (c) => c.charCodeAt(0));
const join = (a: Uint8Array, b: Uint8Array) => {
  const out = new Uint8Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
};

/** ECDH on P-256, then HKDF-SHA256 (salt: the page's public key, then the shell's) to one
 * AES-256-GCM key per direction; `forShell` swaps the roles (the mocked shell's side). */
export async function derive(
  privateKey: CryptoKey, pagePublic: Uint8Array, shellPublic: Uint8Array, label: string, forShell = false,
): Promise<Keys> {
  const peer = await crypto.subtle.importKey("raw", (forShell ? pagePublic : shellPublic) as Uint8Array<ArrayBuffer>,
    { name: "ECDH", namedCurve: "P-256" }, false, []);
  const shared = await crypto.subtle.deriveBits({ name: "ECDH", public: peer }, privateKey, 256);
  const ikm = await crypto.subtle.importKey("raw", shared, "HKDF", false, ["deriveKey"]);
  const salt = join(pagePublic, shellPublic);
  const key = (info: string) => crypto.subtle.deriveKey({ name: "HKDF", hash: "SHA-256", salt, info: text.encode(info) },
    ikm, { name: "AES-GCM", length: 256 }, false, ["encrypt", "decrypt"]);
  return { toShell: await key(TO_SHELL), toPage: await key(TO_PAGE), label: text.encode(label) };
}

/** A message under `key`: a random nonce and the AES-GCM ciphertext, in base64. */
export async function seal(key: CryptoKey, label: Uint8Array<ArrayBuffer>, plain: string): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(NONCE));
  const sealed = await crypto.subtle.encrypt({ name: "AES-GCM", iv, additionalData: label }, key, text.encode(plain));
  return toBase64(join(iv, new Uint8Array(sealed)));
}

export async function open(key: CryptoKey, label: Uint8Array<ArrayBuffer>, message: string): Promise<string> {
  const data = fromBase64(message);
  const plain = await crypto.subtle.decrypt({ name: "AES-GCM", iv: data.slice(0, NONCE), additionalData: label }, key, data.slice(NONCE));
  return words.decode(plain);
}

type Invoke = (cmd: string, args?: unknown, options?: unknown) => Promise<unknown>;
interface Internals {
  invoke: Invoke;
  metadata?: { currentWebview?: { label?: string } };
}

/** An `invoke` that sends every command but the open ones through a channel to the shell
 * behind `internals` (Tauri's `__TAURI_INTERNALS__`), opened at the first one. */
export function sealing(internals: () => Internals): Invoke {
  let keys: Promise<Keys> | null = null;
  const connect = async () => {
    const raw = internals();
    const pair = await crypto.subtle.generateKey({ name: "ECDH", namedCurve: "P-256" }, false, ["deriveBits"]);
    const pagePublic = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    const shellPublic = fromBase64((await raw.invoke("open_channel", { pageKey: toBase64(pagePublic) })) as string);
    return derive(pair.privateKey, pagePublic, shellPublic, raw.metadata?.currentWebview?.label ?? "main");
  };
  return async (cmd, args, options) => {
    const raw = internals();
    if (OPEN.has(cmd) || cmd.startsWith("plugin:")) return raw.invoke(cmd, args, options);
    keys ??= connect().catch((e: unknown) => {
      keys = null;
      throw e;
    });
    const k = await keys;
    const message = await seal(k.toShell, k.label, JSON.stringify({ cmd, args: args ?? {} }));
    const answer = JSON.parse(await open(k.toPage, k.label, (await raw.invoke("sealed", { message })) as string)) as
      { ok: unknown } | { err: unknown };
    if ("err" in answer) throw answer.err;
    return answer.ok;
  };
}

const sealed = sealing(() => (window as unknown as { __TAURI_INTERNALS__: Internals }).__TAURI_INTERNALS__);

/** Tauri's `invoke`, sealed: what `@tauri-apps/api/core` gives the app (`lib/core.ts`). */
export function invoke<T>(cmd: string, args?: unknown, options?: unknown): Promise<T> {
  return sealed(cmd, args, options) as Promise<T>;
}
