//! The routes, each declared once: a [`Table`] builds the axum router and keeps the
//! method and path of every route it adds, so that [`crate::served`] answers from the
//! same declarations the server runs (the OpenAPI document is checked against it).

use axum::Router;
use axum::handler::Handler;
use axum::routing::{self, MethodRouter};

/// One route as served: `GET /api/v1/status`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Served {
    pub method: &'static str,
    pub path: String,
}

impl Served {
    /// The path with a sample value in each parameter (`/destinations/{name}` →
    /// `/destinations/usb`), for tests that ask every route.
    pub fn example(&self) -> String {
        self.path
            .replace("{name}", "usb")
            .replace("{id}", "1")
            .replace("{hash}", &"0".repeat(64))
    }

    /// Whether it answers without a credential ([`crate::guard::OPEN_ROUTES`]).
    pub fn is_open(&self) -> bool {
        crate::guard::OPEN_ROUTES.contains(&(self.method, self.path.as_str()))
    }
}

/// A router being built, with the routes it serves.
pub struct Table<S> {
    prefix: &'static str,
    router: Router<S>,
    served: Vec<Served>,
}

impl<S: Clone + Send + Sync + 'static> Table<S> {
    /// Routes whose paths are given below `prefix` (where the router is nested).
    pub fn new(prefix: &'static str) -> Table<S> {
        Table {
            prefix,
            router: Router::new(),
            served: Vec::new(),
        }
    }

    pub fn get<H: Handler<T, S>, T: 'static>(self, path: &'static str, h: H) -> Self {
        self.add("GET", path, routing::get(h))
    }

    pub fn post<H: Handler<T, S>, T: 'static>(self, path: &'static str, h: H) -> Self {
        self.add("POST", path, routing::post(h))
    }

    pub fn put<H: Handler<T, S>, T: 'static>(self, path: &'static str, h: H) -> Self {
        self.add("PUT", path, routing::put(h))
    }

    pub fn patch<H: Handler<T, S>, T: 'static>(self, path: &'static str, h: H) -> Self {
        self.add("PATCH", path, routing::patch(h))
    }

    pub fn delete<H: Handler<T, S>, T: 'static>(self, path: &'static str, h: H) -> Self {
        self.add("DELETE", path, routing::delete(h))
    }

    /// Adds the routes of `other`, declared below the same prefix.
    pub fn merge(mut self, other: Table<S>) -> Self {
        self.router = self.router.merge(other.router);
        self.served.extend(other.served);
        self
    }

    fn add(mut self, method: &'static str, path: &'static str, route: MethodRouter<S>) -> Self {
        self.router = self.router.route(path, route);
        self.served.push(Served {
            method,
            path: format!("{}{path}", self.prefix),
        });
        self
    }

    /// The router and what it serves.
    pub fn finish(self) -> (Router<S>, Vec<Served>) {
        (self.router, self.served)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn two_methods_on_one_path_are_both_served_and_listed() {
        use tower::ServiceExt;
        let (router, served) = Table::<()>::new("/api")
            .get("/x", || async { "got" })
            .post("/x", || async { "posted" })
            .finish();
        let listed: Vec<_> = served.iter().map(|s| (s.method, s.path.as_str())).collect();
        assert_eq!(listed, [("GET", "/api/x"), ("POST", "/api/x")]);
        for (method, answer) in [("GET", "got"), ("POST", "posted")] {
            let request = axum::http::Request::builder()
                .method(method)
                .uri("/x")
                .body(axum::body::Body::empty())
                .unwrap();
            let response = router.clone().oneshot(request).await.unwrap();
            let body = axum::body::to_bytes(response.into_body(), 1024)
                .await
                .unwrap();
            assert_eq!(body, answer);
        }
    }
}
