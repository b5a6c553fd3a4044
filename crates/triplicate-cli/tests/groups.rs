//! A shot's files travel together: two camera bodies writing the same names to one
//! date folder end with every group's members under one matching stem, through
//! `backup` and through `ingest`; and a file's kind and date are its own, never those
//! of another file holding the same bytes.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use common::{World, kit};

fn hash_of(path: &Path) -> String {
    blake3::hash(&std::fs::read(path).unwrap())
        .to_hex()
        .to_string()
}

/// Writes `files` (name, content) into `folder`, all modified the same day.
fn shoot(folder: &Path, files: &[(&str, &str)]) -> Vec<PathBuf> {
    std::fs::create_dir_all(folder).unwrap();
    files
        .iter()
        .map(|(name, content)| {
            let p = folder.join(name);
            std::fs::write(&p, content).unwrap();
            let when =
                std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_700_000_000);
            std::fs::File::options()
                .write(true)
                .open(&p)
                .unwrap()
                .set_modified(when)
                .unwrap();
            p
        })
        .collect()
}

/// The stem each stored content sits under: its name up to the first dot.
fn stems(stored: &BTreeMap<PathBuf, String>) -> BTreeMap<String, String> {
    stored
        .iter()
        .map(|(key, hash)| {
            let name = key.file_name().unwrap().to_string_lossy().into_owned();
            let stem = name.split('.').next().unwrap().to_string();
            (hash.clone(), stem)
        })
        .collect()
}

/// Every group's members sit under one stem, no two groups share one, and a renamed
/// group carries its primary member's hash: `IMG_0001~<hash8>`.
fn assert_groups_travel_together(
    groups: &[(&str, Vec<PathBuf>)],
    stored: &BTreeMap<PathBuf, String>,
) {
    let stems = stems(stored);
    let mut taken = BTreeSet::new();
    for (what, members) in groups {
        let under: BTreeSet<&String> = members
            .iter()
            .map(|m| {
                stems
                    .get(&hash_of(m))
                    .unwrap_or_else(|| panic!("{} was not stored: {stored:?}", m.display()))
            })
            .collect();
        assert_eq!(under.len(), 1, "{what} is split: {under:?} in {stored:?}");
        let stem = under.into_iter().next().unwrap();
        assert!(
            taken.insert(stem.clone()),
            "{what} shares {stem}: {stored:?}"
        );
        if stem != "IMG_0001" {
            let primary = hash_of(&members[0]);
            assert_eq!(
                *stem,
                format!("IMG_0001~{}", &primary[..8]),
                "{what}: the suffix is its primary member's"
            );
        }
    }
}

#[test]
fn two_bodies_with_the_same_names_keep_each_group_whole_in_backup() {
    let w = World::new();
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    // The first body shoots JPEG only; the second RAW+JPEG with a darktable sidecar;
    // the third RAW+JPEG with a plain sidecar. Primary member first.
    let lib = w.library();
    let groups = [
        (
            "body A",
            shoot(&lib.join("A"), &[("IMG_0001.JPG", "a jpeg")]),
        ),
        (
            "body B",
            shoot(
                &lib.join("B"),
                &[
                    ("IMG_0001.CR2", "b raw"),
                    ("IMG_0001.JPG", "b jpeg"),
                    ("IMG_0001.CR2.xmp", "b xmp"),
                ],
            ),
        ),
        (
            "body C",
            shoot(
                &lib.join("C"),
                &[
                    ("IMG_0001.CR2", "c raw"),
                    ("IMG_0001.JPG", "c jpeg"),
                    ("IMG_0001.xmp", "c xmp"),
                ],
            ),
        ),
    ];
    w.backed_up(&[]);
    let stored = common::stored(&w.path("usb"));
    assert_eq!(stored.len(), 7, "{stored:?}");
    assert_groups_travel_together(&groups, &stored);
    assert_eq!(
        stored
            .keys()
            .filter_map(|k| k.parent())
            .collect::<BTreeSet<_>>()
            .len(),
        1,
        "one date folder: {stored:?}"
    );

    // A sidecar written later follows its group's name there.
    let mut groups = groups;
    for (_, members) in groups.iter_mut().skip(1) {
        let raw = &members[0];
        let later = raw.with_file_name("IMG_0001.CR2.pp3");
        std::fs::write(&later, format!("edits of {}", raw.display())).unwrap();
        members.push(later);
    }
    w.backed_up(&[]);
    let stored = common::stored(&w.path("usb"));
    assert_eq!(stored.len(), 9, "{stored:?}");
    assert_groups_travel_together(&groups, &stored);
}

#[test]
fn two_cards_with_the_same_names_keep_each_group_whole_in_ingest() {
    let w = World::new();
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    let mut groups = Vec::new();
    for (card, body) in [("CARD_A", "a"), ("CARD_B", "b"), ("CARD_C", "c")] {
        let folder = w.path(card).join("DCIM/100CANON");
        let files = if body == "a" {
            shoot(&folder, &[("IMG_0001.JPG", "a jpeg")])
        } else {
            shoot(
                &folder,
                &[
                    ("IMG_0001.CR2", &format!("{body} raw")),
                    ("IMG_0001.JPG", &format!("{body} jpeg")),
                    ("IMG_0001.CR2.xmp", &format!("{body} xmp")),
                ],
            )
        };
        let out = w.run(&["ingest", w.path(card).to_str().unwrap()]);
        assert!(
            out.status.code().is_some(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        groups.push((body, files));
    }
    let groups: Vec<(&str, Vec<PathBuf>)> = groups;
    let library = kit::tree_hashes(&w.library()).unwrap();
    assert_eq!(library.len(), 7, "{library:?}");
    assert_groups_travel_together(&groups, &library);
    let stored = common::stored(&w.path("usb"));
    assert_groups_travel_together(&groups, &stored);

    // Putting the second card back finds its group where it went, and copies nothing.
    let out = w.run(&["ingest", w.path("CARD_B").to_str().unwrap(), "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["copied"], 0, "{report}");
    assert_eq!(kit::tree_hashes(&w.library()).unwrap(), library);
}

/// Sets `path`'s modification time to noon UTC on `day` (YYYY-MM-DD).
fn touch(path: &Path, day: &str) {
    let when = chrono::NaiveDate::parse_from_str(day, "%Y-%m-%d")
        .unwrap()
        .and_hms_opt(12, 0, 0)
        .unwrap()
        .and_utc();
    std::fs::File::options()
        .write(true)
        .open(path)
        .unwrap()
        .set_modified(when.into())
        .unwrap();
}

/// The files a restore of one day brings back.
fn restored_on(w: &World, day: &str) -> BTreeSet<String> {
    let to = w.path(&format!("restored-{day}"));
    let out = w.run(&[
        "restore",
        "--to",
        to.to_str().unwrap(),
        "--from",
        day,
        "--until",
        day,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = kit::files_under(&to);
    kit::tree_hashes(&to)
        .unwrap_or_default()
        .into_keys()
        .map(|p| p.to_string_lossy().into_owned())
        .collect()
}

#[test]
fn each_name_keeps_its_own_date_though_another_file_holds_the_same_bytes() {
    for through in ["backup", "ingest"] {
        let w = World::new();
        w.init();
        w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
        let root = match through {
            "backup" => w.library(),
            _ => w.path("CARD/DCIM/100TEST"),
        };
        // Three empty files of three kinds and dates, a photo, its empty sidecar, and
        // the photo copied under another name.
        let files = [
            ("a/notes.jpg", Vec::new(), "2001-01-01"),
            ("c/clip.mov", Vec::new(), "2010-05-05"),
            (
                "b/IMG_0005.JPG",
                kit::jpeg("2019:06:15 18:30:00", b"five"),
                "2001-01-01",
            ),
            ("b/IMG_0005.xmp", Vec::new(), "2001-01-01"),
            (
                "Selects/best.jpg",
                kit::jpeg("2019:06:15 18:30:00", b"five"),
                "2012-12-12",
            ),
        ];
        for (rel, bytes, day) in &files {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(&p, bytes).unwrap();
            touch(&p, day);
        }
        if through == "backup" {
            w.backed_up(&[]);
        } else {
            let out = w.run(&["ingest", w.path("CARD").to_str().unwrap()]);
            assert!(out.status.code().is_some(), "{out:?}");
            w.backed_up(&[]);
        }
        let names = |day| -> BTreeSet<String> {
            restored_on(&w, day)
                .into_iter()
                .map(|p| p.rsplit('/').next().unwrap().to_string())
                .collect()
        };
        let set = |names: &[&str]| names.iter().map(|n| n.to_string()).collect();
        assert_eq!(
            names("2019-06-15"),
            set(&["IMG_0005.JPG", "IMG_0005.xmp", "best.jpg"]),
            "{through}"
        );
        assert_eq!(names("2010-05-05"), set(&["clip.mov"]), "{through}");
        assert_eq!(names("2001-01-01"), set(&["notes.jpg"]), "{through}");
    }
}

#[test]
fn two_groups_of_one_card_with_the_same_names_are_each_kept_whole() {
    let w = World::new();
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    // The file counter rolled over: 100CANON and 101CANON both hold IMG_0001.
    let card = w.path("CARD");
    let first = shoot(
        &card.join("DCIM/100CANON"),
        &[
            ("IMG_0001.CR2", "first raw"),
            ("IMG_0001.JPG", "first jpeg"),
        ],
    );
    let second = shoot(
        &card.join("DCIM/101CANON"),
        &[
            ("IMG_0001.CR2", "second raw"),
            ("IMG_0001.JPG", "second jpeg"),
        ],
    );
    let out = w.run(&["ingest", card.to_str().unwrap()]);
    assert!(out.status.code().is_some(), "{out:?}");
    let groups = [("100CANON", first), ("101CANON", second)];
    let library = kit::tree_hashes(&w.library()).unwrap();
    assert_eq!(library.len(), 4, "{library:?}");
    assert_groups_travel_together(&groups, &library);
    assert_groups_travel_together(&groups, &common::stored(&w.path("usb")));
}
