//! Client-side encryption with age: [`EncryptedDestination`] wraps any destination and
//! stores every object under `<key>.age`, encrypted to the destination's X25519
//! recipients, so that the store (a cloud bucket, a friend's NAS) only ever sees
//! ciphertext. Each file is an ordinary age file: `age -d -i key.txt photo.jpg.age`
//! opens it without this program.
//!
//! The wrapper keeps the plain view: callers put, stat, list and read plain keys and
//! plain bytes. Two things are new.
//!
//! - A put says what it stored ([`Stored::Transformed`]): the BLAKE3 hash and length of
//!   the ciphertext, hashed as it was sent. [`ReadDestination::read_stored`] gives the
//!   ciphertext back, so a copy can be proven, and later checked, without the key.
//! - Reading plain bytes needs the key. It is an identity file (X25519 keys, as
//!   `age-keygen` writes them), or a passphrase: a passphrase-protected destination
//!   keeps a generated identity at [`IDENTITY_KEY`], itself encrypted with the
//!   passphrase (scrypt), which `age -d -i identity.age` also opens. A passphrase is
//!   never used on each file: scrypt is slow by design, and one file per photo would make
//!   a backup crawl.
//!
//! The marker stays plain: a destination must say what it is before any key is at hand.
//! It lists the recipients, so that a configuration which forgot to encrypt is refused
//! rather than mixing plain files in.

use std::cell::RefCell;
use std::io::{self, BufRead, Read, Write};
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::str::FromStr;
use std::sync::{Arc, OnceLock};

use age::secrecy::{ExposeSecret, SecretString};
use age::x25519;

use super::{
    DestError, Likeness, Marker, ObjectMeta, Properties, ReadDestination, Stored, WriteDestination,
};
use crate::config::DestinationConfig;
use crate::fsutil::Space;
use crate::photo::ContentHash;
use crate::relpath::RelPath;

/// What every stored key ends with.
pub const SUFFIX: &str = ".age";

/// Where a passphrase-protected destination keeps its identity, encrypted with the
/// passphrase. Stored as is, not through the wrapper.
pub const IDENTITY_KEY: &str = ".triplicate/identity.age";

/// age's payload: a 16-byte nonce, then chunks of 64 KiB, each with a 16-byte tag.
const NONCE: u64 = 16;
const CHUNK: u64 = 64 * 1024;
const TAG: u64 = 16;
/// No header we write comes near this; a longer one is not ours.
const MAX_HEADER: u64 = 64 * 1024;

/// The length of the ciphertext of `plain` bytes after a header of `header` bytes.
pub fn stored_len(header: u64, plain: u64) -> u64 {
    header + NONCE + plain + TAG * plain.div_ceil(CHUNK).max(1)
}

/// The plain length behind `stored` bytes of ciphertext after a header of `header`
/// bytes; `None` when no plain length gives that ciphertext.
pub fn plain_len(header: u64, stored: u64) -> Option<u64> {
    let payload = stored.checked_sub(header + NONCE)?;
    let chunks = payload.div_ceil(CHUNK + TAG).max(1);
    let plain = payload.checked_sub(TAG * chunks)?;
    (stored_len(header, plain) == stored).then_some(plain)
}

/// The length of the age header at the start of `reader`, up to and including the MAC
/// line.
pub fn header_len(reader: impl Read) -> io::Result<u64> {
    let mut reader = io::BufReader::with_capacity(4096, reader.take(MAX_HEADER));
    let mut total = 0u64;
    let mut line = Vec::new();
    loop {
        line.clear();
        let n = reader.read_until(b'\n', &mut line)?;
        if n == 0 || !line.ends_with(b"\n") {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not an age file: its header has no end",
            ));
        }
        if total == 0 && line != b"age-encryption.org/v1\n" {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "not an age v1 file",
            ));
        }
        total += n as u64;
        if line.starts_with(b"--- ") {
            return Ok(total);
        }
    }
}

/// The X25519 identities in the text of an identity file: `AGE-SECRET-KEY-1…` lines,
/// with `#` comments and blank lines between them, as `age-keygen` writes it.
pub fn parse_identities(text: &str) -> Result<Vec<x25519::Identity>, String> {
    let identities = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            x25519::Identity::from_str(l).map_err(|_| {
                "a line is not an age X25519 secret key (AGE-SECRET-KEY-1…); plugin and SSH keys are not supported".to_string()
            })
        })
        .collect::<Result<Vec<_>, _>>()?;
    if identities.is_empty() {
        return Err("it holds no age secret key".into());
    }
    Ok(identities)
}

/// Reads a passphrase from the first line of a file.
pub fn read_passphrase(path: &Path) -> Result<SecretString, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the passphrase file {}: {e}", path.display()))?;
    let line = text.lines().next().unwrap_or("");
    if line.is_empty() {
        return Err(format!(
            "the passphrase file {} is empty: write the passphrase on its first line",
            path.display()
        ));
    }
    Ok(SecretString::from(line.to_string()))
}

/// A new identity for a passphrase-protected destination: its recipient, and the
/// identity file encrypted with `passphrase`, to be stored at [`IDENTITY_KEY`].
pub fn new_protected_identity(passphrase: &SecretString) -> (String, Vec<u8>) {
    let identity = x25519::Identity::generate();
    let recipient = identity.to_public().to_string();
    let text = format!(
        "# Triplicate: the key of an encrypted destination, itself encrypted with its passphrase.\n\
         # Open a file with: age -d -i identity.age FILE.age\n\
         # public key: {recipient}\n{}\n",
        identity.to_string().expose_secret()
    );
    let encryptor = age::Encryptor::with_user_passphrase(passphrase.clone());
    let mut out = Vec::new();
    let mut writer = encryptor
        .wrap_output(&mut out)
        .expect("writing to memory cannot fail");
    writer
        .write_all(text.as_bytes())
        .and_then(|()| writer.finish().map(drop))
        .expect("writing to memory cannot fail");
    (recipient, out)
}

/// Opens a passphrase-protected identity file.
pub fn open_protected_identity(
    bytes: &[u8],
    passphrase: &SecretString,
) -> Result<Vec<x25519::Identity>, String> {
    let decryptor =
        age::Decryptor::new(bytes).map_err(|e| format!("the identity file is damaged: {e}"))?;
    let scrypt = age::scrypt::Identity::new(passphrase.clone());
    let mut reader = decryptor
        .decrypt(std::iter::once(&scrypt as &dyn age::Identity))
        .map_err(|e| match e {
            age::DecryptError::DecryptionFailed | age::DecryptError::NoMatchingKeys => {
                "the passphrase does not open its identity (wrong passphrase?)".to_string()
            }
            other => format!("its identity file cannot be opened: {other}"),
        })?;
    let mut text = String::new();
    reader
        .read_to_string(&mut text)
        .map_err(|e| format!("its identity file cannot be read: {e}"))?;
    parse_identities(&text)
}

/// Where the key that opens a destination's files comes from.
#[derive(Debug, Clone)]
enum KeySource {
    /// Nowhere on this node: files can be written and checked, not opened.
    Missing,
    IdentityFile(PathBuf),
    /// A passphrase file, which opens [`IDENTITY_KEY`] on the destination.
    Passphrase(PathBuf),
}

/// How a destination's copies are encrypted, and where its key is.
#[derive(Debug, Clone)]
pub struct Encryption {
    recipients: Vec<x25519::Recipient>,
    key: KeySource,
}

impl Encryption {
    /// The encryption `config` asks for, checked against what the destination's
    /// `marker` says it holds; `None` for a destination of plain files.
    pub fn of(config: &DestinationConfig, marker: &Marker) -> Result<Option<Self>, DestError> {
        let misconfigured = |message: String| DestError::Encryption {
            dest: config.name.clone(),
            message,
        };
        match (
            config.encrypt_to.is_empty(),
            marker.age_recipients.is_empty(),
        ) {
            (true, true) => return Ok(None),
            (true, false) => {
                return Err(misconfigured(
                    "it holds age-encrypted copies, but its configuration has no `encrypt_to`; \
                     add the recipients it was set up with (its marker lists them) so that no plain file is written there"
                        .into(),
                ));
            }
            (false, true) => {
                return Err(misconfigured(
                    "it holds plain copies, but its configuration asks for encryption; \
                     encrypt a new destination instead (`dest add … --encrypt-to`), so that one place never mixes the two"
                        .into(),
                ));
            }
            (false, false) => {}
        }
        let recipients: Vec<_> = config
            .encrypt_to
            .iter()
            .map(|r| r.value().clone())
            .collect();
        for path in [&config.identity_file, &config.passphrase_file]
            .into_iter()
            .flatten()
        {
            if crate::fsutil::readable_by_others(path) {
                tracing::warn!(
                    destination = %config.name,
                    "{} opens this destination's encrypted copies and can be read by other users: chmod 600 it",
                    path.display()
                );
            }
        }
        let key = match (&config.identity_file, &config.passphrase_file) {
            (Some(path), _) => KeySource::IdentityFile(path.clone()),
            (None, Some(path)) => KeySource::Passphrase(path.clone()),
            (None, None) => KeySource::Missing,
        };
        Ok(Some(Encryption { recipients, key }))
    }
}

/// A destination whose objects are stored encrypted, as `<key>.age`.
pub struct EncryptedDestination<D: ?Sized> {
    inner: Arc<D>,
    encryption: Encryption,
    /// The identities, loaded when first needed (a passphrase costs a second of scrypt).
    identities: OnceLock<Result<Vec<x25519::Identity>, String>>,
}

impl<D: ReadDestination + ?Sized> EncryptedDestination<D> {
    pub fn new(inner: Arc<D>, encryption: Encryption) -> Self {
        EncryptedDestination {
            inner,
            encryption,
            identities: OnceLock::new(),
        }
    }

    fn stored_key(key: &RelPath) -> RelPath {
        RelPath::new([key.as_bytes(), SUFFIX.as_bytes()].concat())
            .expect("a clean key with a suffix is clean")
    }

    /// The plain key behind a stored one; `None` for what is not ours (the marker).
    fn plain_key(stored: &RelPath) -> Option<RelPath> {
        let bytes = stored.as_bytes().strip_suffix(SUFFIX.as_bytes())?;
        RelPath::new(bytes.to_vec()).ok()
    }

    /// Puts the plain key back into an error about a stored key.
    fn plain_error(&self, key: &RelPath, e: DestError) -> DestError {
        match e {
            DestError::AlreadyExists { dest, .. } => DestError::AlreadyExists {
                dest,
                key: key.clone(),
            },
            DestError::NotFound { dest, .. } => DestError::NotFound {
                dest,
                key: key.clone(),
            },
            other => other,
        }
    }

    /// The plain size of the object stored at `stored`, `size` bytes long: read off its
    /// header, whose length varies.
    fn plain_meta(
        &self,
        key: RelPath,
        stored: &RelPath,
        size: u64,
    ) -> Result<ObjectMeta, DestError> {
        let damaged = |message: String| DestError::Decrypt {
            dest: self.name().into(),
            key: key.clone(),
            message,
        };
        let header =
            header_len(self.inner.read_stored(stored)?).map_err(|e| damaged(e.to_string()))?;
        let size = plain_len(header, size)
            .ok_or_else(|| damaged(format!("{size} bytes is no length an age file can have")))?;
        Ok(ObjectMeta { key, size })
    }

    fn identities(&self) -> Result<&[x25519::Identity], DestError> {
        let loaded = self.identities.get_or_init(|| match &self.encryption.key {
            KeySource::Missing => Err(format!(
                "this node has no key to open its files: give it the age identity with `triplicate dest edit {} --identity-file FILE`",
                self.name()
            )),
            KeySource::IdentityFile(path) => std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read its identity file {}: {e}", path.display()))
                .and_then(|text| {
                    parse_identities(&text)
                        .map_err(|e| format!("its identity file {}: {e}", path.display()))
                }),
            KeySource::Passphrase(path) => {
                let passphrase = read_passphrase(path)?;
                let key = RelPath::new(IDENTITY_KEY).expect("a clean key");
                let mut bytes = Vec::new();
                self.inner
                    .read_stored(&key)
                    .map_err(|e| format!("cannot read its identity {IDENTITY_KEY}: {e}"))?
                    .read_to_end(&mut bytes)
                    .map_err(|e| format!("cannot read its identity {IDENTITY_KEY}: {e}"))?;
                open_protected_identity(&bytes, &passphrase)
            }
        });
        loaded.as_deref().map_err(|what| DestError::NoKey {
            dest: self.name().into(),
            what: what.clone(),
        })
    }
}

impl<D: ReadDestination + ?Sized> ReadDestination for EncryptedDestination<D> {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn stat(&self, key: &RelPath) -> Result<Option<ObjectMeta>, DestError> {
        let stored = Self::stored_key(key);
        match self.inner.stat(&stored)? {
            None => Ok(None),
            Some(meta) => self.plain_meta(key.clone(), &stored, meta.size).map(Some),
        }
    }

    fn list(&self, prefix: Option<&RelPath>) -> Result<Vec<ObjectMeta>, DestError> {
        self.inner
            .list(prefix)?
            .into_iter()
            .filter(|m| m.key.as_bytes() != IDENTITY_KEY.as_bytes())
            .filter_map(|m| Some((Self::plain_key(&m.key)?, m)))
            .map(|(key, m)| self.plain_meta(key, &m.key, m.size))
            .collect()
    }

    fn read(&self, key: &RelPath) -> Result<Box<dyn Read + Send>, DestError> {
        let identities = self.identities()?;
        let stored = self
            .inner
            .read_stored(&Self::stored_key(key))
            .map_err(|e| self.plain_error(key, e))?;
        let cannot = |message: String| DestError::Decrypt {
            dest: self.name().into(),
            key: key.clone(),
            message,
        };
        let decryptor = age::Decryptor::new(stored)
            .map_err(|e| cannot(format!("its header is damaged: {e}")))?;
        let reader = decryptor
            .decrypt(identities.iter().map(|i| i as &dyn age::Identity))
            .map_err(|e| match e {
                age::DecryptError::NoMatchingKeys => cannot(
                    "it is not encrypted to this node's key (is the identity file the right one?)"
                        .into(),
                ),
                other => cannot(other.to_string()),
            })?;
        Ok(Box::new(reader))
    }

    fn read_stored(&self, key: &RelPath) -> Result<Box<dyn Read + Send>, DestError> {
        self.inner
            .read_stored(&Self::stored_key(key))
            .map_err(|e| self.plain_error(key, e))
    }

    fn space(&self) -> Option<Space> {
        self.inner.space()
    }

    fn mode(&self, key: &RelPath) -> Option<u32> {
        self.inner.mode(&Self::stored_key(key))
    }
}

impl<D: WriteDestination + ?Sized> WriteDestination for EncryptedDestination<D> {
    fn put(&self, key: &RelPath, data: &mut dyn Read, len: u64) -> Result<Stored, DestError> {
        self.put_like(key, data, len, Likeness::default())
    }

    /// The ciphertext keeps the original's time and permission bits where the store
    /// below keeps them.
    fn put_like(
        &self,
        key: &RelPath,
        data: &mut dyn Read,
        len: u64,
        like: Likeness,
    ) -> Result<Stored, DestError> {
        let encryptor = age::Encryptor::with_recipients(
            self.encryption
                .recipients
                .iter()
                .map(|r| r as &dyn age::Recipient),
        )
        .map_err(|e| DestError::Encryption {
            dest: self.name().into(),
            message: format!("cannot encrypt to its recipients: {e}"),
        })?;
        let mut reader = EncryptingReader::new(encryptor, data);
        let size = stored_len(reader.header_len, len);
        let result = self
            .inner
            .put_like(&Self::stored_key(key), &mut reader, size, like);
        match result {
            Ok(_) => Ok(Stored::Transformed {
                hash: ContentHash(*reader.hasher.finalize().as_bytes()),
                size,
            }),
            // The source had more or fewer plain bytes than announced: say so in those terms.
            Err(DestError::LengthMismatch { .. }) if !reader.source_failed => {
                Err(DestError::LengthMismatch {
                    dest: self.name().into(),
                    key: key.clone(),
                    expected: len,
                    got: reader.plain_seen,
                })
            }
            Err(e) => Err(self.plain_error(key, e)),
        }
    }

    fn sweep_partials(&self, folder: Option<&RelPath>) -> Result<usize, DestError> {
        self.inner.sweep_partials(folder)
    }

    fn rename(&self, from: &RelPath, to: &RelPath) -> Result<(), DestError> {
        self.inner
            .rename(&Self::stored_key(from), &Self::stored_key(to))
            .map_err(|e| match e {
                DestError::AlreadyExists { dest, .. } => DestError::AlreadyExists {
                    dest,
                    key: to.clone(),
                },
                other => self.plain_error(from, other),
            })
    }

    fn remove(&self, key: &RelPath) -> Result<(), DestError> {
        self.inner
            .remove(&Self::stored_key(key))
            .map_err(|e| self.plain_error(key, e))
    }

    fn properties(&self) -> Properties {
        Properties {
            encrypted: true,
            ..self.inner.properties()
        }
    }
}

/// Where the age writer puts ciphertext: a buffer the reader drains.
#[derive(Clone, Default)]
struct Buffer(Rc<RefCell<Vec<u8>>>);

impl Write for Buffer {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Turns a plain reader into an age ciphertext reader, hashing the ciphertext it gives.
struct EncryptingReader<'a> {
    source: &'a mut dyn Read,
    /// `None` once the source has ended and the final chunk is written.
    writer: Option<age::stream::StreamWriter<Buffer>>,
    out: Buffer,
    /// How much of `out` has been handed on.
    pos: usize,
    scratch: Vec<u8>,
    header_len: u64,
    hasher: blake3::Hasher,
    plain_seen: u64,
    source_failed: bool,
}

impl<'a> EncryptingReader<'a> {
    fn new(encryptor: age::Encryptor, source: &'a mut dyn Read) -> Self {
        let out = Buffer::default();
        let writer = encryptor
            .wrap_output(out.clone())
            .expect("writing to memory cannot fail");
        // The header and nonce are written at once; the nonce is part of the payload.
        let header_len = out.0.borrow().len() as u64 - NONCE;
        EncryptingReader {
            source,
            writer: Some(writer),
            out,
            pos: 0,
            scratch: vec![0; CHUNK as usize],
            header_len,
            hasher: blake3::Hasher::new(),
            plain_seen: 0,
            source_failed: false,
        }
    }
}

impl Read for EncryptingReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            {
                let mut out = self.out.0.borrow_mut();
                if self.pos < out.len() {
                    let n = buf.len().min(out.len() - self.pos);
                    buf[..n].copy_from_slice(&out[self.pos..self.pos + n]);
                    self.hasher.update(&buf[..n]);
                    self.pos += n;
                    if self.pos == out.len() {
                        out.clear();
                        self.pos = 0;
                    }
                    return Ok(n);
                }
            }
            let Some(writer) = self.writer.as_mut() else {
                return Ok(0);
            };
            let n = match self.source.read(&mut self.scratch) {
                Ok(n) => n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) => {
                    self.source_failed = true;
                    return Err(e);
                }
            };
            if n == 0 {
                self.writer
                    .take()
                    .expect("checked above")
                    .finish()
                    .map(drop)?;
                continue;
            }
            self.plain_seen += n as u64;
            writer.write_all(&self.scratch[..n])?;
        }
    }
}

#[cfg(test)]
mod tests;
