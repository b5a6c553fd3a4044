//! `triplicate mhl verify`: check a folder against its ASC MHL history.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use triplicate::home::Home;

use crate::{bars, print_report, show};

#[derive(Subcommand)]
pub enum Command {
    /// Check a folder against its ASC MHL history, whoever wrote it: every file is
    /// hashed and compared with its original hash; changed, missing and unlisted
    /// files are reported. Exit code 1 if any.
    Verify {
        /// The folder holding the `ascmhl/` folder.
        dir: PathBuf,
        /// Add the check to the history, as a generation of `verified` and `failed`
        /// hashes.
        #[arg(long)]
        record: bool,
        #[arg(long)]
        json: bool,
    },
}

pub fn run(_home: &Home, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Verify { dir, record, json } => {
            let bars = bars::Bars::new(!json);
            let check = triplicate::ingest::mhl::verify_folder(&dir, record, &bars)?;
            bars.finish();
            print_report(json, &check, show::mhl_check, check.ok())
        }
    }
}
