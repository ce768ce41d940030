//! The account on the server: its details, second factors and step-ups, sessions and
//! devices, the record of attempts, moving to the server's new address, signing in again,
//! and deletion. What changes the account is confirmed with a step-up ([`Confirm`]).

use krypt7_crypto::{
    Password,
    envelope::{self, KeysetWrapper},
    kdf::{KdfParams, KdfSetup},
    opaque::{Login, Registration},
    pk,
    secret_key::SecretKey,
};
use krypt7_protocol::{
    AccountKeys, B64, PasswordChange, PasswordChangeStart, PasswordChangeStarted, PasswordChanged,
    StepUpAction, StepUpFinish, StepUpProven, StepUpStart, StepUpStarted,
};
use reqwest::Method;
use uuid::Uuid;

use zeroize::Zeroizing;

use crate::{Api, Auth, Client, ClientError, Confirm, Result, SecondFactor};

/// Asks a person for a second factor's code, once the server said which one it needs.
pub type AskCode<'a> = &'a (dyn Fn(SecondFactor) -> Option<Zeroizing<String>> + Sync);

/// A second factor's code: given up front (or none), or asked for only once the server
/// says one is needed and which (an SMS code is sent at that moment, so a person at a
/// terminal is asked after it arrives, and nobody is asked when the account has none).
#[derive(Clone, Copy)]
pub enum Code<'a> {
    Given(Option<&'a str>),
    Ask(AskCode<'a>),
}

impl<'a> From<Option<&'a str>> for Code<'a> {
    fn from(code: Option<&'a str>) -> Self {
        Code::Given(code)
    }
}

impl Code<'_> {
    /// The code for `kind`: the one given, or the one asked for; an error naming what is
    /// needed when there is none.
    pub(crate) fn get(&self, kind: SecondFactor) -> Result<Zeroizing<String>> {
        let code = match self {
            Code::Given(c) => c.map(|c| Zeroizing::new(c.trim().to_string())),
            Code::Ask(ask) => ask(kind),
        };
        code.filter(|c| !c.is_empty()).ok_or_else(|| {
            ClientError::Invalid(format!(
                "this account needs {}",
                match kind {
                    SecondFactor::Totp => "a code from its authenticator app",
                    SecondFactor::Sms => "the code sent to its phone by SMS",
                }
            ))
        })
    }
}

impl Client {
    /// A fresh proof of the password (and the second factor, when on) for `action`: a full
    /// OPAQUE round made for it. Returns the session's authorization carrying the proof,
    /// good for that one call within five minutes.
    pub(crate) async fn step_up(
        &self,
        action: StepUpAction,
        confirm: &Confirm<'_>,
    ) -> Result<Auth> {
        let auth = self.token()?;
        let account = self.unlocked()?.account;
        let pw = Password::new(confirm.password);
        let (login, request) = Login::start(&pw, confirm.secret_key)?;
        let started: StepUpStarted = self
            .api
            .call(
                Method::POST,
                "/v1/account/step-up/start",
                Some(&auth),
                Some(&StepUpStart {
                    action,
                    credential_request: B64(request),
                }),
            )
            .await?;
        let setup =
            KdfSetup::open(&started.kdf_setup.0, confirm.secret_key).map_err(|e| match e {
                krypt7_crypto::CryptoError::KdfParamsTampered => ClientError::WrongCredentials,
                e => e.into(),
            })?;
        let (finalization, _auk) = login
            .finish(account.as_bytes(), &setup, &started.credential_response.0)
            .map_err(|_| ClientError::WrongCredentials)?;
        // Asked for (not given): an SMS code is sent now, then asked.
        let code = match (started.second_factor, confirm.code) {
            (None, _) => None,
            (Some(kind), code) => {
                if let (krypt7_protocol::SecondFactor::Sms, Code::Ask(_)) = (kind, code) {
                    self.send_step_up_code().await?;
                }
                Some(code.get(kind)?)
            }
        };
        let proven: StepUpProven = self
            .api
            .call(
                Method::POST,
                "/v1/account/step-up/finish",
                Some(&auth),
                Some(&StepUpFinish {
                    step_up_id: started.step_up_id,
                    credential_finalization: B64(finalization),
                    code: code.map(|c| c.to_string()),
                }),
            )
            .await
            .map_err(|e| match e {
                ClientError::Server { status: 403, .. } => ClientError::WrongCredentials,
                e => e,
            })?;
        Ok(auth.with_step_up(proven.step_up_id))
    }

    /// Sends a code to the account's phone, for a step-up when its second factor is SMS.
    pub async fn send_step_up_code(&self) -> Result<()> {
        let _: serde_json::Value = self
            .api
            .call::<(), _>(
                Method::POST,
                "/v1/account/step-up/sms",
                Some(&self.token()?),
                None,
            )
            .await?;
        Ok(())
    }

    pub async fn account_info(&self) -> Result<krypt7_protocol::AccountInfo> {
        self.api
            .call::<(), _>(Method::GET, "/v1/account", Some(&self.token()?), None)
            .await
    }

    /// Changes the username, email or phone (`Some("")` removes email or phone). The server
    /// keeps no history of old values.
    pub async fn update_account(
        &mut self,
        update: &krypt7_protocol::AccountUpdate,
        confirm: &Confirm<'_>,
    ) -> Result<krypt7_protocol::AccountInfo> {
        let auth = self.step_up(StepUpAction::UpdateAccount, confirm).await?;
        let info: krypt7_protocol::AccountInfo = self
            .api
            .call(Method::PATCH, "/v1/account", Some(&auth), Some(update))
            .await?;
        self.store.set_meta("username", info.username.as_bytes())?;
        Ok(info)
    }

    /// Starts authenticator-app enrolment (or replaces the one in use: `confirm` then carries
    /// its current code): show `otpauth_url` as a QR code, then [`Client::totp_confirm`].
    pub async fn totp_setup(&self, confirm: &Confirm<'_>) -> Result<krypt7_protocol::TotpSetup> {
        let auth = self.step_up(StepUpAction::SetUpTotp, confirm).await?;
        self.api
            .call::<(), _>(Method::POST, "/v1/account/totp", Some(&auth), None)
            .await
    }

    async fn code_call(&self, path: &str, auth: &Auth, code: Option<&str>) -> Result<()> {
        let body = code.map(|c| krypt7_protocol::CodeRequest { code: c.into() });
        let _: serde_json::Value = self
            .api
            .call(Method::POST, path, Some(auth), body.as_ref())
            .await?;
        Ok(())
    }

    pub async fn totp_confirm(&self, code: &str) -> Result<()> {
        self.code_call("/v1/account/totp/confirm", &self.token()?, Some(code))
            .await
    }

    pub async fn totp_disable(&self, confirm: &Confirm<'_>) -> Result<()> {
        let auth = self.step_up(StepUpAction::DisableTotp, confirm).await?;
        self.code_call("/v1/account/totp/disable", &auth, None)
            .await
    }

    /// Sends an SMS code to the account's phone; confirm it with [`Client::sms_confirm`].
    pub async fn sms_setup(&self, confirm: &Confirm<'_>) -> Result<()> {
        let auth = self.step_up(StepUpAction::SetUpSms, confirm).await?;
        self.code_call("/v1/account/sms", &auth, None).await
    }

    pub async fn sms_confirm(&self, code: &str) -> Result<()> {
        self.code_call("/v1/account/sms/confirm", &self.token()?, Some(code))
            .await
    }

    pub async fn sms_disable(&self, confirm: &Confirm<'_>) -> Result<()> {
        let auth = self.step_up(StepUpAction::DisableSms, confirm).await?;
        self.code_call("/v1/account/sms/disable", &auth, None).await
    }

    pub async fn sessions(&self) -> Result<Vec<krypt7_protocol::SessionInfo>> {
        self.api
            .call::<(), _>(Method::GET, "/v1/sessions", Some(&self.token()?), None)
            .await
    }

    /// Names this device (unlocked, signed in): the server's device list shows the new name
    /// at once, later commits carry it. Nothing changes if the server refuses or cannot be
    /// reached.
    pub async fn rename_device(&self, name: &str) -> Result<String> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
            return Err(ClientError::Invalid(
                "the device name must be 1 to 100 printable characters".into(),
            ));
        }
        let _: serde_json::Value = self
            .api
            .call(
                Method::PATCH,
                "/v1/sessions/current",
                Some(&self.token()?),
                Some(&krypt7_protocol::RenameDevice {
                    device_name: name.into(),
                }),
            )
            .await?;
        self.store.set_meta(crate::DEVICE_NAME, name.as_bytes())?;
        Ok(name.into())
    }

    /// Ends a session: this device's own needs nothing more, another device's a step-up
    /// (`confirm`).
    pub async fn revoke_session(&self, id: Uuid, confirm: Option<&Confirm<'_>>) -> Result<()> {
        let auth = match confirm {
            Some(c) => self.step_up(StepUpAction::RevokeSession, c).await?,
            None => self.token()?,
        };
        let _: serde_json::Value = self
            .api
            .call::<(), _>(
                Method::DELETE,
                &format!("/v1/sessions/{id}"),
                Some(&auth),
                None,
            )
            .await?;
        Ok(())
    }

    /// Moves this device's account to the server's new address (the same server, moved:
    /// same accounts and data). Nothing changes here unless the new address proves it holds
    /// this account: a full OPAQUE sign-in there (which authenticates the server too: only a
    /// server with this account's registration record can complete it) for this account,
    /// whose published keys must be this device's. Then the new address and session are
    /// kept, and the session at the old address is ended if the new one knows it. The vault,
    /// the outbox and the change-feed position stay as they are.
    pub async fn move_server(
        &mut self,
        new_server: &str,
        password: &str,
        secret_key: &SecretKey,
        code: impl Into<Code<'_>>,
    ) -> Result<()> {
        let account = self.unlocked()?.account;
        let old_token = self.token().ok();
        let username = self.username()?.ok_or(ClientError::NoAccount)?;
        let new_server = new_server.trim().trim_end_matches('/').to_string();
        if new_server == self.server {
            return Err(ClientError::Invalid(format!(
                "this device already uses {new_server}"
            )));
        }
        let api = Api::new(&new_server, self.ca.as_deref())?;
        let old_api = std::mem::replace(&mut self.api, api);
        let checked = self
            .check_new_server(account, &username, password, secret_key, code.into())
            .await;
        let token = match checked {
            Ok(token) => token,
            Err(e) => {
                self.api = old_api;
                return Err(e);
            }
        };
        self.server = new_server;
        self.keep_token(token)?;
        // The old session, if the moved server still knows it: ended, so it does not stay
        // listed as another device. Where the old address's data did not move, nothing to do.
        if let Some(old) = old_token {
            self.end_own_session(&old).await;
        }
        Ok(())
    }

    /// Ends the session `old` (a token this device no longer uses) with that token itself: a
    /// session ends itself without a step-up. Best effort: a session the server no longer
    /// knows is already gone.
    pub(crate) async fn end_own_session(&self, old: &Auth) {
        let listed: Result<Vec<krypt7_protocol::SessionInfo>> = self
            .api
            .call::<(), _>(Method::GET, "/v1/sessions", Some(old), None)
            .await;
        if let Some(s) = listed.ok().and_then(|l| l.into_iter().find(|s| s.current)) {
            let _: Result<serde_json::Value> = self
                .api
                .call::<(), _>(
                    Method::DELETE,
                    &format!("/v1/sessions/{}", s.session_id),
                    Some(old),
                    None,
                )
                .await;
        }
    }

    /// Changes the account's password: a new OPAQUE registration under the same account,
    /// a new sealed setup, and the same keyset wrapped under the new Account Unlock Key,
    /// which replace the old ones on the server at once; then this device's offline unlock
    /// by the new password. Other devices drop their unlock by the old password when they
    /// next sync, and unlock with the new one online once. Confirmed with the current
    /// password (`confirm`).
    pub async fn change_password(
        &mut self,
        new_password: &str,
        confirm: &Confirm<'_>,
    ) -> Result<()> {
        crate::check_new_password(new_password)?;
        let auth = self.step_up(StepUpAction::ChangePassword, confirm).await?;
        let account = self.unlocked()?.account;
        let pw = Password::new(new_password);
        let sk = confirm.secret_key;
        let setup = KdfSetup::generate(KdfParams::DEFAULT)?;
        let (registration, request) = Registration::start(&pw, sk)?;
        let started: PasswordChangeStarted = self
            .api
            .call(
                Method::POST,
                "/v1/account/password/start",
                Some(&auth),
                Some(&PasswordChangeStart {
                    registration_request: B64(request),
                }),
            )
            .await?;
        let (upload, auk) =
            registration.finish(account.as_bytes(), &setup, &started.registration_response.0)?;
        let keyset = envelope::wrap_keyset(
            KeysetWrapper::Auk(&auk),
            account.as_bytes(),
            &self.unlocked()?.keyset,
        )?;
        let changed: PasswordChanged = self
            .api
            .call(
                Method::PUT,
                "/v1/account/password",
                Some(&auth),
                Some(&PasswordChange {
                    registration_upload: B64(upload),
                    kdf_setup: B64(setup.seal(sk)),
                    keyset: B64(keyset),
                }),
            )
            .await?;
        let counts = crate::Counts {
            credentials: changed.credentials,
            key_epoch: self.known_count("key_epoch")?,
        };
        let u = self.unlocked()?;
        self.wrap_locally(account, &pw, sk, &u.keyset, counts)
    }

    /// Signs this device in again where its session ended (expired, or signed out from
    /// another device: [`ClientError::SignedOut`]): a full sign-in, which must be this
    /// account with this device's keys. The vault, the outbox and the feed position stay
    /// as they are; the next sync carries on.
    pub async fn sign_in_again(
        &mut self,
        password: &str,
        secret_key: &SecretKey,
        code: impl Into<Code<'_>>,
    ) -> Result<()> {
        let account = self.unlocked()?.account;
        let username = self.username()?.ok_or(ClientError::NoAccount)?;
        let token = self
            .check_new_server(account, &username, password, secret_key, code.into())
            .await?;
        self.keep_token(token)
    }

    /// Keeps `token`, from a full sign-in at `self.server` (good whatever the cache held
    /// before), sealed to the device's settings as they are now.
    fn keep_token(&mut self, token: String) -> Result<()> {
        {
            let mut u = self.unlocked()?;
            u.token = Some(token);
            u.settings_changed = false;
        }
        let sealed = self.rebound_token(None)?;
        self.store.set_metas(&[
            ("server", Some(self.server.as_bytes())),
            ("token", sealed.as_deref()),
        ])?;
        Ok(())
    }

    /// Signs in at the address `self.api` now points to and checks it is this account with
    /// this device's keys; returns the new session's token.
    async fn check_new_server(
        &self,
        account: Uuid,
        username: &str,
        password: &str,
        secret_key: &SecretKey,
        code: Code<'_>,
    ) -> Result<String> {
        let (signed_in, token, _auk) = self
            .sign_in(username, &Password::new(password), secret_key, code)
            .await?;
        if signed_in != account {
            return Err(ClientError::Integrity(
                "the new address signed in another account of the same name: not moved".into(),
            ));
        }
        let keys: AccountKeys = self
            .api
            .call::<(), _>(
                Method::GET,
                "/v1/account/keys",
                Some(&Auth::unbound(&token)),
                None,
            )
            .await?;
        let published = pk::verify_key_bundle(&keys.key_bundle.0, account.as_bytes())?;
        let u = self.unlocked()?;
        let keyset = &u.keyset;
        if published.signing != keyset.identity.public()
            || published.encryption != keyset.encryption.public()
        {
            return Err(ClientError::Integrity(
                "the new address publishes keys that are not this account's: not moved".into(),
            ));
        }
        Ok(token)
    }

    /// The unauthorized attempts against the account the server recorded (the last 90 days,
    /// newest first, at most 100).
    pub async fn attempts(&self) -> Result<Vec<krypt7_protocol::Attempt>> {
        self.api
            .call::<(), _>(
                Method::GET,
                "/v1/account/attempts",
                Some(&self.token()?),
                None,
            )
            .await
    }

    pub async fn usage(&self) -> Result<krypt7_protocol::Usage> {
        self.api
            .call::<(), _>(Method::GET, "/v1/usage", Some(&self.token()?), None)
            .await
    }

    /// Deletes the account on the server (purged there within 48 hours), then this device's
    /// cache. `confirm_username` must be the account's username.
    pub async fn delete_account(
        &mut self,
        confirm_username: &str,
        confirm: &Confirm<'_>,
    ) -> Result<krypt7_protocol::AccountDeleted> {
        let body = krypt7_protocol::DeleteAccount {
            confirm_username: confirm_username.into(),
        };
        let auth = self.step_up(StepUpAction::DeleteAccount, confirm).await?;
        let done: krypt7_protocol::AccountDeleted = self
            .api
            .call(Method::DELETE, "/v1/account", Some(&auth), Some(&body))
            .await?;
        let _ = self.disable_keychain_unlock();
        self.lock()?;
        self.store.forget_everything()?;
        let _ = std::fs::remove_dir_all(self.dir.join("mail-index"));
        Ok(done)
    }
}
