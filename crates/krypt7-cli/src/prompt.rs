//! Asking a person at a terminal: hidden input for the password and the Secret Key, read
//! from and written to the terminal itself (`/dev/tty`), never echoed, never left in a shell
//! history. Only when standard input and standard error are both a terminal: a script's
//! interface (`--password-stdin`, `KRYPT7_SESSION`, `--json`) is unchanged.

use std::io::IsTerminal;
use std::path::PathBuf;

use krypt7_client::{ClientError, SecondFactor};
use krypt7_crypto::secret_key::SecretKey;
use zeroize::Zeroizing;

/// How many times a wrong entry is asked again before giving up.
const TRIES: usize = 5;

/// A person is at a terminal (standard input and standard error are both one).
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

pub fn ask(label: &str) -> Result<Zeroizing<String>, ClientError> {
    rpassword::prompt_password(format!("{label}: "))
        .map(Zeroizing::new)
        .map_err(|e| ClientError::Invalid(format!("cannot read from the terminal: {e}")))
}

/// The password, typed hidden (not empty).
pub fn password() -> Result<Zeroizing<String>, ClientError> {
    for _ in 0..TRIES {
        let p = ask("Password")?;
        if !p.is_empty() {
            return Ok(p);
        }
        eprintln!("The password is empty; type it again.");
    }
    Err(ClientError::Invalid("no password given".into()))
}

/// A new password (`what`: which one), typed twice (at least 8 characters, the same both times), its strength
/// shown after the first entry; a weak one is kept only when the person says so.
pub fn new_password(what: &str, username: &str) -> Result<Zeroizing<String>, ClientError> {
    for _ in 0..TRIES {
        let first = ask(&format!("{what} (at least 8 characters)"))?;
        if first.chars().count() < 8 {
            eprintln!("That is shorter than 8 characters; choose a longer one.");
            continue;
        }
        let weak = strength(&first, username);
        if weak && !yes("Use this weak password anyway?") {
            continue;
        }
        let again = ask("The same password again")?;
        if *again == *first {
            return Ok(first);
        }
        eprintln!("The two passwords differ; type them again.");
    }
    Err(ClientError::Invalid("no new password given".into()))
}

/// Shows how guessable `password` is (zxcvbn: dictionaries, keyboard patterns, dates, the
/// username); true when it is weak (1 of 4 or less). What guards the account is the
/// password with the Secret Key: the estimate is for the password alone.
fn strength(password: &str, username: &str) -> bool {
    let e = zxcvbn::zxcvbn(password, &[username]);
    let score = u8::from(e.score());
    let word = ["very weak", "weak", "fair", "good", "strong"][usize::from(score.min(4))];
    let advice = e.feedback().map(|f| format!(" {f}")).unwrap_or_default();
    eprintln!("Strength: {word} ({score} of 4).{advice}");
    score <= 1
}

/// The Secret Key, typed hidden, checked against its check symbol as it is read (a typo is
/// asked again).
pub fn secret_key() -> Result<SecretKey, ClientError> {
    for _ in 0..TRIES {
        let typed = ask("Secret Key (from your Emergency Kit)")?;
        match SecretKey::parse(&typed) {
            Ok(sk) => return Ok(sk),
            Err(e) => eprintln!("That Secret Key is not right ({e}); type it again."),
        }
    }
    Err(ClientError::Invalid("no valid Secret Key given".into()))
}

/// A line typed in view (not a secret), trimmed; `None` at the end of input.
fn line(label: &str) -> Option<String> {
    eprint!("{label}");
    let mut s = String::new();
    match std::io::stdin().read_line(&mut s) {
        Ok(0) | Err(_) => None,
        Ok(_) => Some(s.trim().to_string()),
    }
}

/// A second factor's code, asked once the server says which one it needs (an SMS has just
/// been sent). A one-time code, shown as typed.
pub fn code(kind: SecondFactor) -> Option<Zeroizing<String>> {
    let label = match kind {
        SecondFactor::Totp => "Code from your authenticator app: ",
        SecondFactor::Sms => "Code sent to your phone by SMS: ",
    };
    (0..TRIES)
        .filter_map(|_| line(label).filter(|c| !c.is_empty()))
        .next()
        .map(Zeroizing::new)
}

/// Asks `question` [y/N]; only an explicit yes is a yes.
pub fn yes(question: &str) -> bool {
    line(&format!("{question} [y/N] "))
        .is_some_and(|a| matches!(a.to_lowercase().as_str(), "y" | "yes"))
}

/// Asks for `expected` to be typed again (a username before deleting the account); true
/// when it was, exactly.
pub fn typed(question: &str, expected: &str) -> bool {
    line(&format!("{question}: ")).is_some_and(|a| a == expected)
}

/// What sign-up makes, said before the password is chosen.
pub fn explain_signup(username: &str, server: &str) {
    eprintln!(
        "Creating the KRYPT7 account {username} on {server}.\n\n\
         Two secrets protect it: the password you choose now, and a Secret Key this device \
         makes.\nSigning in on another device needs both. Nobody can reset them for you: \
         not KRYPT7, not the server.\nThe Secret Key goes into your Emergency Kit, written \
         next, to print or keep somewhere safe.\n"
    );
}

/// Where a guided sign-up writes the Emergency Kit: `~/krypt7-emergency-kit-USERNAME` (.txt
/// and .html), numbered when those exist already (nothing is overwritten).
pub fn kit_path(username: &str) -> PathBuf {
    let dir = std::env::var_os("HOME").map_or_else(|| PathBuf::from("."), PathBuf::from);
    let safe: String = username
        .chars()
        .map(|c| {
            if c.is_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect();
    (1..)
        .map(|n| {
            let suffix = if n == 1 {
                String::new()
            } else {
                format!("-{n}")
            };
            dir.join(format!("krypt7-emergency-kit-{safe}{suffix}"))
        })
        .find(|p| !p.with_extension("txt").exists() && !p.with_extension("html").exists())
        .unwrap_or_else(|| dir.join("krypt7-emergency-kit"))
}

/// Names the Emergency Kit's files and asks the person to confirm they stored it.
pub fn kit_kept(files: &[PathBuf]) {
    eprintln!("\nYour Emergency Kit (readable by you only):");
    for f in files {
        eprintln!("  {}", f.display());
    }
    eprintln!(
        "Print it, or copy it somewhere safe off this computer (a password manager is not \
         enough: this one needs the kit to open). Then delete the files here."
    );
    for _ in 0..TRIES {
        if yes("Have you stored your Emergency Kit?") {
            eprintln!("Good. Next: `eval \"$(krypt7 unlock)\"` in a shell where you use krypt7.");
            return;
        }
        eprintln!("Without the Secret Key in it, a new device cannot open this account.");
    }
    eprintln!("Store it before you rely on this account: it is in the files above.");
}
