//! What is cached, for how long, and who shares it: [`Method`], [`CacheConfig`] and its
//! [`CacheConfigBuilder`].

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::time::Duration;

/// Default TTL of the list methods (`tools/list`, `resources/list`, `prompts/list`).
pub const DEFAULT_LIST_TTL: Duration = Duration::from_secs(300);
/// Default TTL of the other methods (`resources/read`, `prompts/get`, `tools/call`).
pub const DEFAULT_ITEM_TTL: Duration = Duration::from_secs(3600);
/// Default largest encoded result that is cached: 1 MiB.
pub const DEFAULT_MAX_ITEM_BYTES: usize = 1024 * 1024;
/// Default prefix of the collections the cache writes.
pub const DEFAULT_COLLECTION_PREFIX: &str = "mcp-kv.cache";

/// The MCP methods whose results the cache can hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Method {
    /// `tools/list`.
    ToolsList,
    /// `resources/list`.
    ResourcesList,
    /// `prompts/list`.
    PromptsList,
    /// `resources/read`.
    ResourcesRead,
    /// `prompts/get`.
    PromptsGet,
    /// `tools/call`.
    ToolsCall,
}

impl Method {
    /// Every method, in index order.
    pub const ALL: [Method; 6] = [
        Method::ToolsList,
        Method::ResourcesList,
        Method::PromptsList,
        Method::ResourcesRead,
        Method::PromptsGet,
        Method::ToolsCall,
    ];

    /// The JSON-RPC method name, e.g. `"tools/call"`.
    pub const fn as_str(self) -> &'static str {
        match self {
            Method::ToolsList => "tools/list",
            Method::ResourcesList => "resources/list",
            Method::PromptsList => "prompts/list",
            Method::ResourcesRead => "resources/read",
            Method::PromptsGet => "prompts/get",
            Method::ToolsCall => "tools/call",
        }
    }

    /// The method named `name`, if it is one the cache handles.
    pub fn from_name(name: &str) -> Option<Method> {
        Method::ALL.into_iter().find(|m| m.as_str() == name)
    }

    /// Whether this is one of the three list methods.
    pub const fn is_list(self) -> bool {
        matches!(
            self,
            Method::ToolsList | Method::ResourcesList | Method::PromptsList
        )
    }

    /// The name of the item a request of this method is about, read from its params: the tool
    /// (`tools/call`) or prompt (`prompts/get`) name, the resource URI (`resources/read`);
    /// `None` for the list methods.
    pub fn item_name(self, params: &serde_json::Value) -> Option<&str> {
        let field = match self {
            Method::ToolsCall | Method::PromptsGet => "name",
            Method::ResourcesRead => "uri",
            _ => return None,
        };
        params.get(field).and_then(|v| v.as_str())
    }

    pub(crate) const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Method {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The settings of one method.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct MethodSettings {
    /// Whether results of this method are cached at all.
    pub enabled: bool,
    /// How long a cached result is served.
    pub ttl: Duration,
    /// Whether every caller shares one partition for this method. `false` (the default): each
    /// principal has its own partition, because a response may depend on the caller.
    pub public: bool,
    /// Items (tool names, prompt names, resource URIs) never cached.
    pub exclude: HashSet<String>,
    /// Items cached in the shared public partition even though the method is not public.
    pub public_items: HashSet<String>,
    /// Per-item TTL overrides.
    pub item_ttl: HashMap<String, Duration>,
}

impl MethodSettings {
    fn defaults(method: Method) -> Self {
        MethodSettings {
            enabled: true,
            ttl: if method.is_list() {
                DEFAULT_LIST_TTL
            } else {
                DEFAULT_ITEM_TTL
            },
            public: false,
            exclude: HashSet::new(),
            public_items: HashSet::new(),
            item_ttl: HashMap::new(),
        }
    }
}

/// Which tools `tools/call` caches: none unless included (calls have side effects in general).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum ToolInclude {
    /// No tool (the default).
    #[default]
    None,
    /// Only the listed tools.
    Only(HashSet<String>),
    /// Every tool not excluded.
    All,
}

/// The cache's configuration. Build it with [`CacheConfig::builder`].
///
/// | method | default | TTL | partition |
/// |---|---|---|---|
/// | `tools/list`, `resources/list`, `prompts/list` | on | 300 s | per principal |
/// | `resources/read`, `prompts/get` | on | 3600 s | per principal |
/// | `tools/call` | on for included tools only (none by default) | 3600 s | per principal |
///
/// ```
/// use std::time::Duration;
/// use mcp_kv_cache::{CacheConfig, Method};
///
/// let config = CacheConfig::builder()
///     .include_tool("weather")                      // tools/call is opt-in per tool
///     .public_item(Method::ToolsCall, "weather")    // same answer for every caller
///     .ttl(Method::ToolsList, Duration::from_secs(60))
///     .public(Method::ToolsList, true)              // the tool list does not depend on the caller
///     .exclude(Method::ResourcesRead, "file:///live.log")
///     .build();
/// assert!(config.is_cached(Method::ToolsCall, Some("weather")));
/// assert!(!config.is_cached(Method::ToolsCall, Some("send_email")));
/// assert!(!config.is_cached(Method::ResourcesRead, Some("file:///live.log")));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheConfig {
    /// Settings per method, indexed like [`Method::ALL`].
    pub methods: [MethodSettings; 6],
    /// Which tools `tools/call` caches (the exclude list of `tools/call` still applies).
    pub tools_include: ToolInclude,
    /// Largest encoded result cached; larger ones are served but not cached (counted as
    /// skipped). Also capped by the store's `max_value_bytes`.
    pub max_item_bytes: usize,
    /// Prefix of the collections the cache writes (`<prefix>/<method>/<partition>`).
    pub collection_prefix: String,
    /// Whether results' own cache hints (`ttlMs`, `cacheScope`) are honoured.
    pub honor_hints: bool,
}

impl Default for CacheConfig {
    fn default() -> Self {
        CacheConfig {
            methods: Method::ALL.map(MethodSettings::defaults),
            tools_include: ToolInclude::None,
            max_item_bytes: DEFAULT_MAX_ITEM_BYTES,
            collection_prefix: DEFAULT_COLLECTION_PREFIX.to_string(),
            honor_hints: true,
        }
    }
}

impl CacheConfig {
    /// A builder starting from the defaults.
    pub fn builder() -> CacheConfigBuilder {
        CacheConfigBuilder {
            config: CacheConfig::default(),
        }
    }

    /// The settings of `method`.
    pub fn method(&self, method: Method) -> &MethodSettings {
        &self.methods[method.index()]
    }

    /// Whether a request of `method` about `item` (see [`Method::item_name`]) is cached.
    pub fn is_cached(&self, method: Method, item: Option<&str>) -> bool {
        let settings = self.method(method);
        if !settings.enabled {
            return false;
        }
        if let Some(item) = item {
            if settings.exclude.contains(item) {
                return false;
            }
        }
        if method == Method::ToolsCall {
            return match (&self.tools_include, item) {
                (ToolInclude::All, _) => true,
                (ToolInclude::Only(set), Some(item)) => set.contains(item),
                _ => false,
            };
        }
        true
    }

    /// Whether a request of `method` about `item` is cached in the shared public partition.
    pub fn is_public(&self, method: Method, item: Option<&str>) -> bool {
        let settings = self.method(method);
        settings.public || item.is_some_and(|i| settings.public_items.contains(i))
    }

    /// The configured TTL of `method` for `item`.
    pub fn ttl(&self, method: Method, item: Option<&str>) -> Duration {
        let settings = self.method(method);
        item.and_then(|i| settings.item_ttl.get(i).copied())
            .unwrap_or(settings.ttl)
    }
}

/// Builds a [`CacheConfig`].
#[derive(Debug, Clone)]
pub struct CacheConfigBuilder {
    config: CacheConfig,
}

impl CacheConfigBuilder {
    fn settings(&mut self, method: Method) -> &mut MethodSettings {
        &mut self.config.methods[method.index()]
    }

    /// Turns caching of `method` on or off.
    pub fn enable(mut self, method: Method, enabled: bool) -> Self {
        self.settings(method).enabled = enabled;
        self
    }

    /// Sets the TTL of `method`.
    pub fn ttl(mut self, method: Method, ttl: Duration) -> Self {
        self.settings(method).ttl = ttl;
        self
    }

    /// Sets the TTL of one item of `method` (a tool, a prompt, a resource URI).
    pub fn item_ttl(mut self, method: Method, item: impl Into<String>, ttl: Duration) -> Self {
        self.settings(method).item_ttl.insert(item.into(), ttl);
        self
    }

    /// Marks `method` public: one partition shared by every caller. Only for methods whose
    /// responses never depend on who asks.
    pub fn public(mut self, method: Method, public: bool) -> Self {
        self.settings(method).public = public;
        self
    }

    /// Marks one item of `method` public (see [`public`](Self::public)).
    pub fn public_item(mut self, method: Method, item: impl Into<String>) -> Self {
        self.settings(method).public_items.insert(item.into());
        self
    }

    /// Never caches this item of `method`.
    pub fn exclude(mut self, method: Method, item: impl Into<String>) -> Self {
        self.settings(method).exclude.insert(item.into());
        self
    }

    /// Caches `tools/call` results of tool `name` (opt-in; see [`ToolInclude`]).
    pub fn include_tool(mut self, name: impl Into<String>) -> Self {
        match &mut self.config.tools_include {
            ToolInclude::All => {}
            ToolInclude::Only(set) => {
                set.insert(name.into());
            }
            include @ ToolInclude::None => {
                *include = ToolInclude::Only(HashSet::from([name.into()]));
            }
        }
        self
    }

    /// Caches `tools/call` results of every tool not excluded.
    ///
    /// Tool annotations (`readOnlyHint`, `destructiveHint`, `idempotentHint`) are not
    /// consulted: a tool with side effects, once cached, does not run again for identical
    /// arguments until its entry expires. Exclude such tools, or list the cacheable ones with
    /// [`include_tool`](Self::include_tool) instead.
    pub fn include_all_tools(mut self) -> Self {
        self.config.tools_include = ToolInclude::All;
        self
    }

    /// Never caches `tools/call` results of tool `name`.
    pub fn exclude_tool(self, name: impl Into<String>) -> Self {
        self.exclude(Method::ToolsCall, name)
    }

    /// Sets the largest encoded result cached (default 1 MiB).
    pub fn max_item_bytes(mut self, bytes: usize) -> Self {
        self.config.max_item_bytes = bytes;
        self
    }

    /// Sets the prefix of the cache's collections (default `mcp-kv.cache`).
    pub fn collection_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.config.collection_prefix = prefix.into();
        self
    }

    /// Whether to honour results' own cache hints (default `true`).
    pub fn honor_hints(mut self, honor: bool) -> Self {
        self.config.honor_hints = honor;
        self
    }

    /// The configuration.
    pub fn build(self) -> CacheConfig {
        self.config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults() {
        let c = CacheConfig::default();
        assert_eq!(c.ttl(Method::ToolsList, None), Duration::from_secs(300));
        assert_eq!(
            c.ttl(Method::PromptsGet, Some("p")),
            Duration::from_secs(3600)
        );
        assert!(c.is_cached(Method::ResourcesRead, Some("file:///a")));
        assert!(!c.is_cached(Method::ToolsCall, Some("t")));
        assert!(!c.is_public(Method::ToolsList, None));
        assert_eq!(c.max_item_bytes, 1024 * 1024);
    }

    #[test]
    fn include_exclude_public() {
        let c = CacheConfig::builder()
            .include_all_tools()
            .exclude_tool("danger")
            .public_item(Method::ToolsCall, "pub")
            .item_ttl(Method::ToolsCall, "short", Duration::from_secs(5))
            .enable(Method::PromptsList, false)
            .build();
        assert!(c.is_cached(Method::ToolsCall, Some("any")));
        assert!(!c.is_cached(Method::ToolsCall, Some("danger")));
        assert!(!c.is_cached(Method::PromptsList, None));
        assert!(c.is_public(Method::ToolsCall, Some("pub")));
        assert!(!c.is_public(Method::ToolsCall, Some("any")));
        assert_eq!(
            c.ttl(Method::ToolsCall, Some("short")),
            Duration::from_secs(5)
        );
        assert_eq!(Method::from_name("tools/call"), Some(Method::ToolsCall));
        assert_eq!(Method::from_name("ping"), None);
    }
}
