//! `triplicate log`: the operations log: every copy, verify, repair and failure.

use std::process::ExitCode;

use triplicate::home::Home;

use crate::{open, show, shown};

/// The operations log: every copy, verify, repair and failure.
#[derive(clap::Args)]
pub struct Args {
    /// Only failures.
    #[arg(long)]
    pub errors: bool,
    /// Keep printing new operations as they happen.
    #[arg(long)]
    pub follow: bool,
    /// How many of the newest operations to show first.
    #[arg(long, default_value_t = 50)]
    pub limit: usize,
    /// One JSON object per line.
    #[arg(long)]
    pub json: bool,
}

pub fn run(
    home: &Home,
    Args {
        errors,
        follow,
        limit,
        json,
    }: Args,
) -> anyhow::Result<ExitCode> {
    let t = open(home)?;
    let mut last = 0;
    loop {
        let ops = t
            .catalog
            .operations(last, if last == 0 { limit } else { 10_000 }, errors)?;
        for op in &ops {
            shown(|w| show::operation(w, op, json));
            last = op.id;
        }
        if !follow {
            break;
        }
        if last == 0 {
            last = t
                .catalog
                .operations(0, 1, false)?
                .last()
                .map(|o| o.id)
                .unwrap_or(0);
        }
        std::thread::sleep(std::time::Duration::from_millis(500));
    }
    Ok(ExitCode::SUCCESS)
}
