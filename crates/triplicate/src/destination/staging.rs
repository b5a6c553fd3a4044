//! Where a local put writes before it publishes: `.triplicate/partial/<session>/`
//! beneath the place's root (a destination, a library that a card is ingested into, a
//! restore target).
//!
//! A temporary file is recognised by where it is, never by its name: a photo may be
//! called anything, `.triplicate-partial-0123.JPG` included, and the library's
//! `.triplicate` folder is never scanned, backed up or restored into. Each writing
//! process has its own session folder and holds an exclusive `flock` on it while it
//! lives. A session folder nobody holds is what a killed run left: the next writer
//! removes it, and only it ([`Staging::sweep`]).

use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use rustix::fs::{AtFlags, Dir, FlockOperation, Mode, OFlags, flock, mkdirat, openat, unlinkat};
use rustix::io::Errno;

use super::META_DIR;

/// The folder, under the root's `.triplicate`, that holds every session.
pub const PARTIAL_DIR: &str = "partial";

/// One process's staging folder, locked while the value lives and removed with it
/// (with the `partial` and `.triplicate` folders above it, where nothing else is in
/// them, so that a restore target is left as it was).
#[derive(Debug)]
pub struct Staging {
    /// The session folder, relative to the root.
    rel: PathBuf,
    /// The session folder, open and locked.
    _fd: OwnedFd,
    /// The root, to remove the session folder from when done.
    root: OwnedFd,
    next: AtomicU64,
}

impl Staging {
    /// `.triplicate/partial`, relative to the root.
    pub fn parent() -> PathBuf {
        Path::new(META_DIR).join(PARTIAL_DIR)
    }

    /// Creates a session folder beneath the open root `root`.
    pub fn create(root: impl AsFd) -> std::io::Result<Staging> {
        let root = root.as_fd();
        loop {
            for folder in [Path::new(META_DIR), &Self::parent()] {
                match mkdirat(root, folder, Mode::from_raw_mode(0o755)) {
                    Ok(()) | Err(Errno::EXIST) => {}
                    Err(e) => return Err(e.into()),
                }
            }
            let session = uuid::Uuid::new_v4().simple().to_string()[..12].to_string();
            let rel = Self::parent().join(session);
            match mkdirat(root, &rel, Mode::from_raw_mode(0o700)) {
                Ok(()) => {}
                // Another writer's sweep removed the empty parents just now.
                Err(Errno::NOENT) => continue,
                Err(e) => return Err(e.into()),
            }
            let fd = openat(
                root,
                &rel,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            match flock(&fd, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => {}
                // A sweeper took it in the instant between mkdir and flock.
                Err(Errno::WOULDBLOCK) => continue,
                // No flock on this filesystem (NFS folders): the session goes unlocked,
                // and sweepers that cannot lock leave it alone.
                Err(_) => {}
            }
            // Swept in that same instant: start again.
            if rustix::fs::fstat(&fd)?.st_nlink == 0 {
                continue;
            }
            return Ok(Staging {
                rel,
                _fd: fd,
                root: root.try_clone_to_owned()?,
                next: AtomicU64::new(0),
            });
        }
    }

    /// A fresh temporary name in this session, relative to the root: short, so that
    /// it fits wherever the final name does.
    pub fn temporary(&self) -> PathBuf {
        self.rel
            .join(self.next.fetch_add(1, Ordering::Relaxed).to_string())
    }

    /// Removes the sessions of writers that are gone from beneath the open root
    /// `root`, and returns how many files they had left. With `exclusive` (the caller
    /// holds the place's write lock, as for a destination) every other session is
    /// gone; otherwise only the sessions nobody holds a lock on.
    pub fn sweep(
        root: impl AsFd,
        own: Option<&Staging>,
        exclusive: bool,
    ) -> std::io::Result<usize> {
        let root = root.as_fd();
        let parent = Self::parent();
        let fd = match openat(
            root,
            &parent,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::NOENT) => return Ok(0),
            Err(e) => return Err(e.into()),
        };
        let own = own
            .and_then(|s| s.rel.file_name())
            .map(|n| n.to_os_string());
        let mut removed = 0;
        for entry in Dir::read_from(&fd)? {
            let entry = entry?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let name = std::ffi::OsStr::from_bytes(name);
            if own.as_deref() == Some(name) {
                continue;
            }
            let session = match openat(
                &fd,
                name,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            ) {
                Ok(s) => s,
                // Not a folder: nothing Triplicate made; left alone.
                Err(Errno::NOTDIR | Errno::LOOP | Errno::NOENT) => continue,
                Err(e) => return Err(e.into()),
            };
            let free = match flock(&session, FlockOperation::NonBlockingLockExclusive) {
                Ok(()) => true,
                Err(Errno::WOULDBLOCK) => false,
                Err(_) => exclusive,
            };
            if !(free || exclusive) {
                continue;
            }
            removed += remove_session(&fd, &session, name)?;
        }
        // Nothing staged any more: leave the place as it was (a restore target).
        remove_empty_parents(root);
        Ok(removed)
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        if unlinkat(&self.root, &self.rel, AtFlags::REMOVEDIR).is_ok() {
            remove_empty_parents(self.root.as_fd());
        }
    }
}

/// Removes `.triplicate/partial`, then `.triplicate`, where they are empty.
fn remove_empty_parents(root: std::os::fd::BorrowedFd<'_>) {
    for folder in [Staging::parent().as_path(), Path::new(META_DIR)] {
        if unlinkat(root, folder, AtFlags::REMOVEDIR).is_err() {
            return;
        }
    }
}

/// Removes the files of the session folder `session` (named `name` in `parent`), then
/// the folder; returns how many files there were.
fn remove_session(
    parent: &OwnedFd,
    session: &OwnedFd,
    name: &std::ffi::OsStr,
) -> std::io::Result<usize> {
    let mut removed = 0;
    for entry in Dir::read_from(session)? {
        let entry = entry?;
        let file = entry.file_name();
        if matches!(file.to_bytes(), b"." | b"..") {
            continue;
        }
        match unlinkat(session, file, AtFlags::empty()) {
            Ok(()) => removed += 1,
            Err(Errno::NOENT) => {}
            Err(e) => return Err(e.into()),
        }
    }
    match unlinkat(parent, name, AtFlags::REMOVEDIR) {
        Ok(()) | Err(Errno::NOENT) => Ok(removed),
        Err(e) => Err(e.into()),
    }
}
