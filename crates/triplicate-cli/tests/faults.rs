//! Bad inputs and faults: each gets a clear message, and nothing backed up is harmed.
//! These use real filesystems (tmpfs for ENOSPC and read-only, exFAT through FUSE for a
//! case-insensitive card) and therefore run as root.

mod common;

use std::fs;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use common::{Killed, Mount, World, count_published, dest, is_root, kit, partials, stored};

fn dest_status(w: &World, name: &str) -> serde_json::Value {
    w.status()["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .unwrap()
        .clone()
}

#[test]
fn disk_full_stops_that_destination_only_and_a_rerun_completes() {
    let w = World::new();
    w.init();
    let small = Mount::tmpfs(&w.path("small"), "4m");
    w.add_dest("small", &small.path, "hdd", "onsite");
    w.add_dest("big", &w.path("big"), "nas", "onsite");
    // 12 files of about 700 KiB: more than 4 MiB.
    w.card(
        "c",
        &kit::CardSpec {
            pairs: 6,
            raw_size: 700 << 10,
            jpeg_size: 600 << 10,
            sidecars: false,
            ..Default::default()
        },
    );

    let (code, report) = w.backup(&[]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(dest(&report, "small")["state"], "full");
    assert_eq!(
        dest(&report, "big")["copied"],
        12,
        "the other destination completes"
    );
    assert!(
        report["problems"].to_string().contains("is full"),
        "{report}"
    );
    assert!(
        partials(&small.path).is_empty(),
        "the temp file of the failed put is removed"
    );
    let written = stored(&small.path);
    assert!(!written.is_empty() && written.len() < 12);
    let lib = kit::tree_hashes(&w.library()).unwrap();
    let good: std::collections::BTreeSet<_> = lib.values().collect();
    assert!(
        written.values().all(|h| good.contains(h)),
        "only whole, verified files are visible"
    );

    let s = dest_status(&w, "small");
    assert_eq!(s["state"], "full");
    assert!(s["detail"].as_str().unwrap().contains("full"));
    let text = w.ok(&["status"]);
    assert!(text.contains("FULL"), "{text}");

    small.remount("size=64m");
    w.backed_up(&[]);
    assert_eq!(stored(&small.path).len(), 12);
    assert_eq!(
        dest_status(&w, "small")["state"],
        "ok",
        "the warning is resolved"
    );
}

#[test]
fn a_read_only_destination_is_reported_and_untouched() {
    let w = World::new();
    w.init();
    let ro = Mount::tmpfs(&w.path("ro"), "16m");
    w.add_dest("ro", &ro.path, "hdd", "onsite");
    w.add_dest("ok", &w.path("ok"), "nas", "onsite");
    w.card("c", &kit::CardSpec::default());
    ro.remount("ro");
    let (code, report) = w.backup(&[]);
    assert_eq!(code, 1);
    assert_eq!(dest(&report, "ro")["state"], "read-only");
    assert_eq!(dest(&report, "ok")["copied"], 10);
    assert!(report["problems"].to_string().contains("read-only"));
    assert_eq!(dest_status(&w, "ro")["state"], "read-only");
    ro.remount("rw");
    w.backed_up(&[]);
}

#[test]
fn an_unmounted_disk_leaves_the_mount_point_empty() {
    let w = World::new();
    w.init();
    let disk = Mount::tmpfs(&w.path("disk"), "16m");
    w.add_dest("disk", &disk.path, "hdd", "onsite");
    w.card("c", &kit::CardSpec::default());
    let mount_point = disk.path.clone();
    drop(disk);
    let (code, report) = w.backup(&[]);
    assert_eq!(code, 1);
    assert_eq!(dest(&report, "disk")["state"], "not mounted");
    assert_eq!(fs::read_dir(&mount_point).unwrap().count(), 0);
}

#[test]
fn an_unreadable_file_is_named_and_the_rest_is_backed_up() {
    let w = World::new();
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    w.card("c", &kit::CardSpec::default());
    let secret = w.library().join("c/DCIM/100CANON/IMG_0002.CR2");
    fs::set_permissions(&secret, std::os::unix::fs::PermissionsExt::from_mode(0o000)).unwrap();
    // Root reads anything: run as nobody, which owns the world.
    let out = if is_root() {
        let status = Command::new("chown")
            .args(["-R", "65534:65534", w.dir.path().to_str().unwrap()])
            .status()
            .unwrap();
        assert!(status.success());
        fs::set_permissions(
            w.dir.path(),
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
        Command::new("setpriv")
            .args([
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                env!("CARGO_BIN_EXE_triplicate"),
                "backup",
            ])
            .env("TRIPLICATE_HOME", w.home())
            .output()
            .unwrap()
    } else {
        w.run(&["backup"])
    };
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stdout}\n{stderr}");
    let line = stderr
        .lines()
        .find(|l| l.contains("IMG_0002.CR2"))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(
        line.contains("cannot read it") && line.contains("ermission denied"),
        "{line}"
    );
    assert!(stdout.contains("9 copied and verified"), "{stdout}");
}

#[test]
fn a_file_that_changes_while_being_read_is_not_recorded_and_is_picked_up_later() {
    let w = World::new();
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    w.card("c", &kit::CardSpec::default());
    let growing = w.library().join("c/DCIM/100CANON/IMG_9999.JPG");
    fs::write(&growing, kit::noise("grow", 32 << 20)).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let stop = stop.clone();
        let path = growing.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            let mut f = fs::OpenOptions::new().append(true).open(path).unwrap();
            while !stop.load(Ordering::Relaxed) {
                f.write_all(&[7u8; 512]).unwrap();
                std::thread::sleep(Duration::from_micros(200));
            }
        })
    };
    let (code, report) = w.backup(&[]);
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert_eq!(code, 1, "{report}");
    let problems = report["problems"].to_string();
    assert!(
        problems.contains("IMG_9999.JPG") && problems.contains("changed while it was being read"),
        "{problems}"
    );
    assert_eq!(dest(&report, "usb")["copied"], 10);
    assert!(
        !stored(&w.path("usb"))
            .keys()
            .any(|p| p.ends_with("IMG_9999.JPG"))
    );

    w.backed_up(&[]);
    let usb = stored(&w.path("usb"));
    let copy = usb
        .iter()
        .find(|(p, _)| p.ends_with("IMG_9999.JPG"))
        .unwrap();
    assert_eq!(
        copy.1,
        &blake3::hash(&fs::read(&growing).unwrap())
            .to_hex()
            .to_string()
    );
}

#[test]
fn names_differing_only_by_case_both_survive_on_a_case_insensitive_card() {
    let w = World::new();
    w.init();
    let card = Mount::exfat(&w.path("exfat"), &w.path("exfat.img"));
    w.add_dest("card", &card.path, "card", "onsite");
    let lib = w.library();
    fs::write(lib.join("IMG_0001.JPG"), b"upper case body").unwrap();
    fs::write(lib.join("img_0001.jpg"), b"lower case body").unwrap();
    fs::create_dir(lib.join("b")).unwrap();
    fs::write(lib.join("b/Img_0001.Jpg"), b"mixed case body").unwrap();
    w.backed_up(&["--jobs", "3"]);
    let on_card = stored(&card.path);
    let mut bodies: Vec<String> = on_card.values().cloned().collect();
    bodies.sort();
    let mut want: Vec<String> = ["upper case body", "lower case body", "mixed case body"]
        .iter()
        .map(|b| blake3::hash(b.as_bytes()).to_hex().to_string())
        .collect();
    want.sort();
    assert_eq!(bodies, want, "{on_card:?}");
    assert!(partials(&card.path).is_empty());
    // And a rerun finds them all again, copying nothing.
    let again = w.backed_up(&[]);
    assert_eq!(dest(&again, "card")["copied"], 0);
    // Restored from the card, every name comes back byte-exact, none overwritten.
    let original = kit::tree_hashes(&lib).unwrap();
    fs::remove_dir_all(&lib).unwrap();
    let out = w.run(&["restore", "--all", "--to", lib.to_str().unwrap()]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(kit::tree_hashes(&lib).unwrap(), original);
}

#[test]
fn kill_9_during_backup_then_rerun_verifies_every_photo_exactly_once() {
    let w = World::new();
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    w.add_dest("nas", &w.path("nas"), "nas", "onsite");
    w.card(
        "c",
        &kit::CardSpec {
            pairs: 60,
            raw_size: 1 << 20,
            jpeg_size: 512 << 10,
            ..Default::default()
        },
    );
    let photos = kit::tree_hashes(&w.library()).unwrap();

    // Kill at three different depths of progress.
    for threshold in [1usize, 40, 90] {
        let mut child = Killed(
            w.cmd()
                .arg("backup")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        let started = Instant::now();
        while count_published(&w.path("usb")) < threshold
            && started.elapsed() < Duration::from_secs(60)
            && child.0.try_wait().unwrap().is_none()
        {
            std::thread::sleep(Duration::from_millis(2));
        }
        drop(child); // SIGKILL
    }
    let distinct: std::collections::BTreeSet<&String> = photos.values().collect();
    let before = count_published(&w.path("usb"));
    assert!(
        before > 0 && before < distinct.len(),
        "the kills interrupted the backup ({before})"
    );
    w.backed_up(&[]);
    for name in ["usb", "nas"] {
        let root = w.path(name);
        assert!(partials(&root).is_empty(), "{name}: {:?}", partials(&root));
        let held = stored(&root);
        let held_set: std::collections::BTreeSet<&String> = held.values().collect();
        assert_eq!(held_set, distinct, "{name}: every photo is there");
        assert_eq!(held.len(), distinct.len(), "{name}: and none twice");
    }
    let status = w.status();
    for d in status["destinations"].as_array().unwrap() {
        assert_eq!(d["verified"], distinct.len());
        assert_eq!(d["pending"], 0);
        assert_eq!(d["failed"], 0);
    }
    let db = rusqlite_check(&w.home().join("catalog.db"));
    assert_eq!(db, "ok");
}

/// `PRAGMA integrity_check` through the library.
fn rusqlite_check(path: &Path) -> String {
    triplicate::catalog::Catalog::open(path)
        .unwrap()
        .integrity_check()
        .unwrap()
}

#[test]
fn a_config_error_names_the_file_line_and_key_and_exits_2() {
    let w = World::new();
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    let config = w.home().join("config.toml");
    let text = fs::read_to_string(&config)
        .unwrap()
        .replace("media = \"hdd\"", "media = \"floppy\"");
    fs::write(&config, &text).unwrap();
    let line = text.lines().position(|l| l.contains("floppy")).unwrap() + 1;
    let out = w.run(&["status"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("config.toml:{line}: destination[0].media")),
        "{err}"
    );
    assert!(err.contains("floppy"), "{err}");
    assert_eq!(w.run(&["backup", "--no-such-flag"]).status.code(), Some(2));
}
