//! `krypt7 account …`: the account's profile, password, Secret Key, second factors, devices,
//! sign-in attempts and deletion, each change confirmed with the password (and the current
//! second factor's code).

use clap::Subcommand;
use serde_json::json;

use crate::*;

#[derive(Subcommand)]
pub(crate) enum AccountCommand {
    Info,
    /// Change username, email or phone ("" removes email or phone); no history is kept.
    /// Confirmed with the password (--password-stdin and the Secret Key) and --code.
    Update {
        #[arg(long)]
        username: Option<String>,
        #[arg(long)]
        email: Option<String>,
        #[arg(long)]
        phone: Option<String>,
        /// The current second factor's code, if one is on.
        #[arg(long)]
        code: Option<String>,
    },
    /// Authenticator app, added or replaced: prints the secret and otpauth:// URL to enrol.
    /// Confirmed with the password and, when one is on, the current second factor's --code.
    TotpSetup {
        #[arg(long)]
        code: Option<String>,
    },
    /// Turns the new authenticator on with a code it shows.
    TotpConfirm {
        code: String,
    },
    /// Confirmed with the password and a code of the authenticator.
    TotpDisable {
        code: String,
    },
    /// SMS codes to the account's phone: sends a code to confirm (with the password and,
    /// when one is on, the current second factor's --code).
    SmsSetup {
        #[arg(long)]
        code: Option<String>,
    },
    SmsConfirm {
        code: String,
    },
    /// Confirmed with the password and an SMS code (`send-code` first).
    SmsDisable {
        code: String,
    },
    /// Sends a code by SMS, to confirm a change when the second factor is SMS.
    SendCode,
    /// Change the password. With --password-stdin, standard input holds two lines: the
    /// current password, then the new one (at least 8 characters); with the Secret Key,
    /// and --code when a second factor is on. Other devices unlock with the new password
    /// (online, once) after their next sync; the old one opens nothing after.
    ChangePassword {
        #[arg(long)]
        code: Option<String>,
    },
    /// Make a new Secret Key and replace the current one (confirmed with the password, the
    /// current Secret Key, and --code when a second factor is on). The new key is printed
    /// first, on standard error, then in the result: keep it in a new Emergency Kit. Every
    /// item is sealed again under new keys; the old Secret Key opens nothing on the server
    /// after. Other devices unlock with the new one (online, once) after their next sync.
    NewSecretKey {
        #[arg(long)]
        code: Option<String>,
    },
    /// Signed-in devices.
    Sessions,
    /// Failed or unauthorized attempts on the account (the last 90 days): when, from where,
    /// what.
    Attempts,
    /// Names this device (1 to 100 printable characters; otherwise it is the host's name):
    /// the device list shows it at once, later changes are signed with it.
    RenameDevice {
        name: String,
    },
    /// Signs a device out (another device: confirmed with the password and --code).
    Revoke {
        session_id: String,
        #[arg(long)]
        code: Option<String>,
    },
    Usage,
    /// Follow the server to its new address (the same server, moved). Signs in there
    /// (--password-stdin with the Secret Key, and --code if the account has a second
    /// factor); nothing changes unless it is this account with this device's keys.
    MoveServer {
        /// The new address (https://…).
        url: String,
        /// A second-factor code, if the account has one.
        #[arg(long)]
        code: Option<String>,
    },
    /// Delete the account (purged from the server within 48 hours) and this device's cache.
    /// Confirmed with the password and, when one is on, the second factor's --code.
    Delete {
        /// The account's username, typed again (asked on a terminal; required in a script).
        #[arg(long)]
        confirm: Option<String>,
        #[arg(long)]
        code: Option<String>,
    },
}

impl AccountCommand {
    /// Whether the server wants a fresh proof of the password for it (a step-up).
    fn steps_up(&self) -> bool {
        use AccountCommand as A;
        matches!(
            self,
            A::Update { .. }
                | A::TotpSetup { .. }
                | A::TotpDisable { .. }
                | A::SmsSetup { .. }
                | A::SmsDisable { .. }
                | A::ChangePassword { .. }
                | A::NewSecretKey { .. }
                | A::Revoke { .. }
                | A::MoveServer { .. }
                | A::Delete { .. }
        )
    }
}

/// Runs one `account` command.
pub(crate) async fn run(cli: &Cli, cmd: &AccountCommand, keys: &Keys) -> Out {
    let mut c = open(cli)?;
    let mut new_password = None;
    let interactive = prompt::interactive();
    let credentials = match cmd {
        AccountCommand::ChangePassword { .. } if keys.password_stdin => {
            let (current, new) = read_password_change()?;
            new_password = Some(new);
            unlock_with(&mut c, keys, Some(current))?
        }
        AccountCommand::ChangePassword { .. } if !interactive => {
            return Err(no_password().into());
        }
        _ => unlock(&mut c, keys)?,
    };
    // A change confirmed with the password, at a terminal on a session: the password (and
    // the Secret Key when the keychain has none) asked now.
    // Signing this device itself out needs no proof.
    let own = match cmd {
        AccountCommand::Revoke { session_id, .. } => {
            let id = parse_id(session_id)?;
            c.sessions()
                .await?
                .iter()
                .any(|s| s.current && s.session_id == id)
        }
        _ => false,
    };
    let credentials = match credentials {
        None if interactive && cmd.steps_up() && !own => {
            eprintln!("Confirm it is you.");
            Some(unlock_asking(&mut c, keys.secret_key.as_deref(), false)?.0)
        }
        given => given,
    };
    if let AccountCommand::ChangePassword { .. } = cmd
        && new_password.is_none()
    {
        let username = c.username()?.unwrap_or_default();
        new_password = Some(prompt::new_password("New password", &username)?);
    }
    let done = || json!({"ok": true});
    let creds = credentials.as_ref();
    Ok(match cmd {
        AccountCommand::Info => json!(c.account_info().await?),
        AccountCommand::Update {
            username,
            email,
            phone,
            code,
        } => {
            let u = krypt7_client::AccountUpdate {
                username: username.clone(),
                email: email.clone(),
                phone: phone.clone(),
            };
            json!(
                c.update_account(&u, &confirm(creds, code.as_deref())?)
                    .await?
            )
        }
        AccountCommand::TotpSetup { code } => {
            let t = c.totp_setup(&confirm(creds, code.as_deref())?).await?;
            json!({"secret": t.secret, "otpauth_url": t.otpauth_url})
        }
        AccountCommand::TotpConfirm { code } => c.totp_confirm(code).await.map(|_| done())?,
        AccountCommand::TotpDisable { code } => c
            .totp_disable(&confirm(creds, Some(code.as_str()))?)
            .await
            .map(|_| done())?,
        AccountCommand::SmsSetup { code } => c
            .sms_setup(&confirm(creds, code.as_deref())?)
            .await
            .map(|_| json!({"sent": true}))?,
        AccountCommand::SmsConfirm { code } => c.sms_confirm(code).await.map(|_| done())?,
        AccountCommand::SmsDisable { code } => c
            .sms_disable(&confirm(creds, Some(code.as_str()))?)
            .await
            .map(|_| done())?,
        AccountCommand::SendCode => c.send_step_up_code().await.map(|_| json!({"sent": true}))?,
        AccountCommand::ChangePassword { code } => {
            let new = new_password.as_deref().ok_or_else(no_password)?;
            c.change_password(new, &confirm(creds, code.as_deref())?)
                .await
                .map(|_| done())?
        }
        AccountCommand::NewSecretKey { code } => {
            let new = SecretKey::generate().map_err(ClientError::from)?;
            eprintln!(
                "krypt7: the new Secret Key, which replaces the current one once this \
                 finishes (keep it in a new Emergency Kit): {}",
                new.to_human().as_str()
            );
            c.change_secret_key(&new, &confirm(creds, code.as_deref())?)
                .await?;
            json!({"secret_key": new.to_human().as_str()})
        }
        AccountCommand::Sessions => json!(c.sessions().await?),
        AccountCommand::Attempts => json!(c.attempts().await?),
        AccountCommand::RenameDevice { name } => {
            json!({"device_name": c.rename_device(name).await?})
        }
        AccountCommand::Revoke { session_id, code } => {
            let id = parse_id(session_id)?;
            let confirm = if own {
                None
            } else {
                Some(confirm(creds, code.as_deref())?)
            };
            c.revoke_session(id, confirm.as_ref())
                .await
                .map(|_| done())?
        }
        AccountCommand::Usage => json!(c.usage().await?),
        AccountCommand::MoveServer { url, code } => {
            let (pw, sk) = creds.ok_or_else(no_password)?;
            c.move_server(url, pw, sk, code_source(code.as_deref()))
                .await?;
            json!({"server": c.server()})
        }
        AccountCommand::Delete {
            confirm: name,
            code,
        } => {
            let name = match name {
                Some(n) => n.clone(),
                None if interactive => {
                    let username = c.username()?.unwrap_or_default();
                    eprintln!(
                        "This deletes the account {username}, everything in it, on every \
                         device, and this device's cache. It cannot be undone."
                    );
                    if !prompt::typed("Type the username to delete it", &username) {
                        return Err(ClientError::Invalid(
                            "not confirmed: nothing was deleted".into(),
                        )
                        .into());
                    }
                    username
                }
                None => {
                    return Err(ClientError::Invalid(
                        "give --confirm USERNAME to delete the account (nothing was deleted)"
                            .into(),
                    )
                    .into());
                }
            };
            json!(
                c.delete_account(&name, &confirm(creds, code.as_deref())?)
                    .await?
            )
        }
    })
}
