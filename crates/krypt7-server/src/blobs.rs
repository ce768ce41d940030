//! Where blob bytes live. A trait, so an S3-compatible store can sit beside the default
//! [`FsBlobStore`] (a directory in the data dir); the database records which chunks arrived.
//!
//! Layout: `<root>/<account>/<blob>/<chunk index>`; each chunk is written to a temporary
//! file and renamed into place, so a crash never leaves half a chunk behind.

use std::{future::Future, io, path::PathBuf, pin::Pin};

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
    /// Removes one blob.
    fn delete(&self, key: BlobKey) -> BoxFuture<'_, io::Result<()>>;
    /// Removes every blob of an account.
    fn delete_account(&self, account: Uuid) -> BoxFuture<'_, io::Result<()>>;
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
        Box::pin(async move {
            tokio::fs::create_dir_all(&dir).await?;
            let tmp = dir.join(format!("{index}.part-{}", Uuid::new_v4().simple()));
            let mut f = tokio::fs::File::create(&tmp).await?;
            tokio::io::AsyncWriteExt::write_all(&mut f, &data).await?;
            f.sync_all().await?;
            tokio::fs::rename(&tmp, dir.join(index.to_string())).await
        })
    }

    fn read(&self, key: BlobKey, chunk_size: u64, start: u64, len: u64) -> ByteStream {
        let dir = self.dir(key);
        // State: (next offset, bytes left, open chunk file and the index it belongs to).
        let state = (start, len, None::<(u64, tokio::fs::File)>);
        Box::pin(futures_util::stream::try_unfold(
            state,
            move |(pos, left, open)| {
                let dir = dir.clone();
                async move {
                    use tokio::io::{AsyncReadExt, AsyncSeekExt};
                    if left == 0 {
                        return Ok(None);
                    }
                    let index = pos / chunk_size;
                    let within = pos % chunk_size;
                    let mut file = match open {
                        Some((i, f)) if i == index => f,
                        _ => {
                            let mut f = tokio::fs::File::open(dir.join(index.to_string())).await?;
                            f.seek(std::io::SeekFrom::Start(within)).await?;
                            f
                        }
                    };
                    // Whole chunks at a time: each read is a hop to a blocking thread.
                    let want = left.min(chunk_size - within).min(1 << 20) as usize;
                    let mut buf = vec![0u8; want];
                    let n = file.read(&mut buf).await?;
                    if n == 0 {
                        return Err(io::Error::new(
                            io::ErrorKind::UnexpectedEof,
                            "blob chunk is shorter than recorded",
                        ));
                    }
                    buf.truncate(n);
                    let next = pos + n as u64;
                    let keep = if next.is_multiple_of(chunk_size) {
                        None
                    } else {
                        Some((index, file))
                    };
                    Ok(Some((Bytes::from(buf), (next, left - n as u64, keep))))
                }
            },
        ))
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
