use super::*;

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(Path::new("/h/config.toml"), text)
}

const GOOD: &str = r#"
node = "studio"
[[library]]
name = "Downloads"
path = "/photos/in"

[[destination]]
name = "usb"
target = "/media/usb"
id = "a"
media = "hdd"
site = "onsite"
"#;

#[test]
fn loads_with_defaults() {
    let c = parse(GOOD).unwrap();
    assert_eq!(c.policy, Policy::default());
    assert_eq!(c.libraries[0].media, MediaKind::Ssd);
    assert!(c.destinations[0].enabled && c.destinations[0].automatic);
    assert_eq!(c.destinations[0].layout, "{year}/{date}/{name}");
}

fn invalid(text: &str) -> (usize, Option<String>, String) {
    match parse(text) {
        Err(ConfigError::Invalid {
            line, key, message, ..
        }) => (line, key, message),
        other => panic!("expected an invalid config, got {other:?}"),
    }
}

#[test]
fn errors_name_line_and_key() {
    let (line, key, msg) = invalid(&GOOD.replace("\"hdd\"", "\"floppy\""));
    assert_eq!(line, 11);
    assert_eq!(key.as_deref(), Some("destination[0].media"));
    assert!(msg.contains("floppy"), "{msg}");

    let (line, key, _) = invalid(&GOOD.replace("name = \"usb\"", "name = \"u b\""));
    assert_eq!((line, key.as_deref()), (8, Some("destination[0].name")));

    let (line, key, msg) = invalid(&GOOD.replace("/media/usb", "/photos/in/backup"));
    assert_eq!((line, key.as_deref()), (9, Some("destination[0].target")));
    assert!(msg.contains("outside the library"), "{msg}");

    let (_, key, msg) = invalid(&GOOD.replace(
        "site = \"onsite\"",
        "site = \"onsite\"\nlayout = \"{yr}/{name}\"",
    ));
    assert_eq!(key.as_deref(), Some("destination[0].layout"));
    assert!(msg.contains("{yr}"), "{msg}");

    let (line, _, msg) = invalid("node = \"x\"\nbogus = 1\n");
    assert_eq!(line, 2);
    assert!(msg.contains("bogus"), "{msg}");
}

#[test]
fn values_are_parsed_once_on_load_and_kept_as_written() {
    let two = format!(
        "{GOOD}\n[[destination]]\nname = \"s3\"\ntarget = \"s3://b/p\"\nid = \"b\"\nmedia = \"cloud\"\nsite = \"away\"\nbandwidth = \"20MB/s\"\nrefresh_every = \"2w\"\n"
    );
    let c = parse(&two).unwrap();
    let d = &c.destinations[1];
    assert_eq!(
        d.bandwidth.as_deref(),
        Some(&crate::values::Rate(20_000_000))
    );
    assert!(d.is_remote() && !c.destinations[0].is_remote());
    assert_eq!(
        toml::to_string(&c)
            .unwrap()
            .matches("bandwidth = \"20MB/s\"")
            .count(),
        1,
        "written back as written"
    );

    let bad = two.replace("20MB/s", "fast");
    let (line, key, msg) = invalid(&bad);
    let expected = bad.lines().position(|l| l.contains("fast")).unwrap() + 1;
    assert_eq!(
        (line, key.as_deref()),
        (expected, Some("destination[1].bandwidth"))
    );
    assert!(msg.contains("'fast' is not a bandwidth"), "{msg}");

    let (_, key, msg) = invalid(&format!("{GOOD}[verify]\ntrust_for = \"soon\"\n"));
    assert_eq!(key.as_deref(), Some("verify.trust_for"));
    assert!(msg.contains("'soon' is not a duration"), "{msg}");

    let (_, key, _) = invalid(&format!("{GOOD}[server]\nlisten = \"localhost\"\n"));
    assert_eq!(key.as_deref(), Some("server.listen"));
}

#[test]
fn a_destination_concurrency_must_be_sensible() {
    let (_, key, msg) =
        invalid(&GOOD.replace("site = \"onsite\"", "site = \"onsite\"\nconcurrency = 0"));
    assert_eq!(key.as_deref(), Some("destination[0].concurrency"));
    assert!(msg.contains("between 1 and 64"), "{msg}");
    let ok =
        parse(&GOOD.replace("site = \"onsite\"", "site = \"onsite\"\nconcurrency = 1")).unwrap();
    assert_eq!(ok.destinations[0].concurrency, Some(1));
}

#[test]
fn edits_keep_comments_and_validate() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    let mut f = ConfigFile::create(&path, "n1").unwrap();
    f.add_library(&LibraryConfig {
        name: "in".into(),
        path: "/photos/in".into(),
        media: MediaKind::Ssd,
    })
    .unwrap();
    f.save().unwrap();
    let mut text = fs::read_to_string(&path).unwrap();
    text.push_str("# my own note\n");
    fs::write(&path, &text).unwrap();

    let mut f = ConfigFile::open(&path).unwrap();
    let dest = DestinationConfig {
        name: "usb".into(),
        target: "/media/usb".parse().unwrap(),
        id: "x".into(),
        media: MediaKind::Hdd,
        site: "onsite".into(),
        enabled: true,
        automatic: true,
        layout: default_layout(),
        concurrency: None,
        credentials_file: None,
        bandwidth: None,
        encrypt_to: Vec::new(),
        identity_file: None,
        passphrase_file: None,
        offline: false,
        refresh_every: None,
        object_lock: None,
        object_lock_mode: None,
    };
    f.add_destination(&dest);
    f.set_destination_flag("usb", "enabled", false).unwrap();
    let c = f.save().unwrap();
    assert!(!c.destinations[0].enabled);
    assert!(fs::read_to_string(&path).unwrap().contains("# my own note"));

    let mut f = ConfigFile::open(&path).unwrap();
    f.add_destination(&dest);
    assert!(
        f.save().is_err(),
        "a duplicate name is refused before writing"
    );
    let mut f = ConfigFile::open(&path).unwrap();
    f.remove_destination("usb").unwrap();
    assert!(f.save().unwrap().destinations.is_empty());
}

#[test]
fn tls_and_pinned_peers_are_checked_where_they_are_written() {
    let (_, key, msg) = invalid(&format!("{GOOD}\n[server]\ntls_cert = \"/etc/c.pem\"\n"));
    assert_eq!(key.as_deref(), Some("server.tls_key"));
    assert!(msg.contains("go together"), "{msg}");
    let peer = |extra: &str| {
        format!(
            "{GOOD}\n[[grid.peer]]\nname = \"central\"\nurl = \"https://10.0.0.5:8321\"\nid = \"x\"\ntoken_file = \"/h/t\"\n{extra}"
        )
    };
    let (_, key, msg) = invalid(&peer(""));
    assert_eq!(key.as_deref(), Some("grid.peer[0].fingerprint"));
    assert!(msg.contains("needs the fingerprint"), "{msg}");
    let (_, _, msg) = invalid(&peer("fingerprint = \"abc\"\n"));
    assert!(msg.contains("not a certificate fingerprint"), "{msg}");
    let good = parse(&peer(&format!(
        "fingerprint = \"{}\"\n",
        "AB:".repeat(31) + "AB"
    )))
    .unwrap();
    assert_eq!(
        good.grid.peers[0].fingerprint.as_ref().unwrap().0,
        "ab".repeat(32)
    );
}
