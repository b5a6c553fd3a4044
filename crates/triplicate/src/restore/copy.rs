//! Bringing one photo back: from the first reachable source that holds a verified copy,
//! under a name that is free (or holds the same bytes already), read back after it is
//! written. A source found out of action is not tried again in the same restore.

use std::collections::HashMap;
use std::sync::Arc;

use crate::catalog::NamedPhoto;
use crate::destination::layout::candidate_keys;
use crate::destination::{Likeness, LocalDestination, ReadDestination, Stored, WriteDestination};
use crate::engine::fanout::{TargetError, VerifyingReader, verify_copy};
use crate::home::Triplicate;
use crate::relpath::RelPath;

use super::RestoreError;
use crate::destination;
use crate::engine::EngineError;

/// The destinations a restore reads from: those that could be opened, by id, in the
/// order they are tried, and those put out of action since.
#[derive(Default)]
pub(super) struct Sources {
    pub(super) readable: HashMap<String, Arc<dyn ReadDestination>>,
    pub(super) order: Vec<String>,
    pub(super) stopped: Stopped,
}

impl Sources {
    /// Opens the destination named (or every one) for reading; one that cannot be read
    /// is left out, and the log says why.
    pub(super) fn open(t: &Triplicate, only: Option<&str>) -> Result<Sources, RestoreError> {
        let configured: Vec<_> = match only {
            Some(name) => vec![
                t.config
                    .destination(name)
                    .ok_or_else(|| EngineError::UnknownDestination(name.to_string()))?,
            ],
            None => t.config.destinations.iter().collect(),
        };
        let mut sources = Sources::default();
        for d in configured {
            match destination::open_read(d) {
                Ok(r) => {
                    sources.readable.insert(d.id.clone(), r);
                    sources.order.push(d.id.clone());
                }
                Err(e) => tracing::info!(destination = %d.name, "not used for restore: {e}"),
            }
        }
        Ok(sources)
    }
}

/// Destinations put out of action during a restore (no key, unplugged): by name, why,
/// and how many photos could not be restored because only they held them. Such a
/// destination is not tried again, and is reported once.
#[derive(Default)]
pub(super) struct Stopped(std::sync::Mutex<std::collections::BTreeMap<String, (String, u64)>>);

impl Stopped {
    pub(super) fn has(&self, name: &str) -> bool {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains_key(name)
    }

    pub(super) fn stop(&self, name: &str, why: String) {
        self.0
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .entry(name.to_string())
            .or_insert((why, 0));
    }

    pub(super) fn count_photo(&self, names: &[&str]) {
        let mut map = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for name in names {
            if let Some((_, photos)) = map.get_mut(*name) {
                *photos += 1;
            }
        }
    }

    pub(super) fn into_inner(self) -> std::collections::BTreeMap<String, (String, u64)> {
        self.0.into_inner().unwrap_or_else(|p| p.into_inner())
    }
}

/// Why a photo was not restored.
pub(super) enum Failure {
    /// Its only copies are on destinations out of action, which are reported once.
    OnlyOnStopped,
    Other(String),
}

pub(super) enum Outcome {
    Restored { renamed: bool },
    AlreadyThere,
    Skipped,
}

/// Restores one name: chooses where in the target folder, then copies from the first
/// verified copy that reads back right.
pub(super) fn restore_one(
    t: &Triplicate,
    target: &LocalDestination,
    sources: &Sources,
    photo: &NamedPhoto,
    key: &RelPath,
    skip_existing: bool,
) -> Result<Outcome, Failure> {
    let stopped = &sources.stopped;
    let copies = t
        .catalog
        .sources_of(photo.photo_id)
        .map_err(|e| Failure::Other(e.to_string()))?
        .copies;
    let mut tried = Vec::new();
    let mut out_of_action: Vec<&str> = Vec::new();
    for id in &sources.order {
        let Some((_, source_key)) = copies.iter().find(|(d, _)| d == id) else {
            continue;
        };
        let source = &sources.readable[id];
        if stopped.has(source.name()) {
            out_of_action.push(source.name());
            continue;
        }
        let (place, renamed) = match choose_place(target, photo, key, skip_existing)? {
            Place::Free { key, renamed } => (key, renamed),
            Place::Done(outcome) => return Ok(outcome),
        };
        let reader = match source.read(source_key) {
            Err(e) if e.stops_destination() => {
                stopped.stop(source.name(), e.to_string());
                out_of_action.push(source.name());
                continue;
            }
            other => other,
        };
        let copied = reader
            .map_err(TargetError::from)
            .and_then(|reader| {
                let mut checked = VerifyingReader::new(reader, photo.hash, photo.size);
                // The copy's permission bits where its store keeps them; else the
                // owner's alone: a restored photo is never more readable than its copy.
                let like = Likeness {
                    mtime: modified(photo.mtime_ns),
                    mode: Some(source.mode(source_key).unwrap_or(0o600)),
                    folder_mode: Some(
                        source_key
                            .parent()
                            .and_then(|folder| source.mode(&folder))
                            .unwrap_or(0o700),
                    ),
                };
                target
                    .put_like(&place, &mut checked, photo.size, like)
                    .map_err(TargetError::from)
            })
            .and_then(|stored| verify_copy(target, &place, &photo.hash, stored));
        match copied {
            Ok(()) => return Ok(Outcome::Restored { renamed }),
            Err(e) => tried.push(format!("from '{}': {e}", source.name())),
        }
    }
    if tried.is_empty() && !out_of_action.is_empty() {
        stopped.count_photo(&out_of_action);
        return Err(Failure::OnlyOnStopped);
    }
    if tried.is_empty() {
        return Err(Failure::Other(
            "no verified copy on a reachable destination (plug in or mount one that holds it)"
                .into(),
        ));
    }
    Err(Failure::Other(tried.join("; ")))
}

/// Where a photo is to be restored, or why nothing is to be written.
pub(super) enum Place {
    /// A free name: the photo's own, or (`renamed`) a distinct one beside it.
    Free { key: RelPath, renamed: bool },
    /// The same bytes are there already, or another file is and it is to be kept.
    Done(Outcome),
}

/// Chooses a name for the photo at `key`: free, the same bytes already (whose time is
/// then set, for a run killed before it could), or a distinct one.
pub(super) fn choose_place(
    target: &LocalDestination,
    photo: &NamedPhoto,
    key: &RelPath,
    skip_existing: bool,
) -> Result<Place, Failure> {
    for (i, candidate) in candidate_keys(key, &photo.hash).enumerate() {
        match target.stat(&candidate) {
            Ok(None) => {
                return Ok(Place::Free {
                    key: candidate,
                    renamed: i > 0,
                });
            }
            Ok(Some(meta))
                if meta.size == photo.size
                    && verify_copy(target, &candidate, &photo.hash, Stored::AsGiven).is_ok() =>
            {
                if let Some(when) = modified(photo.mtime_ns)
                    && target.modified(&candidate).is_ok_and(|m| m != when)
                {
                    target
                        .set_modified(&candidate, when)
                        .map_err(|e| Failure::Other(e.to_string()))?;
                }
                return Ok(Place::Done(Outcome::AlreadyThere));
            }
            Ok(Some(_)) if skip_existing => return Ok(Place::Done(Outcome::Skipped)),
            Ok(Some(_)) => continue,
            Err(e) => return Err(Failure::Other(e.to_string())),
        }
    }
    Err(Failure::Other(format!(
        "{key} and its alternative names are taken"
    )))
}

/// The modification time a restored file gets back: the library file's, where the
/// catalog (or a rebuilt catalog's manifests) knows it.
pub(super) fn modified(mtime_ns: i64) -> Option<std::time::SystemTime> {
    (mtime_ns >= 0)
        .then(|| std::time::UNIX_EPOCH + std::time::Duration::from_nanos(mtime_ns as u64))
}
