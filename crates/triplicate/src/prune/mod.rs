//! Retention: removing old versions and deleted photos from the destinations under an
//! explicit policy. The only code that deletes a copy.
//!
//! What a library holds now is never touched. Everything else it once held (earlier
//! versions of changed files, photos deleted from the library) is judged per file path
//! by its history, restic-style: the content a path held at the end of each of the
//! newest `keep_daily` days is kept, likewise for `keep_weekly` ISO weeks and
//! `keep_monthly` months, and all of it that was current within `keep_within`. The
//! current content fills its own day, week and month. A photo goes only when no path's
//! policy keeps it, and then from every selected destination; every removal is logged.
//! Without `apply` nothing is removed: the report says what would go. An append-only
//! node (`grid.append_only`) refuses to prune at all.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

use chrono::{Datelike, Local, TimeZone};
use serde::Serialize;

use crate::catalog::RunKind;
use crate::catalog::{HistoryRow, Operation, now_ms};
use crate::config::DestinationConfig;
use crate::destination::{self, ErrorClass, WriteDestination, manifest};
use crate::engine::{EngineError, select_destinations};
use crate::home::Triplicate;
use crate::photo::ContentHash;
use crate::progress::{Problem, Problems, Progress};
use crate::relpath::RelPath;
use crate::run;

/// How much history to keep.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct RetentionPolicy {
    pub keep_daily: u32,
    pub keep_weekly: u32,
    pub keep_monthly: u32,
    #[serde(serialize_with = "seconds")]
    pub keep_within: Option<Duration>,
}

fn seconds<S: serde::Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.serialize_some(&d.as_secs()),
        None => s.serialize_none(),
    }
}

impl RetentionPolicy {
    fn is_empty(&self) -> bool {
        self.keep_daily == 0
            && self.keep_weekly == 0
            && self.keep_monthly == 0
            && self.keep_within.is_none()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    #[error(
        "say what to keep: --keep-daily, --keep-weekly, --keep-monthly or --keep-within (a policy that keeps nothing is refused)"
    )]
    NoPolicy,
    #[error(
        "this node is append-only (grid.append_only = true in config.toml): prune removes nothing here"
    )]
    AppendOnly,
    #[error(transparent)]
    Engine(#[from] EngineError),
}

impl crate::fault::Classify for PruneError {
    fn fault(&self) -> crate::fault::Fault {
        match self {
            PruneError::NoPolicy | PruneError::AppendOnly => crate::fault::Fault::Usage,
            PruneError::Engine(e) => e.fault(),
        }
    }
}

/// A photo prune removes (or would remove).
#[derive(Debug, Clone, Serialize)]
pub struct PrunedPhoto {
    /// A name it had, and when it stopped being current there (Unix milliseconds).
    pub library: String,
    pub path: RelPath,
    pub until: i64,
    pub hash: String,
    pub size: u64,
    /// Where its copies are: destination name and key.
    pub copies: Vec<(String, RelPath)>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PruneReport {
    pub dry_run: bool,
    pub policy: RetentionPolicy,
    /// Photos no library holds now (earlier versions and deleted photos).
    pub past_photos: u64,
    pub kept: u64,
    pub removed: Vec<PrunedPhoto>,
    /// Bytes the removals free (counted once per copy).
    pub bytes: u64,
    pub problems: Vec<Problem>,
}

impl PruneReport {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// Writes the manifest of the copies prune removed at `dest`.
fn write_tombstones(
    t: &Triplicate,
    dest: &dyn WriteDestination,
    dest_id: &str,
    run: &str,
    entries: &[manifest::Entry],
) -> Result<(), destination::DestError> {
    let now = chrono::Utc::now();
    let header = manifest::Header {
        kind: manifest::MANIFEST_KIND.into(),
        format: destination::FORMAT_VERSION,
        node: t.config.node.clone(),
        destination: dest_id.into(),
        run: run.into(),
        created: now.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    };
    let bytes = manifest::encode(&header, entries);
    let key = manifest::key(
        &t.config.node,
        &now.format("%Y%m%dT%H%M%S%.3fZ").to_string(),
        run.rsplit('-').next().unwrap_or(run),
    );
    dest.put(&key, &mut bytes.as_slice(), bytes.len() as u64)
        .map(drop)
}

/// Of `rows` (the whole history), the indices the policy keeps, given the current
/// moment `now` (Unix milliseconds). Rows still current (`until` empty) are always
/// kept. Pure, so that the policy can be tested case by case.
pub fn kept_rows(rows: &[HistoryRow], policy: &RetentionPolicy, now: i64) -> HashSet<usize> {
    let mut by_path: BTreeMap<(&str, &RelPath), Vec<usize>> = BTreeMap::new();
    for (i, r) in rows.iter().enumerate() {
        by_path.entry((&r.library, &r.path)).or_default().push(i);
    }
    let within = policy
        .keep_within
        .map(|d| now - d.as_millis().min(i64::MAX as u128) as i64);
    let mut kept = HashSet::new();
    for (_, mut idx) in by_path {
        // Newest first: the content a path held at the end of a day is its last there.
        idx.sort_by_key(|&i| std::cmp::Reverse(rows[i].until.unwrap_or(i64::MAX)));
        let mut buckets: [(u32, HashSet<i64>); 3] = [
            (policy.keep_daily, HashSet::new()),
            (policy.keep_weekly, HashSet::new()),
            (policy.keep_monthly, HashSet::new()),
        ];
        for i in idx {
            let end = rows[i].until.unwrap_or(now);
            let mut keep = rows[i].until.is_none() || within.is_some_and(|w| end >= w);
            let local = Local
                .timestamp_millis_opt(end)
                .single()
                .unwrap_or_default()
                .date_naive();
            let keys = [
                local.num_days_from_ce() as i64,
                {
                    let w = local.iso_week();
                    w.year() as i64 * 100 + w.week() as i64
                },
                local.year() as i64 * 100 + local.month() as i64,
            ];
            for ((limit, seen), key) in buckets.iter_mut().zip(keys) {
                if !seen.contains(&key) && (seen.len() as u32) < *limit {
                    seen.insert(key);
                    keep = true;
                }
            }
            if keep {
                kept.insert(i);
            }
        }
    }
    kept
}

/// Applies `policy` at the selected destinations (all enabled ones when
/// `destinations` is empty); with `apply` false, only says what would go.
pub fn prune(
    t: &Triplicate,
    policy: &RetentionPolicy,
    destinations: &[String],
    apply: bool,
    progress: &dyn Progress,
) -> Result<PruneReport, PruneError> {
    if policy.is_empty() {
        return Err(PruneError::NoPolicy);
    }
    if t.config.grid.append_only {
        return Err(PruneError::AppendOnly);
    }
    let selected = select_destinations(t, destinations, true)?;
    let catalog = &t.catalog;
    let rows = catalog.history().map_err(EngineError::from)?;
    let current = catalog.current_photos().map_err(EngineError::from)?;
    let verdict = verdicts(&rows, &current, &kept_rows(&rows, policy, now_ms()));
    let past = verdict.keys().filter(|id| !current.contains(id)).count() as u64;

    let run = run::new_id();
    if apply {
        run::begin(catalog, &run, RunKind::Prune).map_err(EngineError::from)?;
    }
    let mut pruning = Pruning {
        t,
        run: &run,
        selected: &selected,
        apply,
        problems: Problems::new(progress),
        open: BTreeMap::new(),
        gone: BTreeMap::new(),
    };
    let mut removed = Vec::new();
    for (&photo_id, &(keep, named)) in &verdict {
        if keep {
            continue;
        }
        if let Some(entry) = pruning.photo(photo_id, &rows[named])? {
            removed.push(entry);
        }
    }
    pruning.write_tombstones();
    let report = PruneReport {
        dry_run: !apply,
        policy: *policy,
        past_photos: past,
        kept: past - removed.len() as u64,
        bytes: removed.iter().map(|p| p.size * p.copies.len() as u64).sum(),
        removed,
        problems: pruning.problems.into_vec(),
    };
    if apply {
        run::finish(catalog, &run, report.ok(), &report).map_err(EngineError::from)?;
    }
    Ok(report)
}

/// Per photo: whether it is kept, and the row it is named by (its latest stretch). A
/// photo goes when it is not current and no row of any of its paths keeps it.
fn verdicts(
    rows: &[HistoryRow],
    current: &HashSet<i64>,
    kept: &HashSet<usize>,
) -> BTreeMap<i64, (bool, usize)> {
    let mut verdict: BTreeMap<i64, (bool, usize)> = BTreeMap::new();
    for (i, r) in rows.iter().enumerate() {
        let keep = current.contains(&r.photo_id) || kept.contains(&i);
        let e = verdict.entry(r.photo_id).or_insert((false, i));
        e.0 |= keep;
        if rows[e.1].until < r.until {
            e.1 = i;
        }
    }
    verdict
}

/// One prune under way: the destinations it acts on, opened once each, and what left
/// each of them.
struct Pruning<'a> {
    t: &'a Triplicate,
    run: &'a str,
    selected: &'a [&'a DestinationConfig],
    /// Remove, or only say what would go.
    apply: bool,
    problems: Problems<'a>,
    /// Per destination id: the destination, or `None` when it would not open.
    open: BTreeMap<String, Option<Arc<dyn WriteDestination>>>,
    /// Per destination id: what was removed there, for its tombstone manifest.
    gone: BTreeMap<String, Vec<manifest::Entry>>,
}

impl Pruning<'_> {
    /// Removes (or would remove) the copies of a photo no rule keeps at the selected
    /// destinations; it is named by the history row `named`. `None` when no copy goes.
    fn photo(
        &mut self,
        photo_id: i64,
        named: &HistoryRow,
    ) -> Result<Option<PrunedPhoto>, PruneError> {
        let catalog = &self.t.catalog;
        let (size, hash) = catalog
            .photo_size_hash(photo_id)
            .map_err(EngineError::from)?;
        let copies: Vec<(&DestinationConfig, RelPath)> = catalog
            .sources_of(photo_id)
            .map_err(EngineError::from)?
            .copies
            .into_iter()
            .filter_map(|(id, key)| {
                let d = self.selected.iter().find(|d| d.id == id)?;
                Some((*d, key))
            })
            .collect();
        let mut entry = PrunedPhoto {
            library: named.library.clone(),
            path: named.path.clone(),
            until: named.until.unwrap_or_default(),
            hash: hash.to_hex(),
            size,
            copies: Vec::new(),
        };
        for (d, key) in copies {
            let removal = Removal {
                key: &key,
                size,
                hash: &hash,
            };
            if self.apply && !self.remove(d, photo_id, &removal, &entry)? {
                continue;
            }
            entry.copies.push((d.name.clone(), key));
        }
        Ok((!entry.copies.is_empty()).then_some(entry))
    }

    /// Removes one copy of `entry` at `d`, and forgets it in the catalog: whether it
    /// is gone.
    fn remove(
        &mut self,
        d: &DestinationConfig,
        photo_id: i64,
        removal: &Removal<'_>,
        entry: &PrunedPhoto,
    ) -> Result<bool, PruneError> {
        let Some(dest) = self.open(d) else {
            return Ok(false);
        };
        let catalog = &self.t.catalog;
        let names = catalog
            .name_files_of(photo_id, &d.id)
            .map_err(EngineError::from)?;
        let tombstones = self.gone.entry(d.id.clone()).or_default();
        if !removal.run(
            dest.as_ref(),
            &d.name,
            &names,
            tombstones,
            &mut self.problems,
        ) {
            return Ok(false);
        }
        let until = Local
            .timestamp_millis_opt(entry.until)
            .single()
            .map_or_else(|| "?".into(), |t| t.format("%Y-%m-%d %H:%M:%S").to_string());
        let message = format!(
            "{}:{} as it was until {until} (retention policy)",
            entry.library, entry.path
        );
        tracing::info!(destination = %d.name, "pruned {}: {message}", removal.key);
        catalog
            .forget_pruned_copy(
                photo_id,
                &d.id,
                &Operation {
                    run: self.run,
                    kind: "prune",
                    dest: Some(&d.name),
                    photo_id: Some(photo_id),
                    path: Some(removal.key),
                    bytes: Some(removal.size),
                    duration_ms: None,
                    outcome: "removed",
                    message: Some(&message),
                },
            )
            .map_err(EngineError::from)?;
        Ok(true)
    }

    /// The destination `d`, opened at its first use; `None` (reported once) when it
    /// would not open.
    fn open(&mut self, d: &DestinationConfig) -> Option<Arc<dyn WriteDestination>> {
        let problems = &mut self.problems;
        self.open
            .entry(d.id.clone())
            .or_insert_with(|| match destination::open(d) {
                Ok(dest) => Some(dest),
                Err(e) => {
                    problems.report(Problem {
                        subject: format!("dest:{}", d.name),
                        message: format!("nothing was pruned at '{}': {e}", d.name),
                        class: e.class(),
                    });
                    None
                }
            })
            .clone()
    }

    /// Each destination says what left it, so that a catalog rebuilt from its
    /// manifests does not count those copies again.
    fn write_tombstones(&mut self) {
        for (id, entries) in &self.gone {
            let Some(Some(dest)) = self.open.get(id) else {
                continue;
            };
            let name = self
                .selected
                .iter()
                .find(|d| &d.id == id)
                .map_or(id.as_str(), |d| d.name.as_str());
            if let Err(e) = write_tombstones(self.t, dest.as_ref(), id, self.run, entries) {
                self.problems.report(Problem {
                    subject: format!("dest:{name}"),
                    message: format!(
                        "the copies were removed at '{name}', but the list of them could not be written there: {e}"
                    ),
                    class: e.class(),
                });
            }
        }
    }
}

/// One copy to remove at a destination.
struct Removal<'a> {
    key: &'a RelPath,
    size: u64,
    hash: &'a ContentHash,
}

impl Removal<'_> {
    /// Removes the files of the copy's other names, then the copy; each removal is
    /// added to `tombstones` (for the destination's manifest). A name that cannot be
    /// removed keeps the copy: a name is never left pointing at a content that is gone.
    /// Returns whether the copy is gone.
    fn run(
        &self,
        dest: &dyn WriteDestination,
        dest_name: &str,
        names: &[RelPath],
        tombstones: &mut Vec<manifest::Entry>,
        problems: &mut Problems<'_>,
    ) -> bool {
        let mut kept_name = false;
        for name in names {
            let removed = match dest.stat(name) {
                Ok(None) => Ok(()),
                _ => dest.remove(name),
            };
            match removed {
                Ok(()) => tombstones.push(self.tombstone(name, Some(self.key))),
                Err(e) => {
                    kept_name = true;
                    problems.report(Problem {
                        subject: format!("dest:{dest_name}"),
                        message: format!("could not remove {name} at '{dest_name}': {e}"),
                        class: ErrorClass::Transient,
                    });
                }
            }
        }
        if kept_name {
            return false;
        }
        if let Err(e) = dest.remove(self.key) {
            problems.report(Problem {
                subject: format!("dest:{dest_name}"),
                message: format!("could not remove {} at '{dest_name}': {e}", self.key),
                class: ErrorClass::Transient,
            });
            return false;
        }
        tombstones.push(self.tombstone(self.key, None));
        true
    }

    /// The manifest line that says `path` left the destination.
    fn tombstone(&self, path: &RelPath, copy_of: Option<&RelPath>) -> manifest::Entry {
        manifest::Entry {
            path: path.clone(),
            size: self.size,
            blake3: self.hash.to_hex(),
            captured: String::new(),
            kind: String::new(),
            library: String::new(),
            source: path.clone(),
            verified_at: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            stored_blake3: None,
            removed: true,
            mtime_ns: None,
            copy_of: copy_of.cloned(),
            since: None,
            until: None,
        }
    }
}

#[cfg(test)]
mod tests;
