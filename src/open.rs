//! `open(url)`: a store from a URL, for every backend compiled in.

use std::sync::Arc;

use mcp_kv_core::{DynStore, Error, ErrorKind, Operation, Result};

/// Opens the store a URL names, as a shared `Arc<dyn KvStore>`.
///
/// | URL | backend | feature |
/// |---|---|---|
/// | `memory://` (`?max_entries_per_collection=N`) | in-memory | `memory` |
/// | `sqlite://relative/path.db`, `sqlite:///absolute/path.db`, `sqlite://:memory:` (`?durability=normal\|full`, `table=…`, `read_only=true\|false`, `inline_readers=N`) | SQLite | `sqlite` |
/// | `sled://path` (`?durability=periodic\|flush`) | sled | `sled` |
/// | `redis://[user:pass@]host:port[/db]`, `rediss://…` | Redis | `redis` |
/// | `redis+cluster://[user:pass@]h1:p1,h2:p2,…` | Redis Cluster | `redis-cluster` |
/// | `dynamodb://table?region=…&endpoint=…` | DynamoDB | `dynamodb` |
///
/// `sqlite://…?read_only=true` opens an existing file read-only
/// (`mcp_kv_sqlite::SqliteStoreBuilder::read_only`): never created nor migrated, every write
/// refused with [`ErrorKind::ReadOnly`], readable from a read-only directory (see the sqlite
/// crate's docs, section *Read-only*, for which state it then sees).
///
/// Paths and parameter values are percent-decoded, as in any URL: `sqlite:///srv/my%20state.db`
/// opens `/srv/my state.db`, `%25` is a literal `%`, and a `?` or `&` in a path is written
/// `%3F` / `%26` (a raw `?` starts the parameters). A malformed escape or one that does not
/// decode to UTF-8 is an error. Redis URLs are parsed by the redis crate (passwords
/// percent-decoded there), DynamoDB URLs as documented in `mcp_kv_dynamodb::config`.
///
/// An unknown scheme, a malformed URL or a scheme whose feature is not compiled in is an
/// [`ErrorKind::Config`] error; the message names the feature to enable. Messages never echo
/// the URL (it may carry a password).
///
/// ```
/// # tokio::runtime::Runtime::new().unwrap().block_on(async {
/// let store = mcp_kv::open("memory://?max_entries_per_collection=1000").await?;
/// assert_eq!(store.capabilities().max_entries_per_collection, Some(1000));
///
/// let err = mcp_kv::open("postgres://localhost/db").await.unwrap_err();
/// assert_eq!(err.kind(), mcp_kv::ErrorKind::Config);
/// # Ok::<(), mcp_kv::Error>(())
/// # }).unwrap();
/// ```
pub async fn open(url: &str) -> Result<DynStore> {
    let parsed = StoreUrl::parse(url)?;
    let (scheme, rest) = (parsed.scheme(), parsed.rest());
    let (location, query) = (parsed.location(), parsed.query());
    let store: DynStore = match scheme {
        "memory" => open_memory(location, query)?,
        "sqlite" => open_sqlite(location, query)?,
        "sled" => open_sled(location, query)?,
        "redis" | "rediss" => open_redis(url).await?,
        "redis+cluster" | "rediss+cluster" => open_redis_cluster(scheme, rest).await?,
        "dynamodb" => open_dynamodb(url).await?,
        // Not echoed: whatever was written before `://` might be a secret.
        _ => {
            return Err(config(
                "unknown URL scheme; known: memory, sqlite, sled, redis, rediss, \
                 redis+cluster, dynamodb",
            ));
        }
    };
    Ok(store)
}

/// A store URL split as [`open`] reads it: `scheme://location?query`, the scheme lowercased
/// (schemes are case-insensitive, RFC 3986), the location up to the first `?`.
///
/// Not part of the stable API: it exists so that the `mcp-kv` tool reads URLs (the path of a
/// local store, the parameters) exactly as `open` does, with one parser.
#[doc(hidden)]
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreUrl<'a> {
    scheme: String,
    rest: &'a str,
    location: &'a str,
    query: &'a str,
}

impl<'a> StoreUrl<'a> {
    /// Splits `url`; a URL without `://` is an [`ErrorKind::Config`] error (not echoing it).
    pub fn parse(url: &'a str) -> Result<StoreUrl<'a>> {
        let (scheme, rest) = url.split_once("://").ok_or_else(|| {
            config("the URL has no scheme (expected e.g. memory://, sqlite://path)")
        })?;
        let (location, query) = rest.split_once('?').unwrap_or((rest, ""));
        Ok(StoreUrl {
            scheme: scheme.to_ascii_lowercase(),
            rest,
            location,
            query,
        })
    }

    /// The scheme, lowercased.
    pub fn scheme(&self) -> &str {
        &self.scheme
    }

    /// Everything after `://`, as written.
    pub fn rest(&self) -> &'a str {
        self.rest
    }

    /// What is between `://` and the first `?`, as written (not percent-decoded).
    pub fn location(&self) -> &'a str {
        self.location
    }

    /// What follows the first `?`, as written (empty when there is none).
    pub fn query(&self) -> &'a str {
        self.query
    }

    /// The location percent-decoded: the file path of a `sqlite://` or `sled://` URL.
    pub fn path(&self) -> Result<String> {
        decoded(self.location)
    }

    /// The query's `name=value` pairs as written, empty pairs skipped, in order (a pair
    /// without `=` has an empty value).
    pub fn pairs(&self) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        query_pairs(self.query)
    }

    /// The percent-decoded value of the last parameter called `name`, if any.
    pub fn param(&self, name: &str) -> Result<Option<String>> {
        self.pairs()
            .filter(|(k, _)| *k == name)
            .last()
            .map(|(_, v)| decoded(v))
            .transpose()
    }
}

/// The `name=value` pairs of a query string, as written (see [`StoreUrl::pairs`]).
fn query_pairs(query: &str) -> impl Iterator<Item = (&str, &str)> {
    query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| p.split_once('=').unwrap_or((p, "")))
}

fn config(msg: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    Error::new(ErrorKind::Config, msg).with_operation(Operation::Open)
}

#[allow(dead_code)] // used only by some feature combinations
fn not_compiled(scheme: &str, feature: &str) -> Error {
    config(format!(
        "`{scheme}://` needs the `{feature}` feature of mcp-kv, which is not enabled \
         (add `features = [\"{feature}\"]` to the mcp-kv dependency, or build the mcp-kv \
         tool with `--features cli,{feature}`)"
    ))
}

/// A percent-decoded path or parameter value. Not echoed on error: it may be a secret.
fn decoded(part: &str) -> Result<String> {
    mcp_kv_core::encoding::unescape(part).map_err(|_| {
        config("malformed percent-encoding in the URL (`%` must start two hex digits of UTF-8)")
    })
}

/// `key=value` pairs of a query string, values percent-decoded; a key not in `known` is an
/// error.
#[allow(dead_code)] // used only by some feature combinations
fn params<'a>(query: &'a str, known: &[&str]) -> Result<Vec<(&'a str, String)>> {
    let mut out = Vec::new();
    for (k, v) in query_pairs(query) {
        if !known.contains(&k) {
            // Named only when it looks like a parameter name: the query may hold a secret.
            let shown =
                match k.len() <= 40 && k.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
                    true => format!("`{k}`"),
                    false => "(not shown)".to_string(),
                };
            return Err(config(format!(
                "unknown URL parameter {shown}; known: {}",
                known.join(", ")
            )));
        }
        out.push((k, decoded(v)?));
    }
    Ok(out)
}

#[cfg(feature = "memory")]
fn open_memory(location: &str, query: &str) -> Result<DynStore> {
    if !location.is_empty() {
        return Err(config("memory:// takes no host or path"));
    }
    let mut builder = mcp_kv_memory::MemoryStore::builder();
    for (k, v) in params(query, &["max_entries_per_collection"])? {
        if k == "max_entries_per_collection" {
            let v = v.as_str();
            let n: usize =
                v.parse().ok().filter(|n| *n > 0).ok_or_else(|| {
                    config("max_entries_per_collection must be a positive integer")
                })?;
            builder = builder.max_entries_per_collection(n);
        }
    }
    Ok(Arc::new(builder.build()))
}

#[cfg(not(feature = "memory"))]
fn open_memory(_: &str, _: &str) -> Result<DynStore> {
    Err(not_compiled("memory", "memory"))
}

#[cfg(feature = "sqlite")]
fn open_sqlite(location: &str, query: &str) -> Result<DynStore> {
    use mcp_kv_sqlite::{Durability, SqliteStore};
    let mut builder = SqliteStore::builder();
    builder = match decoded(location)?.as_str() {
        "" => return Err(config("sqlite:// needs a path, or :memory:")),
        ":memory:" => builder.memory(),
        path => builder.path(path),
    };
    for (k, v) in params(
        query,
        &["durability", "table", "read_only", "inline_readers"],
    )? {
        builder = match (k, v.as_str()) {
            ("inline_readers", n) => match n.parse() {
                Ok(n) => builder.inline_readers(n),
                Err(_) => {
                    return Err(config(
                        "inline_readers must be a number of connections (0: every read on the \
                         store's threads)",
                    ))
                }
            },
            ("read_only", "true") => builder.read_only(true),
            ("read_only", "false") => builder.read_only(false),
            ("read_only", _) => return Err(config("read_only must be `true` or `false`")),
            ("durability", "normal") => builder.durability(Durability::Normal),
            ("durability", "full") => builder.durability(Durability::Full),
            ("durability", _) => return Err(config("durability must be `normal` or `full`")),
            ("table", t) => builder.table(t),
            _ => builder,
        };
    }
    Ok(Arc::new(builder.build()?))
}

#[cfg(not(feature = "sqlite"))]
fn open_sqlite(_: &str, _: &str) -> Result<DynStore> {
    Err(not_compiled("sqlite", "sqlite"))
}

#[cfg(feature = "sled")]
fn open_sled(location: &str, query: &str) -> Result<DynStore> {
    use mcp_kv_sled::{Durability, SledStore};
    let path = decoded(location)?;
    if path.is_empty() {
        return Err(config("sled:// needs a path"));
    }
    let mut builder = SledStore::builder().path(path);
    for (k, v) in params(query, &["durability"])? {
        builder = match (k, v.as_str()) {
            ("durability", "periodic") => builder.durability(Durability::Periodic),
            ("durability", "flush") => builder.durability(Durability::Flush),
            _ => return Err(config("durability must be `periodic` or `flush`")),
        };
    }
    Ok(Arc::new(builder.open()?))
}

#[cfg(not(feature = "sled"))]
fn open_sled(_: &str, _: &str) -> Result<DynStore> {
    Err(not_compiled("sled", "sled"))
}

#[cfg(feature = "redis")]
async fn open_redis(url: &str) -> Result<DynStore> {
    Ok(Arc::new(mcp_kv_redis::RedisStore::open(url).await?))
}

#[cfg(not(feature = "redis"))]
async fn open_redis(_: &str) -> Result<DynStore> {
    Err(not_compiled("redis", "redis"))
}

#[cfg(feature = "redis-cluster")]
async fn open_redis_cluster(scheme: &str, rest: &str) -> Result<DynStore> {
    let config = cluster_config(scheme, rest)?;
    Ok(Arc::new(mcp_kv_redis::RedisStore::connect(config).await?))
}

/// The configuration of `redis+cluster://[auth@]h1:p1,h2:p2,…`: one seed URL per host, with
/// the credentials; empty entries and spaces ignored.
#[cfg(feature = "redis-cluster")]
fn cluster_config(scheme: &str, rest: &str) -> Result<mcp_kv_redis::RedisConfig> {
    let base = scheme.trim_end_matches("+cluster");
    let (auth, hosts) = match rest.rsplit_once('@') {
        Some((auth, hosts)) => (format!("{auth}@"), hosts),
        None => (String::new(), rest),
    };
    let hosts = hosts.trim_end_matches('/');
    let urls: Vec<String> = hosts
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| format!("{base}://{auth}{h}"))
        .collect();
    if urls.is_empty() {
        return Err(config("redis+cluster:// needs at least one host:port"));
    }
    // A cluster even with one seed node (a configuration endpoint, say): one URL alone would
    // otherwise mean a single server.
    mcp_kv_redis::RedisConfig::builder()
        .cluster_nodes(&urls)
        .build()
}

#[cfg(not(feature = "redis-cluster"))]
async fn open_redis_cluster(scheme: &str, _: &str) -> Result<DynStore> {
    Err(not_compiled(scheme, "redis-cluster"))
}

#[cfg(feature = "dynamodb")]
async fn open_dynamodb(url: &str) -> Result<DynStore> {
    Ok(Arc::new(mcp_kv_dynamodb::DynamoStore::open(url).await?))
}

#[cfg(not(feature = "dynamodb"))]
async fn open_dynamodb(_: &str) -> Result<DynStore> {
    Err(not_compiled("dynamodb", "dynamodb"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn bad_urls_are_config_errors_without_secrets() {
        for url in [
            "no-scheme",
            "postgres://user:hunter2@host/db",
            "hunter2://x",
            "memory://host",
            "memory://?bogus=1",
            "memory://?hunter2-token",
            "memory://?max_entries_per_collection=0",
            "sqlite://",
            "sqlite://x.db?durability=sometimes",
            "sqlite://x.db?read_only=yes",
            "sqlite://x.db?inline_readers=many",
            "sqlite://x.db?inline_readers=-1",
            "sqlite://x.db?inline_readers=65",
            "sqlite://bad%zz.db",
            "sqlite://hunter2%ff.db",
            "sled://half%4",
            "memory://?max_entries_per_collection=%+1",
        ] {
            let err = open(url).await.err().map(|e| (e.kind(), e.to_string()));
            let (kind, msg) = err.unwrap_or_else(|| panic!("{url} opened"));
            assert_eq!(kind, ErrorKind::Config, "{url}");
            assert!(!msg.contains("hunter2"), "{msg}");
        }
    }

    #[cfg(feature = "memory")]
    #[tokio::test]
    async fn schemes_are_case_insensitive() {
        assert!(open("MEMORY://").await.is_ok());
    }

    #[cfg(feature = "redis-cluster")]
    #[test]
    fn one_cluster_seed_is_still_a_cluster() {
        use mcp_kv_redis::Topology;
        for rest in [
            "127.0.0.1:7000",
            "u:p@127.0.0.1:7000",
            " 127.0.0.1:7000 , ,",
        ] {
            let config = cluster_config("redis+cluster", rest).unwrap();
            assert_eq!(config.topology(), Topology::Cluster, "{rest}");
        }
        assert!(cluster_config("redis+cluster", " , ").is_err());
    }

    #[cfg(not(feature = "sled"))]
    #[tokio::test]
    async fn missing_feature_is_named() {
        let err = open("sled://x").await.err().map(|e| e.to_string());
        assert!(err.unwrap_or_default().contains("`sled` feature"));
    }

    #[cfg(feature = "memory")]
    #[tokio::test]
    async fn memory_url_opens() {
        let store = open("memory://").await.map_err(|e| e.to_string());
        assert!(store.is_ok(), "{store:?}");
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn sqlite_url_opens_a_file_and_memory() {
        let dir = tempfile::tempdir()
            .map_err(|e| e.to_string())
            .unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("t.db");
        let url = format!(
            "sqlite://{}?durability=full&inline_readers=0",
            path.display()
        );
        let store = open(&url).await.unwrap_or_else(|e| panic!("{e}"));
        store
            .put("c", "k", bytes::Bytes::from_static(b"v"), None)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        store.close().await.unwrap_or_else(|e| panic!("{e}"));
        assert!(path.exists());
        assert!(open("sqlite://:memory:").await.is_ok());
    }

    #[cfg(feature = "sqlite")]
    #[tokio::test]
    async fn url_paths_and_values_are_percent_decoded() {
        use mcp_kv_core::KvStore;
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let url = format!(
            "sqlite://{}/my%20state%3F%25.db?table=kv%5Fstore",
            dir.path().display()
        );
        let store = open(&url).await.unwrap_or_else(|e| panic!("{e}"));
        store
            .put("c", "k", bytes::Bytes::from_static(b"v"), None)
            .await
            .unwrap_or_else(|e| panic!("{e}"));
        store.close().await.unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("my state?%.db");
        assert!(path.exists(), "{path:?} not created");
        // The table name was decoded too: the file holds `kv_store`.
        let again = mcp_kv_sqlite::SqliteStore::builder()
            .path(&path)
            .table("kv_store")
            .build()
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(again.get("c", "k").await.ok().flatten().is_some());
        again.close().await.unwrap_or_else(|e| panic!("{e}"));
    }
}
