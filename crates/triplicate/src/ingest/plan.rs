//! Where each card file goes in the library: its layout name, its group (RAW+JPEG,
//! sidecars) kept together, its capture time.

use super::*;

/// What is known of a card file before it is copied.
pub(super) struct Planned<'a> {
    pub(super) file: &'a CardFile,
    pub(super) captured: NaiveDateTime,
    pub(super) captured_from: CaptureSource,
    pub(super) tokens: IngestTokens,
    /// The suffix its group takes in the library, when it takes one.
    pub(super) group: Option<groups::GroupSuffix>,
    /// Its hashes, once a clash or an earlier ingest made them worth a read.
    pub(super) learned: std::sync::OnceLock<Learned>,
}

impl Planned<'_> {
    /// BLAKE3 and xxh64 of the card file, read once (to tell a card seen before from
    /// a clash).
    pub(super) fn learn(&self) -> std::io::Result<Learned> {
        if let Some(l) = self.learned.get() {
            return Ok(*l);
        }
        let l = learn(&mut std::fs::File::open(&self.file.path)?)?;
        Ok(*self.learned.get_or_init(|| l))
    }
}

/// Capture time, camera and sequence number of each file; a sidecar takes its photo's.
pub(super) fn plan<'a>(
    card: &'a Card,
    label: &str,
    job: &str,
    zone: &crate::zone::Zone,
) -> Vec<Planned<'a>> {
    let mut seq = 0;
    let mut plans: Vec<Planned<'a>> = card
        .files
        .iter()
        .map(|f| {
            let info = metadata::read(&f.path, zone);
            if f.kind != PhotoKind::Sidecar || f.photo.is_none() {
                seq += 1;
            }
            let (captured, captured_from) = info
                .captured
                .unwrap_or_else(|| (zone.of_mtime(f.mtime_ns), CaptureSource::Mtime));
            Planned {
                file: f,
                captured,
                captured_from,
                tokens: IngestTokens {
                    make: info.make,
                    model: info.model,
                    card: label.to_string(),
                    job: job.to_string(),
                    seq,
                },
                group: None,
                learned: std::sync::OnceLock::new(),
            }
        })
        .collect();
    // A group shares one date folder, the date of its best-dated member: a photo that
    // nothing dates but its modification time takes that of another file of its group
    // the metadata dates (a RAW's JPEG, a Live Photo's clip).
    let paths: Vec<RelPath> = card.files.iter().map(|f| f.rel.clone()).collect();
    let siblings = crate::scan::group::Siblings::index(&paths);
    let index_of: std::collections::HashMap<&RelPath, usize> =
        paths.iter().enumerate().map(|(i, p)| (p, i)).collect();
    for i in 0..plans.len() {
        if plans[i].captured_from != CaptureSource::Mtime
            || plans[i].file.kind == PhotoKind::Sidecar
        {
            continue;
        }
        let better = siblings
            .others(&plans[i].file.rel)
            .filter_map(|o| index_of.get(o).copied())
            .find(|&j| {
                !matches!(
                    plans[j].captured_from,
                    CaptureSource::Mtime | CaptureSource::Sibling
                )
            });
        if let Some(j) = better {
            plans[i].captured = plans[j].captured;
            plans[i].captured_from = CaptureSource::Sibling;
        }
    }
    for i in 0..plans.len() {
        if let Some(p) = plans[i].file.photo {
            plans[i].captured = plans[p].captured;
            plans[i].captured_from = CaptureSource::Sibling;
            plans[i].tokens = plans[p].tokens.clone();
        }
    }
    plans
}
