//! `triplicate dest …`: add, edit, list, test, remove, enable and disable destinations.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Subcommand};
use triplicate::destination::MediaKind;
use triplicate::home::Home;
use triplicate::setup::{self, NewDestination};

use crate::{open, show, shown};

#[derive(Subcommand)]
pub enum Command {
    /// Add a destination and write its .triplicate/ marker.
    Add(DestAdd),
    /// List destinations.
    List {
        #[arg(long)]
        json: bool,
    },
    /// A quick health check: reachable, the right destination, writable.
    Test {
        name: String,
        #[arg(long)]
        json: bool,
    },
    /// Change how a destination is declared; where its copies are cannot change.
    Edit(DestEdit),
    /// Forget a destination (its data is left untouched).
    Remove { name: String },
    /// Write to a destination again.
    Enable { name: String },
    /// Stop writing to a destination (its copies still count).
    Disable { name: String },
}

#[derive(Args)]
pub struct DestAdd {
    pub name: String,
    /// A folder (another disk, a mounted share), or a server:
    /// s3://bucket/prefix?endpoint=https://…&region=…,
    /// sftp://user@host:port/path[?known_hosts=accept-new],
    /// webdav://host/path (HTTP) or webdavs://host/path (HTTPS).
    pub target: String,
    /// hdd, ssd, nas, cloud, tape, optical or card.
    #[arg(long)]
    pub media: MediaKind,
    /// `onsite`, or the name of another site (copies there are offsite).
    #[arg(long)]
    pub site: String,
    /// Where photos go, e.g. "{year}/{date}/{name}".
    #[arg(long)]
    pub layout: Option<String>,
    /// A cold destination (a drive kept in a drawer): not expected to be there, so its
    /// absence raises no warning; `status` says when it was last refreshed and reminds
    /// after [destination] refresh_every (365 days). Implies --manual.
    #[arg(long)]
    pub offline: bool,
    /// S3 only, on a bucket created with Object Lock: every object stored gets a
    /// retention period this long (e.g. 30d), so nobody can delete or replace it
    /// before then.
    #[arg(long, value_name = "DURATION")]
    pub object_lock: Option<String>,
    /// governance (default: users with the bypass permission may lift a retention) or
    /// compliance (nobody may).
    #[arg(long, value_name = "MODE", requires = "object_lock")]
    pub object_lock_mode: Option<String>,
    /// Make the target folder if it does not exist. Without it, a missing folder is
    /// refused (a mistyped mount point would become a folder on this computer's own
    /// disk), unless its parent is the mount point of another disk.
    #[arg(long)]
    pub create: bool,
    /// Fill it only on `triplicate backup`, not automatically.
    #[arg(long)]
    pub manual: bool,
    /// The secret a server needs, kept in a file (chmod 600): for s3:// an AWS
    /// credentials file (else AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY); for sftp:// a
    /// private key (else ssh's own keys and agent); for webdav:// a file with
    /// `username = …` and `password = …` (else WEBDAV_USERNAME / WEBDAV_PASSWORD).
    #[arg(long, value_name = "FILE")]
    pub credentials_file: Option<PathBuf>,
    /// For remote targets: at most this much per second, e.g. 20MB/s.
    #[arg(long, value_name = "RATE")]
    pub bandwidth: Option<String>,
    /// Encrypt every copy with age to this X25519 recipient (age1…, from
    /// `age-keygen`); repeat for several. Copies are stored as NAME.age.
    #[arg(long = "encrypt-to", value_name = "AGE_RECIPIENT")]
    pub encrypt_to: Vec<String>,
    /// The age identity file (from `age-keygen`) that opens the copies, for restore and
    /// `verify --decrypt`; backups need only the recipients. Keep it chmod 600.
    #[arg(long, value_name = "FILE", requires = "encrypt_to")]
    pub identity_file: Option<PathBuf>,
    /// Encrypt with a passphrase, read from the first line of FILE (chmod 600): the
    /// destination gets its own age identity, stored on it as .triplicate/identity.age
    /// and encrypted with the passphrase; `age -d -i identity.age` opens the copies.
    #[arg(long, value_name = "FILE")]
    pub passphrase_file: Option<PathBuf>,
}

#[derive(Args)]
pub struct DestEdit {
    pub name: String,
    /// hdd, ssd, nas, cloud, tape, optical or card.
    #[arg(long)]
    pub media: Option<MediaKind>,
    /// `onsite`, or the name of another site.
    #[arg(long)]
    pub site: Option<String>,
    /// Where new photos go, e.g. "{year}/{date}/{name}".
    #[arg(long)]
    pub layout: Option<String>,
    /// Copies written here at once.
    #[arg(long, value_name = "N")]
    pub concurrency: Option<usize>,
    /// For remote targets: at most this much per second, e.g. 20MB/s ("" for none).
    #[arg(long, value_name = "RATE")]
    pub bandwidth: Option<String>,
    /// For an encrypted destination: the age identity file that opens its copies ("" to
    /// forget it).
    #[arg(long, value_name = "FILE")]
    pub identity_file: Option<PathBuf>,
}

pub fn run(home: &Home, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Add(a) => {
            add(home, a)?;
        }
        Command::Edit(e) => {
            let d = setup::edit_destination(
                home,
                &e.name,
                &setup::DestinationEdit {
                    media: e.media,
                    site: e.site,
                    layout: e.layout,
                    concurrency: e.concurrency,
                    bandwidth: e.bandwidth,
                    identity_file: e.identity_file,
                    ..Default::default()
                },
            )?;
            say!(
                "Destination '{}': {} ({}, {}), layout {}",
                d.name,
                d.target,
                d.media,
                d.site,
                d.layout
            );
        }
        Command::List { json } => {
            let t = open(home)?;
            shown(|w| show::destinations(w, &t.config, json));
        }
        Command::Test { name, json } => {
            let t = open(home)?;
            let check = setup::test_destination(&t.config, &name)?;
            if json {
                say!("{}", serde_json::to_string_pretty(&check)?);
            } else {
                say!(
                    "Destination '{}' at {} is reachable, is the right one (id {}) and is writable; round trip {} ms.",
                    check.name,
                    check.target,
                    check.marker_id,
                    check.round_trip_ms
                );
                if let Some(note) =
                    triplicate::policy::device_note_now(&t.catalog, &t.config, &name)?
                {
                    say!("WARNING: {note}. Put it on another disk.");
                }
            }
        }
        Command::Remove { name } => {
            let d = setup::remove_destination(home, &name)?;
            say!(
                "Forgot destination '{}'; its data at {} is untouched.",
                d.name,
                d.target
            );
        }
        Command::Enable { name } => {
            setup::set_destination_flag(home, &name, "enabled", true)?;
            say!("Enabled destination '{name}'.");
        }
        Command::Disable { name } => {
            setup::set_destination_flag(home, &name, "enabled", false)?;
            say!(
                "Disabled destination '{name}': nothing is written there until `dest enable {name}`."
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Adds a destination and says what it is, where it is and what to mind.
fn add(home: &Home, a: DestAdd) -> anyhow::Result<()> {
    let t = open(home)?;
    let d = setup::add_destination(
        home,
        &t.config.node,
        &NewDestination {
            name: a.name,
            target: a.target,
            media: a.media,
            site: a.site,
            layout: a.layout,
            automatic: !a.manual,
            credentials_file: a.credentials_file,
            bandwidth: a.bandwidth,
            encrypt_to: a.encrypt_to,
            identity_file: a.identity_file,
            passphrase_file: a.passphrase_file,
            offline: a.offline,
            object_lock: a.object_lock,
            object_lock_mode: a.object_lock_mode,
            create: a.create,
        },
    )?;
    say!(
        "Added destination '{}' at {} ({}, {}), id {}",
        d.name,
        d.target,
        d.media,
        d.site,
        d.id
    );
    let t = open(home)?;
    if let Some(note) = triplicate::policy::device_note_now(&t.catalog, &t.config, &d.name)? {
        say!("  WARNING: {note}. Put it on another disk.");
    }
    if !d.encrypt_to.is_empty() {
        say!(
            "  Copies are encrypted with age to {}.",
            d.encrypt_to
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        );
        if d.passphrase_file.is_some() {
            say!(
                "  Its key is on the destination (.triplicate/identity.age), locked by your passphrase: without the passphrase the copies cannot be opened."
            );
        } else if d.identity_file.is_none() {
            say!(
                "  This node cannot open them: keep the identity safe elsewhere; restore needs identity_file set."
            );
        }
    }
    Ok(())
}
