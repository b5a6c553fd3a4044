//! `triplicate status`: destinations, counts, 3-2-1 coverage and warnings; with
//! `--check`, one line and an exit code for monitoring.

use std::process::ExitCode;

use triplicate::home::Home;
use triplicate::status::Health;

use crate::{open, show, shown};

/// Destinations, counts, 3-2-1 coverage and warnings.
#[derive(clap::Args)]
pub struct Args {
    #[arg(long, conflicts_with = "check")]
    pub json: bool,
    /// List each photo that is not protected and what it lacks.
    #[arg(long, conflicts_with = "check")]
    pub at_risk: bool,
    /// One line, and the exit code monitoring reads: 0 every photo protected and no
    /// warning open, 1 photos at risk or warnings open, 2 Triplicate cannot tell (its
    /// configuration or catalog cannot be read).
    #[arg(long)]
    pub check: bool,
}

pub fn run(
    home: &Home,
    Args {
        json,
        at_risk,
        check,
    }: Args,
) -> anyhow::Result<ExitCode> {
    if check {
        return Ok(self::check(home));
    }
    let t = open(home)?;
    let report = triplicate::status::status(&t, at_risk)?;
    if json {
        say!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        shown(|w| show::status(w, &report));
    }
    Ok(ExitCode::SUCCESS)
}

/// `status --check`: never an error of its own, only its line and code.
fn check(home: &Home) -> ExitCode {
    let health = triplicate::home::Triplicate::open(home)
        .map_err(anyhow::Error::from)
        .and_then(|t| Ok(triplicate::status::check(&t)?));
    match health {
        Ok(Health::Protected { photos }) => {
            say!("OK: all {photos} photos protected, no warning open");
            ExitCode::SUCCESS
        }
        Ok(Health::AtRisk { reasons, .. }) => {
            say!("AT RISK: {}", reasons.join("; "));
            ExitCode::from(1)
        }
        Err(e) => {
            say!("UNKNOWN: {}", crate::said_once(&e));
            ExitCode::from(2)
        }
    }
}
