//! The server, as the client sees it: HTTPS with certificate validation (system roots, or a
//! given CA for self-hosting; never "accept invalid"), JSON bodies from krypt7-protocol.
//!
//! A hostile server cannot make the client wait or read without end: no redirect is
//! followed (one is an error), every request has a time limit, and every answer a size
//! limit ([`Api::call_capped`]; error bodies [`MAX_ERROR_BODY`]). Blob contents are
//! streamed by the caller, which bounds the time each chunk may take.
//!
//! Every authenticated call is made with an [`Auth`]: the session token, and the signal of
//! the unlocked state it came from. Locking drops that state, and every call made with it,
//! under way or still to come, ends at once with [`ClientError::Locked`]: a lock never
//! waits for the network.

use krypt7_protocol::ApiError;
use reqwest::{Method, StatusCode};
use serde::{Serialize, de::DeserializeOwned};

use crate::error::{ClientError, Result};

/// A session token, bound to the unlocked state it was taken from (or to nothing, while
/// signing in): a call made with it stops as soon as that state is dropped by a lock.
/// Deliberately not `Debug`.
#[derive(Clone)]
pub struct Auth {
    token: zeroize::Zeroizing<String>,
    /// Closed (its sender dropped) when the client locks.
    gone: tokio::sync::watch::Receiver<()>,
    /// The sender of a token bound to nothing, kept alive with the token.
    _own: Option<std::sync::Arc<tokio::sync::watch::Sender<()>>>,
    /// A step-up proof for the one dangerous call this is made for.
    step_up: Option<uuid::Uuid>,
}

impl Auth {
    /// `token`, ending when `alive` is dropped.
    pub(crate) fn bound(token: &str, alive: &tokio::sync::watch::Sender<()>) -> Auth {
        Auth {
            token: zeroize::Zeroizing::new(token.to_string()),
            gone: alive.subscribe(),
            _own: None,
            step_up: None,
        }
    }

    /// `token` of a sign-in that has no unlocked state yet.
    pub(crate) fn unbound(token: &str) -> Auth {
        let (tx, rx) = tokio::sync::watch::channel(());
        Auth {
            token: zeroize::Zeroizing::new(token.to_string()),
            gone: rx,
            _own: Some(std::sync::Arc::new(tx)),
            step_up: None,
        }
    }

    pub(crate) fn token(&self) -> &str {
        &self.token
    }

    /// This authorization, carrying the step-up proof `id` (`krypt7-step-up` header).
    pub(crate) fn with_step_up(&self, id: uuid::Uuid) -> Auth {
        Auth {
            step_up: Some(id),
            ..self.clone()
        }
    }

    /// `work`, unless the client locks first: then [`ClientError::Locked`], and `work` is
    /// dropped where it stands (the callers are written for that, as for a crash).
    pub async fn unless_locked<T>(&self, work: impl Future<Output = Result<T>>) -> Result<T> {
        let mut gone = self.gone.clone();
        tokio::select! {
            biased;
            _ = gone.changed() => Err(ClientError::Locked),
            r = work => r,
        }
    }
}

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
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(CALL_TIMEOUT);
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

    /// A JSON call whose answer may be at most [`MAX_ANSWER`] bytes.
    pub async fn call<B: Serialize, R: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        auth: Option<&Auth>,
        body: Option<&B>,
    ) -> Result<R> {
        self.call_capped(method, path, auth, body, MAX_ANSWER).await
    }

    /// A JSON call whose answer may be at most `cap` bytes: a longer one is
    /// [`ClientError::TooLarge`], and is not read past the cap.
    pub async fn call_capped<B: Serialize, R: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        auth: Option<&Auth>,
        body: Option<&B>,
        cap: usize,
    ) -> Result<R> {
        let mut rq = self.http.request(method, format!("{}{path}", self.base));
        if let Some(a) = auth {
            rq = rq.bearer_auth(a.token());
            if let Some(id) = a.step_up {
                rq = rq.header(krypt7_protocol::STEP_UP_HEADER, id.to_string());
            }
        }
        if let Some(b) = body {
            rq = rq.json(b);
        }
        let answer = async {
            let resp = rq.send().await.map_err(|e| unreachable_or_untrusted(&e))?;
            let resp = Self::check(resp).await?;
            let status = resp.status();
            Ok((status, read_capped(resp, cap).await?))
        };
        let (status, bytes) = match auth {
            Some(a) => a.unless_locked(answer).await.map_err(signed_out)?,
            None => answer.await?,
        };
        let bytes = if status == StatusCode::NO_CONTENT || bytes.is_empty() {
            &b"null"[..]
        } else {
            &bytes[..]
        };
        serde_json::from_slice(bytes)
            .map_err(|e| ClientError::Integrity(format!("the server's answer is not valid: {e}")))
    }

    /// `PUT` of raw bytes (a blob chunk); the answer carries no body.
    pub async fn put_bytes(&self, path: &str, auth: &Auth, body: Vec<u8>) -> Result<()> {
        let sent = self
            .http
            .put(format!("{}{path}", self.base))
            .bearer_auth(auth.token())
            .header(reqwest::header::CONTENT_TYPE, "application/octet-stream")
            .timeout(std::time::Duration::from_secs(300))
            .body(body)
            .send();
        auth.unless_locked(async {
            let resp = sent.await.map_err(|e| unreachable_or_untrusted(&e))?;
            Self::check(resp).await.map(drop)
        })
        .await
        .map_err(signed_out)
    }

    /// A streamed `GET` from byte `from` on (a `Range` request when `from` > 0); the caller
    /// reads the body chunk by chunk (under [`Auth::unless_locked`]).
    pub async fn get_from(&self, path: &str, auth: &Auth, from: u64) -> Result<reqwest::Response> {
        let mut rq = self
            .http
            .get(format!("{}{path}", self.base))
            .bearer_auth(auth.token())
            .timeout(std::time::Duration::from_secs(24 * 3600));
        if from > 0 {
            rq = rq.header(reqwest::header::RANGE, format!("bytes={from}-"));
        }
        let resp = auth
            .unless_locked(async {
                let resp = rq.send().await.map_err(|e| unreachable_or_untrusted(&e))?;
                Self::check(resp).await
            })
            .await
            .map_err(signed_out)?;
        if from > 0 && resp.status() != StatusCode::PARTIAL_CONTENT {
            return Err(ClientError::Integrity(
                "the server ignored the byte range asked for".into(),
            ));
        }
        Ok(resp)
    }

    /// Passes a success through; turns an error answer into [`ClientError::Server`], and a
    /// redirect (never followed) into [`ClientError::Integrity`].
    async fn check(resp: reqwest::Response) -> Result<reqwest::Response> {
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        if status.is_redirection() {
            return Err(ClientError::Integrity(format!(
                "the server answered with a redirect (HTTP {}); KRYPT7 follows none",
                status.as_u16()
            )));
        }
        let bytes = read_capped(resp, MAX_ERROR_BODY).await.unwrap_or_default();
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
        Err(ClientError::Server {
            status: status.as_u16(),
            code,
            message,
        })
    }

    /// Opens the push channel (`GET /v1/events`). The stream is closed by the server or after
    /// `max_age`, whichever comes first, or the client locks; the caller reconnects.
    pub async fn events(&self, auth: &Auth, max_age: std::time::Duration) -> Result<Events> {
        let resp = self
            .http
            .get(format!("{}/v1/events", self.base))
            .bearer_auth(auth.token())
            .header(reqwest::header::ACCEPT, "text/event-stream")
            .timeout(max_age)
            .send();
        // The stream may stay open for `max_age`, but its answer must start as soon as a
        // call's would.
        let resp = auth
            .unless_locked(async {
                tokio::time::timeout(CALL_TIMEOUT, resp)
                    .await
                    .map_err(|_| ClientError::Offline("the push channel did not answer".into()))
            })
            .await?
            .map_err(|e| unreachable_or_untrusted(&e))?;
        if !resp.status().is_success() {
            return Err(signed_out(ClientError::Server {
                status: resp.status().as_u16(),
                code: "unknown".into(),
                message: format!("the push channel answered HTTP {}", resp.status()),
            }));
        }
        Ok(Events {
            resp,
            auth: auth.clone(),
            buf: Vec::new(),
        })
    }
}

/// A call made with a session token that the server refuses (401): the session ended
/// (expired, revoked, or the account closed), so this device must sign in again.
fn signed_out(e: ClientError) -> ClientError {
    match e {
        ClientError::Server { status: 401, .. } => ClientError::SignedOut,
        e => e,
    }
}

/// How long a connection may take to open.
const CONNECT_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(15);
/// How long a JSON call may take, answer included.
pub const CALL_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(30);
/// The largest JSON answer read by default (an item envelope is at most 1 MiB).
pub const MAX_ANSWER: usize = 8 << 20;
/// The largest error answer read.
pub const MAX_ERROR_BODY: usize = 64 << 10;

/// The body of an answer, refused once it passes `cap` bytes (announced or received).
async fn read_capped(mut resp: reqwest::Response, cap: usize) -> Result<Vec<u8>> {
    let too_large = || ClientError::TooLarge(format!("the server's answer is over {cap} bytes"));
    if resp.content_length().is_some_and(|n| n > cap as u64) {
        return Err(too_large());
    }
    let mut out = Vec::new();
    while let Some(piece) = resp
        .chunk()
        .await
        .map_err(|e| unreachable_or_untrusted(&e))?
    {
        if out.len() + piece.len() > cap {
            return Err(too_large());
        }
        out.extend_from_slice(&piece);
    }
    Ok(out)
}

/// The server's push channel: server-sent events, each `changes` event carrying the feed
/// cursor that now exists. Nothing in it is trusted beyond "it may be worth syncing".
pub struct Events {
    resp: reqwest::Response,
    auth: Auth,
    buf: Vec<u8>,
}

/// A server that sends an endless line gets cut off here.
const MAX_EVENT: usize = 64 << 10;

/// What the push channel says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    /// Changes up to this cursor exist.
    Changes(i64),
    /// The server recorded an unauthorized attempt against the account.
    Attempt,
}

impl Events {
    /// Waits for the next `changes` event and returns its cursor; `None` when the stream
    /// ends. Comments (keep-alives) and other events are skipped.
    pub async fn next(&mut self) -> Result<Option<i64>> {
        loop {
            match self.next_notice().await? {
                Some(Notice::Changes(c)) => return Ok(Some(c)),
                Some(Notice::Attempt) => continue,
                None => return Ok(None),
            }
        }
    }

    /// Waits for the next `changes` or `attempt` event; `None` when the stream ends.
    /// Comments (keep-alives) and other events are skipped.
    pub async fn next_notice(&mut self) -> Result<Option<Notice>> {
        loop {
            while let Some(end) = self.buf.windows(2).position(|w| w == b"\n\n") {
                let block: Vec<u8> = self.buf.drain(..end + 2).collect();
                if let Some(n) = parse_notice(&block) {
                    return Ok(Some(n));
                }
            }
            if self.buf.len() > MAX_EVENT {
                return Err(ClientError::Integrity(
                    "the push channel sent an event larger than 64 KiB".into(),
                ));
            }
            let piece = self
                .auth
                .unless_locked(async {
                    self.resp
                        .chunk()
                        .await
                        .map_err(|e| unreachable_or_untrusted(&e))
                })
                .await?;
            match piece {
                Some(c) => self.buf.extend(c.iter().copied().filter(|&b| b != b'\r')),
                None => return Ok(None),
            }
        }
    }
}

/// One SSE block, if it is a well-formed `changes` or `attempt` event.
fn parse_notice(block: &[u8]) -> Option<Notice> {
    let text = std::str::from_utf8(block).ok()?;
    let mut event = "message";
    let mut data = String::new();
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("event:") {
            event = v.trim();
        } else if let Some(v) = line.strip_prefix("data:") {
            data.push_str(v.trim());
        }
    }
    match event {
        "changes" => {
            let v: serde_json::Value = serde_json::from_str(&data).ok()?;
            v.get("cursor")?
                .as_i64()
                .filter(|c| *c >= 0)
                .map(Notice::Changes)
        }
        "attempt" => Some(Notice::Attempt),
        _ => None,
    }
}

/// The whole error chain: reqwest's top-level message hides the TLS reason.
/// A transport failure: [`ClientError::Untrusted`] when the server's certificate was refused
/// (nothing was sent), else [`ClientError::Offline`].
fn unreachable_or_untrusted(e: &reqwest::Error) -> ClientError {
    /// rustls' error, possibly inside (nested) `io::Error`s, whose `source` skips it.
    fn tls<'a>(e: &'a (dyn std::error::Error + 'static)) -> Option<&'a rustls::Error> {
        e.downcast_ref::<rustls::Error>().or_else(|| {
            e.downcast_ref::<std::io::Error>()
                .and_then(|io| io.get_ref())
                .and_then(|inner| tls(inner))
        })
    }
    let mut src: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(c) = src {
        if let Some(
            t @ (rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented),
        ) = tls(c)
        {
            return ClientError::Untrusted(t.to_string());
        }
        src = c.source();
    }
    ClientError::Offline(describe(e))
}

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

#[cfg(test)]
mod tests {
    use super::{Notice, parse_notice};

    #[test]
    fn only_well_formed_events_count() {
        assert_eq!(
            parse_notice(b"event: changes\ndata: {\"cursor\":42}\n\n"),
            Some(Notice::Changes(42))
        );
        assert_eq!(
            parse_notice(b"event:changes\ndata:{\"cursor\":7}\n\n"),
            Some(Notice::Changes(7))
        );
        assert_eq!(
            parse_notice(b"event: attempt\ndata: {}\n\n"),
            Some(Notice::Attempt)
        );
        for bad in [
            &b": keep-alive\n\n"[..],
            b"data: {\"cursor\":42}\n\n",
            b"event: other\ndata: {\"cursor\":1}\n\n",
            b"event: changes\ndata: {\"cursor\":-1}\n\n",
            b"event: changes\ndata: nope\n\n",
            b"event: changes\ndata: \xff\n\n",
        ] {
            assert_eq!(parse_notice(bad), None, "{bad:?}");
        }
    }
}
