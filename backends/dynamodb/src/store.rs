//! [`DynamoStore`]: the [`KvStore`] implementation, one short method per operation.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use aws_sdk_dynamodb::primitives::Blob;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_dynamodb::Client;
use bytes::Bytes;
use mcp_kv_core::expiry::{expires_at, is_live, remaining};
use mcp_kv_core::{
    rules, system_clock, Capabilities, Cursor, Entry, Error, ErrorKind, KvStore, Operation, Page,
    Result, SharedClock,
};

use crate::batch::{self, Item, KeyMap};
use crate::config::{DynamoConfig, DynamoStoreBuilder};
use crate::encoding::{
    decode_collection, decode_cursor, decode_expiry, decode_key, decode_value, encode_cursor,
    encode_name, number, stored_sk, ttl_seconds, ItemKey, EXP, MAX_PK_BYTES, ORIG_COLLECTION,
    ORIG_KEY, PK, SK, TTL, VALUE,
};
use crate::error::{is_condition_failed, sdk_err, RetryOnlyUnapplied};
use crate::BACKEND;

/// Largest value accepted: DynamoDB items are at most 400 KB including attribute names and the
/// (possibly 4 KiB) key names, so values are capped at 350 KiB.
pub const MAX_VALUE_BYTES: usize = 350 * 1024;

/// Condition: the item exists and has not expired.
const LIVE: &str = "attribute_exists(#pk) AND (attribute_not_exists(#e) OR #e >= :now)";
/// Condition: the item is absent or expired.
const GONE: &str = "attribute_not_exists(#pk) OR #e < :now";
/// Condition: live and holding `:cur`.
const LIVE_EQ: &str =
    "attribute_exists(#pk) AND (attribute_not_exists(#e) OR #e >= :now) AND #v = :cur";
/// Longest page asked of one Query.
const QUERY_PAGE: usize = 1000;

/// A [`KvStore`] on one DynamoDB table. Cheap to clone (an `Arc` inside).
///
/// See the [crate docs](crate) for the table layout, expiry semantics and costs.
#[derive(Clone)]
pub struct DynamoStore {
    inner: Arc<Inner>,
}

struct Inner {
    client: Client,
    config: DynamoConfig,
    clock: SharedClock,
    closed: AtomicBool,
}

impl fmt::Debug for DynamoStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamoStore")
            .field("table", &self.inner.config.table)
            .field("region", &self.inner.config.region)
            .field("endpoint", &self.inner.config.endpoint)
            .field("closed", &self.inner.closed.load(Ordering::Relaxed))
            .finish_non_exhaustive()
    }
}

/// Tags an error with its operation and this backend.
fn tag(op: Operation) -> impl Fn(Error) -> Error {
    move |e| e.with_operation(op).with_backend(BACKEND)
}

impl DynamoStore {
    /// A builder for a store on `table`.
    pub fn builder(table: impl Into<String>) -> DynamoStoreBuilder {
        DynamoStoreBuilder::new(table)
    }

    /// Opens a store from a `dynamodb://TABLE?…` URL (see [`DynamoConfig::from_url`]).
    pub async fn open(url: &str) -> Result<DynamoStore> {
        DynamoStoreBuilder::from_url(url)?.build().await
    }

    pub(crate) async fn from_builder(builder: DynamoStoreBuilder) -> Result<DynamoStore> {
        builder.config.validate()?;
        let client = match builder.client {
            Some(client) => client,
            None => crate::table::make_client(&builder.config, builder.interceptors).await?,
        };
        crate::table::ensure_table(&client, &builder.config.table, builder.config.auto_create)
            .await?;
        Ok(DynamoStore {
            inner: Arc::new(Inner {
                client,
                config: builder.config,
                clock: builder.clock.unwrap_or_else(system_clock),
                closed: AtomicBool::new(false),
            }),
        })
    }

    /// The SDK client (for table administration, metrics, or tests).
    pub fn client(&self) -> &Client {
        &self.inner.client
    }

    /// The table name.
    pub fn table(&self) -> &str {
        &self.inner.config.table
    }

    /// The configuration the store was built with.
    pub fn config(&self) -> &DynamoConfig {
        &self.inner.config
    }

    /// Deletes the whole table (tests and teardown). The store is unusable afterwards.
    pub async fn delete_table(&self) -> Result<()> {
        self.inner
            .client
            .delete_table()
            .table_name(self.table())
            .send()
            .await
            .map_err(|e| sdk_err(Operation::Other, e))?;
        self.inner.closed.store(true, Ordering::SeqCst);
        Ok(())
    }

    fn now(&self) -> u64 {
        self.inner.clock.now_millis()
    }

    fn check_open(&self) -> Result<()> {
        if self.inner.closed.load(Ordering::Acquire) {
            Err(Error::new(ErrorKind::Unavailable, "store is closed").set_temporary(false))
        } else {
            Ok(())
        }
    }

    fn caps() -> Capabilities {
        let mut caps = Capabilities::default().with_atomic(true);
        caps.native_ttl = true;
        caps.enumerate = true;
        caps.persistent = true;
        caps.distributed = true;
        caps.max_value_bytes = MAX_VALUE_BYTES;
        caps
    }

    fn batch_ctx(&self) -> batch::Ctx<'_> {
        batch::Ctx {
            client: &self.inner.client,
            table: &self.inner.config.table,
            // One deadline for the whole call, not one per chunk.
            deadline: Instant::now().checked_add(self.inner.config.batch_deadline),
            concurrency: self.inner.config.batch_concurrency,
        }
    }

    /// A live item's entry, `None` when expired.
    fn entry_of(item: &Item, now: u64) -> Result<Option<Entry>> {
        let exp = decode_expiry(item)?;
        if !is_live(exp, now) {
            return Ok(None);
        }
        Ok(Some(Entry {
            value: decode_value(item)?,
            ttl: remaining(exp, now),
        }))
    }

    async fn get_entry_impl(&self, collection: &str, key: &str) -> Result<Option<Entry>> {
        rules::check_name(collection, key)?;
        self.check_open()?;
        let ik = ItemKey::new(collection, key);
        let out = self
            .inner
            .client
            .get_item()
            .table_name(self.table())
            .set_key(Some(ik.key_map()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_err(Operation::GetEntry, e))?;
        match out.item {
            Some(item) => Self::entry_of(&item, self.now()),
            None => Ok(None),
        }
    }

    async fn put_impl(
        &self,
        collection: &str,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<()> {
        rules::check_put(&Self::caps(), collection, key, value.len(), ttl)?;
        self.check_open()?;
        let ik = ItemKey::new(collection, key);
        self.inner
            .client
            .put_item()
            .table_name(self.table())
            .set_item(Some(ik.item(value, expires_at(self.now(), ttl))))
            .send()
            .await
            .map_err(|e| sdk_err(Operation::Put, e))?;
        Ok(())
    }

    /// A conditional DeleteItem; `Ok(None)` when the condition failed.
    async fn delete_if(
        &self,
        op: Operation,
        ik: &ItemKey<'_>,
        condition: &str,
        current: Option<&[u8]>,
        return_old: bool,
    ) -> Result<Option<Option<Item>>> {
        let mut req = self
            .inner
            .client
            .delete_item()
            .table_name(self.table())
            .set_key(Some(ik.key_map()))
            .condition_expression(condition)
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#e", EXP)
            .expression_attribute_values(":now", number(self.now()));
        if let Some(cur) = current {
            req = req
                .expression_attribute_names("#v", VALUE)
                .expression_attribute_values(":cur", AttributeValue::B(Blob::new(cur)));
        }
        if return_old {
            req = req.return_values(ReturnValue::AllOld);
        }
        // Never blindly re-sent, whatever the operation: the answer of a conditional delete is
        // whether *this* request removed a live item, and a second run after a lost reply
        // answers for the first (a `delete` that removed the entry reporting `false`).
        // Throttling and other surely-unapplied failures are still retried.
        let result = req
            .customize()
            .config_override(no_blind_retries())
            .send()
            .await;
        match result {
            Ok(out) => Ok(Some(out.attributes)),
            Err(e) if is_condition_failed(&e) => Ok(None),
            Err(e) => Err(sdk_err(op, e)),
        }
    }

    /// A conditional PutItem; `false` when the condition failed.
    #[allow(clippy::too_many_arguments)]
    async fn put_if(
        &self,
        op: Operation,
        ik: &ItemKey<'_>,
        value: Bytes,
        ttl: Option<Duration>,
        condition: &str,
        current: Option<&[u8]>,
    ) -> Result<bool> {
        let now = self.now();
        let mut req = self
            .inner
            .client
            .put_item()
            .table_name(self.table())
            .set_item(Some(ik.item(value, expires_at(now, ttl))))
            .condition_expression(condition)
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#e", EXP)
            .expression_attribute_values(":now", number(now));
        if let Some(cur) = current {
            req = req
                .expression_attribute_names("#v", VALUE)
                .expression_attribute_values(":cur", AttributeValue::B(Blob::new(cur)));
        }
        let result = if op.is_idempotent() {
            req.send().await
        } else {
            req.customize()
                .config_override(no_blind_retries())
                .send()
                .await
        };
        match result {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(sdk_err(op, e)),
        }
    }

    async fn delete_impl(&self, collection: &str, key: &str) -> Result<bool> {
        rules::check_name(collection, key)?;
        self.check_open()?;
        let ik = ItemKey::new(collection, key);
        // Unconditional, the removed item returned: whether it counted as live decides the
        // answer, as `delete_many` counts. An item whose expiry does not decode counts (`get`
        // calls it `Corrupted`, `keys` lists it) and is removed; a condition on `exp` could not
        // match a text or fractional expiry, and such an item could never be deleted. Never
        // blindly re-sent: a second run after a lost reply would answer for the first.
        let result = self
            .inner
            .client
            .delete_item()
            .table_name(self.table())
            .set_key(Some(ik.key_map()))
            .return_values(ReturnValue::AllOld)
            .customize()
            .config_override(no_blind_retries())
            .send()
            .await;
        let removed = result
            .map_err(|e| sdk_err(Operation::Delete, e))?
            .attributes;
        Ok(removed.is_some_and(|item| counts_as_live(&item, self.now())))
    }

    async fn get_entries_impl(
        &self,
        op: Operation,
        collection: &str,
        keys: &[&str],
    ) -> Result<Vec<Option<Entry>>> {
        rules::check_keys(&Self::caps(), collection, keys)?;
        self.check_open()?;
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let iks: Vec<ItemKey<'_>> = keys.iter().map(|k| ItemKey::new(collection, k)).collect();
        let found = self.batch_ctx().get(op, unique_keys(&iks), false).await?;
        let now = self.now();
        iks.iter()
            .map(|ik| match found.get(ik.sk.as_ref()) {
                Some(item) => Self::entry_of(item, now),
                None => Ok(None),
            })
            .collect()
    }

    async fn put_many_impl(
        &self,
        collection: &str,
        entries: Vec<(String, Bytes)>,
        ttl: Option<Duration>,
    ) -> Result<()> {
        rules::check_entries(&Self::caps(), collection, &entries, ttl)?;
        self.check_open()?;
        let exp = expires_at(self.now(), ttl);
        // The last duplicate wins: DynamoDB rejects a batch that names one key twice.
        let mut index: HashMap<String, usize> = HashMap::with_capacity(entries.len());
        let mut items: Vec<Item> = Vec::with_capacity(entries.len());
        for (key, value) in entries {
            let ik = ItemKey::new(collection, &key);
            let item = ik.item(value, exp);
            match index.get(ik.sk.as_ref()) {
                Some(&i) => items[i] = item,
                None => {
                    index.insert(ik.sk.into_owned(), items.len());
                    items.push(item);
                }
            }
        }
        self.batch_ctx().put(Operation::PutMany, items).await
    }

    async fn delete_many_impl(&self, collection: &str, keys: &[&str]) -> Result<u64> {
        rules::check_keys(&Self::caps(), collection, keys)?;
        self.check_open()?;
        if keys.is_empty() {
            return Ok(0);
        }
        let iks: Vec<ItemKey<'_>> = keys.iter().map(|k| ItemKey::new(collection, k)).collect();
        let unique = unique_keys(&iks);
        // One context, so one `batch_deadline` for both phases.
        let ctx = self.batch_ctx();
        // Count what is live (BatchWriteItem reports nothing), then delete every key.
        let found = ctx.get(Operation::DeleteMany, unique.clone(), true).await?;
        let now = self.now();
        let live = found
            .values()
            .filter(|item| counts_as_live(item, now))
            .count();
        ctx.delete(Operation::DeleteMany, unique).await?;
        Ok(live as u64)
    }

    async fn put_if_absent_impl(
        &self,
        collection: &str,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        rules::check_put(&Self::caps(), collection, key, value.len(), ttl)?;
        self.check_open()?;
        let ik = ItemKey::new(collection, key);
        self.put_if(Operation::PutIfAbsent, &ik, value, ttl, GONE, None)
            .await
    }

    async fn take_impl(&self, collection: &str, key: &str) -> Result<Option<Bytes>> {
        rules::check_name(collection, key)?;
        self.check_open()?;
        let ik = ItemKey::new(collection, key);
        match self
            .delete_if(Operation::Take, &ik, LIVE, None, true)
            .await?
        {
            None => Ok(None),
            Some(Some(old)) => decode_value(&old).map(Some),
            Some(None) => Err(Error::corrupted("DeleteItem returned no old item")),
        }
    }

    async fn compare_and_swap_impl(
        &self,
        collection: &str,
        key: &str,
        current: Option<&[u8]>,
        new: Option<Bytes>,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        match &new {
            Some(v) => rules::check_put(&Self::caps(), collection, key, v.len(), ttl)?,
            None => {
                rules::check_name(collection, key)?;
                rules::check_ttl(ttl)?;
            }
        }
        self.check_open()?;
        let op = Operation::CompareAndSwap;
        let ik = ItemKey::new(collection, key);
        match (current, new) {
            (Some(cur), Some(new)) => self.put_if(op, &ik, new, ttl, LIVE_EQ, Some(cur)).await,
            (None, Some(new)) => self.put_if(op, &ik, new, ttl, GONE, None).await,
            (Some(cur), None) => Ok(self
                .delete_if(op, &ik, LIVE_EQ, Some(cur), false)
                .await?
                .is_some()),
            // Succeeds when absent or expired (an expired item is removed on the way).
            (None, None) => Ok(self.delete_if(op, &ik, GONE, None, false).await?.is_some()),
        }
    }

    async fn touch_impl(&self, collection: &str, key: &str, ttl: Option<Duration>) -> Result<bool> {
        rules::check_name(collection, key)?;
        rules::check_ttl(ttl)?;
        self.check_open()?;
        let now = self.now();
        let ik = ItemKey::new(collection, key);
        let mut req = self
            .inner
            .client
            .update_item()
            .table_name(self.table())
            .set_key(Some(ik.key_map()))
            .condition_expression(LIVE)
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#e", EXP)
            .expression_attribute_names("#t", TTL)
            .expression_attribute_values(":now", number(now));
        req = match expires_at(now, ttl) {
            Some(at) => req
                .update_expression("SET #e = :exp, #t = :ttl")
                .expression_attribute_values(":exp", number(at))
                .expression_attribute_values(":ttl", number(ttl_seconds(at))),
            None => req.update_expression("REMOVE #e, #t"),
        };
        match req.send().await {
            Ok(_) => Ok(true),
            Err(e) if is_condition_failed(&e) => Ok(false),
            Err(e) => Err(sdk_err(Operation::Touch, e)),
        }
    }

    /// One Query page of `collection` after the stored sort key `start`.
    async fn query_page(
        &self,
        op: Operation,
        pk: &str,
        start: Option<&str>,
        limit: Option<usize>,
    ) -> Result<(Vec<Item>, Option<String>)> {
        let mut req = self
            .inner
            .client
            .query()
            .table_name(self.table())
            .consistent_read(true)
            .key_condition_expression("#pk = :pk")
            .projection_expression("#sk, #k, #e")
            .expression_attribute_names("#pk", PK)
            .expression_attribute_names("#sk", SK)
            .expression_attribute_names("#k", ORIG_KEY)
            .expression_attribute_names("#e", EXP)
            .expression_attribute_values(":pk", AttributeValue::S(pk.to_string()));
        if let Some(limit) = limit {
            req = req.limit(i32::try_from(limit.min(QUERY_PAGE)).unwrap_or(1));
        }
        if let Some(sk) = start {
            req = req.set_exclusive_start_key(Some(HashMap::from([
                (PK.to_string(), AttributeValue::S(pk.to_string())),
                (SK.to_string(), AttributeValue::S(sk.to_string())),
            ])));
        }
        let out = req.send().await.map_err(|e| sdk_err(op, e))?;
        let next = match out.last_evaluated_key.as_ref().and_then(|k| k.get(SK)) {
            Some(AttributeValue::S(sk)) => Some(sk.clone()),
            Some(_) => return Err(Error::corrupted("LastEvaluatedKey without a string sk")),
            None => None,
        };
        Ok((out.items.unwrap_or_default(), next))
    }

    async fn keys_impl(
        &self,
        collection: &str,
        cursor: Option<Cursor>,
        limit: usize,
    ) -> Result<Page> {
        rules::check_collection(collection)?;
        rules::check_limit(limit)?;
        self.check_open()?;
        let pk = encode_name(collection, MAX_PK_BYTES);
        let mut start = match &cursor {
            Some(c) => Some(
                decode_cursor(c.as_str())
                    .ok_or_else(|| Error::new(ErrorKind::InvalidKey, "malformed keys() cursor"))?
                    .to_string(),
            ),
            None => None,
        };
        let mut keys = Vec::new();
        loop {
            // Ask for at least KEYS_QUERY_MIN items: expired items DynamoDB has not deleted yet
            // count against a Query's Limit, and asking for only the keys still missing made
            // one request per few expired items. Live items past the page are read again by
            // the next page, which starts after the last key returned.
            let want = (limit - keys.len()).max(KEYS_QUERY_MIN);
            let (items, next) = self
                .query_page(Operation::Keys, &pk, start.as_deref(), Some(want))
                .await?;
            let now = self.now();
            for (i, item) in items.iter().enumerate() {
                // An item whose expiry does not decode is listed: it exists, and `get` reports
                // it `Corrupted` rather than absent (as the sled backend lists such a key).
                if counts_as_live(item, now) {
                    keys.push(decode_key(item)?);
                }
                if keys.len() == limit {
                    let rest_unread = i + 1 < items.len() || next.is_some();
                    let next = match rest_unread {
                        true => Some(Cursor::new(encode_cursor(&sort_key(item)?))),
                        false => None,
                    };
                    return Ok(Page { keys, next });
                }
            }
            match next {
                Some(sk) if keys.len() >= limit => {
                    return Ok(Page {
                        keys,
                        next: Some(Cursor::new(encode_cursor(&sk))),
                    })
                }
                Some(sk) => start = Some(sk),
                None => return Ok(Page { keys, next: None }),
            }
        }
    }

    async fn clear_impl(&self, collection: &str) -> Result<u64> {
        rules::check_collection(collection)?;
        self.check_open()?;
        let pk = encode_name(collection, MAX_PK_BYTES);
        let mut start: Option<String> = None;
        let mut removed = 0u64;
        loop {
            let (items, next) = self
                .query_page(Operation::Clear, &pk, start.as_deref(), None)
                .await?;
            let now = self.now();
            let mut keys = Vec::with_capacity(items.len());
            for item in &items {
                if counts_as_live(item, now) {
                    removed += 1;
                }
                keys.push(HashMap::from([
                    (PK.to_string(), AttributeValue::S(pk.to_string())),
                    (
                        SK.to_string(),
                        AttributeValue::S(stored_sk(item)?.to_string()),
                    ),
                ]));
            }
            self.batch_ctx().delete(Operation::Clear, keys).await?;
            match next {
                Some(sk) => start = Some(sk),
                None => return Ok(removed),
            }
        }
    }

    async fn collections_impl(&self) -> Result<Vec<String>> {
        self.check_open()?;
        let mut names = BTreeSet::new();
        let mut start: Option<KeyMap> = None;
        loop {
            let out = self
                .inner
                .client
                .scan()
                .table_name(self.table())
                .consistent_read(true)
                .projection_expression("#pk, #c")
                .expression_attribute_names("#pk", PK)
                .expression_attribute_names("#c", ORIG_COLLECTION)
                .set_exclusive_start_key(start.take())
                .send()
                .await
                .map_err(|e| sdk_err(Operation::Collections, e))?;
            for item in out.items.unwrap_or_default() {
                names.insert(decode_collection(&item)?);
            }
            match out.last_evaluated_key {
                Some(k) if !k.is_empty() => start = Some(k),
                _ => return Ok(names.into_iter().collect()),
            }
        }
    }
}

/// Per-call config of non-idempotent writes: no SDK retry after an outcome-unknown error.
fn no_blind_retries() -> aws_sdk_dynamodb::config::Builder {
    aws_sdk_dynamodb::config::Builder::new().retry_classifier(RetryOnlyUnapplied)
}

/// The fewest items a `keys()` Query asks for (see `keys_impl`).
const KEYS_QUERY_MIN: usize = 100;

/// The sort key of a queried item (it always has one; `Corrupted` otherwise).
fn sort_key(item: &Item) -> Result<String> {
    match item.get(SK) {
        Some(AttributeValue::S(sk)) => Ok(sk.clone()),
        _ => Err(Error::corrupted("a queried item has no string sort key")),
    }
}

/// Distinct primary keys of a batch, in first-seen order (DynamoDB rejects duplicates).
fn unique_keys(iks: &[ItemKey<'_>]) -> Vec<KeyMap> {
    let mut seen = HashSet::with_capacity(iks.len());
    iks.iter()
        .filter(|ik| seen.insert(ik.sk.as_ref()))
        .map(ItemKey::key_map)
        .collect()
}

/// Whether an item counts as a live entry — listed by `keys()`, counted by `clear()`; an
/// undecodable expiry counts (the entry exists, and reading it is `Corrupted`, not absent).
fn counts_as_live(item: &Item, now: u64) -> bool {
    decode_expiry(item).map_or(true, |exp| is_live(exp, now))
}

#[async_trait]
impl KvStore for DynamoStore {
    fn capabilities(&self) -> Capabilities {
        Self::caps()
    }

    async fn get_entry(&self, collection: &str, key: &str) -> Result<Option<Entry>> {
        self.get_entry_impl(collection, key)
            .await
            .map_err(tag(Operation::GetEntry))
    }

    async fn get(&self, collection: &str, key: &str) -> Result<Option<Bytes>> {
        let entry = self
            .get_entry_impl(collection, key)
            .await
            .map_err(tag(Operation::Get))?;
        Ok(entry.map(|e| e.value))
    }

    async fn put(
        &self,
        collection: &str,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<()> {
        self.put_impl(collection, key, value, ttl)
            .await
            .map_err(tag(Operation::Put))
    }

    async fn delete(&self, collection: &str, key: &str) -> Result<bool> {
        self.delete_impl(collection, key)
            .await
            .map_err(tag(Operation::Delete))
    }

    async fn get_many(&self, collection: &str, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        let entries = self
            .get_entries_impl(Operation::GetMany, collection, keys)
            .await
            .map_err(tag(Operation::GetMany))?;
        Ok(entries.into_iter().map(|e| e.map(|e| e.value)).collect())
    }

    async fn get_entries(&self, collection: &str, keys: &[&str]) -> Result<Vec<Option<Entry>>> {
        self.get_entries_impl(Operation::GetEntries, collection, keys)
            .await
            .map_err(tag(Operation::GetEntries))
    }

    async fn put_many(
        &self,
        collection: &str,
        entries: Vec<(String, Bytes)>,
        ttl: Option<Duration>,
    ) -> Result<()> {
        self.put_many_impl(collection, entries, ttl)
            .await
            .map_err(tag(Operation::PutMany))
    }

    async fn delete_many(&self, collection: &str, keys: &[&str]) -> Result<u64> {
        self.delete_many_impl(collection, keys)
            .await
            .map_err(tag(Operation::DeleteMany))
    }

    async fn put_if_absent(
        &self,
        collection: &str,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        self.put_if_absent_impl(collection, key, value, ttl)
            .await
            .map_err(tag(Operation::PutIfAbsent))
    }

    async fn take(&self, collection: &str, key: &str) -> Result<Option<Bytes>> {
        self.take_impl(collection, key)
            .await
            .map_err(tag(Operation::Take))
    }

    async fn compare_and_swap(
        &self,
        collection: &str,
        key: &str,
        current: Option<&[u8]>,
        new: Option<Bytes>,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        self.compare_and_swap_impl(collection, key, current, new, ttl)
            .await
            .map_err(tag(Operation::CompareAndSwap))
    }

    async fn touch(&self, collection: &str, key: &str, ttl: Option<Duration>) -> Result<bool> {
        self.touch_impl(collection, key, ttl)
            .await
            .map_err(tag(Operation::Touch))
    }

    async fn keys(&self, collection: &str, cursor: Option<Cursor>, limit: usize) -> Result<Page> {
        self.keys_impl(collection, cursor, limit)
            .await
            .map_err(tag(Operation::Keys))
    }

    async fn collections(&self) -> Result<Vec<String>> {
        self.collections_impl()
            .await
            .map_err(tag(Operation::Collections))
    }

    async fn clear(&self, collection: &str) -> Result<u64> {
        self.clear_impl(collection)
            .await
            .map_err(tag(Operation::Clear))
    }

    async fn cull(&self) -> Result<u64> {
        // DynamoDB's TTL deletes expired items itself (lazily); reads skip them meanwhile.
        self.check_open().map_err(tag(Operation::Cull))?;
        Ok(0)
    }

    async fn close(&self) -> Result<()> {
        self.inner.closed.store(true, Ordering::Release);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_sync() {
        fn check<T: Send + Sync + Clone + 'static>() {}
        check::<DynamoStore>();
    }

    #[test]
    fn capabilities() {
        let caps = DynamoStore::caps();
        assert!(caps.native_ttl && caps.distributed && caps.enumerate && caps.persistent);
        assert!(caps.put_if_absent && caps.take && caps.compare_and_swap && caps.touch);
        assert_eq!(caps.max_value_bytes, 350 * 1024);
    }
}
