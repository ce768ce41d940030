//! The account: profile, second factors, devices, export, deletion.

use crate::*;
use krypt7_client::Confirm;

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
pub(crate) async fn account(app: State<'_, App>) -> Out<Account> {
    with(&app, async |c| Ok(c.account_info().await?.into())).await
}

/// What the user typed to confirm a dangerous change (a step-up, `docs/server.md`): the
/// password, the Secret Key unless the keychain keeps it, and the current second factor's
/// code when one is on.
#[derive(Deserialize, Type)]
pub struct Proof {
    pub password: String,
    pub secret_key: Option<String>,
    pub code: Option<String>,
}

/// `proof` opened for the client: the password (zeroized when dropped), the Secret Key as
/// typed or kept, and the code.
fn opened(
    c: &krypt7_client::Client,
    proof: Proof,
) -> Out<(
    zeroize::Zeroizing<String>,
    krypt7_crypto::secret_key::SecretKey,
    Option<String>,
)> {
    let password = zeroize::Zeroizing::new(proof.password);
    let sk = super::session::typed_or_kept(c, proof.secret_key)?;
    let code = proof
        .code
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty());
    Ok((password, sk, code))
}

/// Runs `f` with the client and `proof` as a [`Confirm`].
async fn confirmed<T>(
    app: &App,
    proof: Proof,
    f: impl AsyncFnOnce(&mut krypt7_client::Client, &Confirm<'_>) -> Out<T>,
) -> Out<T> {
    with(app, async |c| {
        let (password, sk, code) = opened(c, proof)?;
        let confirm = Confirm {
            password: &password,
            secret_key: &sk,
            code: code.as_deref().into(),
        };
        f(c, &confirm).await
    })
    .await
}

/// Changes what is given: `Some("")` removes the email or phone.
#[tauri::command]
#[specta::specta]
pub(crate) async fn update_account(
    app: State<'_, App>,
    username: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    proof: Proof,
) -> Out<Account> {
    let update = krypt7_client::AccountUpdate {
        username,
        email,
        phone,
    };
    confirmed(&app, proof, async |c, confirm| {
        Ok(c.update_account(&update, confirm).await?.into())
    })
    .await
}

/// Changes the account's password to `new_password` (at least 8 characters), confirmed with
/// the current one (`proof`). Other devices unlock with the new password after their next
/// sync.
#[tauri::command]
#[specta::specta]
pub(crate) async fn change_password(
    app: State<'_, App>,
    new_password: String,
    proof: Proof,
) -> Out<()> {
    let new_password = zeroize::Zeroizing::new(new_password);
    confirmed(&app, proof, async |c, confirm| {
        Ok(c.change_password(&new_password, confirm).await?)
    })
    .await
}

/// A new Secret Key, made here and not yet in use, with what the new Emergency Kit shows
/// beside it: the page shows the kit, and [`change_secret_key`] puts the key in use once
/// the user has kept it.
#[tauri::command]
#[specta::specta]
pub(crate) async fn new_secret_key(app: State<'_, App>) -> Out<SignedUp> {
    let secret_key = SecretKey::generate().map_err(ClientError::from)?;
    with(&app, async |c| {
        Ok(SignedUp {
            secret_key: secret_key.to_human().to_string(),
            username: c.username()?.unwrap_or_default(),
            server: c.server().to_string(),
        })
    })
    .await
}

/// Replaces the Secret Key by `new_secret_key` (from [`new_secret_key`], kept by the user in
/// the new Emergency Kit), confirmed with the password, the current Secret Key and the
/// second factor. Every item is sealed again under new keys; other devices unlock with the
/// new key once, online, after their next sync.
#[tauri::command]
#[specta::specta]
pub(crate) async fn change_secret_key(
    app: State<'_, App>,
    new_secret_key: String,
    proof: Proof,
) -> Out<()> {
    let new = SecretKey::parse(&new_secret_key).map_err(ClientError::from)?;
    confirmed(&app, proof, async |c, confirm| {
        Ok(c.change_secret_key(&new, confirm).await?)
    })
    .await
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
pub(crate) async fn totp_setup(app: State<'_, App>, proof: Proof) -> Out<TotpEnrolment> {
    let setup = confirmed(&app, proof, async |c, confirm| {
        Ok(c.totp_setup(confirm).await?)
    })
    .await?;
    Ok(TotpEnrolment {
        qr_code: qr_code(&setup.otpauth_url)?,
        secret: setup.secret.clone(),
    })
}

/// Which second factor a code is for, and what to do with it.
#[derive(Deserialize, Type)]
#[serde(rename_all = "snake_case")]
pub enum SecondFactorStep {
    /// Turns authenticator codes on, with a code from the app.
    TotpConfirm,
    /// Turns authenticator codes off (confirmed: `proof`).
    TotpDisable,
    /// Sends a code to the account's phone, to turn SMS codes on (confirmed: `proof`).
    SmsSend,
    /// Turns SMS codes on, with the code that was sent.
    SmsConfirm,
    /// Turns SMS codes off (confirmed: `proof`).
    SmsDisable,
    /// Sends a code to the account's phone, to confirm a change with.
    StepUpCode,
}

/// A second-factor step; those that change the account need `proof`.
#[tauri::command]
#[specta::specta]
pub(crate) async fn second_factor(
    app: State<'_, App>,
    step: SecondFactorStep,
    code: String,
    proof: Option<Proof>,
) -> Out<Account> {
    let code = code.trim().to_string();
    let needs_proof = || invalid("confirm this with your password");
    match step {
        SecondFactorStep::TotpDisable => {
            confirmed(&app, proof.ok_or_else(needs_proof)?, async |c, confirm| {
                Ok(c.totp_disable(confirm).await?)
            })
            .await?
        }
        SecondFactorStep::SmsSend => {
            confirmed(&app, proof.ok_or_else(needs_proof)?, async |c, confirm| {
                Ok(c.sms_setup(confirm).await?)
            })
            .await?
        }
        SecondFactorStep::SmsDisable => {
            confirmed(&app, proof.ok_or_else(needs_proof)?, async |c, confirm| {
                Ok(c.sms_disable(confirm).await?)
            })
            .await?
        }
        SecondFactorStep::TotpConfirm => {
            with(&app, async |c| Ok(c.totp_confirm(&code).await?)).await?
        }
        SecondFactorStep::SmsConfirm => {
            with(&app, async |c| Ok(c.sms_confirm(&code).await?)).await?
        }
        SecondFactorStep::StepUpCode => {
            with(&app, async |c| Ok(c.send_step_up_code().await?)).await?
        }
    }
    with(&app, async |c| Ok(c.account_info().await?.into())).await
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
pub(crate) async fn devices(app: State<'_, App>) -> Out<Vec<Device>> {
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

/// An unauthorized attempt against the account, as the server recorded it.
#[derive(Serialize, Type)]
pub struct Attempt {
    /// Unix seconds.
    pub at: u32,
    pub ip: String,
    pub reason: String,
}

/// The unauthorized attempts against the account (the last 90 days, newest first).
#[tauri::command]
#[specta::specta]
pub(crate) async fn attempts(app: State<'_, App>) -> Out<Vec<Attempt>> {
    with(&app, async |c| {
        Ok(c.attempts()
            .await?
            .into_iter()
            .map(|a| Attempt {
                at: unix_seconds(a.at),
                ip: a.ip,
                reason: a.reason,
            })
            .collect())
    })
    .await
}

/// This device's name (Settings): the one its user gave it, else the host's name.
#[tauri::command]
#[specta::specta]
pub(crate) async fn device_name(app: State<'_, App>) -> Out<String> {
    with(&app, async |c| Ok(c.device_name()?)).await
}

/// Names this device; answers the name kept (trimmed).
#[tauri::command]
#[specta::specta]
pub(crate) async fn rename_device(app: State<'_, App>, name: String) -> Out<String> {
    with(&app, async |c| Ok(c.rename_device(&name).await?)).await
}

/// Signs another device out (confirmed: `proof`): its session ends on the server at once.
#[tauri::command]
#[specta::specta]
pub(crate) async fn revoke_device(app: State<'_, App>, id: String, proof: Proof) -> Out<()> {
    let id = parse_id(&id)?;
    confirmed(&app, proof, async |c, confirm| {
        Ok(c.revoke_session(id, Some(confirm)).await?)
    })
    .await
}

/// Writes the whole vault to `dest`, sealed under a separate export password (the
/// format `krypt7 export --format encrypted` writes, docs/crypto.md §4.4).
#[tauri::command]
#[specta::specta]
pub(crate) async fn export_vault(
    app: State<'_, App>,
    export_password: String,
    dest: String,
) -> Out<()> {
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
pub(crate) async fn delete_account(
    app: State<'_, App>,
    confirm_username: String,
    proof: Proof,
) -> Out<u32> {
    let mut guard = app.client.lock().await;
    let c = guard.as_mut().ok_or(ClientError::NoAccount)?;
    let (password, sk, code) = opened(c, proof)?;
    let confirm = Confirm {
        password: &password,
        secret_key: &sk,
        code: code.as_deref().into(),
    };
    let done = c.delete_account(&confirm_username, &confirm).await?;
    if let Some(stop) = app.folder_stop.lock().ok().and_then(|mut s| s.take()) {
        let _ = stop.send(());
    }
    app.keep(&mut guard, None);
    Ok(unix_seconds(done.purged_by))
}
