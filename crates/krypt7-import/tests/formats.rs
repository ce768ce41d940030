//! Each format read from a file written here from the format's public description, with
//! its report asserted exactly.
#![allow(clippy::unwrap_used)] // test code: a panic is the failure report

use krypt7_import::{Format, ImportError, Kind, Note, Options, Outcome, read};

fn import(format: Option<Format>, text: &str) -> krypt7_import::Import {
    read(text.as_bytes(), format, &Options::default()).unwrap()
}

fn custom(field: &str, name: &str, count: usize, items: &[&str]) -> Note {
    Note {
        field: field.into(),
        outcome: Outcome::Custom { name: name.into() },
        count,
        items: items.iter().map(|s| s.to_string()).collect(),
    }
}

fn dropped(field: &str, why: &str, count: usize, items: &[&str]) -> Note {
    Note {
        field: field.into(),
        outcome: Outcome::NotCarried { why: why.into() },
        count,
        items: items.iter().map(|s| s.to_string()).collect(),
    }
}

const TIMES: &str = "KRYPT7 records its own creation and change times";

#[test]
fn chrome_csv() {
    let i = import(
        None,
        "name,url,username,password,note\n\
         Example,https://www.example.com/login,alice,pa55,\"line one\nline \"\"two\"\"\"\n\
         ,https://shop.example.net/cart,bob,pw2,\n",
    );
    assert_eq!(i.format, Format::Chrome);
    assert_eq!(i.records.len(), 2);
    let a = &i.records[0];
    assert_eq!((a.kind(), a.title.as_str()), (Kind::Login, "Example"));
    assert_eq!(a.fields["url"], "https://www.example.com/login");
    assert_eq!(a.fields["username"], "alice");
    assert_eq!(a.fields["password"], "pa55");
    assert_eq!(a.fields["notes"], "line one\nline \"two\"");
    // No title: the site's host names it.
    assert_eq!(i.records[1].title, "shop.example.net");
    assert!(!i.records[1].fields.contains_key("notes"));
    assert!(i.report.notes.is_empty());
    assert_eq!(i.report.read[&Kind::Login], 2);
}

#[test]
fn firefox_csv() {
    let i = import(
        None,
        "\"url\",\"username\",\"password\",\"httpRealm\",\"formActionOrigin\",\"guid\",\"timeCreated\",\"timeLastUsed\",\"timePasswordChanged\"\n\
         \"https://accounts.example.com\",\"carol\",\"s3cret\",,\"https://accounts.example.com\",\"{5ec0a2f4-1111-2222-3333-444455556666}\",\"1700000000000\",\"1700000000000\",\"1700000000000\"\n\
         \"https://intranet.example.org\",\"dave\",\"pw\",\"Staff only\",,\"{6ec0a2f4-1111-2222-3333-444455556666}\",\"1700000000000\",,\n",
    );
    assert_eq!(i.format, Format::Firefox);
    let c = &i.records[0];
    assert_eq!(c.title, "accounts.example.com");
    assert_eq!(
        c.source_id.as_deref(),
        Some("firefox:{5ec0a2f4-1111-2222-3333-444455556666}")
    );
    assert_eq!(c.fields["formActionOrigin"], "https://accounts.example.com");
    assert_eq!(i.records[1].fields["httpRealm"], "Staff only");
    assert_eq!(
        i.report.notes,
        vec![
            dropped(
                "timeCreated",
                TIMES,
                2,
                &["accounts.example.com", "intranet.example.org"]
            ),
            dropped("timeLastUsed", TIMES, 1, &["accounts.example.com"]),
            dropped("timePasswordChanged", TIMES, 1, &["accounts.example.com"]),
            custom(
                "formActionOrigin",
                "formActionOrigin",
                1,
                &["accounts.example.com"]
            ),
            custom("httpRealm", "httpRealm", 1, &["intranet.example.org"]),
        ]
    );
}

#[test]
fn safari_csv() {
    let i = import(
        None,
        "Title,URL,Username,Password,Notes,OTPAuth\n\
         Bank,https://bank.example.com,erin,pw,call first,otpauth://totp/Bank:erin?secret=JBSWY3DPEHPK3PXP&issuer=Bank\n",
    );
    assert_eq!(i.format, Format::Safari);
    let r = &i.records[0];
    assert!(r.fields["totp"].starts_with("otpauth://totp/"));
    assert_eq!(r.fields["notes"], "call first");
    assert!(i.report.notes.is_empty());
}

#[test]
fn lastpass_csv() {
    let i = import(
        None,
        "url,username,password,totp,extra,name,grouping,fav\n\
         https://mail.example.com,frank,pw1,JBSWY3DPEHPK3PXP,remember me,Mail,Work\\Email,1\n\
         http://sn,,,,door code 4711,Door,Home,0\n\
         http://sn,,,,\"NoteType:Credit Card\nLanguage:en-US\nName on Card:Frank Example\nType:Visa\nNumber:4111111111111111\nSecurity Code:123\nStart Date:,\nExpiration Date:March,2029\nNotes:backup card\nsecond line\",Visa,,0\n\
         http://sn,,,,\"NoteType:Wi-Fi Password\nSSID:home-net\nPassword:wifipw\nNotes:\",Wi-Fi,,0\n",
    );
    assert_eq!(i.format, Format::Lastpass);
    let [mail, door, card, wifi] = &i.records[..] else {
        panic!("four records")
    };
    assert_eq!(mail.folder.as_deref(), Some("Work/Email"));
    assert!(mail.favorite);
    assert_eq!(mail.fields["totp"], "JBSWY3DPEHPK3PXP");
    assert_eq!(mail.fields["notes"], "remember me");
    assert_eq!(
        (door.kind(), door.fields["notes"].as_str()),
        (Kind::Note, "door code 4711")
    );
    assert_eq!(door.folder.as_deref(), Some("Home"));
    assert_eq!(card.kind(), Kind::Card);
    assert_eq!(card.fields["cardholder"], "Frank Example");
    assert_eq!(card.fields["number"], "4111111111111111");
    assert_eq!(card.fields["cvv"], "123");
    assert_eq!(card.fields["expiry"], "03/2029");
    assert_eq!(card.fields["notes"], "backup card\nsecond line");
    assert_eq!(card.fields["Type"], "Visa");
    assert_eq!(wifi.kind(), Kind::Note);
    assert_eq!(wifi.fields["SSID"], "home-net");
    assert_eq!(wifi.fields["Password"], "wifipw");
    assert_eq!(wifi.fields["note type"], "Wi-Fi Password");
    assert_eq!(
        i.report.notes,
        vec![
            dropped(
                "Language",
                "the language of LastPass's form for the note",
                1,
                &["Visa"]
            ),
            custom("Type", "Type", 1, &["Visa"]),
            custom("SSID", "SSID", 1, &["Wi-Fi"]),
            custom("Password", "Password", 1, &["Wi-Fi"]),
            custom("NoteType", "note type", 1, &["Wi-Fi"]),
        ]
    );
    assert_eq!(i.report.read[&Kind::Note], 2);
}

#[test]
fn keepassxc_csv() {
    let i = import(
        None,
        "\"Group\",\"Title\",\"Username\",\"Password\",\"URL\",\"Notes\",\"TOTP\",\"Icon\",\"Last Modified\",\"Created\"\n\
         \"Root/Internet/Shops\",\"Shop\",\"gina\",\"pw\",\"https://shop.example.com\",\"n\",\"otpauth://totp/x?secret=JBSWY3DPEHPK3PXP\",\"0\",\"2026-01-01T00:00:00Z\",\"2025-01-01T00:00:00Z\"\n\
         \"Root\",\"Top\",\"\",\"\",\"\",\"\",\"\",\"0\",\"\",\"\"\n",
    );
    assert_eq!(i.format, Format::KeepassxcCsv);
    assert_eq!(i.records[0].folder.as_deref(), Some("Internet/Shops"));
    assert_eq!(i.records[1].folder, None);
    assert_eq!(
        i.report.notes,
        vec![
            dropped("icon", "KRYPT7 items have no icons", 2, &["Shop", "Top"]),
            dropped("last modified", TIMES, 1, &["Shop"]),
            dropped("created", TIMES, 1, &["Shop"]),
        ]
    );
}

#[test]
fn nordpass_csv() {
    let i = import(
        None,
        "name,url,additional_urls,username,password,note,cardholdername,cardnumber,cvc,pin,expirydate,zipcode,folder,full_name,phone_number,email,address1,address2,city,country,state,type,custom_fields\n\
         Forum,https://forum.example.com,\"[\"\"https://m.forum.example.com\"\"]\",hank,pw,,,,,,,,Social,,,,,,,,,password,\n\
         ,,,,,,,,,,,,Social,,,,,,,,,folder,\n\
         Debit,,,,,,Hank Example,5500000000000004,321,9876,07/28,,,,,,,,,,,credit_card,\n\
         Me,,,,,,,,,,,10115,,Hank Example,+49 30 123,hank@example.com,Street 1,,Berlin,DE,,identity,\n",
    );
    assert_eq!(i.format, Format::Nordpass);
    assert_eq!(i.records.len(), 3, "the folder row makes no item");
    let [forum, card, me] = &i.records[..] else {
        panic!()
    };
    assert_eq!(
        forum.fields["url"],
        "https://forum.example.com\nhttps://m.forum.example.com"
    );
    assert_eq!(forum.folder.as_deref(), Some("Social"));
    assert_eq!(card.fields["number"], "5500000000000004");
    assert_eq!(card.fields["expiry"], "07/28");
    assert_eq!(card.fields["pin"], "9876");
    assert_eq!(me.kind(), Kind::Identity);
    assert_eq!(me.fields["address"], "Street 1\n10115\nBerlin\nDE");
    assert!(i.report.notes.is_empty());
}

#[test]
fn dashlane_csv_set() {
    let creds = import(
        None,
        "username,username2,username3,title,password,note,url,category,otpSecret\n\
         ivy,ivy.alt,,Cloud,pw,,https://cloud.example.com,Work,JBSWY3DPEHPK3PXP\n",
    );
    assert_eq!(creds.format, Format::Dashlane);
    let r = &creds.records[0];
    assert_eq!(r.fields["totp"], "JBSWY3DPEHPK3PXP");
    assert_eq!(r.folder.as_deref(), Some("Work"));
    assert_eq!(r.fields["username2"], "ivy.alt");
    assert_eq!(
        creds.report.notes,
        vec![custom("username2", "username2", 1, &["Cloud"])]
    );

    let notes = import(None, "title,note\nRecipe,two eggs\n");
    assert_eq!(notes.format, Format::Dashlane);
    assert_eq!(notes.records[0].kind(), Kind::Note);

    let cards = import(
        None,
        "type,account_name,account_holder,cc_number,code,expiration_month,expiration_year,routing_number,account_number,country,issuing_bank\n\
         payment_card,Travel card,Ivy Example,4111111111111111,999,4,2030,,,FR,Bank\n",
    );
    let c = &cards.records[0];
    assert_eq!((c.kind(), c.title.as_str()), (Kind::Card, "Travel card"));
    assert_eq!(c.fields["expiry"], "04/2030");
    assert_eq!(c.fields["cvv"], "999");
    assert_eq!(c.fields["issuing_bank"], "Bank");
}

#[test]
fn generic_csv_with_a_mapping() {
    let text = "Service,Login,Secret,Site,Where,Extra\nVPN,joe,pw,https://vpn.example.com,Work,x\n";
    assert_eq!(
        krypt7_import::detect(text.as_bytes()),
        None,
        "no title or password column"
    );
    let mut o = Options::default();
    for (k, v) in [
        ("title", "Service"),
        ("username", "Login"),
        ("password", "Secret"),
        ("url", "Site"),
        ("folder", "Where"),
    ] {
        o.map.insert(k.into(), v.into());
    }
    let i = read(text.as_bytes(), Some(Format::Csv), &o).unwrap();
    let r = &i.records[0];
    assert_eq!(r.title, "VPN");
    assert_eq!(r.fields["password"], "pw");
    assert_eq!(r.folder.as_deref(), Some("Work"));
    assert_eq!(i.report.notes, vec![custom("Extra", "Extra", 1, &["VPN"])]);

    o.map.insert("notes".into(), "Nope".into());
    let err = read(text.as_bytes(), Some(Format::Csv), &o).unwrap_err();
    assert!(err.to_string().contains("no column \"Nope\""), "{err}");

    // Without a mapping, the usual names are taken.
    let i = import(
        None,
        "Title,Password,Username,Website,Tags\nA,p,u,https://a.example,\"x, y\"\n",
    );
    assert_eq!(i.format, Format::Csv);
    assert_eq!(i.records[0].fields["url"], "https://a.example");
    assert_eq!(i.records[0].tags, ["x", "y"]);
}

#[test]
fn awkward_csv_files() {
    // A byte-order mark, Windows line ends, a 1 MB cell, and a row longer than the header.
    let big = "x".repeat(1 << 20);
    let text = format!(
        "\u{feff}name,url,username,password\r\nBig,https://a.example,u,{big}\r\nLong,https://b.example,u,p,extra cell\r\n"
    );
    let i = import(None, &text);
    assert_eq!(i.format, Format::Chrome);
    assert_eq!(i.records[0].fields["password"].len(), 1 << 20);
    assert_eq!(i.records[1].fields["column 5"], "extra cell");

    // Windows-1252 bytes: read, and said so.
    let latin = b"name,url,username,password\nCaf\xe9,https://c.example,Ren\xe9e,pw\n";
    let i = read(latin, None, &Options::default()).unwrap();
    assert_eq!(i.records[0].title, "Café");
    assert_eq!(i.records[0].fields["username"], "Renée");
    assert!(i.report.remarks[0].contains("Windows-1252"));

    // 100,000 rows.
    let mut many = String::from("name,url,username,password\n");
    for n in 0..100_000 {
        many.push_str(&format!("site {n},https://s{n}.example,user{n},pw{n}\n"));
    }
    let i = import(None, &many);
    assert_eq!(i.report.read[&Kind::Login], 100_000);
    assert_eq!(i.records[99_999].fields["username"], "user99999");

    // Not a known format, or empty.
    assert_eq!(
        read(b"hello\nworld\n", None, &Options::default()).unwrap_err(),
        ImportError::Unknown
    );
    assert!(matches!(
        read(b"", Some(Format::Chrome), &Options::default()),
        Err(ImportError::Malformed(_))
    ));
}

const BITWARDEN: &str = r#"{
  "encrypted": false,
  "folders": [{"id": "f1", "name": "Finance"}],
  "items": [
    {"id": "0c6f1b7e-0000-4000-8000-000000000001", "organizationId": null, "folderId": "f1", "type": 1, "reprompt": 1,
     "name": "Bank", "notes": "branch 12", "favorite": true,
     "fields": [
       {"name": "customer no", "value": "778899", "type": 0, "linkedId": null},
       {"name": "api token", "value": "tok-123", "type": 1, "linkedId": null},
       {"name": "business", "value": "true", "type": 2, "linkedId": null},
       {"name": "login alias", "value": null, "type": 3, "linkedId": 100}
     ],
     "login": {"uris": [{"match": null, "uri": "https://bank.example.com"}, {"match": 3, "uri": "https://m.bank.example.com"}],
               "username": "kim", "password": "now-pw", "totp": "otpauth://totp/Bank?secret=JBSWY3DPEHPK3PXP",
               "fido2Credentials": [{"credentialId": "abc", "keyType": "public-key", "keyAlgorithm": "ECDSA", "keyCurve": "P-256", "keyValue": "MIGHAgEAMBMG", "rpId": "bank.example.com", "userName": "kim", "counter": "0", "discoverable": "true", "creationDate": "2026-01-01T00:00:00Z"}]},
     "passwordHistory": [{"lastUsedDate": "2026-02-01T00:00:00Z", "password": "second-pw"}, {"lastUsedDate": "2025-02-01T00:00:00Z", "password": "first-pw"}],
     "revisionDate": "2026-03-01T00:00:00Z", "creationDate": "2025-01-01T00:00:00Z", "deletedDate": null},
    {"id": "0c6f1b7e-0000-4000-8000-000000000002", "type": 2, "name": "Safe combination", "notes": "12-34-56", "favorite": false,
     "secureNote": {"type": 0}, "deletedDate": "2026-04-01T00:00:00Z"},
    {"id": "0c6f1b7e-0000-4000-8000-000000000003", "type": 3, "name": "Visa", "notes": null, "favorite": false,
     "card": {"cardholderName": "Kim Example", "brand": "Visa", "number": "4111111111111111", "expMonth": "7", "expYear": "2031", "code": "456"}},
    {"id": "0c6f1b7e-0000-4000-8000-000000000004", "type": 4, "name": "Passport", "favorite": false,
     "identity": {"title": "Dr", "firstName": "Kim", "middleName": null, "lastName": "Example", "address1": "1 Main St", "address2": null, "address3": null,
                  "city": "Springfield", "state": "IL", "postalCode": "62701", "country": "US", "company": "Acme", "email": "kim@example.com",
                  "phone": "+1 555 0100", "ssn": "078-05-1120", "username": "kimx", "passportNumber": "X1234567", "licenseNumber": "D123"}},
    {"id": "0c6f1b7e-0000-4000-8000-000000000005", "type": 5, "name": "Server key", "favorite": false,
     "sshKey": {"privateKey": "-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----", "publicKey": "ssh-ed25519 AAAA kim", "keyFingerprint": "SHA256:abc"}}
  ]
}"#;

fn check_bitwarden(i: &krypt7_import::Import) {
    assert_eq!(i.format, Format::Bitwarden);
    let [bank, note, card, id, ssh] = &i.records[..] else {
        panic!("five records")
    };
    assert_eq!(
        bank.source_id.as_deref(),
        Some("bitwarden:0c6f1b7e-0000-4000-8000-000000000001")
    );
    assert_eq!(bank.folder.as_deref(), Some("Finance"));
    assert!(bank.favorite);
    assert_eq!(
        bank.fields["url"],
        "https://bank.example.com\nhttps://m.bank.example.com"
    );
    assert_eq!(bank.fields["customer no"], "778899");
    assert_eq!(bank.fields["api token"], "tok-123");
    assert_eq!(bank.hidden, ["passkey", "api token"]);
    assert_eq!(bank.fields["business"], "true");
    assert!(bank.fields["passkey"].contains("\"rpId\":\"bank.example.com\""));
    let olds: Vec<&str> = bank
        .history
        .iter()
        .map(|h| h.fields["password"].as_str())
        .collect();
    assert_eq!(olds, ["first-pw", "second-pw"]);
    assert_eq!(bank.fields["password"], "now-pw");
    assert!(note.trashed && note.kind() == Kind::Note);
    assert_eq!(card.fields["expiry"], "07/2031");
    assert_eq!(card.fields["brand"], "Visa");
    assert_eq!(id.fields["name"], "Dr Kim Example");
    assert_eq!(id.fields["address"], "1 Main St\n62701 Springfield\nIL\nUS");
    assert_eq!(id.fields["document_number"], "X1234567");
    assert_eq!(id.fields["ssn"], "078-05-1120");
    assert_eq!(id.hidden, ["ssn"]);
    assert!(ssh.fields["private_key"].starts_with("-----BEGIN OPENSSH"));
    assert_eq!(ssh.fields["public_key"], "ssh-ed25519 AAAA kim");
    assert_eq!(
        i.report.notes,
        vec![
            dropped(
                "reprompt",
                "KRYPT7 has no per-item password prompt: the whole vault locks",
                1,
                &["Bank"]
            ),
            dropped(
                "uri match",
                "KRYPT7 matches a site by its address, with no per-address rule",
                1,
                &["Bank"]
            ),
            custom("fido2Credentials", "passkey", 1, &["Bank"]),
            custom("customer no", "customer no", 1, &["Bank"]),
            custom("api token", "api token", 1, &["Bank"]),
            custom("business", "business", 1, &["Bank"]),
            dropped(
                "login alias",
                "a linked field: KRYPT7 has no links; the item's username is there",
                1,
                &["Bank"]
            ),
            custom("brand", "brand", 1, &["Visa"]),
            custom("company", "company", 1, &["Passport"]),
            custom("ssn", "ssn", 1, &["Passport"]),
            custom("licenseNumber", "license_number", 1, &["Passport"]),
            custom("username", "username", 1, &["Passport"]),
            custom("public_key", "public_key", 1, &["Server key"]),
            custom("fingerprint", "fingerprint", 1, &["Server key"]),
            custom("sshKey", "private_key", 1, &["Server key"]),
        ]
    );
    assert_eq!(i.report.read[&Kind::Note], 2);
}

#[test]
fn bitwarden_json() {
    check_bitwarden(&import(None, BITWARDEN));
}

#[test]
fn bitwarden_password_protected_json() {
    use krypt7_import::bitwarden::write::encrypted;
    for (file, what) in [
        (encrypted(BITWARDEN, "export pw", 5000, None, 7), "PBKDF2"),
        (
            encrypted(BITWARDEN, "export pw", 3, Some((16, 2)), 9),
            "Argon2id",
        ),
    ] {
        assert_eq!(
            krypt7_import::detect(file.as_bytes()),
            Some(Format::Bitwarden),
            "{what}"
        );
        let none = read(file.as_bytes(), None, &Options::default()).unwrap_err();
        assert_eq!(none, ImportError::NeedsPassword, "{what}");
        let mut o = Options {
            password: Some("wrong pw".to_string().into()),
            ..Options::default()
        };
        assert_eq!(
            read(file.as_bytes(), None, &o).unwrap_err(),
            ImportError::WrongPassword,
            "{what}"
        );
        o.password = Some("export pw".to_string().into());
        check_bitwarden(&read(file.as_bytes(), None, &o).unwrap());
        // One bit flipped in the data: refused as damaged, not as a wrong password.
        let mut v: serde_json::Value = serde_json::from_str(&file).unwrap();
        let data = v["data"].as_str().unwrap().to_string();
        let flipped = data.replacen("2.", "2.A", 1).replacen("2.AA", "2.AB", 1);
        v["data"] = flipped.into();
        let err = read(v.to_string().as_bytes(), None, &o).unwrap_err();
        assert!(matches!(err, ImportError::Malformed(_)), "{what}: {err:?}");
    }
    // An export under the Bitwarden account's own key cannot be opened anywhere else.
    let err = import_err(
        r#"{"encrypted": true, "encKeyValidation_DO_NOT_EDIT": "2.a|b|c", "data": "2.a|b|c", "items": []}"#,
    );
    assert!(err.contains("Password protected"), "{err}");
}

fn import_err(text: &str) -> String {
    read(text.as_bytes(), None, &Options::default())
        .unwrap_err()
        .to_string()
}
