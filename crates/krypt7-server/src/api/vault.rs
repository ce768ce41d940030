//! Vault data: items, vault keys, manifests, the change feed and the push channel.

use std::{convert::Infallible, time::Duration};

use axum::{
    extract::{Query, State},
    http::StatusCode,
    response::sse::{Event, KeepAlive, Sse},
};
use futures_util::stream::Stream;
use krypt7_protocol::{Changes, Commit, Committed, ErrorCode, Item, PushItem, PutVault, Vault};
use serde::Deserialize;
use uuid::Uuid;

use super::{ApiResult, AppState, Authed, Fail, Json, Notice, Path};

/// The largest envelope accepted for one item (files go to blobs).
const MAX_ENVELOPE: usize = 1 << 20;
pub(super) const MAX_SMALL: usize = 64 << 10;

/// One item written outside a commit, with no manifest: clients refuse a vault changed this
/// way, so a token could break sync with it. Off unless the server runs with
/// `raw_item_writes` (load tests and tools only); clients write through commits.
#[utoipa::path(put, path = "/v1/items/{id}", params(("id" = Uuid, Path)), request_body = PushItem,
    responses((status = 200, body = Item), (status = 404, body = krypt7_protocol::ApiError, description = "off on this server (the default)"),
              (status = 409, body = krypt7_protocol::ApiError, description = "stale base revision; `current` holds the stored item"),
              (status = 413, body = krypt7_protocol::ApiError)), security(("bearer" = [])))]
pub async fn push_item(
    State(st): State<AppState>,
    auth: Authed,
    Path(id): Path<Uuid>,
    Json(p): Json<PushItem>,
) -> ApiResult<Json<Item>> {
    if !st.config.raw_item_writes {
        return Err(Fail::new(
            StatusCode::NOT_FOUND,
            ErrorCode::NotFound,
            "single-item writes are off on this server: write through POST /v1/vaults/{id}/commit",
        ));
    }
    check_item(p.base_revision, &p.envelope.0, p.deleted)?;
    let item = st
        .db
        .push_item(
            auth.account,
            id,
            p.vault_id,
            p.base_revision,
            &p.envelope.0,
            p.deleted,
        )
        .await?;
    st.changed(auth.account, item.cursor).await;
    Ok(Json(item))
}

#[utoipa::path(put, path = "/v1/vaults/{id}", params(("id" = Uuid, Path)), request_body = PutVault,
    responses((status = 200, body = Vault), (status = 409, body = krypt7_protocol::ApiError, description = "a different wrap is already stored (wraps are write-once)")),
    security(("bearer" = [])))]
pub async fn put_vault(
    State(st): State<AppState>,
    auth: Authed,
    Path(id): Path<Uuid>,
    Json(p): Json<PutVault>,
) -> ApiResult<Json<Vault>> {
    if p.key_wrap.0.is_empty() || p.key_wrap.0.len() > MAX_SMALL {
        return Err(Fail::bad_request("key_wrap must be 1 byte to 64 KiB"));
    }
    let v = st.db.put_vault(auth.account, id, &p.key_wrap.0).await?;
    st.changed(auth.account, v.cursor).await;
    Ok(Json(v))
}

#[utoipa::path(get, path = "/v1/vaults", responses((status = 200, body = Vec<Vault>)), security(("bearer" = [])))]
pub async fn vaults(State(st): State<AppState>, auth: Authed) -> ApiResult<Json<Vec<Vault>>> {
    Ok(Json(st.db.vaults(auth.account).await?))
}

/// At most this many items in one commit.
pub(super) const MAX_COMMIT_ITEMS: usize = 1000;

#[utoipa::path(post, path = "/v1/vaults/{id}/commit", params(("id" = Uuid, Path)), request_body = Commit,
    responses((status = 200, body = Committed),
              (status = 409, body = krypt7_protocol::ApiError, description = "lost race: `current` holds the stored manifest or the first stale item; nothing was written"),
              (status = 413, body = krypt7_protocol::ApiError)),
    security(("bearer" = [])))]
pub async fn commit(
    State(st): State<AppState>,
    auth: Authed,
    Path(id): Path<Uuid>,
    Json(c): Json<Commit>,
) -> ApiResult<Json<Committed>> {
    if c.expected_version < 0 || c.version <= c.expected_version {
        return Err(Fail::bad_request(
            "version must be greater than expected_version, which must be 0 or more",
        ));
    }
    if c.manifest.0.is_empty() || c.manifest.0.len() > MAX_SMALL {
        return Err(Fail::bad_request("manifest must be 1 byte to 64 KiB"));
    }
    if c.items.len() > MAX_COMMIT_ITEMS {
        return Err(Fail::bad_request("at most 1000 items in one commit"));
    }
    let mut seen = std::collections::HashSet::new();
    for it in &c.items {
        check_item(it.base_revision, &it.envelope.0, it.deleted)?;
        if !seen.insert(it.id) {
            return Err(Fail::bad_request("an item appears twice in one commit"));
        }
    }
    let done = st.db.commit(auth.account, id, &c).await?;
    st.changed(auth.account, done.manifest.cursor).await;
    Ok(Json(done))
}

/// The checks one pushed item must pass, in a commit or alone.
pub(super) fn check_item(base_revision: i64, envelope: &[u8], deleted: bool) -> ApiResult<()> {
    if base_revision < 0 {
        return Err(Fail::bad_request(
            "base_revision must be 0 (new item) or the revision the edit is based on",
        ));
    }
    if envelope.len() > MAX_ENVELOPE || (envelope.is_empty() && !deleted) {
        return Err(Fail::bad_request(
            "envelope must be 1 byte to 1 MiB (empty only for a deleted item)",
        ));
    }
    Ok(())
}

#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ChangesQuery {
    /// The cursor of the last change already seen (0 for everything).
    #[serde(default)]
    since: i64,
    /// At most this many items (1 to 1000, default 500).
    limit: Option<i64>,
}

#[utoipa::path(get, path = "/v1/changes", params(ChangesQuery), responses((status = 200, body = Changes)), security(("bearer" = [])))]
pub async fn changes(
    State(st): State<AppState>,
    auth: Authed,
    q: Result<Query<ChangesQuery>, axum::extract::rejection::QueryRejection>,
) -> ApiResult<Json<Changes>> {
    let Query(q) = q.map_err(|e| Fail::bad_request(e.body_text()))?;
    let limit = q.limit.unwrap_or(500);
    if !(1..=1000).contains(&limit) || q.since < 0 {
        return Err(Fail::bad_request(
            "limit must be 1 to 1000 and since 0 or more",
        ));
    }
    Ok(Json(st.db.changes(auth.account, q.since, limit).await?))
}

/// Server-sent events: `event: changes`, `data: {"cursor":N}` whenever this account's data
/// changes, so devices sync within a second; `event: attempt`, `data: {}` when an
/// unauthorized attempt against the account is recorded; a comment line every 15 s keeps it
/// open.
#[utoipa::path(get, path = "/v1/events", responses((status = 200, content_type = "text/event-stream", description = "a stream of `changes` and `attempt` events")),
    security(("bearer" = [])))]
pub async fn events(
    State(st): State<AppState>,
    auth: Authed,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let rx = st.events.subscribe(auth.account);
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        loop {
            match rx.recv().await {
                Ok(Notice::Changes(cursor)) => {
                    let event = Event::default()
                        .event("changes")
                        .data(format!("{{\"cursor\":{cursor}}}"));
                    return Some((Ok(event), rx));
                }
                Ok(Notice::Attempt) => {
                    return Some((Ok(Event::default().event("attempt").data("{}")), rx));
                }
                // Missed some: the newest cursor is all a client needs.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return None,
            }
        }
    });
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
