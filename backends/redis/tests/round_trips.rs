//! Round trips, counted by the server.
//!
//! The test starts its OWN redis-server (binary from `MCP_KV_REDIS_SERVER_BIN`, else
//! `redis-server` on PATH) so that the server-wide counters see nothing but this test.
//!
//! How one round trip is proven:
//! - `INFO commandstats`: the commands the server executed (`cmdstat_mget:calls`, …);
//! - `INFO stats` `total_reads_processed`: how many times the server read from a client
//!   socket. A request the client sends in one write is one read on loopback (the pipelines
//!   here stay below Redis' 16 KiB read buffer), so "1 read" = the whole batch arrived at
//!   once and was answered once: one round trip. The `INFO` probe's own read is measured
//!   first and subtracted.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use mcp_kv_core::{Bytes, KvStore};
use mcp_kv_redis::{RedisConfig, RedisStore};

#[derive(Debug, Default, Clone)]
struct Stats {
    calls: HashMap<String, u64>,
    reads: u64,
    writes: u64,
}

async fn stats(raw: &mut redis::aio::MultiplexedConnection) -> Stats {
    let text: String = redis::cmd("INFO")
        .arg("all")
        .query_async(raw)
        .await
        .unwrap();
    let mut s = Stats::default();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("cmdstat_") {
            let (name, fields) = rest.split_once(':').unwrap();
            let calls = fields
                .split(',')
                .find_map(|f| f.strip_prefix("calls="))
                .unwrap()
                .parse()
                .unwrap();
            s.calls.insert(name.to_string(), calls);
        } else if let Some(n) = line.strip_prefix("total_reads_processed:") {
            s.reads = n.trim().parse().unwrap();
        } else if let Some(n) = line.strip_prefix("total_writes_processed:") {
            s.writes = n.trim().parse().unwrap();
        }
    }
    s
}

/// Commands executed (name → calls), reads and writes between two probes, minus the probe's own.
struct Delta {
    calls: HashMap<String, u64>,
    reads: u64,
    writes: u64,
}

impl Delta {
    fn calls(&self, name: &str) -> u64 {
        self.calls.get(name).copied().unwrap_or(0)
    }
    fn total_calls(&self) -> u64 {
        self.calls.values().sum()
    }
}

fn delta(a: &Stats, b: &Stats, probe: &Delta) -> Delta {
    let mut calls = HashMap::new();
    for (name, n) in &b.calls {
        let d = n - a.calls.get(name).copied().unwrap_or(0) - probe.calls(name);
        if d > 0 {
            calls.insert(name.clone(), d);
        }
    }
    Delta {
        calls,
        reads: b.reads - a.reads - probe.reads,
        writes: b.writes - a.writes - probe.writes,
    }
}

#[tokio::test]
async fn batches_are_one_round_trip() {
    let Some(bin) = common::server_bin("batches_are_one_round_trip") else {
        return;
    };
    let server = common::Server::start(bin);
    let store = RedisStore::connect(
        RedisConfig::builder()
            .url(server.url())
            .prefix("rt:")
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    let mut raw = redis::Client::open(server.url())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();

    let keys: Vec<String> = (0..100).map(|i| format!("key-{i:03}")).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let entries = |tag: &str| -> Vec<(String, Bytes)> {
        keys.iter()
            .map(|k| (k.clone(), Bytes::from(format!("{tag}-value-{k}"))))
            .collect()
    };
    let ttl = Some(Duration::from_secs(60));
    // Warm up: connection handshake, script loading.
    store.put_many("c", entries("warm"), ttl).await.unwrap();
    store.get_many("c", &refs).await.unwrap();
    store.get_entries("c", &refs).await.unwrap();

    // What one INFO probe costs by itself.
    let p0 = stats(&mut raw).await;
    let p1 = stats(&mut raw).await;
    let none = Delta {
        calls: HashMap::new(),
        reads: 0,
        writes: 0,
    };
    let probe = delta(&p0, &p1, &none);
    assert_eq!(probe.reads, 1, "an INFO probe should be one read");

    let a = stats(&mut raw).await;
    let got = store.get_many("c", &refs).await.unwrap();
    let b = stats(&mut raw).await;
    assert!(got.iter().all(Option::is_some));
    let d = delta(&a, &b, &probe);
    eprintln!(
        "get_many(100): calls {:?}, reads {}, writes {}",
        d.calls, d.reads, d.writes
    );
    assert_eq!(d.calls("mget"), 1);
    assert_eq!(d.total_calls(), 1, "get_many(100) = exactly one MGET");
    assert_eq!(d.reads, 1, "get_many(100) = one request");

    let a = stats(&mut raw).await;
    store.put_many("c", entries("new"), ttl).await.unwrap();
    let b = stats(&mut raw).await;
    let d = delta(&a, &b, &probe);
    eprintln!(
        "put_many(100, ttl): calls {:?}, reads {}, writes {}",
        d.calls, d.reads, d.writes
    );
    assert_eq!(d.calls("set"), 100);
    assert_eq!(
        d.total_calls(),
        100,
        "put_many(100) = 100 SET PX and nothing else"
    );
    assert_eq!(
        d.reads, 1,
        "put_many(100) = one pipelined request: one round trip"
    );
    assert_eq!(d.writes, 1, "put_many(100) = one reply write");
    let mut con = raw.clone();
    let pttl: i64 = redis::cmd("PTTL")
        .arg("rt:{c}:key-042")
        .query_async(&mut con)
        .await
        .unwrap();
    assert!(pttl > 59_000, "TTL set by the pipeline: {pttl}");

    let a = stats(&mut raw).await;
    let got = store.get_entries("c", &refs).await.unwrap();
    let b = stats(&mut raw).await;
    assert!(got
        .iter()
        .all(|e| e.as_ref().is_some_and(|e| e.ttl.is_some())));
    let d = delta(&a, &b, &probe);
    eprintln!("get_entries(100): calls {:?}, reads {}", d.calls, d.reads);
    assert_eq!(d.calls("evalsha"), 1);
    assert_eq!(d.reads, 1);

    let mut dup = refs.clone();
    dup.extend_from_slice(&refs[..10]);
    let a = stats(&mut raw).await;
    assert_eq!(store.delete_many("c", &dup).await.unwrap(), 100);
    let b = stats(&mut raw).await;
    let d = delta(&a, &b, &probe);
    eprintln!(
        "delete_many(110 with 10 duplicates): calls {:?}, reads {}",
        d.calls, d.reads
    );
    assert_eq!(d.calls("unlink"), 1);
    assert_eq!(d.total_calls(), 1);
    assert_eq!(d.reads, 1);

    // Single-key operations: one command each (get_entry is one script call; commandstats
    // also counts the GET and PTTL the script runs inside the server).
    store
        .put("c", "one", Bytes::from_static(b"v"), ttl)
        .await
        .unwrap();
    for (name, want) in [("get", "get"), ("get_entry", "evalsha"), ("take", "getdel")] {
        let a = stats(&mut raw).await;
        match name {
            "get" => drop(store.get("c", "one").await.unwrap()),
            "get_entry" => drop(store.get_entry("c", "one").await.unwrap()),
            _ => drop(store.take("c", "one").await.unwrap()),
        }
        let b = stats(&mut raw).await;
        let d = delta(&a, &b, &probe);
        let inner = if want == "evalsha" { 2 } else { 0 };
        assert_eq!(
            (d.calls(want), d.total_calls(), d.reads),
            (1, 1 + inner, 1),
            "{name}: {:?}",
            d.calls
        );
    }

    // Control: three awaited puts are three round trips, and the read count says so.
    let a = stats(&mut raw).await;
    for i in 0..3 {
        store
            .put("c", &format!("seq-{i}"), Bytes::from_static(b"v"), ttl)
            .await
            .unwrap();
    }
    let b = stats(&mut raw).await;
    let d = delta(&a, &b, &probe);
    assert_eq!((d.calls("set"), d.reads), (3, 3), "control");
    drop(server);
}

#[cfg(feature = "cluster")]
#[tokio::test]
async fn cluster_batches_hit_one_node_once() {
    let Some(urls) = common::env_or_skip(
        "MCP_KV_REDIS_CLUSTER_URLS",
        "cluster_batches_hit_one_node_once",
    ) else {
        return;
    };
    let store = RedisStore::connect(
        RedisConfig::builder()
            .cluster_nodes(urls.split(','))
            .prefix(common::unique_prefix("rt-cluster"))
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    let mut nodes = Vec::new();
    for url in urls.split(',') {
        nodes.push(
            redis::Client::open(url)
                .unwrap()
                .get_multiplexed_async_connection()
                .await
                .unwrap(),
        );
    }
    let keys: Vec<String> = (0..100).map(|i| format!("k{i}")).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    let entries: Vec<(String, Bytes)> = keys
        .iter()
        .map(|k| (k.clone(), Bytes::from_static(b"v")))
        .collect();
    store
        .put_many("c", entries.clone(), Some(Duration::from_secs(60)))
        .await
        .unwrap();
    store.get_many("c", &refs).await.unwrap();

    async fn sum(nodes: &mut [redis::aio::MultiplexedConnection], name: &str) -> Vec<u64> {
        let mut out = Vec::new();
        for n in nodes.iter_mut() {
            out.push(stats(n).await.calls.get(name).copied().unwrap_or(0));
        }
        out
    }
    let before = sum(&mut nodes, "mget").await;
    store.get_many("c", &refs).await.unwrap();
    let after = sum(&mut nodes, "mget").await;
    let per_node: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    assert_eq!(
        per_node.iter().sum::<u64>(),
        1,
        "get_many on the cluster: {per_node:?}"
    );

    let before = sum(&mut nodes, "set").await;
    store
        .put_many("c", entries, Some(Duration::from_secs(60)))
        .await
        .unwrap();
    let after = sum(&mut nodes, "set").await;
    let per_node: Vec<u64> = after.iter().zip(&before).map(|(a, b)| a - b).collect();
    assert_eq!(
        per_node.iter().filter(|n| **n > 0).count(),
        1,
        "one node: {per_node:?}"
    );
    assert_eq!(per_node.iter().sum::<u64>(), 100);
    eprintln!("cluster: get_many(100) = 1 MGET on one node; put_many(100) = 100 SET on one node {per_node:?}");
    store.clear("c").await.unwrap();
}
