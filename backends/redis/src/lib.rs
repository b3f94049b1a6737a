//! # mcp-kv-redis
//!
//! The Redis and Redis Cluster backend of mcp-kv: a [`KvStore`](mcp_kv_core::KvStore) for MCP
//! servers that run on more than one machine.
//!
//! ```no_run
//! # async fn demo() -> Result<(), mcp_kv_core::Error> {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use mcp_kv_core::{Bytes, DynStore, KvStore};
//! use mcp_kv_redis::RedisStore;
//!
//! // Once, when the server starts; clones share one connection.
//! let store: DynStore = Arc::new(
//!     RedisStore::builder()
//!         .url("redis://:password@127.0.0.1:6379/0")
//!         .prefix("myapp:")
//!         .timeout(Duration::from_millis(500))
//!         .connect()
//!         .await?,
//! );
//!
//! store.put("codes", "abc", Bytes::from_static(b"grant"), Some(Duration::from_secs(60))).await?;
//! // One-time codes: exactly one caller wins, across processes and machines.
//! assert!(store.take("codes", "abc").await?.is_some());
//! assert!(store.take("codes", "abc").await?.is_none());
//!
//! // A Redis Cluster (feature `cluster`): any reachable seed nodes.
//! # #[cfg(feature = "cluster")]
//! let cluster = RedisStore::open("redis://10.0.0.1:7000,redis://10.0.0.2:7000").await?;
//! # Ok(())
//! # }
//! ```
//!
//! The store needs a Tokio runtime with the time driver enabled (`#[tokio::main]` has it).
//!
//! ## Capabilities
//!
//! | capability | value | how |
//! |---|---|---|
//! | `native_ttl` | yes | `SET … PX <ms>`; Redis expires keys itself (`cull` returns 0) |
//! | `put_if_absent` | yes | `SET … NX PX <ms>` |
//! | `take` | yes | `GETDEL` (a Lua script on servers older than 6.2, detected automatically) |
//! | `compare_and_swap` | yes | one Lua script (`EVALSHA`, reloaded on `NOSCRIPT`): compares the current bytes or their absence, then sets with `PX` or deletes |
//! | `touch` | yes | `PEXPIRE` with a TTL; a script `EXISTS` + `PERSIST` without |
//! | `enumerate` | yes | `keys`/`clear`/`collections` page with `SCAN MATCH` (never `KEYS`) |
//! | `persistent` | yes | data lives in Redis (its own persistence settings apply) |
//! | `distributed` | yes | every process sharing the server sees the same data; atomic operations are linearizable per key |
//! | `max_value_bytes` | 16 MiB (configurable up to 512 MiB) | [`config::DEFAULT_MAX_VALUE_BYTES`] explains why not 512 MiB |
//! | names | any UTF-8, collections ≤ 1024 bytes, keys ≤ 4096 bytes | the escaping below |
//!
//! Round trips: `get`, `put`, `delete`, `put_if_absent`, `take`, `compare_and_swap`, `touch`
//! and `get_entry` (value + `PTTL` in one script) are one command each; `get_many` is one
//! `MGET`, `get_entries` one script call, `put_many` one pipeline of `SET … PX` (one round
//! trip), `delete_many` one `UNLINK` of the distinct keys.
//!
//! ## Storage layout
//!
//! ```text
//! {prefix}{<escaped collection>}:<key>        value: the bytes, as a plain Redis string
//! ```
//!
//! The prefix defaults to `mcp-kv:`. The collection is a hash tag, escaped so that any name
//! works and none collide (`%`, `{`, `}`, `*`, `?`, `[`, `]`, `\` and `:` become `%XX`); keys
//! are stored verbatim. Details and examples in [`encoding`].
//!
//! ## Redis Cluster
//!
//! With the `cluster` feature, several URLs (comma-separated, or
//! [`RedisConfigBuilder::cluster_nodes`]) connect through the redis crate's async cluster
//! client, which follows `MOVED`/`ASK` redirects and refreshes its slot map. Because a
//! collection is one hash tag, all its keys live in one slot: batches and scripts never cross
//! slots, and `keys()`/`clear()` scan only the master that owns that slot. `collections()`
//! scans every master (found with `CLUSTER SLOTS`). A cluster has only database 0. One
//! collection therefore lives on one node: spread load over many collections, not one huge
//! one. A `keys()` cursor is only valid while the slot stays on the same node. One URL is a
//! standalone server: given one node of a cluster of several nodes, `connect` fails with
//! [`ErrorKind::Config`](mcp_kv_core::ErrorKind) (that node would answer `MOVED` for most keys
//! and list only its own collections) — pass `cluster(true)` or several URLs.
//!
//! The cluster client re-sends a command whose connection dropped before the reply — after
//! the server may have run it. `put_if_absent`, `take`, `compare_and_swap`, `delete` and
//! `delete_many` therefore go through a second cluster connection that never re-sends: a lost
//! reply is a temporary error (the operation may have happened), never the answer of a second
//! run (a `take` that had removed the value answering `None`). A `MOVED`/`ASK` redirect of
//! those (resharding) is a temporary error too. Tested in `tests/cluster_lost_reply.rs`.
//!
//! ## TLS
//!
//! With the `tls` feature, `rediss://` URLs connect over TLS with rustls (ring provider) and
//! the system's root certificates. `rediss://host:port/#insecure` disables certificate
//! checks only when the redis crate's `tls-rustls-insecure` feature is on. If another crate
//! of the application enables a second rustls provider, install one as the process default
//! (`rustls::crypto::ring::default_provider().install_default()`) before connecting. A private
//! CA can be trusted through `SSL_CERT_FILE` (read by `rustls-native-certs`). A certificate
//! the client does not trust is reported as an `Unavailable` error with the rustls reason
//! (e.g. `UnknownIssuer`) in its source.
//!
//! ## Failures
//!
//! Every operation runs under the configured timeout (default 2 s). A lost connection is
//! re-established in the background (a few quick retries, then on the next call): meanwhile
//! calls fail with a temporary [`ErrorKind::Unavailable`](mcp_kv_core::ErrorKind) or
//! [`ErrorKind::Timeout`](mcp_kv_core::ErrorKind), never hang. Other server errors are
//! permanent `Backend` errors; a key of another Redis type (written behind the store's back)
//! is `Corrupted` for `get`, `get_entry`, `get_entries`, `take` and `compare_and_swap`, while
//! `get_many` (`MGET`) reads it as absent, `put_if_absent` as present and `touch` as live.
//! A permission the ACL user lacks (also for a command inside a script) and a database number
//! the server does not have are permanent [`ErrorKind::Config`](mcp_kv_core::ErrorKind)
//! errors. `put_many` is one pipeline, not a transaction: a server error midway (out of
//! memory) leaves the entries before it written. `clear` removes the keys its `SCAN` finds: a
//! key written while it runs may survive it.
//!
//! ## Failover
//!
//! A standalone server demoted to a replica (a Sentinel failover; a managed Redis whose DNS
//! name or virtual IP moves to the new primary) keeps its clients connected and answers every
//! write with `READONLY`; the redis crate's connection manager reconnects only after an I/O
//! error, so it would stay there. The store therefore treats a `READONLY` reply from a
//! standalone server as a sign of failover: the call fails with a temporary
//! [`ErrorKind::Unavailable`](mcp_kv_core::ErrorKind) (it is never re-sent, so a
//! non-idempotent operation runs at most once), and the store connects anew in the background
//! — the address is resolved again — while the old connection keeps serving (reads work on a
//! replica). Once the new connection is up, later calls use it: a caller's retry of a
//! temporary error succeeds as soon as the address leads to the new primary. However many
//! calls fail meanwhile, one reconnect runs at a time, at most about five a second (while the
//! address still leads to a replica). Reads that a replica serves start no reconnect: a store
//! that only reads keeps reading the demoted server, which replicates the new primary. Tested
//! in `tests/failover.rs`. The store does not query Sentinel itself: the address must follow
//! the primary. A Redis Cluster is out of this scope: its client answers `READONLY` (and
//! `MOVED`) by refreshing its slot map, which leads to the promoted replica; it re-sends the
//! command there, except for the operations that must never run twice (see above), which
//! fail with a temporary error instead.
//!
//! `close()` makes every later call fail with `Unavailable`; the connections themselves close
//! when the last clone of the store is dropped. Messages never hold
//! keys, values or passwords.
//!
//! `keys()` follows `SCAN`'s guarantee: a key live during the whole listing is returned; if
//! the server shrinks its hash table between two pages, a key may come back once more (never
//! within one page). Expired keys are never listed: a cursor carries the keys of its last
//! `SCAN` batch that did not fit the page, and the next page checks they still exist. A
//! cursor names its collection (a hash of the name): given to another collection's `keys()`
//! it is `InvalidKey`.

#![forbid(unsafe_code)]

pub mod config;
mod conn;
pub mod encoding;
mod store;

pub use config::{RedisConfig, RedisConfigBuilder, Topology};
pub use store::RedisStore;

impl RedisConfigBuilder {
    /// Builds the configuration and connects (see [`RedisStore::connect`]).
    pub async fn connect(self) -> mcp_kv_core::Result<RedisStore> {
        RedisStore::connect(self.build()?).await
    }
}

#[cfg(test)]
mod static_checks {
    fn send_sync<T: Send + Sync + 'static>() {}

    #[test]
    fn public_types_are_send_sync() {
        send_sync::<crate::RedisStore>();
        send_sync::<crate::RedisConfig>();
        send_sync::<crate::RedisConfigBuilder>();
    }
}
