//! Walking a library folder: every regular file, with its size, mtime and inode.
//!
//! A small walker on `openat`/`getdents`/`fstatat` rather than a path-based one: each
//! file is statted relative to its open folder, and folders are read in parallel, which
//! keeps a rescan of 100,000 unchanged files cheap. Symlinks are never followed (neither to files nor to
//! folders), and `.triplicate` folders are skipped, as is the ASC MHL history that card
//! ingest keeps at the library's root (`ascmhl/`). Paths come out as byte-exact
//! [`RelPath`]s.

use std::ffi::OsStr;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rustix::fs::{AtFlags, Dir, FileType, Mode, OFlags, openat, statat};

use crate::relpath::RelPath;

/// A regular file found by the walk.
pub struct WalkEntry {
    pub path: RelPath,
    pub size: u64,
    pub mtime_ns: i64,
    pub inode: u64,
}

/// A folder or file the walk could not read.
pub struct WalkError {
    pub path: PathBuf,
    pub error: std::io::Error,
    /// A folder that could not be listed (else a file that could not be statted).
    pub is_dir: bool,
}

/// Every regular file under `root` whose name `want` accepts, and every entry that
/// could not be read. Folders are read in parallel.
pub fn walk(
    root: &Path,
    want: &(dyn Fn(&[u8]) -> bool + Sync),
) -> (Vec<WalkEntry>, Vec<WalkError>) {
    let found = Mutex::new((Vec::new(), Vec::new()));
    rayon::scope(|s| read_folder(s, root, Vec::new(), want, &found));
    found.into_inner().unwrap_or_else(|p| p.into_inner())
}

type Found = Mutex<(Vec<WalkEntry>, Vec<WalkError>)>;

/// Reads one folder (`rel` under `root`, empty for root itself) and spawns a task for
/// each subfolder.
fn read_folder<'s>(
    scope: &rayon::Scope<'s>,
    root: &'s Path,
    rel: Vec<u8>,
    want: &'s (dyn Fn(&[u8]) -> bool + Sync),
    found: &'s Found,
) {
    let mut files = Vec::new();
    let mut errors = Vec::new();
    let dir_path = if rel.is_empty() {
        root.to_path_buf()
    } else {
        root.join(OsStr::from_bytes(&rel))
    };
    let folder_error = |error: std::io::Error| WalkError {
        path: dir_path.clone(),
        error,
        is_dir: true,
    };
    let opened = openat(
        rustix::fs::CWD,
        &dir_path,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .and_then(|fd: OwnedFd| Dir::read_from(&fd).map(|dir| (fd, dir)));
    match opened {
        Err(e) => errors.push(folder_error(e.into())),
        Ok((fd, dir)) => {
            for entry in dir {
                let entry = match entry {
                    Ok(e) => e,
                    Err(e) => {
                        errors.push(folder_error(e.into()));
                        break;
                    }
                };
                match read_entry(&fd, &dir_path, &rel, &entry, want) {
                    Child::Folder(sub) => {
                        scope.spawn(move |s| read_folder(s, root, sub, want, found))
                    }
                    Child::File(file) => files.push(file),
                    Child::Failed(error) => errors.push(error),
                    Child::Skipped => {}
                }
            }
        }
    }
    let mut all = found.lock().unwrap_or_else(|p| p.into_inner());
    all.0.extend(files);
    all.1.extend(errors);
}

/// What one entry of a folder is to the walk.
enum Child {
    /// A folder to walk, by its path from the root.
    Folder(Vec<u8>),
    File(WalkEntry),
    Failed(WalkError),
    /// Not wanted: not a regular file, not a photo, Triplicate's own, or gone.
    Skipped,
}

/// Looks at one entry of the folder `rel` (open as `fd`): the listing's type is
/// trusted where it is given, and the file is stat'ed (without following links) only
/// when it is wanted or its type is unknown.
fn read_entry(
    fd: &OwnedFd,
    dir_path: &Path,
    rel: &[u8],
    entry: &rustix::fs::DirEntry,
    want: &(dyn Fn(&[u8]) -> bool + Sync),
) -> Child {
    let name = entry.file_name().to_bytes();
    if name == b"." || name == b".." {
        return Child::Skipped;
    }
    let child = || {
        let mut c = rel.to_vec();
        if !c.is_empty() {
            c.push(b'/');
        }
        c.extend_from_slice(name);
        c
    };
    let listed = entry.file_type();
    let is_folder = |kind| {
        kind == FileType::Directory
            && name != crate::destination::META_DIR.as_bytes()
            && !(rel.is_empty() && name == crate::vocab::MHL_FOLDER.as_bytes())
    };
    if is_folder(listed) {
        return Child::Folder(child());
    }
    if !(listed == FileType::RegularFile || listed == FileType::Unknown) || !want(name) {
        return Child::Skipped;
    }
    let stat = match statat(fd, entry.file_name(), AtFlags::SYMLINK_NOFOLLOW) {
        Ok(s) => s,
        // Deleted between listing and stat: it is simply not there.
        Err(rustix::io::Errno::NOENT) => return Child::Skipped,
        Err(e) => {
            return Child::Failed(WalkError {
                path: dir_path.join(OsStr::from_bytes(name)),
                error: e.into(),
                is_dir: false,
            });
        }
    };
    let kind = FileType::from_raw_mode(stat.st_mode);
    if listed == FileType::Unknown && is_folder(kind) {
        return Child::Folder(child());
    }
    if kind != FileType::RegularFile {
        return Child::Skipped;
    }
    let Ok(path) = RelPath::new(child()) else {
        return Child::Skipped;
    };
    Child::File(WalkEntry {
        path,
        size: stat.st_size as u64,
        mtime_ns: stat.st_mtime * 1_000_000_000 + stat.st_mtime_nsec as i64,
        inode: stat.st_ino,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_files_skips_links_and_meta_folders() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::create_dir_all(root.join(".triplicate")).unwrap();
        std::fs::write(root.join("a/b/x.jpg"), b"12345").unwrap();
        std::fs::write(root.join("top.jpg"), b"1").unwrap();
        std::fs::write(root.join("skip.txt"), b"1").unwrap();
        std::fs::write(root.join(".triplicate/m.jpg"), b"1").unwrap();
        std::os::unix::fs::symlink(root.join("a"), root.join("link-dir")).unwrap();
        std::os::unix::fs::symlink(root.join("top.jpg"), root.join("link.jpg")).unwrap();
        let (files, errors) = walk(root, &|n| n.ends_with(b".jpg"));
        assert!(errors.is_empty());
        let mut found: Vec<_> = files
            .into_iter()
            .map(|e| (e.path.to_string(), e.size))
            .collect();
        found.sort();
        assert_eq!(
            found,
            vec![("a/b/x.jpg".to_string(), 5), ("top.jpg".to_string(), 1)]
        );
    }
}
