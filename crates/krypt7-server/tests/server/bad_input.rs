//! Every endpoint fed malformed, oversize and wrong-typed input: always a 4xx with a JSON
//! `{code, message}`, never a 5xx, and the server keeps serving.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::{
    both,
    harness::{Backend, TestServer},
};

both!(malformed_requests_get_json_4xx_and_the_server_survives);

async fn malformed_requests_get_json_4xx_and_the_server_survives(b: Backend) {
    let s = TestServer::start_with(b, |c| {
        c.max_body_bytes = 64 * 1024;
        c.raw_item_writes = true;
    })
    .await;
    let a = s.register("alice", "pw-alice-123").await;
    let id = uuid::Uuid::new_v4();
    let endpoints: Vec<(Method, String, bool)> = vec![
        (Method::POST, "/v1/accounts/register/start".into(), false),
        (Method::POST, "/v1/accounts/register/finish".into(), false),
        (Method::POST, "/v1/sessions/login/start".into(), false),
        (Method::POST, "/v1/sessions/login/finish".into(), false),
        (Method::PATCH, "/v1/account".into(), true),
        (Method::PUT, format!("/v1/items/{id}"), true),
        (Method::PUT, format!("/v1/vaults/{id}"), true),
        (Method::POST, format!("/v1/vaults/{id}/commit"), true),
        (
            Method::POST,
            "/v1/sessions/login/second-factor".into(),
            false,
        ),
        (Method::POST, "/v1/account/totp/confirm".into(), true),
        (Method::POST, "/v1/account/step-up/start".into(), true),
        (Method::POST, "/v1/account/step-up/finish".into(), true),
        (Method::POST, "/v1/account/sms/confirm".into(), true),
        (Method::POST, "/v1/blobs".into(), true),
        (Method::DELETE, "/v1/account".into(), true),
    ];
    let big = "A".repeat(100 * 1024);
    let bodies: Vec<(&str, String)> = vec![
        ("truncated JSON", "{\"username\": \"al".into()),
        ("not JSON", "hello".into()),
        ("array", "[1,2,3]".into()),
        ("wrong types", json!({"username": 5, "registration_request": true, "vault_id": 1, "base_revision": "x", "envelope": 3, "key_wrap": [], "login_id": "nope", "expected_version": "1", "version": {}, "manifest": null, "email": 7}).to_string()),
        ("bad base64", json!({"username": "bob", "registration_request": "***", "credential_request": "%%", "vault_id": id, "base_revision": 0, "envelope": "!!", "key_wrap": "@@", "expected_version": 0, "version": 1, "manifest": "=="}).to_string()),
        ("unknown field", json!({"username": "bob", "registration_request": "AAAA", "credential_request": "AAAA", "vault_id": id, "base_revision": 0, "envelope": "AAAA", "key_wrap": "AAAA", "expected_version": 0, "version": 1, "manifest": "AAAA", "surprise": 1}).to_string()),
        ("oversize", format!("{{\"username\": \"{big}\"}}")),
        ("empty", String::new()),
        ("deep nesting", format!("{}{}", "[".repeat(5000), "]".repeat(5000))),
    ];
    for (method, path, authed) in &endpoints {
        for (what, body) in &bodies {
            let mut rq = s
                .client()
                .request(method.clone(), format!("{}{path}", s.base))
                .header("content-type", "application/json")
                .body(body.clone());
            if *authed {
                rq = rq.bearer_auth(&a.token);
            }
            let resp = rq.send().await.unwrap();
            let status = resp.status();
            let text = resp.text().await.unwrap();
            assert!(
                status.is_client_error(),
                "{method} {path} with {what}: {status} {text}"
            );
            let v: serde_json::Value = serde_json::from_str(&text)
                .unwrap_or_else(|_| panic!("{method} {path} with {what}: not JSON: {text}"));
            assert!(
                v["code"].is_string() && v["message"].is_string(),
                "{method} {path} with {what}: {v}"
            );
            if *what == "oversize" {
                assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE, "{method} {path}");
            }
        }
        // Wrong content type.
        let mut rq = s
            .client()
            .request(method.clone(), format!("{}{path}", s.base))
            .header("content-type", "text/plain")
            .body("{}");
        if *authed {
            rq = rq.bearer_auth(&a.token);
        }
        let resp = rq.send().await.unwrap();
        assert_eq!(
            resp.status(),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "{method} {path}"
        );
    }
    // Bad path parameters and tokens.
    for (method, path) in [
        (Method::PUT, "/v1/items/not-a-uuid"),
        (Method::DELETE, "/v1/sessions/123"),
        (Method::GET, "/v1/nope"),
        (Method::GET, "/nope"),
    ] {
        let (st, v) = s
            .call(method.clone(), path, Some(&a.token), Some(json!({})))
            .await;
        assert!(
            st.is_client_error() && v["code"].is_string(),
            "{method} {path}: {st} {v}"
        );
    }
    for token in ["", "garbage", "Bearer", &"x".repeat(5000)] {
        let (st, v) = s.call(Method::GET, "/v1/account", Some(token), None).await;
        assert_eq!(st, StatusCode::UNAUTHORIZED, "{v}");
    }
    let (st, v) = s
        .call(Method::DELETE, "/v1/account/keys", Some(&a.token), None)
        .await;
    assert_eq!(
        (st, v["code"].as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, Some("method_not_allowed"))
    );
    // Still serving, data intact.
    let (st, _) = s.call(Method::GET, "/v1/health", None, None).await;
    assert_eq!(st, StatusCode::OK);
    assert_eq!(s.get("/v1/account", &a.token).await.0, StatusCode::OK);
    s.server.stop().await;
}
