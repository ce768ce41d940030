//! Set-up on a fresh Debian/Ubuntu machine: system packages and cargo-installed tools.
//! As root, missing packages are installed; otherwise the exact command is printed and the
//! task stops.

use anyhow::{Result, bail};

use crate::sh;

/// Debian packages each task needs. `libdbus-1-dev`: the OS keychain (Secret Service) client.
/// The desktop app (Tauri 2 on WebKitGTK) adds its GTK, WebKit, tray and image libraries.
pub const BUILD: &[&str] = &[
    "build-essential",
    "pkg-config",
    "libdbus-1-dev",
    "file",
    "libwebkit2gtk-4.1-dev",
    "libsoup-3.0-dev",
    "libxdo-dev",
    "libssl-dev",
    "libayatana-appindicator3-dev",
    "librsvg2-dev",
];
/// What `cargo xtask test` needs beyond [`BUILD`]: PostgreSQL for the server's conformance
/// suite (it starts its own throwaway cluster), `util-linux` for `runuser`, and a real Secret
/// Service for the keychain tests (`dbus-run-session` from dbus-daemon, gnome-keyring, and
/// secret-tool to read back what was stored), and gdb, whose `gcore` keeps the memory of a
/// `krypt7 sync --watch` as it ends (the CLI's memory test).
pub const TEST: &[&str] = &[
    "postgresql",
    "util-linux",
    "dbus-daemon",
    "gnome-keyring",
    "libsecret-tools",
    "gdb",
];

fn installed(pkg: &str) -> bool {
    sh::output(&mut sh::cmd(
        "dpkg-query",
        &["-W", "-f=${db:Status-Abbrev}", pkg],
    ))
    .map(|s| s.starts_with("ii"))
    .unwrap_or(false)
}

fn is_root() -> bool {
    sh::output(&mut sh::cmd("id", &["-u"]))
        .map(|s| s.trim() == "0")
        .unwrap_or(false)
}

/// Makes sure every package in `pkgs` is installed.
pub fn ensure_packages(pkgs: &[&str]) -> Result<()> {
    if !sh::have("dpkg-query") {
        eprintln!(
            "note: not a Debian/Ubuntu system; make sure these are installed: {}",
            pkgs.join(" ")
        );
        return Ok(());
    }
    let missing: Vec<&str> = pkgs.iter().copied().filter(|p| !installed(p)).collect();
    if missing.is_empty() {
        return Ok(());
    }
    let install = format!(
        "apt-get install -y --no-install-recommends {}",
        missing.join(" ")
    );
    if !is_root() {
        bail!(
            "missing Debian packages: {}\nrun:\n  sudo apt-get update && sudo {install}",
            missing.join(" ")
        );
    }
    eprintln!("installing missing Debian packages: {}", missing.join(" "));
    sh::run(sh::cmd("apt-get", &["update", "-q"]).env("DEBIAN_FRONTEND", "noninteractive"))?;
    let mut args = vec!["install", "-y", "-q", "--no-install-recommends"];
    args.extend(&missing);
    sh::run(sh::cmd("apt-get", &args).env("DEBIAN_FRONTEND", "noninteractive"))
}

/// Makes sure a crates.io tool is installed (`cargo install --locked`), returning its path.
pub fn ensure_cargo_tool(binary: &str, krate: &str, version: &str) -> Result<std::path::PathBuf> {
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| std::path::PathBuf::from(h).join(".cargo")))
        .unwrap_or_else(|| std::path::PathBuf::from(".cargo"));
    let path = cargo_home.join("bin").join(binary);
    if path.is_file() {
        return Ok(path);
    }
    eprintln!("installing {krate} {version} from crates.io (once)");
    sh::run(&mut sh::cmd(
        "cargo",
        &["install", "--locked", "--version", version, krate],
    ))?;
    if !path.is_file() {
        bail!("`cargo install {krate}` did not produce {}", path.display());
    }
    Ok(path)
}
