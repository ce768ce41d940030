//! `cargo xtask bench client`: the client core against a local server, and `keepassxc-cli`
//! opening and listing the same number of entries under the same Argon2id parameters.
//!
//! Prints one table; every figure is measured in this run. Usage:
//! `client-bench [--small]` (`--small`: 1k/5k items instead of 10k/100k, for a quick look).

/// mimalloc: decrypting and indexing a vault allocates many small strings, which it serves
/// about twice as fast as the system allocator (docs/sync.md, "Unlock and the search index").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::{
    io::Write,
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use krypt7_client::{Client, ItemData, ItemKind, search::Filter};
use krypt7_crypto::{
    Password,
    kdf::{KdfParams, KdfSetup, Purpose},
    secret_key::SecretKey,
};
use krypt7_server::{Config, clock::Clock};

type R<T> = Result<T, Box<dyn std::error::Error>>;

const PASSWORD: &str = "correct horse battery staple";

/// A deterministic generator (xorshift), so runs are comparable.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    fn word(&mut self) -> &'static str {
        let l = eff_wordlist::large::LIST;
        l[(self.next() % l.len() as u64) as usize].1
    }
    fn alnum(&mut self, n: usize) -> String {
        const A: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
        (0..n)
            .map(|_| A[(self.next() % A.len() as u64) as usize] as char)
            .collect()
    }
}

/// One realistic login: title, username, password, URL, notes, a tag.
struct Entry {
    title: String,
    username: String,
    password: String,
    url: String,
    notes: String,
    tag: String,
}

fn entries(rng: &mut Rng, n: usize) -> Vec<Entry> {
    (0..n)
        .map(|i| {
            let (a, b) = (rng.word(), rng.word());
            Entry {
                title: format!("{a} {b}"),
                username: format!("{}{i}@example.org", rng.word()),
                password: rng.alnum(20),
                url: format!("https://{a}.example.com/login"),
                notes: format!("{} {} {}", rng.word(), rng.word(), rng.word()),
                tag: format!("tag{}", rng.next() % 20),
            }
        })
        .collect()
}

fn item(e: &Entry) -> ItemData {
    ItemData {
        fields: [
            ("username".to_string(), e.username.clone()),
            ("password".to_string(), e.password.clone()),
            ("url".to_string(), e.url.clone()),
            ("notes".to_string(), e.notes.clone()),
        ]
        .into(),
        tags: vec![e.tag.clone()],
        ..ItemData::new(ItemKind::Login, &e.title)
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    v[((v.len() as f64 - 1.0) * p).round() as usize]
}

async fn add_and_push(c: &mut Client, es: &[Entry]) -> R<()> {
    for chunk in es.chunks(10_000) {
        let items: Vec<ItemData> = chunk.iter().map(item).collect();
        c.add_items(&items)?;
    }
    c.sync().await?;
    Ok(())
}

/// Lock, then unlock with the password until the vault is searchable and its first page
/// of 50 items is decrypted: what a user waits for between typing the password and a usable
/// vault. Returns (unlock, after the unlock): the unlock is the KDF and the keyset and vault
/// key unwraps; after it, the index is loaded or built and the page decrypted.
fn unlock_and_index(c: &mut Client, sk: &SecretKey) -> R<(f64, f64)> {
    c.lock()?;
    let t0 = Instant::now();
    c.unlock(PASSWORD, sk)?;
    let t1 = Instant::now();
    let (_, page) = c.search_page("", &Filter::default(), 0, 50)?;
    assert_eq!(page.len(), 50);
    let t2 = Instant::now();
    Ok((ms(t1 - t0), ms(t2 - t1)))
}

/// Unlock → searchable, warm and cold: medians of five each.
struct Series {
    unlock: f64,
    /// The index loaded from the sealed copy written at the last lock.
    warm: f64,
    /// The index built from every item, each read, decrypted and indexed.
    cold: f64,
}

/// Cold: before each, another client on the same cache (as the CLI beside the app) changes
/// an item, so neither the held index nor its sealed copy is current. Warm: nothing changed
/// since the last lock.
fn unlock_series(c: &mut Client, dir: &Path, sk: &SecretKey) -> R<Series> {
    let (_, page) = c.search_page("", &Filter::default(), 0, 1)?;
    let id = page[0].id;
    let (mut u, mut cold, mut warm) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..5 {
        let mut other = Client::open(dir, None, None)?;
        other.unlock(PASSWORD, sk)?;
        let data = other.item(id)?.data;
        other.edit_item(id, data)?;
        drop(other);
        let (a, b) = unlock_and_index(c, sk)?;
        u.push(a);
        cold.push(b);
        let (a, b) = unlock_and_index(c, sk)?;
        u.push(a);
        warm.push(b);
    }
    Ok(Series {
        unlock: median(u),
        warm: median(warm),
        cold: median(cold),
    })
}

fn kdf_alone() -> R<f64> {
    let setup = KdfSetup::generate(KdfParams::MINIMUM)?;
    let sk = SecretKey::generate()?;
    let pw = Password::new(PASSWORD);
    let mut v = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        setup.derive(&pw, &sk, Purpose::LocalUnlock)?;
        v.push(ms(t.elapsed()));
    }
    Ok(median(v))
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn b64(bytes: &[u8]) -> String {
    const T: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for c in bytes.chunks(3) {
        let n = (u32::from(c[0]) << 16)
            | (u32::from(*c.get(1).unwrap_or(&0)) << 8)
            | u32::from(*c.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A KeePass 2 XML file holding the same entries.
fn keepass_xml(rng: &mut Rng, es: &[Entry]) -> String {
    let mut uuid = || {
        let b: Vec<u8> = (0..16).map(|_| rng.next() as u8).collect();
        b64(&b)
    };
    let mut x = String::from(
        "<?xml version=\"1.0\" encoding=\"utf-8\" standalone=\"yes\"?>\n<KeePassFile><Meta><Generator>krypt7-bench</Generator><DatabaseName>bench</DatabaseName></Meta><Root>",
    );
    x.push_str(&format!("<Group><UUID>{}</UUID><Name>Root</Name>", uuid()));
    for e in es {
        x.push_str(&format!(
            "<Entry><UUID>{}</UUID><Tags>{}</Tags>\
             <String><Key>Title</Key><Value>{}</Value></String>\
             <String><Key>UserName</Key><Value>{}</Value></String>\
             <String><Key>Password</Key><Value ProtectInMemory=\"True\">{}</Value></String>\
             <String><Key>URL</Key><Value>{}</Value></String>\
             <String><Key>Notes</Key><Value>{}</Value></String></Entry>",
            uuid(),
            xml_escape(&e.tag),
            xml_escape(&e.title),
            xml_escape(&e.username),
            xml_escape(&e.password),
            xml_escape(&e.url),
            xml_escape(&e.notes),
        ));
    }
    x.push_str("</Group></Root></KeePassFile>\n");
    x
}

/// Runs `keepassxc-cli` with the password on standard input.
fn keepassxc(args: &[&str], stdin: &str) -> R<(f64, String)> {
    let t = Instant::now();
    let mut child = Command::new("keepassxc-cli")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("keepassxc-cli: {e} (install the Debian package keepassxc)"))?;
    child
        .stdin
        .take()
        .ok_or("stdin")?
        .write_all(stdin.as_bytes())?;
    let out = child.wait_with_output()?;
    let elapsed = ms(t.elapsed());
    if !out.status.success() {
        return Err(format!(
            "keepassxc-cli {args:?} failed: {}",
            String::from_utf8_lossy(&out.stderr)
        )
        .into());
    }
    Ok((elapsed, String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// Creates a KDBX4 database of `es` with keepassxc-cli, then re-keys it to KRYPT7's
/// Argon2id parameters; returns the `db-info` KDF line as proof.
fn make_kdbx(dir: &Path, rng: &mut Rng, es: &[Entry]) -> R<String> {
    let xml = dir.join("bench.xml");
    let kdbx = dir.join("bench.kdbx");
    std::fs::write(&xml, keepass_xml(rng, es))?;
    let (x, k) = (xml.to_str().ok_or("path")?, kdbx.to_str().ok_or("path")?);
    keepassxc(
        &["import", "-q", "-p", x, k],
        &format!("{PASSWORD}\n{PASSWORD}\n"),
    )?;
    let key = || keepass::DatabaseKey::new().with_password(PASSWORD);
    let mut db = keepass::Database::open(&mut std::fs::File::open(&kdbx)?, key())?;
    let p = KdfParams::MINIMUM;
    db.config.version = keepass::config::DatabaseVersion::KDB4(1);
    db.config.kdf_config = keepass::config::KdfConfig::Argon2id {
        iterations: u64::from(p.t),
        memory: u64::from(p.m_kib) * 1024,
        parallelism: p.p,
        version: argon2::Version::Version13,
    };
    db.save(&mut std::fs::File::create(&kdbx)?, key())?;
    let (_, info) = keepassxc(&["db-info", "-q", k], PASSWORD)?;
    Ok(info
        .lines()
        .find(|l| l.starts_with("KDF:"))
        .unwrap_or("KDF: ?")
        .to_string())
}

/// `krypt7 item list` for comparison with `keepassxc-cli ls`: process start, open, KDF,
/// decrypt, print.
fn krypt7_cli_list(data_dir: &Path, sk: &SecretKey) -> R<(f64, usize)> {
    let exe = std::env::current_exe()?
        .parent()
        .ok_or("exe dir")?
        .join("krypt7");
    let t = Instant::now();
    let mut child = Command::new(&exe)
        .arg("--data-dir")
        .arg(data_dir)
        .args(["item", "list", "--password-stdin"])
        .env("KRYPT7_SECRET_KEY", sk.to_human().as_str())
        .env_remove("KRYPT7_SESSION")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("{}: {e} (build the krypt7 CLI first)", exe.display()))?;
    child
        .stdin
        .take()
        .ok_or("stdin")?
        .write_all(PASSWORD.as_bytes())?;
    let out = child.wait_with_output()?;
    let elapsed = ms(t.elapsed());
    if !out.status.success() {
        return Err(format!("krypt7 item list: {}", String::from_utf8_lossy(&out.stderr)).into());
    }
    Ok((
        elapsed,
        out.stdout
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .count(),
    ))
}

#[tokio::main]
async fn main() -> R<()> {
    let small = std::env::args().any(|a| a == "--small");
    let (n1, n2) = if small {
        (1_000, 5_000)
    } else {
        (10_000, 100_000)
    };
    let work = tempfile::tempdir()?;
    let mut config = Config::new(work.path().join("server"));
    config.listen = "127.0.0.1:0".parse()?;
    let server = krypt7_server::start(config, Clock::default()).await?;
    let url = format!("https://localhost:{}", server.addr.port());
    let ca = std::fs::read(work.path().join("server/ca.pem"))?;
    let (da, db) = (work.path().join("a"), work.path().join("b"));
    let mut a = Client::open(&da, Some(&url), Some(&ca))?;
    let sk = a.signup("bench", PASSWORD, None, None).await?;
    let mut b = Client::open(&db, Some(&url), Some(&ca))?;
    b.login("bench", PASSWORD, &sk, None).await?;
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let all = entries(&mut rng, n2);

    eprintln!("setting up {n1} items…");
    add_and_push(&mut a, &all[..n1]).await?;
    let t = Instant::now();
    let r = b.sync().await?;
    let initial_sync = ms(t.elapsed());
    assert_eq!(r.pulled, n1);

    let kdf = kdf_alone()?;
    let s1 = unlock_series(&mut b, &db, &sk)?;
    let (cli_list_1, listed) = krypt7_cli_list(&db, &sk)?;
    assert_eq!(listed, n1);

    eprintln!("keepassxc-cli: creating a {n1}-entry KDBX4 database…");
    let kp_info = make_kdbx(work.path(), &mut rng, &all[..n1])?;
    let kdbx = work.path().join("bench.kdbx");
    let mut kp = Vec::new();
    for _ in 0..3 {
        let (t, out) = keepassxc(
            &["ls", "-q", "-R", "-f", kdbx.to_str().ok_or("path")?],
            PASSWORD,
        )?;
        assert!(out.lines().count() >= n1, "keepassxc-cli listed too little");
        kp.push(t);
    }
    let keepassxc_ls = median(kp);

    eprintln!("setting up {n2} items…");
    add_and_push(&mut a, &all[n1..]).await?;
    b.sync().await?;
    let s2 = unlock_series(&mut b, &db, &sk)?;
    let t = Instant::now();
    let decrypted = b.items()?.len();
    let decrypt_2 = ms(t.elapsed());
    assert_eq!(decrypted, n2);

    // Search-as-you-type over the big vault: prefixes, whole words, a typo, a filter.
    let queries: Vec<String> = {
        let e = &all[n2 / 2];
        let w = e.title.split(' ').next().unwrap_or("a").to_string();
        vec![
            w[..2.min(w.len())].to_string(),
            w[..3.min(w.len())].to_string(),
            w.clone(),
            format!("{w}x"),
            e.username.split('@').next().unwrap_or("").to_string(),
            "example".to_string(),
            "login".to_string(),
            e.tag.clone(),
            "zz".to_string(),
            e.title.clone(),
        ]
    };
    let mut lat = Vec::new();
    for _ in 0..20 {
        for q in &queries {
            let t = Instant::now();
            std::hint::black_box(b.search_page(q, &Filter::default(), 0, 50)?);
            lat.push(ms(t.elapsed()));
        }
    }
    let (p50, p99) = (percentile(&mut lat, 0.5), percentile(&mut lat, 0.99));

    // Incremental sync: one change elsewhere, in the big vault (b's own change from the
    // cold runs goes out first).
    b.sync().await?;
    let ids: Vec<_> = a.items()?.iter().take(10).map(|i| i.id).collect();
    let mut inc = Vec::new();
    for (n, id) in ids.iter().enumerate() {
        let mut d = a.item(*id)?.data;
        d.fields.insert("password".into(), format!("changed-{n}"));
        a.edit_item(*id, d)?;
        a.sync().await?;
        let t = Instant::now();
        let r = b.sync().await?;
        inc.push(ms(t.elapsed()));
        assert_eq!(r.pulled, 1);
    }
    let incremental = median(inc.clone());
    let incremental_max = inc.iter().copied().fold(0.0, f64::max);
    server.stop().await;

    let ok = |b: bool| if b { "ok" } else { "MISSED" };
    println!(
        "KRYPT7 client benchmark ({n1} and {n2} login items; Argon2id m={} MiB t={} p={})",
        KdfParams::MINIMUM.m_kib / 1024,
        KdfParams::MINIMUM.t,
        KdfParams::MINIMUM.p
    );
    println!();
    println!("| measure | value | target | |");
    println!("|---|---:|---:|---|");
    println!("| KDF alone (Argon2id + HKDF) | {kdf:.0} ms | | |");
    for (n, x, target) in [(n1, &s1, 150.0), (n2, &s2, 300.0)] {
        println!(
            "| unlock (KDF + keyset and vault keys), {n} items | {:.0} ms | | |",
            x.unlock
        );
        for (how, after) in [
            ("warm: sealed index", x.warm),
            ("cold: every item read, decrypted and indexed", x.cold),
        ] {
            println!(
                "| unlock → searchable + first 50 decrypted, {n} items, {how} | {:.0} ms = unlock + {after:.0} | KDF + {target:.0} ms | {} |",
                x.unlock + after,
                ok(after <= target)
            );
        }
    }
    println!("| read and decrypt all {n2} items (`Client::items`) | {decrypt_2:.0} ms | | |");
    println!(
        "| search over {n2}, all matches ranked + first 50 shown: p50 / p99 ({} queries) | {p50:.2} / {p99:.2} ms | p99 ≤ 5 ms | {} |",
        lat.len(),
        ok(p99 <= 5.0)
    );
    println!(
        "| initial sync of {n1} items (local server, TLS) | {initial_sync:.0} ms | ≤ 3000 ms | {} |",
        ok(initial_sync <= 3000.0)
    );
    println!(
        "| incremental sync of 1 change in {n2}: median / max of {} | {incremental:.1} / {incremental_max:.1} ms | ≤ 50 ms | {} |",
        inc.len(),
        ok(incremental <= 50.0)
    );
    println!("| `krypt7 item list` ({n1}, new process, password) | {cli_list_1:.0} ms | | |");
    println!(
        "| `keepassxc-cli ls -R -f` ({n1}, new process, password) | {keepassxc_ls:.0} ms | | |"
    );
    println!(
        "| ratio: `krypt7 item list` / `keepassxc-cli ls` (both: new process, open, list all) | {:.2}× | ≤ 0.5× | {} |",
        cli_list_1 / keepassxc_ls,
        ok(cli_list_1 / keepassxc_ls <= 0.5)
    );
    println!(
        "| ratio: KRYPT7 cold unlock → searchable, in process / keepassxc-cli | {:.2}× | | |",
        (s1.unlock + s1.cold) / keepassxc_ls
    );
    println!();
    println!(
        "keepassxc-cli {} database: {kp_info}",
        keepassxc(&["--version"], "")?.1.trim()
    );
    Ok(())
}
