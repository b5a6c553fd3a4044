//! Runs, per-destination activity, the operations log, warnings, and the journal of
//! folders a run writes into.

use rusqlite::params;

use super::*;

/// One line of the operations log, as read back.
#[derive(Debug, Clone, serde::Serialize)]
pub struct LoggedOperation {
    pub id: i64,
    pub at: i64,
    pub run: Option<String>,
    pub kind: String,
    pub dest: Option<String>,
    pub path: Option<RelPath>,
    pub bytes: Option<u64>,
    pub duration_ms: Option<u64>,
    pub outcome: String,
    pub message: Option<String>,
}

/// What a run did: the `kind` of its row in `runs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunKind {
    Backup,
    Verify,
    Ingest,
    Prune,
}

impl RunKind {
    pub fn as_str(self) -> &'static str {
        match self {
            RunKind::Backup => "backup",
            RunKind::Verify => "verify",
            RunKind::Ingest => "ingest",
            RunKind::Prune => "prune",
        }
    }
}

/// How a run ended: the `outcome` of its row in `runs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunOutcome {
    Ok,
    Failed,
}

impl RunOutcome {
    pub fn of(ok: bool) -> RunOutcome {
        if ok {
            RunOutcome::Ok
        } else {
            RunOutcome::Failed
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            RunOutcome::Ok => "ok",
            RunOutcome::Failed => "failed",
        }
    }
}

/// A run that has finished, as [`Catalog::recent_runs`] reads it.
#[derive(Debug, Clone)]
pub struct FinishedRun {
    pub id: String,
    pub started_at: i64,
    pub finished_at: i64,
    pub summary: String,
}

/// Operations kept in the log; older ones are pruned at the end of each run.
pub const OPERATIONS_KEPT: i64 = 200_000;

/// Finished runs kept of each kind (the service's passes and scheduled checks make
/// many a day); older ones are forgotten as each run finishes.
pub const RUNS_KEPT: i64 = 10_000;

impl Catalog {
    /// The newest `limit` operations after `after_id` (all when 0), oldest first; only
    /// failures with `errors_only`.
    pub fn operations(
        &self,
        after_id: i64,
        limit: usize,
        errors_only: bool,
    ) -> Result<Vec<LoggedOperation>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT * FROM (
                   SELECT id, at, run, kind, dest, path, bytes, duration_ms, outcome, message
                   FROM operations
                   WHERE id > ?1 AND (?2 = 0 OR outcome NOT IN ('verified', 'repaired', 'ok', 'kept', 'removed'))
                   ORDER BY id DESC LIMIT ?3)
                 ORDER BY id",
            )?;
            let rows = stmt.query_map(
                params![after_id, errors_only, limit as i64],
                logged_operation,
            )?;
            rows.collect()
        })
    }

    /// One page of the log, newest first: the `limit` operations before `before_id`
    /// (from the newest when `None`); only failures with `errors_only`.
    pub fn operations_page(
        &self,
        before_id: Option<i64>,
        limit: usize,
        errors_only: bool,
    ) -> Result<Vec<LoggedOperation>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, at, run, kind, dest, path, bytes, duration_ms, outcome, message
                 FROM operations
                 WHERE id < ?1 AND (?2 = 0 OR outcome NOT IN ('verified', 'repaired', 'ok', 'kept', 'removed'))
                 ORDER BY id DESC LIMIT ?3",
            )?;
            let rows = stmt.query_map(
                params![before_id.unwrap_or(i64::MAX), errors_only, limit as i64],
                logged_operation,
            )?;
            rows.collect()
        })
    }

    /// Keeps the newest `keep` operations; returns how many were pruned.
    pub fn prune_operations(&self, keep: i64) -> Result<usize> {
        self.with(|c| {
            c.execute(
                "DELETE FROM operations WHERE id <= (SELECT MAX(id) FROM operations) - ?1",
                [keep],
            )
        })
    }

    // ---- runs, activity, warnings ------------------------------------------------

    pub fn begin_run(&self, id: &str, kind: RunKind) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO runs(id, kind, started_at) VALUES (?1, ?2, ?3)",
                params![id, kind.as_str(), now()],
            )
            .map(drop)
        })
    }

    /// Records how run `id` ended, and forgets the finished runs of its kind beyond
    /// the newest [`RUNS_KEPT`].
    pub fn finish_run(&self, id: &str, outcome: RunOutcome, summary: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "UPDATE runs SET finished_at = ?2, outcome = ?3, summary = ?4 WHERE id = ?1",
                params![id, now(), outcome.as_str(), summary],
            )
            .map(drop)
        })?;
        let kind: Option<String> = self.with(|c| {
            c.query_row("SELECT kind FROM runs WHERE id = ?1", [id], |r| r.get(0))
                .optional()
        })?;
        match kind {
            Some(kind) => self.prune_runs(&kind, RUNS_KEPT).map(drop),
            None => Ok(()),
        }
    }

    /// Forgets the finished runs of `kind` beyond the newest `keep`; returns how many.
    pub fn prune_runs(&self, kind: &str, keep: i64) -> Result<usize> {
        self.with(|c| {
            c.execute(
                "DELETE FROM runs
                 WHERE kind = ?1 AND finished_at IS NOT NULL
                   AND id NOT IN (SELECT id FROM runs WHERE kind = ?1 AND finished_at IS NOT NULL
                                  ORDER BY started_at DESC, id DESC LIMIT ?2)",
                params![kind, keep],
            )
        })
    }

    /// The newest `limit` finished runs of `kind`, newest first: id, start and end
    /// (Unix seconds) and the summary the run left.
    pub fn recent_runs(&self, kind: RunKind, limit: usize) -> Result<Vec<FinishedRun>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, started_at, finished_at, COALESCE(summary, '') FROM runs
                 WHERE kind = ?1 AND finished_at IS NOT NULL
                 ORDER BY started_at DESC, id DESC LIMIT ?2",
            )?;
            let rows = stmt.query_map(params![kind.as_str(), limit as i64], |r| {
                Ok(FinishedRun {
                    id: r.get(0)?,
                    started_at: r.get(1)?,
                    finished_at: r.get(2)?,
                    summary: r.get(3)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Records that a run at `dest` ended, successfully or not.
    pub fn record_dest_activity(&self, dest: &str, success: bool) -> Result<()> {
        let at = now();
        self.with(|c| {
            c.execute(
                "INSERT INTO dest_activity(dest, last_attempt, last_success) VALUES (?1, ?2, ?3)
                 ON CONFLICT(dest) DO UPDATE SET last_attempt = excluded.last_attempt,
                   last_success = COALESCE(excluded.last_success, last_success)",
                params![dest, at, success.then_some(at)],
            )
            .map(drop)
        })
    }

    /// Raises a warning, or bumps the open one with the same subject and kind.
    pub fn raise_warning(
        &self,
        subject: &str,
        kind: &str,
        message: &str,
        class: Option<&str>,
    ) -> Result<()> {
        let at = now();
        self.with(|c| {
            c.execute(
                "INSERT INTO warnings(subject, kind, message, class, first_at, last_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5)
                 ON CONFLICT(subject, kind) WHERE resolved_at IS NULL DO UPDATE SET
                   message = excluded.message, class = excluded.class,
                   last_at = excluded.last_at, count = count + 1",
                params![subject, kind, message, class, at],
            )
            .map(drop)
        })
    }

    /// Raises the warning that destination `dest` cannot be used, of the error's kind
    /// ("not mounted", "full" …).
    pub fn raise_destination_warning(
        &self,
        dest: &str,
        e: &crate::destination::DestError,
    ) -> Result<()> {
        self.raise_warning(
            &format!("dest:{dest}"),
            e.state().as_str(),
            &e.to_string(),
            Some(e.class().as_str()),
        )
    }

    /// Resolves the open warnings about `subject` (all kinds when `kinds` is empty).
    pub fn resolve_warnings(&self, subject: &str, kinds: &[&str]) -> Result<usize> {
        let at = now();
        self.with(|c| {
            if kinds.is_empty() {
                return c.execute(
                    "UPDATE warnings SET resolved_at = ?2 WHERE subject = ?1 AND resolved_at IS NULL",
                    params![subject, at],
                );
            }
            let mut n = 0;
            for kind in kinds {
                n += c.execute(
                    "UPDATE warnings SET resolved_at = ?3
                     WHERE subject = ?1 AND kind = ?2 AND resolved_at IS NULL",
                    params![subject, kind, at],
                )?;
            }
            Ok(n)
        })
    }

    /// Marks an open warning as seen by a person. It stays open (and in `status`) until
    /// its cause is gone, but the page no longer draws attention to it. Returns false
    /// when no open warning has that id.
    pub fn acknowledge_warning(&self, id: i64) -> Result<bool> {
        self.with(|c| {
            c.execute(
                "UPDATE warnings SET acknowledged_at = COALESCE(acknowledged_at, ?2)
                 WHERE id = ?1 AND resolved_at IS NULL",
                params![id, now()],
            )
            .map(|n| n > 0)
        })
    }

    pub fn open_warnings(&self) -> Result<Vec<Warning>> {
        self.with(|c| {
            let mut stmt = c.prepare(
                "SELECT id, subject, kind, message, class, first_at, last_at, count, acknowledged_at
                 FROM warnings WHERE resolved_at IS NULL ORDER BY last_at DESC, id DESC",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(Warning {
                    id: r.get(0)?,
                    subject: r.get(1)?,
                    kind: r.get(2)?,
                    message: r.get(3)?,
                    class: r.get(4)?,
                    first_at: r.get(5)?,
                    last_at: r.get(6)?,
                    count: r.get(7)?,
                    acknowledged_at: r.get(8)?,
                })
            })?;
            rows.collect()
        })
    }
}

fn logged_operation(r: &rusqlite::Row<'_>) -> rusqlite::Result<LoggedOperation> {
    Ok(LoggedOperation {
        id: r.get(0)?,
        at: r.get(1)?,
        run: r.get(2)?,
        kind: r.get(3)?,
        dest: r.get(4)?,
        path: r.get::<_, Option<Vec<u8>>>(5)?.map(rel).transpose()?,
        bytes: r.get::<_, Option<i64>>(6)?.map(|b| b as u64),
        duration_ms: r.get::<_, Option<i64>>(7)?.map(|d| d as u64),
        outcome: r.get(8)?,
        message: r.get(9)?,
    })
}

pub(super) fn insert_operation(
    c: &Connection,
    at: i64,
    op: &Operation<'_>,
) -> rusqlite::Result<()> {
    c.prepare_cached(
        "INSERT INTO operations(at, run, kind, dest, photo_id, path, bytes, duration_ms, outcome, message)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        at,
        op.run,
        op.kind,
        op.dest,
        op.photo_id,
        op.path.map(|p| p.as_bytes().to_vec()),
        op.bytes.map(|b| b as i64),
        op.duration_ms.map(|d| d as i64),
        op.outcome,
        op.message
    ])
    .map(drop)
}
