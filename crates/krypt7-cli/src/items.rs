//! `krypt7 item …`: add, list, show, edit, trash, restore and purge items, and their history.

use std::collections::BTreeMap;

use clap::Subcommand;
use krypt7_client::{ClientError, ItemData, ItemKind, ItemView};
use serde_json::{Value, json};

use crate::{Cli, Failure, Keys, Out, confirmed, open, parse_id, unlock};

#[derive(Subcommand)]
pub(crate) enum ItemCommand {
    /// Move to the trash (restorable).
    Rm {
        id: String,
        #[command(flatten)]
        keys: Keys,
    },
    /// Bring back from the trash.
    Restore {
        id: String,
        #[command(flatten)]
        keys: Keys,
    },
    /// Delete for good, history included (asked on a terminal; --yes in a script).
    Purge {
        id: String,
        #[arg(long)]
        yes: bool,
        #[command(flatten)]
        keys: Keys,
    },
    /// Earlier versions, newest first.
    History {
        id: String,
        #[command(flatten)]
        keys: Keys,
    },
    /// Add an item: `krypt7 item add login --title Bank --field username=alice`
    /// (`krypt7 kinds` lists each kind's standard fields; any other name is a custom field).
    Add {
        kind: String,
        #[arg(long)]
        title: String,
        /// name=value, repeatable; a list field (e.g. a contact's emails) takes one value per
        /// repetition.
        #[arg(long = "field")]
        fields: Vec<String>,
        #[arg(long)]
        folder: Option<String>,
        /// Repeatable.
        #[arg(long = "tag")]
        tags: Vec<String>,
        #[arg(long)]
        favorite: bool,
        #[command(flatten)]
        keys: Keys,
    },
    /// Items outside the trash, by title (or the trash with --trash).
    List {
        #[arg(long)]
        folder: Option<String>,
        #[arg(long)]
        tag: Option<String>,
        #[arg(long)]
        favorites: bool,
        #[arg(long)]
        trash: bool,
        #[command(flatten)]
        keys: Keys,
    },
    Get {
        id: String,
        #[command(flatten)]
        keys: Keys,
    },
    /// Change an item: fields given replace those of the same name.
    Edit {
        id: String,
        #[arg(long)]
        title: Option<String>,
        #[arg(long = "field")]
        fields: Vec<String>,
        /// Remove a field, repeatable.
        #[arg(long = "remove-field")]
        remove_fields: Vec<String>,
        /// Move to this folder ("" for none).
        #[arg(long)]
        folder: Option<String>,
        #[arg(long = "tag")]
        tags: Vec<String>,
        #[arg(long = "untag")]
        untags: Vec<String>,
        #[arg(long, conflicts_with = "unfavorite")]
        favorite: bool,
        #[arg(long)]
        unfavorite: bool,
        #[command(flatten)]
        keys: Keys,
    },
}

/// Runs one `item` command.
pub(crate) async fn run(cli: &Cli, cmd: &ItemCommand) -> Out {
    match cmd {
        ItemCommand::Rm { id, keys }
        | ItemCommand::Restore { id, keys }
        | ItemCommand::Purge { id, keys, .. } => {
            let id = parse_id(id)?;
            let mut c = open(cli)?;
            unlock(&mut c, keys)?;
            match cmd {
                ItemCommand::Rm { .. } => c.trash_item(id)?,
                ItemCommand::Restore { .. } => c.restore_item(id)?,
                ItemCommand::Purge { yes, .. } => {
                    let title = c.item(id)?.data.title;
                    confirmed(
                        *yes,
                        &format!("Delete {title:?} for good, with its history?"),
                        "--yes",
                    )?;
                    c.purge_item(id)?
                }
                _ => {}
            }
            Ok(json!({"id": id}))
        }
        ItemCommand::History { id, keys } => {
            let id = parse_id(id)?;
            let mut c = open(cli)?;
            unlock(&mut c, keys)?;
            let h: Vec<Value> = c
                .history(id)?
                .into_iter()
                .map(|(at, d)| json!({"replaced_at": at, "title": d.title, "fields": d.fields, "trashed": d.trashed}))
                .collect();
            Ok(Value::Array(h))
        }
        ItemCommand::Add {
            kind,
            title,
            fields: f,
            folder,
            tags,
            favorite,
            keys,
        } => {
            let kind = kind_arg(kind)?;
            let data = ItemData {
                fields: fields(kind, f)?,
                folder: folder.clone().filter(|f| !f.is_empty()),
                tags: tags.clone(),
                favorite: *favorite,
                ..ItemData::new(kind, title)
            };
            let mut c = open(cli)?;
            unlock(&mut c, keys)?;
            let id = c.add_item(data)?;
            Ok(json!({"id": id}))
        }
        ItemCommand::List {
            folder,
            tag,
            favorites,
            trash,
            keys,
        } => {
            let mut c = open(cli)?;
            unlock(&mut c, keys)?;
            let mut items: Vec<ItemView> = c
                .items()?
                .into_iter()
                .filter(|i| {
                    i.data.trashed == *trash
                        && folder
                            .as_ref()
                            .is_none_or(|f| i.data.folder.as_ref() == Some(f))
                        && tag.as_ref().is_none_or(|t| i.data.tags.contains(t))
                        && (!favorites || i.data.favorite)
                })
                .collect();
            items.sort_by(|a, b| {
                a.data
                    .title
                    .to_lowercase()
                    .cmp(&b.data.title.to_lowercase())
            });
            Ok(Value::Array(items.iter().map(item_json).collect()))
        }
        ItemCommand::Get { id, keys } => {
            let mut c = open(cli)?;
            unlock(&mut c, keys)?;
            Ok(item_json(&c.item(parse_id(id)?)?))
        }
        ItemCommand::Edit {
            id,
            title,
            fields: f,
            remove_fields,
            folder,
            tags,
            untags,
            favorite,
            unfavorite,
            keys,
        } => {
            let id = parse_id(id)?;
            let mut c = open(cli)?;
            unlock(&mut c, keys)?;
            let mut data = c.item(id)?.data;
            let f = fields(data.kind, f)?;
            if let Some(t) = title {
                data.title = t.clone();
            }
            for name in remove_fields {
                if data.fields.remove(name).is_none() {
                    return Err(Failure(ClientError::Invalid(format!(
                        "the item has no field {name:?}"
                    ))));
                }
            }
            data.fields.extend(f);
            if let Some(folder) = folder {
                data.folder = Some(folder.clone()).filter(|f| !f.is_empty());
            }
            data.tags.retain(|t| !untags.contains(t));
            for t in tags {
                if !data.tags.contains(t) {
                    data.tags.push(t.clone());
                }
            }
            if *favorite || *unfavorite {
                data.favorite = *favorite;
            }
            c.edit_item(id, data)?;
            Ok(json!({"id": id}))
        }
    }
}

/// `name=value` pairs; a name given twice is kept as one value per line when the kind's
/// field is a list, and refused otherwise.
fn fields(kind: ItemKind, pairs: &[String]) -> Result<BTreeMap<String, String>, Failure> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for p in pairs {
        let (n, v) = p
            .split_once('=')
            .filter(|(n, _)| !n.trim().is_empty())
            .map(|(n, v)| (n.trim().to_string(), v.to_string()))
            .ok_or_else(|| {
                Failure(ClientError::Invalid(format!(
                    "a field is name=value, got {p:?}"
                )))
            })?;
        match out.get_mut(&n) {
            Some(existing) if kind.field(&n).is_some_and(|f| f.list) => {
                existing.push('\n');
                existing.push_str(&v);
            }
            Some(_) => {
                return Err(Failure(ClientError::Invalid(format!(
                    "field {n:?} is given twice (only list fields take several values)"
                ))));
            }
            None => {
                out.insert(n, v);
            }
        }
    }
    Ok(out)
}

fn kind_arg(kind: &str) -> Result<ItemKind, Failure> {
    ItemKind::parse(kind).ok_or_else(|| {
        Failure(ClientError::Invalid(format!(
            "unknown item kind {kind:?}: login, note, card, identity or contact"
        )))
    })
}

pub(crate) fn item_json(i: &ItemView) -> Value {
    json!({"id": i.id, "vault_id": i.vault_id, "kind": i.data.kind, "title": i.data.title, "fields": i.data.fields,
           "tags": i.data.tags, "folder": i.data.folder, "favorite": i.data.favorite, "trashed": i.data.trashed,
           "conflict_of": i.data.conflict_of, "pending": i.pending,
           // What a file is, never its key: `file get --index N` fetches it.
           "files": i.data.files.iter().enumerate().map(|(n, f)| json!({"index": n, "name": f.name,
               "media_type": f.media_type, "size": f.size, "sha256": f.sha256})).collect::<Vec<_>>()})
}
