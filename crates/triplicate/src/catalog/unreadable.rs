//! What the 3-2-1 verdict must not forget: library files that could not be read,
//! files the include rules left out, and the device behind each library and
//! destination.
//!
//! An unreadable file has no copy anywhere that Triplicate could prove, so it is a
//! photo at risk until a scan reads it ([`Catalog::record_unreadable`]). Devices are
//! remembered by place (`lib:NAME`, `dest:ID`) so that a destination away in a drawer
//! is still known to share a disk with another.

use rusqlite::{OptionalExtension, params};

use super::*;
use crate::device::{Device, DeviceId};

/// A library file (or folder) that could not be read, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct UnreadableFile {
    pub library: String,
    pub path: RelPath,
    /// "permission denied", "input/output error" …
    pub reason: String,
    /// A folder that could not be listed: what is below it is unknown.
    pub is_dir: bool,
    pub first_at: i64,
}

/// Files a library's include rules left out at its last scan.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct LeftOut {
    pub files: u64,
    /// One of them, for the message.
    pub example: Option<RelPath>,
}

/// A place whose device the catalog remembers: a library or a destination.
pub fn library_place(name: &str) -> String {
    format!("lib:{name}")
}

/// See [`library_place`].
pub fn destination_place(id: &str) -> String {
    format!("dest:{id}")
}

impl Catalog {
    /// Replaces what a scan of `library` found unreadable: `found` (path, reason,
    /// is a folder). Files read since, or gone, drop out; those the scan left for later
    /// (`not_read`) keep what was known of them.
    pub fn record_unreadable(
        &self,
        library: &str,
        found: &[(RelPath, String, bool)],
        not_read: &[RelPath],
    ) -> Result<()> {
        let at = now();
        self.tx(|tx| {
            let mut keep: std::collections::HashSet<Vec<u8>> =
                not_read.iter().map(|p| p.as_bytes().to_vec()).collect();
            let mut upsert = tx.prepare_cached(
                "INSERT INTO unreadable(library, path, reason, is_dir, first_at, last_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?5) \
                 ON CONFLICT(library, path) DO UPDATE SET reason = ?3, is_dir = ?4, last_at = ?5",
            )?;
            for (path, reason, is_dir) in found {
                upsert.execute(params![library, path.as_bytes(), reason, is_dir, at])?;
                keep.insert(path.as_bytes().to_vec());
            }
            let mut stmt = tx.prepare_cached("SELECT path FROM unreadable WHERE library = ?1")?;
            let known: Vec<Vec<u8>> = stmt
                .query_map([library], |r| r.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            let mut delete =
                tx.prepare_cached("DELETE FROM unreadable WHERE library = ?1 AND path = ?2")?;
            for path in known.into_iter().filter(|p| !keep.contains(p)) {
                delete.execute(params![library, path])?;
            }
            Ok(())
        })
    }

    /// Every unreadable library file, by library and path.
    pub fn unreadable_files(&self) -> Result<Vec<UnreadableFile>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT library, path, reason, is_dir, first_at FROM unreadable \
                 ORDER BY library, path",
            )?;
            let rows = stmt.query_map([], |r| {
                Ok(UnreadableFile {
                    library: r.get(0)?,
                    path: rel(r.get(1)?)?,
                    reason: r.get(2)?,
                    is_dir: r.get(3)?,
                    first_at: r.get(4)?,
                })
            })?;
            rows.collect()
        })
    }

    /// Of `files`, those the catalog knows the content of (read at an earlier scan),
    /// by photo id.
    pub fn photos_of_unreadable(
        &self,
        files: &[UnreadableFile],
    ) -> Result<HashMap<i64, UnreadableFile>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT photo_id FROM files WHERE library = ?1 AND path = ?2 AND present",
            )?;
            let mut out = HashMap::new();
            for f in files.iter().filter(|f| !f.is_dir) {
                let id: Option<i64> = stmt
                    .query_row(params![f.library, f.path.as_bytes()], |r| r.get(0))
                    .optional()?;
                if let Some(id) = id {
                    out.insert(id, f.clone());
                }
            }
            Ok(out)
        })
    }

    /// Whether the present library file `library:path` has a verified copy anywhere;
    /// `None` when the library holds no such file.
    pub fn file_backed_up(&self, library: &str, path: &RelPath) -> Result<Option<bool>> {
        self.with(|c| {
            c.query_row(
                "SELECT EXISTS (SELECT 1 FROM copies c WHERE c.photo_id = f.photo_id \
                 AND c.state = 'verified') FROM files f \
                 WHERE f.library = ?1 AND f.path = ?2 AND f.present",
                params![library, path.as_bytes()],
                |r| r.get(0),
            )
            .optional()
        })
    }

    /// Forgets the unreadable files of a library no longer configured.
    pub fn forget_unreadable(&self, library: &str) -> Result<()> {
        self.with(|c| {
            c.execute("DELETE FROM unreadable WHERE library = ?1", [library])?;
            c.execute("DELETE FROM left_out WHERE library = ?1", [library])
                .map(|_| ())
        })
    }

    /// Records what the include rules left out of `library` at this scan.
    pub fn record_left_out(&self, library: &str, left: &LeftOut) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO left_out(library, files, example, at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT(library) DO UPDATE SET files = ?2, example = ?3, at = ?4",
                params![
                    library,
                    left.files as i64,
                    left.example.as_ref().map(|p| p.as_bytes().to_vec()),
                    now()
                ],
            )
            .map(|_| ())
        })
    }

    /// What the include rules left out of each library at its last scan.
    pub fn left_out(&self) -> Result<HashMap<String, LeftOut>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached("SELECT library, files, example FROM left_out")?;
            let rows = stmt.query_map([], |r| {
                let example: Option<Vec<u8>> = r.get(2)?;
                Ok((
                    r.get(0)?,
                    LeftOut {
                        files: r.get::<_, i64>(1)? as u64,
                        example: example.map(rel).transpose()?,
                    },
                ))
            })?;
            rows.collect()
        })
    }

    /// Remembers the device seen behind `place` (see [`library_place`]).
    pub fn record_device(&self, place: &str, device: &Device) -> Result<()> {
        self.with(|c| {
            c.execute(
                "INSERT INTO devices(place, device, label, seen_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT(place) DO UPDATE SET device = ?2, label = ?3, seen_at = ?4 \
                 WHERE device <> ?2 OR label <> ?3",
                params![place, device.id.0, device.label, now()],
            )
            .map(|_| ())
        })
    }

    /// The device last seen behind each place.
    pub fn devices(&self) -> Result<HashMap<String, Device>> {
        self.with(|c| {
            let mut stmt = c.prepare_cached("SELECT place, device, label FROM devices")?;
            let rows = stmt.query_map([], |r| {
                Ok((
                    r.get(0)?,
                    Device {
                        id: DeviceId(r.get(1)?),
                        label: r.get(2)?,
                    },
                ))
            })?;
            rows.collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> RelPath {
        RelPath::new(s.as_bytes().to_vec()).unwrap()
    }

    #[test]
    fn a_file_read_since_drops_out_of_the_unreadable() {
        let c = Catalog::open_in_memory().unwrap();
        c.record_unreadable(
            "lib",
            &[
                (p("a.jpg"), "permission denied".into(), false),
                (p("b.jpg"), "input/output error".into(), false),
                (p("d.jpg"), "permission denied".into(), false),
            ],
            &[],
        )
        .unwrap();
        c.record_unreadable("other", &[(p("c"), "permission denied".into(), true)], &[])
            .unwrap();
        // a.jpg was read, d.jpg was left for later (still being written?).
        c.record_unreadable(
            "lib",
            &[(p("b.jpg"), "input/output error".into(), false)],
            &[p("d.jpg")],
        )
        .unwrap();
        let left: Vec<String> = c
            .unreadable_files()
            .unwrap()
            .iter()
            .map(|u| format!("{}:{}", u.library, u.path))
            .collect();
        assert_eq!(left, ["lib:b.jpg", "lib:d.jpg", "other:c"]);
    }

    #[test]
    fn devices_are_remembered_by_place() {
        let c = Catalog::open_in_memory().unwrap();
        let d = Device {
            id: DeviceId("uuid:1".into()),
            label: "/dev/sdb1".into(),
        };
        c.record_device(&destination_place("x"), &d).unwrap();
        c.record_device(&destination_place("x"), &d).unwrap();
        assert_eq!(c.devices().unwrap()["dest:x"], d);
    }
}
