//! The running service's shared state: the jobs it runs, the actions asked of it, and
//! the changes it announces.
//!
//! `triplicate run` owns one [`Service`]. The daemon loop ([`crate::daemon::run`]) is
//! its only worker: automatic passes and requested [`Action`]s ("back up existing
//! photos", "verify now", "rescan") run one after another, because each of them takes
//! the destinations' write locks. The server reads the jobs ([`Service::jobs`]), asks
//! for actions ([`Service::request`]) and subscribes to [`Change`]s, which it pushes to
//! the page as Server-Sent Events.
//!
//! A job's progress is a [`JobProgress`]: the [`Progress`] the engine reports to,
//! which keeps the job's counters, its speed over the last seconds and its ETA, and
//! announces them a few times a second at most. [`Monitor`] notices what happens
//! outside the jobs: a disk unplugged or full between passes, operations logged by
//! another process (`triplicate backup` in a terminal), an edited configuration.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

use serde::Serialize;
use tokio::sync::broadcast;

use crate::catalog::CatalogError;
use crate::destination;
use crate::home::Triplicate;
use crate::progress::{Event, Progress};
use crate::vocab::DestState;

/// Something the page (or the API) asks the service to do.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// "Back up existing photos": a full backup to every enabled destination, manual
    /// ones included, trying again what needed a person.
    BackupExisting,
    /// "Verify now": re-read a share (or all) of the copies from the devices.
    Verify {
        sample_percent: Option<f64>,
        repair: bool,
    },
    /// Scan the libraries now instead of waiting for a change or the rescan time.
    Rescan,
    /// Ingest the card mounted at `card` (automatic ingest found it).
    Ingest { card: std::path::PathBuf },
    /// Write an archive (the page's Create Backup dialog).
    Archive { request: crate::archive::Request },
}

impl Action {
    pub fn title(&self) -> String {
        match self {
            Action::BackupExisting => "Back up existing photos".into(),
            Action::Verify {
                sample_percent: Some(p),
                ..
            } => format!("Verify {p}% of the copies"),
            Action::Verify { .. } => "Verify every copy".into(),
            Action::Rescan => "Rescan the libraries".into(),
            Action::Ingest { card } => format!("Ingest the card at {}", card.display()),
            Action::Archive { request } => match request.kind {
                crate::archive::Kind::Config => "Archive the configuration".into(),
                crate::archive::Kind::Images => "Archive the images".into(),
            },
        }
    }
}

/// Where a job is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Done,
    Failed,
}

impl JobState {
    pub fn is_finished(self) -> bool {
        matches!(self, JobState::Done | JobState::Failed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
        }
    }
}

/// As the page reads it: `state == "running"`.
impl PartialEq<&str> for JobState {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// What a job does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    /// A pass of automatic backup (photos that arrived).
    Automatic,
    BackupExisting,
    Verify,
    Rescan,
    Ingest,
    Archive,
}

/// One job, as the page shows it.
#[derive(Debug, Clone, Serialize)]
pub struct JobInfo {
    pub id: u64,
    pub kind: JobKind,
    pub title: String,
    pub state: JobState,
    /// scanning, copying, verifying: what the running job is doing now.
    pub phase: String,
    /// Unix seconds.
    pub requested_at: i64,
    pub started_at: Option<i64>,
    pub finished_at: Option<i64>,
    pub files_planned: u64,
    pub files_done: u64,
    pub files_failed: u64,
    pub bytes_planned: u64,
    pub bytes_done: u64,
    /// Bytes read while scanning (hashing new photos).
    pub bytes_scanned: u64,
    /// Bytes per second over the last few seconds.
    pub speed: f64,
    /// Seconds left at that speed, when there is something left and a speed.
    pub eta_seconds: Option<u64>,
    /// Destinations written or read in the last seconds.
    pub active_destinations: Vec<String>,
    pub problems: u64,
    /// One line on how it ended.
    pub summary: Option<String>,
    /// The stages of a staged job (an archive), and the one running (from 0).
    pub stages: Vec<String>,
    pub stage: Option<usize>,
    /// What went wrong without stopping it.
    pub warnings: Vec<String>,
}

/// What changed, announced to subscribers (the page, through SSE).
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Change {
    /// A job was queued, progressed, or ended.
    Job { job: Box<JobInfo> },
    /// Destinations' states, counts or coverage may have changed.
    Status,
    /// New operations were logged, up to this id.
    Operations { last_id: i64 },
    /// Warnings were raised, resolved or acknowledged.
    Warnings,
    /// The configuration file changed.
    Config,
}

impl Change {
    /// The SSE event name.
    pub fn name(&self) -> &'static str {
        match self {
            Change::Job { .. } => "job",
            Change::Status => "status",
            Change::Operations { .. } => "operations",
            Change::Warnings => "warnings",
            Change::Config => "config",
        }
    }
}

/// Finished jobs kept for the page.
const JOBS_KEPT: usize = 30;
/// A destination counts as "backing up" this long after its last byte.
const ACTIVE_FOR: Duration = Duration::from_secs(3);
/// Progress is announced at most this often per job.
const ANNOUNCE_EVERY: Duration = Duration::from_millis(250);
/// Speed is measured over this window.
const SPEED_WINDOW: Duration = Duration::from_secs(5);

/// What moved through one destination since the service started (for `/metrics`).
#[derive(Debug, Clone, Default, Serialize)]
pub struct Throughput {
    /// Bytes written by backup jobs.
    pub bytes_copied: u64,
    /// Bytes read back by verify jobs.
    pub bytes_verified: u64,
    /// Copies or checks that failed.
    pub failures: u64,
}

/// Something that keeps the service from doing its work, which it cannot record in
/// the catalog (the catalog is what fails): held in memory, shown by the API, the
/// page and `/metrics`, and gone at the first pass that works again.
#[derive(Debug, Clone, Serialize)]
pub struct Alarm {
    pub message: String,
    /// Unix seconds when it was first raised.
    pub since: i64,
}

/// The shared state of `triplicate run`.
pub struct Service {
    alarm: Mutex<Option<Alarm>>,
    board: Mutex<Board>,
    throughput: Mutex<HashMap<String, Throughput>>,
    changes: broadcast::Sender<Change>,
    next_id: AtomicU64,
    started: SystemTime,
}

#[derive(Default)]
struct Board {
    queue: VecDeque<(u64, Action)>,
    /// Newest last.
    jobs: VecDeque<JobInfo>,
}

impl Default for Service {
    fn default() -> Self {
        Service::new()
    }
}

impl Service {
    pub fn new() -> Service {
        let (changes, _) = broadcast::channel(1024);
        Service {
            alarm: Mutex::new(None),
            board: Mutex::new(Board::default()),
            throughput: Mutex::new(HashMap::new()),
            changes,
            next_id: AtomicU64::new(1),
            started: SystemTime::now(),
        }
    }

    /// When the service started.
    pub fn started(&self) -> SystemTime {
        self.started
    }

    /// The alarm standing, if any.
    pub fn alarm(&self) -> Option<Alarm> {
        self.alarm.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Raises `message` as the alarm (keeping when the first one was raised).
    pub fn raise_alarm(&self, message: String) {
        let mut alarm = self.alarm.lock().unwrap_or_else(|p| p.into_inner());
        let since = alarm.as_ref().map_or_else(crate::catalog::now, |a| a.since);
        *alarm = Some(Alarm { message, since });
        drop(alarm);
        self.announce(Change::Status);
    }

    /// Ends the alarm standing, if any.
    pub fn clear_alarm(&self) {
        let was = self.alarm.lock().unwrap_or_else(|p| p.into_inner()).take();
        if was.is_some() {
            tracing::info!("the service works again");
            self.announce(Change::Status);
        }
    }

    /// Queues an action; an identical one already queued is not queued twice.
    pub fn request(&self, action: Action) -> JobInfo {
        let mut board = self.lock();
        if let Some((id, _)) = board.queue.iter().find(|(_, a)| *a == action)
            && let Some(job) = board.jobs.iter().find(|j| j.id == *id)
        {
            return job.clone();
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let job = new_job(id, kind_of(&action), action.title());
        board.queue.push_back((id, action));
        push_job(&mut board, job.clone());
        drop(board);
        self.announce(Change::Job {
            job: Box::new(job.clone()),
        });
        job
    }

    /// Whether an action is waiting.
    pub fn has_requests(&self) -> bool {
        !self.lock().queue.is_empty()
    }

    /// The oldest waiting action, taken off the queue.
    pub fn next_request(&self) -> Option<(u64, Action)> {
        self.lock().queue.pop_front()
    }

    /// Starts a job: a queued one (by id), or a new one of this kind.
    pub fn start<'a>(
        &'a self,
        queued: Option<u64>,
        kind: JobKind,
        title: &str,
        forward: &'a dyn Progress,
    ) -> JobProgress<'a> {
        let id = queued.unwrap_or_else(|| self.next_id.fetch_add(1, Ordering::Relaxed));
        let mut board = self.lock();
        let now = crate::catalog::now();
        let job = match board.jobs.iter_mut().find(|j| j.id == id) {
            Some(job) => job,
            None => {
                let job = new_job(id, kind, title.to_string());
                push_job(&mut board, job);
                board.jobs.back_mut().expect("just pushed")
            }
        };
        job.state = JobState::Running;
        job.phase = "scanning".into();
        job.started_at = Some(now);
        let snapshot = job.clone();
        let snapshot_kind = snapshot.kind;
        drop(board);
        self.announce(Change::Job {
            job: Box::new(snapshot),
        });
        JobProgress {
            service: self,
            id,
            kind: snapshot_kind,
            forward,
            live: Mutex::new(Live {
                samples: VecDeque::new(),
                last_announce: None,
                touched: HashMap::new(),
            }),
        }
    }

    /// Running and queued jobs first, then finished ones, newest first.
    pub fn jobs(&self) -> Vec<JobInfo> {
        let board = self.lock();
        let mut jobs: Vec<JobInfo> = board.jobs.iter().rev().cloned().collect();
        jobs.sort_by_key(|j| match j.state {
            JobState::Running => 0,
            JobState::Queued => 1,
            JobState::Done | JobState::Failed => 2,
        });
        jobs
    }

    pub fn job(&self, id: u64) -> Option<JobInfo> {
        self.lock().jobs.iter().find(|j| j.id == id).cloned()
    }

    /// Destinations the running job touched in the last seconds.
    pub fn active_destinations(&self) -> Vec<String> {
        self.lock()
            .jobs
            .iter()
            .filter(|j| j.state == JobState::Running)
            .flat_map(|j| j.active_destinations.iter().cloned())
            .collect()
    }

    /// Per destination, what moved since the service started.
    pub fn throughput(&self) -> HashMap<String, Throughput> {
        self.throughput
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    fn count(&self, dest: &str, f: impl FnOnce(&mut Throughput)) {
        let mut all = self.throughput.lock().unwrap_or_else(|p| p.into_inner());
        f(all.entry(dest.to_string()).or_default());
    }

    pub fn subscribe(&self) -> broadcast::Receiver<Change> {
        self.changes.subscribe()
    }

    /// Tells every subscriber; nobody listening is fine.
    pub fn announce(&self, change: Change) {
        let _ = self.changes.send(change);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Board> {
        self.board.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn update(&self, id: u64, f: impl FnOnce(&mut JobInfo)) -> Option<JobInfo> {
        let mut board = self.lock();
        let job = board.jobs.iter_mut().find(|j| j.id == id)?;
        f(job);
        Some(job.clone())
    }
}

fn kind_of(action: &Action) -> JobKind {
    match action {
        Action::BackupExisting => JobKind::BackupExisting,
        Action::Verify { .. } => JobKind::Verify,
        Action::Rescan => JobKind::Rescan,
        Action::Ingest { .. } => JobKind::Ingest,
        Action::Archive { .. } => JobKind::Archive,
    }
}

fn new_job(id: u64, kind: JobKind, title: String) -> JobInfo {
    JobInfo {
        id,
        kind,
        title,
        state: JobState::Queued,
        phase: String::new(),
        requested_at: crate::catalog::now(),
        started_at: None,
        finished_at: None,
        files_planned: 0,
        files_done: 0,
        files_failed: 0,
        bytes_planned: 0,
        bytes_done: 0,
        bytes_scanned: 0,
        speed: 0.0,
        eta_seconds: None,
        active_destinations: Vec::new(),
        problems: 0,
        summary: None,
        stages: Vec::new(),
        stage: None,
        warnings: Vec::new(),
    }
}

/// Adds a job, dropping the oldest finished ones beyond [`JOBS_KEPT`].
fn push_job(board: &mut Board, job: JobInfo) {
    board.jobs.push_back(job);
    while board.jobs.len() > JOBS_KEPT {
        match board.jobs.iter().position(|j| j.state.is_finished()) {
            Some(i) => {
                board.jobs.remove(i);
            }
            None => break,
        }
    }
}

/// The progress of one running job: counts, speed and ETA, announced as they change.
pub struct JobProgress<'a> {
    service: &'a Service,
    id: u64,
    kind: JobKind,
    forward: &'a dyn Progress,
    live: Mutex<Live>,
}

struct Live {
    /// (when, bytes done) over the last [`SPEED_WINDOW`].
    samples: VecDeque<(Instant, u64)>,
    last_announce: Option<Instant>,
    /// When each destination last moved bytes.
    touched: HashMap<String, Instant>,
}

impl JobProgress<'_> {
    pub fn id(&self) -> u64 {
        self.id
    }

    /// Ends the job: `ok` false marks it failed. Always announced.
    pub fn finish(self, ok: bool, summary: String) {
        let now = crate::catalog::now();
        if let Some(job) = self.service.update(self.id, |j| {
            j.state = if ok { JobState::Done } else { JobState::Failed };
            j.phase.clear();
            j.finished_at = Some(now);
            j.speed = 0.0;
            j.eta_seconds = None;
            j.active_destinations.clear();
            j.summary = Some(summary);
        }) {
            self.service.announce(Change::Job { job: Box::new(job) });
        }
        self.service.announce(Change::Status);
    }

    fn record(&self, event: &Event<'_>) {
        let now = Instant::now();
        match event {
            Event::WorkBytes { dest, bytes } if self.kind == JobKind::Verify => {
                self.service.count(dest, |t| t.bytes_verified += bytes)
            }
            Event::WorkBytes { dest, bytes } => {
                self.service.count(dest, |t| t.bytes_copied += bytes)
            }
            Event::WorkDone { dest, ok: false } => self.service.count(dest, |t| t.failures += 1),
            _ => {}
        }
        let mut live = self.live.lock().unwrap_or_else(|p| p.into_inner());
        let mut urgent = false;
        let job = self.service.update(self.id, |j| {
            match event {
                Event::ScanStarted { .. } => j.phase = "scanning".into(),
                Event::ScanHashed { bytes, .. } => j.bytes_scanned += bytes,
                Event::ScanFinished { .. } => {}
                Event::WorkPlanned { files, bytes, .. } => {
                    j.files_planned += files;
                    j.bytes_planned += bytes;
                }
                Event::WorkBytes { dest, bytes } => {
                    if j.phase == "scanning" {
                        j.phase = if self.kind == JobKind::Verify {
                            "verifying"
                        } else {
                            "copying"
                        }
                        .into();
                    }
                    j.bytes_done += bytes;
                    live.touched.insert(dest.to_string(), now);
                }
                Event::WorkDone { ok, .. } => {
                    j.files_done += 1;
                    if !ok {
                        j.files_failed += 1;
                    }
                }
                Event::DestinationStopped { .. } => urgent = true,
                Event::Problem(_) => {
                    j.problems += 1;
                    urgent = true;
                }
                Event::StagesPlanned { stages } => {
                    j.stages = stages.to_vec();
                    urgent = true;
                }
                Event::StageStarted { index, text } => {
                    j.stage = Some(*index);
                    j.phase = text.to_string();
                    // Each stage's percentage starts from nothing.
                    j.bytes_planned = 0;
                    j.bytes_done = 0;
                    live.samples.clear();
                    urgent = true;
                }
                Event::StageBytesPlanned { bytes } => j.bytes_planned += bytes,
                Event::StageBytes { bytes } => j.bytes_done += bytes,
                Event::Warning { message } => {
                    j.warnings.push(message.to_string());
                    urgent = true;
                }
            }
            live.samples.push_back((now, j.bytes_done));
            while live
                .samples
                .front()
                .is_some_and(|(at, _)| now.duration_since(*at) > SPEED_WINDOW)
                && live.samples.len() > 2
            {
                live.samples.pop_front();
            }
            let (t0, b0) = *live.samples.front().expect("just pushed");
            let elapsed = now.duration_since(t0).as_secs_f64();
            j.speed = if elapsed > 0.2 {
                (j.bytes_done - b0) as f64 / elapsed
            } else {
                j.speed
            };
            let left = j.bytes_planned.saturating_sub(j.bytes_done);
            j.eta_seconds =
                (j.speed > 0.0 && left > 0).then(|| (left as f64 / j.speed).ceil() as u64);
            live.touched
                .retain(|_, at| now.duration_since(*at) < ACTIVE_FOR);
            let mut active: Vec<String> = live.touched.keys().cloned().collect();
            active.sort();
            j.active_destinations = active;
        });
        let due = live
            .last_announce
            .is_none_or(|at| now.duration_since(at) >= ANNOUNCE_EVERY);
        if let Some(job) = job
            && (due || urgent)
        {
            live.last_announce = Some(now);
            drop(live);
            self.service.announce(Change::Job { job: Box::new(job) });
            if urgent {
                self.service.announce(Change::Status);
                self.service.announce(Change::Warnings);
            }
        }
    }
}

impl Progress for JobProgress<'_> {
    fn event(&self, event: &Event<'_>) {
        self.record(event);
        self.forward.event(event);
    }
}

/// Notices changes made outside the jobs, by looking: destinations' markers and space,
/// the operations log, the warnings, the configuration file. Call [`Monitor::check`]
/// every second or so.
#[derive(Default)]
pub struct Monitor {
    states: HashMap<String, DestState>,
    last_operation: i64,
    warnings: Vec<(i64, i64)>,
    config_modified: Option<SystemTime>,
    primed: bool,
    returned: Vec<String>,
    remote_checked: HashMap<String, Instant>,
}

/// How often [`Monitor`] asks a remote store whether it is there.
const REMOTE_EVERY: Duration = Duration::from_secs(30);

/// Warning kinds that a readable marker disproves.
const MARKER_KINDS: &[&str] = &["not mounted", "wrong disk", "damaged marker"];

impl Monitor {
    /// Destinations that came back (plugged in, mounted) since the last call: worth a
    /// pass now rather than at the end of the retry back-off.
    pub fn take_returned(&mut self) -> Vec<String> {
        std::mem::take(&mut self.returned)
    }

    /// Checks once; raises or resolves "not mounted"-like warnings for destinations
    /// whose marker appeared or vanished, and returns what changed since last time.
    pub fn check(&mut self, t: &Triplicate) -> Result<Vec<Change>, CatalogError> {
        let mut changes = Vec::new();
        let modified = std::fs::metadata(&t.home.config)
            .and_then(|m| m.modified())
            .ok();
        if self.primed && modified != self.config_modified {
            changes.push(Change::Config);
        }
        self.config_modified = modified;

        // The configuration may have changed under us: read it afresh.
        let config = crate::config::Config::load(&t.home.config).unwrap_or(t.config.clone());
        let mut states = HashMap::new();
        for d in config.destinations.iter().filter(|d| d.enabled) {
            let subject = format!("dest:{}", d.name);
            // A remote store is asked over the network: not every second.
            if d.is_remote()
                && let (Some(at), Some(state)) =
                    (self.remote_checked.get(&d.name), self.states.get(&d.name))
                && at.elapsed() < REMOTE_EVERY
            {
                states.insert(d.name.clone(), *state);
                continue;
            }
            if d.is_remote() {
                self.remote_checked.insert(d.name.clone(), Instant::now());
            }
            let state = match destination::probe(d) {
                Ok(_) => {
                    if self.states.get(&d.name).is_some_and(|s| !s.is_ok()) {
                        t.catalog.resolve_warnings(&subject, MARKER_KINDS)?;
                        self.returned.push(d.name.clone());
                    }
                    match crate::fsutil::space(&d.local_root()) {
                        Ok(s) if s.free == 0 => DestState::Full,
                        _ => DestState::Ok,
                    }
                }
                // A cold destination away in its drawer is where it should be.
                Err(destination::DestError::NotMounted { .. }) if d.offline => DestState::Offline,
                Err(e) => {
                    if self.states.get(&d.name) != Some(&e.state()) {
                        t.catalog.raise_destination_warning(&d.name, &e)?;
                    }
                    e.state()
                }
            };
            states.insert(d.name.clone(), state);
        }
        if config.destinations.iter().any(|d| d.offline) {
            crate::cold::remind_cold(&t.catalog, &config)?;
        }
        if self.primed && states != self.states {
            changes.push(Change::Status);
        }
        self.states = states;

        let last = t
            .catalog
            .operations(0, 1, false)?
            .last()
            .map(|o| o.id)
            .unwrap_or(0);
        if self.primed && last != self.last_operation {
            changes.push(Change::Operations { last_id: last });
            changes.push(Change::Status);
        }
        self.last_operation = last;

        let warnings: Vec<(i64, i64)> = t
            .catalog
            .open_warnings()?
            .iter()
            .map(|w| (w.id, w.count))
            .collect();
        if self.primed && warnings != self.warnings {
            changes.push(Change::Warnings);
            changes.push(Change::Status);
        }
        self.warnings = warnings;
        self.primed = true;
        changes.dedup_by(|a, b| a.name() == b.name());
        Ok(changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::progress::NoProgress;

    #[test]
    fn requests_queue_once_and_jobs_progress() {
        let s = Service::new();
        let mut rx = s.subscribe();
        let a = s.request(Action::Rescan);
        let b = s.request(Action::Rescan);
        assert_eq!(a.id, b.id, "an identical queued action is not queued twice");
        let v = s.request(Action::Verify {
            sample_percent: Some(5.0),
            repair: true,
        });
        assert_ne!(v.id, a.id);
        assert!(matches!(rx.try_recv(), Ok(Change::Job { job }) if job.state == "queued"));

        let (id, action) = s.next_request().unwrap();
        assert_eq!((id, action), (a.id, Action::Rescan));
        let job = s.start(Some(id), JobKind::Rescan, "Rescan", &NoProgress);
        job.event(&Event::WorkPlanned {
            dest: "usb",
            files: 2,
            bytes: 2000,
        });
        job.event(&Event::WorkBytes {
            dest: "usb",
            bytes: 1000,
        });
        job.event(&Event::WorkDone {
            dest: "usb",
            ok: true,
        });
        let now = s.job(id).unwrap();
        assert_eq!(now.state, "running");
        assert_eq!((now.files_planned, now.files_done), (2, 1));
        assert_eq!((now.bytes_planned, now.bytes_done), (2000, 1000));
        assert_eq!(now.active_destinations, vec!["usb".to_string()]);
        assert_eq!(s.active_destinations(), vec!["usb".to_string()]);
        assert_eq!(s.throughput()["usb"].bytes_copied, 1000);
        assert_eq!(s.jobs()[0].id, id, "the running job comes first");
        job.finish(true, "1 copied".into());
        let done = s.job(id).unwrap();
        assert_eq!(done.state, "done");
        assert!(done.active_destinations.is_empty());
        assert_eq!(done.summary.as_deref(), Some("1 copied"));
        assert!(s.has_requests(), "the verify is still queued");
    }

    #[test]
    fn the_monitor_notices_a_disk_unplugged_and_plugged_back_between_passes() {
        use crate::destination::MediaKind;
        let dir = tempfile::tempdir().unwrap();
        let (lib, usb) = (dir.path().join("photos"), dir.path().join("usb"));
        std::fs::create_dir_all(&lib).unwrap();
        std::fs::create_dir_all(&usb).unwrap();
        let home = crate::home::Home::in_dir(&dir.path().join("home"));
        crate::setup::init(&home, "n", &[lib]).unwrap();
        let new = crate::setup::NewDestination::new(
            "usb",
            usb.to_str().unwrap(),
            MediaKind::Hdd,
            "onsite",
        );
        crate::setup::add_destination(&home, "n", &new).unwrap();
        let t = Triplicate::open(&home).unwrap();
        let mut m = Monitor::default();
        assert!(
            m.check(&t).unwrap().is_empty(),
            "the first look only primes"
        );
        assert!(m.check(&t).unwrap().is_empty(), "nothing changed");

        std::fs::rename(&usb, dir.path().join("usb-away")).unwrap();
        let changes = m.check(&t).unwrap();
        assert!(
            changes.iter().any(|c| matches!(c, Change::Status)),
            "{changes:?}"
        );
        let warnings = t.catalog.open_warnings().unwrap();
        assert_eq!(warnings.len(), 1);
        assert_eq!(
            (warnings[0].subject.as_str(), warnings[0].kind.as_str()),
            ("dest:usb", "not mounted")
        );
        assert!(m.take_returned().is_empty());
        m.check(&t).unwrap();
        assert_eq!(
            t.catalog.open_warnings().unwrap()[0].count,
            1,
            "raised once, not every second"
        );

        std::fs::rename(dir.path().join("usb-away"), &usb).unwrap();
        let changes = m.check(&t).unwrap();
        assert!(
            changes.iter().any(|c| matches!(c, Change::Status)),
            "{changes:?}"
        );
        assert!(
            t.catalog.open_warnings().unwrap().is_empty(),
            "resolved when it is back"
        );
        assert_eq!(m.take_returned(), vec!["usb".to_string()]);

        // An edited configuration is noticed too.
        std::thread::sleep(Duration::from_millis(20));
        crate::setup::set_destination_flag(&home, "usb", "automatic", false).unwrap();
        let changes = m.check(&t).unwrap();
        assert!(
            changes.iter().any(|c| matches!(c, Change::Config)),
            "{changes:?}"
        );
    }

    #[test]
    fn old_finished_jobs_are_dropped() {
        let s = Service::new();
        for _ in 0..(JOBS_KEPT + 10) {
            s.start(None, JobKind::Automatic, "Automatic backup", &NoProgress)
                .finish(true, String::new());
        }
        assert_eq!(s.jobs().len(), JOBS_KEPT);
    }
}
