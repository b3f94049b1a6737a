//! Sessions over a real store: incarnations keep an expired session's entries out of a new
//! one, and concurrent first writes agree on one incarnation.

use std::sync::Arc;
use std::time::Duration;

use mcp_kv_core::{Bytes, KvStore, ManualClock, Session};

fn b(s: &'static str) -> Bytes {
    Bytes::from_static(s.as_bytes())
}

#[tokio::test]
async fn a_session_started_again_does_not_see_its_expired_incarnation() {
    let clock = ManualClock::new();
    let store: Arc<dyn KvStore> = Arc::new(
        mcp_kv_memory::MemoryStore::builder()
            .clock(clock.clone())
            .build(),
    );
    let idle = Duration::from_secs(10);
    let s = Session::new(store.clone(), "sid", idle)
        .unwrap()
        .with_clock(Arc::new(clock.clone()));
    s.put("old", b("stale-secret")).await.unwrap();
    clock.advance(Duration::from_secs(11)); // marker gone, entry still stored (15 s TTL)
    assert_eq!(s.get("old").await.unwrap(), None);
    s.put("new", b("fresh")).await.unwrap();
    assert_eq!(
        s.get("old").await.unwrap(),
        None,
        "the old incarnation came back"
    );
    assert_eq!(s.get("new").await.unwrap(), Some(b("fresh")));
    let other_handle = Session::new(store, "sid", idle).unwrap();
    assert_eq!(other_handle.get("old").await.unwrap(), None);
    assert_eq!(other_handle.get("new").await.unwrap(), Some(b("fresh")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_writes_share_one_incarnation() {
    for round in 0..50 {
        let store: Arc<dyn KvStore> = Arc::new(mcp_kv_memory::MemoryStore::new());
        let id = format!("sid-{round}");
        let writers: Vec<_> = (0..4)
            .map(|w| {
                let s = Session::new(store.clone(), &id, Duration::from_secs(60)).unwrap();
                tokio::spawn(async move { s.put(&format!("k{w}"), b("v")).await })
            })
            .collect();
        for w in writers {
            w.await.unwrap().unwrap();
        }
        let s = Session::new(store, &id, Duration::from_secs(60)).unwrap();
        for w in 0..4 {
            assert!(
                s.get(&format!("k{w}")).await.unwrap().is_some(),
                "round {round}"
            );
        }
    }
}
