//! A real rmcp client talking to a real rmcp server, in-process over a duplex pipe, through
//! `CachingHandler`.
#![cfg(feature = "rmcp")]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use mcp_kv_cache::rmcp::{CachingHandler, KvSessionStore};
use mcp_kv_cache::{CacheConfig, Method, ResponseCache};
use mcp_kv_core::testkit::Intercept;
use mcp_kv_core::{DynStore, KvStore, ManualClock, Operation};
use mcp_kv_memory::MemoryStore;
use rmcp::model::*;
use rmcp::service::{RequestContext, RoleServer, RunningService};
use rmcp::transport::streamable_http_server::session::store::{SessionState, SessionStore};
use rmcp::{ErrorData as McpError, RoleClient, ServerHandler, ServiceExt};

#[derive(Clone, Default)]
struct Demo {
    tool_calls: Arc<AtomicUsize>,
    list_calls: Arc<AtomicUsize>,
    reads: Arc<AtomicUsize>,
    prompts: Arc<AtomicUsize>,
}

impl ServerHandler for Demo {
    fn get_info(&self) -> ServerConfig {
        ServerConfig::new(
            ServerCapabilities::builder()
                .enable_tools()
                .enable_resources()
                .enable_prompts()
                .build(),
        )
    }

    async fn list_tools(
        &self,
        _: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        self.list_calls.fetch_add(1, Ordering::SeqCst);
        let mut tools = vec![
            Tool::new("echo", "echoes", Arc::new(JsonObject::new())),
            Tool::new(
                "fail",
                "always an error result",
                Arc::new(JsonObject::new()),
            ),
        ];
        // A tool only for clients that declared the MCP Apps UI extension.
        let ui = context
            .client_capabilities()
            .and_then(|c| c.extensions)
            .is_some_and(|e| e.contains_key(UI_EXTENSION));
        if ui {
            tools.push(Tool::new(
                "dashboard",
                "an app",
                Arc::new(JsonObject::new()),
            ));
        }
        Ok(ListToolsResult::with_all_items(tools))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let n = self.tool_calls.fetch_add(1, Ordering::SeqCst) + 1;
        match request.name.as_ref() {
            "echo" => {
                tokio::time::sleep(Duration::from_millis(50)).await;
                let arg = request
                    .arguments
                    .as_ref()
                    .and_then(|a| a.get("text"))
                    .and_then(|v| v.as_str())
                    .unwrap_or("")
                    .to_string();
                Ok(
                    CallToolResult::success(vec![ContentBlock::text(format!("{arg} (run {n})"))])
                        .into(),
                )
            }
            "fail" => Ok(CallToolResult::error(vec![ContentBlock::text("nope")]).into()),
            _ => Err(McpError::invalid_params("unknown tool", None)),
        }
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let n = self.reads.fetch_add(1, Ordering::SeqCst) + 1;
        let result = ReadResourceResult::new(vec![ResourceContents::text(
            format!("read {n}"),
            request.uri.clone(),
        )]);
        Ok(if request.uri == "mem://short" {
            result.with_ttl_ms(0)
        } else {
            result
        }
        .into())
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let n = self.prompts.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(GetPromptResult::new(vec![PromptMessage::new_text(
            Role::User,
            format!("prompt {} #{n}", request.name),
        )])
        .into())
    }
}

const UI_EXTENSION: &str = "io.modelcontextprotocol/ui";

/// Serves `handler` on one end of a duplex pipe and connects a default rmcp client to the other.
async fn connect(handler: CachingHandler<Demo>) -> RunningService<RoleClient, ()> {
    connect_as(handler, ()).await
}

/// [`connect`] with the client `client` (its capabilities and client info).
async fn connect_as<C: rmcp::ClientHandler>(
    handler: CachingHandler<Demo>,
    client: C,
) -> RunningService<RoleClient, C> {
    let (server_io, client_io) = tokio::io::duplex(1 << 16);
    tokio::spawn(async move {
        if let Ok(server) = handler.serve(server_io).await {
            let _ = server.waiting().await;
        }
    });
    client.serve(client_io).await.expect("client connects")
}

/// A client declaring the MCP Apps UI extension.
fn ui_client(name: &str) -> ClientConfig {
    let mut caps = ClientCapabilities::default();
    caps.extensions = Some([(UI_EXTENSION.to_string(), JsonObject::new())].into());
    ClientConfig::new(caps, Implementation::new(name, "1.0"))
}

fn tool_names(r: &ListToolsResult) -> Vec<String> {
    r.tools.iter().map(|t| t.name.to_string()).collect()
}

fn cache() -> ResponseCache {
    let store: DynStore = Arc::new(MemoryStore::new());
    ResponseCache::builder(store)
        .config(
            CacheConfig::builder()
                .include_tool("echo")
                .include_tool("fail")
                .build(),
        )
        .build()
}

fn echo(text: &str) -> CallToolRequestParams {
    let mut args = JsonObject::new();
    args.insert("text".into(), text.into());
    CallToolRequestParams::new("echo").with_arguments(args)
}

fn first_text(r: &CallToolResult) -> String {
    match &r.content[0] {
        ContentBlock::Text(t) => t.text.clone(),
        other => panic!("not text: {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tools_resources_prompts_are_cached_through_a_real_client() {
    let demo = Demo::default();
    let cache = cache();
    let client = connect(
        CachingHandler::new(demo.clone(), cache.clone()).with_principal(|_| Some("alice".into())),
    )
    .await;

    let t1 = client.list_tools(None).await.unwrap();
    let t2 = client.list_tools(None).await.unwrap();
    assert_eq!(t1.tools.len(), 2);
    assert_eq!(t1.tools, t2.tools);
    assert_eq!(demo.list_calls.load(Ordering::SeqCst), 1);

    let c1 = client.call_tool(echo("hi")).await.unwrap();
    let c2 = client.call_tool(echo("hi")).await.unwrap();
    assert_eq!(first_text(&c1), "hi (run 1)");
    assert_eq!(
        first_text(&c2),
        "hi (run 1)",
        "second call served from the cache"
    );
    assert_eq!(demo.tool_calls.load(Ordering::SeqCst), 1);
    // No arguments and empty arguments are one call, one entry.
    let bare = client
        .call_tool(CallToolRequestParams::new("echo"))
        .await
        .unwrap();
    let empty = client
        .call_tool(CallToolRequestParams::new("echo").with_arguments(JsonObject::new()))
        .await
        .unwrap();
    assert_eq!(first_text(&bare), " (run 2)");
    assert_eq!(first_text(&empty), " (run 2)", "served from the same entry");
    assert_eq!(demo.tool_calls.load(Ordering::SeqCst), 2);

    let r1 = client
        .read_resource(ReadResourceRequestParams::new("mem://a"))
        .await
        .unwrap();
    let r2 = client
        .read_resource(ReadResourceRequestParams::new("mem://a"))
        .await
        .unwrap();
    assert_eq!(r1.contents, r2.contents);
    assert_eq!(demo.reads.load(Ordering::SeqCst), 1);

    let p1 = client
        .get_prompt(GetPromptRequestParams::new("greet"))
        .await
        .unwrap();
    let p2 = client
        .get_prompt(GetPromptRequestParams::new("greet"))
        .await
        .unwrap();
    assert_eq!(p1.messages, p2.messages);
    assert_eq!(demo.prompts.load(Ordering::SeqCst), 1);

    let stats = cache.stats();
    for m in [
        Method::ToolsList,
        Method::ToolsCall,
        Method::ResourcesRead,
        Method::PromptsGet,
    ] {
        let s = stats.method(m);
        let calls = if m == Method::ToolsCall { 2 } else { 1 };
        assert_eq!((s.hits, s.misses, s.stores), (calls, calls, calls), "{m}");
    }
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_results_and_errors_are_not_cached_and_ttl_hint_zero_is_honoured() {
    let demo = Demo::default();
    let cache = cache();
    let client = connect(CachingHandler::new(demo.clone(), cache.clone())).await;
    for _ in 0..2 {
        let r = client
            .call_tool(CallToolRequestParams::new("fail"))
            .await
            .unwrap();
        assert_eq!(r.is_error, Some(true));
    }
    assert_eq!(demo.tool_calls.load(Ordering::SeqCst), 2);
    // Not included: bypassed; an rmcp error each time.
    for _ in 0..2 {
        assert!(client
            .call_tool(CallToolRequestParams::new("nope"))
            .await
            .is_err());
    }
    assert_eq!(demo.tool_calls.load(Ordering::SeqCst), 4);
    for _ in 0..2 {
        client
            .read_resource(ReadResourceRequestParams::new("mem://short"))
            .await
            .unwrap();
    }
    assert_eq!(
        demo.reads.load(Ordering::SeqCst),
        2,
        "ttl_ms = 0 is never cached"
    );
    let s = cache.stats();
    assert_eq!(s.method(Method::ToolsCall).errors, 2);
    assert_eq!(s.method(Method::ToolsCall).bypassed, 2);
    assert_eq!(s.method(Method::ResourcesRead).skips, 2);
    assert_eq!(s.total().stores, 0);
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn results_shaped_by_client_capabilities_are_not_served_to_other_clients() {
    let demo = Demo::default();
    let cache = cache();
    let handler = || CachingHandler::new(demo.clone(), cache.clone());
    let plain = connect(handler()).await;
    let app = connect_as(handler(), ui_client("app")).await;
    let other_app = connect_as(handler(), ui_client("another-app")).await;
    let first = plain.list_tools(None).await.unwrap();
    assert_eq!(tool_names(&first), ["echo", "fail"]);
    let with_ui = app.list_tools(None).await.unwrap();
    assert_eq!(
        tool_names(&with_ui),
        ["echo", "fail", "dashboard"],
        "a client with the UI extension never gets the plain client's list"
    );
    assert_eq!(demo.list_calls.load(Ordering::SeqCst), 2);
    // Same capabilities (another client application): one entry.
    let shared = other_app.list_tools(None).await.unwrap();
    assert_eq!(tool_names(&shared), ["echo", "fail", "dashboard"]);
    assert_eq!(demo.list_calls.load(Ordering::SeqCst), 2, "a hit");
    // VaryOn::ClientCapabilitiesAndInfo: the client's name makes its own entry.
    let by_info = handler().vary_on(mcp_kv_cache::rmcp::VaryOn::ClientCapabilitiesAndInfo);
    let yet_another = connect_as(by_info, ui_client("yet-another-app")).await;
    yet_another.list_tools(None).await.unwrap();
    assert_eq!(demo.list_calls.load(Ordering::SeqCst), 3, "a miss");
    plain.cancel().await.unwrap();
    app.cancel().await.unwrap();
    other_app.cancel().await.unwrap();
    yet_another.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn principals_get_separate_partitions() {
    let demo = Demo::default();
    let cache = cache();
    let alice = connect(
        CachingHandler::new(demo.clone(), cache.clone()).with_principal(|_| Some("alice".into())),
    )
    .await;
    let bob = connect(
        CachingHandler::new(demo.clone(), cache.clone()).with_principal(|_| Some("bob".into())),
    )
    .await;
    let a = alice.call_tool(echo("x")).await.unwrap();
    let b = bob.call_tool(echo("x")).await.unwrap();
    assert_eq!(first_text(&a), "x (run 1)");
    assert_eq!(
        first_text(&b),
        "x (run 2)",
        "bob never sees alice's cached result"
    );
    assert_eq!(
        first_text(&alice.call_tool(echo("x")).await.unwrap()),
        "x (run 1)"
    );
    assert_eq!(
        first_text(&bob.call_tool(echo("x")).await.unwrap()),
        "x (run 2)"
    );
    alice.cancel().await.unwrap();
    bob.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thirty_two_concurrent_calls_run_the_tool_once() {
    let demo = Demo::default();
    let cache = cache();
    let client = connect(CachingHandler::new(demo.clone(), cache.clone())).await;
    let peer = client.peer().clone();
    let calls = (0..32).map(|_| {
        let peer = peer.clone();
        tokio::spawn(async move { peer.call_tool(echo("same")).await })
    });
    for r in futures::future::join_all(calls).await {
        assert_eq!(first_text(&r.unwrap().unwrap()), "same (run 1)");
    }
    assert_eq!(demo.tool_calls.load(Ordering::SeqCst), 1);
    client.cancel().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalidation_on_list_changed() {
    let demo = Demo::default();
    let cache = cache();
    let client = connect(CachingHandler::new(demo.clone(), cache.clone())).await;
    client.list_tools(None).await.unwrap();
    client.list_tools(None).await.unwrap();
    assert_eq!(demo.list_calls.load(Ordering::SeqCst), 1);
    cache.invalidate_method(Method::ToolsList).await.unwrap();
    client.list_tools(None).await.unwrap();
    assert_eq!(demo.list_calls.load(Ordering::SeqCst), 2);
    client.cancel().await.unwrap();
}

#[tokio::test]
async fn session_store_round_trip_with_idle_ttl() {
    let clock = ManualClock::new();
    let store: DynStore = Arc::new(MemoryStore::builder().clock(clock.clone()).build());
    let sessions = KvSessionStore::new(store.clone()).idle_ttl(Duration::from_secs(60));
    let params: InitializeRequestParams = serde_json::from_value(serde_json::json!({
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "1"}
    }))
    .unwrap();
    sessions
        .store("session-secret-1", &SessionState::new(params))
        .await
        .unwrap();
    // The id itself is never a key.
    let page = store.keys("mcp-kv.rmcp-sessions", None, 10).await.unwrap();
    assert_eq!(page.keys.len(), 1);
    assert!(!page.keys[0].contains("session-secret"));

    clock.advance(Duration::from_secs(50));
    let loaded = sessions
        .load("session-secret-1")
        .await
        .unwrap()
        .expect("live");
    assert_eq!(loaded.initialize_params.client_info.name, "test");
    // load refreshed the idle TTL: still alive 50 s later.
    clock.advance(Duration::from_secs(50));
    assert!(sessions.touch("session-secret-1").await.unwrap());
    clock.advance(Duration::from_secs(61));
    assert!(
        sessions.load("session-secret-1").await.unwrap().is_none(),
        "idle too long"
    );

    sessions.store("s2", &loaded).await.unwrap();
    sessions.delete("s2").await.unwrap();
    assert!(sessions.load("s2").await.unwrap().is_none());

    // Bad stored bytes are an error, not an unknown session.
    let key = {
        use sha2::Digest;
        hex::encode(sha2::Sha256::digest(b"s3"))
    };
    store
        .put("mcp-kv.rmcp-sessions", &key, "garbage".into(), None)
        .await
        .unwrap();
    assert!(sessions.load("s3").await.is_err());
}

/// What [`Hooked`] does to the inner store right after a `get` has read, as a concurrent
/// caller would between the session store's read and its write.
#[derive(Clone, Debug)]
enum AfterGet {
    Delete,
    Put(&'static str),
}

/// A memory store that can hide `touch` / `compare_and_swap` from its capabilities and runs
/// one [`AfterGet`] action after the next `get`.
#[derive(Debug, Clone)]
struct Hooked {
    store: DynStore,
    after_get: Arc<std::sync::Mutex<Option<(String, AfterGet)>>>,
}

impl Hooked {
    fn new(touch: bool, cas: bool) -> Self {
        let inner: DynStore = Arc::new(MemoryStore::new());
        let mut caps = inner.capabilities();
        caps.touch = touch;
        caps.compare_and_swap = cas;
        let after_get = Arc::new(std::sync::Mutex::new(None::<(String, AfterGet)>));
        let (pending, other_caller) = (after_get.clone(), inner.clone());
        let store = Intercept::new(inner)
            .with_capabilities(caps)
            .after(move |call, ok| {
                let action = match (call.op, ok) {
                    (Operation::Get, true) => pending.lock().unwrap().take(),
                    _ => None,
                };
                let other_caller = other_caller.clone();
                async move {
                    let collection = call.collection.as_deref().unwrap_or_default();
                    match action {
                        Some((k, AfterGet::Delete)) => {
                            other_caller.delete(collection, &k).await?;
                        }
                        Some((k, AfterGet::Put(v))) => {
                            other_caller.put(collection, &k, v.into(), None).await?
                        }
                        None => {}
                    }
                    Ok(())
                }
            });
        Hooked {
            store: Arc::new(store),
            after_get,
        }
    }

    fn after_next_get(&self, key: &str, action: AfterGet) {
        *self.after_get.lock().unwrap() = Some((key.to_string(), action));
    }
}

fn session_key(id: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(id.as_bytes()))
}

fn session_state() -> SessionState {
    SessionState::new(
        serde_json::from_value(serde_json::json!({
            "protocolVersion": "2025-06-18",
            "capabilities": {},
            "clientInfo": {"name": "test", "version": "1"}
        }))
        .unwrap(),
    )
}

#[tokio::test]
async fn session_refresh_never_undoes_a_concurrent_delete_or_replace() {
    const COLLECTION: &str = "mcp-kv.rmcp-sessions";
    // Every way the session store can refresh: native touch, compare_and_swap, neither.
    for (touch, cas) in [(true, true), (false, true), (false, false)] {
        let hooked = Hooked::new(touch, cas);
        let store = hooked.store.clone();
        let sessions = KvSessionStore::new(store.clone());
        let key = session_key("s1");

        // Closed (deleted) between the refresh's read and its write: stays deleted. (With a
        // native touch, `touch` does not read first.)
        if !touch {
            sessions.store("s1", &session_state()).await.unwrap();
            hooked.after_next_get(&key, AfterGet::Delete);
            let touched = sessions.touch("s1").await;
            assert!(
                store.get(COLLECTION, &key).await.unwrap().is_none(),
                "touch resurrected a deleted session (cas={cas})"
            );
            if cas {
                assert!(!touched.unwrap());
            } else {
                assert_eq!(
                    touched.unwrap_err().kind(),
                    mcp_kv_core::ErrorKind::Unsupported
                );
            }
        }

        // Same through load: a session deleted while it is restored is unknown, and stays
        // deleted.
        sessions.store("s1", &session_state()).await.unwrap();
        hooked.after_next_get(&key, AfterGet::Delete);
        let loaded = sessions.load("s1").await.unwrap();
        assert!(
            store.get(COLLECTION, &key).await.unwrap().is_none(),
            "load resurrected a deleted session (touch={touch}, cas={cas})"
        );
        if touch || cas {
            assert!(loaded.is_none(), "touch={touch}, cas={cas}");
        }

        // Replaced between the read and the write: the new record stays.
        for refresh in ["touch", "load"] {
            sessions.store("s1", &session_state()).await.unwrap();
            hooked.after_next_get(&key, AfterGet::Put("newer"));
            if refresh == "touch" {
                let _ = sessions.touch("s1").await;
                // A native touch does not read: run the action now.
                let _ = store.get(COLLECTION, &key).await;
            } else {
                let _ = sessions.load("s1").await;
            }
            assert_eq!(
                store.get(COLLECTION, &key).await.unwrap().as_deref(),
                Some(&b"newer"[..]),
                "{refresh} undid a replace (touch={touch}, cas={cas})"
            );
        }
    }
}

#[tokio::test]
async fn session_load_without_an_atomic_refresh_still_loads() {
    let hooked = Hooked::new(false, false);
    let store = hooked.store.clone();
    let sessions = KvSessionStore::new(store);
    sessions.store("s1", &session_state()).await.unwrap();
    assert!(sessions.load("s1").await.unwrap().is_some());
    assert!(sessions.load("unknown").await.unwrap().is_none());
}
