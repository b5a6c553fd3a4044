//! The jobs the service runs on request between its backup passes: a check of the
//! copies, a card ingest, an archive; and the scan-only pass of a GRID node without
//! destinations. Each is a job on the service's board, with its outcome.

use std::sync::atomic::AtomicBool;

use crate::engine::BackupOptions;
use crate::home::Triplicate;
use crate::progress::Progress;
use crate::service::{Action, JobKind, Service};

/// Scans every library without backing up (a GRID node without destinations of its
/// own); returns a summary and whether a file was left for later.
pub(super) fn scan_only(
    t: &Triplicate,
    pass: &BackupOptions,
    progress: &dyn Progress,
) -> (String, bool) {
    let mut found = 0;
    let mut deferred = false;
    for lib in &t.config.libraries {
        let options = crate::scan::ScanOptions {
            settle: pass.settle,
            complete: pass.complete.clone(),
            ..crate::scan::ScanOptions::of(&t.config)
        };
        match crate::scan::scan_library(&t.catalog, lib, options, progress, &mut |_| {}) {
            Ok(r) => {
                found += r.hashed;
                deferred |= r.deferred > 0;
            }
            Err(e) => tracing::warn!("{e}"),
        }
    }
    (
        format!("no destination of its own: scanned for GRID, {found} new or changed files"),
        deferred,
    )
}

/// "Verify now", asked from the page.
pub(super) fn run_verify(
    t: &Triplicate,
    service: &Service,
    queued: Option<u64>,
    sample_percent: Option<f64>,
    repair: bool,
    progress: &dyn Progress,
) {
    let title = Action::Verify {
        sample_percent,
        repair,
    }
    .title();
    let job = service.start(queued, JobKind::Verify, &title, progress);
    let options = crate::verify::VerifyOptions {
        sample_percent,
        repair,
        library: true,
        ..Default::default()
    };
    match crate::verify::verify(t, &options, &job) {
        Ok(report) => job.finish(report.ok(), report.summary()),
        Err(e) => job.finish(false, e.to_string()),
    }
}

/// The restore drills that are due ([`crate::drill`]), each logged.
pub(super) fn run_drills(t: &Triplicate) {
    match crate::drill::run_due(t) {
        Ok(drills) => {
            for (dest, drill) in drills {
                if drill.ok {
                    tracing::info!(
                        "restore drill at {dest}: {} photos back, byte for byte",
                        drill.photos
                    );
                } else {
                    tracing::warn!("restore drill at {dest} FAILED: {}", drill.message);
                }
            }
        }
        Err(e) => tracing::warn!("restore drill: {e}"),
    }
}

/// One step of the scheduled checks ([`crate::scrub`]), if any is owed; returns
/// whether one ran.
pub(super) fn run_scrub_step(t: &Triplicate, service: &Service, progress: &dyn Progress) -> bool {
    let plan = match crate::scrub::next_step(t) {
        Ok(Some(plan)) => plan,
        Ok(None) => return false,
        Err(e) => {
            tracing::warn!("scheduled check: {e}");
            return false;
        }
    };
    let title = format!("Scheduled check of {}", plan.destinations.join(", "));
    let job = service.start(None, JobKind::Verify, &title, progress);
    match crate::scrub::run_step(t, &plan, &job) {
        Ok(step) => {
            let summary = step.report.summary();
            if !step.report.ok() {
                tracing::warn!("scheduled check of {}: {summary}", step.destination);
            }
            job.finish(step.report.ok(), summary);
            true
        }
        Err(e) => {
            tracing::warn!("scheduled check: {e}");
            job.finish(false, e.to_string());
            false
        }
    }
}

/// Writes an archive the page asked for; stopping the service stops it (the `post`
/// hook still runs).
pub(super) fn run_archive(
    t: &Triplicate,
    service: &Service,
    queued: Option<u64>,
    request: &crate::archive::Request,
    progress: &dyn Progress,
    stop: &AtomicBool,
) {
    let title = Action::Archive {
        request: request.clone(),
    }
    .title();
    let job = service.start(queued, JobKind::Archive, &title, progress);
    match crate::archive::create(t, request, &job, stop) {
        Ok(created) => {
            let mut summary = format!(
                "Archive {} written: {} files, {} bytes",
                created.id,
                created.manifest.files.len(),
                created.size
            );
            for w in &created.warnings {
                summary.push_str(&format!("; {w}"));
            }
            job.finish(true, summary)
        }
        Err(e) => job.finish(false, e.to_string()),
    }
}

/// Ingests a card automatic ingest found.
pub(super) fn run_ingest(
    t: &Triplicate,
    service: &Service,
    queued: Option<u64>,
    card: &std::path::Path,
    progress: &dyn Progress,
) {
    let action = Action::Ingest { card: card.into() };
    let job = service.start(queued, JobKind::Ingest, &action.title(), progress);
    let options = crate::ingest::IngestOptions {
        card: card.into(),
        ..Default::default()
    };
    match crate::ingest::ingest(t, &options, &job) {
        Ok(report) => {
            let mut summary = if report.verdict.safe {
                format!("{}: {} files, SAFE TO FORMAT", report.label, report.files)
            } else {
                format!(
                    "{}: {} files, NOT SAFE TO FORMAT: {}",
                    report.label,
                    report.files,
                    report.verdict.reasons.first().map_or("", String::as_str)
                )
            };
            if report.verdict.safe && t.config.ingest.eject {
                match crate::fsutil::unmount(card) {
                    Ok(()) => summary.push_str("; the card was unmounted"),
                    Err(e) => summary.push_str(&format!("; the card could not be unmounted: {e}")),
                }
            }
            tracing::info!("{summary}");
            let severity = match report.verdict.safe {
                true => crate::vocab::Severity::Info,
                false => crate::vocab::Severity::Warning,
            };
            let event = crate::alerts::Event::once(
                &t.config.node,
                crate::vocab::EventKind::Ingest,
                severity,
                summary.clone(),
                match report.verdict.reasons.as_slice() {
                    [] => format!(
                        "{summary}: every file on the card has the verified copies the ingest settings ask for."
                    ),
                    reasons => reasons.join("\n"),
                },
            );
            // The job is done before anyone is told (a hook may take its time).
            job.finish(report.verdict.safe, summary);
            crate::alerts::announce(t, &event);
        }
        Err(e) => {
            tracing::warn!("ingest of {} failed: {e}", card.display());
            job.finish(false, e.to_string());
        }
    }
}
