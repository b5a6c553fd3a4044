//! What a scan does with known files whose content changed: new versions, held
//! changes, warnings, and the mass-change guard.
//!
//! A change to content no destination holds yet is simply recorded. A change to
//! backed-up content is settled once the whole library has been walked, so that the
//! guard sees the scan's full count:
//!
//! - **The guard.** When more than `mass_change_percent` of the library's backed-up
//!   files (and at least `mass_change_min_files`) changed or vanished in one scan, the
//!   guard trips: an alarm is raised, and from then on every change to backed-up
//!   content is held back until `triplicate accept-changes`. New photos still go to the
//!   backups. Changed photos whose start looks encrypted are counted in the alarm.
//! - **Possible bit rot.** A photo or video whose content changed while its
//!   modification time did not is held back: the backups keep the good version.
//! - **Otherwise** the new content is recorded and backed up as a new version (the
//!   earlier one is moved aside at each destination, never replaced). A changed
//!   photo or video raises "original changed"; sidecars and other edit files change
//!   silently.

use std::io::Read;

use crate::catalog::{Catalog, CatalogError, GuardTrip, HoldReason, KnownFile, ScannedFile};
use crate::config::{LibraryConfig, ProtectionSettings};
use crate::destination::ErrorClass;
use crate::photo::{ContentHash, HEAD_LEN, PhotoKind, looks_encrypted};
use crate::progress::{Event, Problem, Progress};
use crate::relpath::RelPath;

use super::{BATCH, ScanReport};

/// The warning kinds this module raises.
pub const BIT_ROT_WARNING: &str = "possible bit rot";
pub const CHANGED_WARNING: &str = "original changed";
pub const GUARD_WARNING: &str = "mass change";

/// A known file whose content is not what the catalog holds for it.
pub(crate) struct Change {
    pub found: ScannedFile,
    pub before: KnownFile,
}

/// What one scan found different: content changes, and known files gone.
pub(crate) struct Differences<'a> {
    pub changes: Vec<Change>,
    pub gone: &'a [(&'a RelPath, &'a KnownFile)],
}

/// Settles the differences one scan of `lib` found.
pub(crate) fn settle(
    catalog: &Catalog,
    lib: &LibraryConfig,
    protection: &ProtectionSettings,
    Differences { changes, gone }: Differences<'_>,
    report: &mut ScanReport,
    progress: &dyn Progress,
    on_recorded: &mut dyn FnMut(&[i64]),
) -> Result<(), CatalogError> {
    let mut s = Settling {
        catalog,
        lib,
        report,
        progress,
    };
    let mut backed = Vec::with_capacity(changes.len());
    for c in &changes {
        backed.push(catalog.is_backed_up(c.before.photo_id)?);
    }
    let trip = match catalog.guard_trip()? {
        Some(trip) => Some(trip),
        None => s.guard(protection, &changes, &backed, gone)?,
    };
    let mut record = Vec::new();
    for (c, backed) in changes.into_iter().zip(backed) {
        if !backed {
            record.push(c.found);
        } else if let Some(found) = s.backed_up_change(c, trip.is_some())? {
            record.push(found);
        }
    }
    for chunk in record.chunks(BATCH) {
        let ids = catalog.record_files(&lib.name, chunk)?;
        on_recorded(&ids);
    }
    Ok(())
}

/// One scan's differences being settled.
struct Settling<'a> {
    catalog: &'a Catalog,
    lib: &'a LibraryConfig,
    report: &'a mut ScanReport,
    progress: &'a dyn Progress,
}

impl Settling<'_> {
    /// An alarm: a problem of the scan's, shown as it happens.
    fn alarm(&mut self, subject: String, message: String) {
        let p = Problem {
            subject,
            message,
            class: ErrorClass::Permanent,
        };
        self.progress.event(&Event::Problem(&p));
        self.report.problems.push(p);
    }

    /// Trips the guard when too much backed-up content was lost to the library.
    /// What it counts: backed-up photos and videos whose content is lost to the
    /// library, by a change or a deletion (a renamed file is still there), in this scan
    /// and within the window before it.
    fn guard(
        &mut self,
        protection: &ProtectionSettings,
        changes: &[Change],
        backed: &[bool],
        gone: &[(&RelPath, &KnownFile)],
    ) -> Result<Option<GuardTrip>, CatalogError> {
        let (catalog, lib) = (self.catalog, self.lib);
        let changed = changes
            .iter()
            .zip(backed)
            .filter(|(c, b)| **b && c.found.kind.is_media())
            .count() as u64;
        let mut vanished = 0u64;
        for (path, k) in gone {
            if PhotoKind::from_name(path.file_name()).is_media()
                && catalog.is_backed_up(k.photo_id)?
                && !catalog.is_present_elsewhere(k.photo_id, k.id)?
            {
                vanished += 1;
            }
        }
        if changed + vanished == 0 {
            return Ok(None);
        }
        let since = (crate::catalog::now_ms() - protection.window().as_millis() as i64)
            .max(catalog.guard_reset_at()?.unwrap_or(0));
        let earlier = catalog.recent_losses(&lib.name, since)?;
        let backed_up = catalog.backed_up_files(&lib.name)?;
        let n = changed + vanished + earlier;
        if n < protection.mass_change_min_files
            || n as f64 * 100.0 <= protection.mass_change_percent * backed_up as f64
        {
            return Ok(None);
        }
        let looks_encrypted = changes
            .iter()
            .zip(backed)
            .filter(|(c, b)| **b && head_looks_encrypted(lib, &c.found))
            .count() as u64;
        let t = GuardTrip {
            at: crate::catalog::now(),
            library: lib.name.clone(),
            changed,
            vanished,
            earlier,
            backed_up,
            looks_encrypted,
        };
        catalog.set_guard_trip(Some(&t))?;
        let message = guard_message(&t);
        tracing::error!("{message}");
        let subject = format!("library:{}", lib.name);
        catalog.raise_warning(&subject, GUARD_WARNING, &message, Some("permanent"))?;
        self.alarm(subject, message);
        self.report.guard_tripped = true;
        Ok(Some(t))
    }

    /// A change to backed-up content: held back while the guard is tripped or when it
    /// looks like bit rot; otherwise returned, to be recorded as a new version.
    fn backed_up_change(
        &mut self,
        c: Change,
        tripped: bool,
    ) -> Result<Option<ScannedFile>, CatalogError> {
        let (catalog, lib) = (self.catalog, self.lib);
        let subject = format!("{}:{}", lib.name, c.found.path);
        let media = c.found.kind.is_media();
        if tripped {
            catalog.hold_change(&lib.name, &c.found, HoldReason::MassChange)?;
            self.report.held += 1;
            return Ok(None);
        }
        let was = || -> Result<_, CatalogError> {
            Ok(catalog
                .content_of(&lib.name, &c.found.path)?
                .map(|(_, h)| h))
        };
        if media && c.found.mtime_ns == c.before.mtime_ns {
            let message = hold_bit_rot(catalog, lib, &c.found, was()?.as_ref())?;
            self.alarm(subject, message);
            self.report.held += 1;
            return Ok(None);
        }
        if media {
            let message = format!(
                "{} in library '{}' changed content (was {}, now {}). A changed RAW, JPEG or \
                 video usually means damage; if it was not edited on purpose, restore the \
                 earlier version. The new content is backed up as a new version, and the \
                 earlier one stays at every destination under .triplicate/versions/.",
                c.found.path,
                lib.name,
                was()?.map_or_else(|| "unknown".into(), |h| h.short()),
                c.found.hash.short()
            );
            tracing::warn!("{message}");
            catalog.raise_warning(&subject, CHANGED_WARNING, &message, Some("permanent"))?;
        }
        self.report.new_versions += 1;
        Ok(Some(c.found))
    }
}

/// Holds back `found`, a photo whose content changed under an unchanged modification
/// time, and says so (the warning's text is returned).
pub(crate) fn hold_bit_rot(
    catalog: &Catalog,
    lib: &LibraryConfig,
    found: &ScannedFile,
    kept: Option<&ContentHash>,
) -> Result<String, CatalogError> {
    catalog.hold_change(&lib.name, found, HoldReason::BitRot)?;
    let message = format!(
        "{path} in library '{lib}' changed content ({kept} is now {now}) but not its \
         modification time: possible bit rot on the library's disk. The backups keep the \
         good version, and the damaged one is not backed up. Restore the good one with \
         `triplicate restore --to DIR '{path}'` and put it back; if the change was meant, \
         run `triplicate accept-changes '{lib}:{path}'`.",
        path = found.path,
        lib = lib.name,
        kept = kept.map_or_else(|| "unknown".into(), |h| h.short()),
        now = found.hash.short(),
    );
    tracing::error!("{message}");
    catalog.raise_warning(
        &format!("{}:{}", lib.name, found.path),
        BIT_ROT_WARNING,
        &message,
        Some("permanent"),
    )?;
    Ok(message)
}

/// The alarm's text.
pub fn guard_message(t: &GuardTrip) -> String {
    let encrypted = if t.looks_encrypted > 0 {
        format!(
            " {} of the changed photos look encrypted: this looks like ransomware. Disconnect \
             this computer from the network and the backup disks now.",
            t.looks_encrypted
        )
    } else {
        String::new()
    };
    let earlier = if t.earlier > 0 {
        format!(" ({} more were lost just before)", t.earlier)
    } else {
        String::new()
    };
    format!(
        "mass change in library '{}': {} of {} backed-up photos changed content and {} \
         vanished in one scan{earlier}. Changes no longer reach the backups (new photos still do), \
         and the backups keep every earlier version.{encrypted} Once a person has checked \
         the library, `triplicate accept-changes` lets the changes through, or \
         `triplicate restore --as-of TIME` brings the library back as it was.",
        t.library, t.changed, t.backed_up, t.vanished
    )
}

/// Whether the start of a changed file looks encrypted.
fn head_looks_encrypted(lib: &LibraryConfig, found: &ScannedFile) -> bool {
    let mut head = Vec::with_capacity(HEAD_LEN);
    let read = std::fs::File::open(found.path.to_path(&lib.path))
        .and_then(|f| f.take(HEAD_LEN as u64).read_to_end(&mut head));
    read.is_ok() && looks_encrypted(&head, found.kind)
}
