//! Archives through the real binary: config and image archives created, listed,
//! described and verified; round trips through import on another home and restore,
//! byte for byte; the hooks around them (after a failure and after SIGTERM); pins and
//! pruning.

mod common;

use common::studio;
use serde_json::Value;

#[test]
fn a_config_archive_is_created_listed_described_and_verified() {
    let w = studio();
    w.card("2024-05-17", &common::kit::CardSpec::default());
    w.backed_up(&[]);
    let out = w.ok(&["archive", "create", "--kind", "config", "--json"]);
    let created: Value = serde_json::from_str(&out).unwrap();
    let id = created["id"].as_str().unwrap().to_string();
    let file = std::path::PathBuf::from(created["file"].as_str().unwrap());
    assert!(file.starts_with(w.home().join("archives")), "{file:?}");
    // The manifest is the first entry, as `tar` itself lists it.
    let listing = std::process::Command::new("tar")
        .arg("tzf")
        .arg(&file)
        .output()
        .unwrap();
    let names = String::from_utf8(listing.stdout).unwrap();
    assert_eq!(
        names.lines().collect::<Vec<_>>(),
        [
            "triplicate-archive.json",
            "core/config.toml",
            "core/catalog.db",
            "core/destinations.json"
        ]
    );
    // The catalog copy is a sound SQLite database holding the photos.
    let dir = tempfile::tempdir().unwrap();
    let unpack = std::process::Command::new("tar")
        .arg("xzf")
        .arg(&file)
        .arg("-C")
        .arg(dir.path())
        .status()
        .unwrap();
    assert!(unpack.success());
    let copy = triplicate::catalog::Catalog::open(&dir.path().join("core/catalog.db")).unwrap();
    assert_eq!(copy.integrity_check().unwrap(), "ok");
    let destinations = std::fs::read_to_string(dir.path().join("core/destinations.json")).unwrap();
    assert!(destinations.contains("\"usb\"") && !destinations.contains("credentials_file"));

    let list: Value = serde_json::from_str(&w.ok(&["archive", "list", "--json"])).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1);
    let info: Value = serde_json::from_str(&w.ok(&["archive", "info", &id, "--json"])).unwrap();
    assert_eq!(info["manifest"]["kind"], "config");
    assert_eq!(info["manifest"]["files"].as_array().unwrap().len(), 3);
    let verified: Value =
        serde_json::from_str(&w.ok(&["archive", "verify", &id, "--json"])).unwrap();
    assert_eq!(verified["problems"].as_array().unwrap().len(), 0);

    // Copied to a destination, beside its bookkeeping; a second copy writes nothing.
    let copied: Value =
        serde_json::from_str(&w.ok(&["archive", "copy", &id, "--dest", "usb", "--json"])).unwrap();
    assert_eq!(copied["already_there"], false);
    let at_usb = w
        .path("usb/.triplicate/archives")
        .join(file.file_name().unwrap());
    assert_eq!(
        std::fs::read(&at_usb).unwrap(),
        std::fs::read(&file).unwrap()
    );
    let again: Value =
        serde_json::from_str(&w.ok(&["archive", "copy", &id, "--dest", "usb", "--json"])).unwrap();
    assert_eq!(again["already_there"], true);
    let out = w.run(&["archive", "copy", &id, "--dest", "nowhere"]);
    assert_eq!(out.status.code(), Some(2));
    // Listed there, and brought back from there through every check once the local one
    // is gone (the machine lost, say).
    let there: Value =
        serde_json::from_str(&w.ok(&["archive", "list", "--dest", "usb", "--json"])).unwrap();
    let name = file.file_name().unwrap().to_str().unwrap();
    assert_eq!(there[0]["name"], name, "{there}");
    let local = std::fs::read(&file).unwrap();
    w.ok(&["archive", "delete", &id]);
    let back: Value =
        serde_json::from_str(&w.ok(&["archive", "import", "--dest", "usb", name, "--json"]))
            .unwrap();
    assert_eq!(back["id"], id.as_str());
    assert_eq!(std::fs::read(&file).unwrap(), local);
    let out = w.run(&["archive", "import", "--dest", "usb", "nothing.tar.gz"]);
    assert_eq!(out.status.code(), Some(2));
    // The destination's photos are untouched by it: a backup still finds all in place.
    w.backed_up(&[]);

    // A damaged archive: verify says so, with exit code 1.
    let mut bytes = std::fs::read(&file).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0xff;
    std::fs::write(&file, bytes).unwrap();
    let out = w.run(&["archive", "verify", &id]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let out = w.run(&["archive", "verify", "no-such-archive"]);
    assert_eq!(out.status.code(), Some(2), "an unknown id is a usage error");
}

#[test]
fn optional_sections_are_estimated_then_archived_under_their_name() {
    let w = studio();
    let lr = w.path("Lightroom");
    std::fs::create_dir_all(lr.join("Backups")).unwrap();
    std::fs::write(lr.join("Catalog.lrcat"), "a catalog ".repeat(20_000)).unwrap();
    std::fs::write(
        lr.join("Backups/old.lrcat"),
        common::kit::noise("lr", 100_000),
    )
    .unwrap();
    let config = w.home().join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!(
            "{text}\n[archive.sections.lightroom]\npaths = [\"{}\"]\ndescription = \"Lightroom catalog\"\n",
            lr.display()
        ),
    )
    .unwrap();
    let create = [
        "archive",
        "create",
        "--kind",
        "config",
        "--section",
        "lightroom",
    ];
    let out = w.ok(&[&create[..], &["--estimate", "--json"]].concat());
    let parts: Value = serde_json::from_str(&out).unwrap();
    let lightroom = &parts[1];
    assert_eq!(
        (lightroom["name"].as_str(), lightroom["files"].as_u64()),
        (Some("lightroom"), Some(2))
    );
    assert_eq!(lightroom["raw"], 300_000);
    // Text compresses, noise does not: the estimate lies between.
    let compressed = lightroom["compressed"].as_u64().unwrap();
    assert!(compressed > 100_000 && compressed < 200_000, "{compressed}");
    assert!(
        !w.home().join("archives").exists(),
        "an estimate writes nothing"
    );

    let out = w.ok(&[&create[..], &["--json"]].concat());
    let created: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        created["manifest"]["sections"],
        serde_json::json!(["core", "lightroom"])
    );
    let paths: Vec<&str> = created["manifest"]["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"sections/lightroom/Lightroom/Catalog.lrcat"),
        "{paths:?}"
    );
    assert!(
        paths.contains(&"sections/lightroom/Lightroom/Backups/old.lrcat"),
        "{paths:?}"
    );
    let id = created["id"].as_str().unwrap();
    assert!(w.run(&["archive", "verify", id]).status.success());
    let out = w.run(&["archive", "create", "--kind", "config", "--section", "nope"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no archive section 'nope'"));
}

/// Appends TOML to the world's config.toml.
fn configure(w: &common::World, toml: &str) {
    let config = w.home().join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(&config, format!("{text}\n{toml}\n")).unwrap();
}

/// Every file under `root`, by relative path, with its bytes.
fn tree(root: &std::path::Path) -> std::collections::BTreeMap<String, Vec<u8>> {
    walk(root)
        .into_iter()
        .map(|p| {
            (
                p.strip_prefix(root).unwrap().to_string_lossy().into_owned(),
                std::fs::read(&p).unwrap(),
            )
        })
        .collect()
}

fn walk(root: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(root) else {
        return out;
    };
    for e in entries.flatten() {
        let p = e.path();
        if e.file_type().unwrap().is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn created(out: &str) -> (String, std::path::PathBuf, Value) {
    let v: Value = serde_json::from_str(out).unwrap();
    (
        v["id"].as_str().unwrap().to_string(),
        std::path::PathBuf::from(v["file"].as_str().unwrap()),
        v,
    )
}

#[test]
fn a_config_archive_round_trips_through_import_and_restore_byte_for_byte() {
    let w = studio();
    w.card("2024-05-17", &common::kit::CardSpec::default());
    w.backed_up(&[]);
    let lr = w.path("Lightroom");
    std::fs::create_dir_all(lr.join("Backups")).unwrap();
    std::fs::write(lr.join("Catalog.lrcat"), common::kit::noise("cat", 50_000)).unwrap();
    std::fs::write(lr.join("Backups/old.lrcat"), "old ".repeat(1000)).unwrap();
    configure(
        &w,
        &format!(
            "[archive.sections.lightroom]\npaths = [\"{}\"]\n",
            lr.display()
        ),
    );
    let config_before = std::fs::read(w.home().join("config.toml")).unwrap();
    let lr_before = tree(&lr);
    let (id, file, _) = created(&w.ok(&[
        "archive",
        "create",
        "--kind",
        "config",
        "--section",
        "lightroom",
        "--json",
    ]));

    // Another home imports it, and restores it elsewhere: the same bytes.
    let other = common::World::new();
    other.init();
    let out = other.ok(&["archive", "import", file.to_str().unwrap(), "--json"]);
    let imported: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(imported["id"], id.as_str());
    assert!(other.run(&["archive", "verify", &id]).status.success());
    let to = other.path("restored");
    other.ok(&["archive", "restore", &id, "--to", to.to_str().unwrap()]);
    assert_eq!(
        std::fs::read(to.join("core/config.toml")).unwrap(),
        config_before
    );
    assert_eq!(tree(&to.join("sections/lightroom/Lightroom")), lr_before);
    let catalog = triplicate::catalog::Catalog::open(&to.join("core/catalog.db")).unwrap();
    assert_eq!(catalog.integrity_check().unwrap(), "ok");
    // Again: everything is in place already, nothing is overwritten.
    let again: Value = serde_json::from_str(&other.ok(&[
        "archive",
        "restore",
        &id,
        "--to",
        to.to_str().unwrap(),
        "--json",
    ]))
    .unwrap();
    assert_eq!(again["written"].as_array().unwrap().len(), 0);
    assert_eq!(again["unchanged"], 5);

    // In place: a changed section file is not replaced without --force.
    std::fs::write(lr.join("Catalog.lrcat"), "damaged").unwrap();
    std::fs::remove_file(lr.join("Backups/old.lrcat")).unwrap();
    let out = w.run(&["archive", "restore", &id, "--section", "lightroom"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("--force"),
        "{out:?}"
    );
    assert_eq!(
        std::fs::read(lr.join("Catalog.lrcat")).unwrap(),
        b"damaged",
        "nothing written"
    );
    assert!(!lr.join("Backups/old.lrcat").exists(), "nothing written");
    w.ok(&[
        "archive",
        "restore",
        &id,
        "--section",
        "lightroom",
        "--force",
    ]);
    assert_eq!(tree(&lr), lr_before);
    assert!(
        walk(&lr)
            .iter()
            .all(|p| !p.to_string_lossy().contains("triplicate-restore"))
    );

    // The core files in place: asked for (refused without a terminal), then with
    // --yes, after the current config is archived.
    let edited = format!("{}\n# an edit\n", String::from_utf8_lossy(&config_before));
    std::fs::write(w.home().join("config.toml"), &edited).unwrap();
    let out = w.run(&["archive", "restore", &id, "--section", "core"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--yes"));
    let restored: Value = serde_json::from_str(&w.ok(&[
        "archive",
        "restore",
        &id,
        "--section",
        "core",
        "--yes",
        "--json",
    ]))
    .unwrap();
    assert_eq!(
        std::fs::read(w.home().join("config.toml")).unwrap(),
        config_before
    );
    let kept = restored["safety_archive"].as_str().unwrap();
    let kept_file = w.ok(&["archive", "info", kept, "--json"]);
    let kept_info: Value = serde_json::from_str(&kept_file).unwrap();
    let to = w.path("kept");
    w.ok(&["archive", "restore", kept, "--to", to.to_str().unwrap()]);
    assert_eq!(
        std::fs::read_to_string(to.join("core/config.toml")).unwrap(),
        edited
    );
    assert_eq!(kept_info["manifest"]["kind"], "config");
    // The catalog, replaced through SQLite, still reads.
    let status = w.status();
    assert!(status.is_object());
}

#[test]
fn an_images_archive_of_date_folders_round_trips_in_both_compressions() {
    let w = studio();
    let lib = w.library();
    for (folder, n) in [("20261120", 3), ("2026-11-21", 2), ("misc", 1)] {
        std::fs::create_dir_all(lib.join(folder)).unwrap();
        for i in 0..n {
            std::fs::write(
                lib.join(format!("{folder}/image-{i}.jpg")),
                common::kit::noise(&format!("{folder}{i}"), 40_000 + i * 1000),
            )
            .unwrap();
        }
    }
    std::fs::create_dir_all(lib.join("20261120/keogram")).unwrap();
    std::fs::write(lib.join("20261120/keogram/keogram.jpg"), "k".repeat(30_000)).unwrap();
    // Half the files known to the catalog, half not: both are archived.
    w.backed_up(&[]);
    std::fs::write(
        lib.join("2026-11-21/late.jpg"),
        common::kit::noise("late", 10_000),
    )
    .unwrap();
    let before = tree(&lib);

    let estimate: Value = serde_json::from_str(&w.ok(&[
        "archive",
        "create",
        "--kind",
        "images",
        "--estimate",
        "--json",
    ]))
    .unwrap();
    let names: Vec<&str> = estimate
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["library/2026-11-21", "library/20261120", "library/misc"]
    );
    let night = &estimate[1];
    assert_eq!(night["files"], 4);
    assert_eq!(night["raw"], 40_000 + 41_000 + 42_000 + 30_000);
    // Noise does not compress; the keogram's letters do.
    let c = night["compressed"].as_u64().unwrap();
    assert!(c > 120_000 && c < 153_000, "{c}");

    // One night, as .tar.gz.
    let (id, file, v) = created(&w.ok(&[
        "archive", "create", "--kind", "images", "--folder", "20261120", "--json",
    ]));
    assert!(file.to_string_lossy().ends_with(".tar.gz"));
    assert_eq!(
        v["manifest"]["folders"],
        serde_json::json!(["library/20261120"])
    );
    assert_eq!(v["manifest"]["files"].as_array().unwrap().len(), 4);
    assert!(w.run(&["archive", "verify", &id]).status.success());
    let out = w.run(&[
        "archive", "create", "--kind", "images", "--folder", "19990101",
    ]);
    assert_eq!(out.status.code(), Some(2));

    // Everything, as .tar.zst; `tar --zstd` reads it too.
    let (all, zst, _) =
        created(&w.ok(&["archive", "create", "--kind", "images", "--zstd", "--json"]));
    assert!(zst.to_string_lossy().ends_with(".tar.zst"));
    let listing = std::process::Command::new("tar")
        .args(["--zstd", "-tf"])
        .arg(&zst)
        .output()
        .unwrap();
    assert!(listing.status.success());
    assert_eq!(
        String::from_utf8_lossy(&listing.stdout).lines().next(),
        Some("triplicate-archive.json")
    );
    let other = common::World::new();
    other.init();
    other.ok(&["archive", "import", zst.to_str().unwrap()]);
    let to = other.path("restored");
    other.ok(&["archive", "restore", &all, "--to", to.to_str().unwrap()]);
    assert_eq!(tree(&to.join("images/library")), before);

    // In place: lost photos come back; the others are left as they are.
    std::fs::remove_dir_all(lib.join("20261120")).unwrap();
    std::fs::remove_file(lib.join("2026-11-21/late.jpg")).unwrap();
    let r: Value = serde_json::from_str(&w.ok(&["archive", "restore", &all, "--json"])).unwrap();
    assert_eq!(r["written"].as_array().unwrap().len(), 5);
    assert_eq!(r["unchanged"], 3);
    assert_eq!(tree(&lib), before);
    // One folder of it.
    std::fs::remove_dir_all(lib.join("misc")).unwrap();
    w.ok(&["archive", "restore", &all, "--folder", "misc"]);
    assert_eq!(tree(&lib), before);
}

#[test]
fn the_post_hook_runs_after_a_failure_and_after_sigterm() {
    let w = studio();
    let marks = w.path("marks");
    std::fs::create_dir_all(&marks).unwrap();
    let m = marks.display();
    configure(
        &w,
        &format!(
            "[archive]\npre = \"echo pre-output; test ! -e {m}/fail-pre && test ! -e {m}/slow-pre || {{ test -e {m}/slow-pre && sleep 30; exit 3; }}\"\npost = \"echo post-output; echo $TRIPLICATE_ARCHIVE_STATUS >> {m}/post\"\n"
        ),
    );
    // Both run around a good archive; their output is in its log, and the stages are
    // shown as they come.
    let out = w.run(&["archive", "create", "--kind", "config", "--json"]);
    assert!(out.status.success(), "{out:?}");
    let shown = String::from_utf8_lossy(&out.stderr);
    assert!(
        shown.contains("Stages: 1. Run the pre hook, 2. Collect the files")
            && shown.contains("[3/5] Hashing 3 files")
            && shown.contains("[5/5] Running the post hook"),
        "{shown}"
    );
    let (_, _, v) = created(&String::from_utf8_lossy(&out.stdout));
    assert_eq!(std::fs::read_to_string(marks.join("post")).unwrap(), "ok\n");
    let log = std::fs::read_to_string(v["log"].as_str().unwrap()).unwrap();
    assert!(
        log.contains("pre-output") && log.contains("post-output"),
        "{log}"
    );
    assert!(log.contains("stage 1/5"), "{log}");

    // The pre hook fails: no archive, and post still runs.
    std::fs::write(marks.join("fail-pre"), "").unwrap();
    let out = w.run(&["archive", "create", "--kind", "config"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("the pre hook"),
        "{out:?}"
    );
    assert_eq!(
        std::fs::read_to_string(marks.join("post")).unwrap(),
        "ok\nfailed\n"
    );
    std::fs::remove_file(marks.join("fail-pre")).unwrap();

    // SIGTERM while pre is running: it is stopped, post runs, nothing is kept.
    std::fs::write(marks.join("slow-pre"), "").unwrap();
    let child = w
        .cmd()
        .args(["archive", "create", "--kind", "config"])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let log_dir = w.home().join("archives");
    let started = std::time::Instant::now();
    // Wait until the pre hook is running (its output is in a new log).
    while !walk(&log_dir).iter().any(|p| {
        std::fs::read_to_string(p)
            .is_ok_and(|t| t.contains("pre hook") && !t.contains("ended") && !t.contains("failed"))
    }) {
        assert!(started.elapsed() < std::time::Duration::from_secs(20));
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    let pid = child.id() as i32;
    assert!(
        std::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .unwrap()
            .success()
    );
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success());
    assert!(
        started.elapsed() < std::time::Duration::from_secs(25),
        "the pre hook was stopped"
    );
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("stopped"),
        "{out:?}"
    );
    assert_eq!(
        std::fs::read_to_string(marks.join("post")).unwrap(),
        "ok\nfailed\ncancelled\n"
    );
    let list: Value = serde_json::from_str(&w.ok(&["archive", "list", "--json"])).unwrap();
    assert_eq!(list.as_array().unwrap().len(), 1, "only the first archive");
    assert!(
        !walk(&log_dir)
            .iter()
            .any(|p| p.to_string_lossy().contains("partial"))
    );
}

#[test]
fn prune_keeps_the_newest_the_pinned_and_one_of_each_kind() {
    let w = studio();
    // An images archive of an empty library is refused: there is nothing to keep.
    let out = w.run(&["archive", "create", "--kind", "images"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("nothing to archive"),
        "{out:?}"
    );
    w.card("2024-05-17", &common::kit::CardSpec::default());
    let mut ids = Vec::new();
    for _ in 0..3 {
        ids.push(created(&w.ok(&["archive", "create", "--kind", "config", "--json"])).0);
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    let (images, _, _) = created(&w.ok(&["archive", "create", "--kind", "images", "--json"]));
    std::thread::sleep(std::time::Duration::from_millis(1100));
    ids.push(created(&w.ok(&["archive", "create", "--kind", "config", "--json"])).0);
    w.ok(&["archive", "pin", &ids[0]]);
    // The logs of runs that never finished: an old one goes, a recent one (a run that
    // may be in progress) stays.
    let folder = w.home().join("archives");
    let old_log = folder.join("config-19990101T000000Z-deadbeef.log");
    let new_log = folder.join("images-29990101T000000Z-0000beef.log");
    std::fs::write(&old_log, "failed: the pre hook failed\n").unwrap();
    std::fs::write(&new_log, "stage 2/3\n").unwrap();
    let touched = std::process::Command::new("touch")
        .args(["-d", "3 days ago"])
        .arg(&old_log)
        .status()
        .unwrap();
    assert!(touched.success());
    let dry: Value = serde_json::from_str(&w.ok(&[
        "archive",
        "prune",
        "--keep-last",
        "1",
        "--dry-run",
        "--json",
    ]))
    .unwrap();
    let removed: Vec<&str> = dry["removed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    assert_eq!(removed, [ids[2].as_str(), ids[1].as_str()]);
    assert_eq!(dry["stale_logs"], serde_json::json!([old_log]));
    assert!(old_log.exists(), "a dry run deletes nothing");
    let list: Value = serde_json::from_str(&w.ok(&["archive", "list", "--json"])).unwrap();
    assert_eq!(
        list.as_array().unwrap().len(),
        5,
        "a dry run deletes nothing"
    );
    w.ok(&["archive", "prune", "--keep-last", "1"]);
    assert!(!old_log.exists() && new_log.exists());
    let list: Value = serde_json::from_str(&w.ok(&["archive", "list", "--json"])).unwrap();
    let mut left: Vec<&str> = list
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["id"].as_str().unwrap())
        .collect();
    left.sort();
    let mut expected = vec![ids[0].as_str(), ids[3].as_str(), images.as_str()];
    expected.sort();
    assert_eq!(left, expected);
    assert!(list.as_array().unwrap().iter().any(|a| a["pinned"] == true));
    w.ok(&["archive", "delete", &ids[0]]);
    let out = w.run(&["archive", "delete", &ids[0]]);
    assert_eq!(out.status.code(), Some(2));
}
