use super::*;
use crate::destination::LocalDestination;
use crate::destination::conformance::{self, Harness};

fn key(s: &str) -> RelPath {
    RelPath::new(s).unwrap()
}

/// A local destination encrypted to a fresh identity, which it can also open.
struct Encrypted {
    _dir: tempfile::TempDir,
    root: PathBuf,
    identity: x25519::Identity,
    dest: Arc<EncryptedDestination<LocalDestination>>,
}

fn encrypted(with_key: bool) -> Encrypted {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().join("dest");
    std::fs::create_dir(&root).unwrap();
    let marker = Marker::for_test("enc");
    LocalDestination::initialise("enc", &root, &marker).unwrap();
    let local = Arc::new(LocalDestination::open("enc", &root, "enc").unwrap());
    let identity = x25519::Identity::generate();
    let identity_file = dir.path().join("key.txt");
    std::fs::write(&identity_file, identity.to_string().expose_secret()).unwrap();
    let encryption = Encryption {
        recipients: vec![identity.to_public()],
        key: if with_key {
            KeySource::IdentityFile(identity_file)
        } else {
            KeySource::Missing
        },
    };
    Encrypted {
        _dir: dir,
        root,
        identity,
        dest: Arc::new(EncryptedDestination::new(local, encryption)),
    }
}

fn noise(len: usize) -> Vec<u8> {
    let mut out = Vec::with_capacity(len + 32);
    let mut block = *blake3::hash(&(len as u64).to_le_bytes()).as_bytes();
    while out.len() < len {
        out.extend_from_slice(&block);
        block = *blake3::hash(&block).as_bytes();
    }
    out.truncate(len);
    out
}

#[test]
fn lengths_round_trip_at_every_chunk_edge() {
    for plain in [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 3 * CHUNK, 3 * CHUNK + 7] {
        for header in [80, 200, 1234] {
            let stored = stored_len(header, plain);
            assert_eq!(
                plain_len(header, stored),
                Some(plain),
                "{plain} after {header}"
            );
        }
    }
    // Between two valid lengths lies no file.
    assert_eq!(plain_len(100, stored_len(100, CHUNK) + 1), None);
    assert_eq!(plain_len(100, 10), None);
}

proptest::proptest! {
    /// Every plain length has one ciphertext length, which gives it back; every
    /// ciphertext length gives back a plain length only when it is that one's; and
    /// a longer plain file always makes a longer stored one.
    #[test]
    fn stored_and_plain_lengths_are_inverse(
        header in 0u64..MAX_HEADER,
        plain in 0u64..(1 << 40),
        stored in 0u64..(1 << 40),
    ) {
        let s = stored_len(header, plain);
        proptest::prop_assert_eq!(plain_len(header, s), Some(plain));
        proptest::prop_assert!(stored_len(header, plain + 1) > s);
        if let Some(p) = plain_len(header, stored) {
            proptest::prop_assert_eq!(stored_len(header, p), stored);
        }
    }
}

#[test]
fn puts_store_age_files_that_read_back_plain() {
    let e = encrypted(true);
    for (i, len) in [0, 1, 65535, 65536, 65537, 200_000].into_iter().enumerate() {
        let k = key(&format!("2024/p{i}.jpg"));
        let data = noise(len);
        let stored = e.dest.put(&k, &mut &data[..], len as u64).unwrap();
        let file = e.root.join(format!("2024/p{i}.jpg.age"));
        let ciphertext = std::fs::read(&file).unwrap();
        assert!(!e.root.join(format!("2024/p{i}.jpg")).exists());
        assert_eq!(
            stored,
            Stored::Transformed {
                hash: ContentHash::of(&ciphertext),
                size: ciphertext.len() as u64
            }
        );
        assert!(ciphertext.starts_with(b"age-encryption.org/v1\n"));
        // Any age implementation opens it with the identity.
        let opened = age::decrypt(&e.identity, &ciphertext).unwrap();
        assert_eq!(opened, data);
        // The plain view: size, listing, bytes.
        assert_eq!(e.dest.stat(&k).unwrap().unwrap().size, len as u64);
        let mut back = Vec::new();
        e.dest.read(&k).unwrap().read_to_end(&mut back).unwrap();
        assert_eq!(back, data);
        let mut raw = Vec::new();
        e.dest
            .read_stored(&k)
            .unwrap()
            .read_to_end(&mut raw)
            .unwrap();
        assert_eq!(raw, ciphertext);
    }
    let listed = e.dest.list(Some(&key("2024"))).unwrap();
    assert_eq!(listed.len(), 6);
    assert!(
        listed
            .iter()
            .any(|m| m.key == key("2024/p5.jpg") && m.size == 200_000)
    );
}

#[test]
fn without_the_key_copies_are_written_and_checked_but_not_opened() {
    let e = encrypted(false);
    let k = key("a.jpg");
    let data = noise(1000);
    let Stored::Transformed { hash, .. } = e.dest.put(&k, &mut &data[..], 1000).unwrap() else {
        panic!("an encrypted put transforms");
    };
    let mut raw = Vec::new();
    e.dest
        .read_stored(&k)
        .unwrap()
        .read_to_end(&mut raw)
        .unwrap();
    assert_eq!(ContentHash::of(&raw), hash);
    assert_eq!(e.dest.stat(&k).unwrap().unwrap().size, 1000);
    let err = e.dest.read(&k).err().expect("no key, no plain bytes");
    assert!(matches!(err, DestError::NoKey { .. }), "{err}");
    assert!(err.to_string().contains("--identity-file"), "{err}");
}

#[test]
fn another_key_is_refused_by_name() {
    let e = encrypted(true);
    let k = key("a.jpg");
    e.dest.put(&k, &mut &b"plain"[..], 5).unwrap();
    let other = x25519::Identity::generate();
    let wrong = e._dir.path().join("other.txt");
    std::fs::write(&wrong, other.to_string().expose_secret()).unwrap();
    let local = Arc::new(LocalDestination::open_read_only("enc", &e.root, "enc").unwrap());
    let dest = EncryptedDestination::new(
        local,
        Encryption {
            recipients: vec![other.to_public()],
            key: KeySource::IdentityFile(wrong),
        },
    );
    let err = dest.read(&k).err().unwrap();
    assert!(
        err.to_string().contains("not encrypted to this node's key"),
        "{err}"
    );
}

#[test]
fn short_and_long_sources_fail_in_plain_terms_and_leave_nothing() {
    let e = encrypted(true);
    let k = key("short.jpg");
    let err = e.dest.put(&k, &mut &[7u8; 10][..], 20).unwrap_err();
    assert!(
        matches!(
            err,
            DestError::LengthMismatch {
                expected: 20,
                got: 10,
                ..
            }
        ),
        "{err}"
    );
    let err = e.dest.put(&k, &mut &[7u8; 30][..], 20).unwrap_err();
    assert!(
        matches!(err, DestError::LengthMismatch { expected: 20, .. }),
        "{err}"
    );
    assert_eq!(e.dest.stat(&k).unwrap(), None);
    assert_eq!(e.dest.sweep_partials(None).unwrap(), 0);
}

#[test]
fn a_damaged_ciphertext_fails_to_decrypt() {
    let e = encrypted(true);
    let k = key("a.jpg");
    let data = noise(100_000);
    e.dest.put(&k, &mut &data[..], 100_000).unwrap();
    let file = e.root.join("a.jpg.age");
    let mut bytes = std::fs::read(&file).unwrap();
    let last = bytes.len() - 100;
    bytes[last] ^= 1;
    std::fs::remove_file(&file).unwrap();
    std::fs::write(&file, &bytes).unwrap();
    let mut back = Vec::new();
    let err = e.dest.read(&k).unwrap().read_to_end(&mut back).unwrap_err();
    assert_eq!(err.kind(), io::ErrorKind::InvalidData, "{err}");
}

#[test]
fn a_passphrase_opens_the_stored_identity() {
    let passphrase = SecretString::from("correct horse battery staple".to_string());
    let (recipient, bytes) = new_protected_identity(&passphrase);
    let identities = open_protected_identity(&bytes, &passphrase).unwrap();
    assert_eq!(identities[0].to_public().to_string(), recipient);
    let wrong = SecretString::from("wrong".to_string());
    let Err(err) = open_protected_identity(&bytes, &wrong) else {
        panic!("a wrong passphrase opened the identity");
    };
    assert!(err.contains("wrong passphrase"), "{err}");
}

/// Fresh encrypted destinations in temporary folders.
#[derive(Default)]
struct EncryptedHarness {
    made: std::sync::Mutex<Vec<Encrypted>>,
}

impl Harness for EncryptedHarness {
    fn fresh(&self) -> Arc<dyn WriteDestination> {
        let e = encrypted(true);
        let dest = e.dest.clone();
        self.made.lock().unwrap().push(e);
        dest
    }

    fn reopen_without_marker(
        &self,
        _: &Arc<dyn WriteDestination>,
    ) -> Result<Arc<dyn WriteDestination>, DestError> {
        let made = self.made.lock().unwrap();
        let e = made.last().unwrap();
        std::fs::remove_file(e.root.join(".triplicate/destination.toml")).unwrap();
        let local = Arc::new(LocalDestination::open("enc", &e.root, "enc")?);
        let dest = EncryptedDestination::new(local, e.dest.encryption.clone());
        Ok(Arc::new(dest))
    }
}

#[test]
fn the_conformance_suite_passes_through_encryption() {
    conformance::all(&EncryptedHarness::default());
}
