use super::*;
use crate::config::{DestinationConfig, LibraryConfig};

fn config() -> Config {
    let dest = |name: &str, media, site: &str| DestinationConfig {
        name: name.into(),
        target: format!("/d/{name}").parse().unwrap(),
        id: name.into(),
        media,
        site: site.into(),
        enabled: true,
        automatic: true,
        layout: crate::config::default_layout(),
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
    Config {
        node: "n".into(),
        policy: Policy::default(),
        scan: Default::default(),
        backup: Default::default(),
        daemon: Default::default(),
        server: Default::default(),
        ingest: Default::default(),
        grid: Default::default(),
        archive: Default::default(),
        protection: Default::default(),
        verify: Default::default(),
        notify: Default::default(),
        libraries: vec![LibraryConfig {
            name: "lib".into(),
            path: "/lib".into(),
            media: MediaKind::Ssd,
        }],
        destinations: vec![
            dest("usb", MediaKind::Hdd, "onsite"),
            dest("usb2", MediaKind::Hdd, "onsite"),
            dest("ssd2", MediaKind::Ssd, "onsite"),
            dest("cloud", MediaKind::Cloud, "b2"),
        ],
    }
}

/// Each library and destination on a device of its own, except those named in
/// `shared` (pairs of places on one device).
fn devices(config: &Config, shared: &[(&str, &str)]) -> Devices {
    let dev = |name: &str| {
        let on = shared
            .iter()
            .find(|(_, b)| *b == name)
            .map_or(name, |(a, _)| *a);
        Device {
            id: DeviceId(format!("dev-{on}")),
            label: on.to_string(),
        }
    };
    Devices {
        libraries: config
            .libraries
            .iter()
            .map(|l| (l.name.clone(), dev(&l.name)))
            .collect(),
        destinations: config
            .destinations
            .iter()
            .map(|d| (d.id.clone(), dev(&d.name)))
            .collect(),
    }
}

fn row(lib: bool, dests: &[&str]) -> CoverageRow {
    CoverageRow {
        photo_id: 1,
        library: lib.then(|| "lib".to_string()),
        first_seen: 0,
        protected_at: None,
        verified_at: dests.iter().map(|d| d.to_string()).collect(),
        stale_at: Vec::new(),
        failed_at: Vec::new(),
        unreadable: false,
    }
}

#[test]
fn copies_on_one_device_count_once() {
    let config = config();
    let model = CoverageModel::new(&config, &devices(&config, &[("lib", "usb")]));
    let c = model.count(&row(true, &["usb", "cloud"]));
    assert_eq!(c.coverage.describe(), "2 copies, 2 media, 1 offsite copy");
    assert_eq!(
        c.not_counted,
        [NotCounted {
            name: "'usb'".into(),
            reason: "on the same device as library 'lib'".into()
        }]
    );
    assert_eq!(
        model.shared_devices(),
        [NotCounted {
            name: "'usb'".into(),
            reason: "on the same device as library 'lib'".into()
        }]
    );
    let model = CoverageModel::new(&config, &devices(&config, &[("usb", "usb2")]));
    let c = model.count(&row(true, &["usb", "usb2"]));
    assert_eq!(c.coverage.copies, 2, "usb2 shares usb's disk");
    let mut unreadable = row(true, &["usb", "cloud"]);
    unreadable.unreadable = true;
    assert_eq!(
        model.coverage(&unreadable).copies,
        2,
        "an unreadable original is no copy"
    );
}

proptest::proptest! {
    /// Whatever the copies, the rule never counts more copies, media or offsite
    /// copies than there are distinct devices, media and offsite devices among the
    /// holders it was given (the original and the verified copies).
    #[test]
    fn coverage_never_exceeds_distinct_devices_media_and_sites(
        holders in proptest::collection::vec((0u8..5, 0u8..4, proptest::bool::ANY), 0..12),
        excluded in proptest::collection::vec(0u8..5, 0..2),
    ) {
        let media = [MediaKind::Ssd, MediaKind::Hdd, MediaKind::Cloud, MediaKind::Nas];
        let ids: Vec<DeviceId> = (0..5).map(|i| DeviceId(format!("d{i}"))).collect();
        let names: Vec<String> = (0..holders.len()).map(|i| format!("h{i}")).collect();
        let list: Vec<Holder<'_>> = holders
            .iter()
            .zip(&names)
            .map(|((d, m, off), name)| Holder {
                name,
                device: &ids[*d as usize],
                media: media[*m as usize],
                offsite: *off,
            })
            .collect();
        let excluded: Vec<(&DeviceId, &str)> =
            excluded.iter().map(|d| (&ids[*d as usize], "the card")).collect();
        let counted = count(&list, &excluded);
        let eligible: Vec<&Holder<'_>> = list
            .iter()
            .filter(|h| !excluded.iter().any(|(d, _)| *d == h.device))
            .collect();
        let devices: BTreeSet<&DeviceId> = eligible.iter().map(|h| h.device).collect();
        let kinds: BTreeSet<MediaKind> = eligible.iter().map(|h| h.media).collect();
        let offsite: BTreeSet<&DeviceId> =
            eligible.iter().filter(|h| h.offsite).map(|h| h.device).collect();
        proptest::prop_assert!(counted.coverage.copies as usize <= devices.len());
        proptest::prop_assert_eq!(counted.coverage.copies as usize, devices.len());
        proptest::prop_assert!(counted.coverage.media as usize <= kinds.len());
        proptest::prop_assert!(counted.coverage.offsite as usize <= offsite.len());
        proptest::prop_assert!(counted.coverage.media <= counted.coverage.copies);
        proptest::prop_assert_eq!(
            counted.counted.len() + counted.not_counted.len(),
            list.len()
        );
    }
}

#[test]
fn coverage_table() {
    let config = config();
    let model = CoverageModel::new(&config, &devices(&config, &[]));
    // (original in library, verified at, (copies, media, offsite), protected, words)
    type Case<'a> = (bool, &'a [&'a str], (u32, u32, u32), bool, &'a str);
    let cases: &[Case] = &[
        (
            true,
            &[],
            (1, 1, 0),
            false,
            "1 copy, 1 medium, no offsite copy",
        ),
        (
            true,
            &["usb"],
            (2, 2, 0),
            false,
            "2 copies, 2 media, no offsite copy",
        ),
        (
            true,
            &["ssd2"],
            (2, 1, 0),
            false,
            "2 copies, 1 medium, no offsite copy",
        ),
        (
            true,
            &["usb", "usb2"],
            (3, 2, 0),
            false,
            "3 copies, 2 media, no offsite copy",
        ),
        (
            true,
            &["usb", "cloud"],
            (3, 3, 1),
            true,
            "3 copies, 3 media, 1 offsite copy",
        ),
        (
            false,
            &["usb", "cloud"],
            (2, 2, 1),
            false,
            "2 copies, 2 media, 1 offsite copy",
        ),
        (
            true,
            &["usb", "gone-dest"],
            (2, 2, 0),
            false,
            "2 copies, 2 media, no offsite copy",
        ),
    ];
    for (lib, dests, (copies, media, offsite), protected, text) in cases {
        let c = model.coverage(&row(*lib, dests));
        assert_eq!(
            (c.copies, c.media, c.offsite),
            (*copies, *media, *offsite),
            "{dests:?}"
        );
        assert_eq!(c.is_protected(&Policy::default()), *protected, "{dests:?}");
        assert_eq!(c.describe(), *text);
    }
    let weak = model.coverage(&row(true, &["ssd2"]));
    assert_eq!(
        weak.lacks(&Policy::default()),
        vec!["copies", "media", "offsite"]
    );
    let relaxed = Policy {
        copies: 2,
        media: 1,
        offsite: 0,
    };
    assert!(weak.is_protected(&relaxed));
}
