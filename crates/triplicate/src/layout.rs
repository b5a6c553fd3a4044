//! Where a photo goes at a destination: the layout template and collision names.
//!
//! A [`Layout`] is a template such as the default `{year}/{date}/{name}`, parsed once
//! and rendered per photo into a [`RelPath`]. Names stay byte-exact, but for the bytes
//! that card and Windows filesystems refuse, which are escaped reversibly
//! ([`escape_component`]). When the rendered
//! name is already taken by other content, [`alternate_name`] gives a distinct,
//! deterministic name (`IMG_0001~a1b2c3d4.CR2`), so that a rerun finds the same one.
//! When a library file changes, its earlier version moves aside to [`version_key`].

use chrono::{Datelike, NaiveDateTime, Timelike};

use crate::photo::{ContentHash, PhotoKind};
use crate::relpath::RelPath;

pub const DEFAULT_LAYOUT: &str = "{year}/{date}/{name}";

/// `.triplicate/quarantine/<folder>/<key>`: where a damaged copy found at `key` is
/// kept (never deleted); `folder` names the run that moved it there.
pub fn quarantine_key(folder: &str, key: &RelPath) -> RelPath {
    RelPath::new(format!("{}/quarantine/{folder}", crate::vocab::META_DIR).into_bytes())
        .expect("run ids are clean")
        .join(key)
}

/// Where the earlier version `hash` of the photo stored at `key` is kept once a new
/// version takes its place: `.triplicate/versions/<key>/<time>~<hash8>.<ext>`, with
/// the time the library file stopped holding it (UTC, to the second). Browsable, and
/// the same at every destination.
pub fn version_key(
    key: &RelPath,
    until_ms: i64,
    hash: &ContentHash,
) -> Result<RelPath, crate::relpath::BadRelPath> {
    let time = chrono::DateTime::from_timestamp_millis(until_ms)
        .unwrap_or_default()
        .format("%Y%m%dT%H%M%SZ");
    let name = key.file_name();
    let ext = name
        .iter()
        .rposition(|&b| b == b'.')
        .filter(|&i| i > 0)
        .map(|i| &name[i..])
        .unwrap_or(b"");
    let mut file = format!("{time}~{}", hash.short()).into_bytes();
    file.extend_from_slice(ext);
    let mut path = format!("{}/versions/", crate::vocab::META_DIR).into_bytes();
    path.extend_from_slice(key.as_bytes());
    path.push(b'/');
    path.extend_from_slice(&file);
    RelPath::new(path)
}

/// The longest file name most filesystems take.
pub const NAME_MAX: usize = 255;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token {
    Year,
    Month,
    Day,
    Date,
    Time,
    Name,
    Stem,
    Ext,
    Library,
    RelPath,
    RelDir,
    Node,
    Kind,
    Make,
    Model,
    Card,
    Job,
    Seq,
}

const TOKENS: &[(&str, Token)] = &[
    ("year", Token::Year),
    ("month", Token::Month),
    ("day", Token::Day),
    ("date", Token::Date),
    ("time", Token::Time),
    ("name", Token::Name),
    ("stem", Token::Stem),
    ("ext", Token::Ext),
    ("library", Token::Library),
    ("relpath", Token::RelPath),
    ("reldir", Token::RelDir),
    ("node", Token::Node),
    ("kind", Token::Kind),
    ("make", Token::Make),
    ("model", Token::Model),
    ("card", Token::Card),
    ("job", Token::Job),
    ("seq", Token::Seq),
];

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Text(String),
    Token(Token),
}

/// A parsed layout template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Layout {
    parts: Vec<Part>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LayoutError {
    #[error("layout '{template}': unknown token {{{token}}} (known: {known})")]
    UnknownToken {
        template: String,
        token: String,
        known: String,
    },
    #[error("layout '{template}': unclosed '{{'")]
    Unclosed { template: String },
    #[error(
        "layout '{template}' must contain {{name}}, {{stem}} or {{relpath}}, so that each photo keeps its own name"
    )]
    NoName { template: String },
    #[error("layout '{template}' must be a relative path without '.' or '..' parts")]
    NotRelative { template: String },
}

impl crate::values::Parse for Layout {
    fn parse(template: &str) -> Result<Layout, String> {
        Layout::parse(template).map_err(|e| e.to_string())
    }
}

/// What a layout is rendered from.
pub struct LayoutInput<'a> {
    pub captured: NaiveDateTime,
    /// The photo's path relative to its library folder.
    pub source: &'a RelPath,
    pub library: &'a str,
    pub node: &'a str,
    pub kind: PhotoKind,
    /// What a card ingest knows besides: camera, card, job, sequence.
    pub ingest: Option<&'a IngestTokens>,
}

/// The tokens only a card ingest fills: `{make}`, `{model}` (from EXIF, else
/// "unknown"), `{card}` (the card's label), `{job}` and `{seq}` (the file's number in
/// the ingest, from 0001). Elsewhere they render empty, and an empty folder level is
/// dropped.
#[derive(Debug, Clone, Default)]
pub struct IngestTokens {
    pub make: Option<String>,
    pub model: Option<String>,
    pub card: String,
    pub job: String,
    pub seq: u32,
}

impl Layout {
    pub fn parse(template: &str) -> Result<Layout, LayoutError> {
        let mut parts = Vec::new();
        let mut rest = template;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Text(rest[..open].to_string()));
            }
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| LayoutError::Unclosed {
                    template: template.into(),
                })?;
            let name = &rest[open + 1..open + close];
            let token = TOKENS
                .iter()
                .find(|(n, _)| *n == name)
                .map(|(_, t)| *t)
                .ok_or_else(|| LayoutError::UnknownToken {
                    template: template.into(),
                    token: name.into(),
                    known: TOKENS
                        .iter()
                        .map(|(n, _)| format!("{{{n}}}"))
                        .collect::<Vec<_>>()
                        .join(" "),
                })?;
            parts.push(Part::Token(token));
            rest = &rest[open + close + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        let names_file = parts
            .iter()
            .any(|p| matches!(p, Part::Token(Token::Name | Token::Stem | Token::RelPath)));
        if !names_file {
            return Err(LayoutError::NoName {
                template: template.into(),
            });
        }
        let literal_ok = !template.starts_with('/')
            && template
                .split('/')
                .all(|c| c != "." && c != ".." && !c.contains('\0'));
        if !literal_ok {
            return Err(LayoutError::NotRelative {
                template: template.into(),
            });
        }
        Ok(Layout { parts })
    }

    /// The key of a photo at the destination.
    pub fn render(&self, input: &LayoutInput<'_>) -> RelPath {
        let c = input.captured;
        let name = input.source.file_name();
        let (stem, ext) = split_ext(name);
        let mut out: Vec<u8> = Vec::new();
        for part in &self.parts {
            match part {
                Part::Text(t) => out.extend_from_slice(t.as_bytes()),
                Part::Token(t) => match t {
                    Token::Year => out.extend(format!("{:04}", c.year()).bytes()),
                    Token::Month => out.extend(format!("{:02}", c.month()).bytes()),
                    Token::Day => out.extend(format!("{:02}", c.day()).bytes()),
                    Token::Date => out.extend(c.format("%Y-%m-%d").to_string().bytes()),
                    Token::Time => out.extend(
                        format!("{:02}{:02}{:02}", c.hour(), c.minute(), c.second()).bytes(),
                    ),
                    Token::Name => out.extend_from_slice(name),
                    Token::Stem => out.extend_from_slice(stem),
                    Token::Ext => out.extend_from_slice(ext.unwrap_or_default()),
                    Token::Library => out.extend_from_slice(input.library.as_bytes()),
                    Token::RelPath => out.extend_from_slice(input.source.as_bytes()),
                    Token::RelDir => {
                        if let Some(p) = input.source.parent() {
                            out.extend_from_slice(p.as_bytes())
                        }
                    }
                    Token::Node => out.extend_from_slice(input.node.as_bytes()),
                    Token::Kind => out.extend_from_slice(input.kind.as_str().as_bytes()),
                    Token::Make | Token::Model | Token::Card | Token::Job | Token::Seq => {
                        if let Some(i) = input.ingest {
                            let text = match t {
                                Token::Make => i.make.as_deref().unwrap_or("unknown").to_string(),
                                Token::Model => i.model.as_deref().unwrap_or("unknown").to_string(),
                                Token::Card => i.card.clone(),
                                Token::Job => i.job.clone(),
                                _ => format!("{:04}", i.seq),
                            };
                            // A value is one folder level: no slashes from EXIF.
                            out.extend(text.replace(['/', '\0'], "_").bytes());
                        }
                    }
                },
            }
        }
        // Tokens may be empty ({reldir} at the top of a library): drop empty parts.
        let cleaned: Vec<Vec<u8>> = out
            .split(|&b| b == b'/')
            .filter(|p| !p.is_empty() && *p != b"." && *p != b"..")
            .map(escape_component)
            .collect();
        let joined = cleaned.join(&b'/');
        RelPath::new(joined).unwrap_or_else(|_| input.source.clone())
    }
}

/// One component of a key, as every destination can hold it: the bytes a portable
/// filesystem refuses are percent-escaped (`%3A` for `:`), and a name a destination
/// reserves has its first dot written `%2E`.
///
/// - **Refused by exFAT, FAT and Windows shares**: `? : * " < > | \`, control
///   characters (tab, newline…), and bytes that are not UTF-8 (those filesystems store
///   names as UTF-16).
/// - **Reserved**: `.triplicate`, the destination's own folder, and the
///   `.triplicate-partial-` names earlier versions used for puts in progress.
/// - **Reversible**: a `%` that two hex digits follow is escaped too (`%25`), so every
///   `%XX` in a key is an escape. The library name itself is in the catalog and the
///   manifest, and restore gives it back.
pub fn escape_component(part: &[u8]) -> Vec<u8> {
    let reserved = part == crate::vocab::META_DIR.as_bytes()
        || part.starts_with(crate::vocab::PARTIAL_PREFIX.as_bytes());
    let mut out = Vec::with_capacity(part.len());
    let escape = |out: &mut Vec<u8>, bytes: &[u8]| {
        for b in bytes {
            out.extend_from_slice(format!("%{b:02X}").as_bytes());
        }
    };
    let rest = if reserved {
        escape(&mut out, b".");
        &part[1..]
    } else {
        part
    };
    for chunk in rest.utf8_chunks() {
        let valid = chunk.valid();
        for (i, c) in valid.char_indices() {
            let hex_follows = || {
                let next = &valid.as_bytes()[i + 1..];
                next.len() >= 2 && next[..2].iter().all(u8::is_ascii_hexdigit)
            };
            let refused = c.is_control()
                || matches!(c, '?' | ':' | '*' | '"' | '<' | '>' | '|' | '\\')
                || (c == '%' && hex_follows());
            let mut buf = [0; 4];
            let bytes = c.encode_utf8(&mut buf).as_bytes();
            if refused {
                escape(&mut out, bytes);
            } else {
                out.extend_from_slice(bytes);
            }
        }
        escape(&mut out, chunk.invalid());
    }
    out
}

/// Whether every destination can hold `name` as it is (see [`escape_component`]).
pub fn is_portable(name: &[u8]) -> bool {
    name.split(|&b| b == b'/')
        .all(|part| escape_component(part) == part)
}

/// `(stem, Some(ext))` for `name.ext`; a leading dot does not start an extension.
fn split_ext(name: &[u8]) -> (&[u8], Option<&[u8]>) {
    match name.iter().rposition(|&b| b == b'.') {
        Some(i) if i > 0 => (&name[..i], Some(&name[i + 1..])),
        _ => (name, None),
    }
}

/// A distinct, deterministic name for content `hash` whose first-choice `name` is
/// taken: `stem~<hex>.ext`, with `hex_len` hex digits of the hash. The stem is
/// shortened (at a character boundary) when needed to stay within [`NAME_MAX`].
pub fn alternate_name(name: &[u8], hash: &ContentHash, hex_len: usize) -> Vec<u8> {
    let hex = hash.to_hex();
    let tag = &hex[..hex_len.min(64)];
    let rest = match split_ext(name) {
        (_, Some(ext)) => ext.len() + 1,
        _ => 0,
    };
    tagged_name(name, rest, tag)
}

/// Where content `hash` may go when `first` is its name: `first`, then its alternative
/// names ([`alternate_name`] with 8, 16 and all 64 hex digits), in that order.
pub fn candidate_keys<'a>(
    first: &'a RelPath,
    hash: &'a ContentHash,
) -> impl Iterator<Item = RelPath> + 'a {
    let alternates = [8usize, 16, 64].into_iter().filter_map(move |n| {
        first
            .with_file_name(&alternate_name(first.file_name(), hash, n))
            .ok()
    });
    std::iter::once(first.clone()).chain(alternates)
}

/// The name a member of a renamed group takes (see [`crate::scan::group`]): the
/// group's suffix `~<hex8>` of its primary member's hash, put before `rest`, what
/// follows the group's stem in the member's name (`IMG_0001~a1b2c3d4.CR2.xmp`). A
/// rendered name that does not end with `rest` takes the suffix before its extension.
pub fn group_name(name: &[u8], rest: &[u8], primary: &ContentHash) -> Vec<u8> {
    if rest.is_empty() || !name.ends_with(rest) {
        return alternate_name(name, primary, 8);
    }
    tagged_name(name, rest.len(), &primary.short())
}

/// `name` with `~tag` put before its last `rest_len` bytes. The part before is
/// shortened (at a character boundary) when needed to stay within [`NAME_MAX`]; an
/// absurdly long rest is treated as part of it.
fn tagged_name(name: &[u8], rest_len: usize, tag: &str) -> Vec<u8> {
    let tag = format!("~{tag}");
    let rest_len = if rest_len + tag.len() < NAME_MAX {
        rest_len
    } else {
        0
    };
    let (stem, rest) = name.split_at(name.len() - rest_len);
    let room = NAME_MAX - tag.len() - rest.len();
    let was_text = std::str::from_utf8(stem).is_ok();
    let mut stem = &stem[..stem.len().min(room)];
    // Do not cut a character in half in a name that was valid UTF-8.
    while was_text && std::str::from_utf8(stem).is_err() {
        stem = &stem[..stem.len() - 1];
    }
    let mut out = stem.to_vec();
    out.extend_from_slice(tag.as_bytes());
    out.extend_from_slice(rest);
    out
}

#[cfg(test)]
mod tests {

    #[test]
    fn names_a_card_filesystem_refuses_are_escaped_reversibly() {
        for (name, key) in [
            (&b"a:b?.JPG"[..], "a%3Ab%3F.JPG"),
            (b"tab\there\nnew.JPG", "tab%09here%0Anew.JPG"),
            (b"caf\xe9.JPG", "caf%E9.JPG"),
            (b"<*|\"\\>.JPG", "%3C%2A%7C%22%5C%3E.JPG"),
            (b"100%.JPG", "100%.JPG"),
            (b"a%3Ab.JPG", "a%253Ab.JPG"),
            ("été.JPG".as_bytes(), "été.JPG"),
        ] {
            assert_eq!(String::from_utf8(escape_component(name)).unwrap(), key);
            assert_eq!(is_portable(name), name == key.as_bytes());
        }
    }

    #[test]
    fn a_photo_named_like_a_put_in_progress_is_stored_under_another_name() {
        let layout = Layout::parse("{year}/{reldir}/{name}").unwrap();
        let source = RelPath::new(
            b".triplicate/.triplicate-partial-x/.triplicate-partial-0123456789abcdef.JPG".to_vec(),
        )
        .unwrap();
        let key = layout.render(&LayoutInput {
            captured: chrono::NaiveDate::from_ymd_opt(2024, 5, 17)
                .unwrap()
                .and_hms_opt(10, 0, 0)
                .unwrap(),
            source: &source,
            library: "lib",
            node: "n",
            kind: crate::photo::PhotoKind::Image,
            ingest: None,
        });
        assert_eq!(
            key.to_string(),
            "2024/%2Etriplicate/%2Etriplicate-partial-x/%2Etriplicate-partial-0123456789abcdef.JPG"
        );
    }
    use super::*;
    use chrono::NaiveDate;
    use proptest::prelude::*;

    fn input<'a>(source: &'a RelPath) -> LayoutInput<'a> {
        LayoutInput {
            captured: NaiveDate::from_ymd_opt(2024, 5, 7)
                .unwrap()
                .and_hms_opt(9, 8, 7)
                .unwrap(),
            source,
            library: "Downloads",
            node: "studio",
            kind: PhotoKind::Raw,
            ingest: None,
        }
    }

    #[test]
    fn renders_templates() {
        let src = RelPath::new(b"card1/DCIM/100CANON/IMG_0001.CR2".to_vec()).unwrap();
        let cases = [
            ("{year}/{date}/{name}", "2024/2024-05-07/IMG_0001.CR2"),
            (
                "{year}/{month}/{day}/{stem}.{ext}",
                "2024/05/07/IMG_0001.CR2",
            ),
            (
                "{library}/{relpath}",
                "Downloads/card1/DCIM/100CANON/IMG_0001.CR2",
            ),
            (
                "{node}/{kind}/{date}_{time}_{name}",
                "studio/raw/2024-05-07_090807_IMG_0001.CR2",
            ),
            (
                "by-dir/{reldir}/{name}",
                "by-dir/card1/DCIM/100CANON/IMG_0001.CR2",
            ),
        ];
        for (template, want) in cases {
            let got = Layout::parse(template).unwrap().render(&input(&src));
            assert_eq!(got.as_str(), Some(want), "{template}");
        }
        let top = RelPath::new(b"a.jpg".to_vec()).unwrap();
        let got = Layout::parse("x/{reldir}/{name}")
            .unwrap()
            .render(&input(&top));
        assert_eq!(got.as_str(), Some("x/a.jpg"));
    }

    #[test]
    fn rejects_bad_templates() {
        assert!(matches!(
            Layout::parse("{year}/{nmae}"),
            Err(LayoutError::UnknownToken { .. })
        ));
        assert!(matches!(
            Layout::parse("{year}/{date}"),
            Err(LayoutError::NoName { .. })
        ));
        assert!(matches!(
            Layout::parse("{year/{name}"),
            Err(LayoutError::UnknownToken { .. })
        ));
        assert!(matches!(
            Layout::parse("{name"),
            Err(LayoutError::Unclosed { .. })
        ));
        assert!(matches!(
            Layout::parse("../{name}"),
            Err(LayoutError::NotRelative { .. })
        ));
        assert!(matches!(
            Layout::parse("/abs/{name}"),
            Err(LayoutError::NotRelative { .. })
        ));
    }

    #[test]
    fn alternate_names() {
        let h = ContentHash::of(b"x");
        let short = h.short();
        assert_eq!(
            alternate_name(b"IMG_0001.CR2", &h, 8),
            format!("IMG_0001~{short}.CR2").into_bytes()
        );
        assert_eq!(
            alternate_name(b"README", &h, 8),
            format!("README~{short}").into_bytes()
        );
        assert_eq!(
            alternate_name(b".hidden", &h, 8),
            format!(".hidden~{short}").into_bytes()
        );
    }

    #[test]
    fn a_group_suffix_goes_after_the_group_stem() {
        let h = ContentHash::of(b"primary");
        let short = h.short();
        for (name, rest, want) in [
            ("IMG_0001.CR2", ".CR2", format!("IMG_0001~{short}.CR2")),
            (
                "IMG_0001.CR2.xmp",
                ".CR2.xmp",
                format!("IMG_0001~{short}.CR2.xmp"),
            ),
            ("C0001M01.XML", "M01.XML", format!("C0001~{short}M01.XML")),
            // A layout that renamed the file: before its extension.
            ("0042.JPG", ".CR2", format!("0042~{short}.JPG")),
        ] {
            assert_eq!(
                String::from_utf8(group_name(name.as_bytes(), rest.as_bytes(), &h)).unwrap(),
                want
            );
        }
    }

    proptest! {
        #[test]
        fn alternate_name_is_distinct_bounded_and_deterministic(
            name in prop::collection::vec(1u8..=255, 1..=255),
            seed in any::<u64>(),
        ) {
            let name: Vec<u8> = name.into_iter().map(|b| if b == b'/' { b'_' } else { b }).collect();
            let h = ContentHash::of(&seed.to_le_bytes());
            let alt = alternate_name(&name, &h, 8);
            prop_assert!(alt.len() <= NAME_MAX);
            prop_assert_ne!(&alt, &name);
            prop_assert_eq!(&alt, &alternate_name(&name, &h, 8));
            prop_assert!(!alt.contains(&b'/') && !alt.contains(&0));
            if std::str::from_utf8(&name).is_ok() {
                prop_assert!(std::str::from_utf8(&alt).is_ok());
            }
        }
    }
}
