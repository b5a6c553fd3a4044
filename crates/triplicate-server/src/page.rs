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
        .get("/sign-in", crate::api::session::sign_in_link)
        // For load balancers and service monitors: says only that the server answers.
        .get("/health", || async {
            asset("text/plain; charset=utf-8", "ok\n")
        })
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

/// What the sign-in form says above the field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInNote {
    None,
    WrongToken,
    LinkUsed,
    /// Too many wrong tries from this address: wait this many seconds.
    Wait(u64),
}

/// The sign-in form, shown instead of the page to a browser that has not signed in.
pub fn sign_in_page(status: StatusCode, note: SignInNote) -> Response {
    let note = match note {
        SignInNote::None => String::new(),
        SignInNote::WrongToken => {
            "<p class=\"bad\" id=\"sign-in-note\">That token is not right. Check it and try again.</p>".into()
        }
        SignInNote::LinkUsed => {
            "<p class=\"bad\" id=\"sign-in-note\">This sign-in link was used already or has expired. Run <code>triplicate open</code> again on the server, or enter the token.</p>".into()
        }
        SignInNote::Wait(seconds) => format!(
            "<p class=\"bad\" id=\"sign-in-note\">Too many wrong tries from this address: wait {seconds} seconds, then try again.</p>"
        ),
    };
    let body = format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\
         <title>Triplicate: sign in</title><link rel=\"icon\" href=\"/icon.svg\">\
         <link rel=\"stylesheet\" href=\"/app.css\"></head><body>\
         <header class=\"top\"><div class=\"brand\"><img src=\"/icon.svg\" alt=\"\" width=\"28\" height=\"28\">\
         <h1>Backup window</h1></div></header>\
         <main class=\"sign-in\"><section class=\"panel\"><h2>Sign in</h2>\
         <p>On the machine that runs Triplicate, <code>triplicate open</code> signs its browser in. \
          From another device, enter the service's access token: the file <code>access.token</code> \
          in its home folder (or the one <code>token_file</code> names in config.toml).</p>{note}\
         <form method=\"post\" action=\"/api/v1/session\">\
         <label>Access token <input type=\"password\" name=\"token\" id=\"token\" autocomplete=\"current-password\" required autofocus></label>\
         <button type=\"submit\" class=\"primary\" id=\"sign-in\">Sign in</button></form></section></main></body></html>"
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
