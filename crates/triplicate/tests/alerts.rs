//! The alerts' rules over simulated time (the catalog's clock, moved on by the test),
//! with a real webhook receiver: the digest, the dead man, verification overdue, and
//! what happens to a message no channel took.

use std::path::Path;

use triplicate::alerts::review;
use triplicate::catalog::{advance_clock, now};
use triplicate::destination::MediaKind;
use triplicate::home::{Home, Triplicate};
use triplicate::progress::NoProgress;
use triplicate::{engine, setup};
use triplicate_testkit as kit;
use triplicate_testkit::receivers::HttpReceiver;

const DAY: i64 = 86_400;

/// A home with `photos` photos, a destination "usb", and `extra` appended to its
/// configuration.
fn home(dir: &Path, photos: usize, extra: &str) -> Triplicate {
    let library = dir.join("photos");
    std::fs::create_dir_all(&library).unwrap();
    for i in 0..photos {
        let jpeg = kit::jpeg("2024:06:01 10:00:00", &kit::noise(&format!("a{i}"), 2_000));
        std::fs::write(library.join(format!("IMG_{i:04}.JPG")), jpeg).unwrap();
    }
    let home = Home::in_dir(&dir.join("home"));
    setup::init(&home, "studio", &[library]).unwrap();
    let root = dir.join("usb");
    std::fs::create_dir_all(&root).unwrap();
    let usb = setup::NewDestination::new("usb", root.to_str().unwrap(), MediaKind::Hdd, "onsite");
    setup::add_destination(&home, "studio", &usb).unwrap();
    let mut config = std::fs::read_to_string(&home.config).unwrap();
    config.push_str(extra);
    std::fs::write(&home.config, config).unwrap();
    Triplicate::open(&home).unwrap()
}

fn webhook(name: &str, url: &str, events: &str) -> String {
    format!(
        "\n[[notify.channel]]\nname = \"{name}\"\nkind = \"webhook\"\nurl = \"{url}\"\nevents = {events}\n"
    )
}

fn events_at(receiver: &HttpReceiver) -> Vec<serde_json::Value> {
    receiver.received().iter().map(|r| r.json()).collect()
}

#[test]
fn a_digest_goes_once_a_period_with_the_coverage_and_what_changed() {
    let dir = tempfile::tempdir().unwrap();
    let hook = HttpReceiver::start(&dir.path().join("hook"));
    let t = home(
        dir.path(),
        4,
        &format!(
            "\n[notify]\ndigest = \"daily\"\n{}",
            webhook("hook", &hook.url("digest"), "[\"digest\"]")
        ),
    );
    // The first look starts the period; nothing yet.
    assert!(review(&t, None, now()).unwrap().sent.is_empty());
    engine::backup(&t, &Default::default(), &NoProgress).unwrap();
    advance_clock(DAY / 2);
    assert!(review(&t, None, now()).unwrap().sent.is_empty());
    advance_clock(DAY / 2);
    let sent = review(&t, None, now()).unwrap().sent;
    assert_eq!(sent.len(), 1, "{sent:?}");
    let digest = &events_at(&hook)[0];
    assert_eq!(digest["kind"], "digest");
    assert_eq!(digest["title"], "digest: 4 of 4 photos at risk");
    let message = digest["message"].as_str().unwrap();
    assert!(
        message.contains("Since the last digest: 4 photos arrived, 0 became protected."),
        "{message}"
    );
    assert!(
        message.contains("usb: ok, 4 verified, 0 pending, 0 failed"),
        "{message}"
    );
    // Not again within the day.
    advance_clock(DAY / 3);
    assert!(review(&t, None, now()).unwrap().sent.is_empty());
    assert_eq!(hook.received().len(), 1);
}

#[test]
fn new_photos_that_none_protect_for_stalled_after_are_the_dead_man() {
    let dir = tempfile::tempdir().unwrap();
    let hook = HttpReceiver::start(&dir.path().join("hook"));
    let t = home(
        dir.path(),
        3,
        &format!(
            "\n[notify]\nstalled_after = \"6h\"\nat_risk_after = \"30d\"\n{}",
            webhook("hook", &hook.url("x"), "[]")
        ),
    );
    // Photos arrive (scanned), and no pass ever copies them: the service is stuck.
    engine::backup(
        &t,
        &engine::BackupOptions {
            destinations: vec!["usb".into()],
            ..Default::default()
        },
        &NoProgress,
    )
    .unwrap();
    std::fs::write(
        dir.path().join("photos/IMG_9000.JPG"),
        kit::noise("late", 3_000),
    )
    .unwrap();
    triplicate::status::check(&t).unwrap();
    advance_clock(5 * 3600);
    assert!(review(&t, None, now()).unwrap().sent.is_empty());
    advance_clock(2 * 3600);
    let sent = review(&t, None, now()).unwrap().sent;
    assert_eq!(sent.len(), 1, "{sent:?}");
    let event = &events_at(&hook)[0];
    assert_eq!(
        (event["kind"].as_str(), event["severity"].as_str()),
        (Some("stalled"), Some("critical"))
    );
    assert_eq!(
        event["title"],
        "backups have stalled: new photos, none protected"
    );
}

#[test]
fn copies_left_unread_past_the_period_raise_verification_overdue() {
    let dir = tempfile::tempdir().unwrap();
    let hook = HttpReceiver::start(&dir.path().join("hook"));
    let t = home(
        dir.path(),
        5,
        &format!(
            "\n[verify]\nevery = \"30d\"\n{}",
            webhook("hook", &hook.url("x"), "[\"verification-overdue\"]")
        ),
    );
    engine::backup(&t, &Default::default(), &NoProgress).unwrap();
    // A month away from the service: nothing read the copies back.
    advance_clock(31 * DAY);
    let status = triplicate::status::status(&t, false).unwrap();
    let proofs = status.destinations[0].proofs.unwrap();
    assert_eq!((proofs.within, proofs.overdue), (0, 5));
    let triplicate::status::Health::AtRisk { reasons, .. } = status.health(Vec::new()) else {
        panic!("overdue copies are not protected");
    };
    assert!(
        reasons.contains(&"verification overdue at 'usb' for 5 copies".to_string()),
        "{reasons:?}"
    );
    review(&t, None, now()).unwrap();
    let event = &events_at(&hook)[0];
    assert_eq!(event["kind"], "verification-overdue");
    assert_eq!(event["title"], "verification overdue at 'usb': 5 copies");
    // Scheduled checks catch up: resolved.
    while triplicate::scrub::step(&t, &NoProgress).unwrap().is_some() {}
    review(&t, None, now()).unwrap();
    let events = events_at(&hook);
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[1]["phase"], "resolved");
}

#[test]
fn a_message_no_channel_took_is_tried_again_and_a_failing_channel_is_a_warning() {
    let dir = tempfile::tempdir().unwrap();
    let port = kit::servers::free_port();
    let dead = format!("http://127.0.0.1:{port}/down");
    let live = HttpReceiver::start(&dir.path().join("live"));
    let t = home(
        dir.path(),
        2,
        &format!(
            "\n[notify]\ngrace = \"0s\"\n{}{}",
            webhook("down", &dead, "[\"destination\"]"),
            webhook("live", &live.url("x"), "[\"warning\"]")
        ),
    );
    engine::backup(&t, &Default::default(), &NoProgress).unwrap();
    std::fs::rename(dir.path().join("usb"), dir.path().join("usb-away")).unwrap();
    // Nobody took the news of the destination: it is not recorded as said.
    let first = review(&t, None, now()).unwrap();
    assert!(
        first.sent.iter().all(|e| e.key != "destination:usb"),
        "{first:?}"
    );
    // The failing channel is a warning, which the other channel carries.
    let warnings = t.catalog.open_warnings().unwrap();
    let not_delivered = warnings
        .iter()
        .find(|w| w.subject == "notify:down")
        .unwrap();
    assert_eq!(not_delivered.kind, "not delivered");
    assert!(
        not_delivered.message.contains(&dead),
        "{}",
        not_delivered.message
    );
    review(&t, None, now()).unwrap();
    let carried = events_at(&live);
    assert_eq!(carried.len(), 1, "{carried:?}");
    assert_eq!(carried[0]["key"], "warning:not delivered");
    // The receiver comes up where the channel points: the news arrives at last.
    let down = HttpReceiver::start_on(&dir.path().join("down"), port);
    review(&t, None, now()).unwrap();
    let got = events_at(&down);
    assert_eq!(got.len(), 1, "{got:?}");
    assert_eq!(got[0]["key"], "destination:usb");
}

#[test]
fn photos_at_risk_are_said_only_after_at_risk_after() {
    let dir = tempfile::tempdir().unwrap();
    let hook = HttpReceiver::start(&dir.path().join("hook"));
    let t = home(
        dir.path(),
        3,
        &format!(
            "\n[notify]\nat_risk_after = \"1h\"\n{}",
            webhook("hook", &hook.url("x"), "[\"at-risk\"]")
        ),
    );
    // One onsite disk is not 3-2-1: every photo stays at risk.
    engine::backup(&t, &Default::default(), &NoProgress).unwrap();
    let first = review(&t, None, now()).unwrap();
    assert_eq!((first.sent.len(), first.waiting), (0, 1));
    advance_clock(59 * 60);
    assert!(review(&t, None, now()).unwrap().sent.is_empty());
    advance_clock(2 * 60);
    review(&t, None, now()).unwrap();
    let events = events_at(&hook);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["title"], "3 of 3 photos at risk");
    assert_eq!(events[0]["count"], 3);
}

#[test]
fn the_mass_change_alarm_and_bit_rot_are_said_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let hook = HttpReceiver::start(&dir.path().join("hook"));
    let t = home(
        dir.path(),
        60,
        &format!(
            "\n[notify]\ngrace = \"1h\"\n{}",
            webhook("hook", &hook.url("x"), "[\"mass-change\", \"bit-rot\"]")
        ),
    );
    engine::backup(&t, &Default::default(), &NoProgress).unwrap();
    assert!(review(&t, None, now()).unwrap().sent.is_empty());
    // One photo rots in place: same size, same modification time.
    let rotten = dir.path().join("photos/IMG_0001.JPG");
    let mut bytes = std::fs::read(&rotten).unwrap();
    let when = std::fs::metadata(&rotten).unwrap().modified().unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0x10;
    std::fs::write(&rotten, &bytes).unwrap();
    std::fs::File::options()
        .write(true)
        .open(&rotten)
        .unwrap()
        .set_modified(when)
        .unwrap();
    let options = triplicate::verify::VerifyOptions {
        library: true,
        ..Default::default()
    };
    triplicate::verify::verify(&t, &options, &NoProgress).unwrap();
    review(&t, None, now()).unwrap();
    let events = events_at(&hook);
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["key"], "bit-rot:library");
    assert_eq!(events[0]["severity"], "critical");
    // Most of the library rewritten at once: the guard trips, and that is said at once.
    for i in 2..60 {
        let f = dir.path().join(format!("photos/IMG_{i:04}.JPG"));
        std::fs::write(&f, kit::noise(&format!("encrypted {i}"), 2_100)).unwrap();
    }
    engine::backup(&t, &Default::default(), &NoProgress).unwrap();
    review(&t, None, now()).unwrap();
    let events = events_at(&hook);
    assert_eq!(events.len(), 2, "{events:?}");
    assert_eq!(events[1]["kind"], "mass-change");
}
