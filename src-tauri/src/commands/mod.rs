//! The Tauri commands, one module per domain (as in the client core and the CLI). Each
//! command is a few lines over one `krypt7-client` call.

pub(crate) mod account;
pub(crate) mod files;
pub(crate) mod import;
pub(crate) mod mail;
pub(crate) mod peers;
pub(crate) mod session;
pub(crate) mod vault;
