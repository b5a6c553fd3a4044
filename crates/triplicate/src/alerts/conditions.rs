//! The problems worth a message, read off the state as it is now.
//!
//! Each [`Condition`] is one problem, however many things it is made of: a hundred
//! copies failing at one destination are one condition with a count of a hundred, so
//! they make one message. Each has a grace period: a destination must be out for
//! `notify.grace`, photos at risk for `notify.at_risk_after`; ransomware and bit rot
//! are said at once.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::Config;
use crate::status::{DestinationStatus, StatusReport, advice};
use crate::vocab::{DestState, EventKind, Severity};

/// One problem, as it is now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Condition {
    /// Stable while the problem lasts: "destination:usb", "at-risk".
    pub key: String,
    pub kind: EventKind,
    pub severity: Severity,
    pub title: String,
    pub message: String,
    pub advice: String,
    pub count: u64,
    /// How long it must last before it is said.
    pub grace: Duration,
    /// When it began, when that is known better than "when the notifier first saw it"
    /// (Unix seconds).
    pub since: Option<i64>,
}

impl Condition {
    fn new(key: String, kind: EventKind, severity: Severity, title: String) -> Condition {
        Condition {
            key,
            kind,
            severity,
            title,
            message: String::new(),
            advice: String::new(),
            count: 1,
            grace: Duration::ZERO,
            since: None,
        }
    }

    fn said(mut self, message: String, advice: &str) -> Condition {
        self.message = message;
        self.advice = advice.to_string();
        self
    }
}

/// What else the caller knows: the service's own alarm, and the oldest photo still
/// waiting for protection.
#[derive(Debug, Clone, Default)]
pub struct Context {
    /// The service cannot work (its catalog cannot be written), since when.
    pub alarm: Option<(String, i64)>,
    /// The first-seen time of the oldest photo that arrived after the last one became
    /// protected, and is not protected itself.
    pub oldest_waiting: Option<i64>,
    /// Unix seconds.
    pub now: i64,
}

/// Every problem worth a message in `report`, each once.
pub fn conditions(config: &Config, report: &StatusReport, cx: &Context) -> Vec<Condition> {
    let notify = &config.notify;
    let grace = *notify.grace;
    let mut found = Vec::new();
    destinations(report, grace, &mut found);
    let c = &report.coverage;
    if c.at_risk > 0 {
        let mut at_risk = Condition::new(
            "at-risk".into(),
            EventKind::AtRisk,
            Severity::Warning,
            format!("{} of {} photos at risk", c.at_risk, c.photos),
        )
        .said(
            format!(
                "{} of {} photos lack the copies the policy asks for ({} copies, {} kinds of media, {} offsite){}. `triplicate status --at-risk` names each and says why.",
                c.at_risk,
                c.photos,
                report.policy.copies,
                report.policy.media,
                report.policy.offsite,
                match c.unreadable {
                    0 => String::new(),
                    n => format!("; {n} of them cannot be read"),
                }
            ),
            "See why with `triplicate status --at-risk`: usually a destination that is not there, or a policy the destinations cannot meet (add an offsite destination).",
        );
        at_risk.count = c.at_risk;
        at_risk.grace = *notify.at_risk_after;
        found.push(at_risk);
    }
    if let Some(alarm) = &report.protection.alarm {
        found.push(
            Condition::new(
                "mass-change".into(),
                EventKind::MassChange,
                Severity::Critical,
                "mass change in the library: changes no longer reach the backups".into(),
            )
            .said(alarm.clone(), advice("mass change")),
        );
    }
    if let Some((message, since)) = &cx.alarm {
        let mut service = Condition::new(
            "service".into(),
            EventKind::Service,
            Severity::Critical,
            "the service cannot back up".into(),
        )
        .said(
            message.clone(),
            "See the message; the service goes on by itself once the cause is fixed.",
        );
        service.since = Some(*since);
        found.push(service);
    }
    if let Some(since) = cx.oldest_waiting
        && cx.now - since >= notify.stalled_after.as_secs() as i64
    {
        let mut stalled = Condition::new(
            "stalled".into(),
            EventKind::Stalled,
            Severity::Critical,
            "backups have stalled: new photos, none protected".into(),
        )
        .said(
            format!(
                "Photos have arrived, and none has become protected for longer than {}.",
                notify.stalled_after
            ),
            "Check that the service is running and that its destinations are there (`triplicate status`); the log says what each run did (`triplicate log`).",
        );
        stalled.since = Some(since);
        found.push(stalled);
    }
    warnings(report, grace, &mut found);
    found
}

/// Destinations out of action, their copies that need a person, their damaged copies,
/// their checks overdue and their failed restore drills.
fn destinations(report: &StatusReport, grace: Duration, found: &mut Vec<Condition>) {
    for d in &report.destinations {
        found.extend(out_of_action(d, grace));
        found.extend(copies_need_a_person(d));
        found.extend(checks_failing(d));
    }
}

/// A destination out of action (not mounted, full …), or a cold one due a refresh.
fn out_of_action(d: &DestinationStatus, grace: Duration) -> Vec<Condition> {
    let mut found = Vec::new();
    let out = !matches!(
        d.state,
        DestState::Ok | DestState::Disabled | DestState::Offline | DestState::BackingUp
    );
    if out {
        let mut c = Condition::new(
            format!("destination:{}", d.name),
            EventKind::Destination,
            Severity::Warning,
            format!("destination '{}': {}", d.name, d.state),
        )
        .said(
            d.detail.clone().unwrap_or_else(|| d.state.to_string()),
            advice(d.state.as_str()),
        );
        c.grace = grace;
        found.push(c);
    }
    if d.refresh_due {
        found.push(
            Condition::new(
                format!("refresh:{}", d.name),
                EventKind::Destination,
                Severity::Info,
                format!("cold destination '{}' is due a refresh", d.name),
            )
            .said(d.detail.clone().unwrap_or_default(), advice("refresh due")),
        );
    }
    found
}

/// Copies that failed in a way no retry fixes.
fn copies_need_a_person(d: &DestinationStatus) -> Option<Condition> {
    if d.counts.failed_permanent == 0 {
        return None;
    }
    let n = d.counts.failed_permanent;
    let mut c = Condition::new(
        format!("copies:{}", d.name),
        EventKind::Copies,
        Severity::Warning,
        format!("{n} {} to '{}' need a person", plural(n, "copy", "copies"), d.name),
    )
    .said(
        format!(
            "{n} {} to '{}' failed in a way that does not fix itself (permission denied, a name that cannot be placed); each run tries again.",
            plural(n, "copy", "copies"),
            d.name
        ),
        "`triplicate log --errors` names each file and its error; fix the cause (often permissions at the destination) and the next run copies them.",
    );
    c.count = n;
    Some(c)
}

/// Copies overdue a check, a failed restore drill, damaged copies.
fn checks_failing(d: &DestinationStatus) -> Vec<Condition> {
    let mut found = Vec::new();
    if let Some(p) = d.proofs.filter(|p| p.overdue > 0) {
        let mut c = Condition::new(
            format!("overdue:{}", d.name),
            EventKind::VerificationOverdue,
            Severity::Warning,
            format!(
                "verification overdue at '{}': {} {}",
                d.name,
                p.overdue,
                plural(p.overdue, "copy", "copies")
            ),
        )
        .said(
            format!(
                "{} of {} copies at '{}' have not been read back for longer than {}.",
                p.overdue,
                p.copies,
                d.name,
                d.verify_every.as_deref().unwrap_or("verify.every")
            ),
            "Keep the service running with the destination there: its scheduled checks catch up by themselves; or run `triplicate verify --dest NAME` now.",
        );
        c.count = p.overdue;
        found.push(c);
    }
    if let Some(drill) = d.last_drill.as_ref().filter(|l| !l.ok) {
        let mut c = Condition::new(
            format!("drill:{}", d.name),
            EventKind::Drill,
            Severity::Critical,
            format!("restore drill failed at '{}'", d.name),
        )
        .said(
            drill.message.clone(),
            "Photos may not come back from this destination: run `triplicate verify --dest NAME --repair`, check the disk or store, and do not rely on it until a drill passes (the next one runs within `verify.drill_every`).",
        );
        c.since = Some(drill.at);
        found.push(c);
    }
    if d.damaged > 0 {
        let mut c = Condition::new(
            format!("bit-rot:{}", d.name),
            EventKind::BitRot,
            Severity::Critical,
            format!(
                "{} {} at '{}' damaged or missing",
                d.damaged,
                plural(d.damaged, "copy", "copies"),
                d.name
            ),
        )
        .said(
            format!(
                "A check read {} {} at '{}' back and found {} damaged or gone; the disk may be failing.",
                d.damaged,
                plural(d.damaged, "copy", "copies"),
                d.name,
                plural(d.damaged, "it", "them")
            ),
            "Run `triplicate verify --dest NAME --repair` to copy them again from a good copy (damaged ones are kept aside, never deleted), and check the disk.",
        );
        c.count = d.damaged;
        found.push(c);
    }
    found
}

/// Open warnings the conditions above do not already say, folded by kind.
fn warnings(report: &StatusReport, grace: Duration, found: &mut Vec<Condition>) {
    use crate::scan::{BIT_ROT_WARNING, GUARD_WARNING, UNREADABLE_WARNING};
    let mut folded: BTreeMap<String, Condition> = BTreeMap::new();
    for w in &report.warnings {
        let (key, kind, severity, title, grace) = match w.kind.as_str() {
            // Said from the destination's state, or by the guard's alarm.
            _ if w.subject.starts_with("dest:") => continue,
            GUARD_WARNING => continue,
            BIT_ROT_WARNING => (
                "bit-rot:library".to_string(),
                EventKind::BitRot,
                Severity::Critical,
                "possible bit rot in the library",
                Duration::ZERO,
            ),
            UNREADABLE_WARNING => (
                "copies:unreadable".to_string(),
                EventKind::Copies,
                Severity::Warning,
                "library files that cannot be read, so have no backup",
                grace,
            ),
            crate::rebuild::LOST_WARNING | "invalid" => (
                format!("service:{}", w.kind),
                EventKind::Service,
                Severity::Critical,
                w.kind.as_str(),
                Duration::ZERO,
            ),
            _ if w.subject.starts_with("grid:") => (
                w.subject.replacen("grid:", "peer:", 1),
                EventKind::Destination,
                Severity::Warning,
                "a GRID peer",
                grace,
            ),
            _ => (
                format!("warning:{}", w.kind),
                EventKind::Warning,
                Severity::Warning,
                w.kind.as_str(),
                grace,
            ),
        };
        let c = folded.entry(key.clone()).or_insert_with(|| {
            let mut c = Condition::new(key, kind, severity, String::new())
                .said(w.message.clone(), w.advice);
            c.count = 0;
            c.grace = grace;
            c.since = Some(w.first_at);
            c.title = title.to_string();
            c
        });
        c.count += 1;
        c.since = c.since.min(Some(w.first_at));
    }
    for mut c in folded.into_values() {
        if c.count > 1 {
            c.title = format!("{} ({})", c.title, c.count);
            c.message = format!(
                "{} warnings like this one are open; the newest: {}",
                c.count, c.message
            );
        } else if c.kind == EventKind::Destination || c.kind == EventKind::Service {
            c.title = format!("{}: {}", c.title, first_words(&c.message));
        }
        found.push(c);
    }
}

fn plural<'a>(n: u64, one: &'a str, many: &'a str) -> &'a str {
    if n == 1 { one } else { many }
}

/// The start of a message, for a title.
fn first_words(message: &str) -> String {
    let mut words: String = message.chars().take(80).collect();
    if words.len() < message.len() {
        words.push('…');
    }
    words
}
