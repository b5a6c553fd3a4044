//! The configuration file: libraries, destinations, the 3-2-1 policy.
//!
//! `config.toml` is read into a [`Config`] and checked as a whole; every error names
//! the file, the line and the key ([`ConfigError`]). Commands that change the
//! configuration (`init`, `library add`, `dest add` …) go through [`ConfigFile`], which
//! edits the TOML document in place so that the user's comments and ordering survive,
//! checks the result exactly as a load would, and replaces the file atomically.
//!
//! ```toml
//! node = "studio-pc"
//!
//! [policy]            # what "protected" means
//! copies = 3
//! media = 2
//! offsite = 1
//!
//! [[library]]
//! name = "Downloads"
//! path = "/home/ana/Pictures/Downloads"
//! media = "ssd"
//!
//! [[destination]]
//! name = "usb"
//! target = "/media/backup-1"
//! id = "3f0c…"          # written by `dest add`, matches the disk's marker
//! media = "hdd"
//! site = "onsite"
//! layout = "{year}/{date}/{name}"
//! ```

use std::fs;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::layout::Layout;
use crate::target::Target;
use crate::values::{Bandwidth, ListenAddr, LockMode, Recipient, Span, Written};
use crate::vocab::{MediaKind, ONSITE};
use crate::zone::Zone;

/// The whole configuration, checked.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// This node's name: it names manifests and, later, GRID peers.
    pub node: String,
    #[serde(default)]
    pub policy: Policy,
    #[serde(default)]
    pub scan: ScanSettings,
    #[serde(default)]
    pub backup: BackupSettings,
    #[serde(default)]
    pub daemon: DaemonSettings,
    #[serde(default)]
    pub server: ServerSettings,
    #[serde(default)]
    pub ingest: IngestSettings,
    #[serde(default)]
    pub grid: GridSettings,
    #[serde(default)]
    pub archive: ArchiveSettings,
    #[serde(default)]
    pub protection: ProtectionSettings,
    #[serde(default)]
    pub verify: VerifySettings,
    #[serde(default, rename = "library")]
    pub libraries: Vec<LibraryConfig>,
    #[serde(default, rename = "destination")]
    pub destinations: Vec<DestinationConfig>,
}

/// The numbers that make a photo "protected": copies, distinct media, offsite copies.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub copies: u32,
    pub media: u32,
    pub offsite: u32,
}

impl Default for Policy {
    fn default() -> Self {
        Policy {
            copies: 3,
            media: 2,
            offsite: 1,
        }
    }
}

/// How long a proof lasts.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifySettings {
    /// A verified copy counts toward 3-2-1 only while its last proof (a read back, or
    /// the store's checksum) is younger than this, e.g. "180d"; `verify` proves copies
    /// again. Unset: a proof lasts until a check finds the copy damaged. A card ingest
    /// always proves every copy in its own run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_for: Option<Span>,
}

impl VerifySettings {
    /// How long a proof lasts, if it expires at all.
    pub fn trust_for(&self) -> Option<std::time::Duration> {
        self.trust_for.as_deref().copied()
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScanSettings {
    /// Back up every file, not only photos, videos and sidecars.
    #[serde(default)]
    pub include_all: bool,
    /// The IANA time zone ("Asia/Tokyo") that gives a UTC capture time (a video's) its
    /// calendar day; the machine's when unset.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_zone: Option<Written<Zone>>,
}

impl ScanSettings {
    /// The zone of `time_zone`, or the machine's.
    pub fn zone(&self) -> Zone {
        self.time_zone.as_deref().copied().unwrap_or_default()
    }
}

/// The mass-change guard: when more than `mass_change_percent` of a library's
/// backed-up photos and videos changed content or vanished (in one scan, or within
/// `mass_change_window`), and at least `mass_change_min_files` of them, changes stop
/// reaching the backups until a person runs `triplicate accept-changes`.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct ProtectionSettings {
    #[serde(default = "default_mass_change_percent")]
    pub mass_change_percent: f64,
    #[serde(default = "default_mass_change_min_files")]
    pub mass_change_min_files: u64,
    /// Photos lost (changed or deleted) this recently count too, so that changes
    /// spread over many small scans trip the guard like one big scan, e.g. "1h".
    #[serde(default = "default_mass_change_window")]
    pub mass_change_window: Span,
}

fn default_mass_change_window() -> Span {
    Span::new("1h").expect("a valid duration")
}

impl ProtectionSettings {
    pub fn window(&self) -> std::time::Duration {
        *self.mass_change_window
    }
}

fn default_mass_change_percent() -> f64 {
    5.0
}

fn default_mass_change_min_files() -> u64 {
    50
}

impl Default for ProtectionSettings {
    fn default() -> Self {
        ProtectionSettings {
            mass_change_percent: default_mass_change_percent(),
            mass_change_min_files: default_mass_change_min_files(),
            mass_change_window: default_mass_change_window(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BackupSettings {
    /// Files copied at once. Each file is read once and written to every destination
    /// in parallel, so this is the number of files, not of streams.
    #[serde(default = "default_jobs")]
    pub jobs: usize,
}

/// Card ingest: where cards go, and when a card is safe to format.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct IngestSettings {
    /// The library cards go into (default: the first one).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub library: Option<String>,
    /// Where a card's files go in the library (see the README for the tokens).
    #[serde(default = "default_layout")]
    pub template: Written<Layout>,
    /// A card is safe to format when every file on it has at least this many verified
    /// copies, counted by the coverage rule (one per device, none on the card's) ...
    #[serde(default = "two")]
    pub safe_copies: u32,
    /// ... and on at least this many devices: since copies count once per device, the
    /// larger of the two numbers is the rule.
    #[serde(default = "two")]
    pub safe_devices: u32,
    /// Automatic ingest (opt-in): `triplicate run` ingests each card newly mounted
    /// under these folders (e.g. `/media`, `/run/media`), one or two levels down.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mount_roots: Vec<PathBuf>,
    /// Unmount a card that automatic ingest found safe to format.
    #[serde(default)]
    pub eject: bool,
}

fn two() -> u32 {
    2
}

impl Default for IngestSettings {
    fn default() -> Self {
        IngestSettings {
            library: None,
            template: default_layout(),
            safe_copies: 2,
            safe_devices: 2,
            mount_roots: Vec::new(),
            eject: false,
        }
    }
}

impl Default for BackupSettings {
    fn default() -> Self {
        BackupSettings {
            jobs: default_jobs(),
        }
    }
}

fn default_jobs() -> usize {
    2
}

/// Archives: whole-system snapshots as `.tar.gz` (see `triplicate archive`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ArchiveSettings {
    /// Where archives are kept (default: `archives/` beside config.toml).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub folder: Option<PathBuf>,
    /// Optional parts of a config archive, by name (`[archive.sections.NAME]`).
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub sections: std::collections::BTreeMap<String, ArchiveSection>,
    /// A shell command run before an archive is written, e.g. stopping a camera
    /// service while its database is read. If it fails, no archive is written.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pre: Option<String>,
    /// A shell command run after, whatever happened: success, failure, Ctrl-C or
    /// SIGTERM (e.g. starting the camera service again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub post: Option<String>,
    /// Seconds a hook may take before it is stopped (default 600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hook_timeout: Option<u64>,
}

/// An optional part of a config archive: a Lightroom catalog, a camera program's
/// settings, a database.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ArchiveSection {
    /// Files or folders (absolute), archived with everything under them.
    pub paths: Vec<PathBuf>,
    #[serde(default)]
    pub description: String,
}

/// GRID: this node among others (see `docs/grid-protocol.md`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct GridSettings {
    /// The token peers must send to this node, at least 32 characters
    /// (`TRIPLICATE_GRID_TOKEN` overrides it). Without one, this node answers no peer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token: Option<String>,
    /// A file holding that token instead (what `triplicate grid init` writes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// Where this node is: `onsite`, or the name of another site. Copies held by a
    /// node elsewhere count as offsite in the GRID-wide coverage.
    #[serde(default = "onsite")]
    pub site: String,
    /// The library that receives photos from peers (under `{node}/…`); without one,
    /// this node accepts none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub library: Option<String>,
    /// Seconds between two exchanges with the peers.
    #[serde(default = "default_grid_interval")]
    pub interval: f64,
    /// At most this many bytes per second sent to peers, e.g. "50MB/s".
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_send_rate: Option<Bandwidth>,
    /// Nothing is ever removed here: what peers send is only added (never replaced),
    /// and `prune`, `archive delete` and `archive prune` refuse to run. For a central node that must outlive a compromised
    /// capture node or operator mistake.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub append_only: bool,
    #[serde(default, rename = "peer", skip_serializing_if = "Vec::is_empty")]
    pub peers: Vec<PeerConfig>,
}

/// Another node this one talks to.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PeerConfig {
    /// The peer's node name, as its `hello` gave it.
    pub name: String,
    /// Where its `triplicate run --listen` answers, e.g. http://10.0.0.5:8321.
    pub url: String,
    /// The peer's node id, as its `hello` gave it.
    pub id: String,
    /// A file (chmod 600) holding the peer's token.
    pub token_file: PathBuf,
    /// Send this node's photos to the peer.
    #[serde(default)]
    pub sync_photos: bool,
}

fn onsite() -> String {
    ONSITE.into()
}

fn default_grid_interval() -> f64 {
    5.0
}

impl Default for GridSettings {
    fn default() -> Self {
        GridSettings {
            token: None,
            token_file: None,
            site: onsite(),
            library: None,
            interval: default_grid_interval(),
            max_send_rate: None,
            append_only: false,
            peers: Vec::new(),
        }
    }
}

impl GridSettings {
    /// The peer named `name`.
    pub fn peer(&self, name: &str) -> Option<&PeerConfig> {
        self.peers.iter().find(|p| p.name == name)
    }
}

/// How `triplicate run` behaves.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DaemonSettings {
    /// `low` puts the service's disk I/O in the idle class, behind everything else.
    #[serde(default)]
    pub io_priority: IoPriority,
}

/// The status page and API served by `triplicate run`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerSettings {
    /// Serve at all.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Address and port; `--listen` overrides it.
    #[serde(default = "default_listen")]
    pub listen: ListenAddr,
    /// A file holding the access token (required to listen beyond loopback). The
    /// token itself is never written into this file, so the configuration can be
    /// shown and archived without secrets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_file: Option<PathBuf>,
    /// Host names the page may be reached by, besides the listening address and
    /// `localhost` (e.g. "studio-pc.local").
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<String>,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            enabled: true,
            listen: default_listen(),
            token_file: None,
            hosts: Vec::new(),
        }
    }
}

/// 8321: "3-2-1".
pub fn default_listen() -> ListenAddr {
    ListenAddr::new("127.0.0.1:8321").expect("a valid address")
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IoPriority {
    #[default]
    Normal,
    Low,
}

/// A folder of photos on this node.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LibraryConfig {
    pub name: String,
    pub path: PathBuf,
    /// The medium the library itself is on; the original counts as one copy on it.
    #[serde(default = "default_library_media")]
    pub media: MediaKind,
}

fn default_library_media() -> MediaKind {
    MediaKind::Ssd
}

/// A destination as declared: where, on what medium, at which site.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DestinationConfig {
    pub name: String,
    /// A local path (a disk or a mounted share), or a remote URL.
    pub target: Written<Target>,
    /// The id written into the destination's marker; a different disk at the same
    /// mount point has another id and is never written.
    pub id: String,
    pub media: MediaKind,
    /// `onsite`, or the name of another site (which makes copies there offsite).
    pub site: String,
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Filled by the daemon as photos arrive; when false, only by `backup`.
    #[serde(default = "yes")]
    pub automatic: bool,
    #[serde(default = "default_layout")]
    pub layout: Written<Layout>,
    /// Copies written here at once (default: `backup.jobs`). A slow destination with a
    /// low limit never holds up the others.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub concurrency: Option<usize>,
    /// For remote destinations: a shared credentials file (`aws_access_key_id`,
    /// `aws_secret_access_key`); else the `AWS_*` environment variables are used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<PathBuf>,
    /// For remote destinations: at most this many bytes per second, e.g. "20MB/s",
    /// "500KiB/s" (default: no limit).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bandwidth: Option<Bandwidth>,
    /// age X25519 recipients (`age1…`): when set, every copy is encrypted to them and
    /// stored as `<name>.age`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub encrypt_to: Vec<Recipient>,
    /// An age identity file that opens this destination's files (for restore, repair
    /// from here and `verify --decrypt`); backups need only the recipients.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_file: Option<PathBuf>,
    /// A file whose first line is the passphrase of this destination's own identity,
    /// kept encrypted on the destination at `.triplicate/identity.age`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub passphrase_file: Option<PathBuf>,
    /// A cold destination (the yearly drive kept in a drawer): not expected to be
    /// reachable, so its absence raises no warning; a reminder comes when it has not
    /// been refreshed for `refresh_every`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub offline: bool,
    /// How often a cold destination should be refreshed, e.g. "365d", "26w" (default
    /// 365 days).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refresh_every: Option<Span>,
    /// S3 Object Lock: every object stored gets a retention period this long (e.g.
    /// "30d"), on a bucket created with Object Lock.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_lock: Option<Span>,
    /// `governance` (the default: users with the bypass permission may lift it) or
    /// `compliance` (nobody may, until the date).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub object_lock_mode: Option<Written<LockMode>>,
}

/// How often a cold destination is refreshed when `refresh_every` is not set.
pub const DEFAULT_REFRESH_EVERY: std::time::Duration = std::time::Duration::from_secs(365 * 86_400);

fn yes() -> bool {
    true
}

pub fn default_layout() -> Written<Layout> {
    Written::new(crate::layout::DEFAULT_LAYOUT).expect("the default layout is valid")
}

impl DestinationConfig {
    /// The object lock, if one is set: its mode and retention period.
    pub fn object_lock(&self) -> Option<(LockMode, std::time::Duration)> {
        let period = *self.object_lock.as_deref()?;
        let mode = self.object_lock_mode.as_deref().copied();
        Some((mode.unwrap_or(LockMode::Governance), period))
    }

    /// How often this destination should be refreshed, if it is a cold one.
    pub fn refresh_interval(&self) -> Option<std::time::Duration> {
        self.offline.then(|| {
            self.refresh_every
                .as_deref()
                .copied()
                .unwrap_or(DEFAULT_REFRESH_EVERY)
        })
    }

    pub fn is_offsite(&self) -> bool {
        self.site != ONSITE
    }

    /// The folder of a local destination (for a remote one, its URL as a path).
    pub fn local_root(&self) -> PathBuf {
        PathBuf::from(self.target.as_str())
    }

    /// Whether the target is a URL (`s3://…`) rather than a local folder.
    pub fn is_remote(&self) -> bool {
        self.target.remote().is_some()
    }
}

/// A configuration problem, with where it is.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {}: {source}", path.display())]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("no configuration at {}: run `triplicate init` first (or pass --home)", path.display())]
    Missing { path: PathBuf },
    #[error("{}:{line}: {}{message}", path.display(), key.as_ref().map(|k| format!("{k}: ")).unwrap_or_default())]
    Invalid {
        path: PathBuf,
        line: usize,
        key: Option<String>,
        message: String,
    },
    #[error("cannot write {}: {source}", path.display())]
    Write {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Rejected(String),
    #[error("no destination named '{name}' (see `triplicate dest list`)")]
    UnknownDestination { name: String },
    #[error("no GRID peer named '{name}' (see `triplicate grid peers`)")]
    UnknownPeer { name: String },
}

impl crate::fault::Classify for ConfigError {
    fn fault(&self) -> crate::fault::Fault {
        use crate::fault::Fault;
        match self {
            ConfigError::Read { .. } | ConfigError::Write { .. } => Fault::Failed,
            ConfigError::UnknownDestination { .. } | ConfigError::UnknownPeer { .. } => {
                Fault::NotFound
            }
            ConfigError::Missing { .. }
            | ConfigError::Invalid { .. }
            | ConfigError::Rejected(_) => Fault::Usage,
        }
    }
}

impl Config {
    /// Reads and checks `path`.
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        let text = match fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Err(ConfigError::Missing {
                    path: path.to_path_buf(),
                });
            }
            Err(source) => {
                return Err(ConfigError::Read {
                    path: path.to_path_buf(),
                    source,
                });
            }
        };
        let config = Config::parse(path, &text)?;
        if (config.destinations.iter().any(|d| d.is_remote()) || config.server.token_file.is_some())
            && crate::fsutil::readable_by_others(path)
        {
            tracing::warn!(
                "{} can be read by other users and says where your backups are and how to reach them: chmod 600 it",
                path.display()
            );
        }
        Ok(config)
    }

    /// Parses and checks configuration text; `path` is only used in messages.
    pub fn parse(path: &Path, text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| {
            let offset = e.span().map(|s| s.start).unwrap_or(0);
            ConfigError::Invalid {
                path: path.to_path_buf(),
                line: line_at(text, offset),
                key: key_at(text, offset),
                message: e.message().trim().to_string(),
            }
        })?;
        config
            .check()
            .map_err(|(pointer, message)| ConfigError::Invalid {
                path: path.to_path_buf(),
                line: line_of_pointer(text, &pointer).unwrap_or(1),
                key: Some(pointer_name(&pointer)),
                message,
            })?;
        Ok(config)
    }

    /// Checks what serde cannot: names, paths, templates, overlaps. Returns where the
    /// problem is (a key path) and what it is.
    fn check(&self) -> Result<(), (Vec<Step>, String)> {
        use Step::{Index, Key};
        let at = |steps: &[Step]| steps.to_vec();
        check_name(&self.node).map_err(|m| (at(&[Key("node")]), m))?;
        if self.policy.copies == 0 || self.policy.media == 0 {
            return Err((
                at(&[Key("policy"), Key("copies")]),
                "copies and media must be at least 1".into(),
            ));
        }
        if self.backup.jobs == 0 || self.backup.jobs > 64 {
            return Err((
                at(&[Key("backup"), Key("jobs")]),
                "jobs must be between 1 and 64".into(),
            ));
        }
        self.check_grid()?;
        for (name, section) in &self.archive.sections {
            let here = || vec![Key("archive"), Key("sections")];
            check_name(name).map_err(|m| (here(), m))?;
            let mut bases = std::collections::HashSet::new();
            for p in &section.paths {
                if !p.is_absolute() {
                    return Err((
                        here(),
                        format!("section '{name}': {} must be an absolute path", p.display()),
                    ));
                }
                if !bases.insert(p.file_name()) {
                    return Err((
                        here(),
                        format!(
                            "section '{name}': two paths end in the same name ({})",
                            p.display()
                        ),
                    ));
                }
            }
        }
        for (i, lib) in self.libraries.iter().enumerate() {
            let here = |k| at(&[Key("library"), Index(i), Key(k)]);
            check_name(&lib.name).map_err(|m| (here("name"), m))?;
            if !lib.path.is_absolute() {
                return Err((here("path"), "must be an absolute path".into()));
            }
            for (j, other) in self.libraries[..i].iter().enumerate() {
                if other.name == lib.name {
                    return Err((
                        here("name"),
                        format!("library '{}' is declared twice", lib.name),
                    ));
                }
                if lib.path.starts_with(&other.path) || other.path.starts_with(&lib.path) {
                    return Err((
                        here("path"),
                        format!(
                            "{} overlaps library #{} ({}): photos would be counted twice",
                            lib.path.display(),
                            j + 1,
                            other.path.display()
                        ),
                    ));
                }
            }
        }
        let p = &self.protection;
        if !(p.mass_change_percent > 0.0 && p.mass_change_percent <= 100.0) {
            return Err((
                at(&[Key("protection"), Key("mass_change_percent")]),
                "must be more than 0 and at most 100".into(),
            ));
        }
        for (i, dest) in self.destinations.iter().enumerate() {
            let here = |k| at(&[Key("destination"), Index(i), Key(k)]);
            check_name(&dest.name).map_err(|m| (here("name"), m))?;
            if self.destinations[..i].iter().any(|d| d.name == dest.name) {
                return Err((
                    here("name"),
                    format!("destination '{}' is declared twice", dest.name),
                ));
            }
            if self.destinations[..i].iter().any(|d| d.id == dest.id) {
                return Err((
                    here("id"),
                    format!("id {} is used by two destinations", dest.id),
                ));
            }
            if dest.site.trim().is_empty() {
                return Err((here("site"), "must be 'onsite' or a site name".into()));
            }
            if dest.object_lock.is_some() {
                if !matches!(
                    dest.target.remote(),
                    Some(crate::target::RemoteTarget::S3(_))
                ) {
                    return Err((
                        here("object_lock"),
                        "object lock is for S3 destinations (s3://…) only".into(),
                    ));
                }
            } else if dest.object_lock_mode.is_some() {
                return Err((
                    here("object_lock_mode"),
                    "set object_lock (a retention period such as \"30d\") too".into(),
                ));
            }
            if dest.encrypt_to.is_empty()
                && (dest.identity_file.is_some() || dest.passphrase_file.is_some())
            {
                return Err((
                    here("encrypt_to"),
                    "an identity or passphrase file is set, but no recipients to encrypt to".into(),
                ));
            }
            if dest.concurrency.is_some_and(|n| n == 0 || n > 64) {
                return Err((
                    here("concurrency"),
                    "concurrency must be between 1 and 64".into(),
                ));
            }
            let root = dest.local_root();
            for lib in self.libraries.iter().filter(|_| !dest.is_remote()) {
                if root.starts_with(&lib.path) || lib.path.starts_with(&root) {
                    return Err((
                        here("target"),
                        format!(
                            "{} overlaps library '{}' ({}): a backup must live outside the library",
                            root.display(),
                            lib.name,
                            lib.path.display()
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    fn check_grid(&self) -> Result<(), (Vec<Step>, String)> {
        use Step::{Index, Key};
        let g = &self.grid;
        let here = |k| vec![Key("grid"), Key(k)];
        if let Some(t) = &g.token
            && t.trim().len() < crate::vocab::MIN_GRID_TOKEN_LEN
        {
            return Err((
                here("token"),
                format!(
                    "the GRID token must be at least {} characters long (`triplicate grid init` makes one)",
                    crate::vocab::MIN_GRID_TOKEN_LEN
                ),
            ));
        }
        if g.site.trim().is_empty() {
            return Err((here("site"), "must be 'onsite' or a site name".into()));
        }
        if let Some(lib) = &g.library
            && self.library(lib).is_none()
        {
            return Err((
                here("library"),
                format!("no library named '{lib}': add it with `triplicate library add`"),
            ));
        }
        if !(g.interval > 0.0 && g.interval <= 3600.0) {
            return Err((
                here("interval"),
                "must be more than 0 and at most 3600 seconds".into(),
            ));
        }
        for (i, peer) in g.peers.iter().enumerate() {
            let at = |k| vec![Key("grid"), Key("peer"), Index(i), Key(k)];
            check_name(&peer.name).map_err(|m| (at("name"), m))?;
            if peer.name == self.node {
                return Err((
                    at("name"),
                    format!("'{}' is this node's own name", peer.name),
                ));
            }
            if g.peers[..i]
                .iter()
                .any(|p| p.name == peer.name || p.id == peer.id)
            {
                return Err((
                    at("name"),
                    format!("peer '{}' is declared twice", peer.name),
                ));
            }
            if !(peer.url.starts_with("http://") || peer.url.starts_with("https://")) {
                return Err((
                    at("url"),
                    format!("'{}' is not an http:// or https:// address", peer.url),
                ));
            }
        }
        Ok(())
    }

    pub fn destination(&self, name: &str) -> Option<&DestinationConfig> {
        self.destinations.iter().find(|d| d.name == name)
    }

    pub fn library(&self, name: &str) -> Option<&LibraryConfig> {
        self.libraries.iter().find(|l| l.name == name)
    }
}

pub(crate) fn check_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with('.');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "'{name}' is not a valid name: use 1 to 64 letters, digits, '-', '_' or '.'"
        ))
    }
}

/// One step of a key path into the TOML document.
#[derive(Debug, Clone, Copy)]
enum Step {
    Key(&'static str),
    Index(usize),
}

fn pointer_name(steps: &[Step]) -> String {
    let mut s = String::new();
    for step in steps {
        match step {
            Step::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Step::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

/// The line of the value at `steps`, found through toml_edit's spans; falls back to
/// the innermost table that exists.
fn line_of_pointer(text: &str, steps: &[Step]) -> Option<usize> {
    let doc = toml_edit::Document::parse(text.to_string()).ok()?;
    let mut item: &toml_edit::Item = doc.as_item();
    let mut best = None;
    for step in steps {
        let next = match step {
            Step::Key(k) => item.get(k),
            Step::Index(i) => item.get(*i),
        };
        match next {
            Some(n) => {
                item = n;
                if let Some(span) = n.span() {
                    best = Some(span.start);
                } else if let Some(t) = n.as_table() {
                    best = t.span().map(|s| s.start).or(best);
                }
            }
            None => break,
        }
    }
    best.map(|o| line_at(text, o))
}

fn line_at(text: &str, offset: usize) -> usize {
    text[..offset.min(text.len())].matches('\n').count() + 1
}

/// The key whose value sits at `offset`, named as [`Config::check`]'s errors name it:
/// the `key = value` on that line under the nearest table header above it, with the
/// index of an array of tables (`destination[1].layout`).
fn key_at(text: &str, offset: usize) -> Option<String> {
    let offset = offset.min(text.len());
    let line_start = text[..offset].rfind('\n').map(|i| i + 1).unwrap_or(0);
    let line_end = text[offset..]
        .find('\n')
        .map(|i| offset + i)
        .unwrap_or(text.len());
    let line = &text[line_start..line_end];
    let key = line.split_once('=').map(|(k, _)| k.trim().to_string());
    let above = &text[..line_start];
    let header = above
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| l.starts_with('['));
    let table = header.map(|h| {
        let name = h.trim_matches(|c| c == '[' || c == ']').trim();
        if h.starts_with("[[") {
            let index = above.lines().filter(|l| l.trim() == h).count() - 1;
            format!("{name}[{index}]")
        } else {
            name.to_string()
        }
    });
    match (table, key) {
        (Some(t), Some(k)) => Some(format!("{t}.{k}")),
        (None, Some(k)) => Some(k),
        (Some(t), None) => Some(t),
        (None, None) => None,
    }
}

fn no_peer(name: &str) -> ConfigError {
    ConfigError::UnknownPeer { name: name.into() }
}

/// The configuration file as an editable document.
pub struct ConfigFile {
    path: PathBuf,
    doc: toml_edit::DocumentMut,
}

impl ConfigFile {
    /// A new configuration for `node`.
    pub fn create(path: &Path, node: &str) -> Result<ConfigFile, ConfigError> {
        if path.exists() {
            return Err(ConfigError::Rejected(format!(
                "{} already exists: this home is initialised (use `library add` or `dest add`)",
                path.display()
            )));
        }
        let text = format!(
            "# Triplicate configuration. Edit freely; `triplicate` keeps your comments.\n\
             node = {}\n\n\
             # A photo is protected when it has this many copies (the library original\n\
             # counts as one), on this many kinds of media, with this many offsite.\n\
             [policy]\ncopies = 3\nmedia = 2\noffsite = 1\n",
            toml_edit::Value::from(node)
        );
        let doc = text.parse().expect("generated config parses");
        Ok(ConfigFile {
            path: path.to_path_buf(),
            doc,
        })
    }

    pub fn open(path: &Path) -> Result<ConfigFile, ConfigError> {
        // Load first: editing a broken file would only move the error.
        Config::load(path)?;
        let text = fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        let doc = text
            .parse()
            .map_err(|e: toml_edit::TomlError| ConfigError::Invalid {
                path: path.to_path_buf(),
                line: 1,
                key: None,
                message: e.to_string(),
            })?;
        Ok(ConfigFile {
            path: path.to_path_buf(),
            doc,
        })
    }

    pub fn add_library(&mut self, lib: &LibraryConfig) -> Result<(), ConfigError> {
        let path = lib.path.to_str().ok_or_else(|| {
            ConfigError::Rejected(format!(
                "{} is not valid UTF-8, which TOML cannot hold: rename the folder or link it from a UTF-8 path",
                lib.path.display()
            ))
        })?;
        let mut t = toml_edit::Table::new();
        t["name"] = toml_edit::value(&lib.name);
        t["path"] = toml_edit::value(path);
        t["media"] = toml_edit::value(lib.media.as_str());
        self.push_table("library", t);
        Ok(())
    }

    pub fn add_destination(&mut self, d: &DestinationConfig) {
        let mut t = toml_edit::Table::new();
        t["name"] = toml_edit::value(&d.name);
        t["target"] = toml_edit::value(d.target.as_str());
        t["id"] = toml_edit::value(&d.id);
        t["media"] = toml_edit::value(d.media.as_str());
        t["site"] = toml_edit::value(&d.site);
        t["enabled"] = toml_edit::value(d.enabled);
        t["automatic"] = toml_edit::value(d.automatic);
        t["layout"] = toml_edit::value(d.layout.as_str());
        if let Some(n) = d.concurrency {
            t["concurrency"] = toml_edit::value(n as i64);
        }
        if let Some(b) = &d.bandwidth {
            t["bandwidth"] = toml_edit::value(b.as_str());
        }
        if let Some(path) = &d.credentials_file {
            t["credentials_file"] = toml_edit::value(path.to_string_lossy().as_ref());
        }
        if !d.encrypt_to.is_empty() {
            t["encrypt_to"] = toml_edit::value(
                d.encrypt_to
                    .iter()
                    .map(|r| r.as_str())
                    .collect::<toml_edit::Array>(),
            );
        }
        for (key, path) in [
            ("identity_file", &d.identity_file),
            ("passphrase_file", &d.passphrase_file),
        ] {
            if let Some(path) = path {
                t[key] = toml_edit::value(path.to_string_lossy().as_ref());
            }
        }
        if d.offline {
            t["offline"] = toml_edit::value(true);
        }
        if let Some(every) = &d.refresh_every {
            t["refresh_every"] = toml_edit::value(every.as_str());
        }
        if let Some(lock) = &d.object_lock {
            t["object_lock"] = toml_edit::value(lock.as_str());
        }
        if let Some(mode) = &d.object_lock_mode {
            t["object_lock_mode"] = toml_edit::value(mode.as_str());
        }
        self.push_table("destination", t);
    }

    fn push_table(&mut self, key: &str, table: toml_edit::Table) {
        let item = self
            .doc
            .entry(key)
            .or_insert_with(|| toml_edit::Item::ArrayOfTables(Default::default()));
        if let Some(arr) = item.as_array_of_tables_mut() {
            arr.push(table);
        }
    }

    fn destination_index(&self, name: &str) -> Result<usize, ConfigError> {
        self.doc
            .get("destination")
            .and_then(|i| i.as_array_of_tables())
            .and_then(|arr| {
                arr.iter()
                    .position(|t| t.get("name").and_then(|v| v.as_str()) == Some(name))
            })
            .ok_or_else(|| ConfigError::UnknownDestination { name: name.into() })
    }

    /// Forgets a destination. Its data is left exactly as it is.
    pub fn remove_destination(&mut self, name: &str) -> Result<(), ConfigError> {
        let i = self.destination_index(name)?;
        if let Some(arr) = self
            .doc
            .get_mut("destination")
            .and_then(|i| i.as_array_of_tables_mut())
        {
            arr.remove(i);
        }
        Ok(())
    }

    /// Sets any field of a destination; [`ConfigFile::save`] checks the result.
    pub fn set_destination_value(
        &mut self,
        name: &str,
        key: &str,
        value: toml_edit::Value,
    ) -> Result<(), ConfigError> {
        let i = self.destination_index(name)?;
        if let Some(t) = self
            .doc
            .get_mut("destination")
            .and_then(|i| i.as_array_of_tables_mut())
            .and_then(|arr| arr.get_mut(i))
        {
            t[key] = toml_edit::Item::Value(value);
        }
        Ok(())
    }

    /// Removes a field of a destination, so that its default applies.
    pub fn remove_destination_key(&mut self, name: &str, key: &str) -> Result<(), ConfigError> {
        let i = self.destination_index(name)?;
        if let Some(t) = self
            .doc
            .get_mut("destination")
            .and_then(|i| i.as_array_of_tables_mut())
            .and_then(|arr| arr.get_mut(i))
        {
            t.remove(key);
        }
        Ok(())
    }

    /// Sets a boolean field of a destination (`enabled`, `automatic`).
    pub fn set_destination_flag(
        &mut self,
        name: &str,
        flag: &str,
        on: bool,
    ) -> Result<(), ConfigError> {
        self.set_destination_value(name, flag, on.into())
    }

    /// Adds a GRID peer (`[[grid.peer]]`).
    pub fn add_peer(&mut self, p: &PeerConfig) {
        let mut t = toml_edit::Table::new();
        t["name"] = toml_edit::value(&p.name);
        t["url"] = toml_edit::value(&p.url);
        t["id"] = toml_edit::value(&p.id);
        t["token_file"] = toml_edit::value(p.token_file.to_string_lossy().as_ref());
        t["sync_photos"] = toml_edit::value(p.sync_photos);
        let grid = self.grid_table();
        let item = grid
            .entry("peer")
            .or_insert_with(|| toml_edit::Item::ArrayOfTables(Default::default()));
        if let Some(arr) = item.as_array_of_tables_mut() {
            arr.push(t);
        }
    }

    /// Forgets a GRID peer.
    pub fn remove_peer(&mut self, name: &str) -> Result<(), ConfigError> {
        let peers = self
            .doc
            .get_mut("grid")
            .and_then(|g| g.get_mut("peer"))
            .and_then(|i| i.as_array_of_tables_mut());
        let Some(peers) = peers else {
            return Err(no_peer(name));
        };
        let i = peers
            .iter()
            .position(|t| t.get("name").and_then(|v| v.as_str()) == Some(name))
            .ok_or_else(|| no_peer(name))?;
        peers.remove(i);
        Ok(())
    }

    /// Sets a value under `[grid]`.
    pub fn set_grid_value(&mut self, key: &str, value: toml_edit::Value) {
        self.grid_table()[key] = toml_edit::Item::Value(value);
    }

    fn grid_table(&mut self) -> &mut toml_edit::Table {
        let item = self
            .doc
            .entry("grid")
            .or_insert_with(|| toml_edit::Item::Table(toml_edit::Table::new()));
        if !item.is_table() {
            *item = toml_edit::Item::Table(toml_edit::Table::new());
        }
        item.as_table_mut().expect("a table")
    }

    /// The document as it would be saved.
    pub fn text(&self) -> String {
        self.doc.to_string()
    }

    /// Checks the edited document as `load` would, then replaces the file atomically.
    pub fn save(&self) -> Result<Config, ConfigError> {
        let text = self.doc.to_string();
        let config = Config::parse(&self.path, &text)?;
        let write_err = |source| ConfigError::Write {
            path: self.path.clone(),
            source,
        };
        let dir = self.path.parent().unwrap_or(Path::new("."));
        fs::create_dir_all(dir).map_err(write_err)?;
        // Private: it says where the backups are and how to reach them.
        crate::fsutil::write_private(&self.path, text.as_bytes()).map_err(write_err)?;
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(Path::new("/h/config.toml"), text)
    }

    const GOOD: &str = r#"
node = "studio"
[[library]]
name = "Downloads"
path = "/photos/in"

[[destination]]
name = "usb"
target = "/media/usb"
id = "a"
media = "hdd"
site = "onsite"
"#;

    #[test]
    fn loads_with_defaults() {
        let c = parse(GOOD).unwrap();
        assert_eq!(c.policy, Policy::default());
        assert_eq!(c.libraries[0].media, MediaKind::Ssd);
        assert!(c.destinations[0].enabled && c.destinations[0].automatic);
        assert_eq!(c.destinations[0].layout, "{year}/{date}/{name}");
    }

    fn invalid(text: &str) -> (usize, Option<String>, String) {
        match parse(text) {
            Err(ConfigError::Invalid {
                line, key, message, ..
            }) => (line, key, message),
            other => panic!("expected an invalid config, got {other:?}"),
        }
    }

    #[test]
    fn errors_name_line_and_key() {
        let (line, key, msg) = invalid(&GOOD.replace("\"hdd\"", "\"floppy\""));
        assert_eq!(line, 11);
        assert_eq!(key.as_deref(), Some("destination[0].media"));
        assert!(msg.contains("floppy"), "{msg}");

        let (line, key, _) = invalid(&GOOD.replace("name = \"usb\"", "name = \"u b\""));
        assert_eq!((line, key.as_deref()), (8, Some("destination[0].name")));

        let (line, key, msg) = invalid(&GOOD.replace("/media/usb", "/photos/in/backup"));
        assert_eq!((line, key.as_deref()), (9, Some("destination[0].target")));
        assert!(msg.contains("outside the library"), "{msg}");

        let (_, key, msg) = invalid(&GOOD.replace(
            "site = \"onsite\"",
            "site = \"onsite\"\nlayout = \"{yr}/{name}\"",
        ));
        assert_eq!(key.as_deref(), Some("destination[0].layout"));
        assert!(msg.contains("{yr}"), "{msg}");

        let (line, _, msg) = invalid("node = \"x\"\nbogus = 1\n");
        assert_eq!(line, 2);
        assert!(msg.contains("bogus"), "{msg}");
    }

    #[test]
    fn values_are_parsed_once_on_load_and_kept_as_written() {
        let two = format!(
            "{GOOD}\n[[destination]]\nname = \"s3\"\ntarget = \"s3://b/p\"\nid = \"b\"\nmedia = \"cloud\"\nsite = \"away\"\nbandwidth = \"20MB/s\"\nrefresh_every = \"2w\"\n"
        );
        let c = parse(&two).unwrap();
        let d = &c.destinations[1];
        assert_eq!(
            d.bandwidth.as_deref(),
            Some(&crate::values::Rate(20_000_000))
        );
        assert!(d.is_remote() && !c.destinations[0].is_remote());
        assert_eq!(
            toml::to_string(&c)
                .unwrap()
                .matches("bandwidth = \"20MB/s\"")
                .count(),
            1,
            "written back as written"
        );

        let bad = two.replace("20MB/s", "fast");
        let (line, key, msg) = invalid(&bad);
        let expected = bad.lines().position(|l| l.contains("fast")).unwrap() + 1;
        assert_eq!(
            (line, key.as_deref()),
            (expected, Some("destination[1].bandwidth"))
        );
        assert!(msg.contains("'fast' is not a bandwidth"), "{msg}");

        let (_, key, msg) = invalid(&format!("{GOOD}[verify]\ntrust_for = \"soon\"\n"));
        assert_eq!(key.as_deref(), Some("verify.trust_for"));
        assert!(msg.contains("'soon' is not a duration"), "{msg}");

        let (_, key, _) = invalid(&format!("{GOOD}[server]\nlisten = \"localhost\"\n"));
        assert_eq!(key.as_deref(), Some("server.listen"));
    }

    #[test]
    fn a_destination_concurrency_must_be_sensible() {
        let (_, key, msg) =
            invalid(&GOOD.replace("site = \"onsite\"", "site = \"onsite\"\nconcurrency = 0"));
        assert_eq!(key.as_deref(), Some("destination[0].concurrency"));
        assert!(msg.contains("between 1 and 64"), "{msg}");
        let ok = parse(&GOOD.replace("site = \"onsite\"", "site = \"onsite\"\nconcurrency = 1"))
            .unwrap();
        assert_eq!(ok.destinations[0].concurrency, Some(1));
    }

    #[test]
    fn edits_keep_comments_and_validate() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        let mut f = ConfigFile::create(&path, "n1").unwrap();
        f.add_library(&LibraryConfig {
            name: "in".into(),
            path: "/photos/in".into(),
            media: MediaKind::Ssd,
        })
        .unwrap();
        f.save().unwrap();
        let mut text = fs::read_to_string(&path).unwrap();
        text.push_str("# my own note\n");
        fs::write(&path, &text).unwrap();

        let mut f = ConfigFile::open(&path).unwrap();
        let dest = DestinationConfig {
            name: "usb".into(),
            target: "/media/usb".parse().unwrap(),
            id: "x".into(),
            media: MediaKind::Hdd,
            site: "onsite".into(),
            enabled: true,
            automatic: true,
            layout: default_layout(),
            concurrency: None,
            credentials_file: None,
            bandwidth: None,
            encrypt_to: Vec::new(),
            identity_file: None,
            passphrase_file: None,
            offline: false,
            refresh_every: None,
            object_lock: None,
            object_lock_mode: None,
        };
        f.add_destination(&dest);
        f.set_destination_flag("usb", "enabled", false).unwrap();
        let c = f.save().unwrap();
        assert!(!c.destinations[0].enabled);
        assert!(fs::read_to_string(&path).unwrap().contains("# my own note"));

        let mut f = ConfigFile::open(&path).unwrap();
        f.add_destination(&dest);
        assert!(
            f.save().is_err(),
            "a duplicate name is refused before writing"
        );
        let mut f = ConfigFile::open(&path).unwrap();
        f.remove_destination("usb").unwrap();
        assert!(f.save().unwrap().destinations.is_empty());
    }
}
