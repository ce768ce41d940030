//! Items: adding, reading, listing, searching, editing, trashing, restoring and purging
//! them, their history and one-time codes. All of it works offline; sync carries it.

use uuid::Uuid;

use crate::*;

impl Client {
    /// Adds an item to the default vault (offline: it waits in the outbox).
    pub fn add_item(&mut self, data: ItemData) -> Result<Uuid> {
        Self::not_purged(&data)?;
        let u = self.unlocked()?;
        let id = Uuid::new_v4();
        let vault = u.default_vault;
        let sealed = Self::seal(&u, vault, id, &data)?;
        drop(u);
        self.save_local(id, vault, &sealed, false, now())?;
        Ok(id)
    }

    /// Adds many items at once (an import), in one transaction: all or none.
    pub fn add_items(&mut self, items: &[ItemData]) -> Result<Vec<Uuid>> {
        let u = self.unlocked()?;
        let vault = u.default_vault;
        let mut writes = Vec::with_capacity(items.len());
        for data in items {
            Self::not_purged(data)?;
            let id = Uuid::new_v4();
            writes.push((id, vault, Self::seal(&u, vault, id, data)?));
        }
        drop(u);
        let generation = self.store.save_local_many(&writes, now())?;
        let ids: Vec<Uuid> = writes.into_iter().map(|(id, _, _)| id).collect();
        self.reindex(generation, &ids)?;
        Ok(ids)
    }

    pub fn item(&self, id: Uuid) -> Result<ItemView> {
        let u = self.unlocked()?;
        let row = self
            .store
            .item(id)?
            .filter(|r| !r.deleted)
            .ok_or(ClientError::NoSuchItem)?;
        Ok(ItemView {
            id,
            vault_id: row.vault_id,
            data: Self::open_live(&u, row.vault_id, id, &row.envelope)?,
            pending: row.dirty,
        })
    }

    /// Every live item (trashed ones included; see `ItemData::trashed`). Decrypted on all
    /// cores: at unlock this is most of the wait after the KDF.
    pub fn items(&self) -> Result<Vec<ItemView>> {
        let u = self.unlocked()?;
        let mut rows = self.store.live_items()?;
        rows.retain(|r| r.vault_id != u.mail_vault);
        let open = |r: &krypt7_store::LiveItem| -> Result<ItemView> {
            Ok(ItemView {
                id: r.id,
                vault_id: r.vault_id,
                data: Self::open_live(&u, r.vault_id, r.id, &r.envelope)?,
                pending: r.dirty,
            })
        };
        on_all_cores(&rows, open)
    }

    /// Folder names in use, with how many items outside the trash each holds, by name
    /// (from the search index: nothing is decrypted).
    pub fn folders(&mut self) -> Result<Vec<(String, usize)>> {
        self.with_index(|ix| ix.labels().0)
    }

    /// Tags in use, with how many items outside the trash carry each, by name.
    pub fn tags(&mut self) -> Result<Vec<(String, usize)>> {
        self.with_index(|ix| ix.labels().1)
    }

    pub fn edit_item(&mut self, id: Uuid, data: ItemData) -> Result<()> {
        Self::not_purged(&data)?;
        let current = self.item(id)?;
        let u = self.unlocked()?;
        let sealed = Self::seal(&u, current.vault_id, id, &data)?;
        drop(u);
        self.save_local(id, current.vault_id, &sealed, false, now())?;
        Ok(())
    }

    /// Searches titles, tags, folders and every non-secret field (prefix, one typo allowed),
    /// narrowed by `filter`: every match, title matches first, each group by title.
    pub fn search(&mut self, query: &str, filter: &search::Filter) -> Result<Vec<ItemView>> {
        let ids = self.with_index(|ix| ix.search(query, filter))?;
        if ids.len() < 1000 {
            return ids.iter().map(|id| self.item(*id)).collect();
        }
        // Many hits: one pass over the whole cache (on all cores) beats one read per hit.
        let mut all: std::collections::HashMap<Uuid, ItemView> =
            self.items()?.into_iter().map(|i| (i.id, i)).collect();
        let hits = ids
            .iter()
            .map(|id| all.remove(id).ok_or(ClientError::NoSuchItem))
            .collect();
        for (_, mut rest) in all {
            zeroize::Zeroize::zeroize(&mut rest.data);
        }
        hits
    }

    /// One page of [`Client::search`]'s results, and how many there are in all: what a
    /// search-as-you-type list shows. Only the page's items are decrypted.
    pub fn search_page(
        &mut self,
        query: &str,
        filter: &search::Filter,
        offset: usize,
        limit: usize,
    ) -> Result<(usize, Vec<ItemView>)> {
        let ids = self.with_index(|ix| ix.search(query, filter))?;
        let page = ids
            .iter()
            .skip(offset)
            .take(limit)
            .map(|id| self.item(*id))
            .collect::<Result<Vec<_>>>()?;
        Ok((ids.len(), page))
    }

    /// Moves an item to the trash (it stays restorable and keeps syncing).
    pub fn trash_item(&mut self, id: Uuid) -> Result<()> {
        let mut data = self.item(id)?.data;
        data.trashed = true;
        self.edit_item(id, data)
    }

    pub fn restore_item(&mut self, id: Uuid) -> Result<()> {
        let mut data = self.item(id)?.data;
        data.trashed = false;
        self.edit_item(id, data)
    }

    /// Deletes for good: what syncs is a sealed tombstone with no content, and this device's
    /// history of the item is erased.
    pub fn purge_item(&mut self, id: Uuid) -> Result<()> {
        let current = self.item(id)?;
        let tombstone = ItemData::tombstone(current.data.kind);
        let u = self.unlocked()?;
        let sealed = Self::seal(&u, current.vault_id, id, &tombstone)?;
        drop(u);
        self.save_local(id, current.vault_id, &sealed, true, now())?;
        self.store.erase_history(id)?;
        Ok(())
    }

    /// Earlier versions of an item, newest first, with the time each was replaced.
    pub fn history(&self, id: Uuid) -> Result<Vec<(i64, ItemData)>> {
        let current = self.item(id)?;
        let u = self.unlocked()?;
        self.store
            .history(id)?
            .into_iter()
            .map(|h| {
                Ok((
                    h.saved_at,
                    Self::open_item(&u, current.vault_id, id, &h.envelope)?,
                ))
            })
            .collect()
    }

    /// The current one-time code of a login item with a `totp` field.
    pub fn totp(&self, id: Uuid) -> Result<totp::Code> {
        let item = self.item(id)?;
        let field = item
            .data
            .fields
            .get("totp")
            .ok_or_else(|| ClientError::Invalid("this item has no TOTP secret".into()))?;
        totp::code_at(field, now() as u64)
    }
}

/// `f` of each of `list`, in order, on all cores when the list is long (2048 or more): the
/// decryption of many items at once (unlock, a first sync). The first failure is returned.
pub(crate) fn on_all_cores<T: Sync, R: Send>(
    list: &[T],
    f: impl Fn(&T) -> Result<R> + Sync,
) -> Result<Vec<R>> {
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    if threads == 1 || list.len() < 2048 {
        return list.iter().map(f).collect();
    }
    let chunk = list.len().div_ceil(threads);
    let f = &f;
    std::thread::scope(|s| {
        let parts: Vec<_> = list
            .chunks(chunk)
            .map(|c| s.spawn(move || c.iter().map(f).collect::<Result<Vec<_>>>()))
            .collect();
        let mut all = Vec::with_capacity(list.len());
        for p in parts {
            all.extend(
                p.join()
                    .map_err(|_| ClientError::Integrity("a decryption thread failed".into()))??,
            );
        }
        Ok(all)
    })
}
