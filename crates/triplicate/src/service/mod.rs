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

pub mod lock;
mod monitor;
mod progress;

pub use monitor::Monitor;
pub use progress::JobProgress;
use progress::Live;

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
