//! The account: profile, second factors, devices, export, deletion.

use crate::*;

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

/// Changes what is given: `Some("")` removes the email or phone.
#[tauri::command]
#[specta::specta]
pub(crate) async fn update_account(
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
pub(crate) async fn totp_setup(app: State<'_, App>) -> Out<TotpEnrolment> {
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
pub(crate) async fn second_factor(
    app: State<'_, App>,
    step: SecondFactorStep,
    code: String,
) -> Out<Account> {
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

/// Signs a device out: its session ends on the server at once.
#[tauri::command]
#[specta::specta]
pub(crate) async fn revoke_device(app: State<'_, App>, id: String) -> Out<()> {
    let id = parse_id(&id)?;
    with(&app, async |c| Ok(c.revoke_session(id).await?)).await
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
pub(crate) async fn delete_account(app: State<'_, App>, confirm_username: String) -> Out<u32> {
    let mut guard = app.client.lock().await;
    let c = guard.as_mut().ok_or(ClientError::NoAccount)?;
    let done = c.delete_account(&confirm_username).await?;
    if let Some(stop) = app.folder_stop.lock().ok().and_then(|mut s| s.take()) {
        let _ = stop.send(());
    }
    app.keep(&mut guard, None);
    Ok(unix_seconds(done.purged_by))
}
