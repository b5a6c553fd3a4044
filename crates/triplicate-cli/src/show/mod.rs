//! Human-readable output: each function writes what a command shows into `w`, which
//! the command then prints (and tests compare with a snapshot).

/// One line into `w` (writing into a `String` cannot fail).
macro_rules! say {
    ($w:expr) => {{
        let _ = writeln!($w);
    }};
    ($w:expr, $($arg:tt)*) => {{
        let _ = writeln!($w, $($arg)*);
    }};
}

use std::fmt::Write as _;

use indicatif::HumanBytes;
use triplicate::config::Config;
use triplicate::engine::BackupReport;

/// A Unix time as local "YYYY-MM-DD HH:MM", or "never".
fn when(secs: Option<i64>) -> String {
    secs.map(|s| {
        triplicate::scan::metadata::local_time(s * 1_000_000_000)
            .format("%Y-%m-%d %H:%M")
            .to_string()
    })
    .unwrap_or_else(|| "never".into())
}

pub fn libraries(w: &mut String, config: &Config, json: bool) {
    if json {
        say!(
            w,
            "{}",
            serde_json::to_string_pretty(&config.libraries).unwrap_or_default()
        );
        return;
    }
    if config.libraries.is_empty() {
        say!(
            w,
            "No libraries. Add one with `triplicate library add DIR`."
        );
    }
    for l in &config.libraries {
        say!(
            w,
            "{:<16} {:<6} {}",
            l.name,
            l.media.as_str(),
            l.path.display()
        );
    }
}

pub fn destinations(w: &mut String, config: &Config, json: bool) {
    if json {
        say!(
            w,
            "{}",
            serde_json::to_string_pretty(&config.destinations).unwrap_or_default()
        );
        return;
    }
    if config.destinations.is_empty() {
        say!(
            w,
            "No destinations. Add one with `triplicate dest add NAME PATH --media hdd --site onsite`."
        );
    }
    for d in &config.destinations {
        let flags = match (d.enabled, d.automatic) {
            (false, _) => "disabled",
            (true, true) => "automatic",
            (true, false) => "manual",
        };
        say!(
            w,
            "{:<12} {:<8} {:<10} {:<10} {}  (layout {}{})",
            d.name,
            d.media.as_str(),
            d.site,
            flags,
            d.target,
            d.layout,
            if d.encrypt_to.is_empty() {
                ""
            } else {
                ", age-encrypted"
            }
        );
    }
}

pub fn backup(w: &mut String, r: &BackupReport) {
    for s in &r.scans {
        say!(
            w,
            "Scanned {}: {} {}, {} new or changed ({}), {} gone from the library",
            s.library,
            s.files,
            if s.files == 1 { "file" } else { "files" },
            s.hashed,
            HumanBytes(s.bytes_hashed),
            s.gone
        );
        if s.unreadable > 0 {
            say!(
                w,
                "  {} cannot be read: {} no backup (see the problems)",
                if s.unreadable == 1 {
                    "1 file or folder".to_string()
                } else {
                    format!("{} files or folders", s.unreadable)
                },
                if s.unreadable == 1 {
                    "it has"
                } else {
                    "they have"
                }
            );
        }
        if s.left_out > 0 {
            say!(
                w,
                "  {} files not backed up by choice (not photos, videos or sidecars; [scan] include_all = true takes them)",
                s.left_out
            );
        }
    }
    for d in &r.destinations {
        if !d.state.is_ok() && d.planned == 0 {
            say!(w, "{:>12}: skipped ({})", d.name, d.state);
            continue;
        }
        let state = if d.state.is_ok() {
            String::new()
        } else {
            format!(" — stopped: {}", d.state)
        };
        let swept = if d.swept > 0 {
            format!(", {} leftovers of an interrupted run removed", d.swept)
        } else {
            String::new()
        };
        say!(
            w,
            "{:>12}: {} copied and verified ({}), {} already there, {} failed{swept}{state}",
            d.name,
            d.copied,
            HumanBytes(d.bytes),
            d.adopted,
            d.failed
        );
    }
    footer(w, r.seconds, &r.problems, "every copy verified");
    say!(w, "{}", r.verdict());
}

fn duration(secs: i64) -> String {
    match secs {
        s if s < 120 => format!("{s} s"),
        s if s < 7200 => format!("{} min", s / 60),
        s if s < 172_800 => format!("{} h", s / 3600),
        s => format!("{} days", s / 86_400),
    }
}

pub fn verify(w: &mut String, r: &triplicate::verify::VerifyReport) {
    for d in &r.destinations {
        if !d.state.is_ok() {
            say!(w, "{:>12}: not checked ({})", d.name, d.state);
            continue;
        }
        let repairs = if d.repaired + d.unrecoverable > 0 {
            format!(
                ", {} repaired, {} unrecoverable",
                d.repaired, d.unrecoverable
            )
        } else {
            String::new()
        };
        let names = if d.names_checked > 0 {
            format!(
                "; {} {} checked, {} missing or damaged{}",
                d.names_checked,
                if d.names_checked == 1 {
                    "file of another name"
                } else {
                    "files of other names"
                },
                d.names_bad,
                if d.names_repaired > 0 {
                    format!(", {} made again", d.names_repaired)
                } else {
                    String::new()
                }
            )
        } else {
            String::new()
        };
        say!(
            w,
            "{:>12}: {} checked ({}), {} good, {} missing, {} corrupt{repairs}{names}",
            d.name,
            d.checked,
            HumanBytes(d.bytes),
            d.ok,
            d.missing,
            d.corrupt
        );
    }
    if r.open_bit_rot > 0 {
        say!(
            w,
            "     library: {} possible bit rot open (see `triplicate accept-changes --list`)",
            r.open_bit_rot
        );
    }
    footer(w, r.seconds, &r.problems, "every checked copy is good");
}

pub fn restore(w: &mut String, r: &triplicate::restore::RestoreReport) {
    say!(
        w,
        "Restored {} of {} selected into {} ({}); {} were there already, {} restored beside a different file, {} skipped, {} failed.",
        r.restored,
        r.selected,
        r.to.display(),
        HumanBytes(r.bytes),
        r.already_there,
        r.renamed,
        r.skipped,
        r.failed
    );
    footer(w, r.seconds, &r.problems, "every restored file verified");
}

pub fn recover(w: &mut String, r: &triplicate::recover::RecoverReport) {
    say!(
        w,
        "Recovered from destination '{}': a catalog rebuilt from {} manifests ({} copies, {} other names).",
        r.destination,
        r.rebuild.manifests,
        r.rebuild.copies,
        r.rebuild.names
    );
    for (name, path) in &r.libraries {
        say!(w, "  library {name}: {}", path.display());
    }
    restore(w, &r.restore);
    say!(
        w,
        "The new home is {}; next: `triplicate backup` carries on from here (add your other destinations with `triplicate dest add`).",
        r.home.display()
    );
    for p in &r.rebuild.problems {
        say!(w, "  - {}", p.message);
    }
}

/// `restore --list`: one line per name, where it would come from, and the total.
pub fn restore_list(w: &mut String, r: &triplicate::restore::RestoreReport) {
    for l in &r.listed {
        say!(
            w,
            "{}:{}  {}  {}  from {}{}",
            l.library,
            l.path,
            l.captured.get(..10).unwrap_or("-"),
            HumanBytes(l.size),
            l.from.as_deref().unwrap_or("no reachable destination"),
            if l.deleted {
                "  (deleted from the library)"
            } else {
                ""
            }
        );
    }
    let unreachable = r.listed.iter().filter(|l| l.from.is_none()).count();
    say!(
        w,
        "{} {} to restore ({}){}; nothing was written.",
        r.selected,
        if r.selected == 1 { "file" } else { "files" },
        HumanBytes(r.bytes),
        if unreachable > 0 {
            format!(", {unreachable} of them on no reachable destination")
        } else {
            String::new()
        }
    );
}

pub fn rebuild(w: &mut String, r: &triplicate::rebuild::RebuildReport) {
    if let Some(previous) = &r.previous {
        say!(
            w,
            "The previous catalog was moved to {}",
            previous.display()
        );
    }
    say!(
        w,
        "Rebuilt the catalog from {} destination(s): {} manifests, {} copies, {} other names.",
        r.destinations,
        r.manifests,
        r.copies,
        r.names
    );
    if r.bad_lines + r.not_found > 0 {
        say!(
            w,
            "Not counted: {} damaged manifest lines, {} listed copies that are not there (below).",
            r.bad_lines,
            r.not_found
        );
    }
    say!(
        w,
        "Next: `triplicate backup` finds the originals again; `triplicate verify` re-checks the copies."
    );
    for p in &r.problems {
        say!(w, "  - [{}] {}", p.class.as_str(), p.message);
    }
}

/// One line per daemon pass that did something.
pub struct PassLine;

impl triplicate::daemon::PassObserver for PassLine {
    fn pass_done(&self, r: &BackupReport) {
        let copied: u64 = r.destinations.iter().map(|d| d.copied).sum();
        let failed: u64 = r.destinations.iter().map(|d| d.failed).sum();
        let deferred: u64 = r.scans.iter().map(|s| s.deferred).sum();
        if copied + failed + deferred == 0 && r.problems.is_empty() {
            return;
        }
        let per_dest: Vec<String> = r
            .destinations
            .iter()
            .map(|d| {
                if d.state.is_ok() {
                    format!("{} {}", d.name, d.copied)
                } else {
                    format!("{} {}", d.name, d.state)
                }
            })
            .collect();
        let later = if deferred > 0 {
            format!(", {deferred} still being written")
        } else {
            String::new()
        };
        let mut w = String::new();
        say!(
            w,
            "{} copied and verified ({}){later}; {} failed; {:.1} s",
            copied,
            per_dest.join(", "),
            failed,
            r.seconds
        );
        crate::print_text(&w);
    }
}

pub fn operation(w: &mut String, op: &triplicate::catalog::LoggedOperation, json: bool) {
    if json {
        say!(w, "{}", serde_json::to_string(op).unwrap_or_default());
        return;
    }
    let path = op.path.as_ref().map(|p| p.to_string()).unwrap_or_default();
    let bytes = op
        .bytes
        .map(|b| HumanBytes(b).to_string())
        .unwrap_or_default();
    let took = op
        .duration_ms
        .map(|d| format!("{d} ms"))
        .unwrap_or_default();
    let message = op
        .message
        .as_deref()
        .map(|m| format!(" — {m}"))
        .unwrap_or_default();
    say!(
        w,
        "{} {:<7} {:<10} {:<10} {path} {bytes} {took}{message}",
        when(Some(op.at)),
        op.kind,
        op.dest.as_deref().unwrap_or("-"),
        op.outcome
    );
}

/// "Done in 1.2 s; all good." (or the list of problems).
fn footer(
    w: &mut String,
    seconds: f64,
    problems: &[triplicate::progress::Problem],
    all_good: &str,
) {
    if problems.is_empty() {
        say!(w, "Done in {seconds:.1} s; {all_good}.");
    } else {
        let n = problems.len();
        let what = if n == 1 { "problem" } else { "problems" };
        if crate::bars::problems_said_above(n) {
            say!(w, "Done in {seconds:.1} s with {n} {what} (said above).");
            return;
        }
        say!(w, "Done in {seconds:.1} s with {n} {what}:");
        for p in problems {
            say!(w, "  - [{}] {}", p.class.as_str(), p.message);
        }
    }
}

/// Local time of Unix milliseconds, to the millisecond (what `restore --as-of` takes).
fn local_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| {
            t.with_timezone(&chrono::Local)
                .format("%Y-%m-%d %H:%M:%S%.3f")
                .to_string()
        })
        .unwrap_or_else(|| "?".into())
}

pub fn snapshots(w: &mut String, list: &[triplicate::catalog::Snapshot]) {
    if list.is_empty() {
        say!(
            w,
            "no snapshots yet: each backup run that finds changes records one"
        );
        return;
    }
    say!(
        w,
        "{:>5}  {:<23}  {:<12} {:>8}  {:>10}",
        "id",
        "time",
        "library",
        "files",
        "size"
    );
    for s in list {
        say!(
            w,
            "{:>5}  {:<23}  {:<12} {:>8}  {:>10}",
            s.id,
            local_ms(s.at),
            s.library,
            s.files,
            HumanBytes(s.bytes).to_string()
        );
    }
    say!(
        w,
        "\n`triplicate restore --as-of ID --to DIR` brings the libraries back as they were then"
    );
}

pub fn held_changes(
    w: &mut String,
    held: &[triplicate::catalog::HeldChange],
    guard: Option<&triplicate::catalog::GuardTrip>,
) {
    if let Some(g) = guard {
        say!(w, "ALARM: {}\n", triplicate::scan::guard_message(g));
    }
    if held.is_empty() {
        say!(w, "no changes are held back");
        return;
    }
    for h in held {
        let why = match h.reason {
            triplicate::catalog::HoldReason::BitRot => "possible bit rot",
            triplicate::catalog::HoldReason::MassChange => "mass change",
        };
        say!(
            w,
            "  {}:{}  {why}: the backups keep {}, the library has {}",
            h.library,
            h.path,
            h.kept.short(),
            h.found.short()
        );
    }
    say!(
        w,
        "\n{} held back. `triplicate accept-changes` lets them all through; name files to pick.",
        held.len()
    );
}

pub fn accepted(w: &mut String, r: &triplicate::protection::AcceptReport) {
    for h in &r.accepted {
        say!(w, "  accepted {}:{}", h.library, h.path);
    }
    say!(
        w,
        "{} changes accepted: the next backup stores them as new versions{}",
        r.accepted.len(),
        if r.still_held > 0 {
            format!("; {} still held", r.still_held)
        } else {
            String::new()
        }
    );
    if r.guard_reset {
        say!(
            w,
            "the mass-change guard is reset: changes reach the backups again"
        );
    }
}

pub fn pruned(w: &mut String, r: &triplicate::prune::PruneReport) {
    let verb = if r.dry_run { "would remove" } else { "removed" };
    for p in &r.removed {
        let at: Vec<String> = p.copies.iter().map(|(d, k)| format!("{d}:{k}")).collect();
        say!(
            w,
            "  {verb} {}:{} as it was until {} ({}) from {}",
            p.library,
            p.path,
            local_ms(p.until),
            HumanBytes(p.size),
            at.join(", ")
        );
    }
    say!(
        w,
        "{} of {} past versions and deleted photos {verb}, {} kept by the policy; {} {}",
        r.removed.len(),
        r.past_photos,
        r.kept,
        HumanBytes(r.bytes),
        if r.dry_run { "would be freed" } else { "freed" }
    );
    if r.dry_run && !r.removed.is_empty() {
        say!(w, "a dry run: nothing was removed; add --apply to remove");
    }
    for p in &r.problems {
        say!(w, "  problem: {}", p.message);
    }
}

mod archive;
mod grid;
mod ingest;
mod status;

pub use archive::*;
pub use grid::*;
pub use ingest::*;
pub use status::status;

#[cfg(test)]
mod tests;
