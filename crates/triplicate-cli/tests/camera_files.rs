//! Real camera files, made by the tools the world uses (ImageMagick, exiftool,
//! heif-enc, cjxl, ffmpeg), with their modification times moved years away: each one
//! is filed under the day exiftool reads from it. exiftool is the oracle.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::{World, kit};

/// Runs a tool of the corpus, which `scripts/test` installs.
fn tool(program: &str, args: &[&str]) {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program}: {e} (scripts/test installs it)"));
    assert!(
        out.status.success(),
        "{program} {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn set_date(file: &Path, tag: &str, value: &str) {
    tool(
        "exiftool",
        &[
            "-q",
            // Minor warnings too (a bare JPEG XL codestream is wrapped in its container).
            "-m",
            "-overwrite_original",
            &format!("-{tag}={value}"),
            file.to_str().unwrap(),
        ],
    );
}

/// The corpus: one file of each kind, dated by its own metadata. Returns the files.
fn corpus(lib: &Path, scratch: &Path) -> Vec<PathBuf> {
    std::fs::create_dir_all(scratch).unwrap();
    let s = |name: &str| scratch.join(name);
    let at = |rel: &str| {
        let p = lib.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        p
    };
    let mut files = Vec::new();
    // Pictures large enough that their metadata lies beyond the first 256 KiB.
    tool(
        "convert",
        &[
            "-size",
            "700x700",
            "xc:",
            "+noise",
            "Random",
            s("noise.png").to_str().unwrap(),
        ],
    );
    tool(
        "convert",
        &[
            s("noise.png").to_str().unwrap(),
            "-quality",
            "100",
            s("noise.jpg").to_str().unwrap(),
        ],
    );

    let jpeg = at("phone/IMG_0001.JPG");
    std::fs::copy(s("noise.jpg"), &jpeg).unwrap();
    set_date(&jpeg, "DateTimeOriginal", "2019:06:15 18:30:00");
    files.push(jpeg);

    // PNG with its eXIf chunk after 1.4 MB of pixels.
    let png = at("screens/late-exif.png");
    let bytes = std::fs::read(s("noise.png")).unwrap();
    assert!(bytes.len() > 512 << 10);
    std::fs::write(
        &png,
        kit::png_with_exif_at_the_end(&bytes, &kit::exif_tiff("2018:03:04 05:06:07", "Test")),
    )
    .unwrap();
    files.push(png);

    // WebP, whose EXIF chunk exiftool writes at the end.
    let webp = at("web/big.webp");
    tool(
        "convert",
        &[
            s("noise.png").to_str().unwrap(),
            "-quality",
            "100",
            webp.to_str().unwrap(),
        ],
    );
    assert!(std::fs::metadata(&webp).unwrap().len() > 256 << 10);
    set_date(&webp, "DateTimeOriginal", "2017:02:03 04:05:06");
    files.push(webp);

    // HEIC from heif-enc, its EXIF item after the picture.
    let heic = at("phone/IMG_0002.HEIC");
    tool(
        "heif-enc",
        &[
            "-q",
            "100",
            "-o",
            heic.to_str().unwrap(),
            s("noise.jpg").to_str().unwrap(),
        ],
    );
    set_date(&heic, "DateTimeOriginal", "2016:07:08 09:10:11");
    files.push(heic.clone());

    // JPEG XL in its container, with an Exif box.
    let jxl = at("export/a.jxl");
    tool(
        "cjxl",
        &[
            "-q",
            "90",
            s("noise.png").to_str().unwrap(),
            jxl.to_str().unwrap(),
        ],
    );
    set_date(&jxl, "DateTimeOriginal", "2015:01:02 03:04:05");
    files.push(jxl);

    // A TIFF, as TIFF-based RAWs are.
    let tiff = at("scans/scan.tif");
    tool(
        "convert",
        &[s("noise.png").to_str().unwrap(), tiff.to_str().unwrap()],
    );
    set_date(&tiff, "DateTimeOriginal", "2014:12:24 20:00:00");
    files.push(tiff.clone());

    // A Canon CR3, built to Canon's structure.
    let cr3 = at("canon/IMG_0003.CR3");
    std::fs::write(
        &cr3,
        kit::cr3(
            "2012:11:10 09:08:07",
            "Canon EOS R5",
            &kit::noise("cr3", 300 << 10),
        ),
    )
    .unwrap();
    files.push(cr3);

    // A PNG dated only by XMP.
    let xmp = at("screens/xmp-only.png");
    std::fs::copy(s("noise.png"), &xmp).unwrap();
    set_date(&xmp, "XMP-xmp:CreateDate", "2013:05:06 07:08:09");
    files.push(xmp);

    // Videos: MP4 and MOV whose creation time is UTC (23:30 on 1 May is 2 May in
    // Tokyo), and an AVI dated by its IDIT chunk.
    for name in ["video/clip.mp4", "video/clip.mov"] {
        let clip = at(name);
        tool(
            "ffmpeg",
            &[
                "-loglevel",
                "error",
                "-f",
                "lavfi",
                "-i",
                "testsrc=d=1:s=160x120",
                "-metadata",
                "creation_time=2024-05-01T23:30:00Z",
                "-y",
                clip.to_str().unwrap(),
            ],
        );
        files.push(clip);
    }
    let avi = at("video/old.avi");
    std::fs::write(&avi, kit::avi("Sat Jun 15 18:30:00 2019")).unwrap();
    files.push(avi);
    // M4V and 3GP (whose muxer takes only H.263's sizes), dated as MP4 is.
    for (name, size) in [
        ("video/clip.m4v", "160x120"),
        ("video/phone.3gp", "176x144"),
    ] {
        let clip = at(name);
        tool(
            "ffmpeg",
            &[
                "-loglevel",
                "error",
                "-f",
                "lavfi",
                "-i",
                &format!("testsrc=d=1:s={size}"),
                "-metadata",
                "creation_time=2023-03-03T03:03:03Z",
                "-y",
                clip.to_str().unwrap(),
            ],
        );
        files.push(clip);
    }

    // MXF, as broadcast cameras write it (ffmpeg's OP1a muxer), dated by its material
    // package; exiftool takes MXF times as written.
    let mxf = at("video/A001C001.MXF");
    tool(
        "ffmpeg",
        &[
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=d=1:s=720x576:r=25",
            "-c:v",
            "mpeg2video",
            "-metadata",
            "creation_time=2022-02-22T22:22:22Z",
            "-f",
            "mxf",
            "-y",
            mxf.to_str().unwrap(),
        ],
    );
    files.push(mxf);

    // AVIF from heif-enc, its EXIF after the picture.
    let avif = at("phone/IMG_0004.avif");
    tool(
        "heif-enc",
        &[
            "-A",
            "-o",
            avif.to_str().unwrap(),
            s("noise.jpg").to_str().unwrap(),
        ],
    );
    set_date(&avif, "DateTimeOriginal", "2010:10:10 10:10:10");
    files.push(avif);

    // A Live Photo: the HEIC dated by EXIF at 07:15 in Tokyo, its clip by Apple's
    // creation date with its offset and a movie header in UTC (22:15 the day before).
    let live = at("phone/IMG_0010.HEIC");
    std::fs::copy(&heic, &live).unwrap();
    set_date(&live, "DateTimeOriginal", "2023:08:01 07:15:00");
    files.push(live);
    let clip = at("phone/IMG_0010.MOV");
    tool(
        "ffmpeg",
        &[
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=d=1:s=160x120",
            "-movflags",
            "use_metadata_tags",
            "-metadata",
            "creation_time=2023-07-31T22:15:00Z",
            "-metadata",
            "com.apple.quicktime.creationdate=2023-08-01T07:15:00+0900",
            "-y",
            clip.to_str().unwrap(),
        ],
    );
    files.push(clip);

    // A JPEG dated only by the XMP in its APP1 segment.
    let xmp_jpeg = at("export/xmp-only.jpg");
    tool(
        "convert",
        &["-size", "64x64", "xc:blue", xmp_jpeg.to_str().unwrap()],
    );
    set_date(&xmp_jpeg, "XMP-xmp:CreateDate", "2009:09:09 09:09:09");
    files.push(xmp_jpeg);

    // PEF and SRW are TIFF inside; RAF holds a JPEG preview with the EXIF.
    for (name, date) in [
        ("pentax/IMGP0001.PEF", "2008:08:08 08:08:08"),
        ("samsung/SAM_0001.SRW", "2007:07:07 07:07:07"),
    ] {
        let raw = at(name);
        std::fs::copy(&tiff, &raw).unwrap();
        set_date(&raw, "DateTimeOriginal", date);
        files.push(raw);
    }
    let preview = s("preview.jpg");
    tool(
        "convert",
        &["-size", "160x120", "xc:gray", preview.to_str().unwrap()],
    );
    set_date(&preview, "DateTimeOriginal", "2006:06:06 06:06:06");
    let raf = at("fuji/DSCF0001.RAF");
    std::fs::write(&raf, kit::raf(&std::fs::read(&preview).unwrap(), "X-T3")).unwrap();
    files.push(raf);

    // An empty file (dated by its modification time) and a copy of a photo under
    // another name.
    let empty = at("misc/empty.jpg");
    std::fs::write(&empty, b"").unwrap();
    files.push(empty);
    let copy = at("Selects/IMG_0001 copy.JPG");
    std::fs::copy(lib.join("phone/IMG_0001.JPG"), &copy).unwrap();
    files.push(copy);

    // Every file's modification time years away from when it was taken.
    for f in &files {
        tool("touch", &["-d", "2001-01-01 12:00:00", f.to_str().unwrap()]);
    }
    files
}

/// The day exiftool reads from each file: DateTimeOriginal, else CreateDate, else
/// MediaCreateDate, with QuickTime's UTC times in `zone`; else the modification time
/// in `zone` (the rule for a file without capture metadata).
fn exiftool_days(files: &[PathBuf], zone: &str) -> BTreeMap<PathBuf, String> {
    let mut args = vec![
        "-j",
        "-d",
        "%Y-%m-%d",
        "-api",
        "QuickTimeUTC",
        "-DateTimeOriginal",
        "-CreateDate",
        "-MediaCreateDate",
        "-FileModifyDate",
    ];
    args.extend(files.iter().map(|f| f.to_str().unwrap()));
    let out = Command::new("exiftool")
        .args(&args)
        .env("TZ", zone)
        .output()
        .unwrap();
    let read: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    read.iter()
        .map(|r| {
            let day = [
                "DateTimeOriginal",
                "CreateDate",
                "MediaCreateDate",
                "FileModifyDate",
            ]
            .iter()
            .find_map(|t| r[*t].as_str())
            .unwrap_or_else(|| panic!("exiftool finds no date in {r}"));
            (
                PathBuf::from(r["SourceFile"].as_str().unwrap()),
                day[..10].to_string(),
            )
        })
        .collect()
}

#[test]
fn every_file_goes_under_the_day_exiftool_reads_from_it() {
    let w = World::new();
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    let config = w.home().join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("{text}\n[scan]\ntime_zone = \"Asia/Tokyo\"\n"),
    )
    .unwrap();
    let files = corpus(&w.library(), &w.path("scratch"));
    let expected = exiftool_days(&files, "Asia/Tokyo");
    assert_eq!(expected.len(), files.len());

    w.backed_up(&[]);
    // Each file's copy, found by its content, sits in the date folder of its day.
    let stored = common::stored(&w.path("usb"));
    let mut wrong = Vec::new();
    for (file, day) in &expected {
        let hash = blake3::hash(&std::fs::read(file).unwrap())
            .to_hex()
            .to_string();
        let (key, _) = stored
            .iter()
            .find(|(_, h)| **h == hash)
            .unwrap_or_else(|| panic!("{} was not backed up", file.display()));
        let folder = key.parent().unwrap().file_name().unwrap().to_string_lossy();
        if folder != *day {
            wrong.push(format!("{}: {folder}, exiftool says {day}", file.display()));
        }
    }
    assert!(
        wrong.is_empty(),
        "filed under the wrong day:\n{}",
        wrong.join("\n")
    );
    // Each copy keeps its original's modification time.
    for (key, hash) in &stored {
        let original = files
            .iter()
            .find(|f| {
                blake3::hash(&std::fs::read(f).unwrap())
                    .to_hex()
                    .to_string()
                    == *hash
            })
            .unwrap();
        assert_eq!(mtime(&w.path("usb").join(key)), mtime(original), "{key:?}");
    }
}

fn mtime(path: &Path) -> std::time::SystemTime {
    std::fs::metadata(path).unwrap().modified().unwrap()
}

#[test]
fn ingest_files_each_card_file_under_the_day_exiftool_reads_from_it() {
    let w = World::new();
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    let config = w.home().join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        format!("{text}\n[scan]\ntime_zone = \"Asia/Tokyo\"\n"),
    )
    .unwrap();
    // The same files, laid out as a card.
    let card = w.path("EOS_DIGITAL");
    let files = corpus(&card.join("DCIM/100TEST"), &w.path("scratch"));
    let expected = exiftool_days(&files, "Asia/Tokyo");
    let out = w.run(&["ingest", card.to_str().unwrap(), "--json"]);
    let report: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    let library = kit::tree_hashes(&w.library()).unwrap();
    let mut wrong = Vec::new();
    for (file, day) in &expected {
        let hash = blake3::hash(&std::fs::read(file).unwrap())
            .to_hex()
            .to_string();
        let (key, _) = library
            .iter()
            .find(|(_, h)| **h == hash)
            .unwrap_or_else(|| panic!("{} was not ingested: {report}", file.display()));
        let folder = key.parent().unwrap().file_name().unwrap().to_string_lossy();
        if folder != *day {
            wrong.push(format!("{}: {folder}, exiftool says {day}", file.display()));
        }
    }
    assert!(
        wrong.is_empty(),
        "filed under the wrong day:\n{}",
        wrong.join("\n")
    );
    // The card's modification times are kept in the library, at the destination,
    // and by a restore.
    let at_usb = common::stored(&w.path("usb"));
    for file in &files {
        let hash = blake3::hash(&std::fs::read(file).unwrap())
            .to_hex()
            .to_string();
        for (root, held) in [(w.library(), &library), (w.path("usb"), &at_usb)] {
            let (key, _) = held.iter().find(|(_, h)| **h == hash).unwrap();
            assert_eq!(mtime(&root.join(key)), mtime(file), "{key:?} in {root:?}");
        }
    }
    let to = w.path("restored");
    let (code, restored) = w.json("restore", &["--all", "--to", to.to_str().unwrap()]);
    assert_eq!(code, 0, "{restored}");
    for key in library.keys() {
        assert_eq!(
            mtime(&to.join(key)),
            mtime(&w.library().join(key)),
            "{key:?}"
        );
    }
}

#[test]
fn sidecars_go_with_the_photo_of_their_whole_stem_in_backup() {
    let w = World::new();
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    let lib = w.library();
    let scratch = w.path("scratch");
    std::fs::create_dir_all(&scratch).unwrap();
    let photo = |name: &str, date: &str| {
        let p = lib.join("shoots").join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        tool(
            "convert",
            &[
                "-size",
                "32x32",
                &format!(
                    "xc:{}",
                    if date.contains("06:06") {
                        "red"
                    } else {
                        "blue"
                    }
                ),
                p.to_str().unwrap(),
            ],
        );
        set_date(&p, "DateTimeOriginal", date);
    };
    photo("2012.06.06 party.jpg", "2012:06:06 20:00:00");
    photo("2012.07.07 beach.jpg", "2012:07:07 11:00:00");
    let clips = lib.join("PRIVATE/M4ROOT/CLIP");
    std::fs::create_dir_all(&clips).unwrap();
    tool(
        "ffmpeg",
        &[
            "-loglevel",
            "error",
            "-f",
            "lavfi",
            "-i",
            "testsrc=d=1:s=160x120",
            "-metadata",
            "creation_time=2024-05-01T10:00:00Z",
            "-y",
            clips.join("C0001.MP4").to_str().unwrap(),
        ],
    );
    let sidecars = [
        (lib.join("shoots/2012.07.07 beach.xmp"), "2012-07-07"),
        (lib.join("shoots/2012.06.06 party.jpg.xmp"), "2012-06-06"),
        (clips.join("C0001M01.XML"), "2024-05-01"),
    ];
    for (path, _) in &sidecars {
        std::fs::write(path, format!("<sidecar of=\"{}\"/>", path.display())).unwrap();
        tool(
            "touch",
            &["-d", "2001-01-01 12:00:00", path.to_str().unwrap()],
        );
    }
    w.backed_up(&[]);
    let stored = common::stored(&w.path("usb"));
    for (path, day) in &sidecars {
        let hash = blake3::hash(&std::fs::read(path).unwrap())
            .to_hex()
            .to_string();
        let (key, _) = stored.iter().find(|(_, h)| **h == hash).unwrap();
        assert_eq!(
            key.parent().unwrap().file_name().unwrap().to_string_lossy(),
            *day,
            "{} went to {key:?}",
            path.display()
        );
    }
}

#[test]
fn a_group_shares_the_date_of_its_best_dated_member_in_backup_and_ingest() {
    for through in ["backup", "ingest"] {
        let w = World::new();
        w.init();
        w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
        let folder = match through {
            "backup" => w.library().join("shoot"),
            _ => w.path("CARD/DCIM/100TEST"),
        };
        std::fs::create_dir_all(&folder).unwrap();
        // A JPEG its EXIF dates, and the RAW of the same shot that nothing here reads
        // (a Hasselblad 3FR of noise), its modification time years away.
        let jpeg = folder.join("IMG_0100.JPG");
        tool(
            "convert",
            &["-size", "32x32", "xc:green", jpeg.to_str().unwrap()],
        );
        set_date(&jpeg, "DateTimeOriginal", "2011:11:11 11:11:11");
        let raw = folder.join("IMG_0100.3FR");
        std::fs::write(&raw, kit::noise("3fr", 4096)).unwrap();
        for f in [&jpeg, &raw] {
            tool("touch", &["-d", "2001-01-01 12:00:00", f.to_str().unwrap()]);
        }
        let placed = if through == "backup" {
            w.backed_up(&[]);
            common::stored(&w.path("usb"))
        } else {
            let out = w.run(&["ingest", w.path("CARD").to_str().unwrap()]);
            assert!(out.status.code().is_some(), "{out:?}");
            kit::tree_hashes(&w.library()).unwrap()
        };
        for f in [&jpeg, &raw] {
            let hash = blake3::hash(&std::fs::read(f).unwrap())
                .to_hex()
                .to_string();
            let (key, _) = placed.iter().find(|(_, h)| **h == hash).unwrap();
            assert_eq!(
                key.parent().unwrap().file_name().unwrap().to_string_lossy(),
                "2011-11-11",
                "{through}: {} went to {key:?}",
                f.display()
            );
        }
    }
}

#[test]
fn a_backup_of_camera_files_says_nothing_of_the_parsers_quirks() {
    // nom-exif warns "GPSInfo not found" for every photo without GPS, which printed a
    // line per photo on every first backup.
    let w = World::new();
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    w.card("", &kit::CardSpec::default());
    let out = w.run(&["backup"]);
    // One disk is not 3-2-1: exit 1, said on the last line, and nothing else failed.
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("every copy verified"));
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(!said.contains("nom_exif"), "{said}");
}
