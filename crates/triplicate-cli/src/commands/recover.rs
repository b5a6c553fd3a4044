//! `triplicate recover`: the disaster drill in one command: from one destination alone,
//! make a new home (--home), rebuild its catalog, and restore every library into DIR,
//! byte for byte; `triplicate backup` then carries on from there.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use triplicate::home::Home;

use crate::{bars, default_node, print_report, show};

/// The disaster drill in one command: from one destination alone, make a new home
/// (--home), rebuild its catalog, and restore every library into DIR, byte for
/// byte; `triplicate backup` then carries on from there.
#[derive(clap::Args)]
pub struct Args {
    /// The destination: a folder, or s3://…, sftp://…, webdav://….
    pub target: String,
    /// Where the libraries are restored (one library here, several each in a
    /// folder of its name).
    #[arg(long, value_name = "DIR")]
    pub to: PathBuf,
    /// Credentials for a remote destination.
    #[arg(long, value_name = "FILE")]
    pub credentials_file: Option<PathBuf>,
    /// The age identity that opens an encrypted destination.
    #[arg(long, value_name = "FILE")]
    pub identity_file: Option<PathBuf>,
    /// The passphrase of a destination that keeps its own identity.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
    /// This node's name in the new home (default: the host name).
    #[arg(long)]
    pub node: Option<String>,
    /// Photos restored at once.
    #[arg(long, default_value_t = 4)]
    pub jobs: usize,
    #[arg(long)]
    pub json: bool,
}

pub fn run(
    home: &Home,
    Args {
        target,
        to,
        credentials_file,
        identity_file,
        passphrase_file,
        node,
        jobs,
        json,
    }: Args,
) -> anyhow::Result<ExitCode> {
    let mut options = triplicate::recover::RecoverOptions {
        target,
        to,
        node: node.unwrap_or_else(default_node),
        credentials_file,
        identity_file,
        passphrase_file,
        jobs,
    };
    let bars = bars::Bars::new(!json);
    let report = match triplicate::recover::recover(home, &options, &bars) {
        // On a terminal, ask rather than refuse.
        Err(triplicate::recover::RecoverError::Locked { passphrase, .. })
            if std::io::IsTerminal::is_terminal(&std::io::stdin()) =>
        {
            ask_for_the_key(home, &mut options, passphrase)?;
            triplicate::recover::recover(home, &options, &bars)?
        }
        other => other?,
    };
    bars.finish();
    print_report(json, &report, show::recover, report.ok())
}

/// Asks, on the terminal, for what opens an encrypted destination: its passphrase
/// (kept, mode 0600, beside the new home's configuration, which names it) or the path
/// of the age identity file.
fn ask_for_the_key(
    home: &Home,
    options: &mut triplicate::recover::RecoverOptions,
    passphrase: bool,
) -> anyhow::Result<()> {
    if passphrase {
        let typed = rpassword::prompt_password(format!(
            "{} is encrypted. Its passphrase: ",
            options.target
        ))?;
        let dir = home
            .config
            .parent()
            .map(Path::to_path_buf)
            .unwrap_or_default();
        std::fs::create_dir_all(&dir)?;
        let file = dir.join("passphrase");
        {
            use std::io::Write;
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&file)
                .with_context(|| format!("cannot keep the passphrase in {}", file.display()))?;
            writeln!(f, "{typed}")?;
        }
        eprintln!(
            "The passphrase is kept in {} (only you can read it), for the new home's backups.",
            file.display()
        );
        options.passphrase_file = Some(file);
    } else {
        eprint!(
            "{} is encrypted. The path of the age identity file that opens it: ",
            options.target
        );
        let mut line = String::new();
        std::io::stdin().read_line(&mut line)?;
        options.identity_file = Some(PathBuf::from(line.trim()));
    }
    Ok(())
}
