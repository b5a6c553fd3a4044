//! `status`: the node's libraries, destinations, 3-2-1 coverage, what is at risk and
//! the warnings, as people read them.

use std::fmt::Write as _;

use indicatif::HumanBytes;
use triplicate::status::{DestinationStatus, StatusReport};

use super::{duration, when};

pub fn status(w: &mut String, r: &StatusReport) {
    let p = r.policy;
    say!(
        w,
        "Node {} — protected means {} copies, {} media, {} offsite",
        r.node,
        p.copies,
        p.media,
        p.offsite
    );
    libraries(w, r);
    destinations(w, r);
    coverage(w, r);
    at_risk_and_warnings(w, r);
}

fn libraries(w: &mut String, r: &StatusReport) {
    say!(w, "\nLibraries");
    for l in &r.libraries {
        let state = if l.available { "" } else { "  (NOT AVAILABLE)" };
        say!(
            w,
            "  {:<16} {:<6} {}{state}",
            l.name,
            l.media.as_str(),
            l.path
        );
        if let Some(device) = &l.device {
            say!(w, "  {:<16} on {device}", "");
        }
        if l.left_out > 0 {
            say!(
                w,
                "  {:<16} {} files not backed up by choice (not photos, videos or sidecars{}); [scan] include_all = true takes them",
                "",
                l.left_out,
                l.left_out_example
                    .as_ref()
                    .map(|e| format!(", e.g. {e}"))
                    .unwrap_or_default()
            );
        }
    }
}

fn destinations(w: &mut String, r: &StatusReport) {
    say!(w, "\nDestinations");
    if r.destinations.is_empty() {
        say!(
            w,
            "  none: add one with `triplicate dest add NAME PATH --media hdd --site onsite`"
        );
    }
    for d in &r.destinations {
        destination(w, d);
    }
}

/// One destination: its state, counts, space, and what needs doing.
fn destination(w: &mut String, d: &DestinationStatus) {
    let space = d
        .space
        .map(|s| format!("{} free of {}", HumanBytes(s.free), HumanBytes(s.total)))
        .unwrap_or_else(|| "space unknown".into());
    say!(
        w,
        "  {:<12} {:<12} {:<8} {:<10} {}{}",
        d.name,
        d.state.as_str().to_uppercase(),
        d.media.as_str(),
        d.site,
        d.target,
        if d.encrypted { "  (age-encrypted)" } else { "" }
    );
    let failed = match d.counts.failed_permanent {
        0 => d.counts.failed.to_string(),
        n => format!(
            "{} ({n} need a person: see `triplicate backup` output)",
            d.counts.failed
        ),
    };
    say!(
        w,
        "  {:<12} verified {}, pending {} ({}), failed {failed}; {}; last success {}",
        "",
        d.counts.verified,
        d.counts.pending,
        HumanBytes(d.counts.pending_bytes),
        space,
        when(d.counts.last_success)
    );
    checks(w, d);
    if d.damaged > 0 {
        say!(
            w,
            "  {:<12} {} damaged or missing copies: run `triplicate verify --dest {} --repair`",
            "",
            d.damaged,
            d.name
        );
    }
    if let Some(note) = &d.device_note {
        say!(
            w,
            "  {:<12} {note}; put it on another disk (its device: {})",
            "",
            d.device.as_deref().unwrap_or("unknown")
        );
    }
    if let Some(detail) = &d.detail {
        say!(w, "  {:<12} {detail}", "");
    } else if d.offline {
        say!(
            w,
            "  {:<12} cold destination, last refreshed {}{}",
            "",
            when(d.last_refreshed),
            if d.refresh_due {
                "; a refresh is due"
            } else {
                ""
            }
        );
    }
}

/// How the scheduled checks and the restore drills of a destination stand.
fn checks(w: &mut String, d: &DestinationStatus) {
    match (&d.proofs, d.oldest_verification) {
        (Some(p), oldest) if p.copies > 0 => {
            let overdue = match p.overdue {
                0 => String::new(),
                n => format!(
                    "; VERIFICATION OVERDUE for {n} {}",
                    if n == 1 { "copy" } else { "copies" }
                ),
            };
            say!(
                w,
                "  {:<12} checked within {}: {:.0}% ({} of {}), oldest check {}{overdue}",
                "",
                d.verify_every.as_deref().unwrap_or("?"),
                p.percent().floor(),
                p.within,
                p.copies,
                when(oldest)
            );
        }
        (_, Some(at)) => say!(w, "  {:<12} oldest verification {}", "", when(Some(at))),
        _ => {}
    }
    match &d.last_drill {
        Some(drill) if drill.ok => say!(
            w,
            "  {:<12} last restore drill {}: {} photos back, byte for byte",
            "",
            when(Some(drill.at)),
            drill.photos
        ),
        Some(drill) => say!(
            w,
            "  {:<12} last restore drill {} FAILED: {}",
            "",
            when(Some(drill.at)),
            drill.message
        ),
        None => {}
    }
}

/// The guard, the 3-2-1 coverage and the photos deleted from the libraries.
fn coverage(w: &mut String, r: &StatusReport) {
    let p = &r.protection;
    if let Some(alarm) = &p.alarm {
        say!(w, "\nALARM: {alarm}");
    }
    if p.held > 0 {
        say!(
            w,
            "\n{} changes held back from the backups ({} possible bit rot): see `triplicate accept-changes --list`",
            p.held,
            p.bit_rot
        );
    }
    let c = &r.coverage;
    say!(w, "\n3-2-1 coverage");
    say!(
        w,
        "  {} photos: {} protected, {} at risk",
        c.photos,
        c.protected,
        c.at_risk
    );
    if c.unreadable > 0 {
        say!(
            w,
            "  {} of them cannot be read, so have no copy anywhere: see `triplicate status --at-risk`",
            c.unreadable
        );
    }
    if c.left_out > 0 {
        say!(
            w,
            "  {} files not backed up by choice (include rules)",
            c.left_out
        );
    }
    let d = &r.deleted;
    if d.photos > 0 {
        let kept_in: Vec<String> = d.kept_in.iter().map(|(n, k)| format!("{n} {k}")).collect();
        say!(
            w,
            "  deleted from the library, kept in backups: {} of {} photos ({}){}",
            d.kept,
            d.photos,
            HumanBytes(d.bytes),
            if kept_in.is_empty() {
                String::new()
            } else {
                format!("; copies: {}", kept_in.join(", "))
            }
        );
        say!(
            w,
            "  (deletions never reach the backups: `triplicate restore --deleted --list` lists them, `triplicate restore --deleted --to DIR` brings them back)"
        );
    }
    if let Some(secs) = c.median_time_to_protected {
        say!(w, "  median time to protected: {}", duration(secs));
    }
}

fn at_risk_and_warnings(w: &mut String, r: &StatusReport) {
    if let Some(list) = &r.at_risk {
        say!(w, "\nAt risk");
        if list.is_empty() && r.coverage.at_risk == 0 {
            say!(w, "  nothing: every photo is protected");
        }
        for a in list {
            say!(w, "  {}/{}  {}", a.library, a.path, a.description);
            for why in &a.reasons {
                say!(w, "      {why}");
            }
        }
    }
    if !r.warnings.is_empty() {
        say!(w, "\nWarnings");
        for warning in &r.warnings {
            let times = if warning.count > 1 {
                format!(" (×{})", warning.count)
            } else {
                String::new()
            };
            say!(w, "  [{}] {}{times}", warning.kind, warning.message);
        }
    }
}
