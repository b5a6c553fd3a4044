//! `triplicate status`: destinations, counts, 3-2-1 coverage and warnings.

use std::process::ExitCode;

use triplicate::home::Home;

use crate::{open, show, shown};

/// Destinations, counts, 3-2-1 coverage and warnings.
#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    pub json: bool,
    /// List each photo that is not protected and what it lacks.
    #[arg(long)]
    pub at_risk: bool,
}

pub fn run(home: &Home, Args { json, at_risk }: Args) -> anyhow::Result<ExitCode> {
    let t = open(home)?;
    let report = triplicate::status::status(&t, at_risk)?;
    if json {
        say!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        shown(|w| show::status(w, &report));
    }
    Ok(ExitCode::SUCCESS)
}
