//! The KRYPT7 desktop app (`src/lib.rs` holds everything).
#![cfg_attr(not(debug_assertions), windows_subsystem = "windows")]

// The system allocator, not mimalloc as in the CLI: mimalloc keeps freed memory resident
// for a while, and each unlock frees the KDF's 64 MiB (80 MB more resident after unlock,
// measured by `cargo xtask bench app`; docs/desktop.md "Benchmark"). The app unlocks from
// the sealed search index, so mimalloc's faster decryption of every item rarely matters.
// Wrapped so that every freed allocation is zeroed first: what was decrypted, typed or
// shown does not stay in freed memory after a lock (docs/desktop.md, "Memory after lock").
#[global_allocator]
static ALLOC: zeroizing_alloc::ZeroAlloc<std::alloc::System> =
    zeroizing_alloc::ZeroAlloc(std::alloc::System);

fn main() -> std::process::ExitCode {
    match krypt7_desktop::run() {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("krypt7-desktop: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}
