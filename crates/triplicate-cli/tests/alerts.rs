//! Being told: real receivers on loopback (an SMTP server, an HTTP server for webhooks,
//! ntfy, Gotify and healthchecks pings, a command hook) get what the service says when
//! something goes wrong and when it is over; nothing when a disk is away for less than
//! the grace period; one message for a hundred failures.

mod common;

use std::time::{Duration, Instant};

use common::{Killed, World, require_root, serve};
use triplicate_testkit as kit;
use triplicate_testkit::mount::Mount;
use triplicate_testkit::receivers::{HttpReceiver, Received, SmtpReceiver};

/// Appends `text` to the world's config.toml.
fn configure(w: &World, text: &str) {
    let path = w.home().join("config.toml");
    let mut config = std::fs::read_to_string(&path).unwrap();
    config.push_str(text);
    std::fs::write(&path, config).unwrap();
}

/// An email channel to `smtp`, with `grace`.
fn email_to(smtp: &SmtpReceiver, grace: &str) -> String {
    format!(
        r#"
[notify]
grace = "{grace}"
at_risk_after = "1h"

[[notify.channel]]
name = "mail"
kind = "email"
url = "smtp://127.0.0.1:{}"
security = "none"
from = "triplicate@studio.test"
to = ["admin@studio.test"]
"#,
        smtp.port
    )
}

/// A world whose photos are protected: the library, a USB disk that can be unplugged
/// (ext4 on a loop device), a NAS disk and a friend's disk offsite, each a device.
fn protected_studio() -> (World, Mount) {
    require_root();
    let w = World::new();
    w.init();
    let usb = Mount::ext4(&w.path("usb-disk"), &w.path("usb.img"), "64M");
    w.add_dest("usb", &usb.path.join("photos"), "hdd", "onsite");
    w.add_dest("nas", &w.disk("nas"), "nas", "onsite");
    w.add_dest("friend", &w.disk("friend"), "hdd", "anna-house");
    w.card("c", &kit::CardSpec::default());
    let report = w.backed_up(&[]);
    assert_eq!(report["coverage"]["at_risk"], 0, "{report}");
    (w, usb)
}

/// Waits until `check` holds, up to `secs` seconds.
fn eventually(secs: u64, what: &str, mut check: impl FnMut() -> bool) {
    let until = Instant::now() + Duration::from_secs(secs);
    while !check() {
        assert!(Instant::now() < until, "{what}: not within {secs} s");
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_disk_unplugged_past_the_grace_period_is_emailed_once_and_again_when_it_returns() {
    let (w, usb) = protected_studio();
    let smtp = SmtpReceiver::start(&w.path("smtp"));
    configure(&w, &email_to(&smtp, "3s"));
    let (_service, _) = serve(&w);
    usb.unplug_lazily();
    let subjects = smtp.wait_for(1, Duration::from_secs(30));
    assert_eq!(subjects.len(), 1, "{subjects:?}");
    assert!(
        subjects[0].ends_with("] destination 'usb': not mounted"),
        "{subjects:?}"
    );
    let mail = &smtp.messages()[0];
    assert!(mail.contains("To: admin@studio.test"), "{mail}");
    assert!(
        mail.contains("What to do: The disk or share is not there. Plug the disk in"),
        "{mail}"
    );
    // Still unplugged a while later: said once, not again.
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(smtp.subjects().len(), 1, "{:?}", smtp.subjects());

    usb.plug_back();
    let subjects = smtp.wait_for(2, Duration::from_secs(30));
    assert_eq!(subjects.len(), 2, "{subjects:?}");
    assert!(
        subjects[1].ends_with("] Resolved: destination 'usb': not mounted"),
        "{subjects:?}"
    );
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(smtp.subjects().len(), 2, "{:?}", smtp.subjects());
}

#[test]
fn a_disk_unplugged_for_less_than_the_grace_period_says_nothing() {
    let (w, usb) = protected_studio();
    let smtp = SmtpReceiver::start(&w.path("smtp"));
    configure(&w, &email_to(&smtp, "10s"));
    let (_service, _) = serve(&w);
    std::thread::sleep(Duration::from_secs(2));
    usb.unplug_lazily();
    std::thread::sleep(Duration::from_secs(4));
    usb.plug_back();
    // Past the grace period since the unplugging: nothing was ever said.
    std::thread::sleep(Duration::from_secs(10));
    assert_eq!(smtp.subjects(), Vec::<String>::new());
    // The channel works: a test message arrives.
    let said = w.ok(&["notify", "test"]);
    assert_eq!(said.trim(), "mail: sent");
    let subjects = smtp.wait_for(1, Duration::from_secs(10));
    assert!(subjects[0].ends_with("] test message"), "{subjects:?}");
}

/// A webhook channel "hook" to `url` taking `events`, told of every problem at once
/// (no grace), of photos at risk only after an hour.
fn webhook_at_once(url: &str, events: &str) -> String {
    format!(
        r#"
[notify]
grace = "0s"
at_risk_after = "1h"

[[notify.channel]]
name = "hook"
kind = "webhook"
url = "{url}"
events = {events}
"#
    )
}

/// Every kind of HTTP channel, and a command hook, on one receiver.
fn every_hook(w: &World, http: &HttpReceiver) -> std::path::PathBuf {
    let token = w.path("gotify-token");
    std::fs::write(&token, "A-gotify-app-token\n").unwrap();
    let hook_out = w.path("hook.jsonl");
    configure(w, &webhook_at_once(&http.url("hook"), "[]"));
    configure(
        w,
        &format!(
            r#"
[[notify.channel]]
name = "phone"
kind = "ntfy"
url = "{}"

[[notify.channel]]
name = "gotify"
kind = "gotify"
url = "{}"
credentials_file = "{}"

[[notify.channel]]
name = "script"
kind = "command"
command = "cat >> {}; echo >> {}"
"#,
            http.url("photo-alerts"),
            http.url("gotify"),
            token.display(),
            hook_out.display(),
            hook_out.display()
        ),
    );
    hook_out
}

fn lines_of(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

#[test]
fn webhook_ntfy_gotify_and_a_command_each_get_the_event_and_a_restart_repeats_nothing() {
    let w = common::studio();
    let http = HttpReceiver::start(&w.path("receiver"));
    let hook_out = every_hook(&w, &http);
    let (service, _) = serve(&w);
    // The NAS folder is renamed away: to Triplicate, a share that is not mounted.
    std::fs::rename(w.path("nas"), w.path("nas-away")).unwrap();
    let got = http.wait_for(3, Duration::from_secs(30));
    let at =
        |path: &str| -> Vec<Received> { got.iter().filter(|r| r.path == path).cloned().collect() };
    let hook = at("/hook");
    assert_eq!(hook.len(), 1, "{got:?}");
    let event = hook[0].json();
    assert_eq!(event["kind"], "destination", "{event}");
    assert_eq!(event["phase"], "started");
    assert_eq!(event["severity"], "warning");
    assert_eq!(event["key"], "destination:nas");
    assert_eq!(event["title"], "destination 'nas': not mounted");
    assert!(
        event["advice"]
            .as_str()
            .unwrap()
            .starts_with("The disk or share is not there"),
        "{event}"
    );
    // ntfy: JSON publishing to the server's root, the topic named inside.
    let ntfy = at("/");
    assert_eq!(ntfy.len(), 1, "{got:?}");
    let n = ntfy[0].json();
    assert_eq!(n["topic"], "photo-alerts");
    assert_eq!(n["priority"], 4);
    assert!(
        n["title"]
            .as_str()
            .unwrap()
            .ends_with("] destination 'nas': not mounted"),
        "{n}"
    );
    // Gotify: its message API, with the application token.
    let gotify = at("/gotify/message");
    assert_eq!(gotify.len(), 1, "{got:?}");
    assert_eq!(gotify[0].headers["x-gotify-key"], "A-gotify-app-token");
    assert_eq!(gotify[0].json()["priority"], 5);
    // The command hook read the event as JSON on its standard input.
    eventually(10, "the command hook ran", || {
        !lines_of(&hook_out).is_empty()
    });
    assert_eq!(lines_of(&hook_out)[0]["key"], "destination:nas");

    // A restart while the problem lasts: nothing said twice.
    drop(service);
    let (_service, _) = serve(&w);
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(http.received().len(), 3, "{:?}", http.received());
    assert_eq!(lines_of(&hook_out).len(), 1);

    // Back: each is told it is resolved, once.
    std::fs::rename(w.path("nas-away"), w.path("nas")).unwrap();
    let got = http.wait_for(6, Duration::from_secs(30));
    let resolved: Vec<&Received> = got.iter().filter(|r| r.path == "/hook").collect();
    assert_eq!(resolved.len(), 2, "{got:?}");
    assert_eq!(resolved[1].json()["phase"], "resolved");
    eventually(10, "the command hook ran again", || {
        lines_of(&hook_out).len() == 2
    });
    assert_eq!(lines_of(&hook_out)[1]["phase"], "resolved");
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(http.received().len(), 6);
}

#[test]
fn healthchecks_pings_each_pass_start_and_success_or_fail_and_nothing_once_stopped() {
    let w = common::studio();
    let http = HttpReceiver::start(&w.path("receiver"));
    configure(
        &w,
        &format!(
            r#"
[[notify.channel]]
name = "hc"
kind = "healthchecks"
url = "{}"
"#,
            http.url("ping/3f1c")
        ),
    );
    let paths = |got: &[Received]| got.iter().map(|r| r.path.clone()).collect::<Vec<_>>();
    // A pass for cron: start, then fail, since two onsite disks leave photos at risk.
    w.card("c", &kit::CardSpec::default());
    let out = w.run(&["run", "--once", "--settle", "0"]);
    assert_eq!(out.status.code(), Some(1));
    let got = http.received();
    assert_eq!(paths(&got), ["/ping/3f1c/start", "/ping/3f1c/fail"]);
    assert!(
        got[1].body.contains("10 of 10 photos at risk"),
        "{}",
        got[1].body
    );
    // A policy these disks meet: the service's passes end in success.
    let config = w.home().join("config.toml");
    let text = std::fs::read_to_string(&config).unwrap();
    std::fs::write(
        &config,
        text.replace(
            "copies = 3\nmedia = 2\noffsite = 1",
            "copies = 1\nmedia = 1\noffsite = 0",
        ),
    )
    .unwrap();
    let (service, _) = serve(&w);
    let got = http.wait_for(4, Duration::from_secs(30));
    assert_eq!(
        paths(&got)[2..],
        ["/ping/3f1c/start", "/ping/3f1c"],
        "{got:?}"
    );
    assert!(
        got[3].body.contains("all 10 photos protected"),
        "{}",
        got[3].body
    );
    // Stopped: no ping at all, which is what the pinged side notices.
    drop(service);
    let before = http.received().len();
    std::thread::sleep(Duration::from_secs(4));
    assert_eq!(http.received().len(), before);
}

#[test]
fn a_hundred_copy_failures_are_one_message_with_their_count() {
    let w = World::unprivileged();
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    let day = w.library().join("shoot");
    std::fs::create_dir_all(&day).unwrap();
    for i in 0..100 {
        let jpeg = kit::jpeg(
            "2024:06:01 10:00:00",
            &kit::noise(&format!("failing-{i}"), 2_000),
        );
        std::fs::write(day.join(format!("IMG_{i:04}.JPG")), jpeg).unwrap();
    }
    w.give(&w.library());
    // The day's folder at the destination belongs to someone else: every copy fails
    // with "permission denied", which no retry fixes.
    let folder = w.path("usb/2024/2024-06-01");
    std::fs::create_dir_all(&folder).unwrap();
    kit::mount::sh(
        "chown",
        &["-R", "root:root", w.path("usb/2024").to_str().unwrap()],
    );
    kit::mount::sh(
        "chmod",
        &["-R", "555", w.path("usb/2024").to_str().unwrap()],
    );
    let (code, report) = w.backup(&[]);
    assert_eq!(code, 1);
    assert_eq!(common::dest(&report, "usb")["failed"], 100, "{report}");

    let http = HttpReceiver::start(&w.path("receiver"));
    w.give(&w.path("receiver"));
    configure(&w, &webhook_at_once(&http.url("hook"), "[]"));
    let _service: Killed = serve(&w).0;
    let got = http.wait_for(1, Duration::from_secs(30));
    // Passes keep trying, and failing, meanwhile.
    std::thread::sleep(Duration::from_secs(4));
    let copies: Vec<serde_json::Value> = http
        .received()
        .iter()
        .map(Received::json)
        .filter(|e| e["kind"] == "copies")
        .collect();
    assert_eq!(copies.len(), 1, "{got:?}");
    assert_eq!(copies[0]["count"], 100);
    assert_eq!(copies[0]["title"], "100 copies to 'usb' need a person");
}

#[test]
fn notify_test_names_each_channel_that_failed_and_checks_its_settings() {
    let w = common::studio();
    let http = HttpReceiver::start(&w.path("receiver"));
    let closed = kit::servers::free_port();
    configure(
        &w,
        &format!(
            r#"
[[notify.channel]]
name = "hook"
kind = "webhook"
url = "{}"

[[notify.channel]]
name = "dead"
kind = "webhook"
url = "http://127.0.0.1:{closed}/"
"#,
            http.url("hook")
        ),
    );
    let out = w.run(&["notify", "test"]);
    assert_eq!(out.status.code(), Some(1));
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(said.contains("hook: sent\n"), "{said}");
    assert!(
        said.contains(&format!(
            "dead: NOT SENT: channel 'dead': http://127.0.0.1:{closed}/ cannot be reached"
        )),
        "{said}"
    );
    let got = http.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].json()["kind"], "test");
    assert_eq!(w.ok(&["notify", "test", "hook"]).trim(), "hook: sent");
    let listed = w.ok(&["notify", "list"]);
    assert!(
        listed.contains("hook: webhook http://127.0.0.1:")
            && listed.contains("takes every kind but digests and ingests, from severity warning"),
        "{listed}"
    );
    let out = w.run(&["notify", "test", "pager"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("no notification channel named 'pager'; the channels are: hook, dead"),
        "{out:?}"
    );
    // An email channel without recipients is refused with its line.
    configure(
        &w,
        r#"
[[notify.channel]]
name = "mail"
kind = "email"
url = "smtp://127.0.0.1:25"
from = "me@studio.test"
"#,
    );
    let out = w.run(&["notify", "test"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("config.toml:")
            && err.contains(": notify.channel[2].to: an email channel needs to = [addresses]"),
        "{err}"
    );
}

#[test]
fn a_restore_drill_finds_a_destination_whose_copies_were_replaced() {
    let w = common::studio();
    w.card("c", &kit::CardSpec::default());
    w.backed_up(&[]);
    // Every copy on the USB disk replaced by other bytes of the same size (a bad
    // migration, a tool that "repaired" the disk): the names are all still there.
    for f in kit::files_under(&w.path("usb")) {
        if f.components().any(|c| c.as_os_str() == ".triplicate") {
            continue;
        }
        let len = std::fs::metadata(&f).unwrap().len() as usize;
        std::fs::write(&f, kit::noise(&f.display().to_string(), len)).unwrap();
    }
    let http = HttpReceiver::start(&w.path("receiver"));
    configure(&w, &webhook_at_once(&http.url("hook"), r#"["drill"]"#));
    let (_service, _) = serve(&w);
    // A destination never drilled is drilled at once.
    eventually(30, "both destinations drilled", || {
        let s = w.status();
        !common::dest(&s, "usb")["last_drill"].is_null()
            && !common::dest(&s, "nas")["last_drill"].is_null()
    });
    let s = w.status();
    let usb = &common::dest(&s, "usb")["last_drill"];
    assert_eq!(usb["ok"], false, "{usb}");
    assert!(
        usb["message"]
            .as_str()
            .unwrap()
            .starts_with("restoring 3 photos from 'usb' alone did not give them back"),
        "{usb}"
    );
    let nas = &common::dest(&s, "nas")["last_drill"];
    assert_eq!(
        (nas["ok"].as_bool(), nas["photos"].as_u64()),
        (Some(true), Some(3))
    );
    // Said, and alerted.
    let text = w.ok(&["status"]);
    assert!(
        text.contains("last restore drill") && text.contains("FAILED: restoring 3 photos"),
        "{text}"
    );
    let out = w.run(&["status", "--check"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("the last restore drill at 'usb' failed"),
        "{out:?}"
    );
    let got = http.wait_for(1, Duration::from_secs(20));
    let event = got[0].json();
    assert_eq!(
        (event["kind"].as_str(), event["key"].as_str()),
        (Some("drill"), Some("drill:usb"))
    );
    assert_eq!(event["severity"], "critical");
    // The scratch folder is left empty.
    assert!(kit::files_under(&w.home().join("drills")).is_empty());
}

#[test]
fn email_goes_over_starttls_and_tls_with_a_login_and_only_to_a_server_it_trusts() {
    use triplicate_testkit::receivers::SmtpSecurity;
    let w = common::studio();
    let login = Some(("ana", "s3cret pass"));
    let starttls = SmtpReceiver::start_with(&w.path("starttls"), SmtpSecurity::StartTls, login);
    let tls = SmtpReceiver::start_with(&w.path("tls"), SmtpSecurity::Tls, login);
    let credentials = w.path("smtp-login");
    std::fs::write(&credentials, "ana\ns3cret pass\n").unwrap();
    let channel = |name: &str,
                   url: String,
                   login: &std::path::Path,
                   ca: Option<&std::path::Path>| {
        let ca = ca
            .map(|c| format!("ca_file = \"{}\"\n", c.display()))
            .unwrap_or_default();
        format!(
            "\n[[notify.channel]]\nname = \"{name}\"\nkind = \"email\"\nurl = \"{url}\"\nfrom = \"triplicate@studio.test\"\nto = [\"ana@studio.test\"]\ncredentials_file = \"{}\"\n{ca}",
            login.display()
        )
    };
    // The login is required, and only over TLS.
    let starttls_url = format!("smtp://127.0.0.1:{}", starttls.port);
    let tls_url = format!("smtps://127.0.0.1:{}", tls.port);
    configure(
        &w,
        &channel(
            "starttls",
            starttls_url.clone(),
            &credentials,
            Some(&starttls.ca_file()),
        ),
    );
    configure(
        &w,
        &channel("tls", tls_url.clone(), &credentials, Some(&tls.ca_file())),
    );
    configure(&w, &channel("unknown-ca", tls_url, &credentials, None));
    let out = w.run(&["notify", "test"]);
    let said = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{said}");
    let lines: Vec<&str> = said.lines().collect();
    assert_eq!(lines[..2], ["starttls: sent", "tls: sent"], "{said}");
    // A server whose certificate no trusted authority signed is not given the mail.
    assert!(
        lines[2].starts_with("unknown-ca: NOT SENT: channel 'unknown-ca': the email was not sent:")
            && lines[2].contains("invalid peer certificate"),
        "{said}"
    );
    assert_eq!(starttls.wait_for(1, Duration::from_secs(10)).len(), 1);
    assert_eq!(tls.wait_for(1, Duration::from_secs(10)).len(), 1);
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!((starttls.subjects().len(), tls.subjects().len()), (1, 1));
}
