//! `restore`: byte-exact round trips, never overwriting, filters and fallbacks.

mod common;

use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use common::{World, kit, studio};

/// `restore --json ARGS`: (exit code, report).
fn restore(w: &World, args: &[&str]) -> (i32, serde_json::Value) {
    w.json("restore", args)
}

#[test]
fn restore_all_rebuilds_the_lost_library_byte_for_byte() {
    let w = studio();
    w.card("card1", &kit::CardSpec::default());
    let lib = w.library();
    fs::write(
        lib.join(std::ffi::OsStr::from_bytes(b"caf\xe9.JPG")),
        b"latin-1",
    )
    .unwrap();
    fs::write(lib.join("empty.JPG"), b"").unwrap();
    fs::copy(
        lib.join("card1/DCIM/100CANON/IMG_0001.JPG"),
        lib.join("same-bytes.JPG"),
    )
    .unwrap();
    let deep = lib.join("a/b/c/d/e/f/g/h/i/j/k/l/m/n/o/p");
    fs::create_dir_all(&deep).unwrap();
    let long_name = format!("{}.JPG", "x".repeat(251));
    fs::write(deep.join(&long_name), b"long name").unwrap();
    let mtime = fs::metadata(lib.join("card1/DCIM/100CANON/IMG_0001.CR2"))
        .unwrap()
        .modified()
        .unwrap();
    w.backed_up(&[]);
    let original = kit::tree_hashes(&lib).unwrap();

    fs::remove_dir_all(&lib).unwrap();
    let (code, report) = restore(&w, &["--all", "--to", lib.to_str().unwrap()]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["restored"], original.len());
    assert_eq!(
        kit::tree_hashes(&lib).unwrap(),
        original,
        "byte-identical, names included"
    );
    assert_eq!(
        fs::metadata(lib.join("card1/DCIM/100CANON/IMG_0001.CR2"))
            .unwrap()
            .modified()
            .unwrap(),
        mtime
    );

    // Again: everything is there already, nothing is written.
    let (code, again) = restore(&w, &["--all", "--to", lib.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert_eq!(
        (again["restored"].as_u64(), again["already_there"].as_u64()),
        (Some(0), Some(original.len() as u64))
    );
    // And the restored library backs up as unchanged content: nothing is copied.
    let backup = w.backed_up(&[]);
    assert_eq!(common::dest(&backup, "usb")["copied"], 0, "{backup}");
}

#[test]
fn restore_never_overwrites_a_different_file() {
    let w = studio();
    w.card("c", &kit::CardSpec::default());
    w.backed_up(&[]);
    let to = w.path("restored");
    let clash = to.join("c/DCIM/100CANON/IMG_0001.JPG");
    fs::create_dir_all(clash.parent().unwrap()).unwrap();
    fs::write(&clash, b"someone else's file").unwrap();

    let (code, report) = restore(
        &w,
        &["--to", to.to_str().unwrap(), "--skip-existing", "*.JPG"],
    );
    assert_eq!(code, 0, "{report}");
    assert_eq!(
        (report["skipped"].as_u64(), report["restored"].as_u64()),
        (Some(1), Some(3))
    );
    assert_eq!(fs::read(&clash).unwrap(), b"someone else's file");

    let (code, report) = restore(&w, &["--to", to.to_str().unwrap(), "*.JPG"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(report["renamed"], 1);
    assert_eq!(
        fs::read(&clash).unwrap(),
        b"someone else's file",
        "untouched"
    );
    let beside: Vec<_> = fs::read_dir(clash.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with("IMG_0001~"))
        .collect();
    assert_eq!(beside.len(), 1, "{beside:?}");
}

#[test]
fn restore_picks_by_pattern_and_capture_date() {
    let w = studio();
    w.card(
        "may",
        &kit::CardSpec {
            seed: "may".into(),
            day: "2024:05:17".into(),
            ..Default::default()
        },
    );
    w.card(
        "june",
        &kit::CardSpec {
            seed: "june".into(),
            day: "2024:06:02".into(),
            ..Default::default()
        },
    );
    w.backed_up(&[]);

    let raws = w.path("raws");
    let (_, report) = restore(&w, &["--to", raws.to_str().unwrap(), "*.CR2"]);
    assert_eq!(report["restored"], 8);
    assert!(
        kit::tree_hashes(&raws)
            .unwrap()
            .keys()
            .all(|p| p.extension().unwrap() == "CR2")
    );

    let june = w.path("june");
    let (_, report) = restore(
        &w,
        &[
            "--to",
            june.to_str().unwrap(),
            "--from",
            "2024-06-01",
            "--until",
            "2024-06-30",
        ],
    );
    assert_eq!(report["restored"], 10, "{report}");
    assert!(
        kit::tree_hashes(&june)
            .unwrap()
            .keys()
            .all(|p| p.starts_with("june"))
    );

    let out = w.run(&["restore", "--to", june.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "nothing said what to restore");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--all"));
    assert_eq!(
        w.run(&["restore", "--to", "/tmp/x", "--from", "May"])
            .status
            .code(),
        Some(2)
    );
}

#[test]
fn restore_reads_from_whichever_destination_is_there() {
    let w = studio();
    w.card("c", &kit::CardSpec::default());
    w.backed_up(&[]);
    let original = kit::tree_hashes(&w.library()).unwrap();
    // The USB disk is unplugged: its mount point is empty.
    fs::rename(w.path("usb"), w.path("usb-away")).unwrap();
    fs::create_dir(w.path("usb")).unwrap();
    let to = w.path("back");
    let (code, report) = restore(&w, &["--all", "--to", to.to_str().unwrap()]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(kit::tree_hashes(&to).unwrap(), original);
    // Asking for the missing disk only: a clear failure per photo.
    let (code, report) = restore(
        &w,
        &[
            "--all",
            "--dest",
            "usb",
            "--to",
            w.path("none").to_str().unwrap(),
        ],
    );
    assert_eq!(code, 1);
    assert!(
        report["problems"]
            .to_string()
            .contains("mount one that holds it"),
        "{report}"
    );
    assert!(!Path::new(&w.path("none/c")).exists());
}

#[test]
fn a_lost_catalog_is_rebuilt_from_the_destinations_and_restore_works_as_before() {
    let w = studio();
    w.card("c", &kit::CardSpec::default());
    fs::write(
        w.library()
            .join(std::ffi::OsStr::from_bytes(b"caf\xe9.JPG")),
        b"latin-1",
    )
    .unwrap();
    w.backed_up(&[]);
    let original = kit::tree_hashes(&w.library()).unwrap();
    let before = w.status();

    fs::remove_file(w.home().join("catalog.db")).unwrap();
    let _ = fs::remove_file(w.home().join("catalog.db-wal"));
    let _ = fs::remove_file(w.home().join("catalog.db-shm"));
    let out = w.ok(&["catalog", "rebuild"]);
    assert!(
        out.contains("2 destination(s)") && out.contains("22 copies"),
        "{out}"
    );

    // Status: the same copies per destination; photos count as only-in-backups until a scan.
    let after = w.status();
    for i in 0..2 {
        assert_eq!(
            after["destinations"][i]["verified"],
            before["destinations"][i]["verified"]
        );
    }
    // Restore works as before, byte-exact (the odd name included).
    fs::remove_dir_all(w.library()).unwrap();
    let (code, report) = restore(&w, &["--all", "--to", w.library().to_str().unwrap()]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(kit::tree_hashes(&w.library()).unwrap(), original);
    // And the next backup finds everything in place: nothing copied, coverage as before.
    let backup = w.backed_up(&[]);
    assert_eq!(common::dest(&backup, "usb")["copied"], 0);
    assert_eq!(
        w.status()["coverage"]["photos"],
        before["coverage"]["photos"]
    );

    // A second rebuild keeps the first catalog aside.
    let out = w.ok(&["catalog", "rebuild"]);
    assert!(out.contains("moved to"), "{out}");
}

/// Issue #10, part 2: a photo deleted from the library stays at every destination,
/// `status` says so, and `restore` brings it back.
#[test]
fn deleted_photos_stay_in_the_backups_and_come_back() {
    let w = studio();
    w.card("card1", &kit::CardSpec::default());
    w.backed_up(&[]);
    let dir = w.library().join("card1/DCIM/100CANON");
    let gone = ["IMG_0001.CR2", "IMG_0001.JPG"];
    let before: Vec<Vec<u8>> = gone
        .iter()
        .map(|n| fs::read(dir.join(n)).unwrap())
        .collect();
    let usb_before = common::stored(&w.path("usb"));
    for n in gone {
        fs::remove_file(dir.join(n)).unwrap();
    }
    w.backed_up(&[]);
    // Nothing at the destinations changed.
    assert_eq!(common::stored(&w.path("usb")), usb_before);
    let s = w.status();
    let deleted = &s["deleted"];
    assert_eq!(deleted["photos"], 2, "{deleted}");
    assert_eq!(deleted["kept"], 2);
    assert_eq!(deleted["kept_in"], serde_json::json!({"nas": 2, "usb": 2}));
    let text = w.ok(&["status"]);
    assert!(
        text.contains("deleted from the library, kept in backups: 2 of 2 photos"),
        "{text}"
    );
    let to = w.path("back");
    let (code, report) = restore(&w, &["--to", to.to_str().unwrap(), "**/IMG_0001.*"]);
    assert_eq!(code, 0, "{report}");
    for (n, bytes) in gone.iter().zip(&before) {
        let back = fs::read(to.join("card1/DCIM/100CANON").join(n)).unwrap();
        assert_eq!(&back, bytes, "{n}");
    }
}
