//! Rate limits behind a load balancer: the client's address from a trusted proxy's header
//! (and only then), and a per-username limit that others' failures cannot use to lock the
//! owner's device out (docs/server.md, "Abuse").

use krypt7_crypto::{Password, opaque::Login};
use krypt7_protocol::{B64, LoginFinishResponse};
use reqwest::StatusCode;
use serde_json::json;

use crate::{
    both,
    harness::{Backend, TestServer},
};

both!(
    a_trusted_proxy_names_the_client_and_no_one_else_does,
    failures_from_elsewhere_do_not_lock_the_owners_device_out
);

/// The attempts recorded against alice, newest first: `(ip, reason)`.
async fn attempts(s: &TestServer, token: &str) -> Vec<(String, String)> {
    let (st, v) = s.get("/v1/account/attempts", token).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    v.as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["ip"].as_str().unwrap().to_string(),
                a["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

async fn a_trusted_proxy_names_the_client_and_no_one_else_does(b: Backend) {
    // Behind a proxy on 127.0.0.1 that writes X-Forwarded-For.
    let s = TestServer::start_with(b, |c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.client_ip_header = Some("X-Forwarded-For".into());
    })
    .await;
    let alice = s.register("alice", "pw-alice-123").await;
    // Through the proxy: the client is the rightmost address the proxies did not add.
    let via_proxy = s.forwarded_for("198.51.100.1, 203.0.113.9");
    assert!(
        via_proxy
            .login("alice", "wrong password", &alice.secret_key)
            .await
            .is_err()
    );
    // Straight from an address that is not a proxy: its header is not believed.
    let direct = s.reached_from("127.0.0.2").forwarded_for("192.0.2.77");
    assert!(
        direct
            .login("alice", "wrong password", &alice.secret_key)
            .await
            .is_err()
    );
    // A proxy passing on what is not an address: the proxy's peer is what is known.
    let garbled = s.forwarded_for("not-an-address");
    assert!(
        garbled
            .login("alice", "wrong password", &alice.secret_key)
            .await
            .is_err()
    );
    let seen = attempts(&s, &alice.token).await;
    let ips: Vec<&str> = seen.iter().map(|(ip, _)| ip.as_str()).collect();
    assert_eq!(ips, ["127.0.0.1", "127.0.0.2", "203.0.113.9"], "{seen:?}");

    // Without a configured proxy, nobody's header is believed.
    let plain = TestServer::start(b).await;
    let bob = plain.register("bob", "pw-bob-123456").await;
    assert!(
        plain
            .forwarded_for("203.0.113.9")
            .login("bob", "wrong password", &bob.secret_key)
            .await
            .is_err()
    );
    let seen = attempts(&plain, &bob.token).await;
    assert_eq!(seen[0].0, "127.0.0.1", "{seen:?}");
    s.server.stop().await;
    plain.server.stop().await;
}

/// 1000 sign-ins for alice, each from another address (through the trusted proxy): past
/// the username's limit they are refused, and so is alice's own device that shows nothing;
/// her device that shows the proof it got at its last sign-in signs in all the same. A
/// proof made for another account, or forged, counts as none.
async fn failures_from_elsewhere_do_not_lock_the_owners_device_out(b: Backend) {
    let s = TestServer::start_with(b, |c| {
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.client_ip_header = Some("X-Forwarded-For".into());
    })
    .await;
    let alice = s.register("alice", "pw-alice-123").await;
    let bob = s.register("bob", "pw-bob-123456").await;
    let proof_of = |r: LoginFinishResponse| match r {
        LoginFinishResponse::SignedIn(session) => session.device_proof.unwrap(),
        other => panic!("not signed in: {other:?}"),
    };
    let alice_proof = proof_of(
        s.sign_in("alice", "pw-alice-123", &alice.secret_key)
            .await
            .unwrap(),
    );
    let bob_proof = proof_of(
        s.sign_in("bob", "pw-bob-123456", &bob.secret_key)
            .await
            .unwrap(),
    );

    let client = s.client();
    let (mut refused, mut taken) = (0, 0);
    for i in 0..1000u32 {
        let (_, request) = Login::start(&Password::new("a guess"), &alice.secret_key).unwrap();
        let st = client
            .post(format!("{}/v1/sessions/login/start", s.base))
            .header("x-forwarded-for", format!("10.{}.{}.1", i / 250, i % 250))
            .json(&json!({"username": "alice", "credential_request": B64(request)}))
            .send()
            .await
            .unwrap()
            .status();
        match st {
            StatusCode::TOO_MANY_REQUESTS => refused += 1,
            StatusCode::OK => taken += 1,
            other => panic!("unexpected {other}"),
        }
    }
    assert!(
        taken <= 10 && refused >= 990,
        "the username's limit did not hold: {taken} taken, {refused} refused"
    );

    let home = s.forwarded_for("192.0.2.10");
    let locked = home
        .sign_in("alice", "pw-alice-123", &alice.secret_key)
        .await;
    assert_eq!(
        locked.as_ref().err().map(|e| e.0),
        Some(StatusCode::TOO_MANY_REQUESTS),
        "without a proof the owner is limited with everyone else"
    );
    let forged = B64(vec![7; 48]).encode();
    for (what, proof) in [("bob's", bob_proof.as_str()), ("a forged", &forged)] {
        let r = home
            .sign_in_with_proof("alice", "pw-alice-123", &alice.secret_key, Some(proof))
            .await;
        assert_eq!(
            r.as_ref().err().map(|e| e.0),
            Some(StatusCode::TOO_MANY_REQUESTS),
            "{what} proof let the sign-in past the username's limit"
        );
    }
    let r = home
        .sign_in_with_proof(
            "alice",
            "pw-alice-123",
            &alice.secret_key,
            Some(&alice_proof),
        )
        .await
        .unwrap();
    assert!(matches!(r, LoginFinishResponse::SignedIn(_)), "{r:?}");
    s.server.stop().await;
}
