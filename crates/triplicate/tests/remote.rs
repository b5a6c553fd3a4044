//! S3-compatible destinations against a real Garage server on loopback: the
//! conformance suite every destination passes, on a single node and on a 3-zone
//! cluster with one node stopped.

//! Remote destinations against real servers on loopback: the conformance suite every
//! destination passes, on Garage (S3; one node, and a 3-zone cluster with one node
//! stopped), on OpenSSH's SFTP server and on a WebDAV server.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use triplicate::destination::conformance::{self, Harness};
use triplicate::destination::remote::RemoteDestination;
use triplicate::destination::{DestError, Marker, MediaKind, ReadDestination, WriteDestination};
use triplicate::relpath::RelPath;
use triplicate_testkit::garage::Garage;
use triplicate_testkit::servers::{Sshd, WebDav};

/// Fresh destinations on one server: a new prefix or folder for each.
struct Remote {
    /// The target for a sub-folder or prefix.
    target: Box<dyn Fn(&str) -> String + Send + Sync>,
    credentials: PathBuf,
    /// Keeps the prefixes of one run apart from another's.
    run: &'static str,
    next: AtomicUsize,
    last: std::sync::Mutex<String>,
}

impl Remote {
    fn new(
        run: &'static str,
        credentials: &Path,
        target: impl Fn(&str) -> String + Send + Sync + 'static,
    ) -> Self {
        Remote {
            target: Box::new(target),
            credentials: credentials.to_path_buf(),
            run,
            next: AtomicUsize::new(0),
            last: Default::default(),
        }
    }

    fn s3(garage: &Garage, run: &'static str, dir: &Path) -> Self {
        let credentials = dir.join(format!("{run}.credentials"));
        garage.credentials_file(&credentials);
        let g = (
            garage.bucket.clone(),
            garage.endpoint.clone(),
            garage.region.clone(),
        );
        Remote::new(run, &credentials, move |prefix| {
            format!("s3://{}/{prefix}?endpoint={}&region={}", g.0, g.1, g.2)
        })
    }

    fn connect(&self, target: &str) -> Result<RemoteDestination, DestError> {
        RemoteDestination::connect("remote", target, Some(&self.credentials), None)
    }
}

fn marker(id: &str) -> Marker {
    Marker {
        format: 1,
        id: id.into(),
        name: id.into(),
        created: "2026-11-22T00:00:00Z".into(),
        media: MediaKind::Cloud,
        site: "bank".into(),
        node: "test".into(),
        age_recipients: Vec::new(),
    }
}

impl Harness for Remote {
    fn fresh(&self) -> Arc<dyn WriteDestination> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let target = (self.target)(&format!("{}-{n}", self.run));
        let d = self.connect(&target).unwrap();
        d.initialise(&marker("conf")).unwrap();
        d.check_marker("conf").unwrap();
        *self.last.lock().unwrap() = target;
        Arc::new(d)
    }

    fn reopen_without_marker(
        &self,
        dest: &Arc<dyn WriteDestination>,
    ) -> Result<Arc<dyn WriteDestination>, DestError> {
        dest.remove(&RelPath::new(b".triplicate/destination.toml".to_vec()).unwrap())
            .unwrap();
        let target = self.last.lock().unwrap().clone();
        let d = self.connect(&target)?;
        d.check_marker("conf")?;
        Ok(Arc::new(d))
    }

    fn raw_names(&self) -> bool {
        false
    }
}

#[test]
fn garage_single_node_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let garage = Garage::single(dir.path());
    conformance::all(&Remote::s3(&garage, "single", dir.path()));
}

#[test]
fn a_three_zone_cluster_passes_with_one_node_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let mut garage = Garage::cluster(dir.path(), 3);
    conformance::all(&Remote::s3(&garage, "all-up", dir.path()));
    // Replication factor 3 across 3 zones: a write quorum of 2 survives one node down.
    garage.kill(2);
    conformance::all(&Remote::s3(&garage, "one-down", dir.path()));
}

#[test]
fn a_wrong_key_or_bucket_is_named_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let garage = Garage::single(dir.path());
    let wrong = dir.path().join("wrong");
    std::fs::write(
        &wrong,
        format!(
            "[default]\naws_access_key_id = GK0000000000000000000000\naws_secret_access_key = {}\n",
            "0".repeat(64)
        ),
    )
    .unwrap();
    let d = RemoteDestination::connect("offsite", &garage.target("x"), Some(&wrong), None).unwrap();
    let e = d.read_marker().unwrap_err().to_string();
    assert!(e.contains("'offsite'") && e.contains("credentials"), "{e}");
    assert!(
        !e.contains(&"0".repeat(64)),
        "the secret is never shown: {e}"
    );

    let good = dir.path().join("good");
    garage.credentials_file(&good);
    let target = garage
        .target("x")
        .replace("s3://photos/", "s3://no-such-bucket/");
    let d = RemoteDestination::connect("offsite", &target, Some(&good), None).unwrap();
    let e = d.read_marker().unwrap_err().to_string();
    assert!(
        e.contains("'offsite'") && e.contains("bucket does not exist"),
        "{e}"
    );
}

#[test]
fn a_bandwidth_limit_holds_uploads_to_it() {
    let dir = tempfile::tempdir().unwrap();
    let garage = Garage::single(dir.path());
    let credentials = dir.path().join("credentials");
    garage.credentials_file(&credentials);
    let rate = 8u64 << 20;
    let d = RemoteDestination::connect(
        "s3",
        &garage.target("throttled"),
        Some(&credentials),
        Some(rate),
    )
    .unwrap();
    d.initialise(&marker("bw")).unwrap();
    let body = triplicate_testkit::noise("throttled", 48 << 20);
    let started = std::time::Instant::now();
    let key = RelPath::new(b"big.bin".to_vec()).unwrap();
    d.put(&key, &mut &body[..], body.len() as u64).unwrap();
    let took = started.elapsed().as_secs_f64();
    // One part (8 MiB) may go at once; the other 40 MiB wait for the limit: 5 s.
    assert!(took >= 4.0, "48 MiB at 8 MiB/s took only {took:.1} s");
    assert_eq!(d.stat(&key).unwrap().unwrap().size, body.len() as u64);
}

#[test]
fn an_sftp_server_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let sshd = Sshd::start(dir.path());
    let (user_port, data) = (sshd.target(""), sshd.data.clone());
    let h = Remote::new("sftp", &sshd.key, move |sub| {
        user_port.replace("/?known_hosts", &format!("/{sub}?known_hosts"))
    });
    conformance::all(&h);
    // Interrupted puts leave temporary names on the server, which a sweep removes.
    let d = h.fresh();
    let last = h.last.lock().unwrap().clone();
    let folder = data.join(last.rsplit('/').next().unwrap().split('?').next().unwrap());
    std::fs::create_dir_all(folder.join("2026")).unwrap();
    std::fs::write(
        folder.join("2026/.triplicate-partial-0123456789ab"),
        b"half",
    )
    .unwrap();
    assert!(
        d.list(None).unwrap().is_empty(),
        "partials are never listed"
    );
    let year = RelPath::new(b"2026".to_vec()).unwrap();
    assert_eq!(d.sweep_partials(Some(&year)).unwrap(), 1);
    assert!(
        !folder
            .join("2026/.triplicate-partial-0123456789ab")
            .exists()
    );
}

#[test]
fn an_unknown_sftp_host_is_refused_unless_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let sshd = Sshd::start(dir.path());
    // "localhost" at this port was never accepted: strict checking refuses it.
    let target = sshd
        .target("strict")
        .replace("127.0.0.1", "localhost")
        .replace("?known_hosts=accept-new", "");
    let d = RemoteDestination::connect("nas", &target, Some(&sshd.key), None).unwrap();
    let e = d.read_marker().unwrap_err().to_string();
    assert!(e.contains("'nas'") && e.contains("host key"), "{e}");
}

#[test]
fn a_webdav_server_passes_the_conformance_suite() {
    let dir = tempfile::tempdir().unwrap();
    let dav = WebDav::start(dir.path());
    let login = dir.path().join("login");
    dav.login_file(&login);
    let port = dav.port;
    conformance::all(&Remote::new("webdav", &login, move |sub| {
        format!("webdav://127.0.0.1:{port}/{sub}")
    }));
}

#[test]
fn a_wrong_webdav_password_is_named_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let dav = WebDav::start(dir.path());
    let login = dir.path().join("login");
    std::fs::write(&login, "username = photographer\npassword = not-it\n").unwrap();
    let d = RemoteDestination::connect("cloud", &dav.target("x"), Some(&login), None).unwrap();
    let e = d.read_marker().unwrap_err().to_string();
    assert!(e.contains("'cloud'") && e.contains("credentials"), "{e}");
    assert!(!e.contains("not-it"), "the password is never shown: {e}");
}

/// Gives `good` bytes, then fails: an original that became unreadable mid-upload.
struct FailsAfter {
    good: usize,
}

impl std::io::Read for FailsAfter {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.good == 0 {
            return Err(std::io::Error::other("the card was pulled"));
        }
        let n = buf.len().min(self.good);
        buf[..n].fill(7);
        self.good -= n;
        Ok(n)
    }
}

#[test]
fn a_failed_multipart_upload_is_aborted_not_left_behind() {
    let dir = tempfile::tempdir().unwrap();
    let garage = Garage::single(dir.path());
    let h = Remote::s3(&garage, "abort", dir.path());
    let d = h.fresh();
    let key = RelPath::new(b"2026/big.CR2".to_vec()).unwrap();
    // Three 8 MiB parts reach the store before the source fails.
    let result = d.put(&key, &mut FailsAfter { good: 26 << 20 }, 64 << 20);
    assert!(
        matches!(result, Err(DestError::Source { .. })),
        "{result:?}"
    );
    assert_eq!(d.stat(&key).unwrap(), None);
    // Garage's counters settle shortly after a change: wait long enough to see one.
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(
        garage.unfinished_uploads(),
        0,
        "the upload's parts were left behind"
    );
}
