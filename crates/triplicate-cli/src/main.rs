//! The `triplicate` command: parse, open, call the library, print.
//!
//! Exit codes: 0 all good; 1 something failed (details printed); 2 bad usage or
//! configuration.

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
mod server;
mod show;

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use triplicate::fault::Fault;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use triplicate::destination::MediaKind;
use triplicate::engine::{self, BackupOptions};
use triplicate::home::{Home, Triplicate};
use triplicate::setup::{self, NewDestination};

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
    Init {
        /// A library folder (repeatable).
        #[arg(long, value_name = "DIR")]
        library: Vec<PathBuf>,
        /// This node's name (default: the host name).
        #[arg(long)]
        node: Option<String>,
    },
    /// Library folders: the photos to protect.
    #[command(subcommand)]
    Library(LibraryCommand),
    /// Destinations: where copies go.
    #[command(subcommand)]
    Dest(DestCommand),
    /// The catalog: what Triplicate knows.
    #[command(subcommand)]
    Catalog(CatalogCommand),
    /// Back up every photo not yet verified at each enabled destination.
    Backup {
        /// Only this destination (repeatable).
        #[arg(long = "dest", value_name = "NAME")]
        dest: Vec<String>,
        /// Files copied at once (default: backup.jobs in the config).
        #[arg(long)]
        jobs: Option<usize>,
        /// Print a JSON report on stdout instead of the summary.
        #[arg(long)]
        json: bool,
    },
    /// Re-read copies from the device and check their hashes; repair bad ones.
    Verify {
        /// Only this destination (repeatable).
        #[arg(long = "dest", value_name = "NAME")]
        dest: Vec<String>,
        /// Check a random share of the copies, in percent.
        #[arg(long, value_name = "PCT", value_parser = parse_percent)]
        sample: Option<f64>,
        /// Check only copies last verified longer ago than this (e.g. 30d, 12h).
        #[arg(long, value_name = "DURATION", value_parser = triplicate::values::parse_duration)]
        older_than: Option<std::time::Duration>,
        /// Rewrite missing or damaged copies from the library or another destination.
        #[arg(long)]
        repair: bool,
        /// Copies read at once per destination.
        #[arg(long, default_value_t = 4)]
        jobs: usize,
        /// On encrypted destinations, decrypt each copy and check the photo's own hash
        /// (needs the destination's identity or passphrase file); without it, the hash
        /// of the ciphertext is checked, which needs no key.
        #[arg(long)]
        decrypt: bool,
        #[arg(long)]
        json: bool,
    },
    /// Offload a memory card: read each file once, write it to the library and every
    /// automatic destination at the same time, verify every copy, and say whether the
    /// card is safe to format. Nothing on the card is changed.
    Ingest {
        /// The card's mount point (or any folder of photos).
        card: PathBuf,
        /// The library to ingest into (default: ingest.library, else the first).
        #[arg(long, value_name = "NAME")]
        library: Option<String>,
        /// Also write to this (manual) destination; repeatable.
        #[arg(long, value_name = "DEST")]
        also: Vec<String>,
        /// A job name, for the {job} token.
        #[arg(long, value_name = "NAME")]
        job: Option<String>,
        /// Where files go in the library, e.g. "{year}/{date}/{make}-{model}/{name}".
        #[arg(long, value_name = "T")]
        template: Option<String>,
        /// The card's label, for {card} (default: the card folder's name).
        #[arg(long, value_name = "LABEL")]
        label: Option<String>,
        /// Files copied at once.
        #[arg(long)]
        jobs: Option<usize>,
        /// Unmount the card when it is safe to format.
        #[arg(long)]
        eject: bool,
        /// Bring back into the library the files an earlier ingest of this card
        /// brought there, that you removed (or edited) since.
        #[arg(long)]
        again: bool,
        #[arg(long)]
        json: bool,
    },
    /// Archives: config and image snapshots as .tar.gz (or .tar.zst).
    #[command(subcommand)]
    Archive(ArchiveCommand),
    /// GRID: this node among others (peers, the shared photo log, transfers).
    #[command(subcommand)]
    Grid(GridCommand),
    /// ASC MHL histories (the `ascmhl/` folders ingest writes).
    #[command(subcommand)]
    Mhl(MhlCommand),
    /// Bring photos back from verified copies; never overwrites a file.
    Restore {
        /// The folder to restore into.
        #[arg(long, value_name = "DIR", required_unless_present = "list")]
        to: Option<PathBuf>,
        /// Read only from this destination.
        #[arg(long = "dest", value_name = "NAME")]
        dest: Option<String>,
        /// Photos captured on or after this day (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        from: Option<day::Day>,
        /// Photos captured on or before this day (YYYY-MM-DD).
        #[arg(long, value_name = "DATE")]
        until: Option<day::Day>,
        /// Every photo: rebuilds whole library trees under their original paths.
        #[arg(long)]
        all: bool,
        /// The libraries as they were at TIME: a snapshot id (`snapshots list`),
        /// 2026-11-22T10:15:00Z, 2026-11-22 10:15 (local time) or 2026-11-22 (the end of
        /// that day). Restores everything then, unless names or dates narrow it.
        #[arg(long, value_name = "TIME")]
        as_of: Option<String>,
        /// Leave a file that holds other bytes alone instead of restoring beside it.
        #[arg(long)]
        skip_existing: bool,
        /// Only photos no library holds any more: deleted, or edited since.
        #[arg(long)]
        deleted: bool,
        /// Say what would be restored, from which destination, and the total size;
        /// write nothing.
        #[arg(long)]
        list: bool,
        /// Photos restored at once.
        #[arg(long, default_value_t = 4)]
        jobs: usize,
        #[arg(long)]
        json: bool,
        /// Names to restore: without a slash, a file name at any depth ('IMG_0010.CR2',
        /// '*.CR3'); with one, a path in the library ('2024/**'), as in .gitignore.
        globs: Vec<String>,
    },
    /// The disaster drill in one command: from one destination alone, make a new home
    /// (--home), rebuild its catalog, and restore every library into DIR, byte for
    /// byte; `triplicate backup` then carries on from there.
    Recover {
        /// The destination: a folder, or s3://…, sftp://…, webdav://….
        target: String,
        /// Where the libraries are restored (one library here, several each in a
        /// folder of its name).
        #[arg(long, value_name = "DIR")]
        to: PathBuf,
        /// Credentials for a remote destination.
        #[arg(long, value_name = "FILE")]
        credentials_file: Option<PathBuf>,
        /// The age identity that opens an encrypted destination.
        #[arg(long, value_name = "FILE")]
        identity_file: Option<PathBuf>,
        /// The passphrase of a destination that keeps its own identity.
        #[arg(long, value_name = "FILE")]
        passphrase_file: Option<PathBuf>,
        /// This node's name in the new home (default: the host name).
        #[arg(long)]
        node: Option<String>,
        /// Photos restored at once.
        #[arg(long, default_value_t = 4)]
        jobs: usize,
        #[arg(long)]
        json: bool,
    },
    /// The service: back up new photos to automatic destinations as they arrive.
    Run {
        /// One pass over what is pending, then exit (for cron).
        #[arg(long)]
        once: bool,
        /// Seconds a file must be left alone before it is backed up.
        #[arg(long, default_value_t = 1.0)]
        settle: f64,
        /// Seconds between full rescans when no change is seen.
        #[arg(long, default_value_t = 300)]
        rescan: u64,
        /// Seconds before trying again what a pass left for later (a destination not
        /// mounted or full, a file still being written).
        #[arg(long, default_value_t = 10)]
        retry: u64,
        /// Serve the Backup window and API here (default: server.listen in the config,
        /// 127.0.0.1:8321). Beyond loopback an access token is required.
        #[arg(long, value_name = "ADDR:PORT")]
        listen: Option<std::net::SocketAddr>,
        /// Do not serve the Backup window.
        #[arg(long, conflicts_with = "listen")]
        no_server: bool,
    },
    /// The operations log: every copy, verify, repair and failure.
    Log {
        /// Only failures.
        #[arg(long)]
        errors: bool,
        /// Keep printing new operations as they happen.
        #[arg(long)]
        follow: bool,
        /// How many of the newest operations to show first.
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// One JSON object per line.
        #[arg(long)]
        json: bool,
    },
    /// Remove old versions and deleted photos from the destinations, beyond a retention
    /// policy. What the libraries hold now is never touched. A dry run unless --apply.
    Prune {
        /// Keep the last version of each of the newest N days.
        #[arg(long, value_name = "N", default_value_t = 0)]
        keep_daily: u32,
        /// Keep the last version of each of the newest N weeks.
        #[arg(long, value_name = "N", default_value_t = 0)]
        keep_weekly: u32,
        /// Keep the last version of each of the newest N months.
        #[arg(long, value_name = "N", default_value_t = 0)]
        keep_monthly: u32,
        /// Keep every version that was current this recently (e.g. 30d, 2w).
        #[arg(long, value_name = "DURATION", value_parser = triplicate::values::parse_duration)]
        keep_within: Option<std::time::Duration>,
        /// Only at this destination (repeatable).
        #[arg(long = "dest", value_name = "NAME")]
        dest: Vec<String>,
        /// Remove; without it, only list what would go.
        #[arg(long)]
        apply: bool,
        #[arg(long)]
        json: bool,
    },
    /// The libraries' snapshots: each backup run that found changes records one;
    /// `restore --as-of ID` brings a library back as it was.
    #[command(subcommand)]
    Snapshots(SnapshotsCommand),
    /// Let held-back changes reach the backups: possible bit rot, or everything the
    /// mass-change guard stopped. Without names, all of them, and the guard is reset.
    AcceptChanges {
        /// Only these files (LIBRARY:PATH or PATH).
        names: Vec<String>,
        /// List the held changes; change nothing.
        #[arg(long)]
        list: bool,
        #[arg(long)]
        json: bool,
    },
    /// Destinations, counts, 3-2-1 coverage and warnings.
    Status {
        #[arg(long)]
        json: bool,
        /// List each photo that is not protected and what it lacks.
        #[arg(long)]
        at_risk: bool,
    },
}

#[derive(Subcommand)]
enum SnapshotsCommand {
    /// Every snapshot, oldest first.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum LibraryCommand {
    /// Add a library folder.
    Add {
        dir: PathBuf,
        /// The medium the library is on (its originals count as a copy there).
        #[arg(long, default_value = "ssd")]
        media: MediaKind,
    },
    /// List library folders.
    List {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum DestCommand {
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

#[derive(Subcommand)]
enum MhlCommand {
    /// Check a folder against its ASC MHL history, whoever wrote it: every file is
    /// hashed and compared with its original hash; changed, missing and unlisted
    /// files are reported. Exit code 1 if any.
    Verify {
        /// The folder holding the `ascmhl/` folder.
        dir: PathBuf,
        /// Add the check to the history, as a generation of `verified` and `failed`
        /// hashes.
        #[arg(long)]
        record: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum ArchiveCommand {
    /// Write a new archive into the archives folder, between the [archive] pre and
    /// post hooks.
    Create {
        /// `config`: config.toml, a consistent copy of the catalog, the destinations'
        /// declarations without secrets (and --section). `images`: the libraries'
        /// date folders (all, or --folder).
        #[arg(long)]
        kind: triplicate::archive::Kind,
        /// Config: also an optional section declared under [archive.sections.NAME];
        /// repeatable.
        #[arg(long, value_name = "NAME")]
        section: Vec<String>,
        /// Images: only this date folder (`20261120`, or `LIBRARY/20261120`);
        /// repeatable. All folders by default.
        #[arg(long, value_name = "FOLDER")]
        folder: Vec<String>,
        /// Show each part's raw and estimated compressed size; write nothing.
        #[arg(long)]
        estimate: bool,
        /// Compress with zstd (.tar.zst) instead of gzip (.tar.gz).
        #[arg(long)]
        zstd: bool,
        #[arg(long)]
        json: bool,
    },
    /// The archives, by kind, newest first, with their sizes (or those copied to a
    /// destination, with --dest).
    List {
        #[arg(long = "dest", value_name = "NAME")]
        dest: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// What an archive holds.
    Info {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Re-hash every file of an archive against its manifest.
    Verify {
        id: String,
        #[arg(long)]
        json: bool,
    },
    /// Add an archive from elsewhere, after checking all of it: a file, or with --dest
    /// the name of one copied to that destination (see `archive list --dest`).
    Import {
        file: PathBuf,
        #[arg(long = "dest", value_name = "NAME")]
        dest: Option<String>,
        #[arg(long)]
        json: bool,
    },
    /// Put an archive's files back where they came from (or under --to).
    Restore {
        id: String,
        /// Restore under this folder, at the archive's paths, instead of in place.
        #[arg(long, value_name = "DIR")]
        to: Option<PathBuf>,
        /// Config: only this section (`core`, or a section's name); repeatable.
        #[arg(long, value_name = "NAME")]
        section: Vec<String>,
        /// Images: only this date folder; repeatable.
        #[arg(long, value_name = "FOLDER")]
        folder: Vec<String>,
        /// Replace files that hold other bytes.
        #[arg(long)]
        force: bool,
        /// Replace config.toml and the catalog without asking (the current ones are
        /// archived first).
        #[arg(long)]
        yes: bool,
        #[arg(long)]
        json: bool,
    },
    /// Copy an archive to a destination (under .triplicate/archives/), then read the
    /// copy back and check it.
    Copy {
        id: String,
        #[arg(long = "dest", value_name = "NAME")]
        dest: String,
        #[arg(long)]
        json: bool,
    },
    /// Keep an archive whatever `prune` says.
    Pin { id: String },
    /// Let `prune` remove an archive again.
    Unpin { id: String },
    /// Delete an archive and its log.
    Delete { id: String },
    /// Delete all archives but the newest N, the pinned ones and the newest of each
    /// kind.
    Prune {
        #[arg(long, value_name = "N")]
        keep_last: usize,
        /// Say what would be deleted; delete nothing.
        #[arg(long)]
        dry_run: bool,
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum GridCommand {
    /// Give this node a GRID token (kept in grid.token beside the config, chmod 600)
    /// and print it: peers that call this node need it.
    Init,
    /// Add a peer: its `triplicate run --listen` address and its token.
    AddPeer {
        /// e.g. http://10.0.0.5:8321
        url: String,
        /// The peer's token (from `triplicate grid init` on the peer).
        #[arg(long, env = "TRIPLICATE_PEER_TOKEN", hide_env_values = true)]
        token: String,
        /// Send this node's photos to the peer (typically a central node).
        #[arg(long)]
        sync_photos: bool,
    },
    /// Forget a peer; what it sent stays.
    RemovePeer { name: String },
    /// List the peers.
    Peers {
        #[arg(long)]
        json: bool,
    },
    /// Every node: last contact, photos, photos not yet on a central node; GRID-wide
    /// 3-2-1 coverage.
    Status {
        #[arg(long)]
        json: bool,
    },
    /// Exchange with the peers and send photos now, once (what `run` does all along).
    Sync {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Subcommand)]
enum CatalogCommand {
    /// Recreate a lost catalog from the destinations' markers and manifests.
    Rebuild {
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
struct DestAdd {
    name: String,
    /// A folder (another disk, a mounted share), or a server:
    /// s3://bucket/prefix?endpoint=https://…&region=…,
    /// sftp://user@host:port/path[?known_hosts=accept-new],
    /// webdav://host/path (HTTP) or webdavs://host/path (HTTPS).
    target: String,
    /// hdd, ssd, nas, cloud, tape, optical or card.
    #[arg(long)]
    media: MediaKind,
    /// `onsite`, or the name of another site (copies there are offsite).
    #[arg(long)]
    site: String,
    /// Where photos go, e.g. "{year}/{date}/{name}".
    #[arg(long)]
    layout: Option<String>,
    /// A cold destination (a drive kept in a drawer): not expected to be there, so its
    /// absence raises no warning; `status` says when it was last refreshed and reminds
    /// after [destination] refresh_every (365 days). Implies --manual.
    #[arg(long)]
    offline: bool,
    /// S3 only, on a bucket created with Object Lock: every object stored gets a
    /// retention period this long (e.g. 30d), so nobody can delete or replace it
    /// before then.
    #[arg(long, value_name = "DURATION")]
    object_lock: Option<String>,
    /// governance (default: users with the bypass permission may lift a retention) or
    /// compliance (nobody may).
    #[arg(long, value_name = "MODE", requires = "object_lock")]
    object_lock_mode: Option<String>,
    /// Make the target folder if it does not exist. Without it, a missing folder is
    /// refused (a mistyped mount point would become a folder on this computer's own
    /// disk), unless its parent is the mount point of another disk.
    #[arg(long)]
    create: bool,
    /// Fill it only on `triplicate backup`, not automatically.
    #[arg(long)]
    manual: bool,
    /// The secret a server needs, kept in a file (chmod 600): for s3:// an AWS
    /// credentials file (else AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY); for sftp:// a
    /// private key (else ssh's own keys and agent); for webdav:// a file with
    /// `username = …` and `password = …` (else WEBDAV_USERNAME / WEBDAV_PASSWORD).
    #[arg(long, value_name = "FILE")]
    credentials_file: Option<PathBuf>,
    /// For remote targets: at most this much per second, e.g. 20MB/s.
    #[arg(long, value_name = "RATE")]
    bandwidth: Option<String>,
    /// Encrypt every copy with age to this X25519 recipient (age1…, from
    /// `age-keygen`); repeat for several. Copies are stored as NAME.age.
    #[arg(long = "encrypt-to", value_name = "AGE_RECIPIENT")]
    encrypt_to: Vec<String>,
    /// The age identity file (from `age-keygen`) that opens the copies, for restore and
    /// `verify --decrypt`; backups need only the recipients. Keep it chmod 600.
    #[arg(long, value_name = "FILE", requires = "encrypt_to")]
    identity_file: Option<PathBuf>,
    /// Encrypt with a passphrase, read from the first line of FILE (chmod 600): the
    /// destination gets its own age identity, stored on it as .triplicate/identity.age
    /// and encrypted with the passphrase; `age -d -i identity.age` opens the copies.
    #[arg(long, value_name = "FILE")]
    passphrase_file: Option<PathBuf>,
}

#[derive(Args)]
struct DestEdit {
    name: String,
    /// hdd, ssd, nas, cloud, tape, optical or card.
    #[arg(long)]
    media: Option<MediaKind>,
    /// `onsite`, or the name of another site.
    #[arg(long)]
    site: Option<String>,
    /// Where new photos go, e.g. "{year}/{date}/{name}".
    #[arg(long)]
    layout: Option<String>,
    /// Copies written here at once.
    #[arg(long, value_name = "N")]
    concurrency: Option<usize>,
    /// For remote targets: at most this much per second, e.g. 20MB/s ("" for none).
    #[arg(long, value_name = "RATE")]
    bandwidth: Option<String>,
    /// For an encrypted destination: the age identity file that opens its copies ("" to
    /// forget it).
    #[arg(long, value_name = "FILE")]
    identity_file: Option<PathBuf>,
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

/// An error and its causes, each said once: a cause whose words are already in what
/// was said (a message that quotes its source) is left out.
fn said_once(e: &anyhow::Error) -> String {
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
/// (see `triplicate::fault`); the server's access rules are configuration.
fn exit_code(e: &anyhow::Error) -> u8 {
    if e.downcast_ref::<triplicate_server::AccessError>().is_some() {
        return Fault::Usage.exit_code();
    }
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
        Command::Init { library, node } => {
            let node = node.unwrap_or_else(default_node);
            setup::init(&home, &node, &library)?;
            say!("Initialised node '{node}' at {}", home.config.display());
            for lib in Triplicate::open(&home)?.config.libraries {
                say!("  library {}: {}", lib.name, lib.path.display());
            }
            say!("Next: triplicate dest add NAME PATH --media hdd --site onsite");
        }
        Command::Library(LibraryCommand::Add { dir, media }) => {
            let lib = setup::add_library(&home, &dir, media)?;
            say!("Added library '{}' at {}", lib.name, lib.path.display());
        }
        Command::Library(LibraryCommand::List { json }) => {
            let t = open(&home)?;
            show::libraries(&t.config, json);
        }
        Command::Dest(DestCommand::Add(a)) => {
            let t = open(&home)?;
            let d = setup::add_destination(
                &home,
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
            let t = open(&home)?;
            if let Some(note) = triplicate::policy::device_note_now(&t.catalog, &t.config, &d.name)?
            {
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
        }
        Command::Dest(DestCommand::Edit(e)) => {
            let d = setup::edit_destination(
                &home,
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
        Command::Dest(DestCommand::List { json }) => {
            let t = open(&home)?;
            show::destinations(&t.config, json);
        }
        Command::Dest(DestCommand::Test { name, json }) => {
            let t = open(&home)?;
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
        Command::Dest(DestCommand::Remove { name }) => {
            let d = setup::remove_destination(&home, &name)?;
            say!(
                "Forgot destination '{}'; its data at {} is untouched.",
                d.name,
                d.target
            );
        }
        Command::Dest(DestCommand::Enable { name }) => {
            setup::set_destination_flag(&home, &name, "enabled", true)?;
            say!("Enabled destination '{name}'.");
        }
        Command::Dest(DestCommand::Disable { name }) => {
            setup::set_destination_flag(&home, &name, "enabled", false)?;
            say!(
                "Disabled destination '{name}': nothing is written there until `dest enable {name}`."
            );
        }
        Command::Grid(command) => return grid(&home, command),
        Command::Archive(command) => return archive(&home, command),
        Command::Mhl(MhlCommand::Verify { dir, record, json }) => {
            let bars = bars::Bars::new(!json);
            let check = triplicate::ingest::mhl::verify_folder(&dir, record, &bars)?;
            bars.finish();
            return print_report(json, &check, show::mhl_check, check.ok());
        }
        Command::Catalog(CatalogCommand::Rebuild { json }) => {
            let config = triplicate::config::Config::load(&home.config)?;
            let bars = bars::Bars::new(!json);
            let report = triplicate::rebuild::rebuild(&home, &config, &bars)?;
            bars.finish();
            return print_report(json, &report, show::rebuild, report.problems.is_empty());
        }
        Command::Backup { dest, jobs, json } => {
            let t = open(&home)?;
            let options = BackupOptions {
                destinations: dest,
                jobs,
                ..Default::default()
            };
            let bars = bars::Bars::new(!json);
            let report = engine::backup(&t, &options, &bars)?;
            bars.finish();
            return print_report(json, &report, show::backup, report.ok());
        }
        Command::Verify {
            dest,
            sample,
            older_than,
            repair,
            jobs,
            decrypt,
            json,
        } => {
            let t = open(&home)?;
            let options = triplicate::verify::VerifyOptions {
                // The originals are the first copy: checked unless destinations are named.
                library: dest.is_empty(),
                destinations: dest,
                sample_percent: sample,
                older_than,
                repair,
                jobs: Some(jobs),
                decrypt,
            };
            let bars = bars::Bars::new(!json);
            let report = triplicate::verify::verify(&t, &options, &bars)?;
            bars.finish();
            return print_report(json, &report, show::verify, report.ok());
        }
        Command::Ingest {
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
        } => {
            let t = open(&home)?;
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
                show::ingest(&report);
                match &ejected {
                    Some(Ok(())) => say!("The card at {} was unmounted.", card.display()),
                    Some(Err(e)) => say!("The card could not be unmounted: {e}"),
                    None => {}
                }
            }
            return Ok(if report.verdict.safe && !matches!(ejected, Some(Err(_))) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        Command::Recover {
            target,
            to,
            credentials_file,
            identity_file,
            passphrase_file,
            node,
            jobs,
            json,
        } => {
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
            let report = match triplicate::recover::recover(&home, &options, &bars) {
                // On a terminal, ask rather than refuse.
                Err(triplicate::recover::RecoverError::Locked { passphrase, .. })
                    if std::io::IsTerminal::is_terminal(&std::io::stdin()) =>
                {
                    ask_for_the_key(&home, &mut options, passphrase)?;
                    triplicate::recover::recover(&home, &options, &bars)?
                }
                other => other?,
            };
            bars.finish();
            return print_report(json, &report, show::recover, report.ok());
        }
        Command::Restore {
            to,
            dest,
            from,
            until,
            all,
            as_of,
            skip_existing,
            deleted,
            list,
            jobs,
            json,
            globs,
        } => {
            let t = open(&home)?;
            if let Some(lost) = triplicate::rebuild::lost_catalog(&t.catalog, &t.config)? {
                // "Restored 0 of 0" would be a lie about what the destinations hold.
                eprintln!("error: {lost}");
                return Ok(ExitCode::from(1));
            }
            let as_of = as_of
                .map(|text| triplicate::restore::parse_as_of(&t, &text))
                .transpose()?;
            let options = triplicate::restore::RestoreOptions {
                to: to.unwrap_or_default(),
                destination: dest,
                from: from.map(|d| d.0),
                until: until.map(|d| d.0),
                all,
                as_of,
                globs,
                deleted,
                list,
                skip_existing,
                jobs,
            };
            let bars = bars::Bars::new(!json && !list);
            let report = triplicate::restore::restore(&t, &options, &bars)?;
            bars.finish();
            if list {
                return print_report(json, &report, show::restore_list, true);
            }
            return print_report(json, &report, show::restore, report.ok());
        }
        Command::Prune {
            keep_daily,
            keep_weekly,
            keep_monthly,
            keep_within,
            dest,
            apply,
            json,
        } => {
            let t = open(&home)?;
            let policy = triplicate::prune::RetentionPolicy {
                keep_daily,
                keep_weekly,
                keep_monthly,
                keep_within,
            };
            let bars = bars::Bars::new(!json);
            let report = triplicate::prune::prune(&t, &policy, &dest, apply, &bars)?;
            bars.finish();
            return print_report(json, &report, show::pruned, report.ok());
        }
        Command::Snapshots(SnapshotsCommand::List { json }) => {
            let t = open(&home)?;
            let snapshots = t.catalog.snapshots()?;
            if json {
                say!("{}", serde_json::to_string_pretty(&snapshots)?);
            } else {
                show::snapshots(&snapshots);
            }
        }
        Command::AcceptChanges { names, list, json } => {
            let t = open(&home)?;
            if list {
                let held = t.catalog.held_changes()?;
                if json {
                    say!("{}", serde_json::to_string_pretty(&held)?);
                } else {
                    show::held_changes(&held, t.catalog.guard_trip()?.as_ref());
                }
            } else {
                let report = triplicate::protection::accept_changes(&t, &names)?;
                return print_report(json, &report, show::accepted, true);
            }
        }
        Command::Run {
            once,
            settle,
            rescan,
            retry,
            listen,
            no_server,
        } => {
            let t = open(&home)?;
            if t.config.daemon.io_priority == triplicate::config::IoPriority::Low {
                // Before any thread starts, so that all of them inherit it.
                if let Err(e) = triplicate::fsutil::lower_io_priority() {
                    tracing::warn!("cannot lower the I/O priority: {e}");
                }
            }
            let stop = Arc::new(AtomicBool::new(false));
            for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
                signal_hook::flag::register(signal, stop.clone())?;
            }
            let options = triplicate::daemon::DaemonOptions {
                settle: std::time::Duration::from_secs_f64(settle.max(0.0)),
                rescan: std::time::Duration::from_secs(rescan.max(1)),
                retry: std::time::Duration::from_secs(retry.max(1)),
                once,
            };
            let service = Arc::new(triplicate::service::Service::new());
            // `--once` is for cron: no page, unless asked for.
            let serve = !no_server && (listen.is_some() || (!once && t.config.server.enabled));
            let server = if serve {
                Some(server::start(
                    &home,
                    &t.config,
                    listen,
                    service.clone(),
                    stop.clone(),
                )?)
            } else {
                None
            };
            if !once {
                eprintln!(
                    "Watching {} librar{} (settle {settle} s, full rescan every {rescan} s); stop with Ctrl-C.",
                    t.config.libraries.len(),
                    if t.config.libraries.len() == 1 {
                        "y"
                    } else {
                        "ies"
                    }
                );
            }
            let quiet = bars::Bars::new(false);
            let result = triplicate::daemon::run(
                t,
                &options,
                &service,
                &quiet,
                &show::PassLine,
                stop.clone(),
            );
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            if let Some(server) = server {
                server.join();
            }
            let report = result?;
            return Ok(if report.is_none_or(|r| r.ok()) {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(1)
            });
        }
        Command::Log {
            errors,
            follow,
            limit,
            json,
        } => {
            let t = open(&home)?;
            let mut last = 0;
            loop {
                let ops =
                    t.catalog
                        .operations(last, if last == 0 { limit } else { 10_000 }, errors)?;
                for op in &ops {
                    show::operation(op, json);
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
        }
        Command::Status { json, at_risk } => {
            let t = open(&home)?;
            let report = triplicate::status::status(&t, at_risk)?;
            if json {
                say!("{}", serde_json::to_string_pretty(&report)?);
            } else {
                show::status(&report);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `triplicate archive …`.
fn archive(home: &Home, command: ArchiveCommand) -> anyhow::Result<ExitCode> {
    use triplicate::archive;
    let t = Triplicate::open(home)?;
    match command {
        ArchiveCommand::Create {
            kind,
            section,
            folder,
            estimate,
            zstd,
            json,
        } => {
            let request = archive::Request {
                kind,
                sections: section,
                folders: folder,
                compression: if zstd {
                    archive::Compression::Zstd
                } else {
                    archive::Compression::Gzip
                },
                no_hooks: false,
            };
            if estimate {
                let estimates = archive::estimate(&t, &request)?;
                return print_report(json, &estimates, show::archive_estimate, true);
            }
            // Ctrl-C and SIGTERM stop the archive cleanly (the post hook still runs);
            // a second one ends the program at once.
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            for signal in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
                signal_hook::flag::register_conditional_shutdown(signal, 130, stop.clone())?;
                signal_hook::flag::register(signal, stop.clone())?;
            }
            let bars = bars::Bars::new(!json);
            let created = archive::create(&t, &request, &bars, &stop);
            bars.finish();
            let created = created?;
            return print_report(json, &created, show::archive_created, true);
        }
        ArchiveCommand::List {
            dest: Some(dest),
            json,
        } => {
            let there = archive::list_at(&t, &dest)?;
            return print_report(json, &there, show::archives_at, true);
        }
        ArchiveCommand::List { dest: None, json } => {
            let (list, broken) = archive::list(&t)?;
            if json {
                say!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                show::archives(&list, &archive::folder(&t));
            }
            for e in &broken {
                eprintln!("warning: {e}");
            }
        }
        ArchiveCommand::Info { id, json } => {
            let archive = archive::find(&t, &id)?;
            let manifest = archive::read_manifest(&archive.file)?;
            let info = show::ArchiveInfo { archive, manifest };
            return print_report(json, &info, show::archive_info, true);
        }
        ArchiveCommand::Verify { id, json } => {
            let found = archive::find(&t, &id)?;
            let verified = archive::verify(&found.file)?;
            return print_report(json, &verified, show::archive_verified, verified.ok());
        }
        ArchiveCommand::Import { file, dest, json } => {
            let limits = archive::Limits::default();
            let imported = match dest {
                Some(dest) => {
                    archive::import_from_destination(&t, &dest, &file.to_string_lossy(), &limits)?
                }
                None => archive::import(&t, &file, &limits)?,
            };
            return print_report(json, &imported, show::archive_imported, true);
        }
        ArchiveCommand::Restore {
            id,
            to,
            section,
            folder,
            force,
            yes,
            json,
        } => {
            let mut request = archive::RestoreRequest {
                id,
                to,
                sections: section,
                folders: folder,
                force,
                confirmed: yes,
            };
            let restored = match archive::restore(&t, &request) {
                Err(archive::ArchiveError::NeedsConfirmation)
                    if std::io::IsTerminal::is_terminal(&std::io::stdin()) =>
                {
                    eprint!(
                        "This replaces config.toml and the catalog (the current ones are archived first). Go on? [y/N] "
                    );
                    let mut answer = String::new();
                    std::io::stdin().read_line(&mut answer)?;
                    if !matches!(answer.trim(), "y" | "Y" | "yes") {
                        eprintln!("Nothing was restored.");
                        return Ok(ExitCode::from(1));
                    }
                    request.confirmed = true;
                    archive::restore(&t, &request)?
                }
                other => other?,
            };
            return print_report(json, &restored, show::archive_restored, true);
        }
        ArchiveCommand::Copy { id, dest, json } => {
            let copied = archive::copy_to(&t, &id, &dest)?;
            return print_report(json, &copied, show::archive_copied, true);
        }
        ArchiveCommand::Pin { id } => {
            let a = archive::pin(&t, &id)?;
            say!("Pinned archive {}: prune keeps it.", a.id);
        }
        ArchiveCommand::Unpin { id } => {
            let a = archive::unpin(&t, &id)?;
            say!("Unpinned archive {}.", a.id);
        }
        ArchiveCommand::Delete { id } => {
            let a = archive::delete(&t, &id)?;
            say!("Deleted archive {} ({}).", a.id, a.file.display());
        }
        ArchiveCommand::Prune {
            keep_last,
            dry_run,
            json,
        } => {
            let pruned = archive::prune(&t, keep_last, dry_run)?;
            return print_report(json, &pruned, show::archive_pruned, true);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// `triplicate grid …`.
fn grid(home: &Home, command: GridCommand) -> anyhow::Result<ExitCode> {
    use triplicate::grid;
    match command {
        GridCommand::Init => {
            let token = grid::peer::init(home)?;
            let t = Triplicate::open(home)?;
            say!(
                "Node '{}' (id {}) answers GRID peers with this token:",
                t.config.node,
                t.catalog.grid_node_id()?
            );
            say!("{token}");
            say!(
                "On each peer: triplicate grid add-peer http://THIS-NODE:PORT --token TOKEN [--sync-photos]"
            );
            say!(
                "Serve the GRID with `triplicate run --listen ADDR:PORT` (restart a running service)."
            );
        }
        GridCommand::AddPeer {
            url,
            token,
            sync_photos,
        } => {
            let p = grid::peer::add(home, &url, &token, sync_photos)?;
            say!(
                "Added peer '{}' at {} (id {}){}",
                p.name,
                p.url,
                p.id,
                if p.sync_photos {
                    "; this node sends it its photos"
                } else {
                    ""
                }
            );
        }
        GridCommand::RemovePeer { name } => {
            let p = grid::peer::remove(home, &name)?;
            say!("Forgot peer '{}' at {}; what it sent stays.", p.name, p.url);
        }
        GridCommand::Peers { json } => {
            let t = Triplicate::open(home)?;
            show::peers(&t.config.grid.peers, json);
        }
        GridCommand::Status { json } => {
            let t = Triplicate::open(home)?;
            let status = grid::status::status(&t)?;
            return print_report(json, &status, show::grid_status, true);
        }
        GridCommand::Sync { json } => {
            let t = Triplicate::open(home)?;
            let stop = AtomicBool::new(false);
            let exchanged = grid::exchange(&t)?;
            let sent = grid::send_all(&t, &stop)?;
            let after = grid::exchange(&t)?;
            let ok = after.failed.is_empty() && sent.iter().all(|(_, r)| r.is_ok());
            let report = serde_json::json!({
                "published": exchanged.published + after.published,
                "pulled": exchanged.pulled + after.pulled,
                "failed": after.failed,
                "sent": sent.iter().map(|(peer, r)| match r {
                    Ok(r) => serde_json::json!({"peer": peer, "report": r}),
                    Err(e) => serde_json::json!({"peer": peer, "error": e}),
                }).collect::<Vec<_>>(),
            });
            return print_report(json, &report, show::grid_sync, ok);
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Prints `report` as JSON with `json`, else as `show` words it; exit code 0 if `ok`,
/// else 1.
fn print_report<R: serde::Serialize>(
    json: bool,
    report: &R,
    show: fn(&R),
    ok: bool,
) -> anyhow::Result<ExitCode> {
    if json {
        say!("{}", serde_json::to_string_pretty(report)?);
    } else {
        show(report);
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
