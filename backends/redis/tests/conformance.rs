//! The shared conformance suite against a real standalone Redis and a real Redis Cluster
//! (started by `scripts/redis.sh`; addresses from `MCP_KV_REDIS_URL` and
//! `MCP_KV_REDIS_CLUSTER_URLS`).

mod common;

use std::sync::{Arc, LazyLock};

use mcp_kv_core::testkit::Suite;
use mcp_kv_redis::{RedisConfig, RedisStore};

/// One suite at a time in this binary: the suites run 8 cases at once each, with real
/// 600 ms TTLs, 16 MiB values and 500-entry batches; three of them at once on a loaded
/// 2-core machine starve each other past the TTL margins (a 1.2 s read of a 1.5 s TTL
/// came back after 1.5 s).
static SERIAL: LazyLock<tokio::sync::Mutex<()>> = LazyLock::new(|| tokio::sync::Mutex::new(()));

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_standalone() {
    let _serial = SERIAL.lock().await;
    let Some(url) = common::env_or_skip("MCP_KV_REDIS_URL", "conformance_standalone") else {
        return;
    };
    let config = RedisConfig::builder()
        .url(url)
        .prefix(common::unique_prefix("conf"))
        .build()
        .unwrap();
    let store = Arc::new(RedisStore::connect(config).await.unwrap());
    Suite::new("redis (standalone)")
        .run(store)
        .await
        .assert_passed_skipping(&["cull_removes_expired_entries", "eviction_in_bounded_store"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_standalone_take_script() {
    let _serial = SERIAL.lock().await;
    // The Lua fallback of `take` (servers older than 6.2) passes the same suite.
    let Some(url) = common::env_or_skip("MCP_KV_REDIS_URL", "conformance_standalone_take_script")
    else {
        return;
    };
    let config = RedisConfig::builder()
        .url(url)
        .prefix(common::unique_prefix("conf-script"))
        .take_with_script(true)
        .build()
        .unwrap();
    let store = Arc::new(RedisStore::connect(config).await.unwrap());
    // Only `take` differs from the GETDEL store: run the cases that use it.
    let mut suite = Suite::new("redis (standalone, take via Lua)");
    for case in Suite::case_names() {
        if !case.contains("take") {
            suite = suite.skip(case, "take_with_script changes only `take`");
        }
    }
    suite.run(store).await.assert_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_cluster() {
    let _serial = SERIAL.lock().await;
    let Some(urls) = common::env_or_skip("MCP_KV_REDIS_CLUSTER_URLS", "conformance_cluster") else {
        return;
    };
    if !common::feature_or_skip(cfg!(feature = "cluster"), "cluster", "conformance_cluster") {
        return;
    }
    let config = RedisConfig::builder()
        .cluster_nodes(urls.split(','))
        .prefix(common::unique_prefix("conf-cluster"))
        .build()
        .unwrap();
    let store = Arc::new(RedisStore::connect(config).await.unwrap());
    assert!(store.is_cluster());
    Suite::new("redis (cluster)")
        .run(store)
        .await
        .assert_passed_skipping(&["cull_removes_expired_entries", "eviction_in_bounded_store"]);
}
