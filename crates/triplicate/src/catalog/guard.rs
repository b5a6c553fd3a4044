//! The mass-change guard's state: whether it is tripped (and by what), when it was last
//! reset, and the losses it counts across scans.

use rusqlite::{OptionalExtension, params};
use serde::{Deserialize, Serialize};

use super::*;

/// The mass-change guard, tripped.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GuardTrip {
    /// Unix seconds.
    pub at: i64,
    pub library: String,
    /// Backed-up photos whose content changed, and backed-up photos that vanished, in
    /// the scan that tripped the guard; and those lost within the window before it.
    pub changed: u64,
    pub vanished: u64,
    #[serde(default)]
    pub earlier: u64,
    /// Backed-up files in the library before the scan.
    pub backed_up: u64,
    /// Changed files whose start looks encrypted rather than like a photo.
    pub looks_encrypted: u64,
}

const GUARD_KEY: &str = "guard_tripped";
const GUARD_RESET_KEY: &str = "guard_reset_at";

impl Catalog {
    /// How many backed-up photos and videos `library` lost after `since_ms`: a path
    /// stopped holding them (changed or deleted) and no file holds them now. What the
    /// mass-change guard adds to a scan's own count, so that an attack spread over
    /// many small scans is caught too.
    pub fn recent_losses(&self, library: &str, since_ms: i64) -> Result<u64> {
        self.with(|c| {
            c.query_row(
                "SELECT COUNT(DISTINCT h.photo_id) FROM file_history h
                 JOIN photos p ON p.id = h.photo_id
                 WHERE h.library = ?1 AND h.until > ?2
                   AND p.kind IN ('raw', 'image', 'video')
                   AND EXISTS (SELECT 1 FROM copies c WHERE c.photo_id = h.photo_id
                               AND c.state = 'verified')
                   AND NOT EXISTS (SELECT 1 FROM files f WHERE f.photo_id = h.photo_id
                                   AND f.present = 1)",
                params![library, since_ms],
                |r| r.get::<_, i64>(0),
            )
            .map(|n| n as u64)
        })
    }

    /// Whether a present file other than `file_id` holds the photo (a renamed or
    /// copied file keeps its content in the library).
    pub fn is_present_elsewhere(&self, photo_id: i64, file_id: i64) -> Result<bool> {
        self.with(|c| {
            c.query_row(
                "SELECT EXISTS (SELECT 1 FROM files WHERE photo_id = ?1 AND present = 1
                                AND id <> ?2)",
                params![photo_id, file_id],
                |r| r.get(0),
            )
        })
    }

    /// When a person last reset the guard (Unix milliseconds): changes before it
    /// were accepted and no longer count.
    pub fn guard_reset_at(&self) -> Result<Option<i64>> {
        let value: Option<String> = self.with(|c| {
            c.query_row(
                "SELECT value FROM meta WHERE key = ?1",
                [GUARD_RESET_KEY],
                |r| r.get(0),
            )
            .optional()
        })?;
        Ok(value.and_then(|v| v.parse().ok()))
    }

    /// The mass-change guard, if it is tripped.
    pub fn guard_trip(&self) -> Result<Option<GuardTrip>> {
        let value: Option<String> = self.with(|c| {
            c.query_row("SELECT value FROM meta WHERE key = ?1", [GUARD_KEY], |r| {
                r.get(0)
            })
            .optional()
        })?;
        Ok(value.and_then(|v| serde_json::from_str(&v).ok()))
    }

    /// Trips the guard (`Some`) or resets it (`None`, remembering when). The reset's
    /// time comes from the clock the history's triggers use, so that changes accepted
    /// just before it (within the same millisecond) never count after it.
    pub fn set_guard_trip(&self, trip: Option<&GuardTrip>) -> Result<()> {
        self.with(|c| match trip {
            Some(t) => c
                .execute(
                    "INSERT INTO meta(key, value) VALUES (?1, ?2)
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    params![GUARD_KEY, serde_json::to_string(t).unwrap_or_default()],
                )
                .map(drop),
            None => {
                c.execute("DELETE FROM meta WHERE key = ?1", [GUARD_KEY])?;
                c.execute(
                    "INSERT INTO meta(key, value)
                     VALUES (?1, CAST(CAST(unixepoch('subsec') * 1000 AS INTEGER) AS TEXT))
                     ON CONFLICT(key) DO UPDATE SET value = excluded.value",
                    params![GUARD_RESET_KEY],
                )
                .map(drop)
            }
        })
    }
}
