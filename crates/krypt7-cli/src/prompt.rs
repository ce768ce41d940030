//! Asking a person at a terminal: hidden input for the password and the Secret Key, read
//! from and written to the terminal itself (`/dev/tty`), never echoed, never left in a shell
//! history. Only when standard input and standard error are both a terminal: a script's
//! interface (`--password-stdin`, `KRYPT7_SESSION`, `--json`) is unchanged.

use std::io::IsTerminal;

use krypt7_client::ClientError;
use krypt7_crypto::secret_key::SecretKey;
use zeroize::Zeroizing;

/// How many times a wrong entry is asked again before giving up.
const TRIES: usize = 3;

/// A person is at a terminal (standard input and standard error are both one).
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && std::io::stderr().is_terminal()
}

fn ask(label: &str) -> Result<Zeroizing<String>, ClientError> {
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

/// A new password, typed twice (at least 8 characters, the same both times).
pub fn new_password() -> Result<Zeroizing<String>, ClientError> {
    for _ in 0..TRIES {
        let first = ask("New password (at least 8 characters)")?;
        if first.chars().count() < 8 {
            eprintln!("That is shorter than 8 characters; choose a longer one.");
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
