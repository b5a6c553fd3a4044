//! GRID state: the change log, the newest record of each origin and subject, the
//! peers' pull positions and the photos handed to each peer (schema migration 4).
//!
//! The catalog stores and compares records as JSON text; what a record says is
//! [`crate::grid`]'s business.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::*;

/// A photo as this node sees it, to be published as a GRID record.
#[derive(Debug, Clone)]
pub struct PhotoView {
    pub photo_id: i64,
    pub hash: ContentHash,
    pub size: u64,
    pub captured: String,
    pub kind: String,
    pub first_seen: i64,
    /// (library, path, present) for every name the photo has or had.
    pub names: Vec<(String, RelPath, bool)>,
    /// (destination id, state) for every copy.
    pub copies: Vec<(String, String)>,
}

/// A record to store under an origin: its subject (a photo's hash, or empty for the
/// node itself), whether the origin holds the photo, since when, and the JSON.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordRow {
    pub subject: Vec<u8>,
    pub present: bool,
    pub first_seen: i64,
    pub record: String,
}

/// One entry of a change log.
#[derive(Debug, Clone)]
pub struct ChangeRow {
    pub seq: i64,
    pub origin: String,
    pub origin_seq: i64,
    pub record: String,
}

/// The newest record of one origin about one subject.
#[derive(Debug, Clone)]
pub struct StoredRecord {
    pub origin: String,
    pub subject: Vec<u8>,
    pub present: bool,
    pub first_seen: i64,
    pub record: String,
}

/// What this node knows of a peer's feed.
#[derive(Debug, Clone, Default)]
pub struct PeerState {
    pub node_id: Option<String>,
    pub pulled_seq: i64,
    pub last_contact: Option<i64>,
    pub last_error: Option<String>,
    pub error_at: Option<i64>,
}

/// A photo of this node to send to a peer, with a name to read it from.
#[derive(Debug, Clone)]
pub struct PhotoToSend {
    pub hash: ContentHash,
    pub size: u64,
    pub captured: String,
    pub library: String,
    pub path: RelPath,
}

/// Appends `row` to the log as origin `origin`'s next change, unless the newest record
/// of that subject says the same. Returns whether it was appended.
fn append_own(
    tx: &rusqlite::Transaction<'_>,
    origin: &str,
    row: &RecordRow,
) -> rusqlite::Result<bool> {
    let current: Option<String> = tx
        .prepare_cached(
            "SELECT c.record FROM grid_records r JOIN grid_changes c ON c.seq = r.change_seq
             WHERE r.origin = ?1 AND r.subject = ?2",
        )?
        .query_row(params![origin, row.subject], |r| r.get(0))
        .optional()?;
    if current.as_deref() == Some(row.record.as_str()) {
        return Ok(false);
    }
    let origin_seq: i64 = tx
        .prepare_cached(
            "SELECT COALESCE(MAX(origin_seq), 0) + 1 FROM grid_changes WHERE origin = ?1",
        )?
        .query_row([origin], |r| r.get(0))?;
    tx.prepare_cached("INSERT INTO grid_changes(origin, origin_seq, record) VALUES (?1, ?2, ?3)")?
        .execute(params![origin, origin_seq, row.record])?;
    store_record(tx, origin, origin_seq, tx.last_insert_rowid(), row)?;
    Ok(true)
}

/// Keeps `row` (logged as change `change_seq`) as the newest record of (origin,
/// subject) unless a newer one is there.
fn store_record(
    tx: &rusqlite::Transaction<'_>,
    origin: &str,
    origin_seq: i64,
    change_seq: i64,
    row: &RecordRow,
) -> rusqlite::Result<()> {
    tx.prepare_cached(
        "INSERT INTO grid_records(origin, subject, origin_seq, present, first_seen, change_seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(origin, subject) DO UPDATE SET
           origin_seq = excluded.origin_seq, present = excluded.present,
           first_seen = excluded.first_seen, change_seq = excluded.change_seq
         WHERE excluded.origin_seq > grid_records.origin_seq",
    )?
    .execute(params![
        origin,
        row.subject,
        origin_seq,
        row.present,
        row.first_seen,
        change_seq
    ])?;
    Ok(())
}

fn photo_view(
    tx: &rusqlite::Transaction<'_>,
    photo_id: i64,
) -> rusqlite::Result<Option<PhotoView>> {
    let photo = tx
        .prepare_cached("SELECT hash, size, captured, kind, first_seen FROM photos WHERE id = ?1")?
        .query_row([photo_id], |r| {
            Ok(PhotoView {
                photo_id,
                hash: hash_from(r.get(0)?),
                size: r.get::<_, i64>(1)? as u64,
                captured: r.get(2)?,
                kind: r.get(3)?,
                first_seen: r.get(4)?,
                names: Vec::new(),
                copies: Vec::new(),
            })
        })
        .optional()?;
    let Some(mut view) = photo else {
        return Ok(None);
    };
    let mut names = tx.prepare_cached(
        "SELECT library, path, present FROM files WHERE photo_id = ?1 ORDER BY library, path",
    )?;
    view.names = names
        .query_map([photo_id], |r| Ok((r.get(0)?, rel(r.get(1)?)?, r.get(2)?)))?
        .collect::<rusqlite::Result<_>>()?;
    let mut copies =
        tx.prepare_cached("SELECT dest, state FROM copies WHERE photo_id = ?1 ORDER BY dest")?;
    view.copies = copies
        .query_map([photo_id], |r| Ok((r.get(0)?, r.get(1)?)))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Some(view))
}

impl Catalog {
    /// A transaction that takes the write lock up front, so that a read followed by a
    /// write cannot be overtaken by another process's write.
    fn tx_immediate<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T> {
        self.with(|conn| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
    }

    /// This node's GRID id, created the first time it is asked for.
    pub fn grid_node_id(&self) -> Result<String> {
        let known: Option<String> = self.with(|c| {
            c.query_row("SELECT value FROM meta WHERE key = 'node_id'", [], |r| {
                r.get(0)
            })
            .optional()
        })?;
        if let Some(id) = known {
            return Ok(id);
        }
        self.tx_immediate(|tx| {
            let id: Option<String> = tx
                .query_row("SELECT value FROM meta WHERE key = 'node_id'", [], |r| {
                    r.get(0)
                })
                .optional()?;
            match id {
                Some(id) => Ok(id),
                None => {
                    let id = uuid::Uuid::new_v4().to_string();
                    tx.execute("INSERT INTO meta(key, value) VALUES ('node_id', ?1)", [&id])?;
                    Ok(id)
                }
            }
        })
    }

    /// Publishes up to `limit` photos whose files or copies changed since they were
    /// last published: `build` turns each into its record, which is appended to the
    /// log as `origin`'s next change when it differs from the last one. Returns
    /// (photos looked at, changes appended).
    pub fn grid_publish_photos(
        &self,
        origin: &str,
        limit: usize,
        build: impl Fn(&PhotoView) -> RecordRow,
    ) -> Result<(usize, usize)> {
        self.tx_immediate(|tx| {
            let ids: Vec<i64> = tx
                .prepare_cached("SELECT photo_id FROM grid_dirty ORDER BY photo_id LIMIT ?1")?
                .query_map([limit as i64], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let mut appended = 0;
            for &id in &ids {
                if let Some(view) = photo_view(tx, id)?
                    && append_own(tx, origin, &build(&view))?
                {
                    appended += 1;
                }
                tx.prepare_cached("DELETE FROM grid_dirty WHERE photo_id = ?1")?
                    .execute([id])?;
            }
            Ok((ids.len(), appended))
        })
    }

    /// Publishes a record that is not about a photo (the node's own); returns whether it
    /// changed.
    pub fn grid_publish_record(&self, origin: &str, row: &RecordRow) -> Result<bool> {
        self.tx_immediate(|tx| append_own(tx, origin, row))
    }

    /// The log after `since`, oldest first: at most `limit` entries and, beyond the
    /// first, at most `max_bytes` of records. Also returns the newest seq.
    pub fn grid_changes_since(
        &self,
        since: i64,
        limit: usize,
        max_bytes: usize,
    ) -> Result<(Vec<ChangeRow>, i64)> {
        self.with(|c| {
            let latest: i64 =
                c.query_row("SELECT COALESCE(MAX(seq), 0) FROM grid_changes", [], |r| {
                    r.get(0)
                })?;
            let mut stmt = c.prepare_cached(
                "SELECT seq, origin, origin_seq, record FROM grid_changes
                 WHERE seq > ?1 ORDER BY seq LIMIT ?2",
            )?;
            let mut rows = stmt.query(params![since, limit as i64])?;
            let mut out = Vec::new();
            let mut bytes = 0;
            while let Some(r) = rows.next()? {
                let row = ChangeRow {
                    seq: r.get(0)?,
                    origin: r.get(1)?,
                    origin_seq: r.get(2)?,
                    record: r.get(3)?,
                };
                bytes += row.record.len() + row.origin.len() + 64;
                if !out.is_empty() && bytes > max_bytes {
                    break;
                }
                out.push(row);
            }
            Ok((out, latest))
        })
    }

    /// The record `origin` published as its change `origin_seq`, and its newest seq.
    pub fn grid_change_of(&self, origin: &str, origin_seq: i64) -> Result<(Option<String>, i64)> {
        self.with(|c| {
            let record = c
                .query_row(
                    "SELECT record FROM grid_changes WHERE origin = ?1 AND origin_seq = ?2",
                    params![origin, origin_seq],
                    |r| r.get(0),
                )
                .optional()?;
            let newest = c.query_row(
                "SELECT COALESCE(MAX(origin_seq), 0) FROM grid_changes WHERE origin = ?1",
                [origin],
                |r| r.get(0),
            )?;
            Ok((record, newest))
        })
    }

    /// Every origin the log holds records of (a skip-scan of the records' key: one
    /// lookup per origin, not one per record).
    pub fn grid_origins(&self) -> Result<Vec<String>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "WITH RECURSIVE o(origin) AS (
                   SELECT MIN(origin) FROM grid_records
                   UNION ALL
                   SELECT (SELECT MIN(origin) FROM grid_records WHERE origin > o.origin)
                   FROM o WHERE o.origin IS NOT NULL
                 )
                 SELECT origin FROM o WHERE origin IS NOT NULL",
            )?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect()
        })
    }

    /// Which of these (origin, origin_seq) changes the log holds already.
    pub fn grid_known_changes(&self, changes: &[(&str, i64)]) -> Result<Vec<bool>> {
        // One read transaction for the lot, not one per change.
        self.tx(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT EXISTS (SELECT 1 FROM grid_changes WHERE origin = ?1 AND origin_seq = ?2)",
            )?;
            changes
                .iter()
                .map(|(origin, seq)| stmt.query_row(params![origin, seq], |r| r.get(0)))
                .collect()
        })
    }

    /// Stores changes pulled from the peer at `url` (node `node_id`) and moves its pull
    /// position to `next`, in one transaction: an interrupted pull is simply repeated.
    /// A change already here (by origin and origin_seq) is skipped; a record replaces
    /// an older one of the same origin and subject only. Returns how many were new.
    pub fn grid_merge(
        &self,
        url: &str,
        node_id: &str,
        changes: &[(String, i64, RecordRow)],
        next: i64,
    ) -> Result<usize> {
        let at = now();
        self.tx_immediate(|tx| {
            let mut added = 0;
            for (origin, origin_seq, row) in changes {
                let inserted = tx
                    .prepare_cached(
                        "INSERT OR IGNORE INTO grid_changes(origin, origin_seq, record)
                         VALUES (?1, ?2, ?3)",
                    )?
                    .execute(params![origin, origin_seq, row.record])?;
                if inserted == 1 {
                    store_record(tx, origin, *origin_seq, tx.last_insert_rowid(), row)?;
                    added += 1;
                }
            }
            tx.prepare_cached(
                "INSERT INTO grid_peer_state(url, node_id, pulled_seq, last_contact)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(url) DO UPDATE SET node_id = excluded.node_id,
                   pulled_seq = excluded.pulled_seq, last_contact = excluded.last_contact,
                   last_error = NULL, error_at = NULL",
            )?
            .execute(params![url, node_id, next, at])?;
            Ok(added)
        })
    }

    /// Notes that the peer at `url` could not be reached or refused us.
    pub fn grid_peer_failed(&self, url: &str, message: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO grid_peer_state(url, last_error, error_at) VALUES (?1, ?2, ?3)
                 ON CONFLICT(url) DO UPDATE SET last_error = excluded.last_error,
                   error_at = excluded.error_at",
                params![url, message, now()],
            )
            .map(drop)
        })
    }

    /// What this node knows of each peer's feed, by URL.
    pub fn grid_peer_states(&self) -> Result<HashMap<String, PeerState>> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT url, node_id, pulled_seq, last_contact, last_error, error_at
                 FROM grid_peer_state",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get(0)?,
                    PeerState {
                        node_id: r.get(1)?,
                        pulled_seq: r.get(2)?,
                        last_contact: r.get(3)?,
                        last_error: r.get(4)?,
                        error_at: r.get(5)?,
                    },
                ))
            })?;
            rows.collect()
        })
    }

    /// Forgets what was known of the peer at `url` (its records stay: they are facts
    /// about photos, and its origin may be reached through other peers).
    pub fn grid_forget_peer(&self, url: &str) -> Result<()> {
        self.with(|c| {
            c.execute("DELETE FROM grid_peer_state WHERE url = ?1", [url])
                .map(drop)
        })
    }

    /// This node's photos that node `peer` does not hold and was not given yet, oldest
    /// capture first, each with one present library name (outside `except_library`).
    pub fn grid_photos_to_send(
        &self,
        peer: &str,
        except_library: Option<&str>,
        limit: usize,
    ) -> Result<Vec<PhotoToSend>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT p.hash, p.size, p.captured,
                        (SELECT f.library FROM files f
                          WHERE f.photo_id = p.id AND f.present = 1 AND f.library IS NOT ?2
                          ORDER BY f.library, f.path LIMIT 1),
                        (SELECT f.path FROM files f
                          WHERE f.photo_id = p.id AND f.present = 1 AND f.library IS NOT ?2
                          ORDER BY f.library, f.path LIMIT 1)
                 FROM photos p
                 WHERE EXISTS (SELECT 1 FROM files f WHERE f.photo_id = p.id
                               AND f.present = 1 AND f.library IS NOT ?2)
                   AND NOT EXISTS (SELECT 1 FROM grid_records r WHERE r.subject = p.hash
                                   AND r.origin = ?1 AND r.present = 1)
                   AND NOT EXISTS (SELECT 1 FROM grid_sent s WHERE s.peer = ?1
                                   AND s.hash = p.hash)
                 ORDER BY p.captured, p.id LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![peer, except_library, limit as i64], |r| {
                Ok(PhotoToSend {
                    hash: hash_from(r.get(0)?),
                    size: r.get::<_, i64>(1)? as u64,
                    captured: r.get(2)?,
                    library: r.get(3)?,
                    path: rel(r.get(4)?)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Notes that node `peer` holds the photo with this content (it said so when we
    /// offered it), so it is not offered again.
    pub fn grid_mark_sent(&self, peer: &str, hash: &ContentHash) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO grid_sent(peer, hash, at) VALUES (?1, ?2, ?3)",
                params![peer, &hash.0[..], now()],
            )
            .map(drop)
        })
    }

    /// Every newest record, of every origin.
    pub fn grid_records(&self) -> Result<Vec<StoredRecord>> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT r.origin, r.subject, r.present, r.first_seen, c.record
                 FROM grid_records r JOIN grid_changes c ON c.seq = r.change_seq",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(StoredRecord {
                    origin: r.get(0)?,
                    subject: r.get(1)?,
                    present: r.get(2)?,
                    first_seen: r.get(3)?,
                    record: r.get(4)?,
                })
            })?;
            rows.collect()
        })
    }

    /// How many records of photos each origin has here (present or not).
    pub fn grid_record_counts(&self) -> Result<HashMap<String, u64>> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT origin, COUNT(*) FROM grid_records WHERE length(subject) > 0 GROUP BY origin",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
            rows.collect()
        })
    }

    /// Photos whose changes are not yet published.
    pub fn grid_unpublished(&self) -> Result<u64> {
        self.with(|c| {
            c.query_row("SELECT COUNT(*) FROM grid_dirty", [], |r| {
                r.get::<_, i64>(0).map(|n| n as u64)
            })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// A change: (origin, its sequence number there, subject, present).
    type Change = (u8, i64, u8, bool);

    fn row((origin, seq, subject, present): Change) -> (String, i64, RecordRow) {
        (
            format!("node-{origin}"),
            seq,
            RecordRow {
                subject: vec![subject],
                present,
                first_seen: seq,
                record: format!("{origin}/{seq}/{subject}/{present}"),
            },
        )
    }

    fn records(catalog: &Catalog) -> Vec<(String, Vec<u8>, bool, String)> {
        let mut out: Vec<_> = catalog
            .grid_records()
            .unwrap()
            .into_iter()
            .map(|r| (r.origin, r.subject, r.present, r.record))
            .collect();
        out.sort();
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(32))]

        /// Whatever order changes arrive in, in however many pulls, and however often
        /// a change comes again, every node ends with the same records: for each origin
        /// and subject, the change with the highest sequence number there.
        #[test]
        fn merging_is_independent_of_order_batches_and_repeats(
            changes in proptest::collection::btree_map((0u8..3, 1i64..40), (0u8..4, any::<bool>()), 1..40),
            split in 0usize..40,
        ) {
            let changes: Vec<Change> = changes
                .into_iter()
                .map(|((origin, seq), (subject, present))| (origin, seq, subject, present))
                .collect();
            let dir = tempfile::tempdir().unwrap();
            let one = Catalog::open(&dir.path().join("one.db")).unwrap();
            let two = Catalog::open(&dir.path().join("two.db")).unwrap();
            let rows: Vec<_> = changes.iter().copied().map(row).collect();
            one.grid_merge("http://peer", "peer", &rows, 1).unwrap();
            // The other node: the changes backwards, in two pulls that overlap.
            let mut backwards = rows.clone();
            backwards.reverse();
            let at = split.min(backwards.len());
            two.grid_merge("http://peer", "peer", &backwards[..at], 1).unwrap();
            two.grid_merge("http://peer", "peer", &backwards, 2).unwrap();
            prop_assert_eq!(records(&one), records(&two));
            // Each record is its origin and subject's newest change.
            for (origin, subject, present, record) in records(&one) {
                let newest = changes
                    .iter()
                    .filter(|c| format!("node-{}", c.0) == origin && vec![c.2] == subject)
                    .max_by_key(|c| c.1)
                    .unwrap();
                prop_assert_eq!(present, newest.3);
                prop_assert_eq!(record, row(*newest).2.record);
            }
        }
    }
}
