//! `triplicate library …`: the library folders, the photos to protect.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use triplicate::destination::MediaKind;
use triplicate::home::Home;
use triplicate::setup::{self};

use crate::{open, show, shown};

#[derive(Subcommand)]
pub enum Command {
    /// Add a library folder.
    Add {
        dir: PathBuf,
        /// The medium the library is on (its originals count as a copy there).
        #[arg(long, default_value = "ssd")]
        media: MediaKind,
    },
    /// List library folders.
    List {
        #[arg(long)]
        json: bool,
    },
}

pub fn run(home: &Home, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Add { dir, media } => {
            let lib = setup::add_library(home, &dir, media)?;
            say!("Added library '{}' at {}", lib.name, lib.path.display());
        }
        Command::List { json } => {
            let t = open(home)?;
            shown(|w| show::libraries(w, &t.config, json));
        }
    }
    Ok(ExitCode::SUCCESS)
}
