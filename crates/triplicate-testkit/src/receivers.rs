//! Real receivers of alerts for tests, on loopback ports, stopped when dropped: an SMTP
//! server (Python's aiosmtpd, Debian package python3-aiosmtpd, storing each message in
//! a Maildir) and an HTTP server (Python's http.server) that records every request, for
//! webhooks, ntfy, Gotify and healthchecks pings. scripts/test installs aiosmtpd.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::servers::free_port;

/// Debian's Python, which has Debian's aiosmtpd (another python3 may come first on PATH).
const PYTHON: &str = "/usr/bin/python3";

/// A running SMTP server that keeps every message it receives.
pub struct SmtpReceiver {
    pub port: u16,
    maildir: PathBuf,
    child: Child,
}

impl SmtpReceiver {
    pub fn start(dir: &Path) -> SmtpReceiver {
        std::fs::create_dir_all(dir).unwrap();
        let maildir = dir.join("maildir");
        let port = free_port();
        let log = dir.join("smtp.log");
        let mut child = Command::new(PYTHON)
            .args(["-m", "aiosmtpd", "-n", "-l"])
            .arg(format!("127.0.0.1:{port}"))
            .args(["-c", "aiosmtpd.handlers.Mailbox"])
            .arg(&maildir)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("python3 with aiosmtpd (run scripts/test, which installs it)");
        crate::servers::wait_for_port(port, "aiosmtpd", &mut child, &log);
        SmtpReceiver {
            port,
            maildir,
            child,
        }
    }

    /// Every message received so far, whole (headers and body), oldest first.
    pub fn messages(&self) -> Vec<String> {
        let mut files: Vec<(std::time::SystemTime, PathBuf)> =
            std::fs::read_dir(self.maildir.join("new"))
                .map(|d| {
                    d.flatten()
                        .map(|e| (e.metadata().unwrap().modified().unwrap(), e.path()))
                        .collect()
                })
                .unwrap_or_default();
        files.sort();
        files
            .into_iter()
            .map(|(_, p)| std::fs::read_to_string(p).unwrap())
            .collect()
    }

    /// The subject lines received so far, oldest first.
    pub fn subjects(&self) -> Vec<String> {
        self.messages()
            .iter()
            .filter_map(|m| {
                m.lines()
                    .find_map(|l| l.strip_prefix("Subject: "))
                    .map(str::to_string)
            })
            .collect()
    }

    /// Waits up to `timeout` for `n` messages; returns the subjects.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<String> {
        let deadline = Instant::now() + timeout;
        loop {
            let subjects = self.subjects();
            if subjects.len() >= n || Instant::now() > deadline {
                return subjects;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for SmtpReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One request an [`HttpReceiver`] received.
#[derive(Debug, Clone, serde::Deserialize)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: std::collections::BTreeMap<String, String>,
    pub body: String,
}

impl Received {
    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
}

/// A running HTTP server that answers 200 to everything and records each request.
pub struct HttpReceiver {
    pub port: u16,
    log: PathBuf,
    child: Child,
}

const HTTP_RECEIVER: &str = r#"
import http.server, json, sys
log = open(sys.argv[2], "a")
class Receiver(http.server.BaseHTTPRequestHandler):
    def record(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n).decode("utf-8", "replace")
        headers = {k.lower(): v for k, v in self.headers.items()}
        log.write(json.dumps({"method": self.command, "path": self.path,
                              "headers": headers, "body": body}) + "\n")
        log.flush()
        self.send_response(200)
        self.send_header("Content-Length", "2")
        self.end_headers()
        self.wfile.write(b"ok")
    do_POST = do_GET = do_PUT = do_HEAD = record
    def log_message(self, *args):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Receiver).serve_forever()
"#;

impl HttpReceiver {
    pub fn start(dir: &Path) -> HttpReceiver {
        HttpReceiver::start_on(dir, free_port())
    }

    /// On `port`: a receiver that comes up where a channel already points.
    pub fn start_on(dir: &Path, port: u16) -> HttpReceiver {
        std::fs::create_dir_all(dir).unwrap();
        let log = dir.join(format!("http-{port}.jsonl"));
        let errors = dir.join(format!("http-{port}.log"));
        let mut child = Command::new(PYTHON)
            .args(["-c", HTTP_RECEIVER, &port.to_string()])
            .arg(&log)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&errors).unwrap())
            .spawn()
            .expect("python3");
        crate::servers::wait_for_port(port, "the HTTP receiver", &mut child, &errors);
        HttpReceiver { port, log, child }
    }

    /// `http://127.0.0.1:PORT/PATH`.
    pub fn url(&self, path: &str) -> String {
        format!(
            "http://127.0.0.1:{}/{}",
            self.port,
            path.trim_start_matches('/')
        )
    }

    /// Every request received so far, oldest first.
    pub fn received(&self) -> Vec<Received> {
        std::fs::read_to_string(&self.log)
            .unwrap_or_default()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Waits up to `timeout` for `n` requests; returns all received.
    pub fn wait_for(&self, n: usize, timeout: Duration) -> Vec<Received> {
        let deadline = Instant::now() + timeout;
        loop {
            let got = self.received();
            if got.len() >= n || Instant::now() > deadline {
                return got;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for HttpReceiver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
