//! `cargo xtask`: every KRYPT7 workflow in one place (see README.md).
//!
//! - `cargo xtask test`   everything CI checks: set-up, fmt, clippy, all tests, fuzz targets
//! - `cargo xtask run`    a local server on its SQLite default and the desktop app against it
//! - `cargo xtask bench [crypto]`  benchmarks, each beside its peer, as a printed table

mod bench;
mod run;
mod sh;
mod system;
mod test;
#[cfg(test)]
mod tidy;

use std::process::ExitCode;

use anyhow::{Result, bail};

fn main() -> ExitCode {
    match dispatch() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            // The message chain only: a backtrace of xtask itself helps nobody.
            eprintln!("\nerror: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn dispatch() -> Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let rest = args.get(1..).unwrap_or(&[]);
    match args.first().map(String::as_str) {
        Some("test") => test::run(rest),
        Some("run") => run::run(rest),
        Some("bench") => bench::run(rest),
        Some("-h" | "--help" | "help") | None => {
            print!("{}", USAGE);
            Ok(())
        }
        Some(other) => bail!("unknown task `{other}`\n\n{USAGE}"),
    }
}

const USAGE: &str = "\
usage: cargo xtask <task>

  test              install what is missing (Debian packages, tools), then fmt check, clippy
                    -D warnings, every test, and the fuzz targets: exactly what CI runs
  run               start a local krypt7-server and the desktop app against it
  bench [NAME…]     benchmarks beside their peers (names: crypto; default: all)
";
