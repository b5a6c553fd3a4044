//! The catalog's schema, as an ordered list of migrations. `PRAGMA user_version` says
//! how many have run; each runs in its own transaction. Never edit a released
//! migration: add a new one.

pub const MIGRATIONS: &[&str] = &[
    // 1: photos, their names in libraries, copies, runs, operations, warnings.
    r#"
    CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);

    -- A photo is its content. captured is camera-local time, YYYY-MM-DDTHH:MM:SS.
    CREATE TABLE photos (
        id            INTEGER PRIMARY KEY,
        hash          BLOB NOT NULL UNIQUE,
        size          INTEGER NOT NULL,
        captured      TEXT NOT NULL,
        captured_from TEXT NOT NULL,
        kind          TEXT NOT NULL,
        first_seen    INTEGER NOT NULL,
        protected_at  INTEGER
    );

    -- Names of photos in library folders, with the fingerprint that lets a rescan
    -- skip unchanged files. path is the byte-exact relative path.
    CREATE TABLE files (
        id        INTEGER PRIMARY KEY,
        library   TEXT NOT NULL,
        path      BLOB NOT NULL,
        photo_id  INTEGER NOT NULL REFERENCES photos(id),
        size      INTEGER NOT NULL,
        mtime_ns  INTEGER NOT NULL,
        inode     INTEGER NOT NULL,
        present   INTEGER NOT NULL DEFAULT 1,
        UNIQUE (library, path)
    );
    CREATE INDEX files_photo ON files(photo_id);

    -- A copy is a photo at a destination (by the destination's marker id).
    -- state: verified | failed | corrupt | missing. Absent means pending.
    CREATE TABLE copies (
        photo_id    INTEGER NOT NULL REFERENCES photos(id),
        dest        TEXT NOT NULL,
        path        BLOB,
        state       TEXT NOT NULL,
        verified_at INTEGER,
        error       TEXT,
        error_class TEXT,
        attempts    INTEGER NOT NULL DEFAULT 0,
        updated_at  INTEGER NOT NULL,
        manifest    TEXT,
        PRIMARY KEY (photo_id, dest)
    ) WITHOUT ROWID;
    CREATE INDEX copies_dest_state ON copies(dest, state);
    CREATE INDEX copies_unlisted ON copies(dest) WHERE state = 'verified' AND manifest IS NULL;

    CREATE TABLE runs (
        id          TEXT PRIMARY KEY,
        kind        TEXT NOT NULL,
        started_at  INTEGER NOT NULL,
        finished_at INTEGER,
        outcome     TEXT,
        summary     TEXT
    );

    -- Per destination: when it last completed a run without failures.
    CREATE TABLE dest_activity (
        dest         TEXT PRIMARY KEY,
        last_attempt INTEGER,
        last_success INTEGER
    );

    CREATE TABLE operations (
        id          INTEGER PRIMARY KEY,
        at          INTEGER NOT NULL,
        run         TEXT,
        kind        TEXT NOT NULL,
        dest        TEXT,
        photo_id    INTEGER,
        path        BLOB,
        bytes       INTEGER,
        duration_ms INTEGER,
        outcome     TEXT NOT NULL,
        message     TEXT
    );
    CREATE INDEX operations_at ON operations(at);

    -- Open warnings are unique per subject and kind; a repeat bumps count and last_at.
    CREATE TABLE warnings (
        id              INTEGER PRIMARY KEY,
        subject         TEXT NOT NULL,
        kind            TEXT NOT NULL,
        message         TEXT NOT NULL,
        class           TEXT,
        first_at        INTEGER NOT NULL,
        last_at         INTEGER NOT NULL,
        count           INTEGER NOT NULL DEFAULT 1,
        resolved_at     INTEGER,
        acknowledged_at INTEGER
    );
    CREATE UNIQUE INDEX warnings_open ON warnings(subject, kind) WHERE resolved_at IS NULL;

    -- Folders a run started writing into, per destination: swept for leftovers of
    -- interrupted puts before the next run writes there.
    CREATE TABLE write_journal (
        dest   TEXT NOT NULL,
        folder BLOB NOT NULL,
        PRIMARY KEY (dest, folder)
    ) WITHOUT ROWID;
    "#,
    // 2: how each copy was proven (read back from the device, a store's checksum …).
    r#"
    ALTER TABLE copies ADD COLUMN verified_by TEXT;
    "#,
    // 3: the BLAKE3 hash of a copy's bytes as stored, where they differ from the photo's
    // (age-encrypted destinations): checkable without the key.
    r#"
    ALTER TABLE copies ADD COLUMN stored_hash BLOB;
    "#,
    // 4: GRID. The change log every node keeps and its peers pull (its own changes and
    // those relayed from others, each under its origin), the newest record of each
    // origin and subject, what each peer was last pulled up to, and which photos were
    // handed to which peer. Triggers note every photo whose files or copies change, so
    // that no code path can change a photo without it being published.
    r#"
    CREATE TABLE grid_changes (
        seq        INTEGER PRIMARY KEY,
        origin     TEXT NOT NULL,
        origin_seq INTEGER NOT NULL,
        record     TEXT NOT NULL,
        UNIQUE (origin, origin_seq)
    );

    -- subject: a photo's BLAKE3 hash, or X'' for the origin node's own record. The
    -- record itself is the change's (change_seq), not a second copy.
    CREATE TABLE grid_records (
        origin     TEXT NOT NULL,
        subject    BLOB NOT NULL,
        origin_seq INTEGER NOT NULL,
        present    INTEGER NOT NULL,
        first_seen INTEGER NOT NULL,
        change_seq INTEGER NOT NULL REFERENCES grid_changes(seq),
        PRIMARY KEY (origin, subject)
    ) WITHOUT ROWID;
    CREATE INDEX grid_records_subject ON grid_records(subject, present);

    CREATE TABLE grid_peer_state (
        url          TEXT PRIMARY KEY,
        node_id      TEXT,
        pulled_seq   INTEGER NOT NULL DEFAULT 0,
        last_contact INTEGER,
        last_error   TEXT,
        error_at     INTEGER
    );

    CREATE TABLE grid_sent (
        peer TEXT NOT NULL,
        hash BLOB NOT NULL,
        at   INTEGER NOT NULL,
        PRIMARY KEY (peer, hash)
    ) WITHOUT ROWID;

    CREATE TABLE grid_dirty (photo_id INTEGER PRIMARY KEY);
    INSERT INTO grid_dirty SELECT id FROM photos;
    -- No OR IGNORE in these bodies: an outer upsert overrides a trigger's conflict
    -- clause, so the insert would fail the statement. NOT EXISTS never conflicts.
    CREATE TRIGGER grid_photo_new AFTER INSERT ON photos BEGIN
        INSERT INTO grid_dirty SELECT NEW.id
        WHERE NOT EXISTS (SELECT 1 FROM grid_dirty WHERE photo_id = NEW.id);
    END;
    CREATE TRIGGER grid_file_new AFTER INSERT ON files BEGIN
        INSERT INTO grid_dirty SELECT NEW.photo_id
        WHERE NOT EXISTS (SELECT 1 FROM grid_dirty WHERE photo_id = NEW.photo_id);
    END;
    CREATE TRIGGER grid_file_changed AFTER UPDATE OF photo_id, present, path ON files BEGIN
        INSERT INTO grid_dirty SELECT NEW.photo_id
        WHERE NOT EXISTS (SELECT 1 FROM grid_dirty WHERE photo_id = NEW.photo_id);
        INSERT INTO grid_dirty SELECT OLD.photo_id
        WHERE NOT EXISTS (SELECT 1 FROM grid_dirty WHERE photo_id = OLD.photo_id);
    END;
    CREATE TRIGGER grid_file_gone AFTER DELETE ON files BEGIN
        INSERT INTO grid_dirty SELECT OLD.photo_id
        WHERE NOT EXISTS (SELECT 1 FROM grid_dirty WHERE photo_id = OLD.photo_id);
    END;
    CREATE TRIGGER grid_copy_new AFTER INSERT ON copies BEGIN
        INSERT INTO grid_dirty SELECT NEW.photo_id
        WHERE NOT EXISTS (SELECT 1 FROM grid_dirty WHERE photo_id = NEW.photo_id);
    END;
    CREATE TRIGGER grid_copy_changed AFTER UPDATE OF state ON copies BEGIN
        INSERT INTO grid_dirty SELECT NEW.photo_id
        WHERE NOT EXISTS (SELECT 1 FROM grid_dirty WHERE photo_id = NEW.photo_id);
    END;
    CREATE TRIGGER grid_copy_gone AFTER DELETE ON copies BEGIN
        INSERT INTO grid_dirty SELECT OLD.photo_id
        WHERE NOT EXISTS (SELECT 1 FROM grid_dirty WHERE photo_id = OLD.photo_id);
    END;
    "#,
    // 5: versions. What each library path held and when (kept by triggers, so that no
    // code path can change a file without its history), changes held back for a
    // person (possible bit rot, the mass-change guard), the libraries' snapshots, and
    // a lookup of the copy at a destination key. Times are Unix milliseconds.
    r#"
    CREATE TABLE file_history (
        id       INTEGER PRIMARY KEY,
        library  TEXT NOT NULL,
        path     BLOB NOT NULL,
        photo_id INTEGER NOT NULL REFERENCES photos(id),
        mtime_ns INTEGER NOT NULL,
        since    INTEGER NOT NULL,
        until    INTEGER
    );
    CREATE INDEX file_history_path ON file_history(library, path, since);
    CREATE INDEX file_history_photo ON file_history(photo_id);
    INSERT INTO file_history(library, path, photo_id, mtime_ns, since, until)
        SELECT f.library, f.path, f.photo_id, f.mtime_ns, p.first_seen * 1000,
               CASE WHEN f.present THEN NULL ELSE CAST(unixepoch('subsec') * 1000 AS INTEGER) END
        FROM files f JOIN photos p ON p.id = f.photo_id;
    CREATE TRIGGER history_file_new AFTER INSERT ON files WHEN NEW.present BEGIN
        INSERT INTO file_history(library, path, photo_id, mtime_ns, since)
        VALUES (NEW.library, NEW.path, NEW.photo_id, NEW.mtime_ns,
                CAST(unixepoch('subsec') * 1000 AS INTEGER));
    END;
    CREATE TRIGGER history_file_changed AFTER UPDATE OF photo_id, present ON files
    WHEN OLD.present <> NEW.present OR OLD.photo_id <> NEW.photo_id BEGIN
        UPDATE file_history SET until = CAST(unixepoch('subsec') * 1000 AS INTEGER)
        WHERE library = OLD.library AND path = OLD.path AND until IS NULL;
        INSERT INTO file_history(library, path, photo_id, mtime_ns, since)
        SELECT NEW.library, NEW.path, NEW.photo_id, NEW.mtime_ns,
               CAST(unixepoch('subsec') * 1000 AS INTEGER)
        WHERE NEW.present;
    END;
    CREATE TRIGGER history_file_touched AFTER UPDATE OF mtime_ns ON files
    WHEN NEW.present AND OLD.present AND NEW.photo_id = OLD.photo_id AND NEW.mtime_ns >= 0
    BEGIN
        UPDATE file_history SET mtime_ns = NEW.mtime_ns
        WHERE library = NEW.library AND path = NEW.path AND until IS NULL;
    END;
    CREATE TRIGGER history_file_gone AFTER DELETE ON files BEGIN
        UPDATE file_history SET until = CAST(unixepoch('subsec') * 1000 AS INTEGER)
        WHERE library = OLD.library AND path = OLD.path AND until IS NULL;
    END;

    ALTER TABLE files ADD COLUMN held_photo_id INTEGER REFERENCES photos(id);
    ALTER TABLE files ADD COLUMN held_reason TEXT;
    ALTER TABLE files ADD COLUMN held_at INTEGER;

    CREATE TABLE snapshots (
        id      INTEGER PRIMARY KEY,
        library TEXT NOT NULL,
        at      INTEGER NOT NULL,
        run     TEXT,
        files   INTEGER NOT NULL,
        bytes   INTEGER NOT NULL
    );
    CREATE INDEX snapshots_library ON snapshots(library, at);

    CREATE INDEX copies_dest_path ON copies(dest, path);

    -- When prune removed a photo's copies under a retention policy.
    ALTER TABLE photos ADD COLUMN pruned_at INTEGER;
    "#,
    // 6: the truth of the verdict. The device behind each library and destination as
    // last seen (so that a disk away in a drawer is still known), the library files
    // that could not be read (each a photo at risk until it is), and how many files
    // each library's include rules left out at its last scan.
    r#"
    CREATE TABLE devices (
        place   TEXT PRIMARY KEY,
        device  TEXT NOT NULL,
        label   TEXT NOT NULL,
        seen_at INTEGER NOT NULL
    );

    CREATE TABLE unreadable (
        library  TEXT NOT NULL,
        path     BLOB NOT NULL,
        reason   TEXT NOT NULL,
        is_dir   INTEGER NOT NULL DEFAULT 0,
        first_at INTEGER NOT NULL,
        last_at  INTEGER NOT NULL,
        PRIMARY KEY (library, path)
    ) WITHOUT ROWID;

    CREATE TABLE left_out (
        library TEXT PRIMARY KEY,
        files   INTEGER NOT NULL,
        example BLOB,
        at      INTEGER NOT NULL
    );
    "#,
    // 7: what card ingest brought into a library, so that putting a card back does not
    // undo culling: a card file (by the card's device and its path there, and its
    // content) and the library file it became.
    r#"
    CREATE TABLE ingested (
        card         TEXT NOT NULL,
        card_path    BLOB NOT NULL,
        hash         BLOB NOT NULL,
        library      TEXT NOT NULL,
        library_path BLOB NOT NULL,
        at           INTEGER NOT NULL,
        PRIMARY KEY (card, card_path, hash)
    ) WITHOUT ROWID;
    "#,
    // 8: a file's kind and capture time are its own, from its name and its metadata,
    // not those of another file that holds the same bytes (three empty files are an
    // image, a sidecar and a clip). photos keeps the first name's, for counts.
    r#"
    ALTER TABLE files ADD COLUMN captured TEXT;
    ALTER TABLE files ADD COLUMN captured_from TEXT;
    ALTER TABLE files ADD COLUMN kind TEXT;
    UPDATE files SET captured = p.captured, captured_from = p.captured_from, kind = p.kind
      FROM photos p WHERE p.id = files.photo_id;
    "#,
    // 9: every name is a file (invariant 10). A content with several library names is
    // stored once per destination (its copy) and each name is also a file there: a
    // hard link to the copy, or a copy of it. key is where the name's file is (the
    // copy's own key for the name the copy was written under); manifest, the run whose
    // manifest lists it (NULL: not listed yet).
    r#"
    CREATE TABLE aliases (
        dest        TEXT NOT NULL,
        file_id     INTEGER NOT NULL REFERENCES files(id),
        photo_id    INTEGER NOT NULL REFERENCES photos(id),
        key         BLOB NOT NULL,
        verified_at INTEGER NOT NULL,
        manifest    TEXT,
        stored_hash BLOB,
        PRIMARY KEY (dest, file_id)
    ) WITHOUT ROWID;
    CREATE INDEX aliases_unlisted ON aliases(dest) WHERE manifest IS NULL;
    "#,
    // 10: the history of library names, listed at each destination: each stretch that
    // ended (a name edited or deleted) goes into that destination's next manifest
    // once, so that a catalog rebuilt from it knows what each name held when.
    r#"
    CREATE TABLE history_listed (
        dest       TEXT NOT NULL,
        history_id INTEGER NOT NULL,
        manifest   TEXT NOT NULL,
        PRIMARY KEY (dest, history_id)
    ) WITHOUT ROWID;
    CREATE INDEX file_history_ended ON file_history(until) WHERE until IS NOT NULL;
    "#,
    // 11: alerts: each problem worth a message, from when it was first seen, and
    // whether its message went out, so that a restart neither repeats nor forgets one.
    r#"
    CREATE TABLE alerts (
        key          TEXT PRIMARY KEY,
        kind         TEXT NOT NULL,
        severity     TEXT NOT NULL,
        title        TEXT NOT NULL,
        message      TEXT NOT NULL,
        advice       TEXT NOT NULL,
        count        INTEGER NOT NULL,
        first_seen   INTEGER NOT NULL,
        announced_at INTEGER
    ) WITHOUT ROWID;
    "#,
];

#[cfg(test)]
mod tests {
    use super::MIGRATIONS;
    use crate::catalog::Catalog;

    /// A catalog left at every earlier schema version, holding a photo under two names
    /// and a verified copy of it, opens at the newest with all of that intact.
    #[test]
    fn a_populated_catalog_of_every_earlier_version_opens_with_its_contents() {
        for version in 1..=MIGRATIONS.len() {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("catalog.db");
            {
                let conn = rusqlite::Connection::open(&path).unwrap();
                for m in &MIGRATIONS[..version] {
                    conn.execute_batch(m).unwrap();
                }
                conn.pragma_update(None, "user_version", version as i64)
                    .unwrap();
                // Written with the columns of the first version, which every later
                // one keeps.
                conn.execute_batch(
                    "INSERT INTO photos(id, hash, size, captured, captured_from, kind, first_seen)
                       VALUES (1, zeroblob(32), 5, '2024-05-17T10:00:00', 'exif', 'image', 1);
                     INSERT INTO files(library, path, photo_id, size, mtime_ns, inode)
                       VALUES ('library', CAST('2024/IMG_0001.JPG' AS BLOB), 1, 5, 7, 1),
                              ('library', CAST('Selects/best.JPG' AS BLOB), 1, 5, 7, 2);
                     INSERT INTO copies(photo_id, dest, path, state, verified_at, updated_at)
                       VALUES (1, 'usb-id', CAST('2024/2024-05-17/IMG_0001.JPG' AS BLOB),
                               'verified', 2, 2);",
                )
                .unwrap();
            }
            let catalog = Catalog::open(&path)
                .unwrap_or_else(|e| panic!("a catalog of version {version} opens: {e}"));
            let names: Vec<String> = catalog
                .names_to_restore()
                .unwrap()
                .into_iter()
                .map(|n| n.path.to_string())
                .collect();
            assert_eq!(
                names,
                ["2024/IMG_0001.JPG", "Selects/best.JPG"],
                "version {version}"
            );
            let copies = catalog.copies_at("usb-id").unwrap();
            assert_eq!(copies.len(), 1, "version {version}");
            assert_eq!(copies[0].state, "verified", "version {version}");
        }
    }
}
