//! `cargo xtask`: every KRYPT7 workflow in one place (see README.md).
//!
//! - `cargo xtask test`   everything CI checks: set-up, fmt, clippy, all tests, fuzz targets
//! - `cargo xtask run`    a local server on its SQLite default and the desktop app against it
//! - `cargo xtask bench [crypto|server|client|files|mail|app [MINUTES]]`  benchmarks, each beside
//!   its peer, as a table

mod bench;
mod dist;
mod e2e;
mod run;
mod sh;
mod system;
mod test;
#[cfg(test)]
mod tidy;
mod ui;

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
        Some("dist") => dist::run().map(drop),
        Some("e2e") => {
            system::ensure_packages(system::BUILD)?;
            ui::build()?;
            if rest.first().map(String::as_str) != Some("real") {
                e2e::mocked_ui()?;
            }
            e2e::real_app()
        }
        Some("-h" | "--help" | "help") | None => {
            print!("{}", USAGE);
            Ok(())
        }
        Some(other) => bail!("unknown task `{other}`\n\n{USAGE}"),
    }
}

const USAGE: &str = "\
usage: cargo xtask <task>

  test              install what is missing (Debian packages, tools, the UI's npm packages),
                    then the UI build and checks, fmt check, clippy -D warnings, every
                    test, and the fuzz targets: exactly what CI runs
  run               start a local krypt7-server and the desktop app against it
  e2e [real]        only the UI in a browser (mocked IPC) and the real app in a real window
                    (with `real`: only the real app)
  dist              release bundles of the desktop app (Linux: .deb and .rpm, offline)
  bench [NAME…]     benchmarks beside their peers (crypto, server, client, client-small,
                    files, mail, mail-small, app [MINUTES]; default: all but the -small ones)
";
