//! `ui/src/lib/bindings.ts` must be what the commands' Rust types generate today.
//! Regenerate with `UPDATE_BINDINGS=1 cargo test -p krypt7-desktop --test bindings`.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use std::path::Path;

#[test]
fn the_ui_bindings_are_generated_from_the_commands() {
    // `cargo test` runs in the package's directory.
    let committed_path = Path::new(krypt7_desktop::BINDINGS);
    let fresh_path =
        std::env::temp_dir().join(format!("krypt7-bindings-{}.ts", std::process::id()));
    krypt7_desktop::export_bindings(&fresh_path).unwrap();
    let fresh = std::fs::read_to_string(&fresh_path).unwrap();
    std::fs::remove_file(&fresh_path).unwrap();
    if std::env::var_os("UPDATE_BINDINGS").is_some() {
        std::fs::write(committed_path, &fresh).unwrap();
    }
    let committed = std::fs::read_to_string(committed_path).unwrap_or_default();
    assert!(
        committed == fresh,
        "{} is stale: run `UPDATE_BINDINGS=1 cargo test -p krypt7-desktop --test bindings` \
         and commit the result",
        committed_path.display()
    );
}
