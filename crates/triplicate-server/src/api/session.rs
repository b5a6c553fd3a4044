//! `POST /session`: signing in from the sign-in form (the token becomes a cookie).

use super::*;

#[derive(Deserialize)]
pub(super) struct SignIn {
    token: String,
}

/// Takes the token as JSON (`{"token": …}`) or from the sign-in form, and sets the
/// page's cookie: HttpOnly (scripts cannot read it) and SameSite=Strict (other sites
/// cannot send it).
pub(super) async fn sign_in(
    State(state): State<SharedState>,
    request: axum::extract::Request,
) -> Response {
    let form = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/x-www-form-urlencoded"));
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
            StatusCode::UNAUTHORIZED,
            "an access token is required: send {\"token\": \"…\"}",
        );
    };
    if !state.access.sign_in(&token) {
        tracing::warn!("refused a sign-in with a wrong token");
        if form {
            return crate::page::sign_in_page(StatusCode::UNAUTHORIZED, true);
        }
        return refuse(StatusCode::UNAUTHORIZED, "wrong token");
    }
    let cookie = format!(
        "{COOKIE}={}; HttpOnly; SameSite=Strict; Path=/; Max-Age=31536000",
        token.trim()
    );
    let mut response = if form {
        (StatusCode::SEE_OTHER, [(header::LOCATION, "/")]).into_response()
    } else {
        Json(serde_json::json!({ "ok": true })).into_response()
    };
    if let Ok(v) = HeaderValue::from_str(&cookie) {
        response.headers_mut().insert(header::SET_COOKIE, v);
    }
    response
}
