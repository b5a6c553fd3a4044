//! `verify`: bit rot and missing copies are found every time, and repaired from a good
//! copy; a photo with no good copy anywhere is reported, never "repaired" with bad data.

mod common;

use std::fs;
use std::path::{Path, PathBuf};

use common::{World, dest, kit, stored, studio};

fn backed_up() -> World {
    let w = studio();
    w.card("c", &kit::CardSpec::default());
    w.backed_up(&[]);
    w
}

/// `verify --json ARGS`: (exit code, report).
fn verify(w: &World, args: &[&str]) -> (i32, serde_json::Value) {
    w.json("verify", args)
}

/// Flips one byte in the middle of a file, keeping its mtime.
fn flip_byte(path: &Path) {
    let mtime = fs::metadata(path).unwrap().modified().unwrap();
    let mut bytes = fs::read(path).unwrap();
    let i = bytes.len() / 2;
    bytes[i] ^= 0x20;
    fs::write(path, bytes).unwrap();
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(mtime)
        .unwrap();
}

fn raw_copy(w: &World, dest: &str) -> PathBuf {
    w.path(dest).join("2024/2024-05-17/IMG_0002.CR2")
}

#[test]
fn a_clean_backup_verifies_and_status_shows_when() {
    let w = backed_up();
    let (code, report) = verify(&w, &[]);
    assert_eq!(code, 0, "{report}");
    for name in ["usb", "nas"] {
        let d = dest(&report, name);
        assert_eq!(
            (d["checked"].as_u64(), d["ok"].as_u64()),
            (Some(10), Some(10)),
            "{d}"
        );
    }
    let status = w.status();
    assert!(status["destinations"][0]["oldest_verification"].is_i64());
    assert_eq!(status["destinations"][0]["damaged"], 0);
}

#[test]
fn one_flipped_byte_is_found_every_time_and_repaired_from_the_library() {
    let w = backed_up();
    let copy = raw_copy(&w, "usb");
    let good = fs::read(&copy).unwrap();
    flip_byte(&copy);
    for _ in 0..3 {
        let (code, report) = verify(&w, &["--dest", "usb"]);
        assert_eq!(code, 1);
        assert_eq!(dest(&report, "usb")["corrupt"], 1, "{report}");
        let problems = report["problems"].to_string();
        assert!(
            problems.contains("IMG_0002.CR2") && problems.contains("--repair"),
            "{problems}"
        );
    }
    assert_eq!(w.status()["destinations"][0]["damaged"], 1);
    let text = w.ok(&["status"]);
    assert!(text.contains("damaged or missing"), "{text}");

    let (code, report) = verify(&w, &["--dest", "usb", "--repair"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(dest(&report, "usb")["repaired"], 1);
    assert_eq!(fs::read(&copy).unwrap(), good, "rewritten at its own place");
    // The damaged bytes are kept aside, not deleted.
    let quarantine = stored(&w.path("usb/.triplicate/quarantine"));
    assert_eq!(quarantine.len(), 1, "{quarantine:?}");
    assert_eq!(verify(&w, &[]).0, 0);
    assert_eq!(w.status()["destinations"][0]["damaged"], 0);
}

#[test]
fn a_copy_is_repaired_from_another_destination_when_the_original_is_gone() {
    let w = backed_up();
    fs::remove_file(w.library().join("c/DCIM/100CANON/IMG_0002.CR2")).unwrap();
    let good = fs::read(raw_copy(&w, "nas")).unwrap();
    flip_byte(&raw_copy(&w, "usb"));
    let (code, report) = verify(&w, &["--repair"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(dest(&report, "usb")["repaired"], 1);
    assert_eq!(fs::read(raw_copy(&w, "usb")).unwrap(), good);
}

#[test]
fn a_photo_with_no_good_copy_anywhere_is_unrecoverable_and_left_alone() {
    let w = backed_up();
    flip_byte(&raw_copy(&w, "usb"));
    flip_byte(&raw_copy(&w, "nas"));
    flip_byte(&w.library().join("c/DCIM/100CANON/IMG_0002.CR2"));
    let before = fs::read(raw_copy(&w, "usb")).unwrap();
    let (code, report) = verify(&w, &["--repair"]);
    assert_eq!(code, 1);
    for name in ["usb", "nas"] {
        assert_eq!(dest(&report, name)["unrecoverable"], 1, "{report}");
        assert_eq!(dest(&report, name)["repaired"], 0);
    }
    assert!(report["problems"].to_string().contains("unrecoverable"));
    assert_eq!(
        fs::read(raw_copy(&w, "usb")).unwrap(),
        before,
        "the damaged copy stays where it was"
    );
}

#[test]
fn a_missing_copy_is_reported_and_rewritten() {
    let w = backed_up();
    let good = fs::read(raw_copy(&w, "nas")).unwrap();
    fs::remove_file(raw_copy(&w, "nas")).unwrap();
    let (code, report) = verify(&w, &["--dest", "nas"]);
    assert_eq!(code, 1);
    assert_eq!(dest(&report, "nas")["missing"], 1);
    assert!(report["problems"].to_string().contains("is missing"));
    let (code, report) = verify(&w, &["--dest", "nas", "--repair"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(fs::read(raw_copy(&w, "nas")).unwrap(), good);
}

#[test]
fn sample_and_age_limit_what_is_checked() {
    let w = World::new();
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    w.card(
        "c",
        &kit::CardSpec {
            pairs: 100,
            raw_size: 4096,
            jpeg_size: 2048,
            sidecars: false,
            ..Default::default()
        },
    );
    w.backed_up(&[]);
    let (_, report) = verify(&w, &["--sample", "25"]);
    let checked = dest(&report, "usb")["checked"].as_u64().unwrap();
    assert!(
        (20..=80).contains(&checked),
        "about a quarter of 200: {checked}"
    );
    let (_, report) = verify(&w, &["--older-than", "1d"]);
    assert_eq!(
        dest(&report, "usb")["checked"],
        0,
        "everything was verified just now"
    );
    assert_eq!(w.run(&["verify", "--sample", "0"]).status.code(), Some(2));
    assert_eq!(
        w.run(&["verify", "--older-than", "soon"]).status.code(),
        Some(2)
    );
    assert_eq!(w.run(&["verify", "--dest", "nope"]).status.code(), Some(2));
}

/// A photo under two names (`shoot/IMG_0001.JPG`, `Selects/best of may.JPG`), backed
/// up to `usb` at `root`: the copy is stored once, the other name is a file of its own.
/// Returns the photo, its copy and the other name's file at the destination.
fn duplicate_backed_up(w: &World, root: &Path) -> (Vec<u8>, PathBuf, PathBuf) {
    let photo = kit::jpeg("2024:05:17 10:00:00", &kit::noise("dup", 3000));
    for rel in ["shoot/IMG_0001.JPG", "Selects/best of may.JPG"] {
        let p = w.library().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, &photo).unwrap();
    }
    w.add_dest("usb", root, "hdd", "onsite");
    w.backed_up(&[]);
    // The manifest says which file is the copy and which the other name's own file.
    let mut copy = None;
    let mut name = None;
    for m in kit::files_under(&root.join(".triplicate/manifests")) {
        for line in fs::read_to_string(&m).unwrap().lines().skip(1) {
            let e: serde_json::Value = serde_json::from_str(line).unwrap();
            let path = root.join(e["path"].as_str().unwrap());
            match e["copy_of"].as_str() {
                Some(of) if of != e["path"].as_str().unwrap() => name = Some(path),
                _ => copy = Some(path),
            }
        }
    }
    (
        photo,
        copy.expect("a copy"),
        name.expect("a name's own file"),
    )
}

#[test]
fn a_name_whose_file_was_deleted_at_the_destination_is_found_and_made_again() {
    let w = World::new();
    w.init();
    let (photo, _, name) = duplicate_backed_up(&w, &w.path("usb"));
    fs::remove_file(&name).unwrap();
    let (code, report) = verify(&w, &[]);
    assert_eq!(code, 1, "{report}");
    let d = dest(&report, "usb");
    assert_eq!(
        (d["names_checked"].as_u64(), d["names_bad"].as_u64()),
        (Some(1), Some(1)),
        "{d}"
    );
    // The summary a person reads says so too, not only the problem.
    let said = String::from_utf8_lossy(&w.run(&["verify"]).stdout).into_owned();
    assert!(
        said.contains("1 file of another name checked, 1 missing or damaged"),
        "{said}"
    );
    let problems = report["problems"].to_string();
    assert!(
        problems.contains(name.file_name().unwrap().to_str().unwrap())
            && problems.contains("is missing")
            && problems.contains("--repair"),
        "{problems}"
    );
    let (code, report) = verify(&w, &["--repair"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(dest(&report, "usb")["names_repaired"], 1, "{report}");
    assert_eq!(fs::read(&name).unwrap(), photo);
    let (code, report) = verify(&w, &[]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(dest(&report, "usb")["names_bad"], 0, "{report}");
}

#[test]
fn a_damaged_copy_shared_by_two_names_is_repaired_under_both() {
    // On ext4 (tmp) the second name is a hard link: the damage is under both names,
    // and moving the copy aside to rewrite it would leave the link on the bad bytes.
    let w = World::new();
    w.init();
    let (photo, copy, name) = duplicate_backed_up(&w, &w.path("usb"));
    flip_byte(&copy);
    let (code, report) = verify(&w, &["--repair"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(dest(&report, "usb")["repaired"], 1, "{report}");
    assert_eq!(fs::read(&copy).unwrap(), photo);
    assert_eq!(fs::read(&name).unwrap(), photo, "{report}");
    assert_eq!(verify(&w, &[]).0, 0);
}

#[test]
fn on_exfat_a_damaged_file_of_a_second_name_is_found_and_repaired() {
    common::require_root();
    let w = World::new();
    w.init();
    let disk = common::Mount::exfat(&w.path("media/exfat"), &w.path("exfat.img"));
    let (photo, copy, name) = duplicate_backed_up(&w, &disk.path.join("usb"));
    flip_byte(&name);
    let (code, report) = verify(&w, &[]);
    assert_eq!(code, 1, "{report}");
    let d = dest(&report, "usb");
    assert_eq!(
        (d["corrupt"].as_u64(), d["names_bad"].as_u64()),
        (Some(0), Some(1)),
        "{d}"
    );
    assert!(
        report["problems"].to_string().contains("is damaged"),
        "{report}"
    );
    let (code, report) = verify(&w, &["--repair"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(fs::read(&name).unwrap(), photo);
    assert_eq!(fs::read(&copy).unwrap(), photo);
    // The damaged bytes are kept aside, not deleted.
    let quarantine = stored(&disk.path.join("usb/.triplicate/quarantine"));
    assert_eq!(quarantine.len(), 1, "{quarantine:?}");
}
