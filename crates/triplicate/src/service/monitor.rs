//! What happens outside the jobs: a disk unplugged or full between passes, operations
//! logged by another process (`triplicate backup` in a terminal), an edited
//! configuration, cold destinations due a refresh.

use super::*;

/// Notices changes made outside the jobs, by looking: destinations' markers and space,
/// the operations log, the warnings, the configuration file. Call [`Monitor::check`]
/// every second or so.
#[derive(Default)]
pub struct Monitor {
    pub(super) states: HashMap<String, DestState>,
    pub(super) last_operation: i64,
    pub(super) warnings: Vec<(i64, i64)>,
    pub(super) config_modified: Option<SystemTime>,
    pub(super) primed: bool,
    pub(super) returned: Vec<String>,
    pub(super) remote_checked: HashMap<String, Instant>,
}

/// How often [`Monitor`] asks a remote store whether it is there.
pub(super) const REMOTE_EVERY: Duration = Duration::from_secs(30);

/// Warning kinds that a readable marker disproves.
pub(super) const MARKER_KINDS: &[&str] = &["not mounted", "wrong disk", "damaged marker"];

impl Monitor {
    /// Destinations that came back (plugged in, mounted) since the last call: worth a
    /// pass now rather than at the end of the retry back-off.
    pub fn take_returned(&mut self) -> Vec<String> {
        std::mem::take(&mut self.returned)
    }

    /// Checks once; raises or resolves "not mounted"-like warnings for destinations
    /// whose marker appeared or vanished, and returns what changed since last time.
    pub fn check(&mut self, t: &Triplicate) -> Result<Vec<Change>, CatalogError> {
        let mut changes = Vec::new();
        let modified = std::fs::metadata(&t.home.config)
            .and_then(|m| m.modified())
            .ok();
        if self.primed && modified != self.config_modified {
            changes.push(Change::Config);
        }
        self.config_modified = modified;

        // The configuration may have changed under us: read it afresh.
        let config = crate::config::Config::load(&t.home.config).unwrap_or(t.config.clone());
        let mut states = HashMap::new();
        for d in config.destinations.iter().filter(|d| d.enabled) {
            let state = self.destination_state(t, d)?;
            states.insert(d.name.clone(), state);
        }
        if config.destinations.iter().any(|d| d.offline) {
            crate::cold::remind_cold(&t.catalog, &config)?;
        }
        if self.primed && states != self.states {
            changes.push(Change::Status);
        }
        self.states = states;

        let last = t
            .catalog
            .operations(0, 1, false)?
            .last()
            .map(|o| o.id)
            .unwrap_or(0);
        if self.primed && last != self.last_operation {
            changes.push(Change::Operations { last_id: last });
            changes.push(Change::Status);
        }
        self.last_operation = last;

        let warnings: Vec<(i64, i64)> = t
            .catalog
            .open_warnings()?
            .iter()
            .map(|w| (w.id, w.count))
            .collect();
        if self.primed && warnings != self.warnings {
            changes.push(Change::Warnings);
            changes.push(Change::Status);
        }
        self.warnings = warnings;
        self.primed = true;
        changes.dedup_by(|a, b| a.name() == b.name());
        Ok(changes)
    }

    /// One destination's state now; raises its warning when it changed for the worse,
    /// resolves it when the destination came back.
    fn destination_state(
        &mut self,
        t: &Triplicate,
        d: &crate::config::DestinationConfig,
    ) -> Result<DestState, CatalogError> {
        // A remote store is asked over the network: not every second.
        if d.is_remote() {
            if let (Some(at), Some(state)) =
                (self.remote_checked.get(&d.name), self.states.get(&d.name))
                && at.elapsed() < REMOTE_EVERY
            {
                return Ok(*state);
            }
            self.remote_checked.insert(d.name.clone(), Instant::now());
        }
        Ok(match destination::probe(d) {
            Ok(_) => {
                if self.states.get(&d.name).is_some_and(|s| !s.is_ok()) {
                    let subject = format!("dest:{}", d.name);
                    t.catalog.resolve_warnings(&subject, MARKER_KINDS)?;
                    self.returned.push(d.name.clone());
                }
                match crate::fsutil::space(&d.local_root()) {
                    Ok(s) if s.free == 0 => DestState::Full,
                    _ => DestState::Ok,
                }
            }
            // A cold destination away in its drawer is where it should be.
            Err(destination::DestError::NotMounted { .. }) if d.offline => DestState::Offline,
            Err(e) => {
                if self.states.get(&d.name) != Some(&e.state()) {
                    t.catalog.raise_destination_warning(&d.name, &e)?;
                }
                e.state()
            }
        })
    }
}
