//! What people read, as snapshots (`insta`): `status`, `status --at-risk` and the
//! ingest verdict, rendered from a real home after a real backup and ingest. Paths,
//! times and device names are masked; everything else must stay word for word, or the
//! snapshot is reviewed (`cargo insta review`).

use std::path::Path;

use triplicate::destination::MediaKind;
use triplicate::home::{Home, Triplicate};
use triplicate::progress::NoProgress;
use triplicate::setup::{self, NewDestination};
use triplicate_testkit as kit;

/// A home with a library of two photos (one of them also under a second name) and
/// one destination, "usb", on the same disk as the library.
fn home(dir: &Path) -> Triplicate {
    let home = Home::in_dir(&dir.join("home"));
    let library = dir.join("library");
    std::fs::create_dir_all(library.join("2026")).unwrap();
    std::fs::write(
        library.join("2026/IMG_0001.JPG"),
        kit::jpeg("2026:11:22 10:15:00", b"one"),
    )
    .unwrap();
    let two = kit::jpeg("2026:11:23 08:00:00", b"two");
    std::fs::write(library.join("2026/IMG_0002.JPG"), &two).unwrap();
    std::fs::write(library.join("2026/IMG_0002 copy.JPG"), &two).unwrap();
    setup::init(&home, "studio", &[library]).unwrap();
    let usb = dir.join("usb");
    std::fs::create_dir_all(&usb).unwrap();
    setup::add_destination(
        &home,
        "studio",
        &NewDestination::new("usb", usb.to_str().unwrap(), MediaKind::Hdd, "onsite"),
    )
    .unwrap();
    Triplicate::open(&home).unwrap()
}

/// Masks what differs from run to run: the temporary folder, times, durations, the
/// disk's name and its free space.
fn settings(dir: &Path) -> insta::Settings {
    let mut s = insta::Settings::clone_current();
    s.add_filter(&regex_escape(&dir.display().to_string()), "[DIR]");
    s.add_filter(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}(:\d{2})?", "[TIME]");
    s.add_filter(r"\d+(\.\d+)? s\b", "[SECS]");
    s.add_filter(r"\d+(\.\d+)? ms\b", "[MS]");
    s.add_filter(r"\S+ \(\w+, mounted at [^)]*\)", "[DEVICE]");
    s.add_filter(
        r"[\d.]+ [KMGT]?i?B free of [\d.]+ [KMGT]?i?B",
        "[FREE] free of [SIZE]",
    );
    s.add_filter(r"\d{4}-\d{2}-\d{2}_\d{6}Z", "[STAMP]");
    s
}

fn regex_escape(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let special = "\\.+*?()|[]{}^$".contains(c);
            special.then_some('\\').into_iter().chain([c])
        })
        .collect()
}

#[test]
fn status_after_a_backup_to_one_disk_beside_the_library() {
    let dir = tempfile::tempdir().unwrap();
    let t = home(dir.path());
    triplicate::engine::backup(&t, &Default::default(), &NoProgress).unwrap();
    let report = triplicate::status::status(&t, false).unwrap();
    let mut text = String::new();
    super::status(&mut text, &report);
    settings(dir.path()).bind(|| insta::assert_snapshot!(text));
}

#[test]
fn status_at_risk_names_each_photo_and_what_it_lacks() {
    let dir = tempfile::tempdir().unwrap();
    let t = home(dir.path());
    triplicate::engine::backup(&t, &Default::default(), &NoProgress).unwrap();
    let report = triplicate::status::status(&t, true).unwrap();
    let mut text = String::new();
    super::status(&mut text, &report);
    settings(dir.path()).bind(|| insta::assert_snapshot!(text));
}

#[test]
fn the_ingest_verdict_of_a_card_copied_to_one_disk() {
    let dir = tempfile::tempdir().unwrap();
    let t = home(dir.path());
    let card = dir.path().join("card");
    kit::write_card(&card, &kit::CardSpec::default()).unwrap();
    let options = triplicate::ingest::IngestOptions {
        card,
        ..Default::default()
    };
    let report = triplicate::ingest::ingest(&t, &options, &NoProgress).unwrap();
    let mut text = String::new();
    super::ingest(&mut text, &report);
    settings(dir.path()).bind(|| insta::assert_snapshot!(text));
}
