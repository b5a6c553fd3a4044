//! A real Garage S3 server for tests: one node (or several, in zones) on loopback
//! ports, with a key and a bucket, stopped when dropped.
//!
//! The `garage` binary comes from `cargo install garage --locked` (scripts/test does
//! it once and it stays in `~/.cargo/bin`), or from `$GARAGE`.
//!
//! `cluster` is long: it is Garage's own setup sequence (configuration, start, layout,
//! key, bucket) written out in the order Garage's documentation gives it, each step
//! waiting for the one before.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::servers::free_port;

/// A running Garage cluster with one bucket and one key allowed on it.
pub struct Garage {
    pub endpoint: String,
    pub region: String,
    pub bucket: String,
    pub key_id: String,
    pub secret: String,
    nodes: Vec<Node>,
}

struct Node {
    config: PathBuf,
    child: Option<Child>,
}

/// The garage binary: `$GARAGE`, else `~/.cargo/bin/garage`, else `garage` on PATH.
pub fn binary() -> PathBuf {
    if let Ok(p) = std::env::var("GARAGE") {
        return p.into();
    }
    let home = std::env::var("HOME").unwrap_or_default();
    let cargo = Path::new(&home).join(".cargo/bin/garage");
    if cargo.exists() {
        return cargo;
    }
    "garage".into()
}

fn garage(config: &Path, args: &[&str]) -> String {
    let out = Command::new(binary())
        .arg("-c")
        .arg(config)
        .args(args)
        .output()
        .unwrap_or_else(|e| {
            panic!("garage {args:?}: {e} (run scripts/test, which installs garage)")
        });
    assert!(
        out.status.success(),
        "garage {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

impl Garage {
    /// One node, replication factor 1.
    pub fn single(dir: &Path) -> Garage {
        Garage::cluster(dir, 1)
    }

    /// `n` nodes in `n` zones with replication factor `n` (3 for a real cluster).
    pub fn cluster(dir: &Path, n: usize) -> Garage {
        let secret: String = crate::noise("garage rpc", 32)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        let s3_ports: Vec<u16> = (0..n).map(|_| free_port()).collect();
        let mut nodes = Vec::new();
        let mut rpc = Vec::new();
        for (i, s3_port) in s3_ports.iter().enumerate() {
            let root = dir.join(format!("garage-{i}"));
            std::fs::create_dir_all(&root).unwrap();
            let rpc_port = free_port();
            let admin_port = free_port();
            let config = root.join("garage.toml");
            std::fs::write(
                &config,
                format!(
                    "metadata_dir = \"{meta}\"\n\
                     data_dir = \"{data}\"\n\
                     db_engine = \"lmdb\"\n\
                     replication_factor = {n}\n\
                     rpc_bind_addr = \"127.0.0.1:{rpc_port}\"\n\
                     rpc_public_addr = \"127.0.0.1:{rpc_port}\"\n\
                     rpc_secret = \"{secret}\"\n\
                     [s3_api]\n\
                     s3_region = \"garage\"\n\
                     api_bind_addr = \"127.0.0.1:{s3}\"\n\
                     root_domain = \".s3.garage.localhost\"\n\
                     [admin]\n\
                     api_bind_addr = \"127.0.0.1:{admin_port}\"\n",
                    meta = root.join("meta").display(),
                    data = root.join("data").display(),
                    s3 = s3_port,
                ),
            )
            .unwrap();
            let log = std::fs::File::create(root.join("garage.log")).unwrap();
            let child = Command::new(binary())
                .arg("-c")
                .arg(&config)
                .arg("server")
                .env("RUST_LOG", "garage=warn")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap_or_else(|e| {
                    panic!("start garage: {e} (run scripts/test, which installs it)")
                });
            rpc.push(rpc_port);
            nodes.push(Node {
                config,
                child: Some(child),
            });
        }
        let first = nodes[0].config.clone();
        let ids: Vec<String> = nodes
            .iter()
            .map(|node| {
                let id = wait_for_id(&node.config);
                wait_for_rpc(&node.config);
                id
            })
            .collect();
        // Connect the nodes to each other, then lay them out: one zone each.
        for (i, id) in ids.iter().enumerate().skip(1) {
            garage(
                &first,
                &["node", "connect", &format!("{id}@127.0.0.1:{}", rpc[i])],
            );
        }
        for (i, id) in ids.iter().enumerate() {
            garage(
                &first,
                &[
                    "layout",
                    "assign",
                    "-z",
                    &format!("zone{i}"),
                    "-c",
                    "1G",
                    id,
                ],
            );
        }
        garage(&first, &["layout", "apply", "--version", "1"]);
        let created = garage(&first, &["key", "create", "triplicate-test"]);
        let field = |name: &str| {
            created
                .lines()
                .find_map(|l| l.trim().strip_prefix(name).map(|v| v.trim().to_string()))
                .unwrap_or_else(|| panic!("no {name} in:\n{created}"))
        };
        let key_id = field("Key ID:");
        let secret_key = field("Secret key:");
        garage(&first, &["bucket", "create", "photos"]);
        garage(
            &first,
            &[
                "bucket",
                "allow",
                "--read",
                "--write",
                "--owner",
                "photos",
                "--key",
                "triplicate-test",
            ],
        );
        let g = Garage {
            endpoint: format!("http://127.0.0.1:{}", s3_ports[0]),
            region: "garage".into(),
            bucket: "photos".into(),
            key_id,
            secret: secret_key,
            nodes,
        };
        g.wait_until_writable();
        g
    }

    /// `s3://photos/PREFIX?endpoint=…&region=garage`.
    pub fn target(&self, prefix: &str) -> String {
        format!(
            "s3://{}/{prefix}?endpoint={}&region={}",
            self.bucket, self.endpoint, self.region
        )
    }

    /// Sets the AWS_* credentials on a command.
    pub fn credentials(&self, cmd: &mut Command) {
        cmd.env("AWS_ACCESS_KEY_ID", &self.key_id)
            .env("AWS_SECRET_ACCESS_KEY", &self.secret);
    }

    /// Writes a shared credentials file.
    pub fn credentials_file(&self, path: &Path) {
        std::fs::write(
            path,
            format!(
                "[default]\naws_access_key_id = {}\naws_secret_access_key = {}\n",
                self.key_id, self.secret
            ),
        )
        .unwrap();
    }

    /// Multipart uploads started and neither completed nor aborted, as Garage counts
    /// them (its counters settle a moment after a change).
    pub fn unfinished_uploads(&self) -> u64 {
        let out = garage(&self.nodes[0].config, &["bucket", "info", &self.bucket]);
        out.lines()
            .find_map(|l| l.strip_prefix("Unfinished uploads:"))
            .and_then(|rest| rest.split_whitespace().next()?.parse().ok())
            .unwrap_or(0)
    }

    /// Stops node `i` (SIGKILL).
    pub fn kill(&mut self, i: usize) {
        if let Some(mut c) = self.nodes[i].child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts node `i` again after [`Garage::kill`].
    pub fn restart(&mut self, i: usize) {
        let node = &mut self.nodes[i];
        assert!(node.child.is_none(), "node {i} is running");
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(node.config.with_file_name("garage.log"))
            .unwrap();
        node.child = Some(
            Command::new(binary())
                .arg("-c")
                .arg(&node.config)
                .arg("server")
                .env("RUST_LOG", "garage=warn")
                .stdout(Stdio::null())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
        wait_for_rpc(&node.config);
    }

    fn wait_until_writable(&self) {
        // The layout takes a moment to reach every node, and the S3 API to listen
        // (a CI run once sent its first request before it did).
        let config = &self.nodes[0].config;
        let deadline = Instant::now() + Duration::from_secs(30);
        let s3 = self.endpoint.trim_start_matches("http://").to_string();
        while std::net::TcpStream::connect(&s3).is_err() {
            assert!(
                Instant::now() < deadline,
                "garage's S3 API does not listen at {s3}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        loop {
            let out = Command::new(binary())
                .arg("-c")
                .arg(config)
                .args(["bucket", "info", &self.bucket])
                .output()
                .unwrap();
            if out.status.success() {
                return;
            }
            assert!(Instant::now() < deadline, "garage did not become ready");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

/// Waits until a node's server answers over RPC (`garage status`).
fn wait_for_rpc(config: &Path) {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = Command::new(binary())
            .arg("-c")
            .arg(config)
            .arg("status")
            .output()
            .unwrap();
        if out.status.success() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "garage at {} does not answer: {}",
            config.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until a node answers `garage node id`, and returns its id.
fn wait_for_id(config: &Path) -> String {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let out = Command::new(binary())
            .arg("-c")
            .arg(config)
            .args(["node", "id", "-q"])
            .output()
            .unwrap();
        if out.status.success() {
            let text = String::from_utf8_lossy(&out.stdout);
            let id = text.trim().split('@').next().unwrap_or("").to_string();
            if !id.is_empty() {
                return id;
            }
        }
        assert!(
            Instant::now() < deadline,
            "garage at {} did not start: {}",
            config.display(),
            String::from_utf8_lossy(&out.stderr)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

impl Drop for Garage {
    fn drop(&mut self) {
        for node in &mut self.nodes {
            if let Some(mut c) = node.child.take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }
}
