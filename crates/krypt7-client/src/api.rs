//! The server, as the client sees it: HTTPS with certificate validation (system roots, or a
//! given CA for self-hosting; never "accept invalid"), JSON bodies from krypt7-protocol.

use krypt7_protocol::ApiError;
use reqwest::{Method, StatusCode};
use serde::{Serialize, de::DeserializeOwned};

use crate::error::{ClientError, Result};

#[derive(Clone)]
pub struct Api {
    base: String,
    http: reqwest::Client,
}

impl Api {
    /// `ca_pem`: trust this CA (e.g. a self-hosted server's) instead of the system roots.
    pub fn new(base: &str, ca_pem: Option<&[u8]>) -> Result<Api> {
        let base = base.trim_end_matches('/').to_string();
        if !base.starts_with("https://") {
            return Err(ClientError::Invalid(
                "the server URL must start with https://".into(),
            ));
        }
        let mut b = reqwest::Client::builder()
            .https_only(true)
            .timeout(std::time::Duration::from_secs(30));
        if let Some(pem) = ca_pem {
            let cert = reqwest::Certificate::from_pem(pem).map_err(|e| {
                ClientError::Invalid(format!("the CA file is not a PEM certificate: {e}"))
            })?;
            b = b.tls_built_in_root_certs(false).add_root_certificate(cert);
        }
        let http = b
            .build()
            .map_err(|e| ClientError::Invalid(format!("TLS set-up failed: {e}")))?;
        Ok(Api { base, http })
    }

    pub async fn call<B: Serialize, R: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<&B>,
    ) -> Result<R> {
        let mut rq = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            rq = rq.bearer_auth(t);
        }
        if let Some(b) = body {
            rq = rq.json(b);
        }
        let resp = rq
            .send()
            .await
            .map_err(|e| ClientError::Offline(describe(&e)))?;
        let status = resp.status();
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| ClientError::Offline(describe(&e)))?;
        if !status.is_success() {
            let (code, message) = match serde_json::from_slice::<ApiError>(&bytes) {
                Ok(e) => (
                    serde_json::to_value(e.code)
                        .ok()
                        .and_then(|v| v.as_str().map(String::from))
                        .unwrap_or_default(),
                    e.message,
                ),
                Err(_) => ("unknown".into(), format!("HTTP {status}")),
            };
            return Err(ClientError::Server {
                status: status.as_u16(),
                code,
                message,
            });
        }
        let bytes = if status == StatusCode::NO_CONTENT || bytes.is_empty() {
            &b"null"[..]
        } else {
            &bytes[..]
        };
        serde_json::from_slice(bytes)
            .map_err(|e| ClientError::Integrity(format!("the server's answer is not valid: {e}")))
    }
}

/// The whole error chain: reqwest's top-level message hides the TLS reason.
fn describe(e: &reqwest::Error) -> String {
    let mut s = e.to_string();
    let mut src = std::error::Error::source(e);
    while let Some(c) = src {
        s.push_str(": ");
        s.push_str(&c.to_string());
        src = c.source();
    }
    s
}
