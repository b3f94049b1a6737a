//! The configuration of a [`RedisStore`](crate::RedisStore): where the server is, how keys are
//! prefixed, and how long an operation may take.
//!
//! From a URL:
//!
//! - `redis://[user[:password]@]host[:port][/db]` — one standalone server;
//! - `rediss://…` — the same over TLS (feature `tls`); `rediss://host/#insecure` skips hostname
//!   verification only if the redis crate was built with `tls-rustls-insecure`;
//! - `redis://h1:p1,redis://h2:p2,…` (comma-separated, or [`RedisConfigBuilder::cluster_nodes`])
//!   — the seed nodes of a Redis Cluster (feature `cluster`).
//!
//! `Debug` never prints a password: URLs are shown as `host:port` with `password: <redacted>`.

use std::fmt;
use std::time::Duration;

use mcp_kv_core::{Error, ErrorKind, Result};
use redis::{ConnectionAddr, ConnectionInfo, IntoConnectionInfo};

use crate::encoding::{check_prefix, DEFAULT_PREFIX};

/// The largest value the store accepts by default: 16 MiB.
///
/// Redis itself takes up to 512 MiB (`proto-max-bulk-len`), but one connection is multiplexed
/// between every caller of a store, and a value travels in one piece: while a large value is
/// written or read, every other call of the store waits behind it (measured on loopback in a
/// debug build: ~1.1 s for a 64 MiB put + get, during which short TTL checks of other callers
/// came back late). 16 MiB keeps that stall bounded and matches the other backends' default.
/// Raise it with [`RedisConfigBuilder::max_value_bytes`] (at most [`REDIS_MAX_VALUE_BYTES`]).
pub const DEFAULT_MAX_VALUE_BYTES: usize = 16 * 1024 * 1024;

/// Redis' own limit on one string: 512 MiB.
pub const REDIS_MAX_VALUE_BYTES: usize = 512 * 1024 * 1024;

/// Where a store connects: one server or a cluster's seed nodes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Topology {
    /// One server (or a proxy in front of several), through a reconnecting multiplexed
    /// connection.
    Standalone,
    /// A Redis Cluster, through the redis crate's async cluster client (feature `cluster`).
    Cluster,
}

/// The configuration of a [`RedisStore`](crate::RedisStore). Build it with
/// [`RedisConfig::builder`] or [`RedisConfig::from_url`].
///
/// ```
/// use std::time::Duration;
/// use mcp_kv_redis::RedisConfig;
///
/// let config = RedisConfig::builder()
///     .url("redis://app:s3cret@127.0.0.1:6380/2")
///     .prefix("myapp:")
///     .timeout(Duration::from_millis(500))
///     .build()?;
/// assert_eq!(config.db(), 2);
/// assert!(!format!("{config:?}").contains("s3cret"));
/// # Ok::<(), mcp_kv_core::Error>(())
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct RedisConfig {
    pub(crate) nodes: Vec<ConnectionInfo>,
    pub(crate) topology: Topology,
    pub(crate) prefix: String,
    pub(crate) timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) reconnect_retries: usize,
    pub(crate) max_value_bytes: usize,
    pub(crate) take_with_script: bool,
}

impl RedisConfig {
    /// A builder with the defaults: prefix `mcp-kv:`, 2 s per operation, 1 s per connection
    /// attempt, 2 reconnection retries, 16 MiB values.
    pub fn builder() -> RedisConfigBuilder {
        RedisConfigBuilder::default()
    }

    /// A configuration from a URL (see the [module docs](self)) with every other setting at
    /// its default. A comma-separated list of URLs is a cluster.
    pub fn from_url(url: &str) -> Result<Self> {
        Self::builder().url(url).build()
    }

    /// Standalone or cluster.
    pub fn topology(&self) -> Topology {
        self.topology
    }

    /// The key prefix.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// The deadline of one operation (connection wait included).
    pub fn timeout(&self) -> Duration {
        self.timeout
    }

    /// The deadline of one connection attempt.
    pub fn connect_timeout(&self) -> Duration {
        self.connect_timeout
    }

    /// The largest value accepted.
    pub fn max_value_bytes(&self) -> usize {
        self.max_value_bytes
    }

    /// The database number (always 0 for a cluster).
    pub fn db(&self) -> i64 {
        self.nodes.first().map_or(0, |n| n.redis_settings().db())
    }
}

impl fmt::Debug for RedisConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisConfig")
            .field(
                "nodes",
                &self.nodes.iter().map(RedactedNode).collect::<Vec<_>>(),
            )
            .field("topology", &self.topology)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("reconnect_retries", &self.reconnect_retries)
            .field("max_value_bytes", &self.max_value_bytes)
            .field("take_with_script", &self.take_with_script)
            .finish()
    }
}

/// A node shown without its password.
struct RedactedNode<'a>(&'a ConnectionInfo);

impl fmt::Debug for RedactedNode<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let redis = self.0.redis_settings();
        let (addr, tls) = match self.0.addr() {
            ConnectionAddr::Tcp(host, port) => (format!("{host}:{port}"), false),
            ConnectionAddr::TcpTls { host, port, .. } => (format!("{host}:{port}"), true),
            ConnectionAddr::Unix(path) => (path.display().to_string(), false),
            _ => ("<other>".to_string(), false),
        };
        f.debug_struct("Node")
            .field("addr", &addr)
            .field("tls", &tls)
            .field("db", &redis.db())
            .field("username", &redis.username())
            .field("password", &redis.password().map(|_| "<redacted>"))
            .finish()
    }
}

/// Builds a [`RedisConfig`]; errors are reported by [`build`](RedisConfigBuilder::build).
#[derive(Default)]
pub struct RedisConfigBuilder {
    urls: Vec<String>,
    cluster: Option<bool>,
    username: Option<String>,
    password: Option<String>,
    db: Option<i64>,
    prefix: Option<String>,
    timeout: Option<Duration>,
    connect_timeout: Option<Duration>,
    reconnect_retries: Option<usize>,
    max_value_bytes: Option<usize>,
    take_with_script: bool,
}

impl fmt::Debug for RedisConfigBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // URLs may hold passwords: count them only.
        f.debug_struct("RedisConfigBuilder")
            .field("urls", &self.urls.len())
            .field("cluster", &self.cluster)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("db", &self.db)
            .field("prefix", &self.prefix)
            .field("timeout", &self.timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("reconnect_retries", &self.reconnect_retries)
            .field("max_value_bytes", &self.max_value_bytes)
            .finish()
    }
}

impl RedisConfigBuilder {
    /// The server URL; a comma-separated list of URLs is a cluster's seed nodes.
    pub fn url(mut self, url: impl AsRef<str>) -> Self {
        let urls: Vec<String> = url
            .as_ref()
            .split(',')
            .map(str::trim)
            .filter(|u| !u.is_empty())
            .map(String::from)
            .collect();
        if urls.len() > 1 {
            self.cluster = Some(true);
        }
        self.urls = urls;
        self
    }

    /// The seed nodes of a Redis Cluster (one URL each); any one reachable node is enough.
    pub fn cluster_nodes<I, S>(mut self, urls: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.urls = urls.into_iter().map(|u| u.as_ref().to_string()).collect();
        self.cluster = Some(true);
        self
    }

    /// Treats the URL(s) as a cluster (`true`) or a single server (`false`). By default one URL
    /// is a single server and several are a cluster.
    pub fn cluster(mut self, cluster: bool) -> Self {
        self.cluster = Some(cluster);
        self
    }

    /// The ACL user name (overrides the URL's).
    pub fn username(mut self, username: impl Into<String>) -> Self {
        self.username = Some(username.into());
        self
    }

    /// The password (overrides the URL's). Never printed by `Debug`.
    pub fn password(mut self, password: impl Into<String>) -> Self {
        self.password = Some(password.into());
        self
    }

    /// The database number (overrides the URL's path); must be 0 for a cluster.
    pub fn db(mut self, db: i64) -> Self {
        self.db = Some(db);
        self
    }

    /// The prefix of every key (default `mcp-kv:`); `{` and `}` are not allowed.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = Some(prefix.into());
        self
    }

    /// The deadline of one operation, waiting for a connection included (default 2 s). It is
    /// also the redis crate's response timeout. On expiry the call fails with a temporary
    /// [`ErrorKind::Timeout`].
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// The deadline of one connection attempt (default 1 s).
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = Some(timeout);
        self
    }

    /// How many times a lost connection is retried (with a short backoff, 20–200 ms) before
    /// calls fail with [`ErrorKind::Unavailable`]; the next call starts a new attempt. Default 2.
    pub fn reconnect_retries(mut self, retries: usize) -> Self {
        self.reconnect_retries = Some(retries);
        self
    }

    /// The largest value accepted, at most 512 MiB (default 16 MiB, see
    /// [`DEFAULT_MAX_VALUE_BYTES`]).
    pub fn max_value_bytes(mut self, bytes: usize) -> Self {
        self.max_value_bytes = Some(bytes);
        self
    }

    /// Implements `take` with a Lua script instead of `GETDEL`. Not needed even for servers
    /// older than 6.2: the store switches by itself when `GETDEL` is an unknown command.
    pub fn take_with_script(mut self, on: bool) -> Self {
        self.take_with_script = on;
        self
    }

    /// Checks the settings and builds the configuration.
    pub fn build(self) -> Result<RedisConfig> {
        if self.urls.is_empty() {
            return Err(config_error("no Redis URL given"));
        }
        let cluster = self.cluster.unwrap_or(self.urls.len() > 1);
        if !cluster && self.urls.len() > 1 {
            return Err(config_error("several URLs given for a standalone server"));
        }
        let mut nodes = Vec::with_capacity(self.urls.len());
        for url in &self.urls {
            // The redis crate's error may quote the URL: never attach it.
            let info = url
                .as_str()
                .into_connection_info()
                .map_err(|_| config_error("invalid Redis URL"))?;
            if !info.addr().is_supported() {
                return Err(config_error(
                    "rediss:// (TLS) needs mcp-kv-redis built with the `tls` feature",
                ));
            }
            let mut redis = info.redis_settings().clone();
            if let Some(user) = &self.username {
                redis = redis.set_username(user);
            }
            if let Some(password) = &self.password {
                redis = redis.set_password(password);
            }
            if let Some(db) = self.db {
                redis = redis.set_db(db);
            }
            nodes.push(info.set_redis_settings(redis));
        }
        let topology = if cluster {
            Topology::Cluster
        } else {
            Topology::Standalone
        };
        if cluster {
            if !cfg!(feature = "cluster") {
                return Err(config_error(
                    "a cluster needs mcp-kv-redis built with the `cluster` feature",
                ));
            }
            if nodes.iter().any(|n| n.redis_settings().db() != 0) {
                return Err(config_error("Redis Cluster has only database 0"));
            }
        }
        let prefix = self.prefix.unwrap_or_else(|| DEFAULT_PREFIX.to_string());
        check_prefix(&prefix)?;
        let timeout = self.timeout.unwrap_or(Duration::from_secs(2));
        let connect_timeout = self.connect_timeout.unwrap_or(Duration::from_secs(1));
        if timeout.is_zero() || connect_timeout.is_zero() {
            return Err(config_error("timeouts must be positive"));
        }
        let max_value_bytes = self.max_value_bytes.unwrap_or(DEFAULT_MAX_VALUE_BYTES);
        if max_value_bytes > REDIS_MAX_VALUE_BYTES {
            return Err(config_error(
                "max_value_bytes is above Redis' 512 MiB limit",
            ));
        }
        Ok(RedisConfig {
            nodes,
            topology,
            prefix,
            timeout,
            connect_timeout,
            reconnect_retries: self.reconnect_retries.unwrap_or(2),
            max_value_bytes,
            take_with_script: self.take_with_script,
        })
    }
}

fn config_error(msg: &'static str) -> Error {
    Error::new(ErrorKind::Config, msg)
        .with_operation(mcp_kv_core::Operation::Open)
        .with_backend("redis")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_parts_and_redaction() {
        let c = RedisConfig::from_url("redis://app:hunter2@10.0.0.1:7000/3").unwrap();
        assert_eq!(c.topology(), Topology::Standalone);
        assert_eq!(c.db(), 3);
        assert_eq!(c.nodes[0].redis_settings().username(), Some("app"));
        assert_eq!(c.nodes[0].redis_settings().password(), Some("hunter2"));
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(
            dbg.contains("10.0.0.1:7000") && dbg.contains("<redacted>"),
            "{dbg}"
        );

        let b = RedisConfig::builder()
            .url("redis://x:secretpw@h")
            .password("otherpw");
        assert!(!format!("{b:?}").contains("pw"));
        let c = b.build().unwrap();
        assert_eq!(c.nodes[0].redis_settings().password(), Some("otherpw"));
        assert!(!format!("{c:?}").contains("otherpw"));
    }

    #[test]
    fn bad_settings_are_config_errors() {
        let kind = |r: Result<RedisConfig>| r.unwrap_err().kind();
        assert_eq!(kind(RedisConfig::from_url("http://h")), ErrorKind::Config);
        assert_eq!(kind(RedisConfig::builder().build()), ErrorKind::Config);
        assert_eq!(
            kind(RedisConfig::builder().url("redis://h").prefix("a{").build()),
            ErrorKind::Config
        );
        assert_eq!(
            kind(
                RedisConfig::builder()
                    .url("redis://h")
                    .max_value_bytes(usize::MAX)
                    .build()
            ),
            ErrorKind::Config
        );
        let err = RedisConfig::from_url("redis://u:topsecret@h:notaport").unwrap_err();
        assert!(!err.to_string().contains("topsecret"));
    }

    #[test]
    fn several_urls_are_a_cluster() {
        let r = RedisConfig::from_url("redis://a:1,redis://b:2");
        if cfg!(feature = "cluster") {
            let c = r.unwrap();
            assert_eq!(c.topology(), Topology::Cluster);
            assert_eq!(c.nodes.len(), 2);
            assert!(RedisConfig::from_url("redis://a:1/2,redis://b:2/2").is_err());
        } else {
            assert_eq!(r.unwrap_err().kind(), ErrorKind::Config);
        }
        assert!(RedisConfig::builder()
            .url("redis://a:1,redis://b:2")
            .cluster(false)
            .build()
            .is_err());
    }

    #[test]
    fn tls_needs_the_feature() {
        let r = RedisConfig::from_url("rediss://h:6380");
        assert_eq!(r.is_ok(), cfg!(feature = "tls"));
    }
}
