//! The Backup window: Triplicate's HTTP API and status page.
//!
//! A thin axum layer over the `triplicate` library, served by `triplicate run`:
//! - [`app`] builds the router: the JSON API under `/api/v1` ([`api`]), the live
//!   change stream (`/api/v1/events`, [`events`]), Prometheus metrics (`/metrics`,
//!   [`metrics`]) and the page itself with every asset embedded ([`page`]).
//! - [`grid`] serves the GRID protocol to peers under `/api/v1/grid/`, behind its own
//!   token check, and the page's view of the GRID.
//! - [`guard`] stands in front of every other route: the Host and cross-site checks
//!   that keep DNS rebinding and other sites away, and the credential (the service's
//!   token, or a session signed in with it: [`signin`]), on loopback too.
//! - [`serve`] runs it on a listener until shutdown (over TLS: [`serve_tls`]), with
//!   [`events::watch`] noticing what changes between jobs.
//!
//! The API is documented in `docs/openapi.yaml` at the repository's root.

pub mod api;
mod archives;
pub mod events;
pub mod grid;
pub mod guard;
pub mod metrics;
pub mod page;
pub mod signin;
pub mod table;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::http::{HeaderValue, StatusCode, header};
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::set_header::SetResponseHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use triplicate::home::Home;
use triplicate::service::Service;

pub use guard::Access;
use table::Table;

/// Request bodies are small JSON documents: anything larger is refused with 413.
pub const BODY_LIMIT: usize = 64 * 1024;
/// A request that takes longer than this gets 408 (the event stream is exempt).
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What every handler shares.
pub struct AppState {
    pub home: Home,
    pub service: Arc<Service>,
    pub access: Access,
    /// Turns true when the server shuts down: event streams end, the watcher stops.
    pub stopping: tokio::sync::watch::Sender<bool>,
    /// Photos peers are sending this node.
    pub inbox: triplicate::grid::transfer::Inbox,
}

impl AppState {
    pub fn new(home: Home, service: Arc<Service>, access: Access) -> SharedState {
        Arc::new(AppState {
            home,
            service,
            access,
            stopping: tokio::sync::watch::Sender::new(false),
            inbox: Default::default(),
        })
    }
}

pub type SharedState = Arc<AppState>;

/// The routes behind the page's guard and timeout: API, metrics and page.
fn timed_table() -> Table<SharedState> {
    Table::new("")
        .get("/metrics", metrics::metrics)
        .merge(page::table())
}

/// The event stream: behind the guard, without the timeout.
fn events_table() -> Table<SharedState> {
    Table::new("").get("/api/v1/events", events::stream)
}

/// Every route the server answers, as its method and path (from the same tables the
/// router is built from).
pub fn served() -> Vec<table::Served> {
    let mut served = Vec::new();
    for t in [
        api::table(),
        timed_table(),
        events_table(),
        grid::table(),
        archives::table(),
    ] {
        served.extend(t.finish().1);
    }
    served.sort();
    served
}

/// The whole router: API, events, metrics and page, behind the guard.
pub fn app(state: SharedState) -> Router {
    let (api, _) = api::table().finish();
    let (rest, _) = timed_table().finish();
    let timed = Router::new()
        .nest("/api/v1", api.fallback(api::no_such_route))
        .merge(rest)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            REQUEST_TIMEOUT,
        ));
    let page = events_table()
        .finish()
        .0
        .merge(timed)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::check,
        ))
        .layer(RequestBodyLimitLayer::new(BODY_LIMIT));
    // GRID peers: their own token, larger bodies (pieces of photos), more time.
    let grid = grid::table()
        .finish()
        .0
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            grid::authorise,
        ))
        .layer(RequestBodyLimitLayer::new(grid::BODY_LIMIT))
        .layer(axum::extract::DefaultBodyLimit::max(grid::BODY_LIMIT))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            grid::REQUEST_TIMEOUT,
        ));
    // Archives: the page's guard, but no timeout (uploads stream their body to disk).
    let archives = archives::table()
        .finish()
        .0
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            guard::check,
        ));
    Router::new()
        .merge(grid)
        .merge(archives)
        .merge(page)
        .layer(SetResponseHeaderLayer::overriding(
            header::X_CONTENT_TYPE_OPTIONS,
            HeaderValue::from_static("nosniff"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::REFERRER_POLICY,
            HeaderValue::from_static("no-referrer"),
        ))
        .layer(SetResponseHeaderLayer::overriding(
            header::X_FRAME_OPTIONS,
            HeaderValue::from_static("DENY"),
        ))
        .with_state(state)
}

/// Serves `app` over TLS (`tls`: [`triplicate::tls::server_config`]) on `listener`
/// until `shutdown` completes, as [`serve`] does over plain HTTP. Each connection's
/// handshake and requests run in a task of their own; one that fails its handshake
/// (a client that does not trust the certificate) is logged and dropped.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    tls: Arc<rustls::ServerConfig>,
    state: SharedState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let watcher = tokio::spawn(events::watch(state.clone()));
    let acceptor = tokio_rustls::TlsAcceptor::from(tls);
    let router = app(state.clone());
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let (tcp, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!("cannot accept a connection: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        let acceptor = acceptor.clone();
        let router = router.clone();
        tokio::spawn(async move {
            let stream = match acceptor.accept(tcp).await {
                Ok(stream) => stream,
                Err(e) => {
                    tracing::info!(%peer, "a TLS handshake failed: {e}");
                    return;
                }
            };
            let service = hyper::service::service_fn(
                move |mut request: axum::extract::Request<hyper::body::Incoming>| {
                    request
                        .extensions_mut()
                        .insert(axum::extract::ConnectInfo(peer));
                    tower::ServiceExt::oneshot(router.clone(), request)
                },
            );
            let served = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new())
                .serve_connection_with_upgrades(TokioIo::new(stream), service)
                .await;
            if let Err(e) = served {
                tracing::debug!(%peer, "a connection ended: {e}");
            }
        });
    }
    state.stopping.send_replace(true);
    let _ = watcher.await;
    Ok(())
}

/// Serves `app` on `listener` until `shutdown` completes; [`events::watch`] runs
/// beside it, announcing changes made outside the jobs.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: SharedState,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let watcher = tokio::spawn(events::watch(state.clone()));
    let stopping = state.clone();
    let after = state.clone();
    let result = axum::serve(
        listener,
        app(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        stopping.stopping.send_replace(true);
    })
    .await;
    after.stopping.send_replace(true);
    let _ = watcher.await;
    result
}
