//! `cargo xtask run`: a local server on its embedded SQLite default, and the desktop app
//! pointed at it with the server's development CA trusted.

use std::{path::PathBuf, process::Command, thread, time::Duration};

use anyhow::{Context, Result, bail};

use crate::{sh, system};

const LISTEN: &str = "127.0.0.1:8443";

fn data_dir() -> PathBuf {
    std::env::var_os("XDG_DATA_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".local/share")))
        .unwrap_or_else(|| PathBuf::from("."))
        .join("krypt7/dev-server")
}

pub fn run(_args: &[String]) -> Result<()> {
    system::ensure_packages(system::BUILD)?;
    crate::ui::build()?;
    sh::run(&mut sh::cmd(
        "cargo",
        &["build", "-p", "krypt7-server", "-p", "krypt7-desktop"],
    ))?;
    let bin = sh::target_dir().join("debug");
    let dir = data_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;

    eprintln!("starting krypt7-server (data in {})", dir.display());
    let mut server = Command::new(bin.join("krypt7-server"))
        .args(["serve", "--data-dir"])
        .arg(&dir)
        .args(["--listen", LISTEN])
        .spawn()
        .context("starting krypt7-server")?;
    thread::sleep(Duration::from_millis(500));
    if let Some(status) = server.try_wait()? {
        bail!("krypt7-server exited at start ({status}); see its message above");
    }
    eprintln!(
        "server ready. The CLI works against it too:\n  export KRYPT7_SERVER=https://localhost:{} KRYPT7_CA={}",
        LISTEN.rsplit(':').next().unwrap_or("8443"),
        dir.join("ca.pem").display()
    );
    let app = Command::new(bin.join("krypt7-desktop"))
        .env(
            "KRYPT7_SERVER",
            format!(
                "https://localhost:{}",
                LISTEN.rsplit(':').next().unwrap_or("8443")
            ),
        )
        .env("KRYPT7_CA", dir.join("ca.pem"))
        .status()
        .context("starting the desktop app");
    let _ = server.kill();
    let _ = server.wait();
    let app = app?;
    if !app.success() {
        bail!("the desktop app exited with {app}");
    }
    Ok(())
}
