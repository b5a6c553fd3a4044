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

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::destination::{LocalDestination, MediaKind};
    use crate::home::Home;
    use crate::progress::NoProgress;
    use crate::setup::{self, NewDestination};
    use triplicate_testkit as kit;

    /// A home with three photos (captured out of name order) and two destinations.
    fn home(dir: &std::path::Path) -> Triplicate {
        let home = Home::in_dir(&dir.join("home"));
        let library = dir.join("library");
        std::fs::create_dir_all(&library).unwrap();
        for (name, date) in [
            ("a.jpg", "2026:03:01 10:00:00"),
            ("b.jpg", "2025:01:01 10:00:00"),
            ("c.jpg", "2026:01:01 10:00:00"),
        ] {
            std::fs::write(library.join(name), kit::jpeg(date, name.as_bytes())).unwrap();
        }
        setup::init(&home, "node", &[library]).unwrap();
        for name in ["one", "two"] {
            let path = dir.join(name);
            std::fs::create_dir_all(&path).unwrap();
            let new = NewDestination::new(name, path.to_str().unwrap(), MediaKind::Hdd, "onsite");
            setup::add_destination(&home, "node", &new).unwrap();
        }
        let t = Triplicate::open(&home).unwrap();
        let lib = &t.config.libraries[0];
        let options = crate::scan::ScanOptions::of(&t.config);
        crate::scan::scan_library(&t.catalog, lib, options, &NoProgress, &mut |_| {}).unwrap();
        t
    }

    fn open(t: &Triplicate) -> Vec<OpenDest> {
        t.config
            .destinations
            .iter()
            .map(|d| {
                let dest = LocalDestination::open(&d.name, &d.local_root(), &d.id).unwrap();
                OpenDest::new(d, Arc::new(dest), 1)
            })
            .collect()
    }

    fn planned(queue: &super::super::queue::JobQueue) -> Vec<(String, Vec<usize>)> {
        queue.planning_done();
        let mut out = Vec::new();
        while let Some(job) = queue.next() {
            out.push((job.photo.path.to_string(), job.dests));
            queue.done();
        }
        out
    }

    #[test]
    fn each_photo_once_to_every_destination_that_lacks_it_oldest_first() {
        let dir = tempfile::tempdir().unwrap();
        let t = home(dir.path());
        let open = open(&t);
        let queue = super::super::queue::JobQueue::default();
        let mut planner = Planner {
            t: &t,
            open: &open,
            unattended: false,
            progress: &NoProgress,
            queued: HashSet::new(),
            queue: &queue,
        };
        // The scan's batch first, then the rest: b.jpg is not planned twice.
        let b = kit::jpeg("2025:01:01 10:00:00", b"b.jpg");
        let b = t
            .catalog
            .photo_id_of(&crate::photo::ContentHash::of(&b))
            .unwrap();
        planner.plan_photos(&[b.expect("scanned")]).unwrap();
        planner.plan_everything_else().unwrap();
        assert_eq!(
            planned(&queue),
            [
                ("b.jpg".to_string(), vec![0, 1]),
                ("c.jpg".to_string(), vec![0, 1]),
                ("a.jpg".to_string(), vec![0, 1]),
            ]
        );
        assert!(
            open.iter()
                .all(|od| od.planned.load(Ordering::Relaxed) == 3)
        );
    }
}
