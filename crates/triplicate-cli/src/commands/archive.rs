//! `triplicate archive …`: config and image snapshots as .tar.gz (or .tar.zst). `run` is
//! one dispatch over the subcommands, each arm a few lines (which is why it is long).

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use triplicate::archive;
use triplicate::home::{Home, Triplicate};

use crate::{bars, print_report, show, shown};

#[derive(Subcommand)]
pub enum Command {
    /// Write a new archive into the archives folder, between the [archive] pre and
    /// post hooks.
    Create {
        /// `config`: config.toml, a consistent copy of the catalog, the destinations'
        /// declarations without secrets (and --section). `images`: the libraries'
        /// date folders (all, or --folder).
        #[arg(long)]
        kind: triplicate::archive::Kind,
        /// Config: also an optional section declared under [archive.sections.NAME];
        /// repeatable.
        #[arg(long, value_name = "NAME")]
        section: Vec<String>,
        /// Images: only this date folder (`20261120`, or `LIBRARY/20261120`);
        /// repeatable. All folders by default.
        #[arg(long, value_name = "FOLDER")]
        folder: Vec<String>,
        /// Show each part's raw and estimated compressed size; write nothing.
        #[arg(long)]
        estimate: bool,
        /// Compress with zstd (.tar.zst) instead of gzip (.tar.gz).
        #[arg(long)]
        zstd: bool,
        #[arg(long)]
        json: bool,
    },
    /// The archives, by kind, newest first, with their sizes (or those copied to a
    /// destination, with --dest).
    List {
        #[arg(long = "dest", value_name = "NAME")]
        dest: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// What an archive holds.
    Info {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Re-hash every file of an archive against its manifest.
    Verify {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Add an archive from elsewhere, after checking all of it: a file, or with --dest
    /// the name of one copied to that destination (see `archive list --dest`).
    Import {
        file: PathBuf,
        #[arg(long = "dest", value_name = "NAME")]
        dest: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Put an archive's files back where they came from (or under --to).
    Restore {
        id: String,
        /// Restore under this folder, at the archive's paths, instead of in place.
        #[arg(long, value_name = "DIR")]
        to: Option<PathBuf>,
        /// Config: only this section (`core`, or a section's name); repeatable.
        #[arg(long, value_name = "NAME")]
        section: Vec<String>,
        /// Images: only this date folder; repeatable.
        #[arg(long, value_name = "FOLDER")]
        folder: Vec<String>,
        /// Replace files that hold other bytes.
        #[arg(long)]
        force: bool,
        /// Replace config.toml and the catalog without asking (the current ones are
        /// archived first).
        #[arg(long)]
        yes: bool,
        #[arg(long)]
        json: bool,
    },
    /// Copy an archive to a destination (under .triplicate/archives/), then read the
    /// copy back and check it.
    Copy {
        id: String,
        #[arg(long = "dest", value_name = "NAME")]
        dest: String,
        #[arg(long)]
        json: bool,
    },
    /// Keep an archive whatever `prune` says.
    Pin { id: String },
    /// Let `prune` remove an archive again.
    Unpin { id: String },
    /// Delete an archive and its log.
    Delete { id: String },
    /// Delete all archives but the newest N, the pinned ones and the newest of each
    /// kind.
    Prune {
        #[arg(long, value_name = "N")]
        keep_last: usize,
        /// Say what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
}

/// `triplicate archive …`.
pub fn run(home: &Home, command: Command) -> anyhow::Result<ExitCode> {
    let t = Triplicate::open(home)?;
    match command {
        Command::Create {
            kind,
            section,
            folder,
            estimate,
            zstd,
            json,
        } => {
            let request = archive::Request {
                kind,
                sections: section,
                folders: folder,
                compression: if zstd {
                    archive::Compression::Zstd
                } else {
                    archive::Compression::Gzip
                },
                no_hooks: false,
            };
            return create(&t, &request, estimate, json);
        }
        Command::List {
            dest: Some(dest),
            json,
        } => {
            let there = archive::list_at(&t, &dest)?;
            return print_report(json, &there, show::archives_at, true);
        }
        Command::List { dest: None, json } => {
            let (list, broken) = archive::list(&t)?;
            if json {
                say!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                shown(|w| show::archives(w, &list, &archive::folder(&t)));
            }
            for e in &broken {
                eprintln!("warning: {e}");
            }
        }
        Command::Info { id, json } => {
            let archive = archive::find(&t, &id)?;
            let manifest = archive::read_manifest(&archive.file)?;
            let info = show::ArchiveInfo { archive, manifest };
            return print_report(json, &info, show::archive_info, true);
        }
        Command::Verify { id, json } => {
            let found = archive::find(&t, &id)?;
            let verified = archive::verify(&found.file)?;
            return print_report(json, &verified, show::archive_verified, verified.ok());
        }
        Command::Import { file, dest, json } => {
            let limits = archive::Limits::default();
            let imported = match dest {
                Some(dest) => {
                    archive::import_from_destination(&t, &dest, &file.to_string_lossy(), &limits)?
                }
                None => archive::import(&t, &file, &limits)?,
            };
            return print_report(json, &imported, show::archive_imported, true);
        }
        Command::Restore {
            id,
            to,
            section,
            folder,
            force,
            yes,
            json,
        } => {
            let request = archive::RestoreRequest {
                id,
                to,
                sections: section,
                folders: folder,
                force,
                confirmed: yes,
            };
            return restore(&t, request, json);
        }
        Command::Copy { id, dest, json } => {
            let copied = archive::copy_to(&t, &id, &dest)?;
            return print_report(json, &copied, show::archive_copied, true);
        }
        Command::Pin { id } => {
            let a = archive::pin(&t, &id)?;
            say!("Pinned archive {}: prune keeps it.", a.id);
        }
        Command::Unpin { id } => {
            let a = archive::unpin(&t, &id)?;
            say!("Unpinned archive {}.", a.id);
        }
        Command::Delete { id } => {
            let a = archive::delete(&t, &id)?;
            say!("Deleted archive {} ({}).", a.id, a.file.display());
        }
        Command::Prune {
            keep_last,
            dry_run,
            json,
        } => {
            let pruned = archive::prune(&t, keep_last, dry_run)?;
            return print_report(json, &pruned, show::archive_pruned, true);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Writes an archive (or estimates its size), stopping cleanly on Ctrl-C or SIGTERM.
fn create(
    t: &Triplicate,
    request: &archive::Request,
    estimate: bool,
    json: bool,
) -> anyhow::Result<ExitCode> {
    if estimate {
        let estimates = archive::estimate(t, request)?;
        return print_report(json, &estimates, show::archive_estimate, true);
    }
    // Ctrl-C and SIGTERM stop the archive cleanly (the post hook still runs);
    // a second one ends the program at once.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register_conditional_shutdown(signal, 130, stop.clone())?;
        signal_hook::flag::register(signal, stop.clone())?;
    }
    let bars = bars::Bars::new(!json);
    let created = archive::create(t, request, &bars, &stop);
    bars.finish();
    let created = created?;
    print_report(json, &created, show::archive_created, true)
}

/// Restores an archive, asking on a terminal before it replaces the configuration and
/// the catalog.
fn restore(
    t: &Triplicate,
    mut request: archive::RestoreRequest,
    json: bool,
) -> anyhow::Result<ExitCode> {
    let restored = match archive::restore(t, &request) {
        Err(archive::ArchiveError::NeedsConfirmation)
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) =>
        {
            eprint!(
                "This replaces config.toml and the catalog (the current ones are archived first). Go on? [y/N] "
            );
            let mut answer = String::new();
            std::io::stdin().read_line(&mut answer)?;
            if !matches!(answer.trim(), "y" | "Y" | "yes") {
                eprintln!("Nothing was restored.");
                return Ok(ExitCode::from(1));
            }
            request.confirmed = true;
            archive::restore(t, &request)?
        }
        other => other?,
    };
    print_report(json, &restored, show::archive_restored, true)
}
