//! Progress and problems, reported as events: the library never prints.
//!
//! Long operations take a `&dyn Progress` and call [`Progress::event`] as they go. The
//! CLI turns events into indicatif bars; the server will turn them into SSE. A
//! [`Problem`] is one thing that went wrong with one file or destination, in a sentence
//! a user can act on; reports collect them and `status` shows the lasting ones.

use serde::Serialize;

use crate::destination::ErrorClass;

/// Something that went wrong, and where.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Problem {
    /// A file (`library:path`) or a destination (`dest:name`).
    pub subject: String,
    pub message: String,
    pub class: ErrorClass,
}

/// What the library reports while it works.
#[derive(Debug)]
pub enum Event<'a> {
    ScanStarted {
        library: &'a str,
    },
    /// A file was read and hashed.
    ScanHashed {
        library: &'a str,
        bytes: u64,
    },
    ScanFinished {
        library: &'a str,
        files: u64,
        hashed: u64,
    },
    /// This much more work at a destination in this run: files to copy, check or
    /// restore. Planning goes on while the work is done, so this comes many times.
    WorkPlanned {
        dest: &'a str,
        files: u64,
        bytes: u64,
    },
    /// Bytes written to, read from or checked at a destination.
    WorkBytes {
        dest: &'a str,
        bytes: u64,
    },
    /// One file done at a destination, successfully or not.
    WorkDone {
        dest: &'a str,
        ok: bool,
    },
    /// A destination can take nothing more in this run.
    DestinationStopped {
        dest: &'a str,
        reason: crate::vocab::DestState,
    },
    Problem(&'a Problem),
    /// A staged operation (an archive): its stages, announced before the first.
    StagesPlanned {
        stages: &'a [String],
    },
    /// Stage `index` of the planned ones began; `text` says what it does.
    StageStarted {
        index: usize,
        text: &'a str,
    },
    /// This many more bytes for the current stage to go through.
    StageBytesPlanned {
        bytes: u64,
    },
    /// Bytes the current stage went through.
    StageBytes {
        bytes: u64,
    },
    /// Something to know that does not stop the operation.
    Warning {
        message: &'a str,
    },
}

pub trait Progress: Send + Sync {
    fn event(&self, event: &Event<'_>);
}

/// Ignores every event.
pub struct NoProgress;

impl Progress for NoProgress {
    fn event(&self, _: &Event<'_>) {}
}

/// The problems of one run: each is reported as an event when found, and kept for
/// the run's report.
pub struct Problems<'a> {
    progress: &'a dyn Progress,
    list: Vec<Problem>,
}

impl<'a> Problems<'a> {
    pub fn new(progress: &'a dyn Progress) -> Self {
        Problems {
            progress,
            list: Vec::new(),
        }
    }

    /// Reports a new problem and keeps it.
    pub fn report(&mut self, p: Problem) {
        self.progress.event(&Event::Problem(&p));
        self.list.push(p);
    }

    /// Keeps problems that were reported as events already (by a scan, by workers).
    pub fn extend_reported(&mut self, problems: impl IntoIterator<Item = Problem>) {
        self.list.extend(problems);
    }

    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// The subjects of the problems kept so far.
    pub fn subjects(&self) -> impl Iterator<Item = &str> {
        self.list.iter().map(|p| p.subject.as_str())
    }

    pub fn into_vec(self) -> Vec<Problem> {
        self.list
    }
}
