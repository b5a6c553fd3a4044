//! A destination on a local path: another disk, or a mounted SMB/NFS share. The same
//! type writes into a plain folder (the library a card is ingested into, a restore
//! target), without a marker or a lock.
//!
//! **Held, not looked up.** The root folder is opened once and every operation
//! resolves beneath that descriptor (`openat`, `mkdirat`, `renameat`…), so a disk
//! unmounted during a run is never replaced by the bare mount point under it: nothing
//! is ever written on the system disk in its place. Before a put reports success it
//! checks that the root's path still leads to the folder it opened
//! ([`LocalDestination::still_here`]); a copy made after the disk went is not counted
//! ([`DestError::Vanished`]).
//!
//! **Puts** follow invariant 3 to the letter: write to a temporary file in this
//! process's staging folder ([`super::staging`]), fsync, publish with a rename that
//! refuses to replace (`renameat2(RENAME_NOREPLACE)`, else `link` + `unlink`, else
//! check-then-rename under the destination lock, for filesystems such as exFAT that
//! have neither), then fsync the folder. The cached pages are dropped after the fsync,
//! so the read-back that verifies a copy comes from the device. What a killed run
//! left in staging is removed when the next writer starts.
//!
//! While a destination is open for writing, this process holds an exclusive lock on
//! `.triplicate/lock`, so two triplicate processes never write to it at once.

use std::ffi::OsStr;
use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, RenameFlags};
use rustix::io::Errno;

use super::staging::Staging;
use super::{
    DestError, FORMAT_VERSION, Likeness, Linked, META_DIR, Marker, ObjectMeta, Properties,
    ReadDestination, Stored, WriteDestination,
};
use crate::fsutil::{self, Space};
use crate::relpath::RelPath;

pub use crate::vocab::PARTIAL_PREFIX;

pub(crate) const MARKER_FILE: &str = "destination.toml";
const WRITE_BUFFER: usize = 8 << 20;

#[derive(Debug)]
pub struct LocalDestination {
    name: String,
    /// The root as configured, for messages and for [`LocalDestination::still_here`].
    root: PathBuf,
    /// The root folder, held open: every operation resolves beneath it.
    dir: OwnedFd,
    /// Device and inode of `dir`.
    identity: (u64, u64),
    /// Whether this is a destination (a marker, a write lock), not a plain folder.
    marked: bool,
    /// Held for the life of the value: the exclusive write lock against other
    /// processes. `None` when opened only for reading, or for a plain folder.
    lock: Option<File>,
    /// Serialises check-then-rename between this process's threads, where the
    /// filesystem cannot refuse to replace by itself.
    publish: Mutex<()>,
    /// This process's staging folder, made at the first put.
    staging: Mutex<Option<Staging>>,
    /// Files that killed runs had left in staging, removed when this writer opened.
    swept: Mutex<usize>,
}

impl LocalDestination {
    /// Makes `root` a destination: writes its marker, or adopts the marker already
    /// there (a disk that was a destination before, say for a new catalog). Creates
    /// `root` and its missing parents (setup decides whether a missing folder may be
    /// made: [`crate::setup`]). Returns the marker now in force.
    pub fn initialise(name: &str, root: &Path, marker: &Marker) -> Result<Marker, DestError> {
        let err = |op, path: &Path, e| map_io(name, op, path, e);
        if !root.is_dir() {
            fs::create_dir_all(root).map_err(|e| err("create", root, e))?;
        }
        let meta = root.join(META_DIR);
        let path = meta.join(MARKER_FILE);
        if path.exists() {
            return read_marker(name, root);
        }
        fs::create_dir_all(&meta).map_err(|e| err("create", &meta, e))?;
        make_private(&meta).map_err(|e| err("protect", &meta, e))?;
        let text = toml::to_string(marker).expect("a marker serialises");
        write_new_file(&path, text.as_bytes()).map_err(|e| err("write", &path, e))?;
        fsutil::sync_dir(root).map_err(|e| err("sync", root, e))?;
        Ok(marker.clone())
    }

    /// Reads the marker and checks that it is the expected destination.
    pub fn check_marker(name: &str, root: &Path, expected_id: &str) -> Result<Marker, DestError> {
        let marker = read_marker(name, root)?;
        if marker.id != expected_id {
            return Err(DestError::WrongDestination {
                dest: name.into(),
                root: root.into(),
                found: marker.id,
                expected: expected_id.into(),
            });
        }
        Ok(marker)
    }

    /// Opens a destination for writing: the marker must be there and match, the
    /// filesystem must be writable, and no other process may hold the lock.
    pub fn open(name: &str, root: &Path, expected_id: &str) -> Result<Self, DestError> {
        let mut d = Self::hold(name, root, true)?;
        Self::check_marker(name, root, expected_id)?;
        d.still_here()?;
        if fsutil::space_of(&d.dir).is_ok_and(|s| s.read_only) {
            return Err(DestError::ReadOnly {
                dest: name.into(),
                path: root.into(),
            });
        }
        // Private to the owner (destinations made by earlier versions were not).
        let meta = root.join(META_DIR);
        make_private(&meta).map_err(|e| map_io(name, "protect", &meta, e))?;
        let lock_rel = Path::new(META_DIR).join("lock");
        let lock_path = root.join(&lock_rel);
        let lock = rustix::fs::openat(
            &d.dir,
            &lock_rel,
            OFlags::WRONLY | OFlags::CREATE | OFlags::CLOEXEC | OFlags::NOFOLLOW,
            Mode::from_raw_mode(0o644),
        )
        .map(File::from)
        .map_err(|e| map_io(name, "create", &lock_path, e.into()))?;
        match lock.try_lock() {
            Ok(()) => {}
            Err(fs::TryLockError::WouldBlock) => {
                return Err(DestError::InUse {
                    dest: name.into(),
                    path: lock_path,
                });
            }
            Err(fs::TryLockError::Error(e)) => return Err(map_io(name, "lock", &lock_path, e)),
        }
        d.lock = Some(lock);
        d.sweep_at_open()?;
        Ok(d)
    }

    /// Opens a destination for reading only: the marker must be there and match; no
    /// lock is taken and a read-only filesystem is fine.
    pub fn open_read_only(name: &str, root: &Path, expected_id: &str) -> Result<Self, DestError> {
        let d = Self::hold(name, root, true)?;
        Self::check_marker(name, root, expected_id)?;
        d.still_here()?;
        Ok(d)
    }

    /// A plain folder that is not a Triplicate destination (no marker, no lock), for
    /// `restore` and card ingest to write into with the same atomic, never-replacing
    /// puts. The folder is created if needed.
    pub fn plain_folder(name: &str, root: &Path) -> Result<Self, DestError> {
        fs::create_dir_all(root).map_err(|e| map_io(name, "create", root, e))?;
        let d = Self::hold(name, root, false)?;
        d.sweep_at_open()?;
        Ok(d)
    }

    /// Removes what killed runs left in staging, as a writer opens the place; the
    /// count is reported by the next [`WriteDestination::sweep_partials`].
    fn sweep_at_open(&self) -> Result<(), DestError> {
        let swept = Staging::sweep(&self.dir, None, self.lock.is_some())
            .map_err(|e| self.err("sweep", &Staging::parent(), e))?;
        if swept > 0 {
            tracing::info!(destination = %self.name, "removed {swept} files that interrupted runs left");
            *self.swept.lock().unwrap_or_else(|p| p.into_inner()) += swept;
        }
        Ok(())
    }

    /// Opens the root folder and remembers which folder it is.
    fn hold(name: &str, root: &Path, marked: bool) -> Result<Self, DestError> {
        let dir = rustix::fs::open(
            root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| match e {
            Errno::NOENT | Errno::NOTDIR if marked => DestError::NotMounted {
                dest: name.into(),
                root: root.into(),
            },
            e => map_io(name, "open", root, e.into()),
        })?;
        let stat = rustix::fs::fstat(&dir).map_err(|e| map_io(name, "stat", root, e.into()))?;
        Ok(LocalDestination {
            name: name.into(),
            root: root.into(),
            dir,
            identity: (stat.st_dev, stat.st_ino),
            marked,
            lock: None,
            publish: Mutex::new(()),
            staging: Mutex::new(None),
            swept: Mutex::new(0),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Whether the root's path still leads to the folder that was opened (and, for a
    /// destination, its marker is still there): false once the disk was unmounted or
    /// unplugged, even if its mount point is still a folder.
    pub fn still_here(&self) -> Result<(), DestError> {
        let same =
            rustix::fs::stat(&self.root).is_ok_and(|s| (s.st_dev, s.st_ino) == self.identity);
        let marker = Path::new(META_DIR).join(MARKER_FILE);
        let marked = !self.marked
            || rustix::fs::statat(&self.dir, &marker, AtFlags::SYMLINK_NOFOLLOW).is_ok();
        if same && marked {
            Ok(())
        } else {
            Err(DestError::Vanished {
                dest: self.name.clone(),
                root: self.root.clone(),
            })
        }
    }

    fn err(&self, op: &'static str, rel: &Path, e: impl Into<io::Error>) -> DestError {
        match map_io(&self.name, op, &self.root.join(rel), e.into()) {
            // The disk is full, whichever file was being written (a staging file's
            // name would mean nothing to whoever frees the space).
            DestError::Full { dest, .. } => DestError::Full {
                dest,
                path: self.root.clone(),
            },
            other => other,
        }
    }

    /// Opens the folder `rel` beneath the root.
    fn open_folder(&self, rel: &Path) -> Result<OwnedFd, Errno> {
        let rel = if rel.as_os_str().is_empty() {
            Path::new(".")
        } else {
            rel
        };
        rustix::fs::openat(
            &self.dir,
            rel,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
    }

    /// fsyncs the folder `rel`, so that an entry made or renamed in it survives a crash.
    fn sync_folder(&self, rel: &Path) -> Result<(), DestError> {
        let fd = self
            .open_folder(rel)
            .map_err(|e| self.err("open", rel, e))?;
        rustix::fs::fsync(&fd).map_err(|e| self.err("sync", rel, e))
    }

    /// Creates the folders of `rel` one by one, fsyncing each parent that gained an
    /// entry, so that a published file's folder survives a crash too.
    /// Makes the folder `rel` and its missing parents, with `mode` where given (the
    /// umask applies), else 0777 and the umask.
    fn ensure_dir(&self, rel: &Path, mode: Option<u32>) -> Result<(), DestError> {
        if rel.as_os_str().is_empty() || self.open_folder(rel).is_ok() {
            return Ok(());
        }
        let parent = rel.parent().unwrap_or(Path::new(""));
        self.ensure_dir(parent, mode)?;
        match rustix::fs::mkdirat(&self.dir, rel, Mode::from_raw_mode(mode.unwrap_or(0o777))) {
            Ok(()) => self.sync_folder(parent),
            Err(Errno::EXIST) if self.open_folder(rel).is_ok() => Ok(()),
            Err(e) => Err(self.err("create folder", rel, e)),
        }
    }

    /// This process's staging folder, made at the first put.
    fn with_staging<T>(&self, f: impl FnOnce(&Staging) -> T) -> Result<T, DestError> {
        let mut staging = self.staging.lock().unwrap_or_else(|p| p.into_inner());
        if staging.is_none() {
            let parent = Staging::parent();
            *staging =
                Some(Staging::create(&self.dir).map_err(|e| self.err("create", &parent, e))?);
        }
        Ok(f(staging.as_ref().expect("made above")))
    }

    /// Writes exactly `len` bytes of `data` into the open temporary file and makes them
    /// durable. Whole aligned blocks go with O_DIRECT where the filesystem allows it
    /// (no page-cache copy, a quarter of the CPU); the tail, and everything on
    /// filesystems without O_DIRECT, goes through the cache and fsync.
    fn fill(
        &self,
        key: &RelPath,
        file: &mut File,
        tmp: &Path,
        data: &mut dyn Read,
        len: u64,
    ) -> Result<(), DestError> {
        let mut buf = fsutil::AlignedBuf::new(WRITE_BUFFER.min(len as usize));
        let mut direct =
            len as usize >= fsutil::DIRECT_ALIGN && fsutil::set_direct(file, true).is_ok();
        let mut written = 0u64;
        loop {
            // Fill the buffer completely so that every write but the last is aligned.
            let mut filled = 0;
            while filled < buf.len() {
                match data.read(&mut buf[filled..]) {
                    Ok(0) => break,
                    Ok(n) => filled += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                    Err(source) => {
                        return Err(DestError::Source {
                            dest: self.name.clone(),
                            key: key.clone(),
                            source,
                        });
                    }
                }
            }
            if filled == 0 {
                break;
            }
            let at_end = filled < buf.len();
            written += filled as u64;
            if written > len {
                break;
            }
            if direct && filled % fsutil::DIRECT_ALIGN != 0 {
                fsutil::set_direct(file, false).map_err(|e| self.err("write", tmp, e))?;
                direct = false;
            }
            match file.write_all(&buf[..filled]) {
                Ok(()) => {}
                // Some filesystems accept the flag and refuse the write.
                Err(e) if direct && e.raw_os_error() == Some(Errno::INVAL.raw_os_error()) => {
                    fsutil::set_direct(file, false).map_err(|e| self.err("write", tmp, e))?;
                    direct = false;
                    file.write_all(&buf[..filled])
                        .map_err(|e| self.err("write", tmp, e))?;
                }
                Err(e) => return Err(self.err("write", tmp, e)),
            }
            if at_end {
                break;
            }
        }
        if written != len {
            return Err(DestError::LengthMismatch {
                dest: self.name.clone(),
                key: key.clone(),
                expected: len,
                got: written,
            });
        }
        file.sync_all().map_err(|e| self.err("sync", tmp, e))?;
        // Clean now, so any cached pages can go: the verifying read comes from the device.
        let _ = fsutil::drop_cache(file);
        Ok(())
    }

    /// Moves `tmp` to `target` (both beneath the root) without ever replacing what is
    /// there.
    fn publish(&self, key: &RelPath, tmp: &Path, target: &Path) -> Result<(), DestError> {
        let exists = || DestError::AlreadyExists {
            dest: self.name.clone(),
            key: key.clone(),
        };
        let d = &self.dir;
        match rustix::fs::renameat_with(d, tmp, d, target, RenameFlags::NOREPLACE) {
            Ok(()) => return Ok(()),
            Err(Errno::EXIST) => return Err(exists()),
            Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {}
            Err(e) => return Err(self.err("rename", target, e)),
        }
        // No RENAME_NOREPLACE here (FUSE, some network filesystems): a hard link
        // refuses to replace too.
        match rustix::fs::linkat(d, tmp, d, target, AtFlags::empty()) {
            Ok(()) => {
                rustix::fs::unlinkat(d, tmp, AtFlags::empty())
                    .map_err(|e| self.err("remove", tmp, e))?;
                return Ok(());
            }
            Err(Errno::EXIST) => return Err(exists()),
            Err(Errno::PERM | Errno::OPNOTSUPP | Errno::MLINK | Errno::NOSYS) => {}
            Err(e) => return Err(self.err("link", target, e)),
        }
        // Neither (exFAT, FAT): check, then rename. Safe against other triplicate
        // processes because we hold the destination lock, and against our own threads
        // because of this mutex (a rename there replaces a name differing only by case).
        let _serial = self.publish.lock().unwrap_or_else(|p| p.into_inner());
        if rustix::fs::statat(d, target, AtFlags::SYMLINK_NOFOLLOW).is_ok() {
            return Err(exists());
        }
        rustix::fs::renameat(d, tmp, d, target).map_err(|e| self.err("rename", target, e))
    }

    /// Appends the files beneath the folder `rel` to `out`.
    fn list_into(&self, rel: &Path, out: &mut Vec<ObjectMeta>) -> Result<(), DestError> {
        let fd = match self.open_folder(rel) {
            Ok(fd) => fd,
            Err(Errno::NOENT | Errno::NOTDIR) => return Ok(()),
            Err(e) => return Err(self.err("list", rel, e)),
        };
        let mut entries = Vec::new();
        for entry in Dir::read_from(&fd).map_err(|e| self.err("list", rel, e))? {
            let entry = entry.map_err(|e| self.err("list", rel, e))?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            entries.push(OsStr::from_bytes(name).to_os_string());
        }
        entries.sort();
        for name in entries {
            let child = rel.join(&name);
            if rel.as_os_str().is_empty() && name == META_DIR {
                continue;
            }
            let stat = match rustix::fs::statat(&fd, &name, AtFlags::SYMLINK_NOFOLLOW) {
                Ok(s) => s,
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(self.err("stat", &child, e)),
            };
            match FileType::from_raw_mode(stat.st_mode) {
                FileType::Directory => self.list_into(&child, out)?,
                FileType::RegularFile => {
                    let key = RelPath::new(child.as_os_str().as_bytes().to_vec())
                        .map_err(|e| self.err("list", &child, io::Error::other(e.to_string())))?;
                    out.push(ObjectMeta {
                        key,
                        size: stat.st_size as u64,
                    });
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// A key as a path relative to the root.
fn rel(key: &RelPath) -> &Path {
    Path::new(OsStr::from_bytes(key.as_bytes()))
}

impl ReadDestination for LocalDestination {
    fn name(&self) -> &str {
        &self.name
    }

    fn stat(&self, key: &RelPath) -> Result<Option<ObjectMeta>, DestError> {
        match rustix::fs::statat(&self.dir, rel(key), AtFlags::SYMLINK_NOFOLLOW) {
            Ok(m) => Ok(Some(ObjectMeta {
                key: key.clone(),
                // Anything that is not a file (a folder, a link) takes the name all the
                // same; a size no content has makes the caller choose another name.
                size: if FileType::from_raw_mode(m.st_mode) == FileType::RegularFile {
                    m.st_size as u64
                } else {
                    u64::MAX
                },
            })),
            Err(Errno::NOENT) => Ok(None),
            // A path component that is a file ("a/b" where "a" is a file).
            Err(Errno::NOTDIR) => Ok(Some(ObjectMeta {
                key: key.clone(),
                size: u64::MAX,
            })),
            Err(e) => Err(self.err("stat", rel(key), e)),
        }
    }

    fn list(&self, prefix: Option<&RelPath>) -> Result<Vec<ObjectMeta>, DestError> {
        let mut out = Vec::new();
        self.list_into(prefix.map(rel).unwrap_or(Path::new("")), &mut out)?;
        // An empty listing of a mount point the disk has left is not an empty disk.
        self.still_here()?;
        Ok(out)
    }

    fn read(&self, key: &RelPath) -> Result<Box<dyn Read + Send>, DestError> {
        let reader =
            fsutil::UncachedReader::open_at(&self.dir, rel(key)).map_err(|e| match e.kind() {
                io::ErrorKind::NotFound => DestError::NotFound {
                    dest: self.name.clone(),
                    key: key.clone(),
                },
                // A link or a folder where the copy should be: damage, not an I/O error.
                io::ErrorKind::InvalidData => DestError::NotAFile {
                    dest: self.name.clone(),
                    key: key.clone(),
                    what: e.to_string(),
                },
                _ => self.err("open", rel(key), e),
            })?;
        Ok(Box::new(reader))
    }

    fn space(&self) -> Option<Space> {
        fsutil::space_of(&self.dir).ok()
    }

    fn mode(&self, key: &RelPath) -> Option<u32> {
        rustix::fs::statat(&self.dir, rel(key), AtFlags::SYMLINK_NOFOLLOW)
            .ok()
            .map(|m| m.st_mode & 0o7777)
    }
}

/// Makes the folder `.triplicate/` (the marker, lock, staging, quarantine, manifests)
/// readable by its owner only.
fn make_private(meta: &Path) -> io::Result<()> {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(meta, fs::Permissions::from_mode(0o700))
}

mod marker;
mod write;

use marker::{map_io, read_marker, write_new_file};

#[cfg(test)]
mod conformance {
    //! The conformance suite, on local folders.
    use std::sync::{Arc, Mutex};

    use super::*;
    use crate::destination::conformance::{self, Harness};

    /// Fresh destinations in temporary folders, kept until the harness is dropped.
    #[derive(Default)]
    struct Local {
        dirs: Mutex<Vec<tempfile::TempDir>>,
    }

    impl Harness for Local {
        fn fresh(&self) -> Arc<dyn WriteDestination> {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().join("dest");
            LocalDestination::initialise("conf", &root, &Marker::for_test("conf")).unwrap();
            let d = LocalDestination::open("conf", &root, "conf").unwrap();
            self.dirs.lock().unwrap().push(dir);
            Arc::new(d)
        }

        fn reopen_without_marker(
            &self,
            _: &Arc<dyn WriteDestination>,
        ) -> Result<Arc<dyn WriteDestination>, DestError> {
            let dirs = self.dirs.lock().unwrap();
            let root = dirs.last().unwrap().path().join("dest");
            fs::remove_file(root.join(META_DIR).join(MARKER_FILE)).unwrap();
            LocalDestination::open("conf", &root, "conf")
                .map(|d| Arc::new(d) as Arc<dyn WriteDestination>)
        }
    }

    macro_rules! conformance_tests {
        ($($check:ident),* $(,)?) => {
            $(#[test]
            fn $check() {
                conformance::$check(&Local::default());
            })*
        };
    }

    conformance_tests!(
        put_get_stat_list,
        put_is_atomic,
        a_reader_that_lies_about_its_length_fails_the_put,
        lists_many_entries,
        keeps_names_byte_exact,
        refuses_to_overwrite,
        not_mounted_without_marker,
    );
}

#[cfg(test)]
mod tests;
