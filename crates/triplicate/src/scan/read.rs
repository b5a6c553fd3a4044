//! Reading one library file: its BLAKE3 and size, made sure it held still while it was
//! read, and its capture time (from its metadata, its group, or its modification time).

use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use super::{Found, group, metadata, problem};
use crate::catalog::{Catalog, ScannedFile};
use crate::config::LibraryConfig;
use crate::destination::ErrorClass;
use crate::photo::{ContentHash, PhotoKind};
use crate::progress::Problem;
use crate::relpath::RelPath;
use crate::zone::Zone;
use metadata::{CAPTURE_FORMAT, CaptureSource};

pub(crate) fn mtime_ns(meta: &std::fs::Metadata) -> i64 {
    meta.mtime() * 1_000_000_000 + meta.mtime_nsec()
}

/// Reads and hashes one file, making sure it held still while it was read.
pub(crate) fn read_file(
    lib: &LibraryConfig,
    path: &RelPath,
    zone: &Zone,
) -> Result<ScannedFile, Problem> {
    read_one(
        lib,
        &Found {
            path: path.clone(),
            kind: PhotoKind::from_name(path.file_name()),
            known: None,
        },
        zone,
    )
    .map_err(|f| f.problem)
}

/// A library file that could not be read: the problem to report, and the reason in a
/// few words, for the verdict ("permission denied").
pub(super) struct Unread {
    pub(super) problem: Problem,
    pub(super) reason: String,
}

pub(super) fn read_one(
    lib: &LibraryConfig,
    found: &Found,
    zone: &Zone,
) -> Result<ScannedFile, Unread> {
    let full = found.path.to_path(&lib.path);
    let fail = |what: String, e: &std::io::Error| Unread {
        problem: file_problem(lib, &found.path, &what),
        reason: crate::fsutil::read_error_reason(e),
    };
    let mut file = File::open(&full).map_err(|e| {
        fail(
            format!(
                "cannot read it: {e}; it has no backup until it can be read: check its permissions (it will be tried again on the next run)"
            ),
            &e,
        )
    })?;
    let before = file
        .metadata()
        .map_err(|e| fail(format!("cannot stat it: {e}"), &e))?;
    let (hash, bytes) = ContentHash::of_reader(&mut file).map_err(|e| {
        fail(
            format!("cannot read it: {e}; it has no backup until it can be read (it will be tried again on the next run)"),
            &e,
        )
    })?;
    let after = file
        .metadata()
        .map_err(|e| fail(format!("cannot stat it: {e}"), &e))?;
    let still_there = std::fs::symlink_metadata(&full).ok();
    let held_still = bytes == before.len()
        && after.len() == before.len()
        && mtime_ns(&after) == mtime_ns(&before)
        && still_there.is_some_and(|m| m.ino() == before.ino() && m.len() == before.len());
    if !held_still {
        let mut problem = file_problem(
            lib,
            &found.path,
            "changed while it was being read (still being written?); it will be backed up on the next run",
        );
        problem.class = ErrorClass::Transient;
        return Err(Unread {
            problem,
            reason: "it changed while it was being read (still being written?)".into(),
        });
    }
    let (captured, from) = capture_time(&full, found.kind, mtime_ns(&before), zone);
    Ok(ScannedFile {
        path: found.path.clone(),
        hash,
        size: bytes,
        mtime_ns: mtime_ns(&before),
        inode: before.ino(),
        captured: captured.format(CAPTURE_FORMAT).to_string(),
        captured_from: from.as_str(),
        kind: found.kind,
    })
}

/// The capture time a file takes from its group: a sidecar its photo's; a photo dated
/// only by its modification time, that of the first other member the metadata dates.
pub(super) fn group_date(
    catalog: &Catalog,
    lib: &LibraryConfig,
    siblings: &group::Siblings,
    f: &Found,
) -> Option<String> {
    if f.kind == PhotoKind::Sidecar {
        let photo = siblings.owner(&f.path)?;
        return catalog.captured_of(&lib.name, photo).ok().flatten();
    }
    siblings.others(&f.path).find_map(|other| {
        let (captured, from) = catalog.dated(&lib.name, other).ok()??;
        let by_metadata =
            from != CaptureSource::Mtime.as_str() && from != CaptureSource::Sibling.as_str();
        by_metadata.then_some(captured)
    })
}

/// When a file was taken: from its own metadata (photos, videos, XMP sidecars), else
/// its modification time.
pub(super) fn capture_time(
    path: &Path,
    kind: PhotoKind,
    mtime_ns: i64,
    zone: &Zone,
) -> (chrono::NaiveDateTime, CaptureSource) {
    if kind != PhotoKind::Other
        && let Some(found) = metadata::read(path, zone).captured
    {
        return found;
    }
    (zone.of_mtime(mtime_ns), CaptureSource::Mtime)
}

fn file_problem(lib: &LibraryConfig, path: &RelPath, what: &str) -> Problem {
    problem(
        format!("{}:{path}", lib.name),
        format!("{} ({}): {what}", path, path.to_path(&lib.path).display()),
        ErrorClass::Permanent,
    )
}
