//! `triplicate ingest`: offload a memory card: read each file once, write it to the
//! library and every automatic destination at the same time, verify every copy, and say
//! whether the card is safe to format. Nothing on the card is changed.

use std::path::PathBuf;
use std::process::ExitCode;

use triplicate::home::Home;

use crate::{bars, open, show, shown};

/// Offload a memory card: read each file once, write it to the library and every
/// automatic destination at the same time, verify every copy, and say whether the
/// card is safe to format. Nothing on the card is changed.
#[derive(clap::Args)]
pub struct Args {
    /// The card's mount point (or any folder of photos).
    pub card: PathBuf,
    /// The library to ingest into (default: ingest.library, else the first).
    #[arg(long, value_name = "NAME")]
    pub library: Option<String>,
    /// Also write to this (manual) destination; repeatable.
    #[arg(long, value_name = "DEST")]
    pub also: Vec<String>,
    /// A job name, for the {job} token.
    #[arg(long, value_name = "NAME")]
    pub job: Option<String>,
    /// Where files go in the library, e.g. "{year}/{date}/{make}-{model}/{name}".
    #[arg(long, value_name = "T")]
    pub template: Option<String>,
    /// The card's label, for {card} (default: the card folder's name).
    #[arg(long, value_name = "LABEL")]
    pub label: Option<String>,
    /// Files copied at once.
    #[arg(long)]
    pub jobs: Option<usize>,
    /// Unmount the card when it is safe to format.
    #[arg(long)]
    pub eject: bool,
    /// Bring back into the library the files an earlier ingest of this card
    /// brought there, that you removed (or edited) since.
    #[arg(long)]
    pub again: bool,
    #[arg(long)]
    pub json: bool,
}

pub fn run(
    home: &Home,
    Args {
        card,
        library,
        also,
        job,
        template,
        label,
        jobs,
        eject,
        again,
        json,
    }: Args,
) -> anyhow::Result<ExitCode> {
    let t = open(home)?;
    let options = triplicate::ingest::IngestOptions {
        card: card.clone(),
        library,
        also,
        job,
        template,
        label,
        jobs,
        wrap: None,
        again,
    };
    let bars = bars::Bars::new(!json);
    let report = triplicate::ingest::ingest(&t, &options, &bars)?;
    bars.finish();
    let ejected = if eject && report.verdict.safe {
        Some(triplicate::fsutil::unmount(&card))
    } else {
        None
    };
    if json {
        say!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        shown(|w| show::ingest(w, &report));
        match &ejected {
            Some(Ok(())) => say!("The card at {} was unmounted.", card.display()),
            Some(Err(e)) => say!("The card could not be unmounted: {e}"),
            None => {}
        }
    }
    Ok(if report.verdict.safe && !matches!(ejected, Some(Err(_))) {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}
