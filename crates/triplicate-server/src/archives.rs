//! The page's Backups panel: archives listed, estimated, created (as a job, with its
//! stages over SSE), described, verified, downloaded, deleted, pinned and uploaded.
//! Behind the page's guard, with their own body limit and no request timeout:
//! archives are large, and downloads and uploads take as long as they take.

use axum::Json;
use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use futures_util::StreamExt;
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use triplicate::archive::{self, ArchiveError, Kind, Request};
use triplicate::service::{Action, JobInfo};

use crate::SharedState;
use crate::api::{ApiError, with_home};
use crate::table::Table;

/// The largest archive that can be uploaded.
pub const UPLOAD_LIMIT: usize = 1 << 40;

pub fn table() -> Table<SharedState> {
    Table::new("")
        .get("/api/v1/archives", list)
        .post("/api/v1/archives", create)
        .post("/api/v1/archives/estimate", estimate)
        .post("/api/v1/archives/upload", upload)
        .get("/api/v1/archives/{id}", info)
        .delete("/api/v1/archives/{id}", delete)
        .post("/api/v1/archives/{id}/verify", verify)
        .get("/api/v1/archives/{id}/download", download)
        .post("/api/v1/archives/{id}/pin", pin)
        .delete("/api/v1/archives/{id}/pin", unpin)
}

impl From<ArchiveError> for ApiError {
    fn from(e: ArchiveError) -> ApiError {
        let status = match &e {
            ArchiveError::Unknown(_) => StatusCode::NOT_FOUND,
            ArchiveError::Rejected { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ArchiveError::AlreadyThere { .. } | ArchiveError::Exists { .. } => StatusCode::CONFLICT,
            ArchiveError::NoSpace { .. } => StatusCode::INSUFFICIENT_STORAGE,
            e if triplicate::fault::Classify::is_usage(e) => StatusCode::BAD_REQUEST,
            _ => StatusCode::INTERNAL_SERVER_ERROR,
        };
        ApiError::new(status, e.to_string())
    }
}

fn body<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, format!("the request body: {e}")))
}

async fn list(State(state): State<SharedState>) -> Result<Json<serde_json::Value>, ApiError> {
    with_home(&state, |t| {
        let (archives, broken) = archive::list(t)?;
        let folder = archive::folder(t);
        // Where the folder will be, if it is not there yet.
        let existing = folder.ancestors().find(|p| p.exists()).unwrap_or(&folder);
        let free = triplicate::fsutil::space(existing).ok().map(|s| s.free);
        Ok(Json(serde_json::json!({
            "free": free,
            "folder": folder,
            "archives": archives,
            "broken": broken.iter().map(|e| e.to_string()).collect::<Vec<_>>(),
        })))
    })
    .await
}

/// What to estimate: a kind, and optionally sections or folders (all when absent).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EstimateBody {
    kind: Kind,
    sections: Option<Vec<String>>,
    folders: Option<Vec<String>>,
}

/// Each part's raw and estimated compressed size. For a config archive without
/// `sections`, every declared section is estimated (the dialog's switches).
async fn estimate(
    State(state): State<SharedState>,
    bytes: axum::body::Bytes,
) -> Result<Json<Vec<archive::Estimate>>, ApiError> {
    let b: EstimateBody = body(&bytes)?;
    with_home(&state, move |t| {
        let sections = b
            .sections
            .unwrap_or_else(|| t.config.archive.sections.keys().cloned().collect());
        let request = Request {
            kind: b.kind,
            sections: if b.kind == Kind::Config {
                sections
            } else {
                Vec::new()
            },
            folders: b.folders.unwrap_or_default(),
            ..Default::default()
        };
        Ok(Json(archive::estimate(t, &request)?))
    })
    .await
}

/// Queues the archive as a job; its stages and progress come as `job` events.
async fn create(
    State(state): State<SharedState>,
    bytes: axum::body::Bytes,
) -> Result<(StatusCode, Json<JobInfo>), ApiError> {
    let request: Request = body(&bytes)?;
    // Names are checked now, so that a typo is answered rather than a failed job.
    let checked = request.clone();
    with_home(&state, move |t| {
        for name in &checked.sections {
            if !t.config.archive.sections.contains_key(name) {
                return Err(ArchiveError::UnknownSection {
                    name: name.clone(),
                    known: t
                        .config
                        .archive
                        .sections
                        .keys()
                        .cloned()
                        .collect::<Vec<_>>()
                        .join(", "),
                }
                .into());
            }
        }
        Ok(())
    })
    .await?;
    let job = state.service.request(Action::Archive { request });
    Ok((StatusCode::ACCEPTED, Json(job)))
}

async fn info(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Json<serde_json::Value>, ApiError> {
    with_home(&state, move |t| {
        let a = archive::find(t, &id)?;
        let manifest = archive::read_manifest(&a.file)?;
        let log = a
            .log
            .as_ref()
            .and_then(|p| std::fs::read_to_string(p).ok())
            .unwrap_or_default();
        Ok(Json(
            serde_json::json!({ "archive": a, "manifest": manifest, "log": log }),
        ))
    })
    .await
}

async fn verify(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Json<archive::Verified>, ApiError> {
    with_home(&state, move |t| {
        let a = archive::find(t, &id)?;
        Ok(Json(archive::verify(&a.file)?))
    })
    .await
}

async fn delete(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    with_home(&state, move |t| {
        archive::delete(t, &id)?;
        Ok(StatusCode::NO_CONTENT)
    })
    .await
}

async fn pin(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Json<archive::Listed>, ApiError> {
    with_home(&state, move |t| Ok(Json(archive::pin(t, &id)?))).await
}

async fn unpin(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Json<archive::Listed>, ApiError> {
    with_home(&state, move |t| Ok(Json(archive::unpin(t, &id)?))).await
}

/// The archive file, streamed, as an attachment under its own name.
async fn download(
    State(state): State<SharedState>,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let a = with_home(&state, move |t| Ok(archive::find(t, &id)?)).await?;
    let file = tokio::fs::File::open(&a.file)
        .await
        .map_err(ApiError::internal)?;
    let name = a
        .file
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let kind = match a.compression {
        archive::Compression::Gzip => "application/gzip",
        archive::Compression::Zstd => "application/zstd",
    };
    let mut response =
        Body::from_stream(tokio_util::io::ReaderStream::with_capacity(file, 1 << 20))
            .into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(kind));
    headers.insert(header::CONTENT_LENGTH, HeaderValue::from(a.size));
    // Archive names are ASCII letters, digits, dashes and dots.
    if let Ok(v) = HeaderValue::from_str(&format!("attachment; filename=\"{name}\"")) {
        headers.insert(header::CONTENT_DISPOSITION, v);
    }
    Ok(response)
}

/// An archive uploaded as the request body: streamed to a file in the archives
/// folder's staging area, then imported (checked in full) and listed.
async fn upload(
    State(state): State<SharedState>,
    request: axum::extract::Request,
) -> Result<(StatusCode, Json<archive::Listed>), ApiError> {
    let folder = with_home(&state, |t| Ok(archive::folder(t))).await?;
    tokio::fs::create_dir_all(&folder)
        .await
        .map_err(ApiError::internal)?;
    let part = folder.join(format!(
        ".upload-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    ));
    let written = async {
        let mut out = tokio::fs::File::create(&part)
            .await
            .map_err(ApiError::internal)?;
        let mut stream = request.into_body().into_data_stream();
        let mut total = 0usize;
        while let Some(chunk) = stream.next().await {
            let chunk = chunk.map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, e.to_string()))?;
            total += chunk.len();
            if total > UPLOAD_LIMIT {
                return Err(ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "the archive is larger than the upload limit",
                ));
            }
            out.write_all(&chunk).await.map_err(ApiError::internal)?;
        }
        out.flush().await.map_err(ApiError::internal)?;
        Ok(())
    }
    .await;
    let imported = match written {
        Ok(()) => {
            let from = part.clone();
            with_home(&state, move |t| {
                Ok(archive::import(t, &from, &archive::Limits::default())?)
            })
            .await
        }
        Err(e) => Err(e),
    };
    let _ = tokio::fs::remove_file(&part).await;
    Ok((StatusCode::CREATED, Json(imported?)))
}
