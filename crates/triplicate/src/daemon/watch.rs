//! What the service waits on between passes: changes in the library folders (inotify
//! through the notify crate) and cards newly mounted under `ingest.mount_roots`.

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use notify::{RecursiveMode, Watcher};

use crate::home::Triplicate;
use crate::service::{Action, Service};

/// Looks at `roots` every second until `stop` or `done`, and asks `service` to ingest
/// each card newly mounted there: once per mount, since a card stays mounted after its
/// ingest.
pub(super) fn watch_cards(
    roots: &std::sync::Mutex<Vec<PathBuf>>,
    service: &Service,
    stop: &AtomicBool,
    done: &AtomicBool,
) {
    // Mount point → device, of the cards mounted at the last look.
    let mut seen: HashMap<PathBuf, u64> = HashMap::new();
    while !stop.load(Ordering::Relaxed) && !done.load(Ordering::Relaxed) {
        let roots = roots.lock().unwrap().clone();
        let mounted: HashMap<PathBuf, u64> = crate::ingest::card::mounted_cards(&roots)
            .into_iter()
            .collect();
        for (card, dev) in &mounted {
            if seen.get(card) != Some(dev) {
                tracing::info!("card found at {}: ingesting it", card.display());
                service.request(Action::Ingest { card: card.clone() });
            }
        }
        seen = mounted;
        std::thread::sleep(Duration::from_millis(if roots.is_empty() {
            250
        } else {
            1000
        }));
    }
}

pub(super) fn library_paths(t: &Triplicate) -> Vec<PathBuf> {
    t.config.libraries.iter().map(|l| l.path.clone()).collect()
}

/// Watches every library folder, recursively. Without a watcher (inotify limits, a
/// filesystem without events) the periodic rescan still finds everything.
pub(super) fn watch(
    t: &Triplicate,
    events: mpsc::Sender<notify::Result<notify::Event>>,
) -> Option<notify::RecommendedWatcher> {
    let mut watcher = match notify::recommended_watcher(events) {
        Ok(w) => w,
        Err(e) => {
            tracing::warn!("cannot watch the libraries ({e}); relying on the periodic rescan");
            return None;
        }
    };
    for lib in &t.config.libraries {
        if let Err(e) = watcher.watch(&lib.path, RecursiveMode::Recursive) {
            tracing::warn!(library = %lib.name, "cannot watch {} ({e}); relying on the periodic rescan", lib.path.display());
        }
    }
    Some(watcher)
}

/// Waits until `settle` after the first change in the libraries, or until `wait` has
/// passed. A steady stream of new photos (a tethered shoot) must not postpone the pass:
/// files still being written are left for the next pass by their own mtime, so there
/// is no need to wait for the folders to fall quiet. A file closed after writing is
/// complete: it is added to `closed`, and the pass starts after a short debounce
/// instead of the settle time. Returns false when asked to stop.
pub(super) fn wait_for_change(
    events: &mpsc::Receiver<notify::Result<notify::Event>>,
    watching: bool,
    wait: Duration,
    settle: Duration,
    stop: &AtomicBool,
    closed: &mut HashSet<PathBuf>,
    service: &Service,
) -> bool {
    // Closes come in bursts (a card copied in): gather them for a moment.
    let debounce = Duration::from_millis(100).min(settle);
    let tick = Duration::from_millis(100).min(debounce.max(Duration::from_millis(10)));
    let deadline = Instant::now() + wait;
    let mut changed_at: Option<Instant> = None;
    loop {
        if stop.load(Ordering::Relaxed) {
            return false;
        }
        if service.has_requests() {
            return true;
        }
        let now = Instant::now();
        let due = match changed_at {
            Some(at) if !closed.is_empty() => now.duration_since(at) >= debounce,
            Some(at) => now.duration_since(at) >= settle,
            None => false,
        };
        if due || now >= deadline {
            return true;
        }
        if !watching {
            std::thread::sleep(tick);
            continue;
        }
        match events.recv_timeout(tick) {
            Ok(Ok(event)) if is_content_change(&event) => {
                if is_closed_after_writing(&event) {
                    closed.extend(event.paths.iter().cloned());
                }
                changed_at.get_or_insert_with(Instant::now);
            }
            Ok(Ok(_)) => {}
            // The kernel dropped events (queue overflow): rescan soon.
            Ok(Err(_)) => {
                changed_at.get_or_insert_with(Instant::now);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => std::thread::sleep(tick),
        }
    }
}

/// Whether the libraries changed since the events were last read (without waiting);
/// files closed after writing go into `closed`. A dropped event counts as a change.
pub(super) fn changed_meanwhile(
    events: &mpsc::Receiver<notify::Result<notify::Event>>,
    closed: &mut HashSet<PathBuf>,
) -> bool {
    let mut changed = false;
    while let Ok(event) = events.try_recv() {
        match event {
            Ok(event) if is_content_change(&event) => {
                if is_closed_after_writing(&event) {
                    closed.extend(event.paths.iter().cloned());
                }
                changed = true;
            }
            Ok(_) => {}
            Err(_) => changed = true,
        }
    }
    changed
}

/// A file closed after being written: complete, as far as its writer is concerned.
pub(super) fn is_closed_after_writing(event: &notify::Event) -> bool {
    use notify::event::{AccessKind, AccessMode, EventKind};
    matches!(
        event.kind,
        EventKind::Access(AccessKind::Close(AccessMode::Write))
    )
}

/// Creations, writes, closes after writing, renames and removals; not reads.
pub(super) fn is_content_change(event: &notify::Event) -> bool {
    use notify::EventKind;
    let ours = event.paths.iter().all(|p: &PathBuf| {
        p.components()
            .any(|c| c.as_os_str() == crate::destination::META_DIR)
    });
    !ours
        && (is_closed_after_writing(event)
            || matches!(
                event.kind,
                EventKind::Create(_) | EventKind::Modify(_) | EventKind::Remove(_) | EventKind::Any
            ))
}
