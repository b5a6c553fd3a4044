//! Photo transfers: sending this node's photos to the peers marked "sync photos", and
//! receiving peers' photos into the GRID library, append-only.
//!
//! **Sending** ([`send_to`]): the photos the peer does not hold (by its own records in
//! the change log) and was not given yet, oldest capture first, one at a time, in
//! pieces of at most [`PIECE`] bytes, within `grid.max_send_rate`. Before a photo, the
//! peer is asked what it has of it: the whole photo (not sent again, whoever sent it)
//! or part of an earlier upload (sent from there on).
//!
//! **Receiving** ([`Inbox`]): pieces are appended to
//! `.triplicate/grid-incoming/HASH.part` inside the GRID library (where scans never
//! look) at the offset the file has reached. With the last byte the file is synced,
//! hashed whole, and published by a hard link at `{node}/{library}/{path}`, which never
//! replaces a file: a name taken by other content gets a distinct name
//! (`alternate_name`). The photo is then recorded as a library file, so it is
//! announced in this node's feed and backed up by its automatic destinations. Nothing
//! a peer sends can remove or change a file.

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use super::peer::{PeerClient, Piece, PutAnswer};
use super::{GridError, PHOTO_MAX, PhotoState, Result, names};
use crate::catalog::ScannedFile;
use crate::config::LibraryConfig;
use crate::destination::META_DIR;
use crate::destination::layout::candidate_keys;
use crate::home::Triplicate;
use crate::photo::{ContentHash, PhotoKind};
use crate::relpath::RelPath;
use crate::throttle::Throttle;

/// The size of the pieces a photo is sent in.
pub const PIECE: u64 = 16 * 1024 * 1024;
/// Where unfinished uploads are kept, inside the GRID library.
const INCOMING: &str = "grid-incoming";

/// What a round of sending did.
#[derive(Debug, Clone, Default, serde::Serialize)]
pub struct SendReport {
    pub sent: u64,
    pub bytes: u64,
    /// Photos the peer already held.
    pub held: u64,
    pub failed: u64,
}

/// Sends `peer` every photo of this node it lacks, until done or `stop`.
pub fn send_to(
    t: &Triplicate,
    peer: &PeerClient,
    peer_id: &str,
    stop: &AtomicBool,
) -> Result<SendReport> {
    let rate = t.config.grid.max_send_rate.as_deref().map(|r| r.0);
    let throttle = Throttle::new(rate, 64 << 10);
    let mut report = SendReport::default();
    // Photos that failed this round are not offered again until the next one.
    let mut skip: HashSet<ContentHash> = HashSet::new();
    loop {
        let batch = t.catalog.grid_photos_to_send(
            peer_id,
            t.config.grid.library.as_deref(),
            100 + skip.len(),
        )?;
        let todo: Vec<_> = batch
            .into_iter()
            .filter(|p| !skip.contains(&p.hash))
            .collect();
        if todo.is_empty() {
            return Ok(report);
        }
        for photo in todo {
            if stop.load(Ordering::Relaxed) {
                return Ok(report);
            }
            let Some(lib) = t.config.library(&photo.library) else {
                skip.insert(photo.hash);
                continue;
            };
            let path = photo.path.to_path(&lib.path);
            match send_one(t, peer, &photo, &path, throttle.as_ref(), stop) {
                Ok(Sent::Stored(bytes)) => {
                    report.sent += 1;
                    report.bytes += bytes;
                    t.catalog.grid_mark_sent(peer_id, &photo.hash)?;
                }
                Ok(Sent::Held) => {
                    report.held += 1;
                    t.catalog.grid_mark_sent(peer_id, &photo.hash)?;
                }
                Ok(Sent::Stopped) => return Ok(report),
                Err(e @ (GridError::Unreachable { .. } | GridError::Refused { .. })) => {
                    return Err(e);
                }
                Err(e) => {
                    tracing::warn!(peer = %peer.name, "cannot send {}: {e}", path.display());
                    report.failed += 1;
                    skip.insert(photo.hash);
                }
            }
        }
    }
}

enum Sent {
    Stored(u64),
    Held,
    Stopped,
}

fn send_one(
    t: &Triplicate,
    peer: &PeerClient,
    photo: &crate::catalog::PhotoToSend,
    path: &Path,
    throttle: Option<&Arc<Throttle>>,
    stop: &AtomicBool,
) -> Result<Sent> {
    let state = peer.photo(&photo.hash)?;
    if state.received {
        return Ok(Sent::Held);
    }
    let mut offset = state.offset.min(photo.size);
    let name = format!(
        "{}/{}",
        photo.library,
        String::from_utf8_lossy(photo.path.as_bytes())
    );
    let mut restarted = false;
    loop {
        if stop.load(Ordering::Relaxed) {
            return Ok(Sent::Stopped);
        }
        let len = PIECE.min(photo.size - offset);
        let data = read_piece(t, photo, path, offset, len, throttle)?;
        let piece = Piece {
            hash: &photo.hash,
            name: &name,
            node: &t.config.node,
            captured: &photo.captured,
            offset,
            len,
            total: photo.size,
        };
        match peer.put(&piece, data)? {
            PutAnswer::Stored => return Ok(Sent::Stored(photo.size)),
            PutAnswer::Partial(next) => offset = next,
            PutAnswer::WrongOffset(at) => offset = at.min(photo.size),
            PutAnswer::HashMismatch if !restarted => {
                restarted = true;
                offset = 0;
            }
            PutAnswer::HashMismatch => {
                t.catalog.invalidate_file(&photo.library, &photo.path)?;
                return Err(GridError::HashMismatch {
                    hash: photo.hash.to_hex(),
                });
            }
        }
    }
}

/// Reads `len` bytes of the photo from `offset`, within the rate; refuses a file that
/// changed since it was scanned (the catalog forgets it, to be scanned again).
fn read_piece(
    t: &Triplicate,
    photo: &crate::catalog::PhotoToSend,
    path: &Path,
    offset: u64,
    len: u64,
    throttle: Option<&Arc<Throttle>>,
) -> Result<Vec<u8>> {
    let io = |what, source| GridError::Io {
        what,
        path: path.into(),
        source,
    };
    let mut file = File::open(path).map_err(|e| io("cannot open", e))?;
    if file.metadata().map_err(|e| io("cannot stat", e))?.len() != photo.size {
        t.catalog.invalidate_file(&photo.library, &photo.path)?;
        return Err(GridError::Setup(format!(
            "{} changed since it was scanned; it is sent after the next scan",
            path.display()
        )));
    }
    file.seek(SeekFrom::Start(offset))
        .map_err(|e| io("cannot read", e))?;
    // The piece is read whole (within the rate), then handed to the socket in one
    // buffer: streaming it from the file in small reads halved the throughput.
    let mut data = Vec::with_capacity(len as usize);
    let piece = (&mut file).take(len);
    match throttle {
        Some(throttle) => throttle.reader(piece).read_to_end(&mut data),
        None => { piece }.read_to_end(&mut data),
    }
    .map_err(|e| io("cannot read", e))?;
    if data.len() as u64 != len {
        t.catalog.invalidate_file(&photo.library, &photo.path)?;
        return Err(GridError::Setup(format!(
            "{} changed while it was sent; it is sent after the next scan",
            path.display()
        )));
    }
    Ok(data)
}

/// A piece of a photo a peer sent.
pub struct Upload<'a> {
    pub hash: ContentHash,
    /// The sender's node name.
    pub node: &'a str,
    /// `library/path` on the sender.
    pub name: &'a str,
    pub captured: Option<&'a str>,
    pub offset: u64,
    /// The photo's whole size.
    pub total: u64,
    pub bytes: &'a [u8],
}

/// How an upload went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Received {
    /// Kept; send from this offset on.
    Partial(u64),
    /// The photo is stored, under this name in the GRID library.
    Stored(RelPath),
    /// This node held the photo already; nothing was written.
    Held,
}

/// Receives photos, one upload per photo at a time.
#[derive(Default)]
pub struct Inbox {
    busy: Mutex<HashSet<ContentHash>>,
}

/// Marks a photo's upload as in progress for as long as it lives.
struct Claim<'a> {
    inbox: &'a Inbox,
    hash: ContentHash,
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.inbox
            .busy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.hash);
    }
}

fn grid_library(t: &Triplicate) -> Result<&LibraryConfig> {
    t.config
        .grid
        .library
        .as_deref()
        .and_then(|name| t.config.library(name))
        .ok_or(GridError::NotAccepting)
}

fn partial_path(lib: &LibraryConfig, hash: &ContentHash) -> PathBuf {
    lib.path
        .join(META_DIR)
        .join(INCOMING)
        .join(format!("{}.part", hash.to_hex()))
}

/// Whether this node holds the photo in one of its libraries.
fn holds(t: &Triplicate, hash: &ContentHash) -> Result<bool> {
    Ok(match t.catalog.photo_id_of(hash)? {
        Some(id) => !t.catalog.sources_of(id)?.names.is_empty(),
        None => false,
    })
}

impl Inbox {
    pub fn new() -> Inbox {
        Inbox::default()
    }

    /// What this node has of a photo: all of it, or part of an upload.
    pub fn state(&self, t: &Triplicate, hash: &ContentHash) -> Result<Option<PhotoState>> {
        if holds(t, hash)? {
            return Ok(Some(PhotoState {
                received: true,
                offset: 0,
                size: None,
            }));
        }
        let Ok(lib) = grid_library(t) else {
            return Ok(None);
        };
        Ok(fs::metadata(partial_path(lib, hash))
            .ok()
            .map(|m| PhotoState {
                received: false,
                offset: m.len(),
                size: None,
            }))
    }

    /// Takes a piece of a photo: appends it to the upload, and stores the photo when it
    /// is whole and its hash matches.
    pub fn receive(&self, t: &Triplicate, upload: &Upload<'_>) -> Result<Received> {
        let name = check_upload(upload)?;
        let end = upload.offset + upload.bytes.len() as u64;
        let lib = grid_library(t)?;
        if holds(t, &upload.hash)? {
            return Ok(Received::Held);
        }
        let _claim = {
            let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
            if !busy.insert(upload.hash) {
                return Err(GridError::Busy {
                    hash: upload.hash.to_hex(),
                });
            }
            Claim {
                inbox: self,
                hash: upload.hash,
            }
        };
        let part = partial_path(lib, &upload.hash);
        let io = |what, source| GridError::Io {
            what,
            path: part.clone(),
            source,
        };
        if let Some(dir) = part.parent() {
            fs::create_dir_all(dir).map_err(|e| io("cannot create the folder for", e))?;
        }
        let mut file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&part)
            .map_err(|e| io("cannot open", e))?;
        let have = file.metadata().map_err(|e| io("cannot stat", e))?.len();
        if have != upload.offset {
            return Err(GridError::WrongOffset {
                expected: have,
                given: upload.offset,
            });
        }
        file.write_all(upload.bytes)
            .map_err(|e| io("cannot write", e))?;
        if end < upload.total {
            return Ok(Received::Partial(end));
        }
        file.sync_all().map_err(|e| io("cannot sync", e))?;
        drop(file);
        let mut reader = File::open(&part).map_err(|e| io("cannot read back", e))?;
        let (hash, size) =
            ContentHash::of_reader(&mut reader).map_err(|e| io("cannot read back", e))?;
        if hash != upload.hash || size != upload.total {
            let _ = fs::remove_file(&part);
            tracing::warn!(
                node = upload.node,
                "an upload of {} did not match its hash: discarded",
                upload.hash.to_hex()
            );
            return Err(GridError::HashMismatch {
                hash: upload.hash.to_hex(),
            });
        }
        let node = RelPath::new(upload.node.as_bytes().to_vec())
            .map_err(|e| GridError::BadRequest(e.to_string()))?;
        let stored = publish(lib, &part, &node.join(&name), &hash)?;
        record_received(t, lib, &stored, hash, size, upload.captured)?;
        tracing::info!(
            node = upload.node,
            "received {}",
            String::from_utf8_lossy(stored.as_bytes())
        );
        Ok(Received::Stored(stored))
    }
}

/// The checks an upload must pass before a byte is written: a node's name, a relative
/// name, a size this node accepts, bytes within it. Returns the photo's name.
fn check_upload(upload: &Upload<'_>) -> Result<RelPath> {
    names::node_name(upload.node)?;
    let name = names::relative(upload.name)?;
    if upload.total > PHOTO_MAX {
        return Err(GridError::BadRequest(format!(
            "a photo of {} bytes is larger than this node accepts",
            upload.total
        )));
    }
    let end = upload.offset + upload.bytes.len() as u64;
    if end > upload.total {
        return Err(GridError::BadRequest(format!(
            "bytes {}-{end} lie beyond the photo's {} bytes",
            upload.offset, upload.total
        )));
    }
    Ok(name)
}

/// Records a received photo in the GRID library, so that the next scan knows it: its
/// capture time as sent (when it reads as one), else now.
fn record_received(
    t: &Triplicate,
    lib: &LibraryConfig,
    stored: &RelPath,
    hash: ContentHash,
    size: u64,
    captured: Option<&str>,
) -> Result<()> {
    let meta = fs::metadata(stored.to_path(&lib.path)).map_err(|source| GridError::Io {
        what: "cannot stat",
        path: stored.to_path(&lib.path),
        source,
    })?;
    let captured = captured
        .filter(|c| {
            chrono::NaiveDateTime::parse_from_str(c, crate::scan::metadata::CAPTURE_FORMAT).is_ok()
        })
        .map(str::to_string)
        .unwrap_or_else(|| {
            chrono::Local::now()
                .format(crate::scan::metadata::CAPTURE_FORMAT)
                .to_string()
        });
    t.catalog.record_files(
        &lib.name,
        &[ScannedFile {
            path: stored.clone(),
            hash,
            size,
            mtime_ns: crate::scan::mtime_ns(&meta),
            inode: meta.ino(),
            captured,
            captured_from: "grid",
            kind: PhotoKind::from_name(stored.file_name()),
        }],
    )?;
    Ok(())
}

/// Unfinished uploads untouched for this long are removed: their sender gave up (or
/// was removed), and a sender that comes back starts that photo again.
pub const STALE_UPLOAD: Duration = Duration::from_secs(7 * 24 * 3600);

/// Removes unfinished uploads older than `max_age` from the GRID library; returns how
/// many bytes were freed.
pub fn sweep_stale_uploads(t: &Triplicate, max_age: Duration) -> Result<u64> {
    let Ok(lib) = grid_library(t) else {
        return Ok(0);
    };
    let dir = lib.path.join(META_DIR).join(INCOMING);
    let Ok(entries) = fs::read_dir(&dir) else {
        return Ok(0);
    };
    let mut freed = 0;
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else { continue };
        let old = meta
            .modified()
            .ok()
            .and_then(|m| m.elapsed().ok())
            .is_some_and(|age| age > max_age);
        let ours = entry.file_name().to_string_lossy().ends_with(".part");
        if meta.is_file() && ours && old && fs::remove_file(entry.path()).is_ok() {
            tracing::info!(
                "removed an upload abandoned for a week: {}",
                entry.path().display()
            );
            freed += meta.len();
        }
    }
    Ok(freed)
}

/// Publishes the finished upload `part` at `key` in the library, never replacing a
/// file: the same content there already is kept (and `part` dropped); a name taken by
/// other content gets a distinct one. Returns the name it is stored under.
fn publish(lib: &LibraryConfig, part: &Path, key: &RelPath, hash: &ContentHash) -> Result<RelPath> {
    let first = key.to_path(&lib.path);
    let dir = first.parent().unwrap_or(&lib.path).to_path_buf();
    let io = |what, path: &Path, source| GridError::Io {
        what,
        path: path.into(),
        source,
    };
    fs::create_dir_all(&dir).map_err(|e| io("cannot create", &dir, e))?;
    for candidate in candidate_keys(key, hash) {
        let target = candidate.to_path(&lib.path);
        match fs::hard_link(part, &target) {
            Ok(()) => {
                crate::fsutil::sync_dir(&dir).map_err(|e| io("cannot sync", &dir, e))?;
                let _ = fs::remove_file(part);
                return Ok(candidate);
            }
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let same = File::open(&target)
                    .and_then(|mut f| ContentHash::of_reader(&mut f))
                    .is_ok_and(|(h, _)| h == *hash);
                if same {
                    let _ = fs::remove_file(part);
                    return Ok(candidate);
                }
            }
            Err(e) => return Err(io("cannot store", &target, e)),
        }
    }
    Err(GridError::Setup(format!(
        "no free name for {} in {}",
        String::from_utf8_lossy(key.as_bytes()),
        lib.path.display()
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uploads_abandoned_for_a_week_are_swept_and_recent_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let grid = dir.path().join("grid");
        fs::create_dir_all(&grid).unwrap();
        let home = crate::home::Home::in_dir(&dir.path().join("home"));
        crate::setup::init(&home, "c", std::slice::from_ref(&grid)).unwrap();
        let mut file = crate::config::ConfigFile::open(&home.config).unwrap();
        file.set_grid_value("library", "grid".into());
        file.save().unwrap();
        let t = Triplicate::open(&home).unwrap();
        let incoming = grid.join(META_DIR).join(INCOMING);
        fs::create_dir_all(&incoming).unwrap();
        let (old, recent) = (incoming.join("a.part"), incoming.join("b.part"));
        fs::write(&old, b"abandoned").unwrap();
        fs::write(&recent, b"in progress").unwrap();
        let week_ago = std::time::SystemTime::now() - STALE_UPLOAD - Duration::from_secs(60);
        File::options()
            .write(true)
            .open(&old)
            .unwrap()
            .set_modified(week_ago)
            .unwrap();
        assert_eq!(sweep_stale_uploads(&t, STALE_UPLOAD).unwrap(), 9);
        assert!(!old.exists() && recent.exists());
    }

    #[test]
    fn a_name_taken_by_other_content_gets_its_own_and_the_same_content_is_kept_once() {
        let dir = tempfile::tempdir().unwrap();
        let lib = LibraryConfig {
            name: "grid".into(),
            path: dir.path().to_path_buf(),
            media: crate::destination::MediaKind::Ssd,
        };
        let key = RelPath::new(b"a/lib/IMG_0001.CR2".to_vec()).unwrap();
        let stage = |bytes: &[u8]| {
            let part = dir.path().join("incoming.part");
            fs::write(&part, bytes).unwrap();
            (part, ContentHash::of(bytes))
        };
        let (part, first) = stage(b"first");
        assert_eq!(publish(&lib, &part, &key, &first).unwrap(), key);
        let (part, again) = stage(b"first");
        assert_eq!(
            publish(&lib, &part, &key, &again).unwrap(),
            key,
            "the same bytes: kept once"
        );
        assert!(!part.exists());
        let (part, other) = stage(b"other");
        let name = publish(&lib, &part, &key, &other).unwrap();
        assert_ne!(name, key);
        assert_eq!(
            fs::read(key.to_path(dir.path())).unwrap(),
            b"first",
            "never replaced"
        );
        assert_eq!(fs::read(name.to_path(dir.path())).unwrap(), b"other");
    }
}
