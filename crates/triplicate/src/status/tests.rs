//! `status` over a real home: each destination's state, the counts, and the photos at
//! risk with the reason, when every copy is on the library's own disk.

use super::*;
use crate::destination::MediaKind;
use crate::home::Home;
use crate::progress::NoProgress;
use crate::setup::{self, NewDestination};
use triplicate_testkit as kit;

/// Two photos, backed up to "usb" (a folder on the library's disk); "gone" was added
/// and then its folder removed; "spare" is disabled.
fn home(dir: &std::path::Path) -> Triplicate {
    let home = Home::in_dir(&dir.join("home"));
    let library = dir.join("library");
    std::fs::create_dir_all(&library).unwrap();
    for (name, date) in [
        ("a.jpg", "2026:03:01 10:00:00"),
        ("b.jpg", "2026:03:02 10:00:00"),
    ] {
        std::fs::write(library.join(name), kit::jpeg(date, name.as_bytes())).unwrap();
    }
    setup::init(&home, "node", &[library]).unwrap();
    for name in ["usb", "gone", "spare"] {
        let path = dir.join(name);
        std::fs::create_dir_all(&path).unwrap();
        let new = NewDestination::new(name, path.to_str().unwrap(), MediaKind::Hdd, "onsite");
        setup::add_destination(&home, "node", &new).unwrap();
    }
    setup::set_destination_flag(&home, "spare", "enabled", false).unwrap();
    let t = Triplicate::open(&home).unwrap();
    let options = crate::engine::BackupOptions {
        destinations: vec!["usb".into()],
        ..Default::default()
    };
    crate::engine::backup(&t, &options, &NoProgress).unwrap();
    std::fs::remove_dir_all(dir.join("gone")).unwrap();
    t
}

#[test]
fn each_destination_says_its_state_and_why() {
    let dir = tempfile::tempdir().unwrap();
    let t = home(dir.path());
    let r = status(&t, false).unwrap();
    let of = |name: &str| r.destinations.iter().find(|d| d.name == name).unwrap();
    assert_eq!(of("usb").state, DestState::Ok);
    assert_eq!(of("usb").counts.verified, 2);
    assert_eq!(of("gone").state, DestState::NotMounted);
    assert!(
        of("gone").detail.is_some(),
        "a state other than ok says why"
    );
    assert_eq!(of("spare").state, DestState::Disabled);
    assert!(
        of("usb")
            .device_note
            .as_deref()
            .is_some_and(|n| n.contains("same device")),
        "{:?}",
        of("usb").device_note
    );
}

#[test]
fn copies_on_the_library_disk_leave_every_photo_at_risk_with_the_reason() {
    let dir = tempfile::tempdir().unwrap();
    let t = home(dir.path());
    let r = status(&t, true).unwrap();
    assert_eq!(
        (r.coverage.photos, r.coverage.protected, r.coverage.at_risk),
        (2, 0, 2)
    );
    let list = r.at_risk.expect("asked for");
    let names: Vec<String> = list.iter().map(|a| a.path.to_string()).collect();
    assert_eq!(names, ["a.jpg", "b.jpg"]);
    for a in &list {
        assert!(
            a.reasons
                .iter()
                .any(|why| why.contains("the copy at 'usb' is on the same device")),
            "{:?}",
            a.reasons
        );
    }
}
