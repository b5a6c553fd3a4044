//! `triplicate run`: new photos reach every automatic destination, verified, as they
//! arrive; a photo still being written is never copied half-done.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Killed, World, kit, stored};

fn studio() -> World {
    let w = World::new();
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    w.add_dest("nas", &w.path("nas"), "nas", "onsite");
    w
}

fn start(w: &World, extra: &[&str]) -> Killed {
    let mut args = vec!["run", "--settle", "0.5", "--retry", "1"];
    args.extend_from_slice(extra);
    Killed(
        w.cmd()
            .args(&args)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    )
}

/// Waits until `check` holds, up to `secs` seconds.
fn eventually(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < until, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn contents(root: &std::path::Path) -> BTreeSet<String> {
    stored(root).into_values().collect()
}

#[test]
fn photos_dropped_into_the_library_reach_every_destination_and_partial_files_never_do() {
    let w = studio();
    let daemon = start(&w, &[]);
    std::thread::sleep(Duration::from_millis(500));
    w.card("card1", &kit::CardSpec::default());

    // A 50 MB file written slowly over about 3 s, like a camera download.
    let slow = w.library().join("card1/DCIM/100CANON/MVI_0001.MP4");
    let body = kit::noise("slow", 50 << 20);
    let mut f = fs::File::create(&slow).unwrap();
    for chunk in body.chunks(1 << 20) {
        f.write_all(chunk).unwrap();
        f.flush().unwrap();
        std::thread::sleep(Duration::from_millis(60));
    }
    drop(f);

    let library = kit::tree_hashes(&w.library()).unwrap();
    let want: BTreeSet<String> = library.values().cloned().collect();
    for name in ["usb", "nas"] {
        eventually(60, &format!("every photo verified at {name}"), || {
            contents(&w.path(name)) == want
        });
    }
    drop(daemon);
    // Only whole files ever reached the destinations: no copy, and no photo in the
    // catalog, of a half-written state.
    for name in ["usb", "nas"] {
        assert_eq!(
            stored(&w.path(name)).len(),
            library.len(),
            "{name}: an extra (partial?) copy"
        );
    }
    let status = w.status();
    assert_eq!(status["coverage"]["photos"], library.len());
    assert_eq!(
        status["coverage"]["only_in_backups"], 0,
        "a partial state was recorded as a photo"
    );
    for d in status["destinations"].as_array().unwrap() {
        assert_eq!(
            (d["verified"].as_u64(), d["pending"].as_u64()),
            (Some(library.len() as u64), Some(0))
        );
    }

    // The log shows what happened.
    let log = w.ok(&["log", "--limit", "1000"]);
    assert!(
        log.contains("MVI_0001.MP4") && log.contains("verified"),
        "{log}"
    );
    assert!(w.ok(&["log", "--errors"]).trim().is_empty());
    let json = w.ok(&["log", "--json", "--limit", "3"]);
    for line in json.lines() {
        let op: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(op["kind"].is_string());
    }
}

#[test]
fn a_destination_that_goes_away_is_skipped_with_a_warning_and_catches_up_when_back() {
    let w = studio();
    let daemon = start(&w, &[]);
    fs::rename(w.path("nas"), w.path("nas-unplugged")).unwrap();
    fs::create_dir(w.path("nas")).unwrap();
    w.card("c", &kit::CardSpec::default());
    let want: BTreeSet<String> = kit::tree_hashes(&w.library())
        .unwrap()
        .into_values()
        .collect();
    eventually(30, "usb is filled while nas is away", || {
        contents(&w.path("usb")) == want
    });
    eventually(10, "a 'not mounted' warning", || {
        w.status()["warnings"].to_string().contains("not mounted")
    });

    fs::remove_dir(w.path("nas")).unwrap();
    fs::rename(w.path("nas-unplugged"), w.path("nas")).unwrap();
    eventually(30, "nas catches up", || contents(&w.path("nas")) == want);
    eventually(10, "the warning is resolved", || {
        !w.status()["warnings"].to_string().contains("not mounted")
    });
    drop(daemon);
}

#[test]
fn sigterm_stops_the_service_cleanly_and_once_does_one_pass() {
    let w = studio();
    let mut daemon = start(&w, &[]);
    std::thread::sleep(Duration::from_millis(800));
    let pid = daemon.0.id().to_string();
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .unwrap()
            .success()
    );
    let stopped = Instant::now();
    let status = loop {
        if let Some(s) = daemon.0.try_wait().unwrap() {
            break s;
        }
        assert!(
            stopped.elapsed() < Duration::from_secs(10),
            "still running 10 s after SIGTERM"
        );
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");

    w.card("c", &kit::CardSpec::default());
    // Wait past the settle time so the files count as complete.
    std::thread::sleep(Duration::from_millis(1200));
    let out = w.run(&["run", "--once"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("(usb 10, nas 10)"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(stored(&w.path("usb")).len(), 10);
}
