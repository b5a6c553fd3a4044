//! Encrypted destinations through the real binary: copies stored as age files that
//! Debian's `age` opens, manifests encrypted too, copies checked without the key by the
//! hash of their ciphertext, decrypted with it, repaired, restored; and a destination
//! locked by a passphrase that keeps its own identity.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{World, age_decrypt, age_keygen, kit};

/// Every file under `root`, except the destination's own folder.
fn photo_files(root: &Path) -> Vec<PathBuf> {
    common::stored(root).into_keys().collect()
}

fn blake3_hex(bytes: &[u8]) -> String {
    blake3::hash(bytes).to_hex().to_string()
}

/// The library's files by content hash.
fn library_hashes(w: &World) -> BTreeMap<String, PathBuf> {
    common::stored(&w.library())
        .into_iter()
        .map(|(path, hash)| (hash, path))
        .collect()
}

/// A home with a plain disk ("usb") and a disk at a friend's ("vault") encrypted to a
/// new age identity, `key.txt`; the node holds the identity when `with_identity`.
fn world_with_vault(with_identity: bool) -> World {
    let w = World::new();
    w.init();
    // Each destination on a disk of its own, so that its copies count toward 3-2-1.
    w.add_dest("usb", &w.disk_at("usb"), "hdd", "onsite");
    let key = w.path("key.txt");
    let recipient = age_keygen(&key);
    w.disk_at("vault");
    let vault = w.path("vault");
    let mut args = vec![
        "dest",
        "add",
        "vault",
        vault.to_str().unwrap(),
        "--media",
        "hdd",
        "--site",
        "friends-house",
        "--encrypt-to",
        &recipient,
    ];
    if with_identity {
        args.extend(["--identity-file", key.to_str().unwrap()]);
    }
    let out = w.ok(&args);
    assert!(out.contains("encrypted with age"), "{out}");
    w
}

/// Flips one byte in the middle of a file, as a failing disk would.
fn damage(path: &Path) {
    let mut bytes = std::fs::read(path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x40;
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn an_encrypted_destination_holds_only_age_files_that_stock_age_opens() {
    let w = world_with_vault(false);
    let files = w.card("2024-05-17", &kit::CardSpec::default());
    let report = w.backed_up(&[]);
    assert_eq!(
        common::dest(&report, "vault")["copied"].as_u64(),
        Some(files.len() as u64),
        "{report}"
    );

    // Only age files, none of them holding a photo's bytes; Debian's age opens each
    // into exactly one of the library's photos.
    let library = library_hashes(&w);
    let vault = w.path("vault");
    let stored = photo_files(&vault);
    assert_eq!(stored.len(), files.len());
    let mut opened = BTreeMap::new();
    for rel in &stored {
        assert!(rel.to_string_lossy().ends_with(".age"), "{}", rel.display());
        let path = vault.join(rel);
        let raw = std::fs::read(&path).unwrap();
        assert!(raw.starts_with(b"age-encryption.org/v1\n"));
        assert!(!library.contains_key(&blake3_hex(&raw)), "a plain copy");
        let plain = age_decrypt(&w.path("key.txt"), &path);
        opened.insert(blake3_hex(&plain), rel.clone());
    }
    assert_eq!(
        opened.keys().collect::<Vec<_>>(),
        library.keys().collect::<Vec<_>>(),
        "the age files open into the library's photos"
    );

    // The marker stays plain, and says the destination is encrypted; the manifest is an
    // age file whose lines give the hash of each ciphertext.
    let marker = std::fs::read_to_string(vault.join(".triplicate/destination.toml")).unwrap();
    assert!(marker.contains("age_recipients"), "{marker}");
    let manifests: Vec<PathBuf> = kit::files_under(&vault.join(".triplicate/manifests"));
    assert_eq!(manifests.len(), 1, "{manifests:?}");
    assert!(manifests[0].to_string_lossy().ends_with(".jsonl.age"));
    let manifest = String::from_utf8(age_decrypt(&w.path("key.txt"), &manifests[0])).unwrap();
    let mut lines = manifest.lines();
    assert!(lines.next().unwrap().contains("triplicate-manifest"));
    let mut checked = 0;
    for line in lines {
        let entry: serde_json::Value = serde_json::from_str(line).unwrap();
        let file = vault.join(format!("{}.age", entry["path"].as_str().unwrap()));
        let raw = std::fs::read(&file).unwrap();
        assert_eq!(
            entry["stored_blake3"].as_str(),
            Some(blake3_hex(&raw).as_str())
        );
        assert!(library.contains_key(entry["blake3"].as_str().unwrap()));
        checked += 1;
    }
    assert_eq!(checked, files.len());

    // Library (ssd) + usb (hdd) + vault (hdd, offsite): protected, shown as encrypted.
    let s = w.status();
    assert_eq!(
        s["coverage"]["protected"].as_u64(),
        Some(files.len() as u64),
        "{s}"
    );
    assert_eq!(common::dest(&s, "vault")["encrypted"], true);
    assert!(w.ok(&["dest", "list"]).contains("age-encrypted"));
    // The health check writes, reads back and removes an encrypted object, keyless.
    w.ok(&["dest", "test", "vault"]);
    assert_eq!(photo_files(&vault).len(), files.len());

    // Without the key, copies are checked by their ciphertext's hash ...
    let (code, v) = w.json("verify", &["--dest", "vault"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        common::dest(&v, "vault")["ok"].as_u64(),
        Some(files.len() as u64)
    );
    // ... but cannot be opened: restore and verify --decrypt say what is missing.
    let out = w.run(&["verify", "--dest", "vault", "--decrypt"]);
    assert_eq!(out.status.code(), Some(1));
    let said =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("--identity-file"), "{said}");
    let out = w.run(&[
        "restore",
        "--to",
        w.path("out").to_str().unwrap(),
        "--dest",
        "vault",
        "--all",
    ]);
    assert_eq!(out.status.code(), Some(1));
    let said =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    // Said once for the destination, with how many photos it kept from being restored,
    // not once per photo (as it happens, and in the summary).
    let summary = String::from_utf8_lossy(&out.stdout);
    assert_eq!(summary.matches("--identity-file").count(), 1, "{said}");
    let live = String::from_utf8_lossy(&out.stderr);
    assert!(live.matches("--identity-file").count() <= 1, "{said}");
    assert!(said.contains(&format!("{} photos", files.len())), "{said}");

    // A damaged age file is found without the key, and rewritten (encrypted anew)
    // from the library.
    let victim = vault.join(&stored[0]);
    damage(&victim);
    let (code, v) = w.json("verify", &["--dest", "vault"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(
        common::dest(&v, "vault")["corrupt"].as_u64(),
        Some(1),
        "{v}"
    );
    let (code, v) = w.json("verify", &["--dest", "vault", "--repair"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        common::dest(&v, "vault")["repaired"].as_u64(),
        Some(1),
        "{v}"
    );
    let plain = age_decrypt(&w.path("key.txt"), &victim);
    assert!(library.contains_key(&blake3_hex(&plain)));
    let (code, v) = w.json("verify", &["--dest", "vault"]);
    assert_eq!(
        code, 0,
        "the repaired copy's new ciphertext hash was recorded: {v}"
    );
}

#[test]
fn with_its_identity_a_destination_restores_and_verifies_decrypted() {
    let w = world_with_vault(true);
    let files = w.card("2024-05-17", &kit::CardSpec::default());
    w.backed_up(&[]);

    let (code, v) = w.json("verify", &["--dest", "vault", "--decrypt"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        common::dest(&v, "vault")["ok"].as_u64(),
        Some(files.len() as u64)
    );

    // Restore from the encrypted destination alone: the photos come back byte for byte.
    let out = w.path("restored");
    w.ok(&[
        "restore",
        "--to",
        out.to_str().unwrap(),
        "--dest",
        "vault",
        "--all",
    ]);
    let mut restored: Vec<String> = common::stored(&out).into_values().collect();
    let mut library: Vec<String> = common::stored(&w.library()).into_values().collect();
    restored.sort();
    library.sort();
    assert_eq!(restored, library);

    // A damaged chunk fails age's authentication: --decrypt calls the copy damaged.
    let victim = w.path("vault").join(&photo_files(&w.path("vault"))[0]);
    damage(&victim);
    let (code, v) = w.json("verify", &["--dest", "vault", "--decrypt"]);
    assert_eq!(code, 1, "{v}");
    assert_eq!(
        common::dest(&v, "vault")["corrupt"].as_u64(),
        Some(1),
        "{v}"
    );

    // An identity that opens none of the recipients is refused when a destination is
    // added.
    let other = w.path("other.txt");
    age_keygen(&other);
    std::fs::create_dir_all(w.path("vault2")).unwrap();
    let out = w.run(&[
        "dest",
        "add",
        "vault2",
        w.path("vault2").to_str().unwrap(),
        "--media",
        "hdd",
        "--site",
        "x",
        "--encrypt-to",
        &recipient_of(&w.path("key.txt")),
        "--identity-file",
        other.to_str().unwrap(),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("holds no key for any of the recipients"),
        "{out:?}"
    );
}

fn recipient_of(key: &Path) -> String {
    std::fs::read_to_string(key)
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .unwrap()
        .to_string()
}

#[test]
fn a_passphrase_locks_the_destinations_own_identity() {
    let w = World::new();
    w.init();
    let passphrase = w.path("passphrase");
    std::fs::write(&passphrase, "a long and memorable passphrase\n").unwrap();
    std::fs::set_permissions(
        &passphrase,
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    std::fs::create_dir_all(w.path("vault")).unwrap();
    w.ok(&[
        "dest",
        "add",
        "vault",
        w.path("vault").to_str().unwrap(),
        "--media",
        "hdd",
        "--site",
        "friends-house",
        "--passphrase-file",
        passphrase.to_str().unwrap(),
    ]);
    let identity = w.path("vault/.triplicate/identity.age");
    let raw = std::fs::read(&identity).unwrap();
    assert!(
        raw.starts_with(b"age-encryption.org/v1\n-> scrypt "),
        "locked by scrypt"
    );
    let config = std::fs::read_to_string(w.home().join("config.toml")).unwrap();
    assert!(config.contains("encrypt_to = [\"age1"), "{config}");
    assert!(
        !config.contains("memorable"),
        "the passphrase stays in its file"
    );

    let files = w.card("2024-05-17", &kit::CardSpec::default());
    w.backed_up(&[]);
    // A passphrase file others can read is named in a warning.
    let out = w.run(&["verify", "--decrypt"]);
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains(&format!("{} opens this destination", passphrase.display()))
            && said.contains("chmod 600"),
        "{said}"
    );
    std::fs::set_permissions(
        &passphrase,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let (code, v) = w.json("verify", &["--decrypt"]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        common::dest(&v, "vault")["ok"].as_u64(),
        Some(files.len() as u64)
    );
    let out = w.path("restored");
    w.ok(&[
        "restore",
        "--to",
        out.to_str().unwrap(),
        "--dest",
        "vault",
        "--all",
    ]);
    assert_eq!(common::stored(&out).len(), files.len());

    // Stock age opens a copy with the stored identity and the passphrase, typed at its
    // prompt (a terminal, given by `script`).
    let copy = w.path("vault").join(&photo_files(&w.path("vault"))[0]);
    let opened = w.path("opened");
    let typed = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "printf 'a long and memorable passphrase\\n' | script -qec 'age -d -i {} -o {} {}' /dev/null",
            identity.display(),
            opened.display(),
            copy.display()
        ))
        .output()
        .unwrap();
    assert!(typed.status.success(), "{typed:?}");
    let plain = std::fs::read(&opened).unwrap();
    let plain_hash = blake3::hash(&plain).to_hex().to_string();
    assert!(
        common::stored(&w.library())
            .values()
            .any(|h| *h == plain_hash),
        "age opened the copy into one of the photos"
    );

    // Another node (a new home) adopting the destination: a wrong passphrase is refused
    // by name; without encryption it is refused too, so no plain file lands there.
    let w2 = World::new();
    w2.init();
    let wrong = w2.path("wrong");
    std::fs::write(&wrong, "not it\n").unwrap();
    let vault = w.path("vault");
    let out = w2.run(&[
        "dest",
        "add",
        "vault",
        vault.to_str().unwrap(),
        "--media",
        "hdd",
        "--site",
        "friends-house",
        "--passphrase-file",
        wrong.to_str().unwrap(),
    ]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("wrong passphrase"),
        "{out:?}"
    );
    let out = w2.run(&[
        "dest",
        "add",
        "vault",
        vault.to_str().unwrap(),
        "--media",
        "hdd",
        "--site",
        "x",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("holds age-encrypted copies"),
        "{out:?}"
    );
    // With the passphrase, it restores everything on the new node.
    w2.ok(&[
        "dest",
        "add",
        "vault",
        vault.to_str().unwrap(),
        "--media",
        "hdd",
        "--site",
        "friends-house",
        "--passphrase-file",
        passphrase.to_str().unwrap(),
    ]);
    w2.ok(&["catalog", "rebuild"]);
    // The manifests gave back each ciphertext's hash: copies check without decrypting.
    let (code, v) = w2.json("verify", &[]);
    assert_eq!(code, 0, "{v}");
    assert_eq!(
        common::dest(&v, "vault")["ok"].as_u64(),
        Some(files.len() as u64)
    );
    let out2 = w2.path("restored");
    w2.ok(&[
        "restore",
        "--to",
        out2.to_str().unwrap(),
        "--dest",
        "vault",
        "--all",
    ]);
    assert_eq!(common::stored(&out2).len(), files.len());
}
