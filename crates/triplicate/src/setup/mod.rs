//! Changing the setup: `init`, `library add`, `dest add|remove|enable|disable`.
//!
//! Each function checks its input, changes the destination (its marker) where it must,
//! and saves the configuration through [`ConfigFile`], which refuses to write a
//! configuration that would not load. No function here deletes photos or backups:
//! removing a destination only forgets it. Destinations, which have the most to
//! check, are in `destination`.

use std::path::{Path, PathBuf};

use crate::config::{ConfigError, ConfigFile, LibraryConfig};
use crate::destination::{DestError, MediaKind};
use crate::home::Home;

mod destination;
pub use destination::*;

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Destination(#[from] DestError),
    #[error(transparent)]
    Catalog(#[from] crate::catalog::CatalogError),
    /// What was asked for is not right (a path, a value, a combination).
    #[error("{0}")]
    Invalid(String),
    #[error("no destination named '{name}' (see `triplicate dest list`)")]
    UnknownDestination { name: String },
    #[error("a destination named '{name}' exists already (see `triplicate dest list`)")]
    DestinationExists { name: String },
    /// A destination answered, but not as it should (its identity, a check read back).
    #[error("destination '{name}': {message}")]
    Unhealthy { name: String, message: String },
}

impl crate::fault::Classify for SetupError {
    fn fault(&self) -> crate::fault::Fault {
        use crate::fault::Fault;
        match self {
            SetupError::Config(e) => e.fault(),
            SetupError::Invalid(_) | SetupError::DestinationExists { .. } => Fault::Usage,
            SetupError::UnknownDestination { .. } => Fault::NotFound,
            SetupError::Destination(_) | SetupError::Catalog(_) | SetupError::Unhealthy { .. } => {
                Fault::Failed
            }
        }
    }
}

/// Creates a new home with a configuration for `node` and these libraries.
pub fn init(home: &Home, node: &str, libraries: &[PathBuf]) -> Result<(), SetupError> {
    let mut file = ConfigFile::create(&home.config, node)?;
    let mut names = Vec::new();
    for dir in libraries {
        let lib = library_config(dir, MediaKind::Ssd, &names)?;
        names.push(lib.name.clone());
        file.add_library(&lib)?;
    }
    file.save()?;
    crate::catalog::Catalog::open(&home.catalog)?;
    Ok(())
}

/// Adds a library folder. Its name is the folder's name (made unique).
pub fn add_library(home: &Home, dir: &Path, media: MediaKind) -> Result<LibraryConfig, SetupError> {
    let mut file = ConfigFile::open(&home.config)?;
    let existing: Vec<String> = crate::config::Config::load(&home.config)?
        .libraries
        .into_iter()
        .map(|l| l.name)
        .collect();
    let lib = library_config(dir, media, &existing)?;
    file.add_library(&lib)?;
    file.save()?;
    Ok(lib)
}

/// Adds a library folder under a name of its own (a recovered library keeps the name
/// its manifests give it).
pub fn add_library_named(
    home: &Home,
    dir: &Path,
    name: &str,
    media: MediaKind,
) -> Result<LibraryConfig, SetupError> {
    let mut file = ConfigFile::open(&home.config)?;
    let mut lib = library_config(dir, media, &[])?;
    lib.name = name.to_string();
    file.add_library(&lib)?;
    crate::config::Config::parse(&home.config, &file.text())?;
    file.save()?;
    Ok(lib)
}

fn library_config(
    dir: &Path,
    media: MediaKind,
    taken: &[String],
) -> Result<LibraryConfig, SetupError> {
    let path = std::fs::canonicalize(dir).map_err(|e| {
        SetupError::Invalid(format!(
            "library {}: {e} (the folder must exist)",
            dir.display()
        ))
    })?;
    if !path.is_dir() {
        return Err(SetupError::Invalid(format!(
            "library {} is not a folder",
            path.display()
        )));
    }
    let base: String = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| "library".into())
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '-' | '_') {
                c
            } else {
                '_'
            }
        })
        .collect();
    let base = if base.is_empty() || base.starts_with('.') {
        "library".to_string()
    } else {
        base
    };
    let mut name = base.clone();
    let mut n = 2;
    while taken.contains(&name) {
        name = format!("{base}-{n}");
        n += 1;
    }
    Ok(LibraryConfig { name, path, media })
}

/// Adds a notification channel (`[[notify.channel]]`), checked as a load would.
pub fn add_channel(home: &Home, channel: &crate::config::ChannelConfig) -> Result<(), SetupError> {
    let mut file = ConfigFile::open(&home.config)?;
    file.add_channel(channel)?;
    file.save()?;
    Ok(())
}

/// Forgets a notification channel.
pub fn remove_channel(home: &Home, name: &str) -> Result<(), SetupError> {
    let mut file = ConfigFile::open(&home.config)?;
    file.remove_channel(name)?;
    file.save()?;
    Ok(())
}
