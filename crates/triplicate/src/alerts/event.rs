//! One message's worth: an [`Event`], in words for people (a subject and a body) and
//! as JSON for programs (webhooks, command hooks).

use serde::Serialize;

use crate::vocab::{EventKind, Severity};

/// Where an event is in its problem's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Phase {
    /// The problem began (and outlasted its grace period).
    Started,
    /// The problem is gone.
    Resolved,
    /// Something that happened once: an ingest's verdict, a digest, a test.
    Once,
}

/// A message about one problem, or one happening.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Event {
    /// The node it is about.
    pub node: String,
    pub kind: EventKind,
    pub phase: Phase,
    pub severity: Severity,
    /// What it is about, stable while the problem lasts: "destination:usb".
    pub key: String,
    /// The problem in a few words: "'usb' is not mounted".
    pub title: String,
    /// The details.
    pub message: String,
    /// What to do.
    pub advice: String,
    /// How many things it folds together (failed copies, photos at risk).
    pub count: u64,
    /// When the problem was first seen (Unix seconds).
    pub since: i64,
    /// When this message was made (Unix seconds).
    pub at: i64,
}

impl Event {
    /// A one-off event: an ingest's verdict, a digest, a test message.
    pub fn once(
        node: &str,
        kind: EventKind,
        severity: Severity,
        title: String,
        message: String,
    ) -> Event {
        let at = crate::catalog::now();
        Event {
            node: node.to_string(),
            kind,
            phase: Phase::Once,
            severity,
            key: kind.as_str().to_string(),
            title,
            message,
            advice: String::new(),
            count: 1,
            since: at,
            at,
        }
    }

    /// The subject line: "[triplicate studio-pc] 'usb' is not mounted", "… Resolved: …".
    pub fn subject(&self) -> String {
        let resolved = if self.phase == Phase::Resolved {
            "Resolved: "
        } else {
            ""
        };
        format!("[triplicate {}] {resolved}{}", self.node, self.title)
    }

    /// The body: what, since when, what to do.
    pub fn body(&self) -> String {
        let mut body = String::new();
        match self.phase {
            Phase::Resolved => body.push_str(&format!(
                "Resolved after {}: {}\n\nWas: {}\n",
                span(self.at - self.since),
                self.title,
                self.message
            )),
            Phase::Started => body.push_str(&format!(
                "{}\n\nSince {} ({} ago), on node {}.\n",
                self.message,
                local_time(self.since),
                span(self.at - self.since),
                self.node
            )),
            Phase::Once => body.push_str(&format!("{}\n", self.message)),
        }
        if self.phase == Phase::Started && !self.advice.is_empty() {
            body.push_str(&format!("\nWhat to do: {}\n", self.advice));
        }
        body
    }
}

/// "4 min", "2 h", "3 days".
fn span(secs: i64) -> String {
    match secs.max(0) {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

fn local_time(secs: i64) -> String {
    chrono::DateTime::from_timestamp(secs, 0)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M")
                .to_string()
        })
        .unwrap_or_else(|| "?".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn started() -> Event {
        Event {
            node: "studio".into(),
            kind: EventKind::Destination,
            phase: Phase::Started,
            severity: Severity::Warning,
            key: "destination:usb".into(),
            title: "'usb' is not mounted".into(),
            message: "nothing is mounted at /media/usb".into(),
            advice: "Plug the disk in.".into(),
            count: 1,
            since: 1_000,
            at: 1_700,
        }
    }

    #[test]
    fn a_started_event_says_what_since_when_and_what_to_do() {
        let e = started();
        assert_eq!(e.subject(), "[triplicate studio] 'usb' is not mounted");
        let body = e.body();
        assert!(body.starts_with("nothing is mounted at /media/usb\n\nSince "));
        assert!(body.contains("(11 min ago), on node studio."), "{body}");
        assert!(body.ends_with("What to do: Plug the disk in.\n"), "{body}");
    }

    #[test]
    fn a_resolved_event_says_how_long_it_lasted_and_no_advice() {
        let e = Event {
            phase: Phase::Resolved,
            ..started()
        };
        assert_eq!(
            e.subject(),
            "[triplicate studio] Resolved: 'usb' is not mounted"
        );
        assert_eq!(
            e.body(),
            "Resolved after 11 min: 'usb' is not mounted\n\nWas: nothing is mounted at /media/usb\n"
        );
    }
}
