//! GRID: several nodes as one system (`docs/grid-protocol.md` is the reference).
//!
//! Every node knows every photo on every node, and, with "sync photos", sends its
//! photos to the peers that gather them (a central node), whose own destinations back
//! up the aggregate. The parts:
//! - [`log`]: the change log. A node publishes its own photos as records, serves the
//!   log as a feed, and merges what it pulls from peers: one writer per record (its
//!   origin), the newest `origin_seq` wins, so merging is idempotent and needs no
//!   central server.
//! - [`peer`]: the HTTP client for a peer, and adding or removing peers.
//! - [`transfer`]: sending photos to peers, resumably and within a rate, and receiving
//!   them append-only into the GRID library.
//! - [`names`]: checking every name a peer sends.
//! - [`status`]: each node's photos, contact and lag, and the GRID-wide 3-2-1 coverage.
//!
//! The wire types of protocol version [`PROTOCOL`] are here.

pub mod log;
pub mod names;
pub mod peer;
pub mod status;
pub mod transfer;

use serde::{Deserialize, Serialize};

use crate::catalog::CatalogError;
use crate::config::{Config, ConfigError};

/// The protocol's major version: every path is under `/api/v1/grid/`, and a peer whose
/// `hello` gives another version is refused.
pub const PROTOCOL: u32 = 1;
/// The header every GRID answer carries, with [`PROTOCOL`].
pub const PROTOCOL_HEADER: &str = "Triplicate-Grid";
/// Tokens shorter than this are refused.
pub use crate::vocab::MIN_GRID_TOKEN_LEN as MIN_TOKEN_LEN;
/// The environment variable that overrides `grid.token`.
pub const TOKEN_ENV: &str = "TRIPLICATE_GRID_TOKEN";
/// The most changes one feed page holds, and its default.
pub const FEED_MAX: usize = 1000;
pub const FEED_DEFAULT: usize = 500;
/// The most feed pages one pull reads: a peer with more (or one that claims an
/// endless feed) is read further at the next exchange.
pub const PULL_MAX_PAGES: usize = 200;
/// A feed page holds at most this much JSON.
pub const FEED_MAX_BYTES: usize = 1024 * 1024;
/// The largest piece of a photo one request may carry.
pub const CHUNK_MAX: usize = 64 * 1024 * 1024;
/// The largest photo a node accepts.
pub const PHOTO_MAX: u64 = 1 << 40;

#[derive(Debug, thiserror::Error)]
pub enum GridError {
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("peer {peer} ({url}) cannot be reached: {message}")]
    Unreachable {
        peer: String,
        url: String,
        message: String,
    },
    #[error("peer {peer} refused: {status} {message}")]
    Refused {
        peer: String,
        status: u16,
        message: String,
    },
    #[error("peer {peer} broke the GRID protocol: {message}")]
    Protocol { peer: String, message: String },
    #[error(
        "peer {peer} sent a record of this node that this node never wrote ({message}); nothing from that page was kept"
    )]
    Forged { peer: String, message: String },
    #[error("refused the name '{name}': {why}")]
    BadName { name: String, why: String },
    #[error("{0}")]
    BadRequest(String),
    #[error(
        "this node accepts no photos from peers: set grid.library to the library that should receive them"
    )]
    NotAccepting,
    #[error("this upload continues at byte {expected}, not at {given}")]
    WrongOffset { expected: u64, given: u64 },
    #[error("the bytes received do not hash to {hash}: discarded, send the photo again")]
    HashMismatch { hash: String },
    #[error("an upload of {hash} is already in progress")]
    Busy { hash: String },
    #[error("{what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{0}")]
    Setup(String),
}

impl crate::fault::Classify for GridError {
    fn fault(&self) -> crate::fault::Fault {
        use crate::fault::Fault;
        match self {
            GridError::Config(e) => e.fault(),
            GridError::Setup(_) | GridError::BadName { .. } => Fault::Usage,
            _ => Fault::Failed,
        }
    }
}

pub type Result<T> = std::result::Result<T, GridError>;

/// `GET /api/v1/grid/hello`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Hello {
    pub protocol: u32,
    pub node_id: String,
    pub name: String,
    pub site: String,
    /// Whether the node accepts photos (it has a GRID library).
    pub receives: bool,
    /// Unix seconds on the node's clock.
    pub time: i64,
    pub latest_seq: i64,
    /// The other origins whose records this node passes on (every origin in its log
    /// but its own). Until nodes sign their records, a peer's page may hold records of
    /// these origins and its own only.
    #[serde(default)]
    pub vouches: Vec<String>,
}

/// One entry of a node's change feed. The record travels exactly as its origin wrote
/// it: relays pass it on verbatim (fields a newer version added included), and a node
/// can recognise its own records byte for byte.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Change {
    pub seq: i64,
    pub origin: String,
    pub origin_seq: i64,
    pub record: Box<serde_json::value::RawValue>,
}

/// `GET /api/v1/grid/changes?since=SEQ&limit=N`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ChangePage {
    pub node_id: String,
    pub latest_seq: i64,
    /// The `since` to ask with next.
    pub next: i64,
    pub changes: Vec<Change>,
}

/// What a record is about: one photo of its origin, or the origin node itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum Record {
    Photo(PhotoRecord),
    Node(NodeRecord),
}

/// The origin's whole current view of one of its photos.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhotoRecord {
    /// BLAKE3 of the content, 64 lowercase hex digits.
    pub hash: String,
    pub size: u64,
    /// Camera-local capture time, YYYY-MM-DDTHH:MM:SS.
    pub captured: String,
    pub kind: String,
    /// Unix seconds when the origin first saw it.
    pub first_seen: i64,
    /// Whether the origin's libraries hold it now.
    pub present: bool,
    pub names: Vec<PhotoName>,
    pub copies: Vec<CopyRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhotoName {
    pub library: String,
    pub path: String,
    pub present: bool,
}

/// A copy of a photo at one of the origin's destinations.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CopyRecord {
    /// The destination's id.
    pub dest: String,
    pub name: String,
    pub media: crate::destination::MediaKind,
    /// The destination's site as the origin declares it (`onsite` is the origin's).
    pub site: String,
    /// verified, failed, corrupt or missing.
    pub state: String,
}

/// What a node says of itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeRecord {
    pub name: String,
    pub site: String,
    pub receives: bool,
    pub libraries: Vec<LibraryRecord>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LibraryRecord {
    pub name: String,
    pub media: crate::destination::MediaKind,
}

/// `GET /api/v1/grid/photos/{hash}`: what the node has of a photo.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PhotoState {
    /// The node holds the whole photo.
    pub received: bool,
    /// Bytes of an unfinished upload kept so far (send from here).
    pub offset: u64,
    pub size: Option<u64>,
}

/// The token peers must send to this node: `TRIPLICATE_GRID_TOKEN`, `grid.token`, or
/// the file `grid.token_file` names. `None`: this node answers no peer.
pub fn own_token(config: &Config) -> Result<Option<String>> {
    if let Ok(t) = std::env::var(TOKEN_ENV)
        && !t.trim().is_empty()
    {
        let t = t.trim().to_string();
        if t.len() < MIN_TOKEN_LEN {
            return Err(GridError::Setup(format!(
                "{TOKEN_ENV} must be at least {MIN_TOKEN_LEN} characters long"
            )));
        }
        return Ok(Some(t));
    }
    if let Some(t) = &config.grid.token {
        return Ok(Some(t.trim().to_string()));
    }
    match &config.grid.token_file {
        Some(path) => {
            let text = std::fs::read_to_string(path).map_err(|source| GridError::Io {
                what: "cannot read the GRID token from",
                path: path.clone(),
                source,
            })?;
            let t = text.trim().to_string();
            if t.len() < MIN_TOKEN_LEN {
                return Err(GridError::Setup(format!(
                    "the GRID token in {} must be at least {MIN_TOKEN_LEN} characters long",
                    path.display()
                )));
            }
            Ok(Some(t))
        }
        None => Ok(None),
    }
}

/// Whether this node takes part in a GRID: it has a token or a peer.
pub fn is_on(config: &Config) -> bool {
    config.grid.token.is_some()
        || config.grid.token_file.is_some()
        || !config.grid.peers.is_empty()
        || std::env::var(TOKEN_ENV).is_ok_and(|t| !t.trim().is_empty())
}

/// A new random token, as 64 hex digits.
pub fn new_token() -> String {
    crate::access::random_secret()
}

/// What one exchange with the peers did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ExchangeReport {
    /// This node's changes newly published.
    pub published: usize,
    /// Changes newly learnt from peers.
    pub pulled: usize,
    /// Peers that could not be pulled from, with why.
    pub failed: Vec<(String, String)>,
}

/// Publishes this node's changes, then pulls every peer's. A peer that fails is
/// noted (`grid status`, a warning) and the others are still pulled.
pub fn exchange(t: &crate::home::Triplicate) -> Result<ExchangeReport> {
    let mut report = ExchangeReport {
        published: log::publish(t)?,
        ..Default::default()
    };
    transfer::sweep_stale_uploads(t, transfer::STALE_UPLOAD)?;
    for p in &t.config.grid.peers {
        let subject = format!("grid:{}", p.name);
        let result = peer::PeerClient::from_config(p).and_then(|client| log::pull(t, &client));
        match result {
            Ok(n) => {
                report.pulled += n;
                t.catalog
                    .resolve_warnings(&subject, &["unreachable", "refused", "protocol"])?;
            }
            Err(e) => {
                let message = e.to_string();
                tracing::warn!("GRID: {message}");
                t.catalog
                    .grid_peer_failed(p.url.trim_end_matches('/'), &message)?;
                let kind = match &e {
                    GridError::Unreachable { .. } | GridError::Io { .. } => "unreachable",
                    GridError::Refused { .. } => "refused",
                    _ => "protocol",
                };
                t.catalog
                    .raise_warning(&subject, kind, &message, Some("transient"))?;
                report.failed.push((p.name.clone(), message));
            }
        }
    }
    Ok(report)
}

/// Sends each "sync photos" peer the photos it lacks, until done or `stop`.
pub fn send_all(
    t: &crate::home::Triplicate,
    stop: &std::sync::atomic::AtomicBool,
) -> Result<Vec<(String, std::result::Result<transfer::SendReport, String>)>> {
    let mut out = Vec::new();
    for p in t.config.grid.peers.iter().filter(|p| p.sync_photos) {
        let result = peer::PeerClient::from_config(p)
            .and_then(|client| transfer::send_to(t, &client, &p.id, stop));
        let subject = format!("grid:{}", p.name);
        match &result {
            Ok(_) => {
                t.catalog.resolve_warnings(&subject, &["sending"])?;
            }
            Err(e) => {
                tracing::warn!("GRID: sending to {}: {e}", p.name);
                t.catalog.raise_warning(
                    &subject,
                    "sending",
                    &format!("photos cannot be sent to {}: {e}", p.name),
                    Some("transient"),
                )?;
            }
        }
        out.push((p.name.clone(), result.map_err(|e| e.to_string())));
    }
    Ok(out)
}

/// One full round with the peers, as `grid sync` and `triplicate run --once` do it:
/// exchange the change log, send photos to the peers that take them, then exchange
/// again so that the peers learn at once what they now hold.
pub fn sync(
    t: &crate::home::Triplicate,
    stop: &std::sync::atomic::AtomicBool,
) -> Result<SyncReport> {
    let before = exchange(t)?;
    let sent = send_all(t, stop)?;
    let after = exchange(t)?;
    Ok(SyncReport {
        published: before.published + after.published,
        pulled: before.pulled + after.pulled,
        failed: after.failed,
        sent: sent
            .into_iter()
            .map(|(peer, result)| match result {
                Ok(report) => PeerSent {
                    peer,
                    report: Some(report),
                    error: None,
                },
                Err(error) => PeerSent {
                    peer,
                    report: None,
                    error: Some(error),
                },
            })
            .collect(),
    })
}

/// What a [`sync`] did.
#[derive(Debug, Clone, Serialize)]
pub struct SyncReport {
    pub published: usize,
    pub pulled: usize,
    /// Peers that could not be pulled from in the last exchange, with why.
    pub failed: Vec<(String, String)>,
    /// Per peer that takes photos: what was sent, or why nothing could be.
    pub sent: Vec<PeerSent>,
}

impl SyncReport {
    pub fn ok(&self) -> bool {
        self.failed.is_empty() && self.sent.iter().all(|s| s.error.is_none())
    }
}

/// Photos sent to one peer, or why none could be.
#[derive(Debug, Clone, Serialize)]
pub struct PeerSent {
    pub peer: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<transfer::SendReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}
