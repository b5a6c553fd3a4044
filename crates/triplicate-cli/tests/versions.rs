//! Versions, snapshots and protection, through the real binary: an edited original
//! keeps its earlier version at every destination, bit rot is held back, the
//! mass-change guard stops ransomware at the library, and `restore --as-of` brings any
//! snapshot back byte-exact.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use common::{World, kit, studio};
use serde_json::Value;

const DIR: &str = "card1/DCIM/100CANON";

/// BLAKE3 of every file under `root/.triplicate/versions`, by path below it.
fn versions(root: &Path) -> BTreeMap<PathBuf, String> {
    let dir = root.join(".triplicate/versions");
    kit::files_under(&dir)
        .into_iter()
        .map(|p| {
            let hash = blake3::hash(&fs::read(&p).unwrap()).to_hex().to_string();
            (p.strip_prefix(&dir).unwrap().to_path_buf(), hash)
        })
        .collect()
}

fn hash_of(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

fn mtime(path: &Path) -> SystemTime {
    fs::metadata(path).unwrap().modified().unwrap()
}

fn set_mtime(path: &Path, t: SystemTime) {
    fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(t)
        .unwrap();
}

/// Where `hash` is stored at a destination's main tree.
fn key_of(root: &Path, hash: &str) -> PathBuf {
    common::stored(root)
        .into_iter()
        .find(|(_, h)| h == hash)
        .map(|(k, _)| k)
        .unwrap_or_else(|| panic!("{hash} is not at {}", root.display()))
}

fn warnings_of_kind(w: &World, kind: &str) -> Vec<Value> {
    w.status()["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|x| x["kind"] == kind)
        .cloned()
        .collect()
}

/// Encrypts a file in place, the way ransomware does: a keystream over every byte.
fn encrypt_in_place(path: &Path) {
    let plain = fs::read(path).unwrap();
    let mut stream = vec![0u8; plain.len()];
    blake3::Hasher::new_derive_key("ransom")
        .update(path.as_os_str().as_encoded_bytes())
        .finalize_xof()
        .fill(&mut stream);
    let cipher: Vec<u8> = plain.iter().zip(&stream).map(|(a, b)| a ^ b).collect();
    fs::write(path, cipher).unwrap();
}

fn snapshot_ids(w: &World) -> Vec<i64> {
    let list: Value = serde_json::from_str(&w.ok(&["snapshots", "list", "--json"])).unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|s| s["id"].as_i64().unwrap())
        .collect()
}

#[test]
fn an_edited_photo_keeps_its_earlier_version_at_every_destination() {
    let w = studio();
    w.card("card1", &kit::CardSpec::default());
    w.backed_up(&[]);
    let jpg = w.library().join(DIR).join("IMG_0001.JPG");
    let xmp = w.library().join(DIR).join("IMG_0001.xmp");
    let (old_jpg, old_xmp) = (fs::read(&jpg).unwrap(), fs::read(&xmp).unwrap());
    let keys: Vec<(PathBuf, PathBuf)> = ["usb", "nas"]
        .iter()
        .map(|d| {
            (
                key_of(&w.path(d), &hash_of(&old_jpg)),
                key_of(&w.path(d), &hash_of(&old_xmp)),
            )
        })
        .collect();

    let new_jpg = kit::jpeg("2024:05:17 10:00:00", &kit::noise("edited", 20_000));
    let new_xmp = kit::xmp("IMG_0001.CR2", 5, "edited");
    let later = mtime(&jpg) + Duration::from_secs(60);
    fs::write(&jpg, &new_jpg).unwrap();
    set_mtime(&jpg, later);
    fs::write(&xmp, &new_xmp).unwrap();
    set_mtime(&xmp, later);
    w.backed_up(&[]);

    for ((name, (jpg_key, xmp_key)), d) in ["usb", "nas"].iter().zip(&keys).zip(["usb", "nas"]) {
        let root = w.path(d);
        let main = common::stored(&root);
        assert_eq!(
            main[jpg_key],
            hash_of(&new_jpg),
            "{name}: the new version takes the name"
        );
        assert_eq!(main[xmp_key], hash_of(&new_xmp));
        let kept = versions(&root);
        assert_eq!(kept.len(), 2, "{name}: {kept:?}");
        let (jpg_version, jpg_hash) = kept
            .iter()
            .find(|(p, _)| p.starts_with(jpg_key))
            .expect("the earlier JPEG under .triplicate/versions/<its key>/");
        assert_eq!(
            jpg_hash,
            &hash_of(&old_jpg),
            "{name}: the earlier bytes, whole"
        );
        let file = jpg_version.file_name().unwrap().to_str().unwrap();
        assert!(
            file.contains(&format!("~{}", &hash_of(&old_jpg)[..8])) && file.ends_with(".JPG"),
            "{file}: <time>~<hash8>.<ext>"
        );
        assert!(kept.values().any(|h| h == &hash_of(&old_xmp)));
    }
    // A changed JPEG is reported; an edited sidecar is not.
    let changed = warnings_of_kind(&w, "original changed");
    assert_eq!(changed.len(), 1, "{changed:?}");
    assert!(
        changed[0]["subject"]
            .as_str()
            .unwrap()
            .ends_with("IMG_0001.JPG")
    );
    // Both copies verify where they now are.
    let (code, report) = w.json("verify", &[]);
    assert_eq!(code, 0, "{report}");
    // A rerun moves nothing again.
    let before = versions(&w.path("usb"));
    w.backed_up(&[]);
    assert_eq!(versions(&w.path("usb")), before);
}

#[test]
fn bit_rot_is_found_held_back_and_the_good_backup_stays_current() {
    let w = studio();
    w.card("card1", &kit::CardSpec::default());
    w.backed_up(&[]);
    let usb_before = common::stored(&w.path("usb"));

    // A flipped byte, in place: same size, same inode, same modification time.
    let raw = w.library().join(DIR).join("IMG_0002.CR2");
    let good = fs::read(&raw).unwrap();
    let when = mtime(&raw);
    let mut f = fs::File::options().write(true).open(&raw).unwrap();
    f.seek(SeekFrom::Start(good.len() as u64 / 2)).unwrap();
    f.write_all(&[good[good.len() / 2] ^ 0x10]).unwrap();
    drop(f);
    set_mtime(&raw, when);

    let (code, report) = w.json("verify", &[]);
    assert_eq!(code, 1, "{report}");
    assert_eq!(report["library"]["bit_rot"], 1, "{report}");
    let rot = warnings_of_kind(&w, "possible bit rot");
    assert_eq!(rot.len(), 1, "{rot:?}");
    assert!(
        rot[0]["subject"]
            .as_str()
            .unwrap()
            .ends_with("IMG_0002.CR2")
    );
    assert_eq!(w.status()["protection"]["bit_rot"], 1);

    // The damage goes nowhere, and the good version is what restore brings back.
    w.backed_up(&[]);
    assert_eq!(common::stored(&w.path("usb")), usb_before);
    assert!(versions(&w.path("usb")).is_empty());
    let to = w.path("back");
    let (code, report) = w.json(
        "restore",
        &["--to", to.to_str().unwrap(), &format!("{DIR}/IMG_0002.CR2")],
    );
    assert_eq!(code, 0, "{report}");
    assert_eq!(fs::read(to.join(DIR).join("IMG_0002.CR2")).unwrap(), good);

    // Rot that a scan sees (the file rewritten, its date kept) is held back too.
    let other = w.library().join(DIR).join("IMG_0003.CR2");
    let mut bytes = fs::read(&other).unwrap();
    let when = mtime(&other);
    bytes[100] ^= 1;
    let tmp = w.library().join(DIR).join("tmp");
    fs::write(&tmp, &bytes).unwrap();
    fs::rename(&tmp, &other).unwrap();
    set_mtime(&other, when);
    let (code, report) = w.backup(&[]);
    assert_eq!(code, 1, "the scan reports it: {report}");
    assert_eq!(common::stored(&w.path("usb")), usb_before);
    assert_eq!(warnings_of_kind(&w, "possible bit rot").len(), 2);

    // Putting the good file back clears the warning.
    fs::write(&raw, &good).unwrap();
    w.backed_up(&[]);
    assert_eq!(warnings_of_kind(&w, "possible bit rot").len(), 1);

    // A change that was meant is let through by name, as a new version.
    let listed: Value =
        serde_json::from_str(&w.ok(&["accept-changes", "--list", "--json"])).unwrap();
    assert_eq!(listed.as_array().unwrap().len(), 1, "{listed}");
    let out = w.run(&["accept-changes", "nowhere.CR2"]);
    assert_eq!(out.status.code(), Some(2), "an unknown name is refused");
    w.ok(&["accept-changes", &format!("{DIR}/IMG_0003.CR2")]);
    w.backed_up(&[]);
    let main = common::stored(&w.path("usb"));
    assert!(main.values().any(|h| h == &hash_of(&bytes)));
    assert_eq!(versions(&w.path("usb")).len(), 1);
    assert_eq!(w.status()["protection"]["held"], 0);
}

#[test]
fn ransomware_trips_the_guard_and_as_of_brings_the_originals_back() {
    let w = studio();
    let shots = w.library().join("shots");
    kit::write_flat_library(&shots, 200, "night").unwrap();
    w.backed_up(&[]);
    let original = kit::tree_hashes(&w.library()).unwrap();
    let usb_before = common::stored(&w.path("usb"));
    let first = *snapshot_ids(&w).last().unwrap();

    // 30% of the library encrypted in place, and the camera still shooting.
    let files: Vec<PathBuf> = {
        let mut f = kit::files_under(&shots);
        f.sort();
        f
    };
    for f in files
        .iter()
        .step_by(10)
        .chain(files.iter().skip(1).step_by(10))
        .chain(files.iter().skip(2).step_by(10))
    {
        encrypt_in_place(f);
    }
    fs::create_dir_all(w.library().join("new")).unwrap();
    let fresh = kit::jpeg("2024:06:01 10:00:00", &kit::noise("fresh", 5_000));
    fs::write(w.library().join("new/IMG_9999.JPG"), &fresh).unwrap();

    let (code, report) = w.backup(&[]);
    assert_eq!(code, 1, "the alarm fails the run: {report}");
    let status = w.status();
    let guard = &status["protection"]["guard"];
    assert_eq!(guard["changed"], 60, "{status}");
    assert_eq!(guard["looks_encrypted"], 60);
    assert!(
        status["protection"]["alarm"]
            .as_str()
            .unwrap()
            .contains("ransomware")
    );
    assert_eq!(warnings_of_kind(&w, "mass change").len(), 1);
    assert!(w.ok(&["status"]).contains("ALARM: mass change"));

    // Nothing at the destinations was overwritten or moved; the new photo got there.
    let usb_after = common::stored(&w.path("usb"));
    for (key, hash) in &usb_before {
        assert_eq!(usb_after.get(key), Some(hash), "{}", key.display());
    }
    assert!(versions(&w.path("usb")).is_empty());
    assert!(usb_after.values().any(|h| h == &hash_of(&fresh)));
    // Another pass while the guard is tripped changes nothing either.
    // Held changes are not new failures; the changed photos are at risk.
    w.backed_up(&[]);
    assert_eq!(common::stored(&w.path("usb")), usb_after);

    // The library as it was before the attack, byte-exact.
    let to = w.path("recovered");
    let (code, report) = w.json(
        "restore",
        &["--to", to.to_str().unwrap(), "--as-of", &first.to_string()],
    );
    assert_eq!(code, 0, "{report}");
    assert_eq!(kit::tree_hashes(&to).unwrap(), original);

    let held: Value = serde_json::from_str(&w.ok(&["accept-changes", "--list", "--json"])).unwrap();
    assert_eq!(held.as_array().unwrap().len(), 60);
    // A person decides the changes were wanted after all: they become versions.
    let out = w.ok(&["accept-changes"]);
    assert!(out.contains("guard is reset"), "{out}");
    assert!(w.status()["protection"]["guard"].is_null());
    w.backed_up(&[]);
    assert_eq!(versions(&w.path("usb")).len(), 60);
}

#[test]
fn a_first_import_of_10000_photos_does_not_trip_the_guard() {
    let w = World::new();
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    kit::write_flat_library(&w.library().join("allsky"), 10_000, "first").unwrap();
    w.backed_up(&[]);
    let status = w.status();
    assert!(status["protection"]["guard"].is_null(), "{status}");
    assert_eq!(status["protection"]["held"], 0);
}

#[test]
fn three_snapshots_each_restore_to_exactly_their_tree() {
    let w = World::new();
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    w.card("card1", &kit::CardSpec::default());
    let dir = w.library().join(DIR);
    let mut trees = Vec::new();
    w.backed_up(&[]);
    trees.push(kit::tree_hashes(&w.library()).unwrap());

    // An edit, a deletion, a new photo.
    fs::write(
        dir.join("IMG_0001.JPG"),
        kit::jpeg("2024:05:17 10:00:00", &kit::noise("second", 9_000)),
    )
    .unwrap();
    fs::remove_file(dir.join("IMG_0003.CR2")).unwrap();
    fs::write(
        dir.join("IMG_0100.JPG"),
        kit::jpeg("2024:05:17 11:00:00", &kit::noise("new", 7_000)),
    )
    .unwrap();
    w.backed_up(&[]);
    trees.push(kit::tree_hashes(&w.library()).unwrap());

    // Another edit of the same photo, and a rename.
    fs::write(
        dir.join("IMG_0001.JPG"),
        kit::jpeg("2024:05:17 10:00:00", &kit::noise("third", 9_500)),
    )
    .unwrap();
    fs::rename(dir.join("IMG_0004.JPG"), dir.join("IMG_0004-keep.JPG")).unwrap();
    w.backed_up(&[]);
    trees.push(kit::tree_hashes(&w.library()).unwrap());

    let ids = snapshot_ids(&w);
    assert_eq!(ids.len(), 3, "one snapshot per run that changed something");
    w.backed_up(&[]);
    assert_eq!(snapshot_ids(&w).len(), 3, "an idle run records none");
    let distinct: BTreeSet<_> = trees.iter().collect();
    assert_eq!(distinct.len(), 3);
    for (i, (id, tree)) in ids.iter().zip(&trees).enumerate() {
        let to = w.path(&format!("as-of-{i}"));
        let (code, report) = w.json(
            "restore",
            &["--to", to.to_str().unwrap(), "--as-of", &id.to_string()],
        );
        assert_eq!(code, 0, "{report}");
        assert_eq!(&kit::tree_hashes(&to).unwrap(), tree, "snapshot {id}");
    }
    let text = w.ok(&["snapshots", "list"]);
    assert!(text.contains("restore --as-of"), "{text}");
    let out = w.run(&["restore", "--to", "x", "--as-of", "yesterday-ish"]);
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn prune_removes_only_what_the_policy_lets_go_and_never_a_current_photo() {
    let w = World::new();
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    w.card("card1", &kit::CardSpec::default());
    w.backed_up(&[]);
    // Three edits of one photo today, then a photo deleted.
    let jpg = w.library().join(DIR).join("IMG_0001.JPG");
    for i in 0..3u64 {
        let later = mtime(&jpg) + Duration::from_secs(60);
        fs::write(
            &jpg,
            kit::jpeg(
                "2024:05:17 10:00:00",
                &kit::noise(&format!("edit-{i}"), 9_000),
            ),
        )
        .unwrap();
        set_mtime(&jpg, later);
        w.backed_up(&[]);
    }
    let deleted = fs::read(w.library().join(DIR).join("IMG_0002.JPG")).unwrap();
    fs::remove_file(w.library().join(DIR).join("IMG_0002.JPG")).unwrap();
    w.backed_up(&[]);
    assert_eq!(versions(&w.path("usb")).len(), 3);

    assert_eq!(
        w.run(&["prune"]).status.code(),
        Some(2),
        "no policy, no prune"
    );
    // Today is filled by the current content: the three earlier versions would go;
    // the deleted photo's last version is its own day's, and stays.
    let (code, dry) = w.json("prune", &["--keep-daily", "1"]);
    assert_eq!(code, 0, "{dry}");
    assert_eq!(dry["dry_run"], true);
    assert_eq!(dry["removed"].as_array().unwrap().len(), 3, "{dry}");
    assert_eq!(
        versions(&w.path("usb")).len(),
        3,
        "a dry run removes nothing"
    );
    let (_, within) = w.json("prune", &["--keep-within", "1h"]);
    assert_eq!(within["removed"].as_array().unwrap().len(), 0, "{within}");

    let (code, done) = w.json("prune", &["--keep-daily", "1", "--apply"]);
    assert_eq!(code, 0, "{done}");
    assert_eq!(done["removed"].as_array().unwrap().len(), 3);
    assert!(versions(&w.path("usb")).is_empty());
    let at_usb: BTreeSet<String> = common::stored(&w.path("usb")).into_values().collect();
    for (path, hash) in kit::tree_hashes(&w.library()).unwrap() {
        assert!(
            at_usb.contains(&hash),
            "{} is current and stays",
            path.display()
        );
    }
    assert!(
        at_usb.contains(&hash_of(&deleted)),
        "the deleted photo stays"
    );
    let log = w.ok(&["log", "--json", "--limit", "500"]);
    assert_eq!(
        log.matches("\"prune\"").count(),
        3,
        "every removal is logged"
    );
    let (code, report) = w.json("verify", &[]);
    assert_eq!(code, 0, "nothing the catalog counts on is gone: {report}");
    assert_eq!(w.status()["deleted"]["kept"], 1);
    // Pruning again finds nothing more.
    let (_, again) = w.json("prune", &["--keep-daily", "1", "--apply"]);
    assert_eq!(again["removed"].as_array().unwrap().len(), 0);
    // A catalog rebuilt from the destination does not count the removed copies again.
    fs::remove_file(w.home().join("catalog.db")).unwrap();
    w.ok(&["catalog", "rebuild"]);
    let (code, report) = w.json("verify", &["--dest", "usb"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(common::dest(&report, "usb")["missing"], 0, "{report}");
}

#[test]
fn the_guard_counts_losses_across_small_scans_and_deletions_but_not_renames() {
    let w = studio();
    let shots = w.library().join("shots");
    kit::write_flat_library(&shots, 200, "night").unwrap();
    w.backed_up(&[]);
    let mut files = kit::files_under(&shots);
    files.sort();

    // Reorganising the library moves content, it does not lose it.
    fs::rename(&shots, w.library().join("sorted")).unwrap();
    w.backed_up(&[]);
    assert!(w.status()["protection"]["guard"].is_null());
    fs::rename(w.library().join("sorted"), &shots).unwrap();
    w.backed_up(&[]);

    // An attack in small steps: 5 files per run. Each run alone is under the
    // threshold; together they are not.
    let mut tripped_after = None;
    for (round, chunk) in files.chunks(5).take(12).enumerate() {
        for f in chunk {
            encrypt_in_place(f);
        }
        w.backup(&[]);
        if !w.status()["protection"]["guard"].is_null() {
            tripped_after = Some(round + 1);
            break;
        }
    }
    let rounds = tripped_after.expect("the guard tripped");
    assert_eq!(rounds, 10, "at the 50th lost photo");
    let guard = &w.status()["protection"]["guard"];
    assert_eq!(guard["earlier"], 45, "{guard}");
    w.ok(&["accept-changes"]);

    // Deleting a third of the shoot trips it too; what came before was accepted.
    for f in files.iter().skip(100).take(70) {
        fs::remove_file(f).unwrap();
    }
    assert_eq!(w.backup(&[]).0, 1);
    let guard = &w.status()["protection"]["guard"];
    assert_eq!(
        (guard["vanished"].as_u64(), guard["earlier"].as_u64()),
        (Some(70), Some(0)),
        "{guard}"
    );
}

#[test]
fn an_append_only_node_refuses_to_prune() {
    let w = World::new();
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    let config = w.home().join("config.toml");
    let text = fs::read_to_string(&config).unwrap();
    fs::write(&config, format!("{text}\n[grid]\nappend_only = true\n")).unwrap();
    w.card("card1", &kit::CardSpec::default());
    w.backed_up(&[]);
    let out = w.run(&["prune", "--keep-daily", "1", "--apply"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("append-only"));
    w.ok(&["archive", "create", "--kind", "config"]);
    let out = w.run(&["archive", "prune", "--keep-last", "0"]);
    assert_eq!(out.status.code(), Some(2), "nor are archives deleted");
    let status = w.status();
    assert_eq!(status["protection"]["append_only"], true);
    assert_eq!(common::dest(&status, "usb")["immutable"], false);
}

#[test]
fn content_still_in_the_library_under_another_name_is_not_moved_aside() {
    let w = World::new();
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    let a = w.library().join("IMG_0001.JPG");
    let old = kit::jpeg("2024:05:17 10:00:00", &kit::noise("a", 5_000));
    fs::write(&a, &old).unwrap();
    w.backed_up(&[]);
    // A copy keeps the old content in the library; then the original is edited.
    fs::write(w.library().join("IMG_0001-copy.JPG"), &old).unwrap();
    let new = kit::jpeg("2024:05:17 10:00:00", &kit::noise("a-edited", 5_000));
    let later = mtime(&a) + Duration::from_secs(60);
    fs::write(&a, &new).unwrap();
    set_mtime(&a, later);
    w.backed_up(&[]);
    assert!(
        versions(&w.path("usb")).is_empty(),
        "the old content is current"
    );
    let at_usb: BTreeSet<String> = common::stored(&w.path("usb")).into_values().collect();
    assert!(at_usb.contains(&hash_of(&old)) && at_usb.contains(&hash_of(&new)));
}

#[test]
fn a_rebuilt_catalog_knows_where_each_version_went() {
    let w = World::new();
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    w.card("card1", &kit::CardSpec::default());
    w.backed_up(&[]);
    let jpg = w.library().join(DIR).join("IMG_0001.JPG");
    let later = mtime(&jpg) + Duration::from_secs(60);
    let new = kit::jpeg("2024:05:17 10:00:00", &kit::noise("rebuilt", 9_000));
    fs::write(&jpg, &new).unwrap();
    set_mtime(&jpg, later);
    w.backed_up(&[]);
    assert_eq!(versions(&w.path("usb")).len(), 1);

    // The catalog is lost; the destination's manifests say where everything is now,
    // the earlier version included, so every copy checks out where it is.
    fs::remove_file(w.home().join("catalog.db")).unwrap();
    w.ok(&["catalog", "rebuild"]);
    let (code, report) = w.json("verify", &["--dest", "usb"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(common::dest(&report, "usb")["corrupt"], 0, "{report}");
}

#[test]
fn prune_removes_every_name_of_a_photo_it_lets_go() {
    let w = World::new();
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    let photo = kit::noise("twice", 5_000);
    for rel in ["shoot/IMG_0001.JPG", "Selects/best.JPG"] {
        let p = w.library().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, &photo).unwrap();
    }
    w.backed_up(&[]);
    let held = |w: &World| {
        common::stored(&w.path("usb"))
            .into_values()
            .filter(|h| *h == hash_of(&photo))
            .count()
    };
    assert_eq!(held(&w), 2, "two names, two files");
    fs::remove_dir_all(w.library().join("shoot")).unwrap();
    fs::remove_dir_all(w.library().join("Selects")).unwrap();
    w.backed_up(&[]);
    std::thread::sleep(Duration::from_secs(2));
    let (code, done) = w.json("prune", &["--keep-within", "1s", "--apply"]);
    assert_eq!(code, 0, "{done}");
    assert_eq!(done["removed"].as_array().unwrap().len(), 1, "{done}");
    assert_eq!(held(&w), 0, "no name is left pointing at the pruned photo");
    // A catalog rebuilt from the destination counts neither.
    fs::remove_file(w.home().join("catalog.db")).unwrap();
    w.ok(&["catalog", "rebuild"]);
    let (code, report) = w.json("verify", &["--dest", "usb"]);
    assert_eq!(code, 0, "{report}");
    assert_eq!(common::dest(&report, "usb")["missing"], 0, "{report}");
}

#[test]
fn an_edited_name_of_a_duplicate_moves_its_own_file_aside() {
    let w = World::new();
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    let photo = kit::noise("twice", 5_000);
    for rel in ["shoot/IMG_0001.JPG", "Selects/best.JPG"] {
        let p = w.library().join(rel);
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(&p, &photo).unwrap();
    }
    w.backed_up(&[]);
    let edited = kit::noise("edited", 5_000);
    fs::write(w.library().join("Selects/best.JPG"), &edited).unwrap();
    w.backed_up(&[]);
    let stored = common::stored(&w.path("usb"));
    let named = |name: &str| {
        stored
            .iter()
            .find(|(k, _)| k.file_name().unwrap() == name)
            .map(|(_, h)| h.clone())
    };
    assert_eq!(named("best.JPG"), Some(hash_of(&edited)), "{stored:?}");
    assert_eq!(named("IMG_0001.JPG"), Some(hash_of(&photo)), "{stored:?}");
    let kept = versions(&w.path("usb"));
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(kept.values().next(), Some(&hash_of(&photo)));
    assert!(
        !stored.keys().any(|k| k.to_string_lossy().contains('~')),
        "no ~hash twin: {stored:?}"
    );
}
