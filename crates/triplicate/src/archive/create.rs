//! `archive create`: what goes into each kind, and the staged run between the hooks
//! (size estimates, from the same choice of files, are in [`super::estimate`]).
//!
//! - **config**: `core/config.toml`; `core/catalog.db`, a consistent copy taken with
//!   SQLite's online backup API (the service need not stop); `core/destinations.json`,
//!   the declarations without secrets; and each optional section asked for, under
//!   `sections/NAME/<last component of its path>/…`.
//! - **images**: the date folders of every library, under `images/LIBRARY/…`. A date
//!   folder is the leading part of a photo's path up to its first component that is a
//!   date (`20261120`, `2026-11-20`, `2026_11_20`, or `2026/11/20` nested); files
//!   outside any date folder are grouped by their top folder. The catalog's hashes are
//!   used for files it knows unchanged, so those are read once.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};
use std::sync::atomic::AtomicBool;
use std::time::Duration;

use serde::Serialize;

use super::hooks::{self, Log};
use super::write::{Source, Work, hash_sources, write_archive};
use super::{
    ArchiveError, Compression, FORMAT, Kind, Manifest, Result, VERSION, folder, io_err, log_path,
    new_id,
};
use crate::home::Triplicate;
use crate::progress::{Event, Progress};

/// What to archive.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, PartialEq)]
pub struct Request {
    pub kind: Kind,
    /// Config: optional sections besides the core files.
    #[serde(default)]
    pub sections: Vec<String>,
    /// Images: the date folders (`FOLDER` in any library, or `LIBRARY/FOLDER`); empty
    /// for all of them.
    #[serde(default)]
    pub folders: Vec<String>,
    #[serde(default)]
    pub compression: Compression,
    /// Leave the `pre` and `post` hooks out (the archive restore takes of the current
    /// config before replacing it).
    #[serde(skip)]
    pub no_hooks: bool,
}

/// What [`create`] wrote.
#[derive(Debug, Clone, Serialize)]
pub struct Created {
    pub id: String,
    pub file: PathBuf,
    /// Bytes of the archive file.
    pub size: u64,
    pub manifest: Manifest,
    /// Stages, warnings and the hooks' output.
    pub log: PathBuf,
    /// What went wrong without spoiling the archive (a failed `post` hook).
    pub warnings: Vec<String>,
}

/// `archive create`: runs the `pre` hook, collects and hashes the files, writes the
/// archive, and runs the `post` hook whatever happened. Reports stages and bytes to
/// `progress`; `cancel` (Ctrl-C, SIGTERM) stops it, and nothing is kept.
pub fn create(
    t: &Triplicate,
    request: &Request,
    progress: &dyn Progress,
    cancel: &AtomicBool,
) -> Result<Created> {
    let kind = request.kind;
    let mut skipped = Vec::new();
    // Names are checked before anything runs.
    let chosen = choose(t, request, &mut skipped)?;
    let dir = folder(t);
    fs::create_dir_all(&dir).map_err(io_err("cannot create the archives folder", &dir))?;
    let now = chrono::Utc::now();
    let id = new_id(now);
    let log_file = log_path(&dir, kind, &id);
    let mut log = Log::create(&log_file)?;
    log.line(&format!(
        "creating {} archive {id} ({})",
        kind.as_str(),
        match &chosen {
            None => format!("sections: core {}", request.sections.join(" ")),
            Some(chosen) => format!("{} folders", chosen.len()),
        }
    ));
    let hooks = Hooks::of(t, request, &id);
    let mut stages = Stages::plan(&hooks, progress);
    for message in &skipped {
        log.line(&format!("warning: {message}"));
        progress.event(&Event::Warning { message });
    }
    let mut manifest = Manifest {
        format: FORMAT.into(),
        version: VERSION,
        id: id.clone(),
        kind,
        node: t.config.node.clone(),
        created: now.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        tool: format!("triplicate {}", env!("CARGO_PKG_VERSION")),
        sections: Vec::new(),
        folders: Vec::new(),
        files: Vec::new(),
    };
    let result = match hooks.pre {
        Some(pre) => {
            stages.start(&mut log, "Running the pre hook");
            hooks.run("pre", pre, "started", &mut log, Some(cancel))
        }
        None => Ok(()),
    };
    let stage_dir = dir.join(format!(".staging-{id}"));
    let work = Work { progress, cancel };
    let written = result.and_then(|()| {
        let mut build = Build {
            t,
            request,
            log: &mut log,
            stages: &mut stages,
            work,
        };
        build.write(chosen, &dir, &stage_dir, &mut manifest)
    });
    let _ = fs::remove_dir_all(&stage_dir);
    let mut warnings = skipped;
    warnings.extend(hooks.post(&written, &mut stages, &mut log, progress));
    let file = written?;
    let size = fs::metadata(&file)
        .map_err(io_err("cannot stat", &file))?
        .len();
    log.line(&format!("done: {} ({size} bytes)", file.display()));
    Ok(Created {
        id,
        file,
        size,
        manifest,
        log: log_file,
        warnings,
    })
}

/// What an archive of `request` takes: `None` for a config archive (its sections are
/// checked), else the image folders chosen, by name; folders that cannot be read are
/// noted in `skipped`.
fn choose(
    t: &Triplicate,
    request: &Request,
    skipped: &mut Vec<String>,
) -> Result<Option<BTreeMap<String, Vec<Source>>>> {
    match request.kind {
        Kind::Config => {
            for name in &request.sections {
                section_sources(t, name)?;
            }
            Ok(None)
        }
        Kind::Images => {
            let chosen = select_folders(image_folders_noting(t, skipped)?, &request.folders)?;
            if chosen.values().all(Vec::is_empty) {
                return Err(ArchiveError::Nothing(
                    "the libraries hold no files (see `triplicate library list`)".into(),
                ));
            }
            Ok(Some(chosen))
        }
    }
}

/// The hooks around an archive's making, and what they are told.
struct Hooks<'a> {
    pre: Option<&'a str>,
    post: Option<&'a str>,
    timeout: Duration,
    kind: Kind,
    id: &'a str,
}

impl<'a> Hooks<'a> {
    fn of(t: &'a Triplicate, request: &Request, id: &'a str) -> Hooks<'a> {
        let settings = &t.config.archive;
        let (pre, post) = match request.no_hooks {
            true => (None, None),
            false => (settings.pre.as_deref(), settings.post.as_deref()),
        };
        Hooks {
            pre,
            post,
            timeout: Duration::from_secs(settings.hook_timeout.unwrap_or(600)),
            kind: request.kind,
            id,
        }
    }

    /// Runs hook `which`, told the archive's kind, id and `status`.
    fn run(
        &self,
        which: &'static str,
        command: &str,
        status: &str,
        log: &mut Log,
        cancel: Option<&AtomicBool>,
    ) -> Result<()> {
        let env = [
            ("TRIPLICATE_ARCHIVE_KIND", self.kind.as_str().to_string()),
            ("TRIPLICATE_ARCHIVE_ID", self.id.to_string()),
            ("TRIPLICATE_ARCHIVE_STATUS", status.to_string()),
        ];
        hooks::run(which, command, &env, self.timeout, log, cancel)
    }

    /// Runs the `post` hook, told how the archive ended. It always runs, and is not
    /// cancelled: it puts things back. Its failure, when the archive was made: a
    /// warning.
    fn post<T>(
        &self,
        result: &Result<T>,
        stages: &mut Stages<'_>,
        log: &mut Log,
        progress: &dyn Progress,
    ) -> Option<String> {
        let status = match result {
            Ok(_) => "ok",
            Err(ArchiveError::Cancelled) => "cancelled",
            Err(_) => "failed",
        };
        if let Err(e) = result {
            log.line(&format!("failed: {e}"));
        }
        let post = self.post?;
        stages.start(log, "Running the post hook");
        let e = self.run("post", post, status, log, None).err()?;
        let message = e.to_string();
        log.line(&message);
        progress.event(&Event::Warning { message: &message });
        result.is_ok().then_some(message)
    }
}

/// The stages of an archive's making, announced up front and started one by one.
struct Stages<'a> {
    count: usize,
    next: usize,
    progress: &'a dyn Progress,
}

impl<'a> Stages<'a> {
    fn plan(hooks: &Hooks<'_>, progress: &'a dyn Progress) -> Stages<'a> {
        let stages: Vec<String> = hooks
            .pre
            .map(|_| "Run the pre hook")
            .into_iter()
            .chain([
                "Collect the files",
                "Hash the files",
                "Write and compress the archive",
            ])
            .chain(hooks.post.map(|_| "Run the post hook"))
            .map(String::from)
            .collect();
        progress.event(&Event::StagesPlanned { stages: &stages });
        Stages {
            count: stages.len(),
            next: 0,
            progress,
        }
    }

    fn start(&mut self, log: &mut Log, text: &str) {
        log.line(&format!("stage {}/{}: {text}", self.next + 1, self.count));
        self.progress.event(&Event::StageStarted {
            index: self.next,
            text,
        });
        self.next += 1;
    }
}

/// The stages between the hooks: collect, hash, write.
struct Build<'a, 'b> {
    t: &'a Triplicate,
    request: &'a Request,
    log: &'a mut Log,
    stages: &'a mut Stages<'b>,
    work: Work<'a>,
}

impl Build<'_, '_> {
    /// Collects the files (`chosen`, or the config's, staged in `stage_dir`), hashes
    /// them into `manifest` and writes the archive into `dir`: its file.
    fn write(
        &mut self,
        chosen: Option<BTreeMap<String, Vec<Source>>>,
        dir: &Path,
        stage_dir: &Path,
        manifest: &mut Manifest,
    ) -> Result<PathBuf> {
        self.work.check_cancel()?;
        self.stages.start(self.log, "Collecting the files");
        let sources = match chosen {
            None => {
                manifest.sections = std::iter::once("core".to_string())
                    .chain(self.request.sections.iter().cloned())
                    .collect();
                config_sources(self.t, &self.request.sections, stage_dir)?
            }
            Some(chosen) => {
                manifest.folders = chosen.keys().cloned().collect();
                chosen.into_values().flatten().collect()
            }
        };
        self.work.check_cancel()?;
        self.stages
            .start(self.log, &format!("Hashing {} files", sources.len()));
        hash_sources(manifest, &sources, self.work)?;
        self.stages.start(
            self.log,
            &format!(
                "Writing {} files, {} bytes",
                manifest.files.len(),
                manifest.total_size()
            ),
        );
        write_archive(dir, manifest, &sources, self.request.compression, self.work)
    }
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

/// The files of a config archive; the catalog snapshot and the destinations are
/// written into `stage` (removed by the caller).
fn config_sources(t: &Triplicate, sections: &[String], stage: &Path) -> Result<Vec<Source>> {
    fs::create_dir_all(stage).map_err(io_err("cannot create", stage))?;
    let catalog = stage.join("catalog.db");
    t.catalog.snapshot_to(&catalog)?;
    let destinations = stage.join("destinations.json");
    fs::write(&destinations, destinations_json(t))
        .map_err(io_err("cannot write", &destinations))?;
    let mut sources = vec![
        source(t.home.config.clone(), "core/config.toml"),
        source(catalog, "core/catalog.db"),
        source(destinations, "core/destinations.json"),
    ];
    for name in sections {
        sources.extend(section_sources(t, name)?);
    }
    Ok(sources)
}

fn source(from: PathBuf, path: &str) -> Source {
    Source {
        from,
        path: path.into(),
        known: None,
    }
}

/// The files of optional section `name`: every regular file under each of its paths
/// (symlinks are not followed), as `sections/NAME/<last component of the path>/…`.
pub(super) fn section_sources(t: &Triplicate, name: &str) -> Result<Vec<Source>> {
    let sections = &t.config.archive.sections;
    let section = sections
        .get(name)
        .ok_or_else(|| ArchiveError::UnknownSection {
            name: name.into(),
            known: sections.keys().cloned().collect::<Vec<_>>().join(", "),
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
            out.push(source(entry.path().to_path_buf(), &inside));
        }
    }
    Ok(out)
}

/// The date folder of a library path: its leading components up to the first that is
/// a date (`20261120`, `2026-11-20`, `2026_11_20`, each maybe followed by more, or
/// `2026/11/20` nested). `None` when no component is.
pub fn date_folder_of(path: &str) -> Option<String> {
    let parts: Vec<&str> = path.split('/').collect();
    // The last component is the file's own name.
    let folders = &parts[..parts.len().saturating_sub(1)];
    for (i, part) in folders.iter().enumerate() {
        if starts_with_date(part) {
            return Some(folders[..=i].join("/"));
        }
        if is_year(part)
            && folders.len() > i + 2
            && is_number_in(folders[i + 1], 1, 12)
            && is_number_in(folders[i + 2], 1, 31)
        {
            return Some(folders[..=i + 2].join("/"));
        }
    }
    None
}

fn is_year(s: &str) -> bool {
    s.len() == 4 && is_number_in(s, 1900, 2999)
}

fn is_number_in(s: &str, low: u32, high: u32) -> bool {
    !s.is_empty()
        && s.len() <= 4
        && s.bytes().all(|b| b.is_ascii_digit())
        && s.parse::<u32>().is_ok_and(|n| (low..=high).contains(&n))
}

/// `YYYYMMDD`, `YYYY-MM-DD` or `YYYY_MM_DD` at the start of `s`, not followed by
/// another digit.
fn starts_with_date(s: &str) -> bool {
    let b = s.as_bytes();
    let date =
        |y: &str, m: &str, d: &str| is_year(y) && is_number_in(m, 1, 12) && is_number_in(d, 1, 31);
    let end_ok = |n: usize| b.get(n).is_none_or(|c| !c.is_ascii_digit());
    if b.len() >= 8 && b[..8].iter().all(u8::is_ascii_digit) && end_ok(8) {
        return date(&s[..4], &s[4..6], &s[6..8]);
    }
    if b.len() >= 10
        && b[..10].is_ascii()
        && (b[4] == b'-' && b[7] == b'-' || b[4] == b'_' && b[7] == b'_')
        && end_ok(10)
    {
        return date(&s[..4], &s[5..7], &s[8..10]);
    }
    false
}

/// Every folder of every library, by key (`LIBRARY/FOLDER`, or `LIBRARY` for files
/// at its root), with its files as archive sources.
pub(crate) fn image_folders(t: &Triplicate) -> Result<BTreeMap<String, Vec<Source>>> {
    image_folders_noting(t, &mut Vec::new())
}

/// [`image_folders`], noting in `skipped` each file that cannot be archived.
fn image_folders_noting(
    t: &Triplicate,
    skipped: &mut Vec<String>,
) -> Result<BTreeMap<String, Vec<Source>>> {
    let mut out: BTreeMap<String, Vec<Source>> = BTreeMap::new();
    for lib in &t.config.libraries {
        if !lib.path.is_dir() {
            return Err(ArchiveError::Io {
                what: "cannot read library",
                path: lib.path.clone(),
                source: std::io::Error::from(std::io::ErrorKind::NotFound),
            });
        }
        let known = t.catalog.library_hashes(&lib.name)?;
        let (mut found, errors) = crate::scan::walk::walk(&lib.path, &|_| true);
        if let Some(e) = errors.into_iter().next() {
            return Err(ArchiveError::Io {
                what: "cannot read library",
                path: e.path,
                source: e.error,
            });
        }
        found.sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
        for entry in found {
            // Names that are not UTF-8 cannot be listed in the JSON manifest.
            let Some(path) = entry.path.as_str() else {
                skipped.push(format!(
                    "{}:{} is not archived: its name is not UTF-8",
                    lib.name,
                    crate::relpath::escape(entry.path.as_bytes())
                ));
                continue;
            };
            let folder = date_folder_of(path)
                .or_else(|| path.split_once('/').map(|(top, _)| top.to_string()));
            let key = match folder {
                Some(f) => format!("{}/{f}", lib.name),
                None => lib.name.clone(),
            };
            let known = known
                .get(&entry.path)
                .and_then(|(hash, size, mtime, inode)| {
                    (*size == entry.size && *mtime == entry.mtime_ns && *inode == entry.inode)
                        .then_some((*hash, *size))
                });
            out.entry(key).or_default().push(Source {
                from: entry.path.to_path(&lib.path),
                path: format!("images/{}/{path}", lib.name),
                known,
            });
        }
    }
    Ok(out)
}

/// Whether folder `key` (`LIBRARY/FOLDER`) is the one `asked` names: `FOLDER` names it
/// in every library, `LIBRARY/FOLDER` in one.
pub(crate) fn folder_matches(key: &str, asked: &str) -> bool {
    key == asked
        || key
            .split_once('/')
            .is_some_and(|(_, folder)| folder == asked)
}

/// The folders asked for (all when none is named): `FOLDER` matches it in every
/// library, `LIBRARY/FOLDER` in one.
pub(super) fn select_folders(
    mut all: BTreeMap<String, Vec<Source>>,
    asked: &[String],
) -> Result<BTreeMap<String, Vec<Source>>> {
    if asked.is_empty() {
        return Ok(all);
    }
    let mut chosen = BTreeMap::new();
    for name in asked {
        let name = name.trim_matches('/');
        let keys: Vec<String> = all
            .keys()
            .filter(|k| folder_matches(k, name))
            .cloned()
            .collect();
        // (A folder named twice was taken the first time.)
        if keys.is_empty() && !chosen.keys().any(|k: &String| folder_matches(k, name)) {
            return Err(ArchiveError::UnknownFolder { name: name.into() });
        }
        for k in keys {
            let files = all.remove(&k).expect("listed");
            chosen.insert(k, files);
        }
    }
    Ok(chosen)
}

#[cfg(test)]
mod tests;
