//! Cold destinations (the yearly drive kept in a drawer): when one was last refreshed,
//! whether a refresh is due, and the "refresh due" reminder raised after each backup
//! run and by the service's monitor.

use crate::catalog::{Catalog, CatalogError};
use crate::config::{Config, DestinationConfig};

/// A cold destination's refresh: when a run last reached it, and whether another is
/// due.
#[derive(Debug, Clone)]
pub struct Refresh {
    pub last: Option<i64>,
    pub due: bool,
    pub every: std::time::Duration,
}

impl Refresh {
    /// "cold: last refreshed 12 days ago (every 365 days)", or "never refreshed".
    pub fn describe(&self) -> String {
        let days = self.every.as_secs() / 86_400;
        let every = if days >= 1 {
            format!("every {days} days")
        } else {
            format!("every {} s", self.every.as_secs())
        };
        match self.last {
            None => format!("cold destination, never refreshed ({every})"),
            Some(at) => {
                let ago = (crate::catalog::now() - at).max(0) / 86_400;
                let due = if self.due { "; a refresh is due" } else { "" };
                format!("cold destination, last refreshed {ago} days ago ({every}){due}")
            }
        }
    }
}

/// The refresh of `d`, if it is a cold destination.
pub fn refresh_of(d: &DestinationConfig, last_success: Option<i64>, now: i64) -> Option<Refresh> {
    let every = d.refresh_interval()?;
    let due = last_success.is_none_or(|at| now - at >= every.as_secs() as i64);
    Some(Refresh {
        last: last_success,
        due,
        every,
    })
}

/// Raises "refresh due" for each cold destination whose refresh is due, and resolves
/// it for the others (once refreshed, or no longer cold). Called after each backup run
/// and by the service's monitor; raises nothing already open.
pub fn remind_cold(catalog: &Catalog, config: &Config) -> Result<(), CatalogError> {
    let open = catalog.open_warnings()?;
    let now = crate::catalog::now();
    for d in &config.destinations {
        let subject = format!("dest:{}", d.name);
        let is_open = open
            .iter()
            .any(|w| w.subject == subject && w.kind == "refresh due");
        let refresh = if d.enabled {
            refresh_of(d, catalog.dest_activity(&d.id)?.1, now)
        } else {
            None
        };
        let due = refresh.filter(|r| r.due);
        match due {
            Some(r) if !is_open => {
                catalog.raise_warning(
                    &subject,
                    "refresh due",
                    &format!(
                        "{}: {}; plug it in and run `triplicate backup --dest {}`",
                        d.name,
                        r.describe(),
                        d.name
                    ),
                    Some("permanent"),
                )?;
            }
            None if is_open => {
                catalog.resolve_warnings(&subject, &["refresh due"])?;
            }
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn destination(extra: &str) -> DestinationConfig {
        let text = format!(
            "node = \"n\"\n[[destination]]\nname = \"drawer\"\ntarget = \"/media/drawer\"\nid = \"x\"\nmedia = \"hdd\"\nsite = \"onsite\"\n{extra}"
        );
        Config::parse(std::path::Path::new("config.toml"), &text)
            .unwrap()
            .destinations
            .remove(0)
    }

    #[test]
    fn only_a_cold_destination_has_a_refresh_and_it_is_due_when_never_done_or_too_old() {
        let day = 86_400;
        assert!(refresh_of(&destination(""), None, 0).is_none(), "not cold");
        let cold = destination("offline = true\nrefresh_every = \"30d\"\n");
        let never = refresh_of(&cold, None, 100 * day).unwrap();
        assert!(never.due);
        assert!(never.describe().contains("never refreshed (every 30 days)"));
        assert!(!refresh_of(&cold, Some(80 * day), 100 * day).unwrap().due);
        assert!(refresh_of(&cold, Some(70 * day), 100 * day).unwrap().due);
        let yearly = refresh_of(&destination("offline = true\n"), Some(0), 364 * day).unwrap();
        assert!(!yearly.due, "a year by default");
    }
}
