//! Mail between accounts of this server (`docs/mail.md`): a sender's device delivers one
//! message sealed per copy; each recipient's devices find it in their change feed (and hear
//! of it on the push channel), take it in, and tell the server, which then forgets it.

use std::collections::HashSet;

use axum::{extract::State, http::StatusCode};
use krypt7_protocol::{MailSent, SendMail};
use uuid::Uuid;

use super::{ApiResult, AppState, Authed, Fail, Json, Path};
use crate::{blobs::BlobKey, db::Delivery};

/// At most this many copies in one message (To and Cc share one; each Bcc has its own).
const MAX_COPIES: usize = 101;
/// At most this many recipient accounts in one message.
const MAX_RECIPIENTS: usize = 100;
/// At most this many attachments in one message.
const MAX_ATTACHMENTS: usize = 100;

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
    let mut distinct = HashSet::new();
    if req.attachments.len() > MAX_ATTACHMENTS
        || !req.attachments.iter().all(|a| distinct.insert(*a))
    {
        return Err(Fail::bad_request(format!(
            "a message has at most {MAX_ATTACHMENTS} attachments, each once"
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
    // The attachments' bytes are linked into each recipient's blobs before the database
    // says they are there; if the delivery does not happen, the links go again.
    let blobs = st.db.complete_blobs(auth.account, &req.attachments).await?;
    let recipients: Vec<Uuid> = seen.into_iter().collect();
    let linked = link_attachments(&st, auth.account, &blobs, &recipients).await?;
    let done = match st
        .db
        .deliver(auth.account, req.client_id, &copies, &blobs, now)
        .await
    {
        Ok(d) => d,
        Err(e) => {
            unlink(&st, &linked).await;
            return Err(e.into());
        }
    };
    if done.already {
        unlink(&st, &linked).await;
    }
    for (recipient, cursor) in done.cursors {
        st.changed(recipient, cursor).await;
    }
    Ok(Json(MailSent {
        client_id: req.client_id,
        delivered_at: done.at,
        already: done.already,
    }))
}

/// Links each attachment's chunks into each recipient's blob store (under the same blob
/// id), skipping a recipient who already holds that blob. Returns what it linked.
async fn link_attachments(
    st: &AppState,
    sender: Uuid,
    blobs: &[crate::db::BlobHead],
    recipients: &[Uuid],
) -> ApiResult<Vec<BlobKey>> {
    let mut linked = Vec::new();
    for b in blobs {
        for r in recipients {
            if st.db.blob_head(*r, b.id).await.is_ok() {
                continue;
            }
            let to = BlobKey {
                account: *r,
                blob: b.id,
            };
            let from = BlobKey {
                account: sender,
                blob: b.id,
            };
            if let Err(e) = st.blobs.link(from, to, b.chunks as u64).await {
                tracing::error!(error = %e, "linking an attachment failed");
                unlink(st, &linked).await;
                return Err(Fail::internal());
            }
            linked.push(to);
        }
    }
    Ok(linked)
}

async fn unlink(st: &AppState, linked: &[BlobKey]) {
    for k in linked {
        if let Err(e) = st.blobs.delete(*k).await {
            tracing::error!(error = %e, "removing an attachment's links failed");
        }
    }
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
