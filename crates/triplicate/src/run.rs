//! A run's bookkeeping: its id, and its row in the catalog's `runs` from the start to
//! the outcome and the report it left. Backup, verify, ingest and prune keep their runs
//! through here.

use crate::catalog::{Catalog, CatalogError, RunKind, RunOutcome};

/// `20261122T012345Z-1a2b3c4d`: sortable, unique enough, safe in a file name.
pub fn new_id() -> String {
    let now = chrono::Utc::now();
    format!(
        "{}-{}",
        now.format("%Y%m%dT%H%M%SZ"),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}

/// Records that the run `id` of `kind` started.
pub fn begin(catalog: &Catalog, id: &str, kind: RunKind) -> Result<(), CatalogError> {
    catalog.begin_run(id, kind)
}

/// Records how the run `id` ended and the report it leaves (as JSON, which the page
/// and `ingest --list` read back).
pub fn finish(
    catalog: &Catalog,
    id: &str,
    ok: bool,
    report: &impl serde::Serialize,
) -> Result<(), CatalogError> {
    let summary = serde_json::to_string(report).unwrap_or_default();
    catalog.finish_run(id, RunOutcome::of(ok), &summary)
}
