//! `triplicate run`: the service: back up new photos to automatic destinations as they
//! arrive.

use std::process::ExitCode;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;

use triplicate::home::Home;

use crate::{bars, open, server, show};

/// The service: back up new photos to automatic destinations as they arrive.
#[derive(clap::Args)]
pub struct Args {
    /// One pass over what is pending, then exit (for cron).
    #[arg(long)]
    pub once: bool,
    /// Seconds a file must be left alone before it is backed up.
    #[arg(long, default_value_t = 1.0)]
    pub settle: f64,
    /// Seconds between full rescans when no change is seen.
    #[arg(long, default_value_t = 300)]
    pub rescan: u64,
    /// Seconds before trying again what a pass left for later (a destination not
    /// mounted or full, a file still being written).
    #[arg(long, default_value_t = 10)]
    pub retry: u64,
    /// Serve the Backup window and API here (default: server.listen in the config,
    /// 127.0.0.1:8321). Every route wants the access token or a signed-in browser.
    #[arg(long, value_name = "ADDR:PORT")]
    pub listen: Option<std::net::SocketAddr>,
    /// Do not serve the Backup window.
    #[arg(long, conflicts_with = "listen")]
    pub no_server: bool,
    /// Serve plain HTTP beyond loopback too (a trusted LAN; or `insecure_http = true`
    /// under [server]); HTTPS otherwise.
    #[arg(long)]
    pub insecure_http: bool,
}

pub fn run(
    home: &Home,
    Args {
        once,
        settle,
        rescan,
        retry,
        listen,
        no_server,
        insecure_http,
    }: Args,
) -> anyhow::Result<ExitCode> {
    let t = open(home)?;
    // One service per home (a `--once` pass is a backup, and runs beside it).
    let mut lock = if once {
        None
    } else {
        Some(triplicate::service::lock::RunLock::acquire(home)?)
    };
    if t.config.daemon.io_priority == triplicate::config::IoPriority::Low {
        // Before any thread starts, so that all of them inherit it.
        if let Err(e) = triplicate::fsutil::lower_io_priority() {
            tracing::warn!("cannot lower the I/O priority: {e}");
        }
    }
    let stop = Arc::new(AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(signal, stop.clone())?;
    }
    let options = triplicate::daemon::DaemonOptions {
        settle: std::time::Duration::from_secs_f64(settle.max(0.0)),
        rescan: std::time::Duration::from_secs(rescan.max(1)),
        retry: std::time::Duration::from_secs(retry.max(1)),
        once,
    };
    let service = Arc::new(triplicate::service::Service::new());
    // `--once` is for cron: no page, unless asked for.
    let serve = !no_server && (listen.is_some() || (!once && t.config.server.enabled));
    let server = if serve {
        Some(server::start(
            home,
            &t.config,
            listen,
            insecure_http,
            service.clone(),
            stop.clone(),
        )?)
    } else {
        None
    };
    if let Some(server) = &server {
        if let Some(lock) = lock.as_mut() {
            lock.announce(&server.url)?;
        }
        server::announce(home, server);
    }
    if !once {
        eprintln!(
            "Watching {} librar{} (settle {settle} s, full rescan every {rescan} s); stop with Ctrl-C.",
            t.config.libraries.len(),
            if t.config.libraries.len() == 1 {
                "y"
            } else {
                "ies"
            }
        );
    }
    let quiet = bars::Bars::new(false);
    let result =
        triplicate::daemon::run(t, &options, &service, &quiet, &show::PassLine, stop.clone());
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    if let Some(server) = server {
        server.join();
    }
    let report = result?;
    // `--once` is for cron: the last line says whether every photo is protected.
    if let Some(r) = report.as_ref().filter(|_| once) {
        say!("{}", r.verdict());
    }
    // A service stopped by a signal exits 0 unless its last pass failed (systemd would
    // mark it failed); a `--once` pass exits 1 when it left photos at risk too.
    Ok(
        if report.is_none_or(|r| if once { r.protected() } else { r.ok() }) {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(1)
        },
    )
}
