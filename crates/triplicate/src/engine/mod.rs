//! Backing up: scan, plan, copy, verify, record.
//!
//! [`backup`] is the "back up existing photos" action and the body of `triplicate
//! backup`. It opens each selected destination (one that is not mounted, read-only, or
//! another disk is skipped with a warning, never written) and sweeps what an
//! interrupted run left there. It then scans every library into the catalog while
//! copy workers run: each batch of new photos is planned as soon as it is hashed, so it
//! is copied while still in the page cache, and when the scan ends a full plan adds
//! whatever else a destination lacks. Workers read each photo once and write it to all
//! the destinations that lack it at the same time ([`fanout`]); each copy is read back
//! from the device and counts only when its hash matches. A destination that fills up is stopped for the rest of the run while the
//! others go on. At the end each destination gets a manifest of the copies it gained.
//!
//! Content already at a destination is never copied again: a name that is taken by the
//! same bytes is adopted after a verifying read, and a name taken by other bytes gets a
//! distinct, deterministic alternative (`layout::alternate_name`).

pub mod fanout;
mod groups;
mod manifests;
pub(crate) mod names;
mod plan;
mod queue;
pub mod retry;
mod worker;

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use serde::Serialize;

use crate::catalog::{CatalogError, RunKind};
use crate::config::DestinationConfig;
use crate::destination::{self, DestError, ErrorClass, WriteDestination, manifest};
use crate::home::Triplicate;
use crate::progress::{Problem, Problems, Progress};
use crate::run;
use crate::scan::{self, ScanReport};
use crate::vocab::DestState;
use manifests::{ManifestFailure, write_manifest};
use plan::Planner;
use worker::{OpenDest, RunContext};

/// What to back up, and how.
#[derive(Debug, Clone, Default)]
pub struct BackupOptions {
    /// Only these destinations (by name); all enabled ones when empty.
    pub destinations: Vec<String>,
    /// Files in flight at once; the config's `backup.jobs` when `None`.
    pub jobs: Option<usize>,
    /// Wraps each destination once it is open (fault injection in tests).
    pub wrap: Option<DestinationWrapper>,
    /// Only destinations marked `automatic` (the daemon).
    pub only_automatic: bool,
    /// Leave files modified less than this long ago for a later run...
    pub settle: Option<std::time::Duration>,
    /// ...except these, known to be complete (closed after writing).
    pub complete: Arc<std::collections::HashSet<std::path::PathBuf>>,
    /// When set, no new copy is started; copies in flight finish (graceful shutdown).
    pub cancel: Option<Arc<std::sync::atomic::AtomicBool>>,
    /// Leave alone the copies whose last attempt failed for a reason that needs a
    /// person (the service); `triplicate backup` tries everything.
    pub unattended: bool,
}

/// A function that wraps a destination in another (the tests' fault-injecting
/// `destination::faulty`, with the `testing` feature).
#[derive(Clone)]
pub struct DestinationWrapper(pub Arc<WrapFn>);

/// Takes a destination, returns it wrapped.
pub type WrapFn = dyn Fn(Arc<dyn WriteDestination>) -> Arc<dyn WriteDestination> + Send + Sync;

impl std::fmt::Debug for DestinationWrapper {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("DestinationWrapper")
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("no destination named '{0}' (see `triplicate dest list`)")]
    UnknownDestination(String),
    #[error("destination '{0}' is disabled: enable it with `triplicate dest enable {0}`")]
    Disabled(String),
    #[error(
        "no enabled destinations: add one with `triplicate dest add NAME PATH --media KIND --site onsite`"
    )]
    NoDestinations,
    #[error("no libraries: add one with `triplicate library add DIR`")]
    NoLibraries,
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

impl crate::fault::Classify for EngineError {
    fn fault(&self) -> crate::fault::Fault {
        use crate::fault::Fault;
        match self {
            EngineError::UnknownDestination(_) => Fault::NotFound,
            EngineError::Disabled(_) | EngineError::NoDestinations | EngineError::NoLibraries => {
                Fault::Usage
            }
            EngineError::Catalog(_) => Fault::Failed,
        }
    }
}

/// What one destination got in a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DestinationReport {
    pub name: String,
    /// Ok, or why the destination was skipped or stopped (not mounted, full …).
    pub state: DestState,
    pub planned: u64,
    /// Copies written and verified.
    pub copied: u64,
    /// Copies found already there (same bytes) and verified.
    pub adopted: u64,
    pub bytes: u64,
    pub failed: u64,
    /// Leftovers of interrupted runs that were removed.
    pub swept: u64,
    /// Other library names of a content given a file of their own (a hard link to
    /// its copy, or a copy of it): every name is a file.
    pub named: u64,
    /// The manifest written for this run, relative to the destination.
    pub manifest: Option<String>,
}

/// The outcome of a backup run.
#[derive(Debug, Clone, Serialize)]
pub struct BackupReport {
    pub run: String,
    pub scans: Vec<ScanReport>,
    pub destinations: Vec<DestinationReport>,
    pub problems: Vec<Problem>,
    /// 3-2-1 coverage after the run: what the run left at risk.
    pub coverage: crate::policy::CoverageSummary,
    pub seconds: f64,
}

impl BackupReport {
    /// True when nothing failed anywhere.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// True when nothing failed and every photo has the copies the policy asks for:
    /// the run's exit code 0, a healthchecks "success" ping.
    pub fn protected(&self) -> bool {
        self.ok() && self.coverage.at_risk == 0
    }

    /// The verdict's line for people and cron: every photo protected, or how many are
    /// not and where to look.
    pub fn verdict(&self) -> String {
        let c = &self.coverage;
        if c.at_risk == 0 {
            format!(
                "all {} {} protected",
                c.photos,
                if c.photos == 1 { "photo" } else { "photos" }
            )
        } else {
            format!(
                "{} of {} photos at risk: without the copies the policy asks for (see `triplicate status --at-risk`)",
                c.at_risk, c.photos
            )
        }
    }

    /// One line: what was copied, and what went wrong.
    pub fn summary(&self) -> String {
        let copied: u64 = self.destinations.iter().map(|d| d.copied).sum();
        let adopted: u64 = self.destinations.iter().map(|d| d.adopted).sum();
        let failed: u64 = self.destinations.iter().map(|d| d.failed).sum();
        let mut parts = vec![format!("{copied} copies made")];
        if adopted > 0 {
            parts.push(format!("{adopted} found in place"));
        }
        if failed > 0 {
            parts.push(format!("{failed} failed"));
        }
        for d in self.destinations.iter().filter(|d| !d.state.is_ok()) {
            parts.push(format!("{}: {}", d.name, d.state));
        }
        if !self.problems.is_empty() {
            parts.push(format!("{} problems", self.problems.len()));
        }
        parts.join(", ")
    }
}

/// Backs up every photo not yet verified at each selected destination.
///
/// The destinations are opened first; copy workers then start, and the scan feeds them
/// each batch of new photos as soon as it is hashed. When the scan is done, a full plan
/// adds whatever else a destination lacks (photos from earlier runs, a new destination).
pub fn backup(
    t: &Triplicate,
    options: &BackupOptions,
    progress: &dyn Progress,
) -> Result<BackupReport, EngineError> {
    let started = Instant::now();
    let config = &t.config;
    let selected = destinations_to_write(t, options)?;
    let run = run::new_id();
    run::begin(&t.catalog, &run, RunKind::Backup)?;
    let mut problems = Problems::new(progress);

    // 1. Open destinations; skip (and warn about) those that cannot be written.
    let (open, mut reports) = open_destinations(t, options, selected, &mut problems)?;

    // 2. Scan and copy at once: workers take jobs while the scan plans them.
    let queue = queue::JobQueue::default();
    let found: Mutex<Vec<Problem>> = Mutex::new(Vec::new());
    let ctx = RunContext {
        t,
        run: &run,
        open: &open,
        progress,
        problems: &found,
        queue: &queue,
        groups: &groups::GroupNames::default(),
    };
    let workers = options.jobs.unwrap_or(config.backup.jobs).max(1);
    let mut planner = Planner {
        t,
        open: &open,
        unattended: options.unattended,
        progress,
        queued: HashSet::new(),
        queue: &queue,
    };
    let scans = std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| copy_jobs(&ctx, &queue, options));
        }
        // Whatever ends the planning (a full catalog disk, say), the workers are
        // released: they finish the jobs they hold and stop.
        let planned = scan_and_plan(t, options, &run, &mut planner, &mut problems);
        // The workers finish once the queue is empty and nobody can put a job back.
        match &planned {
            Ok(_) => queue.planning_done(),
            Err(_) => queue.abandon(),
        }
        planned
    })?;
    problems.extend_reported(found.into_inner().unwrap_or_else(|p| p.into_inner()));
    tracing::debug!(elapsed = ?started.elapsed(), "copied");

    // 3. Per destination: names, manifest, activity, warnings.
    for od in &open {
        let report = report_mut(&mut reports, &od.config.name);
        finish_destination(t, od, &run, report, &mut problems)?;
    }
    tracing::debug!(elapsed = ?started.elapsed(), "manifests written");

    // 4. What the copies changed.
    let coverage = after_copies(t, options, &reports, &mut problems)?;
    let report = BackupReport {
        run: run.clone(),
        scans,
        destinations: reports,
        problems: problems.into_vec(),
        coverage,
        seconds: started.elapsed().as_secs_f64(),
    };
    t.catalog
        .prune_operations(crate::catalog::OPERATIONS_KEPT)?;
    run::finish(&t.catalog, &run, report.ok(), &report)?;
    // A cold destination this run refreshed, or one now due a refresh.
    crate::cold::remind_cold(&t.catalog, &t.config)?;
    Ok(report)
}

/// The destinations a backup writes to: those named, else all; only the automatic
/// ones for the service's passes. There must be one, and a library to back up.
fn destinations_to_write<'a>(
    t: &'a Triplicate,
    options: &BackupOptions,
) -> Result<Vec<&'a DestinationConfig>, EngineError> {
    let mut selected = select_destinations(t, &options.destinations, false)?;
    if options.only_automatic {
        selected.retain(|d| d.automatic);
        if selected.is_empty() {
            return Err(EngineError::NoDestinations);
        }
    }
    if t.config.libraries.is_empty() {
        return Err(EngineError::NoLibraries);
    }
    Ok(selected)
}

/// A copy worker: takes jobs until the queue is done. When the run is cancelled, the
/// rest is left for the next run.
fn copy_jobs(ctx: &RunContext<'_>, queue: &queue::JobQueue, options: &BackupOptions) {
    let cancelled = || {
        options
            .cancel
            .as_ref()
            .is_some_and(|c| c.load(Ordering::Relaxed))
    };
    while let Some(job) = queue.next() {
        if !cancelled()
            && let Err(e) = ctx.copy_photo(&job)
        {
            ctx.problem(Problem {
                subject: "catalog".into(),
                message: e.to_string(),
                class: ErrorClass::Transient,
            });
        }
        queue.done();
    }
}

/// Scans every library, planning the copies of each batch of photos as it is
/// recorded, then plans everything else that lacks a copy: the scans' reports.
fn scan_and_plan(
    t: &Triplicate,
    options: &BackupOptions,
    run: &str,
    planner: &mut Planner<'_>,
    problems: &mut Problems<'_>,
) -> Result<Vec<scan::ScanReport>, EngineError> {
    let config = &t.config;
    let progress = planner.progress;
    let mut scans = Vec::new();
    let mut planning_error = None;
    for lib in &config.libraries {
        let mut on_recorded = |ids: &[i64]| {
            if planning_error.is_none()
                && let Err(e) = planner.plan_photos(ids)
            {
                planning_error = Some(e);
            }
        };
        let scan_options = scan::ScanOptions {
            settle: options.settle,
            complete: options.complete.clone(),
            run: Some(run.to_string()),
            ..scan::ScanOptions::of(config)
        };
        match scan::scan_library(&t.catalog, lib, scan_options, progress, &mut on_recorded) {
            Ok(report) => {
                problems.extend_reported(report.problems.iter().cloned());
                scans.push(report);
            }
            Err(scan::ScanError::Catalog(e)) => return Err(e.into()),
            Err(e) => problems.report(Problem {
                subject: format!("library:{}", lib.name),
                message: e.to_string(),
                class: ErrorClass::Transient,
            }),
        }
    }
    if let Some(e) = planning_error {
        return Err(e.into());
    }
    tracing::debug!("scanned");
    planner.plan_everything_else()?;
    tracing::debug!("planned");
    Ok(scans)
}

/// What a run's copies changed: the photos they protected (time to protected counts
/// only copies made now), the unreadable-file warnings they settle, and a check of the
/// catalog, since damage where this run's queries did not go is damage all the same.
/// Returns the coverage the run leaves.
fn after_copies(
    t: &Triplicate,
    options: &BackupOptions,
    reports: &[DestinationReport],
    problems: &mut Problems<'_>,
) -> Result<crate::policy::CoverageSummary, EngineError> {
    let mut assessment = crate::policy::assess(&t.catalog, &t.config)?;
    if reports.iter().any(|r| r.copied + r.adopted > 0) && !assessment.newly_protected.is_empty() {
        t.catalog.set_protected(&assessment.newly_protected)?;
        // Their time to protected is part of the summary now.
        assessment = crate::policy::assess(&t.catalog, &t.config)?;
    }
    // A file that could not be read once stays a warning until it is backed up.
    crate::scan::settle_unreadable_warnings(&t.catalog)?;
    let sound = if options.unattended {
        t.catalog.check_sound_daily()
    } else {
        t.catalog.check_sound()
    };
    if let Err(e) = sound {
        problems.report(Problem {
            subject: "catalog".into(),
            message: e.to_string(),
            class: ErrorClass::Permanent,
        });
    }
    Ok(assessment.summary)
}

/// Warning kinds that an open destination has overcome.
const UNAVAILABLE_KINDS: &[&str] = &[
    "not mounted",
    "wrong disk",
    "damaged marker",
    "read-only",
    "in use",
    "permission denied",
    "error",
];

/// The named destinations, or all enabled ones when none is named. Named destinations
/// that are disabled are refused unless `disabled_ok` (reading from them is harmless).
pub(crate) fn select_destinations<'a>(
    t: &'a Triplicate,
    names: &[String],
    disabled_ok: bool,
) -> Result<Vec<&'a DestinationConfig>, EngineError> {
    let config = &t.config;
    if names.is_empty() {
        let all: Vec<_> = config.destinations.iter().filter(|d| d.enabled).collect();
        if all.is_empty() {
            return Err(EngineError::NoDestinations);
        }
        return Ok(all);
    }
    names
        .iter()
        .map(|n| {
            let d = config
                .destination(n)
                .ok_or_else(|| EngineError::UnknownDestination(n.clone()))?;
            if !d.enabled && !disabled_ok {
                return Err(EngineError::Disabled(n.clone()));
            }
            Ok(d)
        })
        .collect()
}

/// Removes what interrupted runs left in the folders they were writing into.
fn sweep(
    t: &Triplicate,
    d: &DestinationConfig,
    dest: &dyn WriteDestination,
) -> Result<usize, EngineError> {
    let mut removed = 0;
    if dest.properties().staged {
        removed += dest.sweep_partials(None).unwrap_or(0);
    }
    for folder in t.catalog.journaled_folders(&d.id)? {
        removed += dest.sweep_partials(Some(&folder)).unwrap_or(0);
    }
    t.catalog.clear_journal(&d.id)?;
    Ok(removed)
}

fn report_mut<'a>(reports: &'a mut [DestinationReport], name: &str) -> &'a mut DestinationReport {
    reports
        .iter_mut()
        .find(|r| r.name == name)
        .expect("every destination has a report")
}

pub(crate) fn dest_problem(name: &str, message: &str, class: ErrorClass) -> Problem {
    Problem {
        subject: format!("dest:{name}"),
        message: message.into(),
        class,
    }
}

/// Opens the destinations a run writes to, with a report for each: those that cannot
/// be written are reported (and warned about) and take no part; a cold one away in its
/// drawer is offline, as it should be, unless the run names it.
fn open_destinations(
    t: &Triplicate,
    options: &BackupOptions,
    selected: Vec<&DestinationConfig>,
    problems: &mut Problems<'_>,
) -> Result<(Vec<OpenDest>, Vec<DestinationReport>), EngineError> {
    let mut reports: Vec<DestinationReport> = Vec::new();
    let mut open: Vec<OpenDest> = Vec::new();
    let config = &t.config;
    for d in selected {
        let mut report = DestinationReport {
            name: d.name.clone(),
            state: DestState::Ok,
            ..Default::default()
        };
        let subject = format!("dest:{}", d.name);
        match destination::open(d) {
            Ok(dest) => {
                let dest = match &options.wrap {
                    Some(wrap) => (wrap.0)(dest),
                    None => dest,
                };
                t.catalog.resolve_warnings(&subject, UNAVAILABLE_KINDS)?;
                report.swept = sweep(t, d, dest.as_ref())? as u64;
                let concurrency = d.concurrency.unwrap_or(config.backup.jobs);
                open.push(OpenDest::new(d, dest, concurrency));
            }
            // A cold destination away in its drawer: where it should be, unless this
            // run was asked to refresh it.
            Err(destination::DestError::NotMounted { .. })
                if d.offline && options.destinations.is_empty() =>
            {
                tracing::info!(destination = %d.name, "cold destination away: skipped");
                report.state = DestState::Offline;
            }
            Err(e) => {
                tracing::info!(destination = %d.name, state = %e.state(), "skipped");
                report.state = e.state();
                t.catalog.raise_destination_warning(&d.name, &e)?;
                t.catalog.record_dest_activity(&d.id, false)?;
                problems.report(dest_problem(&d.name, &e.to_string(), e.class()));
            }
        }
        reports.push(report);
    }
    Ok((open, reports))
}

/// The end of a run at one open destination: its counts into its report, the other
/// names' files, the manifest, its activity and warnings.
fn finish_destination(
    t: &Triplicate,
    od: &OpenDest,
    run: &str,
    report: &mut DestinationReport,
    problems: &mut Problems<'_>,
) -> Result<(), EngineError> {
    report.planned = od.planned.load(Ordering::Relaxed);
    report.copied = od.copied.load(Ordering::Relaxed);
    report.adopted = od.adopted.load(Ordering::Relaxed);
    report.bytes = od.bytes.load(Ordering::Relaxed);
    report.failed = od.failed.load(Ordering::Relaxed);
    let subject = format!("dest:{}", od.config.name);
    if let Some(reason) = *od.stop_reason.lock().unwrap() {
        report.state = reason;
    } else {
        t.catalog.resolve_warnings(&subject, &["full"])?;
    }
    let names = names::complete_names(t, od, run)?;
    report.named = names.made;
    for p in names.failed {
        problems.report(p);
    }
    match write_manifest(t, od, run) {
        Ok(m) => report.manifest = m,
        Err(ManifestFailure::Destination(e)) => {
            problems.report(dest_problem(&od.config.name, &e.to_string(), e.class()))
        }
        Err(ManifestFailure::Catalog(e)) => return Err(e.into()),
    }
    t.catalog
        .record_dest_activity(&od.config.id, report.failed == 0 && report.state.is_ok())?;
    t.catalog.clear_journal(&od.config.id)?;
    Ok(())
}
