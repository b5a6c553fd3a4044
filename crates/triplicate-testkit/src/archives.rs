//! Archives built byte by byte, to test the strict reader: a valid one, and a corpus
//! of malformed ones, each with the rejection it must get.
//!
//! The tar writer here is deliberately simple and permissive (ustar headers, pax
//! records for long or odd names), so that it can write what no well-behaved tool
//! would: traversal, links, devices, lying sizes, junk after the end.
//!
//! This file is long, and so are `tar_cases` and `corpus`, because they are tables of
//! test data: one malformed archive a row, each beside the rejection it must get, so
//! that a reader sees a case and its expected answer together.

use std::io::Write;

/// One tar entry to write.
#[derive(Clone)]
pub struct Entry {
    pub name: Vec<u8>,
    /// The tar type flag: b'0' file, b'5' folder, b'2' symlink, b'1' hard link…
    pub kind: u8,
    pub data: Vec<u8>,
    /// The size the header claims (the data's length when `None`).
    pub claimed: Option<u64>,
    pub link: Vec<u8>,
}

impl Entry {
    pub fn file(name: &str, data: &[u8]) -> Entry {
        Entry::raw(name.as_bytes(), b'0', data)
    }

    pub fn raw(name: &[u8], kind: u8, data: &[u8]) -> Entry {
        Entry {
            name: name.to_vec(),
            kind,
            data: data.to_vec(),
            claimed: None,
            link: Vec::new(),
        }
    }
}

/// A manifest's file line.
pub struct Listed {
    pub path: String,
    pub size: u64,
    pub blake3: String,
}

impl Listed {
    pub fn of(path: &str, data: &[u8]) -> Listed {
        Listed {
            path: path.into(),
            size: data.len() as u64,
            blake3: blake3::hash(data).to_hex().to_string(),
        }
    }
}

/// The manifest JSON for `files`.
pub fn manifest(id: &str, files: &[Listed]) -> Vec<u8> {
    let files: Vec<String> = files
        .iter()
        .map(|f| {
            format!(
                "{{\"path\":{},\"size\":{},\"blake3\":\"{}\"}}",
                json_string(&f.path),
                f.size,
                f.blake3
            )
        })
        .collect();
    format!(
        "{{\"format\":\"triplicate-archive\",\"version\":1,\"id\":{},\"kind\":\"config\",\"node\":\"elsewhere\",\"created\":\"2026-11-20T10:00:00Z\",\"tool\":\"testkit\",\"sections\":[\"core\"],\"folders\":[],\"files\":[{}]}}",
        json_string(id),
        files.join(",")
    )
    .into_bytes()
}

fn json_string(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn octal(field: &mut [u8], value: u64) {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    field[..digits].copy_from_slice(&text.as_bytes()[text.len() - digits..]);
    field[digits] = 0;
}

fn header(name: &[u8], kind: u8, size: u64, link: &[u8]) -> [u8; 512] {
    let mut h = ustar_header(name, kind, size, link);
    if kind == b'S' {
        // A GNU sparse entry is only read as such from a GNU header.
        h[257..265].copy_from_slice(b"ustar  \0");
        octal(&mut h[483..495], 0);
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|b| *b as u32).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    }
    h
}

fn ustar_header(name: &[u8], kind: u8, size: u64, link: &[u8]) -> [u8; 512] {
    let mut h = [0u8; 512];
    let n = name.len().min(100);
    h[..n].copy_from_slice(&name[..n]);
    octal(&mut h[100..108], 0o644);
    octal(&mut h[108..116], 0);
    octal(&mut h[116..124], 0);
    octal(&mut h[124..136], size);
    octal(&mut h[136..148], 1_700_000_000);
    h[156] = kind;
    let l = link.len().min(100);
    h[157..157 + l].copy_from_slice(&link[..l]);
    h[257..263].copy_from_slice(b"ustar\0");
    h[263..265].copy_from_slice(b"00");
    h[148..156].copy_from_slice(b"        ");
    let sum: u32 = h.iter().map(|b| *b as u32).sum();
    let text = format!("{sum:06o}\0 ");
    h[148..156].copy_from_slice(text.as_bytes());
    h
}

fn pad(out: &mut Vec<u8>) {
    while !out.len().is_multiple_of(512) {
        out.push(0);
    }
}

/// A pax record `len key=value\n`.
fn pax_record(key: &str, value: &[u8]) -> Vec<u8> {
    let body_len = key.len() + value.len() + 3;
    let mut len = body_len + 1;
    while format!("{len}").len() + body_len != len {
        len += 1;
    }
    let mut r = format!("{len} {key}=").into_bytes();
    r.extend_from_slice(value);
    r.push(b'\n');
    r
}

/// The tar stream of `entries`, with the end marker when `end`.
pub fn tar(entries: &[Entry], end: bool) -> Vec<u8> {
    let mut out = Vec::new();
    for e in entries {
        // Long names, and names with bytes a ustar header cannot hold, go in pax.
        if e.name.len() > 100 || e.name.contains(&0) || e.link.len() > 100 {
            let mut records = pax_record("path", &e.name);
            if !e.link.is_empty() {
                records.extend(pax_record("linkpath", &e.link));
            }
            out.extend_from_slice(&header(b"PaxHeader", b'x', records.len() as u64, b""));
            out.extend_from_slice(&records);
            pad(&mut out);
        }
        let size = e.claimed.unwrap_or(e.data.len() as u64);
        let short: Vec<u8> = e.name.iter().copied().take_while(|b| *b != 0).collect();
        out.extend_from_slice(&header(&short, e.kind, size, &e.link));
        out.extend_from_slice(&e.data);
        pad(&mut out);
    }
    if end {
        out.extend_from_slice(&[0u8; 1024]);
    }
    out
}

pub fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::new(6));
    gz.write_all(bytes).unwrap();
    gz.finish().unwrap()
}

pub fn zstd(bytes: &[u8]) -> Vec<u8> {
    zstd::encode_all(bytes, 3).unwrap()
}

/// A valid archive's tar stream: the manifest, then `files`.
pub fn valid_tar(id: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
    let listed: Vec<Listed> = files.iter().map(|(p, d)| Listed::of(p, d)).collect();
    let mut entries = vec![Entry::file(
        "triplicate-archive.json",
        &manifest(id, &listed),
    )];
    entries.extend(files.iter().map(|(p, d)| Entry::file(p, d)));
    tar(&entries, true)
}

/// One malformed archive: a name, its bytes, and the rejection it must get (the
/// variant's name, as in `Rejection`'s Debug output).
pub struct Malformed {
    pub name: String,
    pub bytes: Vec<u8>,
    pub expect: &'static str,
}

const PHOTO: &[u8] = b"\xff\xd8\xff\xe0 a small photo \xff\xd9";

/// A tar stream whose manifest lists `listed`, followed by `entries`.
fn with(listed: &[Listed], entries: Vec<Entry>) -> Vec<u8> {
    let mut all = vec![Entry::file(
        "triplicate-archive.json",
        &manifest("20261120T100000Z-0badc0de", listed),
    )];
    all.extend(entries);
    tar(&all, true)
}

/// A manifest listing `photo.jpg`, followed by `entry` (which the manifest may not
/// list).
fn one_entry(entry: Entry) -> Vec<u8> {
    with(
        &[Listed::of("photo.jpg", PHOTO)],
        vec![Entry::file("photo.jpg", PHOTO), entry],
    )
}

/// The tar-level malformations: each returned as a tar stream, to be compressed both
/// ways.
fn tar_cases() -> Vec<(String, Vec<u8>, &'static str)> {
    let mut cases: Vec<(String, Vec<u8>, &'static str)> = Vec::new();
    let mut add =
        |name: String, bytes: Vec<u8>, expect: &'static str| cases.push((name, bytes, expect));
    for name in [
        "../escape.jpg",
        "..",
        "../",
        "a/../../escape.jpg",
        "a/b/../../../escape.jpg",
        "photos/../../../../etc/cron.d/x",
        "a/..",
        "x/../..",
        "../../../../../../../../tmp/pwned",
        "a/b/c/../../../../d",
        "sub/../../sibling/file",
        "..a/../../b",
    ] {
        add(
            format!("traversal {name}"),
            one_entry(Entry::file(name, PHOTO)),
            "Traversal",
        );
    }
    for name in [
        "/etc/passwd",
        "/tmp/x.jpg",
        "//double",
        "/",
        "/home/user/.ssh/authorized_keys",
        "/a/../b",
    ] {
        add(
            format!("absolute {name}"),
            one_entry(Entry::file(name, PHOTO)),
            "AbsolutePath",
        );
    }
    for (name, target) in [
        ("link.jpg", "/etc/passwd"),
        ("link", "../../outside"),
        ("photos/link", "photo.jpg"),
        ("dirlink", "/"),
        ("rel", "a/b"),
    ] {
        let mut e = Entry::raw(name.as_bytes(), b'2', b"");
        e.link = target.as_bytes().to_vec();
        add(
            format!("symlink {name} -> {target}"),
            one_entry(e),
            "Symlink",
        );
    }
    for (name, target) in [
        ("hard.jpg", "photo.jpg"),
        ("hard2", "/etc/shadow"),
        ("hard3", "../x"),
        ("sub/hard", "photo.jpg"),
    ] {
        let mut e = Entry::raw(name.as_bytes(), b'1', b"");
        e.link = target.as_bytes().to_vec();
        add(
            format!("hard link {name} -> {target}"),
            one_entry(e),
            "HardLink",
        );
    }
    for (kind, what) in [(b'3', "char"), (b'4', "block"), (b'6', "fifo")] {
        for name in ["dev/null", "zero", "sub/device"] {
            add(
                format!("{what} device {name}"),
                one_entry(Entry::raw(name.as_bytes(), kind, b"")),
                "Device",
            );
        }
    }
    for (kind, what) in [
        (b'S', "gnu sparse"),
        (b'V', "volume label"),
        (b'Z', "unknown type"),
        (b'M', "multivolume"),
    ] {
        add(
            format!("{what} entry"),
            one_entry(Entry::raw(b"odd", kind, b"")),
            "OtherType",
        );
    }
    for name in [&b"a\0b.jpg"[..], b"photo.jpg\0../../x", b"\0"] {
        add(
            format!("NUL byte in {:?}", String::from_utf8_lossy(name)),
            one_entry(Entry::raw(name, b'0', PHOTO)),
            "NulByte",
        );
    }
    for name in [&b"\xff\xfe.jpg"[..], b"caf\xe9.jpg", b"sub/\xc3(.jpg"] {
        add(
            format!("not UTF-8 {:?}", String::from_utf8_lossy(name)),
            one_entry(Entry::raw(name, b'0', PHOTO)),
            "NotUtf8",
        );
    }
    for name in [
        "a//b.jpg",
        "./a.jpg",
        "a/./b.jpg",
        "a\\..\\b.jpg",
        "a\x01b.jpg",
        "tab\there",
        "new\nline",
    ] {
        add(
            format!("unclean {name:?}"),
            one_entry(Entry::file(name, PHOTO)),
            "UncleanPath",
        );
    }
    // The same name twice, as files or folders.
    add(
        "duplicate file".into(),
        with(
            &[Listed::of("photo.jpg", PHOTO)],
            vec![
                Entry::file("photo.jpg", PHOTO),
                Entry::file("photo.jpg", PHOTO),
            ],
        ),
        "Duplicate",
    );
    add(
        "duplicate folder".into(),
        one_entry_dirs(&["d/", "d/"]),
        "Duplicate",
    );
    add(
        "second manifest".into(),
        one_entry(Entry::file("triplicate-archive.json", b"{}")),
        "Duplicate",
    );
    for (a, b) in [
        ("IMG_0001.JPG", "img_0001.jpg"),
        ("Night/a.jpg", "night/a.jpg"),
        ("ÉTÉ.jpg", "été.jpg"),
        ("caf\u{e9}.jpg", "cafe\u{301}.jpg"),
        ("\u{212b}ngstr\u{f6}m.jpg", "\u{c5}ngstr\u{f6}m.jpg"),
        ("Straße.jpg", "STRASSE.jpg"),
        ("ǅ.jpg", "ǆ.jpg"),
    ] {
        let (da, db) = (b"first".as_slice(), b"second".as_slice());
        // ß does not fold to "ss" with simple lowercasing: those two do not collide,
        // and the archive is fine but for the extra entry.
        let expect = if a == "Straße.jpg" {
            "NotInManifest"
        } else {
            "Collides"
        };
        add(
            format!("collision {a} / {b}"),
            with(
                &[Listed::of(a, da), Listed::of("other.jpg", db)],
                vec![Entry::file(a, da), Entry::file(b, db)],
            ),
            expect,
        );
    }
    add(
        "file then folder of the same name".into(),
        with(
            &[Listed::of("a", PHOTO), Listed::of("a/b.jpg", PHOTO)],
            vec![Entry::file("a", PHOTO), Entry::file("a/b.jpg", PHOTO)],
        ),
        "BadManifest",
    );
    add(
        "file, then a folder entry of its name".into(),
        one_entry(Entry::raw(b"photo.jpg/", b'5', b"")),
        "FileAndFolder",
    );
    add(
        "file under a file".into(),
        one_entry(Entry::file("photo.jpg/inner.jpg", PHOTO)),
        "FileAndFolder",
    );
    // Sizes and hashes that do not match.
    for (listed, actual) in [
        (10u64, PHOTO.len()),
        (0, 5),
        (1 << 40, 3),
        (PHOTO.len() as u64 + 1, PHOTO.len()),
    ] {
        let data = vec![7u8; actual];
        let mut l = Listed::of("photo.jpg", &data);
        l.size = listed;
        add(
            format!("size {actual} listed as {listed}"),
            with(&[l], vec![Entry::file("photo.jpg", &data)]),
            "SizeMismatch",
        );
    }
    for flip in [0usize, 5, PHOTO.len() - 1] {
        let mut data = PHOTO.to_vec();
        data[flip] ^= 0x20;
        add(
            format!("byte {flip} changed"),
            with(
                &[Listed::of("photo.jpg", PHOTO)],
                vec![Entry::file("photo.jpg", &data)],
            ),
            "HashMismatch",
        );
    }
    add(
        "file not in the manifest".into(),
        one_entry(Entry::file("extra.jpg", PHOTO)),
        "NotInManifest",
    );
    add(
        "file missing from the archive".into(),
        with(
            &[
                Listed::of("photo.jpg", PHOTO),
                Listed::of("gone.jpg", PHOTO),
            ],
            vec![Entry::file("photo.jpg", PHOTO)],
        ),
        "Missing",
    );
    // The manifest itself.
    add(
        "no manifest, a photo first".into(),
        tar(&[Entry::file("photo.jpg", PHOTO)], true),
        "ManifestNotFirst",
    );
    add(
        "manifest second".into(),
        tar(
            &[
                Entry::file("photo.jpg", PHOTO),
                Entry::file(
                    "triplicate-archive.json",
                    &manifest("x", &[Listed::of("photo.jpg", PHOTO)]),
                ),
            ],
            true,
        ),
        "ManifestNotFirst",
    );
    add(
        "nothing but the end marker".into(),
        tar(&[], true),
        "NoManifest",
    );
    for (what, text) in [
        ("not JSON", &b"not json at all"[..]),
        ("empty", b""),
        ("another format", br#"{"format":"zip","version":1,"id":"a","kind":"config","node":"n","created":"c","tool":"t","files":[]}"#),
        ("a later version", br#"{"format":"triplicate-archive","version":9,"id":"a","kind":"config","node":"n","created":"c","tool":"t","files":[]}"#),
        ("an unknown kind", br#"{"format":"triplicate-archive","version":1,"id":"a","kind":"movies","node":"n","created":"c","tool":"t","files":[]}"#),
        ("an array", b"[1,2,3]"),
    ] {
        add(
            format!("manifest {what}"),
            tar(&[Entry::file("triplicate-archive.json", text)], true),
            "BadManifest",
        );
    }
    for bad in ["../x.jpg", "/abs.jpg", "a//b.jpg", "dup.jpg"] {
        let mut listed = vec![Listed::of(bad, PHOTO)];
        if bad == "dup.jpg" {
            listed.push(Listed::of("DUP.jpg", PHOTO));
        }
        add(
            format!("manifest lists {bad}"),
            with(&listed, vec![Entry::file(bad, PHOTO)]),
            "BadManifest",
        );
    }
    for id in ["../../id", "id with spaces", "", "a/b"] {
        add(
            format!("manifest id {id:?}"),
            tar(
                &[Entry::file("triplicate-archive.json", &manifest(id, &[]))],
                true,
            ),
            "BadManifest",
        );
    }
    let mut bad_hash = Listed::of("photo.jpg", PHOTO);
    bad_hash.blake3 = "not-a-hash".into();
    add(
        "manifest hash not hex".into(),
        with(&[bad_hash], vec![Entry::file("photo.jpg", PHOTO)]),
        "BadManifest",
    );
    add(
        "manifest is a folder".into(),
        tar(&[Entry::raw(b"triplicate-archive.json", b'5', b"")], true),
        "BadManifest",
    );
    // The end of the tar stream.
    let good = valid_tar("20261120T100000Z-00000001", &[("photo.jpg", PHOTO)]);
    add(
        "no tar end marker".into(),
        good[..good.len() - 1024].to_vec(),
        "Truncated",
    );
    add(
        "half an end marker".into(),
        good[..good.len() - 512].to_vec(),
        "Truncated",
    );
    for junk in [&b"junk"[..], b"\x01", &[0xffu8; 512][..]] {
        let mut t = good.clone();
        t.extend_from_slice(junk);
        add(
            format!("{} bytes after the end marker", junk.len()),
            t,
            "DataAfterEnd",
        );
    }
    {
        let mut t = good.clone();
        t.extend(tar(&[Entry::file("hidden.jpg", PHOTO)], true));
        add(
            "a second tar after the end marker".into(),
            t,
            "DataAfterEnd",
        );
    }
    {
        // Cut inside the photo's data.
        let cut = good.len() - 1024 - 512 + 10;
        add(
            "cut inside an entry".into(),
            good[..cut].to_vec(),
            "Truncated",
        );
    }
    cases
}

fn one_entry_dirs(dirs: &[&str]) -> Vec<u8> {
    let mut entries = vec![Entry::file("photo.jpg", PHOTO)];
    entries.extend(dirs.iter().map(|d| Entry::raw(d.as_bytes(), b'5', b"")));
    with(&[Listed::of("photo.jpg", PHOTO)], entries)
}

/// Every malformed archive: the tar cases compressed with gzip and with zstd, and the
/// cases of the compressed stream itself.
pub fn corpus() -> Vec<Malformed> {
    let mut out = Vec::new();
    for (name, tar_bytes, expect) in tar_cases() {
        out.push(Malformed {
            name: format!("{name} (gzip)"),
            bytes: gzip(&tar_bytes),
            expect,
        });
        out.push(Malformed {
            name: format!("{name} (zstd)"),
            bytes: zstd(&tar_bytes),
            expect,
        });
    }
    let good_tar = valid_tar(
        "20261120T100000Z-00000002",
        &[("photo.jpg", PHOTO), ("b/c.jpg", &[9u8; 5000])],
    );
    for (label, good) in [("gzip", gzip(&good_tar)), ("zstd", zstd(&good_tar))] {
        let mut add = |name: String, bytes: Vec<u8>, expect: &'static str| {
            out.push(Malformed {
                name: format!("{name} ({label})"),
                bytes,
                expect,
            })
        };
        for cut in [
            good.len() / 4,
            good.len() / 2,
            good.len() - 20,
            good.len() - 1,
        ] {
            add(
                format!("cut at {cut} of {}", good.len()),
                good[..cut].to_vec(),
                "Truncated",
            );
        }
        for junk in [
            &b"x"[..],
            b"\0\0\0\0",
            b"trailing junk here",
            &[0u8; 4096][..],
        ] {
            let mut b = good.clone();
            b.extend_from_slice(junk);
            add(
                format!("{} junk bytes after the stream", junk.len()),
                b,
                "TrailingBytes",
            );
        }
        let mut b = good.clone();
        let second = if label == "gzip" {
            gzip(&tar(&[Entry::file("evil.jpg", PHOTO)], true))
        } else {
            zstd(&tar(&[Entry::file("evil.jpg", PHOTO)], true))
        };
        b.extend(second);
        add("a second member after the first".into(), b, "ExtraMember");
        let mut b = good.clone();
        b.extend(if label == "gzip" {
            gzip(b"")
        } else {
            zstd(b"")
        });
        add("an empty second member".into(), b, "ExtraMember");
    }
    {
        let mut add = |name: &str, bytes: Vec<u8>, expect: &'static str| {
            out.push(Malformed {
                name: name.into(),
                bytes,
                expect,
            })
        };
        add("an empty file", Vec::new(), "Empty");
        add("a plain tar", good_tar.clone(), "NotCompressed");
        add(
            "random bytes",
            (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect(),
            "NotCompressed",
        );
        add(
            "a zip file",
            b"PK\x03\x04 not a tar".to_vec(),
            "NotCompressed",
        );
        let mut header_only = gzip(&good_tar);
        header_only.truncate(10);
        add("only a gzip header", header_only, "Truncated");
        let mut bad_crc = gzip(&good_tar);
        let n = bad_crc.len();
        bad_crc[n - 8] ^= 0xff;
        add("a wrong gzip CRC", bad_crc, "Damaged");
        let mut bad_len = gzip(&good_tar);
        let n = bad_len.len();
        bad_len[n - 1] ^= 0x01;
        add("a wrong gzip length", bad_len, "Damaged");
    }
    out
}

/// A gzip bomb: a valid-looking archive whose one entry is `size` zero bytes,
/// compressing more than 1000:1. Written to `out` as it is made, in little memory.
pub fn gzip_bomb(size: u64, out: impl Write) {
    let zeros_hash = {
        let mut h = blake3::Hasher::new();
        let block = vec![0u8; 1 << 20];
        let mut left = size;
        while left > 0 {
            let n = left.min(block.len() as u64) as usize;
            h.update(&block[..n]);
            left -= n as u64;
        }
        h.finalize().to_hex().to_string()
    };
    let listed = Listed {
        path: "zeros.raw".into(),
        size,
        blake3: zeros_hash,
    };
    let mut head = tar(
        &[Entry::file(
            "triplicate-archive.json",
            &manifest("20261120T100000Z-00000b0b", &[listed]),
        )],
        false,
    );
    head.extend_from_slice(&header(b"zeros.raw", b'0', size, b""));
    let mut gz = flate2::write::GzEncoder::new(out, flate2::Compression::best());
    gz.write_all(&head).unwrap();
    let block = vec![0u8; 1 << 20];
    let mut left = size.div_ceil(512) * 512 + 1024;
    while left > 0 {
        let n = left.min(block.len() as u64) as usize;
        gz.write_all(&block[..n]).unwrap();
        left -= n as u64;
    }
    gz.finish().unwrap();
}
