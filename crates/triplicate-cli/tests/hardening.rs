//! The faults an independent adversarial run found (issue "Hardening"), each
//! reproduced first, named after what broke.

mod common;

use std::process::Stdio;

use common::World;

#[test]
fn dest_edit_of_an_unknown_destination_with_no_option_does_not_panic() {
    let w = World::new();
    w.init();
    let out = w.run(&["dest", "edit", "nosuch"]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(!err.contains("panicked"), "{err}");
    assert!(
        err.contains("no destination named 'nosuch' (see `triplicate dest list`)"),
        "{err}"
    );
}

#[test]
fn status_into_a_closed_pipe_ends_quietly() {
    // `triplicate status --at-risk | head -1`: the reader goes away first.
    let w = World::new();
    w.init();
    for i in 0..200 {
        let path = w.library().join(format!("IMG_{i:04}.JPG"));
        std::fs::write(path, format!("photo {i}")).unwrap();
    }
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    w.backup(&[]);
    let mut child = w
        .cmd()
        .args(["status", "--at-risk"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(0), "{err}");
}
