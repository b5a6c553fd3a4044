//! `POST /actions/…`: work the page asks the service to do, answered 202 with its job.

use super::*;

pub(super) fn accepted(job: JobInfo) -> (StatusCode, Json<JobInfo>) {
    (StatusCode::ACCEPTED, Json(job))
}

pub(super) async fn backup_existing(
    State(state): State<SharedState>,
) -> (StatusCode, Json<JobInfo>) {
    accepted(state.service.request(Action::BackupExisting))
}

pub(super) async fn rescan(State(state): State<SharedState>) -> (StatusCode, Json<JobInfo>) {
    accepted(state.service.request(Action::Rescan))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct VerifyBody {
    /// Percent of the copies to re-read; every copy when absent.
    sample_percent: Option<f64>,
    /// Rewrite bad copies from good ones (default true).
    repair: Option<bool>,
}

pub(super) async fn verify_now(
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
