//! `krypt7`: the KRYPT7 command-line client, a thin shell over krypt7-client. Every read
//! takes `--json`; exit codes: 0 success, 1 error, 2 usage, 3 locked, wrong credentials or
//! signed out (sign in again), 4 server unreachable, 5 integrity failure or untrusted
//! server certificate.

/// mimalloc: decrypting and indexing a vault allocates many small strings, which it serves
/// about twice as fast as the system allocator (docs/sync.md, "Unlock and the search index").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::{
    io::{Read, Write},
    path::PathBuf,
    process::ExitCode,
};

mod account;
mod files;
mod import;
mod items;
mod mail;
mod output;
mod prompt;

use account::AccountCommand;
use clap::{Parser, Subcommand};
use files::{FileCommand, FolderCommand};
use items::ItemCommand;
use krypt7_client::{
    Client, ClientError, Code, Confirm, ItemKind, PeerKeys, SyncReport, write_private,
};
use krypt7_crypto::secret_key::SecretKey;
use output::print_line;
use serde_json::{Value, json};
use uuid::Uuid;
use zeroize::Zeroizing;

#[derive(Parser)]
#[command(
    name = "krypt7",
    version,
    about = "KRYPT7: an end-to-end encrypted vault"
)]
struct Cli {
    /// Where this device keeps its encrypted cache.
    #[arg(long, env = "KRYPT7_DATA_DIR", global = true)]
    data_dir: Option<PathBuf>,
    /// The server, https://… (remembered after sign-up or sign-in).
    #[arg(long, env = "KRYPT7_SERVER", global = true)]
    server: Option<String>,
    /// A CA certificate (PEM) to trust for a self-hosted server.
    #[arg(long, env = "KRYPT7_CA", global = true)]
    ca: Option<PathBuf>,
    /// Machine-readable output.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(clap::Args)]
struct Keys {
    /// Read the password from standard input (instead of KRYPT7_SESSION).
    #[arg(long, global = true)]
    password_stdin: bool,
    /// The Secret Key, for --password-stdin.
    #[arg(long, env = "KRYPT7_SECRET_KEY", hide_env_values = true, global = true)]
    secret_key: Option<String>,
    /// A session from `krypt7 unlock`.
    #[arg(long, env = "KRYPT7_SESSION", hide_env_values = true, global = true)]
    session: Option<String>,
}

#[derive(Subcommand)]
enum Command {
    /// Create an account; prints the Secret Key (keep it: it is shown once).
    Signup {
        /// Also write the Emergency Kit here (FILE.txt and FILE.html).
        #[arg(long)]
        kit: Option<PathBuf>,
        #[arg(long)]
        username: String,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        phone: Option<String>,
        /// The password on standard input (on a terminal, without it, it is asked, hidden,
        /// twice).
        #[arg(long)]
        password_stdin: bool,
    },
    /// Sign in on this device (again, if its session ended: the data here is kept).
    Login {
        #[arg(long)]
        username: String,
        /// (On a terminal, without it, it is asked, hidden.)
        #[arg(long, env = "KRYPT7_SECRET_KEY", hide_env_values = true)]
        secret_key: Option<String>,
        /// The password on standard input (on a terminal, without it, it is asked, hidden).
        #[arg(long)]
        password_stdin: bool,
        /// A second-factor code, if the account has one.
        #[arg(long)]
        code: Option<String>,
    },
    /// Unlock; prints a session for KRYPT7_SESSION. With --keychain, through the OS keychain
    /// (no password); otherwise with the password on stdin and the Secret Key (from
    /// --secret-key, KRYPT7_SECRET_KEY, or the keychain when keychain unlock is on). The
    /// session ends at `krypt7 lock`, a newer unlock, or after --hours (default 12).
    ///
    /// On a terminal, without --password-stdin or --keychain, the password (and the Secret
    /// Key if this device has none) is asked, hidden, and only `export KRYPT7_SESSION=…` goes
    /// to standard output: `eval "$(krypt7 unlock)"`.
    Unlock {
        #[arg(long, env = "KRYPT7_SECRET_KEY", hide_env_values = true)]
        secret_key: Option<String>,
        #[arg(long, conflicts_with = "keychain")]
        password_stdin: bool,
        #[arg(long)]
        keychain: bool,
        /// How long the session lasts, in hours (1 to 720).
        #[arg(long, default_value_t = 12, value_parser = clap::value_parser!(u64).range(1..=720))]
        hours: u64,
        /// A second-factor code, for the one unlock through the server after the password
        /// was changed on another device (when the account has a second factor).
        #[arg(long)]
        code: Option<String>,
    },
    /// OS keychain unlock on this device.
    #[command(subcommand)]
    Keychain(KeychainCommand),
    /// End the session: the cache holds nothing usable without the password again.
    Lock,
    /// Account, server, lock state and pending changes.
    Status {
        #[command(flatten)]
        keys: Keys,
    },
    /// Pull others' changes and push this device's (--watch: again at each change, until
    /// interrupted).
    Sync {
        #[command(flatten)]
        keys: Keys,
        #[arg(long)]
        watch: bool,
    },
    /// Items.
    #[command(subcommand)]
    Item(ItemCommand),
    /// The account: details, second factors, sessions, usage, deletion.
    Account {
        #[command(subcommand)]
        cmd: AccountCommand,
        #[command(flatten)]
        keys: Keys,
    },
    /// Export the whole vault: `--format json --plaintext` (readable by anyone with the file)
    /// or `--format encrypted` (sealed under an export password read from
    /// KRYPT7_EXPORT_PASSWORD).
    Export {
        #[arg(long, value_parser = ["json", "encrypted"])]
        format: String,
        #[arg(long)]
        out: PathBuf,
        /// Required for --format json: the file will hold every secret in clear.
        #[arg(long)]
        plaintext: bool,
        #[arg(long, env = "KRYPT7_EXPORT_PASSWORD", hide_env_values = true)]
        export_password: Option<String>,
        #[command(flatten)]
        keys: Keys,
    },
    /// Import another manager's export (Bitwarden JSON, browser, LastPass, KeePassXC,
    /// NordPass, Dashlane or any CSV) into the vault, and report every field that did not
    /// map one to one. Items already here from an earlier import are not added again.
    Import(import::ImportArgs),
    /// Search titles, usernames, URLs, tags, notes and contact fields (prefix, one typo).
    Search {
        query: String,
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        folder: Option<String>,
        #[arg(long)]
        tag: Option<String>,
        /// Include items in the trash.
        #[arg(long)]
        trashed: bool,
        #[command(flatten)]
        keys: Keys,
    },
    /// Signed, end-to-end encrypted mail between users of this server.
    Mail {
        #[command(subcommand)]
        cmd: mail::MailCommand,
        #[command(flatten)]
        keys: Keys,
    },
    /// Encrypted files: upload, download (fingerprint checked), list, move to the trash.
    File {
        #[command(subcommand)]
        cmd: FileCommand,
        #[command(flatten)]
        keys: Keys,
    },
    /// Keep a local directory in step with a vault folder's files.
    ///
    /// What appears or changes there is uploaded, what arrives is written, a deleted file's
    /// item goes to the vault trash, and a file changed on two sides keeps both.
    Folder {
        #[command(subcommand)]
        cmd: FolderCommand,
        #[command(flatten)]
        keys: Keys,
    },
    /// Folders in use, with their item counts.
    Folders {
        #[command(flatten)]
        keys: Keys,
    },
    /// Tags in use, with their item counts.
    Tags {
        #[command(flatten)]
        keys: Keys,
    },
    /// The item kinds and their standard fields.
    Kinds,
    /// Other users' public keys, pinned on first sight, and this account's fingerprint.
    #[command(name = "keys")]
    PublicKeys {
        #[command(subcommand)]
        cmd: KeysCommand,
        #[command(flatten)]
        keys: Keys,
    },
    /// The current one-time code of a login item.
    Totp {
        id: String,
        #[command(flatten)]
        keys: Keys,
    },
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell).
    Completions { shell: clap_complete::Shell },
    /// Write the manual pages (krypt7.1 and one per subcommand) into DIR (for packagers).
    #[command(hide = true)]
    Man { dir: PathBuf },
    /// Generate a password (default) or a passphrase (EFF large wordlist).
    Generate {
        #[arg(long)]
        passphrase: bool,
        /// Password length.
        #[arg(long, default_value_t = 20)]
        length: usize,
        /// Passphrase words.
        #[arg(long, default_value_t = 6)]
        words: usize,
        #[arg(long, default_value = "-")]
        separator: String,
        #[arg(long)]
        capitalize: bool,
        /// Add a digit to the passphrase.
        #[arg(long)]
        digit: bool,
        #[arg(long)]
        no_symbols: bool,
        #[arg(long)]
        no_digits: bool,
        /// Keep look-alike characters (I, l, 1, O, 0, o).
        #[arg(long)]
        allow_lookalikes: bool,
    },
}

#[derive(Subcommand)]
enum KeychainCommand {
    /// Keep a device key and the Secret Key in the OS keychain, for password-less unlock.
    /// (On a terminal, without --password-stdin, the password and the Secret Key are asked.)
    Enable {
        #[arg(long, env = "KRYPT7_SECRET_KEY", hide_env_values = true)]
        secret_key: Option<String>,
        #[arg(long)]
        password_stdin: bool,
    },
    /// Delete both keychain entries; unlock needs the password again (asked on a terminal;
    /// --yes in a script).
    Disable {
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// This account's fingerprint, to read out to others.
    Mine,
    /// A user's keys and fingerprint (pinned the first time; refused if they change).
    Show { username: String },
    /// Mark a user's pinned key verified after comparing fingerprints with them.
    Verify {
        username: String,
        fingerprint: String,
    },
    /// Accept a user's new keys (after a change the server reports) once you compared the
    /// offered fingerprint with them: it replaces the pinned key, verified.
    Accept {
        username: String,
        fingerprint: String,
    },
    /// Every pinned key.
    List,
}

struct Failure(ClientError);

impl From<ClientError> for Failure {
    fn from(e: ClientError) -> Self {
        Failure(e)
    }
}

type Out = Result<Value, Failure>;

fn data_dir(cli: &Cli) -> PathBuf {
    cli.data_dir.clone().unwrap_or_else(|| {
        std::env::var_os("XDG_DATA_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
            .unwrap_or_else(|| PathBuf::from("."))
            .join("krypt7")
    })
}

/// For sign-up and sign-in, which must be told the server.
fn open_new(cli: &Cli) -> Result<Client, Failure> {
    if cli.server.is_none() {
        return Err(Failure(ClientError::Invalid(
            "give the server URL (--server or KRYPT7_SERVER)".into(),
        )));
    }
    open(cli)
}

fn open(cli: &Cli) -> Result<Client, Failure> {
    let ca = match &cli.ca {
        Some(p) => Some(std::fs::read(p).map_err(|e| {
            ClientError::Invalid(format!("cannot read the CA file {}: {e}", p.display()))
        })?),
        None => None,
    };
    Ok(Client::open(
        &data_dir(cli),
        cli.server.as_deref(),
        ca.as_deref(),
    )?)
}

fn read_password() -> Result<Zeroizing<String>, Failure> {
    let mut s = Zeroizing::new(String::new());
    std::io::stdin()
        .read_to_string(&mut s)
        .map_err(|e| ClientError::Invalid(format!("cannot read the password: {e}")))?;
    let trimmed = Zeroizing::new(s.trim_end_matches(['\n', '\r']).to_string());
    if trimmed.is_empty() {
        return Err(ClientError::Invalid("no password on standard input".into()).into());
    }
    Ok(trimmed)
}

fn secret_key(s: &str) -> Result<SecretKey, Failure> {
    Ok(SecretKey::parse(s).map_err(ClientError::from)?)
}

/// The password and Secret Key the command was given (`--password-stdin`).
type Credentials = (Zeroizing<String>, SecretKey);

/// No password: not on a terminal (where it would be asked), nor on standard input.
fn password_needed() -> ClientError {
    ClientError::Invalid(
        "give the password on standard input with --password-stdin (on a terminal it is asked)"
            .into(),
    )
}

fn no_password() -> ClientError {
    ClientError::Invalid(
        "confirm this with the password: give --password-stdin and the Secret Key".into(),
    )
}

/// What a dangerous change is confirmed with (a step-up): the password and Secret Key
/// (given with --password-stdin, or asked at a terminal), and the second factor's code when
/// one is on (--code, or asked at a terminal once the server says which).
fn confirm<'a>(
    credentials: Option<&'a Credentials>,
    code: Option<&'a str>,
) -> Result<Confirm<'a>, ClientError> {
    let (pw, sk) = credentials.ok_or_else(no_password)?;
    Ok(Confirm {
        password: pw,
        secret_key: sk,
        code: code_source(code),
    })
}

/// A second factor's code: the one given, else asked at a terminal when the server needs
/// one, else none (the error then says which is needed).
fn code_source(code: Option<&str>) -> Code<'_> {
    match code {
        Some(c) => Code::Given(Some(c)),
        None if prompt::interactive() => Code::Ask(&prompt::code),
        None => Code::Given(None),
    }
}

/// A destructive command goes ahead with `--yes` (`flag`), or when the person at the
/// terminal answers yes to `question`; a script without the flag is refused.
fn confirmed(yes: bool, question: &str, flag: &str) -> Result<(), Failure> {
    if yes {
        return Ok(());
    }
    if !prompt::interactive() {
        return Err(Failure(ClientError::Invalid(format!(
            "this cannot be undone: add {flag} to confirm (nothing was changed)"
        ))));
    }
    if prompt::yes(question) {
        Ok(())
    } else {
        Err(Failure(ClientError::Invalid(
            "not confirmed: nothing was changed".into(),
        )))
    }
}

/// The current and the new password, one line each on standard input.
fn read_password_change() -> Result<(Zeroizing<String>, Zeroizing<String>), Failure> {
    let both = read_password()?;
    match both.split_once('\n') {
        Some((current, new)) if !current.is_empty() && !new.trim_end_matches('\r').is_empty() => {
            Ok((
                Zeroizing::new(current.trim_end_matches('\r').to_string()),
                Zeroizing::new(new.trim_end_matches('\r').to_string()),
            ))
        }
        _ => Err(ClientError::Invalid(
            "give the current password and the new one on standard input, one line each".into(),
        )
        .into()),
    }
}

/// Unlocks with the password on stdin and the Secret Key, or with KRYPT7_SESSION, or (at a
/// terminal, without either or when the session ended) by asking. Returns the password and
/// Secret Key when they were given or asked, for a command that confirms with them too.
fn unlock(c: &mut Client, k: &Keys) -> Result<Option<Credentials>, Failure> {
    unlock_with(c, k, None)
}

/// As [`unlock`], with the password already read (`password`) when given.
fn unlock_with(
    c: &mut Client,
    k: &Keys,
    password: Option<Zeroizing<String>>,
) -> Result<Option<Credentials>, Failure> {
    if k.password_stdin {
        let sk = k.secret_key.as_deref().ok_or_else(|| {
            ClientError::Invalid(
                "--password-stdin needs the Secret Key (--secret-key or KRYPT7_SECRET_KEY)".into(),
            )
        })?;
        let pw = match password {
            Some(p) => p,
            None => read_password()?,
        };
        let sk = secret_key(sk)?;
        c.unlock(&pw, &sk)?;
        return Ok(Some((pw, sk)));
    }
    let interactive = prompt::interactive();
    match k.session.as_deref().map(|s| c.resume_session(s)) {
        Some(Ok(())) => return Ok(None),
        Some(Err(ClientError::Locked)) if interactive => {
            eprintln!("The session ended (`krypt7 lock`, a newer unlock, or its time ran out).");
        }
        Some(Err(e)) => return Err(e.into()),
        None if interactive => {}
        None => return Err(ClientError::Locked.into()),
    }
    Ok(Some(unlock_asking(c, k.secret_key.as_deref(), false)?.0))
}

/// Unlocks by asking at a terminal: the Secret Key (given, kept in the OS keychain, or
/// asked, its check symbol checked as typed), then the password, asked again when wrong
/// (three tries). With `online`, a password or Secret Key changed on another device is not
/// an error: the second value says the unlock must go through the server.
fn unlock_asking(
    c: &mut Client,
    sk: Option<&str>,
    online: bool,
) -> Result<(Credentials, bool), Failure> {
    let sk = match sk {
        Some(s) => secret_key(s)?,
        // A keychain that holds none, or cannot be reached, means asking.
        None => match c.keychain_secret_key() {
            Ok(Some(k)) => k,
            Ok(None) | Err(_) => prompt::secret_key()?,
        },
    };
    let mut tries = 3;
    loop {
        tries -= 1;
        let pw = prompt::password()?;
        match c.unlock(&pw, &sk) {
            Err(ClientError::PasswordChanged | ClientError::SecretKeyChanged) if online => {
                return Ok(((pw, sk), true));
            }
            Err(ClientError::WrongCredentials) if tries > 0 => {
                eprintln!("Wrong password or Secret Key; type the password again.");
            }
            r => {
                r?;
                return Ok(((pw, sk), false));
            }
        }
    }
}

fn labels_json(labels: Vec<(String, usize)>) -> Value {
    Value::Array(
        labels
            .into_iter()
            .map(|(name, items)| json!({"name": name, "items": items}))
            .collect(),
    )
}

fn sync_json(c: &Client, r: &SyncReport) -> Out {
    Ok(
        json!({"pushed": r.pushed, "pulled": r.pulled, "merged": r.merged, "conflict_copies": r.conflict_copies,
           "verified": r.verified, "cursor": r.cursor, "last_change": last_change(c)?,
           "mail_received": r.mail_received, "mail_sent": r.mail_sent}),
    )
}

/// Who changed the vault last and when, from its newest verified manifest: "vault changed
/// by <device> at <time>" (a server hiding another device's changes shows as a stale one).
fn last_change(c: &Client) -> Out {
    let heads = c.heads()?;
    Ok(heads
        .iter()
        .map(|h| {
            let by = match (&h.device_name, h.by_this_device) {
                (Some(n), true) => format!("{n} (this device)"),
                (Some(n), false) => n.clone(),
                (None, _) => "a device".into(),
            };
            let at = h.time_ms.map_or_else(String::new, |ms| {
                let t = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
                format!(" at {}", humantime::format_rfc3339_seconds(t))
            });
            Value::String(format!("vault changed by {by}{at} (version {})", h.version))
        })
        .next()
        .unwrap_or(Value::Null))
}

/// `sync --watch`: sync now, then again each time the push channel announces a change
/// beyond this device's cursor. A dropped channel (server restart, network change) is
/// reopened with a growing delay, syncing once each time, so nothing is missed. Offline is
/// waited out; an integrity failure stops the loop. Run on a CLI session, it stops when the
/// session ends (`krypt7 lock`, or a newer `krypt7 unlock`): it looks every
/// [`SESSION_CHECK`], then drops its keys and ends.
async fn watch_loop(cli: &Cli, c: &mut Client, session: Option<&str>) -> Out {
    let ended = |c: &Client| -> Result<bool, Failure> {
        Ok(match session {
            Some(s) => !c.session_holds(s)?,
            None => false,
        })
    };
    let stopped = || {
        eprintln!("krypt7: the session ended; stopped watching");
        json!({"watching": false, "reason": "session ended"})
    };
    let mut check = tokio::time::interval(SESSION_CHECK);
    let mut delay = 1u64;
    loop {
        match c.sync().await {
            Ok(r) => print_line(cli, &sync_json(c, &r)?),
            Err(ClientError::Offline(why)) => eprintln!("krypt7: offline ({why}); retrying"),
            Err(e) => return Err(e.into()),
        }
        let mut events = match c.events().await {
            Ok(events) => {
                delay = 1;
                Some(events)
            }
            Err(e) => {
                eprintln!("krypt7: push channel unavailable ({e}); retrying in {delay} s");
                None
            }
        };
        // The events until the channel ends, then a pause before it is opened again; the
        // session is looked at throughout.
        while let Some(ev) = events.as_mut() {
            tokio::select! {
                _ = check.tick() => if ended(&*c)? { return Ok(stopped()) },
                next = ev.next() => match next.ok().flatten() {
                    Some(cursor) if cursor > c.cursor()? => match c.sync().await {
                        Ok(r) => print_line(cli, &sync_json(c, &r)?),
                        Err(ClientError::Offline(_)) => events = None,
                        Err(e) => return Err(e.into()),
                    },
                    Some(_) => {}
                    None => events = None,
                },
            }
        }
        let pause = tokio::time::sleep(std::time::Duration::from_secs(delay));
        tokio::pin!(pause);
        loop {
            tokio::select! {
                _ = check.tick() => if ended(&*c)? { return Ok(stopped()) },
                _ = &mut pause => break,
            }
        }
        delay = (delay * 2).min(60);
    }
}

/// How often `sync --watch` looks whether its session still holds.
const SESSION_CHECK: std::time::Duration = std::time::Duration::from_secs(1);

fn parse_id(s: &str) -> Result<Uuid, Failure> {
    s.parse()
        .map_err(|_| Failure(ClientError::Invalid(format!("{s:?} is not an item id"))))
}

async fn run(cli: &Cli) -> Out {
    match &cli.command {
        Command::Signup {
            username,
            email,
            phone,
            kit,
            password_stdin,
        } => {
            let mut c = open_new(cli)?;
            // A person at a terminal is guided: what the Secret Key is, the password asked
            // twice with its strength, the Emergency Kit written and its keeping confirmed.
            let guided = !password_stdin && prompt::interactive();
            let pw = if *password_stdin {
                read_password()?
            } else if guided {
                prompt::explain_signup(username, c.server());
                prompt::new_password("New password", username)?
            } else {
                return Err(password_needed().into());
            };
            let sk = c
                .signup(username, &pw, email.as_deref(), phone.as_deref())
                .await?;
            let kit = match kit {
                Some(path) => Some(path.clone()),
                None if guided => Some(prompt::kit_path(username)),
                None => None,
            };
            let mut written = vec![];
            if let Some(path) = &kit {
                let (text, html) = c.emergency_kit(&sk)?;
                for (ext, bytes) in [("txt", text.as_bytes()), ("html", html.as_bytes())] {
                    let file = path.with_extension(ext);
                    write_private(&file, bytes)?;
                    written.push(file);
                }
            }
            let created = json!({"secret_key": sk.to_human().as_str(), "username": username});
            if !guided || cli.json {
                return Ok(created);
            }
            print_line(cli, &created);
            prompt::kit_kept(&written);
            Ok(Value::Null)
        }
        Command::Login {
            username,
            secret_key: sk,
            code,
            password_stdin,
        } => {
            let asked = !password_stdin && prompt::interactive();
            let sk = match sk {
                Some(s) => secret_key(s)?,
                None if asked => prompt::secret_key()?,
                None => {
                    return Err(ClientError::Invalid(
                        "give the Secret Key (--secret-key or KRYPT7_SECRET_KEY)".into(),
                    )
                    .into());
                }
            };
            let pw = if *password_stdin {
                read_password()?
            } else if asked {
                prompt::password()?
            } else {
                return Err(password_needed().into());
            };
            // This device's account, whose session ended: signed in again, nothing lost.
            if let Ok(mut c) = open(cli)
                && c.account_id()?.is_some()
            {
                let same = c
                    .username()?
                    .is_some_and(|u| u.eq_ignore_ascii_case(username.trim()));
                if !same {
                    return Err(ClientError::AlreadySetUp.into());
                }
                c.unlock(&pw, &sk)?;
                output::show_progress(cli, &mut c);
                c.sign_in_again(&pw, &sk, code_source(code.as_deref()))
                    .await?;
                let r = c.sync().await?;
                return Ok(
                    json!({"username": username, "items": r.pulled, "signed_in_again": true}),
                );
            }
            let mut c = open_new(cli)?;
            output::show_progress(cli, &mut c);
            let r = c
                .login(username, &pw, &sk, code_source(code.as_deref()))
                .await?;
            Ok(json!({"username": username, "items": r.pulled}))
        }
        Command::Unlock {
            secret_key: sk,
            keychain,
            password_stdin,
            hours,
            code,
        } => {
            let asked = !keychain && !password_stdin && prompt::interactive();
            if !keychain && !password_stdin && !asked {
                return Err(Failure(ClientError::Invalid(
                    "unlock with --password-stdin or --keychain (or run it in a terminal, to be asked)"
                        .into(),
                )));
            }
            let mut c = open(cli)?;
            if *keychain {
                c.unlock_with_keychain()?;
            } else {
                let ((pw, sk), online) = if asked {
                    unlock_asking(&mut c, sk.as_deref(), true)?
                } else {
                    let sk = match sk {
                        Some(s) => secret_key(s)?,
                        None => c.keychain_secret_key()?.ok_or_else(|| {
                            ClientError::Invalid(
                                "give the Secret Key (--secret-key or KRYPT7_SECRET_KEY)".into(),
                            )
                        })?,
                    };
                    let pw = read_password()?;
                    match c.unlock(&pw, &sk) {
                        Err(ClientError::PasswordChanged | ClientError::SecretKeyChanged) => {
                            ((pw, sk), true)
                        }
                        r => r.map(|()| ((pw, sk), false))?,
                    }
                };
                // The password (or the Secret Key: this is the new one) was changed on
                // another device: once, through the server.
                if online {
                    c.unlock_online(&pw, &sk, code_source(code.as_deref()))
                        .await?;
                }
            }
            let lifetime = std::time::Duration::from_secs(hours * 3600);
            let session = c.start_session(lifetime)?;
            if asked && !cli.json {
                // Only the line to evaluate on standard output.
                eprintln!(
                    "Unlocked. This session lasts {hours} h, until `krypt7 lock` or a newer \
                     unlock; use it in this shell with: eval \"$(krypt7 unlock)\""
                );
                return Ok(json!({"export": format!("export KRYPT7_SESSION={session}")}));
            }
            Ok(json!({"session": session}))
        }
        Command::Keychain(KeychainCommand::Enable {
            secret_key: sk,
            password_stdin,
        }) => {
            let mut c = open(cli)?;
            let sk = if !password_stdin && prompt::interactive() {
                unlock_asking(&mut c, sk.as_deref(), false)?.0.1
            } else if !password_stdin {
                return Err(password_needed().into());
            } else {
                let sk = secret_key(sk.as_deref().ok_or_else(|| {
                    ClientError::Invalid(
                        "give the Secret Key (--secret-key or KRYPT7_SECRET_KEY)".into(),
                    )
                })?)?;
                c.unlock(&read_password()?, &sk)?;
                sk
            };
            c.enable_keychain_unlock(&sk)?;
            Ok(json!({"keychain_unlock": true}))
        }
        Command::Keychain(KeychainCommand::Disable { yes }) => {
            confirmed(
                *yes,
                "Turn keychain unlock off on this device (unlocking then needs the password)?",
                "--yes",
            )?;
            open(cli)?.disable_keychain_unlock()?;
            Ok(json!({"keychain_unlock": false}))
        }
        Command::Lock => {
            open(cli)?.lock()?;
            Ok(json!({"locked": true}))
        }
        Command::Status { keys } => {
            let mut c = open(cli)?;
            // Looked at, never asked for.
            let unlocked = if keys.password_stdin {
                unlock(&mut c, keys).is_ok()
            } else {
                keys.session
                    .as_deref()
                    .is_some_and(|s| c.resume_session(s).is_ok())
            };
            let changed = if unlocked {
                last_change(&c)?
            } else {
                Value::Null
            };
            Ok(
                json!({"username": c.username()?, "server": c.server(), "unlocked": unlocked, "pending": c.pending()?,
                       "last_change": changed}),
            )
        }
        Command::Sync { keys, watch } => {
            let mut c = open(cli)?;
            unlock(&mut c, keys)?;
            output::show_progress(cli, &mut c);
            if *watch {
                let session = keys.session.as_deref().filter(|_| !keys.password_stdin);
                return watch_loop(cli, &mut c, session).await;
            }
            let r = c.sync().await?;
            sync_json(&c, &r)
        }
        Command::Completions { shell } => {
            use clap::CommandFactory;
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut Cli::command(), "krypt7", &mut out);
            Ok(Value::String(String::from_utf8_lossy(&out).into_owned()))
        }
        Command::Man { dir } => {
            use clap::CommandFactory;
            let written = output::man_pages(Cli::command(), dir)
                .map_err(|e| ClientError::Invalid(format!("cannot write the manual pages: {e}")))?;
            Ok(json!({"dir": dir, "pages": written}))
        }
        Command::Totp { id, keys } => {
            let mut c = open(cli)?;
            unlock(&mut c, keys)?;
            let code = c.totp(parse_id(id)?)?;
            Ok(json!({"code": code.code, "seconds_left": code.seconds_left}))
        }
        Command::Generate {
            passphrase,
            length,
            words,
            separator,
            capitalize,
            digit,
            no_symbols,
            no_digits,
            allow_lookalikes,
        } => {
            use krypt7_client::generator;
            let g = if *passphrase {
                generator::passphrase(&generator::PassphraseRules {
                    words: *words,
                    separator: separator.clone(),
                    capitalize: *capitalize,
                    digit: *digit,
                })?
            } else {
                generator::password(&generator::PasswordRules {
                    length: *length,
                    lowercase: true,
                    uppercase: true,
                    digits: !no_digits,
                    symbols: !no_symbols,
                    exclude_lookalikes: !allow_lookalikes,
                })?
            };
            Ok(
                json!({"value": g.value.as_str(), "entropy_bits": (g.entropy_bits * 10.0).round() / 10.0}),
            )
        }
        Command::Account { cmd, keys } => account::run(cli, cmd, keys).await,
        Command::Export {
            format,
            out,
            plaintext,
            export_password,
            keys,
        } => {
            let mut c = open(cli)?;
            unlock(&mut c, keys)?;
            let bytes = if format == "json" {
                let asked = || {
                    prompt::interactive()
                        && prompt::yes(
                            "The file will hold every secret in clear, readable by anyone who \
                             gets it. Write it?",
                        )
                };
                if !(*plaintext || asked()) {
                    return Err(Failure(ClientError::Invalid(
                        "a JSON export holds every secret in clear: add --plaintext to confirm, or use --format encrypted".into(),
                    )));
                }
                let working = output::spinner(cli, "Exporting the vault");
                let bytes = Zeroizing::new(
                    serde_json::to_vec_pretty(&c.export_json()?)
                        .map_err(|e| ClientError::Invalid(e.to_string()))?,
                );
                drop(working);
                bytes
            } else {
                let pw = match export_password {
                    Some(p) => Zeroizing::new(p.clone()),
                    None if prompt::interactive() => prompt::new_password("Export password", "")?,
                    None => {
                        return Err(Failure(ClientError::Invalid(
                            "set KRYPT7_EXPORT_PASSWORD for an encrypted export".into(),
                        )));
                    }
                };
                let working = output::spinner(cli, "Exporting and encrypting the vault");
                let bytes = Zeroizing::new(c.export_encrypted(&pw)?);
                drop(working);
                bytes
            };
            write_private(out, &bytes)?;
            Ok(json!({"out": out, "bytes": bytes.len(), "format": format}))
        }
        Command::Search {
            query,
            kind,
            folder,
            tag,
            trashed,
            keys,
        } => {
            let kind = match kind {
                Some(k) => Some(ItemKind::parse(k).ok_or_else(|| {
                    Failure(ClientError::Invalid(format!("unknown item kind {k:?}")))
                })?),
                None => None,
            };
            let mut c = open(cli)?;
            unlock(&mut c, keys)?;
            let filter = krypt7_client::search::Filter {
                kind,
                folder: folder.clone(),
                tag: tag.clone(),
                include_trashed: *trashed,
                ..Default::default()
            };
            Ok(Value::Array(
                c.search(query, &filter)?
                    .iter()
                    .map(items::item_json)
                    .collect(),
            ))
        }
        Command::Item(cmd) => items::run(cli, cmd).await,
        Command::Mail { cmd, keys } => mail::run(cli, cmd, keys).await,
        Command::Import(args) => import::run(cli, args).await,
        Command::Folders { keys } => {
            let mut c = open(cli)?;
            unlock(&mut c, keys)?;
            Ok(labels_json(c.folders()?))
        }
        Command::Tags { keys } => {
            let mut c = open(cli)?;
            unlock(&mut c, keys)?;
            Ok(labels_json(c.tags()?))
        }
        Command::PublicKeys { cmd, keys } => {
            let mut c = open(cli)?;
            unlock(&mut c, keys)?;
            let peer = |p: &PeerKeys| -> Result<Value, Failure> {
                Ok(json!({"username": p.username, "account_id": p.account_id,
                          "fingerprint": p.fingerprint()?, "verified": p.verified}))
            };
            match cmd {
                KeysCommand::Mine => Ok(json!({"fingerprint": c.own_fingerprint()?})),
                KeysCommand::Show { username } => peer(&c.peer_keys(username).await?),
                KeysCommand::Verify {
                    username,
                    fingerprint,
                } => peer(&c.verify_peer(username, fingerprint)?),
                KeysCommand::Accept {
                    username,
                    fingerprint,
                } => peer(&c.accept_changed_key(username, fingerprint).await?),
                KeysCommand::List => Ok(Value::Array(
                    c.pinned_peers()?
                        .iter()
                        .map(peer)
                        .collect::<Result<_, _>>()?,
                )),
            }
        }
        Command::File { cmd, keys } => files::run(cli, cmd, keys).await,
        Command::Folder { cmd, keys } => files::folder(cli, cmd, keys).await,
        Command::Kinds => Ok(Value::Array(
            ItemKind::ALL
                .iter()
                .map(|k| json!({"kind": k, "fields": k.fields()}))
                .collect(),
        )),
    }
}

fn exit_code(e: &ClientError) -> u8 {
    match e.code() {
        "locked" | "wrong_credentials" | "no_account" | "signed_out" | "password_changed"
        | "secret_key_changed" => 3,
        "offline" => 4,
        "integrity" | "key_changed" | "untrusted_server" => 5,
        _ => 1,
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("krypt7: cannot start: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(&cli)) {
        // Shown already, as the command went (a guided sign-up).
        Ok(Value::Null) if !cli.json => ExitCode::SUCCESS,
        Ok(v) => {
            let text = output::render(&cli, &v);
            // A reader that stops early (`krypt7 … | head`) is not an error.
            match writeln!(std::io::stdout(), "{text}") {
                Err(e) if e.kind() != std::io::ErrorKind::BrokenPipe => {
                    eprintln!("krypt7: cannot write the output: {e}");
                    ExitCode::FAILURE
                }
                _ => ExitCode::SUCCESS,
            }
        }
        Err(Failure(e)) => {
            if cli.json {
                eprintln!(
                    "{}",
                    json!({"error": {"code": e.code(), "message": e.to_string()}})
                );
            } else {
                eprintln!("krypt7: {e}");
            }
            ExitCode::from(exit_code(&e))
        }
    }
}
