//! Behaviour of the response cache on the memory backend.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mcp_kv_cache::{CacheConfig, Method, Partition, ResponseCache};
use mcp_kv_core::testkit::Intercept;
use mcp_kv_core::{
    async_trait, Bytes, Capabilities, DynStore, Entry, Error, ErrorKind, KvStore, ManualClock,
    Operation,
};
use mcp_kv_memory::MemoryStore;
use serde_json::{json, Value};

type R = Result<Value, String>;

fn memory() -> DynStore {
    Arc::new(MemoryStore::new())
}

fn cache_with(config: CacheConfig) -> ResponseCache {
    ResponseCache::builder(memory()).config(config).build()
}

fn tool_config() -> CacheConfig {
    CacheConfig::builder().include_tool("t").build()
}

fn text(s: &str) -> Value {
    json!({"content": [{"type": "text", "text": s}]})
}

/// A handler counting its runs.
#[derive(Clone, Default)]
struct Counter(Arc<AtomicUsize>);

impl Counter {
    fn runs(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }
    fn call(&self, v: Value) -> impl FnOnce() -> std::future::Ready<R> + '_ {
        move || {
            self.0.fetch_add(1, Ordering::SeqCst);
            std::future::ready(Ok(v))
        }
    }
}

#[tokio::test]
async fn hit_after_miss_and_argument_order_does_not_split() {
    let cache = cache_with(tool_config());
    let n = Counter::default();
    let a = json!({"name": "t", "arguments": {"x": 1, "y": {"b": 2, "a": 1}}});
    let b = json!({"arguments": {"y": {"a": 1, "b": 2}, "x": 1.0}, "name": "t"});
    let p = Partition::principal("alice", b"");
    let r1 = cache
        .get_or_compute(Method::ToolsCall, &a, &p, n.call(text("one")))
        .await;
    let r2 = cache
        .get_or_compute(Method::ToolsCall, &b, &p, n.call(text("two")))
        .await;
    assert_eq!(r1, Ok(text("one")));
    assert_eq!(r2, Ok(text("one")));
    assert_eq!(n.runs(), 1);
    let s = cache.stats().method(Method::ToolsCall);
    assert_eq!((s.hits, s.misses, s.stores), (1, 1, 1));
    assert_eq!(cache.stats().total().hits, 1);
    // Different arguments: a new entry.
    let c = json!({"name": "t", "arguments": {"x": 2}});
    cache
        .get_or_compute(Method::ToolsCall, &c, &p, n.call(text("three")))
        .await
        .unwrap();
    assert_eq!(n.runs(), 2);
}

#[tokio::test]
async fn principals_are_partitioned_public_items_are_shared() {
    let config = CacheConfig::builder()
        .include_tool("private")
        .include_tool("shared")
        .public_item(Method::ToolsCall, "shared")
        .build();
    let cache = cache_with(config);
    let private = json!({"name": "private"});
    let alice = cache
        .get_or_compute_as(Method::ToolsCall, &private, Some("alice"), || async {
            R::Ok(text("alice's"))
        })
        .await
        .unwrap();
    let bob = cache
        .get_or_compute_as(Method::ToolsCall, &private, Some("bob"), || async {
            R::Ok(text("bob's"))
        })
        .await
        .unwrap();
    let anon = cache
        .get_or_compute_as(Method::ToolsCall, &private, None, || async {
            R::Ok(text("anon"))
        })
        .await
        .unwrap();
    assert_eq!(alice, text("alice's"));
    assert_eq!(bob, text("bob's"), "bob must never see alice's result");
    assert_eq!(anon, text("anon"));
    let again = cache
        .get_or_compute_as(Method::ToolsCall, &private, Some("alice"), || async {
            R::Ok(text("x"))
        })
        .await
        .unwrap();
    assert_eq!(again, text("alice's"));

    let shared = json!({"name": "shared"});
    assert_eq!(
        cache.partition(Method::ToolsCall, &shared, Some("alice")),
        Partition::Public
    );
    cache
        .get_or_compute_as(Method::ToolsCall, &shared, Some("alice"), || async {
            R::Ok(text("s"))
        })
        .await
        .unwrap();
    let for_bob = cache
        .get_or_compute_as(Method::ToolsCall, &shared, Some("bob"), || async {
            R::Ok(text("other"))
        })
        .await
        .unwrap();
    assert_eq!(for_bob, text("s"));

    // The store never holds an identity.
    let names = cache.store().collections().await.unwrap();
    assert!(
        names
            .iter()
            .all(|c| !c.contains("alice") && !c.contains("bob")),
        "{names:?}"
    );
    assert!(
        names.contains(&"mcp-kv.cache/tools/call/public".to_string()),
        "{names:?}"
    );
}

#[tokio::test]
async fn errors_are_never_cached() {
    let cache = cache_with(tool_config());
    let n = Counter::default();
    let p = Partition::Anonymous;
    let params = json!({"name": "t"});
    for _ in 0..2 {
        let r = cache
            .get_or_compute(Method::ToolsCall, &params, &p, || {
                n.0.fetch_add(1, Ordering::SeqCst);
                async { R::Err("boom".into()) }
            })
            .await;
        assert_eq!(r, Err("boom".to_string()));
    }
    let err_result = json!({"content": [], "isError": true});
    for _ in 0..2 {
        cache
            .get_or_compute(Method::ToolsCall, &params, &p, n.call(err_result.clone()))
            .await
            .unwrap();
    }
    assert_eq!(n.runs(), 4);
    let s = cache.stats().method(Method::ToolsCall);
    assert_eq!((s.errors, s.stores, s.hits), (4, 0, 0));
}

#[tokio::test]
async fn oversized_results_are_skipped() {
    let cache = cache_with(CacheConfig::builder().max_item_bytes(1024).build());
    let n = Counter::default();
    let big = json!({"contents": [{"uri": "u", "text": "x".repeat(2000)}]});
    let params = json!({"uri": "u"});
    for _ in 0..2 {
        cache
            .get_or_compute(
                Method::ResourcesRead,
                &params,
                &Partition::Public,
                n.call(big.clone()),
            )
            .await
            .unwrap();
    }
    assert_eq!(n.runs(), 2);
    let s = cache.stats().method(Method::ResourcesRead);
    assert_eq!((s.skips, s.stores, s.misses), (2, 0, 2));
}

#[tokio::test]
async fn default_size_limit_is_one_mib() {
    let cache = cache_with(CacheConfig::default());
    let params = json!({"uri": "u"});
    let just_under = json!("x".repeat(1024 * 1024 - 2)); // with quotes: exactly 1 MiB
    cache
        .get_or_compute(
            Method::ResourcesRead,
            &params,
            &Partition::Public,
            || async { R::Ok(just_under) },
        )
        .await
        .unwrap();
    let params = json!({"uri": "v"});
    let over = json!("x".repeat(1024 * 1024 - 1));
    cache
        .get_or_compute(
            Method::ResourcesRead,
            &params,
            &Partition::Public,
            || async { R::Ok(over) },
        )
        .await
        .unwrap();
    let s = cache.stats().method(Method::ResourcesRead);
    assert_eq!((s.stores, s.skips), (1, 1));
}

#[tokio::test]
async fn configuration_bypasses() {
    let config = CacheConfig::builder()
        .include_tool("t")
        .exclude_tool("t") // exclude wins
        .enable(Method::PromptsList, false)
        .exclude(Method::PromptsGet, "live")
        .build();
    let cache = cache_with(config);
    let n = Counter::default();
    for _ in 0..2 {
        let p = &Partition::Anonymous;
        cache
            .get_or_compute(
                Method::ToolsCall,
                &json!({"name": "t"}),
                p,
                n.call(text("a")),
            )
            .await
            .unwrap();
        cache
            .get_or_compute(
                Method::ToolsCall,
                &json!({"name": "u"}),
                p,
                n.call(text("a")),
            )
            .await
            .unwrap();
        cache
            .get_or_compute(Method::PromptsList, &json!({}), p, n.call(text("a")))
            .await
            .unwrap();
        cache
            .get_or_compute(
                Method::PromptsGet,
                &json!({"name": "live"}),
                p,
                n.call(text("a")),
            )
            .await
            .unwrap();
    }
    assert_eq!(n.runs(), 8);
    assert_eq!(cache.stats().total().bypassed, 8);
    assert_eq!(cache.stats().total().misses, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_concurrent_identical_misses_run_the_handler_once() {
    let cache = cache_with(tool_config());
    let n = Counter::default();
    let params = json!({"name": "t", "arguments": {"q": "same"}});
    let mut tasks = Vec::new();
    for _ in 0..32 {
        let (cache, n, params) = (cache.clone(), n.clone(), params.clone());
        tasks.push(tokio::spawn(async move {
            cache
                .get_or_compute(
                    Method::ToolsCall,
                    &params,
                    &Partition::Anonymous,
                    || async {
                        n.0.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        R::Ok(text("once"))
                    },
                )
                .await
        }));
    }
    for t in tasks {
        assert_eq!(t.await.unwrap(), Ok(text("once")));
    }
    assert_eq!(n.runs(), 1);
    let s = cache.stats().method(Method::ToolsCall);
    assert_eq!(s.misses, 1);
    assert_eq!(s.hits + s.coalesced, 31);
}

/// `tasks` concurrent identical `tools/call`s of tool `t`; each run of the handler takes
/// 100 ms and answers `answer(run)` (runs counted by `n` from 0).
async fn concurrent_calls(
    cache: &ResponseCache,
    tasks: usize,
    n: &Counter,
    answer: fn(usize) -> R,
) -> Vec<R> {
    let calls: Vec<_> = (0..tasks)
        .map(|_| {
            let (cache, n) = (cache.clone(), n.clone());
            tokio::spawn(async move {
                cache
                    .get_or_compute(
                        Method::ToolsCall,
                        &json!({"name": "t"}),
                        &Partition::Anonymous,
                        || async {
                            let run = n.0.fetch_add(1, Ordering::SeqCst);
                            tokio::time::sleep(Duration::from_millis(100)).await;
                            answer(run)
                        },
                    )
                    .await
            })
        })
        .collect();
    let mut answers = Vec::new();
    for call in calls {
        answers.push(call.await.unwrap());
    }
    answers
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_errors_are_shared_not_cached() {
    let cache = cache_with(tool_config());
    let n = Counter::default();
    for answer in concurrent_calls(&cache, 8, &n, |_| R::Err("down".into())).await {
        assert_eq!(answer, Err("down".to_string()));
    }
    assert_eq!(n.runs(), 1);
    assert_eq!(cache.stats().method(Method::ToolsCall).stores, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incomplete_results_are_each_callers_own() {
    // A task handle or an input request is per call: concurrent identical calls each get
    // their own, never the leader's.
    let cache = cache_with(tool_config());
    let n = Counter::default();
    let incomplete = |run: usize| R::Ok(json!({"resultType": "incomplete", "task": run}));
    let mut seen = std::collections::BTreeSet::new();
    for answer in concurrent_calls(&cache, 4, &n, incomplete).await {
        let task = answer.unwrap()["task"].as_u64().unwrap();
        assert!(seen.insert(task), "a task handle was shared");
    }
    assert_eq!(n.runs(), 4);
    assert_eq!(cache.stats().method(Method::ToolsCall).stores, 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_panicking_leader_does_not_wedge_waiters() {
    let cache = cache_with(tool_config());
    let params = json!({"name": "t"});
    let leader = {
        let (cache, params) = (cache.clone(), params.clone());
        tokio::spawn(async move {
            cache
                .get_or_compute(
                    Method::ToolsCall,
                    &params,
                    &Partition::Anonymous,
                    || async {
                        tokio::time::sleep(Duration::from_millis(100)).await;
                        panic!("handler bug");
                        #[allow(unreachable_code)]
                        R::Ok(Value::Null)
                    },
                )
                .await
        })
    };
    tokio::time::sleep(Duration::from_millis(20)).await;
    let waiter = cache.get_or_compute(
        Method::ToolsCall,
        &params,
        &Partition::Anonymous,
        || async { R::Ok(text("recovered")) },
    );
    let got = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("waiter wedged");
    assert_eq!(got, Ok(text("recovered")));
    assert!(leader.await.unwrap_err().is_panic());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancelled_leader_does_not_wedge_waiters() {
    let cache = cache_with(tool_config());
    let params = json!({"name": "t"});
    let slow = cache.get_or_compute(
        Method::ToolsCall,
        &params,
        &Partition::Anonymous,
        || async {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            R::Ok(Value::Null)
        },
    );
    let waiter = {
        let (cache, params) = (cache.clone(), params.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            cache
                .get_or_compute(
                    Method::ToolsCall,
                    &params,
                    &Partition::Anonymous,
                    || async { R::Ok(text("second")) },
                )
                .await
        })
    };
    // The leader gives up (client cancelled the request).
    assert!(tokio::time::timeout(Duration::from_millis(100), slow)
        .await
        .is_err());
    let got = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("waiter wedged");
    assert_eq!(got.unwrap(), Ok(text("second")));
}

#[tokio::test]
async fn ttl_expiry_follows_method_settings() {
    let clock = ManualClock::new();
    let store: DynStore = Arc::new(MemoryStore::builder().clock(clock.clone()).build());
    let cache = ResponseCache::builder(store)
        .config(
            CacheConfig::builder()
                .item_ttl(Method::PromptsGet, "short", Duration::from_secs(5))
                .build(),
        )
        .build();
    let n = Counter::default();
    let list = json!({});
    let short = json!({"name": "short"});
    let p = Partition::Anonymous;
    cache
        .get_or_compute(Method::ToolsList, &list, &p, n.call(json!({"tools": []})))
        .await
        .unwrap();
    cache
        .get_or_compute(
            Method::PromptsGet,
            &short,
            &p,
            n.call(json!({"messages": []})),
        )
        .await
        .unwrap();
    clock.advance(Duration::from_secs(6));
    cache
        .get_or_compute(Method::ToolsList, &list, &p, n.call(json!({"tools": []})))
        .await
        .unwrap();
    cache
        .get_or_compute(
            Method::PromptsGet,
            &short,
            &p,
            n.call(json!({"messages": []})),
        )
        .await
        .unwrap();
    assert_eq!(
        n.runs(),
        3,
        "the 5 s prompt expired, the 300 s list did not"
    );
    clock.advance(Duration::from_secs(300));
    cache
        .get_or_compute(Method::ToolsList, &list, &p, n.call(json!({"tools": []})))
        .await
        .unwrap();
    assert_eq!(n.runs(), 4);
}

#[tokio::test]
async fn result_hints_are_honoured() {
    let clock = ManualClock::new();
    let store: DynStore = Arc::new(MemoryStore::builder().clock(clock.clone()).build());
    let cache = ResponseCache::new(store);
    let n = Counter::default();
    let pub_ = Partition::Public;
    let alice = Partition::principal("alice", b"");
    // ttlMs 0: not cached.
    for _ in 0..2 {
        cache
            .get_or_compute(
                Method::ToolsList,
                &json!({}),
                &alice,
                n.call(json!({"tools": [], "ttlMs": 0})),
            )
            .await
            .unwrap();
    }
    assert_eq!(n.runs(), 2);
    // Private result asked in the public partition: not stored there.
    for _ in 0..2 {
        cache
            .get_or_compute(
                Method::ResourcesList,
                &json!({}),
                &pub_,
                n.call(json!({"resources": [], "cacheScope": "private"})),
            )
            .await
            .unwrap();
    }
    assert_eq!(n.runs(), 4);
    // Nor in the anonymous partition, which every caller without an identity shares.
    for _ in 0..2 {
        cache
            .get_or_compute(
                Method::ResourcesRead,
                &json!({"uri": "u"}),
                &Partition::Anonymous,
                n.call(json!({"contents": [], "cacheScope": "private"})),
            )
            .await
            .unwrap();
    }
    assert_eq!(n.runs(), 6);
    // ttlMs shortens the configured TTL.
    let v = json!({"prompts": [], "ttlMs": 2000});
    cache
        .get_or_compute(Method::PromptsList, &json!({}), &alice, n.call(v.clone()))
        .await
        .unwrap();
    cache
        .get_or_compute(Method::PromptsList, &json!({}), &alice, n.call(v.clone()))
        .await
        .unwrap();
    assert_eq!(n.runs(), 7);
    clock.advance(Duration::from_millis(2001));
    cache
        .get_or_compute(Method::PromptsList, &json!({}), &alice, n.call(v.clone()))
        .await
        .unwrap();
    assert_eq!(n.runs(), 8);
    // Incomplete results are not stored.
    for _ in 0..2 {
        cache
            .get_or_compute(
                Method::PromptsGet,
                &json!({"name": "p"}),
                &alice,
                n.call(json!({"resultType": "incomplete"})),
            )
            .await
            .unwrap();
    }
    assert_eq!(n.runs(), 10);
    assert_eq!(cache.stats().total().skips, 8);
}

async fn fill(cache: &ResponseCache, n: &Counter) {
    for who in ["alice", "bob"] {
        let p = Partition::principal(who, b"");
        cache
            .get_or_compute(
                Method::ToolsList,
                &json!({}),
                &p,
                n.call(json!({"tools": []})),
            )
            .await
            .unwrap();
        cache
            .get_or_compute(
                Method::ToolsCall,
                &json!({"name": "t"}),
                &p,
                n.call(text("r")),
            )
            .await
            .unwrap();
    }
}

#[tokio::test]
async fn invalidation_per_method_partition_and_pair() {
    let cache = cache_with(tool_config());
    let n = Counter::default();
    fill(&cache, &n).await;
    assert_eq!(n.runs(), 4);
    fill(&cache, &n).await;
    assert_eq!(n.runs(), 4, "all hits");

    assert_eq!(cache.invalidate_method(Method::ToolsList).await.unwrap(), 2);
    fill(&cache, &n).await;
    assert_eq!(n.runs(), 6, "tools/list recomputed for both");

    let alice = Partition::principal("alice", b"");
    assert_eq!(cache.invalidate_partition(&alice).await.unwrap(), 2);
    fill(&cache, &n).await;
    assert_eq!(n.runs(), 8, "alice's two entries recomputed");

    assert_eq!(
        cache.invalidate(Method::ToolsCall, &alice).await.unwrap(),
        1
    );
    fill(&cache, &n).await;
    assert_eq!(n.runs(), 9);

    assert_eq!(cache.invalidate_all().await.unwrap(), 4);
    fill(&cache, &n).await;
    assert_eq!(n.runs(), 13);
}

/// Starts a `tools/call` of tool `t` answered by `first`, invalidates `tools/call` after
/// `after`, then makes the same call answered by `next`: what the two calls returned.
async fn invalidated_during_a_call<F>(
    cache: &ResponseCache,
    first: F,
    after: Duration,
    next: &str,
) -> (R, R)
where
    F: std::future::Future<Output = R> + Send + 'static,
{
    let params = json!({"name": "t"});
    let call = {
        let (cache, params) = (cache.clone(), params.clone());
        tokio::spawn(async move {
            cache
                .get_or_compute(Method::ToolsCall, &params, &Partition::Anonymous, || first)
                .await
        })
    };
    tokio::time::sleep(after).await;
    cache.invalidate_method(Method::ToolsCall).await.unwrap();
    let first = call.await.unwrap();
    let next = cache
        .get_or_compute(
            Method::ToolsCall,
            &params,
            &Partition::Anonymous,
            || async { R::Ok(text(next)) },
        )
        .await;
    (first, next)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_result_computed_across_an_invalidation_is_not_stored() {
    let cache = cache_with(tool_config());
    let slow = async {
        tokio::time::sleep(Duration::from_millis(100)).await;
        R::Ok(text("stale"))
    };
    let (first, fresh) =
        invalidated_during_a_call(&cache, slow, Duration::from_millis(20), "fresh").await;
    assert_eq!(first, Ok(text("stale")));
    assert_eq!(fresh, Ok(text("fresh")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidation_during_the_store_write_holds() {
    // A memory store whose `put` takes 100 ms.
    let store: DynStore = Arc::new(
        Intercept::new(Arc::new(MemoryStore::new()))
            .delay(Operation::Put, Duration::from_millis(100)),
    );
    let cache = ResponseCache::builder(store).config(tool_config()).build();
    // The handler answers at once; the put is in flight for 100 ms.
    let at_once = async { R::Ok(text("old")) };
    let (first, next) =
        invalidated_during_a_call(&cache, at_once, Duration::from_millis(30), "new").await;
    assert_eq!(first, Ok(text("old")));
    assert_eq!(
        next,
        Ok(text("new")),
        "the old result outlived the invalidation"
    );
}

/// A memory store whose `put` is carried out by a task of its own once `open` is called,
/// whether or not its caller is still waiting — as a SQLite writer thread runs a queued write,
/// or a server a command already sent, after the caller gave up.
#[derive(Debug, Clone)]
struct DetachedPuts {
    store: MemoryStore,
    open: Arc<tokio::sync::Semaphore>,
    applied: Arc<AtomicUsize>,
}

impl DetachedPuts {
    fn new() -> Self {
        DetachedPuts {
            store: MemoryStore::new(),
            open: Arc::new(tokio::sync::Semaphore::new(0)),
            applied: Arc::default(),
        }
    }
    fn open(&self) {
        self.open.add_permits(1 << 20);
    }
}

#[async_trait]
impl KvStore for DetachedPuts {
    fn capabilities(&self) -> Capabilities {
        self.store.capabilities()
    }
    async fn get_entry(&self, c: &str, k: &str) -> mcp_kv_core::Result<Option<Entry>> {
        self.store.get_entry(c, k).await
    }
    async fn put(
        &self,
        c: &str,
        k: &str,
        v: Bytes,
        ttl: Option<Duration>,
    ) -> mcp_kv_core::Result<()> {
        let this = self.clone();
        let (c, k) = (c.to_string(), k.to_string());
        tokio::spawn(async move {
            let _permit = this.open.acquire().await.unwrap();
            let r = this.store.put(&c, &k, v, ttl).await;
            this.applied.fetch_add(1, Ordering::SeqCst);
            r
        })
        .await
        .unwrap()
    }
    async fn delete(&self, c: &str, k: &str) -> mcp_kv_core::Result<bool> {
        self.store.delete(c, k).await
    }
    async fn compare_and_swap(
        &self,
        c: &str,
        k: &str,
        current: Option<&[u8]>,
        new: Option<Bytes>,
        ttl: Option<Duration>,
    ) -> mcp_kv_core::Result<bool> {
        self.store.compare_and_swap(c, k, current, new, ttl).await
    }
    async fn collections(&self) -> mcp_kv_core::Result<Vec<String>> {
        self.store.collections().await
    }
    async fn clear(&self, c: &str) -> mcp_kv_core::Result<u64> {
        self.store.clear(c).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_leader_dropped_while_storing_has_answered_its_waiters() {
    let store = DetachedPuts::new();
    let cache = ResponseCache::builder(Arc::new(store.clone()))
        .config(tool_config())
        .build();
    let params = json!({"name": "t"});
    let n = Counter::default();
    let waiter = {
        let (cache, params, n) = (cache.clone(), params.clone(), n.clone());
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            cache
                .get_or_compute(
                    Method::ToolsCall,
                    &params,
                    &Partition::Anonymous,
                    n.call(text("again")),
                )
                .await
        })
    };
    // The leader computes in 50 ms, then its put hangs until it is dropped (the client
    // cancelled the request).
    let leader = cache.get_or_compute(
        Method::ToolsCall,
        &params,
        &Partition::Anonymous,
        || async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            R::Ok(text("computed"))
        },
    );
    assert!(tokio::time::timeout(Duration::from_millis(200), leader)
        .await
        .is_err());
    store.open();
    let got = tokio::time::timeout(Duration::from_secs(5), waiter)
        .await
        .expect("waiter wedged")
        .unwrap();
    assert_eq!(got, Ok(text("computed")), "the leader's result was lost");
    assert_eq!(n.runs(), 0, "the handler ran again");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalidation_during_a_dropped_store_write_holds() {
    let store = DetachedPuts::new();
    let cache = ResponseCache::builder(Arc::new(store.clone()))
        .config(tool_config())
        .build();
    let params = json!({"name": "t"});
    let call = {
        let (cache, params) = (cache.clone(), params.clone());
        tokio::spawn(async move {
            let call = cache.get_or_compute(
                Method::ToolsCall,
                &params,
                &Partition::Anonymous,
                || async { R::Ok(text("old")) },
            );
            tokio::time::timeout(Duration::from_millis(100), call).await
        })
    };
    tokio::time::sleep(Duration::from_millis(30)).await;
    // The put is in flight: the invalidation clears nothing yet, then the call is dropped, then
    // the store carries the put out.
    cache.invalidate_method(Method::ToolsCall).await.unwrap();
    assert!(call.await.unwrap().is_err(), "the call was not dropped");
    store.open();
    let collection = cache.collection(Method::ToolsCall, &Partition::Anonymous);
    let key = mcp_kv_cache::params_hash(&params);
    let settled = async {
        while store.applied.load(Ordering::SeqCst) == 0
            || store.store.get(&collection, &key).await.unwrap().is_some()
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), settled).await;
    let next = cache
        .get_or_compute(
            Method::ToolsCall,
            &params,
            &Partition::Anonymous,
            || async { R::Ok(text("new")) },
        )
        .await;
    assert_eq!(
        next,
        Ok(text("new")),
        "the old result outlived the invalidation"
    );
}

#[tokio::test]
async fn corrupted_entries_are_replaced_not_fatal() {
    let cache = cache_with(CacheConfig::default());
    let params = json!({"uri": "u"});
    let collection = cache.collection(Method::ResourcesRead, &Partition::Public);
    let key = mcp_kv_cache::params_hash(&params);
    cache
        .store()
        .put(
            &collection,
            &key,
            Bytes::from_static(b"\xff not json"),
            None,
        )
        .await
        .unwrap();
    let r = cache
        .get_or_compute(
            Method::ResourcesRead,
            &params,
            &Partition::Public,
            || async { R::Ok(text("ok")) },
        )
        .await;
    assert_eq!(r, Ok(text("ok")));
    let s = cache.stats().method(Method::ResourcesRead);
    assert_eq!((s.store_errors, s.stores), (1, 1));
    let r = cache
        .get_or_compute(
            Method::ResourcesRead,
            &params,
            &Partition::Public,
            || async { R::Ok(text("no")) },
        )
        .await;
    assert_eq!(r, Ok(text("ok")));
    // An error or incomplete result found in the store (another version wrote it, or someone
    // behind the cache's back) is not served: it is replaced like a corrupted entry.
    for planted in [
        json!({"isError": true}),
        json!({"resultType": "incomplete"}),
    ] {
        let params = json!({"uri": format!("planted-{planted}")});
        let key = mcp_kv_cache::params_hash(&params);
        let bytes = Bytes::from(serde_json::to_vec(&planted).unwrap());
        cache
            .store()
            .put(&collection, &key, bytes, None)
            .await
            .unwrap();
        let r = cache
            .get_or_compute(
                Method::ResourcesRead,
                &params,
                &Partition::Public,
                || async { R::Ok(text("computed")) },
            )
            .await;
        assert_eq!(r, Ok(text("computed")), "{planted}");
    }
}

#[tokio::test]
async fn a_failing_store_never_fails_requests() {
    // A store whose every operation fails.
    let broken = Intercept::new(memory())
        .with_capabilities(Capabilities::default())
        .before(|_| async { Err(Error::new(ErrorKind::Unavailable, "down")) });
    let cache = ResponseCache::new(Arc::new(broken));
    let r = cache
        .get_or_compute(
            Method::ToolsList,
            &json!({}),
            &Partition::Public,
            || async { R::Ok(json!({"tools": []})) },
        )
        .await;
    assert_eq!(r, Ok(json!({"tools": []})));
    let s = cache.stats().method(Method::ToolsList);
    assert_eq!((s.store_errors, s.misses), (3, 1), "lookup, re-check, put");
    assert_eq!(
        cache
            .invalidate_method(Method::ToolsList)
            .await
            .unwrap_err()
            .kind(),
        ErrorKind::Unsupported
    );
}

#[tokio::test]
async fn stats_render() {
    let cache = cache_with(tool_config());
    cache
        .get_or_compute(
            Method::ToolsList,
            &json!({}),
            &Partition::Public,
            || async { R::Ok(json!({"tools": []})) },
        )
        .await
        .unwrap();
    let line = cache.stats().to_string();
    assert!(line.starts_with("tools/list: hits=0 misses=1"), "{line}");
    assert_eq!(cache.stats().to_json()["tools/list"]["stores"], 1);
    cache.reset_stats();
    assert_eq!(cache.stats().total(), Default::default());
}

/// An empty identity is no identity: its requests use the anonymous partition, where private
/// results are never stored — not one partition shared by every caller an auth layer marked
/// with `""`, holding each other's private results.
#[tokio::test]
async fn an_empty_principal_is_anonymous() {
    let cache = cache_with(CacheConfig::builder().include_tool("t").build());
    let params = json!({"name": "t"});
    assert_eq!(
        cache.partition(Method::ToolsCall, &params, Some("")),
        Partition::Anonymous
    );
    assert_eq!(
        cache.partition(Method::ToolsCall, &params, None),
        Partition::Anonymous
    );
    assert_ne!(
        cache.partition(Method::ToolsCall, &params, Some("alice")),
        Partition::Anonymous
    );
}
