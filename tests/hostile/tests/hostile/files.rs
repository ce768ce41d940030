//! Class 10: file tampering.

use super::*;

/// Sealed chunk size on the server: 1 MiB of plaintext and a 16-byte tag.
const CHUNK: usize = (1 << 20) + 16;

fn is_content(s: &Seen) -> bool {
    s.method == "GET" && s.path.starts_with("/v1/blobs/") && s.path.ends_with("/content")
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
    let other = {
        let got = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let keep = got.clone();
        p.tamper(move |s, r| {
            if is_content(s) {
                *keep.lock().unwrap() = r.body.clone();
            }
        });
        b.download_file(ids[1].0, &work.path().join("other.out"), false)
            .await
            .unwrap();
        let bytes = got.lock().unwrap().clone();
        assert_eq!(bytes.len(), 3 * 16 + (5 << 19));
        bytes
    };
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
    let partials = || -> Vec<std::path::PathBuf> {
        std::fs::read_dir(work.path())
            .unwrap()
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.to_string_lossy().ends_with(".krypt7-partial"))
            .collect()
    };
    for (what, attack) in attacks {
        // Each attack on a fresh download (a partial one would resume with a range).
        partials()
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
