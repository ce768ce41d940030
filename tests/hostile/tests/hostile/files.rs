//! Class 10: file tampering.

use super::*;

/// Sealed chunk size on the server: 1 MiB of plaintext and a 16-byte tag.
const CHUNK: usize = (1 << 20) + 16;

fn is_content(s: &Seen) -> bool {
    s.method == "GET" && s.path.starts_with("/v1/blobs/") && s.path.ends_with("/content")
}

/// The sealed bytes of `item`'s file as the server holds them, seen by the proxy while
/// `c` downloads it to `dest`.
async fn sealed_content(p: &Proxy, c: &mut Client, item: Uuid, dest: &std::path::Path) -> Vec<u8> {
    let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let keep = got.clone();
    p.tamper(move |s, r| {
        if is_content(s) {
            *keep.lock().unwrap() = r.body.clone();
        }
    });
    c.download_file(item, dest, false).await.unwrap();
    p.honest();
    got.lock().unwrap().clone()
}

/// The download partial files in `dir`.
fn partials(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".krypt7-partial"))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn class_10_tampered_files_are_refused_and_never_put_in_place() {
    let (_server, p) = start().await;
    let Alice { mut a, mut b, .. } = alice(&p).await;
    let work = tempfile::tempdir().unwrap();
    // Two files of three chunks each (the last one shorter).
    let mut ids = Vec::new();
    for (name, fill) in [("report.pdf", 0x11u8), ("other.pdf", 0x22)] {
        let path = work.path().join(name);
        let content: Vec<u8> = (0..(5 << 19)).map(|i| fill ^ (i % 251) as u8).collect();
        std::fs::write(&path, &content).unwrap();
        ids.push((a.upload_file(&path).await.unwrap().item, content));
    }
    a.sync().await.unwrap();
    b.sync().await.unwrap();
    let (file, content) = ids[0].clone();
    // The other file's sealed bytes, as the server holds them.
    let other = sealed_content(&p, &mut b, ids[1].0, &work.path().join("other.out")).await;
    assert_eq!(other.len(), 3 * 16 + (5 << 19));
    type Attack = Box<dyn Fn(&mut Vec<u8>) + Send + Sync>;
    let attacks: Vec<(&str, Attack)> = vec![
        (
            "truncated by one chunk",
            Box::new(|b| b.truncate(2 * CHUNK)),
        ),
        (
            "truncated inside a chunk",
            Box::new(|b| b.truncate(CHUNK + 100)),
        ),
        (
            "chunks reordered",
            Box::new(|b| {
                let (first, rest) = b.split_at_mut(CHUNK);
                first.swap_with_slice(&mut rest[..CHUNK]);
            }),
        ),
        ("a chunk from another file", {
            let other = other.clone();
            Box::new(move |b| b[CHUNK..2 * CHUNK].copy_from_slice(&other[CHUNK..2 * CHUNK]))
        }),
        ("another file entirely", {
            let other = other.clone();
            Box::new(move |b| b.clone_from(&other))
        }),
        ("one bit flipped", Box::new(|b| b[CHUNK + 5] ^= 1)),
        (
            "a chunk appended",
            Box::new(|b| {
                let extra = b[..CHUNK].to_vec();
                b.extend_from_slice(&extra);
            }),
        ),
    ];
    let dest = work.path().join("report.out");
    for (what, attack) in attacks {
        // Each attack on a fresh download (a partial one would resume with a range).
        partials(work.path())
            .into_iter()
            .for_each(|p| std::fs::remove_file(p).unwrap());
        p.tamper(move |s, r| {
            if is_content(s) && r.status == 200 {
                attack(&mut r.body);
            }
        });
        let err = b.download_file(file, &dest, false).await.unwrap_err();
        assert_eq!(err.code(), "integrity", "{what}: {err}");
        assert!(!dest.exists(), "{what}: a tampered file was put in place");
    }
    p.honest();
    b.download_file(file, &dest, false).await.unwrap();
    assert_eq!(std::fs::read(&dest).unwrap(), content);
}

fn is_chunk_put(s: &Seen) -> bool {
    s.method == "PUT" && s.path.starts_with("/v1/blobs/") && s.path.contains("/chunks/")
}

/// Asserts that no (blob, chunk index) was ever sent with two different bodies: under one
/// file key, a chunk index is one nonce.
fn no_chunk_sent_twice_with_other_content(seen: &[Seen]) -> usize {
    let mut bodies: std::collections::HashMap<&str, &[u8]> = Default::default();
    for s in seen.iter().filter(|s| is_chunk_put(s)) {
        if let Some(earlier) = bodies.insert(&s.path, &s.body) {
            assert!(
                earlier == s.body.as_slice(),
                "{} was sent twice with different content",
                s.path
            );
        }
    }
    bodies.len()
}

/// A resumed upload must never seal one chunk index twice, under one key, with different
/// plaintext (GCM would then leak the XOR of the two and let the server forge). The
/// upload is cut while chunks are in flight (the server took chunk 2 but the device was
/// told it failed), the file is changed with its size and modification time put back, and
/// the server then claims to hold no chunk at all.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resumed_uploads_never_seal_a_chunk_twice_with_other_content() {
    let (_server, p) = start().await;
    let Alice { mut a, .. } = alice(&p).await;
    let work = tempfile::tempdir().unwrap();
    let path = work.path().join("container.img");
    let mut bytes: Vec<u8> = (0..(12 << 20) + 5).map(|i| (i % 241) as u8).collect();
    std::fs::write(&path, &bytes).unwrap();
    let mtime = std::fs::metadata(&path).unwrap().modified().unwrap();
    let cut = |p: &Proxy| {
        p.tamper(|s, r| {
            if is_chunk_put(s) && s.path.ends_with("/chunks/2") {
                r.status = 503;
            }
        })
    };
    let claims_nothing = |p: &Proxy| {
        p.tamper(|s, r| {
            let status = s.method == "GET"
                && s.path.starts_with("/v1/blobs/")
                && !s.path.ends_with("/content");
            if status && r.status == 200 {
                let mut v = r.json();
                v["received"] = json!([]);
                r.set_json(&v);
            }
        })
    };

    // 1. Unchanged file, server claiming to hold nothing: every chunk goes up again, each
    //    with the very bytes it had (same key, same nonce, same plaintext).
    cut(&p);
    assert!(a.upload_file(&path).await.is_err());
    claims_nothing(&p);
    let up = a.upload_file(&path).await.unwrap();
    assert_eq!(up.chunks_sent, 13, "the server claimed to hold nothing");
    let resent = p
        .seen()
        .iter()
        .filter(|s| is_chunk_put(s) && s.path.ends_with("/chunks/0"))
        .count();
    assert_eq!(
        resent, 2,
        "chunk 0 went up once before the cut and once after"
    );
    assert_eq!(no_chunk_sent_twice_with_other_content(&p.seen()), 13);
    p.honest();
    let dest = work.path().join("back.img");
    a.download_file(up.item, &dest, false).await.unwrap();
    assert!(std::fs::read(&dest).unwrap() == bytes);

    // 2. Changed file, size and time put back, same lying server: the resumed upload finds
    //    the change before sending anything and starts afresh under a new key and blob.
    p.clear();
    cut(&p);
    assert!(a.upload_file(&path).await.is_err());
    for i in [0, 1 << 20, 2 << 20, 3 << 20, 5 << 20] {
        bytes[i + 7] ^= 0x5a;
    }
    std::fs::write(&path, &bytes).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
    claims_nothing(&p);
    let up = a.upload_file(&path).await.unwrap();
    assert_eq!(up.chunks_sent, 13, "a fresh upload sends every chunk");
    no_chunk_sent_twice_with_other_content(&p.seen());
    let blobs: std::collections::HashSet<_> = p
        .seen()
        .iter()
        .filter(|s| is_chunk_put(s))
        .map(|s| s.path.rsplit_once("/chunks/").unwrap().0.to_string())
        .collect();
    assert_eq!(blobs.len(), 2, "the changed file went to a new blob");
    p.honest();
    let dest = work.path().join("back2.img");
    a.download_file(up.item, &dest, false).await.unwrap();
    assert!(std::fs::read(&dest).unwrap() == bytes);
}

/// A download that a server breaks off part-way fails as "offline" and leaves no partial
/// plaintext behind (only a process killed mid-way leaves one, to resume).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_download_broken_off_leaves_no_plaintext() {
    let (_server, p) = start().await;
    let Alice { mut a, .. } = alice(&p).await;
    let work = tempfile::tempdir().unwrap();
    let path = work.path().join("secret.pdf");
    let content: Vec<u8> = (0..(4 << 20)).map(|i| (i % 239) as u8).collect();
    std::fs::write(&path, &content).unwrap();
    let item = a.upload_file(&path).await.unwrap().item;
    // The first two and a half sealed chunks, as the server holds them.
    let sealed = sealed_content(&p, &mut a, item, &work.path().join("first.out")).await;
    let head = sealed[..2 * CHUNK + CHUNK / 2].to_vec();
    p.forge_stream(is_content, krypt7_hostile::Forged::Broken { head });
    let dest = work.path().join("second.out");
    let err = a.download_file(item, &dest, false).await.unwrap_err();
    assert_eq!(err.code(), "offline", "{err}");
    assert!(!dest.exists());
    let left = partials(work.path());
    assert!(left.is_empty(), "{left:?} left behind");
    p.honest();
    a.download_file(item, &dest, false).await.unwrap();
    assert!(std::fs::read(&dest).unwrap() == content);
}
