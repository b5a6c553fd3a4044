//! Prometheus metrics at `/metrics`, in the text exposition format, for studios that
//! already watch their machines with Grafana.
//!
//! Gauges come from the catalog (what is true now: photos protected and at risk,
//! pending copies, bytes stored, verification ages); counters come from the service
//! (what moved since it started: bytes copied and verified, failures), which
//! Prometheus handles across restarts as counter resets.

use std::fmt::Write;

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use triplicate::home::Triplicate;
use triplicate::service::JobState;

use crate::SharedState;

pub async fn metrics(State(state): State<SharedState>) -> Response {
    let home = state.home.clone();
    let service = state.service.clone();
    let text = tokio::task::spawn_blocking(move || -> Result<String, String> {
        let t = Triplicate::open(&home).map_err(|e| e.to_string())?;
        render(&t, &service).map_err(|e| e.to_string())
    })
    .await;
    match text {
        Ok(Ok(text)) => (
            [(
                header::CONTENT_TYPE,
                "text/plain; version=0.0.4; charset=utf-8",
            )],
            text,
        )
            .into_response(),
        Ok(Err(e)) => (StatusCode::INTERNAL_SERVER_ERROR, e).into_response(),
        Err(e) => (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response(),
    }
}

/// One metric family at a time: `# HELP`, `# TYPE`, then its samples.
struct Families(String);

impl Families {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.0, "# HELP triplicate_{name} {help}");
        let _ = writeln!(self.0, "# TYPE triplicate_{name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) {
        let _ = write!(self.0, "triplicate_{name}");
        if !labels.is_empty() {
            let inner: Vec<String> = labels
                .iter()
                .map(|(k, v)| format!("{k}=\"{}\"", escape(v)))
                .collect();
            let _ = write!(self.0, "{{{}}}", inner.join(","));
        }
        let _ = writeln!(self.0, " {value}");
    }
}

/// Label values escape backslash, double quote and newline.
fn escape(v: &str) -> String {
    v.replace('\\', "\\\\")
        .replace('"', "\\\"")
        .replace('\n', "\\n")
}

/// The metrics as text.
pub fn render(
    t: &Triplicate,
    service: &triplicate::service::Service,
) -> Result<String, triplicate::catalog::CatalogError> {
    let mut m = Families(String::new());
    coverage_families(&mut m, t, service)?;
    let pending = destination_families(&mut m, t, service)?;
    service_families(&mut m, t, service, pending)?;
    Ok(m.0)
}

/// The alarm, and the photos by 3-2-1 coverage.
fn coverage_families(
    m: &mut Families,
    t: &Triplicate,
    service: &triplicate::service::Service,
) -> Result<(), triplicate::catalog::CatalogError> {
    let coverage = triplicate::policy::assess(&t.catalog, &t.config)?.summary;
    m.family(
        "service_alarm",
        "gauge",
        "1 while something keeps the service from working (its catalog cannot be written: a full home disk); the API's status says what.",
    );
    m.sample(
        "service_alarm",
        &[],
        if service.alarm().is_some() { 1.0 } else { 0.0 },
    );
    m.family(
        "photos",
        "gauge",
        "Photos in the libraries, by 3-2-1 coverage.",
    );
    m.sample(
        "photos",
        &[("coverage", "protected")],
        coverage.protected as f64,
    );
    m.sample(
        "photos",
        &[("coverage", "at_risk")],
        coverage.at_risk as f64,
    );
    m.sample(
        "photos",
        &[("coverage", "only_in_backups")],
        coverage.only_in_backups as f64,
    );
    m.family(
        "library_files_unreadable",
        "gauge",
        "Library files (or folders) that could not be read: each is at risk, with no copy anywhere.",
    );
    m.sample("library_files_unreadable", &[], coverage.unreadable as f64);
    m.family(
        "library_files_left_out",
        "gauge",
        "Library files the include rules leave out: not backed up, by choice.",
    );
    m.sample("library_files_left_out", &[], coverage.left_out as f64);

    Ok(())
}

/// The per-destination families: name, type and help, one a line. Each family's value
/// is read by [`destination_value`].
const DESTINATION_FAMILIES: &str = "\
destination_bytes_copied_total counter Bytes written to the destination since the service started.
destination_bytes_verified_total counter Bytes read back by verification since the service started.
destination_errors_total counter Copies or checks that failed since the service started.
destination_bytes_stored gauge Bytes held in verified copies.
destination_copies gauge Verified copies held.
destination_pending_copies gauge Photos waiting to be copied (the queue depth).
destination_failed_copies gauge Photos whose last copy attempt failed.
destination_damaged_copies gauge Copies found missing or corrupt, not yet repaired.
destination_last_success_age_seconds gauge Seconds since the last run without failures.
destination_last_verification_age_seconds gauge Seconds since a copy here was last read back and checked.
destination_oldest_verification_age_seconds gauge Seconds since the least recently checked copy here was checked.";

/// What the catalog and the service know of one destination.
struct DestinationRow<'a> {
    name: &'a str,
    counts: triplicate::catalog::DestCounts,
    stored: u64,
    newest_check: Option<i64>,
    oldest_check: Option<i64>,
    damaged: u64,
    moved: triplicate::service::Throughput,
}

/// One destination's value of a family of [`DESTINATION_FAMILIES`]; `None` when it has
/// none (never checked, never succeeded).
fn destination_value(family: &str, d: &DestinationRow, now: i64) -> Option<f64> {
    let age = |at: Option<i64>| at.map(|at| (now - at).max(0) as f64);
    Some(match family {
        "destination_bytes_copied_total" => d.moved.bytes_copied as f64,
        "destination_bytes_verified_total" => d.moved.bytes_verified as f64,
        "destination_errors_total" => d.moved.failures as f64,
        "destination_bytes_stored" => d.stored as f64,
        "destination_copies" => d.counts.verified as f64,
        "destination_pending_copies" => d.counts.pending as f64,
        "destination_failed_copies" => d.counts.failed as f64,
        "destination_damaged_copies" => d.damaged as f64,
        "destination_last_success_age_seconds" => return age(d.counts.last_success),
        "destination_last_verification_age_seconds" => return age(d.newest_check),
        "destination_oldest_verification_age_seconds" => return age(d.oldest_check),
        _ => return None,
    })
}

/// One family a destination measure; returns the copies pending at all destinations.
fn destination_families(
    m: &mut Families,
    t: &Triplicate,
    service: &triplicate::service::Service,
) -> Result<u64, triplicate::catalog::CatalogError> {
    let now = triplicate::catalog::now();
    let throughput = service.throughput();
    let mut rows = Vec::new();
    for d in &t.config.destinations {
        let (stored, newest_check) = t.catalog.stored_at(&d.id)?;
        let (oldest_check, damaged) = t.catalog.verification_health(&d.id)?;
        rows.push(DestinationRow {
            name: &d.name,
            counts: t.catalog.dest_counts(&d.id)?,
            stored,
            newest_check,
            oldest_check,
            damaged,
            moved: throughput.get(&d.name).cloned().unwrap_or_default(),
        });
    }
    for line in DESTINATION_FAMILIES.lines() {
        let mut words = line.splitn(3, ' ');
        let (Some(name), Some(kind), Some(help)) = (words.next(), words.next(), words.next())
        else {
            continue;
        };
        m.family(name, kind, help);
        for row in &rows {
            if let Some(v) = destination_value(name, row, now) {
                m.sample(name, &[("destination", row.name)], v);
            }
        }
    }
    Ok(rows.iter().map(|r| r.counts.pending).sum())
}

/// The queue, warnings and jobs.
fn service_families(
    m: &mut Families,
    t: &Triplicate,
    service: &triplicate::service::Service,
    pending: u64,
) -> Result<(), triplicate::catalog::CatalogError> {
    m.family(
        "queue_depth",
        "gauge",
        "Copies waiting at all destinations, plus jobs queued.",
    );
    let queued_jobs = service
        .jobs()
        .iter()
        .filter(|j| j.state == JobState::Queued)
        .count() as u64;
    m.sample("queue_depth", &[], (pending + queued_jobs) as f64);
    let warnings = t.catalog.open_warnings()?;
    m.family("warnings", "gauge", "Open warnings.");
    m.sample("warnings", &[], warnings.len() as f64);
    m.family("jobs_running", "gauge", "Jobs running now.");
    m.sample(
        "jobs_running",
        &[],
        service
            .jobs()
            .iter()
            .filter(|j| j.state == JobState::Running)
            .count() as f64,
    );
    Ok(())
}
