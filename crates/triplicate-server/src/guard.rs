//! Who may talk to the server: the Host and Origin checks, and the access token.
//!
//! - **Host.** A loopback server answers only to `localhost`, `127.0.0.1` and `[::1]`
//!   (and the names in `server.hosts`). A page on another site that rebinds its DNS
//!   name to 127.0.0.1 sends its own name as Host and is refused with 421, so it cannot
//!   read the API through the victim's browser.
//! - **Origin.** A request a browser marks with an Origin must come from the page
//!   itself (same scheme-less host and port), or it is refused with 403. This stops
//!   other sites from posting actions, with or without a token.
//! - **Token.** When one is configured (always when listening beyond loopback), every
//!   route wants it, as `Authorization: Bearer TOKEN` or as the `triplicate_token`
//!   cookie that `POST /api/v1/session` sets for the page; without it, 401. The page
//!   itself answers 401 with a small sign-in form instead.
//!
//! Tokens are compared through their BLAKE3 hashes, whose equality check takes the same
//! time whatever the bytes.

use std::net::SocketAddr;

use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::SharedState;

/// The cookie that carries the token for the page.
pub const COOKIE: &str = "triplicate_token";
/// Tokens shorter than this are refused: they could be guessed.
pub const MIN_TOKEN_LEN: usize = 16;

/// The access rules for one listening address.
#[derive(Debug, Clone)]
pub struct Access {
    token: Option<blake3::Hash>,
    /// Accepted Host header values, lowercase, with and without the port.
    hosts: Vec<String>,
    /// Listening on every address: any Host is accepted (a token is required).
    any_host: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum AccessError {
    #[error(
        "listening on {0} (beyond this machine) requires an access token: write one of at least 16 characters into a file and set `token_file` under [server] in config.toml, or set TRIPLICATE_TOKEN"
    )]
    TokenRequired(SocketAddr),
    #[error("the access token must be at least {MIN_TOKEN_LEN} characters long")]
    WeakToken,
}

impl Access {
    /// The rules for a server listening at `listen`, with an optional token and extra
    /// host names. Refuses a non-loopback address without a token.
    pub fn new(
        listen: SocketAddr,
        token: Option<&str>,
        extra_hosts: &[String],
    ) -> Result<Access, AccessError> {
        let token = match token.map(str::trim) {
            Some(t) if t.len() < MIN_TOKEN_LEN => return Err(AccessError::WeakToken),
            Some(t) => Some(blake3::hash(t.as_bytes())),
            None => None,
        };
        let ip = listen.ip();
        if !ip.is_loopback() && token.is_none() {
            return Err(AccessError::TokenRequired(listen));
        }
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
            if port == 80 {
                hosts.push(name);
            }
        }
        Ok(Access {
            token,
            hosts,
            any_host: ip.is_unspecified(),
        })
    }

    /// Whether a token is required.
    pub fn has_token(&self) -> bool {
        self.token.is_some()
    }

    fn host_ok(&self, host: &str) -> bool {
        self.any_host || self.hosts.iter().any(|h| h == &host.to_ascii_lowercase())
    }

    fn token_ok(&self, given: &str) -> bool {
        self.token
            .is_some_and(|t| t == blake3::hash(given.trim().as_bytes()))
    }

    /// Whether `headers` carry the token (always true without one).
    pub fn authorised(&self, headers: &HeaderMap) -> bool {
        if self.token.is_none() {
            return true;
        }
        let bearer = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "));
        if bearer.is_some_and(|t| self.token_ok(t)) {
            return true;
        }
        cookie(headers, COOKIE).is_some_and(|t| self.token_ok(&t))
    }

    /// Checks a token given in a sign-in form.
    pub fn sign_in(&self, given: &str) -> bool {
        self.token.is_none() || self.token_ok(given)
    }
}

/// The value of cookie `name`, if sent.
fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
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
    if let Some(origin) = headers.get(header::ORIGIN) {
        let same = origin.to_str().ok().is_some_and(|o| {
            o.eq_ignore_ascii_case(&format!("http://{host}"))
                || o.eq_ignore_ascii_case(&format!("https://{host}"))
        });
        if !same {
            tracing::warn!(?origin, "refused a cross-origin request");
            return refuse(
                StatusCode::FORBIDDEN,
                "requests from other sites are not accepted",
            );
        }
    }
    let path = request.uri().path();
    // The sign-in checks the token in its body; everything else wants it up front.
    let open = path == "/api/v1/session" && request.method() == axum::http::Method::POST;
    if !open && !access.authorised(headers) {
        if path == "/" || path == "/index.html" {
            return crate::page::sign_in_page(StatusCode::UNAUTHORIZED, false);
        }
        let mut response = refuse(
            StatusCode::UNAUTHORIZED,
            "an access token is required: send `Authorization: Bearer TOKEN`",
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"triplicate\""),
        );
        return response;
    }
    next.run(request).await
}

/// A JSON error response.
pub fn refuse(status: StatusCode, message: &str) -> Response {
    (status, axum::Json(serde_json::json!({ "error": message }))).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn beyond_loopback_needs_a_strong_token() {
        let lan: SocketAddr = "192.168.1.5:8321".parse().unwrap();
        assert!(matches!(
            Access::new(lan, None, &[]),
            Err(AccessError::TokenRequired(_))
        ));
        assert!(matches!(
            Access::new(lan, Some("short"), &[]),
            Err(AccessError::WeakToken)
        ));
        let a = Access::new(lan, Some("0123456789abcdef"), &[]).unwrap();
        assert!(a.host_ok("192.168.1.5:8321"));
        assert!(!a.host_ok("evil.example:8321"));
        assert!(a.sign_in("0123456789abcdef"));
        assert!(!a.sign_in("0123456789abcdeX"));
    }

    #[test]
    fn loopback_answers_to_local_names_only() {
        let a = Access::new(
            "127.0.0.1:8321".parse().unwrap(),
            None,
            &["Studio.local".into()],
        )
        .unwrap();
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
        assert!(a.authorised(&HeaderMap::new()), "no token configured");
    }

    #[test]
    fn cookies_are_found_among_others() {
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            "a=1; triplicate_token=secret-token-123; b=2"
                .parse()
                .unwrap(),
        );
        assert_eq!(cookie(&h, COOKIE).as_deref(), Some("secret-token-123"));
    }
}
