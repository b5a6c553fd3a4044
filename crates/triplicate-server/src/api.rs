//! The JSON API under `/api/v1`: status, coverage, destinations, operations, warnings,
//! jobs and actions. Each handler opens the home, calls the library on a blocking
//! thread, and answers JSON; errors answer `{"error": "…"}` with a status that says
//! whose fault it was (400 bad input, 404 unknown name, 500 the machine).
//!
//! Nothing here returns a secret: destinations are answered through
//! [`DestinationView`], which lists exactly what the page may see, and the server's
//! own settings (the token file) are never answered at all.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{FromRequest, Path, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};
use triplicate::catalog::CatalogError;
use triplicate::destination::MediaKind;
use triplicate::home::{OpenError, Triplicate};
use triplicate::service::{Action, Change, JobInfo};
use triplicate::setup::{self, DestinationEdit, NewDestination, SetupError};
use triplicate::status::{self, StatusReport};

use crate::SharedState;
use crate::guard::{COOKIE, refuse};

pub fn routes() -> Router<SharedState> {
    Router::new()
        .route("/session", post(sign_in))
        .route("/status", get(get_status))
        .route("/coverage", get(coverage))
        .route("/coverage/at-risk", get(at_risk))
        .route("/deleted", get(deleted))
        .route(
            "/destinations",
            get(list_destinations).post(add_destination),
        )
        .route(
            "/destinations/{name}",
            get(get_destination)
                .patch(edit_destination)
                .delete(remove_destination),
        )
        .route("/destinations/{name}/enable", post(enable_destination))
        .route("/destinations/{name}/disable", post(disable_destination))
        .route("/operations", get(operations))
        .route("/warnings", get(warnings))
        .route("/warnings/{id}/acknowledge", post(acknowledge))
        .route("/ingests", get(ingests))
        .route("/jobs", get(jobs))
        .route("/jobs/{id}", get(job))
        .route("/actions/backup-existing", post(backup_existing))
        .route("/actions/verify", post(verify_now))
        .route("/actions/rescan", post(rescan))
        .merge(crate::grid::page_routes())
        .fallback(|| async { refuse(StatusCode::NOT_FOUND, "no such API route") })
}

/// An API failure, answered as `{"error": message}`.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
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
        refuse(self.status, &self.message)
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

/// Runs `f` with the home opened, on a thread that may block.
pub(crate) async fn with_home<T: Send + 'static>(
    state: &SharedState,
    f: impl FnOnce(&Triplicate) -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    let home = state.home.clone();
    tokio::task::spawn_blocking(move || {
        let t = Triplicate::open(&home)?;
        f(&t)
    })
    .await
    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
}

/// Runs `f` on a thread that may block.
pub(crate) async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
}

// ---- session ----------------------------------------------------------------------

#[derive(Deserialize)]
struct SignIn {
    token: String,
}

/// Takes the token as JSON (`{"token": …}`) or from the sign-in form, and sets the
/// page's cookie: HttpOnly (scripts cannot read it) and SameSite=Strict (other sites
/// cannot send it).
async fn sign_in(State(state): State<SharedState>, request: axum::extract::Request) -> Response {
    let form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    let given = if form {
        axum::extract::Form::<SignIn>::from_request(request, &state)
            .await
            .ok()
            .map(|f| f.0.token)
    } else {
        Json::<SignIn>::from_request(request, &state)
            .await
            .ok()
            .map(|j| j.0.token)
    };
    let Some(token) = given else {
        return refuse(
            StatusCode::UNAUTHORIZED,
            "an access token is required: send {\"token\": \"…\"}",
        );
    };
    if !state.access.sign_in(&token) {
        tracing::warn!("refused a sign-in with a wrong token");
        if form {
            return crate::page::sign_in_page(StatusCode::UNAUTHORIZED, true);
        }
        return refuse(StatusCode::UNAUTHORIZED, "wrong token");
    }
    let cookie = format!(
        "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age=31536000",
        token.trim()
    );
    let mut response = if form {
        (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response()
    } else {
        Json(serde_json::json!({ "ok": true })).into_response()
    };
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}

// ---- status and coverage ----------------------------------------------------------

/// `status` as the CLI shows it, with each destination's live state: "backing up"
/// while a job moves bytes there.
#[derive(Serialize)]
struct StatusAnswer {
    #[serde(flatten)]
    report: StatusReport,
    version: &'static str,
    /// Unix seconds when the service started.
    service_started: i64,
    jobs: Vec<JobInfo>,
    /// What keeps the service from working, if anything (a full home disk).
    alarm: Option<triplicate::service::Alarm>,
}

async fn get_status(State(state): State<SharedState>) -> ApiResult<StatusAnswer> {
    let active = state.service.active_destinations();
    let mut report = with_home(&state, |t| Ok(status::status(t, false)?)).await?;
    for d in &mut report.destinations {
        if d.state.is_ok() && active.contains(&d.name) {
            d.state = triplicate::vocab::DestState::BackingUp;
        }
    }
    Ok(Json(StatusAnswer {
        report,
        version: env!("CARGO_PKG_VERSION"),
        service_started: state
            .service
            .started()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0),
        jobs: state.service.jobs(),
        alarm: state.service.alarm(),
    }))
}

#[derive(Serialize)]
struct CoverageAnswer {
    summary: triplicate::policy::CoverageSummary,
    policy: triplicate::config::Policy,
    folders: Vec<status::FolderCoverage>,
}

async fn coverage(State(state): State<SharedState>) -> ApiResult<CoverageAnswer> {
    let answer = with_home(&state, |t| {
        // One assessment for the totals and the folders.
        let assessment = triplicate::policy::assess(&t.catalog, &t.config)?;
        Ok(CoverageAnswer {
            folders: status::coverage_by_folder(t, &assessment)?,
            summary: assessment.summary,
            policy: t.config.policy,
        })
    })
    .await?;
    Ok(Json(answer))
}

/// The photos deleted from the library that the backups still hold: what
/// `triplicate restore --deleted --list` prints.
async fn deleted(State(state): State<SharedState>) -> ApiResult<Vec<triplicate::restore::Listed>> {
    let listed = with_home(&state, |t| {
        let options = triplicate::restore::RestoreOptions {
            deleted: true,
            list: true,
            ..Default::default()
        };
        triplicate::restore::restore(t, &options, &triplicate::progress::NoProgress)
            .map(|r| r.listed)
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))
    })
    .await?;
    Ok(Json(listed))
}

#[derive(Deserialize)]
struct AtRiskQuery {
    library: Option<String>,
    folder: Option<String>,
    #[serde(default)]
    offset: usize,
    limit: Option<usize>,
}

#[derive(Serialize)]
struct AtRiskAnswer {
    total: usize,
    offset: usize,
    photos: Vec<status::AtRiskPhoto>,
}

async fn at_risk(
    State(state): State<SharedState>,
    Query(q): Query<AtRiskQuery>,
) -> ApiResult<AtRiskAnswer> {
    let limit = q.limit.unwrap_or(100).min(1000);
    let answer = with_home(&state, move |t| {
        let all = status::at_risk(t, q.library.as_deref(), q.folder.as_deref())?;
        Ok(AtRiskAnswer {
            total: all.len(),
            offset: q.offset,
            photos: all.into_iter().skip(q.offset).take(limit).collect(),
        })
    })
    .await?;
    Ok(Json(answer))
}

// ---- destinations -----------------------------------------------------------------

/// A destination as the page sees it: its declaration, never a credential.
#[derive(Serialize)]
pub struct DestinationView {
    name: String,
    target: String,
    id: String,
    media: MediaKind,
    site: String,
    offsite: bool,
    enabled: bool,
    automatic: bool,
    layout: String,
    concurrency: Option<usize>,
    offline: bool,
    refresh_every: Option<String>,
}

impl From<&triplicate::config::DestinationConfig> for DestinationView {
    fn from(d: &triplicate::config::DestinationConfig) -> Self {
        DestinationView {
            name: d.name.clone(),
            target: d.target.to_string(),
            id: d.id.clone(),
            media: d.media,
            site: d.site.clone(),
            offsite: d.is_offsite(),
            enabled: d.enabled,
            automatic: d.automatic,
            layout: d.layout.to_string(),
            concurrency: d.concurrency,
            offline: d.offline,
            refresh_every: d.refresh_every.as_ref().map(|s| s.to_string()),
        }
    }
}

async fn list_destinations(State(state): State<SharedState>) -> ApiResult<Vec<DestinationView>> {
    let home = state.home.clone();
    let list = blocking(move || {
        let config = triplicate::config::Config::load(&home.config)
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        Ok(config
            .destinations
            .iter()
            .map(DestinationView::from)
            .collect())
    })
    .await?;
    Ok(Json(list))
}

async fn get_destination(
    State(state): State<SharedState>,
    Path(name): Path<String>,
) -> ApiResult<DestinationView> {
    let home = state.home.clone();
    let view = blocking(move || {
        let config = triplicate::config::Config::load(&home.config)
            .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?;
        config
            .destination(&name)
            .map(DestinationView::from)
            .ok_or_else(|| {
                ApiError::new(
                    StatusCode::NOT_FOUND,
                    format!("no destination named '{name}'"),
                )
            })
    })
    .await?;
    Ok(Json(view))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewDestinationBody {
    name: String,
    target: String,
    media: MediaKind,
    site: String,
    layout: Option<String>,
    #[serde(default = "yes")]
    automatic: bool,
    /// A cold destination (see `dest add --offline`).
    #[serde(default)]
    offline: bool,
    /// Make a missing target folder (see `dest add --create`); without it a missing
    /// folder is refused, as on the command line.
    #[serde(default)]
    create: bool,
}

fn yes() -> bool {
    true
}

/// Adds a destination exactly as `triplicate dest add` does: the marker is written
/// (or adopted) and the configuration checked before it is saved.
async fn add_destination(
    State(state): State<SharedState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<DestinationView>), ApiError> {
    let body: NewDestinationBody = parse(body, None)?;
    let home = state.home.clone();
    let added = with_home(&state, move |t| {
        let new = NewDestination {
            layout: body.layout.filter(|l| !l.trim().is_empty()),
            automatic: body.automatic,
            offline: body.offline,
            create: body.create,
            ..NewDestination::new(
                body.name.trim(),
                body.target.trim(),
                body.media,
                body.site.trim(),
            )
        };
        if new.site.is_empty() {
            return Err(ApiError::new(
                StatusCode::BAD_REQUEST,
                "the site must be 'onsite' or the name of another site",
            ));
        }
        Ok(setup::add_destination(&home, &t.config.node, &new)?)
    })
    .await?;
    tracing::info!(destination = %added.name, target = %added.target, "destination added from the page");
    state.service.announce(Change::Config);
    state.service.request(Action::Rescan);
    Ok((StatusCode::CREATED, Json(DestinationView::from(&added))))
}

async fn edit_destination(
    State(state): State<SharedState>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<DestinationView> {
    let edit: DestinationEdit = parse(body, None)?;
    change_destination(state, name, edit).await
}

async fn change_destination(
    state: SharedState,
    name: String,
    edit: DestinationEdit,
) -> ApiResult<DestinationView> {
    let home = state.home.clone();
    let wakes = edit.enabled == Some(true) || edit.automatic == Some(true);
    let edited = blocking(move || Ok(setup::edit_destination(&home, &name, &edit)?)).await?;
    state.service.announce(Change::Config);
    if wakes {
        state.service.request(Action::Rescan);
    }
    Ok(Json(DestinationView::from(&edited)))
}

/// Forgets a destination; its data stays where it is.
async fn remove_destination(
    State(state): State<SharedState>,
    Path(name): Path<String>,
) -> ApiResult<DestinationView> {
    let home = state.home.clone();
    let removed = blocking(move || Ok(setup::remove_destination(&home, &name)?)).await?;
    state.service.announce(Change::Config);
    Ok(Json(DestinationView::from(&removed)))
}

async fn enable_destination(
    state: State<SharedState>,
    name: Path<String>,
) -> ApiResult<DestinationView> {
    set_enabled(state, name, true).await
}

async fn disable_destination(
    state: State<SharedState>,
    name: Path<String>,
) -> ApiResult<DestinationView> {
    set_enabled(state, name, false).await
}

async fn set_enabled(
    State(state): State<SharedState>,
    Path(name): Path<String>,
    on: bool,
) -> ApiResult<DestinationView> {
    let edit = DestinationEdit {
        enabled: Some(on),
        ..Default::default()
    };
    change_destination(state, name, edit).await
}

// ---- operations, warnings, jobs ---------------------------------------------------

#[derive(Deserialize)]
struct OperationsQuery {
    /// Only operations newer than this id (live updates), oldest first.
    after: Option<i64>,
    /// Only operations older than this id (the next page), newest first.
    before: Option<i64>,
    limit: Option<usize>,
    #[serde(default)]
    errors: bool,
}

#[derive(Serialize)]
struct OperationsAnswer {
    operations: Vec<triplicate::catalog::LoggedOperation>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    next_before: Option<i64>,
}

async fn operations(
    State(state): State<SharedState>,
    Query(q): Query<OperationsQuery>,
) -> ApiResult<OperationsAnswer> {
    let limit = q.limit.unwrap_or(50).clamp(1, 1000);
    let answer = with_home(&state, move |t| {
        let operations = match q.after {
            Some(after) => {
                let mut ops = t.catalog.operations(after, limit, q.errors)?;
                ops.reverse();
                ops
            }
            None => t.catalog.operations_page(q.before, limit, q.errors)?,
        };
        let next_before = (q.after.is_none() && operations.len() == limit)
            .then(|| operations.last().map(|o| o.id))
            .flatten();
        Ok(OperationsAnswer {
            operations,
            next_before,
        })
    })
    .await?;
    Ok(Json(answer))
}

async fn warnings(State(state): State<SharedState>) -> ApiResult<Vec<status::ExplainedWarning>> {
    let list = with_home(&state, |t| Ok(status::warnings(t)?)).await?;
    Ok(Json(list))
}

async fn acknowledge(
    State(state): State<SharedState>,
    Path(id): Path<i64>,
) -> ApiResult<serde_json::Value> {
    let found = with_home(&state, move |t| Ok(t.catalog.acknowledge_warning(id)?)).await?;
    if !found {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no open warning with id {id}"),
        ));
    }
    state.service.announce(Change::Warnings);
    Ok(Json(serde_json::json!({ "acknowledged": id })))
}

/// The newest card ingests with their verdicts, newest first.
async fn ingests(
    State(state): State<SharedState>,
) -> ApiResult<Vec<triplicate::ingest::IngestSummary>> {
    let recent = with_home(&state, |t| Ok(triplicate::ingest::recent(t, 10)?)).await?;
    Ok(Json(recent))
}

async fn jobs(State(state): State<SharedState>) -> Json<Vec<JobInfo>> {
    Json(state.service.jobs())
}

async fn job(State(state): State<SharedState>, Path(id): Path<u64>) -> ApiResult<JobInfo> {
    state
        .service
        .job(id)
        .map(Json)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no job {id}")))
}

// ---- actions ----------------------------------------------------------------------

fn accepted(job: JobInfo) -> (StatusCode, Json<JobInfo>) {
    (StatusCode::ACCEPTED, Json(job))
}

async fn backup_existing(State(state): State<SharedState>) -> (StatusCode, Json<JobInfo>) {
    accepted(state.service.request(Action::BackupExisting))
}

async fn rescan(State(state): State<SharedState>) -> (StatusCode, Json<JobInfo>) {
    accepted(state.service.request(Action::Rescan))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct VerifyBody {
    /// Percent of the copies to re-read; every copy when absent.
    sample_percent: Option<f64>,
    /// Rewrite bad copies from good ones (default true).
    repair: Option<bool>,
}

async fn verify_now(
    State(state): State<SharedState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<JobInfo>), ApiError> {
    let body: VerifyBody = parse(body, Some(VerifyBody::default()))?;
    if let Some(p) = body.sample_percent
        && !(p > 0.0 && p <= 100.0)
    {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "sample_percent must be more than 0 and at most 100",
        ));
    }
    Ok(accepted(state.service.request(Action::Verify {
        sample_percent: body.sample_percent,
        repair: body.repair.unwrap_or(true),
    })))
}
