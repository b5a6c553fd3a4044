//! The service: every new photo backed up automatically, without holding up the download.
//!
//! [`run`] repeats backup passes ([`engine::backup`] to the destinations marked
//! `automatic`) and waits between them for whichever comes first:
//! - a change in a library folder (inotify through the notify crate), after the folder
//!   has been quiet for the settle time;
//! - soon after the settle time, when the last pass found a file still being written;
//! - the retry time, doubling while a destination stays out of action (not mounted,
//!   full, read-only, failing), up to the rescan interval;
//! - the rescan interval, because events can be lost (queue overflow, network shares, a
//!   folder replaced wholesale);
//! - the stop flag (SIGTERM, SIGINT), after which copies in flight finish and no new
//!   one starts;
//! - a card newly mounted under `ingest.mount_roots` (automatic ingest, opt-in): the
//!   roots are looked at every second, and each card found is ingested once per
//!   mount ([`crate::ingest`]), its verdict kept with the run for the status page,
//!   and, with `ingest.eject`, unmounted when safe.
//!
//! When this node is in a GRID (it has a token or peers), two more threads run beside
//! the passes: one publishes this node's changes and pulls its peers' every
//! `grid.interval`, one sends photos to the peers marked "sync photos"
//! ([`crate::grid`]). Photos received from peers land in the GRID library, where the
//! watcher sees them like any new photo.
//!
//! The service only reads the libraries and takes no locks there, so the camera
//! software is never held up. A file modified less than the settle time ago is left for
//! the next pass, so a photo still being written is never copied half-done; the scan's
//! own check (size and mtime before and after reading, plus the hash) catches the rest.
//! Nothing is queued in memory that the catalog does not know: what is pending is what
//! the destinations lack, so a pass after a crash or a restart picks up exactly there.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};

use crate::engine::{self, BackupOptions, BackupReport, EngineError};
use crate::home::Triplicate;
use crate::progress::Progress;
use crate::service::{Action, JobKind, Service};

/// How the service paces itself.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// One pass, then return (for cron).
    pub once: bool,
    /// How long a file must be left alone before it is backed up.
    pub settle: Duration,
    /// Wait after a pass that left something for later.
    pub retry: Duration,
    /// Full rescan at least this often, events or not.
    pub rescan: Duration,
}

impl Default for DaemonOptions {
    fn default() -> Self {
        DaemonOptions {
            once: false,
            settle: Duration::from_secs(1),
            retry: Duration::from_secs(10),
            rescan: Duration::from_secs(300),
        }
    }
}

/// What the service reports after each pass.
pub trait PassObserver {
    fn pass_done(&self, report: &BackupReport);
}

/// Runs backup passes, and the actions asked of `service`, until `stop` is set (or
/// once); returns the last pass's report, if a pass ran.
///
/// The configuration is read again before each pass, so destinations added, edited or
/// switched off (from the page or with `triplicate dest …`) take effect without a
/// restart. A configuration that no longer loads is reported and the last good one
/// kept. A service with nothing to do yet (no library, no automatic destination) keeps
/// waiting for one, except with `once`, which returns the error.
pub fn run(
    t: Triplicate,
    options: &DaemonOptions,
    service: &Service,
    progress: &dyn Progress,
    observer: &dyn PassObserver,
    stop: Arc<AtomicBool>,
) -> Result<Option<BackupReport>, EngineError> {
    // Cards are looked for beside the passes, so that one is noticed while a long
    // pass runs, and a card taken out and put back is seen as a new mount.
    let mount_roots = std::sync::Mutex::new(t.config.ingest.mount_roots.clone());
    let done = AtomicBool::new(false);
    let home = t.home.clone();
    let once = options.once;
    std::thread::scope(|scope| {
        if !once {
            scope.spawn(|| watch_cards(&mount_roots, service, &stop, &done));
            // GRID: the change log exchanged with the peers, and photos sent, each at
            // its own pace, so that a long transfer does not hold up the news.
            scope.spawn(|| grid_loop(&home, &stop, &done, GridWork::Exchange));
            scope.spawn(|| grid_loop(&home, &stop, &done, GridWork::Send));
        }
        let result = run_passes(t, options, service, progress, observer, &stop, &mount_roots);
        if once
            && let Ok(t) = Triplicate::open(&home)
            && crate::grid::is_on(&t.config)
        {
            match crate::grid::sync(&t, &stop) {
                Ok(r) => {
                    tracing::info!(
                        "GRID: published {}, learnt {} changes",
                        r.published,
                        r.pulled
                    );
                    for (peer, sent) in r
                        .sent
                        .iter()
                        .filter_map(|s| Some((&s.peer, s.report.as_ref()?)))
                    {
                        tracing::info!(
                            "GRID: sent {} photos ({} bytes) to {peer}",
                            sent.sent,
                            sent.bytes
                        );
                    }
                }
                Err(e) => tracing::warn!("GRID: {e}"),
            }
        }
        done.store(true, Ordering::Relaxed);
        result
    })
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum GridWork {
    /// Publish this node's changes and pull the peers'.
    Exchange,
    /// Send photos to the peers marked "sync photos".
    Send,
}

/// Repeats one kind of GRID work every `grid.interval` while this node is in a GRID,
/// until `stop` or `done`. The configuration is read again each round, so peers added
/// while the service runs take part at once.
fn grid_loop(home: &crate::home::Home, stop: &AtomicBool, done: &AtomicBool, work: GridWork) {
    let mut t: Option<Triplicate> = None;
    while !stop.load(Ordering::Relaxed) && !done.load(Ordering::Relaxed) {
        let mut interval = Duration::from_secs(1);
        match t.as_mut() {
            None => t = Triplicate::open(home).ok(),
            Some(t) => {
                if let Ok(config) = crate::config::Config::load(&t.home.config) {
                    t.config = config;
                }
                if crate::grid::is_on(&t.config) {
                    interval = Duration::from_secs_f64(t.config.grid.interval);
                    grid_round(t, stop, work);
                }
            }
        }
        let until = Instant::now() + interval;
        while Instant::now() < until
            && !stop.load(Ordering::Relaxed)
            && !done.load(Ordering::Relaxed)
        {
            std::thread::sleep(Duration::from_millis(50).min(interval));
        }
    }
}

fn grid_round(t: &Triplicate, stop: &AtomicBool, work: GridWork) {
    match work {
        GridWork::Exchange => match crate::grid::exchange(t) {
            Ok(r) if r.published + r.pulled > 0 => {
                tracing::info!(
                    "GRID: published {}, learnt {} changes",
                    r.published,
                    r.pulled
                );
            }
            Ok(_) => {}
            Err(e) => tracing::warn!("GRID: {e}"),
        },
        GridWork::Send => match crate::grid::send_all(t, stop) {
            Ok(results) => {
                for (peer, r) in results {
                    if let Ok(r) = r
                        && r.sent > 0
                    {
                        tracing::info!(
                            "GRID: sent {} photos ({} bytes) to {peer}",
                            r.sent,
                            r.bytes
                        );
                    }
                }
            }
            Err(e) => tracing::warn!("GRID: {e}"),
        },
    }
}

/// The loop of [`run`].
fn run_passes(
    mut t: Triplicate,
    options: &DaemonOptions,
    service: &Service,
    progress: &dyn Progress,
    observer: &dyn PassObserver,
    stop: &Arc<AtomicBool>,
    mount_roots: &std::sync::Mutex<Vec<PathBuf>>,
) -> Result<Option<BackupReport>, EngineError> {
    let automatic = BackupOptions {
        only_automatic: true,
        settle: Some(options.settle),
        cancel: Some(stop.clone()),
        unattended: true,
        ..Default::default()
    };
    // Watch before the first pass, so that nothing written during it is missed.
    let (events_tx, events) = mpsc::channel();
    let mut watched = library_paths(&t);
    let mut watcher = watch(&t, events_tx.clone());
    // Consecutive passes that found a destination out of action or failing.
    let mut troubled = 0u32;
    // Files seen closed after writing since the last pass: complete, whatever their age.
    let mut closed: HashSet<PathBuf> = HashSet::new();
    let mut last: Option<BackupReport> = None;
    loop {
        reload_config(&mut t);
        *mount_roots.lock().unwrap() = t.config.ingest.mount_roots.clone();
        if library_paths(&t) != watched {
            watched = library_paths(&t);
            watcher = watch(&t, events_tx.clone());
        }
        let (queued, action) = match service.next_request() {
            Some((id, action)) => (Some(id), action),
            None => (None, Action::Rescan),
        };
        let mut still_being_written = false;
        if let Action::Verify {
            sample_percent,
            repair,
        } = action
        {
            run_verify(&t, service, queued, sample_percent, repair, progress);
        } else if let Action::Ingest { card } = &action {
            run_ingest(&t, service, queued, card, progress);
        } else if let Action::Archive { request } = &action {
            run_archive(&t, service, queued, request, progress, stop);
        } else {
            let mut pass = automatic.clone();
            pass.complete = Arc::new(std::mem::take(&mut closed));
            let (kind, title) = match (&action, queued) {
                (Action::BackupExisting, _) => {
                    pass.only_automatic = false;
                    pass.unattended = false;
                    (JobKind::BackupExisting, action.title())
                }
                (_, Some(_)) => (JobKind::Rescan, action.title()),
                (_, None) => (JobKind::Automatic, "Automatic backup".to_string()),
            };
            let job = service.start(queued, kind, &title, progress);
            match engine::backup(&t, &pass, &job) {
                Ok(report) => {
                    service.clear_alarm();
                    job.finish(report.ok(), report.summary());
                    observer.pass_done(&report);
                    still_being_written = report.scans.iter().any(|s| s.deferred > 0);
                    let trouble = report
                        .destinations
                        .iter()
                        .any(|d| !d.state.is_ok() || d.failed > 0);
                    troubled = if trouble { troubled + 1 } else { 0 };
                    last = Some(report);
                }
                // Nothing to back up to (yet): a GRID node still scans, so that its
                // photos reach its peers; otherwise, wait for a destination.
                Err(e) if crate::fault::Classify::is_usage(&e) && !options.once => {
                    if crate::grid::is_on(&t.config) && !t.config.libraries.is_empty() {
                        let (summary, deferred) = scan_only(&t, &pass, &job);
                        still_being_written = deferred;
                        job.finish(true, summary);
                    } else {
                        tracing::info!("nothing to do yet: {e}");
                        job.finish(false, e.to_string());
                        troubled += 1;
                    }
                }
                Err(e) if options.once => {
                    job.finish(false, e.to_string());
                    return Err(e);
                }
                // The catalog cannot be written (its disk is full) or read: the service
                // stays up, says so, and tries again until it works.
                Err(e) => {
                    tracing::error!("{e}");
                    job.finish(false, e.to_string());
                    service.raise_alarm(format!(
                        "{e}; the service keeps trying, and goes on by itself once this is fixed"
                    ));
                    troubled += 1;
                }
            }
        }
        if options.once || stop.load(Ordering::Relaxed) {
            return Ok(last);
        }
        if service.has_requests() {
            continue;
        }
        let wait = if still_being_written {
            options.settle.max(Duration::from_millis(200))
        } else if troubled > 0 {
            backoff(options.retry, troubled, options.rescan)
        } else {
            options.rescan
        };
        if !wait_for_change(
            &events,
            watcher.is_some(),
            wait,
            options.settle,
            stop,
            &mut closed,
            service,
        ) {
            return Ok(last);
        }
    }
}

/// Scans every library without backing up (a GRID node without destinations of its
/// own); returns a summary and whether a file was left for later.
fn scan_only(t: &Triplicate, pass: &BackupOptions, progress: &dyn Progress) -> (String, bool) {
    let mut found = 0;
    let mut deferred = false;
    for lib in &t.config.libraries {
        let options = crate::scan::ScanOptions {
            settle: pass.settle,
            complete: pass.complete.clone(),
            ..crate::scan::ScanOptions::of(&t.config)
        };
        match crate::scan::scan_library(&t.catalog, lib, options, progress, &mut |_| {}) {
            Ok(r) => {
                found += r.hashed;
                deferred |= r.deferred > 0;
            }
            Err(e) => tracing::warn!("{e}"),
        }
    }
    (
        format!("no destination of its own: scanned for GRID, {found} new or changed files"),
        deferred,
    )
}

/// "Verify now", asked from the page.
fn run_verify(
    t: &Triplicate,
    service: &Service,
    queued: Option<u64>,
    sample_percent: Option<f64>,
    repair: bool,
    progress: &dyn Progress,
) {
    let title = Action::Verify {
        sample_percent,
        repair,
    }
    .title();
    let job = service.start(queued, JobKind::Verify, &title, progress);
    let options = crate::verify::VerifyOptions {
        sample_percent,
        repair,
        library: true,
        ..Default::default()
    };
    match crate::verify::verify(t, &options, &job) {
        Ok(report) => job.finish(report.ok(), report.summary()),
        Err(e) => job.finish(false, e.to_string()),
    }
}

/// Writes an archive the page asked for; stopping the service stops it (the `post`
/// hook still runs).
fn run_archive(
    t: &Triplicate,
    service: &Service,
    queued: Option<u64>,
    request: &crate::archive::Request,
    progress: &dyn Progress,
    stop: &AtomicBool,
) {
    let title = Action::Archive {
        request: request.clone(),
    }
    .title();
    let job = service.start(queued, JobKind::Archive, &title, progress);
    match crate::archive::create(t, request, &job, stop) {
        Ok(created) => {
            let mut summary = format!(
                "Archive {} written: {} files, {} bytes",
                created.id,
                created.manifest.files.len(),
                created.size
            );
            for w in &created.warnings {
                summary.push_str(&format!("; {w}"));
            }
            job.finish(true, summary)
        }
        Err(e) => job.finish(false, e.to_string()),
    }
}

/// Ingests a card automatic ingest found.
fn run_ingest(
    t: &Triplicate,
    service: &Service,
    queued: Option<u64>,
    card: &std::path::Path,
    progress: &dyn Progress,
) {
    let action = Action::Ingest { card: card.into() };
    let job = service.start(queued, JobKind::Ingest, &action.title(), progress);
    let options = crate::ingest::IngestOptions {
        card: card.into(),
        ..Default::default()
    };
    match crate::ingest::ingest(t, &options, &job) {
        Ok(report) => {
            let mut summary = if report.verdict.safe {
                format!("{}: {} files, SAFE TO FORMAT", report.label, report.files)
            } else {
                format!(
                    "{}: {} files, NOT SAFE TO FORMAT: {}",
                    report.label,
                    report.files,
                    report.verdict.reasons.first().map_or("", String::as_str)
                )
            };
            if report.verdict.safe && t.config.ingest.eject {
                match crate::fsutil::unmount(card) {
                    Ok(()) => summary.push_str("; the card was unmounted"),
                    Err(e) => summary.push_str(&format!("; the card could not be unmounted: {e}")),
                }
            }
            tracing::info!("{summary}");
            job.finish(report.verdict.safe, summary);
        }
        Err(e) => {
            tracing::warn!("ingest of {} failed: {e}", card.display());
            job.finish(false, e.to_string());
        }
    }
}

/// Looks at `roots` every second until `stop` or `done`, and asks `service` to ingest
/// each card newly mounted there: once per mount, since a card stays mounted after its
/// ingest.
fn watch_cards(
    roots: &std::sync::Mutex<Vec<PathBuf>>,
    service: &Service,
    stop: &AtomicBool,
    done: &AtomicBool,
) {
    // Mount point → device, of the cards mounted at the last look.
    let mut seen: HashMap<PathBuf, u64> = HashMap::new();
    while !stop.load(Ordering::Relaxed) && !done.load(Ordering::Relaxed) {
        let roots = roots.lock().unwrap().clone();
        let mounted: HashMap<PathBuf, u64> = crate::ingest::card::mounted_cards(&roots)
            .into_iter()
            .collect();
        for (card, dev) in &mounted {
            if seen.get(card) != Some(dev) {
                tracing::info!("card found at {}: ingesting it", card.display());
                service.request(Action::Ingest { card: card.clone() });
            }
        }
        seen = mounted;
        std::thread::sleep(Duration::from_millis(if roots.is_empty() {
            250
        } else {
            1000
        }));
    }
}

/// Reads the configuration again if it loads; keeps the old one (and says why) if not.
fn reload_config(t: &mut Triplicate) {
    match crate::config::Config::load(&t.home.config) {
        Ok(config) => t.config = config,
        Err(e) => {
            tracing::warn!("the configuration no longer loads, keeping the last good one: {e}");
            let _ = t.catalog.raise_warning(
                "config",
                "invalid",
                &format!("{e}; the service keeps running with the last good configuration"),
                Some("needs-attention"),
            );
            return;
        }
    }
    let _ = t.catalog.resolve_warnings("config", &["invalid"]);
}

fn library_paths(t: &Triplicate) -> Vec<PathBuf> {
    t.config.libraries.iter().map(|l| l.path.clone()).collect()
}

/// `retry` × 2ⁿ⁻¹ for the n-th troubled pass in a row, at most `cap`, with ±20 %
/// jitter so that many nodes do not knock on a shared destination in step.
fn backoff(retry: Duration, n: u32, cap: Duration) -> Duration {
    let base = retry
        .saturating_mul(1 << n.saturating_sub(1).min(16))
        .min(cap);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .subsec_nanos();
    let jitter = 0.8 + 0.4 * (nanos % 1000) as f64 / 1000.0;
    base.mul_f64(jitter)
}

/// Watches every library folder, recursively. Without a watcher (inotify limits, a
/// filesystem without events) the periodic rescan still finds everything.
fn watch(
    t: &Triplicate,
    events: mpsc::Sender<notify::Result<notify::Event>>,
) -> Option<notify::RecommendedWatcher> {
    let mut watcher = match notify::recommended_watcher(events) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!("cannot watch the libraries ({e}); relying on the periodic rescan");
            return None;
        }
    };
    for lib in &t.config.libraries {
        if let Err(e) = watcher.watch(&lib.path, RecursiveMode::Recursive) {
            tracing::warn!(library = %lib.name, "cannot watch {} ({e}); relying on the periodic rescan", lib.path.display());
        }
    }
    Some(watcher)
}

/// Waits until `settle` after the first change in the libraries, or until `wait` has
/// passed. A steady stream of new photos (a tethered shoot) must not postpone the pass:
/// files still being written are left for the next pass by their own mtime, so there
/// is no need to wait for the folders to fall quiet. A file closed after writing is
/// complete: it is added to `closed`, and the pass starts after a short debounce
/// instead of the settle time. Returns false when asked to stop.
fn wait_for_change(
    events: &mpsc::Receiver<notify::Result<notify::Event>>,
    watching: bool,
    wait: Duration,
    settle: Duration,
    stop: &AtomicBool,
    closed: &mut HashSet<PathBuf>,
    service: &Service,
) -> bool {
    // Closes come in bursts (a card copied in): gather them for a moment.
    let debounce = Duration::from_millis(100).min(settle);
    let tick = Duration::from_millis(100).min(debounce.max(Duration::from_millis(10)));
    let deadline = Instant::now() + wait;
    let mut changed_at: Option<Instant> = None;
    loop {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        if service.has_requests() {
            return true;
        }
        let now = Instant::now();
        let due = match changed_at {
            Some(at) if !closed.is_empty() => now.duration_since(at) >= debounce,
            Some(at) => now.duration_since(at) >= settle,
            None => false,
        };
        if due || now >= deadline {
            return true;
        }
        if !watching {
            std::thread::sleep(tick);
            continue;
        }
        match events.recv_timeout(tick) {
            Ok(Ok(event)) if is_content_change(&event) => {
                if is_closed_after_writing(&event) {
                    closed.extend(event.paths.iter().cloned());
                }
                changed_at.get_or_insert_with(Instant::now);
            }
            Ok(Ok(_)) => {}
            // The kernel dropped events (queue overflow): rescan soon.
            Ok(Err(_)) => {
                changed_at.get_or_insert_with(Instant::now);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => std::thread::sleep(tick),
        }
    }
}

/// A file closed after being written: complete, as far as its writer is concerned.
fn is_closed_after_writing(event: &notify::Event) -> bool {
    use notify::event::{AccessKind, AccessMode, EventKind};
    matches!(
        event.kind,
        EventKind::Access(AccessKind::Close(AccessMode::Write))
    )
}

/// Creations, writes, closes after writing, renames and removals; not reads.
fn is_content_change(event: &notify::Event) -> bool {
    use notify::EventKind;
    let ours = event.paths.iter().all(|p: &PathBuf| {
        p.components()
            .any(|c| c.as_os_str() == crate::destination::META_DIR)
    });
    !ours
        && (is_closed_after_writing(event)
            || matches!(
                event.kind,
                EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) | EventKind::Any
            ))
}
