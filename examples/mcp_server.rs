//! A streamable-HTTP MCP server on axum whose responses are cached by mcp-kv-cache and whose
//! callers are authenticated with tokens from the mcp-kv-oauth store.
//!
//! ```text
//! cargo run --features full --example mcp_server -- \
//!     [--bind 127.0.0.1:8080] [--sqlite PATH | --redis redis://127.0.0.1:6380] \
//!     [--key-file PATH] [--audience URI] [--namespace NAME] [--stats-every SECS]
//! ```
//!
//! - `POST /mcp`: the MCP endpoint (streamable HTTP), behind a bearer-token layer: every
//!   request's token is verified with `TokenStore::verify_access` (audience checked); no or a
//!   bad token is `401` with `WWW-Authenticate: Bearer`. The token's subject is the caller's
//!   [`Principal`]: the cache partitions per subject.
//! - `POST /demo/token` with `{"subject": "alice"}`: a token for that subject. **Demo only**:
//!   it runs the whole OAuth authorization-code flow (PKCE, consent, code exchange) inside the
//!   server for anyone who asks; a real server runs an authorization server or OAuth proxy.
//! - `GET /healthz`.
//!
//! Tools: `slow_square` (200 ms of work, cached per caller), `whoami` (cached per caller),
//! `executions` (how many times `slow_square` really ran in this process; not cached),
//! `cache_stats` (the cache statistics as JSON; not cached). Resource `demo://readme`; prompt
//! `greet`. `tools/list` is marked public (it does not depend on the caller).
//!
//! State (tokens, cached responses, session records) lives in one store: SQLite by default
//! (`./mcp-server-state.db`), Redis with `--redis`. The token encryption key is kept in
//! `--key-file` (default: next to the SQLite file, or `./mcp-server.key` with Redis), so
//! tokens, sessions and cached results survive a restart. `--namespace` puts all of it under one
//! namespace (`mcp-kv-wrappers`), so servers can share one Redis. The server prints where its state
//! lives, then `listening on http://ADDR/mcp` on stdout, and its cache statistics every
//! `--stats-every` seconds (default 30) and at shutdown.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::{header, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use mcp_kv_cache::rmcp::{principal_from_context, CachingHandler, KvSessionStore, Principal};
use mcp_kv_cache::{CacheConfig, Method, ResponseCache};
use mcp_kv_core::DynStore;
use mcp_kv_oauth::{
    pkce_challenge, AuthorizationRequest, ClientMetadata, CodeExchange, EncryptionKey, TokenStore,
};
use rmcp::model::*;
use rmcp::service::{RequestContext, RoleServer};
use rmcp::transport::streamable_http_server::session::local::LocalSessionManager;
use rmcp::transport::{StreamableHttpServerConfig, StreamableHttpService};
use rmcp::{ErrorData as McpError, ServerHandler};
use serde_json::json;

const DEMO_REDIRECT: &str = "http://127.0.0.1/callback";
const DEMO_VERIFIER: &str = "demo-pkce-verifier-0123456789-0123456789-0123456789";

struct Args {
    bind: String,
    sqlite: Option<PathBuf>,
    redis: Option<String>,
    key_file: Option<PathBuf>,
    audience: String,
    namespace: Option<String>,
    stats_every: Duration,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        bind: "127.0.0.1:8080".into(),
        sqlite: None,
        redis: None,
        key_file: None,
        audience: "http://127.0.0.1/mcp".into(),
        namespace: None,
        stats_every: Duration::from_secs(30),
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--bind" => args.bind = value()?,
            "--sqlite" => args.sqlite = Some(value()?.into()),
            "--redis" => args.redis = Some(value()?),
            "--key-file" => args.key_file = Some(value()?.into()),
            "--audience" => args.audience = value()?,
            "--namespace" => args.namespace = Some(value()?),
            "--stats-every" => {
                let secs: u64 = value()?.parse().map_err(|_| "--stats-every: seconds")?;
                args.stats_every = Duration::from_secs(secs.max(1));
            }
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

/// `redis://user:password@host` → `redis://***@host`.
fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}***{}", &url[..s + 3], &url[at..]),
        _ => url.to_string(),
    }
}

/// The token encryption key: read from `path`, or created there (0600) on first start.
fn load_or_create_key(path: &Path) -> Result<EncryptionKey, Box<dyn std::error::Error>> {
    let bytes = match std::fs::read_to_string(path) {
        Ok(hex_key) => hex::decode(hex_key.trim())?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let bytes: [u8; 32] = rand::random();
            let mut opts = std::fs::OpenOptions::new();
            opts.write(true).create_new(true);
            #[cfg(unix)]
            std::os::unix::fs::OpenOptionsExt::mode(&mut opts, 0o600);
            std::io::Write::write_all(&mut opts.open(path)?, hex::encode(bytes).as_bytes())?;
            bytes.to_vec()
        }
        Err(e) => return Err(e.into()),
    };
    Ok(EncryptionKey::from_bytes(1, &bytes)?)
}

/// The MCP server itself: knows nothing about caching.
#[derive(Clone)]
struct Demo {
    executions: Arc<AtomicU64>,
    cache: ResponseCache,
}

fn text_result(text: impl Into<String>) -> CallToolResponse {
    CallToolResult::success(vec![ContentBlock::text(text.into())]).into()
}

fn schema(value: serde_json::Value) -> Arc<JsonObject> {
    Arc::new(value.as_object().cloned().unwrap_or_default())
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
        _: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let n =
            json!({"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]});
        let none = json!({"type": "object", "properties": {}});
        Ok(ListToolsResult::with_all_items(vec![
            Tool::new(
                "slow_square",
                "n² after 200 ms of work (cached per caller)",
                schema(n),
            ),
            Tool::new(
                "whoami",
                "the caller's subject (cached per caller)",
                schema(none.clone()),
            ),
            Tool::new(
                "executions",
                "how many times slow_square really ran in this process",
                schema(none.clone()),
            ),
            Tool::new("cache_stats", "the response cache statistics", schema(none)),
        ]))
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        match request.name.as_ref() {
            "slow_square" => {
                let n = request
                    .arguments
                    .as_ref()
                    .and_then(|a| a.get("n"))
                    .and_then(|v| v.as_i64())
                    .ok_or_else(|| McpError::invalid_params("n: an integer is required", None))?;
                tokio::time::sleep(Duration::from_millis(200)).await;
                let run = self.executions.fetch_add(1, Ordering::SeqCst) + 1;
                Ok(text_result(format!(
                    "{n}² = {} (execution #{run})",
                    n.saturating_mul(n)
                )))
            }
            "whoami" => Ok(text_result(format!(
                "you are {}",
                principal_from_context(&context).unwrap_or_else(|| "anonymous".into())
            ))),
            "executions" => Ok(text_result(
                self.executions.load(Ordering::SeqCst).to_string(),
            )),
            "cache_stats" => Ok(text_result(self.cache.stats().to_json().to_string())),
            _ => Err(McpError::invalid_params("unknown tool", None)),
        }
    }

    async fn list_resources(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        Ok(ListResourcesResult::with_all_items(vec![Resource::new(
            "demo://readme",
            "readme",
        )]))
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        if request.uri != "demo://readme" {
            return Err(McpError::resource_not_found("no such resource", None));
        }
        Ok(ReadResourceResult::new(vec![ResourceContents::text(
            "This server caches its responses in mcp-kv.",
            request.uri,
        )])
        .into())
    }

    async fn list_prompts(
        &self,
        _: Option<PaginatedRequestParams>,
        _: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        Ok(ListPromptsResult::with_all_items(vec![Prompt::new(
            "greet",
            Some("a greeting"),
            Some(vec![PromptArgument::new("name")]),
        )]))
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        _: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        if request.name != "greet" {
            return Err(McpError::invalid_params("unknown prompt", None));
        }
        let name = request
            .arguments
            .as_ref()
            .and_then(|a| a.get("name"))
            .and_then(|v| v.as_str())
            .unwrap_or("world")
            .to_string();
        Ok(GetPromptResult::new(vec![PromptMessage::new_text(
            Role::User,
            format!("Say hello to {name}."),
        )])
        .into())
    }
}

#[derive(Clone)]
struct App {
    tokens: TokenStore,
    sessions: KvSessionStore,
    audience: String,
    demo_client_id: String,
}

fn unauthorized() -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::WWW_AUTHENTICATE, "Bearer")],
        "a valid bearer token is required",
    )
        .into_response()
}

/// The bearer-token layer: verify, attach the principal, keep the session record alive.
async fn authenticate(State(app): State<App>, mut request: Request, next: Next) -> Response {
    let token = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let Some(token) = token else {
        return unauthorized();
    };
    match app.tokens.verify_access(token, &app.audience).await {
        Ok(grant) => {
            request.extensions_mut().insert(Principal(grant.subject));
        }
        Err(_) => return unauthorized(),
    }
    if let Some(id) = request
        .headers()
        .get("mcp-session-id")
        .and_then(|v| v.to_str().ok())
    {
        let _ = app.sessions.touch(id).await;
    }
    next.run(request).await
}

#[derive(serde::Deserialize)]
struct TokenRequest {
    subject: String,
}

/// Demo only: the whole authorization-code flow for `subject`, server-side.
async fn demo_token(State(app): State<App>, Json(body): Json<TokenRequest>) -> Response {
    let flow = async {
        let request = AuthorizationRequest::new(
            &app.demo_client_id,
            DEMO_REDIRECT,
            pkce_challenge(DEMO_VERIFIER),
            &app.audience,
        )
        .scopes(["mcp"]);
        let pending = app.tokens.begin_authorization(request).await?;
        let state = pending.state.expose_secret();
        let auth = app.tokens.attach_subject(state, &body.subject).await?;
        app.tokens
            .grant_consent(
                &body.subject,
                &auth.client_id,
                &auth.redirect_uri,
                &auth.resource,
                &auth.scopes,
                None,
            )
            .await?;
        let issued = app.tokens.complete_authorization(state, None).await?;
        app.tokens
            .exchange_code(CodeExchange::new(
                issued.code,
                &app.demo_client_id,
                DEMO_REDIRECT,
                DEMO_VERIFIER,
            ))
            .await
    };
    match flow.await {
        Ok(pair) => Json(json!({
            "access_token": pair.access_token.expose_secret(),
            "token_type": "Bearer",
            "expires_in": pair.expires_in.as_secs(),
        }))
        .into_response(),
        Err(e) => (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    }
}

async fn open_store(args: &Args) -> Result<(DynStore, PathBuf), Box<dyn std::error::Error>> {
    if let Some(url) = &args.redis {
        let store = mcp_kv_redis::RedisStore::open(url).await?;
        eprintln!("mcp_server: state on Redis at {}", redact_url(url));
        let key = args
            .key_file
            .clone()
            .unwrap_or_else(|| PathBuf::from("mcp-server.key"));
        return Ok((Arc::new(store), key));
    }
    let path = args
        .sqlite
        .clone()
        .unwrap_or_else(|| PathBuf::from("mcp-server-state.db"));
    let store = mcp_kv_sqlite::SqliteStore::open(&path)?;
    let shown = std::fs::canonicalize(&path).unwrap_or(path.clone());
    eprintln!("mcp_server: state on SQLite at {}", shown.display());
    let key = args
        .key_file
        .clone()
        .unwrap_or_else(|| path.with_extension("key"));
    Ok((Arc::new(store), key))
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = parse_args().map_err(|e| format!("mcp_server: {e}"))?;
    let (mut store, key_file) = open_store(&args).await?;
    if let Some(ns) = &args.namespace {
        // Several servers (or test runs) can share one Redis without seeing each other's state.
        store = Arc::new(mcp_kv_wrappers::namespace::Namespace::new(
            store,
            ns.clone(),
        )?);
        eprintln!("mcp_server: namespace {ns}");
    }
    eprintln!("mcp_server: token key in {}", key_file.display());

    let tokens = TokenStore::builder(store.clone())
        .encryption_key(load_or_create_key(&key_file)?)
        .build()?;
    let demo_client = tokens
        .register_client(ClientMetadata::new([DEMO_REDIRECT]))
        .await?;

    let cache = ResponseCache::builder(store.clone())
        .config(
            CacheConfig::builder()
                .include_tool("slow_square")
                .include_tool("whoami")
                .public(Method::ToolsList, true)
                .build(),
        )
        .build();
    let sessions = KvSessionStore::new(store.clone());
    let demo = Demo {
        executions: Arc::new(AtomicU64::new(0)),
        cache: cache.clone(),
    };

    let shutdown = tokio_util::sync::CancellationToken::new();
    let mut config = StreamableHttpServerConfig::default()
        .with_cancellation_token(shutdown.child_token())
        .with_sse_keep_alive(Some(Duration::from_secs(15)));
    config.session_store = Some(Arc::new(sessions.clone()));
    let mcp = StreamableHttpService::new(
        {
            let (demo, cache) = (demo.clone(), cache.clone());
            move || Ok(CachingHandler::new(demo.clone(), cache.clone()))
        },
        Arc::new(LocalSessionManager::default()),
        config,
    );

    let app = App {
        tokens,
        sessions,
        audience: args.audience.clone(),
        demo_client_id: demo_client.client_id.clone(),
    };
    let router = Router::new()
        .nest_service("/mcp", mcp)
        .layer(axum::middleware::from_fn_with_state(
            app.clone(),
            authenticate,
        ))
        .route("/demo/token", post(demo_token))
        .route("/healthz", get(|| async { "ok" }))
        .with_state(app);

    let listener = tokio::net::TcpListener::bind(&args.bind).await?;
    let addr = listener.local_addr()?;
    println!("listening on http://{addr}/mcp");
    std::io::Write::flush(&mut std::io::stdout())?;

    let stats_task = {
        let (cache, every) = (cache.clone(), args.stats_every);
        tokio::spawn(async move {
            let mut last = String::new();
            loop {
                tokio::time::sleep(every).await;
                let now = cache.stats().to_string();
                if now != last && !now.is_empty() {
                    eprint!("mcp_server: cache statistics\n{now}");
                    last = now;
                }
            }
        })
    };

    let stop = shutdown.clone();
    tokio::spawn(async move {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            if let Ok(mut term) = signal(SignalKind::terminate()) {
                tokio::select! {
                    _ = term.recv() => {}
                    _ = tokio::signal::ctrl_c() => {}
                }
            } else {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        stop.cancel();
    });

    axum::serve(listener, router)
        .with_graceful_shutdown(async move { shutdown.cancelled_owned().await })
        .await?;
    stats_task.abort();
    eprint!("mcp_server: final cache statistics\n{}", cache.stats());
    store.close().await?;
    Ok(())
}
