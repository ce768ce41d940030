//! Bitwarden's JSON export: plain, or protected by a password (its `passwordProtected`
//! form: PBKDF2-SHA256 or Argon2id, the key stretched by HKDF into an AES-256-CBC key and
//! an HMAC-SHA256 key, the vault in one "type 2" encrypted string; Bitwarden's help pages
//! on encrypted exports describe it).

use std::collections::BTreeMap;

use serde_json::Value;
use zeroize::Zeroizing;

use crate::{ImportError, Kind, Options, Outcome, Record, Report, Result};

const TIMES: &str = "KRYPT7 records its own creation and change times";

/// Whether `bytes` is a Bitwarden export (JSON with `items`, or an encrypted one).
pub fn looks_like(bytes: &[u8]) -> bool {
    let Ok(v) = serde_json::from_slice::<Value>(crate::text::skip_bom(bytes)) else {
        return false;
    };
    v.get("encrypted").is_some_and(Value::is_boolean)
        && (v.get("items").is_some_and(Value::is_array) || v.get("data").is_some())
}

/// Whether `bytes` is a password-protected Bitwarden export.
pub fn password_protected(bytes: &[u8]) -> bool {
    serde_json::from_slice::<Value>(crate::text::skip_bom(bytes))
        .is_ok_and(|v| v.get("passwordProtected") == Some(&Value::Bool(true)))
}

pub fn read(bytes: &[u8], options: &Options, report: &mut Report) -> Result<Vec<Record>> {
    let v: Value = serde_json::from_slice(crate::text::skip_bom(bytes)).map_err(|e| {
        ImportError::Malformed(format!("the Bitwarden export is not valid JSON: {e}"))
    })?;
    let plain;
    let v = if v.get("encrypted") == Some(&Value::Bool(true)) {
        if v.get("passwordProtected") != Some(&Value::Bool(true)) {
            return Err(ImportError::Malformed(
                "this Bitwarden export is encrypted with the Bitwarden account's own key, which \
                 only Bitwarden can open: export again choosing \"Password protected\" (or plain \
                 JSON)"
                    .into(),
            ));
        }
        let password = options
            .password
            .as_ref()
            .ok_or(ImportError::NeedsPassword)?;
        let text = decrypt_export(&v, password)?;
        plain = serde_json::from_slice::<Value>(&text).map_err(|e| {
            ImportError::Malformed(format!("the decrypted Bitwarden vault is not JSON: {e}"))
        })?;
        &plain
    } else {
        &v
    };
    let items = v.get("items").and_then(Value::as_array).ok_or_else(|| {
        ImportError::Malformed("the Bitwarden export has no \"items\" list".into())
    })?;
    let names = |key: &str| -> BTreeMap<String, String> {
        v.get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .filter_map(|f| Some((s(f, "id")?.to_string(), s(f, "name")?.to_string())))
            .collect()
    };
    let (folders, collections) = (names("folders"), names("collections"));
    let mut out = Vec::with_capacity(items.len());
    let mut times = false;
    for (i, item) in items.iter().enumerate() {
        let r = record(item, &folders, &collections, report)
            .map_err(|m| ImportError::Malformed(format!("Bitwarden item {}: {m}", i + 1)))?;
        times |= item.get("revisionDate").is_some();
        out.push(r);
    }
    if times {
        report.remarks.push(format!(
            "creation and revision dates are not carried: {TIMES}"
        ));
    }
    Ok(out)
}

fn s<'a>(v: &'a Value, key: &str) -> Option<&'a str> {
    v.get(key).and_then(Value::as_str)
}

fn record(
    item: &Value,
    folders: &BTreeMap<String, String>,
    collections: &BTreeMap<String, String>,
    report: &mut Report,
) -> std::result::Result<Record, String> {
    let ty = item
        .get("type")
        .and_then(Value::as_u64)
        .ok_or("it has no type")?;
    let name = s(item, "name").unwrap_or("").trim();
    let kind = match ty {
        1 => Kind::Login,
        2 | 5 => Kind::Note,
        3 => Kind::Card,
        4 => Kind::Identity,
        t => return Err(format!("its type {t} is not one Bitwarden exports")),
    };
    let mut r = Record::new(kind, if name.is_empty() { "(untitled)" } else { name });
    if let Some(id) = s(item, "id") {
        r.source_id = Some(format!("bitwarden:{id}"));
    }
    r.set("notes", s(item, "notes").unwrap_or(""));
    r.favorite = item.get("favorite") == Some(&Value::Bool(true));
    r.trashed = item.get("deletedDate").is_some_and(|d| !d.is_null());
    r.folder = s(item, "folderId").and_then(|f| folders.get(f)).cloned();
    for c in item
        .get("collectionIds")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        if let Some(n) = c.as_str().and_then(|c| collections.get(c)) {
            r.tags.push(n.clone());
        }
    }
    if item.get("reprompt").and_then(Value::as_u64) == Some(1) {
        report.drop_field(
            "reprompt",
            "KRYPT7 has no per-item password prompt: the whole vault locks",
            &r.title,
        );
    }
    let get = |section: &str, key: &str| -> String {
        item.get(section)
            .and_then(|o| s(o, key))
            .unwrap_or("")
            .to_string()
    };
    match ty {
        1 => login(item, &mut r, report)?,
        3 => {
            r.set("cardholder", &get("card", "cardholderName"));
            r.set("number", &get("card", "number"));
            r.set("cvv", &get("card", "code"));
            let (m, y) = (get("card", "expMonth"), get("card", "expYear"));
            match (m.trim().parse::<u8>(), y.trim().parse::<u16>()) {
                (Ok(m), Ok(y)) if (1..=12).contains(&m) => r.set("expiry", &format!("{m:02}/{y}")),
                _ => {
                    r.keep(report, "expMonth", &m);
                    r.keep(report, "expYear", &y);
                }
            }
            r.keep(report, "brand", &get("card", "brand"));
        }
        4 => identity(item, &mut r, report),
        5 => {
            r.set("private_key", &get("sshKey", "privateKey"));
            r.keep(report, "public_key", &get("sshKey", "publicKey"));
            r.keep(report, "fingerprint", &get("sshKey", "keyFingerprint"));
            report.note(
                "sshKey",
                Outcome::Custom {
                    name: "private_key".into(),
                },
                &r.title,
            );
        }
        _ => {}
    }
    for f in item
        .get("fields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        custom_field(f, &mut r, report);
    }
    Ok(r)
}

fn login(item: &Value, r: &mut Record, report: &mut Report) -> std::result::Result<(), String> {
    let Some(l) = item.get("login").filter(|l| !l.is_null()) else {
        return Ok(());
    };
    r.set("username", s(l, "username").unwrap_or(""));
    r.set("password", s(l, "password").unwrap_or(""));
    r.set("totp", s(l, "totp").unwrap_or(""));
    for u in l
        .get("uris")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        r.push_line("url", s(u, "uri").unwrap_or(""));
        if u.get("match").is_some_and(|m| !m.is_null()) {
            report.drop_field(
                "uri match",
                "KRYPT7 matches a site by its address, with no per-address rule",
                &r.title,
            );
        }
    }
    for (n, c) in l
        .get("fido2Credentials")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let name = if n == 0 {
            "passkey".to_string()
        } else {
            format!("passkey ({})", n + 1)
        };
        r.fields.insert(name.clone(), c.to_string());
        r.hidden.push(name.clone());
        report.note("fido2Credentials", Outcome::Custom { name }, &r.title);
    }
    // Earlier passwords become earlier versions of the item, oldest first.
    let mut earlier: Vec<(&str, &str)> = item
        .get("passwordHistory")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|h| Some((s(h, "lastUsedDate").unwrap_or(""), s(h, "password")?)))
        .collect();
    earlier.sort();
    for (_, pw) in earlier {
        let mut old = r.clone();
        old.history.clear();
        old.fields.insert("password".into(), pw.into());
        r.history.push(old);
    }
    Ok(())
}

fn identity(item: &Value, r: &mut Record, report: &mut Report) {
    let Some(id) = item.get("identity").filter(|i| !i.is_null()) else {
        return;
    };
    let get = |k: &str| s(id, k).unwrap_or("").trim().to_string();
    let join = |keys: &[&str], sep: &str| {
        keys.iter()
            .map(|k| get(k))
            .filter(|v| !v.is_empty())
            .collect::<Vec<_>>()
            .join(sep)
    };
    r.set(
        "name",
        &join(&["title", "firstName", "middleName", "lastName"], " "),
    );
    r.set("email", &get("email"));
    r.set("phone", &get("phone"));
    let city = join(&["postalCode", "city"], " ");
    let mut lines: Vec<String> = ["address1", "address2", "address3"]
        .iter()
        .map(|k| get(k))
        .collect();
    lines.extend([city, get("state"), get("country")]);
    lines.retain(|l| !l.is_empty());
    r.set("address", &lines.join("\n"));
    r.set("document_number", &get("passportNumber"));
    for (k, name) in [
        ("company", "company"),
        ("ssn", "ssn"),
        ("licenseNumber", "license_number"),
        ("username", "username"),
    ] {
        let v = get(k);
        if !v.is_empty() {
            r.fields.insert(name.into(), v);
            if k == "ssn" {
                r.hidden.push(name.into());
            }
            report.note(k, Outcome::Custom { name: name.into() }, &r.title);
        }
    }
}

/// A custom field: text and hidden ones keep their value (hidden ones are marked so),
/// booleans read `true`/`false`, and a linked field names the field it shows.
fn custom_field(f: &Value, r: &mut Record, report: &mut Report) {
    let name = s(f, "name").unwrap_or("").trim();
    let name = if name.is_empty() { "field" } else { name };
    let value = match f.get("type").and_then(Value::as_u64) {
        Some(2) => s(f, "value").unwrap_or("false").to_string(),
        Some(3) => {
            let target = match f.get("linkedId").and_then(Value::as_u64) {
                Some(100) => "username",
                Some(101) => "password",
                Some(n) => {
                    report.drop_field(
                        name,
                        &format!("a linked field (to Bitwarden field {n})"),
                        &r.title,
                    );
                    return;
                }
                None => "another field",
            };
            report.note(
                name,
                Outcome::NotCarried {
                    why: format!(
                        "a linked field: KRYPT7 has no links; the item's {target} is there"
                    ),
                },
                &r.title,
            );
            return;
        }
        _ => s(f, "value").unwrap_or("").to_string(),
    };
    let kept = r.keep(report, name, &value);
    if f.get("type").and_then(Value::as_u64) == Some(1) {
        r.hidden.extend(kept);
    }
}

/// The vault JSON of a password-protected export.
fn decrypt_export(v: &Value, password: &str) -> Result<Zeroizing<Vec<u8>>> {
    let bad = |what: &str| ImportError::Malformed(format!("the encrypted Bitwarden export {what}"));
    let salt = s(v, "salt").ok_or_else(|| bad("has no salt"))?;
    let iterations = v
        .get("kdfIterations")
        .and_then(Value::as_u64)
        .ok_or_else(|| bad("has no kdfIterations"))?;
    let mut key = Zeroizing::new([0u8; 32]);
    match v.get("kdfType").and_then(Value::as_u64) {
        Some(0) => {
            let n = u32::try_from(iterations)
                .ok()
                .and_then(std::num::NonZeroU32::new)
                .filter(|n| n.get() <= 10_000_000)
                .ok_or_else(|| bad("has a PBKDF2 iteration count out of range"))?;
            ring::pbkdf2::derive(
                ring::pbkdf2::PBKDF2_HMAC_SHA256,
                n,
                salt.as_bytes(),
                password.as_bytes(),
                &mut key[..],
            );
        }
        Some(1) => {
            let memory = v.get("kdfMemory").and_then(Value::as_u64).unwrap_or(0);
            let lanes = v.get("kdfParallelism").and_then(Value::as_u64).unwrap_or(0);
            // Bitwarden's bounds: 16–1024 MiB, 1–16 lanes, 2+ passes.
            if !(16..=1024).contains(&memory)
                || !(1..=16).contains(&lanes)
                || !(1..=100).contains(&iterations)
            {
                return Err(bad("has Argon2id parameters out of range"));
            }
            let params = argon2::Params::new(
                (memory * 1024) as u32,
                iterations as u32,
                lanes as u32,
                Some(32),
            )
            .map_err(|e| bad(&format!("has Argon2id parameters that do not work: {e}")))?;
            let salt = ring::digest::digest(&ring::digest::SHA256, salt.as_bytes());
            argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
                .hash_password_into(password.as_bytes(), salt.as_ref(), &mut key[..])
                .map_err(|e| bad(&format!("could not derive its key: {e}")))?;
        }
        _ => return Err(bad("names a key derivation other than PBKDF2 or Argon2id")),
    }
    let keys = stretch(&key);
    let check = s(v, "encKeyValidation_DO_NOT_EDIT").ok_or_else(|| bad("has no key check"))?;
    open(check, &keys).map_err(|e| match e {
        Open::Mac => ImportError::WrongPassword,
        Open::Format(m) => bad(&m),
    })?;
    let data = s(v, "data").ok_or_else(|| bad("has no data"))?;
    open(data, &keys).map_err(|e| match e {
        Open::Mac => bad("is damaged (its data does not authenticate)"),
        Open::Format(m) => bad(&m),
    })
}

/// The encryption and MAC keys of a 32-byte key (HKDF-Expand with `enc` and `mac`).
fn stretch(key: &[u8; 32]) -> Zeroizing<[u8; 64]> {
    let prk = ring::hkdf::Prk::new_less_safe(ring::hkdf::HKDF_SHA256, key);
    let mut out = Zeroizing::new([0u8; 64]);
    for (info, half) in [(b"enc", 0), (b"mac", 1)] {
        let info = [info.as_slice()];
        let okm = prk
            .expand(&info, ring::hkdf::HKDF_SHA256)
            .expect("32 bytes is within HKDF's limit");
        okm.fill(&mut out[half * 32..half * 32 + 32])
            .expect("32 bytes is within HKDF's limit");
    }
    out
}

enum Open {
    Mac,
    Format(String),
}

/// An encrypted string `2.<iv>|<ciphertext>|<mac>` (base64): the MAC (HMAC-SHA256 over the
/// IV and ciphertext) checked first, then AES-256-CBC with PKCS#7 padding.
fn open(enc: &str, keys: &[u8; 64]) -> std::result::Result<Zeroizing<Vec<u8>>, Open> {
    use base64::Engine;
    use cbc::cipher::{BlockDecryptMut, KeyIvInit, block_padding::Pkcs7};
    let body = enc
        .strip_prefix("2.")
        .ok_or_else(|| Open::Format("uses an encryption type other than 2".into()))?;
    let parts: Vec<&str> = body.split('|').collect();
    let b64 = |p: &str| {
        base64::engine::general_purpose::STANDARD
            .decode(p)
            .map_err(|_| Open::Format("holds an encrypted string that is not base64".into()))
    };
    let [iv, ct, mac] = parts[..] else {
        return Err(Open::Format(
            "holds an encrypted string without its three parts".into(),
        ));
    };
    let (iv, mut ct, mac) = (b64(iv)?, b64(ct)?, b64(mac)?);
    let mac_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &keys[32..]);
    let mut signed = iv.clone();
    signed.extend_from_slice(&ct);
    ring::hmac::verify(&mac_key, &signed, &mac).map_err(|_| Open::Mac)?;
    let dec = cbc::Decryptor::<aes::Aes256>::new_from_slices(&keys[..32], &iv)
        .map_err(|_| Open::Format("has an IV that is not 16 bytes".into()))?;
    let n = dec
        .decrypt_padded_mut::<Pkcs7>(&mut ct)
        .map_err(|_| Open::Format("has bad padding".into()))?
        .len();
    ct.truncate(n);
    Ok(Zeroizing::new(ct))
}

/// The inverse of [`open`] and the export's key derivation, for tests that write encrypted
/// exports from the format's description.
#[doc(hidden)]
pub mod write {
    use super::*;

    /// A password-protected export of `vault` (the plain export's JSON) with PBKDF2
    /// (`argon2: None`) or Argon2id (`Some((mib, iterations, lanes))`).
    pub fn encrypted(
        vault: &str,
        password: &str,
        iterations: u32,
        argon2: Option<(u32, u32)>,
        iv_seed: u8,
    ) -> String {
        use base64::Engine;
        use cbc::cipher::{BlockEncryptMut, KeyIvInit, block_padding::Pkcs7};
        let salt = "c2FsdHNhbHRzYWx0c2FsdA==";
        let mut key = [0u8; 32];
        match argon2 {
            None => ring::pbkdf2::derive(
                ring::pbkdf2::PBKDF2_HMAC_SHA256,
                std::num::NonZeroU32::new(iterations).expect("non-zero"),
                salt.as_bytes(),
                password.as_bytes(),
                &mut key,
            ),
            Some((mib, lanes)) => {
                let params =
                    argon2::Params::new(mib * 1024, iterations, lanes, Some(32)).expect("params");
                let salt = ring::digest::digest(&ring::digest::SHA256, salt.as_bytes());
                argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params)
                    .hash_password_into(password.as_bytes(), salt.as_ref(), &mut key)
                    .expect("argon2");
            }
        }
        let keys = stretch(&key);
        let seal = |plain: &[u8], seed: u8| {
            let iv = [seed; 16];
            let ct = cbc::Encryptor::<aes::Aes256>::new_from_slices(&keys[..32], &iv)
                .expect("sizes")
                .encrypt_padded_vec_mut::<Pkcs7>(plain);
            let mut signed = iv.to_vec();
            signed.extend_from_slice(&ct);
            let mac = ring::hmac::sign(
                &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &keys[32..]),
                &signed,
            );
            let b = |x: &[u8]| base64::engine::general_purpose::STANDARD.encode(x);
            format!("2.{}|{}|{}", b(&iv), b(&ct), b(mac.as_ref()))
        };
        serde_json::json!({
            "encrypted": true,
            "passwordProtected": true,
            "salt": salt,
            "kdfType": if argon2.is_some() { 1 } else { 0 },
            "kdfIterations": iterations,
            "kdfMemory": argon2.map(|a| a.0),
            "kdfParallelism": argon2.map(|a| a.1),
            "encKeyValidation_DO_NOT_EDIT": seal(b"6f1f4bd0-5a6e-4b2e-9f59-2d3b3c7f1a10", iv_seed),
            "data": seal(vault.as_bytes(), iv_seed.wrapping_add(1)),
        })
        .to_string()
    }
}
