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

async fn run(name: &str, clock: ManualClock, store: DynStore) {
    Suite::new(name)
        .manual_clock(clock)
        .run(store)
        .await
        .assert_passed();
}

macro_rules! conformance {
    ($test:ident, |$clock:ident| $make:expr) => {
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $test() {
            let $clock = ManualClock::new();
            let store: DynStore = Arc::new($make);
            run(stringify!($test), $clock, store).await;
        }
    };
}

conformance!(namespace, |clock| Namespace::new(
    memory(&clock),
    "tenant:a%b"
)
.unwrap());

conformance!(encryption, |clock| Encryption::new(
    memory(&clock),
    Keyring::new(EncryptionKey::generate(1)),
    EncryptionConfig::default()
));

conformance!(compression, |clock| Compression::new(
    memory(&clock),
    CompressionConfig::new().threshold(16)
));

conformance!(statistics, |clock| Statistics::new(memory(&clock)));

conformance!(ttl_policy, |clock| TtlPolicy::new(
    memory(&clock),
    // A maximum would give entries without TTL one (by design), which the suite forbids.
    TtlPolicyConfig::new().min_ttl(Duration::from_millis(1))
)
.unwrap());

conformance!(retry, |clock| Retry::new(
    memory(&clock),
    RetryConfig::new().initial_backoff(Duration::from_millis(1))
));

conformance!(timeout, |clock| Timeout::new(
    memory(&clock),
    TimeoutConfig::new(Duration::from_secs(10))
));

// Switched off: the suite writes. `ReadOnly`'s refusals are tested in its unit tests.
conformance!(read_only_switched_off, |clock| ReadOnly::with_switch(
    memory(&clock),
    false
));

conformance!(size_limit, |clock| SizeLimit::new(
    memory(&clock),
    64 * 1024
));

conformance!(tiered, |clock| Tiered::new(
    memory(&clock),
    memory(&clock),
    TieredConfig::new()
        .local_ttl(Duration::from_secs(1))
        .clock(Arc::new(clock.clone()))
));

conformance!(fallback, |clock| Fallback::new(
    memory(&clock),
    memory(&clock)
));

conformance!(routing, |clock| {
    let (a, b, c): (DynStore, DynStore, DynStore) =
        (memory(&clock), memory(&clock), memory(&clock));
    Router::builder(a)
        .prefix("ck-", b)
        .exact("mcp-kv.sessions", c)
        .build()
});

conformance!(tracing, |clock| Tracing::new(
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
    run("stack over memory", clock, store).await;
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
    run("stack over sqlite", clock, store.clone()).await;
    assert!(stats.snapshot().total().calls > 1000);
    store.close().await.unwrap();
    assert!(
        sqlite.get("tenant:x", "k").await.is_err(),
        "close reached the backend"
    );
}
