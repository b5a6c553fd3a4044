//! Bounded parallel work: the one worker pool of verify, ingest and restore.
//!
//! [`for_each`] runs a closure on every item of a queue with at most `jobs` threads,
//! each taking the next item when it is done with one. The work is mostly waiting on
//! devices and servers (a read, a write, a read-back), so a few threads keep a disk or
//! a connection busy without the CPU mattering. A closure that returns
//! [`ControlFlow::Break`] (a destination unplugged, the catalog failing) stops every
//! worker before its next item; items already started finish. Results are the
//! closure's to keep (a `Mutex`, an atomic counter), in whatever order items finish.

use std::ops::ControlFlow;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// Runs `work` on each item of `items`, at most `jobs` at once (at least one); returns
/// whether a closure stopped the work before every item was taken.
pub fn for_each<I, F>(jobs: usize, items: I, work: F) -> bool
where
    I: Iterator + Send,
    F: Fn(I::Item) -> ControlFlow<()> + Sync,
{
    let queue = Mutex::new(items);
    let stopped = AtomicBool::new(false);
    std::thread::scope(|s| {
        for _ in 0..jobs.max(1) {
            s.spawn(|| {
                while !stopped.load(Ordering::Relaxed) {
                    let next = queue.lock().unwrap_or_else(|p| p.into_inner()).next();
                    let Some(item) = next else { break };
                    if work(item).is_break() {
                        stopped.store(true, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    stopped.into_inner()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicUsize;

    #[test]
    fn every_item_is_worked_on_once_by_at_most_jobs_threads() {
        let (running, most, seen) = (
            AtomicUsize::new(0),
            AtomicUsize::new(0),
            Mutex::new(Vec::new()),
        );
        let stopped = for_each(3, 0..50, |i| {
            let now = running.fetch_add(1, Ordering::SeqCst) + 1;
            most.fetch_max(now, Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(2));
            seen.lock().unwrap().push(i);
            running.fetch_sub(1, Ordering::SeqCst);
            ControlFlow::Continue(())
        });
        assert!(!stopped);
        let mut seen = seen.into_inner().unwrap();
        seen.sort();
        assert_eq!(seen, (0..50).collect::<Vec<_>>());
        assert!(most.into_inner() <= 3);
    }

    #[test]
    fn a_break_stops_every_worker_before_its_next_item() {
        let done = AtomicUsize::new(0);
        let stopped = for_each(4, 0..1000, |i| {
            done.fetch_add(1, Ordering::SeqCst);
            if i == 10 {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        assert!(stopped);
        // The breaking item, and at most one more per other worker.
        assert!(done.into_inner() <= 11 + 3);
    }

    #[test]
    fn zero_jobs_still_does_the_work() {
        let done = AtomicUsize::new(0);
        for_each(0, 0..5, |_| {
            done.fetch_add(1, Ordering::SeqCst);
            ControlFlow::Continue(())
        });
        assert_eq!(done.into_inner(), 5);
    }
}
