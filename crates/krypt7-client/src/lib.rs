//! The KRYPT7 client core: one function per user action, the single API surface under the
//! CLI and the desktop app: accounts, unlock/lock (password, OS keychain, CLI sessions),
//! items, search, TOTP, the generator, export, account operations and sync.
//!
//! Everything written goes to the local cache first (sealed) and into its outbox; `sync`
//! (`sync.rs`, `docs/sync.md`) pulls the server's change feed, verifies it item by item and
//! against each vault's manifest, merges concurrent edits field by field (a conflict copy
//! where both sides changed the same field), and pushes the outbox in commits that carry the
//! vault's next manifest. `events` subscribes to the server's push channel.

#![forbid(unsafe_code)]

mod account;
pub mod api;
mod disk;
pub mod error;
mod files;
pub mod folder;
pub mod generator;
pub mod import;
pub mod item;
mod item_index;
mod items;
mod keychain;
pub mod mail;
mod mailbox;
mod mailsearch;
mod peers;
mod rekey;
pub mod search;
mod sync;
pub mod totp;

use std::{
    collections::HashMap,
    path::{Path, PathBuf},
    sync::{Arc, Mutex, MutexGuard, PoisonError},
};

use krypt7_crypto::{
    Password,
    envelope::{self, ItemBinding, ItemType, KeysetWrapper},
    kdf::{KdfParams, KdfSetup, Purpose},
    keys::{Keyset, LocalUnlockKey, VaultKey},
    opaque::{Login, Registration},
    pk,
    secret_key::SecretKey,
};
use krypt7_protocol::{
    AccountKeys, B64, LoginFinishResponse, LoginStartResponse, PutVault, RegisterFinishResponse,
    RegisterStartResponse, SecondFactorRequest, Session, Vault,
};
use krypt7_store::Store;
use reqwest::Method;
use serde_json::json;
use uuid::Uuid;

pub use krypt7_protocol::{
    AccountInfo, AccountUpdate, SecondFactor, SessionInfo, TotpSetup, Usage,
};

pub use crate::{
    account::{AskCode, Code},
    api::{Api, Auth, Events, Notice},
    disk::write_private,
    error::{ClientError, Result},
    files::{Downloaded, Uploaded},
    item::{FieldSpec, FileRef, ItemData, ItemKind, Merge},
    mailbox::{Correspondent, MailFolder, MailPage},
    peers::PeerKeys,
    sync::{PushSource, SyncReport},
};

/// The label the session token was sealed under before it was bound to the device's
/// settings ([`Client::settings_digest`]): opened once, at the first unlock after the
/// upgrade, and sealed again bound.
const TOKEN_LABEL: &[u8] = b"session-token";
/// The label of a CLI session's end: its time and the hash of the keyset wrap it ends.
const SESSION_UNTIL_LABEL: &[u8] = b"cli-session-until";
/// What a dangerous action is confirmed with (a step-up: `docs/server.md`): the password
/// and the Secret Key (a full OPAQUE sign-in round needs both), and the current second
/// factor's code when the account has one (given: for SMS, ask for it first with
/// [`Client::send_step_up_code`]; or asked: the SMS is then sent before asking).
pub struct Confirm<'a> {
    pub password: &'a str,
    pub secret_key: &'a SecretKey,
    pub code: Code<'a>,
}

/// The account's counts of changes to its credentials, as the server reports them: password
/// or Secret Key (`credentials`), and Secret Key alone (`key_epoch`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct Counts {
    pub credentials: i64,
    pub key_epoch: i64,
}

/// How long a CLI session lasts unless told otherwise.
pub const SESSION_LIFETIME: std::time::Duration = std::time::Duration::from_secs(12 * 3600);

/// The label the session token is sealed under: bound to the digest of the settings that
/// decide where it goes and whom the device trusts.
/// A new password must have at least 8 characters.
fn check_new_password(password: &str) -> Result<()> {
    if password.chars().count() < 8 {
        return Err(ClientError::Invalid(
            "the password must have at least 8 characters".into(),
        ));
    }
    Ok(())
}

fn token_label(settings: &[u8; 32]) -> Vec<u8> {
    let mut l = b"session-token bound ".to_vec();
    l.extend_from_slice(settings);
    l
}

/// What a token that no longer opens under the device's settings means.
fn settings_changed() -> ClientError {
    ClientError::Integrity(
        "this device's server address, trusted CA or pinned keys were changed outside \
         KRYPT7 while it was locked: nothing was sent. Sign in again on a fresh device \
         cache to sync (reading and exporting work offline)"
            .into(),
    )
}
/// The name this device's user gave it (absent: the host's name).
const DEVICE_NAME: &str = "device-name";

/// The host's name: a device's name until its user gives it another
/// ([`Client::rename_device`]).
pub fn host_name() -> String {
    let name = ["HOSTNAME", "COMPUTERNAME"]
        .iter()
        .find_map(|v| std::env::var(v).ok())
        .or_else(|| std::fs::read_to_string("/etc/hostname").ok())
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    name.unwrap_or_else(|| "KRYPT7 device".into())
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Keys and session held only while unlocked; dropping it zeroizes them.
struct Unlocked {
    /// Dropped first at lock: every call made with this state's [`Auth`] ends then.
    alive: Option<tokio::sync::watch::Sender<()>>,
    account: Uuid,
    keyset: Keyset,
    vault_keys: HashMap<Uuid, VaultKey>,
    default_vault: Uuid,
    /// The account's mailbox ([`Client::mail_vault`]): a vault of its own, kept out of the
    /// item lists and the search index.
    mail_vault: Uuid,
    token: Option<String>,
    /// The stored token did not open under the device's settings as they are now: they
    /// were changed while locked, and nothing may be sent ([`Client::token`]).
    settings_changed: bool,
    /// The search index ([`Client::index`]), current at the cache generation
    /// `index_generation`; `index_saved`: the cache's sealed copy is that same index.
    index: Option<search::Index>,
    index_generation: i64,
    index_saved: bool,
    /// The mail search index, opened at its first use ([`Client::search_mail`]).
    mail_index: Option<mailsearch::MailIndex>,
    /// The mailbox's summaries ([`Client::mailbox`]), decrypted at their first use.
    mail_catalog: mailbox::Catalog,
}

/// An item, decrypted.
#[derive(Clone, Debug, PartialEq)]
pub struct ItemView {
    pub id: Uuid,
    pub vault_id: Uuid,
    pub data: ItemData,
    /// Waiting in the outbox for the server.
    pub pending: bool,
}

/// The unlocked state, outside the client: a [`Locker`] reaches it while a long operation
/// holds the client. Nothing holds it across an `.await` ([`Keys`] is not `Send`).
type Keyring = Arc<Mutex<Option<Unlocked>>>;

/// The unlocked state, held for a moment (never across an `.await`: it is not `Send`, so a
/// future holding it does not compile where the desktop needs it). A thread that asks for it
/// again while holding it would wait forever: debug builds panic instead.
struct Keys<'a> {
    guard: MutexGuard<'a, Option<Unlocked>>,
    at: usize,
}

thread_local! {
    /// The keyrings this thread holds, to catch a second hold in debug builds.
    static HELD: std::cell::RefCell<Vec<usize>> = const { std::cell::RefCell::new(Vec::new()) };
}

impl<'a> Keys<'a> {
    /// The keys if unlocked, else [`ClientError::Locked`].
    fn take(ring: &'a Keyring) -> Result<Keys<'a>> {
        let at = Arc::as_ptr(ring) as usize;
        debug_assert!(
            !HELD.with(|h| h.borrow().contains(&at)),
            "the keys are already held by this thread"
        );
        let guard = ring.lock().unwrap_or_else(PoisonError::into_inner);
        if guard.is_none() {
            return Err(ClientError::Locked);
        }
        HELD.with(|h| h.borrow_mut().push(at));
        Ok(Keys { guard, at })
    }
}

impl Drop for Keys<'_> {
    fn drop(&mut self) {
        HELD.with(|h| h.borrow_mut().retain(|&a| a != self.at));
    }
}

impl std::ops::Deref for Keys<'_> {
    type Target = Unlocked;
    fn deref(&self) -> &Unlocked {
        self.guard.as_ref().expect("checked when taken")
    }
}

impl std::ops::DerefMut for Keys<'_> {
    fn deref_mut(&mut self) -> &mut Unlocked {
        self.guard.as_mut().expect("checked when taken")
    }
}

/// Locks a client from anywhere, at once: it does not wait for the client's work in
/// progress (a sync, a transfer, a watched-folder pass), which ends with
/// [`ClientError::Locked`] at its next step or network wait.
#[derive(Clone)]
pub struct Locker {
    keys: Keyring,
    store: Arc<Store>,
}

impl Locker {
    /// Drops every key and decrypted item (they zeroize), first ending every call made with
    /// them; seals a changed search index into the cache on the way (failing that, it is
    /// rebuilt at the next unlock), and ends any CLI session (its wrapped keyset is deleted).
    pub fn lock(&self) -> Result<()> {
        let taken = self
            .keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .take();
        if let Some(mut u) = taken {
            drop(u.alive.take());
            let _ = item_index::save_index(&self.store, &mut u);
        }
        self.store.delete_meta("keyset_session")?;
        self.store.delete_meta("keyset_session_until")?;
        Ok(())
    }

    pub fn is_unlocked(&self) -> bool {
        self.keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .is_some()
    }
}

/// One device's view of one account.
pub struct Client {
    store: Arc<Store>,
    api: Api,
    server: String,
    ca: Option<Vec<u8>>,
    keys: Keyring,
    progress: Option<Box<dyn FnMut(Progress) + Send + Sync>>,
    /// How often this device seals its view of each vault when it has nothing to commit
    /// (`docs/sync.md`, "Forks and freezes").
    view_every: std::time::Duration,
    /// Messages this sync took in, for the server to drop once they are committed.
    mail_taken: Vec<Uuid>,
    /// The cache's directory (the mail search index lives beside the database).
    dir: PathBuf,
}

/// A client going away (a CLI command ending, the app quitting) keeps its search index
/// for the next unlock, as [`Client::lock`] does.
impl Drop for Client {
    fn drop(&mut self) {
        if let Some(u) = self
            .keys
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .as_mut()
        {
            let _ = item_index::save_index(&self.store, u);
        }
    }
}

/// The desktop shell runs client calls on a multi-threaded runtime: a `Client` and the
/// futures of its calls must move between threads. This does not compile otherwise.
#[allow(dead_code)]
fn client_and_its_futures_are_send(c: &mut Client, p: &Path) {
    fn send<T: Send + Sync>(_: &T) {}
    fn send_future<T: Send>(_: T) {}
    send(c);
    send_future(c.sync());
    send_future(c.upload_file(p));
    send_future(c.download_file(Uuid::nil(), p, false));
    send_future(c.events());
    send_future(c.peer_keys(""));
    send_future(c.account_info());
}

/// Where a long operation stands, for a progress bar.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Progress {
    /// Reading the change feed: items received so far.
    Pulling {
        items: usize,
    },
    /// Sending the outbox: items the server took, of how many.
    Pushing {
        done: usize,
        total: usize,
    },
    /// A file going up or coming down: plaintext bytes done, of how many, and the rate
    /// (bytes per second moved by this transfer; a resumed one does not count what was
    /// already there).
    Uploading {
        done: u64,
        total: u64,
        rate: u64,
    },
    Downloading {
        done: u64,
        total: u64,
        rate: u64,
    },
    /// An import sealing its items: items done, of how many.
    Importing {
        done: usize,
        total: usize,
    },
}

impl Client {
    /// Opens the local cache in `data_dir` for the server at `server` (HTTPS; `ca_pem` to trust
    /// a self-hosted server's CA).
    pub fn open(data_dir: &Path, server: Option<&str>, ca_pem: Option<&[u8]>) -> Result<Client> {
        let store = Store::open(&data_dir.join("krypt7.db"))?;
        // A device remembers the server (and CA) it was set up with.
        let server = match server {
            Some(s) => s.to_string(),
            None => store
                .meta("server")?
                .and_then(|b| String::from_utf8(b).ok())
                // A device remembers its server from sign-up or sign-in: none means no account.
                .ok_or(ClientError::NoAccount)?,
        };
        let ca = match ca_pem {
            Some(c) => Some(c.to_vec()),
            None => store.meta("ca")?,
        };
        Ok(Client {
            api: Api::new(&server, ca.as_deref())?,
            store: Arc::new(store),
            server,
            ca,
            keys: Keyring::default(),
            progress: None,
            view_every: sync::VIEW_EVERY,
            mail_taken: Vec::new(),
            dir: data_dir.to_owned(),
        })
    }

    /// The username of this device's account, if set up.
    /// Calls `f` as long operations (sync) advance.
    pub fn on_progress(&mut self, f: impl FnMut(Progress) + Send + Sync + 'static) {
        self.progress = Some(Box::new(f));
    }

    fn report(&mut self, p: Progress) {
        if let Some(f) = self.progress.as_mut() {
            f(p);
        }
    }

    pub fn username(&self) -> Result<Option<String>> {
        Ok(self
            .store
            .meta("username")?
            .and_then(|b| String::from_utf8(b).ok()))
    }

    pub fn server(&self) -> &str {
        &self.server
    }

    /// Trusts `ca_pem` (a self-hosted server's CA) for the server from now on, or the
    /// system's roots with none (unlocked: the session token is sealed again, bound to it).
    pub fn trust_ca(&mut self, ca_pem: Option<&[u8]>) -> Result<()> {
        self.unlocked()?;
        let api = Api::new(&self.server, ca_pem)?;
        let old = std::mem::replace(&mut self.ca, ca_pem.map(<[u8]>::to_vec));
        let written = self.rebound_token(None).and_then(|t| {
            Ok(self
                .store
                .set_metas(&[("ca", ca_pem), ("token", t.as_deref())])?)
        });
        if let Err(e) = written {
            self.ca = old;
            return Err(e);
        }
        self.api = api;
        Ok(())
    }

    pub fn is_unlocked(&self) -> bool {
        self.locker().is_unlocked()
    }

    /// A handle that locks this client without waiting for it ([`Locker`]).
    pub fn locker(&self) -> Locker {
        Locker {
            keys: self.keys.clone(),
            store: self.store.clone(),
        }
    }

    pub fn account_id(&self) -> Result<Option<Uuid>> {
        Ok(self
            .store
            .meta("account_id")?
            .and_then(|b| Uuid::from_slice(&b).ok()))
    }

    fn unlocked(&self) -> Result<Keys<'_>> {
        Keys::take(&self.keys)
    }

    /// This device's id in the manifests it commits: random, made at first use.
    pub fn device_id(&self) -> Result<[u8; 16]> {
        if let Some(id) = self.store.meta("device-id")?
            && let Ok(id) = <[u8; 16]>::try_from(id.as_slice())
        {
            return Ok(id);
        }
        let id = *Uuid::new_v4().as_bytes();
        self.store.set_meta("device-id", &id)?;
        Ok(id)
    }

    /// This device's name as its user knows it: the one given in Settings or by
    /// `krypt7 account rename-device`, else the host's name. Shown in the account's device
    /// list and sealed into the manifests it commits ("vault changed by <name>").
    pub fn device_name(&self) -> Result<String> {
        Ok(self
            .store
            .meta(DEVICE_NAME)?
            .and_then(|b| String::from_utf8(b).ok())
            .unwrap_or_else(host_name))
    }

    /// Creates an account: a new Secret Key (returned: show it in the Emergency Kit), the
    /// account's keys, an OPAQUE registration, a first vault; leaves this device unlocked.
    pub async fn signup(
        &mut self,
        username: &str,
        password: &str,
        email: Option<&str>,
        phone: Option<&str>,
    ) -> Result<SecretKey> {
        if self.account_id()?.is_some() {
            return Err(ClientError::AlreadySetUp);
        }
        check_new_password(password)?;
        let pw = Password::new(password);
        let sk = SecretKey::generate()?;
        let setup = KdfSetup::generate(KdfParams::DEFAULT)?;
        let (reg, request) = Registration::start(&pw, &sk)?;
        let start: RegisterStartResponse = self
            .api
            .call(
                Method::POST,
                "/v1/accounts/register/start",
                None,
                Some(&json!({"username": username, "registration_request": B64(request)})),
            )
            .await?;
        let account = start.account_id;
        let (upload, auk) =
            reg.finish(account.as_bytes(), &setup, &start.registration_response.0)?;
        let keyset = Keyset::generate()?;
        let wrapped = envelope::wrap_keyset(KeysetWrapper::Auk(&auk), account.as_bytes(), &keyset)?;
        let bundle = pk::sign_key_bundle(&keyset.identity, &keyset.encryption, account.as_bytes());
        let _: RegisterFinishResponse = self
            .api
            .call(
                Method::POST,
                "/v1/accounts/register/finish",
                None,
                Some(&json!({
                    "account_id": account, "username": username, "email": email, "phone": phone,
                    "registration_upload": B64(upload), "kdf_setup": B64(setup.seal(&sk)),
                    "keyset": B64(wrapped), "key_bundle": B64(bundle),
                })),
            )
            .await?;
        let token = self.sign_in(username, &pw, &sk, Code::Given(None)).await?.1;
        // The first vault.
        let vault = Uuid::new_v4();
        let vault_key = VaultKey::generate()?;
        let key_wrap = envelope::wrap_vault_key(
            &keyset.account_key,
            account.as_bytes(),
            vault.as_bytes(),
            &vault_key,
        )?;
        let _: Vault = self
            .api
            .call(
                Method::PUT,
                &format!("/v1/vaults/{vault}"),
                Some(&Auth::unbound(&token)),
                Some(&PutVault {
                    key_wrap: B64(key_wrap.clone()),
                }),
            )
            .await?;
        self.store.put_vault(vault, &key_wrap)?;
        self.store.set_meta("default_vault", vault.as_bytes())?;
        self.settle(
            account,
            username,
            &pw,
            &sk,
            keyset,
            token,
            Counts::default(),
        )?;
        Ok(sk)
    }

    /// OPAQUE sign-in; returns the account id, a session token and the Account Unlock Key.
    async fn sign_in(
        &self,
        username: &str,
        pw: &Password,
        sk: &SecretKey,
        code: Code<'_>,
    ) -> Result<(Uuid, String, krypt7_crypto::keys::AccountUnlockKey)> {
        let (login, request) = Login::start(pw, sk)?;
        // This device's proof of an earlier sign-in: its attempts then count on their own,
        // not against the username's limit (`docs/server.md`, "Abuse").
        let device_proof = self
            .store
            .meta("device_proof")?
            .and_then(|b| String::from_utf8(b).ok());
        let start: LoginStartResponse = self
            .api
            .call(
                Method::POST,
                "/v1/sessions/login/start",
                None,
                Some(&json!({"username": username, "credential_request": B64(request), "device_proof": device_proof})),
            )
            .await?;
        // A setup whose MAC fails was not made with this Secret Key (or was altered).
        let setup = KdfSetup::open(&start.kdf_setup.0, sk).map_err(|e| match e {
            krypt7_crypto::CryptoError::KdfParamsTampered => ClientError::WrongCredentials,
            e => e.into(),
        })?;
        let (finalization, auk) = login
            .finish(
                start.account_id.as_bytes(),
                &setup,
                &start.credential_response.0,
            )
            .map_err(|_| ClientError::WrongCredentials)?;
        let device = self.device_name()?;
        let finish: LoginFinishResponse = self
            .api
            .call(
                Method::POST,
                "/v1/sessions/login/finish",
                None,
                Some(&json!({"login_id": start.login_id, "credential_finalization": B64(finalization), "device_name": device})),
            )
            .await
            .map_err(|e| match e {
                ClientError::Server { status: 401, .. } => ClientError::WrongCredentials,
                e => e,
            })?;
        let session: Session = match finish {
            LoginFinishResponse::SignedIn(s) => s,
            LoginFinishResponse::SecondFactorRequired {
                login_id,
                second_factor,
            } => {
                let code = code.get(second_factor)?;
                match self
                    .api
                    .call(
                        Method::POST,
                        "/v1/sessions/login/second-factor",
                        None,
                        Some(&SecondFactorRequest {
                            login_id,
                            code: code.to_string(),
                        }),
                    )
                    .await?
                {
                    LoginFinishResponse::SignedIn(s) => s,
                    _ => {
                        return Err(ClientError::Integrity(
                            "the server asked for a second factor twice".into(),
                        ));
                    }
                }
            }
        };
        if session.account_id != start.account_id {
            return Err(ClientError::Integrity(
                "the server signed in another account".into(),
            ));
        }
        if let Some(proof) = &session.device_proof {
            self.store.set_meta("device_proof", proof.as_bytes())?;
        }
        Ok((session.account_id, session.token, auk))
    }

    /// Signs in on a new device (username, password, Secret Key, and a second-factor code if
    /// the account has one), fetches the account's keys and its data.
    pub async fn login(
        &mut self,
        username: &str,
        password: &str,
        secret_key: &SecretKey,
        code: impl Into<Code<'_>>,
    ) -> Result<SyncReport> {
        let code = code.into();
        if self.account_id()?.is_some() {
            return Err(ClientError::AlreadySetUp);
        }
        let pw = Password::new(password);
        // The AUK comes from the same OPAQUE run that proves the password.
        let (account, token, auk) = self.sign_in(username, &pw, secret_key, code).await?;
        let (keyset, counts) = self.account_keyset(account, &token, &auk).await?;
        self.settle(account, username, &pw, secret_key, keyset, token, counts)?;
        self.sync().await
    }

    /// The account's keyset from the server, opened with the AUK of a sign-in that gave
    /// `token`, and checked against the keys the account publishes; and the account's count
    /// of password changes.
    async fn account_keyset(
        &self,
        account: Uuid,
        token: &str,
        auk: &krypt7_crypto::keys::AccountUnlockKey,
    ) -> Result<(Keyset, Counts)> {
        let keys: AccountKeys = self
            .api
            .call::<(), _>(
                Method::GET,
                "/v1/account/keys",
                Some(&Auth::unbound(token)),
                None,
            )
            .await?;
        let keyset =
            envelope::unwrap_keyset(KeysetWrapper::Auk(auk), account.as_bytes(), &keys.keyset.0)
                .map_err(|_| {
                    ClientError::Integrity(
                        "the account's keyset does not open with this account's key".into(),
                    )
                })?;
        let published = pk::verify_key_bundle(&keys.key_bundle.0, account.as_bytes())?;
        if published.signing != keyset.identity.public()
            || published.encryption != keyset.encryption.public()
        {
            return Err(ClientError::Integrity(
                "the server publishes keys that are not this account's".into(),
            ));
        }
        Ok((
            keyset,
            Counts {
                credentials: keys.credentials,
                key_epoch: keys.key_epoch,
            },
        ))
    }

    /// Stores what this device needs to unlock offline, and unlocks.
    #[allow(clippy::too_many_arguments)]
    fn settle(
        &mut self,
        account: Uuid,
        username: &str,
        pw: &Password,
        sk: &SecretKey,
        keyset: Keyset,
        token: String,
        counts: Counts,
    ) -> Result<()> {
        self.wrap_locally(account, pw, sk, &keyset, counts)?;
        self.store.set_meta("username", username.as_bytes())?;
        self.store.set_meta("server", self.server.as_bytes())?;
        if let Some(ca) = &self.ca {
            self.store.set_meta("ca", ca)?;
        }
        self.store.set_meta("account_id", account.as_bytes())?;
        self.seal_token(account, &keyset, &token)?;
        self.load(account, keyset, Some(token), false)
    }

    /// A digest of what decides where the session token goes and whom this device trusts:
    /// the server address and CA in use, the account, the default vault, and every pinned
    /// key (row and sealed bytes). The stored token is sealed bound to it, so any change
    /// made to these in the cache file while the vault is locked leaves the token sealed
    /// shut ([`settings_changed`]): no token can be sent to a server put there, and a pin
    /// removed there cannot reset trust on first use unnoticed.
    /// `with_pin`: a pin about to be written (its row and sealed bytes), counted as held.
    fn settings_digest(&self, with_pin: Option<([u8; 16], &[u8])>) -> Result<[u8; 32]> {
        let mut h = ring::digest::Context::new(&ring::digest::SHA256);
        let mut put = |b: &[u8]| {
            h.update(&(b.len() as u64).to_be_bytes());
            h.update(b);
        };
        put(b"krypt7 device settings 1");
        put(self.server.as_bytes());
        match &self.ca {
            Some(ca) => {
                put(b"ca");
                put(ca);
            }
            None => put(b"system roots"),
        }
        put(&self.store.meta("account_id")?.unwrap_or_default());
        put(&self.store.meta("default_vault")?.unwrap_or_default());
        let mut pins = self.store.sealed_rows(krypt7_store::Records::PinnedKeys)?;
        if let Some((row, sealed)) = with_pin {
            pins.retain(|(r, _)| *r != row);
            pins.push((row, sealed.to_vec()));
        }
        pins.sort();
        for (row, sealed) in &pins {
            put(row);
            put(sealed);
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(h.finish().as_ref());
        Ok(out)
    }

    /// Why the stored token cannot be used: the server or CA given for this run differs
    /// from the ones the device was set up with (`--server`, `KRYPT7_SERVER`, `--ca`), or
    /// else the cache was changed while locked.
    fn refusal(&self) -> ClientError {
        let meta = |k| self.store.meta(k).ok().flatten();
        if meta("server").as_deref() != Some(self.server.as_bytes()) || meta("ca") != self.ca {
            let home = meta("server")
                .and_then(|b| String::from_utf8(b).ok())
                .unwrap_or_default();
            return ClientError::Invalid(format!(
                "this device's account is on {home} with its own CA: its session is not sent \
                 to {} or under another CA (leave out the server or CA given for this run, \
                 or move the account to the new address)",
                self.server
            ));
        }
        settings_changed()
    }

    /// `token` sealed under the account key, bound to the settings as they are now (with
    /// `with_pin` held).
    fn sealed_token(
        &self,
        account: Uuid,
        keyset: &Keyset,
        token: &str,
        with_pin: Option<([u8; 16], &[u8])>,
    ) -> Result<Vec<u8>> {
        Ok(envelope::seal_local_secret(
            &keyset.account_key,
            account.as_bytes(),
            &token_label(&self.settings_digest(with_pin)?),
            token.as_bytes(),
        )?)
    }

    fn seal_token(&self, account: Uuid, keyset: &Keyset, token: &str) -> Result<()> {
        let sealed = self.sealed_token(account, keyset, token, None)?;
        Ok(self.store.set_meta("token", &sealed)?)
    }

    /// The session token sealed again for a change of the settings it is bound to, made by
    /// the user through this client (a pin, the CA, the server): to be written in the same
    /// transaction as the change, so that a crash between the two cannot look like
    /// tampering. `None` when this device holds no token.
    fn rebound_token(&self, with_pin: Option<([u8; 16], &[u8])>) -> Result<Option<Vec<u8>>> {
        let u = self.unlocked()?;
        if u.settings_changed {
            return Err(self.refusal());
        }
        match &u.token {
            Some(t) => Ok(Some(self.sealed_token(u.account, &u.keyset, t, with_pin)?)),
            None => Ok(None),
        }
    }

    fn load(
        &mut self,
        account: Uuid,
        keyset: Keyset,
        token: Option<String>,
        settings_changed: bool,
    ) -> Result<()> {
        let mut vault_keys = HashMap::new();
        for v in self.store.vaults()? {
            let k = envelope::unwrap_vault_key(
                &keyset.account_key,
                account.as_bytes(),
                v.id.as_bytes(),
                &v.key_wrap,
            )?;
            vault_keys.insert(v.id, k);
        }
        let mail_vault = mail::vault_id(&keyset);
        let default_vault = self
            .store
            .meta("default_vault")?
            .and_then(|b| Uuid::from_slice(&b).ok())
            .or_else(|| {
                vault_keys
                    .keys()
                    .filter(|v| **v != mail_vault)
                    .min()
                    .copied()
            })
            .unwrap_or_else(Uuid::nil);
        let alive = tokio::sync::watch::channel(()).0;
        *self.keys.lock().unwrap_or_else(PoisonError::into_inner) = Some(Unlocked {
            alive: Some(alive),
            account,
            keyset,
            vault_keys,
            default_vault,
            mail_vault,
            token,
            settings_changed,
            index: None,
            index_generation: 0,
            index_saved: false,
            mail_index: None,
            mail_catalog: Default::default(),
        });
        if let Err(e) = self.check_tombstones() {
            let _ = self.lock();
            return Err(e);
        }
        Ok(())
    }

    /// Wraps `keyset` for offline unlock by `pw` (a new local setup), replacing the wrap
    /// there was, and notes the account's counts of changes this wrap follows.
    fn wrap_locally(
        &self,
        account: Uuid,
        pw: &Password,
        sk: &SecretKey,
        keyset: &Keyset,
        counts: Counts,
    ) -> Result<()> {
        let local = KdfSetup::generate(KdfParams::DEFAULT)?;
        let luk = LocalUnlockKey::from(local.derive(pw, sk, Purpose::LocalUnlock)?);
        let wrapped =
            envelope::wrap_keyset(KeysetWrapper::LocalUnlock(&luk), account.as_bytes(), keyset)?;
        let credentials = counts.credentials.to_string();
        let key_epoch = counts.key_epoch.to_string();
        self.store.set_metas(&[
            ("local_setup", Some(&local.seal(sk))),
            ("keyset_local", Some(&wrapped)),
            ("credentials", Some(credentials.as_bytes())),
            ("key_epoch", Some(key_epoch.as_bytes())),
        ])?;
        // The wrap by the old password, gone from the files too.
        self.store.forget_overwritten()?;
        Ok(())
    }

    /// A count this device keeps in its meta table (0 when it has none).
    fn known_count(&self, key: &str) -> Result<i64> {
        Ok(self
            .store
            .meta(key)?
            .and_then(|b| String::from_utf8(b).ok()?.parse::<i64>().ok())
            .unwrap_or(0))
    }

    /// The server says the account's password was changed `counts.credentials` times. When
    /// that is more than this device's offline unlock follows, the wrap by the old password
    /// is dropped: the old password no longer unlocks here, and the next unlock, with the new
    /// one, goes through the server ([`Client::unlock_online`]). Keychain unlock and the
    /// vault stay as they are. A change of the Secret Key (`counts.key_epoch` up) goes
    /// further: [`Client::carry_keyset`]. (A server that lies here can only make this device
    /// sign in again.)
    fn follow_credentials(&self, counts: Counts) -> Result<()> {
        if counts.key_epoch > self.known_count("key_epoch")? {
            return self.carry_keyset(counts);
        }
        let known = self.known_count("credentials")?;
        let credentials = counts.credentials;
        if credentials > known {
            let credentials = credentials.to_string();
            self.store.set_metas(&[
                ("local_setup", None),
                ("keyset_local", None),
                ("credentials", Some(credentials.as_bytes())),
            ])?;
            self.store.forget_overwritten()?;
        }
        Ok(())
    }

    /// The password was changed on another device and this one has learned of it (a sync):
    /// its unlock by the old password is gone, and the next unlock by password goes through
    /// the server ([`Client::unlock_online`]).
    pub fn password_changed_elsewhere(&self) -> Result<bool> {
        Ok(self.account_id()?.is_some() && self.store.meta("keyset_local")?.is_none())
    }

    /// Unlocks with the password and Secret Key, offline: only the local cache is used.
    /// After the password was changed on another device ([`ClientError::PasswordChanged`]),
    /// [`Client::unlock_online`] instead.
    pub fn unlock(&mut self, password: &str, secret_key: &SecretKey) -> Result<()> {
        let account = self.account_id()?.ok_or(ClientError::NoAccount)?;
        if self.secret_key_changed_elsewhere()? {
            return Err(ClientError::SecretKeyChanged);
        }
        let sealed = self
            .store
            .meta("local_setup")?
            .ok_or(ClientError::PasswordChanged)?;
        let local = KdfSetup::open(&sealed, secret_key).map_err(|e| match e {
            krypt7_crypto::CryptoError::KdfParamsTampered => ClientError::WrongCredentials,
            e => e.into(),
        })?;
        let luk = LocalUnlockKey::from(local.derive(
            &Password::new(password),
            secret_key,
            Purpose::LocalUnlock,
        )?);
        let wrapped = self
            .store
            .meta("keyset_local")?
            .ok_or(ClientError::PasswordChanged)?;
        let keyset = envelope::unwrap_keyset(
            KeysetWrapper::LocalUnlock(&luk),
            account.as_bytes(),
            &wrapped,
        )
        .map_err(|_| ClientError::WrongCredentials)?;
        let (token, changed) = self.stored_token(account, &keyset)?;
        self.load(account, keyset, token, changed)
    }

    /// Unlocks through the server, after the password was changed on another device: a full
    /// sign-in with the new password (and a second-factor code, if the account has one), the
    /// keyset fetched and opened as on a new device, then wrapped for offline unlock by the
    /// new password. The vault, the outbox and the feed position stay as they are. The
    /// session this device had is ended (with its own token) and replaced by the new one.
    pub async fn unlock_online(
        &mut self,
        password: &str,
        secret_key: &SecretKey,
        code: impl Into<Code<'_>>,
    ) -> Result<()> {
        let account = self.account_id()?.ok_or(ClientError::NoAccount)?;
        let username = self.username()?.ok_or(ClientError::NoAccount)?;
        let pw = Password::new(password);
        let (signed_in, token, auk) = self
            .sign_in(&username, &pw, secret_key, code.into())
            .await?;
        if signed_in != account {
            return Err(ClientError::Integrity(
                "the server signed in another account of this name".into(),
            ));
        }
        let (keyset, counts) = self.account_keyset(account, &token, &auk).await?;
        // After a change of the Secret Key made elsewhere, the cache is still sealed under the
        // keys this device carried across it: sealed again under the new ones first.
        let carried = self.carried_keyset(account, &keyset)?;
        let (old_token, _) = self.stored_token(account, carried.as_ref().unwrap_or(&keyset))?;
        if let Some(old) = &carried {
            self.rekey_from_carried(account, old, &keyset, &token)
                .await?;
        }
        self.wrap_locally(account, &pw, secret_key, &keyset, counts)?;
        self.seal_token(account, &keyset, &token)?;
        self.load(account, keyset, Some(token), false)?;
        if let Some(old) = old_token {
            self.end_own_session(&Auth::unbound(&old)).await;
        }
        Ok(())
    }

    /// Locks: [`Locker::lock`].
    pub fn lock(&mut self) -> Result<()> {
        self.locker().lock()
    }

    /// Starts a CLI session: a random key that wraps the keyset in the cache until `lock`, a
    /// newer session, or `lifetime` from now ([`SESSION_LIFETIME`] by default), whichever
    /// comes first. The end is sealed under the account key with the wrap's hash, so it can
    /// be neither moved nor taken from another session by someone writing the cache.
    /// Returns the key, to be kept by the caller (the shell's `KRYPT7_SESSION`).
    pub fn start_session(&mut self, lifetime: std::time::Duration) -> Result<String> {
        let u = self.unlocked()?;
        let key = krypt7_crypto::keys::DeviceKey::generate()?;
        let wrapped = envelope::wrap_keyset(
            KeysetWrapper::Session(&key),
            u.account.as_bytes(),
            &u.keyset,
        )?;
        let until = now().saturating_add(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX));
        let mut record = until.to_be_bytes().to_vec();
        record.extend_from_slice(ring::digest::digest(&ring::digest::SHA256, &wrapped).as_ref());
        let sealed = envelope::seal_local_secret(
            &u.keyset.account_key,
            u.account.as_bytes(),
            SESSION_UNTIL_LABEL,
            &record,
        )?;
        drop(u);
        self.store.set_metas(&[
            ("keyset_session", Some(wrapped.as_slice())),
            ("keyset_session_until", Some(sealed.as_slice())),
        ])?;
        Ok(krypt7_protocol::B64(key.expose_secret().to_vec()).encode())
    }

    /// Unlocks with a session key from [`Client::start_session`].
    pub fn resume_session(&mut self, session: &str) -> Result<()> {
        let (account, keyset) = self.session_keyset(session)?;
        let (token, changed) = self.stored_token(account, &keyset)?;
        self.load(account, keyset, token, changed)
    }

    /// Whether the CLI session `session` still holds: `lock`, or a newer session started
    /// by another unlock, ends it. A long-running command (`sync --watch`) asks, and stops.
    pub fn session_holds(&self, session: &str) -> Result<bool> {
        match self.session_keyset(session) {
            Ok(_) => Ok(true),
            Err(ClientError::Locked) => Ok(false),
            Err(e) => Err(e),
        }
    }

    /// The keyset the session key `session` unwraps from the cache.
    fn session_keyset(&self, session: &str) -> Result<(Uuid, Keyset)> {
        let account = self.account_id()?.ok_or(ClientError::NoAccount)?;
        let bytes = krypt7_protocol::B64::decode(session.trim())
            .ok_or_else(|| ClientError::Invalid("KRYPT7_SESSION is not a session key".into()))?;
        let key: [u8; 32] = bytes
            .0
            .as_slice()
            .try_into()
            .map_err(|_| ClientError::Invalid("KRYPT7_SESSION is not a session key".into()))?;
        let key = krypt7_crypto::keys::DeviceKey::from_bytes(key);
        let wrapped = self
            .store
            .meta("keyset_session")?
            .ok_or(ClientError::Locked)?;
        let keyset =
            envelope::unwrap_keyset(KeysetWrapper::Session(&key), account.as_bytes(), &wrapped)
                .map_err(|_| ClientError::Locked)?;
        // Past its end (or with an end that is not this session's): over.
        let record = self
            .store
            .meta("keyset_session_until")?
            .and_then(|sealed| {
                envelope::open_local_secret(
                    &keyset.account_key,
                    account.as_bytes(),
                    SESSION_UNTIL_LABEL,
                    &sealed,
                )
                .ok()
            })
            .ok_or(ClientError::Locked)?;
        let (until, hash) = record.split_at(8.min(record.len()));
        let until = i64::from_be_bytes(until.try_into().map_err(|_| ClientError::Locked)?);
        if hash != ring::digest::digest(&ring::digest::SHA256, &wrapped).as_ref() || now() >= until
        {
            return Err(ClientError::Locked);
        }
        Ok((account, keyset))
    }

    /// The stored session token, opened under the device's settings as they are now, and
    /// whether they were changed while locked (then there is no token to use). A token
    /// sealed before tokens were bound is opened under the old label and sealed bound.
    fn stored_token(&self, account: Uuid, keyset: &Keyset) -> Result<(Option<String>, bool)> {
        let Some(sealed) = self.store.meta("token")? else {
            return Ok((None, false));
        };
        let open = |label: &[u8]| {
            envelope::open_local_secret(&keyset.account_key, account.as_bytes(), label, &sealed)
                .ok()
                .map(|t| String::from_utf8(t.to_vec()))
        };
        let text = |t: std::result::Result<String, _>| {
            t.map_err(|_| ClientError::Integrity("stored session token".into()))
        };
        if let Some(t) = open(&token_label(&self.settings_digest(None)?)) {
            return Ok((Some(text(t)?), false));
        }
        if let Some(t) = open(TOKEN_LABEL) {
            let t = text(t)?;
            self.seal_token(account, keyset, &t)?;
            return Ok((Some(t), false));
        }
        Ok((None, true))
    }

    /// The records of a kind, each opened under the account key with `label`.
    fn records<T: serde::de::DeserializeOwned>(
        &self,
        kind: krypt7_store::Records,
        label: &[u8],
    ) -> Result<Vec<([u8; 16], T)>> {
        let u = self.unlocked()?;
        self.store
            .sealed_rows(kind)?
            .into_iter()
            .map(|(row, sealed)| {
                let plain = envelope::open_local_secret(
                    &u.keyset.account_key,
                    u.account.as_bytes(),
                    label,
                    &sealed,
                )
                .map_err(|_| ClientError::Integrity(format!("a sealed {kind:?} record")))?;
                let value = serde_json::from_slice(&plain)
                    .map_err(|e| ClientError::Integrity(format!("a {kind:?} record: {e}")))?;
                Ok((row, value))
            })
            .collect()
    }

    /// Seals `value` under the account key with `label` and keeps it as `row`.
    fn save_record<T: serde::Serialize>(
        &self,
        kind: krypt7_store::Records,
        label: &[u8],
        row: [u8; 16],
        value: &T,
    ) -> Result<()> {
        Ok(self
            .store
            .put_sealed(kind, row, &self.seal_record(label, value)?)?)
    }

    /// `value` sealed under the account key with `label`.
    fn seal_record<T: serde::Serialize>(&self, label: &[u8], value: &T) -> Result<Vec<u8>> {
        let u = self.unlocked()?;
        let plain = zeroize::Zeroizing::new(
            serde_json::to_vec(value).map_err(|e| ClientError::Invalid(e.to_string()))?,
        );
        Ok(envelope::seal_local_secret(
            &u.keyset.account_key,
            u.account.as_bytes(),
            label,
            &plain,
        )?)
    }

    fn binding(u: &Unlocked, vault: Uuid, id: Uuid) -> ItemBinding {
        ItemBinding {
            account: *u.account.as_bytes(),
            vault: *vault.as_bytes(),
            item: *id.as_bytes(),
        }
    }

    fn seal(u: &Unlocked, vault: Uuid, id: Uuid, data: &ItemData) -> Result<Vec<u8>> {
        let key = u
            .vault_keys
            .get(&vault)
            .ok_or_else(|| ClientError::Integrity("no key for this vault".into()))?;
        let plain = zeroize::Zeroizing::new(
            serde_json::to_vec(data).map_err(|e| ClientError::Invalid(e.to_string()))?,
        );
        Ok(envelope::seal_item(
            key,
            &Self::binding(u, vault, id),
            ItemType(data.kind.number()),
            item::FORMAT_VERSION,
            &plain,
        )?)
    }

    fn open_item(u: &Unlocked, vault: Uuid, id: Uuid, sealed: &[u8]) -> Result<ItemData> {
        let key = u
            .vault_keys
            .get(&vault)
            .ok_or_else(|| ClientError::Integrity("an item of an unknown vault".into()))?;
        let opened = envelope::open_item(key, &Self::binding(u, vault, id), sealed)?;
        if opened.format_version != item::FORMAT_VERSION {
            return Err(ClientError::Integrity(format!(
                "unknown item format {}",
                opened.format_version
            )));
        }
        let data: ItemData = serde_json::from_slice(&opened.plaintext)
            .map_err(|e| ClientError::Integrity(format!("item content: {e}")))?;
        if ItemKind::from_number(opened.item_type.0) != Some(data.kind) {
            return Err(ClientError::Integrity(
                "the item's sealed type and content disagree".into(),
            ));
        }
        Ok(data)
    }

    /// An item the cache holds as live: its sealed content must not be a deletion (the
    /// cache's flag is not sealed; one flipped while locked is caught here, and the other
    /// way round at unlock, [`Client::check_tombstones`]).
    fn open_live(u: &Unlocked, vault: Uuid, id: Uuid, sealed: &[u8]) -> Result<ItemData> {
        let data = Self::open_item(u, vault, id, sealed)?;
        if data.purged {
            return Err(ClientError::Integrity(format!(
                "item {id} is marked live in this device's cache but is sealed as deleted: \
                 the cache was changed outside KRYPT7"
            )));
        }
        Ok(data)
    }

    /// Every item the cache holds as deleted must be sealed as a deletion: a live item
    /// marked deleted in the cache file while locked would otherwise vanish unnoticed.
    fn check_tombstones(&self) -> Result<()> {
        let u = self.unlocked()?;
        for r in self.store.deleted_items()? {
            if !Self::open_item(&u, r.vault_id, r.id, &r.envelope)?.purged {
                return Err(ClientError::Integrity(format!(
                    "item {} is marked deleted in this device's cache but is sealed as live: \
                     the cache was changed outside KRYPT7",
                    r.id
                )));
            }
        }
        Ok(())
    }

    /// Refuses what should not be sealed: invalid content ([`ItemData::validate`]) or a
    /// tombstone where an item is expected (deleting is [`Client::purge_item`]).
    fn not_purged(data: &ItemData) -> Result<()> {
        data.validate().map_err(ClientError::Invalid)?;
        if data.kind == ItemKind::Mail {
            return Err(ClientError::Invalid(
                "mail is written with the mail commands, not as an item".into(),
            ));
        }
        if data.purged {
            return Err(ClientError::Invalid(
                "an item cannot be written as deleted: purge it instead".into(),
            ));
        }
        Ok(())
    }

    /// Every local write of one item goes through here: the cache and its outbox, then the
    /// search index.
    fn save_local(
        &mut self,
        id: Uuid,
        vault: Uuid,
        sealed: &[u8],
        deleted: bool,
        at: i64,
    ) -> Result<()> {
        let saved = self.store.save_local(id, vault, sealed, deleted, at)?;
        self.reindex(saved.generation, &[id])
    }

    /// The Emergency Kit: everything needed to sign in on a new device but the password,
    /// as a text file and a printable HTML page (both hold the Secret Key: print or store
    /// them offline). Returns `(text, html)`.
    pub fn emergency_kit(
        &self,
        secret_key: &SecretKey,
    ) -> Result<(zeroize::Zeroizing<String>, zeroize::Zeroizing<String>)> {
        let username = self.username()?.ok_or(ClientError::NoAccount)?;
        let sk = secret_key.to_human();
        let text = zeroize::Zeroizing::new(format!(
            "KRYPT7 EMERGENCY KIT\n\n\
             Keep this somewhere safe and offline. With your password it opens your vault;\n\
             without both, nobody can: there is no password recovery.\n\n\
             Server:      {}\n\
             Username:    {username}\n\
             Secret Key:  {}\n\
             Password:    ______________________________ (write it by hand, or not at all)\n",
            self.server,
            sk.as_str()
        ));
        let esc = |s: &str| {
            s.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
                .replace('"', "&quot;")
        };
        let html = zeroize::Zeroizing::new(format!(
            "<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>KRYPT7 Emergency Kit</title>\n\
             <style>body{{font-family:sans-serif;max-width:40em;margin:2em auto}}dt{{font-weight:bold;margin-top:1em}}\
             dd{{font-family:monospace;font-size:1.3em;margin:0}}.blank{{border-bottom:1px solid #000;height:2em}}</style></head>\n\
             <body><h1>KRYPT7 Emergency Kit</h1>\n<p>Keep this page somewhere safe and offline. With your password it opens \
             your vault; without both, nobody can: there is no password recovery.</p>\n<dl>\
             <dt>Server</dt><dd>{}</dd><dt>Username</dt><dd>{}</dd><dt>Secret Key</dt><dd>{}</dd>\
             <dt>Password</dt><dd class=\"blank\"></dd></dl></body></html>\n",
            esc(&self.server),
            esc(&username),
            esc(sk.as_str())
        ));
        Ok((text, html))
    }

    /// The whole vault as structured JSON, in plaintext: for the user's own use (the CLI asks
    /// for an explicit flag). Items in the trash are included and marked.
    pub fn export_json(&self) -> Result<serde_json::Value> {
        let account = self.account_id()?.ok_or(ClientError::NoAccount)?;
        let mut items = self.items()?;
        items.sort_by(|a, b| a.data.title.cmp(&b.data.title).then(a.id.cmp(&b.id)));
        Ok(json!({
            "format": "krypt7-export",
            "version": 1,
            "exported_at": now(),
            "account_id": account,
            "username": self.username()?,
            "items": items.iter().map(|i| json!({"id": i.id, "vault_id": i.vault_id, "item": i.data})).collect::<Vec<_>>(),
        }))
    }

    /// The JSON export sealed under a separate export password (`docs/crypto.md` §4.4).
    pub fn export_encrypted(&self, export_password: &str) -> Result<Vec<u8>> {
        if export_password.chars().count() < 8 {
            return Err(ClientError::Invalid(
                "the export password must have at least 8 characters".into(),
            ));
        }
        let plain = zeroize::Zeroizing::new(
            serde_json::to_vec(&self.export_json()?)
                .map_err(|e| ClientError::Invalid(e.to_string()))?,
        );
        Ok(krypt7_crypto::export::seal(
            &Password::new(export_password),
            KdfParams::DEFAULT,
            &plain,
        )?)
    }

    /// The session token, bound to this unlocked state ([`Auth`]).
    fn token(&self) -> Result<Auth> {
        let u = self.unlocked()?;
        if u.settings_changed {
            return Err(self.refusal());
        }
        match (&u.token, &u.alive) {
            (Some(t), Some(alive)) => Ok(Auth::bound(t, alive)),
            _ => Err(ClientError::Locked),
        }
    }
}
