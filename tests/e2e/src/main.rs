//! The real desktop app in a real window, driven through tauri-driver and WebKitWebDriver,
//! against a real `krypt7-server` over TLS: sign up, add a login with a one-time code, lock,
//! unlock, search, edit while the server is stopped (the outbox shows 1), bring the server
//! back and sync, and see the edit through the CLI on a second device; upload a file in
//! the app, preview it, and download it through the CLI on the second device; watch a
//! folder and see both the file already there and one written later reach that device;
//! resolve a real conflict with that device; follow the server to a new address; sign that
//! device out, turn on an authenticator app and export the vault from the Account screen;
//! keychain unlock; French throughout (page and shell); the window's size remembered
//! across a quit and a new start.
//!
//! Usage (what `cargo xtask test` runs, under Xvfb and a D-Bus session with a Secret
//! Service): `krypt7-e2e <app binary> <krypt7 CLI binary> <screenshot dir>`.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use anyhow::{Context, Result, bail};
use fantoccini::Locator;
use krypt7_e2e::{Ui, WAIT, cli, free_port, open_app, start_server};

/// The canaries of the memory scan: an item's fields no other text holds.
const CANARY_USER: &str = "canary-user-3f9d51c2e8";
const CANARY_PW: &str = "canary-pw-b7e42a90d6";

const PASSWORD: &str = "correct horse battery staple";
/// The password after it was changed on another device, then in the app.
const CHANGED: &str = "a changed password, from the CLI";
const FINAL_PASSWORD: &str = "the password set in the app";

/// The content of the file the app uploads.
const RECEIPT: &str = "Receipt 2026-11-27: one encrypted vault, paid in full.";

/// Unlocks with the password (and the Secret Key, if the unlock screen asks for it).
/// The password of the account the app writes to.
const FRANK_PASSWORD: &str = "frank-e2e-password-9";

async fn unlock(ui: &Ui, secret_key: &str) -> Result<()> {
    unlock_with(ui, secret_key, PASSWORD).await
}

/// Unlocks with `password` (and the Secret Key, if the unlock screen asks for it). The
/// screen is waited for first: its Secret Key field, when there is one, comes with it (and,
/// being required, an unlock without it would never be sent).
/// Confirms an account change in its dialog: the Secret Key (kept nowhere on this device)
/// and the password.
async fn confirm_change(ui: &Ui, secret_key: &str, password: &str) -> Result<()> {
    ui.type_in("dialog input[name=confirm-secret-key]", secret_key)
        .await?;
    ui.type_in("dialog input[name=confirm-password]", password)
        .await?;
    ui.click("dialog button[type=submit]").await
}

/// The newest confirmation shown (a toast).
const TOAST: &str = ".toast:last-child span";

async fn unlock_with(ui: &Ui, secret_key: &str, password: &str) -> Result<()> {
    ui.find("input[name=password]").await?;
    if ui
        .c
        .find(Locator::Css("input[name=secret_key]"))
        .await
        .is_ok()
    {
        ui.type_in("input[name=secret_key]", secret_key).await?;
    }
    ui.type_in("input[name=password]", password).await?;
    ui.button("Unlock").await
}

/// Waits until the X clipboard's text satisfies `ok`.
async fn clipboard_until(ok: impl Fn(&str) -> bool, what: &str) -> Result<()> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        let out = Command::new("xclip")
            .args(["-o", "-selection", "clipboard"])
            .output()?;
        let text = String::from_utf8_lossy(&out.stdout);
        if ok(&text) {
            return Ok(());
        }
        if std::time::Instant::now() > deadline {
            bail!("the clipboard holds {text:?}, not {what}");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, app, cli_bin, shots] = args.as_slice() else {
        bail!("usage: krypt7-e2e <app binary> <krypt7 CLI binary> <screenshot dir>");
    };
    let shots = PathBuf::from(shots);
    std::fs::create_dir_all(&shots)?;
    let work = tempfile::tempdir()?;
    let server_data = work.path().join("server");
    let port = free_port()?;
    let mut server = Some(start_server(&server_data, port).await?);
    let url = format!("https://localhost:{port}");
    let ca = server_data.join("ca.pem");

    // The file the app's "Upload files…" picks (a native dialog cannot be driven here).
    let picked = work.path().join("receipt.txt");
    std::fs::write(&picked, RECEIPT)?;
    // The folder its "Watch a folder…" picks, with one file already in it.
    let documents = work.path().join("Documents");
    std::fs::create_dir_all(&documents)?;
    std::fs::write(documents.join("plan.txt"), "the plan")?;
    // Where its save dialogs (the export) answer.
    let exports = work.path().join("exports");
    std::fs::create_dir_all(&exports)?;
    // The window state is kept in the config directory: this run's own.
    let config = work.path().join("config");
    let app_data = work.path().join("app");
    // The last entry keeps the web process at a lock (a WebDriver session ends with it);
    // the test's last part runs without it, to see that process end.
    let app_env: [(&str, &std::ffi::OsStr); 8] = [
        ("XDG_CONFIG_HOME", config.as_ref()),
        ("KRYPT7_SERVER", url.as_ref()),
        // The server's CA is chosen in the app (its file dialog answered by this).
        ("KRYPT7_PICK_CA", ca.as_ref()),
        ("KRYPT7_DATA_DIR", app_data.as_ref()),
        ("KRYPT7_PICK_FILES", picked.as_ref()),
        ("KRYPT7_PICK_FOLDER", documents.as_ref()),
        ("KRYPT7_PICK_DIR", exports.as_ref()),
        ("KRYPT7_KEEP_WEB_PROCESS", "1".as_ref()),
    ];
    let (driver, session) = open_app(app, &app_env).await?;
    let mut ui = Ui {
        c: session,
        shots,
        n: 0,
    };

    // Sign up.
    ui.find("[role=tab]").await?;
    ui.shot("welcome").await?;
    ui.type_in("input[name=server]", &url).await?;
    // The server's certificate comes from its own CA: trusted from the welcome screen.
    ui.button("Trust a custom CA certificate…").await?;
    ui.text_until("[data-testid=ca]", |t| t.contains("the one you chose"))
        .await?;
    ui.type_in("input[name=username]", "erin").await?;
    ui.type_in("input[name=password]", PASSWORD).await?;
    ui.type_in("input[name=confirm]", PASSWORD).await?;
    ui.button("Create account").await?;
    let secret_key = ui
        .text_until("[data-testid=secret-key]", |t| t.starts_with("K1-"))
        .await?;
    ui.shot("emergency-kit").await?;

    // A second start of the app hands over to this one and exits.
    let mut second = Command::new(app)
        .env("KRYPT7_DATA_DIR", work.path().join("app"))
        .spawn()
        .context("starting the app a second time")?;
    let deadline = std::time::Instant::now() + WAIT;
    let status = loop {
        if let Some(s) = second.try_wait()? {
            break s;
        }
        if std::time::Instant::now() > deadline {
            let _ = second.kill();
            bail!("a second start of the app did not exit: two apps would share one cache");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    if !status.success() {
        bail!("a second start of the app failed: {status}");
    }
    eprintln!("a second start of the app exits, leaving the first");
    ui.click("input[type=checkbox]").await?;
    ui.button("Open my vault").await?;

    // Add a login with a one-time code.
    ui.button("New item").await?;
    ui.type_in("input[name=title]", "Bank").await?;
    ui.type_in("input[name=username]", "erin@example.org")
        .await?;
    ui.type_in("input[name=password]", "hunter2-but-longer")
        .await?;
    ui.type_in("input[name=totp]", "JBSWY3DPEHPK3PXP").await?;
    ui.shot("new-login").await?;
    ui.button("Save").await?;
    let code = ui
        .text_until("[data-testid=totp]", |t| {
            t.len() == 6 && t.chars().all(|c| c.is_ascii_digit())
        })
        .await?;
    eprintln!("one-time code shown: {code}");
    ui.text_until("[data-testid=pending]", |t| t == "0 pending")
        .await?;
    ui.shot("login-with-totp").await?;

    // Lock, then unlock: sign-up kept the Secret Key nowhere (keychain unlock is off), so
    // the unlock screen asks for it.
    ui.button("Lock").await?;
    ui.find("input[name=password]").await?;
    ui.find("input[name=secret_key]")
        .await
        .context("after sign-up the unlock screen must ask for the Secret Key")?;
    ui.shot("locked").await?;
    unlock(&ui, &secret_key).await?;

    // Search.
    ui.type_in("#search", "ban").await?;
    ui.text_until(".row .title", |t| t.contains("Bank")).await?;
    ui.shot("search").await?;
    ui.click(".row").await?;

    // Edit while the server is stopped: the outbox holds it.
    server.take().context("server")?.stop().await;
    ui.button_then("Edit", "input[name=title]").await?;
    ui.type_in("input[name=title]", "Bank (edited offline)")
        .await?;
    ui.button("Save").await?;
    ui.text_until("[data-testid=pending]", |t| t == "1 pending")
        .await?;
    ui.text_until("[data-testid=online]", |t| t == "Offline")
        .await?;
    ui.shot("offline-edit").await?;

    // The server comes back; a sync empties the outbox.
    server = Some(start_server(&server_data, port).await?);
    ui.button("Sync now").await?;
    ui.text_until("[data-testid=pending]", |t| t == "0 pending")
        .await?;
    ui.shot("synced").await?;

    // Files: upload through the picker, then preview it in the app.
    ui.button("Files").await?;
    ui.button("Upload files…").await?;
    ui.text_until("[data-testid=file-message]", |t| {
        t == "1 file encrypted and uploaded"
    })
    .await?;
    ui.button("Preview").await?;
    ui.text_until(".preview pre", |t| t == RECEIPT).await?;
    ui.shot("file-preview").await?;

    // A watched folder: what is there is uploaded at once; a file written later follows.
    ui.button("Watch a folder…").await?;
    ui.text_until("[data-testid=file-message]", |t| {
        t == "Documents: 1 uploaded"
    })
    .await?;
    std::fs::write(documents.join("second.txt"), "written while watched")?;
    ui.c.wait()
        .at_most(WAIT)
        .for_element(Locator::XPath(
            "//div[@role='option'][contains(., 'second.txt')]",
        ))
        .await
        .context("waiting for the file written into the watched folder to be listed")?;
    ui.shot("watched-folder").await?;

    // A second device, through the CLI, sees the edit.
    let second = work.path().join("cli");
    let env = [
        ("KRYPT7_SERVER", url.as_str()),
        ("KRYPT7_CA", ca.to_str().context("path")?),
        // The name this device's session has on the server.
        ("HOSTNAME", "second-device"),
    ];
    cli(
        Path::new(cli_bin),
        &second,
        &env,
        &[
            "login",
            "--username",
            "erin",
            "--secret-key",
            &secret_key,
            "--password-stdin",
        ],
        PASSWORD,
    )?;
    let found = cli(
        Path::new(cli_bin),
        &second,
        &[("KRYPT7_SECRET_KEY", secret_key.as_str())],
        &["--json", "search", "edited", "--password-stdin"],
        PASSWORD,
    )?;
    if !found.contains("Bank (edited offline)") {
        bail!("the second device does not see the edit: {found}");
    }
    eprintln!("the CLI on a second device sees the edit");

    let files: serde_json::Value = serde_json::from_str(&cli(
        Path::new(cli_bin),
        &second,
        &[("KRYPT7_SECRET_KEY", secret_key.as_str())],
        &["--json", "file", "ls", "--password-stdin"],
        PASSWORD,
    )?)?;
    let id = files
        .as_array()
        .and_then(|a| a.iter().find(|f| f["title"] == "receipt.txt"))
        .and_then(|f| f["id"].as_str())
        .with_context(|| format!("the second device does not list the uploaded file: {files}"))?
        .to_string();
    let back = work.path().join("receipt-back.txt");
    cli(
        Path::new(cli_bin),
        &second,
        &[("KRYPT7_SECRET_KEY", secret_key.as_str())],
        &[
            "file",
            "get",
            &id,
            "--out",
            back.to_str().context("path")?,
            "--password-stdin",
        ],
        PASSWORD,
    )?;
    if std::fs::read_to_string(&back)? != RECEIPT {
        bail!("the file the app uploaded came back different");
    }
    eprintln!("the CLI on a second device downloads the file the app uploaded");
    for name in ["plan.txt", "second.txt"] {
        if !files
            .as_array()
            .is_some_and(|a| a.iter().any(|f| f["title"] == name))
        {
            bail!("the second device does not list {name} from the watched folder: {files}");
        }
    }
    eprintln!("the CLI on a second device lists both files of the watched folder");

    // A conflict: the app changes a password while offline and locks; meanwhile the second
    // device changes the same password. At unlock the app syncs and keeps the losing side
    // as a conflict copy, which the user resolves. (The watched folder is stopped first:
    // its passes sync too.)
    let bank = serde_json::from_str::<serde_json::Value>(&found)?
        .as_array()
        .and_then(|a| a.iter().find(|i| i["title"] == "Bank (edited offline)"))
        .and_then(|i| i["id"].as_str())
        .with_context(|| format!("no Bank in {found}"))?
        .to_string();
    let cli2 = |args: &[&str]| {
        cli(
            Path::new(cli_bin),
            &second,
            &[("KRYPT7_SECRET_KEY", secret_key.as_str())],
            args,
            PASSWORD,
        )
    };
    ui.button("Stop watching").await?;
    ui.button("All items").await?;
    ui.click_xpath("//div[@role='option'][contains(., 'Bank (edited offline)')]")
        .await?;
    server.take().context("server")?.stop().await;
    ui.button("Edit").await?;
    ui.type_in("input[name=password]", "from-the-app").await?;
    ui.button("Save").await?;
    ui.text_until("[data-testid=pending]", |t| t == "1 pending")
        .await?;
    ui.button("Lock").await?;
    ui.find("input[name=password]").await?;
    server = Some(start_server(&server_data, port).await?);
    let edited = cli2(&[
        "item",
        "edit",
        &bank,
        "--field",
        "password=from-the-cli",
        "--password-stdin",
    ])?;
    eprintln!("the second device changed the password: {}", edited.trim());
    cli2(&["sync", "--password-stdin"])?;
    unlock(&ui, &secret_key).await?;
    ui.text_until("[data-testid=sync-message]", |t| {
        t.contains("1 conflict copy to resolve")
    })
    .await?;
    // (The sidebar's count shows on the right, and for screen readers as "(1)".)
    ui.click_xpath("//nav//button[contains(., 'Conflicts') and contains(., '(1)')]")
        .await?;
    ui.click_until(
        "//div[@role='option'][contains(., 'conflict copy')]",
        Locator::XPath("//button[normalize-space()='Resolve…']"),
    )
    .await?;
    ui.button("Resolve…").await?;
    ui.click("input[type=checkbox]").await?; // show secrets
    let (original, copy) = (
        ui.find("[data-testid=original-password]")
            .await?
            .text()
            .await?,
        ui.find("[data-testid=copy-password]").await?.text().await?,
    );
    // The server's side stays the item; this device's losing edit is the copy.
    if (original.as_str(), copy.as_str()) != ("from-the-cli", "from-the-app") {
        bail!("the comparison shows original {original:?} and copy {copy:?}");
    }
    ui.shot("resolve-conflict").await?;
    ui.click("input[name=pick-password][value=copy]").await?;
    ui.button("Keep the chosen values").await?;
    // (The sidebar's count shows on the right, and for screen readers as "(0)".)
    ui.click_xpath("//nav//button[contains(., 'Conflicts') and contains(., '(0)')]")
        .await?;
    ui.button("Sync now").await?;
    ui.text_until("[data-testid=pending]", |t| t == "0 pending")
        .await?;
    cli2(&["sync", "--password-stdin"])?;
    let got = cli2(&["--json", "item", "get", &bank, "--password-stdin"])?;
    if !got.contains("from-the-app") {
        bail!("the resolved password did not reach the second device: {got}");
    }
    eprintln!("a conflict is resolved in the app and the result reaches the second device");

    // The push channel: an item the second device adds shows in the app without a sync
    // asked for here (the app's fallback poll is five minutes away; the channel, opened
    // again after the server's restart above, brings it).
    ui.button("All items").await?;
    cli2(&[
        "item",
        "add",
        "login",
        "--title",
        "Pushed from the CLI",
        // (Its fields are the canaries of the memory scan at the end.)
        "--field",
        &format!("username={CANARY_USER}"),
        "--field",
        &format!("password={CANARY_PW}"),
        "--password-stdin",
    ])?;
    cli2(&["sync", "--password-stdin"])?;
    ui.c.wait()
        .at_most(WAIT)
        .for_element(Locator::XPath(
            "//div[@role='option'][contains(., 'Pushed from the CLI')]",
        ))
        .await
        .context("the app did not show the second device's new item by itself")?;
    eprintln!("another device's new item shows in the app through the push channel");

    // Mail: the app writes to another account (signed up here with the CLI), which reads it
    // in the CLI and replies from there; the reply shows in the app with the first message
    // in its conversation, and the app's search finds it.
    let frank = work.path().join("frank");
    let frank_env = [
        ("KRYPT7_SERVER", url.as_str()),
        ("KRYPT7_CA", ca.to_str().context("path")?),
    ];
    let signed_up: serde_json::Value = serde_json::from_str(&cli(
        Path::new(cli_bin),
        &frank,
        &frank_env,
        &[
            "--json",
            "signup",
            "--username",
            "frank",
            "--password-stdin",
        ],
        FRANK_PASSWORD,
    )?)?;
    let frank_key = signed_up["secret_key"]
        .as_str()
        .context("the sign-up's Secret Key")?
        .to_string();
    let frank_cli = |args: &[&str]| {
        cli(
            Path::new(cli_bin),
            &frank,
            &[("KRYPT7_SECRET_KEY", frank_key.as_str())],
            args,
            FRANK_PASSWORD,
        )
    };
    ui.click("[data-testid=mail-mode]").await?;
    ui.button("Compose").await?;
    ui.type_in("#mail-to", "frank").await?;
    ui.type_in("#mail-subject", "Lunch on Thursday").await?;
    ui.type_in("#mail-text", "Shall we meet at noon?").await?;
    ui.shot("mail-compose").await?;
    ui.button("Send").await?;
    let deadline = tokio::time::Instant::now() + WAIT;
    let first = loop {
        let list: serde_json::Value =
            serde_json::from_str(&frank_cli(&["--json", "mail", "ls", "--password-stdin"])?)?;
        if let Some(m) = list
            .as_array()
            .into_iter()
            .flatten()
            .find(|m| m["subject"] == "Lunch on Thursday")
        {
            break m.clone();
        }
        if tokio::time::Instant::now() > deadline {
            bail!("the message written in the app did not reach the other account: {list}");
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    };
    if first["from"] != "erin@localhost" || first["signature"] != "pinned" {
        bail!("the CLI shows the app's message from the wrong sender or unsigned: {first}");
    }
    let read: serde_json::Value = serde_json::from_str(&frank_cli(&[
        "--json",
        "mail",
        "read",
        first["id"].as_str().context("id")?,
        "--password-stdin",
    ])?)?;
    if !read["text"]
        .as_str()
        .is_some_and(|t| t.contains("Shall we meet at noon?"))
    {
        bail!("the CLI reads another text: {read}");
    }
    eprintln!("a message written in the app reaches another account, signed, and reads in the CLI");
    frank_cli(&[
        "mail",
        "reply",
        first["id"].as_str().context("id")?,
        "--body",
        "Thursday works for me.",
        "--password-stdin",
    ])?;
    ui.button("Sync now").await?;
    ui.c.wait()
        .at_most(WAIT)
        .for_element(Locator::XPath(
            "//div[@role='option'][contains(., 'Re: Lunch on Thursday')]",
        ))
        .await
        .context("the reply sent from the CLI did not reach the app's Inbox")?;
    ui.click_xpath("//div[@role='option'][contains(., 'Re: Lunch on Thursday')]")
        .await?;
    ui.text_until("[data-testid=mail-text]", |t| {
        t.contains("Thursday works for me.")
    })
    .await?;
    ui.text_until("[data-testid=thread]", |t| t.contains("Lunch on Thursday"))
        .await?;
    ui.text_until("[data-testid=mail-from]", |t| t == "frank@localhost")
        .await?;
    ui.shot("mail-thread").await?;
    eprintln!("the CLI's reply shows in the app, with the app's message in its conversation");
    // Frank's safety number as the app pinned it is the one his own CLI reads out; once
    // marked verified, his message shows as verified.
    let mine: serde_json::Value =
        serde_json::from_str(&frank_cli(&["--json", "keys", "mine", "--password-stdin"])?)?;
    let franks = mine["fingerprint"]
        .as_str()
        .context("frank's fingerprint")?
        .to_string();
    ui.button("Safety number").await?;
    ui.text_until("[data-testid=safety-theirs]", |t| t == franks)
        .await
        .context("the app's safety number for frank is not the one his CLI shows")?;
    ui.find("dialog img[alt^='QR code']").await?;
    ui.shot("mail-safety-number").await?;
    ui.button("They match: mark verified").await?;
    ui.text_until("dialog h3", |t| t.contains("Verified"))
        .await?;
    ui.click_xpath("//dialog//button[normalize-space()='Close']")
        .await?;
    ui.text_until(".read .head", |t| t.contains("Verified"))
        .await
        .context("frank's message does not show as verified once his key was")?;
    eprintln!("a sender's safety number in the app is theirs, and verifying it marks their mail");
    ui.type_in("#mail-search", "works").await?;
    ui.text_until("[data-testid=mail-count]", |t| t == "1 message")
        .await?;
    ui.find("#mail-row-0").await?;
    ui.text_until("#mail-row-0", |t| t.contains("Re: Lunch on Thursday"))
        .await?;
    eprintln!("the app's mail search finds the reply by a word of its text");
    ui.type_in("#mail-search", "").await?;
    ui.button("Items").await?;

    // Quick search: the global shortcut opens its window; Enter copies the password and
    // hides it; the clipboard is cleared after the time chosen in Settings (5 s here).
    ui.button("Settings").await?;
    ui.type_in("input[name=clipboard]", "5").await?;
    ui.button("Save settings").await?;
    let main_window = ui.c.window().await?;
    let key = Command::new("xdotool")
        .args(["key", "--clearmodifiers", "ctrl+shift+k"])
        .status()?;
    if !key.success() {
        bail!("xdotool failed: {key}");
    }
    let deadline = std::time::Instant::now() + WAIT;
    let quick = loop {
        let others: Vec<_> =
            ui.c.windows()
                .await?
                .into_iter()
                .filter(|w| *w != main_window)
                .collect();
        if let Some(w) = others.into_iter().next() {
            break w;
        }
        if std::time::Instant::now() > deadline {
            bail!("Ctrl+Shift+K opened no quick-search window");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    ui.c.switch_to_window(quick).await?;
    ui.type_in("input[aria-label='Quick search']", "bank")
        .await?;
    ui.text_until("[role=option] .title", |t| t.starts_with("Bank"))
        .await?;
    ui.shot("quick-search").await?;
    ui.find("input[aria-label='Quick search']")
        .await?
        .send_keys("\u{E007}")
        .await?;
    clipboard_until(|c| c == "from-the-app", "the password").await?;
    let copied = std::time::Instant::now();
    eprintln!("the global shortcut opens quick search, and Enter copies the password");
    // Marked concealed, so that clipboard managers (Klipper and those that follow it) do
    // not keep it.
    let targets = Command::new("xclip")
        .args(["-o", "-selection", "clipboard", "-t", "TARGETS"])
        .output()?;
    let targets = String::from_utf8_lossy(&targets.stdout);
    if !targets.lines().any(|t| t == "x-kde-passwordManagerHint") {
        bail!("the copied password is not marked concealed; the clipboard offers {targets:?}");
    }
    eprintln!("the copied password carries the x-kde-passwordManagerHint mark");
    clipboard_until(str::is_empty, "nothing, 5 s after the copy").await?;
    eprintln!(
        "the clipboard is cleared {:.1} s after the copy",
        copied.elapsed().as_secs_f64()
    );
    ui.c.switch_to_window(main_window).await?;

    // The server moves to a new address (here: the same server by its IP address): the
    // app follows once it signs in there, and syncs on.
    let moved = format!("https://127.0.0.1:{port}");
    ui.button("All items").await?; // Settings is still open from the clipboard step
    ui.button("Settings").await?;
    ui.button("Change server address…").await?;
    ui.type_in("input[name=new-server]", &moved).await?;
    // Sign-up kept the Secret Key nowhere: the form asks for it.
    ui.type_in("input[name=move-secret-key]", &secret_key)
        .await?;
    ui.type_in("input[name=move-password]", "not the password")
        .await?;
    ui.button("Use this address").await?;
    ui.text_until("[role=alert]", |t| t.starts_with("Wrong password"))
        .await?;
    ui.text_until("[data-testid=server]", |t| t == url).await?;
    ui.type_in("input[name=move-password]", PASSWORD).await?;
    ui.button("Use this address").await?;
    ui.text_until("[data-testid=server]", |t| t == moved)
        .await?;
    ui.shot("server-moved").await?;
    ui.button("Sync now").await?;
    ui.text_until("[data-testid=sync-message]", |t| t.starts_with("Synced at"))
        .await?;
    eprintln!(
        "a wrong password moves nothing; the right one moves the app to {moved}, and it syncs there"
    );
    // The device's name, the host's until renamed here: the account's device list shows
    // the new one (below).
    ui.type_in("input[name=device-name]", "Erin's desktop")
        .await?;
    ui.button("Rename").await?;
    ui.text_until(TOAST, |t| t == "This device is now called Erin's desktop.")
        .await?;

    // Account: the second device is listed and signed out from here; an authenticator
    // app is set up, and a new device then needs its code; the vault is exported.
    ui.button("Account").await?;
    ui.find("[data-testid=account-usage]").await?;
    ui.click_xpath("//tr[td[normalize-space()=\"Erin's desktop\"]][contains(., 'This device')]/td")
        .await?;
    eprintln!("the device renamed in Settings is listed by its new name");
    // Signing another device out is confirmed in a dialog with the password and the Secret
    // Key (kept nowhere on this device); a wrong password leaves the dialog open.
    let sign_out = "button[aria-label='Sign out second-device']";
    ui.click(sign_out).await?;
    confirm_change(&ui, &secret_key, "not the password").await?;
    ui.text_until("dialog [role=alert]", |t| {
        t == "Wrong password or Secret Key"
    })
    .await?;
    confirm_change(&ui, &secret_key, PASSWORD).await?;
    ui.text_until(TOAST, |t| t == "second-device signed out")
        .await?;
    eprintln!("signing another device out needs the password: a wrong one is refused");
    match cli(
        Path::new(cli_bin),
        &second,
        &[("KRYPT7_SECRET_KEY", secret_key.as_str())],
        &["sync", "--password-stdin"],
        PASSWORD,
    ) {
        Ok(out) => bail!("a signed-out device still syncs: {out}"),
        Err(e) if e.to_string().contains("sign in again") => {
            eprintln!("the signed-out device can no longer sync: {e}")
        }
        Err(e) => bail!("the signed-out device is not told to sign in again: {e}"),
    }
    // The password, changed on another device (the CLI): this app learns of it when it
    // syncs, refuses the old one at its next unlock and opens with the new one, through the
    // server this once.
    let changer = work.path().join("changer");
    let changer_env = [env[0], env[1], ("HOSTNAME", "password-changer")];
    cli(
        Path::new(cli_bin),
        &changer,
        &changer_env,
        &[
            "login",
            "--username",
            "erin",
            "--secret-key",
            &secret_key,
            "--password-stdin",
        ],
        PASSWORD,
    )?;
    cli(
        Path::new(cli_bin),
        &changer,
        &[("KRYPT7_SECRET_KEY", secret_key.as_str())],
        &["account", "--password-stdin", "change-password"],
        &format!("{PASSWORD}\n{CHANGED}\n"),
    )?;
    ui.button("Sync now").await?;
    ui.text_until("[data-testid=password-changed]", |t| {
        t.starts_with("Your password was changed on another device")
    })
    .await?;
    ui.button("Lock").await?;
    ui.text_until("[data-testid=unlock-changed]", |t| {
        t.starts_with("Your password was changed on another device")
    })
    .await?;
    ui.shot("password-changed-elsewhere").await?;
    unlock_with(&ui, &secret_key, PASSWORD).await?;
    ui.text_until("[role=alert]", |t| t.starts_with("Wrong password"))
        .await?;
    unlock_with(&ui, &secret_key, CHANGED).await?;
    ui.find("#search").await?;
    eprintln!(
        "after a password change on another device and a sync, the old password is refused \
         and the new one unlocks (through the server once)"
    );
    // And changed here, in the Account screen: confirmed with the current password.
    ui.button("Account").await?;
    ui.type_in("input[name=new-password]", FINAL_PASSWORD)
        .await?;
    ui.type_in("input[name=new-password-again]", FINAL_PASSWORD)
        .await?;
    ui.button("Change password").await?;
    confirm_change(&ui, &secret_key, CHANGED).await?;
    ui.text_until(TOAST, |t| t.starts_with("Password changed"))
        .await?;
    ui.button("Lock").await?;
    ui.find("input[name=secret_key]").await?;
    unlock_with(&ui, &secret_key, CHANGED).await?;
    ui.text_until("[role=alert]", |t| t.starts_with("Wrong password"))
        .await?;
    unlock_with(&ui, &secret_key, FINAL_PASSWORD).await?;
    ui.find("#search").await?;
    eprintln!(
        "the password changed in the Account screen: the old one is refused, the new one unlocks"
    );
    // A new Secret Key, made in the Account screen: its kit shown and kept first, then put
    // in use, confirmed with the password and the current Secret Key.
    ui.button("Account").await?;
    ui.button("Make a new Secret Key").await?;
    let new_key = ui
        .text_until("[data-testid=secret-key]", |t| t.starts_with("K1-"))
        .await?;
    ui.click_xpath("//label[contains(., 'I have saved or printed my Emergency Kit')]/input")
        .await?;
    ui.button("Use the new Secret Key").await?;
    confirm_change(&ui, &secret_key, FINAL_PASSWORD).await?;
    ui.text_until(TOAST, |t| t.starts_with("Secret Key changed"))
        .await?;
    ui.shot("new-secret-key").await?;
    ui.button("Lock").await?;
    unlock_with(&ui, &secret_key, FINAL_PASSWORD).await?;
    ui.text_until("[role=alert]", |t| t.starts_with("Wrong password"))
        .await?;
    unlock_with(&ui, &new_key, FINAL_PASSWORD).await?;
    ui.find("#search").await?;
    let secret_key = new_key;
    eprintln!(
        "a new Secret Key made in the Account screen: the old one is refused, the new one unlocks"
    );
    ui.button("Account").await?;
    ui.button("Set up an authenticator app").await?;
    confirm_change(&ui, &secret_key, FINAL_PASSWORD).await?;
    let totp_secret = ui
        .text_until("[data-testid=totp-secret]", |t| t.len() >= 16)
        .await?;
    let now = || {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or_default()
    };
    let code = krypt7_client::totp::code_at(&totp_secret, now())?.code;
    ui.type_in("input[name=totp-code]", &code).await?;
    ui.button("Turn on").await?;
    ui.text_until("[data-testid=totp-state]", |t| t.starts_with("On"))
        .await?;
    ui.type_in("input[name=export-password]", "export password 1")
        .await?;
    ui.type_in("input[name=export-again]", "export password 1")
        .await?;
    ui.button("Export…").await?;
    ui.text_until(TOAST, |t| t.starts_with("Vault exported to"))
        .await?;
    ui.shot("account").await?;
    let sealed = std::fs::read(exports.join("krypt7-export.enc"))?;
    let plain = krypt7_crypto::export::open(
        &krypt7_crypto::secret::Password::new("export password 1"),
        &sealed,
    )?;
    if !String::from_utf8_lossy(&plain).contains("Bank (edited offline)") {
        bail!("the export does not hold the vault's items");
    }
    eprintln!("the export opens with its password and holds the vault");
    let third = work.path().join("third");
    let login = |code: Option<&str>| {
        let mut args = vec![
            "login",
            "--username",
            "erin",
            "--secret-key",
            &secret_key,
            "--password-stdin",
        ];
        args.extend(code.iter().flat_map(|c| ["--code", *c]));
        cli(Path::new(cli_bin), &third, &env, &args, FINAL_PASSWORD)
    };
    if let Ok(out) = login(None) {
        bail!("a new device signed in without the authenticator code: {out}");
    }
    // The next step's code: the one used to turn the app on is spent.
    login(Some(
        &krypt7_client::totp::code_at(&totp_secret, now() + 30)?.code,
    ))?;
    eprintln!("a new device needs the authenticator code, and signs in with it");
    // The signed-out device's tries are on the account's record of attempts.
    ui.button("Settings").await?;
    ui.button("Account").await?;
    ui.text_until("[data-testid=attempts]", |t| {
        t.contains("revoked session's token")
    })
    .await?;
    eprintln!("the Account screen lists the signed-out device's attempts");

    // Keychain unlock: turned on in Settings (the device key goes to the real Secret
    // Service), then the vault opens without the password.
    ui.button("Settings").await?;
    ui.click("input[name=keychain-unlock]").await?;
    // The Secret Key is kept nowhere until now: the setting asks for it.
    ui.type_in("input[name=secret-key]", &secret_key).await?;
    ui.button("Turn on keychain unlock").await?;
    // Done once the setting no longer asks for the Secret Key (locking before would end the
    // call that turns it on).
    let deadline = std::time::Instant::now() + WAIT;
    while ui
        .c
        .find(Locator::Css("input[name=secret-key]"))
        .await
        .is_ok()
    {
        if std::time::Instant::now() > deadline {
            bail!("keychain unlock was not turned on");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ui.button("Lock").await?;
    ui.button("Unlock with system keychain").await?;
    ui.find("#search").await?;
    ui.shot("keychain-unlock").await?;
    eprintln!("keychain unlock opens the vault without the password");

    // French: the page, and the shell's own words (the quick-search window's title).
    ui.button("Settings").await?;
    ui.click("select[name=language] option[value=fr]").await?;
    ui.button("Save settings").await?;
    ui.text_until(".settings h2", |t| t == "Réglages").await?;
    ui.button("Tous les éléments").await?;
    ui.text_until(".count", |t| t.ends_with("éléments")).await?;
    ui.shot("french").await?;
    let titled = |name: &str| {
        Command::new("xdotool")
            .args(["search", "--name", name])
            .output()
            .map(|o| o.status.success() && !o.stdout.is_empty())
    };
    let deadline = std::time::Instant::now() + WAIT;
    while !titled("^Recherche rapide KRYPT7$")? {
        if std::time::Instant::now() > deadline {
            bail!("the quick-search window's title did not turn French");
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    eprintln!("in French: the page's strings and the shell's window title");

    // Window state: resized, the app quit from its menu (Ctrl+Q), started again: the
    // window comes back at that size.
    ui.c.set_window_size(900, 640).await?;
    let (w, h) = ui.c.get_window_size().await?;
    eprintln!("window resized to {w}x{h}");
    let main_x = Command::new("xdotool")
        .args(["search", "--name", "^KRYPT7$"])
        .output()?;
    let main_x = String::from_utf8_lossy(&main_x.stdout)
        .lines()
        .next()
        .context("the main window is not on the X display")?
        .to_string();
    for args in [
        vec!["windowfocus", "--sync", main_x.as_str()],
        vec!["key", "--clearmodifiers", "ctrl+q"],
    ] {
        let st = Command::new("xdotool").args(&args).status()?;
        if !st.success() {
            bail!("xdotool {args:?} failed: {st}");
        }
    }
    let saved = config.join("org.krypt7.desktop/.window-state.json");
    let deadline = std::time::Instant::now() + WAIT;
    while !saved.exists() {
        if std::time::Instant::now() > deadline {
            bail!(
                "Ctrl+Q did not quit the app (no window state at {})",
                saved.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    drop(driver);
    let (_driver, session) = open_app(app, &app_env[..7]).await?;
    ui.c = session;
    ui.find("input[name=password]").await?;
    let (w2, h2) = ui.c.get_window_size().await?;
    if (w2, h2) != (w, h) {
        bail!("the window came back at {w2}x{h2}, not the {w}x{h} it was left at");
    }
    ui.text_until("h1", |t| t == "Déverrouiller KRYPT7").await?;
    ui.shot("restarted").await?;
    eprintln!("after a quit and a new start: the window at {w2}x{h2} again, in French");

    // Nothing secret in memory after lock: the app and its WebKit processes are read through
    // /proc before and after a lock, for the password, the Secret Key, an item's fields
    // (shown on screen and copied) and a file's text (previewed), in UTF-8 and UTF-16.
    // Before the lock the item's password must be found (the scan can find what is there);
    // after it, none of them anywhere, but for the account password in the app's own
    // process: this test types it through WebDriver, whose automation session runs in that
    // process and keeps its own copies of what it sends and reads (so the test reads no
    // canary through WebDriver, and this app process, started again above, never had the
    // file's text read or the Secret Key typed through it).
    ui.type_in("input[name=password]", FINAL_PASSWORD).await?;
    ui.button("Déverrouiller").await?;
    ui.button("Tous les éléments").await?;
    // (Clicked until the item opens: a sync that re-renders the list can swallow a click.)
    ui.click_until(
        "//div[@role='option'][contains(., 'Pushed from the CLI')]",
        Locator::Css("button[aria-label='Afficher Mot de passe']"),
    )
    .await?;
    ui.click("button[aria-label='Afficher Mot de passe']")
        .await?;
    // (Shown: its button now hides it. The test does not read the canaries through
    // WebDriver, whose automation session runs in the app's process and keeps its own copies
    // of what it reads.)
    ui.find("button[aria-label='Masquer Mot de passe']").await?;
    ui.click("button[aria-label='Copier Mot de passe']").await?;
    clipboard_until(|c| c == CANARY_PW, "the canary password").await?;
    ui.button("Fichiers").await?;
    // (The Files list, not the one before it, which holds the file too.)
    ui.find(".files-bar").await?;
    ui.click_until(
        "//div[@role='option'][contains(., 'receipt.txt')]",
        Locator::Css("button[aria-label='Aperçu de receipt.txt']"),
    )
    .await?;
    ui.click("button[aria-label='Aperçu de receipt.txt']")
        .await?;
    ui.find(".preview pre").await?;
    const TYPED: &str = "the account password";
    let secrets = [
        ("the item's password", CANARY_PW),
        ("the item's username", CANARY_USER),
        ("the file's text", RECEIPT),
        (TYPED, FINAL_PASSWORD),
        ("the Secret Key", secret_key.as_str()),
    ];
    let app_tree = || krypt7_hostile::memory::tree("krypt7-desktop");
    let procs = app_tree();
    let before = krypt7_hostile::memory::scan(&procs, &secrets)?;
    eprintln!("memory before the lock, in {}: {before:?}", names(&procs));
    for canary in ["the item's password", "the file's text"] {
        if !before.keys().any(|k| k.starts_with(canary)) {
            bail!(
                "the scan did not find {canary} before the lock: it cannot be trusted ({before:?})"
            );
        }
    }
    // The lock ends the page's web process, and with it this WebDriver session, which lives
    // there: from here on the test watches the processes. The lock cleared the clipboard
    // (so it ran), the old web process ended, a new one runs the page, the app lives on.
    let _ = ui.button("Verrouiller").await;
    clipboard_until(|c| c != CANARY_PW, "the clipboard cleared by the lock").await?;
    let web = |procs: &[krypt7_hostile::memory::Proc]| -> Vec<u32> {
        procs
            .iter()
            .filter(|p| p.name.starts_with("WebKitWeb") && krypt7_hostile::memory::alive(p))
            .map(|p| p.pid)
            .collect()
    };
    let old_web = web(&procs);
    let deadline = std::time::Instant::now() + WAIT;
    let procs = loop {
        let now = app_tree();
        let new_web = web(&now);
        if !old_web.iter().any(|p| new_web.contains(p)) && !new_web.is_empty() {
            // (A process that ended holds no memory to read.)
            break now
                .into_iter()
                .filter(krypt7_hostile::memory::alive)
                .collect::<Vec<_>>();
        }
        if std::time::Instant::now() > deadline {
            bail!(
                "the locked page's web process did not end, or no new one started ({old_web:?} then {new_web:?})"
            );
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    if !procs.iter().any(|p| p.name.starts_with("krypt7-desktop")) {
        bail!("the app did not survive its lock");
    }
    let after = krypt7_hostile::memory::hits(&procs, &secrets)?;
    let mut places = std::collections::BTreeMap::<String, usize>::new();
    for h in &after {
        let form = if h.utf16 { "UTF-16" } else { "UTF-8" };
        let at = format!("{} in {} ({form}, {})", h.secret, h.process, h.mapping);
        *places.entry(at).or_default() += 1;
    }
    eprintln!("memory after the lock, in {}: {places:#?}", names(&procs));
    for h in after.iter().take(12) {
        eprintln!("  {} in {}: {}", h.secret, h.process, h.around);
    }
    let left: Vec<_> = after
        .iter()
        .filter(|h| h.process.starts_with("WebKit") || h.secret != TYPED)
        .collect();
    if !left.is_empty() {
        bail!(
            "secrets left in memory after the lock: {:?}",
            left.iter()
                .map(|h| format!("{} in {}", h.secret, h.process))
                .collect::<Vec<_>>()
        );
    }
    eprintln!(
        "nothing secret in the app's or its WebKit processes after the lock (but the password \
         WebDriver typed, in the app's process)"
    );
    let _ = ui.c.close().await;
    if let Some(s) = server {
        s.stop().await;
    }
    eprintln!("end-to-end: all steps passed");
    Ok(())
}

/// The processes as `name pid`, for the log.
fn names(procs: &[krypt7_hostile::memory::Proc]) -> String {
    let names: Vec<_> = procs
        .iter()
        .map(|p| format!("{} {}", p.name, p.pid))
        .collect();
    names.join(", ")
}
