//! Single-read fan-out: read a photo once, write it to every destination at once.
//!
//! [`fan_out`] reads the original in large chunks, hashes each chunk, and hands the
//! same chunk (shared, not copied) to one writer thread per destination through a
//! bounded channel, so memory stays bounded and the slowest writer sets the pace.
//! Each writer sees a [`ChunkReader`], an ordinary `Read`, and calls
//! [`WriteDestination::put`] with it. Only after the last byte does the reader check
//! that the original held still and hashed as planned; if not, every writer's reader
//! fails instead of ending, so no put is ever published with bytes that were not the
//! photo. After a put, each writer reads the copy back from the device and compares
//! hashes: only then is it verified. A store that proves the upload itself (S3 checks
//! our CRC32C of every part, [`crate::destination::Properties::proven_on_upload`]) is
//! not read back. An encrypted destination stores other bytes than it was given; its
//! put returns their hash ([`Stored::Transformed`]), and those bytes are read back.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::sync::Arc;
use std::sync::mpsc::{Receiver, SyncSender, sync_channel};

use crate::destination::layout::candidate_keys;
use crate::destination::{DestError, ReadDestination, Stored, WriteDestination};
use crate::photo::{ContentHash, HASH_BUFFER};
use crate::relpath::RelPath;

/// Chunks in flight per writer.
const CHANNEL_DEPTH: usize = 4;

enum Msg {
    Data(Arc<Vec<u8>>),
    End,
    Abort(String),
}

/// The writer's side of the fan-out: yields the chunks, then EOF, or an error if the
/// reader aborted.
pub struct ChunkReader<'a> {
    rx: Receiver<Msg>,
    chunk: Option<Arc<Vec<u8>>>,
    pos: usize,
    /// The end was received: every later read returns 0, as `Read` requires.
    ended: bool,
    on_bytes: &'a (dyn Fn(u64) + Sync),
}

impl Read for ChunkReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some(chunk) = &self.chunk
                && self.pos < chunk.len()
            {
                let n = buf.len().min(chunk.len() - self.pos);
                buf[..n].copy_from_slice(&chunk[self.pos..self.pos + n]);
                self.pos += n;
                (self.on_bytes)(n as u64);
                return Ok(n);
            }
            if self.ended {
                return Ok(0);
            }
            match self.rx.recv() {
                Ok(Msg::Data(c)) => {
                    self.chunk = Some(c);
                    self.pos = 0;
                }
                Ok(Msg::End) => {
                    self.ended = true;
                    return Ok(0);
                }
                Ok(Msg::Abort(why)) => return Err(io::Error::other(why)),
                Err(_) => return Err(io::Error::other("the reader of the original stopped")),
            }
        }
    }
}

/// One destination's part of a fan-out.
pub struct Target<'a> {
    pub dest: &'a dyn WriteDestination,
    pub key: RelPath,
}

/// Why a target did not end with a verified copy.
#[derive(Debug, thiserror::Error)]
pub enum TargetError {
    #[error(transparent)]
    Dest(#[from] DestError),
    #[error(
        "destination '{dest}': {key} read back with hash {found}, expected {expected}; the copy is damaged (bad disk, cable or memory?)"
    )]
    Mismatch {
        dest: String,
        key: RelPath,
        expected: String,
        found: String,
    },
    #[error("destination '{dest}': {key} could not be read back: {source}")]
    ReadBack {
        dest: String,
        key: RelPath,
        source: io::Error,
    },
}

impl TargetError {
    /// Whether a retry can help: the destination says so for its own errors; a copy that
    /// read back wrong may be a passing fault (cable, memory) and is written again.
    pub fn class(&self) -> crate::destination::ErrorClass {
        match self {
            TargetError::Dest(d) => d.class(),
            TargetError::Mismatch { .. } | TargetError::ReadBack { .. } => {
                crate::destination::ErrorClass::Transient
            }
        }
    }

    /// Worth another attempt in the same run: a name taken meanwhile, or a transient
    /// failure of this file that does not put the whole destination out of action.
    pub fn is_worth_retrying(&self) -> bool {
        match self {
            TargetError::Dest(DestError::AlreadyExists { .. }) => true,
            TargetError::Dest(d) => {
                !d.stops_destination() && d.class() == crate::destination::ErrorClass::Transient
            }
            _ => true,
        }
    }
}

/// Why the original could not be read, for all targets at once.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("cannot read {}: {source}", path.display())]
    Unreadable {
        path: std::path::PathBuf,
        source: io::Error,
    },
    #[error("{} changed while it was being copied; it will be copied on the next run", path.display())]
    Changed { path: std::path::PathBuf },
}

impl SourceError {
    /// Why, in a few words ("permission denied").
    pub fn reason(&self) -> String {
        match self {
            SourceError::Unreadable { source, .. } => crate::fsutil::read_error_reason(source),
            SourceError::Changed { .. } => "it changed while it was being read".into(),
        }
    }
}

/// Reads `source` once and writes it to every target; returns one result per target,
/// in order: how each verified copy is stored. `expected` is the hash the catalog
/// recorded: a file whose bytes no longer hash to it has changed since the scan and is
/// not copied.
pub fn fan_out(
    source: &Path,
    size: u64,
    expected: &ContentHash,
    targets: &[Target<'_>],
    on_bytes: &(dyn Fn(usize, u64) + Sync),
) -> Result<Vec<Result<Stored, TargetError>>, SourceError> {
    fan_out_with(source, size, Expect::Hash(expected), targets, on_bytes).map(|(_, r)| r)
}

/// How one target of a fan-out ended: how its verified copy is stored, or why not.
pub type CopyResult = Result<Stored, TargetError>;

/// The hashes of the bytes a [`fan_out_learning`] read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Learned {
    pub blake3: ContentHash,
    /// xxh64, the ASC MHL interchange hash.
    pub xxh64: u64,
}

/// Like [`fan_out`], for an original whose hash is not known yet (a card): the hashes
/// are computed in the same single read, and each copy is read back and checked
/// against them. The original must still hold still while it is read.
///
/// The hashes are `None` when every writer failed before the end of the read.
pub fn fan_out_learning(
    source: &Path,
    size: u64,
    targets: &[Target<'_>],
    on_bytes: &(dyn Fn(usize, u64) + Sync),
) -> Result<(Option<Learned>, Vec<CopyResult>), SourceError> {
    fan_out_with(source, size, Expect::Nothing, targets, on_bytes)
}

/// What the read of the original is checked against.
#[derive(Clone, Copy)]
enum Expect<'a> {
    /// The hash the catalog recorded.
    Hash(&'a ContentHash),
    /// Nothing yet: learn the hashes from this read.
    Nothing,
}

fn fan_out_with(
    source: &Path,
    size: u64,
    expect: Expect<'_>,
    targets: &[Target<'_>],
    on_bytes: &(dyn Fn(usize, u64) + Sync),
) -> Result<(Option<Learned>, Vec<CopyResult>), SourceError> {
    let unreadable = |source_err| SourceError::Unreadable {
        path: source.into(),
        source: source_err,
    };
    let mut file = File::open(source).map_err(unreadable)?;
    let before = file.metadata().map_err(unreadable)?;
    if before.len() != size {
        return Err(SourceError::Changed {
            path: source.into(),
        });
    }

    // The copy keeps the original's modification time and permission bits, where the
    // store can.
    let mode_of = |m: &std::fs::Metadata| std::os::unix::fs::PermissionsExt::mode(&m.permissions());
    let like = crate::destination::Likeness {
        mtime: before.modified().ok(),
        mode: Some(mode_of(&before)),
        folder_mode: source
            .parent()
            .and_then(|p| std::fs::metadata(p).ok())
            .map(|m| mode_of(&m)),
    };
    // The hash of what was read, set before the writers are told the end has come.
    let read_hash: std::sync::OnceLock<ContentHash> = std::sync::OnceLock::new();
    std::thread::scope(|scope| {
        let mut senders: Vec<Option<SyncSender<Msg>>> = Vec::new();
        let mut handles = Vec::new();
        for (i, t) in targets.iter().enumerate() {
            let (tx, rx) = sync_channel(CHANNEL_DEPTH);
            senders.push(Some(tx));
            let counter = move |n: u64| on_bytes(i, n);
            let read_hash = &read_hash;
            handles.push(scope.spawn(move || {
                let mut reader = ChunkReader {
                    rx,
                    chunk: None,
                    pos: 0,
                    ended: false,
                    on_bytes: &counter,
                };
                let stored = t.dest.put_like(&t.key, &mut reader, size, like)?;
                drop(reader);
                if t.dest.properties().proven_on_upload {
                    // The store checked our checksum of these very bytes.
                    return Ok(stored);
                }
                // A put ends only after the end of the read, when its hash is known.
                let expected = read_hash.get().expect("set before the end is sent");
                verify_copy(t.dest, &t.key, expected, stored).map(|()| stored)
            }));
        }

        let outcome = pump(source, &mut file, size, expect, &mut senders, &before);
        let mut learned = None;
        if let Pumped::Complete { blake3, xxh64 } = outcome {
            read_hash.set(blake3).expect("set once");
            learned = xxh64.map(|xxh64| Learned { blake3, xxh64 });
        }
        for tx in senders.iter_mut().filter_map(Option::take) {
            let _ = tx.send(match &outcome {
                Pumped::Complete { .. } | Pumped::NoWriterLeft => Msg::End,
                Pumped::Unreadable(e) => Msg::Abort(format!("the original could not be read: {e}")),
                Pumped::Changed => Msg::Abort("the original changed while being read".into()),
            });
        }
        let results: Vec<Result<Stored, TargetError>> = handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect();
        match outcome {
            Pumped::Complete { .. } | Pumped::NoWriterLeft => Ok((learned, results)),
            Pumped::Unreadable(e) => Err(unreadable(e)),
            Pumped::Changed => Err(SourceError::Changed {
                path: source.into(),
            }),
        }
    })
}

/// How reading the original ended.
enum Pumped {
    /// Every byte was read and held still; the hashes of what was read (xxh64 when
    /// learning).
    Complete {
        blake3: ContentHash,
        xxh64: Option<u64>,
    },
    /// Every writer failed on its own; their errors say why.
    NoWriterLeft,
    Unreadable(io::Error),
    Changed,
}

/// Reads, hashes and distributes the original.
fn pump(
    path: &Path,
    file: &mut File,
    size: u64,
    expect: Expect<'_>,
    senders: &mut [Option<SyncSender<Msg>>],
    before: &std::fs::Metadata,
) -> Pumped {
    let mut hasher = blake3::Hasher::new();
    let mut xxh64 = matches!(expect, Expect::Nothing).then(|| xxhash_rust::xxh64::Xxh64::new(0));
    let mut total = 0u64;
    loop {
        let mut chunk = vec![
            0u8;
            HASH_BUFFER
                .min((size - total.min(size)) as usize + 1)
                .max(1)
        ];
        let n = loop {
            match file.read(&mut chunk) {
                Ok(n) => break n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => return Pumped::Unreadable(e),
            }
        };
        if n == 0 {
            break;
        }
        chunk.truncate(n);
        hasher.update(&chunk);
        if let Some(x) = xxh64.as_mut() {
            x.update(&chunk);
        }
        total += n as u64;
        if total > size {
            return Pumped::Changed;
        }
        let chunk = Arc::new(chunk);
        for slot in senders.iter_mut() {
            // A writer that failed has dropped its receiver: stop feeding it.
            if let Some(tx) = slot
                && tx.send(Msg::Data(chunk.clone())).is_err()
            {
                *slot = None;
            }
        }
        if senders.iter().all(Option::is_none) {
            return Pumped::NoWriterLeft;
        }
    }
    let after = match file.metadata() {
        Ok(m) => m,
        Err(e) => return Pumped::Unreadable(e),
    };
    let unchanged = total == size
        && after.len() == before.len()
        && after.mtime() == before.mtime()
        && after.mtime_nsec() == before.mtime_nsec()
        // Still the same file under that name (not deleted or replaced meanwhile).
        && std::fs::symlink_metadata(path).is_ok_and(|m| m.ino() == before.ino());
    let blake3 = ContentHash(*hasher.finalize().as_bytes());
    if !unchanged || matches!(expect, Expect::Hash(h) if *h != blake3) {
        return Pumped::Changed;
    }
    Pumped::Complete {
        blake3,
        xxh64: xxh64.map(|x| x.digest()),
    }
}

/// A reader that hashes what passes through and, at the end, fails instead of
/// ending if the bytes were not `len` bytes hashing to `expected`. Handed to
/// [`WriteDestination::put`], it makes sure that bad bytes (a damaged copy, a changed
/// original) are never published: the put fails and leaves nothing behind.
pub struct VerifyingReader<R> {
    inner: R,
    hasher: blake3::Hasher,
    expected: ContentHash,
    len: u64,
    seen: u64,
}

impl<R: Read> VerifyingReader<R> {
    pub fn new(inner: R, expected: ContentHash, len: u64) -> Self {
        VerifyingReader {
            inner,
            hasher: blake3::Hasher::new(),
            expected,
            len,
            seen: 0,
        }
    }
}

impl<R: Read> Read for VerifyingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n == 0 {
            let found = ContentHash(*self.hasher.finalize().as_bytes());
            if self.seen != self.len || found != self.expected {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidData,
                    format!(
                        "the source holds {} bytes hashing to {}, not the {} bytes hashing to {}",
                        self.seen,
                        found.short(),
                        self.len,
                        self.expected.short()
                    ),
                ));
            }
            return Ok(0);
        }
        self.hasher.update(&buf[..n]);
        self.seen += n as u64;
        Ok(n)
    }
}

/// Where a copy goes at a destination.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// Nothing there yet: write it.
    Write(RelPath),
    /// The same bytes are already there, verified by reading them back, and stored so.
    AlreadyThere(RelPath, Stored),
}

/// Chooses where a photo (`hash`, `size`) goes at `dest`: `first` if it is free or
/// holds these very bytes, else a distinct alternative name (`IMG_0001~a1b2c3d4.JPG`),
/// so that a name held by other content is never replaced.
pub fn choose_key(
    dest: &dyn WriteDestination,
    first: RelPath,
    hash: &ContentHash,
    size: u64,
) -> Result<Placement, TargetError> {
    for key in candidate_keys(&first, hash) {
        match dest.stat(&key)? {
            None => return Ok(Placement::Write(key)),
            Some(meta) if meta.size == size => {
                if let Some(stored) = same_bytes(dest, &key, hash) {
                    return Ok(Placement::AlreadyThere(key, stored));
                }
            }
            Some(_) => {}
        }
    }
    Err(TargetError::Dest(DestError::AlreadyExists {
        dest: dest.name().into(),
        key: first,
    }))
}

/// Whether the object at `key` holds exactly the bytes that hash to `hash`, and if so,
/// how they are stored. An encrypted destination that cannot decrypt here answers no.
pub(crate) fn same_bytes(
    dest: &dyn WriteDestination,
    key: &RelPath,
    hash: &ContentHash,
) -> Option<Stored> {
    verify_copy(dest, key, hash, Stored::AsGiven).ok()?;
    if !dest.properties().encrypted {
        return Some(Stored::AsGiven);
    }
    let (hash, size) = ContentHash::of_reader(&mut dest.read_stored(key).ok()?).ok()?;
    Some(Stored::Transformed { hash, size })
}

/// Reads a copy back from the device and checks its hash: of the plain bytes, or of the
/// bytes as stored when the put transformed them.
pub fn verify_copy(
    dest: &dyn ReadDestination,
    key: &RelPath,
    expected: &ContentHash,
    stored: Stored,
) -> Result<(), TargetError> {
    let (mut reader, expected) = match stored {
        Stored::AsGiven => (dest.read(key)?, expected),
        Stored::Transformed { ref hash, .. } => (dest.read_stored(key)?, hash),
    };
    let (found, _) =
        ContentHash::of_reader(&mut reader).map_err(|source| TargetError::ReadBack {
            dest: dest.name().into(),
            key: key.clone(),
            source,
        })?;
    if found != *expected {
        return Err(TargetError::Mismatch {
            dest: dest.name().into(),
            key: key.clone(),
            expected: expected.to_hex(),
            found: found.to_hex(),
        });
    }
    Ok(())
}

#[cfg(test)]
mod tests;

#[cfg(test)]
mod reader_tests {
    use super::*;

    #[test]
    fn chunk_reader_keeps_returning_eof_after_the_end() {
        let (tx, rx) = sync_channel(4);
        tx.send(Msg::Data(Arc::new(b"abc".to_vec()))).unwrap();
        tx.send(Msg::End).unwrap();
        drop(tx);
        let count = |_| {};
        let mut r = ChunkReader {
            rx,
            chunk: None,
            pos: 0,
            ended: false,
            on_bytes: &count,
        };
        let mut out = Vec::new();
        r.read_to_end(&mut out).unwrap();
        assert_eq!(out, b"abc");
        assert_eq!(
            r.read(&mut [0u8; 8]).unwrap(),
            0,
            "a second read after EOF is EOF again"
        );
    }
}
