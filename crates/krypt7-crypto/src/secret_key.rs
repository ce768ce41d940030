//! The Secret Key: 128 random bits generated on the device at sign-up, mixed into every key
//! derivation so that a server breach yields nothing worth brute-forcing.
//!
//! Human format (`docs/crypto.md` §2): `K1-XXXXXX-XXXXXX-XXXXX-XXXXX-XXXXC`
//! - `K1`: format version;
//! - 26 Crockford base32 symbols: the 128 bits, big-endian, then two zero padding bits;
//! - `C`: a Luhn mod 32 check symbol over the version and data symbols, which detects every
//!   single mistyped symbol and every swap of two adjacent different symbols.
//!
//! Parsing is forgiving where it is unambiguous (lower case, spaces and dashes anywhere,
//! `O`→`0`, `I`/`L`→`1`) and strict everywhere else.

use std::fmt;
use zeroize::{Zeroize, ZeroizeOnDrop, Zeroizing};

use crate::{CryptoError, hazmat};

const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const VERSION: &str = "K1";
const DATA_SYMBOLS: usize = 26;

/// The account's Secret Key (128 bits). Zeroized on drop; `Debug` is redacted.
#[derive(Clone, Zeroize, ZeroizeOnDrop, PartialEq, Eq)]
pub struct SecretKey([u8; 16]);

impl SecretKey {
    pub fn generate() -> Result<Self, CryptoError> {
        let mut b = [0u8; 16];
        hazmat::fill_random(&mut b)?;
        Ok(SecretKey(b))
    }

    pub fn from_bytes(bytes: [u8; 16]) -> Self {
        SecretKey(bytes)
    }

    pub fn expose_secret(&self) -> &[u8; 16] {
        &self.0
    }

    /// The canonical human form, e.g. `K1-0A1B2C-3D4E5F-6G7H8-J9K0M-1N2PQ`. It is secret:
    /// show it only in the Emergency Kit and store it only in the OS keychain.
    pub fn to_human(&self) -> Zeroizing<String> {
        let mut syms = Zeroizing::new(Vec::with_capacity(DATA_SYMBOLS + 1));
        // 128 bits → 26 symbols of 5 bits (130 bits, the last two are zero).
        let mut acc: u32 = 0;
        let mut bits = 0u32;
        for &b in &self.0 {
            acc = (acc << 8) | u32::from(b);
            bits += 8;
            while bits >= 5 {
                bits -= 5;
                syms.push(((acc >> bits) & 31) as u8);
            }
        }
        syms.push(((acc << (5 - bits)) & 31) as u8);
        acc.zeroize();
        let check = luhn32_check(&version_values(), &syms);
        syms.push(check);
        let mut out = Zeroizing::new(String::with_capacity(36));
        out.push_str(VERSION);
        for (i, &v) in syms.iter().enumerate() {
            if matches!(i, 0 | 6 | 12 | 17 | 22) {
                out.push('-');
            }
            out.push(char::from(ALPHABET[usize::from(v)]));
        }
        out
    }

    /// Parses the human form; a mistyped symbol, a wrong version or a wrong length is an error.
    pub fn parse(input: &str) -> Result<Self, CryptoError> {
        let mut vals: Zeroizing<Vec<u8>> = Zeroizing::new(Vec::with_capacity(30));
        for c in input.chars() {
            if c == '-' || c.is_whitespace() {
                continue;
            }
            vals.push(symbol_value(c).ok_or(CryptoError::InvalidSecretKey(
                "it contains a character that is not part of a Secret Key",
            ))?);
        }
        let version = version_values();
        if vals.len() < 2 || vals[..2] != version {
            return Err(CryptoError::InvalidSecretKey("it does not start with K1"));
        }
        if vals.len() != 2 + DATA_SYMBOLS + 1 {
            return Err(CryptoError::InvalidSecretKey(
                "it has the wrong number of characters",
            ));
        }
        let data = &vals[2..2 + DATA_SYMBOLS];
        if luhn32_check(&version, data) != vals[2 + DATA_SYMBOLS] {
            return Err(CryptoError::InvalidSecretKey(
                "a character is mistyped (the check character does not match)",
            ));
        }
        if data[DATA_SYMBOLS - 1] & 0b11 != 0 {
            return Err(CryptoError::InvalidSecretKey(
                "the last data character is not canonical",
            ));
        }
        let mut out = [0u8; 16];
        let mut acc: u32 = 0;
        let mut bits = 0u32;
        let mut i = 0;
        for &v in data {
            acc = (acc << 5) | u32::from(v);
            bits += 5;
            if bits >= 8 && i < 16 {
                bits -= 8;
                out[i] = (acc >> bits) as u8;
                i += 1;
            }
        }
        acc.zeroize();
        Ok(SecretKey(out))
    }
}

impl fmt::Debug for SecretKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretKey([REDACTED])")
    }
}

fn version_values() -> [u8; 2] {
    let mut v = [0u8; 2];
    for (i, c) in VERSION.chars().enumerate() {
        // Invariant: VERSION is made of alphabet symbols.
        #[allow(clippy::unwrap_used)]
        {
            v[i] = symbol_value(c).unwrap();
        }
    }
    v
}

fn symbol_value(c: char) -> Option<u8> {
    let c = match c.to_ascii_uppercase() {
        'O' => '0',
        'I' | 'L' => '1',
        c => c,
    };
    ALPHABET
        .iter()
        .position(|&a| char::from(a) == c)
        .map(|p| p as u8)
}

/// Luhn mod N (N = 32) check symbol over `prefix ‖ data`.
fn luhn32_check(prefix: &[u8], data: &[u8]) -> u8 {
    let n = 32u32;
    let mut sum = 0u32;
    let mut factor = 2u32;
    for &v in prefix.iter().chain(data).rev() {
        let addend = factor * u32::from(v);
        sum += addend / n + addend % n;
        factor = if factor == 2 { 1 } else { 2 };
    }
    ((n - (sum % n)) % n) as u8
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_format() {
        for _ in 0..200 {
            let k = SecretKey::generate().unwrap();
            let h = k.to_human();
            assert_eq!(h.len(), 2 + 5 + DATA_SYMBOLS + 1);
            assert!(h.starts_with("K1-"));
            assert_eq!(SecretKey::parse(&h).unwrap(), k);
            assert_eq!(
                SecretKey::parse(&h.to_lowercase().replace('-', " ")).unwrap(),
                k
            );
        }
    }

    #[test]
    fn known_answer() {
        let k = SecretKey::from_bytes(
            *b"\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f",
        );
        // Computed independently (Python) from the specification in docs/crypto.md §2.
        let h = k.to_human();
        assert_eq!(&*h, "K1-000G40-R40M30-E2091-85GR3-8E1W3");
        assert_eq!(
            SecretKey::parse("k1 oooG4o R4oM3o E2o9l 85GR3 8E1W3").unwrap(),
            k
        );
    }

    #[test]
    fn every_single_substitution_is_detected() {
        let k = SecretKey::generate().unwrap();
        let h = k.to_human();
        let chars: Vec<char> = h.chars().collect();
        for (i, &c) in chars.iter().enumerate() {
            if c == '-' || i < 2 {
                continue;
            }
            for &a in ALPHABET {
                let a = char::from(a);
                if a == c {
                    continue;
                }
                let mut m = chars.clone();
                m[i] = a;
                let s: String = m.into_iter().collect();
                assert!(
                    SecretKey::parse(&s).is_err(),
                    "substitution at {i} not detected"
                );
            }
        }
    }

    #[test]
    fn adjacent_swaps_are_detected() {
        for _ in 0..50 {
            let k = SecretKey::generate().unwrap();
            let h: String = k.to_human().replace('-', "");
            let chars: Vec<char> = h.chars().collect();
            for i in 2..chars.len() - 1 {
                if chars[i] == chars[i + 1] {
                    continue;
                }
                let mut m = chars.clone();
                m.swap(i, i + 1);
                let s: String = m.into_iter().collect();
                let v = (
                    symbol_value(chars[i]).unwrap(),
                    symbol_value(chars[i + 1]).unwrap(),
                );
                // Luhn mod N misses exactly one pair class: values 0 and N-1 in either order.
                if matches!(v, (0, 31) | (31, 0)) {
                    continue;
                }
                assert!(SecretKey::parse(&s).is_err(), "swap at {i} not detected");
            }
        }
    }

    #[test]
    fn bad_inputs_have_clear_errors() {
        let h = SecretKey::generate().unwrap().to_human();
        assert!(matches!(
            SecretKey::parse(""),
            Err(CryptoError::InvalidSecretKey(_))
        ));
        assert!(SecretKey::parse(&h.replacen("K1", "K2", 1)).is_err());
        assert!(SecretKey::parse(&h[..h.len() - 1]).is_err());
        assert!(SecretKey::parse(&format!("{}0", &*h)).is_err());
        assert!(SecretKey::parse(&h.replacen('-', "U", 1)).is_err());
        assert_eq!(
            format!("{:?}", SecretKey::generate().unwrap()),
            "SecretKey([REDACTED])"
        );
    }
}
