//! Card ingest: read each file on a card once, write it to the library and to every
//! ingest destination at the same time, prove every copy, and say truthfully when the
//! card may be formatted.
//!
//! [`ingest`] lists the card ([`card`]), places each file in the library by a template
//! (`{year}/{date}/{name}` unless configured; camera, card, job and sequence tokens
//! too), and at each destination by that destination's own layout, exactly where a
//! later `backup` would put it. Each file is then read from the card once
//! ([`fan_out_learning`]): the same chunks go to the library and to every destination,
//! BLAKE3 and xxh64 are computed in that pass, and every copy is read back from its
//! device and checked against the hash of what was read from the card. A copy that
//! fails is tried again, from the card. The library file and the destination copies
//! are recorded in the catalog as a scan and a backup would, so neither repeats the
//! work.
//!
//! Where a name is taken already, the card file is hashed first: the same content (a
//! card ingested before) is recognised and not copied again; other content (the same
//! `DSC_0001.JPG` from a second body) gets a distinct name. Nothing on the card is
//! ever written or deleted.
//!
//! The card is read whole ([`card`]): every file but the litter cameras recreate.
//! Copies the catalog already holds are read back before they count, and a damaged
//! one is moved aside and written again from the card.
//!
//! The verdict follows the one coverage rule ([`crate::policy::count`]): the card is
//! safe to format when every file on it has at least `max(safe_copies, safe_devices)`
//! verified copies, one per device, none on the card's own (the library counts: it
//! is a copy on the computer's disk); a file that could not be read is never safe.

pub mod card;
mod groups;
pub mod mhl;

use std::ops::ControlFlow;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use chrono::NaiveDateTime;
use serde::{Deserialize, Serialize};

use crate::catalog::RunKind;
use crate::catalog::{CatalogError, Operation, ScannedFile};
use crate::config::{DestinationConfig, LibraryConfig};
use crate::destination::layout::{IngestTokens, Layout, LayoutInput};
use crate::destination::{self, LocalDestination, MediaKind, Stored, WriteDestination};
use crate::device::DeviceId;
use crate::engine::DestinationWrapper;
use crate::engine::fanout::{Learned, Placement, Target, choose_key, fan_out, fan_out_learning};
use crate::engine::retry::RETRY;
use crate::home::Triplicate;
use crate::photo::{ContentHash, PhotoKind};
use crate::policy::Holder;
use crate::progress::{Event, Problem, Problems, Progress};
use crate::relpath::RelPath;
use crate::run;
use crate::scan::metadata::{self, CAPTURE_FORMAT, CaptureSource};
use crate::vocab::CopyState;
use crate::vocab::DestState;
use card::{Card, CardError, CardFile, CardLayout};

/// What to ingest, and where to.
#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    /// The card's mount point (or any folder).
    pub card: PathBuf,
    /// The library to ingest into (default: `ingest.library`, else the first).
    pub library: Option<String>,
    /// Destinations to write besides the enabled, automatic ones (manual ones).
    pub also: Vec<String>,
    /// Fills `{job}`.
    pub job: Option<String>,
    /// Where files go in the library (default: `ingest.template`).
    pub template: Option<String>,
    /// Fills `{card}` (default: the card folder's name, usually the volume label).
    pub label: Option<String>,
    /// Files copied at once (default: `backup.jobs`).
    pub jobs: Option<usize>,
    /// Wraps each destination once it is open (fault injection in tests).
    pub wrap: Option<DestinationWrapper>,
    /// Bring back into the library the files an earlier ingest of this card brought,
    /// that have been removed (or edited) there since.
    pub again: bool,
}

/// What an ingest did, and its verdict.
#[derive(Debug, Clone, Serialize)]
pub struct IngestReport {
    pub run: String,
    pub card: String,
    pub label: String,
    pub layouts: Vec<CardLayout>,
    pub library: String,
    pub files: u64,
    pub bytes: u64,
    /// Files this ingest wrote into the library.
    pub copied: u64,
    /// Files whose content was in the library already (a card ingested before).
    pub already: u64,
    /// Files an earlier ingest of this card brought into the library, removed or
    /// edited there since: left out of the library (`again` brings them back), and
    /// still made sure of at the destinations.
    pub culled: u64,
    pub destinations: Vec<IngestDestination>,
    pub file_copies: Vec<IngestedFile>,
    pub verdict: Verdict,
    /// The ASC MHL generation this ingest added at each place.
    pub manifests: Vec<IngestManifest>,
    pub problems: Vec<Problem>,
    pub seconds: f64,
}

/// The ASC MHL generation an ingest added to the history of a place (the library,
/// or a destination).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IngestManifest {
    /// The library's or destination's name.
    pub place: String,
    /// The generation's key there (`ascmhl/0001_….mhl`); `None` when none was written.
    pub generation: Option<String>,
    /// Why none was written.
    pub note: Option<String>,
}

/// One destination's part in an ingest.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IngestDestination {
    pub name: String,
    /// Ok, or why it took no part (not mounted, full …).
    pub state: DestState,
    /// Copies written and verified by this ingest.
    pub written: u64,
    /// Copies that were there already.
    pub already: u64,
    pub failed: u64,
}

/// Where one file of the card has verified copies.
#[derive(Debug, Clone, Serialize)]
pub struct IngestedFile {
    pub card_path: RelPath,
    pub library_path: Option<RelPath>,
    pub size: u64,
    pub blake3: Option<String>,
    /// The ASC MHL interchange hash, 16 hex digits.
    pub xxh64: Option<String>,
    /// "library", then the names of destinations with a verified copy.
    pub copies: Vec<String>,
    /// Distinct devices among those copies, the card's own not counted.
    pub devices: u32,
}

/// Whether the card may be formatted, and if not, why.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verdict {
    pub safe: bool,
    /// The rule applied, in words.
    pub rule: String,
    /// What is not yet safe, one line per file: "path: why".
    pub reasons: Vec<String>,
    /// The same files, grouped by why.
    #[serde(default)]
    pub groups: Vec<ReasonGroup>,
}

/// Files of a card that are not safe for one reason.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReasonGroup {
    /// "cannot read from the card: permission denied".
    pub reason: String,
    pub files: Vec<String>,
}

/// An ingest as the status page lists it: its report without the per-file list.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IngestSummary {
    #[serde(default)]
    pub run: String,
    /// Unix seconds.
    #[serde(default)]
    pub started_at: i64,
    #[serde(default)]
    pub finished_at: i64,
    pub card: String,
    pub label: String,
    pub library: String,
    pub files: u64,
    pub bytes: u64,
    pub copied: u64,
    pub already: u64,
    pub verdict: Verdict,
    pub destinations: Vec<IngestDestination>,
    #[serde(default)]
    pub manifests: Vec<IngestManifest>,
}

/// Reasons a summary keeps; the count of the rest is given.
const REASONS_SHOWN: usize = 20;

/// The newest `limit` ingests, newest first, from the catalog's runs.
pub fn recent(t: &Triplicate, limit: usize) -> Result<Vec<IngestSummary>, CatalogError> {
    Ok(t.catalog
        .recent_runs(RunKind::Ingest, limit)?
        .into_iter()
        .filter_map(|run| {
            let mut s: IngestSummary = serde_json::from_str(&run.summary).ok()?;
            s.run = run.id;
            s.started_at = run.started_at;
            s.finished_at = run.finished_at;
            let total = s.verdict.reasons.len();
            if total > REASONS_SHOWN {
                s.verdict.reasons.truncate(REASONS_SHOWN);
                s.verdict
                    .reasons
                    .push(format!("… and {} more", total - REASONS_SHOWN));
            }
            Some(s)
        })
        .collect())
}

#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    #[error(transparent)]
    Card(#[from] CardError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error("{0}")]
    Usage(String),
}

impl crate::fault::Classify for IngestError {
    fn fault(&self) -> crate::fault::Fault {
        match self {
            IngestError::Usage(_) => crate::fault::Fault::Usage,
            _ => crate::fault::Fault::Failed,
        }
    }
}

/// An open destination taking part in the ingest.
struct Writer {
    config: DestinationConfig,
    dest: std::sync::Arc<dyn WriteDestination>,
    /// Its device, for the verdict (a remote store counts as its own).
    device: DeviceId,
    report: Mutex<IngestDestination>,
}

/// What is known of a card file before it is copied.
struct Planned<'a> {
    file: &'a CardFile,
    captured: NaiveDateTime,
    captured_from: CaptureSource,
    tokens: IngestTokens,
    /// The suffix its group takes in the library, when it takes one.
    group: Option<groups::GroupSuffix>,
    /// Its hashes, once a clash or an earlier ingest made them worth a read.
    learned: std::sync::OnceLock<Learned>,
}

impl Planned<'_> {
    /// BLAKE3 and xxh64 of the card file, read once (to tell a card seen before from
    /// a clash).
    fn learn(&self) -> std::io::Result<Learned> {
        if let Some(l) = self.learned.get() {
            return Ok(*l);
        }
        let l = learn(&mut std::fs::File::open(&self.file.path)?)?;
        Ok(*self.learned.get_or_init(|| l))
    }
}

/// Offloads the card at `options.card` (see the module documentation).
pub fn ingest(
    t: &Triplicate,
    options: &IngestOptions,
    progress: &dyn Progress,
) -> Result<IngestReport, IngestError> {
    let started = Instant::now();
    let settings = &t.config.ingest;
    let library = pick_library(t, options)?;
    let layout = match options.template.as_deref() {
        Some(template) => Layout::parse(template).map_err(|e| IngestError::Usage(e.to_string()))?,
        None => settings.template.value().clone(),
    };
    let card = card::read_card(&options.card)?;
    let label = options.label.clone().unwrap_or_else(|| {
        card.root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "card".into())
    });
    if std::fs::metadata(&library.path).is_ok_and(|m| m.dev() == card.device)
        && card.root.starts_with(&library.path)
    {
        return Err(IngestError::Usage(format!(
            "the card {} is inside library '{}': ingest copies a card into a library",
            card.root.display(),
            library.name
        )));
    }
    let run = run::new_id();
    run::begin(&t.catalog, &run, RunKind::Ingest)?;
    let mut problems = Problems::new(progress);

    // The library is written like a destination: atomic, never replacing, read back.
    std::fs::create_dir_all(&library.path)
        .map_err(|e| IngestError::Usage(format!("library {}: {e}", library.path.display())))?;
    let library_dest = LocalDestination::plain_folder(&library.name, &library.path)
        .map_err(|e| IngestError::Usage(e.to_string()))?;
    // The devices as the coverage rule sees them, the card's included.
    let devices = crate::policy::Devices::locate(&t.catalog, &t.config)?;
    let library_device = devices
        .libraries
        .get(&library.name)
        .map(|d| d.id.clone())
        .unwrap_or_else(|| DeviceId(format!("lib:{}", library.name)));
    let card_device = crate::device::of_path(&card.root)
        .map(|d| d.id)
        .unwrap_or_else(|_| DeviceId(format!("card:{}", card.device)));
    let writers = open_writers(t, options, &devices, &mut problems)?;
    let mut plans = plan(
        &card,
        &label,
        options.job.as_deref().unwrap_or(""),
        &t.config.scan.zone(),
    );
    let files = card.files.len() as u64;
    let bytes = card.files.iter().map(|f| f.size).sum();
    progress.event(&Event::WorkPlanned {
        dest: &library.name,
        files,
        bytes,
    });
    for w in &writers {
        progress.event(&Event::WorkPlanned {
            dest: &w.config.name,
            files,
            bytes,
        });
    }

    // Copy, several files at once.
    let ctx = Context {
        t,
        run: &run,
        library: &library,
        library_dest: &library_dest,
        layout: &layout,
        writers: &writers,
        progress,
        card_id: &card_device.0,
        again: options.again,
    };
    let suffixes = groups::name_groups(&ctx, &card, &plans);
    for (p, suffix) in plans.iter_mut().zip(suffixes) {
        p.group = suffix;
    }
    let outcomes: Mutex<Vec<Option<Outcome>>> = Mutex::new(vec![None; plans.len()]);
    let found: Mutex<Vec<Problem>> = Mutex::new(Vec::new());
    let catalog_error: Mutex<Option<CatalogError>> = Mutex::new(None);
    let jobs = options.jobs.unwrap_or(t.config.backup.jobs);
    crate::parallel::for_each(jobs, plans.iter().enumerate(), |(i, planned)| {
        match ctx.ingest_file(planned, &found) {
            Ok(outcome) => {
                outcomes.lock().unwrap()[i] = Some(outcome);
                ControlFlow::Continue(())
            }
            Err(e) => {
                catalog_error.lock().unwrap().get_or_insert(e);
                ControlFlow::Break(())
            }
        }
    });
    if let Some(e) = catalog_error.into_inner().unwrap() {
        return Err(e.into());
    }
    for p in found.into_inner().unwrap() {
        problems.report(p);
    }

    // The verdict, from what was proven.
    let outcomes: Vec<Outcome> = outcomes
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|o| o.unwrap_or_default())
        .collect();
    let mut file_copies = Vec::new();
    let mut failing: Vec<(String, String)> = Vec::new();
    let needed = settings.safe_copies.max(settings.safe_devices);
    let media = t
        .config
        .library(&library.name)
        .map_or(MediaKind::Ssd, |l| l.media);
    // Holders are named as `status` names them, so that both give a reason in the same
    // words; the report lists them by their plain names.
    let library_holder = format!("library '{}'", library.name);
    let dest_names: Vec<String> = writers
        .iter()
        .map(|w| format!("'{}'", w.config.name))
        .collect();
    for (planned, outcome) in plans.iter().zip(&outcomes) {
        // The one coverage rule: one copy per device, none on the card's.
        let mut holders: Vec<(Holder<'_>, &str)> = Vec::new();
        if outcome.library_path.is_some() {
            let library = Holder {
                name: &library_holder,
                device: &library_device,
                media,
                offsite: false,
            };
            holders.push((library, "library"));
        }
        for (w, name) in writers
            .iter()
            .zip(&dest_names)
            .filter(|(w, _)| outcome.verified_at.contains(&w.config.name))
        {
            let copy = Holder {
                name,
                device: &w.device,
                media: w.config.media,
                offsite: w.config.is_offsite(),
            };
            holders.push((copy, &w.config.name));
        }
        let shown: Vec<Holder<'_>> = holders.iter().map(|(h, _)| *h).collect();
        let counted = crate::policy::count(&shown, &[(&card_device, "the card")]);
        let devices = counted.coverage.copies;
        let copies: Vec<String> = holders
            .iter()
            .filter(|(h, _)| counted.counted.iter().any(|c| c == h.name))
            .map(|(_, plain)| plain.to_string())
            .collect();
        if let Some(error) = &outcome.card_error {
            failing.push((planned.file.rel.to_string(), error.clone()));
        } else if devices < needed {
            failing.push((
                planned.file.rel.to_string(),
                format!(
                    "{} verified {} on {} {}{}{}",
                    devices,
                    if devices == 1 { "copy" } else { "copies" },
                    devices,
                    if devices == 1 { "device" } else { "devices" },
                    if counted.counted.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", counted.counted.join(", "))
                    },
                    counted
                        .not_counted
                        .iter()
                        .map(|n| format!("; the copy at {} is {}", n.name, n.reason))
                        .collect::<String>()
                ),
            ));
        }
        file_copies.push(IngestedFile {
            card_path: planned.file.rel.clone(),
            library_path: outcome.library_path.clone(),
            size: planned.file.size,
            blake3: outcome.learned.map(|l| l.blake3.to_hex()),
            xxh64: outcome.learned.map(|l| format!("{:016x}", l.xxh64)),
            copies,
            devices,
        });
    }
    // What could not even be listed is never safe.
    for (path, reason) in &card.unreadable {
        failing.push((path.to_string(), reason.clone()));
    }
    let mut groups: Vec<ReasonGroup> = Vec::new();
    for (path, reason) in &failing {
        match groups.iter_mut().find(|g| &g.reason == reason) {
            Some(g) => g.files.push(path.clone()),
            None => groups.push(ReasonGroup {
                reason: reason.clone(),
                files: vec![path.clone()],
            }),
        }
    }
    let reasons: Vec<String> = failing
        .iter()
        .map(|(path, reason)| format!("{path}: {reason}"))
        .collect();
    let manifests = write_manifests(
        &library,
        &library_dest,
        &writers,
        &plans,
        &outcomes,
        &mut problems,
    );
    let verdict = Verdict {
        safe: reasons.is_empty(),
        rule: format!(
            "every file on the card (but the litter cameras recreate) has at least {needed} verified copies, each on a different device, none of them the card's"
        ),
        reasons,
        groups,
    };
    let report = IngestReport {
        run: run.clone(),
        card: card.root.display().to_string(),
        label,
        layouts: card.layouts.clone(),
        library: library.name.clone(),
        files,
        bytes,
        copied: outcomes.iter().filter(|o| o.copied).count() as u64,
        already: outcomes.iter().filter(|o| o.already).count() as u64,
        culled: outcomes.iter().filter(|o| o.culled).count() as u64,
        destinations: writers
            .iter()
            .map(|w| w.report.lock().unwrap().clone())
            .chain(destinations_not_open(t, options, &writers))
            .collect(),
        file_copies,
        verdict,
        manifests,
        problems: problems.into_vec(),
        seconds: started.elapsed().as_secs_f64(),
    };
    run::finish(&t.catalog, &run, report.verdict.safe, &report)?;
    Ok(report)
}

/// Adds a generation to the ASC MHL history of the library and of each destination
/// that took part, listing the files of this card placed there. An encrypted
/// destination gets none: its files are not the card's bytes (its own manifests,
/// checked by `verify`, cover them). A history that cannot be written is a problem
/// reported, not a copy lost: the verdict stands on the copies.
fn write_manifests(
    library: &LibraryConfig,
    library_dest: &LocalDestination,
    writers: &[Writer],
    plans: &[Planned<'_>],
    outcomes: &[Outcome],
    problems: &mut Problems<'_>,
) -> Vec<IngestManifest> {
    let now = chrono::Utc::now();
    let folder_of = |path: &Path, fallback: &str| {
        path.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| fallback.to_string())
    };
    let mut places: Vec<(Option<usize>, String, &dyn WriteDestination, String)> = vec![(
        None,
        library.name.clone(),
        library_dest,
        folder_of(&library.path, &library.name),
    )];
    for (i, w) in writers.iter().enumerate() {
        let folder = if w.config.is_remote() {
            w.config.name.clone()
        } else {
            folder_of(&w.config.local_root(), &w.config.name)
        };
        places.push((Some(i), w.config.name.clone(), w.dest.as_ref(), folder));
    }
    let mut manifests = Vec::new();
    for (place, name, dest, folder) in places {
        if dest.properties().encrypted {
            manifests.push(IngestManifest {
                place: name,
                generation: None,
                note: Some("encrypted destination: covered by its own manifests".into()),
            });
            continue;
        }
        let mut sealed: Vec<mhl::Sealed> = plans
            .iter()
            .zip(outcomes)
            .filter_map(|(p, o)| {
                let learned = o.learned?;
                let (_, key) = o.placed.iter().find(|(at, _)| *at == place)?;
                Some(mhl::Sealed {
                    path: key.clone(),
                    size: p.file.size,
                    xxh64: learned.xxh64,
                })
            })
            .collect();
        // Damaged copies not written again: their hash differs from the history's,
        // so the generation marks them `failed`.
        for (p, o) in plans.iter().zip(outcomes) {
            for (_, key, found) in o.failed_seals.iter().filter(|(at, ..)| *at == place) {
                sealed.push(mhl::Sealed {
                    path: key.clone(),
                    size: p.file.size,
                    xxh64: *found,
                });
            }
        }
        if sealed.is_empty() {
            manifests.push(IngestManifest {
                place: name,
                generation: None,
                note: Some("no file of this card is there".into()),
            });
            continue;
        }
        match mhl::append_generation(dest, &folder, &sealed, now) {
            Ok(k) => manifests.push(IngestManifest {
                place: name,
                generation: Some(k.to_string()),
                note: None,
            }),
            Err(e) => {
                let class = match &e {
                    mhl::MhlError::Dest(d) => d.class(),
                    _ => crate::destination::ErrorClass::Permanent,
                };
                problems.report(Problem {
                    subject: format!("dest:{name}"),
                    message: format!("the ASC MHL history could not be written: {e}"),
                    class,
                });
                manifests.push(IngestManifest {
                    place: name,
                    generation: None,
                    note: Some(e.to_string()),
                });
            }
        }
    }
    manifests
}

fn pick_library(t: &Triplicate, options: &IngestOptions) -> Result<LibraryConfig, IngestError> {
    let wanted = options
        .library
        .as_deref()
        .or(t.config.ingest.library.as_deref());
    let found = match wanted {
        Some(name) => t.config.library(name),
        None => t.config.libraries.first(),
    };
    found.cloned().ok_or_else(|| {
        IngestError::Usage(match wanted {
            Some(name) => format!("no library named '{name}' (see `triplicate library list`)"),
            None => "no library to ingest into: add one with `triplicate library add DIR`".into(),
        })
    })
}

/// The enabled, automatic destinations and those named with `--also`, opened; those
/// that cannot be opened are reported and take no part.
fn open_writers(
    t: &Triplicate,
    options: &IngestOptions,
    devices: &crate::policy::Devices,
    problems: &mut Problems<'_>,
) -> Result<Vec<Writer>, IngestError> {
    for name in &options.also {
        if t.config.destination(name).is_none() {
            return Err(IngestError::Usage(format!(
                "no destination named '{name}' (see `triplicate dest list`)"
            )));
        }
    }
    let mut writers = Vec::new();
    for d in t
        .config
        .destinations
        .iter()
        .filter(|d| takes_part(d, options))
    {
        match destination::open(d) {
            Ok(dest) => {
                let dest = match &options.wrap {
                    Some(wrap) => (wrap.0)(dest),
                    None => dest,
                };
                let device = devices
                    .destinations
                    .get(&d.id)
                    .map(|dev| dev.id.clone())
                    .unwrap_or_else(|| DeviceId(format!("dest:{}", d.id)));
                writers.push(Writer {
                    config: d.clone(),
                    dest,
                    device,
                    report: Mutex::new(IngestDestination {
                        name: d.name.clone(),
                        state: DestState::Ok,
                        ..Default::default()
                    }),
                });
            }
            Err(e) => {
                t.catalog.raise_destination_warning(&d.name, &e)?;
                problems.report(crate::engine::dest_problem(
                    &d.name,
                    &e.to_string(),
                    e.class(),
                ));
            }
        }
    }
    Ok(writers)
}

fn takes_part(d: &DestinationConfig, options: &IngestOptions) -> bool {
    d.enabled && (d.automatic || options.also.contains(&d.name))
}

/// The destinations that should have taken part but could not be opened.
fn destinations_not_open(
    t: &Triplicate,
    options: &IngestOptions,
    writers: &[Writer],
) -> Vec<IngestDestination> {
    t.config
        .destinations
        .iter()
        .filter(|d| takes_part(d, options) && !writers.iter().any(|w| w.config.name == d.name))
        .map(|d| IngestDestination {
            name: d.name.clone(),
            state: destination::probe(d)
                .err()
                .map(|e| e.state())
                .unwrap_or(DestState::Unavailable),
            ..Default::default()
        })
        .collect()
}

/// Capture time, camera and sequence number of each file; a sidecar takes its photo's.
fn plan<'a>(card: &'a Card, label: &str, job: &str, zone: &crate::zone::Zone) -> Vec<Planned<'a>> {
    let mut seq = 0;
    let mut plans: Vec<Planned<'a>> = card
        .files
        .iter()
        .map(|f| {
            let info = metadata::read(&f.path, zone);
            if f.kind != PhotoKind::Sidecar || f.photo.is_none() {
                seq += 1;
            }
            let (captured, captured_from) = info
                .captured
                .unwrap_or_else(|| (zone.of_mtime(f.mtime_ns), CaptureSource::Mtime));
            Planned {
                file: f,
                captured,
                captured_from,
                tokens: IngestTokens {
                    make: info.make,
                    model: info.model,
                    card: label.to_string(),
                    job: job.to_string(),
                    seq,
                },
                group: None,
                learned: std::sync::OnceLock::new(),
            }
        })
        .collect();
    // A group shares one date folder, the date of its best-dated member: a photo that
    // nothing dates but its modification time takes that of another file of its group
    // the metadata dates (a RAW's JPEG, a Live Photo's clip).
    let paths: Vec<RelPath> = card.files.iter().map(|f| f.rel.clone()).collect();
    let siblings = crate::scan::group::Siblings::index(&paths);
    let index_of: std::collections::HashMap<&RelPath, usize> =
        paths.iter().enumerate().map(|(i, p)| (p, i)).collect();
    for i in 0..plans.len() {
        if plans[i].captured_from != CaptureSource::Mtime
            || plans[i].file.kind == PhotoKind::Sidecar
        {
            continue;
        }
        let better = siblings
            .others(&plans[i].file.rel)
            .filter_map(|o| index_of.get(o).copied())
            .find(|&j| {
                !matches!(
                    plans[j].captured_from,
                    CaptureSource::Mtime | CaptureSource::Sibling
                )
            });
        if let Some(j) = better {
            plans[i].captured = plans[j].captured;
            plans[i].captured_from = CaptureSource::Sibling;
        }
    }
    for i in 0..plans.len() {
        if let Some(p) = plans[i].file.photo {
            plans[i].captured = plans[p].captured;
            plans[i].captured_from = CaptureSource::Sibling;
            plans[i].tokens = plans[p].tokens.clone();
        }
    }
    plans
}

/// How one file ended.
#[derive(Debug, Clone, Default)]
struct Outcome {
    /// Where the library holds it, verified.
    library_path: Option<RelPath>,
    /// The destinations holding a verified copy.
    verified_at: Vec<String>,
    learned: Option<Learned>,
    /// Written into the library by this ingest.
    copied: bool,
    /// Why the file could not be read from the card, if it could not.
    card_error: Option<String>,
    /// Copies found damaged and not written again: the place, the key, and the xxh64
    /// of the damaged bytes (a `failed` entry in the ASC MHL generation).
    failed_seals: Vec<(Option<usize>, RelPath, u64)>,
    /// Its content was in the library already.
    already: bool,
    /// Brought by an earlier ingest, and removed or edited in the library since.
    culled: bool,
    /// Each verified copy: the library (`None`) or a destination, and its key there.
    placed: Vec<(Option<usize>, RelPath)>,
}

/// Everything a worker needs.
struct Context<'a> {
    t: &'a Triplicate,
    run: &'a str,
    library: &'a LibraryConfig,
    library_dest: &'a LocalDestination,
    layout: &'a Layout,
    writers: &'a [Writer],
    progress: &'a dyn Progress,
    /// The card, as earlier ingests of it were remembered: its device.
    card_id: &'a str,
    /// Bring culled files back into the library.
    again: bool,
}

/// One place a file is to be written: the library (`None`) or a destination.
#[derive(Clone)]
struct Slot {
    writer: Option<usize>,
    key: RelPath,
}

impl Context<'_> {
    /// Where the library holds the card file: its layout name, with its group's
    /// suffix when the group takes one.
    fn library_key(&self, p: &Planned<'_>) -> RelPath {
        let key = self.layout_key(p);
        match &p.group {
            Some(suffix) => suffix.apply(key),
            None => key,
        }
    }

    fn layout_key(&self, p: &Planned<'_>) -> RelPath {
        self.layout.render(&LayoutInput {
            captured: p.captured,
            source: &p.file.rel,
            library: &self.library.name,
            node: &self.t.config.node,
            kind: p.file.kind,
            ingest: Some(&p.tokens),
        })
    }

    /// Where a destination puts the library file `library_key`: as a backup would.
    fn dest_key(&self, w: &Writer, p: &Planned<'_>, library_key: &RelPath) -> RelPath {
        w.config.layout.render(&LayoutInput {
            captured: p.captured,
            source: library_key,
            library: &self.library.name,
            node: &self.t.config.node,
            kind: p.file.kind,
            ingest: None,
        })
    }

    fn dest_of(&self, slot: &Slot) -> &dyn WriteDestination {
        match slot.writer {
            Some(i) => self.writers[i].dest.as_ref(),
            None => self.library_dest,
        }
    }

    fn name_of(&self, slot: &Slot) -> &str {
        match slot.writer {
            Some(i) => &self.writers[i].config.name,
            None => &self.library.name,
        }
    }

    fn ingest_file(
        &self,
        p: &Planned<'_>,
        problems: &Mutex<Vec<Problem>>,
    ) -> Result<Outcome, CatalogError> {
        let mut outcome = Outcome::default();
        let problem = |message: String, class| {
            problems.lock().unwrap().push(Problem {
                subject: format!("card:{}", p.file.rel),
                message,
                class,
            })
        };
        let first_library_key = self.library_key(p);
        let (earlier, culled) = self.earlier_ingest(p)?;
        outcome.culled = culled;
        // A file the photographer culled stays out of the library; its backups are
        // still made sure of.
        let mut slots = Vec::new();
        if !culled {
            slots.push(Slot {
                writer: None,
                key: first_library_key.clone(),
            });
        }
        for (i, w) in self.writers.iter().enumerate() {
            slots.push(Slot {
                writer: Some(i),
                key: self.dest_key(w, p, &first_library_key),
            });
        }

        // A name taken already: learn the card file's hashes first, then place by them.
        let mut known: Option<Learned> = earlier;
        let mut taken = culled;
        for slot in &slots {
            match self.dest_of(slot).stat(&slot.key) {
                Ok(None) => {}
                Ok(Some(_)) | Err(_) => taken = true,
            }
        }
        let mut placed: Vec<(Slot, Option<Stored>)> = Vec::new();
        // Copies found damaged, to be written again.
        let mut redone: Vec<(usize, Redo)> = Vec::new();
        if taken {
            match known.map_or_else(|| p.learn(), Ok) {
                Ok(l) => known = Some(l),
                Err(e) => {
                    problem(
                        format!("{} could not be read from the card: {e}", p.file.rel),
                        crate::destination::ErrorClass::Transient,
                    );
                    outcome.card_error = Some(format!(
                        "cannot read from the card: {}",
                        crate::fsutil::read_error_reason(&e)
                    ));
                    return Ok(outcome);
                }
            }
            let hash = known.expect("just learned").blake3;
            let library_key = if culled {
                first_library_key
            } else {
                match choose_key(self.library_dest, first_library_key, &hash, p.file.size) {
                    Ok(Placement::Write(k)) => {
                        placed.push((
                            Slot {
                                writer: None,
                                key: k.clone(),
                            },
                            None,
                        ));
                        k
                    }
                    Ok(Placement::AlreadyThere(k, _)) => {
                        outcome.already = true;
                        outcome.library_path = Some(k.clone());
                        k
                    }
                    Err(e) => {
                        problem(e.to_string(), e.class());
                        return Ok(outcome);
                    }
                }
            };
            let photo_id = self.t.catalog.photo_id_of(&hash)?;
            for (i, w) in self.writers.iter().enumerate() {
                // A copy the catalog knows counts only once read back now; a damaged
                // one is moved aside and written again from the card.
                let held = match photo_id {
                    Some(id) => self.t.catalog.copy_of(id, &w.config.id)?,
                    None => None,
                };
                if let Some(row) = held.filter(|r| r.state == CopyState::Verified) {
                    match self.prove_held_copy(w, &row, p, &problem)? {
                        Some(redo) => {
                            placed.push((
                                Slot {
                                    writer: Some(i),
                                    key: redo.key.clone(),
                                },
                                None,
                            ));
                            redone.push((i, redo));
                        }
                        None => {
                            outcome.placed.push((Some(i), row.key.clone()));
                            outcome.verified_at.push(w.config.name.clone());
                            w.report.lock().unwrap().already += 1;
                        }
                    }
                    continue;
                }
                let first = self.dest_key(w, p, &library_key);
                match choose_key(w.dest.as_ref(), first, &hash, p.file.size) {
                    Ok(Placement::Write(k)) => placed.push((
                        Slot {
                            writer: Some(i),
                            key: k,
                        },
                        None,
                    )),
                    Ok(Placement::AlreadyThere(k, stored)) => placed.push((
                        Slot {
                            writer: Some(i),
                            key: k,
                        },
                        Some(stored),
                    )),
                    Err(e) => {
                        w.report.lock().unwrap().failed += 1;
                        problem(e.to_string(), e.class());
                    }
                }
            }
        } else {
            placed = slots.into_iter().map(|s| (s, None)).collect();
        }

        // Copies already in place count as they are; the rest are written from one read.
        let (mut pending, mut there): (Vec<Slot>, Vec<(Slot, Stored)>) = {
            let mut pending = Vec::new();
            let mut there = Vec::new();
            for (slot, stored) in placed {
                match stored {
                    Some(stored) => there.push((slot, stored)),
                    None => pending.push(slot),
                }
            }
            (pending, there)
        };
        let mut written: Vec<(Slot, Stored)> = Vec::new();
        let mut last_errors: Vec<(Slot, String, crate::destination::ErrorClass)> = Vec::new();
        let mut placement_errors = Vec::new();
        for attempt in 0..RETRY.attempts {
            // Every copy written (or failed for good): no retry, and no wait for one.
            if pending.is_empty() {
                break;
            }
            if attempt > 0
                && let Some(l) = known
            {
                std::thread::sleep(RETRY.wait(attempt, p.file.rel.as_bytes()));
                // A copy that read back wrong is still there: place again, by content.
                let mut again = Vec::new();
                for slot in pending {
                    let dest = self.dest_of(&slot);
                    match choose_key(dest, slot.key.clone(), &l.blake3, p.file.size) {
                        Ok(Placement::Write(key)) => again.push(Slot { key, ..slot }),
                        Ok(Placement::AlreadyThere(key, stored)) => {
                            there.push((Slot { key, ..slot }, stored))
                        }
                        Err(e) => placement_errors.push((slot, e.to_string(), e.class())),
                    }
                }
                pending = again;
            }
            if pending.is_empty() {
                break;
            }
            let targets: Vec<Target<'_>> = pending
                .iter()
                .map(|s| Target {
                    dest: self.dest_of(s),
                    key: s.key.clone(),
                })
                .collect();
            let names: Vec<String> = pending
                .iter()
                .map(|s| self.name_of(s).to_string())
                .collect();
            let on_bytes = |i: usize, n: u64| {
                self.progress.event(&Event::WorkBytes {
                    dest: &names[i],
                    bytes: n,
                })
            };
            let result = match known {
                Some(l) => fan_out(&p.file.path, p.file.size, &l.blake3, &targets, &on_bytes)
                    .map(|r| (Some(l), r)),
                None => fan_out_learning(&p.file.path, p.file.size, &targets, &on_bytes),
            };
            let (learned, results) = match result {
                Ok(r) => r,
                Err(e) => {
                    // The card, not a destination: pulled out, or a bad sector.
                    problem(
                        format!("{e} (is the card still in? run ingest again to resume)"),
                        crate::destination::ErrorClass::Transient,
                    );
                    outcome.card_error = Some(format!("cannot read from the card: {}", e.reason()));
                    return Ok(outcome);
                }
            };
            if known.is_none() {
                known = learned;
            }
            last_errors.clear();
            let mut retry = Vec::new();
            for (slot, result) in pending.into_iter().zip(results) {
                match result {
                    Ok(stored) => written.push((slot, stored)),
                    Err(e) if RETRY.again(attempt, &e) => {
                        tracing::info!("retrying {} to {}: {e}", p.file.rel, self.name_of(&slot));
                        retry.push(slot);
                    }
                    Err(e) => last_errors.push((slot, e.to_string(), e.class())),
                }
            }
            pending = retry;
        }
        last_errors.extend(placement_errors);
        let Some(learned) = known else {
            for (slot, message, class) in last_errors {
                self.fail(&slot, &message, class, p, &problem);
            }
            return Ok(outcome);
        };
        outcome.learned = Some(learned);

        // Record: the library file as a scan would, then each verified copy.
        if let Some((slot, _)) = written.iter().find(|(s, _)| s.writer.is_none()) {
            outcome.library_path = Some(slot.key.clone());
            outcome.copied = true;
        } else if let Some((slot, _)) = there.iter().find(|(s, _)| s.writer.is_none()) {
            outcome.library_path = Some(slot.key.clone());
            outcome.already = true;
        }
        if let Some(k) = &outcome.library_path {
            outcome.placed.push((None, k.clone()));
        }
        let photo_id = match &outcome.library_path {
            Some(path) => {
                let meta = std::fs::metadata(path.to_path(&self.library.path)).ok();
                let ids = self.t.catalog.record_files(
                    &self.library.name,
                    &[ScannedFile {
                        path: path.clone(),
                        hash: learned.blake3,
                        size: p.file.size,
                        mtime_ns: meta
                            .as_ref()
                            .map(|m| m.mtime() * 1_000_000_000 + m.mtime_nsec())
                            .unwrap_or(-1),
                        inode: meta.as_ref().map(|m| m.ino()).unwrap_or(0),
                        captured: p.captured.format(CAPTURE_FORMAT).to_string(),
                        captured_from: p.captured_from.as_str(),
                        kind: p.file.kind,
                    }],
                )?;
                self.t.catalog.record_ingested(
                    self.card_id,
                    &p.file.rel,
                    &learned.blake3,
                    &self.library.name,
                    path,
                )?;
                ids.first().copied()
            }
            // Culled from the library: the photo is still known by its content.
            None if culled => self.t.catalog.photo_id_of(&learned.blake3)?,
            None => None,
        };
        self.progress.event(&Event::WorkDone {
            dest: &self.library.name,
            ok: outcome.library_path.is_some() || culled,
        });
        let copies = written
            .iter()
            .map(|c| (c, true))
            .chain(there.iter().map(|c| (c, false)));
        for ((slot, stored), fresh) in copies {
            let (Some(i), Some(photo_id)) = (slot.writer, photo_id) else {
                // The library itself, or no library copy to name the photo by.
                continue;
            };
            let w = &self.writers[i];
            self.t.catalog.record_copy_verified(
                photo_id,
                &w.config.id,
                &slot.key,
                *stored,
                w.dest.properties().verified_by,
                &Operation {
                    run: self.run,
                    kind: if fresh { "ingest" } else { "adopt" },
                    dest: Some(&w.config.name),
                    photo_id: Some(photo_id),
                    path: Some(&slot.key),
                    bytes: Some(if fresh { p.file.size } else { 0 }),
                    duration_ms: None,
                    outcome: "verified",
                    message: None,
                },
            )?;
            let mut r = w.report.lock().unwrap();
            if fresh {
                r.written += 1;
            } else {
                r.already += 1;
            }
            outcome.verified_at.push(w.config.name.clone());
            outcome.placed.push((Some(i), slot.key.clone()));
            self.progress.event(&Event::WorkDone {
                dest: &w.config.name,
                ok: true,
            });
        }
        // A damaged copy that could not be written again is a mismatch in the ASC MHL
        // history: its generation says `failed`, with the hash of what was found.
        for (i, redo) in redone {
            let rewritten = outcome
                .placed
                .iter()
                .any(|(at, k)| *at == Some(i) && *k == redo.key);
            if let (false, Some(found)) = (rewritten, redo.damaged_xxh64) {
                outcome.failed_seals.push((Some(i), redo.key, found));
            }
        }
        for (slot, message, class) in last_errors {
            self.fail(&slot, &message, class, p, &problem);
            if let (Some(i), Some(photo_id)) = (slot.writer, photo_id) {
                let w = &self.writers[i];
                self.t.catalog.record_copy_failed(
                    photo_id,
                    &w.config.id,
                    Some(&slot.key),
                    &message,
                    class.as_str(),
                    &Operation {
                        run: self.run,
                        kind: "ingest",
                        dest: Some(&w.config.name),
                        photo_id: Some(photo_id),
                        path: Some(&slot.key),
                        bytes: None,
                        duration_ms: None,
                        outcome: "failed",
                        message: Some(&message),
                    },
                )?;
            }
        }
        Ok(outcome)
    }

    /// What an earlier ingest of this card did with this file: its hashes, when the
    /// card file had to be read to tell, and whether the photographer culled it since
    /// (the library file it became is gone, or no longer as it was).
    fn earlier_ingest(&self, p: &Planned<'_>) -> Result<(Option<Learned>, bool), CatalogError> {
        if self.again || !self.t.catalog.was_ingested(self.card_id, &p.file.rel)? {
            return Ok((None, false));
        }
        // Unreadable here: the copy below says so.
        let Ok(learned) = p.learn() else {
            return Ok((None, false));
        };
        let Some((library, path)) =
            self.t
                .catalog
                .ingested_as(self.card_id, &p.file.rel, &learned.blake3)?
        else {
            return Ok((Some(learned), false));
        };
        let Some(lib) = self.t.config.library(&library) else {
            return Ok((Some(learned), false));
        };
        // As the catalog last saw it, holding this content.
        let on_disk = std::fs::symlink_metadata(path.to_path(&lib.path)).ok();
        let known = self.t.catalog.known_file(&lib.name, &path)?;
        let holds = match (on_disk, known) {
            (Some(meta), Some((k, hash))) => {
                hash == learned.blake3
                    && k.size == meta.len()
                    && k.mtime_ns == meta.mtime() * 1_000_000_000 + meta.mtime_nsec()
                    && k.inode == meta.ino()
            }
            _ => false,
        };
        Ok((Some(learned), !holds))
    }

    /// Reads back a copy the catalog holds as verified. `None` when it is good (it is
    /// recorded as proven now); else where to write it again, after the damaged copy
    /// was moved aside into `.triplicate/quarantine/` and reported.
    fn prove_held_copy(
        &self,
        w: &Writer,
        row: &crate::catalog::CopyRow,
        p: &Planned<'_>,
        problem: &dyn Fn(String, crate::destination::ErrorClass),
    ) -> Result<Option<Redo>, CatalogError> {
        let stored = match row.stored_hash {
            Some(hash) => Stored::Transformed {
                hash,
                size: row.size,
            },
            None => Stored::AsGiven,
        };
        let base = Operation {
            run: self.run,
            kind: "reingest check",
            dest: Some(&w.config.name),
            photo_id: Some(row.photo_id),
            path: Some(&row.key),
            bytes: Some(row.size),
            duration_ms: None,
            outcome: "verified",
            message: None,
        };
        let why = match crate::engine::fanout::verify_copy(
            w.dest.as_ref(),
            &row.key,
            &row.hash,
            stored,
        ) {
            Ok(()) => {
                self.t.catalog.record_copy_checked(
                    row.photo_id,
                    &w.config.id,
                    CopyState::Verified,
                    None,
                    &base,
                )?;
                return Ok(None);
            }
            Err(e) => e.to_string(),
        };
        let missing = matches!(w.dest.stat(&row.key), Ok(None));
        let state = if missing {
            CopyState::Missing
        } else {
            CopyState::Corrupt
        };
        let damaged_xxh64 = if missing {
            None
        } else {
            w.dest
                .read(&row.key)
                .ok()
                .and_then(|mut r| learn(&mut r).ok())
                .map(|l| l.xxh64)
        };
        let redo = Redo {
            key: row.key.clone(),
            damaged_xxh64,
        };
        self.t.catalog.record_copy_checked(
            row.photo_id,
            &w.config.id,
            state,
            Some(&why),
            &Operation {
                outcome: state.as_str(),
                message: Some(&why),
                ..base
            },
        )?;
        let aside = if missing {
            String::new()
        } else {
            let aside = destination::layout::quarantine_key(self.run, &row.key);
            if let Err(e) = w.dest.rename(&row.key, &aside) {
                problem(
                    format!(
                        "{} → {}: the copy there is damaged ({why}) and could not be moved aside: {e}",
                        p.file.rel, w.config.name
                    ),
                    e.class(),
                );
                return Ok(Some(redo));
            }
            format!("; moved aside to {aside}")
        };
        problem(
            format!(
                "{} → {}: the copy at {} was {state} ({why}){aside}; written again from the card",
                p.file.rel, w.config.name, row.key
            ),
            crate::destination::ErrorClass::Transient,
        );
        Ok(Some(redo))
    }

    fn fail(
        &self,
        slot: &Slot,
        message: &str,
        class: crate::destination::ErrorClass,
        p: &Planned<'_>,
        problem: &dyn Fn(String, crate::destination::ErrorClass),
    ) {
        if let Some(i) = slot.writer {
            self.writers[i].report.lock().unwrap().failed += 1;
        }
        self.progress.event(&Event::WorkDone {
            dest: self.name_of(slot),
            ok: false,
        });
        problem(
            format!("{} → {}: {message}", p.file.rel, self.name_of(slot)),
            class,
        );
    }
}

/// A copy found damaged, to be written again at `key`.
struct Redo {
    key: RelPath,
    /// The xxh64 of the damaged bytes, when they could be read.
    damaged_xxh64: Option<u64>,
}

/// BLAKE3 and xxh64 of everything `reader` gives.
fn learn(reader: &mut dyn std::io::Read) -> std::io::Result<Learned> {
    let mut blake3 = blake3::Hasher::new();
    let mut xxh64 = xxhash_rust::xxh64::Xxh64::new(0);
    let mut buf = vec![0u8; crate::photo::HASH_BUFFER];
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        blake3.update(&buf[..n]);
        xxh64.update(&buf[..n]);
    }
    Ok(Learned {
        blake3: ContentHash(*blake3.finalize().as_bytes()),
        xxh64: xxh64.digest(),
    })
}
