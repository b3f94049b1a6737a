//! Unit tests of the memory store's own behaviour (the shared suite is in `tests/`).

use std::time::Duration;

use mcp_kv_core::{Bytes, ErrorKind, KvStore, ManualClock};

use crate::{MemoryStore, MemoryStoreBuilder};

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

#[test]
fn public_types_are_send_sync() {
    fn check<T: Send + Sync + 'static>() {}
    check::<MemoryStore>();
    check::<MemoryStoreBuilder>();
    fn object_safe(_: std::sync::Arc<dyn KvStore>) {}
    object_safe(std::sync::Arc::new(MemoryStore::builder().build()));
}

#[tokio::test]
async fn lru_evicts_exactly_the_least_recently_used() {
    let store = MemoryStore::builder().max_entries_per_collection(3).build();
    for k in ["a", "b", "c"] {
        store.put("c", k, b(k), None).await.unwrap();
    }
    assert_eq!(store.inner().lru_order("c"), ["a", "b", "c"]);
    store.get("c", "a").await.unwrap(); // a: most recent
    assert_eq!(store.inner().lru_order("c"), ["b", "c", "a"]);
    store.touch("c", "b", None).await.unwrap(); // b: most recent
    assert_eq!(store.inner().lru_order("c"), ["c", "a", "b"]);
    store.put("c", "d", b("d"), None).await.unwrap(); // evicts c
    assert_eq!(store.inner().lru_order("c"), ["a", "b", "d"]);
    assert_eq!(store.get("c", "c").await.unwrap(), None);
    store.get_many("c", &["b", "a"]).await.unwrap();
    assert_eq!(store.inner().lru_order("c"), ["d", "b", "a"]);
    store.put("c", "e", b("e"), None).await.unwrap(); // evicts d
    assert_eq!(store.inner().lru_order("c"), ["b", "a", "e"]);
    // Other collections are bounded separately.
    store.put("other", "x", b("x"), None).await.unwrap();
    assert_eq!(store.stored_entries(), 4);
    assert_eq!(store.capabilities().max_entries_per_collection, Some(3));
}

#[tokio::test]
async fn a_full_collection_reclaims_expired_entries_before_evicting_live_ones() {
    let clock = ManualClock::new();
    let store = MemoryStore::builder()
        .clock(clock.clone())
        .max_entries_per_collection(3)
        .sweep_interval(Duration::ZERO)
        .build();
    // "old" is the least recently used and live; "short" expires, unread, in the middle.
    store.put("c", "old", b("old"), None).await.unwrap();
    store
        .put("c", "short", b("s"), Some(Duration::from_secs(1)))
        .await
        .unwrap();
    store.put("c", "mid", b("mid"), None).await.unwrap();
    clock.advance(Duration::from_millis(1001));
    assert_eq!(store.stored_entries(), 3);
    // Full: the expired "short" gives its slot, "old" stays.
    store.put("c", "new", b("new"), None).await.unwrap();
    assert_eq!(store.inner().lru_order("c"), ["old", "mid", "new"]);
    assert_eq!(store.get("c", "old").await.unwrap(), Some(b("old")));
    // The same through every path that inserts a new key.
    store
        .put("c", "short", b("s"), Some(Duration::from_secs(1)))
        .await
        .unwrap(); // evicts "mid" (live, least recent, nothing expired)
    clock.advance(Duration::from_millis(1001));
    assert!(store.put_if_absent("c", "pia", b("p"), None).await.unwrap());
    assert_eq!(store.inner().lru_order("c"), ["new", "old", "pia"]);
    store
        .put("c", "short", b("s"), Some(Duration::from_secs(1)))
        .await
        .unwrap(); // evicts "new"
    clock.advance(Duration::from_millis(1001));
    assert!(store
        .compare_and_swap("c", "cas", None, Some(b("c")), None)
        .await
        .unwrap());
    assert_eq!(store.inner().lru_order("c"), ["old", "pia", "cas"]);
    store
        .put_many(
            "c",
            vec![("short".into(), b("s"))],
            Some(Duration::from_secs(1)),
        )
        .await
        .unwrap(); // evicts "old"
    clock.advance(Duration::from_millis(1001));
    store
        .put_many("c", vec![("many".into(), b("m"))], None)
        .await
        .unwrap();
    assert_eq!(store.inner().lru_order("c"), ["pia", "cas", "many"]);
}

#[tokio::test]
async fn bounded_reads_remove_expired_entries() {
    let clock = ManualClock::new();
    let store = MemoryStore::builder()
        .clock(clock.clone())
        .max_entries_per_collection(10)
        .build();
    store
        .put("c", "k", b("v"), Some(Duration::from_secs(1)))
        .await
        .unwrap();
    clock.advance(Duration::from_millis(1001));
    assert_eq!(store.stored_entries(), 1);
    assert_eq!(store.get("c", "k").await.unwrap(), None);
    assert_eq!(store.stored_entries(), 0);
}

#[tokio::test]
async fn cull_removes_expired_entries_physically() {
    let clock = ManualClock::new();
    let store = MemoryStore::builder().clock(clock.clone()).build();
    for n in 0..50 {
        let ttl = (n % 2 == 0).then_some(Duration::from_millis(10));
        store.put("c", &format!("k{n}"), b("v"), ttl).await.unwrap();
    }
    assert_eq!(store.cull().await.unwrap(), 0);
    clock.advance(Duration::from_millis(11));
    assert_eq!(store.stored_entries(), 50);
    assert_eq!(store.cull().await.unwrap(), 25);
    assert_eq!(store.stored_entries(), 25);
    assert_eq!(store.keys("c", None, 100).await.unwrap().keys.len(), 25);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweeper_removes_expired_entries_and_stops_on_close() {
    let store = MemoryStore::builder()
        .sweep_interval(Duration::from_millis(20))
        .build();
    assert!(store.sweeper_running());
    store
        .put("c", "k", b("v"), Some(Duration::from_millis(1)))
        .await
        .unwrap();
    wait_until(|| store.stored_entries() == 0).await;
    store.close().await.unwrap();
    wait_until(|| !store.sweeper_running()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweeper_ends_when_the_store_is_dropped() {
    let store = MemoryStore::builder()
        .sweep_interval(Duration::from_secs(3600))
        .build();
    let task = store.inner().sweeper.lock().take().unwrap();
    let clone = store.clone();
    drop(store);
    tokio::time::sleep(Duration::from_millis(20)).await;
    assert!(!task.is_finished(), "a clone still holds the store");
    drop(clone);
    tokio::time::timeout(Duration::from_secs(5), task)
        .await
        .expect("sweeper did not end after the store was dropped")
        .unwrap();
}

#[test]
fn no_sweeper_outside_a_runtime_or_when_disabled() {
    assert!(!MemoryStore::new().sweeper_running());
    let rt = tokio::runtime::Runtime::new().unwrap();
    let _guard = rt.enter();
    assert!(MemoryStore::new().sweeper_running());
    assert!(!MemoryStore::builder()
        .sweep_interval(Duration::ZERO)
        .build()
        .sweeper_running());
}

#[tokio::test]
async fn close_is_idempotent_and_later_operations_are_unavailable() {
    let store = MemoryStore::new();
    store.put("c", "k", b("v"), None).await.unwrap();
    store.close().await.unwrap();
    store.close().await.unwrap();
    assert!(store.is_closed());
    assert_eq!(store.stored_entries(), 0);
    let clone = store.clone();
    for err in [
        clone.get("c", "k").await.unwrap_err(),
        clone.put("c", "k", b("v"), None).await.unwrap_err(),
        clone.take("c", "k").await.unwrap_err(),
        clone.keys("c", None, 10).await.unwrap_err(),
        clone.cull().await.unwrap_err(),
    ] {
        assert_eq!(err.kind(), ErrorKind::Unavailable);
        assert!(!err.is_temporary());
    }
    // Bad input is still reported as such.
    assert_eq!(
        clone.get("", "k").await.unwrap_err().kind(),
        ErrorKind::InvalidKey
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_paging_returns_stable_keys_once_under_churn() {
    let store = MemoryStore::builder().shards(4).build();
    for n in 0..500 {
        store
            .put("c", &format!("stable-{n:04}"), b("v"), None)
            .await
            .unwrap();
    }
    let churn = {
        let store = store.clone();
        tokio::spawn(async move {
            for n in 0..3000 {
                let k = format!("churn-{}", n % 300);
                if n % 2 == 0 {
                    store.put("c", &k, b("v"), None).await.unwrap();
                } else {
                    store.delete("c", &k).await.unwrap();
                }
                tokio::task::yield_now().await;
            }
        })
    };
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store.keys("c", cursor, 7).await.unwrap();
        assert!(page.keys.len() <= 7);
        assert!(page.keys.windows(2).all(|w| w[0] < w[1]));
        seen.extend(page.keys.into_iter().filter(|k| k.starts_with("stable-")));
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
        tokio::task::yield_now().await;
    }
    churn.await.unwrap();
    let expected: Vec<String> = (0..500).map(|n| format!("stable-{n:04}")).collect();
    assert_eq!(seen, expected);
}

#[tokio::test]
async fn a_read_shares_the_stored_buffer() {
    let store = MemoryStore::new();
    let value = Bytes::from(vec![7u8; 1024]);
    store.put("c", "k", value.clone(), None).await.unwrap();
    let read = store.get("c", "k").await.unwrap().unwrap();
    assert_eq!(read.as_ptr(), value.as_ptr(), "get copied the value");
}

#[tokio::test]
async fn debug_shows_no_data() {
    let store = MemoryStore::new();
    store
        .put("secret-collection", "secret-key", b("secret-value"), None)
        .await
        .unwrap();
    let shown = format!("{store:?}");
    assert!(!shown.contains("secret"), "{shown}");
}

async fn wait_until(mut cond: impl FnMut() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("condition not reached within 5 s");
}

#[tokio::test]
async fn large_batches_match_single_reads() {
    let clock = ManualClock::new();
    for store in [
        MemoryStore::builder()
            .clock(clock.clone())
            .shards(8)
            .build(),
        MemoryStore::builder()
            .clock(clock.clone())
            .max_entries_per_collection(1000)
            .build(),
    ] {
        for n in 0..300 {
            let ttl = (n % 5 == 0).then_some(Duration::from_millis(10));
            store
                .put("c", &format!("k{n}"), b(&n.to_string()), ttl)
                .await
                .unwrap();
        }
        clock.advance(Duration::from_millis(11));
        // Present, expired, missing and duplicate keys, in scrambled order.
        let keys: Vec<String> = (0..400).map(|n| format!("k{}", (n * 7919) % 350)).collect();
        let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
        let many = store.get_many("c", &refs).await.unwrap();
        let entries = store.get_entries("c", &refs).await.unwrap();
        assert_eq!(many.len(), refs.len());
        for (i, key) in refs.iter().enumerate() {
            let single = store.get("c", key).await.unwrap();
            assert_eq!(many[i], single, "{key}");
            assert_eq!(
                entries[i].as_ref().map(|e| e.value.clone()),
                single,
                "{key}"
            );
        }
        let live = |k: &&&str| k[1..].parse::<u32>().is_ok_and(|n| n < 300 && n % 5 != 0);
        assert_eq!(
            many.iter().flatten().count(),
            refs.iter().filter(live).count()
        );
    }
}
