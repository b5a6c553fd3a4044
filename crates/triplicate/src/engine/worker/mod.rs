//! The copy worker: one photo, from one read, to every destination that lacks it.
//!
//! For each destination the worker first chooses a name ([`Placement`]): the layout's
//! (or an earlier attempt's) when it is free, the same bytes already there (adopted
//! after a verifying read), or a distinct, deterministic alternative when other bytes
//! hold the name. It then runs the fan-out and records each outcome in the catalog: a
//! verified copy, or a failure with its class. A failure that makes a destination
//! unusable (full, read-only, gone) stops that destination for the rest of the run and
//! raises a warning; the other destinations go on.

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use chrono::NaiveDateTime;

mod aside;

use super::dest_problem;
use super::fanout::{Placement, SourceError, Target, TargetError, choose_key, fan_out};
use super::groups::GroupNames;
use super::plan::Job;
use super::queue::JobQueue;
use super::retry::RETRY;
use crate::catalog::{CatalogError, FolderFile, Operation, PendingPhoto};
use crate::config::DestinationConfig;
use crate::destination::layout::LayoutInput;
use crate::destination::{DestError, ErrorClass, Stored, WriteDestination};
use crate::home::Triplicate;
use crate::progress::{Event, Problem, Progress};
use crate::relpath::RelPath;
use crate::scan::metadata::CAPTURE_FORMAT;

/// A destination that is open for this run, with its counters.
pub(super) struct OpenDest {
    pub config: DestinationConfig,
    pub dest: Arc<dyn WriteDestination>,
    pub planned: AtomicU64,
    pub stopped: AtomicBool,
    pub stop_reason: Mutex<Option<crate::vocab::DestState>>,
    pub copied: AtomicU64,
    pub adopted: AtomicU64,
    pub bytes: AtomicU64,
    pub failed: AtomicU64,
    pub journaled: Mutex<HashSet<RelPath>>,
    /// Copies written here at once, at most.
    concurrency: usize,
    in_flight: AtomicUsize,
}

impl OpenDest {
    /// `concurrency`: copies written here at once.
    pub fn new(
        config: &DestinationConfig,
        dest: Arc<dyn WriteDestination>,
        concurrency: usize,
    ) -> OpenDest {
        OpenDest {
            concurrency: concurrency.max(1),
            in_flight: AtomicUsize::new(0),
            config: config.clone(),
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

/// Everything a worker needs during a run.
pub(super) struct RunContext<'a> {
    pub t: &'a Triplicate,
    pub run: &'a str,
    pub open: &'a [OpenDest],
    pub progress: &'a dyn Progress,
    pub problems: &'a Mutex<Vec<Problem>>,
    /// Where a photo goes back for destinations that are at their concurrency limit.
    pub queue: &'a JobQueue,
    /// The names each group of files takes at each destination.
    pub groups: &'a GroupNames,
}

impl OpenDest {
    /// Takes one of this destination's write slots, if one is free.
    fn try_acquire(&self) -> bool {
        self.in_flight
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < self.concurrency).then_some(n + 1)
            })
            .is_ok()
    }
}

/// Write slots held for one attempt; given back when dropped, whatever happens.
struct Slots<'a> {
    open: &'a [OpenDest],
    held: Vec<usize>,
}

impl Drop for Slots<'_> {
    fn drop(&mut self) {
        for &i in &self.held {
            self.open[i].in_flight.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl RunContext<'_> {
    pub fn problem(&self, p: Problem) {
        self.progress.event(&Event::Problem(&p));
        self.problems.lock().unwrap().push(p);
    }

    /// Copies one photo to the destinations of `job` that lack it, from one read per
    /// attempt, under the one retry policy.
    pub fn copy_photo(&self, job: &Job) -> Result<(), CatalogError> {
        let photo = &job.photo;
        let Some(lib) = self.t.config.library(&photo.library) else {
            return Ok(());
        };
        let source = photo.path.to_path(&lib.path);
        let mut remaining: Vec<usize> = job.dests.clone();
        let mut wait = false;
        for attempt in 0..RETRY.attempts {
            if wait {
                std::thread::sleep(RETRY.wait(attempt, &photo.photo_id.to_le_bytes()));
            }
            remaining.retain(|&i| !self.open[i].stopped.load(Ordering::Relaxed));
            remaining = self.take_free(photo, remaining);
            let _slots = Slots {
                open: self.open,
                held: remaining.clone(),
            };
            if remaining.is_empty() {
                return Ok(());
            }
            let writes = self.choose_names(photo, &remaining)?;
            if writes.is_empty() {
                return Ok(());
            }
            let retry = self.write_copies(photo, &source, &writes, attempt)?;
            if retry.is_empty() {
                return Ok(());
            }
            // A name taken meanwhile is placed again at once; a failure waits.
            wait = retry
                .iter()
                .any(|(_, e)| !matches!(e, TargetError::Dest(DestError::AlreadyExists { .. })));
            remaining = retry.iter().map(|(i, _)| *i).collect();
        }
        Ok(())
    }

    /// The destinations of `dests` with a write slot free, each slot taken. A
    /// destination at its concurrency limit drops out of this read: the photo goes
    /// back to the queue for it alone, so a slow destination never paces the others
    /// (the original will most likely still be in the page cache).
    fn take_free(&self, photo: &PendingPhoto, dests: Vec<usize>) -> Vec<usize> {
        let (free, busy): (Vec<usize>, Vec<usize>) =
            dests.into_iter().partition(|&i| self.open[i].try_acquire());
        if !busy.is_empty() {
            if free.is_empty() {
                // Nothing to do for this photo now: let the busy destinations catch up.
                std::thread::sleep(std::time::Duration::from_millis(5));
            }
            self.queue.put_back(Job {
                photo: photo.clone(),
                dests: busy,
            });
        }
        free
    }

    /// Chooses a name for the photo at each destination of `dests`, adopting copies
    /// that are already there: the names to write, with their folders journaled.
    fn choose_names(
        &self,
        photo: &PendingPhoto,
        dests: &[usize],
    ) -> Result<Vec<(usize, RelPath)>, CatalogError> {
        let mut writes = Vec::new();
        for &i in dests {
            let od = &self.open[i];
            let first = match self.free_earlier_name(od, photo)? {
                Ok(first) => first,
                Err(e) => {
                    self.record_failure(od, photo, None, &e)?;
                    continue;
                }
            };
            match self.place(od, photo, first)? {
                Ok(Placement::Write(key)) => writes.push((i, key)),
                Ok(Placement::AlreadyThere(key, stored)) => {
                    od.adopted.fetch_add(1, Ordering::Relaxed);
                    self.progress.event(&Event::WorkBytes {
                        dest: &od.config.name,
                        bytes: photo.size,
                    });
                    self.record_verified(od, photo, &key, stored, 0, 0)?;
                }
                Err(e) => self.record_failure(od, photo, None, &e)?,
            }
        }
        for (i, key) in &writes {
            let od = &self.open[*i];
            if let Some(folder) = key.parent()
                && !od.dest.properties().staged
                && od.journaled.lock().unwrap().insert(folder.clone())
            {
                self.t.catalog.journal_folder(&od.config.id, &folder)?;
            }
        }
        Ok(writes)
    }

    /// The name the photo should take at `od` when an earlier copy held it, that copy
    /// moved aside first: a new version takes the place of the earlier one, a name
    /// with a file of its own that held the earlier content moves aside the same way,
    /// and a copy verify found damaged gives its name back (its bytes to quarantine).
    fn free_earlier_name(
        &self,
        od: &OpenDest,
        photo: &PendingPhoto,
    ) -> Result<Result<Option<RelPath>, TargetError>, CatalogError> {
        let mut first = photo.previous_key.clone();
        if first.is_none()
            && let Some((held, key)) =
                self.t
                    .catalog
                    .alias_of(&od.config.id, &photo.library, &photo.path)?
            && held != photo.photo_id
        {
            if let Err(e) = self.set_name_aside(od, photo, held, &key)? {
                return Ok(Err(e));
            }
            first = Some(key);
        }
        if first.is_none()
            && let Some(earlier) = self.t.catalog.earlier_version_at(
                &od.config.id,
                &photo.library,
                &photo.path,
                photo.photo_id,
            )?
        {
            if let Err(e) = self.set_aside(od, &earlier)? {
                return Ok(Err(e));
            }
            first = Some(earlier.key);
        }
        if photo.previous_corrupt
            && let Some(key) = &photo.previous_key
            && let Err(e) = self.quarantine(od, photo, key)?
        {
            return Ok(Err(e));
        }
        Ok(Ok(first))
    }

    /// Writes the photo from one read of `source` to every name in `writes`, each read
    /// back, and records each outcome: the copies worth another attempt, with why.
    fn write_copies(
        &self,
        photo: &PendingPhoto,
        source: &std::path::Path,
        writes: &[(usize, RelPath)],
        attempt: u32,
    ) -> Result<Vec<(usize, TargetError)>, CatalogError> {
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
            self.progress.event(&Event::WorkBytes {
                dest: &od.config.name,
                bytes: n,
            });
        };
        let results = match fan_out(source, photo.size, &photo.hash, &targets, &on_bytes) {
            Ok(r) => r,
            Err(e) => {
                self.source_failed(photo, writes, e)?;
                return Ok(Vec::new());
            }
        };
        let millis = began.elapsed().as_millis() as u64;
        let mut retry = Vec::new();
        for ((i, key), result) in writes.iter().zip(results) {
            let od = &self.open[*i];
            match result {
                Ok(stored) => {
                    od.copied.fetch_add(1, Ordering::Relaxed);
                    od.bytes.fetch_add(photo.size, Ordering::Relaxed);
                    self.record_verified(od, photo, key, stored, photo.size, millis)?;
                }
                // Taken meanwhile (a case-insensitive twin, another process), or a
                // failure that may pass: try again.
                Err(e) if RETRY.again(attempt, &e) => {
                    tracing::info!(destination = %od.config.name, attempt, "retrying {}: {e}", photo.path);
                    let message = e.to_string();
                    self.t.catalog.record_operation(&Operation {
                        run: self.run,
                        kind: "copy",
                        dest: Some(&od.config.name),
                        photo_id: Some(photo.photo_id),
                        path: Some(key),
                        bytes: None,
                        duration_ms: Some(millis),
                        outcome: "retrying",
                        message: Some(&message),
                    })?;
                    retry.push((*i, e));
                }
                Err(e) => self.record_failure(od, photo, Some(key), &e)?,
            }
        }
        Ok(retry)
    }

    /// The original is the problem, not the destinations: it is read again at the next
    /// scan, and the problem reported once.
    fn source_failed(
        &self,
        photo: &PendingPhoto,
        writes: &[(usize, RelPath)],
        e: SourceError,
    ) -> Result<(), CatalogError> {
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
        for (i, _) in writes {
            self.progress.event(&Event::WorkDone {
                dest: &self.open[*i].config.name,
                ok: false,
            });
        }
        Ok(())
    }

    /// Chooses where `photo` goes at `od`: `first` (its earlier key, or the place of
    /// the version it replaces) or its group's name for it (see [`super::groups`]), or
    /// a distinct alternative when that name holds other bytes.
    fn place(
        &self,
        od: &OpenDest,
        photo: &PendingPhoto,
        first: Option<RelPath>,
    ) -> Result<Result<Placement, TargetError>, CatalogError> {
        let first = match first {
            Some(k) => k,
            None => {
                let render = |f: &FolderFile| {
                    let captured = NaiveDateTime::parse_from_str(&f.captured, CAPTURE_FORMAT)
                        .unwrap_or_default();
                    od.config.layout.render(&LayoutInput {
                        captured,
                        source: &f.path,
                        library: &photo.library,
                        node: &self.t.config.node,
                        kind: f.kind,
                        ingest: None,
                    })
                };
                match self.groups.first_key(self.t, od, photo, &render)? {
                    Ok(key) => key,
                    Err(e) => return Ok(Err(e)),
                }
            }
        };
        Ok(choose_key(od.dest.as_ref(), first, &photo.hash, photo.size))
    }

    fn record_verified(
        &self,
        od: &OpenDest,
        photo: &PendingPhoto,
        key: &RelPath,
        stored: Stored,
        bytes: u64,
        millis: u64,
    ) -> Result<(), CatalogError> {
        self.t.catalog.record_copy_verified(
            photo.photo_id,
            &od.config.id,
            key,
            stored,
            od.dest.properties().verified_by,
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
        self.progress.event(&Event::WorkDone {
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
        let class = e.class();
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
        self.progress.event(&Event::WorkDone {
            dest: &od.config.name,
            ok: false,
        });
        if let TargetError::Dest(d) = e
            && d.stops_destination()
        {
            // Only the first failure stops the destination and raises the warning.
            if !od.stopped.swap(true, Ordering::Relaxed) {
                *od.stop_reason.lock().unwrap() = Some(d.state());
                self.t
                    .catalog
                    .raise_destination_warning(&od.config.name, d)?;
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
