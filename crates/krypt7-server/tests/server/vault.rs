use futures_util::StreamExt;
use krypt7_protocol::Changes;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    both,
    harness::{Backend, TestServer},
};

both!(
    push_pull_and_stale_revisions,
    change_feed_pages_in_order,
    commit_is_all_or_nothing_and_one_racer_wins,
    push_channel_notifies_other_devices,
    quota_is_enforced_on_items,
    vault_key_wraps_are_write_once,
    single_item_writes_are_off_by_default
);

fn env(bytes: &[u8]) -> String {
    serde_json::to_value(krypt7_protocol::B64(bytes.to_vec()))
        .unwrap()
        .as_str()
        .unwrap()
        .to_string()
}

async fn push_pull_and_stale_revisions(b: Backend) {
    let s = TestServer::start_with(b, |c| c.raw_item_writes = true).await;
    let a = s.register("alice", "pw-alice-123").await;
    let vault = Uuid::new_v4();
    let item = Uuid::new_v4();
    let (st, v) = s
        .put(
            format!("/v1/vaults/{vault}"),
            &a.token,
            json!({"key_wrap": env(b"wrapped vault key")}),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let push = |base: i64, body: &[u8], deleted: bool| {
        s.put(format!("/v1/items/{item}"), &a.token, json!({"vault_id": vault, "base_revision": base, "envelope": env(body), "deleted": deleted}))
    };
    let (st, v1) = push(0, b"first version", false).await;
    assert_eq!((st, v1["revision"].as_i64()), (StatusCode::OK, Some(1)));
    let (st, v2) = push(1, b"second version", false).await;
    assert_eq!((st, v2["revision"].as_i64()), (StatusCode::OK, Some(2)));
    assert!(v2["cursor"].as_i64() > v1["cursor"].as_i64());
    // A device that still holds revision 1 is told what is there now.
    let (st, c) = push(1, b"stale edit", false).await;
    assert_eq!(st, StatusCode::CONFLICT);
    assert_eq!(c["code"], "conflict");
    assert_eq!(c["current"]["kind"], "item");
    assert_eq!(c["current"]["revision"], 2);
    assert_eq!(c["current"]["envelope"], env(b"second version"));
    // Creating an item that exists is a conflict too; editing a missing one is 404.
    assert_eq!(push(0, b"again", false).await.0, StatusCode::CONFLICT);
    let (st, _) = s
        .put(
            format!("/v1/items/{}", Uuid::new_v4()),
            &a.token,
            json!({"vault_id": vault, "base_revision": 3, "envelope": env(b"x")}),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // Delete (a tombstone), then pull everything.
    let (st, _) = push(2, b"", true).await;
    assert_eq!(st, StatusCode::OK);
    let (st, v) = s.get("/v1/changes?since=0", &a.token).await;
    assert_eq!(st, StatusCode::OK);
    let ch: Changes = serde_json::from_value(v).unwrap();
    assert_eq!(ch.items.len(), 1);
    assert!(ch.items[0].deleted);
    assert_eq!(ch.items[0].revision, 3);
    assert_eq!(ch.vaults.len(), 1);
    assert_eq!(ch.vaults[0].key_wrap.0, b"wrapped vault key");
    assert!(!ch.has_more);
    // Nothing new since that cursor. Another account sees none of it.
    let (_, v) = s
        .get(format!("/v1/changes?since={}", ch.cursor), &a.token)
        .await;
    let none: Changes = serde_json::from_value(v).unwrap();
    assert!(none.items.is_empty() && none.vaults.is_empty() && none.cursor == ch.cursor);
    let bob = s.register("bob", "pw-bob-123456").await;
    let (_, v) = s.get("/v1/changes?since=0", &bob.token).await;
    let other: Changes = serde_json::from_value(v).unwrap();
    assert!(other.items.is_empty() && other.vaults.is_empty());
    // Bob cannot overwrite Alice's item id in his own space either: ids are per account.
    let (st, _) = s
        .put(
            format!("/v1/items/{item}"),
            &bob.token,
            json!({"vault_id": vault, "base_revision": 0, "envelope": env(b"bob's")}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (_, v) = s.get("/v1/changes?since=0", &a.token).await;
    assert_eq!(
        serde_json::from_value::<Changes>(v).unwrap().items[0].revision,
        3
    );
    s.server.stop().await;
}

async fn change_feed_pages_in_order(b: Backend) {
    let s = TestServer::start_with(b, |c| c.raw_item_writes = true).await;
    let a = s.register("alice", "pw-alice-123").await;
    let vault = Uuid::new_v4();
    let mut ids = Vec::new();
    for i in 0..25 {
        let id = Uuid::new_v4();
        let (st, _) = s.put(format!("/v1/items/{id}"), &a.token, json!({"vault_id": vault, "base_revision": 0, "envelope": env(format!("item {i}").as_bytes())})).await;
        assert_eq!(st, StatusCode::OK);
        ids.push(id);
    }
    // Edit the first item: it moves to the end of the feed.
    let (st, _) = s
        .put(
            format!("/v1/items/{}", ids[0]),
            &a.token,
            json!({"vault_id": vault, "base_revision": 1, "envelope": env(b"edited")}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let (mut since, mut seen, mut pages) = (0, Vec::new(), 0);
    loop {
        let (st, v) = s
            .get(format!("/v1/changes?since={since}&limit=10"), &a.token)
            .await;
        assert_eq!(st, StatusCode::OK);
        let ch: Changes = serde_json::from_value(v).unwrap();
        pages += 1;
        assert!(ch.items.len() <= 10);
        assert!(ch.cursor >= since);
        for w in ch.items.windows(2) {
            assert!(w[0].cursor < w[1].cursor, "feed is ordered by cursor");
        }
        seen.extend(ch.items.iter().map(|i| i.id));
        since = ch.cursor;
        if !ch.has_more {
            break;
        }
    }
    assert_eq!(pages, 3);
    assert_eq!(seen.len(), 25, "each item once, at its latest version");
    assert_eq!(*seen.last().unwrap(), ids[0]);
    for bad in ["since=-1", "limit=0", "limit=5000", "since=abc", "bogus=1"] {
        assert_eq!(
            s.get(format!("/v1/changes?{bad}"), &a.token).await.0,
            StatusCode::BAD_REQUEST,
            "{bad}"
        );
    }
    s.server.stop().await;
}

async fn commit_is_all_or_nothing_and_one_racer_wins(b: Backend) {
    let s = TestServer::start_with(b, |c| c.raw_item_writes = true).await;
    let a = s.register("alice", "pw-alice-123").await;
    let vault = Uuid::new_v4();
    s.put(
        format!("/v1/vaults/{vault}"),
        &a.token,
        json!({"key_wrap": env(b"k")}),
    )
    .await;
    let path = format!("/v1/vaults/{vault}/commit");
    let commit = |expected: i64, manifest: &[u8], items: Value| {
        s.call(
            Method::POST,
            path.clone(),
            Some(&a.token),
            Some(
                json!({"expected_version": expected, "version": expected + 1,
                        "manifest": env(manifest), "items": items}),
            ),
        )
    };
    let (x, y) = (Uuid::new_v4(), Uuid::new_v4());
    let (st, v) = commit(
        0,
        b"m1",
        json!([{"id": x, "base_revision": 0, "envelope": env(b"x1")}]),
    )
    .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["manifest"]["version"], 1);
    assert_eq!(v["items"][0]["revision"], 1);
    assert!(v["manifest"]["cursor"].as_i64() > v["items"][0]["cursor"].as_i64());
    // Two devices race from version 1: exactly one wins, and the loser wrote nothing.
    let p1 = commit(
        1,
        b"from device A",
        json!([{"id": x, "base_revision": 1, "envelope": env(b"x2 from A")}]),
    );
    let p2 = commit(
        1,
        b"from device B",
        json!([{"id": y, "base_revision": 0, "envelope": env(b"y1 from B")}]),
    );
    let ((s1, v1), (s2, v2)) = tokio::join!(p1, p2);
    let mut statuses = [s1, s2];
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT]);
    let (winner, loser, a_won) = if s1 == StatusCode::OK {
        (v1, v2, true)
    } else {
        (v2, v1, false)
    };
    assert_eq!(loser["current"]["kind"], "manifest");
    assert_eq!(loser["current"]["version"], 2);
    assert_eq!(loser["current"]["manifest"], winner["manifest"]["manifest"]);
    let (_, feed) = s.get("/v1/changes?since=0", &a.token).await;
    let ids: Vec<&str> = feed["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    let (x_s, y_s) = (x.to_string(), y.to_string());
    assert_eq!(ids.contains(&y_s.as_str()), !a_won, "{feed}");
    assert!(ids.contains(&x_s.as_str()));
    // A stale item base refuses the whole commit: the manifest stays where it was.
    let (st, v) = commit(
        2,
        b"m3",
        json!([{"id": Uuid::new_v4(), "base_revision": 0, "envelope": env(b"new")},
               {"id": x, "base_revision": 0, "envelope": env(b"stale")}]),
    )
    .await;
    assert_eq!(st, StatusCode::CONFLICT, "{v}");
    assert_eq!(v["current"]["kind"], "item");
    let (_, feed2) = s.get("/v1/changes?since=0", &a.token).await;
    assert_eq!(feed2["items"], feed["items"]);
    // Every version the vault had, in order (a device checks each links to the one before).
    let versions: Vec<&Value> = feed2["manifests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| &m["version"])
        .collect();
    assert_eq!(versions, [&json!(1), &json!(2)], "{feed2}");
    assert_eq!(
        feed2["manifests"][1]["manifest"],
        winner["manifest"]["manifest"]
    );
    // A version that does not move forward, or an item twice, is refused outright.
    let bad = json!({"expected_version": 2, "version": 2, "manifest": env(b"x")});
    let (st, _) = s
        .call(Method::POST, path.clone(), Some(&a.token), Some(bad))
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let twice = json!([{"id": x, "base_revision": 1, "envelope": env(b"a")},
                       {"id": x, "base_revision": 1, "envelope": env(b"b")}]);
    assert_eq!(commit(2, b"m", twice).await.0, StatusCode::BAD_REQUEST);
    // Unknown vault.
    let (st, _) = s
        .call(
            Method::POST,
            format!("/v1/vaults/{}/commit", Uuid::new_v4()),
            Some(&a.token),
            Some(json!({"expected_version": 0, "version": 1, "manifest": env(b"x")})),
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    s.server.stop().await;
}

async fn push_channel_notifies_other_devices(b: Backend) {
    let s = TestServer::start_with(b, |c| c.raw_item_writes = true).await;
    let a = s.register("alice", "pw-alice-123").await;
    let other_device = s
        .login("alice", "pw-alice-123", &a.secret_key)
        .await
        .unwrap();
    let resp = s
        .client()
        .get(format!("{}/v1/events", s.base))
        .bearer_auth(&other_device)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    let mut stream = resp.bytes_stream();
    // Give the subscription a moment to register before writing.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    let (_, item) = s
        .put(
            format!("/v1/items/{}", Uuid::new_v4()),
            &a.token,
            json!({"vault_id": Uuid::new_v4(), "base_revision": 0, "envelope": env(b"x")}),
        )
        .await;
    let want = format!("\"cursor\":{}", item["cursor"]);
    let mut got = String::new();
    // A liveness bound only (the figure that matters is measured by the benchmark).
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    while !got.contains(&want) {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("no event arrived")
            .unwrap()
            .unwrap();
        got.push_str(&String::from_utf8_lossy(&chunk));
    }
    assert!(got.contains("event: changes"), "{got}");
    // Without a session: 401.
    let resp = s
        .client()
        .get(format!("{}/v1/events", s.base))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
    drop(stream);
    s.server.stop().await;
}

async fn quota_is_enforced_on_items(b: Backend) {
    let s = TestServer::start_with(b, |c| {
        c.quota_bytes = 3000;
        c.raw_item_writes = true;
    })
    .await;
    let a = s.register("alice", "pw-alice-123").await;
    let vault = Uuid::new_v4();
    let push = |id: Uuid, n: usize| {
        s.put(
            format!("/v1/items/{id}"),
            &a.token,
            json!({"vault_id": vault, "base_revision": 0, "envelope": env(&vec![7u8; n])}),
        )
    };
    assert_eq!(push(Uuid::new_v4(), 2000).await.0, StatusCode::OK);
    let (st, v) = push(Uuid::new_v4(), 1500).await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(v["code"], "quota_exceeded");
    assert_eq!(push(Uuid::new_v4(), 900).await.0, StatusCode::OK);
    let (_, info) = s.get("/v1/account", &a.token).await;
    assert_eq!(info["usage_bytes"], 2900);
    assert_eq!(info["quota_bytes"], 3000);
    s.server.stop().await;
}

/// Two stateless nodes over one PostgreSQL: a device on node B hears of a write made on
/// node A (NOTIFY relays it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_push_reaches_devices_on_other_nodes() {
    // Every node has the same server keys (they find accounts by the keyed blind index).
    let keys = krypt7_server::at_rest::AtRest::new_key_line(1).unwrap();
    let node_a = TestServer::start_with(Backend::Postgres, |c| {
        c.raw_item_writes = true;
        c.server_keys = Some(keys.clone());
    })
    .await;
    let url = node_a.db_url.clone();
    let node_b = TestServer::start_with(Backend::Postgres, |c| {
        c.database_url = url;
        c.raw_item_writes = true;
        c.server_keys = Some(keys);
    })
    .await;
    let a = node_a.register("alice", "pw-alice-123").await;
    let on_b = node_b
        .login("alice", "pw-alice-123", &a.secret_key)
        .await
        .unwrap();
    let resp = node_b
        .client()
        .get(format!("{}/v1/events", node_b.base))
        .bearer_auth(&on_b)
        .send()
        .await
        .unwrap();
    let mut stream = resp.bytes_stream();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let (_, item) = node_a
        .put(
            format!("/v1/items/{}", Uuid::new_v4()),
            &a.token,
            json!({"vault_id": Uuid::new_v4(), "base_revision": 0, "envelope": env(b"x")}),
        )
        .await;
    let want = format!("\"cursor\":{}", item["cursor"]);
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut got = String::new();
    while !got.contains(&want) {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("no event reached node B")
            .unwrap()
            .unwrap();
        got.push_str(&String::from_utf8_lossy(&chunk));
    }
    // Node B serves the change itself, too.
    let (_, v) = node_b.get("/v1/changes?since=0", &on_b).await;
    assert_eq!(serde_json::from_value::<Changes>(v).unwrap().items.len(), 1);
    drop(stream);
    node_a.server.stop().await;
    node_b.server.stop().await;
}

/// A vault's key wrap is written once: the same bytes again (a retried request) are
/// answered with what is stored, different bytes are refused, and the feed keeps the first.
async fn vault_key_wraps_are_write_once(b: Backend) {
    let s = TestServer::start_with(b, |c| c.raw_item_writes = true).await;
    let a = s.register("alice", "pw-alice-123").await;
    let vault = Uuid::new_v4();
    let put = |wrap: &'static [u8]| {
        s.put(
            format!("/v1/vaults/{vault}"),
            &a.token,
            json!({"key_wrap": env(wrap)}),
        )
    };
    let (st, first) = put(b"the wrap").await;
    assert_eq!(st, StatusCode::OK, "{first}");
    let (st, again) = put(b"the wrap").await;
    assert_eq!((st, &again), (StatusCode::OK, &first));
    let (st, other) = put(b"garbage that would break every device").await;
    assert_eq!(st, StatusCode::CONFLICT, "{other}");
    assert_eq!(other["code"], "already_exists");
    let (st, feed) = s.get("/v1/changes?since=0", &a.token).await;
    assert_eq!(st, StatusCode::OK);
    let feed: Changes = serde_json::from_value(feed).unwrap();
    assert_eq!(feed.vaults.len(), 1);
    assert_eq!(feed.vaults[0].key_wrap.0, b"the wrap");
    assert_eq!(feed.cursor, first["cursor"].as_i64().unwrap());
    s.server.stop().await;
}

/// A token cannot write an item outside a commit (which every client would then refuse as
/// a vault changed without its manifest) unless the server runs for load tests.
async fn single_item_writes_are_off_by_default(b: Backend) {
    let s = TestServer::start(b).await;
    let a = s.register("alice", "pw-alice-123").await;
    let (st, v) = s
        .put(
            format!("/v1/items/{}", Uuid::new_v4()),
            &a.token,
            json!({"vault_id": Uuid::new_v4(), "base_revision": 0, "envelope": "AAAA"}),
        )
        .await;
    assert_eq!(
        (st, v["code"].as_str()),
        (StatusCode::NOT_FOUND, Some("not_found")),
        "{v}"
    );
    let (_, feed) = s.get("/v1/changes?since=0", &a.token).await;
    assert_eq!(feed["items"], json!([]), "{feed}");
    s.server.stop().await;
}
