//! The shared conformance suite against SQLite stores: file and in-memory, manual and system
//! clock, with and without reader threads.

use std::sync::Arc;

use mcp_kv_core::testkit::Suite;
use mcp_kv_core::{KvStore, ManualClock};
use mcp_kv_sqlite::{Durability, SqliteStore};

/// The suite under a manual clock (the one injected into the store).
fn manual(name: &str, clock: ManualClock) -> Suite {
    Suite::new(name).manual_clock(clock)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_file_manual_clock() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let store = SqliteStore::builder()
        .path(dir.path().join("kv.db"))
        .clock(clock.clone())
        .build()
        .unwrap();
    let store = Arc::new(store);
    manual("sqlite file (manual clock)", clock)
        .run(store.clone())
        .await
        .assert_passed_skipping(&["eviction_in_bounded_store"]);
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_memory_manual_clock() {
    let clock = ManualClock::new();
    let store = Arc::new(
        SqliteStore::builder()
            .memory()
            .clock(clock.clone())
            .build()
            .unwrap(),
    );
    manual("sqlite memory (manual clock)", clock)
        .run(store)
        .await
        .assert_passed_skipping(&["eviction_in_bounded_store"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_file_full_durability_custom_table_no_readers_no_inline_reads_no_spin_manual_clock(
) {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let store = SqliteStore::builder()
        .path(dir.path().join("kv.db"))
        .table("other_table")
        .durability(Durability::Full)
        .readers(0)
        .inline_readers(0)
        .idle_spin(std::time::Duration::ZERO)
        .answer_spin(std::time::Duration::ZERO)
        .clock(clock.clone())
        .build()
        .unwrap();
    manual(
        "sqlite file, FULL, no readers, no inline reads, no spins (manual clock)",
        clock,
    )
    .run(Arc::new(store))
    .await
    .assert_passed_skipping(&["eviction_in_bounded_store"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_file_system_clock() {
    let dir = tempfile::tempdir().unwrap();
    let store = SqliteStore::open(dir.path().join("kv.db")).unwrap();
    Suite::new("sqlite file (system clock)")
        .run(Arc::new(store))
        .await
        .assert_passed_skipping(&["eviction_in_bounded_store"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_memory_system_clock() {
    let store = SqliteStore::memory().unwrap();
    Suite::new("sqlite memory (system clock)")
        .run(Arc::new(store))
        .await
        .assert_passed_skipping(&["eviction_in_bounded_store"]);
}
