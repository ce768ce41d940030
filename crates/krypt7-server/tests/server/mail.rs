//! Mail between accounts: delivery once per recipient (and once per message, however often
//! it is retried), the change feed's mail entries, taking a message in, and every refusal a
//! sender can meet: an unknown recipient, a full mailbox, a message too large, too many
//! deliveries in a minute.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::{
    both,
    harness::{Backend, TestServer, User, random_bytes},
};

both!(
    attachments_are_copied_to_each_recipient,
    a_message_reaches_each_recipient_once,
    refusals_deliver_nothing,
    the_feed_pages_mail_with_items
);

fn b64(bytes: &[u8]) -> String {
    serde_json::to_value(krypt7_protocol::B64(bytes.to_vec()))
        .unwrap()
        .as_str()
        .unwrap()
        .to_string()
}

async fn send(s: &TestServer, from: &User, client_id: Uuid, copies: Value) -> (StatusCode, Value) {
    s.call(
        Method::POST,
        "/v1/mail",
        Some(&from.token),
        Some(json!({"client_id": client_id, "copies": copies})),
    )
    .await
}

/// A complete blob of `user`'s holding `bytes` (one chunk, or two when over 64 KiB).
async fn blob(s: &TestServer, user: &User, bytes: &[u8], complete: bool) -> Uuid {
    let chunk = 64 * 1024;
    let (st, v) = s
        .call(
            Method::POST,
            "/v1/blobs",
            Some(&user.token),
            Some(json!({"size": bytes.len(), "chunk_size": chunk})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let id: Uuid = v["blob_id"].as_str().unwrap().parse().unwrap();
    for (i, c) in bytes.chunks(chunk).enumerate() {
        let st = s
            .client()
            .put(format!("{}/v1/blobs/{id}/chunks/{i}", s.base))
            .bearer_auth(&user.token)
            .body(c.to_vec())
            .send()
            .await
            .unwrap()
            .status();
        assert_eq!(st, StatusCode::NO_CONTENT);
    }
    if complete {
        let (st, v) = s
            .call(
                Method::POST,
                &format!("/v1/blobs/{id}/complete"),
                Some(&user.token),
                None,
            )
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
    }
    id
}

async fn content(s: &TestServer, user: &User, id: Uuid) -> (StatusCode, Vec<u8>) {
    let r = s
        .client()
        .get(format!("{}/v1/blobs/{id}/content", s.base))
        .bearer_auth(&user.token)
        .send()
        .await
        .unwrap();
    (r.status(), r.bytes().await.unwrap().to_vec())
}

/// A message's attachments: each recipient (To, Cc, Bcc alike) gets its own copy of each of
/// the sender's blobs, under the same id, counted against their quota, readable by them
/// alone; a retry copies nothing again; the sender deleting theirs leaves the recipients'
/// copies whole; a blob that is not the sender's, or not complete, refuses the message;
/// a recipient without room refuses it all, leaving no copy anywhere.
async fn attachments_are_copied_to_each_recipient(b: Backend) {
    let s = TestServer::start_with(b, |c| c.quota_bytes = 400_000).await;
    let alice = s.register("alice", "pw-alice-123").await;
    let bob = s.register("bob", "pw-bob-1234").await;
    let carol = s.register("carol", "pw-carol-123").await;
    let (big, small) = (random_bytes(100_000), random_bytes(500));
    let (a1, a2) = (
        blob(&s, &alice, &big, true).await,
        blob(&s, &alice, &small, true).await,
    );
    let before = usage(&s, &bob).await;
    let sealed = b64(&random_bytes(1024));
    let id = Uuid::new_v4();
    let body = json!({"client_id": id, "attachments": [a1, a2],
        "copies": [{"recipients": [bob.account_id], "sealed": sealed},
                   {"recipients": [carol.account_id], "sealed": sealed}]});
    let (st, v) = s
        .call(
            Method::POST,
            "/v1/mail",
            Some(&alice.token),
            Some(body.clone()),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    for who in [&bob, &carol] {
        assert_eq!(content(&s, who, a1).await, (StatusCode::OK, big.clone()));
        assert_eq!(content(&s, who, a2).await, (StatusCode::OK, small.clone()));
    }
    assert_eq!(usage(&s, &bob).await - before, 1024 + 100_500);
    // Again (a lost answer): nothing copied or counted twice.
    let (st, v) = s
        .call(Method::POST, "/v1/mail", Some(&alice.token), Some(body))
        .await;
    assert_eq!(
        (st, v["already"].as_bool()),
        (StatusCode::OK, Some(true)),
        "{v}"
    );
    assert_eq!(usage(&s, &bob).await - before, 1024 + 100_500);
    // The sender deletes hers: the recipients' copies stay whole.
    let (st, _) = s
        .call(
            Method::DELETE,
            &format!("/v1/blobs/{a1}"),
            Some(&alice.token),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(content(&s, &bob, a1).await, (StatusCode::OK, big.clone()));
    assert_eq!(content(&s, &alice, a1).await.0, StatusCode::NOT_FOUND);

    // Not hers (Bob's blob), not complete, unknown, or twice: refused, nothing delivered.
    let bobs = blob(&s, &bob, &small, true).await;
    let partial = blob(&s, &alice, &big, false).await;
    let delivered = mail(&s, &carol).await.len();
    for (attachments, status) in [
        (json!([bobs]), StatusCode::NOT_FOUND),
        (json!([partial]), StatusCode::NOT_FOUND),
        (json!([Uuid::new_v4()]), StatusCode::NOT_FOUND),
        (json!([a2, a2]), StatusCode::BAD_REQUEST),
    ] {
        let (st, v) = s
            .call(
                Method::POST,
                "/v1/mail",
                Some(&alice.token),
                Some(json!({
                "client_id": Uuid::new_v4(), "attachments": attachments,
                "copies": [{"recipients": [carol.account_id], "sealed": sealed}]})),
            )
            .await;
        assert_eq!(st, status, "{attachments}: {v}");
    }
    assert_eq!(mail(&s, &carol).await.len(), delivered);
    assert_eq!(content(&s, &carol, bobs).await.0, StatusCode::NOT_FOUND);

    // Carol has room, Bob not (an upload of his own takes most of his quota): nothing for
    // either, and no copy of the new attachment anywhere.
    blob(&s, &bob, &random_bytes(250_000), false).await;
    let huge = blob(&s, &alice, &random_bytes(60_000), true).await;
    let (st, v) = s
        .call(
            Method::POST,
            "/v1/mail",
            Some(&alice.token),
            Some(json!({
            "client_id": Uuid::new_v4(), "attachments": [huge],
            "copies": [{"recipients": [bob.account_id, carol.account_id], "sealed": sealed}]})),
        )
        .await;
    assert_eq!(
        (st, v["code"].as_str()),
        (StatusCode::INSUFFICIENT_STORAGE, Some("recipient_full")),
        "{v}"
    );
    for who in [&bob, &carol] {
        assert_eq!(content(&s, who, huge).await.0, StatusCode::NOT_FOUND);
    }
    assert_eq!(mail(&s, &carol).await.len(), delivered);
}

/// The account's mail in its feed (not taken in yet, or the markers of those that were).
async fn mail(s: &TestServer, user: &User) -> Vec<Value> {
    let (st, v) = s.get("/v1/changes?since=0", &user.token).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    // The feed's position is its newest change's.
    let newest = v["mail"]
        .as_array()
        .unwrap()
        .iter()
        .chain(v["items"].as_array().unwrap())
        .map(|c| c["cursor"].as_i64().unwrap())
        .max();
    if let Some(n) = newest {
        assert_eq!(v["cursor"].as_i64(), Some(n), "{v}");
    }
    v["mail"].as_array().unwrap().clone()
}

async fn usage(s: &TestServer, user: &User) -> i64 {
    s.get("/v1/usage", &user.token).await.1["usage_bytes"]
        .as_i64()
        .unwrap()
}

async fn a_message_reaches_each_recipient_once(b: Backend) {
    let s = TestServer::start(b).await;
    let alice = s.register("alice", "pw-alice-123").await;
    let bob = s.register("bob", "pw-bob-1234").await;
    let carol = s.register("carol", "pw-carol-123").await;
    let erin = s.register("erin", "pw-erin-1234").await;
    let (shared, bcc) = (random_bytes(3000), random_bytes(2000));
    let before = usage(&s, &bob).await;
    let id = Uuid::new_v4();
    let copies = json!([
        {"recipients": [bob.account_id, carol.account_id], "sealed": b64(&shared)},
        {"recipients": [erin.account_id], "sealed": b64(&bcc)},
    ]);
    let (st, v) = send(&s, &alice, id, copies.clone()).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["already"], false);
    // A retry (the answer was lost) delivers nothing again and says when it was delivered.
    let (st, again) = send(&s, &alice, id, copies).await;
    assert_eq!(st, StatusCode::OK, "{again}");
    assert_eq!(again["already"], true);
    assert_eq!(again["delivered_at"], v["delivered_at"]);

    for (user, sealed) in [(&bob, &shared), (&carol, &shared), (&erin, &bcc)] {
        let m = mail(&s, user).await;
        assert_eq!(m.len(), 1, "{m:?}");
        assert_eq!(m[0]["sender"], json!(alice.account_id));
        assert_eq!(m[0]["sealed"], json!(b64(sealed)));
    }
    assert!(mail(&s, &alice).await.is_empty(), "the sender gets no copy");
    // Stored mail counts against the recipient until a device takes it in.
    assert_eq!(usage(&s, &bob).await, before + 3000);
    let m = mail(&s, &bob).await;
    let path = format!("/v1/mail/{}", m[0]["id"].as_str().unwrap());
    // Only the recipient can take it.
    let (st, _) = s
        .call(Method::DELETE, &path, Some(&carol.token), None)
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, v) = s.call(Method::DELETE, &path, Some(&bob.token), None).await;
    assert_eq!(st, StatusCode::NO_CONTENT, "{v}");
    // A marker stays in the feed, at a newer position, with nothing sealed left.
    let after = mail(&s, &bob).await;
    assert_eq!(after.len(), 1);
    assert_eq!(after[0]["taken"], true);
    assert_eq!(after[0]["sealed"], "");
    assert!(after[0]["cursor"].as_i64() > m[0]["cursor"].as_i64());
    assert_eq!(usage(&s, &bob).await, before);
    let (st, _) = s.call(Method::DELETE, &path, Some(&bob.token), None).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    assert_eq!(mail(&s, &carol).await.len(), 1, "carol's copy is hers");
}

async fn refusals_deliver_nothing(b: Backend) {
    let s = TestServer::start_with(b, |c| {
        c.max_mail_bytes = 10_000;
        c.mail_per_sender_per_minute = 8;
        c.quota_bytes = 20_000;
    })
    .await;
    let alice = s.register("alice", "pw-alice-123").await;
    let bob = s.register("bob", "pw-bob-1234").await;
    let carol = s.register("carol", "pw-carol-123").await;
    let small = b64(&random_bytes(100));

    // An unknown recipient: a clear error naming it; nobody gets anything.
    let nobody = Uuid::new_v4();
    let (st, v) = send(
        &s,
        &alice,
        Uuid::new_v4(),
        json!([{"recipients": [bob.account_id, nobody], "sealed": small}]),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND, "{v}");
    assert_eq!(v["code"], "no_such_recipient");
    assert!(
        v["message"]
            .as_str()
            .unwrap()
            .ends_with(&nobody.to_string())
    );
    assert!(mail(&s, &bob).await.is_empty());

    // Malformed: no copy, an empty one, a recipient twice, too large.
    for copies in [
        json!([]),
        json!([{"recipients": [], "sealed": small}]),
        json!([{"recipients": [bob.account_id], "sealed": ""}]),
        json!([{"recipients": [bob.account_id], "sealed": small},
               {"recipients": [bob.account_id], "sealed": small}]),
    ] {
        let (st, v) = send(&s, &alice, Uuid::new_v4(), copies).await;
        assert_eq!(st, StatusCode::BAD_REQUEST, "{v}");
    }
    let (st, v) = send(
        &s,
        &alice,
        Uuid::new_v4(),
        json!([{"recipients": [bob.account_id], "sealed": b64(&random_bytes(10_001))}]),
    )
    .await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE, "{v}");
    assert!(mail(&s, &bob).await.is_empty());

    // A full mailbox: the recipient's quota, not the sender's; the other recipient gets
    // nothing either (all or nothing).
    let big = b64(&random_bytes(9_000));
    let mut sent = 0;
    let full = loop {
        let (st, v) = send(
            &s,
            &alice,
            Uuid::new_v4(),
            json!([{"recipients": [bob.account_id], "sealed": big}]),
        )
        .await;
        if st != StatusCode::OK {
            break (st, v);
        }
        sent += 1;
        assert!(sent < 5, "the quota never filled");
    };
    assert_eq!(sent, 2);
    assert_eq!(full.0, StatusCode::INSUFFICIENT_STORAGE, "{}", full.1);
    assert_eq!(full.1["code"], "recipient_full");
    assert!(
        full.1["message"]
            .as_str()
            .unwrap()
            .ends_with(&bob.account_id.to_string())
    );
    let (st, v) = send(
        &s,
        &alice,
        Uuid::new_v4(),
        json!([{"recipients": [carol.account_id, bob.account_id], "sealed": big}]),
    )
    .await;
    assert_eq!(st, StatusCode::INSUFFICIENT_STORAGE, "{v}");
    assert!(mail(&s, &carol).await.is_empty());

    // The sender's deliveries per minute: eight, then refused with a wait.
    let dave = s.register("dave", "pw-dave-1234").await;
    let mut last = StatusCode::OK;
    for _ in 0..9 {
        let (st, _) = send(
            &s,
            &dave,
            Uuid::new_v4(),
            json!([{"recipients": [carol.account_id], "sealed": small}]),
        )
        .await;
        last = st;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(mail(&s, &carol).await.len(), 8);
}

async fn the_feed_pages_mail_with_items(b: Backend) {
    let s = TestServer::start(b).await;
    let alice = s.register("alice", "pw-alice-123").await;
    let bob = s.register("bob", "pw-bob-1234").await;
    for _ in 0..5 {
        let (st, v) = send(
            &s,
            &alice,
            Uuid::new_v4(),
            json!([{"recipients": [bob.account_id], "sealed": b64(&random_bytes(500))}]),
        )
        .await;
        assert_eq!(st, StatusCode::OK, "{v}");
    }
    // Two at a time: every message once, in order, then nothing more.
    let (mut since, mut seen) = (0, vec![]);
    loop {
        let (st, v) = s
            .get(format!("/v1/changes?since={since}&limit=2"), &bob.token)
            .await;
        assert_eq!(st, StatusCode::OK, "{v}");
        let page = v["mail"].as_array().unwrap();
        assert!(page.len() <= 2);
        seen.extend(page.iter().map(|m| m["cursor"].as_i64().unwrap()));
        since = v["cursor"].as_i64().unwrap();
        if v["has_more"] == false {
            break;
        }
    }
    assert_eq!(seen.len(), 5, "{seen:?}");
    assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
}
