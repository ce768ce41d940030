//! Settings: flags, then environment variables (`KRYPT7_SERVER_*`), then a TOML file
//! (`--config`), then defaults. See `docs/server.md` for every setting.

use std::{net::SocketAddr, path::PathBuf};

use serde::Deserialize;

/// Everything the server needs to run.
#[derive(Clone, Debug)]
pub struct Config {
    /// Where the SQLite database, the blobs, the development CA and `sms.log` live.
    pub data_dir: PathBuf,
    pub listen: SocketAddr,
    /// `postgres://…` for PostgreSQL; `None` for the embedded SQLite file in `data_dir`.
    pub database_url: Option<String>,
    /// PEM certificate chain and key; both `None` for the development CA.
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    /// Storage limit of an account (the plan size), in bytes.
    pub quota_bytes: i64,
    /// Largest accepted request body (JSON), in bytes.
    pub max_body_bytes: usize,
    /// An HTTP SMS gateway; `None` writes messages to `data_dir/sms.log`.
    pub sms_gateway_url: Option<String>,
    pub sms_gateway_token: Option<String>,
    /// How often the purge job looks for deleted accounts, in seconds.
    pub purge_interval_secs: u64,
    /// A session unused this long ends (the device signs in again), in seconds.
    pub session_idle_secs: i64,
    /// A session ends this long after its sign-in, used or not, in seconds.
    pub session_max_secs: i64,
    /// Sign-in, registration, second-factor and step-up attempts allowed per minute from
    /// one address, and against one account (or pending sign-in).
    pub attempts_per_ip_per_minute: u32,
    pub attempts_per_account_per_minute: u32,
    /// How long unauthorized attempts (and ended sessions) are kept, in seconds.
    pub attempts_retention_secs: i64,
    /// Load balancers or reverse proxies in front of the server: a request whose TCP peer is
    /// in one of these networks has its client's address read from `client_ip_header`.
    pub trusted_proxies: Vec<ipnet::IpNet>,
    /// The header a trusted proxy puts the client's address in (`X-Forwarded-For`, or a
    /// one-address header such as `X-Real-IP`); `None` uses the TCP peer always.
    pub client_ip_header: Option<String>,
    /// Accept `PUT /v1/items/{id}` (an item outside a commit, which clients refuse): for
    /// load tests and tools only, never for a server real clients use.
    pub raw_item_writes: bool,
    /// The server keys as text (`KRYPT7_SERVER_KEYS`: `ID:KEY`, comma-separated, the first
    /// sealing); `None` reads them from `server_key_file`.
    pub server_keys: Option<String>,
    /// The file of server keys (one `ID:KEY` a line); `None` is `DATA_DIR/server-keys`,
    /// made with one new key when missing. Never in the database.
    pub server_key_file: Option<PathBuf>,
    /// The domain of this server's mail addresses (`username@mail_domain`).
    pub mail_domain: String,
    /// Largest sealed message (one copy), in bytes; attachments travel as blobs.
    pub max_mail_bytes: usize,
    /// Deliveries (one message to one recipient) a sender may make per minute.
    pub mail_per_sender_per_minute: u32,
}

impl Config {
    pub const DEFAULT_LISTEN: &'static str = "127.0.0.1:8443";
    pub const DEFAULT_QUOTA: i64 = 1 << 30;
    pub const DEFAULT_MAX_BODY: usize = 4 << 20;
    /// A sealed message fits an item envelope once taken in (`docs/mail.md`).
    pub const DEFAULT_MAX_MAIL: usize = 768 << 10;
    pub const DEFAULT_SESSION_IDLE: i64 = 30 * 24 * 3600;
    pub const DEFAULT_SESSION_MAX: i64 = 365 * 24 * 3600;
    pub const DEFAULT_ATTEMPTS_RETENTION: i64 = 90 * 24 * 3600;

    /// A configuration with defaults for everything but the data directory.
    pub fn new(data_dir: PathBuf) -> Self {
        Config {
            data_dir,
            listen: Self::DEFAULT_LISTEN
                .parse()
                .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], 8443))),
            database_url: None,
            tls_cert: None,
            tls_key: None,
            quota_bytes: Self::DEFAULT_QUOTA,
            max_body_bytes: Self::DEFAULT_MAX_BODY,
            sms_gateway_url: None,
            sms_gateway_token: None,
            purge_interval_secs: 3600,
            session_idle_secs: Self::DEFAULT_SESSION_IDLE,
            session_max_secs: Self::DEFAULT_SESSION_MAX,
            attempts_per_ip_per_minute: 30,
            attempts_per_account_per_minute: 10,
            attempts_retention_secs: Self::DEFAULT_ATTEMPTS_RETENTION,
            trusted_proxies: Vec::new(),
            client_ip_header: None,
            raw_item_writes: false,
            server_keys: None,
            server_key_file: None,
            mail_domain: "localhost".into(),
            max_mail_bytes: Self::DEFAULT_MAX_MAIL,
            mail_per_sender_per_minute: 120,
        }
    }

    /// Whether a session signed in at `created_at` and last used at `last_seen_at` has
    /// ended by `now` (idle too long, or older than the absolute limit).
    pub fn session_expired(&self, created_at: i64, last_seen_at: i64, now: i64) -> bool {
        now - last_seen_at >= self.session_idle_secs || now - created_at >= self.session_max_secs
    }
}

/// The optional TOML file (`--config FILE`); flags and environment variables override it.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub data_dir: Option<PathBuf>,
    pub listen: Option<SocketAddr>,
    pub database_url: Option<String>,
    pub tls_cert: Option<PathBuf>,
    pub tls_key: Option<PathBuf>,
    pub quota_bytes: Option<i64>,
    pub max_body_bytes: Option<usize>,
    pub sms_gateway_url: Option<String>,
    pub sms_gateway_token: Option<String>,
    pub session_idle_secs: Option<i64>,
    pub session_max_secs: Option<i64>,
    pub attempts_retention_secs: Option<i64>,
    pub attempts_per_ip_per_minute: Option<u32>,
    pub attempts_per_account_per_minute: Option<u32>,
    pub trusted_proxies: Option<Vec<ipnet::IpNet>>,
    pub client_ip_header: Option<String>,
    pub server_key_file: Option<PathBuf>,
    pub mail_domain: Option<String>,
    pub max_mail_bytes: Option<usize>,
    pub mail_per_sender_per_minute: Option<u32>,
}

impl FileConfig {
    pub fn load(path: &std::path::Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", path.display()))?;
        toml::from_str(&text)
            .map_err(|e| anyhow::anyhow!("invalid config file {}: {e}", path.display()))
    }
}
