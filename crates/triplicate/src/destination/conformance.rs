//! The destination conformance suite: what every kind of destination must do.
//!
//! Each check takes a [`Harness`] that makes fresh destinations of one kind; the local
//! destination runs them in its tests, and object stores, SFTP, WebDAV and peer nodes
//! run the very same checks against real servers. A check panics with a message that
//! names the broken promise. The promises are those of [`WriteDestination`]: byte-exact
//! round trips, atomic puts that never replace, refusal of data that is shorter or
//! longer than announced, complete listings, names kept byte for byte, and the
//! not-mounted rule.

use std::io::{self, Read};
use std::sync::Arc;
use std::sync::mpsc;

use super::{DestError, ObjectMeta, WriteDestination};
use crate::relpath::RelPath;

/// Makes destinations of one kind for the checks.
pub trait Harness: Sync {
    /// A new, empty destination, initialised (marker written) and opened for writing.
    fn fresh(&self) -> Arc<dyn WriteDestination>;
    /// Removes the marker of a destination made by `fresh`, then opens it again: this
    /// must fail with [`DestError::NotMounted`].
    fn reopen_without_marker(
        &self,
        dest: &Arc<dyn WriteDestination>,
    ) -> Result<Arc<dyn WriteDestination>, DestError>;
    /// Whether names that are not UTF-8 can be stored (true for POSIX filesystems).
    fn raw_names(&self) -> bool {
        true
    }
}

fn key(s: &str) -> RelPath {
    RelPath::new(s.as_bytes().to_vec()).expect("clean test key")
}

fn read_all(dest: &dyn WriteDestination, k: &RelPath) -> Vec<u8> {
    let mut out = Vec::new();
    dest.read(k)
        .unwrap_or_else(|e| panic!("read {k}: {e}"))
        .read_to_end(&mut out)
        .unwrap_or_else(|e| panic!("read {k}: {e}"));
    out
}

/// Every check in turn.
pub fn all(h: &dyn Harness) {
    put_get_stat_list(h);
    put_is_atomic(h);
    a_reader_that_lies_about_its_length_fails_the_put(h);
    lists_many_entries(h);
    keeps_names_byte_exact(h);
    refuses_to_overwrite(h);
    not_mounted_without_marker(h);
}

/// Put, read back, stat and list, for empty, small and multi-buffer objects.
pub fn put_get_stat_list(h: &dyn Harness) {
    let d = h.fresh();
    let bodies: Vec<(RelPath, Vec<u8>)> = [0usize, 1, 4096, 3 << 20]
        .iter()
        .map(|&n| {
            (
                key(&format!("a/b/{n}.bin")),
                (0..n).map(|i| (i * 31 % 251) as u8).collect(),
            )
        })
        .collect();
    for (k, body) in &bodies {
        d.put(k, &mut body.as_slice(), body.len() as u64)
            .unwrap_or_else(|e| panic!("put {k}: {e}"));
        assert_eq!(&read_all(d.as_ref(), k), body, "read back {k}");
        let meta = d
            .stat(k)
            .unwrap()
            .unwrap_or_else(|| panic!("stat {k} after put"));
        assert_eq!(meta.size, body.len() as u64, "stat size of {k}");
    }
    assert_eq!(
        d.stat(&key("a/b/none.bin")).unwrap(),
        None,
        "stat of an absent key"
    );
    assert!(
        matches!(
            d.read(&key("a/b/none.bin")),
            Err(DestError::NotFound { .. })
        ),
        "read of an absent key"
    );
    let mut listed = d.list(Some(&key("a"))).unwrap();
    listed.sort_by(|x, y| x.key.cmp(&y.key));
    let mut want: Vec<ObjectMeta> = bodies
        .iter()
        .map(|(k, b)| ObjectMeta {
            key: k.clone(),
            size: b.len() as u64,
        })
        .collect();
    want.sort_by(|x, y| x.key.cmp(&y.key));
    assert_eq!(listed, want, "list under a prefix");
}

/// A reader that hands out `first`, then waits for a signal before the rest; fails
/// instead of going on if the signal says so.
struct GatedReader {
    first: Vec<u8>,
    rest: Vec<u8>,
    gate: mpsc::Receiver<bool>,
    reached_gate: mpsc::Sender<()>,
    stage: u8,
}

impl Read for GatedReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let source = match self.stage {
            0 => &mut self.first,
            _ => &mut self.rest,
        };
        if source.is_empty() {
            if self.stage == 0 {
                self.stage = 1;
                let _ = self.reached_gate.send(());
                if !self.gate.recv().unwrap_or(false) {
                    return Err(io::Error::other("aborted on purpose"));
                }
                return self.read(buf);
            }
            return Ok(0);
        }
        let n = buf.len().min(source.len());
        buf[..n].copy_from_slice(&source[..n]);
        source.drain(..n);
        Ok(n)
    }
}

/// Nothing is visible under the final name until the put is complete, and a put that
/// fails midway leaves nothing behind.
pub fn put_is_atomic(h: &dyn Harness) {
    let d = h.fresh();
    for finish in [true, false] {
        let k = key(&format!("atomic/{finish}.raw"));
        let (gate_tx, gate_rx) = mpsc::channel();
        let (reached_tx, reached_rx) = mpsc::channel();
        let mut reader = GatedReader {
            first: vec![1; 2 << 20],
            rest: vec![2; 2 << 20],
            gate: gate_rx,
            reached_gate: reached_tx,
            stage: 0,
        };
        std::thread::scope(|s| {
            let put = s.spawn(|| d.put(&k, &mut reader, 4 << 20));
            reached_rx.recv().expect("the put reads up to the gate");
            assert_eq!(
                d.stat(&k).unwrap(),
                None,
                "half-written object visible under its final name"
            );
            assert!(
                !d.list(None).unwrap().iter().any(|m| m.key == k),
                "half-written object listed"
            );
            gate_tx.send(finish).unwrap();
            let result = put.join().unwrap();
            if finish {
                result.expect("completed put");
                assert_eq!(d.stat(&k).unwrap().map(|m| m.size), Some(4 << 20));
            } else {
                assert!(
                    matches!(result, Err(DestError::Source { .. })),
                    "{result:?}"
                );
                assert_eq!(d.stat(&k).unwrap(), None, "failed put left an object");
            }
        });
    }
    assert_eq!(
        d.sweep_partials(None).unwrap(),
        0,
        "a failed put left a partial behind"
    );
}

/// restic's TestSaveError: data shorter or longer than announced must fail the put.
pub fn a_reader_that_lies_about_its_length_fails_the_put(h: &dyn Harness) {
    let d = h.fresh();
    for (body, announced) in [(&b"1234"[..], 5u64), (&b"123456"[..], 5), (&b""[..], 1)] {
        let k = key("liar.jpg");
        let result = d.put(&k, &mut &*body, announced);
        assert!(
            matches!(result, Err(DestError::LengthMismatch { .. })),
            "{} bytes announced as {announced}: {result:?}",
            body.len()
        );
        assert_eq!(d.stat(&k).unwrap(), None, "a refused put left an object");
    }
}

/// Listings are complete beyond any page size.
pub fn lists_many_entries(h: &dyn Harness) {
    let d = h.fresh();
    let n = 1500;
    for i in 0..n {
        let k = key(&format!("many/{:02}/{i:05}.jpg", i % 7));
        d.put(&k, &mut &b"x"[..], 1).unwrap();
    }
    assert_eq!(
        d.list(Some(&key("many"))).unwrap().len(),
        n,
        "listing lost entries"
    );
}

/// Unicode in both normal forms, and bytes that are not UTF-8, come back exactly.
pub fn keeps_names_byte_exact(h: &dyn Harness) {
    let d = h.fresh();
    let mut names: Vec<Vec<u8>> = vec![
        "names/caf\u{e9}.jpg".into(),   // NFC
        "names/cafe\u{301}.jpg".into(), // NFD: another name
        "names/写真/東京.CR2".into(),
        "names/with space & 'quotes'.JPG".into(),
    ];
    if h.raw_names() {
        names.push(b"names/latin1-\xe9\xff.JPG".to_vec());
    }
    for (i, name) in names.iter().enumerate() {
        let k = RelPath::new(name.clone()).unwrap();
        let body = format!("body {i}").into_bytes();
        d.put(&k, &mut body.as_slice(), body.len() as u64)
            .unwrap_or_else(|e| panic!("put {k}: {e}"));
        assert_eq!(read_all(d.as_ref(), &k), body, "{k}");
    }
    let mut listed: Vec<Vec<u8>> = d
        .list(Some(&key("names")))
        .unwrap()
        .into_iter()
        .map(|m| m.key.as_bytes().to_vec())
        .collect();
    listed.sort();
    names.sort();
    assert_eq!(listed, names, "names changed on the way");
}

/// A put never replaces an existing object, whatever its content.
pub fn refuses_to_overwrite(h: &dyn Harness) {
    let d = h.fresh();
    let k = key("once/IMG_0001.CR2");
    d.put(&k, &mut &b"first"[..], 5).unwrap();
    for body in [&b"other"[..], &b"first"[..], &b"longer body"[..]] {
        let result = d.put(&k, &mut &*body, body.len() as u64);
        assert!(
            matches!(result, Err(DestError::AlreadyExists { .. })),
            "{result:?}"
        );
    }
    assert_eq!(read_all(d.as_ref(), &k), b"first", "an object was replaced");
    // rename refuses to replace too.
    let other = key("once/IMG_0002.CR2");
    d.put(&other, &mut &b"second"[..], 6).unwrap();
    assert!(matches!(
        d.rename(&other, &k),
        Err(DestError::AlreadyExists { .. })
    ));
    assert_eq!(read_all(d.as_ref(), &k), b"first");
}

/// Without its marker a destination is "not mounted" and cannot be opened.
pub fn not_mounted_without_marker(h: &dyn Harness) {
    let d = h.fresh();
    d.put(&key("x.jpg"), &mut &b"x"[..], 1).unwrap();
    match h.reopen_without_marker(&d) {
        Err(DestError::NotMounted { .. }) => {}
        Err(e) => panic!("expected 'not mounted', got {e}"),
        Ok(_) => panic!("a destination without its marker was opened"),
    }
}
