//! The unauthorized-attempt record, shown to the account it was against: wrong passwords
//! (sent through, or left unfinished as a client that found the password wrong does), and an
//! ended session's token used again, each with the address it came from, listed by
//! `GET /v1/account/attempts` and announced on the push channel; attempts against other
//! accounts, or against none, are not listed; the record is forgotten after its retention.

use futures_util::StreamExt;
use reqwest::StatusCode;

use crate::{
    both,
    harness::{Backend, TestServer},
};

both!(
    attempts_are_listed_for_their_account_and_announced,
    a_flood_of_bad_tokens_is_limited_and_does_not_fill_the_record
);

/// Bad tokens count against the address's limit: past it they get 429 and are not
/// recorded, so the record stays bounded; other addresses are not held back.
async fn a_flood_of_bad_tokens_is_limited_and_does_not_fill_the_record(b: Backend) {
    let s = TestServer::start(b).await;
    let flood = s.reached_from("127.0.0.3");
    let mut limited = 0;
    for i in 0..40 {
        match flood
            .get("/v1/account", &format!("not-a-token-{i}"))
            .await
            .0
        {
            StatusCode::UNAUTHORIZED => {}
            StatusCode::TOO_MANY_REQUESTS => limited += 1,
            other => panic!("a bad token got {other}"),
        }
    }
    assert!(
        limited >= 10,
        "only {limited} of 40 bad tokens were limited"
    );
    let recorded = s
        .unauthorized()
        .await
        .into_iter()
        .filter(|(ip, _)| ip == "127.0.0.3")
        .count();
    assert!(recorded <= 30, "{recorded} bad tokens recorded");
    let (st, _) = s
        .reached_from("127.0.0.4")
        .get("/v1/account", "not-a-token")
        .await;
    assert_eq!(
        st,
        StatusCode::UNAUTHORIZED,
        "another address is not held back"
    );
    s.server.stop().await;
}

async fn attempts_are_listed_for_their_account_and_announced(b: Backend) {
    let s = TestServer::start(b).await;
    let clock = s.server.state.clock.clone();
    let a = s.register("alice", "pw-alice-123").await;
    let bob = s.register("bob", "pw-bob-123456").await;
    // A device of alice's listening on the push channel.
    let resp = s
        .client()
        .get(format!("{}/v1/events", s.base))
        .bearer_auth(&a.token)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::OK);
    let mut stream = resp.bytes_stream();
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;

    // From 127.0.0.2: two wrong passwords sent through, one left unfinished, and the token
    // of a session alice signed out of.
    let other = s.reached_from("127.0.0.2");
    for _ in 0..2 {
        let (st, _) = other
            .sign_in("alice", "wrong password", &a.secret_key)
            .await
            .unwrap_err();
        assert_eq!(st, StatusCode::UNAUTHORIZED);
    }
    let (st, _) = other
        .post(
            "/v1/sessions/login/start",
            serde_json::json!({"username": "alice", "credential_request": krypt7_protocol::B64(
                krypt7_crypto::opaque::Login::start(&krypt7_crypto::Password::new("a guess"), &a.secret_key).unwrap().1)}),
        )
        .await;
    assert_eq!(st, StatusCode::OK);
    let old = s
        .login("alice", "pw-alice-123", &a.secret_key)
        .await
        .unwrap();
    let (st, _) = s
        .call(
            reqwest::Method::DELETE,
            "/v1/sessions/current",
            Some(&old),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(
        other.get("/v1/account", &old).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Not alice's: a token of nobody's, and a wrong password for bob.
    assert_eq!(
        other.get("/v1/account", "garbage").await.0,
        StatusCode::UNAUTHORIZED
    );
    other
        .sign_in("bob", "wrong password", &bob.secret_key)
        .await
        .unwrap_err();

    // The push channel told alice's device.
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    let mut got = String::new();
    while !got.contains("event: attempt") {
        let chunk = tokio::time::timeout_at(deadline, stream.next())
            .await
            .expect("no attempt event arrived")
            .unwrap()
            .unwrap();
        got.push_str(&String::from_utf8_lossy(&chunk));
    }

    // Five minutes on, the unfinished sign-in counts too.
    clock.advance(301);
    let (st, list) = s.get("/v1/account/attempts", &a.token).await;
    assert_eq!(st, StatusCode::OK, "{list}");
    let list: Vec<krypt7_protocol::Attempt> = serde_json::from_value(list).unwrap();
    let reasons: Vec<&str> = list.iter().map(|x| x.reason.as_str()).collect();
    assert_eq!(list.len(), 4, "{reasons:?}");
    assert!(list.iter().all(|x| x.ip == "127.0.0.2"), "{list:?}");
    assert_eq!(
        reasons.iter().filter(|r| **r == "failed sign-in").count(),
        2
    );
    assert!(reasons.contains(&"sign-in not completed"), "{reasons:?}");
    assert!(
        reasons.contains(&"signed out session's token"),
        "{reasons:?}"
    );
    let (_, bobs) = s.get("/v1/account/attempts", &bob.token).await;
    assert_eq!(bobs.as_array().unwrap().len(), 1, "{bobs}");

    // After the retention (90 days), forgotten.
    clock.advance(krypt7_server::Config::DEFAULT_ATTEMPTS_RETENTION);
    let fresh = s
        .login("alice", "pw-alice-123", &a.secret_key)
        .await
        .unwrap();
    krypt7_server::purge::tidy_sessions(&s.server.state)
        .await
        .unwrap();
    let (_, list) = s.get("/v1/account/attempts", &fresh).await;
    assert_eq!(list.as_array().unwrap().len(), 0, "{list}");
    s.server.stop().await;
}
