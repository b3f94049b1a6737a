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

/// A memory store without `touch` that, once armed, deletes the session marker right after
/// the next read of it: an `end()` on another replica landing between a session's read of
/// its marker and the refresh.
#[derive(Debug)]
struct EndedMeanwhile {
    inner: mcp_kv_memory::MemoryStore,
    armed: std::sync::atomic::AtomicBool,
}

#[mcp_kv_core::async_trait]
impl KvStore for EndedMeanwhile {
    fn capabilities(&self) -> mcp_kv_core::Capabilities {
        let mut caps = self.inner.capabilities();
        caps.touch = false;
        caps
    }
    async fn get_entry(&self, c: &str, k: &str) -> mcp_kv_core::Result<Option<mcp_kv_core::Entry>> {
        let entry = self.inner.get_entry(c, k).await?;
        if c == mcp_kv_core::session::SESSION_MARKERS
            && self.armed.swap(false, std::sync::atomic::Ordering::SeqCst)
        {
            self.inner.delete(c, k).await?;
        }
        Ok(entry)
    }
    async fn put(
        &self,
        c: &str,
        k: &str,
        v: Bytes,
        ttl: Option<Duration>,
    ) -> mcp_kv_core::Result<()> {
        self.inner.put(c, k, v, ttl).await
    }
    async fn delete(&self, c: &str, k: &str) -> mcp_kv_core::Result<bool> {
        self.inner.delete(c, k).await
    }
    async fn put_if_absent(
        &self,
        c: &str,
        k: &str,
        v: Bytes,
        ttl: Option<Duration>,
    ) -> mcp_kv_core::Result<bool> {
        self.inner.put_if_absent(c, k, v, ttl).await
    }
    async fn compare_and_swap(
        &self,
        c: &str,
        k: &str,
        current: Option<&[u8]>,
        new: Option<Bytes>,
        ttl: Option<Duration>,
    ) -> mcp_kv_core::Result<bool> {
        self.inner.compare_and_swap(c, k, current, new, ttl).await
    }
    async fn keys(
        &self,
        c: &str,
        cursor: Option<mcp_kv_core::Cursor>,
        limit: usize,
    ) -> mcp_kv_core::Result<mcp_kv_core::Page> {
        self.inner.keys(c, cursor, limit).await
    }
    async fn clear(&self, c: &str) -> mcp_kv_core::Result<u64> {
        self.inner.clear(c).await
    }
}

#[tokio::test]
async fn an_access_racing_end_does_not_bring_the_session_back() {
    let store = Arc::new(EndedMeanwhile {
        inner: mcp_kv_memory::MemoryStore::new(),
        armed: false.into(),
    });
    let s = Session::new(store.clone(), "sid", Duration::from_secs(60)).unwrap();
    s.put("k", b("v")).await.unwrap();
    store.armed.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(
        s.get("k").await.unwrap(),
        None,
        "read through an ended session"
    );
    assert_eq!(
        store
            .get(mcp_kv_core::session::SESSION_MARKERS, "sid")
            .await
            .unwrap(),
        None,
        "the ended session's marker was written back"
    );
}
