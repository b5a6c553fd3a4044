use super::check::Ignore;
use super::*;
use crate::destination::LocalDestination;

fn xxh(data: &[u8]) -> u64 {
    xxhash_rust::xxh64::xxh64(data, 0)
}

#[test]
fn folder_hashes_match_the_reference_tool() {
    // `ascmhl create` 1.2 on A/x.txt ("abcd\n"), A/B/y.txt ("hello"), top.txt ("z").
    let files = BTreeMap::from([
        ("A/x.txt".to_string(), xxh(b"abcd\n")),
        ("A/B/y.txt".to_string(), xxh(b"hello")),
        ("top.txt".to_string(), xxh(b"z")),
    ]);
    let h = folder_hashes(&files);
    let hex = |p: &str| (hex64(h[p].0), hex64(h[p].1));
    assert_eq!(
        hex("A/B"),
        ("c07c10338a825a5d".into(), "80e4b4450c87680c".into())
    );
    assert_eq!(
        hex("A"),
        ("958fb016b1d52d7a".into(), "e1129bd04059d722".into())
    );
    assert_eq!(
        hex(""),
        ("fb416aa1c6fb690c".into(), "0dfba543fac210c9".into())
    );
}

#[test]
fn generation_names_are_recognised() {
    assert_eq!(
        generation_number("0001_card_2026-11-22_090005Z.mhl"),
        Some(1)
    );
    assert_eq!(generation_number("12345_x.mhl"), Some(12345));
    assert_eq!(generation_number("0001.mhl"), Some(1));
    assert_eq!(generation_number("001_x.mhl"), None);
    assert_eq!(generation_number("._0001_x.mhl"), None);
    assert_eq!(generation_number("0001_x.xml"), None);
}

#[test]
fn ignore_patterns_follow_the_gitignore_form() {
    let ignore = Ignore::new(&IGNORE.iter().map(|s| s.to_string()).collect::<Vec<_>>());
    assert!(ignore.ignores(".DS_Store"));
    assert!(ignore.ignores("a/b/.DS_Store"));
    assert!(ignore.ignores("ascmhl/0001_x.mhl"));
    assert!(ignore.ignores(".triplicate/destination.toml"));
    assert!(ignore.ignores("2026/.triplicate-partial-abc"));
    assert!(!ignore.ignores("2026/2026-11-22/DSC_0001.JPG"));
    let anchored = Ignore::new(&["/raw/*.tmp".to_string(), "cache/".to_string()]);
    assert!(anchored.ignores("raw/x.tmp"));
    assert!(!anchored.ignores("a/raw/x.tmp"));
    assert!(anchored.ignores("a/cache/x"));
    assert!(!anchored.ignores("a/cache"));
}

fn sealed(path: &str, data: &[u8]) -> Sealed {
    Sealed {
        path: RelPath::new(path).unwrap(),
        size: data.len() as u64,
        xxh64: xxh(data),
    }
}

#[test]
fn generations_chain_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("Backup");
    let place = LocalDestination::plain_folder("backup", &root).unwrap();
    std::fs::create_dir_all(root.join("2026/11")).unwrap();
    std::fs::write(root.join("2026/11/a.jpg"), b"abcd\n").unwrap();
    let now = Utc::now();
    let first =
        append_generation(&place, "Backup", &[sealed("2026/11/a.jpg", b"abcd\n")], now).unwrap();
    assert!(
        first.to_string().starts_with("ascmhl/0001_Backup_"),
        "{first}"
    );
    std::fs::write(root.join("2026/11/b.jpg"), b"hello").unwrap();
    let files = [
        sealed("2026/11/a.jpg", b"abcd\n"),
        sealed("2026/11/b.jpg", b"hello"),
    ];
    let second = append_generation(&place, "Backup", &files, now).unwrap();
    assert!(
        second.to_string().starts_with("ascmhl/0002_Backup_"),
        "{second}"
    );

    let history = load(&place).unwrap();
    assert_eq!(history.generations.len(), 2);
    let actions: Vec<_> = history.generations[1]
        .list
        .files
        .iter()
        .map(|f| f.hashes[0].action)
        .collect();
    assert_eq!(
        actions,
        vec![Some(Action::Verified), Some(Action::Original)]
    );
    assert_eq!(history.chain.len(), 2);

    let check = verify_folder(&root, false, &crate::progress::NoProgress).unwrap();
    assert!(check.ok(), "{check:?}");
    assert_eq!(check.verified.len(), 2);

    // A damaged file, a new one and a missing one are each reported.
    std::fs::write(root.join("2026/11/a.jpg"), b"abce\n").unwrap();
    std::fs::write(root.join("2026/new.jpg"), b"new").unwrap();
    std::fs::remove_file(root.join("2026/11/b.jpg")).unwrap();
    let check = verify_folder(&root, true, &crate::progress::NoProgress).unwrap();
    assert_eq!(check.failed.len(), 1);
    assert_eq!(check.failed[0].expected, "0ea03b369a463d9d");
    assert_eq!(check.new, vec!["2026/new.jpg".to_string()]);
    assert_eq!(check.missing, vec!["2026/11/b.jpg".to_string()]);
    let recorded = load(&place).unwrap();
    assert_eq!(recorded.generations.len(), 3);
    assert_eq!(
        recorded.generations[2].list.files[0].hashes[0].action,
        Some(Action::Failed)
    );
    // The original stays the reference for later checks.
    assert_eq!(
        recorded.original("2026/11/a.jpg").unwrap().value,
        "0ea03b369a463d9d"
    );
}

#[test]
fn a_changed_generation_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let place = LocalDestination::plain_folder("backup", dir.path()).unwrap();
    std::fs::write(dir.path().join("a"), b"abcd\n").unwrap();
    let k = append_generation(&place, "x", &[sealed("a", b"abcd\n")], Utc::now()).unwrap();
    let path = k.to_path(dir.path());
    let text = std::fs::read_to_string(&path).unwrap();
    std::fs::write(&path, text.replace("0ea03b369a463d9d", "0ea03b369a463d9e")).unwrap();
    assert!(matches!(load(&place), Err(MhlError::Modified { .. })));
    std::fs::remove_file(&path).unwrap();
    assert!(matches!(load(&place), Err(MhlError::Missing { .. })));
}
