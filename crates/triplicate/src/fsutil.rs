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

pub fn space(path: &Path) -> io::Result<Space> {
    let s = rustix::fs::statvfs(path).map_err(io::Error::from)?;
    Ok(Space {
        total: s.f_blocks * s.f_frsize,
        free: s.f_bavail * s.f_frsize,
        read_only: s.f_flag.contains(rustix::fs::StatVfsMountFlags::RDONLY),
    })
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

/// ENOSPC or EDQUOT: the disk (or the user's quota on it) is full.
pub fn is_no_space(e: &io::Error) -> bool {
    let code = e.raw_os_error();
    code == Some(rustix::io::Errno::NOSPC.raw_os_error())
        || code == Some(rustix::io::Errno::DQUOT.raw_os_error())
}

pub fn is_read_only(e: &io::Error) -> bool {
    e.raw_os_error() == Some(rustix::io::Errno::ROFS.raw_os_error())
}

#[cfg(test)]
mod tests {
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
}
