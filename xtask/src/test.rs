//! `cargo xtask test`: exactly what CI runs.

use std::time::Instant;

use anyhow::Result;

use crate::{e2e, sh, system, ui};

const FUZZ_RUNS: &str = "-runs=20000";

pub fn run(_args: &[String]) -> Result<()> {
    let started = Instant::now();
    let mut steps: Vec<(&str, f64)> = Vec::new();
    let mut step = |name: &'static str, f: &mut dyn FnMut() -> Result<()>| -> Result<()> {
        eprintln!("\n== {name}");
        let t = Instant::now();
        f()?;
        steps.push((name, t.elapsed().as_secs_f64()));
        Ok(())
    };

    step("set-up", &mut || {
        system::ensure_packages(&[system::BUILD, system::TEST].concat())
    })?;
    step("ui build", &mut ui::build)?;
    step("format", &mut || {
        sh::run(&mut sh::cmd("cargo", &["fmt", "--all", "--check"]))?;
        sh::run(&mut sh::cmd(
            "cargo",
            &["fmt", "--manifest-path", "fuzz/Cargo.toml", "--check"],
        ))
    })?;
    step("clippy", &mut || {
        sh::run(&mut sh::cmd(
            "cargo",
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--locked",
                "--",
                "-D",
                "warnings",
            ],
        ))?;
        sh::run(&mut sh::cmd(
            "cargo",
            &[
                "clippy",
                "--manifest-path",
                "fuzz/Cargo.toml",
                "--all-targets",
                "--locked",
                "--",
                "-D",
                "warnings",
            ],
        ))
    })?;
    step("ui checks", &mut ui::check)?;
    step("python tools", &mut python_tools)?;
    step("tests", &mut || {
        sh::run(&mut sh::cmd("cargo", &["test", "--workspace", "--locked"]))
    })?;
    step("ui in a browser (mocked IPC)", &mut e2e::mocked_ui)?;
    step("app in a real window", &mut e2e::real_app)?;
    step("second implementation", &mut second_implementation)?;
    step("fuzz targets", &mut fuzz)?;

    eprintln!(
        "\n== all checks passed in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    for (name, secs) in &steps {
        eprintln!("   {name:<22} {secs:>6.1} s");
    }
    Ok(())
}

/// Python packages the checks use, pinned, in a virtualenv under the target directory (the
/// server's schemathesis test finds it there): pyca/cryptography and argon2-cffi for the
/// second implementation of the formats, schemathesis for the API.
fn python_tools() -> Result<()> {
    let venv = sh::target_dir().join("python-venv");
    let python = venv.join("bin/python");
    let pins = [
        "cryptography==50.0.2",
        "argon2-cffi==25.1.0",
        "schemathesis==4.32.5",
    ];
    let stamp = venv.join("krypt7-pins.txt");
    if std::fs::read_to_string(&stamp).ok().as_deref() != Some(&pins.join("\n")) {
        sh::run(sh::cmd("python3", &["-m", "venv"]).arg(&venv))?;
        let mut args = vec!["-m", "pip", "install", "-q", "--disable-pip-version-check"];
        args.extend(pins);
        sh::run(&mut sh::cmd(&python.to_string_lossy(), &args))?;
        std::fs::write(&stamp, pins.join("\n"))?;
    }
    Ok(())
}

/// The frozen vectors of KRYPT7's formats, checked by an independent Python implementation
/// written from docs/crypto.md.
fn second_implementation() -> Result<()> {
    let python = sh::target_dir().join("python-venv/bin/python");
    let crate_dir = sh::root().join("crates/krypt7-crypto");
    sh::run(
        sh::cmd(&python.to_string_lossy(), &[])
            .arg(crate_dir.join("tests/second_implementation.py"))
            .arg(crate_dir.join("tests/vectors/krypt7")),
    )
}

/// Builds every `cargo fuzz` target with coverage instrumentation (stable toolchain, so no
/// sanitizer) and runs each for a bounded number of inputs as a smoke test.
fn fuzz() -> Result<()> {
    system::ensure_cargo_tool("cargo-fuzz", "cargo-fuzz", "0.13.2")?;
    let fuzz_dir = sh::root().join("fuzz");
    let list = sh::output(sh::cmd("cargo", &["fuzz", "list"]).current_dir(&fuzz_dir))?;
    let targets: Vec<&str> = list
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect();
    anyhow::ensure!(!targets.is_empty(), "`cargo fuzz list` found no targets");
    sh::run(sh::cmd("cargo", &["fuzz", "build", "-s", "none"]).current_dir(&fuzz_dir))?;
    for t in targets {
        sh::run(
            sh::cmd("cargo", &["fuzz", "run", "-s", "none", t, "--", FUZZ_RUNS])
                .current_dir(&fuzz_dir),
        )?;
    }
    Ok(())
}
