//! S3-compatible destinations against a real Garage server on loopback: the
//! conformance suite every destination passes, on a single node and on a 3-zone
//! cluster with one node stopped.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use triplicate::destination::conformance::{self, Harness};
use triplicate::destination::remote::{Credentials, ObjectDestination};
use triplicate::destination::{DestError, Marker, MediaKind, ReadDestination, WriteDestination};
use triplicate::relpath::RelPath;
use triplicate_testkit::garage::Garage;

struct S3<'a> {
    garage: &'a Garage,
    /// Keeps the prefixes of one run apart from another's.
    run: &'static str,
    next: AtomicUsize,
    last: std::sync::Mutex<String>,
}

impl<'a> S3<'a> {
    fn new(garage: &'a Garage, run: &'static str) -> Self {
        S3 {
            garage,
            run,
            next: AtomicUsize::new(0),
            last: Default::default(),
        }
    }

    fn credentials(&self) -> Credentials {
        Credentials {
            access_key_id: self.garage.key_id.clone(),
            secret_access_key: self.garage.secret.clone(),
        }
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
    }
}

impl Harness for S3<'_> {
    fn fresh(&self) -> Arc<dyn WriteDestination> {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let target = self.garage.target(&format!("{}-{n}", self.run));
        let d = ObjectDestination::connect("s3", &target, Some(&self.credentials()), None).unwrap();
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
        let d = ObjectDestination::connect("s3", &target, Some(&self.credentials()), None)?;
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
    conformance::all(&S3::new(&garage, "single"));
}

#[test]
fn a_three_zone_cluster_passes_with_one_node_stopped() {
    let dir = tempfile::tempdir().unwrap();
    let mut garage = Garage::cluster(dir.path(), 3);
    conformance::all(&S3::new(&garage, "all-up"));
    // Replication factor 3 across 3 zones: a write quorum of 2 survives one node down.
    garage.kill(2);
    conformance::all(&S3::new(&garage, "one-down"));
}

#[test]
fn a_wrong_key_or_bucket_is_named_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let garage = Garage::single(dir.path());
    let wrong = Credentials {
        access_key_id: "GK0000000000000000000000".into(),
        secret_access_key: "0".repeat(64),
    };
    let d = ObjectDestination::connect("offsite", &garage.target("x"), Some(&wrong), None).unwrap();
    let e = d.read_marker().unwrap_err().to_string();
    assert!(e.contains("'offsite'") && e.contains("credentials"), "{e}");
    assert!(
        !e.contains(&"0".repeat(64)),
        "the secret is never shown: {e}"
    );

    let good = Credentials {
        access_key_id: garage.key_id.clone(),
        secret_access_key: garage.secret.clone(),
    };
    let target = garage
        .target("x")
        .replace("s3://photos/", "s3://no-such-bucket/");
    let d = ObjectDestination::connect("offsite", &target, Some(&good), None).unwrap();
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
    let h = S3::new(&garage, "bandwidth");
    let rate = 8u64 << 20;
    let d = ObjectDestination::connect(
        "s3",
        &garage.target("throttled"),
        Some(&h.credentials()),
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
