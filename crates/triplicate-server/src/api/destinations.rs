//! `/destinations`: listed, added, edited, removed, enabled and disabled from the page.
//! Answers go through [`DestinationView`], which holds nothing secret.

use super::*;

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

pub(super) async fn list_destinations(
    State(state): State<SharedState>,
) -> ApiResult<Vec<DestinationView>> {
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

pub(super) async fn get_destination(
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
pub(super) struct NewDestinationBody {
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

pub(super) fn yes() -> bool {
    true
}

/// Adds a destination exactly as `triplicate dest add` does: the marker is written
/// (or adopted) and the configuration checked before it is saved.
pub(super) async fn add_destination(
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

pub(super) async fn edit_destination(
    State(state): State<SharedState>,
    Path(name): Path<String>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<DestinationView> {
    let edit: DestinationEdit = parse(body, None)?;
    change_destination(state, name, edit).await
}

pub(super) async fn change_destination(
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
pub(super) async fn remove_destination(
    State(state): State<SharedState>,
    Path(name): Path<String>,
) -> ApiResult<DestinationView> {
    let home = state.home.clone();
    let removed = blocking(move || Ok(setup::remove_destination(&home, &name)?)).await?;
    state.service.announce(Change::Config);
    Ok(Json(DestinationView::from(&removed)))
}

pub(super) async fn enable_destination(
    state: State<SharedState>,
    name: Path<String>,
) -> ApiResult<DestinationView> {
    set_enabled(state, name, true).await
}

pub(super) async fn disable_destination(
    state: State<SharedState>,
    name: Path<String>,
) -> ApiResult<DestinationView> {
    set_enabled(state, name, false).await
}

pub(super) async fn set_enabled(
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
