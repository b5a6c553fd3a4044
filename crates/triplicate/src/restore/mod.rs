//! Restoring photos from verified copies.
//!
//! [`restore`] picks the photos to bring back (all of them, a capture-date range, or
//! names matching globs, including photos no longer in any library), and writes each
//! under its original path relative to its library into the target folder, prefixed
//! with the library's name when there are several libraries. `restore --all --to DIR`
//! therefore rebuilds a lost library tree, byte for byte, names and mtimes included.
//! With `as_of`, the names are those each library had at that moment, with the
//! content they held then (the catalog's file history): the library as it was before
//! an edit, a deletion or an attack, byte-exact.
//!
//! Each photo is read from a verified copy on a reachable destination (the configured
//! order; `--dest` picks one), through a `VerifyingReader`, and written with the same
//! atomic, never-replacing put as a backup: a file already in the target folder is
//! never overwritten. A name taken by the same bytes counts as restored already; a
//! name taken by other bytes gets a distinct name (`IMG_0001~a1b2c3d4.CR2`), or is
//! skipped with `skip_existing`. The written file is read back and its hash checked.
//!
//! Which photos, and under which names, is `select`; bringing one back is `copy`.

mod copy;
mod select;

use copy::*;

use std::path::PathBuf;
use std::time::Instant;

use chrono::NaiveDate;
use serde::Serialize;

use crate::catalog::NamedPhoto;
use crate::destination::{DestError, ErrorClass, LocalDestination};
use crate::engine::EngineError;
use crate::home::Triplicate;
use crate::progress::{Event, Problem, Problems, Progress};
use crate::relpath::RelPath;
use select::Patterns;
pub use select::Unmatched;

/// What to restore, and where.
#[derive(Debug, Clone, Default)]
pub struct RestoreOptions {
    /// The folder to restore into (created if needed).
    pub to: PathBuf,
    /// Read only from this destination.
    pub destination: Option<String>,
    /// Photos captured on or after this day.
    pub from: Option<NaiveDate>,
    /// Photos captured on or before this day.
    pub until: Option<NaiveDate>,
    /// Every photo (with no globs and no dates, something must say what to restore).
    pub all: bool,
    /// The libraries as they were at this moment (Unix milliseconds), instead of every
    /// name the catalog knows. Selects everything then unless globs or dates narrow it.
    pub as_of: Option<i64>,
    /// Names to restore: without a slash, a file name at any depth (`IMG_0010.CR2`,
    /// `*.CR3`); with one, a path in the library or `library/path` (`2024-05-*/**`).
    pub globs: Vec<String>,
    /// Only photos no library holds any more (deleted, or edited into other content).
    pub deleted: bool,
    /// Say what would be restored, from where, and write nothing.
    pub list: bool,
    /// Leave a name that holds other bytes alone instead of restoring beside it.
    pub skip_existing: bool,
    /// Photos restored at once.
    pub jobs: usize,
}

/// Parses the moment `--as-of` names: a snapshot id from `snapshots list`, an RFC 3339
/// time (`2026-11-22T10:15:00Z`), a local time (`2026-11-22 10:15` or with seconds), or
/// a day (`2026-11-22`: the end of that day, local time). Unix milliseconds.
pub fn parse_as_of(t: &Triplicate, text: &str) -> Result<i64, RestoreError> {
    use chrono::{Local, NaiveDateTime, TimeZone};
    let text = text.trim();
    let bad = || RestoreError::BadTime(text.to_string());
    if let Ok(id) = text.trim_start_matches('#').parse::<i64>() {
        return t
            .catalog
            .snapshots()
            .map_err(EngineError::from)?
            .into_iter()
            .find(|s| s.id == id)
            .map(|s| s.at)
            .ok_or(RestoreError::NoSnapshot(id));
    }
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(at.timestamp_millis());
    }
    let local = |naive: NaiveDateTime| {
        Local
            .from_local_datetime(&naive)
            .latest()
            .map(|at| at.timestamp_millis())
    };
    for format in [
        "%Y-%m-%d %H:%M:%S%.f",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%dT%H:%M:%S%.f",
    ] {
        if let Ok(naive) = NaiveDateTime::parse_from_str(text, format) {
            return local(naive).ok_or_else(bad);
        }
    }
    if let Ok(day) = NaiveDate::parse_from_str(text, "%Y-%m-%d") {
        let end = day.and_hms_milli_opt(23, 59, 59, 999).ok_or_else(bad)?;
        return local(end).ok_or_else(bad);
    }
    Err(bad())
}

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(
        "'{0}' is not a time: use a snapshot id, 2026-11-22T10:15:00Z, 2026-11-22 10:15 or 2026-11-22"
    )]
    BadTime(String),
    #[error("no snapshot {0}: see `triplicate snapshots list`")]
    NoSnapshot(i64),
    #[error("say what to restore: --all, --deleted, --from/--until, or name patterns")]
    NothingSelected,
    #[error("{}", no_match_message(.0))]
    NoMatch(Vec<Unmatched>),
    #[error("bad pattern '{pattern}': {message}")]
    BadGlob { pattern: String, message: String },
    #[error(transparent)]
    Engine(#[from] EngineError),
    #[error("cannot restore into {}: {source}", to.display())]
    Target { to: PathBuf, source: Box<DestError> },
    #[error("cannot restore into {}: it is a file, not a folder; give a folder (it is created if needed)", .0.display())]
    NotAFolder(PathBuf),
}

impl crate::fault::Classify for RestoreError {
    fn fault(&self) -> crate::fault::Fault {
        use crate::fault::Fault;
        match self {
            RestoreError::NothingSelected
            | RestoreError::BadGlob { .. }
            | RestoreError::BadTime(_)
            | RestoreError::NotAFolder(_) => Fault::Usage,
            RestoreError::NoSnapshot(_) => Fault::NotFound,
            RestoreError::Engine(e) => e.fault(),
            RestoreError::Target { .. } | RestoreError::NoMatch(_) => Fault::Failed,
        }
    }
}

/// "nothing matches 'IMG_0010.CR3' (the nearest names: IMG_0010.CR2); …"
fn no_match_message(unmatched: &[Unmatched]) -> String {
    let each: Vec<String> = unmatched
        .iter()
        .map(|u| {
            let nearest = if u.nearest.is_empty() {
                String::new()
            } else {
                format!(" (the nearest names: {})", u.nearest.join(", "))
            };
            format!("nothing to restore matches '{}'{nearest}", u.pattern)
        })
        .collect();
    format!(
        "{}; a pattern without a slash matches a file name at any depth, one with a slash the path in the library",
        each.join("; ")
    )
}

/// A name a restore would bring back, and from where (`restore --list`).
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub library: String,
    pub path: RelPath,
    pub size: u64,
    pub captured: String,
    /// Its content is in no library any more.
    pub deleted: bool,
    /// The destination it would be read from; `None` when no reachable one holds it.
    pub from: Option<String>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct RestoreReport {
    pub to: PathBuf,
    /// What would be restored, with `list` (nothing is written then).
    pub listed: Vec<Listed>,
    /// Names selected.
    pub selected: u64,
    pub restored: u64,
    /// Already in the target folder with the same bytes.
    pub already_there: u64,
    /// Restored beside a different file that had the name.
    pub renamed: u64,
    /// Left alone because the name held other bytes (`skip_existing`).
    pub skipped: u64,
    pub failed: u64,
    pub bytes: u64,
    pub problems: Vec<Problem>,
    pub seconds: f64,
}

impl RestoreReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// The progress bar's name for restore work.
const BAR: &str = "restore";

pub fn restore(
    t: &Triplicate,
    options: &RestoreOptions,
    progress: &dyn Progress,
) -> Result<RestoreReport, RestoreError> {
    let started = Instant::now();
    if !options.all
        && !options.deleted
        && options.as_of.is_none()
        && options.globs.is_empty()
        && options.from.is_none()
        && options.until.is_none()
    {
        return Err(RestoreError::NothingSelected);
    }
    let patterns = Patterns::new(&options.globs)
        .map_err(|(pattern, message)| RestoreError::BadGlob { pattern, message })?;
    let sources = Sources::open(t, options.destination.as_deref())?;
    let names = match options.as_of {
        Some(at) => t.catalog.names_as_of(at),
        None => t.catalog.names_to_restore(),
    }
    .map_err(EngineError::from)?;
    let selected = select(&names, options, &patterns);
    let unmatched = patterns.unmatched(&names);
    if !unmatched.is_empty() {
        return Err(RestoreError::NoMatch(unmatched));
    }
    let mut report = RestoreReport {
        to: options.to.clone(),
        selected: selected.len() as u64,
        ..Default::default()
    };
    if options.list {
        report.bytes = selected.iter().map(|n| n.size).sum();
        report.listed = list(t, &selected, &sources)?;
    } else {
        restore_selected(t, options, &selected, sources, &mut report, progress)?;
    }
    report.seconds = started.elapsed().as_secs_f64();
    Ok(report)
}

/// The names the options select: in the date range, deleted if asked, matching the
/// patterns.
fn select<'n>(
    names: &'n [NamedPhoto],
    options: &RestoreOptions,
    patterns: &Patterns,
) -> Vec<&'n NamedPhoto> {
    names
        .iter()
        .filter(|n| {
            let day = n
                .captured
                .get(..10)
                .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok());
            let in_range = match day {
                Some(day) => {
                    options.from.is_none_or(|f| day >= f) && options.until.is_none_or(|u| day <= u)
                }
                None => options.from.is_none() && options.until.is_none(),
            };
            in_range && (!options.deleted || !n.in_library) && patterns.matches(n)
        })
        .collect()
}

/// What `--list` shows of each selected photo: where it would be restored from.
fn list(
    t: &Triplicate,
    selected: &[&NamedPhoto],
    sources: &Sources,
) -> Result<Vec<Listed>, RestoreError> {
    let mut listed = Vec::with_capacity(selected.len());
    for n in selected {
        let copies = t
            .catalog
            .sources_of(n.photo_id)
            .map_err(EngineError::from)?
            .copies;
        let from = sources
            .order
            .iter()
            .find(|id| copies.iter().any(|(d, _)| d == *id))
            .map(|id| sources.readable[id].name().to_string());
        listed.push(Listed {
            library: n.library.clone(),
            path: n.path.clone(),
            size: n.size,
            captured: n.captured.clone(),
            deleted: !n.in_library,
            from,
        });
    }
    Ok(listed)
}

/// Restores the selected photos into `options.to`, several at once (each is a read,
/// a write and a read-back, mostly waiting), and reports each failure.
fn restore_selected(
    t: &Triplicate,
    options: &RestoreOptions,
    selected: &[&NamedPhoto],
    sources: Sources,
    report: &mut RestoreReport,
    progress: &dyn Progress,
) -> Result<(), RestoreError> {
    if std::fs::metadata(&options.to).is_ok_and(|m| !m.is_dir()) {
        return Err(RestoreError::NotAFolder(options.to.clone()));
    }
    let target = LocalDestination::plain_folder(BAR, &options.to).map_err(|source| {
        RestoreError::Target {
            to: options.to.clone(),
            source: Box::new(source),
        }
    })?;
    progress.event(&Event::WorkPlanned {
        dest: BAR,
        files: selected.len() as u64,
        bytes: selected.iter().map(|n| n.size).sum(),
    });
    let several_libraries = t.config.libraries.len() > 1;
    let mut problems = Problems::new(progress);
    let shared = std::sync::Mutex::new((&mut *report, &mut problems));
    crate::parallel::for_each(options.jobs, selected.iter(), |photo| {
        let key = if several_libraries {
            RelPath::new(photo.library.clone().into_bytes())
                .map(|lib| lib.join(&photo.path))
                .unwrap_or_else(|_| photo.path.clone())
        } else {
            photo.path.clone()
        };
        let outcome = restore_one(t, &target, &sources, photo, &key, options.skip_existing);
        let ok = outcome.is_ok();
        {
            let mut guard = shared.lock().unwrap_or_else(|p| p.into_inner());
            let (report, problems) = &mut *guard;
            report.count(photo, outcome, problems);
        }
        progress.event(&Event::WorkBytes {
            dest: BAR,
            bytes: photo.size,
        });
        progress.event(&Event::WorkDone { dest: BAR, ok });
        std::ops::ControlFlow::Continue(())
    });
    for (name, (why, photos)) in sources.stopped.into_inner() {
        problems.report(Problem {
            subject: format!("dest:{name}"),
            message: format!(
                "{why}; {photos} {} only it holds (among the reachable destinations) could not be restored",
                if photos == 1 { "photo" } else { "photos" }
            ),
            class: ErrorClass::Permanent,
        });
    }
    report.problems = problems.into_vec();
    Ok(())
}

impl RestoreReport {
    /// Counts how restoring `photo` ended; a failure of its own is reported (one of a
    /// destination put out of action is said once for the destination).
    fn count(
        &mut self,
        photo: &NamedPhoto,
        outcome: Result<Outcome, Failure>,
        problems: &mut Problems<'_>,
    ) {
        match outcome {
            Ok(Outcome::Restored { renamed }) => {
                self.restored += 1;
                self.renamed += u64::from(renamed);
                self.bytes += photo.size;
            }
            Ok(Outcome::AlreadyThere) => self.already_there += 1,
            Ok(Outcome::Skipped) => self.skipped += 1,
            Err(Failure::OnlyOnStopped) => self.failed += 1,
            Err(Failure::Other(why)) => {
                self.failed += 1;
                problems.report(Problem {
                    subject: format!("{}:{}", photo.library, photo.path),
                    message: format!(
                        "{}:{} could not be restored: {why}",
                        photo.library, photo.path
                    ),
                    class: ErrorClass::Permanent,
                });
            }
        }
    }
}
