//! KRYPT7 client core: account, unlock/lock, vault operations, search, sync, files.
//!
//! Skeleton: filled in by its own issue (see `ARCHITECTURE.md`).
