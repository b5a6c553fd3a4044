//! Notification channels from the page: list them (without their secrets), add one,
//! forget one, send a test message. A command hook is configured in config.toml only:
//! the page never makes the machine run a program.

use super::*;
use triplicate::alerts::Notifier;
use triplicate::config::{ChannelConfig, ChannelKind, SmtpSecurity};
use triplicate::vocab::{EventKind, Severity};

/// A channel as the page sees it: where messages go, without paths or tokens; a
/// webhook's or ping URL's path (often the secret itself) is left out.
#[derive(Debug, Serialize)]
pub struct ChannelView {
    name: String,
    kind: ChannelKind,
    target: String,
    to: Vec<String>,
    events: Vec<EventKind>,
    severity: Severity,
}

impl From<&ChannelConfig> for ChannelView {
    fn from(c: &ChannelConfig) -> Self {
        let target = match (c.kind, c.url.as_deref()) {
            (ChannelKind::Command, _) => "a command".to_string(),
            (_, Some(url)) => match url.split_once("://") {
                Some((scheme, rest)) => {
                    let host = rest.split('/').next().unwrap_or("");
                    let host = host.rsplit('@').next().unwrap_or(host);
                    format!("{scheme}://{host}")
                }
                None => String::new(),
            },
            (_, None) => String::new(),
        };
        ChannelView {
            name: c.name.clone(),
            kind: c.kind,
            target,
            to: c.to.clone(),
            events: c.events.clone(),
            severity: c.severity,
        }
    }
}

pub(super) async fn list_channels(State(state): State<SharedState>) -> ApiResult<Vec<ChannelView>> {
    let channels = with_home(&state, |t| {
        Ok(t.config
            .notify
            .channels
            .iter()
            .map(ChannelView::from)
            .collect())
    })
    .await?;
    Ok(Json(channels))
}

/// A channel to add, as the page's form sends it.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct NewChannel {
    name: String,
    kind: ChannelKind,
    url: String,
    #[serde(default)]
    from: Option<String>,
    #[serde(default)]
    to: Vec<String>,
    #[serde(default)]
    security: Option<SmtpSecurity>,
    #[serde(default)]
    credentials_file: Option<std::path::PathBuf>,
    #[serde(default)]
    events: Vec<EventKind>,
    #[serde(default)]
    severity: Severity,
}

pub(super) async fn add_channel(
    State(state): State<SharedState>,
    body: Result<Bytes, BytesRejection>,
) -> Result<(StatusCode, Json<ChannelView>), ApiError> {
    let new: NewChannel = parse(body, None)?;
    if new.kind == ChannelKind::Command {
        return Err(ApiError::new(
            StatusCode::BAD_REQUEST,
            "a command hook runs a program: add it to config.toml by hand",
        ));
    }
    let channel = ChannelConfig {
        name: new.name.trim().to_string(),
        kind: new.kind,
        url: Some(new.url.trim().to_string()),
        from: new
            .from
            .map(|f| f.trim().to_string())
            .filter(|f| !f.is_empty()),
        to: new
            .to
            .iter()
            .map(|t| t.trim().to_string())
            .filter(|t| !t.is_empty())
            .collect(),
        security: new.security,
        ca_file: None,
        credentials_file: new.credentials_file.filter(|p| !p.as_os_str().is_empty()),
        command: None,
        events: new.events,
        severity: new.severity,
    };
    let home = state.home.clone();
    let view = ChannelView::from(&channel);
    blocking(move || Ok(setup::add_channel(&home, &channel)?)).await?;
    tracing::info!(channel = %view.name, "notification channel added from the page");
    state.service.announce(Change::Config);
    Ok((StatusCode::CREATED, Json(view)))
}

pub(super) async fn remove_channel(
    State(state): State<SharedState>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    let home = state.home.clone();
    blocking(move || Ok(setup::remove_channel(&home, &name)?)).await?;
    state.service.announce(Change::Config);
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct TestRequest {
    /// One channel; every channel when absent.
    #[serde(default)]
    name: Option<String>,
}

/// How a test message went at one channel.
#[derive(Debug, Serialize)]
pub(super) struct TestResult {
    channel: String,
    sent: bool,
    error: Option<String>,
}

pub(super) async fn test_channels(
    State(state): State<SharedState>,
    body: Result<Bytes, BytesRejection>,
) -> ApiResult<Vec<TestResult>> {
    let request: TestRequest = parse(body, Some(TestRequest::default()))?;
    let results = with_home(&state, move |t| {
        let deliveries = Notifier::new(&t.config)
            .test(request.name.as_deref())
            .map_err(|e| {
                use triplicate::fault::{Classify, Fault};
                let status = match e.fault() {
                    Fault::NotFound => StatusCode::NOT_FOUND,
                    Fault::Usage => StatusCode::BAD_REQUEST,
                    Fault::Failed => StatusCode::INTERNAL_SERVER_ERROR,
                };
                ApiError::new(status, e.to_string())
            })?;
        Ok(deliveries
            .into_iter()
            .map(|d| TestResult {
                channel: d.channel,
                sent: d.result.is_ok(),
                error: d.result.err().map(|e| e.to_string()),
            })
            .collect())
    })
    .await?;
    Ok(Json(results))
}
