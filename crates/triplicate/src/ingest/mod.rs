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
mod file;
mod groups;
mod held;
pub mod mhl;
mod plan;
mod report;
mod verdict;
mod writers;

use file::*;
use held::*;
use plan::*;
pub use report::*;
use verdict::Judged;
use writers::*;

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

/// Reasons a summary keeps; the count of the rest is given.
const REASONS_SHOWN: usize = 20;

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

/// Offloads the card at `options.card` (see the module documentation).
pub fn ingest(
    t: &Triplicate,
    options: &IngestOptions,
    progress: &dyn Progress,
) -> Result<IngestReport, IngestError> {
    let started = Instant::now();
    let library = pick_library(t, options)?;
    let layout = template(t, options)?;
    let card = card::read_card(&options.card)?;
    let label = options.label.clone().unwrap_or_else(|| card.label());
    refuse_card_inside_library(&card, &library)?;
    let run = run::new_id();
    run::begin(&t.catalog, &run, RunKind::Ingest)?;
    let mut problems = Problems::new(progress);

    let library_dest = open_library(&library)?;
    // The devices as the coverage rule sees them, the card's included.
    let devices = crate::policy::Devices::locate(&t.catalog, &t.config)?;
    let writers = open_writers(t, options, &devices, &mut problems)?;
    let mut plans = plan(
        &card,
        &label,
        options.job.as_deref().unwrap_or(""),
        &t.config.scan.zone(),
    );
    announce(progress, &library, &writers, &card);

    let card_device = card.device_id();
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
    groups::give_suffixes(&ctx, &card, &mut plans);
    let jobs = options.jobs.unwrap_or(t.config.backup.jobs);
    let outcomes = copy_all(&ctx, &plans, jobs, &mut problems)?;

    // The verdict, from what was proven.
    let manifests = write_manifests(
        &library,
        &library_dest,
        &writers,
        &plans,
        &outcomes,
        &mut problems,
    );
    let (file_copies, verdict) = judge(&ctx, &devices, &card_device, &plans, &outcomes, &card);
    let report = IngestReport {
        run: run.clone(),
        card: card.root.display().to_string(),
        label,
        layouts: card.layouts.clone(),
        library: library.name.clone(),
        files: card.files.len() as u64,
        bytes: card.files.iter().map(|f| f.size).sum(),
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

/// Opens the library to be written like a destination: atomic, never replacing, read
/// back.
fn open_library(library: &LibraryConfig) -> Result<LocalDestination, IngestError> {
    std::fs::create_dir_all(&library.path)
        .map_err(|e| IngestError::Usage(format!("library {}: {e}", library.path.display())))?;
    LocalDestination::plain_folder(&library.name, &library.path)
        .map_err(|e| IngestError::Usage(e.to_string()))
}

/// The verdict, from what was proven: each file's copies and whether the card may be
/// formatted.
fn judge(
    ctx: &Context,
    devices: &crate::policy::Devices,
    card_device: &DeviceId,
    plans: &[Planned],
    outcomes: &[Outcome],
    card: &Card,
) -> (Vec<IngestedFile>, Verdict) {
    let library = ctx.library;
    let library_device = devices
        .libraries
        .get(&library.name)
        .map(|d| d.id.clone())
        .unwrap_or_else(|| DeviceId(format!("lib:{}", library.name)));
    let settings = &ctx.t.config.ingest;
    let judged = Judged {
        library,
        media: ctx
            .t
            .config
            .library(&library.name)
            .map_or(MediaKind::Ssd, |l| l.media),
        library_device: &library_device,
        card_device,
        writers: ctx.writers,
        needed: settings.safe_copies.max(settings.safe_devices),
    };
    verdict::judge(&judged, plans, outcomes, &card.unreadable)
}

/// The library's layout for this card: `--template`, else `ingest.template`.
fn template(t: &Triplicate, options: &IngestOptions) -> Result<Layout, IngestError> {
    match options.template.as_deref() {
        Some(template) => Layout::parse(template).map_err(|e| IngestError::Usage(e.to_string())),
        None => Ok(t.config.ingest.template.value().clone()),
    }
}

/// Refuses a card that is a folder inside the library it would be copied into.
fn refuse_card_inside_library(card: &Card, library: &LibraryConfig) -> Result<(), IngestError> {
    if std::fs::metadata(&library.path).is_ok_and(|m| m.dev() == card.device)
        && card.root.starts_with(&library.path)
    {
        return Err(IngestError::Usage(format!(
            "the card {} is inside library '{}': ingest copies a card into a library",
            card.root.display(),
            library.name
        )));
    }
    Ok(())
}

/// Tells the progress display how much each place (the library, every destination) is
/// to receive.
fn announce(progress: &dyn Progress, library: &LibraryConfig, writers: &[Writer], card: &Card) {
    let files = card.files.len() as u64;
    let bytes = card.files.iter().map(|f| f.size).sum();
    let places = std::iter::once(library.name.as_str())
        .chain(writers.iter().map(|w| w.config.name.as_str()));
    for dest in places {
        progress.event(&Event::WorkPlanned { dest, files, bytes });
    }
}

/// Copies every planned file, several at once; a file's own failures become problems,
/// a catalog failure stops the work.
fn copy_all(
    ctx: &Context,
    plans: &[Planned],
    jobs: usize,
    problems: &mut Problems,
) -> Result<Vec<Outcome>, IngestError> {
    let outcomes: Mutex<Vec<Option<Outcome>>> = Mutex::new(vec![None; plans.len()]);
    let found: Mutex<Vec<Problem>> = Mutex::new(Vec::new());
    let catalog_error: Mutex<Option<CatalogError>> = Mutex::new(None);
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
    Ok(outcomes
        .into_inner()
        .unwrap()
        .into_iter()
        .map(|o| o.unwrap_or_default())
        .collect())
}
