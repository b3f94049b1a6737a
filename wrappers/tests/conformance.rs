//! Every wrapper alone over the memory backend, and the realistic stack, pass the whole
//! conformance suite (manual clock).

#![cfg(all(feature = "encryption", feature = "compression"))]

use std::sync::Arc;
use std::time::Duration;

use mcp_kv_core::testkit::Suite;
use mcp_kv_core::{DynStore, KvStore, ManualClock};
use mcp_kv_memory::MemoryStore;
use mcp_kv_wrappers::compression::{Compression, CompressionConfig};
use mcp_kv_wrappers::encryption::{Encryption, EncryptionConfig, EncryptionKey, Keyring};
use mcp_kv_wrappers::*;

fn memory(clock: &ManualClock) -> Arc<MemoryStore> {
    Arc::new(MemoryStore::builder().clock(clock.clone()).build())
}

/// The skips of a store over unbounded memory or SQLite stores: eviction needs a
/// `max_entries_per_collection`. Every other case runs — `cull`, `take`, CAS, `touch` and
/// enumeration included — so a wrapper that stops passing one of those capabilities through
/// fails here instead of quietly skipping its cases.
const UNBOUNDED: [&str; 1] = ["eviction_in_bounded_store"];

/// Runs the suite; it must pass, skipping exactly the cases in `skipping`.
async fn run(name: &str, clock: ManualClock, store: DynStore, skipping: &[&str]) {
    Suite::new(name)
        .manual_clock(clock)
        .run(store)
        .await
        .assert_passed_skipping(skipping);
}

macro_rules! conformance {
    ($test:ident, skipping $skipping:expr, |$clock:ident| $make:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $test() {
            let $clock = ManualClock::new();
            let store: DynStore = Arc::new($make);
            run(stringify!($test), $clock, store, &$skipping).await;
        }
    };
}

conformance!(namespace, skipping UNBOUNDED, |clock| Namespace::new(
    memory(&clock),
    "tenant:a%b"
)
.unwrap());

conformance!(encryption, skipping UNBOUNDED, |clock| Encryption::new(
    memory(&clock),
    Keyring::new(EncryptionKey::generate(1)),
    EncryptionConfig::default()
));

conformance!(compression, skipping UNBOUNDED, |clock| Compression::new(
    memory(&clock),
    CompressionConfig::new().threshold(16)
));

conformance!(statistics, skipping UNBOUNDED, |clock| Statistics::new(memory(&clock)));

conformance!(ttl_policy, skipping UNBOUNDED, |clock| TtlPolicy::new(
    memory(&clock),
    // A maximum would give entries without TTL one (by design), which the suite forbids.
    TtlPolicyConfig::new().min_ttl(Duration::from_millis(1))
)
.unwrap());

conformance!(retry, skipping UNBOUNDED, |clock| Retry::new(
    memory(&clock),
    RetryConfig::new().initial_backoff(Duration::from_millis(1))
));

conformance!(timeout, skipping UNBOUNDED, |clock| Timeout::new(
    memory(&clock),
    TimeoutConfig::new(Duration::from_secs(10))
));

// Switched off: the suite writes. `ReadOnly`'s refusals are tested in its unit tests.
conformance!(read_only_switched_off, skipping UNBOUNDED, |clock| ReadOnly::with_switch(
    memory(&clock),
    false
));

conformance!(size_limit, skipping UNBOUNDED, |clock| SizeLimit::new(
    memory(&clock),
    64 * 1024
));

conformance!(tiered, skipping UNBOUNDED, |clock| Tiered::new(
    memory(&clock),
    memory(&clock),
    TieredConfig::new()
        .local_ttl(Duration::from_secs(1))
        .clock(Arc::new(clock.clone()))
));

conformance!(fallback, skipping UNBOUNDED, |clock| Fallback::new(
    memory(&clock),
    memory(&clock)
));

conformance!(routing, skipping UNBOUNDED, |clock| {
    let (a, b, c): (DynStore, DynStore, DynStore) =
        (memory(&clock), memory(&clock), memory(&clock));
    Router::builder(a)
        .prefix("ck-", b)
        .exact("mcp-kv.sessions", c)
        .build()
});

conformance!(tracing, skipping UNBOUNDED, |clock| Tracing::new(
    memory(&clock),
    TracingConfig::default()
));

/// namespace → compression → encryption → statistics → memory.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn realistic_stack_over_memory() {
    let clock = ManualClock::new();
    let builder = StoreBuilder::from_dyn(memory(&clock))
        .namespace("tenant")
        .compress(CompressionConfig::new().threshold(64))
        .encrypt(Keyring::new(EncryptionKey::generate(1)))
        .statistics();
    let stats = builder.stats().unwrap();
    let store = builder.build().unwrap();
    assert!(store.capabilities().max_value_bytes < 16 * 1024 * 1024 - 45);
    run("stack over memory", clock, store, &UNBOUNDED).await;
    assert!(stats.snapshot().total().calls > 1000);
}

/// namespace → compression → encryption → statistics → SQLite (file, manual clock).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn realistic_stack_over_sqlite() {
    let dir = tempfile::tempdir().unwrap();
    let clock = ManualClock::new();
    let sqlite = Arc::new(
        mcp_kv_sqlite::SqliteStore::builder()
            .path(dir.path().join("kv.db"))
            .clock(clock.clone())
            .build()
            .unwrap(),
    );
    let builder = StoreBuilder::from_dyn(sqlite.clone())
        .namespace("tenant")
        .compress(CompressionConfig::new().threshold(64))
        .encrypt(Keyring::new(EncryptionKey::generate(1)))
        .statistics();
    let stats = builder.stats().unwrap();
    let store = builder.build().unwrap();
    run("stack over sqlite", clock, store.clone(), &UNBOUNDED).await;
    assert!(stats.snapshot().total().calls > 1000);
    store.close().await.unwrap();
    assert!(
        sqlite.get("tenant:x", "k").await.is_err(),
        "close reached the backend"
    );
}
