use super::*;

fn time(s: &str) -> NaiveDateTime {
    NaiveDateTime::parse_from_str(s, "%Y-%m-%d %H:%M:%S").unwrap()
}

fn captured(path: &Path) -> Option<(NaiveDateTime, CaptureSource)> {
    read(path, &Zone::named("UTC").unwrap()).captured
}

#[test]
fn reads_date_time_original_from_jpeg_and_tiff_raws() {
    use triplicate_testkit as kit;
    let dir = tempfile::tempdir().unwrap();
    let payload = kit::noise("x", 4096);
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("a.JPG", kit::jpeg("2023:07:14 21:05:09", &payload)),
        // A few bytes of picture: nom-exif's reader wants more, exiftool does not.
        ("tiny.JPG", kit::jpeg("2023:07:14 21:05:09", b"five")),
        ("a.CR2", kit::tiff_raw("2023:07:14 21:05:09", &payload)),
        ("a.NEF", kit::tiff_raw("2023:07:14 21:05:09", &payload)),
        ("a.ORF", {
            let mut raw = kit::tiff_raw("2023:07:14 21:05:09", &payload);
            raw[2] = b'R';
            raw[3] = b'O';
            raw
        }),
        // Panasonic's magic number; exiftool wants Panasonic's raw data besides.
        ("a.RW2", {
            let mut raw = kit::tiff_raw("2023:07:14 21:05:09", &payload);
            raw[2] = b'U';
            raw[3] = 0;
            raw
        }),
    ];
    for (name, bytes) in cases {
        let p = dir.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        assert_eq!(
            captured(&p),
            Some((time("2023-07-14 21:05:09"), CaptureSource::Exif)),
            "{name}"
        );
    }
}

#[test]
fn a_large_raw_is_read_where_its_metadata_is() {
    use triplicate_testkit as kit;
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("big.NEF");
    std::fs::write(
        &p,
        kit::tiff_raw("2024:05:17 10:00:00", &kit::noise("big", 20 << 20)),
    )
    .unwrap();
    let info = read(&p, &Zone::machine());
    assert_eq!(
        info.captured,
        Some((time("2024-05-17 10:00:00"), CaptureSource::Exif))
    );
    assert_eq!(info.make.as_deref(), Some("Nikon"));
}

#[test]
fn jpeg_xl_is_dated_by_its_exif_box() {
    let tiff = triplicate_testkit::tiff_raw("2021:02:03 04:05:06", b"");
    let mut file = Vec::new();
    let mut push_box = |kind: &[u8], body: &[u8]| {
        file.extend_from_slice(&((body.len() + 8) as u32).to_be_bytes());
        file.extend_from_slice(kind);
        file.extend_from_slice(body);
    };
    push_box(b"JXL ", &[0x0d, 0x0a, 0x87, 0x0a]);
    push_box(b"ftyp", b"jxl \0\0\0\0jxl ");
    push_box(b"jxlc", &[0xff, 0x0a, 0, 0, 0, 0]);
    let mut exif_box = 0u32.to_be_bytes().to_vec();
    exif_box.extend_from_slice(&tiff);
    push_box(b"Exif", &exif_box);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.jxl");
    std::fs::write(&p, file).unwrap();
    assert_eq!(
        captured(&p),
        Some((time("2021-02-03 04:05:06"), CaptureSource::Exif))
    );
}

#[test]
fn avi_is_dated_by_its_idit_chunk() {
    let riff = triplicate_testkit::avi("Sat Jun 15 18:30:00 2019");
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("a.avi");
    std::fs::write(&p, riff).unwrap();
    assert_eq!(
        captured(&p),
        Some((time("2019-06-15 18:30:00"), CaptureSource::Avi))
    );
}

#[test]
fn xmp_dates_are_a_fallback_in_either_form() {
    let dir = tempfile::tempdir().unwrap();
    let attribute = dir.path().join("a.xmp");
    std::fs::write(
        &attribute,
        r#"<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description xmp:CreateDate="2012-07-07T10:11:12+02:00"/></rdf:RDF></x:xmpmeta>"#,
    )
    .unwrap();
    assert_eq!(
        captured(&attribute),
        Some((time("2012-07-07 10:11:12"), CaptureSource::Xmp))
    );
    let element = dir.path().join("b.xmp");
    std::fs::write(
        &element,
        "<x:xmpmeta><rdf:Description><photoshop:DateCreated>2012-06-06</photoshop:DateCreated></rdf:Description></x:xmpmeta>",
    )
    .unwrap();
    assert_eq!(
        captured(&element),
        Some((time("2012-06-06 00:00:00"), CaptureSource::Xmp))
    );
}

#[test]
fn a_movie_header_claiming_a_gigabyte_is_not_read_into_memory() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("damaged.mp4");
    let mut head = Vec::new();
    head.extend_from_slice(&20u32.to_be_bytes());
    head.extend_from_slice(b"ftypisom\0\0\0\0isom");
    head.extend_from_slice(&(900u32 << 20).to_be_bytes());
    head.extend_from_slice(b"moov");
    std::fs::write(&p, head).unwrap();
    // Sparse: a gigabyte of zeros that takes no room.
    std::fs::File::options()
        .write(true)
        .open(&p)
        .unwrap()
        .set_len(950 << 20)
        .unwrap();
    assert_eq!(captured(&p), None);
    let peak_kib: u64 = std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap();
    assert!(peak_kib < 256 << 10, "{peak_kib} KiB held at the peak");
}

#[test]
fn nothing_to_read_gives_none() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("x.jpg");
    std::fs::write(&p, b"not a jpeg").unwrap();
    assert_eq!(captured(&p), None);
}
