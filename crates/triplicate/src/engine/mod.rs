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
//! distinct, deterministic alternative ([`layout::alternate_name`]).

pub mod fanout;

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::NaiveDateTime;
use serde::Serialize;

use crate::catalog::{CatalogError, Operation, PendingPhoto};
use crate::config::DestinationConfig;
use crate::destination::layout::{self, Layout, LayoutInput};
use crate::destination::{self, DestError, ErrorClass, WriteDestination, manifest};
use crate::home::Triplicate;
use crate::photo::ContentHash;
use crate::progress::{Event, Problem, Progress};
use crate::relpath::RelPath;
use crate::scan::{self, ScanReport, exif::CAPTURE_FORMAT};
use fanout::{SourceError, Target, TargetError, fan_out, verify_copy};

/// What to back up, and how.
#[derive(Debug, Clone, Default)]
pub struct BackupOptions {
    /// Only these destinations (by name); all enabled ones when empty.
    pub destinations: Vec<String>,
    /// Files in flight at once; the config's `backup.jobs` when `None`.
    pub jobs: Option<usize>,
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

impl EngineError {
    /// Whether the request itself was wrong (exit 2) rather than the work failing.
    pub fn is_usage(&self) -> bool {
        !matches!(self, EngineError::Catalog(_))
    }
}

/// What one destination got in a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct DestinationReport {
    pub name: String,
    /// "ok", or why the destination was skipped or stopped ("not mounted", "full" …).
    pub state: String,
    pub planned: u64,
    /// Copies written and verified.
    pub copied: u64,
    /// Copies found already there (same bytes) and verified.
    pub adopted: u64,
    pub bytes: u64,
    pub failed: u64,
    /// Leftovers of interrupted runs that were removed.
    pub swept: u64,
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
    pub seconds: f64,
}

impl BackupReport {
    /// True when nothing failed anywhere.
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// A destination that is open for this run, with its counters.
struct OpenDest {
    config: DestinationConfig,
    dest: Arc<dyn WriteDestination>,
    layout: Layout,
    planned: AtomicU64,
    stopped: AtomicBool,
    stop_reason: Mutex<Option<String>>,
    copied: AtomicU64,
    adopted: AtomicU64,
    bytes: AtomicU64,
    failed: AtomicU64,
    journaled: Mutex<HashSet<RelPath>>,
}

impl OpenDest {
    fn new(config: &DestinationConfig, dest: Arc<dyn WriteDestination>) -> OpenDest {
        OpenDest {
            config: config.clone(),
            layout: Layout::parse(&config.layout).expect("checked when the config was loaded"),
            dest,
            planned: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
            stop_reason: Mutex::new(None),
            copied: AtomicU64::new(0),
            adopted: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            journaled: Mutex::new(HashSet::new()),
        }
    }
}

/// One photo to copy, to the destinations (indices into the open list) that lack it.
struct Job {
    photo: PendingPhoto,
    dests: Vec<usize>,
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
    let selected = select_destinations(t, &options.destinations)?;
    if config.libraries.is_empty() {
        return Err(EngineError::NoLibraries);
    }
    let run = run_id();
    t.catalog.begin_run(&run, "backup")?;
    let mut problems: Vec<Problem> = Vec::new();
    let note = |p: Problem, problems: &mut Vec<Problem>| {
        progress.event(&Event::Problem(&p));
        problems.push(p);
    };

    // 1. Open destinations; skip (and warn about) those that cannot be written.
    let mut reports: Vec<DestinationReport> = Vec::new();
    let mut open: Vec<OpenDest> = Vec::new();
    for d in selected {
        let mut report = DestinationReport {
            name: d.name.clone(),
            state: "ok".into(),
            ..Default::default()
        };
        let subject = format!("dest:{}", d.name);
        match destination::open(d) {
            Ok(dest) => {
                t.catalog.resolve_warnings(&subject, UNAVAILABLE_KINDS)?;
                report.swept = sweep(t, d, dest.as_ref())? as u64;
                open.push(OpenDest::new(d, dest));
            }
            Err(e) => {
                tracing::info!(destination = %d.name, state = e.state(), "skipped");
                report.state = e.state().into();
                t.catalog.raise_warning(
                    &subject,
                    e.state(),
                    &e.to_string(),
                    Some(e.class().as_str()),
                )?;
                t.catalog.record_dest_activity(&d.id, false)?;
                note(
                    dest_problem(&d.name, &e.to_string(), e.class()),
                    &mut problems,
                );
            }
        }
        reports.push(report);
    }

    // 2. Scan and copy at once: workers take jobs while the scan plans them.
    let (jobs_tx, jobs_rx) = std::sync::mpsc::channel::<Job>();
    let jobs_rx = Mutex::new(jobs_rx);
    let found: Mutex<Vec<Problem>> = Mutex::new(Vec::new());
    let ctx = RunContext {
        t,
        run: &run,
        open: &open,
        progress,
        problems: &found,
    };
    let workers = options.jobs.unwrap_or(config.backup.jobs).max(1);
    let mut scans = Vec::new();
    let mut planner = Planner {
        t,
        open: &open,
        progress,
        queued: HashSet::new(),
        jobs: jobs_tx,
    };
    let scanned: Result<(), EngineError> = std::thread::scope(|s| {
        for _ in 0..workers {
            s.spawn(|| {
                loop {
                    let next = jobs_rx.lock().unwrap_or_else(|p| p.into_inner()).recv();
                    let Ok(job) = next else { break };
                    if let Err(e) = ctx.copy_photo(&job) {
                        ctx.problem(Problem {
                            subject: "catalog".into(),
                            message: e.to_string(),
                            class: ErrorClass::Transient,
                        });
                    }
                }
            });
        }
        let mut planning_error = None;
        for lib in &config.libraries {
            let mut on_recorded = |ids: &[i64]| {
                if planning_error.is_none()
                    && let Err(e) = planner.plan_photos(ids)
                {
                    planning_error = Some(e);
                }
            };
            match scan::scan_library(
                &t.catalog,
                lib,
                config.scan.include_all,
                progress,
                &mut on_recorded,
            ) {
                Ok(report) => {
                    problems.extend(report.problems.iter().cloned());
                    scans.push(report);
                }
                Err(scan::ScanError::Catalog(e)) => return Err(e.into()),
                Err(e) => note(
                    Problem {
                        subject: format!("library:{}", lib.name),
                        message: e.to_string(),
                        class: ErrorClass::Transient,
                    },
                    &mut problems,
                ),
            }
        }
        if let Some(e) = planning_error {
            return Err(e.into());
        }
        tracing::debug!(elapsed = ?started.elapsed(), "scanned");
        planner.plan_everything_else()?;
        tracing::debug!(elapsed = ?started.elapsed(), "planned");
        // Dropping the sender lets the workers finish once the queue is empty.
        drop(planner);
        Ok(())
    });
    scanned?;
    problems.extend(found.into_inner().unwrap_or_else(|p| p.into_inner()));
    tracing::debug!(elapsed = ?started.elapsed(), "copied");

    // 3. Per destination: manifest, activity, warnings.
    for od in &open {
        let report = report_mut(&mut reports, &od.config.name);
        report.planned = od.planned.load(Ordering::Relaxed);
        report.copied = od.copied.load(Ordering::Relaxed);
        report.adopted = od.adopted.load(Ordering::Relaxed);
        report.bytes = od.bytes.load(Ordering::Relaxed);
        report.failed = od.failed.load(Ordering::Relaxed);
        let subject = format!("dest:{}", od.config.name);
        if let Some(reason) = od.stop_reason.lock().unwrap().clone() {
            report.state = reason;
        } else {
            t.catalog.resolve_warnings(&subject, &["full"])?;
        }
        match write_manifest(t, od, &run) {
            Ok(m) => report.manifest = m,
            Err(e) => note(
                dest_problem(&od.config.name, &e.to_string(), e.class()),
                &mut problems,
            ),
        }
        t.catalog
            .record_dest_activity(&od.config.id, report.failed == 0 && report.state == "ok")?;
        t.catalog.clear_journal(&od.config.id)?;
    }
    tracing::debug!(elapsed = ?started.elapsed(), "manifests written");

    // 4. Time to protected: only copies made now can have protected a photo.
    if reports.iter().any(|r| r.copied + r.adopted > 0) {
        let (_, _, newly_protected) = crate::policy::assess(&t.catalog, config)?;
        t.catalog.set_protected(&newly_protected)?;
    }

    let report = BackupReport {
        run: run.clone(),
        scans,
        destinations: reports,
        problems,
        seconds: started.elapsed().as_secs_f64(),
    };
    t.catalog.finish_run(
        &run,
        if report.ok() { "ok" } else { "failed" },
        &serde_json::to_string(&report).unwrap_or_default(),
    )?;
    Ok(report)
}

/// Turns photos into jobs: each photo once, to every open destination that lacks it.
struct Planner<'a> {
    t: &'a Triplicate,
    open: &'a [OpenDest],
    progress: &'a dyn Progress,
    /// Photos already handed to the workers in this run.
    queued: HashSet<i64>,
    jobs: std::sync::mpsc::Sender<Job>,
}

impl Planner<'_> {
    /// Plans photos the scan just recorded.
    fn plan_photos(&mut self, ids: &[i64]) -> Result<(), CatalogError> {
        for &id in ids {
            if self.queued.contains(&id) {
                continue;
            }
            let mut job: Option<Job> = None;
            for (i, od) in self.open.iter().enumerate() {
                if let Some(photo) = self.t.catalog.photo_to_copy(&od.config.id, id)? {
                    job.get_or_insert_with(|| Job {
                        photo,
                        dests: Vec::new(),
                    })
                    .dests
                    .push(i);
                }
            }
            if let Some(job) = job {
                self.send(job);
            }
        }
        Ok(())
    }

    /// Plans everything the destinations still lack, oldest photos first.
    fn plan_everything_else(&mut self) -> Result<(), CatalogError> {
        let mut jobs: HashMap<i64, Job> = HashMap::new();
        for (i, od) in self.open.iter().enumerate() {
            for photo in self.t.catalog.photos_to_copy(&od.config.id)? {
                if self.queued.contains(&photo.photo_id) {
                    continue;
                }
                jobs.entry(photo.photo_id)
                    .or_insert_with(|| Job {
                        photo,
                        dests: Vec::new(),
                    })
                    .dests
                    .push(i);
            }
        }
        let mut jobs: Vec<Job> = jobs.into_values().collect();
        jobs.sort_by(|a, b| {
            (&a.photo.captured, a.photo.photo_id).cmp(&(&b.photo.captured, b.photo.photo_id))
        });
        for job in jobs {
            self.send(job);
        }
        Ok(())
    }

    fn send(&mut self, job: Job) {
        self.queued.insert(job.photo.photo_id);
        for &i in &job.dests {
            let od = &self.open[i];
            od.planned.fetch_add(1, Ordering::Relaxed);
            self.progress.event(&Event::CopyPlanned {
                dest: &od.config.name,
                files: 1,
                bytes: job.photo.size,
            });
        }
        // The workers outlive the planner, so the receiver is there.
        let _ = self.jobs.send(job);
    }
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

fn select_destinations<'a>(
    t: &'a Triplicate,
    names: &[String],
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
            if !d.enabled {
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

fn dest_problem(name: &str, message: &str, class: ErrorClass) -> Problem {
    Problem {
        subject: format!("dest:{name}"),
        message: message.into(),
        class,
    }
}

/// `20261122T012345Z-1a2b3c4d`: sortable, unique enough, safe in a file name.
fn run_id() -> String {
    let now = chrono::Utc::now();
    format!(
        "{}-{}",
        now.format("%Y%m%dT%H%M%SZ"),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// Where a photo goes at one destination.
enum Placement {
    /// Nothing there yet: write it.
    Write(RelPath),
    /// The same bytes are already there, verified by reading them back.
    AlreadyThere(RelPath),
}

/// Everything a worker needs during a run.
struct RunContext<'a> {
    t: &'a Triplicate,
    run: &'a str,
    open: &'a [OpenDest],
    progress: &'a dyn Progress,
    problems: &'a Mutex<Vec<Problem>>,
}

/// Times a placement is retried when its name is taken between choosing and publishing.
const PLACEMENT_ATTEMPTS: usize = 3;

impl RunContext<'_> {
    fn problem(&self, p: Problem) {
        self.progress.event(&Event::Problem(&p));
        self.problems.lock().unwrap().push(p);
    }

    fn copy_photo(&self, job: &Job) -> Result<(), CatalogError> {
        let photo = &job.photo;
        let lib = self.t.config.library(&photo.library);
        let Some(lib) = lib else { return Ok(()) };
        let source = photo.path.to_path(&lib.path);
        let mut remaining: Vec<usize> = job.dests.clone();

        for _attempt in 0..PLACEMENT_ATTEMPTS {
            remaining.retain(|&i| !self.open[i].stopped.load(Ordering::Relaxed));
            if remaining.is_empty() {
                return Ok(());
            }
            // Choose a name at each destination, adopting copies that are already there.
            let mut writes: Vec<(usize, RelPath)> = Vec::new();
            for &i in &remaining {
                let od = &self.open[i];
                match self.place(od, photo) {
                    Ok(Placement::Write(key)) => writes.push((i, key)),
                    Ok(Placement::AlreadyThere(key)) => {
                        od.adopted.fetch_add(1, Ordering::Relaxed);
                        self.progress.event(&Event::CopyBytes {
                            dest: &od.config.name,
                            bytes: photo.size,
                        });
                        self.record_verified(od, photo, &key, 0, 0)?;
                    }
                    Err(e) => self.record_failure(od, photo, None, &e)?,
                }
            }
            if writes.is_empty() {
                return Ok(());
            }
            for (i, key) in &writes {
                let od = &self.open[*i];
                if let Some(folder) = key.parent()
                    && od.journaled.lock().unwrap().insert(folder.clone())
                {
                    self.t.catalog.journal_folder(&od.config.id, &folder)?;
                }
            }

            let targets: Vec<Target<'_>> = writes
                .iter()
                .map(|(i, key)| Target {
                    dest: self.open[*i].dest.as_ref(),
                    key: key.clone(),
                })
                .collect();
            let began = Instant::now();
            let on_bytes = |t: usize, n: u64| {
                let od = &self.open[writes[t].0];
                self.progress.event(&Event::CopyBytes {
                    dest: &od.config.name,
                    bytes: n,
                });
            };
            let results = match fan_out(&source, photo.size, &photo.hash, &targets, &on_bytes) {
                Ok(r) => r,
                Err(e) => {
                    // The original is the problem, not the destinations.
                    let class = match e {
                        SourceError::Changed { .. } => ErrorClass::Transient,
                        SourceError::Unreadable { .. } => ErrorClass::Permanent,
                    };
                    self.t
                        .catalog
                        .invalidate_file(&photo.library, &photo.path)?;
                    self.problem(Problem {
                        subject: format!("{}:{}", photo.library, photo.path),
                        message: e.to_string(),
                        class,
                    });
                    for (i, _) in &writes {
                        self.progress.event(&Event::CopyDone {
                            dest: &self.open[*i].config.name,
                            ok: false,
                        });
                    }
                    return Ok(());
                }
            };
            let millis = began.elapsed().as_millis() as u64;
            let mut retry = Vec::new();
            for ((i, key), result) in writes.iter().zip(results) {
                let od = &self.open[*i];
                match result {
                    Ok(()) => {
                        od.copied.fetch_add(1, Ordering::Relaxed);
                        od.bytes.fetch_add(photo.size, Ordering::Relaxed);
                        self.record_verified(od, photo, key, photo.size, millis)?;
                    }
                    // Taken meanwhile (a case-insensitive twin, another process): choose again.
                    Err(TargetError::Dest(DestError::AlreadyExists { .. })) => retry.push(*i),
                    Err(e) => self.record_failure(od, photo, Some(key), &e)?,
                }
            }
            if retry.is_empty() {
                return Ok(());
            }
            remaining = retry;
        }
        for &i in &remaining {
            let od = &self.open[i];
            let e = TargetError::Dest(DestError::AlreadyExists {
                dest: od.config.name.clone(),
                key: photo.path.clone(),
            });
            self.record_failure(od, photo, None, &e)?;
        }
        Ok(())
    }

    /// Chooses where `photo` goes at `od`: its earlier key or the layout's, or a
    /// distinct alternative when that name holds other bytes.
    fn place(&self, od: &OpenDest, photo: &PendingPhoto) -> Result<Placement, TargetError> {
        let first = match &photo.previous_key {
            Some(k) => k.clone(),
            None => {
                let captured = NaiveDateTime::parse_from_str(&photo.captured, CAPTURE_FORMAT)
                    .unwrap_or_default();
                od.layout.render(&LayoutInput {
                    captured,
                    source: &photo.path,
                    library: &photo.library,
                    node: &self.t.config.node,
                    kind: photo.kind,
                })
            }
        };
        let name = first.file_name().to_vec();
        let candidates = std::iter::once(Ok(first.clone())).chain(
            [8usize, 16, 64]
                .into_iter()
                .map(|n| first.with_file_name(&layout::alternate_name(&name, &photo.hash, n))),
        );
        for candidate in candidates {
            let Ok(key) = candidate else { continue };
            match od.dest.stat(&key)? {
                None => return Ok(Placement::Write(key)),
                Some(meta)
                    if meta.size == photo.size
                        && same_bytes(od.dest.as_ref(), &key, &photo.hash) =>
                {
                    return Ok(Placement::AlreadyThere(key));
                }
                Some(_) => continue,
            }
        }
        Err(TargetError::Dest(DestError::AlreadyExists {
            dest: od.config.name.clone(),
            key: first,
        }))
    }

    fn record_verified(
        &self,
        od: &OpenDest,
        photo: &PendingPhoto,
        key: &RelPath,
        bytes: u64,
        millis: u64,
    ) -> Result<(), CatalogError> {
        self.t.catalog.record_copy_verified(
            photo.photo_id,
            &od.config.id,
            key,
            &Operation {
                run: self.run,
                kind: if bytes > 0 || photo.size == 0 {
                    "copy"
                } else {
                    "adopt"
                },
                dest: Some(&od.config.name),
                photo_id: Some(photo.photo_id),
                path: Some(key),
                bytes: Some(bytes),
                duration_ms: Some(millis),
                outcome: "verified",
                message: None,
            },
        )?;
        self.progress.event(&Event::CopyDone {
            dest: &od.config.name,
            ok: true,
        });
        Ok(())
    }

    fn record_failure(
        &self,
        od: &OpenDest,
        photo: &PendingPhoto,
        key: Option<&RelPath>,
        e: &TargetError,
    ) -> Result<(), CatalogError> {
        let class = match e {
            TargetError::Dest(d) => d.class(),
            _ => ErrorClass::Transient,
        };
        let message = match e {
            TargetError::Dest(d) if !d.stops_destination() => {
                format!("{}:{} → {e}", photo.library, photo.path)
            }
            _ => e.to_string(),
        };
        od.failed.fetch_add(1, Ordering::Relaxed);
        self.t.catalog.record_copy_failed(
            photo.photo_id,
            &od.config.id,
            key,
            &message,
            class.as_str(),
            &Operation {
                run: self.run,
                kind: "copy",
                dest: Some(&od.config.name),
                photo_id: Some(photo.photo_id),
                path: key,
                bytes: None,
                duration_ms: None,
                outcome: "failed",
                message: Some(&message),
            },
        )?;
        self.progress.event(&Event::CopyDone {
            dest: &od.config.name,
            ok: false,
        });
        if let TargetError::Dest(d) = e
            && d.stops_destination()
        {
            // Only the first failure stops the destination and raises the warning.
            if !od.stopped.swap(true, Ordering::Relaxed) {
                *od.stop_reason.lock().unwrap() = Some(d.state().to_string());
                let subject = format!("dest:{}", od.config.name);
                self.t.catalog.raise_warning(
                    &subject,
                    d.state(),
                    &d.to_string(),
                    Some(class.as_str()),
                )?;
                self.progress.event(&Event::DestinationStopped {
                    dest: &od.config.name,
                    reason: d.state(),
                });
                self.problem(dest_problem(&od.config.name, &d.to_string(), class));
            }
            return Ok(());
        }
        self.problem(Problem {
            subject: format!("dest:{}", od.config.name),
            message,
            class,
        });
        Ok(())
    }
}

/// Whether the object at `key` holds exactly the bytes that hash to `hash`.
fn same_bytes(dest: &dyn WriteDestination, key: &RelPath, hash: &ContentHash) -> bool {
    verify_copy(dest, key, hash).is_ok()
}

/// Writes a manifest of the verified copies at `od` that no manifest lists yet.
fn write_manifest(t: &Triplicate, od: &OpenDest, run: &str) -> Result<Option<String>, DestError> {
    let unlisted = t
        .catalog
        .unlisted_copies(&od.config.id)
        .map_err(|e| DestError::Io {
            dest: od.config.name.clone(),
            op: "list copies for the manifest of",
            path: t.catalog.path().into(),
            source: std::io::Error::other(e.to_string()),
        })?;
    if unlisted.is_empty() {
        return Ok(None);
    }
    let when = |secs: i64| {
        chrono::DateTime::from_timestamp(secs, 0)
            .unwrap_or_default()
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    let now = chrono::Utc::now();
    let header = manifest::Header {
        kind: manifest::MANIFEST_KIND.into(),
        format: destination::FORMAT_VERSION,
        node: t.config.node.clone(),
        destination: od.config.id.clone(),
        run: run.into(),
        created: now.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    };
    let entries: Vec<manifest::Entry> = unlisted
        .iter()
        .map(|c| manifest::Entry {
            path: c.key.clone(),
            size: c.size,
            blake3: c.hash.to_hex(),
            captured: c.captured.clone(),
            kind: c.kind.clone(),
            library: c.library.clone(),
            source: c.source.clone(),
            verified_at: when(c.verified_at),
        })
        .collect();
    let bytes = manifest::encode(&header, &entries);
    let key = manifest::key(
        &t.config.node,
        &now.format("%Y%m%dT%H%M%SZ").to_string(),
        run.rsplit('-').next().unwrap_or(run),
    );
    od.dest
        .put(&key, &mut bytes.as_slice(), bytes.len() as u64)?;
    let ids: Vec<i64> = unlisted.iter().map(|c| c.photo_id).collect();
    t.catalog
        .mark_listed(&od.config.id, run, &ids)
        .map_err(|e| DestError::Io {
            dest: od.config.name.clone(),
            op: "record the manifest of",
            path: t.catalog.path().into(),
            source: std::io::Error::other(e.to_string()),
        })?;
    Ok(key.as_str().map(str::to_string))
}
