//! Architecture invariants from ARCHITECTURE.md, checked as plain tests.

use std::{fs, path::Path};

use crate::sh::root;

fn manifest(krate: &str) -> String {
    let p = root().join(krate).join("Cargo.toml");
    fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

fn deps_section(m: &str) -> String {
    // The [dependencies] table only (not dev- or build-dependencies), without comments.
    let start = m.find("\n[dependencies]").map(|i| i + 1).unwrap_or(m.len());
    let rest = &m[start..];
    let end = rest[1..].find("\n[").map(|i| i + 1).unwrap_or(rest.len());
    rest[..end]
        .lines()
        .map(|l| l.split('#').next().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n")
}

fn rust_files(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        let p = e.path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

#[test]
fn crypto_depends_on_no_krypt7_crate_and_no_serde() {
    let d = deps_section(&manifest("crates/krypt7-crypto"));
    assert!(
        !d.contains("krypt7-"),
        "krypt7-crypto must depend on no other krypt7 crate"
    );
    assert!(
        !d.contains("serde"),
        "secrets must not be serializable by accident: no serde in krypt7-crypto"
    );
}

#[test]
fn crypto_does_no_io() {
    let mut files = Vec::new();
    rust_files(&root().join("crates/krypt7-crypto/src"), &mut files);
    assert!(!files.is_empty());
    // kat.rs is compiled only for tests (`#[cfg(test)] mod kat;`) and reads vector files.
    let lib = fs::read_to_string(root().join("crates/krypt7-crypto/src/lib.rs")).expect("lib.rs");
    assert!(
        lib.contains("#[cfg(test)]\nmod kat;"),
        "kat must stay test-only"
    );
    for f in files.into_iter().filter(|f| !f.ends_with("kat.rs")) {
        let s = fs::read_to_string(&f).expect("read");
        for banned in [
            "std::fs",
            "std::net",
            "std::process",
            "std::env",
            "println!",
            "eprintln!",
        ] {
            assert!(
                !s.contains(banned),
                "{} uses {banned}: krypt7-crypto does no I/O",
                f.display()
            );
        }
    }
}

#[test]
fn protocol_has_no_crypto_and_no_io() {
    let d = deps_section(&manifest("crates/krypt7-protocol"));
    for banned in ["krypt7-", "ring", "tokio", "reqwest", "rusqlite", "axum"] {
        assert!(
            !d.contains(banned),
            "krypt7-protocol must not depend on {banned}"
        );
    }
}

#[test]
fn dependency_arrows_point_one_way() {
    // Nothing depends on the shells; the server knows only the protocol.
    for krate in [
        "crates/krypt7-crypto",
        "crates/krypt7-protocol",
        "crates/krypt7-store",
        "crates/krypt7-client",
        "crates/krypt7-server",
    ] {
        let d = deps_section(&manifest(krate));
        assert!(
            !d.contains("krypt7-cli") && !d.contains("krypt7-desktop"),
            "{krate} depends on a shell"
        );
    }
    let server = deps_section(&manifest("crates/krypt7-server"));
    for banned in ["krypt7-crypto", "krypt7-store", "krypt7-client"] {
        assert!(
            !server.contains(banned),
            "krypt7-server must depend on krypt7-protocol only, not {banned}"
        );
    }
}

#[test]
fn only_the_store_opens_sqlite_on_the_client() {
    for krate in [
        "crates/krypt7-client",
        "crates/krypt7-cli",
        "src-tauri",
        "crates/krypt7-crypto",
        "crates/krypt7-protocol",
    ] {
        assert!(
            !deps_section(&manifest(krate)).contains("rusqlite"),
            "{krate} must not open SQLite"
        );
    }
}

/// Unsafe code is denied in every crate and forbidden outright in the libraries; the one
/// place allowed it is the desktop shell's screen-lock check on Windows and macOS.
#[test]
fn unsafe_code_is_denied_workspace_wide_and_allowed_in_one_place() {
    let m = fs::read_to_string(root().join("Cargo.toml")).expect("workspace manifest");
    assert!(m.contains("unsafe_code = \"deny\""));
    for krate in [
        "crates/krypt7-crypto",
        "crates/krypt7-protocol",
        "crates/krypt7-store",
        "crates/krypt7-client",
        "crates/krypt7-server",
    ] {
        let lib = fs::read_to_string(root().join(krate).join("src/lib.rs")).expect("lib.rs");
        assert!(
            lib.contains("#![forbid(unsafe_code)]"),
            "{krate} must forbid unsafe code"
        );
    }
    let mut files = Vec::new();
    for dir in ["crates", "src-tauri/src", "xtask", "tests"] {
        rust_files(&root().join(dir), &mut files);
    }
    let allowed: Vec<_> = files
        .iter()
        .filter(|f| {
            fs::read_to_string(f)
                .unwrap_or_default()
                .contains(&["allow(", "unsafe_code)"].concat())
        })
        .map(|f| f.strip_prefix(root()).unwrap_or(f).to_path_buf())
        .collect();
    assert_eq!(
        allowed,
        [std::path::PathBuf::from("src-tauri/src/shell.rs")],
        "unsafe code is allowed in one place only"
    );
    for krate in [
        "crates/krypt7-crypto",
        "crates/krypt7-protocol",
        "crates/krypt7-store",
        "crates/krypt7-client",
        "crates/krypt7-server",
        "crates/krypt7-cli",
        "src-tauri",
        "xtask",
    ] {
        assert!(
            manifest(krate).contains("[lints]\nworkspace = true"),
            "{krate} must inherit the workspace lints"
        );
    }
}

#[test]
fn only_the_server_knows_axum_and_sqlx() {
    for krate in [
        "crates/krypt7-crypto",
        "crates/krypt7-protocol",
        "crates/krypt7-store",
        "crates/krypt7-client",
        "crates/krypt7-cli",
        "src-tauri",
    ] {
        let d = deps_section(&manifest(krate));
        assert!(
            !d.contains("axum") && !d.contains("sqlx"),
            "{krate} must not depend on axum or sqlx"
        );
    }
}
