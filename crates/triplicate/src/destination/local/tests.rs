use super::*;

fn marker(id: &str) -> Marker {
    Marker::for_test(id)
}

fn key(s: &str) -> RelPath {
    RelPath::new(s.as_bytes().to_vec()).unwrap()
}

#[test]
fn puts_of_every_awkward_size_are_byte_exact() {
    // Around the O_DIRECT block size and the write buffer: aligned body, buffered tail.
    let dir = tempfile::tempdir().unwrap();
    LocalDestination::initialise("t", dir.path(), &marker("a")).unwrap();
    let d = LocalDestination::open("t", dir.path(), "a").unwrap();
    for len in [
        0usize,
        1,
        4095,
        4096,
        4097,
        WRITE_BUFFER - 1,
        WRITE_BUFFER,
        WRITE_BUFFER + 4097,
    ] {
        let body: Vec<u8> = (0..len).map(|i| (i * 7 % 253) as u8).collect();
        let k = key(&format!("sizes/{len}.raw"));
        // A reader that hands out odd-sized pieces, like the fan-out's.
        let mut pieces = body.chunks(1000).flatten().copied().collect::<Vec<u8>>();
        d.put(&k, &mut pieces.as_slice(), len as u64).unwrap();
        pieces.clear();
        d.read(&k).unwrap().read_to_end(&mut pieces).unwrap();
        assert_eq!(pieces, body, "{len}");
    }
}

#[test]
fn missing_marker_is_not_mounted_and_wrong_marker_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        LocalDestination::open("t", dir.path(), "a"),
        Err(DestError::NotMounted { .. })
    ));
    LocalDestination::initialise("t", dir.path(), &marker("b")).unwrap();
    assert!(matches!(
        LocalDestination::open("t", dir.path(), "a"),
        Err(DestError::WrongDestination { .. })
    ));
    // A second initialise adopts the marker already there.
    let adopted = LocalDestination::initialise("t", dir.path(), &marker("c")).unwrap();
    assert_eq!(adopted.id, "b");
}

#[test]
fn one_writer_at_a_time() {
    let dir = tempfile::tempdir().unwrap();
    LocalDestination::initialise("t", dir.path(), &marker("a")).unwrap();
    let _first = LocalDestination::open("t", dir.path(), "a").unwrap();
    assert!(matches!(
        LocalDestination::open("t", dir.path(), "a"),
        Err(DestError::InUse { .. })
    ));
}

#[test]
fn sweep_removes_what_dead_writers_left_and_nothing_else() {
    let dir = tempfile::tempdir().unwrap();
    LocalDestination::initialise("t", dir.path(), &marker("a")).unwrap();
    let d = LocalDestination::open("t", dir.path(), "a").unwrap();
    // A photo that only looks like a leftover, and a killed run's session.
    d.put(&key("x/.triplicate-partial-0123.JPG"), &mut &b"k"[..], 1)
        .unwrap();
    let dead = dir.path().join(".triplicate/partial/deadbeef0000");
    fs::create_dir_all(&dead).unwrap();
    fs::write(dead.join("0"), b"junk").unwrap();
    assert_eq!(d.list(None).unwrap().len(), 1, "staging is never listed");
    assert_eq!(d.sweep_partials(None).unwrap(), 1);
    assert!(!dead.exists());
    assert!(dir.path().join("x/.triplicate-partial-0123.JPG").exists());
}

#[test]
fn a_plain_folder_sweeps_only_sessions_nobody_holds_and_leaves_no_trace() {
    let dir = tempfile::tempdir().unwrap();
    let first = LocalDestination::plain_folder("lib", dir.path()).unwrap();
    first.put(&key("a.jpg"), &mut &b"a"[..], 1).unwrap();
    // A second writer (another ingest into the same library) leaves the live
    // session alone.
    let second = LocalDestination::plain_folder("lib", dir.path()).unwrap();
    second.put(&key("b.jpg"), &mut &b"b"[..], 1).unwrap();
    let sessions = || {
        fs::read_dir(dir.path().join(".triplicate/partial"))
            .unwrap()
            .count()
    };
    assert_eq!(sessions(), 2);
    assert_eq!(second.sweep_partials(None).unwrap(), 0);
    drop(first);
    drop(second);
    assert!(
        !dir.path().join(".triplicate").exists(),
        "a restore target is left with only what was restored"
    );
}

#[test]
fn a_root_that_no_longer_leads_to_the_opened_folder_has_vanished() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("disk");
    LocalDestination::initialise("t", &root, &marker("a")).unwrap();
    let d = LocalDestination::open("t", &root, "a").unwrap();
    d.put(&key("one.jpg"), &mut &b"1"[..], 1).unwrap();
    // The disk goes; an empty folder stands in its place.
    fs::rename(&root, dir.path().join("elsewhere")).unwrap();
    fs::create_dir(&root).unwrap();
    assert!(matches!(
        d.put(&key("two.jpg"), &mut &b"2"[..], 1),
        Err(DestError::Vanished { .. })
    ));
    assert_eq!(
        fs::read_dir(&root).unwrap().count(),
        0,
        "nothing is written in the empty mount point"
    );
    assert!(dir.path().join("elsewhere/two.jpg").exists());
    assert!(matches!(d.list(None), Err(DestError::Vanished { .. })));
}
