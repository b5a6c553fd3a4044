//! What a photo is: its content hash and its kind.
//!
//! A photo is identified by the BLAKE3 hash of its bytes ([`ContentHash`]); the same
//! bytes under two names are one photo with two names. Its [`PhotoKind`] comes from the
//! file extension, compared case-insensitively, because cameras write `IMG_0001.JPG`
//! and phones write `img_0001.jpg`.

use std::fmt;
use std::io::Read;

/// BLAKE3 hash of a file's contents: the identity of a photo.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ContentHash(pub [u8; 32]);

impl ContentHash {
    /// The hash of `bytes`.
    pub fn of(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }

    /// Lower-case hex, 64 characters.
    pub fn to_hex(&self) -> String {
        blake3::Hash::from_bytes(self.0).to_hex().to_string()
    }

    /// The first 8 hex characters: enough to tell names apart in a folder.
    pub fn short(&self) -> String {
        self.to_hex()[..8].to_string()
    }

    /// Parses 64 hex characters.
    pub fn from_hex(hex: &str) -> Option<Self> {
        blake3::Hash::from_hex(hex)
            .ok()
            .map(|h| Self(*h.as_bytes()))
    }

    /// Hashes everything `reader` yields, in large buffers. Returns the hash and the
    /// number of bytes read.
    pub fn of_reader(reader: &mut dyn Read) -> std::io::Result<(Self, u64)> {
        let mut hasher = blake3::Hasher::new();
        let total = read_all(reader, |chunk| {
            hasher.update(chunk);
        })?;
        Ok((Self(*hasher.finalize().as_bytes()), total))
    }
}

/// How many bytes from the start of a file [`looks_encrypted`] looks at.
pub const HEAD_LEN: usize = 4096;

/// Whether the start of a photo or video (`head`, up to [`HEAD_LEN`] bytes) looks
/// encrypted: no signature of a known image or video format where one should be, and
/// bytes as random as a cipher's (about 7.5 bits of entropy per byte or more). A JPEG or RAW
/// starts with a signature and a header of low entropy; ransomware leaves neither.
pub fn looks_encrypted(head: &[u8], kind: PhotoKind) -> bool {
    if !kind.is_media() || head.len() < 256 {
        return false;
    }
    // A short sample of random bytes scores below 8 bits: compare with what random
    // data of this length would score (the Miller–Madow bias, which understates it
    // for short samples; 300 random bytes score 7.29 ± 0.05), with a wide margin,
    // and never above 7.5.
    let n = head.len() as f64;
    let threshold = (8.0 - 255.0 / (2.0 * n * std::f64::consts::LN_2) - 0.5).min(7.5);
    !has_known_signature(head) && entropy_bits_per_byte(head) > threshold
}

/// Signatures of the formats cameras and phones write.
fn has_known_signature(head: &[u8]) -> bool {
    const STARTS: &[&[u8]] = &[
        b"\xff\xd8\xff",         // JPEG
        b"II*\0",                // TIFF and TIFF-based RAW (CR2, NEF, ARW, DNG …)
        b"MM\0*",                // the same, big-endian
        b"IIRO",                 // Olympus ORF
        b"IIRS",                 // Olympus ORF
        b"MMOR",                 // Olympus ORF
        b"IIU\0",                // Panasonic RW2
        b"FUJIFILMCCD-RAW",      // Fujifilm RAF
        b"FOVb",                 // Sigma X3F
        b"\0MRM",                // Minolta MRW
        b"II\x1a\0\0\0HEAPCCDR", // Canon CRW
        b"\x89PNG",              // PNG
        b"GIF8",                 // GIF
        b"RIFF",                 // WebP, AVI
        b"\x1aE\xdf\xa3",        // Matroska
    ];
    STARTS.iter().any(|s| head.starts_with(s))
        // ISO base media (CR3, HEIC, AVIF, MP4, MOV): a box size, then "ftyp" or a
        // QuickTime atom.
        || head.get(4..8).is_some_and(|t| {
            [b"ftyp", b"moov", b"mdat", b"wide", b"free"].contains(&t.try_into().unwrap_or(&[0; 4]))
        })
}

/// Shannon entropy of `bytes`, in bits per byte (0 to 8).
pub fn entropy_bits_per_byte(bytes: &[u8]) -> f64 {
    let mut counts = [0u32; 256];
    for &b in bytes {
        counts[b as usize] += 1;
    }
    let n = bytes.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = c as f64 / n;
            -p * p.log2()
        })
        .sum()
}

/// As 64 lower-case hex characters, in JSON reports.
impl serde::Serialize for ContentHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

/// Buffer size for streaming reads: large enough that per-call overhead vanishes
/// beside the disk, small enough to keep many files in flight.
pub const HASH_BUFFER: usize = 1 << 20;

impl fmt::Display for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for ContentHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ContentHash({})", self.short())
    }
}

/// What kind of file a photo is, decided by its extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PhotoKind {
    Raw,
    Image,
    Video,
    Sidecar,
    /// Any other file, backed up only with `include_all = true`.
    Other,
}

const RAW: &[&str] = &[
    "cr2", "cr3", "crw", "nef", "nrw", "arw", "sr2", "srf", "raf", "orf", "rw2", "dng", "pef",
    "srw", "3fr", "iiq", "x3f", "erf", "mos", "mrw", "gpr", "rwl", "kdc", "dcr", "mef",
];
const IMAGE: &[&str] = &[
    "jpg", "jpeg", "jpe", "heic", "heif", "hif", "tif", "tiff", "png", "avif", "jxl", "webp",
    "gif", "psd", "psb", "jp2", "j2k", "bmp",
];
const VIDEO: &[&str] = &[
    "mov", "mp4", "mts", "m2ts", "avi", "mxf", "braw", "r3d", "crm", "3gp", "mpg", "mpeg", "mod",
    "tod", "m4v", "mkv", "wmv", "webm", "insv", "360", "lrv",
];
const SIDECAR: &[&str] = &["xmp", "thm", "aae", "xml", "pp3", "dop"];

impl PhotoKind {
    /// The kind of a file from its name (bytes, so non-UTF-8 names work too).
    /// Returns [`PhotoKind::Other`] for names without a known extension.
    pub fn from_name(name: &[u8]) -> PhotoKind {
        let Some(dot) = name.iter().rposition(|&b| b == b'.') else {
            return PhotoKind::Other;
        };
        let ext = &name[dot + 1..];
        if ext.is_empty() || ext.len() > 5 || !ext.is_ascii() {
            return PhotoKind::Other;
        }
        let ext = ext.to_ascii_lowercase();
        let ext = std::str::from_utf8(&ext).unwrap_or_default();
        for (list, kind) in [
            (RAW, PhotoKind::Raw),
            (IMAGE, PhotoKind::Image),
            (VIDEO, PhotoKind::Video),
            (SIDECAR, PhotoKind::Sidecar),
        ] {
            if list.contains(&ext) {
                return kind;
            }
        }
        PhotoKind::Other
    }

    /// A photo or a video, rather than a sidecar or another file: what the guard
    /// counts and what a changed content under an unchanged time makes suspect.
    pub fn is_media(self) -> bool {
        matches!(self, PhotoKind::Raw | PhotoKind::Image | PhotoKind::Video)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            PhotoKind::Raw => "raw",
            PhotoKind::Image => "image",
            PhotoKind::Video => "video",
            PhotoKind::Sidecar => "sidecar",
            PhotoKind::Other => "other",
        }
    }

    pub fn parse(s: &str) -> Option<PhotoKind> {
        Some(match s {
            "raw" => PhotoKind::Raw,
            "image" => PhotoKind::Image,
            "video" => PhotoKind::Video,
            "sidecar" => PhotoKind::Sidecar,
            "other" => PhotoKind::Other,
            _ => return None,
        })
    }
}

/// Files that operating systems and cameras leave on cards and disks, which hold
/// nothing of the photographer's and are recreated at will: never backed up, and not
/// counted as left out. Matched by name, without regard to case.
pub const LITTER_FILES: &[&str] = &[".ds_store", "thumbs.db", "desktop.ini", ".localized"];

/// Whether a file of this name is litter ([`LITTER_FILES`], or an AppleDouble `._*`
/// file that macOS writes beside every file on a FAT or exFAT card).
pub fn is_litter(name: &[u8]) -> bool {
    if name.starts_with(b"._") {
        return true;
    }
    let lower = name.to_ascii_lowercase();
    LITTER_FILES.iter().any(|l| l.as_bytes() == lower)
}

/// Gives everything `reader` yields to `each`, in buffers of [`HASH_BUFFER`] bytes
/// (an interrupted read is tried again); returns how many bytes there were.
pub fn read_all(reader: &mut dyn Read, mut each: impl FnMut(&[u8])) -> std::io::Result<u64> {
    let mut buf = vec![0u8; HASH_BUFFER];
    let mut total = 0u64;
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => return Ok(total),
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        each(&buf[..n]);
        total += n as u64;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encrypted_looking_starts_are_told_from_photos() {
        let mut random = vec![0u8; HEAD_LEN];
        blake3::Hasher::new().finalize_xof().fill(&mut random);
        assert!(looks_encrypted(&random, PhotoKind::Raw));
        assert!(
            !looks_encrypted(&random, PhotoKind::Sidecar),
            "only photos and videos"
        );
        let mut jpeg = random.clone();
        jpeg[..4].copy_from_slice(b"\xff\xd8\xff\xe1");
        assert!(
            !looks_encrypted(&jpeg, PhotoKind::Image),
            "a JPEG's signature"
        );
        let mut cr3 = random.clone();
        cr3[4..8].copy_from_slice(b"ftyp");
        assert!(!looks_encrypted(&cr3, PhotoKind::Raw));
        let text = b"plain words repeat plain words repeat ".repeat(100);
        assert!(!looks_encrypted(&text, PhotoKind::Image), "low entropy");
        assert!(entropy_bits_per_byte(&random) > 7.9);
        // Small files too, every time: 2000 random 256-byte starts.
        for i in 0..2000u32 {
            let mut short = vec![0u8; 256];
            blake3::Hasher::new()
                .update(&i.to_le_bytes())
                .finalize_xof()
                .fill(&mut short);
            assert!(looks_encrypted(&short, PhotoKind::Image), "sample {i}");
        }
    }

    #[test]
    fn kinds_by_extension_ignore_case() {
        let cases: &[(&[u8], PhotoKind)] = &[
            (b"IMG_0001.CR2", PhotoKind::Raw),
            (b"img_0001.cr3", PhotoKind::Raw),
            (b"DSC_0001.NEF", PhotoKind::Raw),
            (b"_DSC1234.ARW", PhotoKind::Raw),
            (b"P1000001.RW2", PhotoKind::Raw),
            (b"a.3FR", PhotoKind::Raw),
            (b"IMG_0001.JPG", PhotoKind::Image),
            (b"photo.jpeg", PhotoKind::Image),
            (b"IMG_1234.HEIC", PhotoKind::Image),
            (b"scan.TIFF", PhotoKind::Image),
            (b"x.jxl", PhotoKind::Image),
            (b"C0001.MP4", PhotoKind::Video),
            (b"A001.BRAW", PhotoKind::Video),
            (b"00001.MTS", PhotoKind::Video),
            (b"IMG_0001.xmp", PhotoKind::Sidecar),
            (b"IMG_0001.THM", PhotoKind::Sidecar),
            (b"IMG_0001.AAE", PhotoKind::Sidecar),
            (b"notes.txt", PhotoKind::Other),
            (b"README", PhotoKind::Other),
            (b"trailing.", PhotoKind::Other),
            (b"caf\xe9.JPG", PhotoKind::Image),
            (b".JPG", PhotoKind::Image),
        ];
        for (name, kind) in cases {
            assert_eq!(
                PhotoKind::from_name(name),
                *kind,
                "{}",
                String::from_utf8_lossy(name)
            );
        }
    }

    #[test]
    fn hash_hex_round_trip() {
        let h = ContentHash::of(b"abc");
        assert_eq!(ContentHash::from_hex(&h.to_hex()), Some(h));
        assert_eq!(h.short().len(), 8);
        let (streamed, n) = ContentHash::of_reader(&mut &b"abc"[..]).unwrap();
        assert_eq!((streamed, n), (h, 3));
    }
}
