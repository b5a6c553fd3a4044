//! The strict reader: every archive that comes from elsewhere (`archive import`) or is
//! unpacked (`archive restore`) goes through [`check`], which accepts nothing but the
//! format of `docs/archive-format.md`.
//!
//! One pass over the stream, in bounded memory: the manifest must come first and be
//! well formed; every entry must be a regular file or a folder at a clean relative
//! path, listed in the manifest with its size and BLAKE3 hash, and no two names may be
//! the same after case folding and NFC normalisation. The entry count, the unpacked
//! size and the compression ratio are capped, so a decompression bomb stops early. And
//! nothing may follow the end: the tar end marker must be there, the compressed stream
//! must end cleanly, with no second gzip member or zstd frame and no trailing bytes.
//! Each way an archive fails has its own [`Rejection`]. The layers below the tar
//! reader (the count of compressed bytes, the decompression caps) are in [`layers`].

use std::collections::{HashMap, HashSet};
use std::io::{self, BufRead, Read};
use std::rc::Rc;

use unicode_normalization::UnicodeNormalization;

use super::read::{GZIP_MAGIC, ZSTD_MAGIC, parse_manifest};
use super::{ArchiveError, MANIFEST, Manifest, valid_id};
use crate::photo::ContentHash;

mod layers;
use layers::*;

/// The caps an archive must keep within.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Entries, folders included.
    pub max_entries: u64,
    /// Bytes of the files, unpacked.
    pub max_bytes: u64,
    /// Unpacked bytes per compressed byte, once more than [`RATIO_FLOOR`] is unpacked.
    pub max_ratio: u64,
    /// Bytes of the manifest.
    pub max_manifest: u64,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_entries: 2_000_000,
            max_bytes: 4 << 40,
            max_ratio: 1000,
            max_manifest: 256 << 20,
        }
    }
}

/// The ratio cap applies past this many unpacked bytes: small archives of text and
/// empty database pages compress far better than photos do.
pub const RATIO_FLOOR: u64 = 8 << 20;

/// Why an archive is refused: one reason each, named in the message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error("it is empty")]
    Empty,
    #[error("it is not a gzip or zstd stream")]
    NotCompressed,
    #[error("its compressed stream is damaged: {0}")]
    Damaged(String),
    #[error("it is truncated: {0}")]
    Truncated(String),
    #[error("there is data after the tar end marker")]
    DataAfterEnd,
    #[error("a second {0} follows the first")]
    ExtraMember(&'static str),
    #[error("there are bytes after the end of the compressed stream")]
    TrailingBytes,
    #[error("it has no manifest ({MANIFEST})")]
    NoManifest,
    #[error("its first entry is '{0}', not the manifest ({MANIFEST})")]
    ManifestNotFirst(String),
    #[error("its manifest is not valid: {0}")]
    BadManifest(String),
    #[error("an entry name holds a NUL byte")]
    NulByte,
    #[error("an entry name is not UTF-8")]
    NotUtf8,
    #[error("'{0}' is an absolute path")]
    AbsolutePath(String),
    #[error("'{0}' climbs out of the archive (..)")]
    Traversal(String),
    #[error("'{0}' is not a clean relative path")]
    UncleanPath(String),
    #[error("'{0}' is a symbolic link")]
    Symlink(String),
    #[error("'{0}' is a hard link")]
    HardLink(String),
    #[error("'{0}' is a device or a FIFO")]
    Device(String),
    #[error("'{path}' is an entry of another type ({kind}); archives hold only files and folders")]
    OtherType { path: String, kind: String },
    #[error("'{0}' appears twice")]
    Duplicate(String),
    #[error("'{0}' and '{1}' are one name on a case-insensitive or normalising file system")]
    Collides(String, String),
    #[error("'{0}' is both a file and a folder")]
    FileAndFolder(String),
    #[error("'{0}' is not in the manifest")]
    NotInManifest(String),
    #[error("'{0}' is in the manifest but not in the archive")]
    Missing(String),
    #[error("'{path}' is {actual} bytes, the manifest says {listed}")]
    SizeMismatch {
        path: String,
        actual: u64,
        listed: u64,
    },
    #[error("the BLAKE3 hash of '{0}' does not match the manifest")]
    HashMismatch(String),
    #[error("it holds more than {0} entries")]
    TooManyEntries(u64),
    #[error("it unpacks to more than {0} bytes")]
    TooLarge(u64),
    #[error("it expands more than {0}:1 (a decompression bomb)")]
    Bomb(u64),
}

/// Why [`check`] stopped: the archive is refused, or the visitor failed.
pub(crate) enum Failure {
    Rejected(Rejection),
    Visitor(ArchiveError),
}

impl From<Rejection> for Failure {
    fn from(r: Rejection) -> Failure {
        Failure::Rejected(r)
    }
}

/// Called with each file entry, its path and a reader of exactly its bytes (what the
/// visitor leaves unread is read and hashed by [`check`]).
pub(crate) type Visit<'v> =
    dyn FnMut(&Manifest, &str, &mut dyn Read) -> Result<(), ArchiveError> + 'v;

/// Checks the whole archive read from `input`, writing nothing; its manifest if it
/// passes. (The fuzz target's entry point, and what `import` does before it keeps.)
pub fn validate(input: impl Read, limits: &Limits) -> Result<Manifest, Rejection> {
    match check(input, limits, &mut |_, _, _| Ok(())) {
        Ok(m) => Ok(m),
        Err(Failure::Rejected(r)) => Err(r),
        Err(Failure::Visitor(e)) => unreachable!("the visitor does nothing: {e}"),
    }
}

/// Reads the whole archive from `input` and checks it; returns its manifest.
pub(crate) fn check(
    input: impl Read,
    limits: &Limits,
    visit: &mut Visit<'_>,
) -> Result<Manifest, Failure> {
    let shared = Rc::new(Shared::default());
    // A small buffer keeps the count of compressed bytes close to what was decoded.
    let mut input = Consumed {
        inner: io::BufReader::with_capacity(8 << 10, input),
        shared: shared.clone(),
    };
    let head = input.fill_buf().map_err(|e| damaged(&shared, e))?;
    let decoder = if head.is_empty() {
        return Err(Rejection::Empty.into());
    } else if head.starts_with(&GZIP_MAGIC) {
        Decoder::Gzip(flate2::bufread::GzDecoder::new(input))
    } else if head.starts_with(&ZSTD_MAGIC) {
        let mut z = zstd::Decoder::with_buffer(input).map_err(|e| damaged(&shared, e))?;
        z = z.single_frame();
        Decoder::Zstd(z)
    } else {
        return Err(Rejection::NotCompressed.into());
    };
    let guard = Guard {
        inner: decoder,
        out: 0,
        shared: shared.clone(),
        max_ratio: limits.max_ratio,
        // Headers and padding: at most 3 blocks an entry besides the data.
        max_out: limits
            .max_bytes
            .saturating_add(limits.max_manifest)
            .saturating_add(limits.max_entries.saturating_mul(1536))
            .saturating_add(1 << 20),
    };
    let mut tar = tar::Archive::new(guard);
    let (manifest, last_end) = entries(&mut tar, limits, &shared, visit)?;

    // The end: the tar end marker (two zero blocks, then only zeros), then the end of
    // the compressed stream, then nothing.
    let mut guard = tar.into_inner();
    if guard.out == last_end {
        return Err(Rejection::Truncated("the tar end marker is missing".into()).into());
    }
    let mut zeros = guard.out - last_end;
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = guard.read(&mut buf).map_err(|e| damaged(&shared, e))?;
        if n == 0 {
            break;
        }
        if buf[..n].iter().any(|b| *b != 0) {
            return Err(Rejection::DataAfterEnd.into());
        }
        zeros += n as u64;
    }
    if zeros < 1024 {
        return Err(Rejection::Truncated("the tar end marker is cut short".into()).into());
    }
    let (mut rest, what) = match guard.inner {
        Decoder::Gzip(gz) => (gz.into_inner(), "gzip member"),
        Decoder::Zstd(z) => (z.finish(), "zstd frame"),
    };
    let after = rest.fill_buf().map_err(|e| damaged(&shared, e))?;
    if after.starts_with(&GZIP_MAGIC[..1]) && after.len() < 2
        || after.starts_with(&GZIP_MAGIC)
        || after.starts_with(&ZSTD_MAGIC)
    {
        return Err(Rejection::ExtraMember(what).into());
    }
    if !after.is_empty() {
        return Err(Rejection::TrailingBytes.into());
    }
    Ok(manifest)
}

/// The tar entries: the manifest first, then every file checked against it. Returns
/// the manifest and where the last entry's data ends in the tar stream.
fn entries<R: Read>(
    tar: &mut tar::Archive<R>,
    limits: &Limits,
    shared: &Shared,
    visit: &mut Visit<'_>,
) -> Result<(Manifest, u64), Failure> {
    let mut entries = tar.entries().map_err(|e| damaged(shared, e))?;
    let mut first = match entries.next() {
        None => return Err(Rejection::NoManifest.into()),
        Some(e) => e.map_err(|e| damaged(shared, e))?,
    };
    let text = read_manifest(&mut first, limits, shared)?;
    let mut last_end = data_end(&first);
    drop(first);
    let manifest = parse_manifest(&text).map_err(Rejection::BadManifest)?;
    let mut expected = check_manifest(&manifest, limits)?;

    let mut names = Names::default();
    names.add_file(MANIFEST)?;
    let mut count: u64 = 1;
    for entry in entries {
        let mut entry = entry.map_err(|e| damaged(shared, e))?;
        count += 1;
        if count > limits.max_entries {
            return Err(Rejection::TooManyEntries(limits.max_entries).into());
        }
        let raw = entry.path_bytes().into_owned();
        let shown = String::from_utf8_lossy(&raw).into_owned();
        let is_dir = is_folder(entry.header().entry_type(), shown)?;
        let path = clean_path(&raw)?;
        last_end = data_end(&entry);
        if is_dir {
            names.add_folder(&path)?;
            continue;
        }
        names.add_file(&path)?;
        let Some((size, blake3)) = expected.remove(path.as_str()) else {
            return Err(Rejection::NotInManifest(path).into());
        };
        if entry.size() != size {
            return Err(Rejection::SizeMismatch {
                path,
                actual: entry.size(),
                listed: size,
            }
            .into());
        }
        check_content(&mut entry, &manifest, &path, size, blake3, shared, visit)?;
    }
    let mut missing: Vec<_> = expected.into_keys().collect();
    missing.sort();
    if let Some(first) = missing.into_iter().next() {
        return Err(Rejection::Missing(first.to_string()).into());
    }
    Ok((manifest, last_end))
}

/// Reads the archive's first entry, which must be its manifest, within the limits.
fn read_manifest<R: Read>(
    first: &mut tar::Entry<'_, R>,
    limits: &Limits,
    shared: &Shared,
) -> Result<Vec<u8>, Failure> {
    let name = String::from_utf8_lossy(&first.path_bytes()).into_owned();
    if name != MANIFEST {
        return Err(Rejection::ManifestNotFirst(name).into());
    }
    if !matches!(
        first.header().entry_type(),
        tar::EntryType::Regular | tar::EntryType::Continuous
    ) {
        return Err(Rejection::BadManifest("it is not a regular file".into()).into());
    }
    if first.size() > limits.max_manifest {
        return Err(Rejection::BadManifest(format!(
            "it is larger than {} bytes",
            limits.max_manifest
        ))
        .into());
    }
    let mut text = Vec::new();
    first
        .take(limits.max_manifest)
        .read_to_end(&mut text)
        .map_err(|e| damaged(shared, e))?;
    if (text.len() as u64) < first.size() {
        return Err(Rejection::Truncated("the manifest is cut short".into()).into());
    }
    Ok(text)
}

/// Whether an entry of this type is a folder (else a file); other types are refused.
fn is_folder(kind: tar::EntryType, shown: String) -> Result<bool, Failure> {
    Ok(match kind {
        tar::EntryType::Regular | tar::EntryType::Continuous => false,
        tar::EntryType::Directory => true,
        tar::EntryType::Symlink => return Err(Rejection::Symlink(shown).into()),
        tar::EntryType::Link => return Err(Rejection::HardLink(shown).into()),
        tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
            return Err(Rejection::Device(shown).into());
        }
        other => {
            return Err(Rejection::OtherType {
                path: shown,
                kind: format!("{other:?}"),
            }
            .into());
        }
    })
}

/// Hands one file's content to the visitor, then checks that it is whole and hashes to
/// what the manifest lists.
fn check_content<R: Read>(
    entry: &mut tar::Entry<'_, R>,
    manifest: &Manifest,
    path: &str,
    size: u64,
    blake3: &str,
    shared: &Shared,
    visit: &mut Visit<'_>,
) -> Result<(), Failure> {
    let mut hashing = Hashing {
        inner: entry,
        hasher: blake3::Hasher::new(),
        read: 0,
        failed: false,
    };
    if let Err(e) = visit(manifest, path, &mut hashing) {
        // An error from reading the archive is the archive's; others are the visitor's.
        return Err(match shared.rejection.borrow_mut().take() {
            Some(r) => r.into(),
            None if hashing.failed => Rejection::Damaged(format!("while reading '{path}'")).into(),
            None => Failure::Visitor(e),
        });
    }
    io::copy(&mut hashing, &mut io::sink()).map_err(|e| damaged(shared, e))?;
    if hashing.read < size {
        return Err(Rejection::Truncated(format!("'{path}' is cut short")).into());
    }
    if ContentHash(*hashing.hasher.finalize().as_bytes()).to_hex() != blake3 {
        return Err(Rejection::HashMismatch(path.to_string()).into());
    }
    Ok(())
}

/// The manifest's own checks; returns its files by path.
fn check_manifest<'m>(
    manifest: &'m Manifest,
    limits: &Limits,
) -> Result<HashMap<&'m str, (u64, &'m str)>, Rejection> {
    let bad = |m: String| Rejection::BadManifest(m);
    if !valid_id(&manifest.id) {
        return Err(bad(format!("'{}' is not an archive id", manifest.id)));
    }
    if manifest.files.len() as u64 + 1 > limits.max_entries {
        return Err(Rejection::TooManyEntries(limits.max_entries));
    }
    let mut total: u64 = 0;
    let mut names = Names::default();
    let mut out = HashMap::with_capacity(manifest.files.len());
    for f in &manifest.files {
        let clean = clean_path(f.path.as_bytes()).map_err(|r| bad(format!("it lists {r}")))?;
        if clean != f.path {
            return Err(bad(format!("it lists '{}', not a clean path", f.path)));
        }
        names
            .add_file(&f.path)
            .map_err(|r| bad(format!("it lists {r}")))?;
        if f.blake3.len() != 64 || !f.blake3.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad(format!("'{}' has no valid BLAKE3 hash", f.path)));
        }
        total = total.saturating_add(f.size);
        out.insert(f.path.as_str(), (f.size, f.blake3.as_str()));
    }
    if names.files.contains(&fold(MANIFEST)) {
        return Err(bad(format!("it lists {MANIFEST} itself")));
    }
    if total > limits.max_bytes {
        return Err(Rejection::TooLarge(limits.max_bytes));
    }
    Ok(out)
}

/// Where an entry's data ends, padded to the tar block.
fn data_end<R: Read>(entry: &tar::Entry<'_, R>) -> u64 {
    entry.raw_file_position() + entry.size().div_ceil(512) * 512
}

/// `raw` as a clean relative path: UTF-8, no NUL, not absolute, no `..`, `.` or
/// empty component, no backslash or control character. A folder's one trailing `/`
/// is dropped.
pub(crate) fn clean_path(raw: &[u8]) -> Result<String, Rejection> {
    if raw.contains(&0) {
        return Err(Rejection::NulByte);
    }
    let s = std::str::from_utf8(raw).map_err(|_| Rejection::NotUtf8)?;
    if s.starts_with('/') {
        return Err(Rejection::AbsolutePath(s.into()));
    }
    let trimmed = s.strip_suffix('/').unwrap_or(s);
    if trimmed.is_empty() {
        return Err(Rejection::UncleanPath(s.into()));
    }
    for part in trimmed.split('/') {
        if part == ".." {
            return Err(Rejection::Traversal(s.into()));
        }
        if part.is_empty()
            || part == "."
            || part.contains('\\')
            || part.chars().any(char::is_control)
            || part.len() > 255
        {
            return Err(Rejection::UncleanPath(s.into()));
        }
    }
    Ok(trimmed.to_string())
}

/// A name as a case-insensitive, normalising file system sees it.
fn fold(name: &str) -> String {
    name.nfc()
        .flat_map(char::to_lowercase)
        .collect::<String>()
        .nfc()
        .collect()
}

/// The names seen so far, folded: files, explicit folders, and every folder implied
/// by a path.
#[derive(Default)]
struct Names {
    /// Folded name → the name as first seen (files and explicit folders).
    seen: HashMap<String, String>,
    files: HashSet<String>,
    folders: HashSet<String>,
}

impl Names {
    fn add(&mut self, name: &str) -> Result<String, Rejection> {
        let key = fold(name);
        if let Some(before) = self.seen.get(&key) {
            return Err(if before == name {
                Rejection::Duplicate(name.into())
            } else {
                Rejection::Collides(before.clone(), name.into())
            });
        }
        self.seen.insert(key.clone(), name.into());
        // Every folder above it.
        let mut at = 0;
        while let Some(i) = key[at..].find('/') {
            let parent = &key[..at + i];
            if self.files.contains(parent) {
                return Err(Rejection::FileAndFolder(name[..at + i].into()));
            }
            self.folders.insert(parent.to_string());
            at += i + 1;
        }
        Ok(key)
    }

    fn add_file(&mut self, name: &str) -> Result<(), Rejection> {
        if self.folders.contains(&fold(name)) {
            return Err(Rejection::FileAndFolder(name.into()));
        }
        let key = self.add(name)?;
        self.files.insert(key);
        Ok(())
    }

    fn add_folder(&mut self, name: &str) -> Result<(), Rejection> {
        let key = fold(name);
        if self.files.contains(&key) {
            return Err(Rejection::FileAndFolder(name.into()));
        }
        if self.folders.contains(&key) && !self.seen.contains_key(&key) {
            // Implied by an earlier path: naming it now is no duplicate.
            self.seen.insert(key, name.into());
            return Ok(());
        }
        self.add(name)?;
        self.folders.insert(fold(name));
        Ok(())
    }
}

/// An entry's bytes, hashed and counted as they are read.
struct Hashing<'a, R> {
    inner: &'a mut R,
    hasher: blake3::Hasher,
    read: u64,
    /// Whether reading the archive failed (rather than whatever the visitor did).
    failed: bool,
}

impl<R: Read> Read for Hashing<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf).inspect_err(|_| self.failed = true)?;
        self.hasher.update(&buf[..n]);
        self.read += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests;
