//! Archives at destinations: `archive copy ID --dest NAME` copies one like a photo
//! (atomically, never replacing what is there, then read back from the device and
//! hashed); `archive list --dest NAME` lists them there, and `archive import --dest NAME
//! FILE` brings one back through the strict reader (after the machine itself was lost).
//! Archives go under `.triplicate/archives/` at the destination, beside its other
//! bookkeeping, out of the photos' layout.

use std::fs::File;

use serde::Serialize;

use super::import::import_from;
use super::{ArchiveError, Limits, Listed, Result, find, io_err};
use crate::destination::{self, DestError};
use crate::home::Triplicate;
use crate::photo::ContentHash;
use crate::relpath::RelPath;

/// Where archives go at a destination.
pub const DEST_FOLDER: &str = ".triplicate/archives";

/// What [`copy_to`] did.
#[derive(Debug, Clone, Serialize)]
pub struct Copied {
    pub id: String,
    pub dest: String,
    /// The object's key at the destination.
    pub key: String,
    pub size: u64,
    /// The destination held this archive already (same bytes): nothing was written.
    pub already_there: bool,
}

/// Copies archive `id` to destination `dest`, and checks the copy.
pub fn copy_to(t: &Triplicate, id: &str, dest: &str) -> Result<Copied> {
    let a = find(t, id)?;
    let config = t
        .config
        .destination(dest)
        .ok_or_else(|| ArchiveError::UnknownDestination(dest.into()))?;
    let name = a
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let key = RelPath::new(format!("{DEST_FOLDER}/{name}").into_bytes())
        .expect("an archive's name is a clean path");
    let (local_hash, size) = File::open(&a.file)
        .and_then(|mut f| ContentHash::of_reader(&mut f))
        .map_err(io_err("cannot read", &a.file))?;
    let d = destination::open(config)?;
    let mut input = File::open(&a.file).map_err(io_err("cannot read", &a.file))?;
    let already_there = match d.put(&key, &mut input, size) {
        Ok(_) => false,
        Err(DestError::AlreadyExists { .. }) => true,
        Err(e) => return Err(e.into()),
    };
    // Read back from the device: the copy is what was meant, or it is an error.
    let mut back = d.read(&key)?;
    let (hash, read) = ContentHash::of_reader(&mut back).map_err(|e| ArchiveError::Invalid {
        path: a.file.clone(),
        message: format!("reading the copy back from {dest}: {e}"),
    })?;
    if hash != local_hash || read != size {
        return Err(ArchiveError::Invalid {
            path: a.file.clone(),
            message: format!(
                "the copy at {dest} ({key}) holds other bytes{}",
                if already_there {
                    "; it was there before: remove it and copy again"
                } else {
                    ""
                }
            ),
        });
    }
    tracing::info!(id = %a.id, dest, "archive copied");
    Ok(Copied {
        id: a.id,
        dest: dest.into(),
        key: key.as_str().unwrap_or_default().to_string(),
        size,
        already_there,
    })
}

/// An archive file at a destination.
#[derive(Debug, Clone, Serialize)]
pub struct AtDestination {
    pub dest: String,
    /// Its file name, as `archive import --dest` takes it.
    pub name: String,
    pub size: u64,
}

/// The archives at destination `dest`, by name.
pub fn list_at(t: &Triplicate, dest: &str) -> Result<Vec<AtDestination>> {
    let config = t
        .config
        .destination(dest)
        .ok_or_else(|| ArchiveError::UnknownDestination(dest.into()))?;
    let d = destination::open_read(config)?;
    let prefix = RelPath::new(DEST_FOLDER.as_bytes().to_vec()).expect("a clean path");
    let mut out: Vec<AtDestination> = d
        .list(Some(&prefix))?
        .into_iter()
        .filter_map(|o| {
            let name = o.key.as_str()?.rsplit('/').next()?.to_string();
            super::Compression::of_name(&name).map(|_| AtDestination {
                dest: dest.into(),
                name,
                size: o.size,
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(out)
}

/// Reads archive `name` from destination `dest` and imports it (every check of
/// [`import`](super::import) applies).
pub fn import_from_destination(
    t: &Triplicate,
    dest: &str,
    name: &str,
    limits: &Limits,
) -> Result<Listed> {
    let at = list_at(t, dest)?
        .into_iter()
        .find(|a| a.name == name)
        .ok_or_else(|| ArchiveError::Unknown(format!("{name} at {dest}")))?;
    let config = t.config.destination(dest).expect("listed above");
    let d = destination::open_read(config)?;
    let key = RelPath::new(format!("{DEST_FOLDER}/{}", at.name).into_bytes())
        .map_err(|e| ArchiveError::Unknown(e.to_string()))?;
    let input = d.read(&key)?;
    import_from(
        t,
        input,
        at.size,
        &std::path::PathBuf::from(format!("{dest}:{DEST_FOLDER}/{name}")),
        limits,
    )
}
