//! Memory cards: which files on a card are photos and clips, and which sidecars belong
//! to which of them.
//!
//! [`read_card`] recognises the layouts cameras write: DCF (`DCIM/100CANON/…`), Sony's
//! `PRIVATE/M4ROOT/CLIP` (and AVCHD's `PRIVATE/AVCHD/BDMV/STREAM`), Canon's XF-style
//! `CONTENTS/CLIPS001`, and, when none of them is there, a plain folder taken whole.
//! Folder names are matched without regard to case, as cards are FAT or exFAT.
//!
//! Ingest takes the whole card: every file under its root, whatever its extension (a
//! GoPro `.GPR`, a `.MOD` clip, a camera's own database), except the litter a camera
//! or an operating system recreates at will ([`SKIPPED_DIRS`] and
//! [`crate::photo::is_litter`]), which stays on the card untouched. What cannot be read
//! is listed in [`Card::unreadable`], so that the verdict names it. Nothing on the card
//! is ever written.

use std::collections::HashMap;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::photo::PhotoKind;
use crate::relpath::RelPath;
use crate::scan::group::Siblings;

/// A layout a card was recognised by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum CardLayout {
    /// `DCIM/NNNxxxxx/`: every stills camera (and Canon's CRM clips).
    Dcf,
    /// `PRIVATE/M4ROOT/CLIP/` (XAVC) or `PRIVATE/AVCHD/BDMV/STREAM/`.
    Sony,
    /// `CONTENTS/CLIPS001/` (Canon XF and cinema cameras).
    CanonXf,
    /// No camera layout: every photo in the folder.
    Plain,
}

/// A file on the card that ingest copies.
#[derive(Debug, Clone)]
pub struct CardFile {
    pub path: PathBuf,
    /// Its path relative to the card's root.
    pub rel: RelPath,
    pub size: u64,
    pub mtime_ns: i64,
    pub kind: PhotoKind,
    /// For a sidecar: the index (in [`Card::files`]) of the photo it belongs to.
    pub photo: Option<usize>,
}

/// What a card holds.
#[derive(Debug, Clone)]
pub struct Card {
    pub root: PathBuf,
    pub layouts: Vec<CardLayout>,
    /// In path order within each layout's folder.
    pub files: Vec<CardFile>,
    /// The device the card is on: a copy there is no copy at all.
    pub device: u64,
    /// Files and folders that could not be listed, with why: never safe to format.
    pub unreadable: Vec<(RelPath, String)>,
}

impl Card {
    /// The device the card is on, as the coverage rule names devices (its device
    /// number where it cannot be found).
    pub fn device_id(&self) -> crate::device::DeviceId {
        crate::device::of_path(&self.root)
            .map(|d| d.id)
            .unwrap_or_else(|_| crate::device::DeviceId(format!("card:{}", self.device)))
    }

    /// The card's name when none is given: its folder's, or "card".
    pub fn label(&self) -> String {
        self.root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "card".into())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CardError {
    #[error("card {}: {source} (is it inserted and mounted?)", path.display())]
    Unreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("card {}: no files found (is it the card's root?)", path.display())]
    Empty { path: PathBuf },
}

/// Folders that hold nothing of the photographer's and that a camera or an operating
/// system recreates: Sony's thumbnail cache, Canon's folder catalogue, the trash,
/// search index and volume information of macOS and Windows, and ASC MHL histories
/// (each place an ingest writes to keeps its own). Matched without regard to case.
pub const SKIPPED_DIRS: &[&str] = &[
    "thmbnl",
    "canonmsc",
    ".trashes",
    ".spotlight-v100",
    ".fseventsd",
    ".temporaryitems",
    "system volume information",
    "$recycle.bin",
    "ascmhl",
];

/// The layouts' roots, as paths of folder names (matched without regard to case).
const ROOTS: &[(CardLayout, &[&str])] = &[
    (CardLayout::Dcf, &["dcim"]),
    (CardLayout::Sony, &["private", "m4root", "clip"]),
    (CardLayout::Sony, &["private", "avchd", "bdmv", "stream"]),
    (CardLayout::CanonXf, &["contents"]),
];

/// Finds `names` under `root`, one folder level per name, ignoring case.
fn find_dir(root: &Path, names: &[&str]) -> Option<PathBuf> {
    let mut dir = root.to_path_buf();
    for want in names {
        let found = std::fs::read_dir(&dir).ok()?.flatten().find(|e| {
            e.file_type().is_ok_and(|t| t.is_dir())
                && e.file_name().to_string_lossy().eq_ignore_ascii_case(want)
        })?;
        dir = found.path();
    }
    Some(dir)
}

/// Whether `dir` holds a camera card's folders (DCF, Sony or Canon XF).
pub fn looks_like_card(dir: &Path) -> bool {
    ROOTS
        .iter()
        .any(|(_, names)| find_dir(dir, names).is_some())
}

/// The cards mounted under `roots`, one or two levels down (`/media/CARD`,
/// `/media/USER/CARD`), each with its device: a folder that is a mount point (on
/// another device than the folder it is in) and holds a card's folders.
pub fn mounted_cards(roots: &[PathBuf]) -> Vec<(PathBuf, u64)> {
    fn subdirs(dir: &Path) -> Vec<(PathBuf, u64)> {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return Vec::new();
        };
        let mut out: Vec<(PathBuf, u64)> = entries
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| Some((e.path(), std::fs::metadata(e.path()).ok()?.dev())))
            .collect();
        out.sort();
        out
    }
    let mut cards = Vec::new();
    for root in roots {
        let Ok(root_dev) = std::fs::metadata(root).map(|m| m.dev()) else {
            continue;
        };
        for (dir, dev) in subdirs(root) {
            if dev != root_dev {
                if looks_like_card(&dir) {
                    cards.push((dir, dev));
                }
                continue;
            }
            // `/media/USER/`: one level further.
            for (sub, sub_dev) in subdirs(&dir) {
                if sub_dev != dev && looks_like_card(&sub) {
                    cards.push((sub, sub_dev));
                }
            }
        }
    }
    cards
}

/// Lists the photos, clips and sidecars on the card at `root`.
pub fn read_card(root: &Path) -> Result<Card, CardError> {
    let device = std::fs::metadata(root)
        .map_err(|e| unreadable_card(root, e))?
        .dev();
    let layouts = card_layouts(root);
    let mut files = Vec::new();
    let mut unreadable = Vec::new();
    let walker = walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter()
        .filter_entry(|e| {
            let name = e.file_name().to_string_lossy().to_ascii_lowercase();
            e.depth() == 0
                || !(e.file_type().is_dir() && SKIPPED_DIRS.contains(&name.as_str())
                    || !e.file_type().is_dir()
                        && crate::photo::is_litter(e.file_name().as_encoded_bytes()))
        });
    for entry in walker {
        let entry = match entry {
            Ok(e) => e,
            Err(e) => {
                let path = e.path().unwrap_or(root).to_path_buf();
                if path == root {
                    return Err(unreadable_card(&path, e.into()));
                }
                if let Ok(rel) = RelPath::from_path_under(root, &path) {
                    unreadable.push((rel, walk_error_reason(&e)));
                }
                continue;
            }
        };
        if !entry.file_type().is_file() {
            continue;
        }
        let name = entry.file_name().as_encoded_bytes();
        let kind = PhotoKind::from_name(name);
        let Ok(rel) = RelPath::from_path_under(root, entry.path()) else {
            continue;
        };
        let meta = match entry.metadata() {
            Ok(m) => m,
            Err(e) => {
                unreadable.push((rel, walk_error_reason(&e)));
                continue;
            }
        };
        files.push(CardFile {
            path: entry.path().to_path_buf(),
            rel,
            size: meta.len(),
            mtime_ns: meta.mtime() * 1_000_000_000 + meta.mtime_nsec(),
            kind,
            photo: None,
        });
    }
    if files.is_empty() && unreadable.is_empty() {
        return Err(CardError::Empty { path: root.into() });
    }
    pair_sidecars(&mut files);
    Ok(Card {
        root: root.into(),
        layouts,
        files,
        device,
        unreadable,
    })
}

/// The layouts a card's top folders say it has (DCIM, a cinema camera's folders …);
/// plain when none.
fn card_layouts(root: &Path) -> Vec<CardLayout> {
    let mut layouts: Vec<CardLayout> = Vec::new();
    for (layout, names) in ROOTS {
        if find_dir(root, names).is_some() && !layouts.contains(layout) {
            layouts.push(*layout);
        }
    }
    if layouts.is_empty() {
        layouts.push(CardLayout::Plain);
    }
    layouts
}

/// Why a file or folder of the card could not be read, as the verdict says it.
fn walk_error_reason(e: &walkdir::Error) -> String {
    let reason = e
        .io_error()
        .map(crate::fsutil::read_error_reason)
        .unwrap_or_else(|| e.to_string());
    format!("cannot read: {reason}")
}

fn unreadable_card(path: &Path, source: std::io::Error) -> CardError {
    CardError::Unreadable {
        path: path.into(),
        source,
    }
}

/// Points each sidecar at its photo ([`crate::scan::group`]: the same folder and stem,
/// darktable's `IMG_0001.CR2.xmp`, Sony's `C0001M01.XML` with `C0001.MP4`).
fn pair_sidecars(files: &mut [CardFile]) {
    let paths: Vec<RelPath> = files.iter().map(|f| f.rel.clone()).collect();
    let index_of: HashMap<&RelPath, usize> =
        paths.iter().enumerate().map(|(i, p)| (p, i)).collect();
    let photos = Siblings::index(&paths);
    for f in files.iter_mut().filter(|f| f.kind == PhotoKind::Sidecar) {
        f.photo = photos.owner(&f.rel).and_then(|p| index_of.get(p).copied());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn touch(root: &Path, rel: &str, body: &[u8]) {
        let path = root.join(rel);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }

    fn rels(card: &Card) -> Vec<String> {
        card.files.iter().map(|f| f.rel.to_string()).collect()
    }

    #[test]
    fn a_dcf_card_gives_its_photos_and_leaves_the_litter() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        touch(root, "DCIM/100CANON/IMG_0001.CR2", b"raw");
        touch(root, "DCIM/100CANON/IMG_0001.JPG", b"jpg");
        touch(root, "DCIM/100CANON/IMG_0001.XMP", b"xmp");
        touch(root, "DCIM/100CANON/._IMG_0001.CR2", b"apple double");
        touch(root, "DCIM/100CANON/.DS_Store", b"finder");
        touch(root, "DCIM/CANONMSC/M0100.CTG", b"catalogue");
        touch(root, "MISC/AUTPRINT.MRK", b"print order");
        touch(root, ".Trashes/x.jpg", b"deleted");
        touch(root, "notes.txt", b"beside the DCF folder");
        let card = read_card(root).unwrap();
        assert_eq!(card.layouts, vec![CardLayout::Dcf]);
        assert_eq!(
            rels(&card),
            [
                "DCIM/100CANON/IMG_0001.CR2",
                "DCIM/100CANON/IMG_0001.JPG",
                "DCIM/100CANON/IMG_0001.XMP",
                "MISC/AUTPRINT.MRK",
                "notes.txt",
            ],
            "the whole card but its litter"
        );
        // The sidecar belongs to the RAW.
        assert_eq!(card.files[2].photo, Some(0));
    }

    #[test]
    fn sony_clips_bring_their_xml_and_thumbnails_stay() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        touch(root, "PRIVATE/M4ROOT/CLIP/C0001.MP4", b"clip");
        touch(root, "PRIVATE/M4ROOT/CLIP/C0001M01.XML", b"<xml/>");
        touch(root, "PRIVATE/M4ROOT/THMBNL/C0001T01.JPG", b"thumb");
        touch(root, "DCIM/100MSDCF/DSC00001.ARW", b"raw");
        let card = read_card(root).unwrap();
        assert_eq!(card.layouts, vec![CardLayout::Dcf, CardLayout::Sony]);
        assert_eq!(
            rels(&card),
            [
                "DCIM/100MSDCF/DSC00001.ARW",
                "PRIVATE/M4ROOT/CLIP/C0001.MP4",
                "PRIVATE/M4ROOT/CLIP/C0001M01.XML"
            ]
        );
        assert_eq!(card.files[2].kind, PhotoKind::Sidecar);
        assert_eq!(card.files[2].photo, Some(1));
    }

    #[test]
    fn canon_xf_clips_and_plain_folders() {
        let dir = tempfile::tempdir().unwrap();
        touch(
            dir.path(),
            "CONTENTS/CLIPS001/A001C001_230101AB_CANON.MXF",
            b"mxf",
        );
        touch(
            dir.path(),
            "CONTENTS/CLIPS001/A001C001_230101AB_CANON.XML",
            b"xml",
        );
        let card = read_card(dir.path()).unwrap();
        assert_eq!(card.layouts, vec![CardLayout::CanonXf]);
        assert_eq!(card.files[1].photo, Some(0));

        let plain = tempfile::tempdir().unwrap();
        touch(plain.path(), "shoot/a.jpg", b"a");
        touch(plain.path(), "b.NEF", b"b");
        let card = read_card(plain.path()).unwrap();
        assert_eq!(card.layouts, vec![CardLayout::Plain]);
        assert_eq!(rels(&card), ["b.NEF", "shoot/a.jpg"]);

        let empty = tempfile::tempdir().unwrap();
        assert!(matches!(
            read_card(empty.path()),
            Err(CardError::Empty { .. })
        ));
    }
}
