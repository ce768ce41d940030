//! Changing the Secret Key (docs/server.md, "Changing the Secret Key"): items staged, then
//! credentials, key wraps, items and manifests replaced at once; or, when the change does
//! not cover the account as it stands, nothing.

use krypt7_protocol::B64;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{both, harness::TestServer};

both!(a_secret_key_change_replaces_everything_at_once_or_nothing);

fn env(b: &[u8]) -> String {
    B64(b.to_vec()).encode()
}

async fn a_secret_key_change_replaces_everything_at_once_or_nothing(b: crate::harness::Backend) {
    let s = TestServer::start(b).await;
    let a = s.register("alice", "pw-alice-123").await;
    let other = s.register("bob", "pw-bob-12345").await;
    let vault = Uuid::new_v4();
    s.put(
        format!("/v1/vaults/{vault}"),
        &a.token,
        json!({"key_wrap": env(b"old wrap")}),
    )
    .await;
    let (x, y) = (Uuid::new_v4(), Uuid::new_v4());
    let (st, v) = s
        .call(
            Method::POST,
            format!("/v1/vaults/{vault}/commit"),
            Some(&a.token),
            Some(
                json!({"expected_version": 0, "version": 1, "manifest": env(b"old m1"),
                "items": [{"id": x, "base_revision": 0, "envelope": env(b"old x")},
                          {"id": y, "base_revision": 0, "envelope": env(b"old y")}]}),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let (_, v) = s
        .call(
            Method::POST,
            format!("/v1/vaults/{vault}/commit"),
            Some(&a.token),
            Some(
                json!({"expected_version": 1, "version": 2, "manifest": env(b"old m2"),
                "items": [{"id": y, "base_revision": 1, "envelope": env(b""), "deleted": true}]}),
            ),
        )
        .await;
    assert_eq!(v["manifest"]["version"], 2, "{v}");
    let proof = s.proof(&a, "change_secret_key").await;
    let stepped = |m: Method, path: &str, body: Value| {
        let (s, token, proof, path) = (&s, &a.token, &proof, path.to_string());
        async move {
            s.call_stepped(m, path, Some(token), Some(proof), Some(body))
                .await
        }
    };
    // The registration (same password and Secret Key: what matters here is the rest).
    let mut finish = s.secret_key_change(&a, &proof).await;
    let start = stepped(
        Method::POST,
        "/v1/account/secret-key/start",
        json!({"registration_request": B64(vec![0; 32])}),
    )
    .await;
    assert_eq!(
        start.0,
        StatusCode::BAD_REQUEST,
        "not an OPAQUE message: {}",
        start.1
    );
    let stage = |items: Value| {
        stepped(
            Method::PUT,
            "/v1/account/secret-key/items",
            json!({ "items": items }),
        )
    };
    let staged_x =
        json!({"id": x, "vault_id": vault, "base_revision": 1, "envelope": env(b"new x")});
    let staged_y = json!({"id": y, "vault_id": vault, "base_revision": 2, "envelope": env(b"new y"), "deleted": true});
    // Another account's item, or an item in another vault, cannot be staged.
    let bobs =
        json!({"id": Uuid::new_v4(), "vault_id": vault, "base_revision": 1, "envelope": env(b"?")});
    assert_eq!(stage(json!([bobs])).await.0, StatusCode::CONFLICT);
    let elsewhere =
        json!({"id": x, "vault_id": Uuid::new_v4(), "base_revision": 1, "envelope": env(b"?")});
    assert_eq!(stage(json!([elsewhere])).await.0, StatusCode::CONFLICT);
    let (st, v) = stage(json!([staged_x])).await;
    assert_eq!((st, v["staged"].as_i64()), (StatusCode::OK, Some(1)), "{v}");
    finish["vaults"] = json!([{"id": vault, "key_wrap": env(b"new wrap"),
        "expected_version": 2, "manifest": env(b"new m3")}]);
    let keys_before = s.get("/v1/account/keys", &a.token).await.1;
    // One item not staged: refused, nothing changed.
    let (st, v) = stepped(Method::PUT, "/v1/account/secret-key", finish.clone()).await;
    assert_eq!(
        (st, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("conflict")),
        "{v}"
    );
    assert_eq!(s.get("/v1/account/keys", &a.token).await.1, keys_before);
    // Both staged, but a vault left out, or a stale manifest version: refused.
    let proof2 = s.proof(&a, "change_secret_key").await;
    let stepped2 = |m: Method, path: &str, body: Value| {
        let (s, token, proof, path) = (&s, &a.token, &proof2, path.to_string());
        async move {
            s.call_stepped(m, path, Some(token), Some(proof), Some(body))
                .await
        }
    };
    let (st, v) = stepped2(
        Method::PUT,
        "/v1/account/secret-key/items",
        json!({ "items": [staged_y] }),
    )
    .await;
    assert_eq!((st, v["staged"].as_i64()), (StatusCode::OK, Some(2)), "{v}");
    for vaults in [
        json!([]),
        json!([{"id": vault, "key_wrap": env(b"new wrap"), "expected_version": 1, "manifest": env(b"new m")}]),
    ] {
        let mut partial = finish.clone();
        partial["vaults"] = vaults;
        let proof = s.proof(&a, "change_secret_key").await;
        let (st, v) = s
            .call_stepped(
                Method::PUT,
                "/v1/account/secret-key",
                Some(&a.token),
                Some(&proof),
                Some(partial),
            )
            .await;
        assert_eq!(st, StatusCode::CONFLICT, "{v}");
    }
    assert_eq!(s.get("/v1/account/keys", &a.token).await.1, keys_before);
    // Complete: everything replaced at once.
    let (st, v) = stepped2(Method::PUT, "/v1/account/secret-key", finish.clone()).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        (v["credentials"].as_i64(), v["key_epoch"].as_i64()),
        (Some(1), Some(1))
    );
    let keys = s.get("/v1/account/keys", &a.token).await.1;
    assert_eq!(keys["keyset"], finish["keyset"]);
    assert_eq!(keys["key_epoch"], 1);
    let (_, feed) = s.get("/v1/changes?since=0", &a.token).await;
    assert_eq!(feed["key_epoch"], 1, "{feed}");
    assert_eq!(feed["vaults"][0]["key_wrap"], env(b"new wrap"));
    let items = feed["items"].as_array().unwrap();
    let item = |id: Uuid| items.iter().find(|i| i["id"] == json!(id)).unwrap().clone();
    assert_eq!(
        (item(x)["revision"].as_i64(), item(x)["envelope"].as_str()),
        (Some(2), Some(env(b"new x").as_str()))
    );
    assert_eq!(
        (item(y)["revision"].as_i64(), item(y)["deleted"].as_bool()),
        (Some(3), Some(true))
    );
    // The manifests sealed under the old keys are gone: the chain starts again at 3.
    let versions: Vec<i64> = feed["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["version"].as_i64().unwrap())
        .collect();
    assert_eq!(versions, vec![3], "{feed}");
    let (_, vaults) = s.get("/v1/vaults", &a.token).await;
    assert_eq!(vaults[0]["key_wrap"], env(b"new wrap"));
    for old in [b"old x".as_slice(), b"old m1", b"old m2", b"old wrap"] {
        assert!(
            !crate::breach::database_holds(&s, old).await,
            "{} is still stored",
            String::from_utf8_lossy(old)
        );
    }
    // A device that did not follow commits on top of version 2: refused.
    let (st, _) = s
        .call(
            Method::POST,
            format!("/v1/vaults/{vault}/commit"),
            Some(&a.token),
            Some(
                json!({"expected_version": 2, "version": 3, "manifest": env(b"stale"),
                "items": [{"id": Uuid::new_v4(), "base_revision": 0, "envelope": env(b"stale")}]}),
            ),
        )
        .await;
    assert_eq!(st, StatusCode::CONFLICT);
    // The other account was not touched.
    assert_eq!(
        s.get("/v1/account/keys", &other.token).await.1["key_epoch"],
        0
    );
    s.server.stop().await;
}
