//! The web UI in `ui/`: installed from the lockfile, checked, tested and built into
//! `ui/dist`, which the desktop crate embeds (so it must exist before cargo builds it).

use anyhow::{Result, bail};

use crate::sh;

fn npm(args: &[&str]) -> Result<()> {
    let mut c = sh::cmd("npm", args);
    c.current_dir(sh::root().join("ui"));
    sh::run(&mut c)
}

/// Node.js 20.19 or later and npm (Vite 8's floor).
fn ensure_node() -> Result<()> {
    let v = sh::output(&mut sh::cmd("node", &["--version"])).unwrap_or_default();
    let mut parts = v.trim().trim_start_matches('v').split('.');
    let major: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    let minor: u32 = parts.next().and_then(|p| p.parse().ok()).unwrap_or(0);
    if major < 20 || (major == 20 && minor < 19) || !sh::have("npm") {
        bail!(
            "the UI needs Node.js 20.19 or later with npm (found {:?}); install it, e.g. from \
             https://nodejs.org, and run this again",
            v.trim()
        );
    }
    Ok(())
}

/// Installs the UI's packages exactly as locked and builds `ui/dist`.
pub fn build() -> Result<()> {
    ensure_node()?;
    npm(&["ci", "--no-audit", "--no-fund", "--loglevel=error"])?;
    npm(&["run", "build"])
}

/// Type check (svelte-check), lint (eslint) and unit tests (vitest).
pub fn check() -> Result<()> {
    npm(&["run", "check"])?;
    npm(&["run", "lint"])?;
    npm(&["run", "test"])
}
