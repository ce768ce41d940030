//! Step-up: a signed-in device proves the password again (a full OPAQUE sign-in round made
//! for one action) and, when the account has one, its current second factor, before a
//! dangerous action. A session token alone reads ciphertext and pushes changes; it cannot
//! delete the account, change its second factors, its password, Secret Key, username,
//! email or phone, or sign out other devices. A proof is good for [`STEP_UP_SECS`], for the
//! one action and session it was made for, and once.

use axum::{
    extract::State,
    http::{HeaderMap, StatusCode},
};
use krypt7_protocol::{
    B64, ErrorCode, STEP_UP_HEADER, SecondFactor, StepUpAction, StepUpFinish, StepUpProven,
    StepUpStart, StepUpStarted,
};
use uuid::Uuid;

use super::{ApiResult, AppState, Authed, ClientIp, Fail, Json, factors};
use crate::{db::NewStepUp, opaque::Opaque};

/// How long a proven step-up stays usable, and an unfinished round waits.
pub const STEP_UP_SECS: i64 = 300;

#[utoipa::path(post, path = "/v1/account/step-up/start", request_body = StepUpStart,
    responses((status = 200, body = StepUpStarted), (status = 400, body = krypt7_protocol::ApiError),
              (status = 429, body = krypt7_protocol::ApiError)),
    security(("bearer" = [])))]
pub async fn start(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: Authed,
    Json(req): Json<StepUpStart>,
) -> ApiResult<Json<StepUpStarted>> {
    st.limits.check(ip, Some(&auth.account.to_string()))?;
    let record = st.db.opaque_record(auth.account).await?;
    let (response, state) = st
        .opaque
        .login_start(
            Some(&record),
            &req.credential_request.0,
            auth.account.as_bytes(),
        )
        .map_err(|_| Fail::bad_request("credential_request is not a valid OPAQUE message"))?;
    let id = Uuid::new_v4();
    st.db
        .put_step_up(NewStepUp {
            id,
            account: auth.account,
            session: auth.session,
            action: req.action.name(),
            state: &state,
            ip: &ip.to_string(),
            expires_at: st.clock.now() + STEP_UP_SECS,
        })
        .await?;
    let a = st.db.account(auth.account).await?;
    let second_factor = if a.totp_enabled {
        Some(SecondFactor::Totp)
    } else if a.sms_enabled {
        Some(SecondFactor::Sms)
    } else {
        None
    };
    let kdf_setup = st.db.account_keys(auth.account).await?.kdf_setup;
    Ok(Json(StepUpStarted {
        step_up_id: id,
        credential_response: B64(response),
        kdf_setup,
        second_factor,
    }))
}

#[utoipa::path(post, path = "/v1/account/step-up/finish", request_body = StepUpFinish,
    responses((status = 200, body = StepUpProven), (status = 403, body = krypt7_protocol::ApiError)),
    security(("bearer" = [])))]
pub async fn finish(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: Authed,
    Json(req): Json<StepUpFinish>,
) -> ApiResult<Json<StepUpProven>> {
    // Each round was counted at its start (where the password guess is made).
    let now = st.clock.now();
    let state = st
        .db
        .take_step_up_state(req.step_up_id, auth.account, auth.session, now)
        .await?;
    let reason = match state {
        None => "unknown or expired step-up",
        Some(state)
            if Opaque::login_finish(
                &state,
                &req.credential_finalization.0,
                auth.account.as_bytes(),
            )
            .is_err() =>
        {
            "wrong password (step-up)"
        }
        Some(_) => {
            if factors::second_factor_holds(&st, auth.account, req.code.as_deref(), now).await? {
                st.db.prove_step_up(req.step_up_id, now).await?;
                return Ok(Json(StepUpProven {
                    step_up_id: req.step_up_id,
                    valid_until: now + STEP_UP_SECS,
                }));
            }
            "bad second factor (step-up)"
        }
    };
    st.db.drop_step_up(req.step_up_id).await?;
    st.record_unauthorized(ip, Some(auth.account), reason)
        .await?;
    // 403, not 401: the session itself is fine.
    Err(Fail::new(
        StatusCode::FORBIDDEN,
        ErrorCode::Unauthorized,
        "the password or the second-factor code is wrong, or the step-up expired",
    ))
}

/// Sends a code by SMS for a step-up (the account's second factor is SMS).
#[utoipa::path(post, path = "/v1/account/step-up/sms", responses((status = 202), (status = 400, body = krypt7_protocol::ApiError),
    (status = 429, body = krypt7_protocol::ApiError)), security(("bearer" = [])))]
pub async fn send_sms(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: Authed,
) -> ApiResult<StatusCode> {
    st.limits.check(ip, Some(&auth.account.to_string()))?;
    factors::send_account_code(&st, auth.account).await?;
    Ok(StatusCode::ACCEPTED)
}

/// The action may go ahead: the request carries a step-up proven for it by this session
/// within [`STEP_UP_SECS`], which it uses up. Otherwise 403 `step_up_required`.
pub async fn require(
    st: &AppState,
    auth: &Authed,
    headers: &HeaderMap,
    action: StepUpAction,
) -> Result<(), Fail> {
    proof(st, auth, headers, action, true).await
}

/// As [`require`], for the first request of an action made of two (changing the password):
/// the proof stays for the second, which uses it up.
pub async fn check(
    st: &AppState,
    auth: &Authed,
    headers: &HeaderMap,
    action: StepUpAction,
) -> Result<(), Fail> {
    proof(st, auth, headers, action, false).await
}

async fn proof(
    st: &AppState,
    auth: &Authed,
    headers: &HeaderMap,
    action: StepUpAction,
    use_up: bool,
) -> Result<(), Fail> {
    let id = headers
        .get(STEP_UP_HEADER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<Uuid>().ok());
    let proven_after = st.clock.now() - STEP_UP_SECS;
    if let Some(id) = id
        && st
            .db
            .use_step_up(
                id,
                auth.account,
                auth.session,
                action.name(),
                proven_after,
                use_up,
            )
            .await?
    {
        return Ok(());
    }
    Err(Fail::new(
        StatusCode::FORBIDDEN,
        ErrorCode::StepUpRequired,
        format!(
            "confirm with your password (and second factor, if on) first: {} needs a fresh step-up",
            action.name()
        ),
    ))
}
