//! The page: every asset compiled into the binary, so the Backup window works offline
//! and from any machine without a CDN or a web font.

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use crate::SharedState;
use crate::table::Table;

const INDEX: &str = include_str!("../assets/index.html");
const SCRIPT: &str = include_str!("../assets/app.js");
const STYLE: &str = include_str!("../assets/app.css");
const ICON: &str = include_str!("../assets/icon.svg");

/// Scripts and styles come from this server only; nothing inline, nothing remote.
const CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn table() -> Table<SharedState> {
    Table::new("")
        .get("/", || async { asset("text/html; charset=utf-8", INDEX) })
        .get("/index.html", || async {
            asset("text/html; charset=utf-8", INDEX)
        })
        .get("/app.js", || async {
            asset("text/javascript; charset=utf-8", SCRIPT)
        })
        .get("/app.css", || async {
            asset("text/css; charset=utf-8", STYLE)
        })
        .get("/icon.svg", || async { asset("image/svg+xml", ICON) })
}

fn asset(content_type: &'static str, body: &'static str) -> Response {
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_SECURITY_POLICY, CSP),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        body,
    )
        .into_response()
}

/// The sign-in form, shown instead of the page when a token is required.
pub fn sign_in_page(status: StatusCode, wrong: bool) -> Response {
    let note = if wrong {
        "<p class=\"bad\">That token is not right.</p>"
    } else {
        ""
    };
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Triplicate: sign in</title></head><body>\
         <main><h1>Triplicate Backup window</h1>\
         <p>This server wants its access token (the one in the file named by\
          <code>token_file</code> in config.toml).</p>{note}\
         <form method=\"post\" action=\"/api/v1/session\">\
         <label>Access token <input type=\"password\" name=\"token\" autocomplete=\"current-password\" required></label>\
         <button type=\"submit\">Sign in</button></form></main></body></html>"
    );
    (
        status,
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CONTENT_SECURITY_POLICY, CSP),
        ],
        body,
    )
        .into_response()
}
