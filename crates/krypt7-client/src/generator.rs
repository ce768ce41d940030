//! Password and passphrase generation from the OS CSPRNG, with the entropy reported.
//! Every choice is uniform (rejection sampling, never a biased modulo).

use ring::rand::{SecureRandom, SystemRandom};
use zeroize::Zeroizing;

use crate::error::{ClientError, Result};

const LOWER: &str = "abcdefghijklmnopqrstuvwxyz";
const UPPER: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";
const DIGITS: &str = "0123456789";
const SYMBOLS: &str = "!#$%&()*+,-./:;<=>?@[]^_{}~";
/// Characters easily mistaken for one another.
const LOOKALIKES: &str = "Il1O0o";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PasswordRules {
    pub length: usize,
    pub lowercase: bool,
    pub uppercase: bool,
    pub digits: bool,
    pub symbols: bool,
    pub exclude_lookalikes: bool,
}

impl Default for PasswordRules {
    fn default() -> Self {
        PasswordRules {
            length: 20,
            lowercase: true,
            uppercase: true,
            digits: true,
            symbols: true,
            exclude_lookalikes: true,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PassphraseRules {
    pub words: usize,
    pub separator: String,
    pub capitalize: bool,
    /// Append one random digit to one random word.
    pub digit: bool,
}

impl Default for PassphraseRules {
    fn default() -> Self {
        PassphraseRules {
            words: 6,
            separator: "-".into(),
            capitalize: false,
            digit: false,
        }
    }
}

/// A generated secret and its entropy in bits.
pub struct Generated {
    pub value: Zeroizing<String>,
    pub entropy_bits: f64,
}

impl std::fmt::Debug for Generated {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Generated {{ value: [REDACTED], entropy_bits: {:.1} }}",
            self.entropy_bits
        )
    }
}

/// A uniform integer in `0..n`.
fn below(rng: &SystemRandom, n: usize) -> Result<usize> {
    let n = n as u64;
    let limit = u64::MAX - u64::MAX % n;
    loop {
        let mut b = [0u8; 8];
        rng.fill(&mut b).map_err(|_| {
            ClientError::Invalid("the system random number generator failed".into())
        })?;
        let v = u64::from_le_bytes(b);
        if v < limit {
            return Ok((v % n) as usize);
        }
    }
}

pub fn password(rules: &PasswordRules) -> Result<Generated> {
    if !(8..=128).contains(&rules.length) {
        return Err(ClientError::Invalid("the length must be 8 to 128".into()));
    }
    let keep = |set: &str| -> Vec<char> {
        set.chars()
            .filter(|c| !(rules.exclude_lookalikes && LOOKALIKES.contains(*c)))
            .collect()
    };
    let classes: Vec<Vec<char>> = [
        (rules.lowercase, LOWER),
        (rules.uppercase, UPPER),
        (rules.digits, DIGITS),
        (rules.symbols, SYMBOLS),
    ]
    .into_iter()
    .filter(|(on, _)| *on)
    .map(|(_, set)| keep(set))
    .collect();
    if classes.is_empty() {
        return Err(ClientError::Invalid(
            "choose at least one kind of character".into(),
        ));
    }
    let pool: Vec<char> = classes.concat();
    let rng = SystemRandom::new();
    // Draw uniformly from the pool until every chosen class appears: uniform over the
    // passwords that satisfy the rules.
    loop {
        let mut s = Zeroizing::new(String::with_capacity(rules.length));
        for _ in 0..rules.length {
            s.push(pool[below(&rng, pool.len())?]);
        }
        if classes.iter().all(|c| s.chars().any(|x| c.contains(&x))) {
            return Ok(Generated {
                value: s,
                entropy_bits: rules.length as f64 * (pool.len() as f64).log2(),
            });
        }
    }
}

pub fn passphrase(rules: &PassphraseRules) -> Result<Generated> {
    if !(3..=20).contains(&rules.words) {
        return Err(ClientError::Invalid(
            "a passphrase has 3 to 20 words".into(),
        ));
    }
    let list = eff_wordlist::large::LIST;
    let rng = SystemRandom::new();
    let mut words: Vec<String> = Vec::with_capacity(rules.words);
    for _ in 0..rules.words {
        let w = list[below(&rng, list.len())?].1;
        words.push(if rules.capitalize {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_uppercase().collect::<String>() + c.as_str())
                .unwrap_or_default()
        } else {
            w.to_string()
        });
    }
    let mut entropy = rules.words as f64 * (list.len() as f64).log2();
    if rules.digit {
        let at = below(&rng, words.len())?;
        let d = below(&rng, 10)?;
        words[at].push_str(&d.to_string());
        entropy += 10f64.log2() + (rules.words as f64).log2();
    }
    let value = Zeroizing::new(words.join(&rules.separator));
    words.iter_mut().for_each(zeroize::Zeroize::zeroize);
    Ok(Generated {
        value,
        entropy_bits: entropy,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_follow_the_rules() {
        for _ in 0..200 {
            let g = password(&PasswordRules::default()).unwrap();
            assert_eq!(g.value.chars().count(), 20);
            assert!(g.value.chars().any(|c| c.is_ascii_lowercase()));
            assert!(g.value.chars().any(|c| c.is_ascii_uppercase()));
            assert!(g.value.chars().any(|c| c.is_ascii_digit()));
            assert!(g.value.chars().any(|c| SYMBOLS.contains(c)));
            assert!(!g.value.chars().any(|c| LOOKALIKES.contains(c)));
        }
        let digits = password(&PasswordRules {
            length: 12,
            lowercase: false,
            uppercase: false,
            digits: true,
            symbols: false,
            exclude_lookalikes: false,
        })
        .unwrap();
        assert!(digits.value.chars().all(|c| c.is_ascii_digit()));
        assert!((digits.entropy_bits - 12.0 * 10f64.log2()).abs() < 1e-9);
        assert!(
            password(&PasswordRules {
                length: 7,
                ..Default::default()
            })
            .is_err()
        );
        assert!(
            password(&PasswordRules {
                lowercase: false,
                uppercase: false,
                digits: false,
                symbols: false,
                ..Default::default()
            })
            .is_err()
        );
        assert!(format!("{:?}", password(&PasswordRules::default()).unwrap()).contains("REDACTED"));
    }

    #[test]
    fn every_character_is_reachable() {
        // 2,000 draws of 8 digits cover all ten digits (a biased or broken draw would not).
        let mut seen = std::collections::HashSet::new();
        for _ in 0..2000 {
            let g = password(&PasswordRules {
                length: 8,
                lowercase: false,
                uppercase: false,
                digits: true,
                symbols: false,
                exclude_lookalikes: false,
            })
            .unwrap();
            seen.extend(g.value.chars());
        }
        assert_eq!(seen.len(), 10);
    }

    #[test]
    fn passphrases_use_the_eff_large_list() {
        assert_eq!(eff_wordlist::large::LIST.len(), 7776);
        let g = passphrase(&PassphraseRules::default()).unwrap();
        let words: Vec<&str> = g.value.split('-').collect();
        assert_eq!(words.len(), 6);
        assert!(
            words
                .iter()
                .all(|w| eff_wordlist::large::LIST.iter().any(|(_, x)| x == w))
        );
        assert!(
            (g.entropy_bits - 6.0 * 7776f64.log2()).abs() < 1e-9,
            "≈ 77.5 bits"
        );
        let g = passphrase(&PassphraseRules {
            words: 4,
            separator: " ".into(),
            capitalize: true,
            digit: true,
        })
        .unwrap();
        assert_eq!(g.value.split(' ').count(), 4);
        assert!(
            g.value
                .split(' ')
                .all(|w| w.chars().next().unwrap().is_uppercase())
        );
        assert_eq!(g.value.chars().filter(|c| c.is_ascii_digit()).count(), 1);
        assert!(
            passphrase(&PassphraseRules {
                words: 2,
                ..Default::default()
            })
            .is_err()
        );
    }
}
