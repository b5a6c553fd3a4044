//! Who may use a running service: the owner's credential and one-time sign-in links.
//!
//! - **The credential** ([`credential`]): `$TRIPLICATE_TOKEN`, else the file named by
//!   `server.token_file`, else `access.token` in the home folder, created on first use
//!   with mode 0600, so that only the account that owns the home can read it. Every
//!   route of the service wants it (or a session signed in with it), on loopback too:
//!   another account on the same machine has no way in.
//! - **One-time links** ([`new_link`], [`redeem_link`]): the owner's `triplicate open`
//!   and `triplicate run` write a random code into the home's private `sign-in/`
//!   folder (by its hash; the code itself is only in the link) and print or open
//!   `/sign-in?once=CODE`. The service signs in the browser that brings a code it
//!   finds there, once, within [`LINK_LIFETIME`]: the token never appears in a URL,
//!   a shell history or a browser's history, as Jupyter does.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::home::Home;

/// Tokens shorter than this are refused: they could be guessed.
pub const MIN_TOKEN_LEN: usize = 16;
/// The environment variable that gives the token (it wins over the files).
pub const TOKEN_ENV: &str = "TRIPLICATE_TOKEN";
/// The credential file in the home folder.
pub const TOKEN_FILE: &str = "access.token";
/// How long a one-time sign-in link works.
pub const LINK_LIFETIME: Duration = Duration::from_secs(15 * 60);
/// The private folder of pending one-time links.
const LINKS_DIR: &str = "sign-in";

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error("cannot {what} {}: {source}", path.display())]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "the access token from {0} is shorter than {MIN_TOKEN_LEN} characters and could be guessed; write a longer one (or remove it and let Triplicate make one in the home folder)"
    )]
    WeakToken(String),
}

impl crate::fault::Classify for AccessError {
    fn fault(&self) -> crate::fault::Fault {
        match self {
            AccessError::Io { .. } => crate::fault::Fault::Failed,
            AccessError::WeakToken(_) => crate::fault::Fault::Usage,
        }
    }
}

/// Where the credential came from, for the messages that name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TokenSource {
    Environment,
    File(PathBuf),
}

impl std::fmt::Display for TokenSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            TokenSource::Environment => write!(f, "${TOKEN_ENV}"),
            TokenSource::File(path) => write!(f, "{}", path.display()),
        }
    }
}

/// The service's access token and where it is kept.
#[derive(Debug, Clone)]
pub struct Credential {
    pub token: String,
    pub source: TokenSource,
}

/// A random secret of 64 hex digits (256 bits from the system's random source).
pub fn random_secret() -> String {
    let a = uuid::Uuid::new_v4();
    let b = uuid::Uuid::new_v4();
    let mut bytes = [0u8; 32];
    bytes[..16].copy_from_slice(a.as_bytes());
    bytes[16..].copy_from_slice(b.as_bytes());
    blake3::hash(&bytes).to_hex().to_string()
}

/// The home's own credential file.
pub fn token_path(home: &Home) -> PathBuf {
    home.dir().join(TOKEN_FILE)
}

/// The service's token: `$TRIPLICATE_TOKEN`, else `server.token_file`, else the home's
/// `access.token`, made (0600) when it does not exist yet.
pub fn credential(home: &Home, token_file: Option<&Path>) -> Result<Credential, AccessError> {
    if let Ok(t) = std::env::var(TOKEN_ENV)
        && !t.trim().is_empty()
    {
        return checked(t.trim().to_string(), TokenSource::Environment);
    }
    if let Some(path) = token_file {
        let text = std::fs::read_to_string(path).map_err(|source| AccessError::Io {
            what: "read the access token in",
            path: path.into(),
            source,
        })?;
        return checked(text.trim().to_string(), TokenSource::File(path.into()));
    }
    let path = token_path(home);
    match std::fs::read_to_string(&path) {
        Ok(text) => checked(text.trim().to_string(), TokenSource::File(path)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let token = random_secret();
            write_private(&path, token.as_bytes())?;
            tracing::info!("made the access token {}", path.display());
            Ok(Credential {
                token,
                source: TokenSource::File(path),
            })
        }
        Err(source) => Err(AccessError::Io {
            what: "read the access token in",
            path,
            source,
        }),
    }
}

fn checked(token: String, source: TokenSource) -> Result<Credential, AccessError> {
    if token.len() < MIN_TOKEN_LEN {
        return Err(AccessError::WeakToken(source.to_string()));
    }
    Ok(Credential { token, source })
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<(), AccessError> {
    crate::fsutil::write_private(path, bytes).map_err(|source| AccessError::Io {
        what: "write",
        path: path.into(),
        source,
    })
}

/// The file that stands for a pending link: named by the code's hash.
fn link_path(home: &Home, code: &str) -> PathBuf {
    let name = blake3::hash(code.trim().as_bytes()).to_hex();
    home.dir().join(LINKS_DIR).join(name.as_str())
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Makes a one-time sign-in code, good for [`LINK_LIFETIME`]; forgets expired ones.
pub fn new_link(home: &Home) -> Result<String, AccessError> {
    let dir = home.dir().join(LINKS_DIR);
    let io = |what, source| AccessError::Io {
        what,
        path: dir.clone(),
        source,
    };
    std::fs::create_dir_all(&dir).map_err(|e| io("create", e))?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|e| io("make private", e))?;
    }
    let now = now_secs();
    if let Ok(entries) = std::fs::read_dir(&dir) {
        for entry in entries.flatten() {
            let expired = std::fs::read_to_string(entry.path())
                .ok()
                .and_then(|t| t.trim().parse::<u64>().ok())
                .is_none_or(|until| until <= now);
            if expired {
                let _ = std::fs::remove_file(entry.path());
            }
        }
    }
    let code = random_secret();
    let until = now + LINK_LIFETIME.as_secs();
    write_private(&link_path(home, &code), until.to_string().as_bytes())?;
    Ok(code)
}

/// Uses up a one-time code: true when it was pending and had not expired. A code works
/// once: whoever removes its file first has it.
pub fn redeem_link(home: &Home, code: &str) -> bool {
    if code.trim().len() < MIN_TOKEN_LEN {
        return false;
    }
    let path = link_path(home, code);
    let Ok(text) = std::fs::read_to_string(&path) else {
        return false;
    };
    if std::fs::remove_file(&path).is_err() {
        return false;
    }
    text.trim()
        .parse::<u64>()
        .is_ok_and(|until| now_secs() < until)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn home() -> (tempfile::TempDir, Home) {
        let dir = tempfile::tempdir().unwrap();
        let home = Home::in_dir(dir.path());
        std::fs::write(&home.config, "").unwrap();
        (dir, home)
    }

    #[test]
    fn the_home_token_is_made_once_and_private() {
        let (_dir, home) = home();
        let first = credential(&home, None).unwrap();
        assert!(first.token.len() >= MIN_TOKEN_LEN);
        let mode = std::fs::metadata(token_path(&home))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let again = credential(&home, None).unwrap();
        assert_eq!(first.token, again.token);
    }

    #[test]
    fn a_short_token_file_is_refused() {
        let (dir, home) = home();
        let file = dir.path().join("short");
        std::fs::write(&file, "abc\n").unwrap();
        assert!(matches!(
            credential(&home, Some(&file)),
            Err(AccessError::WeakToken(_))
        ));
    }

    #[test]
    fn a_link_signs_in_once() {
        let (_dir, home) = home();
        let code = new_link(&home).unwrap();
        assert!(!redeem_link(&home, "not-a-code-of-any-kind"));
        assert!(redeem_link(&home, &code));
        assert!(!redeem_link(&home, &code), "a second use is refused");
    }

    #[test]
    fn an_expired_link_is_refused_and_swept() {
        let (_dir, home) = home();
        let code = new_link(&home).unwrap();
        std::fs::write(link_path(&home, &code), "1").unwrap();
        let other = new_link(&home).unwrap();
        assert!(!link_path(&home, &code).exists(), "swept by the next link");
        std::fs::write(link_path(&home, &other), "1").unwrap();
        assert!(!redeem_link(&home, &other));
    }
}
