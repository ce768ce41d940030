// The built UI in Debian's Chromium, with the IPC layer mocked (mock-ipc.js): each screen
// renders, the main flows work, and axe-core finds no serious or critical violation.
// Screenshots go to ui/test-results/mocked/.
import { mkdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { axeSource, launch, mock, serveUi } from "./serve.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const out = join(here, "../../test-results/mocked");
mkdirSync(out, { recursive: true });

const ui = await serveUi();
const url = ui.url;

const browser = await launch();
const failures = [];
const check = (ok, what) => { if (!ok) failures.push(what); console.log(`${ok ? "ok  " : "FAIL"} ${what}`); };

async function axe(page, screen) {
  await page.evaluate(axeSource);
  const r = await page.evaluate(() => window.axe.run(document, { resultTypes: ["violations"] }));
  const bad = r.violations.filter((v) => v.impact === "serious" || v.impact === "critical");
  for (const v of bad) console.log(`  ${screen}: ${v.id} (${v.impact}): ${v.nodes.map((n) => n.target.join(" ")).join(", ")}`);
  check(bad.length === 0, `${screen}: no serious accessibility violations`);
}

/** Confirms an account change in its dialog (the password; the Secret Key when asked). */
async function confirmIt(page, action, password = "correct horse battery staple") {
  const dialog = page.getByRole("dialog", { name: "Confirm it is you" });
  await dialog.waitFor();
  await dialog.getByLabel("Password", { exact: true }).fill(password);
  await dialog.getByRole("button", { name: action, exact: true }).click();
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
  await page.getByRole("button", { name: "Trust a custom CA certificate…" }).click();
  await page.getByText("Its certificate authority: the one you chose").waitFor();
  check(await page.evaluate(() => window.__MOCK__.customCa === true), "a custom CA can be chosen before signing up");
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

  // History: an edit keeps the version it replaced, which can be restored.
  await page.getByLabel("Search the vault").fill("");
  await page.getByRole("option", { name: /Bank/ }).click();
  await page.getByRole("button", { name: "Edit" }).click();
  await page.getByLabel("Username").fill("bob");
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByRole("button", { name: "History" }).click();
  await page.getByText(/then changed: Username/).waitFor();
  await axe(page, "history");
  await page.getByRole("button", { name: "Restore this version" }).click();
  await page.getByTestId("field-username").filter({ hasText: /^alice$/ }).waitFor();
  check(true, "an earlier version is restored");
  const raw = await page.evaluate(() => window.__MOCK__.raw);
  check(raw.sealed > 5 && raw.open_channel >= 1 && !raw.get_item && !raw.save_item && !raw.search && !raw.unlock && !raw.signup,
    `the vault's commands cross sealed, none as they are (${JSON.stringify(raw)})`);

  // Folders, tags and favourites in the sidebar.
  await page.getByRole("button", { name: "Edit" }).click();
  await page.getByLabel("Folder").fill("Money");
  await page.getByLabel("Tags (comma-separated)").fill("finance, daily");
  await page.getByLabel("Favourite").check();
  await page.getByRole("button", { name: "Save" }).click();
  await page.getByRole("button", { name: "Money (1)" }).waitFor();
  check((await page.getByRole("button", { name: "#finance (1)" }).count()) === 1, "folders and tags are listed in the sidebar");
  await page.getByRole("button", { name: "Secure notes" }).click();
  await page.getByText("0 items").waitFor();
  await page.getByRole("button", { name: "#daily (1)" }).click();
  await page.getByRole("option", { name: /Bank/ }).waitFor();
  await page.getByRole("button", { name: "Favourites" }).click();
  await page.getByRole("option", { name: /Bank/ }).waitFor();
  check(true, "favourites, folders and tags each show their items");

  // A conflict copy (as a sync would make one), compared and resolved.
  await page.evaluate(() => {
    const bank = window.__MOCK__.items.find((i) => i.title === "Bank");
    window.__MOCK__.items.push({ ...bank, id: crypto.randomUUID(), title: "Bank (conflict copy)", conflict_of: bank.id,
      history: [], favorite: false, fields: bank.fields.map((f) => (f.name === "password" ? { ...f, value: "Copy-Pass-456!" } : f)) });
  });
  await page.getByRole("button", { name: "All items" }).click();
  await page.getByRole("button", { name: "Conflicts (1)" }).click();
  await page.getByRole("option", { name: /conflict copy/ }).click();
  await page.getByRole("button", { name: "Resolve…" }).click();
  await page.getByRole("group", { name: "Password" }).waitFor();
  check((await page.getByTestId("copy-password").textContent()) === "••••••••", "secrets stay hidden in the comparison");
  await axe(page, "resolve a conflict");
  await shot(page, "04b-resolve-conflict");
  await page.getByRole("group", { name: "Password" }).getByRole("radio", { name: /This copy/ }).check();
  await page.getByRole("button", { name: "Keep the chosen values" }).click();
  await page.getByRole("button", { name: "Conflicts (0)" }).waitFor();
  await page.getByRole("button", { name: "Reveal Password" }).click();
  check((await page.getByTestId("field-password").textContent()) === "Copy-Pass-456!", "the original keeps the chosen value");
  check(await page.evaluate(() => window.__MOCK__.items.find((i) => i.conflict_of).trashed), "the copy goes to the trash");
  await page.getByRole("button", { name: "All items" }).click();

  // The server ended this device's session: the vault stays, a sign-in brings it back.
  await page.evaluate(() => { window.__MOCK__.signedOut = true; });
  await page.getByRole("button", { name: "Sync now" }).click();
  const again = page.getByRole("form", { name: "Sign in again." });
  await again.waitFor();
  await axe(page, "sign in again");
  await again.getByLabel("Password", { exact: true }).fill("nope");
  await again.getByRole("button", { name: "Sign in again" }).click();
  await again.getByRole("alert").waitFor();
  check((await again.getByLabel("Password", { exact: true }).inputValue()) === "", "a refused sign-in again leaves no password in the page");
  await again.getByLabel("Password", { exact: true }).fill("correct horse battery staple");
  await again.getByRole("button", { name: "Sign in again" }).click();
  await again.waitFor({ state: "detached" });
  check(await page.evaluate(() => window.__MOCK__.signedOut === false), "signing in again ends the banner, the vault unchanged");

  // Lock (reload), wrong password, then unlock.
  await page.getByRole("button", { name: "Lock" }).click();
  await page.getByRole("button", { name: "Unlock" }).waitFor();
  await axe(page, "unlock");
  await page.getByLabel("Password", { exact: true }).fill("nope");
  await page.getByRole("button", { name: "Unlock" }).click();
  await page.getByRole("alert").waitFor();
  check((await page.getByRole("alert").textContent()).includes("Wrong password"), "a wrong password is said plainly");
  await shot(page, "05-unlock-error");
  await page.getByLabel("Password", { exact: true }).fill("correct horse battery staple");
  await page.getByRole("button", { name: "Unlock" }).click();
  await page.getByRole("button", { name: "New item" }).waitFor();
  check(true, "unlock opens the vault");

  // Files: usage, upload by the picker with progress, preview, download, drop, attach.
  await page.getByRole("button", { name: "Files" }).click();
  await page.getByTestId("usage").waitFor();
  check((await page.getByTestId("usage").textContent()) === "3.2 MB of 1.0 GB used", "the Files view shows storage use");
  await page.getByRole("button", { name: "Upload files…" }).click();
  await page.getByRole("progressbar", { name: "Transfer progress" }).waitFor();
  check((await page.getByTestId("transfer").textContent()) === "Uploading photo.png: 4.0 MB of 10 MB (40%), 20 MB/s",
    "an upload shows bytes, percent and rate");
  await shot(page, "06-uploading");
  await page.getByText("1 file encrypted and uploaded").waitFor();
  check((await page.getByRole("progressbar").count()) === 0, "the progress bar goes when the upload is done");
  await page.getByRole("option", { name: /photo\.png/ }).waitFor();
  await page.getByRole("button", { name: "Preview photo.png" }).click();
  await page.getByRole("img", { name: "Preview of the file" }).waitFor();
  check(true, "an image previews");
  await axe(page, "files");
  await shot(page, "07-file-preview");
  await page.getByRole("button", { name: "Download photo.png" }).click();
  await page.getByText("photo.png saved to /home/alice/Downloads/photo.png; its fingerprint matched").waitFor();
  check(await page.evaluate(() => window.__MOCK__.downloaded === "/home/alice/Downloads/photo.png"), "download goes where the dialog said");
  await page.evaluate(() => window.__emit("tauri://drag-enter", { paths: ["/home/alice/notes.txt"], position: { x: 5, y: 5 } }));
  await page.getByText("Drop to encrypt and upload").waitFor();
  await page.evaluate(() => window.__emit("tauri://drag-drop", { paths: ["/home/alice/notes.txt"], position: { x: 5, y: 5 } }));
  await page.getByRole("option", { name: /notes\.txt/ }).waitFor();
  check((await page.getByText("Drop to encrypt and upload").count()) === 0, "a dropped file is uploaded and the overlay goes");
  await page.getByRole("button", { name: "Preview notes.txt" }).click();
  await page.getByText("the usual PIN hint").waitFor();
  check(true, "a text file previews");
  await page.getByRole("button", { name: "All items" }).click();
  await page.getByRole("option", { name: /Bank/ }).click();
  await page.evaluate(() => { window.__MOCK__.pick = ["/home/alice/scan.png"]; });
  await page.getByRole("button", { name: "Attach a file…" }).click();
  await page.getByRole("heading", { name: "Attachments" }).waitFor();
  check((await page.getByRole("button", { name: "Download scan.png" }).count()) === 1, "any item takes attachments");
  await page.getByRole("button", { name: "Files" }).click();
  await page.getByRole("button", { name: "Watch a folder…" }).click();
  await page.getByText("Documents: 2 uploaded").waitFor();
  check((await page.getByTestId("watched").textContent()) === "Watching /home/alice/Documents", "a watched folder is shown with its passes");
  await axe(page, "files with a watched folder");
  await page.getByRole("button", { name: "Stop watching" }).click();
  await page.getByRole("button", { name: "Watch a folder…" }).waitFor();
  check(true, "watching stops");

  // Account: profile, authenticator app, SMS, devices, export.
  await page.getByRole("button", { name: "Account" }).click();
  await page.getByRole("heading", { name: "Account", exact: true }).waitFor();
  await page.getByTestId("account-usage").waitFor();
  await axe(page, "account");
  await page.getByLabel("Phone (for SMS codes)").fill("+33 6 12 34 56 78");
  await page.getByRole("button", { name: "Save profile" }).click();
  await axe(page, "account change confirmation");
  await shot(page, "09-account-confirm");
  await confirmIt(page, "Save profile");
  await page.getByText("Profile saved").waitFor();
  check(!(await page.getByRole("dialog").isVisible()), "the confirmation closes once the change is made");
  // A new Secret Key: its kit first, kept, then put in use (confirmed with the password).
  await page.getByRole("button", { name: "Make a new Secret Key" }).click();
  check((await page.getByTestId("secret-key").textContent()) === "K1-NEWKEY-GHJKMN-PQRST-VWXYZ-56789", "a new Secret Key is shown in its kit");
  check(await page.getByRole("button", { name: "Use the new Secret Key" }).isDisabled(), "the new Secret Key waits for its kit to be kept");
  await axe(page, "new Secret Key");
  await page.getByLabel("I have saved or printed my Emergency Kit").check();
  await page.getByRole("button", { name: "Use the new Secret Key" }).click();
  await confirmIt(page, "Use the new Secret Key", "not the password");
  await page.getByRole("dialog").getByText(/wrong password or Secret Key/i).waitFor();
  check((await page.getByRole("dialog").getByLabel("Password", { exact: true }).inputValue()) === "not the password", "a refused confirmation stays open with what was typed");
  await page.getByRole("dialog").getByLabel("Password", { exact: true }).fill("correct horse battery staple");
  await page.getByRole("dialog").getByRole("button", { name: "Use the new Secret Key" }).click();
  await page.getByText("Secret Key changed.").waitFor();
  check(await page.evaluate(() => window.__MOCK__.secretKey === "K1-NEWKEY-GHJKMN-PQRST-VWXYZ-56789"), "the kept key is the one put in use");
  await page.getByRole("button", { name: "Set up an authenticator app" }).click();
  await confirmIt(page, "Set up an authenticator app");
  await page.getByRole("img", { name: "QR code for your authenticator app" }).waitFor();
  check((await page.getByTestId("totp-secret").textContent()) === "JBSWY3DPEHPK3PXP", "enrolment shows a QR code and the key");
  await axe(page, "authenticator enrolment");
  await page.getByLabel("Code from the app").fill("111111");
  await page.getByRole("button", { name: "Turn on" }).click();
  await page.getByRole("alert").waitFor();
  check((await page.getByLabel("Code from the app").inputValue()) === "111111", "a wrong code is refused and stays to be corrected");
  await page.getByLabel("Code from the app").fill("246810");
  await page.getByRole("button", { name: "Turn on" }).click();
  await page.getByText("Sign-in now asks for a code from your authenticator app").waitFor();
  check((await page.getByTestId("totp-state").textContent()).startsWith("On"), "the authenticator app is on");
  await page.getByRole("button", { name: "Send a code to +33 6 12 34 56 78" }).click();
  await confirmIt(page, "Send a code to +33 6 12 34 56 78");
  await page.getByLabel("Code sent to +33 6 12 34 56 78").fill("246810");
  await page.getByRole("button", { name: "Turn on" }).click();
  await page.getByTestId("sms-state").waitFor();
  check(true, "SMS codes turn on with the code sent to the phone");
  await page.getByRole("button", { name: "Sign out krypt7 CLI on build box" }).click();
  await page.getByRole("dialog").getByRole("button", { name: "Cancel" }).click();
  check((await page.getByRole("row").count()) === 3, "a cancelled sign-out leaves the device listed");
  await page.getByRole("button", { name: "Sign out krypt7 CLI on build box" }).click();
  check((await page.getByRole("dialog").getByLabel("Password", { exact: true }).inputValue()) === "", "nothing typed outlives a closed confirmation");
  await confirmIt(page, "Sign out krypt7 CLI on build box");
  await page.getByText("krypt7 CLI on build box signed out").waitFor();
  check((await page.getByRole("row").count()) === 2, "a revoked device leaves the list");
  check((await page.getByTestId("no-attempts").textContent()) === "None.", "no sign-in attempts are listed when there are none");
  await page.getByLabel("Export password", { exact: true }).fill("export-pass-1");
  await page.getByLabel("Export password again").fill("export-pass-1");
  await page.getByRole("button", { name: "Export…" }).click();
  await page.getByText("Vault exported to /home/alice/Downloads/krypt7-export.enc, sealed under the export password").waitFor();
  check(await page.evaluate(() => window.__MOCK__.exported.exportPassword === "export-pass-1"), "export uses the export password");
  check(await page.getByRole("button", { name: "Delete my account" }).isDisabled(), "deleting waits for the username");

  // Import: a password-protected export asks for its password; the preview reports and adds
  // nothing; a cancelled import adds nothing; the import adds, and a second finds it all there.
  await page.evaluate(() => { window.__MOCK__.pick = ["/home/alice/protected.json"]; });
  await page.getByRole("button", { name: "Import from another manager…" }).click();
  const imp = page.getByRole("dialog", { name: "Import from another manager" });
  await imp.getByRole("button", { name: "Choose file…" }).click();
  await imp.getByLabel("The export’s password").fill("not it");
  await imp.getByRole("button", { name: "Open" }).click();
  await imp.getByText("the password does not open this export").waitFor();
  await imp.getByLabel("The export’s password").fill("export pw");
  await imp.getByRole("button", { name: "Open" }).click();
  await imp.getByText("Would import: 2 logins, 1 note.").waitFor();
  check(await imp.getByText("api token → custom field “api token” (Bank, Forum, Mail and 2 more)").count() === 1, "the preview lists the fields kept as custom fields");
  check(await imp.getByText("reprompt: KRYPT7 has no per-item password prompt: the whole vault locks (Bank)").count() === 1, "and those not carried, with why");
  check(await page.evaluate(() => !window.__MOCK__.imported), "a preview adds nothing");
  await axe(page, "import preview");
  await page.evaluate(() => { window.__MOCK__.slowImport = true; });
  await imp.getByRole("button", { name: "Import 3 items" }).click();
  await imp.getByTestId("import-progress").waitFor();
  await imp.getByRole("button", { name: "Cancel import" }).click();
  await imp.getByText("Cancelled: nothing was changed").waitFor();
  check(await page.evaluate(() => !window.__MOCK__.imported), "a cancelled import adds nothing");
  await page.evaluate(() => { window.__MOCK__.slowImport = false; });
  await imp.getByRole("button", { name: "Import 3 items" }).click();
  await imp.getByText("Imported: 2 logins, 1 note.").waitFor();
  await imp.getByRole("button", { name: "Close" }).click();
  await page.getByRole("button", { name: "Import from another manager…" }).click();
  await imp.getByRole("button", { name: "Choose file…" }).click();
  await imp.getByLabel("The export’s password").fill("export pw");
  await imp.getByRole("button", { name: "Open" }).click();
  await imp.getByText("3 items are already in the vault (from an earlier import): not added again.").waitFor();
  check(await imp.getByRole("button", { name: /^Import \d/ }).isDisabled(), "an import with nothing new cannot run");
  await imp.getByRole("button", { name: "Cancel", exact: true }).click();
  await page.evaluate(() => { window.__MOCK__.pick = null; });
  await axe(page, "account, all set up");
  await shot(page, "09-account");

  // The quick-search window: type, Enter copies the password and hides the window.
  await page.context().grantPermissions(["clipboard-read", "clipboard-write"]);
  await page.goto(`${url}?window=quick#quick`);
  await page.getByLabel("Quick search").fill("bank");
  await page.getByRole("option", { name: /^Bank/ }).waitFor();
  await axe(page, "quick search");
  await shot(page, "10-quick-search");
  await page.keyboard.press("Enter");
  await page.waitForFunction(() => window.__MOCK__.quickHidden === 1);
  check((await page.evaluate(() => navigator.clipboard.readText())) === "Copy-Pass-456!", "Enter in quick search copies the password and hides");
  check((await page.getByRole("option").count()) === 0, "the hidden quick-search window keeps no results");
  await page.getByLabel("Quick search").fill("bank");
  await page.getByRole("option", { name: /^Bank/ }).waitFor();
  await page.keyboard.press("Control+Enter");
  await page.waitForFunction(() => window.__MOCK__.opened);
  check(true, "Ctrl+Enter opens the item in the main window");
  await page.goto(url);
  await page.getByRole("button", { name: "New item" }).waitFor();

  // The menu bar and tray reach the page as actions; a screen lock locks (the default).
  await page.evaluate(() => window.__emit("app-action", { action: "settings" }));
  await page.getByRole("heading", { name: "Settings" }).waitFor();
  check(await page.getByLabel("Lock when the screen locks or the computer sleeps").isChecked(), "locking with the screen is on by default");
  check((await page.getByTestId("server").textContent()) === "https://localhost:8443", "settings name the server");
  // The device's name: the host's until renamed; an empty one is refused, the kept one trimmed.
  const deviceName = page.getByRole("textbox", { name: "Device name" });
  check((await deviceName.inputValue()) === "alice-laptop", "the device is named after its host");
  await deviceName.fill("   ");
  await page.getByRole("button", { name: "Rename" }).click();
  await page.getByText("the device name must be 1 to 100 printable characters").waitFor();
  await deviceName.fill(" Alice's laptop ");
  await page.getByRole("button", { name: "Rename" }).click();
  await page.getByText("This device is now called Alice's laptop.").waitFor();
  check(await page.evaluate(() => window.__MOCK__.deviceName === "Alice's laptop"), "the new name is kept, trimmed");
  await page.getByLabel("Unlock with the system keychain (no password on this device)").check();
  await page.waitForFunction(() => window.__MOCK__.keychainUnlock === true);
  await axe(page, "settings with this device");
  await page.evaluate(() => window.__emit("app-action", { action: "screen_locked" }));
  await page.getByRole("button", { name: "Unlock", exact: true }).waitFor();
  check(true, "a screen lock locks the vault");
  await page.getByRole("button", { name: "Unlock with system keychain" }).click();
  await page.getByRole("button", { name: "New item" }).waitFor();
  check(true, "keychain unlock opens the vault without the password");
  await page.getByRole("button", { name: "Settings" }).click();
  await page.getByLabel("Unlock with the system keychain (no password on this device)").uncheck();
  await page.waitForFunction(() => window.__MOCK__.keychainUnlock === false);

  // The server moved: the device follows once the new address signs the account in.
  await page.getByRole("button", { name: "Change server address…" }).click();
  await page.getByLabel("New server address").fill("https://vault.example.org");
  await page.getByLabel("Password", { exact: true }).fill("wrong horse");
  await page.getByRole("button", { name: "Use this address" }).click();
  await page.getByRole("alert").getByText("Wrong password or Secret Key").waitFor();
  check((await page.getByLabel("New server address").inputValue()) === "https://vault.example.org",
    "a refused move keeps the address typed");
  check((await page.getByTestId("server").textContent()) === "https://localhost:8443", "a refused move changes nothing");
  await axe(page, "server move");
  await page.getByLabel("Password", { exact: true }).fill("correct horse battery staple");
  await page.getByRole("button", { name: "Use this address" }).click();
  await page.getByText("Now using https://vault.example.org").waitFor();
  check((await page.getByTestId("server").textContent()) === "https://vault.example.org", "the moved server is shown");
  await page.getByRole("button", { name: "All items" }).click();

  // Mail: folders with unread counts, a message read (its HTML in a frame that can run and
  // load nothing), a reply by its key with the recipient suggested, sent, and in Sent.
  await page.evaluate(() => {
    const m = window.__MOCK__;
    m.mail = [
      { id: "m1", folder: "Inbox", from: "bob@localhost", to: ["alice@localhost"], subject: "Dinner on Friday", text: "Are you free?",
        html: "<p>Are you <b>free</b>?</p><a href=\"https://example.org/menu\">menu</a> (https://example.org/menu)",
        date: 1.79e9, read: false, status: "received", signature: "verified", thread: "t1" },
      { id: "m2", folder: "Inbox", from: "mallory@localhost", to: ["alice@localhost"], subject: "Invoice", text: "Pay now",
        date: 1.78e9, read: true, status: "quarantined", reason: "the signature does not match the sender's key", thread: "t2" },
      { id: "m3", folder: "Inbox", from: "carol@localhost", to: ["alice@localhost"], subject: "New number", text: "Hi",
        date: 1.77e9, read: true, status: "received", signature: "pinned", thread: "t3" },
    ];
    m.peers = { dave: { digits: "99999 88888 77777 66666 55555 44444", verified: true, offered: "10101 20202 30303 40404 50505 60606" } };
    sessionStorage.setItem("krypt7-mock", JSON.stringify(m));
  });
  await page.getByTestId("mail-mode").click();
  await page.getByRole("button", { name: "Inbox (1 unread)" }).waitFor();
  check(true, "the Inbox shows its unread count");
  await page.getByRole("option", { name: /Dinner on Friday/ }).click();
  const frame = page.locator("iframe[title='The message (formatted)']");
  check(await frame.getAttribute("sandbox") === "", "HTML mail is shown in a frame sandboxed of everything");
  check((await page.getByText("Verified").count()) >= 1, "a verified sender is marked");
  check(await page.getByRole("button", { name: "Inbox", exact: true }).count() === 1, "reading marks the message read");
  await axe(page, "mail");
  await shot(page, "07b-mail");
  await page.getByRole("option", { name: /Invoice/ }).click();
  await page.getByTestId("quarantined").waitFor();
  check(await page.getByRole("button", { name: "Reply", exact: true }).count() === 0, "a quarantined message offers no reply");
  // Moving to a folder of one's own: made by moving a message to it; it shows in the sidebar.
  await page.getByRole("option", { name: /Invoice/ }).waitFor();
  await page.getByRole("option", { name: /New number/ }).click();
  await page.getByRole("button", { name: "Move to…" }).click();
  await page.getByRole("menuitem", { name: "New folder…" }).click();
  await page.getByLabel("Folder name").fill("Family");
  await page.getByRole("button", { name: "Move", exact: true }).click();
  await page.getByRole("button", { name: "Family", exact: true }).click();
  await page.getByRole("option", { name: /New number/ }).waitFor();
  check(await page.evaluate(() => window.__MOCK__.mail.find((m) => m.id === "m3").folder === "Family"), "a message moves to a new folder of the user's own");
  // A sender's safety number: digits and a QR code, marked verified once compared.
  await page.getByRole("option", { name: /New number/ }).click();
  check(await page.getByText("Signed", { exact: true }).count() === 1, "a sender whose key was not compared is marked signed only");
  await page.getByRole("button", { name: "Safety number" }).click();
  const safety = page.getByRole("dialog", { name: "Safety number of carol" });
  await safety.getByTestId("safety-theirs").waitFor();
  check((await safety.getByTestId("safety-theirs").textContent()) === "12345 67890 12345 67890 12345 67890", "their number is shown in six groups");
  check(await safety.getByRole("img", { name: "QR code of carol’s safety number" }).count() === 1, "with a QR code of it");
  check((await safety.getByTestId("safety-own").textContent()).startsWith("11111"), "and this account's own number");
  await axe(page, "safety number");
  await shot(page, "07d-safety");
  await safety.getByRole("button", { name: "They match: mark verified" }).click();
  await safety.getByText("Verified").waitFor();
  await safety.getByRole("button", { name: "Close" }).click();
  await page.locator(".read").getByText("Verified").waitFor();
  check(true, "once compared, the open message's sender shows as verified");
  await page.getByRole("button", { name: /^Inbox/ }).click();
  await page.getByRole("option", { name: /Dinner on Friday/ }).click();
  await page.locator("body").press("r");
  await page.getByLabel("Subject").waitFor();
  check(await page.getByLabel("Subject").inputValue() === "Re: Dinner on Friday", "r replies, with the subject");
  await page.getByLabel("To", { exact: true }).fill("ca");
  await page.getByRole("option", { name: "carol@localhost" }).waitFor();
  await page.getByLabel("To", { exact: true }).press("Enter");
  check(await page.getByLabel("To", { exact: true }).inputValue() === "carol@localhost, ", "Enter takes the suggested address");
  await page.getByLabel("To", { exact: true }).fill("bo");
  await page.getByRole("option", { name: /Bob Marley/ }).getByText("Verified").waitFor();
  check(true, "a verified correspondent is marked in the suggestions");
  await page.getByLabel("To", { exact: true }).press("Tab");
  await page.getByLabel("Message", { exact: true }).fill("Yes!");
  await page.getByTestId("draft-note").getByText(/Draft saved/).waitFor();
  check(await page.evaluate(() => window.__MOCK__.mail.some((m) => m.status === "draft")), "a draft is saved as one types");
  await axe(page, "compose");
  await shot(page, "07c-compose");
  // A recipient whose key changed: refused, with their new number to compare and accept.
  await page.getByRole("button", { name: "Add Cc and Bcc" }).click();
  await page.getByLabel("Cc", { exact: true }).fill("dave");
  await page.getByRole("button", { name: "Send", exact: true }).click();
  await page.getByRole("alert").getByText(/other keys for dave/).waitFor();
  await page.getByRole("button", { name: "Compare safety numbers" }).click();
  const changed = page.getByRole("dialog", { name: "Safety number of dave" });
  await changed.getByTestId("key-changed").waitFor();
  check((await changed.getByTestId("safety-offered").textContent()) === "10101 20202 30303 40404 50505 60606", "the new number is shown to compare");
  await axe(page, "changed key");
  await changed.getByRole("button", { name: "I compared it: accept the new key" }).click();
  await changed.getByText("Verified").waitFor();
  check(await changed.getByTestId("key-changed").count() === 0, "accepted, the new key is the pinned one, verified");
  await changed.getByRole("button", { name: "Close" }).click();
  check(await page.getByRole("alert").count() === 0, "the refusal is cleared once the key is accepted");
  await page.getByRole("button", { name: "Send", exact: true }).click();
  await page.getByRole("button", { name: "Sent", exact: true }).click();
  await page.getByRole("option", { name: /Re: Dinner on Friday/ }).waitFor();
  const sent = await page.evaluate(() => window.__MOCK__.sentMail);
  check(sent.to.join() === "bob@localhost" && sent.cc.join() === "dave" && sent.in_reply_to === "m1", "the reply is sent to the chosen address, threaded");
  check(await page.evaluate(() => !window.__MOCK__.mail.some((m) => m.status === "draft")), "sending deletes the draft");
  await page.getByRole("button", { name: "Items", exact: true }).click();
  await page.getByRole("button", { name: "All items" }).click();

  // Settings: clipboard time and theme apply at once and survive a reload; auto-lock.
  await page.getByRole("button", { name: "Settings" }).click();
  await page.getByRole("heading", { name: "Settings" }).waitFor();
  await axe(page, "settings");
  await page.getByLabel("Clear copied secrets from the clipboard after (seconds)").fill("45");
  await page.getByLabel("Theme").selectOption("dark");
  await page.getByRole("button", { name: "Save settings" }).click();
  await page.getByText("Settings saved").waitFor();
  check(await page.evaluate(() => document.documentElement.dataset.theme === "dark"), "the dark theme applies");
  await shot(page, "08-settings-dark");
  await page.getByRole("button", { name: "All items" }).click();
  await page.getByRole("option", { name: /Bank/ }).click();
  await page.context().grantPermissions(["clipboard-read", "clipboard-write"]);
  await page.getByRole("button", { name: "Copy Username" }).click();
  await page.getByText("Username copied; the clipboard clears in 45 s").waitFor();
  check(await page.evaluate(() => window.__MOCK__.clipSeconds === 45), "copying uses the chosen clipboard time");
  // The idle lock is the shell's (on the wall clock): the page tells it the limit and
  // reports activity, at most once every 10 s, and locks when the shell says so.
  await page.clock.install();
  await page.getByRole("button", { name: "Settings" }).click();
  await page.getByLabel("Lock after this many idle minutes (0: never)").fill("1");
  await page.getByRole("button", { name: "Save settings" }).click();
  check(await page.evaluate(() => window.__MOCK__.autoLockMinutes === 1), "the shell is told the idle limit");
  const reported = () => page.evaluate(() => window.__MOCK__.activity || 0);
  await page.clock.fastForward("00:11");
  const before = await reported();
  await page.keyboard.press("Shift");
  await page.mouse.move(10, 10);
  await page.mouse.move(20, 20);
  const after = await reported();
  check(after === before + 1, `activity is reported once for a burst (${before} → ${after})`);
  await page.evaluate(() => window.__emit("app-action", { action: "lock" }));
  await page.getByRole("button", { name: "Unlock" }).waitFor();
  check(true, "the shell's idle lock locks the page");
  check(await page.evaluate(() => document.documentElement.dataset.theme === "dark"), "settings survive the reload");

  // French: every screen's strings, the page's language and the shell's menus follow.
  await page.clock.resume();
  await page.getByLabel("Password", { exact: true }).fill("correct horse battery staple");
  await page.getByRole("button", { name: "Unlock" }).click();
  await page.getByRole("button", { name: "Settings" }).click();
  await page.getByLabel("Language").selectOption("fr");
  await page.getByRole("button", { name: "Save settings" }).click();
  await page.getByRole("heading", { name: "Réglages" }).waitFor();
  await page.getByText("Réglages enregistrés").waitFor();
  check(await page.evaluate(() => document.documentElement.lang === "fr"), "the page's language is French");
  check(await page.evaluate(() => window.__MOCK__.shellLang === "fr"), "the shell is told to speak French");
  await axe(page, "settings in French");
  await shot(page, "11-settings-fr");
  await page.getByRole("button", { name: "Tous les éléments" }).click();
  await page.getByRole("option", { name: /Bank/ }).click();
  await page.getByRole("button", { name: "Copier Nom d’utilisateur" }).waitFor();
  check((await page.getByText(/^\d+ éléments?$/).count()) === 1, "the item count is in French");
  await axe(page, "vault in French");
  await shot(page, "12-vault-fr");
  await page.getByRole("button", { name: "Compte" }).click();
  await page.getByRole("heading", { name: "Connexion en deux étapes" }).waitFor();
  await axe(page, "account in French");
  await shot(page, "13-account-fr");
  await page.getByRole("button", { name: "Réglages" }).click();
  await page.getByLabel("Langue").selectOption("system");
  await page.getByRole("button", { name: "Enregistrer les réglages" }).click();
  await page.getByRole("heading", { name: "Settings" }).waitFor();
  check(await page.evaluate(() => window.__MOCK__.shellLang === "en"), "back to the system's language (English here)");

  // Deleting the account explains the purge and returns to the first-run screen.
  await page.getByRole("button", { name: "Account" }).click();
  await page.getByLabel("Type your username, alice, to confirm").fill("alice");
  await page.getByRole("button", { name: "Delete my account" }).click();
  await confirmIt(page, "Delete my account");
  await page.getByText(/Account deleted. The server removes everything by/).waitFor();
  await page.getByRole("button", { name: "Close" }).click();
  await page.getByRole("tab", { name: "Create an account" }).waitFor();
  check(true, "a deleted account leads back to the first-run screen");

  // The first-run screen in French, as a French system shows it.
  const fr = await browser.newPage({ viewport: { width: 1100, height: 720 }, locale: "fr-FR" });
  await fr.addInitScript(mock);
  await fr.goto(url);
  await fr.getByRole("tab", { name: "Créer un compte" }).waitFor();
  await fr.getByLabel("Mot de passe", { exact: true }).fill("abc");
  await fr.getByText("Robustesse : très faible").waitFor();
  check(true, "a French system gets the first-run screen in French");
  await axe(fr, "welcome in French");
  await shot(fr, "14-welcome-fr");
} catch (e) {
  check(false, `flow: ${e.message}`);
} finally {
  await browser.close();
  ui.close();
}
if (failures.length) {
  console.error(`${failures.length} check(s) failed`);
  process.exit(1);
}
console.log("all mocked-IPC checks passed");
