//! The realistic stack namespace → compression → encryption → statistics over the memory
//! backend, on the system clock (short real TTLs).

#![cfg(all(feature = "encryption", feature = "compression"))]

use mcp_kv_core::testkit::Suite;
use mcp_kv_memory::MemoryStore;
use mcp_kv_wrappers::encryption::{EncryptionKey, Keyring};
use mcp_kv_wrappers::{CompressionConfig, StoreBuilder};

/// The stack over the real (system) clock, cases running concurrently. Alone in its test
/// binary (cargo runs binaries one after another) and with values limited to 64 KiB, so that
/// the largest-value cases — encrypted in a debug build — do not starve the real-time TTL
/// cases on a loaded machine.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn realistic_stack_over_memory_real_time() {
    let store = StoreBuilder::new(MemoryStore::builder().max_value_bytes(64 * 1024).build())
        .namespace("tenant")
        .compress(CompressionConfig::new().threshold(64))
        .encrypt(Keyring::new(EncryptionKey::generate(1)))
        .statistics()
        .build()
        .unwrap();
    Suite::new("stack over memory (real time)")
        .concurrency(4)
        .run(store)
        .await
        // The memory store is unbounded: no eviction to test. Every other case runs.
        .assert_passed_skipping(&["eviction_in_bounded_store"]);
}
