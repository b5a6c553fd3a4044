//! Physical devices: which disk, filesystem or store a library or a copy lives on.
//!
//! Two copies on one device die together, so 3-2-1 coverage counts devices, not
//! folders ([`crate::policy`]). A [`DeviceId`] names one:
//!
//! - a local path: the filesystem holding it. When the filesystem sits on a block
//!   device (a disk partition, a loop-mounted image, a card read through FUSE), the
//!   id is that block device's filesystem UUID where the system reports one
//!   (`/dev/disk/by-uuid`), so a disk is recognised across reboots, else its device
//!   number. Other filesystems (tmpfs, overlay) are known by the device number the
//!   kernel gives the mount.
//! - a remote store: its endpoint, with the bucket for S3 (two prefixes of one bucket
//!   are one device), or the server for SFTP and WebDAV.
//!
//! Nothing here needs privileges: it reads `/proc/self/mountinfo` and stats paths.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

/// The device a copy or a library lives on, as the catalog remembers it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DeviceId(pub String);

impl std::fmt::Display for DeviceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A device with a description a person recognises.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Device {
    pub id: DeviceId,
    /// "/dev/sdb1 (ext4, mounted at /media/usb)", "s3 http://127.0.0.1:3900 bucket photos".
    pub label: String,
}

/// One line of `/proc/self/mountinfo`.
#[derive(Debug, Clone)]
struct Mount {
    dev: (u32, u32),
    mount_point: PathBuf,
    fs_type: String,
    source: String,
}

/// The mounts, in the order the kernel lists them (later mounts over earlier ones).
fn mounts() -> Vec<Mount> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    text.lines().filter_map(parse_mountinfo_line).collect()
}

/// `36 35 98:0 /mnt1 /mnt/parent rw,noatime master:1 - ext3 /dev/root rw,errors=continue`
fn parse_mountinfo_line(line: &str) -> Option<Mount> {
    let (before, after) = line.split_once(" - ")?;
    let fields: Vec<&str> = before.split(' ').collect();
    let (major, minor) = fields.get(2)?.split_once(':')?;
    let mut rest = after.split(' ');
    let fs_type = rest.next()?.to_string();
    let source = unescape(rest.next().unwrap_or(""));
    Some(Mount {
        dev: (major.parse().ok()?, minor.parse().ok()?),
        mount_point: PathBuf::from(unescape(fields.get(4)?)),
        fs_type,
        source,
    })
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\'
            && i + 3 < bytes.len()
            && let Some(v) = std::str::from_utf8(&bytes[i + 1..i + 4])
                .ok()
                .and_then(|o| u8::from_str_radix(o, 8).ok())
        {
            out.push(v);
            i += 4;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Where udev lists filesystems by UUID, as links to their devices.
const BY_UUID: &str = "/dev/disk/by-uuid";

/// The filesystem UUID of the device `dev` (major, minor), where the system lists one
/// under `by_uuid` ([`BY_UUID`]).
fn uuid_of_block(by_uuid: &Path, dev: (u32, u32)) -> Option<String> {
    let entries = std::fs::read_dir(by_uuid).ok()?;
    for entry in entries.flatten() {
        let Ok(meta) = std::fs::metadata(entry.path()) else {
            continue;
        };
        let rdev = meta.rdev();
        if (rustix::fs::major(rdev), rustix::fs::minor(rdev)) == dev {
            return Some(entry.file_name().to_string_lossy().into_owned());
        }
    }
    None
}

/// The device holding `path` (which must exist).
pub fn of_path(path: &Path) -> std::io::Result<Device> {
    let meta = std::fs::metadata(path)?;
    let dev = (rustix::fs::major(meta.dev()), rustix::fs::minor(meta.dev()));
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    // The mount that holds the path: its device number, or the deepest mount point
    // above it (FUSE and some others report numbers the mount table does not).
    let all = mounts();
    let mount = all
        .iter()
        .rev()
        .filter(|m| m.dev == dev && canonical.starts_with(&m.mount_point))
        .max_by_key(|m| m.mount_point.as_os_str().len())
        .or_else(|| {
            all.iter()
                .rev()
                .filter(|m| canonical.starts_with(&m.mount_point))
                .max_by_key(|m| m.mount_point.as_os_str().len())
        });
    let Some(mount) = mount else {
        return Ok(Device {
            id: DeviceId(format!("dev:{}:{}", dev.0, dev.1)),
            label: format!("device {}:{}", dev.0, dev.1),
        });
    };
    let label = format!(
        "{} ({}, mounted at {})",
        mount.source,
        mount.fs_type,
        mount.mount_point.display()
    );
    // A filesystem on a block device is that device, whoever mounts it and however.
    let block = mount
        .source
        .starts_with("/dev/")
        .then(|| std::fs::metadata(&mount.source).ok())
        .flatten()
        .filter(|m| {
            use std::os::unix::fs::FileTypeExt;
            m.file_type().is_block_device()
        })
        .map(|m| (rustix::fs::major(m.rdev()), rustix::fs::minor(m.rdev())));
    let id = match block {
        Some(b) => match uuid_of_block(Path::new(BY_UUID), b) {
            Some(uuid) => format!("uuid:{uuid}"),
            None => format!("block:{}:{}", b.0, b.1),
        },
        None => format!("dev:{}:{}", dev.0, dev.1),
    };
    Ok(Device {
        id: DeviceId(id),
        label,
    })
}

/// The device of a remote store: its scheme and server, and the bucket for S3.
pub fn of_remote(scheme: &str, server: &str, bucket: Option<&str>) -> Device {
    let (id, label) = match bucket {
        Some(b) => (
            format!("{scheme}://{server}/{b}"),
            format!("{scheme} {server} bucket {b}"),
        ),
        None => (format!("{scheme}://{server}"), format!("{scheme} {server}")),
    };
    Device {
        id: DeviceId(id),
        label,
    }
}

/// Whether `path` is a mount point: the root of a filesystem other than its parent's.
pub fn is_mount_point(path: &Path) -> bool {
    let Ok(meta) = std::fs::metadata(path) else {
        return false;
    };
    let Some(parent) = path.parent() else {
        return true;
    };
    match std::fs::metadata(parent) {
        Ok(p) => p.dev() != meta.dev() || p.ino() == meta.ino(),
        Err(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mountinfo_lines_are_read_with_their_escapes() {
        let m = parse_mountinfo_line(
            "36 35 98:0 /mnt1 /media/my\\040disk rw,noatime master:1 - ext4 /dev/sdb1 rw",
        )
        .unwrap();
        assert_eq!(m.dev, (98, 0));
        assert_eq!(m.mount_point, PathBuf::from("/media/my disk"));
        assert_eq!(
            (m.fs_type.as_str(), m.source.as_str()),
            ("ext4", "/dev/sdb1")
        );
        assert!(parse_mountinfo_line("garbage").is_none());
    }

    #[test]
    fn two_folders_on_one_filesystem_are_one_device() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        std::fs::create_dir(dir.path().join("b")).unwrap();
        let a = of_path(&dir.path().join("a")).unwrap();
        let b = of_path(&dir.path().join("b")).unwrap();
        assert_eq!(a.id, b.id);
        assert!(!is_mount_point(&dir.path().join("a")));
        assert!(is_mount_point(Path::new("/")));
    }

    #[test]
    fn a_filesystem_is_known_by_the_uuid_the_system_lists() {
        // by-uuid holds links to device nodes; /dev/null (1:3) stands in for a disk.
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/dev/null", dir.path().join("2f1c-77ab")).unwrap();
        assert_eq!(
            uuid_of_block(dir.path(), (1, 3)).as_deref(),
            Some("2f1c-77ab")
        );
        assert_eq!(uuid_of_block(dir.path(), (8, 17)), None);
        assert_eq!(uuid_of_block(&dir.path().join("none"), (1, 3)), None);
    }

    #[test]
    fn remote_stores_are_one_device_per_bucket() {
        let a = of_remote("s3", "127.0.0.1:3900", Some("photos"));
        let b = of_remote("s3", "127.0.0.1:3900", Some("photos"));
        let c = of_remote("s3", "127.0.0.1:3900", Some("other"));
        assert_eq!(a.id, b.id);
        assert_ne!(a.id, c.id);
    }
}
