//! Byte-exact relative paths.
//!
//! Photo names are kept exactly as the filesystem gave them, including names that are
//! not valid UTF-8 (old cameras, Windows code pages). A [`RelPath`] is a `/`-separated
//! sequence of bytes relative to a root (a library folder or a destination), checked
//! once at construction: no empty, `.` or `..` components, no leading `/`, no NUL. It
//! can therefore never escape its root, whatever a manifest or a peer says.

use std::ffi::OsStr;
use std::fmt;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// A checked, byte-exact relative path.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelPath(Vec<u8>);

/// Why some bytes are not a [`RelPath`].
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("'{shown}' is not a clean relative path: {why}")]
pub struct BadRelPath {
    pub shown: String,
    pub why: &'static str,
}

impl RelPath {
    /// Checks `bytes` and wraps them.
    pub fn new(bytes: impl Into<Vec<u8>>) -> Result<Self, BadRelPath> {
        let bytes = bytes.into();
        let bad = |why| BadRelPath {
            shown: escape(&bytes),
            why,
        };
        if bytes.is_empty() {
            return Err(bad("it is empty"));
        }
        if bytes[0] == b'/' {
            return Err(bad("it is absolute"));
        }
        if bytes.contains(&0) {
            return Err(bad("it contains a NUL byte"));
        }
        for part in bytes.split(|&b| b == b'/') {
            match part {
                b"" => return Err(bad("it has an empty component")),
                b"." | b".." => return Err(bad("it has a '.' or '..' component")),
                _ => {}
            }
        }
        Ok(Self(bytes))
    }

    /// The path of `path` relative to `root`, which must be a prefix of it.
    pub fn from_path_under(root: &Path, path: &Path) -> Result<Self, BadRelPath> {
        let rel = path.strip_prefix(root).map_err(|_| BadRelPath {
            shown: path.display().to_string(),
            why: "it is outside its root",
        })?;
        Self::new(rel.as_os_str().as_bytes().to_vec())
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The last component.
    pub fn file_name(&self) -> &[u8] {
        match self.0.iter().rposition(|&b| b == b'/') {
            Some(i) => &self.0[i + 1..],
            None => &self.0,
        }
    }

    /// Everything before the last component, if there is anything.
    pub fn parent(&self) -> Option<RelPath> {
        let i = self.0.iter().rposition(|&b| b == b'/')?;
        Some(RelPath(self.0[..i].to_vec()))
    }

    /// `self/child`, where `child` is itself a clean relative path.
    pub fn join(&self, child: &RelPath) -> RelPath {
        let mut v = self.0.clone();
        v.push(b'/');
        v.extend_from_slice(&child.0);
        RelPath(v)
    }

    /// The same folder with another last component.
    pub fn with_file_name(&self, name: &[u8]) -> Result<RelPath, BadRelPath> {
        match self.parent() {
            Some(p) => {
                let mut v = p.0;
                v.push(b'/');
                v.extend_from_slice(name);
                RelPath::new(v)
            }
            None => RelPath::new(name.to_vec()),
        }
    }

    /// This path under `root` on the local filesystem, byte for byte.
    pub fn to_path(&self, root: &Path) -> PathBuf {
        root.join(OsStr::from_bytes(&self.0))
    }

    /// UTF-8 text if the name is valid UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }
}

/// Shows bytes as text, with each byte that is not part of valid UTF-8 written as `\xNN`,
/// so that messages stay truthful about non-UTF-8 names.
pub fn escape(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for chunk in bytes.utf8_chunks() {
        out.push_str(chunk.valid());
        for b in chunk.invalid() {
            out.push_str(&format!("\\x{b:02x}"));
        }
    }
    out
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&escape(&self.0))
    }
}

impl fmt::Debug for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "RelPath({:?})", escape(&self.0))
    }
}

impl serde::Serialize for RelPath {
    /// UTF-8 names serialize as strings; other names as `{"hex": "…"}` so that JSON
    /// manifests keep them byte-exact.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.as_str() {
            Some(text) => s.serialize_str(text),
            None => {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("hex", &hex(&self.0))?;
                m.end()
            }
        }
    }
}

impl<'de> serde::Deserialize<'de> for RelPath {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(serde::Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Text(String),
            Hex { hex: String },
        }
        let bytes = match Repr::deserialize(d)? {
            Repr::Text(t) => t.into_bytes(),
            Repr::Hex { hex } => {
                unhex(&hex).ok_or_else(|| serde::de::Error::custom("bad hex in path"))?
            }
        };
        RelPath::new(bytes).map_err(serde::de::Error::custom)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn rejects_escapes_and_oddities() {
        for bad in [
            &b""[..],
            b"/etc/passwd",
            b"../x",
            b"a/../b",
            b"a/./b",
            b"a//b",
            b"a/",
            b"a\0b",
        ] {
            assert!(RelPath::new(bad.to_vec()).is_err(), "{}", escape(bad));
        }
        assert!(RelPath::new(b"2024/2024-05-01/IMG_0001.CR2".to_vec()).is_ok());
        assert!(RelPath::new(b"..hidden/x".to_vec()).is_ok());
    }

    #[test]
    fn parts() {
        let p = RelPath::new(b"2024/05/IMG.JPG".to_vec()).unwrap();
        assert_eq!(p.file_name(), b"IMG.JPG");
        assert_eq!(p.parent().unwrap().as_bytes(), b"2024/05");
        assert_eq!(
            p.with_file_name(b"X.JPG").unwrap().as_bytes(),
            b"2024/05/X.JPG"
        );
        let top = RelPath::new(b"a.jpg".to_vec()).unwrap();
        assert!(top.parent().is_none());
        assert_eq!(top.file_name(), b"a.jpg");
    }

    #[test]
    fn escape_shows_invalid_bytes() {
        assert_eq!(escape(b"caf\xe9.jpg"), "caf\\xe9.jpg");
        assert_eq!(escape("café".as_bytes()), "café");
    }

    proptest! {
        #[test]
        fn json_round_trip_is_byte_exact(parts in prop::collection::vec(
            prop::collection::vec(1u8..=255, 1..20), 1..4)) {
            let mut bytes = Vec::new();
            for (i, p) in parts.iter().enumerate() {
                if i > 0 { bytes.push(b'/'); }
                bytes.extend(p.iter().map(|&b| if b == b'/' { b'_' } else { b }));
            }
            if let Ok(p) = RelPath::new(bytes) {
                let json = serde_json::to_string(&p).unwrap();
                let back: RelPath = serde_json::from_str(&json).unwrap();
                prop_assert_eq!(back, p);
            }
        }
    }
}
