//! The in-memory search index, built at unlock and dropped (zeroized) at lock. It covers
//! titles, tags, folders and every field that is not a secret (usernames, URLs, notes,
//! contact details…). Each query word matches words of an item by prefix, or with one typo
//! for words of four letters or more; every query word must match. Filters narrow by kind,
//! folder and tag.

use std::collections::{BTreeMap, HashMap};

use uuid::Uuid;
use zeroize::Zeroize;

use crate::item::{ItemData, ItemKind};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub kind: Option<ItemKind>,
    pub folder: Option<String>,
    pub tag: Option<String>,
    pub include_trashed: bool,
}

struct Doc {
    id: Uuid,
    kind: ItemKind,
    folder: Option<String>,
    tags: Vec<String>,
    trashed: bool,
    title: String,
}

#[derive(Default)]
pub struct Index {
    docs: Vec<Doc>,
    by_id: HashMap<Uuid, u32>,
    /// word → documents containing it (ascending, deduplicated).
    words: BTreeMap<String, Vec<u32>>,
    /// word → documents whose title contains it (for ranking).
    title_words: BTreeMap<String, Vec<u32>>,
}

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
}

/// At most one edit (insert, delete, substitute) between `a` and `b`.
fn within_one_edit(a: &str, b: &str) -> bool {
    let (a, b): (Vec<char>, Vec<char>) = (a.chars().collect(), b.chars().collect());
    let (short, long) = if a.len() <= b.len() {
        (&a, &b)
    } else {
        (&b, &a)
    };
    if long.len() - short.len() > 1 {
        return false;
    }
    let (mut i, mut j, mut edits) = (0, 0, 0);
    while i < short.len() && j < long.len() {
        if short[i] == long[j] {
            i += 1;
            j += 1;
            continue;
        }
        edits += 1;
        if edits > 1 {
            return false;
        }
        if short.len() == long.len() {
            i += 1;
        }
        j += 1;
    }
    edits + (long.len() - j) + (short.len() - i) <= 1
}

impl Index {
    pub fn build<'a>(items: impl IntoIterator<Item = (Uuid, &'a ItemData)>) -> Index {
        let mut ix = Index::default();
        for (id, d) in items {
            ix.insert(id, d);
        }
        for list in ix.words.values_mut() {
            list.sort_unstable();
            list.dedup();
        }
        ix
    }

    fn insert(&mut self, id: Uuid, d: &ItemData) {
        let n = self.docs.len() as u32;
        self.by_id.insert(id, n);
        let add = |w: String, title: bool, ix: &mut Index| {
            if title {
                ix.title_words.entry(w.clone()).or_default().push(n);
            }
            ix.words.entry(w).or_default().push(n);
        };
        for w in words(&d.title) {
            add(w, true, self);
        }
        let texts = d
            .fields
            .iter()
            .filter(|(k, _)| !d.kind.is_secret(k))
            .map(|(_, v)| v.as_str())
            .chain(d.tags.iter().map(String::as_str))
            .chain(d.folder.iter().map(String::as_str));
        let collected: Vec<String> = texts.flat_map(words).collect();
        for w in collected {
            add(w, false, self);
        }
        self.docs.push(Doc {
            id,
            kind: d.kind,
            folder: d.folder.clone(),
            tags: d.tags.clone(),
            trashed: d.trashed,
            title: d.title.to_lowercase(),
        });
    }

    pub fn len(&self) -> usize {
        self.docs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// Documents matching one query word: by prefix, or within one edit.
    fn matching(&self, q: &str) -> Vec<u32> {
        let mut out: Vec<u32> = Vec::new();
        for (w, docs) in self.words.range(q.to_string()..) {
            if !w.starts_with(q) {
                break;
            }
            out.extend(docs);
        }
        if q.chars().count() >= 4 {
            // Typos: candidate words share the first letter and have a close length.
            let first: String = q.chars().take(1).collect();
            let qlen = q.chars().count();
            for (w, docs) in self.words.range(first.clone()..) {
                if !w.starts_with(&first) {
                    break;
                }
                let wlen = w.chars().count();
                if wlen + 1 >= qlen && wlen <= qlen + 1 && within_one_edit(w, q) {
                    out.extend(docs);
                }
            }
        }
        out.sort_unstable();
        out.dedup();
        out
    }

    /// Ids of matching items: title matches first, then by title.
    pub fn search(&self, query: &str, filter: &Filter) -> Vec<Uuid> {
        self.positions(query, filter)
            .into_iter()
            .map(|n| self.docs[n].id)
            .collect()
    }

    /// Like [`Index::search`], as positions in the order the items were given to
    /// [`Index::build`], so a caller holding those items needs no lookup.
    pub fn positions(&self, query: &str, filter: &Filter) -> Vec<usize> {
        let terms: Vec<String> = words(query).collect();
        let mut hits: Option<Vec<u32>> = None;
        for t in &terms {
            let m = self.matching(t);
            hits = Some(match hits {
                None => m,
                Some(h) => h
                    .into_iter()
                    .filter(|d| m.binary_search(d).is_ok())
                    .collect(),
            });
        }
        let candidates: Vec<u32> = match hits {
            Some(h) => h,
            None => (0..self.docs.len() as u32).collect(),
        };
        let keep = |d: &Doc| {
            (filter.include_trashed || !d.trashed)
                && filter.kind.is_none_or(|k| d.kind == k)
                && filter
                    .folder
                    .as_ref()
                    .is_none_or(|f| d.folder.as_deref() == Some(f.as_str()))
                && filter
                    .tag
                    .as_ref()
                    .is_none_or(|t| d.tags.iter().any(|x| x == t))
        };
        let mut title_hits = std::collections::HashSet::new();
        for t in &terms {
            for (w, docs) in self.title_words.range(t.clone()..) {
                if !w.starts_with(t.as_str()) {
                    break;
                }
                title_hits.extend(docs.iter().copied());
            }
        }
        let in_title = |n: u32| title_hits.contains(&n);
        let mut out: Vec<(bool, &str, Uuid, usize)> = candidates
            .into_iter()
            .filter(|&n| keep(&self.docs[n as usize]))
            .map(|n| {
                let d = &self.docs[n as usize];
                (
                    !(terms.is_empty() || in_title(n)),
                    d.title.as_str(),
                    d.id,
                    n as usize,
                )
            })
            .collect();
        out.sort();
        out.into_iter().map(|(_, _, _, n)| n).collect()
    }
}

impl Drop for Index {
    fn drop(&mut self) {
        for d in &mut self.docs {
            d.title.zeroize();
            d.folder.zeroize();
            d.tags.iter_mut().for_each(Zeroize::zeroize);
        }
        for (mut w, _) in std::mem::take(&mut self.words) {
            w.zeroize();
        }
        for (mut w, _) in std::mem::take(&mut self.title_words) {
            w.zeroize();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(
        kind: ItemKind,
        title: &str,
        fields: &[(&str, &str)],
        tags: &[&str],
        folder: Option<&str>,
    ) -> ItemData {
        ItemData {
            fields: fields
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            folder: folder.map(String::from),
            tags: tags.iter().map(|t| t.to_string()).collect(),
            ..ItemData::new(kind, title)
        }
    }

    #[test]
    fn prefix_fuzzy_and_filters() {
        let items = [
            (
                Uuid::from_u128(1),
                item(
                    ItemKind::Login,
                    "Bank of Zurich",
                    &[
                        ("username", "alice"),
                        ("url", "https://ebanking.zkb.ch"),
                        ("password", "hunter2"),
                    ],
                    &["finance"],
                    Some("Money"),
                ),
            ),
            (
                Uuid::from_u128(2),
                item(
                    ItemKind::Note,
                    "Wifi at home",
                    &[("notes", "router in the bank drawer")],
                    &[],
                    None,
                ),
            ),
            (
                Uuid::from_u128(3),
                item(
                    ItemKind::Contact,
                    "Bob Martin",
                    &[
                        ("email", "bob@example.org"),
                        ("organization", "Acme Banking"),
                    ],
                    &["work"],
                    None,
                ),
            ),
        ];
        let ix = Index::build(items.iter().map(|(id, d)| (*id, d)));
        let all = Filter::default();
        // Prefix; the title match ranks first.
        assert_eq!(
            ix.search("ban", &all),
            vec![Uuid::from_u128(1), Uuid::from_u128(3), Uuid::from_u128(2)]
        );
        // Several words must all match.
        assert_eq!(ix.search("bank alice", &all), vec![Uuid::from_u128(1)]);
        // URLs, contact fields and notes are searchable; secrets are not.
        assert_eq!(ix.search("zkb", &all), vec![Uuid::from_u128(1)]);
        assert_eq!(ix.search("example", &all), vec![Uuid::from_u128(3)]);
        assert_eq!(ix.search("drawer", &all), vec![Uuid::from_u128(2)]);
        assert!(ix.search("hunter2", &all).is_empty());
        // One typo.
        assert_eq!(
            ix.search("zurihc", &all),
            Vec::<Uuid>::new(),
            "a swap is two edits"
        );
        assert_eq!(ix.search("zurch", &all), vec![Uuid::from_u128(1)]);
        assert_eq!(ix.search("marrtin", &all), vec![Uuid::from_u128(3)]);
        // Filters.
        assert_eq!(
            ix.search(
                "",
                &Filter {
                    kind: Some(ItemKind::Note),
                    ..all.clone()
                }
            ),
            vec![Uuid::from_u128(2)]
        );
        assert_eq!(
            ix.search(
                "",
                &Filter {
                    tag: Some("work".into()),
                    ..all.clone()
                }
            ),
            vec![Uuid::from_u128(3)]
        );
        assert_eq!(
            ix.search(
                "",
                &Filter {
                    folder: Some("Money".into()),
                    ..all.clone()
                }
            ),
            vec![Uuid::from_u128(1)]
        );
    }

    #[test]
    fn edit_distance() {
        assert!(within_one_edit("martin", "marrtin"));
        assert!(within_one_edit("martin", "martn"));
        assert!(within_one_edit("martin", "marten"));
        assert!(!within_one_edit("martin", "mratin"));
        assert!(!within_one_edit("abc", "abcde"));
        assert!(within_one_edit("abc", "abc"));
    }
}
