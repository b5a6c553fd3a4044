//! The configuration file: libraries, destinations, the 3-2-1 policy.
//!
//! `config.toml` is read into a [`Config`] and checked as a whole; every error names
//! the file, the line and the key ([`ConfigError`]). Commands that change the
//! configuration (`init`, `library add`, `dest add` …) go through [`ConfigFile`], which
//! edits the TOML document in place so that the user's comments and ordering survive,
//! checks the result exactly as a load would, and replaces the file atomically.
//!
//! Here is the model, every setting with its documentation (which is why this file is
//! long); `check` holds what serde cannot check, `locate` turns a problem's place into
//! a line and a key, `edit` the editable document.
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

mod check;
mod edit;
mod locate;
mod notify;

pub(crate) use check::check_name;
pub use edit::ConfigFile;
use locate::{key_at, line_at, line_of_pointer, pointer_name};
pub use notify::{ChannelConfig, ChannelKind, DigestEvery, NotifySettings, SmtpSecurity};

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
    #[serde(default)]
    pub notify: NotifySettings,
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

/// How long a proof lasts, and the service's scheduled checks.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VerifySettings {
    /// A verified copy counts toward 3-2-1 only while its last proof (a read back, or
    /// the store's checksum) is younger than this, e.g. "180d"; `verify` proves copies
    /// again. Unset: a proof lasts until a check finds the copy damaged. A card ingest
    /// always proves every copy in its own run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trust_for: Option<Span>,
    /// The service reads every copy at every destination back within this period, a
    /// share each day, oldest first ("0d": never by itself).
    #[serde(default = "default_verify_every")]
    pub every: Span,
    /// The scheduled checks read at most this fast ("20MB/s"); unset: as fast as the
    /// disks go (they pause while a backup or an ingest runs).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<Bandwidth>,
    /// A copy the scheduled checks find damaged is written again from a good copy (the
    /// damaged file is kept aside, never deleted). Either way it is reported.
    #[serde(default)]
    pub repair: bool,
    /// The service restores a few photos from each destination this often, and checks
    /// them byte for byte ("0d": never).
    #[serde(default = "default_drill_every")]
    pub drill_every: Span,
}

impl Default for VerifySettings {
    fn default() -> Self {
        VerifySettings {
            trust_for: None,
            every: default_verify_every(),
            rate: None,
            repair: false,
            drill_every: default_drill_every(),
        }
    }
}

fn default_verify_every() -> Span {
    Span::new("30d").expect("a valid span")
}

fn default_drill_every() -> Span {
    Span::new("7d").expect("a valid span")
}

impl VerifySettings {
    /// How long a proof lasts, if it expires at all.
    pub fn trust_for(&self) -> Option<std::time::Duration> {
        self.trust_for.as_deref().copied()
    }

    /// The period within which the scheduled checks reach every copy, if they run.
    pub fn every(&self) -> Option<std::time::Duration> {
        Some(*self.every).filter(|d| !d.is_zero())
    }

    /// How often restore drills run, if they do.
    pub fn drill_every(&self) -> Option<std::time::Duration> {
        Some(*self.drill_every).filter(|d| !d.is_zero())
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
    /// The SHA-256 fingerprint of the peer's certificate: an https:// peer is trusted
    /// by it alone (pinned), no certificate authority involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fingerprint: Option<crate::values::Fingerprint>,
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
    /// A certificate (PEM) to serve HTTPS with, instead of the one Triplicate makes in
    /// the home folder; with `tls_key`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_cert: Option<PathBuf>,
    /// The private key (PEM) of `tls_cert`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP beyond loopback too (a LAN you trust), as `run --insecure-http`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub insecure_http: bool,
}

impl Default for ServerSettings {
    fn default() -> Self {
        ServerSettings {
            enabled: true,
            listen: default_listen(),
            token_file: None,
            hosts: Vec::new(),
            tls_cert: None,
            tls_key: None,
            insecure_http: false,
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
    #[error("no notification channel named '{name}' (see `triplicate notify list`)")]
    UnknownChannel { name: String },
}

impl crate::fault::Classify for ConfigError {
    fn fault(&self) -> crate::fault::Fault {
        use crate::fault::Fault;
        match self {
            ConfigError::Read { .. } | ConfigError::Write { .. } => Fault::Failed,
            ConfigError::UnknownDestination { .. }
            | ConfigError::UnknownPeer { .. }
            | ConfigError::UnknownChannel { .. } => Fault::NotFound,
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

    pub fn destination(&self, name: &str) -> Option<&DestinationConfig> {
        self.destinations.iter().find(|d| d.name == name)
    }

    pub fn library(&self, name: &str) -> Option<&LibraryConfig> {
        self.libraries.iter().find(|l| l.name == name)
    }
}

#[cfg(test)]
mod tests;
