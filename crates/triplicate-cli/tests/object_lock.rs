//! S3 Object Lock through the real binary, against a real S3 server that implements
//! it: moto's server (`moto_server`, from PyPI; `scripts/test` installs it), with its
//! boto3 to look at what was stored. Garage, the other S3 server of the tests, has no
//! Object Lock.

mod common;

use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use common::{World, kit};

/// A moto S3 server on a free loopback port, stopped when dropped.
struct Moto {
    child: Child,
    endpoint: String,
}

impl Moto {
    fn start() -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("moto_server runs (pip install 'moto[server]'; scripts/test does)");
        let deadline = Instant::now() + Duration::from_secs(30);
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "moto_server did not start");
            std::thread::sleep(Duration::from_millis(100));
        }
        Moto {
            child,
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }

    /// Runs Python with a boto3 client `s3` on this server; returns what it prints.
    fn python(&self, script: &str) -> String {
        let program = format!(
            "import boto3, datetime\n\
             s3 = boto3.client('s3', endpoint_url='{}', aws_access_key_id='moto', \
             aws_secret_access_key='moto', region_name='us-east-1')\n{script}",
            self.endpoint
        );
        let out = Command::new("python3")
            .arg("-c")
            .arg(program)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "python failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    }

    fn target(&self, bucket: &str) -> String {
        format!(
            "s3://{bucket}/studio?endpoint={}&region=us-east-1",
            self.endpoint
        )
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A credentials file for moto (which takes any keys).
fn credentials(w: &World) -> std::path::PathBuf {
    let creds = w.path("s3-credentials");
    std::fs::write(
        &creds,
        "[default]\naws_access_key_id = moto\naws_secret_access_key = moto\n",
    )
    .unwrap();
    creds
}

fn world(moto: &Moto, bucket: &str, lock: &[&str]) -> World {
    let w = World::new();
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    let creds = credentials(&w);
    let target = moto.target(bucket);
    let mut args = vec![
        "dest",
        "add",
        "vault",
        &target,
        "--media",
        "cloud",
        "--site",
        "bank",
        "--credentials-file",
        creds.to_str().unwrap(),
    ];
    args.extend_from_slice(lock);
    w.ok(&args);
    w
}

#[test]
fn every_object_on_a_locked_bucket_gets_its_retention_and_cannot_be_deleted() {
    let moto = Moto::start();
    moto.python("s3.create_bucket(Bucket='locked', ObjectLockEnabledForBucket=True)");
    let w = world(
        &moto,
        "locked",
        &["--object-lock", "2d", "--object-lock-mode", "compliance"],
    );
    let files = w.card("card1", &kit::CardSpec::default());
    w.backed_up(&[]);

    // Every photo stored there is under a compliance retention of about two days.
    let listed = moto.python(
        "now = datetime.datetime.now(datetime.timezone.utc)\n\
         for o in s3.list_objects_v2(Bucket='locked', Prefix='studio/20')['Contents']:\n\
         \x20   h = s3.head_object(Bucket='locked', Key=o['Key'])\n\
         \x20   days = (h['ObjectLockRetainUntilDate'] - now).total_seconds() / 86400\n\
         \x20   print(o['Key'], h['ObjectLockMode'], round(days, 1))",
    );
    let lines: Vec<&str> = listed.lines().collect();
    assert_eq!(lines.len(), files.len(), "{listed}");
    for line in &lines {
        assert!(line.ends_with("COMPLIANCE 2.0"), "{line}");
    }
    // The store itself refuses to delete one.
    let refused = moto.python(
        "key = s3.list_objects_v2(Bucket='locked', Prefix='studio/20')['Contents'][0]['Key']\n\
         v = s3.head_object(Bucket='locked', Key=key)['VersionId']\n\
         try:\n\
         \x20   s3.delete_object(Bucket='locked', Key=key, VersionId=v)\n\
         \x20   print('deleted')\n\
         except Exception as e:\n\
         \x20   print('refused', e)",
    );
    assert!(refused.starts_with("refused"), "{refused}");
    let status = w.status();
    assert_eq!(common::dest(&status, "vault")["immutable"], true);
    assert_eq!(common::dest(&status, "usb")["immutable"], false);
}

#[test]
fn a_bucket_without_object_lock_is_named_as_the_problem() {
    let moto = Moto::start();
    moto.python("s3.create_bucket(Bucket='plain')");
    let w = World::new();
    w.init();
    // The marker is stored (and refused its retention) when the destination is added.
    let creds = credentials(&w);
    let out = w.run(&[
        "dest",
        "add",
        "vault",
        &moto.target("plain"),
        "--media",
        "cloud",
        "--site",
        "bank",
        "--credentials-file",
        creds.to_str().unwrap(),
        "--object-lock",
        "30d",
    ]);
    assert_ne!(out.status.code(), Some(0));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("Object Lock enabled on the bucket"), "{err}");
    // And a lock on anything but S3 is a configuration error.
    let out = w.run(&[
        "dest",
        "add",
        "usb",
        w.path("usb").to_str().unwrap(),
        "--media",
        "hdd",
        "--site",
        "onsite",
        "--object-lock",
        "30d",
    ]);
    assert_eq!(out.status.code(), Some(2));
}
