//! Card ingest under faults, through the library: a destination whose copies read back
//! damaged makes the card NOT SAFE until an ingest without the fault finishes the job,
//! and a card pulled out mid-ingest gives a clear error, leaves nothing partial, and the
//! next ingest resumes. The card and the destination are on tmpfs mounts of their own
//! (the tests run as root), so that the devices are really distinct.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use triplicate::destination::faulty::{Exercised, FaultPlan, FaultyDestination};
use triplicate::destination::{MediaKind, WriteDestination};
use triplicate::engine::DestinationWrapper;
use triplicate::home::{Home, Triplicate};
use triplicate::ingest::{IngestOptions, ingest};
use triplicate::progress::NoProgress;
use triplicate::setup::{self, NewDestination};
use triplicate_testkit as kit;
use triplicate_testkit::mount::Mount;

/// A home with a library, one destination "usb" on its own tmpfs, and a card on
/// another.
fn setup(dir: &Path) -> (Home, Vec<Mount>) {
    let home = Home::in_dir(&dir.join("home"));
    let library = dir.join("library");
    std::fs::create_dir_all(&library).unwrap();
    setup::init(&home, "test", &[library]).unwrap();
    let mounts = vec![
        Mount::tmpfs(&dir.join("usb"), "64m"),
        Mount::tmpfs(&dir.join("card"), "64m"),
    ];
    setup::add_destination(
        &home,
        "test",
        &NewDestination::new(
            "usb",
            dir.join("usb").to_str().unwrap(),
            MediaKind::Hdd,
            "onsite",
        ),
    )
    .unwrap();
    (home, mounts)
}

fn options(card: &Path, wrap: Option<DestinationWrapper>) -> IngestOptions {
    IngestOptions {
        card: card.into(),
        wrap,
        ..Default::default()
    }
}

#[test]
fn copies_that_read_back_damaged_are_not_safe_until_an_ingest_without_the_fault() {
    let dir = tempfile::tempdir().unwrap();
    let (home, _mounts) = setup(dir.path());
    let card = dir.path().join("card");
    let files = kit::write_card(&card, &kit::CardSpec::default()).unwrap();
    let t = Triplicate::open(&home).unwrap();

    // Every read-back at "usb" flips a bit: no copy there can be verified.
    let exercised = Arc::new(Exercised::default());
    let seen = exercised.clone();
    let wrap = DestinationWrapper(Arc::new(move |d: Arc<dyn WriteDestination>| {
        Arc::new(FaultyDestination::new(
            d,
            FaultPlan {
                seed: 7,
                read_flips: 1.0,
                ..Default::default()
            },
            Arc::new(AtomicBool::new(true)),
            seen.clone(),
        )) as Arc<dyn WriteDestination>
    }));
    let r = ingest(&t, &options(&card, Some(wrap)), &NoProgress).unwrap();
    assert!(exercised.read_flips.load(Ordering::Relaxed) >= files.len() as u64);
    assert!(!r.verdict.safe, "{r:?}");
    assert_eq!(r.verdict.reasons.len(), files.len(), "{:?}", r.verdict);
    assert!(
        r.verdict.reasons[0].contains("1 verified copy on 1 device (library '"),
        "{:?}",
        r.verdict
    );
    assert!(
        r.problems
            .iter()
            .any(|p| p.message.contains("read back with hash")),
        "{:?}",
        r.problems
    );
    // Nothing at "usb" counts as verified.
    let usb = &t.config.destinations[0];
    assert!(
        t.catalog
            .copies_at(&usb.id)
            .unwrap()
            .iter()
            .all(|c| c.state != "verified")
    );

    // The fault gone, the next ingest proves the copies (read back right this time,
    // they are adopted) and the card is safe.
    let r = ingest(&t, &options(&card, None), &NoProgress).unwrap();
    assert!(r.verdict.safe, "{:?}", r.verdict);
    assert_eq!(r.copied, 0, "the library had every file");
    let usb_report = &r.destinations[0];
    assert_eq!(
        (usb_report.written + usb_report.already) as usize,
        files.len(),
        "{r:?}"
    );
    assert_eq!(
        t.catalog
            .copies_at(&usb.id)
            .unwrap()
            .iter()
            .filter(|c| c.state == "verified")
            .count(),
        files.len()
    );
}

#[test]
fn a_card_pulled_out_mid_ingest_says_so_and_the_next_ingest_resumes() {
    let dir = tempfile::tempdir().unwrap();
    let (home, _mounts) = setup(dir.path());
    let card = dir.path().join("card");
    let spec = kit::CardSpec {
        pairs: 6,
        raw_size: 2 << 20,
        ..Default::default()
    };
    let files = kit::write_card(&card, &spec).unwrap();
    let t = Triplicate::open(&home).unwrap();

    // Writes to "usb" crawl; meanwhile the card's files vanish, as when it is pulled.
    let wrap = DestinationWrapper(Arc::new(|d: Arc<dyn WriteDestination>| {
        Arc::new(FaultyDestination::new(
            d,
            FaultPlan {
                slow_writes: 1.0,
                slow_by: Duration::from_millis(20),
                ..Default::default()
            },
            Arc::new(AtomicBool::new(true)),
            Default::default(),
        )) as Arc<dyn WriteDestination>
    }));
    let pulled = dir.path().join("pulled");
    let report = std::thread::scope(|s| {
        let run = s.spawn(|| {
            let mut o = options(&card, Some(wrap));
            o.jobs = Some(1);
            ingest(&t, &o, &NoProgress).unwrap()
        });
        // Once the first file is in the library, pull the card.
        let library = dir.path().join("library");
        while kit::tree_hashes(&library)
            .map(|h| h.is_empty())
            .unwrap_or(true)
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        Command::new("cp")
            .arg("-a")
            .arg(&card)
            .arg(&pulled)
            .status()
            .unwrap();
        for f in &files {
            let _ = std::fs::remove_file(card.join(&f.path));
        }
        run.join().unwrap()
    });
    assert!(!report.verdict.safe);
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.message.contains("is the card still in?")),
        "{:?}",
        report.problems
    );
    // Nothing half-written anywhere.
    for root in [dir.path().join("library"), dir.path().join("usb")] {
        assert_eq!(triplicate_testkit::leftovers(&root), Vec::<PathBuf>::new());
    }

    // The card back in: the next ingest finishes, and copies only what was missing.
    for f in &files {
        std::fs::copy(pulled.join(&f.path), card.join(&f.path)).unwrap();
    }
    let r = ingest(&t, &options(&card, None), &NoProgress).unwrap();
    assert!(r.verdict.safe, "{:?}", r.verdict);
    assert!(r.already >= 1, "{r:?}");
    assert_eq!(r.copied + r.already, files.len() as u64);
}

#[test]
fn a_damaged_copy_that_cannot_be_written_again_is_failed_in_the_mhl_history() {
    let dir = tempfile::tempdir().unwrap();
    let (home, _mounts) = setup(dir.path());
    let card = dir.path().join("card");
    kit::write_card(&card, &kit::CardSpec::default()).unwrap();
    let t = Triplicate::open(&home).unwrap();
    assert!(
        ingest(&t, &options(&card, None), &NoProgress)
            .unwrap()
            .verdict
            .safe
    );

    // Damage one copy at "usb", then ingest again while every photo put there fails.
    let usb = dir.path().join("usb");
    let victim = kit::files_under(&usb)
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "CR2"))
        .unwrap();
    let key = victim
        .strip_prefix(&usb)
        .unwrap()
        .to_string_lossy()
        .into_owned();
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[7] ^= 0xff;
    std::fs::write(&victim, &bytes).unwrap();
    let wrap = DestinationWrapper(Arc::new(move |d: Arc<dyn WriteDestination>| {
        Arc::new(FaultyDestination::new(
            d,
            FaultPlan {
                write_errors: 1.0,
                spared: vec!["ascmhl/".into()],
                ..Default::default()
            },
            Arc::new(AtomicBool::new(true)),
            Arc::new(Exercised::default()),
        )) as Arc<dyn WriteDestination>
    }));
    let r = ingest(&t, &options(&card, Some(wrap)), &NoProgress).unwrap();
    assert!(!r.verdict.safe, "{:?}", r.verdict);
    assert!(
        r.verdict.reasons.iter().any(|x| x.contains("IMG_")),
        "{:?}",
        r.verdict
    );

    // The newest generation at "usb": the damaged file `failed`, with the hash of
    // what was found; the good ones `verified`, hashed in this run.
    let mut generations: Vec<PathBuf> = std::fs::read_dir(usb.join("ascmhl"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "mhl"))
        .collect();
    generations.sort();
    let newest = std::fs::read_to_string(generations.last().unwrap()).unwrap();
    let found = format!("{:016x}", xxhash_rust::xxh64::xxh64(&bytes, 0));
    let entry = newest
        .split("<hash>")
        .find(|e| e.contains("<path") && e.contains(&key))
        .unwrap_or_else(|| panic!("{key} is in the generation:\n{newest}"));
    assert!(
        entry.contains("action=\"failed\"") && entry.contains(&found),
        "{entry}"
    );
    assert!(newest.contains("action=\"verified\""), "{newest}");
}

#[test]
fn a_permanent_failure_at_one_destination_is_reported_while_another_retries() {
    // "usb" gets every copy short (a permanent failure: no retry), "usb2" fails each
    // write with an I/O error (tried again up to the last attempt). The retries at
    // "usb2" used to forget that "usb" had failed: no problem, no failure counted.
    let dir = tempfile::tempdir().unwrap();
    let (home, _mounts) = setup(dir.path());
    let _usb2 = Mount::tmpfs(&dir.path().join("usb2"), "64m");
    setup::add_destination(
        &home,
        "test",
        &NewDestination::new(
            "usb2",
            dir.path().join("usb2").to_str().unwrap(),
            MediaKind::Hdd,
            "onsite",
        ),
    )
    .unwrap();
    let card = dir.path().join("card");
    let files = kit::write_card(&card, &kit::CardSpec::default()).unwrap();
    let t = Triplicate::open(&home).unwrap();
    let wrap = DestinationWrapper(Arc::new(move |d: Arc<dyn WriteDestination>| {
        let plan = match d.name() {
            "usb" => FaultPlan {
                short_writes: 1.0,
                ..Default::default()
            },
            _ => FaultPlan {
                write_errors: 1.0,
                ..Default::default()
            },
        };
        Arc::new(FaultyDestination::new(
            d,
            FaultPlan {
                spared: vec!["ascmhl/".into()],
                ..plan
            },
            Arc::new(AtomicBool::new(true)),
            Arc::new(Exercised::default()),
        )) as Arc<dyn WriteDestination>
    }));
    let r = ingest(&t, &options(&card, Some(wrap)), &NoProgress).unwrap();
    assert!(!r.verdict.safe, "{:?}", r.verdict);
    for name in ["usb", "usb2"] {
        let report = r.destinations.iter().find(|d| d.name == name).unwrap();
        assert_eq!(report.failed as usize, files.len(), "{name}: {r:?}");
        assert_eq!(
            r.problems
                .iter()
                .filter(|p| p.message.contains(&format!(" → {name}: ")))
                .count(),
            files.len(),
            "{name}: {:?}",
            r.problems
        );
    }
}
