//! Blobs: resumable chunked upload, range download, quota enforced before the first byte.

use axum::{
    body::{Body, Bytes},
    extract::State,
    http::{HeaderMap, StatusCode, header},
    response::{IntoResponse, Response},
};
use krypt7_protocol::{BlobStatus, CreateBlob, ErrorCode, Usage};
use uuid::Uuid;

use super::{ApiResult, AppState, Authed, Fail, Json, Path};
use crate::blobs::BlobKey;

pub const MIN_CHUNK: i64 = 64 << 10;
pub const MAX_CHUNK: i64 = 16 << 20;

#[utoipa::path(post, path = "/v1/blobs", request_body = CreateBlob,
    responses((status = 201, body = BlobStatus), (status = 413, body = krypt7_protocol::ApiError, description = "the upload would exceed the storage limit")),
    security(("bearer" = [])))]
pub async fn create(
    State(st): State<AppState>,
    auth: Authed,
    Json(c): Json<CreateBlob>,
) -> ApiResult<(StatusCode, Json<BlobStatus>)> {
    if c.size < 1 || !(MIN_CHUNK..=MAX_CHUNK).contains(&c.chunk_size) {
        return Err(Fail::bad_request(
            "size must be at least 1 byte and chunk_size 64 KiB to 16 MiB",
        ));
    }
    let id = Uuid::new_v4();
    st.db
        .create_blob(auth.account, id, c.size, c.chunk_size, st.clock.now())
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(st.db.blob(auth.account, id).await?),
    ))
}

#[utoipa::path(get, path = "/v1/blobs/{id}", params(("id" = Uuid, Path)), responses((status = 200, body = BlobStatus)), security(("bearer" = [])))]
pub async fn status(
    State(st): State<AppState>,
    auth: Authed,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<BlobStatus>> {
    Ok(Json(st.db.blob(auth.account, id).await?))
}

#[utoipa::path(put, path = "/v1/blobs/{id}/chunks/{index}", params(("id" = Uuid, Path), ("index" = i64, Path)),
    request_body(content = Vec<u8>, content_type = "application/octet-stream"),
    responses((status = 204), (status = 400, body = krypt7_protocol::ApiError), (status = 409, body = krypt7_protocol::ApiError)),
    security(("bearer" = [])))]
pub async fn put_chunk(
    State(st): State<AppState>,
    auth: Authed,
    Path((id, index)): Path<(Uuid, i64)>,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let b = st.db.blob_head(auth.account, id).await?;
    if b.complete {
        return Err(Fail::new(
            StatusCode::CONFLICT,
            ErrorCode::Conflict,
            "this upload is complete; its chunks cannot change",
        ));
    }
    if !(0..b.chunks).contains(&index) {
        return Err(Fail::bad_request(format!(
            "chunk index must be 0 to {}",
            b.chunks - 1
        )));
    }
    let expected = if index == b.chunks - 1 {
        b.size - index * b.chunk_size
    } else {
        b.chunk_size
    };
    if body.len() as i64 != expected {
        return Err(Fail::bad_request(format!(
            "chunk {index} must be {expected} bytes, got {}",
            body.len()
        )));
    }
    st.blobs
        .put_chunk(
            BlobKey {
                account: auth.account,
                blob: id,
            },
            index as u64,
            body,
        )
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "writing a blob chunk failed");
            Fail::internal()
        })?;
    st.db.record_chunk(auth.account, id, index).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(post, path = "/v1/blobs/{id}/complete", params(("id" = Uuid, Path)),
    responses((status = 200, body = BlobStatus), (status = 409, body = krypt7_protocol::ApiError, description = "chunks are missing")),
    security(("bearer" = [])))]
pub async fn complete(
    State(st): State<AppState>,
    auth: Authed,
    Path(id): Path<Uuid>,
) -> ApiResult<Json<BlobStatus>> {
    let b = st.db.blob(auth.account, id).await?;
    if (b.received.len() as i64) < b.chunks {
        let missing = (0..b.chunks)
            .find(|i| b.received.binary_search(i).is_err())
            .unwrap_or(0);
        return Err(Fail::new(
            StatusCode::CONFLICT,
            ErrorCode::Conflict,
            format!("chunk {missing} has not been uploaded"),
        ));
    }
    st.db.complete_blob(auth.account, id).await?;
    Ok(Json(st.db.blob(auth.account, id).await?))
}

/// `bytes=a-b`, `bytes=a-` or `bytes=-n` against a blob of `size` bytes: `Some(Ok((start, len)))`
/// for a satisfiable single range, `Some(Err(()))` for an unsatisfiable one, `None` to serve all.
fn parse_range(h: Option<&str>, size: u64) -> Option<Result<(u64, u64), ()>> {
    let spec = h?.strip_prefix("bytes=")?;
    if spec.contains(',') {
        return None;
    }
    let (a, b) = spec.split_once('-')?;
    let (start, end) = match (a.trim(), b.trim()) {
        ("", n) => {
            let n: u64 = n.parse().ok()?;
            (size.saturating_sub(n), size.checked_sub(1)?)
        }
        (a, "") => (a.parse().ok()?, size.checked_sub(1)?),
        (a, b) => (
            a.parse().ok()?,
            b.parse::<u64>().ok()?.min(size.saturating_sub(1)),
        ),
    };
    if start >= size || end < start {
        return Some(Err(()));
    }
    Some(Ok((start, end - start + 1)))
}

#[utoipa::path(get, path = "/v1/blobs/{id}/content", params(("id" = Uuid, Path), ("Range" = Option<String>, Header, description = "one byte range")),
    responses((status = 200, content_type = "application/octet-stream"), (status = 206, content_type = "application/octet-stream"),
              (status = 409, body = krypt7_protocol::ApiError), (status = 416, body = krypt7_protocol::ApiError)),
    security(("bearer" = [])))]
pub async fn content(
    State(st): State<AppState>,
    auth: Authed,
    Path(id): Path<Uuid>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let b = st.db.blob_head(auth.account, id).await?;
    if !b.complete {
        return Err(Fail::new(
            StatusCode::CONFLICT,
            ErrorCode::Conflict,
            "this upload is not complete yet",
        ));
    }
    let size = b.size as u64;
    let range = parse_range(
        headers.get(header::RANGE).and_then(|v| v.to_str().ok()),
        size,
    );
    let (status, start, len) = match range {
        None => (StatusCode::OK, 0, size),
        Some(Ok((s, l))) => (StatusCode::PARTIAL_CONTENT, s, l),
        Some(Err(())) => {
            return Err(Fail::new(
                StatusCode::RANGE_NOT_SATISFIABLE,
                ErrorCode::BadRequest,
                format!("the blob has {size} bytes"),
            ));
        }
    };
    let stream = st.blobs.read(
        BlobKey {
            account: auth.account,
            blob: id,
        },
        b.chunk_size as u64,
        start,
        len,
    );
    let mut resp = (status, Body::from_stream(stream)).into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/octet-stream"),
    );
    h.insert(
        header::ACCEPT_RANGES,
        header::HeaderValue::from_static("bytes"),
    );
    if let Ok(v) = header::HeaderValue::from_str(&len.to_string()) {
        h.insert(header::CONTENT_LENGTH, v);
    }
    if status == StatusCode::PARTIAL_CONTENT
        && let Ok(v) =
            header::HeaderValue::from_str(&format!("bytes {start}-{}/{size}", start + len - 1))
    {
        h.insert(header::CONTENT_RANGE, v);
    }
    Ok(resp)
}

#[utoipa::path(delete, path = "/v1/blobs/{id}", params(("id" = Uuid, Path)), responses((status = 204)), security(("bearer" = [])))]
pub async fn delete(
    State(st): State<AppState>,
    auth: Authed,
    Path(id): Path<Uuid>,
) -> ApiResult<StatusCode> {
    st.db.delete_blob(auth.account, id).await?;
    st.blobs
        .delete(BlobKey {
            account: auth.account,
            blob: id,
        })
        .await
        .map_err(|e| {
            tracing::error!(error = %e, "deleting blob files failed");
            Fail::internal()
        })?;
    Ok(StatusCode::NO_CONTENT)
}

#[utoipa::path(get, path = "/v1/usage", responses((status = 200, body = Usage)), security(("bearer" = [])))]
pub async fn usage(State(st): State<AppState>, auth: Authed) -> ApiResult<Json<Usage>> {
    let a = st.db.account(auth.account).await?;
    Ok(Json(Usage {
        usage_bytes: a.usage_bytes,
        quota_bytes: a.quota_bytes,
    }))
}

#[cfg(test)]
mod tests {
    use super::parse_range;

    #[test]
    fn ranges() {
        assert_eq!(parse_range(Some("bytes=0-9"), 100), Some(Ok((0, 10))));
        assert_eq!(parse_range(Some("bytes=90-"), 100), Some(Ok((90, 10))));
        assert_eq!(parse_range(Some("bytes=-5"), 100), Some(Ok((95, 5))));
        assert_eq!(parse_range(Some("bytes=50-500"), 100), Some(Ok((50, 50))));
        assert_eq!(parse_range(Some("bytes=100-"), 100), Some(Err(())));
        assert_eq!(parse_range(Some("bytes=9-3"), 100), Some(Err(())));
        assert_eq!(parse_range(Some("bytes=0-1,5-6"), 100), None);
        assert_eq!(parse_range(Some("items=0-1"), 100), None);
        assert_eq!(parse_range(Some("bytes=x-1"), 100), None);
        assert_eq!(parse_range(None, 100), None);
    }
}
