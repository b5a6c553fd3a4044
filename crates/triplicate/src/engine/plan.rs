//! Planning: which photos go to which destinations.
//!
//! A [`Job`] is one photo and the open destinations that lack a verified copy of it.
//! The [`Planner`] makes jobs twice in a run: per batch while the scan records new
//! photos (so they are copied while still in the page cache), then once for everything
//! else the destinations lack. A photo is handed to the workers once per run.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::Ordering;

use super::worker::OpenDest;
use crate::catalog::{CatalogError, PendingPhoto};
use crate::home::Triplicate;
use crate::progress::{Event, Progress};

/// One photo to copy, to the destinations (indices into the open list) that lack it.
pub(super) struct Job {
    pub photo: PendingPhoto,
    pub dests: Vec<usize>,
}

/// Turns photos into jobs: each photo once, to every open destination that lacks it.
pub(super) struct Planner<'a> {
    pub t: &'a Triplicate,
    pub open: &'a [OpenDest],
    /// Leave failures that need a person alone (see `BackupOptions::unattended`).
    pub unattended: bool,
    pub progress: &'a dyn Progress,
    /// Photos already handed to the workers in this run.
    pub queued: HashSet<i64>,
    pub queue: &'a super::queue::JobQueue,
}

impl Planner<'_> {
    /// Plans photos the scan just recorded.
    pub fn plan_photos(&mut self, ids: &[i64]) -> Result<(), CatalogError> {
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
    pub fn plan_everything_else(&mut self) -> Result<(), CatalogError> {
        let mut jobs: HashMap<i64, Job> = HashMap::new();
        for (i, od) in self.open.iter().enumerate() {
            let pending = if self.unattended {
                self.t.catalog.photos_to_copy_unattended(&od.config.id)?
            } else {
                self.t.catalog.photos_to_copy(&od.config.id)?
            };
            for photo in pending {
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
            self.progress.event(&Event::WorkPlanned {
                dest: &od.config.name,
                files: 1,
                bytes: job.photo.size,
            });
        }
        self.queue.push(job);
    }
}
