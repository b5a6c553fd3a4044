//! Run manifests: what each backup run put on a destination, kept on the destination.
//!
//! A manifest is JSON Lines at `.triplicate/manifests/<node>/<time>-<run>.jsonl`: a
//! header line, then one line per verified copy with its path, size and BLAKE3 hash,
//! and where it came from. Anyone can check a copy with `b3sum` and these files, and the
//! catalog can be rebuilt from them. Non-UTF-8 paths are written as `{"hex": "…"}`.
//! On an encrypted destination manifests are encrypted too, and each line also has the
//! hash of the ciphertext. A `prune` writes a manifest of the copies it removed
//! (`"removed": true`), so that a later rebuild does not bring them back. Every library
//! name of a content has a line: the name its copy was written under, and each other
//! name with its own file (`"copy_of"`: where the copy is).

use serde::{Deserialize, Serialize};

use super::{FORMAT_VERSION, META_DIR};
use crate::photo::ContentHash;
use crate::relpath::RelPath;

pub const MANIFEST_KIND: &str = "triplicate-manifest";

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Header {
    pub kind: String,
    pub format: u32,
    pub node: String,
    pub destination: String,
    pub run: String,
    pub created: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    /// Where the copy is, relative to the destination root.
    pub path: RelPath,
    pub size: u64,
    pub blake3: String,
    /// Capture time, local to the camera: `YYYY-MM-DDTHH:MM:SS`.
    pub captured: String,
    pub kind: String,
    pub library: String,
    /// The photo's path in its library.
    pub source: RelPath,
    pub verified_at: String,
    /// On an encrypted destination the file is `<path>.age`, and this is the BLAKE3 of
    /// its bytes as stored (`b3sum` checks it without the key).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_blake3: Option<String>,
    /// `prune` removed this copy under a retention policy: it is no longer there, and
    /// a catalog rebuilt from the manifests forgets it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub removed: bool,
    /// The library file's modification time (ns since the epoch), which a restore
    /// gives back; absent in manifests of earlier versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mtime_ns: Option<i64>,
    /// This line is another library name of a content whose copy is at `copy_of`; the
    /// name's own file is `path` (a hard link to the copy, or a copy of it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub copy_of: Option<RelPath>,
    /// Since when (Unix milliseconds) the library name `library`/`source` has held
    /// this content: its history, for `restore --as-of` after a rebuild.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<i64>,
    /// Until when it held it (Unix milliseconds): the name was edited or deleted since.
    /// `path` is where the content is now (a version's place, or another name's file).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until: Option<i64>,
}

/// A manifest as read: its header, every line that reads right, and what was wrong
/// with each line that does not (one damaged line loses that line only).
#[derive(Debug)]
pub struct Decoded {
    pub header: Header,
    pub entries: Vec<Entry>,
    pub bad: Vec<ManifestError>,
}

#[derive(Debug, thiserror::Error)]
#[error("manifest line {line}: {message}")]
pub struct ManifestError {
    pub line: usize,
    pub message: String,
}

/// The key of a run's manifest.
pub fn key(node: &str, created_compact: &str, run: &str) -> RelPath {
    RelPath::new(format!("{META_DIR}/manifests/{node}/{created_compact}-{run}.jsonl").into_bytes())
        .expect("node names and run ids are clean")
}

pub fn encode(header: &Header, entries: &[Entry]) -> Vec<u8> {
    let mut out = serde_json::to_vec(header).expect("header serialises");
    out.push(b'\n');
    for e in entries {
        out.extend(serde_json::to_vec(e).expect("entry serialises"));
        out.push(b'\n');
    }
    out
}

/// Reads a manifest. Only a header that cannot be read fails the whole manifest;
/// each other line that is not an entry, or names a hash that is not one, is in
/// [`Decoded::bad`].
pub fn decode(bytes: &[u8]) -> Result<Decoded, ManifestError> {
    let mut lines = bytes
        .split(|&b| b == b'\n')
        .enumerate()
        .filter(|(_, l)| !l.is_empty());
    let err = |line, e: serde_json::Error| ManifestError {
        line,
        message: e.to_string(),
    };
    let (first, line) = lines.next().ok_or(ManifestError {
        line: 1,
        message: "empty manifest".into(),
    })?;
    let header: Header = serde_json::from_slice(line).map_err(|e| err(first + 1, e))?;
    if header.kind != MANIFEST_KIND || header.format > FORMAT_VERSION {
        return Err(ManifestError {
            line: first + 1,
            message: format!(
                "not a manifest this program reads ({} v{})",
                header.kind, header.format
            ),
        });
    }
    let mut decoded = Decoded {
        header,
        entries: Vec::new(),
        bad: Vec::new(),
    };
    for (i, line) in lines {
        let entry = serde_json::from_slice::<Entry>(line)
            .map_err(|e| err(i + 1, e))
            .and_then(|e| {
                let hashes = std::iter::once(&e.blake3).chain(e.stored_blake3.as_ref());
                match hashes
                    .into_iter()
                    .find(|h| ContentHash::from_hex(h).is_none())
                {
                    Some(h) => Err(ManifestError {
                        line: i + 1,
                        message: format!("'{h}' is not a BLAKE3 hash"),
                    }),
                    None => Ok(e),
                }
            });
        match entry {
            Ok(e) => decoded.entries.push(e),
            Err(bad) => decoded.bad.push(bad),
        }
    }
    Ok(decoded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_keeps_odd_names() {
        let header = Header {
            kind: MANIFEST_KIND.into(),
            format: FORMAT_VERSION,
            node: "n".into(),
            destination: "id".into(),
            run: "r1".into(),
            created: "2026-11-22T00:00:00Z".into(),
        };
        let entry = Entry {
            path: RelPath::new(b"2024/caf\xe9.jpg".to_vec()).unwrap(),
            size: 3,
            blake3: "00".repeat(32),
            captured: "2024-01-01T00:00:00".into(),
            kind: "image".into(),
            library: "in".into(),
            source: RelPath::new(b"caf\xe9.jpg".to_vec()).unwrap(),
            verified_at: "2026-11-22T00:00:01Z".into(),
            stored_blake3: None,
            removed: false,
            mtime_ns: Some(1_700_000_000_123_456_789),
            copy_of: Some(RelPath::new(b"2024/other.jpg".to_vec()).unwrap()),
            since: Some(1_700_000_000_000),
            until: Some(1_700_000_100_000),
        };
        let bytes = encode(&header, std::slice::from_ref(&entry));
        assert!(
            String::from_utf8(bytes.clone())
                .unwrap()
                .contains("\"hex\"")
        );
        let d = decode(&bytes).unwrap();
        assert_eq!((d.header, d.entries), (header, vec![entry]));
        assert_eq!(
            key("n", "20261122T000000Z", "r1").as_str(),
            Some(".triplicate/manifests/n/20261122T000000Z-r1.jsonl")
        );
    }

    #[test]
    fn a_damaged_line_loses_that_line_only() {
        let header = Header {
            kind: MANIFEST_KIND.into(),
            format: FORMAT_VERSION,
            node: "n".into(),
            destination: "id".into(),
            run: "r1".into(),
            created: "2026-11-22T00:00:00Z".into(),
        };
        let entry = |name: &str, hash: String| Entry {
            path: RelPath::new(name.as_bytes().to_vec()).unwrap(),
            size: 1,
            blake3: hash,
            captured: String::new(),
            kind: "image".into(),
            library: "in".into(),
            source: RelPath::new(name.as_bytes().to_vec()).unwrap(),
            verified_at: "2026-11-22T00:00:01Z".into(),
            stored_blake3: None,
            removed: false,
            mtime_ns: None,
            copy_of: None,
            since: None,
            until: None,
        };
        let mut bytes = encode(
            &header,
            &[
                entry("a.jpg", "11".repeat(32)),
                entry("b.jpg", "zz".repeat(32)),
            ],
        );
        bytes.extend_from_slice(b"{\"path\": broken\n");
        bytes.extend(
            encode(&header, &[entry("c.jpg", "22".repeat(32))])
                .split(|&b| b == b'\n')
                .nth(1)
                .unwrap(),
        );
        let d = decode(&bytes).unwrap();
        let names: Vec<_> = d.entries.iter().map(|e| e.path.as_str().unwrap()).collect();
        assert_eq!(names, ["a.jpg", "c.jpg"]);
        let lines: Vec<_> = d.bad.iter().map(|b| b.line).collect();
        assert_eq!(lines, [3, 4], "{:?}", d.bad);
    }
}
