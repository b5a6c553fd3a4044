//! Real SFTP and WebDAV servers for tests, on loopback ports, stopped when dropped:
//! Debian's OpenSSH server (`sshd`, with `internal-sftp`) and `rclone serve webdav`.
//! scripts/test installs both (packages openssh-server and rclone).

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A free loopback port (free when asked; the server binds it a moment later).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

pub(crate) fn wait_for_port(port: u16, what: &str, child: &mut Child, log: &Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!(
                "{what} exited with {status}:\n{}",
                std::fs::read_to_string(log).unwrap_or_default()
            );
        }
        assert!(Instant::now() < deadline, "{what} did not listen on {port}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn run(cmd: &mut Command) {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?}: {e} (run scripts/test, which installs it)"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The user the tests run as, who logs in to the SFTP server with a generated key.
fn user() -> String {
    let out = Command::new("id").arg("-un").output().unwrap();
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// One host key for every test server, kept in `~/.cache/triplicate-testkit`: the
/// client remembers `[127.0.0.1]:port` on first contact, and a later server on the
/// same port must show the same key, or ssh would rightly refuse it.
fn host_key() -> PathBuf {
    let home = std::env::var("HOME").unwrap_or_else(|_| "/root".into());
    let dir = Path::new(&home).join(".cache/triplicate-testkit");
    let key = dir.join("ssh_host_ed25519_key");
    if !key.exists() {
        std::fs::create_dir_all(&dir).unwrap();
        // Generated aside and renamed, so that tests starting together agree.
        let tmp = dir.join(format!("host-key-{}", std::process::id()));
        let _ = std::fs::remove_file(&tmp);
        ssh_keygen(&tmp, "triplicate-test-host");
        let _ = std::fs::rename(tmp.with_extension("pub"), key.with_extension("pub"));
        std::fs::rename(&tmp, &key).unwrap();
    }
    key
}

/// A new ed25519 key pair without a passphrase at `path` (and `path.pub`).
fn ssh_keygen(path: &Path, comment: &str) {
    run(Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", comment, "-f"])
        .arg(path));
}

/// A running OpenSSH server that lets the test user in with [`Sshd::key`].
pub struct Sshd {
    pub port: u16,
    /// The client's private key: the destination's `credentials_file`.
    pub key: PathBuf,
    /// Where the served destinations live on this machine.
    pub data: PathBuf,
    config: PathBuf,
    log: PathBuf,
    child: Option<Child>,
}

impl Sshd {
    pub fn start(dir: &Path) -> Sshd {
        std::fs::create_dir_all(dir).unwrap();
        let key = dir.join("id_ed25519");
        ssh_keygen(&key, "triplicate-test");
        std::fs::copy(key.with_extension("pub"), dir.join("authorized_keys")).unwrap();
        let data = dir.join("sftp");
        std::fs::create_dir_all(&data).unwrap();
        // sshd's privilege separation needs it; a fresh container may lack it.
        let _ = std::fs::create_dir_all("/run/sshd");
        let port = free_port();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nPidFile {dir}/sshd.pid\n\
                 AuthorizedKeysFile {dir}/authorized_keys\nStrictModes no\nUsePAM no\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\n\
                 PermitRootLogin prohibit-password\nSubsystem sftp internal-sftp\n\
                 MaxSessions 64\nMaxStartups 64\nLogLevel ERROR\n",
                host = host_key().display(),
                dir = dir.display(),
            ),
        )
        .unwrap();
        let mut s = Sshd {
            port,
            key,
            data,
            log: dir.join("sshd.log"),
            config,
            child: None,
        };
        s.restart();
        s
    }

    /// `sftp://user@127.0.0.1:port/…/sftp/SUB?known_hosts=accept-new`.
    pub fn target(&self, sub: &str) -> String {
        format!(
            "sftp://{}@127.0.0.1:{}{}/{sub}?known_hosts=accept-new",
            user(),
            self.port,
            self.data.display()
        )
    }

    /// Stops the server (SIGKILL); open sessions end with it.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server (again) on the same port.
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "sshd is running");
        let log = std::fs::File::create(&self.log).unwrap();
        let mut child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(&self.config)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("/usr/sbin/sshd (run scripts/test, which installs openssh-server)");
        wait_for_port(self.port, "sshd", &mut child, &self.log);
        self.child = Some(child);
    }
}

impl Drop for Sshd {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A running WebDAV server (`rclone serve webdav`) with a user and a password.
pub struct WebDav {
    pub port: u16,
    pub username: String,
    pub password: String,
    /// The folder served.
    pub data: PathBuf,
    child: Option<Child>,
}

impl WebDav {
    pub fn start(dir: &Path) -> WebDav {
        let data = dir.join("webdav");
        std::fs::create_dir_all(&data).unwrap();
        let port = free_port();
        let password = format!("pw-{}", crate::noise_hex(dir.to_string_lossy().as_ref()));
        let log = dir.join("webdav.log");
        let mut child = Command::new("rclone")
            .args(["serve", "webdav", "--config", "/dev/null", "--addr"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["--user", "photographer", "--pass", &password])
            .arg(&data)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("rclone (run scripts/test, which installs it)");
        wait_for_port(port, "rclone serve webdav", &mut child, &log);
        WebDav {
            port,
            username: "photographer".into(),
            password,
            data,
            child: Some(child),
        }
    }

    /// `webdav://127.0.0.1:port/SUB`.
    pub fn target(&self, sub: &str) -> String {
        format!("webdav://127.0.0.1:{}/{sub}", self.port)
    }

    /// Writes a login file (`username = …`, `password = …`), mode 600.
    pub fn login_file(&self, path: &Path) {
        std::fs::write(
            path,
            format!(
                "username = {}\npassword = {}\n",
                self.username, self.password
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}

impl Drop for WebDav {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}
