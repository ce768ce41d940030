//! Mail between accounts of this server (`docs/mail.md`): a sender's device delivers one
//! message sealed per copy; each recipient's devices find it in their change feed (and hear
//! of it on the push channel), take it in, and tell the server, which then forgets it.

use std::collections::HashSet;

use axum::{extract::State, http::StatusCode};
use krypt7_protocol::{MailSent, SendMail};
use uuid::Uuid;

use super::{ApiResult, AppState, Authed, Fail, Json, Path};
use crate::db::Delivery;

/// At most this many copies in one message (To and Cc share one; each Bcc has its own).
const MAX_COPIES: usize = 101;
/// At most this many recipient accounts in one message.
const MAX_RECIPIENTS: usize = 100;

#[utoipa::path(post, path = "/v1/mail", request_body = SendMail,
    responses((status = 200, body = MailSent), (status = 400, body = krypt7_protocol::ApiError),
              (status = 404, body = krypt7_protocol::ApiError), (status = 413, body = krypt7_protocol::ApiError),
              (status = 429, body = krypt7_protocol::ApiError), (status = 507, body = krypt7_protocol::ApiError)),
    security(("bearer" = [])))]
pub async fn send(
    State(st): State<AppState>,
    auth: Authed,
    Json(req): Json<SendMail>,
) -> ApiResult<Json<MailSent>> {
    if req.copies.is_empty() || req.copies.len() > MAX_COPIES {
        return Err(Fail::bad_request(format!(
            "a message has 1 to {MAX_COPIES} copies"
        )));
    }
    let mut seen = HashSet::new();
    for c in &req.copies {
        if c.recipients.is_empty() {
            return Err(Fail::bad_request("a copy goes to one recipient at least"));
        }
        if c.sealed.0.is_empty() {
            return Err(Fail::bad_request("a copy is not empty"));
        }
        if c.sealed.0.len() > st.config.max_mail_bytes {
            return Err(Fail::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                krypt7_protocol::ErrorCode::PayloadTooLarge,
                format!(
                    "a message is at most {} KiB here (attachments travel as files)",
                    st.config.max_mail_bytes / 1024
                ),
            ));
        }
        for r in &c.recipients {
            if !seen.insert(*r) {
                return Err(Fail::bad_request(
                    "a recipient appears twice in one message",
                ));
            }
        }
    }
    if seen.len() > MAX_RECIPIENTS {
        return Err(Fail::bad_request(format!(
            "a message goes to at most {MAX_RECIPIENTS} recipients"
        )));
    }
    // Each delivery (one message to one recipient) counts against the sender's limit.
    st.limits.check_sender(auth.account, seen.len())?;
    let copies: Vec<Delivery> = req
        .copies
        .into_iter()
        .map(|c| Delivery {
            recipients: c.recipients,
            sealed: c.sealed.0,
        })
        .collect();
    let now = st.clock.now();
    let done = st
        .db
        .deliver(auth.account, req.client_id, &copies, now)
        .await?;
    for (recipient, cursor) in done.cursors {
        st.changed(recipient, cursor).await;
    }
    Ok(Json(MailSent {
        client_id: req.client_id,
        delivered_at: done.at,
        already: done.already,
    }))
}

/// A device took the message in: the server drops its bytes (and gives its size back).
#[utoipa::path(delete, path = "/v1/mail/{id}", params(("id" = Uuid, Path)), responses((status = 204), (status = 404, body = krypt7_protocol::ApiError)),
    security(("bearer" = [])))]
pub async fn take(
    State(st): State<AppState>,
    auth: Authed,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    let cursor = st.db.take_mail(auth.account, id).await?;
    st.changed(auth.account, cursor).await;
    Ok(StatusCode::NO_CONTENT)
}
