//! Items as the user sees them, their sealed form, and the three-way merge used by sync.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

/// What kind of item (its number is bound into the envelope, `docs/crypto.md` §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemKind {
    Login,
    Note,
    Card,
    Identity,
    Contact,
    File,
    /// A message in the mailbox ([`crate::mail`]): never in a vault's item lists.
    Mail,
}

impl ItemKind {
    pub fn number(self) -> u16 {
        match self {
            ItemKind::Login => 1,
            ItemKind::Note => 2,
            ItemKind::Card => 3,
            ItemKind::Identity => 4,
            ItemKind::Contact => 5,
            ItemKind::File => 6,
            ItemKind::Mail => 7,
        }
    }

    pub fn from_number(n: u16) -> Option<Self> {
        Some(match n {
            1 => ItemKind::Login,
            2 => ItemKind::Note,
            3 => ItemKind::Card,
            4 => ItemKind::Identity,
            5 => ItemKind::Contact,
            6 => ItemKind::File,
            7 => ItemKind::Mail,
            _ => return None,
        })
    }

    pub fn parse(s: &str) -> Option<Self> {
        serde_json::from_value(Value::String(s.to_ascii_lowercase())).ok()
    }
}

/// A standard field of a kind: how apps show it, and whether it is a secret (hidden until
/// revealed, never indexed for search). Items may carry any other (custom) field too.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct FieldSpec {
    pub name: &'static str,
    pub label: &'static str,
    pub secret: bool,
    /// Shown as a text area.
    pub multiline: bool,
    /// Several values, one per line (e.g. a contact's emails).
    pub list: bool,
}

const fn field(name: &'static str, label: &'static str) -> FieldSpec {
    FieldSpec {
        name,
        label,
        secret: false,
        multiline: false,
        list: false,
    }
}
const fn secret(name: &'static str, label: &'static str) -> FieldSpec {
    FieldSpec {
        secret: true,
        ..field(name, label)
    }
}
const fn text(name: &'static str, label: &'static str) -> FieldSpec {
    FieldSpec {
        multiline: true,
        ..field(name, label)
    }
}
const fn list(name: &'static str, label: &'static str) -> FieldSpec {
    FieldSpec {
        list: true,
        ..field(name, label)
    }
}

const LOGIN: &[FieldSpec] = &[
    field("username", "Username"),
    secret("password", "Password"),
    list("url", "Websites"),
    secret("totp", "One-time code secret"),
    text("notes", "Notes"),
];
const NOTE: &[FieldSpec] = &[text("notes", "Notes")];
const CARD: &[FieldSpec] = &[
    field("cardholder", "Cardholder"),
    secret("number", "Number"),
    field("expiry", "Expiry (MM/YY)"),
    secret("cvv", "Security code"),
    secret("pin", "PIN"),
    text("notes", "Notes"),
];
const IDENTITY: &[FieldSpec] = &[
    field("name", "Full name"),
    field("birth_date", "Date of birth"),
    field("email", "Email"),
    field("phone", "Phone"),
    text("address", "Address"),
    secret("document_number", "Passport or ID number"),
    text("notes", "Notes"),
];
const CONTACT: &[FieldSpec] = &[
    field("name", "Name"),
    field("organization", "Organization"),
    list("emails", "Emails"),
    list("phones", "Phones"),
    FieldSpec {
        multiline: true,
        ..list("addresses", "Addresses")
    },
    text("notes", "Notes"),
];
const FILE: &[FieldSpec] = &[
    field("name", "File name"),
    field("media_type", "Type"),
    field("size", "Size"),
    field("sha256", "Fingerprint (SHA-256)"),
    text("notes", "Notes"),
];

const MAIL: &[FieldSpec] = &[
    field("from", "From"),
    list("to", "To"),
    list("cc", "Cc"),
    list("bcc", "Bcc"),
    field("date", "Date"),
    field("message_id", "Message-ID"),
    field("in_reply_to", "In-Reply-To"),
    list("references", "References"),
    field("status", "Status"),
    field("signature", "Signature"),
    field("reason", "Why quarantined"),
    field("sender_account", "Sender's account"),
    field("read", "Read"),
    text("raw", "Message (RFC 5322)"),
];

/// Names of custom fields treated as secrets whatever the kind.
const SECRET_NAMES: &[&str] = &[
    "password",
    "totp",
    "cvv",
    "pin",
    "number",
    "secret",
    "private_key",
    "recovery_codes",
];

impl ItemKind {
    pub const ALL: [ItemKind; 6] = [
        ItemKind::Login,
        ItemKind::Note,
        ItemKind::Card,
        ItemKind::Identity,
        ItemKind::Contact,
        ItemKind::File,
    ];

    /// The standard fields of this kind, in display order.
    pub fn fields(self) -> &'static [FieldSpec] {
        match self {
            ItemKind::Login => LOGIN,
            ItemKind::Note => NOTE,
            ItemKind::Card => CARD,
            ItemKind::Identity => IDENTITY,
            ItemKind::Contact => CONTACT,
            ItemKind::File => FILE,
            ItemKind::Mail => MAIL,
        }
    }

    pub fn field(self, name: &str) -> Option<&'static FieldSpec> {
        self.fields().iter().find(|f| f.name == name)
    }

    /// A field whose value is hidden until revealed and never indexed.
    pub fn is_secret(self, name: &str) -> bool {
        self.field(name).is_some_and(|f| f.secret)
            || SECRET_NAMES.contains(&name.to_lowercase().as_str())
    }
}

/// The plaintext of an item. Everything here travels only inside its envelope. Its `Debug`
/// shows the kind and the field names, never a value.
#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ItemData {
    pub kind: ItemKind,
    pub title: String,
    /// Named fields of the kind (`username`, `password`, `url`, `totp`, `notes`, `number`, …)
    /// and custom fields alike.
    #[serde(default)]
    pub fields: BTreeMap<String, String>,
    #[serde(default)]
    pub folder: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub favorite: bool,
    /// In the trash (restorable) rather than deleted.
    #[serde(default)]
    pub trashed: bool,
    /// For a conflict copy: the item it diverged from.
    #[serde(default)]
    pub conflict_of: Option<Uuid>,
    /// A tombstone: the item was deleted for good and holds nothing else. Sealed, so the
    /// server's `deleted` flag can be checked against it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub purged: bool,
    /// Encrypted files: a file item's content, or any item's attachments.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileRef>,
    /// Custom fields hidden until revealed, like a kind's secret fields (an imported
    /// protected field, say).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hidden: Vec<String>,
    /// Where an imported item came from (`bitwarden:<id>`, …): a second import of the same
    /// entry is recognised by it (`docs/import.md`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

/// A file stored as a server blob: everything needed to fetch, decrypt and check it travels
/// only inside the item's envelope (`docs/crypto.md` §5).
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRef {
    pub name: String,
    pub media_type: String,
    /// Plaintext bytes.
    pub size: u64,
    /// SHA-256 of the plaintext, hex: checked at every download.
    pub sha256: String,
    pub blob_id: Uuid,
    /// The file's own key (hex) and stream header (hex).
    pub key: String,
    pub header: String,
    /// The account whose upload this is, when not this account's: a mail attachment from
    /// another user (its stream is bound to the sender's account; the server keeps a copy
    /// under the same blob id for each recipient).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<uuid::Uuid>,
}

impl std::fmt::Debug for FileRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileRef")
            .field("size", &self.size)
            .field("blob_id", &self.blob_id)
            .finish_non_exhaustive()
    }
}

impl ItemData {
    /// A file item named `name` whose content is `file` (its fields mirror the file's
    /// metadata for display and search).
    pub fn for_file(name: &str, file: FileRef) -> ItemData {
        ItemData {
            fields: [
                ("name".to_string(), name.to_string()),
                ("media_type".to_string(), file.media_type.clone()),
                ("size".to_string(), file.size.to_string()),
                ("sha256".to_string(), file.sha256.clone()),
            ]
            .into(),
            files: vec![file],
            ..ItemData::new(ItemKind::File, name)
        }
    }

    /// An empty item of `kind` titled `title`.
    pub fn new(kind: ItemKind, title: &str) -> Self {
        ItemData {
            kind,
            title: title.into(),
            fields: BTreeMap::new(),
            folder: None,
            tags: vec![],
            favorite: false,
            trashed: false,
            conflict_of: None,
            purged: false,
            files: vec![],
            hidden: vec![],
            source: None,
        }
    }

    /// Whether a field's value is hidden until revealed (a secret field of the kind, a name
    /// that says secret, or a custom field marked hidden).
    pub fn is_secret(&self, name: &str) -> bool {
        self.kind.is_secret(name) || self.hidden.iter().any(|h| h == name)
    }

    /// The values of a field, one per line for a list field (empty lines dropped).
    pub fn values(&self, name: &str) -> Vec<&str> {
        self.fields
            .get(name)
            .map(|v| v.lines().filter(|l| !l.trim().is_empty()).collect())
            .unwrap_or_default()
    }

    /// Checks what the user typed before it is sealed: names not empty, a TOTP secret that
    /// yields codes, a card expiry that is a month.
    pub fn validate(&self) -> Result<(), String> {
        if let Some(name) = self.fields.keys().find(|k| k.trim().is_empty()) {
            return Err(format!("a field needs a name (got {name:?})"));
        }
        if let Some(t) = self.fields.get("totp").filter(|t| !t.is_empty()) {
            crate::totp::code_at(t, 0)
                .map_err(|e| format!("the one-time code secret is not usable: {e}"))?;
        }
        if self.kind == ItemKind::Card
            && let Some(e) = self.fields.get("expiry").filter(|e| !e.is_empty())
        {
            let ok = e.split_once('/').is_some_and(|(m, y)| {
                m.parse::<u8>().is_ok_and(|m| (1..=12).contains(&m))
                    && (y.len() == 2 || y.len() == 4)
                    && y.chars().all(|c| c.is_ascii_digit())
            });
            if !ok {
                return Err(format!("a card expiry is MM/YY or MM/YYYY, got {e:?}"));
            }
        }
        Ok(())
    }

    /// What a deleted item leaves behind: its kind and nothing else.
    pub fn tombstone(kind: ItemKind) -> Self {
        ItemData {
            trashed: true,
            purged: true,
            ..ItemData::new(kind, "")
        }
    }
}

impl std::fmt::Debug for ItemData {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ItemData")
            .field("kind", &self.kind)
            .field("fields", &self.fields.keys().collect::<Vec<_>>())
            .field("trashed", &self.trashed)
            .field("purged", &self.purged)
            .field("files", &self.files.len())
            .finish_non_exhaustive()
    }
}

impl zeroize::Zeroize for ItemData {
    fn zeroize(&mut self) {
        self.title.zeroize();
        for v in self.fields.values_mut() {
            v.zeroize();
        }
        let mut keys: Vec<String> = std::mem::take(&mut self.fields).into_keys().collect();
        keys.iter_mut().for_each(zeroize::Zeroize::zeroize);
        self.folder.zeroize();
        self.tags.iter_mut().for_each(zeroize::Zeroize::zeroize);
        self.hidden.iter_mut().for_each(zeroize::Zeroize::zeroize);
        self.source.zeroize();
        for f in &mut self.files {
            f.name.zeroize();
            f.key.zeroize();
            f.sha256.zeroize();
        }
    }
}

/// The current format of [`ItemData`] (bound into the envelope).
pub const FORMAT_VERSION: u16 = 1;

/// The result of merging a local and a remote edit of the same item.
#[derive(Debug, PartialEq)]
pub enum Merge {
    /// Every changed field changed on one side only (or identically): one item.
    Clean(ItemData),
    /// Some field changed differently on both sides: `merged` stays the item and `copy`, the
    /// version that lost, becomes a conflict copy for the user to resolve.
    Conflict { merged: ItemData, copy: ItemData },
}

fn flatten(d: &ItemData) -> BTreeMap<String, Value> {
    let mut m = BTreeMap::new();
    let v = serde_json::to_value(d).unwrap_or(Value::Null);
    if let Value::Object(o) = v {
        for (k, v) in o {
            if k == "fields" {
                if let Value::Object(f) = v {
                    for (fk, fv) in f {
                        m.insert(format!("fields.{fk}"), fv);
                    }
                }
            } else {
                m.insert(k, v);
            }
        }
    }
    m
}

fn unflatten(m: BTreeMap<String, Value>) -> Option<ItemData> {
    let mut o = serde_json::Map::new();
    let mut fields = serde_json::Map::new();
    for (k, v) in m {
        match k.strip_prefix("fields.") {
            Some(f) => {
                fields.insert(f.to_string(), v);
            }
            None => {
                o.insert(k, v);
            }
        }
    }
    o.insert("fields".into(), Value::Object(fields));
    serde_json::from_value(Value::Object(o)).ok()
}

/// Field-level three-way merge of `ours` and `theirs` from their common `base`.
///
/// A deletion wins over an edit (the item stays deleted everywhere) and the edit survives as
/// a conflict copy: nothing is lost, and no half-deleted item exists.
pub fn merge(base: &ItemData, ours: &ItemData, theirs: &ItemData) -> Merge {
    match (ours.purged, theirs.purged) {
        (true, true) => return Merge::Clean(theirs.clone()),
        (false, true) if ours == base => return Merge::Clean(theirs.clone()),
        (false, true) => {
            return Merge::Conflict {
                merged: theirs.clone(),
                copy: ours.clone(),
            };
        }
        (true, false) if theirs == base => return Merge::Clean(ours.clone()),
        (true, false) => {
            return Merge::Conflict {
                merged: ours.clone(),
                copy: theirs.clone(),
            };
        }
        (false, false) => {}
    }
    let (b, o, t) = (flatten(base), flatten(ours), flatten(theirs));
    let keys: std::collections::BTreeSet<&String> =
        b.keys().chain(o.keys()).chain(t.keys()).collect();
    let mut out = BTreeMap::new();
    let mut collided = false;
    for k in keys {
        let (bv, ov, tv) = (b.get(k), o.get(k), t.get(k));
        let pick = if ov == tv || ov == bv {
            tv
        } else if tv == bv {
            ov
        } else {
            collided = true;
            tv
        };
        if let Some(v) = pick {
            out.insert(k.clone(), v.clone());
        }
    }
    match unflatten(out) {
        Some(merged) if !collided => Merge::Clean(merged),
        Some(merged) => Merge::Conflict {
            merged,
            copy: ours.clone(),
        },
        None => Merge::Conflict {
            merged: theirs.clone(),
            copy: ours.clone(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(title: &str, user: &str, pw: &str) -> ItemData {
        ItemData {
            fields: [
                ("username".to_string(), user.to_string()),
                ("password".to_string(), pw.to_string()),
            ]
            .into(),
            ..ItemData::new(ItemKind::Login, title)
        }
    }

    #[test]
    fn disjoint_edits_merge() {
        let base = login("Bank", "alice", "pw1");
        let ours = login("Bank", "alice", "pw2");
        let mut theirs = login("My bank", "alice", "pw1");
        theirs.tags = vec!["finance".into()];
        match merge(&base, &ours, &theirs) {
            Merge::Clean(m) => {
                assert_eq!(m.title, "My bank");
                assert_eq!(m.fields["password"], "pw2");
                assert_eq!(m.tags, vec!["finance".to_string()]);
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn colliding_edits_keep_both() {
        let base = login("Bank", "alice", "pw1");
        let ours = login("Bank", "alice", "ours");
        let theirs = login("Bank 2", "alice", "theirs");
        match merge(&base, &ours, &theirs) {
            Merge::Conflict { merged, copy: kept } => {
                assert_eq!(merged.fields["password"], "theirs");
                assert_eq!(merged.title, "Bank 2");
                assert_eq!(kept.fields["password"], "ours");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn added_and_removed_fields_merge() {
        let base = login("Bank", "alice", "pw1");
        let mut ours = base.clone();
        ours.fields.insert("totp".into(), "JBSWY3DPEHPK3PXP".into());
        let mut theirs = base.clone();
        theirs.fields.remove("username");
        match merge(&base, &ours, &theirs) {
            Merge::Clean(m) => {
                assert!(m.fields.contains_key("totp"));
                assert!(!m.fields.contains_key("username"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_deletion_wins_and_a_concurrent_edit_survives_as_a_copy() {
        let base = login("Bank", "alice", "pw1");
        let edited = login("Bank", "alice", "pw2");
        let gone = ItemData::tombstone(ItemKind::Login);
        assert_eq!(merge(&base, &base, &gone), Merge::Clean(gone.clone()));
        assert_eq!(merge(&base, &gone, &base), Merge::Clean(gone.clone()));
        assert_eq!(merge(&base, &gone, &gone), Merge::Clean(gone.clone()));
        for (ours, theirs) in [(&edited, &gone), (&gone, &edited)] {
            assert_eq!(
                merge(&base, ours, theirs),
                Merge::Conflict {
                    merged: gone.clone(),
                    copy: edited.clone()
                }
            );
        }
    }

    #[test]
    fn kinds_describe_their_fields_and_secrets() {
        assert!(ItemKind::Login.is_secret("password"));
        assert!(ItemKind::Card.is_secret("cvv"));
        assert!(!ItemKind::Contact.is_secret("emails"));
        assert!(
            ItemKind::Note.is_secret("Password"),
            "custom secret names count"
        );
        assert!(ItemKind::Contact.field("addresses").unwrap().list);
        for k in ItemKind::ALL {
            assert!(!k.fields().is_empty());
        }
        let mut c = ItemData::new(ItemKind::Contact, "Ada");
        c.fields.insert(
            "emails".into(),
            "ada@example.org\n\n ada@work.example\n".into(),
        );
        assert_eq!(
            c.values("emails"),
            vec!["ada@example.org", " ada@work.example"]
        );
    }

    #[test]
    fn validation_catches_what_would_break_later() {
        let mut card = ItemData::new(ItemKind::Card, "Visa");
        for (expiry, ok) in [
            ("07/29", true),
            ("12/2031", true),
            ("13/29", false),
            ("7-29", false),
            ("07/2x", false),
        ] {
            card.fields.insert("expiry".into(), expiry.into());
            assert_eq!(card.validate().is_ok(), ok, "{expiry}");
        }
        let mut login = ItemData::new(ItemKind::Login, "2FA");
        login
            .fields
            .insert("totp".into(), "JBSWY3DPEHPK3PXP".into());
        assert!(login.validate().is_ok());
        login.fields.insert("totp".into(), "not base32 !!".into());
        assert!(login.validate().is_err());
        login.fields.remove("totp");
        login.fields.insert(" ".into(), "x".into());
        assert!(login.validate().is_err());
    }

    #[test]
    fn kinds_round_trip() {
        for k in [
            ItemKind::Login,
            ItemKind::Note,
            ItemKind::Card,
            ItemKind::Identity,
            ItemKind::Contact,
            ItemKind::File,
        ] {
            assert_eq!(ItemKind::from_number(k.number()), Some(k));
        }
        assert_eq!(ItemKind::parse("Login"), Some(ItemKind::Login));
        assert_eq!(ItemKind::parse("nope"), None);
    }
}
