//! Starting the Backup window beside the daemon: the service's credential (made in the
//! home on first start) and the listener first, so that a port in use or an unreadable
//! token stops `triplicate run` before it starts; then serve on a small tokio runtime
//! of its own until the stop flag is set. [`announce`] prints the page's address and a
//! one-time sign-in link for this machine's browser.

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
    /// Where the page is, as this machine's browser opens it.
    pub url: String,
    /// The SHA-256 fingerprint of the certificate it serves HTTPS with.
    pub fingerprint: Option<String>,
}

impl Running {
    /// Waits for the server to finish (after the stop flag is set).
    pub fn join(self) {
        let _ = self.thread.join();
    }
}

/// Starts the Backup window: HTTPS when listening beyond loopback (unless
/// `insecure_http`), plain HTTP on loopback.
pub fn start(
    home: &Home,
    config: &Config,
    listen: Option<SocketAddr>,
    insecure_http: bool,
    service: Arc<Service>,
    stop: Arc<AtomicBool>,
) -> anyhow::Result<Running> {
    let addr = listen.unwrap_or(*config.server.listen);
    let credential = triplicate::access::credential(home, config.server.token_file.as_deref())?;
    let listener = std::net::TcpListener::bind(addr).with_context(|| {
        format!(
            "cannot listen on {addr}: is another program serving there? Choose another address with --listen, or --no-server"
        )
    })?;
    listener.set_nonblocking(true)?;
    let local = listener.local_addr()?;
    let tls = if local.ip().is_loopback() || insecure_http || config.server.insecure_http {
        None
    } else {
        let server = &config.server;
        let given = server.tls_cert.as_deref().zip(server.tls_key.as_deref());
        let identity = triplicate::tls::identity(home, given, &config.node)?;
        let tls = triplicate::tls::server_config(&identity)?;
        Some((Arc::new(tls), identity.fingerprint))
    };
    // The port actually bound (with port 0) is the one the Host header names.
    let access = Access::new(
        local,
        &credential.token,
        &config.server.hosts,
        tls.is_some(),
    );
    let url = page_url(local, tls.is_some());
    let fingerprint = tls.as_ref().map(|(_, f)| f.clone());
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .thread_name("triplicate-http")
        .enable_all()
        .build()?;
    let state = AppState::new(home.clone(), service, access);
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
                let served = match tls {
                    Some((tls, _)) => {
                        triplicate_server::serve_tls(listener, tls, state, shutdown).await
                    }
                    None => triplicate_server::serve(listener, state, shutdown).await,
                };
                if let Err(e) = served {
                    tracing::error!("the Backup window stopped: {e}");
                }
            });
            // Do not wait for blocking tasks still running (a slow status query).
            runtime.shutdown_timeout(Duration::from_secs(2));
        })?;
    Ok(Running {
        thread,
        url,
        fingerprint,
    })
}

/// Says where the page is (with its certificate's fingerprint over HTTPS, for people
/// and peers to check), and a one-time sign-in link for this machine's browser.
pub fn announce(home: &Home, running: &Running) {
    let url = &running.url;
    eprintln!("Backup window: {url}");
    if let Some(fingerprint) = &running.fingerprint {
        eprintln!("Its certificate's SHA-256 fingerprint: {fingerprint}");
    }
    match triplicate::access::new_link(home) {
        Ok(code) => eprintln!(
            "Sign in on this machine (once, within {} minutes): {url}sign-in?once={code}",
            triplicate::access::LINK_LIFETIME.as_secs() / 60
        ),
        Err(e) => tracing::warn!("cannot make a sign-in link: {e}"),
    }
}

/// The page's address as a browser on this machine opens it (an unspecified listen
/// address is reached through loopback).
fn page_url(local: SocketAddr, https: bool) -> String {
    let ip = match local.ip() {
        ip if ip.is_unspecified() && ip.is_ipv4() => "127.0.0.1".to_string(),
        ip if ip.is_unspecified() => "[::1]".to_string(),
        std::net::IpAddr::V6(v6) => format!("[{v6}]"),
        ip => ip.to_string(),
    };
    let scheme = if https { "https" } else { "http" };
    format!("{scheme}://{ip}:{}/", local.port())
}
