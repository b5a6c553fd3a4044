//! The disaster drill in one command: from one destination, on a machine with nothing.
//!
//! [`recover`] reads the destination's marker (its name, media, site and, when it is
//! encrypted, its recipients), makes a new home that declares it, rebuilds the catalog
//! from its manifests alone, declares each library the manifests name (one library
//! at the target folder, several each in a folder of its name), and restores every
//! name they had at the last backup into them, byte for byte, with its modification
//! time (names deleted before stay in the backups, for `restore --deleted`). The home is then ready
//! for `triplicate backup` to carry on: the restored files are the libraries, and the
//! destination already holds them.

use std::path::PathBuf;

use serde::Serialize;

use crate::config::DestinationConfig;
use crate::destination::{self, DestError, META_DIR, Marker, MediaKind, ReadDestination};
use crate::home::{Home, OpenError, Triplicate};
use crate::progress::Progress;
use crate::rebuild::{RebuildError, RebuildReport};
use crate::relpath::RelPath;
use crate::restore::{RestoreError, RestoreOptions, RestoreReport};
use crate::setup::{self, NewDestination, SetupError};

/// What to recover from, and where to.
#[derive(Debug, Clone, Default)]
pub struct RecoverOptions {
    /// The destination: a folder, or `s3://…`, `sftp://…`, `webdav://…`.
    pub target: String,
    /// Where the libraries are restored (created if needed).
    pub to: PathBuf,
    /// This node's name in the new home.
    pub node: String,
    pub credentials_file: Option<PathBuf>,
    /// The age identity that opens an encrypted destination's copies.
    pub identity_file: Option<PathBuf>,
    /// The passphrase of a destination that keeps its own identity.
    pub passphrase_file: Option<PathBuf>,
    /// Photos restored at once.
    pub jobs: usize,
}

#[derive(Debug, Clone, Serialize)]
pub struct RecoverReport {
    /// The new home's configuration.
    pub home: PathBuf,
    /// The destination, as the new home names it.
    pub destination: String,
    /// Each library the destination knew, and where it is now.
    pub libraries: Vec<(String, PathBuf)>,
    pub rebuild: RebuildReport,
    pub restore: RestoreReport,
}

impl RecoverReport {
    pub fn ok(&self) -> bool {
        self.rebuild.problems.is_empty() && self.restore.ok()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    #[error(
        "a home exists already at {}: recover makes a new one; give another with --home DIR",
        .0.display()
    )]
    HomeExists(PathBuf),
    #[error(
        "{target} holds no Triplicate destination (no {META_DIR}/destination.toml there): check the path or URL, and that the disk is mounted"
    )]
    NotADestination { target: String },
    #[error(
        "{target} is encrypted: give {}",
        if *passphrase { "--passphrase-file (its passphrase) or --identity-file" } else { "--identity-file (the age identity that opens it)" }
    )]
    Locked {
        target: String,
        /// It keeps its own identity, locked by a passphrase.
        passphrase: bool,
    },
    #[error(transparent)]
    Destination(#[from] DestError),
    #[error(transparent)]
    Catalog(#[from] crate::catalog::CatalogError),
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error(transparent)]
    Open(#[from] OpenError),
    #[error(transparent)]
    Rebuild(#[from] RebuildError),
    #[error(transparent)]
    Restore(#[from] RestoreError),
    #[error("cannot create {}: {source}", path.display())]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl crate::fault::Classify for RecoverError {
    fn fault(&self) -> crate::fault::Fault {
        match self {
            RecoverError::HomeExists(_)
            | RecoverError::NotADestination { .. }
            | RecoverError::Locked { .. } => crate::fault::Fault::Usage,
            _ => crate::fault::Fault::Failed,
        }
    }
}

/// Recovers everything the destination at `options.target` holds (see the module
/// documentation) into a new home at `home`.
pub fn recover(
    home: &Home,
    options: &RecoverOptions,
    progress: &dyn Progress,
) -> Result<RecoverReport, RecoverError> {
    if home.config.exists() {
        return Err(RecoverError::HomeExists(home.config.clone()));
    }
    let marker = read_marker(options)?;
    if !marker.age_recipients.is_empty()
        && options.identity_file.is_none()
        && options.passphrase_file.is_none()
    {
        return Err(RecoverError::Locked {
            target: options.target.clone(),
            passphrase: read_meta(options, crate::destination::encrypted::IDENTITY_KEY)?.is_some(),
        });
    }
    setup::init(home, &options.node, &[])?;
    let declared = match declare(home, options, &marker) {
        Ok(d) => d,
        Err(e) => {
            // Nothing half made is left behind: a second try starts afresh.
            for file in [&home.config, &home.catalog] {
                let _ = std::fs::remove_file(file);
            }
            return Err(e);
        }
    };

    let t = Triplicate::open(home)?;
    let rebuild = crate::rebuild::rebuild(home, &t.config, progress)?;
    let t = Triplicate::open(home)?;
    let names = t.catalog.library_names()?;
    let mut libraries = Vec::new();
    for name in &names {
        let dir = if names.len() == 1 {
            options.to.clone()
        } else {
            options.to.join(name)
        };
        std::fs::create_dir_all(&dir).map_err(|source| RecoverError::Folder {
            path: dir.clone(),
            source,
        })?;
        let lib = setup::add_library_named(home, &dir, name, MediaKind::Ssd)?;
        libraries.push((name.clone(), lib.path));
    }
    let t = Triplicate::open(home)?;
    // The libraries as they were at the last backup: names deleted before it stay in
    // the backups (`restore --deleted`), not in the recovered library. Manifests of
    // earlier versions tell no history: then every name.
    let as_of = t.catalog.has_history()?.then(crate::catalog::now_ms);
    let restore = crate::restore::restore(
        &t,
        &RestoreOptions {
            to: options.to.clone(),
            all: true,
            as_of,
            jobs: options.jobs.max(1),
            ..Default::default()
        },
        progress,
    )?;
    Ok(RecoverReport {
        home: home.config.clone(),
        destination: declared.name,
        libraries,
        rebuild,
        restore,
    })
}

/// Declares the destination in the new home, as its marker describes it.
fn declare(
    home: &Home,
    options: &RecoverOptions,
    marker: &Marker,
) -> Result<DestinationConfig, RecoverError> {
    let with_passphrase = options.passphrase_file.is_some();
    Ok(setup::add_destination(
        home,
        &options.node,
        &NewDestination {
            credentials_file: options.credentials_file.clone(),
            identity_file: options.identity_file.clone(),
            passphrase_file: options.passphrase_file.clone(),
            // A passphrase opens the destination's own identity, whose recipient
            // add_destination finds there.
            encrypt_to: if with_passphrase {
                Vec::new()
            } else {
                marker.age_recipients.clone()
            },
            ..NewDestination::new(&marker.name, &options.target, marker.media, &marker.site)
        },
    )?)
}

/// The marker of the destination at `options.target`, read without writing anything.
fn read_marker(options: &RecoverOptions) -> Result<Marker, RecoverError> {
    let not_one = || RecoverError::NotADestination {
        target: options.target.clone(),
    };
    let text = read_meta(options, &format!("{META_DIR}/destination.toml"))?.ok_or_else(not_one)?;
    toml::from_str(&String::from_utf8_lossy(&text)).map_err(|_| not_one())
}

/// The bytes at `key` of the destination at `options.target`, if it holds it; read
/// without writing anything (nothing is declared yet).
fn read_meta(options: &RecoverOptions, key: &str) -> Result<Option<Vec<u8>>, RecoverError> {
    if !destination::remote::is_remote(&options.target) {
        return Ok(std::fs::read(PathBuf::from(&options.target).join(key)).ok());
    }
    // Declared the way a config file would, with only what a read needs.
    let mut config: DestinationConfig = toml::from_str(&format!(
        "name = \"recover\"\ntarget = {}\nid = \"\"\nmedia = \"cloud\"\nsite = \"recover\"",
        toml::Value::String(options.target.clone())
    ))
    .expect("a plain declaration");
    config.credentials_file = options.credentials_file.clone();
    let key = RelPath::new(key.as_bytes().to_vec()).expect("a clean key");
    let mut reader = match destination::connect(&config)?.read(&key) {
        Ok(r) => r,
        Err(DestError::NotFound { .. }) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    let mut bytes = Vec::new();
    match std::io::Read::read_to_end(&mut reader, &mut bytes) {
        Ok(_) => Ok(Some(bytes)),
        Err(_) => Ok(None),
    }
}
