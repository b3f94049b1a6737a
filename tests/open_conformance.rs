//! The conformance suite on stores opened by URL through the facade, as users open them.

use mcp_kv_core::testkit::Suite;

#[cfg(feature = "memory")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn memory_url() {
    let store = mcp_kv::open("memory://")
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    Suite::new("open(memory://)")
        .run(store)
        .await
        .assert_passed_skipping(&["eviction_in_bounded_store"]);
}

#[cfg(feature = "sqlite")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_url() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let url = format!("sqlite://{}", dir.path().join("kv.db").display());
    let store = mcp_kv::open(&url).await.unwrap_or_else(|e| panic!("{e}"));
    Suite::new("open(sqlite://file)")
        .run(store)
        .await
        .assert_passed_skipping(&["eviction_in_bounded_store"]);
}

#[cfg(feature = "sled")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sled_url() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let url = format!("sled://{}", dir.path().join("kv.sled").display());
    let store = mcp_kv::open(&url).await.unwrap_or_else(|e| panic!("{e}"));
    Suite::new("open(sled://dir)")
        .run(store)
        .await
        .assert_passed_skipping(&["eviction_in_bounded_store"]);
}
