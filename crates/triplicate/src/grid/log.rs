//! The change log: publishing this node's records, serving them as a feed, and merging
//! what peers' feeds hold.
//!
//! A record is the origin's whole current view of one photo (or of itself), so the
//! newest one of an origin replaces the older ones and merging is "keep the highest
//! `origin_seq`". Changes pulled from a peer keep their origin, so they travel on
//! through this node to its other peers.

use std::collections::HashMap;

use super::names;
use super::peer::PeerClient;
use super::{
    Change, ChangePage, CopyRecord, FEED_MAX, FEED_MAX_BYTES, GridError, Hello, LibraryRecord,
    NodeRecord, PROTOCOL, PhotoName, PhotoRecord, Record, Result,
};
use crate::catalog::{PhotoView, RecordRow};
use crate::config::Config;
use crate::home::Triplicate;

/// Photos published per transaction.
const PUBLISH_BATCH: usize = 2000;

/// What this node says of itself.
pub fn node_record(config: &Config) -> NodeRecord {
    NodeRecord {
        name: config.node.clone(),
        site: config.grid.site.clone(),
        receives: config.grid.library.is_some(),
        libraries: config
            .libraries
            .iter()
            .map(|l| LibraryRecord {
                name: l.name.clone(),
                media: l.media,
            })
            .collect(),
    }
}

/// The record of one photo as this node sees it.
pub fn photo_record(config: &Config, view: &PhotoView) -> PhotoRecord {
    let dests: HashMap<&str, &crate::config::DestinationConfig> = config
        .destinations
        .iter()
        .map(|d| (d.id.as_str(), d))
        .collect();
    PhotoRecord {
        hash: view.hash.to_hex(),
        size: view.size,
        captured: view.captured.clone(),
        kind: view.kind.clone(),
        first_seen: view.first_seen,
        present: view.names.iter().any(|(_, _, present)| *present),
        names: view
            .names
            .iter()
            .map(|(library, path, present)| PhotoName {
                library: library.clone(),
                path: String::from_utf8_lossy(path.as_bytes()).into_owned(),
                present: *present,
            })
            .collect(),
        // Copies at destinations no longer configured do not count, here or anywhere.
        copies: view
            .copies
            .iter()
            .filter_map(|(id, state)| {
                dests.get(id.as_str()).map(|d| CopyRecord {
                    dest: id.clone(),
                    name: d.name.clone(),
                    media: d.media,
                    site: d.site.clone(),
                    state: state.clone(),
                })
            })
            .collect(),
    }
}

/// How a record is stored: its subject, presence, age and canonical JSON.
pub fn record_row(record: &Record) -> Result<RecordRow> {
    let text = serde_json::to_string(record)
        .map_err(|e| GridError::BadRequest(format!("a record does not serialise: {e}")))?;
    Ok(match record {
        Record::Photo(p) => RecordRow {
            subject: names::hash(&p.hash)?.0.to_vec(),
            present: p.present,
            first_seen: p.first_seen,
            record: text,
        },
        Record::Node(_) => RecordRow {
            subject: Vec::new(),
            present: true,
            first_seen: 0,
            record: text,
        },
    })
}

/// Appends to the log every change of this node not yet published: its own record,
/// and each photo whose files or copies changed. Returns how many were appended.
pub fn publish(t: &Triplicate) -> Result<usize> {
    let own = t.catalog.grid_node_id()?;
    let mut appended = 0;
    let node = record_row(&Record::Node(node_record(&t.config)))?;
    if t.catalog.grid_publish_record(&own, &node)? {
        appended += 1;
    }
    loop {
        let (seen, added) = t.catalog.grid_publish_photos(&own, PUBLISH_BATCH, |view| {
            let record = Record::Photo(photo_record(&t.config, view));
            record_row(&record).expect("a photo's own record is well formed")
        })?;
        appended += added;
        if seen < PUBLISH_BATCH {
            return Ok(appended);
        }
    }
}

/// `hello`: who this node is.
pub fn hello(t: &Triplicate) -> Result<Hello> {
    let (_, latest) = t.catalog.grid_changes_since(i64::MAX, 1, 0)?;
    let node_id = t.catalog.grid_node_id()?;
    let mut vouches = t.catalog.grid_origins()?;
    vouches.retain(|o| *o != node_id);
    Ok(Hello {
        protocol: PROTOCOL,
        vouches,
        node_id,
        name: t.config.node.clone(),
        site: t.config.grid.site.clone(),
        receives: t.config.grid.library.is_some(),
        time: crate::catalog::now(),
        latest_seq: latest,
    })
}

/// The feed after `since`: at most `limit` changes (at most [`FEED_MAX`]) and 1 MiB.
pub fn feed(t: &Triplicate, since: i64, limit: usize) -> Result<ChangePage> {
    let limit = limit.clamp(1, FEED_MAX);
    let (rows, latest) = t
        .catalog
        .grid_changes_since(since.max(0), limit, FEED_MAX_BYTES)?;
    let next = rows.last().map_or(since.max(0), |r| r.seq);
    let changes = rows
        .into_iter()
        .map(|r| {
            let record = serde_json::value::RawValue::from_string(r.record).map_err(|e| {
                GridError::BadRequest(format!("change {} of the log is not JSON: {e}", r.seq))
            })?;
            Ok(Change {
                seq: r.seq,
                origin: r.origin,
                origin_seq: r.origin_seq,
                record,
            })
        })
        .collect::<Result<_>>()?;
    Ok(ChangePage {
        node_id: t.catalog.grid_node_id()?,
        latest_seq: latest,
        next,
        changes,
    })
}

/// Checks a page pulled from `peer` and stores it, with the peer's new position.
///
/// Until nodes sign their records, whose name a record is in is checked this far:
/// its origin must be a node id, and either the peer itself or an origin the peer
/// vouches for (`vouches`, from its hello), else the whole page is refused. A record
/// of this node that this node never wrote refuses the page too. A record of another
/// node this node pulls from directly is skipped: that node's own word comes first
/// hand.
pub fn merge_page(
    t: &Triplicate,
    peer: &str,
    url: &str,
    since: i64,
    page: &ChangePage,
    vouches: &[String],
) -> Result<usize> {
    let own = t.catalog.grid_node_id()?;
    let first_hand: std::collections::HashSet<String> = t
        .catalog
        .grid_peer_states()?
        .into_iter()
        .filter(|(peer_url, _)| peer_url != url)
        .filter_map(|(_, state)| state.node_id)
        .filter(|id| *id != page.node_id)
        .collect();
    let protocol = |message: String| GridError::Protocol {
        peer: peer.into(),
        message,
    };
    if page.next < since
        || page
            .changes
            .iter()
            .any(|c| c.seq <= since || c.seq > page.next)
    {
        return Err(protocol(format!(
            "the page after {since} holds changes out of order (next {})",
            page.next
        )));
    }
    // Changes this node has (through another peer, or its own) are not looked into.
    let keys: Vec<(&str, i64)> = page
        .changes
        .iter()
        .map(|c| (c.origin.as_str(), c.origin_seq))
        .collect();
    let known = t.catalog.grid_known_changes(&keys)?;
    let mut rows = Vec::with_capacity(page.changes.len());
    for (change, known) in page.changes.iter().zip(known) {
        check_origin(peer, page, vouches, change)?;
        let text = change.record.get();
        if change.origin == own {
            check_own(t, &own, peer, change)?;
            continue;
        }
        if known || first_hand.contains(&change.origin) {
            continue;
        }
        let record: Record = serde_json::from_str(text).map_err(|e| {
            protocol(format!(
                "change {} holds a record that does not parse: {e}",
                change.seq
            ))
        })?;
        check_record(&record)?;
        let mut row = record_row(&record)?;
        // Kept as the origin wrote it, to be passed on verbatim.
        row.record = text.to_string();
        rows.push((change.origin.clone(), change.origin_seq, row));
    }
    Ok(t.catalog.grid_merge(url, &page.node_id, &rows, page.next)?)
}

/// A change must name a valid origin: the peer itself, or a node it vouches for.
fn check_origin(peer: &str, page: &ChangePage, vouches: &[String], change: &Change) -> Result<()> {
    if names::node_id(&change.origin).is_err() || change.origin_seq < 1 {
        return Err(GridError::Protocol {
            peer: peer.into(),
            message: format!(
                "change {} has no valid origin ('{}' is not a node id)",
                change.seq,
                change.origin.escape_debug()
            ),
        });
    }
    if change.origin != page.node_id && !vouches.contains(&change.origin) {
        tracing::warn!(peer, origin = %change.origin, "a peer sent a record in the name of a node it does not vouch for");
        return Err(GridError::Forged {
            peer: peer.into(),
            message: format!(
                "change {} is in the name of node {}, which the peer does not vouch for",
                change.seq, change.origin
            ),
        });
    }
    Ok(())
}

/// A change in this node's name must be one this node made.
fn check_own(t: &Triplicate, own: &str, peer: &str, change: &Change) -> Result<()> {
    let text = change.record.get();
    let (mine, newest) = t.catalog.grid_change_of(own, change.origin_seq)?;
    let forged = match mine {
        Some(mine) => mine != text,
        None => change.origin_seq > newest,
    };
    if forged {
        tracing::warn!(
            peer,
            origin_seq = change.origin_seq,
            "a peer sent a forged record of this node"
        );
        return Err(GridError::Forged {
            peer: peer.into(),
            message: format!("change {} of this node", change.origin_seq),
        });
    }
    Ok(())
}

/// Checks every name in a record received from a peer.
fn check_record(record: &Record) -> Result<()> {
    match record {
        Record::Photo(p) => {
            names::hash(&p.hash)?;
            for n in &p.names {
                names::node_name(&n.library)?;
                names::relative(&n.path)?;
            }
            for c in &p.copies {
                names::node_name(&c.name)?;
            }
        }
        Record::Node(n) => {
            names::node_name(&n.name)?;
            for l in &n.libraries {
                names::node_name(&l.name)?;
            }
        }
    }
    Ok(())
}

/// Pulls every change `peer` has that this node has not seen. Returns how many were
/// new here.
pub fn pull(t: &Triplicate, peer: &PeerClient) -> Result<usize> {
    let hello = peer.hello()?;
    let state = t
        .catalog
        .grid_peer_states()?
        .remove(&peer.url)
        .unwrap_or_default();
    // A peer that was set up again has a new log: read it from the start.
    let mut since = if state.node_id.as_deref() == Some(hello.node_id.as_str()) {
        state.pulled_seq
    } else {
        0
    };
    let mut added = 0;
    for _ in 0..super::PULL_MAX_PAGES {
        let page = peer.changes(since, super::FEED_DEFAULT)?;
        if page.node_id != hello.node_id {
            return Err(GridError::Protocol {
                peer: peer.name.clone(),
                message: "its node id changed during a pull".into(),
            });
        }
        added += merge_page(t, &peer.name, &peer.url, since, &page, &hello.vouches)?;
        if page.changes.is_empty() || page.next >= page.latest_seq {
            return Ok(added);
        }
        since = page.next;
    }
    tracing::info!(peer = %peer.name, "read {} pages of changes; the rest at the next exchange", super::PULL_MAX_PAGES);
    Ok(added)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::catalog::{Catalog, ScannedFile};
    use crate::home::Home;
    use crate::photo::{ContentHash, PhotoKind};
    use crate::relpath::RelPath;

    fn node(dir: &std::path::Path, name: &str) -> Triplicate {
        let home = Home::in_dir(&dir.join(name));
        let lib = dir.join(format!("{name}-photos"));
        std::fs::create_dir_all(&lib).unwrap();
        crate::setup::init(&home, name, &[lib]).unwrap();
        Triplicate::open(&home).unwrap()
    }

    fn shoot(t: &Triplicate, name: &str) -> ContentHash {
        let hash = ContentHash::of(name.as_bytes());
        t.catalog
            .record_files(
                &t.config.libraries[0].name,
                &[ScannedFile {
                    path: RelPath::new(name.as_bytes().to_vec()).unwrap(),
                    hash,
                    size: name.len() as u64,
                    mtime_ns: 1,
                    inode: 1,
                    captured: "2024-01-01T00:00:00".into(),
                    captured_from: "mtime",
                    kind: PhotoKind::Image,
                }],
            )
            .unwrap();
        hash
    }

    /// The id of one of `t`'s library files.
    fn first_file(t: &Triplicate) -> i64 {
        let lib = &t.config.libraries[0].name;
        t.catalog
            .known_files(lib)
            .unwrap()
            .values()
            .next()
            .unwrap()
            .id
    }

    /// `to` pulls everything `from` has, as the HTTP feed would carry it.
    fn pull_direct(to: &Triplicate, from: &Triplicate) -> usize {
        let mut since = to
            .catalog
            .grid_peer_states()
            .unwrap()
            .get("mem")
            .map_or(0, |s| s.pulled_seq);
        let mut added = 0;
        loop {
            let page = feed(from, since, 3).unwrap();
            let wire: ChangePage =
                serde_json::from_str(&serde_json::to_string(&page).unwrap()).unwrap();
            let vouches = hello(from).unwrap().vouches;
            added += merge_page(to, "peer", "mem", since, &wire, &vouches).unwrap();
            if wire.changes.is_empty() {
                return added;
            }
            since = wire.next;
        }
    }

    /// Changes the photo record of a page's last change, as a peer could.
    fn edit_last(page: &mut ChangePage, edit: impl FnOnce(&mut PhotoRecord)) {
        let change = page.changes.last_mut().unwrap();
        let mut record: Record = serde_json::from_str(change.record.get()).unwrap();
        if let Record::Photo(p) = &mut record {
            edit(p);
        }
        change.record = serde_json::value::to_raw_value(&record).unwrap();
    }

    #[test]
    fn publishing_appends_only_what_changed() {
        let dir = tempfile::tempdir().unwrap();
        let a = node(dir.path(), "a");
        shoot(&a, "one.jpg");
        shoot(&a, "two.jpg");
        assert_eq!(publish(&a).unwrap(), 3, "the node and two photos");
        assert_eq!(publish(&a).unwrap(), 0, "nothing changed");
        let id = first_file(&a);
        a.catalog.set_present(&[id], false).unwrap();
        assert_eq!(publish(&a).unwrap(), 1, "one photo gone");
        a.catalog.set_present(&[id], false).unwrap();
        assert_eq!(publish(&a).unwrap(), 0, "marked gone again: no change");
    }

    #[test]
    fn merging_is_idempotent_relays_and_keeps_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b, c) = (
            node(dir.path(), "a"),
            node(dir.path(), "b"),
            node(dir.path(), "c"),
        );
        shoot(&a, "one.jpg");
        publish(&a).unwrap();
        assert_eq!(pull_direct(&b, &a), 2);
        assert_eq!(pull_direct(&b, &a), 0, "nothing new the second time");
        // c hears of a's photo through b only.
        publish(&b).unwrap();
        pull_direct(&c, &b);
        let a_id = a.catalog.grid_node_id().unwrap();
        let on_c = c.catalog.grid_records().unwrap();
        assert!(
            on_c.iter()
                .any(|r| r.origin == a_id && r.subject.len() == 32 && r.present)
        );
        // a's photo goes; the newer record wins on c whatever the order.
        let id = first_file(&a);
        a.catalog.set_present(&[id], false).unwrap();
        publish(&a).unwrap();
        pull_direct(&c, &a);
        pull_direct(&c, &b); // b still has the older record
        pull_direct(&b, &a);
        pull_direct(&c, &b);
        let photo = c
            .catalog
            .grid_records()
            .unwrap()
            .into_iter()
            .find(|r| r.origin == a_id && r.subject.len() == 32)
            .unwrap();
        assert!(!photo.present, "the older record never replaces the newer");
    }

    #[test]
    fn a_forged_record_of_this_node_refuses_the_page() {
        let dir = tempfile::tempdir().unwrap();
        let a = node(dir.path(), "a");
        shoot(&a, "one.jpg");
        publish(&a).unwrap();
        let mut page = feed(&a, 0, 100).unwrap();
        // A peer hands a's own change back, altered.
        edit_last(&mut page, |p| p.present = false);
        page.node_id = "someone".into();
        let err = merge_page(&a, "evil", "mem", 0, &page, &[]).unwrap_err();
        assert!(matches!(err, GridError::Forged { .. }), "{err}");
        // Unaltered, it is simply skipped.
        let page = feed(&a, 0, 100).unwrap();
        assert_eq!(merge_page(&a, "peer", "mem", 0, &page, &[]).unwrap(), 0);
    }

    #[test]
    fn a_record_with_a_traversing_name_refuses_the_page() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (node(dir.path(), "a"), node(dir.path(), "b"));
        shoot(&a, "one.jpg");
        publish(&a).unwrap();
        let mut page = feed(&a, 0, 100).unwrap();
        edit_last(&mut page, |p| p.names[0].path = "../../etc/passwd".into());
        let err = merge_page(&b, "a", "mem", 0, &page, &[]).unwrap_err();
        assert!(matches!(err, GridError::BadName { .. }), "{err}");
        assert!(b.catalog.grid_records().unwrap().is_empty(), "nothing kept");
        let _ = Catalog::open_in_memory();
    }
}
