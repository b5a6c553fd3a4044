//! Starting the Backup window beside the daemon: bind first (so that a port in use or
//! a missing token stops `triplicate run` before it starts), then serve on a small
//! tokio runtime of its own until the stop flag is set.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Context;
use triplicate::config::Config;
use triplicate::home::Home;
use triplicate::service::Service;
use triplicate_server::{Access, AppState};

pub struct Running {
    thread: std::thread::JoinHandle<()>,
}

impl Running {
    /// Waits for the server to finish (after the stop flag is set).
    pub fn join(self) {
        let _ = self.thread.join();
    }
}

/// The access token: `$TRIPLICATE_TOKEN`, else the file named by `server.token_file`.
fn token(config: &Config) -> anyhow::Result<Option<String>> {
    if let Ok(t) = std::env::var("TRIPLICATE_TOKEN")
        && !t.trim().is_empty()
    {
        return Ok(Some(t.trim().to_string()));
    }
    match &config.server.token_file {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read the access token from {}", path.display()))?;
            Ok(Some(text.trim().to_string()))
        }
        None => Ok(None),
    }
}

pub fn start(
    home: &Home,
    config: &Config,
    listen: Option<SocketAddr>,
    service: Arc<Service>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<Running> {
    let addr = listen.unwrap_or(*config.server.listen);
    let token = token(config)?;
    // Checked before binding, so that a missing token is the error a user sees.
    Access::new(addr, token.as_deref(), &config.server.hosts)?;
    let listener = std::net::TcpListener::bind(addr).with_context(|| {
        format!(
            "cannot listen on {addr}: is another `triplicate run` serving there? Choose another address with --listen, or --no-server"
        )
    })?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    // The port actually bound (with port 0) is the one the Host header names.
    let access = Access::new(local, token.as_deref(), &config.server.hosts)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("triplicate-http")
        .enable_all()
        .build()?;
    let state = AppState::new(home.clone(), service, access);
    eprintln!("Backup window: http://{local}/");
    let thread = std::thread::Builder::new()
        .name("triplicate-server".into())
        .spawn(move || {
            runtime.block_on(async move {
                let listener = match tokio::net::TcpListener::from_std(listener) {
                    Ok(l) => l,
                    Err(e) => {
                        tracing::error!("cannot serve on {local}: {e}");
                        return;
                    }
                };
                let shutdown = async move {
                    while !stop.load(Ordering::Relaxed) {
                        tokio::time::sleep(Duration::from_millis(200)).await;
                    }
                };
                if let Err(e) = triplicate_server::serve(listener, state, shutdown).await {
                    tracing::error!("the Backup window stopped: {e}");
                }
            });
            // Do not wait for blocking tasks still running (a slow status query).
            runtime.shutdown_timeout(Duration::from_secs(2));
        })?;
    Ok(Running { thread })
}
