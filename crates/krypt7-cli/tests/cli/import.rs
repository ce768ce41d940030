//! `krypt7 import` against a real server: a dry run, a password-protected export by
//! `--password-stdin`, the report as JSON and as text, a second import adding nothing, and
//! clear errors that add nothing.

use super::krypt7;

const EXPORT: &str = r#"{"encrypted": false, "folders": [],
  "items": [
    {"id": "22222222-0000-4000-8000-000000000001", "type": 1, "name": "Forum", "reprompt": 1,
     "login": {"uris": [{"uri": "https://forum.example.com"}], "username": "ida", "password": "pw-1"}},
    {"id": "22222222-0000-4000-8000-000000000002", "type": 2, "name": "Alarm code", "notes": "2468"}
  ]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn import_from_the_command_line() {
    let (server, _sdir, [(d, session)]) = super::mail::accounts("localhost", ["ida"]).await;
    let s = [("KRYPT7_SESSION", session.as_str())];
    let work = tempfile::tempdir().unwrap();
    let file = work.path().join("bitwarden_encrypted_export.json");
    let encrypted =
        krypt7_import::bitwarden::write::encrypted(EXPORT, "export password", 2000, None, 3);
    std::fs::write(&file, encrypted).unwrap();
    let path = file.to_str().unwrap();

    // Without the export's password, and not at a terminal: a clear error.
    let r = krypt7(d.path(), &s, &["import", path], None);
    assert_eq!(r.code, 1);
    assert!(r.stderr.contains("--password-stdin"), "{}", r.stderr);
    // A wrong one.
    let r = krypt7(
        d.path(),
        &s,
        &["import", "--password-stdin", path],
        Some("nope\n"),
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr.contains("does not open this export"),
        "{}",
        r.stderr
    );

    // A dry run: the report, nothing added.
    let r = krypt7(
        d.path(),
        &s,
        &["--json", "import", "--dry-run", "--password-stdin", path],
        Some("export password\n"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    let v = r.json();
    assert_eq!(v["format"], "bitwarden");
    assert_eq!(v["imported"], serde_json::json!({"login": 1, "note": 1}));
    assert_eq!(v["dry_run"], true);
    assert_eq!(
        v["notes"],
        serde_json::json!([{"field": "reprompt", "outcome": "not_carried",
            "why": "KRYPT7 has no per-item password prompt: the whole vault locks",
            "count": 1, "items": ["Forum"]}])
    );
    let r = krypt7(d.path(), &s, &["--json", "item", "list"], None);
    assert_eq!(r.json().as_array().unwrap().len(), 0);

    // The import, its report as text.
    let r = krypt7(
        d.path(),
        &s,
        &["import", "--password-stdin", path],
        Some("export password\n"),
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout
            .contains("Read from the bitwarden export: 1 login, 1 note.")
            && r.stdout.contains("Imported: 1 login, 1 note.")
            && r.stdout
                .contains("Not carried over:\n  reprompt: KRYPT7 has no per-item password prompt"),
        "{}",
        r.stdout
    );
    let r = krypt7(d.path(), &s, &["--json", "search", "forum"], None);
    let id = r.json()[0]["id"].as_str().unwrap().to_string();
    let r = krypt7(d.path(), &s, &["--json", "item", "get", &id], None);
    assert_eq!(r.json()["fields"]["password"], "pw-1");

    // Again: nothing added.
    let r = krypt7(
        d.path(),
        &s,
        &["--json", "import", "--password-stdin", path],
        Some("export password\n"),
    );
    assert_eq!(r.json()["duplicates"], 2);
    let r = krypt7(d.path(), &s, &["--json", "item", "list"], None);
    assert_eq!(r.json().as_array().unwrap().len(), 2);

    // A generic CSV by a column mapping; an unknown column is an error naming the columns.
    let csv = work.path().join("accounts.csv");
    std::fs::write(&csv, "Service,Login,Secret,Where\nVPN,ida,vpn-pw,Work\n").unwrap();
    let csv = csv.to_str().unwrap();
    let r = krypt7(
        d.path(),
        &s,
        &[
            "import",
            "--format",
            "csv",
            "--map",
            "title=Service,password=Nope",
            csv,
        ],
        None,
    );
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("no column \"Nope\" (its columns: service, login, secret, where)"),
        "{}",
        r.stderr
    );
    let r = krypt7(
        d.path(),
        &s,
        &[
            "--json",
            "import",
            "--format",
            "csv",
            "--map",
            "title=Service,username=Login,password=Secret,folder=Where",
            csv,
        ],
        None,
    );
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_eq!(r.json()["imported"]["login"], 1);
    let r = krypt7(d.path(), &s, &["--json", "item", "list"], None);
    assert_eq!(r.json().as_array().unwrap().len(), 3);

    // Unknown format names, files that are not there or not an export: clear, nothing added.
    for (args, says) in [
        (
            vec!["import", "--format", "keepass9", path],
            "unknown import format \"keepass9\"",
        ),
        (
            vec!["import", "/nonexistent/export.csv"],
            "cannot read /nonexistent/export.csv",
        ),
        (
            vec!["import", csv, "--format", "bitwarden"],
            "not valid JSON",
        ),
    ] {
        let r = krypt7(d.path(), &s, &args, None);
        assert_eq!(r.code, 1, "{args:?}");
        assert!(r.stderr.contains(says), "{args:?}: {}", r.stderr);
    }
    let r = krypt7(d.path(), &s, &["--json", "item", "list"], None);
    assert_eq!(r.json().as_array().unwrap().len(), 3);
    server.stop().await;
}
