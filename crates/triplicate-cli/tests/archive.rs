//! Archives through the real binary: a config archive created while the home is in
//! use, listed, described, verified, and a damaged one refused.

mod common;

use common::studio;
use serde_json::Value;

#[test]
fn a_config_archive_is_created_listed_described_and_verified() {
    let w = studio();
    w.card("2024-05-17", &common::kit::CardSpec::default());
    assert_eq!(w.backup(&[]).0, 0);
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
    assert_eq!(info["kind"], "config");
    assert_eq!(info["files"].as_array().unwrap().len(), 3);
    let verified: Value =
        serde_json::from_str(&w.ok(&["archive", "verify", &id, "--json"])).unwrap();
    assert_eq!(verified["problems"].as_array().unwrap().len(), 0);

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
