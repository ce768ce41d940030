//! `cargo xtask bench mail`: the mail search against `notmuch` on the same generated
//! messages, and mail's own figures (open, initial sync, push), in one run.
//!
//! A mailbox of generated messages (1–50 KB bodies of words drawn with a Zipf law from the
//! EFF list, a mix of senders, To and Cc, replies with In-Reply-To and References, 5% with
//! an attachment) is written as a maildir for `notmuch new` and imported into a KRYPT7
//! device (`Client::import_mail`). Then:
//!
//! - index build from nothing: KRYPT7's in a process of its own (its peak RSS sampled
//!   while it builds), `notmuch new` on the maildir; messages per second each;
//! - 200 searches (words, pairs, `from:`, `subject:`), the 50 newest matches each:
//!   KRYPT7 in process, notmuch through its Python bindings in one process (no start-up);
//! - opening a message (decrypt, parse, mark read);
//! - the first sync of a 10,000-message mailbox to a new device;
//! - send → taken in by the recipient's device, woken by the push channel.
//!
//! Usage: `mail-bench [--small] [--sync-only]` (`--small`: 10k messages and 2k to sync, a
//! quick look; `--sync-only`: the first sync alone, for profiling it).
//! `mail-bench index DIR URL` is the index build's own process (the Secret Key in
//! `KRYPT7_SECRET_KEY`).

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::{
    io::Write,
    path::Path,
    process::{Command, Stdio},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicU64, Ordering},
    },
    time::{Duration, Instant},
};

use krypt7_client::{Client, mail::Draft};
use krypt7_crypto::secret_key::SecretKey;
use krypt7_server::{Config, clock::Clock};

type R<T> = Result<T, Box<dyn std::error::Error>>;

const PASSWORD: &str = "correct horse battery staple";
const QUERIES: usize = 200;
const SHOWN: usize = 50;

/// A deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// Words by a Zipf law (weight 1/rank) over the EFF list, so that a few are everywhere
/// and most are rare, as in mail.
struct Words {
    list: &'static [(u32, &'static str)],
    cumulative: Vec<f64>,
}

impl Words {
    fn new() -> Words {
        let list = eff_wordlist::large::LIST;
        let mut total = 0.0;
        let cumulative = (1..=list.len())
            .map(|r| {
                total += 1.0 / r as f64;
                total
            })
            .collect();
        Words { list, cumulative }
    }
    fn word(&self, rng: &mut Rng) -> &'static str {
        let total = self.cumulative[self.cumulative.len() - 1];
        let x = (rng.next() >> 11) as f64 / (1u64 << 53) as f64 * total;
        let i = self.cumulative.partition_point(|c| *c < x);
        self.list[i.min(self.list.len() - 1)].1
    }
    /// The word of rank `r` (0: the most frequent).
    fn ranked(&self, r: usize) -> &'static str {
        self.list[r % self.list.len()].1
    }
}

const FIRST: &[&str] = &[
    "anna", "ben", "chloe", "david", "emma", "felix", "grace", "hugo", "iris", "jules", "karl",
    "lena", "marc", "nora", "oscar", "paula", "quentin", "rosa", "simon", "tara", "ugo", "vera",
    "walter", "xenia", "yann", "zoe",
];
const LAST: &[&str] = &[
    "martin", "bernard", "dubois", "thomas", "robert", "richard", "petit", "durand", "leroy",
    "moreau", "simon", "laurent", "lefebvre", "michel", "garcia", "david", "bertrand", "roux",
    "vincent", "fournier", "morel", "girard", "andre", "mercier", "dupont", "lambert", "bonnet",
    "francois", "martinez", "legrand",
];
const DOMAINS: &[&str] = &[
    "example.com",
    "example.org",
    "example.net",
    "mail.example",
    "corp.example",
    "uni.example",
    "family.example",
    "shop.example",
];

fn person(rng: &mut Rng) -> (String, String) {
    let (f, l) = (
        FIRST[rng.below(FIRST.len() as u64) as usize],
        LAST[rng.below(LAST.len() as u64) as usize],
    );
    let d = DOMAINS[rng.below(DOMAINS.len() as u64) as usize];
    let cap = |s: &str| s[..1].to_uppercase() + &s[1..];
    (format!("{} {}", cap(f), cap(l)), format!("{f}.{l}@{d}"))
}

fn b64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len() * 4 / 3 + bytes.len() / 57 * 2 + 4);
    for (n, c) in bytes.chunks(3).enumerate() {
        let v = c.iter().fold(0u32, |a, b| (a << 8) | *b as u32) << (8 * (3 - c.len()));
        for i in 0..4 {
            out.push(if i <= c.len() {
                T[((v >> (18 - 6 * i)) & 63) as usize] as char
            } else {
                '='
            });
        }
        if n % 19 == 18 {
            out.push_str("\r\n");
        }
    }
    out
}

/// Message `n` of the mailbox, always the same bytes for the same `n`.
fn message(words: &Words, n: usize) -> Vec<u8> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (n as u64).wrapping_mul(0x2545_F491_4F6C_DD1D));
    for _ in 0..4 {
        rng.next();
    }
    let (from_name, from) = person(&mut rng);
    let to: Vec<String> = (0..1 + rng.below(3))
        .map(|_| {
            let (name, addr) = person(&mut rng);
            format!("{name} <{addr}>")
        })
        .collect();
    let cc: Vec<String> = if rng.chance(40) {
        (0..1 + rng.below(3))
            .map(|_| {
                let (name, addr) = person(&mut rng);
                format!("{name} <{addr}>")
            })
            .collect()
    } else {
        vec![]
    };
    let reply = n > 0 && rng.chance(30);
    let subject: Vec<&str> = (0..2 + rng.below(7))
        .map(|_| words.word(&mut rng))
        .collect();
    let subject = format!("{}{}", if reply { "Re: " } else { "" }, subject.join(" "));
    // Five years, newest last.
    let date = 1_640_000_000 + n as i64 * 1_577 + rng.below(1_000) as i64;
    let date = httpdate(date);
    let id = format!(
        "<{n}.{:x}@{}>",
        rng.next(),
        from.split('@').nth(1).unwrap_or("x")
    );
    let mut h = format!("From: {from_name} <{from}>\r\nTo: {}\r\n", to.join(", "));
    if !cc.is_empty() {
        h.push_str(&format!("Cc: {}\r\n", cc.join(", ")));
    }
    h.push_str(&format!(
        "Subject: {subject}\r\nDate: {date}\r\nMessage-ID: {id}\r\nMIME-Version: 1.0\r\n"
    ));
    if reply {
        let parent = rng.below(n as u64);
        let pid = format!("<{parent}.0@thread.example>");
        h.push_str(&format!("In-Reply-To: {pid}\r\nReferences: {pid}\r\n"));
    }
    // 1 to 50 KB of text in lines of about 70 characters; a reply quotes some of it.
    let size = 1_000 + rng.below(49_000) as usize;
    let mut body = String::with_capacity(size + 100);
    let mut line = String::new();
    while body.len() < size {
        let w = words.word(&mut rng);
        if line.len() + w.len() > 70 {
            if reply && rng.chance(20) {
                body.push_str("> ");
            }
            body.push_str(&line);
            body.push_str("\r\n");
            line.clear();
            if rng.chance(8) {
                body.push_str("\r\n");
            }
        }
        if !line.is_empty() {
            line.push(' ');
        }
        line.push_str(w);
    }
    body.push_str(&line);
    body.push_str("\r\n");
    let mut m = h.into_bytes();
    if rng.chance(5) {
        let len = 10_000 + rng.below(90_000) as usize;
        let data: Vec<u8> = (0..len).map(|_| rng.next() as u8).collect();
        let boundary = format!("b{:x}", rng.next());
        m.extend_from_slice(
            format!(
                "Content-Type: multipart/mixed; boundary=\"{boundary}\"\r\n\r\n--{boundary}\r\n\
                 Content-Type: text/plain; charset=utf-8\r\n\r\n{body}--{boundary}\r\n\
                 Content-Type: application/pdf; name=\"report-{n}.pdf\"\r\n\
                 Content-Disposition: attachment; filename=\"report-{n}.pdf\"\r\n\
                 Content-Transfer-Encoding: base64\r\n\r\n{}\r\n--{boundary}--\r\n",
                b64(&data)
            )
            .as_bytes(),
        );
    } else {
        m.extend_from_slice(
            format!("Content-Type: text/plain; charset=utf-8\r\n\r\n{body}").as_bytes(),
        );
    }
    m
}

/// RFC 5322 date of Unix time `t` (UTC).
fn httpdate(t: i64) -> String {
    let u = krypt7_mail::utc(t);
    format!(
        "{}, {:02} {} {} {:02}:{:02}:{:02} +0000",
        krypt7_mail::WEEKDAYS[u.weekday as usize],
        u.day,
        krypt7_mail::MONTHS[u.month as usize - 1],
        u.year,
        u.hour,
        u.minute,
        u.second
    )
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn percentile(v: &[f64], p: f64) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

/// This process's resident memory now, in KiB: `VmRSS` (all of it) or `RssAnon` (its own,
/// without the pages of files it maps: the cache database is read through `mmap`).
fn rss_kib(which: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix(which)?.strip_prefix(':'))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        })
        .unwrap_or(0)
}

/// The index build's own process: unlock, then build the mail index from nothing while a
/// thread samples the resident memory every 5 ms. Prints `indexed= seconds= peak_kib=
/// before_kib=`.
fn index_process(dir: &Path, url: &str) -> R<()> {
    let sk = SecretKey::parse(&std::env::var("KRYPT7_SECRET_KEY")?)?;
    let mut c = Client::open(dir, Some(url), None)?;
    c.unlock(PASSWORD, &sk)?;
    let _ = std::fs::remove_dir_all(dir.join("mail-index"));
    let (before, before_anon) = (rss_kib("VmRSS"), rss_kib("RssAnon"));
    let peak = Arc::new(AtomicU64::new(before));
    let peak_anon = Arc::new(AtomicU64::new(before_anon));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, peak_anon, done) = (peak.clone(), peak_anon.clone(), done.clone());
        std::thread::spawn(move || {
            while !done.load(Ordering::Relaxed) {
                peak.fetch_max(rss_kib("VmRSS"), Ordering::Relaxed);
                peak_anon.fetch_max(rss_kib("RssAnon"), Ordering::Relaxed);
                std::thread::sleep(Duration::from_millis(5));
            }
        })
    };
    let t = Instant::now();
    let indexed = c.mail_index_current()?;
    let seconds = t.elapsed().as_secs_f64();
    done.store(true, Ordering::Relaxed);
    sampler.join().map_err(|_| "sampler")?;
    println!(
        "indexed={indexed} seconds={seconds:.3} peak_kib={} before_kib={before} \
         peak_anon_kib={} before_anon_kib={before_anon}",
        peak.load(Ordering::Relaxed),
        peak_anon.load(Ordering::Relaxed)
    );
    Ok(())
}

/// notmuch's searches, in one Python process through its bindings: per query, the
/// milliseconds to the 50 newest matches' ids. Prints one line of JSON.
const NOTMUCH_SEARCH: &str = r#"
import json, sys, time, notmuch2
db = notmuch2.Database(sys.argv[1], config=notmuch2.Database.CONFIG.EMPTY)
queries = json.load(sys.stdin)
def run(q):
    out = []
    for m in db.messages(q, sort=notmuch2.Database.SORT.NEWEST_FIRST):
        out.append(m.messageid)
        if len(out) == 50:
            break
    return out
run(queries[0])
times, found = [], []
for q in queries:
    t = time.perf_counter()
    ids = run(q)
    times.append((time.perf_counter() - t) * 1000)
    found.append(len(ids))
print(json.dumps({"ms": times, "found": found}))
"#;

fn notmuch_new(maildir: &Path, config: &Path) -> R<f64> {
    std::fs::write(
        config,
        format!(
            "[database]\npath={}\n[user]\nname=Bench\nprimary_email=bench@example.com\n\
             [new]\ntags=inbox;\n[search]\nexclude_tags=\n[maildir]\nsynchronize_flags=false\n",
            maildir.display()
        ),
    )?;
    let t = Instant::now();
    let out = Command::new("notmuch")
        .args(["new", "--quiet"])
        .env("NOTMUCH_CONFIG", config)
        .output()?;
    let secs = t.elapsed().as_secs_f64();
    if !out.status.success() {
        return Err(format!("notmuch new: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok(secs)
}

fn notmuch_search(maildir: &Path, config: &Path, queries: &[String]) -> R<(Vec<f64>, Vec<u64>)> {
    let mut child = Command::new("/usr/bin/python3")
        .args(["-c", NOTMUCH_SEARCH])
        .arg(maildir)
        .env("NOTMUCH_CONFIG", config)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    child
        .stdin
        .take()
        .ok_or("stdin")?
        .write_all(serde_json::to_string(queries)?.as_bytes())?;
    let out = child.wait_with_output()?;
    if !out.status.success() {
        return Err(format!("notmuch search: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    let v: serde_json::Value = serde_json::from_slice(&out.stdout)?;
    let nums = |k: &str| -> Vec<f64> {
        v[k].as_array()
            .map(|a| a.iter().filter_map(serde_json::Value::as_f64).collect())
            .unwrap_or_default()
    };
    Ok((
        nums("ms"),
        nums("found").into_iter().map(|x| x as u64).collect(),
    ))
}

/// The 200 searches: single words from common to rare, pairs, a sender's name, a word of
/// the subject.
fn queries(words: &Words, rng: &mut Rng) -> Vec<String> {
    (0..QUERIES)
        .map(|i| match i % 5 {
            0 | 1 => words.ranked(rng.below(2_000) as usize).to_string(),
            2 => format!("{} {}", words.word(rng), words.word(rng)),
            3 => format!("from:{}", FIRST[rng.below(FIRST.len() as u64) as usize]),
            _ => format!("subject:{}", words.word(rng)),
        })
        .collect()
}

async fn account(url: &str, ca: &[u8], dir: &Path, name: &str) -> R<(Client, SecretKey)> {
    let mut c = Client::open(dir, Some(url), Some(ca))?;
    let sk = c.signup(name, PASSWORD, None, None).await?;
    Ok((c, sk))
}

async fn import(c: &mut Client, words: &Words, range: std::ops::Range<usize>) -> R<()> {
    let mut n = range.start;
    while n < range.end {
        let batch: Vec<Vec<u8>> = (n..(n + 2_000).min(range.end))
            .map(|i| message(words, i))
            .collect();
        n += batch.len();
        c.import_mail(&batch, "Inbox").await?;
        eprint!("\r  imported {n}");
    }
    eprintln!();
    Ok(())
}

/// The first sync of `synced` messages to a new device: a device imports them and syncs,
/// then another signs in (its KDF included) and syncs. Returns milliseconds.
async fn first_sync(url: &str, ca: &[u8], work: &Path, words: &Words, synced: usize) -> R<f64> {
    let cat_dir = work.join("cat");
    let (mut cat, cat_sk) = account(url, ca, &cat_dir, "cat").await?;
    import(&mut cat, words, 0..synced).await?;
    let pushed = cat.sync().await?.pushed;
    assert!(pushed >= synced, "pushed {pushed} of {synced}");
    // Signing in syncs: the figure is the whole sign-in (its KDF too) and that first sync.
    let mut cat2 = Client::open(&work.join("cat2"), Some(url), Some(ca))?;
    let t = Instant::now();
    cat2.login("cat", PASSWORD, &cat_sk, None).await?;
    let r = cat2.sync().await?;
    let initial_sync = ms(t.elapsed());
    let have = cat2.mailbox(None)?.len();
    assert!(have >= synced, "{have} of {synced} messages ({r:?})");
    Ok(initial_sync)
}

#[tokio::main]
async fn main() -> R<()> {
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("index") {
        return index_process(Path::new(&args[2]), &args[3]);
    }
    let small = args.iter().any(|a| a == "--small");
    // Only the first sync of 10,000 messages (for profiling it).
    let sync_only = args.iter().any(|a| a == "--sync-only");
    let (n, synced) = if small && !sync_only {
        (10_000, 2_000)
    } else {
        (100_000, 10_000)
    };
    let work = tempfile::tempdir()?;
    let mut config = Config::new(work.path().join("server"));
    config.listen = "127.0.0.1:0".parse()?;
    config.mail_per_sender_per_minute = 10_000;
    let server = krypt7_server::start(config, Clock::default()).await?;
    let url = format!("https://localhost:{}", server.addr.port());
    let ca = std::fs::read(work.path().join("server/ca.pem"))?;
    let words = Words::new();
    let start = Instant::now();
    let step = |what: &str| eprintln!("[{:6.1} s] {what}", start.elapsed().as_secs_f64());
    if sync_only {
        let ms = first_sync(&url, &ca, work.path(), &words, synced).await?;
        println!("initial sync of {synced} messages to a new device: {ms:.0} ms");
        return Ok(());
    }

    step(&format!("writing {n} messages as a maildir…"));
    let maildir = work.path().join("maildir");
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(maildir.join(sub))?;
    }
    let mut bytes = 0usize;
    for i in 0..n {
        let m = message(&words, i);
        bytes += m.len();
        std::fs::write(maildir.join(format!("cur/{i}.bench:2,S")), m)?;
    }

    step("importing them into a KRYPT7 device…");
    let ben_dir = work.path().join("ben");
    let (mut ben, ben_sk) = account(&url, &ca, &ben_dir, "ben").await?;
    import(&mut ben, &words, 0..n).await?;
    drop(ben);

    step("KRYPT7: building the mail index from nothing…");
    let out = Command::new(std::env::current_exe()?)
        .arg("index")
        .arg(&ben_dir)
        .arg(&url)
        .env("KRYPT7_SECRET_KEY", ben_sk.to_human().as_str())
        .output()?;
    if !out.status.success() {
        return Err(format!("index build: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    let line = String::from_utf8_lossy(&out.stdout).into_owned();
    let field = |k: &str| -> R<f64> {
        Ok(line
            .split_whitespace()
            .find_map(|kv| kv.strip_prefix(k)?.strip_prefix('='))
            .ok_or_else(|| format!("the index build printed no {k}: {line}"))?
            .parse()?)
    };
    let (indexed, index_secs) = (field("indexed")?, field("seconds")?);
    let (peak_mib, before_mib) = (field("peak_kib")? / 1024.0, field("before_kib")? / 1024.0);
    let (anon_mib, anon_before_mib) = (
        field("peak_anon_kib")? / 1024.0,
        field("before_anon_kib")? / 1024.0,
    );
    assert_eq!(indexed as usize, n, "every message indexed");

    step("notmuch new…");
    let nm_config = work.path().join("notmuch-config");
    let nm_secs = notmuch_new(&maildir, &nm_config)?;

    step("searching…");
    let mut rng = Rng(0xD1B5_4A32_D192_ED03);
    let qs = queries(&words, &mut rng);
    let mut ben = Client::open(&ben_dir, Some(&url), Some(&ca))?;
    ben.unlock(PASSWORD, &ben_sk)?;
    ben.search_mail_ids(&qs[0], None, SHOWN)?;
    let (mut ours, mut found, mut hits) = (Vec::new(), Vec::new(), Vec::new());
    for q in &qs {
        let t = Instant::now();
        let ids = ben.search_mail_ids(q, None, SHOWN)?;
        ours.push(ms(t.elapsed()));
        found.push(ids.len() as u64);
        hits.extend(ids);
    }
    let (theirs, their_found) = notmuch_search(&maildir, &nm_config, &qs)?;
    let agree = found
        .iter()
        .zip(&their_found)
        .filter(|(a, b)| (**a == 0) == (**b == 0))
        .count();

    step("opening messages…");
    hits.sort();
    hits.dedup();
    let mut open = Vec::new();
    for i in 0..200 {
        let id = hits[(i * 7_919) % hits.len()];
        let t = Instant::now();
        std::hint::black_box(ben.read_mail(id)?);
        open.push(ms(t.elapsed()));
    }
    drop(ben);

    step(&format!(
        "initial sync of {synced} messages to a new device…"
    ));
    let initial_sync = first_sync(&url, &ca, work.path(), &words, synced).await?;

    step("send → taken in by the recipient's device (push)…");
    let (mut ann, _) = account(&url, &ca, &work.path().join("ann"), "ann").await?;
    let (mut dan, _) = account(&url, &ca, &work.path().join("dan"), "dan").await?;
    let mut events = dan.events().await?;
    let mut push = Vec::new();
    for i in 0..50 {
        let text = String::from_utf8_lossy(&message(&words, i)).into_owned();
        let draft = Draft {
            to: vec!["dan".into()],
            subject: format!("Push {i}"),
            text: text.chars().take(4_000).collect(),
            ..Draft::default()
        };
        let t = Instant::now();
        ann.send_mail(&draft).await?;
        loop {
            events.next().await?.ok_or("the push channel ended")?;
            if dan.sync().await?.mail_received > 0 {
                break;
            }
        }
        push.push(ms(t.elapsed()));
    }
    server.stop().await;

    let ok = |b: bool| if b { "ok" } else { "MISSED" };
    let ours_rate = n as f64 / index_secs;
    let nm_rate = n as f64 / nm_secs;
    let (o50, o99) = (percentile(&ours, 0.5), percentile(&ours, 0.99));
    let (t50, t99) = (percentile(&theirs, 0.5), percentile(&theirs, 0.99));
    let (op50, op99) = (percentile(&open, 0.5), percentile(&open, 0.99));
    let (p50, p99) = (percentile(&push, 0.5), percentile(&push, 0.99));
    println!(
        "KRYPT7 mail benchmark: {n} messages, {:.2} GB ({} KB on average), beside notmuch",
        bytes as f64 / 1e9,
        bytes / n / 1000
    );
    println!();
    println!("| measure | KRYPT7 | notmuch | ratio | target | |");
    println!("|---|---:|---:|---:|---|---|");
    println!(
        "| index build from nothing, messages/s | {ours_rate:.0} ({index_secs:.1} s) | {nm_rate:.0} ({nm_secs:.1} s) | {:.2}× | ≥ notmuch | {} |",
        ours_rate / nm_rate,
        ok(ours_rate >= nm_rate)
    );
    println!(
        "| search, {QUERIES} queries, {SHOWN} newest matches: p50 / p99 | {o50:.2} / {o99:.2} ms | {t50:.2} / {t99:.2} ms | {:.2}× (p99) | p99 ≤ notmuch and ≤ 10 ms | {} |",
        o99 / t99,
        ok(o99 <= t99 && o99 <= 10.0)
    );
    println!(
        "| peak RSS while building the index: the process's own (RssAnon) | {anon_mib:.0} MiB (unlocked: {anon_before_mib:.0}) | | | ≤ 200 MiB | {} |",
        ok(anon_mib <= 200.0)
    );
    println!(
        "| peak RSS while building the index: with the cache's mapped pages (VmRSS) | {peak_mib:.0} MiB (unlocked: {before_mib:.0}) | | | | |"
    );
    println!(
        "| open a message (decrypt, parse, mark read): p50 / p99 of 200 | {op50:.2} / {op99:.2} ms | | | p99 ≤ 20 ms | {} |",
        ok(op99 <= 20.0)
    );
    println!(
        "| initial sync of {synced} messages to a new device (sign-in, its KDF included) | {initial_sync:.0} ms | | | ≤ 5000 ms | {} |",
        ok(initial_sync <= 5000.0)
    );
    println!(
        "| send → taken in by the recipient's device (push): p50 / p99 of {} | {p50:.0} / {p99:.0} ms | | | p50 ≤ 100, p99 ≤ 250 ms | {} |",
        push.len(),
        ok(p50 <= 100.0 && p99 <= 250.0)
    );
    println!();
    println!(
        "Searches with and without matches agree with notmuch's on {agree} of {QUERIES} queries \
         (notmuch stems words, KRYPT7 does not)."
    );
    Ok(())
}
