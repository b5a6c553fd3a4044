//! Rebuilding a lost catalog from the destinations.
//!
//! Every destination describes itself: its marker says which destination it is, and its
//! manifests (`.triplicate/manifests/<node>/*.jsonl`) list every copy it received, with
//! its hash, size, capture time and the library name it came from. [`rebuild`] reads
//! them all from every mounted destination in the configuration into a fresh catalog.
//! Copies count as verified as of their manifest's time (run `verify` to check them
//! again); library names are recorded as absent until the next scan finds the files,
//! so `status` and `restore` work at once and `backup` picks up where it was. An
//! existing catalog is moved aside (`catalog.db.before-rebuild-<time>`), never deleted.

use std::collections::{HashMap, HashSet};
use std::io::Read;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::catalog::{Catalog, CatalogError};
use crate::config::{Config, DestinationConfig};
use crate::destination::{self, ErrorClass, META_DIR, manifest};
use crate::home::Home;
use crate::progress::{Event, Problem, Problems, Progress};
use crate::relpath::RelPath;

#[derive(Debug, Clone, Default, Serialize)]
pub struct RebuildReport {
    /// Where the catalog that was there before went, if there was one.
    pub previous: Option<PathBuf>,
    pub destinations: u64,
    pub manifests: u64,
    pub copies: u64,
    /// Other library names of those copies' contents, each a file of its own there.
    pub names: u64,
    /// Manifest lines that could not be read: each is a problem too.
    pub bad_lines: u64,
    /// Copies a manifest lists that are not where it says: not counted.
    pub not_found: u64,
    pub problems: Vec<Problem>,
}

#[derive(Debug, thiserror::Error)]
pub enum RebuildError {
    #[error("cannot move the current catalog {} aside: {source}", path.display())]
    MoveAside {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

/// The warning a catalog that looks lost raises.
pub const LOST_WARNING: &str = "catalog lost";

/// Whether the catalog looks lost: it knows no photo, while a configured destination
/// that is there holds manifests of earlier runs (a deleted or replaced catalog.db).
/// Says so with what to do, and keeps a "catalog lost" warning open meanwhile, so that
/// `status` and the page say it too; the warning goes once the catalog knows photos.
pub fn lost_catalog(catalog: &Catalog, config: &Config) -> Result<Option<String>, CatalogError> {
    let found = if catalog.photo_count()? > 0 {
        None
    } else {
        config
            .destinations
            .iter()
            .filter(|d| !d.is_remote())
            .find_map(|d| {
                let root = d.local_root();
                destination::local::LocalDestination::check_marker(&d.name, &root, &d.id).ok()?;
                let manifests = root.join(META_DIR).join("manifests");
                let runs = walkdir::WalkDir::new(&manifests)
                    .into_iter()
                    .flatten()
                    .filter(|e| e.file_type().is_file())
                    .count();
                (runs > 0).then(|| {
                    format!(
                        "the catalog {} knows no photo, but destination '{}' holds manifests of {runs} earlier runs: it was lost or replaced; run `triplicate catalog rebuild` to recover it from the destinations",
                        catalog.path().display(),
                        d.name
                    )
                })
            })
    };
    match &found {
        Some(message) => {
            catalog.raise_warning("catalog", LOST_WARNING, message, Some("permanent"))?;
        }
        None => {
            catalog.resolve_warnings("catalog", &[LOST_WARNING])?;
        }
    }
    Ok(found)
}

pub fn rebuild(
    home: &Home,
    config: &Config,
    progress: &dyn Progress,
) -> Result<RebuildReport, RebuildError> {
    let mut r = Rebuild {
        report: RebuildReport {
            previous: move_aside(&home.catalog)?,
            ..Default::default()
        },
        catalog: Catalog::open(&home.catalog)?,
        problems: Problems::new(progress),
        history: crate::catalog::Stretches::default(),
        progress,
    };
    for d in &config.destinations {
        r.destination(d)?;
    }
    // What each name held when, as the manifests tell it.
    r.catalog.replace_history(&r.history)?;
    r.report.problems = r.problems.into_vec();
    Ok(r.report)
}

/// A rebuild under way: the fresh catalog, what it found so far.
struct Rebuild<'p> {
    report: RebuildReport,
    catalog: Catalog,
    problems: Problems<'p>,
    history: crate::catalog::Stretches,
    progress: &'p dyn Progress,
}

/// A manifest line, with the manifest it came from.
type Listed = (RelPath, manifest::Entry);

impl Rebuild<'_> {
    /// Records the copies one destination's manifests list and it still holds. A
    /// destination that cannot be opened or listed is a problem: its copies stay out.
    fn destination(&mut self, d: &DestinationConfig) -> Result<(), RebuildError> {
        let prefix = RelPath::new(format!("{META_DIR}/manifests").into_bytes()).expect("clean");
        let dest = match destination::open_read(d) {
            Ok(dest) => dest,
            Err(e) => {
                self.problems.report(Problem {
                    subject: format!("dest:{}", d.name),
                    message: format!("{e}; its copies are not in the rebuilt catalog (run `catalog rebuild` again when it is back)"),
                    class: e.class(),
                });
                return Ok(());
            }
        };
        // The manifests, and what the destination holds, to count only the copies that
        // are there.
        let listing = dest
            .list(Some(&prefix))
            .and_then(|manifests| Ok((manifests, held(dest.as_ref())?)));
        let (manifests, held) = match listing {
            Ok(listing) => listing,
            Err(e) => {
                self.problems.report(Problem {
                    subject: format!("dest:{}", d.name),
                    message: e.to_string(),
                    class: e.class(),
                });
                return Ok(());
            }
        };
        self.report.destinations += 1;
        let listed = self.read_manifests(d, dest.as_ref(), manifests);
        for (_, e) in &listed {
            self.history.learn(e);
        }
        let there = |e: &manifest::Entry| {
            held.get(&e.path)
                .is_some_and(|&size| size == e.size || e.stored_blake3.is_some())
        };
        let finals = final_places(&listed);
        for &i in &finals {
            let (key, e) = &listed[i];
            if !there(e) {
                self.report.not_found += 1;
                self.problems.report(Problem {
                    subject: format!("dest:{}", d.name),
                    message: format!(
                        "destination '{}': manifest {key} lists {}, which is not there; not counted (the next backup copies the photo again)",
                        d.name, e.path
                    ),
                    class: ErrorClass::Permanent,
                });
            }
        }
        let entries: Vec<manifest::Entry> = listed.into_iter().map(|(_, e)| e).collect();
        let finals: HashSet<usize> = finals.into_iter().collect();
        let found = |i: usize, e: &manifest::Entry| {
            (e.copy_of.is_some() || finals.contains(&i)) && there(e)
        };
        let (copies, names) = self.catalog.record_manifest(&d.id, &entries, &found)?;
        self.report.copies += copies as u64;
        self.report.names += names as u64;
        Ok(())
    }

    /// Every line of every manifest of this destination, oldest first (names start with
    /// the time). A manifest of another destination, an unreadable one and each bad line
    /// are problems, and skipped.
    fn read_manifests(
        &mut self,
        d: &DestinationConfig,
        dest: &dyn destination::ReadDestination,
        mut manifests: Vec<destination::ObjectMeta>,
    ) -> Vec<Listed> {
        let mut listed: Vec<Listed> = Vec::new();
        manifests.sort_by(|a, b| a.key.file_name().cmp(b.key.file_name()));
        self.progress.event(&Event::WorkPlanned {
            dest: &d.name,
            files: manifests.len() as u64,
            bytes: manifests.iter().map(|m| m.size).sum(),
        });
        for m in manifests
            .iter()
            .filter(|m| m.key.file_name().ends_with(b".jsonl"))
        {
            let mut bytes = Vec::new();
            let read = dest
                .read(&m.key)
                .map_err(|e| e.to_string())
                .and_then(|mut r| r.read_to_end(&mut bytes).map_err(|e| e.to_string()));
            let parsed = read.and_then(|_| manifest::decode(&bytes).map_err(|e| e.to_string()));
            let problem = |message: String| Problem {
                subject: format!("dest:{}", d.name),
                message,
                class: ErrorClass::Permanent,
            };
            match parsed {
                Ok(m2) if m2.header.destination == d.id => {
                    for bad in &m2.bad {
                        self.report.bad_lines += 1;
                        self.problems.report(problem(format!(
                            "destination '{}': manifest {} line {}: {}; that line is skipped (`verify --dest {}` then `backup` make sure its photo has its copy)",
                            d.name, m.key, bad.line, bad.message, d.name
                        )));
                    }
                    listed.extend(m2.entries.into_iter().map(|e| (m.key.clone(), e)));
                    self.report.manifests += 1;
                }
                Ok(m2) => self.problems.report(problem(format!(
                    "destination '{}': manifest {} belongs to destination {}, not this one; skipped",
                    d.name, m.key, m2.header.destination
                ))),
                Err(why) => self.problems.report(problem(format!(
                    "destination '{}': manifest {} is unreadable: {why}; skipped",
                    d.name, m.key
                ))),
            }
            self.progress.event(&Event::WorkBytes {
                dest: &d.name,
                bytes: m.size,
            });
            self.progress.event(&Event::WorkDone {
                dest: &d.name,
                ok: true,
            });
        }
        listed
    }
}

/// Where each photo's copy is in the end, as indexes into `listed`, in order. Later runs
/// win: a version moved aside is listed again at its new place; a pruned one is listed
/// as removed. Only that last place is looked for at the destination. Lines of a
/// content's other names (each a file of its own) are looked for where they say, and
/// are not among these.
fn final_places(listed: &[Listed]) -> Vec<usize> {
    let mut last: HashMap<&str, usize> = HashMap::new();
    for (i, (_, e)) in listed.iter().enumerate() {
        if e.copy_of.is_some() || e.until.is_some() {
            continue;
        }
        if !e.removed {
            last.insert(&e.blake3, i);
        } else if last
            .get(e.blake3.as_str())
            .is_some_and(|&j| listed[j].1.path == e.path)
        {
            last.remove(e.blake3.as_str());
        }
    }
    let mut finals: Vec<usize> = last.values().copied().collect();
    finals.sort_unstable();
    finals
}

/// Every file the destination holds, with its size: the photos, and the earlier
/// versions kept under `.triplicate/versions`.
fn held(
    dest: &dyn destination::ReadDestination,
) -> Result<std::collections::HashMap<RelPath, u64>, destination::DestError> {
    let versions = RelPath::new(format!("{META_DIR}/versions").into_bytes()).expect("clean");
    let mut held = std::collections::HashMap::new();
    for listed in [dest.list(None)?, dest.list(Some(&versions))?] {
        held.extend(listed.into_iter().map(|m| (m.key, m.size)));
    }
    Ok(held)
}

/// Moves `catalog.db` (and its WAL files) aside; returns where it went.
fn move_aside(path: &Path) -> Result<Option<PathBuf>, RebuildError> {
    if !path.exists() {
        return Ok(None);
    }
    let stamp = chrono::Utc::now().format("%Y%m%dT%H%M%SZ");
    let aside = path.with_file_name(format!("catalog.db.before-rebuild-{stamp}"));
    for suffix in ["", "-wal", "-shm"] {
        let from = PathBuf::from(format!("{}{suffix}", path.display()));
        if from.exists() {
            let to = PathBuf::from(format!("{}{suffix}", aside.display()));
            std::fs::rename(&from, &to)
                .map_err(|source| RebuildError::MoveAside { path: from, source })?;
        }
    }
    Ok(Some(aside))
}
