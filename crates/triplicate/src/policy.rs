//! 3-2-1 coverage: how many copies a photo has, on how many kinds of media, how many
//! offsite, and whether that meets the policy. This module holds the one rule every
//! verdict follows: `status`, the page, `/metrics`, GRID-wide coverage and the card
//! ingest verdict all call [`count`].
//!
//! **The rule.** Copies are counted by physical device ([`crate::device`]). The
//! original counts first, on its library's device and medium, at the node's own site.
//! Then each verified copy, in order, counts only if its device holds no counted copy
//! yet: a copy on the original's disk, or on the disk of another counted copy, adds
//! neither a copy nor a medium nor an offsite copy. Devices that are no copy at all (a
//! card being ingested) are never counted. Media are the distinct media of the counted
//! copies; offsite copies are the counted copies at another site. A library file that
//! cannot be read counts as no copy at all, so it is at risk whatever its backups. The
//! numbers to meet are [`Policy`]: 3, 2 and 1 by default.
//!
//! Copies at destinations removed from the configuration no longer count.

use std::collections::{BTreeSet, HashMap, HashSet};

use serde::Serialize;

use crate::catalog::{Catalog, CatalogError, CoverageRow, UnreadableFile};
use crate::config::{Config, Policy};
use crate::destination::MediaKind;
use crate::device::{Device, DeviceId};
use crate::relpath::RelPath;

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

/// One place holding a copy, as the rule sees it.
#[derive(Debug, Clone, Copy)]
pub struct Holder<'a> {
    /// A library's or destination's name, for the reasons given.
    pub name: &'a str,
    pub device: &'a DeviceId,
    pub media: MediaKind,
    pub offsite: bool,
}

/// A copy the rule did not count, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct NotCounted {
    pub name: String,
    /// "on the same device as library 'Downloads'".
    pub reason: String,
}

/// What [`count`] found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Counted {
    pub coverage: Coverage,
    /// The names of the holders that counted.
    pub counted: Vec<String>,
    pub not_counted: Vec<NotCounted>,
}

/// The coverage rule (see the module documentation): `holders` in order (the original
/// first), none on the `excluded` devices, one per device.
pub fn count(holders: &[Holder<'_>], excluded: &[(&DeviceId, &str)]) -> Counted {
    let mut seen: HashMap<&DeviceId, &str> = HashMap::new();
    let mut media = BTreeSet::new();
    let mut out = Counted {
        coverage: Coverage {
            copies: 0,
            media: 0,
            offsite: 0,
        },
        counted: Vec::new(),
        not_counted: Vec::new(),
    };
    for h in holders {
        if let Some((_, what)) = excluded.iter().find(|(d, _)| *d == h.device) {
            out.not_counted.push(NotCounted {
                name: h.name.to_string(),
                reason: format!("on the same device as {what}"),
            });
            continue;
        }
        if let Some(first) = seen.get(h.device) {
            out.not_counted.push(NotCounted {
                name: h.name.to_string(),
                reason: format!("on the same device as {first}"),
            });
            continue;
        }
        seen.insert(h.device, h.name);
        out.coverage.copies += 1;
        media.insert(h.media);
        if h.offsite {
            out.coverage.offsite += 1;
        }
        out.counted.push(h.name.to_string());
    }
    out.coverage.media = media.len() as u32;
    out
}

/// The device behind each library (by name) and destination (by id), taken now where
/// it can be, else as last seen.
#[derive(Debug, Clone, Default)]
pub struct Devices {
    pub libraries: HashMap<String, Device>,
    pub destinations: HashMap<String, Device>,
}

impl Devices {
    /// Looks at every library and destination of `config`; remembers what it sees in
    /// the catalog, and falls back on what the catalog remembers for what cannot be
    /// seen now (a disk unplugged). A place never seen is a device of its own.
    pub fn locate(catalog: &Catalog, config: &Config) -> Result<Devices, CatalogError> {
        let remembered = catalog.devices()?;
        let mut out = Devices::default();
        for lib in &config.libraries {
            let place = crate::catalog::library_place(&lib.name);
            let device = match crate::device::of_path(&lib.path) {
                Ok(d) => {
                    if remembered.get(&place) != Some(&d) {
                        catalog.record_device(&place, &d)?;
                    }
                    d
                }
                Err(_) => remembered.get(&place).cloned().unwrap_or_else(|| Device {
                    id: DeviceId(place.clone()),
                    label: format!("library '{}' (not found)", lib.name),
                }),
            };
            out.libraries.insert(lib.name.clone(), device);
        }
        for d in &config.destinations {
            let place = crate::catalog::destination_place(&d.id);
            let device = match crate::destination::device_of(d) {
                Some(dev) => {
                    if remembered.get(&place) != Some(&dev) {
                        catalog.record_device(&place, &dev)?;
                    }
                    dev
                }
                None => remembered.get(&place).cloned().unwrap_or_else(|| Device {
                    id: DeviceId(place.clone()),
                    label: format!("destination '{}' (never seen)", d.name),
                }),
            };
            out.destinations.insert(d.id.clone(), device);
        }
        Ok(out)
    }
}

/// A library or destination as the rule sees it.
struct Place {
    /// As reasons name it: "library 'Downloads'", "'usb'".
    shown: String,
    media: MediaKind,
    offsite: bool,
    device: DeviceId,
}

impl Place {
    fn holder(&self) -> Holder<'_> {
        Holder {
            name: &self.shown,
            device: &self.device,
            media: self.media,
            offsite: self.offsite,
        }
    }
}

/// What counts where, taken from the configuration and the devices.
pub struct CoverageModel {
    policy: Policy,
    /// By library name.
    libraries: HashMap<String, Place>,
    /// Destination ids and names with their place, in configuration order.
    destinations: Vec<(String, String, Place)>,
}

impl CoverageModel {
    pub fn new(config: &Config, devices: &Devices) -> CoverageModel {
        let device = |map: &HashMap<String, Device>, key: &str, fallback: String| {
            map.get(key)
                .map(|d| d.id.clone())
                .unwrap_or(DeviceId(fallback))
        };
        CoverageModel {
            policy: config.policy,
            libraries: config
                .libraries
                .iter()
                .map(|l| {
                    let place = Place {
                        shown: format!("library '{}'", l.name),
                        media: l.media,
                        offsite: false,
                        device: device(&devices.libraries, &l.name, format!("lib:{}", l.name)),
                    };
                    (l.name.clone(), place)
                })
                .collect(),
            destinations: config
                .destinations
                .iter()
                .map(|d| {
                    let place = Place {
                        shown: format!("'{}'", d.name),
                        media: d.media,
                        offsite: d.is_offsite(),
                        device: device(&devices.destinations, &d.id, format!("dest:{}", d.id)),
                    };
                    (d.id.clone(), d.name.clone(), place)
                })
                .collect(),
        }
    }

    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The coverage of one photo, with the copies that did not count and why.
    pub fn count(&self, row: &CoverageRow) -> Counted {
        let mut holders = Vec::new();
        if !row.unreadable
            && let Some(place) = row.library.as_ref().and_then(|l| self.libraries.get(l))
        {
            holders.push(place.holder());
        }
        holders.extend(
            self.destinations
                .iter()
                .filter(|(id, ..)| row.verified_at.contains(id))
                .map(|(_, _, place)| place.holder()),
        );
        count(&holders, &[])
    }

    /// The names of the configured destinations among `ids`.
    fn names_of<'a>(&'a self, ids: &'a [String]) -> impl Iterator<Item = &'a str> + 'a {
        self.destinations
            .iter()
            .filter(|(id, ..)| ids.contains(id))
            .map(|(_, name, _)| name.as_str())
    }

    pub fn coverage(&self, row: &CoverageRow) -> Coverage {
        self.count(row).coverage
    }

    /// The destinations whose copies never count: on the device of a library or of a
    /// destination before them. (name, "on the same device as library 'Downloads'").
    pub fn shared_devices(&self) -> Vec<NotCounted> {
        let excluded: Vec<(&DeviceId, &str)> = self
            .libraries
            .values()
            .map(|p| (&p.device, p.shown.as_str()))
            .collect();
        let holders: Vec<Holder<'_>> = self
            .destinations
            .iter()
            .map(|(_, _, place)| place.holder())
            .collect();
        count(&holders, &excluded).not_counted
    }
}

/// Why a destination's copies do not count toward 3-2-1, in a sentence, if they do
/// not: "'usb' is on the same device as library 'Downloads': its copies do not count
/// toward 3-2-1".
pub fn device_note(shared: &[NotCounted], dest_name: &str) -> Option<String> {
    let quoted = format!("'{dest_name}'");
    shared.iter().find(|n| n.name == quoted).map(|n| {
        format!(
            "{} is {}: its copies do not count toward 3-2-1",
            n.name, n.reason
        )
    })
}

/// [`device_note`] for one destination, looking at the devices now.
pub fn device_note_now(
    catalog: &Catalog,
    config: &Config,
    dest_name: &str,
) -> Result<Option<String>, CatalogError> {
    let devices = Devices::locate(catalog, config)?;
    let shared = CoverageModel::new(config, &devices).shared_devices();
    Ok(device_note(&shared, dest_name))
}

/// Coverage over the whole catalog.
#[derive(Debug, Clone, Default, Serialize)]
pub struct CoverageSummary {
    /// Photos whose original is in a library, and library files that could not be
    /// read (each counted as a photo).
    pub photos: u64,
    pub protected: u64,
    pub at_risk: u64,
    /// Of the photos at risk, library files (or folders) that could not be read.
    pub unreadable: u64,
    /// Files the libraries' include rules leave out: not backed up, by choice.
    pub left_out: u64,
    /// Photos no longer in any library, still held by destinations.
    pub only_in_backups: u64,
    /// Median seconds from first seen to protected, over protected photos.
    pub median_time_to_protected: Option<i64>,
}

/// A photo that does not meet the policy, or a library file that could not be read.
#[derive(Debug, Clone, Serialize)]
pub struct AtRisk {
    /// The photo, when its content is known (an unreadable file's is not).
    pub photo_id: Option<i64>,
    /// An unreadable file's name; a photo's names come from the catalog.
    pub name: Option<(String, RelPath)>,
    pub coverage: Coverage,
    pub lacks: Vec<&'static str>,
    /// Why, in words: "cannot read: permission denied", "'usb' is on the same device
    /// as library 'Downloads'".
    pub reasons: Vec<String>,
}

/// Everything the verdict is made of.
pub struct Assessment {
    pub summary: CoverageSummary,
    pub at_risk: Vec<AtRisk>,
    /// Photos protected now but not yet marked so (for time-to-protected).
    pub newly_protected: Vec<i64>,
    pub devices: Devices,
}

/// Computes coverage for every photo and every unreadable library file.
pub fn assess(catalog: &Catalog, config: &Config) -> Result<Assessment, CatalogError> {
    let devices = Devices::locate(catalog, config)?;
    let model = CoverageModel::new(config, &devices);
    let mut summary = CoverageSummary::default();
    let mut at_risk = Vec::new();
    let mut newly_protected = Vec::new();
    let mut delays = Vec::new();
    let configured: HashSet<&str> = config.libraries.iter().map(|l| l.name.as_str()).collect();
    let unreadable: Vec<UnreadableFile> = catalog
        .unreadable_files()?
        .into_iter()
        .filter(|u| configured.contains(u.library.as_str()))
        .collect();
    let unreadable_known = catalog.photos_of_unreadable(&unreadable)?;
    let proven_since = config
        .verify
        .trust_for()
        .map(|t| crate::catalog::now() - t.as_secs() as i64);
    for mut row in catalog.coverage_rows(proven_since)? {
        if row.library.is_none() {
            summary.only_in_backups += 1;
            continue;
        }
        row.unreadable = unreadable_known.contains_key(&row.photo_id);
        summary.photos += 1;
        let counted = model.count(&row);
        let c = counted.coverage;
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
            let reasons = model.reasons(&row, &counted, unreadable_known.get(&row.photo_id));
            at_risk.push(AtRisk {
                photo_id: Some(row.photo_id),
                name: None,
                coverage: c,
                lacks: c.lacks(model.policy()),
                reasons,
            });
        }
    }
    for u in unreadable
        .iter()
        .filter(|u| !unreadable_known.values().any(|k| k == *u))
    {
        summary.photos += 1;
        summary.at_risk += 1;
        summary.unreadable += 1;
        at_risk.push(AtRisk::unreadable(u, model.policy()));
    }
    summary.unreadable += unreadable_known.len() as u64;
    summary.left_out = catalog
        .left_out()?
        .iter()
        .filter(|(l, _)| configured.contains(l.as_str()))
        .map(|(_, l)| l.files)
        .sum();
    if !delays.is_empty() {
        delays.sort_unstable();
        summary.median_time_to_protected = Some(delays[delays.len() / 2].max(0));
    }
    Ok(Assessment {
        summary,
        at_risk,
        newly_protected,
        devices,
    })
}

impl AtRisk {
    /// A file (or folder) the scan could not read, so no photo of the catalog's.
    fn unreadable(u: &UnreadableFile, policy: &Policy) -> AtRisk {
        let none = Coverage {
            copies: 0,
            media: 0,
            offsite: 0,
        };
        AtRisk {
            photo_id: None,
            name: Some((u.library.clone(), u.path.clone())),
            coverage: none,
            lacks: none.lacks(policy),
            reasons: vec![if u.is_dir {
                format!(
                    "cannot read the folder: {}; nothing below it is backed up",
                    u.reason
                )
            } else {
                format!("cannot read: {}", u.reason)
            }],
        }
    }
}

impl CoverageModel {
    /// Why a photo at risk is: its file cannot be read, copies that do not count,
    /// copies that failed, copies proven too long ago.
    fn reasons(
        &self,
        row: &CoverageRow,
        counted: &Counted,
        unreadable: Option<&UnreadableFile>,
    ) -> Vec<String> {
        let mut reasons: Vec<String> = unreadable
            .map(|u| vec![format!("cannot read: {}", u.reason)])
            .unwrap_or_default();
        reasons.extend(
            counted
                .not_counted
                .iter()
                .map(|n| format!("the copy at {} is {}", n.name, n.reason)),
        );
        reasons.extend(row.failed_at.iter().filter_map(|(id, error)| {
            let name = self.names_of(std::slice::from_ref(id)).next()?;
            Some(format!("the copy to '{name}' failed: {error}"))
        }));
        reasons.extend(self.names_of(&row.stale_at).map(|name| {
            format!(
                "the copy at '{name}' was last proven longer ago than verify.trust_for: `triplicate verify --dest {name}` proves it again"
            )
        }));
        reasons
    }
}

#[cfg(test)]
mod tests;
