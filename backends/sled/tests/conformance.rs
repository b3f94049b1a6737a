//! The shared conformance suite against the sled backend, with a manual and a real clock.

use std::sync::Arc;

use mcp_kv_core::testkit::Suite;
use mcp_kv_core::ManualClock;
use mcp_kv_sled::{Durability, SledStore};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_manual_clock() {
    let clock = ManualClock::new();
    let store = SledStore::builder().clock(clock.clone()).open().unwrap();
    Suite::new("sled (manual clock)")
        .manual_clock(clock)
        .run(Arc::new(store))
        .await
        .assert_passed_skipping(&["eviction_in_bounded_store"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_system_clock() {
    let store = SledStore::temporary().unwrap();
    Suite::new("sled (system clock)")
        .run(Arc::new(store))
        .await
        .assert_passed_skipping(&["eviction_in_bounded_store"]);
}

/// The durable setting on a real directory, with a sweeper running beside the cases.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_flush_per_write_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let store = SledStore::builder()
        .path(dir.path().join("db"))
        .clock(clock.clone())
        .durability(Durability::Flush)
        .sweep_interval(std::time::Duration::from_millis(50))
        .open()
        .unwrap();
    Suite::new("sled (flush per write, on disk, sweeper)")
        .manual_clock(clock)
        .race_rounds(20)
        .run(Arc::new(store))
        .await
        .assert_passed_skipping(&["eviction_in_bounded_store"]);
}
