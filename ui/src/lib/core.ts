// The app's "@tauri-apps/api/core" (vite.config.ts points the name here): the package's
// own, but for `invoke`, which goes through the page's sealed channel (lib/channel.ts). The
// generated bindings and the app's code reach the shell through it; the package's other
// modules (events, windows) use its own `invoke` for their plugin commands, which the
// channel would leave open anyway.
export * from "../../node_modules/@tauri-apps/api/core.js";
export { invoke } from "./channel";
