//! Browser and real-window tests of the desktop app:
//! - the built UI in Debian's Chromium with a mocked IPC layer (Playwright + axe-core);
//! - the real app under Xvfb, driven by tauri-driver + WebKitWebDriver against a real
//!   server, inside a private D-Bus session with an unlocked gnome-keyring (the app keeps the
//!   Secret Key in the OS keychain). Screenshots: `<target>/e2e-screenshots/`.

use std::process::{Child, Command};

use anyhow::{Context, Result, bail};

use crate::{sh, system};

/// The Playwright run over the built UI (`ui/tests/mocked/run.mjs`).
pub fn mocked_ui() -> Result<()> {
    system::ensure_packages(&["chromium"])?;
    let mut c = sh::cmd("npm", &["run", "e2e:mock"]);
    c.current_dir(sh::root().join("ui"));
    sh::run(&mut c)
}

struct Xvfb(Child);

impl Drop for Xvfb {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A display number no X server holds.
fn free_display() -> Result<u32> {
    (77..200)
        .find(|n| !std::path::Path::new(&format!("/tmp/.X{n}-lock")).exists())
        .context("no free X display between :77 and :199")
}

/// The tools a run of the real app needs: Xvfb, WebKitWebDriver, a D-Bus session with
/// gnome-keyring, and tauri-driver (returned).
fn desktop_tools() -> Result<std::path::PathBuf> {
    system::ensure_packages(&[
        "xvfb",
        "xauth",
        "webkit2gtk-driver",
        "dbus-daemon",
        "gnome-keyring",
        // The real-window test presses the global shortcut and reads the clipboard.
        "xdotool",
        "xclip",
    ])?;
    system::ensure_cargo_tool("tauri-driver", "tauri-driver", "2.1.0")
}

/// Runs `program args` under a fresh Xvfb display inside a private D-Bus session whose
/// gnome-keyring is unlocked (as a desktop session would have it), with tauri-driver on
/// the PATH.
fn in_desktop_session(
    driver: &std::path::Path,
    program: &std::path::Path,
    args: &[&std::ffi::OsStr],
) -> Result<std::process::ExitStatus> {
    let display = format!(":{}", free_display()?);
    let _xvfb = Xvfb(
        Command::new("Xvfb")
            .args([&display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
            .spawn()
            .context("starting Xvfb")?,
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    let runtime = tempfile_dir("krypt7-desktop-session")?;
    let path = format!(
        "{}:{}",
        driver
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        std::env::var("PATH").unwrap_or_default()
    );
    let script = r#"printf %s krypt7-e2e | gnome-keyring-daemon --unlock --components=secrets >/dev/null && exec "$@""#;
    let status = Command::new("dbus-run-session")
        .args(["--", "sh", "-c", script, "sh"])
        .arg(program)
        .args(args)
        .env("DISPLAY", &display)
        .env("PATH", path)
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("XDG_DATA_HOME", runtime.join("data"))
        .status()
        .with_context(|| format!("running {}", program.display()));
    let _ = std::fs::remove_dir_all(&runtime);
    status
}

pub fn real_app() -> Result<()> {
    let driver = desktop_tools()?;
    sh::run(&mut sh::cmd(
        "cargo",
        &[
            "build",
            "--locked",
            "-p",
            "krypt7-desktop",
            "-p",
            "krypt7-cli",
            "-p",
            "krypt7-e2e",
        ],
    ))?;
    let bin = sh::target_dir().join("debug");
    let shots = sh::target_dir().join("e2e-screenshots");
    let _ = std::fs::remove_dir_all(&shots);
    let status = in_desktop_session(
        &driver,
        &bin.join("krypt7-e2e"),
        &[
            bin.join("krypt7-desktop").as_os_str(),
            bin.join("krypt7").as_os_str(),
            shots.as_os_str(),
        ],
    )?;
    if !status.success() {
        bail!(
            "the end-to-end test failed ({status}); screenshots of the steps it reached are in {}",
            shots.display()
        );
    }
    eprintln!("screenshots: {}", shots.display());
    Ok(())
}

/// `cargo xtask bench app [MINUTES]`: the release app and its `.deb` from `cargo xtask
/// dist`, measured by `krypt7-app-bench` (tests/e2e/src/bench.rs).
pub fn bench_app(minutes: u32) -> Result<()> {
    let driver = desktop_tools()?;
    let bundles = crate::dist::run()?;
    let deb = bundles
        .iter()
        .find(|p| p.extension().is_some_and(|e| e == "deb"))
        .context("cargo xtask dist made no .deb")?;
    sh::run(&mut sh::cmd(
        "cargo",
        &["build", "--locked", "-p", "krypt7-e2e"],
    ))?;
    let minutes = minutes.to_string();
    let status = in_desktop_session(
        &driver,
        &sh::target_dir().join("debug/krypt7-app-bench"),
        &[
            sh::target_dir().join("release/krypt7-desktop").as_os_str(),
            deb.as_os_str(),
            minutes.as_ref(),
        ],
    )?;
    if !status.success() {
        bail!("the app benchmark failed ({status})");
    }
    Ok(())
}

fn tempfile_dir(prefix: &str) -> Result<std::path::PathBuf> {
    let d = std::env::temp_dir().join(format!("{prefix}-{}", std::process::id()));
    std::fs::create_dir_all(&d)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&d, std::fs::Permissions::from_mode(0o700))?;
    }
    Ok(d)
}
