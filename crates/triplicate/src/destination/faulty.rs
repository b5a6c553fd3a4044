//! A destination wrapper that injects faults, for tests.
//!
//! [`FaultyDestination`] wraps any destination and, while its switch is on, makes a
//! share of puts fail with an I/O error, deliver fewer bytes than announced (a short
//! write), or run slowly, and flips a bit in a share of reads (the read-back that
//! verifies a copy). Which fault strikes is drawn from a seeded generator, so a failing
//! run can be replayed; [`Exercised`] counts the faults that actually struck, so a test
//! can insist that each planned fault happened.

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use super::{DestError, ObjectMeta, Properties, ReadDestination, Stored, WriteDestination};
use crate::fsutil::Space;
use crate::relpath::RelPath;

/// How often each fault strikes, as a probability per put (or per read).
#[derive(Debug, Clone, Default)]
pub struct FaultPlan {
    pub seed: u64,
    pub write_errors: f64,
    pub short_writes: f64,
    pub read_flips: f64,
    pub slow_writes: f64,
    /// Extra time per chunk of a slow write.
    pub slow_by: Duration,
    /// Puts of keys under these prefixes are never struck (say, `ascmhl/`, so that a
    /// history can still be written where every photo fails).
    pub spared: Vec<String>,
}

/// How many times each fault struck.
#[derive(Debug, Default)]
pub struct Exercised {
    pub write_errors: AtomicU64,
    pub short_writes: AtomicU64,
    pub read_flips: AtomicU64,
    pub slow_writes: AtomicU64,
}

pub struct FaultyDestination {
    inner: Arc<dyn WriteDestination>,
    plan: FaultPlan,
    rng: Mutex<u64>,
    active: Arc<AtomicBool>,
    exercised: Arc<Exercised>,
}

impl FaultyDestination {
    /// Wraps `inner`; faults strike while `active` is true.
    pub fn new(
        inner: Arc<dyn WriteDestination>,
        plan: FaultPlan,
        active: Arc<AtomicBool>,
        exercised: Arc<Exercised>,
    ) -> Self {
        let seed = plan.seed ^ blake3::hash(inner.name().as_bytes()).as_bytes()[0] as u64;
        FaultyDestination {
            inner,
            plan,
            rng: Mutex::new(seed),
            active,
            exercised,
        }
    }

    /// `reader`, or, as often as the plan says, a reader of the same bytes with one
    /// bit flipped (a read-back that goes wrong).
    fn maybe_flip(&self, reader: Box<dyn Read + Send>) -> Box<dyn Read + Send> {
        if !self.strikes(self.plan.read_flips) {
            return reader;
        }
        self.exercised.read_flips.fetch_add(1, Ordering::Relaxed);
        Box::new(FlippingReader {
            inner: reader,
            flipped: false,
        })
    }

    /// True with probability `p`, while faults are on.
    fn strikes(&self, p: f64) -> bool {
        if !self.active.load(Ordering::Relaxed) || p <= 0.0 {
            return false;
        }
        let mut state = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        // splitmix64
        *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = *state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z as f64 / u64::MAX as f64) < p
    }
}

/// Sleeps before each chunk it passes on.
struct SlowReader<'a> {
    inner: &'a mut dyn Read,
    by: Duration,
}

impl Read for SlowReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        std::thread::sleep(self.by);
        self.inner.read(buf)
    }
}

/// Flips one bit in the first byte it passes on.
struct FlippingReader {
    inner: Box<dyn Read + Send>,
    flipped: bool,
}

impl Read for FlippingReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        if n > 0 && !self.flipped {
            buf[0] ^= 0x04;
            self.flipped = true;
        }
        Ok(n)
    }
}

impl ReadDestination for FaultyDestination {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn stat(&self, key: &RelPath) -> Result<Option<ObjectMeta>, DestError> {
        self.inner.stat(key)
    }

    fn list(&self, prefix: Option<&RelPath>) -> Result<Vec<ObjectMeta>, DestError> {
        self.inner.list(prefix)
    }

    fn read(&self, key: &RelPath) -> Result<Box<dyn Read + Send>, DestError> {
        let reader = self.inner.read(key)?;
        Ok(self.maybe_flip(reader))
    }

    fn read_stored(&self, key: &RelPath) -> Result<Box<dyn Read + Send>, DestError> {
        let reader = self.inner.read_stored(key)?;
        Ok(self.maybe_flip(reader))
    }

    fn space(&self) -> Option<Space> {
        self.inner.space()
    }
}

impl WriteDestination for FaultyDestination {
    fn put(&self, key: &RelPath, data: &mut dyn Read, len: u64) -> Result<Stored, DestError> {
        let spared = self
            .plan
            .spared
            .iter()
            .any(|prefix| key.as_bytes().starts_with(prefix.as_bytes()));
        if spared {
            return self.inner.put(key, data, len);
        }
        if self.strikes(self.plan.write_errors) {
            self.exercised.write_errors.fetch_add(1, Ordering::Relaxed);
            // Consume the data as a real failing write would, then fail.
            let _ = io::copy(data, &mut io::sink());
            return Err(DestError::Io {
                dest: self.name().into(),
                op: "write (injected fault)",
                path: key.to_string().into(),
                source: io::Error::other("injected I/O error"),
            });
        }
        if self.strikes(self.plan.short_writes) {
            self.exercised.short_writes.fetch_add(1, Ordering::Relaxed);
            let mut short = data.take(len / 2);
            let result = self.inner.put(key, &mut short, len);
            let _ = io::copy(data, &mut io::sink());
            return result;
        }
        if self.strikes(self.plan.slow_writes) {
            self.exercised.slow_writes.fetch_add(1, Ordering::Relaxed);
            let mut slow = SlowReader {
                inner: data,
                by: self.plan.slow_by,
            };
            return self.inner.put(key, &mut slow, len);
        }
        self.inner.put(key, data, len)
    }

    fn sweep_partials(&self, folder: Option<&RelPath>) -> Result<usize, DestError> {
        self.inner.sweep_partials(folder)
    }

    fn rename(&self, from: &RelPath, to: &RelPath) -> Result<(), DestError> {
        self.inner.rename(from, to)
    }

    fn remove(&self, key: &RelPath) -> Result<(), DestError> {
        self.inner.remove(key)
    }

    fn properties(&self) -> Properties {
        self.inner.properties()
    }
}
