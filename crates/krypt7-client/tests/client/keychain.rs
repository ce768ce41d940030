//! Keychain unlock against a real Secret Service: gnome-keyring in a private D-Bus session
//! (`dbus-run-session`), started by the test itself, so it runs the same under
//! `cargo xtask test` and a plain `cargo test`.

use crate::{Server, login_item};

const INSIDE: &str = "KRYPT7_TEST_IN_KEYRING_SESSION";

/// Runs `test_name` of this test binary again inside a D-Bus session with an unlocked
/// gnome-keyring, and asserts that it passed.
fn in_keyring_session(test_name: &str) {
    let exe = std::env::current_exe().unwrap();
    let runtime = tempfile::tempdir().unwrap();
    let data = tempfile::tempdir().unwrap();
    let script = r#"printf %s krypt7-test | gnome-keyring-daemon --unlock --components=secrets >/dev/null && exec "$0" "$1" --exact --nocapture --test-threads=1"#;
    let out = std::process::Command::new("dbus-run-session")
        .args(["--", "sh", "-c", script])
        .arg(&exe)
        .arg(test_name)
        .env(INSIDE, "1")
        .env("XDG_RUNTIME_DIR", runtime.path())
        .env("XDG_DATA_HOME", data.path())
        .output()
        .expect(
            "dbus-run-session and gnome-keyring are installed (cargo xtask test installs them)",
        );
    let text = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success() && text.contains("1 passed"),
        "the keychain test failed inside its D-Bus session:\n{text}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keychain_unlock_on_and_off() {
    if std::env::var_os(INSIDE).is_none() {
        return in_keyring_session("keychain::keychain_unlock_on_and_off");
    }
    let mut server = Server::start().await;
    let d = tempfile::tempdir().unwrap();
    let mut a = server.device(&d);
    let sk = a
        .signup("dora", "dora's long password", None, None)
        .await
        .unwrap();
    let account = a.account_id().unwrap().unwrap();
    let id = a
        .add_item(login_item("Canary-Title-Keychain", "dora", "canary-pw"))
        .unwrap();
    a.enable_keychain_unlock(&sk).unwrap();
    // What the Secret Service now holds, read back with secret-tool.
    let lookup = |what: &str| {
        std::process::Command::new("secret-tool")
            .args([
                "lookup",
                "service",
                "KRYPT7",
                "username",
                &format!("{account}/{what}"),
            ])
            .output()
            .unwrap()
    };
    let out = lookup("secret-key");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        sk.to_human().as_str()
    );
    assert!(lookup("device-key").status.success());
    // Locked: unlock with the keychain alone, in a new process's worth of state.
    a.lock().unwrap();
    let mut again = server.device(&d);
    again.unlock_with_keychain().unwrap();
    assert_eq!(again.item(id).unwrap().data.fields["password"], "canary-pw");
    assert_eq!(again.keychain_secret_key().unwrap().unwrap(), sk);
    // Off: both entries are gone, keychain unlock refuses, the password still works.
    again.disable_keychain_unlock().unwrap();
    assert!(!lookup("secret-key").status.success());
    assert!(!lookup("device-key").status.success());
    again.lock().unwrap();
    let mut third = server.device(&d);
    assert_eq!(
        third.unlock_with_keychain().unwrap_err().code(),
        "keychain_unavailable"
    );
    third.unlock("dora's long password", &sk).unwrap();
    assert_eq!(third.items().unwrap().len(), 1);
    server.down().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_keychain_falls_back_to_the_password_and_keeps_the_data() {
    // No D-Bus session at all here: the Secret Service cannot be reached.
    if std::env::var_os("DBUS_SESSION_BUS_ADDRESS").is_some() {
        // Not expected in tests; make sure this case is really keychain-less.
        let exe = std::env::current_exe().unwrap();
        let out = std::process::Command::new(exe)
            .args([
                "keychain::a_missing_keychain_falls_back_to_the_password_and_keeps_the_data",
                "--exact",
            ])
            .env_remove("DBUS_SESSION_BUS_ADDRESS")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
        return;
    }
    let mut server = Server::start().await;
    let d = tempfile::tempdir().unwrap();
    let mut a = server.device(&d);
    let sk = a
        .signup("erin", "erin's long password", None, None)
        .await
        .unwrap();
    let id = a.add_item(login_item("Kept", "erin", "kept-pw")).unwrap();
    let err = a.enable_keychain_unlock(&sk).unwrap_err();
    assert_eq!(err.code(), "keychain_unavailable", "{err}");
    assert!(
        !a.keychain_unlock_enabled().unwrap(),
        "nothing half-enabled"
    );
    a.lock().unwrap();
    let mut b = server.device(&d);
    assert_eq!(
        b.unlock_with_keychain().unwrap_err().code(),
        "keychain_unavailable"
    );
    b.unlock("erin's long password", &sk).unwrap();
    assert_eq!(b.item(id).unwrap().data.fields["password"], "kept-pw");
    server.down().await;
}
