//! The vault: the item list and search, labels, an item's details, saving, trash,
//! history, one-time codes, the password generator, and sync.

use crate::*;

/// One row of the item list.
#[derive(Serialize, Type)]
pub struct ItemSummary {
    pub id: String,
    pub kind: String,
    pub title: String,
    /// A second line: the username, email, organization or file name.
    pub subtitle: String,
    pub favorite: bool,
    pub trashed: bool,
    pub pending: bool,
}

#[derive(Serialize, Type)]
pub struct SearchPage {
    pub total: u32,
    pub items: Vec<ItemSummary>,
}

pub(crate) fn summary(i: &ItemView) -> ItemSummary {
    let d = &i.data;
    let subtitle = ["username", "email", "emails", "organization", "name"]
        .iter()
        .find_map(|f| d.values(f).first().map(|s| s.to_string()))
        .unwrap_or_default();
    ItemSummary {
        id: i.id.to_string(),
        kind: kind_name(d.kind),
        title: d.title.clone(),
        subtitle,
        favorite: d.favorite,
        trashed: d.trashed,
        pending: i.pending,
    }
}

pub(crate) fn kind_name(k: ItemKind) -> String {
    serde_json::to_value(k)
        .ok()
        .and_then(|v| v.as_str().map(String::from))
        .unwrap_or_default()
}

pub(crate) fn parse_kind(k: &str) -> Out<ItemKind> {
    ItemKind::parse(k).ok_or_else(|| invalid(format!("unknown item kind {k:?}")))
}

pub(crate) fn parse_id(id: &str) -> Out<Uuid> {
    id.parse()
        .map_err(|_| invalid(format!("{id:?} is not an item id")))
}

/// Which part of the vault the list shows: a sidebar section.
#[derive(Deserialize, Type, Default)]
pub struct ListFilter {
    pub kind: Option<String>,
    pub folder: Option<String>,
    pub tag: Option<String>,
    /// The trash alone.
    pub trashed: bool,
    pub favorites: bool,
    /// Conflict copies alone.
    pub conflicts: bool,
}

/// Search-as-you-type: one page of matches and how many there are.
#[tauri::command]
#[specta::specta]
pub(crate) async fn search(
    app: State<'_, App>,
    query: String,
    filter: ListFilter,
    offset: u32,
    limit: u32,
) -> Out<SearchPage> {
    with(&app, async |c| {
        let filter = Filter {
            kind: filter.kind.as_deref().map(parse_kind).transpose()?,
            folder: filter.folder,
            tag: filter.tag,
            only_trashed: filter.trashed,
            only_favorites: filter.favorites,
            only_conflicts: filter.conflicts,
            include_trashed: false,
        };
        let (total, page) = c.search_page(&query, &filter, offset as usize, limit as usize)?;
        Ok(SearchPage {
            total: total as u32,
            items: page.iter().map(summary).collect(),
        })
    })
    .await
}

/// A folder or tag in use, and how many items outside the trash have it.
#[derive(Serialize, Type)]
pub struct Label {
    pub name: String,
    pub count: u32,
}

#[derive(Serialize, Type)]
pub struct Labels {
    pub folders: Vec<Label>,
    pub tags: Vec<Label>,
    /// Conflict copies waiting to be resolved.
    pub conflicts: u32,
}

/// The sidebar's folders and tags.
#[tauri::command]
#[specta::specta]
pub(crate) async fn labels(app: State<'_, App>) -> Out<Labels> {
    with(&app, async |c| {
        let list = |l: Vec<(String, usize)>| {
            l.into_iter()
                .map(|(name, n)| Label {
                    name,
                    count: n as u32,
                })
                .collect()
        };
        let conflicts = Filter {
            only_conflicts: true,
            ..Filter::default()
        };
        Ok(Labels {
            folders: list(c.folders()?),
            tags: list(c.tags()?),
            conflicts: c.search_page("", &conflicts, 0, 0)?.0 as u32,
        })
    })
    .await
}

/// A field as the item view shows it.
#[derive(Serialize, Deserialize, Type)]
pub struct Field {
    pub name: String,
    pub label: String,
    pub value: String,
    /// Hidden until revealed; copied with clipboard auto-clear.
    pub secret: bool,
}

#[derive(Serialize, Type)]
pub struct ItemDetail {
    pub id: String,
    pub kind: String,
    pub title: String,
    pub fields: Vec<Field>,
    pub folder: Option<String>,
    pub tags: Vec<String>,
    pub favorite: bool,
    pub trashed: bool,
    pub pending: bool,
    pub conflict_of: Option<String>,
    /// A file item's own file (index 0), then attachments.
    pub files: Vec<FileInfo>,
}

/// What the UI shows of a file: never its key.
#[derive(Serialize, Type)]
pub struct FileInfo {
    pub index: u32,
    pub name: String,
    pub media_type: String,
    /// Bytes, as a number JavaScript holds exactly (files stay far below 2^53).
    pub size: f64,
    pub sha256: String,
}

/// An item's fields: standard ones first, in the kind's order, then custom ones.
pub(crate) fn fields_of(d: &ItemData) -> Vec<Field> {
    let mut fields: Vec<Field> = d
        .kind
        .fields()
        .iter()
        .filter_map(|spec| {
            d.fields.get(spec.name).map(|v| Field {
                name: spec.name.into(),
                label: spec.label.into(),
                value: v.clone(),
                secret: spec.secret,
            })
        })
        .collect();
    for (name, value) in d.fields.iter().filter(|(n, _)| d.kind.field(n).is_none()) {
        fields.push(Field {
            name: name.clone(),
            label: name.clone(),
            value: value.clone(),
            secret: d.is_secret(name),
        });
    }
    fields
}

#[tauri::command]
#[specta::specta]
pub(crate) async fn get_item(app: State<'_, App>, id: String) -> Out<ItemDetail> {
    let id = parse_id(&id)?;
    with(&app, async |c| {
        let i = c.item(id)?;
        let d = &i.data;
        let fields = fields_of(d);
        Ok(ItemDetail {
            id: i.id.to_string(),
            kind: kind_name(d.kind),
            title: d.title.clone(),
            fields,
            folder: d.folder.clone(),
            tags: d.tags.clone(),
            favorite: d.favorite,
            trashed: d.trashed,
            pending: i.pending,
            conflict_of: d.conflict_of.map(|u| u.to_string()),
            files: d
                .files
                .iter()
                .enumerate()
                .map(|(n, f)| FileInfo {
                    index: n as u32,
                    name: f.name.clone(),
                    media_type: f.media_type.clone(),
                    size: f.size as f64,
                    sha256: f.sha256.clone(),
                })
                .collect(),
        })
    })
    .await
}

/// What the edit form sends: a new item when `id` is none.
#[derive(Deserialize, Type)]
pub struct ItemInput {
    pub id: Option<String>,
    pub kind: String,
    pub title: String,
    pub fields: Vec<Field>,
    pub folder: Option<String>,
    pub tags: Vec<String>,
    pub favorite: bool,
}

#[tauri::command]
#[specta::specta]
pub(crate) async fn save_item(app: State<'_, App>, item: ItemInput) -> Out<String> {
    let kind = parse_kind(&item.kind)?;
    if item.title.trim().is_empty() {
        return Err(invalid("an item needs a title"));
    }
    let id = item.id.as_deref().map(parse_id).transpose()?;
    with(&app, async |c| {
        let mut data = match id {
            Some(id) => c.item(id)?.data,
            None => ItemData::new(kind, &item.title),
        };
        data.title = item.title;
        data.fields = item
            .fields
            .into_iter()
            .filter(|f| !f.name.trim().is_empty() && !f.value.is_empty())
            .map(|f| (f.name, f.value))
            .collect();
        data.folder = item.folder.filter(|f| !f.trim().is_empty());
        data.tags = item.tags;
        data.favorite = item.favorite;
        let id = match id {
            Some(id) => {
                c.edit_item(id, data)?;
                id
            }
            None => c.add_item(data)?,
        };
        Ok(id.to_string())
    })
    .await
}

#[tauri::command]
#[specta::specta]
pub(crate) async fn trash_item(app: State<'_, App>, id: String, restore: bool) -> Out<()> {
    let id = parse_id(&id)?;
    with(&app, async |c| {
        if restore {
            c.restore_item(id)?;
        } else {
            c.trash_item(id)?;
        }
        Ok(())
    })
    .await
}

/// A time as the UI takes it: Unix seconds in a u32 (a plain JavaScript number; enough
/// until 2106), out-of-range values clamped.
pub(crate) fn unix_seconds(t: i64) -> u32 {
    t.clamp(0, u32::MAX.into()) as u32
}

/// An earlier version of an item.
#[derive(Serialize, Type)]
pub struct Version {
    /// When it was replaced (Unix seconds); names the version for `restore_version`.
    pub saved_at: u32,
    pub title: String,
    pub fields: Vec<Field>,
    pub folder: Option<String>,
    pub tags: Vec<String>,
}

/// Earlier versions of an item, newest first (kept on this device).
#[tauri::command]
#[specta::specta]
pub(crate) async fn history(app: State<'_, App>, id: String) -> Out<Vec<Version>> {
    let id = parse_id(&id)?;
    with(&app, async |c| {
        Ok(c.history(id)?
            .into_iter()
            .map(|(at, d)| Version {
                saved_at: unix_seconds(at),
                fields: fields_of(&d),
                title: d.title,
                folder: d.folder,
                tags: d.tags,
            })
            .collect())
    })
    .await
}

/// Makes an earlier version current again (as a new edit: the current one joins the
/// history). The item stays where it is: in or out of the trash.
#[tauri::command]
#[specta::specta]
pub(crate) async fn restore_version(app: State<'_, App>, id: String, saved_at: u32) -> Out<()> {
    let id = parse_id(&id)?;
    with(&app, async |c| {
        let (_, mut old) = c
            .history(id)?
            .into_iter()
            .find(|(at, _)| unix_seconds(*at) == saved_at)
            .ok_or_else(|| invalid("this version is no longer in the history"))?;
        let current = c.item(id)?.data;
        old.trashed = current.trashed;
        old.conflict_of = current.conflict_of;
        c.edit_item(id, old)?;
        Ok(())
    })
    .await
}

#[derive(Serialize, Type)]
pub struct TotpCode {
    pub code: String,
    pub seconds_left: u32,
}

#[tauri::command]
#[specta::specta]
pub(crate) async fn totp(app: State<'_, App>, id: String) -> Out<TotpCode> {
    let id = parse_id(&id)?;
    with(&app, async |c| {
        let t = c.totp(id)?;
        Ok(TotpCode {
            code: t.code,
            seconds_left: t.seconds_left as u32,
        })
    })
    .await
}

#[derive(Serialize, Type)]
pub struct Generated {
    pub value: String,
    pub entropy_bits: f64,
}

#[tauri::command]
#[specta::specta]
pub(crate) fn generate_password(length: u32, symbols: bool) -> Out<Generated> {
    let g = generator::password(&generator::PasswordRules {
        length: length as usize,
        symbols,
        ..Default::default()
    })?;
    Ok(Generated {
        value: g.value.to_string(),
        entropy_bits: g.entropy_bits,
    })
}

#[derive(Serialize, Type)]
pub struct Synced {
    pub pushed: u32,
    pub pulled: u32,
    pub conflict_copies: u32,
    pub pending: u32,
    /// The change-feed position now applied: the page reloads when it moved, whoever
    /// pulled (a watched-folder pass syncs too).
    pub cursor: f64,
    /// Who changed the vault last, from its newest verified manifest ("vault changed by
    /// <device> at <time>"): a server hiding another device's changes shows as a stale one.
    pub last_change: Option<LastChange>,
    /// The password was changed on another device: the next unlock needs the new one.
    pub password_changed: bool,
}

#[derive(Serialize, specta::Type)]
pub struct LastChange {
    /// The committing device's name; `None` for a manifest from before devices signed.
    pub device: Option<String>,
    pub this_device: bool,
    /// Milliseconds since 1970 on that device's clock.
    pub at_ms: Option<f64>,
}

#[tauri::command]
#[specta::specta]
pub(crate) async fn sync(app: State<'_, App>, handle: AppHandle) -> Out<Synced> {
    with(&app, async |c| {
        let r = c.sync().await?;
        if r.conflict_copies > 0 {
            let text = shell::lang(&handle).conflicts(r.conflict_copies as u64);
            shell::notify(&handle, &text);
        }
        if !r.mail_from.is_empty() {
            shell::notify(&handle, &shell::lang(&handle).new_mail(&r.mail_from));
        }
        Ok(Synced {
            pushed: r.pushed as u32,
            pulled: r.pulled as u32,
            conflict_copies: r.conflict_copies as u32,
            pending: c.pending()? as u32,
            cursor: r.cursor as f64,
            last_change: c.heads()?.into_iter().next().map(|h| LastChange {
                device: h.device_name,
                this_device: h.by_this_device,
                at_ms: h.time_ms.map(|t| t as f64),
            }),
            password_changed: c.password_changed_elsewhere()?,
        })
    })
    .await
}
