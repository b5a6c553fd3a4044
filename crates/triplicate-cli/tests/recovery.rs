//! Getting photos back as a person means it: names at any depth, a list before a
//! restore, the photos deleted from the library, and a clear error for a pattern that
//! matches nothing.

mod common;

use std::path::Path;

use common::{World, kit};

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
    let (code, report) = w.backup(&[]);
    assert_eq!(code, 0, "{report}");
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
    let (code, report) = w.backup(&[]);
    assert_eq!(code, 0, "{report}");

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
