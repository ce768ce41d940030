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

pub fn real_app() -> Result<()> {
    system::ensure_packages(&[
        "xvfb",
        "xauth",
        "webkit2gtk-driver",
        "dbus-daemon",
        "gnome-keyring",
    ])?;
    let driver = system::ensure_cargo_tool("tauri-driver", "tauri-driver", "2.1.0")?;
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
    let display = format!(":{}", free_display()?);
    let _xvfb = Xvfb(
        Command::new("Xvfb")
            .args([&display, "-screen", "0", "1280x800x24", "-nolisten", "tcp"])
            .spawn()
            .context("starting Xvfb")?,
    );
    std::thread::sleep(std::time::Duration::from_millis(500));
    let runtime = tempfile_dir("krypt7-e2e-runtime")?;
    let path = format!(
        "{}:{}",
        driver
            .parent()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        std::env::var("PATH").unwrap_or_default()
    );
    // The keyring is unlocked for the run, as a desktop session would have it.
    let script = r#"printf %s krypt7-e2e | gnome-keyring-daemon --unlock --components=secrets >/dev/null && exec "$@""#;
    let status = Command::new("dbus-run-session")
        .args(["--", "sh", "-c", script, "sh"])
        .arg(bin.join("krypt7-e2e"))
        .arg(bin.join("krypt7-desktop"))
        .arg(bin.join("krypt7"))
        .arg(&shots)
        .env("DISPLAY", &display)
        .env("PATH", path)
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("XDG_DATA_HOME", runtime.join("data"))
        .status()
        .context("running the end-to-end test")?;
    let _ = std::fs::remove_dir_all(&runtime);
    if !status.success() {
        bail!(
            "the end-to-end test failed ({status}); screenshots of the steps it reached are in {}",
            shots.display()
        );
    }
    eprintln!("screenshots: {}", shots.display());
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
