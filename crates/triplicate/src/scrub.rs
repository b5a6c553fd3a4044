//! The scheduled scrub: every copy at every destination read back within
//! `verify.every` (default 30 days), a share each day, without anyone asking.
//!
//! Random samples alone would leave some copies unread for months; here each
//! destination owes, each day (UTC), an even share of its copies (their count × one
//! day / the period) and, whatever the share, every copy that would otherwise pass the
//! period before tomorrow. Copies are taken oldest proof first ([`VerifyOptions`]'s
//! `oldest`), so the next ones read are always the ones proven longest ago, and a
//! copy proven by a backup or an ingest meanwhile is simply younger.
//!
//! The service runs a [`step`] between its backup passes, never beside one, so a
//! backup or an ingest always goes first: a step reads at most [`STEP_BYTES`] (at
//! `verify.rate` at most), then the service looks for new photos before the next. A
//! damaged copy found is reported like any verify finding (and raises an alert); with
//! `verify.repair` it is also written again from a good copy, the damaged file kept
//! aside. What each destination has done today is kept in the catalog, so a restart
//! neither repeats nor skips the day's share.

use serde::Serialize;

use crate::catalog::CatalogError;
use crate::config::DestinationConfig;
use crate::engine::EngineError;
use crate::home::Triplicate;
use crate::progress::Progress;
use crate::verify::{VerifyOptions, VerifyReport};

/// The most one step reads, so that new photos wait seconds, not hours.
pub const STEP_BYTES: u64 = 256 << 20;
/// The most copies one step checks.
pub const STEP_COPIES: usize = 500;

const DAY: i64 = 86_400;

/// How well a destination's copies are proven, against `verify.every`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Proofs {
    /// Copies with a place there.
    pub copies: u64,
    /// Of them, proven within the period.
    pub within: u64,
    /// Of them, not proven for longer than the period: verification overdue.
    pub overdue: u64,
}

impl Proofs {
    /// The share proven within the period, in percent (100 with no copies).
    pub fn percent(&self) -> f64 {
        match self.copies {
            0 => 100.0,
            n => self.within as f64 * 100.0 / n as f64,
        }
    }
}

/// How well `d`'s copies are proven at `now`, if scheduled checks are on.
pub fn proofs(
    t: &Triplicate,
    d: &DestinationConfig,
    now: i64,
) -> Result<Option<Proofs>, CatalogError> {
    let Some(every) = t.config.verify.every() else {
        return Ok(None);
    };
    let ages = t
        .catalog
        .proof_ages(&d.id, now - every.as_secs() as i64, now)?;
    Ok(Some(Proofs {
        copies: ages.copies,
        within: ages.copies - ages.older,
        overdue: ages.older,
    }))
}

/// What one step did.
#[derive(Debug)]
pub struct Step {
    pub destination: String,
    pub report: VerifyReport,
}

/// The copies `d` still owes today at `now` (see the module's documentation).
pub fn owed_today(t: &Triplicate, d: &DestinationConfig, now: i64) -> Result<u64, CatalogError> {
    let Some(every) = t.config.verify.every() else {
        return Ok(0);
    };
    let every = (every.as_secs() as i64).max(DAY);
    // Copies whose proof passes the period before tomorrow's share: today's, whatever.
    let ages = t.catalog.proof_ages(&d.id, now - every + DAY, now)?;
    let share = (ages.copies * DAY as u64).div_ceil(every as u64);
    let done = done_today(t, d, now)?;
    // A copy that stays bad keeps its old proof: once a day's reads reach the number of
    // copies, the rest waits for tomorrow.
    if done >= ages.copies {
        return Ok(0);
    }
    Ok(share.saturating_sub(done).max(ages.older))
}

/// Copies `d`'s scheduled checks read today.
fn done_today(t: &Triplicate, d: &DestinationConfig, now: i64) -> Result<u64, CatalogError> {
    let today = now.div_euclid(DAY);
    Ok(t.catalog
        .mark(&mark_key(d))?
        .and_then(|v| {
            let (day, done) = v.split_once(':')?;
            (day.parse::<i64>().ok()? == today).then(|| done.parse().ok())?
        })
        .unwrap_or(0))
}

fn mark_key(d: &DestinationConfig) -> String {
    format!("scrub.{}", d.id)
}

/// The next step: the copies owed at the first destination that owes some and can be
/// read now (one that is not there is left for later); `None` when nothing is owed.
pub fn next_step(t: &Triplicate) -> Result<Option<VerifyOptions>, CatalogError> {
    let now = crate::catalog::now();
    for d in t.config.destinations.iter().filter(|d| d.enabled) {
        let owed = owed_today(t, d, now)?;
        if owed == 0 || crate::destination::probe(d).is_err() {
            continue;
        }
        return Ok(Some(VerifyOptions {
            destinations: vec![d.name.clone()],
            oldest: Some((owed as usize).min(STEP_COPIES)),
            max_bytes: Some(STEP_BYTES),
            rate: t.config.verify.rate.as_deref().map(|r| r.0),
            repair: t.config.verify.repair,
            ..Default::default()
        }));
    }
    Ok(None)
}

/// Runs a step [`next_step`] planned, and counts what it read toward its
/// destination's share of the day.
pub fn run_step(
    t: &Triplicate,
    step: &VerifyOptions,
    progress: &dyn Progress,
) -> Result<Step, EngineError> {
    let now = crate::catalog::now();
    let report = crate::verify::verify(t, step, progress)?;
    for (name, checked) in report.destinations.iter().map(|r| (&r.name, r.checked)) {
        let Some(d) = t.config.destination(name) else {
            continue;
        };
        let done = done_today(t, d, now)? + checked.max(1);
        let today = now.div_euclid(DAY);
        t.catalog
            .set_mark(&mark_key(d), &format!("{today}:{done}"))?;
    }
    Ok(Step {
        destination: step.destinations.join(", "),
        report,
    })
}

/// The next step, run; `None` when nothing is owed.
pub fn step(t: &Triplicate, progress: &dyn Progress) -> Result<Option<Step>, EngineError> {
    match next_step(t)? {
        Some(plan) => run_step(t, &plan, progress).map(Some),
        None => Ok(None),
    }
}
