//! `triplicate verify`: re-read copies from the device and check their hashes; repair
//! bad ones.

use std::process::ExitCode;

use triplicate::home::Home;

use crate::{bars, open, parse_percent, print_report, show};

/// Re-read copies from the device and check their hashes; repair bad ones.
#[derive(clap::Args)]
pub struct Args {
    /// Only this destination (repeatable).
    #[arg(long = "dest", value_name = "NAME")]
    pub dest: Vec<String>,
    /// Check a random share of the copies, in percent.
    #[arg(long, value_name = "PCT", value_parser = parse_percent)]
    pub sample: Option<f64>,
    /// Check only copies last verified longer ago than this (e.g. 30d, 12h).
    #[arg(long, value_name = "DURATION", value_parser = triplicate::values::parse_duration)]
    pub older_than: Option<std::time::Duration>,
    /// Rewrite missing or damaged copies from the library or another destination.
    #[arg(long)]
    pub repair: bool,
    /// Copies read at once per destination.
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
    /// On encrypted destinations, decrypt each copy and check the photo's own hash
    /// (needs the destination's identity or passphrase file); without it, the hash
    /// of the ciphertext is checked, which needs no key.
    #[arg(long)]
    pub decrypt: bool,
    #[arg(long)]
    pub json: bool,
}

pub fn run(
    home: &Home,
    Args {
        dest,
        sample,
        older_than,
        repair,
        jobs,
        decrypt,
        json,
    }: Args,
) -> anyhow::Result<ExitCode> {
    let t = open(home)?;
    let options = triplicate::verify::VerifyOptions {
        // The originals are the first copy: checked unless destinations are named.
        library: dest.is_empty(),
        destinations: dest,
        sample_percent: sample,
        older_than,
        repair,
        jobs: Some(jobs),
        decrypt,
        ..Default::default()
    };
    let bars = bars::Bars::new(!json);
    let report = triplicate::verify::verify(&t, &options, &bars)?;
    bars.finish();
    print_report(json, &report, show::verify, report.ok())
}
