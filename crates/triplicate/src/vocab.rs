//! The shared vocabulary: the words every layer uses and no layer owns.
//!
//! Media kinds and the onsite site (3-2-1's "2 kinds" and "1 offsite"), the folder a
//! destination keeps its own files in and its ASC MHL folder, the version of the
//! formats written there, the shortest GRID token, and what alerts are about and how
//! urgent they are. A leaf: it imports nothing of the crate.

use serde::{Deserialize, Serialize};

/// The site name that means "here, with the node".
pub const ONSITE: &str = "onsite";

/// The folder (or key prefix) every destination keeps its own files in.
pub const META_DIR: &str = ".triplicate";

/// Version of the marker and manifest formats written by this program.
pub const FORMAT_VERSION: u32 = 1;

/// The kind of medium a copy lives on; distinct kinds count towards the "2" of 3-2-1.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MediaKind {
    Hdd,
    Ssd,
    Nas,
    Cloud,
    Tape,
    Optical,
    Card,
}

impl MediaKind {
    pub const ALL: [MediaKind; 7] = [
        MediaKind::Hdd,
        MediaKind::Ssd,
        MediaKind::Nas,
        MediaKind::Cloud,
        MediaKind::Tape,
        MediaKind::Optical,
        MediaKind::Card,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MediaKind::Hdd => "hdd",
            MediaKind::Ssd => "ssd",
            MediaKind::Nas => "nas",
            MediaKind::Cloud => "cloud",
            MediaKind::Tape => "tape",
            MediaKind::Optical => "optical",
            MediaKind::Card => "card",
        }
    }
}

impl std::str::FromStr for MediaKind {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        MediaKind::ALL
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                format!("unknown media '{s}': use hdd, ssd, nas, cloud, tape, optical or card")
            })
    }
}

impl std::fmt::Display for MediaKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The shortest GRID token a node accepts (characters).
pub const MIN_GRID_TOKEN_LEN: usize = 32;

/// The folder holding a destination's or a card's ASC MHL history.
pub const MHL_FOLDER: &str = "ascmhl";

/// Prefix of the temporary names that earlier versions wrote beside the target. No
/// longer written; a library name that starts with it is still escaped at
/// destinations ([`super::layout`]), where such leftovers may remain.
pub const PARTIAL_PREFIX: &str = ".triplicate-partial-";

/// What state a destination is in, as `status`, the reports and the page say it. Each
/// serialises to the words people read ("not mounted", "wrong disk" …), which the
/// JSON, the catalog's run reports and the page have always used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum DestState {
    #[default]
    #[serde(rename = "ok")]
    Ok,
    /// A cold destination away in its drawer, as expected.
    #[serde(rename = "offline")]
    Offline,
    #[serde(rename = "disabled")]
    Disabled,
    /// Live, on the page: a backup is writing to it now.
    #[serde(rename = "backing up")]
    BackingUp,
    #[serde(rename = "not mounted")]
    NotMounted,
    #[serde(rename = "wrong disk")]
    WrongDisk,
    #[serde(rename = "damaged marker")]
    DamagedMarker,
    #[serde(rename = "read-only")]
    ReadOnly,
    #[serde(rename = "full")]
    Full,
    #[serde(rename = "in use")]
    InUse,
    #[serde(rename = "permission denied")]
    PermissionDenied,
    #[serde(rename = "no key")]
    NoKey,
    #[serde(rename = "encryption misconfigured")]
    EncryptionMisconfigured,
    #[serde(rename = "unreachable")]
    Unreachable,
    /// It could not be opened, for a reason said in the problems.
    #[serde(rename = "unavailable")]
    Unavailable,
    #[serde(rename = "error", other)]
    Error,
}

impl DestState {
    pub fn as_str(self) -> &'static str {
        match self {
            DestState::Ok => "ok",
            DestState::Offline => "offline",
            DestState::Disabled => "disabled",
            DestState::BackingUp => "backing up",
            DestState::NotMounted => "not mounted",
            DestState::WrongDisk => "wrong disk",
            DestState::DamagedMarker => "damaged marker",
            DestState::ReadOnly => "read-only",
            DestState::Full => "full",
            DestState::InUse => "in use",
            DestState::PermissionDenied => "permission denied",
            DestState::NoKey => "no key",
            DestState::EncryptionMisconfigured => "encryption misconfigured",
            DestState::Unreachable => "unreachable",
            DestState::Unavailable => "unavailable",
            DestState::Error => "error",
        }
    }

    pub fn is_ok(self) -> bool {
        self == DestState::Ok
    }
}

impl std::fmt::Display for DestState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What is known of one copy: the `state` of its row in the catalog's `copies`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum CopyState {
    /// Written and proven (read back, or checked by the store).
    Verified,
    /// Writing it failed; it is tried again (unless the failure is permanent).
    Failed,
    /// A check found other bytes than the photo's.
    Corrupt,
    /// A check found nothing there.
    Missing,
}

impl CopyState {
    pub fn as_str(self) -> &'static str {
        match self {
            CopyState::Verified => "verified",
            CopyState::Failed => "failed",
            CopyState::Corrupt => "corrupt",
            CopyState::Missing => "missing",
        }
    }

    pub fn parse(text: &str) -> Option<CopyState> {
        [
            CopyState::Verified,
            CopyState::Failed,
            CopyState::Corrupt,
            CopyState::Missing,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

impl std::fmt::Display for CopyState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A state equals the word it serialises to, so that tests and scripts can say
/// `state == "verified"`.
macro_rules! equals_its_word {
    ($($t:ty),*) => {$(
        impl PartialEq<&str> for $t {
            fn eq(&self, other: &&str) -> bool {
                self.as_str() == *other
            }
        }
    )*};
}

equals_its_word!(DestState, CopyState);

#[cfg(test)]
mod state_tests {
    use super::*;

    #[test]
    fn states_serialise_to_the_words_they_always_were() {
        for s in [
            DestState::NotMounted,
            DestState::Ok,
            DestState::EncryptionMisconfigured,
        ] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        let unknown: DestState = serde_json::from_str("\"on fire\"").unwrap();
        assert_eq!(unknown, DestState::Error);
        for s in [CopyState::Verified, CopyState::Missing] {
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
            assert_eq!(CopyState::parse(s.as_str()), Some(s));
        }
    }
}

/// What an alert is about; each notification channel picks the kinds it wants.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    /// A destination or GRID peer gone, full, read-only, unreachable or the wrong disk.
    Destination,
    /// Copies that failed in a way that needs a person (permission denied, a name that
    /// cannot be placed).
    Copies,
    /// Photos without the copies the policy asks for.
    AtRisk,
    /// The mass-change guard tripped (ransomware, a bad sync).
    MassChange,
    /// A library photo or a copy whose bytes changed by themselves.
    BitRot,
    /// A copy left unverified for longer than `verify.every`.
    VerificationOverdue,
    /// A restore drill that did not get the photos back byte for byte.
    Drill,
    /// New photos arrived but none became protected for `notify.stalled_after`.
    Stalled,
    /// The service itself cannot work: its catalog or configuration.
    Service,
    /// Any other open warning.
    Warning,
    /// A card ingest's verdict.
    Ingest,
    /// The daily or weekly summary.
    Digest,
    /// A test message, asked for.
    Test,
}

impl EventKind {
    pub fn as_str(self) -> &'static str {
        match self {
            EventKind::Destination => "destination",
            EventKind::Copies => "copies",
            EventKind::AtRisk => "at-risk",
            EventKind::MassChange => "mass-change",
            EventKind::BitRot => "bit-rot",
            EventKind::VerificationOverdue => "verification-overdue",
            EventKind::Drill => "drill",
            EventKind::Stalled => "stalled",
            EventKind::Service => "service",
            EventKind::Warning => "warning",
            EventKind::Ingest => "ingest",
            EventKind::Digest => "digest",
            EventKind::Test => "test",
        }
    }
}

/// How urgent an alert is; a channel takes what is at least as urgent as it asks.
#[derive(
    Clone, Copy, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing: a digest, a card safe to format, a problem resolved.
    Info,
    /// Needs a person soon: a disk gone, photos at risk.
    #[default]
    Warning,
    /// Needs a person now: ransomware, bit rot, the service stuck.
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }
}
