//! Remote destinations: S3-compatible object stores (AWS, B2, Wasabi, MinIO, Garage,
//! Ceph RGW), SFTP servers and WebDAV servers (Nextcloud among them), all through
//! opendal.
//!
//! A remote destination keeps the local layout and the same `.triplicate/` marker,
//! under the target's prefix or folder. What the local destination gets from the
//! filesystem, it gets from the server:
//! - **Nothing partial is visible.** On S3 an object appears only when its upload
//!   completes (one PUT, or CompleteMultipartUpload for large files); an interrupted
//!   multipart upload stays invisible, and a bucket lifecycle rule for incomplete
//!   uploads clears what it leaves (see the README). SFTP and WebDAV write under a
//!   temporary name in the same folder (`.triplicate-partial-…`, as on a local disk)
//!   and rename it when every byte is there; [`WriteDestination::sweep_partials`]
//!   removes what a crash leaves.
//! - **Nothing is replaced.** Every put first checks that the key is free; S3 puts also
//!   ask the store to refuse an existing key (`If-None-Match: *`). A destination has
//!   one writer (the node that owns it), so the check holds.
//! - **The store proves the bytes** where it can: each S3 part is sent with its CRC32C,
//!   computed here from the bytes the engine hashes as it reads the original, and the
//!   store checks it before it accepts the part, so the copy needs no read-back
//!   ([`Properties::proven_on_upload`]). SFTP and WebDAV offer no such check: the
//!   engine reads those copies back and compares BLAKE3, as on a disk.
//!
//! Secrets (see [`target`]) never come from the URL and never appear in messages.
//!
//! Connecting is in `connect`, sending a file's bytes in `upload`, S3 Object Lock
//! in [`object_lock`].

mod connect;
pub mod object_lock;
mod upload;
pub use crate::target;

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock};

use opendal::blocking;

use super::local::{MARKER_FILE, PARTIAL_PREFIX};
use super::{
    DestError, FORMAT_VERSION, Linked, META_DIR, Marker, ObjectMeta, Properties, ReadDestination,
    Stored, WriteDestination,
};
use crate::relpath::RelPath;
use crate::throttle::Throttle;
pub use target::{Credentials, KnownHosts, RemoteTarget, S3Target, WebDavLogin, is_remote};

/// The runtime opendal's blocking calls run on: small, shared by every destination.
static RUNTIME: LazyLock<tokio::runtime::Runtime> = LazyLock::new(|| {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("triplicate-remote")
        .enable_all()
        .build()
        .expect("a tokio runtime for remote destinations")
});

/// Bytes sent per part of a multipart upload (and per write call).
const PART: usize = 8 << 20;
/// Parts of one file in flight at once: memory per file is PART × this.
const PARTS_IN_FLIGHT: usize = 4;

/// How a put makes its bytes appear under the final key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Publish {
    /// The store shows an object only once its upload completes (S3).
    Direct,
    /// Write a temporary name beside the key, then rename it (SFTP, WebDAV).
    Rename,
}

/// A remote store (under a prefix or folder) as a destination.
pub struct RemoteDestination {
    name: String,
    /// The target as configured, for messages (it holds no secret).
    target: String,
    parsed: RemoteTarget,
    op: blocking::Operator,
    /// The same store, for uploads: only the async writer can abort a multipart upload.
    uploads: opendal::Operator,
    protocol: &'static str,
    publish: Publish,
    if_not_exists: bool,
    /// Whether a file can be sent in several writes; WebDAV sends one request body.
    streams: bool,
    /// S3 Object Lock: a retention period set on every object stored.
    lock: Option<object_lock::ObjectLock>,
    /// The configured `bandwidth`, shared by every upload to this destination.
    throttle: Option<Arc<Throttle>>,
}

impl RemoteDestination {
    fn err(&self, op: &'static str, key: Option<&RelPath>, e: opendal::Error) -> DestError {
        remote_error(&self.name, self.protocol, op, key, e)
    }

    fn already_exists(&self, key: &RelPath) -> DestError {
        DestError::AlreadyExists {
            dest: self.name.clone(),
            key: key.clone(),
        }
    }

    /// Sets a retention period on every object stored from now on (S3 Object Lock).
    /// `credentials_file` as for [`RemoteDestination::connect`].
    pub fn with_object_lock(
        mut self,
        credentials_file: Option<&Path>,
        mode: object_lock::LockMode,
        period: std::time::Duration,
    ) -> Result<RemoteDestination, DestError> {
        let configure = |message: String| DestError::Remote {
            dest: self.name.clone(),
            op: "configure object lock",
            key: None,
            message,
            transient: false,
        };
        let RemoteTarget::S3(t) = &self.parsed else {
            return Err(configure("object lock is for S3 destinations only".into()));
        };
        let credentials = credentials_file
            .map(Credentials::from_file)
            .transpose()
            .map_err(configure)?;
        self.lock = Some(
            object_lock::ObjectLock::new(t, credentials.as_ref(), mode, period)
                .map_err(configure)?,
        );
        Ok(self)
    }

    /// Puts what was just stored at `path` under retention, where the destination
    /// has object lock.
    fn retain(&self, key: &RelPath, path: &str) -> Result<(), DestError> {
        let Some(lock) = &self.lock else {
            return Ok(());
        };
        let until = lock.retain(path).map_err(|message| DestError::Remote {
            dest: self.name.clone(),
            op: "set the retention of",
            key: Some(key.clone()),
            message,
            transient: false,
        })?;
        tracing::debug!(destination = %self.name, "{key} is locked until {until}");
        Ok(())
    }

    /// Whether every object stored here gets a retention period.
    pub fn is_locked(&self) -> bool {
        self.lock.is_some()
    }

    fn marker_path() -> String {
        format!("{META_DIR}/{MARKER_FILE}")
    }

    /// Reads the marker: "not mounted" when there is none (an empty bucket or prefix).
    pub fn read_marker(&self) -> Result<Marker, DestError> {
        let bytes = match self.op.read(&Self::marker_path()) {
            Ok(b) => b.to_vec(),
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => {
                return Err(DestError::NotMounted {
                    dest: self.name.clone(),
                    root: PathBuf::from(&self.target),
                });
            }
            Err(e) => return Err(self.err("read the marker of", None, e)),
        };
        let text = String::from_utf8_lossy(&bytes);
        let marker: Marker = toml::from_str(&text).map_err(|e| DestError::BadMarker {
            dest: self.name.clone(),
            path: PathBuf::from(format!("{}/{}", self.target, Self::marker_path())),
            message: e.message().to_string(),
        })?;
        if marker.format > FORMAT_VERSION {
            return Err(DestError::BadMarker {
                dest: self.name.clone(),
                path: PathBuf::from(format!("{}/{}", self.target, Self::marker_path())),
                message: format!(
                    "format {} is newer than this program understands ({FORMAT_VERSION}); upgrade triplicate",
                    marker.format
                ),
            });
        }
        Ok(marker)
    }

    /// Reads the marker and checks that it is the expected destination.
    pub fn check_marker(&self, expected_id: &str) -> Result<Marker, DestError> {
        let marker = self.read_marker()?;
        if marker.id != expected_id {
            return Err(DestError::WrongDestination {
                dest: self.name.clone(),
                root: PathBuf::from(&self.target),
                found: marker.id,
                expected: expected_id.into(),
            });
        }
        Ok(marker)
    }

    /// Makes the target a destination: writes the marker, or adopts the one there.
    /// Writing it is also the check that the store is reachable and writable.
    pub fn initialise(&self, marker: &Marker) -> Result<Marker, DestError> {
        match self.read_marker() {
            Ok(existing) => return Ok(existing),
            Err(DestError::NotMounted { .. }) => {}
            Err(e) => return Err(e),
        }
        let text = toml::to_string(marker).expect("a marker serialises");
        let key = RelPath::new(Self::marker_path().into_bytes()).expect("a clean key");
        self.put(&key, &mut text.as_bytes(), text.len() as u64)?;
        Ok(marker.clone())
    }

    fn path(&self, key: &RelPath) -> Result<String, DestError> {
        key.as_str().map(str::to_string).ok_or_else(|| DestError::Unsupported {
            dest: self.name.clone(),
            key: key.clone(),
            what: "object stores keep names as UTF-8: rename the file, or use a local destination",
        })
    }
}

impl ReadDestination for RemoteDestination {
    fn name(&self) -> &str {
        &self.name
    }

    fn stat(&self, key: &RelPath) -> Result<Option<ObjectMeta>, DestError> {
        let path = self.path(key)?;
        match self.op.stat(&path) {
            Ok(m) => Ok(Some(ObjectMeta {
                key: key.clone(),
                size: m.content_length(),
            })),
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(self.err("stat", Some(key), e)),
        }
    }

    fn list(&self, prefix: Option<&RelPath>) -> Result<Vec<ObjectMeta>, DestError> {
        let start = match prefix {
            Some(p) => format!("{}/", self.path(p)?),
            None => String::new(),
        };
        let options = opendal::options::ListOptions {
            recursive: true,
            ..Default::default()
        };
        let entries = match self.op.list_options(&start, options) {
            Ok(entries) => entries,
            // A folder that was never written (S3 has none; SFTP and WebDAV say so).
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(self.err("list", prefix, e)),
        };
        let mut out = Vec::new();
        for entry in entries {
            if entry.metadata().is_dir() {
                continue;
            }
            let path = entry.path().trim_start_matches('/');
            if prefix.is_none() && (path == META_DIR || path.starts_with(&format!("{META_DIR}/"))) {
                continue;
            }
            if is_partial(path) {
                continue;
            }
            let Ok(key) = RelPath::new(path.as_bytes().to_vec()) else {
                continue;
            };
            let size = match entry.metadata().content_length() {
                0 => self.stat(&key)?.map(|m| m.size).unwrap_or(0),
                n => n,
            };
            out.push(ObjectMeta { key, size });
        }
        out.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(out)
    }

    fn read(&self, key: &RelPath) -> Result<Box<dyn Read + Send>, DestError> {
        let path = self.path(key)?;
        // The reader is lazy: ask first, so that an absent key fails here.
        if self.stat(key)?.is_none() {
            return Err(DestError::NotFound {
                dest: self.name.clone(),
                key: key.clone(),
            });
        }
        let reader = self
            .op
            .reader(&path)
            .and_then(|r| r.into_std_read(..))
            .map_err(|e| match e.kind() {
                opendal::ErrorKind::NotFound => DestError::NotFound {
                    dest: self.name.clone(),
                    key: key.clone(),
                },
                _ => self.err("read", Some(key), e),
            })?;
        Ok(Box::new(reader))
    }

    fn space(&self) -> Option<crate::fsutil::Space> {
        None
    }
}

/// A temporary name beside `path`, in the same folder, as a local destination uses.
fn partial_path(path: &str) -> String {
    let random = uuid::Uuid::new_v4().simple().to_string();
    match path.rsplit_once('/') {
        Some((dir, _)) => format!("{dir}/{PARTIAL_PREFIX}{}", &random[..12]),
        None => format!("{PARTIAL_PREFIX}{}", &random[..12]),
    }
}

fn is_partial(path: &str) -> bool {
    path.rsplit('/')
        .next()
        .unwrap_or(path)
        .starts_with(PARTIAL_PREFIX)
}

impl WriteDestination for RemoteDestination {
    fn put(&self, key: &RelPath, data: &mut dyn Read, len: u64) -> Result<Stored, DestError> {
        let mut limited;
        let data: &mut dyn Read = match &self.throttle {
            Some(throttle) => {
                limited = throttle.reader(data);
                &mut limited
            }
            None => data,
        };
        let path = self.path(key)?;
        if self.stat(key)?.is_some() {
            return Err(self.already_exists(key));
        }
        if self.publish == Publish::Direct {
            self.upload(key, &path, data, len)?;
            self.retain(key, &path)?;
            return Ok(Stored::AsGiven);
        }
        let partial = partial_path(&path);
        let result = self.upload(key, &partial, data, len).and_then(|()| {
            if self.stat(key)?.is_some() {
                return Err(self.already_exists(key));
            }
            self.op
                .rename(&partial, &path)
                .map_err(|e| self.err("rename into place", Some(key), e))
        });
        if result.is_err() {
            // Best effort: what stays behind is swept on the next pass.
            let _ = self.op.delete(&partial);
        }
        result.map(|()| Stored::AsGiven)
    }

    /// A server-side copy on S3 (the bytes do not travel); elsewhere a copy through
    /// [`WriteDestination::put`].
    fn link(&self, from: &RelPath, to: &RelPath, len: u64) -> Result<Linked, DestError> {
        if self.publish != Publish::Direct {
            let mut reader = self.read(from)?;
            return self.put(to, &mut reader, len).map(Linked::Copied);
        }
        let (src, dst) = (self.path(from)?, self.path(to)?);
        if self.stat(to)?.is_some() {
            return Err(self.already_exists(to));
        }
        self.op
            .copy(&src, &dst)
            .map_err(|e| self.err("copy", Some(from), e))?;
        self.retain(to, &dst)?;
        Ok(Linked::Copied(Stored::AsGiven))
    }

    /// S3 shows nothing unfinished; elsewhere, removes the temporary names that
    /// interrupted puts left.
    fn sweep_partials(&self, folder: Option<&RelPath>) -> Result<usize, DestError> {
        if self.publish == Publish::Direct {
            return Ok(0);
        }
        let start = match folder {
            Some(f) => format!("{}/", self.path(f)?),
            None => String::new(),
        };
        let options = opendal::options::ListOptions {
            recursive: folder.is_none(),
            ..Default::default()
        };
        let entries = match self.op.list_options(&start, options) {
            Ok(entries) => entries,
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(self.err("list", folder, e)),
        };
        let mut removed = 0;
        for entry in entries {
            if entry.metadata().is_file() && is_partial(entry.path()) {
                self.op
                    .delete(entry.path())
                    .map_err(|e| self.err("delete a partial upload in", folder, e))?;
                removed += 1;
            }
        }
        Ok(removed)
    }

    /// Never onto an existing key: a rename where the protocol has one, else (S3) a
    /// server-side copy and the old key removed.
    fn rename(&self, from: &RelPath, to: &RelPath) -> Result<(), DestError> {
        let (src, dst) = (self.path(from)?, self.path(to)?);
        if self.stat(to)?.is_some() {
            return Err(self.already_exists(to));
        }
        if self.publish == Publish::Rename {
            return self
                .op
                .rename(&src, &dst)
                .map_err(|e| self.err("rename", Some(from), e));
        }
        self.op
            .copy(&src, &dst)
            .map_err(|e| self.err("copy", Some(from), e))?;
        self.retain(to, &dst)?;
        self.op
            .delete(&src)
            .map_err(|e| self.err("delete", Some(from), e))
    }

    fn remove(&self, key: &RelPath) -> Result<(), DestError> {
        let path = self.path(key)?;
        self.op
            .delete(&path)
            .map_err(|e| self.err("delete", Some(key), e))
    }

    fn properties(&self) -> Properties {
        Properties {
            atomic_no_replace: self.if_not_exists,
            connections: if self.protocol == "s3" { 8 } else { 4 },
            proven_on_upload: self.protocol == "s3",
            encrypted: false,
            staged: false,
            verified_by: match self.protocol {
                "s3" => "CRC32C of every part checked by the store on upload",
                "sftp" => "read back over SFTP",
                _ => "read back over WebDAV",
            },
        }
    }
}

/// An opendal error as a destination error, in words a user can act on.
fn remote_error(
    dest: &str,
    protocol: &str,
    op: &'static str,
    key: Option<&RelPath>,
    e: opendal::Error,
) -> DestError {
    // The whole chain: ssh's own words (host key, login) are in a source.
    let mut causes = Vec::new();
    let mut source = std::error::Error::source(&e);
    while let Some(cause) = source {
        causes.push(cause.to_string());
        source = cause.source();
    }
    let text = format!("{e} {}", causes.join(" "));
    let refused = e.kind() == opendal::ErrorKind::PermissionDenied
        || e.message().contains("Unauthorized")
        || e.message().contains("Forbidden");
    let (message, permanent) = if text.contains("RequestTimeTooSkewed") {
        ("the store refused the request because this machine's clock is wrong: set the time (enable NTP, e.g. `timedatectl set-ntp true`) and try again".to_string(), true)
    } else if text.contains("NoSuchBucket") {
        (
            "the bucket does not exist: create it, or correct the bucket name in the target"
                .to_string(),
            true,
        )
    } else if text.contains("InvalidAccessKeyId") || text.contains("SignatureDoesNotMatch") {
        ("the store refused the credentials: check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the credentials file".to_string(), true)
    } else if text.contains("Host key verification failed")
        || text.contains("HOST IDENTIFICATION HAS CHANGED")
    {
        ("the server's host key is unknown to this machine, or has changed: connect once with `ssh` to check and accept it, or add ?known_hosts=accept-new to the target to trust it on first contact".to_string(), true)
    } else if protocol == "sftp" && (refused || text.contains("Permission denied (publickey")) {
        ("the server refused the login or the folder: check the user in the target, the key (credentials_file, or ssh's own keys and agent) and that the user may write the folder".to_string(), true)
    } else if refused && protocol == "webdav" {
        ("the server refused the credentials: check WEBDAV_USERNAME / WEBDAV_PASSWORD or the credentials file, and that the user may write the folder".to_string(), true)
    } else if refused {
        ("the store refused access: check the credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the credentials file) and that the key may read and write this bucket".to_string(), true)
    } else {
        // opendal's own words without the request context, and the first line of the
        // cause for ssh, whose errors say little else.
        let mut message = e.message().to_string();
        if protocol == "sftp"
            && let Some(line) = causes
                .last()
                .and_then(|c| c.lines().find(|l| !l.trim().is_empty()))
        {
            message = format!("{message}: {}", line.trim());
        }
        (message, false)
    };
    let transient = !permanent
        && (e.is_temporary()
            || matches!(
                e.kind(),
                opendal::ErrorKind::RateLimited | opendal::ErrorKind::Unexpected
            ));
    DestError::Remote {
        dest: dest.into(),
        op,
        key: key.cloned(),
        message,
        transient,
    }
}
