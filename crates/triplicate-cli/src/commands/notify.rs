//! `triplicate notify`: the notification channels of `[[notify.channel]]`.

use std::process::ExitCode;

use clap::Subcommand;
use triplicate::alerts::Notifier;
use triplicate::config::Config;
use triplicate::home::Home;

#[derive(Subcommand)]
pub enum Command {
    /// Send a test message through every channel, or through NAME.
    Test {
        /// The channel's name.
        name: Option<String>,
    },
    /// The channels, each with what it takes.
    List,
}

pub fn run(home: &Home, command: Command) -> anyhow::Result<ExitCode> {
    let config = Config::load(&home.config)?;
    match command {
        Command::Test { name } => {
            let deliveries = Notifier::new(&config).test(name.as_deref())?;
            let mut failed = 0;
            for d in &deliveries {
                match &d.result {
                    Ok(()) => say!("{}: sent", d.channel),
                    Err(e) => {
                        failed += 1;
                        say!("{}: NOT SENT: {e}", d.channel);
                    }
                }
            }
            Ok(if failed == 0 {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            })
        }
        Command::List => {
            if config.notify.channels.is_empty() {
                say!("no notification channel: add one under [[notify.channel]] in config.toml");
            }
            for c in &config.notify.channels {
                let events = if c.events.is_empty() {
                    "every kind but digests and ingests".to_string()
                } else {
                    c.events
                        .iter()
                        .map(|e| e.as_str())
                        .collect::<Vec<_>>()
                        .join(", ")
                };
                let to = c.url.as_deref().or(c.command.as_deref()).unwrap_or("");
                say!(
                    "{}: {} {to}; takes {events}, from severity {}",
                    c.name,
                    c.kind.as_str(),
                    c.severity.as_str()
                );
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}
