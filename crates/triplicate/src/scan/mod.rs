//! Scanning library folders into the catalog.
//!
//! [`scan_library`] walks a library without following symlinks, keeps the files whose
//! extension names a photo kind (all files with `include_all`), and hashes with BLAKE3
//! those that are new or whose size, mtime or inode changed since the catalog last saw
//! them, several files at a time. Unchanged files cost one `lstat` and no write.
//!
//! A file is recorded only if it held still while it was read: its size and mtime are
//! taken before and after, and the path must still name the same inode. A file that
//! changed (a camera still writing, an editor saving) is reported and picked up by the
//! next scan. Capture times come from EXIF ([`exif`]); a sidecar takes the capture time
//! of the photo it belongs to, so that it lands in the same date folder.
//!
//! A known file whose content changed is settled at the end of the scan (`changes`):
//! it becomes a new version, or is held back as possible bit rot, or, when too many
//! backed-up files changed or vanished at once, trips the mass-change guard.

mod changes;
pub mod group;
pub mod metadata;
pub(crate) use changes::hold_bit_rot;
pub use changes::{BIT_ROT_WARNING, CHANGED_WARNING, GUARD_WARNING, guard_message};
mod read;
pub(crate) mod walk;
use read::{Unread, group_date, read_one};
pub(crate) use read::{mtime_ns, read_file};

use std::collections::HashMap;

use rayon::prelude::*;

use crate::catalog::{Catalog, CatalogError, KnownFile, ScannedFile};
use crate::config::{LibraryConfig, ProtectionSettings};
use crate::destination::ErrorClass;
use crate::photo::PhotoKind;
use crate::progress::{Event, Problem, Progress};
use crate::relpath::RelPath;
use crate::zone::Zone;
use metadata::CaptureSource;

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("library '{name}' at {} is not there (is its disk mounted?); nothing in it was marked as deleted", path.display())]
    LibraryMissing {
        name: String,
        path: std::path::PathBuf,
    },
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

/// What a scan found.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct ScanReport {
    pub library: String,
    /// Photo files seen.
    pub files: u64,
    pub unchanged: u64,
    pub hashed: u64,
    pub bytes_hashed: u64,
    /// Files the catalog knew that are no longer there.
    pub gone: u64,
    /// New or changed files left for a later scan because they changed too recently.
    pub deferred: u64,
    /// Backed-up files whose new content goes to the backups as a new version.
    pub new_versions: u64,
    /// Changes held back: possible bit rot, or found while the guard is tripped.
    pub held: u64,
    /// Files the include rules left out (not photos, videos or sidecars): counted, and
    /// shown by `status`, never backed up.
    pub left_out: u64,
    /// Files (or folders) that could not be read: each a photo at risk.
    pub unreadable: u64,
    /// Whether this scan tripped the mass-change guard.
    pub guard_tripped: bool,
    /// The snapshot recorded, when the library changed since its last one.
    pub snapshot: Option<i64>,
    pub problems: Vec<Problem>,
}

/// A file found by the walk, with what the catalog knew of it.
#[derive(Clone)]
struct Found {
    path: RelPath,
    kind: PhotoKind,
    known: Option<KnownFile>,
}

/// Files hashed per catalog transaction.
const BATCH: usize = 64;

/// How to scan.
#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// Take every file, not only photos, videos and sidecars.
    pub include_all: bool,
    /// Leave for a later scan the files modified less than this long ago: a camera or
    /// a download may still be writing them. They are counted as `deferred`.
    pub settle: Option<std::time::Duration>,
    /// Files known to be complete (closed after writing) however recent: the settle
    /// time does not apply to them. Full paths.
    pub complete: std::sync::Arc<std::collections::HashSet<std::path::PathBuf>>,
    /// When changes stop reaching the backups.
    pub protection: ProtectionSettings,
    /// The run the scan belongs to, named in the snapshot it records.
    pub run: Option<String>,
    /// Gives UTC capture times (videos') and modification times their calendar day.
    pub zone: Zone,
}

impl ScanOptions {
    /// What the configuration says of scanning (the rest at its defaults).
    pub fn of(config: &crate::config::Config) -> ScanOptions {
        ScanOptions {
            include_all: config.scan.include_all,
            protection: config.protection.clone(),
            zone: config.scan.zone(),
            ..Default::default()
        }
    }
}

/// Scans one library into the catalog. `on_recorded` receives the photo ids of each
/// batch of new or changed files as soon as the catalog holds them, so that a backup
/// can copy them while the scan goes on (and while they are still in the page cache).
pub fn scan_library(
    catalog: &Catalog,
    lib: &LibraryConfig,
    options: ScanOptions,
    progress: &dyn Progress,
    on_recorded: &mut dyn FnMut(&[i64]),
) -> Result<ScanReport, ScanError> {
    if !lib.path.is_dir() {
        return Err(ScanError::LibraryMissing {
            name: lib.name.clone(),
            path: lib.path.clone(),
        });
    }
    progress.event(&Event::ScanStarted { library: &lib.name });
    let mut scan = Scan {
        catalog,
        lib,
        options: &options,
        progress,
        report: ScanReport {
            library: lib.name.clone(),
            ..Default::default()
        },
        unreadable: Vec::new(),
    };
    let started = std::time::Instant::now();
    // Read what the catalog knows while the walk runs: both take a while on big libraries.
    let (known, (walked, walk_failures)) = rayon::join(
        || catalog.known_files(&lib.name),
        || walk::walk(&lib.path, &|name| !crate::photo::is_litter(name)),
    );
    let mut known = known?;
    tracing::debug!(elapsed = ?started.elapsed(), files = walked.len(), "walked");
    let sorted = scan.sort(walked, &mut known)?;
    // A walk that failed somewhere cannot tell "gone" from "not listed".
    let walk_failed = !walk_failures.is_empty();
    scan.report_walk_failures(walk_failures);
    let changes = scan.read(sorted.to_read, &sorted.all_paths, on_recorded)?;
    let gone: Vec<(&RelPath, &KnownFile)> = if walk_failed {
        Vec::new()
    } else {
        known.iter().filter(|(_, k)| k.present).collect()
    };
    scan.finish(changes, &gone, &sorted.not_read, on_recorded)
}

/// One library's scan under way: where it reports, and what could not be read.
struct Scan<'a> {
    catalog: &'a Catalog,
    lib: &'a LibraryConfig,
    options: &'a ScanOptions,
    progress: &'a dyn Progress,
    report: ScanReport,
    /// Each file or folder that could not be read: where, why, and whether a folder.
    unreadable: Vec<(RelPath, String, bool)>,
}

/// The walk's files, sorted by what the catalog knows of them.
struct Sorted {
    /// New or changed: to be read and hashed.
    to_read: Vec<Found>,
    /// Every file taken, read or not.
    all_paths: Vec<RelPath>,
    /// Too recent to read: left for a later scan.
    not_read: Vec<RelPath>,
}

impl Scan<'_> {
    fn problem(&mut self, p: Problem) {
        self.progress.event(&Event::Problem(&p));
        self.report.problems.push(p);
    }

    /// Sorts the walk's files by what the catalog `known`: unchanged, back again, too
    /// recent, or to read. What stays in `known` was not found: gone from the library.
    /// Every file is listed; what the include rules leave out is counted, never
    /// dropped silently. A file the catalog knows (a card ingest took it whatever its
    /// kind) is kept whatever the rules say.
    fn sort(
        &mut self,
        walked: Vec<walk::WalkEntry>,
        known: &mut HashMap<RelPath, KnownFile>,
    ) -> Result<Sorted, CatalogError> {
        let options = self.options;
        let take =
            |name: &[u8]| options.include_all || PhotoKind::from_name(name) != PhotoKind::Other;
        let settled_before = options.settle.map(|settle| {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default();
            now.saturating_sub(settle).as_nanos() as i64
        });
        let mut left_out = crate::catalog::LeftOut::default();
        let walked: Vec<walk::WalkEntry> = walked
            .into_iter()
            .filter(|e| {
                let wanted = take(e.path.file_name()) || known.contains_key(&e.path);
                if !wanted {
                    left_out.files += 1;
                    left_out.example.get_or_insert_with(|| e.path.clone());
                }
                wanted
            })
            .collect();
        self.report.files = walked.len() as u64;
        self.report.left_out = left_out.files;
        self.catalog.record_left_out(&self.lib.name, &left_out)?;
        let mut sorted = Sorted {
            to_read: Vec::new(),
            all_paths: Vec::with_capacity(walked.len()),
            not_read: Vec::new(),
        };
        let mut came_back: Vec<i64> = Vec::new();
        for entry in walked {
            match known.remove(&entry.path) {
                Some(k)
                    if k.size == entry.size
                        && k.mtime_ns == entry.mtime_ns
                        && k.inode == entry.inode =>
                {
                    self.report.unchanged += 1;
                    if !k.present {
                        came_back.push(k.id);
                    }
                }
                // Still being written, perhaps: a later scan takes it.
                _ if settled_before.is_some_and(|t| entry.mtime_ns > t)
                    && !options
                        .complete
                        .contains(&entry.path.to_path(&self.lib.path)) =>
                {
                    self.report.deferred += 1;
                    sorted.not_read.push(entry.path.clone());
                }
                k => sorted.to_read.push(Found {
                    kind: PhotoKind::from_name(entry.path.file_name()),
                    path: entry.path.clone(),
                    known: k,
                }),
            }
            sorted.all_paths.push(entry.path);
        }
        self.catalog.set_present(&came_back, true)?;
        Ok(sorted)
    }

    /// Every file or folder the walk could not read is a photo at risk until it can be.
    fn report_walk_failures(&mut self, failures: Vec<walk::WalkError>) {
        for failure in failures {
            if let Ok(rel) = RelPath::from_path_under(&self.lib.path, &failure.path) {
                self.unreadable.push((
                    rel,
                    crate::fsutil::read_error_reason(&failure.error),
                    failure.is_dir,
                ));
            }
            let at = failure.path.display().to_string();
            self.problem(problem(
                format!("{}:{at}", self.lib.name),
                format!(
                    "cannot read {at}: {}; files below it were skipped",
                    failure.error
                ),
                ErrorClass::Permanent,
            ));
        }
    }

    /// Reads and records the files `to_read`, in batches. Photos first; then sidecars,
    /// which take their photo's capture time, and the photos that nothing dates but
    /// their modification time while another file of their group (a RAW's JPEG, a Live
    /// Photo's clip) may be better dated: a group shares one date folder, the date of
    /// its best-dated member. The files whose content changed, to be settled once the
    /// whole library has been seen.
    fn read(
        &mut self,
        to_read: Vec<Found>,
        all_paths: &[RelPath],
        on_recorded: &mut dyn FnMut(&[i64]),
    ) -> Result<Vec<changes::Change>, ScanError> {
        let (sidecars, photos): (Vec<Found>, Vec<Found>) = to_read
            .into_iter()
            .partition(|f| f.kind == PhotoKind::Sidecar);
        // Groups matter only for what is read now: a no-change rerun indexes nothing.
        let siblings = if photos.is_empty() && sidecars.is_empty() {
            group::Siblings::default()
        } else {
            group::Siblings::index(all_paths)
        };
        let mut undated: Vec<Found> = Vec::new();
        let mut changed: Vec<changes::Change> = Vec::new();
        for (pass, mut found) in [photos, sidecars].into_iter().enumerate() {
            found.append(&mut undated);
            for chunk in found.chunks(BATCH) {
                let results = self.hash_chunk(chunk, pass == 1, &siblings);
                let mut batch = Vec::with_capacity(results.len());
                let mut same_content = Vec::new();
                for (f, r) in chunk.iter().zip(results) {
                    match r {
                        // Left for the second pass, once its group is in the catalog.
                        Ok(s)
                            if pass == 0
                                && s.captured_from == CaptureSource::Mtime.as_str()
                                && siblings.others(&s.path).next().is_some() =>
                        {
                            undated.push(f.clone());
                        }
                        Ok(s) => {
                            self.report.hashed += 1;
                            self.report.bytes_hashed += s.size;
                            match &f.known {
                                Some(k)
                                    if self.catalog.photo_id_of(&s.hash)? != Some(k.photo_id) =>
                                {
                                    changed.push(changes::Change {
                                        found: s,
                                        before: k.clone(),
                                    })
                                }
                                Some(_) => {
                                    same_content.push(s.path.clone());
                                    batch.push(s)
                                }
                                None => batch.push(s),
                            }
                        }
                        Err(failure) => {
                            self.unreadable
                                .push((f.path.clone(), failure.reason, false));
                            self.problem(failure.problem);
                        }
                    }
                }
                self.record(&batch, &same_content, on_recorded)?;
            }
        }
        Ok(changed)
    }

    /// Reads and hashes a chunk of files in parallel; in the second pass (`by_group`)
    /// a file nothing dates takes its group's date.
    fn hash_chunk(
        &self,
        chunk: &[Found],
        by_group: bool,
        siblings: &group::Siblings,
    ) -> Vec<Result<ScannedFile, Unread>> {
        chunk
            .par_iter()
            .map(|f| {
                let mut scanned = read_one(self.lib, f, &self.options.zone)?;
                if by_group && let Some(captured) = group_date(self.catalog, self.lib, siblings, f)
                {
                    scanned.captured = captured;
                    scanned.captured_from = CaptureSource::Sibling.as_str();
                }
                self.progress.event(&Event::ScanHashed {
                    library: &self.lib.name,
                    bytes: scanned.size,
                });
                Ok(scanned)
            })
            .collect()
    }

    /// Records a batch of files read; those `same_content` as before are back to the
    /// content the backups hold (a damaged file put right).
    fn record(
        &self,
        batch: &[ScannedFile],
        same_content: &[RelPath],
        on_recorded: &mut dyn FnMut(&[i64]),
    ) -> Result<(), CatalogError> {
        let ids = self.catalog.record_files(&self.lib.name, batch)?;
        on_recorded(&ids);
        for path in same_content {
            self.catalog.resolve_warnings(
                &format!("{}:{path}", self.lib.name),
                &[changes::BIT_ROT_WARNING],
            )?;
        }
        Ok(())
    }

    /// Settles the changes and the files `gone`, records what could not be read and
    /// the library's snapshot: the scan's report.
    fn finish(
        mut self,
        changes: Vec<changes::Change>,
        gone: &[(&RelPath, &KnownFile)],
        not_read: &[RelPath],
        on_recorded: &mut dyn FnMut(&[i64]),
    ) -> Result<ScanReport, ScanError> {
        let (catalog, lib) = (self.catalog, self.lib);
        changes::settle(
            catalog,
            lib,
            &self.options.protection,
            changes::Differences { changes, gone },
            &mut self.report,
            self.progress,
            on_recorded,
        )?;
        let gone: Vec<i64> = gone.iter().map(|(_, k)| k.id).collect();
        catalog.set_present(&gone, false)?;
        self.report.gone = gone.len() as u64;
        self.report.unreadable = self.unreadable.len() as u64;
        catalog.record_unreadable(&lib.name, &self.unreadable, not_read)?;
        raise_unreadable_warnings(catalog, lib, &self.unreadable)?;
        settle_unreadable_warnings(catalog)?;
        self.report.snapshot = catalog
            .record_snapshot(&lib.name, self.options.run.as_deref())?
            .map(|s| s.id);
        self.progress.event(&Event::ScanFinished {
            library: &lib.name,
            files: self.report.files,
            hashed: self.report.hashed,
        });
        Ok(self.report)
    }
}

/// The warning a library file that cannot be read raises.
pub const UNREADABLE_WARNING: &str = "unreadable";

fn raise_unreadable_warnings(
    catalog: &Catalog,
    lib: &LibraryConfig,
    found: &[(RelPath, String, bool)],
) -> Result<(), CatalogError> {
    for (path, reason, is_dir) in found {
        let what = if *is_dir { "folder" } else { "file" };
        catalog.raise_warning(
            &format!("{}:{path}", lib.name),
            UNREADABLE_WARNING,
            &format!(
                "cannot read the {what} {}/{path} ({}): {reason}; it has no backup",
                lib.name,
                path.to_path(&lib.path).display()
            ),
            Some("permanent"),
        )?;
    }
    Ok(())
}

/// Resolves the "unreadable" warnings whose file has since been backed up (it has a
/// verified copy) or is gone from the library; the others stay.
pub(crate) fn settle_unreadable_warnings(catalog: &Catalog) -> Result<(), CatalogError> {
    let still: std::collections::HashSet<String> = catalog
        .unreadable_files()?
        .iter()
        .map(|u| format!("{}:{}", u.library, u.path))
        .collect();
    for w in catalog.open_warnings()? {
        if w.kind != UNREADABLE_WARNING || still.contains(&w.subject) {
            continue;
        }
        let Some((library, path)) = w.subject.split_once(':') else {
            continue;
        };
        // Subjects show names as text; a name that is not UTF-8 cannot be looked up
        // again, and its warning stays until a person resolves it.
        if path.contains("\\x") {
            continue;
        }
        let Ok(path) = RelPath::new(path.as_bytes().to_vec()) else {
            continue;
        };
        // Backed up, or gone from the library (no such file any more).
        if catalog.file_backed_up(library, &path)?.unwrap_or(true) {
            catalog.resolve_warnings(&w.subject, &[UNREADABLE_WARNING])?;
        }
    }
    Ok(())
}

fn problem(subject: String, message: String, class: ErrorClass) -> Problem {
    Problem {
        subject,
        message,
        class,
    }
}

#[cfg(test)]
mod tests;
