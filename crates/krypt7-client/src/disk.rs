//! Files the client writes for the user (downloads, exports): readable by their owner only
//! (0600 on Unix), never opened through a symbolic link, and never left half-written:
//! a partial file is removed on any failure, or when the work is cancelled.

use std::{
    fs::{File, OpenOptions},
    io::Write,
    path::{Path, PathBuf},
};

use crate::{ClientError, Result};

fn failed(what: &str, path: &Path) -> impl Fn(std::io::Error) -> ClientError {
    let p = path.display().to_string();
    let what = what.to_string();
    move |e| {
        if e.raw_os_error() == Some(LOOP) {
            ClientError::Invalid(format!(
                "{what} {p}: it is a link, which KRYPT7 never writes through"
            ))
        } else {
            ClientError::Invalid(format!("{what} {p}: {e}"))
        }
    }
}

/// What opening a link with `O_NOFOLLOW` fails with.
#[cfg(unix)]
const LOOP: i32 = libc::ELOOP;
#[cfg(not(unix))]
const LOOP: i32 = 1921; // ERROR_CANT_RESOLVE_FILENAME

/// Opens `path` for reading and writing, creating it if missing, only for its owner and
/// refusing a link in its place.
pub(crate) fn open_private(path: &Path) -> Result<File> {
    let mut opts = OpenOptions::new();
    opts.read(true).write(true).create(true).truncate(false);
    #[cfg(unix)]
    {
        use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
        opts.mode(0o600).custom_flags(libc::O_NOFOLLOW);
        let f = opts.open(path).map_err(failed("cannot write", path))?;
        // An existing file keeps its mode on open: narrow it.
        f.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(failed("cannot write", path))?;
        Ok(f)
    }
    #[cfg(not(unix))]
    {
        if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
            return Err(failed("cannot write", path)(
                std::io::Error::from_raw_os_error(LOOP),
            ));
        }
        opts.open(path).map_err(failed("cannot write", path))
    }
}

/// A partial file that is removed when dropped, unless [`Partial::finish`] moved it into
/// place: a
/// failed, refused or cancelled transfer leaves no plaintext behind.
pub(crate) struct Partial {
    path: PathBuf,
    armed: bool,
}

impl Partial {
    pub(crate) fn new(path: PathBuf) -> Partial {
        Partial { path, armed: true }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Moves the finished file into place at `dest` (replacing a link there, never
    /// writing through it).
    pub(crate) fn finish(mut self, dest: &Path) -> Result<()> {
        std::fs::rename(&self.path, dest).map_err(failed("cannot write", dest))?;
        self.armed = false;
        Ok(())
    }
}

impl Drop for Partial {
    fn drop(&mut self) {
        if self.armed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Writes `bytes` to `path` whole or not at all (a private temporary file beside it, then
/// a rename), readable by its owner only.
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = Partial::new(path.with_file_name(format!(".{name}.krypt7-partial")));
    // A leftover (or a planted link) goes first: the new file is created, never reused.
    let _ = std::fs::remove_file(tmp.path());
    let mut f = open_private(tmp.path())?;
    f.write_all(bytes).map_err(failed("cannot write", path))?;
    f.sync_all().map_err(failed("cannot write", path))?;
    drop(f);
    tmp.finish(path)
}

#[cfg(all(test, unix))]
#[allow(clippy::unwrap_used)] // test code: a panic is the failure report
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    #[test]
    fn exports_are_private_whole_and_never_written_through_a_link() {
        let dir = tempfile::tempdir().unwrap();
        let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        let out = dir.path().join("vault.k7export");
        write_private(&out, b"sealed").unwrap();
        assert_eq!(std::fs::read(&out).unwrap(), b"sealed");
        assert_eq!(mode(&out), 0o600);
        // A link in the file's place is replaced, its target left alone; a link planted
        // as the temporary file is removed, not followed.
        let victim = dir.path().join("victim");
        std::fs::write(&victim, b"keep").unwrap();
        let linked = dir.path().join("linked.k7export");
        std::os::unix::fs::symlink(&victim, &linked).unwrap();
        std::os::unix::fs::symlink(&victim, dir.path().join(".linked.k7export.krypt7-partial"))
            .unwrap();
        write_private(&linked, b"sealed").unwrap();
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
        assert!(
            !std::fs::symlink_metadata(&linked)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        assert_eq!(std::fs::read(&linked).unwrap(), b"sealed");
        // Opening a link directly is refused.
        let reopened = open_private(&dir.path().join(".linked.k7export.krypt7-partial"));
        assert!(reopened.is_ok(), "no link is left there");
        std::os::unix::fs::symlink(&victim, dir.path().join("planted")).unwrap();
        let err = open_private(&dir.path().join("planted")).err().unwrap();
        assert!(err.to_string().contains("link"), "{err}");
        assert_eq!(std::fs::read(&victim).unwrap(), b"keep");
    }
}
