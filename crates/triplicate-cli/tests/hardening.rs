//! The faults an independent adversarial run found (issue "Hardening"), each
//! reproduced first, named after what broke.

mod common;

use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::World;

#[test]
fn dest_edit_of_an_unknown_destination_with_no_option_does_not_panic() {
    let w = World::new();
    w.init();
    let out = w.run(&["dest", "edit", "nosuch"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("no destination named 'nosuch' (see `triplicate dest list`)"),
        "{err}"
    );
}

#[test]
fn status_into_a_closed_pipe_ends_quietly() {
    // `triplicate status --at-risk | head -1`: the reader goes away first.
    let w = World::new();
    w.init();
    for i in 0..200 {
        let path = w.library().join(format!("IMG_{i:04}.JPG"));
        std::fs::write(path, format!("photo {i}")).unwrap();
    }
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    w.backup(&[]);
    let mut child = w
        .cmd()
        .args(["status", "--at-risk"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
}

#[test]
fn verify_after_bit_rot_is_not_good_while_the_rot_is_open() {
    let w = common::studio();
    let files = w.card("card1", &common::kit::CardSpec::default());
    w.backed_up(&[]);
    // A flipped byte in place, the modification time kept: possible bit rot.
    let raw = files
        .iter()
        .map(|f| w.library().join("card1").join(&f.path))
        .find(|p| p.extension().is_some_and(|e| e == "CR2"))
        .unwrap();
    let when = std::fs::metadata(&raw).unwrap().modified().unwrap();
    let mut bytes = std::fs::read(&raw).unwrap();
    bytes[200] ^= 0x10;
    std::fs::write(&raw, &bytes).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&raw)
        .unwrap()
        .set_modified(when)
        .unwrap();
    let (code, first) = w.json("verify", &[]);
    assert_eq!(code, 1, "{first}");
    assert_eq!(first["library"]["bit_rot"], 1, "{first}");

    // The next verify skips the held file, but must not call the run good.
    let (code, again) = w.json("verify", &[]);
    assert_eq!(code, 1, "{again}");
    assert_eq!(again["open_bit_rot"], 1, "{again}");
    let text = String::from_utf8_lossy(&w.run(&["verify"]).stdout).into_owned();
    assert!(text.contains("1 possible bit rot open"), "{text}");

    // Resolved (the change accepted by a person): good again.
    w.ok(&["accept-changes"]);
    let (code, done) = w.json("verify", &[]);
    assert_eq!(code, 0, "{done}");
    assert_eq!(done["open_bit_rot"], 0);
}

#[test]
fn a_damaged_copy_gives_its_real_name_back_to_the_good_bytes_on_the_next_backup() {
    let w = common::studio();
    w.card("card1", &common::kit::CardSpec::default());
    w.backed_up(&[]);
    let usb = w.path("usb");
    let before = common::stored(&usb);
    let (victim, good_hash) = before
        .iter()
        .find(|(p, _)| p.extension().is_some_and(|e| e == "CR2"))
        .map(|(p, h)| (usb.join(p), h.clone()))
        .unwrap();
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[300] ^= 0x01;
    std::fs::write(&victim, &bytes).unwrap();

    // verify without --repair finds it; then a plain backup puts it right.
    let (code, report) = w.json("verify", &["--dest", "usb"]);
    assert_eq!(code, 1, "{report}");
    w.backed_up(&[]);

    let after = common::stored(&usb);
    assert_eq!(
        after, before,
        "the good bytes under the real name, and no `~` twin"
    );
    assert_eq!(
        common::stored(&usb)[victim.strip_prefix(&usb).unwrap()],
        good_hash
    );
    let aside = common::kit::files_under(&usb.join(".triplicate/quarantine"));
    assert_eq!(aside.len(), 1, "{aside:?}");
    assert_eq!(std::fs::read(&aside[0]).unwrap(), bytes);
    let (code, report) = w.json("verify", &["--dest", "usb"]);
    assert_eq!(code, 0, "{report}");
}

#[test]
fn a_photo_named_like_a_temporary_file_survives_the_crash_sweep() {
    let w = common::studio();
    let name = ".triplicate-partial-0123456789abcdef.JPG";
    let photo = w.library().join("2024").join(name);
    std::fs::create_dir_all(photo.parent().unwrap()).unwrap();
    std::fs::write(&photo, b"a photo with an unlucky name").unwrap();
    w.backed_up(&[]);
    let usb = w.path("usb");
    let stored: Vec<_> = common::stored(&usb).into_keys().collect();
    assert_eq!(
        stored.len(),
        1,
        "stored under a name the sweep never takes: {stored:?}"
    );
    let key = &stored[0];
    assert!(
        key.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("%2Etriplicate-partial-"),
        "{key:?}"
    );

    // The photo leaves the library; a later backup into the same folder is killed
    // (its folder stays in the write journal), so the next run sweeps that folder.
    std::fs::remove_file(&photo).unwrap();
    let list: serde_json::Value = serde_json::from_str(&w.ok(&["dest", "list", "--json"])).unwrap();
    let usb_id = list
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "usb")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let catalog = triplicate::catalog::Catalog::open(&w.home().join("catalog.db")).unwrap();
    let folder = triplicate::relpath::RelPath::new(
        key.parent().unwrap().to_string_lossy().as_bytes().to_vec(),
    )
    .unwrap();
    catalog.journal_folder(&usb_id, &folder).unwrap();
    drop(catalog);
    w.backed_up(&[]);

    // The only copy is still there, verify finds it, restore brings it back by name.
    assert!(usb.join(key).is_file(), "the sweep took the only copy");
    let (code, report) = w.json("verify", &["--dest", "usb"]);
    assert_eq!(code, 0, "{report}");
    let to = w.path("back");
    let (code, report) = w.json("restore", &["--all", "--to", to.to_str().unwrap()]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(
        std::fs::read(to.join("2024").join(name)).unwrap(),
        b"a photo with an unlucky name"
    );
}

#[test]
fn a_deleted_catalog_is_named_not_silently_replaced_by_an_empty_one() {
    let w = common::studio();
    let files = w.card("card1", &common::kit::CardSpec::default()).len();
    w.backed_up(&[]);
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(w.home().join(format!("catalog.db{suffix}")));
    }

    let out = w.run(&["status", "--json"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("knows no photo, but destination") && err.contains("catalog rebuild"),
        "{err}"
    );
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(
        status["warnings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["kind"] == "catalog lost"),
        "{status}"
    );
    // "Restored 0 of 0, every restored file verified" would be a lie.
    let to = w.path("back");
    let out = w.run(&["restore", "--all", "--to", to.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("catalog rebuild"));

    w.ok(&["catalog", "rebuild"]);
    let out = w.run(&["status", "--json"]);
    assert!(!String::from_utf8_lossy(&out.stderr).contains("knows no photo"));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        status["coverage"]["only_in_backups"].as_u64(),
        Some(files as u64)
    );
    let (code, report) = w.json("restore", &["--all", "--to", to.to_str().unwrap()]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["restored"].as_u64(), Some(files as u64));
}

#[test]
fn backup_ends_instead_of_hanging_when_the_catalog_disk_fills_during_the_scan() {
    let w = World::new();
    let home_disk = common::Mount::tmpfs(&w.home(), "3m");
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    for i in 0..6000 {
        let path = w.library().join(format!("{:02}/IMG_{i:05}.JPG", i / 500));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, format!("photo {i}")).unwrap();
    }
    // Leave the catalog's disk almost full.
    let free = {
        let out = std::process::Command::new("df")
            .args(["--output=avail", "-B1"])
            .arg(&home_disk.path)
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .nth(1)
            .unwrap()
            .trim()
            .parse::<u64>()
            .unwrap()
    };
    std::fs::write(
        home_disk.path.join("filler"),
        vec![0u8; free.saturating_sub(96 * 1024) as usize],
    )
    .unwrap();

    let mut child = w
        .cmd()
        .args(["backup"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(120);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if std::time::Instant::now() > deadline {
            let _ = child.kill();
            panic!("backup hung with the catalog's disk full");
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    };
    let mut err = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut err).unwrap();
    assert!(!status.success(), "{err}");
    assert!(err.contains("full"), "{err}");
}

#[test]
fn a_copy_replaced_by_a_symlink_or_a_folder_is_damage_and_is_healed() {
    let w = common::studio();
    w.card("card1", &common::kit::CardSpec::default());
    w.backed_up(&[]);
    let usb = w.path("usb");
    let before = common::stored(&usb);
    let mut raws = before
        .keys()
        .filter(|p| p.extension().is_some_and(|e| e == "CR2"))
        .map(|p| usb.join(p));
    let linked = raws.next().unwrap();
    let folded = raws.next().unwrap();
    // A link to the library original: it reads right, but it is no copy.
    let original = common::kit::files_under(&w.library())
        .into_iter()
        .find(|p| p.file_name() == linked.file_name())
        .unwrap();
    std::fs::remove_file(&linked).unwrap();
    std::os::unix::fs::symlink(&original, &linked).unwrap();
    std::fs::remove_file(&folded).unwrap();
    std::fs::create_dir(&folded).unwrap();

    let (code, report) = w.json("verify", &["--dest", "usb"]);
    assert_eq!(code, 1, "both are damage: {report}");
    let usb_report = common::dest(&report, "usb");
    assert_eq!(
        usb_report["corrupt"].as_u64().unwrap() + usb_report["missing"].as_u64().unwrap(),
        2,
        "{report}"
    );
    assert_eq!(
        common::dest(&w.status(), "usb")["verified"],
        before.len() - 2
    );

    let (code, report) = w.json("verify", &["--dest", "usb", "--repair"]);
    assert_eq!(code, 0, "{report}");
    for healed in [&linked, &folded] {
        let meta = std::fs::symlink_metadata(healed).unwrap();
        assert!(meta.is_file(), "{} is a file again", healed.display());
    }
    assert_eq!(common::stored(&usb), before);
    let (code, report) = w.json("verify", &["--dest", "usb"]);
    assert_eq!(code, 0, "{report}");
}

#[test]
fn a_damaged_catalog_is_said_once_with_the_fix_and_never_exits_zero() {
    let w = common::studio();
    w.card("card1", &common::kit::CardSpec::default());
    w.backed_up(&[]);
    // Fold the write-ahead log in, then damage the pages after the header.
    w.ok(&["status"]);
    let db = w.home().join("catalog.db");
    let mut bytes = std::fs::read(&db).unwrap();
    for b in bytes.iter_mut().skip(4096).take(4096 * 3) {
        *b ^= 0x5a;
    }
    std::fs::write(&db, &bytes).unwrap();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(w.home().join(format!("catalog.db{suffix}")));
    }
    for args in [&["status"][..], &["backup"][..]] {
        let out = w.run(args);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_ne!(out.status.code(), Some(0), "{args:?}: {err}");
        assert!(
            err.contains("triplicate catalog rebuild"),
            "{args:?}: {err}"
        );
        assert!(!err.contains("panicked"), "{err}");
        let said = err.matches("malformed").count() + err.matches("not a database").count();
        assert_eq!(said, 1, "SQLite's words once: {err}");
    }
}

#[test]
fn a_damaged_page_that_backup_never_reads_still_fails_the_backup() {
    let w = common::studio();
    w.card("card1", &common::kit::CardSpec::default());
    w.backed_up(&[]);
    w.ok(&["status"]);
    let db = w.home().join("catalog.db");
    // The root page of a table a backup has no reason to read (GRID's, off here).
    let page: i64 = rusqlite::Connection::open(&db)
        .unwrap()
        .query_row(
            "SELECT rootpage FROM sqlite_master WHERE name = 'grid_records'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    let mut bytes = std::fs::read(&db).unwrap();
    for b in bytes.iter_mut().skip((page as usize - 1) * 4096).take(4096) {
        *b ^= 0x5a;
    }
    std::fs::write(&db, &bytes).unwrap();
    for suffix in ["-wal", "-shm"] {
        let _ = std::fs::remove_file(w.home().join(format!("catalog.db{suffix}")));
    }
    std::fs::write(w.library().join("new.JPG"), b"a new photo").unwrap();
    let out = w.run(&["backup"]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_ne!(out.status.code(), Some(0), "{said}");
    assert!(
        said.contains("is damaged") && said.contains("triplicate catalog rebuild"),
        "{said}"
    );
}

#[test]
fn a_disk_unplugged_during_a_backup_is_not_written_on_the_system_disk() {
    common::require_root();
    let w = World::new();
    w.init();
    let usb = common::Mount::ext4(&w.path("media/usb"), &w.path("usb.img"), "512M");
    w.add_dest("usb", &usb.path, "hdd", "onsite");
    let day = w.library().join("2026/2026-12-02");
    std::fs::create_dir_all(&day).unwrap();
    for i in 0..40 {
        std::fs::write(
            day.join(format!("IMG_{i:04}.JPG")),
            triplicate_testkit::noise(&format!("unplugged-{i}"), 6 << 20),
        )
        .unwrap();
    }
    let mut run = common::Killed(
        w.cmd()
            .args(["backup", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let start = std::time::Instant::now();
    while common::count_published(&usb.path) < 2 {
        assert!(start.elapsed().as_secs() < 120, "the backup never started");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    usb.unplug_lazily();
    let child = std::mem::replace(&mut run.0, w.cmd().arg("--version").spawn().unwrap());
    let out = child.wait_with_output().unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert_ne!(out.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        format!("{stdout}{stderr}").contains("went away"),
        "{stdout}\n{stderr}"
    );
    // The bare mount point, a folder on the system disk, holds nothing.
    assert_eq!(
        triplicate_testkit::files_under(&usb.path),
        Vec::<std::path::PathBuf>::new(),
        "written on the system disk in the unplugged disk's place"
    );
    let status = w.status();
    let verified = common::dest(&status, "usb")["verified"].as_u64().unwrap();
    assert!(
        verified < 40,
        "copies made after the disk went are counted: {status}"
    );

    // Plugged back: every copy the catalog counts is there, and the next run
    // finishes the job with each photo once.
    usb.plug_back();
    let (code, report) = w.json("verify", &["--dest", "usb"]);
    assert_eq!(code, 0, "a counted copy is not on the disk: {report}");
    w.backed_up(&[]);
    assert_eq!(common::stored(&usb.path).len(), 40);
    assert_eq!(common::dest(&w.status(), "usb")["verified"], 40);
    assert!(common::partials(&usb.path).is_empty());
}

/// Every file under `root` (not `.triplicate/`) with its modification time.
fn mtimes(root: &std::path::Path) -> std::collections::BTreeMap<std::path::PathBuf, SystemTime> {
    triplicate_testkit::tree_hashes(root)
        .unwrap()
        .into_keys()
        .map(|p| {
            let when = std::fs::metadata(root.join(&p))
                .unwrap()
                .modified()
                .unwrap();
            (p, when)
        })
        .collect()
}

/// A library of `n` photos of `size` bytes, each with its own modification time in
/// 2019.
fn dated_library(w: &World, n: usize, size: usize) {
    let day = w.library().join("2019/2019-06-01");
    std::fs::create_dir_all(&day).unwrap();
    for i in 0..n {
        let path = day.join(format!("IMG_{i:04}.JPG"));
        std::fs::write(
            &path,
            triplicate_testkit::noise(&format!("dated-{i}"), size),
        )
        .unwrap();
        let when = UNIX_EPOCH + Duration::new(1_559_347_200 + 3_600 * i as u64, 123_456_789);
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(when)
            .unwrap();
    }
}

#[test]
fn a_killed_restore_leaves_nothing_behind_and_every_file_keeps_its_mtime() {
    let w = common::studio();
    dated_library(&w, 24, 2 << 20);
    let original = mtimes(&w.library());
    w.backed_up(&[]);
    let to = w.path("restored");
    let mut killed = 0;
    for pause in [30u64, 60, 90, 120, 150] {
        let mut run = common::Killed(
            w.cmd()
                .args(["restore", "--all", "--to", to.to_str().unwrap()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        std::thread::sleep(Duration::from_millis(pause));
        if run.0.try_wait().unwrap().is_none() {
            killed += 1;
        }
    }
    assert!(killed > 0, "no restore was interrupted");
    // A file restored by a run killed between the rename and setting its time.
    let first = to.join("2019/2019-06-01/IMG_0000.JPG");
    if first.exists() {
        std::fs::File::options()
            .write(true)
            .open(&first)
            .unwrap()
            .set_modified(SystemTime::now())
            .unwrap();
    }
    let (code, report) = w.json("restore", &["--all", "--to", to.to_str().unwrap()]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(mtimes(&to), original, "every restored file keeps its mtime");
    assert_eq!(common::partials(&to), Vec::<std::path::PathBuf>::new());
    assert!(
        !to.join(".triplicate").exists(),
        "the restore target holds only what was restored"
    );
}

#[test]
fn restore_after_a_catalog_rebuild_gives_back_every_files_mtime() {
    let w = common::studio();
    dated_library(&w, 6, 4096);
    let original = mtimes(&w.library());
    w.backed_up(&[]);
    std::fs::remove_file(w.home().join("catalog.db")).unwrap();
    w.ok(&["catalog", "rebuild"]);
    let to = w.path("restored");
    let (code, report) = w.json("restore", &["--all", "--to", to.to_str().unwrap()]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(mtimes(&to), original, "manifests carry each file's mtime");
}

#[test]
fn rebuild_keeps_every_good_manifest_line_reports_the_bad_and_counts_only_what_is_there() {
    let w = World::new();
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    dated_library(&w, 6, 4096);
    w.backed_up(&[]);
    let manifests = triplicate_testkit::files_under(&w.path("usb/.triplicate/manifests"));
    assert_eq!(manifests.len(), 1);
    let text = std::fs::read_to_string(&manifests[0]).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_string).collect();
    assert_eq!(lines.len(), 7, "a header and six entries");
    // One broken line, one invalid hash, one changed path.
    lines[1] = lines[1].replacen("{", "{broken", 1);
    let mut bad_hash: serde_json::Value = serde_json::from_str(&lines[2]).unwrap();
    bad_hash["blake3"] = "not-a-hash".into();
    lines[2] = bad_hash.to_string();
    let mut moved: serde_json::Value = serde_json::from_str(&lines[3]).unwrap();
    moved["path"] = "2019/elsewhere/IMG_9999.JPG".into();
    lines[3] = moved.to_string();
    std::fs::write(&manifests[0], lines.join("\n") + "\n").unwrap();

    std::fs::remove_file(w.home().join("catalog.db")).unwrap();
    let out = w.run(&["catalog", "rebuild", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_ne!(out.status.code(), Some(0), "{report}");
    assert_eq!(report["copies"], 3, "every good line is kept: {report}");
    assert_eq!(report["bad_lines"], 2, "{report}");
    assert_eq!(report["not_found"], 1, "{report}");
    let problems = report["problems"].to_string();
    assert!(
        problems.contains("line 2") && problems.contains("line 3"),
        "{problems}"
    );
    assert!(problems.contains("IMG_9999.JPG"), "{problems}");
    let status = w.status();
    assert_eq!(common::dest(&status, "usb")["verified"], 3, "{status}");

    // The next backup finds the photos again and stores none of them twice.
    w.backed_up(&[]);
    assert_eq!(common::dest(&w.status(), "usb")["verified"], 6);
    let stored = common::stored(&w.path("usb"));
    assert_eq!(stored.len(), 6, "a photo was stored twice: {stored:?}");
    let (code, report) = w.json("verify", &["--dest", "usb"]);
    assert_eq!(code, 0, "{report}");
}

#[test]
fn a_killed_ingest_leaves_nothing_behind_after_the_rerun_and_no_photo_is_taken_for_a_leftover() {
    common::require_root();
    let w = World::new();
    w.init();
    let (d1, d2) = (w.disk_sized("d1", "256m"), w.disk_sized("d2", "256m"));
    w.add_dest("d1", &d1, "hdd", "onsite");
    w.add_dest("d2", &d2, "hdd", "vault");
    let card = common::Mount::tmpfs(&w.path("card"), "128m");
    triplicate_testkit::write_card(
        &card.path,
        &triplicate_testkit::CardSpec {
            pairs: 16,
            raw_size: 6 << 20,
            ..Default::default()
        },
    )
    .unwrap();
    // A photo whose name only looks like a temporary file.
    let unlucky = w.library().join(".triplicate-partial-0123456789abcdef.JPG");
    std::fs::write(&unlucky, b"a photo with an unlucky name").unwrap();

    let staged = |place: &std::path::Path| {
        common::partials(place)
            .into_iter()
            .filter(|p| *p != unlucky)
            .collect::<Vec<_>>()
    };
    let mut killed = 0;
    let mut left = 0;
    for pause in [20u64, 40, 60, 80, 100, 120, 140, 160] {
        let mut run = common::Killed(
            w.cmd()
                .args(["ingest", card.path.to_str().unwrap()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        std::thread::sleep(Duration::from_millis(pause));
        if run.0.try_wait().unwrap().is_none() {
            killed += 1;
        }
        drop(run);
        left += [w.library(), d1.clone(), d2.clone()]
            .iter()
            .map(|p| staged(p).len())
            .sum::<usize>();
    }
    assert!(killed > 0, "no ingest was interrupted");
    assert!(left > 0, "the killed ingests left nothing to sweep");
    let (code, report) = w.json("ingest", &[card.path.to_str().unwrap()]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["verdict"]["safe"], true, "{report}");
    for place in [w.library(), d1, d2] {
        assert_eq!(
            staged(&place),
            Vec::<std::path::PathBuf>::new(),
            "after {killed} killed ingests that had left {left} files"
        );
    }
    assert_eq!(
        std::fs::read(&unlucky).unwrap(),
        b"a photo with an unlucky name"
    );
}

/// A GRID peer played by the test: answers every request with `answer(path)` and
/// counts the requests.
struct FakePeer {
    url: String,
    requests: std::sync::Arc<std::sync::atomic::AtomicUsize>,
}

fn fake_peer(answer: impl Fn(&str) -> String + Send + 'static) -> FakePeer {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let requests = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = requests.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut first = String::new();
            if reader.read_line(&mut first).is_err() {
                continue;
            }
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
            }
            counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let path = first.split(' ').nth(1).unwrap_or("/").to_string();
            let body = answer(&path);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTriplicate-Grid: 1\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    FakePeer { url, requests }
}

/// The `since` a feed request asks with.
fn since_of(path: &str) -> i64 {
    path.split(['?', '&'])
        .find_map(|p| p.strip_prefix("since="))
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn hello_of(id: &str, name: &str) -> String {
    serde_json::json!({
        "protocol": 1, "node_id": id, "name": name, "site": "onsite",
        "receives": false, "time": 0, "latest_seq": 1_000_000_000_000i64
    })
    .to_string()
}

const NODE_RECORD: &str =
    r#"{"type":"node","name":"evil","site":"onsite","receives":false,"libraries":[]}"#;

#[test]
fn a_peer_cannot_keep_grid_sync_pulling_forever() {
    let w = World::new();
    w.init();
    let id = uuid::Uuid::new_v4().to_string();
    let peer = {
        let id = id.clone();
        fake_peer(move |path| {
            if path.ends_with("/hello") {
                return hello_of(&id, "endless");
            }
            // One change per page, and always "more to come".
            let since = since_of(path);
            format!(
                r#"{{"node_id":"{id}","latest_seq":1000000000000,"next":{n},"changes":[{{"seq":{n},"origin":"{id}","origin_seq":{n},"record":{NODE_RECORD}}}]}}"#,
                n = since + 1
            )
        })
    };
    w.ok(&["grid", "add-peer", &peer.url, "--token", &"t".repeat(40)]);
    let start = std::time::Instant::now();
    let out = w.run(&["grid", "sync", "--json"]);
    let requests = peer.requests.load(std::sync::atomic::Ordering::SeqCst);
    assert!(
        start.elapsed() < Duration::from_secs(120),
        "grid sync took {:?}",
        start.elapsed()
    );
    assert!(
        requests <= 2 * (triplicate::grid::PULL_MAX_PAGES + 2) + 2,
        "{requests} requests in one sync: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    // It was pulled from all the same, as far as one exchange goes.
    let status: serde_json::Value =
        serde_json::from_str(&w.ok(&["grid", "status", "--json"])).unwrap();
    assert!(
        requests > triplicate::grid::PULL_MAX_PAGES,
        "{requests} requests: {status}"
    );
}

#[test]
fn a_peer_cannot_publish_records_in_another_nodes_name() {
    for origin in [
        "../../etc/passwd".to_string(),
        uuid::Uuid::new_v4().to_string(),
    ] {
        let w = World::new();
        w.init();
        let id = uuid::Uuid::new_v4().to_string();
        let peer = {
            let (id, origin) = (id.clone(), origin.clone());
            fake_peer(move |path| {
                if path.ends_with("/hello") {
                    return hello_of(&id, "forger");
                }
                if since_of(path) > 0 {
                    return format!(r#"{{"node_id":"{id}","latest_seq":1,"next":1,"changes":[]}}"#);
                }
                format!(
                    r#"{{"node_id":"{id}","latest_seq":1,"next":1,"changes":[{{"seq":1,"origin":"{origin}","origin_seq":1,"record":{NODE_RECORD}}}]}}"#
                )
            })
        };
        w.ok(&["grid", "add-peer", &peer.url, "--token", &"t".repeat(40)]);
        let out = w.run(&["grid", "sync", "--json"]);
        assert_ne!(out.status.code(), Some(0), "{origin} accepted");
        let said = String::from_utf8_lossy(&out.stdout);
        assert!(
            said.contains("not a node id") || said.contains("does not vouch for"),
            "{origin}: {said}"
        );
        let status: serde_json::Value =
            serde_json::from_str(&w.ok(&["grid", "status", "--json"])).unwrap();
        assert!(
            !status["nodes"].to_string().contains("evil"),
            "a record in {origin}'s name was kept: {status}"
        );
    }
}

#[test]
fn names_exfat_cannot_hold_are_stored_escaped_and_restored_under_their_own_names() {
    use std::os::unix::ffi::OsStrExt;
    common::require_root();
    let w = World::new();
    w.init();
    let card_disk = common::Mount::exfat(&w.path("media/exfat"), &w.path("exfat.img"));
    w.add_dest("exfat", &card_disk.path, "hdd", "onsite");
    let names: [&[u8]; 7] = [
        b"a:b?.JPG",
        b"tab\there.JPG",
        b"new\nline.JPG",
        b"caf\xe9.JPG",
        b"<*|\"\\>.JPG",
        b"a%3Ab.JPG",
        b"plain.JPG",
    ];
    let day = w.library().join("2026");
    std::fs::create_dir_all(day.join("x:y")).unwrap();
    let mut files = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let path = day.join(std::ffi::OsStr::from_bytes(name));
        std::fs::write(&path, format!("photo {i}")).unwrap();
        files.push(path);
    }
    std::fs::write(day.join("x:y/in a folder.JPG"), b"in an odd folder").unwrap();
    w.backed_up(&[]);
    assert_eq!(common::dest(&w.status(), "exfat")["verified"], 8);
    let (code, report) = w.json("verify", &["--dest", "exfat"]);
    assert_eq!(code, 0, "{report}");

    // Restored elsewhere under the library's own names, byte for byte.
    let original = triplicate_testkit::tree_hashes(&w.library()).unwrap();
    let to = w.path("restored");
    let (code, report) = w.json("restore", &["--all", "--to", to.to_str().unwrap()]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(triplicate_testkit::tree_hashes(&to).unwrap(), original);

    // Onto exFAT itself they cannot go: the message says why, and the rest is restored.
    let out = w.run(&[
        "restore",
        "--all",
        "--to",
        card_disk.path.join("restored").to_str().unwrap(),
    ]);
    assert_ne!(out.status.code(), Some(0));
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(said.contains("refuses ? : *"), "{said}");
    assert!(!said.contains("No such file"), "{said}");
    assert!(card_disk.path.join("restored/2026/plain.JPG").is_file());
}

#[test]
fn the_service_stays_up_with_an_alarm_while_its_home_disk_is_full_and_resumes_after() {
    common::require_root();
    let w = World::new();
    let home = w.disk_at("home");
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    std::fs::write(w.library().join("first.JPG"), b"before the disk filled").unwrap();
    let (mut service, url) = common::serve(&w);
    let status = |url: &str| -> serde_json::Value {
        let (code, body) = common::http(url, "GET", "/api/v1/status", "");
        assert_eq!(code, 200, "{body}");
        serde_json::from_str(&body).unwrap()
    };
    let wait = |what: &str, check: &dyn Fn() -> bool| {
        let until = std::time::Instant::now() + Duration::from_secs(60);
        while !check() {
            assert!(
                std::time::Instant::now() < until,
                "timed out waiting for: {what}"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
    };
    wait("the first photo", &|| {
        common::count_published(&w.path("usb")) == 1
    });

    // The home disk fills up; new photos arrive.
    let filler = home.join("filler");
    let _ = std::process::Command::new("dd")
        .args(["if=/dev/zero", &format!("of={}", filler.display()), "bs=1M"])
        .stderr(Stdio::null())
        .status();
    for i in 0..5 {
        std::fs::write(w.library().join(format!("new-{i}.JPG")), format!("new {i}")).unwrap();
    }
    wait("an alarm", &|| !status(&url)["alarm"].is_null());
    let alarm = status(&url)["alarm"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(alarm.contains("full"), "{alarm}");
    let (_, metrics) = common::http(&url, "GET", "/metrics", "");
    assert!(metrics.contains("triplicate_service_alarm 1"), "{metrics}");
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        service.0.try_wait().unwrap().is_none(),
        "the service stopped on a full home disk"
    );

    // Space comes back: the service goes on by itself.
    std::fs::remove_file(&filler).unwrap();
    wait("the new photos", &|| {
        common::count_published(&w.path("usb")) == 6
    });
    wait("the alarm to end", &|| status(&url)["alarm"].is_null());
}

#[test]
fn what_a_killed_repair_left_at_a_destination_is_swept_by_the_next_repair() {
    let w = common::studio();
    dated_library(&w, 3, 4096);
    w.backed_up(&[]);
    // A repair killed mid-put: its session folder, with the half-written copy.
    let dead = w.path("usb/.triplicate/partial/0123456789ab");
    std::fs::create_dir_all(&dead).unwrap();
    std::fs::write(dead.join("0"), b"half a photo").unwrap();
    let (code, report) = w.json("verify", &["--dest", "usb", "--repair"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(
        common::partials(&w.path("usb")),
        Vec::<std::path::PathBuf>::new()
    );
}
