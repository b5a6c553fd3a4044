//! What an ingest is asked to do and what it reports: the options, the report with its
//! per-destination and per-file parts, the verdict, and the list of earlier ingests.

use super::*;

/// What to ingest, and where to.
#[derive(Debug, Clone, Default)]
pub struct IngestOptions {
    /// The card's mount point (or any folder).
    pub card: PathBuf,
    /// The library to ingest into (default: `ingest.library`, else the first).
    pub library: Option<String>,
    /// Destinations to write besides the enabled, automatic ones (manual ones).
    pub also: Vec<String>,
    /// Fills `{job}`.
    pub job: Option<String>,
    /// Where files go in the library (default: `ingest.template`).
    pub template: Option<String>,
    /// Fills `{card}` (default: the card folder's name, usually the volume label).
    pub label: Option<String>,
    /// Files copied at once (default: `backup.jobs`).
    pub jobs: Option<usize>,
    /// Wraps each destination once it is open (fault injection in tests).
    pub wrap: Option<DestinationWrapper>,
    /// Bring back into the library the files an earlier ingest of this card brought,
    /// that have been removed (or edited) there since.
    pub again: bool,
}

/// What an ingest did, and its verdict.
#[derive(Debug, Clone, Serialize)]
pub struct IngestReport {
    pub run: String,
    pub card: String,
    pub label: String,
    pub layouts: Vec<CardLayout>,
    pub library: String,
    pub files: u64,
    pub bytes: u64,
    /// Files this ingest wrote into the library.
    pub copied: u64,
    /// Files whose content was in the library already (a card ingested before).
    pub already: u64,
    /// Files an earlier ingest of this card brought into the library, removed or
    /// edited there since: left out of the library (`again` brings them back), and
    /// still made sure of at the destinations.
    pub culled: u64,
    pub destinations: Vec<IngestDestination>,
    pub file_copies: Vec<IngestedFile>,
    pub verdict: Verdict,
    /// The ASC MHL generation this ingest added at each place.
    pub manifests: Vec<IngestManifest>,
    pub problems: Vec<Problem>,
    pub seconds: f64,
}

/// The ASC MHL generation an ingest added to the history of a place (the library,
/// or a destination).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IngestManifest {
    /// The library's or destination's name.
    pub place: String,
    /// The generation's key there (`ascmhl/0001_….mhl`); `None` when none was written.
    pub generation: Option<String>,
    /// Why none was written.
    pub note: Option<String>,
}

/// One destination's part in an ingest.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IngestDestination {
    pub name: String,
    /// Ok, or why it took no part (not mounted, full …).
    pub state: DestState,
    /// Copies written and verified by this ingest.
    pub written: u64,
    /// Copies that were there already.
    pub already: u64,
    pub failed: u64,
}

/// Where one file of the card has verified copies.
#[derive(Debug, Clone, Serialize)]
pub struct IngestedFile {
    pub card_path: RelPath,
    pub library_path: Option<RelPath>,
    pub size: u64,
    pub blake3: Option<String>,
    /// The ASC MHL interchange hash, 16 hex digits.
    pub xxh64: Option<String>,
    /// "library", then the names of destinations with a verified copy.
    pub copies: Vec<String>,
    /// Distinct devices among those copies, the card's own not counted.
    pub devices: u32,
}

/// Whether the card may be formatted, and if not, why.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Verdict {
    pub safe: bool,
    /// The rule applied, in words.
    pub rule: String,
    /// What is not yet safe, one line per file: "path: why".
    pub reasons: Vec<String>,
    /// The same files, grouped by why.
    #[serde(default)]
    pub groups: Vec<ReasonGroup>,
}

/// Files of a card that are not safe for one reason.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReasonGroup {
    /// "cannot read from the card: permission denied".
    pub reason: String,
    pub files: Vec<String>,
}

/// An ingest as the status page lists it: its report without the per-file list.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IngestSummary {
    #[serde(default)]
    pub run: String,
    /// Unix seconds.
    #[serde(default)]
    pub started_at: i64,
    #[serde(default)]
    pub finished_at: i64,
    pub card: String,
    pub label: String,
    pub library: String,
    pub files: u64,
    pub bytes: u64,
    pub copied: u64,
    pub already: u64,
    pub verdict: Verdict,
    pub destinations: Vec<IngestDestination>,
    #[serde(default)]
    pub manifests: Vec<IngestManifest>,
}

/// The newest `limit` ingests, newest first, from the catalog's runs.
pub fn recent(t: &Triplicate, limit: usize) -> Result<Vec<IngestSummary>, CatalogError> {
    Ok(t.catalog
        .recent_runs(RunKind::Ingest, limit)?
        .into_iter()
        .filter_map(|run| {
            let mut s: IngestSummary = serde_json::from_str(&run.summary).ok()?;
            s.run = run.id;
            s.started_at = run.started_at;
            s.finished_at = run.finished_at;
            let total = s.verdict.reasons.len();
            if total > REASONS_SHOWN {
                s.verdict.reasons.truncate(REASONS_SHOWN);
                s.verdict
                    .reasons
                    .push(format!("… and {} more", total - REASONS_SHOWN));
            }
            Some(s)
        })
        .collect())
}
