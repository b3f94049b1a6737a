//! `testkit::Intercept`: forwards every operation (the whole conformance suite passes through
//! it, with and without hooks) and runs its hooks where it says.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mcp_kv_core::testkit::{Call, Intercept, Suite};
use mcp_kv_core::{Bytes, Error, ErrorKind, KvStore, ManualClock, Operation};
use mcp_kv_memory::MemoryStore;

fn memory(clock: &ManualClock) -> Arc<dyn KvStore> {
    Arc::new(MemoryStore::builder().clock(clock.clone()).build())
}

#[tokio::test]
async fn forwards_every_operation_without_hooks() {
    let clock = ManualClock::new();
    Suite::new("intercept, no hooks")
        .manual_clock(clock.clone())
        .run(Arc::new(Intercept::new(memory(&clock))))
        .await
        .assert_passed();
}

#[tokio::test]
async fn forwards_every_operation_through_hooks_that_let_calls_pass() {
    let clock = ManualClock::new();
    let (seen_before, seen_after) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let (b, a) = (seen_before.clone(), seen_after.clone());
    let store = Intercept::new(memory(&clock))
        .before(move |_| {
            b.fetch_add(1, Ordering::Relaxed);
            async { Ok(()) }
        })
        .after(move |_, _| {
            a.fetch_add(1, Ordering::Relaxed);
            async { Ok(()) }
        });
    Suite::new("intercept, pass-through hooks")
        .manual_clock(clock)
        .run(Arc::new(store))
        .await
        .assert_passed();
    let before = seen_before.load(Ordering::Relaxed);
    assert!(before > 100, "the hooks ran for {before} calls");
    assert_eq!(before, seen_after.load(Ordering::Relaxed));
}

fn down() -> Error {
    Error::new(ErrorKind::Unavailable, "injected").set_temporary(true)
}

#[tokio::test]
async fn a_failing_before_hook_keeps_the_call_from_the_store() {
    let inner: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let calls = Arc::new(std::sync::Mutex::new(Vec::<Call>::new()));
    let seen = calls.clone();
    let store = Intercept::new(inner.clone()).before(move |call| {
        let refuse = call.op == Operation::Put && call.in_collection("c");
        seen.lock().unwrap().push(call);
        async move {
            if refuse {
                Err(down())
            } else {
                Ok(())
            }
        }
    });
    let err = store
        .put("c", "k", Bytes::from_static(b"v"), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert_eq!(
        inner.get("c", "k").await.unwrap(),
        None,
        "the refused put reached the store"
    );
    store
        .put("d", "k", Bytes::from_static(b"v"), None)
        .await
        .unwrap();
    assert!(inner.get("d", "k").await.unwrap().is_some());
    let calls = calls.lock().unwrap();
    assert_eq!(calls[0].op, Operation::Put);
    assert_eq!(calls[0].collection.as_deref(), Some("c"));
    assert_eq!(calls[0].key.as_deref(), Some("k"));
}

#[tokio::test]
async fn a_failing_after_hook_loses_the_reply_of_an_applied_write() {
    let inner: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let store = Intercept::new(inner.clone()).after(|call, ok| async move {
        assert!(ok, "{call:?}");
        match call.op {
            Operation::PutIfAbsent => Err(down()),
            _ => Ok(()),
        }
    });
    let err = store
        .put_if_absent("c", "k", Bytes::from_static(b"v"), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert_eq!(
        inner.get("c", "k").await.unwrap().as_deref(),
        Some(&b"v"[..]),
        "the write was applied"
    );
}

#[tokio::test]
async fn an_after_hook_that_never_completes_leaves_the_caller_waiting() {
    let inner: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let store = Intercept::new(inner.clone()).after(|_, _| std::future::pending());
    let put = store.put("c", "k", Bytes::from_static(b"v"), None);
    assert!(tokio::time::timeout(Duration::from_millis(20), put)
        .await
        .is_err());
    assert!(
        inner.get("c", "k").await.unwrap().is_some(),
        "the write was applied"
    );
}

#[tokio::test]
async fn delay_and_capabilities() {
    let inner: Arc<dyn KvStore> = Arc::new(MemoryStore::new());
    let mut caps = inner.capabilities();
    assert!(caps.touch);
    caps.touch = false;
    let store = Intercept::new(inner)
        .delay(Operation::Put, Duration::from_millis(150))
        .with_capabilities(caps);
    assert!(!store.capabilities().touch);
    let start = tokio::time::Instant::now();
    store
        .put("c", "k", Bytes::from_static(b"v"), None)
        .await
        .unwrap();
    assert!(start.elapsed() >= Duration::from_millis(150));
    let start = tokio::time::Instant::now();
    store.get("c", "k").await.unwrap();
    assert!(
        start.elapsed() < Duration::from_millis(150),
        "only puts are delayed"
    );
    assert!(format!("{store:?}").starts_with("Intercept"));
}
