//! `cargo xtask bench server`: the release server under 200 concurrent TLS clients (wrk), on
//! SQLite and on PostgreSQL. Prints change-feed reads/s and item pushes/s with p50/p99
//! latency, and the server's RSS idle and at peak.
//!
//! `KRYPT7_PG_DURABLE=1 cargo run --release -p krypt7-server --example server_bench -- SERVER_BINARY`
//! (xtask sets the variable: PostgreSQL then keeps fsync on, as SQLite runs synchronous=FULL).

#![allow(clippy::unwrap_used, dead_code)] // a benchmark driver: a panic is its error report

#[path = "../tests/server/harness.rs"]
mod harness;
#[path = "../tests/server/pg.rs"]
mod pg;

use std::{
    io::BufRead,
    process::{Child, Command, Stdio},
};

use serde_json::json;

const CONNECTIONS: u32 = 200;
const SECONDS: u32 = 10;
const SEED_ITEMS: usize = 1000;
/// The rate the target names: 3,000 change-feed requests per second.
const PACED_RPS: u32 = 3000;

struct Run {
    rps: f64,
    p50_ms: f64,
    p99_ms: f64,
    errors: u64,
}

fn status_kib(pid: u32, field: &str) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// wrk's latency figures ("812.00us", "1.23ms", "1.01s") in milliseconds.
fn ms(v: &str) -> f64 {
    let (num, unit) = v.split_at(v.find(|c: char| c.is_ascii_alphabetic()).unwrap_or(v.len()));
    let n: f64 = num.parse().unwrap_or(f64::NAN);
    match unit {
        "us" => n / 1000.0,
        "ms" => n,
        "s" => n * 1000.0,
        _ => f64::NAN,
    }
}

fn wrk(url: &str, token: &str, script: Option<&std::path::Path>) -> Run {
    let mut c = Command::new("wrk");
    c.args([
        "-t2",
        &format!("-c{CONNECTIONS}"),
        &format!("-d{SECONDS}s"),
        "--latency",
        "-H",
        &format!("Authorization: Bearer {token}"),
    ]);
    if let Some(s) = script {
        c.arg("-s").arg(s);
    }
    let out = c
        .arg(url)
        .output()
        .expect("wrk is installed (cargo xtask bench installs it)");
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "wrk failed: {text}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let find = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find(|l| l.starts_with(prefix))
            .map(|l| l[prefix.len()..].trim().to_string())
    };
    let socket_errors = find("Socket errors:").map_or(0, |line| {
        eprintln!("wrk {url}: socket errors: {line}");
        line.split(|c: char| !c.is_ascii_digit())
            .filter_map(|n| n.parse::<u64>().ok())
            .sum()
    });
    Run {
        rps: find("Requests/sec:").unwrap().parse().unwrap(),
        p50_ms: ms(&find("50%").unwrap()),
        p99_ms: ms(&find("99%").unwrap()),
        errors: find("Non-2xx or 3xx responses:").map_or(0, |v| v.parse().unwrap()) + socket_errors,
    }
}

/// Open-loop load: `conns` connections (one client each) share `rps` requests per second on a
/// fixed schedule for `secs`; each latency runs from the request's scheduled time to its
/// complete response, so a stalled server cannot hide its queueing (no coordinated omission).
/// Each connection is opened (TLS handshake) by one unmeasured request before the run: the
/// figure is for 200 connected clients, not for 200 handshakes.
async fn open_loop(url: &str, token: &str, ca_pem: &[u8], rps: u32, conns: u32, secs: u32) -> Run {
    let per_conn = std::time::Duration::from_secs_f64(conns as f64 / rps as f64);
    let mut clients = Vec::new();
    for _ in 0..conns {
        let client = reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(ca_pem).unwrap())
            .pool_max_idle_per_host(1)
            .build()
            .unwrap();
        let warm = client.get(url).bearer_auth(token).send().await.unwrap();
        assert!(warm.status().is_success());
        warm.bytes().await.unwrap();
        clients.push(client);
    }
    let start = tokio::time::Instant::now() + std::time::Duration::from_millis(500);
    let end = start + std::time::Duration::from_secs(secs as u64);
    let mut tasks = Vec::new();
    for (c, client) in clients.into_iter().enumerate() {
        let (url, token) = (url.to_string(), token.to_string());
        // Spread the connections' phases evenly over one period.
        let mut due = start + per_conn.mul_f64(c as f64 / conns as f64);
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut errors) = (Vec::new(), 0u64);
            while due < end {
                tokio::time::sleep_until(due).await;
                let ok = match client.get(&url).bearer_auth(&token).send().await {
                    Ok(r) => r.status().is_success() && r.bytes().await.is_ok(),
                    Err(_) => false,
                };
                if ok {
                    lat.push(due.elapsed().as_secs_f64() * 1000.0);
                } else {
                    errors += 1;
                }
                due += per_conn;
            }
            (lat, errors)
        }));
    }
    let (mut all, mut errors) = (Vec::new(), 0);
    for t in tasks {
        let (l, e) = t.await.unwrap();
        all.extend(l);
        errors += e;
    }
    all.sort_by(f64::total_cmp);
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    Run {
        rps: all.len() as f64 / secs as f64,
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        errors,
    }
}

/// How long another device waits to hear of a write: a second session listens on
/// `/v1/events` while this one pushes 100 items, one at a time.
async fn notification_latency(
    r: &harness::Remote,
    token: &str,
    listener: &str,
    vault: uuid::Uuid,
) -> (f64, f64) {
    use futures_util::StreamExt;
    let resp = r
        .client()
        .get(format!("{}/v1/events", r.base))
        .bearer_auth(listener)
        .send()
        .await
        .unwrap();
    let mut events = resp.bytes_stream();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    let mut lat = Vec::new();
    for _ in 0..100 {
        // From the moment the write is sent (the event may beat the write's own response).
        let written = std::time::Instant::now();
        let (_, v) = r
            .put(
                format!("/v1/items/{}", uuid::Uuid::new_v4()),
                token,
                json!({"vault_id": vault, "base_revision": 0, "envelope": "AAAA"}),
            )
            .await;
        let want = format!("\"cursor\":{}", v["cursor"]);
        let mut got = String::new();
        while !got.contains(&want) {
            let chunk = tokio::time::timeout(std::time::Duration::from_secs(5), events.next())
                .await
                .expect("no event")
                .unwrap()
                .unwrap();
            got.push_str(&String::from_utf8_lossy(&chunk));
        }
        lat.push(written.elapsed().as_secs_f64() * 1000.0);
    }
    lat.sort_by(f64::total_cmp);
    (lat[49], lat[98])
}

struct Server {
    child: Child,
    remote: harness::Remote,
    _dir: tempfile::TempDir,
}

fn start_server(bin: &str, db_url: Option<&str>) -> Server {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let mut c = Command::new(bin);
    // Writes go one item at a time (PUT /v1/items), which only a load test turns on.
    c.args([
        "serve",
        "--raw-item-writes",
        "--listen",
        "127.0.0.1:0",
        "--data-dir",
    ])
    .arg(&data)
    .env("KRYPT7_LOG", "warn")
    .stdout(Stdio::piped());
    if let Some(u) = db_url {
        c.args(["--database-url", u]);
    }
    let mut child = c.spawn().unwrap();
    let mut lines = std::io::BufReader::new(child.stdout.take().unwrap()).lines();
    let port = loop {
        let l = lines.next().expect("server exited").unwrap();
        if let Some(a) = l.strip_prefix("krypt7-server: listening on https://") {
            break a.rsplit(':').next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || lines.for_each(drop));
    let ca_pem = std::fs::read(data.join("ca.pem")).unwrap();
    Server {
        child,
        remote: harness::Remote {
            base: format!("https://localhost:{port}"),
            ca_pem,
            from: None,
            forwarded_for: None,
        },
        _dir: dir,
    }
}

struct Row {
    backend: &'static str,
    reads: Run,
    paced: Run,
    pushes: Run,
    /// Push channel: (p50, p99) ms from sending a write to the event on another device.
    notify: (f64, f64),
    idle_mib: f64,
    peak_mib: f64,
}

/// Each request creates a new item (ids unique per wrk thread and request).
const PUSH_LUA: &str = r#"
local next_id = 1
function setup(thread) thread:set("tid", next_id); next_id = next_id + 1 end
local n = 0
local body = '{"vault_id":"VAULT","base_revision":0,"envelope":"' .. string.rep("QUFB", 100) .. '"}'
request = function()
  n = n + 1
  local id = string.format("00000000-0000-4000-8000-%04x%08x", tid, n)
  -- A headers table replaces wrk's -H headers, so the token goes here too.
  return wrk.format("PUT", "/v1/items/" .. id, {["Content-Type"] = "application/json", ["Authorization"] = "Bearer TOKEN"}, body)
end
"#;

async fn bench(bin: &str, backend: &'static str, db_url: Option<&str>) -> Row {
    let mut server = start_server(bin, db_url);
    let r = &server.remote;
    let user = r.register("bench", "bench-password-1").await;
    let vault = uuid::Uuid::new_v4();
    let mut cursor = 0;
    for i in 0..SEED_ITEMS {
        let body = json!({"vault_id": vault, "base_revision": 0, "envelope": krypt7_protocol::B64(vec![i as u8; 300])});
        let (st, v) = r
            .put(
                format!("/v1/items/{}", uuid::Uuid::new_v4()),
                &user.token,
                body,
            )
            .await;
        assert!(st.is_success(), "{v}");
        cursor = v["cursor"].as_i64().unwrap();
    }
    let other_device = r
        .login("bench", "bench-password-1", &user.secret_key)
        .await
        .unwrap();
    let notify = notification_latency(r, &user.token, &other_device, vault).await;
    let pid = server.child.id();
    let idle = status_kib(pid, "VmRSS:");
    // A device catching up on the last 10 changes: the common incremental poll.
    let feed = format!("{}/v1/changes?since={}&limit=10", r.base, cursor - 10);
    let reads = wrk(&feed, &user.token, None);
    let paced = open_loop(
        &feed,
        &user.token,
        &r.ca_pem,
        PACED_RPS,
        CONNECTIONS,
        SECONDS,
    )
    .await;
    let script = std::env::temp_dir().join(format!("krypt7-push-{}.lua", std::process::id()));
    std::fs::write(
        &script,
        PUSH_LUA
            .replace("VAULT", &vault.to_string())
            .replace("TOKEN", &user.token),
    )
    .unwrap();
    let pushes = wrk(&format!("{}/", r.base), &user.token, Some(&script));
    let _ = std::fs::remove_file(&script);
    let peak = status_kib(pid, "VmHWM:");
    server.child.kill().unwrap();
    server.child.wait().unwrap();
    Row {
        backend,
        reads,
        paced,
        pushes,
        notify,
        idle_mib: idle as f64 / 1024.0,
        peak_mib: peak as f64 / 1024.0,
    }
}

#[tokio::main]
async fn main() {
    let bin = std::env::args()
        .nth(1)
        .expect("usage: server_bench PATH_TO_KRYPT7_SERVER");
    let sqlite = bench(&bin, "SQLite", None).await;
    let url = pg::fresh_database();
    let postgres = bench(&bin, "PostgreSQL", Some(&url)).await;
    println!();
    println!(
        "server: {CONNECTIONS} concurrent TLS clients on loopback, {SECONDS} s per run, load generator on the same 2 cores, durable storage"
    );
    println!(
        "| backend    | feed at {PACED_RPS}/s: done/s | p50 ms | p99 ms | feed max (wrk) req/s | p50 ms | p99 ms | pushes/s (wrk) | p50 ms | p99 ms | RSS idle | RSS peak | errors |"
    );
    println!(
        "|------------|--------------------:|-------:|-------:|---------------------:|-------:|-------:|---------------:|-------:|-------:|---------:|---------:|-------:|"
    );
    for r in [&sqlite, &postgres] {
        println!(
            "| {:<10} | {:>19.0} | {:>6.2} | {:>6.2} | {:>20.0} | {:>6.2} | {:>6.2} | {:>14.0} | {:>6.2} | {:>6.2} | {:>4.1} MiB | {:>4.1} MiB | {:>6} |",
            r.backend,
            r.paced.rps,
            r.paced.p50_ms,
            r.paced.p99_ms,
            r.reads.rps,
            r.reads.p50_ms,
            r.reads.p99_ms,
            r.pushes.rps,
            r.pushes.p50_ms,
            r.pushes.p99_ms,
            r.idle_mib,
            r.peak_mib,
            r.paced.errors + r.reads.errors + r.pushes.errors
        );
    }
    for r in [&sqlite, &postgres] {
        println!(
            "push channel, {}: another device hears of a write (from sending it) after p50 {:.2} ms, p99 {:.2} ms (target: within 1 s)",
            r.backend, r.notify.0, r.notify.1
        );
    }
    println!(
        "target (SQLite): ≥ 3000 change-feed req/s with p99 ≤ 25 ms (the paced run); PostgreSQL reported beside it"
    );
    println!(
        "(wrk is closed-loop: each of the 200 connections sends as soon as its last answer arrives, so its latency is 200 / throughput.)"
    );
}
