//! Destinations: places that hold copies.
//!
//! A destination is a few methods split by capability, after rustic_core's backends:
//! [`ReadDestination`] (stat, list, read from the device) and [`WriteDestination`]
//! (atomic put that never replaces, sweep of interrupted puts, remove for `prune`).
//! Destinations travel as `Arc<dyn WriteDestination>`, built by [`open`], the one place
//! where the stack is assembled.
//!
//! Every destination is self-describing: `.triplicate/destination.toml` ([`Marker`])
//! holds its id, media and site. A destination whose marker is missing is "not
//! mounted" and is never written: an empty mount point must not receive a backup.
//!
//! Destinations classify their own errors ([`DestError::class`]) as transient or
//! permanent, so that retry code asks rather than guesses.

#[cfg(any(test, feature = "testing"))]
pub mod conformance;
pub mod encrypted;
#[cfg(any(test, feature = "testing"))]
pub mod faulty;
pub mod local;
pub mod manifest;
pub mod remote;
pub mod staging;

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use crate::config::DestinationConfig;
use crate::fsutil::Space;
use crate::photo::ContentHash;
use crate::relpath::RelPath;

pub use local::LocalDestination;

pub use crate::layout;
pub use crate::vocab::{DestState, FORMAT_VERSION, META_DIR, MediaKind, ONSITE};

/// The contents of `.triplicate/destination.toml`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Marker {
    pub format: u32,
    pub id: String,
    pub name: String,
    pub created: String,
    pub media: MediaKind,
    pub site: String,
    /// The node that created the destination.
    pub node: String,
    /// The age recipients (public keys) its copies are encrypted to when it was set up;
    /// empty for a destination that stores plain files.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub age_recipients: Vec<String>,
}

impl Marker {
    /// A marker for tests: format 1, onsite, on an hdd.
    #[cfg(test)]
    pub(crate) fn for_test(id: &str) -> Marker {
        Marker {
            format: FORMAT_VERSION,
            id: id.into(),
            name: id.into(),
            created: "2026-01-01T00:00:00Z".into(),
            media: MediaKind::Hdd,
            site: ONSITE.into(),
            node: "test".into(),
            age_recipients: Vec::new(),
        }
    }
}

/// An object at a destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectMeta {
    pub key: RelPath,
    pub size: u64,
}

/// What a copy keeps of its original where the store can keep it (disks; S3 and
/// WebDAV keep neither, and manifests carry the time for every store): the
/// modification time, and the permission bits, never wider, so that a copy is no more
/// readable than the photo it copies, and a folder made for it no more open than the
/// folder the photo is in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Likeness {
    pub mtime: Option<std::time::SystemTime>,
    /// The original's mode (`st_mode`); only its read and write bits are kept.
    pub mode: Option<u32>,
    /// The mode of the folder that holds the original.
    pub folder_mode: Option<u32>,
}

impl Likeness {
    /// The mode of a copy of a file of `mode`: its read and write bits (never execute),
    /// and always readable by its owner, so that it can be verified.
    pub fn file_mode(mode: u32) -> u32 {
        (mode & 0o666) | 0o400
    }

    /// The mode of a folder made like a folder of `mode`: its bits, and always the
    /// owner's full access (to write into it).
    pub fn folder_mode(mode: u32) -> u32 {
        (mode & 0o777) | 0o700
    }
}

/// Whether trying again later can help.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ErrorClass {
    /// Timeout, unreachable, disk full, not mounted: may pass.
    Transient,
    /// Permission denied, bad configuration, a wrong disk: needs a person.
    Permanent,
}

impl ErrorClass {
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorClass::Transient => "transient",
            ErrorClass::Permanent => "permanent",
        }
    }
}

/// Something a destination could not do.
#[derive(Debug, thiserror::Error)]
pub enum DestError {
    #[error("destination '{dest}' is not mounted: {} has no .triplicate/destination.toml (plug in or mount the disk; nothing is written to an empty mount point)", root.display())]
    NotMounted { dest: String, root: PathBuf },
    #[error("destination '{dest}' went away during the run: {} no longer leads to the disk that was opened. Nothing more is written to it, and no copy made after it went is counted; plug it back in and run again", root.display())]
    Vanished { dest: String, root: PathBuf },
    #[error("destination '{dest}': the disk at {} is another Triplicate destination (id {found}, expected {expected}); mount the right disk or `dest add` this one under its own name", root.display())]
    WrongDestination {
        dest: String,
        root: PathBuf,
        found: String,
        expected: String,
    },
    #[error("destination '{dest}': marker {} is damaged: {message}", path.display())]
    BadMarker {
        dest: String,
        path: PathBuf,
        message: String,
    },
    #[error("destination '{dest}' is read-only at {} (remount it read-write)", path.display())]
    ReadOnly { dest: String, path: PathBuf },
    #[error("destination '{dest}' is full at {} (free some space or add a larger disk; other destinations go on)", path.display())]
    Full { dest: String, path: PathBuf },
    #[error("destination '{dest}': {key} already exists")]
    AlreadyExists { dest: String, key: RelPath },
    #[error("destination '{dest}': {key} does not exist")]
    NotFound { dest: String, key: RelPath },
    #[error("destination '{dest}': permission denied at {} (check the owner and mode of the folder)", path.display())]
    PermissionDenied { dest: String, path: PathBuf },
    #[error("destination '{dest}' is in use by another triplicate process (lock {}); wait for it to finish", path.display())]
    InUse { dest: String, path: PathBuf },
    #[error("destination '{dest}': the data for {key} could not be read: {source}")]
    Source {
        dest: String,
        key: RelPath,
        source: std::io::Error,
    },
    #[error("destination '{dest}': {key} was announced as {expected} bytes but the data had {got}")]
    LengthMismatch {
        dest: String,
        key: RelPath,
        expected: u64,
        got: u64,
    },
    #[error("destination '{dest}': cannot {op}{}: {message}", key.as_ref().map(|k| format!(" {k}")).unwrap_or_default())]
    Remote {
        dest: String,
        op: &'static str,
        key: Option<RelPath>,
        message: String,
        /// Whether trying again later can help (a timeout, a server error).
        transient: bool,
    },
    #[error("destination '{dest}' cannot hold {key}: {what}")]
    Unsupported {
        dest: String,
        key: RelPath,
        what: &'static str,
    },
    #[error(
        "'{dest}' cannot hold the name {key}: its filesystem (exFAT, FAT or a Windows share) refuses ? : * \" < > | \\, control characters and bytes that are not UTF-8; restore it to a folder on a Linux filesystem (ext4, btrfs, xfs), or rename the photo"
    )]
    NameRefused { dest: String, key: RelPath },
    #[error("destination '{dest}' is encrypted, and {what}")]
    NoKey { dest: String, what: String },
    #[error("destination '{dest}': {key} is not a copy: {what}")]
    NotAFile {
        dest: String,
        key: RelPath,
        /// "a symbolic link stands where a copy should be".
        what: String,
    },
    #[error("destination '{dest}': cannot decrypt {key}: {message}")]
    Decrypt {
        dest: String,
        key: RelPath,
        message: String,
    },
    #[error("destination '{dest}': {message}")]
    Encryption { dest: String, message: String },
    #[error("destination '{dest}': cannot {op} {}: {source}", path.display())]
    Io {
        dest: String,
        op: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
}

impl DestError {
    /// Whether a retry can help. Asked by the engine; never guessed there.
    pub fn class(&self) -> ErrorClass {
        match self {
            DestError::NotMounted { .. }
            | DestError::Vanished { .. }
            | DestError::Full { .. }
            | DestError::InUse { .. }
            | DestError::Source { .. }
            | DestError::Io { .. } => ErrorClass::Transient,
            DestError::WrongDestination { .. }
            | DestError::BadMarker { .. }
            | DestError::ReadOnly { .. }
            | DestError::AlreadyExists { .. }
            | DestError::NotFound { .. }
            | DestError::PermissionDenied { .. }
            | DestError::LengthMismatch { .. }
            | DestError::Unsupported { .. }
            | DestError::NoKey { .. }
            | DestError::Decrypt { .. }
            | DestError::NotAFile { .. }
            | DestError::NameRefused { .. }
            | DestError::Encryption { .. } => ErrorClass::Permanent,
            DestError::Remote { transient, .. } => {
                if *transient {
                    ErrorClass::Transient
                } else {
                    ErrorClass::Permanent
                }
            }
        }
    }

    /// Whether the whole destination is unusable for now (as opposed to one file).
    pub fn stops_destination(&self) -> bool {
        matches!(
            self,
            DestError::NotMounted { .. }
                | DestError::Vanished { .. }
                | DestError::WrongDestination { .. }
                | DestError::BadMarker { .. }
                | DestError::ReadOnly { .. }
                | DestError::Full { .. }
                | DestError::InUse { .. }
                | DestError::NoKey { .. }
                | DestError::Encryption { .. }
                // A store that cannot be reached or refuses the credentials as a whole.
                | DestError::Remote { key: None, .. }
        )
    }

    /// A short word for the destination's state that this error implies.
    pub fn state(&self) -> DestState {
        match self {
            DestError::NotMounted { .. } | DestError::Vanished { .. } => DestState::NotMounted,
            DestError::WrongDestination { .. } => DestState::WrongDisk,
            DestError::BadMarker { .. } => DestState::DamagedMarker,
            DestError::ReadOnly { .. } => DestState::ReadOnly,
            DestError::Full { .. } => DestState::Full,
            DestError::InUse { .. } => DestState::InUse,
            DestError::PermissionDenied { .. } => DestState::PermissionDenied,
            DestError::NoKey { .. } => DestState::NoKey,
            DestError::Encryption { .. } => DestState::EncryptionMisconfigured,
            DestError::Remote {
                transient: true, ..
            } => DestState::Unreachable,
            _ => DestState::Error,
        }
    }
}

/// What a destination can do, asked rather than assumed.
#[derive(Debug, Clone, Copy)]
pub struct Properties {
    /// Whether `put` refuses to replace atomically (rather than check-then-rename).
    pub atomic_no_replace: bool,
    /// Sensible number of concurrent puts.
    pub connections: usize,
    /// How a copy written here is proven, as the catalog records it.
    pub verified_by: &'static str,
    /// Whether the store itself proves an upload: it checks a checksum computed here,
    /// from the same bytes that were hashed, before it accepts them (S3's additional
    /// checksums). A copy written here then needs no read-back.
    pub proven_on_upload: bool,
    /// Whether copies are stored encrypted, as other bytes than they were given.
    pub encrypted: bool,
    /// Whether puts stage in one folder of the store's own, so that sweeping needs
    /// no list of the folders written to (local disks), rather than beside their
    /// targets (SFTP, WebDAV: the engine journals the folders it writes to).
    pub staged: bool,
}

/// How a put stored its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stored {
    /// As given: the stored bytes hash to the hash of the data.
    AsGiven,
    /// Transformed on the way (encrypted): the bytes as stored, which
    /// [`ReadDestination::read_stored`] gives back, are `size` bytes hashing to `hash`.
    Transformed { hash: ContentHash, size: u64 },
}

/// Reading from a destination.
pub trait ReadDestination: Send + Sync {
    /// The destination's name, for messages.
    fn name(&self) -> &str;
    /// Size of the object at `key`, or `None` if there is none.
    fn stat(&self, key: &RelPath) -> Result<Option<ObjectMeta>, DestError>;
    /// Every object under `prefix` (all objects when `None`), recursively.
    fn list(&self, prefix: Option<&RelPath>) -> Result<Vec<ObjectMeta>, DestError>;
    /// The bytes at `key`, read from the device rather than from a cache, so that
    /// hashing them proves what is stored.
    fn read(&self, key: &RelPath) -> Result<Box<dyn Read + Send>, DestError>;
    /// The bytes at `key` as the device holds them: for an encrypted destination the
    /// ciphertext, which can be checked against [`Stored::Transformed`] without the
    /// key. Elsewhere the same as [`ReadDestination::read`].
    fn read_stored(&self, key: &RelPath) -> Result<Box<dyn Read + Send>, DestError> {
        self.read(key)
    }
    /// Free and total space, where the destination knows it.
    fn space(&self) -> Option<Space>;
    /// The permission bits of the object at `key`, where the store has them (disks).
    fn mode(&self, key: &RelPath) -> Option<u32> {
        let _ = key;
        None
    }
}

/// Writing to a destination.
/// How [`WriteDestination::link`] gave a content another name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Linked {
    /// A hard link: the same, verified bytes.
    HardLink,
    /// A copy of its own, stored so.
    Copied(Stored),
}

pub trait WriteDestination: ReadDestination {
    /// Stores exactly `len` bytes from `data` at `key`, atomically: nothing is visible
    /// under `key` until every byte is durable. Never replaces an existing object:
    /// fails with [`DestError::AlreadyExists`]. Fails with [`DestError::Source`] when
    /// `data` fails (the engine aborts a put this way when the original changes), and
    /// with [`DestError::LengthMismatch`] when `data` has more or fewer than `len`.
    /// Says how the bytes were stored: as given, or transformed (encrypted).
    fn put(&self, key: &RelPath, data: &mut dyn Read, len: u64) -> Result<Stored, DestError>;
    /// [`WriteDestination::put`], giving the copy what it keeps of its original
    /// ([`Likeness`]: the modification time and the permission bits) before it is
    /// published, where the store keeps them (disks); others (S3, WebDAV) ignore it.
    fn put_like(
        &self,
        key: &RelPath,
        data: &mut dyn Read,
        len: u64,
        like: Likeness,
    ) -> Result<Stored, DestError> {
        let _ = like;
        self.put(key, data, len)
    }
    /// Makes `to` hold what `from` holds, never replacing what is there (another name
    /// of the same content, invariant 10): a hard link where the store can make one,
    /// which shares the verified bytes, else a copy through [`WriteDestination::put`],
    /// which must be read back before it counts.
    fn link(&self, from: &RelPath, to: &RelPath, len: u64) -> Result<Linked, DestError> {
        let mut reader = self.read(from)?;
        self.put(to, &mut reader, len).map(Linked::Copied)
    }
    /// Removes what interrupted puts left in `folder` (the whole destination when
    /// `None`); returns how many leftovers were removed.
    fn sweep_partials(&self, folder: Option<&RelPath>) -> Result<usize, DestError>;
    /// Moves an object to a new key, never replacing what is there. Repair uses it to
    /// move a damaged copy aside, into `.triplicate/quarantine/`, before rewriting it.
    fn rename(&self, from: &RelPath, to: &RelPath) -> Result<(), DestError>;
    /// Deletes an object. Only `prune` under a retention policy calls this.
    fn remove(&self, key: &RelPath) -> Result<(), DestError>;
    fn properties(&self) -> Properties;
}

/// Opens a configured destination for writing: checks its marker, takes its lock and
/// builds the stack of wrappers around it (see `stack`).
pub fn open(config: &DestinationConfig) -> Result<Arc<dyn WriteDestination>, DestError> {
    stack(config, Access::Write)
}

/// How a destination is opened.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Access {
    /// Locked, for writing.
    Write,
    /// Without a lock, and on a read-only disk too (verify, restore).
    Read,
}

/// The one place where a destination's stack is built: the store (a local folder or a
/// remote one), its marker checked, and its encryption around it.
fn stack(
    config: &DestinationConfig,
    access: Access,
) -> Result<Arc<dyn WriteDestination>, DestError> {
    let (dest, marker): (Arc<dyn WriteDestination>, Marker) = if config.is_remote() {
        let remote = connect(config)?;
        let marker = remote.check_marker(&config.id)?;
        (Arc::new(remote), marker)
    } else {
        let (name, root) = (&config.name, config.local_root());
        let local = match access {
            Access::Write => LocalDestination::open(name, &root, &config.id)?,
            Access::Read => LocalDestination::open_read_only(name, &root, &config.id)?,
        };
        let marker = LocalDestination::check_marker(name, &root, &config.id)?;
        (Arc::new(local), marker)
    };
    match encrypted::Encryption::of(config, &marker)? {
        Some(encryption) => Ok(Arc::new(encrypted::EncryptedDestination::new(
            dest, encryption,
        ))),
        None => Ok(dest),
    }
}

/// A remote destination, connected with its configured credentials.
pub fn connect(config: &DestinationConfig) -> Result<remote::RemoteDestination, DestError> {
    if let Some(path) = &config.credentials_file
        && crate::fsutil::readable_by_others(path)
    {
        tracing::warn!(
            destination = %config.name,
            "credentials file {} can be read by other users: chmod 600 it",
            path.display()
        );
    }
    let Some(target) = config.target.remote() else {
        return Err(DestError::Remote {
            dest: config.name.clone(),
            op: "configure",
            key: None,
            message: format!("{} is a local folder, not a remote store", config.target),
            transient: false,
        });
    };
    let remote = remote::RemoteDestination::open(
        &config.name,
        config.target.as_str(),
        target,
        config.credentials_file.as_deref(),
        config.bandwidth.as_deref().map(|r| r.0),
    )?;
    match config.object_lock() {
        Some((mode, period)) => {
            remote.with_object_lock(config.credentials_file.as_deref(), mode, period)
        }
        None => Ok(remote),
    }
}

/// Opens a configured destination for reading only (verify, restore): checks its
/// marker, takes no lock, works on a read-only disk.
pub fn open_read(config: &DestinationConfig) -> Result<Arc<dyn ReadDestination>, DestError> {
    let dest: Arc<dyn ReadDestination> = stack(config, Access::Read)?;
    Ok(dest)
}

/// Reads the marker of a configured destination without locking it: for `status`.
pub fn probe(config: &DestinationConfig) -> Result<Marker, DestError> {
    if config.is_remote() {
        return connect(config)?.check_marker(&config.id);
    }
    LocalDestination::check_marker(&config.name, &config.local_root(), &config.id)
}

/// The device a configured destination stores on, when it can be told now: a remote
/// store always (from its URL), a local folder only while its marker is there (an
/// empty mount point sits on the disk below it, not on the destination's disk).
pub fn device_of(config: &DestinationConfig) -> Option<crate::device::Device> {
    if let Some(target) = config.target.remote() {
        return Some(target.device());
    }
    let root = config.local_root();
    LocalDestination::check_marker(&config.name, &root, &config.id).ok()?;
    crate::device::of_path(&root).ok()
}
