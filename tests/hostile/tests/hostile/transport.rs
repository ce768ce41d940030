//! Classes 9 (format downgrade) and 12 (TLS).

use super::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn class_09_format_downgrades_are_refused() {
    let (_server, p) = start().await;
    let Alice {
        mut a,
        mut b,
        items: [x, _, _],
        ..
    } = alice(&p).await;
    change(&mut a, x, "bank-secret-2").await;
    // Byte 0: format version; byte 1: algorithm; the last 16 bytes: the tag.
    type Downgrade = fn(&mut Vec<u8>);
    let downgrades: [(&str, Downgrade); 5] = [
        ("an older format version", |e| e[0] = 0),
        ("a newer format version", |e| e[0] = 2),
        ("an unknown algorithm", |e| e[1] = 0x7f),
        ("a shorter tag", |e| {
            e.truncate(e.len() - 4);
        }),
        ("no tag at all", |e| {
            e.truncate(e.len() - 16);
        }),
    ];
    for (what, f) in downgrades {
        // On an item, and on the vault's manifest.
        tamper_feed(&p, move |feed| {
            let mut e = b64(&entry(feed, x)["envelope"]);
            f(&mut e);
            entry(feed, x)["envelope"] = to_b64(&e);
        });
        refused(&mut b, what, "").await;
        tamper_feed(&p, move |feed| {
            let m = &mut feed["manifests"][0]["manifest"];
            let mut e = b64(m);
            f(&mut e);
            *m = to_b64(&e);
        });
        refused(&mut b, what, "manifest").await;
    }
    p.honest();
    b.sync().await.unwrap();
    assert_eq!(b.item(x).unwrap().data.fields["password"], "bank-secret-2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn class_12_bad_certificates_are_refused_before_anything_is_sent() {
    let server = Server::start().await.unwrap();
    for cert in [Cert::Expired, Cert::WrongHost, Cert::UnknownCa] {
        let p = Proxy::start(&server, cert).await.unwrap();
        let dir = tempfile::tempdir().unwrap();
        let mut c = device(&p, &dir);
        let err = c.signup("alice", PW, None, None).await.unwrap_err();
        assert!(matches!(err, ClientError::Untrusted(_)), "{cert:?}: {err}");
        assert_eq!(err.code(), "untrusted_server");
        assert!(p.seen().is_empty(), "{cert:?}: a request got through");
        assert_eq!(c.account_id().unwrap(), None);
    }
    // There is no switch to accept such a certificate: no client code can turn checking off.
    for dir in [
        "../../crates/krypt7-client/src",
        "../../crates/krypt7-cli/src",
        "../../src-tauri/src",
    ] {
        for needle in [
            "danger_accept_invalid",
            "dangerous()",
            "ServerCertVerifier",
            "tls_built_in_root_certs(true)",
        ] {
            let hits =
                krypt7_hostile::files_containing(std::path::Path::new(dir), needle.as_bytes());
            assert!(hits.is_empty(), "{needle} in {hits:?}");
        }
    }
    // The same server through a proxy with a good certificate works.
    let p = Proxy::start(&server, Cert::Good).await.unwrap();
    let dir = tempfile::tempdir().unwrap();
    device(&p, &dir)
        .signup("alice", PW, None, None)
        .await
        .unwrap();
}
