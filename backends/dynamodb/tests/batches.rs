//! Batches of 250 keys: order, request counts (BatchGetItem chunks of 100, BatchWriteItem
//! chunks of 25), duplicates, and the UnprocessedKeys / UnprocessedItems retry path.

mod common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use aws_smithy_types::config_bag::{Storable, StoreReplace};
use bytes::Bytes;
use common::RequestCounter;
use mcp_kv_core::{ErrorKind, KvStore};
use mcp_kv_dynamodb::aws_sdk_dynamodb::config::interceptors::{
    BeforeSerializationInterceptorContextMut, FinalizerInterceptorContextMut,
};
use mcp_kv_dynamodb::aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use mcp_kv_dynamodb::aws_sdk_dynamodb::error::BoxError;
use mcp_kv_dynamodb::aws_sdk_dynamodb::operation::batch_get_item::{
    BatchGetItemInput, BatchGetItemOutput,
};
use mcp_kv_dynamodb::aws_sdk_dynamodb::operation::batch_write_item::{
    BatchWriteItemInput, BatchWriteItemOutput,
};
use mcp_kv_dynamodb::aws_sdk_dynamodb::types::{KeysAndAttributes, WriteRequest};

fn entries(n: usize, tag: &str) -> Vec<(String, Bytes)> {
    (0..n)
        .map(|i| (format!("key-{i:04}"), Bytes::from(format!("{tag}-{i}"))))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batches_of_250_round_trip_with_counted_requests() {
    let Some(endpoint) = common::endpoint("batches_of_250_round_trip_with_counted_requests") else {
        return;
    };
    let table = common::table_name("batch");
    let counter = RequestCounter::default();
    let store = common::builder(&endpoint, &table)
        .interceptor(counter.clone())
        .build()
        .await
        .unwrap();

    counter.reset();
    store.put_many("b", entries(250, "v"), None).await.unwrap();
    assert_eq!(counter.get(), 10, "put_many(250) requests");

    // Reversed order, to see that results follow the input and not the table.
    let keys: Vec<String> = (0..250).rev().map(|i| format!("key-{i:04}")).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    counter.reset();
    let got = store.get_many("b", &refs).await.unwrap();
    assert_eq!(counter.get(), 3, "get_many(250) requests");
    for (i, v) in (0..250).rev().zip(&got) {
        assert_eq!(v.as_ref(), Some(&Bytes::from(format!("v-{i}"))));
    }

    // Duplicates and missing keys: BatchGetItem rejects duplicates, so they are sent once.
    let dup = ["key-0001", "missing", "key-0001", "key-0002", "missing"];
    counter.reset();
    let got = store.get_many("b", &dup).await.unwrap();
    assert_eq!(counter.get(), 1);
    assert_eq!(
        got,
        vec![
            Some(Bytes::from("v-1")),
            None,
            Some(Bytes::from("v-1")),
            Some(Bytes::from("v-2")),
            None
        ]
    );
    // put_many with duplicates: the last one wins.
    store
        .put_many(
            "b",
            vec![
                ("d".into(), Bytes::from("first")),
                ("d".into(), Bytes::from("last")),
            ],
            None,
        )
        .await
        .unwrap();
    assert_eq!(
        store.get("b", "d").await.unwrap(),
        Some(Bytes::from("last"))
    );

    // delete_many(250) counts live keys: 3 key-only gets + 10 writes.
    counter.reset();
    let removed = store.delete_many("b", &refs).await.unwrap();
    assert_eq!(removed, 250);
    assert_eq!(counter.get(), 13, "delete_many(250) requests");
    assert!(store
        .get_many("b", &refs)
        .await
        .unwrap()
        .iter()
        .all(Option::is_none));
    store.delete_table().await.unwrap();
}

/// Items withheld from one batch request; handed back as unprocessed in its response.
#[derive(Debug, Clone)]
struct HeldWrites(Vec<WriteRequest>);
impl Storable for HeldWrites {
    type Storer = StoreReplace<Self>;
}

#[derive(Debug, Clone)]
struct HeldKeys(KeysAndAttributes);
impl Storable for HeldKeys {
    type Storer = StoreReplace<Self>;
}

/// Makes the "endpoint" process only the first half of every batch request of 2+ entries: the
/// rest is taken out of the request before it is sent and returned as `UnprocessedItems` /
/// `UnprocessedKeys`, as DynamoDB does under throttling. Nothing arrives unless retried.
#[derive(Debug, Clone)]
struct HalfProcessed {
    table: String,
    withheld: Arc<AtomicUsize>,
}

impl Intercept for HalfProcessed {
    fn name(&self) -> &'static str {
        "HalfProcessed"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input_mut();
        if let Some(write) = input.downcast_mut::<BatchWriteItemInput>() {
            if let Some(items) = write
                .request_items
                .as_mut()
                .and_then(|m| m.get_mut(&self.table))
            {
                if items.len() >= 2 {
                    let held = items.split_off(items.len() / 2);
                    self.withheld.fetch_add(held.len(), Ordering::SeqCst);
                    cfg.interceptor_state().store_put(HeldWrites(held));
                }
            }
        } else if let Some(get) = input.downcast_mut::<BatchGetItemInput>() {
            if let Some(ka) = get
                .request_items
                .as_mut()
                .and_then(|m| m.get_mut(&self.table))
            {
                if ka.keys.len() >= 2 {
                    let mut held = ka.clone();
                    held.keys = ka.keys.split_off(ka.keys.len() / 2);
                    self.withheld.fetch_add(held.keys.len(), Ordering::SeqCst);
                    cfg.interceptor_state().store_put(HeldKeys(held));
                }
            }
        }
        Ok(())
    }

    fn modify_before_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let held_writes = cfg.load::<HeldWrites>().cloned();
        let held_keys = cfg.load::<HeldKeys>().cloned();
        let Some(Ok(output)) = context.output_or_error_mut() else {
            return Ok(());
        };
        if let (Some(out), Some(HeldWrites(held))) =
            (output.downcast_mut::<BatchWriteItemOutput>(), held_writes)
        {
            out.unprocessed_items
                .get_or_insert_with(Default::default)
                .entry(self.table.clone())
                .or_default()
                .extend(held);
        }
        if let (Some(out), Some(HeldKeys(held))) =
            (output.downcast_mut::<BatchGetItemOutput>(), held_keys)
        {
            out.unprocessed_keys
                .get_or_insert_with(Default::default)
                .insert(self.table.clone(), held);
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unprocessed_items_and_keys_are_retried_until_done() {
    let Some(endpoint) = common::endpoint("unprocessed_items_and_keys_are_retried_until_done")
    else {
        return;
    };
    let table = common::table_name("unproc");
    let withheld = Arc::new(AtomicUsize::new(0));
    let counter = RequestCounter::default();
    let flaky = common::builder(&endpoint, &table)
        .interceptor(HalfProcessed {
            table: table.clone(),
            withheld: withheld.clone(),
        })
        .interceptor(counter.clone())
        .build()
        .await
        .unwrap();
    let plain = common::builder(&endpoint, &table).build().await.unwrap();

    flaky
        .put_many("u", entries(250, "w"), Some(Duration::from_secs(600)))
        .await
        .unwrap();
    let written = withheld.swap(0, Ordering::SeqCst);
    assert!(written >= 125, "withheld only {written} writes");
    assert!(counter.get() > 10, "no retry requests were sent");

    let keys: Vec<String> = (0..250).map(|i| format!("key-{i:04}")).collect();
    let refs: Vec<&str> = keys.iter().map(String::as_str).collect();
    // Everything arrived: checked through a client without the fault injection.
    let got = plain.get_many("u", &refs).await.unwrap();
    for (i, v) in got.iter().enumerate() {
        assert_eq!(v.as_ref(), Some(&Bytes::from(format!("w-{i}"))), "key {i}");
    }
    // And reads through the faulty one still return everything, in order.
    counter.reset();
    let got = flaky.get_entries("u", &refs).await.unwrap();
    assert!(withheld.load(Ordering::SeqCst) >= 125);
    assert!(counter.get() > 3);
    for (i, e) in got.iter().enumerate() {
        let e = e.as_ref().expect("entry");
        assert_eq!(e.value, Bytes::from(format!("w-{i}")));
        assert!(e.ttl.unwrap() <= Duration::from_secs(600));
    }
    plain.delete_table().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_pages_past_expired_items_in_few_requests() {
    let Some(endpoint) = common::endpoint("keys_pages_past_expired_items_in_few_requests") else {
        return;
    };
    let table = common::table_name("keys-expired");
    let clock = mcp_kv_core::ManualClock::new();
    let counter = RequestCounter::default();
    let store = common::builder(&endpoint, &table)
        .clock(clock.clone())
        .interceptor(counter.clone())
        .build()
        .await
        .unwrap();
    // 200 entries that expire (DynamoDB keeps them until its TTL sweep), then 3 that live.
    let short = Duration::from_millis(1);
    store
        .put_many("k", entries(200, "v"), Some(short))
        .await
        .unwrap();
    let live: Vec<(String, Bytes)> = ["zz-1", "zz-2", "zz-3"]
        .iter()
        .map(|k| (k.to_string(), Bytes::from("v")))
        .collect();
    store.put_many("k", live, None).await.unwrap();
    clock.advance(Duration::from_millis(5));
    for limit in [1, 2, 10] {
        counter.reset();
        let mut cursor = None;
        let mut seen = Vec::new();
        loop {
            let page = store.keys("k", cursor, limit).await.unwrap();
            assert!(page.keys.len() <= limit);
            seen.extend(page.keys);
            match page.next {
                Some(c) => cursor = Some(c),
                None => break,
            }
        }
        assert_eq!(seen, ["zz-1", "zz-2", "zz-3"], "limit {limit}");
        // Was one Query per few expired items (201 requests at limit 1).
        assert!(
            counter.get() <= 8,
            "limit {limit}: {} requests",
            counter.get()
        );
    }
    store.delete_table().await.unwrap();
}

/// `batch_deadline` bounds the whole call, not each chunk: 10 chunks written one at a time,
/// each needing ~1 s of retries, fail at the 2 s deadline instead of taking ~10 s; and a
/// deadline (or operation timeout) too long for an `Instant` means none, not a panic.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_batch_deadline_bounds_the_whole_call() {
    let Some(endpoint) = common::endpoint("the_batch_deadline_bounds_the_whole_call") else {
        return;
    };
    let table = common::table_name("deadline");
    let flaky = |deadline: Duration| {
        common::builder(&endpoint, &table)
            .interceptor(HalfProcessed {
                table: table.clone(),
                withheld: Arc::new(AtomicUsize::new(0)),
            })
            .batch_concurrency(1)
            .batch_deadline(deadline)
    };
    let bounded = flaky(Duration::from_secs(2)).build().await.unwrap();
    let started = std::time::Instant::now();
    let err = bounded
        .put_many("d", entries(250, "w"), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    assert!(
        started.elapsed() < Duration::from_secs(6),
        "gave up after {:?}",
        started.elapsed()
    );
    // An operation timeout too long for an `Instant` is no timeout either.
    let unbounded = flaky(Duration::MAX)
        .timeout(Duration::MAX)
        .build()
        .await
        .unwrap();
    unbounded
        .put_many("d", entries(30, "u"), None)
        .await
        .unwrap();
    unbounded.delete_table().await.unwrap();
}

/// Makes every BatchGetItem take `get_delay` and every BatchWriteItem come back with all its
/// requests unprocessed (they are applied, deletes are idempotent), so writes never finish.
#[derive(Debug, Clone)]
struct SlowGetsStuckWrites {
    table: String,
    get_delay: Duration,
}

impl Intercept for SlowGetsStuckWrites {
    fn name(&self) -> &'static str {
        "SlowGetsStuckWrites"
    }

    fn modify_before_serialization(
        &self,
        context: &mut BeforeSerializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let input = context.input_mut();
        if input.downcast_ref::<BatchGetItemInput>().is_some() {
            std::thread::sleep(self.get_delay);
        } else if let Some(write) = input.downcast_ref::<BatchWriteItemInput>() {
            if let Some(items) = write
                .request_items
                .as_ref()
                .and_then(|m| m.get(&self.table))
            {
                cfg.interceptor_state().store_put(HeldWrites(items.clone()));
            }
        }
        Ok(())
    }

    fn modify_before_completion(
        &self,
        context: &mut FinalizerInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let held = cfg.load::<HeldWrites>().cloned();
        if let (Some(Ok(output)), Some(HeldWrites(held))) = (context.output_or_error_mut(), held) {
            if let Some(out) = output.downcast_mut::<BatchWriteItemOutput>() {
                out.unprocessed_items
                    .get_or_insert_with(Default::default)
                    .insert(self.table.clone(), held);
            }
        }
        Ok(())
    }
}

/// `delete_many` reads (to count) then deletes; `batch_deadline` bounds both phases together:
/// a 3 s read followed by deletes that never finish fails at the 4 s deadline, not 4 s after
/// the read ended (each phase used to start a deadline of its own).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_batch_deadline_bounds_both_phases_of_delete_many() {
    let Some(endpoint) = common::endpoint("the_batch_deadline_bounds_both_phases_of_delete_many")
    else {
        return;
    };
    let table = common::table_name("deadline-dm");
    let plain = common::builder(&endpoint, &table).build().await.unwrap();
    plain.put_many("d", entries(3, "v"), None).await.unwrap();
    let stuck = common::builder(&endpoint, &table)
        .interceptor(SlowGetsStuckWrites {
            table: table.clone(),
            get_delay: Duration::from_secs(3),
        })
        .batch_deadline(Duration::from_secs(4))
        .build()
        .await
        .unwrap();
    let started = std::time::Instant::now();
    let err = stuck
        .delete_many("d", &["key-0000", "key-0001", "key-0002"])
        .await
        .unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(err.kind(), ErrorKind::Timeout, "{err}");
    // Per phase, the deletes alone would retry until ≥ 3 s + (4 s − one 1 s backoff) = 6 s.
    assert!(
        elapsed < Duration::from_millis(5_000),
        "gave up after {elapsed:?}"
    );
    plain.delete_table().await.unwrap();
}
