//! The work on one card file: one read of the card, written to the library and every
//! destination at once, each copy read back. Copies already there are proven again
//! first ([`super::held`]), and a damaged one is written again from the card.

use super::*;
use crate::destination::ErrorClass;

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

    /// Ingests one card file: every copy placed, written from one read of the card and
    /// read back, then recorded.
    pub(super) fn ingest_file(
        &self,
        p: &Planned<'_>,
        problems: &Mutex<Vec<Problem>>,
    ) -> Result<Outcome, CatalogError> {
        let mut work = FileWork {
            cx: self,
            p,
            problems,
            outcome: Outcome::default(),
            copies: Copies::default(),
        };
        let first_library_key = self.library_key(p);
        let (mut known, culled) = self.earlier_ingest(p)?;
        work.outcome.culled = culled;
        // A file the photographer culled stays out of the library; its backups are
        // still made sure of.
        let slots = self.slots(p, &first_library_key, culled);
        // A name taken already: learn the card file's hashes first, then place by them.
        let taken = culled
            || slots
                .iter()
                .any(|s| !matches!(self.dest_of(s).stat(&s.key), Ok(None)));
        if taken {
            let learned = match known.map_or_else(|| p.learn(), Ok) {
                Ok(l) => l,
                Err(e) => {
                    return Ok(work.card_unreadable(
                        format!("{} could not be read from the card: {e}", p.file.rel),
                        crate::fsutil::read_error_reason(&e),
                    ));
                }
            };
            known = Some(learned);
            if !work.place_by_content(first_library_key, &learned.blake3)? {
                return Ok(work.outcome);
            }
        } else {
            work.copies.pending = slots;
        }
        let known = match work.write_pending(known) {
            Ok(known) => known,
            Err(e) => {
                // The card, not a destination: pulled out, or a bad sector.
                return Ok(work.card_unreadable(
                    format!("{e} (is the card still in? run ingest again to resume)"),
                    e.reason(),
                ));
            }
        };
        let Some(learned) = known else {
            for (slot, message, class) in &work.copies.failed {
                work.fail(slot, message, *class);
            }
            return Ok(work.outcome);
        };
        work.outcome.learned = Some(learned);
        let photo_id = work.record_library(&learned)?;
        work.record_copies(photo_id)?;
        work.record_failures(photo_id)?;
        Ok(work.outcome)
    }

    /// Where the file is to go: the library (unless culled) and each destination, at
    /// the names their layouts give.
    fn slots(&self, p: &Planned<'_>, library_key: &RelPath, culled: bool) -> Vec<Slot> {
        let library = (!culled).then(|| Slot {
            writer: None,
            key: library_key.clone(),
        });
        let destinations = self.writers.iter().enumerate().map(|(i, w)| Slot {
            writer: Some(i),
            key: self.dest_key(w, p, library_key),
        });
        library.into_iter().chain(destinations).collect()
    }

    pub(super) fn fail(
        &self,
        slot: &Slot,
        message: &str,
        class: ErrorClass,
        p: &Planned<'_>,
        problem: &dyn Fn(String, ErrorClass),
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

/// Where each copy of one card file stands while it is worked on.
#[derive(Default)]
struct Copies {
    /// To be written from the card.
    pending: Vec<Slot>,
    /// In place already: the same content, found by its hash.
    there: Vec<(Slot, Stored)>,
    /// Written and read back by this ingest.
    written: Vec<(Slot, Stored)>,
    /// Given up on: why, and the class of the error.
    failed: Vec<(Slot, String, ErrorClass)>,
    /// Damaged copies moved aside to be written again: the writer, and where.
    redone: Vec<(usize, Redo)>,
}

/// One card file being ingested: the shared context, what has become of its copies,
/// and the outcome so far.
struct FileWork<'a> {
    cx: &'a Context<'a>,
    p: &'a Planned<'a>,
    problems: &'a Mutex<Vec<Problem>>,
    outcome: Outcome,
    copies: Copies,
}

impl FileWork<'_> {
    fn problem(&self, message: String, class: ErrorClass) {
        self.problems.lock().unwrap().push(Problem {
            subject: format!("card:{}", self.p.file.rel),
            message,
            class,
        })
    }

    fn fail(&self, slot: &Slot, message: &str, class: ErrorClass) {
        self.cx
            .fail(slot, message, class, self.p, &|m, c| self.problem(m, c));
    }

    /// The outcome of a file the card would not give: reported, and `reason` kept for
    /// the verdict.
    fn card_unreadable(self, message: String, reason: String) -> Outcome {
        self.problem(message, ErrorClass::Transient);
        Outcome {
            card_error: Some(format!("cannot read from the card: {reason}")),
            ..self.outcome
        }
    }

    /// Places every copy by the card file's content `hash`, when a name was taken: the
    /// library's (unless culled) and each destination's, a copy the catalog holds read
    /// back first. `false` when the library has no place for it.
    fn place_by_content(
        &mut self,
        first_library_key: RelPath,
        hash: &ContentHash,
    ) -> Result<bool, CatalogError> {
        let (cx, p) = (self.cx, self.p);
        let library_key = if self.outcome.culled {
            first_library_key
        } else {
            match choose_key(cx.library_dest, first_library_key, hash, p.file.size) {
                Ok(Placement::Write(k)) => {
                    self.copies.pending.push(Slot {
                        writer: None,
                        key: k.clone(),
                    });
                    k
                }
                Ok(Placement::AlreadyThere(k, _)) => {
                    self.outcome.already = true;
                    self.outcome.library_path = Some(k.clone());
                    k
                }
                Err(e) => {
                    self.problem(e.to_string(), e.class());
                    return Ok(false);
                }
            }
        };
        let photo_id = cx.t.catalog.photo_id_of(hash)?;
        for (i, w) in cx.writers.iter().enumerate() {
            // A copy the catalog knows counts only once read back now; a damaged
            // one is moved aside and written again from the card.
            let held = match photo_id {
                Some(id) => cx.t.catalog.copy_of(id, &w.config.id)?,
                None => None,
            };
            if let Some(row) = held.filter(|r| r.state == CopyState::Verified) {
                match cx.prove_held_copy(w, &row, p, &|m, c| self.problem(m, c))? {
                    Some(redo) => {
                        self.copies.pending.push(Slot {
                            writer: Some(i),
                            key: redo.key.clone(),
                        });
                        self.copies.redone.push((i, redo));
                    }
                    None => {
                        self.outcome.placed.push((Some(i), row.key.clone()));
                        self.outcome.verified_at.push(w.config.name.clone());
                        w.report.lock().unwrap().already += 1;
                    }
                }
                continue;
            }
            let first = cx.dest_key(w, p, &library_key);
            match choose_key(w.dest.as_ref(), first, hash, p.file.size) {
                Ok(Placement::Write(key)) => self.copies.pending.push(Slot {
                    writer: Some(i),
                    key,
                }),
                Ok(Placement::AlreadyThere(key, stored)) => self.copies.there.push((
                    Slot {
                        writer: Some(i),
                        key,
                    },
                    stored,
                )),
                Err(e) => {
                    w.report.lock().unwrap().failed += 1;
                    self.problem(e.to_string(), e.class());
                }
            }
        }
        Ok(true)
    }

    /// Writes the pending copies from one read of the card per attempt, each read
    /// back, under the one retry policy. The card file's hashes, learned on the way
    /// when they were not known; an error when the card itself would not give it.
    fn write_pending(
        &mut self,
        mut known: Option<Learned>,
    ) -> Result<Option<Learned>, crate::engine::fanout::SourceError> {
        let p = self.p;
        for attempt in 0..RETRY.attempts {
            if attempt > 0
                && let Some(l) = known
            {
                std::thread::sleep(RETRY.wait(attempt, p.file.rel.as_bytes()));
                self.place_again(&l.blake3);
            }
            // Every copy written (or failed for good): no retry, and no wait for one.
            if self.copies.pending.is_empty() {
                break;
            }
            let pending = std::mem::take(&mut self.copies.pending);
            let (learned, results) = self.write_once(&pending, known)?;
            known = known.or(learned);
            for (slot, result) in pending.into_iter().zip(results) {
                match result {
                    Ok(stored) => self.copies.written.push((slot, stored)),
                    Err(e) if RETRY.again(attempt, &e) => {
                        tracing::info!(
                            "retrying {} to {}: {e}",
                            p.file.rel,
                            self.cx.name_of(&slot)
                        );
                        self.copies.pending.push(slot);
                    }
                    Err(e) => self.copies.failed.push((slot, e.to_string(), e.class())),
                }
            }
        }
        Ok(known)
    }

    /// Places each pending copy again before a retry: one that read back wrong is
    /// still there, and may hold the right bytes by now.
    fn place_again(&mut self, hash: &ContentHash) {
        for slot in std::mem::take(&mut self.copies.pending) {
            let dest = self.cx.dest_of(&slot);
            match choose_key(dest, slot.key.clone(), hash, self.p.file.size) {
                Ok(Placement::Write(key)) => self.copies.pending.push(Slot { key, ..slot }),
                Ok(Placement::AlreadyThere(key, stored)) => {
                    self.copies.there.push((Slot { key, ..slot }, stored))
                }
                Err(e) => self.copies.failed.push((slot, e.to_string(), e.class())),
            }
        }
    }

    /// One read of the card file, written to every slot in `pending` at once.
    #[allow(clippy::type_complexity)]
    fn write_once(
        &self,
        pending: &[Slot],
        known: Option<Learned>,
    ) -> Result<
        (
            Option<Learned>,
            Vec<Result<Stored, crate::engine::fanout::TargetError>>,
        ),
        crate::engine::fanout::SourceError,
    > {
        let (cx, p) = (self.cx, self.p);
        let targets: Vec<Target<'_>> = pending
            .iter()
            .map(|s| Target {
                dest: cx.dest_of(s),
                key: s.key.clone(),
            })
            .collect();
        let on_bytes = |i: usize, n: u64| {
            cx.progress.event(&Event::WorkBytes {
                dest: cx.name_of(&pending[i]),
                bytes: n,
            })
        };
        match known {
            Some(l) => fan_out(&p.file.path, p.file.size, &l.blake3, &targets, &on_bytes)
                .map(|r| (Some(l), r)),
            None => fan_out_learning(&p.file.path, p.file.size, &targets, &on_bytes),
        }
    }

    /// Records the library file as a scan would, and that this card gave it; the
    /// photo's id, to record its copies by.
    fn record_library(&mut self, learned: &Learned) -> Result<Option<i64>, CatalogError> {
        let (cx, p) = (self.cx, self.p);
        let library_slot = |copies: &[(Slot, Stored)]| {
            copies
                .iter()
                .find(|(s, _)| s.writer.is_none())
                .map(|(s, _)| s.key.clone())
        };
        if let Some(key) = library_slot(&self.copies.written) {
            self.outcome.library_path = Some(key);
            self.outcome.copied = true;
        } else if let Some(key) = library_slot(&self.copies.there) {
            self.outcome.library_path = Some(key);
            self.outcome.already = true;
        }
        let Some(path) = self.outcome.library_path.clone() else {
            cx.progress.event(&Event::WorkDone {
                dest: &cx.library.name,
                ok: self.outcome.culled,
            });
            // Culled from the library: the photo is still known by its content.
            return match self.outcome.culled {
                true => cx.t.catalog.photo_id_of(&learned.blake3),
                false => Ok(None),
            };
        };
        self.outcome.placed.push((None, path.clone()));
        let meta = std::fs::metadata(path.to_path(&cx.library.path)).ok();
        let ids = cx.t.catalog.record_files(
            &cx.library.name,
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
        cx.t.catalog.record_ingested(
            cx.card_id,
            &p.file.rel,
            &learned.blake3,
            &cx.library.name,
            &path,
        )?;
        cx.progress.event(&Event::WorkDone {
            dest: &cx.library.name,
            ok: true,
        });
        Ok(ids.first().copied())
    }

    /// Records each verified copy at a destination: written now, or adopted as found.
    fn record_copies(&mut self, photo_id: Option<i64>) -> Result<(), CatalogError> {
        let (cx, p) = (self.cx, self.p);
        let copies = self
            .copies
            .written
            .iter()
            .map(|c| (c, true))
            .chain(self.copies.there.iter().map(|c| (c, false)));
        for ((slot, stored), fresh) in copies {
            let (Some(i), Some(photo_id)) = (slot.writer, photo_id) else {
                // The library itself, or no library copy to name the photo by.
                continue;
            };
            let w = &cx.writers[i];
            cx.t.catalog.record_copy_verified(
                photo_id,
                &w.config.id,
                &slot.key,
                *stored,
                w.dest.properties().verified_by,
                &Operation {
                    run: cx.run,
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
            self.outcome.verified_at.push(w.config.name.clone());
            self.outcome.placed.push((Some(i), slot.key.clone()));
            cx.progress.event(&Event::WorkDone {
                dest: &w.config.name,
                ok: true,
            });
        }
        Ok(())
    }

    /// Records each copy given up on, and seals a damaged copy that could not be
    /// written again as a mismatch in the ASC MHL history: its generation says
    /// `failed`, with the hash of what was found.
    fn record_failures(&mut self, photo_id: Option<i64>) -> Result<(), CatalogError> {
        let cx = self.cx;
        for (i, redo) in std::mem::take(&mut self.copies.redone) {
            let rewritten = self
                .outcome
                .placed
                .iter()
                .any(|(at, k)| *at == Some(i) && *k == redo.key);
            if let (false, Some(found)) = (rewritten, redo.damaged_xxh64) {
                self.outcome.failed_seals.push((Some(i), redo.key, found));
            }
        }
        for (slot, message, class) in &self.copies.failed {
            self.fail(slot, message, *class);
            let (Some(i), Some(photo_id)) = (slot.writer, photo_id) else {
                continue;
            };
            let w = &cx.writers[i];
            cx.t.catalog.record_copy_failed(
                photo_id,
                &w.config.id,
                Some(&slot.key),
                message,
                class.as_str(),
                &Operation {
                    run: cx.run,
                    kind: "ingest",
                    dest: Some(&w.config.name),
                    photo_id: Some(photo_id),
                    path: Some(&slot.key),
                    bytes: None,
                    duration_ms: None,
                    outcome: "failed",
                    message: Some(message),
                },
            )?;
        }
        Ok(())
    }
}
