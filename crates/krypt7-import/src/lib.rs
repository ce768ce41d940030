//! Other managers' export files read into KRYPT7 items, with a report of everything that
//! did not map one to one (`docs/import.md`). No keys and no I/O: a file's bytes go in,
//! [`Record`]s and a [`Report`] come out; the client seals and stores them.
//!
//! Nothing is dropped silently: a value with no KRYPT7 field of its own is kept as a custom
//! field under its source name, and what is not carried at all is named in the report with
//! the reason.
#![forbid(unsafe_code)]

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use zeroize::Zeroize;

pub mod bitwarden;
pub mod krypt7;
pub mod tables;
mod text;

/// The kinds of item an import can make (KRYPT7's own, by their names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Login,
    Note,
    Card,
    Identity,
    Contact,
}

/// One item read from a file. Field names are KRYPT7's (`username`, `password`, `url` with
/// one address per line, `totp`, `notes`, `number`, `cvv`, …) or the source's own for a
/// custom field. Its `Debug` shows no value; it is wiped when dropped.
#[derive(Clone, Default, PartialEq)]
pub struct Record {
    pub kind: Option<Kind>,
    pub title: String,
    pub fields: BTreeMap<String, String>,
    pub folder: Option<String>,
    pub tags: Vec<String>,
    pub favorite: bool,
    pub trashed: bool,
    /// The source's own id of the entry, prefixed by the format (`bitwarden:…`), when it has
    /// one: a second import of the same file matches on it.
    pub source_id: Option<String>,
    /// Custom fields the source hid (shown only when revealed in KRYPT7 too).
    pub hidden: Vec<String>,
    /// Earlier versions, oldest first.
    pub history: Vec<Record>,
}

impl Record {
    pub fn new(kind: Kind, title: &str) -> Record {
        Record {
            kind: Some(kind),
            title: title.into(),
            fields: BTreeMap::new(),
            folder: None,
            tags: vec![],
            favorite: false,
            trashed: false,
            source_id: None,
            hidden: vec![],
            history: vec![],
        }
    }

    pub fn kind(&self) -> Kind {
        self.kind.unwrap_or(Kind::Login)
    }

    /// Sets `name` to `value` unless the value is empty (after trimming).
    pub fn set(&mut self, name: &str, value: &str) {
        let v = value.trim_end_matches(['\r', '\n']);
        if !v.trim().is_empty() {
            self.fields.insert(name.into(), v.into());
        }
    }

    /// Adds a line to a list field (`url`, `emails`, …).
    pub fn push_line(&mut self, name: &str, value: &str) {
        let v = value.trim();
        if v.is_empty() {
            return;
        }
        match self.fields.get_mut(name) {
            Some(cur) if cur.lines().any(|l| l == v) => {}
            Some(cur) => {
                cur.push('\n');
                cur.push_str(v);
            }
            None => {
                self.fields.insert(name.into(), v.into());
            }
        }
    }

    /// Keeps a value the kind has no field for as a custom field named after its source,
    /// and notes it in the report. A name already taken gets a number. Returns the name.
    pub fn keep(&mut self, report: &mut Report, source: &str, value: &str) -> Option<String> {
        if value.trim().is_empty() {
            return None;
        }
        let mut name = source.trim().to_string();
        if name.is_empty() {
            name = "field".into();
        }
        let base = name.clone();
        let mut n = 2;
        while self.fields.contains_key(&name) {
            name = format!("{base} ({n})");
            n += 1;
        }
        self.fields.insert(name.clone(), value.into());
        report.note(source, Outcome::Custom { name: name.clone() }, &self.title);
        Some(name)
    }
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("kind", &self.kind)
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .field("history", &self.history.len())
            .finish_non_exhaustive()
    }
}

impl Drop for Record {
    fn drop(&mut self) {
        self.title.zeroize();
        for v in self.fields.values_mut() {
            v.zeroize();
        }
        self.folder.zeroize();
        self.tags.iter_mut().for_each(Zeroize::zeroize);
    }
}

/// What happened to a source field that has no KRYPT7 field of the same meaning.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Outcome {
    /// Kept as a custom field of this name.
    Custom { name: String },
    /// Not carried over, for this reason.
    NotCarried { why: String },
}

/// One line of the report: a source field, where it went, and on how many items (with the
/// first few items' titles, for the user to look at).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Note {
    pub field: String,
    #[serde(flatten)]
    pub outcome: Outcome,
    pub count: usize,
    pub items: Vec<String>,
}

/// What an import read, made and left out.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Report {
    /// The format read (its `--format` name).
    pub format: String,
    /// Items read from the file, per kind.
    pub read: BTreeMap<Kind, usize>,
    /// Items added to the vault, per kind (filled in by the client).
    pub imported: BTreeMap<Kind, usize>,
    /// Items already in the vault from an earlier import of the same data (not added again).
    pub duplicates: usize,
    /// Fields that did not map one to one, grouped by source field and outcome.
    pub notes: Vec<Note>,
    /// Remarks about the file as a whole (its encoding, rows skipped and why).
    pub remarks: Vec<String>,
}

/// How many item titles a note lists.
const EXAMPLES: usize = 3;

impl Report {
    pub fn new(format: Format) -> Report {
        Report {
            format: format.name().into(),
            ..Report::default()
        }
    }

    /// Records that `field` of the item titled `item` went to `outcome`.
    pub fn note(&mut self, field: &str, outcome: Outcome, item: &str) {
        let n = match self
            .notes
            .iter_mut()
            .find(|n| n.field == field && n.outcome == outcome)
        {
            Some(n) => n,
            None => {
                self.notes.push(Note {
                    field: field.into(),
                    outcome,
                    count: 0,
                    items: vec![],
                });
                self.notes.last_mut().expect("just pushed")
            }
        };
        n.count += 1;
        if n.items.len() < EXAMPLES && !n.items.iter().any(|i| i == item) {
            n.items.push(item.into());
        }
    }

    /// Records a value not carried over, and why.
    pub fn drop_field(&mut self, field: &str, why: &str, item: &str) {
        self.note(field, Outcome::NotCarried { why: why.into() }, item);
    }

    fn count(&mut self, records: &[Record]) {
        for r in records {
            *self.read.entry(r.kind()).or_default() += 1;
        }
    }
}

/// The formats read. Detected from the file when not named.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// KRYPT7's own export: JSON, or sealed under an export password.
    Krypt7,
    /// Bitwarden's JSON export, plain or password-protected.
    Bitwarden,
    /// Chrome's and Edge's password CSV.
    Chrome,
    Firefox,
    Safari,
    Lastpass,
    /// KeePassXC's CSV export.
    KeepassxcCsv,
    Nordpass,
    /// Dashlane's `credentials.csv` (the other files of its CSV set are read by name).
    Dashlane,
    /// Any CSV with a header row, mapped by `--map`.
    Csv,
}

impl Format {
    pub const ALL: [Format; 10] = [
        Format::Krypt7,
        Format::Bitwarden,
        Format::Chrome,
        Format::Firefox,
        Format::Safari,
        Format::Lastpass,
        Format::KeepassxcCsv,
        Format::Nordpass,
        Format::Dashlane,
        Format::Csv,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Format::Krypt7 => "krypt7",
            Format::Bitwarden => "bitwarden",
            Format::Chrome => "chrome",
            Format::Firefox => "firefox",
            Format::Safari => "safari",
            Format::Lastpass => "lastpass",
            Format::KeepassxcCsv => "keepassxc-csv",
            Format::Nordpass => "nordpass",
            Format::Dashlane => "dashlane",
            Format::Csv => "csv",
        }
    }

    pub fn parse(s: &str) -> Option<Format> {
        let s = s.to_ascii_lowercase();
        let s = match s.as_str() {
            "edge" => "chrome",
            "keepassxc" => "keepassxc-csv",
            s => s,
        };
        Format::ALL.into_iter().find(|f| f.name() == s)
    }

    /// Whether the format may be password-protected (the caller then passes one).
    pub fn may_need_password(self) -> bool {
        matches!(self, Format::Bitwarden | Format::Krypt7)
    }
}

/// What the caller tells an importer beyond the bytes.
#[derive(Default)]
pub struct Options {
    /// For a password-protected file.
    pub password: Option<zeroize::Zeroizing<String>>,
    /// For the generic CSV: KRYPT7 field → the file's column header.
    pub map: BTreeMap<String, String>,
}

/// A file read: its items and the report so far.
#[derive(Debug)]
pub struct Import {
    pub format: Format,
    pub records: Vec<Record>,
    pub report: Report,
}

#[derive(Debug, PartialEq, Eq)]
pub enum ImportError {
    /// The file is not in the format, or is damaged; the message says where.
    Malformed(String),
    /// The format could not be told from the content.
    Unknown,
    /// The file is password-protected and no password was given.
    NeedsPassword,
    /// The password does not open the file.
    WrongPassword,
}

impl std::fmt::Display for ImportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ImportError::Malformed(m) => write!(f, "{m}"),
            ImportError::Unknown => write!(
                f,
                "the file's format was not recognised: name it with --format ({})",
                Format::ALL.map(Format::name).join(", ")
            ),
            ImportError::NeedsPassword => write!(f, "this export is password-protected"),
            ImportError::WrongPassword => {
                write!(
                    f,
                    "the password does not open this export (nothing was read)"
                )
            }
        }
    }
}

impl std::error::Error for ImportError {}

pub type Result<T> = std::result::Result<T, ImportError>;

/// Reads `bytes` as `format`, or as the format its content shows.
pub fn read(bytes: &[u8], format: Option<Format>, options: &Options) -> Result<Import> {
    let format = match format {
        Some(f) => f,
        None => detect(bytes).ok_or(ImportError::Unknown)?,
    };
    let mut report = Report::new(format);
    let mut records: Vec<Record> = match format {
        Format::Krypt7 => krypt7::read(bytes, options, &mut report)?,
        Format::Bitwarden => bitwarden::read(bytes, options, &mut report)?,
        _ => tables::read(format, bytes, options, &mut report)?,
    };
    for r in &mut records {
        if r.title.trim().is_empty() {
            r.title = "(untitled)".into();
        }
    }
    report.count(&records);
    Ok(Import {
        format,
        records,
        report,
    })
}

/// Whether `bytes` is a password-protected export (the caller asks for its password first).
pub fn needs_password(bytes: &[u8]) -> bool {
    bitwarden::password_protected(bytes) || krypt7::sealed(bytes)
}

/// The format of `bytes`, told from its content: JSON by its keys, CSV by its header row.
pub fn detect(bytes: &[u8]) -> Option<Format> {
    if krypt7::looks_like(bytes) {
        return Some(Format::Krypt7);
    }
    let start = text::skip_bom(bytes);
    if start.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'{') {
        return bitwarden::looks_like(bytes).then_some(Format::Bitwarden);
    }
    tables::detect(bytes)
}
