//! `triplicate snapshots`.

use std::process::ExitCode;

use clap::Subcommand;
use triplicate::home::Home;

use crate::{open, show, shown};

#[derive(Subcommand)]
pub enum Command {
    /// Every snapshot, oldest first.
    List {
        #[arg(long)]
        json: bool,
    },
}

pub fn run(home: &Home, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::List { json } => {
            let t = open(home)?;
            let snapshots = t.catalog.snapshots()?;
            if json {
                say!("{}", serde_json::to_string_pretty(&snapshots)?);
            } else {
                shown(|w| show::snapshots(w, &snapshots));
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
