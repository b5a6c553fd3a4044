//! Remote destinations: S3-compatible object stores (AWS, B2, Wasabi, MinIO, Garage,
//! Ceph RGW), through opendal.
//!
//! A remote destination keeps the local layout and the same `.triplicate/` marker, as
//! objects under the target's prefix. What the local destination gets from the
//! filesystem, it gets from the store:
//! - **Nothing partial is visible.** An object appears only when its upload completes
//!   (one PUT, or CompleteMultipartUpload for large files); an interrupted multipart
//!   upload stays invisible, and a bucket lifecycle rule for incomplete uploads clears
//!   what it leaves (see the README).
//! - **Nothing is replaced.** A put asks the store to refuse an existing key
//!   (`If-None-Match: *`), after checking for one itself: a store that ignores the
//!   header still meets a check a moment earlier by the only writer it has.
//! - **The store proves the bytes.** Each part is sent with its CRC32C, computed here,
//!   which the store checks before it accepts the part; the engine still reads every
//!   copy back and compares BLAKE3 as it does everywhere, so a copy is verified by
//!   the device, not by our memory.
//!
//! Credentials come from `AWS_ACCESS_KEY_ID` / `AWS_SECRET_ACCESS_KEY` or from a shared
//! credentials file named by `credentials_file`; never from the URL, and they never
//! appear in messages.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::LazyLock;

use opendal::blocking;

use super::local::MARKER_FILE;
use super::{
    DestError, FORMAT_VERSION, META_DIR, Marker, ObjectMeta, Properties, ReadDestination,
    WriteDestination,
};
use crate::relpath::RelPath;

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

/// A parsed `s3://bucket/prefix?endpoint=…&region=…&path_style=true` target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Target {
    pub bucket: String,
    /// Without leading or trailing slashes; empty for the bucket's top.
    pub prefix: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// Virtual-host style (`bucket.endpoint`) instead of path style; path style is the
    /// default because self-hosted stores (Garage, MinIO, Ceph) expect it.
    pub virtual_host: bool,
}

/// Whether a target names a remote destination (`scheme://…`).
pub fn is_remote(target: &str) -> bool {
    target.contains("://")
}

impl S3Target {
    /// Parses a target URL. Credentials in it are refused, so they cannot end up in the
    /// configuration, the logs or the page.
    pub fn parse(target: &str) -> Result<S3Target, String> {
        let rest = target.strip_prefix("s3://").ok_or_else(|| {
            format!("'{target}': remote destinations are s3://bucket/prefix (sftp:// and webdav:// are coming)")
        })?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        if path.contains('@') {
            return Err(format!(
                "'{target}': put no credentials in the URL; use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or credentials_file"
            ));
        }
        let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
        if bucket.is_empty() {
            return Err(format!(
                "'{target}' names no bucket: use s3://bucket/prefix"
            ));
        }
        let mut t = S3Target {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
            endpoint: None,
            region: None,
            virtual_host: false,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "endpoint" => t.endpoint = Some(v.to_string()),
                "region" => t.region = Some(v.to_string()),
                "path_style" => t.virtual_host = v == "false",
                "virtual_host" => t.virtual_host = v != "false",
                "access_key_id" | "secret_access_key" | "session_token" => {
                    return Err(format!(
                        "'{k}' does not belong in the URL; use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or credentials_file"
                    ));
                }
                other => {
                    return Err(format!(
                        "'{target}': unknown option '{other}' (endpoint, region, path_style)"
                    ));
                }
            }
        }
        Ok(t)
    }
}

/// Access keys, from a shared credentials file in the AWS format: the first profile
/// with `aws_access_key_id = …` and `aws_secret_access_key = …`.
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, secret hidden)", self.access_key_id)
    }
}

impl Credentials {
    pub fn from_file(path: &Path) -> Result<Credentials, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read credentials file {}: {e}", path.display()))?;
        let (mut id, mut secret) = (None, None);
        for line in text.lines().map(str::trim) {
            // The first profile that has both keys.
            if line.starts_with('[') {
                if id.is_some() && secret.is_some() {
                    break;
                }
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let v = v.trim().trim_matches('"').to_string();
            match k.trim() {
                "aws_access_key_id" | "access_key_id" => id = Some(v),
                "aws_secret_access_key" | "secret_access_key" => secret = Some(v),
                _ => {}
            }
        }
        match (id, secret) {
            (Some(access_key_id), Some(secret_access_key)) => Ok(Credentials {
                access_key_id,
                secret_access_key,
            }),
            _ => Err(format!(
                "credentials file {} has no aws_access_key_id and aws_secret_access_key",
                path.display()
            )),
        }
    }
}

/// An S3-compatible bucket (under a prefix) as a destination.
pub struct ObjectDestination {
    name: String,
    /// The target as configured, for messages (it holds no secret).
    target: String,
    op: blocking::Operator,
    if_not_exists: bool,
}

impl ObjectDestination {
    /// Connects (no request is made yet).
    pub fn connect(
        name: &str,
        target: &str,
        credentials: Option<&Credentials>,
        bandwidth: Option<u64>,
    ) -> Result<ObjectDestination, DestError> {
        let t = S3Target::parse(target).map_err(|message| DestError::Remote {
            dest: name.into(),
            op: "configure",
            key: None,
            message,
            transient: false,
        })?;
        // The HTTP client (reqwest with rustls); installing it twice is harmless.
        opendal::install_default();
        let mut builder = opendal::services::S3::default()
            .bucket(&t.bucket)
            .root(&format!("/{}", t.prefix))
            .checksum_algorithm("crc32c");
        let endpoint = t
            .endpoint
            .or_else(|| std::env::var("AWS_ENDPOINT_URL").ok());
        if let Some(e) = endpoint.as_deref() {
            builder = builder.endpoint(e);
        }
        let region = t
            .region
            .or_else(|| std::env::var("AWS_REGION").ok())
            .or_else(|| std::env::var("AWS_DEFAULT_REGION").ok())
            .unwrap_or_else(|| "us-east-1".into());
        builder = builder.region(&region);
        if t.virtual_host {
            builder = builder.enable_virtual_host_style();
        }
        if let Some(c) = credentials {
            builder = builder
                .access_key_id(&c.access_key_id)
                .secret_access_key(&c.secret_access_key)
                .disable_config_load();
        }
        let fail = |e: opendal::Error| remote_error(name, "configure", None, e);
        let mut op = opendal::Operator::new(builder).map_err(fail)?;
        if let Some(bytes) = bandwidth {
            // The burst must hold one part, which is written in one go.
            let bytes = bytes.min(u32::MAX as u64) as u32;
            op = op.layer(opendal::layers::ThrottleLayer::new(
                bytes,
                bytes.max(PART as u32),
            ));
        }
        let if_not_exists = op.info().capability().write_with_if_not_exists;
        let _guard = RUNTIME.enter();
        let op = blocking::Operator::new(op).map_err(fail)?;
        Ok(ObjectDestination {
            name: name.into(),
            target: target.into(),
            op,
            if_not_exists,
        })
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
            Err(e) => return Err(remote_error(&self.name, "read the marker of", None, e)),
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

impl ReadDestination for ObjectDestination {
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
            Err(e) => Err(remote_error(&self.name, "stat", Some(key), e)),
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
        let entries = self
            .op
            .list_options(&start, options)
            .map_err(|e| remote_error(&self.name, "list", prefix, e))?;
        let mut out = Vec::new();
        for entry in entries {
            if entry.metadata().is_dir() {
                continue;
            }
            let path = entry.path().trim_start_matches('/');
            if prefix.is_none() && (path == META_DIR || path.starts_with(&format!("{META_DIR}/"))) {
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
                _ => remote_error(&self.name, "read", Some(key), e),
            })?;
        Ok(Box::new(reader))
    }

    fn space(&self) -> Option<crate::fsutil::Space> {
        None
    }
}

impl WriteDestination for ObjectDestination {
    fn put(&self, key: &RelPath, data: &mut dyn Read, len: u64) -> Result<(), DestError> {
        let path = self.path(key)?;
        if self.stat(key)?.is_some() {
            return Err(DestError::AlreadyExists {
                dest: self.name.clone(),
                key: key.clone(),
            });
        }
        let options = opendal::options::WriteOptions {
            if_not_exists: self.if_not_exists,
            chunk: Some(PART),
            concurrent: PARTS_IN_FLIGHT,
            ..Default::default()
        };
        let mut writer = self
            .op
            .writer_options(&path, options)
            .map_err(|e| remote_error(&self.name, "start writing", Some(key), e))?;
        let mut sent = 0u64;
        let mut buf = vec![0u8; PART];
        loop {
            let n = match read_full(data, &mut buf) {
                Ok(n) => n,
                // Dropping the writer unfinished leaves nothing under the key.
                Err(source) => {
                    return Err(DestError::Source {
                        dest: self.name.clone(),
                        key: key.clone(),
                        source,
                    });
                }
            };
            if n == 0 {
                break;
            }
            sent += n as u64;
            if sent > len {
                return Err(DestError::LengthMismatch {
                    dest: self.name.clone(),
                    key: key.clone(),
                    expected: len,
                    got: sent,
                });
            }
            writer
                .write(buf[..n].to_vec())
                .map_err(|e| remote_error(&self.name, "write", Some(key), e))?;
        }
        if sent != len {
            return Err(DestError::LengthMismatch {
                dest: self.name.clone(),
                key: key.clone(),
                expected: len,
                got: sent,
            });
        }
        writer.close().map_err(|e| match e.kind() {
            opendal::ErrorKind::ConditionNotMatch | opendal::ErrorKind::AlreadyExists => {
                DestError::AlreadyExists {
                    dest: self.name.clone(),
                    key: key.clone(),
                }
            }
            _ => remote_error(&self.name, "finish writing", Some(key), e),
        })?;
        Ok(())
    }

    /// Nothing to sweep: an unfinished upload is never visible under a key.
    fn sweep_partials(&self, _folder: Option<&RelPath>) -> Result<usize, DestError> {
        Ok(0)
    }

    /// A server-side copy, then the old key removed; never onto an existing key.
    fn rename(&self, from: &RelPath, to: &RelPath) -> Result<(), DestError> {
        let (src, dst) = (self.path(from)?, self.path(to)?);
        if self.stat(to)?.is_some() {
            return Err(DestError::AlreadyExists {
                dest: self.name.clone(),
                key: to.clone(),
            });
        }
        self.op
            .copy(&src, &dst)
            .map_err(|e| remote_error(&self.name, "copy", Some(from), e))?;
        self.op
            .delete(&src)
            .map_err(|e| remote_error(&self.name, "delete", Some(from), e))
    }

    fn remove(&self, key: &RelPath) -> Result<(), DestError> {
        let path = self.path(key)?;
        self.op
            .delete(&path)
            .map_err(|e| remote_error(&self.name, "delete", Some(key), e))
    }

    fn properties(&self) -> Properties {
        Properties {
            atomic_no_replace: self.if_not_exists,
            connections: 8,
            verified_by: "CRC32C checked by the store on upload, then read back",
        }
    }
}

/// Fills `buf` as far as `data` goes; returns how much was read (0 at the end).
fn read_full(data: &mut dyn Read, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match data.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// An opendal error as a destination error, in words a user can act on.
fn remote_error(
    dest: &str,
    op: &'static str,
    key: Option<&RelPath>,
    e: opendal::Error,
) -> DestError {
    let text = e.to_string();
    let message = if text.contains("RequestTimeTooSkewed") {
        "the store refused the request because this machine's clock is wrong: set the time (enable NTP, e.g. `timedatectl set-ntp true`) and try again".to_string()
    } else if text.contains("NoSuchBucket") {
        "the bucket does not exist: create it, or correct the bucket name in the target".to_string()
    } else if text.contains("InvalidAccessKeyId") || text.contains("SignatureDoesNotMatch") {
        "the store refused the credentials: check AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY or the credentials file".to_string()
    } else if e.kind() == opendal::ErrorKind::PermissionDenied {
        "the store refused access: check the credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the credentials file) and that the key may read and write this bucket".to_string()
    } else {
        // opendal's own words, without the request context (which names the endpoint).
        e.message().to_string()
    };
    let transient = e.is_temporary()
        || matches!(
            e.kind(),
            opendal::ErrorKind::RateLimited | opendal::ErrorKind::Unexpected
        ) && !text.contains("NoSuchBucket")
            && !text.contains("InvalidAccessKeyId")
            && !text.contains("SignatureDoesNotMatch");
    DestError::Remote {
        dest: dest.into(),
        op,
        key: key.cloned(),
        message,
        transient,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_without_credentials() {
        let t = S3Target::parse(
            "s3://photos/studio/backup?endpoint=http://127.0.0.1:3900&region=garage",
        )
        .unwrap();
        assert_eq!(t.bucket, "photos");
        assert_eq!(t.prefix, "studio/backup");
        assert_eq!(t.endpoint.as_deref(), Some("http://127.0.0.1:3900"));
        assert_eq!(t.region.as_deref(), Some("garage"));
        assert!(!t.virtual_host);
        assert_eq!(S3Target::parse("s3://b").unwrap().prefix, "");
        assert!(S3Target::parse("s3://key:secret@bucket/x").is_err());
        assert!(S3Target::parse("s3://b/x?secret_access_key=abc").is_err());
        assert!(S3Target::parse("s3:///x").is_err());
        assert!(S3Target::parse("s3://b/x?colour=red").is_err());
    }

    #[test]
    fn credentials_files_in_the_aws_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("creds");
        std::fs::write(
            &path,
            "[default]\naws_access_key_id = GK123\naws_secret_access_key = s3cr3t\n",
        )
        .unwrap();
        let c = Credentials::from_file(&path).unwrap();
        assert_eq!(
            (c.access_key_id.as_str(), c.secret_access_key.as_str()),
            ("GK123", "s3cr3t")
        );
        assert!(!format!("{c:?}").contains("s3cr3t"), "never printed");
        std::fs::write(&path, "[default]\n").unwrap();
        assert!(Credentials::from_file(&path).is_err());
    }
}
