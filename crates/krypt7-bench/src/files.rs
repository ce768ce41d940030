//! `cargo xtask bench files`: a 1 GiB file uploaded and downloaded by the real `krypt7`
//! binary over loopback TLS to a local server, beside `rage` encrypting and decrypting the
//! same file, in the same run. Usage: `files-bench KRYPT7 RAGE RAGE_KEYGEN` (xtask passes
//! the paths). Each transfer runs under GNU `time` for its wall time and peak memory.

use std::{
    io::Write,
    path::{Path, PathBuf},
    process::{Command, Stdio},
};

use krypt7_server::{Config, clock::Clock};

type R<T> = Result<T, Box<dyn std::error::Error>>;

const GIB: u64 = 1 << 30;
const PASSWORD: &str = "correct horse battery staple";
const ROUNDS: usize = 3;

/// mimalloc, as in the client binaries.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Wall seconds and peak resident KiB of one command (GNU `time`), and its standard output.
fn timed(cmd: &mut Command) -> R<(f64, u64, String)> {
    let mut t = Command::new("/usr/bin/time");
    t.args(["-f", "TIMED %e %M"])
        .arg(cmd.get_program())
        .args(cmd.get_args())
        .envs(cmd.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = t.spawn()?;
    drop(child.stdin.take());
    let out = child.wait_with_output()?;
    let err = String::from_utf8_lossy(&out.stderr);
    if !out.status.success() {
        return Err(format!("{:?} failed: {err}", cmd.get_program()).into());
    }
    let line = err
        .lines()
        .rev()
        .find_map(|l| l.strip_prefix("TIMED "))
        .ok_or("GNU time printed nothing")?;
    let mut parts = line.split_whitespace();
    let secs: f64 = parts.next().ok_or("no time")?.parse()?;
    let kib: u64 = parts.next().ok_or("no memory")?.parse()?;
    Ok((secs, kib, String::from_utf8_lossy(&out.stdout).into_owned()))
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn scratch() -> R<tempfile::TempDir> {
    // RAM-backed when possible: the disk of a VM would be measured, not the tools.
    let shm = Path::new("/dev/shm");
    Ok(if shm.is_dir() {
        tempfile::tempdir_in(shm)?
    } else {
        tempfile::tempdir()?
    })
}

/// 1 GiB of incompressible bytes (one random MiB, each copy varied).
fn make_input(path: &Path) -> R<()> {
    let mut block = vec![0u8; 1 << 20];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut block)
        .map_err(|_| "no randomness")?;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    for i in 0..(GIB >> 20) {
        block[..8].copy_from_slice(&i.to_le_bytes());
        f.write_all(&block)?;
    }
    f.flush()?;
    Ok(())
}

fn krypt7(bin: &Path, dir: &Path, env: &[(&str, &str)], args: &[&str], stdin: &str) -> R<String> {
    let mut c = Command::new(bin);
    c.arg("--json")
        .arg("--data-dir")
        .arg(dir)
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = c.spawn()?;
    child
        .stdin
        .take()
        .ok_or("no stdin")?
        .write_all(stdin.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(format!("krypt7 {args:?}: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn field(json: &str, key: &str) -> R<String> {
    let v: serde_json::Value = serde_json::from_str(json.trim())?;
    Ok(v[key]
        .as_str()
        .ok_or(format!("no {key} in {json}"))?
        .to_string())
}

#[tokio::main]
async fn main() -> R<()> {
    let args: Vec<PathBuf> = std::env::args().skip(1).map(PathBuf::from).collect();
    let [bin, rage, rage_keygen] = args.as_slice() else {
        return Err("usage: files-bench KRYPT7 RAGE RAGE_KEYGEN".into());
    };
    let work = scratch()?;
    let mut config = Config::new(work.path().join("server"));
    config.listen = "127.0.0.1:0".parse()?;
    config.quota_bytes = 8 * GIB as i64;
    let server = krypt7_server::start(config, Clock::default()).await?;
    let url = format!("https://localhost:{}", server.addr.port());
    let ca = work.path().join("server/ca.pem");
    let ca = ca.to_str().ok_or("path")?;
    let device = work.path().join("device");
    let base = [("KRYPT7_SERVER", url.as_str()), ("KRYPT7_CA", ca)];

    let sk = field(
        &krypt7(
            bin,
            &device,
            &base,
            &["signup", "--username", "bench", "--password-stdin"],
            PASSWORD,
        )?,
        "secret_key",
    )?;
    let session = field(
        &krypt7(
            bin,
            &device,
            &[("KRYPT7_SECRET_KEY", sk.as_str())],
            &["unlock", "--password-stdin"],
            PASSWORD,
        )?,
        "session",
    )?;
    let input = work.path().join("input.bin");
    eprintln!("making a 1 GiB input…");
    make_input(&input)?;
    let identity = work.path().join("rage-key.txt");
    let out = Command::new(rage_keygen)
        .arg("-o")
        .arg(&identity)
        .output()?;
    if !out.status.success() {
        return Err("rage-keygen failed".into());
    }
    let recipient = std::fs::read_to_string(&identity)?
        .lines()
        .find_map(|l| l.strip_prefix("# public key: ").map(str::to_string))
        .ok_or("rage-keygen wrote no public key")?;
    let rage_ct = work.path().join("input.age");
    let st = Command::new(rage)
        .args(["-e", "-r", &recipient, "-o"])
        .arg(&rage_ct)
        .arg(&input)
        .status()?;
    if !st.success() {
        return Err("rage failed".into());
    }

    // rage writes its output twice: to a file in the same RAM disk (the same work as a
    // transfer, whose output is a new file too) and to /dev/null (no output at all).
    let (mut up, mut down, mut up_rss, mut down_rss) = (vec![], vec![], 0u64, 0u64);
    let (mut re_file, mut rd_file, mut re_null, mut rd_null) = (vec![], vec![], vec![], vec![]);
    let rage_out = work.path().join("rage.out");
    for round in 1..=ROUNDS {
        eprintln!("round {round}/{ROUNDS}");
        let mut put = Command::new(bin);
        put.arg("--json")
            .arg("--data-dir")
            .arg(&device)
            .args(["file", "put"])
            .arg(&input)
            .env("KRYPT7_SESSION", &session);
        let (secs, kib, stdout) = timed(&mut put)?;
        up.push(secs);
        up_rss = up_rss.max(kib);
        let id = {
            let v: serde_json::Value = serde_json::from_str(stdout.trim())?;
            v["id"].as_str().ok_or("no id")?.to_string()
        };
        let back = work.path().join("back.bin");
        let _ = std::fs::remove_file(&back);
        let mut get = Command::new(bin);
        get.arg("--json")
            .arg("--data-dir")
            .arg(&device)
            .args(["file", "get", &id, "--out"])
            .arg(&back)
            .env("KRYPT7_SESSION", &session);
        let (secs, kib, _) = timed(&mut get)?;
        down.push(secs);
        down_rss = down_rss.max(kib);
        if std::fs::metadata(&back)?.len() != GIB {
            return Err("the download is not the whole file".into());
        }
        std::fs::remove_file(&back)?;
        // Delete the item and its content, so rounds do not fill the store.
        krypt7(
            bin,
            &device,
            &[("KRYPT7_SESSION", session.as_str())],
            &["item", "purge", "--yes", &id],
            "",
        )?;
        for (out, re, rd) in [
            (rage_out.as_path(), &mut re_file, &mut rd_file),
            (Path::new("/dev/null"), &mut re_null, &mut rd_null),
        ] {
            let (secs, _, _) = timed(
                Command::new(rage)
                    .args(["-e", "-r", &recipient, "-o"])
                    .arg(out)
                    .arg(&input),
            )?;
            re.push(secs);
            let _ = std::fs::remove_file(&rage_out);
            let (secs, _, _) = timed(
                Command::new(rage)
                    .arg("-d")
                    .arg("-i")
                    .arg(&identity)
                    .arg("-o")
                    .arg(out)
                    .arg(&rage_ct),
            )?;
            rd.push(secs);
            let _ = std::fs::remove_file(&rage_out);
        }
    }
    server.stop().await;
    let mbps = |s: f64| GIB as f64 / 1e6 / s;
    let [up, down, re_file, rd_file, re_null, rd_null] =
        [up, down, re_file, rd_file, re_null, rd_null].map(|v| mbps(median(v)));
    let ok = |b: bool| if b { "ok" } else { "MISSED" };
    println!();
    println!(
        "files: 1 GiB through the `krypt7` binary over loopback TLS to a local server (median of {ROUNDS}; server store and files in RAM)"
    );
    println!(
        "target: each way ≥ 0.50× rage 0.12's local encrypt, writing its output to a file in the same RAM disk as the transfers write theirs"
    );
    println!(
        "| measure | KRYPT7 | rage encrypt → file | ratio | target | | rage encrypt → /dev/null | ratio |"
    );
    println!("|---|---:|---:|---:|---:|---|---:|---:|");
    for (what, v) in [
        ("upload (`krypt7 file put`), MB/s", up),
        (
            "download (`krypt7 file get`, fingerprint checked), MB/s",
            down,
        ),
    ] {
        println!(
            "| {what} | {v:.0} | {re_file:.0} | {:.2}× | ≥ 0.50× | {} | {re_null:.0} | {:.2}× |",
            v / re_file,
            ok(v / re_file >= 0.5),
            v / re_null,
        );
    }
    println!("| rage decrypt (reference), MB/s | | {rd_file:.0} | | | | {rd_null:.0} | |");
    for (what, kib) in [("upload", up_rss), ("download", down_rss)] {
        let mib = kib as f64 / 1024.0;
        println!(
            "| peak client RSS, {what} | {mib:.1} MiB | | | ≤ 64 MiB | {} | | |",
            ok(mib <= 64.0)
        );
    }
    Ok(())
}
