//! The server key behind the server's own encryption at rest: given in the environment
//! rather than the data directory, rotated by putting a new key first and restarting (each
//! start seals what is not under the current key yet), after which the old key alone opens
//! nothing (docs/server.md, "Encryption at rest").

use krypt7_server::at_rest::AtRest;
use reqwest::StatusCode;
use serde_json::Value;

use crate::{
    both,
    harness::{Backend, TestServer},
};

both!(the_server_key_rotates_and_the_old_one_opens_nothing_after);

/// What the owner is shown of the account and its attempts.
async fn shown(s: &TestServer, token: &str) -> (Value, Value) {
    let (st, info) = s.get("/v1/account", token).await;
    assert_eq!(st, StatusCode::OK, "{info}");
    let (st, attempts) = s.get("/v1/account/attempts", token).await;
    assert_eq!(st, StatusCode::OK, "{attempts}");
    (info, attempts)
}

async fn the_server_key_rotates_and_the_old_one_opens_nothing_after(b: Backend) {
    let old = AtRest::new_key_line(1).unwrap();
    let new = AtRest::new_key_line(2).unwrap();
    let behind_proxy = |c: &mut krypt7_server::Config, keys: String| {
        c.server_keys = Some(keys);
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.client_ip_header = Some("X-Forwarded-For".into());
    };
    let s = TestServer::start_with(b, |c| behind_proxy(c, old.clone())).await;
    let a = s.register("rotating", "pw-rotating-1").await;
    assert!(
        s.forwarded_for("192.0.2.44")
            .login("rotating", "not the password", &a.secret_key)
            .await
            .is_err()
    );
    let before = shown(&s, &a.token).await;
    assert_eq!(before.1[0]["ip"], "192.0.2.44");
    // Keys from the environment: nothing in the data directory.
    assert!(!s.dir.path().join("data/server-keys").exists());

    // The new key first, the old one still there: the start seals everything anew.
    let (dir, data, db_url) = s.stop_for_restart().await;
    let both_keys = format!("{new}\n{old}");
    let s = TestServer::restart_with(dir, data, db_url, |c| behind_proxy(c, both_keys)).await;
    assert_eq!(shown(&s, &a.token).await, before);

    // The old key dropped: all is there, sign-in by name included.
    let (dir, data, db_url) = s.stop_for_restart().await;
    let s = TestServer::restart_with(dir, data, db_url, |c| behind_proxy(c, new.clone())).await;
    assert_eq!(shown(&s, &a.token).await, before);
    assert!(
        s.login("rotating", "pw-rotating-1", &a.secret_key)
            .await
            .is_ok()
    );

    // The old key alone opens nothing any more: the server refuses to start on it, and says
    // why.
    let (dir, data, db_url) = s.stop_for_restart().await;
    let config = TestServer::restart_config(data.clone(), db_url.clone(), |c| {
        behind_proxy(c, old.clone())
    });
    let refused = krypt7_server::start(config, krypt7_server::clock::Clock::default())
        .await
        .err()
        .expect("a server with only the old key started");
    assert!(
        format!("{refused:#}").contains("server key 2, which is not configured"),
        "{refused:#}"
    );
    // With the new key it serves again.
    let s = TestServer::restart_with(dir, data, db_url, |c| behind_proxy(c, new)).await;
    assert_eq!(shown(&s, &a.token).await, before);
    s.server.stop().await;
}
