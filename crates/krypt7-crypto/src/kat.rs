//! Known-answer tests against third-party vectors (PyPI `cryptography-vectors` 50.0.2, see
//! `tests/vectors/cryptography_vectors/ORIGIN.md`). They run inside the crate so they exercise
//! the same private primitives the envelopes use. A missing or altered vector file fails.

use std::collections::HashMap;

use crate::{
    hazmat::{self, AesGcm},
    kdf::{self, KdfParams},
    pk::{EncryptionKeyPair, IdentityKeyPair},
};

fn vector(path: &str) -> String {
    // Relative: `cargo test` runs in the package's directory. (`env!("CARGO_MANIFEST_DIR")`
    // would name whichever checkout first built this target directory.)
    let dir = "tests/vectors/cryptography_vectors";
    let sums = std::fs::read_to_string(format!("{dir}/SHA256SUMS")).expect("SHA256SUMS is missing");
    let want = sums
        .lines()
        .find_map(|l| {
            l.split_once("  ./")
                .filter(|(_, p)| *p == path)
                .map(|(h, _)| h.to_string())
        })
        .unwrap_or_else(|| panic!("{path} is not pinned in SHA256SUMS"));
    let bytes = std::fs::read(format!("{dir}/{path}"))
        .unwrap_or_else(|e| panic!("vector file {path}: {e}"));
    assert_eq!(
        hex(&hazmat::sha256(&[&bytes])),
        want,
        "{path} does not match its pinned SHA-256"
    );
    String::from_utf8(bytes).expect("vector files are text")
}

fn unhex(s: &str) -> Vec<u8> {
    let s = s.trim();
    assert!(s.len().is_multiple_of(2), "odd hex length");
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Splits a `KEY = value` file into records, each starting at its `COUNT`/`Count` line;
/// `[Name = value]` section lines are copied into each record as `[Name`.
fn records(text: &str) -> Vec<HashMap<String, String>> {
    let mut out: Vec<HashMap<String, String>> = Vec::new();
    let mut section: HashMap<String, String> = HashMap::new();
    for line in text.lines().map(str::trim) {
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(inner) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            if let Some((k, v)) = inner.split_once('=') {
                section.insert(format!("[{}", k.trim()), v.trim().to_string());
            }
            continue;
        }
        if line.to_ascii_lowercase().starts_with("count") {
            out.push(section.clone());
        }
        let Some(cur) = out.last_mut() else { continue };
        match line.split_once('=') {
            Some((k, v)) => cur.insert(k.trim().to_string(), v.trim().to_string()),
            None => cur.insert(line.to_string(), String::new()),
        };
    }
    out
}

#[test]
fn argon2id() {
    let recs = records(&vector("KDF/argon2id.txt"));
    assert_eq!(recs.len(), 6);
    for r in &recs {
        let n = |k: &str| r[k].parse::<u32>().expect("number");
        let params = KdfParams {
            m_kib: n("memcost"),
            t: n("iter"),
            p: n("lanes"),
        };
        let mut out = vec![0u8; n("length") as usize];
        let secret = r.get("secret").map(|s| unhex(s));
        let ad = r.get("ad").map(|s| unhex(s));
        kdf::argon2id_full(
            params,
            &unhex(&r["pass"]),
            &unhex(&r["salt"]),
            secret.as_deref(),
            ad.as_deref(),
            &mut out,
        )
        .expect("argon2id");
        assert_eq!(hex(&out), r["output"], "COUNT = {}", r["COUNT"]);
    }
}

#[test]
fn hkdf_sha256() {
    let recs = records(&vector("KDF/rfc-5869-HKDF-SHA256.txt"));
    assert_eq!(recs.len(), 3, "RFC 5869 has three SHA-256 cases");
    for r in &recs {
        assert_eq!(r["Hash"], "SHA-256");
        let mut okm = vec![0u8; r["L"].parse().expect("L")];
        hazmat::hkdf_sha256(
            &unhex(&r["salt"]),
            &unhex(&r["IKM"]),
            &[&unhex(&r["info"])],
            &mut okm,
        );
        assert_eq!(hex(&okm), r["OKM"], "COUNT = {}", r["COUNT"]);
    }
}

/// The envelopes use 96-bit nonces and 128-bit tags only. Vectors with those parameters must
/// match exactly; vectors with a shorter tag must be refused (KRYPT7 never accepts a truncated
/// tag); other IV lengths cannot be expressed in the format and are counted, not run.
#[test]
fn aes_256_gcm_encrypt() {
    let recs = records(&vector("ciphers/AES/GCM/gcmEncryptExtIV256.rsp"));
    let mut run = 0;
    for r in recs
        .iter()
        .filter(|r| r["[IVlen"] == "96" && r["[Taglen"] == "128")
    {
        let key: [u8; 32] = unhex(&r["Key"]).try_into().expect("key");
        let nonce: [u8; 12] = unhex(&r["IV"]).try_into().expect("iv");
        let out = AesGcm::new(&key)
            .seal(nonce, &unhex(&r["AAD"]), &unhex(&r["PT"]))
            .expect("seal");
        assert_eq!(
            hex(&out),
            format!("{}{}", r["CT"], r["Tag"]),
            "Count = {}",
            r["Count"]
        );
        run += 1;
    }
    assert_eq!(run, 375, "every 96-bit-IV, 128-bit-tag vector");
}

#[test]
fn aes_256_gcm_decrypt() {
    let recs = records(&vector("ciphers/AES/GCM/gcmDecrypt256.rsp"));
    let (mut ok, mut fail, mut short_tag) = (0, 0, 0);
    for r in recs.iter().filter(|r| r["[IVlen"] == "96") {
        let key: [u8; 32] = unhex(&r["Key"]).try_into().expect("key");
        let nonce: [u8; 12] = unhex(&r["IV"]).try_into().expect("iv");
        let ct = [unhex(&r["CT"]), unhex(&r["Tag"])].concat();
        let got = AesGcm::new(&key).open(nonce, &unhex(&r["AAD"]), &ct);
        if r["[Taglen"] != "128" {
            assert!(
                got.is_err(),
                "a {}-bit tag must be refused (Count = {})",
                r["[Taglen"],
                r["Count"]
            );
            short_tag += 1;
        } else if r.contains_key("FAIL") {
            assert!(got.is_err(), "FAIL case accepted (Count = {})", r["Count"]);
            fail += 1;
        } else {
            assert_eq!(
                hex(&got.expect("valid vector")),
                r["PT"],
                "Count = {}",
                r["Count"]
            );
            ok += 1;
        }
    }
    // Counted independently from the file: 375 full-tag cases (191 of them FAIL), 2250 short-tag.
    assert_eq!((ok, fail, short_tag), (184, 191, 2250));
}

#[test]
fn x25519() {
    let recs = records(&vector("asymmetric/X25519/rfc7748.txt"));
    assert_eq!(recs.len(), 3);
    for r in &recs {
        let k: [u8; 32] = unhex(&r["INPUT_SCALAR"]).try_into().expect("scalar");
        let u: [u8; 32] = unhex(&r["INPUT_U"]).try_into().expect("u");
        assert_eq!(
            hex(&x25519_dalek::x25519(k, u)),
            r["OUTPUT_U"],
            "COUNT = {}",
            r["COUNT"]
        );
        // Our key pair's public key is the same function at the base point.
        let base = {
            let mut b = [0u8; 32];
            b[0] = 9;
            b
        };
        let kp = EncryptionKeyPair::from_secret_bytes(k).expect("key");
        assert_eq!(kp.public().0, x25519_dalek::x25519(k, base));
    }
}

#[test]
fn ed25519() {
    let text = vector("asymmetric/Ed25519/sign.input");
    let mut n = 0;
    for line in text.lines() {
        let f: Vec<&str> = line.split(':').collect();
        assert_eq!(f.len(), 5, "sign.input has 4 fields and a trailing colon");
        let sk = unhex(f[0]);
        let seed: [u8; 32] = sk[..32].try_into().expect("seed");
        let msg = unhex(f[2]);
        let sig = unhex(f[3]);
        let kp = IdentityKeyPair::from_seed(seed).expect("seed");
        assert_eq!(hex(&kp.public().0), f[1]);
        assert_eq!(hex(&kp.sign(&[&msg])), hex(&sig[..64]), "line {n}");
        kp.public().verify(&[&msg], &sig[..64]).expect("verifies");
        let mut bad = sig[..64].to_vec();
        bad[n % 64] ^= 1;
        assert!(kp.public().verify(&[&msg], &bad).is_err());
        n += 1;
    }
    assert_eq!(n, 1024);
}

/// A "random" source that replays fixed bytes: makes HPKE's ephemeral key the vector's.
struct Replay(Vec<u8>);
impl rand_core::TryRng for Replay {
    type Error = std::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        unreachable!("HPKE asks for bytes only")
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        unreachable!("HPKE asks for bytes only")
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        assert!(
            dst.len() <= self.0.len(),
            "HPKE asked for more randomness than the vector has"
        );
        let rest = self.0.split_off(dst.len());
        dst.copy_from_slice(&self.0);
        self.0 = rest;
        Ok(())
    }
}
impl rand_core::TryCryptoRng for Replay {}

#[test]
fn hpke() {
    use hpke::{Deserializable, Kem as _, Serializable};
    type Kem = hpke::kem::X25519HkdfSha256;
    type Kdf = hpke::kdf::HkdfSha256;
    type Aead = hpke::aead::AesGcm256;
    let all: serde_json::Value =
        serde_json::from_str(&vector("HPKE/test-vectors.json")).expect("json");
    let ours: Vec<&serde_json::Value> = all
        .as_array()
        .expect("array")
        .iter()
        .filter(|v| v["mode"] == 0 && v["kem_id"] == 0x20 && v["kdf_id"] == 1 && v["aead_id"] == 2)
        .collect();
    assert_eq!(
        ours.len(),
        1,
        "one base-mode vector for DHKEM(X25519)/HKDF-SHA256/AES-256-GCM"
    );
    for v in ours {
        let h = |k: &str| unhex(v[k].as_str().expect("hex field"));
        let (sk_r, pk_r) = Kem::derive_keypair(&h("ikmR"));
        // skRm is given unclamped; serialising a private key clamps it (RFC 9180 §7.1.2).
        let sk_vec = <Kem as hpke::Kem>::PrivateKey::from_bytes(&h("skRm")).expect("skRm");
        assert_eq!(hex(&sk_r.to_bytes()), hex(&sk_vec.to_bytes()));
        assert_eq!(hex(&pk_r.to_bytes()), hex(&h("pkRm")));
        let ours_kp =
            EncryptionKeyPair::from_secret_bytes(h("skRm").try_into().expect("32")).expect("key");
        assert_eq!(hex(&ours_kp.public().0), hex(&h("pkRm")));

        let (enc, mut sender) = hpke::setup_sender_with_rng::<Aead, Kdf, Kem>(
            &hpke::OpModeS::Base,
            &pk_r,
            &h("info"),
            &mut Replay(h("ikmE")),
        )
        .expect("setup sender");
        assert_eq!(hex(&enc.to_bytes()), hex(&h("enc")));
        let enc_r = <Kem as hpke::Kem>::EncappedKey::from_bytes(&h("enc")).expect("enc");
        let mut receiver =
            hpke::setup_receiver::<Aead, Kdf, Kem>(&hpke::OpModeR::Base, &sk_r, &enc_r, &h("info"))
                .expect("setup receiver");
        let encs = v["encryptions"].as_array().expect("encryptions");
        assert_eq!(encs.len(), 257);
        for (i, e) in encs.iter().enumerate() {
            let f = |k: &str| unhex(e[k].as_str().expect("hex"));
            assert_eq!(
                hex(&sender.seal(&f("pt"), &f("aad")).expect("seal")),
                hex(&f("ct")),
                "encryption {i}"
            );
            assert_eq!(
                hex(&receiver.open(&f("ct"), &f("aad")).expect("open")),
                hex(&f("pt")),
                "encryption {i}"
            );
        }
        for x in v["exports"].as_array().expect("exports") {
            let mut out = vec![0u8; x["L"].as_u64().expect("L") as usize];
            sender
                .export(
                    &unhex(x["exporter_context"].as_str().expect("ctx")),
                    &mut out,
                )
                .expect("export");
            assert_eq!(hex(&out), x["exported_value"].as_str().expect("value"));
        }
    }
}
