//! `cargo xtask dist`: release bundles of the desktop app through the Tauri CLI (the npm
//! package in `ui/`), with the `krypt7` CLI, its manual pages and shell completions beside
//! it (Linux). On Linux a `.deb` and an `.rpm`, both built offline;
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
    let mut bundle = vec!["bundle", "--ci", "--bundles", bundles];
    let extra;
    if cfg!(target_os = "linux") {
        extra = cli_files()?;
        bundle.extend(["--config", &extra]);
    }
    in_app(&bundle)?;
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

/// Builds the `krypt7` CLI, writes its manual pages (gzipped) and completion scripts, and
/// returns the Tauri configuration that puts them in the `.deb` and the `.rpm`: the binary in
/// `/usr/bin`, the pages in `/usr/share/man/man1`, completions where bash, zsh and fish look.
fn cli_files() -> Result<String> {
    sh::run(&mut sh::cmd(
        "cargo",
        &["build", "--release", "--locked", "-p", "krypt7-cli"],
    ))?;
    let bin = sh::target_dir().join("release/krypt7");
    let bin_s = bin.to_str().context("the CLI's path")?;
    sh::run(&mut sh::cmd("strip", &[bin_s]))?;
    let dir = sh::target_dir().join("release/cli-dist");
    let _ = std::fs::remove_dir_all(&dir);
    let man = dir.join("man1");
    sh::run(&mut sh::cmd(
        bin_s,
        &["man", man.to_str().context("the pages' path")?],
    ))?;
    let mut files = serde_json::Map::new();
    files.insert("/usr/bin/krypt7".into(), bin_s.into());
    for page in std::fs::read_dir(&man)?.flatten() {
        let path = page.path();
        sh::run(&mut sh::cmd(
            "gzip",
            &["-9nf", path.to_str().context("a page's path")?],
        ))?;
        let name = page.file_name().to_string_lossy().into_owned();
        let gz = path.with_file_name(format!("{name}.gz"));
        files.insert(
            format!("/usr/share/man/man1/{name}.gz"),
            gz.to_str().context("a page's path")?.into(),
        );
    }
    for (shell, dest) in [
        ("bash", "/usr/share/bash-completion/completions/krypt7"),
        ("zsh", "/usr/share/zsh/vendor-completions/_krypt7"),
        ("fish", "/usr/share/fish/vendor_completions.d/krypt7.fish"),
    ] {
        let script = sh::output(&mut sh::cmd(bin_s, &["completions", shell]))?;
        let file = dir.join(format!("krypt7.{shell}"));
        std::fs::write(&file, script)?;
        files.insert(
            dest.into(),
            file.to_str().context("a script's path")?.into(),
        );
    }
    let files = serde_json::Value::Object(files);
    Ok(serde_json::json!({"bundle": {"linux": {
        "deb": {"files": files},
        "rpm": {"files": files},
    }}})
    .to_string())
}
