//! The `triplicate` command: parse, open, call the library, print.
//!
//! Each command lives in `commands/`; exit codes come from the library's fault policy
//! (`triplicate::fault`).

/// `println!` for what the command reports: when the reader has gone (`triplicate
/// status --at-risk | head`), the command ends quietly instead of panicking on the
/// broken pipe.
macro_rules! say {
    () => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock()) {
            crate::stdout_failed(e);
        }
    }};
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        if let Err(e) = writeln!(std::io::stdout().lock(), $($arg)*) {
            crate::stdout_failed(e);
        }
    }};
}

mod bars;
mod commands;
mod server;
mod show;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use clap::{Parser, Subcommand};
use triplicate::home::{Home, Triplicate};

#[derive(Parser)]
#[command(
    name = "triplicate",
    version,
    about = "Every photo in 3 verified copies, on 2 kinds of media, 1 offsite."
)]
struct Cli {
    /// Folder holding config.toml and catalog.db (default: XDG config and data folders).
    #[arg(long, global = true, env = "TRIPLICATE_HOME", value_name = "DIR")]
    home: Option<PathBuf>,
    /// More log output (-v info, -vv debug).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    verbose: u8,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Create a home: a configuration and an empty catalog.
    Init(commands::init::Args),
    /// Library folders: the photos to protect.
    #[command(subcommand)]
    Library(commands::library::Command),
    /// Destinations: where copies go.
    #[command(subcommand)]
    Dest(commands::dest::Command),
    /// The catalog: what Triplicate knows.
    #[command(subcommand)]
    Catalog(commands::catalog::Command),
    /// Back up every photo not yet verified at each enabled destination.
    Backup(commands::backup::Args),
    /// Re-read copies from the device and check their hashes; repair bad ones.
    Verify(commands::verify::Args),
    /// Offload a memory card: read each file once, write it to the library and every
    /// automatic destination at the same time, verify every copy, and say whether the
    /// card is safe to format. Nothing on the card is changed.
    Ingest(commands::ingest::Args),
    /// Archives: config and image snapshots as .tar.gz (or .tar.zst).
    #[command(subcommand)]
    Archive(commands::archive::Command),
    /// GRID: this node among others (peers, the shared photo log, transfers).
    #[command(subcommand)]
    Grid(commands::grid::Command),
    /// ASC MHL histories (the `ascmhl/` folders ingest writes).
    #[command(subcommand)]
    Mhl(commands::mhl::Command),
    /// Bring photos back from verified copies; never overwrites a file.
    Restore(commands::restore::Args),
    /// The disaster drill in one command: from one destination alone, make a new home
    /// (--home), rebuild its catalog, and restore every library into DIR, byte for
    /// byte; `triplicate backup` then carries on from there.
    Recover(commands::recover::Args),
    /// The service: back up new photos to automatic destinations as they arrive.
    Run(commands::run::Args),
    /// Open the Backup window in this machine's browser, signed in with a one-time
    /// link (--print: show the link instead).
    Open(commands::open::Args),
    /// The operations log: every copy, verify, repair and failure.
    Log(commands::log::Args),
    /// Notification channels: `notify test [NAME]` sends a test message.
    #[command(subcommand)]
    Notify(commands::notify::Command),
    /// Remove old versions and deleted photos from the destinations, beyond a retention
    /// policy. What the libraries hold now is never touched. A dry run unless --apply.
    Prune(commands::prune::Args),
    /// The libraries' snapshots: each backup run that found changes records one;
    /// `restore --as-of ID` brings a library back as it was.
    #[command(subcommand)]
    Snapshots(commands::snapshots::Command),
    /// Let held-back changes reach the backups: possible bit rot, or everything the
    /// mass-change guard stopped. Without names, all of them, and the guard is reset.
    AcceptChanges(commands::accept_changes::Args),
    /// Destinations, counts, 3-2-1 coverage and warnings.
    Status(commands::status::Args),
}

/// Standard output failed: a reader that went away ends the command quietly (as `cat`
/// does); anything else is said on standard error.
fn stdout_failed(e: std::io::Error) -> ! {
    if e.kind() == std::io::ErrorKind::BrokenPipe {
        std::process::exit(0);
    }
    eprintln!("error: cannot write the output: {e}");
    std::process::exit(1);
}

/// Prints what a `show` function writes.
fn shown(render: impl FnOnce(&mut String)) {
    let mut text = String::new();
    render(&mut text);
    print_text(&text);
}

/// Prints text as it is (it ends its own lines).
fn print_text(text: &str) {
    use std::io::Write as _;
    let mut out = std::io::stdout().lock();
    if let Err(e) = out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
        stdout_failed(e);
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let level = match cli.verbose {
        0 => tracing::Level::WARN,
        1 => tracing::Level::INFO,
        _ => tracing::Level::DEBUG,
    };
    // The camera-file parser warns about every oddity of every file it reads ("GPSInfo
    // not found"); what matters reaches the user in Triplicate's own words.
    let parser = if cli.verbose >= 2 {
        level
    } else {
        tracing::Level::ERROR
    };
    let filter = tracing_subscriber::filter::Targets::new()
        .with_default(level)
        .with_target("nom_exif", parser);
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    tracing_subscriber::fmt()
        .with_max_level(tracing::Level::TRACE)
        .with_writer(std::io::stderr)
        .without_time()
        .finish()
        .with(filter)
        .init();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", said_once(&e));
            ExitCode::from(exit_code(&e))
        }
    }
}

/// An error and its causes, each said once: a cause whose words are already in what
/// was said (a message that quotes its source) is left out.
pub(crate) fn said_once(e: &anyhow::Error) -> String {
    let mut said = e.to_string();
    for cause in e.chain().skip(1) {
        let text = cause.to_string();
        if !said.contains(&text) {
            said.push_str(": ");
            said.push_str(&text);
        }
    }
    said
}

/// The exit code of a failed command: the library's fault policy over the chain
/// (see `triplicate::fault`).
fn exit_code(e: &anyhow::Error) -> u8 {
    triplicate::errors::fault_of(e.as_ref()).exit_code()
}

fn home(cli_home: Option<PathBuf>) -> anyhow::Result<Home> {
    if let Some(dir) = cli_home {
        return Ok(Home::in_dir(&dir));
    }
    let config = dirs::config_dir().context("no home folder: pass --home DIR")?;
    let data = dirs::data_dir().context("no home folder: pass --home DIR")?;
    Ok(Home::xdg(&config, &data))
}

/// Opens the home for a command, and says on standard error when its catalog looks
/// lost (new or empty while a destination holds manifests): the command's answers
/// would leave out everything the destinations hold.
fn open(home: &Home) -> anyhow::Result<Triplicate> {
    let t = Triplicate::open(home)?;
    if let Some(lost) = triplicate::rebuild::lost_catalog(&t.catalog, &t.config)? {
        eprintln!("warning: {lost}");
    }
    Ok(t)
}

fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    let home = home(cli.home)?;
    match cli.command {
        Command::Init(args) => commands::init::run(&home, args),
        Command::Library(command) => commands::library::run(&home, command),
        Command::Dest(command) => commands::dest::run(&home, command),
        Command::Catalog(command) => commands::catalog::run(&home, command),
        Command::Mhl(command) => commands::mhl::run(&home, command),
        Command::Snapshots(command) => commands::snapshots::run(&home, command),
        Command::Archive(command) => commands::archive::run(&home, command),
        Command::Grid(command) => commands::grid::run(&home, command),

        Command::Backup(args) => commands::backup::run(&home, args),
        Command::Verify(args) => commands::verify::run(&home, args),
        Command::Ingest(args) => commands::ingest::run(&home, args),
        Command::Recover(args) => commands::recover::run(&home, args),
        Command::Restore(args) => commands::restore::run(&home, args),
        Command::Prune(args) => commands::prune::run(&home, args),
        Command::AcceptChanges(args) => commands::accept_changes::run(&home, args),
        Command::Run(args) => commands::run::run(&home, args),
        Command::Open(args) => commands::open::run(&home, args),
        Command::Log(args) => commands::log::run(&home, args),
        Command::Notify(command) => commands::notify::run(&home, command),
        Command::Status(args) => commands::status::run(&home, args),
    }
}

/// Prints `report` as JSON with `json`, else as `show` words it; exit code 0 if `ok`,
/// else 1.
fn print_report<R: serde::Serialize>(
    json: bool,
    report: &R,
    show: fn(&mut String, &R),
    ok: bool,
) -> anyhow::Result<ExitCode> {
    if json {
        say!("{}", serde_json::to_string_pretty(report)?);
    } else {
        shown(|w| show(w, report));
    }
    Ok(if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

/// A day on the command line.
mod day {
    #[derive(Clone, Copy, Debug)]
    pub struct Day(pub chrono::NaiveDate);

    impl std::str::FromStr for Day {
        type Err = String;
        fn from_str(s: &str) -> Result<Self, String> {
            chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d")
                .map(Day)
                .map_err(|_| format!("'{s}' is not a day: use YYYY-MM-DD"))
        }
    }
}

fn parse_percent(text: &str) -> Result<f64, String> {
    let n: f64 = text
        .trim_end_matches('%')
        .parse()
        .map_err(|_| format!("'{text}' is not a percentage"))?;
    if (0.0..=100.0).contains(&n) && n > 0.0 {
        Ok(n)
    } else {
        Err(format!(
            "{text}: the sample must be more than 0 and at most 100 percent"
        ))
    }
}

/// The host name, cut down to what a node name may hold.
fn default_node() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname").unwrap_or_default();
    let name: String = host
        .trim()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_') {
                c
            } else {
                '-'
            }
        })
        .take(64)
        .collect();
    if name.is_empty() { "node".into() } else { name }
}
