//! The in-memory search index, built after unlock and dropped (zeroized) at lock. It covers
//! titles, tags, folders and every field that is not a secret (usernames, URLs, notes,
//! contact details…). Each query word matches words of an item by prefix, or with one typo
//! for words of four letters or more; every query word must match. Filters narrow by kind,
//! folder and tag. [`Index::to_bytes`] and [`Index::from_bytes`] let the client keep a
//! sealed copy in its cache, so that unlocking a large vault does not rebuild it.

use uuid::Uuid;
use zeroize::Zeroize;

use crate::item::{ItemData, ItemKind};

#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Filter {
    pub kind: Option<ItemKind>,
    pub folder: Option<String>,
    pub tag: Option<String>,
    pub include_trashed: bool,
    /// The trash alone.
    pub only_trashed: bool,
}

struct Doc {
    id: Uuid,
    kind: ItemKind,
    folder: Option<String>,
    tags: Vec<String>,
    trashed: bool,
}

/// A set of documents, one bit each: unions and intersections in O(documents / 64).
struct Bits(Vec<u64>);

impl Bits {
    fn new(n: usize) -> Bits {
        Bits(vec![0; n.div_ceil(64)])
    }
    fn set(&mut self, d: u32) {
        self.0[d as usize / 64] |= 1 << (d % 64);
    }
    fn has(&self, d: u32) -> bool {
        self.0[d as usize / 64] & (1 << (d % 64)) != 0
    }
    fn and(mut self, other: &Bits) -> Bits {
        for (a, b) in self.0.iter_mut().zip(&other.0) {
            *a &= b;
        }
        self
    }
    fn ones(&self) -> impl Iterator<Item = u32> + '_ {
        self.0.iter().enumerate().flat_map(|(i, &w)| {
            let mut w = w;
            std::iter::from_fn(move || {
                (w != 0).then(|| {
                    let b = w.trailing_zeros();
                    w &= w - 1;
                    i as u32 * 64 + b
                })
            })
        })
    }
}

/// Documents are numbered in title order, so a set of them read in order is already sorted
/// by title: ranking needs no sort.
#[derive(Default)]
pub struct Index {
    docs: Vec<Doc>,
    /// word → documents containing it (ascending), sorted by word.
    words: Vec<(String, Vec<u32>)>,
    /// word → documents whose title contains it (for ranking), sorted by word.
    title_words: Vec<(String, Vec<u32>)>,
}

/// The entries of a sorted word list that start with `prefix`.
fn with_prefix<'a>(
    list: &'a [(String, Vec<u32>)],
    prefix: &'a str,
) -> impl Iterator<Item = &'a (String, Vec<u32>)> {
    list[list.partition_point(|(w, _)| w.as_str() < prefix)..]
        .iter()
        .take_while(move |(w, _)| w.starts_with(prefix))
}

fn words(text: &str) -> impl Iterator<Item = String> + '_ {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(|w| w.chars().flat_map(char::to_lowercase).collect())
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

/// Word lists while building: hashed (cheap inserts), sorted once at the end.
#[derive(Default)]
struct Postings(rustc_hash::FxHashMap<String, Vec<u32>>);

impl Postings {
    /// Adds document `n` under each word of `text` (lowercased into `buf`, so a word
    /// already known costs no allocation).
    fn add_words(&mut self, text: &str, n: u32, buf: &mut String) {
        for w in text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            buf.clear();
            if w.is_ascii() {
                buf.push_str(w);
                buf.make_ascii_lowercase();
            } else {
                buf.extend(w.chars().flat_map(char::to_lowercase));
            }
            match self.0.get_mut(buf.as_str()) {
                // Documents arrive in order: a word repeated in one document is the last entry.
                Some(list) if list.last() == Some(&n) => {}
                Some(list) => list.push(n),
                None => {
                    self.0.insert(buf.clone(), vec![n]);
                }
            }
        }
    }

    /// Appends `later`, whose documents all come after this one's (lists stay sorted).
    fn append(&mut self, later: Postings) {
        for (w, list) in later.0 {
            match self.0.get_mut(&w) {
                Some(l) => l.extend(list),
                None => {
                    self.0.insert(w, list);
                }
            }
        }
    }

    fn into_sorted(self) -> Vec<(String, Vec<u32>)> {
        let mut v: Vec<(String, Vec<u32>)> = self.0.into_iter().collect();
        v.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

/// The words of documents `first..` of `docs` (all words, and title words).
fn postings(docs: &[(Uuid, &ItemData)], first: u32) -> (Postings, Postings) {
    let (mut all, mut titles) = (Postings::default(), Postings::default());
    let mut buf = String::new();
    for (i, (_, d)) in docs.iter().enumerate() {
        let n = first + i as u32;
        titles.add_words(&d.title, n, &mut buf);
        let texts = std::iter::once(d.title.as_str())
            .chain(
                d.fields
                    .iter()
                    .filter(|(k, _)| !d.kind.is_secret(k))
                    .map(|(_, v)| v.as_str()),
            )
            .chain(d.tags.iter().map(String::as_str))
            .chain(d.folder.iter().map(String::as_str));
        for t in texts {
            all.add_words(t, n, &mut buf);
        }
    }
    buf.zeroize();
    (all, titles)
}

impl Index {
    /// Builds the index on every core: documents are numbered in title order, cut into one
    /// range per core, and each range's word lists are appended in order.
    pub fn build<'a>(items: impl IntoIterator<Item = (Uuid, &'a ItemData)>) -> Index {
        let mut ix = Index::default();
        let mut keyed: Vec<(String, Uuid, &ItemData)> = items
            .into_iter()
            .map(|(id, d)| (d.title.to_lowercase(), id, d))
            .collect();
        keyed.sort_unstable_by(|a, b| (&a.0, a.1).cmp(&(&b.0, b.1)));
        let sorted: Vec<(Uuid, &ItemData)> = keyed
            .into_iter()
            .map(|(mut title, id, d)| {
                title.zeroize();
                (id, d)
            })
            .collect();
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let chunk = sorted.len().div_ceil(threads).max(4096);
        let parts: Vec<(Postings, Postings)> = std::thread::scope(|s| {
            let handles: Vec<_> = sorted
                .chunks(chunk)
                .enumerate()
                .map(|(i, c)| s.spawn(move || postings(c, (i * chunk) as u32)))
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        let (mut all, mut titles) = (Postings::default(), Postings::default());
        for (a, t) in parts {
            all.append(a);
            titles.append(t);
        }
        for (id, d) in &sorted {
            ix.docs.push(Doc {
                id: *id,
                kind: d.kind,
                folder: d.folder.clone(),
                tags: d.tags.clone(),
                trashed: d.trashed,
            });
        }
        ix.words = all.into_sorted();
        ix.title_words = titles.into_sorted();
        ix
    }

    pub fn len(&self) -> usize {
        self.docs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.docs.is_empty()
    }

    /// Documents matching one query word: by prefix, or within one edit.
    fn matching(&self, q: &str) -> Bits {
        let mut out = Bits::new(self.docs.len());
        for (_, docs) in with_prefix(&self.words, q) {
            docs.iter().for_each(|&d| out.set(d));
        }
        if q.chars().count() >= 4 {
            // Typos: candidate words share the first letter and have a close length.
            let first: String = q.chars().take(1).collect();
            let qlen = q.chars().count();
            for (w, docs) in with_prefix(&self.words, &first) {
                let wlen = w.chars().count();
                if wlen + 1 >= qlen && wlen <= qlen + 1 && within_one_edit(w, q) {
                    docs.iter().for_each(|&d| out.set(d));
                }
            }
        }
        out
    }

    /// Ids of matching items: title matches first, each group in title order.
    pub fn search(&self, query: &str, filter: &Filter) -> Vec<Uuid> {
        let terms: Vec<String> = words(query).collect();
        let hits = terms
            .iter()
            .map(|t| self.matching(t))
            .reduce(|a, b| a.and(&b));
        let keep = |d: &Doc| {
            (filter.include_trashed || filter.only_trashed || !d.trashed)
                && (!filter.only_trashed || d.trashed)
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
        let mut in_title = Bits::new(self.docs.len());
        for t in &terms {
            for (_, docs) in with_prefix(&self.title_words, t) {
                docs.iter().for_each(|&d| in_title.set(d));
            }
        }
        // Title matches first, each group in title order (the order of document numbers).
        let (mut first, mut rest) = (Vec::new(), Vec::new());
        let mut take = |n: u32| {
            let d = &self.docs[n as usize];
            if keep(d) {
                if terms.is_empty() || in_title.has(n) {
                    first.push(d.id);
                } else {
                    rest.push(d.id);
                }
            }
        };
        match &hits {
            Some(h) => h.ones().for_each(&mut take),
            None => (0..self.docs.len() as u32).for_each(&mut take),
        }
        first.extend(rest);
        first
    }
}

/// Serialization of an index: `K7IX`, version 1, then documents and word lists, all
/// lengths and numbers little-endian u32. Only ever stored sealed (the client seals it).
const MAGIC: &[u8; 5] = b"K7IX\x01";

struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        if self.0.len() < n {
            return None;
        }
        let (a, b) = self.0.split_at(n);
        self.0 = b;
        Some(a)
    }
    fn u32(&mut self) -> Option<u32> {
        Some(u32::from_le_bytes(self.take(4)?.try_into().ok()?))
    }
    fn str(&mut self) -> Option<String> {
        let n = self.u32()? as usize;
        String::from_utf8(self.take(n)?.to_vec()).ok()
    }
    fn lists(&mut self, docs: u32) -> Option<Vec<(String, Vec<u32>)>> {
        let n = self.u32()? as usize;
        let mut out = Vec::with_capacity(n.min(1 << 20));
        for _ in 0..n {
            let w = self.str()?;
            let k = self.u32()? as usize;
            let raw = self.take(k.checked_mul(4)?)?;
            let list: Vec<u32> = raw
                .chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect();
            if list.iter().any(|&d| d >= docs) {
                return None;
            }
            out.push((w, list));
        }
        Some(out)
    }
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.extend_from_slice(&(s.len() as u32).to_le_bytes());
    out.extend_from_slice(s.as_bytes());
}

fn put_lists(out: &mut Vec<u8>, lists: &[(String, Vec<u32>)]) {
    out.extend_from_slice(&(lists.len() as u32).to_le_bytes());
    for (w, l) in lists {
        put_str(out, w);
        out.extend_from_slice(&(l.len() as u32).to_le_bytes());
        for d in l {
            out.extend_from_slice(&d.to_le_bytes());
        }
    }
}

impl Index {
    pub fn to_bytes(&self) -> zeroize::Zeroizing<Vec<u8>> {
        let mut out = zeroize::Zeroizing::new(Vec::new());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.docs.len() as u32).to_le_bytes());
        for d in &self.docs {
            out.extend_from_slice(d.id.as_bytes());
            out.extend_from_slice(&u32::from(d.kind.number()).to_le_bytes());
            out.push(u8::from(d.trashed));
            match &d.folder {
                Some(f) => {
                    out.push(1);
                    put_str(&mut out, f);
                }
                None => out.push(0),
            }
            out.extend_from_slice(&(d.tags.len() as u32).to_le_bytes());
            for t in &d.tags {
                put_str(&mut out, t);
            }
        }
        put_lists(&mut out, &self.words);
        put_lists(&mut out, &self.title_words);
        out
    }

    /// Reads what [`Index::to_bytes`] wrote; `None` for anything else (the caller rebuilds).
    pub fn from_bytes(bytes: &[u8]) -> Option<Index> {
        let mut r = Reader(bytes);
        if r.take(MAGIC.len())? != MAGIC {
            return None;
        }
        let n = r.u32()?;
        let mut ix = Index::default();
        for _ in 0..n {
            let id = Uuid::from_slice(r.take(16)?).ok()?;
            let kind = ItemKind::from_number(u16::try_from(r.u32()?).ok()?)?;
            let trashed = r.take(1)?[0] == 1;
            let folder = match r.take(1)?[0] {
                1 => Some(r.str()?),
                _ => None,
            };
            let tags = (0..r.u32()?).map(|_| r.str()).collect::<Option<_>>()?;
            ix.docs.push(Doc {
                id,
                kind,
                folder,
                tags,
                trashed,
            });
        }
        ix.words = r.lists(n)?;
        ix.title_words = r.lists(n)?;
        r.0.is_empty().then_some(ix)
    }
}

impl Drop for Index {
    fn drop(&mut self) {
        for d in &mut self.docs {
            d.folder.zeroize();
            d.tags.iter_mut().for_each(Zeroize::zeroize);
        }
        for (w, _) in self.words.iter_mut().chain(self.title_words.iter_mut()) {
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
    fn a_large_index_built_in_parallel_answers_like_a_small_one() {
        // Enough items for several ranges, so the merge of per-core word lists is exercised.
        let items: Vec<(Uuid, ItemData)> = (0..20_000u128)
            .map(|i| {
                let d = item(
                    ItemKind::Login,
                    &format!("item{:05} shared", 19_999 - i),
                    &[("username", &format!("user{i}")), ("password", "secret")],
                    &[if i % 2 == 0 { "even" } else { "odd" }],
                    None,
                );
                (Uuid::from_u128(i), d)
            })
            .collect();
        let ix = Index::build(items.iter().map(|(id, d)| (*id, d)));
        let all = Filter::default();
        let shared = ix.search("shared", &all);
        assert_eq!(shared.len(), 20_000);
        // Title order: "item00000" is the last item given.
        assert_eq!(shared[0], Uuid::from_u128(19_999));
        assert_eq!(shared[19_999], Uuid::from_u128(0));
        // Exact words are found in every range (with their one-typo neighbours).
        for i in [0u128, 4_095, 4_096, 12_345, 19_999] {
            assert!(
                ix.search(&format!("user{i}"), &all)
                    .contains(&Uuid::from_u128(i))
            );
        }
        assert_eq!(ix.search("even shared", &all).len(), 10_000);
        assert!(ix.search("secret", &all).is_empty());
        // A stored copy answers the same; damaged copies are refused, never half-read.
        let bytes = ix.to_bytes();
        let back = Index::from_bytes(&bytes).unwrap();
        for q in ["shared", "even", "user7", "item0001", ""] {
            assert_eq!(back.search(q, &all), ix.search(q, &all), "{q}");
        }
        assert!(Index::from_bytes(&bytes[..bytes.len() - 1]).is_none());
        let mut longer = bytes.to_vec();
        longer.push(0);
        assert!(Index::from_bytes(&longer).is_none());
        assert!(Index::from_bytes(b"K7IX\x02").is_none());
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
    fn the_trash_is_left_out_included_or_alone() {
        let live = item(ItemKind::Note, "Live note", &[], &[], None);
        let gone = ItemData {
            trashed: true,
            ..item(ItemKind::Note, "Old note", &[], &[], None)
        };
        let items = [(Uuid::from_u128(1), live), (Uuid::from_u128(2), gone)];
        let ix = Index::build(items.iter().map(|(id, d)| (*id, d)));
        let with = |f: Filter| ix.search("note", &f);
        assert_eq!(with(Filter::default()), vec![Uuid::from_u128(1)]);
        let both = with(Filter {
            include_trashed: true,
            ..Filter::default()
        });
        assert_eq!(both.len(), 2);
        let only = with(Filter {
            only_trashed: true,
            ..Filter::default()
        });
        assert_eq!(only, vec![Uuid::from_u128(2)]);
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
