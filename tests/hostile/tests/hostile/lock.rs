//! Locking wins: a server that holds the client's work up (a feed, a download or an upload
//! answered a byte a second, a push channel kept open) cannot keep the keys in memory. The
//! lock returns without waiting for that work, which then ends as "locked", leaving the
//! outbox and the upload records as they were and no partial plaintext on disk.

use krypt7_client::Locker;
use krypt7_hostile::Forged;

use super::*;

/// Waits for `cond`; a test that never gets there fails rather than hangs.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    for _ in 0..6000 {
        if cond() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    panic!("{what} never happened");
}

/// Locks with `locker` and checks that the keys are gone at once: the work in progress
/// still has the client.
fn lock_now(locker: &Locker) {
    locker.lock().unwrap();
    assert!(!locker.is_unlocked(), "the keys outlived the lock");
}

fn trickle(head: &[u8]) -> Forged {
    Forged::Trickle {
        head: head.to_vec(),
        fill: b' ',
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_ends_a_held_sync_and_the_push_channel_and_keeps_the_outbox() {
    let (_server, p) = start().await;
    let Alice {
        mut a,
        mut b,
        sk,
        items: [x, y, _],
        ..
    } = alice(&p).await;
    change(&mut a, x, "bank-secret-2").await;
    // An edit of b's own, waiting in its outbox.
    let mut d = b.item(y).unwrap().data;
    d.fields.insert("password".into(), "mail-secret-b".into());
    b.edit_item(y, d).unwrap();
    assert_eq!(b.pending().unwrap(), 1);

    // The feed answered a byte a second: the call's own time limit is 30 s away.
    p.clear();
    p.forge_stream(is_feed, trickle(b"{"));
    let locker = b.locker();
    let sync = tokio::spawn(async move {
        let r = b.sync().await;
        (b, r)
    });
    until("the feed request", || p.seen().iter().any(is_feed)).await;
    lock_now(&locker);
    let (mut b, r) = sync.await.unwrap();
    assert_eq!(r.unwrap_err().code(), "locked");

    // The push channel, open and quiet, ends with the lock too.
    p.honest();
    b.unlock(PW, &sk).unwrap();
    assert_eq!(b.pending().unwrap(), 1, "the outbox lost the edit");
    let mut events = b.events().await.unwrap();
    let locker = b.locker();
    let waiting = tokio::spawn(async move { events.next().await });
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "the push channel ended by itself");
    lock_now(&locker);
    assert_eq!(waiting.await.unwrap().unwrap_err().code(), "locked");

    // Honest again: both changes meet.
    b.unlock(PW, &sk).unwrap();
    b.sync().await.unwrap();
    assert_eq!(b.pending().unwrap(), 0);
    assert_eq!(b.item(x).unwrap().data.fields["password"], "bank-secret-2");
    a.sync().await.unwrap();
    assert_eq!(a.item(y).unwrap().data.fields["password"], "mail-secret-b");
}

fn is_content(s: &Seen) -> bool {
    s.method == "GET" && s.path.starts_with("/v1/blobs/") && s.path.ends_with("/content")
}

fn is_chunk_put(s: &Seen) -> bool {
    s.method == "PUT" && s.path.contains("/chunks/")
}

/// Everything in `dir` but `keep`.
fn others(dir: &std::path::Path, keep: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p != keep)
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lock_ends_held_transfers_leaving_no_plaintext_and_a_resumable_upload() {
    let (_server, p) = start().await;
    let Alice { mut a, sk, .. } = alice(&p).await;
    let work = tempfile::tempdir().unwrap();
    let path = work.path().join("secret.pdf");
    let content: Vec<u8> = (0..(6 << 20)).map(|i| (i % 241) as u8).collect();
    std::fs::write(&path, &content).unwrap();

    // An upload whose chunks from the third on are never answered: the four it sends at a
    // time are all held.
    let held = |s: &Seen| {
        is_chunk_put(s) && !s.path.ends_with("/chunks/0") && !s.path.ends_with("/chunks/1")
    };
    p.forge_stream(held, Forged::Stall);
    let locker = a.locker();
    let (file, dir) = (path.clone(), work.path().to_path_buf());
    let upload = tokio::spawn(async move {
        let r = a.upload_file(&file).await;
        (a, r)
    });
    until("four chunks held", || {
        p.seen().iter().filter(|s| held(s)).count() == 4
    })
    .await;
    lock_now(&locker);
    let (mut a, r) = upload.await.unwrap();
    assert_eq!(r.unwrap_err().code(), "locked");

    // After unlock the upload resumes and completes, and no chunk went twice with other
    // content.
    p.honest();
    a.unlock(PW, &sk).unwrap();
    let item = a.upload_file(&path).await.unwrap().item;
    let puts: Vec<Seen> = p.seen().into_iter().filter(is_chunk_put).collect();
    for s in &puts {
        let same: Vec<&Seen> = puts.iter().filter(|o| o.path == s.path).collect();
        assert!(same.iter().all(|o| o.body == s.body), "{} changed", s.path);
    }

    // A download held after its first chunk and a half.
    let dest = dir.join("copy.pdf");
    let whole = {
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let keep = got.clone();
        p.tamper(move |s, r| {
            if is_content(s) {
                *keep.lock().unwrap() = r.body.clone();
            }
        });
        a.download_file(item, &dest, false).await.unwrap();
        std::fs::remove_file(&dest).unwrap();
        p.honest();
        got.lock().unwrap().clone()
    };
    let head = &whole[..(1 << 20) + 16 + (1 << 19)];
    p.forge_stream(is_content, trickle(head));
    let locker = a.locker();
    let to = dest.clone();
    let download = tokio::spawn(async move {
        let r = a.download_file(item, &to, false).await;
        (a, r)
    });
    p.clear();
    until("the first chunk on disk", || {
        others(&dir, &path)
            .iter()
            .any(|f| f.metadata().is_ok_and(|m| m.len() >= 1 << 20))
    })
    .await;
    lock_now(&locker);
    let (mut a, r) = download.await.unwrap();
    assert_eq!(r.unwrap_err().code(), "locked");
    assert!(!dest.exists());
    assert_eq!(others(work.path(), &path), Vec::<std::path::PathBuf>::new());

    p.honest();
    a.unlock(PW, &sk).unwrap();
    a.download_file(item, &dest, false).await.unwrap();
    assert!(std::fs::read(&dest).unwrap() == content);
}
