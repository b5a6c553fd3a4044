//! Alerts: the problems worth a message, as the notifier last saw them.
//!
//! A row is a problem seen and not yet gone: when it was first seen (for the grace
//! period) and when its message went out (so that a restart neither repeats nor
//! forgets it). The notifier ([`crate::alerts`]) decides; this only keeps the record.
//! The time of the last digest, and other small facts of the service's schedules
//! ([`Catalog::mark`]), are kept in `meta`.

use rusqlite::{OptionalExtension, params};

use super::{Catalog, Result};

/// A problem worth a message, as recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertRow {
    /// What it is about, stable while it lasts: "destination:usb", "at-risk".
    pub key: String,
    pub kind: String,
    pub severity: String,
    pub title: String,
    pub message: String,
    pub advice: String,
    /// How many things it folds together (failed copies, files at risk).
    pub count: u64,
    /// Unix seconds.
    pub first_seen: i64,
    /// When its message went out; none while it is within its grace period.
    pub announced_at: Option<i64>,
}

const DIGEST_KEY: &str = "notify.last_digest";

impl Catalog {
    /// Every recorded alert, by key.
    pub fn alerts(&self) -> Result<Vec<AlertRow>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT key, kind, severity, title, message, advice, count, first_seen,
                        announced_at
                 FROM alerts ORDER BY key",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(AlertRow {
                    key: r.get(0)?,
                    kind: r.get(1)?,
                    severity: r.get(2)?,
                    title: r.get(3)?,
                    message: r.get(4)?,
                    advice: r.get(5)?,
                    count: r.get::<_, i64>(6)? as u64,
                    first_seen: r.get(7)?,
                    announced_at: r.get(8)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Records an alert, or its latest words and count; keeps when it was first seen
    /// and announced.
    pub fn put_alert(&self, a: &AlertRow) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO alerts(key, kind, severity, title, message, advice, count,
                                    first_seen, announced_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT(key) DO UPDATE SET kind = excluded.kind,
                   severity = excluded.severity, title = excluded.title,
                   message = excluded.message, advice = excluded.advice,
                   count = excluded.count,
                   announced_at = COALESCE(announced_at, excluded.announced_at)",
                params![
                    a.key,
                    a.kind,
                    a.severity,
                    a.title,
                    a.message,
                    a.advice,
                    a.count as i64,
                    a.first_seen,
                    a.announced_at
                ],
            )
            .map(drop)
        })
    }

    /// Forgets an alert whose problem is gone.
    pub fn remove_alert(&self, key: &str) -> Result<()> {
        self.with(|c| {
            c.execute("DELETE FROM alerts WHERE key = ?1", [key])
                .map(drop)
        })
    }

    /// When the last digest went out (Unix seconds).
    pub fn last_digest(&self) -> Result<Option<i64>> {
        Ok(self.mark(DIGEST_KEY)?.and_then(|v| v.parse().ok()))
    }

    pub fn set_last_digest(&self, at: i64) -> Result<()> {
        self.set_mark(DIGEST_KEY, &at.to_string())
    }

    /// A small fact the service keeps between runs ("notify.last_digest",
    /// `scrub.DESTINATION-ID`), as written.
    pub fn mark(&self, key: &str) -> Result<Option<String>> {
        self.with(|c| {
            c.query_row("SELECT value FROM meta WHERE key = ?1", [key], |r| r.get(0))
                .optional()
        })
    }

    pub fn set_mark(&self, key: &str, value: &str) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO meta(key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                params![key, value],
            )
            .map(drop)
        })
    }

    /// Whether backups are stalled: the first-seen time of the oldest photo still in
    /// a library that arrived after the last photo became protected and is not
    /// protected itself. None when every photo that arrived since is protected.
    pub fn oldest_waiting_photo(&self) -> Result<Option<i64>> {
        self.with(|c| {
            c.query_row(
                "SELECT MIN(p.first_seen) FROM photos p
                 WHERE p.protected_at IS NULL
                   AND p.first_seen > COALESCE((SELECT MAX(protected_at) FROM photos), 0)
                   AND EXISTS (SELECT 1 FROM files f WHERE f.photo_id = p.id AND f.present = 1)",
                [],
                |r| r.get(0),
            )
        })
    }

    /// Photos first seen, and photos that became protected, since `since` (Unix
    /// seconds): what a digest says changed.
    pub fn arrived_and_protected_since(&self, since: i64) -> Result<(u64, u64)> {
        self.with(|c| {
            c.query_row(
                "SELECT (SELECT COUNT(*) FROM photos WHERE first_seen >= ?1),
                        (SELECT COUNT(*) FROM photos WHERE protected_at >= ?1)",
                [since],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )
        })
    }
}
