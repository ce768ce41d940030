//! `krypt7-server`: the hosted backend. It stores and relays opaque bytes, and never holds
//! a key or a plaintext. See `docs/server.md` for operation.
//!
//! - [`config`]: command line, file and environment settings.
//! - [`tls`]: HTTPS only; a development CA for localhost on first run.
//! - [`db`]: one storage layer, two real backends (SQLite by default, PostgreSQL).
//! - [`api`]: the `/v1` HTTP API (axum), its errors and its OpenAPI document.

#![forbid(unsafe_code)]

pub mod api;
pub mod at_rest;
pub mod blobs;
pub mod clock;
pub mod config;
pub mod db;
pub mod opaque;
pub mod purge;
pub mod server;
pub mod sms;
pub mod tls;

pub use config::Config;
pub use server::{RunningServer, start};
