//! Backups under injected faults: I/O errors, short writes, bit flips on read-back and
//! slow writes. No copy is ever counted as verified with the wrong bytes, every photo
//! ends up verified once the faults stop, and every planned fault actually struck.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use triplicate::destination::faulty::{Exercised, FaultPlan, FaultyDestination};
use triplicate::destination::{MediaKind, WriteDestination};
use triplicate::engine::{self, BackupOptions, DestinationWrapper};
use triplicate::home::{Home, Triplicate};
use triplicate::progress::NoProgress;
use triplicate::setup::{self, NewDestination};
use triplicate_testkit as kit;

fn add(home: &Home, name: &str, root: &std::path::Path, media: MediaKind) {
    std::fs::create_dir_all(root).unwrap();
    setup::add_destination(
        home,
        "test",
        &NewDestination::new(name, root.to_str().unwrap(), media, "onsite"),
    )
    .unwrap();
}

/// Every copy the catalog counts as verified holds exactly the photo's bytes.
fn assert_verified_copies_are_right(t: &Triplicate) {
    for d in &t.config.destinations {
        for row in t.catalog.copies_at(&d.id).unwrap() {
            if row.state != "verified" {
                continue;
            }
            let bytes = std::fs::read(row.key.to_path(&d.local_root())).unwrap();
            assert_eq!(
                blake3::hash(&bytes).as_bytes(),
                &row.hash.0,
                "{}: {} counted as verified with the wrong bytes",
                d.name,
                row.key
            );
        }
    }
}

#[test]
fn backups_under_faults_never_count_a_bad_copy_and_finish_once_faults_stop() {
    let dir = tempfile::tempdir().unwrap();
    let plan = FaultPlan {
        seed: 42,
        write_errors: 0.15,
        short_writes: 0.10,
        read_flips: 0.10,
        slow_writes: 0.10,
        slow_by: Duration::from_millis(2),
        spared: Vec::new(),
    };
    let (t, options, exercised, active) = faulty_home(dir.path(), plan);

    let mut failures_seen = 0;
    for _ in 0..3 {
        let report = engine::backup(&t, &options, &NoProgress).unwrap();
        failures_seen += report.problems.len();
        assert_verified_copies_are_right(&t);
    }
    assert!(failures_seen > 0, "the faults made some copies fail");

    active.store(false, Ordering::Relaxed);
    let report = engine::backup(&t, &options, &NoProgress).unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    assert_verified_copies_are_right(&t);
    let status = triplicate::status::status(&t, false).unwrap();
    for d in &status.destinations {
        assert_eq!((d.counts.pending, d.counts.failed), (0, 0), "{}", d.name);
        assert_eq!(d.counts.verified, 38, "{}", d.name);
    }
    for (fault, n) in [
        ("write errors", &exercised.write_errors),
        ("short writes", &exercised.short_writes),
        ("read flips", &exercised.read_flips),
        ("slow writes", &exercised.slow_writes),
    ] {
        assert!(
            n.load(Ordering::Relaxed) > 0,
            "planned {fault} never struck"
        );
    }
}

/// A home with a 38-file card and two destinations, wrapped in faults from `plan`.
fn faulty_home(
    dir: &std::path::Path,
    plan: FaultPlan,
) -> (Triplicate, BackupOptions, Arc<Exercised>, Arc<AtomicBool>) {
    let library = dir.join("library");
    kit::write_card(
        &library.join("card"),
        &kit::CardSpec {
            pairs: 15,
            raw_size: 8 << 10,
            jpeg_size: 4 << 10,
            ..Default::default()
        },
    )
    .unwrap();
    let home = Home::in_dir(&dir.join("home"));
    setup::init(&home, "test", std::slice::from_ref(&library)).unwrap();
    add(&home, "usb", &dir.join("usb"), MediaKind::Hdd);
    add(&home, "nas", &dir.join("nas"), MediaKind::Nas);
    let exercised = Arc::new(Exercised::default());
    let active = Arc::new(AtomicBool::new(true));
    let wrap = {
        let (exercised, active) = (exercised.clone(), active.clone());
        DestinationWrapper(Arc::new(move |inner: Arc<dyn WriteDestination>| {
            Arc::new(FaultyDestination::new(
                inner,
                plan.clone(),
                active.clone(),
                exercised.clone(),
            )) as Arc<dyn WriteDestination>
        }))
    };
    let options = BackupOptions {
        wrap: Some(wrap),
        ..Default::default()
    };
    (Triplicate::open(&home).unwrap(), options, exercised, active)
}

#[test]
fn transient_write_errors_are_retried_within_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let plan = FaultPlan {
        seed: 1,
        write_errors: 0.5,
        ..Default::default()
    };
    let (t, options, exercised, _) = faulty_home(dir.path(), plan);
    let report = engine::backup(&t, &options, &NoProgress).unwrap();
    let failed: u64 = report.destinations.iter().map(|d| d.failed).sum();
    // Without retries about half of the 76 copies would fail; with up to four
    // attempts about one in sixteen may.
    assert!(
        failed < 20,
        "{failed} copies failed: transient errors were not retried"
    );
    assert!(exercised.write_errors.load(Ordering::Relaxed) > 30);
    assert_verified_copies_are_right(&t);
}

#[test]
fn permanent_failures_are_not_retried_within_the_run() {
    let dir = tempfile::tempdir().unwrap();
    let plan = FaultPlan {
        seed: 2,
        short_writes: 1.0,
        ..Default::default()
    };
    let (t, options, exercised, _) = faulty_home(dir.path(), plan);
    let report = engine::backup(&t, &options, &NoProgress).unwrap();
    let failed: u64 = report.destinations.iter().map(|d| d.failed).sum();
    assert_eq!(failed, 76, "every copy fails: its data arrives short");
    assert_eq!(
        exercised.short_writes.load(Ordering::Relaxed),
        76,
        "and each is tried once"
    );
    let status = triplicate::status::status(&t, false).unwrap();
    assert!(
        status
            .destinations
            .iter()
            .all(|d| d.counts.failed_permanent == 38)
    );
}
