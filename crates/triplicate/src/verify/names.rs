//! Verifying the files of a content's other names (invariant 10), and making them again.
//!
//! A content with several library names is copied once per destination; each other
//! name has a file of its own there: a hard link to the copy, or a copy of it (on
//! S3, on exFAT, on an encrypted destination). Such a file is read back like a copy:
//! a hard link costs one more read of the same blocks, and proves the name still leads
//! to them. A name's file that is gone or damaged is reported; with `repair`, whatever
//! is at its key moves aside into `.triplicate/quarantine/<run>/` and the name is
//! linked or copied again from the content's copy, then read back.

use crate::catalog::{CopyRow, NameFile, Operation};
use crate::config::DestinationConfig;
use crate::destination::{self, DestError, ErrorClass, WriteDestination};
use crate::engine::fanout::{TargetError, verify_copy};
use crate::engine::names::{give_file, stored_hash};
use crate::engine::{EngineError, dest_problem};
use crate::home::Triplicate;
use crate::progress::{Event, Problem, Problems, Progress};
use crate::vocab::CopyState;

use super::{Check, DestinationVerifyReport, VerifyOptions, check_copy};

/// The names' files at `d` this run checks: the same sample and age as the copies.
pub(super) fn selected(
    t: &Triplicate,
    d: &DestinationConfig,
    options: &VerifyOptions,
    run: &str,
) -> Result<Vec<NameFile>, EngineError> {
    let now = crate::catalog::now();
    let mut due: Vec<NameFile> = t
        .catalog
        .name_files_at(&d.id)?
        .into_iter()
        .filter(|n| options.due(run, n.photo_id, Some(n.verified_at), now))
        .collect();
    options.keep_oldest(&mut due, |n| (Some(n.verified_at), n.photo_id), |n| n.size);
    Ok(due)
}

/// Reads back each of `names` at `d`; reports the bad ones, and with `repair` makes
/// them again from the content's copy.
#[allow(clippy::too_many_arguments)]
pub(super) fn check(
    t: &Triplicate,
    d: &DestinationConfig,
    options: &VerifyOptions,
    run: &str,
    names: Vec<NameFile>,
    report: &mut DestinationVerifyReport,
    progress: &dyn Progress,
    problems: &mut Problems<'_>,
) -> Result<(), EngineError> {
    let dest = match destination::open_read(d) {
        Ok(dest) => dest,
        Err(e) => {
            problems.report(dest_problem(&d.name, &e.to_string(), e.class()));
            return Ok(());
        }
    };
    let mut bad = Vec::new();
    for name in names {
        let row = CopyRow {
            photo_id: name.photo_id,
            key: name.key.clone(),
            hash: name.hash,
            size: name.size,
            state: CopyState::Verified,
            verified_at: Some(name.verified_at),
            stored_hash: name.stored_hash,
        };
        let why = match check_copy(dest.as_ref(), &row, options.decrypt, None, progress) {
            Check::Good => None,
            Check::Missing => Some("is missing".to_string()),
            Check::Corrupt { found, .. } => {
                Some(format!("is damaged: it hashes to {}", found.short()))
            }
            Check::Damaged(why) => Some(format!("is damaged: {why}")),
            Check::Unreadable(e) if e.stops_destination() => {
                problems.report(dest_problem(&d.name, &e.to_string(), e.class()));
                return Ok(());
            }
            Check::Unreadable(e) => Some(format!("could not be read: {e}")),
        };
        report.names_checked += 1;
        progress.event(&Event::WorkDone {
            dest: &d.name,
            ok: why.is_none(),
        });
        match why {
            None => t.catalog.record_name_checked(&d.id, name.file_id)?,
            Some(why) => {
                report.names_bad += 1;
                bad.push((name, why));
            }
        }
    }
    if !bad.is_empty() {
        settle_bad(t, d, options.repair, run, bad, report, problems)?;
    }
    Ok(())
}

/// The files of other names found missing or damaged: each made again from the copy
/// with `repair`, or reported with what to run.
fn settle_bad(
    t: &Triplicate,
    d: &DestinationConfig,
    repair: bool,
    run: &str,
    bad: Vec<(NameFile, String)>,
    report: &mut DestinationVerifyReport,
    problems: &mut Problems<'_>,
) -> Result<(), EngineError> {
    let writable = if repair {
        match destination::open(d) {
            Ok(w) => Some(w),
            Err(e) => {
                problems.report(dest_problem(
                    &d.name,
                    &format!("cannot repair: {e}"),
                    e.class(),
                ));
                None
            }
        }
    } else {
        None
    };
    for (n, (name, why)) in bad.into_iter().enumerate() {
        let what = format!(
            "destination '{}': {}, the file of {}:{},",
            d.name, name.key, name.library, name.path
        );
        let Some(dest) = &writable else {
            problems.report(Problem {
                subject: format!("dest:{}", d.name),
                message: format!(
                    "{what} {why}; run `triplicate verify --dest {} --repair` to make it again from the copy",
                    d.name
                ),
                class: ErrorClass::Permanent,
            });
            continue;
        };
        match make_again(dest.as_ref(), &name, &format!("{run}-name-{n}")) {
            Ok((key, stored)) => {
                report.names_repaired += 1;
                let message = format!("{why}; made again from {}", name.copy_key);
                t.catalog.record_alias(
                    &d.id,
                    name.file_id,
                    name.photo_id,
                    &key,
                    stored_hash(&stored),
                    &Operation {
                        run,
                        kind: "repair",
                        dest: Some(&d.name),
                        photo_id: Some(name.photo_id),
                        path: Some(&key),
                        bytes: Some(name.size),
                        duration_ms: None,
                        outcome: "repaired",
                        message: Some(&message),
                    },
                )?;
            }
            Err(e) => problems.report(Problem {
                subject: format!("dest:{}", d.name),
                message: format!("{what} {why}, and could not be made again: {e}"),
                class: e.class(),
            }),
        }
    }
    Ok(())
}

/// Moves whatever is at the name's key aside, then links or copies the content's copy
/// there again and reads it back.
fn make_again(
    dest: &dyn WriteDestination,
    name: &NameFile,
    aside_run: &str,
) -> Result<(crate::relpath::RelPath, destination::Stored), TargetError> {
    match dest.stat(&name.key) {
        Ok(Some(_)) | Err(DestError::Decrypt { .. } | DestError::NotAFile { .. }) => {
            let aside = destination::layout::quarantine_key(aside_run, &name.key);
            dest.rename(&name.key, &aside)?;
        }
        Ok(None) => {}
        Err(e) => return Err(e.into()),
    }
    let (key, stored) = give_file(
        dest,
        &name.copy_key,
        name.key.clone(),
        &name.hash,
        name.size,
    )?;
    // A hard link is only as good as the copy it shares blocks with.
    verify_copy(dest, &key, &name.hash, stored)?;
    Ok((key, stored))
}
