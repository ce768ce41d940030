//! The hostile-server harness (`docs/security.md`). A real KRYPT7 server runs in process; a
//! TLS proxy stands between it and the real client, records every request (method, path,
//! headers, body) and, on demand, rewrites responses as a malicious server would: a rule is
//! a closure over the request and the response. The push channel can be replaced by forged
//! events, and the proxy can present a bad certificate. [`Tunnel`] is an HTTP `CONNECT`
//! proxy that records which hosts a client process tries to reach. [`memory`] reads a
//! process's memory (or a core file) for secrets left behind.

pub mod memory;

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex, MutexGuard},
};

use anyhow::{Context, Result};
use axum::{
    body::Body,
    extract::{Request, State},
    http::{HeaderName, HeaderValue, StatusCode},
    response::Response,
};
use axum_server::{Handle, tls_rustls::RustlsConfig};
use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, SanType};
use serde_json::Value;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The real server, in process, on its development CA.
pub struct Server {
    pub running: krypt7_server::server::RunningServer,
    pub dir: tempfile::TempDir,
    pub url: String,
    pub ca: Vec<u8>,
}

impl Server {
    pub async fn start() -> Result<Server> {
        let dir = tempfile::tempdir()?;
        let mut config = krypt7_server::config::Config::new(dir.path().join("server"));
        config.listen = "127.0.0.1:0".parse()?;
        let running = krypt7_server::start(config, krypt7_server::clock::Clock::default()).await?;
        let url = format!("https://localhost:{}", running.addr.port());
        let ca = std::fs::read(dir.path().join("server/ca.pem"))?;
        Ok(Server {
            running,
            dir,
            url,
            ca,
        })
    }

    /// Where the server keeps everything: its database (with its WAL) and blob store.
    pub fn data_dir(&self) -> std::path::PathBuf {
        self.dir.path().join("server")
    }
}

/// One request as the proxy received it.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// Path and query.
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Seen {
    pub fn json(&self) -> Option<Value> {
        serde_json::from_slice(&self.body).ok()
    }

    /// Everything the request carried, as bytes: request line, headers, body.
    pub fn bytes(&self) -> Vec<u8> {
        let mut out = format!("{} {}\n", self.method, self.path).into_bytes();
        for (k, v) in &self.headers {
            out.extend_from_slice(format!("{k}: {v}\n").as_bytes());
        }
        out.extend_from_slice(&self.body);
        out
    }
}

/// One response on its way back to the client; a rule may change any of it.
#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

impl Reply {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or(Value::Null)
    }

    pub fn set_json(&mut self, v: &Value) {
        self.body = serde_json::to_vec(v).unwrap_or_default();
    }
}

type Rule = Box<dyn FnMut(&Seen, &mut Reply) + Send>;
type Answer = Box<dyn FnMut(&Seen) -> Option<Reply> + Send>;

/// A body the proxy makes up and streams instead of the server's answer, as a server that
/// wants to hold a client up would.
#[derive(Clone, Debug)]
pub enum Forged {
    /// `head`, then one byte of `fill` a second, without end.
    Trickle { head: Vec<u8>, fill: u8 },
    /// No answer at all: the request is held open without a status line, without end.
    Stall,
    /// `head`, then the connection breaks (an error, not an end).
    Broken { head: Vec<u8> },
    /// `head`, then `fill` again and again at full speed, `len` bytes in all, with no
    /// `Content-Length`.
    Huge {
        head: Vec<u8>,
        fill: Vec<u8>,
        len: u64,
    },
}

type Streamer = (Box<dyn Fn(&Seen) -> bool + Send + Sync>, Forged);

/// The certificate the proxy presents. The client is always given [`Proxy::ca`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cert {
    /// For `localhost`, issued by the CA the client trusts.
    Good,
    /// The same, expired in 2021.
    Expired,
    /// Issued by the trusted CA for another host name.
    WrongHost,
    /// For `localhost`, issued by a CA the client does not know.
    UnknownCa,
}

struct Inner {
    upstream: String,
    client: reqwest::Client,
    seen: Mutex<Vec<Seen>>,
    rule: Mutex<Option<Rule>>,
    answer: Mutex<Option<Answer>>,
    events: Mutex<Option<String>>,
    stream: Mutex<Option<Streamer>>,
    /// Bytes of forged streams the client has taken so far.
    streamed: Arc<std::sync::atomic::AtomicU64>,
}

/// The proxy: `url` and `ca` are what a client is configured with.
pub struct Proxy {
    pub url: String,
    pub ca: Vec<u8>,
    inner: Arc<Inner>,
    handle: Handle<SocketAddr>,
}

fn ca() -> Result<(Issuer<'static, KeyPair>, String)> {
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(Vec::<String>::new())?;
    params
        .distinguished_name
        .push(DnType::CommonName, "hostile harness CA");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    let pem = params.self_signed(&key)?.pem();
    Ok((Issuer::new(params, key), pem))
}

/// (certificate chain PEM, key PEM, PEM of the CA the client should trust).
fn certificate(kind: Cert) -> Result<(String, String, String)> {
    let (trusted, trusted_pem) = ca()?;
    let (other, _) = ca()?;
    let host = if kind == Cert::WrongHost {
        "evil.example"
    } else {
        "localhost"
    };
    let mut leaf = CertificateParams::new(vec![host.to_string()])?;
    leaf.distinguished_name.push(DnType::CommonName, host);
    if kind != Cert::WrongHost {
        leaf.subject_alt_names
            .push(SanType::IpAddress([127, 0, 0, 1].into()));
    }
    if kind == Cert::Expired {
        leaf.not_before = rcgen::date_time_ymd(2020, 1, 1);
        leaf.not_after = rcgen::date_time_ymd(2021, 1, 1);
    }
    let key = KeyPair::generate()?;
    let issuer = if kind == Cert::UnknownCa {
        &other
    } else {
        &trusted
    };
    let cert = leaf.signed_by(&key, issuer)?;
    Ok((cert.pem(), key.serialize_pem(), trusted_pem))
}

impl Proxy {
    /// A proxy in front of `server`, honest until told otherwise.
    pub async fn start(server: &Server, cert: Cert) -> Result<Proxy> {
        let (chain, key, trusted) = certificate(cert)?;
        let client = reqwest::Client::builder()
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&server.ca)?)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()?;
        let inner = Arc::new(Inner {
            upstream: server.url.clone(),
            client,
            seen: Mutex::new(Vec::new()),
            rule: Mutex::new(None),
            answer: Mutex::new(None),
            events: Mutex::new(None),
            stream: Mutex::new(None),
            streamed: Arc::default(),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(inner.clone());
        let tls = RustlsConfig::from_pem(chain.into_bytes(), key.into_bytes()).await?;
        let handle = Handle::new();
        let listen: SocketAddr = "127.0.0.1:0".parse()?;
        let serve = axum_server::bind_rustls(listen, tls)
            .handle(handle.clone())
            .serve(app.into_make_service());
        tokio::spawn(serve);
        let addr = handle
            .listening()
            .await
            .context("the proxy did not start")?;
        Ok(Proxy {
            url: format!("https://localhost:{}", addr.port()),
            ca: trusted.into_bytes(),
            inner,
            handle,
        })
    }

    /// From now on, every response passes through `rule` (replacing any earlier rule).
    pub fn tamper(&self, rule: impl FnMut(&Seen, &mut Reply) + Send + 'static) {
        *lock(&self.inner.rule) = Some(Box::new(rule));
    }

    /// From now on, a request for which `answer` gives a reply gets that reply and never
    /// reaches the server (a server making up what it did).
    pub fn answer(&self, answer: impl FnMut(&Seen) -> Option<Reply> + Send + 'static) {
        *lock(&self.inner.answer) = Some(Box::new(answer));
    }

    /// Responses pass unchanged again.
    pub fn honest(&self) {
        *lock(&self.inner.rule) = None;
        *lock(&self.inner.answer) = None;
        *lock(&self.inner.events) = None;
        *lock(&self.inner.stream) = None;
    }

    /// Requests for which `when` holds are answered 200 with the `body` stream (the server
    /// still sees them).
    pub fn forge_stream(&self, when: impl Fn(&Seen) -> bool + Send + Sync + 'static, body: Forged) {
        *lock(&self.inner.stream) = Some((Box::new(when), body));
    }

    /// How many bytes of forged streams the client has pulled so far (what it read, plus
    /// what the transport buffers hold).
    pub fn streamed(&self) -> u64 {
        self.inner
            .streamed
            .load(std::sync::atomic::Ordering::SeqCst)
    }

    /// The push channel answers with these server-sent-event blocks (then ends) instead
    /// of the server's stream.
    pub fn forge_events(&self, blocks: &[&str]) {
        *lock(&self.inner.events) = Some(blocks.iter().map(|b| format!("{b}\n\n")).collect());
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        lock(&self.inner.seen).clone()
    }

    /// Forgets the requests recorded so far.
    pub fn clear(&self) {
        lock(&self.inner.seen).clear();
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

/// Headers that belong to one hop, not to the request or response.
fn hop(name: &str) -> bool {
    matches!(
        name,
        "host" | "connection" | "content-length" | "transfer-encoding" | "keep-alive"
    )
}

async fn handle(State(p): State<Arc<Inner>>, req: Request) -> Response {
    match forward(&p, req).await {
        Ok(r) => r,
        Err(e) => Response::builder()
            .status(StatusCode::BAD_GATEWAY)
            .body(Body::from(format!("hostile proxy: {e:#}")))
            .unwrap_or_default(),
    }
}

async fn forward(p: &Inner, req: Request) -> Result<Response> {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 30).await?;
    let path = parts
        .uri
        .path_and_query()
        .map_or("/".to_string(), |p| p.to_string());
    let seen = Seen {
        method: parts.method.to_string(),
        path: path.clone(),
        headers: parts
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
            .collect(),
        body: body.to_vec(),
    };
    lock(&p.seen).push(seen.clone());
    let events = path.starts_with("/v1/events");
    if events && let Some(forged) = lock(&p.events).clone() {
        return Ok(Response::builder()
            .header("content-type", "text/event-stream")
            .body(Body::from(forged))?);
    }
    let forged = lock(&p.stream)
        .as_ref()
        .filter(|(when, _)| when(&seen))
        .map(|(_, body)| body.clone());
    if let Some(Forged::Stall) = forged {
        std::future::pending::<()>().await;
    }
    if let Some(body) = forged {
        return Ok(Response::builder()
            .header("content-type", "application/json")
            .body(forged_body(body, p.streamed.clone()))?);
    }
    let made_up = lock(&p.answer).as_mut().and_then(|a| a(&seen));
    if let Some(reply) = made_up {
        return respond(reply);
    }
    let mut up = p
        .client
        .request(parts.method.clone(), format!("{}{path}", p.upstream))
        .body(body);
    for (k, v) in &parts.headers {
        if !hop(k.as_str()) {
            up = up.header(k, v);
        }
    }
    let up = up.send().await?;
    let status = up.status().as_u16();
    let headers: Vec<(String, String)> = up
        .headers()
        .iter()
        .filter(|(k, _)| !hop(k.as_str()))
        .map(|(k, v)| (k.to_string(), String::from_utf8_lossy(v.as_bytes()).into()))
        .collect();
    if events {
        // The live stream passes through as it comes.
        let mut r = Response::builder().status(status);
        for (k, v) in &headers {
            r = r.header(k, v);
        }
        return Ok(r.body(Body::from_stream(up.bytes_stream()))?);
    }
    let mut reply = Reply {
        status,
        headers,
        body: up.bytes().await?.to_vec(),
    };
    if let Some(rule) = lock(&p.rule).as_mut() {
        rule(&seen, &mut reply);
    }
    respond(reply)
}

fn respond(reply: Reply) -> Result<Response> {
    let mut r = Response::builder().status(reply.status);
    for (k, v) in &reply.headers {
        r = r.header(
            HeaderName::try_from(k.as_str())?,
            HeaderValue::try_from(v.as_str())?,
        );
    }
    Ok(r.body(Body::from(reply.body))?)
}

/// The stream of a [`Forged`] body, counting into `streamed` what the client pulls.
fn forged_body(body: Forged, streamed: Arc<std::sync::atomic::AtomicU64>) -> Body {
    use futures_util::StreamExt;
    let count = move |b: axum::body::Bytes| {
        streamed.fetch_add(b.len() as u64, std::sync::atomic::Ordering::SeqCst);
        Ok::<_, std::convert::Infallible>(b)
    };
    match body {
        Forged::Trickle { head, fill } => {
            let rest = futures_util::stream::unfold((), move |()| async move {
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                Some((axum::body::Bytes::from(vec![fill]), ()))
            });
            Body::from_stream(
                futures_util::stream::once(async move { axum::body::Bytes::from(head) })
                    .chain(rest)
                    .map(count),
            )
        }
        Forged::Stall => Body::empty(),
        Forged::Broken { head } => Body::from_stream(
            futures_util::stream::iter([
                Ok(axum::body::Bytes::from(head)),
                Err(std::io::Error::other(
                    "the hostile proxy broke the connection",
                )),
            ])
            .map(move |r| r.map(|b| count(b).unwrap_or_default())),
        ),
        Forged::Huge { head, fill, len } => {
            let fill = axum::body::Bytes::from(fill.repeat((64 << 10) / fill.len().max(1) + 1));
            let head_len = head.len() as u64;
            let rest = futures_util::stream::unfold(head_len, move |sent| {
                let fill = fill.clone();
                async move {
                    (sent < len).then(|| {
                        let n = (len - sent).min(fill.len() as u64) as usize;
                        (fill.slice(..n), sent + n as u64)
                    })
                }
            });
            Body::from_stream(
                futures_util::stream::once(async move { axum::body::Bytes::from(head) })
                    .chain(rest)
                    .map(count),
            )
        }
    }
}

/// An HTTP `CONNECT` proxy that records each host a client asks to reach, then tunnels
/// the bytes (it sees only TLS). A client process started with `HTTPS_PROXY` set to
/// [`Tunnel::url`] cannot open a connection the test does not see.
pub struct Tunnel {
    pub url: String,
    targets: Arc<Mutex<Vec<String>>>,
}

impl Tunnel {
    pub async fn start() -> Result<Tunnel> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let targets = Arc::new(Mutex::new(Vec::new()));
        let seen = targets.clone();
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut head = Vec::new();
                    let mut byte = [0u8; 1];
                    while !head.ends_with(b"\r\n\r\n") && head.len() < 8192 {
                        match inbound.read(&mut byte).await {
                            Ok(1) => head.push(byte[0]),
                            _ => return,
                        }
                    }
                    let line = String::from_utf8_lossy(&head)
                        .lines()
                        .next()
                        .unwrap_or_default()
                        .to_string();
                    lock(&seen).push(line.clone());
                    let mut words = line.split(' ');
                    let (Some("CONNECT"), Some(target)) = (words.next(), words.next()) else {
                        let _ = inbound.write_all(b"HTTP/1.1 403 Forbidden\r\n\r\n").await;
                        return;
                    };
                    let Ok(mut outbound) = tokio::net::TcpStream::connect(target).await else {
                        let _ = inbound.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                        return;
                    };
                    if inbound
                        .write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n")
                        .await
                        .is_ok()
                    {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Ok(Tunnel { url, targets })
    }

    /// The first line of every request made to the tunnel (`CONNECT host:port HTTP/1.1`).
    pub fn requests(&self) -> Vec<String> {
        lock(&self.targets).clone()
    }
}

/// The forms a secret could take on the wire: as is, in hex, and in base64 (both
/// alphabets) at each alignment inside a longer encoded text.
pub fn wire_forms(secret: &[u8]) -> Vec<Vec<u8>> {
    use base64::Engine;
    let mut forms = vec![
        secret.to_vec(),
        secret
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
            .into_bytes(),
    ];
    for engine in [
        base64::engine::general_purpose::STANDARD_NO_PAD,
        base64::engine::general_purpose::URL_SAFE_NO_PAD,
    ] {
        for pad in 0..3 {
            let mut shifted = vec![0u8; pad];
            shifted.extend_from_slice(secret);
            let enc = engine.encode(&shifted);
            // Skip the characters that carry the padding bytes, and the last (partial) ones.
            let from = (pad * 4).div_ceil(3);
            let to = enc.len().saturating_sub(2);
            if to > from + 8 {
                forms.push(enc.as_bytes()[from..to].to_vec());
            }
        }
    }
    forms
}

/// Which of `seen` carried which of `secrets`, in any of their [`wire_forms`].
pub fn leaks(seen: &[Seen], secrets: &[&[u8]]) -> Vec<String> {
    let mut out = Vec::new();
    for s in seen {
        let bytes = s.bytes();
        for secret in secrets {
            if wire_forms(secret)
                .iter()
                .any(|form| bytes.windows(form.len()).any(|w| w == form.as_slice()))
            {
                out.push(format!(
                    "{} {} carried {:?}",
                    s.method,
                    s.path,
                    String::from_utf8_lossy(secret)
                ));
            }
        }
    }
    out
}

/// Every file under `dir` (recursively) that contains `needle`, for leak checks.
pub fn files_containing(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut hits = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let path = e.path();
            if path.is_dir() {
                stack.push(path);
            } else if std::fs::read(&path)
                .is_ok_and(|b| b.windows(needle.len()).any(|w| w == needle))
            {
                hits.push(path);
            }
        }
    }
    hits
}
