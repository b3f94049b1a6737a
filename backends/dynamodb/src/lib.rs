//! # mcp-kv-dynamodb
//!
//! The DynamoDB backend of mcp-kv: one table, partition key = collection, sort key = key,
//! expiry checked on every read and in every condition, atomic operations on condition
//! expressions. The serverless choice for MCP servers on AWS (Lambda, Fargate), shared by
//! every replica.
//!
//! ```no_run
//! # async fn demo() -> mcp_kv_core::Result<()> {
//! use std::time::Duration;
//! use bytes::Bytes;
//! use mcp_kv_core::KvStore;
//! use mcp_kv_dynamodb::DynamoStore;
//!
//! // A local emulator (scripts/dynamodb.sh start); real AWS needs the `rustls` feature and
//! // either static credentials or the `aws-config` feature.
//! let store = DynamoStore::builder("mcp-kv")
//!     .region("us-east-1")
//!     .endpoint("http://127.0.0.1:8000")
//!     .credentials("test", "test")
//!     .auto_create(true)
//!     .build()
//!     .await?;
//! // Or: DynamoStore::open("dynamodb://mcp-kv?endpoint=http://127.0.0.1:8000&access_key_id=test&secret_access_key=test&auto_create=true").await?;
//!
//! store.put("codes", "abc", Bytes::from_static(b"grant"), Some(Duration::from_secs(60))).await?;
//! // One-time codes: of all replicas racing, exactly one takes it.
//! assert_eq!(store.take("codes", "abc").await?, Some(Bytes::from_static(b"grant")));
//! assert_eq!(store.take("codes", "abc").await?, None);
//! # Ok(())
//! # }
//! ```
//!
//! ## Capabilities
//!
//! | capability | value |
//! |---|---|
//! | `native_ttl` | yes: the `ttl` attribute is the table's TTL attribute; DynamoDB deletes expired items **lazily** (hours or days later), so every read and condition also checks `exp` |
//! | `put_if_absent`, `take`, `compare_and_swap`, `touch` | yes, linearizable per key (condition expressions, strongly consistent) |
//! | `enumerate` (`keys`, `collections`, `clear`) | yes (`collections` is a full-table Scan) |
//! | `persistent`, `distributed` | yes |
//! | `max_value_bytes` | 350 KiB (DynamoDB items are at most 400 KB including names) |
//! | `max_collection_bytes` / `max_key_bytes` | 1024 / 4096 (longer than DynamoDB allows → hashed, see below) |
//! | `max_batch` | unbounded (chunked into requests of 100 gets / 25 writes) |
//!
//! ## Table layout
//!
//! | attribute | type | content |
//! |---|---|---|
//! | `pk` | S, partition key | the collection (or its hashed form) |
//! | `sk` | S, sort key | the key (or its hashed form) |
//! | `v` | B | the value |
//! | `exp` | N | expiry in epoch **milliseconds**; absent = no expiry. Used by every check |
//! | `ttl` | N | expiry in epoch **seconds, rounded up**: the table's TTL attribute |
//! | `c` / `k` | S | the original collection / key, only when `pk` / `sk` is hashed |
//!
//! DynamoDB limits a partition key to 2048 bytes and a sort key to 1024 bytes. A longer name,
//! or a name starting with the reserved prefix `~sha256~`, is stored as `~sha256~` + hex
//! SHA-256 of the name, and the original is kept in `c` / `k`, so `keys()` and
//! `collections()` return real names and no two names collide. See [`encoding`].
//!
//! With `auto_create`, a missing table is created with on-demand billing
//! (`PAY_PER_REQUEST`), the store waits until it is ACTIVE and enables TTL on `ttl`. Without
//! it, a missing table is an [`ErrorKind::Config`](mcp_kv_core::ErrorKind::Config) error
//! naming the table. An existing table with another key schema is refused the same way.
//!
//! ## Expiry
//!
//! An entry written at `now` with TTL `t` gets `exp = now + ceil_ms(t)` and is live while
//! `now <= exp`, `now` being the store's [`Clock`](mcp_kv_core::Clock) (the system clock by
//! default; `.clock(..)` injects another). Since DynamoDB keeps expired items until its TTL
//! sweeper runs, every operation treats them as absent:
//!
//! - `get`, `get_entry`, `get_many`, `keys`: expired items are filtered out after reading;
//! - conditional writes send the client's `:now` and test it on the server:
//!   `put_if_absent` = PutItem if `attribute_not_exists(pk) OR exp < :now`;
//!   `take` = DeleteItem returning the old item if `attribute_exists(pk) AND
//!   (attribute_not_exists(exp) OR exp >= :now)`; `compare_and_swap` adds `v = :cur`;
//!   `touch` = UpdateItem with the same "present and not expired" condition; `delete` =
//!   DeleteItem returning the old item, `true` only when that item was live (an expired one
//!   is removed too, and answers `false`).
//!
//! Writers sharing a table must therefore have reasonably synchronised clocks (NTP).
//! Reads are strongly consistent (`ConsistentRead`).
//!
//! ## Corrupted items
//!
//! An item this crate did not write (changed behind the store's back) never panics. A `v` that
//! is not binary, or an `exp` that is not an integer number, is
//! [`Corrupted`](mcp_kv_core::ErrorKind::Corrupted) for that key only (`get`, `get_entry`, the
//! batches that include it); other keys stay readable, a `put` overwrites it, and `delete`
//! removes it (answering `true`: `keys` lists it, `delete_many` counts it).
//! `keys()` still **lists** a key whose `exp` does not decode (the item exists and its `get` is
//! `Corrupted`, not absent — as the sled backend lists a key whose header does not decode), and
//! `clear()` counts and removes it. A stored *name* that does not decode (no string `sk`, or a
//! hashed name without its `k` / `c`) fails the `keys()` page / `collections()` call that
//! reaches it.
//!
//! ## Batches and costs
//!
//! - `get_many` / `get_entries`: BatchGetItem in chunks of 100 distinct keys;
//!   `put_many`: BatchWriteItem in chunks of 25 (duplicates: the last one wins);
//!   `delete_many`: a key-only BatchGetItem (to count live keys) then BatchWriteItem deletes.
//!   Chunks run concurrently (`batch_concurrency`, default 8); results come back in input
//!   order; `UnprocessedKeys` / `UnprocessedItems` are retried with exponential backoff until
//!   done or `batch_deadline` (default 30 s, for the whole call), then the call fails with
//!   [`ErrorKind::Timeout`](mcp_kv_core::ErrorKind::Timeout).
//! - `keys()` and `clear()` Query one partition with paging (cost ∝ the collection's size).
//! - **`collections()` Scans the whole table**: it reads (and is billed for) every item.
//!   Avoid it on hot paths.
//! - `cull()` does nothing (returns 0): DynamoDB's TTL removes expired items at no cost.
//!
//! ## Errors
//!
//! Throttling (`ProvisionedThroughputExceeded`, `ThrottlingException`, …), 5xx answers,
//! timeouts and connection failures are temporary
//! ([`Unavailable`](mcp_kv_core::ErrorKind::Unavailable) /
//! [`Timeout`](mcp_kv_core::ErrorKind::Timeout)); validation errors are permanent
//! ([`Backend`](mcp_kv_core::ErrorKind::Backend)). Values larger than 350 KiB are
//! [`ValueTooLarge`](mcp_kv_core::ErrorKind::ValueTooLarge) before any request.
//!
//! The SDK retries (standard mode, 3 attempts) stay on for idempotent calls. For
//! `put_if_absent`, `take` and `compare_and_swap` only throttling errors (the request was
//! refused, not applied) are retried: after a timeout, a dropped connection or a 5xx the
//! conditional write may have happened, and a blind retry would fail its own condition and
//! report a loss for a call that won. Those calls return a temporary error instead.
//!
//! ## Features
//!
//! - `rustls` (alias `tls`): HTTPS through rustls + ring, needed for real AWS endpoints.
//!   Without it the crate compiles one lean HTTP client for `http://` endpoints (emulators).
//! - `aws-config`: the default AWS credential and region chain (environment, profiles, web
//!   identity, container and instance metadata) when no static credentials are given.

#![forbid(unsafe_code)]

mod batch;
pub mod config;
pub mod encoding;
mod error;
mod store;
mod table;

pub use config::{DynamoConfig, DynamoStoreBuilder, StaticCredentials};
pub use store::{DynamoStore, MAX_VALUE_BYTES};

/// Re-exported so callers name the same SDK types (interceptors, a ready client).
pub use aws_sdk_dynamodb;

/// The backend name in errors.
pub(crate) const BACKEND: &str = "dynamodb";

/// The environment variable the tests and benchmarks read the emulator endpoint from.
pub const ENDPOINT_ENV: &str = "MCP_KV_DYNAMODB_ENDPOINT";

/// The region a store given an `endpoint` and no `region` signs with (when no `aws-config`
/// chain supplies one): emulators ignore it, signing needs one.
pub const ENDPOINT_DEFAULT_REGION: &str = "us-east-1";

#[cfg(test)]
mod static_checks {
    fn send_sync<T: Send + Sync>() {}

    #[test]
    fn public_types_are_send_sync() {
        send_sync::<crate::DynamoStore>();
        send_sync::<crate::DynamoConfig>();
        send_sync::<crate::DynamoStoreBuilder>();
    }
}
