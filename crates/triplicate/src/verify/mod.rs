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
//! (`names`).
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
use crate::photo::ContentHash;
use crate::progress::{Event, Problem, Problems, Progress};
use crate::relpath::RelPath;
use crate::run;
use crate::vocab::CopyState;
use crate::vocab::DestState;

mod copies;
mod names;
mod originals;
mod repair;

use copies::*;
use originals::*;
use repair::*;

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
    /// Of the copies due, check only those proven longest ago (never proven first), at
    /// most this many, and at most `max_bytes` of them: a scheduled step.
    pub oldest: Option<usize>,
    pub max_bytes: Option<u64>,
    /// Read at most this many bytes per second.
    pub rate: Option<u64>,
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

/// Checks (and with `repair`, mends) the copies at each selected destination.
///
/// ```
/// # use triplicate::verify::VerifyOptions;
/// // The next step of a scheduled check: the 100 copies proven longest ago, reading
/// // at most 20 MB/s, each damaged one written again from a good copy.
/// let step = VerifyOptions {
///     oldest: Some(100),
///     rate: Some(20_000_000),
///     repair: true,
///     ..Default::default()
/// };
/// # assert!(step.sample_percent.is_none());
/// ```
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

/// Whether this copy is in this run's sample: a hash of the run and the photo, so each
/// run picks another share.
impl VerifyOptions {
    /// Whether a copy last proven at `verified_at` (never: `None`) is due this run: old
    /// enough for `--older-than`, and drawn by `--sample`.
    fn due(&self, run: &str, photo_id: i64, verified_at: Option<i64>, now: i64) -> bool {
        let old_enough = match (self.older_than, verified_at) {
            (None, _) | (_, None) => true,
            (Some(age), Some(at)) => now - at >= age.as_secs() as i64,
        };
        old_enough
            && self
                .sample_percent
                .is_none_or(|p| in_sample(run, photo_id, p))
    }
}

impl VerifyOptions {
    /// With `oldest` or `max_bytes`: keeps, of `due`, those proven longest ago (never
    /// proven first; `proven` gives when, and a tie-breaker), within both limits, and
    /// always at least one, however large, so that a step always gets somewhere.
    fn keep_oldest<T>(
        &self,
        due: &mut Vec<T>,
        proven: impl Fn(&T) -> (Option<i64>, i64),
        size: impl Fn(&T) -> u64,
    ) {
        if self.oldest.is_none() && self.max_bytes.is_none() {
            return;
        }
        due.sort_by_key(|r| proven(r));
        due.truncate(self.oldest.unwrap_or(usize::MAX));
        let budget = self.max_bytes.unwrap_or(u64::MAX);
        let mut bytes = 0u64;
        let fits = due
            .iter()
            .take_while(|r| {
                let first = bytes == 0;
                bytes = bytes.saturating_add(size(r).max(1));
                first || bytes <= budget
            })
            .count();
        due.truncate(fits);
    }
}

fn in_sample(run: &str, photo_id: i64, percent: f64) -> bool {
    let h = blake3::Hasher::new()
        .update(run.as_bytes())
        .update(&photo_id.to_le_bytes())
        .finalize();
    let draw = u16::from_le_bytes([h.as_bytes()[0], h.as_bytes()[1]]) as f64 / 65_536.0;
    draw * 100.0 < percent
}

/// Opens one candidate source of good bytes.
type OpenSource = Box<dyn FnOnce() -> Result<Box<dyn Read + Send>, String>>;

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
