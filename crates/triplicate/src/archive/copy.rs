//! `archive copy ID --dest NAME`: an archive copied to a destination, like a photo:
//! atomically, never replacing what is there, then read back from the device and
//! hashed. Archives go under `.triplicate/archives/` at the destination, beside its
//! other bookkeeping, out of the photos' layout.

use std::fs::File;

use serde::Serialize;

use super::{ArchiveError, Result, find, io_err};
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
