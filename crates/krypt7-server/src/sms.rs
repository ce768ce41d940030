//! Sending SMS codes: a trait with two real implementations. `LogSms` (the default) appends
//! each message to `sms.log` in the data directory, for development and tests; `HttpSms`
//! posts it to an HTTP gateway (`--sms-gateway-url`, `--sms-gateway-token`).

use std::{future::Future, io::Write, path::PathBuf, pin::Pin};

pub type SendFuture<'a> = Pin<Box<dyn Future<Output = anyhow::Result<()>> + Send + 'a>>;

pub trait SmsSender: Send + Sync {
    fn send<'a>(&'a self, to: &'a str, text: &'a str) -> SendFuture<'a>;
}

/// Appends `to=<number> <text>` lines to a file.
pub struct LogSms(pub PathBuf);

impl SmsSender for LogSms {
    fn send<'a>(&'a self, to: &'a str, text: &'a str) -> SendFuture<'a> {
        Box::pin(async move {
            let path = self.0.clone();
            let line = format!("to={to} {text}\n");
            tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
                let mut f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)?;
                f.write_all(line.as_bytes())?;
                Ok(())
            })
            .await??;
            Ok(())
        })
    }
}

/// POSTs `{"to": …, "text": …}` with `Authorization: Bearer <token>` to a gateway URL.
/// HTTPS with certificate validation; plain HTTP only to a loopback address.
pub struct HttpSms {
    url: String,
    token: String,
    client: reqwest::Client,
}

impl HttpSms {
    pub fn new(url: &str, token: &str) -> anyhow::Result<Self> {
        let parsed = reqwest::Url::parse(url)
            .map_err(|e| anyhow::anyhow!("invalid SMS gateway URL: {e}"))?;
        let loopback = matches!(parsed.host_str(), Some("127.0.0.1" | "localhost" | "[::1]"));
        anyhow::ensure!(
            parsed.scheme() == "https" || loopback,
            "the SMS gateway URL must use https"
        );
        let client = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(10))
            .build()?;
        Ok(HttpSms {
            url: url.to_string(),
            token: token.to_string(),
            client,
        })
    }
}

impl SmsSender for HttpSms {
    fn send<'a>(&'a self, to: &'a str, text: &'a str) -> SendFuture<'a> {
        Box::pin(async move {
            let resp = self
                .client
                .post(&self.url)
                .bearer_auth(&self.token)
                .json(&serde_json::json!({ "to": to, "text": text }))
                .send()
                .await?;
            anyhow::ensure!(
                resp.status().is_success(),
                "SMS gateway answered {}",
                resp.status()
            );
            Ok(())
        })
    }
}
