//! The time zone in which a UTC time (a video's movie header, a file's modification
//! time) gives its calendar day: `scan.time_zone`, or the machine's.

use chrono::{DateTime, NaiveDateTime, TimeZone, Utc};

/// A time zone: an IANA zone, or the machine's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Zone(Option<chrono_tz::Tz>);

impl Zone {
    /// The machine's zone.
    pub fn machine() -> Zone {
        Zone(None)
    }

    /// An IANA zone name ("Asia/Tokyo"); an empty name is the machine's zone.
    pub fn named(name: &str) -> Result<Zone, String> {
        if name.trim().is_empty() {
            return Ok(Zone(None));
        }
        name.trim()
            .parse::<chrono_tz::Tz>()
            .map(|tz| Zone(Some(tz)))
            .map_err(|_| format!("'{name}' is not a time zone name (e.g. \"Europe/Paris\")"))
    }
}

impl crate::values::Parse for Zone {
    fn parse(name: &str) -> Result<Zone, String> {
        Zone::named(name)
    }
}

impl Zone {
    /// The local time of the UTC instant `utc` in this zone.
    pub fn local(&self, utc: DateTime<Utc>) -> NaiveDateTime {
        match self.0 {
            Some(tz) => utc.with_timezone(&tz).naive_local(),
            None => utc.with_timezone(&chrono::Local).naive_local(),
        }
    }

    /// The local time of a modification time given in nanoseconds since the epoch.
    pub fn of_mtime(&self, mtime_ns: i64) -> NaiveDateTime {
        let secs = mtime_ns.div_euclid(1_000_000_000);
        self.local(Utc.timestamp_opt(secs, 0).single().unwrap_or_default())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_utc_time_is_given_in_the_configured_zone() {
        let tokyo = Zone::named("Asia/Tokyo").unwrap();
        // 23:30 UTC on 1 May is the morning of 2 May in Tokyo.
        let utc = Utc.with_ymd_and_hms(2024, 5, 1, 23, 30, 0).unwrap();
        assert_eq!(
            tokyo.local(utc),
            NaiveDateTime::parse_from_str("2024-05-02 08:30:00", "%Y-%m-%d %H:%M:%S").unwrap()
        );
        assert!(Zone::named("Mars/Olympus").is_err());
        assert_eq!(Zone::named("").unwrap(), Zone::machine());
    }
}
