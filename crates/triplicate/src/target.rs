//! Remote targets as written in the configuration, and the secrets that go with them.
//!
//! A target is a URL: `s3://bucket/prefix?endpoint=…`, `sftp://user@host:port/path`,
//! `webdav://host/path` (plain HTTP) or `webdavs://host/path` (HTTPS). A URL never
//! holds a secret: a password or key in it is refused, so that it cannot reach the
//! configuration, the logs or the status page. Secrets come from the environment or
//! from the file named by the destination's `credentials_file`: an AWS credentials
//! file for S3, a private key for SFTP, a `username =` / `password =` file for WebDAV.

use std::path::Path;

/// A parsed remote target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RemoteTarget {
    S3(S3Target),
    Sftp(SftpTarget),
    WebDav(WebDavTarget),
}

/// Where a destination is: a local folder (an absolute path) or a remote URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Local(std::path::PathBuf),
    Remote(RemoteTarget),
}

impl Target {
    /// The remote target, if this is one.
    pub fn remote(&self) -> Option<&RemoteTarget> {
        match self {
            Target::Remote(r) => Some(r),
            Target::Local(_) => None,
        }
    }
}

impl crate::values::Parse for Target {
    fn parse(target: &str) -> Result<Target, String> {
        if is_remote(target) {
            return RemoteTarget::parse(target).map(Target::Remote);
        }
        if !Path::new(target).is_absolute() {
            return Err(format!("'{target}' must be an absolute path"));
        }
        Ok(Target::Local(target.into()))
    }
}

/// Whether a target names a remote destination (`scheme://…`).
pub fn is_remote(target: &str) -> bool {
    target.contains("://")
}

const SCHEMES: &str =
    "s3://bucket/prefix, sftp://user@host/path, webdav://host/path or webdavs://host/path";

impl RemoteTarget {
    pub fn parse(target: &str) -> Result<RemoteTarget, String> {
        let (scheme, _) = target
            .split_once("://")
            .ok_or_else(|| format!("'{target}' is not a URL: use {SCHEMES}"))?;
        match scheme {
            "s3" => S3Target::parse(target).map(RemoteTarget::S3),
            "sftp" => SftpTarget::parse(target).map(RemoteTarget::Sftp),
            "webdav" | "webdavs" => WebDavTarget::parse(target).map(RemoteTarget::WebDav),
            other => Err(format!(
                "'{target}': '{other}://' is not a destination this program can write to: use {SCHEMES}"
            )),
        }
    }

    /// The protocol's name, for messages and the status page.
    /// The device this target stores on: the server, and the bucket for S3. Two
    /// destinations on one bucket (different prefixes) are one device.
    pub fn device(&self) -> crate::device::Device {
        match self {
            RemoteTarget::S3(t) => crate::device::of_remote(
                "s3",
                t.endpoint.as_deref().unwrap_or("aws"),
                Some(&t.bucket),
            ),
            RemoteTarget::Sftp(t) => crate::device::of_remote(
                "sftp",
                &format!("{}:{}", t.host, t.port.unwrap_or(22)),
                None,
            ),
            RemoteTarget::WebDav(t) => crate::device::of_remote("webdav", &t.endpoint, None),
        }
    }

    pub fn protocol(&self) -> &'static str {
        match self {
            RemoteTarget::S3(_) => "s3",
            RemoteTarget::Sftp(_) => "sftp",
            RemoteTarget::WebDav(_) => "webdav",
        }
    }
}

/// Splits `scheme://authority/path?query` into authority, path (without its leading
/// slash) and query, refusing credentials in the authority.
fn split_url<'a>(target: &'a str, scheme: &str) -> Result<(&'a str, &'a str, &'a str), String> {
    let rest = &target[scheme.len() + 3..];
    let (rest, query) = rest.split_once('?').unwrap_or((rest, ""));
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    Ok((authority, path, query))
}

fn options(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|pair| pair.split_once('=').unwrap_or((pair, "")))
}

/// `host`, `host:port`, `[v6]` or `[v6]:port`.
fn host_port(target: &str, authority: &str) -> Result<(String, Option<u16>), String> {
    let (host, port) = if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| format!("'{target}': an IPv6 address needs its closing ']'"))?;
        (format!("[{host}]"), after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h.to_string(), Some(p)),
            None => (authority.to_string(), None),
        }
    };
    if host.is_empty() {
        return Err(format!("'{target}' names no host"));
    }
    let port = port
        .map(|p| {
            p.parse::<u16>()
                .map_err(|_| format!("'{target}': '{p}' is not a port number"))
        })
        .transpose()?;
    Ok((host, port))
}

/// A parsed `s3://bucket/prefix?endpoint=…&region=…&path_style=true` target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Target {
    pub bucket: String,
    /// Without leading or trailing slashes; empty for the bucket's top.
    pub prefix: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    /// Virtual-host style (`bucket.endpoint`) instead of path style; path style is the
    /// default because self-hosted stores (Garage, MinIO, Ceph) expect it.
    pub virtual_host: bool,
}

impl S3Target {
    /// Parses a target URL. Credentials in it are refused, so they cannot end up in the
    /// configuration, the logs or the page.
    pub fn parse(target: &str) -> Result<S3Target, String> {
        let rest = target
            .strip_prefix("s3://")
            .ok_or_else(|| format!("'{target}' is not an S3 target: use s3://bucket/prefix"))?;
        let (path, query) = rest.split_once('?').unwrap_or((rest, ""));
        if path.contains('@') {
            return Err(format!(
                "'{target}': put no credentials in the URL; use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or credentials_file"
            ));
        }
        let (bucket, prefix) = path.split_once('/').unwrap_or((path, ""));
        if bucket.is_empty() {
            return Err(format!(
                "'{target}' names no bucket: use s3://bucket/prefix"
            ));
        }
        let mut t = S3Target {
            bucket: bucket.to_string(),
            prefix: prefix.trim_matches('/').to_string(),
            endpoint: None,
            region: None,
            virtual_host: false,
        };
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            match k {
                "endpoint" => t.endpoint = Some(v.to_string()),
                "region" => t.region = Some(v.to_string()),
                "path_style" => t.virtual_host = v == "false",
                "virtual_host" => t.virtual_host = v != "false",
                "access_key_id" | "secret_access_key" | "session_token" => {
                    return Err(format!(
                        "'{k}' does not belong in the URL; use AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or credentials_file"
                    ));
                }
                other => {
                    return Err(format!(
                        "'{target}': unknown option '{other}' (endpoint, region, path_style)"
                    ));
                }
            }
        }
        Ok(t)
    }
}

/// Access keys, from a shared credentials file in the AWS format: the first profile
/// with `aws_access_key_id = …` and `aws_secret_access_key = …`.
#[derive(Clone)]
pub struct Credentials {
    pub access_key_id: String,
    pub secret_access_key: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Credentials({}, secret hidden)", self.access_key_id)
    }
}

impl Credentials {
    pub fn from_file(path: &Path) -> Result<Credentials, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read credentials file {}: {e}", path.display()))?;
        let (mut id, mut secret) = (None, None);
        for line in text.lines().map(str::trim) {
            // The first profile that has both keys.
            if line.starts_with('[') {
                if id.is_some() && secret.is_some() {
                    break;
                }
                continue;
            }
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let v = v.trim().trim_matches('"').to_string();
            match k.trim() {
                "aws_access_key_id" | "access_key_id" => id = Some(v),
                "aws_secret_access_key" | "secret_access_key" => secret = Some(v),
                _ => {}
            }
        }
        match (id, secret) {
            (Some(access_key_id), Some(secret_access_key)) => Ok(Credentials {
                access_key_id,
                secret_access_key,
            }),
            _ => Err(format!(
                "credentials file {} has no aws_access_key_id and aws_secret_access_key",
                path.display()
            )),
        }
    }
}

/// How an SFTP destination treats a server whose host key is not yet known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KnownHosts {
    /// Only hosts already in `~/.ssh/known_hosts` (the default).
    Strict,
    /// A new host is trusted on first contact and remembered; a changed key is
    /// still refused.
    AcceptNew,
}

/// A parsed `sftp://user@host:port/path?known_hosts=accept-new` target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SftpTarget {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
    /// Absolute on the server, without a trailing slash.
    pub path: String,
    pub known_hosts: KnownHosts,
}

impl SftpTarget {
    pub fn parse(target: &str) -> Result<SftpTarget, String> {
        let (authority, path, query) = split_url(target, "sftp")?;
        let (user, hostport) = match authority.rsplit_once('@') {
            Some((user, _)) if user.contains(':') => {
                return Err(format!(
                    "'{target}': put no password in the URL; SFTP destinations log in with a key (credentials_file, or ssh's own keys and agent)"
                ));
            }
            Some((user, hp)) => (Some(user.to_string()), hp),
            None => (None, authority),
        };
        let (host, port) = host_port(target, hostport)?;
        let mut t = SftpTarget {
            user,
            host,
            port,
            path: format!("/{}", path.trim_end_matches('/')),
            known_hosts: KnownHosts::Strict,
        };
        for (k, v) in options(query) {
            match (k, v) {
                ("known_hosts", "strict") => t.known_hosts = KnownHosts::Strict,
                ("known_hosts", "accept-new") => t.known_hosts = KnownHosts::AcceptNew,
                _ => {
                    return Err(format!(
                        "'{target}': unknown option '{k}={v}' (known_hosts=strict or known_hosts=accept-new)"
                    ));
                }
            }
        }
        Ok(t)
    }

    /// The destination for ssh: `ssh://user@host:port`.
    pub fn ssh_destination(&self) -> String {
        let mut s = String::from("ssh://");
        if let Some(u) = &self.user {
            s.push_str(u);
            s.push('@');
        }
        s.push_str(&self.host);
        if let Some(p) = self.port {
            s.push_str(&format!(":{p}"));
        }
        s
    }
}

/// A parsed `webdav://host:port/path` or `webdavs://…` target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WebDavTarget {
    /// `http://host:port` or `https://host:port`.
    pub endpoint: String,
    /// Absolute on the server, without a trailing slash.
    pub path: String,
}

impl WebDavTarget {
    pub fn parse(target: &str) -> Result<WebDavTarget, String> {
        let (scheme, http) = if target.starts_with("webdavs://") {
            ("webdavs", "https")
        } else {
            ("webdav", "http")
        };
        let (authority, path, query) = split_url(target, scheme)?;
        if authority.contains('@') {
            return Err(format!(
                "'{target}': put no user or password in the URL; use WEBDAV_USERNAME and WEBDAV_PASSWORD, or credentials_file"
            ));
        }
        if !query.is_empty() {
            return Err(format!("'{target}': WebDAV targets take no options"));
        }
        let (host, port) = host_port(target, authority)?;
        let endpoint = match port {
            Some(p) => format!("{http}://{host}:{p}"),
            None => format!("{http}://{host}"),
        };
        Ok(WebDavTarget {
            endpoint,
            path: format!("/{}", path.trim_end_matches('/')),
        })
    }
}

/// A WebDAV login: from `WEBDAV_USERNAME` / `WEBDAV_PASSWORD`, or from a file with
/// `username = …` and `password = …` lines.
#[derive(Clone)]
pub struct WebDavLogin {
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for WebDavLogin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "WebDavLogin({}, password hidden)", self.username)
    }
}

impl WebDavLogin {
    pub fn from_file(path: &Path) -> Result<WebDavLogin, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read credentials file {}: {e}", path.display()))?;
        let (mut username, mut password) = (None, None);
        for line in text.lines() {
            let Some((k, v)) = line.split_once('=') else {
                continue;
            };
            let v = v.trim().trim_matches('"').to_string();
            match k.trim() {
                "username" | "user" => username = Some(v),
                "password" => password = Some(v),
                _ => {}
            }
        }
        match (username, password) {
            (Some(username), Some(password)) => Ok(WebDavLogin { username, password }),
            _ => Err(format!(
                "credentials file {} needs a 'username = …' and a 'password = …' line",
                path.display()
            )),
        }
    }

    pub fn from_env() -> Option<WebDavLogin> {
        Some(WebDavLogin {
            username: std::env::var("WEBDAV_USERNAME").ok()?,
            password: std::env::var("WEBDAV_PASSWORD").unwrap_or_default(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn targets_parse_without_credentials() {
        let t = S3Target::parse(
            "s3://photos/studio/backup?endpoint=http://127.0.0.1:3900&region=garage",
        )
        .unwrap();
        assert_eq!(t.bucket, "photos");
        assert_eq!(t.prefix, "studio/backup");
        assert_eq!(t.endpoint.as_deref(), Some("http://127.0.0.1:3900"));
        assert_eq!(t.region.as_deref(), Some("garage"));
        assert!(!t.virtual_host);
        assert_eq!(S3Target::parse("s3://b").unwrap().prefix, "");
        assert!(S3Target::parse("s3://key:secret@bucket/x").is_err());
        assert!(S3Target::parse("s3://b/x?secret_access_key=abc").is_err());
        assert!(S3Target::parse("s3:///x").is_err());
        assert!(S3Target::parse("s3://b/x?colour=red").is_err());
    }

    #[test]
    fn credentials_files_in_the_aws_format() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("creds");
        std::fs::write(
            &path,
            "[default]\naws_access_key_id = GK123\naws_secret_access_key = s3cr3t\n",
        )
        .unwrap();
        let c = Credentials::from_file(&path).unwrap();
        assert_eq!(
            (c.access_key_id.as_str(), c.secret_access_key.as_str()),
            ("GK123", "s3cr3t")
        );
        assert!(!format!("{c:?}").contains("s3cr3t"), "never printed");
        std::fs::write(&path, "[default]\n").unwrap();
        assert!(Credentials::from_file(&path).is_err());
    }

    #[test]
    fn sftp_targets() {
        let t = SftpTarget::parse("sftp://ana@nas.local:2222/srv/photos/?known_hosts=accept-new")
            .unwrap();
        assert_eq!(t.user.as_deref(), Some("ana"));
        assert_eq!((t.host.as_str(), t.port), ("nas.local", Some(2222)));
        assert_eq!(t.path, "/srv/photos");
        assert_eq!(t.known_hosts, KnownHosts::AcceptNew);
        assert_eq!(t.ssh_destination(), "ssh://ana@nas.local:2222");
        let t = SftpTarget::parse("sftp://[::1]/backup").unwrap();
        assert_eq!(
            (t.host.as_str(), t.port, t.known_hosts),
            ("[::1]", None, KnownHosts::Strict)
        );
        assert!(
            SftpTarget::parse("sftp://ana:secret@nas/x").is_err(),
            "no passwords"
        );
        assert!(SftpTarget::parse("sftp://nas:port/x").is_err());
        assert!(SftpTarget::parse("sftp:///x").is_err());
        assert!(SftpTarget::parse("sftp://nas/x?known_hosts=yes").is_err());
    }

    #[test]
    fn webdav_targets() {
        let t = WebDavTarget::parse("webdavs://cloud.example.com/remote.php/dav/files/ana/Backup")
            .unwrap();
        assert_eq!(t.endpoint, "https://cloud.example.com");
        assert_eq!(t.path, "/remote.php/dav/files/ana/Backup");
        let t = WebDavTarget::parse("webdav://127.0.0.1:8080/").unwrap();
        assert_eq!(
            (t.endpoint.as_str(), t.path.as_str()),
            ("http://127.0.0.1:8080", "/")
        );
        assert!(WebDavTarget::parse("webdav://ana:pw@host/x").is_err());
        assert!(RemoteTarget::parse("ftp://host/x").is_err());
        assert_eq!(
            RemoteTarget::parse("webdav://h/x").unwrap().protocol(),
            "webdav"
        );
    }

    #[test]
    fn webdav_logins_from_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("login");
        std::fs::write(&path, "username = ana\npassword = \"pa ss\"\n").unwrap();
        let l = WebDavLogin::from_file(&path).unwrap();
        assert_eq!((l.username.as_str(), l.password.as_str()), ("ana", "pa ss"));
        assert!(!format!("{l:?}").contains("pa ss"));
        std::fs::write(&path, "username = ana\n").unwrap();
        assert!(WebDavLogin::from_file(&path).is_err());
    }
}
