//! The vault's search index in the client: kept current in place by this client's writes,
//! sealed into the cache at lock and read back at the next unlock (`docs/sync.md`, "Unlock
//! and the search index"). The index itself is `search.rs`.

use krypt7_crypto::envelope;
use krypt7_store::Store;
use uuid::Uuid;

use crate::{Client, ClientError, Result, Unlocked, search};

/// The cache's sealed copy of the search index (meta key and sealing label).
pub(crate) const INDEX_KEY: &str = "search-index";

/// What the sealed copy of the search index is bound to: its purpose and generation.
fn index_label(generation: i64) -> Vec<u8> {
    format!("{INDEX_KEY} {generation}").into_bytes()
}

/// Seals the search index into the cache if it is current and not saved yet.
pub(crate) fn save_index(store: &Store, u: &mut Unlocked) -> Result<()> {
    let generation = store.generation()?;
    if u.index_saved || u.index_generation != generation {
        return Ok(());
    }
    let Some(ix) = u.index.as_mut() else {
        return Ok(());
    };
    let sealed = envelope::seal_local_secret(
        &u.keyset.account_key,
        u.account.as_bytes(),
        &index_label(generation),
        &ix.to_bytes(),
    )?;
    let mut stored = generation.to_be_bytes().to_vec();
    stored.extend_from_slice(&sealed);
    store.set_meta(INDEX_KEY, &stored)?;
    u.index_saved = true;
    Ok(())
}

impl Client {
    /// The search index, current at the cache's generation: kept up to date in place by
    /// every change this client makes ([`Client::reindex`]); else the sealed copy in the
    /// cache if it was made at this generation; else built from every item, on all cores,
    /// each item decrypted, indexed and dropped in one pass (the copy is written at lock).
    /// Returns `f` of it.
    pub(crate) fn with_index<R>(&mut self, f: impl FnOnce(&search::Index) -> R) -> Result<R> {
        let generation = self.store.generation()?;
        let current = {
            let u = self.unlocked()?;
            u.index.is_some() && u.index_generation == generation
        };
        if !current {
            let (index, saved) = match self.stored_index(generation)? {
                Some(ix) => (ix, true),
                None => {
                    let u = self.unlocked()?;
                    let store = &self.store;
                    let mut after = 0;
                    let mail = u.mail_vault;
                    let ix = search::Index::build(
                        || {
                            let (last, mut rows) = store.live_items_after(after, 2048)?;
                            after = last;
                            rows.retain(|r| r.vault_id != mail);
                            Ok(rows)
                        },
                        |r| {
                            Ok::<_, ClientError>((
                                r.id,
                                Self::open_live(&u, r.vault_id, r.id, &r.envelope)?,
                            ))
                        },
                    )?;
                    (ix, false)
                }
            };
            let mut u = self.unlocked()?;
            u.index = Some(index);
            u.index_generation = generation;
            u.index_saved = saved;
        }
        let u = self.unlocked()?;
        Ok(f(u.index.as_ref().ok_or(ClientError::Locked)?))
    }

    /// Brings the index up to date after a write that moved the cache to `generation` and
    /// changed `ids`. If the index was not current just before that write (another process
    /// shares the cache), or the change is large, it is dropped and rebuilt on next use.
    pub(crate) fn reindex(&mut self, generation: i64, ids: &[Uuid]) -> Result<()> {
        const IN_PLACE_MAX: usize = 2000;
        let Ok(mut u) = self.unlocked() else {
            return Ok(());
        };
        let Some(mut ix) = u.index.take() else {
            return Ok(());
        };
        if u.index_generation != generation - 1 || ids.len() > IN_PLACE_MAX {
            return Ok(());
        }
        for &id in ids {
            match self.store.item(id)? {
                Some(row) if !row.deleted && row.vault_id != u.mail_vault => {
                    ix.upsert(id, Self::open_live(&u, row.vault_id, id, &row.envelope)?);
                }
                _ => ix.remove(id),
            }
        }
        u.index = Some(ix);
        u.index_generation = generation;
        u.index_saved = false;
        Ok(())
    }

    /// The sealed copy of the index, if it was made at `generation`. It is stored as the
    /// generation (in the clear, so a stale copy is not even decrypted) and the index sealed
    /// under a label naming that generation (so a rewritten number fails to open).
    fn stored_index(&self, generation: i64) -> Result<Option<search::Index>> {
        let made_at = self.store.meta_head(INDEX_KEY, 8)?;
        if made_at.as_deref() != Some(generation.to_be_bytes().as_slice()) {
            return Ok(None);
        }
        let Some(stored) = self.store.meta(INDEX_KEY)? else {
            return Ok(None);
        };
        let Some((_, sealed)) = stored.split_first_chunk::<8>() else {
            return Ok(None);
        };
        let u = self.unlocked()?;
        Ok(envelope::open_local_secret(
            &u.keyset.account_key,
            u.account.as_bytes(),
            &index_label(generation),
            sealed,
        )
        .ok()
        .and_then(|plain| search::Index::from_bytes(&plain)))
    }
}
