//! SQLite-specific behaviour: names with NUL, persistence, close, schema versions, the sweeper,
//! the injected clock, and the query plans the layout promises.

use std::time::Duration;

use bytes::Bytes;
use mcp_kv_core::{ErrorKind, KvStore, ManualClock};
use mcp_kv_sqlite::{SqliteStore, DEFAULT_TABLE, SCHEMA_VERSION};

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

#[tokio::test]
async fn names_with_nul_are_distinct_and_ordered_by_bytes() {
    let dir = tempfile::tempdir().unwrap();
    for store in [
        SqliteStore::memory().unwrap(),
        SqliteStore::open(dir.path().join("kv.db")).unwrap(),
    ] {
        let keys = ["a", "a\0", "a\0b", "a\0c", "a\u{1}", "\0", "é\0ü"];
        for (i, k) in keys.iter().enumerate() {
            store.put("c\0x", k, b(&i.to_string()), None).await.unwrap();
        }
        store
            .put("c", "a", b("other collection"), None)
            .await
            .unwrap();
        store
            .put("c\0", "a", b("third collection"), None)
            .await
            .unwrap();
        for (i, k) in keys.iter().enumerate() {
            assert_eq!(
                store.get("c\0x", k).await.unwrap(),
                Some(b(&i.to_string())),
                "{k:?}"
            );
        }
        assert_eq!(
            store.get("c", "a").await.unwrap(),
            Some(b("other collection"))
        );
        assert_eq!(
            store.get("c\0", "a").await.unwrap(),
            Some(b("third collection"))
        );
        let mut expected: Vec<String> = keys.iter().map(|k| k.to_string()).collect();
        expected.sort_by(|x, y| x.as_bytes().cmp(y.as_bytes()));
        // Page through two keys at a time: byte order, cursors over NUL-bearing keys.
        let seen = mcp_kv_core::testkit::all_keys(&store, "c\0x", 2)
            .await
            .unwrap();
        assert_eq!(seen, expected);
        let mut collections = store.collections().await.unwrap();
        collections.sort();
        assert_eq!(collections, vec!["c", "c\0", "c\0x"]);
        assert!(store.take("c\0x", "a\0b").await.unwrap().is_some());
        assert_eq!(store.get("c\0x", "a\0c").await.unwrap(), Some(b("3")));
        store.close().await.unwrap();
    }
}

#[tokio::test]
async fn data_survives_reopen_and_close_checkpoints() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv.db");
    let store = SqliteStore::open(&path).unwrap();
    let entries: Vec<(String, Bytes)> = (0..500)
        .map(|i| (format!("k{i}"), b(&format!("v{i}"))))
        .collect();
    store.put_many("c", entries, None).await.unwrap();
    store
        .put("c", "ttl", b("t"), Some(Duration::from_secs(3600)))
        .await
        .unwrap();
    let wal = dir.path().join("kv.db-wal");
    assert!(
        std::fs::metadata(&wal).unwrap().len() > 0,
        "writes go to the WAL first"
    );
    store.close().await.unwrap();
    // The checkpoint moved everything into the main file and truncated the WAL.
    assert_eq!(std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0), 0);

    let store = SqliteStore::open(&path).unwrap();
    assert_eq!(store.get("c", "k499").await.unwrap(), Some(b("v499")));
    let entry = store.get_entry("c", "ttl").await.unwrap().unwrap();
    assert!(entry.ttl.unwrap() <= Duration::from_secs(3600));
    assert!(entry.ttl.unwrap() > Duration::from_secs(3500));
    store.close().await.unwrap();
}

/// Polls `fut` once and drops it: a call abandoned at its first wait (a `Timeout`, a cancelled
/// shutdown). `true` if it had finished.
fn poll_once_then_drop(fut: impl std::future::Future) -> bool {
    poll_once(std::pin::pin!(fut).as_mut())
}

/// Polls `fut` once with a waker that does nothing: `true` if it finished.
fn poll_once<F: std::future::Future>(fut: std::pin::Pin<&mut F>) -> bool {
    let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
    fut.poll(&mut cx).is_ready()
}

/// A file store in `dir` with `n` inline read connections.
fn inline_store(dir: &tempfile::TempDir, n: usize) -> SqliteStore {
    SqliteStore::builder()
        .path(dir.path().join("kv.db"))
        .inline_readers(n)
        .build()
        .unwrap()
}

#[tokio::test]
async fn a_close_dropped_midway_is_finished_by_the_next() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("kv.db")).unwrap();
    let entries: Vec<(String, Bytes)> = (0..100).map(|i| (format!("k{i}"), b("v"))).collect();
    store.put_many("c", entries, None).await.unwrap();
    let wal = dir.path().join("kv.db-wal");
    assert!(std::fs::metadata(&wal).unwrap().len() > 0);
    assert!(!poll_once_then_drop(store.close()), "close did not wait");
    // A retry (`Retry` around `Timeout` retries close) must not succeed before the store did.
    store.close().await.unwrap();
    assert_eq!(
        std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0),
        0,
        "the second close returned before the WAL was checkpointed"
    );
    assert_eq!(
        store.get("c", "k1").await.unwrap_err().kind(),
        ErrorKind::Unavailable
    );
}

#[tokio::test]
async fn close_is_idempotent_and_later_operations_are_unavailable() {
    let dir = tempfile::tempdir().unwrap();
    for store in [
        SqliteStore::memory().unwrap(),
        SqliteStore::open(dir.path().join("kv.db")).unwrap(),
    ] {
        store.put("c", "k", b("v"), None).await.unwrap();
        let clone = store.clone();
        store.close().await.unwrap();
        store.close().await.unwrap();
        clone.close().await.unwrap();
        let e = clone.get("c", "k").await.unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(!e.is_temporary(), "a closed store does not come back");
        assert_eq!(
            store.put("c", "k", b("v"), None).await.unwrap_err().kind(),
            ErrorKind::Unavailable
        );
        assert_eq!(
            store.keys("c", None, 10).await.unwrap_err().kind(),
            ErrorKind::Unavailable
        );
        assert_eq!(
            store.cull().await.unwrap_err().kind(),
            ErrorKind::Unavailable
        );
    }
}

#[tokio::test]
async fn expiry_reads_the_injected_clock_only() {
    // A clock far from the system's: SQLite's own time would disagree with it everywhere.
    let clock = ManualClock::starting_at(1_000_000);
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::builder()
        .path(dir.path().join("kv.db"))
        .clock(clock.clone())
        .build()
        .unwrap();
    store
        .put("c", "k", b("v"), Some(Duration::from_millis(1500)))
        .await
        .unwrap();
    store.put("c", "forever", b("v"), None).await.unwrap();
    clock.advance(Duration::from_millis(1500));
    assert_eq!(
        store.get("c", "k").await.unwrap(),
        Some(b("v")),
        "live while now <= expires_at"
    );
    assert_eq!(
        store.get_entry("c", "k").await.unwrap().unwrap().ttl,
        Some(Duration::from_millis(1)),
    );
    assert_eq!(store.cull().await.unwrap(), 0);
    clock.advance(Duration::from_millis(1));
    assert_eq!(store.get("c", "k").await.unwrap(), None);
    assert_eq!(store.cull().await.unwrap(), 1);
    assert_eq!(store.cull().await.unwrap(), 0);
    assert_eq!(store.get("c", "forever").await.unwrap(), Some(b("v")));
    store.close().await.unwrap();
}

#[tokio::test]
async fn sweeper_removes_expired_rows_and_stops_on_close() {
    let clock = ManualClock::new();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv.db");
    let store = SqliteStore::builder()
        .path(&path)
        .clock(clock.clone())
        .sweep_interval(Duration::from_millis(20))
        .build()
        .unwrap();
    let entries = (0..50).map(|i| (format!("k{i}"), b("v"))).collect();
    store
        .put_many("c", entries, Some(Duration::from_secs(1)))
        .await
        .unwrap();
    store.put("c", "stays", b("v"), None).await.unwrap();
    clock.advance(Duration::from_secs(2));
    let raw = rusqlite::Connection::open(&path).unwrap();
    let count = || -> i64 {
        raw.query_row(&format!("SELECT count(*) FROM {DEFAULT_TABLE}"), [], |r| {
            r.get(0)
        })
        .unwrap()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while count() > 1 {
        assert!(
            std::time::Instant::now() < deadline,
            "the sweeper did not run"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    store.close().await.unwrap();
    // After close the sweeper is gone: expired rows written behind its back stay.
    raw.execute(
        &format!("INSERT INTO {DEFAULT_TABLE} VALUES ('c', 'late', X'00', 1)"),
        [],
    )
    .unwrap();
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(count(), 2);
}

#[tokio::test]
async fn tables_are_separate_and_versioned() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv.db");
    let a = SqliteStore::builder()
        .path(&path)
        .table("first")
        .build()
        .unwrap();
    let b2 = SqliteStore::builder()
        .path(&path)
        .table("second")
        .build()
        .unwrap();
    a.put("c", "k", b("a"), None).await.unwrap();
    b2.put("c", "k", b("b"), None).await.unwrap();
    assert_eq!(a.get("c", "k").await.unwrap(), Some(b("a")));
    assert_eq!(b2.get("c", "k").await.unwrap(), Some(b("b")));
    a.close().await.unwrap();
    b2.close().await.unwrap();

    let raw = rusqlite::Connection::open(&path).unwrap();
    let versions: Vec<(String, i64)> = raw
        .prepare("SELECT name, version FROM mcp_kv_schema ORDER BY name")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(
        versions,
        vec![
            ("first".into(), SCHEMA_VERSION),
            ("second".into(), SCHEMA_VERSION)
        ]
    );
    let without_rowid: String = raw
        .query_row(
            "SELECT sql FROM sqlite_master WHERE name = 'first'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(without_rowid.contains("WITHOUT ROWID"), "{without_rowid}");

    // A file written by a newer version is refused, not misread.
    raw.execute(
        "UPDATE mcp_kv_schema SET version = ?1 WHERE name = 'first'",
        [SCHEMA_VERSION + 1],
    )
    .unwrap();
    let e = SqliteStore::builder()
        .path(&path)
        .table("first")
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    // A table of that name that we did not create is refused too.
    raw.execute_batch("CREATE TABLE foreign_t (x INTEGER)")
        .unwrap();
    let e = SqliteStore::builder()
        .path(&path)
        .table("foreign_t")
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
    // And an invalid table name never reaches SQL.
    let e = SqliteStore::builder()
        .path(&path)
        .table("x; DROP TABLE first")
        .build()
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Config);
}

#[tokio::test]
async fn statements_use_the_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv.db");
    let store = SqliteStore::open(&path).unwrap();
    store
        .put("c", "k", b("v"), Some(Duration::from_secs(5)))
        .await
        .unwrap();
    store.close().await.unwrap();
    let raw = rusqlite::Connection::open(&path).unwrap();
    let plan = |sql: &str| -> String {
        raw.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
            .unwrap()
            .query_map([], |r| r.get::<_, String>(3))
            .unwrap()
            .map(Result::unwrap)
            .collect::<Vec<_>>()
            .join("; ")
    };
    let page_size: i64 = raw.query_row("PRAGMA page_size", [], |r| r.get(0)).unwrap();
    assert_eq!(page_size, 8192, "new files get 8 KiB pages");
    let t = DEFAULT_TABLE;
    let cull = plan(&format!("DELETE FROM {t} WHERE expires_at < 5"));
    assert!(cull.contains(&format!("{t}_expires_at")), "cull: {cull}");
    let get = plan(&format!(
        "SELECT value FROM {t} WHERE collection = 'c' AND key = 'k'"
    ));
    assert!(get.contains("PRIMARY KEY"), "get: {get}");
    let keys = plan(&format!(
        "SELECT key FROM {t} WHERE collection = 'c' AND key > 'a' ORDER BY key LIMIT 3"
    ));
    assert!(
        keys.contains("PRIMARY KEY") && !keys.contains("TEMP B-TREE"),
        "keys: {keys}"
    );
}

#[tokio::test]
async fn a_sweep_interval_past_the_end_of_time_never_sweeps_and_never_panics() {
    // `Instant::now() + Duration::MAX` overflows: the writer thread used to panic on it, and
    // every later write failed with "the store is closed".
    let dir = tempfile::tempdir().unwrap();
    let stores = [
        SqliteStore::builder()
            .path(dir.path().join("kv.db"))
            .sweep_interval(Duration::MAX)
            .build()
            .unwrap(),
        SqliteStore::builder()
            .sweep_interval(Duration::MAX)
            .build()
            .unwrap(),
    ];
    for store in stores {
        store.put("c", "k", b("v"), None).await.unwrap();
        assert_eq!(store.take("c", "k").await.unwrap(), Some(b("v")));
        store.put("c", "k", b("w"), None).await.unwrap();
        assert_eq!(store.get("c", "k").await.unwrap(), Some(b("w")));
        store.close().await.unwrap();
    }
}

#[test]
fn a_busy_timeout_sqlite_cannot_take_is_a_config_error() {
    // SQLite takes the busy timeout as an `int` of milliseconds; rusqlite panics beyond it.
    let limit = Duration::from_millis(i32::MAX as u64);
    let dir = tempfile::tempdir().unwrap();
    for too_long in [
        Duration::from_secs(30 * 86_400),
        limit + Duration::from_millis(1),
        Duration::MAX,
    ] {
        for builder in [
            SqliteStore::builder().path(dir.path().join("kv.db")),
            SqliteStore::builder().memory(),
        ] {
            let e = builder.busy_timeout(too_long).build().unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Config, "{too_long:?}: {e}");
            assert!(e.to_string().contains("2147483647 ms"), "{e}");
        }
    }
    // The limit itself (sub-millisecond parts are dropped, as SQLite counts whole ms) is fine.
    for ok in [limit, limit + Duration::from_micros(999)] {
        let store = SqliteStore::builder()
            .path(dir.path().join("kv.db"))
            .busy_timeout(ok)
            .build()
            .unwrap();
        drop(store);
    }
}

#[test]
fn paths_that_cannot_be_a_database_file_are_config_errors() {
    let dir = tempfile::tempdir().unwrap();
    let config_error = |path: &std::path::Path, says: &str| {
        let e = SqliteStore::open(path).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{path:?}: {e}");
        assert!(!e.is_temporary(), "{path:?}: retrying cannot help: {e}");
        assert!(e.to_string().contains(says), "{path:?}: {e}");
    };
    // A directory: SQLite's CANTOPEN used to come back as a temporary `Unavailable`.
    config_error(dir.path(), "is a directory");
    // Its directory does not exist (SQLite does not create it).
    config_error(&dir.path().join("missing").join("kv.db"), "does not exist");
    // An empty path (SQLite would open a private temporary database).
    config_error(std::path::Path::new(""), "empty");
    // `:memory:` as a file path: the in-memory mode is its own builder method.
    config_error(
        std::path::Path::new(":memory:"),
        "SqliteStoreBuilder::memory",
    );
    // None of them created anything.
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[tokio::test]
async fn tables_sharing_a_file_must_differ_beyond_case_and_the_index_suffix() {
    // SQLite names are case-insensitive, and each table's expiry index is named
    // `<table>_expires_at` in the same namespace as the tables: the crate docs state this rule.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv.db");
    let open = |table: &str| SqliteStore::builder().path(&path).table(table).build();
    for (first, second) in [("kv", "Kv"), ("a", "a_expires_at"), ("b_expires_at", "b")] {
        let store = open(first).unwrap();
        store.put("c", "k", b("v"), None).await.unwrap();
        let e = open(second).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Config, "{first} then {second}: {e}");
        // The first table is untouched, and still opens.
        store.close().await.unwrap();
        let store = open(first).unwrap();
        assert_eq!(store.get("c", "k").await.unwrap(), Some(b("v")));
        store.close().await.unwrap();
    }
    // Any other pair shares the file.
    let (x, y) = (open("a_expires").unwrap(), open("kv_2").unwrap());
    x.put("c", "k", b("x"), None).await.unwrap();
    y.put("c", "k", b("y"), None).await.unwrap();
    assert_eq!(x.get("c", "k").await.unwrap(), Some(b("x")));
    assert_eq!(y.get("c", "k").await.unwrap(), Some(b("y")));
}

#[test]
fn opening_waits_for_a_writer_that_holds_the_file_before_it_is_in_wal_mode() {
    // Switching a file to WAL needs its write lock, and SQLite answers BUSY at once there, without
    // its busy handler: the open failed in microseconds with a `Timeout` that claimed to have
    // waited the busy timeout.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv.db");
    let other = rusqlite::Connection::open(&path).unwrap();
    other
        .execute_batch("CREATE TABLE other (x); BEGIN IMMEDIATE; INSERT INTO other VALUES (1);")
        .unwrap();
    let other = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(200));
        other.execute_batch("COMMIT").unwrap();
    });
    let store = SqliteStore::open(&path);
    other.join().unwrap();
    let store = store.expect("the open waits for the lock, within the busy timeout");
    drop(store);
}

#[test]
fn several_stores_opening_one_new_file_at_once_all_open() {
    // Processes of one server starting together on a new file: each one's switch to WAL met
    // another's lock and failed at once (about 1 round in 20 with 6 openers, before the fix).
    for round in 0..60 {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kv.db");
        let start = std::sync::Arc::new(std::sync::Barrier::new(6));
        let openers: Vec<_> = (0..6)
            .map(|_| {
                let (start, path) = (start.clone(), path.clone());
                std::thread::spawn(move || {
                    start.wait();
                    SqliteStore::open(&path).map(drop)
                })
            })
            .collect();
        for opener in openers {
            if let Err(e) = opener.join().unwrap() {
                panic!("round {round}: {e}");
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn more_concurrent_point_reads_than_inline_connections_all_answer() {
    // One inline connection for four runtime threads: reads that find it borrowed go to the
    // reader threads; every one answers, with the right value.
    let dir = tempfile::tempdir().unwrap();
    let store = inline_store(&dir, 1);
    for i in 0..20 {
        store
            .put("c", &i.to_string(), b(&i.to_string()), None)
            .await
            .unwrap();
    }
    let tasks: Vec<_> = (0..8)
        .map(|t| {
            let store = store.clone();
            tokio::spawn(async move {
                for round in 0..200 {
                    let k = ((t + round) % 20).to_string();
                    assert_eq!(store.get("c", &k).await.unwrap(), Some(b(&k)));
                    let e = store.get_entry("c", &k).await.unwrap().unwrap();
                    assert_eq!(e.value, b(&k));
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    store.close().await.unwrap();
}

#[tokio::test]
async fn inline_reads_follow_writes_and_close_ends_them() {
    // Inline connections are separate connections: each read sees the last commit, from any
    // connection of the store; after close they are closed too (the WAL is checkpointed away).
    let dir = tempfile::tempdir().unwrap();
    let store = inline_store(&dir, 2);
    for i in 0..50 {
        let v = b(&i.to_string());
        store.put("c", "k", v.clone(), None).await.unwrap();
        assert_eq!(store.get("c", "k").await.unwrap(), Some(v));
    }
    store.close().await.unwrap();
    let err = store.get("c", "k").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    let wal = dir.path().join("kv.db-wal");
    let len = std::fs::metadata(&wal).map(|m| m.len()).unwrap_or(0);
    assert_eq!(
        len, 0,
        "close checkpointed the whole WAL: no inline reader held part of it"
    );
}

#[tokio::test]
async fn an_inline_batch_reads_one_snapshot_across_its_slices_and_a_dropped_one_ends_it() {
    // get_many on the caller's task runs its keys in slices, yielding between them: a write
    // that commits meanwhile must not show in the later slices (one read transaction), and a
    // batch dropped midway must not leave its connection on the old snapshot.
    let dir = tempfile::tempdir().unwrap();
    let store = inline_store(&dir, 1);
    let keys: Vec<String> = (0..100).map(|i| format!("k{i}")).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let all = |v: &str| keys.iter().map(|k| (k.clone(), b(v))).collect::<Vec<_>>();
    store.put_many("c", all("old"), None).await.unwrap();

    let mut batch = std::pin::pin!(store.get_many("c", &refs));
    assert!(
        !poll_once(batch.as_mut()),
        "the batch yields after its first slice"
    );
    store.put_many("c", all("new"), None).await.unwrap();
    let got = batch.await.unwrap();
    assert!(got.iter().all(|v| v.as_ref() == Some(&b("old"))), "{got:?}");

    let mut dropped = Box::pin(store.get_many("c", &refs));
    assert!(!poll_once(dropped.as_mut()));
    drop(dropped);
    store.put_many("c", all("newer"), None).await.unwrap();
    let got = store.get_many("c", &refs).await.unwrap();
    assert!(
        got.iter().all(|v| v.as_ref() == Some(&b("newer"))),
        "{got:?}"
    );
    assert_eq!(store.get("c", "k99").await.unwrap(), Some(b("newer")));
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reads_by_key_answer_while_the_writer_thread_waits_for_a_lock() {
    // Another process holds the write lock, so our writer thread sits in the busy timeout with
    // a put. With no reader threads, a read sent to a thread would queue behind that put on the
    // writer; on the caller's thread it answers at once (WAL readers never wait for writers).
    // With inline reads off it does wait: the knob is what the test tells apart.
    for inline in [1, 0] {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::builder()
            .path(dir.path().join("kv.db"))
            .readers(0)
            .inline_readers(inline)
            .busy_timeout(Duration::from_secs(60))
            .build()
            .unwrap();
        store.put("c", "k", b("v"), None).await.unwrap();
        let other = rusqlite::Connection::open(dir.path().join("kv.db")).unwrap();
        other.execute_batch("BEGIN IMMEDIATE").unwrap();
        let put = tokio::spawn({
            let store = store.clone();
            async move { store.put("c", "k2", b("w"), None).await }
        });
        tokio::time::sleep(Duration::from_millis(100)).await;
        let quick = Duration::from_millis(1500);
        let get = tokio::time::timeout(quick, store.get("c", "k")).await;
        let many = tokio::time::timeout(quick, store.get_many("c", &["k", "k2"])).await;
        if inline == 1 {
            assert_eq!(get.expect("answered at once").unwrap(), Some(b("v")));
            assert_eq!(
                many.expect("answered at once").unwrap(),
                vec![Some(b("v")), None]
            );
        } else {
            assert!(get.is_err(), "behind the waiting put on the writer thread");
        }
        other.execute_batch("COMMIT").unwrap();
        put.await.unwrap().unwrap();
        assert_eq!(store.get("c", "k2").await.unwrap(), Some(b("w")));
        store.close().await.unwrap();
    }
}
