//! A job's progress: the [`Progress`] the engine reports to, which keeps the job's
//! counters, its speed over the last seconds and its ETA, and announces them a few times
//! a second at most.

use super::*;

/// A destination counts as "backing up" this long after its last byte.
pub(super) const ACTIVE_FOR: Duration = Duration::from_secs(3);

/// Progress is announced at most this often per job.
pub(super) const ANNOUNCE_EVERY: Duration = Duration::from_millis(250);

/// Speed is measured over this window.
pub(super) const SPEED_WINDOW: Duration = Duration::from_secs(5);

/// The progress of one running job: counts, speed and ETA, announced as they change.
pub struct JobProgress<'a> {
    pub(super) service: &'a Service,
    pub(super) id: u64,
    pub(super) kind: JobKind,
    pub(super) forward: &'a dyn Progress,
    pub(super) live: Mutex<Live>,
}

pub(super) struct Live {
    /// (when, bytes done) over the last [`SPEED_WINDOW`].
    pub(super) samples: VecDeque<(Instant, u64)>,
    pub(super) last_announce: Option<Instant>,
    /// When each destination last moved bytes.
    pub(super) touched: HashMap<String, Instant>,
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
            urgent = self.apply(j, event, &mut live, now);
            live.measure(j, now);
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

    /// Applies one event to the job's counts; returns whether it is to be announced
    /// at once (a problem, a warning, a new stage).
    fn apply(&self, j: &mut JobInfo, event: &Event<'_>, live: &mut Live, now: Instant) -> bool {
        let mut urgent = false;
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
        urgent
    }
}

impl Progress for JobProgress<'_> {
    fn event(&self, event: &Event<'_>) {
        self.record(event);
        self.forward.event(event);
    }
}

impl Live {
    /// The job's speed over the last [`SPEED_WINDOW`], its time left, and the
    /// destinations that moved bytes lately.
    fn measure(&mut self, j: &mut JobInfo, now: Instant) {
        self.samples.push_back((now, j.bytes_done));
        while self
            .samples
            .front()
            .is_some_and(|(at, _)| now.duration_since(*at) > SPEED_WINDOW)
            && self.samples.len() > 2
        {
            self.samples.pop_front();
        }
        let (t0, b0) = *self.samples.front().expect("just pushed");
        let elapsed = now.duration_since(t0).as_secs_f64();
        j.speed = if elapsed > 0.2 {
            (j.bytes_done - b0) as f64 / elapsed
        } else {
            j.speed
        };
        let left = j.bytes_planned.saturating_sub(j.bytes_done);
        j.eta_seconds = (j.speed > 0.0 && left > 0).then(|| (left as f64 / j.speed).ceil() as u64);
        self.touched
            .retain(|_, at| now.duration_since(*at) < ACTIVE_FOR);
        let mut active: Vec<String> = self.touched.keys().cloned().collect();
        active.sort();
        j.active_destinations = active;
    }
}
