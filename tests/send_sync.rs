//! Compile-time checks: every public type a server shares across tasks is `Send + Sync` (and
//! `'static` where it owns its data), so `Arc<…>` of it can go into `tokio::spawn` and into
//! an rmcp handler. A type that loses one of these bounds — a `Rc`, a `RefCell` or a raw
//! guard slipping into a field — stops this file from compiling, rather than a user's server.
//!
//! The checks are made by `const` items: they are evaluated when the file compiles, so the
//! test below only has to exist for the file to be built (`cargo test --all-features`, as
//! `scripts/test.sh` runs it). Which types appear depends on the features compiled in.

#![allow(dead_code)]

/// Compiles only for `T: Send + Sync + 'static`.
const fn shared<T: Send + Sync + 'static>() {}

/// Compiles only for `T: Send` (values moved into a task, e.g. one-shot results).
const fn sendable<T: Send + 'static>() {}

/// The contract and its helpers.
const _: () = {
    use mcp_kv::{
        Capabilities, Collection, Cursor, DynStore, Entry, Error, ErrorKind, ManualClock,
        Operation, Page, Session, SharedClock, SystemClock,
    };
    shared::<DynStore>();
    shared::<Error>();
    shared::<ErrorKind>();
    shared::<Operation>();
    shared::<Capabilities>();
    shared::<Entry>();
    shared::<Cursor>();
    shared::<Page>();
    shared::<SharedClock>();
    shared::<SystemClock>();
    shared::<ManualClock>();
    shared::<Session>();
    shared::<Collection<String>>();
    // `Result` carries errors across `tokio::spawn` and into `anyhow`/`Box<dyn Error + Send + Sync>`.
    sendable::<mcp_kv::Result<mcp_kv::Bytes>>();
};

#[cfg(feature = "memory")]
const _: () = {
    shared::<mcp_kv::memory::MemoryStore>();
    sendable::<mcp_kv::memory::MemoryStoreBuilder>();
};

#[cfg(feature = "sqlite")]
const _: () = {
    shared::<mcp_kv::sqlite::SqliteStore>();
    sendable::<mcp_kv::sqlite::SqliteStoreBuilder>();
};

#[cfg(feature = "sled")]
const _: () = {
    shared::<mcp_kv::sled::SledStore>();
    sendable::<mcp_kv::sled::SledStoreBuilder>();
};

#[cfg(feature = "redis")]
const _: () = {
    shared::<mcp_kv::redis::RedisStore>();
    shared::<mcp_kv::redis::RedisConfig>();
};

#[cfg(feature = "dynamodb")]
const _: () = {
    shared::<mcp_kv::dynamodb::DynamoStore>();
    shared::<mcp_kv::dynamodb::DynamoConfig>();
};

#[cfg(feature = "wrappers")]
const _: () = {
    use mcp_kv::wrappers::{
        Fallback, Namespace, ReadOnly, Retry, Router, SizeLimit, Statistics, Stats, StatsSnapshot,
        StoreBuilder, Tiered, Timeout, Tracing, TtlPolicy,
    };
    use mcp_kv::DynStore;
    shared::<Namespace<DynStore>>();
    shared::<Statistics<DynStore>>();
    shared::<Stats>();
    shared::<StatsSnapshot>();
    shared::<Retry<DynStore>>();
    shared::<Timeout<DynStore>>();
    shared::<TtlPolicy<DynStore>>();
    shared::<ReadOnly<DynStore>>();
    shared::<SizeLimit<DynStore>>();
    shared::<Tracing<DynStore>>();
    shared::<Tiered<DynStore, DynStore>>();
    shared::<Fallback<DynStore, DynStore>>();
    shared::<Router>();
    sendable::<StoreBuilder>();
};

#[cfg(feature = "encryption")]
const _: () = {
    use mcp_kv::wrappers::encryption::{Encryption, EncryptionKey, Keyring};
    shared::<Encryption<mcp_kv::DynStore>>();
    shared::<Keyring>();
    shared::<EncryptionKey>();
};

#[cfg(feature = "compression")]
const _: () = {
    shared::<mcp_kv::wrappers::Compression<mcp_kv::DynStore>>();
};

#[cfg(feature = "oauth")]
const _: () = {
    use mcp_kv::oauth::{Secret, TokenPair, TokenStore};
    shared::<TokenStore>();
    shared::<Secret>();
    sendable::<TokenPair>();
    sendable::<mcp_kv::oauth::Result<TokenPair>>();
};

#[cfg(feature = "cache")]
const _: () = {
    use mcp_kv::cache::{CacheConfig, CacheStats, ResponseCache};
    shared::<ResponseCache>();
    shared::<CacheConfig>();
    shared::<CacheStats>();
};

#[cfg(feature = "rmcp")]
const _: () = {
    use mcp_kv::cache::rmcp::{CachingHandler, KvSessionStore, Principal};
    shared::<KvSessionStore>();
    shared::<Principal>();
    shared::<CachingHandler<()>>();
};

/// Present so that `cargo test` builds this file; the checks above ran when it compiled.
#[test]
fn public_types_are_send_and_sync() {}
