//! `archive import FILE`: an archive from elsewhere joins the archives folder only
//! after [`check`](super::check) accepts all of it.
//!
//! The file is streamed once: every byte read is copied into a fresh staging folder
//! (`<archives>/.import-<random>/`) while the strict reader checks it. Accepted, the
//! copy is renamed to `<kind>-<id>.tar.gz` (or `.tar.zst`); rejected, the staging
//! folder is removed and nothing else was ever written.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use super::check::{Failure, Limits, check};
use super::read::ZSTD_MAGIC;
use super::{ArchiveError, Compression, Listed, Result, find, folder, io_err};
use crate::home::Triplicate;

/// Checks the archive at `file` and, if it passes, adds it to the archives folder.
pub fn import(t: &Triplicate, file: &Path, limits: &Limits) -> Result<Listed> {
    let input = File::open(file).map_err(io_err("cannot open", file))?;
    let needed = input.metadata().map_err(io_err("cannot stat", file))?.len();
    import_from(t, input, needed, file, limits)
}

/// Checks the archive `input` (`needed` bytes, called `file` in messages) and, if it
/// passes, adds it to the archives folder.
pub(crate) fn import_from(
    t: &Triplicate,
    input: impl Read,
    needed: u64,
    file: &Path,
    limits: &Limits,
) -> Result<Listed> {
    let dir = folder(t);
    fs::create_dir_all(&dir).map_err(io_err("cannot create the archives folder", &dir))?;
    let free = crate::fsutil::space(&dir).map_or(u64::MAX, |s| s.free);
    if needed > free {
        return Err(ArchiveError::NoSpace {
            path: dir,
            needed,
            free,
        });
    }
    let stage = dir.join(format!(
        ".import-{}",
        &uuid::Uuid::new_v4().simple().to_string()[..12]
    ));
    fs::create_dir(&stage).map_err(io_err("cannot create", &stage))?;
    let result = (|| {
        let copy_path = stage.join("archive");
        let copy = fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&copy_path)
            .map_err(io_err("cannot create", &copy_path))?;
        let mut tee = Tee {
            inner: input,
            copy: io::BufWriter::with_capacity(1 << 20, copy),
            head: Vec::new(),
            failed: None,
        };
        let checked = check(&mut tee, limits, &mut |_, _, _| Ok(()));
        if let Some(e) = tee.failed.take() {
            return Err(io_err("cannot write", &copy_path)(e));
        }
        let manifest = match checked {
            Ok(m) => m,
            Err(Failure::Rejected(reason)) => {
                return Err(ArchiveError::Rejected {
                    path: file.to_path_buf(),
                    reason,
                });
            }
            Err(Failure::Visitor(e)) => return Err(e),
        };
        let compression = if tee.head.starts_with(&ZSTD_MAGIC) {
            Compression::Zstd
        } else {
            Compression::Gzip
        };
        let copy = tee
            .copy
            .into_inner()
            .map_err(|e| io_err("cannot write", &copy_path)(e.into_error()))?;
        copy.sync_all().map_err(io_err("cannot sync", &copy_path))?;
        if let Ok(there) = find(t, &manifest.id)
            && there.id == manifest.id
        {
            return Err(ArchiveError::AlreadyThere {
                id: manifest.id,
                file: there.file,
            });
        }
        let target = dir.join(manifest.file_name(compression));
        if target.exists() {
            return Err(ArchiveError::AlreadyThere {
                id: manifest.id,
                file: target,
            });
        }
        fs::rename(&copy_path, &target).map_err(io_err("cannot rename", &copy_path))?;
        crate::fsutil::sync_dir(&dir).map_err(io_err("cannot sync", &dir))?;
        tracing::info!(id = %manifest.id, from = %file.display(), "archive imported");
        Ok(manifest.id)
    })();
    let _ = fs::remove_dir_all(&stage);
    find(t, &result?)
}

/// The input, copied as it is read; the first bytes are kept to tell the format.
struct Tee<R, W: Write> {
    inner: R,
    copy: io::BufWriter<W>,
    head: Vec<u8>,
    /// A failure to write the copy (reported as such, not as a damaged archive).
    failed: Option<io::Error>,
}

impl<R: Read, W: Write> Read for Tee<R, W> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if self.head.len() < 4 {
            let take = n.min(4 - self.head.len());
            self.head.extend_from_slice(&buf[..take]);
        }
        if let Err(e) = self.copy.write_all(&buf[..n]) {
            let message = e.to_string();
            self.failed = Some(e);
            return Err(io::Error::other(message));
        }
        Ok(n)
    }
}
