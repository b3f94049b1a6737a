//! Behaviour specific to Redis, checked against the raw server: key layout, millisecond TTLs,
//! glob characters, foreign keys, error mapping. Needs `MCP_KV_REDIS_URL` (and
//! `MCP_KV_REDIS_CLUSTER_URLS` for the cluster cases).

mod common;

use std::time::Duration;

use mcp_kv_core::{Bytes, ErrorKind, KvStore};
use mcp_kv_redis::{RedisConfig, RedisStore};
use redis::AsyncCommands;

async fn setup(test: &str) -> Option<(RedisStore, redis::aio::MultiplexedConnection, String)> {
    let url = common::env_or_skip("MCP_KV_REDIS_URL", test)?;
    let prefix = common::unique_prefix(test);
    let store = RedisStore::connect(
        RedisConfig::builder()
            .url(&url)
            .prefix(&prefix)
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    let raw = redis::Client::open(url.as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    Some((store, raw, prefix))
}

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

#[tokio::test]
async fn keys_follow_the_documented_layout_with_ms_ttls() {
    let Some((store, mut raw, p)) = setup("layout").await else {
        return;
    };
    let ttl = Duration::from_micros(1_500_500); // 1500.5 ms: written as PX 1501
    store
        .put("oauth:codes", "a*b", b("v"), Some(ttl))
        .await
        .unwrap();
    let key = format!("{p}{{oauth%3Acodes}}:a*b");
    let v: Option<Vec<u8>> = raw.get(&key).await.unwrap();
    assert_eq!(v.as_deref(), Some(&b"v"[..]));
    let pttl: i64 = raw.pttl(&key).await.unwrap();
    assert!((1400..=1501).contains(&pttl), "PTTL {pttl}");
    let entry = store
        .get_entry("oauth:codes", "a*b")
        .await
        .unwrap()
        .unwrap();
    let left = entry.ttl.unwrap();
    assert!(
        left > Duration::from_millis(1300) && left <= Duration::from_millis(1501),
        "{left:?}"
    );
    // put without TTL clears it.
    store.put("oauth:codes", "a*b", b("w"), None).await.unwrap();
    assert_eq!(raw.pttl::<_, i64>(&key).await.unwrap(), -1);
    // Same slot for every key of a collection: the hash tag is the escaped collection.
    let slot = |k: String| {
        let mut raw = raw.clone();
        async move {
            redis::cmd("CLUSTER")
                .arg("KEYSLOT")
                .arg(k)
                .query_async::<i64>(&mut raw)
                .await
        }
    };
    if let (Ok(a), Ok(b)) = (
        slot(format!("{p}{{oauth%3Acodes}}:x")).await,
        slot("oauth%3Acodes".to_string()).await,
    ) {
        assert_eq!(a, b);
    }
    store.clear("oauth:codes").await.unwrap();
}

#[tokio::test]
async fn glob_characters_in_collections_stay_literal() {
    let Some((store, _raw, _p)) = setup("glob").await else {
        return;
    };
    let names = ["a*", "ab", "a?", "a[b]", "a\\", "a{b}", "a}:x", "a", "a%2A"];
    for (i, n) in names.iter().enumerate() {
        store.put(n, &format!("k{i}"), b("v"), None).await.unwrap();
        store.put(n, "shared*", b(n), None).await.unwrap();
    }
    for (i, n) in names.iter().enumerate() {
        let mut keys = store.keys(n, None, 100).await.unwrap().keys;
        keys.sort();
        assert_eq!(
            keys,
            vec![format!("k{i}"), "shared*".to_string()],
            "collection {n:?}"
        );
        assert_eq!(store.get(n, "shared*").await.unwrap(), Some(b(n)));
    }
    let cols = store.collections().await.unwrap();
    for n in names {
        assert!(
            cols.iter().any(|c| c == n),
            "collections() misses {n:?}: {cols:?}"
        );
    }
    assert_eq!(store.clear("a*").await.unwrap(), 2);
    assert_eq!(store.keys("ab", None, 100).await.unwrap().keys.len(), 2);
    for n in names {
        store.clear(n).await.unwrap();
    }
    assert!(store.collections().await.unwrap().is_empty());
}

#[tokio::test]
async fn foreign_and_mistyped_keys() {
    let Some((store, mut raw, p)) = setup("foreign").await else {
        return;
    };
    // Keys under the prefix that do not follow the layout are not collections.
    let _: () = raw.set(format!("{p}{{unterminated"), "x").await.unwrap();
    let _: () = raw.set(format!("{p}{{c}}no-colon"), "x").await.unwrap();
    assert!(store.collections().await.unwrap().is_empty());
    // A key of another Redis type is Corrupted, and the message names no key.
    let _: () = raw
        .hset(format!("{p}{{c}}:secret-key"), "f", "v")
        .await
        .unwrap();
    let err = store.get("c", "secret-key").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupted);
    assert!(!err.is_temporary());
    assert!(!err.to_string().contains("secret-key"), "{err}");
    let err = store.get_entry("c", "secret-key").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupted, "{err}");
    let _: () = redis::cmd("DEL")
        .arg(format!("{p}{{unterminated"))
        .arg(format!("{p}{{c}}no-colon"))
        .arg(format!("{p}{{c}}:secret-key"))
        .query_async(&mut raw)
        .await
        .unwrap();
}

#[tokio::test]
async fn paging_returns_every_key_once_within_limits() {
    let Some((store, _raw, _p)) = setup("paging").await else {
        return;
    };
    let entries: Vec<(String, Bytes)> = (0..333).map(|i| (format!("k{i}\n%"), b("v"))).collect();
    store.put_many("c", entries, None).await.unwrap();
    for limit in [1, 7, 100, 1000] {
        let mut seen = std::collections::BTreeSet::new();
        let mut cursor = None;
        let mut pages = 0;
        loop {
            let page = store.keys("c", cursor, limit).await.unwrap();
            assert!(page.keys.len() <= limit);
            for k in page.keys {
                assert!(seen.insert(k), "a key came twice (limit {limit})");
            }
            pages += 1;
            match page.next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen.len(), 333, "limit {limit} in {pages} pages");
    }
    assert_eq!(store.clear("c").await.unwrap(), 333);
}

#[tokio::test]
async fn a_cursor_holds_no_expired_keys_and_only_its_collection() {
    let Some((store, _raw, _p)) = setup("cursor").await else {
        return;
    };
    let short: Vec<(String, Bytes)> = (0..300).map(|i| (format!("s{i}"), b("v"))).collect();
    store
        .put_many("c", short, Some(Duration::from_millis(300)))
        .await
        .unwrap();
    let first = store.keys("c", None, 1).await.unwrap();
    assert_eq!(first.keys.len(), 1);
    let cursor = first.next.expect("more keys");
    // Another collection's listing refuses the cursor.
    let err = store
        .keys("other", Some(cursor.clone()), 10)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::InvalidKey);
    // The keys carried in the cursor expired meanwhile: none of them comes back.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut cursor = Some(cursor);
    let mut late = Vec::new();
    while let Some(c) = cursor {
        let page = store.keys("c", Some(c), 50).await.unwrap();
        late.extend(page.keys);
        cursor = page.next;
    }
    assert!(late.is_empty(), "expired keys listed: {}", late.len());
}

#[tokio::test]
async fn a_pipeline_out_of_memory_is_temporary_like_a_single_put() {
    let Some(bin) = common::server_bin("pipeline_oom") else {
        return;
    };
    // A throwaway server: the shared one keeps its memory limit.
    let server = common::Server::start(bin);
    let store = RedisStore::open(&server.url()).await.unwrap();
    let mut raw = redis::Client::open(server.url().as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = redis::cmd("CONFIG")
        .arg("SET")
        .arg("maxmemory")
        .arg("4mb")
        .query_async(&mut raw)
        .await
        .unwrap();
    let big = Bytes::from(vec![1u8; 512 << 10]);
    let entries: Vec<(String, Bytes)> = (0..40).map(|i| (format!("k{i}"), big.clone())).collect();
    let err = store.put_many("c", entries, None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Backend, "{err}");
    assert!(err.is_temporary(), "{err}");
    let single = store.put("c", "one-more", big, None).await.unwrap_err();
    assert!(single.is_temporary(), "{single}");
}

#[tokio::test]
async fn closed_store_and_bad_credentials() {
    let Some((store, _raw, _p)) = setup("closed").await else {
        return;
    };
    let other = store.clone();
    store.close().await.unwrap();
    store.close().await.unwrap();
    let err = other.get("c", "k").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);

    let url = std::env::var("MCP_KV_REDIS_URL").unwrap();
    let bad = url.replace("redis://", "redis://nobody:wr0ngpass@");
    let err = RedisStore::open(&bad).await.unwrap_err();
    assert!(!err.to_string().contains("wr0ngpass"), "{err}");
    assert!(!format!("{err:?}").contains("wr0ngpass"), "{err:?}");
    assert!(!err.is_temporary(), "{err}");
}

#[tokio::test]
async fn values_above_the_limit_are_rejected_before_io() {
    let Some(url) = common::env_or_skip("MCP_KV_REDIS_URL", "limit") else {
        return;
    };
    let store = RedisStore::connect(
        RedisConfig::builder()
            .url(url)
            .prefix(common::unique_prefix("limit"))
            .max_value_bytes(1024)
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    assert_eq!(store.capabilities().max_value_bytes, 1024);
    let big = Bytes::from(vec![0u8; 1025]);
    let err = store.put("c", "k", big.clone(), None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ValueTooLarge);
    let err = store
        .compare_and_swap("c", "k", None, Some(big), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ValueTooLarge);
    assert_eq!(store.get("c", "k").await.unwrap(), None);
}

#[cfg(feature = "cluster")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cluster_spreads_collections_and_scans_the_owner() {
    let Some(urls) = common::env_or_skip("MCP_KV_REDIS_CLUSTER_URLS", "cluster_scan") else {
        return;
    };
    let store = RedisStore::connect(
        RedisConfig::builder()
            .cluster_nodes(urls.split(','))
            .prefix(common::unique_prefix("cluster"))
            .build()
            .unwrap(),
    )
    .await
    .unwrap();
    let names: Vec<String> = (0..24).map(|i| format!("col-{i}:*")).collect();
    for n in &names {
        let entries = (0..30).map(|i| (format!("k{i}"), b(n))).collect();
        store
            .put_many(n, entries, Some(Duration::from_secs(60)))
            .await
            .unwrap();
    }
    // The collections live on different masters: count keys per node.
    let mut nodes_with_keys = 0;
    for url in urls.split(',') {
        let mut raw = redis::Client::open(url)
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let prefix = store.config().prefix().to_string();
        let (_, keys): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(0)
            .arg("MATCH")
            .arg(format!("{prefix}*"))
            .arg("COUNT")
            .arg(10_000)
            .query_async(&mut raw)
            .await
            .unwrap();
        if !keys.is_empty() {
            nodes_with_keys += 1;
        }
    }
    assert!(nodes_with_keys >= 2, "24 collections all on one node");
    let mut cols = store.collections().await.unwrap();
    cols.sort();
    let mut want = names.clone();
    want.sort();
    assert_eq!(cols, want);
    for n in &names {
        let keys = store.keys(n, None, 1000).await.unwrap();
        assert_eq!(keys.keys.len(), 30, "{n}");
        let got = store.get_many(n, &["k0", "k29", "nope"]).await.unwrap();
        assert_eq!(got, vec![Some(b(n)), Some(b(n)), None]);
        assert_eq!(store.clear(n).await.unwrap(), 30);
    }
    assert!(store.collections().await.unwrap().is_empty());
}

#[tokio::test]
async fn a_cluster_node_is_refused_as_a_standalone_server() {
    // One seed URL without `cluster(true)` is a standalone server: on a cluster node most keys
    // would answer MOVED (a temporary error, retried forever) and collections() would list
    // only that node's collections. Refused at connect instead, as a configuration error.
    let Some(urls) = common::env_or_skip("MCP_KV_REDIS_CLUSTER_URLS", "cluster_node_standalone")
    else {
        return;
    };
    let one = urls.split(',').next().unwrap();
    let err = RedisStore::open(one).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(!err.is_temporary(), "{err}");
}

#[tokio::test]
async fn permission_and_database_refusals_are_config_errors() {
    let Some(bin) = common::server_bin("acl") else {
        return;
    };
    // A throwaway server: the shared one keeps its users.
    let server = common::Server::start(bin);
    let mut raw = redis::Client::open(server.url().as_str())
        .unwrap()
        .get_multiplexed_async_connection()
        .await
        .unwrap();
    let _: () = redis::cmd("ACL")
        .arg(&[
            "SETUSER", "limited", "on", ">pw", "~*", "+@all", "-get", "-scan",
        ])
        .query_async(&mut raw)
        .await
        .unwrap();
    let url = server.url().replace("redis://", "redis://limited:pw@");
    let store = RedisStore::open(&url).await.unwrap();
    store.put("c", "k", b("v"), None).await.unwrap();
    // Refused directly (SCAN) and inside a script (GET in get_entry's and CAS' scripts): the
    // same permanent configuration error.
    let direct = store.keys("c", None, 10).await.unwrap_err();
    assert_eq!(direct.kind(), ErrorKind::Config, "{direct}");
    let in_script = store.get_entry("c", "k").await.unwrap_err();
    assert_eq!(in_script.kind(), ErrorKind::Config, "{in_script}");
    assert!(!in_script.is_temporary(), "{in_script}");
    let in_script = store
        .compare_and_swap("c", "k", Some(b"v"), None, None)
        .await
        .unwrap_err();
    assert_eq!(in_script.kind(), ErrorKind::Config, "{in_script}");
    // A database number the server does not have.
    let err = RedisStore::open(&format!("{}/99", server.url()))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    assert!(!err.is_temporary(), "{err}");
}
