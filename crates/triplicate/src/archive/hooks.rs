//! The `pre` and `post` hooks around an archive, and the archive's log they write to.
//!
//! A hook is a shell command (`sh -c`) in its own process group, its output (both
//! streams) appended to the log. `pre` can be stopped by Ctrl-C or SIGTERM; `post` is
//! not, because it is what puts things back (starting a camera service again). Both
//! are stopped after `[archive] hook_timeout` seconds.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::{ArchiveError, Result, io_err};

/// The log of one archive's creation: stages, warnings and the hooks' output.
pub(crate) struct Log {
    pub path: PathBuf,
    file: File,
}

impl Log {
    pub fn create(path: &Path) -> Result<Log> {
        // The owner's alone, like the archive it logs.
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .mode(0o600)
            .open(path)
            .map_err(io_err("cannot write the log", path))?;
        Ok(Log {
            path: path.to_path_buf(),
            file,
        })
    }

    /// A timestamped line.
    pub fn line(&mut self, text: &str) {
        let now = chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
        let _ = writeln!(self.file, "{now} {text}");
    }
}

/// Runs hook `which` (`pre` or `post`): its output goes to the log, `env` to its
/// environment. `cancel` (for `pre`) stops it early.
pub(crate) fn run(
    which: &'static str,
    command: &str,
    env: &[(&str, String)],
    timeout: Duration,
    log: &mut Log,
    cancel: Option<&AtomicBool>,
) -> Result<()> {
    log.line(&format!("{which} hook: {command}"));
    let failed = |message: String, log: &Log| ArchiveError::Hook {
        which,
        command: command.into(),
        message,
        log: log.path.clone(),
    };
    let out = log
        .file
        .try_clone()
        .map_err(io_err("cannot write the log", &log.path))?;
    let err = log
        .file
        .try_clone()
        .map_err(io_err("cannot write the log", &log.path))?;
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(command)
        .stdin(Stdio::null())
        .stdout(Stdio::from(out))
        .stderr(Stdio::from(err))
        .process_group(0);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let mut child = cmd
        .spawn()
        .map_err(|e| failed(format!("it does not start: {e}"), log))?;
    let started = Instant::now();
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) => {}
            Err(e) => return Err(failed(e.to_string(), log)),
        }
        let stop = if cancel.is_some_and(|c| c.load(Ordering::Relaxed)) {
            Some(None)
        } else if started.elapsed() > timeout {
            Some(Some(format!("it took longer than {}s", timeout.as_secs())))
        } else {
            None
        };
        if let Some(why) = stop {
            // The whole group: `sh` and whatever it started.
            let _ = rustix::process::kill_process_group(
                rustix::process::Pid::from_child(&child),
                rustix::process::Signal::TERM,
            );
            let _ = child.wait();
            log.line(&format!("{which} hook stopped"));
            return Err(match why {
                None => ArchiveError::Cancelled,
                Some(message) => failed(message, log),
            });
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    log.line(&format!("{which} hook ended: {status}"));
    if status.success() {
        Ok(())
    } else {
        Err(failed(format!("it ended with {status}"), log))
    }
}
