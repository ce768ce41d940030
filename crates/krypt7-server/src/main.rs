//! `krypt7-server`, the hosted backend. Skeleton until the server issue lands.

fn main() -> std::process::ExitCode {
    eprintln!(
        "krypt7-server {}: the server is not built yet",
        env!("CARGO_PKG_VERSION")
    );
    std::process::ExitCode::FAILURE
}
