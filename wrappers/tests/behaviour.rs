//! Behaviour across wrappers: encryption binding, rotation with concurrent writers, namespace
//! and encryption together, retry and atomic operations.

#![cfg(all(feature = "encryption", feature = "compression"))]

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mcp_kv_core::testkit::Intercept;
use mcp_kv_core::{Bytes, ErrorKind, KvStore, ManualClock, Operation};
use mcp_kv_memory::MemoryStore;
use mcp_kv_wrappers::encryption::{self, Encryption, EncryptionConfig, EncryptionKey, Keyring};
use mcp_kv_wrappers::*;

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn enc<S: KvStore>(inner: S, ring: &Keyring) -> Encryption<S> {
    Encryption::new(inner, ring.clone(), EncryptionConfig::default())
}

#[tokio::test]
async fn ciphertext_moved_to_another_key_or_collection_is_rejected() {
    let memory = Arc::new(MemoryStore::new());
    let ring = Keyring::new(EncryptionKey::generate(1));
    let store = enc(memory.clone(), &ring);
    store
        .put("tokens", "alice", b("alice-secret"), None)
        .await
        .unwrap();
    let raw = memory.get("tokens", "alice").await.unwrap().unwrap();
    for (c, k) in [
        ("tokens", "mallory"),
        ("other", "alice"),
        ("tokensa", "lice"),
    ] {
        memory.put(c, k, raw.clone(), None).await.unwrap();
        let err = store.get(c, k).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Decryption, "{c}/{k}");
        assert!(!err.to_string().contains("alice"));
    }
    // Batches and atomic reads check the binding too.
    assert!(store
        .get_many("tokens", &["alice", "mallory"])
        .await
        .is_err());
    assert_eq!(
        store.take("tokens", "mallory").await.unwrap_err().kind(),
        ErrorKind::Decryption
    );
}

#[tokio::test]
async fn namespace_outside_encryption_binds_the_tenant() {
    let memory = Arc::new(MemoryStore::new());
    let ring = Keyring::new(EncryptionKey::generate(1));
    let tenant = |t: &str| {
        StoreBuilder::from_dyn(memory.clone())
            .namespace(t)
            .encrypt(ring.clone())
            .build()
            .unwrap()
    };
    let (a, bb) = (tenant("a"), tenant("b"));
    a.put("tokens", "t", b("a's token"), None).await.unwrap();
    let raw = memory.get("a:tokens", "t").await.unwrap().unwrap();
    memory.put("b:tokens", "t", raw, None).await.unwrap();
    assert_eq!(
        bb.get("tokens", "t").await.unwrap_err().kind(),
        ErrorKind::Decryption
    );
}

/// Over `inner`: between rekey's read and its compare-and-swap, a writer stores
/// `writer_value` (under the new key) — exactly once, for key `racing_key`.
fn race_once(inner: Arc<MemoryStore>, racing_key: &'static str, writer_value: Bytes) -> Intercept {
    let fired = Arc::new(AtomicBool::new(false));
    let writer = inner.clone();
    Intercept::new(inner).before(move |call| {
        let race = call.op == Operation::CompareAndSwap
            && call.key.as_deref() == Some(racing_key)
            && !fired.swap(true, Ordering::SeqCst);
        let (writer, value) = (writer.clone(), writer_value.clone());
        async move {
            if race {
                let collection = call.collection.as_deref().unwrap_or_default();
                writer.put(collection, racing_key, value, None).await?;
            }
            Ok(())
        }
    })
}

#[tokio::test]
async fn rekey_never_overwrites_a_racing_writer() {
    let memory = Arc::new(MemoryStore::new());
    let old = EncryptionKey::generate(1);
    let new = EncryptionKey::generate(2);
    let v1 = Keyring::new(old.clone());
    let v2 = Keyring::new(old).rotate(new.clone()).unwrap();
    let before = enc(memory.clone(), &v1);
    before
        .put("c", "race", b("old value"), Some(Duration::from_secs(600)))
        .await
        .unwrap();
    before
        .put("c", "calm", b("calm value"), None)
        .await
        .unwrap();
    let writer_value = encryption::seal(&v2, "c", "race", b"writer's value").unwrap();
    let racing = race_once(memory.clone(), "race", writer_value);
    let report = enc(racing, &v2).rekey().await.unwrap();
    assert_eq!(
        (
            report.scanned,
            report.rekeyed,
            report.current,
            report.failed
        ),
        (2, 1, 1, 0)
    );
    let only_new = enc(memory.clone(), &Keyring::new(new));
    assert_eq!(
        only_new.get("c", "race").await.unwrap().unwrap(),
        "writer's value"
    );
    assert_eq!(
        only_new.get("c", "calm").await.unwrap().unwrap(),
        "calm value"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_then_rekey_with_concurrent_writers() {
    let clock = ManualClock::new();
    let memory = Arc::new(MemoryStore::builder().clock(clock.clone()).build());
    let old = EncryptionKey::generate(10);
    let new = EncryptionKey::generate(11);
    let v1 = enc(memory.clone(), &Keyring::new(old.clone()));
    const N: usize = 400;
    for i in 0..N {
        let ttl = (i % 3 != 0).then(|| Duration::from_secs(1000 + i as u64));
        v1.put(
            &format!("c{}", i % 4),
            &format!("k{i}"),
            Bytes::from(format!("orig{i}")),
            ttl,
        )
        .await
        .unwrap();
    }
    clock.advance(Duration::from_secs(30));
    let v2 = Arc::new(enc(
        memory.clone(),
        &Keyring::new(old).rotate(new.clone()).unwrap(),
    ));

    let writer = {
        let v2 = v2.clone();
        tokio::spawn(async move {
            let mut last = HashMap::new();
            for round in 0..1500usize {
                let i = (round * 7919) % N;
                let (c, k) = (format!("c{}", i % 4), format!("k{i}"));
                let value = format!("w{round}");
                v2.put(&c, &k, Bytes::from(value.clone()), None)
                    .await
                    .unwrap();
                last.insert(i, value);
                if round % 50 == 0 {
                    tokio::task::yield_now().await;
                }
            }
            last
        })
    };
    let report = v2.rekey().await.unwrap();
    let last = writer.await.unwrap();
    assert_eq!(report.failed, 0);
    assert_eq!(report.scanned as usize, N, "{report:?}");

    let only_new = enc(memory.clone(), &Keyring::new(new));
    for i in 0..N {
        let (c, k) = (format!("c{}", i % 4), format!("k{i}"));
        let e = only_new.get_entry(&c, &k).await.unwrap().unwrap();
        match last.get(&i) {
            Some(w) => {
                assert_eq!(e.value, w.as_str(), "a writer's value was overwritten");
                assert_eq!(e.ttl, None);
            }
            None => {
                assert_eq!(e.value, format!("orig{i}").as_str());
                let expect = (i % 3 != 0).then(|| Duration::from_secs(1000 + i as u64 - 30));
                assert_eq!(e.ttl, expect, "TTL kept for k{i}");
            }
        }
    }
}

#[tokio::test]
async fn retry_over_encryption_never_repeats_take() {
    // Retry innermost (next to the backend) as recommended. The encryption wrapper's `take` is
    // a read and a `compare_and_swap` to nothing (over a store with CAS): the read may be
    // retried, the swap — the one-shot step — runs once, and its lost reply is the answer.
    let one_shots = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = one_shots.clone();
    // Applies every take and compare-and-swap, then loses its reply.
    let backend: Arc<dyn KvStore> = Arc::new(Intercept::new(Arc::new(MemoryStore::new())).after(
        move |call, _| {
            let one_shot = matches!(call.op, Operation::Take | Operation::CompareAndSwap);
            if one_shot {
                counted.fetch_add(1, Ordering::SeqCst);
            }
            async move {
                match one_shot {
                    true => Err(mcp_kv_core::Error::new(
                        ErrorKind::Unavailable,
                        "reply lost",
                    )),
                    false => Ok(()),
                }
            }
        },
    ));
    let store = StoreBuilder::from_dyn(backend.clone())
        .encrypt(Keyring::new(EncryptionKey::generate(1)))
        .retry(
            RetryConfig::new()
                .max_attempts(5)
                .initial_backoff(Duration::from_millis(1)),
        )
        .build()
        .unwrap();
    store.put("codes", "c", b("grant"), None).await.unwrap();
    assert_eq!(
        store.take("codes", "c").await.unwrap_err().kind(),
        ErrorKind::Unavailable
    );
    assert_eq!(one_shots.load(Ordering::SeqCst), 1);
    assert_eq!(backend.get("codes", "c").await.unwrap(), None);
}

#[tokio::test]
async fn take_of_a_value_that_does_not_decrypt_leaves_it_stored() {
    let backend = Arc::new(MemoryStore::new());
    let old = EncryptionKey::generate(1);
    let writer = Encryption::new(
        backend.clone(),
        Keyring::new(old.clone()),
        EncryptionConfig::new(),
    );
    writer.put("codes", "c", b("grant"), None).await.unwrap();
    // A keyring that lost the old key: the value does not decrypt, and must not be destroyed.
    let forgetful = Encryption::new(
        backend.clone(),
        Keyring::new(EncryptionKey::generate(2)),
        EncryptionConfig::new(),
    );
    assert_eq!(
        forgetful.take("codes", "c").await.unwrap_err().kind(),
        ErrorKind::Decryption
    );
    assert!(backend.get("codes", "c").await.unwrap().is_some(), "kept");
    assert_eq!(writer.take("codes", "c").await.unwrap(), Some(b("grant")));
    assert_eq!(writer.take("codes", "c").await.unwrap(), None);
}

#[tokio::test]
async fn statistics_outside_and_inside_a_stack_add_up() {
    let outer = Stats::new();
    let inner = Stats::new();
    let store = StoreBuilder::new(MemoryStore::new())
        .statistics_into(outer.clone())
        .namespace("t")
        .compress(CompressionConfig::new().threshold(32))
        .encrypt(Keyring::new(EncryptionKey::generate(1)))
        .statistics_into(inner.clone())
        .build()
        .unwrap();
    let text = Bytes::from("abc".repeat(100));
    for i in 0..10 {
        store
            .put("docs", &format!("d{i}"), text.clone(), None)
            .await
            .unwrap();
    }
    for i in 0..15 {
        store.get("docs", &format!("d{i}")).await.unwrap();
    }
    let (o, n) = (outer.snapshot(), inner.snapshot());
    let (od, nd) = (
        o.collection("docs").unwrap().total(),
        n.collection("t:docs").unwrap().total(),
    );
    assert_eq!((od.calls, od.writes, od.hits, od.misses), (25, 10, 10, 5));
    assert_eq!((nd.calls, nd.writes, nd.hits, nd.misses), (25, 10, 10, 5));
    assert_eq!(od.bytes_in, 3000);
    assert!(
        nd.bytes_in < od.bytes_in / 3,
        "stored compressed: {}",
        nd.bytes_in
    );
}
