//! `triplicate accept-changes`: let held-back changes reach the backups: possible bit
//! rot, or everything the mass-change guard stopped. Without names, all of them, and
//! the guard is reset.

use std::process::ExitCode;

use triplicate::home::Home;

use crate::{open, print_report, show, shown};

/// Let held-back changes reach the backups: possible bit rot, or everything the
/// mass-change guard stopped. Without names, all of them, and the guard is reset.
#[derive(clap::Args)]
pub struct Args {
    /// Only these files (LIBRARY:PATH or PATH).
    pub names: Vec<String>,
    /// List the held changes; change nothing.
    #[arg(long)]
    pub list: bool,
    #[arg(long)]
    pub json: bool,
}

pub fn run(home: &Home, Args { names, list, json }: Args) -> anyhow::Result<ExitCode> {
    let t = open(home)?;
    if list {
        let held = t.catalog.held_changes()?;
        if json {
            say!("{}", serde_json::to_string_pretty(&held)?);
        } else {
            let trip = t.catalog.guard_trip()?;
            shown(|w| show::held_changes(w, &held, trip.as_ref()));
        }
    } else {
        let report = triplicate::protection::accept_changes(&t, &names)?;
        return print_report(json, &report, show::accepted, true);
    }
    Ok(ExitCode::SUCCESS)
}
