//! Cold (offline) destinations, issue #10: the yearly drive kept in a drawer. Away, it
//! raises no "not mounted" warning and fails no backup; `status` says when it was last
//! refreshed and reminds when a refresh is due; `backup --dest cold` refreshes it when
//! it is plugged in.

mod common;

use common::{dest, studio};
use serde_json::Value;

fn warnings_about(status: &Value, subject: &str) -> Vec<String> {
    status["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|w| w["subject"] == subject)
        .map(|w| w["kind"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn a_cold_destination_is_reminded_refreshed_by_hand_and_never_a_failure_when_away() {
    let w = studio();
    w.card("2024-05-17", &common::kit::CardSpec::default());
    let drawer = w.path("drawer");
    std::fs::create_dir_all(&drawer).unwrap();
    let out = w.ok(&[
        "dest",
        "add",
        "cold",
        drawer.to_str().unwrap(),
        "--media",
        "hdd",
        "--site",
        "drawer",
        "--offline",
    ]);
    assert!(out.contains("Added destination 'cold'"), "{out}");
    let config = std::fs::read_to_string(w.home().join("config.toml")).unwrap();
    assert!(
        config.contains("offline = true") && config.contains("automatic = false"),
        "{config}"
    );

    // Away in its drawer: backups succeed, nothing says "not mounted", a refresh is due.
    std::fs::rename(&drawer, w.path("drawer-away")).unwrap();
    let report = w.backed_up(&[]);
    assert_eq!(dest(&report, "cold")["state"], "offline");
    let s = w.status();
    let cold = dest(&s, "cold");
    assert_eq!(
        (cold["state"].as_str(), cold["offline"].as_bool()),
        (Some("offline"), Some(true))
    );
    assert_eq!(cold["refresh_due"], true);
    assert!(
        cold["detail"].as_str().unwrap().contains("never refreshed"),
        "{cold}"
    );
    assert_eq!(warnings_about(&s, "dest:cold"), ["refresh due"]);
    let text = w.ok(&["status"]);
    assert!(
        text.contains("OFFLINE") && text.contains("never refreshed"),
        "{text}"
    );

    // Asked for by name while away: that is an error, as for any destination.
    let (code, _) = w.backup(&["--dest", "cold"]);
    assert_eq!(code, 1);

    // Plugged in and refreshed by hand: every photo there, the reminder gone.
    std::fs::rename(w.path("drawer-away"), &drawer).unwrap();
    w.backed_up(&["--dest", "cold"]);
    let s = w.status();
    let cold = dest(&s, "cold");
    let photos = s["coverage"]["photos"].as_u64().unwrap();
    assert_eq!(cold["verified"].as_u64(), Some(photos));
    assert_eq!(cold["refresh_due"], false);
    assert!(cold["last_refreshed"].as_i64().is_some());
    assert!(
        !warnings_about(&s, "dest:cold").contains(&"refresh due".to_string()),
        "{}",
        s["warnings"]
    );

    // A short interval comes due again, and the next run raises the reminder.
    let config = std::fs::read_to_string(w.home().join("config.toml")).unwrap();
    let edited = config.replace("offline = true", "offline = true\nrefresh_every = \"1s\"");
    std::fs::write(w.home().join("config.toml"), edited).unwrap();
    std::fs::rename(&drawer, w.path("drawer-away")).unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1100));
    w.backed_up(&[]);
    let s = w.status();
    assert_eq!(warnings_about(&s, "dest:cold"), ["refresh due"]);
    assert!(
        dest(&s, "cold")["detail"]
            .as_str()
            .unwrap()
            .contains("a refresh is due")
    );
    // A bad interval is refused with the line named.
    let config = std::fs::read_to_string(w.home().join("config.toml")).unwrap();
    std::fs::write(
        w.home().join("config.toml"),
        config.replace("refresh_every = \"1s\"", "refresh_every = \"soon\""),
    )
    .unwrap();
    let out = w.run(&["status"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("refresh_every"),
        "{out:?}"
    );
}
