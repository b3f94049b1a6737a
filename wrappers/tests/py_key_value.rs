//! py-key-value's wrapper tests (key-value-aio `tests/stores/wrappers/`), translated where the
//! wrapper exists here. Where py-key-value deliberately passes data through (unencrypted or
//! undecryptable values returned as they are), this crate fails closed, and the translated
//! test asserts the error instead — noted on each such test.

#![cfg(all(feature = "encryption", feature = "compression"))]

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use mcp_kv_core::{Bytes, Capabilities, Entry, Error, ErrorKind, KvStore, Result};
use mcp_kv_memory::MemoryStore;
use mcp_kv_wrappers::encryption::{Encryption, EncryptionConfig, EncryptionKey, Keyring, OVERHEAD};
use mcp_kv_wrappers::*;

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn encrypted(memory: &Arc<MemoryStore>) -> Encryption<Arc<MemoryStore>> {
    Encryption::new(
        memory.clone(),
        Keyring::new(EncryptionKey::generate(1)),
        EncryptionConfig::default(),
    )
}

// ---- test_encryption.py ------------------------------------------------------------------

#[tokio::test]
async fn encryption_encrypts_value() {
    let memory = Arc::new(MemoryStore::new());
    let store = encrypted(&memory);
    let original = b(r#"{"test":"value","number":123}"#);
    store
        .put("test", "test", original.clone(), None)
        .await
        .unwrap();
    let raw = memory.get("test", "test").await.unwrap().unwrap();
    assert_eq!(raw.len(), original.len() + OVERHEAD);
    let raw_text = String::from_utf8_lossy(&raw);
    assert!(!raw_text.contains("test") && !raw_text.contains("value"));
    assert_eq!(store.get("test", "test").await.unwrap().unwrap(), original);
}

#[tokio::test]
async fn encryption_many_operations() {
    let memory = Arc::new(MemoryStore::new());
    let store = encrypted(&memory);
    let keys = ["k1", "k2", "k3"];
    let values = [b("value1"), b("value2"), b("value3")];
    let entries = keys
        .iter()
        .zip(&values)
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    store.put_many("test", entries, None).await.unwrap();
    for (k, v) in keys.iter().zip(&values) {
        assert_ne!(&memory.get("test", k).await.unwrap().unwrap(), v);
    }
    let got: Vec<Bytes> = store
        .get_many("test", &keys)
        .await
        .unwrap()
        .into_iter()
        .flatten()
        .collect();
    assert_eq!(got, values);
}

/// py-key-value returns unencrypted data as is; here it is a `Decryption` error unless the
/// legacy opt-in is on.
#[tokio::test]
async fn decryption_of_unencrypted_data_fails_closed() {
    let memory = Arc::new(MemoryStore::new());
    let store = encrypted(&memory);
    memory
        .put("test", "test", b(r#"{"test":"value"}"#), None)
        .await
        .unwrap();
    assert_eq!(
        store.get("test", "test").await.unwrap_err().kind(),
        ErrorKind::Decryption
    );
    let legacy = Encryption::new(
        memory.clone(),
        store.keyring().clone(),
        EncryptionConfig::new().allow_legacy_plaintext(true),
    );
    assert_eq!(
        legacy.get("test", "test").await.unwrap().unwrap(),
        r#"{"test":"value"}"#
    );
}

/// py-key-value returns corrupted ciphertext as is; here it is a `Decryption` error.
#[tokio::test]
async fn decryption_of_corrupted_data_fails_closed() {
    let memory = Arc::new(MemoryStore::new());
    let store = encrypted(&memory);
    store.put("test", "test", b("value"), None).await.unwrap();
    let mut raw = memory.get("test", "test").await.unwrap().unwrap().to_vec();
    raw[40] ^= 0x55;
    memory
        .put("test", "test", Bytes::from(raw), None)
        .await
        .unwrap();
    assert_eq!(
        store.get("test", "test").await.unwrap_err().kind(),
        ErrorKind::Decryption
    );
}

/// py-key-value returns the encrypted value when the key is wrong; here it is an error.
#[tokio::test]
async fn decryption_with_wrong_key_fails_closed() {
    let memory = Arc::new(MemoryStore::new());
    let one = encrypted(&memory);
    let two = encrypted(&memory); // another random key, same id
    one.put("test", "test", b("value"), None).await.unwrap();
    assert_eq!(
        two.get("test", "test").await.unwrap_err().kind(),
        ErrorKind::Decryption
    );
}

#[tokio::test]
async fn encryption_with_ttl_and_ttl_many() {
    let memory = Arc::new(MemoryStore::new());
    let store = encrypted(&memory);
    store
        .put("test", "test", b("value"), Some(Duration::from_secs(3600)))
        .await
        .unwrap();
    let e = store.get_entry("test", "test").await.unwrap().unwrap();
    assert_eq!(e.value, "value");
    assert!(e.ttl.unwrap() > Duration::ZERO);
    store
        .put_many(
            "test",
            vec![("k1".into(), b("v1")), ("k2".into(), b("v2"))],
            Some(Duration::from_secs(7200)),
        )
        .await
        .unwrap();
    let got = store.get_entries("test", &["k1", "k2"]).await.unwrap();
    for (e, v) in got.into_iter().zip(["v1", "v2"]) {
        let e = e.unwrap();
        assert_eq!(e.value, v);
        assert!(e.ttl.unwrap() > Duration::from_secs(7000));
    }
}

#[tokio::test]
async fn encryption_complex_and_empty_values() {
    let store = encrypted(&Arc::new(MemoryStore::new()));
    let complex = b(r#"{"users":[{"name":"Alice","age":30}],"tags":["python","encryption"]}"#);
    store
        .put("test", "complex", complex.clone(), None)
        .await
        .unwrap();
    assert_eq!(
        store.get("test", "complex").await.unwrap().unwrap(),
        complex
    );
    store
        .put("test", "empty", Bytes::new(), None)
        .await
        .unwrap();
    assert_eq!(
        store.get("test", "empty").await.unwrap().unwrap(),
        Bytes::new()
    );
}

// ---- test_clamp_ttl.py -------------------------------------------------------------------

#[tokio::test]
async fn clamp_ttl_below_min_above_max_and_missing() {
    let s = |n| Duration::from_secs(n);
    let store = TtlPolicy::new(
        MemoryStore::new(),
        TtlPolicyConfig::new()
            .min_ttl(s(50))
            .max_ttl(s(100))
            .default_ttl(s(50)),
    )
    .unwrap();
    store.put("test", "low", b("v"), Some(s(5))).await.unwrap();
    store
        .put("test", "high", b("v"), Some(s(1000)))
        .await
        .unwrap();
    store.put("test", "none", b("v"), None).await.unwrap();
    let ttl = |e: Option<Entry>| e.unwrap().ttl.unwrap().as_secs_f64();
    assert!((ttl(store.get_entry("test", "low").await.unwrap()) - 50.0).abs() < 1.0);
    assert!((ttl(store.get_entry("test", "high").await.unwrap()) - 100.0).abs() < 1.0);
    assert!((ttl(store.get_entry("test", "none").await.unwrap()) - 50.0).abs() < 1.0);
}

// ---- test_limit_size.py ------------------------------------------------------------------

#[tokio::test]
async fn limit_size_within_exceeding_and_exact() {
    let store = SizeLimit::new(MemoryStore::new(), 100);
    store.put("test", "test", b("small"), None).await.unwrap();
    assert_eq!(store.get("test", "test").await.unwrap().unwrap(), "small");
    let large = Bytes::from("x".repeat(1000));
    let err = store
        .put("test", "big", large.clone(), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ValueTooLarge);
    assert_eq!(store.get("test", "big").await.unwrap(), None);
    let exact = Bytes::from("x".repeat(100));
    store
        .put("test", "exact", exact.clone(), None)
        .await
        .unwrap();
    let over = Bytes::from("x".repeat(101));
    assert!(store.put("test", "over", over, None).await.is_err());
}

#[tokio::test]
async fn limit_size_put_many_mixed_sizes_writes_nothing() {
    let store = SizeLimit::new(MemoryStore::new(), 100);
    let entries = vec![
        ("small1".to_string(), b("x")),
        ("large1".to_string(), Bytes::from("x".repeat(1000))),
        ("small2".to_string(), b("y")),
    ];
    let err = store
        .put_many("test", entries, Some(Duration::from_secs(100)))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ValueTooLarge);
    assert_eq!(
        store
            .get_many("test", &["small1", "large1", "small2"])
            .await
            .unwrap(),
        vec![None, None, None]
    );
}

// ---- test_fallback.py --------------------------------------------------------------------

#[derive(Debug)]
struct FailingStore;

#[async_trait]
impl KvStore for FailingStore {
    fn capabilities(&self) -> Capabilities {
        Capabilities::default()
    }
    async fn get_entry(&self, _: &str, _: &str) -> Result<Option<Entry>> {
        Err(Error::new(
            ErrorKind::Unavailable,
            "primary store unavailable",
        ))
    }
    async fn put(&self, _: &str, _: &str, _: Bytes, _: Option<Duration>) -> Result<()> {
        Err(Error::new(
            ErrorKind::Unavailable,
            "primary store unavailable",
        ))
    }
    async fn delete(&self, _: &str, _: &str) -> Result<bool> {
        Err(Error::new(
            ErrorKind::Unavailable,
            "primary store unavailable",
        ))
    }
}

#[tokio::test]
async fn fallback_on_primary_failure() {
    let secondary = Arc::new(MemoryStore::new());
    let store = Fallback::new(FailingStore, secondary.clone());
    secondary
        .put("test", "test", b("fallback_value"), None)
        .await
        .unwrap();
    assert_eq!(
        store.get("test", "test").await.unwrap().unwrap(),
        "fallback_value"
    );
}

#[tokio::test]
async fn fallback_primary_success_no_fallback() {
    let (primary, secondary) = (Arc::new(MemoryStore::new()), Arc::new(MemoryStore::new()));
    primary
        .put("test", "test", b("primary_value"), None)
        .await
        .unwrap();
    secondary
        .put("test", "test", b("fallback_value"), None)
        .await
        .unwrap();
    let store = Fallback::new(primary, secondary);
    assert_eq!(
        store.get("test", "test").await.unwrap().unwrap(),
        "primary_value"
    );
}

/// Writes never go to the fallback (py-key-value's `write_to_fallback=False`, the only mode
/// here: a write the primary missed would be lost or resurrected later).
#[tokio::test]
async fn fallback_writes_do_not_fall_back() {
    let secondary = Arc::new(MemoryStore::new());
    let store = Fallback::new(FailingStore, secondary.clone());
    let err = store
        .put("test", "test", b("value"), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    assert_eq!(secondary.get("test", "test").await.unwrap(), None);
}

// ---- test_passthrough_cache.py (read-through tier) -----------------------------------------

#[tokio::test]
async fn passthrough_cache_reads_through_and_caches() {
    let (cache, primary) = (Arc::new(MemoryStore::new()), Arc::new(MemoryStore::new()));
    let store = Tiered::new(cache.clone(), primary.clone(), TieredConfig::default());
    primary.put("test", "test", b("value"), None).await.unwrap();
    assert_eq!(store.get("test", "test").await.unwrap().unwrap(), "value");
    assert!(
        cache.get("test", "test").await.unwrap().is_some(),
        "cached after a read"
    );
    assert!(store.delete("test", "test").await.unwrap());
    assert_eq!(
        cache.get("test", "test").await.unwrap(),
        None,
        "invalidated by a write"
    );
    assert_eq!(store.get("test", "test").await.unwrap(), None);
}

// ---- test_prefix_collection.py (namespace) -------------------------------------------------

#[tokio::test]
async fn prefix_collection_isolates_and_lists_own_collections() {
    let memory = Arc::new(MemoryStore::new());
    let store = Namespace::new(memory.clone(), "prefix").unwrap();
    store.put("test", "test", b("value"), None).await.unwrap();
    assert_eq!(
        memory.get("prefix:test", "test").await.unwrap().unwrap(),
        "value"
    );
    assert_eq!(memory.get("test", "test").await.unwrap(), None);
    memory.put("unrelated", "k", b("v"), None).await.unwrap();
    assert_eq!(store.collections().await.unwrap(), vec!["test".to_string()]);
}

// ---- test_read_only.py ---------------------------------------------------------------------

#[tokio::test]
async fn read_only_reads_work_writes_fail() {
    let memory = Arc::new(MemoryStore::new());
    memory.put("test", "test", b("value"), None).await.unwrap();
    let store = ReadOnly::new(memory.clone());
    assert_eq!(store.get("test", "test").await.unwrap().unwrap(), "value");
    assert_eq!(
        store
            .put("test", "x", b("v"), None)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::ReadOnly
    );
    assert_eq!(
        store.delete("test", "test").await.unwrap_err().kind(),
        ErrorKind::ReadOnly
    );
    assert_eq!(
        store
            .put_many("test", vec![], None)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::ReadOnly
    );
    assert_eq!(memory.get("test", "test").await.unwrap().unwrap(), "value");
}

// ---- test_statistics.py --------------------------------------------------------------------

#[tokio::test]
async fn statistics_count_hits_misses_and_puts() {
    let store = Statistics::new(MemoryStore::new());
    store.put("test", "test", b("value"), None).await.unwrap();
    store.get("test", "test").await.unwrap();
    store.get("test", "missing").await.unwrap();
    store.delete("test", "test").await.unwrap();
    let snap = store.stats().snapshot();
    let c = snap.collection("test").unwrap();
    assert_eq!(c.operation(mcp_kv_core::Operation::Get).hits, 1);
    assert_eq!(c.operation(mcp_kv_core::Operation::Get).misses, 1);
    assert_eq!(c.operation(mcp_kv_core::Operation::Put).writes, 1);
    assert_eq!(c.operation(mcp_kv_core::Operation::Delete).deletes, 1);
}

// ---- test_routing.py -----------------------------------------------------------------------

#[tokio::test]
async fn routing_sends_collections_to_their_store() {
    let (sessions, default) = (Arc::new(MemoryStore::new()), Arc::new(MemoryStore::new()));
    let store = Router::builder(default.clone())
        .exact("sessions", sessions.clone())
        .build();
    store.put("sessions", "s1", b("a"), None).await.unwrap();
    store.put("users", "u1", b("b"), None).await.unwrap();
    assert!(sessions.get("sessions", "s1").await.unwrap().is_some());
    assert!(default.get("users", "u1").await.unwrap().is_some());
    assert!(default.get("sessions", "s1").await.unwrap().is_none());
}
