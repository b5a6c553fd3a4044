//! The real binary backing up to a real SFTP server (OpenSSH) and a real WebDAV server
//! on loopback: the same layout and guarantees as a local disk, 3-2-1 with both
//! offsite, and an SFTP server that goes away and comes back.

mod common;

use common::{World, kit};
use triplicate_testkit::servers::{Sshd, WebDav};

/// A home whose library is backed up to a friend's NAS over SFTP and to a
/// Nextcloud-like WebDAV server.
fn world_with_servers() -> (World, Sshd, WebDav) {
    let w = World::new();
    w.init();
    let sshd = Sshd::start(&w.path("sshd"));
    let dav = WebDav::start(&w.path("dav"));
    dav.login_file(&w.path("dav-login"));
    w.ok(&[
        "dest",
        "add",
        "friend",
        &sshd.target("photos"),
        "--media",
        "nas",
        "--site",
        "friends-house",
        "--credentials-file",
        sshd.key.to_str().unwrap(),
    ]);
    w.ok(&[
        "dest",
        "add",
        "nextcloud",
        &dav.target("remote.php/dav/files/photographer/Backup"),
        "--media",
        "cloud",
        "--site",
        "nextcloud",
        "--credentials-file",
        w.path("dav-login").to_str().unwrap(),
    ]);
    (w, sshd, dav)
}

#[test]
fn a_card_backed_up_over_sftp_and_webdav_is_protected_3_2_1() {
    let (w, sshd, dav) = world_with_servers();
    let files = w.card("2024-05-17", &kit::CardSpec::default());
    let report = w.backed_up(&[]);
    for name in ["friend", "nextcloud"] {
        assert_eq!(
            common::dest(&report, name)["copied"].as_u64(),
            Some(files.len() as u64),
            "{report}"
        );
    }
    let s = w.status();
    assert_eq!(
        s["coverage"]["protected"].as_u64(),
        Some(files.len() as u64),
        "{s}"
    );
    let by = |name: &str| common::dest(&s, name)["verified_by"].clone();
    assert_eq!(
        by("friend")["read back over SFTP"].as_u64(),
        Some(files.len() as u64),
        "{s}"
    );
    assert_eq!(
        by("nextcloud")["read back over WebDAV"].as_u64(),
        Some(files.len() as u64),
        "{s}"
    );

    // Both servers hold the library's files byte for byte, under the same layout as a
    // disk, and nothing half-written.
    let library = common::stored(&w.library());
    for root in [
        sshd.data.join("photos"),
        dav.data.join("remote.php/dav/files/photographer/Backup"),
    ] {
        let stored = common::stored(&root);
        let mut hashes: Vec<_> = stored.values().collect();
        let mut expected: Vec<_> = library.values().collect();
        hashes.sort();
        expected.sort();
        assert_eq!(hashes, expected, "{}", root.display());
        assert!(common::partials(&root).is_empty());
        assert!(root.join(".triplicate/destination.toml").exists());
    }

    for name in ["friend", "nextcloud"] {
        let test = w.ok(&["dest", "test", name]);
        assert!(test.contains("reachable"), "{test}");
        let (code, v) = w.json("verify", &["--dest", name]);
        assert_eq!(code, 0, "{v}");
        assert_eq!(
            v["destinations"][0]["ok"].as_u64(),
            Some(files.len() as u64)
        );
    }

    let out = w.path("restored");
    w.ok(&[
        "restore",
        "--all",
        "--dest",
        "nextcloud",
        "--to",
        out.to_str().unwrap(),
    ]);
    assert_eq!(common::stored(&out).len(), files.len());
}

#[test]
fn an_sftp_server_that_goes_away_is_caught_up_when_it_returns() {
    let (w, mut sshd, _dav) = world_with_servers();
    w.card("2024-05-17", &kit::CardSpec::default());
    w.backed_up(&[]);

    sshd.kill();
    let files = w.card(
        "2024-05-18",
        &kit::CardSpec {
            day: "2024:05:18".into(),
            seed: "second".into(),
            ..Default::default()
        },
    );
    let (code, report) = w.backup(&[]);
    assert_ne!(code, 0, "a destination was missed: {report}");
    let friend = common::dest(&report, "friend");
    assert_eq!(friend["copied"].as_u64().unwrap_or(0), 0, "{report}");
    assert_eq!(
        common::dest(&report, "nextcloud")["copied"].as_u64(),
        Some(files.len() as u64),
        "the other destination is not held up: {report}"
    );

    sshd.restart();
    let report = w.backed_up(&[]);
    assert_eq!(
        common::dest(&report, "friend")["copied"].as_u64(),
        Some(files.len() as u64),
        "{report}"
    );
    assert!(common::partials(&sshd.data).is_empty());
}

#[test]
fn a_credentials_file_others_can_read_is_warned_about() {
    let (w, sshd, _dav) = world_with_servers();
    use std::os::unix::fs::PermissionsExt;
    let login = w.path("dav-login");
    std::fs::set_permissions(&login, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = w.run(&["dest", "test", "nextcloud"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("can be read by other users") && err.contains("chmod 600"),
        "{err}"
    );
    std::fs::set_permissions(&login, std::fs::Permissions::from_mode(0o600)).unwrap();
    let out = w.run(&["dest", "test", "nextcloud"]);
    assert!(
        !String::from_utf8_lossy(&out.stderr).contains("other users"),
        "no warning once it is private"
    );

    let config = w.home().join("config.toml");
    let mode = std::fs::metadata(&config).unwrap().permissions().mode();
    assert_eq!(mode & 0o077, 0, "the config is written private");
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o644)).unwrap();
    let out = w.run(&["status"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("config.toml can be read by other users"),
        "{err}"
    );
    drop(sshd);
}
