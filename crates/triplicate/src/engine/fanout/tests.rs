use super::*;
use crate::destination::{LocalDestination, Marker, ReadDestination};

fn destination(dir: &Path) -> LocalDestination {
    LocalDestination::initialise("d", dir, &Marker::for_test("d")).unwrap();
    LocalDestination::open("d", dir, "d").unwrap()
}

#[test]
fn fans_one_read_out_to_every_target_and_verifies() {
    let (a, b, src) = (
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
        tempfile::tempdir().unwrap(),
    );
    let (da, db) = (destination(a.path()), destination(b.path()));
    let body = triplicate_testkit::noise("fan", 3 * HASH_BUFFER + 17);
    let path = src.path().join("x.CR2");
    std::fs::write(&path, &body).unwrap();
    let key = RelPath::new(b"2024/x.CR2".to_vec()).unwrap();
    let targets = [
        Target {
            dest: &da,
            key: key.clone(),
        },
        Target {
            dest: &db,
            key: key.clone(),
        },
    ];
    let counted = std::sync::atomic::AtomicU64::new(0);
    let results = fan_out(
        &path,
        body.len() as u64,
        &ContentHash::of(&body),
        &targets,
        &|_, n| {
            counted.fetch_add(n, std::sync::atomic::Ordering::Relaxed);
        },
    )
    .unwrap();
    assert!(results.iter().all(Result::is_ok), "{results:?}");
    assert_eq!(counted.into_inner(), 2 * body.len() as u64);
    assert_eq!(std::fs::read(key.to_path(a.path())).unwrap(), body);
    assert_eq!(std::fs::read(key.to_path(b.path())).unwrap(), body);
}

#[test]
fn a_learning_fan_out_hashes_in_the_same_read_and_checks_copies_against_it() {
    let (a, src) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let da = destination(a.path());
    // The ASC MHL specification's test vector: xxh64("abcd\n") = 0ea03b369a463d9d.
    let path = src.path().join("abcd.txt");
    std::fs::write(&path, b"abcd\n").unwrap();
    let key = RelPath::new(b"abcd.txt".to_vec()).unwrap();
    let target = [Target {
        dest: &da,
        key: key.clone(),
    }];
    let (learned, results) = fan_out_learning(&path, 5, &target, &|_, _| {}).unwrap();
    let learned = learned.unwrap();
    assert_eq!(format!("{:016x}", learned.xxh64), "0ea03b369a463d9d");
    assert_eq!(learned.blake3, ContentHash::of(b"abcd\n"));
    assert!(results[0].is_ok(), "{results:?}");

    // A copy that reads back wrong is not verified, though nothing was expected.
    let body = triplicate_testkit::noise("learn", 2 * HASH_BUFFER + 3);
    let path = src.path().join("big.CR2");
    std::fs::write(&path, &body).unwrap();
    drop(da);
    let flip = crate::destination::faulty::FaultyDestination::new(
        Arc::new(destination(a.path())),
        crate::destination::faulty::FaultPlan {
            read_flips: 1.0,
            ..Default::default()
        },
        Arc::new(true.into()),
        Default::default(),
    );
    let target = [Target {
        dest: &flip,
        key: RelPath::new(b"big.CR2".to_vec()).unwrap(),
    }];
    let (learned, results) =
        fan_out_learning(&path, body.len() as u64, &target, &|_, _| {}).unwrap();
    assert_eq!(learned.unwrap().blake3, ContentHash::of(&body));
    assert!(
        matches!(results[0], Err(TargetError::Mismatch { .. })),
        "{results:?}"
    );
}

#[test]
fn a_file_changed_since_the_scan_is_never_published() {
    let (a, src) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let da = destination(a.path());
    let path = src.path().join("x.JPG");
    std::fs::write(&path, b"edited after the scan").unwrap();
    let key = RelPath::new(b"x.JPG".to_vec()).unwrap();
    let scanned = ContentHash::of(b"what the scan saw....");
    let err = fan_out(
        &path,
        21,
        &scanned,
        &[Target {
            dest: &da,
            key: key.clone(),
        }],
        &|_, _| {},
    );
    assert!(matches!(err, Err(SourceError::Changed { .. })), "{err:?}");
    assert!(da.list(None).unwrap().is_empty());
    assert_eq!(
        da.sweep_partials(None).unwrap(),
        0,
        "and no temp file is left"
    );
}

#[test]
fn a_verifying_reader_refuses_to_end_on_wrong_bytes() {
    let mut good = VerifyingReader::new(&b"photo"[..], ContentHash::of(b"photo"), 5);
    let mut out = Vec::new();
    good.read_to_end(&mut out).unwrap();
    assert_eq!(out, b"photo");
    let mut bad = VerifyingReader::new(&b"phot0"[..], ContentHash::of(b"photo"), 5);
    assert!(bad.read_to_end(&mut Vec::new()).is_err());
    let mut short = VerifyingReader::new(&b"phot"[..], ContentHash::of(b"photo"), 5);
    assert!(short.read_to_end(&mut Vec::new()).is_err());
}

#[test]
fn a_damaged_copy_fails_verification() {
    let a = tempfile::tempdir().unwrap();
    let da = destination(a.path());
    let key = RelPath::new(b"x.JPG".to_vec()).unwrap();
    da.put(&key, &mut &b"flipped"[..], 7).unwrap();
    let err = verify_copy(&da, &key, &ContentHash::of(b"flopped"), Stored::AsGiven);
    assert!(matches!(err, Err(TargetError::Mismatch { .. })), "{err:?}");
}
