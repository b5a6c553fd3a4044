//! Backing up generated camera cards through the real binary.

mod common;

use std::fs;
use std::path::Path;

use common::{World, dest, kit, partials, stored, studio, studio_on_disks};

#[test]
fn quickstart_backs_up_every_photo_verified_on_both_destinations() {
    // The destinations on disks of their own: on the library's disk they would not count.
    let (w, usb, nas) = studio_on_disks();
    let files = w.card("card1", &kit::CardSpec::default());
    let report = w.backed_up(&[]);
    for name in ["usb", "nas"] {
        let d = dest(&report, name);
        assert_eq!(d["copied"], files.len(), "{name}: {d}");
        assert_eq!(d["failed"], 0);
        // Every file, byte-identical, at {year}/{date}/{name} from EXIF DateTimeOriginal.
        let root = if name == "usb" { &usb } else { &nas };
        let at_dest = stored(root);
        let in_lib = kit::tree_hashes(&w.library()).unwrap();
        assert_eq!(at_dest.len(), files.len());
        for (path, hash) in &in_lib {
            let file_name = path.file_name().unwrap();
            let copy = Path::new("2024/2024-05-17").join(file_name);
            assert_eq!(at_dest.get(&copy), Some(hash), "{name}: {}", copy.display());
        }
        assert!(partials(root).is_empty());
    }
    let status = w.status();
    for d in status["destinations"].as_array().unwrap() {
        assert_eq!(d["state"], "ok");
        assert_eq!(d["verified"], files.len());
        assert_eq!(d["pending"], 0);
        assert!(d["last_success"].is_i64());
    }
    // Library (ssd) + usb (hdd) + nas (nas): 3 copies, 3 media, but nothing offsite.
    assert_eq!(status["coverage"]["photos"], files.len());
    assert_eq!(status["coverage"]["protected"], 0);
    let at_risk = status["at_risk"].as_array().unwrap();
    assert_eq!(at_risk.len(), files.len());
    assert_eq!(
        at_risk[0]["description"],
        "3 copies, 3 media, no offsite copy"
    );

    let text = w.ok(&["status", "--at-risk"]);
    assert!(
        text.contains("3 copies, 3 media, no offsite copy"),
        "{text}"
    );
    assert!(text.contains("verified 10"), "{text}");
}

#[test]
fn sidecars_travel_with_their_photo() {
    let w = studio();
    // The sidecar's own mtime is today; it must still land beside its RAW.
    w.card(
        "c",
        &kit::CardSpec {
            day: "2019:12:31".into(),
            ..Default::default()
        },
    );
    w.backed_up(&[]);
    let usb = stored(&w.path("usb"));
    assert!(
        usb.contains_key(Path::new("2019/2019-12-31/IMG_0001.xmp")),
        "{usb:?}"
    );
    assert!(usb.contains_key(Path::new("2019/2019-12-31/IMG_0001.CR2")));
}

#[test]
fn a_second_run_and_a_second_import_of_the_same_card_copy_nothing() {
    let w = studio();
    let spec = kit::CardSpec::default();
    w.card("card1", &spec);
    w.backed_up(&[]);
    let again = w.backed_up(&[]);
    assert_eq!(dest(&again, "usb")["copied"], 0);
    assert_eq!(dest(&again, "usb")["planned"], 0);
    assert_eq!(
        again["scans"][0]["hashed"], 0,
        "unchanged files are not read again"
    );

    // The same card imported again into another folder: same content, nothing copied.
    w.card("card1-again", &spec);
    let third = w.backed_up(&[]);
    assert_eq!(dest(&third, "usb")["copied"], 0, "{third}");
    assert_eq!(stored(&w.path("usb")).len(), 10);
}

#[test]
fn same_names_from_two_cards_never_overwrite_each_other() {
    let w = studio();
    let a = kit::CardSpec {
        seed: "body-a".into(),
        ..Default::default()
    };
    let b = kit::CardSpec {
        seed: "body-b".into(),
        ..Default::default()
    };
    w.card("a", &a);
    w.backed_up(&[]);
    let first = stored(&w.path("usb"));
    w.card("b", &b);
    w.backed_up(&[]);
    let usb = stored(&w.path("usb"));
    // Everything from the first run is still there, unchanged.
    for (path, hash) in &first {
        assert_eq!(usb.get(path), Some(hash), "{} was changed", path.display());
    }
    // Card b's RAWs and JPEGs got distinct names; its sidecars are identical to a's.
    let lib = kit::tree_hashes(&w.library()).unwrap();
    let distinct: std::collections::BTreeSet<_> = lib.values().collect();
    let kept: std::collections::BTreeSet<_> = usb.values().collect();
    assert_eq!(
        distinct, kept,
        "every distinct content is at the destination"
    );
    assert_eq!(usb.len(), distinct.len(), "and only once");
    assert!(
        usb.keys()
            .any(|p| p.to_string_lossy().contains("IMG_0001~")),
        "{usb:?}"
    );
}

#[test]
fn a_destination_without_its_marker_is_not_mounted_and_never_written() {
    let w = studio();
    w.card("c", &kit::CardSpec::default());
    // Simulate an unmounted disk: the mount point is there, empty.
    fs::remove_dir_all(w.path("nas")).unwrap();
    fs::create_dir(w.path("nas")).unwrap();
    let (code, report) = w.backup(&[]);
    assert_eq!(code, 1);
    assert_eq!(dest(&report, "nas")["state"], "not mounted");
    assert_eq!(
        dest(&report, "usb")["copied"],
        10,
        "the other destination goes on"
    );
    assert_eq!(
        fs::read_dir(w.path("nas")).unwrap().count(),
        0,
        "nothing written into the empty mount point"
    );
    let problems = report["problems"].to_string();
    assert!(problems.contains("not mounted"), "{problems}");

    let status = w.status();
    let nas = common::dest(&status, "nas").clone();
    assert_eq!(nas["state"], "not mounted");
    assert_eq!(nas["pending"], 10);
    assert!(status["warnings"].to_string().contains("not mounted"));
    let text = String::from_utf8(w.run(&["backup"]).stdout).unwrap();
    assert!(text.contains("nas: skipped (not mounted)"), "{text}");
}

#[test]
fn another_triplicate_disk_at_the_mount_point_is_refused() {
    let w = studio();
    w.card("c", &kit::CardSpec::default());
    // Put another destination's marker where "nas" is mounted.
    let other = World::new();
    other.init();
    other.add_dest("x", &w.path("nas2"), "hdd", "onsite");
    fs::remove_dir_all(w.path("nas")).unwrap();
    fs::rename(w.path("nas2"), w.path("nas")).unwrap();
    let (code, report) = w.backup(&[]);
    assert_eq!(code, 1);
    assert_eq!(dest(&report, "nas")["state"], "wrong disk");
    assert!(stored(&w.path("nas")).is_empty());
}

#[test]
fn zero_byte_files_and_non_utf8_names_are_kept_byte_exact_and_stored_where_any_disk_can() {
    use std::os::unix::ffi::OsStrExt;
    let w = studio();
    let lib = w.library();
    fs::write(lib.join("empty.JPG"), b"").unwrap();
    let odd = std::ffi::OsStr::from_bytes(b"caf\xe9 \xff.JPG");
    fs::write(lib.join(odd), b"latin-1 name").unwrap();
    let report = w.backed_up(&[]);
    assert_eq!(dest(&report, "usb")["copied"], 2);
    let usb = stored(&w.path("usb"));
    let names: Vec<Vec<u8>> = usb
        .keys()
        .map(|p| p.file_name().unwrap().as_bytes().to_vec())
        .collect();
    // Stored under a name every filesystem can hold (exFAT keeps UTF-16 names)...
    assert!(names.contains(&b"caf%E9 %FF.JPG".to_vec()), "{names:?}");
    assert!(names.contains(&b"empty.JPG".to_vec()));
    let empty = usb.iter().find(|(p, _)| p.ends_with("empty.JPG")).unwrap();
    assert_eq!(empty.1, &blake3::hash(b"").to_hex().to_string());
    // The manifest keeps the odd name byte-exact, as hex of the whole path.
    let dir = w.path("usb/.triplicate/manifests/test");
    let manifest = fs::read_dir(&dir).unwrap().next().unwrap().unwrap().path();
    let text = fs::read_to_string(manifest).unwrap();
    assert!(text.contains("{\"hex\":\""), "{text}");
    assert!(text.contains(&hex(b"caf\xe9 \xff.JPG")), "{text}");
    // ...and restored under its own, byte for byte.
    let to = w.path("restored");
    let (code, report) = w.json("restore", &["--all", "--to", to.to_str().unwrap()]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(fs::read(to.join(odd)).unwrap(), b"latin-1 name");
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn the_manifest_lists_every_copy_with_its_hash() {
    let w = studio();
    w.card("c", &kit::CardSpec::default());
    let (_, report) = w.backup(&[]);
    let key = dest(&report, "usb")["manifest"]
        .as_str()
        .unwrap()
        .to_string();
    let text = fs::read_to_string(w.path("usb").join(&key)).unwrap();
    let mut lines = text.lines();
    let header: serde_json::Value = serde_json::from_str(lines.next().unwrap()).unwrap();
    assert_eq!(header["kind"], "triplicate-manifest");
    assert_eq!(header["node"], "test");
    let stored = stored(&w.path("usb"));
    let mut n = 0;
    for line in lines {
        let e: serde_json::Value = serde_json::from_str(line).unwrap();
        let path = Path::new(e["path"].as_str().unwrap());
        assert_eq!(
            stored.get(path).map(String::as_str),
            e["blake3"].as_str(),
            "{line}"
        );
        n += 1;
    }
    assert_eq!(n, 10);
    // A second run adds no empty manifest.
    let (_, again) = w.backup(&[]);
    assert!(dest(&again, "usb")["manifest"].is_null());
}

#[test]
fn backup_to_one_named_destination_and_disabled_destinations() {
    let w = studio();
    w.card("c", &kit::CardSpec::default());
    let report = w.backed_up(&["--dest", "usb"]);
    assert_eq!(report["destinations"].as_array().unwrap().len(), 1);
    assert!(stored(&w.path("nas")).is_empty());

    w.ok(&["dest", "disable", "nas"]);
    let report = w.backed_up(&[]);
    assert_eq!(
        report["destinations"].as_array().unwrap().len(),
        1,
        "disabled destinations are skipped"
    );
    let out = w.run(&["backup", "--dest", "nas"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("dest enable nas"));
    let out = w.run(&["backup", "--dest", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    w.ok(&["dest", "enable", "nas"]);
    w.backed_up(&[]);
    assert_eq!(stored(&w.path("nas")).len(), 10);
}

#[test]
fn offsite_destination_makes_photos_protected() {
    let (w, _, _) = studio_on_disks();
    let friend = w.disk("friend");
    w.add_dest("friend", &friend, "hdd", "anna-house");
    w.card("c", &kit::CardSpec::default());
    w.backed_up(&[]);
    let status = w.status();
    assert_eq!(status["coverage"]["protected"], 10);
    assert_eq!(status["coverage"]["at_risk"], 0);
    assert!(status["coverage"]["median_time_to_protected"].is_i64());
    // Forgetting the offsite destination puts the photos at risk again; its data stays.
    w.ok(&["dest", "remove", "friend"]);
    assert_eq!(w.status()["coverage"]["protected"], 0);
    assert_eq!(stored(&friend).len(), 10);
}

#[test]
fn status_check_gives_monitoring_one_line_and_0_1_or_2() {
    let check = |w: &common::World| {
        let out = w.run(&["status", "--check"]);
        let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
        assert_eq!(line.lines().count(), 1, "{line}");
        (out.status.code(), line)
    };
    let (w, _, _) = studio_on_disks();
    let (code, line) = check(&w);
    assert_eq!(code, Some(0), "nothing to protect yet: {line}");
    let friend = w.disk("friend");
    w.add_dest("friend", &friend, "hdd", "anna-house");
    w.card("c", &kit::CardSpec::default());
    let (code, line) = check(&w);
    assert_eq!(
        (code, line.as_str()),
        (
            Some(1),
            "AT RISK: 10 files still being written, not yet backed up"
        )
    );
    // Once they have been left alone (status --check waits 2 s), they are photos.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    let (code, line) = check(&w);
    assert_eq!(code, Some(1), "new photos, no copies: {line}");
    assert!(
        line.starts_with("AT RISK: 10 of 10 photos at risk"),
        "{line}"
    );
    w.backed_up(&[]);
    let (code, line) = check(&w);
    assert_eq!(
        (code, line.as_str()),
        (Some(0), "OK: all 10 photos protected, no warning open")
    );
    // The offsite disk goes away: the photos are at risk again, and that is said.
    w.ok(&["dest", "remove", "friend"]);
    let (code, line) = check(&w);
    assert_eq!(code, Some(1), "{line}");
    assert!(line.contains("10 of 10 photos at risk"), "{line}");
    // A library that cannot be read (an unplugged card reader, a mistyped path): at risk.
    let config = w.home().join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    let library = w.library().to_str().unwrap().to_string();
    std::fs::write(&config, text.replace(&library, &format!("{library}-typo"))).unwrap();
    let (code, line) = check(&w);
    assert_eq!(code, Some(1), "{line}");
    assert!(
        line.contains("-typo"),
        "the reason names the library: {line}"
    );
    std::fs::write(&config, &text).unwrap();
    // A configuration Triplicate cannot read: it cannot tell.
    std::fs::write(w.home().join("config.toml"), "node = [broken").unwrap();
    let (code, line) = check(&w);
    assert_eq!(code, Some(2), "{line}");
    assert!(
        line.starts_with("UNKNOWN: ") && line.contains("config.toml"),
        "{line}"
    );
}

#[test]
fn backup_and_run_once_exit_1_while_photos_are_at_risk_and_say_it_last() {
    // Cron reads the exit code; a person reads the last line.
    let last_line = |out: &std::process::Output| {
        let said = String::from_utf8_lossy(&out.stdout).to_string();
        said.trim_end()
            .lines()
            .last()
            .unwrap_or_default()
            .to_string()
    };
    let (w, _, _) = studio_on_disks();
    w.card("c", &kit::CardSpec::default());
    // Two onsite disks: every copy made and verified, and still no offsite copy.
    let out = w.run(&["run", "--once", "--settle", "0"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert_eq!(
        last_line(&out),
        "10 of 10 photos at risk: without the copies the policy asks for (see `triplicate status --at-risk`)"
    );
    let out = w.run(&["backup"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        last_line(&out).starts_with("10 of 10 photos at risk"),
        "{out:?}"
    );
    // An offsite disk: now the same commands say all is well, with 0.
    w.add_dest("friend", &w.disk("friend"), "hdd", "anna-house");
    let out = w.run(&["backup"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(last_line(&out), "all 10 photos protected");
    let out = w.run(&["run", "--once", "--settle", "0"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(last_line(&out), "all 10 photos protected");
    // Backing up to one destination only still tells the truth about all of them.
    kit::write_flat_library(&w.library().join("d"), 3, "day").unwrap();
    let out = w.run(&["backup", "--dest", "usb"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(last_line(&out).contains("photos at risk"), "{out:?}");
}

#[test]
fn status_check_names_a_tripped_guard_and_files_still_being_written() {
    let (w, _, _) = studio_on_disks();
    w.add_dest("friend", &w.disk("friend"), "hdd", "anna-house");
    kit::write_flat_library(&w.library().join("c"), 100, "night").unwrap();
    w.backed_up(&[]);
    // A file written a moment ago is not backed up yet: at risk, and why.
    std::fs::write(w.library().join("c/IMG_9999.JPG"), b"still arriving").unwrap();
    let out = w.run(&["status", "--check"]);
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(out.status.code(), Some(1), "{line}");
    assert!(line.contains("still being written"), "{line}");
    std::fs::remove_file(w.library().join("c/IMG_9999.JPG")).unwrap();
    // Every photo rewritten at once (ransomware): the guard trips, and says so.
    for f in kit::files_under(&w.library()) {
        std::fs::write(&f, kit::noise(&f.display().to_string(), 3_000)).unwrap();
    }
    w.backup(&[]);
    let out = w.run(&["status", "--check"]);
    let line = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(out.status.code(), Some(1), "{line}");
    assert!(line.contains("the mass-change guard is tripped"), "{line}");
}
