//! Value types parsed once from what people write: durations (`30d`), bandwidths
//! (`20MB/s`), object-lock modes, age recipients and certificate fingerprints. Each parser's error says what was wrong and what
//! to write instead. A leaf: it imports nothing of the crate.
//!
//! [`Written`] carries such a value through the configuration: serde parses it once,
//! when the file is loaded (a bad value is a load error with its file and line), and it
//! is written back exactly as the person wrote it. Other modules make their own types
//! writable by implementing [`Parse`] (layouts, targets, time zones).

use std::fmt;
use std::ops::Deref;
use std::str::FromStr;
use std::time::Duration;

/// A value that can be read from what a person writes; the error says what to write.
pub trait Parse: Sized {
    fn parse(text: &str) -> Result<Self, String>;
}

/// A value as it was written (`"30d"`) and what it means, parsed once.
#[derive(Clone)]
pub struct Written<T> {
    text: String,
    value: T,
}

impl<T: Parse> Written<T> {
    pub fn new(text: &str) -> Result<Written<T>, String> {
        Ok(Written {
            value: T::parse(text)?,
            text: text.to_string(),
        })
    }
}

impl<T> Written<T> {
    /// The text as the person wrote it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    pub fn value(&self) -> &T {
        &self.value
    }
}

impl<T> Deref for Written<T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.value
    }
}

impl<T> fmt::Display for Written<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl<T> fmt::Debug for Written<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.text, f)
    }
}

/// Two values are the same when they were written the same.
impl<T> PartialEq for Written<T> {
    fn eq(&self, other: &Self) -> bool {
        self.text == other.text
    }
}

impl<T> Eq for Written<T> {}

impl<T> PartialEq<str> for Written<T> {
    fn eq(&self, other: &str) -> bool {
        self.text == other
    }
}

impl<T> PartialEq<&str> for Written<T> {
    fn eq(&self, other: &&str) -> bool {
        self.text == *other
    }
}

impl<T: Parse> FromStr for Written<T> {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        Written::new(text)
    }
}

impl<T> serde::Serialize for Written<T> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de, T: Parse> serde::Deserialize<'de> for Written<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = String::deserialize(d)?;
        Written::new(&text).map_err(serde::de::Error::custom)
    }
}

/// A length of time as written: `"30d"`.
pub type Span = Written<Duration>;

impl Parse for Duration {
    fn parse(text: &str) -> Result<Duration, String> {
        parse_duration(text)
    }
}

/// Bytes per second.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate(pub u64);

/// A bandwidth as written: `"20MB/s"`.
pub type Bandwidth = Written<Rate>;

impl Parse for Rate {
    fn parse(text: &str) -> Result<Rate, String> {
        parse_bandwidth(text).map(Rate)
    }
}

/// An age X25519 recipient as written: `"age1…"`.
pub type Recipient = Written<age::x25519::Recipient>;

impl Parse for age::x25519::Recipient {
    fn parse(text: &str) -> Result<Self, String> {
        parse_recipient(text)
    }
}

/// A listening address as written: `"127.0.0.1:8321"`.
pub type ListenAddr = Written<std::net::SocketAddr>;

impl Parse for std::net::SocketAddr {
    fn parse(text: &str) -> Result<Self, String> {
        text.trim()
            .parse()
            .map_err(|_| format!("'{text}' is not an address and port, e.g. 127.0.0.1:8321"))
    }
}

/// A certificate's SHA-256 fingerprint: 64 lowercase hex digits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Sha256Hex(pub String);

/// A certificate fingerprint as written (`"AB:CD:…"`, any case, colons allowed).
pub type Fingerprint = Written<Sha256Hex>;

impl Parse for Sha256Hex {
    fn parse(text: &str) -> Result<Self, String> {
        let hex: String = text
            .chars()
            .filter(|c| !matches!(c, ':' | ' ' | '-'))
            .collect::<String>()
            .to_ascii_lowercase();
        let hex = hex.strip_prefix("sha256").unwrap_or(&hex);
        if hex.len() == 64 && hex.chars().all(|c| c.is_ascii_hexdigit()) {
            Ok(Sha256Hex(hex.to_string()))
        } else {
            Err(format!(
                "'{text}' is not a certificate fingerprint: one is 64 hex digits (colons allowed), as `triplicate run` or `triplicate grid init` on the peer shows it"
            ))
        }
    }
}

/// Parses durations such as `90s`, `45m`, `12h`, `30d` or `2w`.
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let n: u64 = number.parse().map_err(|_| {
        format!("'{text}' is not a duration: use a number and s, m, h, d or w (e.g. 30d)")
    })?;
    let secs = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" | "" => 86_400,
        "w" => 7 * 86_400,
        _ => {
            return Err(format!(
                "'{text}': unknown unit '{unit}'; use s, m, h, d or w"
            ));
        }
    };
    Ok(Duration::from_secs(n * secs))
}

/// Bytes per second from "20MB/s", "500KiB/s", "1GB/s" or a plain number of bytes.
pub fn parse_bandwidth(text: &str) -> Result<u64, String> {
    let t = text.trim();
    let t = t.strip_suffix("/s").unwrap_or(t).trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (number, unit) = t.split_at(split);
    let n: f64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a bandwidth: use e.g. \"20MB/s\" or \"500KiB/s\""))?;
    let scale: f64 = match unit.trim() {
        "" | "B" => 1.0,
        "kB" | "KB" => 1e3,
        "KiB" => 1024.0,
        "MB" => 1e6,
        "MiB" => 1024.0 * 1024.0,
        "GB" => 1e9,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        other => {
            return Err(format!(
                "'{text}': unknown unit '{other}' (B, KB, KiB, MB, MiB, GB, GiB)"
            ));
        }
    };
    let bytes = (n * scale) as u64;
    if bytes < 1024 {
        return Err(format!(
            "'{text}' is below 1 KiB/s: too slow to back anything up"
        ));
    }
    if bytes > u32::MAX as u64 {
        return Err(format!(
            "'{text}' is above 4 GB/s: leave the limit out instead"
        ));
    }
    Ok(bytes)
}

/// Who may lift a retention early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// Users with `s3:BypassGovernanceRetention` may; nobody else.
    Governance,
    /// Nobody, not even the account's root, until the date passes.
    Compliance,
}

impl Parse for LockMode {
    fn parse(s: &str) -> Result<LockMode, String> {
        match s.to_ascii_lowercase().as_str() {
            "governance" => Ok(LockMode::Governance),
            "compliance" => Ok(LockMode::Compliance),
            _ => Err(format!(
                "object lock mode '{s}': use governance or compliance"
            )),
        }
    }
}

impl LockMode {
    pub(crate) fn as_s3(self) -> &'static str {
        match self {
            LockMode::Governance => "GOVERNANCE",
            LockMode::Compliance => "COMPLIANCE",
        }
    }
}

/// Parses an X25519 recipient (`age1…`).
pub fn parse_recipient(text: &str) -> Result<age::x25519::Recipient, String> {
    age::x25519::Recipient::from_str(text.trim()).map_err(|e| {
        format!("'{text}' is not an age X25519 recipient (age1…, as age-keygen prints): {e}")
    })
}

#[cfg(test)]
mod tests {

    #[test]
    fn fingerprints_are_read_as_people_write_them() {
        let hex = "ab".repeat(32);
        let colons = hex
            .as_bytes()
            .chunks(2)
            .map(|c| std::str::from_utf8(c).unwrap().to_uppercase())
            .collect::<Vec<_>>()
            .join(":");
        assert_eq!(Sha256Hex::parse(&colons).unwrap().0, hex);
        assert_eq!(Sha256Hex::parse(&format!("SHA256:{hex}")).unwrap().0, hex);
        assert!(Sha256Hex::parse("abc").is_err());
        assert!(Sha256Hex::parse(&"zz".repeat(32)).is_err());
    }

    use super::*;

    #[test]
    fn durations() {
        assert_eq!(parse_duration("90s").unwrap(), Duration::from_secs(90));
        assert_eq!(parse_duration("45m").unwrap(), Duration::from_secs(2700));
        assert_eq!(
            parse_duration("30d").unwrap(),
            Duration::from_secs(30 * 86_400)
        );
        assert_eq!(
            parse_duration("2w").unwrap(),
            Duration::from_secs(14 * 86_400)
        );
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("3y").is_err());
    }

    #[test]
    fn bandwidths_in_the_usual_units() {
        assert_eq!(parse_bandwidth("20MB/s"), Ok(20_000_000));
        assert_eq!(parse_bandwidth("500KiB/s"), Ok(512_000));
        assert_eq!(parse_bandwidth("1.5 MiB/s"), Ok(1_572_864));
        assert_eq!(parse_bandwidth("65536"), Ok(65_536));
        assert!(parse_bandwidth("fast").is_err());
        assert!(parse_bandwidth("10 parsecs/s").is_err());
        assert!(parse_bandwidth("100B/s").is_err(), "too slow to be meant");
    }
}
