//! KRYPT7's own exports (`krypt7 export`): the JSON one, and the one sealed under an export
//! password (`docs/crypto.md` §4.4). Every item comes back with everything it holds, but
//! files: the export names them (their blobs belong to the account that made it), it does
//! not hold their contents.

use serde_json::Value;

use crate::{ImportError, Kind, Options, Record, Report, Result};

const FILES: &str = "the export names the file but does not hold its contents";

/// Whether `bytes` is one of KRYPT7's exports.
pub fn looks_like(bytes: &[u8]) -> bool {
    sealed(bytes)
        || serde_json::from_slice::<Value>(crate::text::skip_bom(bytes))
            .is_ok_and(|v| v.get("format").and_then(Value::as_str) == Some("krypt7-export"))
}

/// Whether `bytes` is the sealed export.
pub fn sealed(bytes: &[u8]) -> bool {
    bytes.starts_with(b"KRYPT7-EXPORT\n")
}

pub fn read(bytes: &[u8], options: &Options, report: &mut Report) -> Result<Vec<Record>> {
    let opened;
    let json = if sealed(bytes) {
        let password = options
            .password
            .as_ref()
            .ok_or(ImportError::NeedsPassword)?;
        opened = krypt7_crypto::export::open(
            &krypt7_crypto::secret::Password::new(password.as_str()),
            bytes,
        )
        .map_err(|e| match e {
            krypt7_crypto::CryptoError::Integrity => ImportError::WrongPassword,
            e => ImportError::Malformed(format!("the sealed KRYPT7 export cannot be opened: {e}")),
        })?;
        &opened[..]
    } else {
        crate::text::skip_bom(bytes)
    };
    let v: Value = serde_json::from_slice(json)
        .map_err(|e| ImportError::Malformed(format!("the KRYPT7 export is not valid JSON: {e}")))?;
    if v.get("format").and_then(Value::as_str) != Some("krypt7-export") {
        return Err(ImportError::Malformed(
            "this is not a KRYPT7 export (no \"format\": \"krypt7-export\")".into(),
        ));
    }
    let items = v
        .get("items")
        .and_then(Value::as_array)
        .ok_or_else(|| ImportError::Malformed("the KRYPT7 export has no \"items\" list".into()))?;
    let mut out = Vec::with_capacity(items.len());
    for (n, entry) in items.iter().enumerate() {
        let bad = |m: &str| ImportError::Malformed(format!("KRYPT7 export item {}: {m}", n + 1));
        let item = entry.get("item").ok_or_else(|| bad("it has no \"item\""))?;
        let text = |k: &str| item.get(k).and_then(Value::as_str).unwrap_or("");
        let title = text("title");
        let kind = match text("kind") {
            "login" => Kind::Login,
            "note" => Kind::Note,
            "card" => Kind::Card,
            "identity" => Kind::Identity,
            "contact" => Kind::Contact,
            "file" => {
                report.drop_field("file", FILES, title);
                continue;
            }
            k => return Err(bad(&format!("its kind {k:?} is not one KRYPT7 has"))),
        };
        let mut r = Record::new(kind, title);
        if let Some(fields) = item.get("fields").and_then(Value::as_object) {
            for (k, v) in fields {
                let v = v
                    .as_str()
                    .ok_or_else(|| bad(&format!("its field {k:?} is not text")))?;
                r.fields.insert(k.clone(), v.to_string());
            }
        }
        r.folder = item.get("folder").and_then(Value::as_str).map(String::from);
        let list = |k: &str| -> Vec<String> {
            item.get(k)
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|t| t.as_str().map(String::from))
                .collect()
        };
        r.tags = list("tags");
        r.hidden = list("hidden");
        r.favorite = item.get("favorite") == Some(&Value::Bool(true));
        r.trashed = item.get("trashed") == Some(&Value::Bool(true));
        r.source_id = item
            .get("source")
            .and_then(Value::as_str)
            .map(String::from)
            .or_else(|| {
                entry
                    .get("id")
                    .and_then(Value::as_str)
                    .map(|id| format!("krypt7:{id}"))
            });
        for f in item
            .get("files")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let name = f.get("name").and_then(Value::as_str).unwrap_or("file");
            report.drop_field(&format!("attachment {name}"), FILES, title);
        }
        out.push(r);
    }
    Ok(out)
}
