//! The Backup window end to end: `triplicate run` on a generated library, driven in
//! Debian's chromium by Playwright (`e2e/backup-window.mjs`). `scripts/test` installs
//! chromium and the npm package; screenshots land in `target/test-artifacts/`.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::{http, kit, serve, studio};

/// The repository's root.
fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

#[test]
fn the_backup_window_in_a_real_browser() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let driver = root().join("e2e/node_modules/playwright-core");
    assert!(
        Path::new(&chromium).exists() && driver.exists(),
        "this test needs Debian's chromium and e2e/node_modules: run scripts/test, which installs both"
    );
    // `triplicate` runs as an unprivileged user, so that a `chmod 000` photo is as
    // unreadable to it as to a photographer's account; each destination is a disk of
    // its own, so that its copies count.
    let w = common::World::unprivileged();
    w.init();
    let usb = w.disk_sized("usb", "512m");
    w.add_dest("usb", &usb, "hdd", "onsite");
    // Large enough that the copy takes a moment the page can show.
    let mut files = 0;
    for (sub, day) in [("2024-05-17", "2024:05:17"), ("2024-05-18", "2024:05:18")] {
        files += w
            .card(
                sub,
                &kit::CardSpec {
                    seed: sub.into(),
                    pairs: 12,
                    raw_size: 6 << 20,
                    jpeg_size: 1 << 20,
                    day: day.into(),
                    ..Default::default()
                },
            )
            .len() as u64;
    }
    // One photo nobody gave Triplicate the right to read: at risk, with its reason,
    // until the page's user fixes it.
    let locked = w.library().join("2024-05-18/IMG_LOCKED.JPG");
    std::fs::write(&locked, b"a photo the account may not read").unwrap();
    files += 1;
    // A card offloaded with `triplicate ingest`, on the library's own disk and with only
    // "usb" set up yet, so the page has a NOT SAFE verdict to show, with its reasons.
    let card = w.path("EOS_DIGITAL");
    files += kit::write_card(
        &card,
        &kit::CardSpec {
            seed: "ingested".into(),
            pairs: 2,
            day: "2024:05:19".into(),
            ..Default::default()
        },
    )
    .unwrap()
    .len() as u64;
    w.give(w.dir.path());
    std::fs::set_permissions(&locked, std::fs::Permissions::from_mode(0o000)).unwrap();
    let out = w.run(&["ingest", card.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "not safe: {out:?}");
    let nas = w.disk_sized("nas", "512m");
    w.add_dest("nas", &nas, "nas", "onsite");
    // The shoot the page "encrypts" at the end is 24 photos: enough to trip the guard.
    let config = w.home().join("config.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str("\n[protection]\nmass_change_min_files = 10\n");
    std::fs::write(&config, text).unwrap();
    w.give(&config);
    let (_daemon, _url) = serve(&w);
    // Both destinations filled (but for the locked photo) before the page is asked
    // anything of.
    let deadline = Instant::now() + Duration::from_secs(60);
    let photos = loop {
        let s = w.status();
        let photos = s["coverage"]["photos"].as_u64().unwrap();
        let done = s["destinations"]
            .as_array()
            .unwrap()
            .iter()
            .all(|d| d["verified"] == photos - 1);
        if photos == files && done && s["coverage"]["unreadable"] == 1 {
            break photos;
        }
        assert!(
            Instant::now() < deadline,
            "the first pass did not finish: {s}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let vault = w.disk_sized("vault", "512m");
    std::fs::create_dir_all(&vault).unwrap();
    w.give(&vault);
    // Another node, for the GRID panel: the page adds it as a peer, then removes it.
    let annex = common::World::new();
    annex.ok(&[
        "init",
        "--library",
        annex.library().to_str().unwrap(),
        "--node",
        "annex",
    ]);
    annex.card(
        "shoot",
        &kit::CardSpec {
            seed: "annex".into(),
            pairs: 1,
            ..Default::default()
        },
    );
    let annex_token = annex
        .ok(&["grid", "init"])
        .lines()
        .nth(1)
        .unwrap()
        .trim()
        .to_string();
    let (_annex, annex_url) = common::serve_on(&annex, "127.0.0.1:0", "annex");
    let artifacts = root().join("target/test-artifacts/backup-window");
    let out = Command::new("node")
        .arg(root().join("e2e/backup-window.mjs"))
        .env("URL", common::sign_in_link(&w))
        .env("PHOTOS", photos.to_string())
        .env("THIRD_DEST", &vault)
        .env("OFFLINE_DEST", &usb)
        .env("LOCKED", &locked)
        .env("ARTIFACTS", &artifacts)
        .env("PEER_URL", annex_url.trim_end_matches('/'))
        .env("PEER_TOKEN", &annex_token)
        .env("LIBRARY", w.library())
        .env("CHROMIUM", &chromium)
        .output()
        .expect("node runs (Debian's nodejs)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the browser run failed:\n{stdout}\n{stderr}\nscreenshots: {}",
        artifacts.display()
    );
    assert!(stdout.contains("all good"), "{stdout}");
    for shot in [
        "01-two-destinations.png",
        "01b-unreadable.png",
        "02a-mistyped-folder.png",
        "02b-same-disk.png",
        "04-protected.png",
        "05-unplugged.png",
        "06-phone.png",
        "07-grid.png",
        "08-create-backup.png",
        "09-backup-done.png",
        "10-alarm.png",
    ] {
        assert!(artifacts.join(shot).is_file(), "{shot} saved");
    }

    // What the page showed is what happened.
    let s = w.status();
    let shown = common::dest(&s, "vault");
    assert_eq!(shown["verified"].as_u64(), Some(photos));
    assert_eq!(shown["automatic"], false);
    assert_eq!(shown["site"], "bank");
    // (Coverage reached every photo on the page; since then a shoot was "encrypted".)
    assert_eq!(common::count_published(&vault), photos as usize);
    let config = std::fs::read_to_string(w.home().join("config.toml")).unwrap();
    assert!(!config.contains("annex"), "the peer was removed: {config}");
    // The backup made, deleted and uploaded back from the page is there, whole.
    let list: serde_json::Value =
        serde_json::from_str(&w.ok(&["archive", "list", "--json"])).unwrap();
    let archives = list.as_array().unwrap();
    assert_eq!(archives.len(), 1, "{list}");
    assert_eq!(
        archives[0]["folders"],
        serde_json::json!(["library/2024-05-17"])
    );
    let id = archives[0]["id"].as_str().unwrap();
    assert!(w.run(&["archive", "verify", id]).status.success());
}

/// Waits for job `id` to end; returns it.
fn finished(url: &str, id: u64) -> serde_json::Value {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (status, body) = http(url, "GET", &format!("/api/v1/jobs/{id}"), "");
        assert_eq!(status, 200, "{body}");
        let job: serde_json::Value = serde_json::from_str(&body).unwrap();
        if job["state"] == "done" || job["state"] == "failed" {
            return job;
        }
        assert!(Instant::now() < deadline, "job {id} did not end: {job}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn actions_asked_over_http_are_carried_out_by_the_service() {
    let w = studio();
    let files = w.card("2024-05-17", &kit::CardSpec::default()).len() as u64;
    std::fs::create_dir_all(w.path("vault")).unwrap();
    w.ok(&[
        "dest",
        "add",
        "vault",
        w.path("vault").to_str().unwrap(),
        "--media",
        "hdd",
        "--site",
        "bank",
        "--manual",
    ]);
    let (_daemon, url) = serve(&w);
    let deadline = Instant::now() + Duration::from_secs(30);
    while w.status()["coverage"]["photos"].as_u64() != Some(files) {
        assert!(Instant::now() < deadline, "the card was not scanned");
        std::thread::sleep(Duration::from_millis(100));
    }

    // "Back up existing photos" fills the manual destination too.
    let (status, body) = http(&url, "POST", "/api/v1/actions/backup-existing", "");
    assert_eq!(status, 202, "{body}");
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"]
        .as_u64()
        .unwrap();
    let job = finished(&url, id);
    assert_eq!(job["state"], "done", "{job}");
    assert_eq!(common::count_published(&w.path("vault")), files as usize);

    // A damaged copy is found and repaired by "verify now".
    let damaged = walk_files(&w.path("nas"))
        .into_iter()
        .find(|p| p.extension().is_some_and(|e| e == "CR2"))
        .unwrap();
    let mut bytes = std::fs::read(&damaged).unwrap();
    bytes[100] ^= 0xff;
    std::fs::write(&damaged, &bytes).unwrap();
    let (status, body) = http(&url, "POST", "/api/v1/actions/verify", "{}");
    assert_eq!(status, 202, "{body}");
    let id = serde_json::from_str::<serde_json::Value>(&body).unwrap()["id"]
        .as_u64()
        .unwrap();
    let job = finished(&url, id);
    assert_eq!(job["kind"], "verify");
    let summary = job["summary"].as_str().unwrap();
    assert!(
        summary.contains("1 corrupt") && summary.contains("1 repaired"),
        "{summary}"
    );
    assert_ne!(
        std::fs::read(&damaged).unwrap(),
        bytes,
        "the copy was rewritten"
    );

    // Rescan picks up a photo at once, and metrics count what moved.
    w.card(
        "2024-05-18",
        &kit::CardSpec {
            seed: "more".into(),
            pairs: 1,
            sidecars: false,
            day: "2024:05:18".into(),
            ..Default::default()
        },
    );
    let (status, body) = http(&url, "POST", "/api/v1/actions/rescan", "");
    assert_eq!(status, 202, "{body}");
    let (status, metrics) = http(&url, "GET", "/metrics", "");
    assert_eq!(status, 200);
    assert!(
        metrics.contains("triplicate_destination_bytes_copied_total{destination=\"vault\"}"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("triplicate_destination_bytes_verified_total{destination=\"nas\"} 0\n"),
        "{metrics}"
    );
}

fn walk_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.file_name().is_some_and(|n| n == ".triplicate") {
            continue;
        }
        if p.is_dir() {
            out.extend(walk_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn the_page_raises_the_alarm_while_the_home_disk_is_full_and_drops_it_after() {
    assert!(
        root().join("e2e/node_modules/playwright-core").exists(),
        "this test needs e2e/node_modules: run scripts/test"
    );
    common::require_root();
    let w = common::World::new();
    let home = w.disk_at("home");
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    std::fs::write(w.library().join("first.JPG"), b"before the disk filled").unwrap();
    let (_daemon, _url) = serve(&w);
    // Signing in writes a one-time code into the home: before its disk fills up.
    let link = common::sign_in_link(&w);
    let deadline = Instant::now() + Duration::from_secs(30);
    while common::count_published(&w.path("usb")) < 1 {
        assert!(Instant::now() < deadline, "the first photo was not copied");
        std::thread::sleep(Duration::from_millis(100));
    }
    let filler = home.join("filler");
    let _ = Command::new("dd")
        .args(["if=/dev/zero", &format!("of={}", filler.display()), "bs=1M"])
        .stderr(std::process::Stdio::null())
        .status();
    std::fs::write(w.library().join("second.JPG"), b"while the disk is full").unwrap();
    browse(
        "service-alarm.mjs",
        &[("URL", &link), ("FILLER", filler.to_str().unwrap())],
        &["11-service-alarm.png", "12-service-alarm-gone.png"],
    );
    let deadline = Instant::now() + Duration::from_secs(30);
    while common::count_published(&w.path("usb")) < 2 {
        assert!(Instant::now() < deadline, "the second photo was not copied");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn the_page_links_to_the_photos_deleted_from_the_library_that_backups_keep() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        root().join("e2e/node_modules/playwright-core").exists(),
        "this test needs e2e/node_modules: run scripts/test"
    );
    let w = common::World::new();
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    let day = w.library().join("2024-05-17");
    std::fs::create_dir_all(&day).unwrap();
    for name in ["IMG_0001.JPG", "IMG_0002.JPG"] {
        std::fs::write(day.join(name), kit::noise(name, 4000)).unwrap();
    }
    w.backed_up(&[]);
    std::fs::remove_file(day.join("IMG_0002.JPG")).unwrap();
    w.backed_up(&[]);
    let (_daemon, _url) = serve(&w);
    let artifacts = root().join("target/test-artifacts/backup-window");
    let out = Command::new("node")
        .arg(root().join("e2e/deleted-list.mjs"))
        .env("URL", common::sign_in_link(&w))
        .env("DELETED", "2024-05-17/IMG_0002.JPG")
        .env("ARTIFACTS", &artifacts)
        .env("CHROMIUM", &chromium)
        .output()
        .expect("node runs (Debian's nodejs)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("all good"),
        "the browser run failed:\n{stdout}\n{stderr}\nscreenshots: {}",
        artifacts.display()
    );
    for shot in ["12-deleted-note.png", "13-deleted-list.png"] {
        assert!(artifacts.join(shot).is_file(), "{shot} saved");
    }
}

/// Serves one page on a port of its own (another site, to the browser) whose form posts
/// "Back up existing photos" to `target` as soon as it loads; returns its URL.
fn other_site(target: &str) -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}/", listener.local_addr().unwrap());
    let html = format!(
        "<!doctype html><html><body><h1>Win a free lens</h1>\
         <form id=\"f\" method=\"post\" action=\"{target}api/v1/actions/backup-existing\">\
         <input name=\"x\" value=\"1\"></form>\
         <script>document.getElementById('f').submit()</script></body></html>"
    );
    std::thread::spawn(move || {
        for mut stream in listener.incoming().map_while(Result::ok) {
            let mut buf = [0u8; 4096];
            let _ = stream.read(&mut buf);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{html}",
                html.len()
            );
        }
    });
    url
}

#[test]
fn signing_in_over_the_network_works_in_a_real_browser_and_other_sites_are_refused() {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    assert!(
        root().join("e2e/node_modules/playwright-core").exists(),
        "this test needs e2e/node_modules: run scripts/test"
    );
    let w = studio();
    let (_daemon, url) = common::serve_on(&w, "0.0.0.0:0", "triplicate run");
    let token = common::token_of(&url);
    let artifacts = root().join("target/test-artifacts/backup-window");
    let out = Command::new("node")
        .arg(root().join("e2e/sign-in.mjs"))
        .env("URL", &url)
        .env("TOKEN", &token)
        .env("OTHER", other_site(&url))
        .env("ARTIFACTS", &artifacts)
        .env("CHROMIUM", &chromium)
        .output()
        .expect("node runs (Debian's nodejs)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success() && stdout.contains("all good"),
        "the browser run failed:\n{stdout}\n{stderr}\nscreenshots: {}",
        artifacts.display()
    );
    // Beyond loopback the page is HTTPS, with the service's own certificate.
    assert!(url.starts_with("https://"), "{url}");
    // The other site's post queued nothing.
    let jobs = Command::new("curl")
        .args(["-sk", "-H", &format!("Authorization: Bearer {token}")])
        .arg(format!("{url}api/v1/jobs"))
        .output()
        .expect("curl runs (scripts/test installs it)");
    let jobs = String::from_utf8_lossy(&jobs.stdout);
    assert!(jobs.starts_with('['), "{jobs}");
    assert!(!jobs.contains("backup-existing"), "{jobs}");
    for shot in [
        "20-sign-in.png",
        "21-wrong-token.png",
        "22-signed-in.png",
        "23-other-site-refused.png",
        "24-signed-out.png",
    ] {
        assert!(artifacts.join(shot).is_file(), "{shot} saved");
    }
}

#[test]
fn a_channel_added_in_the_settings_gets_its_test_message() {
    assert!(
        root().join("e2e/node_modules/playwright-core").exists(),
        "this test needs e2e/node_modules: run scripts/test"
    );
    let w = common::studio();
    let receiver = triplicate_testkit::receivers::HttpReceiver::start(&w.path("receiver"));
    let (_daemon, _url) = serve(&w);
    let link = common::sign_in_link(&w);
    browse(
        "notify.mjs",
        &[("URL", &link), ("RECEIVER", &receiver.url("studio-hook"))],
        &["13-notify-test-sent.png", "14-notify-refused.png"],
    );
    let got = receiver.received();
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0].path, "/studio-hook");
    assert_eq!(got[0].json()["kind"], "test");
    // The channel is in config.toml, and the refused one is not.
    let config = std::fs::read_to_string(w.home().join("config.toml")).unwrap();
    assert!(
        config.contains("[[notify.channel]]\nname = \"studio-hook\"\nkind = \"webhook\""),
        "{config}"
    );
    assert!(!config.contains("name = \"mail\""), "{config}");
}

/// Runs the browser script `script` (in e2e/) with `env`, screenshots going to the
/// Backup window's artifacts; insists it says "all good" and saved `shots`.
fn browse(script: &str, env: &[(&str, &str)], shots: &[&str]) {
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let artifacts = root().join("target/test-artifacts/backup-window");
    let out = Command::new("node")
        .arg(root().join("e2e").join(script))
        .envs(env.iter().copied())
        .env("ARTIFACTS", &artifacts)
        .env("CHROMIUM", &chromium)
        .output()
        .expect("node runs (Debian's nodejs)");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains("all good"),
        "the browser run failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    for shot in shots {
        assert!(artifacts.join(shot).is_file(), "{shot} saved");
    }
}
