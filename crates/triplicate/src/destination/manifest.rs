//! Run manifests: what each backup run put on a destination, kept on the destination.
//!
//! A manifest is JSON Lines at `.triplicate/manifests/<node>/<time>-<run>.jsonl`: a
//! header line, then one line per verified copy with its path, size and BLAKE3 hash,
//! and where it came from. Anyone can check a copy with `b3sum` and these files, and the
//! catalog can be rebuilt from them. Non-UTF-8 paths are written as `{"hex": "…"}`.
//! On an encrypted destination manifests are encrypted too, and each line also has the
//! hash of the ciphertext. A `prune` writes a manifest of the copies it removed
//! (`"removed": true`), so that a later rebuild does not bring them back.

use serde::{Deserialize, Serialize};

use super::{FORMAT_VERSION, META_DIR};
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

pub fn decode(bytes: &[u8]) -> Result<(Header, Vec<Entry>), ManifestError> {
    let mut lines = bytes.split(|&b| b == b'\n').filter(|l| !l.is_empty());
    let err = |line, e: serde_json::Error| ManifestError {
        line,
        message: e.to_string(),
    };
    let header: Header = serde_json::from_slice(lines.next().ok_or(ManifestError {
        line: 1,
        message: "empty manifest".into(),
    })?)
    .map_err(|e| err(1, e))?;
    if header.kind != MANIFEST_KIND || header.format > FORMAT_VERSION {
        return Err(ManifestError {
            line: 1,
            message: format!(
                "not a manifest this program reads ({} v{})",
                header.kind, header.format
            ),
        });
    }
    let entries = lines
        .enumerate()
        .map(|(i, l)| serde_json::from_slice(l).map_err(|e| err(i + 2, e)))
        .collect::<Result<_, _>>()?;
    Ok((header, entries))
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
        };
        let bytes = encode(&header, std::slice::from_ref(&entry));
        assert!(
            String::from_utf8(bytes.clone())
                .unwrap()
                .contains("\"hex\"")
        );
        let (h, e) = decode(&bytes).unwrap();
        assert_eq!((h, e), (header, vec![entry]));
        assert_eq!(
            key("n", "20261122T000000Z", "r1").as_str(),
            Some(".triplicate/manifests/n/20261122T000000Z-r1.jsonl")
        );
    }
}
