//! Fault test: a stream of operations while the server is killed with SIGKILL and restarted.
//!
//! The test starts its OWN throwaway redis-server (binary from `MCP_KV_REDIS_SERVER_BIN`, else
//! `redis-server` on PATH) on a port of its own, so killing it never disturbs the shared one.
//!
//! Checked: during the outage every call returns a typed temporary error (`Unavailable` or
//! `Timeout`) within the configured timeout — no panic, no hang — and calls succeed again
//! within 2 s of the server answering PING again.

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mcp_kv_core::{Bytes, ErrorKind, KvStore};
use mcp_kv_redis::{RedisConfig, RedisStore};

/// One call of the stream: when it started and ended, and its outcome.
struct Call {
    start: Instant,
    end: Instant,
    op: &'static str,
    outcome: Result<(), (ErrorKind, bool, String)>,
}

const TIMEOUT: Duration = Duration::from_millis(500);

async fn one_call(
    store: &RedisStore,
    worker: usize,
    i: usize,
) -> (&'static str, mcp_kv_core::Result<()>) {
    let c = "fault";
    let key = format!("w{worker}-{}", i % 16);
    match i % 6 {
        0 => (
            "put",
            store
                .put(
                    c,
                    &key,
                    Bytes::from_static(b"v"),
                    Some(Duration::from_secs(30)),
                )
                .await,
        ),
        1 => ("get", store.get(c, &key).await.map(drop)),
        2 => (
            "get_many",
            store.get_many(c, &[key.as_str(), "x", "y"]).await.map(drop),
        ),
        3 => ("take", store.take(c, &key).await.map(drop)),
        4 => (
            "put_many",
            store
                .put_many(
                    c,
                    vec![(key.clone(), Bytes::from_static(b"w"))],
                    Some(Duration::from_secs(5)),
                )
                .await,
        ),
        _ => (
            "cas",
            store
                .compare_and_swap(c, &key, None, Some(Bytes::from_static(b"z")), None)
                .await
                .map(drop),
        ),
    }
}

fn spawn_stream(
    store: &RedisStore,
    stop: &Arc<AtomicBool>,
) -> Vec<tokio::task::JoinHandle<Vec<Call>>> {
    (0..4)
        .map(|w| {
            let store = store.clone();
            let stop = stop.clone();
            tokio::spawn(async move {
                let mut calls = Vec::new();
                let mut i = 0;
                while !stop.load(Ordering::Relaxed) {
                    let start = Instant::now();
                    let (op, r) = one_call(&store, w, i).await;
                    calls.push(Call {
                        start,
                        end: Instant::now(),
                        op,
                        outcome: r.map_err(|e| (e.kind(), e.is_temporary(), e.to_string())),
                    });
                    i += 1;
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
                calls
            })
        })
        .collect()
}

async fn connect(server: &common::Server, tag: &str) -> RedisStore {
    RedisStore::connect(
        RedisConfig::builder()
            .url(server.url())
            .prefix(common::unique_prefix(tag))
            .timeout(TIMEOUT)
            .connect_timeout(Duration::from_millis(250))
            .build()
            .unwrap(),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn frozen_server_times_out_then_recovers() {
    // SIGSTOP: the socket stays open but nothing answers — the case a timeout exists for.
    let Some(bin) = common::server_bin("frozen_server_times_out_then_recovers") else {
        return;
    };
    let server = common::Server::start(bin);
    let store = connect(&server, "frozen").await;
    let stop = Arc::new(AtomicBool::new(false));
    let workers = spawn_stream(&store, &stop);
    tokio::time::sleep(Duration::from_millis(500)).await;
    let frozen_at = Instant::now();
    server.signal("STOP");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let thaw_at = Instant::now();
    server.signal("CONT");
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);
    let mut calls = Vec::new();
    for w in workers {
        calls.extend(w.await.expect("a worker panicked"));
    }
    let slack = Duration::from_millis(300);
    let mut timeouts = 0;
    let mut first_ok: Option<Duration> = None;
    for c in &calls {
        let took = c.end - c.start;
        assert!(took <= TIMEOUT + slack, "{} took {took:?}", c.op);
        if let Err((kind, temporary, msg)) = &c.outcome {
            assert!(
                matches!(kind, ErrorKind::Unavailable | ErrorKind::Timeout) && *temporary,
                "{}: {msg}",
                c.op
            );
            if *kind == ErrorKind::Timeout {
                timeouts += 1;
            }
        }
        if c.start > frozen_at + Duration::from_millis(50) && c.end < thaw_at {
            assert!(c.outcome.is_err(), "{} succeeded on a frozen server", c.op);
        }
        if c.start >= thaw_at && c.outcome.is_ok() && first_ok.is_none() {
            first_ok = Some(c.end - thaw_at);
        }
        if c.start >= thaw_at + Duration::from_secs(2) {
            assert!(
                c.outcome.is_ok(),
                "{} still failing 2 s after SIGCONT",
                c.op
            );
        }
    }
    assert!(timeouts > 0, "no call timed out on a frozen server");
    let first_ok = first_ok.expect("no success after SIGCONT");
    assert!(first_ok <= Duration::from_secs(2));
    eprintln!(
        "frozen: {} calls, {timeouts} timeouts, first success {first_ok:?} after SIGCONT",
        calls.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill9_and_restart_during_a_stream_of_operations() {
    let Some(bin) = common::server_bin("kill9_and_restart_during_a_stream_of_operations") else {
        return;
    };
    let mut server = common::Server::start(bin);
    let store = connect(&server, "fault").await;
    let stop = Arc::new(AtomicBool::new(false));
    let workers = spawn_stream(&store, &stop);

    tokio::time::sleep(Duration::from_secs(1)).await;
    let killed_at = Instant::now();
    server.kill9();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    // Restart blocks until the new server answers PING (off the runtime's workers).
    let restart_at = Instant::now();
    let mut server = tokio::task::spawn_blocking(move || {
        server.restart();
        server
    })
    .await
    .unwrap();
    let up_at = Instant::now();
    tokio::time::sleep(Duration::from_secs(3)).await;
    stop.store(true, Ordering::Relaxed);

    let mut calls = Vec::new();
    for w in workers {
        calls.extend(w.await.expect("a worker panicked"));
    }
    // The restart must finish before the server is dropped.
    let _ = &mut server;

    let slack = Duration::from_millis(300); // scheduling on a loaded 2-core machine
    let mut during_outage = 0;
    let mut errors = 0;
    let mut first_ok_after_up: Option<Duration> = None;
    for c in &calls {
        let took = c.end - c.start;
        assert!(
            took <= TIMEOUT + slack,
            "{} took {took:?}, beyond the {TIMEOUT:?} timeout",
            c.op
        );
        if let Err((kind, temporary, msg)) = &c.outcome {
            errors += 1;
            assert!(
                matches!(kind, ErrorKind::Unavailable | ErrorKind::Timeout) && *temporary,
                "{}: not a temporary Unavailable/Timeout error: {msg}",
                c.op
            );
        }
        // Calls wholly inside the outage (killed, restart not yet begun) cannot succeed.
        if c.start > killed_at + Duration::from_millis(50) && c.end < restart_at {
            during_outage += 1;
            assert!(
                c.outcome.is_err(),
                "{} succeeded while the server was dead",
                c.op
            );
        }
        if c.start >= up_at && c.outcome.is_ok() && first_ok_after_up.is_none() {
            first_ok_after_up = Some(c.end - up_at);
        }
        // Every call started 2 s after the server came back succeeds.
        if c.start >= up_at + Duration::from_secs(2) {
            assert!(
                c.outcome.is_ok(),
                "{} still failing 2 s after restart: {:?}",
                c.op,
                c.outcome.as_ref().err()
            );
        }
    }
    assert!(
        during_outage > 10,
        "only {during_outage} calls during the outage"
    );
    let recovered = first_ok_after_up.expect("no call succeeded after the restart");
    assert!(
        recovered <= Duration::from_secs(2),
        "first success {recovered:?} after restart"
    );
    let ok_before = calls
        .iter()
        .filter(|c| c.end < killed_at && c.outcome.is_ok())
        .count();
    let ok_after = calls
        .iter()
        .filter(|c| c.start >= up_at && c.outcome.is_ok())
        .count();
    let count = |k: ErrorKind| {
        calls
            .iter()
            .filter(|c| matches!(&c.outcome, Err((kind, _, _)) if *kind == k))
            .count()
    };
    let slowest = calls
        .iter()
        .map(|c| c.end - c.start)
        .max()
        .unwrap_or_default();
    eprintln!(
        "fault: {} calls, {ok_before} ok before the kill, {during_outage} during the outage; \
         errors: {errors} ({} unavailable, {} timeout); slowest call {slowest:?}; first success \
         {recovered:?} after the restart, {ok_after} ok after",
        calls.len(),
        count(ErrorKind::Unavailable),
        count(ErrorKind::Timeout),
    );
    drop(server);
}
