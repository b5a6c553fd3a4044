//! The copies at a destination: each read back from the device (or the ciphertext's
//! hash checked, for an encrypted one without its key), recorded verified, missing or
//! corrupt.

use super::*;

/// How checking one copy went.
pub(super) enum Check {
    Good,
    Missing,
    /// Its bytes hash to `found`, not `expected` (the ciphertext's hash for a copy
    /// checked without decrypting).
    Corrupt {
        found: ContentHash,
        expected: ContentHash,
    },
    /// Damaged beyond a hash: an encrypted copy its key does not open, or something
    /// other than a file (a link, a folder) where the copy should be.
    Damaged(String),
    /// The copy could not be read (an I/O error other than "not there").
    Unreadable(DestError),
}

/// Checks one destination's copies, then its other names' files.
pub(super) fn verify_destination(
    t: &Triplicate,
    d: &DestinationConfig,
    options: &VerifyOptions,
    run: &str,
    sources: &SourcePool,
    progress: &dyn Progress,
    problems: &mut Problems<'_>,
) -> Result<DestinationVerifyReport, EngineError> {
    let names = names::selected(t, d, options, run)?;
    let mut report = verify_copies(t, d, options, run, sources, &names, progress, problems)?;
    if report.state.is_ok() && !names.is_empty() {
        names::check(t, d, options, run, names, &mut report, progress, problems)?;
    }
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
pub(super) fn verify_copies(
    t: &Triplicate,
    d: &DestinationConfig,
    options: &VerifyOptions,
    run: &str,
    sources: &SourcePool,
    names: &[NameFile],
    progress: &dyn Progress,
    problems: &mut Problems<'_>,
) -> Result<DestinationVerifyReport, EngineError> {
    let mut report = DestinationVerifyReport {
        name: d.name.clone(),
        state: DestState::Ok,
        ..Default::default()
    };
    let dest = match destination::open_read(d) {
        Ok(dest) => dest,
        Err(e) => {
            report.state = e.state();
            problems.report(dest_problem(&d.name, &e.to_string(), e.class()));
            return Ok(report);
        }
    };
    let rows = copies_to_check(t, d, options, run)?;
    progress.event(&Event::WorkPlanned {
        dest: &d.name,
        files: (rows.len() + names.len()) as u64,
        bytes: rows.iter().map(|r| r.size).sum::<u64>() + names.iter().map(|n| n.size).sum::<u64>(),
    });

    // Check, several copies at once.
    let checking = Checking {
        t,
        d,
        run,
        dest: dest.as_ref(),
        decrypt: options.decrypt,
        throttle: crate::throttle::Throttle::new(options.rate, 1 << 20),
        progress,
        bad: Mutex::default(),
        found: Mutex::default(),
        counts: Default::default(),
        catalog_error: Mutex::default(),
        stopped: Mutex::default(),
    };
    crate::parallel::for_each(options.jobs.unwrap_or(4), rows.into_iter(), |row| {
        checking.one(row)
    });
    let bad = checking.finish(&mut report, problems)?;
    if bad.is_empty() {
        if options.repair && report.state.is_ok() {
            // Opened for writing all the same: that removes what a killed repair left.
            let _ = destination::open(d);
        }
        return Ok(report);
    }
    settle_bad(
        t,
        d,
        options.repair,
        run,
        sources,
        &bad,
        &mut report,
        problems,
    )?;
    Ok(report)
}

/// The checking of one destination's copies, shared by the workers.
struct Checking<'a> {
    t: &'a Triplicate,
    d: &'a DestinationConfig,
    run: &'a str,
    dest: &'a dyn ReadDestination,
    decrypt: bool,
    throttle: Option<Arc<crate::throttle::Throttle>>,
    progress: &'a dyn Progress,
    /// The copies found missing or damaged, with their new state.
    bad: Mutex<Vec<(CopyRow, CopyState)>>,
    found: Mutex<Vec<Problem>>,
    /// Copies checked, verified, missing, corrupt, and the bytes read.
    counts: [AtomicU64; 5],
    catalog_error: Mutex<Option<CatalogError>>,
    /// An error that puts the whole destination out of action (unplugged, no key):
    /// checking stops, and it is reported once.
    stopped: Mutex<Option<(String, ErrorClass, DestState)>>,
}

impl Checking<'_> {
    /// Checks one copy and records what was found; breaks when the destination is out
    /// of action.
    fn one(&self, row: CopyRow) -> ControlFlow<()> {
        let d = self.d;
        let check = check_copy(
            self.dest,
            &row,
            self.decrypt,
            self.throttle.as_deref(),
            self.progress,
        );
        let Some((state, message)) = described(&check, &d.name, &row) else {
            return self.unreadable(&check);
        };
        let count = |i: usize, n: u64| self.counts[i].fetch_add(n, Ordering::Relaxed);
        count(0, 1);
        match state {
            CopyState::Verified => {
                count(1, 1);
                count(4, row.size);
            }
            CopyState::Missing => {
                count(2, 1);
            }
            CopyState::Corrupt | CopyState::Failed => {
                count(3, 1);
                if matches!(check, Check::Corrupt { .. }) {
                    count(4, row.size);
                }
            }
        }
        let op = Operation {
            run: self.run,
            kind: "verify",
            dest: Some(&d.name),
            photo_id: Some(row.photo_id),
            path: Some(&row.key),
            bytes: Some(row.size),
            duration_ms: None,
            outcome: state.as_str(),
            message: message.as_deref(),
        };
        let recorded =
            self.t
                .catalog
                .record_copy_checked(row.photo_id, &d.id, state, message.as_deref(), &op);
        if let Err(e) = recorded {
            self.catalog_error.lock().unwrap().get_or_insert(e);
        }
        self.progress.event(&Event::WorkDone {
            dest: &d.name,
            ok: message.is_none(),
        });
        if message.is_some() {
            self.bad.lock().unwrap().push((row, state));
        }
        ControlFlow::Continue(())
    }

    /// A copy that could not be read: a problem of its own, or the end of checking
    /// when the destination is out of action (then it was not checked after all).
    fn unreadable(&self, check: &Check) -> ControlFlow<()> {
        let name = &self.d.name;
        if let Check::Unreadable(e) = check {
            if e.stops_destination() {
                self.stopped
                    .lock()
                    .unwrap()
                    .get_or_insert((e.to_string(), e.class(), e.state()));
                return ControlFlow::Break(());
            }
            self.counts[0].fetch_add(1, Ordering::Relaxed);
            let problem = dest_problem(name, &e.to_string(), e.class());
            self.found.lock().unwrap().push(problem);
            self.progress.event(&Event::WorkDone {
                dest: name,
                ok: false,
            });
        } else {
            self.counts[0].fetch_add(1, Ordering::Relaxed);
        }
        ControlFlow::Continue(())
    }

    /// Fills the report with the counts and reports the problems; returns the copies
    /// found bad, in key order.
    fn finish(
        self,
        report: &mut DestinationVerifyReport,
        problems: &mut Problems<'_>,
    ) -> Result<Vec<(CopyRow, CopyState)>, EngineError> {
        if let Some(e) = self.catalog_error.into_inner().unwrap() {
            return Err(e.into());
        }
        for p in self.found.into_inner().unwrap() {
            problems.report(p);
        }
        if let Some((message, class, state)) = self.stopped.into_inner().unwrap() {
            report.state = state;
            problems.report(dest_problem(&self.d.name, &message, class));
        }
        let [checked, ok, missing, corrupt, bytes] = self.counts.map(|c| c.into_inner());
        report.checked = checked;
        report.ok = ok;
        report.missing = missing;
        report.corrupt = corrupt;
        report.bytes = bytes;
        let mut bad = self.bad.into_inner().unwrap();
        bad.sort_by(|a, b| a.0.key.cmp(&b.0.key));
        Ok(bad)
    }
}

/// Reads a copy from the device and compares its hash: the photo's, or, for a copy
/// stored encrypted and unless asked to `decrypt`, the ciphertext's.
pub(super) fn check_copy(
    dest: &dyn ReadDestination,
    row: &CopyRow,
    decrypt: bool,
    throttle: Option<&crate::throttle::Throttle>,
    progress: &dyn Progress,
) -> Check {
    let (opened, expected) = match row.stored_hash {
        Some(stored) if !decrypt => (dest.read_stored(&row.key), stored),
        _ => (dest.read(&row.key), row.hash),
    };
    let mut reader = match opened {
        Ok(r) => r,
        Err(DestError::NotFound { .. }) => return Check::Missing,
        Err(DestError::Decrypt { message, .. }) => return Check::Damaged(message),
        Err(DestError::NotAFile { what, .. }) => return Check::Damaged(what),
        Err(e) => return Check::Unreadable(e),
    };
    let mut hasher = blake3::Hasher::new();
    let read = crate::photo::read_all(&mut reader, |chunk| {
        if let Some(throttle) = throttle {
            throttle.take(chunk.len());
        }
        hasher.update(chunk);
        progress.event(&Event::WorkBytes {
            dest: dest.name(),
            bytes: chunk.len() as u64,
        });
    });
    match read {
        Ok(_) => {}
        // age's authentication of a chunk failed: the ciphertext was altered.
        Err(e) if row.stored_hash.is_some() && e.kind() == std::io::ErrorKind::InvalidData => {
            return Check::Damaged(e.to_string());
        }
        Err(e) => {
            return Check::Unreadable(DestError::Io {
                dest: dest.name().into(),
                op: "read",
                path: row.key.to_string().into(),
                source: e,
            });
        }
    }
    let found = ContentHash(*hasher.finalize().as_bytes());
    if found == expected {
        Check::Good
    } else {
        Check::Corrupt { found, expected }
    }
}

/// The copies at `d` this run checks: every one known bad, and of the others those old
/// enough (`--older-than`) and in the sample (`--sample`).
fn copies_to_check(
    t: &Triplicate,
    d: &DestinationConfig,
    options: &VerifyOptions,
    run: &str,
) -> Result<Vec<CopyRow>, CatalogError> {
    let now = crate::catalog::now();
    let mut due: Vec<CopyRow> = t
        .catalog
        .copies_at(&d.id)?
        .into_iter()
        .filter(|r| {
            let known_bad = r.state != CopyState::Verified;
            known_bad || options.due(run, r.photo_id, r.verified_at, now)
        })
        .collect();
    options.keep_oldest(&mut due, |r| (r.verified_at, r.photo_id), |r| r.size);
    Ok(due)
}

/// What a check found, as the catalog records it and a person reads it; `None` when
/// the copy could not be read at all.
fn described(check: &Check, dest: &str, row: &CopyRow) -> Option<(CopyState, Option<String>)> {
    Some(match check {
        Check::Good => (CopyState::Verified, None),
        Check::Missing => (
            CopyState::Missing,
            Some(format!("destination '{dest}': {} is missing", row.key)),
        ),
        Check::Corrupt { found, expected } => (
            CopyState::Corrupt,
            Some(format!(
                "destination '{dest}': {} is damaged: it hashes to {}, not {}",
                row.key,
                found.short(),
                expected.short()
            )),
        ),
        Check::Damaged(why) => (
            CopyState::Corrupt,
            Some(format!(
                "destination '{dest}': {} is damaged: {why}",
                row.key
            )),
        ),
        Check::Unreadable(_) => return None,
    })
}

/// The bad copies found: each said as a problem with what to run, or with `repair`
/// written again from a good source.
#[allow(clippy::too_many_arguments)]
fn settle_bad(
    t: &Triplicate,
    d: &DestinationConfig,
    repair: bool,
    run: &str,
    sources: &SourcePool,
    bad: &[(CopyRow, CopyState)],
    report: &mut DestinationVerifyReport,
    problems: &mut Problems<'_>,
) -> Result<(), EngineError> {
    if !repair {
        for (row, state) in bad {
            let what = if *state == CopyState::Missing {
                "missing"
            } else {
                "damaged"
            };
            problems.report(Problem {
                    subject: format!("dest:{}", d.name),
                    message: format!(
                        "destination '{}': {} is {what}; run `triplicate verify --dest {} --repair` to rewrite it from a good copy",
                        d.name, row.key, d.name
                    ),
                    class: ErrorClass::Permanent,
                });
        }
        return Ok(());
    }

    // Repair, one copy at a time: it is rare, and each may try several sources.
    let writable = match destination::open(d) {
        Ok(w) => w,
        Err(e) => {
            problems.report(dest_problem(
                &d.name,
                &format!("cannot repair: {e}"),
                e.class(),
            ));
            return Ok(());
        }
    };
    for (attempt, (row, _)) in bad.iter().enumerate() {
        match repair_copy(t, writable.as_ref(), d, row, sources, run, attempt) {
            Ok((from, stored)) => {
                report.repaired += 1;
                let message = format!("rewritten from {from}");
                t.catalog.record_copy_rewritten(
                    row.photo_id,
                    &d.id,
                    stored,
                    &Operation {
                        run,
                        kind: "repair",
                        dest: Some(&d.name),
                        photo_id: Some(row.photo_id),
                        path: Some(&row.key),
                        bytes: Some(row.size),
                        duration_ms: None,
                        outcome: "repaired",
                        message: Some(&message),
                    },
                )?;
            }
            Err(why) => {
                report.unrecoverable += 1;
                problems.report(Problem {
                    subject: format!("dest:{}", d.name),
                    message: format!(
                        "destination '{}': {} is unrecoverable: {why}",
                        d.name, row.key
                    ),
                    class: ErrorClass::Permanent,
                });
            }
        }
    }
    Ok(())
}
