//! Card ingest through the real binary, with the card and the two backup disks on
//! filesystems of their own (tmpfs, as root), so that "another device" is real: one
//! read to the library and both disks, every copy verified, SAFE TO FORMAT only when it
//! is true, re-ingest copying nothing, clashing names from two bodies kept apart, and a
//! disk that fills up.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use common::{Mount, World, kit};

/// A home whose library is on the machine's disk, with two backup disks ("d1" at home,
/// "d2" offsite), each on its own tmpfs of `size`; and a card on a tmpfs of its own.
struct Studio {
    w: World,
    card: Mount,
    _disks: Vec<Mount>,
}

fn studio(size: &str) -> Studio {
    let w = World::new();
    w.init();
    let card = Mount::tmpfs(&w.path("card"), "64m");
    let mut disks = Vec::new();
    for (name, site) in [("d1", "onsite"), ("d2", "vault")] {
        disks.push(Mount::tmpfs(&w.path(name), size));
        w.ok(&[
            "dest",
            "add",
            name,
            w.path(name).to_str().unwrap(),
            "--media",
            "hdd",
            "--site",
            site,
        ]);
    }
    Studio {
        w,
        card,
        _disks: disks,
    }
}

/// A Canon-style DCF card with RAW+JPEG pairs and XMP sidecars, plus a Sony clip with
/// its XML and a thumbnail that is not a photo.
fn write_card(root: &Path, seed: &str) -> usize {
    let spec = kit::CardSpec {
        seed: seed.into(),
        ..Default::default()
    };
    let files = kit::write_card(root, &spec).unwrap().len();
    let clip = root.join("PRIVATE/M4ROOT/CLIP");
    std::fs::create_dir_all(&clip).unwrap();
    std::fs::write(
        clip.join("C0001.MP4"),
        kit::noise(&format!("{seed}-clip"), 300_000),
    )
    .unwrap();
    std::fs::write(
        clip.join("C0001M01.XML"),
        format!("<NonRealTimeMeta seed=\"{seed}\"/>"),
    )
    .unwrap();
    let thumbs = root.join("PRIVATE/M4ROOT/THMBNL");
    std::fs::create_dir_all(&thumbs).unwrap();
    std::fs::write(thumbs.join("C0001T01.JPG"), b"thumbnail").unwrap();
    files + 2
}

fn ingest(w: &World, card: &Path, extra: &[&str]) -> (i32, serde_json::Value) {
    let mut args = vec![card.to_str().unwrap()];
    args.extend_from_slice(extra);
    w.json("ingest", &args)
}

/// File contents under `root` (not `.triplicate/`), as a multiset of hashes.
fn contents(root: &Path) -> Vec<String> {
    let mut hashes: Vec<String> = common::stored(root).into_values().collect();
    hashes.sort();
    hashes
}

#[test]
fn a_card_is_read_once_into_the_library_and_two_disks_verified_and_safe() {
    let s = studio("64m");
    let w = &s.w;
    let card = s.card.path.clone();
    let on_card = write_card(&card, "canon");
    let card_before = common::stored(&card);

    let (code, r) = ingest(
        w,
        &card,
        &[
            "--template",
            "{year}/{date}/{make}/{name}",
            "--job",
            "wedding",
        ],
    );
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["verdict"]["safe"], true, "{r}");
    assert_eq!(
        r["files"].as_u64(),
        Some(on_card as u64),
        "the thumbnail stays: {r}"
    );
    assert_eq!(r["copied"].as_u64(), Some(on_card as u64));
    assert_eq!(r["layouts"], serde_json::json!(["dcf", "sony"]));
    for d in ["d1", "d2"] {
        assert_eq!(
            common::dest(&r, d)["written"].as_u64(),
            Some(on_card as u64),
            "{r}"
        );
    }
    for f in r["file_copies"].as_array().unwrap() {
        assert_eq!(
            f["copies"],
            serde_json::json!(["library", "d1", "d2"]),
            "{f}"
        );
        assert_eq!(f["devices"].as_u64(), Some(3));
        assert_eq!(f["xxh64"].as_str().unwrap().len(), 16);
    }

    // The template placed them by camera; the sidecar beside its RAW (the RAW's EXIF
    // says Nikon, the JPEG's Canon); the clip, without EXIF, under "unknown".
    let day = w.library().join("2024/2024-05-17");
    for rel in [
        "Nikon/IMG_0001.CR2",
        "Nikon/IMG_0001.xmp",
        "Canon/IMG_0001.JPG",
    ] {
        assert!(day.join(rel).is_file(), "{rel}");
    }
    assert!(
        common::stored(&w.library())
            .keys()
            .any(|p| p.ends_with("unknown/C0001.MP4")),
        "{:?}",
        common::stored(&w.library())
    );
    // The same bytes everywhere; the card untouched.
    let card_contents: Vec<String> = {
        let mut c: Vec<String> = card_before
            .iter()
            .filter(|(p, _)| !p.to_string_lossy().contains("THMBNL"))
            .map(|(_, h)| h.clone())
            .collect();
        c.sort();
        c
    };
    assert_eq!(contents(&w.library()), card_contents);
    assert_eq!(contents(&w.path("d1")), card_contents);
    assert_eq!(contents(&w.path("d2")), card_contents);
    assert_eq!(common::stored(&card), card_before, "the card was changed");

    // Ingesting the card again copies nothing, and so does a backup afterwards: the
    // catalog knows the files and their copies.
    let (code, r) = ingest(w, &card, &["--template", "{year}/{date}/{make}/{name}"]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["copied"].as_u64(), Some(0), "{r}");
    assert_eq!(r["already"].as_u64(), Some(on_card as u64), "{r}");
    for d in ["d1", "d2"] {
        assert_eq!(common::dest(&r, d)["written"].as_u64(), Some(0), "{r}");
    }
    let b = w.backed_up(&[]);
    for d in ["d1", "d2"] {
        assert_eq!(common::dest(&b, d)["copied"].as_u64(), Some(0), "{b}");
    }
    let st = w.status();
    assert_eq!(
        st["coverage"]["protected"].as_u64(),
        Some(on_card as u64),
        "{st}"
    );
    let text = w.run(&["ingest", card.to_str().unwrap()]);
    assert!(
        String::from_utf8_lossy(&text.stdout).contains("SAFE TO FORMAT"),
        "{text:?}"
    );
}

/// Whether `path` is a mount point (on another device than its parent).
fn is_mount(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    let dev = |p: &Path| std::fs::metadata(p).unwrap().dev();
    dev(path) != dev(path.parent().unwrap())
}

#[test]
fn eject_unmounts_a_card_once_it_is_safe() {
    let s = studio("64m");
    let w = &s.w;
    let card = s.card.path.clone();
    write_card(&card, "eject");
    assert!(is_mount(&card));
    let out = w.run(&["ingest", card.to_str().unwrap(), "--eject"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{said}");
    assert!(said.contains("SAFE TO FORMAT"), "{said}");
    assert!(said.contains("was unmounted"), "{said}");
    assert!(!is_mount(&card), "the card is still mounted");
}

#[test]
fn the_same_names_from_two_cameras_never_overwrite_each_other() {
    let s = studio("64m");
    let w = &s.w;
    let card = s.card.path.clone();
    let first = write_card(&card, "body-a");
    let (code, r) = ingest(w, &card, &[]);
    assert_eq!(code, 0, "{r}");
    // The second body's card: the same names, the same day, other pictures.
    for entry in std::fs::read_dir(&card).unwrap() {
        let path = entry.unwrap().path();
        std::fs::remove_dir_all(&path).unwrap();
    }
    let second = write_card(&card, "body-b");
    let (code, r) = ingest(w, &card, &[]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["copied"].as_u64(), Some(second as u64), "{r}");
    let library = common::stored(&w.library());
    assert_eq!(library.len(), first + second, "{library:?}");
    assert!(
        library
            .keys()
            .any(|p| p.to_string_lossy().contains("IMG_0001~")),
        "the second IMG_0001 got a distinct name: {library:?}"
    );
    for d in ["d1", "d2"] {
        assert_eq!(common::stored(&w.path(d)).len(), first + second);
    }
}

#[test]
fn a_disk_that_fills_up_is_not_safe_and_a_second_ingest_finishes() {
    // d1 and d2 are too small for the whole card.
    let s = studio("300k");
    let w = &s.w;
    let card = s.card.path.clone();
    let on_card = write_card(&card, "full");
    let (code, r) = ingest(w, &card, &["--eject"]);
    assert_eq!(code, 1, "{r}");
    assert_eq!(r["verdict"]["safe"], false, "{r}");
    assert!(
        is_mount(&card),
        "--eject leaves a card that is not safe mounted"
    );
    let reasons = r["verdict"]["reasons"].as_array().unwrap();
    assert!(!reasons.is_empty());
    assert!(
        reasons[0]
            .as_str()
            .unwrap()
            .contains("1 verified copy on 1 device (library 'library')"),
        "{r}"
    );
    let problems = r["problems"].to_string();
    assert!(problems.contains("full"), "{problems}");
    let out = w.run(&["ingest", card.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("NOT SAFE TO FORMAT"), "{said}");
    assert_eq!(common::partials(&w.path("d1")), Vec::<PathBuf>::new());

    // More room: the next ingest writes what is missing, from the card, and nothing else.
    for d in ["d1", "d2"] {
        s._disks
            .iter()
            .find(|m| m.path == w.path(d))
            .unwrap()
            .remount("remount,size=64m");
    }
    let (code, r) = ingest(w, &card, &[]);
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["verdict"]["safe"], true, "{r}");
    assert_eq!(
        r["copied"].as_u64(),
        Some(0),
        "the library had them all: {r}"
    );
    let counts: BTreeMap<&str, u64> = ["d1", "d2"]
        .into_iter()
        .map(|d| (d, common::stored(&w.path(d)).len() as u64))
        .collect();
    assert_eq!(
        counts,
        BTreeMap::from([("d1", on_card as u64), ("d2", on_card as u64)])
    );
}

/// Checks the ASC MHL history at `root` with the reference tool: every file against
/// the history, every generation and the chain against the schemas, and, while each
/// folder is as the first generation saw it, the folder hashes too.
fn reference_tool_accepts(root: &Path, folder_hashes_too: bool) {
    let dir = root.to_str().unwrap();
    let out = common::ascmhl_debug(&["verify", dir]);
    assert!(
        out.status.success(),
        "ascmhl-debug verify {dir}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    if folder_hashes_too {
        let out = common::ascmhl_debug(&["verify", "--directory_hash", dir]);
        assert!(
            out.status.success(),
            "ascmhl-debug verify -dh {dir}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let schema = common::ascmhl_xsd("ASCMHL.xsd");
    let chain_schema = common::ascmhl_xsd("ASCMHLDirectory__combined.xsd");
    for entry in std::fs::read_dir(root.join("ascmhl")).unwrap() {
        let path = entry.unwrap().path();
        let mut args = vec![
            "xsd-schema-check".to_string(),
            path.to_string_lossy().into_owned(),
        ];
        if path.extension().is_some_and(|e| e == "mhl") {
            args.extend(["--xsd_file".into(), schema.to_string_lossy().into_owned()]);
        } else {
            args.extend([
                "--directory_file".into(),
                "--xsd_file".into(),
                chain_schema.to_string_lossy().into_owned(),
            ]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = common::ascmhl_debug(&args);
        assert!(
            out.status.success() && String::from_utf8_lossy(&out.stdout).contains("validated"),
            "{}: {}{}",
            path.display(),
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
}

/// `triplicate mhl verify ARGS --json`: (exit code, report).
fn mhl_verify(w: &World, args: &[&str]) -> (i32, serde_json::Value) {
    let mut all = vec!["mhl", "verify", "--json"];
    all.extend_from_slice(args);
    let out = w.run(&all);
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {out:?}"));
    (out.status.code().unwrap_or(-1), report)
}

fn generations(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root.join("ascmhl"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".mhl"))
        .collect();
    names.sort();
    names
}

#[test]
fn ingest_keeps_asc_mhl_histories_that_the_reference_tool_verifies() {
    let s = studio("64m");
    let w = &s.w;
    let card = s.card.path.clone();
    write_card(&card, "mhl-a");
    // The standard's test vector, as a sidecar on the card.
    std::fs::create_dir_all(card.join("DCIM/100TEST")).unwrap();
    std::fs::write(card.join("DCIM/100TEST/VECTOR.XMP"), b"abcd\n").unwrap();
    let (code, r) = ingest(w, &card, &[]);
    assert_eq!(code, 0, "{r}");
    let places = [w.library(), w.path("d1"), w.path("d2")];
    for place in &places {
        let name = place.file_name().unwrap().to_str().unwrap();
        let g = generations(place);
        assert_eq!(g.len(), 1, "{g:?}");
        // NNNN_<folder>_<YYYY-MM-DD>_<HHMMSS>Z.mhl
        let (number, rest) = g[0].split_at(5);
        assert_eq!(number, "0001_");
        assert!(rest.starts_with(&format!("{name}_")), "{rest}");
        let stamp = rest
            .trim_start_matches(&format!("{name}_"))
            .trim_end_matches(".mhl");
        assert_eq!(stamp.len(), "2026-11-22_090005Z".len(), "{stamp}");
        assert!(
            stamp.ends_with('Z') && stamp.as_bytes()[10] == b'_',
            "{stamp}"
        );
        reference_tool_accepts(place, true);
        let text = std::fs::read_to_string(place.join("ascmhl").join(&g[0])).unwrap();
        assert!(
            text.contains(">0ea03b369a463d9d</xxh64>") && text.contains("VECTOR.XMP"),
            "the test vector's xxh64 is in {}: {text}",
            place.display()
        );
        assert!(text.contains("<directoryhash>") && text.contains("<roothash>"));
    }
    assert_eq!(
        r["manifests"].as_array().unwrap().len(),
        3,
        "one generation per place: {r}"
    );

    // A second card, and the first again: one more generation each time; files found
    // again are "verified"; the reference tool still accepts every history.
    let second_card = Mount::tmpfs(&w.path("card2"), "64m");
    let second = second_card.path.clone();
    write_card(&second, "mhl-b");
    let (code, r) = ingest(w, &second, &[]);
    assert_eq!(code, 0, "{r}");
    let (code, r) = ingest(w, &card, &[]);
    assert_eq!(code, 0, "{r}");
    for place in &places {
        let g = generations(place);
        assert_eq!(g.len(), 3, "{g:?}");
        let third = std::fs::read_to_string(place.join("ascmhl").join(&g[2])).unwrap();
        assert!(third.contains("action=\"verified\""), "{third}");
        assert!(!third.contains("action=\"original\""), "{third}");
        reference_tool_accepts(place, false);
        let out = w.run(&["mhl", "verify", place.to_str().unwrap()]);
        assert!(out.status.success(), "{out:?}");
    }

    // A copy damaged on d1: Triplicate's check and the reference tool's both see it;
    // --record adds the failure to the history, which stays intact.
    let damaged = common::stored(&w.path("d1"))
        .into_keys()
        .find(|p| p.extension().is_some_and(|e| e == "CR2"))
        .unwrap();
    let path = w.path("d1").join(&damaged);
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[100] ^= 0x40;
    std::fs::write(&path, bytes).unwrap();
    let (code, check) = mhl_verify(w, &[w.path("d1").to_str().unwrap(), "--record"]);
    assert_eq!(code, 1, "{check}");
    assert_eq!(check["failed"].as_array().unwrap().len(), 1, "{check}");
    assert_eq!(
        check["failed"][0]["path"].as_str(),
        damaged.to_str(),
        "{check}"
    );
    assert!(check["missing"].as_array().unwrap().is_empty(), "{check}");
    assert!(check["new"].as_array().unwrap().is_empty(), "{check}");
    let g = generations(&w.path("d1"));
    assert_eq!(g.len(), 4, "{g:?}");
    let fourth = std::fs::read_to_string(w.path("d1/ascmhl").join(&g[3])).unwrap();
    assert_eq!(fourth.matches("action=\"failed\"").count(), 1, "{fourth}");
    assert!(fourth.contains("<process>in-place</process>"));
    let out = common::ascmhl_debug(&["verify", w.path("d1").to_str().unwrap()]);
    let said =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{said}");
    assert!(
        said.contains("hash mismatch") && said.contains(damaged.to_str().unwrap()),
        "{said}"
    );
}

#[test]
fn mhl_verify_checks_a_history_the_reference_tool_wrote() {
    let w = common::World::new();
    let folder = w.path("offload");
    std::fs::create_dir_all(folder.join("A003/CLIPS")).unwrap();
    std::fs::write(
        folder.join("A003/CLIPS/A003C001.MOV"),
        kit::noise("clip", 50_000),
    )
    .unwrap();
    std::fs::write(folder.join("A003/notes.txt"), b"abcd\n").unwrap();
    let out = std::process::Command::new("ascmhl")
        .args(["create", "--hash_format", "md5", folder.to_str().unwrap()])
        .output()
        .expect("ascmhl runs (scripts/test installs it: pip install ascmhl)");
    assert!(out.status.success(), "{out:?}");

    let (code, check) = mhl_verify(&w, &[folder.to_str().unwrap()]);
    assert_eq!(code, 0, "{check}");
    assert_eq!(check["verified"].as_array().unwrap().len(), 2, "{check}");

    std::fs::write(folder.join("A003/notes.txt"), b"abce\n").unwrap();
    std::fs::write(folder.join("A003/extra.txt"), b"new").unwrap();
    let out = w.run(&["mhl", "verify", folder.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("FAILED   A003/notes.txt (md5 f5ac8127b3b6b85cdc13f237c6005d80 expected"),
        "{said}"
    );
    assert!(said.contains("NEW      A003/extra.txt"), "{said}");

    // A generation changed after it was written is refused by name.
    let generation = std::fs::read_dir(folder.join("ascmhl"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "mhl"))
        .unwrap();
    let text = std::fs::read_to_string(&generation).unwrap();
    std::fs::write(&generation, text.replace("A003C001", "A003C002")).unwrap();
    let out = w.run(&["mhl", "verify", folder.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(
        said.contains("has been changed since it was written"),
        "{said}"
    );
}

/// The newest ingests, as the Backup window's API gives them.
fn ingests(url: &str) -> Vec<serde_json::Value> {
    let (status, body) = common::http(url, "GET", "/api/v1/ingests", "");
    assert_eq!(status, 200, "{body}");
    serde_json::from_str::<serde_json::Value>(&body)
        .unwrap()
        .as_array()
        .unwrap()
        .clone()
}

fn wait_for(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(secs);
    while !check() {
        assert!(
            std::time::Instant::now() < until,
            "timed out waiting for: {what}"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

#[test]
fn the_service_ingests_a_card_when_it_is_mounted_and_shows_the_verdict() {
    let s = studio("64m");
    let w = &s.w;
    let media = w.path("media");
    std::fs::create_dir_all(media.join("ana")).unwrap();
    let config = w.home().join("config.toml");
    let mut text = std::fs::read_to_string(&config).unwrap();
    text.push_str(&format!(
        "\n[ingest]\nmount_roots = [{:?}]\n",
        media.to_str().unwrap()
    ));
    // Whoever asked to be told of ingests is told each verdict.
    let told = w.path("told.jsonl");
    text.push_str(&format!(
        "\n[[notify.channel]]\nname = \"log\"\nkind = \"command\"\ncommand = \"cat >> {0}; echo >> {0}\"\nevents = [\"ingest\"]\n",
        told.display()
    ));
    std::fs::write(&config, text).unwrap();
    let (_daemon, url) = common::serve(w);

    // A folder with a DCIM that is no mount point is not a card; nothing happens.
    write_card(&media.join("ana/not-a-card"), "folder");
    std::thread::sleep(std::time::Duration::from_secs(2));
    assert!(ingests(&url).is_empty());

    // A card mounted under /media/USER/: ingested once, verdict on the page's API.
    let card = Mount::tmpfs(&media.join("ana/EOS_DIGITAL"), "64m");
    let on_card = write_card(&card.path, "auto");
    wait_for(60, "the card ingested", || ingests(&url).len() == 1);
    let r = &ingests(&url)[0];
    assert_eq!(r["verdict"]["safe"], true, "{r}");
    assert_eq!(r["label"], "EOS_DIGITAL", "{r}");
    assert_eq!(r["files"].as_u64(), Some(on_card as u64), "{r}");
    assert_eq!(r["copied"].as_u64(), Some(on_card as u64), "{r}");
    assert!(
        r.get("file_copies").is_none(),
        "the summary leaves the file list out"
    );
    for d in ["d1", "d2"] {
        assert_eq!(common::stored(&w.path(d)).len(), on_card, "{d}");
        assert_eq!(generations(&w.path(d)).len(), 1, "{d}");
    }
    // The ingest list has the verdict a moment before the job says it is done.
    wait_for(10, "the ingest job done", || {
        let (_, jobs) = common::http(&url, "GET", "/api/v1/jobs", "");
        jobs.contains("\"kind\":\"ingest\"") && jobs.contains("SAFE TO FORMAT")
    });
    wait_for(30, "the verdict told", || {
        std::fs::read_to_string(&told).is_ok_and(|t| !t.trim().is_empty())
    });
    let event: serde_json::Value =
        serde_json::from_str(std::fs::read_to_string(&told).unwrap().trim()).unwrap();
    assert_eq!(
        (event["kind"].as_str(), event["severity"].as_str()),
        (Some("ingest"), Some("info"))
    );
    assert!(
        event["title"].as_str().unwrap().contains("SAFE TO FORMAT"),
        "{event}"
    );
    // Still mounted: not ingested again.
    std::thread::sleep(std::time::Duration::from_secs(3));
    assert_eq!(ingests(&url).len(), 1);

    // Taken out and put back: ingested again, nothing copied.
    let path = card.path.clone();
    drop(card);
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let again = Mount::tmpfs(&path, "64m");
    write_card(&again.path, "auto");
    wait_for(60, "the card ingested again", || ingests(&url).len() == 2);
    let r = &ingests(&url)[0];
    assert_eq!(r["verdict"]["safe"], true, "{r}");
    assert_eq!(r["copied"].as_u64(), Some(0), "{r}");
    assert_eq!(r["already"].as_u64(), Some(on_card as u64), "{r}");
}

#[test]
fn a_card_put_back_does_not_undo_culling() {
    let s = studio("64m");
    let w = &s.w;
    let card = s.card.path.clone();
    write_card(&card, "cull");
    let (code, first) = ingest(w, &card, &[]);
    assert_eq!(code, 0, "{first}");
    let library_path = |report: &serde_json::Value, card_path: &str| {
        report["file_copies"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["card_path"] == card_path)
            .and_then(|f| f["library_path"].as_str())
            .map(|p| w.library().join(p))
    };
    // The photographer culls: one photo deleted, another edited.
    let deleted = library_path(&first, "DCIM/100CANON/IMG_0001.JPG").unwrap();
    let edited = library_path(&first, "DCIM/100CANON/IMG_0002.JPG").unwrap();
    std::fs::remove_file(&deleted).unwrap();
    std::fs::write(&edited, b"retouched").unwrap();
    w.backed_up(&[]);

    // The card goes back in: nothing culled comes back, and the card is still safe.
    let before = kit::tree_hashes(&w.library()).unwrap();
    let out = w.run(&["ingest", card.to_str().unwrap()]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("2 files you removed from the library since the last ingest were left out (`--again` brings them back)"), "{said}");
    let (code, again) = ingest(w, &card, &[]);
    assert_eq!(code, 0, "{again}");
    assert_eq!(again["culled"], 2, "{again}");
    assert_eq!(again["copied"], 0, "{again}");
    assert_eq!(again["verdict"]["safe"], true, "{again}");
    assert_eq!(
        kit::tree_hashes(&w.library()).unwrap(),
        before,
        "the library is as culled"
    );

    // --again brings them back: the deleted one at its place, the edited one's
    // original beside the edit.
    let (code, back) = ingest(w, &card, &["--again"]);
    assert_eq!(code, 0, "{back}");
    assert_eq!(back["copied"], 2, "{back}");
    assert!(deleted.is_file());
    assert_eq!(std::fs::read(&edited).unwrap(), b"retouched");
}
