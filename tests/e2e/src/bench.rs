//! `cargo xtask bench app`: the real desktop app (release build) under Xvfb with a
//! 10,000-item vault on a real local server:
//! - start to the unlock screen painted (the UI reports two animation frames after it
//!   mounts, through the `mark` command): once with the page cache dropped (when root),
//!   then five more times;
//! - unlock to the first list paint, five times (lock reloads the page in between);
//! - resident memory of the app and its WebKit processes after unlock, then each minute
//!   of scripted use (search, open items, scroll, switch sections, lock and unlock);
//! - the size of the `.deb`.
//!
//! Usage (under Xvfb and a D-Bus session with a Secret Service):
//! `krypt7-app-bench <app binary> <.deb> <minutes>`.

use std::{
    ffi::OsStr,
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{Context, Result, bail};
use krypt7_client::{Client, ItemData, ItemKind};
use krypt7_e2e::{Ui, free_port, open_app, start_server};

const PASSWORD: &str = "correct horse battery staple";
const ITEMS: usize = 10_000;
const ROUNDS: usize = 5;

/// The `name` marks in the marks file, as Unix milliseconds, oldest first.
fn marks(file: &Path, name: &str) -> Vec<u128> {
    std::fs::read_to_string(file)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| l.split_once(' '))
        .filter(|(n, _)| *n == name)
        .filter_map(|(_, t)| t.trim().parse().ok())
        .collect()
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or_default()
}

/// Waits for the `count`-th `name` mark.
async fn wait_mark(file: &Path, name: &str, count: usize) -> Result<u128> {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Some(&t) = marks(file, name).get(count - 1) {
            return Ok(t);
        }
        if Instant::now() > deadline {
            bail!("the app never reported {name} (#{count})");
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// Processes whose parent is `pid`, and theirs.
fn descendants(pid: u32) -> Vec<u32> {
    let mut parents = vec![];
    for e in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
        // pid (comm) state ppid …: comm may hold spaces, so read after the last ')'.
        if let Some(ppid) = stat
            .rsplit_once(')')
            .and_then(|(_, rest)| rest.split_whitespace().nth(1))
            .and_then(|s| s.parse::<u32>().ok())
        {
            parents.push((p, ppid));
        }
    }
    let mut out = vec![pid];
    let mut i = 0;
    while i < out.len() {
        let p = out[i];
        out.extend(parents.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    out
}

/// One `kB` figure from a /proc file.
fn proc_kb(path: &str, key: &str) -> u64 {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .find_map(|l| l.strip_prefix(key))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// RSS and PSS (MB) of `pid` and every process under it, and each one's name with its
/// RSS and PSS.
fn memory(pid: u32) -> (f64, f64, Vec<String>) {
    let (mut rss, mut pss, mut names) = (0, 0, vec![]);
    for p in descendants(pid) {
        let (r, s) = (
            proc_kb(&format!("/proc/{p}/status"), "VmRSS:"),
            proc_kb(&format!("/proc/{p}/smaps_rollup"), "Pss:"),
        );
        rss += r;
        pss += s;
        let name = std::fs::read_to_string(format!("/proc/{p}/comm")).unwrap_or_default();
        names.push(format!("{} {}/{} MB", name.trim(), r / 1024, s / 1024));
    }
    (rss as f64 / 1024.0, pss as f64 / 1024.0, names)
}

/// Where one process's resident memory is: its largest mappings (RSS, MB), heap and
/// anonymous memory included, for finding what to shrink.
fn breakdown(pid: u32) -> String {
    let smaps = std::fs::read_to_string(format!("/proc/{pid}/smaps")).unwrap_or_default();
    let mut by: std::collections::BTreeMap<String, u64> = Default::default();
    let mut name = String::new();
    for l in smaps.lines() {
        if let Some(kb) = l.strip_prefix("Rss:") {
            let kb: u64 = kb.trim().trim_end_matches(" kB").parse().unwrap_or(0);
            *by.entry(name.clone()).or_default() += kb;
        } else if l
            .split_whitespace()
            .next()
            .is_some_and(|f| f.contains('-') && !f.ends_with(':'))
        {
            name = l
                .split_whitespace()
                .nth(5)
                .unwrap_or("[anonymous]")
                .to_string();
        }
    }
    let mut v: Vec<_> = by.into_iter().collect();
    v.sort_by_key(|e| std::cmp::Reverse(e.1));
    v.iter()
        .take(6)
        .map(|(n, kb)| format!("{} {} MB", n.rsplit('/').next().unwrap_or(n), kb / 1024))
        .collect::<Vec<_>>()
        .join(", ")
}

/// The newest process running `exe`.
fn find_process(exe: &Path) -> Option<u32> {
    let exe = exe.canonicalize().ok()?;
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .filter_map(|e| e.file_name().to_string_lossy().parse::<u32>().ok())
        .filter(|p| std::fs::read_link(format!("/proc/{p}/exe")).ok().as_ref() == Some(&exe))
        .max()
}

/// The vault: 10,000 logins made through the client library on the app's data directory,
/// pushed to the server, the Secret Key kept in the keychain (unlock takes the password).
async fn make_vault(data: &Path, url: &str, ca: &[u8]) -> Result<()> {
    let mut c = Client::open(data, Some(url), Some(ca))?;
    let sk = c.signup("bench", PASSWORD, None, None).await?;
    c.remember_secret_key(&sk)?;
    let words = [
        "bank", "mail", "shop", "cloud", "forum", "news", "travel", "work",
    ];
    for chunk in (0..ITEMS).collect::<Vec<_>>().chunks(1000) {
        let items: Vec<ItemData> = chunk
            .iter()
            .map(|&i| {
                let mut d =
                    ItemData::new(ItemKind::Login, &format!("{} {i}", words[i % words.len()]));
                d.fields
                    .insert("username".into(), format!("user{i}@example.org"));
                d.fields
                    .insert("password".into(), format!("pw-{:016x}", i * 2_654_435_761));
                d.fields
                    .insert("url".into(), format!("https://site{i}.example.org"));
                d.favorite = i % 50 == 0;
                d
            })
            .collect();
        c.add_items(&items)?;
    }
    c.sync().await?;
    c.lock()?;
    Ok(())
}

struct Row {
    what: String,
    ours: String,
    target: String,
    verdict: &'static str,
}

fn row(what: &str, ours: f64, unit_digits: usize, target: Option<f64>) -> Row {
    Row {
        what: what.into(),
        ours: format!("{ours:.unit_digits$}"),
        target: target.map_or("".into(), |t| format!("≤ {t}")),
        verdict: match target {
            Some(t) if ours <= t => "ok",
            Some(_) => "MISSED",
            None => "",
        },
    }
}

#[tokio::main]
async fn main() -> Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let [_, app, deb, minutes] = args.as_slice() else {
        bail!("usage: krypt7-app-bench <app binary> <.deb> <minutes>");
    };
    let minutes: u64 = minutes.parse().context("minutes")?;
    let work = tempfile::tempdir()?;
    let server_data = work.path().join("server");
    let port = free_port()?;
    let server = start_server(&server_data, port).await?;
    let url = format!("https://localhost:{port}");
    let ca = server_data.join("ca.pem");
    let data = work.path().join("app");
    let t = Instant::now();
    make_vault(&data, &url, &std::fs::read(&ca)?).await?;
    eprintln!(
        "vault of {ITEMS} items made and pushed in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    let marks_file = work.path().join("marks");
    let env: [(&str, &OsStr); 3] = [
        ("KRYPT7_DATA_DIR", data.as_ref()),
        ("KRYPT7_CA", ca.as_ref()),
        ("KRYPT7_MARKS", marks_file.as_ref()),
    ];

    // Start to the unlock screen: the first run with the page cache dropped, when allowed.
    let dropped = std::fs::write("/proc/sys/vm/drop_caches", "3").is_ok();
    let mut starts = vec![];
    let mut floor = (0.0, 0.0, vec![]);
    for n in 0..=ROUNDS {
        let _ = std::fs::remove_file(&marks_file);
        let t0 = now_ms();
        let mut child = Command::new(app)
            .envs(env)
            .spawn()
            .context("starting the app")?;
        let shown = wait_mark(&marks_file, "unlock-screen", 1).await;
        if n == ROUNDS {
            // What the app and WebKit take before any vault data: the unlock screen, settled.
            tokio::time::sleep(Duration::from_secs(3)).await;
            floor = memory(child.id());
        }
        let _ = child.kill();
        let _ = child.wait();
        let ms = (shown? - t0) as f64;
        // Where the time went: the shell's and the page's marks, from the start.
        let split: Vec<String> = ["main", "setup", "page", "status"]
            .iter()
            .filter_map(|m| {
                Some(format!(
                    "{m} {}",
                    marks(&marks_file, m).first()?.saturating_sub(t0)
                ))
            })
            .collect();
        eprintln!(
            "start {n}: unlock screen painted after {ms} ms ({})",
            split.join(", ")
        );
        starts.push(ms);
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    let cold = starts.remove(0);

    // Unlock to the first list paint, then memory through scripted use.
    let _ = std::fs::remove_file(&marks_file);
    let (_driver, session) = open_app(app, &env).await?;
    let shots = work.path().join("shots");
    std::fs::create_dir_all(&shots)?;
    let mut ui = Ui {
        c: session,
        shots,
        n: 0,
    };
    let mut unlocks = vec![];
    for n in 1..=ROUNDS {
        ui.type_in("input[name=password]", PASSWORD).await?;
        ui.button("Unlock").await?;
        let painted = wait_mark(&marks_file, "list-painted", n).await?;
        let submitted = wait_mark(&marks_file, "unlock-submit", n).await?;
        let ms = painted.saturating_sub(submitted) as f64;
        eprintln!("unlock {n}: first list paint after {ms} ms");
        unlocks.push(ms);
        // "10,000 items" (the UI groups digits as its language does).
        ui.text_until(".count", |t| {
            t.ends_with(" items") && t.chars().filter(char::is_ascii_digit).eq("10000".chars())
        })
        .await?;
        if n < ROUNDS {
            ui.button("Lock").await?;
            ui.find("input[name=password]").await?;
        }
    }
    let pid = find_process(Path::new(app)).context("the app's process")?;
    let (rss0, pss0, names) = memory(pid);
    eprintln!("after unlock: RSS {rss0:.0} MB, PSS {pss0:.0} MB over {names:?}");
    eprintln!("the app's own process, largest: {}", breakdown(pid));

    let queries = [
        "bank", "user42", "mail 7", "site9", "travel", "shop 12", "zzz", "",
    ];
    let sections = ["Logins", "Favourites", "All items"];
    let start = Instant::now();
    let mut samples = vec![(0.0, rss0, pss0)];
    let mut next_sample = Duration::from_secs(60);
    let mut i = 0usize;
    while start.elapsed() < Duration::from_secs(minutes * 60) {
        ui.type_in("#search", queries[i % queries.len()]).await?;
        tokio::time::sleep(Duration::from_millis(150)).await;
        if let Ok(r) = ui.c.find(fantoccini::Locator::Css(".row")).await {
            let _ = r.click().await;
        }
        ui.c.execute(
            "const s = document.querySelector('.scroller'); s.scrollTop = arguments[0]; return 0;",
            vec![serde_json::json!((i * 4800) % 400_000)],
        )
        .await?;
        if i % 5 == 4 {
            ui.button(sections[i / 5 % sections.len()]).await?;
        }
        if i % 60 == 59 {
            ui.button("Lock").await?;
            ui.type_in("input[name=password]", PASSWORD).await?;
            ui.button("Unlock").await?;
            ui.find("#search").await?;
        }
        i += 1;
        if start.elapsed() >= next_sample {
            let (rss, pss, _) = memory(pid);
            let min = start.elapsed().as_secs_f64() / 60.0;
            eprintln!("after {min:.1} min ({i} actions): RSS {rss:.0} MB, PSS {pss:.0} MB");
            samples.push((min, rss, pss));
            next_sample += Duration::from_secs(60);
        }
    }
    let (rss1, pss1, _) = memory(pid);
    samples.push((start.elapsed().as_secs_f64() / 60.0, rss1, pss1));
    ui.shot("after-use").await?;
    let _ = ui.c.close().await;
    server.stop().await;
    let deb_mb = std::fs::metadata(deb)
        .with_context(|| format!("no .deb at {deb}"))?
        .len() as f64
        / 1e6;
    let peak = samples.iter().map(|s| s.1).fold(0.0, f64::max);

    let rows = [
        row(
            &format!(
                "start to unlock screen, first run{} (ms)",
                if dropped { ", page cache dropped" } else { "" }
            ),
            cold,
            0,
            Some(1000.0),
        ),
        row(
            &format!("start to unlock screen, median of {ROUNDS} (ms)"),
            median(starts),
            0,
            Some(1000.0),
        ),
        row(
            &format!("unlock to first list paint, median of {ROUNDS} (ms)"),
            median(unlocks),
            0,
            None,
        ),
        row(
            "RSS app + WebKit at the unlock screen, no vault data yet (MB)",
            floor.0,
            0,
            None,
        ),
        row("RSS app + WebKit after unlock (MB)", rss0, 0, Some(150.0)),
        row(
            &format!("RSS app + WebKit after {minutes} min of use (MB)"),
            rss1,
            0,
            Some(150.0),
        ),
        row(
            &format!("RSS peak over {minutes} min (MB)"),
            peak,
            0,
            Some(150.0),
        ),
        row(
            &format!("RSS change over {minutes} min (MB)"),
            rss1 - rss0,
            0,
            None,
        ),
        row(
            "PSS app + WebKit after use (MB, shared pages split)",
            pss1,
            0,
            None,
        ),
        row(".deb size (MB)", deb_mb, 1, Some(20.0)),
    ];
    println!(
        "\napp: {ITEMS}-item vault, release build, Xvfb; processes (RSS/PSS after unlock): {}",
        names.join(", ")
    );
    println!(
        "at the unlock screen (RSS/PSS): {}; PSS {:.0} MB",
        floor.2.join(", "),
        floor.1
    );
    println!("| measure | KRYPT7 | target | |\n|---|---:|---|---|");
    for r in &rows {
        println!("| {} | {} | {} | {} |", r.what, r.ours, r.target, r.verdict);
    }
    println!(
        "memory each minute (min, RSS MB, PSS MB): {}",
        samples
            .iter()
            .map(|(m, r, p)| format!("({m:.0}, {r:.0}, {p:.0})"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!("peer, published (not measured here): Bitwarden desktop (Electron) 300–400 MB RSS");
    let flat = (rss1 - rss0) <= rss0 * 0.10;
    println!(
        "memory flat over the run (grew ≤ 10%): {}",
        if flat { "ok" } else { "MISSED" }
    );
    Ok(())
}
