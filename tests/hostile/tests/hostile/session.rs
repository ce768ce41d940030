//! Classes 1 (KDF downgrade), 11 (push-channel forgery) and 14 (sign-in).

use super::*;

fn rewrite_login_start(p: &Proxy, f: impl Fn(&mut Vec<u8>) + Send + 'static) {
    p.tamper(move |s, r| {
        if s.path == "/v1/sessions/login/start" && r.status == 200 {
            let mut v = r.json();
            let mut setup = b64(&v["kdf_setup"]);
            f(&mut setup);
            v["kdf_setup"] = to_b64(&setup);
            r.set_json(&v);
        }
    });
}

/// No request went past the first step of a sign-in: no OPAQUE finalization, no keys.
fn stopped_at_login_start(p: &Proxy) {
    let paths: Vec<String> = p.seen().into_iter().map(|s| s.path).collect();
    assert_eq!(paths, ["/v1/sessions/login/start"], "{paths:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn class_01_kdf_downgrade_is_refused() {
    let (_server, p) = start().await;
    let Alice { sk, .. } = alice(&p).await;
    let dc = tempfile::tempdir().unwrap();
    let mut c = device(&p, &dc);
    // The sealed setup: version, algorithm, m (KiB), t, p as big-endian u32 at 2, 6, 10.
    for (what, at, value) in [
        ("8 MiB of memory", 2, 8 * 1024u32),
        ("one pass", 6, 1),
        ("one lane", 10, 1),
    ] {
        rewrite_login_start(&p, move |setup| {
            setup[at..at + 4].copy_from_slice(&value.to_be_bytes())
        });
        p.clear();
        let err = c.login("alice", PW, &sk, None).await.unwrap_err();
        assert!(
            matches!(
                err,
                ClientError::Crypto(krypt7_crypto::CryptoError::WeakKdfParams { .. })
            ),
            "{what}: {err}"
        );
        assert!(err.to_string().contains("weaker than this client allows"));
        stopped_at_login_start(&p);
    }
    // Parameters at the minimum but the set otherwise altered (another salt): its MAC,
    // keyed by the Secret Key, fails, so the server cannot choose the set at all.
    rewrite_login_start(&p, |setup| setup[20] ^= 1);
    p.clear();
    let err = c.login("alice", PW, &sk, None).await.unwrap_err();
    assert!(matches!(err, ClientError::WrongCredentials), "{err}");
    stopped_at_login_start(&p);
    assert_eq!(c.account_id().unwrap(), None, "nothing was set up");

    p.honest();
    c.login("alice", PW, &sk, None).await.unwrap();
    assert_eq!(c.items().unwrap().len(), 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn class_11_forged_push_events_cause_at_most_a_resync() {
    let (_server, p) = start().await;
    let Alice { mut b, .. } = alice(&p).await;
    let (before, cursor) = (snapshot(&b), b.cursor().unwrap());
    p.clear();
    p.forge_events(&[
        "event: changes\ndata: {\"cursor\":999999999}",
        "event: changes\ndata: {\"cursor\":-5}",
        "event: changes\ndata: not json at all",
        "event: keys\ndata: {\"escrow\":\"now\"}",
        &format!("event: changes\ndata: {{\"cursor\":{cursor}}}"),
    ]);
    let mut events = b.events().await.unwrap();
    let mut heard = Vec::new();
    while let Some(c) = events.next().await.unwrap() {
        heard.push(c);
    }
    assert_eq!(heard, [999_999_999, cursor], "well-formed events only");
    for _ in &heard {
        let r = b.sync().await.unwrap();
        assert_eq!((r.pulled, r.pushed), (0, 0));
    }
    assert_eq!(snapshot(&b), before);
    assert_eq!(
        b.cursor().unwrap(),
        cursor,
        "an event never moves the sync position"
    );
    // Nothing an event said was sent anywhere: only feed reads followed it.
    assert!(
        p.seen()
            .iter()
            .filter(|s| !s.path.starts_with("/v1/events"))
            .all(is_feed)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn class_14_sign_in_reveals_no_password_and_a_lying_server_gets_no_keys() {
    let (server, p) = start().await;
    let Alice { sk, .. } = alice(&p).await;
    // Sign-up and two sign-ins went through the proxy: neither the password nor the
    // Secret Key crossed the wire in any form.
    let human = sk.to_human();
    nothing_sent(
        &p,
        &[
            PW.as_bytes(),
            human.as_bytes(),
            human.replace('-', "").as_bytes(),
            sk.expose_secret(),
        ],
    );
    // Nothing replayable: each sign-in's first message is fresh (OPAQUE blinds it).
    let starts: Vec<Value> = p
        .seen()
        .iter()
        .filter(|s| s.path == "/v1/sessions/login/start")
        .map(|s| s.json().unwrap()["credential_request"].clone())
        .collect();
    assert_eq!(starts.len(), 2);
    assert_ne!(starts[0], starts[1]);
    assert!(krypt7_hostile::files_containing(&server.data_dir(), PW.as_bytes()).is_empty());

    // A server that says yes to a wrong password: whatever it answers after the first
    // step, the device cannot finish OPAQUE, so it sends nothing more and gets no keys.
    p.tamper(|s, r| {
        if s.path == "/v1/sessions/login/finish" {
            r.status = 200;
            r.set_json(&json!({"status": "signed_in", "session_id": Uuid::new_v4(),
                "account_id": Uuid::nil(), "token": "forged"}));
        }
    });
    let dc = tempfile::tempdir().unwrap();
    let mut c = device(&p, &dc);
    p.clear();
    let err = c
        .login("alice", "not alice's password", &sk, None)
        .await
        .unwrap_err();
    assert!(matches!(err, ClientError::WrongCredentials), "{err}");
    stopped_at_login_start(&p);
    assert_eq!(c.account_id().unwrap(), None);
    assert!(c.unlock("not alice's password", &sk).is_err());
}
