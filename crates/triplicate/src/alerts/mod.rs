//! Being told: a message when something goes wrong and when it is over, a ping for
//! each backup pass, a digest, a test message.
//!
//! The service calls [`review`] every few seconds. It reads the state as `status`
//! does, names each problem worth a message ([`conditions`]: a destination out, copies
//! that need a person, photos at risk, the mass-change alarm, bit rot, backups
//! stalled, the service stuck, any other open warning), and compares them with what
//! the catalog recorded at the last review:
//! - a problem that has lasted its grace period is announced once, to every channel
//!   that wants its kind and severity ([`Phase::Started`]);
//! - a problem that is gone is announced once as resolved, if it was announced at all
//!   (a disk unplugged for a minute says nothing, ever);
//! - a problem made of many things (a hundred failed copies) is one message with its
//!   count; more of the same while it is open say nothing new.
//!
//! The record is in the catalog, so a restart neither repeats a message nor forgets
//! to say a problem is resolved. A message no channel took is tried again at the next
//! review; a channel that fails raises a warning ("not delivered"), which the other
//! channels then carry. Besides, each backup pass pings the healthchecks channels
//! ([`Pinger`]): start, then success or fail, so that a service that stops passing is
//! noticed by the pinged side.

use std::path::PathBuf;

use crate::catalog::{AlertRow, CatalogError};
use crate::config::{ChannelConfig, ChannelKind, Config};
use crate::home::Triplicate;
use crate::vocab::{EventKind, Severity};

mod channel;
mod conditions;
mod event;

pub use channel::Ping;
pub use conditions::{Condition, Context, conditions};
pub use event::{Event, Phase};

/// The warning a channel that failed raises.
pub const NOT_DELIVERED: &str = "not delivered";

#[derive(Debug, thiserror::Error)]
pub enum NotifyError {
    #[error("channel '{channel}': {message}; fix it under [[notify.channel]] in config.toml")]
    Settings { channel: String, message: String },
    #[error(
        "channel '{channel}': cannot read its {key} {}: {error}; give the user running Triplicate read access",
        path.display()
    )]
    File {
        channel: String,
        /// The setting that names it: credentials_file, ca_file.
        key: &'static str,
        path: PathBuf,
        error: std::io::Error,
    },
    #[error(
        "channel '{channel}': {url} cannot be reached ({error}); check the address and that the server is up"
    )]
    Unreachable {
        channel: String,
        url: String,
        error: String,
    },
    #[error("channel '{channel}': {url} answered {status} {body}; check the address and the token")]
    Refused {
        channel: String,
        url: String,
        status: u16,
        body: String,
    },
    #[error("channel '{channel}': the email was not sent: {message}")]
    Email { channel: String, message: String },
    #[error("channel '{channel}': the command `{command}` failed: {message}")]
    Command {
        channel: String,
        command: String,
        message: String,
    },
    #[error("no notification channel named '{name}'; the channels are: {known}")]
    NoSuchChannel { name: String, known: String },
    #[error("no notification channel is set up: add one under [[notify.channel]] in config.toml")]
    NoChannels,
    #[error(transparent)]
    Catalog(#[from] CatalogError),
}

impl crate::fault::Classify for NotifyError {
    fn fault(&self) -> crate::fault::Fault {
        match self {
            NotifyError::NoSuchChannel { .. } => crate::fault::Fault::NotFound,
            NotifyError::NoChannels => crate::fault::Fault::Usage,
            _ => crate::fault::Fault::Failed,
        }
    }
}

/// What happened to a message at one channel.
#[derive(Debug)]
pub struct Delivery {
    pub channel: String,
    pub result: Result<(), NotifyError>,
}

/// The channels of one configuration, and the node they speak for.
pub struct Notifier {
    node: String,
    channels: Vec<ChannelConfig>,
}

impl Notifier {
    pub fn new(config: &Config) -> Notifier {
        Notifier {
            node: config.node.clone(),
            channels: config.notify.channels.clone(),
        }
    }

    /// Whether any channel is set up.
    pub fn is_on(&self) -> bool {
        !self.channels.is_empty()
    }

    /// Sends `event` to every channel that wants it (none of them a ping URL).
    pub fn send(&self, event: &Event) -> Vec<Delivery> {
        self.channels
            .iter()
            .filter(|c| c.kind != ChannelKind::Healthchecks || event.kind == EventKind::Test)
            .filter(|c| c.wants(event.kind, event.severity))
            .map(|c| Delivery {
                channel: c.name.clone(),
                result: channel::send(c, event),
            })
            .collect()
    }

    /// Sends a test message to channel `name`, or to every channel.
    pub fn test(&self, name: Option<&str>) -> Result<Vec<Delivery>, NotifyError> {
        if self.channels.is_empty() {
            return Err(NotifyError::NoChannels);
        }
        let chosen: Vec<&ChannelConfig> = self
            .channels
            .iter()
            .filter(|c| name.is_none_or(|n| c.name == n))
            .collect();
        if let (Some(name), []) = (name, chosen.as_slice()) {
            return Err(NotifyError::NoSuchChannel {
                name: name.to_string(),
                known: self
                    .channels
                    .iter()
                    .map(|c| c.name.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
            });
        }
        let event = Event::once(
            &self.node,
            EventKind::Test,
            Severity::Info,
            "test message".into(),
            format!(
                "This is a test message from Triplicate on {}: this channel works.",
                self.node
            ),
        );
        Ok(chosen
            .into_iter()
            .map(|c| Delivery {
                channel: c.name.clone(),
                result: channel::send(c, &event),
            })
            .collect())
    }
}

/// Pings the healthchecks channels from a thread of its own, in order, so that a ping
/// server that is slow or down never holds up a backup. Dropping it waits for the
/// pings already asked for (each has a timeout).
pub struct Pinger {
    pings: Option<std::sync::mpsc::Sender<(Vec<ChannelConfig>, Ping)>>,
    worker: Option<std::thread::JoinHandle<()>>,
}

impl Pinger {
    pub fn start() -> Pinger {
        let (tx, rx) = std::sync::mpsc::channel::<(Vec<ChannelConfig>, Ping)>();
        let worker = std::thread::spawn(move || {
            for (channels, ping) in rx {
                for c in &channels {
                    if let Err(e) = channel::ping(c, &ping) {
                        tracing::warn!("{e}");
                    }
                }
            }
        });
        Pinger {
            pings: Some(tx),
            worker: Some(worker),
        }
    }

    /// Pings every healthchecks channel of `config`; failures are logged.
    pub fn ping(&self, config: &Config, ping: Ping) {
        let channels: Vec<ChannelConfig> = config
            .notify
            .channels
            .iter()
            .filter(|c| c.kind == ChannelKind::Healthchecks)
            .cloned()
            .collect();
        if let (false, Some(pings)) = (channels.is_empty(), &self.pings) {
            let _ = pings.send((channels, ping));
        }
    }
}

impl Drop for Pinger {
    fn drop(&mut self) {
        self.pings.take();
        if let Some(worker) = self.worker.take() {
            let _ = worker.join();
        }
    }
}

/// What one review did.
#[derive(Debug, Default)]
pub struct Review {
    /// The messages sent (each to at least one channel that wanted it), in order.
    pub sent: Vec<Event>,
    /// Problems seen, still within their grace period.
    pub waiting: usize,
}

/// Compares the problems of now with those recorded, and sends what changed (see the
/// module's documentation). `alarm` is the service's own, with when it was raised.
pub fn review(
    t: &Triplicate,
    alarm: Option<(String, i64)>,
    now: i64,
) -> Result<Review, NotifyError> {
    let notifier = Notifier::new(&t.config);
    let mut review = Review::default();
    if !notifier.is_on() {
        return Ok(review);
    }
    let report = crate::status::status(t, false)?;
    let cx = Context {
        alarm,
        oldest_waiting: t.catalog.oldest_waiting_photo()?,
        now,
    };
    let current = conditions(&t.config, &report, &cx);
    let recorded = t.catalog.alerts()?;
    for c in &current {
        let before = recorded.iter().find(|r| r.key == c.key);
        let first_seen = before.map_or(c.since.unwrap_or(now), |r| r.first_seen);
        let mut announced_at = before.and_then(|r| r.announced_at);
        if announced_at.is_none() {
            if now - first_seen >= c.grace.as_secs() as i64 {
                let event = event_of(&notifier.node, c, Phase::Started, first_seen, now);
                if review.deliver(t, &notifier, event) {
                    announced_at = Some(now);
                }
            } else {
                review.waiting += 1;
            }
        }
        t.catalog.put_alert(&AlertRow {
            key: c.key.clone(),
            kind: c.kind.as_str().into(),
            severity: c.severity.as_str().into(),
            title: c.title.clone(),
            message: c.message.clone(),
            advice: c.advice.clone(),
            count: c.count,
            first_seen,
            announced_at,
        })?;
    }
    for gone in recorded
        .iter()
        .filter(|r| !current.iter().any(|c| c.key == r.key))
    {
        // A resolution nobody heard is tried again at the next review.
        if gone.announced_at.is_some()
            && !review.deliver(t, &notifier, resolved(&notifier.node, gone, now))
        {
            continue;
        }
        t.catalog.remove_alert(&gone.key)?;
    }
    if let Some(event) = digest_due(t, &report, now)? {
        review.deliver(t, &notifier, event);
        t.catalog.set_last_digest(now)?;
    }
    Ok(review)
}

impl Review {
    /// Sends `event` ([`deliver`]), keeping it in `sent` when a channel took it;
    /// returns whether it is said (a channel took it, or none wanted it).
    fn deliver(&mut self, t: &Triplicate, notifier: &Notifier, event: Event) -> bool {
        let (wanted, took) = deliver(t, notifier, &event);
        if took > 0 {
            self.sent.push(event);
        }
        wanted == 0 || took > 0
    }
}

/// Sends a one-off event (an ingest's verdict) to the channels that want it, and
/// records failed deliveries as warnings.
pub fn announce(t: &Triplicate, event: &Event) {
    deliver(t, &Notifier::new(&t.config), event);
}

/// Sends `event`; returns how many channels wanted it and how many took it. Each
/// failure is logged and raised as a warning about its channel; each success resolves
/// one.
fn deliver(t: &Triplicate, notifier: &Notifier, event: &Event) -> (usize, usize) {
    let deliveries = notifier.send(event);
    for d in &deliveries {
        let subject = format!("notify:{}", d.channel);
        let recorded = match &d.result {
            Ok(()) => t
                .catalog
                .resolve_warnings(&subject, &[NOT_DELIVERED])
                .map(drop),
            Err(e) => {
                tracing::warn!("{e}");
                t.catalog
                    .raise_warning(&subject, NOT_DELIVERED, &e.to_string(), Some("transient"))
            }
        };
        if let Err(e) = recorded {
            tracing::warn!("{e}");
        }
    }
    let took = deliveries.iter().filter(|d| d.result.is_ok()).count();
    (deliveries.len(), took)
}

fn event_of(node: &str, c: &Condition, phase: Phase, since: i64, now: i64) -> Event {
    Event {
        node: node.to_string(),
        kind: c.kind,
        phase,
        severity: c.severity,
        key: c.key.clone(),
        title: c.title.clone(),
        message: c.message.clone(),
        advice: c.advice.clone(),
        count: c.count,
        since,
        at: now,
    }
}

/// The resolution of a recorded alert.
fn resolved(node: &str, row: &AlertRow, now: i64) -> Event {
    let kind = serde_json::from_value(serde_json::Value::String(row.kind.clone()))
        .unwrap_or(EventKind::Warning);
    let severity =
        serde_json::from_value(serde_json::Value::String(row.severity.clone())).unwrap_or_default();
    Event {
        node: node.to_string(),
        kind,
        phase: Phase::Resolved,
        severity,
        key: row.key.clone(),
        title: row.title.clone(),
        message: row.message.clone(),
        advice: String::new(),
        count: row.count,
        since: row.first_seen,
        at: now,
    }
}

/// The digest, when one is set up and its period has passed since the last (the
/// first one period after the service first looked).
fn digest_due(
    t: &Triplicate,
    report: &crate::status::StatusReport,
    now: i64,
) -> Result<Option<Event>, NotifyError> {
    let Some(every) = t.config.notify.digest else {
        return Ok(None);
    };
    let Some(last) = t.catalog.last_digest()? else {
        t.catalog.set_last_digest(now)?;
        return Ok(None);
    };
    if now - last < every.period().as_secs() as i64 {
        return Ok(None);
    }
    let (arrived, protected) = t.catalog.arrived_and_protected_since(last)?;
    let c = &report.coverage;
    let mut message = format!(
        "{} of {} photos protected ({} copies, {} kinds of media, {} offsite); {} at risk.\nSince the last digest: {arrived} photos arrived, {protected} became protected.\n\n",
        c.protected,
        c.photos,
        report.policy.copies,
        report.policy.media,
        report.policy.offsite,
        c.at_risk
    );
    for d in &report.destinations {
        message.push_str(&format!(
            "{}: {}, {} verified, {} pending, {} failed\n",
            d.name, d.state, d.counts.verified, d.counts.pending, d.counts.failed
        ));
    }
    if !report.warnings.is_empty() {
        message.push_str(&format!("\n{} warnings open:\n", report.warnings.len()));
        for w in report.warnings.iter().take(10) {
            message.push_str(&format!("- {}\n", w.message));
        }
    }
    let title = match c.at_risk {
        0 => format!("digest: all {} photos protected", c.photos),
        n => format!("digest: {n} of {} photos at risk", c.photos),
    };
    Ok(Some(Event::once(
        &t.config.node,
        EventKind::Digest,
        Severity::Info,
        title,
        message,
    )))
}
