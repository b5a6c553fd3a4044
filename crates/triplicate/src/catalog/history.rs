//! Versions: what each library path held and when, the changes held back for a person,
//! and the libraries' snapshots (the mass-change guard's state is in [`super::guard`]).
//!
//! `file_history` is written by triggers on `files` (migration 5): a row per content a
//! path held, from `since` to `until` (Unix milliseconds, `until` empty while it still
//! holds it). A library as it was at any moment is therefore one query
//! ([`Catalog::names_as_of`]), and a snapshot is a point in that history with its
//! counts. A held change (possible bit rot, or any change while the guard is tripped)
//! leaves the path at its last good content: the found content waits in
//! `held_photo_id` until [`Catalog::accept_changes`].

use std::collections::BTreeMap;

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::*;

/// Now, in Unix milliseconds: the unit of history and snapshots.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
        + CLOCK_AHEAD_MS.load(std::sync::atomic::Ordering::Relaxed)
}

/// How far tests have moved the clock on ([`advance_clock`]); always 0 in the program.
static CLOCK_AHEAD_MS: std::sync::atomic::AtomicI64 = std::sync::atomic::AtomicI64::new(0);

/// Moves this process's clock (`now`, `now_ms`) on by `secs`: a test that lives through
/// thirty days of scheduled checks in a second.
#[cfg(any(test, feature = "testing"))]
pub fn advance_clock(secs: i64) {
    CLOCK_AHEAD_MS.fetch_add(secs * 1000, std::sync::atomic::Ordering::Relaxed);
}

/// A library as one backup run saw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Snapshot {
    pub id: i64,
    pub library: String,
    /// Unix milliseconds.
    pub at: i64,
    pub run: Option<String>,
    pub files: u64,
    pub bytes: u64,
}

/// Why a change to a library file was held back instead of backed up.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum HoldReason {
    /// A photo's content changed while its modification time did not.
    BitRot,
    /// The mass-change guard was tripped when the change was found.
    MassChange,
}

impl HoldReason {
    pub fn as_str(self) -> &'static str {
        match self {
            HoldReason::BitRot => "bit_rot",
            HoldReason::MassChange => "mass_change",
        }
    }

    fn parse(s: &str) -> HoldReason {
        if s == "bit_rot" {
            HoldReason::BitRot
        } else {
            HoldReason::MassChange
        }
    }
}

/// An earlier version of a file, as a destination holds it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EarlierVersion {
    pub photo_id: i64,
    pub key: RelPath,
    /// When the file stopped holding it, in Unix milliseconds.
    pub until: i64,
    pub size: u64,
    pub hash: ContentHash,
}

/// One stretch of a file's history: `path` held `photo_id` from `since` until
/// `until` (Unix milliseconds; `None` while it still does).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HistoryRow {
    pub library: String,
    pub path: RelPath,
    pub photo_id: i64,
    pub since: i64,
    pub until: Option<i64>,
}

/// A library file as the catalog holds it.
#[derive(Debug, Clone)]
pub struct Original {
    pub path: RelPath,
    pub photo_id: i64,
    pub hash: ContentHash,
    pub size: u64,
    pub mtime_ns: i64,
}

/// A change found in a library and held back.
#[derive(Debug, Clone, Serialize)]
pub struct HeldChange {
    pub library: String,
    pub path: RelPath,
    pub reason: HoldReason,
    /// Unix seconds.
    pub held_at: i64,
    /// The content the catalog (and every backup) keeps for the path.
    pub kept: ContentHash,
    /// The content found in the library.
    pub found: ContentHash,
}

/// What each library name held when, as the manifests tell it (`since`/`until` on
/// their lines): by `(library, path, since)`, the content and its modification time,
/// and until when.
#[derive(Debug, Default)]
pub struct Stretches(BTreeMap<NameSince, Held>);

/// `(library, path, since)`.
type NameSince = (String, Vec<u8>, i64);

/// `(content, mtime_ns, until)`.
type Held = (ContentHash, i64, Option<i64>);

impl Stretches {
    /// Takes what a manifest line says of its name's history, if anything.
    pub fn learn(&mut self, e: &crate::destination::manifest::Entry) {
        let (Some(since), false, false) = (e.since, e.library.is_empty(), e.removed) else {
            return;
        };
        let Some(hash) = ContentHash::from_hex(&e.blake3) else {
            return;
        };
        let key = (e.library.clone(), e.source.as_bytes().to_vec(), since);
        let stretch = self
            .0
            .entry(key)
            .or_insert((hash, e.mtime_ns.unwrap_or(-1), None));
        if e.until.is_some() {
            stretch.2 = e.until;
        }
    }
}

impl Catalog {
    /// Replaces the names' history by what `stretches` tell (a rebuilt catalog).
    pub fn replace_history(&self, stretches: &Stretches) -> Result<()> {
        self.tx(|tx| {
            tx.execute("DELETE FROM file_history", [])?;
            let mut insert = tx.prepare_cached(
                "INSERT INTO file_history(library, path, photo_id, mtime_ns, since, until)
                 SELECT ?1, ?2, id, ?4, ?5, ?6 FROM photos WHERE hash = ?3",
            )?;
            for ((library, path, since), (hash, mtime_ns, until)) in &stretches.0 {
                insert.execute(params![library, path, &hash.0[..], mtime_ns, since, until])?;
            }
            Ok(())
        })
    }

    /// Whether the catalog knows any name's history.
    pub fn has_history(&self) -> Result<bool> {
        self.with(|c| {
            c.query_row("SELECT EXISTS (SELECT 1 FROM file_history)", [], |r| {
                r.get(0)
            })
        })
    }

    /// Every name each library had at `at_ms`, with what it held then.
    pub fn names_as_of(&self, at_ms: i64) -> Result<Vec<NamedPhoto>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT h.photo_id, h.library, h.path, h.mtime_ns, p.hash, p.size, p.captured,
                        EXISTS (SELECT 1 FROM files g WHERE g.photo_id = h.photo_id AND g.present = 1)
                 FROM file_history h JOIN photos p ON p.id = h.photo_id
                 WHERE h.since <= ?1 AND (h.until IS NULL OR h.until > ?1)
                 ORDER BY h.library, h.path",
            )?;
            let rows = stmt.query_map([at_ms], super::files::named_photo)?;
            rows.collect()
        })
    }

    /// Records a snapshot of `library` as it is now, if it changed since its last one
    /// (an idle daemon makes none). Returns the new snapshot.
    pub fn record_snapshot(&self, library: &str, run: Option<&str>) -> Result<Option<Snapshot>> {
        let at = now_ms();
        self.tx(|tx| {
            let last: Option<i64> = tx
                .query_row(
                    "SELECT MAX(at) FROM snapshots WHERE library = ?1",
                    [library],
                    |r| r.get(0),
                )
                .optional()?
                .flatten();
            let changed: bool = match last {
                Some(last) => tx.query_row(
                    "SELECT EXISTS (SELECT 1 FROM file_history WHERE library = ?1
                       AND (since > ?2 OR until > ?2))",
                    params![library, last],
                    |r| r.get(0),
                )?,
                None => tx.query_row(
                    "SELECT EXISTS (SELECT 1 FROM file_history WHERE library = ?1)",
                    [library],
                    |r| r.get(0),
                )?,
            };
            if !changed {
                return Ok(None);
            }
            // Never two snapshots at the same millisecond: the later one would hide
            // the earlier from --as-of.
            let at = last.map_or(at, |l| at.max(l + 1));
            let (files, bytes): (i64, i64) = tx.query_row(
                "SELECT COUNT(*), COALESCE(SUM(p.size), 0)
                 FROM files f JOIN photos p ON p.id = f.photo_id
                 WHERE f.library = ?1 AND f.present = 1",
                [library],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )?;
            tx.execute(
                "INSERT INTO snapshots(library, at, run, files, bytes) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![library, at, run, files, bytes],
            )?;
            Ok(Some(Snapshot {
                id: tx.last_insert_rowid(),
                library: library.into(),
                at,
                run: run.map(str::to_owned),
                files: files as u64,
                bytes: bytes as u64,
            }))
        })
    }

    /// How many snapshots there are, and when the newest was taken.
    pub fn snapshot_summary(&self) -> Result<(u64, Option<i64>)> {
        self.with(|c| {
            c.query_row("SELECT COUNT(*), MAX(at) FROM snapshots", [], |r| {
                Ok((r.get::<_, i64>(0)? as u64, r.get(1)?))
            })
        })
    }

    /// Every snapshot, oldest first.
    pub fn snapshots(&self) -> Result<Vec<Snapshot>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, library, at, run, files, bytes FROM snapshots ORDER BY at, id",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(Snapshot {
                    id: r.get(0)?,
                    library: r.get(1)?,
                    at: r.get(2)?,
                    run: r.get(3)?,
                    files: r.get::<_, i64>(4)? as u64,
                    bytes: r.get::<_, i64>(5)? as u64,
                })
            })?;
            rows.collect()
        })
    }

    /// The latest earlier version of `path` in `library` (content it held before
    /// `photo_id`, and that no library file holds now) that `dest` holds in its main
    /// tree: the photo, its key, and when the path stopped holding it (Unix
    /// milliseconds). A new version takes its place.
    pub fn earlier_version_at(
        &self,
        dest: &str,
        library: &str,
        path: &RelPath,
        photo_id: i64,
    ) -> Result<Option<EarlierVersion>> {
        let rows: Vec<EarlierVersion> = self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT h.photo_id, c.path, h.until, p.size, p.hash FROM file_history h
                 JOIN copies c ON c.photo_id = h.photo_id AND c.dest = ?1
                   AND c.state = 'verified' AND c.path IS NOT NULL
                 JOIN photos p ON p.id = h.photo_id
                 WHERE h.library = ?2 AND h.path = ?3 AND h.until IS NOT NULL
                   AND h.photo_id <> ?4
                   AND NOT EXISTS (SELECT 1 FROM files f WHERE f.photo_id = h.photo_id
                                   AND f.present = 1)
                 ORDER BY h.until DESC LIMIT 16",
            )?;
            let rows = stmt.query_map(params![dest, library, path.as_bytes(), photo_id], |r| {
                Ok(EarlierVersion {
                    photo_id: r.get(0)?,
                    key: rel(r.get(1)?)?,
                    until: r.get(2)?,
                    size: r.get::<_, i64>(3)? as u64,
                    hash: hash_from(r.get(4)?),
                })
            })?;
            rows.collect()
        })?;
        let versions = crate::destination::META_DIR.to_string() + "/";
        Ok(rows
            .into_iter()
            .find(|v| !v.key.as_bytes().starts_with(versions.as_bytes())))
    }

    /// The photo whose verified copy at `dest` is stored at `key`, if any.
    pub fn photo_at(&self, dest: &str, key: &RelPath) -> Result<Option<i64>> {
        self.with(|c| {
            c.query_row(
                "SELECT photo_id FROM copies WHERE dest = ?1 AND path = ?2 AND state = 'verified'",
                params![dest, key.as_bytes()],
                |r| r.get(0),
            )
            .optional()
        })
    }

    /// Records that the copy of `photo_id` at `dest` now lives at `key` (it was moved
    /// aside into the versions folder). It is listed again in the run's manifest, so
    /// that a catalog rebuilt from the destination finds it there, not at its old key.
    pub fn move_copy(&self, photo_id: i64, dest: &str, key: &RelPath) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE copies SET path = ?3, updated_at = ?4, manifest = NULL
                 WHERE photo_id = ?1 AND dest = ?2",
                params![photo_id, dest, key.as_bytes(), now()],
            )
            .map(drop)
        })
    }

    /// The content `path` in `library` holds, if the catalog knows the file.
    pub fn content_of(&self, library: &str, path: &RelPath) -> Result<Option<(i64, ContentHash)>> {
        self.with(|c| {
            c.query_row(
                "SELECT p.id, p.hash FROM files f JOIN photos p ON p.id = f.photo_id
                 WHERE f.library = ?1 AND f.path = ?2",
                params![library, path.as_bytes()],
                |r| Ok((r.get(0)?, hash_from(r.get(1)?))),
            )
            .optional()
        })
    }

    /// Whether some destination holds a verified copy of the photo.
    pub fn is_backed_up(&self, photo_id: i64) -> Result<bool> {
        self.with(|c| {
            c.query_row(
                "SELECT EXISTS (SELECT 1 FROM copies WHERE photo_id = ?1 AND state = 'verified')",
                [photo_id],
                |r| r.get(0),
            )
        })
    }

    /// How many photos and videos present in `library` have a verified copy somewhere.
    pub fn backed_up_files(&self, library: &str) -> Result<u64> {
        self.with(|c| {
            c.query_row(
                "SELECT COUNT(*) FROM files f JOIN photos p ON p.id = f.photo_id
                 WHERE f.library = ?1 AND f.present = 1
                   AND p.kind IN ('raw', 'image', 'video')
                   AND EXISTS (SELECT 1 FROM copies c WHERE c.photo_id = f.photo_id
                               AND c.state = 'verified')",
                [library],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
        })
    }

    /// Holds back a change found in a library: the path keeps its last good content,
    /// the found content is recorded as a photo and waits for [`Catalog::accept_changes`].
    /// The file's fingerprint is updated, so that it is not read again on every scan.
    pub fn hold_change(
        &self,
        library: &str,
        found: &ScannedFile,
        reason: HoldReason,
    ) -> Result<()> {
        let at = now();
        self.tx(|tx| {
            let id = super::files::upsert_photo(tx, found, at)?;
            tx.execute(
                "UPDATE files SET held_photo_id = ?3, held_reason = ?4,
                   held_at = COALESCE(held_at, ?5), size = ?6, mtime_ns = ?7, inode = ?8
                 WHERE library = ?1 AND path = ?2",
                params![
                    library,
                    found.path.as_bytes(),
                    id,
                    reason.as_str(),
                    at,
                    found.size as i64,
                    found.mtime_ns,
                    found.inode as i64
                ],
            )?;
            Ok(())
        })
    }

    /// Every change held back, by library and path.
    pub fn held_changes(&self) -> Result<Vec<HeldChange>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT f.library, f.path, f.held_reason, f.held_at, kept.hash, found.hash
                 FROM files f JOIN photos kept ON kept.id = f.photo_id
                 JOIN photos found ON found.id = f.held_photo_id
                 WHERE f.held_photo_id IS NOT NULL ORDER BY f.library, f.path",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(HeldChange {
                    library: r.get(0)?,
                    path: rel(r.get(1)?)?,
                    reason: HoldReason::parse(&r.get::<_, String>(2)?),
                    held_at: r.get(3)?,
                    kept: hash_from(r.get(4)?),
                    found: hash_from(r.get(5)?),
                })
            })?;
            rows.collect()
        })
    }

    /// Lets held changes through: each path now holds the content found, which the next
    /// backup stores as a new version. `which` picks (library, path) pairs; all when
    /// `None`. Returns the changes let through.
    pub fn accept_changes(
        &self,
        which: Option<&dyn Fn(&HeldChange) -> bool>,
    ) -> Result<Vec<HeldChange>> {
        let held = self.held_changes()?;
        let chosen: Vec<HeldChange> = held
            .into_iter()
            .filter(|h| which.is_none_or(|f| f(h)))
            .collect();
        self.tx(|tx| {
            let mut stmt = tx.prepare_cached(
                "UPDATE files SET photo_id = held_photo_id, held_photo_id = NULL,
                   held_reason = NULL, held_at = NULL
                 WHERE library = ?1 AND path = ?2 AND held_photo_id IS NOT NULL",
            )?;
            for h in &chosen {
                stmt.execute(params![h.library, h.path.as_bytes()])?;
            }
            Ok(())
        })?;
        Ok(chosen)
    }

    /// The files present in `library` with no held change: what a check of the
    /// library's originals reads.
    pub fn originals(&self, library: &str) -> Result<Vec<Original>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT f.path, f.photo_id, p.hash, f.size, f.mtime_ns FROM files f
                 JOIN photos p ON p.id = f.photo_id
                 WHERE f.library = ?1 AND f.present = 1 AND f.held_photo_id IS NULL
                 ORDER BY f.path",
            )?;
            let rows = stmt.query_map([library], |r| {
                Ok(Original {
                    path: rel(r.get(0)?)?,
                    photo_id: r.get(1)?,
                    hash: hash_from(r.get(2)?),
                    size: r.get::<_, i64>(3)? as u64,
                    mtime_ns: r.get(4)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Every row of the file history: what each path held, and when.
    pub fn history(&self) -> Result<Vec<HistoryRow>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT library, path, photo_id, since, until FROM file_history
                 ORDER BY library, path, since",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(HistoryRow {
                    library: r.get(0)?,
                    path: rel(r.get(1)?)?,
                    photo_id: r.get(2)?,
                    since: r.get(3)?,
                    until: r.get(4)?,
                })
            })?;
            rows.collect()
        })
    }

    /// The photos a library holds now: in a present file, or found in one and held
    /// back. Prune never touches them.
    pub fn current_photos(&self) -> Result<std::collections::HashSet<i64>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT photo_id FROM files WHERE present = 1
                 UNION SELECT held_photo_id FROM files WHERE held_photo_id IS NOT NULL",
            )?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect()
        })
    }

    /// A photo's size and hash.
    pub fn photo_size_hash(&self, photo_id: i64) -> Result<(u64, ContentHash)> {
        self.with(|c| {
            c.query_row(
                "SELECT size, hash FROM photos WHERE id = ?1",
                [photo_id],
                |r| Ok((r.get::<_, i64>(0)? as u64, hash_from(r.get(1)?))),
            )
        })
    }

    /// Forgets the copy of `photo_id` at `dest`, which prune removed, and logs it.
    pub fn forget_pruned_copy(&self, photo_id: i64, dest: &str, op: &Operation<'_>) -> Result<()> {
        self.tx(|tx| {
            tx.execute(
                "DELETE FROM copies WHERE photo_id = ?1 AND dest = ?2",
                params![photo_id, dest],
            )?;
            tx.execute(
                "DELETE FROM aliases WHERE photo_id = ?1 AND dest = ?2",
                params![photo_id, dest],
            )?;
            tx.execute(
                "UPDATE photos SET pruned_at = ?2 WHERE id = ?1
                   AND NOT EXISTS (SELECT 1 FROM copies WHERE photo_id = ?1 AND state = 'verified')",
                params![photo_id, now()],
            )?;
            insert_operation(tx, now(), op)
        })
    }
}

#[cfg(test)]
mod tests;
