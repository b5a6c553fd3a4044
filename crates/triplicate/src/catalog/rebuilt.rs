//! Rebuilding copies from manifests (`catalog rebuild`): each manifest line becomes a
//! photo, its library name (absent until a scan finds it) and, where the destination
//! still holds it, a copy verified at the manifest's time.

use rusqlite::{Transaction, params};

use super::*;
use crate::destination::manifest::Entry;

/// A photo a manifest line names, known already or not; returns its id.
const PHOTO: &str = "INSERT INTO photos(hash, size, captured, captured_from, kind, first_seen)
     VALUES (?1, ?2, ?3, 'manifest', ?4, ?5)
     ON CONFLICT(hash) DO UPDATE SET hash = hash
     RETURNING id";
/// Its library name, absent until a scan finds the file; returns the file's id.
const FILE: &str = "INSERT INTO files(library, path, photo_id, size, mtime_ns, inode, present)
     VALUES (?1, ?2, ?3, ?4, ?5, 0, 0)
     ON CONFLICT(library, path) DO UPDATE SET photo_id = excluded.photo_id,
       size = excluded.size, mtime_ns = excluded.mtime_ns
     RETURNING id";
/// Another name of a content, with a file of its own at the destination.
const ALIAS: &str =
    "INSERT INTO aliases(dest, file_id, photo_id, key, verified_at, manifest, stored_hash)
     VALUES (?1, ?2, ?3, ?4, ?5, 'rebuilt', ?6)
     ON CONFLICT(dest, file_id) DO UPDATE SET photo_id = excluded.photo_id,
       key = excluded.key, verified_at = excluded.verified_at,
       stored_hash = excluded.stored_hash";
/// The photo's copy, verified at the manifest's time.
const COPY: &str = "INSERT INTO copies(photo_id, dest, path, state, verified_at, attempts, updated_at, manifest, stored_hash)
     VALUES (?1, ?2, ?3, 'verified', ?4, 1, ?4, 'rebuilt', ?5)
     ON CONFLICT(photo_id, dest) DO UPDATE SET path = excluded.path,
       verified_at = MAX(COALESCE(verified_at, 0), excluded.verified_at),
       stored_hash = excluded.stored_hash";

/// What one manifest line added.
enum Recorded {
    Nothing,
    Copy,
    /// Another name of a content, under a name of its own.
    Name,
}

impl Catalog {
    /// Records what manifests say about copies at `dest`, in one transaction: the
    /// photos, their library names (absent until a scan finds them), and, for the
    /// entries `found(index, entry)` accepts (the copy is there), the copies as
    /// verified at the manifest's time. Returns how many copies and other names were
    /// recorded.
    pub fn record_manifest(
        &self,
        dest: &str,
        entries: &[Entry],
        found: &dyn Fn(usize, &Entry) -> bool,
    ) -> Result<(usize, usize)> {
        self.tx(|tx| {
            let (mut copies, mut names) = (0, 0);
            for (i, e) in entries.iter().enumerate() {
                match record_line(tx, dest, e, &|e| found(i, e))? {
                    Recorded::Copy => copies += 1,
                    Recorded::Name => names += 1,
                    Recorded::Nothing => {}
                }
            }
            Ok((copies, names))
        })
    }
}

/// Records one manifest line.
fn record_line(
    tx: &Transaction<'_>,
    dest: &str,
    e: &Entry,
    found: &dyn Fn(&Entry) -> bool,
) -> rusqlite::Result<Recorded> {
    let Some(hash) = ContentHash::from_hex(&e.blake3) else {
        return Ok(Recorded::Nothing);
    };
    if e.removed {
        // Pruned since an earlier manifest listed it.
        tx.prepare_cached(
            "DELETE FROM copies WHERE dest = ?1 AND path = ?2
               AND photo_id = (SELECT id FROM photos WHERE hash = ?3)",
        )?
        .execute(params![dest, e.path.as_bytes(), &hash.0[..]])?;
        tx.prepare_cached("DELETE FROM aliases WHERE dest = ?1 AND key = ?2")?
            .execute(params![dest, e.path.as_bytes()])?;
        return Ok(Recorded::Nothing);
    }
    // A stretch of a name's history that ended: history only.
    if e.until.is_some() {
        return Ok(Recorded::Nothing);
    }
    let verified_at = chrono::DateTime::parse_from_rfc3339(&e.verified_at)
        .map(|t| t.timestamp())
        .unwrap_or_else(|_| now());
    let id: i64 = tx.prepare_cached(PHOTO)?.query_row(
        params![&hash.0[..], e.size as i64, e.captured, e.kind, verified_at],
        |r| r.get(0),
    )?;
    let file_id: Option<i64> = if e.library.is_empty() {
        None
    } else {
        let mtime = e.mtime_ns.unwrap_or(-1);
        Some(tx.prepare_cached(FILE)?.query_row(
            params![e.library, e.source.as_bytes(), id, e.size as i64, mtime],
            |r| r.get(0),
        )?)
    };
    // A copy the destination does not hold where the line says is not counted: the
    // photo is known, and the next backup copies it again.
    if !found(e) {
        return Ok(Recorded::Nothing);
    }
    let stored_hash = e
        .stored_blake3
        .as_deref()
        .and_then(ContentHash::from_hex)
        .map(|h| h.0.to_vec());
    // Another name of the content, with a file of its own: the name is known to be
    // there, the copy is where its own line says.
    if e.copy_of.is_some() {
        let Some(file_id) = file_id else {
            return Ok(Recorded::Nothing);
        };
        let key = e.path.as_bytes();
        tx.prepare_cached(ALIAS)?.execute(params![
            dest,
            file_id,
            id,
            key,
            verified_at,
            stored_hash
        ])?;
        return Ok(if e.copy_of.as_ref() != Some(&e.path) {
            Recorded::Name
        } else {
            Recorded::Nothing
        });
    }
    tx.prepare_cached(COPY)?.execute(params![
        id,
        dest,
        e.path.as_bytes(),
        verified_at,
        stored_hash
    ])?;
    Ok(Recorded::Copy)
}
