//! The run's work queue: jobs from the planner, and jobs put back for destinations
//! that were at their concurrency limit when a worker took the photo.
//!
//! A run is over when the planner is done, both queues are empty and no worker holds a
//! job (a worker may still put one back).

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex};
use std::time::Duration;

use super::plan::Job;

#[derive(Default)]
struct State {
    fresh: VecDeque<Job>,
    put_back: VecDeque<Job>,
    planning_done: bool,
    /// Workers holding a job.
    active: usize,
}

#[derive(Default)]
pub(super) struct JobQueue {
    state: Mutex<State>,
    changed: Condvar,
}

impl JobQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A job from the planner.
    pub fn push(&self, job: Job) {
        self.lock().fresh.push_back(job);
        self.changed.notify_one();
    }

    /// A job for destinations that were busy: taken again after the fresh ones.
    pub fn put_back(&self, job: Job) {
        self.lock().put_back.push_back(job);
        self.changed.notify_one();
    }

    /// The run stops early (planning failed): the jobs not yet taken are dropped, and
    /// the workers stop once they have finished the ones they hold.
    pub fn abandon(&self) {
        let mut state = self.lock();
        state.fresh.clear();
        state.put_back.clear();
        state.planning_done = true;
        drop(state);
        self.changed.notify_all();
    }

    pub fn planning_done(&self) {
        self.lock().planning_done = true;
        self.changed.notify_all();
    }

    /// The next job (the caller then holds it until [`JobQueue::done`]), or `None` when
    /// the run's work is over.
    pub fn next(&self) -> Option<Job> {
        let mut state = self.lock();
        loop {
            if let Some(job) = state
                .fresh
                .pop_front()
                .or_else(|| state.put_back.pop_front())
            {
                state.active += 1;
                return Some(job);
            }
            if state.planning_done && state.active == 0 {
                self.changed.notify_all();
                return None;
            }
            state = self
                .changed
                .wait_timeout(state, Duration::from_millis(50))
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }

    /// The caller is finished with the job it took.
    pub fn done(&self) {
        self.lock().active -= 1;
        self.changed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::catalog::PendingPhoto;
    use crate::photo::{ContentHash, PhotoKind};
    use crate::relpath::RelPath;

    fn job(id: i64) -> Job {
        Job {
            photo: PendingPhoto {
                photo_id: id,
                hash: ContentHash::of(&id.to_le_bytes()),
                size: 1,
                captured: String::new(),
                kind: PhotoKind::Image,
                library: "lib".into(),
                path: RelPath::new(format!("{id}.jpg")).unwrap(),
                previous_key: None,
                previous_corrupt: false,
            },
            dests: vec![0],
        }
    }

    #[test]
    fn fresh_jobs_come_before_those_put_back() {
        let q = JobQueue::default();
        q.put_back(job(1));
        q.push(job(2));
        q.push(job(3));
        q.planning_done();
        let mut order = Vec::new();
        while let Some(j) = q.next() {
            order.push(j.photo.photo_id);
            q.done();
        }
        assert_eq!(order, [2, 3, 1]);
    }

    #[test]
    fn the_run_is_not_over_while_a_worker_may_still_put_a_job_back() {
        let q = Arc::new(JobQueue::default());
        q.push(job(1));
        q.planning_done();
        let held = q.next().expect("the one job");
        // Another worker waits: the holder may put its job back.
        let waiter = {
            let q = q.clone();
            std::thread::spawn(move || q.next().map(|j| j.photo.photo_id))
        };
        std::thread::sleep(Duration::from_millis(120));
        assert!(!waiter.is_finished(), "the run ended while a job was held");
        q.put_back(held);
        q.done();
        assert_eq!(waiter.join().unwrap(), Some(1), "the job put back is taken");
        q.done();
        assert!(q.next().is_none(), "then the run is over");
    }

    #[test]
    fn abandoning_drops_what_is_not_taken() {
        let q = JobQueue::default();
        q.push(job(1));
        q.push(job(2));
        q.abandon();
        assert!(q.next().is_none());
    }
}
