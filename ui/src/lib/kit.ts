/** The Emergency Kit as a printable page of its own (one A4/Letter sheet), in the UI's
 * language: everything needed to sign in on a new device but the password, which has a
 * blank to write by hand. Self-contained: its mark and styles are inside it. */
import type { SignedUp } from "./bindings";
import { markSrc } from "./brand";
import { lang, t } from "./i18n.svelte";

const esc = (s: string) =>
  s.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;").replace(/"/g, "&quot;");

// A printed page: black on white whatever the app's theme, fixed sizes in print units.
const STYLE = `
@page{size:auto;margin:18mm}
*{box-sizing:border-box}
body{font:11pt/1.45 system-ui,sans-serif;color:#111;background:#fff;max-width:170mm;margin:0 auto;padding:8mm 0}
header{display:flex;align-items:center;gap:3mm;border-bottom:0.6pt solid #111;padding-bottom:3mm}
header img{width:11mm;height:11mm}
header .name{font-weight:700;letter-spacing:.08em;font-size:14pt}
header .doc{margin-left:auto;text-align:right;font-size:9pt;color:#444}
h1{font-size:20pt;margin:6mm 0 2mm}
.lead{margin:0 0 6mm}
dl{margin:0;display:grid;gap:3mm}
.box{border:0.6pt solid #111;border-radius:2mm;padding:2.5mm 4mm}
dt{font-size:8.5pt;text-transform:uppercase;letter-spacing:.06em;color:#444}
dd{margin:1mm 0 0;font:13pt/1.3 ui-monospace,monospace;overflow-wrap:anywhere}
.key dd{font-size:16pt;letter-spacing:.06em}
.blank dd{height:10mm;border-bottom:0.6pt dashed #111}
h2{font-size:12pt;margin:7mm 0 2mm}
ol{margin:0;padding-left:6mm}
li{margin:1mm 0}
`;

export function kitPage(kit: SignedUp, made: Date = new Date()): string {
  const box = (cls: string, label: string, value: string) =>
    `<div class="box ${cls}"><dt>${esc(label)}</dt><dd>${esc(value)}</dd></div>`;
  const date = new Intl.DateTimeFormat(lang(), { dateStyle: "long" }).format(made);
  return `<!doctype html>
<html lang="${lang()}"><head><meta charset="utf-8"><title>${esc(t("kit.title"))}</title>
<style>${STYLE}</style></head>
<body>
<header><img src="${markSrc}" alt=""><span class="name">KRYPT7</span><span class="doc">${esc(t("kit.created", { date }))}</span></header>
<h1>${esc(t("kit.title"))}</h1>
<p class="lead">${esc(t("kit.page"))}</p>
<dl>${box("", t("kit.server"), kit.server)}${box("", t("kit.username"), kit.username)}${box("key", t("kit.secretKey"), kit.secret_key)}${box("blank", t("kit.password"), "")}</dl>
<h2>${esc(t("kit.stepsTitle"))}</h2>
<ol><li>${esc(t("kit.step1"))}</li><li>${esc(t("kit.step2"))}</li><li>${esc(t("kit.step3"))}</li></ol>
</body></html>
`;
}
