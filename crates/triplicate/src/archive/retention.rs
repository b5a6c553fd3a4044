//! Keeping archives: pins, deletion, and `archive prune --keep-last N`.
//!
//! Pins are the ids listed in `<archives>/.pinned`, one a line. Pruning keeps the `N`
//! newest archives, every pinned one, and the newest of each kind, whatever `N` is.

use std::collections::HashSet;
use std::fs;

use serde::Serialize;

use super::{ArchiveError, Listed, Result, find, folder, io_err, list, log_path};
use crate::home::Triplicate;

const PINS: &str = ".pinned";

/// The pinned ids.
pub fn pinned(t: &Triplicate) -> Result<HashSet<String>> {
    let path = folder(t).join(PINS);
    match fs::read_to_string(&path) {
        Ok(text) => Ok(text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty())
            .map(String::from)
            .collect()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(HashSet::new()),
        Err(e) => Err(io_err("cannot read", &path)(e)),
    }
}

fn write_pins(t: &Triplicate, pins: &HashSet<String>) -> Result<()> {
    let dir = folder(t);
    fs::create_dir_all(&dir).map_err(io_err("cannot create", &dir))?;
    let mut ids: Vec<&String> = pins.iter().collect();
    ids.sort();
    let text: String = ids.into_iter().map(|id| format!("{id}\n")).collect();
    let path = dir.join(PINS);
    crate::fsutil::write_private(&path, text.as_bytes()).map_err(io_err("cannot write", &path))
}

/// `archive pin ID`: prune keeps it whatever its age.
pub fn pin(t: &Triplicate, id: &str) -> Result<Listed> {
    let mut a = find(t, id)?;
    let mut pins = pinned(t)?;
    pins.insert(a.id.clone());
    write_pins(t, &pins)?;
    a.pinned = true;
    Ok(a)
}

/// `archive unpin ID`.
pub fn unpin(t: &Triplicate, id: &str) -> Result<Listed> {
    let mut a = find(t, id)?;
    let mut pins = pinned(t)?;
    pins.remove(&a.id);
    write_pins(t, &pins)?;
    a.pinned = false;
    Ok(a)
}

/// `archive delete ID`: the archive, its log and its pin.
pub fn delete(t: &Triplicate, id: &str) -> Result<Listed> {
    if t.config.grid.append_only {
        return Err(ArchiveError::AppendOnly);
    }
    let a = find(t, id)?;
    remove(t, &a)?;
    let mut pins = pinned(t)?;
    if pins.remove(&a.id) {
        write_pins(t, &pins)?;
    }
    Ok(a)
}

fn remove(t: &Triplicate, a: &Listed) -> Result<()> {
    fs::remove_file(&a.file).map_err(io_err("cannot delete", &a.file))?;
    let _ = fs::remove_file(log_path(&folder(t), a.kind, &a.id));
    tracing::info!(id = %a.id, "archive deleted");
    Ok(())
}

/// What [`prune`] kept and removed.
#[derive(Debug, Clone, Serialize)]
pub struct Pruned {
    pub kept: Vec<Listed>,
    pub removed: Vec<Listed>,
    /// Logs of archives that were never finished (failed or stopped), older than a day.
    pub stale_logs: Vec<std::path::PathBuf>,
    pub dry_run: bool,
}

/// `archive prune --keep-last N`: removes every archive but the `keep_last` newest,
/// the pinned ones and the newest of each kind.
pub fn prune(t: &Triplicate, keep_last: usize, dry_run: bool) -> Result<Pruned> {
    if t.config.grid.append_only && !dry_run {
        return Err(ArchiveError::AppendOnly);
    }
    let (mut all, _) = list(t)?;
    all.sort_by(|a, b| b.created.cmp(&a.created).then(b.id.cmp(&a.id)));
    let mut kinds = HashSet::new();
    let (mut kept, mut removed) = (Vec::new(), Vec::new());
    for (i, a) in all.into_iter().enumerate() {
        let newest_of_kind = kinds.insert(a.kind);
        if i < keep_last || a.pinned || newest_of_kind {
            kept.push(a);
        } else {
            removed.push(a);
        }
    }
    let stale_logs = stale_logs(t, &kept, &removed);
    if !dry_run {
        for a in &removed {
            remove(t, a)?;
        }
        for log in &stale_logs {
            fs::remove_file(log).map_err(io_err("cannot delete", log))?;
        }
    }
    Ok(Pruned {
        kept,
        removed,
        stale_logs,
        dry_run,
    })
}

/// The logs in the archives folder whose archive does not exist (a failed or stopped
/// run), older than a day: a run in progress has a log and no archive yet.
fn stale_logs(t: &Triplicate, kept: &[Listed], removed: &[Listed]) -> Vec<std::path::PathBuf> {
    let dir = folder(t);
    let known: HashSet<std::path::PathBuf> = kept
        .iter()
        .chain(removed)
        .map(|a| log_path(&dir, a.kind, &a.id))
        .collect();
    let day_ago = std::time::SystemTime::now() - std::time::Duration::from_secs(86_400);
    let mut out: Vec<std::path::PathBuf> = fs::read_dir(&dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| {
            let name = p.file_name().map(|n| n.to_string_lossy().into_owned());
            name.is_some_and(|n| {
                !n.starts_with('.')
                    && n.ends_with(".log")
                    && (n.starts_with("config-") || n.starts_with("images-"))
            }) && !known.contains(p)
                && fs::metadata(p)
                    .and_then(|m| m.modified())
                    .is_ok_and(|m| m < day_ago)
        })
        .collect();
    out.sort();
    out
}
