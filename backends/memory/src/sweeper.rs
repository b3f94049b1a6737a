//! The background sweeper: a Tokio task that removes expired entries every interval.
//!
//! It holds only a [`Weak`] reference to the store, upgraded for the duration of one sweep, so
//! it never keeps a dropped store alive. It ends when the store is closed (`close()` wakes it),
//! when the last handle is dropped (the store's `Drop` wakes it), or — at the latest — at the
//! next tick after either.

use std::sync::{Arc, Weak};
use std::time::Duration;

use crate::shards::Inner;

/// Starts the sweeper on the current Tokio runtime, if there is one.
pub(crate) fn start(inner: &Arc<Inner>) {
    let Some(interval) = inner.sweep_interval else {
        return;
    };
    let Ok(runtime) = tokio::runtime::Handle::try_current() else {
        return;
    };
    let weak = Arc::downgrade(inner);
    let stop = inner.stop.clone();
    let task = runtime.spawn(run(weak, stop, interval));
    *inner.sweeper.lock() = Some(task);
}

async fn run(weak: Weak<Inner>, stop: Arc<tokio::sync::Notify>, interval: Duration) {
    loop {
        tokio::select! {
            () = tokio::time::sleep(interval) => {}
            () = stop.notified() => return,
        }
        let Some(inner) = weak.upgrade() else {
            return;
        };
        if inner.is_closed() {
            return;
        }
        inner.cull();
    }
}
