use super::*;
use crate::destination::MediaKind;
use crate::progress::NoProgress;
use std::path::Path;

fn lib(dir: &Path) -> LibraryConfig {
    LibraryConfig {
        name: "in".into(),
        path: dir.into(),
        media: MediaKind::Ssd,
    }
}

#[test]
fn scans_photos_skips_others_and_rescans_cheaply() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("DCIM/100")).unwrap();
    std::fs::write(dir.path().join("DCIM/100/IMG_1.JPG"), b"one").unwrap();
    std::fs::write(dir.path().join("DCIM/100/IMG_1.xmp"), b"<xmp/>").unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"skip").unwrap();
    std::os::unix::fs::symlink("/etc/passwd", dir.path().join("link.jpg")).unwrap();
    let c = Catalog::open_in_memory().unwrap();
    let r = scan_library(
        &c,
        &lib(dir.path()),
        ScanOptions::default(),
        &NoProgress,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!((r.files, r.hashed, r.unchanged), (2, 2, 0));
    let again = scan_library(
        &c,
        &lib(dir.path()),
        ScanOptions::default(),
        &NoProgress,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!((again.hashed, again.unchanged), (0, 2));
    let all = scan_library(
        &c,
        &lib(dir.path()),
        ScanOptions {
            include_all: true,
            ..Default::default()
        },
        &NoProgress,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(all.hashed, 1, "include_all picks up notes.txt");

    std::fs::remove_file(dir.path().join("DCIM/100/IMG_1.JPG")).unwrap();
    let gone = scan_library(
        &c,
        &lib(dir.path()),
        ScanOptions {
            include_all: true,
            ..Default::default()
        },
        &NoProgress,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!(gone.gone, 1);
}

#[test]
fn files_written_too_recently_are_left_for_later() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("IMG_1.JPG"), b"settled").unwrap();
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(60);
    std::fs::File::options()
        .write(true)
        .open(dir.path().join("IMG_1.JPG"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    std::fs::write(dir.path().join("IMG_2.JPG"), b"being written").unwrap();
    let c = Catalog::open_in_memory().unwrap();
    let settle = ScanOptions {
        settle: Some(std::time::Duration::from_secs(10)),
        ..Default::default()
    };
    let r = scan_library(&c, &lib(dir.path()), settle, &NoProgress, &mut |_| {}).unwrap();
    assert_eq!((r.hashed, r.deferred), (1, 1));
    std::fs::write(dir.path().join("IMG_3.JPG"), b"closed after writing").unwrap();
    let closed = ScanOptions {
        settle: Some(std::time::Duration::from_secs(10)),
        complete: std::sync::Arc::new([dir.path().join("IMG_3.JPG")].into_iter().collect()),
        ..Default::default()
    };
    let r = scan_library(&c, &lib(dir.path()), closed, &NoProgress, &mut |_| {}).unwrap();
    assert_eq!(
        (r.hashed, r.deferred),
        (1, 1),
        "the closed file is taken, the other still waits"
    );
    std::fs::remove_file(dir.path().join("IMG_3.JPG")).unwrap();
    let later = scan_library(
        &c,
        &lib(dir.path()),
        ScanOptions::default(),
        &NoProgress,
        &mut |_| {},
    )
    .unwrap();
    assert_eq!((later.hashed, later.unchanged), (1, 1));
}

#[test]
fn sidecar_takes_its_photos_capture_time() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("IMG_2.CR2"), b"raw").unwrap();
    std::fs::write(dir.path().join("IMG_2.XMP"), b"xmp").unwrap();
    let c = Catalog::open_in_memory().unwrap();
    scan_library(
        &c,
        &lib(dir.path()),
        ScanOptions::default(),
        &NoProgress,
        &mut |_| {},
    )
    .unwrap();
    let raw = c
        .captured_of("in", &RelPath::new(b"IMG_2.CR2".to_vec()).unwrap())
        .unwrap();
    let xmp = c
        .captured_of("in", &RelPath::new(b"IMG_2.XMP".to_vec()).unwrap())
        .unwrap();
    assert!(raw.is_some());
    assert_eq!(raw, xmp);
}

#[test]
fn a_missing_library_marks_nothing_gone() {
    let c = Catalog::open_in_memory().unwrap();
    let err = scan_library(
        &c,
        &lib(Path::new("/nonexistent/lib")),
        ScanOptions::default(),
        &NoProgress,
        &mut |_| {},
    );
    assert!(matches!(err, Err(ScanError::LibraryMissing { .. })));
}
