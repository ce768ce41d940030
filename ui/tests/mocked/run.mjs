// The built UI in Debian's Chromium, with the IPC layer mocked (mock-ipc.js): each screen
// renders, the main flows work, and axe-core finds no serious or critical violation.
// Screenshots go to ui/test-results/mocked/.
import { readFileSync, mkdirSync } from "node:fs";
import { createServer } from "node:http";
import { extname, join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { chromium } from "playwright-core";

const here = dirname(fileURLToPath(import.meta.url));
const dist = join(here, "../../dist");
const out = join(here, "../../test-results/mocked");
mkdirSync(out, { recursive: true });
const axeSource = readFileSync(join(here, "../../node_modules/axe-core/axe.min.js"), "utf8");
const mock = readFileSync(join(here, "mock-ipc.js"), "utf8");

const types = { ".html": "text/html", ".js": "text/javascript", ".css": "text/css", ".png": "image/png" };
const server = createServer((req, res) => {
  const path = req.url === "/" ? "/index.html" : req.url.split("?")[0];
  try {
    const body = readFileSync(join(dist, path));
    res.writeHead(200, { "content-type": types[extname(path)] || "application/octet-stream" });
    res.end(body);
  } catch {
    res.writeHead(404).end();
  }
});
await new Promise((r) => server.listen(0, "127.0.0.1", r));
const url = `http://127.0.0.1:${server.address().port}/`;

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const failures = [];
const check = (ok, what) => { if (!ok) failures.push(what); console.log(`${ok ? "ok  " : "FAIL"} ${what}`); };

async function axe(page, screen) {
  await page.evaluate(axeSource);
  const r = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  const bad = r.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  for (const v of bad) console.log(`  ${screen}: ${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  check(bad.length === 0, `${screen}: no serious accessibility violations`);
}

async function shot(page, name) {
  await page.screenshot({ path: join(out, `${name}.png`) });
}

try {
  const page = await browser.newPage({ viewport: { width: 1100, height: 720 } });
  await page.addInitScript(mock);
  page.on("pageerror", (e) => check(false, `page error: ${e.message}`));
  await page.goto(url);

  // First run: create an account.
  await page.getByRole("tab", { name: "Create an account" }).waitFor();
  await axe(page, "welcome");
  await shot(page, "01-welcome");
  await page.getByLabel("Username").fill("alice");
  await page.getByLabel("Password", { exact: true }).fill("weak");
  check((await page.getByText("Strength: very weak").count()) === 1, "the meter rates a weak password");
  await page.getByLabel("Password", { exact: true }).fill("correct horse battery staple");
  await page.getByLabel("Confirm password").fill("correct horse battery staple");
  await page.getByRole("button", { name: "Create account" }).click();

  // The Emergency Kit, which must be acknowledged.
  await page.getByTestId("secret-key").waitFor();
  await axe(page, "emergency kit");
  await shot(page, "02-emergency-kit");
  check(await page.getByRole("button", { name: "Open my vault" }).isDisabled(), "the vault waits for the kit to be kept");
  await page.getByLabel("I have saved or printed my Emergency Kit").check();
  await page.getByRole("button", { name: "Open my vault" }).click();

  // The vault: add a login with a one-time code.
  await page.getByRole("button", { name: "New item" }).waitFor();
  await axe(page, "empty vault");
  await page.getByRole("button", { name: "New item" }).click();
  await page.getByLabel("Title").fill("Bank");
  await page.getByLabel("Username").fill("alice");
  await page.getByRole("button", { name: "Generate" }).click();
  await page.getByLabel("One-time code secret").fill("JBSWY3DPEHPK3PXP");
  await axe(page, "item editor");
  await shot(page, "03-editor");
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByTestId("totp").waitFor();
  check((await page.getByTestId("totp").textContent()) === "123456", "the one-time code is shown");
  check((await page.getByTestId("field-password").textContent()) === "••••••••", "the password is hidden");
  await page.getByRole("button", { name: "Reveal Password" }).click();
  check((await page.getByTestId("field-password").textContent()) === "Generated-Pass-123!", "reveal shows the generated password");
  check((await page.getByTestId("pending").textContent()) === "1 pending", "the status bar counts the outbox");
  await axe(page, "item view");
  await shot(page, "04-item");

  // Search as you type.
  await page.getByLabel("Search the vault").fill("ban");
  await page.getByRole("option", { name: /Bank/ }).waitFor();
  await page.getByLabel("Search the vault").fill("zzz");
  await page.getByText("0 items").waitFor();
  check(true, "search narrows and empties the list");

  // Lock (reload), wrong password, then unlock.
  await page.getByRole("button", { name: "Lock" }).click();
  await page.getByRole("button", { name: "Unlock" }).waitFor();
  await axe(page, "unlock");
  await page.getByLabel("Password").fill("nope");
  await page.getByRole("button", { name: "Unlock" }).click();
  await page.getByRole("alert").waitFor();
  check((await page.getByRole("alert").textContent()).includes("Wrong password"), "a wrong password is said plainly");
  await shot(page, "05-unlock-error");
  await page.getByLabel("Password").fill("correct horse battery staple");
  await page.getByRole("button", { name: "Unlock" }).click();
  await page.getByRole("button", { name: "New item" }).waitFor();
  check(true, "unlock opens the vault");
} catch (e) {
  check(false, `flow: ${e.message}`);
} finally {
  await browser.close();
  server.close();
}
if (failures.length) {
  console.error(`${failures.length} check(s) failed`);
  process.exit(1);
}
console.log("all mocked-IPC checks passed");
