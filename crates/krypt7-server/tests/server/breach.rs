//! Breach drill: what a thief of the server's storage would find. Items whose plaintext
//! holds canary strings are stored through the real client crypto; neither the canaries nor
//! the password or Secret Key appear anywhere in the database files, their WAL, a dump, or
//! the data directory.

use krypt7_crypto::{
    envelope::{self, ItemBinding, ItemType},
    keys::VaultKey,
};
use reqwest::StatusCode;
use serde_json::json;
use uuid::Uuid;

use crate::{
    both,
    harness::{Backend, TestServer},
};

both!(stolen_storage_holds_no_canary);

/// Everything the database holds, as text: the SQLite file, WAL and shared memory, or a
/// `pg_dump` of the PostgreSQL database.
pub async fn database_text(s: &TestServer) -> String {
    match &s.db_url {
        Some(url) => crate::pg::dump(url),
        None => {
            let dir = s.dir.path().join("data");
            ["krypt7.db", "krypt7.db-wal", "krypt7.db-shm"]
                .iter()
                .filter_map(|f| std::fs::read(dir.join(f)).ok())
                .map(|b| String::from_utf8_lossy(&b).into_owned())
                .collect()
        }
    }
}

/// The sealed text values (`enc1:…`) the database holds: emails, phone numbers, addresses.
pub async fn sealed_values(s: &TestServer) -> std::collections::BTreeSet<String> {
    let text = database_text(s).await;
    text.match_indices("enc1:")
        .map(|(i, _)| {
            text[i..]
                .chars()
                .skip(5)
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
                .collect::<String>()
        })
        .filter(|v| v.len() > 20)
        .collect()
}

/// Whether the database holds `needle` anywhere: in the SQLite file, WAL or shared memory
/// as bytes, or in a `pg_dump` (where binary columns are written in hex).
pub async fn database_holds(s: &TestServer, needle: &[u8]) -> bool {
    match &s.db_url {
        Some(url) => {
            let hex: String = needle.iter().map(|b| format!("{b:02x}")).collect();
            crate::pg::dump(url).contains(&hex)
        }
        None => {
            let dir = s.dir.path().join("data");
            ["krypt7.db", "krypt7.db-wal", "krypt7.db-shm"]
                .iter()
                .filter_map(|f| std::fs::read(dir.join(f)).ok())
                .any(|b| b.windows(needle.len()).any(|w| w == needle))
        }
    }
}

/// Every file under the data directory (blobs, logs, certificates), as text.
fn data_dir_text(s: &TestServer) -> String {
    fn walk(p: &std::path::Path, out: &mut String) {
        for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
            if e.path().is_dir() {
                walk(&e.path(), out);
            } else if let Ok(b) = std::fs::read(e.path()) {
                out.push_str(&String::from_utf8_lossy(&b));
            }
        }
    }
    let mut out = String::new();
    walk(s.dir.path(), &mut out);
    out
}

async fn stolen_storage_holds_no_canary(b: Backend) {
    // Behind a proxy, so a failed sign-in can come from the canary address.
    let s = TestServer::start_with(b, |c| {
        c.raw_item_writes = true;
        c.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
        c.client_ip_header = Some("X-Forwarded-For".into());
    })
    .await;
    let password = "CANARY-PASSWORD-7b1f";
    // The username (and the email the harness gives it, USER@example.org) are canaries too.
    const USER: &str = "canary-user-5d2b";
    const PHONE: &str = "+33699887766";
    const IP: &str = "198.51.100.203";
    let a = s.register(USER, password).await;
    let vault = Uuid::new_v4();
    let vk = VaultKey::generate().unwrap();
    let canaries = [
        "CANARY-TITLE-Bank-of-Zurich",
        "CANARY-USERNAME-alice.w@corp",
        "CANARY-URL-https://secret.example/login",
        "CANARY-NOTE-the-safe-code-is-4711",
    ];
    for (i, c) in canaries.iter().enumerate() {
        let id = Uuid::new_v4();
        let at = ItemBinding {
            account: *a.account_id.as_bytes(),
            vault: *vault.as_bytes(),
            item: *id.as_bytes(),
        };
        let plaintext = format!("{{\"title\":\"{c}\",\"n\":{i}}}");
        let sealed = envelope::seal_item(&vk, &at, ItemType(1), 1, plaintext.as_bytes()).unwrap();
        let (st, _) = s.put(&format!("/v1/items/{id}"), &a.token, json!({"vault_id": vault, "base_revision": 0, "envelope": krypt7_protocol::B64(sealed)})).await;
        assert_eq!(st, StatusCode::OK);
    }
    // A file whose content and name are canaries, encrypted with the streaming AEAD and
    // uploaded as a blob.
    let file_key = krypt7_crypto::keys::FileKey::generate().unwrap();
    let file_id = Uuid::new_v4();
    let binding = krypt7_crypto::stream::StreamBinding {
        account: *a.account_id.as_bytes(),
        file: *file_id.as_bytes(),
    };
    let plain = "CANARY-FILE-CONTENT-quarterly-numbers.xlsx ".repeat(3000);
    let mut ct = Vec::new();
    krypt7_crypto::stream::encrypt(
        &file_key,
        &binding,
        16,
        krypt7_crypto::stream::Fingerprint::Sha256,
        &mut plain.as_bytes(),
        &mut ct,
        |_| {},
    )
    .unwrap();
    let (st, v) = s
        .call(
            reqwest::Method::POST,
            "/v1/blobs",
            Some(&a.token),
            Some(json!({"size": ct.len(), "chunk_size": 65536})),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let blob = v["blob_id"].as_str().unwrap().to_string();
    for (i, chunk) in ct.chunks(65536).enumerate() {
        let r = s
            .client()
            .put(format!("{}/v1/blobs/{blob}/chunks/{i}", s.base))
            .bearer_auth(&a.token)
            .body(chunk.to_vec())
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::NO_CONTENT);
    }
    assert_eq!(
        s.call(
            reqwest::Method::POST,
            &format!("/v1/blobs/{blob}/complete"),
            Some(&a.token),
            None
        )
        .await
        .0,
        StatusCode::OK
    );
    // What the server itself must read, sealed under its own key: the phone number, the
    // authenticator's secret, the address of a failed sign-in, the username and email.
    let proof = s.proof(&a, "update_account").await;
    let (st, v) = s
        .call_stepped(
            reqwest::Method::PATCH,
            "/v1/account",
            Some(&a.token),
            Some(&proof),
            Some(json!({"phone": PHONE})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
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
    let totp_b32 = setup["secret"].as_str().unwrap().to_string();
    let totp_raw = totp_rs::Secret::try_from_base32(&totp_b32)
        .unwrap()
        .as_bytes()
        .to_vec();
    let code = crate::factors::totp_for(&totp_b32)
        .generate(s.server.state.clock.now() as u64)
        .to_string();
    let (st, _) = s
        .call(
            reqwest::Method::POST,
            "/v1/account/totp/confirm",
            Some(&a.token),
            Some(json!({ "code": code })),
        )
        .await;
    assert_eq!(st, StatusCode::NO_CONTENT);
    assert!(
        s.forwarded_for(IP)
            .login(USER, "not the password", &a.secret_key)
            .await
            .is_err()
    );
    // The owner is shown them all the same.
    let info = s.get("/v1/account", &a.token).await.1;
    let email = format!("{USER}@example.org");
    assert_eq!(
        (
            &info["username"],
            &info["email"],
            &info["phone"],
            &info["totp_enabled"]
        ),
        (&json!(USER), &json!(email), &json!(PHONE), &json!(true)),
        "{info}"
    );
    let attempts = s.get("/v1/account/attempts", &a.token).await.1;
    assert_eq!(attempts[0]["ip"], IP, "{attempts}");
    let personal = [USER, email.as_str(), PHONE, IP, totp_b32.as_str()];
    for needle in [totp_raw.as_slice()]
        .into_iter()
        .chain(personal.iter().map(|p| p.as_bytes()))
    {
        assert!(
            !database_holds(&s, needle).await,
            "{} found in the database's bytes",
            String::from_utf8_lossy(needle)
        );
    }

    let mut stored = database_text(&s).await;
    stored.push_str(&data_dir_text(&s));
    assert!(
        stored.len() > 100_000,
        "the drill looks at the real storage, blobs included"
    );
    let secret_key = a.secret_key.to_human();
    let sk_compact = secret_key.replace('-', "");
    let needles: Vec<&str> = canaries
        .iter()
        .copied()
        .chain([password, secret_key.as_str(), sk_compact.as_str(), "CANARY"])
        .chain(personal)
        .collect();
    for needle in &needles {
        assert!(
            !stored.contains(needle),
            "{needle} found in the server's storage"
        );
    }
    eprintln!(
        "breach drill ({b:?}): {} canaries (and the TOTP secret's bytes) looked for in {} bytes \
         of database and data directory: none found",
        needles.len(),
        stored.len()
    );
    s.server.stop().await;
}
