//! Generated camera cards for Triplicate's tests and benchmarks.
//!
//! Files look like what cameras write, as far as Triplicate reads them: JPEGs whose
//! APP1 segment holds real EXIF with DateTimeOriginal, TIFF-based RAWs (CR2, NEF, ARW,
//! DNG) whose Exif IFD holds it, XMP sidecars, and incompressible payloads generated
//! from a seed (BLAKE3 in XOF mode), so that two runs with one seed give the same bytes.

pub mod archives;
pub mod garage;
pub mod mount;
pub mod receivers;
pub mod servers;

use std::fs;
use std::io::{self, Cursor};
use std::path::{Path, PathBuf};

use exif::{Field, In, Tag, Value};

/// 16 hex digits determined by `seed`: names and passwords for test servers.
pub fn noise_hex(seed: &str) -> String {
    blake3::hash(seed.as_bytes()).to_hex()[..16].to_string()
}

/// `len` pseudo-random, incompressible bytes determined by `seed`.
pub fn noise(seed: &str, len: usize) -> Vec<u8> {
    let mut out = vec![0u8; len];
    blake3::Hasher::new()
        .update(seed.as_bytes())
        .finalize_xof()
        .fill(&mut out);
    out
}

/// TIFF bytes holding an Exif IFD with DateTimeOriginal = `datetime`
/// (`"YYYY:MM:DD HH:MM:SS"`), little-endian like Canon and Nikon.
pub fn exif_tiff(datetime: &str, make: &str) -> Vec<u8> {
    let dto = Field {
        tag: Tag::DateTimeOriginal,
        ifd_num: In::PRIMARY,
        value: Value::Ascii(vec![datetime.as_bytes().to_vec()]),
    };
    let make = Field {
        tag: Tag::Make,
        ifd_num: In::PRIMARY,
        value: Value::Ascii(vec![make.as_bytes().to_vec()]),
    };
    let mut w = exif::experimental::Writer::new();
    w.push_field(&dto);
    w.push_field(&make);
    let mut buf = Cursor::new(Vec::new());
    w.write(&mut buf, true).expect("EXIF serialises");
    buf.into_inner()
}

/// A JPEG: SOI, APP1 with EXIF, a scan of `payload` bytes, EOI.
pub fn jpeg(datetime: &str, payload: &[u8]) -> Vec<u8> {
    let tiff = exif_tiff(datetime, "Canon");
    let mut out = vec![0xFF, 0xD8, 0xFF, 0xE1];
    let len = (2 + 6 + tiff.len()) as u16;
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(b"Exif\0\0");
    out.extend_from_slice(&tiff);
    // Start of scan with a minimal header, then the "entropy-coded" data.
    out.extend_from_slice(&[0xFF, 0xDA, 0x00, 0x08, 0x01, 0x01, 0x00, 0x00, 0x3F, 0x00]);
    out.extend(payload.iter().map(|&b| if b == 0xFF { 0xFE } else { b }));
    out.extend_from_slice(&[0xFF, 0xD9]);
    out
}

/// A TIFF-based RAW: the EXIF TIFF structure followed by the sensor data.
pub fn tiff_raw(datetime: &str, payload: &[u8]) -> Vec<u8> {
    let mut out = exif_tiff(datetime, "Nikon");
    out.extend_from_slice(payload);
    out
}

/// An XMP sidecar for the RAW named `raw_name`, as Lightroom writes it, with a
/// document id unique to `seed`.
pub fn xmp(raw_name: &str, rating: u8, seed: &str) -> Vec<u8> {
    let id = blake3::hash(format!("{seed}/{raw_name}").as_bytes()).to_hex();
    let id = &id[..32];
    format!(
        "<?xpacket begin=\"\" id=\"W5M0MpCehiHzreSzNTczkc9d\"?>\n<x:xmpmeta xmlns:x=\"adobe:ns:meta/\">\n <rdf:RDF xmlns:rdf=\"http://www.w3.org/1999/02/22-rdf-syntax-ns#\">\n  <rdf:Description xmlns:xmp=\"http://ns.adobe.com/xap/1.0/\" xmlns:crs=\"http://ns.adobe.com/camera-raw-settings/1.0/\" xmlns:xmpMM=\"http://ns.adobe.com/xap/1.0/mm/\" xmpMM:DocumentID=\"xmp.did:{id}\" xmp:Rating=\"{rating}\" crs:RawFileName=\"{raw_name}\"/>\n </rdf:RDF>\n</x:xmpmeta>\n<?xpacket end=\"w\"?>\n"
    )
    .into_bytes()
}

/// What to put on a card.
#[derive(Debug, Clone)]
pub struct CardSpec {
    /// Distinguishes cards: same seed, same bytes.
    pub seed: String,
    /// RAW+JPEG pairs.
    pub pairs: usize,
    pub raw_size: usize,
    pub jpeg_size: usize,
    /// RAW extension, e.g. "CR2", "NEF", "ARW", "DNG".
    pub raw_ext: String,
    /// Add an XMP sidecar to every other pair.
    pub sidecars: bool,
    /// The day of the shoot, `YYYY:MM:DD`.
    pub day: String,
    /// DCF folder, e.g. "100CANON".
    pub folder: String,
    /// First file number (IMG_0001 …).
    pub first: usize,
}

impl Default for CardSpec {
    fn default() -> Self {
        CardSpec {
            seed: "card".into(),
            pairs: 4,
            raw_size: 64 * 1024,
            jpeg_size: 24 * 1024,
            raw_ext: "CR2".into(),
            sidecars: true,
            day: "2024:05:17".into(),
            folder: "100CANON".into(),
            first: 1,
        }
    }
}

/// A written file and its camera time.
#[derive(Debug, Clone)]
pub struct CardFile {
    /// Relative to the card root.
    pub path: PathBuf,
    pub bytes: usize,
}

/// Writes a card under `root` (`DCIM/<folder>/IMG_NNNN.*`) and returns its files.
pub fn write_card(root: &Path, spec: &CardSpec) -> io::Result<Vec<CardFile>> {
    let dir = Path::new("DCIM").join(&spec.folder);
    fs::create_dir_all(root.join(&dir))?;
    let mut files = Vec::new();
    let mut put = |name: String, bytes: Vec<u8>| -> io::Result<()> {
        let path = dir.join(name);
        fs::write(root.join(&path), &bytes)?;
        files.push(CardFile {
            path,
            bytes: bytes.len(),
        });
        Ok(())
    };
    for i in 0..spec.pairs {
        let n = spec.first + i;
        let time = format!(
            "{} {:02}:{:02}:{:02}",
            spec.day,
            10 + (i / 3600) % 10,
            (i / 60) % 60,
            i % 60
        );
        let raw = noise(&format!("{}-raw-{n}", spec.seed), spec.raw_size);
        put(
            format!("IMG_{n:04}.{}", spec.raw_ext),
            tiff_raw(&time, &raw),
        )?;
        let jpg = noise(&format!("{}-jpg-{n}", spec.seed), spec.jpeg_size);
        put(format!("IMG_{n:04}.JPG"), jpeg(&time, &jpg))?;
        if spec.sidecars && i % 2 == 0 {
            put(
                format!("IMG_{n:04}.xmp"),
                xmp(
                    &format!("IMG_{n:04}.{}", spec.raw_ext),
                    (n % 5) as u8,
                    &spec.seed,
                ),
            )?;
        }
    }
    Ok(files)
}

/// Writes `n` small JPEGs spread over date folders (`2024-MM-DD/IMG_NNNNNN.JPG`), like a
/// night of an all-sky camera, for rescan and burst tests.
pub fn write_flat_library(dir: &Path, n: usize, seed: &str) -> io::Result<()> {
    for i in 0..n {
        let folder = dir.join(format!(
            "2024-{:02}-{:02}",
            1 + (i / 3000) % 12,
            1 + (i / 100) % 28
        ));
        fs::create_dir_all(&folder)?;
        let body = jpeg("2024:01:01 00:00:00", &noise(&format!("{seed}-{i}"), 256));
        fs::write(folder.join(format!("IMG_{i:06}.JPG")), body)?;
    }
    Ok(())
}

/// Every file under `dir`, recursively (links not followed); empty if `dir` is missing.
pub fn files_under(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).into_iter().flatten().flatten() {
        match e.file_type() {
            Ok(t) if t.is_dir() => out.extend(files_under(&e.path())),
            Ok(_) => out.push(e.path()),
            Err(_) => {}
        }
    }
    out
}

/// What interrupted writes left under `root`: the files in its staging folder
/// (`.triplicate/partial/`), and the `.triplicate-partial-*` files earlier versions
/// wrote beside their targets, anywhere below it.
pub fn leftovers(root: &Path) -> Vec<PathBuf> {
    let staged = files_under(&root.join(".triplicate/partial"));
    let beside = files_under(root).into_iter().filter(|p| {
        p.file_name()
            .is_some_and(|n| n.to_string_lossy().starts_with(".triplicate-partial-"))
    });
    staged.into_iter().chain(beside).collect()
}

/// BLAKE3 of every published file under `root` (skipping `.triplicate` and `ascmhl` folders and the
/// `.triplicate-partial-` files of puts in progress), by relative path. Safe to call
/// while a backup writes there: a file that vanishes meanwhile is left out.
pub fn tree_hashes(root: &Path) -> io::Result<std::collections::BTreeMap<PathBuf, String>> {
    let mut out = std::collections::BTreeMap::new();
    fn walk(
        root: &Path,
        dir: &Path,
        out: &mut std::collections::BTreeMap<PathBuf, String>,
    ) -> io::Result<()> {
        for entry in fs::read_dir(dir)? {
            let entry = entry?;
            let path = entry.path();
            let ft = entry.file_type()?;
            if ft.is_dir() {
                if entry.file_name() != ".triplicate" && entry.file_name() != "ascmhl" {
                    walk(root, &path, out)?;
                }
            } else if ft.is_file() {
                if entry
                    .file_name()
                    .to_string_lossy()
                    .starts_with(".triplicate-partial-")
                {
                    continue;
                }
                let bytes = match fs::read(&path) {
                    Ok(b) => b,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => continue,
                    Err(e) => return Err(e),
                };
                out.insert(
                    path.strip_prefix(root).unwrap().to_path_buf(),
                    blake3::hash(&bytes).to_hex().to_string(),
                );
            }
        }
        Ok(())
    }
    walk(root, root, &mut out)?;
    Ok(out)
}

/// An AVI whose header list holds an `IDIT` chunk with `idit` ("Sat Jun 15 18:30:00
/// 2019"), as cameras write their capture time, and a frame list after it.
pub fn avi(idit: &str) -> Vec<u8> {
    fn chunk(id: &[u8], body: &[u8]) -> Vec<u8> {
        let mut c = id.to_vec();
        c.extend_from_slice(&(body.len() as u32).to_le_bytes());
        c.extend_from_slice(body);
        if body.len() % 2 == 1 {
            c.push(0);
        }
        c
    }
    let list = |kind: &[u8], body: &[u8]| chunk(b"LIST", &[kind, body].concat());
    let mut text = idit.as_bytes().to_vec();
    text.extend_from_slice(b"\n\0");
    let hdrl = list(
        b"hdrl",
        &[chunk(b"avih", &[0; 56]), chunk(b"IDIT", &text)].concat(),
    );
    let movi = list(b"movi", &chunk(b"00dc", &noise(idit, 4096)));
    chunk(b"RIFF", &[b"AVI ".to_vec(), hdrl, movi].concat())
}

/// `png` with an `eXIf` chunk holding `tiff` added after its pixels (before `IEND`),
/// where ImageMagick and other writers may put it: far into a large picture.
pub fn png_with_exif_at_the_end(png: &[u8], tiff: &[u8]) -> Vec<u8> {
    let end = png.len() - 12;
    assert_eq!(&png[end + 4..end + 8], b"IEND", "a PNG ends with IEND");
    let mut out = png[..end].to_vec();
    out.extend_from_slice(&(tiff.len() as u32).to_be_bytes());
    let mut crc = flate2::Crc::new();
    crc.update(b"eXIf");
    crc.update(tiff);
    out.extend_from_slice(b"eXIf");
    out.extend_from_slice(tiff);
    out.extend_from_slice(&crc.sum().to_be_bytes());
    out.extend_from_slice(&png[end..]);
    out
}

/// A little-endian TIFF whose first IFD holds `entries` (tag, ASCII text): the shape
/// of the blocks a CR3 keeps its metadata in.
fn tiff_ascii(entries: &[(u16, &str)]) -> Vec<u8> {
    let mut out = b"II*\0".to_vec();
    out.extend_from_slice(&8u32.to_le_bytes());
    out.extend_from_slice(&(entries.len() as u16).to_le_bytes());
    let data_start = 8 + 2 + entries.len() * 12 + 4;
    let mut data = Vec::new();
    for (tag, text) in entries {
        let mut value = text.as_bytes().to_vec();
        value.push(0);
        out.extend_from_slice(&tag.to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes()); // ASCII
        out.extend_from_slice(&(value.len() as u32).to_le_bytes());
        if value.len() <= 4 {
            value.resize(4, 0);
            out.extend_from_slice(&value);
        } else {
            out.extend_from_slice(&((data_start + data.len()) as u32).to_le_bytes());
            data.extend_from_slice(&value);
            if data.len() % 2 == 1 {
                data.push(0);
            }
        }
    }
    out.extend_from_slice(&0u32.to_le_bytes());
    out.extend_from_slice(&data);
    out
}

/// An ISO BMFF box.
fn iso_box(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut b = ((body.len() + 8) as u32).to_be_bytes().to_vec();
    b.extend_from_slice(kind);
    b.extend_from_slice(body);
    b
}

/// A Canon CR3 as Canon structures it: `ftyp crx`, then `moov` holding Canon's `uuid`
/// box (85c0b687-820f-11e0-8111-f4ce462b6a48) with `CNCV`, `CMT1` (IFD0: make, model)
/// and `CMT2` (the EXIF IFD: DateTimeOriginal, CreateDate), then `mdat` with
/// `payload`. `datetime` is EXIF's "2019:06:15 18:30:00".
pub fn cr3(datetime: &str, model: &str, payload: &[u8]) -> Vec<u8> {
    const CANON: [u8; 16] = [
        0x85, 0xc0, 0xb6, 0x87, 0x82, 0x0f, 0x11, 0xe0, 0x81, 0x11, 0xf4, 0xce, 0x46, 0x2b, 0x6a,
        0x48,
    ];
    let mut ftyp = b"crx ".to_vec();
    ftyp.extend_from_slice(&1u32.to_be_bytes());
    ftyp.extend_from_slice(b"crx isom");
    let mut canon = CANON.to_vec();
    canon.extend(iso_box(b"CNCV", b"CanonCR3_001/00.09.00/00.00.00"));
    canon.extend(iso_box(
        b"CMT1",
        &tiff_ascii(&[(0x010f, "Canon"), (0x0110, model)]),
    ));
    canon.extend(iso_box(
        b"CMT2",
        &tiff_ascii(&[(0x9003, datetime), (0x9004, datetime)]),
    ));
    let mut out = iso_box(b"ftyp", &ftyp);
    out.extend(iso_box(b"moov", &iso_box(b"uuid", &canon)));
    out.extend(iso_box(b"mdat", payload));
    out
}

/// A Fujifilm RAF as Fujifilm structures it: the `FUJIFILMCCD-RAW` header with the
/// camera's model, then the offset and length of the embedded `jpeg` (the preview
/// that holds the EXIF), then the JPEG and a little "sensor data".
pub fn raf(jpeg: &[u8], model: &str) -> Vec<u8> {
    const JPEG_AT: usize = 0x94;
    let mut out = b"FUJIFILMCCD-RAW 0201FF129502".to_vec();
    let mut name = model.as_bytes().to_vec();
    name.resize(32, 0);
    out.extend_from_slice(&name);
    out.extend_from_slice(b"0100");
    out.extend_from_slice(&[0; 20]);
    out.extend_from_slice(&(JPEG_AT as u32).to_be_bytes());
    out.extend_from_slice(&(jpeg.len() as u32).to_be_bytes());
    // No CFA header or data of its own.
    out.extend_from_slice(&[0; 16]);
    out.resize(JPEG_AT, 0);
    out.extend_from_slice(jpeg);
    out.extend_from_slice(&noise("raf", 4096));
    out
}
