//! Restore drills: proof that photos come back, not only that copies hash right.
//!
//! Once per `verify.drill_every` (default 7 days) the service restores a few photos
//! picked at random from each destination, through the same `restore` a person would
//! run and from that destination alone, into a private scratch folder in the home
//! (`drills/`), checks every file byte for byte against the photo's hash, and removes
//! them. The last drill of each destination and its result are kept in the catalog;
//! `status` shows them, and a failed drill is an alert.

use std::collections::HashSet;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::catalog::CatalogError;
use crate::config::DestinationConfig;
use crate::home::Triplicate;
use crate::progress::NoProgress;
use crate::restore::{RestoreOptions, restore};

/// Photos restored per destination and drill.
pub const PHOTOS_PER_DRILL: usize = 3;

/// How a drill went.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drill {
    /// Unix seconds.
    pub at: i64,
    /// Photos restored and checked.
    pub photos: u64,
    pub ok: bool,
    /// What went wrong, in words; empty when it went well.
    pub message: String,
}

fn mark_key(d: &DestinationConfig) -> String {
    format!("drill.{}", d.id)
}

/// The last drill of `d`, if one ran.
pub fn last(t: &Triplicate, d: &DestinationConfig) -> Result<Option<Drill>, CatalogError> {
    Ok(t.catalog
        .mark(&mark_key(d))?
        .and_then(|v| serde_json::from_str(&v).ok()))
}

/// Whether `d` is due a drill at `now`: drills are on, it holds verified copies, it can
/// be read now, and its last drill is older than `verify.drill_every`.
fn due(t: &Triplicate, d: &DestinationConfig, now: i64) -> Result<bool, CatalogError> {
    let Some(every) = t.config.verify.drill_every() else {
        return Ok(false);
    };
    if !d.enabled || crate::destination::probe(d).is_err() {
        return Ok(false);
    }
    Ok(last(t, d)?.is_none_or(|l| now - l.at >= every.as_secs() as i64))
}

/// Runs the drills that are due; returns each with its destination.
pub fn run_due(t: &Triplicate) -> Result<Vec<(String, Drill)>, CatalogError> {
    let now = crate::catalog::now();
    let mut done = Vec::new();
    for d in &t.config.destinations {
        if due(t, d, now)? {
            let drill = drill(t, d, now)?;
            t.catalog
                .set_mark(&mark_key(d), &serde_json::to_string(&drill).unwrap())?;
            done.push((d.name.clone(), drill));
        }
    }
    Ok(done)
}

/// Restores a few photos from `d` alone into the scratch folder and checks them.
fn drill(t: &Triplicate, d: &DestinationConfig, now: i64) -> Result<Drill, CatalogError> {
    let at_d: HashSet<i64> = t
        .catalog
        .copies_at(&d.id)?
        .into_iter()
        .filter(|c| c.state == crate::vocab::CopyState::Verified)
        .map(|c| c.photo_id)
        .collect();
    let mut names: Vec<_> = t
        .catalog
        .names_to_restore()?
        .into_iter()
        .filter(|n| at_d.contains(&n.photo_id))
        .collect();
    // A different few each time, one name per photo.
    names.sort_by_key(|n| {
        blake3::Hasher::new()
            .update(&now.to_le_bytes())
            .update(&n.photo_id.to_le_bytes())
            .finalize()
            .as_bytes()[..8]
            .to_vec()
    });
    let mut seen = HashSet::new();
    names.retain(|n| seen.insert(n.photo_id));
    names.truncate(PHOTOS_PER_DRILL);
    let mut drill = Drill {
        at: now,
        photos: names.len() as u64,
        ok: true,
        message: String::new(),
    };
    if names.is_empty() {
        return Ok(drill);
    }
    let scratch = scratch_folder(t, d);
    let _ = std::fs::remove_dir_all(&scratch);
    let options = RestoreOptions {
        to: scratch.clone(),
        destination: Some(d.name.clone()),
        globs: names
            .iter()
            .map(|n| format!("{}/{}", n.library, n.path))
            .collect(),
        jobs: 1,
        ..Default::default()
    };
    let problem = match restore(t, &options, &NoProgress) {
        Err(e) => Some(e.to_string()),
        Ok(r) if !r.ok() => Some(
            r.problems
                .iter()
                .map(|p| p.message.as_str())
                .collect::<Vec<_>>()
                .join("; "),
        ),
        Ok(_) => compare(&scratch, names.iter().map(|n| n.hash.0).collect()),
    };
    let _ = std::fs::remove_dir_all(&scratch);
    if let Some(problem) = problem {
        drill.ok = false;
        drill.message = format!(
            "restoring {} photos from '{}' alone did not give them back: {problem}",
            names.len(),
            d.name
        );
    }
    Ok(drill)
}

/// The private folder a drill of `d` restores into.
fn scratch_folder(t: &Triplicate, d: &DestinationConfig) -> PathBuf {
    let drills = t.home.dir().join("drills");
    let _ = std::fs::create_dir_all(&drills);
    use std::os::unix::fs::PermissionsExt;
    let _ = std::fs::set_permissions(&drills, std::fs::Permissions::from_mode(0o700));
    drills.join(&d.id)
}

/// Whether the files under `folder` are exactly the photos of `expected` (hashes), byte
/// for byte; what differs otherwise.
fn compare(folder: &std::path::Path, mut expected: HashSet<[u8; 32]>) -> Option<String> {
    for entry in walkdir::WalkDir::new(folder).into_iter().flatten() {
        if !entry.file_type().is_file() {
            continue;
        }
        let bytes = match std::fs::read(entry.path()) {
            Ok(b) => b,
            Err(e) => return Some(format!("{}: {e}", entry.path().display())),
        };
        if !expected.remove(blake3::hash(&bytes).as_bytes()) {
            return Some(format!(
                "{} came back with other bytes",
                entry.file_name().to_string_lossy()
            ));
        }
    }
    (!expected.is_empty()).then(|| format!("{} photos did not come back", expected.len()))
}
