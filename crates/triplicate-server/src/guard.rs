//! Who may talk to the server: the Host check, the cross-site check, and the credential.
//!
//! - **Host.** A loopback server answers only to `localhost`, `127.0.0.1` and `[::1]`
//!   (and the names in `server.hosts`). A page on another site that rebinds its DNS
//!   name to 127.0.0.1 sends its own name as Host and is refused with 421, so it cannot
//!   read the API through the victim's browser.
//! - **Other sites.** Browsers say where a request comes from in `Sec-Fetch-Site`: only
//!   `same-origin` and `none` (the address bar, a bookmark, `triplicate open`) pass;
//!   another site, or another port of this machine (`same-site`), gets 403, except a
//!   plain link followed to the page (which carries no cookie: they are
//!   `SameSite=Strict`). Browsers too old to send it are judged by their `Origin`,
//!   when it names a real origin (`null` says nothing).
//! - **Credential.** Every route but [`OPEN_ROUTES`] wants the service's token
//!   ([`triplicate::access`]) as `Authorization: Bearer TOKEN`, or a signed-in session
//!   ([`crate::signin`]) in the `triplicate_session_PORT` cookie, on loopback too;
//!   without one, 401 (the page answers with its sign-in form). A session's requests
//!   that change something must carry its CSRF token in `X-CSRF-Token`, which the page
//!   reads from the `triplicate_csrf_PORT` cookie; another site can neither read it nor
//!   send the session cookie.
//!
//! Tokens are compared through their BLAKE3 hashes, whose equality check takes the same
//! time whatever the bytes.

use std::net::SocketAddr;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::SharedState;
use crate::signin::{NewSession, SESSION_LIFETIME, Sessions, Throttle};

/// The cookie that carries a signed-in browser's session id (HttpOnly), followed by
/// `_PORT`: browsers keep cookies by host, not by port, and two services on one
/// machine (two homes) must not sign each other out.
pub const SESSION_COOKIE: &str = "triplicate_session";
/// The cookie the page reads its CSRF token from (readable by the page's script), also
/// followed by `_PORT`.
pub const CSRF_COOKIE: &str = "triplicate_csrf";
/// The header a session's changing requests carry the CSRF token in.
pub const CSRF_HEADER: &str = "x-csrf-token";

/// The routes open without a credential: the sign-in itself, what the sign-in form
/// needs to look like the page, and a health check that says nothing about photos.
pub const OPEN_ROUTES: &[(&str, &str)] = &[
    ("GET", "/health"),
    ("GET", "/app.css"),
    ("GET", "/icon.svg"),
    ("GET", "/sign-in"),
    ("POST", "/api/v1/session"),
];

/// The access rules for one listening address, and who signed in.
#[derive(Debug)]
pub struct Access {
    token: blake3::Hash,
    /// Accepted Host header values, lowercase, with and without the port.
    hosts: Vec<String>,
    /// Listening on every address: any Host is accepted.
    any_host: bool,
    /// Served over HTTPS: cookies are `Secure`.
    secure: bool,
    /// The names of its two cookies (with the port).
    session_cookie: String,
    csrf_cookie: String,
    pub sessions: Sessions,
    pub throttle: Throttle,
}

impl Access {
    /// The rules for a server listening at `listen` with the service's `token` (see
    /// [`triplicate::access::credential`]) and extra host names.
    pub fn new(listen: SocketAddr, token: &str, extra_hosts: &[String], secure: bool) -> Access {
        let ip = listen.ip();
        let port = listen.port();
        let mut names: Vec<String> = vec!["localhost".into(), "127.0.0.1".into(), "[::1]".into()];
        if !ip.is_loopback() && !ip.is_unspecified() {
            names.push(match ip {
                std::net::IpAddr::V4(v4) => v4.to_string(),
                std::net::IpAddr::V6(v6) => format!("[{v6}]"),
            });
        }
        names.extend(extra_hosts.iter().map(|h| h.to_ascii_lowercase()));
        let mut hosts = Vec::new();
        for name in names {
            hosts.push(format!("{name}:{port}"));
            if port == 80 || (secure && port == 443) {
                hosts.push(name);
            }
        }
        Access {
            token: blake3::hash(token.trim().as_bytes()),
            hosts,
            any_host: ip.is_unspecified(),
            secure,
            session_cookie: format!("{SESSION_COOKIE}_{port}"),
            csrf_cookie: format!("{CSRF_COOKIE}_{port}"),
            sessions: Sessions::default(),
            throttle: Throttle::default(),
        }
    }

    fn host_ok(&self, host: &str) -> bool {
        self.any_host || self.hosts.iter().any(|h| h == &host.to_ascii_lowercase())
    }

    /// Checks a token given in a sign-in form or a Bearer header.
    pub fn sign_in(&self, given: &str) -> bool {
        self.token == blake3::hash(given.trim().as_bytes())
    }

    fn bearer_ok(&self, headers: &HeaderMap) -> bool {
        headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .is_some_and(|t| self.sign_in(t))
    }

    /// The session id the request's cookie names, and its CSRF token, if it is live.
    pub fn session_of(&self, headers: &HeaderMap) -> Option<(String, String)> {
        let id = cookie(headers, &self.session_cookie)?;
        let csrf = self.sessions.csrf_of(&id)?;
        Some((id, csrf))
    }

    /// The two cookies of a new session.
    pub fn session_cookies(&self, s: &NewSession) -> [String; 2] {
        let age = SESSION_LIFETIME.as_secs();
        let secure = if self.secure { "; Secure" } else { "" };
        [
            format!(
                "{}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age={age}{secure}",
                self.session_cookie, s.id
            ),
            format!(
                "{}={}; SameSite=Strict; Path=/; Max-Age={age}{secure}",
                self.csrf_cookie, s.csrf
            ),
        ]
    }

    /// The cookies that sign a browser out.
    pub fn ended_cookies(&self) -> [String; 2] {
        let secure = if self.secure { "; Secure" } else { "" };
        [&self.session_cookie, &self.csrf_cookie]
            .map(|name| format!("{name}=; SameSite=Strict; Path=/; Max-Age=0{secure}"))
    }
}

/// Adds `Set-Cookie` headers to a response.
pub fn set_cookies(response: &mut Response, cookies: &[String]) {
    for c in cookies {
        if let Ok(v) = HeaderValue::from_str(c) {
            response.headers_mut().append(header::SET_COOKIE, v);
        }
    }
}

/// The value of cookie `name`, if sent.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// Whether another site (or another port of this machine) sent the request, by what
/// browsers say of it; a plain link followed to a page is let through.
fn from_another_site(method: &Method, headers: &HeaderMap, host: &str) -> bool {
    let value = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match value("sec-fetch-site") {
        Some("same-origin") | Some("none") => false,
        Some(_) => !(method == Method::GET && value("sec-fetch-mode") == Some("navigate")),
        None => value("origin").is_some_and(|o| {
            o != "null"
                && !o.eq_ignore_ascii_case(&format!("http://{host}"))
                && !o.eq_ignore_ascii_case(&format!("https://{host}"))
        }),
    }
}

fn changes_something(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// The middleware in front of every route.
pub async fn check(State(state): State<SharedState>, request: Request, next: Next) -> Response {
    let access = &state.access;
    let headers = request.headers();
    let host = headers
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| request.uri().authority().map(|a| a.to_string()));
    let Some(host) = host.filter(|h| access.host_ok(h)) else {
        tracing::warn!(host = ?headers.get(header::HOST), "refused a request for another host name");
        return refuse(
            StatusCode::MISDIRECTED_REQUEST,
            "this server does not answer to that host name; open it as http://localhost:PORT/ or add the name to server.hosts",
        );
    };
    let method = request.method().clone();
    if from_another_site(&method, headers, &host) {
        tracing::warn!(
            origin = ?headers.get(header::ORIGIN),
            site = ?headers.get("sec-fetch-site"),
            "refused a request from another site"
        );
        return refuse(
            StatusCode::FORBIDDEN,
            "requests from other sites are not accepted",
        );
    }
    let path = request.uri().path();
    if OPEN_ROUTES.contains(&(method.as_str(), path)) || access.bearer_ok(headers) {
        return next.run(request).await;
    }
    if let Some((_, csrf)) = access.session_of(headers) {
        let sent = headers.get(CSRF_HEADER).and_then(|v| v.to_str().ok());
        let csrf_ok =
            sent.is_some_and(|s| blake3::hash(s.as_bytes()) == blake3::hash(csrf.as_bytes()));
        if changes_something(&method) && !csrf_ok {
            tracing::warn!(%method, path, "refused a change without the page's CSRF token");
            return refuse(
                StatusCode::FORBIDDEN,
                "this request lacks the page's CSRF token: reload the page and try again",
            );
        }
        return next.run(request).await;
    }
    if path == "/" || path == "/index.html" {
        return crate::page::sign_in_page(StatusCode::UNAUTHORIZED, crate::page::SignInNote::None);
    }
    let mut response = refuse(
        StatusCode::UNAUTHORIZED,
        "sign in first: send `Authorization: Bearer TOKEN` with the service's access token (access.token in the home folder), or sign in on the page",
    );
    response.headers_mut().insert(
        header::WWW_AUTHENTICATE,
        HeaderValue::from_static("Bearer realm=\"triplicate\""),
    );
    response
}

/// A JSON error response.
pub fn refuse(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beyond_loopback_answers_to_its_own_address() {
        let lan: SocketAddr = "192.168.1.5:8321".parse().unwrap();
        let a = Access::new(lan, "0123456789abcdef", &[], false);
        assert!(a.host_ok("192.168.1.5:8321"));
        assert!(!a.host_ok("evil.example:8321"));
        assert!(a.sign_in("0123456789abcdef"));
        assert!(!a.sign_in("0123456789abcdeX"));
    }

    #[test]
    fn loopback_answers_to_local_names_only() {
        let a = Access::new(
            "127.0.0.1:8321".parse().unwrap(),
            "0123456789abcdef",
            &["Studio.local".into()],
            false,
        );
        for ok in [
            "localhost:8321",
            "127.0.0.1:8321",
            "[::1]:8321",
            "studio.local:8321",
        ] {
            assert!(a.host_ok(ok), "{ok}");
        }
        for bad in ["evil.example:8321", "localhost:9999", "localhost"] {
            assert!(!a.host_ok(bad), "{bad}");
        }
        assert!(!a.bearer_ok(&HeaderMap::new()), "no credential, no entry");
    }

    #[test]
    fn two_services_on_one_machine_keep_their_own_sessions() {
        let token = "0123456789abcdef";
        let a = Access::new("127.0.0.1:8321".parse().unwrap(), token, &[], false);
        let b = Access::new("127.0.0.1:8322".parse().unwrap(), token, &[], false);
        let [session, csrf] = a.session_cookies(&a.sessions.create());
        assert!(session.starts_with("triplicate_session_8321="), "{session}");
        assert!(csrf.starts_with("triplicate_csrf_8321="), "{csrf}");
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            session.split(';').next().unwrap().parse().unwrap(),
        );
        assert!(a.session_of(&h).is_some());
        assert!(b.session_of(&h).is_none());
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; triplicate_session=secret-session-123; b=2"
                .parse()
                .unwrap(),
        );
        assert_eq!(
            cookie(&h, SESSION_COOKIE).as_deref(),
            Some("secret-session-123")
        );
    }

    #[test]
    fn other_sites_are_told_apart_by_what_browsers_send() {
        let host = "127.0.0.1:8321";
        let with = |pairs: &[(&'static str, &'static str)]| {
            let mut h = HeaderMap::new();
            for (k, v) in pairs {
                h.insert(*k, v.parse().unwrap());
            }
            h
        };
        let post = Method::POST;
        // The sign-in form of a page served with no-referrer sends `Origin: null`.
        let form = with(&[("sec-fetch-site", "same-origin"), ("origin", "null")]);
        assert!(!from_another_site(&post, &form, host));
        let other_port = with(&[
            ("sec-fetch-site", "same-site"),
            ("origin", "http://127.0.0.1:9000"),
        ]);
        assert!(from_another_site(&post, &other_port, host));
        let other_site = with(&[
            ("sec-fetch-site", "cross-site"),
            ("sec-fetch-mode", "navigate"),
        ]);
        assert!(from_another_site(&post, &other_site, host));
        assert!(
            !from_another_site(&Method::GET, &other_site, host),
            "a link followed"
        );
        let old = with(&[("origin", "http://attacker.example")]);
        assert!(from_another_site(&post, &old, host));
        assert!(!from_another_site(
            &post,
            &with(&[("origin", "null")]),
            host
        ));
        assert!(!from_another_site(&post, &HeaderMap::new(), host), "curl");
    }
}
