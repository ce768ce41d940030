//! The KRYPT7 desktop app: a Tauri 2 shell over `krypt7-client`. Each command is a few lines
//! over one client call; errors cross to the UI as `{code, message}`. The TypeScript
//! bindings in `ui/src/lib/bindings.ts` are generated from these types (`bindings()`), and
//! `tests/bindings.rs` fails when that file is stale.

use std::path::PathBuf;

mod clip;
mod shell;

use krypt7_client::{
    Client, ClientError, ItemData, ItemKind, ItemView, Progress, generator, search::Filter,
};
use krypt7_crypto::secret_key::SecretKey;
use serde::{Deserialize, Serialize};
use specta::Type;
use tauri::{AppHandle, Manager, State};
use tauri_plugin_dialog::DialogExt;
use tokio::sync::Mutex;
use uuid::Uuid;

/// What a failed command returns: a stable code to branch on, a message to show (English),
/// and what the message adds to the code (the server's or the system's words), so the UI
/// can word the code in its own language and append the detail.
#[derive(Debug, Serialize, Type)]
pub struct Failure {
    pub code: String,
    pub message: String,
    pub detail: Option<String>,
}

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        Failure {
            code: e.code().to_string(),
            message: e.to_string(),
            detail: e.detail(),
        }
    }
}

impl Failure {
    /// A failure whose whole message is its detail.
    fn new(code: &str, message: impl Into<String>) -> Self {
        let message = message.into();
        Failure {
            code: code.into(),
            detail: Some(message.clone()),
            message,
        }
    }

    fn secret_key_needed() -> Self {
        Failure {
            code: "secret_key_needed".into(),
            message: "enter your Secret Key (it is in your Emergency Kit)".into(),
            detail: None,
        }
    }
}

type Out<T> = Result<T, Failure>;

fn invalid(message: impl Into<String>) -> Failure {
    Failure::new("invalid_input", message)
}

/// The app's one client, opened once an account exists on this device.
pub struct App {
    data_dir: PathBuf,
    /// The server to offer for a new account (from `KRYPT7_SERVER`).
    default_server: Option<String>,
    /// A CA certificate (PEM) to trust besides the system's: `KRYPT7_CA`, or the one the
    /// user chose (kept as `server-ca.pem` in the data directory; a certificate is public).
    ca: std::sync::Mutex<Option<Vec<u8>>>,
    client: Mutex<Option<Client>>,
    /// Stops the task keeping the watched folder in step (dropping it does too).
    folder_stop: std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
}

impl App {
    pub fn new(data_dir: PathBuf, default_server: Option<String>, ca: Option<Vec<u8>>) -> App {
        let ca = ca.or_else(|| std::fs::read(data_dir.join(CA_FILE)).ok());
        // A device that has an account reopens it; one that has none waits for sign-up.
        let client = Client::open(&data_dir, None, ca.as_deref()).ok();
        App {
            data_dir,
            default_server,
            ca: std::sync::Mutex::new(ca),
            client: Mutex::new(client),
            folder_stop: std::sync::Mutex::new(None),
        }
    }
}

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
}

#[tauri::command]
#[specta::specta]
async fn status(app: State<'_, App>) -> Out<Status> {
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

fn new_client(app: &App, server: &str) -> Out<Client> {
    let ca = app.ca.lock().map(|c| c.clone()).unwrap_or_default();
    Ok(Client::open(&app.data_dir, Some(server), ca.as_deref())?)
}

/// A path a dialog returned, as the UI passes it back (none if it is not a local path).
fn path_text(p: tauri_plugin_dialog::FilePath) -> Option<String> {
    p.into_path().ok().map(|p| p.display().to_string())
}

/// The chosen CA certificate's file in the data directory.
const CA_FILE: &str = "server-ca.pem";

/// A CA certificate file for `set_server_ca`, chosen in the system's file dialog (none if
/// cancelled); `KRYPT7_PICK_CA` answers instead, as for `choose_files`.
#[tauri::command]
#[specta::specta]
async fn choose_ca(handle: AppHandle) -> Out<Option<String>> {
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
/// the system's with none. A device with an account reopens it with the new trust (locked:
/// the page reloads to unlock). Returns whether a custom CA is now in use.
#[tauri::command]
#[specta::specta]
async fn set_server_ca(app: State<'_, App>, path: Option<String>) -> Out<bool> {
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
    if guard.is_some() {
        // Opening checks the certificate; a bad one leaves everything as it was.
        let reopened = Client::open(&app.data_dir, None, pem.as_deref())?;
        if let Some(stop) = app.folder_stop.lock().ok().and_then(|mut s| s.take()) {
            let _ = stop.send(());
        }
        if let Some(old) = guard.as_mut() {
            let _ = old.lock();
        }
        *guard = Some(reopened);
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
async fn signup(
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
    *guard = Some(c);
    Ok(out)
}

#[tauri::command]
#[specta::specta]
async fn login(
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
    *guard = Some(c);
    Ok(())
}

/// Runs `f` on the client; no account yet is an error.
async fn with<T>(app: &App, f: impl AsyncFnOnce(&mut Client) -> Out<T>) -> Out<T> {
    let mut guard = app.client.lock().await;
    let c = guard.as_mut().ok_or(ClientError::NoAccount)?;
    f(c).await
}

/// The Secret Key as typed, else the one this device keeps in the OS keychain.
fn typed_or_kept(c: &Client, typed: Option<String>) -> Out<SecretKey> {
    match typed.filter(|s| !s.trim().is_empty()) {
        Some(s) => Ok(SecretKey::parse(&s).map_err(ClientError::from)?),
        None => c
            .keychain_secret_key()
            .ok()
            .flatten()
            .ok_or_else(Failure::secret_key_needed),
    }
}

#[tauri::command]
#[specta::specta]
async fn unlock(
    app: State<'_, App>,
    handle: AppHandle,
    password: String,
    secret_key: Option<String>,
) -> Out<()> {
    with(&app, async |c| {
        c.unlock(&password, &typed_or_kept(c, secret_key)?)?;
        Ok(())
    })
    .await?;
    resume_folder(&app, &handle).await;
    Ok(())
}

/// After an unlock: the watched folder, if this device has one, is kept in step again.
async fn resume_folder(app: &App, handle: &AppHandle) {
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
async fn move_server(
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

/// Unlocks with the OS keychain (keychain unlock on), no password.
#[tauri::command]
#[specta::specta]
async fn unlock_keychain(app: State<'_, App>, handle: AppHandle) -> Out<()> {
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
async fn keychain_unlock(
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

#[tauri::command]
#[specta::specta]
async fn lock(app: State<'_, App>, handle: AppHandle) -> Out<()> {
    shell::lock_quick(&handle);
    clip::clear(&handle, None);
    with(&app, async |c| Ok(c.lock()?)).await
}

/// Copies a secret to the system clipboard; cleared after `seconds` if it is still there,
/// or when the app locks.
#[tauri::command]
#[specta::specta]
fn copy_secret(handle: AppHandle, value: String, seconds: u32) -> Out<()> {
    let value = zeroize::Zeroizing::new(value);
    clip::copy(&handle, &value, seconds.clamp(1, 3600))
        .map_err(|message| Failure::new("clipboard", message))
}

/// Brings the main window forward (from the quick-search window), showing `item` if given,
/// and hides the quick-search window.
#[tauri::command]
#[specta::specta]
fn open_main(handle: AppHandle, item: Option<String>) {
    shell::show_main(&handle);
    if let Some(id) = item {
        shell::send(&handle, shell::Action::ShowItem(id));
    }
    hide_quick(handle);
}

/// Hides the quick-search window (Escape, or once a value is copied).
#[tauri::command]
#[specta::specta]
fn hide_quick(handle: AppHandle) {
    if let Some(w) = handle.get_webview_window(shell::QUICK) {
        let _ = w.hide();
    }
}

/// One row of the item list.
#[derive(Serialize, Type)]
pub struct ItemSummary {
    pub id: String,
    pub kind: String,
    pub title: String,
    /// A second line: the username, email, organization or file name.
    pub subtitle: String,
    pub favorite: bool,
    pub trashed: bool,
    pub pending: bool,
}

#[derive(Serialize, Type)]
pub struct SearchPage {
    pub total: u32,
    pub items: Vec<ItemSummary>,
}

fn summary(i: &ItemView) -> ItemSummary {
    let d = &i.data;
    let subtitle = ["username", "email", "emails", "organization", "name"]
        .iter()
        .find_map(|f| d.values(f).first().map(|s| s.to_string()))
        .unwrap_or_default();
    ItemSummary {
        id: i.id.to_string(),
        kind: kind_name(d.kind),
        title: d.title.clone(),
        subtitle,
        favorite: d.favorite,
        trashed: d.trashed,
        pending: i.pending,
    }
}

fn kind_name(k: ItemKind) -> String {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

fn parse_kind(k: &str) -> Out<ItemKind> {
    ItemKind::parse(k).ok_or_else(|| invalid(format!("unknown item kind {k:?}")))
}

fn parse_id(id: &str) -> Out<Uuid> {
    id.parse()
        .map_err(|_| invalid(format!("{id:?} is not an item id")))
}

/// Which part of the vault the list shows: a sidebar section.
#[derive(Deserialize, Type, Default)]
pub struct ListFilter {
    pub kind: Option<String>,
    pub folder: Option<String>,
    pub tag: Option<String>,
    /// The trash alone.
    pub trashed: bool,
    pub favorites: bool,
    /// Conflict copies alone.
    pub conflicts: bool,
}

/// Search-as-you-type: one page of matches and how many there are.
#[tauri::command]
#[specta::specta]
async fn search(
    app: State<'_, App>,
    query: String,
    filter: ListFilter,
    offset: u32,
    limit: u32,
) -> Out<SearchPage> {
    with(&app, async |c| {
        let filter = Filter {
            kind: filter.kind.as_deref().map(parse_kind).transpose()?,
            folder: filter.folder,
            tag: filter.tag,
            only_trashed: filter.trashed,
            only_favorites: filter.favorites,
            only_conflicts: filter.conflicts,
            include_trashed: false,
        };
        let (total, page) = c.search_page(&query, &filter, offset as usize, limit as usize)?;
        Ok(SearchPage {
            total: total as u32,
            items: page.iter().map(summary).collect(),
        })
    })
    .await
}

/// A folder or tag in use, and how many items outside the trash have it.
#[derive(Serialize, Type)]
pub struct Label {
    pub name: String,
    pub count: u32,
}

#[derive(Serialize, Type)]
pub struct Labels {
    pub folders: Vec<Label>,
    pub tags: Vec<Label>,
    /// Conflict copies waiting to be resolved.
    pub conflicts: u32,
}

/// The sidebar's folders and tags.
#[tauri::command]
#[specta::specta]
async fn labels(app: State<'_, App>) -> Out<Labels> {
    with(&app, async |c| {
        let list = |l: Vec<(String, usize)>| {
            l.into_iter()
                .map(|(name, n)| Label {
                    name,
                    count: n as u32,
                })
                .collect()
        };
        let conflicts = Filter {
            only_conflicts: true,
            ..Filter::default()
        };
        Ok(Labels {
            folders: list(c.folders()?),
            tags: list(c.tags()?),
            conflicts: c.search_page("", &conflicts, 0, 0)?.0 as u32,
        })
    })
    .await
}

/// A field as the item view shows it.
#[derive(Serialize, Deserialize, Type)]
pub struct Field {
    pub name: String,
    pub label: String,
    pub value: String,
    /// Hidden until revealed; copied with clipboard auto-clear.
    pub secret: bool,
}

#[derive(Serialize, Type)]
pub struct ItemDetail {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub fields: Vec<Field>,
    pub folder: Option<String>,
    pub tags: Vec<String>,
    pub favorite: bool,
    pub trashed: bool,
    pub pending: bool,
    pub conflict_of: Option<String>,
    /// A file item's own file (index 0), then attachments.
    pub files: Vec<FileInfo>,
}

/// What the UI shows of a file: never its key.
#[derive(Serialize, Type)]
pub struct FileInfo {
    pub index: u32,
    pub name: String,
    pub media_type: String,
    /// Bytes, as a number JavaScript holds exactly (files stay far below 2^53).
    pub size: f64,
    pub sha256: String,
}

/// An item's fields: standard ones first, in the kind's order, then custom ones.
fn fields_of(d: &ItemData) -> Vec<Field> {
    let mut fields: Vec<Field> = d
        .kind
        .fields()
        .iter()
        .filter_map(|spec| {
            d.fields.get(spec.name).map(|v| Field {
                name: spec.name.into(),
                label: spec.label.into(),
                value: v.clone(),
                secret: spec.secret,
            })
        })
        .collect();
    for (name, value) in d.fields.iter().filter(|(n, _)| d.kind.field(n).is_none()) {
        fields.push(Field {
            name: name.clone(),
            label: name.clone(),
            value: value.clone(),
            secret: d.kind.is_secret(name),
        });
    }
    fields
}

#[tauri::command]
#[specta::specta]
async fn get_item(app: State<'_, App>, id: String) -> Out<ItemDetail> {
    let id = parse_id(&id)?;
    with(&app, async |c| {
        let i = c.item(id)?;
        let d = &i.data;
        let fields = fields_of(d);
        Ok(ItemDetail {
            id: i.id.to_string(),
            kind: kind_name(d.kind),
            title: d.title.clone(),
            fields,
            folder: d.folder.clone(),
            tags: d.tags.clone(),
            favorite: d.favorite,
            trashed: d.trashed,
            pending: i.pending,
            conflict_of: d.conflict_of.map(|u| u.to_string()),
            files: d
                .files
                .iter()
                .enumerate()
                .map(|(n, f)| FileInfo {
                    index: n as u32,
                    name: f.name.clone(),
                    media_type: f.media_type.clone(),
                    size: f.size as f64,
                    sha256: f.sha256.clone(),
                })
                .collect(),
        })
    })
    .await
}

/// What the edit form sends: a new item when `id` is none.
#[derive(Deserialize, Type)]
pub struct ItemInput {
    pub id: Option<String>,
    pub kind: String,
    pub title: String,
    pub fields: Vec<Field>,
    pub folder: Option<String>,
    pub tags: Vec<String>,
    pub favorite: bool,
}

#[tauri::command]
#[specta::specta]
async fn save_item(app: State<'_, App>, item: ItemInput) -> Out<String> {
    let kind = parse_kind(&item.kind)?;
    if item.title.trim().is_empty() {
        return Err(invalid("an item needs a title"));
    }
    let id = item.id.as_deref().map(parse_id).transpose()?;
    with(&app, async |c| {
        let mut data = match id {
            Some(id) => c.item(id)?.data,
            None => ItemData::new(kind, &item.title),
        };
        data.title = item.title;
        data.fields = item
            .fields
            .into_iter()
            .filter(|f| !f.name.trim().is_empty() && !f.value.is_empty())
            .map(|f| (f.name, f.value))
            .collect();
        data.folder = item.folder.filter(|f| !f.trim().is_empty());
        data.tags = item.tags;
        data.favorite = item.favorite;
        let id = match id {
            Some(id) => {
                c.edit_item(id, data)?;
                id
            }
            None => c.add_item(data)?,
        };
        Ok(id.to_string())
    })
    .await
}

#[tauri::command]
#[specta::specta]
async fn trash_item(app: State<'_, App>, id: String, restore: bool) -> Out<()> {
    let id = parse_id(&id)?;
    with(&app, async |c| {
        if restore {
            c.restore_item(id)?;
        } else {
            c.trash_item(id)?;
        }
        Ok(())
    })
    .await
}

/// A time as the UI takes it: Unix seconds in a u32 (a plain JavaScript number; enough
/// until 2106), out-of-range values clamped.
fn unix_seconds(t: i64) -> u32 {
    t.clamp(0, u32::MAX.into()) as u32
}

/// An earlier version of an item.
#[derive(Serialize, Type)]
pub struct Version {
    /// When it was replaced (Unix seconds); names the version for `restore_version`.
    pub saved_at: u32,
    pub title: String,
    pub fields: Vec<Field>,
    pub folder: Option<String>,
    pub tags: Vec<String>,
}

/// Earlier versions of an item, newest first (kept on this device).
#[tauri::command]
#[specta::specta]
async fn history(app: State<'_, App>, id: String) -> Out<Vec<Version>> {
    let id = parse_id(&id)?;
    with(&app, async |c| {
        Ok(c.history(id)?
            .into_iter()
            .map(|(at, d)| Version {
                saved_at: unix_seconds(at),
                fields: fields_of(&d),
                title: d.title,
                folder: d.folder,
                tags: d.tags,
            })
            .collect())
    })
    .await
}

/// Makes an earlier version current again (as a new edit: the current one joins the
/// history). The item stays where it is: in or out of the trash.
#[tauri::command]
#[specta::specta]
async fn restore_version(app: State<'_, App>, id: String, saved_at: u32) -> Out<()> {
    let id = parse_id(&id)?;
    with(&app, async |c| {
        let (_, mut old) = c
            .history(id)?
            .into_iter()
            .find(|(at, _)| unix_seconds(*at) == saved_at)
            .ok_or_else(|| invalid("this version is no longer in the history"))?;
        let current = c.item(id)?.data;
        old.trashed = current.trashed;
        old.conflict_of = current.conflict_of;
        c.edit_item(id, old)?;
        Ok(())
    })
    .await
}

#[derive(Serialize, Type)]
pub struct TotpCode {
    pub code: String,
    pub seconds_left: u32,
}

#[tauri::command]
#[specta::specta]
async fn totp(app: State<'_, App>, id: String) -> Out<TotpCode> {
    let id = parse_id(&id)?;
    with(&app, async |c| {
        let t = c.totp(id)?;
        Ok(TotpCode {
            code: t.code,
            seconds_left: t.seconds_left as u32,
        })
    })
    .await
}

#[derive(Serialize, Type)]
pub struct Generated {
    pub value: String,
    pub entropy_bits: f64,
}

#[tauri::command]
#[specta::specta]
fn generate_password(length: u32, symbols: bool) -> Out<Generated> {
    let g = generator::password(&generator::PasswordRules {
        length: length as usize,
        symbols,
        ..Default::default()
    })?;
    Ok(Generated {
        value: g.value.to_string(),
        entropy_bits: g.entropy_bits,
    })
}

#[derive(Serialize, Type)]
pub struct Synced {
    pub pushed: u32,
    pub pulled: u32,
    pub conflict_copies: u32,
    pub pending: u32,
}

#[tauri::command]
#[specta::specta]
async fn sync(app: State<'_, App>, handle: AppHandle) -> Out<Synced> {
    with(&app, async |c| {
        let r = c.sync().await?;
        if r.conflict_copies > 0 {
            let text = shell::lang(&handle).conflicts(r.conflict_copies as u64);
            shell::notify(&handle, &text);
        }
        Ok(Synced {
            pushed: r.pushed as u32,
            pulled: r.pulled as u32,
            conflict_copies: r.conflict_copies as u32,
            pending: c.pending()? as u32,
        })
    })
    .await
}

/// A file transfer's progress, sent to the UI as the `transfer` event.
#[derive(Clone, Serialize, Type, tauri_specta::Event)]
pub struct Transfer {
    /// The file's name.
    pub name: String,
    pub upload: bool,
    pub done: f64,
    pub total: f64,
    /// Bytes per second.
    pub rate: f64,
}

/// The last part of a path, for messages.
fn file_name(p: &std::path::Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Sends the client's transfer progress for `name` to the UI.
fn report_transfers(c: &mut Client, handle: &AppHandle, name: &str) {
    let (handle, name) = (handle.clone(), name.to_string());
    c.on_progress(move |p| {
        let (upload, done, total, rate) = match p {
            Progress::Uploading { done, total, rate } => (true, done, total, rate),
            Progress::Downloading { done, total, rate } => (false, done, total, rate),
            _ => return,
        };
        let _ = tauri_specta::Event::emit(
            &Transfer {
                name: name.clone(),
                upload,
                done: done as f64,
                total: total as f64,
                rate: rate as f64,
            },
            &handle,
        );
    });
}

/// Files for `upload_files`, chosen in the system's file dialog (none if it is
/// cancelled). `KRYPT7_PICK_FILES` (paths separated by newlines) answers instead of the
/// dialog: the real-window test cannot drive a native dialog.
#[tauri::command]
#[specta::specta]
async fn choose_files(handle: AppHandle) -> Out<Vec<String>> {
    if let Ok(scripted) = std::env::var("KRYPT7_PICK_FILES") {
        return Ok(scripted.lines().map(String::from).collect());
    }
    let picked = handle.dialog().file().blocking_pick_files();
    Ok(picked
        .unwrap_or_default()
        .into_iter()
        .filter_map(path_text)
        .collect())
}

/// Where to save a download, chosen in the system's save dialog (none if cancelled);
/// `KRYPT7_PICK_DIR` (a directory) answers instead, as for `choose_files`.
#[tauri::command]
#[specta::specta]
async fn choose_destination(handle: AppHandle, name: String) -> Out<Option<String>> {
    if let Ok(dir) = std::env::var("KRYPT7_PICK_DIR") {
        return Ok(Some(PathBuf::from(dir).join(&name).display().to_string()));
    }
    let picked = handle
        .dialog()
        .file()
        .set_file_name(&name)
        .blocking_save_file();
    Ok(picked.and_then(path_text))
}

/// Encrypts and uploads files (chosen or dropped) as file items, one after the other,
/// reporting progress as `transfer` events; then syncs. Returns the new items' ids.
#[tauri::command]
#[specta::specta]
async fn upload_files(
    app: State<'_, App>,
    handle: AppHandle,
    paths: Vec<String>,
) -> Out<Vec<String>> {
    with(&app, async |c| {
        let mut ids = vec![];
        for p in &paths {
            let path = PathBuf::from(p);
            report_transfers(c, &handle, &file_name(&path));
            ids.push(c.upload_file(&path).await?.item.to_string());
        }
        let _ = c.sync().await;
        Ok(ids)
    })
    .await
}

/// Encrypts and uploads a file and attaches it to an item; then syncs.
#[tauri::command]
#[specta::specta]
async fn attach_file(app: State<'_, App>, handle: AppHandle, id: String, path: String) -> Out<()> {
    let id = parse_id(&id)?;
    with(&app, async |c| {
        let path = PathBuf::from(path);
        report_transfers(c, &handle, &file_name(&path));
        c.attach_file(id, &path).await?;
        let _ = c.sync().await;
        Ok(())
    })
    .await
}

/// Downloads file `index` of an item to `dest`; written only if its fingerprint matches.
#[tauri::command]
#[specta::specta]
async fn download_file(
    app: State<'_, App>,
    handle: AppHandle,
    id: String,
    index: u32,
    dest: String,
) -> Out<()> {
    let id = parse_id(&id)?;
    with(&app, async |c| {
        let dest = PathBuf::from(dest);
        report_transfers(c, &handle, &file_name(&dest));
        // The save dialog already asked whether to replace an existing file.
        c.download_attachment(id, index as usize, &dest, true)
            .await?;
        Ok(())
    })
    .await
}

/// What a preview shows: text, or an image as a `data:` URL. Read into memory only.
#[derive(Serialize, Type)]
pub struct Preview {
    pub media_type: String,
    pub text: Option<String>,
    pub image: Option<String>,
}

/// The largest file a preview reads.
const PREVIEW_MAX: u64 = 8 << 20;

#[tauri::command]
#[specta::specta]
async fn preview_file(
    app: State<'_, App>,
    handle: AppHandle,
    id: String,
    index: u32,
) -> Out<Preview> {
    use base64::Engine;
    let id = parse_id(&id)?;
    with(&app, async |c| {
        let (name, media_type) = c
            .item(id)?
            .data
            .files
            .get(index as usize)
            .map(|f| (f.name.clone(), f.media_type.clone()))
            .ok_or_else(|| invalid("this item has no such file"))?;
        report_transfers(c, &handle, &name);
        let bytes = c.read_file(id, index as usize, PREVIEW_MAX).await?;
        let (mut text, mut image) = (None, None);
        if media_type.starts_with("image/") && media_type != "image/svg+xml" {
            let b64 = base64::engine::general_purpose::STANDARD.encode(bytes.as_slice());
            image = Some(format!("data:{media_type};base64,{b64}"));
        } else if media_type.starts_with("text/") || media_type == "application/json" {
            text = Some(String::from_utf8_lossy(&bytes).into_owned());
        } else {
            return Err(invalid(
                "no preview for this kind of file: download it instead",
            ));
        }
        Ok(Preview {
            media_type,
            text,
            image,
        })
    })
    .await
}

/// The local folder this device keeps in step with the vault folder `label` (a device
/// setting, sealed in the cache).
#[derive(Clone, Serialize, Deserialize, Type)]
pub struct WatchedFolder {
    pub dir: String,
    pub label: String,
}

const WATCHED: &str = "desktop-watched-folder";

/// One pass over the watched folder, sent to the UI as the `folder-pass` event.
#[derive(Clone, Default, Serialize, Type, tauri_specta::Event)]
pub struct FolderPass {
    /// The vault folder's name.
    pub label: String,
    /// Files uploaded, updated, downloaded, moved to the trash, removed, kept as conflict
    /// copies, and refused (the UI words them in its language).
    pub uploaded: u32,
    pub updated: u32,
    pub downloaded: u32,
    pub trashed: u32,
    pub removed: u32,
    pub conflicts: u32,
    /// Names that cannot be a path inside the folder (`../x`, a link, …): nothing was
    /// written or removed for them.
    pub refused: u32,
    pub error: Option<String>,
}

/// (Re)starts the task keeping `f` in step: a pass at once, then at each change there, on
/// the server, or every minute; passes wait while the vault is locked. Each pass takes
/// the client only while it runs.
fn start_folder(app: &App, handle: &AppHandle, f: WatchedFolder) {
    let (stop_tx, mut stop) = tokio::sync::oneshot::channel::<()>();
    if let Ok(mut old) = app.folder_stop.lock() {
        *old = Some(stop_tx); // the previous task, if any, stops
    }
    let handle = handle.clone();
    tauri::async_runtime::spawn(async move {
        const SETTLE: std::time::Duration = std::time::Duration::from_secs(2);
        let dir = PathBuf::from(&f.dir);
        let report = |pass: FolderPass| {
            let _ = tauri_specta::Event::emit(&pass, &handle);
        };
        let failed = |error: String| FolderPass {
            label: f.label.clone(),
            error: Some(error),
            ..Default::default()
        };
        let mut watch = match krypt7_client::folder::FolderWatch::new(&dir, SETTLE) {
            Ok(w) => w,
            Err(e) => return report(failed(e.to_string())),
        };
        loop {
            tokio::select! {
                _ = &mut stop => return,
                _ = watch.wait() => {}
            }
            let app = handle.state::<App>();
            let mut guard = app.client.lock().await;
            let Some(c) = guard.as_mut().filter(|c| c.is_unlocked()) else {
                watch.skipped();
                continue;
            };
            let r = c.sync_folder(&dir, &f.label, SETTLE).await;
            watch.passed(c, &r).await;
            drop(guard);
            report(match r {
                Ok(r) => FolderPass {
                    label: f.label.clone(),
                    uploaded: r.uploaded.len() as u32,
                    updated: r.updated.len() as u32,
                    downloaded: r.downloaded.len() as u32,
                    trashed: r.trashed.len() as u32,
                    removed: r.removed.len() as u32,
                    conflicts: r.conflicts.len() as u32,
                    refused: r.refused.len() as u32,
                    error: None,
                },
                Err(e) => failed(e.to_string()),
            });
        }
    });
}

/// A folder for `watch_folder`, chosen in the system's dialog (none if cancelled);
/// `KRYPT7_PICK_FOLDER` answers instead, as for `choose_files`.
#[tauri::command]
#[specta::specta]
async fn choose_folder(handle: AppHandle) -> Out<Option<String>> {
    if let Ok(dir) = std::env::var("KRYPT7_PICK_FOLDER") {
        return Ok(Some(dir));
    }
    Ok(handle
        .dialog()
        .file()
        .blocking_pick_folder()
        .and_then(path_text))
}

/// The folder this device keeps in step, if any.
#[tauri::command]
#[specta::specta]
async fn watched_folder(app: State<'_, App>) -> Out<Option<WatchedFolder>> {
    with(&app, async |c| Ok(c.device_setting(WATCHED)?)).await
}

/// Keeps `dir` in step with the vault folder named after it (or stops, with none), and
/// remembers the choice on this device.
#[tauri::command]
#[specta::specta]
async fn watch_folder(
    app: State<'_, App>,
    handle: AppHandle,
    dir: Option<String>,
) -> Out<Option<WatchedFolder>> {
    let folder = match dir {
        None => None,
        Some(d) => {
            let path = PathBuf::from(&d);
            if !path.is_dir() {
                return Err(invalid(format!("{d} is not a folder")));
            }
            Some(WatchedFolder {
                label: file_name(&path),
                dir: d,
            })
        }
    };
    with(&app, async |c| {
        Ok(c.set_device_setting(WATCHED, folder.as_ref())?)
    })
    .await?;
    match &folder {
        Some(f) => start_folder(&app, &handle, f.clone()),
        None => {
            if let Ok(mut stop) = app.folder_stop.lock() {
                stop.take();
            }
        }
    }
    Ok(folder)
}

/// Storage used and allowed, in bytes.
#[derive(Serialize, Type)]
pub struct Usage {
    pub used: f64,
    pub quota: f64,
}

#[tauri::command]
#[specta::specta]
async fn usage(app: State<'_, App>) -> Out<Usage> {
    with(&app, async |c| {
        let u = c.usage().await?;
        Ok(Usage {
            used: u.usage_bytes as f64,
            quota: u.quota_bytes as f64,
        })
    })
    .await
}

// ---- account ---------------------------------------------------------------------------

/// The account as the Account screen shows it.
#[derive(Serialize, Type)]
pub struct Account {
    pub username: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub totp_enabled: bool,
    pub sms_enabled: bool,
    pub used: f64,
    pub quota: f64,
}

impl From<krypt7_client::AccountInfo> for Account {
    fn from(a: krypt7_client::AccountInfo) -> Self {
        Account {
            username: a.username,
            email: a.email,
            phone: a.phone,
            totp_enabled: a.totp_enabled,
            sms_enabled: a.sms_enabled,
            used: a.usage_bytes as f64,
            quota: a.quota_bytes as f64,
        }
    }
}

#[tauri::command]
#[specta::specta]
async fn account(app: State<'_, App>) -> Out<Account> {
    with(&app, async |c| Ok(c.account_info().await?.into())).await
}

/// Changes what is given: `Some("")` removes the email or phone.
#[tauri::command]
#[specta::specta]
async fn update_account(
    app: State<'_, App>,
    username: Option<String>,
    email: Option<String>,
    phone: Option<String>,
) -> Out<Account> {
    let update = krypt7_client::AccountUpdate {
        username,
        email,
        phone,
    };
    with(&app, async |c| Ok(c.update_account(&update).await?.into())).await
}

/// Authenticator-app enrolment: the secret, and the same as a QR code (an SVG `data:` URL
/// made here, so no image comes from anywhere else).
#[derive(Serialize, Type)]
pub struct TotpEnrolment {
    pub secret: String,
    pub qr_code: String,
}

#[tauri::command]
#[specta::specta]
async fn totp_setup(app: State<'_, App>) -> Out<TotpEnrolment> {
    use base64::Engine;
    let setup = with(&app, async |c| Ok(c.totp_setup().await?)).await?;
    let qr = qrcode::QrCode::new(setup.otpauth_url.as_bytes())
        .map_err(|e| invalid(format!("cannot draw the QR code: {e}")))?;
    let svg = qr
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    Ok(TotpEnrolment {
        qr_code: format!(
            "data:image/svg+xml;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(svg)
        ),
        secret: setup.secret.clone(),
    })
}

/// Which second factor a code is for, and what to do with it.
#[derive(Deserialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum SecondFactorStep {
    /// Turns authenticator codes on, with a code from the app.
    TotpConfirm,
    /// Turns authenticator codes off, with a current code.
    TotpDisable,
    /// Sends a code to the account's phone.
    SmsSend,
    /// Turns SMS codes on, with the code that was sent.
    SmsConfirm,
    SmsDisable,
}

#[tauri::command]
#[specta::specta]
async fn second_factor(app: State<'_, App>, step: SecondFactorStep, code: String) -> Out<Account> {
    let code = code.trim().to_string();
    with(&app, async |c| {
        match step {
            SecondFactorStep::TotpConfirm => c.totp_confirm(&code).await?,
            SecondFactorStep::TotpDisable => c.totp_disable(&code).await?,
            SecondFactorStep::SmsSend => c.sms_setup().await?,
            SecondFactorStep::SmsConfirm => c.sms_confirm(&code).await?,
            SecondFactorStep::SmsDisable => c.sms_disable().await?,
        }
        Ok(c.account_info().await?.into())
    })
    .await
}

/// A signed-in device.
#[derive(Serialize, Type)]
pub struct Device {
    pub id: String,
    pub name: String,
    /// Unix seconds.
    pub created_at: u32,
    pub last_seen_at: u32,
    /// This device.
    pub current: bool,
}

#[tauri::command]
#[specta::specta]
async fn devices(app: State<'_, App>) -> Out<Vec<Device>> {
    with(&app, async |c| {
        Ok(c.sessions()
            .await?
            .into_iter()
            .map(|s| Device {
                id: s.session_id.to_string(),
                name: s.device_name,
                created_at: unix_seconds(s.created_at),
                last_seen_at: unix_seconds(s.last_seen_at),
                current: s.current,
            })
            .collect())
    })
    .await
}

/// Signs a device out: its session ends on the server at once.
#[tauri::command]
#[specta::specta]
async fn revoke_device(app: State<'_, App>, id: String) -> Out<()> {
    let id = parse_id(&id)?;
    with(&app, async |c| Ok(c.revoke_session(id).await?)).await
}

/// Writes the whole vault to `dest`, sealed under a separate export password (the
/// format `krypt7 export --format encrypted` writes, docs/crypto.md §4.4).
#[tauri::command]
#[specta::specta]
async fn export_vault(app: State<'_, App>, export_password: String, dest: String) -> Out<()> {
    let sealed = with(&app, async |c| Ok(c.export_encrypted(&export_password)?)).await?;
    Ok(krypt7_client::write_private(
        std::path::Path::new(&dest),
        &sealed,
    )?)
}

/// Deletes the account: the server purges it within 48 hours; this device forgets it at
/// once. Returns the purge deadline (Unix seconds).
#[tauri::command]
#[specta::specta]
async fn delete_account(app: State<'_, App>, confirm_username: String) -> Out<u32> {
    let mut guard = app.client.lock().await;
    let c = guard.as_mut().ok_or(ClientError::NoAccount)?;
    let done = c.delete_account(&confirm_username).await?;
    if let Some(stop) = app.folder_stop.lock().ok().and_then(|mut s| s.take()) {
        let _ = stop.send(());
    }
    *guard = None;
    Ok(unix_seconds(done.purged_by))
}

/// The UI's language, for the menus, tray, notifications and dialogs of the shell.
#[tauri::command]
#[specta::specta]
fn set_language(handle: AppHandle, lang: shell::Lang) -> Out<()> {
    shell::set_language(&handle, lang).map_err(|e| Failure::new("shell", e.to_string()))
}

/// A point in the UI's start-up for `cargo xtask bench app` ("unlock-screen",
/// "unlock-submit", "list-painted"): appended to the file `KRYPT7_MARKS` names, with the
/// wall-clock time in milliseconds. Without that variable it does nothing.
#[tauri::command]
#[specta::specta]
fn mark(name: String) {
    let Some(path) = std::env::var_os("KRYPT7_MARKS") else {
        return;
    };
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default();
    use std::io::Write;
    if let Ok(mut f) = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
    {
        let _ = writeln!(f, "{} {ms}", name.replace(char::is_whitespace, "-"));
    }
}

/// The command set and types the UI sees; `ui/src/lib/bindings.ts` is generated from it.
pub fn bindings() -> tauri_specta::Builder<tauri::Wry> {
    tauri_specta::Builder::<tauri::Wry>::new()
        // One TypeScript type per Rust type (each crosses in one direction only).
        .disable_serde_phases()
        .commands(tauri_specta::collect_commands![
            set_language,
            move_server,
            status,
            signup,
            login,
            unlock,
            unlock_keychain,
            keychain_unlock,
            choose_ca,
            set_server_ca,
            lock,
            search,
            labels,
            history,
            restore_version,
            get_item,
            save_item,
            trash_item,
            totp,
            generate_password,
            sync,
            choose_files,
            choose_destination,
            upload_files,
            attach_file,
            download_file,
            preview_file,
            usage,
            choose_folder,
            watched_folder,
            watch_folder,
            account,
            update_account,
            totp_setup,
            second_factor,
            devices,
            revoke_device,
            export_vault,
            delete_account,
            mark,
            open_main,
            hide_quick,
            copy_secret,
        ])
        .events(tauri_specta::collect_events![
            Transfer,
            FolderPass,
            shell::AppAction
        ])
}

/// The generated bindings' path, relative to this crate.
pub const BINDINGS: &str = "../ui/src/lib/bindings.ts";

/// Writes the UI's TypeScript bindings to `path`.
pub fn export_bindings(path: &std::path::Path) -> Result<(), String> {
    bindings()
        .export(
            specta_typescript::Typescript::default()
                .header("// Generated from src-tauri/src/lib.rs by tauri-specta: do not edit.\n"),
            path,
        )
        .map_err(|e| e.to_string())
}

fn data_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("KRYPT7_DATA_DIR") {
        return PathBuf::from(d);
    }
    std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("krypt7")
}

/// Starts the app.
pub fn run() -> Result<(), tauri::Error> {
    let ca = std::env::var_os("KRYPT7_CA").and_then(|p| std::fs::read(p).ok());
    let app = App::new(data_dir(), std::env::var("KRYPT7_SERVER").ok(), ca);
    let builder = bindings();
    tauri::Builder::default()
        // One app per user session: a second start brings the first window forward and
        // exits (two apps on one cache would fight over it).
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            shell::show_main(app)
        }))
        // The window's size and position, remembered between runs.
        .plugin(tauri_plugin_window_state::Builder::default().build())
        .plugin(tauri_plugin_dialog::init())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_clipboard_manager::init())
        .manage(clip::Clip::default())
        .manage(app)
        .invoke_handler(builder.invoke_handler())
        .setup(move |app| {
            builder.mount_events(app);
            shell::install(app)?;
            Ok(())
        })
        .run(tauri::generate_context!())
}
