//! Sessions over a real store: incarnations keep an expired session's entries out of a new
//! one, and concurrent first writes agree on one incarnation.

use std::sync::Arc;
use std::time::Duration;

use std::sync::atomic::{AtomicBool, Ordering};

use mcp_kv_core::session::SESSION_MARKERS;
use mcp_kv_core::testkit::Intercept;
use mcp_kv_core::{Bytes, KvStore, ManualClock, Operation, Session};

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

/// A memory store without `touch` that, once armed, deletes the session marker right after
/// the next read of it: an `end()` on another replica landing between a session's read of
/// its marker and the refresh. Returns the store and its arming switch.
fn ended_meanwhile() -> (Arc<dyn KvStore>, Arc<AtomicBool>) {
    let inner: Arc<dyn KvStore> = Arc::new(mcp_kv_memory::MemoryStore::new());
    let armed = Arc::new(AtomicBool::new(false));
    let mut caps = inner.capabilities();
    caps.touch = false;
    let (other_replica, switch) = (inner.clone(), armed.clone());
    let store = Intercept::new(inner)
        .with_capabilities(caps)
        .after(move |call, _| {
            let end_it = matches!(call.op, Operation::Get | Operation::GetEntry)
                && call.in_collection(SESSION_MARKERS)
                && switch.swap(false, Ordering::SeqCst);
            let other_replica = other_replica.clone();
            async move {
                if end_it {
                    let key = call.key.as_deref().unwrap_or_default();
                    other_replica.delete(SESSION_MARKERS, key).await?;
                }
                Ok(())
            }
        });
    (Arc::new(store), armed)
}

#[tokio::test]
async fn an_access_racing_end_does_not_bring_the_session_back() {
    let (store, armed) = ended_meanwhile();
    let s = Session::new(store.clone(), "sid", Duration::from_secs(60)).unwrap();
    s.put("k", b("v")).await.unwrap();
    armed.store(true, Ordering::SeqCst);
    assert_eq!(
        s.get("k").await.unwrap(),
        None,
        "read through an ended session"
    );
    assert_eq!(
        store.get(SESSION_MARKERS, "sid").await.unwrap(),
        None,
        "the ended session's marker was written back"
    );
}
