//! Whether two URLs name the same store, so that `migrate` refuses to copy a store into itself.
//!
//! URLs are read with the facade's parser ([`mcp_kv::StoreUrl`], as `open` reads them) and
//! normalised without any network access:
//!
//! - **SQLite / sled**: the file or directory however spelled (`./a.db`, `/abs/a.db`,
//!   `a%2Edb`, scheme case, a trailing `/`), through the file system; for SQLite also the table
//!   (`table=` omitted is the default table).
//! - **Redis** (`redis://`, `rediss://`, `redis+cluster://`): the host (case, a trailing dot;
//!   `localhost`, `127.0.0.1` and `::1` are one loopback host; IPv6 in any notation), the port
//!   (omitted: 6379) and the database (omitted, `/` or `/0`: 0); user, password, query
//!   parameters and TLS are not part of the store. A cluster is the set of its seed nodes:
//!   one node in common is the same store.
//! - **DynamoDB**: the table (a trailing `/`), the region (omitted with an `endpoint`: the
//!   `us-east-1` the backend then uses), the endpoint (normalised as a Redis host, default port
//!   80/443, a trailing `/`) and the access key id (DynamoDB Local keeps one database per
//!   key id and region; on AWS another key may be another account); parameter order and other
//!   parameters do not matter.
//! - Anything else: the URL as written. `memory://` and `sqlite://:memory:` are a new store
//!   each time, never the same.
//!
//! **Not detected** (it would take DNS, the environment or the server): other names or
//! addresses of the same machine (a host name vs its IP, `127.0.0.2`, a LAN address, a proxy
//! or port forward); a Redis Cluster given by seeds with no node in common; a DynamoDB region
//! or credentials taken from the environment or a profile on one side and written in the URL
//! on the other; two access keys of the same AWS account; the AWS default endpoint vs the
//! same endpoint written out.

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::path::PathBuf;

use mcp_kv::StoreUrl;

/// The table of a `sqlite://` URL without `table=`.
#[cfg(feature = "sqlite")]
const DEFAULT_SQLITE_TABLE: &str = mcp_kv::sqlite::DEFAULT_TABLE;
#[cfg(not(feature = "sqlite"))]
const DEFAULT_SQLITE_TABLE: &str = "mcp_kv";

/// The region of a `dynamodb://` URL with an `endpoint` and no `region`.
#[cfg(feature = "dynamodb")]
const DYNAMODB_ENDPOINT_REGION: &str = mcp_kv::dynamodb::ENDPOINT_DEFAULT_REGION;
#[cfg(not(feature = "dynamodb"))]
const DYNAMODB_ENDPOINT_REGION: &str = "us-east-1";

/// The port of a Redis URL without one (for `rediss://` too, as the redis crate reads it).
const REDIS_DEFAULT_PORT: u16 = 6379;

/// Whether `from` and `to` name the same store (see the module documentation).
pub fn same_store(from: &str, to: &str) -> bool {
    match (Identity::of(from), Identity::of(to)) {
        (Some(a), Some(b)) => a.overlaps(&b),
        _ => false,
    }
}

/// What identifies a store, normalised.
#[derive(Debug, PartialEq, Eq)]
enum Identity {
    /// A SQLite file or sled directory (canonical path) and the SQLite table (`None`: sled).
    Local(PathBuf, Option<String>),
    /// Redis servers (host, port) and the database.
    Redis(BTreeSet<(String, u16)>, i64),
    /// A DynamoDB table, region, endpoint and access key id.
    Dynamo {
        table: String,
        region: Option<String>,
        endpoint: Option<String>,
        key_id: Option<String>,
    },
    /// Any other URL, as written.
    Verbatim(String),
}

impl Identity {
    /// `None`: a new store each time (`memory://`, `sqlite://:memory:`), or a local path that
    /// does not exist (so not an existing store).
    fn of(url: &str) -> Option<Identity> {
        let Ok(parsed) = StoreUrl::parse(url) else {
            return Some(Identity::Verbatim(url.to_string()));
        };
        let identity = match parsed.scheme() {
            "memory" => return None,
            "sqlite" | "sled" => {
                let path = parsed.path().ok()?;
                if path == ":memory:" {
                    return None;
                }
                let table = match parsed.scheme() {
                    "sqlite" => Some(
                        parsed
                            .param("table")
                            .ok()?
                            .unwrap_or_else(|| DEFAULT_SQLITE_TABLE.to_string()),
                    ),
                    _ => None,
                };
                Some(Identity::Local(std::fs::canonicalize(path).ok()?, table))
            }
            "redis" | "rediss" => redis(parsed.location(), false),
            "redis+cluster" | "rediss+cluster" => redis(parsed.location(), true),
            "dynamodb" => dynamo(&parsed),
            _ => None,
        };
        Some(identity.unwrap_or_else(|| Identity::Verbatim(url.to_string())))
    }

    fn overlaps(&self, other: &Identity) -> bool {
        match (self, other) {
            (Identity::Redis(a, db_a), Identity::Redis(b, db_b)) => {
                db_a == db_b && !a.is_disjoint(b)
            }
            (a, b) => a == b,
        }
    }
}

/// `[user:pass@]host[:port][/db]` (one server; `,`-separated URLs are a cluster the backend
/// builds from them: left as written), or `[user:pass@]h1:p1,h2:p2,…` for a cluster (database
/// 0). `None` when it does not parse.
fn redis(location: &str, cluster: bool) -> Option<Identity> {
    let location = location.split_once('#').map_or(location, |(l, _)| l);
    let (authority, path) = location.split_once('/').unwrap_or((location, ""));
    let hosts = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let db = match path.trim_matches('/') {
        "" => 0,
        db => db.parse().ok()?,
    };
    if !cluster && hosts.contains(',') {
        return None;
    }
    let nodes = hosts
        .split(',')
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .map(|h| host_port(h, REDIS_DEFAULT_PORT))
        .collect::<Option<BTreeSet<_>>>()?;
    if nodes.is_empty() {
        return None;
    }
    Some(Identity::Redis(nodes, if cluster { 0 } else { db }))
}

/// `dynamodb://table?region=…&endpoint=…&access_key_id=…` (the last of a repeated parameter
/// wins, as in the backend). `None` when a value does not decode.
fn dynamo(url: &StoreUrl<'_>) -> Option<Identity> {
    let table = mcp_kv::encoding::unescape(url.location().trim_end_matches('/')).ok()?;
    let endpoint = url.param("endpoint").ok()?;
    let region = url
        .param("region")
        .ok()?
        .or_else(|| {
            endpoint
                .as_ref()
                .map(|_| DYNAMODB_ENDPOINT_REGION.to_string())
        })
        .map(|r| r.to_ascii_lowercase());
    let endpoint = endpoint.map(|e| normal_endpoint(&e).unwrap_or(e));
    Some(Identity::Dynamo {
        table,
        region,
        endpoint,
        key_id: url.param("access_key_id").ok()?,
    })
}

/// `http(s)://host[:port][/path]` with the host normalised and the default port written.
fn normal_endpoint(endpoint: &str) -> Option<String> {
    let (scheme, rest) = endpoint.split_once("://")?;
    let scheme = scheme.to_ascii_lowercase();
    let default_port = match scheme.as_str() {
        "http" => 80,
        "https" => 443,
        _ => return None,
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let (host, port) = host_port(authority, default_port)?;
    Some(format!(
        "{scheme}://{host}:{port}/{}",
        path.trim_end_matches('/')
    ))
}

/// `host[:port]` or `[v6][:port]`, the host normalised (lowercase, no trailing dot, loopback
/// names as one, IP addresses in their canonical form).
fn host_port(s: &str, default_port: u16) -> Option<(String, u16)> {
    let (host, port) = match s.strip_prefix('[') {
        Some(v6) => {
            let (host, after) = v6.split_once(']')?;
            (host, after.strip_prefix(':'))
        }
        None => match s.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (s, None),
        },
    };
    let port = match port {
        None | Some("") => default_port,
        Some(p) => p.parse().ok()?,
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.is_empty() {
        return None;
    }
    let host = match host.parse::<IpAddr>() {
        Ok(ip) if is_loopback(ip) => "loopback".to_string(),
        Ok(ip) => ip.to_string(),
        Err(_) if host == "localhost" => "loopback".to_string(),
        Err(_) => host,
    };
    Some((host, port))
}

/// `127.0.0.1` and `::1` (also IPv4-mapped): what `localhost` resolves to. Other `127.x`
/// addresses may be other servers.
fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4 == std::net::Ipv4Addr::LOCALHOST,
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped() == Some(std::net::Ipv4Addr::LOCALHOST)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redis_spellings_of_one_server_are_the_same_store() {
        for (a, b) in [
            ("redis://localhost:6379", "redis://127.0.0.1:6379"),
            ("redis://localhost", "redis://127.0.0.1:6379/0"),
            ("redis://127.0.0.1:6379/", "redis://[::1]:6379"),
            ("redis://LocalHost.:6379", "redis://[0:0:0:0:0:0:0:1]"),
            ("redis://[::ffff:127.0.0.1]", "redis://localhost"),
            (
                "redis://u:pw@cache.internal/2",
                "REDIS://Cache.Internal:6379/2/",
            ),
            (
                "redis://h:7000?protocol=resp3",
                "rediss://other@h:7000#insecure",
            ),
            ("redis+cluster://a:7000,b:7001", "redis://b:7001"),
            (
                "redis+cluster://u:p@a:7000,b:7001/",
                "redis+cluster://c:1, a:7000",
            ),
        ] {
            assert!(same_store(a, b), "{a} vs {b}");
            assert!(same_store(b, a), "{b} vs {a}");
        }
    }

    #[test]
    fn other_redis_servers_and_databases_are_other_stores() {
        for (a, b) in [
            ("redis://localhost:6379", "redis://localhost:6380"),
            ("redis://localhost/0", "redis://localhost/1"),
            ("redis://127.0.0.2", "redis://127.0.0.1"),
            ("redis://a", "redis://b"),
            ("redis+cluster://a:7000,b:7001", "redis+cluster://c:7000"),
            ("redis+cluster://a:7000", "redis://a:7000/3"),
            ("redis://h:bad", "redis://h:6379"),
        ] {
            assert!(!same_store(a, b), "{a} vs {b}");
            assert!(!same_store(b, a), "{b} vs {a}");
        }
    }

    #[test]
    fn dynamodb_spellings_of_one_table_are_the_same_store() {
        for (a, b) in [
            (
                "dynamodb://t-1?endpoint=http://localhost:8000",
                "dynamodb://t-1/?endpoint=http%3A%2F%2F127.0.0.1%3A8000%2F",
            ),
            (
                "dynamodb://t-1?region=eu-west-1&auto_create=true&access_key_id=A&secret_access_key=S",
                "dynamodb://t-1?secret_access_key=X&access_key_id=A&region=EU-WEST-1",
            ),
            (
                "dynamodb://t-1?endpoint=http://h",
                "dynamodb://t-1?region=us-east-1&endpoint=HTTP://H:80",
            ),
            ("dynamodb://t-1", "dynamodb://t-1?timeout_ms=500"),
        ] {
            assert!(same_store(a, b), "{a} vs {b}");
            assert!(same_store(b, a), "{b} vs {a}");
        }
    }

    #[test]
    fn other_dynamodb_tables_regions_endpoints_and_keys_are_other_stores() {
        for (a, b) in [
            (
                "dynamodb://t-1?region=eu-west-1",
                "dynamodb://t-2?region=eu-west-1",
            ),
            (
                "dynamodb://t-1?region=eu-west-1",
                "dynamodb://t-1?region=us-east-1",
            ),
            ("dynamodb://t-1", "dynamodb://t-1?region=us-east-1"),
            (
                "dynamodb://t-1?endpoint=http://localhost:8000",
                "dynamodb://t-1?endpoint=http://localhost:8001",
            ),
            (
                "dynamodb://t-1?endpoint=http://localhost:8000&region=eu-west-1",
                "dynamodb://t-1?endpoint=http://localhost:8000",
            ),
            (
                "dynamodb://t-1?region=eu-west-1&access_key_id=A&secret_access_key=S",
                "dynamodb://t-1?region=eu-west-1&access_key_id=B&secret_access_key=S",
            ),
        ] {
            assert!(!same_store(a, b), "{a} vs {b}");
            assert!(!same_store(b, a), "{b} vs {a}");
        }
    }

    #[test]
    fn memory_is_never_the_same_store_and_unknown_urls_compare_as_written() {
        assert!(!same_store("memory://", "memory://"));
        assert!(!same_store("sqlite://:memory:", "sqlite://:memory:"));
        assert!(same_store("postgres://h/db", "postgres://h/db"));
        assert!(!same_store("postgres://h/db", "postgres://h/db2"));
    }
}
