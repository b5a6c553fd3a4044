//! `GET /operations`, `/warnings`, `/ingests` and `/jobs`: what happened and what is
//! happening; warnings are acknowledged here.

use super::*;

#[derive(Deserialize)]
pub(super) struct OperationsQuery {
    /// Only operations newer than this id (live updates), oldest first.
    after: Option<i64>,
    /// Only operations older than this id (the next page), newest first.
    before: Option<i64>,
    limit: Option<usize>,
    #[serde(default)]
    errors: bool,
}

#[derive(Serialize)]
pub(super) struct OperationsAnswer {
    operations: Vec<triplicate::catalog::LoggedOperation>,
    /// Pass as `before` for the next (older) page; absent on the last page.
    next_before: Option<i64>,
}

pub(super) async fn operations(
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

pub(super) async fn warnings(
    State(state): State<SharedState>,
) -> ApiResult<Vec<status::ExplainedWarning>> {
    let list = with_home(&state, |t| Ok(status::warnings(t)?)).await?;
    Ok(Json(list))
}

pub(super) async fn acknowledge(
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
pub(super) async fn ingests(
    State(state): State<SharedState>,
) -> ApiResult<Vec<triplicate::ingest::IngestSummary>> {
    let recent = with_home(&state, |t| Ok(triplicate::ingest::recent(t, 10)?)).await?;
    Ok(Json(recent))
}

pub(super) async fn jobs(State(state): State<SharedState>) -> Json<Vec<JobInfo>> {
    Json(state.service.jobs())
}

pub(super) async fn job(
    State(state): State<SharedState>,
    Path(id): Path<u64>,
) -> ApiResult<JobInfo> {
    state
        .service
        .job(id)
        .map(Json)
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, format!("no job {id}")))
}
