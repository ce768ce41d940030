//! Encrypted files against a real server: round trips at the chunk boundaries, hostile
//! blobs, a wrong fingerprint, the quota, and an interrupted upload that resumes.

use std::{
    path::{Path, PathBuf},
    sync::{
        Arc,
        atomic::{AtomicU64, Ordering},
    },
};

use krypt7_client::{Client, ClientError, Progress};
use sqlx::Row;
use uuid::Uuid;

use crate::Server;

const MIB: usize = 1 << 20;

/// Deterministic bytes that differ from chunk to chunk.
fn content(len: usize, seed: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(2_654_435_761).to_le_bytes()[1] ^ seed)
        .collect()
}

async fn device(
    server: &Server,
    dir: &tempfile::TempDir,
) -> (Client, krypt7_crypto::secret_key::SecretKey) {
    let mut c = server.device(dir);
    let sk = c
        .signup("alice", "correct horse battery", None, None)
        .await
        .unwrap();
    (c, sk)
}

/// The directory where the server keeps a blob's chunks.
fn blob_dir(server: &Server, c: &Client, item: Uuid) -> PathBuf {
    let blob = c.item(item).unwrap().data.files[0].blob_id;
    server
        .dir
        .path()
        .join("data/blobs")
        .join(c.account_id().unwrap().unwrap().simple().to_string())
        .join(blob.simple().to_string())
}

fn partials(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".krypt7-partial"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_round_trip_at_every_boundary_on_another_device() {
    let server = Server::start().await;
    let (da, db, work) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let (mut a, sk) = device(&server, &da).await;
    let sizes = [0, 1, MIB - 1, MIB, MIB + 1, 3 * MIB + 5];
    let mut ids = Vec::new();
    for (n, size) in sizes.iter().enumerate() {
        let path = work.path().join(format!("file-{size}.bin"));
        std::fs::write(&path, content(*size, n as u8)).unwrap();
        let up = a.upload_file(&path).await.unwrap();
        assert_eq!(up.chunks, (*size as u64).div_ceil(MIB as u64).max(1));
        assert_eq!(up.chunks_sent, up.chunks);
        let item = a.item(up.item).unwrap();
        assert_eq!(item.data.title, format!("file-{size}.bin"));
        assert_eq!(item.data.fields["size"], size.to_string());
        ids.push((up.item, path));
    }
    a.sync().await.unwrap();
    let mut b = server.device(&db);
    b.login("alice", "correct horse battery", &sk, None)
        .await
        .unwrap();
    let out = work.path().join("out");
    std::fs::create_dir(&out).unwrap();
    for (id, original) in &ids {
        let dest = out.join(original.file_name().unwrap());
        let got = b.download_file(*id, &dest, false).await.unwrap();
        assert_eq!(got.resumed_from, 0);
        assert_eq!(
            std::fs::read(&dest).unwrap(),
            std::fs::read(original).unwrap()
        );
        // An existing file is not replaced unless asked.
        let again = b.download_file(*id, &dest, false).await;
        assert!(matches!(again, Err(ClientError::Invalid(_))), "{again:?}");
        b.download_file(*id, &dest, true).await.unwrap();
    }
    assert!(partials(&out).is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_blobs_and_a_wrong_fingerprint_are_refused_and_nothing_is_left() {
    let server = Server::start().await;
    let (da, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut a, _) = device(&server, &da).await;
    let upload = |name: &str, seed: u8| {
        let path = work.path().join(name);
        std::fs::write(&path, content(3 * MIB + 7, seed)).unwrap();
        path
    };
    let p1 = upload("one.bin", 1);
    let p2 = upload("two.bin", 2);
    let one = a.upload_file(&p1).await.unwrap().item;
    let two = a.upload_file(&p2).await.unwrap().item;
    let (d1, d2) = (blob_dir(&server, &a, one), blob_dir(&server, &a, two));
    let out = work.path().join("out");
    std::fs::create_dir(&out).unwrap();
    let dest = out.join("one.bin");

    let refused = async |what: &str, a: &mut Client| {
        match a.download_file(one, &dest, false).await {
            Err(e) => assert_eq!(e.code(), "integrity", "{what}: {e}"),
            Ok(_) => panic!("{what}: a tampered file was accepted"),
        }
        assert!(!dest.exists(), "{what}: something was put in place");
        assert!(partials(&out).is_empty(), "{what}: a partial file was left");
    };
    let swap = |x: &Path, y: &Path| {
        let (bx, by) = (std::fs::read(x).unwrap(), std::fs::read(y).unwrap());
        std::fs::write(x, by).unwrap();
        std::fs::write(y, bx).unwrap();
    };
    // A flipped bit.
    let c1 = d1.join("1");
    let original = std::fs::read(&c1).unwrap();
    let mut flipped = original.clone();
    flipped[1000] ^= 0x01;
    std::fs::write(&c1, &flipped).unwrap();
    refused("bit flip", &mut a).await;
    std::fs::write(&c1, &original).unwrap();
    // Two chunks in the wrong order.
    swap(&d1.join("0"), &d1.join("1"));
    refused("reordered chunks", &mut a).await;
    swap(&d1.join("0"), &d1.join("1"));
    // A chunk of another file at the same place.
    swap(&d1.join("2"), &d2.join("2"));
    refused("chunk from another file", &mut a).await;
    swap(&d1.join("2"), &d2.join("2"));
    // Truncated: the server serves one chunk less, as a complete answer.
    let pool = server.running.as_ref().unwrap().state.db.pool();
    let blob = a.item(one).unwrap().data.files[0].blob_id;
    let size: i64 = sqlx::query("SELECT size FROM blobs WHERE id = $1")
        .bind(blob.as_bytes().to_vec())
        .fetch_one(pool)
        .await
        .unwrap()
        .get("size");
    let set_size = |s: i64| {
        sqlx::query("UPDATE blobs SET size = $1 WHERE id = $2")
            .bind(s)
            .bind(blob.as_bytes().to_vec())
            .execute(pool)
    };
    set_size(2 * (MIB as i64 + 16)).await.unwrap();
    refused("truncated", &mut a).await;
    set_size(size).await.unwrap();
    // The untouched blob downloads; then a wrong fingerprint in the metadata is refused.
    a.download_file(one, &dest, false).await.unwrap();
    std::fs::remove_file(&dest).unwrap();
    let mut data = a.item(one).unwrap().data;
    data.files[0].sha256 = "00".repeat(32);
    a.edit_item(one, data).unwrap();
    refused("wrong fingerprint", &mut a).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_over_the_quota_is_refused_before_any_chunk() {
    let dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut config = krypt7_server::Config::new(dir.path().join("data"));
    config.listen = format!("127.0.0.1:{port}").parse().unwrap();
    config.quota_bytes = 2 * MIB as i64;
    let clock = krypt7_server::clock::Clock::default();
    let running = krypt7_server::start(config, clock.clone()).await.unwrap();
    let server = Server {
        dir,
        port,
        running: Some(running),
        clock,
    };
    let (da, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut a, _) = device(&server, &da).await;
    let before = a.usage().await.unwrap().usage_bytes;
    let path = work.path().join("big.bin");
    std::fs::write(&path, content(3 * MIB, 9)).unwrap();
    let sent = Arc::new(AtomicU64::new(0));
    let seen = sent.clone();
    a.on_progress(move |p| {
        if let Progress::Uploading { done, .. } = p {
            seen.store(done, Ordering::SeqCst);
        }
    });
    match a.upload_file(&path).await {
        Err(ClientError::Invalid(m)) => assert!(m.contains("does not fit"), "{m}"),
        other => panic!("expected a refusal, got {other:?}"),
    }
    assert_eq!(sent.load(Ordering::SeqCst), 0, "no chunk went out");
    assert_eq!(a.usage().await.unwrap().usage_bytes, before);
    let pool = server.running.as_ref().unwrap().state.db.pool();
    let blobs: i64 = sqlx::query("SELECT COUNT(*) AS n FROM blobs")
        .fetch_one(pool)
        .await
        .unwrap()
        .get("n");
    assert_eq!(blobs, 0);
    // A file that fits goes up.
    let small = work.path().join("small.bin");
    std::fs::write(&small, content(MIB, 3)).unwrap();
    a.upload_file(&small).await.unwrap();
}

/// Starts uploading `path` and restarts the server once 4 MiB are acknowledged; returns
/// the client and how many chunks the server holds.
async fn upload_cut_by_a_restart(server: &mut Server, mut a: Client, path: &Path) -> (Client, i64) {
    let done = Arc::new(AtomicU64::new(0));
    let seen = done.clone();
    a.on_progress(move |p| {
        if let Progress::Uploading { done, .. } = p {
            seen.store(done, Ordering::SeqCst);
        }
    });
    let p = path.to_path_buf();
    let task = tokio::spawn(async move {
        let r = a.upload_file(&p).await;
        (a, r)
    });
    while done.load(Ordering::SeqCst) < 4 * MIB as u64 {
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
    server.down().await;
    let (a, first) = task.await.unwrap();
    assert!(matches!(first, Err(ClientError::Offline(_))), "{first:?}");
    server.up().await;
    let pool = server.running.as_ref().unwrap().state.db.pool();
    let held: i64 = sqlx::query("SELECT COUNT(*) AS n FROM blob_chunks")
        .fetch_one(pool)
        .await
        .unwrap()
        .get("n");
    (a, held)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_interrupted_by_a_server_restart_resumes_without_resending() {
    let mut server = Server::start().await;
    let (da, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, _) = device(&server, &da).await;
    let path = work.path().join("movie.bin");
    let bytes = content(24 * MIB + 3, 7);
    std::fs::write(&path, &bytes).unwrap();
    let (mut a, held) = upload_cut_by_a_restart(&mut server, a, &path).await;
    assert!((4..25).contains(&held), "{held} chunks held");
    let up = a.upload_file(&path).await.unwrap();
    assert_eq!(up.chunks, 25);
    // The missing chunks, and at most the few that were in flight (or acknowledged after
    // the record was last saved): each chunk goes up once more at most.
    assert!(
        (25 - held as u64..=25 - held as u64 + 8).contains(&up.chunks_sent),
        "{} chunks sent, the server held {held}",
        up.chunks_sent
    );
    let dest = work.path().join("back.bin");
    a.download_file(up.item, &dest, false).await.unwrap();
    assert!(std::fs::read(&dest).unwrap() == bytes);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_file_changed_during_an_interruption_is_sent_afresh() {
    let mut server = Server::start().await;
    let (da, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (a, _) = device(&server, &da).await;
    let path = work.path().join("ledger.bin");
    let mut bytes = content(24 * MIB + 3, 9);
    std::fs::write(&path, &bytes).unwrap();
    let (mut a, held) = upload_cut_by_a_restart(&mut server, a, &path).await;
    assert!(held >= 4, "{held} chunks held");
    // One byte of the first chunk changes; size and modification time stay the same, so
    // only the content can tell.
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    bytes[10] ^= 0xff;
    std::fs::write(&path, &bytes).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    // The resumed upload finds the change and starts afresh (a new blob, every chunk).
    let up = a.upload_file(&path).await.unwrap();
    assert_eq!(up.chunks_sent, 25, "a fresh upload sends every chunk");
    let dest = work.path().join("back.bin");
    a.download_file(up.item, &dest, false).await.unwrap();
    assert!(std::fs::read(&dest).unwrap() == bytes);
}

const TRANSFER_CHILD: &str = "KRYPT7_TEST_TRANSFER_CHILD";

/// The child of [`kill_9_mid_transfer_then_both_resume`]: uploads a file or downloads an
/// item, printing the bytes done after each chunk, until it is killed.
async fn transfer_child(spec: &str) -> ! {
    let [dir, url, ca, sk, what, path, item]: [&str; 7] =
        spec.split('\n').collect::<Vec<_>>().try_into().unwrap();
    let ca = std::fs::read(ca).unwrap();
    let mut c = Client::open(Path::new(dir), Some(url), Some(&ca)).unwrap();
    c.unlock(
        "correct horse battery",
        &krypt7_crypto::secret_key::SecretKey::parse(sk).unwrap(),
    )
    .unwrap();
    c.on_progress(|p| {
        if let Progress::Uploading { done, .. } | Progress::Downloading { done, .. } = p {
            println!("{done}");
        }
    });
    if what == "upload" {
        c.upload_file(Path::new(path)).await.unwrap();
    } else {
        c.download_file(item.parse().unwrap(), Path::new(path), false)
            .await
            .unwrap();
    }
    println!("finished");
    std::process::exit(0)
}

/// Runs the transfer child and kills it (`SIGKILL`) once it reports `at_least` bytes done.
fn run_and_kill(spec: &str, at_least: u64) {
    use std::io::BufRead;
    let mut child = std::process::Command::new(std::env::current_exe().unwrap())
        .args([
            "files::kill_9_mid_transfer_then_both_resume",
            "--exact",
            "--nocapture",
            "--test-threads=1",
        ])
        .env(TRANSFER_CHILD, spec)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    for line in lines {
        let line = line.unwrap();
        assert_ne!(
            line, "finished",
            "the transfer ended before it could be cut"
        );
        if line.trim().parse::<u64>().is_ok_and(|d| d >= at_least) {
            break;
        }
    }
    child.kill().unwrap();
    child.wait().unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_9_mid_transfer_then_both_resume() {
    if let Ok(spec) = std::env::var(TRANSFER_CHILD) {
        transfer_child(&spec).await;
    }
    let server = Server::start().await;
    let (da, db, work) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let (a, sk) = device(&server, &da).await;
    drop(a);
    let path = work.path().join("archive.bin");
    let bytes = content(12 * MIB + 5, 3);
    std::fs::write(&path, &bytes).unwrap();
    let ca = server.dir.path().join("data/ca.pem");
    let spec = |dir: &Path, what: &str, path: &Path, item: &str| {
        format!(
            "{}\n{}\n{}\n{}\n{what}\n{}\n{item}",
            dir.display(),
            server.url(),
            ca.display(),
            sk.to_human().as_str(),
            path.display()
        )
    };

    // The uploading client is killed after 5 of 13 chunks.
    run_and_kill(&spec(da.path(), "upload", &path, ""), 5 * MIB as u64);
    let mut a = server.device(&da);
    a.unlock("correct horse battery", &sk).unwrap();
    let up = a.upload_file(&path).await.unwrap();
    assert_eq!(up.chunks, 13);
    // Each chunk goes up once more at most: the one in flight when the client died.
    assert!(
        (1..=13 - 5 + 1).contains(&up.chunks_sent),
        "{} chunks sent after the restart",
        up.chunks_sent
    );
    a.sync().await.unwrap();

    // On another device, the downloading client is killed after 6 chunks.
    let mut b = server.device(&db);
    b.login("alice", "correct horse battery", &sk, None)
        .await
        .unwrap();
    drop(b);
    let dest = work.path().join("restored.bin");
    run_and_kill(
        &spec(db.path(), "download", &dest, &up.item.to_string()),
        6 * MIB as u64,
    );
    assert!(!dest.exists(), "an unfinished download is not in place");
    let mut b = server.device(&db);
    b.unlock("correct horse battery", &sk).unwrap();
    let got = b.download_file(up.item, &dest, false).await.unwrap();
    assert!(
        got.resumed_from >= 5 * MIB as u64,
        "resumed from byte {}",
        got.resumed_from
    );
    assert!(std::fs::read(&dest).unwrap() == bytes, "the right content");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_item_carries_attachments_and_previews_read_into_memory() {
    let server = Server::start().await;
    let (da, db, work) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let (mut a, sk) = device(&server, &da).await;
    let login = a
        .add_item(krypt7_client::ItemData::new(
            krypt7_client::ItemKind::Login,
            "Bank",
        ))
        .unwrap();
    let (scan, notes) = (work.path().join("scan.png"), work.path().join("notes.txt"));
    let scan_bytes = content(2 * MIB + 9, 4);
    std::fs::write(&scan, &scan_bytes).unwrap();
    std::fs::write(&notes, b"PIN hint: the usual").unwrap();
    let rates = Arc::new(std::sync::Mutex::new(vec![]));
    let seen = rates.clone();
    a.on_progress(move |p| {
        if let Progress::Uploading { rate, .. } | Progress::Downloading { rate, .. } = p {
            seen.lock().unwrap().push(rate);
        }
    });
    a.attach_file(login, &scan).await.unwrap();
    a.attach_file(login, &notes).await.unwrap();
    assert!(
        rates.lock().unwrap().iter().any(|&r| r > 0),
        "progress carries a rate"
    );
    a.sync().await.unwrap();

    // Another device sees both, downloads one and previews the other without a file.
    let mut b = server.device(&db);
    b.login("alice", "correct horse battery", &sk, None)
        .await
        .unwrap();
    let files = b.item(login).unwrap().data.files;
    let names: Vec<&str> = files.iter().map(|f| f.name.as_str()).collect();
    assert_eq!(names, ["scan.png", "notes.txt"]);
    assert_eq!(files[0].media_type, "image/png");
    let dest = work.path().join("scan-back.png");
    b.download_attachment(login, 0, &dest, false).await.unwrap();
    assert!(std::fs::read(&dest).unwrap() == scan_bytes);
    let before: Vec<_> = std::fs::read_dir(work.path()).unwrap().collect();
    let text = b.read_file(login, 1, 1 << 20).await.unwrap();
    assert_eq!(text.as_slice(), b"PIN hint: the usual");
    assert_eq!(
        std::fs::read_dir(work.path()).unwrap().count(),
        before.len(),
        "a preview writes nothing"
    );
    let big = b.read_file(login, 0, MIB as u64).await;
    assert!(
        matches!(&big, Err(ClientError::Invalid(m)) if m.contains("over the")),
        "{big:?}"
    );
    assert!(
        b.read_file(login, 2, MIB as u64).await.is_err(),
        "no file 2"
    );

    // Detaching leaves the other attachment.
    b.detach_file(login, 0).unwrap();
    b.sync().await.unwrap();
    a.sync().await.unwrap();
    let left: Vec<String> = a
        .item(login)
        .unwrap()
        .data
        .files
        .iter()
        .map(|f| f.name.clone())
        .collect();
    assert_eq!(left, ["notes.txt"]);
}

/// Downloads are the owner's only, never written through a link, and leave no plaintext
/// behind when they fail or are cancelled.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn downloads_are_private_never_through_a_link_and_leave_nothing_when_stopped() {
    use std::os::unix::fs::PermissionsExt;
    let server = Server::start().await;
    let (da, work) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (mut a, _) = device(&server, &da).await;
    let path = work.path().join("secret.bin");
    let bytes = content(40 * MIB + 1, 3);
    std::fs::write(&path, &bytes).unwrap();
    let item = a.upload_file(&path).await.unwrap().item;
    let out = tempfile::tempdir().unwrap();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;

    // Written 0600, even where the process's umask would allow more.
    let dest = out.path().join("secret.out");
    a.download_file(item, &dest, false).await.unwrap();
    assert_eq!(mode(&dest), 0o600);
    assert!(std::fs::read(&dest).unwrap() == bytes);

    // A link planted where the partial file goes: refused, its target untouched.
    let blob = a.item(item).unwrap().data.files[0].blob_id;
    let victim = work.path().join("victim.txt");
    std::fs::write(&victim, b"do not overwrite").unwrap();
    let planted = out.path().join(format!(".{item}.{blob}.krypt7-partial"));
    std::os::unix::fs::symlink(&victim, &planted).unwrap();
    let err = a
        .download_file(item, &out.path().join("again.out"), false)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("link"), "{err}");
    assert_eq!(std::fs::read(&victim).unwrap(), b"do not overwrite");
    assert!(!out.path().join("again.out").exists());
    let _ = std::fs::remove_file(&planted);

    // Cancelled part-way (the task dropped, as a lock does): no partial plaintext stays.
    // (A download that fails part-way: `tests/hostile`, files.)
    let done = Arc::new(AtomicU64::new(0));
    let seen = done.clone();
    a.on_progress(move |p| {
        if let Progress::Downloading { done, .. } = p {
            seen.store(done, Ordering::SeqCst);
        }
    });
    let dest = out.path().join("cancelled.out");
    let task = tokio::spawn(async move { a.download_file(item, &dest, false).await });
    while done.load(Ordering::SeqCst) < MIB as u64 && !task.is_finished() {
        tokio::time::sleep(std::time::Duration::from_millis(1)).await;
    }
    task.abort();
    assert!(
        task.await.is_err(),
        "the download finished before it could be cancelled"
    );
    // The writing thread may still be finishing its last chunk.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert_eq!(partials(out.path()), Vec::<String>::new());
    assert!(!out.path().join("cancelled.out").exists());
}
