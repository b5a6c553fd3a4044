//! Which files of a shot travel together: a photo or clip and its sidecars.
//!
//! A group shares a stem: the name up to its *last* dot, in its folder, without
//! regard to case (`2012.07.07 beach.jpg` and `2012.07.07 beach.xmp`). A sidecar also
//! finds its photo by the photo's whole name (darktable and RawTherapee write
//! `IMG_0001.CR2.xmp`), and Sony's clip metadata `C0001M01.XML` belongs to
//! `C0001.MP4`. When a RAW and a JPEG share the stem, the sidecar belongs to the RAW.
//!
//! A group keeps its members' names matched at a destination: when one of them must
//! be renamed for a clash, every member takes the same suffix, put right after the
//! group's stem ([`Group::rest`]: `IMG_0001~a1b2c3d4.CR2.xmp`, `C0001~a1b2c3d4M01.XML`).

use std::collections::HashMap;

use crate::photo::PhotoKind;
use crate::relpath::RelPath;

/// `folder/stem` in lower case, the stem ending at the name's last dot.
pub fn stem_key(path: &RelPath) -> Vec<u8> {
    let bytes = path.as_bytes();
    let name_start = bytes.iter().rposition(|&b| b == b'/').map_or(0, |i| i + 1);
    let stem_end = bytes[name_start..]
        .iter()
        .rposition(|&b| b == b'.')
        .filter(|&i| i > 0)
        .map_or(bytes.len(), |i| name_start + i);
    bytes[..stem_end].to_ascii_lowercase()
}

/// The photos and clips of a set of files, by stem and by whole name, to find the one
/// a sidecar belongs to.
#[derive(Debug, Default)]
pub struct Siblings {
    by_stem: HashMap<Vec<u8>, RelPath>,
    by_name: HashMap<Vec<u8>, RelPath>,
    /// Every photo and clip of each stem.
    groups: HashMap<Vec<u8>, Vec<RelPath>>,
    /// Every member of each group, sidecars included, by the group's stem key.
    members: HashMap<Vec<u8>, Vec<RelPath>>,
}

/// The group a file belongs to, as a destination names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group<'a> {
    /// `folder/stem` in lower case, the same for every member.
    pub key: Vec<u8>,
    /// Every member, this file included, the primary first: the RAW, else the first
    /// photo or clip by name, else the file itself.
    pub members: Vec<&'a RelPath>,
}

impl Group<'_> {
    /// What follows the group's stem in `path`'s name: `.CR2`, `.CR2.xmp`, `M01.XML`
    /// (the whole extension when the name does not start with the stem).
    pub fn rest<'p>(&self, path: &'p RelPath) -> &'p [u8] {
        let name = path.file_name();
        let stem = self.key.rsplit(|&b| b == b'/').next().unwrap_or_default();
        if name.len() >= stem.len() && name[..stem.len()].eq_ignore_ascii_case(stem) {
            return &name[stem.len()..];
        }
        name.iter()
            .rposition(|&b| b == b'.')
            .filter(|&i| i > 0)
            .map_or(&[][..], |i| &name[i..])
    }
}

impl Siblings {
    pub fn index(paths: &[RelPath]) -> Siblings {
        let mut index = Siblings::default();
        for p in paths {
            let kind = PhotoKind::from_name(p.file_name());
            if !kind.is_media() {
                continue;
            }
            index
                .by_name
                .insert(p.as_bytes().to_ascii_lowercase(), p.clone());
            index.groups.entry(stem_key(p)).or_default().push(p.clone());
            // Prefer the RAW when a RAW+JPEG pair shares the stem: deterministic either way.
            let better = match index.by_stem.get(&stem_key(p)) {
                None => true,
                Some(existing) => {
                    let ek = PhotoKind::from_name(existing.file_name());
                    (kind == PhotoKind::Raw && ek != PhotoKind::Raw) || (kind == ek && p < existing)
                }
            };
            if better {
                index.by_stem.insert(stem_key(p), p.clone());
            }
        }
        for p in paths {
            let key = match PhotoKind::from_name(p.file_name()) {
                PhotoKind::Raw | PhotoKind::Image | PhotoKind::Video => stem_key(p),
                PhotoKind::Sidecar => match index.owner(p) {
                    Some(owner) => stem_key(owner),
                    None => stem_key(p),
                },
                PhotoKind::Other => continue,
            };
            index.members.entry(key).or_default().push(p.clone());
        }
        for (key, members) in &mut index.members {
            let primary = index.by_stem.get(key);
            members.sort_by_key(|m| (Some(m) != primary, m.clone()));
        }
        index
    }

    /// The group of `path`, when it has other members: a RAW's JPEG, a photo's
    /// sidecars, a Live Photo's clip.
    pub fn group_of(&self, path: &RelPath) -> Option<Group<'_>> {
        let key = match PhotoKind::from_name(path.file_name()) {
            PhotoKind::Sidecar => stem_key(self.owner(path)?),
            _ => stem_key(path),
        };
        let members = self.members.get(&key)?;
        (members.len() > 1).then(|| Group {
            key,
            members: members.iter().collect(),
        })
    }

    /// The other photos and clips of `path`'s group (a RAW's JPEG, a Live Photo's
    /// clip).
    pub fn others(&self, path: &RelPath) -> impl Iterator<Item = &RelPath> {
        self.groups
            .get(&stem_key(path))
            .into_iter()
            .flatten()
            .filter(move |p| *p != path)
    }

    /// The photo or clip the sidecar `sidecar` belongs to, if there is one.
    pub fn owner(&self, sidecar: &RelPath) -> Option<&RelPath> {
        let key = stem_key(sidecar);
        self.by_name
            .get(&key)
            .or_else(|| self.by_stem.get(&key))
            .or_else(|| self.by_stem.get(key.strip_suffix(b"m01")?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rel(s: &str) -> RelPath {
        RelPath::new(s.as_bytes().to_vec()).unwrap()
    }

    fn owner(files: &[&str], sidecar: &str) -> Option<String> {
        let paths: Vec<RelPath> = files.iter().map(|f| rel(f)).collect();
        Siblings::index(&paths)
            .owner(&rel(sidecar))
            .map(|p| p.to_string())
    }

    #[test]
    fn a_sidecar_belongs_to_the_photo_of_its_whole_stem() {
        let files = ["d/2012.06.06 party.jpg", "d/2012.07.07 beach.jpg"];
        assert_eq!(
            owner(&files, "d/2012.07.07 beach.xmp").as_deref(),
            Some("d/2012.07.07 beach.jpg")
        );
        assert_eq!(
            owner(&files, "e/2012.07.07 beach.xmp"),
            None,
            "another folder"
        );
    }

    #[test]
    fn darktable_names_sony_clips_and_raw_plus_jpeg() {
        let files = ["d/IMG_0001.CR2", "d/IMG_0001.JPG", "c/C0001.MP4"];
        assert_eq!(
            owner(&files, "d/IMG_0001.JPG.xmp").as_deref(),
            Some("d/IMG_0001.JPG")
        );
        assert_eq!(
            owner(&files, "d/IMG_0001.CR2.xmp").as_deref(),
            Some("d/IMG_0001.CR2")
        );
        assert_eq!(
            owner(&files, "d/img_0001.xmp").as_deref(),
            Some("d/IMG_0001.CR2")
        );
        assert_eq!(
            owner(&files, "c/C0001M01.XML").as_deref(),
            Some("c/C0001.MP4")
        );
    }

    #[test]
    fn a_group_holds_its_sidecars_with_the_raw_first() {
        let files = [
            "d/IMG_0001.JPG",
            "d/IMG_0001.CR2.xmp",
            "d/IMG_0001.CR2",
            "d/IMG_0002.JPG",
            "c/C0001M01.XML",
            "c/C0001.MP4",
        ];
        let paths: Vec<RelPath> = files.iter().map(|f| rel(f)).collect();
        let index = Siblings::index(&paths);
        let group = index.group_of(&rel("d/IMG_0001.CR2.xmp")).unwrap();
        let names: Vec<String> = group.members.iter().map(|p| p.to_string()).collect();
        assert_eq!(
            names,
            ["d/IMG_0001.CR2", "d/IMG_0001.CR2.xmp", "d/IMG_0001.JPG"]
        );
        assert_eq!(group.rest(&rel("d/IMG_0001.CR2.xmp")), b".CR2.xmp");
        let clip = index.group_of(&rel("c/C0001.MP4")).unwrap();
        assert_eq!(clip.rest(&rel("c/C0001M01.XML")), b"M01.XML");
        assert_eq!(index.group_of(&rel("d/IMG_0002.JPG")), None, "alone");
    }
}
