//! This device and its session: status, the server and its CA, sign-up, sign-in, unlock
//! (password or keychain), lock, the clipboard and the quick-search window's requests.

use crate::*;

/// Where the app stands, for choosing the screen.
#[derive(Serialize, Type)]
pub struct Status {
    pub has_account: bool,
    pub unlocked: bool,
    pub username: Option<String>,
    pub server: Option<String>,
    /// Items waiting for the server.
    pub pending: u32,
    /// The Secret Key is in the OS keychain: unlock needs the password only.
    pub secret_key_remembered: bool,
    /// Keychain unlock is on: the OS keychain unlocks this device without the password.
    pub keychain_unlock: bool,
    /// A CA certificate besides the system's is trusted for the server.
    pub custom_ca: bool,
    /// The password was changed on another device: the next unlock by password takes the
    /// new one and goes through the server (with a second-factor code, if one is on).
    pub password_changed: bool,
    /// The Secret Key was changed on another device: the next unlock takes the new one (from
    /// the new Emergency Kit) and goes through the server.
    pub secret_key_changed: bool,
}

#[tauri::command]
#[specta::specta]
pub(crate) async fn status(app: State<'_, App>) -> Out<Status> {
    let custom_ca = app.ca.lock().map(|c| c.is_some()).unwrap_or(false);
    let guard = app.client.lock().await;
    Ok(match guard.as_ref() {
        None => Status {
            has_account: false,
            unlocked: false,
            username: None,
            server: app.default_server.clone(),
            pending: 0,
            secret_key_remembered: false,
            keychain_unlock: false,
            custom_ca,
            password_changed: false,
            secret_key_changed: false,
        },
        Some(c) => Status {
            has_account: true,
            unlocked: c.is_unlocked(),
            username: c.username()?,
            server: Some(c.server().to_string()),
            pending: c.pending()? as u32,
            secret_key_remembered: matches!(c.keychain_secret_key(), Ok(Some(_))),
            keychain_unlock: c.keychain_unlock_enabled().unwrap_or(false),
            custom_ca,
            password_changed: c.password_changed_elsewhere()?,
            secret_key_changed: c.secret_key_changed_elsewhere()?,
        },
    })
}

/// A new account: what its Emergency Kit holds (the UI lays the kit out in its language),
/// shown once.
#[derive(Serialize, Type)]
pub struct SignedUp {
    pub secret_key: String,
    pub username: String,
    pub server: String,
}

pub(crate) fn new_client(app: &App, server: &str) -> Out<Client> {
    let ca = app.ca.lock().map(|c| c.clone()).unwrap_or_default();
    Ok(Client::open(&app.data_dir, Some(server), ca.as_deref())?)
}

/// A path a dialog returned, as the UI passes it back (none if it is not a local path).
pub(crate) fn path_text(p: tauri_plugin_dialog::FilePath) -> Option<String> {
    p.into_path().ok().map(|p| p.display().to_string())
}

/// The chosen CA certificate's file in the data directory.
pub(crate) const CA_FILE: &str = "server-ca.pem";

/// A CA certificate file for `set_server_ca`, chosen in the system's file dialog (none if
/// cancelled); `KRYPT7_PICK_CA` answers instead, as for `choose_files`.
#[tauri::command]
#[specta::specta]
pub(crate) async fn choose_ca(handle: AppHandle) -> Out<Option<String>> {
    if let Ok(path) = std::env::var("KRYPT7_PICK_CA") {
        return Ok(Some(path));
    }
    let picked = handle
        .dialog()
        .file()
        .add_filter(
            shell::lang(&handle).texts().ca_filter,
            &["pem", "crt", "cer"],
        )
        .blocking_pick_file();
    Ok(picked.and_then(path_text))
}

/// Trusts the CA certificate (PEM) at `path` for the server, besides the system's, or only
/// the system's with none: before sign-up or sign-in, or unlocked (Settings) on a device
/// with an account. Returns whether a custom CA is now in use.
#[tauri::command]
#[specta::specta]
pub(crate) async fn set_server_ca(app: State<'_, App>, path: Option<String>) -> Out<bool> {
    let pem = match &path {
        Some(p) => {
            let pem = std::fs::read(p).map_err(|e| invalid(format!("cannot read {p}: {e}")))?;
            if !String::from_utf8_lossy(&pem).contains("-----BEGIN CERTIFICATE-----") {
                return Err(invalid(format!("{p} holds no PEM certificate")));
            }
            Some(pem)
        }
        None => None,
    };
    let mut guard = app.client.lock().await;
    if let Some(c) = guard.as_mut() {
        // Unlocked only: the session token is bound to the CA and sealed again for it (a
        // CA changed in the cache while locked leaves the token sealed shut). A bad
        // certificate leaves everything as it was.
        c.trust_ca(pem.as_deref())?;
    }
    let file = app.data_dir.join(CA_FILE);
    match &pem {
        Some(pem) => {
            std::fs::create_dir_all(&app.data_dir)
                .and_then(|_| std::fs::write(&file, pem))
                .map_err(|e| invalid(format!("cannot keep the certificate: {e}")))?;
        }
        None => {
            let _ = std::fs::remove_file(&file);
        }
    }
    let custom = pem.is_some();
    if let Ok(mut ca) = app.ca.lock() {
        *ca = pem;
    }
    Ok(custom)
}

#[tauri::command]
#[specta::specta]
pub(crate) async fn signup(
    app: State<'_, App>,
    server: String,
    username: String,
    password: String,
    email: Option<String>,
) -> Out<SignedUp> {
    let mut guard = app.client.lock().await;
    if guard.is_some() {
        return Err(ClientError::AlreadySetUp.into());
    }
    let mut c = new_client(&app, &server)?;
    let sk = c
        .signup(&username, &password, email.as_deref(), None)
        .await?;
    // The Secret Key is shown once (the Emergency Kit) and kept nowhere on this device
    // unless the user turns keychain unlock on.
    let out = SignedUp {
        secret_key: sk.to_human().to_string(),
        username,
        server: c.server().to_string(),
    };
    app.keep(&mut guard, Some(c));
    Ok(out)
}

#[tauri::command]
#[specta::specta]
pub(crate) async fn login(
    app: State<'_, App>,
    server: String,
    username: String,
    password: String,
    secret_key: String,
    code: Option<String>,
) -> Out<()> {
    let mut guard = app.client.lock().await;
    if guard.is_some() {
        return Err(ClientError::AlreadySetUp.into());
    }
    let sk = SecretKey::parse(&secret_key).map_err(ClientError::from)?;
    let mut c = new_client(&app, &server)?;
    c.login(&username, &password, &sk, code.as_deref()).await?;
    app.keep(&mut guard, Some(c));
    Ok(())
}

/// Runs `f` on the client; no account yet is an error.
/// A device idle past its limit (asleep, say) is locked first.
pub(crate) async fn with<T>(app: &App, f: impl AsyncFnOnce(&mut Client) -> Out<T>) -> Out<T> {
    if app.idle.due(std::time::SystemTime::now()) {
        app.lock_now()?;
    }
    let mut guard = app.client.lock().await;
    let c = guard.as_mut().ok_or(ClientError::NoAccount)?;
    f(c).await
}

/// The Secret Key as typed, else the one this device keeps in the OS keychain.
pub(crate) fn typed_or_kept(c: &Client, typed: Option<String>) -> Out<SecretKey> {
    match typed.filter(|s| !s.trim().is_empty()) {
        Some(s) => Ok(SecretKey::parse(&s).map_err(ClientError::from)?),
        None => c
            .keychain_secret_key()
            .ok()
            .flatten()
            .ok_or_else(Failure::secret_key_needed),
    }
}

/// Unlocks with the password and Secret Key (typed, or kept in the keychain), offline. After
/// the password or the Secret Key was changed on another device, once through the server: a
/// full sign-in with the new password or Secret Key, and `code` when the account has a
/// second factor.
#[tauri::command]
#[specta::specta]
pub(crate) async fn unlock(
    app: State<'_, App>,
    handle: AppHandle,
    password: String,
    secret_key: Option<String>,
    code: Option<String>,
) -> Out<()> {
    let password = zeroize::Zeroizing::new(password);
    with(&app, async |c| {
        let sk = typed_or_kept(c, secret_key)?;
        match c.unlock(&password, &sk) {
            Err(ClientError::PasswordChanged | ClientError::SecretKeyChanged) => {
                let code = code.filter(|s| !s.trim().is_empty());
                c.unlock_online(&password, &sk, code.as_deref()).await?
            }
            r => r?,
        }
        Ok(())
    })
    .await?;
    resume_folder(&app, &handle).await;
    Ok(())
}

/// After an unlock: the idle lock counts from now, and the watched folder, if this device
/// has one, is kept in step again.
pub(crate) async fn resume_folder(app: &App, handle: &AppHandle) {
    app.idle.touch(std::time::SystemTime::now());
    let folder = with(app, async |c| {
        Ok(c.device_setting::<WatchedFolder>(WATCHED)?)
    })
    .await;
    if let Ok(Some(f)) = folder {
        start_folder(app, handle, f);
    }
}

/// Follows the server to its new address (unlocked): signs in there with the password (and
/// the Secret Key: typed, or from the keychain; and a second-factor code if the account
/// has one) and keeps the new address only if it is this account on the same server.
/// Returns the address now in use.
#[tauri::command]
#[specta::specta]
pub(crate) async fn move_server(
    app: State<'_, App>,
    server: String,
    password: String,
    secret_key: Option<String>,
    code: Option<String>,
) -> Out<String> {
    let password = zeroize::Zeroizing::new(password);
    with(&app, async |c| {
        let sk = typed_or_kept(c, secret_key)?;
        let code = code.filter(|s| !s.trim().is_empty());
        c.move_server(&server, &password, &sk, code.as_deref())
            .await?;
        Ok(c.server().to_string())
    })
    .await
}

/// Signs this device in again after the server ended its session (`signed_out`): the
/// vault, the outbox and the feed position stay.
#[tauri::command]
#[specta::specta]
pub(crate) async fn sign_in_again(
    app: State<'_, App>,
    password: String,
    secret_key: Option<String>,
    code: Option<String>,
) -> Out<()> {
    let password = zeroize::Zeroizing::new(password);
    with(&app, async |c| {
        let sk = typed_or_kept(c, secret_key)?;
        let code = code.filter(|s| !s.trim().is_empty());
        Ok(c.sign_in_again(&password, &sk, code.as_deref()).await?)
    })
    .await
}

/// Unlocks with the OS keychain (keychain unlock on), no password.
#[tauri::command]
#[specta::specta]
pub(crate) async fn unlock_keychain(app: State<'_, App>, handle: AppHandle) -> Out<()> {
    with(&app, async |c| Ok(c.unlock_with_keychain()?)).await?;
    resume_folder(&app, &handle).await;
    Ok(())
}

/// Turns keychain unlock on or off for this device (unlocked). On needs the Secret Key:
/// from the keychain, or `secret_key` as typed; it puts the device key and the Secret Key
/// in the OS keychain. Off removes both: unlock then asks for the password and the Secret
/// Key again.
#[tauri::command]
#[specta::specta]
pub(crate) async fn keychain_unlock(
    app: State<'_, App>,
    enabled: bool,
    secret_key: Option<String>,
) -> Out<bool> {
    with(&app, async |c| {
        if enabled {
            c.enable_keychain_unlock(&typed_or_kept(c, secret_key)?)?;
        } else {
            c.disable_keychain_unlock()?;
        }
        Ok(c.keychain_unlock_enabled()?)
    })
    .await
}

/// Locks: the keys are dropped first, then the pages start over. Not `async`, so it runs at
/// once on the main thread even when every worker of the async runtime is busy; the
/// clipboard (reading it may wait on another program) is cleared beside it.
#[tauri::command]
#[specta::specta]
pub(crate) fn lock(app: State<'_, App>, handle: AppHandle) -> Out<()> {
    let locked = app.lock_now();
    shell::lock_quick(&handle);
    let h = handle.clone();
    std::thread::spawn(move || clip::clear(&h, None));
    shell::fresh_pages(&handle);
    locked
}

/// The user did something in the app: the idle lock counts from now.
#[tauri::command]
#[specta::specta]
pub(crate) fn activity(app: State<'_, App>) {
    app.idle.touch(std::time::SystemTime::now());
}

/// Locks after `minutes` without activity (0: never), counted from now.
#[tauri::command]
#[specta::specta]
pub(crate) fn set_auto_lock(app: State<'_, App>, minutes: u32) {
    app.idle.set_minutes(minutes, std::time::SystemTime::now());
}

/// Copies a secret to the system clipboard; cleared after `seconds` if it is still there,
/// or when the app locks.
#[tauri::command]
#[specta::specta]
pub(crate) fn copy_secret(handle: AppHandle, value: String, seconds: u32) -> Out<()> {
    let value = zeroize::Zeroizing::new(value);
    clip::copy(&handle, &value, seconds.clamp(1, 3600))
        .map_err(|message| Failure::new("clipboard", message))
}

/// Brings the main window forward (from the quick-search window), showing `item` if given,
/// and hides the quick-search window.
#[tauri::command]
#[specta::specta]
pub(crate) fn open_main(handle: AppHandle, item: Option<String>) {
    shell::show_main(&handle);
    if let Some(id) = item {
        shell::send(&handle, shell::Action::ShowItem(id));
    }
    hide_quick(handle);
}

/// Hides the quick-search window (Escape, or once a value is copied).
#[tauri::command]
#[specta::specta]
pub(crate) fn hide_quick(handle: AppHandle) {
    if let Some(w) = handle.get_webview_window(shell::QUICK) {
        let _ = w.hide();
    }
}
