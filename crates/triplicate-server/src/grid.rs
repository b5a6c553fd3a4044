//! The GRID protocol's endpoints, `/api/v1/grid/…` (docs/grid-protocol.md), and the
//! page's view of the GRID (`/api/v1/grid-status`, `/api/v1/peers`).
//!
//! The protocol routes have their own guard ([`authorise`]): they want this node's
//! GRID token (`Authorization: Bearer TOKEN`), never the page's token or cookie, and a
//! missing or wrong one is answered 401 and logged with the caller's address. They
//! take bodies up to one piece of a photo ([`BODY_LIMIT`]). There is no route that
//! deletes or replaces anything: any other method is 405.

use std::net::SocketAddr;

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use triplicate::grid::transfer::{Received, Upload};
use triplicate::grid::{self, GridError};
use triplicate::home::Triplicate;
use triplicate::service::Change;

use crate::SharedState;
use crate::api::ApiError;
use crate::guard::refuse;
use crate::table::Table;

/// The largest request body: one piece of a photo, and its headers' worth.
pub const BODY_LIMIT: usize = grid::CHUNK_MAX + 64 * 1024;
/// A request that takes longer than this gets 408: a piece sent at a low rate needs
/// time.
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// The protocol's routes.
pub fn table() -> Table<SharedState> {
    Table::new("")
        .get("/api/v1/grid/hello", hello)
        .get("/api/v1/grid/changes", changes)
        .get("/api/v1/grid/photos/{hash}", photo)
        .put("/api/v1/grid/photos/{hash}", upload)
}

/// The page's routes (behind the page's own guard), below `/api/v1`.
pub fn page_table() -> Table<SharedState> {
    Table::new("/api/v1")
        .get("/grid-status", grid_status)
        .post("/peers", add_peer)
        .delete("/peers/{name}", remove_peer)
}

/// The guard of the protocol's routes: this node's GRID token, compared through BLAKE3
/// hashes (constant time whatever the bytes). Marks every answer with the protocol's
/// version.
pub async fn authorise(State(state): State<SharedState>, request: Request, next: Next) -> Response {
    let peer = request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.to_string())
        .unwrap_or_else(|| "an unknown address".into());
    let config = triplicate::config::Config::load(&state.home.config);
    let expected = config
        .map_err(|e| e.to_string())
        .and_then(|c| grid::own_token(&c).map_err(|e| e.to_string()));
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
        .map(|t| blake3::hash(t.trim().as_bytes()));
    let mut response = match expected {
        Err(e) => {
            tracing::error!("GRID: cannot read this node's token: {e}");
            refuse(
                StatusCode::INTERNAL_SERVER_ERROR,
                "this node's GRID token cannot be read",
            )
        }
        // No token, no peer: refused like a wrong token (every route wants a credential).
        Ok(None) => refuse(
            StatusCode::UNAUTHORIZED,
            "this node is not set up for GRID: run `triplicate grid init` on it",
        ),
        Ok(Some(token)) if given == Some(blake3::hash(token.as_bytes())) => next.run(request).await,
        Ok(Some(_)) => {
            tracing::warn!(%peer, path = %request.uri().path(), "GRID: refused a request with a missing or wrong token");
            let mut r = refuse(
                StatusCode::UNAUTHORIZED,
                "a GRID request needs this node's token: `Authorization: Bearer TOKEN`",
            );
            r.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"triplicate-grid\""),
            );
            r
        }
    };
    response.headers_mut().insert(
        grid::PROTOCOL_HEADER,
        HeaderValue::from_str(&grid::PROTOCOL.to_string()).expect("a number"),
    );
    response
}

/// A GRID failure as an answer, with a status that says whose fault it was.
impl From<GridError> for ApiError {
    fn from(e: GridError) -> Self {
        let status = match &e {
            GridError::BadName { .. } | GridError::BadRequest(_) => StatusCode::BAD_REQUEST,
            GridError::NotAccepting => StatusCode::FORBIDDEN,
            GridError::WrongOffset { expected, .. } => {
                let offset = serde_json::json!(expected);
                return ApiError::new(StatusCode::CONFLICT, e.to_string()).with("offset", offset);
            }
            GridError::Busy { .. } => StatusCode::CONFLICT,
            GridError::HashMismatch { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            GridError::Io { source, .. } if triplicate::fsutil::is_no_space(source) => {
                StatusCode::INSUFFICIENT_STORAGE
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        if status == StatusCode::BAD_REQUEST {
            tracing::warn!("GRID: refused a request: {e}");
        }
        ApiError::new(status, e.to_string())
    }
}

/// A GRID failure as an answer.
fn answer(e: GridError) -> Response {
    ApiError::from(e).into_response()
}

/// Runs `f` with the home opened, on a thread that may block; a failure is answered.
async fn with_home<T: Send + 'static>(
    state: &SharedState,
    f: impl FnOnce(&Triplicate) -> Result<T, GridError> + Send + 'static,
) -> Result<T, Response> {
    crate::api::with_home(state, move |t| Ok(f(t)?))
        .await
        .map_err(IntoResponse::into_response)
}

async fn hello(State(state): State<SharedState>) -> Response {
    match with_home(&state, grid::log::hello).await {
        Ok(h) => Json(h).into_response(),
        Err(r) => r,
    }
}

#[derive(Deserialize)]
struct ChangesQuery {
    #[serde(default)]
    since: i64,
    limit: Option<usize>,
}

async fn changes(State(state): State<SharedState>, Query(q): Query<ChangesQuery>) -> Response {
    let limit = q.limit.unwrap_or(grid::FEED_DEFAULT);
    match with_home(&state, move |t| grid::log::feed(t, q.since, limit)).await {
        Ok(page) => Json(page).into_response(),
        Err(r) => r,
    }
}

async fn photo(State(state): State<SharedState>, Path(hash): Path<String>) -> Response {
    let hash = match grid::names::hash(&hash) {
        Ok(h) => h,
        Err(e) => return answer(e),
    };
    let inbox = state.clone();
    match with_home(&state, move |t| inbox.inbox.state(t, &hash)).await {
        Ok(Some(s)) => Json(s).into_response(),
        Ok(None) => refuse(StatusCode::NOT_FOUND, "this node has none of that photo"),
        Err(r) => r,
    }
}

/// `bytes FIRST-LAST/TOTAL` → (first, total).
fn content_range(headers: &HeaderMap, len: usize) -> Result<(u64, u64), GridError> {
    let bad = || {
        GridError::BadRequest(
            "a piece needs `Content-Range: bytes FIRST-LAST/TOTAL` matching its body".into(),
        )
    };
    let text = headers
        .get(header::CONTENT_RANGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("bytes "))
        .ok_or_else(bad)?;
    let (range, total) = text.split_once('/').ok_or_else(bad)?;
    let (first, last) = range.split_once('-').ok_or_else(bad)?;
    let (first, last, total): (u64, u64, u64) = (
        first.parse().map_err(|_| bad())?,
        last.parse().map_err(|_| bad())?,
        total.parse().map_err(|_| bad())?,
    );
    let fits = if total == 0 {
        len == 0 && first == 0
    } else {
        last >= first && last - first + 1 == len as u64 && last < total
    };
    if fits { Ok((first, total)) } else { Err(bad()) }
}

fn header_text(headers: &HeaderMap, name: &str) -> Result<String, GridError> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .ok_or_else(|| GridError::BadRequest(format!("a piece needs the {name} header")))
}

async fn upload(
    State(state): State<SharedState>,
    Path(hash): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let body = match body {
        Ok(b) => b,
        Err(e) => return refuse(e.status(), &e.body_text()),
    };
    let parsed = (|| {
        let hash = grid::names::hash(&hash)?;
        let (offset, total) = content_range(&headers, body.len())?;
        let name = header_text(&headers, "Triplicate-Name")?;
        let name = percent_encoding::percent_decode_str(&name)
            .decode_utf8()
            .map_err(|_| GridError::BadRequest("Triplicate-Name is not UTF-8".into()))?
            .into_owned();
        let node = header_text(&headers, "Triplicate-Node")?;
        let captured = headers
            .get("Triplicate-Captured")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        Ok::<_, GridError>((hash, offset, total, name, node, captured))
    })();
    let (hash, offset, total, name, node, captured) = match parsed {
        Ok(p) => p,
        Err(e) => return answer(e),
    };
    let shared = state.clone();
    let result = with_home(&state, move |t| {
        shared.inbox.receive(
            t,
            &Upload {
                hash,
                node: &node,
                name: &name,
                captured: captured.as_deref(),
                offset,
                total,
                bytes: &body,
            },
        )
    })
    .await;
    match result {
        Ok(Received::Partial(offset)) => (
            StatusCode::ACCEPTED,
            Json(serde_json::json!({ "offset": offset })),
        )
            .into_response(),
        Ok(Received::Stored(path)) => {
            state.service.announce(Change::Status);
            let name = String::from_utf8_lossy(path.as_bytes()).into_owned();
            (
                StatusCode::CREATED,
                Json(serde_json::json!({ "stored": name })),
            )
                .into_response()
        }
        Ok(Received::Held) => Json(serde_json::json!({ "held": true })).into_response(),
        Err(r) => r,
    }
}

// ---- the page's view ---------------------------------------------------------------

async fn grid_status(
    State(state): State<SharedState>,
) -> Result<Json<grid::status::GridStatus>, ApiError> {
    let home = state.home.clone();
    let status = tokio::task::spawn_blocking(move || {
        let t = Triplicate::open(&home)?;
        grid::status::status(&t).map_err(ApiError::internal)
    })
    .await
    .map_err(ApiError::internal)??;
    Ok(Json(status))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPeer {
    url: String,
    token: String,
    /// The peer's certificate fingerprint, for an https:// peer.
    #[serde(default)]
    fingerprint: Option<String>,
    #[serde(default)]
    sync_photos: bool,
}

async fn add_peer(
    State(state): State<SharedState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<triplicate::config::PeerConfig>), ApiError> {
    let body: NewPeer = crate::api::parse(body, None)?;
    let home = state.home.clone();
    let peer = tokio::task::spawn_blocking(move || {
        let fingerprint = body.fingerprint.as_deref().filter(|f| !f.trim().is_empty());
        grid::peer::add(&home, &body.url, &body.token, fingerprint, body.sync_photos)
            .map_err(ApiError::peer)
    })
    .await
    .map_err(ApiError::internal)??;
    tracing::info!(peer = %peer.name, url = %peer.url, "GRID peer added from the page");
    state.service.announce(Change::Config);
    Ok((StatusCode::CREATED, Json(peer)))
}

async fn remove_peer(
    State(state): State<SharedState>,
    Path(name): Path<String>,
) -> Result<Json<triplicate::config::PeerConfig>, ApiError> {
    let home = state.home.clone();
    let peer = tokio::task::spawn_blocking(move || {
        grid::peer::remove(&home, &name).map_err(ApiError::peer)
    })
    .await
    .map_err(ApiError::internal)??;
    state.service.announce(Change::Config);
    Ok(Json(peer))
}
