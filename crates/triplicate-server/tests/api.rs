//! The API through the router, without a socket: guard, validation, pagination,
//! actions, events and metrics, on a real home with a backed-up card.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, Response, StatusCode, header};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use tower::ServiceExt;
use triplicate::destination::MediaKind;
use triplicate::home::{Home, Triplicate};
use triplicate::progress::NoProgress;
use triplicate::service::Service;
use triplicate::setup::{self, NewDestination};
use triplicate_server::{Access, AppState, SharedState, app};
use triplicate_testkit as kit;

const TOKEN: &str = "correct-horse-battery-staple";
const HOST: &str = "127.0.0.1:8321";

struct World {
    dir: tempfile::TempDir,
    home: Home,
}

impl World {
    /// A library with a card, two destinations, and one backup done.
    fn new() -> World {
        let dir = tempfile::tempdir().unwrap();
        let library = dir.path().join("photos");
        kit::write_card(&library, &kit::CardSpec::default()).unwrap();
        let home = Home::in_dir(&dir.path().join("home"));
        setup::init(&home, "studio", std::slice::from_ref(&library)).unwrap();
        let w = World { dir, home };
        w.add("usb", MediaKind::Hdd, "onsite");
        w.add("nas", MediaKind::Nas, "onsite");
        let t = Triplicate::open(&w.home).unwrap();
        let report = triplicate::engine::backup(&t, &Default::default(), &NoProgress).unwrap();
        assert!(report.ok(), "{report:?}");
        w
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn add(&self, name: &str, media: MediaKind, site: &str) {
        let target = self.path(name);
        std::fs::create_dir_all(&target).unwrap();
        setup::add_destination(
            &self.home,
            "studio",
            &NewDestination::new(name, target.to_str().unwrap(), media, site),
        )
        .unwrap();
    }

    /// The server's state: every route wants [`TOKEN`] or a session signed in with it.
    fn state(&self) -> SharedState {
        let access = Access::new(HOST.parse().unwrap(), TOKEN, &[], false);
        AppState::new(self.home.clone(), Arc::new(Service::new()), access)
    }
}

/// A request with the service's token, as the owner's scripts send it.
fn request(method: &str, path: &str) -> axum::http::request::Builder {
    anonymous(method, path).header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
}

/// A request without any credential.
fn anonymous(method: &str, path: &str) -> axum::http::request::Builder {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, HOST)
}

async fn send(state: &SharedState, req: Request<Body>) -> Response<Body> {
    app(state.clone()).oneshot(req).await.unwrap()
}

async fn json_of(response: Response<Body>) -> Value {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&bytes)))
}

async fn get(state: &SharedState, path: &str) -> (StatusCode, Value) {
    let r = send(state, request("GET", path).body(Body::empty()).unwrap()).await;
    let status = r.status();
    (status, json_of(r).await)
}

async fn send_json(
    state: &SharedState,
    method: &str,
    path: &str,
    body: Value,
) -> (StatusCode, Value) {
    let r = send(
        state,
        request(method, path)
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(body.to_string()))
            .unwrap(),
    )
    .await;
    let status = r.status();
    (status, json_of(r).await)
}

/// Every route the server has, read from the router's own tables (with a sample value
/// for each parameter), and two that do not exist.
fn routes() -> Vec<(String, String)> {
    let mut all: Vec<(String, String)> = triplicate_server::served()
        .into_iter()
        .map(|r| (r.method.to_string(), r.example()))
        .collect();
    all.push(("GET".into(), "/api/v1/no-such-route".into()));
    all.push(("GET".into(), "/no-such-page".into()));
    all
}

/// The routes of the page and the API (not GRID's, which want the GRID token) that
/// want a credential.
fn guarded_routes() -> Vec<(String, String)> {
    routes()
        .into_iter()
        .filter(|(m, p)| {
            !p.starts_with("/api/v1/grid/")
                && !triplicate_server::guard::OPEN_ROUTES.contains(&(m.as_str(), p.as_str()))
        })
        .collect()
}

#[tokio::test]
async fn every_route_wants_the_token_when_one_is_configured() {
    let w = World::new();
    let state = w.state();
    let guarded = guarded_routes();
    assert!(guarded.len() > 40, "{guarded:?}");
    for (method, path) in &guarded {
        let r = send(&state, anonymous(method, path).body(Body::empty()).unwrap()).await;
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path} without a token"
        );
        let r = send(
            &state,
            anonymous(method, path)
                .header(header::AUTHORIZATION, "Bearer wrong-token-wrong-token")
                .header(header::COOKIE, "triplicate_session_8321=made-up-session-id")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        assert_eq!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path} with a wrong token"
        );
    }
    // Nothing changed behind the refusals.
    let config = triplicate::config::Config::load(&w.home.config).unwrap();
    assert_eq!(config.destinations.len(), 2);
    assert!(config.destinations.iter().all(|d| d.enabled));
    // The open ones say nothing about photos.
    let r = send(
        &state,
        anonymous("GET", "/health").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let body = r.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], b"ok\n");

    // The token opens every read.
    for (method, path) in guarded
        .iter()
        .filter(|(m, p)| m == "GET" && !p.contains("events"))
    {
        let r = send(&state, request(method, path).body(Body::empty()).unwrap()).await;
        assert_ne!(
            r.status(),
            StatusCode::UNAUTHORIZED,
            "{method} {path} with the token"
        );
    }
}

/// Signs in with the JSON form of the sign-in; returns the cookie header to send, and
/// the CSRF token.
async fn sign_in(state: &SharedState) -> (String, String) {
    let r = send(
        state,
        anonymous("POST", "/api/v1/session")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json!({ "token": TOKEN }).to_string()))
            .unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let cookies: Vec<String> = r
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .collect();
    let csrf = cookies
        .iter()
        .find_map(|c| c.strip_prefix("triplicate_csrf_8321="))
        .unwrap()
        .to_string();
    (cookies.join("; "), csrf)
}

#[tokio::test]
async fn the_page_without_a_token_is_a_sign_in_form_that_sets_a_session_not_the_token() {
    let w = World::new();
    let state = w.state();
    let r = send(&state, anonymous("GET", "/").body(Body::empty()).unwrap()).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body = r.into_body().collect().await.unwrap().to_bytes();
    let html = String::from_utf8_lossy(&body);
    assert!(
        html.contains("<form method=\"post\" action=\"/api/v1/session\"")
            && html.contains("href=\"/app.css\""),
        "{html}"
    );
    assert!(!html.contains(TOKEN));
    // Its stylesheet is served before signing in.
    let r = send(
        &state,
        anonymous("GET", "/app.css").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);

    let form = |token: &str| {
        anonymous("POST", "/api/v1/session")
            .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
            .header("sec-fetch-site", "same-origin")
            .header(header::ORIGIN, "null")
            .body(Body::from(format!("token={token}")))
            .unwrap()
    };
    let r = send(&state, form("not-the-token-at-all")).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let body = r.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("That token is not right"));
    let r = send(&state, form(TOKEN)).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let cookies: Vec<&str> = r
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap())
        .collect();
    let session = cookies
        .iter()
        .find(|c| c.starts_with("triplicate_session_8321="))
        .unwrap();
    assert!(!session.contains(TOKEN), "{session}");
    for needed in ["HttpOnly", "SameSite=Strict", "Max-Age=1209600"] {
        assert!(session.contains(needed), "{session}");
    }
    assert!(!session.contains("Secure"), "plain HTTP on loopback");
    let csrf = cookies
        .iter()
        .find(|c| c.starts_with("triplicate_csrf_8321="))
        .unwrap();
    assert!(!csrf.contains("HttpOnly"), "the page reads it: {csrf}");

    let (status, body) = {
        let r = send(
            &state,
            anonymous("POST", "/api/v1/session")
                .header(header::CONTENT_TYPE, "application/json")
                .body(Body::from(
                    json!({ "token": "nope-nope-nope-nope" }).to_string(),
                ))
                .unwrap(),
        )
        .await;
        (r.status(), json_of(r).await)
    };
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(body["error"], "that token is not right");
}

#[tokio::test]
async fn a_session_reads_changes_only_with_its_csrf_token_and_signs_out() {
    let w = World::new();
    let state = w.state();
    let (cookie, csrf) = sign_in(&state).await;
    let with_session =
        |method: &str, path: &str| anonymous(method, path).header(header::COOKIE, cookie.clone());
    let r = send(
        &state,
        with_session("GET", "/api/v1/status")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = send(
        &state,
        with_session("POST", "/api/v1/actions/rescan")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no CSRF token");
    assert!(state.service.jobs().is_empty(), "nothing was queued");
    let r = send(
        &state,
        with_session("POST", "/api/v1/actions/rescan")
            .header("x-csrf-token", "a-guess-a-guess")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "a wrong CSRF token");
    let r = send(
        &state,
        with_session("POST", "/api/v1/actions/rescan")
            .header("x-csrf-token", csrf.clone())
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);

    let r = send(
        &state,
        with_session("DELETE", "/api/v1/session")
            .header("x-csrf-token", csrf)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()
            .get_all(header::SET_COOKIE)
            .iter()
            .all(|c| c.to_str().unwrap().contains("Max-Age=0"))
    );
    let r = send(
        &state,
        with_session("GET", "/api/v1/status")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "signed out");

    // A restart of the service signs every browser out.
    let (cookie, _) = sign_in(&state).await;
    let restarted = w.state();
    let r = send(
        &restarted,
        anonymous("GET", "/api/v1/status")
            .header(header::COOKIE, cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "after a restart");
}

#[tokio::test]
async fn wrong_sign_ins_slow_down_and_a_right_one_after_the_wait_works() {
    let w = World::new();
    let state = w.state();
    let attempt = |token: &str| {
        anonymous("POST", "/api/v1/session")
            .header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(json!({ "token": token }).to_string()))
            .unwrap()
    };
    let mut statuses = Vec::new();
    let mut retry_after = None;
    for _ in 0..20 {
        let r = send(&state, attempt("wrong-wrong-wrong-wrong")).await;
        statuses.push(r.status());
        if let Some(v) = r.headers().get(header::RETRY_AFTER) {
            retry_after = Some(v.to_str().unwrap().parse::<u64>().unwrap());
        }
    }
    assert!(statuses[..9].iter().all(|s| *s == StatusCode::UNAUTHORIZED));
    assert_eq!(statuses[19], StatusCode::TOO_MANY_REQUESTS, "{statuses:?}");
    // Even the right token waits.
    let r = send(&state, attempt(TOKEN)).await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait = retry_after.expect("a Retry-After header");
    tokio::time::sleep(
        std::time::Duration::from_secs(wait) + std::time::Duration::from_millis(200),
    )
    .await;
    let r = send(&state, attempt(TOKEN)).await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_one_time_link_signs_in_once() {
    let w = World::new();
    let state = w.state();
    let code = triplicate::access::new_link(&w.home).unwrap();
    let follow = || {
        anonymous("GET", &format!("/sign-in?once={code}"))
            .header("sec-fetch-site", "none")
            .header("sec-fetch-mode", "navigate")
            .body(Body::empty())
            .unwrap()
    };
    let r = send(&state, follow()).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert_eq!(r.headers()[header::LOCATION], "/");
    let cookie = r
        .headers()
        .get_all(header::SET_COOKIE)
        .iter()
        .map(|v| v.to_str().unwrap().split(';').next().unwrap().to_string())
        .collect::<Vec<_>>()
        .join("; ");
    let r = send(
        &state,
        anonymous("GET", "/api/v1/status")
            .header(header::COOKIE, cookie)
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let r = send(&state, follow()).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "used up");
    let body = r.into_body().collect().await.unwrap().to_bytes();
    assert!(String::from_utf8_lossy(&body).contains("was used already or has expired"));
}

#[tokio::test]
async fn other_hosts_and_origins_are_refused() {
    let w = World::new();
    let state = w.state();
    // DNS rebinding: the browser sends the attacker's name as Host.
    let r = send(
        &state,
        Request::get("/api/v1/status")
            .header(header::HOST, "attacker.example:8321")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::MISDIRECTED_REQUEST);
    let r = send(
        &state,
        Request::get("/api/v1/status")
            .header(header::HOST, "localhost:9999")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(
        r.status(),
        StatusCode::MISDIRECTED_REQUEST,
        "another port is another origin"
    );

    // Another site posting an action.
    let r = send(
        &state,
        request("POST", "/api/v1/actions/backup-existing")
            .header(header::ORIGIN, "http://attacker.example")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(state.service.jobs().is_empty(), "nothing was queued");

    // The page itself, and a client without an Origin (curl), are fine.
    let r = send(
        &state,
        request("POST", "/api/v1/actions/rescan")
            .header(header::ORIGIN, format!("http://{HOST}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::ACCEPTED);
    let r = send(
        &state,
        Request::get("/api/v1/status")
            .header(header::HOST, "localhost:8321")
            .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let w = World::new();
    let state = w.state();
    let huge = json!({ "name": "x".repeat(200_000), "target": "/tmp/x", "media": "hdd", "site": "onsite" })
        .to_string();
    for declared in [true, false] {
        let mut req = request("POST", "/api/v1/destinations")
            .header(header::CONTENT_TYPE, "application/json");
        if declared {
            req = req.header(header::CONTENT_LENGTH, huge.len());
        }
        let r = send(&state, req.body(Body::from(huge.clone())).unwrap()).await;
        assert_eq!(
            r.status(),
            StatusCode::PAYLOAD_TOO_LARGE,
            "length declared: {declared}"
        );
    }
    let config = triplicate::config::Config::load(&w.home.config).unwrap();
    assert_eq!(config.destinations.len(), 2);
}

#[tokio::test]
async fn destinations_are_added_edited_and_removed_with_the_cli_checks() {
    let w = World::new();
    let state = w.state();
    let (status, list) = get(&state, "/api/v1/destinations").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 2);

    let cloud = w.path("offsite");
    std::fs::create_dir_all(&cloud).unwrap();
    let new = |name: &str, target: &Path, media: &str| json!({ "name": name, "target": target.to_str().unwrap(), "media": media, "site": "friend" });
    // The same checks as `dest add`.
    let (status, e) = send_json(
        &state,
        "POST",
        "/api/v1/destinations",
        new("bad name!", &cloud, "hdd"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    assert!(
        e["error"].as_str().unwrap().contains("not a valid name"),
        "{e}"
    );
    let (status, e) = send_json(
        &state,
        "POST",
        "/api/v1/destinations",
        new("usb", &cloud, "hdd"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    assert!(
        e["error"].as_str().unwrap().contains("exists already"),
        "{e}"
    );
    let (status, _) = send_json(
        &state,
        "POST",
        "/api/v1/destinations",
        new("x", &cloud, "floppy"),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, e) = send_json(
        &state,
        "POST",
        "/api/v1/destinations",
        new("inside", &w.path("photos/sub"), "hdd"),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "a destination inside the library: {e}"
    );

    let (status, added) = send_json(
        &state,
        "POST",
        "/api/v1/destinations",
        new("offsite", &cloud, "hdd"),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{added}");
    assert_eq!(added["offsite"], json!(true));
    assert!(
        cloud.join(".triplicate/destination.toml").is_file(),
        "the marker is written"
    );
    assert!(
        state.service.has_requests(),
        "a new destination is filled without waiting for the next change"
    );

    let (status, edited) = send_json(
        &state,
        "PATCH",
        "/api/v1/destinations/offsite",
        json!({ "automatic": false, "site": "bank-vault", "media": "hdd" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert_eq!(edited["automatic"], json!(false));
    assert_eq!(edited["site"], json!("bank-vault"));
    let (status, e) = send_json(
        &state,
        "PATCH",
        "/api/v1/destinations/offsite",
        json!({ "layout": "{nope}" }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    let (status, _) = send_json(
        &state,
        "PATCH",
        "/api/v1/destinations/offsite",
        json!({ "target": "/elsewhere" }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "the target cannot change");
    let (status, _) = send_json(
        &state,
        "PATCH",
        "/api/v1/destinations/ghost",
        json!({ "automatic": true }),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    let (status, d) = send_json(
        &state,
        "POST",
        "/api/v1/destinations/usb/disable",
        json!({}),
    )
    .await;
    assert_eq!((status, &d["enabled"]), (StatusCode::OK, &json!(false)));
    let (_, s) = get(&state, "/api/v1/status").await;
    let usb = s["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "usb")
        .unwrap();
    assert_eq!(usb["state"], "disabled");
    let (status, d) = send_json(&state, "POST", "/api/v1/destinations/usb/enable", json!({})).await;
    assert_eq!((status, &d["enabled"]), (StatusCode::OK, &json!(true)));

    let r = send(
        &state,
        request("DELETE", "/api/v1/destinations/offsite")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        cloud.join(".triplicate/destination.toml").is_file(),
        "forgetting deletes nothing"
    );
    let config = triplicate::config::Config::load(&w.home.config).unwrap();
    let names: Vec<_> = config
        .destinations
        .iter()
        .map(|d| d.name.as_str())
        .collect();
    assert_eq!(names, ["usb", "nas"]);
    let (status, _) = get(&state, "/api/v1/destinations/offsite").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn status_coverage_and_at_risk_say_what_is_safe() {
    let w = World::new();
    let state = w.state();
    let (status, s) = get(&state, "/api/v1/status").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(s["node"], "studio");
    let photos = s["coverage"]["photos"].as_u64().unwrap();
    assert!(photos >= 8, "{s}");
    for d in s["destinations"].as_array().unwrap() {
        assert_eq!(d["state"], "ok");
        assert_eq!(d["verified"].as_u64(), Some(photos));
        assert_eq!(d["pending"].as_u64(), Some(0));
        assert!(d["space"]["free"].as_u64().unwrap() > 0);
        assert!(d["last_success"].as_i64().is_some());
    }
    // Both destinations sit on the library's own disk: their copies count for nothing,
    // and the API says why.
    let (_, c) = get(&state, "/api/v1/coverage").await;
    assert_eq!(c["summary"]["at_risk"].as_u64(), Some(photos));
    let folders = c["folders"].as_array().unwrap();
    assert_eq!(folders.len(), 1, "{c}");
    assert_eq!(folders[0]["folder"], "DCIM/100CANON");
    assert_eq!(folders[0]["unprotected"].as_u64(), Some(photos));
    let (_, s) = get(&state, "/api/v1/status").await;
    let usb = s["destinations"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["name"] == "usb")
        .unwrap();
    assert_eq!(
        usb["device_note"],
        "'usb' is on the same device as library 'photos': its copies do not count toward 3-2-1"
    );

    let (_, a) = get(
        &state,
        "/api/v1/coverage/at-risk?folder=DCIM/100CANON&limit=3",
    )
    .await;
    assert_eq!(a["total"].as_u64(), Some(photos));
    assert_eq!(a["photos"].as_array().unwrap().len(), 3);
    assert_eq!(
        a["photos"][0]["lacks"],
        json!(["copies", "media", "offsite"])
    );
    assert_eq!(
        a["photos"][0]["reasons"][0],
        "the copy at 'usb' is on the same device as library 'photos'"
    );
    let (_, a) = get(&state, "/api/v1/coverage/at-risk?folder=2020-01-01").await;
    assert_eq!(a["total"].as_u64(), Some(0));

    // Copies on disks of their own, one of them offsite, make them protected.
    let _disks = [
        kit::mount::Mount::tmpfs(&w.path("vault"), "16m"),
        kit::mount::Mount::tmpfs(&w.path("nas2"), "16m"),
    ];
    w.add("vault", MediaKind::Hdd, "bank");
    w.add("nas2", MediaKind::Nas, "onsite");
    let t = Triplicate::open(&w.home).unwrap();
    triplicate::engine::backup(&t, &Default::default(), &NoProgress).unwrap();
    let (_, c) = get(&state, "/api/v1/coverage").await;
    assert_eq!(c["summary"]["protected"].as_u64(), Some(photos));
    assert_eq!(c["folders"][0]["protected"].as_u64(), Some(photos));
}

#[tokio::test]
async fn the_form_refuses_a_missing_folder_unless_asked_to_create_it() {
    let w = World::new();
    let state = w.state();
    let typo = w.path("media/USB-BACKPU");
    let body = |create: bool| {
        json!({
            "name": "usb2", "target": typo, "media": "hdd", "site": "onsite", "create": create
        })
    };
    let (status, refusal) = send_json(&state, "POST", "/api/v1/destinations", body(false)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        refusal
            .to_string()
            .contains("USB-BACKPU does not exist: is the disk mounted?"),
        "{refusal}"
    );
    assert!(!typo.exists());
    let (status, _) = send_json(&state, "POST", "/api/v1/destinations", body(true)).await;
    assert_eq!(status, StatusCode::CREATED);
    assert!(typo.join(".triplicate/destination.toml").is_file());
}

#[tokio::test]
async fn patching_an_unknown_destination_with_nothing_is_not_found_not_a_panic() {
    let w = World::new();
    let state = w.state();
    let (status, body) = send_json(&state, "PATCH", "/api/v1/destinations/nosuch", json!({})).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    assert!(!body.to_string().contains("panicked"), "{body}");
    assert!(
        body.to_string().contains("no destination named 'nosuch'"),
        "{body}"
    );
}

#[tokio::test]
async fn operations_page_backwards_and_filter_errors() {
    let w = World::new();
    let state = w.state();
    let (_, all) = get(&state, "/api/v1/operations?limit=1000").await;
    let all: Vec<i64> = all["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_i64().unwrap())
        .collect();
    assert!(all.len() >= 16, "{all:?}");
    assert!(all.windows(2).all(|p| p[0] > p[1]), "newest first");

    let mut seen = Vec::new();
    let mut path = "/api/v1/operations?limit=5".to_string();
    loop {
        let (_, page) = get(&state, &path).await;
        seen.extend(
            page["operations"]
                .as_array()
                .unwrap()
                .iter()
                .map(|o| o["id"].as_i64().unwrap()),
        );
        match page["next_before"].as_i64() {
            Some(before) => path = format!("/api/v1/operations?limit=5&before={before}"),
            None => break,
        }
    }
    assert_eq!(seen, all, "pages join up without gaps or repeats");

    let (_, newer) = get(&state, &format!("/api/v1/operations?after={}", all[2])).await;
    let newer: Vec<i64> = newer["operations"]
        .as_array()
        .unwrap()
        .iter()
        .map(|o| o["id"].as_i64().unwrap())
        .collect();
    assert_eq!(newer, all[..2]);

    let (_, errors) = get(&state, "/api/v1/operations?errors=true").await;
    assert!(errors["operations"].as_array().unwrap().is_empty());
}

#[tokio::test]
async fn warnings_explain_themselves_and_can_be_acknowledged() {
    let w = World::new();
    let state = w.state();
    // Unplug the disk: the next backup reports it.
    std::fs::rename(w.path("usb"), w.path("usb-away")).unwrap();
    let t = Triplicate::open(&w.home).unwrap();
    triplicate::engine::backup(&t, &Default::default(), &NoProgress).unwrap();
    let (_, list) = get(&state, "/api/v1/warnings").await;
    let warning = &list.as_array().unwrap()[0];
    assert_eq!(warning["subject"], "dest:usb");
    assert_eq!(warning["kind"], "not mounted");
    assert!(
        warning["advice"]
            .as_str()
            .unwrap()
            .contains("Plug the disk in"),
        "{warning}"
    );
    assert_eq!(warning["acknowledged_at"], Value::Null);
    let id = warning["id"].as_i64().unwrap();

    let (status, _) = send_json(
        &state,
        "POST",
        &format!("/api/v1/warnings/{id}/acknowledge"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (_, list) = get(&state, "/api/v1/warnings").await;
    assert!(
        list[0]["acknowledged_at"].as_i64().is_some(),
        "acknowledged, still open"
    );
    let (status, _) = send_json(
        &state,
        "POST",
        "/api/v1/warnings/999999/acknowledge",
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn actions_queue_jobs_once() {
    let w = World::new();
    let state = w.state();
    let (status, job) = send_json(
        &state,
        "POST",
        "/api/v1/actions/backup-existing",
        json!(null),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    assert_eq!(
        (job["state"].as_str(), job["kind"].as_str()),
        (Some("queued"), Some("backup_existing"))
    );
    let (_, again) = send_json(
        &state,
        "POST",
        "/api/v1/actions/backup-existing",
        json!(null),
    )
    .await;
    assert_eq!(again["id"], job["id"], "asking twice queues it once");
    let (status, v) = send_json(
        &state,
        "POST",
        "/api/v1/actions/verify",
        json!({ "sample_percent": 10 }),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(v["title"], "Verify 10% of the copies");
    let (status, _) = send_json(
        &state,
        "POST",
        "/api/v1/actions/verify",
        json!({ "sample_percent": 0 }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = send_json(
        &state,
        "POST",
        "/api/v1/actions/verify",
        json!({ "everything": true }),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "unknown fields are refused"
    );
    let (status, _) = send_json(&state, "POST", "/api/v1/actions/rescan", json!(null)).await;
    assert_eq!(status, StatusCode::ACCEPTED);

    let (_, jobs) = get(&state, "/api/v1/jobs").await;
    assert_eq!(jobs.as_array().unwrap().len(), 3);
    let id = job["id"].as_u64().unwrap();
    let (status, one) = get(&state, &format!("/api/v1/jobs/{id}")).await;
    assert_eq!((status, &one["id"]), (StatusCode::OK, &job["id"]));
    let (status, _) = get(&state, "/api/v1/jobs/424242").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let actions: Vec<_> = std::iter::from_fn(|| state.service.next_request())
        .map(|(_, a)| a)
        .collect();
    assert_eq!(actions.len(), 3);
}

#[tokio::test]
async fn events_stream_changes_as_they_are_announced() {
    let w = World::new();
    let state = w.state();
    let r = send(
        &state,
        request("GET", "/api/v1/events")
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()[header::CONTENT_TYPE], "text/event-stream");
    let mut body = r.into_body();
    let mut text = String::new();
    let mut next = async || {
        let frame = tokio::time::timeout(std::time::Duration::from_secs(5), body.frame())
            .await
            .expect("an event within 5 s")
            .unwrap()
            .unwrap();
        String::from_utf8(frame.into_data().unwrap().to_vec()).unwrap()
    };
    text.push_str(&next().await);
    assert!(text.contains("event: hello"), "{text}");
    state.service.request(triplicate::service::Action::Rescan);
    let event = next().await;
    assert!(event.contains("event: job"), "{event}");
    assert!(event.contains("\"state\":\"queued\""), "{event}");
}

#[tokio::test]
async fn metrics_speak_prometheus() {
    let w = World::new();
    let state = w.state();
    let r = send(
        &state,
        request("GET", "/metrics").body(Body::empty()).unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()[header::CONTENT_TYPE]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let text =
        String::from_utf8(r.into_body().collect().await.unwrap().to_bytes().to_vec()).unwrap();
    for needle in [
        "# TYPE triplicate_photos gauge",
        "triplicate_photos{coverage=\"protected\"} 0",
        "triplicate_photos{coverage=\"at_risk\"} 10",
        "# TYPE triplicate_destination_bytes_copied_total counter",
        "triplicate_destination_bytes_copied_total{destination=\"usb\"}",
        "triplicate_destination_errors_total{destination=\"nas\"} 0",
        "triplicate_destination_pending_copies{destination=\"usb\"} 0",
        "triplicate_destination_last_verification_age_seconds{destination=\"usb\"}",
        "triplicate_queue_depth 0",
    ] {
        assert!(text.contains(needle), "{needle} missing from\n{text}");
    }
    // Every sample line is `name{labels} number`.
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let value = line.rsplit(' ').next().unwrap();
        assert!(value.parse::<f64>().is_ok(), "{line}");
    }
}

#[tokio::test]
async fn secrets_are_never_sent() {
    let w = World::new();
    let token_file = w.path("token");
    std::fs::write(&token_file, TOKEN).unwrap();
    let config = std::fs::read_to_string(&w.home.config).unwrap();
    std::fs::write(
        &w.home.config,
        format!(
            "{config}\n[server]\ntoken_file = \"{}\"\n",
            token_file.display()
        ),
    )
    .unwrap();
    let state = w.state();
    for (_, path) in guarded_routes()
        .iter()
        .filter(|(m, p)| m == "GET" && !p.contains("events"))
    {
        let r = send(
            &state,
            request("GET", path)
                .header(header::AUTHORIZATION, format!("Bearer {TOKEN}"))
                .body(Body::empty())
                .unwrap(),
        )
        .await;
        let body = r.into_body().collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&body);
        assert!(!text.contains(TOKEN), "{path} sent the token");
        assert!(
            !text.contains("token_file") && !text.contains(token_file.to_str().unwrap()),
            "{path} sent the token file"
        );
    }
}

#[tokio::test]
async fn the_grid_routes_want_the_grid_token_and_nothing_else_opens_them() {
    let w = World::new();
    let grid_token = "grid-token-grid-token-grid-token-grid";
    let config = std::fs::read_to_string(&w.home.config).unwrap();
    std::fs::write(
        &w.home.config,
        format!("{config}\n[grid]\ntoken = \"{grid_token}\"\n"),
    )
    .unwrap();
    let state = w.state();
    let ask = |path: &str, token: Option<&str>| {
        let mut r = anonymous("GET", path);
        if let Some(t) = token {
            r = r.header(header::AUTHORIZATION, format!("Bearer {t}"));
        }
        r.body(Body::empty()).unwrap()
    };
    for token in [
        None,
        Some(TOKEN),
        Some("grid-token-grid-token-grid-token-gri"),
    ] {
        let r = send(&state, ask("/api/v1/grid/hello", token)).await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "{token:?}");
        assert_eq!(r.headers()["triplicate-grid"], "1");
    }
    let r = send(&state, ask("/api/v1/grid/hello", Some(grid_token))).await;
    assert_eq!(r.status(), StatusCode::OK);
    let hello = json_of(r).await;
    assert_eq!(
        (hello["protocol"].as_u64(), hello["name"].as_str()),
        (Some(1), Some("studio"))
    );
    // The GRID token opens nothing of the page's.
    let r = send(&state, ask("/api/v1/status", Some(grid_token))).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // The feed: this node's own records, the node first.
    let r = send(
        &state,
        ask("/api/v1/grid/changes?since=0", Some(grid_token)),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = json_of(r).await;
    assert_eq!(
        page["changes"].as_array().map(Vec::len),
        Some(0),
        "nothing published before the service runs"
    );
    // No delete, no matter who asks.
    let hash = "0".repeat(64);
    let r = send(
        &state,
        anonymous("DELETE", &format!("/api/v1/grid/photos/{hash}"))
            .header(header::AUTHORIZATION, format!("Bearer {grid_token}"))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::METHOD_NOT_ALLOWED);
    // A bad hash is refused before anything else.
    let r = send(
        &state,
        ask("/api/v1/grid/photos/..%2F..%2Fetc", Some(grid_token)),
    )
    .await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
}

#[test]
fn the_openapi_file_documents_every_route() {
    let spec = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/openapi.yaml"
    ))
    .unwrap();
    let documented: Vec<&str> = spec
        .lines()
        .filter(|l| l.starts_with("  /") && l.ends_with(':'))
        .map(|l| l.trim().trim_end_matches(':'))
        .collect();
    // Read from the server's own route tables, which the router is built from. The
    // GRID protocol between nodes has its own document.
    let protocol = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../docs/grid-protocol.md"
    ))
    .unwrap();
    let all = triplicate_server::served();
    for r in all.iter().filter(|r| r.path.starts_with("/api/v1/grid/")) {
        let line = format!("`{} {}", r.method, r.path.replace("{hash}", "{blake3}"));
        assert!(
            protocol.contains(&line),
            "{} {} is not in docs/grid-protocol.md",
            r.method,
            r.path
        );
    }
    let served: std::collections::BTreeSet<String> = all
        .into_iter()
        .map(|r| r.path)
        .filter(|p| (p.starts_with("/api/") || p == "/metrics") && !p.starts_with("/api/v1/grid/"))
        .collect();
    for route in &served {
        assert!(
            documented.contains(&route.as_str()),
            "{route} is not in docs/openapi.yaml"
        );
    }
    for path in &documented {
        assert!(
            served.contains(*path),
            "docs/openapi.yaml documents {path}, which is not served"
        );
    }
}

#[tokio::test]
async fn archives_are_estimated_created_as_jobs_downloaded_and_uploaded() {
    let w = World::new();
    let state = w.state();
    let (status, v) = get(&state, "/api/v1/archives").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(v["archives"], json!([]));
    let (status, parts) = send_json(
        &state,
        "POST",
        "/api/v1/archives/estimate",
        json!({ "kind": "images" }),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{parts}");
    assert!(
        parts
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["raw"].as_u64() > Some(0))
    );
    let (status, _) = send_json(
        &state,
        "POST",
        "/api/v1/archives",
        json!({ "kind": "config", "sections": ["nope"] }),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);

    // Created as a job: the daemon takes the request and runs it with stages.
    let (status, job) = send_json(
        &state,
        "POST",
        "/api/v1/archives",
        json!({ "kind": "config" }),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    assert_eq!(job["kind"], "archive");
    let (queued, action) = state.service.next_request().unwrap();
    let triplicate::service::Action::Archive { request: asked } = action else {
        panic!("{action:?}")
    };
    let t = Triplicate::open(&w.home).unwrap();
    let progress = state.service.start(
        Some(queued),
        triplicate::service::JobKind::Archive,
        "Archive",
        &NoProgress,
    );
    let created = triplicate::archive::create(
        &t,
        &asked,
        &progress,
        &std::sync::atomic::AtomicBool::new(false),
    )
    .unwrap();
    let (_, running) = get(&state, &format!("/api/v1/jobs/{queued}")).await;
    assert_eq!(running["stages"].as_array().unwrap().len(), 3, "{running}");
    assert_eq!(running["stage"], 2);
    progress.finish(true, "done".into());

    let (_, v) = get(&state, "/api/v1/archives").await;
    assert_eq!(v["archives"][0]["id"], created.id.as_str());
    let (status, info) = get(&state, &format!("/api/v1/archives/{}", created.id)).await;
    assert_eq!(status, StatusCode::OK);
    assert!(info["log"].as_str().unwrap().contains("stage 3/3"));
    let (status, verified) = send_json(
        &state,
        "POST",
        &format!("/api/v1/archives/{}/verify", created.id),
        json!(null),
    )
    .await;
    assert_eq!(
        (status, verified["problems"].clone()),
        (StatusCode::OK, json!([]))
    );
    let r = send(
        &state,
        request("GET", &format!("/api/v1/archives/{}/download", created.id))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()[header::CONTENT_DISPOSITION]
            .to_str()
            .unwrap()
            .contains(".tar.gz")
    );
    let bytes = r.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(bytes, std::fs::read(&created.file).unwrap());

    // Uploaded to another home: checked, then listed. Junk is refused, and so is the
    // same archive twice.
    let other = World::new();
    let other_state = other.state();
    let upload = |body: Vec<u8>| {
        request("POST", "/api/v1/archives/upload")
            .header(header::CONTENT_TYPE, "application/octet-stream")
            .body(Body::from(body))
            .unwrap()
    };
    let r = send(&other_state, upload(bytes.to_vec())).await;
    assert_eq!(r.status(), StatusCode::CREATED);
    assert_eq!(json_of(r).await["id"], created.id.as_str());
    let r = send(&other_state, upload(bytes.to_vec())).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    let r = send(&other_state, upload(bytes[..bytes.len() / 2].to_vec())).await;
    assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        json_of(r).await["error"]
            .as_str()
            .unwrap()
            .contains("truncated")
    );
    let folder = other.path("home/archives");
    assert!(
        std::fs::read_dir(&folder)
            .unwrap()
            .flatten()
            .all(|e| !e.file_name().to_string_lossy().starts_with('.')),
        "no upload left behind"
    );

    let (status, pinned) = send_json(
        &state,
        "POST",
        &format!("/api/v1/archives/{}/pin", created.id),
        json!(null),
    )
    .await;
    assert_eq!(
        (status, pinned["pinned"].clone()),
        (StatusCode::OK, json!(true))
    );
    let r = send(
        &state,
        request("DELETE", &format!("/api/v1/archives/{}", created.id))
            .body(Body::empty())
            .unwrap(),
    )
    .await;
    assert_eq!(r.status(), StatusCode::NO_CONTENT);
    let (status, _) = get(&state, &format!("/api/v1/archives/{}", created.id)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_failure_inside_the_service_is_logged_and_answered_without_its_details() {
    let w = World::new();
    let state = w.state();
    // A damaged catalog: the status cannot be read.
    std::fs::write(&w.home.catalog, b"this is not a SQLite database at all").unwrap();
    let (status, v) = get(&state, "/api/v1/status").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR, "{v}");
    let said = v["error"].as_str().unwrap();
    assert_eq!(said, triplicate_server::api::INTERNAL_ERROR);
    assert!(
        !said.contains(&w.home.catalog.display().to_string()),
        "no path of this machine in the answer: {said}"
    );
}
