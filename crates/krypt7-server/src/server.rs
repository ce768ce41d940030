//! Starting and stopping a server (used by `main` and by the tests).

use std::net::SocketAddr;

use anyhow::{Context, Result};
use axum_server::{Handle, tls_rustls::RustlsConfig};

use crate::{
    api::{AppState, Notice, router},
    clock::Clock,
    config::Config,
    db::Db,
    opaque::Opaque,
    tls,
};

/// A server running on this process's tokio runtime.
pub struct RunningServer {
    pub addr: SocketAddr,
    /// The development CA's PEM file, when it is in use.
    pub dev_ca: Option<(std::path::PathBuf, String)>,
    pub state: AppState,
    handle: Handle<SocketAddr>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl RunningServer {
    /// Stops accepting, lets requests in flight finish (up to 5 s), and waits, including
    /// for database writes a request dropped midway had already handed to the database:
    /// once this returns, nothing more lands in storage.
    pub async fn stop(self) {
        self.handle
            .graceful_shutdown(Some(std::time::Duration::from_secs(5)));
        let _ = self.task.await;
        self.state.db.pool().close().await;
    }

    /// Waits until the server stops by itself (it does not, unless it fails).
    pub async fn wait(self) -> Result<()> {
        self.task.await.context("server task")?.context("server")
    }
}

/// Opens storage, prepares TLS and starts serving `/v1` on `config.listen` (port 0: any).
pub async fn start(config: Config, clock: Clock) -> Result<RunningServer> {
    // rustls needs one process-wide crypto provider; ring is the one this build carries.
    let _ = rustls::crypto::ring::default_provider().install_default();
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;
    let tls_files = tls::prepare(
        &config.data_dir,
        config.tls_cert.as_deref(),
        config.tls_key.as_deref(),
    )?;
    let rustls = RustlsConfig::from_pem_file(&tls_files.cert, &tls_files.key)
        .await
        .with_context(|| {
            format!(
                "loading TLS certificate {} and key {}",
                tls_files.cert.display(),
                tls_files.key.display()
            )
        })?;
    let db = Db::connect(&config).await.context("opening the database")?;
    let opaque = Opaque::from_bytes(
        &db.server_secret("opaque_server_setup", Opaque::generate)
            .await?,
    )?;
    let fake_key = db
        .server_secret("fake_answer_key", || {
            let mut k = vec![0u8; 32];
            use ring::rand::SecureRandom;
            let _ = ring::rand::SystemRandom::new().fill(&mut k);
            k
        })
        .await?;
    let sms: Box<dyn crate::sms::SmsSender> =
        match (&config.sms_gateway_url, &config.sms_gateway_token) {
            (Some(url), Some(token)) => Box::new(crate::sms::HttpSms::new(url, token)?),
            (None, None) => Box::new(crate::sms::LogSms(config.data_dir.join("sms.log"))),
            _ => anyhow::bail!("--sms-gateway-url and --sms-gateway-token go together"),
        };
    let blobs = Box::new(
        crate::blobs::FsBlobStore::new(config.data_dir.join("blobs"))
            .context("creating the blob directory")?,
    );
    let state = AppState::new(db, opaque, config.clone(), clock, &fake_key, sms, blobs);
    if let Some(url) = config.database_url.clone() {
        tokio::spawn(listen_for_changes(url, state.clone()));
    }
    let purge = crate::purge::spawn(
        state.clone(),
        std::time::Duration::from_secs(config.purge_interval_secs.max(1)),
    );
    let app = router(state.clone()).into_make_service_with_connect_info::<SocketAddr>();

    let listener = std::net::TcpListener::bind(config.listen)
        .with_context(|| format!("binding {}", config.listen))?;
    listener.set_nonblocking(true)?;
    let addr = listener.local_addr()?;
    let handle = Handle::new();
    let server = axum_server::from_tcp_rustls(listener, rustls)?.handle(handle.clone());
    let task = tokio::spawn(async move {
        let r = server.serve(app).await;
        purge.abort();
        r
    });
    Ok(RunningServer {
        addr,
        dev_ca: tls_files.dev_ca,
        state,
        handle,
        task,
    })
}

/// Relays PostgreSQL NOTIFY messages (`account:cursor`, `account:attempt`) to this node's
/// subscribers, so a device connected to any node hears about a write made through any
/// other.
async fn listen_for_changes(url: String, state: AppState) {
    loop {
        let result: Result<(), sqlx::Error> = async {
            let mut listener = sqlx::postgres::PgListener::connect(&url).await?;
            listener.listen(Db::CHANNEL).await?;
            loop {
                let n = listener.recv().await?;
                let parsed = n.payload().split_once(':').and_then(|(a, c)| {
                    Some((a.parse::<uuid::Uuid>().ok()?, c.parse::<Notice>().ok()?))
                });
                if let Some((account, notice)) = parsed {
                    state.events.publish(account, notice);
                }
            }
        }
        .await;
        if let Err(e) = result {
            tracing::warn!(error = %e, "change listener lost its connection; reconnecting");
            tokio::time::sleep(std::time::Duration::from_secs(1)).await;
        }
    }
}
