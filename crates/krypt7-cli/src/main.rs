//! `krypt7`, the command-line client. Skeleton until the client-core issue lands.

fn main() -> std::process::ExitCode {
    eprintln!(
        "krypt7 {}: the command-line client is not built yet",
        env!("CARGO_PKG_VERSION")
    );
    std::process::ExitCode::FAILURE
}
