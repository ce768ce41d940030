//! The mailbox as lists show it (`docs/mail.md`, "The mailbox in memory").
//!
//! Every message's summary ([`MailView`]) is decrypted once per unlock and kept in memory
//! until the lock. Before each use it is brought up to date from the cache's item versions
//! (one query on a covering index, nothing decrypted; nothing at all when the cache's
//! generation has not moved): only the messages added or changed since are opened, by
//! whichever process of the account wrote them. So a folder of 100,000 messages is a
//! filter and a sort in memory, not 100,000 decryptions. What it holds is overwritten when
//! it goes, and at the lock.

use std::collections::{BTreeMap, HashMap, HashSet};

use serde::Serialize;
use uuid::Uuid;

use crate::mail::{
    ARCHIVE, DRAFTS, INBOX, MailView, QUARANTINE, SENT, SPAM, TRASH, blocked_address, view,
};
use crate::{Client, Result};

/// The summaries, current at cache generation `caught_up`, and the messages' ids newest
/// first (sorted once per change, not at every page a list asks for). A message's
/// signature shows as verified once its signer's key is pinned verified: `pins_current`
/// says whether the summaries reflect the pins held now (a pin saved clears it).
#[derive(Default)]
pub(crate) struct Catalog {
    caught_up: Option<i64>,
    pins_current: bool,
    /// The fingerprints of the keys pinned verified, once read (a pin saved clears it).
    verified: Option<HashSet<String>>,
    entries: HashMap<Uuid, (i64, Entry)>,
    newest_first: Vec<Uuid>,
}

impl Catalog {
    /// The pins changed: signatures are shown anew at the next use.
    pub(crate) fn pins_changed(&mut self) {
        self.pins_current = false;
        self.verified = None;
    }

    /// Summaries made by whoever had the messages open anyway (a sync that just checked
    /// them), each with the cache version it was written at: the next use finds them
    /// current and decrypts nothing more of them.
    pub(crate) fn add(&mut self, entries: impl IntoIterator<Item = (Uuid, i64, Entry)>) {
        for (id, version, entry) in entries {
            self.entries.insert(id, (version, entry));
        }
    }
}

/// Shows `m` as verified if it was when it came in (`stamped`) or if the keys that signed
/// it are among the `verified` ones now; else as signed by a pinned key.
pub(crate) fn show_signature(m: &mut MailView, stamped: bool, verified: &HashSet<String>) {
    if matches!(m.signature.as_str(), "verified" | "pinned") {
        let shown = stamped || verified.contains(&m.signer);
        m.signature = if shown { "verified" } else { "pinned" }.into();
    }
}

/// A message's summary (or a blocked sender's record), from its opened item.
pub(crate) fn entry(id: Uuid, data: &crate::ItemData, dirty: bool) -> Entry {
    match blocked_address(data) {
        Some(a) => Entry::Blocked(a),
        None => {
            let m = view(id, data, dirty);
            let stamped = m.signature == "verified";
            Entry::Message(Box::new(m), stamped)
        }
    }
}

pub(crate) enum Entry {
    /// A message's summary, and whether it was stamped verified when it came in (the
    /// summary's `signature` may say so since, when its signer's key was verified later).
    Message(Box<MailView>, bool),
    /// A blocked sender's record, with the address.
    Blocked(String),
}

/// What a summary held is overwritten when it goes (replaced, removed, or at the lock).
impl Drop for Entry {
    fn drop(&mut self) {
        use zeroize::Zeroize;
        match self {
            Entry::Blocked(a) => a.zeroize(),
            Entry::Message(m, _) => {
                let m = m.as_mut();
                for s in [
                    &mut m.folder,
                    &mut m.from,
                    &mut m.subject,
                    &mut m.status,
                    &mut m.signature,
                    &mut m.signer,
                    &mut m.thread,
                ] {
                    s.zeroize();
                }
                m.reason.zeroize();
                for list in [&mut m.to, &mut m.cc, &mut m.bcc, &mut m.labels] {
                    list.zeroize();
                }
                for a in &mut m.attachments {
                    a.name.zeroize();
                    a.media_type.zeroize();
                }
            }
        }
    }
}

impl Catalog {
    fn messages(&self) -> impl Iterator<Item = &MailView> {
        self.entries.values().filter_map(|(_, e)| match e {
            Entry::Message(m, _) => Some(m.as_ref()),
            Entry::Blocked(_) => None,
        })
    }

    fn message(&self, id: &Uuid) -> Option<&MailView> {
        match self.entries.get(id) {
            Some((_, Entry::Message(m, _))) => Some(m.as_ref()),
            _ => None,
        }
    }

    /// `folder`'s messages (all when `None`), newest first.
    fn folder(&self, folder: Option<&str>) -> Vec<&MailView> {
        self.newest_first
            .iter()
            .filter_map(|id| self.message(id))
            .filter(|m| folder.is_none_or(|f| m.folder.eq_ignore_ascii_case(f)))
            .collect()
    }
}

/// A folder of the mailbox and how many messages it holds.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MailFolder {
    pub name: String,
    pub total: usize,
    pub unread: usize,
}

/// Part of a folder's list, newest first: `total` messages in all.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct MailPage {
    pub total: usize,
    pub messages: Vec<MailView>,
}

/// Someone to write to, as a recipient field suggests them.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Correspondent {
    pub address: String,
    /// The contact's name, if a contact item has the address.
    pub name: String,
    /// Their key was compared out of band and marked verified ([`Client::verify_peer`]).
    pub verified: bool,
}

/// The folders every mailbox has, in the order lists show them.
const STANDARD: [&str; 6] = [INBOX, DRAFTS, SENT, ARCHIVE, SPAM, TRASH];

impl Client {
    /// The fingerprints of the keys pinned verified on this device: read from the pins once,
    /// then kept until a pin is saved (opening a message asks for them each time).
    pub(crate) fn verified_signers(&self) -> Result<HashSet<String>> {
        if let Some(set) = &self.unlocked()?.mail_catalog.verified {
            return Ok(set.clone());
        }
        let mut set = HashSet::new();
        for p in self.pinned_peers()?.into_iter().filter(|p| p.verified) {
            set.insert(p.fingerprint()?);
        }
        self.unlocked()?.mail_catalog.verified = Some(set.clone());
        Ok(set)
    }

    /// Runs `f` on the mailbox's summaries, brought up to date first.
    fn with_catalog<T>(&self, f: impl FnOnce(&Catalog) -> T) -> Result<T> {
        let generation = self.store.generation()?;
        let (stale, pins_stale) = {
            let u = self.unlocked()?;
            (
                u.mail_catalog.caught_up != Some(generation),
                !u.mail_catalog.pins_current,
            )
        };
        // (Read before the lock on the keys is taken.)
        let verified = if stale || pins_stale {
            Some(self.verified_signers()?)
        } else {
            None
        };
        let mut u = self.unlocked()?;
        if stale {
            let vault = u.mail_vault;
            let mut catalog = std::mem::take(&mut u.mail_catalog);
            let versions = self.store.item_versions(vault)?;
            let live: HashMap<Uuid, i64> = versions.into_iter().collect();
            catalog.entries.retain(|id, _| live.contains_key(id));
            for (id, version) in &live {
                if catalog.entries.get(id).is_some_and(|(v, _)| v == version) {
                    continue;
                }
                let Some(row) = self.store.item(*id)?.filter(|r| !r.deleted) else {
                    continue;
                };
                let data = Self::open_live(&u, vault, *id, &row.envelope)?;
                catalog
                    .entries
                    .insert(*id, (row.local_version, entry(*id, &data, row.dirty)));
            }
            let mut order: Vec<&MailView> = catalog.messages().collect();
            order.sort_by(|a, b| b.date.cmp(&a.date).then(a.id.cmp(&b.id)));
            catalog.newest_first = order.iter().map(|m| m.id).collect();
            catalog.caught_up = Some(generation);
            u.mail_catalog = catalog;
        }
        if let Some(verified) = verified {
            for (_, e) in u.mail_catalog.entries.values_mut() {
                if let Entry::Message(m, stamped) = e {
                    show_signature(m, *stamped, &verified);
                }
            }
            u.mail_catalog.pins_current = true;
        }
        Ok(f(&u.mail_catalog))
    }

    /// The messages of `folder` (every folder when `None`), newest first.
    pub fn mailbox(&self, folder: Option<&str>) -> Result<Vec<MailView>> {
        self.with_catalog(|c| c.folder(folder).into_iter().cloned().collect())
    }

    /// The summaries of messages `ids`, in that order (those gone are left out).
    pub(crate) fn mail_views(&self, ids: &[Uuid]) -> Result<Vec<MailView>> {
        self.with_catalog(|c| ids.iter().filter_map(|id| c.message(id)).cloned().collect())
    }

    /// Messages `offset..offset + limit` of `folder` (every folder when `None`), newest
    /// first, and how many it holds: what a list shows as it scrolls.
    pub fn mail_page(&self, folder: Option<&str>, offset: usize, limit: usize) -> Result<MailPage> {
        self.with_catalog(|c| {
            let all = c.folder(folder);
            MailPage {
                total: all.len(),
                messages: all.into_iter().skip(offset).take(limit).cloned().collect(),
            }
        })
    }

    /// The mailbox's folders with their counts: the standard ones always, Quarantine when
    /// it holds something, then the user's, by name.
    pub fn mail_folders(&self) -> Result<Vec<MailFolder>> {
        self.with_catalog(|c| {
            let mut counts: BTreeMap<&str, (usize, usize)> = BTreeMap::new();
            for m in c.messages() {
                let n = counts.entry(m.folder.as_str()).or_default();
                n.0 += 1;
                n.1 += usize::from(!m.read);
            }
            let folder = |name: &str, (total, unread): (usize, usize)| MailFolder {
                name: name.to_string(),
                total,
                unread,
            };
            let mut out: Vec<MailFolder> = STANDARD
                .iter()
                .map(|s| folder(s, counts.remove(s).unwrap_or_default()))
                .collect();
            if let Some(q) = counts.remove(QUARANTINE) {
                out.push(folder(QUARANTINE, q));
            }
            out.extend(counts.into_iter().map(|(name, n)| folder(name, n)));
            out
        })
    }

    /// The messages of `id`'s thread, in every folder, oldest first.
    pub fn mail_thread(&self, id: Uuid) -> Result<Vec<MailView>> {
        self.with_catalog(|c| {
            let Some(thread) = c.message(&id).map(|m| m.thread.clone()) else {
                return vec![];
            };
            let mut v: Vec<MailView> = c
                .messages()
                .filter(|m| m.thread == thread)
                .cloned()
                .collect();
            v.sort_by(|a, b| a.date.cmp(&b.date).then(a.id.cmp(&b.id)));
            v
        })
    }

    /// The blocked senders' addresses, sorted.
    pub fn blocked_senders(&self) -> Result<Vec<String>> {
        self.with_catalog(|c| {
            let mut v: Vec<String> = c
                .entries
                .values()
                .filter_map(|(_, e)| match e {
                    Entry::Blocked(a) => Some(a.clone()),
                    Entry::Message(..) => None,
                })
                .collect();
            v.sort();
            v
        })
    }

    /// Addresses of this server that start with `prefix` (or whose contact's name has a word
    /// that does), case aside: from contact items, pinned keys and earlier mail, the ones
    /// written to most first, at most `limit`.
    pub async fn mail_correspondents(
        &mut self,
        prefix: &str,
        limit: usize,
    ) -> Result<Vec<Correspondent>> {
        let domain = self.mail_domain().await?;
        let me = self.mail_address().await?;
        let prefix = prefix.trim().to_lowercase();
        let at = format!("@{domain}");
        // address → (name, times seen)
        let mut seen: HashMap<String, (String, usize)> = HashMap::new();
        self.with_catalog(|c| {
            for m in c.messages() {
                for a in std::iter::once(&m.from)
                    .chain(&m.to)
                    .chain(&m.cc)
                    .chain(&m.bcc)
                {
                    seen.entry(a.to_lowercase()).or_default().1 += 1;
                }
            }
        })?;
        let pinned = self.pinned_peers()?;
        for p in &pinned {
            seen.entry(format!("{}{at}", p.username)).or_default();
        }
        let contacts = crate::search::Filter {
            kind: Some(crate::ItemKind::Contact),
            ..Default::default()
        };
        for contact in self.search("", &contacts)? {
            for e in contact.data.values("emails") {
                let e = e.trim().to_lowercase();
                if e.ends_with(&at) {
                    seen.entry(e).or_default().0 = contact.data.title.clone();
                }
            }
        }
        let verified: std::collections::HashSet<String> = pinned
            .into_iter()
            .filter(|p| p.verified)
            .map(|p| format!("{}{at}", p.username))
            .collect();
        let mut out: Vec<(usize, Correspondent)> = seen
            .into_iter()
            .filter(|(a, (name, _))| {
                a.ends_with(&at)
                    && *a != me
                    && (a.starts_with(&prefix)
                        || name
                            .to_lowercase()
                            .split_whitespace()
                            .any(|w| w.starts_with(&prefix)))
            })
            .map(|(address, (name, n))| {
                let c = Correspondent {
                    verified: verified.contains(&address),
                    address,
                    name,
                };
                (n, c)
            })
            .collect();
        out.sort_by(|a, b| b.0.cmp(&a.0).then_with(|| a.1.address.cmp(&b.1.address)));
        Ok(out.into_iter().take(limit).map(|(_, c)| c).collect())
    }

    /// The ids of the messages whose status is `status`.
    pub(crate) fn mail_with_status(&self, status: &str) -> Result<Vec<Uuid>> {
        self.with_catalog(|c| {
            c.messages()
                .filter(|m| m.status == status)
                .map(|m| m.id)
                .collect()
        })
    }
}
