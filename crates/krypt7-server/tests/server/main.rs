//! The server's conformance suite: every test runs against the real server over real TLS,
//! once on SQLite and once on a real PostgreSQL (a throwaway cluster, see `pg.rs`).
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

mod harness;
mod pg;
mod schemathesis;

mod accounts;
mod at_rest;
mod attempts;
mod bad_input;
mod binary;
mod blobs;
mod breach;
mod deletion;
mod factors;
mod limits;
mod mail;
mod rekey;
mod stepup;
mod vault;

/// Declares `sqlite::NAME` and `postgres::NAME` tests that run `async fn NAME(Backend)`.
#[macro_export]
macro_rules! both {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::harness::Backend::Sqlite).await })*
        }
        mod postgres {
            $(#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() { super::$name($crate::harness::Backend::Postgres).await })*
        }
    };
}
