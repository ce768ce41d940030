//! `cargo xtask bench [NAME…]`: each benchmark prints its figures beside its peer's, measured
//! in the same run, with the ratio and the target from the issue that set it.

use std::{
    path::{Path, PathBuf},
    process::Command,
    time::Instant,
};

use anyhow::{Context, Result, bail};

use crate::{sh, system};

pub fn run(args: &[String]) -> Result<()> {
    let names: Vec<&str> = if args.is_empty() {
        vec!["crypto", "server", "client", "files", "mail", "app"]
    } else {
        args.iter().map(String::as_str).collect()
    };
    // `app` takes the minutes of scripted use (default 10): `cargo xtask bench app 2`.
    let mut names = names.into_iter().peekable();
    while let Some(n) = names.next() {
        match n {
            "app" => {
                let minutes = match names.peek().and_then(|m| m.parse().ok()) {
                    Some(m) => {
                        names.next();
                        m
                    }
                    None => 10,
                };
                crate::e2e::bench_app(minutes)?
            }
            "crypto" => crypto()?,
            "server" => server()?,
            "client" => client(&[])?,
            "client-small" => client(&["--small"])?,
            "files" => files()?,
            "mail" => mail(&[])?,
            "mail-small" => mail(&["--small"])?,
            other => {
                bail!(
                    "unknown benchmark `{other}` (known: crypto, server, client, client-small, files, mail, mail-small, app [MINUTES])"
                )
            }
        }
    }
    Ok(())
}

const GIB: u64 = 1 << 30;
const ROUNDS: usize = 3;

/// Streaming AEAD vs rage on one 1 GiB file, single thread, plus OpenSSL's raw AES-256-GCM.
///
/// Inputs sit in the page cache (tmpfs when available) and outputs go to /dev/null for both
/// tools, so the figure is the tool's own streaming speed: on this kind of VM, allocating
/// pages for a 1 GiB output file costs ~2.7 s of kernel time (a plain `dd` manages
/// ~380 MB/s), which would swamp both tools equally. The ciphertexts that the decrypt runs
/// read are made beforehand, untimed. Each figure is the median of three rounds.
fn crypto() -> Result<()> {
    system::ensure_packages(system::BUILD)?;
    let rage = system::ensure_cargo_tool("rage", "rage", "0.12.1")?;
    let rage_keygen = rage.with_file_name("rage-keygen");
    sh::run(&mut sh::cmd(
        "cargo",
        &[
            "build",
            "--release",
            "--locked",
            "-p",
            "krypt7-crypto",
            "--example",
            "stream_file",
        ],
    ))?;
    let ours = sh::target_dir().join("release/examples/stream_file");

    let dir = scratch_dir()?;
    let input = dir.join("plain.bin");
    make_input(&input, GIB)?;
    let key_hex = "6b7279707437206265e63686d61726b206b65792c203332206279746573212121";
    let ours_ct = dir.join("plain.k7");
    let rage_ct = dir.join("plain.age");
    let identity = dir.join("rage-key.txt");
    let _ = std::fs::remove_file(&identity);
    sh::run(Command::new(&rage_keygen).arg("-o").arg(&identity))?;
    let recipient = std::fs::read_to_string(&identity)?
        .lines()
        .find_map(|l| l.strip_prefix("# public key: ").map(str::to_string))
        .context("rage-keygen wrote no public key")?;

    // Untimed: the ciphertexts the decrypt rounds read, and a correctness check of both.
    let r = run_ours(&ours, "encrypt", key_hex, &input, &ours_ct, "sha256")?;
    let expected_fp = sh::output(Command::new("sha256sum").arg(&input))?;
    anyhow::ensure!(
        expected_fp.starts_with(&r.sha256),
        "KRYPT7's fingerprint differs from sha256sum"
    );
    sh::run(
        Command::new(&rage)
            .args(["-e", "-r", &recipient, "-o"])
            .arg(&rage_ct)
            .arg(&input),
    )?;

    let null = Path::new("/dev/null");
    // Per round: KRYPT7 with the fingerprint (what files use), KRYPT7's AEAD alone, rage.
    let (mut fe, mut fd, mut ae, mut ad, mut re, mut rd, mut rss) =
        (vec![], vec![], vec![], vec![], vec![], vec![], vec![]);
    for round in 1..=ROUNDS {
        eprintln!("round {round}/{ROUNDS}");
        for (fp, enc, dec) in [("sha256", &mut fe, &mut fd), ("skip", &mut ae, &mut ad)] {
            let e = run_ours(&ours, "encrypt", key_hex, &input, null, fp)?;
            let d = run_ours(&ours, "decrypt", key_hex, &ours_ct, null, fp)?;
            anyhow::ensure!(d.bytes == GIB, "decryption did not return the whole input");
            if fp == "sha256" {
                anyhow::ensure!(d.sha256 == r.sha256, "decryption did not return the input");
            }
            enc.push(e.seconds);
            dec.push(d.seconds);
            rss.push(e.peak_above_baseline_kib.max(d.peak_above_baseline_kib));
        }
        re.push(time(
            Command::new(&rage)
                .args(["-e", "-r", &recipient, "-o", "/dev/null"])
                .arg(&input),
        )?);
        rd.push(time(
            Command::new(&rage)
                .arg("-d")
                .arg("-i")
                .arg(&identity)
                .args(["-o", "/dev/null"])
                .arg(&rage_ct),
        )?);
    }
    let (aes, sha) = (
        openssl_mbps("aes-256-gcm", "AES-256-GCM")?,
        openssl_mbps("sha256", "sha256")?,
    );
    let mbps = |secs: f64| GIB as f64 / 1e6 / secs;
    let both = |e: f64, d: f64| 2.0 * GIB as f64 / 1e6 / (e + d);
    let [fe, fd, ae, ad, re, rd] = [fe, fd, ae, ad, re, rd].map(median);
    let peak_mib = *rss.iter().max().unwrap_or(&0) as f64 / 1024.0;

    println!();
    println!(
        "crypto: streaming AEAD, 1 GiB, single thread (median of {ROUNDS}; inputs in page cache, outputs to /dev/null)"
    );
    println!(
        "| MB/s                | KRYPT7 AEAD | KRYPT7 AEAD+SHA-256 |  rage | AEAD/rage | +SHA/rage | target        |"
    );
    println!(
        "|---------------------|------------:|--------------------:|------:|----------:|----------:|---------------|"
    );
    for (name, a, f, r, target) in [
        ("encrypt", mbps(ae), mbps(fe), mbps(re), ""),
        ("decrypt", mbps(ad), mbps(fd), mbps(rd), ""),
        (
            "encrypt + decrypt",
            both(ae, ad),
            both(fe, fd),
            both(re, rd),
            "AEAD ≥ 2.00×",
        ),
    ] {
        println!(
            "| {name:<19} | {a:>11.0} | {f:>19.0} | {r:>5.0} | {:>8.2}× | {:>8.2}× | {target:<13} |",
            a / r,
            f / r
        );
    }
    println!();
    println!(
        "| reference (openssl speed, 1 MiB blocks) |  MB/s | KRYPT7 AEAD enc / dec share | target |"
    );
    println!(
        "|------------------------------------------|------:|-----------------------------|--------|"
    );
    println!(
        "| AES-256-GCM                              | {aes:>5.0} | {:>12.0}% / {:>12.0}% | ≥ 50%  |",
        100.0 * mbps(ae) / aes,
        100.0 * mbps(ad) / aes
    );
    println!(
        "| SHA-256 (bounds AEAD+SHA-256 from above) | {sha:>5.0} |                             |        |"
    );
    println!();
    // The same measurement on a 16 MiB file: memory must not grow with the file.
    let small = dir.join("small.bin");
    make_input(&small, 16 << 20)?;
    let small_ct = dir.join("small.k7");
    let e = run_ours(&ours, "encrypt", key_hex, &small, &small_ct, "sha256")?;
    let d = run_ours(&ours, "decrypt", key_hex, &small_ct, null, "sha256")?;
    let small_peak = e.peak_above_baseline_kib.max(d.peak_above_baseline_kib) as f64 / 1024.0;
    println!(
        "peak RSS above process baseline: {peak_mib:.1} MiB at 1 GiB, {small_peak:.1} MiB at 16 MiB \
         (target ≤ 32 MiB, independent of file size)"
    );
    Ok(())
}

/// The release server under 200 concurrent TLS clients, SQLite and PostgreSQL
/// (`crates/krypt7-server/examples/server_bench.rs` drives it and prints the table).
fn server() -> Result<()> {
    system::ensure_packages(&["wrk", "postgresql", "util-linux"])?;
    sh::run(&mut sh::cmd(
        "cargo",
        &[
            "build",
            "--release",
            "--locked",
            "-p",
            "krypt7-server",
            "--bin",
            "krypt7-server",
            "--example",
            "server_bench",
        ],
    ))?;
    let release = sh::target_dir().join("release");
    sh::run(
        Command::new(release.join("examples/server_bench"))
            .arg(release.join("krypt7-server"))
            .env("KRYPT7_PG_DURABLE", "1"),
    )
}

/// The client core (unlock, index, search, sync) at 10k and 100k items against a local
/// server, and `keepassxc-cli` opening and listing 10k entries under the same Argon2id
/// parameters (`crates/krypt7-bench/src/client.rs`).
fn client(args: &[&str]) -> Result<()> {
    system::ensure_packages(&["keepassxc"])?;
    build_bench_and_cli()?;
    sh::run(Command::new(sh::target_dir().join("release/client-bench")).args(args))
}

/// The mail search beside notmuch (`crates/krypt7-bench/src/mail.rs`).
fn mail(args: &[&str]) -> Result<()> {
    system::ensure_packages(&["notmuch", "python3-notmuch2"])?;
    build_bench_and_cli()?;
    sh::run(Command::new(sh::target_dir().join("release/mail-bench")).args(args))
}

struct OursRun {
    bytes: u64,
    seconds: f64,
    sha256: String,
    peak_above_baseline_kib: u64,
}

fn run_ours(
    bin: &Path,
    mode: &str,
    key: &str,
    input: &Path,
    output: &Path,
    fingerprint: &str,
) -> Result<OursRun> {
    let out = sh::output(
        Command::new(bin)
            .args([mode, key])
            .arg(input)
            .arg(output)
            .arg(fingerprint),
    )?;
    let field = |k: &str| -> Result<String> {
        out.split_whitespace()
            .find_map(|kv| {
                kv.strip_prefix(k)
                    .and_then(|v| v.strip_prefix('='))
                    .map(str::to_string)
            })
            .with_context(|| format!("stream_file printed no {k}: {out}"))
    };
    let baseline: u64 = field("baseline_kib")?.parse()?;
    let peak: u64 = field("peak_kib")?.parse()?;
    Ok(OursRun {
        bytes: field("plaintext_bytes")?.parse()?,
        seconds: field("seconds")?.parse()?,
        sha256: field("sha256")?,
        peak_above_baseline_kib: peak.saturating_sub(baseline),
    })
}

/// Wall-clock seconds of a successful run (process start-up included; ~1 ms of 1 GiB).
fn time(c: &mut Command) -> Result<f64> {
    let t = Instant::now();
    let status = c
        .status()
        .with_context(|| format!("could not start `{}`", sh::show(c)))?;
    let secs = t.elapsed().as_secs_f64();
    if !status.success() {
        bail!("`{}` failed ({status})", sh::show(c));
    }
    Ok(secs)
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn scratch_dir() -> Result<PathBuf> {
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    let dir = base.join("krypt7-bench");
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A 1 GiB input: random-looking bytes (a cheap xorshift stream; neither tool compresses).
fn make_input(path: &Path, len: u64) -> Result<()> {
    if std::fs::metadata(path)
        .map(|m| m.len() == len)
        .unwrap_or(false)
    {
        return Ok(());
    }
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path)?);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    let mut buf = vec![0u8; 1 << 20];
    for _ in 0..len / buf.len() as u64 {
        for c in buf.chunks_mut(8) {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            c.copy_from_slice(&x.to_le_bytes());
        }
        f.write_all(&buf)?;
    }
    f.flush()?;
    Ok(())
}

/// OpenSSL's own speed for `algo` on 1 MiB blocks (the near-limit of this CPU), in MB/s.
fn openssl_mbps(algo: &str, label: &str) -> Result<f64> {
    let out = sh::output(
        Command::new("openssl").args(["speed", "-seconds", "3", "-bytes", "1048576", "-evp", algo]),
    )?;
    let line = out
        .lines()
        .find(|l| l.split_whitespace().next() == Some(label))
        .with_context(|| format!("no {label} line from openssl speed"))?;
    let k: f64 = line
        .split_whitespace()
        .last()
        .and_then(|v| v.trim_end_matches('k').parse().ok())
        .context("openssl speed output")?;
    Ok(k / 1000.0) // openssl prints thousands of bytes per second
}

/// A 1 GiB file up and down through the real `krypt7` binary over loopback TLS, beside
/// `rage` on the same file (`crates/krypt7-bench/src/files.rs`); GNU `time` measures each
/// transfer's wall time and peak memory.
fn files() -> Result<()> {
    system::ensure_packages(&["time"])?;
    let rage = system::ensure_cargo_tool("rage", "rage", "0.12.1")?;
    build_bench_and_cli()?;
    let release = sh::target_dir().join("release");
    sh::run(
        Command::new(release.join("files-bench"))
            .arg(release.join("krypt7"))
            .arg(&rage)
            .arg(rage.with_file_name("rage-keygen")),
    )
}

/// The benchmark drivers and the `krypt7` binary they measure, in release mode.
fn build_bench_and_cli() -> Result<()> {
    sh::run(&mut sh::cmd(
        "cargo",
        &[
            "build",
            "--release",
            "--locked",
            "-p",
            "krypt7-bench",
            "-p",
            "krypt7-cli",
        ],
    ))
}
