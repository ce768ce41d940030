//! `cargo xtask dist`: release bundles of the desktop app through the Tauri CLI (the npm
//! package in `ui/`). On Linux a `.deb` and an `.rpm`, both built offline;
//! `src-tauri/tauri.conf.json` also configures `.msi`/NSIS and `.dmg` for the other systems,
//! and AppImage (not built here: its tool is downloaded from the internet).

use std::path::PathBuf;

use anyhow::{Context, Result, bail};

use crate::{sh, system, ui};

/// Builds the bundles for this system and returns their paths.
pub fn run() -> Result<Vec<PathBuf>> {
    system::ensure_packages(system::BUILD)?;
    ui::build()?;
    let bundles = if cfg!(target_os = "linux") {
        "deb,rpm"
    } else if cfg!(target_os = "macos") {
        "dmg"
    } else {
        "msi,nsis"
    };
    let tauri = sh::root().join("ui/node_modules/.bin/tauri");
    let tauri = tauri.to_str().context("the Tauri CLI's path")?;
    let in_app = |args: &[&str]| {
        let mut c = sh::cmd(tauri, args);
        c.current_dir(sh::root().join("src-tauri"));
        sh::run(&mut c)
    };
    // Built, then stripped of the line tables the release profile keeps for profiling
    // (131 MB → 16 MB here), then bundled.
    in_app(&["build", "--ci", "--no-bundle"])?;
    if cfg!(target_os = "linux") {
        let bin = sh::target_dir().join("release/krypt7-desktop");
        sh::run(&mut sh::cmd(
            "strip",
            &[bin.to_str().context("the app's path")?],
        ))?;
    }
    in_app(&["bundle", "--ci", "--bundles", bundles])?;
    let dir = sh::target_dir().join("release/bundle");
    let mut out = vec![];
    for kind in bundles.split(',') {
        for e in std::fs::read_dir(dir.join(kind))
            .with_context(|| format!("no {kind} bundle in {}", dir.display()))?
            .flatten()
        {
            if e.path().is_file() {
                out.push(e.path());
            }
        }
    }
    if out.is_empty() {
        bail!("the Tauri CLI made no bundle in {}", dir.display());
    }
    for p in &out {
        let size = std::fs::metadata(p)?.len();
        println!("{} ({:.1} MB)", p.display(), size as f64 / 1e6);
    }
    Ok(out)
}
