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

/// How an [`SmtpReceiver`] protects its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpSecurity {
    Plain,
    /// STARTTLS, required before anything else.
    StartTls,
    /// TLS from the first byte (SMTPS).
    Tls,
}

const SMTP_RECEIVER: &str = r#"
import sys, ssl, time
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox
from aiosmtpd.smtp import AuthResult, LoginPassword
port, maildir, mode, cert, key, user, password = sys.argv[1:8]
context = None
if mode != "plain":
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
def check(server, session, envelope, mechanism, data):
    ok = isinstance(data, LoginPassword) and data.login.decode() == user and data.password.decode() == password
    return AuthResult(success=ok)
options = {}
if user:
    # Over SMTPS the connection is TLS from the start, which aiosmtpd does not count.
    options.update(authenticator=check, auth_required=True, auth_require_tls=mode == "starttls")
if mode == "starttls":
    options.update(tls_context=context, require_starttls=True)
controller = Controller(Mailbox(maildir), hostname="127.0.0.1", port=int(port),
                        ssl_context=context if mode == "tls" else None, server_kwargs=options)
controller.start()
while True:
    time.sleep(3600)
"#;

impl SmtpReceiver {
    /// A plain SMTP server that takes mail from anyone.
    pub fn start(dir: &Path) -> SmtpReceiver {
        SmtpReceiver::start_with(dir, SmtpSecurity::Plain, None)
    }

    /// With `security` (a certificate for 127.0.0.1 signed by a CA of its own,
    /// [`SmtpReceiver::ca_file`]), and a `login` it requires when given.
    pub fn start_with(
        dir: &Path,
        security: SmtpSecurity,
        login: Option<(&str, &str)>,
    ) -> SmtpReceiver {
        std::fs::create_dir_all(dir).unwrap();
        let maildir = dir.join("maildir");
        let port = free_port();
        let log = dir.join("smtp.log");
        let mode = match security {
            SmtpSecurity::Plain => "plain",
            SmtpSecurity::StartTls => "starttls",
            SmtpSecurity::Tls => "tls",
        };
        if security != SmtpSecurity::Plain {
            certificates(dir);
        }
        let (user, password) = login.unwrap_or(("", ""));
        let mut child = Command::new(PYTHON)
            .args(["-c", SMTP_RECEIVER, &port.to_string()])
            .arg(&maildir)
            .arg(mode)
            .arg(dir.join("cert.pem"))
            .arg(dir.join("key.pem"))
            .args([user, password])
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

    /// The certificate authority that signed a TLS receiver's certificate (PEM).
    pub fn ca_file(&self) -> PathBuf {
        self.maildir.with_file_name("ca.pem")
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

/// A certificate authority (`ca.pem`) and a certificate for 127.0.0.1 it signed
/// (`cert.pem`, `key.pem`) in `dir`, made with openssl.
fn certificates(dir: &Path) {
    let run = |args: &[&str]| {
        let out = Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()
            .expect("openssl (run scripts/test, which installs it)");
        assert!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &[
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
            "-days",
            "2",
            "-subj",
            "/CN=Studio test CA",
        ],
    ]
    .concat());
    run(&[
        &["req"][..],
        &ec,
        &[
            "-keyout",
            "key.pem",
            "-out",
            "cert.csr",
            "-subj",
            "/CN=127.0.0.1",
        ],
    ]
    .concat());
    std::fs::write(
        dir.join("san.ext"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\n",
    )
    .unwrap();
    run(&[
        "x509",
        "-req",
        "-in",
        "cert.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-out",
        "cert.pem",
        "-days",
        "2",
        "-extfile",
        "san.ext",
    ]);
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
