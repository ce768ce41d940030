//! Importing other managers' exports (`docs/import.md`): the file is read by
//! `krypt7-import`, each record checked and made an item, the ones already in the vault
//! left out, and the rest sealed and added in one write, so a cancelled or failed import
//! adds nothing.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};

use krypt7_import::Record;
pub use krypt7_import::{
    Format, Kind as ImportKind, Note, Options as ImportOptions, Outcome, Report, needs_password,
};
use uuid::Uuid;

use crate::{
    Client, Progress,
    error::{ClientError, Result},
    item::{ItemData, ItemKind},
    now,
};

/// How many items are sealed between two progress reports (and cancellation checks).
const STEP: usize = 256;

impl Client {
    /// Imports `bytes`, an export of another manager (`format`, or the one its content
    /// shows), into the personal vault. Items already here from an earlier import of the
    /// same data are not added again. With `dry_run`, nothing is written: the report says
    /// what would be. Setting `cancel` stops the import with nothing added.
    pub fn import_file(
        &mut self,
        bytes: &[u8],
        format: Option<Format>,
        options: &ImportOptions,
        dry_run: bool,
        cancel: &AtomicBool,
    ) -> Result<Report> {
        self.unlocked()?;
        let import = krypt7_import::read(bytes, format, options)
            .map_err(|e| ClientError::Invalid(e.to_string()))?;
        let mut report = import.report;
        let (mut sources, mut contents) = (HashSet::new(), HashSet::new());
        for i in self.items()? {
            sources.extend(i.data.source.clone());
            contents.insert(content_id(&i.data));
        }
        let mut items = Vec::with_capacity(import.records.len());
        for record in import.records {
            let (data, history) = item_of(&record, &mut report);
            if let Err(why) = data.validate() {
                report
                    .remarks
                    .push(format!("{:?} was not imported: {why}", data.title));
                continue;
            }
            // Matched against the vault only: two rows of one file that are the same entry
            // are both kept (the file had both), and a second import finds both.
            let seen = data.source.as_ref().is_some_and(|s| sources.contains(s))
                || contents.contains(&content_id(&data));
            if seen {
                report.duplicates += 1;
                continue;
            }
            *report.imported.entry(record.kind()).or_default() += 1;
            items.push((data, history));
        }
        if dry_run || items.is_empty() {
            return Ok(report);
        }
        let total = items.len();
        let mut writes = Vec::with_capacity(total);
        let mut ids = Vec::with_capacity(total);
        for (n, chunk) in items.chunks(STEP).enumerate() {
            if cancel.load(Ordering::Relaxed) {
                return Err(ClientError::Cancelled);
            }
            self.report(Progress::Importing {
                done: n * STEP,
                total,
            });
            let u = self.unlocked()?;
            let vault = u.default_vault;
            for (data, history) in chunk {
                let id = Uuid::new_v4();
                // Earlier versions first: each write of the same id keeps the one before it
                // in the item's history.
                for h in history {
                    writes.push((id, vault, Self::seal(&u, vault, id, h)?));
                }
                writes.push((id, vault, Self::seal(&u, vault, id, data)?));
                ids.push(id);
            }
        }
        if cancel.load(Ordering::Relaxed) {
            return Err(ClientError::Cancelled);
        }
        let generation = self.store.save_local_many(&writes, now())?;
        self.reindex(generation, &ids)?;
        self.report(Progress::Importing { done: total, total });
        Ok(report)
    }
}

/// The item of a record, and its earlier versions (oldest first).
fn item_of(r: &Record, report: &mut Report) -> (ItemData, Vec<ItemData>) {
    let mut data = plain_item(r);
    fix(&mut data, Some(report));
    let history = r
        .history
        .iter()
        .map(|h| {
            let mut old = plain_item(h);
            fix(&mut old, None);
            old
        })
        .collect();
    (data, history)
}

/// A value KRYPT7 would refuse (a one-time code secret that yields no codes, a card expiry
/// that is not a month) is kept under another name, and noted.
fn fix(data: &mut ItemData, mut report: Option<&mut Report>) {
    let mut rename = |data: &mut ItemData, from: &str, to: &str| {
        if let Some(v) = data.fields.remove(from) {
            data.fields.insert(to.into(), v);
            if let Some(r) = report.as_deref_mut() {
                r.note(from, Outcome::Custom { name: to.into() }, &data.title);
            }
        }
    };
    if data
        .fields
        .get("totp")
        .is_some_and(|t| crate::totp::code_at(t, 0).is_err())
    {
        rename(data, "totp", "totp (not usable)");
    }
    if data.kind == ItemKind::Card && data.validate().is_err() {
        rename(data, "expiry", "expiry (as written)");
    }
}

fn plain_item(r: &Record) -> ItemData {
    let kind = match r.kind() {
        ImportKind::Login => ItemKind::Login,
        ImportKind::Note => ItemKind::Note,
        ImportKind::Card => ItemKind::Card,
        ImportKind::Identity => ItemKind::Identity,
        ImportKind::Contact => ItemKind::Contact,
    };
    ItemData {
        fields: r.fields.clone(),
        folder: r.folder.clone(),
        tags: r.tags.clone(),
        favorite: r.favorite,
        trashed: r.trashed,
        hidden: r.hidden.clone(),
        source: r.source_id.clone(),
        ..ItemData::new(kind, &r.title)
    }
}

/// What makes two items the same entry for a re-import: kind, title and fields.
fn content_id(d: &ItemData) -> [u8; 32] {
    let mut h = ring::digest::Context::new(&ring::digest::SHA256);
    let mut put = |s: &str| {
        h.update(&(s.len() as u64).to_be_bytes());
        h.update(s.as_bytes());
    };
    put(&d.kind.number().to_string());
    put(&d.title);
    for (k, v) in &d.fields {
        put(k);
        put(v);
    }
    let mut out = [0u8; 32];
    out.copy_from_slice(h.finish().as_ref());
    out
}
