//! The connection (standalone or cluster) and the mapping of redis errors to mcp-kv errors.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use arc_swap::ArcSwap;
use mcp_kv_core::{Error, ErrorKind, Operation, Result};
use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, Pipeline, RedisError, RedisFuture, ServerErrorKind, Value};

use crate::config::{RedisConfig, Topology};

pub(crate) const BACKEND: &str = "redis";

/// One handle on the server(s); cheap to clone (an `Arc` or a channel sender).
#[derive(Clone)]
pub(crate) enum Conn {
    Standalone(ConnectionManager),
    #[cfg(feature = "cluster")]
    Cluster(redis::cluster_async::ClusterConnection),
}

/// The store's handles: `any` for every operation, `once` for those that must never be sent
/// twice.
///
/// The cluster client re-sends a command whose connection dropped before the reply came —
/// after the server may have run it. For `take`, `put_if_absent`, `compare_and_swap` and the
/// deletes, the second run answers for the first (a `take` that removed the value returns
/// `None`; a `put_if_absent` that wrote reports `false`): those go through a cluster client
/// that never retries, and a lost reply is a temporary error, as on a standalone server, whose
/// connection manager reconnects but never re-sends. (A `MOVED` or `ASK` redirect, which the
/// node answers *without* running the command, is then an error too: rare, during resharding,
/// and temporary.)
#[derive(Clone)]
pub(crate) struct Conns {
    pub(crate) any: Conn,
    pub(crate) once: Conn,
}

impl Conns {
    /// Connects (the first connection is made now, so a wrong address fails here).
    pub(crate) async fn connect(config: &RedisConfig) -> Result<Conns> {
        let fut = async {
            match config.topology {
                Topology::Standalone => {
                    let mut c = Conn::standalone(config).await?;
                    if is_cluster_node(&mut c).await {
                        return Ok(Err(Error::new(
                            ErrorKind::Config,
                            "the server is a Redis Cluster node: connect as a cluster \
                             (several URLs, or `cluster(true)` with feature `cluster`)",
                        )
                        .with_operation(Operation::Open)
                        .with_backend(BACKEND)));
                    }
                    Ok(Ok(Conns {
                        once: c.clone(),
                        any: c,
                    }))
                }
                Topology::Cluster => Ok(Ok(Conns {
                    any: Conn::cluster(config, true).await?,
                    once: Conn::cluster(config, false).await?,
                })),
            }
        };
        match tokio::time::timeout(connect_deadline(config), fut).await {
            Ok(r) => r.map_err(|e| map_error(e).with_operation(Operation::Open))?,
            Err(_) => Err(
                Error::new(ErrorKind::Timeout, "connecting to Redis timed out")
                    .with_operation(Operation::Open)
                    .with_backend(BACKEND),
            ),
        }
    }
}

/// How long connecting may take: every retry of the reconnect policy plus one operation.
fn connect_deadline(config: &RedisConfig) -> Duration {
    config.connect_timeout * (config.reconnect_retries as u32 + 1)
        + config.timeout
        + Duration::from_millis(500)
}

/// After a reconnect, how long the next one waits at least: if the address still leads to a
/// replica (DNS or a virtual IP not moved yet), a stream of failing writes reconnects a few
/// times a second, not once per call.
const RECONNECT_PAUSE: Duration = Duration::from_millis(200);

/// The store's current [`Conns`]: a standalone store replaces them when its server turns out
/// to be a replica (a failover demoted it).
///
/// The redis crate's `ConnectionManager` reconnects only after an I/O error; a server demoted
/// to a replica keeps the connection open and answers every write with `READONLY` (whose
/// retry method is a cluster slot refresh, not a reconnect), so a standalone store would stay
/// on it forever. Here a `READONLY` reply from a standalone server starts one reconnect in the
/// background: a new `ConnectionManager`, which resolves the address again (a DNS name or a
/// virtual IP that now leads to the new primary). Meanwhile the old connection keeps serving
/// (reads work on a replica); once the new one is up it is swapped in, and the old one closes
/// when the last call using it ends. At most one reconnect is in flight, and the next starts
/// [`RECONNECT_PAUSE`] after it at the earliest, however many calls fail meanwhile. The call
/// that met `READONLY` is never re-sent here: it fails with a temporary `Unavailable`, and the
/// caller's retry goes through the new connection once it is up.
///
/// A cluster is left alone: its client answers `READONLY` by refreshing its slot map.
pub(crate) struct Current {
    conns: ArcSwap<Conns>,
    /// Bumped at each swap: a `READONLY` met on an older connection starts no reconnect.
    generation: AtomicU64,
    reconnecting: AtomicBool,
}

impl Current {
    pub(crate) fn new(conns: Conns) -> Arc<Current> {
        Arc::new(Current {
            conns: ArcSwap::from_pointee(conns),
            generation: AtomicU64::new(0),
            reconnecting: AtomicBool::new(false),
        })
    }

    /// The current connections: a lock-free read.
    pub(crate) fn load(&self) -> arc_swap::Guard<Arc<Conns>> {
        self.conns.load()
    }

    /// Which connections are current (read before a call, given to [`Current::after_error`]).
    pub(crate) fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// Called with the error of a call made on the connections of `generation`: on a
    /// standalone server's `READONLY`, starts a reconnect unless one is in flight, or pausing,
    /// or the connections have been replaced since the call began.
    pub(crate) fn after_error(
        self: &Arc<Self>,
        config: &RedisConfig,
        generation: u64,
        e: &RedisError,
    ) {
        if config.topology != Topology::Standalone
            || !is_read_only(e)
            || self.generation() != generation
        {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self
            .reconnecting
            .compare_exchange(false, true, Ordering::AcqRel, Ordering::Acquire)
            .is_err()
        {
            return;
        }
        let current = Arc::downgrade(self);
        let config = config.clone();
        runtime.spawn(reconnect(current, config));
    }
}

/// Connects anew and swaps the new connections in (see [`Current`]); on failure the old ones
/// stay, and a later `READONLY` tries again.
async fn reconnect(current: Weak<Current>, config: RedisConfig) {
    // Ends the reconnect however the task ends (also cancelled, by a runtime shutting down).
    struct Done(Weak<Current>);
    impl Drop for Done {
        fn drop(&mut self) {
            if let Some(cur) = self.0.upgrade() {
                cur.reconnecting.store(false, Ordering::Release);
            }
        }
    }
    let _done = Done(current.clone());
    let fresh = tokio::time::timeout(connect_deadline(&config), Conn::standalone(&config)).await;
    let Some(cur) = current.upgrade() else {
        return; // the store is gone
    };
    if let Ok(Ok(conn)) = fresh {
        cur.conns.store(Arc::new(Conns {
            once: conn.clone(),
            any: conn,
        }));
        cur.generation.fetch_add(1, Ordering::AcqRel);
    }
    drop(cur);
    tokio::time::sleep(RECONNECT_PAUSE).await;
}

/// Whether the server refused a write because it is a replica: `READONLY`, also met by a
/// command inside a script (which servers before 7.0 report as `ERR Error running script …
/// -READONLY …`), or the first error of a pipeline.
pub(crate) fn is_read_only(e: &RedisError) -> bool {
    e.kind() == redis::ErrorKind::Server(ServerErrorKind::ReadOnly)
        || e.code() == Some("READONLY")
        || says(e, "You can't write against a read only")
}

/// Whether a standalone connection reached a node of a Redis Cluster of several nodes
/// (`CLUSTER INFO` answers, with `cluster_known_nodes` above 1). Such a node answers `MOVED`
/// for the slots it does not own, and `SCAN` sees only its own keys: as a standalone server it
/// would fail most keys (a temporary error, retried in vain) and list only some collections.
/// A server without cluster support, a one-node cluster (which owns every slot) and a proxy
/// that refuses the command are standalone servers.
async fn is_cluster_node(conn: &mut Conn) -> bool {
    let info: redis::RedisResult<String> =
        redis::cmd("CLUSTER").arg("INFO").query_async(conn).await;
    info.is_ok_and(|info| {
        info.lines().any(|l| {
            l.trim()
                .strip_prefix("cluster_known_nodes:")
                .and_then(|n| n.parse::<u64>().ok())
                .is_some_and(|n| n > 1)
        })
    })
}

impl Conn {
    async fn standalone(config: &RedisConfig) -> redis::RedisResult<Conn> {
        let info = config.nodes[0].clone();
        let client = redis::Client::open(info)?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.connect_timeout))
            .set_response_timeout(Some(config.timeout))
            .set_number_of_retries(config.reconnect_retries)
            .set_min_delay(Duration::from_millis(20))
            .set_max_delay(Duration::from_millis(200));
        let manager = ConnectionManager::new_with_config(client, manager_config).await?;
        Ok(Conn::Standalone(manager))
    }

    /// A cluster connection; `retrying`: re-sends a command after redirects and dropped
    /// connections (see [`Conns`]), or never.
    #[cfg(feature = "cluster")]
    async fn cluster(config: &RedisConfig, retrying: bool) -> redis::RedisResult<Conn> {
        let retries = match retrying {
            true => u32::try_from(config.reconnect_retries.max(1)).unwrap_or(u32::MAX),
            false => 0,
        };
        let client = redis::cluster::ClusterClientBuilder::new(config.nodes.clone())
            .connection_timeout(config.connect_timeout)
            .response_timeout(config.timeout)
            .retries(retries)
            .min_retry_wait(20)
            .max_retry_wait(200)
            .build()?;
        Ok(Conn::Cluster(client.get_async_connection().await?))
    }

    #[cfg(not(feature = "cluster"))]
    async fn cluster(_config: &RedisConfig, _retrying: bool) -> redis::RedisResult<Conn> {
        Err(RedisError::from((
            redis::ErrorKind::InvalidClientConfig,
            "built without the `cluster` feature",
        )))
    }

    /// Runs `cmd` on the node that owns `slot` (standalone: the one server). For commands
    /// without a key, such as `SCAN`.
    pub(crate) async fn query_slot(&mut self, cmd: Cmd, slot: u16) -> redis::RedisResult<Value> {
        let _ = slot; // only a cluster routes by slot
        match self {
            Conn::Standalone(c) => cmd.query_async(c).await,
            #[cfg(feature = "cluster")]
            Conn::Cluster(c) => {
                use redis::cluster_routing::{Route, RoutingInfo, SingleNodeRoutingInfo, SlotAddr};
                let route = RoutingInfo::SingleNode(SingleNodeRoutingInfo::SpecificNode(
                    Route::new(slot, SlotAddr::Master),
                ));
                c.route_command(cmd, route).await
            }
        }
    }

    /// One slot owned by each master: `[0]` standalone, the first slot of each master's ranges
    /// in a cluster (from `CLUSTER SLOTS`).
    pub(crate) async fn master_slots(&mut self) -> redis::RedisResult<Vec<u16>> {
        match self {
            Conn::Standalone(_) => Ok(vec![0]),
            #[cfg(feature = "cluster")]
            Conn::Cluster(c) => {
                use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo};
                let reply = c
                    .route_command(
                        redis::cmd("CLUSTER").arg("SLOTS").clone(),
                        RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random),
                    )
                    .await?;
                Ok(parse_cluster_slots(reply))
            }
        }
    }
}

/// From a `CLUSTER SLOTS` reply, the first slot of each distinct master.
#[cfg(feature = "cluster")]
fn parse_cluster_slots(reply: Value) -> Vec<u16> {
    let mut seen: Vec<(Vec<u8>, i64)> = Vec::new();
    let mut slots = Vec::new();
    let Value::Array(ranges) = reply else {
        return slots;
    };
    for range in ranges {
        let Value::Array(items) = range else { continue };
        let (Some(Value::Int(start)), Some(Value::Array(master))) = (items.first(), items.get(2))
        else {
            continue;
        };
        let host = match master.first() {
            Some(Value::BulkString(h)) => h.clone(),
            Some(Value::SimpleString(h)) => h.clone().into_bytes(),
            _ => continue,
        };
        let port = match master.get(1) {
            Some(Value::Int(p)) => *p,
            _ => continue,
        };
        if seen.iter().any(|(h, p)| *h == host && *p == port) {
            continue;
        }
        seen.push((host, port));
        if let Ok(slot) = u16::try_from(*start) {
            slots.push(slot);
        }
    }
    slots
}

impl ConnectionLike for Conn {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Conn::Standalone(c) => c.req_packed_command(cmd),
            #[cfg(feature = "cluster")]
            Conn::Cluster(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Conn::Standalone(c) => c.req_packed_commands(pipeline, offset, count),
            #[cfg(feature = "cluster")]
            Conn::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Conn::Standalone(c) => c.get_db(),
            #[cfg(feature = "cluster")]
            Conn::Cluster(c) => c.get_db(),
        }
    }
}

/// Maps a redis error: connection failures are temporary `Unavailable`, timeouts temporary
/// `Timeout`, a key of another type `Corrupted`, anything else a permanent `Backend` error.
///
/// The context is written here; the source (the driver's message, which names no key or value)
/// is attached for diagnosis.
pub(crate) fn map_error(e: RedisError) -> Error {
    // A pipeline's error carries its commands' server errors inside: the first one's code
    // (`OOM`, `WRONGTYPE`) classifies it as a single command's would.
    let code: Option<String> = e.code().map(str::to_string).or_else(|| {
        e.clone()
            .into_server_errors()
            .and_then(|errors| errors.first().map(|(_, err)| err.code().to_string()))
    });
    let code = code.as_deref();
    // Refused credentials, also when a cluster client wraps them in its I/O error of the
    // initial connections ("Failed to create initial connections", with the node's error as
    // detail): never temporary, a retry cannot fix them.
    const REFUSED: [&str; 3] = ["AuthenticationFailed", "WRONGPASS", "NOAUTH"];
    let auth_refused = e.kind() == redis::ErrorKind::AuthenticationFailed
        || code.is_some_and(|c| REFUSED.contains(&c))
        || e.detail()
            .is_some_and(|d| REFUSED.iter().any(|m| d.contains(m)));
    let (kind, temporary, context): (ErrorKind, bool, &'static str) = if auth_refused {
        (ErrorKind::Config, false, "Redis rejected the credentials")
    } else if e.is_timeout() {
        (ErrorKind::Timeout, true, "Redis did not answer in time")
    } else if e.is_connection_refusal() || e.is_connection_dropped() || e.is_io_error() {
        (ErrorKind::Unavailable, true, "cannot reach Redis")
    } else {
        match e.kind() {
            redis::ErrorKind::ClusterConnectionNotFound => (
                ErrorKind::Unavailable,
                true,
                "no connection to the cluster node",
            ),
            redis::ErrorKind::Server(
                ServerErrorKind::BusyLoading
                | ServerErrorKind::TryAgain
                | ServerErrorKind::ClusterDown
                | ServerErrorKind::MasterDown
                | ServerErrorKind::ReadOnly
                | ServerErrorKind::Moved
                | ServerErrorKind::Ask,
            ) => (
                ErrorKind::Unavailable,
                true,
                "Redis is not ready to serve the key",
            ),
            // A script's write refused by a replica, as servers before 7.0 report it.
            _ if is_read_only(&e) => (
                ErrorKind::Unavailable,
                true,
                "Redis is not ready to serve the key",
            ),
            redis::ErrorKind::AuthenticationFailed => {
                (ErrorKind::Config, false, "Redis rejected the credentials")
            }
            redis::ErrorKind::InvalidClientConfig => (
                ErrorKind::Config,
                false,
                "invalid Redis client configuration",
            ),
            redis::ErrorKind::Server(ServerErrorKind::NoPerm) => (
                ErrorKind::Config,
                false,
                "the Redis user lacks a permission",
            ),
            // The same refusal met by a command inside a script (Redis 7.0 and 7.1 report it
            // without the NOPERM code).
            _ if says(&e, "can't run this command") => (
                ErrorKind::Config,
                false,
                "the Redis user lacks a permission",
            ),
            _ if says(&e, "DB index is out of range") => (
                ErrorKind::Config,
                false,
                "the database number is beyond the server's `databases`",
            ),
            _ if code == Some("WRONGTYPE") => (
                ErrorKind::Corrupted,
                false,
                "the key holds a Redis type this store did not write",
            ),
            _ if code == Some("OOM") => (ErrorKind::Backend, true, "Redis is out of memory"),
            _ => (ErrorKind::Backend, false, "Redis returned an error"),
        }
    };
    Error::new(kind, context)
        .set_temporary(temporary)
        .with_backend(BACKEND)
        .with_source(e)
}

/// Whether the server's message in `e` contains `needle`.
fn says(e: &RedisError, needle: &str) -> bool {
    e.detail().is_some_and(|d| d.contains(needle))
}

/// Whether `e` says the server does not know the command (e.g. `GETDEL` before Redis 6.2).
pub(crate) fn is_unknown_command(e: &RedisError) -> bool {
    e.kind() == redis::ErrorKind::Server(ServerErrorKind::ResponseError)
        && e.detail().is_some_and(|d| d.contains("unknown command"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_are_temporary_unavailable() {
        let e = RedisError::from(std::io::Error::from(std::io::ErrorKind::ConnectionRefused));
        let m = map_error(e);
        assert_eq!(m.kind(), ErrorKind::Unavailable);
        assert!(m.is_temporary());
        let e = RedisError::from(std::io::Error::from(std::io::ErrorKind::TimedOut));
        let m = map_error(e);
        assert_eq!(m.kind(), ErrorKind::Timeout);
        assert!(m.is_temporary());
    }

    #[test]
    fn refused_credentials_are_permanent_also_inside_a_cluster_io_error() {
        let e = RedisError::from((
            redis::ErrorKind::Io,
            "Failed to create initial connections",
            "AuthenticationFailed: invalid username-password pair".to_string(),
        ));
        let m = map_error(e);
        assert_eq!(m.kind(), ErrorKind::Config);
        assert!(!m.is_temporary());
    }

    #[test]
    fn a_replica_refusing_a_write_is_read_only_and_temporary() {
        let e = RedisError::from((
            redis::ErrorKind::Server(ServerErrorKind::ReadOnly),
            "read-only",
            "You can't write against a read only replica.".to_string(),
        ));
        assert!(is_read_only(&e));
        let m = map_error(e);
        assert_eq!(m.kind(), ErrorKind::Unavailable);
        assert!(m.is_temporary());
        // A write inside a script, as servers before 7.0 report it.
        let e = RedisError::from((
            redis::ErrorKind::Server(ServerErrorKind::ResponseError),
            "An error was signalled by the server",
            "Error running script (call to f_0): @user_script:1: @user_script: 1: -READONLY \
             You can't write against a read only replica."
                .to_string(),
        ));
        assert!(is_read_only(&e));
        let m = map_error(e);
        assert_eq!(m.kind(), ErrorKind::Unavailable);
        assert!(m.is_temporary());
        let e = RedisError::from((
            redis::ErrorKind::Server(ServerErrorKind::ResponseError),
            "An error was signalled by the server",
            "wrong number of arguments".to_string(),
        ));
        assert!(!is_read_only(&e));
    }

    #[test]
    fn other_errors_are_permanent() {
        let e = RedisError::from((redis::ErrorKind::Client, "x"));
        let m = map_error(e);
        assert_eq!(m.kind(), ErrorKind::Backend);
        assert!(!m.is_temporary());
    }
}
