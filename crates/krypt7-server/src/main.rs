//! `krypt7-server`: see `krypt7-server serve --help` and `docs/server.md`.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode};

use clap::{Parser, Subcommand};
use krypt7_server::{Config, clock::Clock, config::FileConfig};

#[derive(Parser)]
#[command(
    name = "krypt7-server",
    version,
    about = "KRYPT7 hosted backend (HTTPS only)"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API over HTTPS.
    Serve(Serve),
}

#[derive(clap::Args)]
struct Serve {
    /// TOML file with any of the settings below (flags and environment override it).
    #[arg(long, env = "KRYPT7_SERVER_CONFIG")]
    config: Option<PathBuf>,
    /// Database file, blobs, development CA and sms.log live here.
    #[arg(long, env = "KRYPT7_SERVER_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Address to listen on.
    #[arg(long, env = "KRYPT7_SERVER_LISTEN")]
    listen: Option<SocketAddr>,
    /// postgres://user:pass@host/db for PostgreSQL; leave out for the embedded SQLite file.
    #[arg(long, env = "KRYPT7_SERVER_DATABASE_URL")]
    database_url: Option<String>,
    /// PEM certificate chain (with --tls-key); leave both out for a development CA.
    #[arg(long, env = "KRYPT7_SERVER_TLS_CERT")]
    tls_cert: Option<PathBuf>,
    #[arg(long, env = "KRYPT7_SERVER_TLS_KEY")]
    tls_key: Option<PathBuf>,
    /// Storage limit per account, in bytes.
    #[arg(long, env = "KRYPT7_SERVER_QUOTA_BYTES")]
    quota_bytes: Option<i64>,
    /// HTTP SMS gateway (with --sms-gateway-token); leave out to write SMS to data_dir/sms.log.
    #[arg(long, env = "KRYPT7_SERVER_SMS_GATEWAY_URL")]
    sms_gateway_url: Option<String>,
    #[arg(long, env = "KRYPT7_SERVER_SMS_GATEWAY_TOKEN", hide_env_values = true)]
    sms_gateway_token: Option<String>,
    /// A session unused this many seconds ends (default 30 days).
    #[arg(long, env = "KRYPT7_SERVER_SESSION_IDLE_SECS")]
    session_idle_secs: Option<i64>,
    /// A session ends this many seconds after its sign-in (default 1 year).
    #[arg(long, env = "KRYPT7_SERVER_SESSION_MAX_SECS")]
    session_max_secs: Option<i64>,
}

fn config(s: Serve) -> anyhow::Result<Config> {
    let file = s
        .config
        .as_deref()
        .map(FileConfig::load)
        .transpose()?
        .unwrap_or_default();
    let data_dir = s.data_dir.or(file.data_dir).ok_or_else(|| {
        anyhow::anyhow!("--data-dir is required (or data_dir in the config file)")
    })?;
    let mut c = Config::new(data_dir);
    if let Some(l) = s.listen.or(file.listen) {
        c.listen = l;
    }
    c.database_url = s.database_url.or(file.database_url);
    c.tls_cert = s.tls_cert.or(file.tls_cert);
    c.tls_key = s.tls_key.or(file.tls_key);
    if let Some(q) = s.quota_bytes.or(file.quota_bytes) {
        anyhow::ensure!(q > 0, "quota_bytes must be positive");
        c.quota_bytes = q;
    }
    c.sms_gateway_url = s.sms_gateway_url.or(file.sms_gateway_url);
    c.sms_gateway_token = s.sms_gateway_token.or(file.sms_gateway_token);
    if let Some(m) = file.max_body_bytes {
        c.max_body_bytes = m;
    }
    if let Some(i) = s.session_idle_secs.or(file.session_idle_secs) {
        anyhow::ensure!(i > 0, "session_idle_secs must be positive");
        c.session_idle_secs = i;
    }
    if let Some(r) = file.attempts_retention_secs {
        anyhow::ensure!(r > 0, "attempts_retention_secs must be positive");
        c.attempts_retention_secs = r;
    }
    if let Some(m) = s.session_max_secs.or(file.session_max_secs) {
        anyhow::ensure!(m > 0, "session_max_secs must be positive");
        c.session_max_secs = m;
    }
    Ok(c)
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("KRYPT7_LOG")
                .unwrap_or_else(|_| "info".into()),
        )
        .json()
        .init();
    let Command::Serve(s) = Cli::parse().command;
    let result = async {
        let server = krypt7_server::start(config(s)?, Clock::default()).await?;
        tracing::info!(addr = %server.addr, "serving https");
        if let Some((ca, fingerprint)) = &server.dev_ca {
            // Printed for people setting up a client; the CA is public, its key stays in data_dir.
            println!(
                "krypt7-server: development CA {} (SHA-256 {fingerprint})",
                ca.display()
            );
        }
        println!("krypt7-server: listening on https://{}", server.addr);
        server.wait().await
    }
    .await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("krypt7-server: {e:#}");
            ExitCode::FAILURE
        }
    }
}
