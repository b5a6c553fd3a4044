//! Real filesystems for tests: a size-limited tmpfs (a device of its own, with a real
//! ENOSPC when full) and exFAT through FUSE on a loop device (case-insensitive, like an
//! SDXC card). Mounting needs root; a test that needs it fails, never skips, without.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Fails (never skips) when a test needs root for real mounts.
pub fn require_root() {
    assert!(
        is_root(),
        "this test mounts real filesystems and must run as root (CI does); run scripts/test as root"
    );
}

/// Whether this process runs as root.
pub fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| {
            s.lines()
                .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// Runs a command and insists on success.
pub fn sh(cmd: &str, args: &[&str]) {
    let out = Command::new(cmd)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{cmd}: {e}"));
    assert!(
        out.status.success(),
        "{cmd} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// A mounted filesystem, unmounted on drop.
pub struct Mount {
    pub path: PathBuf,
    loop_dev: Option<String>,
}

impl Mount {
    /// A size-limited tmpfs: a real ENOSPC when full.
    pub fn tmpfs(path: &Path, size: &str) -> Mount {
        require_root();
        std::fs::create_dir_all(path).unwrap();
        sh(
            "mount",
            &[
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size}"),
                "tmpfs",
                path.to_str().unwrap(),
            ],
        );
        Mount {
            path: path.into(),
            loop_dev: None,
        }
    }

    /// exFAT through FUSE on a loop device: case-insensitive, like an SDXC card.
    pub fn exfat(path: &Path, image: &Path) -> Mount {
        require_root();
        std::fs::create_dir_all(path).unwrap();
        sh("truncate", &["-s", "64M", image.to_str().unwrap()]);
        sh("mkfs.exfat", &[image.to_str().unwrap()]);
        let dev = attach_loop(image);
        sh("mount.exfat-fuse", &[&dev, path.to_str().unwrap()]);
        Mount {
            path: path.into(),
            loop_dev: Some(dev),
        }
    }

    /// ext4 on a loop device over a sparse image of `size` ("512M"): a USB disk that
    /// can be unplugged ([`Mount::unplug_lazily`]) and plugged back with what was
    /// written to it.
    pub fn ext4(path: &Path, image: &Path, size: &str) -> Mount {
        require_root();
        std::fs::create_dir_all(path).unwrap();
        sh("truncate", &["-s", size, image.to_str().unwrap()]);
        sh("mkfs.ext4", &["-q", "-F", image.to_str().unwrap()]);
        let dev = attach_loop(image);
        sh("mount", &[&dev, path.to_str().unwrap()]);
        Mount {
            path: path.into(),
            loop_dev: Some(dev),
        }
    }

    /// The disk goes while it is in use, as when its cable is pulled: detached at
    /// once (`umount --lazy`), leaving the bare mount point, a folder on the system
    /// disk, in its place.
    pub fn unplug_lazily(&self) {
        sh("umount", &["--lazy", self.path.to_str().unwrap()]);
    }

    /// Mounts the loop device again at the same place.
    pub fn plug_back(&self) {
        let dev = self.loop_dev.as_deref().expect("a disk image to plug back");
        sh("mount", &[dev, self.path.to_str().unwrap()]);
    }

    pub fn remount(&self, options: &str) {
        sh(
            "mount",
            &[
                "-o",
                &format!("remount,{options}"),
                self.path.to_str().unwrap(),
            ],
        );
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.path).status();
        if let Some(dev) = &self.loop_dev {
            let _ = Command::new("losetup").args(["-d", dev]).status();
        }
    }
}

/// Attaches `image` to a free loop device; returns the device's path.
fn attach_loop(image: &Path) -> String {
    let out = Command::new("losetup")
        .args(["-f", "--show", image.to_str().unwrap()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "losetup: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}
