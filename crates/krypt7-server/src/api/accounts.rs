//! Accounts, sign-in, sessions, keys and the public-key directory.

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
};
use krypt7_protocol::{
    AccountDeleted, AccountInfo, AccountKeys, AccountUpdate, Attempt, B64, DeleteAccount,
    DirectoryEntry, ErrorCode, Health, LoginFinishRequest, LoginFinishResponse, LoginStartRequest,
    LoginStartResponse, PasswordChange, PasswordChangeStart, PasswordChangeStarted,
    PasswordChanged, RegisterFinishRequest, RegisterFinishResponse, RegisterStartRequest,
    RegisterStartResponse, RenameDevice, Session, SessionInfo, StepUpAction,
};
use ring::rand::SecureRandom;
use uuid::Uuid;

use super::{ApiResult, AppState, Authed, ClientIp, Fail, Json, Path, stepup, token_hash};
use crate::{db::NewAccount, opaque::Opaque};

/// How long a sign-in may sit between its messages.
pub const PENDING_LOGIN_SECS: i64 = 300;
/// At most this many attempts are listed.
const MAX_LISTED_ATTEMPTS: i64 = 100;
/// Upper bounds on the opaque blobs an account carries (they are small by construction).
pub(super) const MAX_SMALL_BLOB: usize = 4096;

#[utoipa::path(get, path = "/v1/health", responses((status = 200, body = Health)))]
pub async fn health(State(st): State<AppState>) -> Json<Health> {
    Json(Health {
        status: "ok".into(),
        version: env!("CARGO_PKG_VERSION").into(),
        mail_domain: st.config.mail_domain.clone(),
    })
}

/// Usernames: 3 to 64 characters of `a-z 0-9 . _ -`, compared in lower case.
pub fn normalize_username(u: &str) -> Result<String, Fail> {
    let u = u.trim().to_ascii_lowercase();
    let ok = (3..=64).contains(&u.len())
        && u.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b));
    if ok {
        Ok(u)
    } else {
        Err(Fail::bad_request(
            "a username has 3 to 64 characters: letters, digits, '.', '_' or '-'",
        ))
    }
}

fn check_email(e: &str) -> Result<(), Fail> {
    let ok = e.len() <= 254
        && e.split_once('@')
            .is_some_and(|(l, d)| !l.is_empty() && d.contains('.'))
        && !e.contains(char::is_whitespace);
    if ok {
        Ok(())
    } else {
        Err(Fail::bad_request("the email address is not valid"))
    }
}

fn check_phone(p: &str) -> Result<(), Fail> {
    let digits = p.strip_prefix('+').unwrap_or("");
    if (7..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit()) {
        Ok(())
    } else {
        Err(Fail::bad_request(
            "the phone number must be in international form, e.g. +33612345678",
        ))
    }
}

pub(super) fn check_blob(name: &str, b: &B64, max: usize) -> Result<(), Fail> {
    if b.0.is_empty() || b.0.len() > max {
        return Err(Fail::bad_request(format!(
            "{name} must be 1 to {max} bytes"
        )));
    }
    Ok(())
}

fn check_device_name(d: &str) -> Result<(), Fail> {
    if d.trim().is_empty() || d.chars().count() > 100 || d.chars().any(char::is_control) {
        return Err(Fail::bad_request(
            "the device name must be 1 to 100 printable characters",
        ));
    }
    Ok(())
}

#[utoipa::path(post, path = "/v1/accounts/register/start", request_body = RegisterStartRequest,
    responses((status = 200, body = RegisterStartResponse), (status = 400, body = krypt7_protocol::ApiError)))]
pub async fn register_start(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(req): Json<RegisterStartRequest>,
) -> ApiResult<Json<RegisterStartResponse>> {
    st.limits.check(ip, None)?;
    normalize_username(&req.username)?;
    let account_id = Uuid::new_v4();
    let response = st
        .opaque
        .registration_response(&req.registration_request.0, account_id.as_bytes())
        .map_err(|_| Fail::bad_request("registration_request is not a valid OPAQUE message"))?;
    Ok(Json(RegisterStartResponse {
        account_id,
        registration_response: B64(response),
    }))
}

#[utoipa::path(post, path = "/v1/accounts/register/finish", request_body = RegisterFinishRequest,
    responses((status = 201, body = RegisterFinishResponse), (status = 400, body = krypt7_protocol::ApiError),
              (status = 409, body = krypt7_protocol::ApiError)))]
pub async fn register_finish(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(req): Json<RegisterFinishRequest>,
) -> ApiResult<(StatusCode, Json<RegisterFinishResponse>)> {
    st.limits.check(ip, None)?;
    let username = normalize_username(&req.username)?;
    let email = req.email.as_deref().filter(|e| !e.is_empty());
    let phone = req.phone.as_deref().filter(|p| !p.is_empty());
    email.map(check_email).transpose()?;
    phone.map(check_phone).transpose()?;
    check_blob("kdf_setup", &req.kdf_setup, MAX_SMALL_BLOB)?;
    check_blob("keyset", &req.keyset, MAX_SMALL_BLOB)?;
    check_blob("key_bundle", &req.key_bundle, MAX_SMALL_BLOB)?;
    let record = Opaque::registration_record(&req.registration_upload.0)
        .map_err(|_| Fail::bad_request("registration_upload is not a valid OPAQUE message"))?;
    st.db
        .create_account(NewAccount {
            id: req.account_id,
            username: &username,
            email,
            phone,
            opaque_record: &record,
            kdf_setup: &req.kdf_setup.0,
            keyset: &req.keyset.0,
            key_bundle: &req.key_bundle.0,
            quota_bytes: st.config.quota_bytes,
            now: st.clock.now(),
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(RegisterFinishResponse {
            account_id: req.account_id,
        }),
    ))
}

/// A stable fake for an unknown username, so probing reveals nothing: the same answer
/// shape, the same account id and setup each time.
fn fake(st: &AppState, what: &[u8], username: &str, len: usize) -> Vec<u8> {
    let tag = ring::hmac::sign(&st.fake_key, &[what, b"\0", username.as_bytes()].concat());
    tag.as_ref()[..len].to_vec()
}

/// A sealed KDF setup (`docs/crypto.md` §3.2) with the minimum parameters and a salt and MAC
/// that look random: the client fails to verify it, exactly as with a wrong Secret Key.
fn fake_kdf_setup(st: &AppState, username: &str) -> Vec<u8> {
    let mut b = vec![1u8, 1];
    b.extend_from_slice(&(64u32 * 1024).to_be_bytes());
    b.extend_from_slice(&3u32.to_be_bytes());
    b.extend_from_slice(&4u32.to_be_bytes());
    b.push(16);
    b.extend_from_slice(&fake(st, b"salt", username, 16));
    b.extend_from_slice(&fake(st, b"mac", username, 32));
    b
}

#[utoipa::path(post, path = "/v1/sessions/login/start", request_body = LoginStartRequest,
    responses((status = 200, body = LoginStartResponse), (status = 400, body = krypt7_protocol::ApiError),
              (status = 429, body = krypt7_protocol::ApiError)))]
pub async fn login_start(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(req): Json<LoginStartRequest>,
) -> ApiResult<Json<LoginStartResponse>> {
    let username = normalize_username(&req.username)?;
    st.limits.check(ip, None)?;
    let account = st.db.login_account(&username).await?;
    // A device that proves it signed in to this account before counts against its own
    // limit; everyone else against the username's, which others' failures can exhaust.
    let proven = account
        .as_ref()
        .zip(req.device_proof.as_deref())
        .and_then(|(a, p)| proof_holds(&st, a.id, p));
    match proven {
        Some(device) => st.limits.check_key(&device)?,
        None => st.limits.check_key(&username)?,
    }
    let (account_id, record, kdf_setup) = match &account {
        Some(a) => (a.id, Some(a.opaque_record.as_slice()), a.kdf_setup.clone()),
        None => {
            let id = Uuid::from_slice(&fake(&st, b"account", &username, 16))
                .map_err(|_| Fail::internal())?;
            (id, None, fake_kdf_setup(&st, &username))
        }
    };
    let (response, state) = st
        .opaque
        .login_start(record, &req.credential_request.0, account_id.as_bytes())
        .map_err(|_| Fail::bad_request("credential_request is not a valid OPAQUE message"))?;
    let login_id = Uuid::new_v4();
    st.db
        .put_pending_login(
            login_id,
            account.as_ref().map(|a| a.id),
            &state,
            &ip.to_string(),
            st.clock.now() + PENDING_LOGIN_SECS,
        )
        .await?;
    Ok(Json(LoginStartResponse {
        login_id,
        account_id,
        credential_response: B64(response),
        kdf_setup: B64(kdf_setup),
    }))
}

/// A new session for `account` on `device`, with a device proof for its next sign-ins.
pub(crate) async fn signed_in(
    st: &AppState,
    account: Uuid,
    device: &str,
    now: i64,
) -> ApiResult<Json<LoginFinishResponse>> {
    let token = new_token()?;
    let session_id = st
        .db
        .create_session(account, &token_hash(&token), device, now)
        .await?;
    let mut nonce = [0u8; 16];
    ring::rand::SystemRandom::new()
        .fill(&mut nonce)
        .map_err(|_| Fail::internal())?;
    let proof = [nonce.as_slice(), proof_tag(st, account, &nonce).as_ref()].concat();
    Ok(Json(LoginFinishResponse::SignedIn(Session {
        session_id,
        account_id: account,
        token,
        device_proof: Some(B64(proof).encode()),
    })))
}

/// A device proof is 16 random bytes and their HMAC under the server's key, bound to the
/// account: stateless, it names a device without telling the server anything more.
fn proof_tag(st: &AppState, account: Uuid, nonce: &[u8]) -> ring::hmac::Tag {
    ring::hmac::sign(
        &st.fake_key,
        &[b"device-proof\0".as_slice(), account.as_bytes(), nonce].concat(),
    )
}

/// The rate-limit key of a device proof that holds for `account`, or `None`.
fn proof_holds(st: &AppState, account: Uuid, proof: &str) -> Option<String> {
    let bytes = B64::decode(proof)?.0;
    let (nonce, tag) = bytes.split_at_checked(16)?;
    ring::hmac::verify(
        &st.fake_key,
        &[b"device-proof\0".as_slice(), account.as_bytes(), nonce].concat(),
        tag,
    )
    .ok()?;
    Some(format!("device:{}", B64(nonce.to_vec()).encode()))
}

pub(crate) fn new_token() -> Result<String, Fail> {
    let mut t = [0u8; 32];
    ring::rand::SystemRandom::new()
        .fill(&mut t)
        .map_err(|_| Fail::internal())?;
    use base64::Engine;
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(t))
}

#[utoipa::path(post, path = "/v1/sessions/login/finish", request_body = LoginFinishRequest,
    responses((status = 200, body = LoginFinishResponse), (status = 401, body = krypt7_protocol::ApiError),
              (status = 429, body = krypt7_protocol::ApiError)))]
pub async fn login_finish(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(req): Json<LoginFinishRequest>,
) -> ApiResult<Json<LoginFinishResponse>> {
    st.limits.check(ip, None)?;
    check_device_name(&req.device_name)?;
    let now = st.clock.now();
    let pending = st.db.take_pending_login(req.login_id).await?;
    // The account a failed attempt was against (none for an unknown username).
    let against = pending.as_ref().and_then(|p| p.account_id);
    let reason = match pending {
        None => "unknown sign-in",
        Some(p) if p.expires_at < now || p.second_factor.is_some() => "expired sign-in",
        Some(p) => match p.account_id {
            Some(account)
                if Opaque::login_finish(
                    &p.state,
                    &req.credential_finalization.0,
                    account.as_bytes(),
                )
                .is_ok() =>
            {
                let device = req.device_name.trim();
                if let Some(ask) =
                    super::factors::require_second_factor(&st, req.login_id, account, device)
                        .await?
                {
                    return Ok(Json(ask));
                }
                return signed_in(&st, account, device, now).await;
            }
            _ => "failed sign-in",
        },
    };
    st.record_unauthorized(ip, against, reason).await?;
    Err(Fail::unauthorized(
        "sign-in failed: check the username, password and Secret Key",
    ))
}
#[utoipa::path(get, path = "/v1/sessions", responses((status = 200, body = Vec<SessionInfo>)), security(("bearer" = [])))]
pub async fn list_sessions(
    State(st): State<AppState>,
    auth: Authed,
) -> ApiResult<Json<Vec<SessionInfo>>> {
    let rows = st.db.sessions(auth.account).await?;
    let now = st.clock.now();
    Ok(Json(
        rows.into_iter()
            .filter(|r| !st.config.session_expired(r.created_at, r.last_seen_at, now))
            .map(|r| SessionInfo {
                session_id: r.id,
                device_name: r.device_name,
                created_at: r.created_at,
                last_seen_at: r.last_seen_at,
                current: r.id == auth.session,
            })
            .collect(),
    ))
}

#[utoipa::path(delete, path = "/v1/sessions/{id}", params(("id" = Uuid, Path)),
    responses((status = 204), (status = 404, body = krypt7_protocol::ApiError)), security(("bearer" = [])))]
pub async fn revoke_session(
    State(st): State<AppState>,
    auth: Authed,
    headers: HeaderMap,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    // Signing this device out is free; another device, a step-up.
    if id != auth.session {
        stepup::require(&st, &auth, &headers, StepUpAction::RevokeSession).await?;
    }
    let reason = if id == auth.session {
        "signed out"
    } else {
        "revoked"
    };
    st.db
        .end_session(auth.account, id, reason, st.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(delete, path = "/v1/sessions/current", responses((status = 204)), security(("bearer" = [])))]
pub async fn sign_out(State(st): State<AppState>, auth: Authed) -> ApiResult<StatusCode> {
    st.db
        .end_session(auth.account, auth.session, "signed out", st.clock.now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Renames this device's session (what the account's device list shows): a device names
/// only itself.
#[utoipa::path(patch, path = "/v1/sessions/current", request_body = RenameDevice,
    responses((status = 204), (status = 400, body = krypt7_protocol::ApiError)), security(("bearer" = [])))]
pub async fn rename_device(
    State(st): State<AppState>,
    auth: Authed,
    Json(r): Json<RenameDevice>,
) -> ApiResult<StatusCode> {
    check_device_name(&r.device_name)?;
    st.db
        .rename_session(auth.account, auth.session, r.device_name.trim())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/account", responses((status = 200, body = AccountInfo)), security(("bearer" = [])))]
pub async fn account(State(st): State<AppState>, auth: Authed) -> ApiResult<Json<AccountInfo>> {
    Ok(Json(st.db.account(auth.account).await?))
}

#[utoipa::path(patch, path = "/v1/account", request_body = AccountUpdate,
    responses((status = 200, body = AccountInfo), (status = 409, body = krypt7_protocol::ApiError)), security(("bearer" = [])))]
pub async fn update_account(
    State(st): State<AppState>,
    auth: Authed,
    headers: HeaderMap,
    Json(u): Json<AccountUpdate>,
) -> ApiResult<Json<AccountInfo>> {
    let username = u.username.as_deref().map(normalize_username).transpose()?;
    let email = u
        .email
        .as_deref()
        .map(|e| {
            if e.is_empty() {
                Ok(None)
            } else {
                check_email(e).map(|_| Some(e))
            }
        })
        .transpose()?;
    let phone = u
        .phone
        .as_deref()
        .map(|p| {
            if p.is_empty() {
                Ok(None)
            } else {
                check_phone(p).map(|_| Some(p))
            }
        })
        .transpose()?;
    // Checked once the request is known to be well-formed, so a typo costs no proof.
    stepup::require(&st, &auth, &headers, StepUpAction::UpdateAccount).await?;
    st.db
        .update_account(auth.account, username.as_deref(), email, phone)
        .await?;
    account(State(st), auth).await
}

#[utoipa::path(post, path = "/v1/account/password/start", request_body = PasswordChangeStart,
    responses((status = 200, body = PasswordChangeStarted), (status = 400, body = krypt7_protocol::ApiError),
              (status = 403, body = krypt7_protocol::ApiError, description = "no fresh step-up for this action")),
    security(("bearer" = [])))]
pub async fn password_start(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: Authed,
    headers: HeaderMap,
    Json(req): Json<PasswordChangeStart>,
) -> ApiResult<Json<PasswordChangeStarted>> {
    registration_start(&st, ip, &auth, &headers, &req, StepUpAction::ChangePassword).await
}

/// The server's half of a new OPAQUE registration for the account, made for `action` (its
/// step-up checked, and left for the request that finishes the action).
pub(super) async fn registration_start(
    st: &AppState,
    ip: std::net::IpAddr,
    auth: &Authed,
    headers: &HeaderMap,
    req: &PasswordChangeStart,
    action: StepUpAction,
) -> ApiResult<Json<PasswordChangeStarted>> {
    st.limits.check(ip, Some(&auth.account.to_string()))?;
    stepup::check(st, auth, headers, action).await?;
    let response = st
        .opaque
        .registration_response(&req.registration_request.0, auth.account.as_bytes())
        .map_err(|_| Fail::bad_request("registration_request is not a valid OPAQUE message"))?;
    Ok(Json(PasswordChangeStarted {
        registration_response: B64(response),
    }))
}

#[utoipa::path(put, path = "/v1/account/password", request_body = PasswordChange,
    responses((status = 200, body = PasswordChanged), (status = 400, body = krypt7_protocol::ApiError),
              (status = 403, body = krypt7_protocol::ApiError, description = "no fresh step-up for this action")),
    security(("bearer" = [])))]
pub async fn change_password(
    State(st): State<AppState>,
    auth: Authed,
    headers: HeaderMap,
    Json(req): Json<PasswordChange>,
) -> ApiResult<Json<PasswordChanged>> {
    check_blob("kdf_setup", &req.kdf_setup, MAX_SMALL_BLOB)?;
    check_blob("keyset", &req.keyset, MAX_SMALL_BLOB)?;
    let record = Opaque::registration_record(&req.registration_upload.0)
        .map_err(|_| Fail::bad_request("registration_upload is not a valid OPAQUE message"))?;
    stepup::require(&st, &auth, &headers, StepUpAction::ChangePassword).await?;
    let (credentials, cursor) = st
        .db
        .change_password(auth.account, &record, &req.kdf_setup.0, &req.keyset.0)
        .await?;
    // Other devices sync now, see the change, and drop their unlock by the old password.
    st.changed(auth.account, cursor).await;
    Ok(Json(PasswordChanged { credentials }))
}

#[utoipa::path(delete, path = "/v1/account", request_body = DeleteAccount,
    responses((status = 202, body = AccountDeleted), (status = 400, body = krypt7_protocol::ApiError),
              (status = 403, body = krypt7_protocol::ApiError, description = "no fresh step-up for this action")), security(("bearer" = [])))]
pub async fn delete_account(
    State(st): State<AppState>,
    auth: Authed,
    headers: HeaderMap,
    Json(d): Json<DeleteAccount>,
) -> ApiResult<(StatusCode, Json<AccountDeleted>)> {
    let a = st.db.account(auth.account).await?;
    if normalize_username(&d.confirm_username).ok().as_deref() != Some(a.username.as_str()) {
        return Err(Fail::bad_request(
            "confirm_username must be the account's username",
        ));
    }
    stepup::require(&st, &auth, &headers, StepUpAction::DeleteAccount).await?;
    let now = st.clock.now();
    st.db.delete_account(auth.account, now).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(AccountDeleted {
            purged_by: now + 48 * 3600,
        }),
    ))
}

#[utoipa::path(get, path = "/v1/account/keys", responses((status = 200, body = AccountKeys)), security(("bearer" = [])))]
pub async fn account_keys(
    State(st): State<AppState>,
    auth: Authed,
) -> ApiResult<Json<AccountKeys>> {
    Ok(Json(st.db.account_keys(auth.account).await?))
}

#[utoipa::path(get, path = "/v1/directory/{username}", params(("username" = String, Path)),
    responses((status = 200, body = DirectoryEntry), (status = 404, body = krypt7_protocol::ApiError)), security(("bearer" = [])))]
pub async fn directory(
    State(st): State<AppState>,
    _auth: Authed,
    Path(username): Path<String>,
) -> ApiResult<Json<DirectoryEntry>> {
    let username = normalize_username(&username)?;
    let (account_id, username, bundle) = st.db.directory(&username).await.map_err(|e| match e {
        crate::db::DbError::NotFound => Fail::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            "no user with that name",
        ),
        e => e.into(),
    })?;
    Ok(Json(DirectoryEntry {
        account_id,
        username,
        key_bundle: B64(bundle),
    }))
}

/// The unauthorized attempts against this account within the record's retention (a wrong
/// password or code, a sign-in or step-up left unfinished, an ended session's token used
/// again), newest first, at most 100.
#[utoipa::path(get, path = "/v1/account/attempts", responses((status = 200, body = Vec<Attempt>)), security(("bearer" = [])))]
pub async fn attempts(State(st): State<AppState>, auth: Authed) -> ApiResult<Json<Vec<Attempt>>> {
    st.sweep_unfinished().await?;
    let since = st.clock.now() - st.config.attempts_retention_secs;
    let rows = st
        .db
        .account_attempts(auth.account, since, MAX_LISTED_ATTEMPTS)
        .await?;
    Ok(Json(
        rows.into_iter()
            .map(|(ip, at, reason)| Attempt { at, ip, reason })
            .collect(),
    ))
}
