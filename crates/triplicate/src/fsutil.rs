//! Small filesystem helpers the other modules share: durable writes, uncached reads,
//! free space, and the filesystem type.

use std::fs::File;
use std::io;
use std::path::Path;

/// fsyncs a directory, so that a rename or a new entry in it survives a crash.
pub fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

/// Asks the kernel to drop the cached pages of `file`, so that the next read comes
/// from the device. The pages must be clean (fsync first) to be dropped.
pub fn drop_cache(file: &File) -> io::Result<()> {
    rustix::fs::fadvise(file, 0, None, rustix::fs::Advice::DontNeed).map_err(io::Error::from)
}

/// Space on the filesystem holding `path`.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub struct Space {
    pub total: u64,
    pub free: u64,
    pub read_only: bool,
}

/// Whether users other than the owner may read `path` (a key or credentials file).
pub fn readable_by_others(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|m| m.permissions().mode() & 0o044 != 0)
}

pub fn space(path: &Path) -> io::Result<Space> {
    let s = rustix::fs::statvfs(path).map_err(io::Error::from)?;
    Ok(space_from(s))
}

/// Space on the filesystem holding the open file or folder `fd`.
pub fn space_of(fd: impl std::os::fd::AsFd) -> io::Result<Space> {
    let s = rustix::fs::fstatvfs(fd).map_err(io::Error::from)?;
    Ok(space_from(s))
}

fn space_from(s: rustix::fs::StatVfs) -> Space {
    Space {
        total: s.f_blocks * s.f_frsize,
        free: s.f_bavail * s.f_frsize,
        read_only: s.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY),
    }
}

/// The name of a network filesystem holding `path`, if it is on one.
pub fn network_filesystem(path: &Path) -> io::Result<Option<&'static str>> {
    let s = rustix::fs::statfs(path).map_err(io::Error::from)?;
    #[allow(clippy::unnecessary_cast)]
    Ok(network_filesystem_name(s.f_type as i64))
}

/// The network filesystem with statfs magic number `magic`, if it is one.
/// Magic numbers from linux/magic.h and the filesystems' own sources.
fn network_filesystem_name(magic: i64) -> Option<&'static str> {
    let name = match magic {
        0x6969 => "NFS",
        0x517B => "SMB",
        0xFF53_4D42 => "CIFS",
        0xFE53_4D42 => "SMB2",
        0x00C3_6400 => "Ceph",
        0x5346_414F => "AFS",
        0x0102_1997 => "9P",
        0x0BD0_0BD0 => "Lustre",
        _ => return None,
    };
    Some(name)
}

/// What went wrong reading a file, in a few words a photographer can act on.
pub fn read_error_reason(e: &std::io::Error) -> String {
    match e.kind() {
        std::io::ErrorKind::PermissionDenied => "permission denied".into(),
        std::io::ErrorKind::NotFound => "it vanished while it was being read".into(),
        _ if e.raw_os_error() == Some(rustix::io::Errno::IO.raw_os_error()) => {
            "input/output error (the disk may be failing)".into()
        }
        _ => e.to_string(),
    }
}

/// ENOSPC or EDQUOT: the disk (or the user's quota on it) is full.
pub fn is_no_space(e: &io::Error) -> bool {
    let code = e.raw_os_error();
    code == Some(rustix::io::Errno::NOSPC.raw_os_error())
        || code == Some(rustix::io::Errno::DQUOT.raw_os_error())
}

pub fn is_read_only(e: &io::Error) -> bool {
    e.raw_os_error() == Some(rustix::io::Errno::ROFS.raw_os_error())
}

/// Puts the calling thread (and the threads it starts afterwards) in the idle I/O
/// class: its disk I/O waits whenever anything else needs the disk.
pub fn lower_io_priority() -> io::Result<()> {
    const IOPRIO_WHO_PROCESS: libc::c_long = 1;
    const IOPRIO_CLASS_IDLE: libc::c_long = 3;
    // SAFETY: ioprio_set takes three integers and touches no memory of ours.
    let r = unsafe {
        libc::syscall(
            libc::SYS_ioprio_set,
            IOPRIO_WHO_PROCESS,
            0 as libc::c_long,
            IOPRIO_CLASS_IDLE << 13,
        )
    };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The I/O scheduling class of the calling thread (0 none, 1 realtime, 2 best effort, 3 idle).
pub fn io_priority_class() -> io::Result<i64> {
    // SAFETY: as above.
    let r = unsafe { libc::syscall(libc::SYS_ioprio_get, 1 as libc::c_long, 0 as libc::c_long) };
    if r < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok((r >> 13) as i64)
    }
}

/// Alignment that O_DIRECT needs for buffers, offsets and lengths on every common
/// device (logical blocks are 512 or 4096 bytes).
pub const DIRECT_ALIGN: usize = 4096;

/// A zeroed heap buffer aligned for O_DIRECT.
pub struct AlignedBuf {
    ptr: std::ptr::NonNull<u8>,
    len: usize,
}

// SAFETY: AlignedBuf owns its allocation exclusively, like a Vec<u8>.
unsafe impl Send for AlignedBuf {}

impl AlignedBuf {
    /// `len` bytes, rounded up to a multiple of [`DIRECT_ALIGN`].
    pub fn new(len: usize) -> AlignedBuf {
        let len = len.max(1).next_multiple_of(DIRECT_ALIGN);
        let layout = std::alloc::Layout::from_size_align(len, DIRECT_ALIGN).expect("valid layout");
        // SAFETY: the layout has a non-zero size.
        let raw = unsafe { std::alloc::alloc_zeroed(layout) };
        let ptr =
            std::ptr::NonNull::new(raw).unwrap_or_else(|| std::alloc::handle_alloc_error(layout));
        AlignedBuf { ptr, len }
    }
}

impl std::ops::Deref for AlignedBuf {
    type Target = [u8];
    fn deref(&self) -> &[u8] {
        // SAFETY: ptr is valid for len initialised (zeroed) bytes for our lifetime.
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }
}

impl std::ops::DerefMut for AlignedBuf {
    fn deref_mut(&mut self) -> &mut [u8] {
        // SAFETY: as above, and &mut self gives exclusive access.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for AlignedBuf {
    fn drop(&mut self) {
        let layout =
            std::alloc::Layout::from_size_align(self.len, DIRECT_ALIGN).expect("valid layout");
        // SAFETY: allocated in `new` with this very layout.
        unsafe { std::alloc::dealloc(self.ptr.as_ptr(), layout) }
    }
}

/// Turns O_DIRECT on or off for an open file.
pub fn set_direct(file: &File, on: bool) -> io::Result<()> {
    use rustix::fs::OFlags;
    let mut flags = rustix::fs::fcntl_getfl(file)?;
    flags.set(OFlags::DIRECT, on);
    rustix::fs::fcntl_setfl(file, flags)?;
    Ok(())
}

/// Reads a file from the device rather than from the page cache: before the first
/// read its dirty pages are written out and all its cached pages dropped, so every
/// byte read comes from the device; reads then go through the cache with the kernel's
/// sequential readahead (measured here: as fast as `b3sum`, and steadier than
/// synchronous O_DIRECT reads), and the pages are dropped again when the reader is
/// done, so that checking a whole disk does not flood the cache.
pub struct UncachedReader {
    file: File,
}

impl UncachedReader {
    /// Opens the regular file at `path`, and only that: a symlink or a folder in its
    /// place is refused (a copy is a file Triplicate wrote, never what a link points
    /// to).
    pub fn open(path: &Path) -> io::Result<UncachedReader> {
        Self::open_at(rustix::fs::CWD, path)
    }

    /// [`UncachedReader::open`] for `path` beneath the open folder `dir`.
    pub fn open_at(dir: impl std::os::fd::AsFd, path: &Path) -> io::Result<UncachedReader> {
        use rustix::fs::{Mode, OFlags};
        let fd = rustix::fs::openat(
            dir,
            path,
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| {
            if e == rustix::io::Errno::LOOP {
                io::Error::new(
                    io::ErrorKind::InvalidData,
                    "a symbolic link stands where a copy should be",
                )
            } else {
                e.into()
            }
        })?;
        let file = File::from(fd);
        if !file.metadata()?.is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "something other than a file (a folder?) stands where a copy should be",
            ));
        }
        // A read-only descriptor may still flush: dirty pages cannot be dropped.
        let _ = file.sync_data();
        let _ = drop_cache(&file);
        let _ = rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::Sequential);
        Ok(UncachedReader { file })
    }
}

impl io::Read for UncachedReader {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        io::Read::read(&mut self.file, out)
    }
}

impl Drop for UncachedReader {
    fn drop(&mut self) {
        let _ = drop_cache(&self.file);
    }
}

/// Unmounts the filesystem mounted at `path` (a card after ingest), with the system's
/// `umount`.
pub fn unmount(path: &Path) -> std::io::Result<()> {
    let out = std::process::Command::new("umount").arg(path).output()?;
    if out.status.success() {
        Ok(())
    } else {
        Err(std::io::Error::other(
            String::from_utf8_lossy(&out.stderr).trim().to_string(),
        ))
    }
}

/// Replaces `path` with `bytes` atomically, as a file only its owner can read (mode
/// 600): written beside it, synced, renamed over it, and the folder synced. Its folder
/// is made when missing.
pub fn write_private(path: &Path, bytes: &[u8]) -> io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)?;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let tmp = dir.join(format!(".{name}.tmp"));
    let _ = std::fs::remove_file(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    f.write_all(bytes)?;
    f.sync_all()?;
    std::fs::rename(&tmp, path)?;
    sync_dir(dir)
}

#[cfg(test)]
mod tests {

    #[test]
    fn read_errors_are_said_in_a_few_words() {
        let cases = [
            (
                io::Error::from(io::ErrorKind::PermissionDenied),
                "permission denied",
            ),
            (
                io::Error::from(io::ErrorKind::NotFound),
                "it vanished while it was being read",
            ),
            (
                io::Error::from_raw_os_error(rustix::io::Errno::IO.raw_os_error()),
                "input/output error (the disk may be failing)",
            ),
        ];
        for (error, words) in cases {
            assert_eq!(read_error_reason(&error), words);
        }
    }
    use super::*;

    #[test]
    fn network_filesystems_are_recognised() {
        for (magic, name) in [
            (0x6969, Some("NFS")),
            (0xFF53_4D42, Some("CIFS")),
            (0xFE53_4D42, Some("SMB2")),
            (0xEF53, None),
            (0x0102_1994, None),
        ] {
            assert_eq!(network_filesystem_name(magic), name, "{magic:#x}");
        }
        assert_eq!(
            network_filesystem(Path::new("/tmp")).unwrap(),
            None,
            "local disks pass"
        );
    }

    #[test]
    fn uncached_reads_return_exactly_the_file() {
        let dir = tempfile::tempdir().unwrap();
        for len in [0usize, 1, 4095, 4096, 4097, (8 << 20) + 3] {
            let body: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let path = dir.path().join(format!("f{len}"));
            std::fs::write(&path, &body).unwrap();
            let mut back = Vec::new();
            io::Read::read_to_end(&mut UncachedReader::open(&path).unwrap(), &mut back).unwrap();
            assert_eq!(back, body, "{len}");
        }
        let buf = AlignedBuf::new(10);
        assert_eq!(
            (buf.len(), buf.as_ptr() as usize % DIRECT_ALIGN),
            (DIRECT_ALIGN, 0)
        );
    }

    #[test]
    fn io_priority_can_be_lowered_and_is_inherited() {
        std::thread::spawn(|| {
            lower_io_priority().unwrap();
            assert_eq!(io_priority_class().unwrap(), 3);
            let child = std::thread::spawn(|| io_priority_class().unwrap())
                .join()
                .unwrap();
            assert_eq!(child, 3, "threads started afterwards are idle too");
        })
        .join()
        .unwrap();
    }
}
