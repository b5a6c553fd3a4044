//! The JSON API under `/api/v1`: status, coverage, destinations, operations, warnings,
//! jobs, actions and notification channels. Each handler opens the home, calls the library on a blocking
//! thread, and answers JSON; errors answer `{"error": "…"}` with a status that says
//! whose fault it was (400 bad input, 404 unknown name, 500 the machine).
//!
//! Nothing here returns a secret: destinations are answered through
//! [`DestinationView`], which lists exactly what the page may see, and the server's
//! own settings (the token file) are never answered at all.

use axum::Json;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use triplicate::catalog::CatalogError;
use triplicate::destination::MediaKind;
use triplicate::home::{OpenError, Triplicate};
use triplicate::service::{Action, Change, JobInfo};
use triplicate::setup::{self, DestinationEdit, NewDestination, SetupError};
use triplicate::status::{self, StatusReport};

use crate::SharedState;
use crate::guard::refuse;
use crate::table::Table;

mod actions;
mod coverage;
mod destinations;
mod log;
mod notify;
pub(crate) mod session;

use actions::*;
use coverage::*;
pub use destinations::DestinationView;
use destinations::*;
use log::*;
use notify::*;
use session::*;

/// The API's routes, below `/api/v1` (the page's GRID routes included).
pub fn table() -> Table<SharedState> {
    Table::new("/api/v1")
        .post("/session", sign_in)
        .delete("/session", sign_out)
        .get("/status", get_status)
        .get("/coverage", coverage)
        .get("/coverage/at-risk", at_risk)
        .get("/deleted", deleted)
        .get("/destinations", list_destinations)
        .post("/destinations", add_destination)
        .get("/destinations/{name}", get_destination)
        .patch("/destinations/{name}", edit_destination)
        .delete("/destinations/{name}", remove_destination)
        .post("/destinations/{name}/enable", enable_destination)
        .post("/destinations/{name}/disable", disable_destination)
        .get("/operations", operations)
        .get("/warnings", warnings)
        .post("/warnings/{id}/acknowledge", acknowledge)
        .get("/ingests", ingests)
        .get("/jobs", jobs)
        .get("/jobs/{id}", job)
        .post("/actions/backup-existing", backup_existing)
        .post("/actions/verify", verify_now)
        .post("/actions/rescan", rescan)
        .get("/notify/channels", list_channels)
        .post("/notify/channels", add_channel)
        .delete("/notify/channels/{name}", remove_channel)
        .post("/notify/test", test_channels)
        .merge(crate::grid::page_table())
}

/// What an unknown API path is answered.
pub async fn no_such_route() -> Response {
    refuse(StatusCode::NOT_FOUND, "no such API route")
}

/// An API failure, answered as `{"error": message}` (and any `extra` fields). The
/// machine's own failures (500) are logged with their words and answered with a
/// generic message: what went wrong inside the service is for its log, not for every
/// client.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
    extra: Option<(&'static str, serde_json::Value)>,
}

/// What a client is told of a failure inside the service.
pub const INTERNAL_ERROR: &str = "the service failed to answer; its log says why (the terminal running `triplicate run`, or journalctl)";

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
            extra: None,
        }
    }

    /// Adds a field to the answer beside `error`.
    pub(crate) fn with(mut self, key: &'static str, value: serde_json::Value) -> ApiError {
        self.extra = Some((key, value));
        self
    }

    /// The machine's fault.
    pub(crate) fn internal(e: impl ToString) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }

    /// A failure to reach or set up a GRID peer: 400 for what the user gave, 502 for
    /// what the peer answered or did not.
    pub(crate) fn peer(e: triplicate::grid::GridError) -> ApiError {
        use triplicate::grid::GridError as G;
        let status = match &e {
            G::Setup(_) | G::Config(_) | G::BadName { .. } | G::BadRequest(_) => {
                StatusCode::BAD_REQUEST
            }
            G::Unreachable { .. } | G::Refused { .. } | G::Protocol { .. } => {
                StatusCode::BAD_GATEWAY
            }
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status == StatusCode::INTERNAL_SERVER_ERROR {
            tracing::error!("answering 500: {}", self.message);
            return refuse(self.status, INTERNAL_ERROR);
        }
        let mut body = serde_json::json!({ "error": self.message });
        if let Some((key, value)) = self.extra {
            body[key] = value;
        }
        (self.status, Json(body)).into_response()
    }
}

impl From<tokio::task::JoinError> for ApiError {
    fn from(e: tokio::task::JoinError) -> Self {
        ApiError::internal(format!("a request's work stopped: {e}"))
    }
}

impl From<OpenError> for ApiError {
    fn from(e: OpenError) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

impl From<CatalogError> for ApiError {
    fn from(e: CatalogError) -> Self {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string())
    }
}

impl From<SetupError> for ApiError {
    fn from(e: SetupError) -> Self {
        use triplicate::fault::{Classify, Fault};
        let status = match (&e, e.fault()) {
            (_, Fault::NotFound) => StatusCode::NOT_FOUND,
            (_, Fault::Usage) => StatusCode::BAD_REQUEST,
            (SetupError::Destination(_) | SetupError::Unhealthy { .. }, _) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            (_, Fault::Failed) => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

type ApiResult<T> = Result<Json<T>, ApiError>;

/// A request body: read within the size limit (413 beyond it), then parsed as JSON
/// (400 with serde's words when it does not fit). An empty body is `T::default()`
/// where there is one.
pub(crate) fn parse<T: serde::de::DeserializeOwned>(
    body: Result<Bytes, BytesRejection>,
    empty: Option<T>,
) -> Result<T, ApiError> {
    let bytes = body.map_err(|e| ApiError::new(e.status(), e.body_text()))?;
    if bytes.iter().all(u8::is_ascii_whitespace)
        && let Some(default) = empty
    {
        return Ok(default);
    }
    serde_json::from_slice(&bytes)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("the request body: {e}")))
}

/// Runs `f` with the home opened, on a thread that may block: the one way a handler
/// reaches the library (a library error becomes an [`ApiError`] through `From`).
pub(crate) async fn with_home<T: Send + 'static>(
    state: &SharedState,
    f: impl FnOnce(&Triplicate) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let home = state.home.clone();
    blocking(move || f(&Triplicate::open(&home)?)).await
}

/// Runs `f` on a thread that may block.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await?
}
