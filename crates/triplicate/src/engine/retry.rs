//! The one retry policy of backup and ingest.
//!
//! A copy that failed is tried again within the run when the destination's error class
//! says the failure may pass ([`TargetError::is_worth_retrying`]): an I/O error, a copy
//! that read back wrong, a name taken between choosing and publishing. A permanent
//! failure (permission denied, data that arrived short) waits for the next run, and one
//! that puts the whole destination out of action stops it. Between attempts the wait
//! grows fourfold from 50 ms, with jitter, so that workers do not retry in step.

use std::time::Duration;

use super::fanout::TargetError;

/// How many attempts a copy gets within one run, and how long to wait between them.
#[derive(Debug, Clone, Copy)]
pub struct RetryPolicy {
    /// Attempts in all, the first included.
    pub attempts: u32,
    /// The wait before the second attempt; each later one waits four times longer.
    pub first_wait: Duration,
}

/// The policy of every copy Triplicate makes: 4 attempts, after about 50, 200 and
/// 800 ms.
pub const RETRY: RetryPolicy = RetryPolicy {
    attempts: 4,
    first_wait: Duration::from_millis(50),
};

impl RetryPolicy {
    /// Whether a copy that failed with `error` on attempt `attempt` (0, 1, …) is tried
    /// again.
    pub fn again(&self, attempt: u32, error: &TargetError) -> bool {
        attempt + 1 < self.attempts && error.is_worth_retrying()
    }

    /// The wait before attempt `attempt` (1, 2, …): the first wait × 4ⁿ⁻¹, from half to
    /// one and a half times that, drawn from `seed` (a photo, a file) so that workers
    /// copying different photos do not retry in step.
    pub fn wait(&self, attempt: u32, seed: &[u8]) -> Duration {
        let base = self.first_wait.as_millis() as u64 * 4u64.pow(attempt.saturating_sub(1));
        let h = blake3::Hasher::new()
            .update(seed)
            .update(&attempt.to_le_bytes())
            .finalize();
        let jitter = u64::from(h.as_bytes()[0]) * base / 255; // 0 ..= base
        Duration::from_millis(base / 2 + jitter)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::destination::DestError;
    use crate::relpath::RelPath;

    #[test]
    fn waits_grow_fourfold_with_jitter_within_half_and_one_and_a_half() {
        for (attempt, base) in [(1, 50), (2, 200), (3, 800)] {
            for seed in 0..50u8 {
                let ms = RETRY.wait(attempt, &[seed]).as_millis() as u64;
                assert!((base / 2..=base * 3 / 2).contains(&ms), "{attempt}: {ms}");
            }
        }
        let spread: std::collections::BTreeSet<_> =
            (0..50u8).map(|s| RETRY.wait(2, &[s])).collect();
        assert!(spread.len() > 10, "the jitter differs between photos");
    }

    #[test]
    fn a_transient_failure_is_tried_again_until_the_last_attempt_and_a_permanent_one_never() {
        let taken = TargetError::Dest(DestError::AlreadyExists {
            dest: "usb".into(),
            key: RelPath::new(b"a.jpg".to_vec()).unwrap(),
        });
        assert!(RETRY.again(0, &taken));
        assert!(RETRY.again(2, &taken));
        assert!(!RETRY.again(3, &taken), "4 attempts in all");
        let denied = TargetError::Dest(DestError::PermissionDenied {
            dest: "usb".into(),
            path: "/media/usb".into(),
        });
        assert!(!RETRY.again(0, &denied));
    }
}
