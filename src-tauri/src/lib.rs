//! The KRYPT7 desktop app: a Tauri 2 shell over `krypt7-client`. Each command is a few lines
//! over one client call; errors cross to the UI as `{code, message}`. The TypeScript
//! bindings in `ui/src/lib/bindings.ts` are generated from these types (`bindings()`), and
//! `tests/bindings.rs` fails when that file is stale.

use std::path::PathBuf;

mod channel;
mod clip;
mod commands;
mod idle;
mod live;
mod memory;
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

use commands::{account::*, files::*, import::*, mail::*, peers::*, session::*, vault::*};

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

/// `text` as a QR code: an SVG `data:` URL made here, so no image comes from anywhere else.
fn qr_code(text: &str) -> Out<String> {
    use base64::Engine;
    let svg = qrcode::QrCode::new(text.as_bytes())
        .map_err(|e| invalid(format!("cannot draw the QR code: {e}")))?
        .render::<qrcode::render::svg::Color>()
        .min_dimensions(200, 200)
        .quiet_zone(true)
        .build();
    Ok(format!(
        "data:image/svg+xml;base64,{}",
        base64::engine::general_purpose::STANDARD.encode(svg)
    ))
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
    /// Locks the client without waiting for it (a sync or a transfer may hold it).
    locker: std::sync::Mutex<Option<krypt7_client::Locker>>,
    /// When the user last used the app, for the idle lock.
    idle: idle::Idle,
    /// Stops the task keeping the watched folder in step (dropping it does too).
    folder_stop: std::sync::Mutex<Option<tokio::sync::oneshot::Sender<()>>>,
    /// The pages' sealed channels (`channel.rs`), closed at each lock.
    channels: channel::Channels,
    /// Set to stop the import under way (`import_cancel`).
    import_cancel: std::sync::atomic::AtomicBool,
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
            locker: std::sync::Mutex::new(client.as_ref().map(Client::locker)),
            client: Mutex::new(client),
            idle: idle::Idle::default(),
            folder_stop: std::sync::Mutex::new(None),
            channels: channel::Channels::default(),
            import_cancel: Default::default(),
        }
    }

    /// Puts `c` (or none) in place as the app's client, `slot` being the client's lock held.
    fn keep(&self, slot: &mut Option<Client>, c: Option<Client>) {
        *self.locker.lock().unwrap_or_else(|p| p.into_inner()) = c.as_ref().map(Client::locker);
        *slot = c;
    }

    /// Locks at once: the keys are dropped even while a sync, a transfer or a watched-folder
    /// pass holds the client (that work then ends as "locked").
    fn lock_now(&self) -> Out<()> {
        self.channels.close_all();
        let locker = self
            .locker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        if let Some(l) = locker {
            l.lock()?;
        }
        Ok(())
    }
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
            channel::open_channel,
            channel::sealed,
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
            activity,
            set_auto_lock,
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
            change_password,
            new_secret_key,
            change_secret_key,
            totp_setup,
            second_factor,
            devices,
            attempts,
            revoke_device,
            device_name,
            rename_device,
            export_vault,
            delete_account,
            mark,
            open_main,
            hide_quick,
            sign_in_again,
            copy_secret,
            mail_folders,
            mail_list,
            mail_open,
            mail_save_draft,
            mail_draft,
            mail_send,
            mail_reply,
            mail_forward,
            mail_move,
            mail_correspondents,
            mail_block,
            mail_mark,
            peer_safety,
            peer_verify,
            peer_accept,
            import_file,
            import_cancel,
        ])
        .events(tauri_specta::collect_events![
            Transfer,
            ImportProgress,
            FolderPass,
            live::RemoteChange,
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
    shell::overwrite_freed_memory();
    // Kept for the app's life: `run` returns only when the app ends.
    let runtime = memory::runtime()?;
    tauri::async_runtime::set(runtime.handle().clone());
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
        // The page reaches the other commands only through the sealed channel (`channel.rs`;
        // their types are still `bindings()`'s).
        .invoke_handler(tauri::generate_handler![
            channel::open_channel,
            channel::sealed,
            lock,
            activity,
            set_auto_lock,
            mark,
            open_main,
            hide_quick,
            set_language,
        ])
        .setup(move |app| {
            builder.mount_events(app);
            shell::install(app)?;
            idle::watch(app.handle().clone());
            live::watch(app.handle().clone());
            Ok(())
        })
        .run(tauri::generate_context!())
}
