//! The `krypt7-server` binary itself: settings from a TOML file with an environment variable
//! overriding it, HTTPS with the development CA, and clear errors for bad settings.

use std::{
    io::BufRead,
    process::{Command, Stdio},
};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_from_a_config_file_with_env_overrides() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let cfg = dir.path().join("server.toml");
    std::fs::write(
        &cfg,
        format!(
            "data_dir = {:?}\nlisten = \"127.0.0.1:1\"\nquota_bytes = 5000\n",
            data
        ),
    )
    .unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_krypt7-server"))
        .args(["serve", "--config"])
        .arg(&cfg)
        // The environment overrides the file's (unusable) port.
        .env("KRYPT7_SERVER_LISTEN", "127.0.0.1:0")
        .env("KRYPT7_LOG", "warn")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut lines = std::io::BufReader::new(stdout).lines();
    let addr = loop {
        let line = lines
            .next()
            .expect("server exited before listening")
            .unwrap();
        if let Some(a) = line.strip_prefix("krypt7-server: listening on https://") {
            break a.to_string();
        }
    };
    let ca = std::fs::read(data.join("ca.pem")).unwrap();
    let client = reqwest::Client::builder()
        .tls_built_in_root_certs(false)
        .add_root_certificate(reqwest::Certificate::from_pem(&ca).unwrap())
        .build()
        .unwrap();
    let port = addr.rsplit(':').next().unwrap();
    let health: serde_json::Value = client
        .get(format!("https://localhost:{port}/v1/health"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok");
    // Plain HTTP is not served.
    let plain = reqwest::Client::new()
        .get(format!("http://127.0.0.1:{port}/v1/health"))
        .send()
        .await;
    assert!(plain.is_err() || !plain.unwrap().status().is_success());
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn bad_settings_fail_with_a_clear_message() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("bad.toml");
    std::fs::write(&cfg, "data_dir = \"/tmp/x\"\nlisten_on = \"oops\"\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_krypt7-server"))
        .args(["serve", "--config"])
        .arg(&cfg)
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("invalid config file") && err.contains("listen_on"),
        "{err}"
    );
    let out = Command::new(env!("CARGO_BIN_EXE_krypt7-server"))
        .args(["serve"])
        .env_remove("KRYPT7_SERVER_DATA_DIR")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--data-dir is required"));
    let out = Command::new(env!("CARGO_BIN_EXE_krypt7-server"))
        .args(["serve", "--data-dir"])
        .arg(dir.path())
        .args(["--database-url", "mysql://nope"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("unsupported database URL"));
}
