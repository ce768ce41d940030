//! The page's sealed channel. Every command that carries something secret or something that
//! names the user's content (passwords, the Secret Key, item fields and titles, file names
//! and text) crosses between the page and this process sealed: WebKit copies each IPC
//! message through buffers of its own in this process, which nothing here can wipe, so
//! those copies must be worthless once the app locks (`docs/desktop.md`, "Memory after
//! lock").
//!
//! Each page load opens a channel: the page makes a P-256 key pair in WebCrypto (its private
//! key cannot be exported) and sends its public key; the shell answers with an ephemeral
//! key pair of its own; both derive, by ECDH and HKDF-SHA256 (salt: both public keys), one
//! AES-256-GCM key per direction. A message is a random 96-bit nonce and the AES-GCM
//! ciphertext of `{"cmd", "args"}` (to the shell) or `{"ok"}` / `{"err"}` (to the page), in
//! base64. The shell keeps each window's keys until a lock drops them all (the page is then
//! replaced, and its process ends); the page's keys die with its process. What a memory
//! scan can then find of a message in this process is ciphertext under a key that no longer
//! exists.

use std::collections::HashMap;
use std::sync::Mutex;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::agreement::{ECDH_P256, EphemeralPrivateKey, UnparsedPublicKey, agree_ephemeral};
use ring::hkdf::{HKDF_SHA256, Salt};
use ring::rand::{SecureRandom, SystemRandom};
use serde::Serialize;
use serde_json::{Value, json};
use tauri::{AppHandle, Manager, State};

use crate::commands::{account::*, files::*, import::*, mail::*, peers::*, session::*, vault::*};
use crate::{App, Failure, Out, invalid};

const TO_SHELL: &[u8] = b"krypt7 page channel v1: page to shell";
const TO_PAGE: &[u8] = b"krypt7 page channel v1: shell to page";

/// The commands that carry nothing secret and stay outside the channel (registered as they
/// are in `lib.rs`): the lock (which must work at once, whatever else runs), activity,
/// marks, windows and the shell's language. The page (`ui/src/lib/channel.ts`) has the same
/// list.
#[cfg(test)]
const OPEN_COMMANDS: [&str; 7] = [
    "lock",
    "activity",
    "set_auto_lock",
    "mark",
    "open_main",
    "hide_quick",
    "set_language",
];

/// One window's keys.
struct Keys {
    to_shell: LessSafeKey,
    to_page: LessSafeKey,
}

/// The open channels, by window label. Boxed keys: their memory is the allocator's, which
/// zeroes it when they are dropped (`main.rs`).
#[derive(Default)]
pub struct Channels(Mutex<HashMap<String, Box<Keys>>>);

impl Channels {
    /// Drops every window's keys (at each lock).
    pub fn close_all(&self) {
        self.0.lock().unwrap_or_else(|p| p.into_inner()).clear();
    }

    /// Opens `label`'s channel with the page's public key (SEC 1 uncompressed P-256);
    /// returns the shell's.
    fn open(&self, label: &str, page_public: &[u8]) -> Out<Vec<u8>> {
        let rng = SystemRandom::new();
        let private =
            EphemeralPrivateKey::generate(&ECDH_P256, &rng).map_err(|_| failed("a key pair"))?;
        let public = private
            .compute_public_key()
            .map_err(|_| failed("a public key"))?
            .as_ref()
            .to_vec();
        let keys = agree_ephemeral(
            private,
            &UnparsedPublicKey::new(&ECDH_P256, page_public),
            |shared| derive(shared, page_public, &public),
        )
        .map_err(|_| invalid("the page's channel key is not a P-256 public key"))??;
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(label.to_string(), Box::new(keys));
        Ok(public)
    }

    /// Opens a message from `label`'s page.
    fn open_message(&self, label: &str, message: &str) -> Out<Vec<u8>> {
        let mut data = B64
            .decode(message)
            .map_err(|_| invalid("a sealed message is base64"))?;
        if data.len() < NONCE_LEN {
            return Err(invalid("a sealed message is too short"));
        }
        let channels = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let keys = channels.get(label).ok_or_else(closed)?;
        let nonce = Nonce::try_assume_unique_for_key(&data[..NONCE_LEN])
            .map_err(|_| invalid("a sealed message's nonce"))?;
        let len = keys
            .to_shell
            .open_in_place(nonce, Aad::from(label.as_bytes()), &mut data[NONCE_LEN..])
            .map_err(|_| invalid("a sealed message does not open under this page's key"))?
            .len();
        data.drain(..NONCE_LEN);
        data.truncate(len);
        Ok(data)
    }

    /// Seals a message to `label`'s page.
    fn seal(&self, label: &str, mut plain: Vec<u8>) -> Out<String> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| failed("a nonce"))?;
        let channels = self.0.lock().unwrap_or_else(|p| p.into_inner());
        let keys = channels.get(label).ok_or_else(closed)?;
        keys.to_page
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(label.as_bytes()),
                &mut plain,
            )
            .map_err(|_| failed("sealing"))?;
        let mut out = nonce.to_vec();
        out.extend_from_slice(&plain);
        Ok(B64.encode(out))
    }
}

/// Both directions' keys from the shared secret, bound to both public keys.
fn derive(shared: &[u8], page_public: &[u8], shell_public: &[u8]) -> Out<Keys> {
    let salt = [page_public, shell_public].concat();
    let prk = Salt::new(HKDF_SHA256, &salt).extract(shared);
    let key = |info: &[u8]| -> Out<LessSafeKey> {
        let info = [info];
        let okm = prk
            .expand(&info, &AES_256_GCM)
            .map_err(|_| failed("a key"))?;
        Ok(LessSafeKey::new(UnboundKey::from(okm)))
    };
    Ok(Keys {
        to_shell: key(TO_SHELL)?,
        to_page: key(TO_PAGE)?,
    })
}

fn failed(what: &str) -> Failure {
    Failure::new("channel", format!("the page channel could not make {what}"))
}

/// No channel for this page: the app locked since it opened one (the page is being
/// replaced), or it never opened one.
fn closed() -> Failure {
    Failure::new("locked", "the page's channel closed with the lock")
}

/// Opens this window's channel: `page_key` is the page's P-256 public key in base64; the
/// answer is the shell's.
#[tauri::command]
#[specta::specta]
pub(crate) fn open_channel(
    webview: tauri::Webview,
    app: State<'_, App>,
    page_key: String,
) -> Out<String> {
    let page_public = B64
        .decode(page_key)
        .map_err(|_| invalid("the page's channel key is base64"))?;
    Ok(B64.encode(app.channels.open(webview.label(), &page_public)?))
}

/// One sealed command from the page, answered sealed.
#[tauri::command]
#[specta::specta]
pub(crate) async fn sealed(
    webview: tauri::Webview,
    handle: AppHandle,
    message: String,
) -> Out<String> {
    let channels = &handle.state::<App>().channels;
    let label = webview.label().to_string();
    let plain = channels.open_message(&label, &message)?;
    let call: Value =
        serde_json::from_slice(&plain).map_err(|_| invalid("a sealed message is a command"))?;
    drop(plain);
    let name = call["cmd"].as_str().unwrap_or_default().to_string();
    let args = call.get("args").cloned().unwrap_or(Value::Null);
    drop(call);
    let answer = match run(&handle, &name, args).await {
        Ok(v) => json!({ "ok": v }),
        Err(e) => json!({ "err": e }),
    };
    let bytes = serde_json::to_vec(&answer).map_err(|_| failed("an answer"))?;
    channels.seal(&label, bytes)
}

fn answer<T: Serialize>(r: Out<T>) -> Out<Value> {
    r.and_then(|v| serde_json::to_value(v).map_err(|_| failed("an answer")))
}

/// The sealed commands: `run` calls one by name with its arguments (named as the page
/// names them: camelCase), and `SEALED` lists their names.
macro_rules! sealed_commands {
    (|$app:ident, $h:ident| $( $cmd:ident ( $( $arg:ident : $ty:ty ),* ) => $call:expr ),* $(,)?) => {
        #[cfg(test)]
        const SEALED: &[&str] = &[$( stringify!($cmd) ),*];

        async fn run(handle: &AppHandle, name: &str, args: Value) -> Out<Value> {
            let $h = handle.clone();
            #[allow(unused_variables)]
            let $app = $h.state::<App>();
            let args = if args.is_null() { Value::Object(Default::default()) } else { args };
            match name {
                $( stringify!($cmd) => {
                    #[derive(serde::Deserialize)]
                    #[serde(rename_all = "camelCase")]
                    struct Args { $( $arg: $ty, )* }
                    #[allow(unused_variables)]
                    let Args { $( $arg ),* } = serde_json::from_value::<Args>(args)
                        .map_err(|e| invalid(format!("{}: {e}", stringify!($cmd))))?;
                    answer($call)
                } )*
                other => Err(invalid(format!("no such command: {other}"))),
            }
        }
    };
}

sealed_commands! { |app, h|
    move_server(server: String, password: String, secret_key: Option<String>, code: Option<String>) =>
        move_server(app, server, password, secret_key, code).await,
    status() => status(app).await,
    signup(server: String, username: String, password: String, email: Option<String>) =>
        signup(app, server, username, password, email).await,
    login(server: String, username: String, password: String, secret_key: String, code: Option<String>) =>
        login(app, server, username, password, secret_key, code).await,
    unlock(password: String, secret_key: Option<String>, code: Option<String>) =>
        unlock(app, h.clone(), password, secret_key, code).await,
    unlock_keychain() => unlock_keychain(app, h.clone()).await,
    keychain_unlock(enabled: bool, secret_key: Option<String>) =>
        keychain_unlock(app, enabled, secret_key).await,
    choose_ca() => choose_ca(h.clone()).await,
    set_server_ca(path: Option<String>) => set_server_ca(app, path).await,
    search(query: String, filter: ListFilter, offset: u32, limit: u32) =>
        search(app, query, filter, offset, limit).await,
    labels() => labels(app).await,
    history(id: String) => history(app, id).await,
    restore_version(id: String, saved_at: u32) => restore_version(app, id, saved_at).await,
    get_item(id: String) => get_item(app, id).await,
    save_item(item: ItemInput) => save_item(app, item).await,
    trash_item(id: String, restore: bool) => trash_item(app, id, restore).await,
    totp(id: String) => totp(app, id).await,
    generate_password(length: u32, symbols: bool) => generate_password(length, symbols),
    sync() => sync(app, h.clone()).await,
    choose_files() => choose_files(h.clone()).await,
    choose_destination(name: String) => choose_destination(h.clone(), name).await,
    upload_files(paths: Vec<String>) => upload_files(app, h.clone(), paths).await,
    attach_file(id: String, path: String) => attach_file(app, h.clone(), id, path).await,
    download_file(id: String, index: u32, dest: String) =>
        download_file(app, h.clone(), id, index, dest).await,
    preview_file(id: String, index: u32) => preview_file(app, h.clone(), id, index).await,
    usage() => usage(app).await,
    choose_folder() => choose_folder(h.clone()).await,
    watched_folder() => watched_folder(app).await,
    watch_folder(dir: Option<String>) => watch_folder(app, h.clone(), dir).await,
    account() => account(app).await,
    update_account(username: Option<String>, email: Option<String>, phone: Option<String>, proof: Proof) =>
        update_account(app, username, email, phone, proof).await,
    change_password(new_password: String, proof: Proof) =>
        change_password(app, new_password, proof).await,
    new_secret_key() => new_secret_key(app).await,
    change_secret_key(new_secret_key: String, proof: Proof) =>
        change_secret_key(app, new_secret_key, proof).await,
    totp_setup(proof: Proof) => totp_setup(app, proof).await,
    second_factor(step: SecondFactorStep, code: String, proof: Option<Proof>) =>
        second_factor(app, step, code, proof).await,
    devices() => devices(app).await,
    attempts() => attempts(app).await,
    revoke_device(id: String, proof: Proof) => revoke_device(app, id, proof).await,
    device_name() => device_name(app).await,
    rename_device(name: String) => rename_device(app, name).await,
    export_vault(export_password: String, dest: String) =>
        export_vault(app, export_password, dest).await,
    delete_account(confirm_username: String, proof: Proof) =>
        delete_account(app, confirm_username, proof).await,
    sign_in_again(password: String, secret_key: Option<String>, code: Option<String>) =>
        sign_in_again(app, password, secret_key, code).await,
    copy_secret(value: String, seconds: u32) => copy_secret(h.clone(), value, seconds),
    mail_folders() => mail_folders(app).await,
    mail_list(folder: Option<String>, query: String, offset: u32, limit: u32) =>
        mail_list(app, folder, query, offset, limit).await,
    mail_open(id: String) => mail_open(app, id).await,
    mail_save_draft(compose: Compose) => mail_save_draft(app, compose).await,
    mail_draft(id: String) => mail_draft(app, id).await,
    mail_send(compose: Compose) => mail_send(app, h.clone(), compose).await,
    mail_reply(id: String, all: bool) => mail_reply(app, id, all).await,
    mail_forward(id: String) => mail_forward(app, id).await,
    mail_move(id: String, folder: String) => mail_move(app, id, folder).await,
    mail_correspondents(prefix: String) => mail_correspondents(app, prefix).await,
    mail_block(address: String, block: bool) => mail_block(app, address, block).await,
    mail_mark(id: String, read: Option<bool>, starred: Option<bool>) =>
        mail_mark(app, id, read, starred).await,
    peer_safety(address: String) => peer_safety(app, address).await,
    peer_verify(username: String, digits: String) => peer_verify(app, username, digits).await,
    peer_accept(username: String, digits: String) => peer_accept(app, username, digits).await,
    import_file(path: String, format: Option<String>, password: Option<String>, preview: bool) =>
        import_file(app, h.clone(), path, format, password, preview).await,
    import_cancel() => import_cancel(app).await,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The page's side, as `ui/src/lib/channel.ts` does it with WebCrypto.
    fn page(channels: &Channels, label: &str) -> Keys {
        let rng = SystemRandom::new();
        let private = EphemeralPrivateKey::generate(&ECDH_P256, &rng).unwrap();
        let public = private.compute_public_key().unwrap().as_ref().to_vec();
        let shell = channels.open(label, &public).unwrap();
        agree_ephemeral(
            private,
            &UnparsedPublicKey::new(&ECDH_P256, &shell),
            |shared| derive(shared, &public, &shell),
        )
        .unwrap()
        .unwrap()
    }

    fn to_shell(keys: &Keys, label: &str, plain: &[u8]) -> String {
        let mut data = plain.to_vec();
        let nonce = [7u8; NONCE_LEN];
        keys.to_shell
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(label.as_bytes()),
                &mut data,
            )
            .unwrap();
        B64.encode([nonce.as_slice(), &data].concat())
    }

    #[test]
    fn both_sides_derive_the_same_keys_and_each_window_has_its_own() {
        let channels = Channels::default();
        let main = page(&channels, "main");
        let quick = page(&channels, "quick");
        let m = to_shell(&main, "main", br#"{"cmd":"get_item"}"#);
        assert_eq!(
            channels.open_message("main", &m).unwrap(),
            br#"{"cmd":"get_item"}"#
        );
        // Another window's key, or this message sent as another window's, opens nothing.
        assert!(channels.open_message("quick", &m).is_err());
        let q = to_shell(&quick, "main", b"x");
        assert!(channels.open_message("main", &q).is_err());
        // The answer opens with the page's key for its direction only.
        let sealed = B64
            .decode(channels.seal("main", b"answer".to_vec()).unwrap())
            .unwrap();
        let (nonce, body) = sealed.split_at(NONCE_LEN);
        let mut body = body.to_vec();
        let nonce = Nonce::try_assume_unique_for_key(nonce).unwrap();
        assert_eq!(
            main.to_page
                .open_in_place(nonce, Aad::from(b"main".as_slice()), &mut body)
                .unwrap(),
            b"answer"
        );
        assert!(!sealed.windows(6).any(|w| w == b"answer"));
    }

    #[test]
    fn a_lock_closes_every_channel_and_bad_messages_are_refused() {
        let channels = Channels::default();
        let main = page(&channels, "main");
        let m = to_shell(&main, "main", b"{}");
        let mut flipped = B64.decode(&m).unwrap();
        *flipped.last_mut().unwrap() ^= 1;
        assert!(channels.open_message("main", &B64.encode(flipped)).is_err());
        assert!(channels.open_message("main", "not base64!").is_err());
        assert!(channels.open_message("main", "AAAA").is_err());
        assert!(channels.open("main", b"not a point").is_err());
        channels.close_all();
        let e = channels.open_message("main", &m).unwrap_err();
        assert_eq!(e.code, "locked");
        assert_eq!(
            channels.seal("main", b"x".to_vec()).unwrap_err().code,
            "locked"
        );
    }

    /// Every command the page's bindings call is either sealed (and `run` knows it) or one
    /// of the open ones, and the page keeps the same open list.
    #[test]
    fn every_command_the_page_calls_is_sealed_or_open() {
        let ui = |f: &str| {
            std::fs::read_to_string(format!("{}/../ui/src/lib/{f}", env!("CARGO_MANIFEST_DIR")))
                .unwrap()
        };
        let bindings = ui("bindings.ts");
        // `__TAURI_INVOKE("name"` or `__TAURI_INVOKE<void>("name"`.
        let called: Vec<&str> = bindings
            .split("__TAURI_INVOKE")
            .skip(2)
            .filter_map(|s| s.split('"').nth(1))
            .collect();
        assert!(called.len() > 40, "{called:?}");
        for c in &called {
            let open = OPEN_COMMANDS.contains(c) || ["open_channel", "sealed"].contains(c);
            assert!(
                SEALED.contains(c) != open,
                "{c}: sealed {}, open {open}",
                SEALED.contains(c)
            );
        }
        assert_eq!(called.len(), SEALED.len() + OPEN_COMMANDS.len() + 2);
        let page = ui("channel.ts");
        let list = page
            .split("const OPEN = new Set([")
            .nth(1)
            .and_then(|s| s.split("])").next())
            .unwrap();
        let mut page_open: Vec<&str> = list
            .split(',')
            .map(|s| s.trim().trim_matches('"'))
            .filter(|s| !s.is_empty())
            .collect();
        page_open.sort();
        let mut shell_open = OPEN_COMMANDS.to_vec();
        shell_open.sort();
        assert_eq!(page_open, shell_open);
    }
}
