//! A throwaway PostgreSQL cluster for the tests: `initdb` into a temporary directory and
//! `pg_ctl start` on a free port (as the `postgres` user when running as root, since the
//! server refuses root). One cluster per test process, one database per test. A watchdog
//! stops the cluster when the test process exits. `KRYPT7_TEST_POSTGRES_URL` (a server URL
//! without a database name) points the tests at an existing server instead.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::OnceLock,
};

static CLUSTER: OnceLock<String> = OnceLock::new();

fn bin_dir() -> PathBuf {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir("/usr/lib/postgresql")
        .expect("PostgreSQL server binaries are missing: `cargo xtask test` installs the Debian package postgresql")
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|p| p.join("initdb").is_file())
        .collect();
    dirs.sort();
    dirs.pop()
        .expect("no initdb under /usr/lib/postgresql/*/bin")
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// Runs a PostgreSQL tool, as `postgres` when we are root.
fn pg(tool: &Path, args: &[&str]) -> Command {
    if is_root() {
        let mut c = Command::new("runuser");
        c.args(["-u", "postgres", "--"]).arg(tool).args(args);
        c
    } else {
        let mut c = Command::new(tool);
        c.args(args);
        c
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn start_cluster() -> String {
    if let Ok(url) = std::env::var("KRYPT7_TEST_POSTGRES_URL") {
        return url.trim_end_matches('/').to_string();
    }
    let bin = bin_dir();
    let dir = std::env::temp_dir().join(format!("krypt7-pg-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    if is_root() {
        assert!(
            Command::new("chown")
                .args(["postgres:postgres"])
                .arg(&dir)
                .status()
                .unwrap()
                .success()
        );
    }
    let data = dir.join("data");
    let d = data.to_str().unwrap();
    let out = pg(
        &bin.join("initdb"),
        &[
            "-D",
            d,
            "-U",
            "postgres",
            "--auth=trust",
            "-E",
            "UTF8",
            "--no-sync",
        ],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "initdb failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let port = free_port();
    // Tests skip fsync for speed; the benchmark (KRYPT7_PG_DURABLE=1) keeps PostgreSQL's
    // durable defaults, as SQLite keeps synchronous=FULL.
    let fsync = if std::env::var_os("KRYPT7_PG_DURABLE").is_some() {
        "on"
    } else {
        "off"
    };
    let opts = format!(
        "-p {port} -k {} -c listen_addresses=127.0.0.1 -c fsync={fsync} -c max_connections=200",
        dir.display()
    );
    let log = dir.join("log").to_str().unwrap().to_string();
    let out = pg(
        &bin.join("pg_ctl"),
        &["-D", d, "-o", &opts, "-l", &log, "-w", "start"],
    )
    .output()
    .unwrap();
    assert!(
        out.status.success(),
        "pg_ctl start failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Stop the cluster and remove it once this test process is gone.
    let stop = format!(
        "while kill -0 {pid} 2>/dev/null; do sleep 1; done; {runas}{pg_ctl} -D {d} -m immediate stop >/dev/null 2>&1; rm -rf {dir}",
        pid = std::process::id(),
        runas = if is_root() {
            "runuser -u postgres -- "
        } else {
            ""
        },
        pg_ctl = bin.join("pg_ctl").display(),
        dir = dir.display(),
    );
    // Deliberately not waited for: the watchdog outlives this process.
    #[allow(clippy::zombie_processes)]
    Command::new("sh")
        .args(["-c", &stop])
        .stdin(std::process::Stdio::null())
        .spawn()
        .unwrap();
    format!("postgres://postgres@127.0.0.1:{port}")
}

/// A fresh, empty database on the shared cluster; returns its URL.
pub fn fresh_database() -> String {
    let server = CLUSTER.get_or_init(start_cluster);
    let name = format!("t_{}", uuid::Uuid::new_v4().simple());
    let psql = bin_dir().join("psql");
    let out = Command::new(psql)
        .args([
            &format!("{server}/postgres"),
            "-v",
            "ON_ERROR_STOP=1",
            "-q",
            "-c",
            &format!("CREATE DATABASE {name}"),
        ])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "CREATE DATABASE failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    format!("{server}/{name}")
}

/// `pg_dump` of a database, as text.
pub fn dump(url: &str) -> String {
    let out = Command::new(bin_dir().join("pg_dump"))
        .arg(url)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "pg_dump failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}
