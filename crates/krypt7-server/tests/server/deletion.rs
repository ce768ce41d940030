use reqwest::{Method, StatusCode};
use serde_json::json;
use sqlx::Row;
use uuid::Uuid;

use crate::{
    both,
    harness::{Backend, TestServer},
};

both!(deleted_accounts_are_closed_at_once_and_purged_within_48_hours);

async fn rows_of(s: &TestServer, account: Uuid) -> i64 {
    let pool = s.server.state.db.pool();
    let mut total = 0;
    for table in [
        "accounts WHERE id",
        "items WHERE account_id",
        "vaults WHERE account_id",
        "sessions WHERE account_id",
        "blobs WHERE account_id",
        "blob_chunks WHERE account_id",
        "pending_logins WHERE account_id",
    ] {
        let q = format!("SELECT COUNT(*) AS n FROM {table} = $1");
        let n: i64 = sqlx::query(sqlx::AssertSqlSafe(q))
            .bind(account.as_bytes().to_vec())
            .fetch_one(pool)
            .await
            .unwrap()
            .try_get("n")
            .unwrap();
        total += n;
    }
    total
}

async fn deleted_accounts_are_closed_at_once_and_purged_within_48_hours(b: Backend) {
    let s = TestServer::start_with(b, |c| {
        c.purge_interval_secs = 1;
        c.raw_item_writes = true;
    })
    .await;
    let a = s.register("zelda-canary", "pw-zelda-123").await;
    let other = s
        .login("zelda-canary", "pw-zelda-123", &a.secret_key)
        .await
        .unwrap();
    let bob = s.register("bob", "pw-bob-123456").await;
    // Some data of every kind.
    let vault = Uuid::new_v4();
    s.put(
        format!("/v1/vaults/{vault}"),
        &a.token,
        json!({"key_wrap": "AAAA"}),
    )
    .await;
    s.put(
        format!("/v1/items/{}", Uuid::new_v4()),
        &a.token,
        json!({"vault_id": vault, "base_revision": 0, "envelope": "AAAA"}),
    )
    .await;
    let (_, blob) = s
        .call(
            Method::POST,
            "/v1/blobs",
            Some(&a.token),
            Some(json!({"size": 70000, "chunk_size": 65536})),
        )
        .await;
    let blob_id = blob["blob_id"].as_str().unwrap();
    let st = s
        .client()
        .put(format!("{}/v1/blobs/{blob_id}/chunks/0", s.base))
        .bearer_auth(&a.token)
        .body(vec![1u8; 65536])
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(st, StatusCode::NO_CONTENT);
    let blob_dir = s
        .dir
        .path()
        .join("data/blobs")
        .join(a.account_id.simple().to_string());
    assert!(blob_dir.exists());
    assert!(rows_of(&s, a.account_id).await >= 6);

    // The wrong confirmation changes nothing.
    let (st, _) = s
        .call(
            Method::DELETE,
            "/v1/account",
            Some(&a.token),
            Some(json!({"confirm_username": "bob"})),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    assert_eq!(s.get("/v1/account", &a.token).await.0, StatusCode::OK);
    // The right one, without a step-up: refused; with one, done.
    let (st, v) = s
        .call(
            Method::DELETE,
            "/v1/account",
            Some(&a.token),
            Some(json!({"confirm_username": "Zelda-Canary"})),
        )
        .await;
    assert_eq!(
        (st, v["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("step_up_required"))
    );
    let proof = s.proof(&a, "delete_account").await;
    let (st, v) = s
        .call_stepped(
            Method::DELETE,
            "/v1/account",
            Some(&a.token),
            Some(&proof),
            Some(json!({"confirm_username": "Zelda-Canary"})),
        )
        .await;
    assert_eq!(st, StatusCode::ACCEPTED, "{v}");
    assert!(v["purged_by"].as_i64().unwrap() >= s.server.state.clock.now() + 47 * 3600);
    // Closed at once: every session, sign-in, the directory; the name stays reserved.
    for t in [&a.token, &other] {
        assert_eq!(s.get("/v1/account", t).await.0, StatusCode::UNAUTHORIZED);
        assert_eq!(s.get("/v1/changes", t).await.0, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        s.login("zelda-canary", "pw-zelda-123", &a.secret_key)
            .await
            .unwrap_err()
            .0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        s.get("/v1/directory/zelda-canary", &bob.token).await.0,
        StatusCode::NOT_FOUND
    );

    // 23 hours later the purge job has not removed it yet...
    s.server.state.clock.advance(23 * 3600);
    tokio::time::sleep(std::time::Duration::from_millis(2500)).await;
    assert!(rows_of(&s, a.account_id).await > 0);
    // ...and by 48 hours nothing of the account remains (bounded wait for the 1-second job).
    s.server.state.clock.advance(25 * 3600);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
    while rows_of(&s, a.account_id).await > 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "the purge job did not run"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert!(!blob_dir.exists(), "blobs are purged too");
    let stored = crate::breach::database_text(&s).await;
    assert!(
        !stored.contains("zelda-canary") && !stored.contains("zelda-canary@example.org"),
        "no trace in the database files"
    );
    // Bob is untouched, and the name is free again.
    assert_eq!(s.get("/v1/account", &bob.token).await.0, StatusCode::OK);
    s.register("zelda-canary", "a-new-owner-99").await;
    s.server.stop().await;
}
