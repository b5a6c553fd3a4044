//! `status`: each destination's state and counts, 3-2-1 coverage, open warnings.
//!
//! Nothing here writes to a destination: the state comes from reading the marker and
//! asking the filesystem for space. "full" is the state while a full-disk warning from
//! the last run is open, or when no space is left at all.

use serde::Serialize;

use crate::catalog::{CatalogError, DestCounts, Warning};
use crate::config::{DestinationConfig, Policy};
use crate::destination::{self, MediaKind};
use crate::fsutil::Space;
use crate::home::Triplicate;
use crate::policy::{self, Coverage, CoverageSummary};
use crate::relpath::RelPath;
use crate::vocab::DestState;

#[derive(Debug, Clone, Serialize)]
pub struct DestinationStatus {
    pub name: String,
    pub target: String,
    pub media: MediaKind,
    pub site: String,
    pub enabled: bool,
    pub automatic: bool,
    /// Ok, disabled, offline, or what keeps it from being written.
    pub state: DestState,
    /// Why the state is not "ok", in words.
    pub detail: Option<String>,
    pub space: Option<Space>,
    #[serde(flatten)]
    pub counts: DestCounts,
    /// When the least recently verified copy here was last read back and checked.
    pub oldest_verification: Option<i64>,
    /// With scheduled checks on: the copies proven within `verify.every`, and those
    /// overdue; and the period as written.
    pub proofs: Option<crate::scrub::Proofs>,
    pub verify_every: Option<String>,
    /// The last restore drill here, and how it went.
    pub last_drill: Option<crate::drill::Drill>,
    /// Copies found missing or corrupt by `verify`, not yet repaired.
    pub damaged: u64,
    /// How the verified copies were proven, with how many each way.
    pub verified_by: std::collections::BTreeMap<String, u64>,
    /// Whether copies are stored encrypted with age.
    pub encrypted: bool,
    /// A cold destination, not expected to be reachable ("offline" while away).
    pub offline: bool,
    /// For a cold destination: when a run last reached it, and whether it is due a
    /// refresh (never refreshed, or longer ago than its `refresh_every`).
    pub last_refreshed: Option<i64>,
    pub refresh_due: bool,
    /// Whether the store itself refuses to delete or replace what was written: an S3
    /// destination with `object_lock`. Anywhere else, whoever can write there could
    /// remove copies, so a cold or offsite copy is the defence.
    pub immutable: bool,
    /// The device its copies are on, as last seen ("/dev/sdb1 (ext4, mounted at …)").
    pub device: Option<String>,
    /// Set when its copies do not count toward 3-2-1, in words: "'usb' is on the same
    /// device as library 'Downloads': its copies do not count toward 3-2-1".
    pub device_note: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct LibraryStatus {
    pub name: String,
    pub path: String,
    pub media: MediaKind,
    pub available: bool,
    /// The device it is on.
    pub device: Option<String>,
    /// Files its include rules leave out (not backed up, by choice), with one example.
    pub left_out: u64,
    pub left_out_example: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct AtRiskPhoto {
    pub library: String,
    pub path: RelPath,
    pub coverage: Coverage,
    pub lacks: Vec<&'static str>,
    pub description: String,
    /// Why, beyond the numbers: "cannot read: permission denied", "the copy at 'usb'
    /// is on the same device as library 'Downloads'".
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub node: String,
    pub policy: Policy,
    pub libraries: Vec<LibraryStatus>,
    pub destinations: Vec<DestinationStatus>,
    pub coverage: CoverageSummary,
    pub warnings: Vec<ExplainedWarning>,
    /// Photos deleted from the library: deletions never reach the destinations.
    pub deleted: DeletedSummary,
    /// The mass-change guard and the changes held back.
    pub protection: ProtectionSummary,
    /// Filled when asked for (`--at-risk`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_risk: Option<Vec<AtRiskPhoto>>,
}

/// One verdict for monitoring (`status --check`, cron): protected, or what is not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Health {
    /// Every photo protected, no warning open, the mass-change guard at rest, every
    /// copy checked in time, the last restore drills good.
    Protected { photos: u64 },
    /// Photos at risk, warnings open (acknowledged ones too: their cause is still
    /// there), the guard tripped, damaged copies, verification overdue, a failed
    /// restore drill; each reason in a few words.
    AtRisk {
        photos: u64,
        at_risk: u64,
        reasons: Vec<String>,
    },
}

impl StatusReport {
    /// The verdict of this report (see [`Health`]), with `reasons` of the caller's
    /// besides its own.
    pub fn health(&self, mut reasons: Vec<String>) -> Health {
        let c = &self.coverage;
        if c.at_risk > 0 {
            reasons.push(format!("{} of {} photos at risk", c.at_risk, c.photos));
        }
        if let Some(alarm) = &self.protection.alarm {
            reasons.push(format!("the mass-change guard is tripped ({alarm})"));
        }
        for d in &self.destinations {
            if d.damaged > 0 {
                reasons.push(format!(
                    "{} damaged or missing copies at '{}'",
                    d.damaged, d.name
                ));
            }
            if let Some(p) = d.proofs.filter(|p| p.overdue > 0) {
                reasons.push(format!(
                    "verification overdue at '{}' for {} copies",
                    d.name, p.overdue
                ));
            }
            if d.last_drill.as_ref().is_some_and(|l| !l.ok) {
                reasons.push(format!("the last restore drill at '{}' failed", d.name));
            }
        }
        match self.warnings.as_slice() {
            [] => {}
            [w] => reasons.push(format!("1 warning open: {}", w.message)),
            ws => reasons.push(format!(
                "{} warnings open, the first: {}",
                ws.len(),
                ws[0].message
            )),
        }
        if reasons.is_empty() {
            Health::Protected { photos: c.photos }
        } else {
            Health::AtRisk {
                photos: c.photos,
                at_risk: c.at_risk,
                reasons,
            }
        }
    }
}

/// The verdict for monitoring on what the libraries hold now: each is scanned first
/// (an unchanged file costs one `lstat`), so that photos nothing has seen yet count,
/// and a library that cannot be read, or files still being written (modified within
/// [`CHECK_SETTLE`]), are at risk too.
pub fn check(t: &Triplicate) -> Result<Health, CatalogError> {
    let mut reasons = Vec::new();
    let mut unsettled = 0;
    for lib in &t.config.libraries {
        let options = crate::scan::ScanOptions {
            settle: Some(CHECK_SETTLE),
            ..crate::scan::ScanOptions::of(&t.config)
        };
        let progress = &crate::progress::NoProgress;
        match crate::scan::scan_library(&t.catalog, lib, options, progress, &mut |_| {}) {
            Ok(report) => unsettled += report.deferred,
            Err(crate::scan::ScanError::Catalog(e)) => return Err(e),
            Err(e) => reasons.push(e.to_string()),
        }
    }
    if unsettled > 0 {
        reasons.push(format!(
            "{unsettled} files still being written, not yet backed up"
        ));
    }
    Ok(status(t, false)?.health(reasons))
}

/// How long a file must have been left alone before `status --check` reads it: a file
/// written more recently is still arriving, not yet a photo to back up.
pub const CHECK_SETTLE: std::time::Duration = std::time::Duration::from_secs(2);

/// Photos deleted from the library that the backups keep (`restore` brings them back).
#[derive(Debug, Clone, Serialize, Default)]
pub struct DeletedSummary {
    pub photos: u64,
    pub bytes: u64,
    /// Of them, those with at least one verified copy.
    pub kept: u64,
    /// Verified copies of them at each destination, by name.
    pub kept_in: std::collections::BTreeMap<String, u64>,
}

/// The mass-change guard and the changes held back from the backups.
#[derive(Debug, Clone, Serialize, Default)]
pub struct ProtectionSummary {
    /// Set while the guard is tripped: changes do not reach the backups.
    pub guard: Option<crate::catalog::GuardTrip>,
    /// The alarm, in words, while the guard is tripped.
    pub alarm: Option<String>,
    /// Changes held back, of which possible bit rot.
    pub held: u64,
    pub bit_rot: u64,
    /// Snapshots recorded, and the newest (Unix milliseconds).
    pub snapshots: u64,
    pub last_snapshot: Option<i64>,
    /// This node refuses to remove copies (`grid.append_only`): prune does nothing.
    pub append_only: bool,
}

/// An open warning, with what to do about it.
#[derive(Debug, Clone, Serialize)]
pub struct ExplainedWarning {
    #[serde(flatten)]
    pub warning: Warning,
    /// What to do, in a sentence.
    pub advice: &'static str,
}

impl std::ops::Deref for ExplainedWarning {
    type Target = Warning;
    fn deref(&self) -> &Warning {
        &self.warning
    }
}

/// What a person can do about a warning of this kind.
pub fn advice(kind: &str) -> &'static str {
    match kind {
        "not mounted" => {
            "The disk or share is not there. Plug the disk in or mount the share; backups resume by themselves within seconds."
        }
        "wrong disk" => {
            "Another disk is mounted where this destination should be. Mount the right disk, or add this one as a destination of its own."
        }
        "damaged marker" => {
            "The destination's .triplicate/destination.toml cannot be read. Check the disk for errors; do not format it, the copies are still there."
        }
        "read-only" => {
            "The destination is mounted read-only, which Linux also does to a failing disk. Check the disk, then remount it read-write."
        }
        "full" => {
            "No space is left. Free space there, or add a larger destination and disable this one; nothing already copied is lost."
        }
        "in use" => {
            "Another Triplicate process is writing to this destination. Wait for it to finish; the service tries again by itself."
        }
        "permission denied" => {
            "Triplicate may not write there. Give the user running Triplicate write access to the folder."
        }
        "unreachable" => {
            "A GRID peer cannot be reached. Check that it is switched on, on the network, and running `triplicate run --listen`; it catches up by itself when it is back."
        }
        "refused" => {
            "A GRID peer refused this node: its token changed or it is not set up for GRID. Remove the peer and add it again with its current token (`triplicate grid init` on the peer prints it)."
        }
        "protocol" => {
            "A GRID peer sent something this node does not accept (another protocol version, a bad name, a forged record). Check the peer's version and logs; nothing it sent was kept."
        }
        "sending" => {
            "Photos cannot be sent to a GRID peer. See the message; the service tries again by itself, continuing where it stopped."
        }
        "refresh due" => {
            "A cold destination is due a refresh. Plug it in, run `triplicate backup --dest NAME` (or \"Back up existing photos\"), then put it away again."
        }
        "mass change" => {
            "Many backed-up files changed or vanished at once (ransomware, a bad sync, a mistaken bulk edit). Changes no longer reach the backups. Check the library; then `triplicate accept-changes` if the changes are wanted, or `triplicate restore --as-of TIME --to DIR` to bring it back as it was."
        }
        "unreadable" => {
            "Triplicate cannot read this library file or folder, so it has no backup anywhere. Give the user running Triplicate read access (for a file: chmod a+r FILE), or check the disk if it says input/output error; it is backed up on the next run."
        }
        "possible bit rot" => {
            "A photo's content changed while its date did not: the library's disk may be failing. The backups keep the good version; restore it with `triplicate restore`, and check the disk."
        }
        "original changed" => {
            "A RAW, JPEG or video changed. If nobody edited it, it is damaged: restore the earlier version from .triplicate/versions/ at any destination, or with `triplicate restore --as-of`."
        }
        "catalog lost" => {
            "Run `triplicate catalog rebuild`: it reads every mounted destination's manifests into a new catalog (the current one is moved aside, never deleted). Until then status and restore know nothing of the photos the destinations hold."
        }
        "not delivered" => {
            "A notification channel could not deliver a message. Check its settings with `triplicate notify test NAME`; the message is tried again at the next change, and the other channels carry this one."
        }
        "invalid" => {
            "Fix config.toml at the line named; meanwhile the service keeps running with the last good configuration."
        }
        _ => {
            "See the operations log (`triplicate log --errors`) for the details; the service tries again by itself."
        }
    }
}

/// The open warnings, newest first, each with what to do.
pub fn warnings(t: &Triplicate) -> Result<Vec<ExplainedWarning>, CatalogError> {
    Ok(t.catalog
        .open_warnings()?
        .into_iter()
        .map(|w| ExplainedWarning {
            advice: advice(&w.kind),
            warning: w,
        })
        .collect())
}

pub fn status(t: &Triplicate, with_at_risk: bool) -> Result<StatusReport, CatalogError> {
    let warnings = self::warnings(t)?;
    let assessment = policy::assess(&t.catalog, &t.config)?;
    let shared = policy::CoverageModel::new(&t.config, &assessment.devices).shared_devices();
    let destinations = t
        .config
        .destinations
        .iter()
        .map(|d| destination_status(t, d, &warnings, &assessment.devices, &shared))
        .collect::<Result<Vec<_>, _>>()?;
    let policy::Assessment {
        summary: coverage,
        at_risk,
        devices,
        ..
    } = assessment;
    let left_out = t.catalog.left_out()?;
    let at_risk = if with_at_risk {
        Some(name_at_risk(t, at_risk)?)
    } else {
        None
    };
    Ok(StatusReport {
        node: t.config.node.clone(),
        policy: t.config.policy,
        libraries: t
            .config
            .libraries
            .iter()
            .map(|l| {
                let left = left_out.get(&l.name).cloned().unwrap_or_default();
                LibraryStatus {
                    name: l.name.clone(),
                    path: l.path.display().to_string(),
                    media: l.media,
                    available: l.path.is_dir(),
                    device: devices.libraries.get(&l.name).map(|d| d.label.clone()),
                    left_out: left.files,
                    left_out_example: left.example.map(|p| p.to_string()),
                }
            })
            .collect(),
        destinations,
        coverage,
        warnings,
        deleted: deleted_summary(t)?,
        protection: protection_summary(t)?,
        at_risk,
    })
}

/// One destination: its state and why, its space, its copies and their checks.
fn destination_status(
    t: &Triplicate,
    d: &DestinationConfig,
    warnings: &[ExplainedWarning],
    devices: &policy::Devices,
    shared: &[policy::NotCounted],
) -> Result<DestinationStatus, CatalogError> {
    let counts = t.catalog.dest_counts(&d.id)?;
    let (oldest_verification, damaged) = t.catalog.verification_health(&d.id)?;
    let proofs = crate::scrub::proofs(t, d, crate::catalog::now())?;
    let marker = destination::probe(d);
    // The space of an empty mount point is not the disk's: only show it when mounted.
    let space = marker
        .as_ref()
        .ok()
        .and_then(|_| crate::fsutil::space(&d.local_root()).ok());
    let refresh = crate::cold::refresh_of(d, counts.last_success, crate::catalog::now());
    let (state, detail) = if !d.enabled {
        (DestState::Disabled, None)
    } else {
        match &marker {
            // A cold destination away in its drawer is where it should be.
            Err(destination::DestError::NotMounted { .. }) if d.offline => (
                DestState::Offline,
                Some(refresh.as_ref().map(|r| r.describe()).unwrap_or_default()),
            ),
            Err(e) => (e.state(), Some(e.to_string())),
            Ok(_) if space.is_some_and(|s| s.read_only) => (
                DestState::ReadOnly,
                Some(format!("{} is mounted read-only", d.target)),
            ),
            Ok(_) => {
                let full_warning = warnings
                    .iter()
                    .find(|w| w.subject == format!("dest:{}", d.name) && w.kind == "full");
                match full_warning {
                    Some(w) => (DestState::Full, Some(w.message.clone())),
                    None if space.is_some_and(|s| s.free == 0) => (
                        DestState::Full,
                        Some(format!("no space left at {}", d.target)),
                    ),
                    None => (DestState::Ok, None),
                }
            }
        }
    };
    Ok(DestinationStatus {
        name: d.name.clone(),
        target: d.target.to_string(),
        media: d.media,
        site: d.site.clone(),
        enabled: d.enabled,
        automatic: d.automatic,
        encrypted: !d.encrypt_to.is_empty(),
        offline: d.offline,
        last_refreshed: refresh.as_ref().and_then(|r| r.last),
        refresh_due: refresh.as_ref().is_some_and(|r| r.due),
        immutable: d.object_lock.is_some(),
        device: devices.destinations.get(&d.id).map(|dev| dev.label.clone()),
        device_note: policy::device_note(shared, &d.name),
        state,
        detail,
        space,
        counts,
        oldest_verification,
        proofs,
        verify_every: proofs.map(|_| t.config.verify.every.to_string()),
        last_drill: crate::drill::last(t, d)?,
        damaged,
        verified_by: t.catalog.verification_methods(&d.id)?.into_iter().collect(),
    })
}

/// Photos deleted from the libraries, and where their copies are kept.
fn deleted_summary(t: &Triplicate) -> Result<DeletedSummary, CatalogError> {
    let found = t.catalog.deleted_photos()?;
    Ok(DeletedSummary {
        photos: found.photos,
        bytes: found.bytes,
        kept: found.kept,
        kept_in: found
            .by_dest
            .into_iter()
            .map(|(id, n)| {
                let name = t
                    .config
                    .destinations
                    .iter()
                    .find(|d| d.id == id)
                    .map_or(id, |d| d.name.clone());
                (name, n)
            })
            .collect(),
    })
}

/// The ransomware guard, held changes, snapshots and append-only mode.
fn protection_summary(t: &Triplicate) -> Result<ProtectionSummary, CatalogError> {
    let guard = t.catalog.guard_trip()?;
    let held = t.catalog.held_changes()?;
    let (snapshots, last_snapshot) = t.catalog.snapshot_summary()?;
    Ok(ProtectionSummary {
        alarm: guard.as_ref().map(crate::scan::guard_message),
        guard,
        held: held.len() as u64,
        bit_rot: held
            .iter()
            .filter(|h| h.reason == crate::catalog::HoldReason::BitRot)
            .count() as u64,
        snapshots,
        last_snapshot,
        append_only: t.config.grid.append_only,
    })
}

/// The at-risk photos by name, sorted by library and path.
fn name_at_risk(
    t: &Triplicate,
    at_risk: Vec<policy::AtRisk>,
) -> Result<Vec<AtRiskPhoto>, CatalogError> {
    let mut names = t.catalog.present_names()?;
    let mut out: Vec<AtRiskPhoto> = at_risk
        .into_iter()
        .filter_map(|r| {
            let (library, path) = match r.name {
                Some(name) => name,
                None => names.remove(&r.photo_id?)?,
            };
            Some(AtRiskPhoto {
                library,
                path,
                description: r.coverage.describe(),
                coverage: r.coverage,
                lacks: r.lacks,
                reasons: r.reasons,
            })
        })
        .collect();
    out.sort_by(|a, b| (&a.library, &a.path).cmp(&(&b.library, &b.path)));
    Ok(out)
}

/// The at-risk photos in one folder of a library (or all of them), by name.
pub fn at_risk(
    t: &Triplicate,
    library: Option<&str>,
    folder: Option<&str>,
) -> Result<Vec<AtRiskPhoto>, CatalogError> {
    let at_risk = policy::assess(&t.catalog, &t.config)?.at_risk;
    let mut list = name_at_risk(t, at_risk)?;
    list.retain(|a| {
        library.is_none_or(|l| a.library == l) && folder.is_none_or(|f| folder_of(&a.path) == f)
    });
    Ok(list)
}

/// Coverage of the photos in one folder of a library: the date folders, in the usual
/// layout.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FolderCoverage {
    pub library: String,
    /// The folder's path in the library; empty for the library's top.
    pub folder: String,
    pub photos: u64,
    pub protected: u64,
    /// Backed up somewhere, but short of the policy.
    pub partial: u64,
    /// Only the original: no verified backup anywhere.
    pub unprotected: u64,
}

/// 3-2-1 coverage per folder, sorted by library and folder. An unreadable file counts
/// in its folder as unprotected.
pub fn coverage_by_folder(
    t: &Triplicate,
    assessment: &policy::Assessment,
) -> Result<Vec<FolderCoverage>, CatalogError> {
    let names = t.catalog.present_names()?;
    let mut risky: std::collections::HashMap<i64, Coverage> = Default::default();
    let mut folders: std::collections::BTreeMap<(String, String), FolderCoverage> =
        Default::default();
    let mut add = |library: &str, path: &RelPath, coverage: Option<Coverage>| {
        let folder = folder_of(path);
        let entry = folders
            .entry((library.to_string(), folder.clone()))
            .or_insert_with(|| FolderCoverage {
                library: library.to_string(),
                folder,
                photos: 0,
                protected: 0,
                partial: 0,
                unprotected: 0,
            });
        entry.photos += 1;
        match coverage {
            None => entry.protected += 1,
            Some(c) if c.copies >= 2 => entry.partial += 1,
            Some(_) => entry.unprotected += 1,
        }
    };
    for r in &assessment.at_risk {
        match (&r.name, r.photo_id) {
            (Some((library, path)), _) => add(library, path, Some(r.coverage)),
            (None, Some(id)) => {
                risky.insert(id, r.coverage);
            }
            (None, None) => {}
        }
    }
    for (id, (library, path)) in &names {
        add(library, path, risky.get(id).copied());
    }
    Ok(folders.into_values().collect())
}

/// The folder part of a library path, as text.
fn folder_of(path: &RelPath) -> String {
    path.parent()
        .map(|p| crate::relpath::escape(p.as_bytes()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests;
