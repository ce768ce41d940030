//! A 2 GiB file uploaded and downloaded in bounded memory. Its own test binary, so that the
//! process's peak resident memory (`VmHWM` in `/proc/self/status`) is this transfer's: the
//! client core and the server, both streaming chunk by chunk.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::io::{Read, Seek, SeekFrom, Write};

use krypt7_server::{Config, clock::Clock};

/// Peak resident memory of this process so far, in KiB.
fn peak_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

const SIZE: u64 = 2 << 30;
/// Bytes written at these offsets; the rest of the file is a hole (read as zeros).
const MARKS: [u64; 4] = [0, (1 << 30) - 3, (1 << 30) + 8, SIZE - 17];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_2_gib_file_goes_up_and_down_in_bounded_memory() {
    let work = tempfile::tempdir().unwrap();
    let mut config = Config::new(work.path().join("server"));
    config.listen = "127.0.0.1:0".parse().unwrap();
    config.quota_bytes = 4 << 30;
    let server = krypt7_server::start(config, Clock::default())
        .await
        .unwrap();
    let url = format!("https://localhost:{}", server.addr.port());
    let ca = std::fs::read(work.path().join("server/ca.pem")).unwrap();
    let mut c =
        krypt7_client::Client::open(&work.path().join("device"), Some(&url), Some(&ca)).unwrap();
    c.signup("alice", "correct horse battery", None, None)
        .await
        .unwrap();

    let src = work.path().join("big.bin");
    {
        let mut f = std::fs::File::create(&src).unwrap();
        f.set_len(SIZE).unwrap();
        for (i, at) in MARKS.iter().enumerate() {
            f.seek(SeekFrom::Start(*at)).unwrap();
            f.write_all(format!("mark{i}").as_bytes()).unwrap();
        }
    }
    let before = peak_kib();
    let up = c.upload_file(&src).await.unwrap();
    assert_eq!(up.chunks, 2048);
    let out = work.path().join("back.bin");
    // Downloaded (fingerprint checked by the client before the file is put in place).
    c.download_file(up.item, &out, false).await.unwrap();
    let peak = peak_kib();
    assert_eq!(std::fs::metadata(&out).unwrap().len(), SIZE);
    let mut f = std::fs::File::open(&out).unwrap();
    for (i, at) in MARKS.iter().enumerate() {
        let mut got = [0u8; 5];
        f.seek(SeekFrom::Start(*at)).unwrap();
        f.read_exact(&mut got).unwrap();
        assert_eq!(&got, format!("mark{i}").as_bytes());
    }
    // A 2 GiB round trip through client and server may not hold more than a few chunks
    // (1 MiB each) at a time: 64 MiB above where the process stood is a generous bound
    // that any whole-file buffering would break many times over.
    let grown_mib = (peak.saturating_sub(before)) / 1024;
    eprintln!("peak resident memory: {before} KiB before, {peak} KiB after (+{grown_mib} MiB)");
    assert!(
        grown_mib <= 64,
        "peak resident memory grew by {grown_mib} MiB during the transfer"
    );
    std::fs::remove_file(&out).unwrap();
    std::fs::remove_file(&src).unwrap();
    server.stop().await;
}
