use krypt7_protocol::{LoginFinishResponse, SecondFactor};
use reqwest::StatusCode;
use serde_json::json;

use crate::{
    both,
    harness::{Backend, TestServer},
};

both!(
    totp_second_factor_with_replay_protection,
    sms_second_factor_through_the_log,
    sms_through_an_http_gateway
);

pub fn totp_for(secret_b32: &str) -> totp_rs::Totp {
    let secret = totp_rs::Secret::try_from_base32(secret_b32).unwrap();
    totp_rs::Builder::new()
        .with_secret(secret.to_vec())
        .build()
        .unwrap()
}

async fn expect_second_factor(
    s: &TestServer,
    u: &crate::harness::User,
    want: SecondFactor,
) -> uuid::Uuid {
    match s
        .sign_in("alice", "pw-alice-123", &u.secret_key)
        .await
        .unwrap()
    {
        LoginFinishResponse::SecondFactorRequired {
            login_id,
            second_factor,
        } => {
            assert_eq!(second_factor, want);
            login_id
        }
        other => panic!("expected a second factor, got {other:?}"),
    }
}

async fn give_code(
    s: &TestServer,
    login_id: uuid::Uuid,
    code: &str,
) -> (StatusCode, serde_json::Value) {
    s.post(
        "/v1/sessions/login/second-factor",
        json!({"login_id": login_id, "code": code}),
    )
    .await
}

async fn totp_second_factor_with_replay_protection(b: Backend) {
    let s = TestServer::start(b).await;
    let a = s.register("alice", "pw-alice-123").await;
    let clock = s.server.state.clock.clone();
    let now = || clock.now() as u64;
    let proof = s.proof(&a, "set_up_totp").await;
    let (st, setup) = s
        .call_stepped(
            reqwest::Method::POST,
            "/v1/account/totp",
            Some(&a.token),
            Some(&proof),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{setup}");
    assert!(
        setup["otpauth_url"]
            .as_str()
            .unwrap()
            .starts_with("otpauth://totp/KRYPT7:alice?")
    );
    let app = totp_for(setup["secret"].as_str().unwrap());
    // A wrong code does not enable it; the right one does.
    let (st, v) = s
        .call(
            reqwest::Method::POST,
            "/v1/account/totp/confirm",
            Some(&a.token),
            Some(json!({"code": "12345"})),
        )
        .await;
    assert_eq!(
        (st, v["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_code"))
    );
    let code0 = app.generate(now()).to_string();
    let (st, _) = s
        .call(
            reqwest::Method::POST,
            "/v1/account/totp/confirm",
            Some(&a.token),
            Some(json!({"code": code0})),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert_eq!(s.get("/v1/account", &a.token).await.1["totp_enabled"], true);

    // Sign-in now asks for the code. The code that enabled TOTP cannot be used again.
    let login = expect_second_factor(&s, &a, SecondFactor::Totp).await;
    let (st, v) = give_code(&s, login, &code0).await;
    assert_eq!(
        (st, v["code"].as_str()),
        (StatusCode::UNAUTHORIZED, Some("invalid_code"))
    );
    assert!(
        s.unauthorized()
            .await
            .iter()
            .any(|(ip, r)| ip == "127.0.0.1" && r == "bad second factor")
    );
    // Thirty seconds later, the next code works once.
    clock.advance(30);
    let code1 = app.generate(now()).to_string();
    let (st, v) = give_code(&s, login, &code1).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "signed_in");
    let token = v["token"].as_str().unwrap().to_string();
    assert_eq!(s.get("/v1/account", &token).await.0, StatusCode::OK);
    let again = expect_second_factor(&s, &a, SecondFactor::Totp).await;
    assert_eq!(
        give_code(&s, again, &code1).await.0,
        StatusCode::UNAUTHORIZED,
        "a replayed code is refused"
    );
    // Five wrong codes end the pending sign-in, even if the sixth is right.
    clock.advance(30);
    let fresh = expect_second_factor(&s, &a, SecondFactor::Totp).await;
    for _ in 0..4 {
        assert_eq!(
            give_code(&s, fresh, "000000x").await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert_eq!(
        give_code(&s, fresh, "0000000").await.0,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        give_code(&s, fresh, &app.generate(now()).to_string())
            .await
            .0,
        StatusCode::UNAUTHORIZED
    );
    // Disable with a step-up, which needs a valid code; sign-in no longer asks.
    clock.advance(30);
    let refused = s
        .step_up(
            &a.token,
            a.account_id,
            "pw-alice-123",
            &a.secret_key,
            "disable_totp",
            None,
        )
        .await;
    assert_eq!(refused.unwrap_err().0, StatusCode::FORBIDDEN, "no code");
    let proof = s
        .step_up(
            &a.token,
            a.account_id,
            "pw-alice-123",
            &a.secret_key,
            "disable_totp",
            Some(&app.generate(now()).to_string()),
        )
        .await
        .unwrap();
    let (st, _) = s
        .call_stepped(
            reqwest::Method::POST,
            "/v1/account/totp/disable",
            Some(&a.token),
            Some(&proof),
            None,
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert!(
        s.login("alice", "pw-alice-123", &a.secret_key)
            .await
            .is_ok()
    );
    s.server.stop().await;
}

fn last_sms_code(s: &TestServer) -> (String, String) {
    let log = std::fs::read_to_string(s.dir.path().join("data/sms.log")).unwrap();
    let line = log.lines().last().unwrap().to_string();
    let to = line
        .split_whitespace()
        .next()
        .unwrap()
        .trim_start_matches("to=")
        .to_string();
    let code = line
        .split_whitespace()
        .find(|w| {
            w.trim_end_matches('.').len() == 6
                && w.trim_end_matches('.').chars().all(|c| c.is_ascii_digit())
        })
        .unwrap();
    (to, code.trim_end_matches('.').to_string())
}

async fn sms_second_factor_through_the_log(b: Backend) {
    let s = TestServer::start(b).await;
    let a = s.register("alice", "pw-alice-123").await;
    let post = |path: &'static str, body: Option<serde_json::Value>| {
        s.call(reqwest::Method::POST, path, Some(&a.token), body)
    };
    // Turning SMS codes on: a step-up, and a phone number.
    let sms_on = || {
        let (s, a) = (&s, &a);
        async move {
            let proof = s.proof(a, "set_up_sms").await;
            s.call_stepped(
                reqwest::Method::POST,
                "/v1/account/sms",
                Some(&a.token),
                Some(&proof),
                None,
            )
            .await
        }
    };
    assert_eq!(post("/v1/account/sms", None).await.0, StatusCode::FORBIDDEN);
    assert_eq!(
        sms_on().await.0,
        StatusCode::BAD_REQUEST,
        "no phone number yet"
    );
    let proof = s.proof(&a, "update_account").await;
    s.call_stepped(
        reqwest::Method::PATCH,
        "/v1/account",
        Some(&a.token),
        Some(&proof),
        Some(json!({"phone": "+33612345678"})),
    )
    .await;
    assert_eq!(sms_on().await.0, StatusCode::ACCEPTED);
    let (to, code) = last_sms_code(&s);
    assert_eq!(to, "+33612345678");
    assert_eq!(
        post("/v1/account/sms/confirm", Some(json!({"code": "999999x"})))
            .await
            .0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        post("/v1/account/sms/confirm", Some(json!({"code": code})))
            .await
            .0,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        post("/v1/account/sms/confirm", Some(json!({"code": code})))
            .await
            .0,
        StatusCode::BAD_REQUEST,
        "used once"
    );

    let login = expect_second_factor(&s, &a, SecondFactor::Sms).await;
    let (_, code) = last_sms_code(&s);
    let wrong = if code == "123456" { "654321" } else { "123456" };
    assert_eq!(
        give_code(&s, login, wrong).await.0,
        StatusCode::UNAUTHORIZED
    );
    let (st, v) = give_code(&s, login, &code).await;
    assert_eq!(st, StatusCode::OK, "{v}");
    assert_eq!(
        give_code(&s, login, &code).await.0,
        StatusCode::UNAUTHORIZED,
        "the sign-in is used up"
    );
    // An expired code is refused.
    let late = expect_second_factor(&s, &a, SecondFactor::Sms).await;
    let (_, code) = last_sms_code(&s);
    s.server.state.clock.advance(601);
    assert_eq!(give_code(&s, late, &code).await.0, StatusCode::UNAUTHORIZED);
    assert!(
        s.unauthorized()
            .await
            .iter()
            .any(|(_, r)| r == "expired sign-in")
    );
    s.server.stop().await;
}

async fn sms_through_an_http_gateway(b: Backend) {
    // A stand-in for an SMS provider: records what it is sent.
    let got = std::sync::Arc::new(std::sync::Mutex::new(
        Vec::<(String, serde_json::Value)>::new(),
    ));
    let rec = got.clone();
    let app = axum::Router::new().route(
        "/send",
        axum::routing::post(
            move |headers: axum::http::HeaderMap, body: axum::Json<serde_json::Value>| {
                let rec = rec.clone();
                async move {
                    let auth = headers
                        .get("authorization")
                        .map(|v| v.to_str().unwrap().to_string())
                        .unwrap_or_default();
                    rec.lock().unwrap().push((auth, body.0));
                    axum::http::StatusCode::OK
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let s = TestServer::start_with(b, |c| {
        c.sms_gateway_url = Some(format!("http://127.0.0.1:{port}/send"));
        c.sms_gateway_token = Some("gateway-token".into());
    })
    .await;
    let a = s.register("alice", "pw-alice-123").await;
    let proof = s.proof(&a, "update_account").await;
    s.call_stepped(
        reqwest::Method::PATCH,
        "/v1/account",
        Some(&a.token),
        Some(&proof),
        Some(json!({"phone": "+4915112345678"})),
    )
    .await;
    let proof = s.proof(&a, "set_up_sms").await;
    assert_eq!(
        s.call_stepped(
            reqwest::Method::POST,
            "/v1/account/sms",
            Some(&a.token),
            Some(&proof),
            None
        )
        .await
        .0,
        StatusCode::ACCEPTED
    );
    let (auth, body) = got.lock().unwrap().last().cloned().unwrap();
    assert_eq!(auth, "Bearer gateway-token");
    assert_eq!(body["to"], "+4915112345678");
    assert!(body["text"].as_str().unwrap().contains("KRYPT7 code"));
    assert!(
        !s.dir.path().join("data/sms.log").exists(),
        "the gateway replaces the log"
    );
    s.server.stop().await;
}
