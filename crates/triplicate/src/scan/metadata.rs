//! Capture times and cameras, read from each file's own metadata, as exiftool reads
//! them.
//!
//! The container's structure is followed (boxes, chunks, segments, IFD offsets), never
//! a fixed window that would silently cut metadata off:
//! - [nom-exif] reads EXIF from JPEG, TIFF-based RAWs (CR2, NEF, ARW, DNG, PEF, SRW),
//!   Fujifilm RAF, HEIC/HEIF/AVIF, PNG (`eXIf`, and ImageMagick's raw-profile text),
//!   WebP, Canon CR3 (`CMT1`/`CMT2` in Canon's `uuid` box); and the creation time of
//!   QuickTime, MP4, M4V and 3GP files (Apple's `com.apple.quicktime.creationdate`,
//!   with its offset, else the movie header's, which is UTC).
//! - Olympus ORF and Panasonic RW2 are TIFF with another magic number: nom-exif reads
//!   them with TIFF's put in its place.
//! - Here: JPEG XL (its `Exif` box), AVI (`IDIT`), and XMP dates (`exif:DateTimeOriginal`,
//!   `xmp:CreateDate`, `photoshop:DateCreated`) where nothing else dates a file.
//!
//! **The calendar day stated once**: a photo goes under the camera's local day. EXIF
//! times are local times already; a QuickTime time with an offset is taken at that
//! offset; a UTC time (an MP4's movie header) is converted to `scan.time_zone`, by
//! default the machine's. A file with no capture metadata is dated by its
//! modification time, in the same zone.
//!
//! [nom-exif]: https://docs.rs/nom-exif

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use chrono::{DateTime, NaiveDate, NaiveDateTime, Utc};

pub use crate::zone::Zone;

/// How a capture time was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureSource {
    /// EXIF DateTimeOriginal (else CreateDate, else ModifyDate).
    Exif,
    /// A QuickTime/MP4 creation time.
    QuickTime,
    /// An AVI's `IDIT` chunk.
    Avi,
    /// An MXF clip's package creation date.
    Mxf,
    /// An XMP date.
    Xmp,
    /// The file's modification time: the file says nothing of when it was taken.
    Mtime,
    /// Taken from the photo a sidecar belongs to.
    Sibling,
}

impl CaptureSource {
    pub fn as_str(self) -> &'static str {
        match self {
            CaptureSource::Exif => "exif",
            CaptureSource::QuickTime => "quicktime",
            CaptureSource::Avi => "avi",
            CaptureSource::Mxf => "mxf",
            CaptureSource::Xmp => "xmp",
            CaptureSource::Mtime => "mtime",
            CaptureSource::Sibling => "sibling",
        }
    }
}

pub const CAPTURE_FORMAT: &str = "%Y-%m-%dT%H:%M:%S";

/// The local time of a file modification time, in the machine's zone.
pub fn local_time(mtime_ns: i64) -> NaiveDateTime {
    Zone::machine().of_mtime(mtime_ns)
}

/// What a file's metadata says of when and with what it was taken.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Metadata {
    pub captured: Option<(NaiveDateTime, CaptureSource)>,
    /// The camera's maker and model, as the camera wrote them (trimmed).
    pub make: Option<String>,
    pub model: Option<String>,
}

/// The capture time and camera of the file at `path`, as far as its metadata tells.
pub fn read(path: &Path, zone: &Zone) -> Metadata {
    let mut found = read_media(path, zone).unwrap_or_default();
    if found.captured.is_none()
        && let Some(more) = read_other(path)
    {
        found.captured = more.captured;
        found.make = found.make.or(more.make);
        found.model = found.model.or(more.model);
    }
    found
}

/// A file as read for its metadata: at most [`METADATA_MAX`] bytes are read in all
/// (seeks over pixels and frames are free), so that a damaged or hostile file (a
/// movie header claiming a gigabyte) cannot make a reader hold gigabytes: it reads
/// the end of the file there, and the file is not dated by its metadata.
///
/// Olympus ORF (`IIRO`, `IIRS`) and Panasonic RW2 (`IIU\0`) are TIFF with their own
/// magic number: read with TIFF's put in its place, they are read as TIFF.
struct Budget {
    file: File,
    left: u64,
    at: u64,
    tiff_variant: bool,
}

impl Budget {
    fn open(path: &Path) -> std::io::Result<Budget> {
        let mut file = File::open(path)?;
        let mut magic = [0u8; 4];
        let got = read_up_to(&mut file, &mut magic)?;
        file.seek(SeekFrom::Start(0))?;
        Ok(Budget {
            file,
            left: METADATA_MAX,
            at: 0,
            tiff_variant: got == 4 && matches!(&magic, b"IIRO" | b"IIRS" | b"IIU\0"),
        })
    }
}

impl Read for Budget {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let room = buf.len().min(self.left.min(usize::MAX as u64) as usize);
        let n = self.file.read(&mut buf[..room])?;
        if self.tiff_variant {
            for (i, b) in buf[..n].iter_mut().enumerate() {
                match self.at + i as u64 {
                    2 => *b = b'*',
                    3 => *b = 0,
                    _ => {}
                }
            }
        }
        self.left -= n as u64;
        self.at += n as u64;
        Ok(n)
    }
}

impl Seek for Budget {
    fn seek(&mut self, pos: SeekFrom) -> std::io::Result<u64> {
        self.at = self.file.seek(pos)?;
        Ok(self.at)
    }
}

/// What nom-exif reads: EXIF of images, creation times of QuickTime-family movies.
fn read_media(path: &Path, zone: &Zone) -> Option<Metadata> {
    use nom_exif::{ExifTag, MediaKind, MediaParser, MediaSource, TrackInfoTag};
    let source = MediaSource::seekable(Budget::open(path).ok()?).ok()?;
    let mut parser = MediaParser::new();
    match source.kind() {
        MediaKind::Image => {
            let exif: nom_exif::Exif = parser.parse_exif(source).ok()?.into();
            let text = |tag| {
                exif.get(tag)
                    .and_then(|v| v.as_str())
                    .map(|s| s.trim().trim_end_matches('\0').trim().to_string())
                    .filter(|s| !s.is_empty())
            };
            let captured = [
                ExifTag::DateTimeOriginal,
                ExifTag::CreateDate,
                ExifTag::ModifyDate,
            ]
            .into_iter()
            .find_map(|tag| exif_time(exif.get(tag)?))
            .map(|t| (t, CaptureSource::Exif));
            Some(Metadata {
                captured,
                make: text(ExifTag::Make),
                model: text(ExifTag::Model),
            })
        }
        MediaKind::Track => {
            let info = parser.parse_track(source).ok()?;
            let text = |tag| {
                info.get(tag)
                    .and_then(|v| v.as_str())
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
            };
            let captured = match info.get(TrackInfoTag::CreateDate) {
                // A time with its offset (Apple's) is local at that offset; the
                // movie header's is UTC (offset zero), given in the configured zone.
                Some(nom_exif::EntryValue::DateTime(t)) if t.offset().local_minus_utc() != 0 => {
                    Some(t.naive_local())
                }
                Some(nom_exif::EntryValue::DateTime(t)) => Some(zone.local(t.with_timezone(&Utc))),
                Some(nom_exif::EntryValue::NaiveDateTime(t)) => Some(*t),
                _ => None,
            }
            .filter(plausible)
            .map(|t| (t, CaptureSource::QuickTime));
            Some(Metadata {
                captured,
                make: text(TrackInfoTag::Make),
                model: text(TrackInfoTag::Model),
            })
        }
    }
}

/// An EXIF date as the camera wrote it: its local time.
fn exif_time(value: &nom_exif::EntryValue) -> Option<NaiveDateTime> {
    let t = match value {
        nom_exif::EntryValue::DateTime(t) => t.naive_local(),
        nom_exif::EntryValue::NaiveDateTime(t) => *t,
        nom_exif::EntryValue::Text(s) => parse_exif_text(s)?,
        _ => return None,
    };
    plausible(&t).then_some(t)
}

/// `YYYY:MM:DD HH:MM:SS`, as EXIF writes dates.
fn parse_exif_text(s: &str) -> Option<NaiveDateTime> {
    NaiveDateTime::parse_from_str(s.trim().trim_end_matches('\0'), "%Y:%m:%d %H:%M:%S").ok()
}

/// Cameras with an unset clock write zeros, or 1904 and 1970 epochs: no date at all.
fn plausible(t: &NaiveDateTime) -> bool {
    let earliest = NaiveDate::from_ymd_opt(1980, 1, 1).expect("a date");
    t.date() > earliest
}

/// The formats nom-exif does not read, recognised by their first bytes.
fn read_other(path: &Path) -> Option<Metadata> {
    let mut file = File::open(path).ok()?;
    let mut magic = [0u8; 12];
    let got = read_up_to(&mut file, &mut magic).ok()?;
    let magic = &magic[..got];
    let captured = if magic.starts_with(&[0, 0, 0, 0x0c, b'J', b'X', b'L', b' ']) {
        jxl_exif(&mut file)
            .and_then(|tiff| tiff_time(&tiff))
            .map(|t| (t, CaptureSource::Exif))
    } else if magic.starts_with(&[0xFF, 0xD8]) {
        // A JPEG too small for nom-exif's reader (a few hundred bytes).
        let len = file.metadata().ok()?.len();
        jpeg_app1(&mut file, len, b"Exif\0\0")
            .and_then(|tiff| tiff_time(&tiff))
            .map(|t| (t, CaptureSource::Exif))
    } else if magic.starts_with(&MXF_PARTITION[..12]) {
        mxf_created(&mut file).map(|t| (t, CaptureSource::Mxf))
    } else if magic.len() == 12 && &magic[..4] == b"RIFF" && &magic[8..12] == b"AVI " {
        avi_idit(&mut file).map(|t| (t, CaptureSource::Avi))
    } else {
        None
    };
    let captured = captured.or_else(|| xmp_time(&mut file).map(|t| (t, CaptureSource::Xmp)))?;
    Some(Metadata {
        captured: Some(captured),
        ..Default::default()
    })
}

/// The key of an MXF partition pack (SMPTE 377), the first bytes of every MXF file.
const MXF_PARTITION: [u8; 13] = [
    0x06, 0x0e, 0x2b, 0x34, 0x02, 0x05, 0x01, 0x01, 0x0d, 0x01, 0x02, 0x01, 0x01,
];

/// An MXF clip's creation date: the material package's `PackageCreationDate` (local
/// tag 0x4405), else the preface's `LastModifiedDate` (0x3B02), found by walking the
/// header partition's KLV packets up to the essence. Taken as the camera wrote it, as
/// exiftool reads it.
fn mxf_created(file: &mut File) -> Option<NaiveDateTime> {
    const MATERIAL_PACKAGE: [u8; 16] = [
        0x06, 0x0e, 0x2b, 0x34, 0x02, 0x53, 0x01, 0x01, 0x0d, 0x01, 0x01, 0x01, 0x01, 0x01, 0x36,
        0x00,
    ];
    const PREFACE: [u8; 16] = [
        0x06, 0x0e, 0x2b, 0x34, 0x02, 0x53, 0x01, 0x01, 0x0d, 0x01, 0x01, 0x01, 0x01, 0x01, 0x2f,
        0x00,
    ];
    const ESSENCE: [u8; 12] = [
        0x06, 0x0e, 0x2b, 0x34, 0x01, 0x02, 0x01, 0x01, 0x0d, 0x01, 0x03, 0x01,
    ];
    let len = file.metadata().ok()?.len().min(METADATA_MAX);
    let mut at = 0u64;
    let mut modified = None;
    while at + 17 <= len {
        file.seek(SeekFrom::Start(at)).ok()?;
        let mut head = [0u8; 17];
        file.read_exact(&mut head).ok()?;
        let key = &head[..16];
        if key.starts_with(&ESSENCE) || !key.starts_with(&MXF_PARTITION[..4]) {
            break;
        }
        // BER length: short form, or 0x8n followed by n bytes.
        let (size, length_bytes) = if head[16] < 0x80 {
            (u64::from(head[16]), 1)
        } else {
            let n = usize::from(head[16] & 0x7f);
            let mut bytes = [0u8; 8];
            if n == 0 || n > 8 {
                break;
            }
            file.read_exact(&mut bytes[8 - n..]).ok()?;
            (u64::from_be_bytes(bytes), 1 + n as u64)
        };
        let value_at = at + 16 + length_bytes;
        if (key == MATERIAL_PACKAGE || key == PREFACE) && size <= 1 << 16 {
            let mut set = vec![0u8; size as usize];
            file.read_exact(&mut set).ok()?;
            let wanted = if key == MATERIAL_PACKAGE {
                0x4405
            } else {
                0x3b02
            };
            let found = local_tags(&set)
                .find(|(tag, v)| *tag == wanted && v.len() == 8)
                .and_then(|(_, v)| mxf_timestamp(v));
            if key == MATERIAL_PACKAGE && found.is_some() {
                return found;
            }
            modified = modified.or(found);
        }
        at = value_at + size;
    }
    modified
}

/// The `(tag, value)` items of an MXF local set (2-byte tags and lengths).
fn local_tags(set: &[u8]) -> impl Iterator<Item = (u16, &[u8])> {
    let mut rest = set;
    std::iter::from_fn(move || {
        let tag = u16::from_be_bytes(rest.get(..2)?.try_into().ok()?);
        let size = usize::from(u16::from_be_bytes(rest.get(2..4)?.try_into().ok()?));
        let value = rest.get(4..4 + size)?;
        rest = &rest[4 + size..];
        Some((tag, value))
    })
}

/// An MXF timestamp: year (2 bytes), month, day, hour, minute, second, quarter-ms.
fn mxf_timestamp(v: &[u8]) -> Option<NaiveDateTime> {
    let year = i32::from(u16::from_be_bytes([v[0], v[1]]));
    let t = NaiveDate::from_ymd_opt(year, v[2].into(), v[3].into())?.and_hms_opt(
        v[4].into(),
        v[5].into(),
        v[6].into(),
    )?;
    plausible(&t).then_some(t)
}

fn read_up_to(file: &mut File, buf: &mut [u8]) -> std::io::Result<usize> {
    let mut got = 0;
    while got < buf.len() {
        match file.read(&mut buf[got..])? {
            0 => break,
            n => got += n,
        }
    }
    Ok(got)
}

/// The date in a bare TIFF/EXIF block (what JPEG XL's `Exif` box holds).
fn tiff_time(tiff: &[u8]) -> Option<NaiveDateTime> {
    let exif = exif::Reader::new().read_raw(tiff.to_vec()).ok()?;
    [
        exif::Tag::DateTimeOriginal,
        exif::Tag::DateTimeDigitized,
        exif::Tag::DateTime,
    ]
    .into_iter()
    .find_map(|tag| {
        let field = exif.get_field(tag, exif::In::PRIMARY)?;
        let exif::Value::Ascii(ref parts) = field.value else {
            return None;
        };
        parse_exif_text(&String::from_utf8_lossy(parts.first()?))
    })
    .filter(plausible)
}

/// The most a metadata box or chunk may hold: anything larger is not metadata.
const METADATA_MAX: u64 = 16 << 20;

/// The TIFF block of a JPEG XL container's `Exif` box (after its 4-byte offset).
fn jxl_exif(file: &mut File) -> Option<Vec<u8>> {
    let len = file.metadata().ok()?.len();
    let mut at = 0u64;
    while at + 8 <= len {
        file.seek(SeekFrom::Start(at)).ok()?;
        let mut head = [0u8; 16];
        let got = read_up_to(file, &mut head).ok()?;
        if got < 8 {
            return None;
        }
        let mut size = u32::from_be_bytes(head[..4].try_into().ok()?) as u64;
        let mut header = 8;
        if size == 1 && got >= 16 {
            size = u64::from_be_bytes(head[8..16].try_into().ok()?);
            header = 16;
        } else if size == 0 {
            size = len - at;
        }
        if size < header {
            return None;
        }
        if &head[4..8] == b"Exif" {
            let body = size - header;
            if !(4..=METADATA_MAX).contains(&body) {
                return None;
            }
            file.seek(SeekFrom::Start(at + header)).ok()?;
            let mut data = vec![0u8; body as usize];
            file.read_exact(&mut data).ok()?;
            let offset = u32::from_be_bytes(data[..4].try_into().ok()?) as usize;
            return data.get(4 + offset..).map(<[u8]>::to_vec);
        }
        at += size;
    }
    None
}

/// An AVI's `IDIT` chunk (in its `hdrl` list), as cameras write it: "Mon Mar 03
/// 12:34:56 2025" or "2025:03:03 12:34:56".
fn avi_idit(file: &mut File) -> Option<NaiveDateTime> {
    let len = file.metadata().ok()?.len();
    // Chunks of the RIFF body, and of the lists in it that hold headers.
    let mut stack = vec![(12u64, len.min(8 + u32::MAX as u64))];
    while let Some((mut at, end)) = stack.pop() {
        while at + 8 <= end {
            file.seek(SeekFrom::Start(at)).ok()?;
            let mut head = [0u8; 12];
            let got = read_up_to(file, &mut head).ok()?;
            if got < 8 {
                break;
            }
            let size = u32::from_le_bytes(head[4..8].try_into().ok()?) as u64;
            let id = &head[..4];
            if id == b"IDIT" && size <= 256 {
                file.seek(SeekFrom::Start(at + 8)).ok()?;
                let mut text = vec![0u8; size as usize];
                file.read_exact(&mut text).ok()?;
                let text = String::from_utf8_lossy(&text);
                let text = text.trim().trim_end_matches('\0').trim();
                return [
                    "%a %b %d %H:%M:%S %Y",
                    "%Y:%m:%d %H:%M:%S",
                    "%Y-%m-%d %H:%M:%S",
                ]
                .iter()
                .find_map(|f| NaiveDateTime::parse_from_str(text, f).ok())
                .filter(plausible);
            }
            // Into the header lists; never into the frames (`movi`).
            if id == b"LIST" && got == 12 && &head[8..12] != b"movi" {
                stack.push((at + 12, (at + 8 + size).min(end)));
            }
            at += 8 + size + (size & 1);
        }
    }
    None
}

/// The XMP packet of a file, found by walking its structure (JPEG `APP1`, PNG
/// `iTXt`), or the whole file where it is XMP itself (a sidecar).
fn xmp_packet(file: &mut File) -> Option<String> {
    file.seek(SeekFrom::Start(0)).ok()?;
    let len = file.metadata().ok()?.len();
    let mut magic = [0u8; 8];
    let got = read_up_to(file, &mut magic).ok()?;
    let magic = &magic[..got];
    if magic.starts_with(&[0xFF, 0xD8]) {
        jpeg_xmp(file, len)
    } else if magic.starts_with(b"\x89PNG\r\n\x1a\n") {
        png_xmp(file, len)
    } else if len <= METADATA_MAX
        && (magic.starts_with(b"<") || magic.starts_with(b"\xEF\xBB\xBF<"))
    {
        // An XMP file (a sidecar): text, XML from its first byte.
        file.seek(SeekFrom::Start(0)).ok()?;
        let mut text = String::new();
        file.read_to_string(&mut text).ok()?;
        text.contains("x:xmpmeta").then_some(text)
    } else {
        None
    }
}

fn jpeg_xmp(file: &mut File, len: u64) -> Option<String> {
    let xmp = jpeg_app1(file, len, b"http://ns.adobe.com/xap/1.0/\0")?;
    Some(String::from_utf8_lossy(&xmp).into_owned())
}

/// The body of a JPEG's first `APP1` segment that starts with `signature`, after it,
/// found by walking the segments up to the image data.
fn jpeg_app1(file: &mut File, len: u64, signature: &[u8]) -> Option<Vec<u8>> {
    let mut at = 2u64;
    while at + 4 <= len {
        file.seek(SeekFrom::Start(at)).ok()?;
        let mut head = [0u8; 4];
        file.read_exact(&mut head).ok()?;
        if head[0] != 0xFF || matches!(head[1], 0xDA | 0xD9) {
            return None;
        }
        let size = u16::from_be_bytes([head[2], head[3]]) as u64;
        if head[1] == 0xE1 && size > signature.len() as u64 + 2 {
            let mut body = vec![0u8; size as usize - 2];
            file.read_exact(&mut body).ok()?;
            if let Some(rest) = body.strip_prefix(signature) {
                return Some(rest.to_vec());
            }
        }
        at += 2 + size;
    }
    None
}

fn png_xmp(file: &mut File, len: u64) -> Option<String> {
    const KEYWORD: &[u8] = b"XML:com.adobe.xmp\0";
    let mut at = 8u64;
    while at + 12 <= len {
        file.seek(SeekFrom::Start(at)).ok()?;
        let mut head = [0u8; 8];
        file.read_exact(&mut head).ok()?;
        let size = u32::from_be_bytes(head[..4].try_into().ok()?) as u64;
        if &head[4..8] == b"iTXt" && size <= METADATA_MAX {
            let mut body = vec![0u8; size as usize];
            file.read_exact(&mut body).ok()?;
            if let Some(rest) = body.strip_prefix(KEYWORD) {
                // Compression flag and method, then language and translated keyword.
                let rest = rest.get(2..)?;
                let mut parts = rest.splitn(3, |&b| b == 0);
                let (_, _, text) = (parts.next()?, parts.next()?, parts.next()?);
                return Some(String::from_utf8_lossy(text).into_owned());
            }
        }
        if &head[4..8] == b"IEND" {
            return None;
        }
        at += 12 + size;
    }
    None
}

/// The first XMP date a file holds, as exiftool prefers them.
fn xmp_time(file: &mut File) -> Option<NaiveDateTime> {
    let packet = xmp_packet(file)?;
    [
        "exif:DateTimeOriginal",
        "xmp:CreateDate",
        "photoshop:DateCreated",
    ]
    .iter()
    .find_map(|name| xmp_value(&packet, name))
    .and_then(|v| parse_xmp_date(&v))
    .filter(plausible)
}

/// The value of property `name` in an XMP packet, as an attribute (`name="…"`) or
/// an element (`<name>…</name>`).
fn xmp_value(packet: &str, name: &str) -> Option<String> {
    let attribute = format!("{name}=");
    if let Some(i) = packet.find(&attribute) {
        let rest = &packet[i + attribute.len()..];
        let quote = rest.chars().next()?;
        let rest = &rest[quote.len_utf8()..];
        return rest.find(quote).map(|end| rest[..end].to_string());
    }
    let open = format!("<{name}>");
    let i = packet.find(&open)?;
    let rest = &packet[i + open.len()..];
    rest.find('<').map(|end| rest[..end].trim().to_string())
}

/// An XMP date (ISO 8601, to any precision), at the local time it names.
fn parse_xmp_date(text: &str) -> Option<NaiveDateTime> {
    let text = text.trim();
    if let Ok(t) = DateTime::parse_from_rfc3339(text) {
        return Some(t.naive_local());
    }
    let local = text.get(..19).unwrap_or(text);
    for format in ["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M"] {
        if let Ok(t) = NaiveDateTime::parse_from_str(local, format) {
            return Some(t);
        }
    }
    NaiveDate::parse_from_str(text.get(..10)?, "%Y-%m-%d")
        .ok()
        .and_then(|d| d.and_hms_opt(0, 0, 0))
}

#[cfg(test)]
mod tests;
