//! `triplicate restore`: bring photos back from verified copies; never overwrites a
//! file.

use std::path::PathBuf;
use std::process::ExitCode;

use triplicate::home::Home;

use crate::{bars, day, open, print_report, show};

/// Bring photos back from verified copies; never overwrites a file.
#[derive(clap::Args)]
pub struct Args {
    /// The folder to restore into.
    #[arg(long, value_name = "DIR", required_unless_present = "list")]
    pub to: Option<PathBuf>,
    /// Read only from this destination.
    #[arg(long = "dest", value_name = "NAME")]
    pub dest: Option<String>,
    /// Photos captured on or after this day (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub from: Option<day::Day>,
    /// Photos captured on or before this day (YYYY-MM-DD).
    #[arg(long, value_name = "DATE")]
    pub until: Option<day::Day>,
    /// Every photo: rebuilds whole library trees under their original paths.
    #[arg(long)]
    pub all: bool,
    /// The libraries as they were at TIME: a snapshot id (`snapshots list`),
    /// 2026-11-22T10:15:00Z, 2026-11-22 10:15 (local time) or 2026-11-22 (the end of
    /// that day). Restores everything then, unless names or dates narrow it.
    #[arg(long, value_name = "TIME")]
    pub as_of: Option<String>,
    /// Leave a file that holds other bytes alone instead of restoring beside it.
    #[arg(long)]
    pub skip_existing: bool,
    /// Only photos no library holds any more: deleted, or edited since.
    #[arg(long)]
    pub deleted: bool,
    /// Say what would be restored, from which destination, and the total size;
    /// write nothing.
    #[arg(long)]
    pub list: bool,
    /// Photos restored at once.
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
    #[arg(long)]
    pub json: bool,
    /// Names to restore: without a slash, a file name at any depth ('IMG_0010.CR2',
    /// '*.CR3'); with one, a path in the library ('2024/**'), as in .gitignore.
    pub globs: Vec<String>,
}

pub fn run(
    home: &Home,
    Args {
        to,
        dest,
        from,
        until,
        all,
        as_of,
        skip_existing,
        deleted,
        list,
        jobs,
        json,
        globs,
    }: Args,
) -> anyhow::Result<ExitCode> {
    let t = open(home)?;
    if let Some(lost) = triplicate::rebuild::lost_catalog(&t.catalog, &t.config)? {
        // "Restored 0 of 0" would be a lie about what the destinations hold.
        eprintln!("error: {lost}");
        return Ok(ExitCode::from(1));
    }
    let as_of = as_of
        .map(|text| triplicate::restore::parse_as_of(&t, &text))
        .transpose()?;
    let options = triplicate::restore::RestoreOptions {
        to: to.unwrap_or_default(),
        destination: dest,
        from: from.map(|d| d.0),
        until: until.map(|d| d.0),
        all,
        as_of,
        globs,
        deleted,
        list,
        skip_existing,
        jobs,
    };
    let bars = bars::Bars::new(!json && !list);
    let report = triplicate::restore::restore(&t, &options, &bars)?;
    bars.finish();
    if list {
        return print_report(json, &report, show::restore_list, true);
    }
    print_report(json, &report, show::restore, report.ok())
}
