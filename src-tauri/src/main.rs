//! The KRYPT7 desktop app (`src/lib.rs` holds everything).
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

fn main() -> std::process::ExitCode {
    match krypt7_desktop::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("krypt7-desktop: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
