//! The catalog: what Triplicate knows about photos, copies, runs and warnings.
//!
//! SQLite in WAL mode ([`Catalog`]), migrated on open by `schema::MIGRATIONS`. Each
//! state change (a file scanned, a copy verified, a warning raised) is one
//! transaction, so a crash leaves the catalog at the last change, never between two.
//! The catalog is a cache of truth: the destinations' markers and manifests hold
//! enough to rebuild it. It refuses to live on a network filesystem, where SQLite's
//! locking is unreliable.

mod alerts;
mod copies;
mod files;
mod grid;
mod guard;
mod history;
mod names;
mod rebuilt;
pub use history::Stretches;
pub use names::{MissingName, NameFile};
mod runs;
mod schema;
mod unreadable;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

pub use alerts::AlertRow;
pub use copies::{DeletedPhotos, ProofAges};
pub use grid::{ChangeRow, PeerState, PhotoToSend, PhotoView, RecordRow, StoredRecord};
pub use guard::GuardTrip;
#[cfg(any(test, feature = "testing"))]
pub use history::advance_clock;
pub use history::{EarlierVersion, HeldChange, HistoryRow, HoldReason, Original, Snapshot, now_ms};
use runs::insert_operation;
pub use runs::{FinishedRun, LoggedOperation, OPERATIONS_KEPT, RUNS_KEPT, RunKind, RunOutcome};
use rusqlite::{Connection, OptionalExtension};
pub use unreadable::{LeftOut, UnreadableFile, destination_place, library_place};

use crate::photo::{ContentHash, PhotoKind};
use crate::relpath::RelPath;
use crate::vocab::CopyState;

#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    #[error("catalog {} is on a {fs} network filesystem, where SQLite can corrupt it: keep the home on a local disk (--home or TRIPLICATE_HOME)", path.display())]
    NetworkFilesystem { path: PathBuf, fs: &'static str },
    #[error("cannot create the folder for catalog {}: {source}", path.display())]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// SQLite's own words, once, and what to do where there is something to do.
    #[error("catalog {}: {}", path.display(), explain(error))]
    Sqlite {
        path: PathBuf,
        error: rusqlite::Error,
    },
    #[error("catalog {} is damaged (SQLite's check: {found}); run `triplicate catalog rebuild` to recreate it from the destinations (the damaged file is kept aside)", path.display())]
    Damaged { path: PathBuf, found: String },
    #[error("catalog {} has schema version {found}, newer than this program ({known}): upgrade triplicate", path.display())]
    TooNew {
        path: PathBuf,
        found: usize,
        known: usize,
    },
}

pub type Result<T> = std::result::Result<T, CatalogError>;

/// SQLite's error, with what to do when the catalog is damaged or its disk is full.
fn explain(error: &rusqlite::Error) -> String {
    use rusqlite::ErrorCode;
    let advice = match error.sqlite_error_code() {
        Some(ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase) => {
            "the catalog is damaged: run `triplicate catalog rebuild` to recreate it from the destinations (the damaged file is kept aside)"
        }
        Some(ErrorCode::DiskFull) => "free space on the disk that holds it",
        Some(ErrorCode::SystemIoFailure) => {
            "the catalog could not be read or written: is its disk full or failing? Free space or check the disk; if the catalog is damaged, `triplicate catalog rebuild` recreates it"
        }
        _ => return error.to_string(),
    };
    format!("{error}; {advice}")
}

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

/// A file in a library folder, with its photo.
#[derive(Debug, Clone)]
pub struct FolderFile {
    pub path: RelPath,
    pub photo_id: i64,
    pub hash: ContentHash,
    pub size: u64,
    pub captured: String,
    pub kind: PhotoKind,
}

impl FolderFile {
    /// The file a pending photo is read from.
    pub fn of(photo: &PendingPhoto) -> FolderFile {
        FolderFile {
            path: photo.path.clone(),
            photo_id: photo.photo_id,
            hash: photo.hash,
            size: photo.size,
            captured: photo.captured.clone(),
            kind: photo.kind,
        }
    }
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
    /// That copy was found damaged by `verify`: its bytes must move aside before the
    /// good ones take its name.
    pub previous_corrupt: bool,
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
    /// The hash of the bytes as stored, where they are not the photo's (encrypted).
    pub stored_hash: Option<ContentHash>,
    /// The library file's modification time, where the catalog knows it.
    pub mtime_ns: Option<i64>,
    /// Another name of the content, with a file of its own ([`Catalog::unlisted_aliases`]).
    pub alias: Option<AliasOf>,
    /// Since when the name has held this content (Unix milliseconds), where known.
    pub since: Option<i64>,
    /// Until when it held it, for a stretch of history that ended
    /// ([`Catalog::unlisted_ends`]).
    pub until: Option<i64>,
}

impl UnlistedCopy {
    /// Reads the columns every manifest line's query selects first, in this order:
    /// photo id, key, hash, size, captured, kind, library, source, verified at, stored
    /// hash, mtime, since. The caller fills `alias` and `until` from what follows.
    fn from_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<UnlistedCopy> {
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
            stored_hash: r.get::<_, Option<Vec<u8>>>(9)?.map(hash_from),
            mtime_ns: r.get::<_, Option<i64>>(10)?.filter(|&m| m >= 0),
            alias: None,
            since: r.get(11)?,
            until: None,
        })
    }
}

/// Which name an alias line is, and where the content's copy is.
#[derive(Debug, Clone)]
pub struct AliasOf {
    pub file_id: i64,
    pub copy_key: Option<RelPath>,
}

/// A copy as recorded: where it is and what it should hold.
#[derive(Debug, Clone)]
pub struct CopyRow {
    pub photo_id: i64,
    pub key: RelPath,
    pub hash: ContentHash,
    pub size: u64,
    pub state: CopyState,
    pub verified_at: Option<i64>,
    /// The hash of the bytes as stored, where they are not the photo's (encrypted).
    pub stored_hash: Option<ContentHash>,
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
    /// Some library holds its content now (under this name or another).
    pub in_library: bool,
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
    /// Destination ids with a verified copy (proven recently enough, when asked).
    pub verified_at: Vec<String>,
    /// Destination ids with a verified copy whose last proof is too old to count.
    pub stale_at: Vec<String>,
    /// Destinations (id) where copying it failed, with the last error.
    pub failed_at: Vec<(String, String)>,
    /// Its library file could not be read at the last scan: the original counts as
    /// no copy. Filled by [`crate::policy::assess`].
    pub unreadable: bool,
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
    /// When a person acknowledged it (it stays open until its cause is gone).
    pub acknowledged_at: Option<i64>,
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

/// Unix seconds now, by the catalog's clock (which tests may move on).
pub fn now() -> i64 {
    now_ms().div_euclid(1000)
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
        let conn = Connection::open(path).map_err(|error| CatalogError::Sqlite {
            path: path.into(),
            error,
        })?;
        Self::setup(path.into(), conn)
    }

    /// A throw-away catalog, for tests.
    pub fn open_in_memory() -> Result<Catalog> {
        let path = PathBuf::from(":memory:");
        let conn = Connection::open_in_memory().map_err(|error| CatalogError::Sqlite {
            path: path.clone(),
            error,
        })?;
        Self::setup(path, conn)
    }

    fn setup(path: PathBuf, mut conn: Connection) -> Result<Catalog> {
        let sql = |error| CatalogError::Sqlite {
            path: path.clone(),
            error,
        };
        conn.busy_timeout(std::time::Duration::from_secs(30))
            .map_err(sql)?;
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(sql)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(sql)?;
        conn.pragma_update(None, "foreign_keys", "ON")
            .map_err(sql)?;
        // Up to 64 MiB of pages in memory (taken as needed): a GRID node's log of a few
        // hundred thousand changes otherwise spills and re-reads pages on every merge.
        conn.pragma_update(None, "cache_size", -65536)
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
        f(&mut conn).map_err(|error| CatalogError::Sqlite {
            path: self.path.clone(),
            error,
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

    /// A consistent copy of the whole catalog at `to`, taken with SQLite's online
    /// backup API: the service goes on writing meanwhile.
    pub fn snapshot_to(&self, to: &Path) -> Result<()> {
        self.with(|c| {
            c.backup(
                rusqlite::MAIN_DB,
                to,
                None::<fn(rusqlite::backup::Progress)>,
            )
        })
    }

    /// Replaces the whole catalog with the database at `from` (a snapshot), through
    /// SQLite's backup API: the write-ahead log stays consistent, and other processes
    /// that have the catalog open see the new content.
    pub fn restore_from(&self, from: &Path) -> Result<()> {
        self.with(|c| {
            c.restore(
                rusqlite::MAIN_DB,
                from,
                None::<fn(rusqlite::backup::Progress)>,
            )
        })
    }

    /// Every present file of `library` with its content hash, size, mtime and inode:
    /// what an archive of the library can take without reading the file twice.
    pub fn library_hashes(
        &self,
        library: &str,
    ) -> Result<HashMap<RelPath, (ContentHash, u64, i64, u64)>> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT f.path, p.hash, f.size, f.mtime_ns, f.inode FROM files f \
                 JOIN photos p ON p.id = f.photo_id WHERE f.library = ?1 AND f.present",
            )?;
            let rows = stmt.query_map([library], |r| {
                let hash: Vec<u8> = r.get(1)?;
                let hash = ContentHash(hash.try_into().map_err(|_| {
                    rusqlite::Error::InvalidColumnType(
                        1,
                        "hash".into(),
                        rusqlite::types::Type::Blob,
                    )
                })?);
                Ok((
                    rel(r.get(0)?)?,
                    (
                        hash,
                        r.get::<_, i64>(2)? as u64,
                        r.get(3)?,
                        r.get::<_, i64>(4)? as u64,
                    ),
                ))
            })?;
            rows.collect()
        })
    }

    /// `PRAGMA integrity_check`: "ok" when the database is sound.
    pub fn integrity_check(&self) -> Result<String> {
        self.with(|c| c.query_row("PRAGMA integrity_check", [], |r| r.get(0)))
    }

    /// Reads every page of the catalog (SQLite's `quick_check`), so that damage is
    /// found even where this run's queries did not go. A pass over the whole file:
    /// `triplicate backup` runs it at the end of every run, the service once a day
    /// ([`Catalog::check_sound_daily`]).
    pub fn check_sound(&self) -> Result<()> {
        let found: Vec<String> = self.with(|c| {
            let mut stmt = c.prepare("PRAGMA quick_check(5)")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect()
        })?;
        if found.len() == 1 && found[0] == "ok" {
            return Ok(());
        }
        // The first finding, in SQLite's words; the others are more of the same.
        let mut findings = found
            .iter()
            .flat_map(|f| f.lines())
            .filter(|l| !l.starts_with("***"));
        let first = findings.next().unwrap_or("damage").to_string();
        let more = findings.count();
        Err(CatalogError::Damaged {
            path: self.path.clone(),
            found: if more > 0 {
                format!("{first}, and more")
            } else {
                first
            },
        })
    }

    /// [`Catalog::check_sound`], when the last check that passed is a day old.
    pub fn check_sound_daily(&self) -> Result<()> {
        const KEY: &str = "sound_checked_at";
        let last: Option<i64> = self.with(|c| {
            c.query_row("SELECT value FROM meta WHERE key = ?1", [KEY], |r| {
                r.get::<_, String>(0)
            })
            .optional()
            .map(|v| v.and_then(|v| v.parse().ok()))
        })?;
        let now = now();
        if last.is_some_and(|at| now - at < 24 * 3600) {
            return Ok(());
        }
        self.check_sound()?;
        self.with(|c| {
            c.execute(
                "INSERT INTO meta(key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                rusqlite::params![KEY, now.to_string()],
            )
            .map(drop)
        })
    }
}

#[cfg(test)]
mod tests;
