//! Surviving crashes, full disks and bit rot, over many rounds.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::process::Stdio;
use std::time::Duration;

use common::{Killed, Mount, World, dest, kit, partials, stored};

/// A small deterministic generator (splitmix64), so that a failure can be replayed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// For each content hash, how many files at `root` hold it.
fn copies_per_content(root: &std::path::Path) -> BTreeMap<String, usize> {
    let mut out = BTreeMap::new();
    for hash in stored(root).into_values() {
        *out.entry(hash).or_insert(0) += 1;
    }
    out
}

#[test]
fn kill_9_at_random_points_across_200_runs_of_a_changing_library() {
    let seed = 20261122;
    let mut rng = Rng(seed);
    let w = World::new();
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    w.add_dest("nas", &w.path("nas"), "nas", "onsite");
    let lib = w.library();
    let mut killed_mid_run = 0;
    for run in 0..200u64 {
        // The library changes: new photos every run, an edited one now and then.
        let folder = lib.join(format!("day-{:03}", run / 20));
        fs::create_dir_all(&folder).unwrap();
        for i in 0..3 {
            let size = 1024 + rng.below(256 * 1024) as usize;
            fs::write(
                folder.join(format!("IMG_{run:04}_{i}.JPG")),
                kit::noise(&format!("{seed}-{run}-{i}"), size),
            )
            .unwrap();
        }
        if run % 10 == 9 {
            let edited = lib.join(format!("day-{:03}/IMG_{:04}_0.JPG", run / 20, run - 1));
            fs::write(&edited, kit::noise(&format!("{seed}-edit-{run}"), 4096)).unwrap();
        }
        let mut child = Killed(
            w.cmd()
                .arg("backup")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap(),
        );
        std::thread::sleep(Duration::from_micros(rng.below(60_000)));
        if child.0.try_wait().unwrap().is_none() {
            killed_mid_run += 1;
        }
        drop(child); // SIGKILL, wherever it is
    }
    assert!(
        killed_mid_run > 80,
        "many runs were interrupted ({killed_mid_run})"
    );

    w.backed_up(&[]);
    let in_library: BTreeSet<String> = kit::tree_hashes(&lib).unwrap().into_values().collect();
    for name in ["usb", "nas"] {
        let root = w.path(name);
        assert!(
            partials(&root).is_empty(),
            "{name}: partial files visible: {:?}",
            partials(&root)
        );
        let held = copies_per_content(&root);
        for hash in &in_library {
            assert!(held.contains_key(hash), "{name}: a photo was lost");
        }
        assert!(
            held.values().all(|&n| n == 1),
            "{name}: a photo was copied twice"
        );
    }
    let status = w.status();
    for d in status["destinations"].as_array().unwrap() {
        assert_eq!(d["pending"], 0);
        assert_eq!(d["failed"], 0);
    }
    let catalog = triplicate::catalog::Catalog::open(&w.home().join("catalog.db")).unwrap();
    assert_eq!(catalog.integrity_check().unwrap(), "ok");

    // Restored, every file carries its original mtime, and nothing else is left.
    let to = w.path("restored");
    let (code, report) = w.json("restore", &["--all", "--to", to.to_str().unwrap()]);
    assert_eq!(code, 0, "{report}");
    let mtime = |p: &std::path::Path| fs::metadata(p).unwrap().modified().unwrap();
    for (path, hash) in kit::tree_hashes(&lib).unwrap() {
        assert_eq!(kit::tree_hashes(&to).unwrap().get(&path), Some(&hash));
        assert_eq!(mtime(&to.join(&path)), mtime(&lib.join(&path)), "{path:?}");
    }
    assert!(partials(&to).is_empty());
}

#[test]
fn disk_full_ten_passes_each_clear_and_each_recovered() {
    let w = World::new();
    w.init();
    let small = Mount::tmpfs(&w.path("small"), "4m");
    w.add_dest("small", &small.path, "hdd", "onsite");
    w.add_dest("big", &w.path("big"), "nas", "onsite");
    let mut size_mib = 4;
    for pass in 0..10 {
        // Photos that do not fit in what is left.
        w.card(
            &format!("pass{pass}"),
            &kit::CardSpec {
                seed: format!("pass{pass}"),
                pairs: 4,
                raw_size: 1 << 20,
                jpeg_size: 512 << 10,
                sidecars: false,
                ..Default::default()
            },
        );
        // 4 pairs of 1.5 MiB: 6 MiB, more than is free.
        let free_before = fs2_free(&small.path);
        assert!(
            free_before < 6 << 20,
            "pass {pass}: {free_before} bytes free, the photos must not fit"
        );
        let (code, report) = w.backup(&[]);
        assert_eq!(code, 1, "pass {pass}: {report}");
        assert_eq!(dest(&report, "small")["state"], "full", "pass {pass}");
        assert!(
            report["problems"].to_string().contains("is full"),
            "pass {pass}: a clear error"
        );
        assert_eq!(
            dest(&report, "big")["failed"],
            0,
            "pass {pass}: the other destination completes"
        );
        assert!(
            partials(&small.path).is_empty(),
            "pass {pass}: no partial file left"
        );

        // Free space (a bigger disk), and the rerun completes.
        size_mib += 8;
        small.remount(&format!("size={size_mib}m"));
        w.backed_up(&[]);
        let lib: BTreeSet<String> = kit::tree_hashes(&w.library())
            .unwrap()
            .into_values()
            .collect();
        let held: BTreeSet<String> = stored(&small.path).into_values().collect();
        assert_eq!(
            held, lib,
            "pass {pass}: everything is on the small disk after the rerun"
        );
        // Shrink it again to just above what is used, for the next pass.
        let used_mib = (size_mib as u64) - fs2_free(&small.path) / (1 << 20);
        size_mib = used_mib as usize + 2;
        small.remount(&format!("size={size_mib}m"));
    }
}

/// Free bytes on the filesystem at `path`.
fn fs2_free(path: &std::path::Path) -> u64 {
    triplicate::fsutil::space(path).unwrap().free
}

#[test]
fn bit_rot_anywhere_is_found_every_time_and_repaired() {
    let w = World::new();
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    w.add_dest("nas", &w.path("nas"), "nas", "onsite");
    w.card("c", &kit::CardSpec::default());
    w.backed_up(&[]);
    let mut rng = Rng(7);
    for round in 0..20 {
        let which = if rng.below(2) == 0 { "usb" } else { "nas" };
        let files: Vec<_> = stored(&w.path(which)).into_keys().collect();
        let victim = w
            .path(which)
            .join(&files[rng.below(files.len() as u64) as usize]);
        let good = fs::read(&victim).unwrap();
        let mut bad = good.clone();
        let at = rng.below(bad.len() as u64) as usize;
        bad[at] ^= 1 << rng.below(8);
        fs::write(&victim, &bad).unwrap();

        let out = w.run(&["verify", "--json"]);
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(out.status.code(), Some(1), "round {round}: not found");
        assert_eq!(
            dest(&report, which)["corrupt"],
            1,
            "round {round}: {report}"
        );
        assert_eq!(
            w.run(&["verify", "--repair"]).status.code(),
            Some(0),
            "round {round}: not repaired"
        );
        assert_eq!(fs::read(&victim).unwrap(), good, "round {round}");
    }
}

#[test]
fn nfc_and_nfd_names_are_two_photos_restored_byte_exact() {
    let w = World::new();
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    let lib = w.library();
    fs::write(lib.join("caf\u{e9}.JPG"), b"composed").unwrap();
    fs::write(lib.join("cafe\u{301}.JPG"), b"decomposed").unwrap();
    w.backed_up(&[]);
    let original = kit::tree_hashes(&lib).unwrap();
    assert_eq!(original.len(), 2);
    fs::remove_dir_all(&lib).unwrap();
    assert_eq!(
        w.run(&["restore", "--all", "--to", lib.to_str().unwrap()])
            .status
            .code(),
        Some(0)
    );
    assert_eq!(kit::tree_hashes(&lib).unwrap(), original);
}
