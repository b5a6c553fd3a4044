//! A person's answer to the alarms: letting held changes through.
//!
//! Changes are held back by the scan ([`crate::scan`]): possible bit rot, and every
//! change to backed-up content while the mass-change guard is tripped. The backups keep
//! the good versions meanwhile. [`accept_changes`] is `triplicate accept-changes`: the
//! chosen held changes become the files' current content, which the next backup stores
//! as new versions (the earlier ones move aside, never replaced), and without names it
//! also resets the guard.

use serde::Serialize;

use crate::catalog::{CatalogError, HeldChange};
use crate::home::Triplicate;
use crate::scan::{BIT_ROT_WARNING, GUARD_WARNING};

/// What `accept-changes` did.
#[derive(Debug, Clone, Serialize)]
pub struct AcceptReport {
    /// The changes let through.
    pub accepted: Vec<HeldChange>,
    /// Held changes that the names given did not match.
    pub still_held: u64,
    /// Whether the mass-change guard was reset.
    pub guard_reset: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AcceptError {
    #[error("no held change matches '{0}': see `triplicate accept-changes --list`")]
    NoMatch(String),
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

impl crate::fault::Classify for AcceptError {
    fn fault(&self) -> crate::fault::Fault {
        match self {
            AcceptError::NoMatch(_) => crate::fault::Fault::NotFound,
            AcceptError::Catalog(_) => crate::fault::Fault::Failed,
        }
    }
}

/// Lets held changes through: those named (`LIBRARY:PATH` or `PATH`), or all of them
/// and the guard too when `names` is empty.
pub fn accept_changes(t: &Triplicate, names: &[String]) -> Result<AcceptReport, AcceptError> {
    let held = t.catalog.held_changes()?;
    for name in names {
        if !held.iter().any(|h| matches(h, name)) {
            return Err(AcceptError::NoMatch(name.clone()));
        }
    }
    let chosen = |h: &HeldChange| names.is_empty() || names.iter().any(|n| matches(h, n));
    let accepted = t.catalog.accept_changes(Some(&chosen))?;
    for h in &accepted {
        t.catalog
            .resolve_warnings(&format!("{}:{}", h.library, h.path), &[BIT_ROT_WARNING])?;
        tracing::info!(
            "accepted the change to {}:{} ({} is now {})",
            h.library,
            h.path,
            h.kept.short(),
            h.found.short()
        );
    }
    let guard_reset = names.is_empty() && t.catalog.guard_trip()?.is_some();
    if guard_reset {
        t.catalog.set_guard_trip(None)?;
        for lib in &t.config.libraries {
            t.catalog
                .resolve_warnings(&format!("library:{}", lib.name), &[GUARD_WARNING])?;
        }
        tracing::warn!(
            "the mass-change guard was reset by a person: changes reach the backups again"
        );
    }
    Ok(AcceptReport {
        still_held: (held.len() - accepted.len()) as u64,
        accepted,
        guard_reset,
    })
}

fn matches(h: &HeldChange, name: &str) -> bool {
    let path = h.path.to_string();
    name == path || name == format!("{}:{path}", h.library)
}
