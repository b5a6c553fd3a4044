//! Checking a folder against its history, whoever wrote it ([`verify_folder`]).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use chrono::Utc;
use serde::Serialize;

use super::format::{FileEntry, HashEntry};
use super::*;
use crate::destination::LocalDestination;
use crate::progress::{Event, Progress};

/// What checking a folder against its history found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FolderCheck {
    pub folder: String,
    pub generations: usize,
    /// Files whose hash matched their original.
    pub verified: Vec<String>,
    /// Files whose hash did not: path, format, expected, found.
    pub failed: Vec<Mismatch>,
    /// Files the history lists that are not in the folder.
    pub missing: Vec<String>,
    /// Files in the folder the history does not list.
    pub new: Vec<String>,
    /// The generation `record` added.
    pub recorded: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Mismatch {
    pub path: String,
    pub format: &'static str,
    pub expected: String,
    pub found: String,
}

impl FolderCheck {
    pub fn ok(&self) -> bool {
        self.failed.is_empty() && self.missing.is_empty() && self.new.is_empty()
    }
}

/// Patterns in the standard's gitignore-like form, matched against a relative path
/// and each of its ancestors.
pub(super) struct Ignore {
    any_depth: globset::GlobSet,
    anchored: globset::GlobSet,
    dirs_only: globset::GlobSet,
}

impl Ignore {
    pub(super) fn new(patterns: &[String]) -> Ignore {
        let mut any_depth = globset::GlobSetBuilder::new();
        let mut anchored = globset::GlobSetBuilder::new();
        let mut dirs_only = globset::GlobSetBuilder::new();
        for p in patterns {
            let (p, dir) = match p.strip_suffix('/') {
                Some(p) => (p, true),
                None => (p.as_str(), false),
            };
            let (builder, glob) = if dir {
                (&mut dirs_only, p.trim_start_matches('/'))
            } else if p.contains('/') {
                (&mut anchored, p.trim_start_matches('/'))
            } else {
                (&mut any_depth, p)
            };
            if let Ok(g) = globset::GlobBuilder::new(glob)
                .literal_separator(true)
                .build()
            {
                builder.add(g);
            }
        }
        let build =
            |b: globset::GlobSetBuilder| b.build().unwrap_or_else(|_| globset::GlobSet::empty());
        Ignore {
            any_depth: build(any_depth),
            anchored: build(anchored),
            dirs_only: build(dirs_only),
        }
    }

    /// Whether the file at `rel` (or a folder it is in) is ignored.
    pub(super) fn ignores(&self, rel: &str) -> bool {
        let parts: Vec<&str> = rel.split('/').collect();
        for i in 0..parts.len() {
            let name = parts[i];
            let prefix = parts[..=i].join("/");
            let is_dir = i + 1 < parts.len();
            if self.any_depth.is_match(name)
                || self.anchored.is_match(&prefix)
                || (is_dir && (self.dirs_only.is_match(name) || self.dirs_only.is_match(&prefix)))
            {
                return true;
            }
        }
        false
    }
}

/// The name progress of [`verify_folder`] is reported under.
pub const PROGRESS_NAME: &str = "ASC MHL";

/// Hashes a file in one format, telling `on_bytes` of each chunk read.
fn hash_file(path: &Path, format: HashFormat, on_bytes: &dyn Fn(u64)) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let mut hasher = format.hasher();
    crate::photo::read_all(&mut file, |chunk| {
        hasher.update(chunk);
        on_bytes(chunk.len() as u64);
    })?;
    Ok(hasher.finish())
}

/// Checks the folder at `root` against its ASC MHL history (see the module
/// documentation), reporting progress as work for a destination named `ASC MHL`.
pub fn verify_folder(
    root: &Path,
    record: bool,
    progress: &dyn Progress,
) -> Result<FolderCheck, MhlError> {
    if !root.join(FOLDER).is_dir() {
        return Err(MhlError::NoHistory { path: root.into() });
    }
    let place = LocalDestination::plain_folder("folder", root)?;
    let history = load(&place)?;
    if history.generations.is_empty() {
        return Err(MhlError::NoHistory { path: root.into() });
    }
    let ignore = Ignore::new(&history.ignore_patterns());
    let mut check = FolderCheck {
        folder: root.display().to_string(),
        generations: history.generations.len(),
        ..Default::default()
    };
    let now = Utc::now();
    let mut list = new_list("in-place", now);
    list.ignore = history.ignore_patterns();
    let mut expected: BTreeSet<&str> = history.paths();
    let files = listed_files(root, &history, &ignore, &mut expected, &mut check)?;
    progress.event(&Event::WorkPlanned {
        dest: PROGRESS_NAME,
        files: files.len() as u64,
        bytes: files.iter().map(|f| f.size).sum(),
    });
    for file in files {
        let verified = check_file(file, &mut check, &mut list, progress)?;
        progress.event(&Event::WorkDone {
            dest: PROGRESS_NAME,
            ok: verified,
        });
    }
    check.missing = expected
        .into_iter()
        .filter(|p| !ignore.ignores(p))
        .map(String::from)
        .collect();
    if record && !list.files.is_empty() {
        let folder = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "folder".into());
        let k = write_generation(&place, &folder, &history, &list, now)?;
        check.recorded = Some(k.to_string());
    }
    Ok(check)
}

/// A file of the folder that its history lists.
struct Listed<'h> {
    rel: String,
    path: PathBuf,
    size: u64,
    original: &'h HashEntry,
}

/// The files in the folder, but those the history ignores: those it lists are returned
/// (and taken out of `expected`), the others are new to it.
fn listed_files<'h>(
    root: &Path,
    history: &'h History,
    ignore: &Ignore,
    expected: &mut BTreeSet<&str>,
    check: &mut FolderCheck,
) -> Result<Vec<Listed<'h>>, MhlError> {
    let mut files = Vec::new();
    let walker = walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            e.depth() == 0
                || e.path()
                    .strip_prefix(root)
                    .ok()
                    .and_then(|p| p.to_str())
                    .is_none_or(|rel| !ignore.ignores(rel) || e.file_type().is_file())
        });
    for entry in walker {
        let entry = entry.map_err(|e| MhlError::Io {
            path: e
                .path()
                .map(Path::to_path_buf)
                .unwrap_or_else(|| root.into()),
            source: e.into(),
        })?;
        if !entry.file_type().is_file() {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(root)
            .expect("under the root")
            .to_string_lossy()
            .into_owned();
        if ignore.ignores(&rel) {
            continue;
        }
        expected.remove(rel.as_str());
        match history.original(&rel) {
            None => check.new.push(rel),
            Some(original) => {
                let size = entry.metadata().map(|m| m.len()).unwrap_or(0);
                files.push(Listed {
                    rel,
                    path: entry.into_path(),
                    size,
                    original,
                });
            }
        }
    }
    Ok(files)
}

/// Hashes one file in the format of its original entry; records it verified or failed
/// in `check` and in the generation `list`. Returns whether it was verified.
fn check_file(
    file: Listed<'_>,
    check: &mut FolderCheck,
    list: &mut HashList,
    progress: &dyn Progress,
) -> Result<bool, MhlError> {
    let Listed {
        rel,
        path,
        size,
        original,
    } = file;
    let found = hash_file(&path, original.format, &|n| {
        progress.event(&Event::WorkBytes {
            dest: PROGRESS_NAME,
            bytes: n,
        })
    })
    .map_err(|e| MhlError::Io {
        path: path.clone(),
        source: e,
    })?;
    let action = if found == original.value {
        check.verified.push(rel.clone());
        Action::Verified
    } else {
        check.failed.push(Mismatch {
            path: rel.clone(),
            format: original.format.name(),
            expected: original.value.clone(),
            found: found.clone(),
        });
        Action::Failed
    };
    list.files.push(FileEntry {
        path: rel,
        size: Some(size),
        modified: None,
        hashes: vec![HashEntry {
            format: original.format,
            value: found,
            action: Some(action),
            date: Some(iso(Utc::now())),
        }],
        previous_path: None,
    });
    Ok(action == Action::Verified)
}
