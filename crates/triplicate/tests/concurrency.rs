//! A slow destination with a low `concurrency` does not hold up a fast one.

use std::collections::HashMap;
use std::sync::atomic::AtomicBool;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use triplicate::destination::faulty::{Exercised, FaultPlan, FaultyDestination};
use triplicate::destination::{MediaKind, WriteDestination};
use triplicate::engine::{self, BackupOptions, DestinationWrapper};
use triplicate::home::{Home, Triplicate};
use triplicate::progress::{Event, Progress};
use triplicate::setup::{self, NewDestination};
use triplicate_testkit as kit;

/// When each destination finished its last file.
#[derive(Default)]
struct Finishes(Mutex<HashMap<String, Instant>>);

impl Progress for Finishes {
    fn event(&self, event: &Event<'_>) {
        if let Event::WorkDone { dest, ok: true } = event {
            self.0
                .lock()
                .unwrap()
                .insert(dest.to_string(), Instant::now());
        }
    }
}

#[test]
fn a_slow_destination_does_not_pace_a_fast_one() {
    let dir = tempfile::tempdir().unwrap();
    let library = dir.path().join("library");
    kit::write_card(
        &library.join("card"),
        &kit::CardSpec {
            pairs: 10,
            raw_size: 256 << 10,
            jpeg_size: 128 << 10,
            sidecars: false,
            ..Default::default()
        },
    )
    .unwrap();
    let home = Home::in_dir(&dir.path().join("home"));
    setup::init(&home, "test", std::slice::from_ref(&library)).unwrap();
    for name in ["fast", "slow"] {
        let root = dir.path().join(name);
        std::fs::create_dir_all(&root).unwrap();
        setup::add_destination(
            &home,
            "test",
            &NewDestination::new(name, root.to_str().unwrap(), MediaKind::Hdd, "onsite"),
        )
        .unwrap();
    }
    // The slow destination takes one copy at a time.
    let config = std::fs::read_to_string(&home.config).unwrap();
    let config = config.replace("name = \"slow\"", "name = \"slow\"\nconcurrency = 1");
    std::fs::write(&home.config, config).unwrap();
    let t = Triplicate::open(&home).unwrap();
    assert_eq!(t.config.destination("slow").unwrap().concurrency, Some(1));

    let slow_plan = FaultPlan {
        seed: 3,
        slow_writes: 1.0,
        slow_by: Duration::from_millis(120),
        ..Default::default()
    };
    let wrap = DestinationWrapper(Arc::new(move |inner: Arc<dyn WriteDestination>| {
        if inner.name() == "slow" {
            Arc::new(FaultyDestination::new(
                inner,
                slow_plan.clone(),
                Arc::new(AtomicBool::new(true)),
                Arc::new(Exercised::default()),
            )) as Arc<dyn WriteDestination>
        } else {
            inner
        }
    }));
    let finishes = Finishes::default();
    let started = Instant::now();
    let report = engine::backup(
        &t,
        &BackupOptions {
            wrap: Some(wrap),
            jobs: Some(2),
            ..Default::default()
        },
        &finishes,
    )
    .unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    for d in &report.destinations {
        assert_eq!(d.copied, 20, "{}", d.name);
    }
    let done = finishes.0.lock().unwrap();
    let fast = done["fast"].duration_since(started);
    let slow = done["slow"].duration_since(started);
    assert!(
        fast * 2 < slow,
        "the fast destination finished at {fast:?}, the slow one at {slow:?}: it was held up"
    );
}
