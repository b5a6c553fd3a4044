use super::*;

fn scanned(path: &str, content: &[u8]) -> ScannedFile {
    ScannedFile {
        path: RelPath::new(path.as_bytes().to_vec()).unwrap(),
        hash: ContentHash::of(content),
        size: content.len() as u64,
        mtime_ns: 1,
        inode: 1,
        captured: "2024-01-01T00:00:00".into(),
        captured_from: "mtime",
        kind: PhotoKind::Image,
    }
}

pub(super) fn op() -> Operation<'static> {
    Operation {
        run: "r",
        kind: "copy",
        dest: Some("d"),
        photo_id: None,
        path: None,
        bytes: None,
        duration_ms: None,
        outcome: "ok",
        message: None,
    }
}

#[test]
fn migrates_and_reopens() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("catalog.db");
    Catalog::open(&path).unwrap();
    let c = Catalog::open(&path).unwrap();
    assert_eq!(c.integrity_check().unwrap(), "ok");
}

#[test]
fn same_content_two_names_is_one_photo() {
    let c = Catalog::open_in_memory().unwrap();
    c.record_files(
        "lib",
        &[
            scanned("a.jpg", b"x"),
            scanned("b/a.jpg", b"x"),
            scanned("c.jpg", b"y"),
        ],
    )
    .unwrap();
    let pending = c.photos_to_copy("d").unwrap();
    assert_eq!(pending.len(), 2);
    assert_eq!(c.names_of(pending[0].photo_id).unwrap().len(), 2);
}

#[test]
fn copy_states_and_pending_counts() {
    let c = Catalog::open_in_memory().unwrap();
    c.record_files("lib", &[scanned("a.jpg", b"x"), scanned("b.jpg", b"yy")])
        .unwrap();
    let p = c.photos_to_copy("d").unwrap();
    let key = RelPath::new(b"k/a.jpg".to_vec()).unwrap();
    c.record_copy_verified(
        p[0].photo_id,
        "d",
        &key,
        crate::destination::Stored::AsGiven,
        "read back",
        &op(),
    )
    .unwrap();
    c.record_copy_failed(p[1].photo_id, "d", None, "boom", "transient", &op())
        .unwrap();
    let counts = c.dest_counts("d").unwrap();
    assert_eq!((counts.verified, counts.pending, counts.failed), (1, 0, 1));
    assert_eq!(
        c.photos_to_copy("d").unwrap().len(),
        1,
        "failed copies are retried"
    );
    assert_eq!(c.unlisted_copies("d").unwrap().len(), 1);
    c.mark_listed("d", "run1", &[p[0].photo_id]).unwrap();
    assert!(c.unlisted_copies("d").unwrap().is_empty());
}

#[test]
fn the_service_leaves_failures_that_need_a_person_alone() {
    let c = Catalog::open_in_memory().unwrap();
    c.record_files("lib", &[scanned("a.jpg", b"x"), scanned("b.jpg", b"yy")])
        .unwrap();
    let p = c.photos_to_copy("d").unwrap();
    c.record_copy_failed(
        p[0].photo_id,
        "d",
        None,
        "permission denied",
        "permanent",
        &op(),
    )
    .unwrap();
    c.record_copy_failed(p[1].photo_id, "d", None, "timeout", "transient", &op())
        .unwrap();
    assert_eq!(
        c.photos_to_copy("d").unwrap().len(),
        2,
        "backup tries everything"
    );
    let unattended = c.photos_to_copy_unattended("d").unwrap();
    assert_eq!(unattended.len(), 1);
    assert_eq!(
        unattended[0].photo_id, p[1].photo_id,
        "only the transient failure is retried"
    );
}

#[test]
fn files_not_seen_are_gone_and_not_copied() {
    let c = Catalog::open_in_memory().unwrap();
    c.record_files("lib", &[scanned("a.jpg", b"x")]).unwrap();
    let id = c.known_files("lib").unwrap().values().next().unwrap().id;
    c.set_present(&[id], false).unwrap();
    assert!(c.photos_to_copy("d").unwrap().is_empty());
    assert!(
        !c.known_files("lib")
            .unwrap()
            .values()
            .next()
            .unwrap()
            .present
    );
}

#[test]
fn changes_to_a_photo_mark_it_for_grid_once_whatever_the_statement() {
    // An upsert overrides a trigger's OR IGNORE: recording a copy twice once failed
    // with "UNIQUE constraint failed: grid_dirty.photo_id".
    let c = Catalog::open_in_memory().unwrap();
    c.record_files("lib", &[scanned("a.jpg", b"x")]).unwrap();
    let p = c.photos_to_copy("d").unwrap();
    let key = RelPath::new(b"k/a.jpg".to_vec()).unwrap();
    for _ in 0..2 {
        c.record_copy_verified(
            p[0].photo_id,
            "d",
            &key,
            crate::destination::Stored::AsGiven,
            "read back",
            &op(),
        )
        .unwrap();
        c.record_copy_failed(p[0].photo_id, "d", Some(&key), "boom", "transient", &op())
            .unwrap();
        c.record_files("lib", &[scanned("a.jpg", b"x"), scanned("b.jpg", b"x")])
            .unwrap();
    }
    assert_eq!(c.grid_unpublished().unwrap(), 1, "one photo, marked once");
}

#[test]
fn warnings_deduplicate_and_resolve() {
    let c = Catalog::open_in_memory().unwrap();
    c.raise_warning("dest:usb", "full", "full!", Some("transient"))
        .unwrap();
    c.raise_warning("dest:usb", "full", "still full", Some("transient"))
        .unwrap();
    let open = c.open_warnings().unwrap();
    assert_eq!(
        (open.len(), open[0].count, open[0].message.as_str()),
        (1, 2, "still full")
    );
    assert_eq!(c.resolve_warnings("dest:usb", &["full"]).unwrap(), 1);
    assert!(c.open_warnings().unwrap().is_empty());
    c.raise_warning("dest:usb", "full", "again", None).unwrap();
    assert_eq!(c.open_warnings().unwrap().len(), 1);
}

#[test]
fn finished_runs_beyond_the_newest_of_their_kind_are_forgotten() {
    let c = Catalog::open_in_memory().unwrap();
    for i in 0..12 {
        let id = format!("verify-{i:02}");
        c.begin_run(&id, RunKind::Verify).unwrap();
        c.finish_run(&id, RunOutcome::Ok, "{}").unwrap();
    }
    c.begin_run("ingest-1", RunKind::Ingest).unwrap();
    c.finish_run("ingest-1", RunOutcome::Ok, "{}").unwrap();
    c.begin_run("verify-running", RunKind::Verify).unwrap();
    assert_eq!(c.prune_runs("verify", 5).unwrap(), 7);
    let verify = c.recent_runs(RunKind::Verify, 100).unwrap();
    assert_eq!(verify.len(), 5);
    assert_eq!(verify.last().unwrap().id, "verify-07");
    // Other kinds, and the run still going, are left alone.
    assert_eq!(c.recent_runs(RunKind::Ingest, 10).unwrap().len(), 1);
    c.finish_run("verify-running", RunOutcome::Ok, "{}")
        .unwrap();
    assert_eq!(c.recent_runs(RunKind::Verify, 100).unwrap().len(), 6);
}
