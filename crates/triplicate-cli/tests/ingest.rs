//! Card ingest through the real binary, with the card and the two backup disks on
//! filesystems of their own (tmpfs, as root), so that "another device" is real: one
//! read to the library and both disks, every copy verified, SAFE TO FORMAT only when it
//! is true, re-ingest copying nothing, clashing names from two bodies kept apart, and a
//! disk that fills up.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{Mount, World, kit};

/// A home whose library is on the machine's disk, with two backup disks ("d1" at home,
/// "d2" offsite), each on its own tmpfs of `size`; and a card on a tmpfs of its own.
struct Studio {
    w: World,
    card: Mount,
    _disks: Vec<Mount>,
}

fn studio(size: &str) -> Studio {
    let w = World::new();
    w.init();
    let card = Mount::tmpfs(&w.path("card"), "64m");
    let mut disks = Vec::new();
    for (name, site) in [("d1", "onsite"), ("d2", "vault")] {
        disks.push(Mount::tmpfs(&w.path(name), size));
        w.ok(&[
            "dest",
            "add",
            name,
            w.path(name).to_str().unwrap(),
            "--media",
            "hdd",
            "--site",
            site,
        ]);
    }
    Studio {
        w,
        card,
        _disks: disks,
    }
}

/// A Canon-style DCF card with RAW+JPEG pairs and XMP sidecars, plus a Sony clip with
/// its XML and a thumbnail that is not a photo.
fn write_card(root: &Path, seed: &str) -> usize {
    let spec = kit::CardSpec {
        seed: seed.into(),
        ..Default::default()
    };
    let files = kit::write_card(root, &spec).unwrap().len();
    let clip = root.join("PRIVATE/M4ROOT/CLIP");
    std::fs::create_dir_all(&clip).unwrap();
    std::fs::write(
        clip.join("C0001.MP4"),
        kit::noise(&format!("{seed}-clip"), 300_000),
    )
    .unwrap();
    std::fs::write(
        clip.join("C0001M01.XML"),
        format!("<NonRealTimeMeta seed=\"{seed}\"/>"),
    )
    .unwrap();
    let thumbs = root.join("PRIVATE/M4ROOT/THMBNL");
    std::fs::create_dir_all(&thumbs).unwrap();
    std::fs::write(thumbs.join("C0001T01.JPG"), b"thumbnail").unwrap();
    files + 2
}

fn ingest(w: &World, card: &Path, extra: &[&str]) -> (i32, serde_json::Value) {
    let mut args = vec![card.to_str().unwrap()];
    args.extend_from_slice(extra);
    w.json("ingest", &args)
}

/// File contents under `root` (not `.triplicate/`), as a multiset of hashes.
fn contents(root: &Path) -> Vec<String> {
    let mut hashes: Vec<String> = common::stored(root).into_values().collect();
    hashes.sort();
    hashes
}

#[test]
fn a_card_is_read_once_into_the_library_and_two_disks_verified_and_safe() {
    let s = studio("64m");
    let w = &s.w;
    let card = s.card.path.clone();
    let on_card = write_card(&card, "canon");
    let card_before = common::stored(&card);

    let (code, r) = ingest(
        w,
        &card,
        &[
            "--template",
            "{year}/{date}/{make}/{name}",
            "--job",
            "wedding",
        ],
    );
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["verdict"]["safe"], true, "{r}");
    assert_eq!(
        r["files"].as_u64(),
        Some(on_card as u64),
        "the thumbnail stays: {r}"
    );
    assert_eq!(r["copied"].as_u64(), Some(on_card as u64));
    assert_eq!(r["layouts"], serde_json::json!(["dcf", "sony"]));
    for d in ["d1", "d2"] {
        assert_eq!(
            common::dest(&r, d)["written"].as_u64(),
            Some(on_card as u64),
            "{r}"
        );
    }
    for f in r["file_copies"].as_array().unwrap() {
        assert_eq!(
            f["copies"],
            serde_json::json!(["library", "d1", "d2"]),
            "{f}"
        );
        assert_eq!(f["devices"].as_u64(), Some(3));
        assert_eq!(f["xxh64"].as_str().unwrap().len(), 16);
    }

    // The template placed them by camera; the sidecar beside its RAW (the RAW's EXIF
    // says Nikon, the JPEG's Canon); the clip, without EXIF, under "unknown".
    let day = w.library().join("2024/2024-05-17");
    for rel in [
        "Nikon/IMG_0001.CR2",
        "Nikon/IMG_0001.xmp",
        "Canon/IMG_0001.JPG",
    ] {
        assert!(day.join(rel).is_file(), "{rel}");
    }
    assert!(
        common::stored(&w.library())
            .keys()
            .any(|p| p.ends_with("unknown/C0001.MP4")),
        "{:?}",
        common::stored(&w.library())
    );
    // The same bytes everywhere; the card untouched.
    let card_contents: Vec<String> = {
        let mut c: Vec<String> = card_before
            .iter()
            .filter(|(p, _)| !p.to_string_lossy().contains("THMBNL"))
            .map(|(_, h)| h.clone())
            .collect();
        c.sort();
        c
    };
    assert_eq!(contents(&w.library()), card_contents);
    assert_eq!(contents(&w.path("d1")), card_contents);
    assert_eq!(contents(&w.path("d2")), card_contents);
    assert_eq!(common::stored(&card), card_before, "the card was changed");

    // Ingesting the card again copies nothing, and so does a backup afterwards: the
    // catalog knows the files and their copies.
    let (code, r) = ingest(w, &card, &["--template", "{year}/{date}/{make}/{name}"]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["copied"].as_u64(), Some(0), "{r}");
    assert_eq!(r["already"].as_u64(), Some(on_card as u64), "{r}");
    for d in ["d1", "d2"] {
        assert_eq!(common::dest(&r, d)["written"].as_u64(), Some(0), "{r}");
    }
    let (code, b) = w.backup(&[]);
    assert_eq!(code, 0, "{b}");
    for d in ["d1", "d2"] {
        assert_eq!(common::dest(&b, d)["copied"].as_u64(), Some(0), "{b}");
    }
    let st = w.status();
    assert_eq!(
        st["coverage"]["protected"].as_u64(),
        Some(on_card as u64),
        "{st}"
    );
    let text = w.run(&["ingest", card.to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("SAFE TO FORMAT"),
        "{text:?}"
    );
}

#[test]
fn the_same_names_from_two_cameras_never_overwrite_each_other() {
    let s = studio("64m");
    let w = &s.w;
    let card = s.card.path.clone();
    let first = write_card(&card, "body-a");
    let (code, r) = ingest(w, &card, &[]);
    assert_eq!(code, 0, "{r}");
    // The second body's card: the same names, the same day, other pictures.
    for entry in std::fs::read_dir(&card).unwrap() {
        let path = entry.unwrap().path();
        std::fs::remove_dir_all(&path).unwrap();
    }
    let second = write_card(&card, "body-b");
    let (code, r) = ingest(w, &card, &[]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["copied"].as_u64(), Some(second as u64), "{r}");
    let library = common::stored(&w.library());
    assert_eq!(library.len(), first + second, "{library:?}");
    assert!(
        library
            .keys()
            .any(|p| p.to_string_lossy().contains("IMG_0001~")),
        "the second IMG_0001 got a distinct name: {library:?}"
    );
    for d in ["d1", "d2"] {
        assert_eq!(common::stored(&w.path(d)).len(), first + second);
    }
}

#[test]
fn a_disk_that_fills_up_is_not_safe_and_a_second_ingest_finishes() {
    // d1 and d2 are too small for the whole card.
    let s = studio("300k");
    let w = &s.w;
    let card = s.card.path.clone();
    let on_card = write_card(&card, "full");
    let (code, r) = ingest(w, &card, &[]);
    assert_eq!(code, 1, "{r}");
    assert_eq!(r["verdict"]["safe"], false, "{r}");
    let reasons = r["verdict"]["reasons"].as_array().unwrap();
    assert!(!reasons.is_empty());
    assert!(
        reasons[0]
            .as_str()
            .unwrap()
            .contains("1 verified copy on 1 device (library)"),
        "{r}"
    );
    let problems = r["problems"].to_string();
    assert!(problems.contains("full"), "{problems}");
    let out = w.run(&["ingest", card.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("NOT SAFE TO FORMAT"), "{said}");
    assert_eq!(common::partials(&w.path("d1")), Vec::<PathBuf>::new());

    // More room: the next ingest writes what is missing, from the card, and nothing else.
    for d in ["d1", "d2"] {
        s._disks
            .iter()
            .find(|m| m.path == w.path(d))
            .unwrap()
            .remount("remount,size=64m");
    }
    let (code, r) = ingest(w, &card, &[]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["verdict"]["safe"], true, "{r}");
    assert_eq!(
        r["copied"].as_u64(),
        Some(0),
        "the library had them all: {r}"
    );
    let counts: BTreeMap<&str, u64> = ["d1", "d2"]
        .into_iter()
        .map(|d| (d, common::stored(&w.path(d)).len() as u64))
        .collect();
    assert_eq!(
        counts,
        BTreeMap::from([("d1", on_card as u64), ("d2", on_card as u64)])
    );
}
