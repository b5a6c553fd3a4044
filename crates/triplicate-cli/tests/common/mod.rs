//! Helpers for tests that drive the real `triplicate` binary.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;
pub use triplicate_testkit as kit;

/// A scratch world: a home, a library folder, and room for destinations.
pub struct World {
    /// Disks of their own ([`World::disk`]); declared before `dir`, so that they are
    /// unmounted before the folder holding them is removed.
    disks: std::sync::Mutex<Vec<Mount>>,
    pub dir: tempfile::TempDir,
    /// Run `triplicate` as this unprivileged user (through `setpriv`), so that
    /// permissions bite as they do for a photographer: root reads a `chmod 000` file.
    pub user: Option<u32>,
}

/// The unprivileged user tests run `triplicate` as: Debian's `nobody`.
pub const NOBODY: u32 = 65534;

impl World {
    pub fn new() -> World {
        let dir = tempfile::Builder::new().prefix("tpl-").tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("library")).unwrap();
        World {
            disks: Default::default(),
            dir,
            user: None,
        }
    }

    /// A world whose `triplicate` runs as the unprivileged [`NOBODY`]; the world's
    /// folder is theirs. Needs root (CI runs as root).
    pub fn unprivileged() -> World {
        require_root();
        let mut w = World::new();
        w.user = Some(NOBODY);
        w.give(w.dir.path());
        w
    }

    /// A folder `name` on a disk of its own (a 64 MiB tmpfs mounted at `disks/NAME`,
    /// unmounted with the world): copies there count as another device. The folder
    /// itself is not the mount point, so it can be renamed away to "unplug" it.
    pub fn disk(&self, name: &str) -> PathBuf {
        self.disk_sized(name, "64m")
    }

    /// [`World::disk`] of `size` (tmpfs sizes: "512m").
    pub fn disk_sized(&self, name: &str, size: &str) -> PathBuf {
        let mount = Mount::tmpfs(&self.path(&format!("disks/{name}")), size);
        let folder = mount.path.join(name);
        self.disks.lock().unwrap().push(mount);
        folder
    }

    /// The folder `rel` of the world made a disk of its own: a 64 MiB tmpfs mounted
    /// right there (so it cannot be renamed away), unmounted with the world.
    pub fn disk_at(&self, rel: &str) -> PathBuf {
        let mount = Mount::tmpfs(&self.path(rel), "64m");
        let path = mount.path.clone();
        self.disks.lock().unwrap().push(mount);
        path
    }

    /// Hands `path` and everything below it to this world's user.
    pub fn give(&self, path: &Path) {
        if let Some(uid) = self.user {
            sh(
                "chown",
                &["-R", &format!("{uid}:{uid}"), path.to_str().unwrap()],
            );
        }
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn home(&self) -> PathBuf {
        self.path("home")
    }

    pub fn library(&self) -> PathBuf {
        self.path("library")
    }

    /// `triplicate` with this world's home, as this world's user.
    pub fn cmd(&self) -> Command {
        let bin = env!("CARGO_BIN_EXE_triplicate");
        let mut c = match self.user {
            None => Command::new(bin),
            Some(uid) => {
                let mut c = Command::new("setpriv");
                c.args([
                    &format!("--reuid={uid}"),
                    &format!("--regid={uid}"),
                    "--clear-groups",
                    "--",
                    bin,
                ]);
                c
            }
        };
        c.env("TRIPLICATE_HOME", self.home()).env_remove("RUST_LOG");
        c
    }

    /// Runs `triplicate ARGS` and returns its output, whatever the exit code.
    pub fn run(&self, args: &[&str]) -> Output {
        self.cmd().args(args).output().unwrap()
    }

    /// Runs `triplicate ARGS` and insists on success.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "triplicate {args:?} failed ({:?}):\n{}\n{}",
            out.status.code(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    /// `init` with the library folder, node "test".
    pub fn init(&self) {
        self.ok(&[
            "init",
            "--library",
            self.library().to_str().unwrap(),
            "--node",
            "test",
        ]);
    }

    /// `dest add NAME PATH --media MEDIA --site SITE`, creating the folder.
    pub fn add_dest(&self, name: &str, path: &Path, media: &str, site: &str) {
        std::fs::create_dir_all(path).unwrap();
        self.give(path);
        self.ok(&[
            "dest",
            "add",
            name,
            path.to_str().unwrap(),
            "--media",
            media,
            "--site",
            site,
        ]);
    }

    /// `triplicate COMMAND --json ARGS`: (exit code, report).
    pub fn json(&self, command: &str, extra: &[&str]) -> (i32, Value) {
        let mut args = vec![command, "--json"];
        args.extend_from_slice(extra);
        let out = self.run(&args);
        let report: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!(
                "{command} printed no JSON ({e}):\n{}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
        (out.status.code().unwrap_or(-1), report)
    }

    /// `backup --json`: (exit code, report).
    pub fn backup(&self, extra: &[&str]) -> (i32, Value) {
        self.json("backup", extra)
    }

    /// `backup --json` that failed nothing: its exit code is 0 when every photo is
    /// protected and 1 when the run left photos at risk (what cron reads); the report.
    pub fn backed_up(&self, extra: &[&str]) -> Value {
        let (code, report) = self.backup(extra);
        assert_eq!(report["problems"], serde_json::json!([]), "{report:#}");
        let at_risk = report["coverage"]["at_risk"].as_u64().unwrap();
        assert_eq!(code, i32::from(at_risk > 0), "{report:#}");
        report
    }

    pub fn status(&self) -> Value {
        serde_json::from_str(&self.ok(&["status", "--json", "--at-risk"])).unwrap()
    }

    /// A card written into the library under `sub`.
    pub fn card(&self, sub: &str, spec: &kit::CardSpec) -> Vec<kit::CardFile> {
        kit::write_card(&self.library().join(sub), spec).unwrap()
    }
}

/// A home with two onsite destinations: "usb" (hdd) and "nas" (nas).
pub fn studio() -> World {
    let w = World::new();
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    w.add_dest("nas", &w.path("nas"), "nas", "onsite");
    w
}

/// A home with two onsite destinations on disks of their own (so their copies count
/// toward 3-2-1): "usb" (hdd) and "nas" (nas). Needs root, for the mounts.
pub fn studio_on_disks() -> (World, PathBuf, PathBuf) {
    let w = World::new();
    w.init();
    let (usb, nas) = (w.disk("usb"), w.disk("nas"));
    w.add_dest("usb", &usb, "hdd", "onsite");
    w.add_dest("nas", &nas, "nas", "onsite");
    (w, usb, nas)
}

/// The report entry of destination `name`.
pub fn dest<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == name)
        .unwrap_or_else(|| panic!("no destination {name} in {report}"))
}

/// Every photo file under a destination (not `.triplicate/`), with its BLAKE3.
pub fn stored(root: &Path) -> std::collections::BTreeMap<PathBuf, String> {
    kit::tree_hashes(root).unwrap()
}

/// How many published files (not partials, not `.triplicate/`) are under `root`;
/// safe to call while a backup is writing there.
pub fn count_published(root: &Path) -> usize {
    kit::files_under(root)
        .iter()
        .filter(|p| {
            let name = p.file_name().unwrap().to_string_lossy();
            !name.starts_with(".triplicate-partial-")
                && !p.strip_prefix(root).unwrap().starts_with(".triplicate")
        })
        .count()
}

/// A child process killed with SIGKILL when dropped, even if the test panics.
pub struct Killed(pub std::process::Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// What interrupted puts left under `root` (its staging folder, or beside their
/// targets on a remote store).
pub fn partials(root: &Path) -> Vec<PathBuf> {
    kit::leftovers(root)
}

#[allow(unused_imports)]
pub use kit::mount::{Mount, is_root, require_root, sh};

/// Makes an age identity with Debian's `age-keygen`; returns its recipient.
pub fn age_keygen(path: &Path) -> String {
    let out = Command::new("age-keygen")
        .arg("-o")
        .arg(path)
        .output()
        .expect("age-keygen runs (scripts/test installs Debian's age)");
    assert!(out.status.success(), "{out:?}");
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("age-keygen writes the public key")
        .to_string()
}

/// Decrypts `file` with Debian's `age` and the identity file `key`.
pub fn age_decrypt(key: &Path, file: &Path) -> Vec<u8> {
    let out = Command::new("age")
        .arg("-d")
        .arg("-i")
        .arg(key)
        .arg(file)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "age -d {}: {}",
        file.display(),
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// Runs the ASC MHL reference tool's `ascmhl-debug` (`pip install ascmhl`, which
/// scripts/test installs).
pub fn ascmhl_debug(args: &[&str]) -> Output {
    Command::new("ascmhl-debug")
        .args(args)
        .output()
        .expect("ascmhl-debug runs (scripts/test installs it: pip install ascmhl)")
}

/// The ASC MHL XML schemas, from the reference tool's source package, which
/// scripts/test unpacks into `target/ascmhl-xsd` (or `$TRIPLICATE_ASCMHL_XSD`).
pub fn ascmhl_xsd(name: &str) -> PathBuf {
    let dir = std::env::var_os("TRIPLICATE_ASCMHL_XSD")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/ascmhl-xsd"));
    let path = dir.join(name);
    assert!(
        path.is_file(),
        "{} is missing: scripts/test unpacks the ASC MHL schemas there",
        path.display()
    );
    path
}

/// Starts `triplicate run` on a free port; returns the process and the page's URL.
pub fn serve(w: &World) -> (Killed, String) {
    serve_on(w, "127.0.0.1:0", "triplicate run")
}

/// Starts `triplicate run --listen LISTEN`; its log lines are echoed with `label`.
pub fn serve_on(w: &World, listen: &str, label: &str) -> (Killed, String) {
    let label = label.to_string();
    let mut child = w
        .cmd()
        .args([
            "-v", "run", "--settle", "0.2", "--retry", "1", "--listen", listen,
        ])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead;
        for line in std::io::BufReader::new(stderr)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(url) = line.strip_prefix("Backup window: ") {
                let _ = tx.send(url.to_string());
            }
            eprintln!("{label}: {line}");
        }
    });
    let url = rx
        .recv_timeout(std::time::Duration::from_secs(30))
        .expect("triplicate run announces its URL");
    // The owner's credential, which the service made in its home before announcing.
    if let Ok(token) = std::fs::read_to_string(w.home().join("access.token")) {
        TOKENS
            .lock()
            .unwrap()
            .insert(url.clone(), token.trim().to_string());
    }
    (Killed(child), url)
}

/// The access token of each service [`serve_on`] started, by its URL: [`http_with`]
/// sends it as the owner's scripts do.
static TOKENS: std::sync::LazyLock<std::sync::Mutex<std::collections::HashMap<String, String>>> =
    std::sync::LazyLock::new(Default::default);

/// A one-time link that signs a browser in to the service running on `w`'s home, as
/// the owner gets it from `triplicate open --print`.
pub fn sign_in_link(w: &World) -> String {
    let link = w.ok(&["open", "--print"]).trim().to_string();
    assert!(link.contains("/sign-in?once="), "{link}");
    link
}

/// The access token of the service at `url`.
pub fn token_of(url: &str) -> String {
    TOKENS
        .lock()
        .unwrap()
        .get(url)
        .cloned()
        .expect("a service started by serve_on")
}

/// One HTTP/1.1 request over a real socket; returns the status and the body.
pub fn http(url: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let (status, _, body) = http_with(
        url,
        method,
        path,
        &["Content-Type: application/json"],
        body.as_bytes(),
    );
    (status, body)
}

/// One HTTP/1.1 request with extra header lines, and the service's token unless they
/// carry an `Authorization` or a `Cookie` of their own; returns the status, the
/// response's headers and its body.
pub fn http_with(
    url: &str,
    method: &str,
    path: &str,
    headers: &[&str],
    body: &[u8],
) -> (u16, String, String) {
    use std::io::{Read, Write};
    let host = url.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(host).unwrap();
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {host}\r\n");
    for h in headers {
        head.push_str(h);
        head.push_str("\r\n");
    }
    let own = |name: &str| {
        headers
            .iter()
            .any(|h| h.to_ascii_lowercase().starts_with(name))
    };
    if !own("authorization:") && !own("cookie:") {
        let token = TOKENS.lock().unwrap().get(url).cloned();
        if let Some(token) = token {
            head.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
    }
    head.push_str(&format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    ));
    s.write_all(head.as_bytes()).unwrap();
    s.write_all(body).unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).unwrap();
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer[9..12].parse().unwrap();
    let (head, body) = answer.split_once("\r\n\r\n").unwrap_or((&answer, ""));
    (status, head.to_string(), body.to_string())
}
