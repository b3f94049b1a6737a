//! Where the blocking SQLite work runs: one writer thread that owns the write connection, and
//! (file stores) a few reader threads that each own a read connection. Nothing here blocks an
//! async task; nothing depends on which async runtime awaits the answers.
//!
//! - **Writes** (and every operation of an in-memory store) are closures sent over a channel to
//!   the writer thread, which runs them one at a time on its connection and answers through a
//!   oneshot. One writer per process matches SQLite (one writer per file at a time): our own
//!   writes never contend for the file lock, only other processes' do (busy timeout).
//! - **Reads by key** (`get`, `get_many`) of a file store mostly do not come here: they run on
//!   the caller's thread (see [`crate::inline`]) and come here only when SQLite answered their
//!   first read `SQLITE_BUSY` or every inline connection was in use.
//! - **Reads** of a file store go to a reader thread, the one with the fewest jobs in flight,
//!   the first on a tie (WAL: readers never wait for the writer), so reads run in parallel with
//!   each other and with a write that is fsyncing. A job leaves the count before it answers, so
//!   back-to-back reads of one caller stay on one awake reader with a warm cache.
//! - The writer thread also runs the optional sweeper between jobs, and on close checkpoints
//!   the WAL and closes its connection after the readers closed theirs.
//!
//! - **Spins**: after a job a worker polls its channel for [`SqliteConfig::idle_spin`] before
//!   it sleeps, and a caller polls for its answer for up to [`SqliteConfig::answer_spin`]
//!   (yielding to its runtime between polls) before it awaits: on an idle virtual machine waking
//!   a sleeping thread costs ~35 µs, far more than a point read, so back-to-back operations
//!   stay on two awake threads, and a caller picks up an answer that takes ~100 µs (a batch, an
//!   fsync) at once.
//!
//! Why dedicated threads rather than `spawn_blocking`: measured on the project's 2-core
//! machine (see the crate docs), a round trip to a parked dedicated thread cost 4.6–7 µs, to
//! tokio's blocking pool 9–13 µs, and to a pool of threads sharing one queue ~10 µs.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rusqlite::Connection;
use tokio::sync::oneshot;

use mcp_kv_core::{handoff, Error, ErrorKind, Operation, Result, SharedClock};

use crate::encoding::{encode_now, map_sqlite, BACKEND};
use crate::inline::{InlineReaders, Lease};
use crate::schema::Sql;
#[cfg(doc)]
use crate::SqliteConfig;

/// A job gets the connection and its worker's in-flight counter, which it decrements before it
/// answers (see [`Worker::run`]).
type Job = Box<dyn FnOnce(&mut Connection, &AtomicUsize) + Send>;

enum Msg {
    Job(Job),
    Close(oneshot::Sender<Result<()>>),
}

/// The error of an operation on a closed store.
pub(crate) fn closed(op: Operation) -> Error {
    Error::new(ErrorKind::Unavailable, "the store is closed")
        .set_temporary(false)
        .with_operation(op)
        .with_backend(BACKEND)
}

fn stopped(op: Operation) -> Error {
    Error::new(
        ErrorKind::Backend,
        "the SQLite worker stopped before answering",
    )
    .with_operation(op)
    .with_backend(BACKEND)
}

/// What the writer thread does besides jobs.
pub(crate) struct Sweep {
    pub(crate) every: Duration,
    pub(crate) sql: Arc<Sql>,
    pub(crate) clock: SharedClock,
}

/// A job its worker thread never answered: the thread had stopped (closed, or its job
/// panicked).
struct Unanswered;

/// One thread owning one connection.
struct Worker {
    sender: mpsc::Sender<Msg>,
    in_flight: Arc<AtomicUsize>,
    /// How long a caller polls for its answer.
    answer_spin: Duration,
    thread: Mutex<Option<JoinHandle<()>>>,
    closing: tokio::sync::Mutex<Closing>,
}

/// How far a worker's [`close`](Worker::close) got.
enum Closing {
    Open,
    /// `Close` sent; its answer not yet received (the call awaiting it may have been dropped).
    Sent(oneshot::Receiver<Result<()>>),
    Done,
}

impl Worker {
    fn start(
        name: &str,
        conn: Connection,
        writer: bool,
        sweep: Option<Sweep>,
        spin: Duration,
        answer_spin: Duration,
    ) -> Result<Worker> {
        let (sender, receiver) = mpsc::channel();
        let in_flight = Arc::new(AtomicUsize::new(0));
        let counter = in_flight.clone();
        let thread = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || worker_loop(conn, receiver, counter, writer, sweep, spin))
            .map_err(|e| {
                Error::new(ErrorKind::Backend, "cannot start a SQLite worker thread")
                    .with_source(e)
                    .with_operation(Operation::Open)
                    .with_backend(BACKEND)
            })?;
        Ok(Worker {
            sender,
            in_flight,
            answer_spin,
            thread: Mutex::new(Some(thread)),
            closing: tokio::sync::Mutex::new(Closing::Open),
        })
    }

    /// Runs `f` on the thread. `Err(Unanswered)` when the thread dropped the job without
    /// running it (it had closed: the job reached the channel behind a `Close`) or panicked.
    async fn run<T, F>(&self, f: F) -> std::result::Result<Result<T>, Unanswered>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        let (tx, rx) = oneshot::channel();
        let job: Job = Box::new(move |conn, in_flight| {
            let result = f(conn);
            // Not in flight any more *before* the caller can see the answer: a caller that
            // issues its next read at once then finds this worker idle and comes back to it
            // (still awake, its connection's cache warm) instead of waking another one.
            in_flight.fetch_sub(1, Ordering::Relaxed);
            let _ = tx.send(result);
        });
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        if self.sender.send(Msg::Job(job)).is_err() {
            self.in_flight.fetch_sub(1, Ordering::Relaxed);
            return Err(Unanswered);
        }
        handoff::await_answer(rx, self.answer_spin)
            .await
            .ok_or(Unanswered)
    }

    /// Closes the connection on the thread and waits for the thread. Idempotent. A call
    /// dropped midway leaves the `Close` it sent pending here, and the next call waits for its
    /// answer (a second `Close` would reach a thread that ends without answering it).
    async fn close(&self) -> Result<()> {
        // Held across the await: concurrent calls wait for one another.
        let mut closing = self.closing.lock().await;
        if let Closing::Open = *closing {
            let (tx, rx) = oneshot::channel();
            if self.sender.send(Msg::Close(tx)).is_err() {
                *closing = Closing::Done;
                return Ok(());
            }
            *closing = Closing::Sent(rx);
        }
        let Closing::Sent(rx) = &mut *closing else {
            return Ok(());
        };
        let result = rx.await.map_err(|_| stopped(Operation::Close));
        *closing = Closing::Done;
        // The thread has answered and is returning: joining it does not block for long.
        if let Some(thread) = self.thread.lock().take() {
            let _ = thread.join();
        }
        result?
    }
}

/// The writer thread and the reader threads of one store.
pub(crate) struct Engine {
    writer: Worker,
    readers: Vec<Worker>,
    /// Read connections a point read uses on its caller's thread.
    inline: InlineReaders,
    closed: AtomicBool,
}

impl Engine {
    /// Starts the writer thread on `writer` and one reader thread per read connection
    /// (`read_only`: the writer connection is read-only too, and its close writes nothing).
    pub(crate) fn start(
        writer: Connection,
        readers: Vec<Connection>,
        inline: Vec<Connection>,
        sweep: Option<Sweep>,
        spin: Duration,
        answer_spin: Duration,
        read_only: bool,
    ) -> Result<Engine> {
        let readers = readers
            .into_iter()
            .enumerate()
            .map(|(i, conn)| {
                Worker::start(
                    &format!("mcp-kv-sqlite-reader-{i}"),
                    conn,
                    false,
                    None,
                    spin,
                    answer_spin,
                )
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Engine {
            // A read-only store's "writer" only reads: closing it neither checkpoints nor
            // optimizes (both would write).
            writer: Worker::start(
                "mcp-kv-sqlite-writer",
                writer,
                !read_only,
                sweep,
                spin,
                answer_spin,
            )?,
            readers,
            inline: InlineReaders::new(inline),
            closed: AtomicBool::new(false),
        })
    }

    /// Runs `f` on the writer thread.
    pub(crate) async fn write<T, F>(&self, op: Operation, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
    {
        if self.closed.load(Ordering::Acquire) {
            return Err(closed(op));
        }
        let answer = self.writer.run(f).await;
        self.answered(op, answer)
    }

    /// The answer of a job, or why there is none: a job that met a `close()` under way (sent
    /// after the check above, reaching the thread behind the `Close`) gets the closed store's
    /// error, like one that came after; only a thread that stopped on its own (a panicking
    /// job) is a backend error.
    fn answered<T>(
        &self,
        op: Operation,
        answer: std::result::Result<Result<T>, Unanswered>,
    ) -> Result<T> {
        match answer {
            Ok(result) => result,
            Err(Unanswered) if self.closed.load(Ordering::Acquire) => Err(closed(op)),
            Err(Unanswered) => Err(stopped(op)),
        }
    }

    /// Runs `f` on the least busy reader thread, or on the writer thread when the store has no
    /// read connections (in memory).
    pub(crate) async fn read<T, F>(&self, op: Operation, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T> + Send + 'static,
    {
        if self.closed.load(Ordering::Acquire) {
            return Err(closed(op));
        }
        let reader = self
            .readers
            .iter()
            .min_by_key(|r| r.in_flight.load(Ordering::Relaxed));
        let answer = match reader {
            Some(reader) => reader.run(move |conn| f(conn)).await,
            None => self.writer.run(move |conn| f(conn)).await,
        };
        self.answered(op, answer)
    }

    /// Runs `f` on this thread with one of the inline read connections; `None` when the read
    /// must go to a reader thread ([`read`](Self::read)) instead (see [`InlineReaders`]).
    pub(crate) fn read_inline<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Option<rusqlite::Result<T>> {
        self.inline.try_read(f)
    }

    /// One of the inline read connections, taken out for a batch run on this task; `None` as
    /// for [`read_inline`](Self::read_inline).
    pub(crate) fn lease_inline(&self) -> Option<Lease<'_>> {
        self.inline.lease()
    }

    /// Closes the inline connections and the readers, then stops the sweeper, checkpoints the
    /// WAL into the database file and closes the writer. Idempotent; a call dropped midway (a
    /// timeout) leaves the rest to the next call, which returns once every connection is
    /// closed — not at once because the first call had started.
    pub(crate) async fn close(&self) -> Result<()> {
        self.closed.store(true, Ordering::Release);
        drop(self.inline.close().await);
        for reader in &self.readers {
            reader.close().await?;
        }
        self.writer.close().await
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        // Dropping the senders ends the worker loops, which close their connections (SQLite
        // then checkpoints on its own); the threads finish in the background. The idle inline
        // connections are closed on the writer thread before its own, so that the last one to
        // close — the one that checkpoints — is the writer's there, not one here on a caller's
        // thread.
        self.closed.store(true, Ordering::Release);
        let inline = self.inline.take_idle();
        if !inline.is_empty() {
            let job: Job = Box::new(move |_, _| drop(inline));
            let _ = self.writer.sender.send(Msg::Job(job));
        }
    }
}

fn worker_loop(
    mut conn: Connection,
    receiver: mpsc::Receiver<Msg>,
    in_flight: Arc<AtomicUsize>,
    writer: bool,
    sweep: Option<Sweep>,
    spin: Duration,
) {
    // A sweep due past the end of what `Instant` can represent never comes (`checked_add`: an
    // interval such as `Duration::MAX` must not panic the writer thread).
    let mut next_sweep = sweep
        .as_ref()
        .and_then(|s| Instant::now().checked_add(s.every));
    loop {
        let polled = match handoff::poll_job(&receiver, spin) {
            Ok(msg) => Some(msg),
            Err(mpsc::TryRecvError::Disconnected) => break,
            Err(mpsc::TryRecvError::Empty) => None,
        };
        let msg = match (polled, next_sweep) {
            (Some(msg), _) => Some(msg),
            (None, None) => match receiver.recv() {
                Ok(msg) => Some(msg),
                Err(_) => break,
            },
            (None, Some(at)) => {
                match receiver.recv_timeout(at.saturating_duration_since(Instant::now())) {
                    Ok(msg) => Some(msg),
                    Err(mpsc::RecvTimeoutError::Timeout) => None,
                    Err(mpsc::RecvTimeoutError::Disconnected) => break,
                }
            }
        };
        match msg {
            Some(Msg::Job(job)) => {
                // A panicking job drops its reply sender (its caller gets an error) before it
                // could decrement the counter; the thread lives on.
                let outcome = catch_unwind(AssertUnwindSafe(|| job(&mut conn, &in_flight)));
                if outcome.is_err() {
                    in_flight.fetch_sub(1, Ordering::Relaxed);
                }
            }
            Some(Msg::Close(reply)) => {
                let _ = reply.send(shutdown(conn, writer));
                return;
            }
            None => {}
        }
        if let (Some(at), Some(s)) = (next_sweep, &sweep) {
            if Instant::now() >= at {
                run_sweep(&conn, &s.sql, &s.clock);
                next_sweep = Instant::now().checked_add(s.every);
            }
        }
    }
    let _ = shutdown(conn, writer);
}

fn run_sweep(conn: &Connection, sql: &Sql, clock: &SharedClock) {
    let now = encode_now(clock.now_millis());
    match conn
        .prepare_cached(&sql.cull)
        .and_then(|mut s| s.execute([now]))
    {
        Ok(0) => {}
        Ok(n) => tracing::debug!(removed = n, "mcp-kv-sqlite sweeper removed expired entries"),
        Err(e) => tracing::warn!(error = %e, "mcp-kv-sqlite sweeper failed"),
    }
}

/// Checkpoints the WAL (truncating it; writer only) and closes the connection.
fn shutdown(conn: Connection, writer: bool) -> Result<()> {
    let op = Operation::Close;
    let in_wal = writer
        && conn
            .pragma_query_value(None, "journal_mode", |r| r.get::<_, String>(0))
            .map(|m| m.eq_ignore_ascii_case("wal"))
            .unwrap_or(false);
    if in_wal {
        // (busy, log frames, checkpointed frames): busy = 1 means another process's reader
        // kept part of the WAL; that is not an error, the WAL stays valid.
        conn.query_row("PRAGMA wal_checkpoint(TRUNCATE)", [], |_| Ok(()))
            .map_err(|e| map_sqlite(e, op))?;
    }
    if writer {
        let _ = conn.execute_batch("PRAGMA optimize");
    }
    conn.close().map_err(|(_, e)| map_sqlite(e, op))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer thread on an in-memory connection, no readers, no spin.
    fn in_memory_engine() -> Engine {
        let conn = Connection::open_in_memory().unwrap();
        Engine::start(
            conn,
            Vec::new(),
            Vec::new(),
            None,
            Duration::ZERO,
            Duration::ZERO,
            false,
        )
        .unwrap()
    }

    /// A job that reaches the writer's channel behind a `Close` (sent by a `close()` that
    /// started after the job's own check of the flag) is never run; its caller gets the closed
    /// store's `Unavailable`, not a backend error.
    #[tokio::test]
    async fn a_job_queued_behind_close_gets_the_closed_error() {
        let engine = in_memory_engine();
        let (tx, rx) = oneshot::channel();
        // What `close()` does between a job's check of the flag and its send: flag set, `Close`
        // queued — and the job behind it.
        engine.closed.store(true, Ordering::Release);
        engine.writer.sender.send(Msg::Close(tx)).unwrap();
        let answer = engine.writer.run(|_| Ok(())).await;
        let err = engine.answered(Operation::Put, answer).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
        assert!(!err.is_temporary());
        rx.await.unwrap().unwrap();

        // A thread that stopped on its own (the store still open) is a backend error.
        let engine = in_memory_engine();
        let answer = engine
            .writer
            .run(|_| -> Result<()> { panic!("a job that panics (expected in this test)") })
            .await;
        let err = engine.answered(Operation::Put, answer).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Backend, "{err}");
    }
}
