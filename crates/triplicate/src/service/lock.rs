//! One service per home: `triplicate run` holds an exclusive `flock` on `run.lock` in
//! the home folder for as long as it runs, and writes its PID and the Backup window's
//! address into it. A second `triplicate run` on the same home is refused with both;
//! `triplicate open` reads the address from it. The kernel drops the lock when the
//! process ends, however it ends, so a crash leaves no stale lock behind.
//!
//! CLI commands that write (backup, verify, ingest …) do not take this lock: they keep
//! working beside the service, as the catalog's own locking allows.

use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::PathBuf;

use rustix::fs::{FlockOperation, flock};

use crate::home::Home;

/// The lock file in the home folder.
pub const LOCK_FILE: &str = "run.lock";

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error(
        "another `triplicate run` (PID {}) already serves this home{}; stop it first, or give this one another home with --home",
        holder.pid,
        holder.url.as_deref().map(|u| format!(" at {u}")).unwrap_or_default()
    )]
    Held { holder: Holder },
    #[error("cannot lock {}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl crate::fault::Classify for LockError {
    fn fault(&self) -> crate::fault::Fault {
        match self {
            LockError::Held { .. } => crate::fault::Fault::Usage,
            LockError::Io { .. } => crate::fault::Fault::Failed,
        }
    }
}

/// The service that holds a home: its process and where its page is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub pid: u32,
    /// The Backup window's address, once it listens (`None` with `--no-server`).
    pub url: Option<String>,
}

impl Holder {
    fn parse(text: &str) -> Holder {
        let mut lines = text.lines();
        Holder {
            pid: lines
                .next()
                .and_then(|l| l.trim().parse().ok())
                .unwrap_or(0),
            url: lines
                .next()
                .map(str::trim)
                .filter(|u| !u.is_empty())
                .map(String::from),
        }
    }
}

/// The held lock; dropping it (or the process ending) lets another service start.
#[derive(Debug)]
pub struct RunLock {
    file: File,
    path: PathBuf,
}

fn lock_path(home: &Home) -> PathBuf {
    home.dir().join(LOCK_FILE)
}

impl RunLock {
    /// Takes the home's lock, or says which service holds it.
    pub fn acquire(home: &Home) -> Result<RunLock, LockError> {
        let path = lock_path(home);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        if flock(&file, FlockOperation::NonBlockingLockExclusive).is_err() {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            return Err(LockError::Held {
                holder: Holder::parse(&text),
            });
        }
        let mut lock = RunLock {
            file,
            path: path.clone(),
        };
        lock.write(None).map_err(io)?;
        Ok(lock)
    }

    /// Writes where the Backup window listens, for `triplicate open` and for the
    /// message a second service gets.
    pub fn announce(&mut self, url: &str) -> Result<(), LockError> {
        self.write(Some(url)).map_err(|source| LockError::Io {
            path: self.path.clone(),
            source,
        })
    }

    fn write(&mut self, url: Option<&str>) -> std::io::Result<()> {
        self.file.set_len(0)?;
        self.file.rewind()?;
        writeln!(self.file, "{}", std::process::id())?;
        if let Some(url) = url {
            writeln!(self.file, "{url}")?;
        }
        self.file.flush()
    }

    /// The service running on `home`, if one is.
    pub fn holder(home: &Home) -> Option<Holder> {
        let mut file = File::open(lock_path(home)).ok()?;
        if flock(&file, FlockOperation::NonBlockingLockShared).is_ok() {
            // Nobody holds it: no service runs.
            return None;
        }
        let mut text = String::new();
        file.read_to_string(&mut text).ok()?;
        Some(Holder::parse(&text))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_service_on_one_home_is_refused_with_the_first_ones_pid_and_address() {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::in_dir(dir.path());
        assert_eq!(RunLock::holder(&home), None);
        let mut first = RunLock::acquire(&home).unwrap();
        first.announce("http://127.0.0.1:8321/").unwrap();
        let Err(LockError::Held { holder }) = RunLock::acquire(&home) else {
            panic!("a second lock was granted");
        };
        assert_eq!(holder.pid, std::process::id());
        assert_eq!(holder.url.as_deref(), Some("http://127.0.0.1:8321/"));
        assert_eq!(RunLock::holder(&home), Some(holder));
        drop(first);
        assert_eq!(RunLock::holder(&home), None);
        RunLock::acquire(&home).expect("free again once the first one ended");
    }
}
