//! The KRYPT7 desktop app (`src/lib.rs` holds everything).
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

/// mimalloc: decrypting and indexing a vault allocates many small strings, which it serves
/// about twice as fast as the system allocator (docs/sync.md, "Unlock and the search index").
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    match krypt7_desktop::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("krypt7-desktop: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
