//! The shared vocabulary: the words every layer uses and no layer owns.
//!
//! Media kinds and the onsite site (3-2-1's "2 kinds" and "1 offsite"), the folder a
//! destination keeps its own files in and its ASC MHL folder, the version of the
//! formats written there, and the shortest GRID token. A leaf: it imports nothing of the crate.

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
