//! Signed-in browsers and the brake on guessing: the server's memory of who signed in.
//!
//! - [`Sessions`]: a sign-in (with the token in the form, or a one-time link) makes a
//!   random session id, which the `triplicate_session` cookie carries, and a CSRF token
//!   the page sends back in the `X-CSRF-Token` header of every request that changes
//!   something. The token itself never leaves the sign-in request. A session ends at
//!   sign-out, after [`SESSION_LIFETIME`], or when the service restarts.
//! - [`Throttle`]: wrong tokens and used-up links count per address; after
//!   [`FREE_FAILURES`] in a [`FAILURE_WINDOW`], the address must wait before it may try
//!   again, twice as long after each further failure (up to [`MAX_WAIT`]). Each refusal
//!   is logged with the address.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a signed-in browser stays signed in.
pub const SESSION_LIFETIME: Duration = Duration::from_secs(14 * 24 * 3600);
/// Wrong tries an address may make before it has to wait.
pub const FREE_FAILURES: u32 = 10;
/// Failures older than this are forgotten.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(60);
/// The longest wait between tries.
pub const MAX_WAIT: Duration = Duration::from_secs(300);

/// A signed-in browser.
#[derive(Debug, Clone)]
struct Session {
    csrf: String,
    expires: Instant,
}

/// The signed-in browsers, by the hash of their session id.
#[derive(Debug, Default)]
pub struct Sessions {
    by_id: Mutex<HashMap<blake3::Hash, Session>>,
}

/// A new session: the id for the cookie, and the page's CSRF token.
#[derive(Debug, Clone)]
pub struct NewSession {
    pub id: String,
    pub csrf: String,
}

impl Sessions {
    /// Signs a browser in.
    pub fn create(&self) -> NewSession {
        let id = triplicate::access::random_secret();
        let csrf = triplicate::access::random_secret();
        let mut map = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        map.retain(|_, s| s.expires > now);
        map.insert(
            blake3::hash(id.as_bytes()),
            Session {
                csrf: csrf.clone(),
                expires: now + SESSION_LIFETIME,
            },
        );
        NewSession { id, csrf }
    }

    /// The CSRF token of a live session, if `id` names one.
    pub fn csrf_of(&self, id: &str) -> Option<String> {
        let map = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&blake3::hash(id.as_bytes()))
            .filter(|s| s.expires > Instant::now())
            .map(|s| s.csrf.clone())
    }

    /// Signs a browser out.
    pub fn end(&self, id: &str) {
        let mut map = self.by_id.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&blake3::hash(id.as_bytes()));
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    until: Option<Instant>,
}

/// Failed sign-ins by address.
#[derive(Debug, Default)]
pub struct Throttle {
    by_address: Mutex<HashMap<IpAddr, Failures>>,
}

impl Throttle {
    /// How long `address` must still wait before it may try again, if it must.
    pub fn wait(&self, address: IpAddr) -> Option<Duration> {
        let map = self.by_address.lock().unwrap_or_else(|p| p.into_inner());
        let until = map.get(&address)?.until?;
        until
            .checked_duration_since(Instant::now())
            .filter(|d| !d.is_zero())
    }

    /// Counts a wrong try; returns how long the address must now wait, if it must.
    pub fn failed(&self, address: IpAddr) -> Option<Duration> {
        let mut map = self.by_address.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        // Forget addresses that stopped trying, so that many of them cannot fill memory.
        map.retain(|_, f| {
            now.duration_since(f.last) <= FAILURE_WINDOW || f.until.is_some_and(|u| u > now)
        });
        let entry = map.entry(address).or_insert(Failures {
            count: 0,
            last: now,
            until: None,
        });
        if now.duration_since(entry.last) > FAILURE_WINDOW && entry.until.is_none_or(|u| u < now) {
            entry.count = 0;
        }
        entry.count += 1;
        entry.last = now;
        let wait = (entry.count >= FREE_FAILURES).then(|| {
            let doublings = (entry.count - FREE_FAILURES).min(16);
            Duration::from_secs(1u64 << doublings).min(MAX_WAIT)
        });
        entry.until = wait.map(|w| now + w);
        tracing::warn!(
            %address,
            failures = entry.count,
            wait_seconds = wait.map(|w| w.as_secs()),
            "refused a sign-in: wrong token or used-up link"
        );
        wait
    }

    /// Forgets an address's failures once it signed in.
    pub fn succeeded(&self, address: IpAddr) {
        let mut map = self.by_address.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&address);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_is_found_by_its_id_until_it_ends() {
        let sessions = Sessions::default();
        let s = sessions.create();
        assert_eq!(sessions.csrf_of(&s.id), Some(s.csrf.clone()));
        assert_eq!(sessions.csrf_of(&s.csrf), None, "the CSRF token is no id");
        sessions.end(&s.id);
        assert_eq!(sessions.csrf_of(&s.id), None);
    }

    #[test]
    fn an_address_waits_after_ten_failures_and_twice_as_long_after_each_more() {
        let throttle = Throttle::default();
        let me: IpAddr = "192.0.2.7".parse().unwrap();
        let other: IpAddr = "192.0.2.8".parse().unwrap();
        for _ in 1..FREE_FAILURES {
            assert_eq!(throttle.failed(me), None);
        }
        assert_eq!(throttle.wait(me), None);
        assert_eq!(throttle.failed(me), Some(Duration::from_secs(1)));
        assert!(throttle.wait(me).is_some());
        assert_eq!(throttle.failed(me), Some(Duration::from_secs(2)));
        assert_eq!(throttle.failed(me), Some(Duration::from_secs(4)));
        assert_eq!(throttle.wait(other), None, "per address");
        throttle.succeeded(me);
        assert_eq!(throttle.wait(me), None);
    }
}
