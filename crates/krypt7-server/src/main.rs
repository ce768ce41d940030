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
    Serve(Box<Serve>),
    /// Print a new server key line (ID:KEY) for the server key file or KRYPT7_SERVER_KEYS.
    NewKey {
        /// Its id, 1 to 255: one no configured key has.
        #[arg(long, value_parser = clap::value_parser!(u8).range(1..))]
        id: u8,
    },
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
    /// A load balancer or reverse proxy in front (an address or a network, e.g.
    /// 10.0.0.0/8; repeat, or comma-separate in the environment): the client's address is
    /// read from --client-ip-header when the TCP peer is one of them.
    #[arg(long = "trusted-proxy", env = "KRYPT7_SERVER_TRUSTED_PROXIES", value_delimiter = ',', value_parser = parse_net)]
    trusted_proxies: Vec<ipnet::IpNet>,
    /// The header trusted proxies put the client's address in, e.g. X-Forwarded-For.
    #[arg(long, env = "KRYPT7_SERVER_CLIENT_IP_HEADER")]
    client_ip_header: Option<String>,
    /// Accept PUT /v1/items/{id} (single items outside a commit, which clients refuse): for
    /// load tests only.
    #[arg(long, hide = true)]
    raw_item_writes: bool,
    /// The file of server keys that seal emails, phone numbers, TOTP secrets, addresses and
    /// usernames in the database (one ID:KEY a line, the first sealing; default
    /// DATA_DIR/server-keys, made when missing). Keep it out of database backups.
    #[arg(long, env = "KRYPT7_SERVER_KEY_FILE")]
    server_key_file: Option<PathBuf>,
    /// The domain of mail addresses, `username@DOMAIN` (default localhost).
    #[arg(long, env = "KRYPT7_SERVER_MAIL_DOMAIN")]
    mail_domain: Option<String>,
}

/// A network (`10.0.0.0/8`) or one address (`192.0.2.7`, taken as its own /32 or /128).
fn parse_net(s: &str) -> Result<ipnet::IpNet, String> {
    let s = s.trim();
    s.parse::<ipnet::IpNet>()
        .or_else(|_| s.parse::<std::net::IpAddr>().map(ipnet::IpNet::from))
        .map_err(|_| format!("{s:?} is not an address or a network (e.g. 10.0.0.0/8)"))
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
    for (limit, value) in [
        (
            &mut c.attempts_per_ip_per_minute,
            file.attempts_per_ip_per_minute,
        ),
        (
            &mut c.attempts_per_account_per_minute,
            file.attempts_per_account_per_minute,
        ),
    ] {
        if let Some(v) = value {
            anyhow::ensure!(v > 0, "attempt limits must be positive");
            *limit = v;
        }
    }
    c.trusted_proxies = if s.trusted_proxies.is_empty() {
        file.trusted_proxies.unwrap_or_default()
    } else {
        s.trusted_proxies
    };
    c.client_ip_header = s.client_ip_header.or(file.client_ip_header);
    if let Some(d) = s.mail_domain.or(file.mail_domain) {
        let d = d.trim().trim_end_matches('.').to_ascii_lowercase();
        anyhow::ensure!(
            !d.is_empty()
                && d.split('.').all(|l| !l.is_empty()
                    && l.len() <= 63
                    && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')),
            "mail_domain must be a domain name (e.g. mail.example.org)"
        );
        c.mail_domain = d;
    }
    if let Some(m) = file.max_mail_bytes {
        anyhow::ensure!(
            (1024..=Config::DEFAULT_MAX_MAIL).contains(&m),
            "max_mail_bytes must be between 1024 and {}",
            Config::DEFAULT_MAX_MAIL
        );
        c.max_mail_bytes = m;
    }
    if let Some(m) = file.mail_per_sender_per_minute {
        anyhow::ensure!(m > 0, "mail_per_sender_per_minute must be positive");
        c.mail_per_sender_per_minute = m;
    }
    c.raw_item_writes = s.raw_item_writes;
    // The keys themselves only from the environment, never a flag (flags show in `ps`).
    c.server_keys = std::env::var("KRYPT7_SERVER_KEYS").ok();
    c.server_key_file = s.server_key_file.or(file.server_key_file);
    anyhow::ensure!(
        c.trusted_proxies.is_empty() || c.client_ip_header.is_some(),
        "trusted proxies need client_ip_header (the header they put the client's address in)"
    );
    if let Some(h) = &c.client_ip_header {
        anyhow::ensure!(
            axum::http::HeaderName::try_from(h.as_str()).is_ok(),
            "client_ip_header {h:?} is not a header name"
        );
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
    let s = match Cli::parse().command {
        Command::Serve(s) => *s,
        Command::NewKey { id } => {
            return match krypt7_server::at_rest::AtRest::new_key_line(id) {
                Ok(line) => {
                    println!("{line}");
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("krypt7-server: {e:#}");
                    ExitCode::FAILURE
                }
            };
        }
    };
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
