//! Live updates: the Server-Sent Events stream at `/api/v1/events`, and the watcher
//! that notices changes made outside the jobs.
//!
//! Each [`Change`](triplicate::service::Change) the service announces goes to every open stream as an event named
//! after it (`job`, `status`, `operations`, `warnings`, `config`) with the change as
//! JSON data. A stream that falls behind gets a `resync` event, after which the page
//! reloads everything. The first event, `hello`, carries the server's version.
//!
//! The watcher also asks for a pass as soon as a destination comes back (a disk plugged
//! in again), instead of leaving it to the daemon's retry back-off.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::stream::{self, Stream, StreamExt};
use tokio_stream::wrappers::BroadcastStream;
use tokio_stream::wrappers::errors::BroadcastStreamRecvError;
use triplicate::home::Triplicate;
use triplicate::service::{Action, Monitor};

use crate::SharedState;

/// How often [`watch`] looks at the destinations, the log and the configuration.
pub const WATCH_EVERY: Duration = Duration::from_secs(1);

pub async fn stream(
    State(state): State<SharedState>,
) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    let changes = BroadcastStream::new(state.service.subscribe());
    let hello = Event::default()
        .event("hello")
        .data(env!("CARGO_PKG_VERSION"));
    let mut stopping = state.stopping.subscribe();
    let events = stream::once(async move { Ok(hello) })
        .chain(changes.map(|change| {
            Ok(match change {
                Ok(change) => Event::default()
                    .event(change.name())
                    .json_data(&change)
                    .unwrap_or_else(|_| Event::default().event("resync")),
                Err(BroadcastStreamRecvError::Lagged(_)) => {
                    Event::default().event("resync").data("")
                }
            })
        }))
        // Open streams must not hold up a graceful shutdown.
        .take_until(async move {
            let _ = stopping.wait_for(|stop| *stop).await;
        });
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

/// Every [`WATCH_EVERY`], runs the library's [`Monitor`] and announces what it saw,
/// until `stop` turns true.
pub async fn watch(state: SharedState) {
    let mut stop = state.stopping.subscribe();
    // The home stays open between looks (the monitor reads the configuration afresh);
    // it is opened again after an error.
    let watching: std::sync::Arc<std::sync::Mutex<(Monitor, Option<Triplicate>)>> =
        Default::default();
    loop {
        let home = state.home.clone();
        let w = watching.clone();
        let checked = tokio::task::spawn_blocking(move || {
            let mut w = w.lock().unwrap_or_else(|p| p.into_inner());
            let (monitor, open) = &mut *w;
            if open.is_none() {
                *open = Some(Triplicate::open(&home).map_err(|e| e.to_string())?);
            }
            let t = open.as_ref().expect("just opened");
            match monitor.check(t) {
                Ok(changes) => Ok((changes, monitor.take_returned())),
                Err(e) => {
                    *open = None;
                    Err(e.to_string())
                }
            }
        })
        .await;
        match checked {
            Ok(Ok((changes, returned))) => {
                for change in changes {
                    state.service.announce(change);
                }
                if !returned.is_empty() {
                    tracing::info!(destinations = ?returned, "back: catching up now");
                    state.service.request(Action::Rescan);
                }
            }
            Ok(Err(e)) => tracing::warn!("watching for changes: {e}"),
            Err(e) => tracing::warn!("watching for changes: {e}"),
        }
        tokio::select! {
            _ = tokio::time::sleep(WATCH_EVERY) => {}
            _ = stop.wait_for(|s| *s) => return,
        }
    }
}
