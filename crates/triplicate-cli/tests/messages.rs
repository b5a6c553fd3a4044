//! The failures people meet first, each said once: what failed, where, and what to do,
//! with no clause twice (an error that quoted its cause used to print it again:
//! "… File exists (os error 17): … File exists (os error 17)").

mod common;

use std::os::unix::fs::PermissionsExt;

use common::{World, kit};

/// No clause of `said` appears twice, nor any operating-system error.
fn assert_said_once(said: &str) {
    let clauses: Vec<&str> = said
        .split([':', ';', '\n'])
        .map(str::trim)
        .filter(|c| c.len() > 12)
        .collect();
    for c in &clauses {
        assert_eq!(
            clauses.iter().filter(|d| *d == c).count(),
            1,
            "'{c}' is said twice in: {said}"
        );
    }
    for (i, _) in said.match_indices("(os error") {
        let code = &said[i..said[i..].find(')').map_or(said.len(), |j| i + j)];
        assert_eq!(said.matches(code).count(), 1, "{code} twice in: {said}");
    }
}

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[test]
fn a_missing_card_says_which_and_what_to_do_once() {
    let w = World::new();
    w.init();
    let out = w.run(&["ingest", "/nonexistent/EOS_DIGITAL"]);
    assert_ne!(out.status.code(), Some(0));
    let said = stderr(&out);
    assert!(said.contains("/nonexistent/EOS_DIGITAL"), "{said}");
    assert!(said.contains("is it inserted and mounted?"), "{said}");
    assert_said_once(&said);
}

#[test]
fn a_restore_into_an_existing_file_says_it_is_not_a_folder() {
    let w = World::new();
    w.init();
    let file = w.path("taken");
    std::fs::write(&file, b"x").unwrap();
    let out = w.run(&["restore", "--all", "--to", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let said = stderr(&out);
    assert!(
        said.contains("it is a file, not a folder; give a folder"),
        "{said}"
    );
    assert_said_once(&said);
}

#[test]
fn an_unknown_destination_points_to_the_list() {
    let w = World::new();
    w.init();
    let out = w.run(&["backup", "--dest", "nope"]);
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let said = stderr(&out);
    assert!(
        said.contains("no destination named 'nope' (see `triplicate dest list`)"),
        "{said}"
    );
    assert_said_once(&said);
}

#[test]
fn an_unreadable_file_and_a_full_disk_are_each_said_once() {
    let w = World::unprivileged();
    w.init();
    let usb = w.disk_sized("usb", "1m");
    w.add_dest("usb", &usb, "hdd", "onsite");
    let big = kit::CardSpec {
        raw_size: 600_000,
        ..Default::default()
    };
    w.card("2024-05-17", &big);
    let files = kit::files_under(&w.library());
    std::fs::set_permissions(&files[0], std::fs::Permissions::from_mode(0o000)).unwrap();
    let out = w.run(&["backup"]);
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let said = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(
        said.contains("permission denied") || said.contains("Permission denied"),
        "{said}"
    );
    // The disk that is full, not the name of the file being staged on it.
    assert!(
        said.contains(&format!("destination 'usb' is full at {} (", usb.display())),
        "{said}"
    );
    assert!(!said.contains("partial"), "{said}");
    for line in said.lines() {
        assert_said_once(line);
    }
}

#[test]
fn the_wrong_passphrase_is_named_once() {
    let w = World::new();
    w.init();
    let passphrase = w.path("passphrase");
    std::fs::write(&passphrase, "a long and memorable passphrase\n").unwrap();
    std::fs::set_permissions(&passphrase, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::create_dir_all(w.path("vault")).unwrap();
    w.ok(&[
        "dest",
        "add",
        "vault",
        w.path("vault").to_str().unwrap(),
        "--media",
        "hdd",
        "--site",
        "friends-house",
        "--passphrase-file",
        passphrase.to_str().unwrap(),
    ]);
    w.card("2024-05-17", &kit::CardSpec::default());
    w.backed_up(&[]);
    std::fs::write(&passphrase, "not the passphrase\n").unwrap();
    let to = w.path("back");
    let out = w.run(&["restore", "--all", "--to", to.to_str().unwrap()]);
    assert_ne!(out.status.code(), Some(0), "{out:?}");
    let said = format!("{}\n{}", String::from_utf8_lossy(&out.stdout), stderr(&out));
    assert!(said.to_lowercase().contains("passphrase"), "{said}");
    for line in said.lines() {
        assert_said_once(line);
    }
}

#[test]
fn a_backup_problem_is_said_once_when_output_and_errors_go_to_one_log() {
    // As from cron or a systemd unit: `triplicate backup >> log 2>&1`. Both the live
    // error line and the closing report used to carry the whole message.
    let w = World::new();
    w.init();
    let usb = w.path("usb");
    w.add_dest("usb", &usb, "hdd", "onsite");
    std::fs::write(w.library().join("a.JPG"), kit::noise("a", 500)).unwrap();
    std::fs::remove_dir_all(&usb).unwrap();
    let log = w.path("backup.log");
    let file = std::fs::File::create(&log).unwrap();
    let out = w
        .cmd()
        .arg("backup")
        .stdout(file.try_clone().unwrap())
        .stderr(file)
        .status()
        .unwrap();
    assert_eq!(out.code(), Some(1));
    let said = std::fs::read_to_string(&log).unwrap();
    assert!(said.contains("with 1 problem (said above)"), "{said}");
    assert_said_once(&said);

    // On a terminal, where both go, the same.
    let on_terminal = std::process::Command::new("script")
        .args([
            "-qec",
            &format!(
                "{} --home '{}' backup",
                env!("CARGO_BIN_EXE_triplicate"),
                w.home().display()
            ),
            "/dev/null",
        ])
        .env_remove("TRIPLICATE_HOME")
        .stdin(std::process::Stdio::null())
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&on_terminal.stdout);
    assert!(said.contains("with 1 problem (said above)"), "{said}");
    assert_eq!(said.matches("is not mounted").count(), 1, "{said}");

    // To two places, each has it once: the report on stdout is whole by itself.
    let out = w.run(&["backup"]);
    let (report, errors) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    assert!(report.contains("with 1 problem:"), "{report}");
    assert_said_once(&report);
    assert_said_once(&errors);
}
