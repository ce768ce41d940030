//! KRYPT7 client's encrypted local cache (SQLite); stores envelopes, never plaintext.
//!
//! Skeleton: filled in by its own issue (see `ARCHITECTURE.md`).
