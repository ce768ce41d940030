//! Sync (`docs/sync.md`): the outbox goes up in per-vault commits that carry the vault's next
//! manifest; the change feed comes down whole, is checked item by item and against each
//! vault's manifest, and only then applied, in one transaction, merging local edits.

use std::collections::{BTreeMap, btree_map::Entry};

use krypt7_crypto::{
    envelope,
    keys::VaultKey,
    manifest::{self, Digest, ManifestKey, Term},
};
use krypt7_protocol::{B64, Changes, Commit, CommitItem, Committed, Item, Manifest, Vault};
use krypt7_store::{Ack, ItemRow, RemoteItem, VaultRow, VaultState};
use reqwest::Method;
use uuid::Uuid;

use crate::{
    Auth, Client, ClientError, ItemData, Merge, Progress, Result, Unlocked, api::Events, item, now,
};

/// At most this many items, or about this many envelope bytes, in one commit.
const COMMIT_ITEMS: usize = 500;
/// Items asked for per change-feed page.
const FEED_LIMIT: usize = 500;
/// The largest change-feed page read.
const MAX_PAGE: usize = 32 << 20;
const COMMIT_BYTES: usize = 1 << 20;

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
        for _round in 0..4 {
            self.pull(&mut report).await?;
            let (pushed, raced) = self.push(&mut report).await?;
            if pushed == 0 && !raced {
                break;
            }
        }
        report.cursor = self.store.cursor()?;
        Ok(report)
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

    /// Sends the outbox, one commit per vault and batch. Returns how many items the server
    /// took, and whether a commit lost a race (the next pull brings the other side's change).
    async fn push(&mut self, report: &mut SyncReport) -> Result<(usize, bool)> {
        let token = self.token()?;
        let mut by_vault: BTreeMap<Uuid, Vec<ItemRow>> = BTreeMap::new();
        for row in self.store.outbox()? {
            by_vault.entry(row.vault_id).or_default().push(row);
        }
        let total = by_vault.values().map(Vec::len).sum();
        let (mut pushed, mut raced) = (0, false);
        for (vault, rows) in by_vault {
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
                if !self.commit(vault, batch, &token).await? {
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
        Ok((pushed, raced))
    }

    /// One commit: the items and the vault's next manifest, computed from the verified state
    /// plus these changes. `false`: the server holds a newer state (409), nothing was written.
    async fn commit(&mut self, vault: Uuid, batch: &[ItemRow], token: &Auth) -> Result<bool> {
        let mut t = self.tally(vault)?;
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
                },
            )?
        };
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
            Err(ClientError::Server { status: 409, .. }) => return Ok(false),
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
        let acks: Vec<Ack> = batch
            .iter()
            .map(|r| Ack {
                id: r.id,
                local_version: r.local_version,
                revision: r.server_revision + 1,
                envelope: r.envelope.clone(),
                deleted: r.deleted,
            })
            .collect();
        self.store.acknowledge_commit(
            &acks,
            &VaultState {
                id: vault,
                digest: t.digest.0,
                live_count: t.count,
                manifest: Some((version, sealed)),
            },
        )?;
        Ok(true)
    }

    /// Reads the change feed to its end, then checks and applies everything it brought. A
    /// feed that goes back, or says it has more without moving on, is an integrity error.
    async fn pull(&mut self, report: &mut SyncReport) -> Result<()> {
        let token = self.token()?;
        let start = self.store.cursor()?;
        let mut since = start;
        // The latest state of each item and manifest: a later page supersedes an earlier one.
        let mut items: BTreeMap<Uuid, Item> = BTreeMap::new();
        let mut manifests: BTreeMap<Uuid, Manifest> = BTreeMap::new();
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
            if page.cursor < since {
                return Err(integrity(format!(
                    "the server's change feed went back from {since} to {}",
                    page.cursor
                )));
            }
            if page.has_more && (page.cursor == since || page.items.is_empty()) {
                return Err(integrity(format!(
                    "the server's change feed says there is more but does not move on from {since}"
                )));
            }
            self.apply_vaults(&page.vaults)?;
            items.extend(page.items.into_iter().map(|i| (i.id, i)));
            manifests.extend(page.manifests.into_iter().map(|m| (m.vault_id, m)));
            since = page.cursor;
            self.report(Progress::Pulling { items: items.len() });
            if !page.has_more {
                break;
            }
        }
        if items.is_empty() && manifests.is_empty() && since == start {
            return Ok(());
        }
        self.apply_changes(&items, &manifests, since, report)
    }

    /// New vaults' keys: unwrapped with the account key (a wrap this account did not make is
    /// refused) and cached. A vault's key never changes: another key offered for a vault this
    /// device holds is refused too.
    fn apply_vaults(&mut self, vaults: &[Vault]) -> Result<()> {
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
        if !u.vault_keys.contains_key(&u.default_vault)
            && let Some(first) = u.vault_keys.keys().min()
        {
            u.default_vault = *first;
        }
        Ok(())
    }

    /// Checks a manifest against the tally the changes leave: the vault's state after them
    /// must be exactly the one a device of this account sealed.
    fn check_manifest(&self, t: &Tally, offered: Option<&Manifest>) -> Result<VaultState> {
        let vault = t.row.id;
        let (version, sealed) = match (offered, &t.row.manifest) {
            (Some(m), _) => (m.version, m.manifest.0.clone()),
            (None, Some(m)) => (t.row.manifest_version, m.clone()),
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
        if version < t.row.manifest_version {
            return Err(integrity(format!(
                "the server offered version {version} of vault {vault}'s manifest, older than \
                 version {} that this device verified (rollback)",
                t.row.manifest_version
            )));
        }
        if version == t.row.manifest_version && t.row.manifest.as_ref() != Some(&sealed) {
            return Err(integrity(format!(
                "two different manifests of vault {vault} under version {version}"
            )));
        }
        let u = self.unlocked()?;
        let m = manifest::open_manifest(
            Self::vault_key(&u, vault)?,
            u.account.as_bytes(),
            vault.as_bytes(),
            &sealed,
        )
        .map_err(|_| {
            integrity(format!(
                "vault {vault}'s manifest was not sealed by this account"
            ))
        })?;
        if m.version != version as u64 {
            return Err(integrity(format!(
                "vault {vault}'s manifest says version {}, the server says {version}",
                m.version
            )));
        }
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
        manifests: &BTreeMap<Uuid, Manifest>,
        cursor: i64,
        report: &mut SyncReport,
    ) -> Result<()> {
        let mut tallies: BTreeMap<Uuid, Tally> = BTreeMap::new();
        let mut remote = Vec::with_capacity(items.len());
        for it in items.values() {
            let local = self.store.item(it.id)?;
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
            let data = Self::open_item(&*self.unlocked()?, it.vault_id, it.id, &it.envelope.0)
                .map_err(|e| {
                    integrity(format!(
                        "item {} does not open as an item of this account and vault ({e}):                          moved, swapped or forged",
                        it.id
                    ))
                })?;
            if data.purged != it.deleted {
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
        let states = tallies
            .values()
            .map(|t| self.check_manifest(t, manifests.get(&t.row.id)))
            .collect::<Result<Vec<_>>>()?;

        let u = self.unlocked()?;
        let mut copies: Vec<(Uuid, Uuid, ItemData)> = Vec::new();
        let mut merged_count = 0;
        let mut failure: Option<ClientError> = None;
        let merge_one = |local: &ItemRow, incoming: &RemoteItem| -> Option<(Vec<u8>, bool)> {
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
        if let Some(e) = failure {
            return Err(e);
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
        Ok(())
    }
}
