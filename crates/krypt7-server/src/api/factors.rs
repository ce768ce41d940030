//! Second factors: an authenticator app (TOTP, RFC 6238) or SMS codes, and the sign-in step
//! that checks them. A TOTP step is accepted once; an SMS code once and for 10 minutes; five
//! wrong codes end a pending sign-in.

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
};
use krypt7_protocol::{
    CodeRequest, ErrorCode, LoginFinishResponse, SecondFactor, SecondFactorRequest, StepUpAction,
    TotpSetup,
};
use ring::rand::SecureRandom;
use totp_rs::{Builder, Totp};
use uuid::Uuid;

use super::{ApiResult, AppState, Authed, ClientIp, Fail, Json, stepup};

const SMS_CODE_SECS: i64 = 600;

fn totp(secret: &[u8], account_name: &str) -> Result<Totp, Fail> {
    Builder::new()
        .with_secret(secret.to_vec())
        .with_account_name(account_name)
        .with_issuer(Some("KRYPT7"))
        .build()
        .map_err(|_| Fail::internal())
}

fn invalid_code() -> Fail {
    Fail::new(
        StatusCode::BAD_REQUEST,
        ErrorCode::InvalidCode,
        "the code is wrong, expired or already used",
    )
}

/// Six uniformly random digits.
fn six_digits() -> Result<String, Fail> {
    let rng = ring::rand::SystemRandom::new();
    loop {
        let mut b = [0u8; 4];
        rng.fill(&mut b).map_err(|_| Fail::internal())?;
        let v = u32::from_be_bytes(b);
        // Reject the top sliver so every code is equally likely.
        if v < u32::MAX - u32::MAX % 1_000_000 {
            return Ok(format!("{:06}", v % 1_000_000));
        }
    }
}

fn code_hash(scope: &[u8], code: &str) -> Vec<u8> {
    ring::digest::digest(
        &ring::digest::SHA256,
        &[scope, b"\0", code.trim().as_bytes()].concat(),
    )
    .as_ref()
    .to_vec()
}

#[utoipa::path(post, path = "/v1/account/totp", responses((status = 200, body = TotpSetup)), security(("bearer" = [])))]
pub async fn totp_setup(
    State(st): State<AppState>,
    auth: Authed,
    headers: HeaderMap,
) -> ApiResult<Json<TotpSetup>> {
    // Adding or replacing the authenticator: a step-up, which carried the current one's
    // code when one is on.
    stepup::require(&st, &auth, &headers, StepUpAction::SetUpTotp).await?;
    let mut secret = vec![0u8; 20];
    ring::rand::SystemRandom::new()
        .fill(&mut secret)
        .map_err(|_| Fail::internal())?;
    let account = st.db.account(auth.account).await?;
    let t = totp(&secret, &account.username)?;
    st.db.set_totp_pending(auth.account, &secret).await?;
    Ok(Json(TotpSetup {
        secret: t.secret().to_base32(),
        otpauth_url: t.to_url().map_err(|_| Fail::internal())?,
    }))
}

#[utoipa::path(post, path = "/v1/account/totp/confirm", request_body = CodeRequest,
    responses((status = 204), (status = 400, body = krypt7_protocol::ApiError)), security(("bearer" = [])))]
pub async fn totp_confirm(
    State(st): State<AppState>,
    auth: Authed,
    Json(c): Json<CodeRequest>,
) -> ApiResult<StatusCode> {
    let (_, pending, _) = st.db.totp(auth.account).await?;
    let pending = pending.ok_or_else(|| Fail::bad_request("start with POST /v1/account/totp"))?;
    let step = totp(&pending, "x")?
        .check(c.code.trim(), st.clock.now() as u64)
        .ok_or_else(invalid_code)?;
    if !st.db.confirm_totp(auth.account, step as i64).await? {
        return Err(invalid_code());
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/account/totp/disable",
    responses((status = 204), (status = 400, body = krypt7_protocol::ApiError), (status = 403, body = krypt7_protocol::ApiError)),
    security(("bearer" = [])))]
pub async fn totp_disable(
    State(st): State<AppState>,
    auth: Authed,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    // The step-up carried a current code of the authenticator.
    stepup::require(&st, &auth, &headers, StepUpAction::DisableTotp).await?;
    if st.db.totp(auth.account).await?.0.is_none() {
        return Err(Fail::bad_request("the authenticator app is not enabled"));
    }
    st.db.disable_totp(auth.account).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/account/sms", responses((status = 202), (status = 400, body = krypt7_protocol::ApiError),
    (status = 403, body = krypt7_protocol::ApiError)),
    security(("bearer" = [])))]
pub async fn sms_setup(
    State(st): State<AppState>,
    auth: Authed,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    stepup::require(&st, &auth, &headers, StepUpAction::SetUpSms).await?;
    send_account_code(&st, auth.account).await?;
    Ok(StatusCode::ACCEPTED)
}

#[utoipa::path(post, path = "/v1/account/sms/confirm", request_body = CodeRequest,
    responses((status = 204), (status = 400, body = krypt7_protocol::ApiError)), security(("bearer" = [])))]
pub async fn sms_confirm(
    State(st): State<AppState>,
    auth: Authed,
    Json(c): Json<CodeRequest>,
) -> ApiResult<StatusCode> {
    if !st
        .db
        .confirm_sms(
            auth.account,
            &code_hash(auth.account.as_bytes(), &c.code),
            st.clock.now(),
        )
        .await?
    {
        return Err(invalid_code());
    }
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/account/sms/disable", responses((status = 204), (status = 403, body = krypt7_protocol::ApiError)),
    security(("bearer" = [])))]
pub async fn sms_disable(
    State(st): State<AppState>,
    auth: Authed,
    headers: HeaderMap,
) -> ApiResult<StatusCode> {
    stepup::require(&st, &auth, &headers, StepUpAction::DisableSms).await?;
    st.db.disable_sms(auth.account).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn send_code(st: &AppState, phone: &str, code: &str) -> Result<(), Fail> {
    st.sms
        .send(
            phone,
            &format!("Your KRYPT7 code is {code}. It expires in 10 minutes."),
        )
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "sending an SMS failed");
            Fail::new(
                StatusCode::BAD_GATEWAY,
                ErrorCode::Internal,
                "the SMS could not be sent; try again later",
            )
        })
}

/// Whether `code` is the account's current second factor (each code once); true when the
/// account has none.
pub(super) async fn second_factor_holds(
    st: &AppState,
    account: Uuid,
    code: Option<&str>,
    now: i64,
) -> ApiResult<bool> {
    let a = st.db.account(account).await?;
    if !a.totp_enabled && !a.sms_enabled {
        return Ok(true);
    }
    let Some(code) = code.map(str::trim).filter(|c| !c.is_empty()) else {
        return Ok(false);
    };
    if a.totp_enabled {
        let Some(secret) = st.db.totp(account).await?.0 else {
            return Ok(false);
        };
        return Ok(match totp(&secret, "x")?.check(code, now as u64) {
            Some(step) => st.db.use_totp_step(account, step as i64).await?,
            None => false,
        });
    }
    Ok(st
        .db
        .take_sms_code(account, &code_hash(account.as_bytes(), code), now)
        .await?)
}

/// Sends a code to the account's phone (valid 10 minutes, once): to confirm SMS codes, or
/// for a step-up.
pub(super) async fn send_account_code(st: &AppState, account: Uuid) -> ApiResult<()> {
    let a = st.db.account(account).await?;
    let phone = a
        .phone
        .ok_or_else(|| Fail::bad_request("add a phone number to the account first"))?;
    let code = six_digits()?;
    st.db
        .set_sms_code(
            account,
            &code_hash(account.as_bytes(), &code),
            st.clock.now() + SMS_CODE_SECS,
        )
        .await?;
    send_code(st, &phone, &code).await
}

/// After OPAQUE succeeded: asks for the account's second factor, if it has one.
pub(super) async fn require_second_factor(
    st: &AppState,
    login_id: Uuid,
    account: Uuid,
    device_name: &str,
) -> ApiResult<Option<LoginFinishResponse>> {
    let a = st.db.account(account).await?;
    let expires = st.clock.now() + SMS_CODE_SECS;
    let kind = if a.totp_enabled {
        st.db
            .put_second_factor_login(login_id, account, "totp", None, device_name, expires)
            .await?;
        SecondFactor::Totp
    } else if a.sms_enabled {
        let phone = a.phone.ok_or_else(Fail::internal)?;
        let code = six_digits()?;
        st.db
            .put_second_factor_login(
                login_id,
                account,
                "sms",
                Some(&code_hash(login_id.as_bytes(), &code)),
                device_name,
                expires,
            )
            .await?;
        send_code(st, &phone, &code).await?;
        SecondFactor::Sms
    } else {
        return Ok(None);
    };
    Ok(Some(LoginFinishResponse::SecondFactorRequired {
        login_id,
        second_factor: kind,
    }))
}

#[utoipa::path(post, path = "/v1/sessions/login/second-factor", request_body = SecondFactorRequest,
    responses((status = 200, body = LoginFinishResponse), (status = 401, body = krypt7_protocol::ApiError),
              (status = 429, body = krypt7_protocol::ApiError)))]
pub async fn login_second_factor(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    Json(req): Json<SecondFactorRequest>,
) -> ApiResult<Json<LoginFinishResponse>> {
    st.limits.check(ip, Some(&req.login_id.to_string()))?;
    let now = st.clock.now();
    let attempt = st.db.second_factor_attempt(req.login_id).await?;
    let against = attempt.as_ref().and_then(|(p, _)| p.account_id);
    let reason = match attempt {
        None => "unknown sign-in",
        Some((p, _)) if p.expires_at < now => "expired sign-in",
        Some((p, sms_hash)) => {
            let account = p.account_id.ok_or_else(Fail::internal)?;
            let ok = match p.second_factor.as_deref() {
                Some("totp") => match st.db.totp(account).await?.0 {
                    Some(secret) => match totp(&secret, "x")?.check(req.code.trim(), now as u64) {
                        // Each step once: a replayed code is refused.
                        Some(step) => st.db.use_totp_step(account, step as i64).await?,
                        None => false,
                    },
                    None => false,
                },
                // Comparing hashes: timing reveals nothing about the code itself.
                Some("sms") => {
                    sms_hash.is_some_and(|h| h == code_hash(req.login_id.as_bytes(), &req.code))
                }
                _ => false,
            };
            if ok {
                st.db.delete_pending_login(req.login_id).await?;
                let device = p.device_name.unwrap_or_else(|| "unnamed device".into());
                return super::accounts::signed_in(&st, account, &device, now).await;
            }
            "bad second factor"
        }
    };
    st.record_unauthorized(ip, against, reason).await?;
    Err(Fail::new(
        StatusCode::UNAUTHORIZED,
        ErrorCode::InvalidCode,
        "the code is wrong, expired or already used",
    ))
}
