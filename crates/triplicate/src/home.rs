//! Where Triplicate keeps its own state, and the open state itself.
//!
//! A [`Home`] is the pair of paths `config.toml` and `catalog.db`: both in one folder
//! with `--home DIR` (or `$TRIPLICATE_HOME`), else in the XDG config and data folders,
//! which the binary works out. [`Triplicate`] is a home opened: the checked
//! configuration and the catalog, which every command works through.

use std::path::{Path, PathBuf};

use crate::catalog::{Catalog, CatalogError};
use crate::config::{Config, ConfigError};

#[derive(Debug, Clone)]
pub struct Home {
    pub config: PathBuf,
    pub catalog: PathBuf,
}

impl Home {
    /// Both files in one folder.
    pub fn in_dir(dir: &Path) -> Home {
        Home {
            config: dir.join("config.toml"),
            catalog: dir.join("catalog.db"),
        }
    }

    /// The home folder: where config.toml is, and beside it the home's private files
    /// (the access token, GRID tokens, the run lock).
    pub fn dir(&self) -> &Path {
        self.config.parent().unwrap_or(Path::new("."))
    }

    /// The XDG layout: `<config_dir>/triplicate/config.toml`, `<data_dir>/triplicate/catalog.db`.
    pub fn xdg(config_dir: &Path, data_dir: &Path) -> Home {
        Home {
            config: config_dir.join("triplicate").join("config.toml"),
            catalog: data_dir.join("triplicate").join("catalog.db"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

impl crate::fault::Classify for OpenError {
    fn fault(&self) -> crate::fault::Fault {
        match self {
            OpenError::Config(e) => e.fault(),
            OpenError::Catalog(_) => crate::fault::Fault::Failed,
        }
    }
}

/// An opened home: configuration and catalog.
pub struct Triplicate {
    pub home: Home,
    pub config: Config,
    pub catalog: Catalog,
}

impl Triplicate {
    pub fn open(home: &Home) -> Result<Triplicate, OpenError> {
        let config = Config::load(&home.config)?;
        let catalog = Catalog::open(&home.catalog)?;
        Ok(Triplicate {
            home: home.clone(),
            config,
            catalog,
        })
    }
}
