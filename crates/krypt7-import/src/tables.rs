//! CSV exports: browsers (Chrome/Edge, Firefox, Safari), LastPass, KeePassXC, NordPass,
//! Dashlane's CSV set, and any CSV with a column mapping.
//!
//! Every column is accounted for: mapped to a KRYPT7 field, kept as a custom field under
//! its header, or named in the report as not carried with the reason.

use std::collections::BTreeMap;

use crate::{Format, ImportError, Kind, Options, Record, Report, Result, text};

/// The header rows that name a format (lower-cased; a file may add columns).
const SIGNATURES: &[(Format, &[&str])] = &[
    (
        Format::Firefox,
        &[
            "url",
            "username",
            "password",
            "httprealm",
            "formactionorigin",
        ],
    ),
    (
        Format::Lastpass,
        &["url", "username", "password", "extra", "name", "grouping"],
    ),
    (
        Format::Nordpass,
        &["name", "url", "username", "password", "cardnumber", "type"],
    ),
    (
        Format::Dashlane,
        &[
            "username",
            "username2",
            "title",
            "password",
            "url",
            "category",
        ],
    ),
    (
        Format::KeepassxcCsv,
        &["group", "title", "username", "password", "url", "notes"],
    ),
    (
        Format::Safari,
        &["title", "url", "username", "password", "otpauth"],
    ),
    (Format::Chrome, &["name", "url", "username", "password"]),
];

/// Why a column's value is not carried over, by column (lower-cased header).
const TIMES: &str = "KRYPT7 records its own creation and change times";
const ICON: &str = "KRYPT7 items have no icons";

/// The format a CSV's header row names, if any (or the generic CSV when it has a title or
/// name column and a password column).
pub fn detect(bytes: &[u8]) -> Option<Format> {
    let (text, _) = text::decode(bytes);
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = rdr
        .headers()
        .ok()?
        .iter()
        .map(|h| h.trim().to_ascii_lowercase())
        .collect();
    let has = |h: &str| headers.iter().any(|x| x == h);
    if let Some((f, _)) = SIGNATURES
        .iter()
        .find(|(_, sig)| sig.iter().all(|h| has(h)))
    {
        return Some(*f);
    }
    // The other files of Dashlane's CSV set.
    if has("cc_number") || (has("title") && has("note") && headers.len() <= 3) {
        return Some(Format::Dashlane);
    }
    ((has("title") || has("name")) && has("password")).then_some(Format::Csv)
}

/// A row of the file, with its columns looked up by header (case-insensitive) and marked as
/// used, so the ones left over can be kept.
struct Row<'a> {
    headers: &'a [String],
    values: csv::StringRecord,
    used: Vec<bool>,
}

impl Row<'_> {
    fn take(&mut self, name: &str) -> String {
        if name.is_empty() {
            return String::new();
        }
        match self
            .headers
            .iter()
            .position(|h| h.trim().eq_ignore_ascii_case(name))
        {
            Some(i) => {
                self.used[i] = true;
                self.values.get(i).unwrap_or("").to_string()
            }
            None => String::new(),
        }
    }

    /// Marks a column as not carried (noted if it has a value).
    fn not_carried(&mut self, name: &str, why: &str, r: &Record, report: &mut Report) {
        let v = self.take(name);
        if !v.trim().is_empty() {
            report.drop_field(name, why, &r.title);
        }
    }

    /// Keeps every column not used yet as a custom field.
    fn keep_rest(&mut self, r: &mut Record, report: &mut Report) {
        for (i, h) in self.headers.iter().enumerate() {
            if !self.used[i] {
                self.used[i] = true;
                r.keep(report, h.trim(), self.values.get(i).unwrap_or(""));
            }
        }
        // Cells beyond the header row (a row longer than the header).
        for (i, v) in self.values.iter().enumerate().skip(self.headers.len()) {
            r.keep(report, &format!("column {}", i + 1), v);
        }
    }
}

pub fn read(
    format: Format,
    bytes: &[u8],
    options: &Options,
    report: &mut Report,
) -> Result<Vec<Record>> {
    let (text, remark) = text::decode(bytes);
    report.remarks.extend(remark);
    let mut rdr = csv::ReaderBuilder::new()
        .flexible(true)
        .from_reader(text.as_bytes());
    let headers: Vec<String> = rdr
        .headers()
        .map_err(|e| ImportError::Malformed(format!("the CSV header row is not readable: {e}")))?
        .iter()
        .map(str::to_string)
        .collect();
    if headers.iter().all(|h| h.trim().is_empty()) {
        return Err(ImportError::Malformed(
            "the CSV file is empty (no header row)".into(),
        ));
    }
    let lower: Vec<String> = headers.iter().map(|h| h.trim().to_lowercase()).collect();
    let map = if format == Format::Csv {
        Some(mapping(&lower, &options.map)?)
    } else {
        None
    };
    let mut out = vec![];
    let mut rec = csv::StringRecord::new();
    loop {
        match rdr.read_record(&mut rec) {
            Ok(true) => {}
            Ok(false) => break,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                return Err(ImportError::Malformed(format!(
                    "line {line} of the CSV file is not readable: {}",
                    e.kind_name()
                )));
            }
        }
        if rec.iter().all(|v| v.trim().is_empty()) {
            continue;
        }
        let mut row = Row {
            headers: &headers,
            values: std::mem::take(&mut rec),
            used: vec![false; headers.len()],
        };
        let r = match format {
            Format::Chrome => chrome(&mut row, report),
            Format::Firefox => firefox(&mut row, report),
            Format::Safari => safari(&mut row, report),
            Format::Lastpass => lastpass(&mut row, report),
            Format::KeepassxcCsv => keepassxc(&mut row, report),
            Format::Nordpass => match nordpass(&mut row, report) {
                Some(r) => r,
                None => continue,
            },
            Format::Dashlane => dashlane(&lower, &mut row, report),
            Format::Csv => generic(map.as_ref().expect("set for csv"), &mut row, report),
            Format::Bitwarden | Format::Krypt7 => unreachable!("not a CSV format"),
        };
        out.push(r);
    }
    Ok(out)
}

trait ErrorKind {
    fn kind_name(&self) -> String;
}

impl ErrorKind for csv::Error {
    fn kind_name(&self) -> String {
        match self.kind() {
            csv::ErrorKind::Utf8 { .. } => "invalid UTF-8".into(),
            csv::ErrorKind::UnequalLengths { .. } => "wrong number of columns".into(),
            _ => self.to_string(),
        }
    }
}

/// The host of a web address, for an item with no title of its own.
fn host(url: &str) -> Option<String> {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let host = rest.split(['/', '?', '#']).next()?;
    let host = host.rsplit('@').next()?.split(':').next()?;
    (!host.is_empty()).then(|| host.trim_start_matches("www.").to_string())
}

/// A title for a login: its own, else the site's host, else the username.
fn titled(r: &mut Record, title: &str) {
    r.title = title.trim().to_string();
    if r.title.is_empty() {
        let url = r.fields.get("url").and_then(|u| u.lines().next());
        r.title = url
            .and_then(host)
            .or_else(|| r.fields.get("username").cloned())
            .unwrap_or_else(|| "(untitled)".into());
    }
}

fn login(row: &mut Row, title: &str, user: &str, pass: &str, url: &str) -> Record {
    let mut r = Record::new(Kind::Login, "");
    r.set("username", &row.take(user));
    r.set("password", &row.take(pass));
    r.push_line("url", &row.take(url));
    titled(&mut r, &row.take(title));
    r
}

fn chrome(row: &mut Row, report: &mut Report) -> Record {
    let mut r = login(row, "name", "username", "password", "url");
    r.set("notes", &row.take("note"));
    row.keep_rest(&mut r, report);
    r
}

fn firefox(row: &mut Row, report: &mut Report) -> Record {
    let mut r = login(row, "", "username", "password", "url");
    let guid = row.take("guid");
    if !guid.trim().is_empty() {
        r.source_id = Some(format!("firefox:{}", guid.trim()));
    }
    for t in ["timeCreated", "timeLastUsed", "timePasswordChanged"] {
        row.not_carried(t, TIMES, &r, report);
    }
    row.keep_rest(&mut r, report);
    r
}

fn safari(row: &mut Row, report: &mut Report) -> Record {
    let mut r = login(row, "title", "username", "password", "url");
    r.set("notes", &row.take("notes"));
    r.set("totp", &row.take("otpauth"));
    row.keep_rest(&mut r, report);
    r
}

fn keepassxc(row: &mut Row, report: &mut Report) -> Record {
    let mut r = login(row, "title", "username", "password", "url");
    r.set("notes", &row.take("notes"));
    r.set("totp", &row.take("totp"));
    r.folder = folder_path(&row.take("group"), '/', true);
    row.not_carried("icon", ICON, &r, report);
    for t in ["last modified", "created"] {
        row.not_carried(t, TIMES, &r, report);
    }
    row.keep_rest(&mut r, report);
    r
}

/// A folder from a group path: separators become `/`, and KeePass's root group (the
/// database's name, first in every path) is dropped.
fn folder_path(path: &str, sep: char, drop_root: bool) -> Option<String> {
    let mut parts: Vec<&str> = path
        .split(sep)
        .map(str::trim)
        .filter(|p| !p.is_empty())
        .collect();
    if drop_root && !parts.is_empty() {
        parts.remove(0);
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

fn lastpass(row: &mut Row, report: &mut Report) -> Record {
    let url = row.take("url");
    let extra = row.take("extra");
    let name = row.take("name");
    let mut r = if url.trim() == "http://sn" {
        secure_note(&name, &extra, report)
    } else {
        let mut r = Record::new(Kind::Login, "");
        r.push_line("url", &url);
        r.set("username", &row.take("username"));
        r.set("password", &row.take("password"));
        r.set("totp", &row.take("totp"));
        r.set("notes", &extra);
        titled(&mut r, &name);
        r
    };
    // A secure note's username/password/totp columns are empty; if not, they are kept.
    r.folder = folder_path(&row.take("grouping"), '\\', false);
    r.favorite = row.take("fav").trim() == "1";
    row.keep_rest(&mut r, report);
    r
}

/// A LastPass secure note: plain text, or `NoteType:` and `Key:Value` lines for its typed
/// notes (cards, addresses, …), whose keys become fields.
fn secure_note(name: &str, extra: &str, report: &mut Report) -> Record {
    let Some(kind) = extra
        .lines()
        .next()
        .and_then(|l| l.strip_prefix("NoteType:"))
    else {
        let mut r = Record::new(Kind::Note, name);
        r.set("notes", extra);
        return r;
    };
    let kind = kind.trim();
    let mut r = Record::new(
        match kind {
            "Credit Card" => Kind::Card,
            "Address" => Kind::Identity,
            _ => Kind::Note,
        },
        name,
    );
    let mut lines = extra.lines().skip(1).peekable();
    while let Some(line) = lines.next() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let (k, mut v) = (k.trim(), v.to_string());
        // An empty month-and-year (`Start Date:,`).
        if v.trim() == "," {
            continue;
        }
        // The last key, Notes, runs to the end of the text.
        if k == "Notes" {
            for l in lines.by_ref() {
                v.push('\n');
                v.push_str(l);
            }
        }
        let target = match (r.kind(), k) {
            (_, "Notes") => Some("notes"),
            (Kind::Card, "Name on Card") => Some("cardholder"),
            (Kind::Card, "Number") => Some("number"),
            (Kind::Card, "Security Code") => Some("cvv"),
            (Kind::Identity, "Email Address") => Some("email"),
            (Kind::Identity, "Phone") => Some("phone"),
            _ => None,
        };
        match (target, k) {
            (Some(t), _) => r.set(t, &v),
            (None, "Expiration Date") if r.kind() == Kind::Card => match month_year(&v) {
                Some(e) => r.set("expiry", &e),
                None => {
                    r.keep(report, k, &v);
                }
            },
            (None, "Language") => {
                report.drop_field(k, "the language of LastPass's form for the note", &r.title)
            }
            _ => {
                r.keep(report, k, &v);
            }
        }
    }
    if kind != "Credit Card" && kind != "Address" {
        report.note(
            "NoteType",
            crate::Outcome::Custom {
                name: "note type".into(),
            },
            name,
        );
        r.set("note type", kind);
    }
    r
}

/// `January,2027` (LastPass) as `01/2027`.
fn month_year(v: &str) -> Option<String> {
    const MONTHS: [&str; 12] = [
        "january",
        "february",
        "march",
        "april",
        "may",
        "june",
        "july",
        "august",
        "september",
        "october",
        "november",
        "december",
    ];
    let (m, y) = v.split_once(',')?;
    let m = MONTHS
        .iter()
        .position(|x| x.eq_ignore_ascii_case(m.trim()))?
        + 1;
    let y = y.trim();
    (y.len() == 4 && y.chars().all(|c| c.is_ascii_digit())).then(|| format!("{m:02}/{y}"))
}

/// A NordPass row; `None` for a row that only names a folder (folders come from the items'
/// `folder` column).
fn nordpass(row: &mut Row, report: &mut Report) -> Option<Record> {
    let kind = row.take("type");
    let mut r = match kind.trim() {
        "folder" => return None,
        "note" => Record::new(Kind::Note, ""),
        "credit_card" => {
            let mut r = Record::new(Kind::Card, "");
            r.set("cardholder", &row.take("cardholdername"));
            r.set("number", &row.take("cardnumber"));
            r.set("cvv", &row.take("cvc"));
            r.set("pin", &row.take("pin"));
            r.set("expiry", &row.take("expirydate"));
            r
        }
        "identity" => {
            let mut r = Record::new(Kind::Identity, "");
            r.set("name", &row.take("full_name"));
            r.set("email", &row.take("email"));
            r.set("phone", &row.take("phone_number"));
            let address: Vec<String> = [
                "address1", "address2", "zipcode", "city", "state", "country",
            ]
            .iter()
            .map(|c| row.take(c))
            .filter(|v| !v.trim().is_empty())
            .collect();
            r.set("address", &address.join("\n"));
            r
        }
        _ => Record::new(Kind::Login, ""),
    };
    r.set("username", &row.take("username"));
    r.set("password", &row.take("password"));
    r.push_line("url", &row.take("url"));
    let more = row.take("additional_urls");
    match serde_json::from_str::<Vec<String>>(&more) {
        Ok(urls) => urls.iter().for_each(|u| r.push_line("url", u)),
        Err(_) => more.lines().for_each(|u| r.push_line("url", u)),
    }
    r.set("notes", &row.take("note"));
    r.folder = folder_path(&row.take("folder"), '/', false);
    let name = row.take("name");
    titled(&mut r, &name);
    row.keep_rest(&mut r, report);
    Some(r)
}

/// Dashlane's CSV set, told apart by header: `credentials.csv`, `securenotes.csv`,
/// `payments.csv`; any other file of the set (ids, personal info) becomes identities with
/// every column kept.
fn dashlane(lower: &[String], row: &mut Row, report: &mut Report) -> Record {
    let has = |h: &str| lower.iter().any(|x| x == h);
    let mut r = if has("password") && has("url") {
        let mut r = login(row, "title", "username", "password", "url");
        r.set("notes", &row.take("note"));
        let otp = row.take("otpurl");
        r.set("totp", &otp);
        if otp.trim().is_empty() {
            r.set("totp", &row.take("otpsecret"));
        }
        r.folder = folder_path(&row.take("category"), '/', false);
        r
    } else if has("cc_number") {
        let mut r = Record::new(Kind::Card, "");
        r.set("cardholder", &row.take("account_holder"));
        r.set("number", &row.take("cc_number"));
        r.set("cvv", &row.take("code"));
        let (m, y) = (row.take("expiration_month"), row.take("expiration_year"));
        if let (Ok(m), Ok(y)) = (m.trim().parse::<u8>(), y.trim().parse::<u16>()) {
            r.set("expiry", &format!("{m:02}/{y}"));
        } else {
            r.keep(report, "expiration_month", &m);
            r.keep(report, "expiration_year", &y);
        }
        let title = row.take("account_name");
        r.title = if title.trim().is_empty() {
            "Card".into()
        } else {
            title.trim().into()
        };
        r
    } else if has("note") && has("title") {
        let mut r = Record::new(Kind::Note, row.take("title").trim());
        r.set("notes", &row.take("note"));
        r
    } else {
        let mut r = Record::new(Kind::Identity, "");
        let title = row.take("item_name");
        r.title = if title.trim().is_empty() {
            "Identity".into()
        } else {
            title.trim().into()
        };
        r
    };
    row.keep_rest(&mut r, report);
    r
}

/// The generic CSV's mapping: KRYPT7 field → column index. Named by `--map`; by default,
/// the usual header names.
fn mapping(lower: &[String], given: &BTreeMap<String, String>) -> Result<BTreeMap<String, usize>> {
    const DEFAULTS: &[(&str, &[&str])] = &[
        ("title", &["title", "name"]),
        ("username", &["username", "login", "user", "email"]),
        ("password", &["password", "pass"]),
        ("url", &["url", "website", "uri", "site"]),
        ("totp", &["totp", "otp", "otpauth"]),
        ("notes", &["notes", "note", "comments", "extra"]),
        ("folder", &["folder", "group", "category"]),
        ("tags", &["tags"]),
    ];
    let mut out = BTreeMap::new();
    if given.is_empty() {
        for (field, names) in DEFAULTS {
            if let Some(i) = lower.iter().position(|h| names.contains(&h.as_str())) {
                out.entry(field.to_string()).or_insert(i);
            }
        }
    }
    for (field, header) in given {
        let i = lower
            .iter()
            .position(|h| *h == header.trim().to_lowercase())
            .ok_or_else(|| {
                ImportError::Malformed(format!(
                    "--map {field}={header}: the file has no column {header:?} (its columns: {})",
                    lower.join(", ")
                ))
            })?;
        out.insert(field.clone(), i);
    }
    Ok(out)
}

fn generic(map: &BTreeMap<String, usize>, row: &mut Row, report: &mut Report) -> Record {
    let mut r = Record::new(Kind::Login, "");
    let mut title = String::new();
    for (field, &i) in map {
        row.used[i] = true;
        let v = row.values.get(i).unwrap_or("").to_string();
        match field.as_str() {
            "title" => title = v,
            "folder" => r.folder = folder_path(&v, '/', false),
            "tags" => {
                r.tags = v
                    .split([',', ';'])
                    .map(|t| t.trim().to_string())
                    .filter(|t| !t.is_empty())
                    .collect()
            }
            "favorite" => r.favorite = matches!(v.trim(), "1" | "true" | "yes" | "TRUE"),
            "url" => r.push_line("url", &v),
            f => r.set(f, &v),
        }
    }
    titled(&mut r, &title);
    row.keep_rest(&mut r, report);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hosts() {
        assert_eq!(
            host("https://www.example.com:8443/x?y").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            host("user@mail.example.org").as_deref(),
            Some("mail.example.org")
        );
        assert_eq!(host(""), None);
    }

    #[test]
    fn months() {
        assert_eq!(month_year("March,2027").as_deref(), Some("03/2027"));
        assert_eq!(month_year("Smarch,2027"), None);
    }
}
