//! `triplicate prune`: remove old versions and deleted photos from the destinations,
//! beyond a retention policy. What the libraries hold now is never touched. A dry run
//! unless --apply.

use std::process::ExitCode;

use triplicate::home::Home;

use crate::{bars, open, print_report, show};

/// Remove old versions and deleted photos from the destinations, beyond a retention
/// policy. What the libraries hold now is never touched. A dry run unless --apply.
#[derive(clap::Args)]
pub struct Args {
    /// Keep the last version of each of the newest N days.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub keep_daily: u32,
    /// Keep the last version of each of the newest N weeks.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub keep_weekly: u32,
    /// Keep the last version of each of the newest N months.
    #[arg(long, value_name = "N", default_value_t = 0)]
    pub keep_monthly: u32,
    /// Keep every version that was current this recently (e.g. 30d, 2w).
    #[arg(long, value_name = "DURATION", value_parser = triplicate::values::parse_duration)]
    pub keep_within: Option<std::time::Duration>,
    /// Only at this destination (repeatable).
    #[arg(long = "dest", value_name = "NAME")]
    pub dest: Vec<String>,
    /// Remove; without it, only list what would go.
    #[arg(long)]
    pub apply: bool,
    #[arg(long)]
    pub json: bool,
}

pub fn run(
    home: &Home,
    Args {
        keep_daily,
        keep_weekly,
        keep_monthly,
        keep_within,
        dest,
        apply,
        json,
    }: Args,
) -> anyhow::Result<ExitCode> {
    let t = open(home)?;
    let policy = triplicate::prune::RetentionPolicy {
        keep_daily,
        keep_weekly,
        keep_monthly,
        keep_within,
    };
    let bars = bars::Bars::new(!json);
    let report = triplicate::prune::prune(&t, &policy, &dest, apply, &bars)?;
    bars.finish();
    print_report(json, &report, show::pruned, report.ok())
}
