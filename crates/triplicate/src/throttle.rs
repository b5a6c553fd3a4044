//! The one bandwidth limit: of uploads to a remote destination (`bandwidth`) and of
//! photos sent to a GRID peer (`grid.max_send_rate`).
//!
//! A [`Throttle`] is a token bucket shared by every reader it wraps
//! ([`Throttle::reader`]): bytes flow at `rate` per second in all, several files at
//! once included, after a first `burst` that may go at once (a whole part of a
//! multipart upload, written in one go). A reader that takes more than is left waits
//! for it; the wait is the limit, and nothing else changes.

use std::io::Read;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A bandwidth limit shared by the readers it wraps.
#[derive(Debug)]
pub struct Throttle {
    /// Bytes per second.
    rate: f64,
    /// Bytes that may go at once after a pause.
    burst: f64,
    /// When the tokens were last counted, and how many there were (below zero: owed).
    tokens: Mutex<(Instant, f64)>,
}

impl Throttle {
    /// A limit of `rate` bytes per second, `burst` of them at once; `None` for no limit
    /// (a rate of 0 too).
    pub fn new(rate: Option<u64>, burst: u64) -> Option<Arc<Throttle>> {
        let rate = rate.filter(|r| *r > 0)? as f64;
        let burst = burst.max(1) as f64;
        Some(Arc::new(Throttle {
            rate,
            burst,
            tokens: Mutex::new((Instant::now(), burst)),
        }))
    }

    /// Takes `n` bytes' worth, waiting for them when they are not there yet.
    pub fn take(&self, n: usize) {
        let wait = {
            let mut tokens = self.tokens.lock().unwrap_or_else(|p| p.into_inner());
            let (at, left) = *tokens;
            let now = Instant::now();
            let left = (left + now.duration_since(at).as_secs_f64() * self.rate).min(self.burst)
                - n as f64;
            *tokens = (now, left);
            (left < 0.0).then(|| Duration::from_secs_f64(-left / self.rate))
        };
        if let Some(wait) = wait {
            std::thread::sleep(wait);
        }
    }

    /// `inner`, read within this limit.
    pub fn reader<R: Read>(self: &Arc<Self>, inner: R) -> Throttled<R> {
        Throttled {
            inner,
            throttle: Arc::clone(self),
        }
    }
}

/// A reader within a [`Throttle`]'s limit.
pub struct Throttled<R> {
    inner: R,
    throttle: Arc<Throttle>,
}

impl<R: Read> Read for Throttled<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.throttle.take(n);
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reading_keeps_within_the_rate_after_the_burst() {
        // 2 MB at 8 MB/s, 0.4 MB at once: at least 0.2 s (a lower bound only: a loaded
        // machine may take longer).
        let throttle = Throttle::new(Some(8_000_000), 400_000).unwrap();
        let data = vec![7u8; 2_000_000];
        let started = Instant::now();
        let mut out = Vec::new();
        throttle.reader(&data[..]).read_to_end(&mut out).unwrap();
        assert_eq!(out, data);
        assert!(
            started.elapsed() >= Duration::from_millis(190),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn readers_at_once_share_one_limit() {
        // Two 1 MB files at 8 MB/s together: 2 MB, at least 0.25 s in all.
        let throttle = Throttle::new(Some(8_000_000), 1).unwrap();
        let data = vec![7u8; 1_000_000];
        let started = Instant::now();
        std::thread::scope(|s| {
            for _ in 0..2 {
                s.spawn(|| {
                    let mut out = Vec::new();
                    throttle.reader(&data[..]).read_to_end(&mut out).unwrap();
                });
            }
        });
        assert!(
            started.elapsed() >= Duration::from_millis(240),
            "{:?}",
            started.elapsed()
        );
    }

    #[test]
    fn no_rate_is_no_limit() {
        assert!(Throttle::new(None, 1).is_none());
        assert!(Throttle::new(Some(0), 1).is_none());
    }
}
