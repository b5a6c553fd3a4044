//! Progress bars: a spinner for scanning, one bar per destination, and one for the
//! current stage of a staged operation (an archive).
//!
//! `event` is long: it is one match over every progress event, each arm a few lines
//! that move one bar.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use triplicate::progress::{Event, Progress};

/// How many problems were said on stderr as they happened, so that a report written
/// to the same place does not say them again.
static SAID_LIVE: AtomicUsize = AtomicUsize::new(0);

/// Whether `count` problems were all said on stderr as they happened, and standard
/// output goes to the same place (a terminal, or one log for both): then a report
/// need not list them again.
pub fn problems_said_above(count: usize) -> bool {
    let same = |a: &str, b: &str| {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(a), Ok(b)) => (a.dev(), a.ino(), a.rdev()) == (b.dev(), b.ino(), b.rdev()),
            _ => false,
        }
    };
    count > 0
        && SAID_LIVE.load(Ordering::Relaxed) == count
        && same("/proc/self/fd/1", "/proc/self/fd/2")
}

pub struct Bars {
    multi: MultiProgress,
    scan: ProgressBar,
    scanned: Mutex<(u64, u64)>,
    dests: Mutex<HashMap<String, DestBar>>,
    /// A staged operation: how many stages, and the bar of the current one.
    stages: Mutex<usize>,
    stage: Mutex<Option<ProgressBar>>,
}

struct DestBar {
    bar: ProgressBar,
    files: u64,
    done: u64,
    failed: u64,
}

impl Bars {
    /// Bars drawn on stderr when `show` and stderr is a terminal; hidden otherwise.
    pub fn new(show: bool) -> Bars {
        let target = if show {
            ProgressDrawTarget::stderr()
        } else {
            ProgressDrawTarget::hidden()
        };
        let multi = MultiProgress::with_draw_target(target);
        let scan = multi.add(ProgressBar::new_spinner());
        scan.set_style(ProgressStyle::with_template("{spinner} {msg}").expect("valid template"));
        scan.enable_steady_tick(Duration::from_millis(120));
        Bars {
            multi,
            scan,
            scanned: Mutex::new((0, 0)),
            dests: Mutex::new(HashMap::new()),
            stages: Mutex::new(0),
            stage: Mutex::new(None),
        }
    }

    pub fn finish(&self) {
        self.scan.finish_and_clear();
        if let Some(bar) = self.stage.lock().unwrap().take() {
            bar.finish();
        }
        for d in self.dests.lock().unwrap().values() {
            if !d.bar.is_finished() {
                d.bar.finish();
            }
        }
    }

    fn say(&self, line: String) {
        if self.multi.is_hidden() {
            eprintln!("{line}");
        } else {
            let _ = self.multi.println(line);
        }
    }
}

fn bar_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{prefix:>12.bold} [{bar:30.cyan/blue}] {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec:>12} ETA {eta:>4} {msg}",
    )
    .expect("valid template")
    .progress_chars("=> ")
}

/// A stage's bar: its number, the percentage, the bytes and the status text.
fn stage_style() -> ProgressStyle {
    ProgressStyle::with_template(
        "{prefix:>5.bold} [{bar:30.cyan/blue}] {percent:>3}% {bytes:>10}/{total_bytes:<10} {binary_bytes_per_sec:>12} {msg}",
    )
    .expect("valid template")
    .progress_chars("=> ")
}

impl Progress for Bars {
    fn event(&self, event: &Event<'_>) {
        match event {
            Event::ScanStarted { library } => self.scan.set_message(format!("Scanning {library}…")),
            Event::ScanHashed { library, bytes } => {
                let mut s = self.scanned.lock().unwrap();
                s.0 += 1;
                s.1 += bytes;
                self.scan.set_message(format!(
                    "Scanning {library}: {} new or changed files, {}",
                    s.0,
                    indicatif::HumanBytes(s.1)
                ));
            }
            Event::ScanFinished { .. } => {}
            Event::WorkPlanned { dest, files, bytes } => {
                self.scan.finish_and_clear();
                let mut dests = self.dests.lock().unwrap();
                let d = dests.entry(dest.to_string()).or_insert_with(|| {
                    let bar = self.multi.add(ProgressBar::new(0));
                    bar.set_style(bar_style());
                    bar.set_prefix(dest.to_string());
                    DestBar {
                        bar,
                        files: 0,
                        done: 0,
                        failed: 0,
                    }
                });
                d.files += files;
                d.bar.inc_length(*bytes);
                d.bar.set_message(format!("{}/{} files", d.done, d.files));
            }
            Event::WorkBytes { dest, bytes } => {
                if let Some(d) = self.dests.lock().unwrap().get(*dest) {
                    d.bar.inc(*bytes);
                }
            }
            Event::WorkDone { dest, ok } => {
                if let Some(d) = self.dests.lock().unwrap().get_mut(*dest) {
                    d.done += 1;
                    d.failed += u64::from(!ok);
                    let failed = if d.failed > 0 {
                        format!(", {} failed", d.failed)
                    } else {
                        String::new()
                    };
                    d.bar
                        .set_message(format!("{}/{} files{failed}", d.done, d.files));
                    if d.done == d.files {
                        d.bar.finish();
                    }
                }
            }
            Event::DestinationStopped { dest, reason } => {
                if let Some(d) = self.dests.lock().unwrap().get(*dest) {
                    d.bar.abandon_with_message(format!("stopped: {reason}"));
                }
            }
            Event::Problem(p) => {
                SAID_LIVE.fetch_add(1, Ordering::Relaxed);
                self.say(format!("error: {}", p.message));
            }
            Event::StagesPlanned { stages } => {
                self.scan.finish_and_clear();
                *self.stages.lock().unwrap() = stages.len();
                let list: Vec<String> = stages
                    .iter()
                    .enumerate()
                    .map(|(i, s)| format!("{}. {s}", i + 1))
                    .collect();
                self.say(format!("Stages: {}", list.join(", ")));
            }
            Event::StageStarted { index, text } => {
                let total = *self.stages.lock().unwrap();
                let mut stage = self.stage.lock().unwrap();
                if let Some(bar) = stage.take() {
                    bar.finish();
                }
                let bar = self.multi.add(ProgressBar::new(0));
                bar.set_style(stage_style());
                bar.set_prefix(format!("{}/{total}", index + 1));
                bar.set_message(text.to_string());
                *stage = Some(bar);
                drop(stage);
                if self.multi.is_hidden() {
                    self.say(format!("[{}/{total}] {text}", index + 1));
                }
            }
            Event::StageBytesPlanned { bytes } => {
                if let Some(bar) = &*self.stage.lock().unwrap() {
                    bar.inc_length(*bytes);
                }
            }
            Event::StageBytes { bytes } => {
                if let Some(bar) = &*self.stage.lock().unwrap() {
                    bar.inc(*bytes);
                }
            }
            Event::Warning { message } => self.say(format!("warning: {message}")),
        }
    }
}
