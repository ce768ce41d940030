//! The local full-text search over the mailbox (`docs/mail.md`, "Search").
//!
//! A [tantivy](https://docs.rs/tantivy) index of each message's sender, recipients, subject
//! and body text, kept in the cache directory (`mail-index/`). Every file of it is a sealed
//! stream (`krypt7_crypto::stream`, 16 KiB chunks) under a random key that the cache keeps
//! sealed under the account key: nothing of it is readable on disk, locked or not, and a
//! chunk is decrypted only when a search or a merge reads it.
//!
//! The index is brought up to date from the cache, not from the code paths that write
//! mail: it knows the cache version of every message it holds, and before a search, when
//! the cache's generation moved, it compares them with the cache's (one query, nothing
//! decrypted) and indexes what is new or changed and drops what is gone. So mail taken in,
//! synced from another device, written by another process sharing the cache, or left
//! unindexed by a crash is caught at the next search, and a cold index builds the same way.
//! It commits every [`COMMIT_EVERY`] bytes of text, so a build interrupted by a crash or a
//! lock resumes where it stopped, and memory stays bounded: tantivy queues up to 10,000
//! documents for its indexing thread, which a faster reader would otherwise fill.

use std::{
    collections::HashMap,
    fs::{File, OpenOptions},
    io::{self, Read, Seek, SeekFrom, Write},
    ops::Range,
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use krypt7_crypto::{
    keys::FileKey,
    stream::{HEADER_LEN, StreamBinding, StreamCipher, StreamHeader},
};
use tantivy::{
    IndexReader, IndexWriter, Order, ReloadPolicy, TantivyDocument, Term,
    collector::TopDocs,
    directory::{
        Directory, DirectoryLock, FileHandle, Lock, OwnedBytes, TerminatingWrite, WatchCallback,
        WatchHandle, WritePtr,
        error::{DeleteError, LockError, OpenReadError, OpenWriteError},
    },
    indexer::IndexWriterOptions,
    query::{BooleanQuery, Occur, QueryParser, TermQuery},
    schema::{
        FAST, Field, INDEXED, IndexRecordOption, STRING, Schema, TextFieldIndexing, TextOptions,
    },
    tokenizer::{AsciiFoldingFilter, LowerCaser, RemoveLongFilter, SimpleTokenizer, TextAnalyzer},
};
use uuid::Uuid;
use zeroize::{Zeroize, Zeroizing};

use crate::Result;

/// 16 KiB: a search reads few and small ranges, each costing the decryption of its chunks.
const CHUNK_LOG2: u8 = 14;
const TAG: usize = 16;
/// Text indexed between two commits of a long build (what a crash can lose, and at most what
/// waits for the indexing thread).
pub const COMMIT_EVERY: usize = 24 << 20;
/// The indexing thread's memory (tantivy flushes a segment when it is full).
const WRITER_BUDGET: usize = 40 << 20;

/// A directory of sealed files for tantivy. File names are tantivy's own (segment ids and
/// kinds), which say nothing of the mail; contents are sealed streams bound to the account
/// and to the file's name, so a file renamed or swapped with another fails to open.
#[derive(Clone)]
struct SealedDir {
    root: PathBuf,
    key: Arc<FileKey>,
    account: [u8; 16],
}

impl std::fmt::Debug for SealedDir {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedDir")
            .field("root", &self.root)
            .finish()
    }
}

impl SealedDir {
    fn cipher(&self, name: &Path, header: StreamHeader) -> StreamCipher {
        let digest = ring::digest::digest(&ring::digest::SHA256, name.to_string_lossy().as_bytes());
        let mut file = [0u8; 16];
        file.copy_from_slice(&digest.as_ref()[..16]);
        StreamCipher::new(
            &self.key,
            &StreamBinding {
                account: self.account,
                file,
            },
            header,
        )
    }

    fn path(&self, name: &Path) -> PathBuf {
        self.root.join(name)
    }

    /// A sealed stream of `plain`, whole.
    fn seal_all(&self, name: &Path, plain: &[u8]) -> io::Result<Vec<u8>> {
        let mut out = Vec::with_capacity(plain.len() + HEADER_LEN + TAG);
        let mut w = SealedWriter::new(&mut out, self.cipher(name, header()?));
        w.write_all(plain)?;
        w.finish()?;
        Ok(out)
    }
}

fn header() -> io::Result<StreamHeader> {
    StreamHeader::generate(CHUNK_LOG2).map_err(io::Error::other)
}

fn corrupt(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.to_string())
}

/// Seals what is written, chunk by chunk; the last chunk is sealed as last at
/// [`SealedWriter::finish`] (a chunk is held until more comes or the stream ends).
struct SealedWriter<W: Write> {
    out: W,
    cipher: StreamCipher,
    buf: Zeroizing<Vec<u8>>,
    index: u64,
    started: bool,
    done: bool,
}

impl<W: Write> SealedWriter<W> {
    fn new(out: W, cipher: StreamCipher) -> Self {
        SealedWriter {
            out,
            cipher,
            buf: Zeroizing::new(Vec::with_capacity(1 << CHUNK_LOG2)),
            index: 0,
            started: false,
            done: false,
        }
    }

    fn put_chunk(&mut self, last: bool) -> io::Result<()> {
        if !self.started {
            self.out.write_all(&self.cipher.header().to_bytes())?;
            self.started = true;
        }
        let tag = self
            .cipher
            .seal_chunk(self.index, last, &mut self.buf)
            .map_err(io::Error::other)?;
        self.out.write_all(&self.buf)?;
        self.out.write_all(&tag)?;
        self.buf.clear();
        self.index += 1;
        Ok(())
    }

    /// Seals the last chunk. Writing after this is an error.
    fn finish(&mut self) -> io::Result<()> {
        if self.done {
            return Ok(());
        }
        self.put_chunk(true)?;
        self.done = true;
        self.out.flush()
    }
}

impl<W: Write> Write for SealedWriter<W> {
    fn write(&mut self, mut data: &[u8]) -> io::Result<usize> {
        if self.done {
            return Err(io::Error::other("written after its end"));
        }
        let n = data.len();
        let size = 1 << CHUNK_LOG2;
        while !data.is_empty() {
            if self.buf.len() == size {
                self.put_chunk(false)?;
            }
            let take = (size - self.buf.len()).min(data.len());
            self.buf.extend_from_slice(&data[..take]);
            data = &data[take..];
        }
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.out.flush()
    }
}

impl TerminatingWrite for SealedWriter<File> {
    fn terminate_ref(&mut self, _: tantivy::directory::AntiCallToken) -> io::Result<()> {
        self.finish()?;
        self.out.sync_all()
    }
}

/// A sealed file open for reading: each read decrypts the chunks it spans.
struct SealedFile {
    file: Mutex<File>,
    cipher: StreamCipher,
    /// Plaintext length.
    len: usize,
    chunks: u64,
}

impl std::fmt::Debug for SealedFile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealedFile")
            .field("len", &self.len)
            .finish()
    }
}

impl SealedFile {
    fn open(dir: &SealedDir, name: &Path) -> io::Result<SealedFile> {
        let mut file = File::open(dir.path(name))?;
        let mut h = [0u8; HEADER_LEN];
        file.read_exact(&mut h)?;
        let header = StreamHeader::parse(&h).map_err(|_| corrupt("not a sealed index file"))?;
        let size = header.chunk_size();
        let body = (file.metadata()?.len() as usize)
            .checked_sub(HEADER_LEN)
            .ok_or_else(|| corrupt("truncated index file"))?;
        // Full chunks, then a last one of 0 to `size` bytes (0 only when it is the only one).
        let (full, rest) = (body / (size + TAG), body % (size + TAG));
        let (len, chunks) = match (full, rest) {
            (0, 0) => return Err(corrupt("truncated index file")),
            (n, 0) => (n * size, n),
            (n, r) if r >= TAG => (n * size + r - TAG, n + 1),
            _ => return Err(corrupt("truncated index file")),
        };
        Ok(SealedFile {
            file: Mutex::new(file),
            cipher: dir.cipher(name, header),
            len,
            chunks: chunks as u64,
        })
    }

    /// Decrypts `range` of the plaintext.
    fn read(&self, range: Range<usize>) -> io::Result<Vec<u8>> {
        if range.start > range.end || range.end > self.len {
            return Err(corrupt("read past the end of an index file"));
        }
        let mut out = Vec::with_capacity(range.len());
        if range.is_empty() {
            return Ok(out);
        }
        let size = 1usize << CHUNK_LOG2;
        let (first, last) = (range.start / size, (range.end - 1) / size);
        let mut buf = Zeroizing::new(vec![0u8; size + TAG]);
        let mut file = self.file.lock().unwrap_or_else(|e| e.into_inner());
        file.seek(SeekFrom::Start((HEADER_LEN + first * (size + TAG)) as u64))?;
        for i in first..=last {
            let is_last = i as u64 + 1 == self.chunks;
            let ct = if is_last {
                self.len - i * size + TAG
            } else {
                size + TAG
            };
            file.read_exact(&mut buf[..ct])?;
            let n = self
                .cipher
                .open_chunk(i as u64, is_last, &mut buf[..ct])
                .map_err(|_| corrupt("an index file does not open (damaged or not ours)"))?;
            let from = range.start.saturating_sub(i * size).min(n);
            let to = (range.end - i * size).min(n);
            out.extend_from_slice(&buf[from..to]);
        }
        buf.zeroize();
        Ok(out)
    }
}

impl tantivy::HasLen for SealedFile {
    fn len(&self) -> usize {
        self.len
    }
}

impl FileHandle for SealedFile {
    fn read_bytes(&self, range: Range<usize>) -> io::Result<OwnedBytes> {
        self.read(range).map(OwnedBytes::new)
    }
}

fn not_found(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound
}

impl Directory for SealedDir {
    fn get_file_handle(&self, path: &Path) -> Result<Arc<dyn FileHandle>, OpenReadError> {
        match SealedFile::open(self, path) {
            Ok(f) => Ok(Arc::new(f)),
            Err(e) if not_found(&e) => Err(OpenReadError::FileDoesNotExist(path.to_owned())),
            Err(e) => Err(OpenReadError::wrap_io_error(e, path.to_owned())),
        }
    }

    fn delete(&self, path: &Path) -> Result<(), DeleteError> {
        match std::fs::remove_file(self.path(path)) {
            Ok(()) => Ok(()),
            Err(e) if not_found(&e) => Err(DeleteError::FileDoesNotExist(path.to_owned())),
            Err(e) => Err(DeleteError::IoError {
                io_error: Arc::new(e),
                filepath: path.to_owned(),
            }),
        }
    }

    fn exists(&self, path: &Path) -> Result<bool, OpenReadError> {
        self.path(path)
            .try_exists()
            .map_err(|e| OpenReadError::wrap_io_error(e, path.to_owned()))
    }

    fn open_write(&self, path: &Path) -> Result<WritePtr, OpenWriteError> {
        let file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(self.path(path))
            .map_err(|e| {
                if e.kind() == io::ErrorKind::AlreadyExists {
                    OpenWriteError::FileAlreadyExists(path.to_owned())
                } else {
                    OpenWriteError::wrap_io_error(e, path.to_owned())
                }
            })?;
        let cipher = self.cipher(
            path,
            header().map_err(|e| OpenWriteError::wrap_io_error(e, path.to_owned()))?,
        );
        Ok(io::BufWriter::new(Box::new(SealedWriter::new(
            file, cipher,
        ))))
    }

    fn atomic_read(&self, path: &Path) -> Result<Vec<u8>, OpenReadError> {
        let wrap = |e: io::Error| {
            if not_found(&e) {
                OpenReadError::FileDoesNotExist(path.to_owned())
            } else {
                OpenReadError::wrap_io_error(e, path.to_owned())
            }
        };
        let f = SealedFile::open(self, path).map_err(wrap)?;
        f.read(0..f.len).map_err(wrap)
    }

    fn atomic_write(&self, path: &Path, data: &[u8]) -> io::Result<()> {
        let sealed = self.seal_all(path, data)?;
        let tmp = self.path(path).with_extension("k7tmp");
        let mut f = File::create(&tmp)?;
        f.write_all(&sealed)?;
        f.sync_all()?;
        std::fs::rename(&tmp, self.path(path))?;
        self.sync_directory()
    }

    fn sync_directory(&self) -> io::Result<()> {
        #[cfg(unix)]
        File::open(&self.root)?.sync_all()?;
        Ok(())
    }

    /// An OS file lock (released if the process dies), blocking or not as asked. The lock
    /// files are empty.
    fn acquire_lock(&self, lock: &Lock) -> Result<DirectoryLock, LockError> {
        let f = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(self.path(&lock.filepath))
            .map_err(LockError::wrap_io_error)?;
        if lock.is_blocking {
            f.lock().map_err(LockError::wrap_io_error)?;
        } else {
            f.try_lock().map_err(|e| match e {
                std::fs::TryLockError::WouldBlock => LockError::LockBusy,
                std::fs::TryLockError::Error(e) => LockError::wrap_io_error(e),
            })?;
        }
        Ok(DirectoryLock::from(Box::new(f)))
    }

    /// Nothing watches: the reader is reloaded after each commit of this process, and
    /// another process's commits are seen at the next catch-up.
    fn watch(&self, _: WatchCallback) -> tantivy::Result<WatchHandle> {
        Ok(WatchHandle::empty())
    }
}

/// What is indexed of one message.
pub(crate) struct MailDoc {
    pub id: Uuid,
    /// The cache's version of the message when it was read.
    pub version: i64,
    /// Unix seconds: results come newest first.
    pub date: i64,
    pub from: String,
    /// To, Cc and (on the sender's own copy) Bcc.
    pub to: String,
    pub subject: String,
    pub body: String,
    /// Lowercased: the folder filter.
    pub folder: String,
}

impl Drop for MailDoc {
    fn drop(&mut self) {
        self.from.zeroize();
        self.to.zeroize();
        self.subject.zeroize();
        self.body.zeroize();
        self.folder.zeroize();
    }
}

struct Fields {
    id: Field,
    id_hi: Field,
    id_lo: Field,
    version: Field,
    date: Field,
    from: Field,
    to: Field,
    subject: Field,
    body: Field,
    folder: Field,
}

fn schema() -> (Schema, Fields) {
    let mut b = Schema::builder();
    let text = TextOptions::default().set_indexing_options(
        TextFieldIndexing::default()
            .set_tokenizer("mail")
            .set_index_option(IndexRecordOption::WithFreqsAndPositions),
    );
    let fields = Fields {
        // The id as a term (to replace or delete a message) and as two numbers (to read
        // it back from a result).
        id: b.add_text_field("id", STRING),
        id_hi: b.add_u64_field("id_hi", FAST),
        id_lo: b.add_u64_field("id_lo", FAST),
        version: b.add_i64_field("version", FAST),
        date: b.add_i64_field("date", FAST | INDEXED),
        from: b.add_text_field("from", text.clone()),
        to: b.add_text_field("to", text.clone()),
        subject: b.add_text_field("subject", text.clone()),
        body: b.add_text_field("body", text),
        folder: b.add_text_field("folder", STRING),
    };
    (b.build(), fields)
}

/// Words: split on anything not a letter or digit, lowercased, accents folded (so "ete"
/// finds "été"), words over 40 bytes left out.
fn analyzer() -> TextAnalyzer {
    TextAnalyzer::builder(SimpleTokenizer::default())
        .filter(RemoveLongFilter::limit(40))
        .filter(LowerCaser)
        .filter(AsciiFoldingFilter)
        .build()
}

/// A change to bring into the index.
pub(crate) enum Change {
    Put(MailDoc),
    Remove(Uuid),
}

pub(crate) struct MailIndex {
    index: tantivy::Index,
    reader: IndexReader,
    fields: Fields,
    parser: QueryParser,
    /// Message id → the cache version indexed.
    versions: HashMap<Uuid, i64>,
    /// The cache generation the index was last brought up to (0: never).
    pub caught_up: i64,
}

/// Tantivy's errors as I/O errors of the cache: damage (a file that does not open, data
/// that does not parse) is `InvalidData`, which rebuilds the index.
fn err(e: tantivy::TantivyError) -> io::Error {
    use tantivy::TantivyError as T;
    let kind = match &e {
        T::IoError(io) => io.kind(),
        T::OpenReadError(OpenReadError::IoError { io_error, .. }) => io_error.kind(),
        T::DataCorruption(_) | T::IncompatibleIndex(_) | T::SchemaError(_) => {
            io::ErrorKind::InvalidData
        }
        _ => io::ErrorKind::Other,
    };
    io::Error::new(kind, e.to_string())
}

impl MailIndex {
    /// Opens the index in `root` (made if missing), sealed under `key`. An index that does
    /// not open (damaged, or sealed under another key) is removed and made again: it holds
    /// nothing that the cache does not.
    pub fn open(root: &Path, key: FileKey, account: Uuid) -> io::Result<MailIndex> {
        let dir = SealedDir {
            root: root.to_owned(),
            key: Arc::new(key),
            account: *account.as_bytes(),
        };
        match Self::open_in(&dir) {
            Ok(ix) => Ok(ix),
            Err(_) => {
                std::fs::remove_dir_all(root)
                    .or_else(|e| if not_found(&e) { Ok(()) } else { Err(e) })?;
                Self::open_in(&dir)
            }
        }
    }

    fn open_in(dir: &SealedDir) -> io::Result<MailIndex> {
        std::fs::create_dir_all(&dir.root)?;
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir.root, std::fs::Permissions::from_mode(0o700))?;
        }
        let (schema, fields) = schema();
        let index = tantivy::Index::open_or_create(dir.clone(), schema).map_err(err)?;
        index.tokenizers().register("mail", analyzer());
        let reader = index
            .reader_builder()
            .reload_policy(ReloadPolicy::Manual)
            .try_into()
            .map_err(err)?;
        let mut parser = QueryParser::for_index(
            &index,
            vec![fields.from, fields.to, fields.subject, fields.body],
        );
        parser.set_conjunction_by_default();
        let mut ix = MailIndex {
            index,
            reader,
            fields,
            parser,
            versions: HashMap::new(),
            caught_up: 0,
        };
        ix.reload()?;
        Ok(ix)
    }

    /// Reads what the index holds (after this process's commit or another's).
    fn reload(&mut self) -> io::Result<()> {
        self.reader.reload().map_err(err)?;
        let searcher = self.reader.searcher();
        let mut versions = HashMap::with_capacity(searcher.num_docs() as usize);
        for seg in searcher.segment_readers() {
            let fast = seg.fast_fields();
            let (hi, lo, v) = (
                fast.u64("id_hi").map_err(err)?,
                fast.u64("id_lo").map_err(err)?,
                fast.i64("version").map_err(err)?,
            );
            for doc in seg.doc_ids_alive() {
                if let (Some(hi), Some(lo), Some(v)) = (hi.first(doc), lo.first(doc), v.first(doc))
                {
                    versions.insert(Uuid::from_u64_pair(hi, lo), v);
                }
            }
        }
        self.versions = versions;
        Ok(())
    }

    /// The version of each message indexed.
    pub fn versions(&self) -> &HashMap<Uuid, i64> {
        &self.versions
    }

    /// Forgets what was read of the index, to read it again (another process may have
    /// committed).
    pub fn refresh(&mut self) -> io::Result<()> {
        self.reload()
    }

    /// Applies `changes`, committing every [`COMMIT_EVERY`] bytes of text and at the end. `changes`
    /// yields errors as they come (a message that fails to decrypt): the first one stops,
    /// after committing what came before it.
    pub fn apply(&mut self, changes: impl Iterator<Item = Result<Change>>) -> Result<usize> {
        let mut writer: IndexWriter<TantivyDocument> = self
            .index
            .writer_with_options(
                IndexWriterOptions::builder()
                    .num_worker_threads(1)
                    .num_merge_threads(1)
                    .memory_budget_per_thread(WRITER_BUDGET)
                    .build(),
            )
            .map_err(err)?;
        let f = &self.fields;
        let (mut done, mut since_commit) = (0, 0);
        let mut failure = None;
        for change in changes {
            let change = match change {
                Ok(c) => c,
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            };
            let id = match &change {
                Change::Put(d) => d.id,
                Change::Remove(id) => *id,
            };
            writer.delete_term(Term::from_field_text(f.id, &id.to_string()));
            if let Change::Put(d) = &change {
                let (hi, lo) = d.id.as_u64_pair();
                let mut doc = TantivyDocument::new();
                doc.add_text(f.id, d.id.to_string());
                doc.add_u64(f.id_hi, hi);
                doc.add_u64(f.id_lo, lo);
                doc.add_i64(f.version, d.version);
                doc.add_i64(f.date, d.date);
                doc.add_text(f.from, &d.from);
                doc.add_text(f.to, &d.to);
                doc.add_text(f.subject, &d.subject);
                doc.add_text(f.body, &d.body);
                doc.add_text(f.folder, &d.folder);
                writer.add_document(doc).map_err(err)?;
            }
            done += 1;
            if let Change::Put(d) = &change {
                since_commit += d.body.len() + d.subject.len() + d.from.len() + d.to.len();
            }
            if since_commit >= COMMIT_EVERY {
                writer.commit().map_err(err)?;
                since_commit = 0;
            }
        }
        writer.commit().map_err(err)?;
        writer.wait_merging_threads().map_err(err)?;
        self.reload()?;
        match failure {
            Some(e) => Err(e),
            None => Ok(done),
        }
    }

    /// Ids of the messages matching `query`, newest first, at most `limit`. The query is
    /// words (all must match), "phrases", `-word` to exclude, and `from:`, `to:`,
    /// `subject:`, `body:` to look in one part; anything it cannot parse is read as words.
    pub fn search(&self, query: &str, folder: Option<&str>, limit: usize) -> io::Result<Vec<Uuid>> {
        let (mut q, _) = self.parser.parse_query_lenient(query);
        if let Some(f) = folder {
            let term = Term::from_field_text(self.fields.folder, &f.to_lowercase());
            q = Box::new(BooleanQuery::new(vec![
                (Occur::Must, q),
                (
                    Occur::Must,
                    Box::new(TermQuery::new(term, IndexRecordOption::Basic)),
                ),
            ]));
        }
        let searcher = self.reader.searcher();
        let hits: Vec<(Option<i64>, tantivy::DocAddress)> = searcher
            .search(
                &q,
                &TopDocs::with_limit(limit.max(1)).order_by_fast_field::<i64>("date", Order::Desc),
            )
            .map_err(err)?;
        let mut out = Vec::with_capacity(hits.len());
        // Each segment's id columns, read once.
        let columns = (0..searcher.segment_readers().len())
            .map(|s| {
                let fast = searcher.segment_reader(s as u32).fast_fields();
                Ok((
                    fast.u64("id_hi").map_err(err)?,
                    fast.u64("id_lo").map_err(err)?,
                ))
            })
            .collect::<io::Result<Vec<_>>>()?;
        for (_, addr) in hits {
            let (hi, lo) = &columns[addr.segment_ord as usize];
            if let (Some(hi), Some(lo)) = (hi.first(addr.doc_id), lo.first(addr.doc_id)) {
                out.push(Uuid::from_u64_pair(hi, lo));
            }
        }
        Ok(out)
    }
}

// ---- the client's side ----------------------------------------------------------------

/// The meta key of the index's key, sealed under the account key.
const KEY_META: &str = "mail-index-key";

/// What is indexed of message `id` at cache version `version`.
fn doc_of(id: Uuid, version: i64, d: &crate::item::ItemData) -> MailDoc {
    let field = |k: &str| d.fields.get(k).map(String::as_str).unwrap_or_default();
    let mut body = match d.fields.get("raw") {
        Some(raw) => crate::mail::message_text(raw.as_bytes()),
        // A draft: its text as written.
        None => field("text").to_string(),
    };
    for f in &d.files {
        body.push('\n');
        body.push_str(&f.name);
    }
    MailDoc {
        id,
        version,
        date: field("date").parse().unwrap_or_default(),
        from: field("from").to_string(),
        to: [field("to"), field("cc"), field("bcc")].join("\n"),
        subject: d.title.clone(),
        body,
        folder: d
            .folder
            .as_deref()
            .unwrap_or(crate::mail::INBOX)
            .to_lowercase(),
    }
}

impl crate::Client {
    /// The messages matching `query` (in `folder` only, if given), newest first, at most
    /// `limit`. Words must all match, by whole word (accents and case aside); `"a phrase"`,
    /// `-word`, and `from:`, `to:`, `subject:`, `body:` to look in one part. The index
    /// catches up with the mailbox first (`docs/mail.md`, "Search").
    pub fn search_mail(
        &mut self,
        query: &str,
        folder: Option<&str>,
        limit: usize,
    ) -> Result<Vec<crate::mail::MailView>> {
        let ids = self.search_mail_ids(query, folder, limit)?;
        self.mail_views(&ids)
    }

    /// [`Client::search_mail`]'s ids alone (nothing decrypted but the index's pages).
    pub fn search_mail_ids(
        &mut self,
        query: &str,
        folder: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Uuid>> {
        if query.trim().is_empty() {
            return Err(crate::ClientError::Invalid("a search needs words".into()));
        }
        let mut rebuilt = false;
        loop {
            let found = self.mail_index_current().and_then(|_| {
                let u = self.unlocked()?;
                let ix = u.mail_index.as_ref().ok_or(crate::ClientError::Locked)?;
                Ok(ix.search(query, folder, limit)?)
            });
            match found {
                // A damaged index file (a chunk that does not open): the index holds
                // nothing the cache does not, so it is made again, once.
                Err(crate::ClientError::Store(krypt7_store::StoreError::Io(e)))
                    if e.kind() == io::ErrorKind::InvalidData && !rebuilt =>
                {
                    rebuilt = true;
                    self.unlocked()?.mail_index = None;
                    std::fs::remove_dir_all(self.dir.join("mail-index"))?;
                }
                other => return other,
            }
        }
    }

    /// Opens the mail index if needed, then indexes what changed in the mailbox since it was
    /// last brought up to date (everything, the first time). Returns how many messages were
    /// indexed or dropped.
    pub fn mail_index_current(&mut self) -> Result<usize> {
        let generation = self.store.generation()?;
        let mut u = self.unlocked()?;
        let mut ix = match u.mail_index.take() {
            Some(ix) => ix,
            None => {
                let key = self.mail_index_key(&u)?;
                MailIndex::open(&self.dir.join("mail-index"), key, u.account)?
            }
        };
        if ix.caught_up == generation {
            u.mail_index = Some(ix);
            return Ok(0);
        }
        // Another process sharing the cache may have committed since.
        ix.refresh()?;
        let cache = self.store.item_versions(u.mail_vault)?;
        let live: std::collections::HashSet<Uuid> = cache.iter().map(|(id, _)| *id).collect();
        let gone: Vec<Uuid> = ix
            .versions()
            .keys()
            .filter(|id| !live.contains(id))
            .copied()
            .collect();
        let stale: Vec<Uuid> = cache
            .iter()
            .filter(|(id, v)| ix.versions().get(id) != Some(v))
            .map(|(id, _)| *id)
            .collect();
        if gone.is_empty() && stale.is_empty() {
            ix.caught_up = generation;
            u.mail_index = Some(ix);
            return Ok(0);
        }
        let store = &self.store;
        let vault = u.mail_vault;
        let changes =
            gone.into_iter()
                .map(|id| Ok(Change::Remove(id)))
                .chain(stale.into_iter().map(|id| match store.item(id)? {
                    Some(row) if !row.deleted && row.vault_id == vault => {
                        let data = Self::open_live(&u, vault, id, &row.envelope)?;
                        Ok(if crate::mail::is_message(&data) {
                            Change::Put(doc_of(id, row.local_version, &data))
                        } else {
                            Change::Remove(id)
                        })
                    }
                    _ => Ok(Change::Remove(id)),
                }));
        let result = ix.apply(changes);
        if result.is_ok() {
            ix.caught_up = generation;
        }
        u.mail_index = Some(ix);
        result
    }

    /// The index's key: made once per device and kept sealed under the account key. One
    /// that no longer opens (the account key changed) is replaced, and the index with it.
    fn mail_index_key(&self, u: &crate::Unlocked) -> Result<FileKey> {
        let label = KEY_META.as_bytes();
        if let Some(sealed) = self.store.meta(KEY_META)?
            && let Ok(raw) = krypt7_crypto::envelope::open_local_secret(
                &u.keyset.account_key,
                u.account.as_bytes(),
                label,
                &sealed,
            )
            && let Ok(bytes) = <[u8; 32]>::try_from(raw.as_slice())
        {
            return Ok(FileKey::from_bytes(bytes));
        }
        let key = FileKey::generate()?;
        let sealed = krypt7_crypto::envelope::seal_local_secret(
            &u.keyset.account_key,
            u.account.as_bytes(),
            label,
            key.expose_secret(),
        )?;
        let _ = std::fs::remove_dir_all(self.dir.join("mail-index"));
        self.store.set_meta(KEY_META, &sealed)?;
        Ok(key)
    }
}
