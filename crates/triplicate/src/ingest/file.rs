//! The work on one card file: one read of the card, written to the library and every
//! destination at once, each copy read back; copies already there proven again, and a
//! damaged one moved aside and written again from the card.

use super::*;

/// How one file ended.
#[derive(Debug, Clone, Default)]
pub(super) struct Outcome {
    /// Where the library holds it, verified.
    pub(super) library_path: Option<RelPath>,
    /// The destinations holding a verified copy.
    pub(super) verified_at: Vec<String>,
    pub(super) learned: Option<Learned>,
    /// Written into the library by this ingest.
    pub(super) copied: bool,
    /// Why the file could not be read from the card, if it could not.
    pub(super) card_error: Option<String>,
    /// Copies found damaged and not written again: the place, the key, and the xxh64
    /// of the damaged bytes (a `failed` entry in the ASC MHL generation).
    pub(super) failed_seals: Vec<(Option<usize>, RelPath, u64)>,
    /// Its content was in the library already.
    pub(super) already: bool,
    /// Brought by an earlier ingest, and removed or edited in the library since.
    pub(super) culled: bool,
    /// Each verified copy: the library (`None`) or a destination, and its key there.
    pub(super) placed: Vec<(Option<usize>, RelPath)>,
}

/// Everything a worker needs.
pub(super) struct Context<'a> {
    pub(super) t: &'a Triplicate,
    pub(super) run: &'a str,
    pub(super) library: &'a LibraryConfig,
    pub(super) library_dest: &'a LocalDestination,
    pub(super) layout: &'a Layout,
    pub(super) writers: &'a [Writer],
    pub(super) progress: &'a dyn Progress,
    /// The card, as earlier ingests of it were remembered: its device.
    pub(super) card_id: &'a str,
    /// Bring culled files back into the library.
    pub(super) again: bool,
}

/// One place a file is to be written: the library (`None`) or a destination.
#[derive(Clone)]
pub(super) struct Slot {
    pub(super) writer: Option<usize>,
    pub(super) key: RelPath,
}

impl Context<'_> {
    /// Where the library holds the card file: its layout name, with its group's
    /// suffix when the group takes one.
    pub(super) fn library_key(&self, p: &Planned<'_>) -> RelPath {
        let key = self.layout_key(p);
        match &p.group {
            Some(suffix) => suffix.apply(key),
            None => key,
        }
    }

    pub(super) fn layout_key(&self, p: &Planned<'_>) -> RelPath {
        self.layout.render(&LayoutInput {
            captured: p.captured,
            source: &p.file.rel,
            library: &self.library.name,
            node: &self.t.config.node,
            kind: p.file.kind,
            ingest: Some(&p.tokens),
        })
    }

    /// Where a destination puts the library file `library_key`: as a backup would.
    pub(super) fn dest_key(&self, w: &Writer, p: &Planned<'_>, library_key: &RelPath) -> RelPath {
        w.config.layout.render(&LayoutInput {
            captured: p.captured,
            source: library_key,
            library: &self.library.name,
            node: &self.t.config.node,
            kind: p.file.kind,
            ingest: None,
        })
    }

    pub(super) fn dest_of(&self, slot: &Slot) -> &dyn WriteDestination {
        match slot.writer {
            Some(i) => self.writers[i].dest.as_ref(),
            None => self.library_dest,
        }
    }

    pub(super) fn name_of(&self, slot: &Slot) -> &str {
        match slot.writer {
            Some(i) => &self.writers[i].config.name,
            None => &self.library.name,
        }
    }

    pub(super) fn ingest_file(
        &self,
        p: &Planned<'_>,
        problems: &Mutex<Vec<Problem>>,
    ) -> Result<Outcome, CatalogError> {
        let mut outcome = Outcome::default();
        let problem = |message: String, class| {
            problems.lock().unwrap().push(Problem {
                subject: format!("card:{}", p.file.rel),
                message,
                class,
            })
        };
        let first_library_key = self.library_key(p);
        let (earlier, culled) = self.earlier_ingest(p)?;
        outcome.culled = culled;
        // A file the photographer culled stays out of the library; its backups are
        // still made sure of.
        let mut slots = Vec::new();
        if !culled {
            slots.push(Slot {
                writer: None,
                key: first_library_key.clone(),
            });
        }
        for (i, w) in self.writers.iter().enumerate() {
            slots.push(Slot {
                writer: Some(i),
                key: self.dest_key(w, p, &first_library_key),
            });
        }

        // A name taken already: learn the card file's hashes first, then place by them.
        let mut known: Option<Learned> = earlier;
        let mut taken = culled;
        for slot in &slots {
            match self.dest_of(slot).stat(&slot.key) {
                Ok(None) => {}
                Ok(Some(_)) | Err(_) => taken = true,
            }
        }
        let mut placed: Vec<(Slot, Option<Stored>)> = Vec::new();
        // Copies found damaged, to be written again.
        let mut redone: Vec<(usize, Redo)> = Vec::new();
        if taken {
            match known.map_or_else(|| p.learn(), Ok) {
                Ok(l) => known = Some(l),
                Err(e) => {
                    problem(
                        format!("{} could not be read from the card: {e}", p.file.rel),
                        crate::destination::ErrorClass::Transient,
                    );
                    outcome.card_error = Some(format!(
                        "cannot read from the card: {}",
                        crate::fsutil::read_error_reason(&e)
                    ));
                    return Ok(outcome);
                }
            }
            let hash = known.expect("just learned").blake3;
            let library_key = if culled {
                first_library_key
            } else {
                match choose_key(self.library_dest, first_library_key, &hash, p.file.size) {
                    Ok(Placement::Write(k)) => {
                        placed.push((
                            Slot {
                                writer: None,
                                key: k.clone(),
                            },
                            None,
                        ));
                        k
                    }
                    Ok(Placement::AlreadyThere(k, _)) => {
                        outcome.already = true;
                        outcome.library_path = Some(k.clone());
                        k
                    }
                    Err(e) => {
                        problem(e.to_string(), e.class());
                        return Ok(outcome);
                    }
                }
            };
            let photo_id = self.t.catalog.photo_id_of(&hash)?;
            for (i, w) in self.writers.iter().enumerate() {
                // A copy the catalog knows counts only once read back now; a damaged
                // one is moved aside and written again from the card.
                let held = match photo_id {
                    Some(id) => self.t.catalog.copy_of(id, &w.config.id)?,
                    None => None,
                };
                if let Some(row) = held.filter(|r| r.state == CopyState::Verified) {
                    match self.prove_held_copy(w, &row, p, &problem)? {
                        Some(redo) => {
                            placed.push((
                                Slot {
                                    writer: Some(i),
                                    key: redo.key.clone(),
                                },
                                None,
                            ));
                            redone.push((i, redo));
                        }
                        None => {
                            outcome.placed.push((Some(i), row.key.clone()));
                            outcome.verified_at.push(w.config.name.clone());
                            w.report.lock().unwrap().already += 1;
                        }
                    }
                    continue;
                }
                let first = self.dest_key(w, p, &library_key);
                match choose_key(w.dest.as_ref(), first, &hash, p.file.size) {
                    Ok(Placement::Write(k)) => placed.push((
                        Slot {
                            writer: Some(i),
                            key: k,
                        },
                        None,
                    )),
                    Ok(Placement::AlreadyThere(k, stored)) => placed.push((
                        Slot {
                            writer: Some(i),
                            key: k,
                        },
                        Some(stored),
                    )),
                    Err(e) => {
                        w.report.lock().unwrap().failed += 1;
                        problem(e.to_string(), e.class());
                    }
                }
            }
        } else {
            placed = slots.into_iter().map(|s| (s, None)).collect();
        }

        // Copies already in place count as they are; the rest are written from one read.
        let (mut pending, mut there): (Vec<Slot>, Vec<(Slot, Stored)>) = {
            let mut pending = Vec::new();
            let mut there = Vec::new();
            for (slot, stored) in placed {
                match stored {
                    Some(stored) => there.push((slot, stored)),
                    None => pending.push(slot),
                }
            }
            (pending, there)
        };
        let mut written: Vec<(Slot, Stored)> = Vec::new();
        let mut last_errors: Vec<(Slot, String, crate::destination::ErrorClass)> = Vec::new();
        let mut placement_errors = Vec::new();
        for attempt in 0..RETRY.attempts {
            // Every copy written (or failed for good): no retry, and no wait for one.
            if pending.is_empty() {
                break;
            }
            if attempt > 0
                && let Some(l) = known
            {
                std::thread::sleep(RETRY.wait(attempt, p.file.rel.as_bytes()));
                // A copy that read back wrong is still there: place again, by content.
                let mut again = Vec::new();
                for slot in pending {
                    let dest = self.dest_of(&slot);
                    match choose_key(dest, slot.key.clone(), &l.blake3, p.file.size) {
                        Ok(Placement::Write(key)) => again.push(Slot { key, ..slot }),
                        Ok(Placement::AlreadyThere(key, stored)) => {
                            there.push((Slot { key, ..slot }, stored))
                        }
                        Err(e) => placement_errors.push((slot, e.to_string(), e.class())),
                    }
                }
                pending = again;
            }
            if pending.is_empty() {
                break;
            }
            let targets: Vec<Target<'_>> = pending
                .iter()
                .map(|s| Target {
                    dest: self.dest_of(s),
                    key: s.key.clone(),
                })
                .collect();
            let names: Vec<String> = pending
                .iter()
                .map(|s| self.name_of(s).to_string())
                .collect();
            let on_bytes = |i: usize, n: u64| {
                self.progress.event(&Event::WorkBytes {
                    dest: &names[i],
                    bytes: n,
                })
            };
            let result = match known {
                Some(l) => fan_out(&p.file.path, p.file.size, &l.blake3, &targets, &on_bytes)
                    .map(|r| (Some(l), r)),
                None => fan_out_learning(&p.file.path, p.file.size, &targets, &on_bytes),
            };
            let (learned, results) = match result {
                Ok(r) => r,
                Err(e) => {
                    // The card, not a destination: pulled out, or a bad sector.
                    problem(
                        format!("{e} (is the card still in? run ingest again to resume)"),
                        crate::destination::ErrorClass::Transient,
                    );
                    outcome.card_error = Some(format!("cannot read from the card: {}", e.reason()));
                    return Ok(outcome);
                }
            };
            if known.is_none() {
                known = learned;
            }
            last_errors.clear();
            let mut retry = Vec::new();
            for (slot, result) in pending.into_iter().zip(results) {
                match result {
                    Ok(stored) => written.push((slot, stored)),
                    Err(e) if RETRY.again(attempt, &e) => {
                        tracing::info!("retrying {} to {}: {e}", p.file.rel, self.name_of(&slot));
                        retry.push(slot);
                    }
                    Err(e) => last_errors.push((slot, e.to_string(), e.class())),
                }
            }
            pending = retry;
        }
        last_errors.extend(placement_errors);
        let Some(learned) = known else {
            for (slot, message, class) in last_errors {
                self.fail(&slot, &message, class, p, &problem);
            }
            return Ok(outcome);
        };
        outcome.learned = Some(learned);

        // Record: the library file as a scan would, then each verified copy.
        if let Some((slot, _)) = written.iter().find(|(s, _)| s.writer.is_none()) {
            outcome.library_path = Some(slot.key.clone());
            outcome.copied = true;
        } else if let Some((slot, _)) = there.iter().find(|(s, _)| s.writer.is_none()) {
            outcome.library_path = Some(slot.key.clone());
            outcome.already = true;
        }
        if let Some(k) = &outcome.library_path {
            outcome.placed.push((None, k.clone()));
        }
        let photo_id = match &outcome.library_path {
            Some(path) => {
                let meta = std::fs::metadata(path.to_path(&self.library.path)).ok();
                let ids = self.t.catalog.record_files(
                    &self.library.name,
                    &[ScannedFile {
                        path: path.clone(),
                        hash: learned.blake3,
                        size: p.file.size,
                        mtime_ns: meta
                            .as_ref()
                            .map(|m| m.mtime() * 1_000_000_000 + m.mtime_nsec())
                            .unwrap_or(-1),
                        inode: meta.as_ref().map(|m| m.ino()).unwrap_or(0),
                        captured: p.captured.format(CAPTURE_FORMAT).to_string(),
                        captured_from: p.captured_from.as_str(),
                        kind: p.file.kind,
                    }],
                )?;
                self.t.catalog.record_ingested(
                    self.card_id,
                    &p.file.rel,
                    &learned.blake3,
                    &self.library.name,
                    path,
                )?;
                ids.first().copied()
            }
            // Culled from the library: the photo is still known by its content.
            None if culled => self.t.catalog.photo_id_of(&learned.blake3)?,
            None => None,
        };
        self.progress.event(&Event::WorkDone {
            dest: &self.library.name,
            ok: outcome.library_path.is_some() || culled,
        });
        let copies = written
            .iter()
            .map(|c| (c, true))
            .chain(there.iter().map(|c| (c, false)));
        for ((slot, stored), fresh) in copies {
            let (Some(i), Some(photo_id)) = (slot.writer, photo_id) else {
                // The library itself, or no library copy to name the photo by.
                continue;
            };
            let w = &self.writers[i];
            self.t.catalog.record_copy_verified(
                photo_id,
                &w.config.id,
                &slot.key,
                *stored,
                w.dest.properties().verified_by,
                &Operation {
                    run: self.run,
                    kind: if fresh { "ingest" } else { "adopt" },
                    dest: Some(&w.config.name),
                    photo_id: Some(photo_id),
                    path: Some(&slot.key),
                    bytes: Some(if fresh { p.file.size } else { 0 }),
                    duration_ms: None,
                    outcome: "verified",
                    message: None,
                },
            )?;
            let mut r = w.report.lock().unwrap();
            if fresh {
                r.written += 1;
            } else {
                r.already += 1;
            }
            outcome.verified_at.push(w.config.name.clone());
            outcome.placed.push((Some(i), slot.key.clone()));
            self.progress.event(&Event::WorkDone {
                dest: &w.config.name,
                ok: true,
            });
        }
        // A damaged copy that could not be written again is a mismatch in the ASC MHL
        // history: its generation says `failed`, with the hash of what was found.
        for (i, redo) in redone {
            let rewritten = outcome
                .placed
                .iter()
                .any(|(at, k)| *at == Some(i) && *k == redo.key);
            if let (false, Some(found)) = (rewritten, redo.damaged_xxh64) {
                outcome.failed_seals.push((Some(i), redo.key, found));
            }
        }
        for (slot, message, class) in last_errors {
            self.fail(&slot, &message, class, p, &problem);
            if let (Some(i), Some(photo_id)) = (slot.writer, photo_id) {
                let w = &self.writers[i];
                self.t.catalog.record_copy_failed(
                    photo_id,
                    &w.config.id,
                    Some(&slot.key),
                    &message,
                    class.as_str(),
                    &Operation {
                        run: self.run,
                        kind: "ingest",
                        dest: Some(&w.config.name),
                        photo_id: Some(photo_id),
                        path: Some(&slot.key),
                        bytes: None,
                        duration_ms: None,
                        outcome: "failed",
                        message: Some(&message),
                    },
                )?;
            }
        }
        Ok(outcome)
    }

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
        problem: &dyn Fn(String, crate::destination::ErrorClass),
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
            Some(&why),
            &Operation {
                outcome: state.as_str(),
                message: Some(&why),
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
            crate::destination::ErrorClass::Transient,
        );
        Ok(Some(redo))
    }

    pub(super) fn fail(
        &self,
        slot: &Slot,
        message: &str,
        class: crate::destination::ErrorClass,
        p: &Planned<'_>,
        problem: &dyn Fn(String, crate::destination::ErrorClass),
    ) {
        if let Some(i) = slot.writer {
            self.writers[i].report.lock().unwrap().failed += 1;
        }
        self.progress.event(&Event::WorkDone {
            dest: self.name_of(slot),
            ok: false,
        });
        problem(
            format!("{} → {}: {message}", p.file.rel, self.name_of(slot)),
            class,
        );
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
