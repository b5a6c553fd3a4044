//! The real binary backing up to a real Garage S3 server on loopback: 3-2-1 with the
//! bucket offsite, credentials kept out of everything printed, and a server killed in
//! the middle of an upload.

mod common;

use std::time::Duration;

use common::{World, kit};
use triplicate_testkit::garage::Garage;

/// A home with a local disk and a Garage bucket (credentials in a file).
fn world_with_bucket() -> (World, Garage) {
    let w = World::new();
    w.init();
    // On a disk of its own, so that its copies count toward 3-2-1.
    w.add_dest("usb", &w.disk_at("usb"), "hdd", "onsite");
    let garage = Garage::single(&w.path("garage"));
    garage.credentials_file(&w.path("garage-credentials"));
    w.ok(&[
        "dest",
        "add",
        "cloud",
        &garage.target("studio"),
        "--media",
        "cloud",
        "--site",
        "garage-vault",
        "--credentials-file",
        w.path("garage-credentials").to_str().unwrap(),
    ]);
    (w, garage)
}

#[test]
fn a_card_backed_up_to_a_disk_and_a_bucket_is_protected_3_2_1() {
    let (w, garage) = world_with_bucket();
    let files = w.card("2024-05-17", &kit::CardSpec::default());
    let report = w.backed_up(&[]);
    let cloud = common::dest(&report, "cloud");
    assert_eq!(
        cloud["copied"].as_u64(),
        Some(files.len() as u64),
        "{report}"
    );

    // Library (ssd) + usb (hdd) + bucket (cloud, offsite): 3 copies, 3 media, 1 offsite.
    let s = w.status();
    assert_eq!(
        s["coverage"]["protected"].as_u64(),
        Some(files.len() as u64),
        "{s}"
    );
    assert_eq!(s["coverage"]["at_risk"].as_u64(), Some(0));
    let by = |name: &str| common::dest(&s, name)["verified_by"].clone();
    assert_eq!(
        by("cloud")["CRC32C of every part checked by the store on upload"].as_u64(),
        Some(files.len() as u64),
        "the catalog records how each copy was proven"
    );
    assert_eq!(
        by("usb")["read back from the device"].as_u64(),
        Some(files.len() as u64)
    );

    // The bucket holds the same layout as a disk, and its own manifest.
    let test = w.ok(&["dest", "test", "cloud"]);
    assert!(test.contains("reachable"), "{test}");
    let (code, v) = w.json("verify", &["--dest", "cloud"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        v["destinations"][0]["ok"].as_u64(),
        Some(files.len() as u64)
    );

    // Restore from the bucket alone, byte for byte.
    let out = w.path("restored");
    w.ok(&[
        "restore",
        "--all",
        "--dest",
        "cloud",
        "--to",
        out.to_str().unwrap(),
    ]);
    for f in &files {
        let original = std::fs::read(w.library().join("2024-05-17").join(&f.path)).unwrap();
        let restored = out.join("2024-05-17").join(&f.path);
        let back = std::fs::read(&restored).unwrap();
        assert!(
            original == back,
            "{} differs after a round trip",
            f.path.display()
        );
        // A bucket keeps no permission bits: what comes back is its owner's alone.
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&restored).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "{}", restored.display());
    }

    // No secret anywhere the user can see.
    for args in [
        &["status", "--json"][..],
        &["dest", "list", "--json"],
        &["log", "--json"],
    ] {
        let o = w.run(args);
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(!text.contains(&garage.secret), "{args:?} shows the secret");
    }
    let config = std::fs::read_to_string(w.home().join("config.toml")).unwrap();
    assert!(
        !config.contains(&garage.secret),
        "the config holds no secret, only the file's name"
    );
}

#[test]
fn wrong_credentials_or_bucket_say_which_destination_and_why() {
    let w = World::new();
    w.init();
    let garage = Garage::single(&w.path("garage"));
    let out = w
        .cmd()
        .args([
            "dest",
            "add",
            "cloud",
            &garage.target("x"),
            "--media",
            "cloud",
            "--site",
            "b",
        ])
        .env("AWS_ACCESS_KEY_ID", "GK0000000000000000000000")
        .env("AWS_SECRET_ACCESS_KEY", "not-the-secret-at-all")
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("'cloud'") && err.contains("credentials"),
        "{err}"
    );
    assert!(!err.contains("not-the-secret-at-all"), "{err}");

    let mut cmd = w.cmd();
    garage.credentials(&mut cmd);
    let target = garage.target("x").replace("s3://photos/", "s3://nope/");
    let out = cmd
        .args([
            "dest", "add", "cloud", &target, "--media", "cloud", "--site", "b",
        ])
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("'cloud'") && err.contains("bucket does not exist"),
        "{err}"
    );

    let out = w.run(&[
        "dest",
        "add",
        "cloud",
        "s3://AKIA:secret@photos/x",
        "--media",
        "cloud",
        "--site",
        "b",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no credentials in the URL"));
}

#[test]
fn the_server_killed_mid_upload_leaves_nothing_visible_and_the_next_run_completes() {
    let (w, mut garage) = world_with_bucket();
    // One large file, so that the upload is in several parts when the server dies.
    let files = w.card(
        "2024-05-17",
        &kit::CardSpec {
            pairs: 1,
            raw_size: 96 << 20,
            sidecars: false,
            ..Default::default()
        },
    );
    let raw = files
        .iter()
        .find(|f| f.path.extension().is_some_and(|e| e == "CR2"))
        .unwrap()
        .bytes as u64;
    let mut backup = w
        .cmd()
        .args(["backup", "--json", "--dest", "cloud"])
        .stdout(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Kill the server once part of the file has reached its disk, not all of it.
    let data = w.path("garage/garage-0/data");
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    loop {
        let stored = du(&data);
        if stored > 1 << 20 {
            assert!(
                stored < raw,
                "the upload finished before the kill ({stored} bytes)"
            );
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the upload never started"
        );
        std::thread::sleep(Duration::from_millis(2));
    }
    garage.kill(0);
    let status = backup.wait().unwrap();
    assert_ne!(status.code(), Some(0), "the backup cannot have succeeded");
    garage.restart(0);

    // Nothing was marked verified too early, and no partial object is visible.
    let s = w.status();
    let cloud = common::dest(&s, "cloud");
    assert!(cloud["verified"].as_u64().unwrap() < 2, "{cloud}");
    let listing = list_bucket(&w);
    for (key, size) in &listing {
        assert!(
            !key.ends_with(".CR2") || *size == raw,
            "a partial object is visible: {key} ({size} bytes)"
        );
    }

    // The next run finishes the job.
    w.backed_up(&["--dest", "cloud"]);
    let s = w.status();
    let cloud = common::dest(&s, "cloud");
    assert_eq!(cloud["verified"].as_u64(), Some(2), "{cloud}");
    assert_eq!(cloud["pending"].as_u64(), Some(0));
}

/// Bytes in the files under `dir`.
fn du(dir: &std::path::Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    entries
        .flatten()
        .map(|e| match e.file_type() {
            Ok(t) if t.is_dir() => du(&e.path()),
            _ => e.metadata().map(|m| m.len()).unwrap_or(0),
        })
        .sum()
}

/// Every object in the bucket under the destination, with its size (through the
/// library, with the destination's own credentials).
fn list_bucket(w: &World) -> Vec<(String, u64)> {
    let config = triplicate::config::Config::load(&w.home().join("config.toml")).unwrap();
    let d = config.destination("cloud").unwrap();
    let dest = triplicate::destination::open_read(d).unwrap();
    dest.list(None)
        .unwrap()
        .into_iter()
        .map(|m| (m.key.to_string(), m.size))
        .collect()
}

#[test]
fn an_encrypted_bucket_holds_age_objects_that_stock_age_opens() {
    let w = World::new();
    w.init();
    let garage = Garage::single(&w.path("garage"));
    garage.credentials_file(&w.path("garage-credentials"));
    let recipient = common::age_keygen(&w.path("key.txt"));
    w.ok(&[
        "dest",
        "add",
        "cloud",
        &garage.target("sealed"),
        "--media",
        "cloud",
        "--site",
        "garage-vault",
        "--credentials-file",
        w.path("garage-credentials").to_str().unwrap(),
        "--encrypt-to",
        &recipient,
    ]);
    let files = w.card("2024-05-17", &kit::CardSpec::default());
    let report = w.backed_up(&[]);
    assert_eq!(
        common::dest(&report, "cloud")["copied"].as_u64(),
        Some(files.len() as u64),
        "{report}"
    );
    // The store checked the CRC32C of every part of the ciphertext it was sent.
    let s = w.status();
    assert_eq!(
        common::dest(&s, "cloud")["verified_by"]["CRC32C of every part checked by the store on upload"]
            .as_u64(),
        Some(files.len() as u64),
        "{s}"
    );

    // What the bucket holds, as the store sees it: age objects only.
    let config = triplicate::config::Config::load(&w.home().join("config.toml")).unwrap();
    let raw = triplicate::destination::connect(config.destination("cloud").unwrap()).unwrap();
    let objects = triplicate::destination::ReadDestination::list(&raw, None).unwrap();
    let library: std::collections::BTreeSet<String> =
        common::stored(&w.library()).into_values().collect();
    let mut opened = std::collections::BTreeSet::new();
    for o in &objects {
        let key = o.key.to_string();
        assert!(key.ends_with(".age"), "{key} is stored plain");
        // Downloaded, then opened by Debian's age.
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(
            &mut triplicate::destination::ReadDestination::read_stored(&raw, &o.key).unwrap(),
            &mut bytes,
        )
        .unwrap();
        let download = w.path("download.age");
        std::fs::write(&download, &bytes).unwrap();
        let plain = common::age_decrypt(&w.path("key.txt"), &download);
        opened.insert(blake3::hash(&plain).to_hex().to_string());
    }
    assert_eq!(
        opened, library,
        "the objects open into the library's photos"
    );
    let manifests = triplicate::destination::ReadDestination::list(
        &raw,
        Some(&triplicate::relpath::RelPath::new(".triplicate/manifests").unwrap()),
    )
    .unwrap();
    assert_eq!(manifests.len(), 1, "{manifests:?}");
    assert!(
        manifests[0].key.to_string().ends_with(".jsonl.age"),
        "the manifest is encrypted too: {manifests:?}"
    );

    // Checked again later without the key, by the ciphertext's hash.
    let (code, v) = w.json("verify", &[]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        common::dest(&v, "cloud")["ok"].as_u64(),
        Some(files.len() as u64)
    );
}
