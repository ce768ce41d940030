//! Sync (`docs/sync.md`): the outbox goes up in per-vault commits that carry the vault's next
//! manifest; the change feed comes down whole, is checked item by item and against each
//! vault's manifest, and only then applied, in one transaction, merging local edits.

use std::collections::{BTreeMap, btree_map::Entry};

use krypt7_crypto::{
    envelope,
    keys::VaultKey,
    manifest::{self, Chain, Digest, ManifestKey, Term},
};
use krypt7_protocol::{B64, Changes, Commit, CommitItem, Committed, Item, Manifest, Vault};
use krypt7_store::{ItemRow, RemoteItem, VaultRow, VaultState};
use reqwest::Method;
use uuid::Uuid;

use crate::{
    Auth, Client, ClientError, ItemData, Merge, Progress, Result, Unlocked, api::Events, item, now,
    now_ms,
};

/// At most this many items, or about this many envelope bytes, in one commit.
const COMMIT_ITEMS: usize = 500;
/// Items asked for per change-feed page.
const FEED_LIMIT: usize = 500;
/// The largest change-feed page read.
const MAX_PAGE: usize = 32 << 20;
const COMMIT_BYTES: usize = 1 << 20;
/// A device with nothing to commit still commits its view of each vault (an empty commit:
/// the next manifest, linked to the newest it verified) this often, so that a server
/// hiding other devices' commits from it is caught within this time even if it only reads.
pub(crate) const VIEW_EVERY: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

/// What a sync did.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SyncReport {
    pub pushed: usize,
    pub pulled: usize,
    pub merged: usize,
    pub conflict_copies: usize,
    /// Vault manifests checked against the items this device holds.
    pub verified: usize,
    pub cursor: i64,
    /// Messages taken in from the server (filed in Inbox or Quarantine).
    pub mail_received: usize,
    /// The senders of the messages filed in the Inbox now (for a notification that names
    /// them and says nothing else).
    pub mail_from: Vec<String>,
    /// Messages composed earlier (here or on another device) delivered now.
    pub mail_sent: usize,
}

/// What a sync expects the next read of the feed to show: the server's word is not taken
/// for either until its feed bears it out.
enum Expect {
    /// The server took this commit: the feed must bring this manifest at this version.
    Commit {
        vault: Uuid,
        version: i64,
        link: [u8; 32],
    },
    /// The server refused a commit on top of this version as stale: the feed must bring a
    /// newer one.
    Newer { vault: Uuid, than: i64 },
}

/// The last commit to a vault, as its newest verified manifest tells it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    pub vault: Uuid,
    pub version: i64,
    /// The committing device's name and clock (milliseconds since 1970); `None` for a
    /// manifest from before chaining.
    pub device_name: Option<String>,
    pub time_ms: Option<u64>,
    /// Made by this device.
    pub by_this_device: bool,
}

/// A vault's multiset hash and live-item count, as they stand or as a change leaves them.
struct Tally {
    row: VaultRow,
    key: ManifestKey,
    digest: Digest,
    count: i64,
}

impl Tally {
    fn remove(&mut self, t: Option<Term>) {
        if let Some(t) = t {
            self.digest.sub(&t);
            self.count -= 1;
        }
    }

    fn add(&mut self, t: Option<Term>) {
        if let Some(t) = t {
            self.digest.add(&t);
            self.count += 1;
        }
    }

    /// The term of an item's server state, if that state is live.
    fn server_term(&self, row: &ItemRow) -> Option<Term> {
        (row.server_revision > 0 && !row.server_deleted).then(|| {
            self.key.term(
                row.id.as_bytes(),
                row.server_revision as u64,
                row.server_envelope.as_deref().unwrap_or_default(),
            )
        })
    }
}

fn integrity(msg: impl Into<String>) -> ClientError {
    ClientError::Integrity(msg.into())
}

/// The push channel of one unlocked session ([`Client::push_source`]).
pub struct PushSource {
    api: crate::Api,
    auth: Auth,
}

impl PushSource {
    /// Opens the channel (renewed by the server every ten minutes: open it again then).
    pub async fn open(&self) -> Result<Events> {
        self.api
            .events(&self.auth, std::time::Duration::from_secs(600))
            .await
    }
}

impl Client {
    /// Items waiting for the server.
    pub fn pending(&self) -> Result<usize> {
        Ok(self.store.outbox()?.len())
    }

    /// Subscribes to the server's push channel: [`Events::next`] returns when another
    /// device changed something. The stream is renewed every ten minutes (reconnect then).
    pub async fn events(&self) -> Result<Events> {
        self.push_source()?.open().await
    }

    /// What opens the push channel without the client: a caller that shares the client
    /// (the desktop app) takes it only for this, not for the wait on the network. It ends
    /// with the lock, as every call does.
    pub fn push_source(&self) -> Result<PushSource> {
        Ok(PushSource {
            api: self.api.clone(),
            auth: self.token()?,
        })
    }

    /// The change-feed position this device has applied.
    pub fn cursor(&self) -> Result<i64> {
        Ok(self.store.cursor()?)
    }

    /// Pulls every change since the last sync (verified, then merged with local edits), then
    /// pushes the outbox, until both sides agree. Offline, it stops with
    /// [`ClientError::Offline`] and loses nothing; a server that tampered with the vault gets
    /// [`ClientError::Integrity`] and nothing of what it sent is applied.
    pub async fn sync(&mut self) -> Result<SyncReport> {
        let mut report = SyncReport::default();
        let mut expect = Vec::new();
        // Mail composed offline (here or on another device) goes first; its new state is
        // committed below.
        report.mail_sent = self.deliver_queued().await?;
        // Each round reads the feed (which must bear out the last round's commits), then
        // commits the outbox; the last read follows the last commit.
        for round in 0..5 {
            let seen = self.pull(&mut report).await?;
            self.check_expected(&expect, &seen)?;
            if round == 4 {
                break;
            }
            if !self.push(&mut report, &mut expect).await? {
                break;
            }
        }
        // Messages taken in are in the mailbox now (and committed): the server can drop them.
        let taken = std::mem::take(&mut self.mail_taken);
        self.drop_taken_mail(&taken).await?;
        report.cursor = self.store.cursor()?;
        Ok(report)
    }

    /// The server's answers to the last commits, held against what its feed then showed.
    /// A commit it took but does not show, or a refusal as stale with nothing newer shown,
    /// is a server hiding changes (or inventing answers): an integrity error, the items stay
    /// in the outbox, and the next sync reads the whole feed again.
    fn check_expected(
        &self,
        expect: &[Expect],
        seen: &BTreeMap<(Uuid, i64), [u8; 32]>,
    ) -> Result<()> {
        for e in expect {
            let fault = match *e {
                Expect::Commit {
                    vault,
                    version,
                    link,
                } => match seen.get(&(vault, version)) {
                    Some(l) if *l == link => None,
                    Some(_) => Some(format!(
                        "the server took commit {version} of vault {vault} but its feed shows \
                         another in its place"
                    )),
                    None => Some(format!(
                        "the server took commit {version} of vault {vault} but its feed does \
                         not show it"
                    )),
                },
                Expect::Newer { vault, than } => {
                    let held = self.store.vault(vault)?.map_or(0, |v| v.manifest_version);
                    (held <= than).then(|| {
                        format!(
                            "the server refused a commit to vault {vault} as stale but its \
                             feed shows nothing newer than version {than}"
                        )
                    })
                }
            };
            if let Some(msg) = fault {
                self.store.set_meta("cursor", &0i64.to_be_bytes())?;
                return Err(integrity(msg));
            }
        }
        Ok(())
    }

    /// The newest verified commit that changed each vault's contents (a device's view alone
    /// is not a change): who made it and when.
    pub fn heads(&self) -> Result<Vec<Head>> {
        let u = self.unlocked()?;
        let me = self.device_id()?;
        let mut heads = Vec::new();
        for row in self.store.vaults()? {
            let Some(key) = u.vault_keys.get(&row.id) else {
                continue;
            };
            let Some(sealed) = self
                .store
                .meta(&format!("last-change:{}", row.id))?
                .or(row.manifest)
            else {
                continue;
            };
            let m = manifest::open_manifest(key, u.account.as_bytes(), row.id.as_bytes(), &sealed)?;
            heads.push(Head {
                vault: row.id,
                version: m.version as i64,
                by_this_device: m.chain.as_ref().is_some_and(|c| c.device == me),
                device_name: m.chain.as_ref().map(|c| c.device_name.clone()),
                time_ms: m.chain.as_ref().map(|c| c.time),
            });
        }
        Ok(heads)
    }

    fn vault_key(u: &Unlocked, vault: Uuid) -> Result<&VaultKey> {
        u.vault_keys
            .get(&vault)
            .ok_or_else(|| integrity(format!("no key for vault {vault}")))
    }

    /// A vault's tally as stored, or recomputed from its items (after an upgrade).
    fn tally(&self, vault: Uuid) -> Result<Tally> {
        let u = self.unlocked()?;
        let row = self
            .store
            .vault(vault)?
            .ok_or_else(|| integrity(format!("an item of unknown vault {vault}")))?;
        let key = ManifestKey::derive(Self::vault_key(&u, vault)?);
        let mut t = Tally {
            digest: Digest(row.digest.unwrap_or_default()),
            count: row.live_count,
            row,
            key,
        };
        if t.row.digest.is_none() {
            (t.digest, t.count) = (Digest::default(), 0);
            for r in self.store.vault_items(vault)? {
                let term = t.server_term(&r);
                t.add(term);
            }
        }
        Ok(t)
    }

    /// Sends the outbox, one commit per vault and batch, each batch's manifest following
    /// the last; when this device's view is due ([`Client::set_view_interval`]), an empty
    /// commit to each other vault. Returns whether anything was sent or a commit lost a race
    /// (either way the feed must be read again). Nothing is marked sent here: the items
    /// leave the outbox when the feed brings them back (`expect` says what it must show).
    async fn push(&mut self, report: &mut SyncReport, expect: &mut Vec<Expect>) -> Result<bool> {
        expect.clear();
        let token = self.token()?;
        let mut by_vault: BTreeMap<Uuid, Vec<ItemRow>> = BTreeMap::new();
        for row in self.store.outbox()? {
            by_vault.entry(row.vault_id).or_default().push(row);
        }
        let total = by_vault.values().map(Vec::len).sum();
        let (mut pushed, mut raced) = (0, false);
        for (vault, rows) in &by_vault {
            let vault = *vault;
            let mut t = self.tally(vault)?;
            let mut rest = rows.as_slice();
            while !rest.is_empty() {
                let mut n = 0;
                let mut bytes = 0;
                while n < rest.len() && n < COMMIT_ITEMS && (n == 0 || bytes < COMMIT_BYTES) {
                    bytes += rest[n].envelope.len();
                    n += 1;
                }
                let (batch, later) = rest.split_at(n);
                rest = later;
                let e = self.commit(&mut t, batch, &token).await?;
                let lost = matches!(e, Expect::Newer { .. });
                expect.push(e);
                if lost {
                    raced = true;
                    break;
                }
                pushed += batch.len();
                self.report(Progress::Pushing {
                    done: pushed,
                    total,
                });
            }
        }
        report.pushed += pushed;
        let viewed = self.view_due(raced)?;
        let mut sent = pushed > 0;
        if viewed {
            let held: Vec<Uuid> = self.unlocked()?.vault_keys.keys().copied().collect();
            for vault in held.into_iter().filter(|v| !by_vault.contains_key(v)) {
                let mut t = self.tally(vault)?;
                let e = self.commit(&mut t, &[], &token).await?;
                raced |= matches!(e, Expect::Newer { .. });
                expect.push(e);
                sent = true;
            }
            if !raced {
                self.store.set_meta("viewed-at", &now_ms().to_be_bytes())?;
            }
        }
        Ok(sent || raced)
    }

    /// Whether this device's view of its vaults is due (never after a lost race: the feed is
    /// read first). The first sync of a device starts the clock.
    fn view_due(&self, raced: bool) -> Result<bool> {
        let at = self
            .store
            .meta("viewed-at")?
            .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
            .map(u64::from_be_bytes);
        let now = now_ms();
        let Some(at) = at else {
            self.store.set_meta("viewed-at", &now.to_be_bytes())?;
            return Ok(false);
        };
        let every = self.view_every.as_millis() as u64;
        // A clock set back counts as due.
        Ok(!raced && (now < at || now - at >= every))
    }

    /// How often a device with nothing to commit seals its view of each vault (default one
    /// day): a shorter interval catches a server hiding other devices' changes sooner, at
    /// the cost of one small commit per vault each time.
    pub fn set_view_interval(&mut self, every: std::time::Duration) {
        self.view_every = every;
    }

    /// The newest version of a vault this device committed (or is committing), as this
    /// cache records it: `None` before its first commit since the record began.
    fn own_version(&self, vault: Uuid) -> Result<Option<i64>> {
        Ok(self
            .store
            .meta(&format!("own-commit:{vault}"))?
            .and_then(|b| <[u8; 8]>::try_from(b.as_slice()).ok())
            .map(i64::from_be_bytes))
    }

    /// One commit: the items and the vault's next manifest, computed from the tally plus
    /// these changes and linked to the manifest before; the tally then stands for the
    /// commit's result (the next batch builds on it). Returns what the feed must then bear
    /// out: this commit, or, when the server holds a newer state (409, nothing written), a
    /// version newer than the tally's.
    async fn commit(&mut self, t: &mut Tally, batch: &[ItemRow], token: &Auth) -> Result<Expect> {
        let vault = t.row.id;
        // (A failed commit leaves the tally of no further use: the push stops there.)
        for r in batch {
            let old = t.server_term(r);
            t.remove(old);
            let new = (!r.deleted).then(|| {
                t.key
                    .term(r.id.as_bytes(), r.server_revision as u64 + 1, &r.envelope)
            });
            t.add(new);
        }
        let version = t.row.manifest_version + 1;
        let chain = Chain {
            prev: t.row.manifest.as_deref().map_or([0; 32], manifest::link),
            time: now_ms(),
            device: self.device_id()?,
            device_name: self.device_name()?,
        };
        let sealed = {
            let u = self.unlocked()?;
            manifest::seal_manifest(
                Self::vault_key(&u, vault)?,
                u.account.as_bytes(),
                vault.as_bytes(),
                &manifest::Manifest {
                    version: version as u64,
                    count: t.count as u64,
                    digest: t.digest,
                    chain: Some(chain),
                },
            )?
        };
        // Recorded before it is sent: a commit of this device's that the cache does not know
        // of means the cache was put back to an older copy (see `verify_chain`).
        self.store
            .set_meta(&format!("own-commit:{vault}"), &version.to_be_bytes())?;
        let body = Commit {
            expected_version: t.row.manifest_version,
            version,
            manifest: B64(sealed.clone()),
            items: batch
                .iter()
                .map(|r| CommitItem {
                    id: r.id,
                    base_revision: r.server_revision,
                    envelope: B64(r.envelope.clone()),
                    deleted: r.deleted,
                })
                .collect(),
        };
        let done: Committed = match self
            .api
            .call(
                Method::POST,
                &format!("/v1/vaults/{vault}/commit"),
                Some(token),
                Some(&body),
            )
            .await
        {
            Ok(d) => d,
            Err(ClientError::Server { status: 409, .. }) => {
                return Ok(Expect::Newer {
                    vault,
                    than: t.row.manifest_version,
                });
            }
            Err(e) => return Err(e),
        };
        let as_sent = done.manifest.version == version
            && done.items.len() == batch.len()
            && done
                .items
                .iter()
                .zip(batch)
                .all(|(i, r)| i.id == r.id && i.revision == r.server_revision + 1);
        if !as_sent {
            return Err(integrity(
                "the server's answer to a commit does not match what was sent",
            ));
        }
        let link = manifest::link(&sealed);
        t.row.manifest = Some(sealed);
        t.row.manifest_version = version;
        Ok(Expect::Commit {
            vault,
            version,
            link,
        })
    }

    /// Reads the change feed to its end, then checks and applies everything it brought. A
    /// feed that goes back, says it has more without moving on, or claims a position its
    /// changes do not reach is an integrity error. Returns the link of each manifest version
    /// it verified, by vault.
    async fn pull(&mut self, report: &mut SyncReport) -> Result<BTreeMap<(Uuid, i64), [u8; 32]>> {
        let token = self.token()?;
        let start = self.store.cursor()?;
        let mut since = start;
        // The latest state of each item (a later page supersedes an earlier one), and every
        // manifest, in the feed's order.
        let mut items: BTreeMap<Uuid, Item> = BTreeMap::new();
        let mut manifests: BTreeMap<Uuid, Vec<Manifest>> = BTreeMap::new();
        // Messages delivered and not yet taken in (a later marker says one was).
        let mut mail: BTreeMap<Uuid, krypt7_protocol::IncomingMail> = BTreeMap::new();
        // A page is read up to `MAX_PAGE` bytes; a larger one is asked for again in fewer
        // items (envelopes are at most 1 MiB, so one item always fits).
        let mut limit = FEED_LIMIT;
        loop {
            let page: Changes = match self
                .api
                .call_capped::<(), _>(
                    Method::GET,
                    &format!("/v1/changes?since={since}&limit={limit}"),
                    Some(&token),
                    None,
                    MAX_PAGE,
                )
                .await
            {
                Err(ClientError::TooLarge(_)) if limit > 1 => {
                    limit = (limit / 8).max(1);
                    continue;
                }
                page => page?,
            };
            limit = FEED_LIMIT;
            self.follow_credentials(crate::Counts {
                credentials: page.credentials,
                key_epoch: page.key_epoch,
            })?;
            if page.cursor < since {
                return Err(integrity(format!(
                    "the server's change feed went back from {since} to {}",
                    page.cursor
                )));
            }
            if page.has_more
                && (page.cursor == since || (page.items.is_empty() && page.mail.is_empty()))
            {
                return Err(integrity(format!(
                    "the server's change feed says there is more but does not move on from {since}"
                )));
            }
            // The feed's position is that of the newest change it holds (the server numbers
            // every change): a position beyond them would skip changes for good.
            let positions = page
                .items
                .iter()
                .map(|i| i.cursor)
                .chain(page.vaults.iter().map(|v| v.cursor))
                .chain(page.manifests.iter().map(|m| m.cursor))
                .chain(page.mail.iter().map(|m| m.cursor));
            let mut newest = since;
            for p in positions {
                if p <= since || p > page.cursor {
                    return Err(integrity(format!(
                        "the server's change feed holds a change at {p}, outside the range it \
                         answers ({since} to {})",
                        page.cursor
                    )));
                }
                newest = newest.max(p);
            }
            if page.cursor != newest {
                return Err(integrity(format!(
                    "the server's change feed claims position {} but its changes reach {newest}",
                    page.cursor
                )));
            }
            self.apply_vaults(&page.vaults)?;
            items.extend(page.items.into_iter().map(|i| (i.id, i)));
            for m in page.manifests {
                manifests.entry(m.vault_id).or_default().push(m);
            }
            for m in page.mail {
                if m.taken {
                    mail.remove(&m.id);
                } else {
                    mail.insert(m.id, m);
                }
            }
            since = page.cursor;
            self.report(Progress::Pulling { items: items.len() });
            if !page.has_more {
                break;
            }
        }
        if items.is_empty() && manifests.is_empty() && since == start {
            return Ok(BTreeMap::new());
        }
        // Filed before the feed's position is kept: a device stopped in between reads them
        // again and files each once.
        let taken = self
            .take_in_mail(mail.into_values().collect(), &items, report)
            .await?;
        self.mail_taken.extend(taken);
        self.apply_changes(&items, &manifests, since, report)
    }

    /// New vaults' keys: unwrapped with the account key (a wrap this account did not make is
    /// refused) and cached. A vault's key never changes: another key offered for a vault this
    /// device holds is refused too.
    pub(crate) fn apply_vaults(&mut self, vaults: &[Vault]) -> Result<()> {
        let mut u = self.unlocked()?;
        for v in vaults {
            let key = envelope::unwrap_vault_key(
                &u.keyset.account_key,
                u.account.as_bytes(),
                v.id.as_bytes(),
                &v.key_wrap.0,
            )
            .map_err(|_| integrity("a vault key that this account did not wrap"))?;
            if let Some(held) = u.vault_keys.get(&v.id) {
                if held.expose_secret() != key.expose_secret() {
                    return Err(integrity(format!(
                        "the server offers another key for vault {}",
                        v.id
                    )));
                }
                continue;
            }
            self.store.put_vault(v.id, &v.key_wrap.0)?;
            u.vault_keys.insert(v.id, key);
        }
        // A device that signed in holds no vault until its first sync: new items go to the
        // first vault it learns of (the one sign-up made, for now the only one).
        let mail = u.mail_vault;
        if !u.vault_keys.contains_key(&u.default_vault)
            && let Some(first) = u.vault_keys.keys().filter(|v| **v != mail).min()
        {
            u.default_vault = *first;
        }
        Ok(())
    }

    /// Checks the manifests the feed brought for a vault, in order: each must be sealed by
    /// this account for this vault, each version one more than the last, each naming the
    /// one before (the first the one this device holds, or none for version 1), and the
    /// version this device holds must be among them unchanged. A version this device made
    /// but its cache does not record (`own_version`) means the cache was put back to an
    /// older copy. Returns the newest (version, sealed, opened) and the newest that changed
    /// the vault's contents (not a device's view only), and records every verified
    /// version's link in `seen`.
    #[allow(clippy::type_complexity)]
    fn verify_chain(
        &self,
        row: &VaultRow,
        list: &[Manifest],
        seen: &mut BTreeMap<(Uuid, i64), [u8; 32]>,
    ) -> Result<(Option<(i64, Vec<u8>, manifest::Manifest)>, Option<Vec<u8>>)> {
        let vault = row.id;
        let me = self.device_id()?;
        let own = self.own_version(vault)?.unwrap_or(row.manifest_version);
        let u = self.unlocked()?;
        let key = Self::vault_key(&u, vault)?;
        // The version before the next one in the list, and its link.
        let mut before: Option<(i64, [u8; 32])> = None;
        let mut newest = None;
        // The contents (count, digest) the version before stands for, and the newest version
        // that changed them.
        let mut contents = row
            .manifest
            .as_ref()
            .filter(|_| row.manifest_version > 0)
            .and_then(|h| {
                manifest::open_manifest(key, u.account.as_bytes(), vault.as_bytes(), h).ok()
            })
            .map(|m| (m.count, m.digest));
        let mut changed = None;
        for m in list {
            let sealed = &m.manifest.0;
            let opened =
                manifest::open_manifest(key, u.account.as_bytes(), vault.as_bytes(), sealed)
                    .map_err(|_| {
                        integrity(format!(
                            "vault {vault}'s manifest was not sealed by this account"
                        ))
                    })?;
            if opened.version != m.version as u64 {
                return Err(integrity(format!(
                    "vault {vault}'s manifest says version {}, the server says {}",
                    opened.version, m.version
                )));
            }
            let held = row.manifest.as_ref().filter(|_| row.manifest_version > 0);
            if m.version == row.manifest_version && held != Some(sealed) {
                return Err(integrity(format!(
                    "two different manifests of vault {vault} under version {}",
                    m.version
                )));
            }
            // What this one must follow: the last in the list, else the one held.
            let expected_prev = match before {
                Some((v, link)) if v + 1 == m.version => Some(link),
                Some((v, _)) => {
                    return Err(integrity(format!(
                        "the server's feed skips from version {v} to {} of vault {vault}'s \
                         manifest",
                        m.version
                    )));
                }
                None if m.version == 1 => Some([0; 32]),
                None if m.version == row.manifest_version + 1 => held.map(|h| manifest::link(h)),
                None if m.version <= row.manifest_version => None,
                // The first this device verifies of a vault it holds none of may also be one
                // that starts a new chain: the Secret Key was changed, and the history sealed
                // under the old keys deleted (`docs/sync.md`, "Changing the Secret Key").
                None if row.manifest_version == 0
                    && opened.chain.as_ref().is_some_and(|c| c.prev == [0; 32]) =>
                {
                    Some([0; 32])
                }
                None => {
                    return Err(integrity(format!(
                        "the server's feed skips from version {} to {} of vault {vault}'s \
                         manifest",
                        row.manifest_version, m.version
                    )));
                }
            };
            if let (Some(want), Some(chain)) = (expected_prev, &opened.chain)
                && chain.prev != want
            {
                return Err(integrity(format!(
                    "version {} of vault {vault}'s manifest does not follow the version \
                     before it: the server showed devices different histories (a fork)",
                    m.version
                )));
            }
            if let Some(chain) = &opened.chain
                && chain.device == me
                && m.version > own
            {
                return Err(integrity(format!(
                    "version {} of vault {vault}'s manifest was committed by this device, but \
                     this device's cache does not know of it: the cache was put back to an \
                     older copy (or copied to another computer). Nothing was applied; sign in \
                     again on a fresh device cache to sync (reading and exporting work \
                     offline)",
                    m.version
                )));
            }
            if contents != Some((opened.count, opened.digest)) {
                contents = Some((opened.count, opened.digest));
                changed = Some(sealed.clone());
            }
            let link = manifest::link(sealed);
            seen.insert((vault, m.version), link);
            before = Some((m.version, link));
            newest = Some((m.version, sealed.clone(), opened));
        }
        if let Some((v, _, _)) = &newest
            && *v < row.manifest_version
        {
            return Err(integrity(format!(
                "the server offered version {v} of vault {vault}'s manifest, older than \
                 version {} that this device verified (rollback)",
                row.manifest_version
            )));
        }
        // A cache from before views were told apart records the version it held as the last
        // change, not a view that follows it.
        if changed.is_none()
            && !list.is_empty()
            && self.store.meta(&format!("last-change:{vault}"))?.is_none()
        {
            changed = row.manifest.clone();
        }
        Ok((newest, changed))
    }

    /// Checks a vault's manifest against the tally the changes leave: the vault's state after
    /// them must be exactly the one a device of this account sealed. `offered`: the newest
    /// the feed brought, verified by [`Client::verify_chain`].
    fn check_manifest(
        &self,
        t: &Tally,
        offered: Option<(i64, Vec<u8>, manifest::Manifest)>,
    ) -> Result<VaultState> {
        let vault = t.row.id;
        let (version, sealed, m) = match (offered, &t.row.manifest) {
            (Some(o), _) => o,
            (None, Some(sealed)) => {
                let u = self.unlocked()?;
                let m = manifest::open_manifest(
                    Self::vault_key(&u, vault)?,
                    u.account.as_bytes(),
                    vault.as_bytes(),
                    sealed,
                )
                .map_err(|_| {
                    integrity(format!(
                        "vault {vault}'s manifest was not sealed by this account"
                    ))
                })?;
                (t.row.manifest_version, sealed.clone(), m)
            }
            (None, None) if t.count == 0 => {
                return Ok(VaultState {
                    id: vault,
                    digest: t.digest.0,
                    live_count: 0,
                    manifest: None,
                });
            }
            (None, None) => {
                return Err(integrity(format!(
                    "vault {vault} holds items that no manifest lists: they were written \
                     outside a commit by this account"
                )));
            }
        };
        let count = m.count as i64;
        if count > t.count {
            return Err(integrity(format!(
                "the server withheld {} item(s) of vault {vault} that its manifest lists \
                 (silent deletion)",
                count - t.count
            )));
        }
        if count < t.count {
            return Err(integrity(format!(
                "the server served {} item(s) in vault {vault} that its manifest does not list \
                 (resurrection or injection)",
                t.count - count
            )));
        }
        if m.digest != t.digest {
            return Err(integrity(format!(
                "an item of vault {vault} is not in the state its manifest lists (an old or \
                 substituted version)"
            )));
        }
        Ok(VaultState {
            id: vault,
            digest: t.digest.0,
            live_count: t.count,
            manifest: Some((version, sealed)),
        })
    }

    /// Verifies everything the feed brought before changing anything: each item must open
    /// under its vault key at its own ids, never go back in revision, never change vault, and
    /// carry a deletion flag that matches its sealed content; each touched vault must then
    /// match its manifest. Applied in one transaction, merging local edits.
    fn apply_changes(
        &mut self,
        items: &BTreeMap<Uuid, Item>,
        manifests: &BTreeMap<Uuid, Vec<Manifest>>,
        cursor: i64,
        report: &mut SyncReport,
    ) -> Result<BTreeMap<(Uuid, i64), [u8; 32]>> {
        let mut tallies: BTreeMap<Uuid, Tally> = BTreeMap::new();
        let mut remote = Vec::with_capacity(items.len());
        // Items edited again here after this device committed them: the feed brings back a
        // state this device wrote (it is in the item's history), so the edit simply goes on
        // top of it, with nothing to merge.
        let mut ahead = std::collections::BTreeSet::new();
        // Each item opened (on all cores: a first sync brings thousands) for its deletion
        // flag; a message new to this device gives its summary to the mailbox on the way.
        let list: Vec<&Item> = items.values().collect();
        let opened = {
            let u = self.unlocked()?;
            let mail = u.mail_vault;
            crate::items::on_all_cores(&list, |it| {
                let data =
                    Self::open_item(&u, it.vault_id, it.id, &it.envelope.0).map_err(|e| {
                        integrity(format!(
                            "item {} does not open as an item of this account and vault ({e}): \
                         moved, swapped or forged",
                            it.id
                        ))
                    })?;
                let summary = (it.vault_id == mail && !data.purged)
                    .then(|| crate::mailbox::entry(it.id, &data, false));
                Ok((data.purged, summary))
            })?
        };
        let mut summaries = Vec::new();
        for (it, (purged, summary)) in list.into_iter().zip(opened) {
            let local = self.store.item(it.id)?;
            if let Some(l) = &local
                && l.dirty
                && l.envelope != it.envelope.0
                && self
                    .store
                    .history(it.id)?
                    .iter()
                    .any(|h| h.envelope == it.envelope.0)
            {
                ahead.insert(it.id);
            }
            if let Some(l) = &local {
                if it.revision < l.server_revision {
                    return Err(integrity(format!(
                        "the server offered an older revision of item {}",
                        it.id
                    )));
                }
                if it.revision == l.server_revision
                    && l.server_envelope.as_deref() != Some(&it.envelope.0[..])
                {
                    return Err(integrity(format!(
                        "the server offered another envelope under a revision of item {} \
                         already seen",
                        it.id
                    )));
                }
                if l.vault_id != it.vault_id {
                    return Err(integrity(format!(
                        "the server moved item {} to another vault",
                        it.id
                    )));
                }
            }
            if purged != it.deleted {
                return Err(integrity(format!(
                    "the server's deletion flag for item {} contradicts its sealed content",
                    it.id
                )));
            }
            let t = match tallies.entry(it.vault_id) {
                Entry::Occupied(e) => e.into_mut(),
                Entry::Vacant(e) => e.insert(self.tally(it.vault_id)?),
            };
            if let Some(l) = &local {
                let old = t.server_term(l);
                t.remove(old);
            }
            let new = (!it.deleted).then(|| {
                t.key
                    .term(it.id.as_bytes(), it.revision as u64, &it.envelope.0)
            });
            t.add(new);
            // (Written as it came: at version 0, unless another process of the account
            // writes it first, in which case the version differs and the mailbox opens it.)
            if local.is_none()
                && let Some(summary) = summary
            {
                summaries.push((it.id, 0, summary));
            }
            remote.push(RemoteItem {
                id: it.id,
                vault_id: it.vault_id,
                revision: it.revision,
                envelope: it.envelope.0.clone(),
                deleted: it.deleted,
            });
        }
        for vault in manifests.keys() {
            if let Entry::Vacant(e) = tallies.entry(*vault) {
                e.insert(self.tally(*vault)?);
            }
        }
        let mut seen = BTreeMap::new();
        let mut changes = Vec::new();
        let states = tallies
            .values()
            .map(|t| {
                let list = manifests.get(&t.row.id).map_or(&[][..], Vec::as_slice);
                let (newest, changed) = self.verify_chain(&t.row, list, &mut seen)?;
                if let Some(c) = changed {
                    changes.push((t.row.id, c));
                }
                self.check_manifest(t, newest)
            })
            .collect::<Result<Vec<_>>>()?;

        let u = self.unlocked()?;
        let mut copies: Vec<(Uuid, Uuid, ItemData)> = Vec::new();
        let mut merged_count = 0;
        let mut failure: Option<ClientError> = None;
        let merge_one = |local: &ItemRow, incoming: &RemoteItem| -> Option<(Vec<u8>, bool)> {
            // This device's own commit coming back: it leaves the outbox.
            if local.envelope == incoming.envelope {
                return Some((incoming.envelope.clone(), incoming.deleted));
            }
            if ahead.contains(&local.id) {
                return Some((local.envelope.clone(), local.deleted));
            }
            let mut run = || -> Result<(Vec<u8>, bool)> {
                let ours = Self::open_item(&u, local.vault_id, local.id, &local.envelope)?;
                let theirs =
                    Self::open_item(&u, incoming.vault_id, incoming.id, &incoming.envelope)?;
                let base = match &local.server_envelope {
                    Some(b) => Some(Self::open_item(&u, local.vault_id, local.id, b)?),
                    None => None,
                };
                let result = match &base {
                    Some(base) => item::merge(base, &ours, &theirs),
                    None => Merge::Conflict {
                        merged: theirs.clone(),
                        copy: ours.clone(),
                    },
                };
                let kept = match result {
                    // Nothing of ours is missing from theirs: keep their bytes as they are.
                    Merge::Clean(m) if m == theirs => {
                        return Ok((incoming.envelope.clone(), incoming.deleted));
                    }
                    Merge::Clean(m) => m,
                    Merge::Conflict { merged, copy } => {
                        copies.push((local.vault_id, local.id, copy));
                        merged
                    }
                };
                Ok((
                    Self::seal(&u, local.vault_id, local.id, &kept)?,
                    kept.purged,
                ))
            };
            merged_count += 1;
            match run() {
                Ok(v) => Some(v),
                Err(e) => {
                    failure = Some(e);
                    None
                }
            }
        };
        let generation = self
            .store
            .apply_remote(&remote, merge_one, &states, cursor, now())?;
        drop(u);
        self.unlocked()?.mail_catalog.add(summaries);
        if let Some(e) = failure {
            return Err(e);
        }
        for (vault, sealed) in changes {
            self.store
                .set_meta(&format!("last-change:{vault}"), &sealed)?;
        }
        if let Some(g) = generation {
            self.reindex(g, &remote.iter().map(|r| r.id).collect::<Vec<_>>())?;
        }
        report.pulled += remote.len();
        report.merged += merged_count;
        report.verified += states.iter().filter(|s| s.manifest.is_some()).count();
        for (vault, original, mut data) in copies {
            let id = Uuid::new_v4();
            data.conflict_of = Some(original);
            data.purged = false;
            data.title = format!("{} (conflict copy)", data.title);
            let sealed = Self::seal(&*self.unlocked()?, vault, id, &data)?;
            self.save_local(id, vault, &sealed, false, now())?;
            report.conflict_copies += 1;
        }
        Ok(seen)
    }
}
