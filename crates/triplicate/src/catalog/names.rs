//! Every name is a file (invariant 10): the library names of a content with several,
//! at each destination.
//!
//! A content is stored once per destination (its copy, in `copies`). Each of its
//! library names is also a file there, under the name the layout gives it: a hard
//! link to the copy, or a copy of it. `aliases` records where each name's file is (the
//! copy's own key for the name it was written under), and the run manifest that
//! lists it, so that a catalog rebuilt from any one destination knows every name.

use rusqlite::{OptionalExtension, params};

use super::*;

/// A library name whose content has a verified copy at a destination, and no file of
/// its own recorded there yet.
#[derive(Debug, Clone)]
pub struct MissingName {
    pub file_id: i64,
    pub library: String,
    pub path: RelPath,
    pub captured: String,
    pub kind: PhotoKind,
    pub photo_id: i64,
    pub hash: ContentHash,
    pub size: u64,
    /// Where the content's copy is.
    pub copy_key: RelPath,
}

/// A name's own file at a destination (not the copy's key), as verify checks it.
#[derive(Debug, Clone)]
pub struct NameFile {
    pub file_id: i64,
    pub photo_id: i64,
    pub library: String,
    pub path: RelPath,
    /// Where the name's file is.
    pub key: RelPath,
    pub hash: ContentHash,
    pub size: u64,
    /// What its stored bytes hash to, where they are not the photo's own (encrypted).
    pub stored_hash: Option<ContentHash>,
    /// Where the content's copy is, the source a damaged name's file is made again from.
    pub copy_key: RelPath,
    pub verified_at: i64,
}

impl Catalog {
    /// The present names at `dest` of contents with two or more present names, whose
    /// content has a verified copy there and that have no file of their own there yet.
    pub fn names_missing(&self, dest: &str) -> Result<Vec<MissingName>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "WITH several AS (SELECT photo_id FROM files WHERE present = 1
                                  GROUP BY photo_id HAVING COUNT(*) > 1)
                 SELECT f.id, f.library, f.path, COALESCE(f.captured, p.captured),
                        COALESCE(f.kind, p.kind), p.id, p.hash, p.size, c.path
                 FROM several s
                 JOIN files f ON f.photo_id = s.photo_id AND f.present = 1
                 JOIN photos p ON p.id = f.photo_id
                 JOIN copies c ON c.photo_id = p.id AND c.dest = ?1
                   AND c.state = 'verified' AND c.path IS NOT NULL
                 WHERE NOT EXISTS (SELECT 1 FROM aliases a
                                   WHERE a.dest = ?1 AND a.file_id = f.id AND a.photo_id = p.id)
                 ORDER BY f.library, f.path",
            )?;
            let rows = stmt.query_map([dest], |r| {
                Ok(MissingName {
                    file_id: r.get(0)?,
                    library: r.get(1)?,
                    path: rel(r.get(2)?)?,
                    captured: r.get(3)?,
                    kind: PhotoKind::parse(&r.get::<_, String>(4)?).unwrap_or(PhotoKind::Other),
                    photo_id: r.get(5)?,
                    hash: hash_from(r.get(6)?),
                    size: r.get::<_, i64>(7)? as u64,
                    copy_key: rel(r.get(8)?)?,
                })
            })?;
            rows.collect()
        })
    }

    /// The name `file_id` of `photo_id` is a file at `dest`, at `key`, proven now (its
    /// stored bytes hash to `stored_hash` where they are not the photo's own: an
    /// encrypted destination); the next manifest lists it.
    pub fn record_alias(
        &self,
        dest: &str,
        file_id: i64,
        photo_id: i64,
        key: &RelPath,
        stored_hash: Option<&ContentHash>,
        op: &Operation<'_>,
    ) -> Result<()> {
        let at = now();
        self.tx(|tx| {
            tx.execute(
                "INSERT INTO aliases(dest, file_id, photo_id, key, verified_at, stored_hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(dest, file_id) DO UPDATE SET photo_id = excluded.photo_id,
                   key = excluded.key, verified_at = excluded.verified_at,
                   stored_hash = excluded.stored_hash, manifest = NULL",
                params![
                    dest,
                    file_id,
                    photo_id,
                    key.as_bytes(),
                    at,
                    stored_hash.map(|h| h.0.to_vec())
                ],
            )?;
            insert_operation(tx, at, op)
        })
    }

    /// Where the name `library`/`path` has its own file at `dest`, and which content
    /// it holds, if it has one.
    pub fn alias_of(
        &self,
        dest: &str,
        library: &str,
        path: &RelPath,
    ) -> Result<Option<(i64, RelPath)>> {
        self.with(|c| {
            c.query_row(
                "SELECT a.photo_id, a.key FROM aliases a JOIN files f ON f.id = a.file_id
                 WHERE a.dest = ?1 AND f.library = ?2 AND f.path = ?3",
                params![dest, library, path.as_bytes()],
                |r| Ok((r.get(0)?, rel(r.get(1)?)?)),
            )
            .optional()
        })
    }

    /// Where the other names of `photo_id` have their own files at `dest` (not the
    /// copy's own key).
    pub fn name_files_of(&self, photo_id: i64, dest: &str) -> Result<Vec<RelPath>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT DISTINCT a.key FROM aliases a
                 WHERE a.photo_id = ?1 AND a.dest = ?2
                   AND a.key <> COALESCE((SELECT path FROM copies
                                          WHERE photo_id = ?1 AND dest = ?2), X'')",
            )?;
            let rows = stmt.query_map(params![photo_id, dest], |r| rel(r.get(0)?))?;
            rows.collect()
        })
    }

    /// The name `library`/`path` no longer has a file of its own at `dest` (it moved
    /// aside, as an earlier version, and the name now holds other content).
    pub fn forget_alias(&self, dest: &str, library: &str, path: &RelPath) -> Result<()> {
        self.with(|c| {
            c.execute(
                "DELETE FROM aliases
                 WHERE dest = ?1 AND file_id = (SELECT id FROM files WHERE library = ?2 AND path = ?3)",
                params![dest, library, path.as_bytes()],
            )
            .map(drop)
        })
    }

    /// The names with a file of their own at `dest` other than the copy's, for contents
    /// whose copy there is recorded, by key.
    pub fn name_files_at(&self, dest: &str) -> Result<Vec<NameFile>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT a.file_id, a.photo_id, f.library, f.path, a.key, p.hash, p.size,
                        a.stored_hash, c.path, a.verified_at
                 FROM aliases a
                 JOIN files f ON f.id = a.file_id
                 JOIN photos p ON p.id = a.photo_id
                 JOIN copies c ON c.photo_id = a.photo_id AND c.dest = a.dest
                   AND c.path IS NOT NULL
                 WHERE a.dest = ?1 AND a.key <> c.path
                 ORDER BY a.key",
            )?;
            let rows = stmt.query_map([dest], |r| {
                Ok(NameFile {
                    file_id: r.get(0)?,
                    photo_id: r.get(1)?,
                    library: r.get(2)?,
                    path: rel(r.get(3)?)?,
                    key: rel(r.get(4)?)?,
                    hash: hash_from(r.get(5)?),
                    size: r.get::<_, i64>(6)? as u64,
                    stored_hash: r.get::<_, Option<Vec<u8>>>(7)?.map(hash_from),
                    copy_key: rel(r.get(8)?)?,
                    verified_at: r.get(9)?,
                })
            })?;
            rows.collect()
        })
    }

    /// The name `file_id`'s own file at `dest` read back right just now.
    pub fn record_name_checked(&self, dest: &str, file_id: i64) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE aliases SET verified_at = ?3 WHERE dest = ?1 AND file_id = ?2",
                params![dest, file_id, now()],
            )
            .map(drop)
        })
    }

    /// Names with a file of their own at `dest` that no manifest lists yet, as
    /// manifest lines are made.
    pub fn unlisted_aliases(&self, dest: &str) -> Result<Vec<UnlistedCopy>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT a.photo_id, a.key, p.hash, p.size, COALESCE(f.captured, p.captured),
                        COALESCE(f.kind, p.kind), f.library, f.path, a.verified_at,
                        COALESCE(a.stored_hash, CASE WHEN a.key = c.path THEN c.stored_hash END), f.mtime_ns,
                        (SELECT MAX(h.since) FROM file_history h WHERE h.library = f.library
                           AND h.path = f.path AND h.photo_id = a.photo_id AND h.until IS NULL),
                        a.file_id, c.path
                 FROM aliases a INDEXED BY aliases_unlisted
                 JOIN photos p ON p.id = a.photo_id
                 JOIN files f ON f.id = a.file_id
                 LEFT JOIN copies c ON c.photo_id = a.photo_id AND c.dest = a.dest
                 WHERE a.dest = ?1 AND a.manifest IS NULL
                 ORDER BY a.key",
            )?;
            let rows = stmt.query_map([dest], |r| {
                Ok(UnlistedCopy {
                    alias: Some(AliasOf {
                        file_id: r.get(12)?,
                        copy_key: r.get::<_, Option<Vec<u8>>>(13)?.map(rel).transpose()?,
                    }),
                    ..UnlistedCopy::from_row(r)?
                })
            })?;
            rows.collect()
        })
    }

    /// Stretches of names' history that ended (an edit, a deletion) and that no
    /// manifest at `dest` lists yet, for contents `dest` holds: each with its history
    /// row's id, and where the content is there (the name's own file, else the copy).
    pub fn unlisted_ends(&self, dest: &str) -> Result<Vec<(i64, UnlistedCopy)>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT p.id, COALESCE(
                          (SELECT a.key FROM aliases a JOIN files f ON f.id = a.file_id
                           WHERE a.dest = ?1 AND f.library = h.library AND f.path = h.path
                             AND a.photo_id = h.photo_id),
                          c.path),
                        p.hash, p.size, p.captured, p.kind, h.library, h.path,
                        c.verified_at, NULL, h.mtime_ns, h.since, h.until, h.id
                 FROM file_history h INDEXED BY file_history_ended
                 JOIN photos p ON p.id = h.photo_id
                 JOIN copies c ON c.photo_id = h.photo_id AND c.dest = ?1
                   AND c.state = 'verified' AND c.path IS NOT NULL
                 WHERE h.until IS NOT NULL
                   AND NOT EXISTS (SELECT 1 FROM history_listed l
                                   WHERE l.dest = ?1 AND l.history_id = h.id)",
            )?;
            let rows = stmt.query_map([dest], |r| {
                Ok((
                    r.get(13)?,
                    UnlistedCopy {
                        until: r.get(12)?,
                        ..UnlistedCopy::from_row(r)?
                    },
                ))
            })?;
            rows.collect()
        })
    }

    /// The history rows `ids` are listed at `dest`, in the manifest of run `manifest`.
    pub fn mark_ends_listed(&self, dest: &str, manifest: &str, ids: &[i64]) -> Result<()> {
        self.tx(|tx| {
            let mut stmt = tx.prepare_cached(
                "INSERT OR IGNORE INTO history_listed(dest, history_id, manifest) VALUES (?1, ?2, ?3)",
            )?;
            for id in ids {
                stmt.execute(params![dest, id, manifest])?;
            }
            Ok(())
        })
    }

    /// The names `file_ids` at `dest` are listed in the manifest of run `manifest`.
    pub fn mark_aliases_listed(&self, dest: &str, manifest: &str, file_ids: &[i64]) -> Result<()> {
        self.tx(|tx| {
            let mut stmt = tx.prepare_cached(
                "UPDATE aliases SET manifest = ?3 WHERE dest = ?1 AND file_id = ?2",
            )?;
            for id in file_ids {
                stmt.execute(params![dest, id, manifest])?;
            }
            Ok(())
        })
    }
}
