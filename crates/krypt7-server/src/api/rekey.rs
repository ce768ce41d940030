//! Changing the Secret Key (`docs/server.md`, "Changing the Secret Key"): a new OPAQUE
//! registration, every item re-sealed under new keys and staged, then everything replaced
//! at once. Every request needs the step-up for `change_secret_key`; the finish uses it up.

use axum::{extract::State, http::HeaderMap};
use krypt7_protocol::{
    PasswordChangeStart, PasswordChangeStarted, SecretKeyChange, SecretKeyChanged, StagedItems,
    StepUpAction,
};

use super::{
    ApiResult, AppState, Authed, ClientIp, Fail, Json,
    accounts::{MAX_SMALL_BLOB, check_blob, registration_start},
    stepup,
    vault::{MAX_COMMIT_ITEMS, MAX_SMALL, check_item},
};
use crate::{db::NewCredentials, opaque::Opaque};

#[utoipa::path(post, path = "/v1/account/secret-key/start", request_body = PasswordChangeStart,
    responses((status = 200, body = PasswordChangeStarted), (status = 400, body = krypt7_protocol::ApiError),
              (status = 403, body = krypt7_protocol::ApiError, description = "no fresh step-up for this action")),
    security(("bearer" = [])))]
pub async fn start(
    State(st): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: Authed,
    headers: HeaderMap,
    Json(req): Json<PasswordChangeStart>,
) -> ApiResult<Json<PasswordChangeStarted>> {
    let started = registration_start(
        &st,
        ip,
        &auth,
        &headers,
        &req,
        StepUpAction::ChangeSecretKey,
    )
    .await?;
    st.db.drop_staged(auth.account).await?;
    Ok(started)
}

/// How many items are staged now.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct Staged {
    pub staged: i64,
}

#[utoipa::path(put, path = "/v1/account/secret-key/items", request_body = StagedItems,
    responses((status = 200, body = Staged), (status = 400, body = krypt7_protocol::ApiError),
              (status = 403, body = krypt7_protocol::ApiError, description = "no fresh step-up for this action"),
              (status = 409, body = krypt7_protocol::ApiError, description = "an item that is not the account's, in that vault")),
    security(("bearer" = [])))]
pub async fn stage(
    State(st): State<AppState>,
    auth: Authed,
    headers: HeaderMap,
    Json(req): Json<StagedItems>,
) -> ApiResult<Json<Staged>> {
    if req.items.len() > MAX_COMMIT_ITEMS {
        return Err(Fail::bad_request("at most 1000 items at a time"));
    }
    for it in &req.items {
        check_item(it.base_revision, &it.envelope.0, it.deleted)?;
    }
    stepup::check(&st, &auth, &headers, StepUpAction::ChangeSecretKey).await?;
    let staged = st.db.stage(auth.account, &req.items).await?;
    Ok(Json(Staged { staged }))
}

#[utoipa::path(put, path = "/v1/account/secret-key", request_body = SecretKeyChange,
    responses((status = 200, body = SecretKeyChanged), (status = 400, body = krypt7_protocol::ApiError),
              (status = 403, body = krypt7_protocol::ApiError, description = "no fresh step-up for this action"),
              (status = 409, body = krypt7_protocol::ApiError, description = "the account changed since the change was prepared, or not every item was staged: nothing was written")),
    security(("bearer" = [])))]
pub async fn finish(
    State(st): State<AppState>,
    auth: Authed,
    headers: HeaderMap,
    Json(req): Json<SecretKeyChange>,
) -> ApiResult<Json<SecretKeyChanged>> {
    check_blob("kdf_setup", &req.kdf_setup, MAX_SMALL_BLOB)?;
    check_blob("keyset", &req.keyset, MAX_SMALL_BLOB)?;
    let mut seen = std::collections::HashSet::new();
    for v in &req.vaults {
        check_blob("key_wrap", &v.key_wrap, MAX_SMALL)?;
        check_blob("manifest", &v.manifest, MAX_SMALL)?;
        if v.expected_version < 0 || !seen.insert(v.id) {
            return Err(Fail::bad_request(
                "each vault once, with expected_version 0 or more",
            ));
        }
    }
    let record = Opaque::registration_record(&req.registration_upload.0)
        .map_err(|_| Fail::bad_request("registration_upload is not a valid OPAQUE message"))?;
    stepup::require(&st, &auth, &headers, StepUpAction::ChangeSecretKey).await?;
    let new = NewCredentials {
        opaque_record: &record,
        kdf_setup: &req.kdf_setup.0,
        keyset: &req.keyset.0,
    };
    let (credentials, key_epoch, cursor) = st
        .db
        .change_secret_key(auth.account, &new, &req.vaults)
        .await?;
    // Other devices sync now, see the change, and keep what they have not sent.
    st.changed(auth.account, cursor).await;
    Ok(Json(SecretKeyChanged {
        credentials,
        key_epoch,
    }))
}
