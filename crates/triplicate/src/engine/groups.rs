//! Files of one shot keep matching names at a destination.
//!
//! A RAW, its JPEG, its sidecars and a Live Photo's clip form a group
//! ([`crate::scan::group`]). At each destination a group is named as a whole: every
//! member under its layout name, or, when any of those names holds other content
//! (another camera's `IMG_0001.JPG`) or is claimed by another group in this run,
//! every member with one suffix, that of the group's primary member's hash
//! (`IMG_0001~a1b2c3d4.CR2` beside `IMG_0001~a1b2c3d4.JPG`), so that software that
//! pairs a RAW with its JPEG by name still pairs the right files. A member that joins
//! later (a sidecar written since) follows the name its group already has there.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use super::fanout::{TargetError, same_bytes};
use super::worker::OpenDest;
use crate::catalog::{CatalogError, FolderFile, PendingPhoto};
use crate::destination::layout::{alternate_name, group_name};
use crate::home::Triplicate;
use crate::photo::ContentHash;
use crate::relpath::RelPath;
use crate::scan::group::{Group, Siblings};
use crate::vocab::CopyState;

/// How a group is named at one destination.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Naming {
    /// Every member under its layout name.
    Plain,
    /// Every member with the suffix of this content's hash, the primary member's.
    Suffixed(ContentHash),
}

/// The files of one library folder, and their groups.
struct Folder {
    files: HashMap<RelPath, FolderFile>,
    siblings: Siblings,
}

/// `(library, folder)`.
type FolderId = (String, Option<RelPath>);

/// `(destination id, library, group key)`.
type GroupId = (String, String, Vec<u8>);

/// Folders loaded at once, at most: a run goes through the library folder by folder.
const FOLDERS_HELD: usize = 256;

/// The names groups take in one run, per destination.
#[derive(Default)]
pub(super) struct GroupNames {
    folders: Mutex<HashMap<FolderId, Arc<Folder>>>,
    decided: Mutex<HashMap<GroupId, Naming>>,
    /// Layout names taken in this run, and by which group or lone file: hashes of
    /// `(destination, key)` and of the taker, to stay small over a whole library.
    claimed: Mutex<HashMap<u64, u64>>,
}

/// A short, stable fingerprint of some parts, for [`GroupNames::claimed`].
fn fingerprint(parts: &[&[u8]]) -> u64 {
    let mut h = xxhash_rust::xxh3::Xxh3::new();
    for p in parts {
        h.update(&(p.len() as u64).to_le_bytes());
        h.update(p);
    }
    h.digest()
}

impl GroupNames {
    /// The name `photo` takes first at `od`: `plain` (its layout name, rendered from a
    /// file by `render`) or the group's suffixed one.
    pub fn first_key(
        &self,
        t: &Triplicate,
        od: &OpenDest,
        photo: &PendingPhoto,
        render: &dyn Fn(&FolderFile) -> RelPath,
    ) -> Result<Result<RelPath, TargetError>, CatalogError> {
        let folder = self.folder(t, &photo.library, photo.path.parent())?;
        let own = folder.files.get(&photo.path);
        let (Some(own), Some(group)) = (own, folder.siblings.group_of(&photo.path)) else {
            // A file alone takes its name unless a group of this run took it first.
            let key = render(&FolderFile::of(photo));
            let me = fingerprint(&[photo.library.as_bytes(), photo.path.as_bytes()]);
            let claim = fingerprint(&[od.config.id.as_bytes(), key.as_bytes()]);
            let owner = *self.claimed.lock().unwrap().entry(claim).or_insert(me);
            if owner == me {
                return Ok(Ok(key));
            }
            let name = alternate_name(key.file_name(), &photo.hash, 8);
            return Ok(Ok(key.with_file_name(&name).unwrap_or(key)));
        };
        let members: Vec<&FolderFile> = group
            .members
            .iter()
            .filter_map(|p| folder.files.get(*p))
            .collect();
        let id: GroupId = (
            od.config.id.clone(),
            photo.library.clone(),
            group.key.clone(),
        );
        let decided = self.decided.lock().unwrap().get(&id).cloned();
        let naming = match decided {
            Some(n) => n,
            None => match self.decide(t, od, &id, &group, &members, render)? {
                Ok(n) => n,
                Err(e) => return Ok(Err(e)),
            },
        };
        let key = render(own);
        Ok(Ok(match naming {
            Naming::Plain => key,
            Naming::Suffixed(primary) => {
                let name = group_name(key.file_name(), group.rest(&photo.path), &primary);
                key.with_file_name(&name).unwrap_or(key)
            }
        }))
    }

    /// Names a group at `od`: as its members already are there, else plainly unless
    /// one of its names is taken by other content or by another group of this run.
    fn decide(
        &self,
        t: &Triplicate,
        od: &OpenDest,
        id: &GroupId,
        group: &Group<'_>,
        members: &[&FolderFile],
        plain: &dyn Fn(&FolderFile) -> RelPath,
    ) -> Result<Result<Naming, TargetError>, CatalogError> {
        let Some(primary) = members.first().map(|m| m.hash) else {
            return Ok(Ok(Naming::Plain));
        };
        for m in members {
            let Some(copy) = t.catalog.copy_of(m.photo_id, &od.config.id)? else {
                continue;
            };
            if copy.state != CopyState::Verified {
                continue;
            }
            let key = plain(m);
            if copy.key == key {
                return Ok(Ok(self.settle(id, Naming::Plain, &[], primary)));
            }
            let suffixed = group_name(key.file_name(), group.rest(&m.path), &primary);
            if copy.key.file_name() == suffixed {
                return Ok(Ok(self.settle(id, Naming::Suffixed(primary), &[], primary)));
            }
        }
        let mut keys = Vec::with_capacity(members.len());
        let mut taken = false;
        for m in members {
            let key = plain(m);
            let stat = match od.dest.stat(&key) {
                Ok(stat) => stat,
                Err(e) => return Ok(Err(e.into())),
            };
            taken |= match stat {
                None => false,
                Some(meta) if meta.size != m.size => true,
                Some(_) => same_bytes(od.dest.as_ref(), &key, &m.hash).is_none(),
            };
            keys.push(fingerprint(&[od.config.id.as_bytes(), key.as_bytes()]));
        }
        let naming = if taken {
            Naming::Suffixed(primary)
        } else {
            Naming::Plain
        };
        Ok(Ok(self.settle(id, naming, &keys, primary)))
    }

    /// Records a decision, unless a racing worker made one first; a plain naming
    /// claims its names, and yields to a group that claimed one of them first.
    fn settle(&self, id: &GroupId, naming: Naming, keys: &[u64], primary: ContentHash) -> Naming {
        let mut decided = self.decided.lock().unwrap();
        if let Some(n) = decided.get(id) {
            return n.clone();
        }
        let mut naming = naming;
        if naming == Naming::Plain && !keys.is_empty() {
            let me = fingerprint(&[id.0.as_bytes(), id.1.as_bytes(), &id.2]);
            let mut claimed = self.claimed.lock().unwrap();
            if keys
                .iter()
                .any(|k| claimed.get(k).is_some_and(|owner| *owner != me))
            {
                naming = Naming::Suffixed(primary);
            } else {
                for k in keys {
                    claimed.insert(*k, me);
                }
            }
        }
        decided.insert(id.clone(), naming.clone());
        naming
    }

    /// The files of `folder` in `library`, loaded once (a bounded number are held).
    fn folder(
        &self,
        t: &Triplicate,
        library: &str,
        folder: Option<RelPath>,
    ) -> Result<Arc<Folder>, CatalogError> {
        let id = (library.to_string(), folder);
        if let Some(f) = self.folders.lock().unwrap().get(&id) {
            return Ok(f.clone());
        }
        let files = t.catalog.folder_files(library, id.1.as_ref())?;
        let paths: Vec<RelPath> = files.iter().map(|f| f.path.clone()).collect();
        let loaded = Arc::new(Folder {
            siblings: Siblings::index(&paths),
            files: files.into_iter().map(|f| (f.path.clone(), f)).collect(),
        });
        let mut folders = self.folders.lock().unwrap();
        if folders.len() >= FOLDERS_HELD {
            folders.clear();
        }
        folders.insert(id, loaded.clone());
        Ok(loaded)
    }
}
