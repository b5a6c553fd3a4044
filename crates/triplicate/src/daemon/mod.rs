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
//! Beside the passes, a thread reviews the alerts every few seconds and sends what
//! changed to the notification channels ([`crate::alerts`]); each pass pings the
//! healthchecks channels at its start and end.
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
//!
//! What the service waits on is in `watch`; the jobs it runs on request between
//! passes (verify, ingest, archive) are in `jobs`.

use std::collections::HashSet;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::alerts::Ping;
use crate::engine::{self, BackupOptions, BackupReport, EngineError};
use crate::home::Triplicate;
use crate::progress::Progress;
use crate::service::{Action, JobKind, Service};

mod jobs;
mod watch;

use jobs::*;
use watch::*;

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
            // Alerts: the problems of now against those already said.
            scope.spawn(|| alerts_loop(&home, service, &stop, &done));
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

/// Runs `round` on the home, its configuration read again each time, until `stop` or
/// `done`; `round` says how long to wait before the next (1 s while the home cannot
/// be opened).
fn repeat(
    home: &crate::home::Home,
    stop: &AtomicBool,
    done: &AtomicBool,
    mut round: impl FnMut(&Triplicate) -> Duration,
) {
    let mut t: Option<Triplicate> = None;
    while !stop.load(Ordering::Relaxed) && !done.load(Ordering::Relaxed) {
        let interval = match t.as_mut() {
            None => {
                t = Triplicate::open(home).ok();
                Duration::from_secs(1)
            }
            Some(t) => {
                if let Ok(config) = crate::config::Config::load(&t.home.config) {
                    t.config = config;
                }
                round(t)
            }
        };
        let until = Instant::now() + interval;
        while Instant::now() < until
            && !stop.load(Ordering::Relaxed)
            && !done.load(Ordering::Relaxed)
        {
            std::thread::sleep(Duration::from_millis(50).min(interval));
        }
    }
}

/// Reviews the alerts ([`crate::alerts::review`]) until `stop` or `done`, often enough
/// for the shortest grace period to be kept to within a fifth (every 1 to 30 s).
fn alerts_loop(home: &crate::home::Home, service: &Service, stop: &AtomicBool, done: &AtomicBool) {
    repeat(home, stop, done, |t| {
        let alarm = service.alarm().map(|a| (a.message, a.since));
        match crate::alerts::review(t, alarm, crate::catalog::now()) {
            Ok(review) => {
                for e in &review.sent {
                    tracing::info!("told: {}", e.subject());
                }
            }
            Err(e) => tracing::warn!("alerts: {e}"),
        }
        let n = &t.config.notify;
        (n.grace.min(*n.at_risk_after) / 5).clamp(Duration::from_secs(1), Duration::from_secs(30))
    });
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
    repeat(home, stop, done, |t| {
        if !crate::grid::is_on(&t.config) {
            return Duration::from_secs(1);
        }
        grid_round(t, stop, work);
        Duration::from_secs_f64(t.config.grid.interval)
    });
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
    let mut passes = Passes {
        options,
        service,
        progress,
        observer,
        automatic: BackupOptions {
            only_automatic: true,
            settle: Some(options.settle),
            cancel: Some(stop.clone()),
            unattended: true,
            ..Default::default()
        },
        troubled: 0,
        pinger: crate::alerts::Pinger::start(),
        closed: HashSet::new(),
        last: None,
    };
    // Watch before the first pass, so that nothing written during it is missed.
    let (events_tx, events) = mpsc::channel();
    let mut watched = library_paths(&t);
    let mut watcher = watch(&t, events_tx.clone());
    // After a scheduled check's step with no change in the libraries meanwhile, the
    // next round needs no pass.
    let mut pass_due = true;
    loop {
        reload_config(&mut t);
        *mount_roots.lock().unwrap() = t.config.ingest.mount_roots.clone();
        if library_paths(&t) != watched {
            watched = library_paths(&t);
            watcher = watch(&t, events_tx.clone());
        }
        let (queued, action) = match service.next_request() {
            Some((id, action)) => (Some(id), Some(action)),
            None if pass_due => (None, Some(Action::Rescan)),
            None => (None, None),
        };
        let still_being_written = match &action {
            Some(action) => passes.run(&t, queued, action, stop)?,
            None => false,
        };
        pass_due = true;
        if options.once || stop.load(Ordering::Relaxed) {
            return Ok(passes.last);
        }
        if service.has_requests() {
            continue;
        }
        // Restore drills when due, and scheduled checks a step at a time, while there
        // is nothing else to do.
        if !still_being_written {
            run_drills(&t);
        }
        if !still_being_written && run_scrub_step(&t, service, progress) {
            pass_due = changed_meanwhile(&events, &mut passes.closed);
            continue;
        }
        let wait = if still_being_written {
            options.settle.max(Duration::from_millis(200))
        } else if passes.troubled > 0 {
            backoff(options.retry, passes.troubled, options.rescan)
        } else {
            options.rescan
        };
        if !wait_for_change(
            &events,
            watcher.is_some(),
            wait,
            options.settle,
            stop,
            &mut passes.closed,
            service,
        ) {
            return Ok(passes.last);
        }
    }
}

/// The backup passes of one service run, and what they remember between passes.
struct Passes<'a> {
    options: &'a DaemonOptions,
    service: &'a Service,
    progress: &'a dyn Progress,
    observer: &'a dyn PassObserver,
    /// The options of an automatic pass.
    automatic: BackupOptions,
    /// Consecutive passes that found a destination out of action or failing.
    troubled: u32,
    /// Healthchecks pings: each pass's start, and its success or failure.
    pinger: crate::alerts::Pinger,
    /// Files seen closed after writing since the last pass: complete, whatever their age.
    closed: HashSet<PathBuf>,
    last: Option<BackupReport>,
}

impl Passes<'_> {
    /// Runs `action`: a job asked for (verify, ingest, archive), or a backup pass.
    /// Returns whether a file was still being written.
    fn run(
        &mut self,
        t: &Triplicate,
        queued: Option<u64>,
        action: &Action,
        stop: &AtomicBool,
    ) -> Result<bool, EngineError> {
        let (service, progress) = (self.service, self.progress);
        match action {
            Action::Verify {
                sample_percent,
                repair,
            } => run_verify(t, service, queued, *sample_percent, *repair, progress),
            Action::Ingest { card } => run_ingest(t, service, queued, card, progress),
            Action::Archive { request } => run_archive(t, service, queued, request, progress, stop),
            action => return self.backup(t, queued, action),
        }
        Ok(false)
    }

    /// One backup pass: the automatic one, or a queued rescan or backup of existing
    /// photos. Returns whether a file was still being written. Fails only when the
    /// service runs once.
    fn backup(
        &mut self,
        t: &Triplicate,
        queued: Option<u64>,
        action: &Action,
    ) -> Result<bool, EngineError> {
        let mut pass = self.automatic.clone();
        pass.complete = Arc::new(std::mem::take(&mut self.closed));
        let (kind, title) = match (action, queued) {
            (Action::BackupExisting, _) => {
                pass.only_automatic = false;
                pass.unattended = false;
                (JobKind::BackupExisting, action.title())
            }
            (_, Some(_)) => (JobKind::Rescan, action.title()),
            (_, None) => (JobKind::Automatic, "Automatic backup".to_string()),
        };
        let job = self.service.start(queued, kind, &title, self.progress);
        self.pinger.ping(&t.config, Ping::Start);
        let result = engine::backup(t, &pass, &job);
        self.pinger.ping(
            &t.config,
            match &result {
                Ok(r) if r.protected() => {
                    Ping::Success(format!("{}; {}", r.summary(), r.verdict()))
                }
                Ok(r) => Ping::Fail(format!("{}; {}", r.summary(), r.verdict())),
                Err(e) => Ping::Fail(e.to_string()),
            },
        );
        match result {
            Ok(report) => {
                self.service.clear_alarm();
                job.finish(report.ok(), report.summary());
                self.observer.pass_done(&report);
                let still_being_written = report.scans.iter().any(|s| s.deferred > 0);
                let trouble = report
                    .destinations
                    .iter()
                    .any(|d| !d.state.is_ok() || d.failed > 0);
                self.troubled = if trouble { self.troubled + 1 } else { 0 };
                self.last = Some(report);
                Ok(still_being_written)
            }
            // Nothing to back up to (yet): a GRID node still scans, so that its
            // photos reach its peers; otherwise, wait for a destination.
            Err(e) if crate::fault::Classify::is_usage(&e) && !self.options.once => {
                if crate::grid::is_on(&t.config) && !t.config.libraries.is_empty() {
                    let (summary, deferred) = scan_only(t, &pass, &job);
                    job.finish(true, summary);
                    return Ok(deferred);
                }
                tracing::info!("nothing to do yet: {e}");
                job.finish(false, e.to_string());
                self.troubled += 1;
                Ok(false)
            }
            Err(e) if self.options.once => {
                job.finish(false, e.to_string());
                Err(e)
            }
            // The catalog cannot be written (its disk is full) or read: the service
            // stays up, says so, and tries again until it works.
            Err(e) => {
                tracing::error!("{e}");
                job.finish(false, e.to_string());
                self.service.raise_alarm(format!(
                    "{e}; the service keeps trying, and goes on by itself once this is fixed"
                ));
                self.troubled += 1;
                Ok(false)
            }
        }
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
