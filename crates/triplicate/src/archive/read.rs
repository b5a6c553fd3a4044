//! Reading archives of the archives folder: the manifest, and `archive verify`.

use std::fs::File;
use std::io::{self, BufRead, Read};
use std::path::Path;

use serde::Serialize;

use super::{FORMAT, MANIFEST, Manifest, ManifestFile, Result, VERSION, invalid, io_err};
use crate::photo::ContentHash;

/// The gzip and zstd magic numbers: what a stream is, whatever its name.
pub(crate) const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
pub(crate) const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

/// The tar stream of `input`, decompressed as its first bytes say.
pub(crate) fn decompress<'a, R: BufRead + 'a>(mut input: R) -> io::Result<Box<dyn Read + 'a>> {
    let head = input.fill_buf()?;
    if head.starts_with(&GZIP_MAGIC) {
        Ok(Box::new(flate2::bufread::GzDecoder::new(input)))
    } else if head.starts_with(&ZSTD_MAGIC) {
        Ok(Box::new(zstd::Decoder::with_buffer(input)?))
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "it is not a gzip or zstd stream",
        ))
    }
}

/// The archive at `path`, as a tar stream.
fn open(path: &Path) -> Result<tar::Archive<Box<dyn Read>>> {
    let file = File::open(path).map_err(io_err("cannot open", path))?;
    let stream =
        decompress(io::BufReader::with_capacity(1 << 20, file)).map_err(|e| invalid(path, e))?;
    Ok(tar::Archive::new(stream))
}

/// Reads the manifest (the first entry) of the archive at `path`.
pub fn read_manifest(path: &Path) -> Result<Manifest> {
    let mut tar = open(path)?;
    let mut entries = tar.entries().map_err(|e| invalid(path, e))?;
    first_manifest(&mut entries, path)
}

/// The manifest, read from the first of `entries`.
fn first_manifest<R: Read>(entries: &mut tar::Entries<'_, R>, path: &Path) -> Result<Manifest> {
    let mut first = entries
        .next()
        .ok_or_else(|| invalid(path, "it is empty"))?
        .map_err(|e| invalid(path, e))?;
    let name = first
        .path()
        .map_err(|e| invalid(path, e))?
        .to_string_lossy()
        .into_owned();
    if name != MANIFEST {
        return Err(invalid(
            path,
            format!("its first entry is '{name}', not {MANIFEST}"),
        ));
    }
    if first.size() > 256 << 20 {
        return Err(invalid(path, "its manifest is larger than 256 MiB"));
    }
    let mut text = Vec::new();
    first.read_to_end(&mut text).map_err(|e| invalid(path, e))?;
    parse_manifest(&text).map_err(|m| invalid(path, m))
}

/// A manifest from its JSON: of this format and version.
pub(crate) fn parse_manifest(text: &[u8]) -> std::result::Result<Manifest, String> {
    let manifest: Manifest =
        serde_json::from_slice(text).map_err(|e| format!("its manifest does not parse: {e}"))?;
    if manifest.format != FORMAT || manifest.version != VERSION {
        return Err(format!(
            "it is {} version {}, not {FORMAT} version {VERSION}",
            manifest.format, manifest.version
        ));
    }
    Ok(manifest)
}

/// What [`verify`] found.
#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    pub id: String,
    pub files: usize,
    pub bytes: u64,
    /// Each problem, naming the entry.
    pub problems: Vec<String>,
}

impl Verified {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// `archive verify`: reads the whole archive and re-hashes every entry against the
/// manifest; an entry missing, extra, of another size or hash is a problem, as is a
/// damaged stream. Every problem is listed, not only the first.
pub fn verify(path: &Path) -> Result<Verified> {
    // One pass: the manifest is the first entry of the stream that is then checked.
    let mut tar = open(path)?;
    let mut entries = tar.entries().map_err(|e| invalid(path, e))?;
    let manifest = first_manifest(&mut entries, path)?;
    let mut problems = Vec::new();
    let mut expected: std::collections::HashMap<&str, &ManifestFile> = manifest
        .files
        .iter()
        .map(|f| (f.path.as_str(), f))
        .collect();
    let mut bytes = 0;
    let mut stream = (|| -> io::Result<()> {
        for entry in entries {
            let mut entry = entry?;
            let name = entry.path()?.to_string_lossy().into_owned();
            if entry.header().entry_type().is_dir() {
                continue;
            }
            let Some(listed) = expected.remove(name.as_str()) else {
                problems.push(format!("{name}: not in the manifest"));
                continue;
            };
            let (hash, size) = ContentHash::of_reader(&mut entry)?;
            bytes += size;
            if size != listed.size {
                problems.push(format!(
                    "{name}: {size} bytes, the manifest says {}",
                    listed.size
                ));
            } else if hash.to_hex() != listed.blake3 {
                problems.push(format!(
                    "{name}: its BLAKE3 hash does not match the manifest"
                ));
            }
        }
        Ok(())
    })();
    if stream.is_ok() {
        // To the end of the compressed stream, whose checksum is checked there.
        stream = io::copy(&mut tar.into_inner(), &mut io::sink()).map(|_| ());
    }
    if let Err(e) = stream {
        problems.push(format!("the archive is damaged: {e}"));
    }
    let mut missing: Vec<_> = expected.keys().map(|p| format!("{p}: missing")).collect();
    missing.sort();
    problems.extend(missing);
    Ok(Verified {
        id: manifest.id,
        files: manifest.files.len(),
        bytes,
        problems,
    })
}
