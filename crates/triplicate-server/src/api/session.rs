//! Signing in and out: `POST /session` (the token, from the sign-in form or as JSON),
//! `DELETE /session` (sign out), and `GET /sign-in?once=CODE`, the one-time link that
//! `triplicate open` and `triplicate run` give the owner. Each sign-in makes a session
//! ([`crate::signin`]); wrong tokens and used-up links are slowed down per address.

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use axum::extract::ConnectInfo;

use super::*;
use crate::guard::set_cookies;
use crate::page::{SignInNote, sign_in_page};

#[derive(Deserialize)]
pub(super) struct SignIn {
    token: String,
}

/// The address a request came from (unspecified in tests without a socket).
fn client(request: &axum::extract::Request) -> IpAddr {
    request
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED))
}

/// 429 with how long to wait: the sign-in form says it, an API client reads it.
fn too_many(form: bool, wait: Duration) -> Response {
    let seconds = wait.as_secs().max(1);
    let mut response = if form {
        sign_in_page(StatusCode::TOO_MANY_REQUESTS, SignInNote::Wait(seconds))
    } else {
        refuse(
            StatusCode::TOO_MANY_REQUESTS,
            &format!("too many wrong tries from this address: wait {seconds} s and try again"),
        )
    };
    if let Ok(v) = HeaderValue::from_str(&seconds.to_string()) {
        response.headers_mut().insert(header::RETRY_AFTER, v);
    }
    response
}

/// Signs the browser in: a new session, its cookies, and on to the page (or `{"ok":
/// true}` for JSON).
fn signed_in(state: &SharedState, address: IpAddr, form: bool) -> Response {
    state.access.throttle.succeeded(address);
    let session = state.access.sessions.create();
    let mut response = if form {
        (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response()
    } else {
        Json(serde_json::json!({ "ok": true })).into_response()
    };
    set_cookies(&mut response, &state.access.session_cookies(&session));
    response
}

/// Takes the token as JSON (`{"token": …}`) or from the sign-in form.
pub(super) async fn sign_in(
    State(state): State<SharedState>,
    request: axum::extract::Request,
) -> Response {
    let address = client(&request);
    let form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
    if let Some(wait) = state.access.throttle.wait(address) {
        return too_many(form, wait);
    }
    let given = if form {
        axum::extract::Form::<SignIn>::from_request(request, &state)
            .await
            .ok()
            .map(|f| f.0.token)
    } else {
        Json::<SignIn>::from_request(request, &state)
            .await
            .ok()
            .map(|j| j.0.token)
    };
    let Some(token) = given else {
        return refuse(
            StatusCode::BAD_REQUEST,
            "the access token is missing: send {\"token\": \"…\"}",
        );
    };
    if !state.access.sign_in(&token) {
        if let Some(wait) = state.access.throttle.failed(address) {
            return too_many(form, wait);
        }
        if form {
            return sign_in_page(StatusCode::UNAUTHORIZED, SignInNote::WrongToken);
        }
        return refuse(StatusCode::UNAUTHORIZED, "that token is not right");
    }
    signed_in(&state, address, form)
}

/// Signs this browser out: its session ends and its cookies are cleared.
pub(super) async fn sign_out(
    State(state): State<SharedState>,
    headers: axum::http::HeaderMap,
) -> Response {
    if let Some((id, _)) = state.access.session_of(&headers) {
        state.access.sessions.end(&id);
    }
    let mut response = Json(serde_json::json!({ "ok": true })).into_response();
    set_cookies(&mut response, &state.access.ended_cookies());
    response
}

#[derive(Deserialize)]
pub(crate) struct Link {
    once: Option<String>,
}

/// `GET /sign-in?once=CODE`: a one-time link signs this browser in; without a code (or
/// with a used one), the sign-in form.
pub(crate) async fn sign_in_link(
    State(state): State<SharedState>,
    Query(link): Query<Link>,
    request: axum::extract::Request,
) -> Response {
    let address = client(&request);
    let Some(code) = link.once else {
        return sign_in_page(StatusCode::OK, SignInNote::None);
    };
    if let Some(wait) = state.access.throttle.wait(address) {
        return too_many(true, wait);
    }
    let home = state.home.clone();
    let redeemed =
        tokio::task::spawn_blocking(move || triplicate::access::redeem_link(&home, &code))
            .await
            .unwrap_or(false);
    if !redeemed {
        if let Some(wait) = state.access.throttle.failed(address) {
            return too_many(true, wait);
        }
        return sign_in_page(StatusCode::UNAUTHORIZED, SignInNote::LinkUsed);
    }
    signed_in(&state, address, true)
}
