//! Forks and freezes: a server that hides one device's commits from another, makes up an
//! answer to a commit it never stored, or moves a device's feed position past changes
//! (`docs/sync.md`, "Forks and freezes"). Each is detected by the device it is played on,
//! whose edits stay in its outbox; once the server is honest again both devices converge
//! with nothing lost.

use super::*;

/// The session token a device sends (to single out its requests).
async fn token_of(p: &Proxy, c: &mut Client) -> String {
    p.clear();
    c.sync().await.unwrap();
    p.seen()
        .iter()
        .find_map(|s| {
            s.headers
                .iter()
                .find(|(k, _)| k == "authorization")
                .map(|(_, v)| v.clone())
        })
        .unwrap()
}

fn from(s: &Seen, token: &str) -> bool {
    s.headers
        .iter()
        .any(|(k, v)| k == "authorization" && v == token)
}

fn password(c: &Client, id: Uuid) -> String {
    c.item(id).unwrap().data.fields["password"].clone()
}

/// Edits an item's password locally, without syncing.
fn edit(c: &mut Client, id: Uuid, pw: &str) {
    let mut d = c.item(id).unwrap().data;
    d.fields.insert("password".into(), pw.into());
    c.edit_item(id, d).unwrap();
}

async fn integrity_error(c: &mut Client, what: &str, expect: &str) {
    match c.sync().await {
        Err(e) if e.code() == "integrity" => {
            assert!(e.to_string().contains(expect), "{what}: {e}")
        }
        other => panic!("{what}: expected an integrity error, got {other:?}"),
    }
}

/// Both devices, synced with an honest server, hold the same passwords.
async fn converge(al: &mut Alice, want: &[(usize, &str)]) {
    al.b.sync().await.unwrap();
    al.a.sync().await.unwrap();
    al.b.sync().await.unwrap();
    for (i, pw) in want {
        assert_eq!(password(&al.a, al.items[*i]), *pw, "device a, item {i}");
        assert_eq!(password(&al.b, al.items[*i]), *pw, "device b, item {i}");
    }
    assert_eq!(al.a.pending().unwrap(), 0);
    assert_eq!(al.b.pending().unwrap(), 0);
    assert_eq!(snapshot(&al.a), snapshot(&al.b), "the two devices differ");
}

#[tokio::test]
async fn a_feed_hiding_another_devices_commits_is_caught_at_the_next_commit() {
    let (_s, p) = start().await;
    let mut al = alice(&p).await;
    let b_token = token_of(&p, &mut al.b).await;
    let b_cursor = al.b.cursor().unwrap();
    // From now on b's feed shows nothing of what happens after its position: a freeze, with
    // the position kept consistent (nothing claimed beyond what is shown).
    p.tamper(move |s, r| {
        if is_feed(s) && from(s, &b_token) && r.status == 200 {
            let mut v = r.json();
            v["items"] = json!([]);
            v["manifests"] = json!([]);
            v["vaults"] = json!([]);
            v["cursor"] = json!(b_cursor);
            v["has_more"] = json!(false);
            r.set_json(&v);
        }
    });
    change(&mut al.a, al.items[0], "from-a").await;
    // A device that only reads sees nothing wrong yet: the feed is consistent in itself.
    al.b.sync().await.unwrap();
    assert_eq!(password(&al.b, al.items[0]), "bank-secret-1");
    // Its next commit is refused as stale (the server holds a's), yet the feed shows nothing
    // newer: the freeze shows.
    edit(&mut al.b, al.items[1], "from-b");
    integrity_error(
        &mut al.b,
        "a commit refused with nothing newer shown",
        "feed shows nothing newer",
    )
    .await;
    assert_eq!(al.b.pending().unwrap(), 1, "b's edit stays queued");
    p.honest();
    converge(&mut al, &[(0, "from-a"), (1, "from-b")]).await;
}

#[tokio::test]
async fn a_device_that_only_reads_catches_a_freeze_when_its_view_is_due() {
    let (_s, p) = start().await;
    let mut al = alice(&p).await;
    let b_token = token_of(&p, &mut al.b).await;
    let b_cursor = al.b.cursor().unwrap();
    p.tamper(move |s, r| {
        if is_feed(s) && from(s, &b_token) && r.status == 200 {
            let mut v = r.json();
            v["items"] = json!([]);
            v["manifests"] = json!([]);
            v["vaults"] = json!([]);
            v["cursor"] = json!(b_cursor);
            v["has_more"] = json!(false);
            r.set_json(&v);
        }
    });
    change(&mut al.a, al.items[0], "from-a").await;
    // b edits nothing, but its view of the vault is due: the empty commit that seals it is
    // refused as stale, and the feed shows nothing newer.
    al.b.set_view_interval(std::time::Duration::ZERO);
    integrity_error(
        &mut al.b,
        "a view refused with nothing newer shown",
        "feed shows nothing newer",
    )
    .await;
    p.honest();
    converge(&mut al, &[(0, "from-a")]).await;
    // b's views since are commits of its own, yet the vault was last changed by a.
    let heads = al.a.heads().unwrap();
    assert!(heads[0].by_this_device, "{heads:?}");
    assert!(!al.b.heads().unwrap()[0].by_this_device);
}

#[tokio::test]
async fn a_made_up_answer_to_a_commit_is_caught_and_the_edit_stays_queued() {
    let (_s, p) = start().await;
    let mut al = alice(&p).await;
    let b_token = token_of(&p, &mut al.b).await;
    // b's commits never reach the server; the proxy answers as if they had, in the exact
    // form b checks (its version, each item one revision on).
    p.answer(move |s| {
        if !(s.method == "POST" && s.path.ends_with("/commit") && from(s, &b_token)) {
            return None;
        }
        let c = s.json()?;
        let vault = s.path.split('/').nth(3)?.to_string();
        let items: Vec<Value> = c["items"]
            .as_array()?
            .iter()
            .map(|i| {
                json!({"id": i["id"], "vault_id": vault, "revision": i["base_revision"].as_i64().unwrap() + 1,
                       "envelope": i["envelope"], "deleted": i["deleted"], "cursor": 1_000_000})
            })
            .collect();
        let body = json!({
            "manifest": {"vault_id": vault, "version": c["version"], "manifest": c["manifest"], "cursor": 1_000_001},
            "items": items,
        });
        Some(krypt7_hostile::Reply {
            status: 200,
            headers: vec![("content-type".into(), "application/json".into())],
            body: serde_json::to_vec(&body).unwrap(),
        })
    });
    edit(&mut al.b, al.items[2], "from-b");
    integrity_error(
        &mut al.b,
        "an answer for a commit never stored",
        "feed does not show it",
    )
    .await;
    assert_eq!(al.b.pending().unwrap(), 1, "b's edit stays queued");
    // Meanwhile a commits for real; b, still lied to, reads it (the whole feed again) and
    // commits on top of it, to the same made-up answer: caught again.
    change(&mut al.a, al.items[0], "from-a").await;
    integrity_error(
        &mut al.b,
        "a second made-up answer",
        "feed does not show it",
    )
    .await;
    assert_eq!(password(&al.b, al.items[0]), "from-a");
    assert_eq!(al.b.pending().unwrap(), 1);
    p.honest();
    converge(&mut al, &[(0, "from-a"), (2, "from-b")]).await;
}

#[tokio::test]
async fn a_feed_position_moved_past_the_changes_is_caught() {
    let (_s, p) = start().await;
    let mut al = alice(&p).await;
    change(&mut al.a, al.items[0], "from-a").await;
    // The position alone jumps to the end of time: refused as it comes, nothing applied.
    tamper_feed(&p, |v| v["cursor"] = json!(i64::MAX));
    refused(&mut al.b, "a jumped position", "claims position").await;
    // A thorough server moves the changes' own positions too: consistent in itself, so b
    // takes it, and would hear of nothing more ...
    tamper_feed(&p, |v| {
        if let Some(items) = v["items"].as_array_mut() {
            for i in items {
                i["cursor"] = json!(i64::MAX);
            }
        }
        if v["items"].as_array().is_some_and(|i| !i.is_empty()) {
            v["cursor"] = json!(i64::MAX);
        }
    });
    al.b.sync().await.unwrap();
    assert_eq!(al.b.cursor().unwrap(), i64::MAX);
    p.honest();
    // ... but its own next commit, which the server numbers below that position, does not
    // show in its feed: caught, and the next sync reads the whole feed again.
    edit(&mut al.b, al.items[1], "from-b");
    integrity_error(
        &mut al.b,
        "a position past the server's",
        "feed does not show it",
    )
    .await;
    assert_eq!(
        al.b.cursor().unwrap(),
        0,
        "the feed is read again from the start"
    );
    converge(&mut al, &[(0, "from-a"), (1, "from-b")]).await;
}

#[tokio::test]
async fn a_manifest_left_out_of_the_chain_is_caught() {
    let (_s, p) = start().await;
    let mut al = alice(&p).await;
    // a commits twice; b's feed brings only the newer manifest (with both items).
    change(&mut al.a, al.items[0], "one").await;
    change(&mut al.a, al.items[1], "two").await;
    tamper_feed(&p, |v| {
        if let Some(ms) = v["manifests"].as_array_mut()
            && ms.len() > 1
        {
            ms.remove(0);
        }
    });
    refused(&mut al.b, "a manifest left out", "skips from version").await;
    p.honest();
    converge(&mut al, &[(0, "one"), (1, "two")]).await;
    // Each device shows who changed the vault last, and when.
    let heads = al.b.heads().unwrap();
    assert_eq!(heads.len(), 1);
    assert!(!heads[0].by_this_device);
    assert_eq!(
        heads[0].device_name.as_deref(),
        Some(krypt7_client::host_name().as_str())
    );
    assert!(al.a.heads().unwrap()[0].by_this_device);
}
