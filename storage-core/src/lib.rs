//! # mcp-kv-core
//!
//! The contract every mcp-kv store obeys: the [`KvStore`] trait, its [`Error`], its
//! [`Capabilities`], the name and TTL [`rules`], the [`Clock`], typed [`Collection`]s, session
//! scopes ([`Session`]) and — behind the `testkit` feature — the conformance suite that checks a
//! store against all of it.
//!
//! ```
//! # tokio::runtime::Runtime::new().unwrap().block_on(async {
//! use std::sync::Arc;
//! use std::time::Duration;
//! use bytes::Bytes;
//! use mcp_kv_core::{DynStore, KvStore, KvStoreExt};
//! use mcp_kv_memory::MemoryStore;
//!
//! let store: DynStore = Arc::new(MemoryStore::new());
//! store.put("greetings", "en", Bytes::from_static(b"hello"), Some(Duration::from_secs(60))).await?;
//! let entry = store.get_entry("greetings", "en").await?.unwrap();
//! assert_eq!(entry.value, Bytes::from_static(b"hello"));
//! assert!(entry.ttl.unwrap() <= Duration::from_secs(60));
//!
//! // One-time values: exactly one caller can take it.
//! store.put("codes", "abc", Bytes::from_static(b"grant"), None).await?;
//! assert!(store.take("codes", "abc").await?.is_some());
//! assert!(store.take("codes", "abc").await?.is_none());
//!
//! // Typed values on top.
//! let counters = store.collection::<u64>("counters");
//! counters.put("hits", &41, None).await?;
//! counters.update("hits", None, |n| n.map(|n| n + 1)).await?;
//! assert_eq!(counters.get("hits").await?, Some(42));
//! # Ok::<(), mcp_kv_core::Error>(())
//! # }).unwrap();
//! ```
//!
//! ## The rules every store obeys
//!
//! - **TTL.** `None` = no expiry; `Some(Duration::ZERO)` and TTLs beyond 100 years are
//!   [`ErrorKind::InvalidTtl`]. Millisecond precision, never rounded down. `put` without a TTL
//!   clears an earlier TTL. An expired entry is never returned by any operation.
//! - **Names.** Any UTF-8 collection of 1..=1024 bytes and key of 1..=4096 bytes works on
//!   every backend — separators, glob characters, quotes, NUL, unicode, `..` — and no two
//!   pairs collide. Out-of-range names are [`ErrorKind::InvalidKey`] before any I/O.
//! - **Values.** Any bytes up to `capabilities().max_value_bytes`; above it
//!   [`ErrorKind::ValueTooLarge`] and nothing written.
//! - **Batches.** Results in input order; duplicates allowed (the last put wins, delete_many
//!   counts distinct live keys); empty input is a no-op; validated whole before any write.
//! - **Atomicity.** `put_if_absent`, `take` and `compare_and_swap` are linearizable per key;
//!   a store that cannot make them so reports them unsupported rather than emulating them.
//! - **Errors.** A missing key is `Ok(None)`. Stored bytes that do not decode are
//!   [`ErrorKind::Corrupted`], never a panic. Messages never contain values, secrets or tokens.
//! - **Lifecycle.** Build a store once at server start, clone it freely, `close()` it at
//!   shutdown; per-client state goes through [`Session`] (see [`session`]).
//! - **Time.** Backends that expire entries themselves read time from a [`Clock`], so tests can
//!   inject a [`ManualClock`].

#![forbid(unsafe_code)]

pub mod capabilities;
pub mod clock;
pub mod collection;
pub mod encoding;
pub mod error;
pub mod expiry;
pub mod handoff;
pub mod rules;
pub mod session;
pub mod store;
#[cfg(feature = "testkit")]
pub mod testkit;

pub use capabilities::Capabilities;
pub use clock::{system_clock, Clock, ManualClock, SharedClock, SystemClock};
pub use collection::Collection;
pub use error::{Error, ErrorKind, Operation, Result};
pub use session::{KvStoreExt, Session};
pub use store::{Cursor, DynStore, Entry, KvStore, Page};

/// Re-exported so implementors name the same `async_trait` and `Bytes` as the trait.
pub use async_trait::async_trait;
pub use bytes::Bytes;

#[cfg(test)]
mod static_checks {
    fn send_sync<T: Send + Sync>() {}

    #[test]
    fn public_types_are_send_sync() {
        send_sync::<crate::Error>();
        send_sync::<crate::Session>();
        send_sync::<crate::Collection<String>>();
        send_sync::<crate::DynStore>();
        send_sync::<crate::ManualClock>();
    }
}
