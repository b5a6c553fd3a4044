//! `[notify]`: when a problem is worth a message, and the channels that carry it.
//!
//! ```toml
//! [notify]
//! grace = "10m"          # a destination must be out this long before anyone is told
//! at_risk_after = "1h"   # photos must be at risk this long
//! stalled_after = "24h"  # new photos, none protected for this long: the dead man
//! digest = "daily"       # or "weekly"; unset: no digest
//!
//! [[notify.channel]]
//! name = "studio-mail"
//! kind = "email"         # email, webhook, ntfy, gotify, healthchecks, command
//! url = "smtp://mail.example.com:587"
//! from = "triplicate@example.com"
//! to = ["admin@example.com"]
//! credentials_file = "/etc/triplicate/smtp"   # user on the first line, password on the second
//! events = []            # all kinds; or e.g. ["destination", "bit-rot"]
//! severity = "warning"   # the least urgent it takes: info, warning, critical
//! ```

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::values::Span;
use crate::vocab::{EventKind, Severity};

/// When problems become messages, and where messages go.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NotifySettings {
    /// A destination or peer out of action for less than this says nothing (a disk
    /// unplugged for a minute).
    #[serde(default = "default_grace")]
    pub grace: Span,
    /// Photos at risk for less than this say nothing (a backup still running).
    #[serde(default = "default_at_risk_after")]
    pub at_risk_after: Span,
    /// New photos arrived and none became protected for this long: backups stalled.
    #[serde(default = "default_stalled_after")]
    pub stalled_after: Span,
    /// A summary of the 3-2-1 coverage and what changed, this often.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub digest: Option<DigestEvery>,
    #[serde(default, rename = "channel", skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<ChannelConfig>,
}

impl Default for NotifySettings {
    fn default() -> Self {
        NotifySettings {
            grace: default_grace(),
            at_risk_after: default_at_risk_after(),
            stalled_after: default_stalled_after(),
            digest: None,
            channels: Vec::new(),
        }
    }
}

fn default_grace() -> Span {
    Span::new("10m").expect("a valid span")
}

fn default_at_risk_after() -> Span {
    Span::new("1h").expect("a valid span")
}

fn default_stalled_after() -> Span {
    Span::new("24h").expect("a valid span")
}

/// How often the digest is sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DigestEvery {
    Daily,
    Weekly,
}

impl DigestEvery {
    pub fn period(self) -> std::time::Duration {
        match self {
            DigestEvery::Daily => std::time::Duration::from_secs(86_400),
            DigestEvery::Weekly => std::time::Duration::from_secs(7 * 86_400),
        }
    }
}

/// How a channel carries a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ChannelKind {
    /// Email over SMTP: `url` is `smtp://host:port` (STARTTLS) or `smtps://host:port`.
    Email,
    /// A JSON POST of the event to `url`.
    Webhook,
    /// An ntfy topic: `url` is `https://ntfy.sh/TOPIC`.
    Ntfy,
    /// A Gotify server: `url` is its address; the application token is in
    /// `credentials_file`.
    Gotify,
    /// healthchecks.io-style pings for each backup pass: `url` is the check's ping URL
    /// (`/start` and `/fail` are added).
    Healthchecks,
    /// A program run with the event as JSON on its standard input.
    Command,
}

impl ChannelKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChannelKind::Email => "email",
            ChannelKind::Webhook => "webhook",
            ChannelKind::Ntfy => "ntfy",
            ChannelKind::Gotify => "gotify",
            ChannelKind::Healthchecks => "healthchecks",
            ChannelKind::Command => "command",
        }
    }
}

/// How an email channel protects its connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SmtpSecurity {
    /// Plain connection upgraded with STARTTLS, which must succeed (`smtp://`).
    Starttls,
    /// TLS from the first byte (`smtps://`, usually port 465).
    Tls,
    /// No encryption: only for a relay on this machine or a trusted network.
    None,
}

/// One channel: where messages go, and which ones.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChannelConfig {
    pub name: String,
    pub kind: ChannelKind,
    /// Where to: an SMTP server, a webhook, an ntfy topic, a Gotify server, a ping URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// Email: the sender.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// Email: the recipients.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub to: Vec<String>,
    /// Email: how the connection is protected (default: from the URL's scheme).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<SmtpSecurity>,
    /// Email: certificates (PEM) to trust for the server besides the system's: a
    /// studio's own mail server with its own certificate authority.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
    /// A file holding the secret: for email the user name on its first line and the
    /// password on its second; for ntfy and Gotify the access token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub credentials_file: Option<PathBuf>,
    /// Command: run with `sh -c`, the event as JSON on its standard input.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// The kinds of events it takes; empty: every kind but the digest and ingests,
    /// which are taken only when named.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventKind>,
    /// The least urgent event it takes.
    #[serde(default)]
    pub severity: Severity,
}

impl ChannelConfig {
    /// Whether this channel takes an event of `kind` and `severity`. A kind named in
    /// `events` is taken whatever its severity; a test message always is.
    pub fn wants(&self, kind: EventKind, severity: Severity) -> bool {
        match kind {
            EventKind::Test => true,
            _ if self.events.contains(&kind) => true,
            EventKind::Digest | EventKind::Ingest => false,
            _ => self.events.is_empty() && severity >= self.severity,
        }
    }

    /// How an email channel's connection is protected.
    pub fn smtp_security(&self) -> SmtpSecurity {
        self.security.unwrap_or(
            match self
                .url
                .as_deref()
                .is_some_and(|u| u.starts_with("smtps://"))
            {
                true => SmtpSecurity::Tls,
                false => SmtpSecurity::Starttls,
            },
        )
    }

    /// What is wrong with this channel's settings, if anything: the key and why.
    pub(super) fn problem(&self) -> Option<(&'static str, String)> {
        let url = self.url.as_deref().unwrap_or("");
        let http = url.starts_with("http://") || url.starts_with("https://");
        match self.kind {
            ChannelKind::Email => {
                if !(url.starts_with("smtp://") || url.starts_with("smtps://")) {
                    return Some((
                        "url",
                        "an email channel needs url = \"smtp://HOST:PORT\" (STARTTLS) or \"smtps://HOST:PORT\" (TLS)".into(),
                    ));
                }
                if self.from.as_deref().is_none_or(|f| !f.contains('@')) {
                    return Some(("from", "an email channel needs from = an address".into()));
                }
                if self.to.is_empty() || self.to.iter().any(|t| !t.contains('@')) {
                    return Some(("to", "an email channel needs to = [addresses]".into()));
                }
            }
            ChannelKind::Webhook
            | ChannelKind::Ntfy
            | ChannelKind::Gotify
            | ChannelKind::Healthchecks => {
                if !http {
                    return Some((
                        "url",
                        format!("a {} channel needs url = \"https://…\"", self.kind.as_str()),
                    ));
                }
                if self.kind == ChannelKind::Gotify && self.credentials_file.is_none() {
                    return Some((
                        "credentials_file",
                        "a gotify channel needs credentials_file: a file holding the application token".into(),
                    ));
                }
            }
            ChannelKind::Command => {
                if self.command.as_deref().is_none_or(|c| c.trim().is_empty()) {
                    return Some((
                        "command",
                        "a command channel needs command = \"a program and its arguments\"".into(),
                    ));
                }
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channel(events: Vec<EventKind>, severity: Severity) -> ChannelConfig {
        ChannelConfig {
            name: "c".into(),
            kind: ChannelKind::Webhook,
            url: Some("https://example.invalid/".into()),
            from: None,
            to: Vec::new(),
            security: None,
            ca_file: None,
            credentials_file: None,
            command: None,
            events,
            severity,
        }
    }

    #[test]
    fn a_channel_takes_its_severity_and_up_and_the_kinds_it_names_whatever_their_severity() {
        let default = channel(Vec::new(), Severity::Warning);
        assert!(default.wants(EventKind::Destination, Severity::Warning));
        assert!(default.wants(EventKind::BitRot, Severity::Critical));
        assert!(!default.wants(EventKind::Destination, Severity::Info));
        // Digests and ingests only when named; a test always.
        assert!(!default.wants(EventKind::Digest, Severity::Info));
        assert!(!default.wants(EventKind::Ingest, Severity::Warning));
        assert!(default.wants(EventKind::Test, Severity::Info));
        let named = channel(
            vec![EventKind::Digest, EventKind::BitRot],
            Severity::Critical,
        );
        assert!(named.wants(EventKind::Digest, Severity::Info));
        assert!(named.wants(EventKind::BitRot, Severity::Warning));
        assert!(!named.wants(EventKind::Destination, Severity::Critical));
    }

    #[test]
    fn an_email_channel_is_protected_by_its_scheme_unless_told() {
        let mut c = channel(Vec::new(), Severity::Warning);
        c.kind = ChannelKind::Email;
        c.url = Some("smtps://mail.example.com".into());
        assert_eq!(c.smtp_security(), SmtpSecurity::Tls);
        c.url = Some("smtp://mail.example.com:587".into());
        assert_eq!(c.smtp_security(), SmtpSecurity::Starttls);
        c.security = Some(SmtpSecurity::None);
        assert_eq!(c.smtp_security(), SmtpSecurity::None);
    }
}
