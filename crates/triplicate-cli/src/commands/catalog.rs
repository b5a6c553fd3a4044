//! `triplicate catalog rebuild`: recreate a lost catalog from the destinations.

use std::process::ExitCode;

use clap::Subcommand;
use triplicate::home::Home;

use crate::{bars, print_report, show};

#[derive(Subcommand)]
pub enum Command {
    /// Recreate a lost catalog from the destinations' markers and manifests.
    Rebuild {
        #[arg(long)]
        json: bool,
    },
}

pub fn run(home: &Home, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Rebuild { json } => {
            let config = triplicate::config::Config::load(&home.config)?;
            let bars = bars::Bars::new(!json);
            let report = triplicate::rebuild::rebuild(home, &config, &bars)?;
            bars.finish();
            print_report(json, &report, show::rebuild, report.problems.is_empty())
        }
    }
}
