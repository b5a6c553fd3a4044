//! Library files: what the scanner found, and the names restore brings back.

use rusqlite::{OptionalExtension, params};

use super::*;

impl Catalog {
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

    /// The photo with this content, if the catalog knows it.
    pub fn photo_id_of(&self, hash: &ContentHash) -> Result<Option<i64>> {
        self.with(|c| {
            c.query_row(
                "SELECT id FROM photos WHERE hash = ?1",
                [&hash.0[..]],
                |r| r.get(0),
            )
            .optional()
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
            let mut file = tx.prepare_cached(
                "INSERT INTO files(library, path, photo_id, size, mtime_ns, inode, present,
                                   captured, captured_from, kind)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, 1, ?7, ?8, ?9)
                 ON CONFLICT(library, path) DO UPDATE SET
                   photo_id = excluded.photo_id, size = excluded.size,
                   mtime_ns = excluded.mtime_ns, inode = excluded.inode,
                   present = 1, held_photo_id = NULL, held_reason = NULL, held_at = NULL,
                   captured = excluded.captured, captured_from = excluded.captured_from,
                   kind = excluded.kind",
            )?;
            let mut ids = Vec::with_capacity(files.len());
            for f in files {
                let id = upsert_photo(tx, f, at)?;
                file.execute(params![
                    library,
                    f.path.as_bytes(),
                    id,
                    f.size as i64,
                    f.mtime_ns,
                    f.inode as i64,
                    f.captured,
                    f.captured_from,
                    f.kind.as_str()
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
        Ok(self.dated(library, path)?.map(|(captured, _)| captured))
    }

    /// The capture time of the file at `path` in `library`, and where it came from
    /// (`exif`, `mtime` …).
    pub fn dated(&self, library: &str, path: &RelPath) -> Result<Option<(String, String)>> {
        self.with(|c| {
            c.query_row(
                "SELECT COALESCE(f.captured, p.captured), COALESCE(f.captured_from, p.captured_from)
                 FROM files f JOIN photos p ON p.id = f.photo_id
                 WHERE f.library = ?1 AND f.path = ?2",
                params![library, path.as_bytes()],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()
        })
    }

    /// The files in `library` directly in `folder` (`None`: at its top), as the
    /// groups of a shot are found among them.
    pub fn folder_files(&self, library: &str, folder: Option<&RelPath>) -> Result<Vec<FolderFile>> {
        let (low, high) = match folder {
            Some(f) => {
                let mut low = f.as_bytes().to_vec();
                low.push(b'/');
                let mut high = f.as_bytes().to_vec();
                high.push(b'/' + 1);
                (low, high)
            }
            None => (Vec::new(), vec![0xff; 256]),
        };
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT f.path, f.photo_id, p.hash, p.size, COALESCE(f.captured, p.captured),
                        COALESCE(f.kind, p.kind)
                 FROM files f JOIN photos p ON p.id = f.photo_id
                 WHERE f.library = ?1 AND f.present = 1 AND f.path >= ?2 AND f.path < ?3",
            )?;
            let rows = stmt.query_map(params![library, low, high], |r| {
                Ok(FolderFile {
                    path: rel(r.get(0)?)?,
                    photo_id: r.get(1)?,
                    hash: hash_from(r.get(2)?),
                    size: r.get::<_, i64>(3)? as u64,
                    captured: r.get(4)?,
                    kind: PhotoKind::parse(&r.get::<_, String>(5)?).unwrap_or(PhotoKind::Other),
                })
            })?;
            let mut out = Vec::new();
            for row in rows {
                let row = row?;
                if row.path.parent().as_ref() == folder {
                    out.push(row);
                }
            }
            Ok(out)
        })
    }

    // ---- restoring ---------------------------------------------------------------

    /// The libraries the catalog knows names in, by name.
    pub fn library_names(&self) -> Result<Vec<String>> {
        self.with(|c| {
            let mut stmt = c.prepare("SELECT DISTINCT library FROM files ORDER BY library")?;
            let rows = stmt.query_map([], |r| r.get(0))?;
            rows.collect()
        })
    }

    /// Every name of every photo the catalog knows (in a library or no longer), with
    /// what it should hold, by library and path.
    pub fn names_to_restore(&self) -> Result<Vec<NamedPhoto>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT f.photo_id, f.library, f.path, f.mtime_ns, p.hash, p.size,
                        COALESCE(f.captured, p.captured),
                        EXISTS (SELECT 1 FROM files g WHERE g.photo_id = f.photo_id AND g.present = 1)
                 FROM files f JOIN photos p ON p.id = f.photo_id
                 ORDER BY f.library, f.path",
            )?;
            let rows = stmt.query_map([], named_photo)?;
            rows.collect()
        })
    }
}

/// The id of the photo with `f`'s content, recorded first if it is new (seen `at`).
pub(super) fn upsert_photo(c: &Connection, f: &ScannedFile, at: i64) -> rusqlite::Result<i64> {
    c.prepare_cached(
        "INSERT INTO photos(hash, size, captured, captured_from, kind, first_seen)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT(hash) DO UPDATE SET hash = hash
         RETURNING id",
    )?
    .query_row(
        params![
            &f.hash.0[..],
            f.size as i64,
            f.captured,
            f.captured_from,
            f.kind.as_str(),
            at
        ],
        |r| r.get(0),
    )
}

/// A [`NamedPhoto`] from a row of `photo_id, library, path, mtime_ns, hash, size,
/// captured, in_library`.
pub(super) fn named_photo(r: &rusqlite::Row<'_>) -> rusqlite::Result<NamedPhoto> {
    Ok(NamedPhoto {
        photo_id: r.get(0)?,
        library: r.get(1)?,
        path: rel(r.get(2)?)?,
        mtime_ns: r.get(3)?,
        hash: hash_from(r.get(4)?),
        size: r.get::<_, i64>(5)? as u64,
        captured: r.get(6)?,
        in_library: r.get(7)?,
    })
}

/// Card ingest: what it brought into which library.
impl Catalog {
    /// Remembers that the card file `card_path` (content `hash`) of card `card` became
    /// `library_path` in `library`.
    pub fn record_ingested(
        &self,
        card: &str,
        card_path: &RelPath,
        hash: &ContentHash,
        library: &str,
        library_path: &RelPath,
    ) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO ingested(card, card_path, hash, library, library_path, at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                 ON CONFLICT(card, card_path, hash) DO UPDATE SET
                   library = excluded.library, library_path = excluded.library_path, at = excluded.at",
                params![card, card_path.as_bytes(), &hash.0[..], library, library_path.as_bytes(), now()],
            )
            .map(drop)
        })
    }

    /// Where an earlier ingest put the card file `card_path` of card `card` with
    /// content `hash`: (library, path there).
    pub fn ingested_as(
        &self,
        card: &str,
        card_path: &RelPath,
        hash: &ContentHash,
    ) -> Result<Option<(String, RelPath)>> {
        self.with(|c| {
            c.query_row(
                "SELECT library, library_path FROM ingested
                 WHERE card = ?1 AND card_path = ?2 AND hash = ?3",
                params![card, card_path.as_bytes(), &hash.0[..]],
                |r| Ok((r.get::<_, String>(0)?, rel(r.get(1)?)?)),
            )
            .optional()
        })
    }

    /// The file the catalog knows at `path` in `library`, with its content's hash.
    pub fn known_file(
        &self,
        library: &str,
        path: &RelPath,
    ) -> Result<Option<(KnownFile, ContentHash)>> {
        self.with(|c| {
            c.query_row(
                "SELECT f.id, f.size, f.mtime_ns, f.inode, f.photo_id, f.present, p.hash
                 FROM files f JOIN photos p ON p.id = f.photo_id
                 WHERE f.library = ?1 AND f.path = ?2",
                params![library, path.as_bytes()],
                |r| {
                    Ok((
                        KnownFile {
                            id: r.get(0)?,
                            size: r.get::<_, i64>(1)? as u64,
                            mtime_ns: r.get(2)?,
                            inode: r.get::<_, i64>(3)? as u64,
                            photo_id: r.get(4)?,
                            present: r.get(5)?,
                        },
                        hash_from(r.get(6)?),
                    ))
                },
            )
            .optional()
        })
    }

    /// Whether any earlier ingest brought a file of card `card` at `card_path`.
    pub fn was_ingested(&self, card: &str, card_path: &RelPath) -> Result<bool> {
        self.with(|c| {
            c.query_row(
                "SELECT EXISTS (SELECT 1 FROM ingested WHERE card = ?1 AND card_path = ?2)",
                params![card, card_path.as_bytes()],
                |r| r.get(0),
            )
        })
    }
}
