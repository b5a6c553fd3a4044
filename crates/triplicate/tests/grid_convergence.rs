//! Twenty simulated GRID nodes, 100,000 photo records: every node ends up with every
//! record, through peers only (no node talks to all the others), and they agree again
//! after several of them change at once. Each node is a real configuration with its own
//! SQLite catalog (in memory: the nodes are simulated, the merging is real); the feed
//! travels as the JSON the HTTP feed carries. The time taken is
//! printed (`scripts/bench-grid` runs this in release for the benchmark).

use std::collections::BTreeSet;
use std::time::Instant;

use triplicate::catalog::ScannedFile;
use triplicate::grid::{self, ChangePage};
use triplicate::home::{Home, Triplicate};
use triplicate::photo::{ContentHash, PhotoKind};
use triplicate::relpath::RelPath;

const NODES: usize = 20;
const RECORDS: usize = 100_000;

fn nodes(dir: &std::path::Path) -> Vec<Triplicate> {
    (0..NODES)
        .map(|i| {
            let name = format!("n{i:02}");
            let lib = dir.join(format!("{name}-photos"));
            std::fs::create_dir_all(&lib).unwrap();
            let home = Home::in_dir(&dir.join(&name));
            triplicate::setup::init(&home, &name, &[lib]).unwrap();
            // A simulated node: its catalog in memory (2 million rows in all).
            let t = Triplicate {
                config: triplicate::config::Config::load(&home.config).unwrap(),
                catalog: triplicate::catalog::Catalog::open_in_memory().unwrap(),
                home,
            };
            let files: Vec<ScannedFile> = (0..RECORDS / NODES)
                .map(|j| {
                    let path = format!("2024-05-{:02}/IMG_{j:05}.CR3", 1 + j % 28);
                    ScannedFile {
                        path: RelPath::new(path.into_bytes()).unwrap(),
                        hash: ContentHash::of(format!("{name}/{j}").as_bytes()),
                        size: 25_000_000 + j as u64,
                        mtime_ns: 1,
                        inode: j as u64,
                        captured: format!("2024-05-{:02}T10:00:00", 1 + j % 28),
                        captured_from: "exif",
                        kind: PhotoKind::Raw,
                    }
                })
                .collect();
            t.catalog
                .record_files(&t.config.libraries[0].name, &files)
                .unwrap();
            t
        })
        .collect()
}

/// `to` pulls from `from` what it has not seen, as the HTTP feed would carry it.
fn pull(to: &Triplicate, from: &Triplicate, url: &str) -> usize {
    let mut since = to
        .catalog
        .grid_peer_states()
        .unwrap()
        .get(url)
        .map_or(0, |s| s.pulled_seq);
    let mut added = 0;
    loop {
        let page = grid::log::feed(from, since, grid::FEED_MAX).unwrap();
        let wire: ChangePage = serde_json::from_slice(&serde_json::to_vec(&page).unwrap()).unwrap();
        let vouches = grid::log::hello(from).unwrap().vouches;
        added += grid::log::merge_page(to, "peer", url, since, &wire, &vouches).unwrap();
        if wire.changes.is_empty() || wire.next >= wire.latest_seq {
            return added;
        }
        since = wire.next;
    }
}

/// Rounds in which every node publishes and pulls from its two peers (the next node
/// and the one seven further: no node knows more than two), until a round learns
/// nothing. Returns the rounds taken.
fn converge(all: &[Triplicate]) -> usize {
    let mut rounds = 0;
    loop {
        rounds += 1;
        let mut learnt = 0;
        for t in all {
            grid::log::publish(t).unwrap();
        }
        // The nodes pull at the same time, as separate machines would.
        learnt += std::thread::scope(|scope| {
            let pulls: Vec<_> = all
                .iter()
                .enumerate()
                .map(|(i, t)| {
                    scope.spawn(move || {
                        [(i + 1) % NODES, (i + 7) % NODES]
                            .into_iter()
                            .map(|peer| pull(t, &all[peer], &format!("mem://{peer}")))
                            .sum::<usize>()
                    })
                })
                .collect();
            pulls.into_iter().map(|p| p.join().unwrap()).sum::<usize>()
        });
        if learnt == 0 {
            return rounds;
        }
        assert!(rounds < 50, "no convergence after 50 rounds");
    }
}

/// What a node knows: every (origin, subject, present) of the newest records.
fn view(t: &Triplicate) -> BTreeSet<(String, Vec<u8>, bool)> {
    t.catalog
        .grid_records()
        .unwrap()
        .into_iter()
        .map(|r| (r.origin, r.subject, r.present))
        .collect()
}

#[test]
fn twenty_nodes_converge_on_100_000_records_and_again_after_concurrent_changes() {
    let dir = tempfile::tempdir().unwrap();
    let all = nodes(dir.path());
    let started = Instant::now();
    let rounds = converge(&all);
    let took = started.elapsed();
    for t in &all {
        let counts = t.catalog.grid_record_counts().unwrap();
        assert_eq!(
            counts.len(),
            NODES,
            "{}: records of every node",
            t.config.node
        );
        assert_eq!(
            counts.values().sum::<u64>(),
            RECORDS as u64,
            "{}",
            t.config.node
        );
    }
    eprintln!(
        "GRID convergence: {NODES} nodes, {RECORDS} photo records, converged in {:.2} s ({rounds} rounds)",
        took.as_secs_f64()
    );

    // Five nodes change at once: each loses a hundred photos from its library.
    for t in all.iter().step_by(4) {
        let files = t.catalog.known_files(&t.config.libraries[0].name).unwrap();
        let ids: Vec<i64> = files.values().take(100).map(|f| f.id).collect();
        t.catalog.set_present(&ids, false).unwrap();
    }
    let started = Instant::now();
    converge(&all);
    eprintln!(
        "GRID convergence after 500 concurrent changes on 5 nodes: {:.2} s",
        started.elapsed().as_secs_f64()
    );
    let first = view(&all[0]);
    assert_eq!(
        first
            .iter()
            .filter(|(_, s, present)| !s.is_empty() && !present)
            .count(),
        500
    );
    for t in &all[1..] {
        assert!(
            view(t) == first,
            "{} sees the GRID as node 0 does",
            t.config.node
        );
    }
}
