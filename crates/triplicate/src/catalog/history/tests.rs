use super::*;

fn scanned(path: &str, content: &[u8], mtime_ns: i64) -> ScannedFile {
    ScannedFile {
        path: RelPath::new(path.as_bytes().to_vec()).unwrap(),
        hash: ContentHash::of(content),
        size: content.len() as u64,
        mtime_ns,
        inode: 1,
        captured: "2024-05-17T10:00:00".into(),
        captured_from: "exif",
        kind: PhotoKind::from_name(path.as_bytes()),
    }
}

fn tree(c: &Catalog, at: i64) -> Vec<(String, ContentHash)> {
    c.names_as_of(at)
        .unwrap()
        .into_iter()
        .map(|n| (n.path.to_string(), n.hash))
        .collect()
}

#[test]
fn history_gives_each_moment_its_tree() {
    let c = Catalog::open_in_memory().unwrap();
    c.record_files(
        "in",
        &[scanned("a.jpg", b"a1", 1), scanned("b.jpg", b"b1", 1)],
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(3));
    let first = c
        .record_snapshot("in", None)
        .unwrap()
        .expect("a first snapshot");
    assert_eq!((first.files, first.bytes), (2, 4));
    assert!(
        c.record_snapshot("in", None).unwrap().is_none(),
        "nothing changed"
    );
    std::thread::sleep(std::time::Duration::from_millis(3));
    c.record_files("in", &[scanned("a.jpg", b"a2", 2)]).unwrap();
    let files = c.known_files("in").unwrap();
    let b = files[&RelPath::new(b"b.jpg".to_vec()).unwrap()].id;
    c.set_present(&[b], false).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(3));
    let second = c.record_snapshot("in", None).unwrap().unwrap();
    assert_eq!(
        tree(&c, first.at),
        vec![
            ("a.jpg".into(), ContentHash::of(b"a1")),
            ("b.jpg".into(), ContentHash::of(b"b1"))
        ]
    );
    assert_eq!(
        tree(&c, second.at),
        vec![("a.jpg".into(), ContentHash::of(b"a2"))]
    );
    let a1 = c.photo_id_of(&ContentHash::of(b"a1")).unwrap().unwrap();
    let a2 = c.photo_id_of(&ContentHash::of(b"a2")).unwrap().unwrap();
    let a = RelPath::new(b"a.jpg".to_vec()).unwrap();
    let key = RelPath::new(b"2024/a.jpg".to_vec()).unwrap();
    assert_eq!(
        c.earlier_version_at("d", "in", &a, a2).unwrap(),
        None,
        "d holds nothing"
    );
    let op = crate::catalog::tests::op();
    c.record_copy_verified(
        a1,
        "d",
        &key,
        crate::destination::Stored::AsGiven,
        "read back",
        &op,
    )
    .unwrap();
    let earlier = c.earlier_version_at("d", "in", &a, a2).unwrap().unwrap();
    assert_eq!(
        (earlier.photo_id, &earlier.key, earlier.size),
        (a1, &key, 2)
    );
    assert_eq!(earlier.hash, ContentHash::of(b"a1"));
    let aside = RelPath::new(b".triplicate/versions/2024/a.jpg/x~y.jpg".to_vec()).unwrap();
    c.move_copy(a1, "d", &aside).unwrap();
    assert_eq!(
        c.earlier_version_at("d", "in", &a, a2).unwrap(),
        None,
        "already moved aside"
    );
}

#[test]
fn a_held_change_keeps_the_good_content_until_accepted() {
    let c = Catalog::open_in_memory().unwrap();
    c.record_files("in", &[scanned("a.cr2", b"good", 1)])
        .unwrap();
    c.hold_change("in", &scanned("a.cr2", b"rot!", 1), HoldReason::BitRot)
        .unwrap();
    let a = RelPath::new(b"a.cr2".to_vec()).unwrap();
    assert_eq!(
        c.content_of("in", &a).unwrap().unwrap().1,
        ContentHash::of(b"good")
    );
    let held = c.held_changes().unwrap();
    assert_eq!(held.len(), 1);
    assert_eq!(held[0].reason, HoldReason::BitRot);
    assert_eq!(held[0].found, ContentHash::of(b"rot!"));
    let known = &c.known_files("in").unwrap()[&a];
    assert_eq!(known.mtime_ns, 1, "the fingerprint is the found file's");
    assert_eq!(c.accept_changes(None).unwrap().len(), 1);
    assert_eq!(
        c.content_of("in", &a).unwrap().unwrap().1,
        ContentHash::of(b"rot!")
    );
    assert!(c.held_changes().unwrap().is_empty());
}

#[test]
fn the_guard_trips_and_resets() {
    let c = Catalog::open_in_memory().unwrap();
    assert_eq!(c.guard_trip().unwrap(), None);
    let trip = GuardTrip {
        at: 1,
        library: "in".into(),
        changed: 60,
        vanished: 0,
        earlier: 0,
        backed_up: 100,
        looks_encrypted: 60,
    };
    c.set_guard_trip(Some(&trip)).unwrap();
    assert_eq!(c.guard_trip().unwrap(), Some(trip));
    c.set_guard_trip(None).unwrap();
    assert_eq!(c.guard_trip().unwrap(), None);
}
