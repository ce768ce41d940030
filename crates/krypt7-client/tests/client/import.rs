//! Importing other managers' exports: the items and their history arrive sealed, a second
//! import adds nothing, a dry run and a cancelled import write nothing, and another device
//! gets the items by sync.

use std::sync::{
    Arc,
    atomic::{AtomicBool, AtomicUsize, Ordering},
};

use krypt7_client::{
    ClientError, ItemKind, Progress,
    import::{Format, ImportKind, ImportOptions, Outcome},
};

use crate::Server;

const EXPORT: &str = r#"{"encrypted": false,
  "folders": [{"id": "f1", "name": "Finance"}],
  "items": [
    {"id": "11111111-0000-4000-8000-000000000001", "type": 1, "name": "Bank", "folderId": "f1", "favorite": true,
     "fields": [{"name": "api token", "value": "tok-123", "type": 1}],
     "login": {"uris": [{"uri": "https://bank.example.com"}], "username": "kim", "password": "now-pw", "totp": "not base32!"},
     "passwordHistory": [{"lastUsedDate": "2025-02-01T00:00:00Z", "password": "first-pw"}, {"lastUsedDate": "2026-02-01T00:00:00Z", "password": "second-pw"}]},
    {"id": "11111111-0000-4000-8000-000000000002", "type": 3, "name": "Visa",
     "card": {"cardholderName": "Kim", "number": "4111111111111111", "expMonth": "13", "expYear": "2031", "code": "456"}},
    {"id": "11111111-0000-4000-8000-000000000003", "type": 2, "name": "Gone", "notes": "old", "deletedDate": "2026-04-01T00:00:00Z"}
  ]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_import_arrives_whole_once_and_syncs() {
    let server = Server::start().await;
    let (da, db) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let mut a = server.device(&da);
    let sk = a
        .signup("imogen", "correct horse battery", None, None)
        .await
        .unwrap();
    let none = AtomicBool::new(false);
    let opts = ImportOptions::default();

    // A dry run reports and writes nothing.
    let dry = a
        .import_file(EXPORT.as_bytes(), None, &opts, true, &none)
        .unwrap();
    assert_eq!(dry.format, "bitwarden");
    assert_eq!(dry.imported[&ImportKind::Login], 1);
    assert!(a.items().unwrap().is_empty());

    let report = a
        .import_file(EXPORT.as_bytes(), None, &opts, false, &none)
        .unwrap();
    assert_eq!(report.imported.values().sum::<usize>(), 3);
    assert_eq!(report.duplicates, 0);
    // What KRYPT7 would refuse is kept under another name, and said.
    let renamed: Vec<(&str, &Outcome)> = report
        .notes
        .iter()
        .filter(|n| n.field == "totp" || n.field == "expiry")
        .map(|n| (n.field.as_str(), &n.outcome))
        .collect();
    assert_eq!(
        renamed,
        [(
            "totp",
            &Outcome::Custom {
                name: "totp (not usable)".into()
            }
        ),]
    );
    let items = a.items().unwrap();
    let bank = items.iter().find(|i| i.data.title == "Bank").unwrap();
    assert_eq!(bank.data.fields["password"], "now-pw");
    assert_eq!(bank.data.fields["totp (not usable)"], "not base32!");
    assert_eq!(bank.data.folder.as_deref(), Some("Finance"));
    assert!(bank.data.favorite);
    assert!(bank.data.is_secret("api token") && !bank.data.is_secret("username"));
    assert_eq!(
        bank.data.source.as_deref(),
        Some("bitwarden:11111111-0000-4000-8000-000000000001")
    );
    let earlier: Vec<String> = a
        .history(bank.id)
        .unwrap()
        .into_iter()
        .map(|(_, d)| d.fields["password"].clone())
        .collect();
    assert_eq!(earlier, ["second-pw", "first-pw"], "newest first");
    let visa = items.iter().find(|i| i.data.title == "Visa").unwrap();
    assert_eq!(visa.data.kind, ItemKind::Card);
    // No month 13: the two values are kept as they were.
    assert_eq!(visa.data.fields["expMonth"], "13");
    assert_eq!(visa.data.fields["expYear"], "2031");
    assert!(
        items
            .iter()
            .find(|i| i.data.title == "Gone")
            .unwrap()
            .data
            .trashed
    );

    // An expiry that is no month, in a format that takes it as one field: kept, renamed.
    let nordpass = "name,url,username,password,note,cardholdername,cardnumber,cvc,expirydate,type\n\
                    Odd card,,,,,Kim,4111111111111111,1,13/99,credit_card\n";
    let r = a
        .import_file(nordpass.as_bytes(), None, &opts, false, &none)
        .unwrap();
    assert_eq!(
        r.notes
            .iter()
            .map(|n| (n.field.as_str(), &n.outcome))
            .collect::<Vec<_>>(),
        [(
            "expiry",
            &Outcome::Custom {
                name: "expiry (as written)".into()
            }
        )]
    );
    let items = a.items().unwrap();
    let odd = items.iter().find(|i| i.data.title == "Odd card").unwrap();
    assert_eq!(odd.data.fields["expiry (as written)"], "13/99");
    assert!(!odd.data.fields.contains_key("expiry"));

    // The same files again add nothing: by the source's id, and (the CSV has none) by
    // content: same kind, title and fields.
    let again = a
        .import_file(
            EXPORT.as_bytes(),
            Some(Format::Bitwarden),
            &opts,
            false,
            &none,
        )
        .unwrap();
    assert_eq!((again.duplicates, again.imported.len()), (3, 0));
    let again = a
        .import_file(nordpass.as_bytes(), None, &opts, false, &none)
        .unwrap();
    assert_eq!(
        (again.duplicates, again.imported.len()),
        (1, 0),
        "by content"
    );
    assert_eq!(a.items().unwrap().len(), 4);

    // A cancelled import adds nothing, whatever it had sealed.
    let mut csv = String::from("name,url,username,password\n");
    for n in 0..3000 {
        csv.push_str(&format!("site {n},https://s{n}.example,u{n},p{n}\n"));
    }
    let seen = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let (s, st) = (seen.clone(), stop.clone());
    a.on_progress(move |p| {
        if let Progress::Importing { done, total } = p {
            assert_eq!(total, 3000);
            s.store(done, Ordering::SeqCst);
            if done >= 1024 {
                st.store(true, Ordering::SeqCst);
            }
        }
    });
    let err = a
        .import_file(csv.as_bytes(), None, &opts, false, &stop)
        .unwrap_err();
    assert!(matches!(err, ClientError::Cancelled), "{err:?}");
    assert_eq!(a.items().unwrap().len(), 4);
    // Not cancelled: all of it, in one write, with progress to the end.
    let full = a
        .import_file(csv.as_bytes(), Some(Format::Chrome), &opts, false, &none)
        .unwrap();
    assert_eq!(full.imported[&ImportKind::Login], 3000);
    assert_eq!(seen.load(Ordering::SeqCst), 3000);
    let last = a.items().unwrap();
    let last = last.iter().find(|i| i.data.title == "site 2999").unwrap();
    assert_eq!(last.data.fields["username"], "u2999");

    // Another device gets every item by sync.
    a.sync().await.unwrap();
    let mut b = server.device(&db);
    b.login("imogen", "correct horse battery", &sk, None)
        .await
        .unwrap();
    b.sync().await.unwrap();
    assert_eq!(b.items().unwrap().len(), 3004);

    // KRYPT7's own exports come back whole in another account: the JSON one, and the
    // sealed one (which then finds everything already there).
    let dc = tempfile::tempdir().unwrap();
    let mut c = server.device(&dc);
    c.signup("ivo", "correct horse battery", None, None)
        .await
        .unwrap();
    let json = serde_json::to_vec(&a.export_json().unwrap()).unwrap();
    let back = c.import_file(&json, None, &opts, false, &none).unwrap();
    assert_eq!(back.format, "krypt7");
    assert_eq!(back.imported.values().sum::<usize>(), 3004);
    assert!(back.notes.is_empty(), "{:?}", back.notes);
    let shape = |c: &krypt7_client::Client| {
        let mut v: Vec<String> = c
            .items()
            .unwrap()
            .into_iter()
            .map(|i| {
                let d = i.data;
                format!(
                    "{:?}|{}|{:?}|{:?}|{:?}|{}|{}|{:?}",
                    d.kind, d.title, d.fields, d.folder, d.tags, d.favorite, d.trashed, d.hidden
                )
            })
            .collect();
        v.sort();
        v
    };
    assert!(
        shape(&a) == shape(&c),
        "every item, field and flag came back"
    );
    let sealed = a.export_encrypted("an export password").unwrap();
    let mut with_pw = ImportOptions::default();
    assert!(
        c.import_file(&sealed, None, &with_pw, false, &none)
            .is_err()
    );
    with_pw.password = Some("an export password".to_string().into());
    let again = c
        .import_file(&sealed, None, &with_pw, false, &none)
        .unwrap();
    assert_eq!((again.duplicates, again.imported.len()), (3004, 0));
    with_pw.password = Some("not the export password".to_string().into());
    let err = c
        .import_file(&sealed, None, &with_pw, false, &none)
        .unwrap_err();
    assert!(err.to_string().contains("does not open"), "{err}");

    // A file in no known format, and a broken one: clear errors, nothing added.
    let err = a
        .import_file(b"just some text\n", None, &opts, false, &none)
        .unwrap_err();
    assert!(err.to_string().contains("--format"), "{err}");
    let err = a
        .import_file(
            &EXPORT.as_bytes()[..200],
            Some(Format::Bitwarden),
            &opts,
            false,
            &none,
        )
        .unwrap_err();
    assert!(err.to_string().contains("not valid JSON"), "{err}");
    assert_eq!(a.items().unwrap().len(), 3004);
}
