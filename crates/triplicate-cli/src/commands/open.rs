//! `triplicate open`: signs this machine's browser in to the running service with a
//! one-time link (as Jupyter does), so the owner never types or copies the token.

use std::process::ExitCode;

use anyhow::Context;
use triplicate::home::Home;
use triplicate::service::lock::RunLock;

/// Open the Backup window in this machine's browser, signed in with a one-time link.
#[derive(clap::Args)]
pub struct Args {
    /// Print the link instead of starting a browser (for another browser on this
    /// machine, or an SSH session with a forwarded port).
    #[arg(long)]
    pub print: bool,
}

pub fn run(home: &Home, Args { print }: Args) -> anyhow::Result<ExitCode> {
    let holder = RunLock::holder(home).context(
        "the service is not running on this home: start it with `triplicate run` (or `systemctl --user start triplicate`)",
    )?;
    let url = holder.url.with_context(|| {
        format!(
            "the service (PID {}) runs without the Backup window (--no-server)",
            holder.pid
        )
    })?;
    let code = triplicate::access::new_link(home)?;
    let link = format!("{url}sign-in?once={code}");
    if print || !launch(&link) {
        say!("{link}");
        eprintln!(
            "This link signs one browser in, once, within {} minutes.",
            triplicate::access::LINK_LIFETIME.as_secs() / 60
        );
    }
    Ok(ExitCode::SUCCESS)
}

/// Starts `$BROWSER` or `xdg-open` on `link`; false when neither runs.
fn launch(link: &str) -> bool {
    let browser = std::env::var("BROWSER")
        .ok()
        .filter(|b| !b.trim().is_empty());
    let opener = browser.unwrap_or_else(|| "xdg-open".into());
    std::process::Command::new(&opener)
        .arg(link)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
