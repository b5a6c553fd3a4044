//! ASC MHL v2.0 histories: the checksum manifests that any offload tool can check.
//!
//! A folder's history lives in its `ascmhl/` folder: one hash list per generation,
//! named `NNNN_<folder>_<YYYY-MM-DD>_<HHMMSS>Z.mhl`, and the chain file
//! `ascmhl_chain.xml`, which names every generation with the C4 id of its bytes so
//! that a changed or missing generation is noticed. `format` reads and writes the
//! two documents.
//!
//! Ingest keeps a history at the root of the library and of each destination it
//! writes (the folder its layout starts from), one generation per ingest
//! ([`append_generation`]): each file the ingest put there or found there, with the
//! xxh64 of the bytes read from the card, marked `original` the first time the
//! history lists it and `verified` when a later ingest finds it again unchanged; the
//! content and structure hashes of every folder holding such a file, and of the root.
//! Folder hashes are computed from the files the history lists, which are the
//! folder's files wherever only ingest writes into it. A file that arrived otherwise
//! (a backup of a download folder) is not in the history; Triplicate's own
//! manifests and `verify` cover it.
//!
//! [`verify_folder`] (`check`) checks a folder against its history, whoever wrote it: each
//! file is hashed in the format of its `original` entry; files missing, changed, or
//! not in the history are reported. With `record`, the check is itself added to the
//! history as a generation of `verified` and `failed` entries.

mod check;
pub mod format;

pub use check::*;

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::PathBuf;

use chrono::{DateTime, SecondsFormat, Utc};

use crate::destination::{DestError, ReadDestination, WriteDestination};
use crate::relpath::RelPath;
pub use format::{Action, HashFormat, HashList};
use format::{ChainLink, DirectoryEntry, DirectoryHash, FileEntry, HashEntry};

/// The folder holding a history.
pub use crate::vocab::MHL_FOLDER as FOLDER;
/// The chain file, inside [`FOLDER`].
pub const CHAIN_FILE: &str = "ascmhl_chain.xml";

/// The names each generation Triplicate writes leaves out of the history: the
/// standard's defaults, Triplicate's own metadata and unfinished writes, and the
/// litter of file systems.
pub const IGNORE: &[&str] = &[
    ".DS_Store",
    "ascmhl",
    "ascmhl/",
    ".triplicate",
    ".triplicate-partial-*",
    "lost+found",
    ".Trashes",
    ".Spotlight-V100",
    ".fseventsd",
];

#[derive(Debug, thiserror::Error)]
pub enum MhlError {
    #[error(transparent)]
    Dest(#[from] DestError),
    #[error("ASC MHL file {file} is not valid: {message}")]
    Malformed { file: String, message: String },
    #[error(
        "ASC MHL generation {file} has been changed since it was written (its C4 id is not the one in {CHAIN_FILE})"
    )]
    Modified { file: String },
    #[error("ASC MHL generation {file}, named in {CHAIN_FILE}, is missing")]
    Missing { file: String },
    #[error("{path} has no ASC MHL history (no {FOLDER}/ folder with generations)")]
    NoHistory { path: PathBuf },
    #[error("cannot read {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// A generation as loaded.
#[derive(Debug, Clone)]
pub struct Generation {
    pub number: u32,
    pub file: String,
    pub list: HashList,
}

/// A folder's history, oldest generation first.
#[derive(Debug, Clone, Default)]
pub struct History {
    pub generations: Vec<Generation>,
    chain: Vec<ChainLink>,
}

impl History {
    /// The latest xxh64 the history gives each file.
    fn latest_xxh64(&self) -> BTreeMap<String, u64> {
        let mut known = BTreeMap::new();
        for g in &self.generations {
            for f in &g.list.files {
                let good = f
                    .hashes
                    .iter()
                    .find(|h| h.format == HashFormat::Xxh64 && h.action != Some(Action::Failed));
                if let Some(value) = good.and_then(|h| u64::from_str_radix(&h.value, 16).ok()) {
                    known.insert(f.path.clone(), value);
                }
            }
        }
        known
    }

    /// The first `original` hash of `path`, the one every later check compares with.
    pub fn original(&self, path: &str) -> Option<&HashEntry> {
        self.generations
            .iter()
            .flat_map(|g| &g.list.files)
            .filter(|f| f.path == path)
            .flat_map(|f| &f.hashes)
            .find(|h| h.action == Some(Action::Original))
    }

    /// Every file path the history names.
    pub fn paths(&self) -> BTreeSet<&str> {
        self.generations
            .iter()
            .flat_map(|g| &g.list.files)
            .map(|f| f.path.as_str())
            .collect()
    }

    /// The ignore patterns of the latest generation (the standard's defaults if none).
    pub fn ignore_patterns(&self) -> Vec<String> {
        self.generations
            .last()
            .map(|g| g.list.ignore.clone())
            .filter(|p| !p.is_empty())
            .unwrap_or_else(|| {
                [".DS_Store", "ascmhl", "ascmhl/"]
                    .map(String::from)
                    .to_vec()
            })
    }
}

fn key(text: &str) -> RelPath {
    RelPath::new(text).expect("a fixed, valid key")
}

fn read_all(dest: &dyn ReadDestination, k: &RelPath) -> Result<Vec<u8>, MhlError> {
    let mut bytes = Vec::new();
    dest.read(k)?
        .read_to_end(&mut bytes)
        .map_err(|e| MhlError::Io {
            path: PathBuf::from(format!("{}:{k}", dest.name())),
            source: e,
        })?;
    Ok(bytes)
}

fn text(file: &str, bytes: Vec<u8>) -> Result<String, MhlError> {
    String::from_utf8(bytes).map_err(|_| MhlError::Malformed {
        file: file.into(),
        message: "not UTF-8".into(),
    })
}

/// The generation number in a generation file's name (`0003_…​.mhl`), if it is one.
fn generation_number(file_name: &str) -> Option<u32> {
    let stem = file_name.strip_suffix(".mhl")?;
    if file_name.starts_with("._") {
        return None;
    }
    let digits: String = stem.chars().take_while(char::is_ascii_digit).collect();
    if digits.len() < 4 || !(stem.len() == digits.len() || stem[digits.len()..].starts_with('_')) {
        return None;
    }
    digits.parse().ok()
}

/// Loads the history at the root of `dest`: every generation, each checked against
/// the chain file. An empty history where there is no `ascmhl/` folder.
pub fn load(dest: &dyn ReadDestination) -> Result<History, MhlError> {
    let folder = key(FOLDER);
    let objects = dest.list(Some(&folder))?;
    let mut history = History::default();
    let chain_key = folder.join(&key(CHAIN_FILE));
    if objects.iter().any(|o| o.key == chain_key) {
        history.chain = format::parse_chain(&text(CHAIN_FILE, read_all(dest, &chain_key)?)?)
            .map_err(|e| MhlError::Malformed {
                file: CHAIN_FILE.into(),
                message: e.to_string(),
            })?;
    }
    let mut found: BTreeMap<String, Vec<u8>> = BTreeMap::new();
    for o in &objects {
        // Only the generations directly in `ascmhl/`.
        if o.key.parent().as_ref() != Some(&folder) {
            continue;
        }
        let name = String::from_utf8_lossy(o.key.file_name()).into_owned();
        if generation_number(&name).is_some() {
            found.insert(name, read_all(dest, &o.key)?);
        }
    }
    for link in &history.chain {
        match found.get(&link.path) {
            None => {
                return Err(MhlError::Missing {
                    file: link.path.clone(),
                });
            }
            Some(bytes) if format::c4_of(bytes) != link.c4 => {
                return Err(MhlError::Modified {
                    file: link.path.clone(),
                });
            }
            Some(_) => {}
        }
    }
    for (file, bytes) in found {
        let number = generation_number(&file).expect("filtered above");
        let list = HashList::parse(&text(&file, bytes)?).map_err(|e| MhlError::Malformed {
            file: file.clone(),
            message: e.to_string(),
        })?;
        history.generations.push(Generation { number, file, list });
    }
    history.generations.sort_by_key(|g| g.number);
    Ok(history)
}

/// A file an ingest put at a place, or found there, with the hash of the card's bytes.
#[derive(Debug, Clone)]
pub struct Sealed {
    pub path: RelPath,
    pub size: u64,
    pub xxh64: u64,
}

/// The content and structure hashes (xxh64) of every folder holding one of `files`,
/// the root as `""`: content hashes the sorted hashes of the folder's children,
/// structure hashes the sorted hashes of each child's name and (structure) hash.
pub fn folder_hashes(files: &BTreeMap<String, u64>) -> BTreeMap<String, (u64, u64)> {
    // Children of each folder: name → (content, structure) hash.
    let mut children: BTreeMap<String, BTreeMap<String, (u64, u64)>> = BTreeMap::new();
    children.entry(String::new()).or_default();
    for (path, &hash) in files {
        let (folder, name) = path.rsplit_once('/').unwrap_or(("", path));
        children
            .entry(folder.to_string())
            .or_default()
            .insert(name.to_string(), (hash, hash));
        // Make sure each ancestor folder exists.
        let mut f = folder;
        while !f.is_empty() {
            let parent = f.rsplit_once('/').map(|(p, _)| p).unwrap_or("");
            children.entry(parent.to_string()).or_default();
            f = parent;
        }
    }
    let mut hashes: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    // Deepest folders first, so that each folder's hashes are known before its
    // parent's; each adds itself to its parent's children.
    let mut folders: Vec<String> = children.keys().cloned().collect();
    folders.sort_by_key(|f| std::cmp::Reverse(f.split('/').count() * usize::from(!f.is_empty())));
    for folder in folders {
        let entries = children.remove(&folder).unwrap_or_default();
        let mut content: Vec<u64> = entries.values().map(|(c, _)| *c).collect();
        let mut structure: Vec<u64> = entries
            .iter()
            .map(|(name, (_, s))| {
                let mut h = xxhash_rust::xxh64::Xxh64::new(0);
                h.update(name.as_bytes());
                h.update(&s.to_be_bytes());
                h.digest()
            })
            .collect();
        let folder_hash = (hash_of_hashes(&mut content), hash_of_hashes(&mut structure));
        if !folder.is_empty() {
            let (parent, name) = folder.rsplit_once('/').unwrap_or(("", &folder));
            children
                .get_mut(parent)
                .expect("every ancestor is registered")
                .insert(name.to_string(), folder_hash);
        }
        hashes.insert(folder, folder_hash);
    }
    hashes
}

/// xxh64 of the hashes' bytes, in the order of their hex strings.
fn hash_of_hashes(list: &mut [u64]) -> u64 {
    list.sort_unstable();
    let mut h = xxhash_rust::xxh64::Xxh64::new(0);
    for v in list.iter() {
        h.update(&v.to_be_bytes());
    }
    h.digest()
}

fn hex64(v: u64) -> String {
    format!("{v:016x}")
}

fn iso(time: DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Secs, false)
}

fn hostname() -> String {
    rustix::system::uname()
        .nodename()
        .to_string_lossy()
        .into_owned()
}

/// A new generation's header.
fn new_list(process: &str, now: DateTime<Utc>) -> HashList {
    HashList {
        creation_date: iso(now),
        hostname: hostname(),
        tool: "triplicate".into(),
        tool_version: env!("CARGO_PKG_VERSION").into(),
        process: process.into(),
        ignore: IGNORE.iter().map(|p| p.to_string()).collect(),
        ..HashList::default()
    }
}

/// Adds a generation for `files` to the history at the root of `dest` (see the
/// module documentation). `folder` names the place in the generation's file name.
/// Returns the generation's key.
pub fn append_generation(
    dest: &dyn WriteDestination,
    folder: &str,
    files: &[Sealed],
    now: DateTime<Utc>,
) -> Result<RelPath, MhlError> {
    let history = load(dest)?;
    let known = history.latest_xxh64();
    let date = Some(iso(now));
    let mut list = new_list("transfer", now);
    let mut all = known.clone();
    let mut touched = BTreeSet::new();
    for f in files {
        let path = f.path.to_string();
        let action = match known.get(&path) {
            None => Action::Original,
            Some(&h) if h == f.xxh64 => Action::Verified,
            Some(_) => Action::Failed,
        };
        if action != Action::Failed {
            all.insert(path.clone(), f.xxh64);
        }
        let mut folder = path.as_str();
        while let Some((parent, _)) = folder.rsplit_once('/') {
            touched.insert(parent.to_string());
            folder = parent;
        }
        list.files.push(FileEntry {
            path,
            size: Some(f.size),
            modified: None,
            hashes: vec![HashEntry {
                format: HashFormat::Xxh64,
                value: hex64(f.xxh64),
                action: Some(action),
                date: date.clone(),
            }],
            previous_path: None,
        });
    }
    list.files.sort_by(|a, b| a.path.cmp(&b.path));
    let hashes = folder_hashes(&all);
    let dir_hash = |(content, structure): (u64, u64)| DirectoryHash {
        format: HashFormat::Xxh64,
        content: hex64(content),
        structure: hex64(structure),
        date: date.clone(),
    };
    // Deepest first, as the reference tool lists them (after their contents).
    let mut touched: Vec<String> = touched.into_iter().collect();
    touched.sort_by(|a, b| {
        b.matches('/')
            .count()
            .cmp(&a.matches('/').count())
            .then(a.cmp(b))
    });
    for path in touched {
        if let Some(h) = hashes.get(&path) {
            list.directories.push(DirectoryEntry {
                hashes: vec![dir_hash(*h)],
                path,
            });
        }
    }
    list.root = vec![dir_hash(hashes[""])];
    write_generation(dest, folder, &history, &list, now)
}

/// Writes `list` as the next generation and rewrites the chain file to name it.
fn write_generation(
    dest: &dyn WriteDestination,
    folder: &str,
    history: &History,
    list: &HashList,
    now: DateTime<Utc>,
) -> Result<RelPath, MhlError> {
    let bytes = list.to_xml().into_bytes();
    let folder_name: String = folder
        .chars()
        .map(|c| if c == '/' || c.is_control() { '_' } else { c })
        .collect();
    let stamp = now.format("%Y-%m-%d_%H%M%SZ");
    let mut number = history.generations.last().map_or(0, |g| g.number) + 1;
    // Another writer may take the number first: take the next.
    let (file, generation_key) = loop {
        let file = format!("{number:04}_{folder_name}_{stamp}.mhl");
        let k =
            key(FOLDER).join(
                &RelPath::new(file.as_str()).map_err(|e| MhlError::Malformed {
                    file: file.clone(),
                    message: e.to_string(),
                })?,
            );
        match dest.put(&k, &mut bytes.as_slice(), bytes.len() as u64) {
            Ok(_) => break (file, k),
            Err(DestError::AlreadyExists { .. }) if number < history_limit(history) => number += 1,
            Err(e) => return Err(e.into()),
        }
    };
    // The chain: every generation the history has, then this one. Generations that
    // the chain did not name yet (written by a tool that keeps no chain) are named too.
    let mut links = history.chain.clone();
    for g in &history.generations {
        if !links.iter().any(|l| l.path == g.file) {
            let bytes = read_all(dest, &key(FOLDER).join(&key(&g.file)))?;
            links.push(ChainLink {
                sequence: g.number,
                path: g.file.clone(),
                c4: format::c4_of(&bytes),
            });
        }
    }
    links.push(ChainLink {
        sequence: number,
        path: file,
        c4: format::c4_of(&bytes),
    });
    links.sort_by_key(|l| l.sequence);
    replace(
        dest,
        &key(FOLDER).join(&key(CHAIN_FILE)),
        format::chain_to_xml(&links).as_bytes(),
    )?;
    Ok(generation_key)
}

fn history_limit(history: &History) -> u32 {
    history.generations.last().map_or(0, |g| g.number) + 100
}

/// Replaces a small file: the new bytes are stored beside it, then moved over it.
/// Destinations never replace on `put`, so the old one is removed first; a crash
/// in between leaves the new bytes beside, and the next generation rebuilds the
/// chain from the generations themselves.
fn replace(dest: &dyn WriteDestination, target: &RelPath, bytes: &[u8]) -> Result<(), MhlError> {
    let name = String::from_utf8_lossy(target.file_name()).into_owned();
    let beside = target
        .with_file_name(format!(".{name}.{}", uuid::Uuid::new_v4().simple()).as_bytes())
        .expect("a valid name");
    dest.put(&beside, &mut &bytes[..], bytes.len() as u64)?;
    if dest.stat(target)?.is_some() {
        dest.remove(target)?;
    }
    dest.rename(&beside, target)?;
    Ok(())
}

#[cfg(test)]
mod tests;
