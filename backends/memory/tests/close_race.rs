//! `close()` while writers run: afterwards the store holds nothing; a write that raced it may
//! have succeeded (it landed before the close and was freed by it) or failed, but a write that
//! began after `close()` returned fails, and once a write has failed no later one succeeds.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use mcp_kv_core::{Bytes, ErrorKind, KvStore};
use mcp_kv_memory::MemoryStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_store_holds_nothing_even_with_writers_racing_close() {
    for round in 0..100 {
        let store = Arc::new(MemoryStore::new());
        // Set once `close()` has returned (not before: a write that sees it began after that).
        let closed = Arc::new(AtomicBool::new(false));
        let written = Arc::new(AtomicUsize::new(0));
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let (store, closed) = (store.clone(), closed.clone());
                let written = written.clone();
                tokio::spawn(async move {
                    let mut failed_at = None;
                    for i in 0.. {
                        let after_close = closed.load(Ordering::SeqCst);
                        let key = format!("w{w}-{i}");
                        let put = store.put("c", &key, Bytes::from_static(b"v"), None).await;
                        match put {
                            Ok(()) => {
                                assert!(
                                    !after_close,
                                    "round {round}: put {key} began after close() returned \
                                     and succeeded"
                                );
                                assert!(
                                    failed_at.is_none(),
                                    "round {round}: put {key} succeeded after put #{} failed",
                                    failed_at.unwrap_or(0)
                                );
                                written.fetch_add(1, Ordering::SeqCst);
                            }
                            Err(e) => {
                                assert_eq!(e.kind(), ErrorKind::Unavailable, "round {round}: {e}");
                                failed_at.get_or_insert(i);
                            }
                        }
                        // Stop only after one put that began after close() returned, so every
                        // writer checks that case each round.
                        if after_close {
                            return;
                        }
                    }
                })
            })
            .collect();
        // Close while both writers are busy.
        while written.load(Ordering::SeqCst) < 2000 {
            tokio::task::yield_now().await;
        }
        store.close().await.unwrap();
        closed.store(true, Ordering::SeqCst);
        for w in writers {
            w.await.unwrap();
        }
        assert_eq!(
            store.stored_entries(),
            0,
            "round {round}: entries left after close"
        );
    }
}
