//! The destinations an ingest writes to (and the library, written like one): which
//! take part, opening them, and their ASC MHL generations and manifests at the end.

use super::*;

/// An open destination taking part in the ingest.
pub(super) struct Writer {
    pub(super) config: DestinationConfig,
    pub(super) dest: std::sync::Arc<dyn WriteDestination>,
    /// Its device, for the verdict (a remote store counts as its own).
    pub(super) device: DeviceId,
    pub(super) report: Mutex<IngestDestination>,
}

/// Adds a generation to the ASC MHL history of the library and of each destination
/// that took part, listing the files of this card placed there. An encrypted
/// destination gets none: its files are not the card's bytes (its own manifests,
/// checked by `verify`, cover them). A history that cannot be written is a problem
/// reported, not a copy lost: the verdict stands on the copies.
pub(super) fn write_manifests(
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
        let sealed = sealed_at(place, plans, outcomes);
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

/// What a generation of the history at `place` (the library, or a writer's index)
/// lists: each file this ingest placed there, with the card's xxh64; and damaged copies
/// not written again, whose hash differs from the history's, so that the generation
/// marks them `failed`.
fn sealed_at(
    place: Option<usize>,
    plans: &[Planned<'_>],
    outcomes: &[Outcome],
) -> Vec<mhl::Sealed> {
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
    for (p, o) in plans.iter().zip(outcomes) {
        for (_, key, found) in o.failed_seals.iter().filter(|(at, ..)| *at == place) {
            sealed.push(mhl::Sealed {
                path: key.clone(),
                size: p.file.size,
                xxh64: *found,
            });
        }
    }
    sealed
}

pub(super) fn pick_library(
    t: &Triplicate,
    options: &IngestOptions,
) -> Result<LibraryConfig, IngestError> {
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
pub(super) fn open_writers(
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

pub(super) fn takes_part(d: &DestinationConfig, options: &IngestOptions) -> bool {
    d.enabled && (d.automatic || options.also.contains(&d.name))
}

/// The destinations that should have taken part but could not be opened.
pub(super) fn destinations_not_open(
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
