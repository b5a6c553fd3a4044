//! GRID through real `triplicate run` processes on loopback ports: capture nodes A and
//! B send their photos to central node C, which backs them up; C restarted in the
//! middle of a transfer; B down while A changes; and what a peer may not do.

mod common;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use common::{Killed, World, kit};
use serde_json::Value;

/// A node: its world, its token, its fixed address, and its process while it runs.
struct Node {
    name: &'static str,
    w: World,
    token: String,
    listen: String,
    /// Over HTTPS (listening beyond loopback): its certificate's fingerprint.
    fingerprint: Option<String>,
    process: Option<Killed>,
}

/// A free loopback port.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

impl Node {
    /// A node with a library of its own; a central node also gets a GRID library
    /// ("grid") and a destination ("nas") that backs up what it gathers.
    fn new(name: &'static str, central: bool, extra: &str) -> Node {
        let mut n = Node::make(name, central, extra);
        n.fingerprint = None;
        n
    }

    /// Served over HTTPS on every address (reached through loopback), as a node in
    /// another house is.
    fn over_tls(name: &'static str, central: bool) -> Node {
        let mut n = Node::make(name, central, "");
        n.listen = format!("0.0.0.0:{}", free_port());
        n
    }

    fn make(name: &'static str, central: bool, extra: &str) -> Node {
        let w = World::new();
        w.ok(&[
            "init",
            "--library",
            w.library().to_str().unwrap(),
            "--node",
            name,
        ]);
        let out = w.ok(&["grid", "init"]);
        let token = out.lines().nth(1).unwrap().trim().to_string();
        assert_eq!(token.len(), 64, "{out}");
        let fingerprint = out.lines().nth(3).unwrap().trim().to_string();
        assert_eq!(fingerprint.len(), 64, "{out}");
        let mut grid = format!("interval = 0.3\n{extra}");
        if central {
            std::fs::create_dir_all(w.path("grid")).unwrap();
            w.ok(&["library", "add", w.path("grid").to_str().unwrap()]);
            grid.push_str("library = \"grid\"\n");
            w.add_dest("nas", &w.path("nas"), "nas", "onsite");
        }
        let config = w.home().join("config.toml");
        let text = std::fs::read_to_string(&config).unwrap();
        assert_eq!(text.matches("[grid]\n").count(), 1, "{text}");
        std::fs::write(
            &config,
            text.replace("[grid]\n", &format!("[grid]\n{grid}")),
        )
        .unwrap();
        Node {
            name,
            w,
            token,
            listen: format!("127.0.0.1:{}", free_port()),
            fingerprint: Some(fingerprint),
            process: None,
        }
    }

    fn url(&self) -> String {
        match self.fingerprint {
            Some(_) => format!("https://{}", self.listen.replace("0.0.0.0", "127.0.0.1")),
            None => format!("http://{}", self.listen),
        }
    }

    fn start(&mut self) {
        let (process, _) = common::serve_on(&self.w, &self.listen, self.name);
        self.process = Some(process);
    }

    /// Stops the process at once (SIGKILL), as a crash or a pulled plug would.
    fn kill(&mut self) {
        self.process = None;
    }

    fn add_peer(&self, other: &Node, sync_photos: bool) {
        let url = other.url();
        let mut args = vec!["grid", "add-peer", &url, "--token", &other.token];
        if let Some(f) = &other.fingerprint {
            args.extend(["--fingerprint", f]);
        }
        if sync_photos {
            args.push("--sync-photos");
        }
        self.w.ok(&args);
    }

    fn grid_status(&self) -> Value {
        serde_json::from_str(&self.w.ok(&["grid", "status", "--json"])).unwrap()
    }

    /// This node's line about node `name` in its GRID status.
    fn node_line(&self, name: &str) -> Option<Value> {
        self.grid_status()["nodes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|n| n["name"] == name)
            .cloned()
    }
}

/// Waits until `done` holds, failing after `secs` with `what`.
fn wait_for(secs: u64, what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The photos under `root` (path → BLAKE3), without Triplicate's own folders.
fn photos(root: &Path) -> std::collections::BTreeMap<PathBuf, String> {
    if !root.exists() {
        return Default::default();
    }
    kit::tree_hashes(root)
        .unwrap()
        .into_iter()
        .filter(|(p, _)| !p.components().any(|c| c.as_os_str() == ".triplicate"))
        .collect()
}

fn verified_at(node: &Node, dest: &str) -> u64 {
    let status = node.w.status();
    common::dest(&status, dest)["verified"]
        .as_u64()
        .unwrap_or(0)
}

#[test]
fn capture_nodes_gather_on_the_central_node_which_backs_them_up() {
    let mut a = Node::new("a", false, "");
    let mut b = Node::new("b", false, "");
    let mut c = Node::new("c", true, "");
    a.w.card(
        "shoot-a",
        &kit::CardSpec {
            seed: "a".into(),
            pairs: 3,
            ..Default::default()
        },
    );
    b.w.card(
        "shoot-b",
        &kit::CardSpec {
            seed: "b".into(),
            pairs: 3,
            ..Default::default()
        },
    );
    for n in [&mut a, &mut b, &mut c] {
        n.start();
    }
    // A full mesh for the information; A and B send their photos to C.
    a.add_peer(&c, true);
    a.add_peer(&b, false);
    b.add_peer(&c, true);
    b.add_peer(&a, false);
    c.add_peer(&a, false);
    c.add_peer(&b, false);

    // Tokens are kept where only their owner can read them, never in config.toml.
    for secret in ["grid.token", "grid-peers/c.token", "grid-peers/b.token"] {
        use std::os::unix::fs::PermissionsExt;
        let path = a.w.home().join(secret);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "{secret} is private");
    }
    let config = std::fs::read_to_string(a.w.home().join("config.toml")).unwrap();
    assert!(
        !config.contains(&c.token) && !config.contains(&a.token),
        "{config}"
    );
    let (a_photos, b_photos) = (photos(&a.w.library()), photos(&b.w.library()));
    let total = (a_photos.len() + b_photos.len()) as u64;
    // C learns of every photo, then holds them all, byte for byte, under {node}/{library}/.
    wait_for(60, "C to learn of A's and B's photos", || {
        c.node_line("a")
            .is_some_and(|n| n["photos"] == a_photos.len())
            && c.node_line("b")
                .is_some_and(|n| n["photos"] == b_photos.len())
    });
    wait_for(60, "C to hold A's and B's photos", || {
        photos(&c.w.path("grid/a/library")) == a_photos
            && photos(&c.w.path("grid/b/library")) == b_photos
    });
    // C's own destination backs up what it gathered, verified.
    wait_for(60, "C's destination to back up the aggregate", || {
        verified_at(&c, "nas") == total
    });
    // A sees, through C's feed, that none of its photos is missing from C.
    wait_for(30, "A to see its photos on C", || {
        a.node_line("a")
            .is_some_and(|n| n["not_on_central"] == 0 && n["photos"] == a_photos.len())
    });
    let status = a.grid_status();
    assert_eq!(status["peers"].as_array().unwrap().len(), 2);
    assert!(status["peers"][0]["last_contact"].is_i64(), "{status:#}");
    // GRID-wide: each photo is on A (ssd), on C (ssd) and on C's NAS (nas): 3 copies,
    // 2 media, none offsite: at risk under 3-2-1.
    assert_eq!(status["coverage"]["photos"], total);
    assert_eq!(status["coverage"]["at_risk"], total);

    // B goes down; A shoots more; B catches up when it comes back.
    b.kill();
    a.w.card(
        "shoot-a2",
        &kit::CardSpec {
            seed: "a2".into(),
            pairs: 2,
            ..Default::default()
        },
    );
    let a_photos = photos(&a.w.library());
    wait_for(60, "C to hold A's new photos while B is down", || {
        photos(&c.w.path("grid/a/library")) == a_photos
    });
    let down = b.node_line("a").unwrap();
    assert!(down["photos"].as_u64().unwrap() < a_photos.len() as u64);
    b.start();
    wait_for(60, "B to converge after coming back", || {
        b.node_line("a")
            .is_some_and(|n| n["photos"] == a_photos.len() && n["not_on_central"] == 0)
    });
    // Nothing was sent twice: C holds each photo once.
    let on_c = photos(&c.w.path("grid"));
    assert_eq!(on_c.len(), a_photos.len() + b_photos.len(), "{on_c:#?}");
}

#[test]
fn a_transfer_interrupted_by_a_restart_of_the_receiver_completes_once() {
    // 20 MB/s: three 24 MiB photos take about 4 s, time enough to stop C in between.
    let mut a = Node::new("a", false, "max_send_rate = \"20MB/s\"\n");
    let mut c = Node::new("c", true, "");
    for i in 0..3 {
        let dir = a.w.library().join("big");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            dir.join(format!("PANO_{i}.TIF")),
            kit::noise(&format!("pano{i}"), 24 << 20),
        )
        .unwrap();
    }
    a.start();
    c.start();
    a.add_peer(&c, true);
    c.add_peer(&a, false);
    let incoming = c.w.path("grid/.triplicate/grid-incoming");
    wait_for(60, "the first pieces to reach C", || {
        kit::files_under(&incoming)
            .iter()
            .any(|p| std::fs::metadata(p).is_ok_and(|m| m.len() > 0))
    });
    c.kill();
    let partial: u64 = kit::files_under(&incoming)
        .iter()
        .map(|p| std::fs::metadata(p).unwrap().len())
        .sum();
    assert!(
        partial > 0 && partial < 3 * (24 << 20),
        "C stopped mid-transfer ({partial} bytes)"
    );
    std::thread::sleep(Duration::from_secs(1));
    c.start();
    let a_photos = photos(&a.w.library());
    wait_for(90, "the transfer to complete after C's restart", || {
        photos(&c.w.path("grid/a/library")) == a_photos
    });
    wait_for(30, "C's destination to back them up", || {
        verified_at(&c, "nas") == 3
    });
    assert!(
        kit::files_under(&incoming).is_empty(),
        "no partial upload is left"
    );
    assert_eq!(photos(&c.w.path("grid")).len(), 3, "each photo once");
    let catalog = c.w.ok(&["status", "--json"]);
    let status: Value = serde_json::from_str(&catalog).unwrap();
    assert_eq!(status["coverage"]["photos"], 3, "{status:#}");
}

/// A GRID request to `node`: (status, response headers, body).
fn grid_request(
    node: &Node,
    method: &str,
    path: &str,
    token: Option<&str>,
    extra: &[&str],
    body: &[u8],
) -> (u16, String, String) {
    let auth = token.map(|t| format!("Authorization: Bearer {t}"));
    let mut headers: Vec<&str> = auth.iter().map(String::as_str).collect();
    headers.extend_from_slice(extra);
    common::http_with(&node.url(), method, path, &headers, body)
}

/// A whole photo in one piece.
fn put_photo(node: &Node, hash: &str, name: &str, from: &str, body: &[u8]) -> (u16, String) {
    let range = format!("Content-Range: bytes 0-{}/{}", body.len() - 1, body.len());
    let name = format!("Triplicate-Name: {name}");
    let from = format!("Triplicate-Node: {from}");
    let (status, _, answer) = grid_request(
        node,
        "PUT",
        &format!("/api/v1/grid/photos/{hash}"),
        Some(&node.token),
        &[&range, &name, &from],
        body,
    );
    (status, answer)
}

#[test]
fn peers_need_the_token_and_can_add_but_never_remove_or_overwrite() {
    let mut c = Node::new("c", true, "");
    c.start();
    // No token, a wrong token: 401, logged. The right one: 200, with the version.
    for token in [None, Some("wrong-token-wrong-token-wrong-token-wrong")] {
        let (status, _, _) = grid_request(&c, "GET", "/api/v1/grid/hello", token, &[], b"");
        assert_eq!(status, 401, "{token:?}");
        let (status, _, _) =
            grid_request(&c, "GET", "/api/v1/grid/changes?since=0", token, &[], b"");
        assert_eq!(status, 401);
    }
    // The page's token is not the GRID token, and the GRID token does not open the page's
    // actions (which want none here, on loopback, but never this one in its place).
    let (status, head, body) =
        grid_request(&c, "GET", "/api/v1/grid/hello", Some(&c.token), &[], b"");
    assert_eq!(status, 200, "{body}");
    assert!(
        head.to_ascii_lowercase().contains("triplicate-grid: 1"),
        "{head}"
    );
    let hello: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        (hello["protocol"].as_u64(), hello["name"].as_str()),
        (Some(1), Some("c"))
    );

    let good = b"a photo from a peer".to_vec();
    let hash = blake3::hash(&good).to_hex().to_string();
    // Names that climb out, are absolute, or hold control characters: 400, nothing written.
    for name in [
        "..%2F..%2Fetc%2Fpasswd",
        "%2Fetc%2Fpasswd",
        "lib%2F..%2F..%2Fx.jpg",
        "lib%2Fa%0Ab.jpg",
    ] {
        let (status, answer) = put_photo(&c, &hash, name, "a", &good);
        assert_eq!(status, 400, "{name}: {answer}");
    }
    let (status, answer) = put_photo(&c, &hash, "lib%2Fa.jpg", "..", &good);
    assert_eq!(status, 400, "a node name of '..': {answer}");
    assert!(photos(&c.w.path("grid")).is_empty());
    assert!(
        !c.w.path("etc").exists() && !c.w.dir.path().parent().unwrap().join("etc/passwd").exists()
    );

    // Bytes that do not match their hash: 422, discarded.
    let (status, _) = put_photo(&c, &hash, "lib%2Fa.jpg", "a", b"something else entirely");
    assert_eq!(status, 422);
    // A good photo is stored under {node}/…; sent again, it is recognised and not rewritten.
    let (status, answer) = put_photo(&c, &hash, "lib%2Fa.jpg", "a", &good);
    assert_eq!(status, 201, "{answer}");
    let stored = c.w.path("grid/a/lib/a.jpg");
    assert_eq!(std::fs::read(&stored).unwrap(), good);
    let (status, answer) = put_photo(&c, &hash, "lib%2Fa.jpg", "a", &good);
    assert_eq!((status, answer.contains("held")), (200, true), "{answer}");
    // Other content under the same name does not replace it: it gets a name of its own.
    let other = b"another photo, same name".to_vec();
    let other_hash = blake3::hash(&other).to_hex().to_string();
    let (status, answer) = put_photo(&c, &other_hash, "lib%2Fa.jpg", "a", &other);
    assert_eq!(status, 201, "{answer}");
    assert_eq!(
        std::fs::read(&stored).unwrap(),
        good,
        "the first photo is untouched"
    );
    assert_eq!(photos(&c.w.path("grid")).len(), 2);
    // There is no way to delete or replace: DELETE and POST are not allowed.
    for method in ["DELETE", "POST", "PATCH"] {
        let (status, _, _) = grid_request(
            &c,
            method,
            &format!("/api/v1/grid/photos/{hash}"),
            Some(&c.token),
            &[],
            b"",
        );
        assert_eq!(status, 405, "{method}");
    }
    assert_eq!(std::fs::read(&stored).unwrap(), good);
    // An upload that does not continue where the last one stopped: 409 with the offset.
    let part = b"0123456789";
    let part_hash = blake3::hash(part).to_hex().to_string();
    let piece = |range: &str, bytes: &[u8]| {
        let range = format!("Content-Range: {range}");
        grid_request(
            &c,
            "PUT",
            &format!("/api/v1/grid/photos/{part_hash}"),
            Some(&c.token),
            &[&range, "Triplicate-Name: lib%2Fp.jpg", "Triplicate-Node: a"],
            bytes,
        )
    };
    assert_eq!(piece("bytes 0-3/10", &part[..4]).0, 202);
    let (status, _, body) = piece("bytes 6-9/10", &part[6..]);
    assert_eq!(status, 409);
    assert_eq!(serde_json::from_str::<Value>(&body).unwrap()["offset"], 4);
    let (status, _, body) = grid_request(
        &c,
        "GET",
        &format!("/api/v1/grid/photos/{part_hash}"),
        Some(&c.token),
        &[],
        b"",
    );
    assert_eq!(
        (
            status,
            serde_json::from_str::<Value>(&body).unwrap()["offset"].as_u64()
        ),
        (200, Some(4))
    );
    assert_eq!(piece("bytes 4-9/10", &part[4..]).0, 201);
    assert_eq!(std::fs::read(c.w.path("grid/a/lib/p.jpg")).unwrap(), part);
}

/// A man in the middle on loopback: a TLS proxy (socat) with a certificate of its own,
/// in front of `target`; returns its process and its https:// address.
fn tls_proxy(dir: &Path, target: &Node) -> (Killed, String) {
    let (cert, key) = (dir.join("mitm.pem"), dir.join("mitm.key"));
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args(["-nodes", "-days", "2", "-subj", "/CN=localhost", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .output()
        .expect("openssl runs (scripts/test installs it)");
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let port = free_port();
    let upstream = target.url().trim_start_matches("https://").to_string();
    let proxy = std::process::Command::new("socat")
        .arg(format!(
            "OPENSSL-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork,verify=0,cert={},key={}",
            cert.display(),
            key.display()
        ))
        .arg(format!("OPENSSL:{upstream},verify=0"))
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("socat runs (scripts/test installs it)");
    let url = format!("https://127.0.0.1:{port}");
    wait_for(10, "the proxy to listen", || {
        std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
    });
    (Killed(proxy), url)
}

#[test]
fn nodes_over_tls_pin_each_other_and_refuse_any_other_certificate() {
    let mut a = Node::over_tls("a", false);
    let mut b = Node::over_tls("b", false);
    let mut c = Node::over_tls("c", true);
    for (n, seed) in [(&a, "a"), (&b, "b")] {
        n.w.card(
            "shoot",
            &kit::CardSpec {
                seed: seed.into(),
                pairs: 2,
                ..Default::default()
            },
        );
    }
    for n in [&mut a, &mut b, &mut c] {
        n.start();
    }
    // An https:// peer without its fingerprint is refused before anything is sent.
    let out =
        a.w.run(&["grid", "add-peer", &c.url(), "--token", &c.token]);
    assert_eq!(out.status.code(), Some(2), "bad usage");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("give the fingerprint"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    a.add_peer(&c, true);
    a.add_peer(&b, false);
    b.add_peer(&c, true);
    b.add_peer(&a, false);
    c.add_peer(&a, false);
    c.add_peer(&b, false);
    let config = std::fs::read_to_string(a.w.home().join("config.toml")).unwrap();
    assert!(
        config.contains(c.fingerprint.as_deref().unwrap()),
        "the fingerprint is kept: {config}"
    );
    // Records and photos go through: C learns of every photo and holds them.
    let (a_photos, b_photos) = (photos(&a.w.library()), photos(&b.w.library()));
    wait_for(60, "C to learn of A's and B's photos over TLS", || {
        c.node_line("a")
            .is_some_and(|n| n["photos"] == a_photos.len())
            && c.node_line("b")
                .is_some_and(|n| n["photos"] == b_photos.len())
    });
    wait_for(60, "C to hold A's and B's photos over TLS", || {
        photos(&c.w.path("grid/a/library")) == a_photos
            && photos(&c.w.path("grid/b/library")) == b_photos
    });

    // A node that presents another certificate than the one pinned: refused, saying so.
    let mut d = Node::over_tls("d", false);
    d.start();
    let out = a.w.run(&[
        "grid",
        "add-peer",
        &d.url(),
        "--token",
        &d.token,
        "--fingerprint",
        c.fingerprint.as_deref().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains(&format!(
            "fingerprint is {}, not the {}",
            d.fingerprint.as_deref().unwrap(),
            c.fingerprint.as_deref().unwrap()
        )),
        "{err}"
    );

    // A man in the middle with a certificate of its own, in front of C: refused too,
    // and C's token never reaches it in the clear.
    let (_proxy, proxy_url) = tls_proxy(a.w.dir.path(), &c);
    let out = b.w.run(&["grid", "remove-peer", "c"]);
    assert!(out.status.success());
    let out = b.w.run(&[
        "grid",
        "add-peer",
        &proxy_url,
        "--token",
        &c.token,
        "--fingerprint",
        c.fingerprint.as_deref().unwrap(),
    ]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(
        err.contains("not the") && err.contains("someone is in between"),
        "{err}"
    );
    // The real C, pinned, is still fine.
    b.add_peer(&c, true);
}
