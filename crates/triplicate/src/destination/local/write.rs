//! Writing to a local destination: named and dated puts, links, renames and removals,
//! each published so that it never replaces what is there.

use super::*;

impl LocalDestination {
    /// Writes through staging and publishes (see [`WriteDestination::put_like`]). The
    /// file is created with the original's permission bits (0644 and the umask when
    /// unknown), so it is never more readable than the original, not even while it
    /// is written; a folder made for it takes the matching bits.
    pub(super) fn put_named(
        &self,
        key: &RelPath,
        data: &mut dyn Read,
        len: u64,
        like: Likeness,
    ) -> Result<Stored, DestError> {
        let target = rel(key);
        let dir = target.parent().unwrap_or(Path::new(""));
        self.ensure_dir(dir, like.folder_mode.map(Likeness::folder_mode))?;
        if self.stat(key)?.is_some() {
            return Err(DestError::AlreadyExists {
                dest: self.name.clone(),
                key: key.clone(),
            });
        }
        let tmp = self.with_staging(Staging::temporary)?;
        let mut file = rustix::fs::openat(
            &self.dir,
            &tmp,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC,
            Mode::from_raw_mode(like.mode.map(Likeness::file_mode).unwrap_or(0o644)),
        )
        .map(File::from)
        .map_err(|e| self.err("create", &tmp, e))?;
        let result = self
            .fill(key, &mut file, &tmp, data, len)
            .and_then(|()| match like.mtime {
                Some(when) => file
                    .set_modified(when)
                    .and_then(|()| file.sync_all())
                    .map_err(|e| self.err("set the time of", &tmp, e)),
                None => Ok(()),
            })
            .and_then(|()| self.publish(key, &tmp, target));
        drop(file);
        if let Err(e) = result {
            let _ = rustix::fs::unlinkat(&self.dir, &tmp, AtFlags::empty());
            return Err(e);
        }
        self.sync_folder(dir)?;
        // Written and durable, but on the disk that was opened only if that disk is
        // still where it was: a copy made after it went does not count.
        self.still_here()?;
        Ok(Stored::AsGiven)
    }

    /// Gives the file at `key` the modification time `mtime` (a file restored by a
    /// run killed before it could).
    pub fn set_modified(
        &self,
        key: &RelPath,
        mtime: std::time::SystemTime,
    ) -> Result<(), DestError> {
        let since = mtime
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        let at = rustix::fs::Timespec {
            tv_sec: since.as_secs() as i64,
            tv_nsec: since.subsec_nanos() as _,
        };
        let times = rustix::fs::Timestamps {
            last_access: rustix::fs::Timespec {
                tv_sec: 0,
                tv_nsec: rustix::fs::UTIME_OMIT,
            },
            last_modification: at,
        };
        rustix::fs::utimensat(&self.dir, rel(key), &times, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| self.err("set the time of", rel(key), e))
    }

    /// The mode for a folder made for another name of `key`: like `key`'s folder.
    fn folder_mode_of(&self, key: &RelPath) -> Option<u32> {
        let parent = rel(key).parent().filter(|p| !p.as_os_str().is_empty())?;
        let m = rustix::fs::statat(&self.dir, parent, AtFlags::SYMLINK_NOFOLLOW).ok()?;
        Some(Likeness::folder_mode(m.st_mode))
    }

    /// The modification time of the file at `key`.
    pub fn modified(&self, key: &RelPath) -> Result<std::time::SystemTime, DestError> {
        let s = rustix::fs::statat(&self.dir, rel(key), AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| self.err("stat", rel(key), e))?;
        Ok(std::time::UNIX_EPOCH
            + std::time::Duration::new(s.st_mtime as u64, s.st_mtime_nsec as u32))
    }
}

impl WriteDestination for LocalDestination {
    fn put(&self, key: &RelPath, data: &mut dyn Read, len: u64) -> Result<Stored, DestError> {
        self.put_like(key, data, len, Likeness::default())
    }

    /// The time and mode are set before the file is published, so a restored photo
    /// never shows the restore's time, even if the run is killed right after.
    fn put_like(
        &self,
        key: &RelPath,
        data: &mut dyn Read,
        len: u64,
        like: Likeness,
    ) -> Result<Stored, DestError> {
        self.put_named(key, data, len, like).map_err(|e| match e {
            // exFAT through FUSE says "no such file", the kernel's exFAT "invalid".
            DestError::Io { source, .. }
                if !crate::layout::is_portable(key.as_bytes())
                    && matches!(
                        Errno::from_io_error(&source),
                        Some(Errno::NOENT | Errno::INVAL | Errno::ILSEQ)
                    ) =>
            {
                DestError::NameRefused {
                    dest: self.name.clone(),
                    key: key.clone(),
                }
            }
            e => e,
        })
    }

    /// Removes what killed runs left in staging (whatever `folder`), and reports
    /// those removed when this writer opened too.
    fn sweep_partials(&self, _folder: Option<&RelPath>) -> Result<usize, DestError> {
        let earlier = std::mem::take(&mut *self.swept.lock().unwrap_or_else(|p| p.into_inner()));
        let staging = self.staging.lock().unwrap_or_else(|p| p.into_inner());
        let now = Staging::sweep(&self.dir, staging.as_ref(), self.lock.is_some())
            .map_err(|e| self.err("sweep", &Staging::parent(), e))?;
        Ok(earlier + now)
    }

    fn link(&self, from: &RelPath, to: &RelPath, len: u64) -> Result<Linked, DestError> {
        let (source, target) = (rel(from), rel(to));
        let dir = target.parent().unwrap_or(Path::new(""));
        self.ensure_dir(dir, self.folder_mode_of(from))?;
        let d = &self.dir;
        match rustix::fs::linkat(d, source, d, target, AtFlags::empty()) {
            Ok(()) => {}
            Err(Errno::EXIST) => {
                return Err(DestError::AlreadyExists {
                    dest: self.name.clone(),
                    key: to.clone(),
                });
            }
            // No hard links here (exFAT, FAT, some shares), or too many: a copy.
            Err(Errno::PERM | Errno::OPNOTSUPP | Errno::MLINK | Errno::XDEV | Errno::NOSYS) => {
                let mut reader = self.read(from)?;
                let like = Likeness {
                    mtime: None,
                    mode: self.mode(from),
                    folder_mode: self.folder_mode_of(from),
                };
                return self
                    .put_like(to, &mut reader, len, like)
                    .map(Linked::Copied);
            }
            Err(e) => return Err(self.err("link", target, e)),
        }
        self.sync_folder(dir)?;
        self.still_here()?;
        Ok(Linked::HardLink)
    }

    fn rename(&self, from: &RelPath, to: &RelPath) -> Result<(), DestError> {
        let (source, target) = (rel(from), rel(to));
        let dir = target.parent().unwrap_or(Path::new(""));
        self.ensure_dir(dir, self.folder_mode_of(from))?;
        self.publish(to, source, target)?;
        self.sync_folder(dir)?;
        self.sync_folder(source.parent().unwrap_or(Path::new("")))?;
        self.still_here()
    }

    fn remove(&self, key: &RelPath) -> Result<(), DestError> {
        let path = rel(key);
        rustix::fs::unlinkat(&self.dir, path, AtFlags::empty())
            .map_err(|e| self.err("remove", path, e))?;
        self.sync_folder(path.parent().unwrap_or(Path::new("")))
    }

    fn properties(&self) -> Properties {
        Properties {
            atomic_no_replace: true,
            connections: 2,
            verified_by: "read back from the device",
            proven_on_upload: false,
            encrypted: false,
            staged: true,
        }
    }
}
