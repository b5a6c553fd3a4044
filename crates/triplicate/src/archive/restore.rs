//! `archive restore ID`: an archive's files back where they came from, or under
//! `--to DIR`.
//!
//! Everything is planned before a byte is written: where each file goes, and what is
//! in the way. A file that holds other bytes is not replaced without `--force`; one
//! that already holds the same bytes is left alone. The archive is then read once
//! through the strict reader, each file written under a temporary name beside its
//! target; only when the whole archive has passed are the files renamed into place.
//!
//! Restoring the core files in place (config.toml and the catalog) needs a
//! confirmation, and first archives the current ones. The catalog is replaced through
//! SQLite's backup API, so its write-ahead log stays consistent.

use std::collections::HashMap;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;

use serde::Serialize;

use super::check::{Failure, Limits, check, clean_path};
use super::{ArchiveError, Kind, Manifest, Request, Result, create, find, io_err, read_manifest};
use crate::home::Triplicate;
use crate::photo::ContentHash;
use crate::progress::NoProgress;

/// What to restore.
#[derive(Debug, Clone, Default)]
pub struct RestoreRequest {
    pub id: String,
    /// Restore under this folder, at the archive's paths, instead of in place.
    pub to: Option<PathBuf>,
    /// Config archives: only these sections (`core` or a section's name).
    pub sections: Vec<String>,
    /// Image archives: only these date folders.
    pub folders: Vec<String>,
    /// Replace files that hold other bytes.
    pub force: bool,
    /// Replacing config.toml and the catalog in place is confirmed.
    pub confirmed: bool,
}

/// What [`restore`] did.
#[derive(Debug, Clone, Serialize)]
pub struct Restored {
    pub id: String,
    /// Files written (or replaced).
    pub written: Vec<PathBuf>,
    /// Files that already held the archived bytes.
    pub unchanged: usize,
    pub bytes: u64,
    /// The archive of the core files taken before they were replaced.
    pub safety_archive: Option<String>,
}

/// Where one archived file goes.
#[derive(Debug, Clone, PartialEq)]
enum Target {
    File(PathBuf),
    /// The live catalog, replaced through SQLite.
    Catalog,
}

/// Restores archive `request.id`.
pub fn restore(t: &Triplicate, request: &RestoreRequest) -> Result<Restored> {
    let listed = find(t, &request.id)?;
    let manifest = read_manifest(&listed.file)?;
    for f in &manifest.files {
        if clean_path(f.path.as_bytes()).ok().as_deref() != Some(f.path.as_str()) {
            return Err(ArchiveError::Rejected {
                path: listed.file.clone(),
                reason: super::Rejection::BadManifest(format!("it lists '{}'", f.path)),
            });
        }
    }
    let plan = plan(t, &manifest, request)?;
    let safety_archive = match plan.core_in_place {
        true => Some(keep_current_config(t, request.confirmed)?),
        false => None,
    };
    let (temps, bytes) = write_beside(t, &listed.file, &plan.targets)?;
    let written = into_place(t, &temps)?;
    Ok(Restored {
        id: manifest.id.clone(),
        written,
        unchanged: plan.unchanged,
        bytes,
        safety_archive,
    })
}

/// Where each archived file goes, planned before a byte is written.
struct Plan {
    /// Archive path → target, for the files not already in place.
    targets: HashMap<String, Target>,
    /// Files that already hold the archived bytes.
    unchanged: usize,
    /// config.toml or the catalog is replaced in place.
    core_in_place: bool,
}

/// Plans the restore: each file the request asks for, its target, and whether it is
/// there already. A file holding other bytes is in the way (unless `--force`).
fn plan(t: &Triplicate, manifest: &Manifest, request: &RestoreRequest) -> Result<Plan> {
    let prefixes = selection(manifest, request)?;
    let wanted =
        |path: &str| prefixes.is_empty() || prefixes.iter().any(|p| path.starts_with(p.as_str()));
    let mut plan = Plan {
        targets: HashMap::new(),
        unchanged: 0,
        core_in_place: false,
    };
    let mut in_the_way = Vec::new();
    for f in manifest.files.iter().filter(|f| wanted(&f.path)) {
        let Some(target) = target_of(t, manifest, &f.path, request.to.as_deref())? else {
            continue;
        };
        match &target {
            Target::File(path) if path.exists() => {
                let same = fs::metadata(path).is_ok_and(|m| m.len() == f.size)
                    && File::open(path)
                        .and_then(|mut h| ContentHash::of_reader(&mut h))
                        .is_ok_and(|(h, _)| h.to_hex() == f.blake3);
                if same {
                    plan.unchanged += 1;
                    continue;
                }
                if request.to.is_none() && f.path == "core/config.toml" {
                    plan.core_in_place = true;
                } else if !request.force {
                    in_the_way.push(path.clone());
                }
            }
            Target::File(_) => {}
            Target::Catalog => plan.core_in_place = true,
        }
        plan.targets.insert(f.path.clone(), target);
    }
    if let Some(first) = in_the_way.first() {
        return Err(ArchiveError::Exists {
            path: first.clone(),
            more: match in_the_way.len() {
                1 => String::new(),
                n => format!(" (and {} more files)", n - 1),
            },
        });
    }
    Ok(plan)
}

/// Archives the current config and catalog before they are replaced, once the
/// request confirms it: the id of that archive.
fn keep_current_config(t: &Triplicate, confirmed: bool) -> Result<String> {
    if !confirmed {
        return Err(ArchiveError::NeedsConfirmation);
    }
    let kept = create(
        t,
        &Request {
            kind: Kind::Config,
            no_hooks: true,
            ..Default::default()
        },
        &NoProgress,
        &AtomicBool::new(false),
    )?;
    tracing::info!(id = %kept.id, "the current config was archived before the restore");
    Ok(kept.id)
}

/// Writes every planned file under a temporary name beside its target, as the strict
/// reader passes it: the temporary files, and the bytes written. Nothing is left
/// behind when the archive fails the reader.
fn write_beside(
    t: &Triplicate,
    archive: &Path,
    targets: &HashMap<String, Target>,
) -> Result<(Vec<(PathBuf, Target)>, u64)> {
    let mut temps: Vec<(PathBuf, Target)> = Vec::new();
    let mut bytes = 0;
    let input = File::open(archive).map_err(io_err("cannot open", archive))?;
    let checked = check(input, &Limits::default(), &mut |_, path, data| {
        let Some(target) = targets.get(path) else {
            return Ok(());
        };
        let beside = match target {
            Target::File(p) => p.clone(),
            Target::Catalog => t.home.catalog.clone(),
        };
        let parent = beside.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(parent).map_err(io_err("cannot create", parent))?;
        let name = beside.file_name().unwrap_or_default().to_string_lossy();
        let temp = parent.join(format!(
            ".{name}.triplicate-restore-{}",
            &uuid::Uuid::new_v4().simple().to_string()[..8]
        ));
        temps.push((temp.clone(), target.clone()));
        // Owner-only: the configuration, the catalog and photos are no one else's.
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
            .map_err(io_err("cannot create", &temp))?;
        let mut out = io::BufWriter::new(file);
        bytes += io::copy(data, &mut out).map_err(io_err("cannot write", &temp))?;
        let out = out
            .into_inner()
            .map_err(|e| io_err("cannot write", &temp)(e.into_error()))?;
        out.sync_all().map_err(io_err("cannot sync", &temp))?;
        Ok(())
    });
    let error = match checked {
        Ok(_) => return Ok((temps, bytes)),
        Err(Failure::Rejected(reason)) => ArchiveError::Rejected {
            path: archive.to_path_buf(),
            reason,
        },
        Err(Failure::Visitor(e)) => e,
    };
    remove_temps(&temps);
    Err(error)
}

/// Once the whole archive passed: each temporary file renamed into place (the catalog
/// through SQLite's backup API). The files written; on a failure, the temporary files
/// not yet in place are removed.
fn into_place(t: &Triplicate, temps: &[(PathBuf, Target)]) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (i, (temp, target)) in temps.iter().enumerate() {
        let done = match target {
            Target::File(path) => fs::rename(temp, path)
                .map_err(io_err("cannot rename", temp))
                .and_then(|()| {
                    let parent = path.parent().unwrap_or(Path::new("."));
                    crate::fsutil::sync_dir(parent).map_err(io_err("cannot sync", parent))
                })
                .map(|()| path.clone()),
            Target::Catalog => t
                .catalog
                .restore_from(temp)
                .map_err(ArchiveError::from)
                .map(|()| {
                    let _ = fs::remove_file(temp);
                    t.home.catalog.clone()
                }),
        };
        match done {
            Ok(path) => written.push(path),
            Err(e) => {
                remove_temps(&temps[i..]);
                return Err(e);
            }
        }
    }
    Ok(written)
}

fn remove_temps(temps: &[(PathBuf, Target)]) {
    for (temp, _) in temps {
        let _ = fs::remove_file(temp);
    }
}

/// The prefixes of the archive paths the request asks for (none: all of them).
fn selection(manifest: &Manifest, request: &RestoreRequest) -> Result<Vec<String>> {
    let mut prefixes = Vec::new();
    for name in &request.sections {
        if manifest.kind != Kind::Config || !manifest.sections.contains(name) {
            return Err(ArchiveError::UnknownSection {
                name: name.clone(),
                known: manifest.sections.join(", "),
            });
        }
        prefixes.push(if name == "core" {
            "core/".to_string()
        } else {
            format!("sections/{name}/")
        });
    }
    for name in &request.folders {
        let name = name.trim_matches('/');
        let keys: Vec<&String> = manifest
            .folders
            .iter()
            .filter(|k| super::create::folder_matches(k, name))
            .collect();
        if manifest.kind != Kind::Images || keys.is_empty() {
            return Err(ArchiveError::UnknownFolder { name: name.into() });
        }
        prefixes.extend(keys.into_iter().map(|k| format!("images/{k}/")));
    }
    Ok(prefixes)
}

/// Where archived file `path` goes: under `to`, or where it came from. `None` for
/// what is not restored in place (the destinations' declarations, which config.toml
/// holds).
fn target_of(
    t: &Triplicate,
    manifest: &Manifest,
    path: &str,
    to: Option<&Path>,
) -> Result<Option<Target>> {
    if let Some(to) = to {
        return Ok(Some(Target::File(to.join(path))));
    }
    let no_place = |why: String| ArchiveError::NoPlace(why);
    match (manifest.kind, path.split_once('/')) {
        (Kind::Config, Some(("core", "config.toml"))) => {
            Ok(Some(Target::File(t.home.config.clone())))
        }
        (Kind::Config, Some(("core", "catalog.db"))) => Ok(Some(Target::Catalog)),
        (Kind::Config, Some(("core", _))) => Ok(None),
        (Kind::Config, Some(("sections", rest))) => {
            let mut parts = rest.splitn(3, '/');
            let (name, base, inner) = (
                parts.next().unwrap_or_default(),
                parts.next().unwrap_or_default(),
                parts.next(),
            );
            let section = t.config.archive.sections.get(name).ok_or_else(|| {
                no_place(format!("section '{name}' is not declared in config.toml"))
            })?;
            let root = section
                .paths
                .iter()
                .find(|p| p.file_name().is_some_and(|n| n.to_string_lossy() == base))
                .ok_or_else(|| {
                    no_place(format!(
                        "section '{name}' has no path ending in '{base}' in config.toml"
                    ))
                })?;
            Ok(Some(Target::File(match inner {
                Some(inner) => root.join(inner),
                None => root.clone(),
            })))
        }
        (Kind::Images, Some(("images", rest))) => {
            let (lib, inner) = rest.split_once('/').unwrap_or((rest, ""));
            let library = t
                .config
                .library(lib)
                .ok_or_else(|| no_place(format!("library '{lib}' is not in config.toml")))?;
            Ok(Some(Target::File(library.path.join(inner))))
        }
        _ => Err(no_place(format!("'{path}' has no place of its own"))),
    }
}
