//! The KRYPT7 desktop shell. Skeleton until the desktop issue lands: Tauri and the UI come then.

fn main() -> std::process::ExitCode {
    eprintln!(
        "krypt7-desktop {}: the desktop app is not built yet",
        env!("CARGO_PKG_VERSION")
    );
    std::process::ExitCode::FAILURE
}
