//! Where blob bytes live. A trait, so an S3-compatible store can sit beside the default
//! [`FsBlobStore`] (a directory in the data dir); the database records which chunks arrived.
//!
//! Layout: `<root>/<account>/<blob>/<chunk index>`; each chunk is written to a temporary
//! file and renamed into place, so a crash never leaves half a chunk behind.

use std::{
    future::Future,
    io::{self, Read, Seek, Write},
    path::PathBuf,
    pin::Pin,
};

use axum::body::Bytes;
use futures_util::Stream;
use uuid::Uuid;

pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;
pub type ByteStream = Pin<Box<dyn Stream<Item = io::Result<Bytes>> + Send>>;

/// Identifies one blob.
#[derive(Clone, Copy, Debug)]
pub struct BlobKey {
    pub account: Uuid,
    pub blob: Uuid,
}

pub trait BlobStore: Send + Sync {
    /// Stores chunk `index` (replacing an earlier copy).
    fn put_chunk(&self, key: BlobKey, index: u64, data: Bytes) -> BoxFuture<'_, io::Result<()>>;
    /// Streams `len` bytes from `start` of a blob cut into `chunk_size`-byte chunks.
    fn read(&self, key: BlobKey, chunk_size: u64, start: u64, len: u64) -> ByteStream;
    /// Gives blob `to` the same `chunks` chunks as blob `from` (complete, so they no longer
    /// change): a message's attachment for each recipient. The file store links them.
    fn link(&self, from: BlobKey, to: BlobKey, chunks: u64) -> BoxFuture<'_, io::Result<()>>;
    /// Removes one blob.
    fn delete(&self, key: BlobKey) -> BoxFuture<'_, io::Result<()>>;
    /// Removes every blob of an account.
    fn delete_account(&self, account: Uuid) -> BoxFuture<'_, io::Result<()>>;
}

/// Runs file work on tokio's blocking threads.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> io::Result<T> + Send + 'static,
) -> io::Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| io::Error::other(format!("a blob task failed: {e}")))?
}

pub struct FsBlobStore {
    root: PathBuf,
}

impl FsBlobStore {
    pub fn new(root: PathBuf) -> io::Result<Self> {
        std::fs::create_dir_all(&root)?;
        Ok(FsBlobStore { root })
    }

    fn dir(&self, key: BlobKey) -> PathBuf {
        self.root
            .join(key.account.simple().to_string())
            .join(key.blob.simple().to_string())
    }
}

impl BlobStore for FsBlobStore {
    fn put_chunk(&self, key: BlobKey, index: u64, data: Bytes) -> BoxFuture<'_, io::Result<()>> {
        let dir = self.dir(key);
        // Plain blocking writes on a blocking thread: `tokio::fs` would copy every byte once
        // more through its own buffer.
        Box::pin(blocking(move || {
            std::fs::create_dir_all(&dir)?;
            let tmp = dir.join(format!("{index}.part-{}", Uuid::new_v4().simple()));
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&data)?;
            f.sync_all()?;
            std::fs::rename(&tmp, dir.join(index.to_string()))
        }))
    }

    fn read(&self, key: BlobKey, chunk_size: u64, start: u64, len: u64) -> ByteStream {
        use futures_util::StreamExt;
        let dir = self.dir(key);
        // One piece per chunk file (the rest of it from `start`, at most 16 MiB: the largest
        // chunk the API accepts), read on a blocking thread; the next piece is read while
        // this one is encrypted and sent.
        let (mut pos, end) = (start, start + len);
        let pieces = std::iter::from_fn(move || {
            (pos < end).then(|| {
                let (index, within) = (pos / chunk_size, pos % chunk_size);
                let want = (end - pos).min(chunk_size - within) as usize;
                pos += want as u64;
                (index, within, want)
            })
        });
        Box::pin(
            futures_util::stream::iter(pieces)
                .map(move |(index, within, want)| {
                    let path = dir.join(index.to_string());
                    blocking(move || {
                        let mut f = std::fs::File::open(path)?;
                        f.seek(io::SeekFrom::Start(within))?;
                        let mut buf = vec![0u8; want];
                        f.read_exact(&mut buf).map_err(|e| {
                            if e.kind() == io::ErrorKind::UnexpectedEof {
                                io::Error::new(e.kind(), "blob chunk is shorter than recorded")
                            } else {
                                e
                            }
                        })?;
                        Ok(Bytes::from(buf))
                    })
                })
                .buffered(2),
        )
    }

    fn link(&self, from: BlobKey, to: BlobKey, chunks: u64) -> BoxFuture<'_, io::Result<()>> {
        let (from, to) = (self.dir(from), self.dir(to));
        Box::pin(blocking(move || {
            std::fs::create_dir_all(&to)?;
            for i in 0..chunks {
                let (a, b) = (from.join(i.to_string()), to.join(i.to_string()));
                match std::fs::hard_link(&a, &b) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    // Another file system, or links refused: a copy.
                    Err(_) => {
                        std::fs::copy(&a, &b)?;
                    }
                }
            }
            Ok(())
        }))
    }

    fn delete(&self, key: BlobKey) -> BoxFuture<'_, io::Result<()>> {
        let dir = self.dir(key);
        Box::pin(async move {
            match tokio::fs::remove_dir_all(&dir).await {
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                r => r,
            }
        })
    }

    fn delete_account(&self, account: Uuid) -> BoxFuture<'_, io::Result<()>> {
        let dir = self.root.join(account.simple().to_string());
        Box::pin(async move {
            match tokio::fs::remove_dir_all(&dir).await {
                Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(()),
                r => r,
            }
        })
    }
}
