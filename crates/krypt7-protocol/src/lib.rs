//! KRYPT7 wire types shared by client and server (serde only: no crypto, no I/O).
//!
//! Skeleton: filled in by its own issue (see `ARCHITECTURE.md`).
