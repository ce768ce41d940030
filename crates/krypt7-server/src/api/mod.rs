//! The `/v1` API: routing, shared state, errors, and the extractors that turn bad input
//! into JSON errors (never a panic, never a 5xx for something the client sent).

mod accounts;
mod blobs;
mod factors;
mod mail;
mod openapi;
mod rekey;
mod stepup;
mod vault;

use std::{
    net::{IpAddr, SocketAddr},
    num::NonZeroU32,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::{
    Router,
    extract::{ConnectInfo, FromRequest, FromRequestParts, Request, rejection::JsonRejection},
    http::{HeaderValue, StatusCode, header, request::Parts},
    response::{IntoResponse, Response},
    routing::{get, post, put},
};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use krypt7_protocol::{ApiError, Current, ErrorCode};
use serde::{Serialize, de::DeserializeOwned};
use tokio::sync::broadcast;
use uuid::Uuid;

pub use openapi::ApiDoc;

use crate::{
    clock::Clock,
    config::Config,
    db::{Db, DbError},
    opaque::Opaque,
};

/// What every handler can reach. Cheap to clone.
#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub db: Db,
    pub opaque: Opaque,
    pub config: Config,
    pub clock: Clock,
    /// Keys the fake answers given for unknown usernames (stable per username).
    pub fake_key: ring::hmac::Key,
    pub events: Events,
    pub limits: Limits,
    pub metrics: Metrics,
    pub sms: Box<dyn crate::sms::SmsSender>,
    pub blobs: Box<dyn crate::blobs::BlobStore>,
}

/// Service counters for `/metrics` (nothing about any user).
#[derive(Default)]
pub struct Metrics {
    pub requests: std::sync::atomic::AtomicU64,
    pub unauthorized: std::sync::atomic::AtomicU64,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(
        db: Db,
        opaque: Opaque,
        config: Config,
        clock: Clock,
        fake_key: &[u8],
        sms: Box<dyn crate::sms::SmsSender>,
        blobs: Box<dyn crate::blobs::BlobStore>,
    ) -> Self {
        let limits = Limits::new(
            config.attempts_per_ip_per_minute,
            config.attempts_per_account_per_minute,
            config.mail_per_sender_per_minute,
        );
        AppState(Arc::new(Inner {
            db,
            opaque,
            config,
            clock,
            fake_key: ring::hmac::Key::new(ring::hmac::HMAC_SHA256, fake_key),
            events: Events::default(),
            limits,
            metrics: Metrics::default(),
            sms,
            blobs,
        }))
    }

    /// Tells every device of `account`, on every server node, that changes up to `cursor`
    /// exist.
    pub async fn changed(&self, account: Uuid, cursor: i64) {
        self.tell(account, Notice::Changes(cursor)).await
    }

    /// Tells every device of `account`, on every server node, of `notice`. On PostgreSQL this
    /// goes through NOTIFY, so all nodes hear it (this one too); on SQLite (one node) it goes
    /// straight to this node's subscribers.
    async fn tell(&self, account: Uuid, notice: Notice) {
        if self.db.backend() == crate::db::Backend::Postgres {
            match self.db.notify(account, &notice.to_string()).await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(error = %e, "NOTIFY failed; telling this node's devices only")
                }
            }
        }
        self.events.publish(account, notice);
    }

    /// Records a failed or unauthorized attempt: its IP, time and reason, and the account
    /// it was against when that is known, nothing else.
    pub async fn record_unauthorized(
        &self,
        ip: IpAddr,
        account: Option<Uuid>,
        reason: &str,
    ) -> Result<(), Fail> {
        self.metrics
            .unauthorized
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.db
            .record_unauthorized(&ip.to_string(), account, self.clock.now(), reason)
            .await?;
        if let Some(a) = account {
            self.tell(a, Notice::Attempt).await;
        }
        Ok(())
    }

    /// Records the sign-in and step-up rounds that expired unfinished as attempts, and
    /// tells their accounts' devices.
    pub async fn sweep_unfinished(&self) -> Result<(), Fail> {
        let accounts = self
            .db
            .sweep_unfinished(self.clock.now(), accounts::PENDING_LOGIN_SECS)
            .await?;
        for a in accounts {
            self.tell(a, Notice::Attempt).await;
        }
        Ok(())
    }
}

async fn count_requests(
    axum::extract::State(st): axum::extract::State<AppState>,
    req: Request,
    next: axum::middleware::Next,
) -> Response {
    st.metrics
        .requests
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    next.run(req).await
}

/// What the push channel tells an account's devices.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    /// Changes up to this cursor exist.
    Changes(i64),
    /// An unauthorized attempt against the account was recorded.
    Attempt,
}

impl std::fmt::Display for Notice {
    /// As NOTIFY carries it after the account: the cursor, or `attempt`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Notice::Changes(c) => write!(f, "{c}"),
            Notice::Attempt => f.write_str("attempt"),
        }
    }
}

impl std::str::FromStr for Notice {
    type Err = ();
    fn from_str(s: &str) -> Result<Self, ()> {
        match s {
            "attempt" => Ok(Notice::Attempt),
            c => c.parse().map(Notice::Changes).map_err(drop),
        }
    }
}

/// Per-account notices to the devices listening on the push channel.
#[derive(Default)]
pub struct Events(Mutex<std::collections::HashMap<Uuid, broadcast::Sender<Notice>>>);

impl Events {
    pub fn subscribe(&self, account: Uuid) -> broadcast::Receiver<Notice> {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        m.entry(account)
            .or_insert_with(|| broadcast::channel(64).0)
            .subscribe()
    }

    pub fn publish(&self, account: Uuid, notice: Notice) {
        let mut m = self.0.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(tx) = m.get(&account)
            && tx.send(notice).is_err()
        {
            // Nobody listens any more.
            m.remove(&account);
        }
    }
}

/// Rate limits on sign-in and second-factor endpoints, per IP and per account name.
pub struct Limits {
    pub per_ip: DefaultKeyedRateLimiter<IpAddr>,
    pub per_account: DefaultKeyedRateLimiter<String>,
    /// Mail deliveries per sending account.
    pub per_sender: DefaultKeyedRateLimiter<Uuid>,
}

impl Limits {
    fn new(per_ip: u32, per_account: u32, per_sender: u32) -> Self {
        let q = |n: u32| Quota::per_minute(NonZeroU32::new(n).unwrap_or(NonZeroU32::MIN));
        Limits {
            per_ip: RateLimiter::keyed(q(per_ip)),
            per_account: RateLimiter::keyed(q(per_account)),
            per_sender: RateLimiter::keyed(q(per_sender)),
        }
    }

    /// Counts `deliveries` mail deliveries of `sender`: all of them fit, or none is counted.
    pub fn check_sender(&self, sender: Uuid, deliveries: usize) -> Result<(), Fail> {
        let clock = governor::clock::DefaultClock::default();
        use governor::clock::Clock as _;
        let n = NonZeroU32::new(u32::try_from(deliveries).unwrap_or(u32::MAX))
            .unwrap_or(NonZeroU32::MIN);
        match self.per_sender.check_key_n(&sender, n) {
            Ok(Ok(())) => Ok(()),
            Ok(Err(nu)) => Err(Fail::rate_limited(nu.wait_time_from(clock.now()))),
            Err(_) => Err(Fail::bad_request(
                "this message has more recipients than this server lets one sender reach in a minute",
            )),
        }
    }

    /// Counts one attempt against `key` alone (an account, a username, a device proof).
    pub fn check_key(&self, key: &str) -> Result<(), Fail> {
        let clock = governor::clock::DefaultClock::default();
        use governor::clock::Clock as _;
        self.per_account
            .check_key(&key.to_string())
            .map_err(|nu| Fail::rate_limited(nu.wait_time_from(clock.now())))
    }

    /// Counts one attempt; `Err` with the wait when a limit is exceeded. IPv6 addresses
    /// count by their /64 (one host usually holds a whole /64).
    pub fn check(&self, ip: IpAddr, account: Option<&str>) -> Result<(), Fail> {
        let clock = governor::clock::DefaultClock::default();
        use governor::clock::Clock as _;
        let wait =
            |nu: governor::NotUntil<governor::clock::QuantaInstant>| nu.wait_time_from(clock.now());
        if let Err(nu) = self.per_ip.check_key(&network(ip)) {
            return Err(Fail::rate_limited(wait(nu)));
        }
        account.map_or(Ok(()), |a| self.check_key(a))
    }
}

/// The address as the per-address limit counts it: IPv4 as it is, IPv6 by its /64.
fn network(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(std::net::Ipv6Addr::from(bits))
        }
    }
}

/// An error response: status, JSON body, and `Retry-After` where it applies.
#[derive(Debug)]
pub struct Fail {
    pub status: StatusCode,
    pub body: Box<ApiError>,
    pub retry_after: Option<u64>,
}

impl Fail {
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Fail {
            status,
            body: Box::new(ApiError {
                code,
                message: message.into(),
                current: None,
            }),
            retry_after: None,
        }
    }
    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, ErrorCode::BadRequest, message)
    }
    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, ErrorCode::Unauthorized, message)
    }
    pub fn session_expired() -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            ErrorCode::SessionExpired,
            "the session expired: sign in again",
        )
    }
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, ErrorCode::NotFound, message)
    }
    pub fn rate_limited(wait: Duration) -> Self {
        let secs = wait.as_secs().max(1);
        let mut f = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            ErrorCode::RateLimited,
            format!("too many attempts; try again in {secs} s"),
        );
        f.retry_after = Some(secs);
        f
    }
    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::Internal,
            "internal error; the request can be retried",
        )
    }
}

impl IntoResponse for Fail {
    fn into_response(self) -> Response {
        let mut r = (self.status, axum::Json(*self.body)).into_response();
        if let Some(s) = self.retry_after
            && let Ok(v) = HeaderValue::from_str(&s.to_string())
        {
            r.headers_mut().insert(header::RETRY_AFTER, v);
        }
        r
    }
}

impl From<DbError> for Fail {
    fn from(e: DbError) -> Self {
        match e {
            DbError::UsernameTaken => Fail::new(
                StatusCode::CONFLICT,
                ErrorCode::UsernameTaken,
                "that username is taken",
            ),
            DbError::NotFound => Fail::not_found("no such object"),
            DbError::Conflict(current) => {
                let what = match *current {
                    Current::Item(_) => {
                        "the item changed since the revision this edit was based on"
                    }
                    Current::Manifest(_) => {
                        "the manifest changed since the version this update was based on"
                    }
                };
                let mut f = Fail::new(StatusCode::CONFLICT, ErrorCode::Conflict, what);
                f.body.current = Some(*current);
                f
            }
            DbError::Exists => Fail::new(
                StatusCode::CONFLICT,
                ErrorCode::AlreadyExists,
                "a vault's key wrap is written once: a different one is already stored",
            ),
            DbError::Stale(what) => Fail::new(StatusCode::CONFLICT, ErrorCode::Conflict, what),
            // The account id last: the sender's client names the address it was given.
            DbError::NoRecipient(id) => Fail::new(
                StatusCode::NOT_FOUND,
                ErrorCode::NoSuchRecipient,
                format!("no account to deliver to: {id}"),
            ),
            DbError::RecipientFull(id) => Fail::new(
                StatusCode::INSUFFICIENT_STORAGE,
                ErrorCode::RecipientFull,
                format!("the recipient's storage is full: {id}"),
            ),
            DbError::QuotaExceeded => Fail::new(
                StatusCode::PAYLOAD_TOO_LARGE,
                ErrorCode::QuotaExceeded,
                "this would exceed the account's storage limit",
            ),
            DbError::Sqlx(e) => {
                tracing::error!(error = %e, "database error");
                Fail::internal()
            }
            DbError::AtRest(e) => {
                tracing::error!(error = %e, "a sealed value did not open");
                Fail::internal()
            }
        }
    }
}

pub type ApiResult<T> = Result<T, Fail>;

/// `axum::Json`, with every rejection turned into a JSON error with a stable code.
pub struct Json<T>(pub T);

impl<T: DeserializeOwned, S: Send + Sync> FromRequest<S> for Json<T> {
    type Rejection = Fail;

    async fn from_request(req: Request, state: &S) -> Result<Self, Fail> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Json(v)),
            Err(JsonRejection::MissingJsonContentType(_)) => Err(Fail::new(
                StatusCode::UNSUPPORTED_MEDIA_TYPE,
                ErrorCode::UnsupportedMediaType,
                "send the body as application/json",
            )),
            Err(JsonRejection::BytesRejection(b))
                if b.status() == StatusCode::PAYLOAD_TOO_LARGE =>
            {
                Err(Fail::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    ErrorCode::PayloadTooLarge,
                    "the request body is too large",
                ))
            }
            Err(e) => Err(Fail::bad_request(e.body_text())),
        }
    }
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

/// `axum::extract::Path`, with a malformed path parameter turned into a JSON 400.
pub struct Path<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Path<T> {
    type Rejection = Fail;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Fail> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|axum::extract::Path(v)| Path(v))
            .map_err(|e| Fail::bad_request(e.body_text()))
    }
}

/// The client's IP address: the TCP peer, or what a trusted proxy says ([`client_ip`]).
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = Fail;

    async fn from_request_parts(parts: &mut Parts, st: &AppState) -> Result<Self, Fail> {
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .ok_or_else(Fail::internal)?
            .0
            .ip();
        Ok(ClientIp(client_ip(peer, &parts.headers, &st.config)))
    }
}

/// The client's address: the TCP peer, unless the peer is a trusted proxy and the
/// configured header names another. In a list (`X-Forwarded-For: client, proxy1, proxy2`)
/// it is the rightmost address that is not a trusted proxy: each proxy appends the address
/// it got the request from, so what stands left of the first untrusted one was written by
/// the sender and may be anything. An entry that is not an address stops the walk there.
pub fn client_ip(peer: IpAddr, headers: &axum::http::HeaderMap, config: &Config) -> IpAddr {
    let peer = peer.to_canonical();
    let trusted = |ip: &IpAddr| config.trusted_proxies.iter().any(|n| n.contains(ip));
    let Some(name) = config.client_ip_header.as_deref() else {
        return peer;
    };
    if !trusted(&peer) {
        return peer;
    }
    let entries: Vec<&str> = headers
        .get_all(name)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .collect();
    let mut client = peer;
    for entry in entries.iter().rev() {
        let entry = entry.trim();
        let Some(ip) = entry
            .parse::<IpAddr>()
            .ok()
            .or_else(|| entry.parse::<SocketAddr>().ok().map(|s| s.ip()))
        else {
            break;
        };
        client = ip.to_canonical();
        if !trusted(&client) {
            break;
        }
    }
    client
}

/// A request with a live session: `Authorization: Bearer <token>`. Anything else is a 401,
/// and the attempt's IP, time and reason are recorded.
pub struct Authed {
    pub account: Uuid,
    pub session: Uuid,
}

pub fn token_hash(token: &str) -> Vec<u8> {
    ring::digest::digest(&ring::digest::SHA256, token.as_bytes())
        .as_ref()
        .to_vec()
}

impl FromRequestParts<AppState> for Authed {
    type Rejection = Fail;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Fail> {
        let ClientIp(ip) = ClientIp::from_request_parts(parts, state).await?;
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        let reason = match token {
            None => "missing token",
            Some(t) => match state.db.session_by_token(&token_hash(t)).await? {
                // A session that ended: its token used again is recorded against the account.
                Some(s) if s.ended.is_some() => {
                    let why = s.ended.as_deref().unwrap_or_default();
                    state
                        .record_unauthorized(ip, Some(s.account), &format!("{why} session's token"))
                        .await?;
                    return Err(if why == "expired" {
                        Fail::session_expired()
                    } else {
                        Fail::unauthorized(
                            "sign in again: the session token is missing, invalid or revoked",
                        )
                    });
                }
                Some(s) => {
                    let now = state.clock.now();
                    if state
                        .config
                        .session_expired(s.created_at, s.last_seen_at, now)
                    {
                        state
                            .db
                            .end_session(s.account, s.id, "expired", now)
                            .await?;
                        return Err(Fail::session_expired());
                    }
                    // At most one write a minute per session, so reads stay reads.
                    if now - s.last_seen_at >= 60 {
                        state.db.touch_session(s.id, now).await?;
                    }
                    return Ok(Authed {
                        account: s.account,
                        session: s.id,
                    });
                }
                None => "invalid token",
            },
        };
        // Bad tokens count against the address's limit too, and past it they are refused
        // without a record, so a flood neither guesses on nor fills the record.
        state.limits.check(ip, None)?;
        state.record_unauthorized(ip, None, reason).await?;
        Err(Fail::unauthorized(
            "sign in again: the session token is missing, invalid or revoked",
        ))
    }
}

async fn not_found() -> Fail {
    Fail::not_found("no such endpoint")
}

async fn method_not_allowed() -> Fail {
    Fail::new(
        StatusCode::METHOD_NOT_ALLOWED,
        ErrorCode::MethodNotAllowed,
        "this endpoint does not accept that method",
    )
}

/// The whole HTTP application.
pub fn router(state: AppState) -> Router {
    let v1 = Router::new()
        .route("/health", get(accounts::health))
        .route("/openapi.json", get(openapi::document))
        .route("/accounts/register/start", post(accounts::register_start))
        .route("/accounts/register/finish", post(accounts::register_finish))
        .route("/sessions/login/start", post(accounts::login_start))
        .route("/sessions/login/finish", post(accounts::login_finish))
        .route(
            "/sessions/login/second-factor",
            post(factors::login_second_factor),
        )
        .route("/account/attempts", get(accounts::attempts))
        .route("/account/password/start", post(accounts::password_start))
        .route("/account/password", put(accounts::change_password))
        .route("/account/secret-key/start", post(rekey::start))
        .route("/account/secret-key/items", put(rekey::stage))
        .route("/account/secret-key", put(rekey::finish))
        .route("/account/step-up/start", post(stepup::start))
        .route("/account/step-up/finish", post(stepup::finish))
        .route("/account/step-up/sms", post(stepup::send_sms))
        .route("/account/totp", post(factors::totp_setup))
        .route("/account/totp/confirm", post(factors::totp_confirm))
        .route("/account/totp/disable", post(factors::totp_disable))
        .route("/account/sms", post(factors::sms_setup))
        .route("/account/sms/confirm", post(factors::sms_confirm))
        .route("/account/sms/disable", post(factors::sms_disable))
        .route("/sessions", get(accounts::list_sessions))
        .route(
            "/sessions/current",
            axum::routing::delete(accounts::sign_out).patch(accounts::rename_device),
        )
        .route(
            "/sessions/{id}",
            axum::routing::delete(accounts::revoke_session),
        )
        .route(
            "/account",
            get(accounts::account)
                .patch(accounts::update_account)
                .delete(accounts::delete_account),
        )
        .route("/account/keys", get(accounts::account_keys))
        .route("/directory/{username}", get(accounts::directory))
        .route("/items/{id}", put(vault::push_item))
        .route("/vaults", get(vault::vaults))
        .route("/vaults/{id}", put(vault::put_vault))
        .route("/vaults/{id}/commit", post(vault::commit))
        .route("/changes", get(vault::changes))
        .route("/blobs", post(blobs::create))
        .route("/blobs/{id}", get(blobs::status).delete(blobs::delete))
        .route(
            "/blobs/{id}/chunks/{index}",
            put(blobs::put_chunk).layer(axum::extract::DefaultBodyLimit::max(
                blobs::MAX_CHUNK as usize,
            )),
        )
        .route("/blobs/{id}/complete", post(blobs::complete))
        .route("/blobs/{id}/content", get(blobs::content))
        .route("/usage", get(blobs::usage))
        .route("/mail", post(mail::send))
        .route("/mail/{id}", axum::routing::delete(mail::take))
        .route("/events", get(vault::events))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed);
    let max_body = state.config.max_body_bytes;
    Router::new()
        .nest(krypt7_protocol::API_PREFIX, v1)
        .route("/metrics", get(openapi::metrics))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::extract::DefaultBodyLimit::max(max_body))
        .layer(tower_http::catch_panic::CatchPanicLayer::custom(|_| {
            Fail::internal().into_response()
        }))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            count_requests,
        ))
        .with_state(state)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // test code: a panic is the failure report
mod tests {
    use super::{client_ip, network};

    #[test]
    fn ipv6_addresses_count_by_their_64() {
        let a = network("2001:db8:1:2:aaaa::1".parse().unwrap());
        let b = network("2001:db8:1:2:ffff:1:2:3".parse().unwrap());
        let other = network("2001:db8:1:3::1".parse().unwrap());
        assert_eq!(a, b);
        assert_ne!(a, other);
        let v4 = "192.0.2.7".parse().unwrap();
        assert_eq!(network(v4), v4);
    }

    #[test]
    fn the_client_address_comes_from_a_trusted_proxy_only() {
        use axum::http::HeaderMap;
        let mut config = crate::Config::new("unused".into());
        config.trusted_proxies = vec![
            "10.0.0.0/8".parse().unwrap(),
            "2001:db8:ffff::/48".parse().unwrap(),
        ];
        config.client_ip_header = Some("x-forwarded-for".into());
        let at = |config: &crate::Config, peer: &str, headers: &[&str]| {
            let mut h = HeaderMap::new();
            for v in headers {
                h.append("x-forwarded-for", v.parse().unwrap());
            }
            client_ip(peer.parse().unwrap(), &h, config).to_string()
        };
        let ip = |peer: &str, headers: &[&str]| at(&config, peer, headers);
        // From a proxy: the rightmost address that is not a proxy, over several headers.
        assert_eq!(
            ip("10.0.0.1", &["198.51.100.1, 203.0.113.9"]),
            "203.0.113.9"
        );
        assert_eq!(
            ip("10.0.0.1", &["198.51.100.1", "203.0.113.9, 10.1.2.3"]),
            "203.0.113.9"
        );
        assert_eq!(ip("10.0.0.1", &["[2001:db8::5]:443"]), "2001:db8::5");
        assert_eq!(ip("10.0.0.1", &["::ffff:192.0.2.4"]), "192.0.2.4");
        assert_eq!(ip("2001:db8:ffff::1", &["192.0.2.4"]), "192.0.2.4");
        // Only proxies named: the leftmost of them.
        assert_eq!(ip("10.0.0.1", &["10.9.9.9"]), "10.9.9.9");
        // No header, or garbage right of any address: the nearest known address.
        assert_eq!(ip("10.0.0.1", &[]), "10.0.0.1");
        assert_eq!(ip("10.0.0.1", &["203.0.113.9, junk"]), "10.0.0.1");
        // Not from a proxy: the header is the sender's word, not believed.
        assert_eq!(ip("192.0.2.50", &["203.0.113.9"]), "192.0.2.50");
        let mut no_header = config.clone();
        no_header.client_ip_header = None;
        assert_eq!(at(&no_header, "10.0.0.1", &["203.0.113.9"]), "10.0.0.1");
    }
}
