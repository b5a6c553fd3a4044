//! The catalog: what Triplicate knows about photos, copies, runs and warnings.
//!
//! SQLite in WAL mode ([`Catalog`]), migrated on open by [`schema::MIGRATIONS`]. Each
//! state change (a file scanned, a copy verified, a warning raised) is one
//! transaction, so a crash leaves the catalog at the last change, never between two.
//! The catalog is a cache of truth: the destinations' markers and manifests hold
//! enough to rebuild it. It refuses to live on a network filesystem, where SQLite's
//! locking is unreliable.

mod schema;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};

use crate::photo::{ContentHash, PhotoKind};
use crate::relpath::RelPath;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog {} is on a {fs} network filesystem, where SQLite can corrupt it: keep the home on a local disk (--home or TRIPLICATE_HOME)", path.display())]
    NetworkFilesystem { path: PathBuf, fs: &'static str },
    #[error("cannot create the folder for catalog {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("catalog {}: {source}", path.display())]
    Sqlite {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("catalog {} has schema version {found}, newer than this program ({known}): upgrade triplicate", path.display())]
    TooNew {
        path: PathBuf,
        found: usize,
        known: usize,
    },
}

pub type Result<T> = std::result::Result<T, CatalogError>;

/// The SQLite catalog. Cheap to share between threads (`&Catalog` is `Sync`).
pub struct Catalog {
    path: PathBuf,
    conn: Mutex<Connection>,
}

/// A file as the catalog last saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownFile {
    pub id: i64,
    pub size: u64,
    pub mtime_ns: i64,
    pub inode: u64,
    pub photo_id: i64,
    pub present: bool,
}

/// A library file that was read and hashed.
#[derive(Debug, Clone)]
pub struct ScannedFile {
    pub path: RelPath,
    pub hash: ContentHash,
    pub size: u64,
    pub mtime_ns: i64,
    pub inode: u64,
    pub captured: String,
    pub captured_from: &'static str,
    pub kind: PhotoKind,
}

/// A photo that a destination does not hold yet, with one library name to read it from.
#[derive(Debug, Clone)]
pub struct PendingPhoto {
    pub photo_id: i64,
    pub hash: ContentHash,
    pub size: u64,
    pub captured: String,
    pub kind: PhotoKind,
    pub library: String,
    pub path: RelPath,
    /// Where an earlier attempt put (or tried to put) it.
    pub previous_key: Option<RelPath>,
}

/// A verified copy not yet listed in any manifest on its destination.
#[derive(Debug, Clone)]
pub struct UnlistedCopy {
    pub photo_id: i64,
    pub key: RelPath,
    pub hash: ContentHash,
    pub size: u64,
    pub captured: String,
    pub kind: String,
    pub library: String,
    pub source: RelPath,
    pub verified_at: i64,
}

/// A copy as recorded: where it is and what it should hold.
#[derive(Debug, Clone)]
pub struct CopyRow {
    pub photo_id: i64,
    pub key: RelPath,
    pub hash: ContentHash,
    pub size: u64,
    /// verified, corrupt or missing.
    pub state: String,
    pub verified_at: Option<i64>,
}

/// A photo under one of its library names.
#[derive(Debug, Clone)]
pub struct NamedPhoto {
    pub photo_id: i64,
    pub library: String,
    pub path: RelPath,
    /// The file's modification time when last scanned (-1 if unknown).
    pub mtime_ns: i64,
    pub hash: ContentHash,
    pub size: u64,
    pub captured: String,
}

/// Where good bytes of a photo may be found.
#[derive(Debug, Clone, Default)]
pub struct Sources {
    /// Present library names: (library, path).
    pub names: Vec<(String, RelPath)>,
    /// Verified copies: (destination id, key).
    pub copies: Vec<(String, RelPath)>,
}

/// Per-destination counts for `status`.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct DestCounts {
    pub verified: u64,
    pub pending: u64,
    pub pending_bytes: u64,
    pub failed: u64,
    /// Of the failed copies, those whose last error needs a person (permission denied,
    /// a name that cannot be placed): they are tried again each run, but will not
    /// succeed on their own.
    pub failed_permanent: u64,
    pub last_success: Option<i64>,
    pub last_attempt: Option<i64>,
}

/// What the 3-2-1 computation needs of one photo.
#[derive(Debug, Clone)]
pub struct CoverageRow {
    pub photo_id: i64,
    /// The library holding the original, if one still does.
    pub library: Option<String>,
    pub first_seen: i64,
    pub protected_at: Option<i64>,
    /// Destination ids with a verified copy.
    pub verified_at: Vec<String>,
}

/// An open warning.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Warning {
    pub id: i64,
    pub subject: String,
    pub kind: String,
    pub message: String,
    pub class: Option<String>,
    pub first_at: i64,
    pub last_at: i64,
    pub count: i64,
}

/// One line of the operations log.
#[derive(Debug, Clone)]
pub struct Operation<'a> {
    pub run: &'a str,
    pub kind: &'a str,
    pub dest: Option<&'a str>,
    pub photo_id: Option<i64>,
    pub path: Option<&'a RelPath>,
    pub bytes: Option<u64>,
    pub duration_ms: Option<u64>,
    pub outcome: &'a str,
    pub message: Option<&'a str>,
}

pub fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn hash_from(blob: Vec<u8>) -> ContentHash {
    let mut h = [0u8; 32];
    let n = blob.len().min(32);
    h[..n].copy_from_slice(&blob[..n]);
    ContentHash(h)
}

fn rel(blob: Vec<u8>) -> rusqlite::Result<RelPath> {
    RelPath::new(blob).map_err(|e| {
        rusqlite::Error::FromSqlConversionFailure(0, rusqlite::types::Type::Blob, Box::new(e))
    })
}

impl Catalog {
    /// Opens (creating if needed) the catalog at `path` and brings its schema up to date.
    pub fn open(path: &Path) -> Result<Catalog> {
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).map_err(|source| CatalogError::CreateDir {
            path: path.into(),
            source,
        })?;
        if let Ok(Some(fs)) = crate::fsutil::network_filesystem(dir) {
            return Err(CatalogError::NetworkFilesystem {
                path: path.into(),
                fs,
            });
        }
        let conn = Connection::open(path).map_err(|source| CatalogError::Sqlite {
            path: path.into(),
            source,
        })?;
        Self::setup(path.into(), conn)
    }

    /// A throw-away catalog, for tests.
    pub fn open_in_memory() -> Result<Catalog> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|source| CatalogError::Sqlite {
            path: path.clone(),
            source,
        })?;
        Self::setup(path, conn)
    }

    fn setup(path: PathBuf, mut conn: Connection) -> Result<Catalog> {
        let sql = |source| CatalogError::Sqlite {
            path: path.clone(),
            source,
        };
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(sql)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(sql)?;
        let version = conn
            .pragma_query_value(None, "user_version", |r| r.get::<_, i64>(0))
            .map_err(sql)? as usize;
        if version > schema::MIGRATIONS.len() {
            return Err(CatalogError::TooNew {
                path,
                found: version,
                known: schema::MIGRATIONS.len(),
            });
        }
        for (i, migration) in schema::MIGRATIONS.iter().enumerate().skip(version) {
            let tx = conn.transaction().map_err(sql)?;
            tx.execute_batch(migration).map_err(sql)?;
            tx.pragma_update(None, "user_version", (i + 1) as i64)
                .map_err(sql)?;
            tx.commit().map_err(sql)?;
        }
        Ok(Catalog {
            path,
            conn: Mutex::new(conn),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    fn with<T>(&self, f: impl FnOnce(&mut Connection) -> rusqlite::Result<T>) -> Result<T> {
        let mut conn = self.conn.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut conn).map_err(|source| CatalogError::Sqlite {
            path: self.path.clone(),
            source,
        })
    }

    fn tx<T>(
        &self,
        f: impl FnOnce(&rusqlite::Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T> {
        self.with(|conn| {
            let tx = conn.transaction()?;
            let out = f(&tx)?;
            tx.commit()?;
            Ok(out)
        })
    }

    /// `PRAGMA integrity_check`: "ok" when the database is sound.
    pub fn integrity_check(&self) -> Result<String> {
        self.with(|c| c.query_row("PRAGMA integrity_check", [], |r| r.get(0)))
    }

    // ---- scanning ----------------------------------------------------------------

    /// Every file the catalog knows in `library`, by path.
    pub fn known_files(&self, library: &str) -> Result<HashMap<RelPath, KnownFile>> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT id, path, size, mtime_ns, inode, photo_id, present FROM files WHERE library = ?1",
            )?;
            let rows = stmt.query_map([library], |r| {
                Ok((
                    rel(r.get(1)?)?,
                    KnownFile {
                        id: r.get(0)?,
                        size: r.get::<_, i64>(2)? as u64,
                        mtime_ns: r.get(3)?,
                        inode: r.get::<_, i64>(4)? as u64,
                        photo_id: r.get(5)?,
                        present: r.get(6)?,
                    },
                ))
            })?;
            rows.collect()
        })
    }

    /// Records hashed files (new or changed) in one transaction; returns the photo id
    /// of each file, in order.
    pub fn record_files(&self, library: &str, files: &[ScannedFile]) -> Result<Vec<i64>> {
        if files.is_empty() {
            return Ok(Vec::new());
        }
        let at = now();
        self.tx(|tx| {
            let mut photo = tx.prepare_cached(
                "INSERT INTO photos(hash, size, captured, captured_from, kind, first_seen)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(hash) DO UPDATE SET hash = hash
                 RETURNING id",
            )?;
            let mut file = tx.prepare_cached(
                "INSERT INTO files(library, path, photo_id, size, mtime_ns, inode, present)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1)
                 ON CONFLICT(library, path) DO UPDATE SET
                   photo_id = excluded.photo_id, size = excluded.size,
                   mtime_ns = excluded.mtime_ns, inode = excluded.inode,
                   present = 1",
            )?;
            let mut ids = Vec::with_capacity(files.len());
            for f in files {
                let id: i64 = photo.query_row(
                    params![
                        &f.hash.0[..],
                        f.size as i64,
                        f.captured,
                        f.captured_from,
                        f.kind.as_str(),
                        at
                    ],
                    |r| r.get(0),
                )?;
                file.execute(params![
                    library,
                    f.path.as_bytes(),
                    id,
                    f.size as i64,
                    f.mtime_ns,
                    f.inode as i64
                ])?;
                ids.push(id);
            }
            Ok(ids)
        })
    }

    /// Marks files present or absent (a file that vanished, or came back unchanged).
    pub fn set_present(&self, file_ids: &[i64], present: bool) -> Result<()> {
        self.tx(|tx| {
            let mut stmt = tx.prepare_cached("UPDATE files SET present = ?2 WHERE id = ?1")?;
            for id in file_ids {
                stmt.execute(params![id, present])?;
            }
            Ok(())
        })
    }

    /// Forces the next scan to read this file again (its fingerprint is forgotten).
    pub fn invalidate_file(&self, library: &str, path: &RelPath) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE files SET mtime_ns = -1 WHERE library = ?1 AND path = ?2",
                params![library, path.as_bytes()],
            )
            .map(drop)
        })
    }

    /// Capture time of the photo at `path` in `library`, if known.
    pub fn captured_of(&self, library: &str, path: &RelPath) -> Result<Option<String>> {
        self.with(|c| {
            c.query_row(
                "SELECT p.captured FROM files f JOIN photos p ON p.id = f.photo_id
                 WHERE f.library = ?1 AND f.path = ?2",
                params![library, path.as_bytes()],
                |r| r.get(0),
            )
            .optional()
        })
    }

    // ---- backing up --------------------------------------------------------------

    /// Photos present in a library that have no verified copy at `dest`, oldest
    /// capture first, each with one library name to read it from.
    pub fn photos_to_copy(&self, dest: &str) -> Result<Vec<PendingPhoto>> {
        self.pending(dest, None)
    }

    /// The same for one photo: `None` when `dest` holds it verified already (or it is
    /// no longer in a library).
    pub fn photo_to_copy(&self, dest: &str, photo_id: i64) -> Result<Option<PendingPhoto>> {
        Ok(self.pending(dest, Some(photo_id))?.into_iter().next())
    }

    fn pending(&self, dest: &str, only: Option<i64>) -> Result<Vec<PendingPhoto>> {
        // One pass over present files with a primary-key probe into copies; a photo
        // with several names comes once, from its first name.
        const SELECT: &str =
            "SELECT p.id, p.hash, p.size, p.captured, p.kind, f.library, f.path, c.path
             FROM files f
             LEFT JOIN copies c ON c.photo_id = f.photo_id AND c.dest = ?1
             JOIN photos p ON p.id = f.photo_id
             WHERE f.present = 1 AND (c.state IS NULL OR c.state <> 'verified')";
        self.with(|c| {
            let mut stmt;
            let rows = match only {
                None => {
                    stmt =
                        c.prepare_cached(&format!("{SELECT} ORDER BY p.captured, p.id, f.id"))?;
                    stmt.query(params![dest])?
                }
                Some(id) => {
                    stmt =
                        c.prepare_cached(&format!("{SELECT} AND f.photo_id = ?2 ORDER BY f.id"))?;
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

    /// A copy was read back from `dest` and its hash matched.
    pub fn record_copy_verified(
        &self,
        photo_id: i64,
        dest: &str,
        key: &RelPath,
        op: &Operation<'_>,
    ) -> Result<()> {
        let at = now();
        self.tx(|tx| {
            tx.execute(
                "INSERT INTO copies(photo_id, dest, path, state, verified_at, attempts, updated_at)
                 VALUES (?1, ?2, ?3, 'verified', ?4, 1, ?4)
                 ON CONFLICT(photo_id, dest) DO UPDATE SET
                   path = excluded.path, state = 'verified', verified_at = excluded.verified_at,
                   error = NULL, error_class = NULL, attempts = attempts + 1,
                   updated_at = excluded.updated_at, manifest = NULL",
                params![photo_id, dest, key.as_bytes(), at],
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
                "SELECT c.photo_id, c.path, p.hash, p.size, p.captured, p.kind,
                        COALESCE(f.library, ''), COALESCE(f.path, c.path), c.verified_at
                 FROM copies c INDEXED BY copies_unlisted JOIN photos p ON p.id = c.photo_id
                 LEFT JOIN files f ON f.id = (SELECT MIN(id) FROM files WHERE photo_id = p.id)
                 WHERE c.dest = ?1 AND c.state = 'verified' AND c.manifest IS NULL
                 ORDER BY c.path",
            )?;
            let rows = stmt.query_map([dest], |r| {
                Ok(UnlistedCopy {
                    photo_id: r.get(0)?,
                    key: rel(r.get(1)?)?,
                    hash: hash_from(r.get(2)?),
                    size: r.get::<_, i64>(3)? as u64,
                    captured: r.get(4)?,
                    kind: r.get(5)?,
                    library: r.get(6)?,
                    source: rel(r.get(7)?)?,
                    verified_at: r.get(8)?,
                })
            })?;
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

    // ---- runs, activity, warnings ------------------------------------------------

    pub fn begin_run(&self, id: &str, kind: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO runs(id, kind, started_at) VALUES (?1, ?2, ?3)",
                params![id, kind, now()],
            )
            .map(drop)
        })
    }

    pub fn finish_run(&self, id: &str, outcome: &str, summary: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE runs SET finished_at = ?2, outcome = ?3, summary = ?4 WHERE id = ?1",
                params![id, now(), outcome, summary],
            )
            .map(drop)
        })
    }

    /// Records that a run at `dest` ended, successfully or not.
    pub fn record_dest_activity(&self, dest: &str, success: bool) -> Result<()> {
        let at = now();
        self.with(|c| {
            c.execute(
                "INSERT INTO dest_activity(dest, last_attempt, last_success) VALUES (?1, ?2, ?3)
                 ON CONFLICT(dest) DO UPDATE SET last_attempt = excluded.last_attempt,
                   last_success = COALESCE(excluded.last_success, last_success)",
                params![dest, at, success.then_some(at)],
            )
            .map(drop)
        })
    }

    /// Raises a warning, or bumps the open one with the same subject and kind.
    pub fn raise_warning(
        &self,
        subject: &str,
        kind: &str,
        message: &str,
        class: Option<&str>,
    ) -> Result<()> {
        let at = now();
        self.with(|c| {
            c.execute(
                "INSERT INTO warnings(subject, kind, message, class, first_at, last_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)
                 ON CONFLICT(subject, kind) WHERE resolved_at IS NULL DO UPDATE SET
                   message = excluded.message, class = excluded.class,
                   last_at = excluded.last_at, count = count + 1",
                params![subject, kind, message, class, at],
            )
            .map(drop)
        })
    }

    /// Resolves the open warnings about `subject` (all kinds when `kinds` is empty).
    pub fn resolve_warnings(&self, subject: &str, kinds: &[&str]) -> Result<usize> {
        let at = now();
        self.with(|c| {
            if kinds.is_empty() {
                return c.execute(
                    "UPDATE warnings SET resolved_at = ?2 WHERE subject = ?1 AND resolved_at IS NULL",
                    params![subject, at],
                );
            }
            let mut n = 0;
            for kind in kinds {
                n += c.execute(
                    "UPDATE warnings SET resolved_at = ?3
                     WHERE subject = ?1 AND kind = ?2 AND resolved_at IS NULL",
                    params![subject, kind, at],
                )?;
            }
            Ok(n)
        })
    }

    pub fn open_warnings(&self) -> Result<Vec<Warning>> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT id, subject, kind, message, class, first_at, last_at, count
                 FROM warnings WHERE resolved_at IS NULL ORDER BY last_at DESC, id DESC",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(Warning {
                    id: r.get(0)?,
                    subject: r.get(1)?,
                    kind: r.get(2)?,
                    message: r.get(3)?,
                    class: r.get(4)?,
                    first_at: r.get(5)?,
                    last_at: r.get(6)?,
                    count: r.get(7)?,
                })
            })?;
            rows.collect()
        })
    }

    // ---- verifying -----------------------------------------------------------------

    /// Copies recorded at `dest` (verified, corrupt or missing), with what they should hold.
    pub fn copies_at(&self, dest: &str) -> Result<Vec<CopyRow>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT c.photo_id, c.path, p.hash, p.size, c.state, c.verified_at
                 FROM copies c JOIN photos p ON p.id = c.photo_id
                 WHERE c.dest = ?1 AND c.state IN ('verified', 'corrupt', 'missing') AND c.path IS NOT NULL
                 ORDER BY c.path",
            )?;
            let rows = stmt.query_map([dest], |r| {
                Ok(CopyRow {
                    photo_id: r.get(0)?,
                    key: rel(r.get(1)?)?,
                    hash: hash_from(r.get(2)?),
                    size: r.get::<_, i64>(3)? as u64,
                    state: r.get(4)?,
                    verified_at: r.get(5)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Records the outcome of checking a copy: `verified` (its time is refreshed),
    /// `corrupt` or `missing`.
    pub fn record_copy_checked(
        &self,
        photo_id: i64,
        dest: &str,
        state: &str,
        error: Option<&str>,
        op: &Operation<'_>,
    ) -> Result<()> {
        let at = now();
        self.tx(|tx| {
            tx.execute(
                "UPDATE copies SET state = ?3, error = ?4, updated_at = ?5,
                   verified_at = CASE WHEN ?3 = 'verified' THEN ?5 ELSE verified_at END
                 WHERE photo_id = ?1 AND dest = ?2",
                params![photo_id, dest, state, error, at],
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

    // ---- restoring ---------------------------------------------------------------

    /// Every name of every photo the catalog knows (in a library or no longer), with
    /// what it should hold, by library and path.
    pub fn names_to_restore(&self) -> Result<Vec<NamedPhoto>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT f.photo_id, f.library, f.path, f.mtime_ns, p.hash, p.size, p.captured
                 FROM files f JOIN photos p ON p.id = f.photo_id
                 ORDER BY f.library, f.path",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(NamedPhoto {
                    photo_id: r.get(0)?,
                    library: r.get(1)?,
                    path: rel(r.get(2)?)?,
                    mtime_ns: r.get(3)?,
                    hash: hash_from(r.get(4)?),
                    size: r.get::<_, i64>(5)? as u64,
                    captured: r.get(6)?,
                })
            })?;
            rows.collect()
        })
    }

    // ---- rebuilding ----------------------------------------------------------------

    /// Records what one manifest says about copies at `dest`, in one transaction: the
    /// photos, their library names (absent until a scan finds them), and the copies as
    /// verified at the manifest's time. Returns how many entries were recorded.
    pub fn record_manifest(
        &self,
        dest: &str,
        entries: &[crate::destination::manifest::Entry],
    ) -> Result<usize> {
        self.tx(|tx| {
            let mut photo = tx.prepare_cached(
                "INSERT INTO photos(hash, size, captured, captured_from, kind, first_seen)
                 VALUES (?1, ?2, ?3, 'manifest', ?4, ?5)
                 ON CONFLICT(hash) DO UPDATE SET hash = hash
                 RETURNING id",
            )?;
            let mut file = tx.prepare_cached(
                "INSERT INTO files(library, path, photo_id, size, mtime_ns, inode, present)
                 VALUES (?1, ?2, ?3, ?4, -1, 0, 0)
                 ON CONFLICT(library, path) DO NOTHING",
            )?;
            let mut copy = tx.prepare_cached(
                "INSERT INTO copies(photo_id, dest, path, state, verified_at, attempts, updated_at, manifest)
                 VALUES (?1, ?2, ?3, 'verified', ?4, 1, ?4, 'rebuilt')
                 ON CONFLICT(photo_id, dest) DO UPDATE SET path = excluded.path,
                   verified_at = MAX(COALESCE(verified_at, 0), excluded.verified_at)",
            )?;
            let mut n = 0;
            for e in entries {
                let Some(hash) = ContentHash::from_hex(&e.blake3) else { continue };
                let verified_at = chrono::DateTime::parse_from_rfc3339(&e.verified_at)
                    .map(|t| t.timestamp())
                    .unwrap_or_else(|_| now());
                let id: i64 = photo.query_row(
                    params![&hash.0[..], e.size as i64, e.captured, e.kind, verified_at],
                    |r| r.get(0),
                )?;
                if !e.library.is_empty() {
                    file.execute(params![e.library, e.source.as_bytes(), id, e.size as i64])?;
                }
                copy.execute(params![id, dest, e.path.as_bytes(), verified_at])?;
                n += 1;
            }
            Ok(n)
        })
    }

    // ---- status ------------------------------------------------------------------

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
            let (last_attempt, last_success) = c
                .query_row(
                    "SELECT last_attempt, last_success FROM dest_activity WHERE dest = ?1",
                    [dest],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )
                .optional()?
                .unwrap_or((None, None));
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

    /// Every photo with where it has verified copies, for the 3-2-1 computation.
    pub fn coverage_rows(&self) -> Result<Vec<CoverageRow>> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT p.id,
                        (SELECT library FROM files f WHERE f.photo_id = p.id AND f.present = 1
                         ORDER BY f.id LIMIT 1),
                        p.first_seen, p.protected_at,
                        (SELECT group_concat(dest, char(31)) FROM copies c
                         WHERE c.photo_id = p.id AND c.state = 'verified')
                 FROM photos p ORDER BY p.id",
            )?;
            let rows = stmt.query_map([], |r| {
                let dests: Option<String> = r.get(4)?;
                Ok(CoverageRow {
                    photo_id: r.get(0)?,
                    library: r.get(1)?,
                    first_seen: r.get(2)?,
                    protected_at: r.get(3)?,
                    verified_at: dests
                        .map(|d| d.split('\u{1f}').map(str::to_string).collect())
                        .unwrap_or_default(),
                })
            })?;
            rows.collect()
        })
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

    /// How many verified copies of `hash` are recorded at `dest` (0 or 1): for tests
    /// and checks.
    pub fn copy_of(&self, hash: &ContentHash, dest: &str) -> Result<Option<(RelPath, String)>> {
        self.with(|c| {
            c.query_row(
                "SELECT c.path, c.state FROM copies c JOIN photos p ON p.id = c.photo_id
                 WHERE p.hash = ?1 AND c.dest = ?2",
                params![&hash.0[..], dest],
                |r| Ok((rel(r.get(0)?)?, r.get(1)?)),
            )
            .optional()
        })
    }
}

fn insert_operation(c: &Connection, at: i64, op: &Operation<'_>) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO operations(at, run, kind, dest, photo_id, path, bytes, duration_ms, outcome, message)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        at,
        op.run,
        op.kind,
        op.dest,
        op.photo_id,
        op.path.map(|p| p.as_bytes().to_vec()),
        op.bytes.map(|b| b as i64),
        op.duration_ms.map(|d| d as i64),
        op.outcome,
        op.message
    ])
    .map(drop)
}

#[cfg(test)]
mod tests {
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

    fn op() -> Operation<'static> {
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
        c.record_copy_verified(p[0].photo_id, "d", &key, &op())
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
}
