//! 3-2-1 coverage: how many copies a photo has, on how many kinds of media, how many
//! offsite, and whether that meets the policy.
//!
//! The library original counts as one copy, on its library's medium, at the node's own
//! site. Every verified copy at a configured destination counts once, with the media and
//! site the destination declares. Copies at destinations that were removed from the
//! configuration no longer count. The numbers to meet are [`Policy`]: 3, 2 and 1 by
//! default.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use crate::catalog::{Catalog, CatalogError, CoverageRow};
use crate::config::{Config, Policy};
use crate::destination::MediaKind;

/// One photo's coverage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Coverage {
    pub copies: u32,
    pub media: u32,
    pub offsite: u32,
}

impl Coverage {
    pub fn is_protected(&self, policy: &Policy) -> bool {
        self.copies >= policy.copies && self.media >= policy.media && self.offsite >= policy.offsite
    }

    /// Which of the three numbers fall short.
    pub fn lacks(&self, policy: &Policy) -> Vec<&'static str> {
        let mut out = Vec::new();
        if self.copies < policy.copies {
            out.push("copies");
        }
        if self.media < policy.media {
            out.push("media");
        }
        if self.offsite < policy.offsite {
            out.push("offsite");
        }
        out
    }

    /// "2 copies, 1 medium, no offsite copy".
    pub fn describe(&self) -> String {
        let copies = match self.copies {
            1 => "1 copy".to_string(),
            n => format!("{n} copies"),
        };
        let media = match self.media {
            1 => "1 medium".to_string(),
            n => format!("{n} media"),
        };
        let offsite = match self.offsite {
            0 => "no offsite copy".to_string(),
            1 => "1 offsite copy".to_string(),
            n => format!("{n} offsite copies"),
        };
        format!("{copies}, {media}, {offsite}")
    }
}

/// The media and site of a destination, as coverage needs them.
#[derive(Debug, Clone, Copy)]
pub struct Placement {
    pub media: MediaKind,
    pub offsite: bool,
}

/// What counts where, taken from the configuration.
pub struct CoverageModel {
    policy: Policy,
    libraries: HashMap<String, MediaKind>,
    destinations: HashMap<String, Placement>,
}

impl CoverageModel {
    pub fn new(config: &Config) -> CoverageModel {
        CoverageModel {
            policy: config.policy,
            libraries: config
                .libraries
                .iter()
                .map(|l| (l.name.clone(), l.media))
                .collect(),
            destinations: config
                .destinations
                .iter()
                .map(|d| {
                    (
                        d.id.clone(),
                        Placement {
                            media: d.media,
                            offsite: d.is_offsite(),
                        },
                    )
                })
                .collect(),
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    pub fn coverage(&self, row: &CoverageRow) -> Coverage {
        let mut media = BTreeSet::new();
        let mut copies = 0;
        let mut offsite = 0;
        if let Some(lib) = &row.library {
            copies += 1;
            media.insert(self.libraries.get(lib).copied().unwrap_or(MediaKind::Ssd));
        }
        for dest in &row.verified_at {
            if let Some(p) = self.destinations.get(dest) {
                copies += 1;
                media.insert(p.media);
                if p.offsite {
                    offsite += 1;
                }
            }
        }
        Coverage {
            copies,
            media: media.len() as u32,
            offsite,
        }
    }
}

/// Coverage over the whole catalog.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CoverageSummary {
    /// Photos whose original is in a library.
    pub photos: u64,
    pub protected: u64,
    pub at_risk: u64,
    /// Photos no longer in any library, still held by destinations.
    pub only_in_backups: u64,
    /// Median seconds from first seen to protected, over protected photos.
    pub median_time_to_protected: Option<i64>,
}

/// A photo that does not meet the policy.
#[derive(Debug, Clone, Serialize)]
pub struct AtRisk {
    pub photo_id: i64,
    pub coverage: Coverage,
    pub lacks: Vec<&'static str>,
}

/// Computes coverage for every photo; returns the summary, the at-risk photos, and the
/// photos that are protected but not yet marked so (for time-to-protected).
pub fn assess(
    catalog: &Catalog,
    config: &Config,
) -> Result<(CoverageSummary, Vec<AtRisk>, Vec<i64>), CatalogError> {
    let model = CoverageModel::new(config);
    let mut summary = CoverageSummary::default();
    let mut at_risk = Vec::new();
    let mut newly_protected = Vec::new();
    let mut delays = Vec::new();
    for row in catalog.coverage_rows()? {
        if row.library.is_none() {
            summary.only_in_backups += 1;
            continue;
        }
        summary.photos += 1;
        let c = model.coverage(&row);
        if c.is_protected(model.policy()) {
            summary.protected += 1;
            match row.protected_at {
                Some(at) => delays.push(at - row.first_seen),
                None => {
                    newly_protected.push(row.photo_id);
                    delays.push(crate::catalog::now() - row.first_seen);
                }
            }
        } else {
            summary.at_risk += 1;
            at_risk.push(AtRisk {
                photo_id: row.photo_id,
                coverage: c,
                lacks: c.lacks(model.policy()),
            });
        }
    }
    if !delays.is_empty() {
        delays.sort_unstable();
        summary.median_time_to_protected = Some(delays[delays.len() / 2].max(0));
    }
    Ok((summary, at_risk, newly_protected))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{DestinationConfig, LibraryConfig};

    fn config() -> Config {
        let dest = |name: &str, media, site: &str| DestinationConfig {
            name: name.into(),
            target: format!("/d/{name}"),
            id: name.into(),
            media,
            site: site.into(),
            enabled: true,
            automatic: true,
            layout: crate::config::default_layout(),
            concurrency: None,
            credentials_file: None,
            bandwidth: None,
            encrypt_to: Vec::new(),
            identity_file: None,
            passphrase_file: None,
            offline: false,
            refresh_every: None,
            object_lock: None,
            object_lock_mode: None,
        };
        Config {
            node: "n".into(),
            policy: Policy::default(),
            scan: Default::default(),
            backup: Default::default(),
            daemon: Default::default(),
            server: Default::default(),
            ingest: Default::default(),
            grid: Default::default(),
            archive: Default::default(),
            protection: Default::default(),
            libraries: vec![LibraryConfig {
                name: "lib".into(),
                path: "/lib".into(),
                media: MediaKind::Ssd,
            }],
            destinations: vec![
                dest("usb", MediaKind::Hdd, "onsite"),
                dest("usb2", MediaKind::Hdd, "onsite"),
                dest("ssd2", MediaKind::Ssd, "onsite"),
                dest("cloud", MediaKind::Cloud, "b2"),
            ],
        }
    }

    #[test]
    fn coverage_table() {
        let model = CoverageModel::new(&config());
        let row = |lib: bool, dests: &[&str]| CoverageRow {
            photo_id: 1,
            library: lib.then(|| "lib".to_string()),
            first_seen: 0,
            protected_at: None,
            verified_at: dests.iter().map(|d| d.to_string()).collect(),
        };
        // (original in library, verified at, (copies, media, offsite), protected, words)
        type Case<'a> = (bool, &'a [&'a str], (u32, u32, u32), bool, &'a str);
        let cases: &[Case] = &[
            (
                true,
                &[],
                (1, 1, 0),
                false,
                "1 copy, 1 medium, no offsite copy",
            ),
            (
                true,
                &["usb"],
                (2, 2, 0),
                false,
                "2 copies, 2 media, no offsite copy",
            ),
            (
                true,
                &["ssd2"],
                (2, 1, 0),
                false,
                "2 copies, 1 medium, no offsite copy",
            ),
            (
                true,
                &["usb", "usb2"],
                (3, 2, 0),
                false,
                "3 copies, 2 media, no offsite copy",
            ),
            (
                true,
                &["usb", "cloud"],
                (3, 3, 1),
                true,
                "3 copies, 3 media, 1 offsite copy",
            ),
            (
                false,
                &["usb", "cloud"],
                (2, 2, 1),
                false,
                "2 copies, 2 media, 1 offsite copy",
            ),
            (
                true,
                &["usb", "gone-dest"],
                (2, 2, 0),
                false,
                "2 copies, 2 media, no offsite copy",
            ),
        ];
        for (lib, dests, (copies, media, offsite), protected, text) in cases {
            let c = model.coverage(&row(*lib, dests));
            assert_eq!(
                (c.copies, c.media, c.offsite),
                (*copies, *media, *offsite),
                "{dests:?}"
            );
            assert_eq!(c.is_protected(&Policy::default()), *protected, "{dests:?}");
            assert_eq!(c.describe(), *text);
        }
        let weak = model.coverage(&row(true, &["ssd2"]));
        assert_eq!(
            weak.lacks(&Policy::default()),
            vec!["copies", "media", "offsite"]
        );
        let relaxed = Policy {
            copies: 2,
            media: 1,
            offsite: 0,
        };
        assert!(weak.is_protected(&relaxed));
    }
}
