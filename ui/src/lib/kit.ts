/** The Emergency Kit as a printable page, in the UI's language: everything needed to sign
 * in on a new device but the password (which has a blank line to write by hand). */
import type { SignedUp } from "./bindings";
import { lang, t } from "./i18n.svelte";

const esc = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

export function kitPage(kit: SignedUp): string {
  const row = (label: string, value: string) => `<dt>${esc(label)}</dt><dd>${esc(value)}</dd>`;
  return `<!doctype html>
<html lang="${lang()}"><head><meta charset="utf-8"><title>${esc(t("kit.title"))}</title>
<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}dt{font-weight:bold;margin-top:1em}dd{font-family:monospace;font-size:1.3em;margin:0}.blank{border-bottom:1px solid #000;height:2em}</style></head>
<body><h1>${esc(t("kit.title"))}</h1>
<p>${esc(t("kit.page"))}</p>
<dl>${row(t("kit.server"), kit.server)}${row(t("kit.username"), kit.username)}${row(t("kit.secretKey"), kit.secret_key)}<dt>${esc(t("kit.password"))}</dt><dd class="blank"></dd></dl></body></html>
`;
}
