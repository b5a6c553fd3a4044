//! Verifying copies, and repairing the bad ones from good ones.
//!
//! [`verify`] re-reads copies from the device (never from the page cache), several at
//! a time, and compares their BLAKE3 hashes with the catalog's. A good copy gets a new
//! verification time; a copy that is gone is marked `missing`, one whose bytes differ
//! `corrupt`. `--sample PCT` checks a random share of the copies (a different share
//! each run) and `--older-than` only those not verified for that long; copies already
//! known to be bad are always checked again.
//!
//! With `repair`, each bad copy is rewritten at its own place from a good source: the
//! library original if it still hashes right, else a verified copy on another
//! destination. The damaged file is first moved aside into
//! `.triplicate/quarantine/<run>/`, never deleted. Every byte written passes through a
//! [`VerifyingReader`], so a source that turns out to be bad too publishes nothing, and
//! the rewritten copy is read back like any other. A photo with no good copy anywhere
//! is reported as unrecoverable and left as it is.
//!
//! An encrypted copy is checked by the hash of its ciphertext, recorded when it was
//! written, so no key is needed; with `decrypt` it is opened and the photo's own hash
//! is checked, which also proves that the key still opens it.
//!
//! A content's other names have files of their own at each destination (invariant
//! 10): those are read back too, and with `repair` made again from the copy
//! ([`names`]).
//!
//! With `library`, the originals are checked too (they are the first of the three
//! copies): a photo whose content changed under an unchanged size and modification
//! time is possible bit rot, held back so that the backups keep the good version.

use std::collections::HashMap;
use std::io::Read;
use std::ops::ControlFlow;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::catalog::RunKind;
use crate::catalog::{CatalogError, CopyRow, NameFile, Operation, Sources};
use crate::config::DestinationConfig;
use crate::destination::{self, DestError, ErrorClass, ReadDestination, Stored, WriteDestination};
use crate::engine::fanout::{TargetError, VerifyingReader, verify_copy};
use crate::engine::{EngineError, dest_problem, select_destinations};
use crate::home::Triplicate;
use crate::photo::{ContentHash, HASH_BUFFER};
use crate::progress::{Event, Problem, Problems, Progress};
use crate::relpath::RelPath;
use crate::run;
use crate::vocab::CopyState;
use crate::vocab::DestState;

mod names;

/// What to verify, and whether to repair.
#[derive(Debug, Clone, Default)]
pub struct VerifyOptions {
    /// Only these destinations (by name); all enabled ones when empty.
    pub destinations: Vec<String>,
    /// Check only this share of the copies, in percent (chosen anew each run).
    pub sample_percent: Option<f64>,
    /// Check only copies last verified longer ago than this.
    pub older_than: Option<Duration>,
    /// Rewrite bad copies from good sources.
    pub repair: bool,
    /// Copies checked at once per destination (default 4).
    pub jobs: Option<usize>,
    /// On encrypted destinations, decrypt each copy and check the photo's own hash
    /// (needs the key); otherwise the ciphertext's hash is checked, which needs none.
    pub decrypt: bool,
    /// Check the library originals too (the same sample).
    pub library: bool,
}

/// What a check of the library originals found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct LibraryVerifyReport {
    pub checked: u64,
    pub ok: u64,
    pub bytes: u64,
    /// Photos whose content changed while size and modification time did not.
    pub bit_rot: u64,
    /// Files changed in the ordinary way, left for the next scan.
    pub changed: u64,
    /// Files that could not be read (gone, or unreadable).
    pub unreadable: u64,
}

/// What verification found at one destination.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DestinationVerifyReport {
    pub name: String,
    /// Ok, or why the destination could not be checked.
    pub state: DestState,
    pub checked: u64,
    pub ok: u64,
    pub missing: u64,
    pub corrupt: u64,
    pub repaired: u64,
    pub unrecoverable: u64,
    pub bytes: u64,
    /// Other names' own files checked (a content's copy is counted once above).
    pub names_checked: u64,
    /// Of those, missing or damaged.
    pub names_bad: u64,
    /// Of those, made again from the copy.
    pub names_repaired: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct VerifyReport {
    pub run: String,
    /// The library originals, when they were checked.
    pub library: Option<LibraryVerifyReport>,
    /// Possible bit rot still held back (found by this run or an earlier one): the run
    /// is not good while any is open.
    pub open_bit_rot: u64,
    pub destinations: Vec<DestinationVerifyReport>,
    pub problems: Vec<Problem>,
    pub seconds: f64,
}

impl VerifyReport {
    /// True when every checked copy is good (or was repaired).
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// One line: how many copies were checked, and what was found.
    pub fn summary(&self) -> String {
        let sum = |f: fn(&DestinationVerifyReport) -> u64| -> u64 {
            self.destinations.iter().map(f).sum()
        };
        let mut parts = vec![format!(
            "{} copies checked, {} good",
            sum(|d| d.checked),
            sum(|d| d.ok)
        )];
        if let Some(l) = &self.library {
            parts.push(format!("{} originals checked, {} good", l.checked, l.ok));
            if l.bit_rot > 0 {
                parts.push(format!("{} possible bit rot", l.bit_rot));
            }
        }
        if self.open_bit_rot > 0 {
            parts.push(format!(
                "{} possible bit rot open (see `triplicate accept-changes --list`)",
                self.open_bit_rot
            ));
        }
        if sum(|d| d.names_checked) > 0 {
            parts.push(format!(
                "{} files of other names checked, {} good",
                sum(|d| d.names_checked),
                sum(|d| d.names_checked - d.names_bad)
            ));
        }
        for (n, what) in [
            (sum(|d| d.names_bad), "names' files missing or damaged"),
            (sum(|d| d.names_repaired), "names' files made again"),
            (sum(|d| d.missing), "missing"),
            (sum(|d| d.corrupt), "corrupt"),
            (sum(|d| d.repaired), "repaired"),
            (sum(|d| d.unrecoverable), "unrecoverable"),
        ] {
            if n > 0 {
                parts.push(format!("{n} {what}"));
            }
        }
        for d in self.destinations.iter().filter(|d| !d.state.is_ok()) {
            parts.push(format!("{}: {}", d.name, d.state));
        }
        parts.join(", ")
    }
}

/// How checking one copy went.
enum Check {
    Good,
    Missing,
    /// Its bytes hash to `found`, not `expected` (the ciphertext's hash for a copy
    /// checked without decrypting).
    Corrupt {
        found: ContentHash,
        expected: ContentHash,
    },
    /// Damaged beyond a hash: an encrypted copy its key does not open, or something
    /// other than a file (a link, a folder) where the copy should be.
    Damaged(String),
    /// The copy could not be read (an I/O error other than "not there").
    Unreadable(DestError),
}

/// Checks (and with `repair`, mends) the copies at each selected destination.
pub fn verify(
    t: &Triplicate,
    options: &VerifyOptions,
    progress: &dyn Progress,
) -> Result<VerifyReport, EngineError> {
    let started = Instant::now();
    let selected = select_destinations(t, &options.destinations, true)?;
    let run = run::new_id();
    run::begin(&t.catalog, &run, RunKind::Verify)?;
    let mut problems = Problems::new(progress);
    let mut reports = Vec::new();
    let library = if options.library {
        Some(verify_originals(t, options, &run, progress, &mut problems)?)
    } else {
        None
    };
    let sources = SourcePool::new(t);
    for d in selected {
        let report = verify_destination(t, d, options, &run, &sources, progress, &mut problems)?;
        reports.push(report);
    }
    // Possible bit rot found earlier and not yet resolved: no verify is good while a
    // library holds a damaged original.
    let open_bit_rot = open_bit_rot(t, &mut problems)?;
    let report = VerifyReport {
        run: run.clone(),
        library,
        open_bit_rot,
        destinations: reports,
        problems: problems.into_vec(),
        seconds: started.elapsed().as_secs_f64(),
    };
    run::finish(&t.catalog, &run, report.ok(), &report)?;
    Ok(report)
}

/// Reports each possible bit rot still held back that this run did not report
/// itself; returns how many are open.
fn open_bit_rot(t: &Triplicate, problems: &mut Problems<'_>) -> Result<u64, EngineError> {
    let held: Vec<_> = t
        .catalog
        .held_changes()?
        .into_iter()
        .filter(|h| h.reason == crate::catalog::HoldReason::BitRot)
        .collect();
    let reported: std::collections::HashSet<String> =
        problems.subjects().map(str::to_string).collect();
    for h in &held {
        let subject = format!("{}:{}", h.library, h.path);
        if reported.contains(&subject) {
            continue;
        }
        problems.report(Problem {
            message: format!(
                "{subject}: possible bit rot, still open: the library holds {} where the backups keep {}; restore the good version (`triplicate restore`) or, if the change is wanted, `triplicate accept-changes {subject}`",
                h.found.short(),
                h.kept.short()
            ),
            subject,
            class: ErrorClass::Permanent,
        });
    }
    Ok(held.len() as u64)
}

/// Re-reads the library originals (the sample of them, with `sample_percent`) and
/// compares them with the catalog. A photo or video whose bytes changed while its size
/// and modification time did not is possible bit rot: held back, so that the backups
/// keep the good version, and reported. Any other change is left for the next scan.
fn verify_originals(
    t: &Triplicate,
    options: &VerifyOptions,
    run: &str,
    progress: &dyn Progress,
    problems: &mut Problems<'_>,
) -> Result<LibraryVerifyReport, EngineError> {
    use rayon::prelude::*;
    const BAR: &str = "library";
    let mut report = LibraryVerifyReport::default();
    for lib in &t.config.libraries {
        if !lib.path.is_dir() {
            problems.report(Problem {
                subject: format!("library:{}", lib.name),
                message: format!(
                    "library '{}' at {} is not there: its originals were not checked",
                    lib.name,
                    lib.path.display()
                ),
                class: ErrorClass::Transient,
            });
            continue;
        }
        let originals: Vec<_> = t
            .catalog
            .originals(&lib.name)?
            .into_iter()
            .filter(|o| {
                options
                    .sample_percent
                    .is_none_or(|pct| in_sample(run, o.photo_id, pct))
            })
            .collect();
        progress.event(&Event::WorkPlanned {
            dest: BAR,
            files: originals.len() as u64,
            bytes: originals.iter().map(|o| o.size).sum(),
        });
        let zone = t.config.scan.zone();
        let found: Vec<_> = originals
            .par_iter()
            .map(|o| {
                let read = crate::scan::read_file(lib, &o.path, &zone);
                progress.event(&Event::WorkBytes {
                    dest: BAR,
                    bytes: o.size,
                });
                progress.event(&Event::WorkDone {
                    dest: BAR,
                    ok: read.as_ref().is_ok_and(|f| f.hash == o.hash),
                });
                read
            })
            .collect();
        for (o, read) in originals.iter().zip(found) {
            report.checked += 1;
            let f = match read {
                Ok(f) => f,
                Err(_) => {
                    // Gone or unreadable: the next scan says which, and why.
                    report.unreadable += 1;
                    continue;
                }
            };
            report.bytes += f.size;
            if f.hash == o.hash {
                report.ok += 1;
                continue;
            }
            let media = matches!(
                f.kind,
                crate::photo::PhotoKind::Raw
                    | crate::photo::PhotoKind::Image
                    | crate::photo::PhotoKind::Video
            );
            if media && f.size == o.size && f.mtime_ns == o.mtime_ns {
                report.bit_rot += 1;
                // The report's problem below says it; the warning stays in status.
                let _ = crate::scan::hold_bit_rot(&t.catalog, lib, &f, Some(&o.hash))?;
                problems.report(Problem {
                    subject: format!("{}:{}", lib.name, o.path),
                    message: format!(
                        "{}:{} changed content but not its size or modification time: possible bit rot; the backups keep the good version ({})",
                        lib.name,
                        o.path,
                        o.hash.short()
                    ),
                    class: ErrorClass::Permanent,
                });
            } else {
                report.changed += 1;
                t.catalog.invalidate_file(&lib.name, &o.path)?;
            }
        }
    }
    Ok(report)
}

/// Whether this copy is in this run's sample: a hash of the run and the photo, so each
/// run picks another share.
fn in_sample(run: &str, photo_id: i64, percent: f64) -> bool {
    let h = blake3::Hasher::new()
        .update(run.as_bytes())
        .update(&photo_id.to_le_bytes())
        .finalize();
    let draw = u16::from_le_bytes([h.as_bytes()[0], h.as_bytes()[1]]) as f64 / 65_536.0;
    draw * 100.0 < percent
}

/// Checks one destination's copies, then its other names' files.
fn verify_destination(
    t: &Triplicate,
    d: &DestinationConfig,
    options: &VerifyOptions,
    run: &str,
    sources: &SourcePool,
    progress: &dyn Progress,
    problems: &mut Problems<'_>,
) -> Result<DestinationVerifyReport, EngineError> {
    let names = names::selected(t, d, options, run)?;
    let mut report = verify_copies(t, d, options, run, sources, &names, progress, problems)?;
    if report.state.is_ok() && !names.is_empty() {
        names::check(t, d, options, run, names, &mut report, progress, problems)?;
    }
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
fn verify_copies(
    t: &Triplicate,
    d: &DestinationConfig,
    options: &VerifyOptions,
    run: &str,
    sources: &SourcePool,
    names: &[NameFile],
    progress: &dyn Progress,
    problems: &mut Problems<'_>,
) -> Result<DestinationVerifyReport, EngineError> {
    let mut report = DestinationVerifyReport {
        name: d.name.clone(),
        state: DestState::Ok,
        ..Default::default()
    };
    let dest = match destination::open_read(d) {
        Ok(dest) => dest,
        Err(e) => {
            report.state = e.state();
            problems.report(dest_problem(&d.name, &e.to_string(), e.class()));
            return Ok(report);
        }
    };
    let now = crate::catalog::now();
    let rows: Vec<CopyRow> = t
        .catalog
        .copies_at(&d.id)?
        .into_iter()
        .filter(|r| {
            let known_bad = r.state != CopyState::Verified;
            let old_enough = match (options.older_than, r.verified_at) {
                (None, _) | (_, None) => true,
                (Some(age), Some(at)) => now - at >= age.as_secs() as i64,
            };
            let sampled = options
                .sample_percent
                .is_none_or(|p| in_sample(run, r.photo_id, p));
            known_bad || (old_enough && sampled)
        })
        .collect();
    progress.event(&Event::WorkPlanned {
        dest: &d.name,
        files: (rows.len() + names.len()) as u64,
        bytes: rows.iter().map(|r| r.size).sum::<u64>() + names.iter().map(|n| n.size).sum::<u64>(),
    });

    // Check, several copies at once.
    let bad: Mutex<Vec<(CopyRow, CopyState)>> = Mutex::new(Vec::new());
    let found: Mutex<Vec<Problem>> = Mutex::new(Vec::new());
    let counts = [(); 5].map(|_| AtomicU64::new(0)); // checked, ok, missing, corrupt, bytes
    let catalog_error: Mutex<Option<CatalogError>> = Mutex::new(None);
    // An error that puts the whole destination out of action (unplugged, no key):
    // checking stops, and it is reported once.
    let stopped: Mutex<Option<(String, ErrorClass, DestState)>> = Mutex::new(None);
    crate::parallel::for_each(options.jobs.unwrap_or(4), rows.into_iter(), |row| {
        let check = check_copy(dest.as_ref(), &row, options.decrypt, progress);
        counts[0].fetch_add(1, Ordering::Relaxed);
        let (state, message) = match &check {
            Check::Good => {
                counts[1].fetch_add(1, Ordering::Relaxed);
                counts[4].fetch_add(row.size, Ordering::Relaxed);
                (CopyState::Verified, None)
            }
            Check::Missing => {
                counts[2].fetch_add(1, Ordering::Relaxed);
                (
                    CopyState::Missing,
                    Some(format!("destination '{}': {} is missing", d.name, row.key)),
                )
            }
            Check::Corrupt { found, expected } => {
                counts[3].fetch_add(1, Ordering::Relaxed);
                counts[4].fetch_add(row.size, Ordering::Relaxed);
                (
                    CopyState::Corrupt,
                    Some(format!(
                        "destination '{}': {} is damaged: it hashes to {}, not {}",
                        d.name,
                        row.key,
                        found.short(),
                        expected.short()
                    )),
                )
            }
            Check::Damaged(why) => {
                counts[3].fetch_add(1, Ordering::Relaxed);
                (
                    CopyState::Corrupt,
                    Some(format!(
                        "destination '{}': {} is damaged: {why}",
                        d.name, row.key
                    )),
                )
            }
            Check::Unreadable(e) if e.stops_destination() => {
                counts[0].fetch_sub(1, Ordering::Relaxed);
                stopped
                    .lock()
                    .unwrap()
                    .get_or_insert((e.to_string(), e.class(), e.state()));
                return ControlFlow::Break(());
            }
            Check::Unreadable(e) => {
                found
                    .lock()
                    .unwrap()
                    .push(dest_problem(&d.name, &e.to_string(), e.class()));
                progress.event(&Event::WorkDone {
                    dest: &d.name,
                    ok: false,
                });
                return ControlFlow::Continue(());
            }
        };
        let op = Operation {
            run,
            kind: "verify",
            dest: Some(&d.name),
            photo_id: Some(row.photo_id),
            path: Some(&row.key),
            bytes: Some(row.size),
            duration_ms: None,
            outcome: state.as_str(),
            message: message.as_deref(),
        };
        if let Err(e) =
            t.catalog
                .record_copy_checked(row.photo_id, &d.id, state, message.as_deref(), &op)
        {
            catalog_error.lock().unwrap().get_or_insert(e);
        }
        progress.event(&Event::WorkDone {
            dest: &d.name,
            ok: message.is_none(),
        });
        if message.is_some() {
            bad.lock().unwrap().push((row, state));
        }
        ControlFlow::Continue(())
    });
    if let Some(e) = catalog_error.into_inner().unwrap() {
        return Err(e.into());
    }
    for p in found.into_inner().unwrap() {
        problems.report(p);
    }
    if let Some((message, class, state)) = stopped.into_inner().unwrap() {
        report.state = state;
        problems.report(dest_problem(&d.name, &message, class));
    }
    let [checked, ok, missing, corrupt, bytes] = counts.map(|c| c.into_inner());
    report.checked = checked;
    report.ok = ok;
    report.missing = missing;
    report.corrupt = corrupt;
    report.bytes = bytes;
    let mut bad = bad.into_inner().unwrap();
    bad.sort_by(|a, b| a.0.key.cmp(&b.0.key));
    if bad.is_empty() {
        if options.repair && report.state.is_ok() {
            // Opened for writing all the same: that removes what a killed repair left.
            let _ = destination::open(d);
        }
        return Ok(report);
    }

    if !options.repair {
        for (row, state) in &bad {
            let what = if *state == CopyState::Missing {
                "missing"
            } else {
                "damaged"
            };
            problems.report(Problem {
                    subject: format!("dest:{}", d.name),
                    message: format!(
                        "destination '{}': {} is {what}; run `triplicate verify --dest {} --repair` to rewrite it from a good copy",
                        d.name, row.key, d.name
                    ),
                    class: ErrorClass::Permanent,
                });
        }
        return Ok(report);
    }

    // Repair, one copy at a time: it is rare, and each may try several sources.
    let writable = match destination::open(d) {
        Ok(w) => w,
        Err(e) => {
            problems.report(dest_problem(
                &d.name,
                &format!("cannot repair: {e}"),
                e.class(),
            ));
            return Ok(report);
        }
    };
    for (attempt, (row, _)) in bad.iter().enumerate() {
        match repair_copy(t, writable.as_ref(), d, row, sources, run, attempt) {
            Ok((from, stored)) => {
                report.repaired += 1;
                let message = format!("rewritten from {from}");
                t.catalog.record_copy_rewritten(
                    row.photo_id,
                    &d.id,
                    stored,
                    &Operation {
                        run,
                        kind: "repair",
                        dest: Some(&d.name),
                        photo_id: Some(row.photo_id),
                        path: Some(&row.key),
                        bytes: Some(row.size),
                        duration_ms: None,
                        outcome: "repaired",
                        message: Some(&message),
                    },
                )?;
            }
            Err(why) => {
                report.unrecoverable += 1;
                problems.report(Problem {
                    subject: format!("dest:{}", d.name),
                    message: format!(
                        "destination '{}': {} is unrecoverable: {why}",
                        d.name, row.key
                    ),
                    class: ErrorClass::Permanent,
                });
            }
        }
    }
    Ok(report)
}

/// Reads a copy from the device and compares its hash: the photo's, or, for a copy
/// stored encrypted and unless asked to `decrypt`, the ciphertext's.
fn check_copy(
    dest: &dyn ReadDestination,
    row: &CopyRow,
    decrypt: bool,
    progress: &dyn Progress,
) -> Check {
    let (opened, expected) = match row.stored_hash {
        Some(stored) if !decrypt => (dest.read_stored(&row.key), stored),
        _ => (dest.read(&row.key), row.hash),
    };
    let mut reader = match opened {
        Ok(r) => r,
        Err(DestError::NotFound { .. }) => return Check::Missing,
        Err(DestError::Decrypt { message, .. }) => return Check::Damaged(message),
        Err(DestError::NotAFile { what, .. }) => return Check::Damaged(what),
        Err(e) => return Check::Unreadable(e),
    };
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; HASH_BUFFER];
    loop {
        match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => {
                hasher.update(&buf[..n]);
                progress.event(&Event::WorkBytes {
                    dest: dest.name(),
                    bytes: n as u64,
                });
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            // age's authentication of a chunk failed: the ciphertext was altered.
            Err(e) if row.stored_hash.is_some() && e.kind() == std::io::ErrorKind::InvalidData => {
                return Check::Damaged(e.to_string());
            }
            Err(e) => {
                return Check::Unreadable(DestError::Io {
                    dest: dest.name().into(),
                    op: "read",
                    path: row.key.to_string().into(),
                    source: e,
                });
            }
        }
    }
    let found = ContentHash(*hasher.finalize().as_bytes());
    if found == expected {
        Check::Good
    } else {
        Check::Corrupt { found, expected }
    }
}

/// Opens one candidate source of good bytes.
type OpenSource = Box<dyn FnOnce() -> Result<Box<dyn Read + Send>, String>>;

/// Rewrites one bad copy at its own key from the first good source; returns which, and
/// how the new copy is stored.
fn repair_copy(
    t: &Triplicate,
    dest: &dyn WriteDestination,
    d: &DestinationConfig,
    row: &CopyRow,
    sources: &SourcePool,
    run: &str,
    attempt: usize,
) -> Result<(String, Stored), String> {
    let Sources { names, copies } = t
        .catalog
        .sources_of(row.photo_id)
        .map_err(|e| e.to_string())?;
    let mut tried = Vec::new();
    let mut candidates: Vec<(String, OpenSource)> = Vec::new();
    for (library, path) in names {
        if let Some(lib) = t.config.library(&library) {
            let full = path.to_path(&lib.path);
            candidates.push((
                format!("the library original {library}:{path}"),
                Box::new(move || {
                    std::fs::File::open(&full)
                        .map(|f| Box::new(f) as Box<dyn Read + Send>)
                        .map_err(|e| format!("{}: {e}", full.display()))
                }),
            ));
        }
    }
    for (dest_id, key) in copies {
        if dest_id == d.id {
            continue;
        }
        let Some(other) = sources.get(&dest_id) else {
            continue;
        };
        candidates.push((
            format!("destination '{}' ({key})", other.name()),
            Box::new(move || other.read(&key).map_err(|e| e.to_string())),
        ));
    }
    if candidates.is_empty() {
        return Err(
            "no good copy anywhere: not in a library, and no other destination holds it".into(),
        );
    }
    // The damaged copy, moved aside before the first rewrite: put back if nothing works.
    let mut damaged: Option<RelPath> = None;
    for (n, (name, open)) in candidates.into_iter().enumerate() {
        // Whatever sits at the key (the damaged copy, or a failed rewrite) moves aside;
        // an encrypted copy whose header is damaged is there too.
        match dest.stat(&row.key) {
            Ok(Some(_)) | Err(DestError::Decrypt { .. }) => {
                let aside =
                    destination::layout::quarantine_key(&format!("{run}-{attempt}-{n}"), &row.key);
                if let Err(e) = dest.rename(&row.key, &aside) {
                    return Err(format!("could not move the damaged copy aside: {e}"));
                }
                damaged.get_or_insert(aside);
            }
            Ok(None) => {}
            Err(e) => return Err(e.to_string()),
        }
        let result = open().map_err(|e| e.to_string()).and_then(|reader| {
            let mut checked = VerifyingReader::new(reader, row.hash, row.size);
            dest.put(&row.key, &mut checked, row.size)
                .map_err(TargetError::from)
                .and_then(|stored| verify_copy(dest, &row.key, &row.hash, stored).map(|()| stored))
                .map_err(|e| e.to_string())
        });
        match result {
            Ok(stored) => return Ok((name, stored)),
            Err(why) => tried.push(format!("{name}: {why}")),
        }
    }
    if let Some(aside) = damaged
        && matches!(dest.stat(&row.key), Ok(None))
    {
        // Leave things as they were found: the damaged bytes are still the only copy here.
        let _ = dest.rename(&aside, &row.key);
    }
    Err(format!("no good copy anywhere ({})", tried.join("; ")))
}

/// Other destinations, opened for reading when repair first needs them.
struct SourcePool<'a> {
    t: &'a Triplicate,
    open: Mutex<HashMap<String, Option<Arc<dyn ReadDestination>>>>,
}

impl<'a> SourcePool<'a> {
    fn new(t: &'a Triplicate) -> Self {
        SourcePool {
            t,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// The destination with this id, if it is configured and mounted.
    fn get(&self, id: &str) -> Option<Arc<dyn ReadDestination>> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.entry(id.to_string())
            .or_insert_with(|| {
                let config = self.t.config.destinations.iter().find(|d| d.id == id)?;
                destination::open_read(config).ok()
            })
            .clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_about_the_asked_share_and_differ_between_runs() {
        let picked = |run: &str| {
            (0..10_000)
                .filter(|&i| in_sample(run, i, 10.0))
                .collect::<Vec<_>>()
        };
        let (a, b) = (picked("run-a"), picked("run-b"));
        assert!((800..1200).contains(&a.len()), "{}", a.len());
        assert_ne!(a, b);
        assert!((0..100).all(|i| in_sample("r", i, 100.0)));
        assert!((0..100).all(|i| !in_sample("r", i, 0.0)));
    }
}
