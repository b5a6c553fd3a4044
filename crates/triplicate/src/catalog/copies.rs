//! Copies: what each destination should receive, holds, and holds damaged; the
//! 3-2-1 inputs. Rebuilding copies from manifests is in [`super::rebuilt`].

use rusqlite::{OptionalExtension, params};

use std::collections::HashMap;

use super::*;
use crate::destination::Stored;

/// The stored hash column of a copy stored as `stored`.
fn stored_blob(stored: Stored) -> Option<Vec<u8>> {
    match stored {
        Stored::AsGiven => None,
        Stored::Transformed { hash, .. } => Some(hash.0.to_vec()),
    }
}

/// A [`CopyRow`] from `c.photo_id, c.path, p.hash, p.size, c.state, c.verified_at,
/// c.stored_hash`.
fn copy_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<CopyRow> {
    Ok(CopyRow {
        photo_id: r.get(0)?,
        key: rel(r.get(1)?)?,
        hash: hash_from(r.get(2)?),
        size: r.get::<_, i64>(3)? as u64,
        state: r.get(4)?,
        verified_at: r.get(5)?,
        stored_hash: r.get::<_, Option<Vec<u8>>>(6)?.map(hash_from),
    })
}

/// How old the proofs of a destination's copies are (see [`Catalog::proof_ages`]).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ProofAges {
    pub copies: u64,
    /// Last proven before the first time asked.
    pub older: u64,
    /// Last proven before the second time asked.
    pub older_soon: u64,
}

/// Photos deleted from the library: how many, their bytes, how many have a verified
/// copy somewhere, and how many verified copies each destination (by id) keeps.
#[derive(Debug, Clone, Default)]
pub struct DeletedPhotos {
    pub photos: u64,
    pub bytes: u64,
    pub kept: u64,
    pub by_dest: Vec<(String, u64)>,
}

impl Catalog {
    // ---- backing up --------------------------------------------------------------

    /// Photos present in a library that have no verified copy at `dest`, oldest
    /// capture first, each with one library name to read it from.
    pub fn photos_to_copy(&self, dest: &str) -> Result<Vec<PendingPhoto>> {
        self.pending(dest, None, true)
    }

    /// The same, leaving out photos whose last attempt at `dest` failed for a reason
    /// that needs a person (the service does not retry those forever).
    pub fn photos_to_copy_unattended(&self, dest: &str) -> Result<Vec<PendingPhoto>> {
        self.pending(dest, None, false)
    }

    /// The same for one photo: `None` when `dest` holds it verified already (or it is
    /// no longer in a library).
    pub fn photo_to_copy(&self, dest: &str, photo_id: i64) -> Result<Option<PendingPhoto>> {
        Ok(self.pending(dest, Some(photo_id), true)?.into_iter().next())
    }

    fn pending(
        &self,
        dest: &str,
        only: Option<i64>,
        with_permanent_failures: bool,
    ) -> Result<Vec<PendingPhoto>> {
        // One pass over present files with a primary-key probe into copies; a photo
        // with several names comes once, from its first name.
        const SELECT: &str = "SELECT p.id, p.hash, p.size, COALESCE(f.captured, p.captured),
                    COALESCE(f.kind, p.kind), f.library, f.path, c.path, c.state
             FROM files f
             LEFT JOIN copies c ON c.photo_id = f.photo_id AND c.dest = ?1
             JOIN photos p ON p.id = f.photo_id
             WHERE f.present = 1 AND (c.state IS NULL OR c.state <> 'verified')";
        let skip = if with_permanent_failures {
            ""
        } else {
            " AND NOT (c.state IS NOT NULL AND c.state = 'failed' AND c.error_class = 'permanent')"
        };
        self.with(|c| {
            let mut stmt;
            let rows = match only {
                None => {
                    stmt = c.prepare_cached(&format!(
                        "{SELECT}{skip} ORDER BY p.captured, p.id, f.id"
                    ))?;
                    stmt.query(params![dest])?
                }
                Some(id) => {
                    stmt = c.prepare_cached(&format!(
                        "{SELECT}{skip} AND f.photo_id = ?2 ORDER BY f.id"
                    ))?;
                    stmt.query(params![dest, id])?
                }
            };
            let rows = rows.mapped(|r| {
                Ok(PendingPhoto {
                    photo_id: r.get(0)?,
                    hash: hash_from(r.get(1)?),
                    size: r.get::<_, i64>(2)? as u64,
                    captured: r.get(3)?,
                    kind: PhotoKind::parse(&r.get::<_, String>(4)?).unwrap_or(PhotoKind::Other),
                    library: r.get(5)?,
                    path: rel(r.get(6)?)?,
                    previous_key: r.get::<_, Option<Vec<u8>>>(7)?.map(rel).transpose()?,
                    previous_corrupt: r.get::<_, Option<String>>(8)?.as_deref() == Some("corrupt"),
                })
            });
            let mut out: Vec<PendingPhoto> = Vec::new();
            for row in rows {
                let row = row?;
                if out.last().is_none_or(|last| last.photo_id != row.photo_id) {
                    out.push(row);
                }
            }
            Ok(out)
        })
    }

    /// A copy was proven at `dest` (how: `verified_by`) and its hash matched; `stored`
    /// says how its bytes are stored.
    pub fn record_copy_verified(
        &self,
        photo_id: i64,
        dest: &str,
        key: &RelPath,
        stored: Stored,
        verified_by: &str,
        op: &Operation<'_>,
    ) -> Result<()> {
        let at = now();
        self.tx(|tx| {
            tx.execute(
                "INSERT INTO copies(photo_id, dest, path, state, verified_at, attempts, updated_at, verified_by, stored_hash)
                 VALUES (?1, ?2, ?3, 'verified', ?4, 1, ?4, ?5, ?6)
                 ON CONFLICT(photo_id, dest) DO UPDATE SET
                   path = excluded.path, state = 'verified', verified_at = excluded.verified_at,
                   error = NULL, error_class = NULL, attempts = attempts + 1,
                   updated_at = excluded.updated_at, manifest = NULL,
                   verified_by = excluded.verified_by, stored_hash = excluded.stored_hash",
                params![photo_id, dest, key.as_bytes(), at, verified_by, stored_blob(stored)],
            )?;
            insert_operation(tx, at, op)
        })
    }

    /// A copy could not be made or did not verify.
    pub fn record_copy_failed(
        &self,
        photo_id: i64,
        dest: &str,
        key: Option<&RelPath>,
        error: &str,
        class: &str,
        op: &Operation<'_>,
    ) -> Result<()> {
        let at = now();
        self.tx(|tx| {
            tx.execute(
                "INSERT INTO copies(photo_id, dest, path, state, error, error_class, attempts, updated_at)
                 VALUES (?1, ?2, ?3, 'failed', ?4, ?5, 1, ?6)
                 ON CONFLICT(photo_id, dest) DO UPDATE SET
                   path = COALESCE(excluded.path, path), state = 'failed', error = excluded.error,
                   error_class = excluded.error_class, attempts = attempts + 1,
                   updated_at = excluded.updated_at",
                params![photo_id, dest, key.map(|k| k.as_bytes().to_vec()), error, class, at],
            )?;
            insert_operation(tx, at, op)
        })
    }

    pub fn record_operation(&self, op: &Operation<'_>) -> Result<()> {
        self.with(|c| insert_operation(c, now(), op))
    }

    /// Verified copies at `dest` that no manifest on it lists yet (including those of
    /// an interrupted run).
    pub fn unlisted_copies(&self, dest: &str) -> Result<Vec<UnlistedCopy>> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT c.photo_id, c.path, p.hash, p.size, COALESCE(f.captured, p.captured),
                        COALESCE(f.kind, p.kind), COALESCE(f.library, ''), COALESCE(f.path, c.path),
                        c.verified_at,
                        c.stored_hash, f.mtime_ns,
                        (SELECT MAX(h.since) FROM file_history h WHERE h.library = f.library
                           AND h.path = f.path AND h.photo_id = p.id AND h.until IS NULL)
                 FROM copies c INDEXED BY copies_unlisted JOIN photos p ON p.id = c.photo_id
                 LEFT JOIN files f ON f.id = COALESCE(
                   (SELECT a.file_id FROM aliases a
                    WHERE a.dest = c.dest AND a.photo_id = c.photo_id AND a.key = c.path LIMIT 1),
                   (SELECT MIN(id) FROM files WHERE photo_id = p.id))
                 WHERE c.dest = ?1 AND c.state = 'verified' AND c.manifest IS NULL
                 ORDER BY c.path",
            )?;
            let rows = stmt.query_map([dest], UnlistedCopy::from_row)?;
            rows.collect()
        })
    }

    pub fn mark_listed(&self, dest: &str, manifest: &str, photo_ids: &[i64]) -> Result<()> {
        self.tx(|tx| {
            let mut stmt = tx.prepare_cached(
                "UPDATE copies SET manifest = ?3 WHERE photo_id = ?1 AND dest = ?2",
            )?;
            for id in photo_ids {
                stmt.execute(params![id, dest, manifest])?;
            }
            Ok(())
        })
    }

    /// Notes that a run is about to write into `folder` at `dest`.
    pub fn journal_folder(&self, dest: &str, folder: &RelPath) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT OR IGNORE INTO write_journal(dest, folder) VALUES (?1, ?2)",
                params![dest, folder.as_bytes()],
            )
            .map(drop)
        })
    }

    /// Folders that a run wrote into and that have not been swept since.
    pub fn journaled_folders(&self, dest: &str) -> Result<Vec<RelPath>> {
        self.with(|c| {
            let mut stmt = c.prepare("SELECT folder FROM write_journal WHERE dest = ?1")?;
            let rows = stmt.query_map([dest], |r| rel(r.get(0)?))?;
            rows.collect()
        })
    }

    pub fn clear_journal(&self, dest: &str) -> Result<()> {
        self.with(|c| {
            c.execute("DELETE FROM write_journal WHERE dest = ?1", [dest])
                .map(drop)
        })
    }

    // ---- verifying -----------------------------------------------------------------

    /// Copies recorded at `dest` (verified, corrupt or missing), with what they should hold.
    pub fn copies_at(&self, dest: &str) -> Result<Vec<CopyRow>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT c.photo_id, c.path, p.hash, p.size, c.state, c.verified_at, c.stored_hash
                 FROM copies c JOIN photos p ON p.id = c.photo_id
                 WHERE c.dest = ?1 AND c.state IN ('verified', 'corrupt', 'missing') AND c.path IS NOT NULL
                 ORDER BY c.path",
            )?;
            let rows = stmt.query_map([dest], copy_row)?;
            rows.collect()
        })
    }

    /// The copy of `photo_id` at `dest`, in any state with a place.
    pub fn copy_of(&self, photo_id: i64, dest: &str) -> Result<Option<CopyRow>> {
        self.with(|c| {
            c.query_row(
                "SELECT c.photo_id, c.path, p.hash, p.size, c.state, c.verified_at, c.stored_hash
                 FROM copies c JOIN photos p ON p.id = c.photo_id
                 WHERE c.photo_id = ?1 AND c.dest = ?2 AND c.path IS NOT NULL",
                params![photo_id, dest],
                copy_row,
            )
            .optional()
        })
    }

    /// Records the outcome of checking a copy: `verified` (its time is refreshed),
    /// `corrupt` or `missing`.
    pub fn record_copy_checked(
        &self,
        photo_id: i64,
        dest: &str,
        state: CopyState,
        error: Option<&str>,
        op: &Operation<'_>,
    ) -> Result<()> {
        let at = now();
        self.tx(|tx| {
            tx.execute(
                "UPDATE copies SET state = ?3, error = ?4, updated_at = ?5,
                   verified_at = CASE WHEN ?3 = 'verified' THEN ?5 ELSE verified_at END,
                   verified_by = CASE WHEN ?3 = 'verified' THEN 'read back' ELSE verified_by END
                 WHERE photo_id = ?1 AND dest = ?2",
                params![photo_id, dest, state.as_str(), error, at],
            )?;
            insert_operation(tx, at, op)
        })
    }

    /// A bad copy was rewritten at its place and proven: it is verified again, stored as
    /// `stored` (an encrypted copy is new ciphertext).
    pub fn record_copy_rewritten(
        &self,
        photo_id: i64,
        dest: &str,
        stored: Stored,
        op: &Operation<'_>,
    ) -> Result<()> {
        let at = now();
        self.tx(|tx| {
            tx.execute(
                "UPDATE copies SET state = 'verified', error = NULL, updated_at = ?3,
                   verified_at = ?3, verified_by = 'read back', stored_hash = ?4, manifest = NULL
                 WHERE photo_id = ?1 AND dest = ?2",
                params![photo_id, dest, at, stored_blob(stored)],
            )?;
            insert_operation(tx, at, op)
        })
    }

    /// Where good bytes of a photo may be found: its present library names, and the
    /// destinations (ids) holding a verified copy, with their keys.
    pub fn sources_of(&self, photo_id: i64) -> Result<Sources> {
        self.with(|c| {
            let mut names = c.prepare_cached(
                "SELECT library, path FROM files WHERE photo_id = ?1 AND present = 1 ORDER BY id",
            )?;
            let names = names
                .query_map([photo_id], |r| Ok((r.get(0)?, rel(r.get(1)?)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let mut copies = c.prepare_cached(
                "SELECT dest, path FROM copies WHERE photo_id = ?1 AND state = 'verified' AND path IS NOT NULL",
            )?;
            let copies = copies
                .query_map([photo_id], |r| Ok((r.get(0)?, rel(r.get(1)?)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(Sources { names, copies })
        })
    }

    /// When the least recently verified copy at `dest` was verified, and how many copies
    /// are marked corrupt or missing there.
    pub fn verification_health(&self, dest: &str) -> Result<(Option<i64>, u64)> {
        self.with(|c| {
            c.query_row(
                "SELECT MIN(CASE WHEN state = 'verified' THEN verified_at END),
                        SUM(CASE WHEN state IN ('corrupt', 'missing') THEN 1 ELSE 0 END)
                 FROM copies WHERE dest = ?1",
                [dest],
                |r| Ok((r.get(0)?, r.get::<_, Option<i64>>(1)?.unwrap_or(0) as u64)),
            )
        })
    }

    /// The copies at `dest` with a place (verified, corrupt or missing), and of them
    /// those last proven before `before` and before `soon` (Unix seconds): what the
    /// scheduled checks owe.
    pub fn proof_ages(&self, dest: &str, before: i64, soon: i64) -> Result<ProofAges> {
        self.with(|c| {
            c.query_row(
                "SELECT COUNT(*),
                        COALESCE(SUM(COALESCE(verified_at, 0) < ?2), 0),
                        COALESCE(SUM(COALESCE(verified_at, 0) < ?3), 0)
                 FROM copies
                 WHERE dest = ?1 AND state IN ('verified', 'corrupt', 'missing')
                   AND path IS NOT NULL",
                params![dest, before, soon],
                |r| {
                    Ok(ProofAges {
                        copies: r.get::<_, i64>(0)? as u64,
                        older: r.get::<_, i64>(1)? as u64,
                        older_soon: r.get::<_, i64>(2)? as u64,
                    })
                },
            )
        })
    }

    // ---- rebuilding ----------------------------------------------------------------

    // ---- status ------------------------------------------------------------------

    /// Photos deleted from the library (every name they had is gone) that the catalog
    /// still knows.
    pub fn deleted_photos(&self) -> Result<DeletedPhotos> {
        self.with(|c| {
            let deleted = "EXISTS (SELECT 1 FROM files f WHERE f.photo_id = p.id)
                 AND NOT EXISTS (SELECT 1 FROM files f WHERE f.photo_id = p.id AND f.present = 1)
                 AND p.pruned_at IS NULL";
            let (photos, bytes, kept): (i64, i64, i64) = c.query_row(
                &format!(
                    "SELECT COUNT(*), COALESCE(SUM(p.size), 0),
                       COALESCE(SUM(EXISTS (SELECT 1 FROM copies c
                         WHERE c.photo_id = p.id AND c.state = 'verified')), 0)
                     FROM photos p WHERE {deleted}"
                ),
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )?;
            let mut stmt = c.prepare(&format!(
                "SELECT c.dest, COUNT(*) FROM copies c JOIN photos p ON p.id = c.photo_id
                 WHERE c.state = 'verified' AND {deleted} GROUP BY c.dest"
            ))?;
            let by_dest = stmt
                .query_map([], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)? as u64))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(DeletedPhotos {
                photos: photos as u64,
                bytes: bytes as u64,
                kept: kept as u64,
                by_dest,
            })
        })
    }

    pub fn dest_counts(&self, dest: &str) -> Result<DestCounts> {
        self.with(|c| {
            let present =
                "EXISTS (SELECT 1 FROM files f WHERE f.photo_id = p.id AND f.present = 1)";
            let verified: i64 = c.query_row(
                "SELECT COUNT(*) FROM copies WHERE dest = ?1 AND state = 'verified'",
                [dest],
                |r| r.get(0),
            )?;
            let (failed, failed_permanent): (i64, i64) = c.query_row(
                &format!(
                    "SELECT COUNT(*), COALESCE(SUM(c.error_class = 'permanent'), 0)
                     FROM copies c JOIN photos p ON p.id = c.photo_id
                     WHERE c.dest = ?1 AND c.state = 'failed' AND {present}"
                ),
                [dest],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let (pending, pending_bytes): (i64, i64) = c.query_row(
                &format!(
                    "SELECT COUNT(*), COALESCE(SUM(p.size), 0) FROM photos p
                     WHERE {present} AND NOT EXISTS (SELECT 1 FROM copies c
                       WHERE c.photo_id = p.id AND c.dest = ?1 AND c.state = 'verified')"
                ),
                [dest],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            let (last_attempt, last_success) = activity(c, dest)?;
            Ok(DestCounts {
                verified: verified as u64,
                pending: (pending - failed).max(0) as u64,
                pending_bytes: pending_bytes as u64,
                failed: failed as u64,
                failed_permanent: failed_permanent as u64,
                last_success,
                last_attempt,
            })
        })
    }

    /// When a run last tried destination `dest`, and when one last reached it: cheap,
    /// unlike [`Catalog::dest_counts`] (the service's monitor asks every second).
    pub fn dest_activity(&self, dest: &str) -> Result<(Option<i64>, Option<i64>)> {
        self.with(|c| activity(c, dest))
    }

    /// Every photo with where it has verified copies, for the 3-2-1 computation. With
    /// `proven_since`, copies last proven before then are listed apart, as stale.
    pub fn coverage_rows(&self, proven_since: Option<i64>) -> Result<Vec<CoverageRow>> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT p.id,
                        (SELECT library FROM files f WHERE f.photo_id = p.id AND f.present = 1
                         ORDER BY f.id LIMIT 1),
                        p.first_seen, p.protected_at,
                        (SELECT group_concat(dest, char(31)) FROM copies c
                         WHERE c.photo_id = p.id AND c.state = 'verified'
                           AND (?1 IS NULL OR c.verified_at >= ?1)),
                        (SELECT group_concat(dest, char(31)) FROM copies c
                         WHERE c.photo_id = p.id AND c.state = 'verified'
                           AND ?1 IS NOT NULL AND (c.verified_at IS NULL OR c.verified_at < ?1)),
                        (SELECT group_concat(dest || char(30) || coalesce(error, 'unknown error'), char(31))
                         FROM copies c WHERE c.photo_id = p.id AND c.state = 'failed')
                 FROM photos p ORDER BY p.id",
            )?;
            let split = |d: Option<String>| {
                d.map(|d| d.split('\u{1f}').map(str::to_string).collect())
                    .unwrap_or_default()
            };
            let rows = stmt.query_map([proven_since], |r| {
                Ok(CoverageRow {
                    photo_id: r.get(0)?,
                    library: r.get(1)?,
                    first_seen: r.get(2)?,
                    protected_at: r.get(3)?,
                    verified_at: split(r.get(4)?),
                    stale_at: split(r.get(5)?),
                    failed_at: split(r.get(6)?)
                        .into_iter()
                        .filter_map(|f: String| {
                            let (dest, error) = f.split_once('\u{1e}')?;
                            Some((dest.to_string(), error.to_string()))
                        })
                        .collect(),
                    unreadable: false,
                })
            })?;
            rows.collect()
        })
    }

    /// How many photos the catalog knows, in libraries or only in backups.
    pub fn photo_count(&self) -> Result<u64> {
        self.with(|c| c.query_row("SELECT COUNT(*) FROM photos", [], |r| r.get::<_, i64>(0)))
            .map(|n| n as u64)
    }

    /// Marks photos as protected from now, the first time they are.
    pub fn set_protected(&self, photo_ids: &[i64]) -> Result<()> {
        let at = now();
        self.tx(|tx| {
            let mut stmt = tx.prepare_cached(
                "UPDATE photos SET protected_at = ?2 WHERE id = ?1 AND protected_at IS NULL",
            )?;
            for id in photo_ids {
                stmt.execute(params![id, at])?;
            }
            Ok(())
        })
    }

    /// For each photo still in a library, one of its names there (library, path).
    pub fn present_names(&self) -> Result<HashMap<i64, (String, RelPath)>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT photo_id, library, path FROM files WHERE present = 1 ORDER BY id DESC",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok((r.get::<_, i64>(0)?, (r.get(1)?, rel(r.get(2)?)?)))
            })?;
            rows.collect()
        })
    }

    /// How the verified copies at `dest` were proven, with how many each way.
    pub fn verification_methods(&self, dest: &str) -> Result<Vec<(String, u64)>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT COALESCE(verified_by, 'read back'), COUNT(*) FROM copies
                 WHERE dest = ?1 AND state = 'verified' GROUP BY 1 ORDER BY 1",
            )?;
            let rows = stmt.query_map([dest], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
            rows.collect()
        })
    }

    /// Bytes held in verified copies at `dest`, and when a copy there was last verified.
    pub fn stored_at(&self, dest: &str) -> Result<(u64, Option<i64>)> {
        self.with(|c| {
            c.query_row(
                "SELECT COALESCE(SUM(p.size), 0), MAX(c.verified_at)
                 FROM copies c JOIN photos p ON p.id = c.photo_id
                 WHERE c.dest = ?1 AND c.state = 'verified'",
                [dest],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get(1)?)),
            )
        })
    }

    /// The library names of a photo (library, path), present ones first.
    pub fn names_of(&self, photo_id: i64) -> Result<Vec<(String, RelPath)>> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT library, path FROM files WHERE photo_id = ?1 ORDER BY present DESC, id",
            )?;
            let rows = stmt.query_map([photo_id], |r| Ok((r.get(0)?, rel(r.get(1)?)?)))?;
            rows.collect()
        })
    }
}

/// `(last_attempt, last_success)` of destination `dest`.
fn activity(c: &rusqlite::Connection, dest: &str) -> rusqlite::Result<(Option<i64>, Option<i64>)> {
    Ok(c.query_row(
        "SELECT last_attempt, last_success FROM dest_activity WHERE dest = ?1",
        [dest],
        |r| Ok((r.get(0)?, r.get(1)?)),
    )
    .optional()?
    .unwrap_or((None, None)))
}

impl rusqlite::types::FromSql for CopyState {
    fn column_result(value: rusqlite::types::ValueRef<'_>) -> rusqlite::types::FromSqlResult<Self> {
        let text = value.as_str()?;
        CopyState::parse(text).ok_or_else(|| {
            rusqlite::types::FromSqlError::Other(format!("unknown copy state '{text}'").into())
        })
    }
}
