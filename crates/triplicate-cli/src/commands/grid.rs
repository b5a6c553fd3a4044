//! `triplicate grid …`: this node among others (peers, the shared photo log, transfers).

use std::process::ExitCode;
use std::sync::atomic::AtomicBool;

use clap::Subcommand;
use triplicate::home::{Home, Triplicate};

use crate::{print_report, show, shown};

#[derive(Subcommand)]
pub enum Command {
    /// Give this node a GRID token (kept in grid.token beside the config, chmod 600)
    /// and print it: peers that call this node need it.
    Init,
    /// Add a peer: its `triplicate run --listen` address, its token and (https://) its
    /// certificate's fingerprint.
    AddPeer {
        /// e.g. https://10.0.0.5:8321 (a service listening beyond loopback serves HTTPS)
        url: String,
        /// The peer's token (from `triplicate grid init` on the peer).
        #[arg(long, env = "TRIPLICATE_PEER_TOKEN", hide_env_values = true)]
        token: String,
        /// The SHA-256 fingerprint of the peer's certificate (from `triplicate grid
        /// init` on the peer): the peer is trusted by it alone.
        #[arg(long)]
        fingerprint: Option<String>,
        /// Send this node's photos to the peer (typically a central node).
        #[arg(long)]
        sync_photos: bool,
    },
    /// Forget a peer; what it sent stays.
    RemovePeer { name: String },
    /// List the peers.
    Peers {
        #[arg(long)]
        json: bool,
    },
    /// Every node: last contact, photos, photos not yet on a central node; GRID-wide
    /// 3-2-1 coverage.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Exchange with the peers and send photos now, once (what `run` does all along).
    Sync {
        #[arg(long)]
        json: bool,
    },
}

/// `triplicate grid …`.
pub fn run(home: &Home, command: Command) -> anyhow::Result<ExitCode> {
    use triplicate::grid;
    match command {
        Command::Init => {
            let token = grid::peer::init(home)?;
            let t = Triplicate::open(home)?;
            say!(
                "Node '{}' (id {}) answers GRID peers with this token:",
                t.config.node,
                t.catalog.grid_node_id()?
            );
            say!("{token}");
            let server = &t.config.server;
            let given = server.tls_cert.as_deref().zip(server.tls_key.as_deref());
            let identity = triplicate::tls::identity(home, given, &t.config.node)?;
            say!("and this certificate (SHA-256 fingerprint):");
            say!("{}", identity.fingerprint);
            say!(
                "On each peer: triplicate grid add-peer https://THIS-NODE:PORT --token TOKEN --fingerprint FINGERPRINT [--sync-photos]"
            );
            say!(
                "Serve the GRID with `triplicate run --listen ADDR:PORT` (restart a running service)."
            );
        }
        Command::AddPeer {
            url,
            token,
            fingerprint,
            sync_photos,
        } => {
            let p = grid::peer::add(home, &url, &token, fingerprint.as_deref(), sync_photos)?;
            say!(
                "Added peer '{}' at {} (id {}){}",
                p.name,
                p.url,
                p.id,
                if p.sync_photos {
                    "; this node sends it its photos"
                } else {
                    ""
                }
            );
        }
        Command::RemovePeer { name } => {
            let p = grid::peer::remove(home, &name)?;
            say!("Forgot peer '{}' at {}; what it sent stays.", p.name, p.url);
        }
        Command::Peers { json } => {
            let t = Triplicate::open(home)?;
            shown(|w| show::peers(w, &t.config.grid.peers, json));
        }
        Command::Status { json } => {
            let t = Triplicate::open(home)?;
            let status = grid::status::status(&t)?;
            return print_report(json, &status, show::grid_status, true);
        }
        Command::Sync { json } => {
            let t = Triplicate::open(home)?;
            let report = grid::sync(&t, &AtomicBool::new(false))?;
            return print_report(json, &report, show::grid_sync, report.ok());
        }
    }
    Ok(ExitCode::SUCCESS)
}
