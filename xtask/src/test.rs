//! `cargo xtask test`: exactly what CI runs.

use std::time::Instant;

use anyhow::Result;

use crate::{sh, system};

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

    step("set-up", &mut || system::ensure_packages(system::BUILD))?;
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
    step("tests", &mut || {
        sh::run(&mut sh::cmd("cargo", &["test", "--workspace", "--locked"]))
    })?;
    step("fuzz targets", &mut fuzz)?;

    eprintln!(
        "\n== all checks passed in {:.0} s",
        started.elapsed().as_secs_f64()
    );
    for (name, secs) in &steps {
        eprintln!("   {name:<14} {secs:>6.1} s");
    }
    Ok(())
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
