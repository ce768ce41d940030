//! A watched folder (`docs/files.md`, "Watched folder"): a local directory kept in step with
//! the file items of one vault folder. [`Client::sync_folder`] reconciles the two from
//! scratch, against a sealed record of the state both had at the last pass, so the same code
//! serves a restart (what happened while nothing watched) and each burst of file-system
//! events ([`Client::watch_folder`]). Nothing is ever lost: a local deletion moves the item
//! to the vault's trash, a file changed on two sides keeps both (a conflict copy), and a
//! file still being written waits until it has settled.

use std::{
    collections::{BTreeMap, BTreeSet},
    io::Read,
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use krypt7_crypto::envelope;
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::{Client, ClientError, ItemData, ItemKind, Result};

pub(crate) const STATE_KEY: &str = "watched-folders";

/// What one pass did, by relative path.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize)]
pub struct FolderReport {
    /// New local files, now file items.
    pub uploaded: Vec<String>,
    /// Local changes, now new versions of their items.
    pub updated: Vec<String>,
    /// Items new or changed elsewhere, now written here.
    pub downloaded: Vec<String>,
    /// Deleted here, moved to the vault's trash.
    pub trashed: Vec<String>,
    /// Trashed or deleted elsewhere, removed here.
    pub removed: Vec<String>,
    /// Changed on both sides: the local version was kept as this new file and item.
    pub conflicts: Vec<String>,
    /// Still being written: left for a later pass.
    pub waiting: Vec<String>,
    /// Names that cannot be a path inside the folder (`../x`, `/etc/x`, `C:\x`, a name
    /// through a link, …), each with the reason: nothing was written or removed for them.
    pub refused: Vec<String>,
}

impl FolderReport {
    pub fn is_empty(&self) -> bool {
        *self == FolderReport::default()
    }

    /// Whether the pass changed anything, here or in the vault (waiting and refused names
    /// change nothing).
    fn changed(&self) -> bool {
        FolderReport {
            waiting: vec![],
            refused: vec![],
            ..self.clone()
        } != FolderReport::default()
    }
}

/// Both sides of one file as they were after the last pass.
#[derive(Clone, Debug, Serialize, Deserialize)]
struct Entry {
    item: Uuid,
    sha256: String,
    size: u64,
    modified: u128,
}

/// Every watched folder's last state, by vault-folder name (sealed in the cache: names are
/// content).
#[derive(Default, Serialize, Deserialize)]
struct States(BTreeMap<String, BTreeMap<String, Entry>>);

/// A local file's size and modification time (ns since the epoch).
fn stat(path: &Path) -> Option<(u64, u128)> {
    let m = std::fs::metadata(path).ok()?;
    let t = m
        .modified()
        .ok()?
        .duration_since(SystemTime::UNIX_EPOCH)
        .ok()?
        .as_nanos();
    Some((m.len(), t))
}

fn sha256_of(path: &Path) -> Result<String> {
    let mut f = std::fs::File::open(path)
        .map_err(|e| ClientError::Invalid(format!("cannot read {}: {e}", path.display())))?;
    let mut ctx = ring::digest::Context::new(&ring::digest::SHA256);
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = f
            .read(&mut buf)
            .map_err(|e| ClientError::Invalid(format!("cannot read {}: {e}", path.display())))?;
        if n == 0 {
            break;
        }
        ctx.update(&buf[..n]);
    }
    Ok(ctx
        .finish()
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect())
}

/// Every regular file under `dir`, by relative path with `/` separators; hidden names (and
/// so the partial files of downloads) are skipped.
fn walk(dir: &Path) -> Result<BTreeMap<String, PathBuf>> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = std::fs::read_dir(&d)
            .map_err(|e| ClientError::Invalid(format!("cannot read {}: {e}", d.display())))?;
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            if name.starts_with('.') {
                continue;
            }
            let path = e.path();
            let Ok(kind) = e.file_type() else { continue };
            if kind.is_dir() {
                stack.push(path);
            } else if kind.is_file()
                && let Ok(rel) = path.strip_prefix(dir)
            {
                let rel = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect::<Vec<_>>()
                    .join("/");
                out.insert(rel, path);
            }
        }
    }
    Ok(out)
}

/// Why `rel` (an item's title, or a name found on disk) cannot name a file inside a
/// watched folder on any platform; `None` if it can. Only plain names joined by `/` pass:
/// no empty, `.`, `..` or hidden part (so no absolute path and no climbing out), no `\`,
/// `:` (drives, streams), NUL or control character, no name Windows reserves for devices
/// or trims (trailing dot or space), none over 255 bytes.
pub fn unsafe_name(rel: &str) -> Option<&'static str> {
    const DEVICES: [&str; 22] = [
        "con", "prn", "aux", "nul", "com1", "com2", "com3", "com4", "com5", "com6", "com7", "com8",
        "com9", "lpt1", "lpt2", "lpt3", "lpt4", "lpt5", "lpt6", "lpt7", "lpt8", "lpt9",
    ];
    for part in rel.split('/') {
        let why = if part.is_empty() {
            "it is absolute or has an empty part"
        } else if part == "." || part == ".." {
            "it climbs out of the folder"
        } else if part.starts_with('.') {
            "hidden names are not synced"
        } else if part
            .chars()
            .any(|c| c == '\\' || c == ':' || c.is_control())
        {
            "it has a character file names cannot have (\\, :, or a control character)"
        } else if part.ends_with(['.', ' ']) {
            "a name cannot end with a dot or a space"
        } else if DEVICES.contains(
            &part
                .split('.')
                .next()
                .unwrap_or(part)
                .to_ascii_lowercase()
                .as_str(),
        ) {
            "it is a device name on Windows"
        } else if part.len() > 255 {
            "a part is longer than 255 bytes"
        } else {
            continue;
        };
        return Some(why);
    }
    None
}

/// The path of `rel` inside `dir`, refused (with the reason) if `rel` is not a safe name or
/// if any part of it on disk is a link or not what it should be: every parent must be a
/// real directory (or not exist yet), and the file itself a regular file (or not exist).
/// So nothing is ever written or removed outside `dir`, nor through a link.
fn inside(dir: &Path, rel: &str) -> std::result::Result<PathBuf, &'static str> {
    if let Some(why) = unsafe_name(rel) {
        return Err(why);
    }
    let mut path = dir.to_path_buf();
    let parts: Vec<&str> = rel.split('/').collect();
    for (n, part) in parts.iter().enumerate() {
        path.push(part);
        let last = n + 1 == parts.len();
        match std::fs::symlink_metadata(&path) {
            Err(_) => {}
            Ok(m) if m.file_type().is_symlink() => return Err("its path goes through a link"),
            Ok(m) if last && !m.is_file() => return Err("it is not a regular file here"),
            Ok(m) if !last && !m.is_dir() => return Err("a part of its path is not a folder"),
            Ok(_) => {}
        }
    }
    Ok(path)
}

/// `report.pdf` → `report (conflict 2026-11-27 1530).pdf`.
fn conflict_name(rel: &str) -> String {
    let stamp = {
        let secs = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let u = krypt7_mail::utc(secs as i64);
        format!(
            "{:04}-{:02}-{:02} {:02}{:02}",
            u.year, u.month, u.day, u.hour, u.minute
        )
    };
    let (dir, file) = rel.rsplit_once('/').map_or(("", rel), |(d, f)| (d, f));
    let (stem, ext) = match file.rsplit_once('.') {
        Some((s, e)) if !s.is_empty() => (s, format!(".{e}")),
        _ => (file, String::new()),
    };
    let name = format!("{stem} (conflict {stamp}){ext}");
    if dir.is_empty() {
        name
    } else {
        format!("{dir}/{name}")
    }
}

impl Client {
    fn folder_states(&self) -> Result<States> {
        Ok(self.sealed_meta(STATE_KEY)?.unwrap_or_default())
    }

    fn save_folder_state(&self, label: &str, entries: &BTreeMap<String, Entry>) -> Result<()> {
        let mut all = self.folder_states()?;
        all.0.insert(label.to_string(), entries.clone());
        self.set_sealed_meta(STATE_KEY, Some(&all))
    }

    /// A value kept in the cache's meta table as JSON sealed under the account key (bound
    /// to `key`): what names content (paths, labels) never lies there in clear.
    fn sealed_meta<T: serde::de::DeserializeOwned>(&self, key: &str) -> Result<Option<T>> {
        let Some(sealed) = self.store.meta(key)? else {
            return Ok(None);
        };
        let u = self.unlocked()?;
        let plain = envelope::open_local_secret(
            &u.keyset.account_key,
            u.account.as_bytes(),
            key.as_bytes(),
            &sealed,
        )?;
        serde_json::from_slice(&plain)
            .map(Some)
            .map_err(|e| ClientError::Integrity(format!("the cache's {key} record: {e}")))
    }

    /// Seals `value` into the meta table under `key` (or, with `None`, removes it).
    fn set_sealed_meta<T: Serialize>(&self, key: &str, value: Option<&T>) -> Result<()> {
        let Some(value) = value else {
            self.store.delete_meta(key)?;
            return Ok(());
        };
        let plain = zeroize::Zeroizing::new(
            serde_json::to_vec(value).map_err(|e| ClientError::Invalid(e.to_string()))?,
        );
        let u = self.unlocked()?;
        let sealed = envelope::seal_local_secret(
            &u.keyset.account_key,
            u.account.as_bytes(),
            key.as_bytes(),
            &plain,
        )?;
        self.store.set_meta(key, &sealed)?;
        Ok(())
    }

    /// The file items of vault folder `label`, by relative path: (id, data), live ones only.
    fn folder_items(&self, label: &str) -> Result<BTreeMap<String, (Uuid, ItemData)>> {
        Ok(self
            .items()?
            .into_iter()
            .filter(|i| {
                i.data.kind == ItemKind::File
                    && !i.data.trashed
                    && i.data.folder.as_deref() == Some(label)
                    && !i.data.files.is_empty()
            })
            .map(|i| (i.data.title.clone(), (i.id, i.data)))
            .collect())
    }

    /// Uploads `path` as a new file item `rel` in vault folder `label`.
    async fn upload_as(&mut self, path: &Path, rel: &str, label: &str) -> Result<Entry> {
        let (size, modified) = stat(path).unwrap_or_default();
        let (mut file, _) = self.upload_content(path).await?;
        file.name = rel.rsplit('/').next().unwrap_or(rel).to_string();
        let sha256 = file.sha256.clone();
        let data = ItemData {
            folder: Some(label.to_string()),
            ..ItemData::for_file(rel, file)
        };
        let item = self.add_item(data)?;
        Ok(Entry {
            item,
            sha256,
            size,
            modified,
        })
    }

    /// Writes item `id`'s content to `path` (replacing what is there, only once verified).
    async fn download_to(&mut self, id: Uuid, sha256: &str, path: &Path) -> Result<Entry> {
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(|e| {
                ClientError::Invalid(format!("cannot create {}: {e}", parent.display()))
            })?;
        }
        self.download_file(id, path, true).await?;
        let (size, modified) = stat(path).unwrap_or_default();
        Ok(Entry {
            item: id,
            sha256: sha256.to_string(),
            size,
            modified,
        })
    }

    /// `rel` differs here and in item `theirs`: the local file becomes a conflict copy (a
    /// new file and item beside it) and the item's content is written under `rel`. Returns
    /// the copy's name.
    async fn keep_both(
        &mut self,
        dir: &Path,
        rel: &str,
        label: &str,
        theirs: (Uuid, &str),
        state: &mut BTreeMap<String, Entry>,
    ) -> Result<String> {
        let (path, copy) = (dir.join(rel), conflict_name(rel));
        let kept = self.upload_as(&path, &copy, label).await?;
        std::fs::rename(&path, dir.join(&copy))
            .map_err(|e| ClientError::Invalid(format!("cannot rename {rel}: {e}")))?;
        let modified = stat(&dir.join(&copy)).map_or(0, |s| s.1);
        state.insert(copy.clone(), Entry { modified, ..kept });
        let got = self.download_to(theirs.0, theirs.1, &path).await?;
        state.insert(rel.to_string(), got);
        Ok(copy)
    }

    /// One reconciliation of local directory `dir` with vault folder `label` (syncing with
    /// the server first and after, when it is reachable). Files modified less than `settle`
    /// ago are left for a later pass (they may still be being written).
    pub async fn sync_folder(
        &mut self,
        dir: &Path,
        label: &str,
        settle: Duration,
    ) -> Result<FolderReport> {
        if label.trim().is_empty() {
            return Err(ClientError::Invalid("a watched folder needs a name".into()));
        }
        match self.sync().await {
            Ok(_) | Err(ClientError::Offline(_)) => {}
            Err(e) => return Err(e),
        }
        let mut report = FolderReport::default();
        let mut state = self.folder_states()?.0.remove(label).unwrap_or_default();
        let items = self.folder_items(label)?;
        let local = walk(dir)?;
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let settled = |modified: u128| now.saturating_sub(modified) >= settle.as_nanos();
        let names: BTreeSet<String> = local
            .keys()
            .chain(state.keys())
            .chain(items.keys())
            .cloned()
            .collect();
        for rel in names {
            // A name from the vault (a collaborator's title, a server's rename) or a file
            // here that cannot be a path inside the folder is reported, and nothing is
            // written or removed for it.
            let path = match inside(dir, &rel) {
                Ok(p) => p,
                Err(why) => {
                    report.refused.push(format!("{rel:?}: {why}"));
                    continue;
                }
            };
            let here = local.get(&rel).and_then(|p| stat(p));
            let entry = state.get(&rel).cloned();
            // The item this name is bound to, and whether it still holds what we last saw.
            let bound = entry.as_ref().and_then(|e| {
                items
                    .values()
                    .find(|(id, _)| *id == e.item)
                    .map(|(id, d)| (*id, d.files[0].sha256.clone()))
            });
            let named = items
                .get(&rel)
                .map(|(id, d)| (*id, d.files[0].sha256.clone()));
            match (here, entry) {
                (Some((size, modified)), Some(e)) => {
                    let stat_changed = (size, modified) != (e.size, e.modified);
                    if stat_changed && !settled(modified) {
                        report.waiting.push(rel);
                        continue;
                    }
                    let local_sha = if stat_changed {
                        sha256_of(&path)?
                    } else {
                        e.sha256.clone()
                    };
                    let local_changed = local_sha != e.sha256;
                    match bound {
                        Some((id, remote_sha)) if remote_sha == e.sha256 => {
                            if local_changed {
                                let (mut file, _) = self.upload_content(&path).await?;
                                let mut data = self.item(id)?.data;
                                file.name = data.files[0].name.clone();
                                let fresh = ItemData::for_file(&rel, file);
                                data.fields = fresh.fields;
                                data.files = fresh.files;
                                self.edit_item(id, data)?;
                                report.updated.push(rel.clone());
                            }
                            state.insert(
                                rel.clone(),
                                Entry {
                                    item: id,
                                    sha256: local_sha,
                                    size,
                                    modified,
                                },
                            );
                        }
                        Some((id, remote_sha)) => {
                            if local_changed {
                                // Both changed: keep ours as a conflict copy, take theirs.
                                let copy = self
                                    .keep_both(dir, &rel, label, (id, &remote_sha), &mut state)
                                    .await?;
                                report.conflicts.push(copy);
                                report.downloaded.push(rel.clone());
                            } else {
                                let got = self.download_to(id, &remote_sha, &path).await?;
                                state.insert(rel.clone(), got);
                                report.downloaded.push(rel.clone());
                            }
                        }
                        None => {
                            if local_changed {
                                // Gone elsewhere but changed here: kept, as a new item.
                                let kept = self.upload_as(&path, &rel, label).await?;
                                state.insert(rel.clone(), kept);
                                report.uploaded.push(rel.clone());
                            } else {
                                std::fs::remove_file(&path).map_err(|e| {
                                    ClientError::Invalid(format!("cannot remove {rel}: {e}"))
                                })?;
                                state.remove(&rel);
                                report.removed.push(rel.clone());
                            }
                        }
                    }
                }
                (None, Some(e)) => match bound {
                    // Deleted here, unchanged there: to the trash (restorable).
                    Some((id, remote_sha)) if remote_sha == e.sha256 => {
                        self.trash_item(id)?;
                        state.remove(&rel);
                        report.trashed.push(rel.clone());
                    }
                    // Deleted here, changed there: the newer content comes back.
                    Some((id, remote_sha)) => {
                        let got = self.download_to(id, &remote_sha, &path).await?;
                        state.insert(rel.clone(), got);
                        report.downloaded.push(rel.clone());
                    }
                    None => {
                        state.remove(&rel);
                    }
                },
                (Some((_, modified)), None) => {
                    if !settled(modified) {
                        report.waiting.push(rel);
                        continue;
                    }
                    let local_sha = sha256_of(&path)?;
                    match named {
                        // The same content arrived from elsewhere: bind the two.
                        Some((id, remote_sha)) if remote_sha == local_sha => {
                            let (size, modified) = stat(&path).unwrap_or_default();
                            state.insert(
                                rel.clone(),
                                Entry {
                                    item: id,
                                    sha256: local_sha,
                                    size,
                                    modified,
                                },
                            );
                        }
                        // Another file of this name arrived from elsewhere: both are kept.
                        Some((id, remote_sha)) => {
                            let copy = self
                                .keep_both(dir, &rel, label, (id, &remote_sha), &mut state)
                                .await?;
                            report.conflicts.push(copy);
                            report.downloaded.push(rel.clone());
                        }
                        None => {
                            let e = self.upload_as(&path, &rel, label).await?;
                            state.insert(rel.clone(), e);
                            report.uploaded.push(rel.clone());
                        }
                    }
                }
                (None, None) => {
                    if let Some((id, remote_sha)) = named {
                        let got = self.download_to(id, &remote_sha, &path).await?;
                        state.insert(rel.clone(), got);
                        report.downloaded.push(rel.clone());
                    }
                }
            }
            // Each step is remembered at once: a crash repeats at most the step it was in.
            self.save_folder_state(label, &state)?;
        }
        self.save_folder_state(label, &state)?;
        if report.changed() {
            match self.sync().await {
                Ok(_) | Err(ClientError::Offline(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(report)
    }
}

/// How long a watched folder waits between passes when nothing happens (changes on other
/// devices normally arrive sooner, through the push channel).
const RESCAN: Duration = Duration::from_secs(60);

/// The next announcement on the push channel; `None` once it ended (reopened at the next
/// rescan); never, without one.
async fn next_push(events: &mut Option<crate::api::Events>) {
    match events {
        Some(e) => {
            if !matches!(e.next().await, Ok(Some(_))) {
                *events = None;
            }
        }
        None => std::future::pending().await,
    }
}

impl Client {
    /// Keeps `dir` in step with vault folder `label` until `stop` completes: a pass at once
    /// (catching up on what happened while nothing watched), then whenever [`FolderWatch`]
    /// says so. Each pass's outcome goes to `on_pass`; a failed pass (the server
    /// unreachable, say) is retried at the next occasion.
    pub async fn watch_folder(
        &mut self,
        dir: &Path,
        label: &str,
        settle: Duration,
        mut on_pass: impl FnMut(&Result<FolderReport>),
        stop: impl std::future::Future<Output = ()>,
    ) -> Result<()> {
        let mut watch = FolderWatch::new(dir, settle)?;
        tokio::pin!(stop);
        loop {
            tokio::select! {
                _ = &mut stop => return Ok(()),
                _ = watch.wait() => {}
            }
            let r = self.sync_folder(dir, label, settle).await;
            on_pass(&r);
            watch.passed(self, &r).await;
        }
    }
}

impl Client {
    /// A setting of this device (the desktop app's watched folder, say), kept in the cache
    /// sealed under the account key: paths and names never lie there in clear.
    pub fn device_setting<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<Option<T>> {
        self.sealed_meta(&format!("setting:{name}"))
    }

    /// Sets (or, with `None`, forgets) a device setting.
    pub fn set_device_setting<T: Serialize>(&self, name: &str, value: Option<&T>) -> Result<()> {
        self.set_sealed_meta(&format!("setting:{name}"), value)
    }
}

/// When a watched folder needs a pass: at once the first time, then after each burst of
/// file-system events in it has been quiet for `settle`, after each change the server
/// announces on the push channel, and every minute. It holds no client, so a caller that
/// shares one (the desktop app) takes it only for the passes.
pub struct FolderWatch {
    _watcher: notify::RecommendedWatcher,
    events: tokio::sync::mpsc::UnboundedReceiver<()>,
    push: Option<crate::api::Events>,
    settle: Duration,
    again: Duration,
}

impl FolderWatch {
    /// Starts watching `dir` and what is under it.
    pub fn new(dir: &Path, settle: Duration) -> Result<FolderWatch> {
        use notify::Watcher;
        let (tx, events) = tokio::sync::mpsc::unbounded_channel();
        let mut watcher = notify::recommended_watcher(move |e: notify::Result<notify::Event>| {
            if e.is_ok() {
                let _ = tx.send(());
            }
        })
        .map_err(|e| ClientError::Invalid(format!("cannot watch {}: {e}", dir.display())))?;
        watcher
            .watch(dir, notify::RecursiveMode::Recursive)
            .map_err(|e| ClientError::Invalid(format!("cannot watch {}: {e}", dir.display())))?;
        Ok(FolderWatch {
            _watcher: watcher,
            events,
            push: None,
            settle,
            again: Duration::ZERO,
        })
    }

    /// Waits until a pass is due.
    pub async fn wait(&mut self) {
        tokio::select! {
            _ = tokio::time::sleep(self.again) => {}
            Some(()) = self.events.recv() => {
                // A burst: wait until it has been quiet for `settle`.
                while let Ok(Some(())) = tokio::time::timeout(self.settle, self.events.recv()).await {}
            }
            _ = next_push(&mut self.push) => {}
        }
    }

    /// After a pass: files still being written get another look once they may have
    /// settled; and the push channel is (re)opened through `client` if it is closed.
    pub async fn passed(&mut self, client: &Client, r: &Result<FolderReport>) {
        self.again = match r {
            Ok(rep) if !rep.waiting.is_empty() => self.settle,
            _ => RESCAN,
        };
        if self.push.is_none() {
            self.push = client.events().await.ok();
        }
    }

    /// No pass could run (the vault is locked): look again at the next rescan.
    pub fn skipped(&mut self) {
        self.again = RESCAN;
    }
}
