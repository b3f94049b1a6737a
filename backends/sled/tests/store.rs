//! sled-specific behaviour: lifecycle, persistence, the directory lock, paging, collections,
//! cull and the sweeper, TTL precision on the injected clock.

use std::sync::Arc;
use std::time::Duration;

use mcp_kv_core::{Bytes, ErrorKind, KvStore, ManualClock, Operation};
use mcp_kv_sled::{Durability, SledStore};

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

#[tokio::test]
async fn close_is_idempotent_and_later_operations_are_unavailable() {
    let store = SledStore::temporary().unwrap();
    store.put("c", "k", b("v"), None).await.unwrap();
    store.close().await.unwrap();
    store.close().await.unwrap();
    let clone = store.clone();
    let err = clone.get("c", "k").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert_eq!(err.operation(), Some(Operation::Get));
    assert!(!err.is_temporary(), "a closed store does not come back");
    for r in [
        store.put("c", "k", b("v"), None).await.map(|_| ()),
        store.delete("c", "k").await.map(|_| ()),
        store.put_many("c", vec![("k".into(), b("v"))], None).await,
        store.take("c", "k").await.map(|_| ()),
        store.keys("c", None, 10).await.map(|_| ()),
        store.collections().await.map(|_| ()),
        store.clear("c").await.map(|_| ()),
        store.cull().await.map(|_| ()),
    ] {
        assert_eq!(r.unwrap_err().kind(), ErrorKind::Unavailable);
    }
    assert!(store.capabilities().take);
}

#[tokio::test]
async fn data_survives_reopen_and_the_directory_is_locked() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let store = SledStore::builder()
        .path(&path)
        .durability(Durability::Flush)
        .open()
        .unwrap();
    assert!(store.capabilities().persistent);
    assert!(!store.capabilities().distributed);
    store.put("c", "k", b("v1"), None).await.unwrap();
    store
        .put("c", "t", b("v2"), Some(Duration::from_secs(3600)))
        .await
        .unwrap();

    // A second open of the same directory while the first is alive is refused, typed.
    let err = SledStore::open(&path).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert_eq!(err.operation(), Some(Operation::Open));

    store.close().await.unwrap();
    drop(store);
    // sled's own background flusher thread holds the directory lock until it notices the drop
    // and exits (asynchronously): reopening can be refused for a moment, then succeeds.
    let mut reopened = SledStore::open(&path);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while reopened.is_err() && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(50)).await;
        reopened = SledStore::open(&path);
    }
    let store = reopened.unwrap();
    assert_eq!(store.get("c", "k").await.unwrap(), Some(b("v1")));
    let entry = store.get_entry("c", "t").await.unwrap().unwrap();
    assert!(entry.ttl.unwrap() <= Duration::from_secs(3600));
    assert!(entry.ttl.unwrap() > Duration::from_secs(3500));
}

#[tokio::test]
async fn temporary_stores_are_not_persistent() {
    let store = SledStore::temporary().unwrap();
    let caps = store.capabilities();
    assert!(!caps.persistent && caps.enumerate && caps.compare_and_swap && !caps.native_ttl);
}

#[tokio::test]
async fn builder_rejects_bad_settings() {
    for builder in [
        SledStore::builder().sweep_interval(Duration::ZERO),
        SledStore::builder().max_value_bytes(0),
        SledStore::builder().flush_every_ms(Some(0)),
    ] {
        assert_eq!(builder.open().unwrap_err().kind(), ErrorKind::Config);
    }
    let small = SledStore::builder().max_value_bytes(4).open().unwrap();
    assert_eq!(small.capabilities().max_value_bytes, 4);
    let err = small.put("c", "k", b("12345"), None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ValueTooLarge);
    assert_eq!(small.get("c", "k").await.unwrap(), None);
}

#[tokio::test]
async fn ttl_is_exact_to_the_millisecond_on_the_injected_clock() {
    let clock = ManualClock::new();
    let store = SledStore::builder().clock(clock.clone()).open().unwrap();
    store
        .put("c", "k", b("v"), Some(Duration::from_micros(1_500_001)))
        .await
        .unwrap(); // rounds up to 1501 ms
    clock.advance(Duration::from_millis(1501));
    let e = store.get_entry("c", "k").await.unwrap().unwrap();
    assert_eq!(e.ttl, Some(Duration::from_millis(1)));
    clock.advance(Duration::from_millis(1));
    assert_eq!(store.get("c", "k").await.unwrap(), None);
    // Still stored until culled; expired entries count as absent everywhere.
    assert_eq!(store.db().len(), 1);
    assert!(store.put_if_absent("c", "k", b("new"), None).await.unwrap());
    assert_eq!(store.get("c", "k").await.unwrap(), Some(b("new")));
}

#[tokio::test]
async fn keys_page_over_expired_entries_and_special_names() {
    let clock = ManualClock::new();
    let store = SledStore::builder().clock(clock.clone()).open().unwrap();
    let c = "a:b/*?[x]\0é";
    let mut live = Vec::new();
    for i in 0..50 {
        let key = format!("k{i:02}\0:{}", "é".repeat(i % 3));
        let ttl = (i % 3 == 0).then_some(Duration::from_secs(1));
        store.put(c, &key, b("v"), ttl).await.unwrap();
        if ttl.is_none() {
            live.push(key);
        }
    }
    // Neighbouring collections whose names share a prefix with `c` stay out of its listing.
    store
        .put("a:b/*?[x]\0", "é-not-mine", b("v"), None)
        .await
        .unwrap();
    store
        .put(&format!("{c}x"), "k", b("v"), None)
        .await
        .unwrap();
    clock.advance(Duration::from_millis(1001));

    let mut seen = Vec::new();
    let mut cursor = None;
    let mut pages = 0;
    loop {
        let page = store.keys(c, cursor, 7).await.unwrap();
        assert!(page.keys.len() <= 7);
        seen.extend(page.keys);
        pages += 1;
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    live.sort();
    assert_eq!(seen, live, "every live key once, in order, nothing else");
    assert_eq!(pages, live.len().div_ceil(7));
}

#[tokio::test]
async fn collections_walk_prefix_ranges() {
    let store = SledStore::temporary().unwrap();
    let names = ["a", "a\0", "ab", "b", "é", &"x".repeat(1024)];
    for (i, name) in names.iter().enumerate() {
        for k in 0..=i {
            store
                .put(name, &format!("k{k}"), b("v"), None)
                .await
                .unwrap();
        }
    }
    let mut got = store.collections().await.unwrap();
    got.sort();
    let mut want: Vec<String> = names.iter().map(|s| s.to_string()).collect();
    want.sort();
    assert_eq!(got, want);
    assert_eq!(store.clear("ab").await.unwrap(), 3);
    assert_eq!(store.clear("ab").await.unwrap(), 0);
    assert!(!store
        .collections()
        .await
        .unwrap()
        .contains(&"ab".to_string()));
    assert_eq!(store.get("a", "k0").await.unwrap(), Some(b("v")));
}

#[tokio::test]
async fn clear_removes_large_collections_in_chunks() {
    let store = SledStore::temporary().unwrap();
    let entries: Vec<(String, Bytes)> = (0..3000).map(|i| (format!("{i}"), b("v"))).collect();
    store.put_many("big", entries, None).await.unwrap();
    store.put("bigger", "k", b("v"), None).await.unwrap();
    assert_eq!(store.clear("big").await.unwrap(), 3000);
    assert_eq!(store.keys("big", None, 10).await.unwrap().keys.len(), 0);
    assert_eq!(store.get("bigger", "k").await.unwrap(), Some(b("v")));
}

#[tokio::test]
async fn cull_removes_only_expired_entries() {
    let clock = ManualClock::new();
    let store = SledStore::builder().clock(clock.clone()).open().unwrap();
    for i in 0..20 {
        let ttl = (i % 2 == 0).then_some(Duration::from_secs(5));
        store.put("c", &format!("{i}"), b("v"), ttl).await.unwrap();
    }
    assert_eq!(store.cull().await.unwrap(), 0);
    clock.advance(Duration::from_secs(6));
    assert_eq!(store.cull().await.unwrap(), 10);
    assert_eq!(store.db().len(), 10);
    assert_eq!(store.cull().await.unwrap(), 0);
}

#[tokio::test]
async fn sweeper_culls_in_the_background_and_stops_on_close() {
    let clock = ManualClock::new();
    let store = SledStore::builder()
        .clock(clock.clone())
        .sweep_interval(Duration::from_millis(20))
        .open()
        .unwrap();
    store
        .put("c", "short", b("v"), Some(Duration::from_secs(1)))
        .await
        .unwrap();
    store.put("c", "long", b("v"), None).await.unwrap();
    clock.advance(Duration::from_secs(2));
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while store.db().len() > 1 {
        assert!(std::time::Instant::now() < deadline, "sweeper never culled");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    store.close().await.unwrap();
    // After close the sweeper is gone: an expired raw entry stays.
    let raw = store.db().clone();
    raw.insert(
        mcp_kv_core::encoding::encode_pair("c", "late"),
        mcp_kv_sled::encoding::encode_value(b"v", Some(0)),
    )
    .unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(raw.len(), 2);
}

#[tokio::test]
async fn dropping_the_store_stops_the_sweeper() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let store = SledStore::builder()
        .path(&path)
        .sweep_interval(Duration::from_millis(5))
        .open()
        .unwrap();
    store.put("c", "k", b("v"), None).await.unwrap();
    drop(store);
    // The sweeper held no strong handle: the directory lock is released and it can reopen.
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let store = loop {
        match SledStore::open(&path) {
            Ok(s) => break s,
            Err(e) if std::time::Instant::now() < deadline => {
                assert_eq!(e.kind(), ErrorKind::Unavailable);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            Err(e) => panic!("never reopened: {e}"),
        }
    };
    assert_eq!(store.get("c", "k").await.unwrap(), Some(b("v")));
}

#[tokio::test]
async fn a_sweep_interval_past_the_end_of_time_is_a_sweeper_that_never_runs() {
    // `recv_timeout(Duration::MAX)` must not overflow `Instant` (it waits for the stop).
    let store = SledStore::builder()
        .sweep_interval(Duration::MAX)
        .open()
        .unwrap();
    store.put("c", "k", b("v"), None).await.unwrap();
    assert_eq!(store.take("c", "k").await.unwrap(), Some(b("v")));
    store.close().await.unwrap();
}

#[tokio::test]
async fn large_values_round_trip_shared_or_copied() {
    let store = SledStore::temporary().unwrap();
    for len in [0usize, 1, 255, 256, 257, 4096, 1 << 20] {
        let v = Bytes::from((0..len).map(|i| (i % 251) as u8).collect::<Vec<_>>());
        store
            .put("c", "k", v.clone(), Some(Duration::from_secs(60)))
            .await
            .unwrap();
        assert_eq!(store.get("c", "k").await.unwrap(), Some(v.clone()));
        assert_eq!(store.take("c", "k").await.unwrap(), Some(v));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clones_race_on_one_key_with_one_winner() {
    let store = Arc::new(SledStore::temporary().unwrap());
    for round in 0..50 {
        let key = format!("k{round}");
        let mut tasks = Vec::new();
        for t in 0..16 {
            let store = store.clone();
            let key = key.clone();
            tasks.push(tokio::spawn(async move {
                store
                    .put_if_absent("race", &key, Bytes::from(vec![t as u8]), None)
                    .await
                    .unwrap()
            }));
        }
        let mut winners = 0;
        for t in tasks {
            winners += usize::from(t.await.unwrap());
        }
        assert_eq!(winners, 1, "round {round}");
        let mut takers = Vec::new();
        for _ in 0..16 {
            let store = store.clone();
            let key = key.clone();
            takers.push(tokio::spawn(async move {
                store.take("race", &key).await.unwrap().is_some()
            }));
        }
        let mut took = 0;
        for t in takers {
            took += usize::from(t.await.unwrap());
        }
        assert_eq!(took, 1, "round {round}");
    }
}

/// sled 0.34's `flush_async` deadlocks under concurrent callers (sled #1241, #1308); the store
/// flushes on Tokio's blocking pool instead. 16 writers flushing at once must all finish.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_flushing_writers_finish() {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(
        SledStore::builder()
            .path(dir.path().join("db"))
            .durability(Durability::Flush)
            .open()
            .unwrap(),
    );
    let work = async {
        let mut tasks = Vec::new();
        for w in 0..16 {
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                for i in 0..20 {
                    let k = format!("w{w}-{i}");
                    store.put("c", &k, b("v"), None).await.unwrap();
                    assert!(store.delete("c", &k).await.unwrap());
                }
            }));
        }
        for t in tasks {
            t.await.unwrap();
        }
    };
    tokio::time::timeout(Duration::from_secs(120), work)
        .await
        .expect("flushing writers deadlocked");
    store.close().await.unwrap();
}
