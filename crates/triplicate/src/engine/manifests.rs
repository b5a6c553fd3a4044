//! The manifest a run leaves at each destination: the verified copies (and other
//! names' files) that no earlier manifest lists, written as one new file, so that a
//! lost catalog can be rebuilt from the destinations ([`crate::rebuild`]).

use super::*;

/// Why a manifest could not be written.
pub(super) enum ManifestFailure {
    /// The destination refused it: reported as a problem, retried next run.
    Destination(DestError),
    /// The catalog failed: the run cannot go on.
    Catalog(CatalogError),
}

impl From<DestError> for ManifestFailure {
    fn from(e: DestError) -> Self {
        ManifestFailure::Destination(e)
    }
}

impl From<CatalogError> for ManifestFailure {
    fn from(e: CatalogError) -> Self {
        ManifestFailure::Catalog(e)
    }
}

/// Writes a manifest of the verified copies at `od` that no manifest lists yet.
pub(super) fn write_manifest(
    t: &Triplicate,
    od: &OpenDest,
    run: &str,
) -> Result<Option<String>, ManifestFailure> {
    let mut unlisted = t.catalog.unlisted_copies(&od.config.id)?;
    unlisted.extend(t.catalog.unlisted_aliases(&od.config.id)?);
    let (ended, ends): (Vec<i64>, Vec<_>) =
        t.catalog.unlisted_ends(&od.config.id)?.into_iter().unzip();
    unlisted.extend(ends);
    if unlisted.is_empty() {
        return Ok(None);
    }
    let when = |secs: i64| {
        chrono::DateTime::from_timestamp(secs, 0)
            .unwrap_or_default()
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string()
    };
    let now = chrono::Utc::now();
    let header = manifest::Header {
        kind: manifest::MANIFEST_KIND.into(),
        format: destination::FORMAT_VERSION,
        node: t.config.node.clone(),
        destination: od.config.id.clone(),
        run: run.into(),
        created: now.format("%Y-%m-%dT%H:%M:%SZ").to_string(),
    };
    let entries: Vec<manifest::Entry> = unlisted
        .iter()
        .map(|c| manifest::Entry {
            path: c.key.clone(),
            size: c.size,
            blake3: c.hash.to_hex(),
            captured: c.captured.clone(),
            kind: c.kind.clone(),
            library: c.library.clone(),
            source: c.source.clone(),
            verified_at: when(c.verified_at),
            stored_blake3: c.stored_hash.map(|h| h.to_hex()),
            removed: false,
            mtime_ns: c.mtime_ns,
            copy_of: c.alias.as_ref().and_then(|a| a.copy_key.clone()),
            since: c.since,
            until: c.until,
        })
        .collect();
    let bytes = manifest::encode(&header, &entries);
    // To the millisecond: a rebuild reads manifests in name order so that later runs
    // win, and two runs can end in the same second.
    let key = manifest::key(
        &t.config.node,
        &now.format("%Y%m%dT%H%M%S%.3fZ").to_string(),
        run.rsplit('-').next().unwrap_or(run),
    );
    if let Some(folder) = key.parent().filter(|_| !od.dest.properties().staged) {
        // Like photo folders: a crash mid-put leaves a partial here for the next run to sweep.
        t.catalog.journal_folder(&od.config.id, &folder)?;
    }
    od.dest
        .put(&key, &mut bytes.as_slice(), bytes.len() as u64)?;
    t.catalog.mark_ends_listed(&od.config.id, run, &ended)?;
    let (aliases, copies): (Vec<_>, Vec<_>) = unlisted
        .iter()
        .filter(|c| c.until.is_none())
        .partition(|c| c.alias.is_some());
    let ids: Vec<i64> = copies.iter().map(|c| c.photo_id).collect();
    t.catalog.mark_listed(&od.config.id, run, &ids)?;
    let names: Vec<i64> = aliases
        .iter()
        .filter_map(|c| c.alias.as_ref().map(|a| a.file_id))
        .collect();
    t.catalog.mark_aliases_listed(&od.config.id, run, &names)?;
    Ok(key.as_str().map(str::to_string))
}
