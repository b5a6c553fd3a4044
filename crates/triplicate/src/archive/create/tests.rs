use super::*;
use crate::progress::NoProgress;

fn home(dir: &Path) -> (Triplicate, PathBuf) {
    let lib = dir.join("photos");
    fs::create_dir_all(&lib).unwrap();
    let home = crate::home::Home::in_dir(&dir.join("home"));
    crate::setup::init(&home, "studio", std::slice::from_ref(&lib)).unwrap();
    (Triplicate::open(&home).unwrap(), lib)
}

#[test]
fn a_name_that_is_not_utf8_is_skipped_with_a_warning() {
    use std::os::unix::ffi::OsStrExt;
    let dir = tempfile::tempdir().unwrap();
    let (t, lib) = home(dir.path());
    fs::create_dir_all(lib.join("20261120")).unwrap();
    fs::write(lib.join("20261120/good.jpg"), b"good").unwrap();
    let odd = lib
        .join("20261120")
        .join(std::ffi::OsStr::from_bytes(b"caf\xe9.jpg"));
    fs::write(&odd, b"odd").unwrap();
    let request = Request {
        kind: Kind::Images,
        ..Default::default()
    };
    let created = create(&t, &request, &NoProgress, &AtomicBool::new(false)).unwrap();
    let paths: Vec<&str> = created
        .manifest
        .files
        .iter()
        .map(|f| f.path.as_str())
        .collect();
    assert_eq!(paths, ["images/photos/20261120/good.jpg"]);
    assert_eq!(created.warnings.len(), 1, "{:?}", created.warnings);
    assert!(
        created.warnings[0].contains("caf\\xe9.jpg"),
        "{:?}",
        created.warnings
    );
    let log = fs::read_to_string(&created.log).unwrap();
    assert!(log.contains("warning: photos:20261120/caf"), "{log}");
}

#[test]
fn an_images_archive_of_nothing_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let (t, _) = home(dir.path());
    let request = Request {
        kind: Kind::Images,
        ..Default::default()
    };
    let result = create(&t, &request, &NoProgress, &AtomicBool::new(false));
    assert!(
        matches!(result, Err(ArchiveError::Nothing(_))),
        "{result:?}"
    );
    assert!(!folder(&t).exists(), "nothing written, not even a log");
}

#[test]
fn a_cancelled_archive_keeps_nothing_but_its_log() {
    let dir = tempfile::tempdir().unwrap();
    let (t, _) = home(dir.path());
    let cancelled = AtomicBool::new(true);
    let result = create(&t, &Request::default(), &NoProgress, &cancelled);
    assert!(matches!(result, Err(ArchiveError::Cancelled)), "{result:?}");
    let left: Vec<String> = fs::read_dir(folder(&t))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(left.len(), 1, "{left:?}");
    assert!(left[0].ends_with(".log"), "{left:?}");
    assert!(super::super::list(&t).unwrap().0.is_empty());
}

#[test]
fn date_folders_are_found_in_the_usual_layouts() {
    assert_eq!(
        date_folder_of("20261120/image-1.jpg").as_deref(),
        Some("20261120")
    );
    assert_eq!(
        date_folder_of("20261120/keogram/k.jpg").as_deref(),
        Some("20261120")
    );
    assert_eq!(
        date_folder_of("2026/2026-11-20 Wedding/a.cr3").as_deref(),
        Some("2026/2026-11-20 Wedding")
    );
    assert_eq!(
        date_folder_of("2026/11/20/a.jpg").as_deref(),
        Some("2026/11/20")
    );
    assert_eq!(
        date_folder_of("cam1/2026_11_20/a.jpg").as_deref(),
        Some("cam1/2026_11_20")
    );
    assert_eq!(date_folder_of("misc/a.jpg"), None);
    assert_eq!(date_folder_of("20261120.jpg"), None);
    assert_eq!(date_folder_of("123456789/a.jpg"), None);
    assert_eq!(date_folder_of("20261340/a.jpg"), None);
}
