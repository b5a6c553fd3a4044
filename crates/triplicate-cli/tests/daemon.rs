//! `triplicate run`: new photos reach every automatic destination, verified, as they
//! arrive; a photo still being written is never copied half-done.

mod common;

use std::collections::BTreeSet;
use std::fs;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::{Killed, World, kit, stored, studio};

fn start(w: &World, extra: &[&str]) -> Killed {
    // Port 0: tests run side by side, each with its own Backup window.
    let mut args = vec![
        "run",
        "--settle",
        "0.5",
        "--retry",
        "1",
        "--listen",
        "127.0.0.1:0",
    ];
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
    // Exactly the three asked for, each a whole operation (no output would pass a
    // loop over the lines).
    assert_eq!(json.lines().count(), 3, "{json}");
    for line in json.lines() {
        let op: serde_json::Value = serde_json::from_str(line).unwrap();
        assert!(op["kind"].is_string() && op["outcome"].is_string(), "{op}");
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
    // Two onsite disks are not 3-2-1: the pass fails nothing and exits 1 for cron.
    assert!(
        String::from_utf8_lossy(&out.stdout)
            .trim_end()
            .ends_with("10 of 10 photos at risk: without the copies the policy asks for (see `triplicate status --at-risk`)"),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_eq!(
        out.status.code(),
        Some(1),
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

#[test]
fn kill_9_mid_copy_then_restart_completes_everything_once() {
    let w = studio();
    w.card(
        "c",
        &kit::CardSpec {
            pairs: 40,
            raw_size: 2 << 20,
            jpeg_size: 1 << 20,
            ..Default::default()
        },
    );
    std::thread::sleep(Duration::from_millis(700));
    let daemon = start(&w, &[]);
    eventually(30, "copying has begun", || {
        common::count_published(&w.path("usb")) > 5
    });
    drop(daemon); // SIGKILL mid-copy
    let daemon = start(&w, &[]);
    let want: BTreeSet<String> = kit::tree_hashes(&w.library())
        .unwrap()
        .into_values()
        .collect();
    for name in ["usb", "nas"] {
        eventually(60, &format!("{name} complete after the restart"), || {
            contents(&w.path(name)) == want
        });
    }
    drop(daemon);
    for name in ["usb", "nas"] {
        assert_eq!(
            stored(&w.path(name)).len(),
            want.len(),
            "{name}: a photo was copied twice"
        );
        assert!(common::partials(&w.path(name)).is_empty());
    }
}

#[test]
fn a_destination_that_fills_up_or_turns_read_only_is_paused_and_named() {
    let w = World::new();
    w.init();
    let small = common::Mount::tmpfs(&w.path("small"), "3m");
    let ro = common::Mount::tmpfs(&w.path("ro"), "64m");
    w.add_dest("small", &small.path, "hdd", "onsite");
    w.add_dest("ro", &ro.path, "ssd", "onsite");
    w.add_dest("big", &w.path("big"), "nas", "onsite");
    ro.remount("ro");
    let daemon = start(&w, &[]);
    w.card(
        "c",
        &kit::CardSpec {
            pairs: 4,
            raw_size: 1 << 20,
            jpeg_size: 512 << 10,
            sidecars: false,
            ..Default::default()
        },
    );
    let want: BTreeSet<String> = kit::tree_hashes(&w.library())
        .unwrap()
        .into_values()
        .collect();
    eventually(30, "the healthy destination is complete", || {
        contents(&w.path("big")) == want
    });
    eventually(10, "warnings name both causes", || {
        let warnings = w.status()["warnings"].to_string();
        warnings.contains("is full") && warnings.contains("read-only")
    });
    let status = w.status();
    let state = |n: &str| {
        status["destinations"]
            .as_array()
            .unwrap()
            .iter()
            .find(|d| d["name"] == n)
            .unwrap()["state"]
            .clone()
    };
    assert_eq!(
        (state("small"), state("ro"), state("big")),
        ("full".into(), "read-only".into(), "ok".into())
    );
    // Room and write access come back: both catch up by themselves.
    small.remount("size=64m");
    ro.remount("rw");
    for name in ["small", "ro"] {
        eventually(40, &format!("{name} catches up"), || {
            contents(&w.path(name)) == want
        });
    }
    drop(daemon);
}

#[test]
fn manual_destinations_are_left_to_triplicate_backup() {
    let w = studio();
    std::fs::create_dir_all(w.path("drawer")).unwrap();
    w.ok(&[
        "dest",
        "add",
        "drawer",
        w.path("drawer").to_str().unwrap(),
        "--media",
        "hdd",
        "--site",
        "onsite",
        "--manual",
    ]);
    w.card("c", &kit::CardSpec::default());
    // One automatic disk is not 3-2-1: the pass fails nothing, and says the photos
    // are at risk with exit code 1.
    assert_eq!(
        w.run(&["run", "--once", "--settle", "0"]).status.code(),
        Some(1)
    );
    assert_eq!(stored(&w.path("usb")).len(), 10);
    assert!(
        stored(&w.path("drawer")).is_empty(),
        "run never fills a manual destination"
    );
    w.backed_up(&["--dest", "drawer"]);
    assert_eq!(stored(&w.path("drawer")).len(), 10);
}

#[test]
fn a_burst_of_10000_small_files_and_a_4_gib_card_at_once_all_arrive() {
    let w = studio();
    // The card lands three times (library, usb, nas). On a machine short of disk it
    // shrinks to fit, and says so, rather than filling the disk under the other tests.
    const PAIR: u64 = 33 << 20;
    let free = triplicate::fsutil::space(w.dir.path())
        .expect("free space of the test folder")
        .free;
    let pairs = (free.saturating_sub(2 << 30) / (3 * PAIR)).min(124);
    assert!(
        pairs >= 16,
        "this test needs at least 3.5 GiB free under {}, and 14 GiB for the full 4 GiB card",
        w.dir.path().display()
    );
    if pairs < 124 {
        eprintln!(
            "only {} MiB free: the card is {} MiB instead of 4 GiB",
            free >> 20,
            (pairs * PAIR) >> 20
        );
    }
    let daemon = start(&w, &[]);
    std::thread::sleep(Duration::from_millis(300));
    // Both land at once: a 4 GiB card copied in by the camera software, and a burst
    // of small files (an Allsky night, say) written by another program.
    std::thread::scope(|s| {
        s.spawn(|| {
            let card = kit::CardSpec {
                seed: "burst".into(),
                pairs: pairs as usize,
                raw_size: 25 << 20,
                jpeg_size: 8 << 20,
                sidecars: false,
                ..Default::default()
            };
            kit::write_card(&w.library().join("card"), &card).unwrap();
        });
        s.spawn(|| kit::write_flat_library(&w.library().join("allsky"), 10_000, "burst").unwrap());
    });
    let want: BTreeSet<String> = kit::tree_hashes(&w.library())
        .unwrap()
        .into_values()
        .collect();
    assert_eq!(want.len(), 10_000 + 2 * pairs as usize);
    for name in ["usb", "nas"] {
        eventually(600, &format!("everything at {name}"), || {
            common::count_published(&w.path(name)) >= want.len() && contents(&w.path(name)) == want
        });
    }
    drop(daemon);
}

#[test]
fn a_steady_stream_of_photos_is_backed_up_while_it_lasts() {
    // A tethered shoot: a new photo every 300 ms for 6 s. The first ones must be safe
    // long before the shoot ends.
    let w = studio();
    let daemon = start(&w, &[]);
    std::thread::sleep(Duration::from_millis(300));
    let folder = w.library().join("tethered");
    fs::create_dir_all(&folder).unwrap();
    let first = kit::jpeg("2024:05:17 10:00:00", &kit::noise("stream-0", 200_000));
    fs::write(folder.join("IMG_0000.JPG"), &first).unwrap();
    let first_hash = blake3::hash(&first).to_hex().to_string();
    let started = Instant::now();
    let mut first_safe_at = None;
    for i in 1..20 {
        std::thread::sleep(Duration::from_millis(300));
        fs::write(
            folder.join(format!("IMG_{i:04}.JPG")),
            kit::jpeg(
                "2024:05:17 10:00:00",
                &kit::noise(&format!("stream-{i}"), 200_000),
            ),
        )
        .unwrap();
        if first_safe_at.is_none() && contents(&w.path("usb")).contains(&first_hash) {
            first_safe_at = Some(started.elapsed());
        }
    }
    let first_safe_at =
        first_safe_at.expect("the first photo was backed up while the shoot went on");
    assert!(first_safe_at < Duration::from_secs(4), "{first_safe_at:?}");
    let want: BTreeSet<String> = kit::tree_hashes(&w.library())
        .unwrap()
        .into_values()
        .collect();
    eventually(30, "the whole shoot", || contents(&w.path("usb")) == want);
    drop(daemon);
}

#[test]
fn a_file_closed_after_writing_is_taken_without_waiting_for_the_settle_time() {
    let w = studio();
    let daemon = Killed(
        w.cmd()
            .args(["run", "--settle", "5", "--listen", "127.0.0.1:0"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    std::thread::sleep(Duration::from_millis(800));
    let body = kit::jpeg("2024:05:17 10:00:00", &kit::noise("closed", 300_000));
    let hash = blake3::hash(&body).to_hex().to_string();
    let written = Instant::now();
    fs::write(w.library().join("IMG_7777.JPG"), &body).unwrap();
    eventually(10, "the closed file at usb", || {
        contents(&w.path("usb")).contains(&hash)
    });
    assert!(
        written.elapsed() < Duration::from_secs(2),
        "took {:?}: it waited for the 5 s settle time",
        written.elapsed()
    );
    drop(daemon);
}

#[test]
fn log_follow_prints_operations_as_they_happen() {
    use std::io::{BufRead, BufReader};
    let w = studio();
    let mut follow = Killed(
        w.cmd()
            .args(["log", "--follow", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    );
    let stdout = follow.0.stdout.take().unwrap();
    let lines = std::sync::mpsc::channel();
    let sender = lines.0;
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            if sender.send(line.unwrap()).is_err() {
                break;
            }
        }
    });
    std::thread::sleep(Duration::from_millis(700));
    w.card("c", &kit::CardSpec::default());
    w.backed_up(&[]);
    let mut seen = 0;
    let until = Instant::now() + Duration::from_secs(10);
    while seen < 20 && Instant::now() < until {
        if let Ok(line) = lines.1.recv_timeout(Duration::from_millis(200)) {
            let op: serde_json::Value = serde_json::from_str(&line).unwrap();
            assert_eq!(op["outcome"], "verified", "{line}");
            seen += 1;
        }
    }
    assert_eq!(
        seen, 20,
        "every copy of the backup appeared in the followed log"
    );
    drop(follow);
}

#[test]
fn the_service_makes_a_private_token_and_refuses_a_guessable_one() {
    let w = studio();
    // A token that could be guessed is refused.
    let out = w
        .cmd()
        .args(["run", "--listen", "0.0.0.0:0"])
        .env("TRIPLICATE_TOKEN", "1234")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("shorter than 16"));
    // Without one, the service makes its own, readable by its owner only.
    let (_daemon, url) = common::serve(&w);
    let token = w.home().join("access.token");
    let mode = std::fs::metadata(&token).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600, "{}", token.display());
    let (status, _) = common::http(&url, "GET", "/api/v1/status", "");
    assert_eq!(status, 200, "the owner's token opens the API");
    let (status, _, _) = common::http_with(
        &url,
        "GET",
        "/api/v1/status",
        &["Authorization: Bearer not-the-token-not-the-token"],
        b"",
    );
    assert_eq!(status, 401);
}

#[test]
fn beyond_loopback_the_page_is_https_with_its_own_certificate_unless_told_otherwise() {
    let w = studio();
    let (_service, url) = common::serve_on(&w, "0.0.0.0:0", "tls");
    assert!(url.starts_with("https://127.0.0.1:"), "{url}");
    let cert = w.home().join("tls/cert.pem");
    let key = w.home().join("tls/key.pem");
    assert!(cert.is_file());
    assert_eq!(
        std::fs::metadata(&key).unwrap().permissions().mode() & 0o777,
        0o600
    );
    // A client that pins nothing but checks the certificate is the one announced.
    let fingerprint = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "openssl s_client -connect {} </dev/null 2>/dev/null | openssl x509 -noout -fingerprint -sha256",
            url.trim_start_matches("https://").trim_end_matches('/')
        ))
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&fingerprint.stdout)
        .replace(':', "")
        .to_lowercase();
    let grid = w.ok(&["grid", "init"]);
    let ours = grid.lines().nth(3).unwrap().trim();
    assert!(said.contains(ours), "openssl: {said}; grid init: {ours}");
    drop(_service);
    // A trusted LAN may have plain HTTP, when asked for.
    let mut child = w
        .cmd()
        .args(["run", "--listen", "0.0.0.0:0", "--insecure-http"])
        .stderr(Stdio::piped())
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    std::io::BufRead::read_line(
        &mut std::io::BufReader::new(child.stderr.take().unwrap()),
        &mut first,
    )
    .unwrap();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        first.contains("Backup window: http://127.0.0.1:"),
        "{first}"
    );
    // The same from the configuration, for a service started by systemd.
    let config = w.home().join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}\n[server]\ninsecure_http = true\n")).unwrap();
    let (_service, url) = common::serve_on(&w, "0.0.0.0:0", "plain");
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
}

#[test]
fn a_second_service_on_one_home_is_refused_with_the_first_ones_pid_and_address() {
    let w = studio();
    let (first, url) = common::serve(&w);
    let out = w.run(&["run", "--listen", "127.0.0.1:0"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!("(PID {})", first.0.id())) && err.contains(&url),
        "{err}"
    );
    // A pass for cron, and the commands that write, keep working beside it.
    let out = w.run(&["run", "--once"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(w.run(&["backup"]).status.code(), Some(0));
    // Once the first one stopped, another may start.
    drop(first);
    let (_second, _) = common::serve(&w);
}

#[test]
fn a_port_in_use_stops_the_service_before_it_starts() {
    let w = studio();
    w.card("a", &kit::CardSpec::default());
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();
    let out = w.run(&["run", "--listen", &addr]);
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains(&format!("cannot listen on {addr}")), "{err}");
    assert_eq!(
        common::count_published(&w.path("usb")),
        0,
        "nothing was backed up"
    );
}
