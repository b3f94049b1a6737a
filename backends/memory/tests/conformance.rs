//! The shared conformance suite on the memory store: system clock, manual clock, bounded.

use std::sync::Arc;

use mcp_kv_core::testkit::Suite;
use mcp_kv_core::ManualClock;
use mcp_kv_memory::MemoryStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_system_clock() {
    let store = Arc::new(MemoryStore::new());
    Suite::new("memory (system clock)")
        .run(store)
        .await
        .assert_passed_skipping(&["eviction_in_bounded_store"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_manual_clock() {
    let clock = ManualClock::new();
    let store = Arc::new(MemoryStore::builder().clock(clock.clone()).build());
    Suite::new("memory (manual clock)")
        .manual_clock(clock)
        .run(store)
        .await
        .assert_passed_skipping(&["eviction_in_bounded_store"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_bounded() {
    let clock = ManualClock::new();
    let store = Arc::new(
        MemoryStore::builder()
            .clock(clock.clone())
            .max_entries_per_collection(1000)
            .build(),
    );
    Suite::new("memory (bounded to 1000 per collection, manual clock)")
        .manual_clock(clock)
        .run(store)
        .await
        .assert_passed_skipping(&[]);
}
