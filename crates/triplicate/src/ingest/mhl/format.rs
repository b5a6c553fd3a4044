//! The ASC MHL v2.0 documents: a generation's hash list (`.mhl`) and the chain file
//! (`ascmhl_chain.xml`), written as the reference tool writes them and read whoever
//! wrote them; and the hash formats the standard names.

use std::fmt::Write as _;

use md5::Digest as _;
use xxhash_rust::{xxh3, xxh32, xxh64};

/// The namespace of a hash list.
const HASHLIST_NS: &str = "urn:ASC:MHL:v2.0";
/// The namespace of the chain file.
const DIRECTORY_NS: &str = "urn:ASC:MHL:DIRECTORY:v2.0";

/// A hash format the standard names, by its element name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum HashFormat {
    Md5,
    Sha1,
    C4,
    Xxh32,
    Xxh64,
    Xxh3,
    Xxh128,
}

impl HashFormat {
    pub const ALL: [HashFormat; 7] = [
        HashFormat::Md5,
        HashFormat::Sha1,
        HashFormat::C4,
        HashFormat::Xxh32,
        HashFormat::Xxh64,
        HashFormat::Xxh3,
        HashFormat::Xxh128,
    ];

    pub fn name(self) -> &'static str {
        match self {
            HashFormat::Md5 => "md5",
            HashFormat::Sha1 => "sha1",
            HashFormat::C4 => "c4",
            HashFormat::Xxh32 => "xxh32",
            HashFormat::Xxh64 => "xxh64",
            HashFormat::Xxh3 => "xxh3",
            HashFormat::Xxh128 => "xxh128",
        }
    }

    pub fn from_name(name: &str) -> Option<HashFormat> {
        HashFormat::ALL.into_iter().find(|f| f.name() == name)
    }

    pub fn hasher(self) -> Hasher {
        match self {
            HashFormat::Md5 => Hasher::Md5(md5::Md5::new()),
            HashFormat::Sha1 => Hasher::Sha1(sha1::Sha1::new()),
            HashFormat::C4 => Hasher::C4(sha2::Sha512::new()),
            HashFormat::Xxh32 => Hasher::Xxh32(xxh32::Xxh32::new(0)),
            HashFormat::Xxh64 => Hasher::Xxh64(xxh64::Xxh64::new(0)),
            HashFormat::Xxh3 => Hasher::Xxh3(Box::new(xxh3::Xxh3::new()), false),
            HashFormat::Xxh128 => Hasher::Xxh3(Box::new(xxh3::Xxh3::new()), true),
        }
    }
}

/// A running hash of one format; [`Hasher::finish`] gives the string the standard
/// writes (lower-case hex, or a C4 id).
pub enum Hasher {
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    C4(sha2::Sha512),
    Xxh32(xxh32::Xxh32),
    Xxh64(xxh64::Xxh64),
    /// xxh3, 64 bits, or 128 bits when `true`.
    Xxh3(Box<xxh3::Xxh3>, bool),
}

impl Hasher {
    pub fn update(&mut self, data: &[u8]) {
        match self {
            Hasher::Md5(h) => h.update(data),
            Hasher::Sha1(h) => h.update(data),
            Hasher::C4(h) => h.update(data),
            Hasher::Xxh32(h) => h.update(data),
            Hasher::Xxh64(h) => h.update(data),
            Hasher::Xxh3(h, _) => h.update(data),
        }
    }

    pub fn finish(self) -> String {
        match self {
            Hasher::Md5(h) => hex(&h.finalize()),
            Hasher::Sha1(h) => hex(&h.finalize()),
            Hasher::C4(h) => c4_id(&h.finalize().into()),
            Hasher::Xxh32(h) => format!("{:08x}", h.digest()),
            Hasher::Xxh64(h) => format!("{:016x}", h.digest()),
            Hasher::Xxh3(h, false) => format!("{:016x}", h.digest()),
            Hasher::Xxh3(h, true) => format!("{:032x}", h.digest128()),
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The C4 id of a SHA-512 digest: "c4" and the digest in base 58, padded with the
/// alphabet's zero ("1") to 90 characters.
pub fn c4_id(sha512: &[u8; 64]) -> String {
    const ALPHABET: &[u8; 58] = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz";
    // Long division of the big-endian number by 58, one remainder per digit.
    let mut number = *sha512;
    let mut digits = Vec::with_capacity(88);
    while number.iter().any(|&b| b != 0) {
        let mut remainder = 0u32;
        for byte in number.iter_mut() {
            let value = (remainder << 8) | u32::from(*byte);
            *byte = (value / 58) as u8;
            remainder = value % 58;
        }
        digits.push(ALPHABET[remainder as usize]);
    }
    while digits.len() < 88 {
        digits.push(b'1');
    }
    digits.reverse();
    format!("c4{}", String::from_utf8(digits).expect("ASCII alphabet"))
}

/// The C4 id of some bytes (the standard's reference hash of a generation file).
pub fn c4_of(bytes: &[u8]) -> String {
    let mut h = HashFormat::C4.hasher();
    h.update(bytes);
    h.finish()
}

/// What a hash records: the first hash of a file in the history, a later check that
/// matched it, or one that did not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Original,
    Verified,
    Failed,
}

impl Action {
    pub fn name(self) -> &'static str {
        match self {
            Action::Original => "original",
            Action::Verified => "verified",
            Action::Failed => "failed",
        }
    }

    fn from_name(name: &str) -> Option<Action> {
        [Action::Original, Action::Verified, Action::Failed]
            .into_iter()
            .find(|a| a.name() == name)
    }
}

/// One hash of a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashEntry {
    pub format: HashFormat,
    pub value: String,
    pub action: Option<Action>,
    /// When it was computed (ISO 8601).
    pub date: Option<String>,
}

/// A `<hash>` element: a file and its hashes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileEntry {
    /// Relative to the history's root, with `/`.
    pub path: String,
    pub size: Option<u64>,
    pub modified: Option<String>,
    pub hashes: Vec<HashEntry>,
    /// Where the file was before a rename, if it was renamed.
    pub previous_path: Option<String>,
}

/// Content and structure hashes of a folder, in one format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryHash {
    pub format: HashFormat,
    pub content: String,
    pub structure: String,
    pub date: Option<String>,
}

/// A `<directoryhash>` element.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirectoryEntry {
    pub path: String,
    pub hashes: Vec<DirectoryHash>,
}

/// One generation: an `.mhl` file.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct HashList {
    pub creation_date: String,
    pub hostname: String,
    pub tool: String,
    pub tool_version: String,
    /// "in-place", "transfer" or "flatten".
    pub process: String,
    /// The hashes of the history's root folder.
    pub root: Vec<DirectoryHash>,
    /// Patterns of names the history does not cover.
    pub ignore: Vec<String>,
    pub files: Vec<FileEntry>,
    pub directories: Vec<DirectoryEntry>,
}

/// A generation as the chain file names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChainLink {
    pub sequence: u32,
    /// The generation's file name, inside `ascmhl/`.
    pub path: String,
    /// The C4 id of the generation file's bytes.
    pub c4: String,
}

/// Why a document could not be read.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct FormatError(String);

fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

/// `<format action=… hashdate=…>value</format>`.
fn hash_element(
    out: &mut String,
    indent: &str,
    format: HashFormat,
    value: &str,
    action: Option<Action>,
    date: Option<&str>,
) {
    let name = format.name();
    let _ = write!(out, "{indent}<{name}");
    if let Some(a) = action {
        let _ = write!(out, " action=\"{}\"", a.name());
    }
    if let Some(d) = date {
        let _ = write!(out, " hashdate=\"{}\"", escape(d));
    }
    let _ = writeln!(out, ">{}</{name}>", escape(value));
}

fn directory_hashes(out: &mut String, indent: &str, hashes: &[DirectoryHash]) {
    for (tag, content) in [("content", true), ("structure", false)] {
        let _ = writeln!(out, "{indent}<{tag}>");
        for h in hashes {
            let value = if content { &h.content } else { &h.structure };
            hash_element(
                out,
                &format!("{indent}  "),
                h.format,
                value,
                None,
                h.date.as_deref(),
            );
        }
        let _ = writeln!(out, "{indent}</{tag}>");
    }
}

impl HashList {
    /// The `.mhl` document, laid out as the reference tool lays it out.
    pub fn to_xml(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
        let _ = writeln!(out, "<hashlist version=\"2.0\" xmlns=\"{HASHLIST_NS}\">");
        let _ = writeln!(out, "  <creatorinfo>");
        let _ = writeln!(
            out,
            "    <creationdate>{}</creationdate>",
            escape(&self.creation_date)
        );
        let _ = writeln!(out, "    <hostname>{}</hostname>", escape(&self.hostname));
        let _ = writeln!(
            out,
            "    <tool version=\"{}\">{}</tool>",
            escape(&self.tool_version),
            escape(&self.tool)
        );
        let _ = writeln!(out, "  </creatorinfo>");
        let _ = writeln!(out, "  <processinfo>");
        let _ = writeln!(out, "    <process>{}</process>", escape(&self.process));
        if !self.root.is_empty() {
            let _ = writeln!(out, "    <roothash>");
            directory_hashes(&mut out, "      ", &self.root);
            let _ = writeln!(out, "    </roothash>");
        }
        let _ = writeln!(out, "    <ignore>");
        for pattern in &self.ignore {
            let _ = writeln!(out, "      <pattern>{}</pattern>", escape(pattern));
        }
        let _ = writeln!(out, "    </ignore>");
        let _ = writeln!(out, "  </processinfo>");
        let _ = writeln!(out, "  <hashes>");
        for f in &self.files {
            let _ = writeln!(out, "    <hash>");
            let _ = write!(out, "      <path");
            if let Some(size) = f.size {
                let _ = write!(out, " size=\"{size}\"");
            }
            if let Some(m) = &f.modified {
                let _ = write!(out, " lastmodificationdate=\"{}\"", escape(m));
            }
            let _ = writeln!(out, ">{}</path>", escape(&f.path));
            for h in &f.hashes {
                hash_element(
                    &mut out,
                    "      ",
                    h.format,
                    &h.value,
                    h.action,
                    h.date.as_deref(),
                );
            }
            if let Some(p) = &f.previous_path {
                let _ = writeln!(out, "      <previousPath>{}</previousPath>", escape(p));
            }
            let _ = writeln!(out, "    </hash>");
        }
        for d in &self.directories {
            let _ = writeln!(out, "    <directoryhash>");
            let _ = writeln!(out, "      <path>{}</path>", escape(&d.path));
            directory_hashes(&mut out, "      ", &d.hashes);
            let _ = writeln!(out, "    </directoryhash>");
        }
        let _ = writeln!(out, "  </hashes>");
        let _ = writeln!(out, "</hashlist>");
        out
    }

    /// Reads an `.mhl` document, whoever wrote it. Elements this model has no place
    /// for (authors, metadata, references) are passed over.
    pub fn parse(text: &str) -> Result<HashList, FormatError> {
        let doc = roxmltree::Document::parse(text).map_err(|e| FormatError(e.to_string()))?;
        let root = doc.root_element();
        if root.tag_name().name() != "hashlist" {
            return Err(FormatError(format!(
                "the document is a <{}>, not an ASC MHL <hashlist>",
                root.tag_name().name()
            )));
        }
        if root.attribute("version") != Some("2.0") {
            return Err(FormatError(format!(
                "ASC MHL version {} is not 2.0",
                root.attribute("version").unwrap_or("(none)")
            )));
        }
        let mut list = HashList::default();
        for section in root.children().filter(|n| n.is_element()) {
            match section.tag_name().name() {
                "creatorinfo" => {
                    for c in section.children().filter(|n| n.is_element()) {
                        let text = c.text().unwrap_or("").trim().to_string();
                        match c.tag_name().name() {
                            "creationdate" => list.creation_date = text,
                            "hostname" => list.hostname = text,
                            "tool" => {
                                list.tool = text;
                                list.tool_version = c.attribute("version").unwrap_or("").into();
                            }
                            _ => {}
                        }
                    }
                }
                "processinfo" => {
                    for c in section.children().filter(|n| n.is_element()) {
                        match c.tag_name().name() {
                            "process" => list.process = c.text().unwrap_or("").trim().into(),
                            "roothash" => list.root = parse_directory_hashes(c)?,
                            "ignore" => {
                                list.ignore = c
                                    .children()
                                    .filter(|n| n.has_tag_name("pattern") || n.is_element())
                                    .filter_map(|n| n.text())
                                    .map(|t| t.trim().to_string())
                                    .collect()
                            }
                            _ => {}
                        }
                    }
                }
                "hashes" => {
                    for h in section.children().filter(|n| n.is_element()) {
                        match h.tag_name().name() {
                            "hash" => list.files.push(parse_file_entry(h)?),
                            "directoryhash" => list.directories.push(DirectoryEntry {
                                path: child_text(h, "path").unwrap_or_default(),
                                hashes: parse_directory_hashes(h)?,
                            }),
                            _ => {}
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(list)
    }
}

fn child_text(node: roxmltree::Node<'_, '_>, name: &str) -> Option<String> {
    node.children()
        .find(|n| n.is_element() && n.tag_name().name() == name)
        .map(|n| n.text().unwrap_or("").trim().to_string())
}

fn parse_hash(node: roxmltree::Node<'_, '_>) -> Result<Option<HashEntry>, FormatError> {
    let Some(format) = HashFormat::from_name(node.tag_name().name()) else {
        return Ok(None);
    };
    let action = match node.attribute("action") {
        None => None,
        Some(a) => Some(
            Action::from_name(a)
                .ok_or_else(|| FormatError(format!("unknown hash action \"{a}\"")))?,
        ),
    };
    Ok(Some(HashEntry {
        format,
        value: node.text().unwrap_or("").trim().to_string(),
        action,
        date: node.attribute("hashdate").map(str::to_string),
    }))
}

fn parse_file_entry(node: roxmltree::Node<'_, '_>) -> Result<FileEntry, FormatError> {
    let path_node = node
        .children()
        .find(|n| n.is_element() && n.tag_name().name() == "path")
        .ok_or_else(|| FormatError("a <hash> has no <path>".into()))?;
    let path = path_node.text().unwrap_or("").trim().to_string();
    if path.is_empty() {
        return Err(FormatError("a <hash> has an empty <path>".into()));
    }
    let size = match path_node.attribute("size") {
        None => None,
        Some(s) => Some(
            s.parse()
                .map_err(|_| FormatError(format!("{path}: size \"{s}\" is not a number")))?,
        ),
    };
    let mut hashes = Vec::new();
    for c in node.children().filter(|n| n.is_element()) {
        if let Some(h) = parse_hash(c)? {
            hashes.push(h);
        }
    }
    Ok(FileEntry {
        modified: path_node
            .attribute("lastmodificationdate")
            .map(str::to_string),
        previous_path: child_text(node, "previousPath"),
        path,
        size,
        hashes,
    })
}

fn parse_directory_hashes(
    node: roxmltree::Node<'_, '_>,
) -> Result<Vec<DirectoryHash>, FormatError> {
    let hashes_in = |name: &str| -> Result<Vec<HashEntry>, FormatError> {
        let mut out = Vec::new();
        if let Some(c) = node
            .children()
            .find(|n| n.is_element() && n.tag_name().name() == name)
        {
            for h in c.children().filter(|n| n.is_element()) {
                if let Some(h) = parse_hash(h)? {
                    out.push(h);
                }
            }
        }
        Ok(out)
    };
    let structure = hashes_in("structure")?;
    Ok(hashes_in("content")?
        .into_iter()
        .filter_map(|c| {
            let s = structure.iter().find(|s| s.format == c.format)?;
            Some(DirectoryHash {
                format: c.format,
                content: c.value,
                structure: s.value.clone(),
                date: c.date,
            })
        })
        .collect())
}

/// The chain file, every generation in order.
pub fn chain_to_xml(links: &[ChainLink]) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>");
    let _ = writeln!(out, "<ascmhldirectory xmlns=\"{DIRECTORY_NS}\">");
    for link in links {
        let _ = writeln!(out, "  <hashlist sequencenr=\"{}\">", link.sequence);
        let _ = writeln!(out, "    <path>{}</path>", escape(&link.path));
        let _ = writeln!(out, "    <c4>{}</c4>", escape(&link.c4));
        let _ = writeln!(out, "  </hashlist>");
    }
    let _ = writeln!(out, "</ascmhldirectory>");
    out
}

/// Reads a chain file.
pub fn parse_chain(text: &str) -> Result<Vec<ChainLink>, FormatError> {
    let doc = roxmltree::Document::parse(text).map_err(|e| FormatError(e.to_string()))?;
    let root = doc.root_element();
    if root.tag_name().name() != "ascmhldirectory" {
        return Err(FormatError(format!(
            "the document is a <{}>, not an <ascmhldirectory>",
            root.tag_name().name()
        )));
    }
    let mut links = Vec::new();
    for h in root.children().filter(|n| n.has_tag_name("hashlist")) {
        let sequence = h
            .attribute("sequencenr")
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| FormatError("a chain entry has no sequence number".into()))?;
        let path = child_text(h, "path")
            .ok_or_else(|| FormatError(format!("chain entry {sequence} names no file")))?;
        let c4 = child_text(h, "c4")
            .ok_or_else(|| FormatError(format!("chain entry {sequence} has no C4 id")))?;
        links.push(ChainLink { sequence, path, c4 });
    }
    Ok(links)
}

#[cfg(test)]
mod tests;
