//! Talking to a peer ([`PeerClient`], blocking HTTP), and adding, removing and setting
//! up peers: `grid init`, `grid add-peer`, `grid remove-peer`.
//!
//! A peer's token is kept in a file of mode 600 beside the configuration
//! (`grid-peers/NAME.token`), which names it, so the configuration itself holds no
//! secret and can be shown or archived.

use std::path::{Path, PathBuf};
use std::time::Duration;

use reqwest::StatusCode;
use reqwest::blocking::{Client, Response};

use super::{ChangePage, GridError, Hello, PROTOCOL, PhotoState, Result};
use crate::config::{ConfigFile, PeerConfig};
use crate::home::{Home, Triplicate};
use crate::photo::ContentHash;
use crate::values::{Fingerprint, Sha256Hex};

/// A peer, ready to be called.
pub struct PeerClient {
    pub name: String,
    pub url: String,
    token: String,
    http: Client,
    /// A certificate the pinned TLS refused, to say so in the error.
    refused: Option<crate::tls::Refused>,
}

/// What a peer answered to a piece of a photo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutAnswer {
    /// Kept; the upload continues at this offset.
    Partial(u64),
    /// The whole photo is stored (or was there already).
    Stored,
    /// The upload continues elsewhere: at this offset.
    WrongOffset(u64),
    /// The bytes did not hash to the photo's hash: start again.
    HashMismatch,
}

/// A piece of a photo to send.
pub struct Piece<'a> {
    pub hash: &'a ContentHash,
    /// `library/path` on the sender.
    pub name: &'a str,
    pub node: &'a str,
    pub captured: &'a str,
    pub offset: u64,
    pub len: u64,
    pub total: u64,
}

#[derive(serde::Deserialize)]
struct Offset {
    offset: u64,
}

impl PeerClient {
    /// A client for the peer at `url`; an https:// peer is trusted by the fingerprint
    /// of its certificate (`pin`) alone ([`crate::tls::pinned_client`]).
    pub fn new(name: &str, url: &str, token: &str, pin: Option<&Sha256Hex>) -> Result<PeerClient> {
        let mut refused = None;
        let mut builder = Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .timeout(Duration::from_secs(300));
        if url.starts_with("https://") {
            let pin = pin.ok_or_else(|| {
                GridError::Setup(format!(
                    "{url} is https://: give the fingerprint of its certificate (--fingerprint; `triplicate grid init` on the peer shows it)"
                ))
            })?;
            let (tls, noted) = crate::tls::pinned_client(&pin.0);
            builder = builder.tls_backend_preconfigured(tls);
            refused = Some(noted);
        }
        let http = builder
            .build()
            .map_err(|e| GridError::Setup(format!("cannot start an HTTP client: {e}")))?;
        Ok(PeerClient {
            name: name.into(),
            url: url.trim_end_matches('/').into(),
            token: token.trim().into(),
            http,
            refused,
        })
    }

    /// The client for a configured peer, with the token from its file.
    pub fn from_config(p: &PeerConfig) -> Result<PeerClient> {
        let token = std::fs::read_to_string(&p.token_file).map_err(|source| GridError::Io {
            what: "cannot read the token of peer from",
            path: p.token_file.clone(),
            source,
        })?;
        PeerClient::new(&p.name, &p.url, &token, p.fingerprint.as_deref())
    }

    fn endpoint(&self, path: &str) -> String {
        format!("{}/api/v1/grid/{path}", self.url)
    }

    /// The peer could not be reached; the message names every cause once, down to the
    /// deepest (a refused connection, a certificate that is not the pinned one).
    fn unreachable(&self, e: reqwest::Error) -> GridError {
        let refused = self.refused.as_ref().and_then(|r| r.lock().ok()?.take());
        if let Some(wrong) = refused {
            return GridError::Unreachable {
                peer: self.name.clone(),
                url: self.url.clone(),
                message: wrong.to_string(),
            };
        }
        GridError::Unreachable {
            peer: self.name.clone(),
            url: self.url.clone(),
            message: crate::fault::chain(&e),
        }
    }

    /// The answer if it is a success, else the peer's refusal with its own words.
    fn checked(&self, response: Response) -> Result<Response> {
        let status = response.status();
        if status.is_success() {
            return Ok(response);
        }
        let text = response.text().unwrap_or_default();
        let message = serde_json::from_str::<serde_json::Value>(&text)
            .ok()
            .and_then(|v| v.get("error").and_then(|e| e.as_str()).map(str::to_string))
            .unwrap_or(text);
        Err(GridError::Refused {
            peer: self.name.clone(),
            status: status.as_u16(),
            message,
        })
    }

    fn json<T: serde::de::DeserializeOwned>(&self, response: Response) -> Result<T> {
        let bytes = response.bytes().map_err(|e| self.unreachable(e))?;
        serde_json::from_slice(&bytes).map_err(|e| GridError::Protocol {
            peer: self.name.clone(),
            message: format!("an answer does not parse: {e}"),
        })
    }

    fn get(&self, path: &str) -> Result<Response> {
        self.http
            .get(self.endpoint(path))
            .bearer_auth(&self.token)
            .send()
            .map_err(|e| self.unreachable(e))
    }

    /// `hello`, with the protocol version checked.
    pub fn hello(&self) -> Result<Hello> {
        let response = self.checked(self.get("hello")?)?;
        let hello: Hello = self.json(response)?;
        if hello.protocol != PROTOCOL {
            return Err(GridError::Protocol {
                peer: self.name.clone(),
                message: format!(
                    "it speaks GRID protocol {}, this node speaks {PROTOCOL}: run the same major version of triplicate on both",
                    hello.protocol
                ),
            });
        }
        Ok(hello)
    }

    /// One page of the peer's change feed.
    pub fn changes(&self, since: i64, limit: usize) -> Result<ChangePage> {
        let response = self.checked(self.get(&format!("changes?since={since}&limit={limit}"))?)?;
        self.json(response)
    }

    /// What the peer has of a photo.
    pub fn photo(&self, hash: &ContentHash) -> Result<PhotoState> {
        let response = self.get(&format!("photos/{}", hash.to_hex()))?;
        if response.status() == StatusCode::NOT_FOUND {
            return Ok(PhotoState {
                received: false,
                offset: 0,
                size: None,
            });
        }
        let response = self.checked(response)?;
        self.json(response)
    }

    /// Sends a piece of a photo: `data` holds its `piece.len` bytes.
    pub fn put(&self, piece: &Piece<'_>, data: Vec<u8>) -> Result<PutAnswer> {
        let name =
            percent_encoding::utf8_percent_encode(piece.name, percent_encoding::NON_ALPHANUMERIC)
                .to_string();
        let end = piece.offset + piece.len;
        let response = self
            .http
            .put(self.endpoint(&format!("photos/{}", piece.hash.to_hex())))
            .bearer_auth(&self.token)
            .header(
                "Content-Range",
                format!("bytes {}-{}/{}", piece.offset, end.max(1) - 1, piece.total),
            )
            .header("Triplicate-Name", name)
            .header("Triplicate-Node", piece.node)
            .header("Triplicate-Captured", piece.captured)
            .body(data)
            .send()
            .map_err(|e| self.unreachable(e))?;
        match response.status() {
            StatusCode::OK | StatusCode::CREATED => Ok(PutAnswer::Stored),
            StatusCode::ACCEPTED => Ok(PutAnswer::Partial(self.json::<Offset>(response)?.offset)),
            StatusCode::CONFLICT => {
                // Either another offset, or an upload of the same photo in progress.
                let text = response.text().unwrap_or_default();
                match serde_json::from_str::<Offset>(&text) {
                    Ok(o) => Ok(PutAnswer::WrongOffset(o.offset)),
                    Err(_) => Err(GridError::Refused {
                        peer: self.name.clone(),
                        status: 409,
                        message: text,
                    }),
                }
            }
            StatusCode::UNPROCESSABLE_ENTITY => Ok(PutAnswer::HashMismatch),
            _ => self.checked(response).map(|_| PutAnswer::Stored),
        }
    }
}

/// Where the token of peer `name` is kept: `grid-peers/NAME.token` beside the config.
fn peer_token_path(home: &Home, name: &str) -> PathBuf {
    home.config
        .parent()
        .unwrap_or(Path::new("."))
        .join("grid-peers")
        .join(format!("{name}.token"))
}

/// Writes a secret into a file of mode 600 (replacing an older one).
fn write_secret(path: &Path, secret: &str) -> Result<()> {
    let io = |source| GridError::Io {
        what: "cannot write",
        path: path.into(),
        source,
    };
    crate::fsutil::write_private(path, format!("{}\n", secret.trim()).as_bytes()).map_err(io)
}

/// `grid init`: gives this node a token (in `grid.token` beside the config, mode 600)
/// unless it has one; returns the token, to be given to the peers that call this node.
pub fn init(home: &Home) -> Result<String> {
    let t = Triplicate::open(home).map_err(|e| GridError::Setup(e.to_string()))?;
    if let Some(token) = super::own_token(&t.config)? {
        return Ok(token);
    }
    let token = super::new_token();
    let path = home
        .config
        .parent()
        .unwrap_or(Path::new("."))
        .join("grid.token");
    write_secret(&path, &token)?;
    let mut file = ConfigFile::open(&home.config)?;
    file.set_grid_value("token_file", path.to_string_lossy().as_ref().into());
    file.save()?;
    t.catalog.grid_node_id()?;
    Ok(token)
}

/// `grid add-peer URL --token T [--fingerprint F] [--sync-photos]`: asks the peer who
/// it is (which checks the address, the certificate, the token and the protocol), then
/// records it.
pub fn add(
    home: &Home,
    url: &str,
    token: &str,
    fingerprint: Option<&str>,
    sync_photos: bool,
) -> Result<PeerConfig> {
    let t = Triplicate::open(home).map_err(|e| GridError::Setup(e.to_string()))?;
    let url = url.trim().trim_end_matches('/');
    if !(url.starts_with("http://") || url.starts_with("https://")) {
        return Err(GridError::Setup(format!(
            "'{url}' is not an http:// or https:// address of a `triplicate run --listen`"
        )));
    }
    let fingerprint = fingerprint
        .map(Fingerprint::new)
        .transpose()
        .map_err(GridError::Setup)?;
    let hello = PeerClient::new(url, url, token, fingerprint.as_deref())?.hello()?;
    super::names::node_name(&hello.name)?;
    super::names::node_id(&hello.node_id)?;
    if hello.node_id == t.catalog.grid_node_id()? {
        return Err(GridError::Setup(format!("{url} is this node itself")));
    }
    if let Some(p) = t
        .config
        .grid
        .peers
        .iter()
        .find(|p| p.id == hello.node_id || p.name == hello.name)
    {
        return Err(GridError::Setup(format!(
            "node '{}' is already a peer, at {} (remove it first with `triplicate grid remove-peer {}`)",
            p.name, p.url, p.name
        )));
    }
    let token_file = peer_token_path(home, &hello.name);
    write_secret(&token_file, token)?;
    let peer = PeerConfig {
        name: hello.name.clone(),
        url: url.into(),
        id: hello.node_id.clone(),
        token_file,
        sync_photos,
        fingerprint: url.starts_with("https://").then_some(fingerprint).flatten(),
    };
    let mut file = ConfigFile::open(&home.config)?;
    file.add_peer(&peer);
    file.save()?;
    Ok(peer)
}

/// `grid remove-peer NAME`: forgets a peer and its token. What it sent stays.
pub fn remove(home: &Home, name: &str) -> Result<PeerConfig> {
    let t = Triplicate::open(home).map_err(|e| GridError::Setup(e.to_string()))?;
    let peer = t.config.grid.peer(name).cloned().ok_or_else(|| {
        GridError::Setup(format!(
            "no GRID peer named '{name}' (see `triplicate grid peers`)"
        ))
    })?;
    let mut file = ConfigFile::open(&home.config)?;
    file.remove_peer(name)?;
    file.save()?;
    t.catalog.grid_forget_peer(&peer.url)?;
    if peer.token_file == peer_token_path(home, name) {
        let _ = std::fs::remove_file(&peer.token_file);
    }
    Ok(peer)
}
