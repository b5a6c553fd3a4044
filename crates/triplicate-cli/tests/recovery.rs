//! Getting photos back as a person means it: names at any depth, a list before a
//! restore, the photos deleted from the library, and a clear error for a pattern that
//! matches nothing.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::{World, age_keygen, kit};
use triplicate_testkit::garage::Garage;
use triplicate_testkit::servers::Sshd;

/// A library with photos in date folders, backed up to one destination.
fn backed_up() -> World {
    let w = World::new();
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    for (rel, seed) in [
        ("2024/2024-05-17/IMG_0010.CR2", "ten"),
        ("2024/2024-05-17/IMG_0011.CR2", "eleven"),
        ("2024/2024-05-18/IMG_0012.CR3", "twelve"),
    ] {
        let p = w.library().join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, kit::noise(seed, 2000)).unwrap();
    }
    w.backed_up(&[]);
    w
}

fn files(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = kit::tree_hashes(dir)
        .unwrap_or_default()
        .into_keys()
        .map(|p| p.to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

#[test]
fn a_name_without_a_slash_restores_the_file_at_any_depth() {
    let w = backed_up();
    let to = w.path("back");
    let out = w.run(&["restore", "--to", to.to_str().unwrap(), "IMG_0010.CR2"]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(files(&to), ["2024/2024-05-17/IMG_0010.CR2"]);
    let to = w.path("raws");
    w.ok(&["restore", "--to", to.to_str().unwrap(), "*.CR3"]);
    assert_eq!(files(&to), ["2024/2024-05-18/IMG_0012.CR3"]);
    // A slash makes it a path.
    let to = w.path("day");
    w.ok(&["restore", "--to", to.to_str().unwrap(), "2024/2024-05-17/*"]);
    assert_eq!(
        files(&to),
        [
            "2024/2024-05-17/IMG_0010.CR2",
            "2024/2024-05-17/IMG_0011.CR2"
        ]
    );
}

#[test]
fn a_pattern_that_matches_nothing_is_an_error_with_the_nearest_names() {
    let w = backed_up();
    let to = w.path("back");
    let out = w.run(&["restore", "--to", to.to_str().unwrap(), "IMG_0010.CR3"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("nothing to restore matches 'IMG_0010.CR3' (the nearest names: IMG_0010.CR2"),
        "{said}"
    );
    assert!(!to.exists(), "nothing written");
}

#[test]
fn restore_list_says_what_and_from_where_and_writes_nothing() {
    let w = backed_up();
    let to = w.path("back");
    let said = w.ok(&["restore", "--list", "IMG_001[01].CR2"]);
    assert!(said.contains("2024/2024-05-17/IMG_0010.CR2"), "{said}");
    assert!(said.contains("from usb"), "{said}");
    assert!(
        said.contains("2 files to restore (3.91 KiB); nothing was written."),
        "{said}"
    );
    let out = w.run(&[
        "restore",
        "--list",
        "--json",
        "--to",
        to.to_str().unwrap(),
        "*.CR2",
    ]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["selected"], 2, "{report}");
    assert_eq!(report["bytes"], 4000, "{report}");
    assert_eq!(report["listed"][0]["from"], "usb", "{report}");
    assert!(!to.exists(), "--list writes nothing");
}

#[test]
fn restore_deleted_picks_what_no_library_holds_and_status_and_the_page_point_to_it() {
    let w = backed_up();
    std::fs::remove_file(w.library().join("2024/2024-05-17/IMG_0011.CR2")).unwrap();
    w.backed_up(&[]);

    let said = w.ok(&["restore", "--deleted", "--list"]);
    assert!(said.contains("IMG_0011.CR2"), "{said}");
    assert!(said.contains("(deleted from the library)"), "{said}");
    assert!(said.contains("1 file to restore"), "{said}");
    let to = w.path("back");
    w.ok(&["restore", "--deleted", "--to", to.to_str().unwrap()]);
    assert_eq!(files(&to), ["2024/2024-05-17/IMG_0011.CR2"]);

    let status = w.ok(&["status"]);
    assert!(
        status.contains("`triplicate restore --deleted --list`"),
        "{status}"
    );
    let (_server, url) = common::serve(&w);
    let (code, body) = common::http(&url, "GET", "/api/v1/deleted", "");
    assert_eq!(code, 200, "{body}");
    let listed: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    assert_eq!(
        listed[0]["path"], "2024/2024-05-17/IMG_0011.CR2",
        "{listed}"
    );
    assert_eq!(listed[0]["from"], "usb", "{listed}");
}

/// Two names of one photo, three empty files of three kinds, and a photo copied into
/// `Selects/`, each with its own modification time. Returns the relative paths.
fn duplicates(root: &Path) -> Vec<&'static str> {
    let photo = kit::jpeg("2024:05:17 10:00:00", &kit::noise("dup", 3000));
    let files: [(&str, &[u8], u64); 6] = [
        ("shoot/IMG_0001.JPG", &photo, 1_700_000_000),
        ("Selects/best of may.JPG", &photo, 1_700_100_000),
        ("shoot/IMG_0001.xmp", b"", 1_700_200_000),
        ("shoot/empty.jpg", b"", 1_700_300_000),
        ("clips/empty.mov", b"", 1_700_400_000),
        ("shoot/IMG_0002.JPG", b"unique", 1_700_500_000),
    ];
    for (rel, bytes, secs) in files {
        let p = root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, bytes).unwrap();
        std::fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_secs(secs))
            .unwrap();
    }
    files.iter().map(|(rel, _, _)| *rel).collect()
}

fn mtimes(root: &Path) -> std::collections::BTreeMap<String, std::time::SystemTime> {
    kit::tree_hashes(root)
        .unwrap()
        .into_keys()
        .map(|p| {
            let t = std::fs::metadata(root.join(&p))
                .unwrap()
                .modified()
                .unwrap();
            (p.to_string_lossy().into_owned(), t)
        })
        .collect()
}

/// Deletes the library and the catalog, rebuilds from the one destination and
/// restores everything: byte-exact, every name, every modification time.
fn assert_rebuilt_exactly(
    w: &World,
    library: &std::collections::BTreeMap<std::path::PathBuf, String>,
    times: &std::collections::BTreeMap<String, std::time::SystemTime>,
) {
    std::fs::remove_dir_all(w.library()).unwrap();
    std::fs::create_dir_all(w.library()).unwrap();
    for f in std::fs::read_dir(w.home()).unwrap() {
        let f = f.unwrap().path();
        if f.file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("catalog.db")
        {
            std::fs::remove_file(f).unwrap();
        }
    }
    w.ok(&["catalog", "rebuild"]);
    let to = w.path("recovered");
    let said = w.ok(&["restore", "--all", "--to", to.to_str().unwrap()]);
    assert_eq!(&kit::tree_hashes(&to).unwrap(), library, "{said}");
    assert_eq!(&mtimes(&to), times);
}

#[test]
fn every_name_is_a_file_at_the_destination_and_a_rebuild_brings_every_name_back() {
    let w = World::new();
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    let names = duplicates(&w.library());
    let library = kit::tree_hashes(&w.library()).unwrap();
    let times = mtimes(&w.library());
    let report = w.backed_up(&[]);
    assert_eq!(common::dest(&report, "usb")["named"], 3, "{report}");

    // Browsed by hand, the destination shows every name, each a plain file.
    let stored = common::stored(&w.path("usb"));
    for rel in &names {
        let name = Path::new(rel).file_name().unwrap();
        let (key, hash) = stored
            .iter()
            .find(|(k, _)| k.file_name() == Some(name))
            .unwrap_or_else(|| panic!("{rel} has no file at the destination: {stored:?}"));
        assert_eq!(hash, &library[Path::new(rel)], "{key:?}");
    }
    assert_eq!(stored.len(), names.len(), "{stored:?}");
    // A second run has nothing left to do.
    let (_, again) = w.backup(&[]);
    assert_eq!(common::dest(&again, "usb")["named"], 0, "{again}");

    assert_rebuilt_exactly(&w, &library, &times);
}

#[test]
fn names_an_ingest_wrote_survive_a_rebuild_after_a_backup() {
    let w = World::new();
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    let card = w.path("CARD");
    duplicates(&card.join("DCIM/100TEST"));
    let out = w.run(&["ingest", card.to_str().unwrap()]);
    assert!(out.status.code().is_some(), "{out:?}");
    w.backed_up(&[]);
    let library = kit::tree_hashes(&w.library()).unwrap();
    assert_eq!(library.len(), 6, "{library:?}");
    // Each manifest line names the library file whose bytes its path holds.
    let manifests = kit::files_under(&w.path("usb/.triplicate/manifests"));
    for m in manifests {
        for line in std::fs::read_to_string(&m).unwrap().lines().skip(1) {
            let e: serde_json::Value = serde_json::from_str(line).unwrap();
            let source = w.library().join(e["source"].as_str().unwrap());
            let stored = w.path("usb").join(e["path"].as_str().unwrap());
            assert_eq!(
                std::fs::read(&source).unwrap(),
                std::fs::read(&stored).unwrap(),
                "{line}"
            );
        }
    }
    let times = mtimes(&w.library());
    assert_rebuilt_exactly(&w, &library, &times);
}

/// The drill with one destination of each kind, alone: its names are files there (a
/// server-side or plain copy where there are no hard links); then the library and the
/// whole home are lost, and `recover TARGET --to DIR` on a new home brings every name
/// back, byte for byte, with its modification time, and `backup` carries on.
fn drill_with_only(w: &World, target: &str, flags: &[&str]) {
    duplicates(&w.library());
    let library = kit::tree_hashes(&w.library()).unwrap();
    let times = mtimes(&w.library());
    let report = w.backed_up(&[]);
    let named = &report["destinations"][0]["named"];
    assert_eq!(named, 3, "{report}");

    std::fs::remove_dir_all(w.library()).unwrap();
    let new_home = w.path("new-home");
    let to = w.path("recovered");
    let mut args = vec![
        "--home",
        new_home.to_str().unwrap(),
        "recover",
        target,
        "--to",
        to.to_str().unwrap(),
    ];
    args.extend(flags);
    let said = w.ok(&args);
    assert!(
        said.contains("next: `triplicate backup` carries on"),
        "{said}"
    );
    assert_eq!(kit::tree_hashes(&to).unwrap(), library, "{said}");
    assert_eq!(mtimes(&to), times);
    // The new home carries on: nothing to copy, nothing failed; one destination is
    // not 3-2-1, so the photos are at risk (exit 1), as before the disaster.
    let out = w.run(&["--home", new_home.to_str().unwrap(), "backup", "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["problems"], serde_json::json!([]), "{report}");
    assert_eq!(
        report["coverage"]["at_risk"], report["coverage"]["photos"],
        "{report}"
    );
    assert_eq!(out.status.code(), Some(1), "{report}");
    assert_eq!(report["destinations"][0]["copied"], 0, "{report}");
}

#[test]
fn recover_from_a_garage_bucket_alone_is_exact() {
    let w = World::new();
    w.init();
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
    let credentials = w.path("garage-credentials");
    drill_with_only(
        &w,
        &garage.target("studio"),
        &["--credentials-file", credentials.to_str().unwrap()],
    );
}

#[test]
fn recover_from_an_sftp_server_alone_is_exact() {
    let w = World::new();
    w.init();
    let sshd = Sshd::start(&w.path("sshd"));
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
    drill_with_only(
        &w,
        &sshd.target("photos"),
        &["--credentials-file", sshd.key.to_str().unwrap()],
    );
}

#[test]
fn recover_from_an_encrypted_destination_alone_is_exact() {
    let w = World::new();
    w.init();
    let key = w.path("key.txt");
    let recipient = age_keygen(&key);
    let vault = w.path("vault");
    std::fs::create_dir_all(&vault).unwrap();
    w.ok(&[
        "dest",
        "add",
        "vault",
        vault.to_str().unwrap(),
        "--media",
        "hdd",
        "--site",
        "friends-house",
        "--encrypt-to",
        &recipient,
        "--identity-file",
        key.to_str().unwrap(),
    ]);
    // Without its identity, recover says what it needs.
    let out = w.run(&[
        "--home",
        w.path("locked-home").to_str().unwrap(),
        "recover",
        vault.to_str().unwrap(),
        "--to",
        w.path("nowhere").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("is encrypted: give --identity-file"),
        "{out:?}"
    );
    drill_with_only(
        &w,
        vault.to_str().unwrap(),
        &["--identity-file", key.to_str().unwrap()],
    );
    // Every name is an age file of its own there.
    let ages = kit::files_under(&vault)
        .into_iter()
        .filter(|p| !p.starts_with(vault.join(".triplicate")))
        .count();
    assert_eq!(ages, 6);
}

#[test]
fn recover_from_a_local_disk_alone_is_exact() {
    let w = World::new();
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    let usb = w.path("usb");
    drill_with_only(&w, usb.to_str().unwrap(), &[]);
    // A mistyped path is said as such, and nothing is made.
    let out = w.run(&[
        "--home",
        w.path("another-home").to_str().unwrap(),
        "recover",
        w.path("usbb").to_str().unwrap(),
        "--to",
        w.path("nowhere").to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("holds no Triplicate destination"),
        "{out:?}"
    );
    assert!(!w.path("another-home").join("config.toml").exists());
}

#[test]
fn as_of_after_a_rebuild_gives_each_name_what_it_held_then() {
    let w = World::new();
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    let lib = w.library();
    std::fs::create_dir_all(lib.join("shoot")).unwrap();
    let first = kit::noise("first", 3000);
    std::fs::write(lib.join("shoot/IMG_0001.JPG"), &first).unwrap();
    std::fs::write(lib.join("shoot/IMG_0002.JPG"), kit::noise("two", 3000)).unwrap();
    std::fs::write(lib.join("shoot/IMG_0003.JPG"), kit::noise("three", 3000)).unwrap();
    w.backed_up(&[]);
    let before = kit::tree_hashes(&lib).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    let then = chrono::Utc::now().to_rfc3339();
    std::thread::sleep(std::time::Duration::from_millis(1100));

    // An edit and a deletion, each backed up.
    std::fs::write(lib.join("shoot/IMG_0001.JPG"), kit::noise("edited", 3000)).unwrap();
    std::fs::remove_file(lib.join("shoot/IMG_0002.JPG")).unwrap();
    w.backed_up(&[]);
    let after = kit::tree_hashes(&lib).unwrap();

    // The laptop is gone: recover, then ask for the library as it was.
    std::fs::remove_dir_all(&lib).unwrap();
    let new_home = w.path("new-home");
    let home = new_home.to_str().unwrap();
    let usb = w.path("usb");
    let now = w.path("now");
    w.ok(&[
        "--home",
        home,
        "recover",
        usb.to_str().unwrap(),
        "--to",
        now.to_str().unwrap(),
    ]);
    assert_eq!(
        kit::tree_hashes(&now).unwrap(),
        after,
        "the library as it is now"
    );
    let old = w.path("then");
    w.ok(&[
        "--home",
        home,
        "restore",
        "--as-of",
        &then,
        "--to",
        old.to_str().unwrap(),
    ]);
    assert_eq!(
        kit::tree_hashes(&old).unwrap(),
        before,
        "the library as it was"
    );
}

#[test]
fn a_destination_made_before_every_name_was_a_file_is_completed_by_the_next_backup() {
    let w = World::new();
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    duplicates(&w.library());
    w.backed_up(&[]);
    // As an earlier version left it: one file per content, no record of other names.
    let stored = common::stored(&w.path("usb"));
    let db = rusqlite::Connection::open(w.home().join("catalog.db")).unwrap();
    let copies: Vec<Vec<u8>> = db
        .prepare("SELECT path FROM copies")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    db.execute("DELETE FROM aliases", []).unwrap();
    drop(db);
    for key in stored.keys() {
        if !copies
            .iter()
            .any(|c| c.as_slice() == key.to_str().unwrap().as_bytes())
        {
            std::fs::remove_file(w.path("usb").join(key)).unwrap();
        }
    }
    assert_eq!(
        common::stored(&w.path("usb")).len(),
        3,
        "one file per content"
    );

    let report = w.backed_up(&[]);
    assert_eq!(common::dest(&report, "usb")["named"], 3, "{report}");
    assert_eq!(
        common::stored(&w.path("usb")),
        stored,
        "every name is a file again"
    );
}

/// Runs `triplicate ARGS` on a terminal (given by `script`) that types `typed`.
fn on_a_terminal(args: &[&str], typed: &str) -> std::process::Output {
    let command: Vec<String> = std::iter::once(env!("CARGO_BIN_EXE_triplicate").to_string())
        .chain(args.iter().map(|a| format!("'{a}'")))
        .collect();
    std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf '{typed}\\n' | script -qec \"{}\" /dev/null",
            command.join(" ")
        ))
        .env_remove("TRIPLICATE_HOME")
        .output()
        .unwrap()
}

#[test]
fn recover_on_a_terminal_asks_for_the_passphrase() {
    let w = World::new();
    w.init();
    let passphrase = w.path("passphrase");
    std::fs::write(&passphrase, "a long and memorable passphrase\n").unwrap();
    std::fs::set_permissions(
        &passphrase,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let vault = w.path("vault");
    std::fs::create_dir_all(&vault).unwrap();
    w.ok(&[
        "dest",
        "add",
        "vault",
        vault.to_str().unwrap(),
        "--media",
        "hdd",
        "--site",
        "friends-house",
        "--passphrase-file",
        passphrase.to_str().unwrap(),
    ]);
    duplicates(&w.library());
    let library = kit::tree_hashes(&w.library()).unwrap();
    w.backed_up(&[]);

    let home = w.path("new-home");
    let to = w.path("recovered");
    let args = [
        "--home",
        home.to_str().unwrap(),
        "recover",
        vault.to_str().unwrap(),
        "--to",
        to.to_str().unwrap(),
    ];
    // A wrong passphrase is refused, and leaves no half-made home.
    let out = on_a_terminal(&args, "not the passphrase");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("Its passphrase:"), "{said}");
    assert!(said.to_lowercase().contains("passphrase"), "{said}");
    assert!(!home.join("config.toml").exists(), "{said}");
    // The right one recovers everything.
    let out = on_a_terminal(&args, "a long and memorable passphrase");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("next: `triplicate backup` carries on"),
        "{said}"
    );
    // On a terminal the restore shows its progress, with the time left.
    assert!(said.contains("restore") && said.contains("ETA"), "{said}");
    assert_eq!(kit::tree_hashes(&to).unwrap(), library, "{said}");
    let kept = home.join("passphrase");
    assert_eq!(
        std::fs::metadata(&kept).unwrap().permissions().mode() & 0o777,
        0o600
    );
}

#[test]
fn on_exfat_where_there_are_no_hard_links_each_name_is_a_copy_read_back() {
    common::require_root();
    let w = World::new();
    w.init();
    let disk = common::Mount::exfat(&w.path("media/exfat"), &w.path("exfat.img"));
    let usb = disk.path.join("usb");
    w.add_dest("usb", &usb, "hdd", "onsite");
    duplicates(&w.library());
    let library = kit::tree_hashes(&w.library()).unwrap();
    let report = w.backed_up(&[]);
    assert_eq!(common::dest(&report, "usb")["named"], 3, "{report}");
    let stored = common::stored(&usb);
    assert_eq!(stored.len(), library.len(), "{stored:?}");
    let mut held: Vec<&String> = stored.values().collect();
    let mut want: Vec<&String> = library.values().collect();
    held.sort();
    want.sort();
    assert_eq!(held, want);
}

#[test]
fn each_name_line_in_a_manifest_has_the_kind_of_its_own_name() {
    let w = World::new();
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    duplicates(&w.library());
    w.backed_up(&[]);
    let mut kinds = std::collections::BTreeMap::new();
    for m in kit::files_under(&w.path("usb/.triplicate/manifests")) {
        for line in std::fs::read_to_string(&m).unwrap().lines().skip(1) {
            let e: serde_json::Value = serde_json::from_str(line).unwrap();
            kinds.insert(
                e["source"].as_str().unwrap().to_string(),
                e["kind"].as_str().unwrap().to_string(),
            );
        }
    }
    assert_eq!(kinds["shoot/IMG_0001.xmp"], "sidecar", "{kinds:?}");
    assert_eq!(kinds["shoot/empty.jpg"], "image", "{kinds:?}");
    assert_eq!(kinds["clips/empty.mov"], "video", "{kinds:?}");
}

#[test]
fn format_md_s_recovery_by_hand_brings_the_library_back_without_triplicate() {
    for tool in ["jq", "b3sum"] {
        let found = std::process::Command::new(tool).arg("--version").output();
        assert!(
            found.is_ok_and(|o| o.status.success()),
            "this test needs {tool}: run scripts/test, which installs it"
        );
    }
    let w = World::new();
    w.init();
    let usb = w.path("usb");
    w.add_dest("usb", &usb, "hdd", "onsite");
    duplicates(&w.library());
    w.backed_up(&[]);
    // An edit and a deletion since, each in a run of its own.
    std::fs::write(w.library().join("shoot/IMG_0002.JPG"), b"edited").unwrap();
    w.backed_up(&[]);
    std::fs::remove_file(w.library().join("clips/empty.mov")).unwrap();
    w.backed_up(&[]);
    let library = kit::tree_hashes(&w.library()).unwrap();

    let format =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../FORMAT.md"))
            .unwrap();
    let script = format
        .split("## Recovering by hand")
        .nth(1)
        .and_then(|s| s.split("```sh\n").nth(1))
        .and_then(|s| s.split("```").next())
        .expect("FORMAT.md has a script under 'Recovering by hand'");
    let out = w.path("restored");
    let script = script.replacen(
        "backup=/media/backup-1 out=$HOME/restored",
        &format!("backup='{}' out='{}'", usb.display(), out.display()),
        1,
    );
    let ran = std::process::Command::new("bash")
        .args(["-c", &script])
        .output()
        .unwrap();
    let said =
        String::from_utf8_lossy(&ran.stdout).into_owned() + &String::from_utf8_lossy(&ran.stderr);
    assert!(
        ran.status.success() && said.contains("every file checked"),
        "{said}"
    );
    assert_eq!(
        kit::tree_hashes(&out.join("library")).unwrap(),
        library,
        "{said}"
    );
}
