//! Another account on the same machine: it cannot use the service (every route on the
//! loopback listener answers 401, the token file is the owner's alone) and cannot read
//! the copies, restores or archives of photos it could not read. Needs root, to act as
//! the unprivileged user `nobody` through `setpriv`.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::{NOBODY, kit};

/// Runs `program ARGS` as `nobody`, with `stdin`; returns whether it succeeded and its
/// standard output.
fn as_nobody(program: &str, args: &[&str], stdin: &str) -> (bool, String) {
    use std::io::Write;
    let mut child = Command::new("setpriv")
        .args([
            &format!("--reuid={NOBODY}"),
            &format!("--regid={NOBODY}"),
            "--clear-groups",
            "--",
            program,
        ])
        .args(args)
        .env("HOME", "/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), said)
}

fn nobody_reads(path: &Path) -> bool {
    as_nobody("cat", &[path.to_str().unwrap()], "").0
}

/// The files named `name` below `root`.
fn found(root: &Path, name: &str) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root).unwrap().map(Result::unwrap) {
        let path = entry.path();
        if entry.file_type().unwrap().is_dir() {
            out.extend(found(&path, name));
        } else if entry.file_name() == name {
            out.push(path);
        }
    }
    out
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// Asks every route in `routes` ("METHOD PATH" lines) as `nobody` with curl, without
/// any credential; returns "METHOD PATH STATUS" lines.
fn ask_as_nobody(url: &str, routes: &str) -> String {
    let script = r#"
base="${1%/}"
while read -r method path; do
    [ -n "$method" ] || continue
    case "$method" in POST|PUT|PATCH) body="--data-binary {}" ;; *) body="" ;; esac
    printf '%s %s ' "$method" "$path"
    curl -s -o /dev/null -w '%{http_code}\n' --max-time 10 -X "$method" \
        -H 'Content-Type: application/json' $body "$base$path"
done
"#;
    let (ok, out) = as_nobody("sh", &["-c", script, "sh", url], routes);
    assert!(ok, "the requests as nobody ran:\n{out}");
    out
}

#[test]
fn another_local_account_is_refused_everywhere_and_reads_no_private_photo() {
    common::require_root();
    let w = common::World::new();
    // Only the files' own permissions stand in the way, as in a shared home folder.
    std::fs::set_permissions(w.dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    w.init();
    w.add_dest("usb", &w.path("usb"), "hdd", "onsite");
    let day = w.library().join("2024-05-17");
    std::fs::create_dir_all(&day).unwrap();
    let private = day.join("CLIENT_PRIVATE.JPG");
    let public = day.join("PUBLIC.JPG");
    std::fs::write(&private, kit::noise("private", 5000)).unwrap();
    std::fs::write(&public, kit::noise("public", 5000)).unwrap();
    std::fs::set_permissions(&private, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::set_permissions(&public, std::fs::Permissions::from_mode(0o644)).unwrap();
    w.backed_up(&[]);

    // Copies keep their originals' bits; the destination's own folder is private.
    let usb = w.path("usb");
    let private_copy = &found(&usb, "CLIENT_PRIVATE.JPG")[0];
    let public_copy = &found(&usb, "PUBLIC.JPG")[0];
    assert_eq!(mode(private_copy), 0o600, "{}", private_copy.display());
    assert_eq!(mode(public_copy), 0o644);
    assert_eq!(mode(&usb.join(".triplicate")), 0o700);
    // A destination an earlier version made with an open `.triplicate/` is closed when
    // it is next opened for writing.
    std::fs::set_permissions(
        usb.join(".triplicate"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    w.backed_up(&[]);
    assert_eq!(mode(&usb.join(".triplicate")), 0o700);
    assert!(
        !nobody_reads(private_copy),
        "another account read a private copy"
    );
    assert!(
        nobody_reads(public_copy),
        "a public photo's copy stays readable"
    );

    // So do restored files.
    let restored = w.path("restored");
    w.ok(&["restore", "--all", "--to", restored.to_str().unwrap()]);
    let private_back = &found(&restored, "CLIENT_PRIVATE.JPG")[0];
    assert_eq!(mode(private_back), 0o600);
    assert!(!nobody_reads(private_back));
    assert!(nobody_reads(&found(&restored, "PUBLIC.JPG")[0]));

    // And archives: the file is the owner's alone.
    w.ok(&["archive", "create", "--kind", "images"]);
    let archives = w.home().join("archives");
    for a in std::fs::read_dir(&archives)
        .unwrap()
        .map(|e| e.unwrap().path())
    {
        assert_eq!(mode(&a), 0o600, "{}", a.display());
        assert!(!nobody_reads(&a));
    }

    // The service: its token is the owner's, and nothing opens without it.
    let (_service, url) = common::serve(&w);
    assert!(!nobody_reads(&w.home().join("access.token")));
    let routes: Vec<String> = triplicate_server::served()
        .into_iter()
        .filter(|r| !r.is_open())
        .map(|r| format!("{} {}", r.method, r.example()))
        .collect();
    assert!(routes.len() > 40);
    let answers = ask_as_nobody(&url, &(routes.join("\n") + "\n"));
    let lines: Vec<&str> = answers.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(lines.len(), routes.len(), "{answers}");
    for line in lines {
        assert!(line.ends_with(" 401"), "another account got: {line}");
    }
    // Nothing it asked for happened: the jobs are the service's own (its passes, its
    // scheduled checks).
    let (status, jobs) = common::http(&url, "GET", "/api/v1/jobs", "");
    assert_eq!(status, 200);
    let jobs: serde_json::Value = serde_json::from_str(&jobs).unwrap();
    assert!(
        jobs.as_array()
            .unwrap()
            .iter()
            .all(|j| j["kind"] == "automatic"
                || j["title"]
                    .as_str()
                    .unwrap()
                    .starts_with("Scheduled check of ")),
        "a job another account asked for: {jobs}"
    );
    let config = std::fs::read_to_string(w.home().join("config.toml")).unwrap();
    assert_eq!(config.matches("[[destination]]").count(), 1, "{config}");
}
