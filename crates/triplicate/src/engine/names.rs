//! Every name is a file (invariant 10): after a run's copies, each other library name
//! of a content gets a file of its own at the destination.
//!
//! A content with several names (a photo copied into `Selects/`, identical sidecars,
//! empty files) is copied once per destination. Each of its names then gets its own
//! path there, as the layout names it: a hard link to the copy where the store can
//! make one (the same, verified bytes), else a copy of it, read back before it counts.
//! A name whose path is the copy's is recorded as it is. Each is listed in the run's
//! manifest with its library and source path, so that a catalog rebuilt from this one
//! destination knows every name. Existing destinations are completed by the next run.

use std::sync::atomic::Ordering;

use chrono::NaiveDateTime;

use super::fanout::{Placement, TargetError, choose_key, verify_copy};
use super::worker::OpenDest;
use crate::catalog::{CatalogError, Operation};
use crate::destination::layout::LayoutInput;
use crate::destination::{DestError, Linked, Stored, WriteDestination};
use crate::home::Triplicate;
use crate::photo::ContentHash;
use crate::progress::Problem;
use crate::relpath::RelPath;
use crate::scan::metadata::CAPTURE_FORMAT;

/// What completing the names at one destination did.
#[derive(Debug, Default)]
pub(super) struct NamesDone {
    /// Names given a file of their own (linked or copied).
    pub made: u64,
    /// Names that could not be: each also a problem.
    pub failed: Vec<Problem>,
}

/// Gives every name at `od` that lacks one a file of its own.
pub(super) fn complete_names(
    t: &Triplicate,
    od: &OpenDest,
    run: &str,
) -> Result<NamesDone, CatalogError> {
    let mut done = NamesDone::default();
    if od.stopped.load(Ordering::Relaxed) {
        return Ok(done);
    }
    for name in t.catalog.names_missing(&od.config.id)? {
        let first = od.config.layout.render(&LayoutInput {
            captured: NaiveDateTime::parse_from_str(&name.captured, CAPTURE_FORMAT)
                .unwrap_or_default(),
            source: &name.path,
            library: &name.library,
            node: &t.config.node,
            kind: name.kind,
            ingest: None,
        });
        let outcome = if first == name.copy_key {
            Ok((first, Stored::AsGiven))
        } else {
            give_file(
                od.dest.as_ref(),
                &name.copy_key,
                first,
                &name.hash,
                name.size,
            )
        };
        match outcome {
            Ok((key, stored)) => {
                if key != name.copy_key {
                    done.made += 1;
                }
                t.catalog.record_alias(
                    &od.config.id,
                    name.file_id,
                    name.photo_id,
                    &key,
                    stored_hash(&stored),
                    &Operation {
                        run,
                        kind: "name",
                        dest: Some(&od.config.name),
                        photo_id: Some(name.photo_id),
                        path: Some(&key),
                        bytes: None,
                        duration_ms: None,
                        outcome: "verified",
                        message: None,
                    },
                )?;
            }
            Err(e) => {
                let stops = matches!(&e, TargetError::Dest(d) if d.stops_destination());
                done.failed.push(Problem {
                    subject: format!("dest:{}", od.config.name),
                    message: format!(
                        "{}:{} has no file of its own at '{}' yet: {e}",
                        name.library, name.path, od.config.name
                    ),
                    class: e.class(),
                });
                if stops {
                    break;
                }
            }
        }
    }
    Ok(done)
}

/// The hash of a name's stored bytes where they are not the photo's own (encrypted).
pub(crate) fn stored_hash(stored: &Stored) -> Option<&ContentHash> {
    match stored {
        Stored::AsGiven => None,
        Stored::Transformed { hash, .. } => Some(hash),
    }
}

/// Links or copies the content's copy at `copy_key` to `first` (or a distinct name
/// when `first` holds other bytes); returns where the name's file is, proven, and how
/// it is stored. Verify's repair of a name's file uses it too.
pub(crate) fn give_file(
    dest: &dyn WriteDestination,
    copy_key: &RelPath,
    first: RelPath,
    hash: &ContentHash,
    size: u64,
) -> Result<(RelPath, Stored), TargetError> {
    let key = match choose_key(dest, first, hash, size)? {
        Placement::AlreadyThere(key, stored) => return Ok((key, stored)),
        Placement::Write(key) => key,
    };
    match dest.link(copy_key, &key, size) {
        Ok(Linked::HardLink) => Ok((key, Stored::AsGiven)),
        Ok(Linked::Copied(stored)) => {
            verify_copy(dest, &key, hash, stored)?;
            Ok((key, stored))
        }
        Err(DestError::AlreadyExists { .. }) => {
            // Taken meanwhile: by these bytes, or by others.
            match choose_key(dest, key, hash, size)? {
                Placement::AlreadyThere(key, stored) => Ok((key, stored)),
                Placement::Write(_) => Err(TargetError::Dest(DestError::AlreadyExists {
                    dest: dest.name().into(),
                    key: copy_key.clone(),
                })),
            }
        }
        Err(e) => Err(e.into()),
    }
}
