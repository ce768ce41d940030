//! Files: transfers and their progress, choosing, uploading, attaching, downloading and
//! previewing files, the watched folder, and storage use.

use crate::*;

/// A file transfer's progress, sent to the UI as the `transfer` event.
#[derive(Clone, Serialize, Type, tauri_specta::Event)]
pub struct Transfer {
    /// The file's name.
    pub name: String,
    pub upload: bool,
    pub done: f64,
    pub total: f64,
    /// Bytes per second.
    pub rate: f64,
}

/// The last part of a path, for messages.
pub(crate) fn file_name(p: &std::path::Path) -> String {
    p.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

/// Sends the client's transfer progress for `name` to the UI.
pub(crate) fn report_transfers(c: &mut Client, handle: &AppHandle, name: &str) {
    let (handle, name) = (handle.clone(), name.to_string());
    c.on_progress(move |p| {
        let (upload, done, total, rate) = match p {
            Progress::Uploading { done, total, rate } => (true, done, total, rate),
            Progress::Downloading { done, total, rate } => (false, done, total, rate),
            _ => return,
        };
        let _ = tauri_specta::Event::emit(
            &Transfer {
                name: name.clone(),
                upload,
                done: done as f64,
                total: total as f64,
                rate: rate as f64,
            },
            &handle,
        );
    });
}

/// Files for `upload_files`, chosen in the system's file dialog (none if it is
/// cancelled). `KRYPT7_PICK_FILES` (paths separated by newlines) answers instead of the
/// dialog: the real-window test cannot drive a native dialog.
#[tauri::command]
#[specta::specta]
pub(crate) async fn choose_files(handle: AppHandle) -> Out<Vec<String>> {
    if let Ok(scripted) = std::env::var("KRYPT7_PICK_FILES") {
        return Ok(scripted.lines().map(String::from).collect());
    }
    let picked = handle.dialog().file().blocking_pick_files();
    Ok(picked
        .unwrap_or_default()
        .into_iter()
        .filter_map(path_text)
        .collect())
}

/// Where to save a download, chosen in the system's save dialog (none if cancelled);
/// `KRYPT7_PICK_DIR` (a directory) answers instead, as for `choose_files`.
#[tauri::command]
#[specta::specta]
pub(crate) async fn choose_destination(handle: AppHandle, name: String) -> Out<Option<String>> {
    if let Ok(dir) = std::env::var("KRYPT7_PICK_DIR") {
        return Ok(Some(PathBuf::from(dir).join(&name).display().to_string()));
    }
    let picked = handle
        .dialog()
        .file()
        .set_file_name(&name)
        .blocking_save_file();
    Ok(picked.and_then(path_text))
}

/// Encrypts and uploads files (chosen or dropped) as file items, one after the other,
/// reporting progress as `transfer` events; then syncs. Returns the new items' ids.
#[tauri::command]
#[specta::specta]
pub(crate) async fn upload_files(
    app: State<'_, App>,
    handle: AppHandle,
    paths: Vec<String>,
) -> Out<Vec<String>> {
    with(&app, async |c| {
        let mut ids = vec![];
        for p in &paths {
            let path = PathBuf::from(p);
            report_transfers(c, &handle, &file_name(&path));
            ids.push(c.upload_file(&path).await?.item.to_string());
        }
        let _ = c.sync().await;
        Ok(ids)
    })
    .await
}

/// Encrypts and uploads a file and attaches it to an item; then syncs.
#[tauri::command]
#[specta::specta]
pub(crate) async fn attach_file(
    app: State<'_, App>,
    handle: AppHandle,
    id: String,
    path: String,
) -> Out<()> {
    let id = parse_id(&id)?;
    with(&app, async |c| {
        let path = PathBuf::from(path);
        report_transfers(c, &handle, &file_name(&path));
        c.attach_file(id, &path).await?;
        let _ = c.sync().await;
        Ok(())
    })
    .await
}

/// Downloads file `index` of an item to `dest`; written only if its fingerprint matches.
#[tauri::command]
#[specta::specta]
pub(crate) async fn download_file(
    app: State<'_, App>,
    handle: AppHandle,
    id: String,
    index: u32,
    dest: String,
) -> Out<()> {
    let id = parse_id(&id)?;
    with(&app, async |c| {
        let dest = PathBuf::from(dest);
        report_transfers(c, &handle, &file_name(&dest));
        // The save dialog already asked whether to replace an existing file.
        c.download_attachment(id, index as usize, &dest, true)
            .await?;
        Ok(())
    })
    .await
}

/// What a preview shows: text, or an image as a `data:` URL. Read into memory only.
#[derive(Serialize, Type)]
pub struct Preview {
    pub media_type: String,
    pub text: Option<String>,
    pub image: Option<String>,
}

/// The largest file a preview reads.
pub(crate) const PREVIEW_MAX: u64 = 8 << 20;

#[tauri::command]
#[specta::specta]
pub(crate) async fn preview_file(
    app: State<'_, App>,
    handle: AppHandle,
    id: String,
    index: u32,
) -> Out<Preview> {
    use base64::Engine;
    let id = parse_id(&id)?;
    with(&app, async |c| {
        let (name, media_type) = c
            .item(id)?
            .data
            .files
            .get(index as usize)
            .map(|f| (f.name.clone(), f.media_type.clone()))
            .ok_or_else(|| invalid("this item has no such file"))?;
        report_transfers(c, &handle, &name);
        let bytes = c.read_file(id, index as usize, PREVIEW_MAX).await?;
        let (mut text, mut image) = (None, None);
        if media_type.starts_with("image/") && media_type != "image/svg+xml" {
            let b64 = base64::engine::general_purpose::STANDARD.encode(bytes.as_slice());
            image = Some(format!("data:{media_type};base64,{b64}"));
        } else if media_type.starts_with("text/") || media_type == "application/json" {
            text = Some(String::from_utf8_lossy(&bytes).into_owned());
        } else {
            return Err(invalid(
                "no preview for this kind of file: download it instead",
            ));
        }
        Ok(Preview {
            media_type,
            text,
            image,
        })
    })
    .await
}

/// The local folder this device keeps in step with the vault folder `label` (a device
/// setting, sealed in the cache).
#[derive(Clone, Serialize, Deserialize, Type)]
pub struct WatchedFolder {
    pub dir: String,
    pub label: String,
}

pub(crate) const WATCHED: &str = "desktop-watched-folder";

/// One pass over the watched folder, sent to the UI as the `folder-pass` event.
#[derive(Clone, Default, Serialize, Type, tauri_specta::Event)]
pub struct FolderPass {
    /// The vault folder's name.
    pub label: String,
    /// Files uploaded, updated, downloaded, moved to the trash, removed, kept as conflict
    /// copies, and refused (the UI words them in its language).
    pub uploaded: u32,
    pub updated: u32,
    pub downloaded: u32,
    pub trashed: u32,
    pub removed: u32,
    pub conflicts: u32,
    /// Names that cannot be a path inside the folder (`../x`, a link, …): nothing was
    /// written or removed for them.
    pub refused: u32,
    pub error: Option<String>,
}

/// (Re)starts the task keeping `f` in step: a pass at once, then at each change there, on
/// the server, or every minute; passes wait while the vault is locked. Each pass takes
/// the client only while it runs.
pub(crate) fn start_folder(app: &App, handle: &AppHandle, f: WatchedFolder) {
    let (stop_tx, mut stop) = tokio::sync::oneshot::channel::<()>();
    if let Ok(mut old) = app.folder_stop.lock() {
        *old = Some(stop_tx); // the previous task, if any, stops
    }
    let handle = handle.clone();
    tauri::async_runtime::spawn(async move {
        const SETTLE: std::time::Duration = std::time::Duration::from_secs(2);
        let dir = PathBuf::from(&f.dir);
        let report = |pass: FolderPass| {
            let _ = tauri_specta::Event::emit(&pass, &handle);
        };
        let failed = |error: String| FolderPass {
            label: f.label.clone(),
            error: Some(error),
            ..Default::default()
        };
        let mut watch = match krypt7_client::folder::FolderWatch::new(&dir, SETTLE) {
            Ok(w) => w,
            Err(e) => return report(failed(e.to_string())),
        };
        loop {
            tokio::select! {
                _ = &mut stop => return,
                _ = watch.wait() => {}
            }
            let app = handle.state::<App>();
            let mut guard = app.client.lock().await;
            let Some(c) = guard.as_mut().filter(|c| c.is_unlocked()) else {
                watch.skipped();
                continue;
            };
            let r = c.sync_folder(&dir, &f.label, SETTLE).await;
            watch.passed(c, &r).await;
            drop(guard);
            report(match r {
                Ok(r) => FolderPass {
                    label: f.label.clone(),
                    uploaded: r.uploaded.len() as u32,
                    updated: r.updated.len() as u32,
                    downloaded: r.downloaded.len() as u32,
                    trashed: r.trashed.len() as u32,
                    removed: r.removed.len() as u32,
                    conflicts: r.conflicts.len() as u32,
                    refused: r.refused.len() as u32,
                    error: None,
                },
                Err(e) => failed(e.to_string()),
            });
        }
    });
}

/// A folder for `watch_folder`, chosen in the system's dialog (none if cancelled);
/// `KRYPT7_PICK_FOLDER` answers instead, as for `choose_files`.
#[tauri::command]
#[specta::specta]
pub(crate) async fn choose_folder(handle: AppHandle) -> Out<Option<String>> {
    if let Ok(dir) = std::env::var("KRYPT7_PICK_FOLDER") {
        return Ok(Some(dir));
    }
    Ok(handle
        .dialog()
        .file()
        .blocking_pick_folder()
        .and_then(path_text))
}

/// The folder this device keeps in step, if any.
#[tauri::command]
#[specta::specta]
pub(crate) async fn watched_folder(app: State<'_, App>) -> Out<Option<WatchedFolder>> {
    with(&app, async |c| Ok(c.device_setting(WATCHED)?)).await
}

/// Keeps `dir` in step with the vault folder named after it (or stops, with none), and
/// remembers the choice on this device.
#[tauri::command]
#[specta::specta]
pub(crate) async fn watch_folder(
    app: State<'_, App>,
    handle: AppHandle,
    dir: Option<String>,
) -> Out<Option<WatchedFolder>> {
    let folder = match dir {
        None => None,
        Some(d) => {
            let path = PathBuf::from(&d);
            if !path.is_dir() {
                return Err(invalid(format!("{d} is not a folder")));
            }
            Some(WatchedFolder {
                label: file_name(&path),
                dir: d,
            })
        }
    };
    with(&app, async |c| {
        Ok(c.set_device_setting(WATCHED, folder.as_ref())?)
    })
    .await?;
    match &folder {
        Some(f) => start_folder(&app, &handle, f.clone()),
        None => {
            if let Ok(mut stop) = app.folder_stop.lock() {
                stop.take();
            }
        }
    }
    Ok(folder)
}

/// Storage used and allowed, in bytes.
#[derive(Serialize, Type)]
pub struct Usage {
    pub used: f64,
    pub quota: f64,
}

#[tauri::command]
#[specta::specta]
pub(crate) async fn usage(app: State<'_, App>) -> Out<Usage> {
    with(&app, async |c| {
        let u = c.usage().await?;
        Ok(Usage {
            used: u.usage_bytes as f64,
            quota: u.quota_bytes as f64,
        })
    })
    .await
}
