//! schemathesis (PyPI) generates requests from `/v1/openapi.json` and sends them to a real
//! server with a real session: none may get a 5xx. `cargo xtask test` installs it in
//! `<target>/python-venv`; `KRYPT7_SCHEMATHESIS` may point elsewhere.

use crate::{
    both,
    harness::{Backend, TestServer},
};

both!(schemathesis_finds_no_server_error);

fn schemathesis() -> std::path::PathBuf {
    if let Some(p) = std::env::var_os("KRYPT7_SCHEMATHESIS") {
        return p.into();
    }
    // <target>/debug/deps/server-… → <target>/python-venv/bin/schemathesis
    let exe = std::env::current_exe().unwrap();
    let target = exe.ancestors().nth(3).unwrap();
    let p = target.join("python-venv/bin/schemathesis");
    assert!(
        p.is_file(),
        "schemathesis is not installed at {}: run `cargo xtask test` once (it installs it)",
        p.display()
    );
    p
}

async fn schemathesis_finds_no_server_error(b: Backend) {
    let bin = schemathesis();
    let s = TestServer::start(b).await;
    let a = s.register("alice", "pw-alice-123").await;
    let ca = s.dir.path().join("data/ca.pem");
    let url = format!("{}/v1/openapi.json", s.base);
    let out = tokio::process::Command::new(bin)
        .args([
            "run",
            &url,
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "25",
            "--seed",
            "7",
            "--workers",
            "2",
        ])
        .args(["--header", &format!("Authorization: Bearer {}", a.token)])
        // Signing out would end the session the rest of the run uses.
        .args(["--exclude-path", "/v1/sessions/current"])
        // A request line the HTTP parser rejects gets a 400 and the connection is closed at
        // once; a client still sending that request's body then sees the connection drop.
        // That race is the client's, not a server error: let schemathesis retry it.
        .args(["--request-retries", "3"])
        .arg("--tls-verify")
        .arg(&ca)
        .env("NO_COLOR", "1")
        .output()
        .await
        .unwrap();
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "schemathesis found failures:\n{text}");
    assert!(text.contains("passed"), "schemathesis ran no test:\n{text}");
    // And the server is still serving.
    assert_eq!(
        s.call(reqwest::Method::GET, "/v1/health", None, None)
            .await
            .0,
        reqwest::StatusCode::OK
    );
    s.server.stop().await;
}
