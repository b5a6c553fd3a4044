//! Capture times: EXIF DateTimeOriginal where the file has it, else the file's mtime.
//!
//! kamadak-exif reads JPEG, TIFF, HEIF, PNG and WebP containers. TIFF-based RAWs (CR2,
//! NEF, ARW, DNG, PEF, SRW …) are TIFF files and read the same way; Olympus ORF and
//! Panasonic RW2 are TIFF with another magic number, which is patched before parsing.

use std::fs::File;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use chrono::{Local, NaiveDate, NaiveDateTime, TimeZone};

/// How a capture time was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureSource {
    Exif,
    Mtime,
    /// Taken from the photo a sidecar belongs to.
    Sibling,
}

impl CaptureSource {
    pub fn as_str(self) -> &'static str {
        match self {
            CaptureSource::Exif => "exif",
            CaptureSource::Mtime => "mtime",
            CaptureSource::Sibling => "sibling",
        }
    }
}

pub const CAPTURE_FORMAT: &str = "%Y-%m-%dT%H:%M:%S";

/// What a photo's EXIF says of where and when it was taken.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExifInfo {
    pub captured: Option<NaiveDateTime>,
    /// The camera's maker and model, as the camera wrote them (trimmed).
    pub make: Option<String>,
    pub model: Option<String>,
}

/// The EXIF capture time of the file at `path`, if it has one.
pub fn exif_capture_time(path: &Path) -> Option<NaiveDateTime> {
    read_exif(path).captured
}

/// The capture time and camera of the file at `path`, as far as its EXIF tells.
pub fn read_exif(path: &Path) -> ExifInfo {
    let Some(exif) = read_container(path) else {
        return ExifInfo::default();
    };
    let text = |tag| {
        let field = exif.get_field(tag, exif::In::PRIMARY)?;
        let exif::Value::Ascii(ref parts) = field.value else {
            return None;
        };
        let text = String::from_utf8_lossy(parts.first()?)
            .trim()
            .trim_end_matches('\0')
            .trim()
            .to_string();
        (!text.is_empty()).then_some(text)
    };
    ExifInfo {
        captured: capture_time(&exif),
        make: text(exif::Tag::Make),
        model: text(exif::Tag::Model),
    }
}

fn capture_time(exif: &exif::Exif) -> Option<NaiveDateTime> {
    for tag in [
        exif::Tag::DateTimeOriginal,
        exif::Tag::DateTimeDigitized,
        exif::Tag::DateTime,
    ] {
        let Some(field) = exif.get_field(tag, exif::In::PRIMARY) else {
            continue;
        };
        if let exif::Value::Ascii(ref parts) = field.value
            && let Some(bytes) = parts.first()
            && let Ok(dt) = exif::DateTime::from_ascii(bytes)
            && let Some(date) =
                NaiveDate::from_ymd_opt(dt.year as i32, dt.month as u32, dt.day as u32)
            && let Some(t) = date.and_hms_opt(dt.hour as u32, dt.minute as u32, dt.second as u32)
        {
            return Some(t);
        }
    }
    None
}

/// ORF (`IIRO`, `IIRS`) and RW2 (`IIU\0`) are TIFF with their own magic number.
/// How much of a file is read for its EXIF: the metadata sits near the start of every
/// format read here. Read whole, as kamadak-exif reads a TIFF-based RAW (CR2, NEF,
/// ARW, DNG), a card's RAWs would be read twice at ingest: once for their EXIF, once
/// to copy them. A larger window is read only when the metadata points beyond the
/// first.
const EXIF_WINDOWS: [u64; 3] = [256 << 10, 8 << 20, u64::MAX];

/// The EXIF of the file at `path`, read from as small a window as holds it.
fn read_container(path: &Path) -> Option<exif::Exif> {
    let mut file = File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    for window in EXIF_WINDOWS {
        file.seek(SeekFrom::Start(0)).ok()?;
        let mut head = Vec::new();
        (&mut file).take(window).read_to_end(&mut head).ok()?;
        let whole = head.len() as u64 >= len;
        let mut cursor = std::io::Cursor::new(head);
        match exif::Reader::new().read_from_container(&mut cursor) {
            Ok(e) => return Some(e),
            Err(e) if !whole && cut_short(&e) => continue,
            Err(_) => return read_tiff_variant(&mut cursor),
        }
    }
    None
}

/// Whether reading EXIF failed because the window ended before the metadata did.
fn cut_short(e: &exif::Error) -> bool {
    match e {
        exif::Error::Io(io) => io.kind() == std::io::ErrorKind::UnexpectedEof,
        exif::Error::InvalidFormat(what) => {
            what.starts_with("Truncated") || *what == "Invalid pointer"
        }
        _ => false,
    }
}

fn read_tiff_variant(file: &mut (impl Read + Seek)) -> Option<exif::Exif> {
    file.seek(SeekFrom::Start(0)).ok()?;
    let mut head = Vec::with_capacity(1 << 20);
    file.take(1 << 20).read_to_end(&mut head).ok()?;
    if head.len() < 8 || !matches!(&head[..4], b"IIRO" | b"IIRS" | b"IIU\0") {
        return None;
    }
    head[2] = b'*';
    head[3] = 0;
    exif::Reader::new().read_raw(head).ok()
}

/// The local time of a file modification time given in nanoseconds since the epoch.
pub fn local_time(mtime_ns: i64) -> NaiveDateTime {
    let secs = mtime_ns.div_euclid(1_000_000_000);
    Local
        .timestamp_opt(secs, 0)
        .single()
        .map(|t| t.naive_local())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn time(s: &str) -> Option<NaiveDateTime> {
        NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").ok()
    }

    #[test]
    fn reads_date_time_original_from_jpeg_and_tiff_raws() {
        use triplicate_testkit as kit;
        let dir = tempfile::tempdir().unwrap();
        let payload = kit::noise("x", 4096);
        let cases: Vec<(&str, Vec<u8>)> = vec![
            ("a.JPG", kit::jpeg("2023:07:14 21:05:09", &payload)),
            ("a.CR2", kit::tiff_raw("2023:07:14 21:05:09", &payload)),
            ("a.NEF", kit::tiff_raw("2023:07:14 21:05:09", &payload)),
            ("a.ORF", {
                let mut raw = kit::tiff_raw("2023:07:14 21:05:09", &payload);
                raw[2] = b'R';
                raw[3] = b'O';
                raw
            }),
        ];
        for (name, bytes) in cases {
            let p = dir.path().join(name);
            std::fs::write(&p, bytes).unwrap();
            assert_eq!(exif_capture_time(&p), time("2023-07-14 21:05:09"), "{name}");
        }
    }

    #[test]
    fn a_large_raw_is_read_from_its_first_bytes() {
        use triplicate_testkit as kit;
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("big.NEF");
        std::fs::write(
            &p,
            kit::tiff_raw("2024:05:17 10:00:00", &kit::noise("big", 20 << 20)),
        )
        .unwrap();
        let info = read_exif(&p);
        assert_eq!(info.captured, time("2024-05-17 10:00:00"));
        assert_eq!(info.make.as_deref(), Some("Nikon"));
        // A window that ends inside the metadata is read again, larger.
        let whole = kit::tiff_raw("2024:05:17 10:00:00", b"");
        let cut = whole[..whole.len() - 4].to_vec();
        let mut cursor = std::io::Cursor::new(cut);
        match exif::Reader::new().read_from_container(&mut cursor) {
            Ok(_) => panic!("a cut TIFF was read"),
            Err(e) => assert!(cut_short(&e), "{e}"),
        }
    }

    #[test]
    fn no_exif_gives_none() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.jpg");
        std::fs::write(&p, b"not a jpeg").unwrap();
        assert_eq!(exif_capture_time(&p), None);
    }

    #[test]
    fn mtime_is_shown_in_local_time() {
        let t = local_time(86_400 * 1_000_000_000);
        assert!(
            t.format(CAPTURE_FORMAT)
                .to_string()
                .starts_with("1970-01-0")
        );
    }
}
