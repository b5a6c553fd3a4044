//! Repair: a missing or damaged copy is written again from a good source (the library,
//! or another destination's verified copy), read back, and recorded.

use super::*;

/// Rewrites one bad copy at its own key from the first good source; returns which, and
/// how the new copy is stored.
pub(super) fn repair_copy(
    t: &Triplicate,
    dest: &dyn WriteDestination,
    d: &DestinationConfig,
    row: &CopyRow,
    sources: &SourcePool,
    run: &str,
    attempt: usize,
) -> Result<(String, Stored), String> {
    let candidates = good_sources(t, d, row, sources)?;
    let mut tried = Vec::new();
    // The damaged copy, moved aside before the first rewrite: put back if nothing works.
    let mut damaged: Option<RelPath> = None;
    for (n, (name, open)) in candidates.into_iter().enumerate() {
        // Whatever sits at the key (the damaged copy, or a failed rewrite) moves aside;
        // an encrypted copy whose header is damaged is there too.
        match dest.stat(&row.key) {
            Ok(Some(_)) | Err(DestError::Decrypt { .. }) => {
                let aside =
                    destination::layout::quarantine_key(&format!("{run}-{attempt}-{n}"), &row.key);
                if let Err(e) = dest.rename(&row.key, &aside) {
                    return Err(format!("could not move the damaged copy aside: {e}"));
                }
                damaged.get_or_insert(aside);
            }
            Ok(None) => {}
            Err(e) => return Err(e.to_string()),
        }
        let result = open().map_err(|e| e.to_string()).and_then(|reader| {
            let mut checked = VerifyingReader::new(reader, row.hash, row.size);
            dest.put(&row.key, &mut checked, row.size)
                .map_err(TargetError::from)
                .and_then(|stored| verify_copy(dest, &row.key, &row.hash, stored).map(|()| stored))
                .map_err(|e| e.to_string())
        });
        match result {
            Ok(stored) => return Ok((name, stored)),
            Err(why) => tried.push(format!("{name}: {why}")),
        }
    }
    if let Some(aside) = damaged
        && matches!(dest.stat(&row.key), Ok(None))
    {
        // Leave things as they were found: the damaged bytes are still the only copy here.
        let _ = dest.rename(&aside, &row.key);
    }
    Err(format!("no good copy anywhere ({})", tried.join("; ")))
}

/// Where a good copy of the row's photo may be read from: its library originals first,
/// then every other destination that holds it.
fn good_sources(
    t: &Triplicate,
    d: &DestinationConfig,
    row: &CopyRow,
    sources: &SourcePool,
) -> Result<Vec<(String, OpenSource)>, String> {
    let Sources { names, copies } = t
        .catalog
        .sources_of(row.photo_id)
        .map_err(|e| e.to_string())?;
    let mut candidates: Vec<(String, OpenSource)> = Vec::new();
    for (library, path) in names {
        if let Some(lib) = t.config.library(&library) {
            let full = path.to_path(&lib.path);
            candidates.push((
                format!("the library original {library}:{path}"),
                Box::new(move || {
                    std::fs::File::open(&full)
                        .map(|f| Box::new(f) as Box<dyn Read + Send>)
                        .map_err(|e| format!("{}: {e}", full.display()))
                }),
            ));
        }
    }
    for (dest_id, key) in copies {
        if dest_id == d.id {
            continue;
        }
        let Some(other) = sources.get(&dest_id) else {
            continue;
        };
        candidates.push((
            format!("destination '{}' ({key})", other.name()),
            Box::new(move || other.read(&key).map_err(|e| e.to_string())),
        ));
    }
    if candidates.is_empty() {
        return Err(
            "no good copy anywhere: not in a library, and no other destination holds it".into(),
        );
    }
    Ok(candidates)
}

/// Other destinations, opened for reading when repair first needs them.
pub(super) struct SourcePool<'a> {
    pub(super) t: &'a Triplicate,
    pub(super) open: Mutex<HashMap<String, Option<Arc<dyn ReadDestination>>>>,
}

impl<'a> SourcePool<'a> {
    pub(super) fn new(t: &'a Triplicate) -> Self {
        SourcePool {
            t,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// The destination with this id, if it is configured and mounted.
    pub(super) fn get(&self, id: &str) -> Option<Arc<dyn ReadDestination>> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.entry(id.to_string())
            .or_insert_with(|| {
                let config = self.t.config.destinations.iter().find(|d| d.id == id)?;
                destination::open_read(config).ok()
            })
            .clone()
    }
}
