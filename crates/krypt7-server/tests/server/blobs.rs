use reqwest::StatusCode;
use serde_json::json;

use crate::{
    both,
    harness::{Backend, TestServer},
};

both!(
    upload_interrupted_then_resumed_and_range_download,
    quota_refuses_an_upload_before_any_chunk
);

const CHUNK: usize = 64 * 1024;

fn data(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

async fn put_chunk(s: &TestServer, token: &str, blob: &str, i: usize, bytes: &[u8]) -> StatusCode {
    s.client()
        .put(format!("{}/v1/blobs/{blob}/chunks/{i}", s.base))
        .bearer_auth(token)
        .header("content-type", "application/octet-stream")
        .body(bytes.to_vec())
        .send()
        .await
        .unwrap()
        .status()
}

async fn upload_interrupted_then_resumed_and_range_download(b: Backend) {
    let s = TestServer::start(b).await;
    let a = s.register("alice", "pw-alice-123").await;
    let content = data(5 * CHUNK + 1234);
    let (st, v) = s
        .call(
            reqwest::Method::POST,
            "/v1/blobs",
            Some(&a.token),
            Some(json!({"size": content.len(), "chunk_size": CHUNK})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(v["chunks"], 6);
    let blob = v["blob_id"].as_str().unwrap().to_string();
    let chunks: Vec<&[u8]> = content.chunks(CHUNK).collect();
    // The transfer stops after chunk 2 (and chunk 4 arrived out of order).
    for i in [0, 1, 2, 4] {
        assert_eq!(
            put_chunk(&s, &a.token, &blob, i, chunks[i]).await,
            StatusCode::NO_CONTENT
        );
    }
    let (st, v) = s
        .call(
            reqwest::Method::POST,
            &format!("/v1/blobs/{blob}/complete"),
            Some(&a.token),
            None,
        )
        .await;
    assert_eq!(
        (st, v["message"].as_str().unwrap().contains("chunk 3")),
        (StatusCode::CONFLICT, true)
    );
    assert_eq!(
        s.get(format!("/v1/blobs/{blob}/content"), &a.token).await.0,
        StatusCode::CONFLICT
    );
    // The server is restarted: what it holds survives; the client asks and resumes.
    let data_dir = s.dir.path().join("data");
    let db_url = s.db_url.clone();
    let TestServer { server, dir, .. } = s;
    server.stop().await;
    let s = crate::harness::TestServer::restart(dir, data_dir, db_url).await;
    let (st, v) = s.get(format!("/v1/blobs/{blob}"), &a.token).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["received"], json!([0, 1, 2, 4]));
    for i in [3, 5] {
        assert_eq!(
            put_chunk(&s, &a.token, &blob, i, chunks[i]).await,
            StatusCode::NO_CONTENT
        );
    }
    // Wrong sizes and indices are refused.
    assert_eq!(
        put_chunk(&s, &a.token, &blob, 1, &chunks[1][..10]).await,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        put_chunk(&s, &a.token, &blob, 6, chunks[5]).await,
        StatusCode::BAD_REQUEST
    );
    let (st, v) = s
        .call(
            reqwest::Method::POST,
            &format!("/v1/blobs/{blob}/complete"),
            Some(&a.token),
            None,
        )
        .await;
    assert_eq!((st, v["complete"].as_bool()), (StatusCode::OK, Some(true)));
    assert_eq!(
        put_chunk(&s, &a.token, &blob, 0, chunks[0]).await,
        StatusCode::CONFLICT,
        "complete blobs are immutable"
    );

    let download = |range: Option<&'static str>| {
        let mut rq = s
            .client()
            .get(format!("{}/v1/blobs/{blob}/content", s.base))
            .bearer_auth(&a.token);
        if let Some(r) = range {
            rq = rq.header("range", r);
        }
        rq.send()
    };
    let r = download(None).await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().to_vec(), content);
    // A range across a chunk boundary.
    let r = download(Some("bytes=65530-65545")).await.unwrap();
    assert_eq!(r.status(), StatusCode::PARTIAL_CONTENT);
    assert_eq!(
        r.headers()["content-range"],
        format!("bytes 65530-65545/{}", content.len()).as_str()
    );
    assert_eq!(r.bytes().await.unwrap().to_vec(), content[65530..=65545]);
    let r = download(Some("bytes=-100")).await.unwrap();
    assert_eq!(
        r.bytes().await.unwrap().to_vec(),
        content[content.len() - 100..]
    );
    assert_eq!(
        download(Some("bytes=999999999-")).await.unwrap().status(),
        StatusCode::RANGE_NOT_SATISFIABLE
    );
    // Usage counts the blob; deleting it gives the space back and removes the files.
    let (_, u) = s.get("/v1/usage", &a.token).await;
    assert_eq!(u["usage_bytes"], content.len());
    assert_eq!(
        s.call(
            reqwest::Method::DELETE,
            &format!("/v1/blobs/{blob}"),
            Some(&a.token),
            None
        )
        .await
        .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(s.get("/v1/usage", &a.token).await.1["usage_bytes"], 0);
    let blob_dir = s
        .dir
        .path()
        .join("data/blobs")
        .join(a.account_id.simple().to_string());
    assert!(
        std::fs::read_dir(&blob_dir)
            .map(|d| d.count() == 0)
            .unwrap_or(true)
    );
    s.server.stop().await;
}

async fn quota_refuses_an_upload_before_any_chunk(b: Backend) {
    let s = TestServer::start_with(b, |c| c.quota_bytes = 1_000_000).await;
    let a = s.register("alice", "pw-alice-123").await;
    let (st, v) = s
        .call(
            reqwest::Method::POST,
            "/v1/blobs",
            Some(&a.token),
            Some(json!({"size": 1_000_001, "chunk_size": CHUNK})),
        )
        .await;
    assert_eq!(
        (st, v["code"].as_str()),
        (StatusCode::PAYLOAD_TOO_LARGE, Some("quota_exceeded"))
    );
    assert_eq!(s.get("/v1/usage", &a.token).await.1["usage_bytes"], 0);
    let (st, _) = s
        .call(
            reqwest::Method::POST,
            "/v1/blobs",
            Some(&a.token),
            Some(json!({"size": 600_000, "chunk_size": CHUNK})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, _) = s
        .call(
            reqwest::Method::POST,
            "/v1/blobs",
            Some(&a.token),
            Some(json!({"size": 600_000, "chunk_size": CHUNK})),
        )
        .await;
    assert_eq!(
        st,
        StatusCode::PAYLOAD_TOO_LARGE,
        "the first upload's reservation counts"
    );
    for bad in [
        json!({"size": 0, "chunk_size": CHUNK}),
        json!({"size": 10, "chunk_size": 10}),
        json!({"size": 10, "chunk_size": 1 << 30}),
    ] {
        assert_eq!(
            s.call(
                reqwest::Method::POST,
                "/v1/blobs",
                Some(&a.token),
                Some(bad)
            )
            .await
            .0,
            StatusCode::BAD_REQUEST
        );
    }
    s.server.stop().await;
}
