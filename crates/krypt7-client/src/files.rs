//! Encrypted files (`docs/files.md`): a file item's envelope holds the file's name, type,
//! size, SHA-256 fingerprint, its own key and stream header; the content is the streaming
//! AEAD ciphertext (`docs/crypto.md` §5), one server blob chunk per stream chunk.
//!
//! Uploads and downloads stream in constant memory (one chunk at a time) and resume after an
//! interruption: an upload remembers, sealed in the cache, the blob and the hash of every
//! chunk the server took; a download keeps its partial file next to the destination and
//! continues from its last whole chunk. A download is written to a temporary file and moved
//! into place only when its fingerprint matches.

use std::{
    fs::File,
    io::{Read, Seek, SeekFrom, Write},
    path::{Path, PathBuf},
};

use krypt7_crypto::{
    keys::FileKey,
    stream::{self, StreamBinding, StreamCipher, StreamHeader},
};
use krypt7_protocol::{BlobStatus, CreateBlob};
use krypt7_store::Records;
use reqwest::Method;
use serde::{Deserialize, Serialize};
use uuid::Uuid;
use zeroize::Zeroizing;

use crate::{Auth, Client, ClientError, ItemData, Progress, Result, item::FileRef};

const TAG: usize = 16;
pub(crate) const TRANSFER_LABEL: &[u8] = b"transfer";
/// The longest a download waits for one whole sealed chunk (1 MiB: at least ~8.7 KB/s).
const CHUNK_DEADLINE: std::time::Duration = std::time::Duration::from_secs(120);

/// What an upload did: the new item, and how many chunks it sent (a resumed upload sends
/// only the ones the server lacked).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Uploaded {
    pub item: Uuid,
    pub chunks_sent: u64,
    pub chunks: u64,
}

/// What a download did: where the file is, and from which byte it resumed (0: from the
/// start).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Downloaded {
    pub path: PathBuf,
    pub resumed_from: u64,
}

/// An unfinished upload, sealed in the cache (its path and key are secret).
///
/// The record is written *ahead* of the network: before chunk `i` is sent, `sealed` is
/// above `i` and `digest` covers its tag. So every chunk that may have reached the server
/// is covered, whatever the server later says it holds, and a resumed upload can tell
/// whether the file still seals to exactly those chunks before it sends anything.
#[derive(Serialize, Deserialize)]
struct UploadState {
    path: PathBuf,
    size: u64,
    modified: u64,
    file: FileRef,
    /// Chunks `0..sealed` have been sealed and may have been sent. `None` in a record
    /// written before records were kept ahead of the network: such an upload is never
    /// resumed (its in-flight chunks are unknown), it starts again under a new key.
    #[serde(default)]
    sealed: Option<u64>,
    /// SHA-256 over the AEAD tags of chunks `0..sealed`, in order. Sealing a chunk again
    /// under the same key and nonce gives the same tag only if its plaintext is unchanged.
    #[serde(default)]
    digest: [u8; 32],
}

/// Tags of the chunks an upload may already have sent, as checked against its record.
struct Recorded {
    /// By chunk index, the tag each recorded chunk must seal to again.
    tags: Vec<[u8; TAG]>,
    /// The running digest over `tags`, to extend as more chunks are recorded.
    digest: ring::digest::Context,
}

/// A chunk the reading side has handled, in order.
enum Chunk {
    /// The server already holds it (and it is unchanged): its plaintext length.
    Held(usize),
    /// Sealed and ready to send: `(index, plaintext length, ciphertext ‖ tag, tag)`.
    Sealed(u64, usize, Vec<u8>, [u8; TAG]),
}

/// How the sealing side ended.
enum Sealing {
    Done,
    /// A chunk the server holds no longer seals to its recorded tag.
    Changed,
}

/// Bytes per second moved since a transfer (re)started.
struct Meter {
    start: std::time::Instant,
    from: u64,
}

impl Meter {
    fn new(from: u64) -> Meter {
        Meter {
            start: std::time::Instant::now(),
            from,
        }
    }

    fn rate(&self, done: u64) -> u64 {
        let secs = self.start.elapsed().as_secs_f64().max(1e-3);
        (done.saturating_sub(self.from) as f64 / secs) as u64
    }
}

/// A download's destination in memory (a preview): zeroized when dropped.
#[derive(Clone, Default)]
struct Memory(std::sync::Arc<std::sync::Mutex<Zeroizing<Vec<u8>>>>);

impl Write for Memory {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .map_err(|_| std::io::Error::other("a preview failed"))?
            .extend_from_slice(b);
        Ok(b.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// The fingerprint taken at upload against the one of what was downloaded.
fn check_fingerprint(f: &FileRef, whole: ring::digest::Context) -> Result<()> {
    let want = unhex(&f.sha256)
        .filter(|h| h.len() == 32)
        .ok_or_else(|| ClientError::Integrity("a file item's fingerprint is malformed".into()))?;
    if whole.finish().as_ref() != want.as_slice() {
        return Err(ClientError::Integrity(format!(
            "{} does not match the fingerprint taken at upload: it was not saved",
            f.name
        )));
    }
    Ok(())
}

/// Waits for a blocking worker.
async fn join_worker<T>(h: tokio::task::JoinHandle<Result<T>>) -> Result<T> {
    h.await
        .map_err(|e| ClientError::Invalid(format!("a file worker failed: {e}")))?
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

fn io(what: &str, path: &Path) -> impl Fn(std::io::Error) -> ClientError {
    let p = path.display().to_string();
    let what = what.to_string();
    move |e| ClientError::Invalid(format!("{what} {p}: {e}"))
}

/// A media type from the file name, for previews.
fn media_type(name: &str) -> &'static str {
    let ext = name.rsplit_once('.').map(|(_, e)| e.to_ascii_lowercase());
    match ext.as_deref() {
        Some("txt" | "md" | "log" | "csv") => "text/plain",
        Some("json") => "application/json",
        Some("pdf") => "application/pdf",
        Some("png") => "image/png",
        Some("jpg" | "jpeg") => "image/jpeg",
        Some("gif") => "image/gif",
        Some("webp") => "image/webp",
        Some("svg") => "image/svg+xml",
        Some("zip") => "application/zip",
        _ => "application/octet-stream",
    }
}

/// The stream's keys and geometry for a file.
struct Geometry {
    cipher: StreamCipher,
    chunk: u64,
    chunks: u64,
}

impl Geometry {
    fn of(f: &FileRef, account: Uuid) -> Result<Geometry> {
        let bad = || ClientError::Integrity("a file item's key or header is malformed".into());
        let key: [u8; 32] = unhex(&f.key)
            .and_then(|k| k.try_into().ok())
            .ok_or_else(bad)?;
        let header = StreamHeader::parse(&unhex(&f.header).ok_or_else(bad)?)?;
        let chunk = header.chunk_size() as u64;
        let cipher = StreamCipher::new(
            &FileKey::from_bytes(key),
            &StreamBinding {
                account: *f.owner.unwrap_or(account).as_bytes(),
                file: *f.blob_id.as_bytes(),
            },
            header,
        );
        Ok(Geometry {
            cipher,
            chunk,
            chunks: f.size.div_ceil(chunk).max(1),
        })
    }

    /// Plaintext bytes of chunk `i`.
    fn len(&self, size: u64, i: u64) -> usize {
        (size - i * self.chunk).min(self.chunk) as usize
    }
}

/// The SHA-256 so far of a running digest.
fn digest_of(d: &ring::digest::Context) -> [u8; 32] {
    let mut out = [0u8; 32];
    out.copy_from_slice(d.clone().finish().as_ref());
    out
}

/// Seals chunks `0..n` of `file` again; their tags and the digest over them if that digest
/// is the one recorded (the file still has, chunk for chunk, the content an interrupted
/// upload may already have sent under this key), else `None`.
fn check_recorded(
    f: &FileRef,
    account: Uuid,
    path: &Path,
    n: u64,
    recorded: [u8; 32],
) -> Result<Option<Recorded>> {
    let g = Geometry::of(f, account)?;
    let mut file = File::open(path).map_err(io("cannot read", path))?;
    let mut digest = ring::digest::Context::new(&ring::digest::SHA256);
    let mut tags = Vec::with_capacity(n as usize);
    let mut buf = Zeroizing::new(vec![0u8; g.chunk as usize]);
    for i in 0..n.min(g.chunks) {
        let len = g.len(f.size, i);
        file.read_exact(&mut buf[..len])
            .map_err(io("cannot read", path))?;
        let tag = g.cipher.seal_chunk(i, i == g.chunks - 1, &mut buf[..len])?;
        digest.update(&tag);
        tags.push(tag);
    }
    let same = n <= g.chunks && digest_of(&digest) == recorded;
    Ok(same.then_some(Recorded { tags, digest }))
}

/// Starts the reading side of an upload: one thread reads each chunk and adds it to
/// the file's fingerprint, the other seals it. A chunk below `expect.len()` may already
/// have been sent: it must seal to the tag in `expect` (else the file changed, and
/// nothing more is sent under this key), and is skipped if `held` says the server has
/// it. Returns both threads (the reader's result is the fingerprint) and the chunks, in
/// order.
#[allow(clippy::type_complexity)]
fn seal_pipeline(
    f: &FileRef,
    account: Uuid,
    mut file: File,
    path: &Path,
    expect: Vec<[u8; TAG]>,
    held: Vec<bool>,
) -> Result<(
    tokio::task::JoinHandle<Result<[u8; 32]>>,
    tokio::task::JoinHandle<Result<Sealing>>,
    tokio::sync::mpsc::Receiver<Chunk>,
)> {
    let g = Geometry::of(f, account)?;
    let (path, size) = (path.to_path_buf(), f.size);
    let (plain_tx, mut plain_rx) = tokio::sync::mpsc::channel::<(u64, Zeroizing<Vec<u8>>)>(2);
    let (tx, rx) = tokio::sync::mpsc::channel::<Chunk>(2);
    let chunks = g.chunks;
    let reader = tokio::task::spawn_blocking(move || -> Result<[u8; 32]> {
        let mut whole = ring::digest::Context::new(&ring::digest::SHA256);
        for i in 0..chunks {
            let n = g.len(size, i);
            let mut buf = Zeroizing::new(vec![0u8; n + TAG]);
            file.read_exact(&mut buf[..n])
                .map_err(io("cannot read", &path))?;
            whole.update(&buf[..n]);
            if plain_tx.blocking_send((i, buf)).is_err() {
                // The other side stopped: its error is the one to report.
                break;
            }
        }
        let mut out = [0u8; 32];
        out.copy_from_slice(whole.finish().as_ref());
        Ok(out)
    });
    let g = Geometry::of(f, account)?;
    let sealer = tokio::task::spawn_blocking(move || -> Result<Sealing> {
        while let Some((i, mut buf)) = plain_rx.blocking_recv() {
            let n = buf.len() - TAG;
            let tag = g.cipher.seal_chunk(i, i == chunks - 1, &mut buf[..n])?;
            let chunk = match expect.get(i as usize) {
                Some(t) if *t != tag => return Ok(Sealing::Changed),
                Some(_) if held.get(i as usize) == Some(&true) => Chunk::Held(n),
                // Unrecorded, or recorded and sealing to the very same bytes again.
                _ => {
                    buf[n..].copy_from_slice(&tag);
                    // Ciphertext now: it leaves the zeroizing wrapper.
                    Chunk::Sealed(i, n, std::mem::take(&mut *buf), tag)
                }
            };
            if tx.blocking_send(chunk).is_err() {
                break;
            }
        }
        Ok(Sealing::Done)
    });
    Ok((reader, sealer, rx))
}

impl Client {
    fn transfer_rows(&self) -> Result<Vec<([u8; 16], UploadState)>> {
        self.records(Records::Transfers, TRANSFER_LABEL)
    }

    fn save_transfer(&self, row: [u8; 16], s: &UploadState) -> Result<()> {
        self.save_record(Records::Transfers, TRANSFER_LABEL, row, s)
    }

    /// Encrypts and uploads the file at `path` as a new file item (in the outbox until the
    /// next sync). The quota is checked before any byte is sent. If an earlier upload of the
    /// same unchanged file was interrupted, it resumes: chunks the server holds are not sent
    /// again.
    pub async fn upload_file(&mut self, path: &Path) -> Result<Uploaded> {
        let (file, mut uploaded) = self.upload_content(path).await?;
        let name = file.name.clone();
        uploaded.item = self.add_item(ItemData::for_file(&name, file))?;
        Ok(uploaded)
    }

    /// Encrypts and uploads a file's content as a new blob: what a file item (new, or a
    /// new version of one) points to. Resumes an interrupted upload of the same file; if
    /// the file's content changed since (a chunk the server holds no longer matches), that
    /// upload is dropped and the file sent afresh.
    pub(crate) async fn upload_content(&mut self, path: &Path) -> Result<(FileRef, Uploaded)> {
        match self.upload_attempt(path).await? {
            Some(done) => Ok(done),
            // The stale upload and its record are gone: this attempt starts from scratch,
            // with a new key.
            None => self.upload_attempt(path).await?.ok_or_else(|| {
                ClientError::Invalid(format!(
                    "{} keeps changing while it is being uploaded: try again once it is written",
                    path.display()
                ))
            }),
        }
    }

    /// One upload: `None` if it was resuming an upload of content the file no longer has.
    async fn upload_attempt(&mut self, path: &Path) -> Result<Option<(FileRef, Uploaded)>> {
        let token = self.token()?;
        let meta = std::fs::metadata(path).map_err(io("cannot read", path))?;
        if !meta.is_file() {
            return Err(ClientError::Invalid(format!(
                "{} is not a file",
                path.display()
            )));
        }
        let path = std::fs::canonicalize(path).map_err(io("cannot read", path))?;
        let size = meta.len();
        let modified = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_nanos() as u64);
        let name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let account = self.unlocked()?.account;

        // An interrupted upload of this same, unchanged file resumes; any other is dropped.
        let mut resume = None;
        for (row, s) in self.transfer_rows()? {
            if s.path == path {
                if s.size == size && s.modified == modified && s.sealed.is_some() {
                    resume = Some((row, s));
                } else {
                    self.abandon_upload(row, &s, &token).await;
                }
            }
        }
        // Before anything is sent under a resumed upload's key, every chunk it may have sent
        // is sealed again and compared with its record: one that differs (the file changed,
        // even with its size and time put back) drops the upload, and the file goes afresh
        // under a new key. So no chunk index is ever sealed under one key with two contents.
        let mut resumed = None;
        if let Some((row, s)) = resume {
            let (file, n, digest) = (s.file.clone(), s.sealed.unwrap_or(0), s.digest);
            let checked = {
                let path = path.clone();
                join_worker(tokio::task::spawn_blocking(move || {
                    check_recorded(&file, account, &path, n, digest)
                }))
                .await?
            };
            match checked {
                Some(recorded) => resumed = Some((row, s, recorded)),
                None => {
                    self.abandon_upload(row, &s, &token).await;
                    return Ok(None);
                }
            }
        }
        let (row, mut state, recorded, received) = match resumed {
            Some((row, s, recorded)) => {
                let status: BlobStatus = self
                    .api
                    .call::<(), _>(
                        Method::GET,
                        &format!("/v1/blobs/{}", s.file.blob_id),
                        Some(&token),
                        None,
                    )
                    .await?;
                (row, s, recorded, status.received)
            }
            None => {
                let header = StreamHeader::generate(stream::DEFAULT_CHUNK_LOG2)?;
                let key = FileKey::generate()?;
                let chunk = header.chunk_size() as i64;
                let blob_size = (header.ciphertext_len(size) - stream::HEADER_LEN as u64) as i64;
                let created: BlobStatus = self
                    .api
                    .call(
                        Method::POST,
                        "/v1/blobs",
                        Some(&token),
                        Some(&CreateBlob {
                            size: blob_size,
                            chunk_size: chunk + TAG as i64,
                        }),
                    )
                    .await
                    .map_err(|e| match e {
                        ClientError::Server { status: 413, .. } => ClientError::Invalid(format!(
                            "{name} ({size} bytes) does not fit in this account's storage: \
                             nothing was uploaded"
                        )),
                        e => e,
                    })?;
                let recorded = Recorded {
                    tags: vec![],
                    digest: ring::digest::Context::new(&ring::digest::SHA256),
                };
                let state = UploadState {
                    path: path.clone(),
                    size,
                    modified,
                    file: FileRef {
                        media_type: media_type(&name).into(),
                        name: name.clone(),
                        size,
                        sha256: String::new(),
                        blob_id: created.blob_id,
                        key: hex(key.expose_secret()),
                        header: hex(&header.to_bytes()),
                        owner: None,
                    },
                    sealed: Some(0),
                    digest: digest_of(&recorded.digest),
                };
                let mut row = [0u8; 16];
                row.copy_from_slice(Uuid::new_v4().as_bytes());
                self.save_transfer(row, &state)?;
                (row, state, recorded, vec![])
            }
        };

        let g = Geometry::of(&state.file, account)?;
        let file = File::open(&path).map_err(io("cannot read", &path))?;
        // Two threads read, fingerprint and seal the file (one hashes chunk i while the
        // other seals chunk i-1); recorded chunks the server holds are only checked. The
        // network side takes sealed chunks a batch at a time, records them (write-ahead)
        // in one save, then sends up to `IN_FLIGHT` at a time.
        const IN_FLIGHT: usize = 4;
        const AHEAD: usize = 8;
        let held: Vec<bool> = (0..recorded.tags.len())
            .map(|i| received.binary_search(&(i as i64)).is_ok())
            .collect();
        let Recorded { tags, mut digest } = recorded;
        let (reader, sealer, mut rx) =
            seal_pipeline(&state.file, account, file, &path, tags, held)?;
        let (mut sent, mut done, mut moved) = (0u64, 0u64, 0u64);
        let meter = Meter::new(0);
        let mut flight = tokio::task::JoinSet::new();
        let mut ready = std::collections::VecDeque::new();
        let blob = state.file.blob_id;
        let mut reading = true;
        loop {
            while flight.len() < IN_FLIGHT {
                if ready.is_empty() {
                    if !reading {
                        break;
                    }
                    match rx.recv().await {
                        Some(c) => ready.push_back(c),
                        None => {
                            reading = false;
                            break;
                        }
                    }
                    while ready.len() < AHEAD {
                        match rx.try_recv() {
                            Ok(c) => ready.push_back(c),
                            Err(_) => break,
                        }
                    }
                    self.record_ahead(row, &mut state, &mut digest, &ready)?;
                }
                match ready.pop_front() {
                    Some(Chunk::Held(n)) => done += n as u64,
                    Some(Chunk::Sealed(i, n, body, _)) => {
                        let (api, token, at) = (
                            self.api.clone(),
                            token.clone(),
                            format!("/v1/blobs/{blob}/chunks/{i}"),
                        );
                        flight.spawn(async move { (n, api.put_bytes(&at, &token, body).await) });
                    }
                    None => {}
                }
            }
            let Some(joined) = flight.join_next().await else {
                break;
            };
            let (m, r) =
                joined.map_err(|e| ClientError::Invalid(format!("an upload task failed: {e}")))?;
            if let Err(e) = r {
                // The record already covers every chunk sent: nothing to save.
                flight.abort_all();
                drop(rx);
                return Err(e);
            }
            sent += 1;
            done += m as u64;
            moved += m as u64;
            self.report(Progress::Uploading {
                done,
                total: size,
                rate: meter.rate(moved),
            });
        }
        // The sealer's error comes first: the reader only stops early because of it.
        let fingerprint = match join_worker(sealer).await? {
            Sealing::Done => join_worker(reader).await?,
            Sealing::Changed => {
                self.abandon_upload(row, &state, &token).await;
                return Ok(None);
            }
        };
        self.api
            .call::<(), BlobStatus>(
                Method::POST,
                &format!("/v1/blobs/{}/complete", state.file.blob_id),
                Some(&token),
                None,
            )
            .await?;
        state.file.sha256 = hex(&fingerprint);
        self.store.delete_sealed(Records::Transfers, row)?;
        Ok(Some((
            state.file,
            Uploaded {
                item: Uuid::nil(),
                chunks_sent: sent,
                chunks: g.chunks,
            },
        )))
    }

    /// Write-ahead: extends an upload's record over the newly sealed chunks in `ready`
    /// and saves it, before any of them is sent.
    fn record_ahead(
        &self,
        row: [u8; 16],
        state: &mut UploadState,
        digest: &mut ring::digest::Context,
        ready: &std::collections::VecDeque<Chunk>,
    ) -> Result<()> {
        let mut sealed = state.sealed.unwrap_or(0);
        let before = sealed;
        for c in ready {
            if let Chunk::Sealed(i, _, _, tag) = c
                && *i == sealed
            {
                digest.update(tag);
                sealed += 1;
            }
        }
        if sealed == before {
            return Ok(());
        }
        state.sealed = Some(sealed);
        state.digest = digest_of(digest);
        self.save_transfer(row, state)
    }
    /// Drops an unfinished upload: its record here, and its blob on the server if reachable.
    async fn abandon_upload(&self, row: [u8; 16], s: &UploadState, token: &Auth) {
        let _ = self
            .api
            .call::<(), ()>(
                Method::DELETE,
                &format!("/v1/blobs/{}", s.file.blob_id),
                Some(token),
                None,
            )
            .await;
        let _ = self.store.delete_sealed(Records::Transfers, row);
    }

    /// File `index` of an item: a file item's own file is 0, attachments follow in order.
    fn file_of(&self, item: Uuid, index: usize) -> Result<FileRef> {
        self.item(item)?
            .data
            .files
            .get(index)
            .cloned()
            .ok_or_else(|| ClientError::Invalid(format!("this item has no file {index}")))
    }

    /// Encrypts and uploads the file at `path` and attaches it to `item` (any kind): a new
    /// version of the item, in the outbox until the next sync.
    pub async fn attach_file(&mut self, item: Uuid, path: &Path) -> Result<()> {
        let mut data = self.item(item)?.data;
        let (file, _) = self.upload_content(path).await?;
        data.files.push(file);
        self.edit_item(item, data)?;
        Ok(())
    }

    /// Removes attachment `index` from `item` (a new version; earlier versions in the
    /// item's history still hold it).
    pub fn detach_file(&mut self, item: Uuid, index: usize) -> Result<()> {
        let mut data = self.item(item)?.data;
        if index >= data.files.len() {
            return Err(ClientError::Invalid(format!(
                "this item has no file {index}"
            )));
        }
        data.files.remove(index);
        self.edit_item(item, data)?;
        Ok(())
    }

    /// Downloads, decrypts and checks file `index` of `item` into memory, for a preview:
    /// nothing is written to disk. Files over `max` bytes are refused.
    pub async fn read_file(
        &mut self,
        item: Uuid,
        index: usize,
        max: u64,
    ) -> Result<Zeroizing<Vec<u8>>> {
        let token = self.token()?;
        let f = self.file_of(item, index)?;
        if f.size > max {
            return Err(ClientError::Invalid(format!(
                "{} is {} bytes, over the {max} a preview reads",
                f.name, f.size
            )));
        }
        let g = Geometry::of(&f, self.unlocked()?.account)?;
        let sink = Memory::default();
        let mut whole = ring::digest::Context::new(&ring::digest::SHA256);
        self.fetch_chunks(&f, &g, 0, Box::new(sink.clone()), &mut whole, &token)
            .await?;
        check_fingerprint(&f, whole)?;
        let mut out = sink
            .0
            .lock()
            .map_err(|_| ClientError::Invalid("a preview failed".into()))?;
        Ok(std::mem::take(&mut *out))
    }

    /// Downloads and decrypts a file item's content to `dest`. It is written next to `dest`
    /// as a partial file, checked against the fingerprint taken at upload, and only then
    /// moved into place; on any failure `dest` is untouched. An existing `dest` is replaced
    /// only with `overwrite`. An interrupted download resumes from its last whole chunk.
    pub async fn download_file(
        &mut self,
        item: Uuid,
        dest: &Path,
        overwrite: bool,
    ) -> Result<Downloaded> {
        self.download_attachment(item, 0, dest, overwrite).await
    }

    /// [`Client::download_file`] for file `index` of an item (0: a file item's own file,
    /// then its attachments).
    pub async fn download_attachment(
        &mut self,
        item: Uuid,
        index: usize,
        dest: &Path,
        overwrite: bool,
    ) -> Result<Downloaded> {
        let token = self.token()?;
        let f = self.file_of(item, index)?;
        if dest.exists() && !overwrite {
            return Err(ClientError::Invalid(format!(
                "{} exists: choose another name or overwrite it",
                dest.display()
            )));
        }
        let g = Geometry::of(&f, self.unlocked()?.account)?;
        let dir = dest
            .parent()
            .filter(|p| !p.as_os_str().is_empty())
            .unwrap_or(Path::new("."));
        // The partial file is the owner's only, never a link, and removed on any failure
        // or cancellation; only one left by a killed process is found again and resumed.
        let partial =
            crate::disk::Partial::new(dir.join(format!(".{}.{}.krypt7-partial", item, f.blob_id)));
        let mut out = crate::disk::open_private(partial.path())?;
        let partial_path = &partial.path().to_path_buf();
        // Resume after the last whole chunk already written; re-hash what is there.
        let have = out
            .metadata()
            .map_err(io("cannot read", partial_path))?
            .len();
        let first = (have / g.chunk).min(g.chunks - 1);
        out.set_len(first * g.chunk)
            .map_err(io("cannot write", partial_path))?;
        let mut whole = ring::digest::Context::new(&ring::digest::SHA256);
        {
            let mut buf = Zeroizing::new(vec![0u8; g.chunk as usize]);
            out.seek(SeekFrom::Start(0))
                .map_err(io("cannot read", partial_path))?;
            for _ in 0..first {
                out.read_exact(&mut buf)
                    .map_err(io("cannot read", partial_path))?;
                whole.update(&buf);
            }
        }
        let sink = out.try_clone().map_err(io("cannot write", partial_path))?;
        self.fetch_chunks(&f, &g, first, Box::new(sink), &mut whole, &token)
            .await?;
        check_fingerprint(&f, whole)?;
        out.sync_all().map_err(io("cannot write", partial_path))?;
        drop(out);
        partial.finish(dest)?;
        Ok(Downloaded {
            path: dest.to_path_buf(),
            resumed_from: first * g.chunk,
        })
    }

    /// Streams chunks `first..` of a blob, opening each and appending its plaintext. The
    /// network side gathers whole chunks; a blocking thread opens, hashes and writes them,
    /// so receiving the next chunk and handling the last one overlap (a few chunks at most
    /// wait between the two).
    async fn fetch_chunks(
        &mut self,
        f: &FileRef,
        g: &Geometry,
        first: u64,
        out: Box<dyn Write + Send>,
        whole: &mut ring::digest::Context,
        token: &Auth,
    ) -> Result<()> {
        let sealed_chunk = g.chunk as usize + TAG;
        let mut resp = self
            .api
            .get_from(
                &format!("/v1/blobs/{}/content", f.blob_id),
                token,
                first * sealed_chunk as u64,
            )
            .await?;
        // A fixed pool of chunk buffers goes round: network → opening and fingerprinting
        // (one thread) → writing (another) → network. Memory stays constant, buffers stay
        // in cache, and each buffer is zeroized once, at the end.
        const POOL: usize = 6;
        let (free_tx, mut free_rx) = tokio::sync::mpsc::channel::<Zeroizing<Vec<u8>>>(POOL);
        for _ in 0..POOL {
            let _ = free_tx.try_send(Zeroizing::new(Vec::with_capacity(sealed_chunk)));
        }
        let (tx, mut rx) = tokio::sync::mpsc::channel::<(u64, Zeroizing<Vec<u8>>)>(POOL);
        let (plain_tx, mut plain_rx) = tokio::sync::mpsc::channel::<Zeroizing<Vec<u8>>>(POOL);
        let meter = Meter::new(first * g.chunk);
        // Plaintext bytes written so far: what progress reports.
        let written = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(first * g.chunk));
        let opener = {
            let (file, account, chunks) = (f.clone(), self.unlocked()?.account, g.chunks);
            let mut hash = whole.clone();
            tokio::task::spawn_blocking(move || -> Result<ring::digest::Context> {
                let g = Geometry::of(&file, account)?;
                while let Some((i, mut buf)) = rx.blocking_recv() {
                    let n = g.cipher.open_chunk(i, i == chunks - 1, &mut buf).map_err(|_| {
                        ClientError::Integrity(format!(
                            "chunk {i} of {} was altered, moved or swapped: the file was not saved",
                            file.name
                        ))
                    })?;
                    buf.truncate(n);
                    hash.update(&buf);
                    if plain_tx.blocking_send(buf).is_err() {
                        break;
                    }
                }
                Ok(hash)
            })
        };
        let writer = {
            let written = written.clone();
            let mut out = out;
            tokio::task::spawn_blocking(move || -> Result<()> {
                while let Some(mut buf) = plain_rx.blocking_recv() {
                    out.write_all(&buf)
                        .map_err(|e| ClientError::Invalid(format!("cannot write the file: {e}")))?;
                    written.fetch_add(buf.len() as u64, std::sync::atomic::Ordering::SeqCst);
                    buf.clear();
                    let _ = free_tx.blocking_send(buf);
                }
                Ok(())
            })
        };
        let received = token
            .unless_locked(self.receive_chunks(
                (f, g, first),
                &mut resp,
                &tx,
                &mut free_rx,
                &written,
                &meter,
            ))
            .await;
        drop((tx, free_rx));
        // The workers' errors explain a refused chunk better than the closed channel they
        // left behind.
        let opened = join_worker(opener).await;
        join_worker(writer).await?;
        *whole = opened?;
        let done = written.load(std::sync::atomic::Ordering::SeqCst);
        self.report(Progress::Downloading {
            done,
            total: f.size,
            rate: meter.rate(done),
        });
        received
    }

    /// Cuts the response into sealed chunks, each in a buffer taken from `free`, and hands
    /// them to the opening thread through `tx`, in order.
    async fn receive_chunks(
        &mut self,
        (f, g, first): (&FileRef, &Geometry, u64),
        resp: &mut reqwest::Response,
        tx: &tokio::sync::mpsc::Sender<(u64, Zeroizing<Vec<u8>>)>,
        free: &mut tokio::sync::mpsc::Receiver<Zeroizing<Vec<u8>>>,
        written: &std::sync::atomic::AtomicU64,
        meter: &Meter,
    ) -> Result<()> {
        let sealed_chunk = g.chunk as usize + TAG;
        // No free buffer means a worker stopped: its error is the one to report.
        let Some(mut buf) = free.recv().await else {
            return Ok(());
        };
        let mut i = first;
        // Each whole chunk must arrive within `CHUNK_DEADLINE`: a server that trickles
        // (or stops without closing) is cut off.
        let mut due = tokio::time::Instant::now() + CHUNK_DEADLINE;
        loop {
            let piece = tokio::time::timeout_at(due, resp.chunk())
                .await
                .map_err(|_| {
                    ClientError::Offline(format!(
                        "the server sent chunk {i} of {} too slowly",
                        f.name
                    ))
                })?
                .map_err(|e| ClientError::Offline(e.to_string()))?;
            let Some(piece) = piece else { break };
            let mut rest: &[u8] = &piece;
            while !rest.is_empty() {
                if i >= g.chunks {
                    return Err(ClientError::Integrity(format!(
                        "the server sent more than {} holds",
                        f.name
                    )));
                }
                let want = if i == g.chunks - 1 {
                    g.len(f.size, i) + TAG
                } else {
                    sealed_chunk
                };
                let take = (want - buf.len()).min(rest.len());
                buf.extend_from_slice(&rest[..take]);
                rest = &rest[take..];
                if buf.len() == want {
                    let Some(next) = free.recv().await else {
                        return Ok(());
                    };
                    if tx
                        .send((i, std::mem::replace(&mut buf, next)))
                        .await
                        .is_err()
                    {
                        return Ok(());
                    }
                    i += 1;
                    due = tokio::time::Instant::now() + CHUNK_DEADLINE;
                    let done = written.load(std::sync::atomic::Ordering::SeqCst);
                    self.report(Progress::Downloading {
                        done,
                        total: f.size,
                        rate: meter.rate(done),
                    });
                }
            }
        }
        if i < g.chunks {
            return Err(ClientError::Integrity(format!(
                "the server's copy of {} is truncated (chunk {i} of {} missing)",
                f.name, g.chunks
            )));
        }
        Ok(())
    }
}
