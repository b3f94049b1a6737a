//! End to end: the example server (examples/mcp_server.rs) runs as a process on a loopback port;
//! the rmcp client (and raw HTTP) drive it.
#![cfg(feature = "rmcp")]

#[path = "e2e/common.rs"]
mod common;

use std::time::Duration;

use common::{required_env, Server};
use rmcp::model::*;
use rmcp::service::RunningService;
use rmcp::transport::streamable_http_client::StreamableHttpClientTransportConfig;
use rmcp::transport::StreamableHttpClientTransport;
use rmcp::{RoleClient, ServiceExt};
use serde_json::{json, Value};

type Client = RunningService<RoleClient, ()>;

async fn connect(url: &str, token: &str) -> Client {
    let transport = StreamableHttpClientTransport::from_config(
        StreamableHttpClientTransportConfig::with_uri(url).auth_header(token),
    );
    ().serve(transport).await.expect("rmcp client connects")
}

fn args(pairs: Value) -> JsonObject {
    pairs.as_object().cloned().unwrap_or_default()
}

async fn tool_text(client: &Client, name: &'static str, arguments: Value) -> String {
    let r = client
        .call_tool(CallToolRequestParams::new(name).with_arguments(args(arguments)))
        .await
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    match &r.content[0] {
        ContentBlock::Text(t) => t.text.clone(),
        other => panic!("{name}: not text: {other:?}"),
    }
}

async fn executions(client: &Client) -> u64 {
    tool_text(client, "executions", json!({}))
        .await
        .parse()
        .unwrap()
}

async fn stats(client: &Client) -> Value {
    serde_json::from_str(&tool_text(client, "cache_stats", json!({})).await).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rmcp_client_sqlite_state_cache_hits_partitions_and_401() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let server = Server::start(
        dir.path(),
        "sqlite",
        &["--sqlite".into(), db.display().to_string()],
    );
    let (alice_token, bob_token) = (server.token("alice").await, server.token("bob").await);

    let alice = connect(&server.url, &alice_token).await;
    let info = alice.peer_info().expect("initialized");
    assert!(info.capabilities.tools.is_some());
    let tools = alice.list_tools(None).await.unwrap();
    let names: Vec<_> = tools.tools.iter().map(|t| t.name.to_string()).collect();
    assert!(names.contains(&"slow_square".to_string()), "{names:?}");

    // The cached tool twice: the second is a hit — in the statistics and in the tool's counter.
    let first = tool_text(&alice, "slow_square", json!({"n": 12})).await;
    let second = tool_text(&alice, "slow_square", json!({"n": 12})).await;
    assert_eq!(first, "12² = 144 (execution #1)");
    assert_eq!(second, first);
    assert_eq!(executions(&alice).await, 1);
    let s = stats(&alice).await;
    assert_eq!(s["tools/call"]["hits"], 1, "{s}");
    assert_eq!(s["tools/call"]["misses"], 1, "{s}");

    let readme = alice
        .read_resource(ReadResourceRequestParams::new("demo://readme"))
        .await
        .unwrap();
    assert!(
        matches!(&readme.contents[0], ResourceContents::TextResourceContents { text, .. } if text.contains("mcp-kv"))
    );
    let prompt = alice
        .get_prompt(
            GetPromptRequestParams::new("greet").with_arguments(args(json!({"name": "Ada"}))),
        )
        .await
        .unwrap();
    assert_eq!(prompt.messages.len(), 1);
    assert_eq!(
        tool_text(&alice, "whoami", json!({})).await,
        "you are alice"
    );

    // Bob: his own partition — never alice's cached results.
    let bob = connect(&server.url, &bob_token).await;
    assert_eq!(tool_text(&bob, "whoami", json!({})).await, "you are bob");
    assert_eq!(
        tool_text(&bob, "slow_square", json!({"n": 12})).await,
        "12² = 144 (execution #2)"
    );
    assert_eq!(
        tool_text(&alice, "slow_square", json!({"n": 12})).await,
        first
    );

    // No token, a bad token: 401 before MCP.
    let http = reqwest::Client::new();
    let body = json!({"jsonrpc": "2.0", "id": 1, "method": "tools/list"});
    for auth in [None, Some("Bearer mcpat_not-a-real-token")] {
        let mut req = http
            .post(&server.url)
            .header("accept", "application/json, text/event-stream")
            .json(&body);
        if let Some(a) = auth {
            req = req.header("authorization", a);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), 401);
        assert_eq!(r.headers()["www-authenticate"], "Bearer");
    }
    let transport = StreamableHttpClientTransport::from_uri(server.url.as_str());
    assert!(
        ().serve(transport).await.is_err(),
        "an rmcp client without a token is refused"
    );

    alice.cancel().await.unwrap();
    bob.cancel().await.unwrap();
    let log = server.stop();
    assert!(log.contains("state on SQLite at"), "{log}");
    assert!(
        log.contains("tools/call: hits="),
        "statistics are logged:\n{log}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thirty_two_concurrent_identical_calls_on_a_cold_cache_run_the_tool_once() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state.db");
    let server = Server::start(
        dir.path(),
        "concurrent",
        &["--sqlite".into(), db.display().to_string()],
    );
    let client = connect(&server.url, &server.token("carol").await).await;
    let peer = client.peer().clone();
    let calls = (0..32).map(|_| {
        let peer = peer.clone();
        tokio::spawn(async move {
            peer.call_tool(
                CallToolRequestParams::new("slow_square").with_arguments(args(json!({"n": 77}))),
            )
            .await
        })
    });
    for r in futures::future::join_all(calls).await {
        let r = r.unwrap().unwrap();
        assert!(
            matches!(&r.content[0], ContentBlock::Text(t) if t.text == "77² = 5929 (execution #1)")
        );
    }
    assert_eq!(executions(&client).await, 1, "the tool ran once");
    let s = stats(&client).await;
    let (hits, coalesced) = (
        s["tools/call"]["hits"].as_u64().unwrap(),
        s["tools/call"]["coalesced"].as_u64().unwrap(),
    );
    assert_eq!(s["tools/call"]["misses"], 1, "{s}");
    assert_eq!(hits + coalesced, 31, "{s}");
    client.cancel().await.unwrap();
    server.stop();
}

/// The JSON-RPC response with `id` in a response body that is JSON or SSE.
fn rpc_response(body: &str, id: u64) -> Value {
    if let Ok(v) = serde_json::from_str::<Value>(body) {
        return v;
    }
    body.lines()
        .filter_map(|l| l.strip_prefix("data:"))
        .filter_map(|d| serde_json::from_str::<Value>(d.trim()).ok())
        .find(|v| v["id"] == id)
        .unwrap_or_else(|| panic!("no response {id} in {body}"))
}

struct RawSession {
    http: reqwest::Client,
    token: String,
    id: String,
}

const LEGACY: &str = "2025-06-18";

impl RawSession {
    async fn open(url: &str, token: &str) -> RawSession {
        let http = reqwest::Client::new();
        let r = http
            .post(url)
            .bearer_auth(token)
            .header("accept", "application/json, text/event-stream")
            .json(
                &json!({"jsonrpc": "2.0", "id": 1, "method": "initialize", "params": {
                "protocolVersion": LEGACY, "capabilities": {},
                "clientInfo": {"name": "raw-e2e", "version": "1"}}}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        let id = r.headers()["mcp-session-id"].to_str().unwrap().to_string();
        let init = rpc_response(&r.text().await.unwrap(), 1);
        assert!(init["result"]["protocolVersion"].is_string(), "{init}");
        let s = RawSession {
            http,
            token: token.to_string(),
            id,
        };
        let r = s
            .post(
                url,
                json!({"jsonrpc": "2.0", "method": "notifications/initialized"}),
            )
            .await;
        assert!(r.status().is_success(), "{}", r.status());
        s
    }

    async fn post(&self, url: &str, body: Value) -> reqwest::Response {
        self.http
            .post(url)
            .bearer_auth(&self.token)
            .header("accept", "application/json, text/event-stream")
            .header("mcp-session-id", &self.id)
            .header("mcp-protocol-version", LEGACY)
            .json(&body)
            .send()
            .await
            .unwrap()
    }

    async fn call(&self, url: &str, id: u64, name: &str, arguments: Value) -> (u16, Value) {
        let r = self
            .post(
                url,
                json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
                "params": {"name": name, "arguments": arguments}}),
            )
            .await;
        let status = r.status().as_u16();
        let text = r.text().await.unwrap();
        if status != 200 {
            return (status, Value::String(text));
        }
        (status, rpc_response(&text, id))
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_state_cached_results_and_session_survive_a_restart() {
    let test = "redis_state_cached_results_and_session_survive_a_restart";
    let Some(redis_url) = required_env(test, "MCP_KV_REDIS_URL", "run scripts/test.sh") else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let namespace = format!("e2e-{}-{nanos}", std::process::id());
    let server_args = vec![
        "--redis".into(),
        redis_url.clone(),
        "--namespace".into(),
        namespace.clone(),
        "--key-file".into(),
        dir.path().join("token.key").display().to_string(),
    ];

    let server = Server::start(dir.path(), "redis-1", &server_args);
    let token = server.token("dave").await;
    let client = connect(&server.url, &token).await;
    let first = tool_text(&client, "slow_square", json!({"n": 5})).await;
    assert_eq!(first, "5² = 25 (execution #1)");
    let session = RawSession::open(&server.url, &token).await;
    let (status, before) = session.call(&server.url, 2, "whoami", json!({})).await;
    assert_eq!(status, 200, "{before}");
    client.cancel().await.unwrap();
    let log = server.stop();
    assert!(log.contains("state on Redis at redis://"), "{log}");

    // A new process, a new port, the same Redis.
    let server = Server::start(dir.path(), "redis-2", &server_args);
    // The token survived (encrypted in Redis, key in the key file) ...
    let client = connect(&server.url, &token).await;
    // ... and so did the cached result: served without running the tool in this process.
    assert_eq!(
        tool_text(&client, "slow_square", json!({"n": 5})).await,
        first
    );
    assert_eq!(executions(&client).await, 0);
    // ... and the session: the old Mcp-Session-Id works without a new initialize.
    let (status, after) = session
        .call(&server.url, 3, "slow_square", json!({"n": 5}))
        .await;
    assert_eq!(status, 200, "the session did not survive: {after}");
    assert_eq!(
        after["result"]["content"][0]["text"],
        first.as_str(),
        "{after}"
    );
    client.cancel().await.unwrap();
    server.stop();

    // Clean up the namespace.
    let store = mcp_kv_wrappers::namespace::Namespace::new(
        mcp_kv_redis::RedisStore::open(&redis_url).await.unwrap(),
        namespace,
    )
    .unwrap();
    use mcp_kv_core::KvStore;
    for c in store.collections().await.unwrap() {
        store.clear(&c).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
}
