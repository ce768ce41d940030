use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{
    both,
    harness::{Backend, TestServer},
};

both!(
    register_sign_in_and_sessions,
    wrong_credentials_are_refused_and_recorded,
    unknown_users_get_stable_fake_answers,
    sign_in_is_rate_limited,
    account_fields_change_and_old_values_are_gone,
    directory_serves_key_bundles,
    sessions_expire_when_idle_and_at_their_limit,
    a_password_change_replaces_the_old_one_everywhere
);

async fn register_sign_in_and_sessions(b: Backend) {
    let s = TestServer::start(b).await;
    let alice = s.register("alice", "correct horse battery").await;
    // A second device signs in: two sessions, the current one marked.
    let second = s
        .login("alice", "correct horse battery", &alice.secret_key)
        .await
        .unwrap();
    let (st, list) = s.get("/v1/sessions", &second).await;
    assert_eq!(st, StatusCode::OK);
    let list = list.as_array().unwrap().clone();
    assert_eq!(list.len(), 2);
    assert_eq!(list.iter().filter(|x| x["current"] == true).count(), 1);
    // A device renames itself (and only itself): a blank or control-character name is
    // refused, a good one is kept trimmed and listed.
    for bad in ["", "  ", "bell\u{7}"] {
        let (st, v) = s
            .call(
                Method::PATCH,
                "/v1/sessions/current",
                Some(&second),
                Some(json!({"device_name": bad})),
            )
            .await;
        assert_eq!(
            (st, v["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("bad_request")),
            "{bad:?}: {v}"
        );
    }
    let (st, _) = s
        .call(
            Method::PATCH,
            "/v1/sessions/current",
            Some(&second),
            Some(json!({"device_name": " Alice's phone "})),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (_, renamed) = s.get("/v1/sessions", &alice.token).await;
    let names: Vec<(bool, &str)> = renamed
        .as_array()
        .unwrap()
        .iter()
        .map(|x| (x["current"] == true, x["device_name"].as_str().unwrap()))
        .collect();
    assert!(names.contains(&(false, "Alice's phone")), "{names:?}");
    assert!(!names.contains(&(true, "Alice's phone")), "{names:?}");
    // Revoke the first session from the second device: its token stops working.
    let first_id = list.iter().find(|x| x["current"] == false).unwrap()["session_id"]
        .as_str()
        .unwrap()
        .to_string();
    // Another device's session: a step-up first (refused without one).
    let path = format!("/v1/sessions/{first_id}");
    let (st, v) = s.call(Method::DELETE, &path, Some(&second), None).await;
    assert_eq!(
        (st, v["code"].as_str()),
        (StatusCode::FORBIDDEN, Some("step_up_required"))
    );
    let proof = s
        .step_up(
            &second,
            alice.account_id,
            "correct horse battery",
            &alice.secret_key,
            "revoke_session",
            None,
        )
        .await
        .unwrap();
    let (st, _) = s
        .call_stepped(Method::DELETE, &path, Some(&second), Some(&proof), None)
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    let (st, body) = s.get("/v1/account", &alice.token).await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "unauthorized");
    assert!(
        s.unauthorized()
            .await
            .iter()
            .any(|(ip, r)| ip == "127.0.0.1" && r == "revoked session's token")
    );
    // Sign out of the current session.
    let (st, _) = s
        .call(Method::DELETE, "/v1/sessions/current", Some(&second), None)
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(
        s.get("/v1/account", &second).await.0,
        StatusCode::UNAUTHORIZED
    );
    // Registering the same username again is refused.
    let (st, body) = s
        .post(
            "/v1/accounts/register/finish",
            json!({
        "account_id": uuid::Uuid::new_v4(), "username": "ALICE", "registration_upload": "AAAA",
        "kdf_setup": "AA", "keyset": "AA", "key_bundle": "AA"}),
        )
        .await;
    assert_eq!(st, StatusCode::BAD_REQUEST, "{body}"); // the OPAQUE upload is malformed first
    s.server.stop().await;
}

async fn wrong_credentials_are_refused_and_recorded(b: Backend) {
    let s = TestServer::start(b).await;
    let alice = s.register("alice", "right password").await;
    let (st, body) = s
        .login("alice", "wrong password", &alice.secret_key)
        .await
        .unwrap_err();
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert_eq!(body["code"], "unauthorized");
    let other_key = krypt7_crypto::secret_key::SecretKey::generate().unwrap();
    assert_eq!(
        s.login("alice", "right password", &other_key)
            .await
            .unwrap_err()
            .0,
        StatusCode::UNAUTHORIZED
    );
    // A replayed sign-in (the same login id twice) is refused.
    let rec = s.unauthorized().await;
    assert!(
        rec.iter()
            .filter(|(ip, r)| ip == "127.0.0.1" && r == "failed sign-in")
            .count()
            >= 2,
        "{rec:?}"
    );
    let (st, _) = s
        .post(
            "/v1/sessions/login/finish",
            json!({
        "login_id": uuid::Uuid::new_v4(), "credential_finalization": "AAAA", "device_name": "x"}),
        )
        .await;
    assert_eq!(st, StatusCode::UNAUTHORIZED);
    assert!(
        s.unauthorized()
            .await
            .iter()
            .any(|(_, r)| r == "unknown sign-in")
    );
    s.server.stop().await;
}

async fn unknown_users_get_stable_fake_answers(b: Backend) {
    let s = TestServer::start(b).await;
    s.register("alice", "pw-alice-123").await;
    let ask = |user: &'static str| {
        let s = &s;
        async move {
            let sk = krypt7_crypto::secret_key::SecretKey::generate().unwrap();
            let (_, req) =
                krypt7_crypto::opaque::Login::start(&krypt7_crypto::Password::new("x"), &sk)
                    .unwrap();
            let (st, v) = s
                .post(
                    "/v1/sessions/login/start",
                    json!({"username": user, "credential_request": krypt7_protocol::B64(req)}),
                )
                .await;
            assert_eq!(st, StatusCode::OK);
            v
        }
    };
    let (a, b2) = (ask("nobody").await, ask("nobody").await);
    let real = ask("alice").await;
    assert_eq!(a["account_id"], b2["account_id"]);
    assert_eq!(a["kdf_setup"], b2["kdf_setup"]);
    assert_ne!(a["account_id"], real["account_id"]);
    // Same shape as a real answer.
    let len = |v: &serde_json::Value, k: &str| v[k].as_str().unwrap().len();
    assert_eq!(len(&a, "kdf_setup"), len(&real, "kdf_setup"));
    assert_eq!(
        len(&a, "credential_response"),
        len(&real, "credential_response")
    );
    s.server.stop().await;
}

async fn sign_in_is_rate_limited(b: Backend) {
    let s = TestServer::start(b).await;
    let mut limited = None;
    for i in 0..40 {
        let resp = s
            .client()
            .post(format!("{}/v1/sessions/login/start", s.base))
            .json(&json!({"username": "victim", "credential_request": "AAAA"}))
            .send()
            .await
            .unwrap();
        if resp.status() == StatusCode::TOO_MANY_REQUESTS {
            let retry: u64 = resp.headers()["retry-after"]
                .to_str()
                .unwrap()
                .parse()
                .unwrap();
            assert!(retry >= 1);
            let body: serde_json::Value = resp.json().await.unwrap();
            assert_eq!(body["code"], "rate_limited");
            limited = Some(i);
            break;
        }
    }
    // 10 per minute per account name.
    assert_eq!(limited, Some(10));
    s.server.stop().await;
}

async fn account_fields_change_and_old_values_are_gone(b: Backend) {
    let s = TestServer::start(b).await;
    let alice = s.register("alice", "pw-alice-123").await;
    let bob = s.register("bob", "pw-bob-123456").await;
    // Email and phone are sealed under the server key, so the check opens every sealed value
    // the storage holds (with the key, as only the server can) and looks at what they are;
    // usernames are looked for by their blind index.
    let keys =
        krypt7_server::at_rest::AtRest::load(None, &s.dir.path().join("data/server-keys")).unwrap();
    let index = |name: &str| -> String {
        keys.index(name)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    let held = || {
        let (s, keys) = (&s, &keys);
        let ids = [alice.account_id, bob.account_id];
        async move {
            let mut held = std::collections::BTreeSet::new();
            // In SQLite's pages a value runs on into the next column's bytes: its prefixes.
            for v in crate::breach::sealed_values(s).await {
                for n in 20..=v.len() {
                    for (purpose, id) in ["accounts.email", "accounts.phone"]
                        .iter()
                        .flat_map(|p| ids.iter().map(move |i| (*p, i)))
                    {
                        let text = format!("enc1:{}", &v[..n]);
                        if let Ok(plain) = keys.open_text(purpose, id.as_bytes(), &text) {
                            held.insert(plain);
                        }
                    }
                }
            }
            held
        }
    };
    assert_eq!(
        held().await,
        ["alice@example.org", "bob@example.org"]
            .map(String::from)
            .into()
    );
    let patch = |body| {
        let (s, alice) = (&s, &alice);
        async move {
            let proof = s.proof(alice, "update_account").await;
            s.call_stepped(
                Method::PATCH,
                "/v1/account",
                Some(&alice.token),
                Some(&proof),
                Some(body),
            )
            .await
        }
    };
    let (st, v) =
        patch(json!({"username": "carol", "email": "new@example.org", "phone": "+33612345678"}))
            .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["username"], "carol");
    assert_eq!(v["phone"], "+33612345678");
    let (st, v) = patch(json!({"username": "bob"})).await;
    assert_eq!(
        (st, v["code"].as_str()),
        (StatusCode::CONFLICT, Some("username_taken"))
    );
    let (st, _) = patch(json!({"phone": "12"})).await;
    assert_eq!(st, StatusCode::BAD_REQUEST);
    let (st, v) = patch(json!({"email": "", "phone": "+4915112345678"})).await;
    assert_eq!(
        (st, v["email"].clone()),
        (StatusCode::OK, serde_json::Value::Null)
    );
    assert_eq!(v["phone"], "+4915112345678");
    // The old values exist nowhere in the database (files and WAL, or a dump): not alice's
    // old email, nor new@example.org, nor +33612345678 (sealed), nor alice's name (its blind
    // index); bob's email, carol's index and her current phone are where the check looks.
    let stored = crate::breach::database_text(&s).await;
    assert_eq!(
        held().await,
        ["bob@example.org", "+4915112345678"]
            .map(String::from)
            .into(),
        "only the current values are stored (sealed)"
    );
    assert!(
        !stored.contains(&index("alice")),
        "alice's index is still stored"
    );
    assert!(stored.contains(&index("carol")));
    for clear in [
        "alice@example.org",
        "new@example.org",
        "+33612345678",
        "+4915112345678",
    ] {
        assert!(!stored.contains(clear), "{clear} is stored in clear");
    }
    // Signing in goes by the new name.
    assert!(
        s.login("carol", "pw-alice-123", &alice.secret_key)
            .await
            .is_ok()
    );
    assert!(
        s.login("alice", "pw-alice-123", &alice.secret_key)
            .await
            .is_err()
    );
    s.server.stop().await;
}

async fn directory_serves_key_bundles(b: Backend) {
    let s = TestServer::start(b).await;
    let alice = s.register("alice", "pw-alice-123").await;
    let bob = s.register("bob", "pw-bob-123456").await;
    let (st, v) = s.get("/v1/directory/alice", &bob.token).await;
    assert_eq!(st, StatusCode::OK);
    let bundle: krypt7_protocol::B64 = serde_json::from_value(v["key_bundle"].clone()).unwrap();
    let keys =
        krypt7_crypto::pk::verify_key_bundle(&bundle.0, alice.account_id.as_bytes()).unwrap();
    assert_eq!(keys.fingerprint().to_string().len(), 35);
    assert_eq!(
        s.get("/v1/directory/nobody", &bob.token).await.0,
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        s.call(Method::GET, "/v1/directory/alice", None, None)
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    s.server.stop().await;
}

/// A session unused for the idle limit ends, and so does one older than the absolute limit
/// however much it is used; an ended session's token gets `session_expired`, and the
/// session is no longer listed.
async fn sessions_expire_when_idle_and_at_their_limit(b: Backend) {
    let (idle, max) = (1000, 5000);
    let s = TestServer::start_with(b, |c| {
        c.session_idle_secs = idle;
        c.session_max_secs = max;
    })
    .await;
    let clock = s.server.state.clock.clone();
    let alice = s.register("alice", "correct horse battery").await;
    let other = s
        .login("alice", "correct horse battery", &alice.secret_key)
        .await
        .unwrap();
    // Used every 900 s, `other` stays; `alice.token`, unused, ends at 1000 s.
    clock.advance(900);
    assert_eq!(s.get("/v1/sessions", &other).await.0, StatusCode::OK);
    clock.advance(100);
    let (st, e) = s.get("/v1/account", &alice.token).await;
    assert_eq!(
        (st, e["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("session_expired"))
    );
    let (_, list) = s.get("/v1/sessions", &other).await;
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    // Used all along, `other` still ends at the absolute limit.
    for _ in 0..4 {
        assert_eq!(s.get("/v1/account", &other).await.0, StatusCode::OK);
        clock.advance(900);
    }
    assert_eq!(s.get("/v1/account", &other).await.0, StatusCode::OK);
    // 4600 s old, used just now: at 5000 s it ends, 400 s after its last use.
    clock.advance(max - 1000 - 4 * 900);
    let (st, e) = s.get("/v1/account", &other).await;
    assert_eq!(
        (st, e["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("session_expired"))
    );
    s.server.stop().await;
}

/// A password change replaces the OPAQUE record, the sealed setup and the keyset wrap at
/// once: the old password no longer signs in, the new one does, other sessions go on and
/// see the change counted in their feed, and the old setup and wrap are gone from the
/// database (files and WAL, or a dump).
async fn a_password_change_replaces_the_old_one_everywhere(b: Backend) {
    let s = TestServer::start(b).await;
    let alice = s.register("alice", "pw-alice-123").await;
    let other = s
        .login("alice", "pw-alice-123", &alice.secret_key)
        .await
        .unwrap();
    let keys = |token| {
        let s = &s;
        async move {
            let v = s.get("/v1/account/keys", token).await.1;
            let get = |k: &str| {
                krypt7_protocol::B64::decode(v[k].as_str().unwrap())
                    .unwrap()
                    .0
            };
            (get("kdf_setup"), get("keyset"), v["credentials"].as_i64())
        }
    };
    let (old_setup, old_keyset, count) = keys(&alice.token).await;
    assert_eq!(count, Some(0));
    assert!(crate::breach::database_holds(&s, &old_keyset).await);
    let proof = s.proof(&alice, "change_password").await;
    let body = s.password_change(&alice, &proof, "pw-alice-NEW-456").await;
    let (st, v) = s
        .call_stepped(
            Method::PUT,
            "/v1/account/password",
            Some(&alice.token),
            Some(&proof),
            Some(body.clone()),
        )
        .await;
    assert_eq!(
        (st, v["credentials"].as_i64()),
        (StatusCode::OK, Some(1)),
        "{v}"
    );
    let (new_setup, new_keyset, count) = keys(&other).await;
    assert_eq!(count, Some(1));
    assert_eq!(
        (new_setup.clone(), new_keyset.clone()),
        (
            krypt7_protocol::B64::decode(body["kdf_setup"].as_str().unwrap())
                .unwrap()
                .0,
            krypt7_protocol::B64::decode(body["keyset"].as_str().unwrap())
                .unwrap()
                .0
        )
    );
    let (_, feed) = s.get("/v1/changes?since=0", &other).await;
    assert_eq!(feed["credentials"], 1, "{feed}");
    for (what, old) in [("setup", &old_setup), ("keyset wrap", &old_keyset)] {
        assert!(
            !crate::breach::database_holds(&s, old).await,
            "the old {what} is still stored"
        );
    }
    assert!(crate::breach::database_holds(&s, &new_keyset).await);
    assert!(
        s.login("alice", "pw-alice-123", &alice.secret_key)
            .await
            .is_err()
    );
    assert!(
        s.login("alice", "pw-alice-NEW-456", &alice.secret_key)
            .await
            .is_ok()
    );
    s.server.stop().await;
}
