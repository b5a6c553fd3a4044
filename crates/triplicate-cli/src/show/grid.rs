//! GRID: the peers, the GRID-wide status and what a sync did.

use std::fmt::Write as _;

use super::*;

pub fn peers(w: &mut String, peers: &[triplicate::config::PeerConfig], json: bool) {
    if json {
        say!(
            w,
            "{}",
            serde_json::to_string_pretty(peers).unwrap_or_default()
        );
        return;
    }
    if peers.is_empty() {
        say!(
            w,
            "No GRID peers. Add one with `triplicate grid add-peer URL --token TOKEN`."
        );
    }
    for p in peers {
        say!(
            w,
            "{:<16} {:<32} {}{}",
            p.name,
            p.url,
            p.id,
            if p.sync_photos { "  (sync photos)" } else { "" }
        );
    }
}

pub fn grid_status(w: &mut String, s: &triplicate::grid::status::GridStatus) {
    let now = chrono::Utc::now().timestamp();
    say!(
        w,
        "Node {} ({}), site {}{}{}",
        s.name,
        s.node_id,
        s.site,
        if s.receives { ", receives photos" } else { "" },
        if s.answers_peers {
            ""
        } else {
            "; no GRID token: peers cannot call it (`triplicate grid init`)"
        }
    );
    if !s.peers.is_empty() {
        say!(w, "\nPeers:");
        for p in &s.peers {
            say!(
                w,
                "  {:<16} {:<32} {}{}",
                p.name,
                p.url,
                peer_state(p, now),
                if p.sync_photos { "  (sync photos)" } else { "" }
            );
        }
    }
    say!(w, "\nNodes:");
    say!(
        w,
        "  {:<16} {:<10} {:>9} {:>16}  last contact",
        "node",
        "site",
        "photos",
        "not on central"
    );
    for n in &s.nodes {
        say!(
            w,
            "  {:<16} {:<10} {:>9} {:>16}  {}",
            n.name,
            n.site,
            n.photos,
            central_lag(n, !s.central.is_empty(), now),
            node_contact(n, now)
        );
    }
    say!(
        w,
        "\nGRID-wide 3-2-1: {} photos, {} protected, {} at risk",
        s.coverage.photos,
        s.coverage.protected,
        s.coverage.at_risk
    );
    if s.unpublished > 0 {
        say!(
            w,
            "{} photos of this node not yet published to the peers",
            s.unpublished
        );
    }
}

/// A peer's state: failing since when, last reached how long ago, or never reached.
fn peer_state(p: &triplicate::grid::status::PeerStatus, now: i64) -> String {
    match (&p.last_error, p.error_at, p.last_contact) {
        (Some(e), Some(at), last) if last.is_none_or(|l| at >= l) => {
            format!("failing since {}: {e}", when(Some(at)))
        }
        (_, _, Some(at)) => format!("last contact {} ago", duration(now - at)),
        _ => "never reached".into(),
    }
}

/// How far a node's photos lag behind the central node.
fn central_lag(n: &triplicate::grid::status::NodeStatus, has_central: bool, now: i64) -> String {
    if n.receives {
        "central".to_string()
    } else if !has_central {
        "no central node".to_string()
    } else {
        match n.oldest_not_on_central {
            Some(oldest) => format!("{} (oldest {})", n.not_on_central, duration(now - oldest)),
            None => "0".into(),
        }
    }
}

/// When this node last heard from a node, directly or not.
fn node_contact(n: &triplicate::grid::status::NodeStatus, now: i64) -> String {
    if n.this_node {
        "this node".to_string()
    } else {
        n.last_contact
            .map(|at| format!("{} ago", duration(now - at)))
            .unwrap_or_else(|| "through other peers".into())
    }
}

pub fn grid_sync(w: &mut String, r: &triplicate::grid::SyncReport) {
    say!(
        w,
        "Published {} changes, learnt {} from peers.",
        r.published,
        r.pulled
    );
    for s in &r.sent {
        match (&s.report, &s.error) {
            (Some(sent), _) => say!(
                w,
                "  {}: sent {} photos ({} bytes), {} already there, {} failed",
                s.peer,
                sent.sent,
                sent.bytes,
                sent.held,
                sent.failed
            ),
            (None, error) => say!(
                w,
                "  {}: failed: {}",
                s.peer,
                error.as_deref().unwrap_or("")
            ),
        }
    }
    for (peer, why) in &r.failed {
        say!(w, "  {peer}: {why}");
    }
}
