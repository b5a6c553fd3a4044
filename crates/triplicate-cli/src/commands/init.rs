//! `triplicate init`: create a home: a configuration and an empty catalog.

use std::path::PathBuf;
use std::process::ExitCode;

use triplicate::home::{Home, Triplicate};
use triplicate::setup::{self};

use crate::default_node;

/// Create a home: a configuration and an empty catalog.
#[derive(clap::Args)]
pub struct Args {
    /// A library folder (repeatable).
    #[arg(long, value_name = "DIR")]
    pub library: Vec<PathBuf>,
    /// This node's name (default: the host name).
    #[arg(long)]
    pub node: Option<String>,
}

pub fn run(home: &Home, Args { library, node }: Args) -> anyhow::Result<ExitCode> {
    let node = node.unwrap_or_else(default_node);
    setup::init(home, &node, &library)?;
    say!("Initialised node '{node}' at {}", home.config.display());
    for lib in Triplicate::open(home)?.config.libraries {
        say!("  library {}: {}", lib.name, lib.path.display());
    }
    say!("Next: triplicate dest add NAME PATH --media hdd --site onsite");
    Ok(ExitCode::SUCCESS)
}
