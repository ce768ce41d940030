//! Watched folders: two devices' directories kept in step through the vault, with real
//! files and real file-system events.

use std::{path::Path, time::Duration};

use krypt7_client::{Client, folder::FolderReport};

use crate::{Server, two_devices};

fn write(dir: &Path, rel: &str, content: &[u8]) {
    let p = dir.join(rel);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

fn read(dir: &Path, rel: &str) -> Vec<u8> {
    std::fs::read(dir.join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every file's relative path under `dir` (hidden ones too: nothing half-written may stay).
fn listing(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            if e.file_type().unwrap().is_dir() {
                stack.push(e.path());
            } else {
                out.push(
                    e.path()
                        .strip_prefix(dir)
                        .unwrap()
                        .to_string_lossy()
                        .into_owned(),
                );
            }
        }
    }
    out.sort();
    out
}

async fn pass(c: &mut Client, dir: &Path) -> FolderReport {
    c.sync_folder(dir, "Documents", Duration::ZERO)
        .await
        .unwrap()
}

fn names(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_watched_folder_follows_both_sides_and_loses_nothing() {
    let server = Server::start().await;
    let (dirs, mut a, mut b, sk) = two_devices(&server).await;
    let (fa, fb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (fa, fb) = (fa.path(), fb.path());

    // Created on one side: uploaded there, written on the other (subfolders too).
    write(fa, "notes.txt", b"one");
    let big: Vec<u8> = (0..3_000_000u32).map(|i| (i % 251) as u8).collect();
    write(fa, "photos/trip.jpg", &big);
    let r = pass(&mut a, fa).await;
    assert_eq!(r.uploaded, names(&["notes.txt", "photos/trip.jpg"]));
    let r = pass(&mut b, fb).await;
    assert_eq!(r.downloaded, names(&["notes.txt", "photos/trip.jpg"]));
    assert_eq!(read(fb, "photos/trip.jpg"), big);
    assert_eq!(listing(fb), names(&["notes.txt", "photos/trip.jpg"]));
    // A second pass finds nothing to do, on either side.
    assert!(pass(&mut a, fa).await.is_empty());
    assert!(pass(&mut b, fb).await.is_empty());

    // Modified on the other side: a new version of the same item, written back here.
    write(fb, "notes.txt", b"two");
    assert_eq!(pass(&mut b, fb).await.updated, names(&["notes.txt"]));
    assert_eq!(pass(&mut a, fa).await.downloaded, names(&["notes.txt"]));
    assert_eq!(read(fa, "notes.txt"), b"two");
    let id = a
        .items()
        .unwrap()
        .into_iter()
        .find(|i| i.data.title == "notes.txt")
        .unwrap()
        .id;
    assert_eq!(
        a.history(id).unwrap().len(),
        1,
        "the first version is in its history"
    );

    // Deleted locally: the item goes to the vault's trash (restorable), and the file goes
    // from the other side.
    std::fs::remove_file(fa.join("photos/trip.jpg")).unwrap();
    assert_eq!(pass(&mut a, fa).await.trashed, names(&["photos/trip.jpg"]));
    let trashed = a
        .items()
        .unwrap()
        .into_iter()
        .find(|i| i.data.title == "photos/trip.jpg")
        .unwrap();
    assert!(trashed.data.trashed);
    assert_eq!(pass(&mut b, fb).await.removed, names(&["photos/trip.jpg"]));
    assert_eq!(listing(fb), names(&["notes.txt"]));

    // Renamed: the old name's item to the trash, the new name uploaded; the other side
    // follows.
    std::fs::rename(fb.join("notes.txt"), fb.join("renamed.txt")).unwrap();
    let r = pass(&mut b, fb).await;
    assert_eq!(
        (r.uploaded, r.trashed),
        (names(&["renamed.txt"]), names(&["notes.txt"]))
    );
    let r = pass(&mut a, fa).await;
    assert_eq!(
        (r.downloaded, r.removed),
        (names(&["renamed.txt"]), names(&["notes.txt"]))
    );
    assert_eq!(read(fa, "renamed.txt"), b"two");

    // A file still being written (modified just now) waits until it has settled.
    write(fa, "draft.txt", b"half");
    let r = a
        .sync_folder(fa, "Documents", Duration::from_secs(3600))
        .await
        .unwrap();
    assert_eq!((r.waiting, r.uploaded.len()), (names(&["draft.txt"]), 0));
    write(fa, "draft.txt", b"half and the rest");
    assert_eq!(pass(&mut a, fa).await.uploaded, names(&["draft.txt"]));
    pass(&mut b, fb).await;
    assert_eq!(read(fb, "draft.txt"), b"half and the rest");

    // Both sides change the same file before either syncs: nothing is overwritten. The
    // first to sync wins the name; the other keeps its version as a conflict copy, which
    // then reaches the first side too.
    write(fa, "draft.txt", b"version A");
    write(fb, "draft.txt", b"version B");
    assert_eq!(pass(&mut a, fa).await.updated, names(&["draft.txt"]));
    let r = pass(&mut b, fb).await;
    assert_eq!(r.conflicts.len(), 1, "{r:?}");
    let copy = r.conflicts[0].clone();
    assert!(
        copy.starts_with("draft (conflict ") && copy.ends_with(".txt"),
        "{copy}"
    );
    assert_eq!(read(fb, "draft.txt"), b"version A");
    assert_eq!(read(fb, &copy), b"version B");
    assert_eq!(pass(&mut a, fa).await.downloaded, vec![copy.clone()]);
    assert_eq!(read(fa, &copy), b"version B");
    assert_eq!(listing(fa), listing(fb));

    // A restart (a new client on the same cache) picks up what happened meanwhile.
    std::fs::remove_file(fb.join("renamed.txt")).unwrap();
    write(fb, "while-closed.txt", b"written while nothing watched");
    drop(b);
    let mut b = server.device(&dirs[1]);
    b.unlock("correct horse battery", &sk).unwrap();
    let r = pass(&mut b, fb).await;
    assert_eq!(
        (r.uploaded, r.trashed),
        (names(&["while-closed.txt"]), names(&["renamed.txt"]))
    );
    let r = pass(&mut a, fa).await;
    assert_eq!(
        (r.downloaded, r.removed),
        (names(&["while-closed.txt"]), names(&["renamed.txt"]))
    );
    assert_eq!(listing(fa), listing(fb));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_watcher_reacts_to_real_file_system_events_and_to_other_devices() {
    let server = Server::start().await;
    let (_dirs, a, mut b, _) = two_devices(&server).await;
    let (fa, fb) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let dir_a = fa.path().to_path_buf();
    let (reports, mut heard) = tokio::sync::mpsc::unbounded_channel();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let watcher = tokio::spawn(async move {
        let mut a = a;
        a.watch_folder(
            &dir_a,
            "Documents",
            Duration::from_millis(300),
            |r| {
                let _ = reports.send(r.as_ref().map_err(|e| e.to_string()).cloned());
            },
            async {
                let _ = stopped.await;
            },
        )
        .await
        .unwrap();
    });
    // Waits (generously: only so that a lost event fails instead of hanging) for a pass
    // that satisfies `want`.
    async fn until(
        heard: &mut tokio::sync::mpsc::UnboundedReceiver<Result<FolderReport, String>>,
        want: impl Fn(&FolderReport) -> bool,
    ) -> FolderReport {
        loop {
            let r = tokio::time::timeout(Duration::from_secs(60), heard.recv())
                .await
                .expect("no pass within a minute")
                .expect("the watcher stopped");
            if let Ok(r) = r
                && want(&r)
            {
                return r;
            }
        }
    }
    // The first pass happens at once (nothing to do yet).
    until(&mut heard, |r| r.is_empty()).await;

    // A file written in several pieces, with pauses shorter than the settle time: one
    // upload, of the whole file.
    {
        use std::io::Write;
        let mut f = std::fs::File::create(fa.path().join("report.txt")).unwrap();
        for part in 0..5 {
            writeln!(f, "part {part}").unwrap();
            f.flush().unwrap();
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    until(&mut heard, |r| r.uploaded == names(&["report.txt"])).await;
    pass(&mut b, fb.path()).await;
    assert_eq!(
        read(fb.path(), "report.txt"),
        b"part 0\npart 1\npart 2\npart 3\npart 4\n"
    );

    // Another device adds a file: the push channel brings it into the watched folder.
    write(fb.path(), "from-b.txt", b"hello from b");
    assert_eq!(
        pass(&mut b, fb.path()).await.uploaded,
        names(&["from-b.txt"])
    );
    until(&mut heard, |r| r.downloaded == names(&["from-b.txt"])).await;
    assert_eq!(read(fa.path(), "from-b.txt"), b"hello from b");

    // A local deletion: to the trash, and gone from the other device.
    std::fs::remove_file(fa.path().join("report.txt")).unwrap();
    until(&mut heard, |r| r.trashed == names(&["report.txt"])).await;
    assert_eq!(
        pass(&mut b, fb.path()).await.removed,
        names(&["report.txt"])
    );

    stop.send(()).unwrap();
    watcher.await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_settings_are_sealed_in_the_cache() {
    let server = Server::start().await;
    let dir = tempfile::tempdir().unwrap();
    let mut c = server.device(&dir);
    let sk = c
        .signup("alice", "correct horse battery", None, None)
        .await
        .unwrap();
    let setting = ("/home/alice/Tax-returns-canary-7f3a".to_string(), 3u8);
    assert_eq!(c.device_setting::<(String, u8)>("watched").unwrap(), None);
    c.set_device_setting("watched", Some(&setting)).unwrap();
    c.lock().unwrap();
    drop(c);
    // Nowhere in the cache's files in clear.
    for e in std::fs::read_dir(dir.path()).unwrap().flatten() {
        let bytes = std::fs::read(e.path()).unwrap_or_default();
        assert!(
            !bytes
                .windows(12)
                .any(|w| w == b"canary-7f3a\"" || w.starts_with(b"Tax-returns-")),
            "{} holds the setting in clear",
            e.path().display()
        );
    }
    let mut c = server.device(&dir);
    assert!(
        c.device_setting::<(String, u8)>("watched").is_err(),
        "locked"
    );
    c.unlock("correct horse battery", &sk).unwrap();
    assert_eq!(c.device_setting("watched").unwrap(), Some(setting));
    c.set_device_setting::<(String, u8)>("watched", None)
        .unwrap();
    assert_eq!(c.device_setting::<(String, u8)>("watched").unwrap(), None);
}

/// Everything under `root`, not following links: each path with what it is (a file's
/// content, a link's target, a folder).
fn tree(root: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(d).unwrap().flatten() {
            let (path, kind) = (e.path(), e.file_type().unwrap());
            let what = if kind.is_symlink() {
                format!("link to {}", std::fs::read_link(&path).unwrap().display())
            } else if kind.is_dir() {
                stack.push(path.clone());
                "folder".to_string()
            } else {
                format!("{:?}", std::fs::read(&path).unwrap())
            };
            let rel = path
                .strip_prefix(root)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            out.push((rel, what));
        }
    }
    out.sort();
    out
}

/// Titles chosen by someone else (a collaborator, a server that renames) must never make a
/// watched folder write or remove anything outside it, nor through a link inside it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watched_folder_names_never_escape_the_folder() {
    let server = Server::start().await;
    let (_dirs, mut a, mut b, _sk) = two_devices(&server).await;
    let root = tempfile::tempdir().unwrap();
    let root = root.path();
    let watched = root.join("home/user/watched");
    std::fs::create_dir_all(&watched).unwrap();
    write(root, "outside/victim.txt", b"keep me");
    write(root, "outside/target.txt", b"keep me too");
    std::os::unix::fs::symlink(root.join("outside"), watched.join("link")).unwrap();
    std::os::unix::fs::symlink(root.join("outside/target.txt"), watched.join("ln.txt")).unwrap();
    let src = tempfile::tempdir().unwrap();
    write(src.path(), "payload.bin", b"payload");
    let absolute = format!("{}/outside/abs.txt", root.display());
    let titles = [
        "../../.config/autostart/x.desktop",
        "/etc/x",
        absolute.as_str(),
        "a/../../b",
        "../outside/victim.txt",
        "C:\\x",
        "nul\0byte.txt",
        "link/evil.txt",
        "link/victim.txt",
        "ln.txt",
        "con.txt",
        ".hidden",
        "fine.txt",
    ];
    for title in titles {
        let id = a
            .upload_file(&src.path().join("payload.bin"))
            .await
            .unwrap()
            .item;
        let mut d = a.item(id).unwrap().data;
        d.title = title.to_string();
        d.folder = Some("Documents".into());
        a.edit_item(id, d).unwrap();
    }
    a.sync().await.unwrap();
    let before = tree(root);
    assert!(!Path::new("/etc/x").exists());

    let r = pass(&mut b, &watched).await;
    assert_eq!(r.downloaded, names(&["fine.txt"]));
    assert_eq!(r.refused.len(), titles.len() - 1, "{:?}", r.refused);
    for title in &titles[..titles.len() - 1] {
        assert!(
            r.refused
                .iter()
                .any(|x| x.starts_with(&format!("{title:?}: "))),
            "{title:?} not reported: {:?}",
            r.refused
        );
    }
    // Nothing outside the folder, nor through its links, was created, changed or removed;
    // inside, only the one safe name was written.
    let mut expected = before.clone();
    expected.push((
        "home/user/watched/fine.txt".into(),
        format!("{:?}", b"payload"),
    ));
    expected.sort();
    assert_eq!(tree(root), expected);
    assert!(!Path::new("/etc/x").exists());
    // A second pass still refuses them, and still touches nothing.
    let r = pass(&mut b, &watched).await;
    assert_eq!(r.refused.len(), titles.len() - 1);
    assert_eq!(tree(root), expected);
}
