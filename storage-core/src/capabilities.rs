//! What a store can do, declared up front (as OpenDAL's capabilities): the conformance suite
//! registers only the cases a store's capabilities allow, and wrappers forward them.

use crate::rules::{MAX_COLLECTION_BYTES, MAX_KEY_BYTES};

/// What a [`KvStore`](crate::KvStore) supports and its limits.
///
/// `#[non_exhaustive]`: start from [`Capabilities::default`] and set fields.
///
/// ```
/// use mcp_kv_core::Capabilities;
///
/// let mut caps = Capabilities::default();
/// caps.persistent = true;
/// caps = caps.with_atomic(true);
/// assert!(caps.take && caps.compare_and_swap);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Capabilities {
    /// The backend expires entries itself (Redis, DynamoDB); otherwise expiry is checked on read
    /// and removed by `cull`.
    pub native_ttl: bool,
    /// `put_if_absent` is supported and linearizable per key.
    pub put_if_absent: bool,
    /// `take` (get-and-delete) is supported and linearizable per key.
    pub take: bool,
    /// `compare_and_swap` is supported and linearizable per key.
    pub compare_and_swap: bool,
    /// `touch` (reset TTL only) is supported.
    pub touch: bool,
    /// `keys`, `collections` and `clear` are supported.
    pub enumerate: bool,
    /// Data survives a restart of the process.
    pub persistent: bool,
    /// Several processes or machines can share the store.
    pub distributed: bool,
    /// Longest collection name accepted, in bytes.
    pub max_collection_bytes: usize,
    /// Longest key accepted, in bytes.
    pub max_key_bytes: usize,
    /// Largest value accepted, in bytes.
    pub max_value_bytes: usize,
    /// Most entries accepted by one batch call.
    pub max_batch: usize,
    /// When set, each collection holds at most this many entries and evicts the least recently
    /// used beyond it.
    pub max_entries_per_collection: Option<usize>,
}

impl Capabilities {
    /// Sets all four atomic operations at once.
    pub fn with_atomic(mut self, on: bool) -> Self {
        self.put_if_absent = on;
        self.take = on;
        self.compare_and_swap = on;
        self.touch = on;
        self
    }
}

impl Default for Capabilities {
    /// Nothing optional supported; the contract's name limits; 16 MiB values; unbounded batches.
    fn default() -> Self {
        Capabilities {
            native_ttl: false,
            put_if_absent: false,
            take: false,
            compare_and_swap: false,
            touch: false,
            enumerate: false,
            persistent: false,
            distributed: false,
            max_collection_bytes: MAX_COLLECTION_BYTES,
            max_key_bytes: MAX_KEY_BYTES,
            max_value_bytes: 16 * 1024 * 1024,
            max_batch: usize::MAX,
            max_entries_per_collection: None,
        }
    }
}
