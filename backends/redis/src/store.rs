//! The [`KvStore`] implementation: one short method per operation, each one round trip
//! (except `keys`, `collections` and `clear`, which page through `SCAN`).

use std::collections::{BTreeSet, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use bytes::Bytes;
use mcp_kv_core::{
    async_trait, rules, Capabilities, Cursor, Entry, Error, ErrorKind, KvStore, Operation, Page,
    Result,
};
use redis::{cmd, Cmd, Script, Value};

use crate::config::{RedisConfig, RedisConfigBuilder, Topology};
use crate::conn::{is_unknown_command, map_error, Conn, Conns, Current, BACKEND};
use crate::encoding::{
    all_collections_pattern, decode_collection, pttl_to_ttl, ttl_millis, CollectionKeys,
    ScanPosition,
};

/// `GET` and `PTTL` of each key, atomically: per key `nil` or `[value, pttl]`.
static GET_ENTRIES: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local out = {}
for i = 1, #KEYS do
  local v = redis.call('GET', KEYS[i])
  if v then out[i] = {v, redis.call('PTTL', KEYS[i])} else out[i] = false end
end
return out",
    )
});

/// Get-and-delete for servers without `GETDEL` (< 6.2).
static TAKE: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local v = redis.call('GET', KEYS[1])
if v then redis.call('DEL', KEYS[1]) end
return v",
    )
});

/// Compare-and-swap. ARGV: expect-present ('1'/'0'), expected bytes, set ('1') or delete ('0'),
/// new bytes, PX milliseconds ('0': no expiry). Returns 1 if swapped.
static COMPARE_AND_SWAP: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"local cur = redis.call('GET', KEYS[1])
if ARGV[1] == '1' then
  if cur ~= ARGV[2] then return 0 end
elseif cur then
  return 0
end
if ARGV[3] == '0' then
  redis.call('DEL', KEYS[1])
elseif ARGV[5] == '0' then
  redis.call('SET', KEYS[1], ARGV[4])
else
  redis.call('SET', KEYS[1], ARGV[4], 'PX', ARGV[5])
end
return 1",
    )
});

/// Removes the TTL of an existing key; 1 if the key exists (with or without a TTL).
static PERSIST_IF_EXISTS: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"if redis.call('EXISTS', KEYS[1]) == 1 then
  redis.call('PERSIST', KEYS[1])
  return 1
end
return 0",
    )
});

/// How many hash-table buckets one `SCAN` call visits in `clear` and `collections`.
const SCAN_COUNT: usize = 1000;

/// A [`KvStore`] on Redis or Redis Cluster. Cheap to clone: clones share one connection.
///
/// Build it once at server start with [`RedisStore::open`] (a URL) or
/// [`RedisStore::connect`] (a [`RedisConfig`]); see the [crate docs](crate) for the layout and
/// the guarantees.
///
/// After a failover of a standalone server (the server demoted to a replica, the address now
/// leading to the new primary), the first writes fail with a temporary
/// [`ErrorKind::Unavailable`] (`READONLY`) and the store reconnects in the background; retries
/// then reach the new primary ([crate docs](crate#failover)). A cluster's client handles
/// failovers itself.
#[derive(Clone)]
pub struct RedisStore {
    inner: Arc<Inner>,
}

struct Inner {
    /// Replaced after a failover (standalone): see [`Current`].
    conns: Arc<Current>,
    config: RedisConfig,
    caps: Capabilities,
    closed: AtomicBool,
    take_with_script: AtomicBool,
}

impl std::fmt::Debug for RedisStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisStore")
            .field("config", &self.inner.config)
            .field("closed", &self.inner.closed.load(Ordering::Relaxed))
            .finish()
    }
}

impl RedisStore {
    /// A configuration builder (see [`RedisConfig::builder`]).
    pub fn builder() -> RedisConfigBuilder {
        RedisConfig::builder()
    }

    /// Connects to the server (or cluster) at `url` with the default settings.
    pub async fn open(url: &str) -> Result<Self> {
        Self::connect(RedisConfig::from_url(url)?).await
    }

    /// Connects with `config`. The first connection is made now: an unreachable server is a
    /// temporary [`ErrorKind::Unavailable`] (or [`ErrorKind::Timeout`]) error.
    pub async fn connect(config: RedisConfig) -> Result<Self> {
        let conns = Conns::connect(&config).await?;
        let mut caps = Capabilities::default().with_atomic(true);
        caps.native_ttl = true;
        caps.enumerate = true;
        caps.persistent = true;
        caps.distributed = true;
        caps.max_value_bytes = config.max_value_bytes;
        Ok(RedisStore {
            inner: Arc::new(Inner {
                conns: Current::new(conns),
                take_with_script: AtomicBool::new(config.take_with_script),
                config,
                caps,
                closed: AtomicBool::new(false),
            }),
        })
    }

    /// The configuration the store was built with.
    pub fn config(&self) -> &RedisConfig {
        &self.inner.config
    }

    /// Whether the store talks to a Redis Cluster.
    pub fn is_cluster(&self) -> bool {
        self.inner.config.topology == Topology::Cluster
    }

    fn keys_of(&self, collection: &str) -> CollectionKeys {
        CollectionKeys::new(&self.inner.config.prefix, collection)
    }

    /// A handle on the connection for `op` — one that never re-sends a command for the
    /// operations whose second run would answer for the first (see [`Conns`]) — or
    /// `Unavailable` once closed.
    fn conn(&self, op: Operation) -> Result<Conn> {
        if self.inner.closed.load(Ordering::Acquire) {
            return Err(Error::new(ErrorKind::Unavailable, "the store is closed")
                .set_temporary(false)
                .with_operation(op)
                .with_backend(BACKEND));
        }
        let conns = self.inner.conns.load();
        Ok(match op {
            Operation::PutIfAbsent
            | Operation::Take
            | Operation::CompareAndSwap
            | Operation::Delete
            | Operation::DeleteMany => conns.once.clone(),
            _ => conns.any.clone(),
        })
    }

    /// The keys of `keys` (of collection `ck`) that exist now: one pipelined `EXISTS` each, in
    /// one round trip (one slot in a cluster).
    async fn still_live(
        &self,
        op: Operation,
        conn: &mut Conn,
        ck: &CollectionKeys,
        keys: Vec<String>,
    ) -> Result<Vec<String>> {
        if keys.is_empty() {
            return Ok(keys);
        }
        let mut pipe = redis::pipe();
        for key in &keys {
            pipe.cmd("EXISTS").arg(ck.key(key));
        }
        let found: Vec<i64> = self.run(op, pipe.query_async(conn)).await?;
        Ok(keys
            .into_iter()
            .zip(found)
            .filter(|(_, n)| *n > 0)
            .map(|(k, _)| k)
            .collect())
    }

    /// Runs one round trip under the operation deadline, mapping errors. A standalone server's
    /// `READONLY` (a failover demoted it) also starts a reconnect (see [`Current`]); the call
    /// still fails, with a temporary `Unavailable`, and is not re-sent.
    async fn run<T>(
        &self,
        op: Operation,
        fut: impl Future<Output = redis::RedisResult<T>>,
    ) -> Result<T> {
        let generation = self.inner.conns.generation();
        match tokio::time::timeout(self.inner.config.timeout, fut).await {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(e)) => {
                self.inner
                    .conns
                    .after_error(&self.inner.config, generation, &e);
                Err(map_error(e).with_operation(op))
            }
            Err(_) => Err(Error::new(
                ErrorKind::Timeout,
                "Redis did not answer within the configured timeout",
            )
            .with_operation(op)
            .with_backend(BACKEND)),
        }
    }

    /// `SET key value [PX ms] [NX]`.
    fn set_cmd(key: Vec<u8>, value: &[u8], ttl: Option<Duration>, nx: bool) -> Cmd {
        let mut c = cmd("SET");
        c.arg(key).arg(value);
        if let Some(ttl) = ttl {
            c.arg("PX").arg(ttl_millis(ttl));
        }
        if nx {
            c.arg("NX");
        }
        c
    }

    /// One `SCAN` call on the node owning `slot`: the next cursor and the keys.
    async fn scan(
        &self,
        op: Operation,
        conn: &mut Conn,
        slot: u16,
        cursor: u64,
        pattern: &[u8],
        count: usize,
    ) -> Result<(u64, Vec<Vec<u8>>)> {
        let mut c = cmd("SCAN");
        c.arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(count);
        let reply = self.run(op, conn.query_slot(c, slot)).await?;
        parse_scan(reply).map_err(|e| e.with_operation(op).with_backend(BACKEND))
    }
}

fn corrupted(op: Operation, what: &'static str) -> Error {
    Error::corrupted(what)
        .with_operation(op)
        .with_backend(BACKEND)
}

/// A `GET`-like reply: nil or bytes.
fn value_of(op: Operation, v: Value) -> Result<Option<Bytes>> {
    match v {
        Value::Nil | Value::Boolean(false) => Ok(None),
        Value::BulkString(b) => Ok(Some(Bytes::from(b))),
        _ => Err(corrupted(op, "unexpected reply where a value was expected")),
    }
}

/// One element of the `GET_ENTRIES` reply.
fn entry_of(op: Operation, v: Value) -> Result<Option<Entry>> {
    match v {
        Value::Nil | Value::Boolean(false) => Ok(None),
        Value::Array(mut items) if items.len() == 2 => {
            let pttl = match items.pop() {
                Some(Value::Int(n)) => n,
                _ => return Err(corrupted(op, "unexpected PTTL reply")),
            };
            let value = match items.pop() {
                Some(Value::BulkString(b)) => Bytes::from(b),
                _ => return Err(corrupted(op, "unexpected reply where a value was expected")),
            };
            // -2: the key expired between GET and PTTL, which a script makes impossible;
            // treat it as gone all the same.
            Ok(pttl_to_ttl(pttl).map(|ttl| Entry { value, ttl }))
        }
        _ => Err(corrupted(op, "unexpected reply of the entry script")),
    }
}

fn array_of(op: Operation, v: Value, len: usize) -> Result<Vec<Value>> {
    match v {
        Value::Array(items) if items.len() == len => Ok(items),
        _ => Err(corrupted(op, "unexpected reply length")),
    }
}

fn int_of(op: Operation, v: Value) -> Result<i64> {
    match v {
        Value::Int(n) => Ok(n),
        _ => Err(corrupted(op, "unexpected reply where a count was expected")),
    }
}

fn parse_scan(reply: Value) -> Result<(u64, Vec<Vec<u8>>)> {
    let bad = || Error::corrupted("unexpected SCAN reply");
    let Value::Array(mut parts) = reply else {
        return Err(bad());
    };
    if parts.len() != 2 {
        return Err(bad());
    }
    let keys = match parts.pop() {
        Some(Value::Array(keys)) => keys
            .into_iter()
            .map(|k| match k {
                Value::BulkString(b) => Ok(b),
                _ => Err(bad()),
            })
            .collect::<Result<Vec<_>>>()?,
        _ => return Err(bad()),
    };
    let cursor = match parts.pop() {
        Some(Value::BulkString(c)) => std::str::from_utf8(&c)
            .ok()
            .and_then(|c| c.parse::<u64>().ok())
            .ok_or_else(bad)?,
        Some(Value::Int(n)) => u64::try_from(n).map_err(|_| bad())?,
        _ => return Err(bad()),
    };
    Ok((cursor, keys))
}

#[async_trait]
impl KvStore for RedisStore {
    fn capabilities(&self) -> Capabilities {
        self.inner.caps
    }

    async fn get(&self, collection: &str, key: &str) -> Result<Option<Bytes>> {
        const OP: Operation = Operation::Get;
        rules::check_name(collection, key).map_err(|e| e.with_operation(OP))?;
        let mut conn = self.conn(OP)?;
        let mut c = cmd("GET");
        c.arg(self.keys_of(collection).key(key));
        let v: Value = self.run(OP, c.query_async(&mut conn)).await?;
        value_of(OP, v)
    }

    async fn get_entry(&self, collection: &str, key: &str) -> Result<Option<Entry>> {
        const OP: Operation = Operation::GetEntry;
        rules::check_name(collection, key).map_err(|e| e.with_operation(OP))?;
        let mut conn = self.conn(OP)?;
        let k = self.keys_of(collection).key(key);
        let mut inv = GET_ENTRIES.prepare_invoke();
        inv.key(k);
        let v: Value = self.run(OP, inv.invoke_async(&mut conn)).await?;
        let mut items = array_of(OP, v, 1)?;
        entry_of(OP, items.pop().unwrap_or(Value::Nil))
    }

    async fn put(
        &self,
        collection: &str,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<()> {
        const OP: Operation = Operation::Put;
        rules::check_put(&self.inner.caps, collection, key, value.len(), ttl)
            .map_err(|e| e.with_operation(OP))?;
        let mut conn = self.conn(OP)?;
        let c = Self::set_cmd(self.keys_of(collection).key(key), &value, ttl, false);
        let _: Value = self.run(OP, c.query_async(&mut conn)).await?;
        Ok(())
    }

    async fn delete(&self, collection: &str, key: &str) -> Result<bool> {
        const OP: Operation = Operation::Delete;
        rules::check_name(collection, key).map_err(|e| e.with_operation(OP))?;
        let mut conn = self.conn(OP)?;
        let mut c = cmd("UNLINK");
        c.arg(self.keys_of(collection).key(key));
        let v: Value = self.run(OP, c.query_async(&mut conn)).await?;
        Ok(int_of(OP, v)? > 0)
    }

    async fn get_many(&self, collection: &str, keys: &[&str]) -> Result<Vec<Option<Bytes>>> {
        const OP: Operation = Operation::GetMany;
        rules::check_keys(&self.inner.caps, collection, keys).map_err(|e| e.with_operation(OP))?;
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn(OP)?;
        let ck = self.keys_of(collection);
        let mut c = cmd("MGET");
        let mut buf = Vec::new();
        for key in keys {
            ck.write_key(&mut buf, key);
            c.arg(&buf[..]);
        }
        let v: Value = self.run(OP, c.query_async(&mut conn)).await?;
        array_of(OP, v, keys.len())?
            .into_iter()
            .map(|v| value_of(OP, v))
            .collect()
    }

    async fn get_entries(&self, collection: &str, keys: &[&str]) -> Result<Vec<Option<Entry>>> {
        const OP: Operation = Operation::GetEntries;
        rules::check_keys(&self.inner.caps, collection, keys).map_err(|e| e.with_operation(OP))?;
        if keys.is_empty() {
            return Ok(Vec::new());
        }
        let mut conn = self.conn(OP)?;
        let ck = self.keys_of(collection);
        let mut inv = GET_ENTRIES.prepare_invoke();
        let mut buf = Vec::new();
        for key in keys {
            ck.write_key(&mut buf, key);
            inv.key(&buf[..]);
        }
        let v: Value = self.run(OP, inv.invoke_async(&mut conn)).await?;
        array_of(OP, v, keys.len())?
            .into_iter()
            .map(|v| entry_of(OP, v))
            .collect()
    }

    async fn put_many(
        &self,
        collection: &str,
        entries: Vec<(String, Bytes)>,
        ttl: Option<Duration>,
    ) -> Result<()> {
        const OP: Operation = Operation::PutMany;
        rules::check_entries(&self.inner.caps, collection, &entries, ttl)
            .map_err(|e| e.with_operation(OP))?;
        if entries.is_empty() {
            return Ok(());
        }
        let mut conn = self.conn(OP)?;
        let ck = self.keys_of(collection);
        // One pipeline, in input order: the last duplicate wins.
        let mut pipe = redis::pipe();
        let mut buf = Vec::new();
        for (key, value) in &entries {
            ck.write_key(&mut buf, key);
            let c = pipe.cmd("SET").arg(&buf[..]).arg(&value[..]);
            if let Some(ttl) = ttl {
                c.arg("PX").arg(ttl_millis(ttl));
            }
            c.ignore();
        }
        self.run(OP, pipe.exec_async(&mut conn)).await
    }

    async fn delete_many(&self, collection: &str, keys: &[&str]) -> Result<u64> {
        const OP: Operation = Operation::DeleteMany;
        rules::check_keys(&self.inner.caps, collection, keys).map_err(|e| e.with_operation(OP))?;
        // Distinct keys only: UNLINK counts a repeated key once anyway, but a smaller command
        // is cheaper.
        let mut seen = HashSet::with_capacity(keys.len());
        let distinct: Vec<&str> = keys.iter().copied().filter(|k| seen.insert(*k)).collect();
        if distinct.is_empty() {
            return Ok(0);
        }
        let mut conn = self.conn(OP)?;
        let ck = self.keys_of(collection);
        let mut c = cmd("UNLINK");
        let mut buf = Vec::new();
        for key in distinct {
            ck.write_key(&mut buf, key);
            c.arg(&buf[..]);
        }
        let v: Value = self.run(OP, c.query_async(&mut conn)).await?;
        Ok(u64::try_from(int_of(OP, v)?).unwrap_or(0))
    }

    async fn put_if_absent(
        &self,
        collection: &str,
        key: &str,
        value: Bytes,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        const OP: Operation = Operation::PutIfAbsent;
        rules::check_put(&self.inner.caps, collection, key, value.len(), ttl)
            .map_err(|e| e.with_operation(OP))?;
        let mut conn = self.conn(OP)?;
        let c = Self::set_cmd(self.keys_of(collection).key(key), &value, ttl, true);
        let v: Value = self.run(OP, c.query_async(&mut conn)).await?;
        match v {
            Value::Okay | Value::SimpleString(_) => Ok(true),
            Value::Nil => Ok(false),
            _ => Err(corrupted(OP, "unexpected reply to SET NX")),
        }
    }

    async fn take(&self, collection: &str, key: &str) -> Result<Option<Bytes>> {
        const OP: Operation = Operation::Take;
        rules::check_name(collection, key).map_err(|e| e.with_operation(OP))?;
        let mut conn = self.conn(OP)?;
        let k = self.keys_of(collection).key(key);
        let flag = &self.inner.take_with_script;
        let v: Value = self
            .run(OP, async {
                if !flag.load(Ordering::Relaxed) {
                    let mut c = cmd("GETDEL");
                    c.arg(&k);
                    match c.query_async(&mut conn).await {
                        Err(e) if is_unknown_command(&e) => flag.store(true, Ordering::Relaxed),
                        other => return other,
                    }
                }
                let mut inv = TAKE.prepare_invoke();
                inv.key(&k);
                inv.invoke_async(&mut conn).await
            })
            .await?;
        value_of(OP, v)
    }

    async fn compare_and_swap(
        &self,
        collection: &str,
        key: &str,
        current: Option<&[u8]>,
        new: Option<Bytes>,
        ttl: Option<Duration>,
    ) -> Result<bool> {
        const OP: Operation = Operation::CompareAndSwap;
        rules::check_name(collection, key).map_err(|e| e.with_operation(OP))?;
        rules::check_ttl(ttl).map_err(|e| e.with_operation(OP))?;
        if let Some(new) = &new {
            rules::check_value(new.len(), self.inner.caps.max_value_bytes)
                .map_err(|e| e.with_operation(OP))?;
        }
        let mut conn = self.conn(OP)?;
        let mut inv = COMPARE_AND_SWAP.prepare_invoke();
        inv.key(self.keys_of(collection).key(key))
            .arg(if current.is_some() { "1" } else { "0" })
            .arg(current.unwrap_or_default())
            .arg(if new.is_some() { "1" } else { "0" })
            .arg(new.as_deref().unwrap_or_default())
            .arg(ttl.map_or(0, ttl_millis));
        let v: Value = self.run(OP, inv.invoke_async(&mut conn)).await?;
        Ok(int_of(OP, v)? == 1)
    }

    async fn touch(&self, collection: &str, key: &str, ttl: Option<Duration>) -> Result<bool> {
        const OP: Operation = Operation::Touch;
        rules::check_name(collection, key).map_err(|e| e.with_operation(OP))?;
        rules::check_ttl(ttl).map_err(|e| e.with_operation(OP))?;
        let mut conn = self.conn(OP)?;
        let k = self.keys_of(collection).key(key);
        let v: Value = match ttl {
            Some(ttl) => {
                let mut c = cmd("PEXPIRE");
                c.arg(k).arg(ttl_millis(ttl));
                self.run(OP, c.query_async(&mut conn)).await?
            }
            None => {
                let mut inv = PERSIST_IF_EXISTS.prepare_invoke();
                inv.key(k);
                self.run(OP, inv.invoke_async(&mut conn)).await?
            }
        };
        Ok(int_of(OP, v)? == 1)
    }

    async fn keys(&self, collection: &str, cursor: Option<Cursor>, limit: usize) -> Result<Page> {
        const OP: Operation = Operation::Keys;
        rules::check_collection(collection).map_err(|e| e.with_operation(OP))?;
        rules::check_limit(limit).map_err(|e| e.with_operation(OP))?;
        let tag = cursor_tag(collection);
        let (mut pos, mut scan_done) = match &cursor {
            Some(c) => {
                let p = parse_tagged(c, &tag).map_err(|e| e.with_operation(OP))?;
                let done = p.cursor == 0;
                (p, done)
            }
            None => (ScanPosition::default(), false),
        };
        let mut conn = self.conn(OP)?;
        let ck = self.keys_of(collection);
        let pattern = ck.pattern(&self.inner.config.prefix);
        let slot = ck.slot();
        // Keys left over from the previous page come first — those still live: they were
        // scanned then, and may have expired or gone since.
        let leftovers = std::mem::take(&mut pos.pending);
        let leftovers = self.still_live(OP, &mut conn, &ck, leftovers).await?;
        let mut pending = leftovers.into_iter();
        let mut keys: Vec<String> = pending.by_ref().take(limit).collect();
        let mut rest: Vec<String> = pending.collect();
        let mut seen: HashSet<String> = keys.iter().chain(&rest).cloned().collect();
        let count = limit.clamp(100, 1000);
        while keys.len() < limit && !scan_done {
            let (next, batch) = self
                .scan(OP, &mut conn, slot, pos.cursor, &pattern, count)
                .await?;
            for raw in batch {
                let key = ck
                    .decode_key(&raw)
                    .map_err(|e| e.with_operation(OP).with_backend(BACKEND))?;
                // SCAN may repeat a key within one listing (table resize): report it once.
                if !seen.insert(key.clone()) {
                    continue;
                }
                if keys.len() < limit {
                    keys.push(key);
                } else {
                    rest.push(key);
                }
            }
            pos.cursor = next;
            scan_done = next == 0;
        }
        let next = if scan_done && rest.is_empty() {
            None
        } else {
            let pos = ScanPosition {
                cursor: if scan_done { 0 } else { pos.cursor },
                pending: rest,
            };
            Some(Cursor::new(format!("{tag}/{}", pos.to_cursor().as_str())))
        };
        Ok(Page { keys, next })
    }

    async fn collections(&self) -> Result<Vec<String>> {
        const OP: Operation = Operation::Collections;
        let mut conn = self.conn(OP)?;
        let prefix = &self.inner.config.prefix;
        let pattern = all_collections_pattern(prefix);
        let slots = self.run(OP, conn.master_slots()).await?;
        let mut names = BTreeSet::new();
        for slot in slots {
            let mut cursor = 0;
            loop {
                let (next, batch) = self
                    .scan(OP, &mut conn, slot, cursor, &pattern, SCAN_COUNT)
                    .await?;
                // Keys that do not follow the layout are not ours: skip them.
                names.extend(batch.iter().filter_map(|k| decode_collection(prefix, k)));
                if next == 0 {
                    break;
                }
                cursor = next;
            }
        }
        Ok(names.into_iter().collect())
    }

    async fn clear(&self, collection: &str) -> Result<u64> {
        const OP: Operation = Operation::Clear;
        rules::check_collection(collection).map_err(|e| e.with_operation(OP))?;
        let mut conn = self.conn(OP)?;
        let ck = self.keys_of(collection);
        let pattern = ck.pattern(&self.inner.config.prefix);
        let slot = ck.slot();
        let mut removed = 0u64;
        let mut cursor = 0;
        loop {
            let (next, batch) = self
                .scan(OP, &mut conn, slot, cursor, &pattern, SCAN_COUNT)
                .await?;
            if !batch.is_empty() {
                let mut c = cmd("UNLINK");
                for key in batch {
                    c.arg(key);
                }
                let v: Value = self.run(OP, c.query_async(&mut conn)).await?;
                removed += u64::try_from(int_of(OP, v)?).unwrap_or(0);
            }
            if next == 0 {
                return Ok(removed);
            }
            cursor = next;
        }
    }

    async fn close(&self) -> Result<()> {
        self.inner.closed.store(true, Ordering::Release);
        Ok(())
    }
}

/// What binds a `keys()` cursor to its collection: 16 hex digits of FNV-1a 64 over the
/// collection name (stable across processes and builds, so any replica continues a listing).
fn cursor_tag(collection: &str) -> String {
    let hash = collection.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    });
    format!("{hash:016x}")
}

/// A cursor issued by `keys()` for the collection whose [`cursor_tag`] is `tag`; a cursor of
/// another collection, or not ours, is `InvalidKey`.
fn parse_tagged(cursor: &Cursor, tag: &str) -> Result<ScanPosition> {
    match cursor.as_str().split_once('/') {
        Some((t, rest)) if t == tag => ScanPosition::parse(&Cursor::new(rest)),
        Some((t, _)) if t.len() == tag.len() && t.bytes().all(|b| b.is_ascii_hexdigit()) => {
            Err(Error::new(
                ErrorKind::InvalidKey,
                "cursor was issued for another collection",
            ))
        }
        _ => Err(Error::new(
            ErrorKind::InvalidKey,
            "cursor was not issued by this store",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scan_replies_parse() {
        let reply = Value::Array(vec![
            Value::BulkString(b"17".to_vec()),
            Value::Array(vec![Value::BulkString(b"k".to_vec())]),
        ]);
        assert_eq!(parse_scan(reply).unwrap(), (17, vec![b"k".to_vec()]));
        assert_eq!(
            parse_scan(Value::Nil).unwrap_err().kind(),
            ErrorKind::Corrupted
        );
    }

    #[test]
    fn entry_replies_parse() {
        let op = Operation::GetEntry;
        assert_eq!(entry_of(op, Value::Nil).unwrap(), None);
        let e = entry_of(
            op,
            Value::Array(vec![Value::BulkString(b"v".to_vec()), Value::Int(-1)]),
        )
        .unwrap()
        .unwrap();
        assert_eq!((e.value.as_ref(), e.ttl), (&b"v"[..], None));
        let e = entry_of(
            op,
            Value::Array(vec![Value::BulkString(b"v".to_vec()), Value::Int(1500)]),
        )
        .unwrap()
        .unwrap();
        assert_eq!(e.ttl, Some(Duration::from_millis(1500)));
        assert!(entry_of(op, Value::Int(3)).is_err());
    }
}
