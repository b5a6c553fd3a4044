//! What `grid status` and the Backup window show: this node, its peers, every node the
//! change log knows with its photos and its lag behind the central nodes, and the
//! GRID-wide 3-2-1 coverage.
//!
//! **Central nodes** are those that receive photos (they have a GRID library). A
//! node's photos "not yet on a central node" are its present photos that no other
//! central node holds; their age is counted from when the node first saw them.
//!
//! **GRID-wide coverage** counts, for each photo, every node holding it in a library
//! (one copy, on that library's medium, at the node's site) and every verified copy at
//! any node's destination (with that destination's media and site; a destination's
//! `onsite` is its node's site). A copy is offsite when its site is not `onsite`. The
//! numbers to meet are this node's policy.

use std::collections::{BTreeSet, HashMap};

use serde::Serialize;

use super::{NodeRecord, PhotoRecord, Record, Result};
use crate::destination::{MediaKind, ONSITE};
use crate::device::DeviceId;
use crate::home::Triplicate;
use crate::policy::{Coverage, Holder};
use crate::vocab::CopyState;

#[derive(Debug, Clone, Serialize)]
pub struct GridStatus {
    /// This node's id, name and site.
    pub node_id: String,
    pub name: String,
    pub site: String,
    /// Whether a token is set, so that peers can call this node.
    pub answers_peers: bool,
    pub receives: bool,
    pub peers: Vec<PeerStatus>,
    /// The names of the central nodes (those that receive photos); with none, no photo
    /// is counted as "not yet on a central node".
    pub central: Vec<String>,
    pub nodes: Vec<NodeStatus>,
    pub coverage: GridCoverage,
    /// This node's photos whose changes are not yet in its log.
    pub unpublished: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct PeerStatus {
    pub name: String,
    pub url: String,
    pub id: String,
    pub sync_photos: bool,
    /// Unix seconds of the last successful pull.
    pub last_contact: Option<i64>,
    pub last_error: Option<String>,
    pub error_at: Option<i64>,
    /// How far its feed has been pulled.
    pub pulled_seq: i64,
}

#[derive(Debug, Clone, Serialize)]
pub struct NodeStatus {
    pub id: String,
    pub name: String,
    pub site: String,
    pub this_node: bool,
    pub receives: bool,
    /// Photos in its libraries.
    pub photos: u64,
    /// Of those, photos no central node holds.
    pub not_on_central: u64,
    /// Unix seconds when the oldest of those was first seen by the node.
    pub oldest_not_on_central: Option<i64>,
    /// Unix seconds of the last successful pull from it (peers only).
    pub last_contact: Option<i64>,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct GridCoverage {
    pub photos: u64,
    pub protected: u64,
    pub at_risk: u64,
}

/// The GRID as this node knows it.
pub fn status(t: &Triplicate) -> Result<GridStatus> {
    let own = t.catalog.grid_node_id()?;
    let peers = peer_statuses(t)?;
    let (node_records, photos) = records(t, &own)?;
    let central: BTreeSet<&str> = node_records
        .iter()
        .filter(|(_, n)| n.receives)
        .map(|(id, _)| id.as_str())
        .collect();
    let mut nodes: HashMap<String, NodeStatus> = node_records
        .iter()
        .map(|(id, n)| {
            (
                id.clone(),
                NodeStatus {
                    id: id.clone(),
                    name: n.name.clone(),
                    site: n.site.clone(),
                    this_node: *id == own,
                    receives: n.receives,
                    photos: 0,
                    not_on_central: 0,
                    oldest_not_on_central: None,
                    last_contact: peers
                        .iter()
                        .find(|p| p.id == *id)
                        .and_then(|p| p.last_contact),
                },
            )
        })
        .collect();
    let coverage = count_photos(t, &photos, &node_records, &central, &mut nodes);
    let central: Vec<String> = central
        .iter()
        .filter_map(|id| node_records.get(*id).map(|n| n.name.clone()))
        .collect();
    let mut nodes: Vec<NodeStatus> = nodes.into_values().collect();
    nodes.sort_by(|a, b| b.this_node.cmp(&a.this_node).then(a.name.cmp(&b.name)));
    Ok(GridStatus {
        node_id: own,
        name: t.config.node.clone(),
        site: t.config.grid.site.clone(),
        answers_peers: super::own_token(&t.config).ok().flatten().is_some(),
        receives: t.config.grid.library.is_some(),
        peers,
        central,
        nodes,
        coverage,
        unpublished: t.catalog.grid_unpublished()?,
    })
}

/// The configured peers, with what the last exchanges with each left.
fn peer_statuses(t: &Triplicate) -> Result<Vec<PeerStatus>> {
    let states = t.catalog.grid_peer_states()?;
    Ok(t.config
        .grid
        .peers
        .iter()
        .map(|p| {
            let s = states
                .get(p.url.trim_end_matches('/'))
                .cloned()
                .unwrap_or_default();
            PeerStatus {
                name: p.name.clone(),
                url: p.url.clone(),
                id: p.id.clone(),
                sync_photos: p.sync_photos,
                last_contact: s.last_contact,
                last_error: s.last_error,
                error_at: s.error_at,
                pulled_seq: s.pulled_seq,
            }
        })
        .collect())
}

/// The GRID's records this node knows: each node's by its id (this node's own even
/// before its first publish), and each photo's holders by the photo.
type Records = (
    HashMap<String, NodeRecord>,
    HashMap<Vec<u8>, Vec<(String, PhotoRecord)>>,
);

fn records(t: &Triplicate, own: &str) -> Result<Records> {
    let mut node_records: HashMap<String, NodeRecord> = HashMap::new();
    let mut photos: HashMap<Vec<u8>, Vec<(String, PhotoRecord)>> = HashMap::new();
    for r in t.catalog.grid_records()? {
        match serde_json::from_str::<Record>(&r.record) {
            Ok(Record::Node(n)) => {
                node_records.insert(r.origin, n);
            }
            Ok(Record::Photo(p)) => photos.entry(r.subject).or_default().push((r.origin, p)),
            Err(e) => tracing::warn!("a GRID record of {} does not parse: {e}", r.origin),
        }
    }
    node_records
        .entry(own.to_string())
        .or_insert_with(|| super::log::node_record(&t.config));
    Ok((node_records, photos))
}

/// Counts each node's photos and those not yet on a central node, and the GRID's
/// coverage by the policy.
fn count_photos(
    t: &Triplicate,
    photos: &HashMap<Vec<u8>, Vec<(String, PhotoRecord)>>,
    node_records: &HashMap<String, NodeRecord>,
    central: &BTreeSet<&str>,
    nodes: &mut HashMap<String, NodeStatus>,
) -> GridCoverage {
    let mut coverage = GridCoverage::default();
    for holders in photos.values() {
        for (origin, p) in holders.iter().filter(|(_, p)| p.present) {
            let n = nodes.entry(origin.clone()).or_insert_with(|| NodeStatus {
                id: origin.clone(),
                name: origin.chars().take(8).collect(),
                site: ONSITE.into(),
                this_node: false,
                receives: false,
                photos: 0,
                not_on_central: 0,
                oldest_not_on_central: None,
                last_contact: None,
            });
            n.photos += 1;
            let gathered = holders
                .iter()
                .any(|(o, q)| q.present && o != origin && central.contains(o.as_str()));
            if !central.is_empty() && !central.contains(origin.as_str()) && !gathered {
                n.not_on_central += 1;
                n.oldest_not_on_central = Some(
                    n.oldest_not_on_central
                        .map_or(p.first_seen, |o| o.min(p.first_seen)),
                );
            }
        }
        coverage.photos += 1;
        if photo_coverage(holders, node_records).is_protected(&t.config.policy) {
            coverage.protected += 1;
        } else {
            coverage.at_risk += 1;
        }
    }
    coverage
}

/// One photo's copies across the GRID, by the one coverage rule
/// ([`crate::policy::count`]). Nodes do not publish their devices, so each node's
/// library and each destination is a device of its own, and a destination reported by
/// several nodes counts once.
fn photo_coverage(
    holders: &[(String, PhotoRecord)],
    nodes: &HashMap<String, NodeRecord>,
) -> Coverage {
    let site_of = |origin: &str| {
        nodes
            .get(origin)
            .map_or(ONSITE, |n| n.site.as_str())
            .to_string()
    };
    // device → (media, offsite), originals first, in a stable order.
    let mut places: Vec<(DeviceId, MediaKind, bool)> = Vec::new();
    for (origin, p) in holders.iter().filter(|(_, p)| p.present) {
        let media = p
            .names
            .iter()
            .filter(|n| n.present)
            .find_map(|n| {
                nodes
                    .get(origin)
                    .and_then(|node| node.libraries.iter().find(|l| l.name == n.library))
                    .map(|l| l.media)
            })
            .unwrap_or(MediaKind::Ssd);
        places.push((
            DeviceId(format!("node:{origin}")),
            media,
            site_of(origin) != ONSITE,
        ));
    }
    for (origin, p) in holders {
        let node_site = site_of(origin);
        for c in p
            .copies
            .iter()
            .filter(|c| c.state == CopyState::Verified.as_str())
        {
            let site = if c.site == ONSITE {
                node_site.clone()
            } else {
                c.site.clone()
            };
            places.push((
                DeviceId(format!("dest:{}", c.dest)),
                c.media,
                site != ONSITE,
            ));
        }
    }
    let holders: Vec<Holder<'_>> = places
        .iter()
        .map(|(device, media, offsite)| Holder {
            name: &device.0,
            device,
            media: *media,
            offsite: *offsite,
        })
        .collect();
    crate::policy::count(&holders, &[]).coverage
}
