//! Archives: whole-system snapshots as one `.tar.gz` file, to keep off the machine and
//! bring back (issue #9; `docs/archive-format.md` is the format's reference).
//!
//! An archive is a tar stream, gzip-compressed, whose **first entry** is
//! `triplicate-archive.json` ([`Manifest`]): its kind, node, creation time, tool
//! version, and every file it holds with its size and BLAKE3 hash. So any archive can
//! be checked with `tar`, `gzip` and `b3sum` alone, and [`verify`] re-hashes every
//! entry against it.
//!
//! This first part builds the **config** kind ([`create_config`]): the core files
//! (`config.toml`, a consistent copy of `catalog.db` taken with SQLite's online backup
//! API, and the destinations' declarations without secrets), and lists, summarises
//! and verifies archives in the archives folder (`<home>/archives/`).

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::home::Triplicate;
use crate::photo::ContentHash;

/// The name of the first entry of every archive.
pub const MANIFEST: &str = "triplicate-archive.json";
/// The manifest's `format` value, and the version this program writes.
pub const FORMAT: &str = "triplicate-archive";
pub const VERSION: u32 = 1;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(transparent)]
    Catalog(#[from] crate::catalog::CatalogError),
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: io::Error,
    },
    #[error("archive {}: {message}", path.display())]
    Invalid { path: PathBuf, message: String },
    #[error("no archive '{0}' (see `triplicate archive list`)")]
    Unknown(String),
    #[error(
        "no archive section '{name}' in config.toml (sections: {known}); declare it under [archive.sections.{name}]"
    )]
    UnknownSection { name: String, known: String },
}

pub type Result<T> = std::result::Result<T, ArchiveError>;

/// What an archive holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// The configuration, the catalog and optional sections.
    Config,
    /// Date folders of images.
    Images,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Config => "config",
            Kind::Images => "images",
        }
    }
}

/// One file in an archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// The entry's path in the archive.
    pub path: String,
    pub size: u64,
    pub blake3: String,
}

/// `triplicate-archive.json`, the first entry of every archive.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// Always `triplicate-archive`.
    pub format: String,
    pub version: u32,
    pub id: String,
    pub kind: Kind,
    pub node: String,
    /// RFC 3339, UTC.
    pub created: String,
    /// The program that wrote it, e.g. "triplicate 0.1.0".
    pub tool: String,
    /// For config archives: `core` and the optional sections included.
    #[serde(default)]
    pub sections: Vec<String>,
    /// For image archives: the date folders included.
    #[serde(default)]
    pub folders: Vec<String>,
    pub files: Vec<ManifestFile>,
}

impl Manifest {
    pub fn total_size(&self) -> u64 {
        self.files.iter().map(|f| f.size).sum()
    }
}

/// The archives folder: `[archive] folder` in the config, else `archives/` beside it.
pub fn folder(t: &Triplicate) -> PathBuf {
    t.config.archive.folder.clone().unwrap_or_else(|| {
        t.home
            .config
            .parent()
            .unwrap_or(Path::new("."))
            .join("archives")
    })
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(io::Error) -> ArchiveError {
    let path = path.to_path_buf();
    move |source| ArchiveError::Io { what, path, source }
}

/// A file to put in an archive: where it is read from, and its path inside.
struct Source {
    from: PathBuf,
    path: String,
}

/// What [`create_config`] wrote.
#[derive(Debug, Clone, Serialize)]
pub struct Created {
    pub id: String,
    pub file: PathBuf,
    /// Bytes of the archive file.
    pub size: u64,
    pub manifest: Manifest,
}

/// The destinations as declared, without anything secret: no credential, identity or
/// passphrase file (their paths say where secrets are kept, which is not needed to
/// read the declarations back).
fn destinations_json(t: &Triplicate) -> String {
    let list: Vec<serde_json::Value> = t
        .config
        .destinations
        .iter()
        .map(|d| {
            serde_json::json!({
                "name": d.name, "target": d.target, "id": d.id, "media": d.media,
                "site": d.site, "enabled": d.enabled, "automatic": d.automatic,
                "layout": d.layout, "encrypt_to": d.encrypt_to,
            })
        })
        .collect();
    serde_json::to_string_pretty(&list).expect("JSON of plain values")
}

/// `archive create --kind config`: the core files into a new `.tar.gz` in the archives
/// folder. The catalog is copied with SQLite's online backup API, so the service need
/// not stop.
pub fn create_config(t: &Triplicate, sections: &[String]) -> Result<Created> {
    let mut extra = Vec::new();
    for name in sections {
        extra.extend(section_sources(t, name)?);
    }
    let dir = folder(t);
    fs::create_dir_all(&dir).map_err(io_err("cannot create the archives folder", &dir))?;
    let now = chrono::Utc::now();
    let id = format!(
        "{}-{}",
        now.format("%Y%m%dT%H%M%SZ"),
        &uuid::Uuid::new_v4().simple().to_string()[..8]
    );
    // The core files, staged in a private folder beside the archive.
    let stage = dir.join(format!(".staging-{id}"));
    fs::create_dir_all(&stage).map_err(io_err("cannot create", &stage))?;
    let result = (|| {
        let catalog = stage.join("catalog.db");
        t.catalog.snapshot_to(&catalog)?;
        let destinations = stage.join("destinations.json");
        fs::write(&destinations, destinations_json(t))
            .map_err(io_err("cannot write", &destinations))?;
        let mut sources = vec![
            Source {
                from: t.home.config.clone(),
                path: "core/config.toml".into(),
            },
            Source {
                from: catalog,
                path: "core/catalog.db".into(),
            },
            Source {
                from: destinations,
                path: "core/destinations.json".into(),
            },
        ];
        sources.append(&mut extra);
        let manifest = Manifest {
            format: FORMAT.into(),
            version: VERSION,
            id: id.clone(),
            kind: Kind::Config,
            node: t.config.node.clone(),
            created: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
            tool: format!("triplicate {}", env!("CARGO_PKG_VERSION")),
            sections: std::iter::once("core".to_string())
                .chain(sections.iter().cloned())
                .collect(),
            folders: Vec::new(),
            files: Vec::new(),
        };
        write_archive(&dir, manifest, &sources)
    })();
    let _ = fs::remove_dir_all(&stage);
    result
}

/// The files of optional section `name`: every regular file under each of its paths
/// (symlinks are not followed), as `sections/NAME/<last component of the path>/…`.
fn section_sources(t: &Triplicate, name: &str) -> Result<Vec<Source>> {
    let section =
        t.config
            .archive
            .sections
            .get(name)
            .ok_or_else(|| ArchiveError::UnknownSection {
                name: name.into(),
                known: t
                    .config
                    .archive
                    .sections
                    .keys()
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
    let mut out = Vec::new();
    for root in &section.paths {
        let base = root
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "root".into());
        for entry in walkdir::WalkDir::new(root)
            .follow_links(false)
            .sort_by_file_name()
        {
            let entry = entry.map_err(|e| ArchiveError::Io {
                what: "cannot read section",
                path: root.clone(),
                source: e.into(),
            })?;
            if !entry.file_type().is_file() {
                continue;
            }
            let rel = entry.path().strip_prefix(root).unwrap_or(Path::new(""));
            let inside = if rel.as_os_str().is_empty() {
                format!("sections/{name}/{base}")
            } else {
                format!("sections/{name}/{base}/{}", rel.to_string_lossy())
            };
            out.push(Source {
                from: entry.path().to_path_buf(),
                path: inside,
            });
        }
    }
    Ok(out)
}

/// What one part of an archive would take.
#[derive(Debug, Clone, Serialize)]
pub struct Estimate {
    /// `core`, or a section's name.
    pub name: String,
    pub description: String,
    pub files: usize,
    pub raw: u64,
    /// Estimated from compressing a sample (up to 256 KiB from each of up to 32 files).
    pub compressed: u64,
}

/// `archive create --kind config --estimate`: each part's raw size and estimated
/// compressed size; nothing is written.
pub fn estimate_config(t: &Triplicate, sections: &[String]) -> Result<Vec<Estimate>> {
    let core: Vec<PathBuf> = vec![t.home.config.clone(), t.home.catalog.clone()];
    let mut out = vec![estimate(
        "core",
        "config.toml, the catalog, the destinations",
        &core,
    )?];
    for name in sections {
        let files: Vec<PathBuf> = section_sources(t, name)?
            .into_iter()
            .map(|s| s.from)
            .collect();
        let description = t.config.archive.sections[name].description.clone();
        out.push(estimate(name, &description, &files)?);
    }
    Ok(out)
}

fn estimate(name: &str, description: &str, files: &[PathBuf]) -> Result<Estimate> {
    const SAMPLE: u64 = 256 * 1024;
    let mut raw = 0;
    for f in files {
        raw += fs::metadata(f).map_err(io_err("cannot stat", f))?.len();
    }
    // Every n-th file, up to 32 of them, so that a sample spans the section.
    let step = files.len().div_ceil(32).max(1);
    let mut sampled = 0u64;
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    for f in files.iter().step_by(step) {
        let file = File::open(f).map_err(io_err("cannot read", f))?;
        let mut part = Vec::new();
        file.take(SAMPLE)
            .read_to_end(&mut part)
            .map_err(io_err("cannot read", f))?;
        sampled += part.len() as u64;
        gz.write_all(&part).map_err(io_err("cannot compress", f))?;
    }
    let compressed_sample = gz.finish().map(|v| v.len() as u64).unwrap_or(sampled);
    let ratio = if sampled == 0 {
        1.0
    } else {
        compressed_sample as f64 / sampled as f64
    };
    Ok(Estimate {
        name: name.into(),
        description: description.into(),
        files: files.len(),
        raw,
        compressed: (raw as f64 * ratio.min(1.0)).round() as u64,
    })
}

/// Hashes the sources, then writes the manifest and every source into
/// `<dir>/<kind>-<id>.tar.gz`, through a temporary name, synced, then renamed.
fn write_archive(dir: &Path, mut manifest: Manifest, sources: &[Source]) -> Result<Created> {
    for s in sources {
        let mut f = File::open(&s.from).map_err(io_err("cannot read", &s.from))?;
        let (hash, size) =
            ContentHash::of_reader(&mut f).map_err(io_err("cannot read", &s.from))?;
        manifest.files.push(ManifestFile {
            path: s.path.clone(),
            size,
            blake3: hash.to_hex(),
        });
    }
    let name = format!("{}-{}.tar.gz", manifest.kind.as_str(), manifest.id);
    let file = dir.join(&name);
    let tmp = dir.join(format!(".{name}.partial"));
    let result = (|| {
        let out = File::create(&tmp).map_err(io_err("cannot create", &tmp))?;
        let gz =
            flate2::write::GzEncoder::new(io::BufWriter::new(out), flate2::Compression::default());
        let mut tar = tar::Builder::new(gz);
        let json = serde_json::to_vec_pretty(&manifest).expect("JSON of plain values");
        append(&mut tar, MANIFEST, json.len() as u64, &mut &json[..])
            .map_err(io_err("cannot write", &tmp))?;
        for (s, listed) in sources.iter().zip(&manifest.files) {
            let mut f = File::open(&s.from).map_err(io_err("cannot read", &s.from))?;
            // What is written must be what was hashed.
            let mut checked = Checked {
                inner: &mut f,
                hasher: blake3::Hasher::new(),
            };
            append(&mut tar, &s.path, listed.size, &mut checked)
                .map_err(io_err("cannot archive", &s.from))?;
            if checked.hasher.finalize().to_hex().as_str() != listed.blake3 {
                return Err(ArchiveError::Invalid {
                    path: s.from.clone(),
                    message: "the file changed while it was archived; try again".into(),
                });
            }
        }
        let gz = tar.into_inner().map_err(io_err("cannot write", &tmp))?;
        let out = gz.finish().map_err(io_err("cannot write", &tmp))?;
        let out = out
            .into_inner()
            .map_err(|e| io_err("cannot write", &tmp)(e.into_error()))?;
        out.sync_all().map_err(io_err("cannot sync", &tmp))?;
        fs::rename(&tmp, &file).map_err(io_err("cannot rename", &tmp))?;
        crate::fsutil::sync_dir(dir).map_err(io_err("cannot sync", dir))
    })();
    if let Err(e) = result {
        let _ = fs::remove_file(&tmp);
        return Err(e);
    }
    let size = fs::metadata(&file)
        .map_err(io_err("cannot stat", &file))?
        .len();
    Ok(Created {
        id: manifest.id.clone(),
        file,
        size,
        manifest,
    })
}

/// A reader that hashes what passes through it.
struct Checked<'a, R> {
    inner: &'a mut R,
    hasher: blake3::Hasher,
}

impl<R: Read> Read for Checked<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Appends a regular file of `size` bytes, mode 644, owned by nobody in particular.
fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    size: u64,
    data: &mut dyn Read,
) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Regular);
    header.set_size(size);
    header.set_mode(0o644);
    header.set_mtime(chrono::Utc::now().timestamp().max(0) as u64);
    tar.append_data(&mut header, path, data.take(size))
}

/// An archive in the archives folder.
#[derive(Debug, Clone, Serialize)]
pub struct Listed {
    pub id: String,
    pub kind: Kind,
    pub file: PathBuf,
    /// Bytes of the archive file.
    pub size: u64,
    /// Bytes of the files it holds.
    pub content_size: u64,
    pub created: String,
    pub node: String,
    pub files: usize,
}

/// Reads the manifest (the first entry) of the archive at `path`.
pub fn read_manifest(path: &Path) -> Result<Manifest> {
    let mut tar = open(path)?;
    let mut entries = tar.entries().map_err(|e| invalid(path, e))?;
    first_manifest(&mut entries, path)
}

/// The archive at `path`, as a tar stream.
fn open(path: &Path) -> Result<tar::Archive<flate2::read::GzDecoder<io::BufReader<File>>>> {
    let file = File::open(path).map_err(io_err("cannot open", path))?;
    Ok(tar::Archive::new(flate2::read::GzDecoder::new(
        io::BufReader::new(file),
    )))
}

fn invalid(path: &Path, e: impl ToString) -> ArchiveError {
    ArchiveError::Invalid {
        path: path.to_path_buf(),
        message: e.to_string(),
    }
}

/// The manifest, read from the first of `entries`.
fn first_manifest<R: Read>(entries: &mut tar::Entries<'_, R>, path: &Path) -> Result<Manifest> {
    let first = entries
        .next()
        .ok_or_else(|| invalid(path, "it is empty"))?
        .map_err(|e| invalid(path, e))?;
    manifest_of(first, path)
}

fn manifest_of<R: Read>(mut entry: tar::Entry<'_, R>, path: &Path) -> Result<Manifest> {
    let invalid = |message: String| ArchiveError::Invalid {
        path: path.to_path_buf(),
        message,
    };
    let name = entry
        .path()
        .map_err(|e| invalid(e.to_string()))?
        .to_string_lossy()
        .into_owned();
    if name != MANIFEST {
        return Err(invalid(format!(
            "its first entry is '{name}', not {MANIFEST}"
        )));
    }
    if entry.size() > 64 << 20 {
        return Err(invalid("its manifest is larger than 64 MiB".into()));
    }
    let mut text = Vec::new();
    entry
        .read_to_end(&mut text)
        .map_err(|e| invalid(e.to_string()))?;
    let manifest: Manifest = serde_json::from_slice(&text)
        .map_err(|e| invalid(format!("its manifest does not parse: {e}")))?;
    if manifest.format != FORMAT || manifest.version != VERSION {
        return Err(invalid(format!(
            "it is {} version {}, not {FORMAT} version {VERSION}",
            manifest.format, manifest.version
        )));
    }
    Ok(manifest)
}

/// Every archive in the archives folder, by kind, newest first. Files that are not
/// archives are left out; archives that do not read are listed in the second value.
pub fn list(t: &Triplicate) -> Result<(Vec<Listed>, Vec<ArchiveError>)> {
    let dir = folder(t);
    let mut out = Vec::new();
    let mut broken = Vec::new();
    let Ok(entries) = fs::read_dir(&dir) else {
        return Ok((out, broken));
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !name.ends_with(".tar.gz") {
            continue;
        }
        match read_manifest(&path) {
            Ok(m) => out.push(Listed {
                id: m.id.clone(),
                kind: m.kind,
                size: entry.metadata().map(|m| m.len()).unwrap_or(0),
                content_size: m.total_size(),
                created: m.created.clone(),
                node: m.node.clone(),
                files: m.files.len(),
                file: path,
            }),
            Err(e) => broken.push(e),
        }
    }
    out.sort_by(|a, b| {
        a.kind
            .cmp(&b.kind)
            .then(b.created.cmp(&a.created))
            .then(b.id.cmp(&a.id))
    });
    Ok((out, broken))
}

/// The archive with this id (or a unique prefix of it).
pub fn find(t: &Triplicate, id: &str) -> Result<Listed> {
    let (all, _) = list(t)?;
    let mut matching = all.into_iter().filter(|a| a.id.starts_with(id));
    match (matching.next(), matching.next()) {
        (Some(a), None) if !id.is_empty() => Ok(a),
        _ => Err(ArchiveError::Unknown(id.into())),
    }
}

/// What [`verify`] found.
#[derive(Debug, Clone, Serialize)]
pub struct Verified {
    pub id: String,
    pub files: usize,
    pub bytes: u64,
    /// Each problem, naming the entry.
    pub problems: Vec<String>,
}

impl Verified {
    pub fn ok(&self) -> bool {
        self.problems.is_empty()
    }
}

/// `archive verify`: reads the whole archive and re-hashes every entry against the
/// manifest; an entry missing, extra, of another size or hash is a problem, as is a
/// damaged stream.
pub fn verify(path: &Path) -> Result<Verified> {
    // One pass: the manifest is the first entry of the stream that is then checked.
    let mut tar = open(path)?;
    let mut entries = tar.entries().map_err(|e| invalid(path, e))?;
    let manifest = first_manifest(&mut entries, path)?;
    let mut problems = Vec::new();
    let mut expected: std::collections::HashMap<&str, &ManifestFile> = manifest
        .files
        .iter()
        .map(|f| (f.path.as_str(), f))
        .collect();
    let mut bytes = 0;
    let stream = (|| -> io::Result<()> {
        for entry in entries {
            let mut entry = entry?;
            let name = entry.path()?.to_string_lossy().into_owned();
            let Some(listed) = expected.remove(name.as_str()) else {
                problems.push(format!("{name}: not in the manifest"));
                continue;
            };
            let (hash, size) = ContentHash::of_reader(&mut entry)?;
            bytes += size;
            if size != listed.size {
                problems.push(format!(
                    "{name}: {size} bytes, the manifest says {}",
                    listed.size
                ));
            } else if hash.to_hex() != listed.blake3 {
                problems.push(format!(
                    "{name}: its BLAKE3 hash does not match the manifest"
                ));
            }
        }
        Ok(())
    })();
    if let Err(e) = stream {
        problems.push(format!("the archive is damaged: {e}"));
    }
    let mut missing: Vec<_> = expected.keys().map(|p| format!("{p}: missing")).collect();
    missing.sort();
    problems.extend(missing);
    Ok(Verified {
        id: manifest.id,
        files: manifest.files.len(),
        bytes,
        problems,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn home(dir: &Path) -> Triplicate {
        let lib = dir.join("photos");
        fs::create_dir_all(&lib).unwrap();
        let home = crate::home::Home::in_dir(&dir.join("home"));
        crate::setup::init(&home, "studio", &[lib]).unwrap();
        Triplicate::open(&home).unwrap()
    }

    #[test]
    fn a_config_archive_holds_the_manifest_first_and_verifies() {
        let dir = tempfile::tempdir().unwrap();
        let t = home(dir.path());
        let created = create_config(&t, &[]).unwrap();
        let m = read_manifest(&created.file).unwrap();
        assert_eq!(m, created.manifest);
        assert_eq!(m.kind, Kind::Config);
        let paths: Vec<&str> = m.files.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "core/config.toml",
                "core/catalog.db",
                "core/destinations.json"
            ]
        );
        let v = verify(&created.file).unwrap();
        assert!(v.ok(), "{:?}", v.problems);
        assert_eq!(v.files, 3);
        let (listed, broken) = list(&t).unwrap();
        assert!(broken.is_empty());
        assert_eq!(listed.len(), 1);
        assert_eq!(find(&t, &created.id[..10]).unwrap().id, created.id);
        assert!(
            !fs::read_dir(folder(&t))
                .unwrap()
                .flatten()
                .any(|e| e.file_name().to_string_lossy().starts_with('.')),
            "no staging left"
        );
    }

    #[test]
    fn a_damaged_archive_fails_verification_naming_what() {
        let dir = tempfile::tempdir().unwrap();
        let t = home(dir.path());
        let created = create_config(&t, &[]).unwrap();
        // Rewrite the archive with a lying manifest: config.toml's hash changed.
        let mut m = created.manifest.clone();
        m.files[0].blake3 = ContentHash::of(b"something else").to_hex();
        let sources = vec![Source {
            from: t.home.config.clone(),
            path: "core/config.toml".into(),
        }];
        let mut lying = m.clone();
        lying.files.truncate(0);
        let rewritten = write_archive(&folder(&t), lying, &sources).unwrap();
        // Splice the lie in: a manifest naming another hash, and a file it does not list.
        let mut bad = rewritten.manifest.clone();
        bad.files[0].blake3 = m.files[0].blake3.clone();
        bad.files.push(ManifestFile {
            path: "core/gone.txt".into(),
            size: 1,
            blake3: m.files[0].blake3.clone(),
        });
        let out = File::create(&rewritten.file).unwrap();
        let mut tar = tar::Builder::new(flate2::write::GzEncoder::new(
            out,
            flate2::Compression::fast(),
        ));
        let json = serde_json::to_vec(&bad).unwrap();
        append(&mut tar, MANIFEST, json.len() as u64, &mut &json[..]).unwrap();
        let config = fs::read(&t.home.config).unwrap();
        append(
            &mut tar,
            "core/config.toml",
            config.len() as u64,
            &mut &config[..],
        )
        .unwrap();
        append(&mut tar, "extra.txt", 1, &mut &b"x"[..]).unwrap();
        tar.into_inner().unwrap().finish().unwrap();
        let v = verify(&rewritten.file).unwrap();
        assert_eq!(v.problems.len(), 3, "{:?}", v.problems);
        assert!(
            v.problems
                .iter()
                .any(|p| p.starts_with("core/config.toml: its BLAKE3"))
        );
        assert!(
            v.problems
                .iter()
                .any(|p| p == "extra.txt: not in the manifest")
        );
        assert!(v.problems.iter().any(|p| p == "core/gone.txt: missing"));
        // A truncated file: the stream itself is damaged.
        let len = fs::metadata(&created.file).unwrap().len();
        let f = fs::OpenOptions::new()
            .write(true)
            .open(&created.file)
            .unwrap();
        f.set_len(len / 2).unwrap();
        let v = verify(&created.file);
        assert!(v.is_err() || !v.unwrap().ok());
    }
}
