#![allow(deprecated)] // forwarding deprecated (legacy-protocol) methods unchanged is intended
//! [`CachingHandler`]: a caching wrapper around any rmcp [`ServerHandler`].

use std::borrow::Cow;
use std::fmt;
use std::future::Future;
use std::sync::Arc;

use rmcp::model::*;
use rmcp::service::{
    MaybeSendFuture, NotificationContext, RequestContext, RoleServer, SubscriptionContext,
};
use rmcp::{ErrorData as McpError, ServerHandler};
use serde::Serialize;
use serde_json::Value;

use super::values::Served;
use crate::{Method, ResponseCache};

/// The caller's identity, for partitioning: put it in the request's extensions (an HTTP
/// auth layer inserts it into the `http::Request` extensions; rmcp hands those to the
/// handler inside `http::request::Parts`).
///
/// It is hashed before it names a partition; `Debug` shows only its length.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct Principal(pub String);

impl fmt::Debug for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Principal(<{} bytes>)", self.0.len())
    }
}

/// Finds the caller's identity in a request context: a [`Principal`] in the context's
/// extensions, or in the extensions of the HTTP request (`http::request::Parts`) that rmcp's
/// streamable-HTTP transport puts there. `None`: the anonymous partition.
///
/// Only this crate's [`Principal`] type is looked for: an auth layer that stores its own type
/// (a claims struct, say) leaves **every caller anonymous** — one partition shared by all of
/// them, so per-user results are served across users. Insert a `Principal` in that layer, or
/// give [`CachingHandler::with_principal`] a function that reads your type.
pub fn principal_from_context(context: &RequestContext<RoleServer>) -> Option<String> {
    context
        .extensions
        .get::<Principal>()
        .or_else(|| {
            context
                .extensions
                .get::<http::request::Parts>()
                .and_then(|parts| parts.extensions.get::<Principal>())
        })
        .map(|p| p.0.clone())
}

type PrincipalFn = Arc<dyn Fn(&RequestContext<RoleServer>) -> Option<String> + Send + Sync>;

/// What of the *client*, besides the request's params, the protocol version and the caller's
/// partition, goes into a cache key — what a handler's results may depend on. Set with
/// [`CachingHandler::vary_on`].
///
/// A handler that shapes a result by what the client declared (tools that carry an MCP Apps
/// UI only for clients with the `io.modelcontextprotocol/ui` extension, say, or a result
/// asking for elicitation only when the client supports it) must not have it served to a
/// client that declared otherwise. The client's capabilities come from its `initialize`
/// request or, under the stateless protocol, from each request's `_meta`
/// (`RequestContext::client_capabilities`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum VaryOn {
    /// Nothing of the client: every client with the same request shares one entry. Right when
    /// no result depends on the client; the highest hit rate.
    Nothing,
    /// The client's declared capabilities (the default): clients that declared the same
    /// capabilities share entries, typically every instance of one client application.
    #[default]
    ClientCapabilities,
    /// The capabilities and the client implementation (`clientInfo`: name, version): for
    /// handlers that work around particular clients.
    ClientCapabilitiesAndInfo,
}

/// Wraps an rmcp [`ServerHandler`] and serves `tools/list`, `resources/list`, `prompts/list`,
/// `resources/read`, `prompts/get` and `tools/call` through a [`ResponseCache`]; every other
/// method goes straight to the inner handler.
///
/// - Keys: the request params without `_meta` (progress tokens and the like), plus the
///   negotiated protocol version and, by default, the client's declared capabilities
///   ([`VaryOn`], [`vary_on`](Self::vary_on)), canonicalized and hashed.
/// - Partition: per caller, from [`principal_from_context`] (or
///   [`with_principal`](Self::with_principal)), unless the method or item is configured
///   public.
/// - Only complete, non-error results are cached: `Err`, `CallToolResult { is_error: true }`,
///   input-required and task results are passed through, never stored.
/// - The cache hints of this rmcp version are honoured: `ttl_ms` (on the list results and
///   `ReadResourceResult`) caps the TTL, `0` means not cached; `cache_scope: private` keeps a
///   result out of the public and the anonymous partitions. A hit hands back the hint as it
///   was stored (not reduced by the entry's age). `CallToolResult` and `GetPromptResult` carry no hints
///   in this rmcp version: the configured TTL applies.
/// - Validation and the protocol-version shaping of results stay rmcp's: they run around this
///   wrapper on every request, hit or miss.
///
/// Call [`ResponseCache::invalidate_method`] when the server sends a list-changed
/// notification.
#[derive(Clone)]
pub struct CachingHandler<H> {
    inner: H,
    cache: ResponseCache,
    principal: PrincipalFn,
    vary: VaryOn,
}

impl<H: fmt::Debug> fmt::Debug for CachingHandler<H> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CachingHandler")
            .field("inner", &self.inner)
            .field("cache", &self.cache)
            .field("vary", &self.vary)
            .finish()
    }
}

impl<H: ServerHandler> CachingHandler<H> {
    /// Wraps `inner`, caching through `cache`.
    pub fn new(inner: H, cache: ResponseCache) -> Self {
        CachingHandler {
            inner,
            cache,
            principal: Arc::new(principal_from_context),
            vary: VaryOn::default(),
        }
    }

    /// Sets what of the client goes into cache keys (default
    /// [`VaryOn::ClientCapabilities`]).
    pub fn vary_on(mut self, vary: VaryOn) -> Self {
        self.vary = vary;
        self
    }

    /// Replaces how the caller's identity is found (default: [`principal_from_context`]).
    pub fn with_principal(
        mut self,
        f: impl Fn(&RequestContext<RoleServer>) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.principal = Arc::new(f);
        self
    }

    /// The cache.
    pub fn cache(&self) -> &ResponseCache {
        &self.cache
    }

    /// The wrapped handler.
    pub fn inner(&self) -> &H {
        &self.inner
    }

    fn key<P: Serialize>(&self, params: &P, context: &RequestContext<RoleServer>) -> Value {
        let mut value = serde_json::to_value(params).unwrap_or(Value::Null);
        if !value.is_object() {
            value = Value::Object(Default::default());
        }
        if let Value::Object(map) = &mut value {
            map.remove("_meta");
            // `tools/call` and `prompts/get` without arguments mean the same as with `{}` (or
            // `null`): one entry, not two.
            if map
                .get("arguments")
                .is_some_and(|a| a.is_null() || a == &Value::Object(Default::default()))
            {
                map.remove("arguments");
            }
            let version = context.protocol_version();
            map.insert(
                "@protocolVersion".into(),
                version.map_or(Value::Null, |v| Value::String(v.as_str().to_string())),
            );
            let json = |v: Option<Value>| v.unwrap_or(Value::Null);
            if self.vary != VaryOn::Nothing {
                let caps = context.client_capabilities();
                let caps = caps.and_then(|c| serde_json::to_value(c).ok());
                map.insert("@clientCapabilities".into(), json(caps));
            }
            if self.vary == VaryOn::ClientCapabilitiesAndInfo {
                let info = context.client_info();
                let info = info.and_then(|i| serde_json::to_value(i).ok());
                map.insert("@clientInfo".into(), json(info));
            }
        }
        value
    }

    async fn cached<T, F, Fut>(
        &self,
        method: Method,
        params: Value,
        context: &RequestContext<RoleServer>,
        compute: F,
    ) -> Result<T, McpError>
    where
        T: crate::CacheValue,
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<T, McpError>>,
    {
        let principal = (self.principal)(context);
        self.cache
            .get_or_compute_as(method, &params, principal.as_deref(), compute)
            .await
    }
}

impl<H: ServerHandler> ServerHandler for CachingHandler<H> {
    async fn list_tools(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListToolsResult, McpError> {
        let key = self.key(&request, &context);
        let ctx = context.clone();
        self.cached(Method::ToolsList, key, &ctx, || {
            self.inner.list_tools(request, context)
        })
        .await
    }

    async fn list_resources(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListResourcesResult, McpError> {
        let key = self.key(&request, &context);
        let ctx = context.clone();
        self.cached(Method::ResourcesList, key, &ctx, || {
            self.inner.list_resources(request, context)
        })
        .await
    }

    async fn list_prompts(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> Result<ListPromptsResult, McpError> {
        let key = self.key(&request, &context);
        let ctx = context.clone();
        self.cached(Method::PromptsList, key, &ctx, || {
            self.inner.list_prompts(request, context)
        })
        .await
    }

    async fn read_resource(
        &self,
        request: ReadResourceRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<ReadResourceResponse, McpError> {
        let key = self.key(&request, &context);
        let ctx = context.clone();
        self.cached(Method::ResourcesRead, key, &ctx, || async {
            Ok(match self.inner.read_resource(request, context).await? {
                ReadResourceResponse::Complete(r) => Served::Complete(r),
                other => Served::Other(other),
            })
        })
        .await
        .map(|served| match served {
            Served::Complete(r) => ReadResourceResponse::Complete(r),
            Served::Other(other) => other,
        })
    }

    async fn get_prompt(
        &self,
        request: GetPromptRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<GetPromptResponse, McpError> {
        let key = self.key(&request, &context);
        let ctx = context.clone();
        self.cached(Method::PromptsGet, key, &ctx, || async {
            Ok(match self.inner.get_prompt(request, context).await? {
                GetPromptResponse::Complete(r) => Served::Complete(r),
                other => Served::Other(other),
            })
        })
        .await
        .map(|served| match served {
            Served::Complete(r) => GetPromptResponse::Complete(r),
            Served::Other(other) => other,
        })
    }

    async fn call_tool(
        &self,
        request: CallToolRequestParams,
        context: RequestContext<RoleServer>,
    ) -> Result<CallToolResponse, McpError> {
        let key = self.key(&request, &context);
        let ctx = context.clone();
        self.cached(Method::ToolsCall, key, &ctx, || async {
            Ok(match self.inner.call_tool(request, context).await? {
                CallToolResponse::Complete(r) => Served::Complete(r),
                other => Served::Other(other),
            })
        })
        .await
        .map(|served| match served {
            Served::Complete(r) => CallToolResponse::Complete(r),
            Served::Other(other) => other,
        })
    }

    // Everything else is forwarded unchanged.
    fn ping(
        &self,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        self.inner.ping(context)
    }

    fn initialize(
        &self,
        request: InitializeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<InitializeResult, McpError>> + MaybeSendFuture + '_ {
        self.inner.initialize(request, context)
    }

    fn negotiate_initialize(
        &self,
        request: &InitializeRequestParams,
    ) -> Result<InitializeResult, McpError> {
        self.inner.negotiate_initialize(request)
    }

    fn supported_protocol_versions(&self) -> Cow<'static, [ProtocolVersion]> {
        self.inner.supported_protocol_versions()
    }

    fn discover(
        &self,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<DiscoverResult, McpError>> + MaybeSendFuture + '_ {
        self.inner.discover(context)
    }

    fn complete(
        &self,
        request: CompleteRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<CompleteResult, McpError>> + MaybeSendFuture + '_ {
        self.inner.complete(request, context)
    }

    fn set_level(
        &self,
        request: SetLevelRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        self.inner.set_level(request, context)
    }

    fn list_resource_templates(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListResourceTemplatesResult, McpError>> + MaybeSendFuture + '_
    {
        self.inner.list_resource_templates(request, context)
    }

    fn accepted_subscription_filter(
        &self,
        requested: &SubscriptionFilter,
    ) -> Option<SubscriptionFilter> {
        self.inner.accepted_subscription_filter(requested)
    }

    fn listen(
        &self,
        context: SubscriptionContext,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        self.inner.listen(context)
    }

    fn subscribe(
        &self,
        request: SubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        self.inner.subscribe(request, context)
    }

    fn unsubscribe(
        &self,
        request: UnsubscribeRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        self.inner.unsubscribe(request, context)
    }

    fn get_tool(&self, name: &str) -> Option<Tool> {
        self.inner.get_tool(name)
    }

    fn on_custom_request(
        &self,
        request: CustomRequest,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<CustomResult, McpError>> + MaybeSendFuture + '_ {
        self.inner.on_custom_request(request, context)
    }

    fn on_cancelled(
        &self,
        notification: CancelledNotificationParam,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.inner.on_cancelled(notification, context)
    }

    fn on_progress(
        &self,
        notification: ProgressNotificationParam,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.inner.on_progress(notification, context)
    }

    fn on_initialized(
        &self,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.inner.on_initialized(context)
    }

    fn on_roots_list_changed(
        &self,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.inner.on_roots_list_changed(context)
    }

    fn on_custom_notification(
        &self,
        notification: CustomNotification,
        context: NotificationContext<RoleServer>,
    ) -> impl Future<Output = ()> + MaybeSendFuture + '_ {
        self.inner.on_custom_notification(notification, context)
    }

    fn get_info(&self) -> ServerConfig {
        self.inner.get_info()
    }

    fn get_task(
        &self,
        request: GetTaskParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<GetTaskResult, McpError>> + MaybeSendFuture + '_ {
        self.inner.get_task(request, context)
    }

    fn update_task(
        &self,
        request: UpdateTaskParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        self.inner.update_task(request, context)
    }

    fn cancel_task(
        &self,
        request: CancelTaskParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<(), McpError>> + MaybeSendFuture + '_ {
        self.inner.cancel_task(request, context)
    }

    fn list_skills(
        &self,
        request: Option<PaginatedRequestParams>,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ListSkillsResult, McpError>> + MaybeSendFuture + '_ {
        self.inner.list_skills(request, context)
    }

    fn get_skill(
        &self,
        request: GetSkillRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<GetSkillResult, McpError>> + MaybeSendFuture + '_ {
        self.inner.get_skill(request, context)
    }

    fn read_resource_directory(
        &self,
        request: ReadResourceDirectoryRequestParams,
        context: RequestContext<RoleServer>,
    ) -> impl Future<Output = Result<ReadResourceDirectoryResult, McpError>> + MaybeSendFuture + '_
    {
        self.inner.read_resource_directory(request, context)
    }
}
