//! Starts a real server (real TLS, real database) and speaks to it the way a client does,
//! with the real client-side crypto from krypt7-crypto.

use krypt7_crypto::{
    Password,
    envelope::{self, KeysetWrapper},
    kdf::{KdfParams, KdfSetup},
    keys::Keyset,
    opaque::{Login, Registration},
    pk,
    secret_key::SecretKey,
};
use krypt7_protocol::{B64, LoginFinishResponse, LoginStartResponse, RegisterStartResponse};
use krypt7_server::{Config, RunningServer, clock::Clock};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

pub struct TestServer {
    pub server: RunningServer,
    pub dir: tempfile::TempDir,
    pub remote: Remote,
    /// The PostgreSQL database URL (PostgreSQL backend only).
    pub db_url: Option<String>,
}

impl std::ops::Deref for TestServer {
    type Target = Remote;
    fn deref(&self) -> &Remote {
        &self.remote
    }
}

/// A server as a client sees it: its base URL and the CA it is trusted through.
pub struct Remote {
    pub base: String,
    pub ca_pem: Vec<u8>,
    /// The address requests come from (loopback's `127.0.0.1` unless set).
    pub from: Option<std::net::IpAddr>,
    /// An `X-Forwarded-For` header sent with every request, as a proxy would add it.
    pub forwarded_for: Option<String>,
}

pub struct User {
    pub account_id: uuid::Uuid,
    pub secret_key: SecretKey,
    pub token: String,
    pub password: String,
}

impl TestServer {
    pub async fn start(backend: Backend) -> TestServer {
        Self::start_with(backend, |_| {}).await
    }

    pub async fn start_with(backend: Backend, tweak: impl FnOnce(&mut Config)) -> TestServer {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::new(dir.path().join("data"));
        config.listen = "127.0.0.1:0".parse().unwrap();
        let db_url = (backend == Backend::Postgres).then(crate::pg::fresh_database);
        config.database_url = db_url.clone();
        tweak(&mut config);
        Self::launch(dir, config, db_url).await
    }

    /// A new server process on the same data directory and database (a restart).
    pub async fn restart(
        dir: tempfile::TempDir,
        data_dir: std::path::PathBuf,
        db_url: Option<String>,
    ) -> TestServer {
        Self::restart_with(dir, data_dir, db_url, |_| {}).await
    }

    /// [`TestServer::restart`] with settings changed by `tweak`.
    pub async fn restart_with(
        dir: tempfile::TempDir,
        data_dir: std::path::PathBuf,
        db_url: Option<String>,
        tweak: impl FnOnce(&mut Config),
    ) -> TestServer {
        let config = Self::restart_config(data_dir, db_url.clone(), tweak);
        Self::launch(dir, config, db_url).await
    }

    /// The settings of a restart on `data_dir` and `db_url`, changed by `tweak`.
    pub fn restart_config(
        data_dir: std::path::PathBuf,
        db_url: Option<String>,
        tweak: impl FnOnce(&mut Config),
    ) -> Config {
        let mut config = Config::new(data_dir);
        config.listen = "127.0.0.1:0".parse().unwrap();
        config.database_url = db_url;
        tweak(&mut config);
        config
    }

    /// Stops the server; returns what a restart needs: `(dir, data dir, database URL)`.
    pub async fn stop_for_restart(self) -> (tempfile::TempDir, std::path::PathBuf, Option<String>) {
        let data_dir = self.dir.path().join("data");
        let TestServer {
            server,
            dir,
            db_url,
            ..
        } = self;
        server.stop().await;
        (dir, data_dir, db_url)
    }

    async fn launch(dir: tempfile::TempDir, config: Config, db_url: Option<String>) -> TestServer {
        let server = krypt7_server::start(config, Clock::default())
            .await
            .unwrap();
        let (ca, _) = server.dev_ca.clone().expect("development CA in use");
        let ca_pem = std::fs::read(ca).unwrap();
        let base = format!("https://localhost:{}", server.addr.port());
        TestServer {
            server,
            dir,
            remote: Remote {
                base,
                ca_pem,
                from: None,
                forwarded_for: None,
            },
            db_url,
        }
    }

    /// The unauthorized-attempt record, newest first: `(ip, reason)`.
    pub async fn unauthorized(&self) -> Vec<(String, String)> {
        self.server
            .state
            .db
            .unauthorized_attempts(1000)
            .await
            .unwrap()
            .into_iter()
            .map(|(ip, _, r)| (ip, r))
            .collect()
    }
}

impl Remote {
    /// The same server, reached from another loopback address (`127.0.0.2`, …).
    pub fn reached_from(&self, ip: &str) -> Remote {
        Remote {
            base: self.base.clone(),
            ca_pem: self.ca_pem.clone(),
            from: Some(ip.parse().unwrap()),
            forwarded_for: self.forwarded_for.clone(),
        }
    }

    /// The same server, with every request carrying `X-Forwarded-For: value`.
    pub fn forwarded_for(&self, value: &str) -> Remote {
        Remote {
            base: self.base.clone(),
            ca_pem: self.ca_pem.clone(),
            from: self.from,
            forwarded_for: Some(value.into()),
        }
    }

    /// A client that trusts only this server's development CA.
    pub fn client(&self) -> reqwest::Client {
        reqwest::Client::builder()
            .local_address(self.from)
            .tls_built_in_root_certs(false)
            .add_root_certificate(reqwest::Certificate::from_pem(&self.ca_pem).unwrap())
            .build()
            .unwrap()
    }

    /// Any request; returns the status and the JSON body (`Null` when empty).
    pub async fn call(
        &self,
        method: Method,
        path: impl Into<String>,
        token: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        self.call_stepped(method, path, token, None, body).await
    }

    /// A request carrying the step-up proof `step_up` (`krypt7-step-up` header).
    pub async fn call_stepped(
        &self,
        method: Method,
        path: impl Into<String>,
        token: Option<&str>,
        step_up: Option<&str>,
        body: Option<Value>,
    ) -> (StatusCode, Value) {
        let path = path.into();
        let mut rq = self
            .client()
            .request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            rq = rq.bearer_auth(t);
        }
        if let Some(id) = step_up {
            rq = rq.header(krypt7_protocol::STEP_UP_HEADER, id);
        }
        if let Some(f) = &self.forwarded_for {
            rq = rq.header("x-forwarded-for", f);
        }
        if let Some(b) = body {
            rq = rq.json(&b);
        }
        let resp = rq.send().await.unwrap();
        let status = resp.status();
        let text = resp.text().await.unwrap();
        let v = if text.is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON: {text}"))
        };
        (status, v)
    }

    pub async fn get(&self, path: impl Into<String>, token: &str) -> (StatusCode, Value) {
        self.call(Method::GET, path, Some(token), None).await
    }

    pub async fn post(&self, path: impl Into<String>, body: Value) -> (StatusCode, Value) {
        self.call(Method::POST, path, None, Some(body)).await
    }

    pub async fn put(
        &self,
        path: impl Into<String>,
        token: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        self.call(Method::PUT, path, Some(token), Some(body)).await
    }

    /// Registers an account through the real client crypto and signs it in.
    pub async fn register(&self, username: &str, password: &str) -> User {
        let sk = SecretKey::generate().unwrap();
        let pw = Password::new(password);
        let setup = KdfSetup::generate(KdfParams::MINIMUM).unwrap();
        let (reg, request) = Registration::start(&pw, &sk).unwrap();
        let (s, v) = self
            .post(
                "/v1/accounts/register/start",
                json!({"username": username, "registration_request": B64(request)}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let start: RegisterStartResponse = serde_json::from_value(v).unwrap();
        let account = *start.account_id.as_bytes();
        let (upload, auk) = reg
            .finish(&account, &setup, &start.registration_response.0)
            .unwrap();
        let keyset = Keyset::generate().unwrap();
        let wrapped = envelope::wrap_keyset(KeysetWrapper::Auk(&auk), &account, &keyset).unwrap();
        let bundle = pk::sign_key_bundle(&keyset.identity, &keyset.encryption, &account);
        let (s, v) = self
            .post(
                "/v1/accounts/register/finish",
                json!({
                    "account_id": start.account_id, "username": username, "email": format!("{username}@example.org"),
                    "registration_upload": B64(upload), "kdf_setup": B64(setup.seal(&sk)),
                    "keyset": B64(wrapped), "key_bundle": B64(bundle),
                }),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        let token = self
            .login(username, password, &sk)
            .await
            .expect("sign-in after registration");
        User {
            account_id: start.account_id,
            secret_key: sk,
            token,
            password: password.into(),
        }
    }

    /// A well-formed `PUT /v1/account/password` body that registers `new_password` for
    /// `user`, made through `POST /v1/account/password/start` with the proven step-up
    /// `proof`; its keyset is random bytes.
    pub async fn password_change(&self, user: &User, proof: &str, new_password: &str) -> Value {
        self.registration(user, proof, new_password, "/v1/account/password/start")
            .await
    }

    /// The body of a Secret Key change's finish, without its vaults: a registration of the
    /// same password and Secret Key, made with `proof` (for `change_secret_key`).
    pub async fn secret_key_change(&self, user: &User, proof: &str) -> Value {
        self.registration(user, proof, &user.password, "/v1/account/secret-key/start")
            .await
    }

    async fn registration(
        &self,
        user: &User,
        proof: &str,
        new_password: &str,
        start: &str,
    ) -> Value {
        let pw = Password::new(new_password);
        let setup = KdfSetup::generate(KdfParams::MINIMUM).unwrap();
        let (reg, request) = Registration::start(&pw, &user.secret_key).unwrap();
        let (s, v) = self
            .call_stepped(
                Method::POST,
                start,
                Some(&user.token),
                Some(proof),
                Some(json!({"registration_request": B64(request)})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        let response = B64::decode(v["registration_response"].as_str().unwrap()).unwrap();
        let (upload, _auk) = reg
            .finish(user.account_id.as_bytes(), &setup, &response.0)
            .unwrap();
        json!({
            "registration_upload": B64(upload),
            "kdf_setup": B64(setup.seal(&user.secret_key)),
            "keyset": B64(random_bytes(130)),
        })
    }

    /// A step-up round for `action` (its wire name) by the session `token`, with `password`
    /// and the current second factor's `code`: the proven step-up's id, or the refusal.
    pub async fn step_up(
        &self,
        token: &str,
        account: uuid::Uuid,
        password: &str,
        sk: &SecretKey,
        action: &str,
        code: Option<&str>,
    ) -> Result<String, (StatusCode, Value)> {
        let (login, request) = Login::start(&Password::new(password), sk).unwrap();
        let (s, v) = self
            .call(
                Method::POST,
                "/v1/account/step-up/start",
                Some(token),
                Some(json!({"action": action, "credential_request": B64(request)})),
            )
            .await;
        if s != StatusCode::OK {
            return Err((s, v));
        }
        let started: krypt7_protocol::StepUpStarted = serde_json::from_value(v).unwrap();
        let finalization = match KdfSetup::open(&started.kdf_setup.0, sk).and_then(|setup| {
            login.finish(account.as_bytes(), &setup, &started.credential_response.0)
        }) {
            Ok((fin, _)) => fin,
            // Wrong password: sent anyway, as an attacker would.
            Err(_) => vec![0u8; 64],
        };
        let (s, v) = self
            .call(
                Method::POST,
                "/v1/account/step-up/finish",
                Some(token),
                Some(json!({"step_up_id": started.step_up_id, "credential_finalization": B64(finalization), "code": code})),
            )
            .await;
        if s != StatusCode::OK {
            return Err((s, v));
        }
        Ok(v["step_up_id"].as_str().unwrap().to_string())
    }

    /// `user`'s own step-up for `action`, with no second factor; panics if refused.
    pub async fn proof(&self, user: &User, action: &str) -> String {
        self.step_up(
            &user.token,
            user.account_id,
            &user.password,
            &user.secret_key,
            action,
            None,
        )
        .await
        .expect("step-up")
    }

    /// Signs in with no second factor; `Err((status, body))` when the server refuses.
    pub async fn login(
        &self,
        username: &str,
        password: &str,
        sk: &SecretKey,
    ) -> Result<String, (StatusCode, Value)> {
        match self.sign_in(username, password, sk).await? {
            LoginFinishResponse::SignedIn(session) => Ok(session.token),
            other => Err((
                StatusCode::OK,
                serde_json::to_value(format!("{other:?}")).unwrap(),
            )),
        }
    }

    /// OPAQUE sign-in up to the server's answer (a session, or a second factor to give).
    pub async fn sign_in(
        &self,
        username: &str,
        password: &str,
        sk: &SecretKey,
    ) -> Result<LoginFinishResponse, (StatusCode, Value)> {
        self.sign_in_with_proof(username, password, sk, None).await
    }

    /// As [`Remote::sign_in`], showing the device proof of an earlier sign-in.
    pub async fn sign_in_with_proof(
        &self,
        username: &str,
        password: &str,
        sk: &SecretKey,
        device_proof: Option<&str>,
    ) -> Result<LoginFinishResponse, (StatusCode, Value)> {
        let (login, request) = Login::start(&Password::new(password), sk).unwrap();
        let (s, v) = self
            .post(
                "/v1/sessions/login/start",
                json!({"username": username, "credential_request": B64(request), "device_proof": device_proof}),
            )
            .await;
        if s != StatusCode::OK {
            return Err((s, v));
        }
        let start: LoginStartResponse = serde_json::from_value(v).unwrap();
        let finalization = match KdfSetup::open(&start.kdf_setup.0, sk).and_then(|setup| {
            login.finish(
                start.account_id.as_bytes(),
                &setup,
                &start.credential_response.0,
            )
        }) {
            Ok((fin, _auk)) => fin,
            // The client could not complete OPAQUE (wrong password or key): it still sends
            // something, as an attacker would, to see what the server does with it.
            Err(_) => vec![0u8; 64],
        };
        let (s, v) = self
            .post(
                "/v1/sessions/login/finish",
                json!({"login_id": start.login_id, "credential_finalization": B64(finalization), "device_name": "test device"}),
            )
            .await;
        if s != StatusCode::OK {
            return Err((s, v));
        }
        Ok(serde_json::from_value::<LoginFinishResponse>(v).unwrap())
    }
}

/// `n` random bytes.
pub fn random_bytes(n: usize) -> Vec<u8> {
    use ring::rand::SecureRandom;
    let mut b = vec![0; n];
    ring::rand::SystemRandom::new().fill(&mut b).unwrap();
    b
}
