//! Copies an earlier ingest of the card left: what that ingest learned of each file,
//! and each copy it made proven again before it counts; a damaged one is moved aside,
//! to be written again from the card.

use super::*;
use crate::destination::ErrorClass;

impl Context<'_> {
    /// What an earlier ingest of this card did with this file: its hashes, when the
    /// card file had to be read to tell, and whether the photographer culled it since
    /// (the library file it became is gone, or no longer as it was).
    pub(super) fn earlier_ingest(
        &self,
        p: &Planned<'_>,
    ) -> Result<(Option<Learned>, bool), CatalogError> {
        if self.again || !self.t.catalog.was_ingested(self.card_id, &p.file.rel)? {
            return Ok((None, false));
        }
        // Unreadable here: the copy below says so.
        let Ok(learned) = p.learn() else {
            return Ok((None, false));
        };
        let Some((library, path)) =
            self.t
                .catalog
                .ingested_as(self.card_id, &p.file.rel, &learned.blake3)?
        else {
            return Ok((Some(learned), false));
        };
        let Some(lib) = self.t.config.library(&library) else {
            return Ok((Some(learned), false));
        };
        // As the catalog last saw it, holding this content.
        let on_disk = std::fs::symlink_metadata(path.to_path(&lib.path)).ok();
        let known = self.t.catalog.known_file(&lib.name, &path)?;
        let holds = match (on_disk, known) {
            (Some(meta), Some((k, hash))) => {
                hash == learned.blake3
                    && k.size == meta.len()
                    && k.mtime_ns == meta.mtime() * 1_000_000_000 + meta.mtime_nsec()
                    && k.inode == meta.ino()
            }
            _ => false,
        };
        Ok((Some(learned), !holds))
    }

    /// Reads back a copy the catalog holds as verified. `None` when it is good (it is
    /// recorded as proven now); else where to write it again, after the damaged copy
    /// was moved aside into `.triplicate/quarantine/` and reported.
    pub(super) fn prove_held_copy(
        &self,
        w: &Writer,
        row: &crate::catalog::CopyRow,
        p: &Planned<'_>,
        problem: &dyn Fn(String, ErrorClass),
    ) -> Result<Option<Redo>, CatalogError> {
        let stored = match row.stored_hash {
            Some(hash) => Stored::Transformed {
                hash,
                size: row.size,
            },
            None => Stored::AsGiven,
        };
        let base = Operation {
            run: self.run,
            kind: "reingest check",
            dest: Some(&w.config.name),
            photo_id: Some(row.photo_id),
            path: Some(&row.key),
            bytes: Some(row.size),
            duration_ms: None,
            outcome: "verified",
            message: None,
        };
        let why = match crate::engine::fanout::verify_copy(
            w.dest.as_ref(),
            &row.key,
            &row.hash,
            stored,
        ) {
            Ok(()) => {
                self.t.catalog.record_copy_checked(
                    row.photo_id,
                    &w.config.id,
                    CopyState::Verified,
                    None,
                    &base,
                )?;
                return Ok(None);
            }
            Err(e) => e.to_string(),
        };
        self.held_copy_damaged(w, row, p, &why, base, problem)
    }

    /// A held copy that is not what the card holds: recorded missing or corrupt, moved
    /// aside when it is there (never deleted), to be written again from the card.
    fn held_copy_damaged(
        &self,
        w: &Writer,
        row: &crate::catalog::CopyRow,
        p: &Planned<'_>,
        why: &str,
        base: Operation<'_>,
        problem: &dyn Fn(String, ErrorClass),
    ) -> Result<Option<Redo>, CatalogError> {
        let missing = matches!(w.dest.stat(&row.key), Ok(None));
        let state = if missing {
            CopyState::Missing
        } else {
            CopyState::Corrupt
        };
        let damaged_xxh64 = if missing {
            None
        } else {
            w.dest
                .read(&row.key)
                .ok()
                .and_then(|mut r| learn(&mut r).ok())
                .map(|l| l.xxh64)
        };
        let redo = Redo {
            key: row.key.clone(),
            damaged_xxh64,
        };
        self.t.catalog.record_copy_checked(
            row.photo_id,
            &w.config.id,
            state,
            Some(why),
            &Operation {
                outcome: state.as_str(),
                message: Some(why),
                ..base
            },
        )?;
        let aside = if missing {
            String::new()
        } else {
            let aside = destination::layout::quarantine_key(self.run, &row.key);
            if let Err(e) = w.dest.rename(&row.key, &aside) {
                problem(
                    format!(
                        "{} → {}: the copy there is damaged ({why}) and could not be moved aside: {e}",
                        p.file.rel, w.config.name
                    ),
                    e.class(),
                );
                return Ok(Some(redo));
            }
            format!("; moved aside to {aside}")
        };
        problem(
            format!(
                "{} → {}: the copy at {} was {state} ({why}){aside}; written again from the card",
                p.file.rel, w.config.name, row.key
            ),
            ErrorClass::Transient,
        );
        Ok(Some(redo))
    }
}

/// A copy found damaged, to be written again at `key`.
pub(super) struct Redo {
    pub(super) key: RelPath,
    /// The xxh64 of the damaged bytes, when they could be read.
    pub(super) damaged_xxh64: Option<u64>,
}

/// BLAKE3 and xxh64 of everything `reader` gives.
pub(super) fn learn(reader: &mut dyn std::io::Read) -> std::io::Result<Learned> {
    let mut blake3 = blake3::Hasher::new();
    let mut xxh64 = xxhash_rust::xxh64::Xxh64::new(0);
    crate::photo::read_all(reader, |chunk| {
        blake3.update(chunk);
        xxh64.update(chunk);
    })?;
    Ok(Learned {
        blake3: ContentHash(*blake3.finalize().as_bytes()),
        xxh64: xxh64.digest(),
    })
}
