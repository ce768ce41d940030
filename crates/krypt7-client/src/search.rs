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
    /// Favourites alone.
    pub only_favorites: bool,
    /// Conflict copies alone (items a sync kept from a concurrent edit).
    pub only_conflicts: bool,
}

/// What every search reads of a document: small and in one array, so that walking many
/// documents stays in cache.
#[derive(Clone, Copy)]
struct Hot {
    id: Uuid,
    kind: ItemKind,
    trashed: bool,
    favorite: bool,
    /// A conflict copy.
    conflict: bool,
    /// False once the item was removed or replaced (its number stays until compaction).
    live: bool,
}

/// What only ranking a few documents and the folder and tag filters read.
struct Cold {
    /// The lowercased title: the ranking key (with the id).
    key: String,
    folder: Option<String>,
    tags: Vec<String>,
}

impl Cold {
    fn wipe(&mut self) {
        self.key.zeroize();
        self.folder.zeroize();
        self.tags.iter_mut().for_each(Zeroize::zeroize);
    }
}

/// Documents by number, as columns.
#[derive(Default)]
struct Docs {
    hot: Vec<Hot>,
    cold: Vec<Cold>,
}

impl Docs {
    /// Takes the document's title, folder and tags out of `d` (no copies).
    fn push(&mut self, id: Uuid, d: &mut ItemData) {
        self.hot.push(Hot {
            id,
            kind: d.kind,
            trashed: d.trashed,
            favorite: d.favorite,
            conflict: d.conflict_of.is_some(),
            live: true,
        });
        let mut key = std::mem::take(&mut d.title);
        if key.is_ascii() {
            key.make_ascii_lowercase();
        } else {
            let lower = key.to_lowercase();
            key.zeroize();
            key = lower;
        }
        self.cold.push(Cold {
            key,
            folder: d.folder.take(),
            tags: std::mem::take(&mut d.tags),
        });
    }

    fn len(&self) -> usize {
        self.hot.len()
    }

    /// Title order of documents `x` and `y` (by lowercased title, then id).
    fn cmp(&self, x: u32, y: u32) -> std::cmp::Ordering {
        let (x, y) = (x as usize, y as usize);
        (&self.cold[x].key, self.hot[x].id).cmp(&(&self.cold[y].key, self.hot[y].id))
    }

    fn extend(&mut self, other: Docs) {
        self.hot.extend(other.hot);
        self.cold.extend(other.cold);
    }
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

/// The high bit of an entry of a word's document list: the word is in that document's title
/// (title matches rank first). The other bits are the document's number.
const IN_TITLE: u32 = 1 << 31;
const NUMBER: u32 = IN_TITLE - 1;

/// Documents are numbered in the order they were added; `order` lists the live ones by
/// title, so that ranking never sorts a large result. Changes are applied in place
/// ([`Index::upsert`], [`Index::remove`]): an edit costs microseconds, not a rebuild.
#[derive(Default)]
pub struct Index {
    docs: Docs,
    /// Live documents by (lowercased title, id).
    order: Vec<u32>,
    /// Document number → its place in `order` (meaningless for documents not live).
    rank: Vec<u32>,
    /// word → documents containing it (ascending numbers, [`IN_TITLE`] set where the
    /// word is in the title), sorted by word.
    words: Vec<(String, Vec<u32>)>,
    /// id → number of live documents; made on the first change.
    numbers: Option<rustc_hash::FxHashMap<Uuid, u32>>,
    /// Documents no longer live, still numbered.
    dead: usize,
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
    /// already known costs no allocation). Documents arrive in ascending order.
    fn add_words(&mut self, text: &str, n: u32, buf: &mut String) {
        if text.is_ascii() {
            // The common case, byte by byte: the same words as below, without decoding.
            let b = text.as_bytes();
            let mut start = 0;
            while start < b.len() {
                if !b[start].is_ascii_alphanumeric() {
                    start += 1;
                    continue;
                }
                let end = b[start..]
                    .iter()
                    .position(|c| !c.is_ascii_alphanumeric())
                    .map_or(b.len(), |k| start + k);
                buf.clear();
                buf.push_str(&text[start..end]);
                buf.make_ascii_lowercase();
                self.note(buf, n);
                start = end;
            }
            return;
        }
        for w in text
            .split(|c: char| !c.is_alphanumeric())
            .filter(|w| !w.is_empty())
        {
            buf.clear();
            buf.extend(w.chars().flat_map(char::to_lowercase));
            self.note(buf, n);
        }
    }

    /// `n`: a document number, with [`IN_TITLE`] or not.
    fn note(&mut self, word: &str, n: u32) {
        match self.0.get_mut(word) {
            // A word repeated in one document is the last entry.
            Some(list) if list.last().is_some_and(|l| l & NUMBER == n & NUMBER) => {}
            Some(list) => list.push(n),
            None => {
                self.0.insert(word.to_owned(), vec![n]);
            }
        }
    }

    fn into_sorted(self) -> Vec<(String, Vec<u32>)> {
        let mut v: Vec<(String, Vec<u32>)> = self.0.into_iter().collect();
        v.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        v
    }
}

/// One range of documents, indexed on its own core.
#[derive(Default)]
struct Part {
    docs: Docs,
    all: Postings,
}

impl Part {
    /// Adds `d` as document `n` (above every number already in this part).
    /// Consumes `d`: what the index keeps of it moves in, the rest is zeroized.
    fn add(&mut self, n: u32, id: Uuid, mut d: ItemData, buf: &mut String) {
        // Title words first, marked: a word also in the body keeps its mark.
        self.all.add_words(&d.title, n | IN_TITLE, buf);
        let texts = d
            .fields
            .iter()
            .filter(|(k, _)| !d.is_secret(k))
            .map(|(_, v)| v.as_str())
            .chain(d.tags.iter().map(String::as_str))
            .chain(d.folder.iter().map(String::as_str));
        for t in texts {
            self.all.add_words(t, n, buf);
        }
        self.docs.push(id, &mut d);
        d.zeroize();
    }
}

/// Merges two sorted word lists (and, for a word in both, their sorted document lists).
fn merge_lists(a: Vec<(String, Vec<u32>)>, b: Vec<(String, Vec<u32>)>) -> Vec<(String, Vec<u32>)> {
    let mut out = Vec::with_capacity(a.len().max(b.len()));
    let (mut a, mut b) = (a.into_iter().peekable(), b.into_iter().peekable());
    loop {
        let next = match (a.peek(), b.peek()) {
            (Some(x), Some(y)) => x.0.cmp(&y.0),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => return out,
        };
        match next {
            std::cmp::Ordering::Less => out.extend(a.next()),
            std::cmp::Ordering::Greater => out.extend(b.next()),
            std::cmp::Ordering::Equal => {
                if let (Some((w, l)), Some((mut w2, l2))) = (a.next(), b.next()) {
                    w2.zeroize();
                    out.push((w, merge_numbers(l, l2)));
                }
            }
        }
    }
}

/// Merges two ascending lists of document numbers (disjoint).
fn merge_numbers(a: Vec<u32>, b: Vec<u32>) -> Vec<u32> {
    if a.last().map(|x| x & NUMBER) < b.first().map(|x| x & NUMBER) {
        let mut a = a;
        a.extend(b);
        return a;
    }
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (0, 0);
    while i < a.len() && j < b.len() {
        if a[i] & NUMBER < b[j] & NUMBER {
            out.push(a[i]);
            i += 1;
        } else {
            out.push(b[j]);
            j += 1;
        }
    }
    out.extend_from_slice(&a[i..]);
    out.extend_from_slice(&b[j..]);
    out
}

/// Adds document `n` (the highest number, with [`IN_TITLE`] or not) under `w` in a sorted
/// word list.
fn insert_posting(list: &mut Vec<(String, Vec<u32>)>, w: String, n: u32) {
    match list.binary_search_by(|(x, _)| x.as_str().cmp(&w)) {
        Ok(i) => list[i].1.push(n),
        Err(i) => list.insert(i, (w, vec![n])),
    }
}

impl Index {
    /// Builds the index on every core from batches of rows that `next` reads (an empty
    /// batch ends them) and `open` turns into items (decrypting them). Each core takes the
    /// next batch, numbers its documents, and opens and indexes them, dropping each item as
    /// soon as it is indexed (zeroized here): reading, decrypting and indexing overlap.
    /// Then the cores' sorted word lists and title orders are merged. The first error stops
    /// the build.
    pub fn build<T, E: Send>(
        next: impl FnMut() -> Result<Vec<T>, E> + Send,
        open: impl Fn(&T) -> Result<(Uuid, ItemData), E> + Sync,
    ) -> Result<Index, E> {
        struct Source<F> {
            next: F,
            numbered: u32,
            done: bool,
        }
        /// One core's share: its documents (batches in number order), word lists, and
        /// the title order of its documents (as global numbers).
        struct Share {
            batches: Vec<(u32, usize)>,
            docs: Docs,
            order: Vec<u32>,
            all: Vec<(String, Vec<u32>)>,
        }
        let source = std::sync::Mutex::new(Source {
            next,
            numbered: 0,
            done: false,
        });
        let work = || -> Result<Share, E> {
            let mut part = Part::default();
            let mut batches = Vec::new();
            let mut buf = String::new();
            loop {
                let (first, rows) = {
                    let mut s = source.lock().unwrap_or_else(|e| e.into_inner());
                    if s.done {
                        break;
                    }
                    let rows = (s.next)().inspect_err(|_| s.done = true)?;
                    s.done = rows.is_empty();
                    let first = s.numbered;
                    s.numbered += rows.len() as u32;
                    (first, rows)
                };
                batches.push((first, rows.len()));
                for (j, row) in rows.iter().enumerate() {
                    let (id, d) = open(row).inspect_err(|_| {
                        source.lock().unwrap_or_else(|e| e.into_inner()).done = true;
                    })?;
                    part.add(first + j as u32, id, d, &mut buf);
                }
            }
            buf.zeroize();
            // Local position → global number, through the batches.
            let mut global = Vec::with_capacity(part.docs.len());
            for &(first, n) in &batches {
                global.extend(first..first + n as u32);
            }
            let docs = part.docs;
            let mut local: Vec<u32> = (0..docs.len() as u32).collect();
            local.sort_unstable_by(|&x, &y| docs.cmp(x, y));
            Ok(Share {
                batches,
                order: local.into_iter().map(|l| global[l as usize]).collect(),
                docs,
                all: part.all.into_sorted(),
            })
        };
        let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
        let shares: Vec<Result<Share, E>> = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads).map(|_| s.spawn(work)).collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_else(|e| std::panic::resume_unwind(e)))
                .collect()
        });
        let shares = shares.into_iter().collect::<Result<Vec<Share>, E>>()?;
        // Documents in number order: every batch, from whichever core took it.
        let mut batches: Vec<(u32, usize, usize)> = shares
            .iter()
            .enumerate()
            .flat_map(|(t, s)| s.batches.iter().map(move |&(first, n)| (first, n, t)))
            .collect();
        batches.sort_unstable();
        let mut ix = Index::default();
        let (mut orders, mut alls, mut sources) = (Vec::new(), Vec::new(), Vec::new());
        for s in shares {
            orders.push(s.order);
            alls.push(s.all);
            sources.push((s.docs.hot.into_iter(), s.docs.cold.into_iter()));
        }
        std::thread::scope(|s| {
            // The word lists merge on another core while this one orders the documents.
            let words = s.spawn(|| alls.into_iter().fold(Vec::new(), merge_lists));
            for (_, n, t) in batches {
                let (hot, cold) = &mut sources[t];
                ix.docs.hot.extend(hot.by_ref().take(n));
                ix.docs.cold.extend(cold.by_ref().take(n));
            }
            for order in orders {
                let docs = &ix.docs;
                let mut out = Vec::with_capacity(ix.order.len() + order.len());
                let (mut a, mut b) = (ix.order.iter().peekable(), order.iter().peekable());
                while let (Some(&&x), Some(&&y)) = (a.peek(), b.peek()) {
                    if docs.cmp(x, y).is_lt() {
                        out.push(x);
                        a.next();
                    } else {
                        out.push(y);
                        b.next();
                    }
                }
                out.extend(a);
                out.extend(b);
                ix.order = out;
            }
            ix.words = words
                .join()
                .unwrap_or_else(|e| std::panic::resume_unwind(e));
        });
        ix.rerank(0);
        Ok(ix)
    }

    /// How many items are indexed.
    pub fn len(&self) -> usize {
        self.order.len()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty()
    }

    /// Recomputes `rank` for the places `from..` of `order`.
    fn rerank(&mut self, from: usize) {
        self.rank.resize(self.docs.len(), 0);
        for (r, &n) in self.order.iter().enumerate().skip(from) {
            self.rank[n as usize] = r as u32;
        }
    }

    fn numbers(&mut self) -> &mut rustc_hash::FxHashMap<Uuid, u32> {
        let hot = &self.docs.hot;
        self.numbers.get_or_insert_with(|| {
            hot.iter()
                .enumerate()
                .filter(|(_, d)| d.live)
                .map(|(n, d)| (d.id, n as u32))
                .collect()
        })
    }

    /// Adds an item, or replaces what was indexed under its id. Consumes `d` (what is not
    /// kept is zeroized).
    pub fn upsert(&mut self, id: Uuid, d: ItemData) {
        self.remove(id);
        let n = self.docs.len() as u32;
        let mut part = Part::default();
        let mut buf = String::new();
        part.add(n, id, d, &mut buf);
        buf.zeroize();
        for (w, l) in part.all.0 {
            insert_posting(&mut self.words, w, l[0]);
        }
        self.docs.extend(part.docs);
        let docs = &self.docs;
        let at = self.order.partition_point(|&m| docs.cmp(m, n).is_lt());
        self.order.insert(at, n);
        self.rerank(at);
        self.numbers().insert(id, n);
    }

    /// Takes an item out (nothing if it is not indexed).
    pub fn remove(&mut self, id: Uuid) {
        let Some(n) = self.numbers().remove(&id) else {
            return;
        };
        self.docs.hot[n as usize].live = false;
        self.docs.cold[n as usize].wipe();
        let at = self.rank[n as usize] as usize;
        self.order.remove(at);
        self.rerank(at);
        self.dead += 1;
        if self.dead > 1024 && self.dead * 4 > self.docs.len() {
            self.compact();
        }
    }

    /// Renumbers the live documents (in the same relative order, so every list stays
    /// sorted) and forgets the words only removed documents had.
    fn compact(&mut self) {
        let mut new = vec![u32::MAX; self.docs.len()];
        let mut next = 0;
        for (n, d) in self.docs.hot.iter().enumerate() {
            if d.live {
                new[n] = next;
                next += 1;
            }
        }
        let mut n = 0;
        self.docs.cold.retain(|_| {
            n += 1;
            new[n - 1] != u32::MAX
        });
        self.docs.hot.retain(|d| d.live);
        for (_, l) in self.words.iter_mut() {
            l.retain_mut(|d| {
                let to = new[(*d & NUMBER) as usize];
                *d = to | (*d & IN_TITLE);
                to != u32::MAX
            });
        }
        self.words.retain_mut(|(w, l)| {
            if l.is_empty() {
                w.zeroize();
            }
            !l.is_empty()
        });
        for n in &mut self.order {
            *n = new[*n as usize];
        }
        self.rank.clear();
        self.rerank(0);
        self.numbers = None;
        self.dead = 0;
    }

    /// Documents matching one query word: by prefix, or within one edit.
    fn matching(&self, q: &str) -> Bits {
        let mut out = Bits::new(self.docs.len());
        for (_, docs) in with_prefix(&self.words, q) {
            docs.iter().for_each(|&d| out.set(d & NUMBER));
        }
        if q.chars().count() >= 4 {
            // Typos: candidate words share the first letter and have a close length.
            let first: String = q.chars().take(1).collect();
            let qlen = q.chars().count();
            for (w, docs) in with_prefix(&self.words, &first) {
                let wlen = w.chars().count();
                if wlen + 1 >= qlen && wlen <= qlen + 1 && within_one_edit(w, q) {
                    docs.iter().for_each(|&d| out.set(d & NUMBER));
                }
            }
        }
        out
    }

    /// Folder and tag names in use outside the trash, each with how many documents carry
    /// it, by name: `(folders, tags)`. Read from the index, nothing decrypted.
    pub fn labels(&self) -> (Counts, Counts) {
        let mut folders = std::collections::BTreeMap::new();
        let mut tags = std::collections::BTreeMap::new();
        for (h, c) in self.docs.hot.iter().zip(&self.docs.cold) {
            if !h.live || h.trashed {
                continue;
            }
            if let Some(f) = &c.folder {
                *folders.entry(f.clone()).or_insert(0) += 1;
            }
            for t in &c.tags {
                *tags.entry(t.clone()).or_insert(0) += 1;
            }
        }
        (folders.into_iter().collect(), tags.into_iter().collect())
    }

    /// Ids of matching items: title matches first, each group in title order.
    pub fn search(&self, query: &str, filter: &Filter) -> Vec<Uuid> {
        let terms: Vec<String> = words(query).collect();
        let hits = terms
            .iter()
            .map(|t| self.matching(t))
            .reduce(|a, b| a.and(&b));
        let keep = |n: u32| {
            let h = &self.docs.hot[n as usize];
            h.live
                && (filter.include_trashed || filter.only_trashed || !h.trashed)
                && (!filter.only_trashed || h.trashed)
                && filter.kind.is_none_or(|k| h.kind == k)
                && (!filter.only_favorites || h.favorite)
                && (!filter.only_conflicts || h.conflict)
                && filter.folder.as_ref().is_none_or(|f| {
                    self.docs.cold[n as usize].folder.as_deref() == Some(f.as_str())
                })
                && filter
                    .tag
                    .as_ref()
                    .is_none_or(|t| self.docs.cold[n as usize].tags.iter().any(|x| x == t))
        };
        let mut in_title = Bits::new(self.docs.len());
        for t in &terms {
            for (_, docs) in with_prefix(&self.words, t) {
                docs.iter()
                    .filter(|&&d| d & IN_TITLE != 0)
                    .for_each(|&d| in_title.set(d & NUMBER));
            }
        }
        let (mut first, mut rest) = (Vec::new(), Vec::new());
        let mut take = |n: u32| {
            if keep(n) {
                let id = self.docs.hot[n as usize].id;
                if terms.is_empty() || in_title.has(n) {
                    first.push(id);
                } else {
                    rest.push(id);
                }
            }
        };
        match &hits {
            None => self.order.iter().for_each(|&n| take(n)),
            Some(h) => {
                // The hits' places in title order, as a set: read back in order, no sort.
                let mut places = Bits::new(self.order.len());
                h.ones()
                    .filter(|&n| self.docs.hot[n as usize].live)
                    .for_each(|n| places.set(self.rank[n as usize]));
                places.ones().for_each(|r| take(self.order[r as usize]));
            }
        }
        first.extend(rest);
        first
    }
}

/// Names with how many documents carry each, by name.
pub type Counts = Vec<(String, usize)>;

/// Serialization of an index: `K7IX`, version 3, then documents, their title order and the
/// word lists, all lengths and numbers little-endian u32. Only ever stored sealed (the
/// client seals it).
const MAGIC: &[u8; 5] = b"K7IX\x03";

/// A document's flags byte.
const TRASHED: u8 = 1;
const FAVORITE: u8 = 2;
const CONFLICT: u8 = 4;

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
            if list.iter().any(|&d| d & NUMBER >= docs) {
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
    /// The index as bytes (live documents only, renumbered).
    pub fn to_bytes(&mut self) -> zeroize::Zeroizing<Vec<u8>> {
        if self.dead > 0 {
            self.compact();
        }
        let mut out = zeroize::Zeroizing::new(Vec::new());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&(self.docs.len() as u32).to_le_bytes());
        for (h, d) in self.docs.hot.iter().zip(&self.docs.cold) {
            out.extend_from_slice(h.id.as_bytes());
            put_str(&mut out, &d.key);
            out.extend_from_slice(&u32::from(h.kind.number()).to_le_bytes());
            out.push(
                [
                    (h.trashed, TRASHED),
                    (h.favorite, FAVORITE),
                    (h.conflict, CONFLICT),
                ]
                .iter()
                .filter(|(on, _)| *on)
                .fold(0, |flags, (_, bit)| flags | bit),
            );
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
        for n in &self.order {
            out.extend_from_slice(&n.to_le_bytes());
        }
        put_lists(&mut out, &self.words);
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
            let key = r.str()?;
            let kind = ItemKind::from_number(u16::try_from(r.u32()?).ok()?)?;
            let flags = r.take(1)?[0];
            let folder = match r.take(1)?[0] {
                1 => Some(r.str()?),
                _ => None,
            };
            let tags = (0..r.u32()?).map(|_| r.str()).collect::<Option<_>>()?;
            ix.docs.hot.push(Hot {
                id,
                kind,
                trashed: flags & TRASHED != 0,
                favorite: flags & FAVORITE != 0,
                conflict: flags & CONFLICT != 0,
                live: true,
            });
            ix.docs.cold.push(Cold { key, folder, tags });
        }
        // The order names every document once.
        let mut seen = Bits::new(n as usize);
        for _ in 0..n {
            let d = r.u32()?;
            if d >= n || seen.has(d) {
                return None;
            }
            seen.set(d);
            ix.order.push(d);
        }
        ix.rerank(0);
        ix.words = r.lists(n)?;
        r.0.is_empty().then_some(ix)
    }
}

impl Drop for Index {
    fn drop(&mut self) {
        self.docs.cold.iter_mut().for_each(Cold::wipe);
        for (w, _) in self.words.iter_mut() {
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

    /// Built as the client does: in batches (small ones here, so that several cores
    /// interleave theirs).
    fn build(items: &[(Uuid, ItemData)]) -> Index {
        let mut batches = items.chunks(97);
        Index::build(
            || Ok::<_, ()>(batches.next().map(<[_]>::to_vec).unwrap_or_default()),
            |(id, d)| Ok((*id, d.clone())),
        )
        .unwrap()
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
        let mut ix = build(&items);
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
        assert!(Index::from_bytes(b"K7IX\x03").is_none());
        let mut older = bytes.to_vec();
        older[4] = 1;
        assert!(
            Index::from_bytes(&older).is_none(),
            "an older format is rebuilt"
        );
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
        let ix = build(&items);
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
    fn labels_count_live_documents_outside_the_trash() {
        let items = [
            (
                Uuid::from_u128(1),
                item(ItemKind::Login, "A", &[], &["work", "home"], Some("Money")),
            ),
            (
                Uuid::from_u128(2),
                item(ItemKind::Note, "B", &[], &["work"], Some("Money")),
            ),
            (
                Uuid::from_u128(3),
                ItemData {
                    trashed: true,
                    ..item(ItemKind::Note, "C", &[], &["old"], Some("Attic"))
                },
            ),
        ];
        let mut ix = build(&items);
        let want = (
            vec![("Money".to_string(), 2)],
            vec![("home".to_string(), 1), ("work".to_string(), 2)],
        );
        assert_eq!(ix.labels(), want);
        ix.remove(Uuid::from_u128(2));
        assert_eq!(
            ix.labels(),
            (
                vec![("Money".to_string(), 1)],
                vec![("home".to_string(), 1), ("work".to_string(), 1)]
            )
        );
        let back = Index::from_bytes(&ix.to_bytes()).unwrap();
        assert_eq!(back.labels(), ix.labels());
    }

    #[test]
    fn the_trash_is_left_out_included_or_alone() {
        let live = item(ItemKind::Note, "Live note", &[], &[], None);
        let gone = ItemData {
            trashed: true,
            ..item(ItemKind::Note, "Old note", &[], &[], None)
        };
        let items = [(Uuid::from_u128(1), live), (Uuid::from_u128(2), gone)];
        let ix = build(&items);
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
    fn favourites_and_conflict_copies_filter_and_survive_storage() {
        let plain = item(ItemKind::Login, "Plain", &[], &[], None);
        let starred = ItemData {
            favorite: true,
            ..item(ItemKind::Login, "Starred", &[], &[], None)
        };
        let copy = ItemData {
            conflict_of: Some(Uuid::from_u128(1)),
            ..item(ItemKind::Login, "Plain (conflict copy)", &[], &[], None)
        };
        let items = [
            (Uuid::from_u128(1), plain),
            (Uuid::from_u128(2), starred),
            (Uuid::from_u128(3), copy),
        ];
        let mut ix = build(&items);
        assert_eq!(ix.labels(), (vec![], vec![]));
        let favorites = Filter {
            only_favorites: true,
            ..Filter::default()
        };
        let conflicts = Filter {
            only_conflicts: true,
            ..Filter::default()
        };
        assert_eq!(ix.search("", &favorites), vec![Uuid::from_u128(2)]);
        assert_eq!(ix.search("", &conflicts), vec![Uuid::from_u128(3)]);
        assert_eq!(ix.search("", &Filter::default()).len(), 3);
        let back = Index::from_bytes(&ix.to_bytes()).unwrap();
        assert_eq!(back.search("", &favorites), vec![Uuid::from_u128(2)]);
        assert_eq!(back.search("", &conflicts), vec![Uuid::from_u128(3)]);
        // Unstarring in place takes the item out of the favourites.
        ix.upsert(
            Uuid::from_u128(2),
            item(ItemKind::Login, "Starred", &[], &[], None),
        );
        assert!(ix.search("", &favorites).is_empty());
    }

    #[test]
    fn changes_in_place_answer_like_a_fresh_build() {
        // 5000 items, then 3000 edits and 1500 removals (enough to compact) and 200 new
        // ones, applied in place; a fresh build over the final items must answer the same.
        let make = |i: u32, round: u32| {
            item(
                if i.is_multiple_of(3) {
                    ItemKind::Note
                } else {
                    ItemKind::Login
                },
                &format!("title{} common r{round}", (i * 7919) % 5000),
                &[("username", &format!("user{i}x{round}"))],
                &[if i.is_multiple_of(2) { "even" } else { "odd" }],
                i.is_multiple_of(5).then_some("Folder"),
            )
        };
        let mut items: std::collections::BTreeMap<Uuid, ItemData> = (0..5000u32)
            .map(|i| (Uuid::from_u128(i.into()), make(i, 0)))
            .collect();
        let start: Vec<(Uuid, ItemData)> = items.clone().into_iter().collect();
        let mut ix = build(&start);
        for i in 0..3000u32 {
            let id = Uuid::from_u128(((i * 13) % 5000).into());
            let d = make(i, 1);
            ix.upsert(id, d.clone());
            items.insert(id, d);
        }
        for i in 0..1500u32 {
            let id = Uuid::from_u128(((i * 17 + 3) % 5000).into());
            ix.remove(id);
            items.remove(&id);
        }
        assert!(
            ix.docs.len() < 5000 + 3000,
            "removals compacted the numbering"
        );
        for i in 5000..5200u32 {
            let d = make(i, 2);
            ix.upsert(Uuid::from_u128(i.into()), d.clone());
            items.insert(Uuid::from_u128(i.into()), d);
        }
        ix.remove(Uuid::from_u128(999_999)); // not indexed: nothing happens
        let fresh = build(&items.into_iter().collect::<Vec<_>>());
        assert_eq!(ix.len(), fresh.len());
        let filters = [
            Filter::default(),
            Filter {
                kind: Some(ItemKind::Note),
                ..Filter::default()
            },
            Filter {
                folder: Some("Folder".into()),
                ..Filter::default()
            },
        ];
        for q in [
            "", "common", "r1", "r0", "title12", "user3", "usr42x1", "odd", "zzz",
        ] {
            for f in &filters {
                assert_eq!(ix.search(q, f), fresh.search(q, f), "{q} {f:?}");
            }
        }
        // And the stored copy of the changed index answers the same too.
        let back = Index::from_bytes(&ix.to_bytes()).unwrap();
        for q in ["", "common r1", "title4"] {
            assert_eq!(back.search(q, &filters[0]), fresh.search(q, &filters[0]));
        }
    }

    #[test]
    fn the_first_error_stops_the_build() {
        let items: Vec<(Uuid, ItemData)> = (0..10_000u128)
            .map(|i| {
                (
                    Uuid::from_u128(i),
                    item(ItemKind::Note, "n", &[], &[], None),
                )
            })
            .collect();
        let mut batches = items.chunks(100);
        let r = Index::build(
            || Ok(batches.next().map(<[_]>::to_vec).unwrap_or_default()),
            |(id, d)| {
                if *id == Uuid::from_u128(7_777) {
                    Err("damaged")
                } else {
                    Ok((*id, d.clone()))
                }
            },
        );
        assert_eq!(r.err(), Some("damaged"));
        let mut calls = 0;
        let r = Index::build(
            || {
                calls += 1;
                if calls == 3 {
                    Err("unreadable")
                } else {
                    Ok(items[..10].to_vec())
                }
            },
            |(id, d)| Ok((*id, d.clone())),
        );
        assert_eq!(r.err(), Some("unreadable"));
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
