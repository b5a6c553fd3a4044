//! `GET /status`, `/coverage`, `/coverage/at-risk` and `/deleted`: what is safe and what
//! is at risk, as the page shows it.

use super::*;

/// `status` as the CLI shows it, with each destination's live state: "backing up"
/// while a job moves bytes there.
#[derive(Serialize)]
pub(super) struct StatusAnswer {
    #[serde(flatten)]
    report: StatusReport,
    version: &'static str,
    /// Unix seconds when the service started.
    service_started: i64,
    jobs: Vec<JobInfo>,
    /// What keeps the service from working, if anything (a full home disk).
    alarm: Option<triplicate::service::Alarm>,
}

pub(super) async fn get_status(State(state): State<SharedState>) -> ApiResult<StatusAnswer> {
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
pub(super) struct CoverageAnswer {
    summary: triplicate::policy::CoverageSummary,
    policy: triplicate::config::Policy,
    folders: Vec<status::FolderCoverage>,
}

pub(super) async fn coverage(State(state): State<SharedState>) -> ApiResult<CoverageAnswer> {
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
pub(super) async fn deleted(
    State(state): State<SharedState>,
) -> ApiResult<Vec<triplicate::restore::Listed>> {
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
pub(super) struct AtRiskQuery {
    library: Option<String>,
    folder: Option<String>,
    #[serde(default)]
    offset: usize,
    limit: Option<usize>,
}

#[derive(Serialize)]
pub(super) struct AtRiskAnswer {
    total: usize,
    offset: usize,
    photos: Vec<status::AtRiskPhoto>,
}

pub(super) async fn at_risk(
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
