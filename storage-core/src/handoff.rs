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
//!
//! Callers never spin on every core at once: at most one fewer callers than the machine has
//! cores (at least one) poll at a time, the others await at once. Spinning callers on every
//! core would leave the threads that do the work (and that they wait for) no core to run on
//! until the scheduler preempts a spinner: measured on the project's 2-core VM, two tasks each
//! polling up to 1 ms for a sled flush made a flushed 2-task mix 3× slower (before this cap).
//! The SQLite store's and the sled flusher's callers poll up to [`DEFAULT_ANSWER_SPIN`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, TryRecvError};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// How long a worker thread polls for its next job before it sleeps, unless configured
/// otherwise.
pub const DEFAULT_SPIN: Duration = Duration::from_micros(50);

/// How long a caller polls for its answer before it sleeps, unless configured otherwise: long
/// enough for a job that takes ~100 µs (an fsync, a batch) to be picked up when it lands, not
/// a wake-up later.
pub const DEFAULT_ANSWER_SPIN: Duration = Duration::from_micros(500);

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

/// Callers polling in [`await_answer`] right now, across the process.
static SPINNING: AtomicUsize = AtomicUsize::new(0);

/// How many callers may poll at once: the cores less one, at least one.
fn max_spinning() -> usize {
    static MAX: OnceLock<usize> = OnceLock::new();
    *MAX.get_or_init(|| {
        std::thread::available_parallelism()
            .map_or(1, |n| n.get().saturating_sub(1))
            .max(1)
    })
}

/// A caller's place among the [`SPINNING`] ones, given back when dropped (also when the
/// awaiting future is dropped mid-spin).
struct SpinSlot;

impl SpinSlot {
    fn take() -> Option<SpinSlot> {
        SPINNING
            .fetch_update(Ordering::Acquire, Ordering::Relaxed, |n| {
                (n < max_spinning()).then_some(n + 1)
            })
            .ok()
            .map(|_| SpinSlot)
    }
}

impl Drop for SpinSlot {
    fn drop(&mut self) {
        SPINNING.fetch_sub(1, Ordering::Release);
    }
}

/// The answer of `rx`: polled for up to `spin`, yielding to the runtime between polls (other
/// tasks run meanwhile), then awaited. A caller that finds as many callers polling as the
/// machine has cores less one awaits at once (see the [module docs](self)). `None` when the
/// sender was dropped without answering.
pub async fn await_answer<T>(mut rx: oneshot::Receiver<T>, spin: Duration) -> Option<T> {
    if spin.is_zero() {
        return rx.await.ok();
    }
    if let Some(_slot) = SpinSlot::take() {
        let start = Instant::now();
        while start.elapsed() < spin {
            match rx.try_recv() {
                Ok(value) => return Some(value),
                // The receiver is spent: awaiting it now would panic.
                Err(oneshot::error::TryRecvError::Closed) => return None,
                Err(oneshot::error::TryRecvError::Empty) => tokio::task::yield_now().await,
            }
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

    /// The tests that call `await_answer` share the process-wide count of polling callers.
    static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

    #[tokio::test]
    async fn await_answer_gets_early_and_late_answers_and_closed_senders() {
        let _serial = SERIAL.lock().await;
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

    #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
    async fn at_most_cores_less_one_callers_poll_at_once() {
        let _serial = SERIAL.lock().await;
        let senders: Vec<_> = (0..8)
            .map(|_| {
                let (tx, rx) = oneshot::channel::<usize>();
                (tx, tokio::spawn(await_answer(rx, Duration::from_secs(5))))
            })
            .collect();
        tokio::time::sleep(Duration::from_millis(50)).await;
        let polling = SPINNING.load(Ordering::Relaxed);
        assert!(
            (1..=max_spinning()).contains(&polling),
            "{polling} callers polling, at most {} allowed",
            max_spinning()
        );
        for (i, (tx, task)) in senders.into_iter().enumerate() {
            tx.send(i).unwrap();
            assert_eq!(
                task.await.unwrap(),
                Some(i),
                "pollers and sleepers all get answers"
            );
        }
        assert_eq!(SPINNING.load(Ordering::Relaxed), 0, "every slot given back");
    }
}
