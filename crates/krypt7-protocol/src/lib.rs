//! KRYPT7 wire types, shared by client and server: the JSON bodies of API `/v1`.
//!
//! Serde and schema derives only: no crypto and no I/O. Every byte string that the server
//! stores for a client (envelopes, OPAQUE messages, key bundles) travels as unpadded
//! base64url in a [`B64`]; the server treats it as opaque.

#![forbid(unsafe_code)]

use std::fmt;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use utoipa::ToSchema;
use uuid::Uuid;

/// The API version prefix.
pub const API_PREFIX: &str = "/v1";

/// Opaque bytes as unpadded base64url in JSON.
#[derive(Clone, PartialEq, Eq, Default, ToSchema)]
#[schema(value_type = String, format = Byte, example = "AQIDBA")]
pub struct B64(pub Vec<u8>);

impl fmt::Debug for B64 {
    // Bytes here are ciphertext or protocol messages; their length is all a log needs.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "B64({} bytes)", self.0.len())
    }
}

impl Serialize for B64 {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&URL_SAFE_NO_PAD.encode(&self.0))
    }
}

impl<'de> Deserialize<'de> for B64 {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        URL_SAFE_NO_PAD
            .decode(s.as_bytes())
            .map(B64)
            .map_err(|_| serde::de::Error::custom("invalid base64url (unpadded) string"))
    }
}

impl B64 {
    /// The unpadded base64url text.
    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.0)
    }

    pub fn decode(s: &str) -> Option<B64> {
        URL_SAFE_NO_PAD.decode(s.as_bytes()).ok().map(B64)
    }
}

impl From<Vec<u8>> for B64 {
    fn from(v: Vec<u8>) -> Self {
        B64(v)
    }
}

/// Every error response: a stable code a client can branch on and a sentence for people.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
    /// With `conflict`: what the server holds now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<Current>,
}

/// The server's current state in a 409 response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Current {
    Item(Item),
    Manifest(Manifest),
}

/// Stable error codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
#[non_exhaustive]
pub enum ErrorCode {
    /// Malformed request: bad JSON, wrong types, bad base64, invalid values.
    BadRequest,
    /// Missing, invalid or revoked credentials, or a failed sign-in.
    Unauthorized,
    /// The session ended (unused too long, or past its absolute limit): sign in again.
    SessionExpired,
    NotFound,
    /// A stale base revision or manifest version; `current` says what is there now.
    Conflict,
    UsernameTaken,
    /// Something written once (a vault's key wrap) is already stored, different.
    AlreadyExists,
    /// Too many attempts; see the `Retry-After` header.
    RateLimited,
    /// The account's storage limit would be exceeded.
    QuotaExceeded,
    PayloadTooLarge,
    /// The second factor code was wrong, expired or already used.
    InvalidCode,
    /// This action needs a fresh step-up proof for it (`krypt7-step-up` header).
    StepUpRequired,
    UnsupportedMediaType,
    MethodNotAllowed,
    /// A message's recipient has no account here (the message names the account id last).
    NoSuchRecipient,
    /// A message's recipient has no room for it (the message names the account id last).
    RecipientFull,
    Internal,
}

// ---- accounts and sign-in -------------------------------------------------------------------

/// Step 1 of registration: OPAQUE `RegistrationRequest`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterStartRequest {
    pub username: String,
    pub registration_request: B64,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterStartResponse {
    /// The new account's id: OPAQUE's credential identifier, echoed in step 2.
    pub account_id: Uuid,
    pub registration_response: B64,
}

/// Step 2 of registration: OPAQUE `RegistrationUpload` and the account's encrypted material.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterFinishRequest {
    pub account_id: Uuid,
    pub username: String,
    #[serde(default)]
    pub email: Option<String>,
    #[serde(default)]
    pub phone: Option<String>,
    pub registration_upload: B64,
    /// The sealed key-derivation setup (`docs/crypto.md` §3.2), opaque to the server.
    pub kdf_setup: B64,
    /// The keyset wrapped under the Account Unlock Key, opaque to the server.
    pub keyset: B64,
    /// The signed public-key bundle (`docs/crypto.md` §6.1), served by the directory.
    pub key_bundle: B64,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterFinishResponse {
    pub account_id: Uuid,
}

/// Step 1 of sign-in: OPAQUE `CredentialRequest`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginStartRequest {
    pub username: String,
    pub credential_request: B64,
    /// The device proof this device got at its last sign-in to this account, if any: its
    /// attempts then count against a limit of its own, not the username's, so others'
    /// failed sign-ins cannot lock it out (`docs/server.md`, "Abuse").
    #[serde(default)]
    pub device_proof: Option<String>,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginStartResponse {
    pub login_id: Uuid,
    /// The account's id: OPAQUE's client identity. For an unknown username, a stable fake.
    pub account_id: Uuid,
    pub credential_response: B64,
    /// The sealed key-derivation setup; the client verifies it with its Secret Key.
    pub kdf_setup: B64,
}

/// Step 2 of sign-in: OPAQUE `CredentialFinalization`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LoginFinishRequest {
    pub login_id: Uuid,
    pub credential_finalization: B64,
    pub device_name: String,
}

/// The second factor a sign-in needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SecondFactor {
    Totp,
    Sms,
}

/// The outcome of [`LoginFinishRequest`]: a session, or a second factor to provide.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(tag = "status", rename_all = "snake_case")]
pub enum LoginFinishResponse {
    SignedIn(Session),
    SecondFactorRequired {
        login_id: Uuid,
        second_factor: SecondFactor,
    },
}

/// Step 3 of sign-in, when a second factor is enabled.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecondFactorRequest {
    pub login_id: Uuid,
    pub code: String,
}

/// An unauthorized attempt against the account, as the server recorded it.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct Attempt {
    /// Unix seconds.
    pub at: i64,
    pub ip: String,
    /// "failed sign-in", "bad second factor", "sign-in not completed", "wrong password
    /// (step-up)", "revoked session's token", …
    pub reason: String,
}

/// What a step-up proof is for: each dangerous action needs a fresh one of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StepUpAction {
    DeleteAccount,
    /// Username, email or phone number.
    UpdateAccount,
    /// Adding or replacing the authenticator app.
    SetUpTotp,
    DisableTotp,
    SetUpSms,
    DisableSms,
    /// Ending another device's session.
    RevokeSession,
    ChangePassword,
    ChangeSecretKey,
}

impl StepUpAction {
    /// Its name on the wire.
    pub fn name(self) -> &'static str {
        match self {
            StepUpAction::DeleteAccount => "delete_account",
            StepUpAction::UpdateAccount => "update_account",
            StepUpAction::SetUpTotp => "set_up_totp",
            StepUpAction::DisableTotp => "disable_totp",
            StepUpAction::SetUpSms => "set_up_sms",
            StepUpAction::DisableSms => "disable_sms",
            StepUpAction::RevokeSession => "revoke_session",
            StepUpAction::ChangePassword => "change_password",
            StepUpAction::ChangeSecretKey => "change_secret_key",
        }
    }
}

/// The header that carries a step-up proof's id to the action it was made for.
pub const STEP_UP_HEADER: &str = "krypt7-step-up";

/// `POST /v1/account/step-up/start`: an OPAQUE sign-in round (`CredentialRequest`) made
/// for one action, by a signed-in device.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepUpStart {
    pub action: StepUpAction,
    pub credential_request: B64,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct StepUpStarted {
    pub step_up_id: Uuid,
    pub credential_response: B64,
    /// The account's sealed KDF setup, which the round needs (as at sign-in).
    pub kdf_setup: B64,
    /// The second factor the finish must carry a code of, if the account has one.
    pub second_factor: Option<SecondFactor>,
}

/// `POST /v1/account/step-up/finish`: OPAQUE's `CredentialFinalization`, and the current
/// second factor's code when one is on.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepUpFinish {
    pub step_up_id: Uuid,
    pub credential_finalization: B64,
    #[serde(default)]
    pub code: Option<String>,
}

/// A proven step-up: send its id in the `krypt7-step-up` header of the one action it was
/// made for, before `valid_until` (Unix seconds). It is used up by that action.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct StepUpProven {
    pub step_up_id: Uuid,
    pub valid_until: i64,
}

/// A one-time code (authenticator app or SMS), 6 digits.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodeRequest {
    pub code: String,
}

/// Authenticator-app enrolment: show `otpauth_url` as a QR code (or `secret` for typing),
/// then confirm with a current code.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct TotpSetup {
    /// Base32, as authenticator apps expect.
    pub secret: String,
    pub otpauth_url: String,
}

impl fmt::Debug for TotpSetup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TotpSetup([REDACTED])")
    }
}

/// A new session: `token` goes in `Authorization: Bearer …`.
#[derive(Clone, Serialize, Deserialize, ToSchema)]
pub struct Session {
    pub session_id: Uuid,
    pub account_id: Uuid,
    pub token: String,
    /// Send it with this device's next sign-ins to this account (`LoginStartRequest`).
    #[serde(default)]
    pub device_proof: Option<String>,
}

impl fmt::Debug for Session {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Session")
            .field("session_id", &self.session_id)
            .field("account_id", &self.account_id)
            .field("token", &"[REDACTED]")
            .field("device_proof", &"[REDACTED]")
            .finish()
    }
}

/// One signed-in device.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SessionInfo {
    pub session_id: Uuid,
    pub device_name: String,
    /// Unix seconds.
    pub created_at: i64,
    pub last_seen_at: i64,
    pub current: bool,
}

/// A new name for the signed-in device (`PATCH /v1/sessions/current`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RenameDevice {
    pub device_name: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AccountInfo {
    pub account_id: Uuid,
    pub username: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub totp_enabled: bool,
    pub sms_enabled: bool,
    pub usage_bytes: i64,
    pub quota_bytes: i64,
}

/// Any field present is changed; the old value is not kept anywhere.
#[derive(Clone, Debug, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AccountUpdate {
    #[serde(default)]
    pub username: Option<String>,
    /// `""` removes the email address.
    #[serde(default)]
    pub email: Option<String>,
    /// `""` removes the phone number.
    #[serde(default)]
    pub phone: Option<String>,
}

/// `DELETE /v1/account`: the current username, typed again, confirms the deletion.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DeleteAccount {
    pub confirm_username: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AccountDeleted {
    /// Unix seconds by which every row and blob of the account is gone.
    pub purged_by: i64,
}

/// The account's encrypted key material, for a new device after sign-in.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct AccountKeys {
    pub kdf_setup: B64,
    pub keyset: B64,
    pub key_bundle: B64,
    /// How many times the password was changed ([`Changes::credentials`]).
    #[serde(default)]
    pub credentials: i64,
    /// How many times the Secret Key was changed ([`Changes::key_epoch`]).
    #[serde(default)]
    pub key_epoch: i64,
}

/// `POST /v1/account/password/start`: the OPAQUE `RegistrationRequest` of the new password
/// (with the step-up for `change_password`, which the finish uses up).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChangeStart {
    pub registration_request: B64,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
pub struct PasswordChangeStarted {
    pub registration_response: B64,
}

/// `PUT /v1/account/password`: the new password's OPAQUE `RegistrationUpload`, its sealed
/// key-derivation setup, and the same keyset wrapped under the new Account Unlock Key. They
/// replace the old ones at once; the old password opens nothing on the server after.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PasswordChange {
    pub registration_upload: B64,
    pub kdf_setup: B64,
    pub keyset: B64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PasswordChanged {
    /// The account's new count of password changes.
    pub credentials: i64,
}

/// `PUT /v1/account/secret-key/items`: items of the account sealed under the new keys of a
/// Secret Key change, staged until the change finishes (at most 1000 at a time; the step-up
/// for `change_secret_key` is checked, not used up). A later batch replaces an item staged
/// before; `POST /v1/account/secret-key/start` drops every staged item.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StagedItems {
    pub items: Vec<StagedItem>,
}

/// An item re-sealed for a Secret Key change: it replaces revision `base_revision` and
/// becomes `base_revision + 1` when the change finishes.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StagedItem {
    pub id: Uuid,
    pub vault_id: Uuid,
    pub base_revision: i64,
    pub envelope: B64,
    #[serde(default)]
    pub deleted: bool,
}

/// `PUT /v1/account/secret-key`: the password's OPAQUE `RegistrationUpload` with the new
/// Secret Key, the setup sealed under it, a new keyset wrapped under the new Account Unlock
/// Key, and for every vault of the account a new key wrap and a manifest that starts a new
/// chain. With the items staged before (every item of the account, each at its current
/// revision), they replace what the server holds at once, or nothing changes (`409`). The
/// vaults' manifest histories, sealed under the old keys, are deleted.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SecretKeyChange {
    pub registration_upload: B64,
    pub kdf_setup: B64,
    pub keyset: B64,
    pub vaults: Vec<RekeyedVault>,
}

/// One vault in a [`SecretKeyChange`].
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RekeyedVault {
    pub id: Uuid,
    /// The vault's new key, wrapped under the new account key.
    pub key_wrap: B64,
    /// The manifest version this replaces (the vault's current one); the new manifest is
    /// version `expected_version + 1`.
    pub expected_version: i64,
    pub manifest: B64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SecretKeyChanged {
    /// The account's new count of password and Secret Key changes.
    pub credentials: i64,
    /// The account's new count of Secret Key changes ([`Changes::key_epoch`]).
    pub key_epoch: i64,
}

/// A user's public keys, as the directory serves them. Verify and pin them client-side.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct DirectoryEntry {
    pub account_id: Uuid,
    pub username: String,
    pub key_bundle: B64,
}

// ---- vault data ---------------------------------------------------------------------------

/// An item as stored: the envelope is opaque to the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Item {
    pub id: Uuid,
    pub vault_id: Uuid,
    /// Starts at 1; each accepted push adds 1.
    pub revision: i64,
    pub envelope: B64,
    pub deleted: bool,
    /// The change-feed cursor of this item's last change.
    pub cursor: i64,
}

/// `PUT /v1/items/{id}`: write an item on top of `base_revision` (0 for a new item).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PushItem {
    pub vault_id: Uuid,
    pub base_revision: i64,
    pub envelope: B64,
    #[serde(default)]
    pub deleted: bool,
}

/// A vault's client-authenticated manifest, stored with compare-and-swap on its version.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Manifest {
    pub vault_id: Uuid,
    pub version: i64,
    pub manifest: B64,
    pub cursor: i64,
}

/// `POST /v1/vaults/{id}/commit`: items of one vault and the vault's next manifest, applied
/// together or not at all. The manifest must replace version `expected_version` (0: none yet)
/// and every item's `base_revision` must be its current revision (0: new), else `409`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Commit {
    pub expected_version: i64,
    pub version: i64,
    pub manifest: B64,
    #[serde(default)]
    pub items: Vec<CommitItem>,
}

/// One item of a [`Commit`]; it becomes revision `base_revision + 1`.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CommitItem {
    pub id: Uuid,
    pub base_revision: i64,
    pub envelope: B64,
    #[serde(default)]
    pub deleted: bool,
}

/// What a [`Commit`] stored.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Committed {
    pub manifest: Manifest,
    pub items: Vec<Item>,
}

/// A vault's key, wrapped by the client; opaque to the server.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct Vault {
    pub id: Uuid,
    pub key_wrap: B64,
    pub cursor: i64,
}

#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutVault {
    pub key_wrap: B64,
}

/// `GET /v1/changes?since=&limit=`: everything changed after `since`, oldest first.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Changes {
    pub items: Vec<Item>,
    pub vaults: Vec<Vault>,
    pub manifests: Vec<Manifest>,
    /// Pass as `since` next time.
    pub cursor: i64,
    /// More changes wait beyond `cursor`.
    pub has_more: bool,
    /// How many times the account's password was changed. A device that sees it go up drops
    /// its offline unlock by the old password; it unlocks next with the new one, online.
    #[serde(default)]
    pub credentials: i64,
    /// How many times the account's Secret Key was changed. A device that sees it go up
    /// holds keys that open nothing new: it keeps what it has not sent, sealed for the new
    /// keys to open, and unlocks next with the new Secret Key, online.
    #[serde(default)]
    pub key_epoch: i64,
    /// Mail delivered to the account and not yet taken in by one of its devices, oldest
    /// first (`docs/mail.md`).
    #[serde(default)]
    pub mail: Vec<IncomingMail>,
}

/// `POST /v1/blobs`: announce an upload. Its whole size counts against the quota at once, so
/// an upload that would not fit is refused before any byte is sent.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateBlob {
    pub size: i64,
    /// Bytes per uploaded chunk (64 KiB to 16 MiB); the last chunk holds the rest.
    pub chunk_size: i64,
}

/// An upload's state: which chunks the server holds, so a transfer resumes where it stopped.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct BlobStatus {
    pub blob_id: Uuid,
    pub size: i64,
    pub chunk_size: i64,
    pub chunks: i64,
    /// Indices of the chunks received, ascending.
    pub received: Vec<i64>,
    pub complete: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Usage {
    pub usage_bytes: i64,
    pub quota_bytes: i64,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Health {
    pub status: String,
    pub version: String,
    /// The domain of this server's addresses: `username@mail_domain`.
    #[serde(default)]
    pub mail_domain: String,
}

// ---- mail -----------------------------------------------------------------------------------

/// `POST /v1/mail`: one message, sealed once per copy (`docs/mail.md`). Sent again with the
/// same `client_id` (a retry after a lost answer), it is delivered once.
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SendMail {
    pub client_id: Uuid,
    pub copies: Vec<MailCopy>,
    /// The sender's complete blobs the message refers to (its attachments, sealed there
    /// under keys inside the message): each recipient gets its own copy under the same id,
    /// counted against their quota.
    #[serde(default)]
    pub attachments: Vec<Uuid>,
}

/// A sealed message and the recipient accounts it goes to (To and Cc share one; each Bcc
/// recipient has their own).
#[derive(Clone, Debug, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MailCopy {
    pub recipients: Vec<Uuid>,
    pub sealed: B64,
}

/// The answer to [`SendMail`]: when it was delivered (the first time, for a retry).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct MailSent {
    pub client_id: Uuid,
    pub delivered_at: i64,
    /// A retry of a message already delivered: nothing was delivered again.
    pub already: bool,
}

/// A message waiting for the recipient's devices, in the change feed. The server knows the
/// sender's account, the size (a padded bucket) and when it arrived; nothing else.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IncomingMail {
    pub id: Uuid,
    pub sender: Uuid,
    pub arrived_at: i64,
    /// Empty once `taken`.
    pub sealed: B64,
    pub cursor: i64,
    /// A device of the account took it in (the server no longer holds it).
    #[serde(default)]
    pub taken: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn b64_round_trips_and_refuses_bad_input() {
        let v = B64(vec![0, 1, 2, 250, 251, 252]);
        let s = serde_json::to_string(&v).unwrap();
        assert_eq!(s, "\"AAEC-vv8\"");
        assert_eq!(serde_json::from_str::<B64>(&s).unwrap(), v);
        for bad in ["\"AAEC+vv8\"", "\"AAEC-vv8=\"", "\"!!\"", "42", "null"] {
            assert!(serde_json::from_str::<B64>(bad).is_err(), "{bad}");
        }
        assert_eq!(format!("{v:?}"), "B64(6 bytes)");
    }

    #[test]
    fn errors_have_stable_codes() {
        let e = ApiError {
            code: ErrorCode::RateLimited,
            message: "slow down".into(),
            current: None,
        };
        assert_eq!(
            serde_json::to_string(&e).unwrap(),
            r#"{"code":"rate_limited","message":"slow down"}"#
        );
    }

    #[test]
    fn unknown_fields_are_refused_where_it_matters() {
        let body = r#"{"vault_id":"00000000-0000-0000-0000-000000000001","base_revision":0,"envelope":"","sneaky":1}"#;
        assert!(serde_json::from_str::<PushItem>(body).is_err());
    }

    #[test]
    fn session_tokens_are_not_in_debug() {
        let s = Session {
            session_id: Uuid::nil(),
            account_id: Uuid::nil(),
            token: "tok-secret".into(),
            device_proof: Some("proof-secret".into()),
        };
        let shown = format!("{s:?}");
        assert!(!shown.contains("tok-secret") && !shown.contains("proof-secret"));
    }
}
