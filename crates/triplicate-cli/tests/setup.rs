//! `init`, `library` and `dest`: what they accept, what they refuse, and how they say it.

mod common;

use std::fs;

use common::{World, dest, kit, stored};

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn init_twice_is_refused() {
    let w = World::new();
    w.init();
    let out = w.run(&["init", "--node", "again"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("already exists"), "{}", stderr(&out));
}

#[test]
fn libraries_are_added_listed_and_checked() {
    let w = World::new();
    w.init();
    fs::create_dir_all(w.path("more/Allsky")).unwrap();
    w.ok(&[
        "library",
        "add",
        w.path("more/Allsky").to_str().unwrap(),
        "--media",
        "hdd",
    ]);
    let list = w.ok(&["library", "list"]);
    assert!(
        list.contains("library") && list.contains("Allsky") && list.contains("hdd"),
        "{list}"
    );
    let json: serde_json::Value =
        serde_json::from_str(&w.ok(&["library", "list", "--json"])).unwrap();
    assert_eq!(json.as_array().unwrap().len(), 2);

    let missing = w.run(&["library", "add", w.path("nope").to_str().unwrap()]);
    assert_eq!(missing.status.code(), Some(2));
    assert!(
        stderr(&missing).contains("must exist"),
        "{}",
        stderr(&missing)
    );
    let nested = w.run(&["library", "add", w.library().to_str().unwrap()]);
    assert_eq!(
        nested.status.code(),
        Some(2),
        "the same folder twice would count photos twice"
    );
}

#[test]
fn destinations_are_checked_before_anything_is_written() {
    let w = World::new();
    w.init();
    let inside = w.library().join("backup");
    fs::create_dir_all(&inside).unwrap();
    let out = w.run(&[
        "dest",
        "add",
        "in",
        inside.to_str().unwrap(),
        "--media",
        "hdd",
        "--site",
        "onsite",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("outside the library"),
        "{}",
        stderr(&out)
    );
    assert!(
        !inside.join(".triplicate").exists(),
        "no marker written for a refused destination"
    );

    let out = w.run(&[
        "dest",
        "add",
        "far",
        "/nonexistent/disk/photos",
        "--media",
        "hdd",
        "--site",
        "onsite",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains(
            "/nonexistent/disk/photos does not exist: is the disk mounted? --create makes the folder"
        ),
        "{}",
        stderr(&out)
    );

    // Remote targets are checked before any request: unknown protocols, and
    // credentials in the URL.
    for (target, says) in [
        (
            "ftp://nas/photos",
            "not a destination this program can write to",
        ),
        ("sftp://ana:pw@nas/photos", "put no password in the URL"),
        (
            "webdavs://ana:pw@cloud/photos",
            "put no user or password in the URL",
        ),
        (
            "s3://AKIA:secret@bucket/photos",
            "no credentials in the URL",
        ),
        (
            "s3://bucket/photos?secret_access_key=x",
            "does not belong in the URL",
        ),
    ] {
        let out = w.run(&[
            "dest", "add", "r", target, "--media", "cloud", "--site", "b2",
        ]);
        assert_eq!(out.status.code(), Some(2), "{target}");
        assert!(stderr(&out).contains(says), "{target}: {}", stderr(&out));
    }

    let out = w.run(&[
        "dest", "add", "x", "/tmp", "--media", "floppy", "--site", "onsite",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("unknown media"), "{}", stderr(&out));

    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    let again = w.run(&[
        "dest",
        "add",
        "usb",
        w.path("usb2").to_str().unwrap(),
        "--media",
        "hdd",
        "--site",
        "onsite",
    ]);
    assert_eq!(again.status.code(), Some(2));
    let list = w.ok(&["dest", "list"]);
    assert!(list.contains("usb") && list.contains("automatic"), "{list}");
    assert_eq!(w.run(&["dest", "remove", "nope"]).status.code(), Some(2));
    assert_eq!(w.run(&["dest", "enable", "nope"]).status.code(), Some(2));
}

#[test]
fn a_disk_that_was_a_destination_keeps_its_identity_and_its_photos_are_not_copied_again() {
    let w = World::new();
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    w.card("c", &kit::CardSpec::default());
    w.backed_up(&[]);
    let marker = fs::read_to_string(w.path("usb/.triplicate/destination.toml")).unwrap();

    // The catalog and config are lost; the disk is added again in a new home.
    fs::remove_dir_all(w.home()).unwrap();
    w.init();
    w.add_dest("usb-again", &w.path("usb"), "hdd", "onsite");
    assert_eq!(
        fs::read_to_string(w.path("usb/.triplicate/destination.toml")).unwrap(),
        marker
    );
    let report = w.backed_up(&[]);
    let d = dest(&report, "usb-again");
    assert_eq!(
        (d["copied"].as_u64(), d["adopted"].as_u64()),
        (Some(0), Some(10)),
        "{d}"
    );
    assert_eq!(stored(&w.path("usb")).len(), 10);
}

#[test]
fn status_and_backup_explain_what_is_missing() {
    let w = World::new();
    w.init();
    let text = w.ok(&["status"]);
    assert!(text.contains("dest add"), "{text}");
    let out = w.run(&["backup"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        stderr(&out).contains("no enabled destinations"),
        "{}",
        stderr(&out)
    );
    let empty = World::new();
    let out = empty.run(&["status"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr(&out).contains("triplicate init"), "{}", stderr(&out));
}
