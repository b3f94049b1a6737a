//! Failover test: the standalone server the store is connected to is demoted to a replica, and
//! the address the store was given now leads to the new primary.
//!
//! The test starts its OWN two throwaway redis-servers, A and B (binary from
//! `MCP_KV_REDIS_SERVER_BIN`, else `redis-server` on PATH), and a small TCP proxy standing for
//! a DNS name or virtual IP: the store connects to the proxy, which sends each new connection
//! to the server whose port it holds. Failover: `REPLICAOF B` on A (A keeps its clients'
//! connections open and answers their writes with `READONLY`), `REPLICAOF NO ONE` on B, and the
//! proxy now leads to B.
//!
//! Checked: the first write after the failover fails with a temporary `Unavailable` (or
//! succeeds, if the store already reconnected); within 2 s writes succeed and land on B; many
//! concurrent calls failing with `READONLY` open only one new connection (no reconnect storm).

mod common;

use std::sync::atomic::{AtomicU16, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mcp_kv_core::{Bytes, ErrorKind, KvStore};
use mcp_kv_redis::encoding::CollectionKeys;
use mcp_kv_redis::{RedisConfig, RedisStore};

/// A TCP proxy on a free loopback port: each new connection goes to `127.0.0.1:<target>`;
/// connections already made stay where they are. Counts the connections made to each port.
struct Proxy {
    port: u16,
    target: Arc<AtomicU16>,
    accepted: Arc<std::sync::Mutex<Vec<u16>>>,
}

impl Proxy {
    async fn start(target: u16) -> Proxy {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the proxy");
        let port = listener.local_addr().expect("proxy address").port();
        let target = Arc::new(AtomicU16::new(target));
        let accepted = Arc::new(std::sync::Mutex::new(Vec::new()));
        let (t, a) = (target.clone(), accepted.clone());
        tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let to = t.load(Ordering::SeqCst);
                a.lock().unwrap().push(to);
                tokio::spawn(async move {
                    if let Ok(mut outbound) =
                        tokio::net::TcpStream::connect(("127.0.0.1", to)).await
                    {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        });
        Proxy {
            port,
            target,
            accepted,
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    fn switch_to(&self, port: u16) {
        self.target.store(port, Ordering::SeqCst);
    }

    /// How many connections the proxy sent to `port`.
    fn connections_to(&self, port: u16) -> usize {
        self.accepted
            .lock()
            .unwrap()
            .iter()
            .filter(|p| **p == port)
            .count()
    }
}

async fn raw(port: u16) -> redis::aio::MultiplexedConnection {
    redis::Client::open(format!("redis://127.0.0.1:{port}"))
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .expect("a plain connection")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn standalone_reconnects_after_failover() {
    let Some(bin) = common::server_bin("standalone_reconnects_after_failover") else {
        return;
    };
    let a = common::Server::start(bin.clone());
    let b = common::Server::start(bin);
    let proxy = Proxy::start(a.port).await;
    let prefix = common::unique_prefix("failover");
    let store = RedisStore::connect(
        RedisConfig::builder()
            .url(proxy.url())
            .prefix(prefix.as_str())
            .timeout(Duration::from_millis(500))
            .connect_timeout(Duration::from_millis(250))
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    let c = "fo";
    let v = |s: &'static str| Bytes::from_static(s.as_bytes());
    store.put(c, "before", v("1"), None).await.unwrap();
    assert_eq!(store.get(c, "before").await.unwrap(), Some(v("1")));
    assert_eq!(proxy.connections_to(a.port), 1);

    // Failover: A becomes a replica of B, B the primary, and the address leads to B.
    let mut to_a = raw(a.port).await;
    let mut to_b = raw(b.port).await;
    let _: () = redis::cmd("REPLICAOF")
        .arg("NO")
        .arg("ONE")
        .query_async(&mut to_b)
        .await
        .unwrap();
    let _: () = redis::cmd("REPLICAOF")
        .arg("127.0.0.1")
        .arg(b.port)
        .query_async(&mut to_a)
        .await
        .unwrap();

    // For a while the address still leads to A (DNS not updated yet): every write fails with a
    // temporary Unavailable — commands, scripts, pipelines — and the store reconnects to A a
    // few times a second at most, however many calls fail.
    let lag = Instant::now();
    let mut writes = 0;
    while lag.elapsed() < Duration::from_millis(500) {
        let results: Vec<mcp_kv_core::Result<()>> = futures::future::join_all((0..8).map(|i| {
            let store = store.clone();
            async move {
                let k = format!("lag-{i}");
                match i {
                    0 => store.put(c, &k, v("x"), None).await,
                    1 => store.put_if_absent(c, &k, v("x"), None).await.map(drop),
                    2 => store.take(c, "before").await.map(drop),
                    3 => {
                        let swap = store.compare_and_swap(c, &k, None, Some(v("x")), None);
                        swap.await.map(drop)
                    }
                    4 => store.put_many(c, vec![(k, v("x"))], None).await,
                    5 => store.delete(c, "before").await.map(drop),
                    6 => store.touch(c, "before", None).await.map(drop),
                    _ => store.get_entry(c, "before").await.map(drop),
                }
            }
        }))
        .await;
        for (i, r) in results.iter().enumerate().take(7) {
            writes += 1;
            let e = r.as_ref().expect_err("a write succeeded on a replica");
            assert!(
                e.kind() == ErrorKind::Unavailable && e.is_temporary(),
                "write {i} on a replica: not a temporary Unavailable: {e}"
            );
        }
        results[7].as_ref().expect("a read on the replica");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let lag_reconnects = proxy.connections_to(a.port) - 1; // checked below

    proxy.switch_to(b.port);

    // The next write: a temporary Unavailable (its READONLY), or a success once reconnected.
    // Many at once: the stale connection fails them all, and they start one reconnect.
    let keys: Vec<String> = (0..50).map(|i| format!("during-{i}")).collect();
    let first: Vec<_> =
        futures::future::join_all(keys.iter().map(|k| store.put(c, k, v("x"), None))).await;
    let mut unavailable = 0;
    for r in &first {
        if let Err(e) = r {
            assert!(
                e.kind() == ErrorKind::Unavailable && e.is_temporary(),
                "not a temporary Unavailable: {e}"
            );
            unavailable += 1;
        }
    }
    let take_after = store.take(c, "before").await;
    if let Err(e) = &take_after {
        assert!(
            e.kind() == ErrorKind::Unavailable && e.is_temporary(),
            "{e}"
        );
    }

    // Within 2 s of retries, writes succeed, and they land on B.
    let failed_over = Instant::now();
    let mut attempts = 0;
    let recovered = loop {
        attempts += 1;
        match store.put(c, "after", v("2"), None).await {
            Ok(()) => break failed_over.elapsed(),
            Err(e) => {
                assert!(
                    e.kind() == ErrorKind::Unavailable && e.is_temporary(),
                    "not a temporary Unavailable: {e}"
                );
                assert!(
                    failed_over.elapsed() < Duration::from_secs(2),
                    "writes still failing 2 s after the failover ({attempts} attempts): {e}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    let key = CollectionKeys::new(&prefix, c).key("after");
    let on_b: Option<Vec<u8>> = redis::cmd("GET")
        .arg(&key)
        .query_async(&mut to_b)
        .await
        .unwrap();
    assert_eq!(
        on_b.as_deref(),
        Some(&b"2"[..]),
        "the write did not reach B"
    );
    assert_eq!(store.get(c, "after").await.unwrap(), Some(v("2")));
    // The non-idempotent operations work on the new connection too.
    assert!(store.put_if_absent(c, "once", v("3"), None).await.unwrap());
    assert_eq!(store.take(c, "once").await.unwrap(), Some(v("3")));

    // A few reconnects while the address led to the replica, not one per failing call.
    assert!(
        (1..=4).contains(&lag_reconnects),
        "{lag_reconnects} reconnects in 500 ms of {writes} failing writes"
    );
    // One reconnect, not one per failing call.
    let new_connections = proxy.connections_to(b.port);
    assert!(
        (1..=2).contains(&new_connections),
        "{new_connections} connections to the new primary"
    );
    // The old connection closes once no call uses it: A keeps only the test's own client.
    let closed_by = Instant::now() + Duration::from_secs(2);
    loop {
        let list: String = redis::cmd("CLIENT")
            .arg("LIST")
            .arg("TYPE")
            .arg("normal")
            .query_async(&mut to_a)
            .await
            .unwrap();
        let clients = list.lines().count();
        if clients == 1 {
            break;
        }
        assert!(
            Instant::now() < closed_by,
            "the store still has {} connection(s) to the demoted server",
            clients - 1
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    eprintln!(
        "failover: {writes} writes refused by the replica, {lag_reconnects} reconnects to it \
         meanwhile; {unavailable}/50 concurrent writes unavailable, take {}; writes succeed {recovered:?} \
         after the failover ({attempts} attempts); {new_connections} new connection(s)",
        if take_after.is_ok() { "ok" } else { "unavailable" },
    );
    drop(store);
    drop((a, b));
}
