//! The scheduled scrub over thirty simulated days (the catalog's clock, moved on by the
//! test): every copy at every destination is read back within `verify.every`, a share
//! each day, a flipped byte is found and repaired, and `verify.rate` holds.

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use triplicate::catalog::advance_clock;
use triplicate::destination::MediaKind;
use triplicate::home::{Home, Triplicate};
use triplicate::progress::NoProgress;
use triplicate::{engine, scrub, setup};
use triplicate_testkit as kit;

const DAY: i64 = 86_400;

/// A home with `photos` photos of `size` bytes, backed up to "usb" and "nas", and
/// `verify` appended to its configuration.
fn backed_up(dir: &Path, photos: usize, size: usize, verify: &str) -> Triplicate {
    let library = dir.join("photos");
    std::fs::create_dir_all(&library).unwrap();
    for i in 0..photos {
        let jpeg = kit::jpeg("2024:06:01 10:00:00", &kit::noise(&format!("p{i}"), size));
        std::fs::write(library.join(format!("IMG_{i:04}.JPG")), jpeg).unwrap();
    }
    let home = Home::in_dir(&dir.join("home"));
    setup::init(&home, "studio", &[library]).unwrap();
    for (name, media) in [("usb", MediaKind::Hdd), ("nas", MediaKind::Nas)] {
        let root = dir.join(name);
        std::fs::create_dir_all(&root).unwrap();
        let new = setup::NewDestination::new(name, root.to_str().unwrap(), media, "onsite");
        setup::add_destination(&home, "studio", &new).unwrap();
    }
    let mut config = std::fs::read_to_string(&home.config).unwrap();
    config.push_str(verify);
    std::fs::write(&home.config, config).unwrap();
    let t = Triplicate::open(&home).unwrap();
    let report = engine::backup(&t, &Default::default(), &NoProgress).unwrap();
    assert!(report.ok(), "{:?}", report.problems);
    t
}

/// When each copy at each destination was last proven, by (destination, photo).
fn proofs(t: &Triplicate) -> HashMap<(String, i64), i64> {
    let mut all = HashMap::new();
    for d in &t.config.destinations {
        for row in t.catalog.copies_at(&d.id).unwrap() {
            all.insert((d.name.clone(), row.photo_id), row.verified_at.unwrap());
        }
    }
    all
}

#[test]
fn thirty_days_of_scrub_reach_every_copy_evenly_and_repair_a_flipped_byte() {
    let dir = tempfile::tempdir().unwrap();
    let t = backed_up(
        dir.path(),
        60,
        3_000,
        "\n[verify]\nevery = \"30d\"\nrepair = true\n",
    );
    let backed_up_at = triplicate::catalog::now();
    let copies = proofs(&t);
    assert_eq!(copies.len(), 120);

    let mut per_day = Vec::new();
    let (mut corrupt, mut repaired) = (0, 0);
    let mut flipped = None;
    for day in 1..=30 {
        advance_clock(DAY);
        if day == 12 {
            // A byte flips on the USB disk, in a copy not read since the backup.
            let usb = t.config.destination("usb").unwrap();
            let rows = t.catalog.copies_at(&usb.id).unwrap();
            let row = rows
                .iter()
                .filter(|r| r.verified_at <= Some(backed_up_at))
                .max_by_key(|r| r.photo_id)
                .unwrap();
            let path = row.key.to_path(&usb.local_root());
            let mut bytes = std::fs::read(&path).unwrap();
            bytes[1_000] ^= 0x01;
            std::fs::write(&path, &bytes).unwrap();
            flipped = Some(path);
        }
        let mut checked: HashMap<String, u64> = HashMap::new();
        while let Some(step) = scrub::step(&t, &NoProgress).unwrap() {
            for d in &step.report.destinations {
                *checked.entry(d.name.clone()).or_default() += d.checked;
                corrupt += d.corrupt;
                repaired += d.repaired;
            }
        }
        per_day.push(checked);
    }

    // A share each day: two of each destination's sixty copies, never a pile.
    for (day, checked) in per_day.iter().enumerate() {
        for name in ["usb", "nas"] {
            let n = checked.get(name).copied().unwrap_or(0);
            assert!((1..=4).contains(&n), "day {}: {name} checked {n}", day + 1);
        }
    }
    // Every copy was read back within the thirty days, none is overdue.
    let now = triplicate::catalog::now();
    for ((dest, photo), at) in proofs(&t) {
        assert!(
            at > backed_up_at && now - at <= 30 * DAY,
            "{dest}: photo {photo} last proven {} days ago",
            (now - at) / DAY
        );
    }
    for d in &t.config.destinations {
        let p = scrub::proofs(&t, d, now).unwrap().unwrap();
        assert_eq!((p.within, p.overdue), (60, 0), "{}", d.name);
    }
    // The flipped byte was found, and the copy written again from a good one.
    assert_eq!((corrupt, repaired), (1, 1));
    let path = flipped.unwrap();
    let name = path.file_name().unwrap().to_str().unwrap();
    let original = std::fs::read(dir.path().join("photos").join(name)).unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), original);
}

#[test]
fn a_scrub_reads_no_faster_than_verify_rate() {
    let dir = tempfile::tempdir().unwrap();
    // Every copy is owed at once (a one-day period): three photos of 1 MB each.
    let t = backed_up(
        dir.path(),
        3,
        1_000_000,
        "\n[verify]\nevery = \"1d\"\nrate = \"1MB/s\"\n",
    );
    advance_clock(DAY);
    let started = Instant::now();
    let step = scrub::step(&t, &NoProgress).unwrap().unwrap();
    let seconds = started.elapsed().as_secs_f64();
    let read: u64 = step.report.destinations.iter().map(|d| d.bytes).sum();
    assert_eq!(step.report.destinations[0].checked, 3);
    assert!(read >= 3_000_000, "{read}");
    // 3 MB at 1 MB/s, after a first megabyte at once.
    assert!(seconds >= 1.8, "read {read} bytes in {seconds:.2} s");
}

#[test]
fn nothing_is_owed_when_scheduled_checks_are_off() {
    let dir = tempfile::tempdir().unwrap();
    let t = backed_up(dir.path(), 3, 1_000, "\n[verify]\nevery = \"0d\"\n");
    advance_clock(365 * DAY);
    assert!(scrub::step(&t, &NoProgress).unwrap().is_none());
    let usb = t.config.destination("usb").unwrap();
    assert_eq!(
        scrub::proofs(&t, usb, triplicate::catalog::now()).unwrap(),
        None
    );
}
