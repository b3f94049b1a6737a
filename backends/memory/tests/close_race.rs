//! `close()` while writers run: afterwards the store holds nothing, and a write that raced it
//! either landed before the close (and was freed by it) or failed — never "succeeded" into a
//! closed store.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use mcp_kv_core::{Bytes, ErrorKind, KvStore};
use mcp_kv_memory::MemoryStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_store_holds_nothing_even_with_writers_racing_close() {
    for round in 0..100 {
        let store = Arc::new(MemoryStore::new());
        let closing = Arc::new(AtomicBool::new(false));
        let written = Arc::new(AtomicUsize::new(0));
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let (store, closing) = (store.clone(), closing.clone());
                let written = written.clone();
                tokio::spawn(async move {
                    let mut ok_after_close = 0;
                    for i in 0.. {
                        let seen_closing = closing.load(Ordering::SeqCst);
                        let key = format!("w{w}-{i}");
                        match store.put("c", &key, Bytes::from_static(b"v"), None).await {
                            Ok(()) if seen_closing => ok_after_close += 1,
                            Ok(()) => {
                                written.fetch_add(1, Ordering::SeqCst);
                            }
                            Err(e) => {
                                assert_eq!(e.kind(), ErrorKind::Unavailable);
                                return ok_after_close;
                            }
                        }
                    }
                    unreachable!()
                })
            })
            .collect();
        // Close while both writers are busy.
        while written.load(Ordering::SeqCst) < 2000 {
            tokio::task::yield_now().await;
        }
        closing.store(true, Ordering::SeqCst);
        store.close().await.unwrap();
        for w in writers {
            // A put that began after close() returned cannot succeed; one that was already
            // under way may (it landed before the flag and close freed it).
            let _ = w.await.unwrap();
        }
        assert_eq!(
            store.stored_entries(),
            0,
            "round {round}: entries left after close"
        );
    }
}
