// A keyboard-only walk through the built UI (IPC mocked, mock-ipc.js): sign up, keep the
// Emergency Kit, add a login, copy its username, search, lock and unlock, with no pointer
// at all. Each control is reached with Tab (as someone looking at the screen would, up to 40
// presses: a control Tab cannot reach fails the walk) or with the app's shortcuts.
import { launch, mock, serveUi } from "./serve.mjs";

const ui = await serveUi();
const url = ui.url;
const browser = await launch();
const failures = [];
const check = (ok, what) => { if (!ok) failures.push(what); console.log(`${ok ? "ok  " : "FAIL"} ${what}`); };
const PASSWORD = "correct horse battery staple";

try {
  const context = await browser.newContext({ viewport: { width: 1100, height: 720 }, locale: "en-GB", permissions: ["clipboard-read", "clipboard-write"] });
  const page = await context.newPage();
  page.on("pageerror", (e) => check(false, `page error: ${e.message}`));
  await page.addInitScript(mock);
  await page.goto(url);
  await page.locator("main").waitFor();

  /** Presses Tab until the focused element matches `selector` (and, if given, has the
   * accessible text `name`). */
  async function tabTo(selector, name = null) {
    for (let i = 0; i < 40; i++) {
      const here = await page.evaluate(([s, n]) => {
        const e = document.activeElement;
        const text = e ? (e.getAttribute("aria-label") || e.textContent || "").trim() : "";
        return !!e && e.matches(s) && (n === null || text === n);
      }, [selector, name]);
      if (here) return;
      await page.keyboard.press("Tab");
    }
    throw new Error(`Tab never reached ${selector}${name ? ` "${name}"` : ""}`);
  }

  // Sign up.
  await tabTo("input[name=username]");
  await page.keyboard.type("alice");
  await tabTo("input[name=password]");
  await page.keyboard.type(PASSWORD);
  await tabTo("input[name=confirm]");
  await page.keyboard.type(PASSWORD);
  await page.keyboard.press("Enter");
  await page.getByText("K1-ABCDEF-GHJKMN-PQRST-VWXYZ-01234").first().waitFor();
  check(true, "sign-up by keyboard: the Emergency Kit is shown");
  await tabTo("input[type=checkbox]");
  await page.keyboard.press("Space");
  await tabTo("button", "Open my vault");
  await page.keyboard.press("Enter");
  await page.locator("#search").waitFor();
  check(true, "the kit kept and the vault opened by keyboard");

  // Add a login.
  await tabTo("button", "New item");
  await page.keyboard.press("Enter");
  await tabTo("input[name=title]");
  await page.keyboard.type("Bank");
  await tabTo("input[name=username]");
  await page.keyboard.type("alice@example.org");
  await page.keyboard.press("Enter");
  await page.locator("article[aria-label=Bank]").waitFor();
  check(true, "a login added by keyboard");

  // Copy its username.
  await tabTo("button", "Copy Username");
  await page.keyboard.press("Enter");
  await page.getByText("Username copied").waitFor();
  check((await page.evaluate(() => navigator.clipboard.readText())) === "alice@example.org", "its username copied by keyboard");

  // Search (Ctrl+F), then on to the results and through them with the arrow keys.
  await page.keyboard.press("Control+KeyF");
  check(await page.evaluate(() => document.activeElement?.id === "search"), "Ctrl+F puts the cursor in the search box");
  await page.keyboard.type("ban");
  await page.getByText("1 item", { exact: true }).waitFor();
  await page.keyboard.press("ArrowDown");
  check(await page.evaluate(() => document.activeElement?.getAttribute("role") === "listbox"), "Down goes from the search box to the results");
  const selected = await page.locator("[role=option][aria-selected=true]").textContent();
  check(selected.includes("Bank"), "the first result is selected and shown");
  await page.keyboard.press("End");
  check((await page.locator("[role=option][aria-selected=true]").count()) === 1, "the arrow keys keep one result selected");

  // Lock (Ctrl+L) and unlock by keyboard.
  await page.keyboard.press("Control+KeyL");
  await page.locator("input[name=password]").waitFor();
  check(await page.evaluate(() => document.activeElement?.getAttribute("name") === "password"), "Ctrl+L locks; the unlock screen has the cursor in the password");
  await page.keyboard.type(PASSWORD);
  await page.keyboard.press("Enter");
  await page.locator("#search").waitFor();
  check(true, "unlocked by keyboard");
} catch (e) {
  check(false, `keyboard walk: ${e.message}`);
} finally {
  await browser.close();
  ui.close();
}
console.log(`keyboard: ${failures.length} failure(s)`);
process.exit(failures.length ? 1 : 0);
