//! A destination on a local path: another disk, or a mounted SMB/NFS share.
//!
//! Puts follow invariant 3 to the letter: write to a short temporary name in the target
//! folder (`.triplicate-partial-<random>`, short so that 255-byte names still fit), fsync,
//! publish with a rename that refuses to replace (`renameat2(RENAME_NOREPLACE)`, else
//! `link` + `unlink`, else check-then-rename under the destination lock, for
//! filesystems such as exFAT that have neither), then fsync the folder. The cached
//! pages are dropped after the fsync, so the read-back that verifies a copy comes from
//! the device. Leftovers of a crash are removed by [`WriteDestination::sweep_partials`].
//!
//! While a destination is open for writing, this process holds an exclusive lock on
//! `.triplicate/lock`, so two triplicate processes never write to it at once.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use super::{
    DestError, FORMAT_VERSION, META_DIR, Marker, ObjectMeta, Properties, ReadDestination, Stored,
    WriteDestination,
};
use crate::fsutil::{self, Space};
use crate::relpath::RelPath;

/// Prefix of the temporary names that puts write before publishing.
pub const PARTIAL_PREFIX: &str = ".triplicate-partial-";

pub(crate) const MARKER_FILE: &str = "destination.toml";
const WRITE_BUFFER: usize = 8 << 20;

#[derive(Debug)]
pub struct LocalDestination {
    name: String,
    root: PathBuf,
    /// Held for the life of the value: the exclusive write lock against other
    /// processes. `None` when opened only for reading.
    _lock: Option<File>,
    /// Serialises check-then-rename between this process's threads, where the
    /// filesystem cannot refuse to replace by itself.
    publish: std::sync::Mutex<()>,
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
        Self::check_marker(name, root, expected_id)?;
        if fsutil::space(root).is_ok_and(|s| s.read_only) {
            return Err(DestError::ReadOnly {
                dest: name.into(),
                path: root.into(),
            });
        }
        let lock_path = root.join(META_DIR).join("lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| map_io(name, "create", &lock_path, e))?;
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
        Ok(LocalDestination {
            name: name.into(),
            root: root.into(),
            _lock: Some(lock),
            publish: std::sync::Mutex::new(()),
        })
    }

    /// Opens a destination for reading only: the marker must be there and match; no
    /// lock is taken and a read-only filesystem is fine.
    pub fn open_read_only(name: &str, root: &Path, expected_id: &str) -> Result<Self, DestError> {
        Self::check_marker(name, root, expected_id)?;
        Ok(LocalDestination {
            name: name.into(),
            root: root.into(),
            _lock: None,
            publish: std::sync::Mutex::new(()),
        })
    }

    /// A plain folder that is not a Triplicate destination (no marker, no lock), for
    /// `restore` to write into with the same atomic, never-replacing puts. The folder is
    /// created if needed.
    pub fn plain_folder(name: &str, root: &Path) -> Result<Self, DestError> {
        fs::create_dir_all(root).map_err(|e| map_io(name, "create", root, e))?;
        Ok(LocalDestination {
            name: name.into(),
            root: root.into(),
            _lock: None,
            publish: std::sync::Mutex::new(()),
        })
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    fn err(&self, op: &'static str, path: &Path, e: io::Error) -> DestError {
        map_io(&self.name, op, path, e)
    }

    /// Creates the folders of `dir` one by one, fsyncing each parent that gained an
    /// entry, so that a published file's folder survives a crash too.
    fn ensure_dir(&self, dir: &Path) -> Result<(), DestError> {
        if dir.is_dir() {
            return Ok(());
        }
        let parent = dir.parent().unwrap_or(&self.root);
        self.ensure_dir(parent)?;
        match fs::create_dir(dir) {
            Ok(()) => fsutil::sync_dir(parent).map_err(|e| self.err("sync", parent, e)),
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && dir.is_dir() => Ok(()),
            Err(e) => Err(self.err("create folder", dir, e)),
        }
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
                Err(e)
                    if direct
                        && e.raw_os_error() == Some(rustix::io::Errno::INVAL.raw_os_error()) =>
                {
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

    /// Moves `tmp` to `target` without ever replacing what is there.
    fn publish(&self, key: &RelPath, tmp: &Path, target: &Path) -> Result<(), DestError> {
        use rustix::fs::{CWD, RenameFlags, renameat_with};
        use rustix::io::Errno;
        let exists = || DestError::AlreadyExists {
            dest: self.name.clone(),
            key: key.clone(),
        };
        match renameat_with(CWD, tmp, CWD, target, RenameFlags::NOREPLACE) {
            Ok(()) => return Ok(()),
            Err(Errno::EXIST) => return Err(exists()),
            Err(Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP) => {}
            Err(e) => return Err(self.err("rename", target, e.into())),
        }
        // No RENAME_NOREPLACE here (FUSE, some network filesystems): a hard link
        // refuses to replace too.
        match fs::hard_link(tmp, target) {
            Ok(()) => {
                fs::remove_file(tmp).map_err(|e| self.err("remove", tmp, e))?;
                return Ok(());
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => return Err(exists()),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(c) if [Errno::PERM, Errno::OPNOTSUPP, Errno::MLINK, Errno::NOSYS].iter().any(|e| e.raw_os_error() == c)
                ) => {}
            Err(e) => return Err(self.err("link", target, e)),
        }
        // Neither (exFAT, FAT): check, then rename. Safe against other triplicate
        // processes because we hold the destination lock, and against our own threads
        // because of this mutex (a rename there replaces a name differing only by case).
        let _serial = self.publish.lock().unwrap_or_else(|p| p.into_inner());
        if fs::symlink_metadata(target).is_ok() {
            return Err(exists());
        }
        fs::rename(tmp, target).map_err(|e| self.err("rename", target, e))
    }
}

impl ReadDestination for LocalDestination {
    fn name(&self) -> &str {
        &self.name
    }

    fn stat(&self, key: &RelPath) -> Result<Option<ObjectMeta>, DestError> {
        let path = key.to_path(&self.root);
        match fs::symlink_metadata(&path) {
            Ok(m) => Ok(Some(ObjectMeta {
                key: key.clone(),
                // Anything that is not a file (a folder, a link) takes the name all the
                // same; a size no content has makes the caller choose another name.
                size: if m.is_file() { m.len() } else { u64::MAX },
            })),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            // A path component that is a file ("a/b" where "a" is a file).
            Err(e) if e.raw_os_error() == Some(rustix::io::Errno::NOTDIR.raw_os_error()) => {
                Ok(Some(ObjectMeta {
                    key: key.clone(),
                    size: u64::MAX,
                }))
            }
            Err(e) => Err(self.err("stat", &path, e)),
        }
    }

    fn list(&self, prefix: Option<&RelPath>) -> Result<Vec<ObjectMeta>, DestError> {
        let start = prefix
            .map(|p| p.to_path(&self.root))
            .unwrap_or_else(|| self.root.clone());
        if !start.exists() {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        let walker = walkdir::WalkDir::new(&start)
            .follow_links(false)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| !(e.depth() == 1 && prefix.is_none() && e.file_name() == META_DIR));
        for entry in walker {
            let entry = entry.map_err(|e| {
                let path = e
                    .path()
                    .map(Path::to_path_buf)
                    .unwrap_or_else(|| start.clone());
                self.err("list", &path, e.into())
            })?;
            if !entry.file_type().is_file() {
                continue;
            }
            use std::os::unix::ffi::OsStrExt;
            if entry
                .file_name()
                .as_bytes()
                .starts_with(PARTIAL_PREFIX.as_bytes())
            {
                continue;
            }
            let key = RelPath::from_path_under(&self.root, entry.path())
                .map_err(|e| self.err("list", entry.path(), io::Error::other(e.to_string())))?;
            let size = entry
                .metadata()
                .map_err(|e| self.err("stat", entry.path(), e.into()))?
                .len();
            out.push(ObjectMeta { key, size });
        }
        Ok(out)
    }

    fn read(&self, key: &RelPath) -> Result<Box<dyn Read + Send>, DestError> {
        let path = key.to_path(&self.root);
        let reader = fsutil::UncachedReader::open(&path).map_err(|e| match e.kind() {
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
            _ => self.err("open", &path, e),
        })?;
        Ok(Box::new(reader))
    }

    fn space(&self) -> Option<Space> {
        fsutil::space(&self.root).ok()
    }
}

impl WriteDestination for LocalDestination {
    fn put(&self, key: &RelPath, data: &mut dyn Read, len: u64) -> Result<Stored, DestError> {
        let target = key.to_path(&self.root);
        let dir = target.parent().unwrap_or(&self.root).to_path_buf();
        self.ensure_dir(&dir)?;
        if self.stat(key)?.is_some() {
            return Err(DestError::AlreadyExists {
                dest: self.name.clone(),
                key: key.clone(),
            });
        }
        let tmp = dir.join(format!(
            "{PARTIAL_PREFIX}{}",
            &uuid::Uuid::new_v4().simple().to_string()[..16]
        ));
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&tmp)
            .map_err(|e| self.err("create", &tmp, e))?;
        let result = self
            .fill(key, &mut file, &tmp, data, len)
            .and_then(|()| self.publish(key, &tmp, &target));
        drop(file);
        if let Err(e) = result {
            let _ = fs::remove_file(&tmp);
            return Err(e);
        }
        fsutil::sync_dir(&dir).map_err(|e| self.err("sync", &dir, e))?;
        Ok(Stored::AsGiven)
    }

    fn sweep_partials(&self, folder: Option<&RelPath>) -> Result<usize, DestError> {
        let start = folder
            .map(|f| f.to_path(&self.root))
            .unwrap_or_else(|| self.root.clone());
        if !start.is_dir() {
            return Ok(0);
        }
        let depth = if folder.is_some() { 1 } else { usize::MAX };
        let mut removed = 0;
        for entry in walkdir::WalkDir::new(&start)
            .max_depth(depth)
            .follow_links(false)
        {
            let Ok(entry) = entry else { continue };
            use std::os::unix::ffi::OsStrExt;
            if entry.file_type().is_file()
                && entry
                    .file_name()
                    .as_bytes()
                    .starts_with(PARTIAL_PREFIX.as_bytes())
            {
                fs::remove_file(entry.path()).map_err(|e| self.err("remove", entry.path(), e))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    fn rename(&self, from: &RelPath, to: &RelPath) -> Result<(), DestError> {
        let source = from.to_path(&self.root);
        let target = to.to_path(&self.root);
        let dir = target.parent().unwrap_or(&self.root).to_path_buf();
        self.ensure_dir(&dir)?;
        self.publish(to, &source, &target)?;
        fsutil::sync_dir(&dir).map_err(|e| self.err("sync", &dir, e))?;
        let old_dir = source.parent().unwrap_or(&self.root);
        fsutil::sync_dir(old_dir).map_err(|e| self.err("sync", old_dir, e))
    }

    fn remove(&self, key: &RelPath) -> Result<(), DestError> {
        let path = key.to_path(&self.root);
        fs::remove_file(&path).map_err(|e| self.err("remove", &path, e))?;
        let dir = path.parent().unwrap_or(&self.root);
        fsutil::sync_dir(dir).map_err(|e| self.err("sync", dir, e))
    }

    fn properties(&self) -> Properties {
        Properties {
            atomic_no_replace: true,
            connections: 2,
            verified_by: "read back from the device",
            proven_on_upload: false,
            encrypted: false,
        }
    }
}

fn read_marker(name: &str, root: &Path) -> Result<Marker, DestError> {
    let path = root.join(META_DIR).join(MARKER_FILE);
    let text = match fs::read_to_string(&path) {
        Ok(t) => t,
        Err(e) if e.kind() == io::ErrorKind::NotFound || !root.is_dir() => {
            return Err(DestError::NotMounted {
                dest: name.into(),
                root: root.into(),
            });
        }
        Err(e) => return Err(map_io(name, "read", &path, e)),
    };
    let marker: Marker = toml::from_str(&text).map_err(|e| DestError::BadMarker {
        dest: name.into(),
        path: path.clone(),
        message: e.message().to_string(),
    })?;
    if marker.format > FORMAT_VERSION {
        return Err(DestError::BadMarker {
            dest: name.into(),
            path,
            message: format!(
                "format {} is newer than this program understands ({FORMAT_VERSION}); upgrade triplicate",
                marker.format
            ),
        });
    }
    Ok(marker)
}

/// Writes a small new file durably under a temporary name, then renames it in place.
fn write_new_file(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let tmp = path.with_extension("tmp");
    let mut f = File::create(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    fs::rename(&tmp, path)?;
    fsutil::sync_dir(path.parent().unwrap_or(Path::new(".")))
}

/// Turns an I/O error into the destination error a user can act on.
pub(crate) fn map_io(dest: &str, op: &'static str, path: &Path, e: io::Error) -> DestError {
    if fsutil::is_no_space(&e) {
        DestError::Full {
            dest: dest.into(),
            path: path.into(),
        }
    } else if fsutil::is_read_only(&e) {
        DestError::ReadOnly {
            dest: dest.into(),
            path: path.into(),
        }
    } else if e.kind() == io::ErrorKind::PermissionDenied {
        DestError::PermissionDenied {
            dest: dest.into(),
            path: path.into(),
        }
    } else {
        DestError::Io {
            dest: dest.into(),
            op,
            path: path.into(),
            source: e,
        }
    }
}

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
mod tests {
    use super::*;

    fn marker(id: &str) -> Marker {
        Marker::for_test(id)
    }

    fn key(s: &str) -> RelPath {
        RelPath::new(s.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn puts_of_every_awkward_size_are_byte_exact() {
        // Around the O_DIRECT block size and the write buffer: aligned body, buffered tail.
        let dir = tempfile::tempdir().unwrap();
        LocalDestination::initialise("t", dir.path(), &marker("a")).unwrap();
        let d = LocalDestination::open("t", dir.path(), "a").unwrap();
        for len in [
            0usize,
            1,
            4095,
            4096,
            4097,
            WRITE_BUFFER - 1,
            WRITE_BUFFER,
            WRITE_BUFFER + 4097,
        ] {
            let body: Vec<u8> = (0..len).map(|i| (i * 7 % 253) as u8).collect();
            let k = key(&format!("sizes/{len}.raw"));
            // A reader that hands out odd-sized pieces, like the fan-out's.
            let mut pieces = body.chunks(1000).flatten().copied().collect::<Vec<u8>>();
            d.put(&k, &mut pieces.as_slice(), len as u64).unwrap();
            pieces.clear();
            d.read(&k).unwrap().read_to_end(&mut pieces).unwrap();
            assert_eq!(pieces, body, "{len}");
        }
    }

    #[test]
    fn missing_marker_is_not_mounted_and_wrong_marker_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        assert!(matches!(
            LocalDestination::open("t", dir.path(), "a"),
            Err(DestError::NotMounted { .. })
        ));
        LocalDestination::initialise("t", dir.path(), &marker("b")).unwrap();
        assert!(matches!(
            LocalDestination::open("t", dir.path(), "a"),
            Err(DestError::WrongDestination { .. })
        ));
        // A second initialise adopts the marker already there.
        let adopted = LocalDestination::initialise("t", dir.path(), &marker("c")).unwrap();
        assert_eq!(adopted.id, "b");
    }

    #[test]
    fn one_writer_at_a_time() {
        let dir = tempfile::tempdir().unwrap();
        LocalDestination::initialise("t", dir.path(), &marker("a")).unwrap();
        let _first = LocalDestination::open("t", dir.path(), "a").unwrap();
        assert!(matches!(
            LocalDestination::open("t", dir.path(), "a"),
            Err(DestError::InUse { .. })
        ));
    }

    #[test]
    fn sweep_removes_leftovers_only() {
        let dir = tempfile::tempdir().unwrap();
        LocalDestination::initialise("t", dir.path(), &marker("a")).unwrap();
        let d = LocalDestination::open("t", dir.path(), "a").unwrap();
        d.put(&key("x/keep.jpg"), &mut &b"k"[..], 1).unwrap();
        fs::write(
            dir.path().join("x").join(format!("{PARTIAL_PREFIX}0123")),
            b"junk",
        )
        .unwrap();
        assert_eq!(d.list(None).unwrap().len(), 1, "partials are never listed");
        assert_eq!(d.sweep_partials(Some(&key("x"))).unwrap(), 1);
        assert!(dir.path().join("x/keep.jpg").exists());
    }
}
