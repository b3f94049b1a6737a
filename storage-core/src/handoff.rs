//! Spin-then-sleep hand-offs, for backends that run blocking work on threads of their own.
//!
//! A backend that keeps blocking calls off the async runtime sends jobs to a thread over a
//! channel and awaits a oneshot answer. On an idle machine a thread that has gone to sleep
//! takes tens of µs to wake (~35 µs each way was measured on the project's 2-core VM) — more
//! than a cached SQLite read or a sled flush on a fast disk. So both sides poll for a short
//! while before they sleep: the worker for its next job ([`poll_job`]), the caller for its
//! answer ([`await_answer`], yielding to its runtime between polls, never blocking it).
//! Back-to-back operations then find both threads awake; the price is up to `spin` of busy CPU
//! on each side after the last operation of a burst.

use std::sync::mpsc::{self, TryRecvError};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// The spin the backends use unless configured otherwise.
pub const DEFAULT_SPIN: Duration = Duration::from_micros(50);

/// The next message of `receiver`, polled for up to `spin` with the thread kept awake.
/// `Err(TryRecvError::Empty)` when the spin ran out (the caller then blocks as it sees fit),
/// `Err(TryRecvError::Disconnected)` when every sender is gone and the queue is empty.
pub fn poll_job<T>(receiver: &mpsc::Receiver<T>, spin: Duration) -> Result<T, TryRecvError> {
    let start = Instant::now();
    loop {
        match receiver.try_recv() {
            Err(TryRecvError::Empty) if start.elapsed() < spin => std::hint::spin_loop(),
            other => return other,
        }
    }
}

/// The answer of `rx`: polled for up to `spin`, yielding to the runtime between polls (other
/// tasks run meanwhile), then awaited. `None` when the sender was dropped without answering.
pub async fn await_answer<T>(mut rx: oneshot::Receiver<T>, spin: Duration) -> Option<T> {
    let start = Instant::now();
    while start.elapsed() < spin {
        match rx.try_recv() {
            Ok(value) => return Some(value),
            // The receiver is spent: awaiting it now would panic.
            Err(oneshot::error::TryRecvError::Closed) => return None,
            Err(oneshot::error::TryRecvError::Empty) => tokio::task::yield_now().await,
        }
    }
    rx.await.ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poll_job_returns_messages_runs_out_and_sees_disconnection() {
        let (tx, rx) = mpsc::channel();
        tx.send(1).unwrap();
        assert_eq!(poll_job(&rx, Duration::ZERO), Ok(1));
        assert_eq!(
            poll_job(&rx, Duration::from_micros(20)),
            Err(TryRecvError::Empty)
        );
        drop(tx);
        assert_eq!(poll_job(&rx, DEFAULT_SPIN), Err(TryRecvError::Disconnected));
    }

    #[tokio::test]
    async fn await_answer_gets_early_and_late_answers_and_closed_senders() {
        let (tx, rx) = oneshot::channel();
        tx.send(1).unwrap();
        assert_eq!(await_answer(rx, DEFAULT_SPIN).await, Some(1));

        let (tx, rx) = oneshot::channel();
        std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(5));
            tx.send(2).unwrap();
        });
        assert_eq!(await_answer(rx, Duration::from_micros(10)).await, Some(2));

        let (tx, rx) = oneshot::channel::<i32>();
        drop(tx);
        assert_eq!(await_answer(rx, DEFAULT_SPIN).await, None);
    }
}
