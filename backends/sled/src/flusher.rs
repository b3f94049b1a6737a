//! The flusher thread of a [`Durability::Flush`](crate::Durability::Flush) store: one
//! `Db::flush` for every write waiting at that moment (group commit), off the async runtime.
//!
//! A write in the flush-per-write setting is acknowledged only once the sled log holding it is
//! flushed and fsynced. It sends a request here and awaits the answer. The thread takes every
//! request already queued, runs one `Db::flush` for all of them — each request was sent after
//! its write, so that flush covers every one — and answers each. Concurrent writers thereby
//! share fsyncs instead of queueing one each.
//!
//! Waking a sleeping thread costs tens of µs on an idle machine, more than a flush on a fast
//! disk, so the thread polls for [`SPIN`] and its callers for [`ANSWER_SPIN`] before they
//! sleep ([`mcp_kv_core::handoff`]).
//!
//! Not sled's `flush_async`: in sled 0.34 concurrent `flush_async` calls deadlock (sled issues
//! #1241 and #1308). Not `spawn_blocking` per write: a hand-off per write, and no grouping.

use std::sync::mpsc::{self, TryRecvError};
use std::thread::JoinHandle;
use std::time::Duration;

use mcp_kv_core::handoff;
use parking_lot::Mutex;
use tokio::sync::oneshot;

/// How long the thread polls for the next request before sleeping.
pub(crate) const SPIN: Duration = handoff::DEFAULT_SPIN;

/// How long a waiting caller polls for its answer before sleeping: past a flush (~55–70 µs on
/// the project's VM, ~400 µs with a 100-entry batch in the log), so the answer is picked up when
/// it lands. With the 50 µs it had before, every flush outlasted the caller's poll and paid a
/// wake-up: `put` (flush) took ~2.7× raw sled's inline flush in the interleaved check.
pub(crate) const ANSWER_SPIN: Duration = handoff::DEFAULT_ANSWER_SPIN;

type Request = oneshot::Sender<sled::Result<usize>>;

/// See the [module docs](self).
pub(crate) struct Flusher {
    sender: Mutex<Option<mpsc::Sender<Request>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
}

impl Flusher {
    /// Starts the thread; it holds a handle on `db` until [`stop`](Self::stop) or until the
    /// flusher is dropped.
    pub(crate) fn start(db: sled::Db) -> std::io::Result<Flusher> {
        let (sender, requests) = mpsc::channel::<Request>();
        let thread = std::thread::Builder::new()
            .name("mcp-kv-sled-flusher".into())
            .spawn(move || run(&db, &requests))?;
        Ok(Flusher {
            sender: Mutex::new(Some(sender)),
            thread: Mutex::new(Some(thread)),
        })
    }

    /// Flushes sled's log, covering every write made before this call. `None` once stopped
    /// (the caller flushes some other way).
    pub(crate) async fn flush(&self) -> Option<sled::Result<usize>> {
        let (answer, rx) = oneshot::channel();
        self.sender.lock().as_ref()?.send(answer).ok()?;
        handoff::await_answer(rx, ANSWER_SPIN).await
    }

    /// Answers the requests already sent, then stops the thread and waits for it (which
    /// releases its handle on the database). Idempotent.
    pub(crate) fn stop(&self) {
        drop(self.sender.lock().take());
        if let Some(thread) = self.thread.lock().take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
impl Flusher {
    /// Whether [`stop`](Self::stop) ran.
    pub(crate) fn is_stopped(&self) -> bool {
        self.thread.lock().is_none()
    }
}

impl Drop for Flusher {
    /// Stops the thread as [`stop`](Flusher::stop) does, so that dropping the store releases
    /// the database (and its directory lock) as before: the thread ends at once, or after the
    /// flush it is running.
    fn drop(&mut self) {
        self.stop();
    }
}

fn run(db: &sled::Db, requests: &mpsc::Receiver<Request>) {
    while let Some(first) = next(requests) {
        let mut waiting = vec![first];
        waiting.extend(requests.try_iter());
        let result = db.flush();
        for answer in waiting {
            let _ = answer.send(result.clone());
        }
    }
}

/// The next request: polled for [`SPIN`] (the thread stays awake), then waited for; `None`
/// once every sender is gone and the queue is empty.
fn next(requests: &mpsc::Receiver<Request>) -> Option<Request> {
    match handoff::poll_job(requests, SPIN) {
        Ok(request) => Some(request),
        Err(TryRecvError::Disconnected) => None,
        Err(TryRecvError::Empty) => requests.recv().ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_requests_are_all_answered_then_stop_refuses() {
        let db = sled::Config::new().temporary(true).open().unwrap();
        let flusher = Arc::new(Flusher::start(db.clone()).unwrap());
        let tasks: Vec<_> = (0..16u32)
            .map(|i| {
                let (db, flusher) = (db.clone(), flusher.clone());
                tokio::spawn(async move {
                    for j in 0..20u32 {
                        db.insert(format!("{i}-{j}"), &b"v"[..]).unwrap();
                        flusher.flush().await.expect("running").unwrap();
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        assert_eq!(db.len(), 16 * 20);
        flusher.stop();
        flusher.stop();
        assert!(flusher.flush().await.is_none(), "a stopped flusher refuses");
    }
}
