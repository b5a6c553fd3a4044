use super::*;

fn hash(format: HashFormat, data: &[u8]) -> String {
    let mut h = format.hasher();
    h.update(data);
    h.finish()
}

#[test]
fn hashes_match_the_standards_test_vectors() {
    // The ASC MHL specification's test vector.
    assert_eq!(hash(HashFormat::Xxh64, b"abcd\n"), "0ea03b369a463d9d");
    assert_eq!(
        hash(HashFormat::Md5, b"abcd\n"),
        "f5ac8127b3b6b85cdc13f237c6005d80"
    );
    assert_eq!(
        hash(HashFormat::Sha1, b"abcd\n"),
        "3330b4373640f9e4604991e73c7e86bfd8da2dc3"
    );
    // As Python's xxhash gives them, which the reference tool uses.
    assert_eq!(hash(HashFormat::Xxh3, b"abcd\n"), "5c6d5318a0809172");
    assert_eq!(
        hash(HashFormat::Xxh128, b"abcd\n"),
        "ad3e38cc4333ed1b742b20a1b224a05e"
    );
    assert_eq!(hash(HashFormat::Xxh32, b"abcd\n"), "70e2c0fd");
    assert_eq!(hash(HashFormat::Xxh64, b"hello"), "26c7827d889f6da3");
}

#[test]
fn c4_ids_are_90_characters_of_base_58() {
    let id = c4_of(b"");
    assert_eq!(id.len(), 90);
    assert!(id.starts_with("c4"));
    // The C4 ids of nothing and of "x", as the reference tool gives them.
    assert_eq!(
        id,
        "c459dsjfscH38cYeXXYogktxf4Cd9ibshE3BHUo6a58hBXmRQdZrAkZzsWcbWtDg5oQstpDuni4Hirj75GEmTc1sFT"
    );
    assert_eq!(
        c4_of(b"x"),
        "c44HxKByB8vHF8pGdUzn6Bhf2959NQC5abfGSF13o8Ndv39kQMkqmcC1C6byRJVV5d8w2rLvwCZmdfj8Qr1tk3LvYq"
    );
    assert_eq!(c4_id(&[0; 64]), format!("c4{}", "1".repeat(88)));
}

#[test]
fn a_hash_list_reads_back_as_written() {
    let list = HashList {
        creation_date: "2026-11-22T09:00:05+00:00".into(),
        hostname: "studio & co".into(),
        tool: "triplicate".into(),
        tool_version: "0.1.0".into(),
        process: "transfer".into(),
        root: vec![DirectoryHash {
            format: HashFormat::Xxh64,
            content: "fb416aa1c6fb690c".into(),
            structure: "0dfba543fac210c9".into(),
            date: Some("2026-11-22T09:00:05+00:00".into()),
        }],
        ignore: vec![".DS_Store".into(), "ascmhl".into(), "ascmhl/".into()],
        files: vec![FileEntry {
            path: "A/<x>.txt".into(),
            size: Some(5),
            modified: None,
            hashes: vec![HashEntry {
                format: HashFormat::Xxh64,
                value: "0ea03b369a463d9d".into(),
                action: Some(Action::Original),
                date: Some("2026-11-22T09:00:05+00:00".into()),
            }],
            previous_path: None,
        }],
        directories: vec![DirectoryEntry {
            path: "A".into(),
            hashes: vec![DirectoryHash {
                format: HashFormat::Xxh64,
                content: "958fb016b1d52d7a".into(),
                structure: "e1129bd04059d722".into(),
                date: None,
            }],
        }],
    };
    assert_eq!(HashList::parse(&list.to_xml()).unwrap(), list);
}

#[test]
fn the_reference_tools_output_is_read() {
    // As `ascmhl create` 1.2 wrote it.
    let text = r#"<?xml version="1.0" encoding="UTF-8"?>
<hashlist version="2.0" xmlns="urn:ASC:MHL:v2.0">
  <creatorinfo>
<creationdate>2026-11-22T09:00:05+00:00</creationdate>
<hostname>vm</hostname>
<tool version="1.2">ascmhl</tool>
  </creatorinfo>
  <processinfo>
<process>in-place</process>
<ignore>
  <pattern>.DS_Store</pattern>
</ignore>
  </processinfo>
  <hashes>
<hash>
  <path size="5" lastmodificationdate="2026-11-22T09:00:05+00:00">A/x.txt</path>
  <md5 action="verified">f5ac8127b3b6b85cdc13f237c6005d80</md5>
  <xxh64 action="original" hashdate="2026-11-22T09:00:05.771691+00:00">0ea03b369a463d9d</xxh64>
</hash>
  </hashes>
</hashlist>"#;
    let list = HashList::parse(text).unwrap();
    assert_eq!(list.tool, "ascmhl");
    assert_eq!(list.files.len(), 1);
    assert_eq!(list.files[0].size, Some(5));
    assert_eq!(list.files[0].hashes.len(), 2);
    assert_eq!(list.files[0].hashes[1].action, Some(Action::Original));
    assert_eq!(list.ignore, vec![".DS_Store".to_string()]);
}

#[test]
fn a_chain_reads_back_as_written() {
    let links = vec![ChainLink {
        sequence: 1,
        path: "0001_card_2026-11-22_090005Z.mhl".into(),
        c4: c4_of(b"x"),
    }];
    assert_eq!(parse_chain(&chain_to_xml(&links)).unwrap(), links);
    assert!(parse_chain("<hashlist/>").is_err());
}
