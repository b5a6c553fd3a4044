//! Archives: whole-system snapshots as one `.tar.gz` (or `.tar.zst`) file, to keep off
//! the machine and bring back (issue #9; `docs/archive-format.md` is the format's
//! reference).
//!
//! An archive is a tar stream, compressed, whose **first entry** is
//! `triplicate-archive.json` ([`Manifest`]): its kind, node, creation time, tool
//! version, and every file it holds with its size and BLAKE3 hash. So any archive can
//! be checked with `tar`, `gzip` and `b3sum` alone.
//!
//! - [`create`] writes the two kinds: **config** (config.toml, a consistent copy of the
//!   catalog, the destinations without secrets, optional sections) and **images** (date
//!   folders of the libraries), between the `pre` and `post` hooks, in stages.
//! - `check` is the strict reader every foreign archive goes through: [`import`] and
//!   [`restore`] accept nothing it rejects.
//! - [`copy_to`] sends an archive to a destination; `retention` pins, deletes and
//!   prunes; this module lists and finds.

mod check;
mod copy;
mod create;
mod estimate;
mod hooks;
mod import;
mod read;
mod restore;
mod retention;
mod write;

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::home::Triplicate;

pub use check::{Limits, RATIO_FLOOR, Rejection, validate};
pub use copy::{AtDestination, Copied, DEST_FOLDER, copy_to, import_from_destination, list_at};
pub use create::{Created, Request, create, date_folder_of};
pub use estimate::{Estimate, estimate};
pub use import::import;
pub use read::{Verified, read_manifest, verify};
pub use restore::{RestoreRequest, Restored, restore};
pub use retention::{Pruned, delete, pin, pinned, prune, unpin};

/// The name of the first entry of every archive.
pub const MANIFEST: &str = "triplicate-archive.json";
/// The manifest's `format` value, and the version this program writes.
pub const FORMAT: &str = "triplicate-archive";
pub const VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(transparent)]
    Catalog(#[from] crate::catalog::CatalogError),
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("archive {}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    /// A foreign archive failed the strict checks; nothing was kept.
    #[error("archive {} is rejected: {reason}", path.display())]
    Rejected { path: PathBuf, reason: Rejection },
    #[error("no archive '{0}' (see `triplicate archive list`)")]
    Unknown(String),
    #[error(
        "no archive section '{name}' in config.toml (sections: {known}); declare it under [archive.sections.{name}]"
    )]
    UnknownSection { name: String, known: String },
    #[error(
        "no date folder '{name}' in the libraries (see `triplicate archive create --kind images --estimate`)"
    )]
    UnknownFolder { name: String },
    #[error("archive {id} is already in the archives folder ({})", file.display())]
    AlreadyThere { id: String, file: PathBuf },
    #[error("the {which} hook `{command}` failed: {message} (its output is in {})", log.display())]
    Hook {
        which: &'static str,
        command: String,
        message: String,
        log: PathBuf,
    },
    #[error("nothing to archive: {0}")]
    Nothing(String),
    #[error("stopped before the archive was finished (Ctrl-C or SIGTERM); nothing was kept")]
    Cancelled,
    #[error("{} already exists{more}; pass --force to replace what is there", path.display())]
    Exists { path: PathBuf, more: String },
    #[error(
        "restoring the core files replaces config.toml and the catalog: confirm it (--yes); the current ones are archived first"
    )]
    NeedsConfirmation,
    #[error(transparent)]
    Destination(#[from] crate::destination::DestError),
    #[error("no destination '{0}' (see `triplicate dest list`)")]
    UnknownDestination(String),
    #[error(
        "this node is append-only (grid.append_only = true in config.toml): archives are not deleted here"
    )]
    AppendOnly,
    #[error("{0}; restore it elsewhere with --to DIR")]
    NoPlace(String),
    #[error("there is not enough space in {}: {needed} bytes needed, {free} free", path.display())]
    NoSpace {
        path: PathBuf,
        needed: u64,
        free: u64,
    },
}

impl crate::fault::Classify for ArchiveError {
    fn fault(&self) -> crate::fault::Fault {
        use crate::fault::Fault;
        match self {
            ArchiveError::Unknown(_)
            | ArchiveError::UnknownSection { .. }
            | ArchiveError::UnknownFolder { .. }
            | ArchiveError::UnknownDestination(_) => Fault::NotFound,
            ArchiveError::NeedsConfirmation | ArchiveError::AppendOnly => Fault::Usage,
            _ => Fault::Failed,
        }
    }
}

pub type Result<T> = std::result::Result<T, ArchiveError>;

/// What an archive holds.
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord, Hash,
)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The configuration, the catalog and optional sections.
    #[default]
    Config,
    /// Date folders of images.
    Images,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Config => "config",
            Kind::Images => "images",
        }
    }
}

impl std::str::FromStr for Kind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Kind, String> {
        match s {
            "config" => Ok(Kind::Config),
            "images" => Ok(Kind::Images),
            _ => Err(format!("'{s}' is not an archive kind (config, images)")),
        }
    }
}

/// How the tar stream is compressed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// `.tar.gz`, one gzip member, compressed on every core.
    #[default]
    Gzip,
    /// `.tar.zst`, one zstd frame, compressed on every core.
    Zstd,
}

impl Compression {
    /// The file name's ending, with its dot.
    pub fn extension(self) -> &'static str {
        match self {
            Compression::Gzip => ".tar.gz",
            Compression::Zstd => ".tar.zst",
        }
    }

    /// The compression of a file named `name`, if it is an archive's name.
    pub(crate) fn of_name(name: &str) -> Option<Compression> {
        if name.ends_with(".tar.gz") {
            Some(Compression::Gzip)
        } else if name.ends_with(".tar.zst") {
            Some(Compression::Zstd)
        } else {
            None
        }
    }
}

/// One file in an archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// The entry's path in the archive.
    pub path: String,
    pub size: u64,
    pub blake3: String,
}

/// `triplicate-archive.json`, the first entry of every archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `triplicate-archive`.
    pub format: String,
    pub version: u32,
    pub id: String,
    pub kind: Kind,
    pub node: String,
    /// RFC 3339, UTC.
    pub created: String,
    /// The program that wrote it, e.g. "triplicate 0.1.0".
    pub tool: String,
    /// For config archives: `core` and the optional sections included.
    #[serde(default)]
    pub sections: Vec<String>,
    /// For image archives: the date folders included (`LIBRARY/FOLDER`).
    #[serde(default)]
    pub folders: Vec<String>,
    pub files: Vec<ManifestFile>,
}

impl Manifest {
    pub fn total_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }

    /// The archive's file name: `<kind>-<id>.tar.gz` or `.tar.zst`.
    pub fn file_name(&self, compression: Compression) -> String {
        format!(
            "{}-{}{}",
            self.kind.as_str(),
            self.id,
            compression.extension()
        )
    }
}

/// Whether `id` can be an archive id: what this program writes is
/// `YYYYMMDDTHHMMSSZ-xxxxxxxx`; any short run of letters, digits and dashes is read.
pub(crate) fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 64 && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// The archives folder: `[archive] folder` in the config, else `archives/` beside it.
pub fn folder(t: &Triplicate) -> PathBuf {
    t.config.archive.folder.clone().unwrap_or_else(|| {
        t.home
            .config
            .parent()
            .unwrap_or(Path::new("."))
            .join("archives")
    })
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> ArchiveError {
    let path = path.to_path_buf();
    move |source| ArchiveError::Io { what, path, source }
}

fn invalid(path: &Path, e: impl ToString) -> ArchiveError {
    ArchiveError::Invalid {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// An archive in the archives folder.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub id: String,
    pub kind: Kind,
    pub file: PathBuf,
    pub compression: Compression,
    /// Bytes of the archive file.
    pub size: u64,
    /// Bytes of the files it holds.
    pub content_size: u64,
    pub created: String,
    pub node: String,
    pub files: usize,
    pub sections: Vec<String>,
    pub folders: Vec<String>,
    /// Kept by `archive prune` whatever its age.
    pub pinned: bool,
    /// The log of its creation (stages, warnings, hook output), when there is one.
    pub log: Option<PathBuf>,
}

/// The log beside an archive: `<kind>-<id>.log`.
pub(crate) fn log_path(dir: &Path, kind: Kind, id: &str) -> PathBuf {
    dir.join(format!("{}-{id}.log", kind.as_str()))
}

/// Every archive in the archives folder, by kind, newest first. Files that are not
/// archives are left out; archives that do not read are listed in the second value.
pub fn list(t: &Triplicate) -> Result<(Vec<Listed>, Vec<ArchiveError>)> {
    let dir = folder(t);
    let mut out = Vec::new();
    let mut broken = Vec::new();
    let Ok(entries) = fs::read_dir(&dir) else {
        return Ok((out, broken));
    };
    let pins = pinned(t)?;
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(compression) = Compression::of_name(&name) else {
            continue;
        };
        if name.starts_with('.') {
            continue;
        }
        match read_manifest(&path) {
            Ok(m) => {
                let log = log_path(&dir, m.kind, &m.id);
                out.push(Listed {
                    id: m.id.clone(),
                    kind: m.kind,
                    compression,
                    size: entry.metadata().map(|m| m.len()).unwrap_or(0),
                    content_size: m.total_size(),
                    created: m.created.clone(),
                    node: m.node.clone(),
                    files: m.files.len(),
                    pinned: pins.contains(&m.id),
                    log: log.exists().then_some(log),
                    sections: m.sections,
                    folders: m.folders,
                    file: path,
                })
            }
            Err(e) => broken.push(e),
        }
    }
    out.sort_by(|a, b| {
        a.kind
            .cmp(&b.kind)
            .then(b.created.cmp(&a.created))
            .then(b.id.cmp(&a.id))
    });
    Ok((out, broken))
}

/// The archive with this id (or a unique prefix of it).
pub fn find(t: &Triplicate, id: &str) -> Result<Listed> {
    let (all, _) = list(t)?;
    let mut matching = all.into_iter().filter(|a| a.id.starts_with(id));
    match (matching.next(), matching.next()) {
        (Some(a), None) if !id.is_empty() => Ok(a),
        _ => Err(ArchiveError::Unknown(id.into())),
    }
}

/// A new archive id: the time, then 8 random hex digits.
pub(crate) fn new_id(now: chrono::DateTime<chrono::Utc>) -> String {
    format!(
        "{}-{}",
        now.format("%Y%m%dT%H%M%SZ"),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    )
}
