//! Step-up: every dangerous action needs a fresh proof of the password made for it by the
//! same session, used once (docs/server.md, "Step-up"). For each action: refused with no
//! proof, with a proof made for another action, by another session, older than five
//! minutes, or already used; accepted with its own. A wrong password in the round is
//! refused and recorded against the account.

use krypt7_protocol::B64;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::{
    both,
    harness::{Backend, TestServer},
};

both!(
    dangerous_actions_need_their_own_fresh_step_up,
    a_wrong_password_fails_the_step_up_and_is_recorded
);

async fn dangerous_actions_need_their_own_fresh_step_up(b: Backend) {
    // Some fifty rounds in a minute: the per-account limit is not what this test is about.
    let s = TestServer::start_with(b, |c| {
        c.attempts_per_account_per_minute = 1000;
        c.attempts_per_ip_per_minute = 1000;
    })
    .await;
    let clock = s.server.state.clock.clone();
    let a = s.register("alice", "pw-alice-123").await;
    let other = s
        .login("alice", "pw-alice-123", &a.secret_key)
        .await
        .unwrap();
    let sessions = s.get("/v1/sessions", &other).await.1;
    let other_id = sessions
        .as_array()
        .unwrap()
        .iter()
        .find(|x| x["current"] == true)
        .unwrap()["session_id"]
        .as_str()
        .unwrap()
        .to_string();
    let proof_by = |token: String, action: &'static str| {
        let (s, a) = (&s, &a);
        async move {
            s.step_up(
                &token,
                a.account_id,
                &a.password,
                &a.secret_key,
                action,
                None,
            )
            .await
            .unwrap()
        }
    };
    // The password change's first request (the new password's OPAQUE registration) needs
    // the proof too, and leaves it for the second.
    // So do the Secret Key change's first requests (its registration, its staged items).
    let start = json!({"registration_request": B64(vec![0; 32])});
    for (m, path, body) in [
        (Method::POST, "/v1/account/password/start", start.clone()),
        (Method::POST, "/v1/account/secret-key/start", start.clone()),
        (
            Method::PUT,
            "/v1/account/secret-key/items",
            json!({"items": []}),
        ),
    ] {
        for proof in [
            None,
            Some(proof_by(a.token.clone(), "update_account").await),
        ] {
            let (st, v) = s
                .call_stepped(
                    m.clone(),
                    path,
                    Some(&a.token),
                    proof.as_deref(),
                    Some(body.clone()),
                )
                .await;
            assert_eq!(
                (st, v["code"].as_str()),
                (StatusCode::FORBIDDEN, Some("step_up_required")),
                "{path}: {v}"
            );
        }
    }
    let proof = proof_by(a.token.clone(), "change_password").await;
    // The same password registered again, so later rounds still prove it.
    let new_password = s.password_change(&a, &proof, &a.password).await;
    // A Secret Key change of an account that holds no vault yet: the same record again.
    let mut new_secret_key = new_password.clone();
    new_secret_key["vaults"] = json!([]);
    // (action, request, status once accepted); the account's deletion comes last.
    let actions: Vec<(&str, Method, String, Option<Value>, StatusCode)> = vec![
        (
            "change_password",
            Method::PUT,
            "/v1/account/password".into(),
            Some(new_password),
            StatusCode::OK,
        ),
        (
            "change_secret_key",
            Method::PUT,
            "/v1/account/secret-key".into(),
            Some(new_secret_key),
            StatusCode::OK,
        ),
        (
            "update_account",
            Method::PATCH,
            "/v1/account".into(),
            Some(json!({"phone": "+33612345678"})),
            StatusCode::OK,
        ),
        (
            "set_up_sms",
            Method::POST,
            "/v1/account/sms".into(),
            None,
            StatusCode::ACCEPTED,
        ),
        (
            "disable_sms",
            Method::POST,
            "/v1/account/sms/disable".into(),
            None,
            StatusCode::NO_CONTENT,
        ),
        (
            "set_up_totp",
            Method::POST,
            "/v1/account/totp".into(),
            None,
            StatusCode::OK,
        ),
        // Past the step-up, the authenticator is not on: refused for that reason only.
        (
            "disable_totp",
            Method::POST,
            "/v1/account/totp/disable".into(),
            None,
            StatusCode::BAD_REQUEST,
        ),
        (
            "revoke_session",
            Method::DELETE,
            format!("/v1/sessions/{other_id}"),
            None,
            StatusCode::NO_CONTENT,
        ),
        (
            "delete_account",
            Method::DELETE,
            "/v1/account".into(),
            Some(json!({"confirm_username": "alice"})),
            StatusCode::ACCEPTED,
        ),
    ];
    let call = |m: &Method, path: &str, proof: Option<&str>, body: &Option<Value>| {
        let (m, path, proof, body) = (
            m.clone(),
            path.to_string(),
            proof.map(str::to_string),
            body.clone(),
        );
        let (s, token) = (&s, &a.token);
        async move {
            s.call_stepped(m, path, Some(token), proof.as_deref(), body)
                .await
        }
    };
    let refused = |(st, v): (StatusCode, Value), what: &str, action: &str| {
        assert_eq!(
            (st, v["code"].as_str()),
            (StatusCode::FORBIDDEN, Some("step_up_required")),
            "{action} {what}: {v}"
        );
    };
    for (action, m, path, body, ok) in &actions {
        refused(call(m, path, None, body).await, "without a proof", action);
        let garbage = uuid::Uuid::new_v4().to_string();
        refused(
            call(m, path, Some(&garbage), body).await,
            "with an unknown proof",
            action,
        );
        let wrong = if *action == "update_account" {
            "delete_account"
        } else {
            "update_account"
        };
        let for_other_action = proof_by(a.token.clone(), wrong).await;
        refused(
            call(m, path, Some(&for_other_action), body).await,
            "with another action's proof",
            action,
        );
        let another = s
            .login("alice", "pw-alice-123", &a.secret_key)
            .await
            .unwrap();
        let by_other_session = proof_by(another, action).await;
        refused(
            call(m, path, Some(&by_other_session), body).await,
            "with another session's proof",
            action,
        );
        let stale = proof_by(a.token.clone(), action).await;
        clock.advance(301);
        refused(
            call(m, path, Some(&stale), body).await,
            "with a proof older than 5 minutes",
            action,
        );
        let fresh = proof_by(a.token.clone(), action).await;
        let (st, v) = call(m, path, Some(&fresh), body).await;
        assert_eq!(st, *ok, "{action} with its own fresh proof: {v}");
        if *action != "delete_account" {
            refused(
                call(m, path, Some(&fresh), body).await,
                "with a used proof",
                action,
            );
        }
    }
    s.server.stop().await;
}

async fn a_wrong_password_fails_the_step_up_and_is_recorded(b: Backend) {
    let s = TestServer::start(b).await;
    let a = s.register("alice", "pw-alice-123").await;
    let (st, v) = s
        .step_up(
            &a.token,
            a.account_id,
            "not the password",
            &a.secret_key,
            "delete_account",
            None,
        )
        .await
        .unwrap_err();
    assert_eq!(st, StatusCode::FORBIDDEN, "{v}");
    assert!(
        s.unauthorized()
            .await
            .iter()
            .any(|(ip, r)| ip == "127.0.0.1" && r == "wrong password (step-up)")
    );
    // The session itself is untouched.
    assert_eq!(s.get("/v1/account", &a.token).await.0, StatusCode::OK);
    s.server.stop().await;
}
