//! `triplicate backup`: back up every photo not yet verified at each enabled
//! destination.

use std::process::ExitCode;

use triplicate::engine::{self, BackupOptions};
use triplicate::home::Home;

use crate::{bars, open, print_report, show};

/// Back up every photo not yet verified at each enabled destination.
#[derive(clap::Args)]
pub struct Args {
    /// Only this destination (repeatable).
    #[arg(long = "dest", value_name = "NAME")]
    pub dest: Vec<String>,
    /// Files copied at once (default: backup.jobs in the config).
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Print a JSON report on stdout instead of the summary.
    #[arg(long)]
    pub json: bool,
}

pub fn run(home: &Home, Args { dest, jobs, json }: Args) -> anyhow::Result<ExitCode> {
    let t = open(home)?;
    let options = BackupOptions {
        destinations: dest,
        jobs,
        ..Default::default()
    };
    let bars = bars::Bars::new(!json);
    let report = engine::backup(&t, &options, &bars)?;
    bars.finish();
    print_report(json, &report, show::backup, report.protected())
}
