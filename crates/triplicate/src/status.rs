//! `status`: each destination's state and counts, 3-2-1 coverage, open warnings.
//!
//! Nothing here writes to a destination: the state comes from reading the marker and
//! asking the filesystem for space. "full" is the state while a full-disk warning from
//! the last run is open, or when no space is left at all.

use serde::Serialize;

use crate::catalog::{CatalogError, DestCounts, Warning};
use crate::config::Policy;
use crate::destination::{self, MediaKind};
use crate::fsutil::Space;
use crate::home::Triplicate;
use crate::policy::{self, Coverage, CoverageSummary};
use crate::relpath::RelPath;

#[derive(Debug, Clone, Serialize)]
pub struct DestinationStatus {
    pub name: String,
    pub target: String,
    pub media: MediaKind,
    pub site: String,
    pub enabled: bool,
    pub automatic: bool,
    /// ok, disabled, not mounted, wrong disk, damaged marker, read-only, full.
    pub state: String,
    /// Why the state is not "ok", in words.
    pub detail: Option<String>,
    pub space: Option<Space>,
    #[serde(flatten)]
    pub counts: DestCounts,
    /// When the least recently verified copy here was last read back and checked.
    pub oldest_verification: Option<i64>,
    /// Copies found missing or corrupt by `verify`, not yet repaired.
    pub damaged: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LibraryStatus {
    pub name: String,
    pub path: String,
    pub media: MediaKind,
    pub available: bool,
}

#[derive(Debug, Clone, Serialize)]
pub struct AtRiskPhoto {
    pub library: String,
    pub path: RelPath,
    pub coverage: Coverage,
    pub lacks: Vec<&'static str>,
    pub description: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub node: String,
    pub policy: Policy,
    pub libraries: Vec<LibraryStatus>,
    pub destinations: Vec<DestinationStatus>,
    pub coverage: CoverageSummary,
    pub warnings: Vec<Warning>,
    /// Filled when asked for (`--at-risk`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub at_risk: Option<Vec<AtRiskPhoto>>,
}

pub fn status(t: &Triplicate, with_at_risk: bool) -> Result<StatusReport, CatalogError> {
    let warnings = t.catalog.open_warnings()?;
    let mut destinations = Vec::new();
    for d in &t.config.destinations {
        let counts = t.catalog.dest_counts(&d.id)?;
        let (oldest_verification, damaged) = t.catalog.verification_health(&d.id)?;
        let marker = destination::probe(d);
        // The space of an empty mount point is not the disk's: only show it when mounted.
        let space = marker
            .as_ref()
            .ok()
            .and_then(|_| crate::fsutil::space(&d.local_root()).ok());
        let (state, detail) = if !d.enabled {
            ("disabled".to_string(), None)
        } else {
            match &marker {
                Err(e) => (e.state().to_string(), Some(e.to_string())),
                Ok(_) if space.is_some_and(|s| s.read_only) => (
                    "read-only".to_string(),
                    Some(format!("{} is mounted read-only", d.target)),
                ),
                Ok(_) => {
                    let full_warning = warnings
                        .iter()
                        .find(|w| w.subject == format!("dest:{}", d.name) && w.kind == "full");
                    match full_warning {
                        Some(w) => ("full".to_string(), Some(w.message.clone())),
                        None if space.is_some_and(|s| s.free == 0) => (
                            "full".to_string(),
                            Some(format!("no space left at {}", d.target)),
                        ),
                        None => ("ok".to_string(), None),
                    }
                }
            }
        };
        destinations.push(DestinationStatus {
            name: d.name.clone(),
            target: d.target.clone(),
            media: d.media,
            site: d.site.clone(),
            enabled: d.enabled,
            automatic: d.automatic,
            state,
            detail,
            space,
            counts,
            oldest_verification,
            damaged,
        });
    }
    let (coverage, at_risk, _) = policy::assess(&t.catalog, &t.config)?;
    let at_risk = if with_at_risk {
        let mut out = Vec::with_capacity(at_risk.len());
        for r in at_risk {
            let Some((library, path)) = t.catalog.names_of(r.photo_id)?.into_iter().next() else {
                continue;
            };
            out.push(AtRiskPhoto {
                library,
                path,
                description: r.coverage.describe(),
                coverage: r.coverage,
                lacks: r.lacks,
            });
        }
        out.sort_by(|a, b| (&a.library, &a.path).cmp(&(&b.library, &b.path)));
        Some(out)
    } else {
        None
    };
    Ok(StatusReport {
        node: t.config.node.clone(),
        policy: t.config.policy,
        libraries: t
            .config
            .libraries
            .iter()
            .map(|l| LibraryStatus {
                name: l.name.clone(),
                path: l.path.display().to_string(),
                media: l.media,
                available: l.path.is_dir(),
            })
            .collect(),
        destinations,
        coverage,
        warnings,
        at_risk,
    })
}
