// Visual regression: every screen of the built UI (IPC mocked, mock-ipc.js) in the light and
// dark themes, in English and French, at 1280×800 and 800×600, compared with the baselines
// committed in ui/tests/visual/ (a screen fails when more than 0.1 % of its pixels differ).
// Each screenshot is also checked for text running out of its box (an element whose content
// is wider than it, neither scrolling nor cut short with an ellipsis on purpose), and each
// screen at 1280×800, in both themes and both languages, by axe-core.
//
// An intended change: `npm run visual:update` (UPDATE_BASELINES=1) rewrites the baselines, to
// be committed with the change. Differences and the new screenshots go to
// ui/test-results/visual/.
import { readFileSync, writeFileSync, mkdirSync, existsSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { axeSource, launch, mock, serveUi } from "./serve.mjs";
import { PNG } from "pngjs";
import pixelmatch from "pixelmatch";

const here = dirname(fileURLToPath(import.meta.url));
const baselines = join(here, "../visual");
const out = join(here, "../../test-results/visual");
const update = process.env.UPDATE_BASELINES === "1";
mkdirSync(out, { recursive: true });
mkdirSync(baselines, { recursive: true });

/** The UI's strings, read from its dictionaries (`"key": "value",` lines). */
const strings = Object.fromEntries(["en", "fr"].map((lang) => {
  const src = readFileSync(join(here, `../../src/lib/i18n/${lang}.ts`), "utf8");
  return [lang, Object.fromEntries([...src.matchAll(/^\s*"([^"]+)": "((?:[^"\\]|\\.)*)",?$/gm)].map((m) => [m[1], JSON.parse(`"${m[2]}"`)]))];
}));

const ui = await serveUi();
const url = ui.url;

// A vault of one of each kind, with fixed ids and times, so every run draws the same.
const field = (name, value, secret = false) => ({ name, label: name, value, secret });
const file = (index, name, media_type, size) => ({ index, name, media_type, size, sha256: "3f9d51c2e8b7e42a90d6".padEnd(64, "0") });
const ITEMS = [
  { id: "00000000-0000-4000-8000-000000000001", kind: "login", title: "Bank of the North — personal account", favorite: true, trashed: false,
    folder: "Money", tags: ["finance", "daily"],
    fields: [field("username", "alice.liddell@example.org"), field("password", "correct-horse-battery", true), field("url", "https://bank.example.org/login/a/very/long/path/that/keeps/going/on/and/on"), field("totp", "JBSWY3DPEHPK3PXP", true)],
    history: [{ saved_at: 1.8e9, title: "Bank", fields: [field("username", "alice@example.org")], folder: null, tags: [] }] },
  { id: "00000000-0000-4000-8000-000000000002", kind: "note", title: "Wi-Fi at the cottage", favorite: false, trashed: false, tags: [],
    fields: [field("notes", "Network: cottage-5G\nAsk the neighbours before using the printer.")] },
  { id: "00000000-0000-4000-8000-000000000003", kind: "card", title: "Travel card", favorite: false, trashed: false, tags: [],
    fields: [field("cardholder", "Alice Liddell"), field("number", "4111 1111 1111 1111", true), field("expiry", "09/29"), field("cvv", "123", true)] },
  { id: "00000000-0000-4000-8000-000000000004", kind: "file", title: "passport-scan.png", favorite: false, trashed: false, tags: [],
    fields: [field("sha256", "3f9d51c2e8b7e42a90d6".padEnd(64, "0"))], files: [file(0, "passport-scan.png", "image/png", 2_400_000)] },
  { id: "00000000-0000-4000-8000-000000000005", kind: "login", title: "Bank of the North — personal account (conflict copy)", favorite: false, trashed: false, tags: [],
    conflict_of: "00000000-0000-4000-8000-000000000001",
    fields: [field("username", "alice.liddell@example.org"), field("password", "a-different-password", true)] },
];
const MAIL = [
  { id: "m1", folder: "Inbox", from: "bob@localhost", to: ["alice@localhost"], cc: ["carol@localhost"], subject: "Dinner on Friday",
    text: "Are you free on Friday?\n\nBob", html: "<p>Are you <b>free</b> on Friday?</p><p><a href=\"https://example.org/menu\">The menu</a> (https://example.org/menu)</p>",
    date: 1.79e9, read: false, status: "received", signature: "verified", thread: "t1",
    attachments: [{ name: "menu.pdf", media_type: "application/pdf", size: 240_000 }] },
  { id: "m2", folder: "Inbox", from: "carol@localhost", to: ["alice@localhost"], subject: "Re: The cottage keys", text: "Left them with the neighbours.",
    date: 1.789e9, read: true, status: "received", signature: "pinned", thread: "t2" },
  { id: "m3", folder: "Sent", from: "alice@localhost", to: ["carol@localhost"], subject: "The cottage keys", text: "Where are they?",
    date: 1.788e9, read: true, status: "sent", signature: "", thread: "t2" },
  { id: "m4", folder: "Quarantine", from: "mallory@localhost", to: ["alice@localhost"], subject: "Invoice overdue", text: "Pay now",
    date: 1.787e9, read: false, status: "quarantined", reason: "the signature does not match the sender's pinned key", thread: "t4" },
];
const unlocked = { account: { username: "alice" }, unlocked: true, items: ITEMS, pending: 2, mail: MAIL };
const locked = { ...unlocked, unlocked: false };

// Each screen: the mock's state, the page (`#quick` for the quick-search window) and the
// steps from there, given the strings of the language.
const SCREENS = [
  { name: "welcome", state: null },
  { name: "kit", state: null, go: async (p, s) => {
    await p.getByLabel(s["welcome.username"]).fill("alice");
    await p.getByLabel(s["welcome.password"], { exact: true }).fill("correct horse battery staple");
    await p.getByLabel(s["welcome.confirm"], { exact: true }).fill("correct horse battery staple");
    await p.getByRole("button", { name: s["welcome.createButton"] }).click();
    await p.getByText("K1-ABCDEF-GHJKMN-PQRST-VWXYZ-01234").first().waitFor();
  } },
  { name: "unlock", state: locked },
  { name: "unlock-error", state: locked, go: async (p, s) => {
    await p.getByLabel(s["unlock.password"], { exact: true }).fill("wrong");
    await p.getByRole("button", { name: s["unlock.button"] }).click();
    await p.getByRole("alert").waitFor();
  } },
  { name: "vault", state: unlocked },
  { name: "item", state: unlocked, go: async (p) => {
    await p.getByRole("option").first().click();
    await p.getByTestId("totp").waitFor();
  } },
  { name: "editor", state: unlocked, go: async (p, s) => {
    await p.getByRole("option").first().click();
    await p.getByRole("button", { name: s["item.editButton"], exact: true }).click();
    await p.locator("form.edit").waitFor();
  } },
  { name: "history", state: unlocked, go: async (p, s) => {
    await p.getByRole("option").first().click();
    await p.getByRole("button", { name: s["item.history"], exact: true }).click();
    await p.locator(".history").waitFor();
  } },
  { name: "resolve", state: unlocked, go: async (p, s) => {
    await p.getByRole("option", { name: /conflict copy/ }).click();
    await p.getByRole("button", { name: s["item.resolve"] }).click();
    await p.locator(".resolve").waitFor();
  } },
  { name: "files", state: unlocked, go: async (p, s) => {
    await p.getByRole("button", { name: s["kinds.file"] }).click();
    await p.getByRole("option").first().click();
    await p.getByRole("button", { name: s["item.previewFile"].replace("{name}", "passport-scan.png") }).click();
    await p.locator(".preview img").waitFor();
  } },
  { name: "mail", state: unlocked, go: async (p) => {
    await p.getByTestId("mail-mode").click();
    await p.getByRole("option", { name: /Dinner on Friday/ }).click();
    await p.locator("iframe").waitFor();
  } },
  // (Over a plain-text message: the screenshots mask a message's own HTML frame.)
  { name: "safety-changed", state: { ...unlocked, peers: { carol: { digits: "12345 67890 12345 67890 12345 67890", verified: true,
    offered: "10101 20202 30303 40404 50505 60606" } } }, go: async (p, s) => {
    await p.getByTestId("mail-mode").click();
    await p.getByRole("option", { name: /cottage keys/ }).click();
    await p.getByRole("button", { name: s["mail.safetyNumber"], exact: true }).click();
    await p.getByTestId("safety-offered").waitFor();
  } },
  { name: "mail-thread", state: unlocked, go: async (p) => {
    await p.getByTestId("mail-mode").click();
    await p.getByRole("option", { name: /cottage keys/ }).click();
    await p.getByTestId("thread").waitFor();
  } },
  { name: "mail-quarantine", state: unlocked, go: async (p, s) => {
    await p.getByTestId("mail-mode").click();
    await p.getByRole("button", { name: new RegExp(s["mail.folder.Quarantine"]) }).click();
    await p.getByRole("option").first().click();
    await p.getByTestId("quarantined").waitFor();
  } },
  { name: "compose", state: unlocked, go: async (p, s) => {
    await p.getByTestId("mail-mode").click();
    await p.getByRole("option", { name: /Dinner on Friday/ }).click();
    await p.getByRole("button", { name: s["mail.replyAll"], exact: true }).click();
    await p.getByLabel(s["mail.subject"], { exact: true }).waitFor();
  } },
  { name: "settings", state: unlocked, go: async (p, s) => {
    await p.getByRole("button", { name: s["vault.settings"], exact: true }).click();
    await p.locator(".settings").first().waitFor();
  } },
  { name: "account", state: unlocked, go: async (p, s) => {
    await p.getByRole("button", { name: s["vault.account"], exact: true }).click();
    await p.getByRole("table").first().waitFor();
  } },
  { name: "import-preview", state: { ...unlocked, pick: ["/home/alice/bitwarden_export.json"] }, go: async (p, s) => {
    await p.getByRole("button", { name: s["vault.account"], exact: true }).click();
    await p.getByRole("button", { name: s["account.importButton"] }).click();
    await p.getByRole("button", { name: s["import.choose"] }).click();
    await p.getByTestId("import-report").waitFor();
  } },
  { name: "account-confirm", state: unlocked, go: async (p, s) => {
    await p.getByRole("button", { name: s["vault.account"], exact: true }).click();
    await p.getByRole("button", { name: s["account.signOutDevice"].replace("{name}", "krypt7 CLI on build box") }).click();
    await p.getByRole("dialog").waitFor();
  } },
  { name: "signin-again", state: { ...unlocked, signedOut: true }, go: async (p) => {
    await p.locator("form.again").waitFor();
  } },
  { name: "quick-locked", state: locked, hash: "#quick", go: async (p) => {
    await p.locator(".locked").waitFor();
  } },
  { name: "quick", state: unlocked, hash: "#quick", go: async (p) => {
    await p.keyboard.type("bank");
    await p.getByRole("option").first().waitFor();
  } },
];
const THEMES = ["light", "dark"];
const LANGS = ["en", "fr"];
const SIZES = [[1280, 800], [800, 600]];

/** Elements whose content runs out of their box: wider than they are, not scrolling, not
 * cut short on purpose (an ellipsis), not visually hidden. */
async function overflowing(page) {
  return page.evaluate(() => [...document.querySelectorAll("body *")].filter((e) => {
    // (A field's own text scrolls inside it.)
    if (e.closest("svg") || e.clientWidth === 0 || ["INPUT", "SELECT", "TEXTAREA"].includes(e.tagName)) return false;
    const cs = getComputedStyle(e);
    if (["auto", "scroll"].includes(cs.overflowX) || cs.textOverflow === "ellipsis" || cs.clipPath !== "none") return false;
    return e.scrollWidth > e.clientWidth + 1;
  }).map((e) => `${e.tagName.toLowerCase()}${e.className && typeof e.className === "string" ? "." + e.className.split(" ")[0] : ""} "${(e.textContent || "").trim().slice(0, 40)}"`));
}

const browser = await launch(["--font-render-hinting=none", "--disable-lcd-text"]);
const failures = [];
let compared = 0;
let axed = 0;
try {
  for (const [w, h] of SIZES) {
    for (const theme of THEMES) {
      for (const lang of LANGS) {
        const context = await browser.newContext({
          viewport: { width: w, height: h }, reducedMotion: "reduce", timezoneId: "UTC",
          locale: lang === "fr" ? "fr-FR" : "en-GB", colorScheme: "light",
        });
        for (const screen of SCREENS) {
          const page = await context.newPage();
          page.on("pageerror", (e) => failures.push(`${screen.name}: page error: ${e.message}`));
          const settings = { autoLockMinutes: 5, clipboardSeconds: 30, theme, lockOnScreenLock: true, language: lang };
          await page.addInitScript(([state, settings]) => {
            if (window.top !== window) return; // (a message's sandboxed frame has no storage)
            if (!sessionStorage.getItem("krypt7-visual")) {
              sessionStorage.setItem("krypt7-visual", "1");
              if (state) sessionStorage.setItem("krypt7-mock", JSON.stringify(state));
              else sessionStorage.removeItem("krypt7-mock");
              localStorage.setItem("krypt7-settings", JSON.stringify(settings));
            }
          }, [screen.state, settings]);
          await page.addInitScript(mock);
          await page.goto(url + (screen.hash || ""));
          await page.locator("main, .vault, .quick").first().waitFor();
          if (screen.go) await screen.go(page, strings[lang]);
          await page.evaluate(() => document.fonts.ready);
          const name = `${screen.name}-${theme}-${lang}-${w}x${h}`;
          const over = await overflowing(page);
          if (over.length) failures.push(`${name}: text overflows its box: ${over.join(", ")}`);
          // axe-core in both themes and languages (at the larger size): no serious or
          // critical violation, colour contrast included.
          if (w === SIZES[0][0]) {
            await page.evaluate(axeSource);
            const r = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
            for (const v of r.violations.filter((v) => v.impact === "serious" || v.impact === "critical")) {
              failures.push(`${name}: ${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
            }
            axed += 1;
          }
          // (A message's own HTML, in its frame, is the sender's markup, not the app's; how
          // the browser anti-aliases a frame's text varies from run to run.)
          const shot = await page.screenshot({ animations: "disabled", caret: "hide", mask: [page.locator("iframe")] });
          writeFileSync(join(out, `${name}.png`), shot);
          const base = join(baselines, `${name}.png`);
          if (update || !existsSync(base)) {
            if (!update) failures.push(`${name}: no baseline (run npm run visual:update and commit it)`);
            else writeFileSync(base, shot);
          } else {
            const a = PNG.sync.read(readFileSync(base));
            const b = PNG.sync.read(shot);
            if (a.width !== b.width || a.height !== b.height) {
              failures.push(`${name}: ${b.width}×${b.height}, the baseline is ${a.width}×${a.height}`);
            } else {
              const diff = new PNG({ width: a.width, height: a.height });
              const n = pixelmatch(a.data, b.data, diff.data, a.width, a.height, { threshold: 0.1 });
              compared += 1;
              if (n > a.width * a.height * 0.001) {
                writeFileSync(join(out, `${name}.diff.png`), PNG.sync.write(diff));
                failures.push(`${name}: ${n} pixels differ from the baseline (see test-results/visual/${name}.diff.png)`);
              }
            }
          }
          await page.close();
        }
        await context.close();
      }
    }
  }
} finally {
  await browser.close();
  ui.close();
}
for (const f of failures) console.log(`FAIL ${f}`);
console.log(update
  ? `visual: ${SCREENS.length * THEMES.length * LANGS.length * SIZES.length} baselines written to ui/tests/visual/`
  : `visual: ${compared} screenshots matched their baselines, ${axed} screens checked by axe-core; ${failures.length} failure(s)`);
process.exit(failures.length ? 1 : 0);
