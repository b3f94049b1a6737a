//! Reads on the caller's thread: a small pool of read connections that a `get` borrows for the
//! few microseconds of one primary-key lookup, and a `get_many` takes out ([`Lease`]) for its
//! slices of point reads, instead of a round trip to a reader thread (see the crate docs,
//! section *Threading*, for why and when).
//!
//! A connection here never waits for a lock: its busy timeout is 0, and a read that SQLite
//! answers `SQLITE_BUSY`/`SQLITE_LOCKED` gives up at once and is run again on a reader thread,
//! which waits with the store's busy timeout. When every connection is borrowed (more
//! concurrent point reads than connections) the read goes to a reader thread too.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use parking_lot::Mutex;
use rusqlite::{Connection, ErrorCode};

/// The pool: one slot per connection, a read takes the first slot it can lock (so a caller
/// that reads one key after another keeps one connection and its warm page cache). Empty for
/// an in-memory store or with
/// [`SqliteStoreBuilder::inline_readers(0)`](crate::SqliteStoreBuilder::inline_readers).
pub(crate) struct InlineReaders {
    /// `None` once closed, or while a batch holds the connection ([`Lease`]).
    slots: Box<[Mutex<Option<Connection>>]>,
    /// Connections out on a [`Lease`] (close waits for them).
    leased: AtomicUsize,
    closed: AtomicBool,
}

/// A connection taken out of the pool for a batch that yields to its runtime between slices
/// (a `&Connection` cannot be held across an `.await` of a `Send` future: `Connection` is not
/// `Sync`). Given back when dropped — a read transaction still open rolled back first — or
/// closed when the pool has closed meanwhile.
pub(crate) struct Lease<'a> {
    pool: &'a InlineReaders,
    slot: usize,
    conn: Option<Connection>,
}

impl Lease<'_> {
    pub(crate) fn conn(&self) -> &Connection {
        // Only `Drop` takes it out.
        self.conn
            .as_ref()
            .expect("a lease holds its connection until dropped")
    }
}

impl Drop for Lease<'_> {
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            if !conn.is_autocommit() {
                // Dropped mid-batch (its future was cancelled, or it failed): end its snapshot.
                let _ = conn.execute_batch("ROLLBACK");
            }
            let mut slot = self.pool.slots[self.slot].lock();
            // Checked under the slot's lock, which `close` takes after setting the flag.
            if self.pool.closed.load(Ordering::Acquire) || std::thread::panicking() {
                drop(slot);
                drop(conn);
            } else {
                *slot = Some(conn);
            }
        }
        self.pool.leased.fetch_sub(1, Ordering::AcqRel);
    }
}

impl InlineReaders {
    pub(crate) fn new(conns: Vec<Connection>) -> InlineReaders {
        InlineReaders {
            slots: conns.into_iter().map(|c| Mutex::new(Some(c))).collect(),
            leased: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
        }
    }

    /// Runs `f` on an idle connection of the pool, on this thread. `None` when the read must go
    /// to a reader thread instead: no idle connection (none configured, all borrowed, the pool
    /// closed), or SQLite found the database locked (the read would have had to wait).
    pub(crate) fn try_read<T>(
        &self,
        f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Option<rusqlite::Result<T>> {
        if self.closed.load(Ordering::Acquire) {
            return None;
        }
        let slot = self
            .slots
            .iter()
            .find_map(|slot| slot.try_lock().filter(|conn| conn.is_some()))?;
        match f(slot.as_ref()?) {
            Err(e) if is_locked(&e) => None,
            r => Some(r),
        }
    }

    /// Takes an idle connection out of the pool for a batch (see [`Lease`]); `None` as for
    /// [`try_read`](Self::try_read).
    pub(crate) fn lease(&self) -> Option<Lease<'_>> {
        if self.closed.load(Ordering::Acquire) {
            return None;
        }
        self.slots.iter().enumerate().find_map(|(i, slot)| {
            let mut slot = slot.try_lock()?;
            let conn = slot.take()?;
            // Counted before the slot is unlocked: a `close` that drains this slot next waits
            // for the lease.
            self.leased.fetch_add(1, Ordering::AcqRel);
            Some(Lease {
                pool: self,
                slot: i,
                conn: Some(conn),
            })
        })
    }

    /// Closes the pool: no connection is handed out any more, and every connection is taken
    /// out — a borrowed one once its read ends — and returned for the caller to close where it
    /// wants. Returns once all are out, so a checkpoint that follows finds no reader of ours
    /// holding part of the WAL.
    pub(crate) async fn close(&self) -> Vec<Connection> {
        self.closed.store(true, Ordering::Release);
        let mut out = Vec::with_capacity(self.slots.len());
        for slot in self.slots.iter() {
            // A borrowed connection serves one point read: microseconds, a page read at worst.
            loop {
                if let Some(mut conn) = slot.try_lock() {
                    out.extend(conn.take());
                    break;
                }
                tokio::task::yield_now().await;
            }
        }
        // A leased connection is closed by its lease when the batch ends (a slice of reads).
        while self.leased.load(Ordering::Acquire) > 0 {
            tokio::task::yield_now().await;
        }
        out
    }

    /// The connections not borrowed right now, taken out of a pool that is being dropped (a
    /// borrowed one is closed by its reader's thread).
    pub(crate) fn take_idle(&self) -> Vec<Connection> {
        self.closed.store(true, Ordering::Release);
        self.slots
            .iter()
            .filter_map(|slot| slot.try_lock()?.take())
            .collect()
    }
}

/// SQLite would have had to wait for a lock (another connection's recovery or checkpoint, an
/// exclusive lock of another process).
pub(crate) fn is_locked(e: &rusqlite::Error) -> bool {
    matches!(e, rusqlite::Error::SqliteFailure(f, _)
        if matches!(f.code, ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conn() -> Connection {
        Connection::open_in_memory().unwrap()
    }

    fn idle(pool: &InlineReaders) -> usize {
        pool.slots
            .iter()
            .filter(|s| s.try_lock().is_some_and(|c| c.is_some()))
            .count()
    }

    #[test]
    fn a_read_borrows_and_gives_back() {
        let pool = InlineReaders::new(vec![conn()]);
        let one = pool.try_read(|c| c.query_row("SELECT 1", [], |r| r.get::<_, i64>(0)));
        assert_eq!(one.unwrap().unwrap(), 1);
        assert_eq!(idle(&pool), 1);
    }

    #[test]
    fn no_idle_connection_sends_the_read_elsewhere() {
        let empty = InlineReaders::new(Vec::new());
        assert!(empty.try_read(|_| Ok(())).is_none());

        // The only connection borrowed: a nested read finds none; with two it finds the other.
        let pool = InlineReaders::new(vec![conn()]);
        let outer = pool.try_read(|_| Ok(pool.try_read(|_| Ok(())).is_none()));
        assert!(outer.unwrap().unwrap());
        let pool = InlineReaders::new(vec![conn(), conn()]);
        let outer = pool.try_read(|_| Ok(pool.try_read(|_| Ok(())).is_some()));
        assert!(outer.unwrap().unwrap());
    }

    #[test]
    fn a_locked_database_sends_the_read_elsewhere_other_errors_stay() {
        let pool = InlineReaders::new(vec![conn()]);
        for code in [rusqlite::ffi::SQLITE_BUSY, rusqlite::ffi::SQLITE_LOCKED] {
            let locked = pool.try_read(|_| -> rusqlite::Result<()> {
                Err(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(code),
                    None,
                ))
            });
            assert!(locked.is_none());
        }
        let bad = pool.try_read(|c| c.execute("SELECT * FROM missing", []));
        assert!(bad.unwrap().is_err());
        assert_eq!(idle(&pool), 1, "given back every time");
    }

    #[test]
    fn close_waits_for_a_borrowed_connection_and_takes_them_all() {
        let pool = InlineReaders::new(vec![conn(), conn()]);
        let (started, ended) = (std::sync::Barrier::new(2), AtomicBool::new(false));
        let reading = std::thread::scope(|s| {
            let reader = s.spawn(|| {
                pool.try_read(|_| {
                    started.wait();
                    std::thread::sleep(std::time::Duration::from_millis(100));
                    ended.store(true, Ordering::SeqCst);
                    Ok(())
                })
            });
            started.wait();
            let closed = block_on(pool.close());
            assert!(
                ended.load(Ordering::SeqCst),
                "close returned before the read ended"
            );
            assert_eq!(closed.len(), 2, "the idle one and the borrowed one");
            reader.join().unwrap()
        });
        assert!(reading.unwrap().is_ok());
        assert!(
            pool.try_read(|_| Ok(())).is_none(),
            "nothing handed out once closed"
        );
        assert!(block_on(pool.close()).is_empty(), "idempotent");
    }

    /// Drives `close` on this thread.
    fn block_on<F: std::future::Future>(f: F) -> F::Output {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
            .block_on(f)
    }

    #[test]
    fn a_lease_takes_a_connection_out_and_gives_it_back_rolled_back() {
        let pool = InlineReaders::new(vec![conn(), conn()]);
        let lease = pool.lease().unwrap();
        lease.conn().execute_batch("BEGIN").unwrap();
        assert_eq!(idle(&pool), 1);
        // A point read skips the leased (empty) slot and uses the other connection.
        assert!(pool.try_read(|_| Ok(())).is_some());
        let second = pool.lease().unwrap();
        assert!(pool.lease().is_none(), "both out");
        assert!(pool.try_read(|_| Ok(())).is_none(), "none idle");
        drop((lease, second));
        assert_eq!(idle(&pool), 2);
        assert_eq!(pool.leased.load(Ordering::SeqCst), 0);
        let back = pool.lease().unwrap();
        assert!(
            back.conn().is_autocommit(),
            "the open transaction was rolled back"
        );
    }

    #[test]
    fn close_waits_for_a_lease() {
        let pool = InlineReaders::new(vec![conn(), conn()]);
        let ended = AtomicBool::new(false);
        std::thread::scope(|s| {
            let lease = pool.lease().unwrap();
            s.spawn(|| {
                std::thread::sleep(std::time::Duration::from_millis(100));
                ended.store(true, Ordering::SeqCst);
                drop(lease);
            });
            let closed = block_on(pool.close());
            assert!(
                ended.load(Ordering::SeqCst),
                "close returned before the lease ended"
            );
            assert_eq!(
                closed.len(),
                1,
                "the idle one; the leased one its lease closed"
            );
        });
        assert_eq!(idle(&pool), 0);
        assert!(pool.lease().is_none());
    }

    #[test]
    fn a_panicking_read_leaves_the_pool_usable() {
        let pool = InlineReaders::new(vec![conn()]);
        let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            pool.try_read(|_| -> rusqlite::Result<()> { panic!("expected in this test") })
        }));
        assert!(r.is_err());
        assert!(pool.try_read(|_| Ok(())).is_some());
    }
}
