//! The originals, the first copy: each library file read back and compared with its
//! hash; a difference that the file's time does not explain is possible bit rot.

use super::*;
use crate::catalog::{Original, ScannedFile};
use crate::config::LibraryConfig;

/// Reports each possible bit rot still held back that this run did not report
/// itself; returns how many are open.
pub(super) fn open_bit_rot(
    t: &Triplicate,
    problems: &mut Problems<'_>,
) -> Result<u64, EngineError> {
    let held: Vec<_> = t
        .catalog
        .held_changes()?
        .into_iter()
        .filter(|h| h.reason == crate::catalog::HoldReason::BitRot)
        .collect();
    let reported: std::collections::HashSet<String> =
        problems.subjects().map(str::to_string).collect();
    for h in &held {
        let subject = format!("{}:{}", h.library, h.path);
        if reported.contains(&subject) {
            continue;
        }
        problems.report(Problem {
            message: format!(
                "{subject}: possible bit rot, still open: the library holds {} where the backups keep {}; restore the good version (`triplicate restore`) or, if the change is wanted, `triplicate accept-changes {subject}`",
                h.found.short(),
                h.kept.short()
            ),
            subject,
            class: ErrorClass::Permanent,
        });
    }
    Ok(held.len() as u64)
}

/// Re-reads the library originals (the sample of them, with `sample_percent`) and
/// compares them with the catalog. A photo or video whose bytes changed while its size
/// and modification time did not is possible bit rot: held back, so that the backups
/// keep the good version, and reported. Any other change is left for the next scan.
pub(super) fn verify_originals(
    t: &Triplicate,
    options: &VerifyOptions,
    run: &str,
    progress: &dyn Progress,
    problems: &mut Problems<'_>,
) -> Result<LibraryVerifyReport, EngineError> {
    use rayon::prelude::*;
    const BAR: &str = "library";
    let mut report = LibraryVerifyReport::default();
    for lib in &t.config.libraries {
        if !lib.path.is_dir() {
            problems.report(Problem {
                subject: format!("library:{}", lib.name),
                message: format!(
                    "library '{}' at {} is not there: its originals were not checked",
                    lib.name,
                    lib.path.display()
                ),
                class: ErrorClass::Transient,
            });
            continue;
        }
        let originals: Vec<_> = t
            .catalog
            .originals(&lib.name)?
            .into_iter()
            .filter(|o| {
                options
                    .sample_percent
                    .is_none_or(|pct| in_sample(run, o.photo_id, pct))
            })
            .collect();
        progress.event(&Event::WorkPlanned {
            dest: BAR,
            files: originals.len() as u64,
            bytes: originals.iter().map(|o| o.size).sum(),
        });
        let zone = t.config.scan.zone();
        let found: Vec<_> = originals
            .par_iter()
            .map(|o| {
                let read = crate::scan::read_file(lib, &o.path, &zone);
                progress.event(&Event::WorkBytes {
                    dest: BAR,
                    bytes: o.size,
                });
                progress.event(&Event::WorkDone {
                    dest: BAR,
                    ok: read.as_ref().is_ok_and(|f| f.hash == o.hash),
                });
                read
            })
            .collect();
        for (o, read) in originals.iter().zip(found) {
            judge_original(t, lib, o, read, &mut report, problems)?;
        }
    }
    Ok(report)
}

/// Counts what reading one original found: the same content, unreadable (the next scan
/// says why), possible bit rot (held back, and a problem), or an edit the next scan
/// records.
fn judge_original(
    t: &Triplicate,
    lib: &LibraryConfig,
    o: &Original,
    read: Result<ScannedFile, Problem>,
    report: &mut LibraryVerifyReport,
    problems: &mut Problems<'_>,
) -> Result<(), EngineError> {
    report.checked += 1;
    let f = match read {
        Ok(f) => f,
        Err(_) => {
            // Gone or unreadable: the next scan says which, and why.
            report.unreadable += 1;
            return Ok(());
        }
    };
    report.bytes += f.size;
    if f.hash == o.hash {
        report.ok += 1;
        return Ok(());
    }
    if f.kind.is_media() && f.size == o.size && f.mtime_ns == o.mtime_ns {
        report.bit_rot += 1;
        // The report's problem below says it; the warning stays in status.
        let _ = crate::scan::hold_bit_rot(&t.catalog, lib, &f, Some(&o.hash))?;
        problems.report(Problem {
            subject: format!("{}:{}", lib.name, o.path),
            message: format!(
                "{}:{} changed content but not its size or modification time: possible bit rot; the backups keep the good version ({})",
                lib.name,
                o.path,
                o.hash.short()
            ),
            class: ErrorClass::Permanent,
        });
    } else {
        report.changed += 1;
        t.catalog.invalidate_file(&lib.name, &o.path)?;
    }
    Ok(())
}
