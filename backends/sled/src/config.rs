//! The builder of a [`SledStore`]: where the database lives, how durable writes are, which
//! clock decides expiry, and whether a background sweeper culls expired entries.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use mcp_kv_core::{system_clock, Clock, Error, ErrorKind, Operation, Result, SharedClock};

use crate::store::{sled_error, SledStore};

/// How durable an acknowledged write is.
///
/// | setting | a write returns after | lost on a process crash (SIGKILL) | cost |
/// |---|---|---|---|
/// | [`Durability::Periodic`] (default) | sled applied it in memory | the writes of the last `flush_every_ms` (500 ms by default) | none per write |
/// | [`Durability::Flush`] | sled's log was flushed and fsynced | nothing acknowledged | one `fsync` per write at most (batches: one per batch); concurrent writes share one (group commit) |
///
/// `close()` flushes in both settings. A power loss can also lose what the disk's own cache
/// had not persisted after the `fsync`, as with any embedded store.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum Durability {
    /// Rely on sled's background flush every `flush_every_ms`; writes are fast, and a crash
    /// loses at most the last interval's acknowledged writes.
    #[default]
    Periodic,
    /// Flush (and fsync) sled's log after every write before acknowledging it: an
    /// acknowledged write survives a crash of the process.
    Flush,
}

/// Builds a [`SledStore`]; start from [`SledStore::builder`].
///
/// ```
/// # fn main() -> mcp_kv_core::Result<()> {
/// use std::time::Duration;
/// use mcp_kv_sled::{Durability, SledStore};
///
/// let dir = tempfile::tempdir().unwrap();
/// let store = SledStore::builder()
///     .path(dir.path().join("kv"))
///     .durability(Durability::Flush)
///     .sweep_interval(Duration::from_secs(60))
///     .open()?;
/// # drop(store);
/// # Ok(()) }
/// ```
#[derive(Clone)]
#[non_exhaustive]
pub struct SledStoreBuilder {
    pub(crate) path: Option<PathBuf>,
    pub(crate) clock: SharedClock,
    pub(crate) durability: Durability,
    pub(crate) sweep_interval: Option<Duration>,
    pub(crate) flush_every_ms: Option<u64>,
    pub(crate) cache_capacity: Option<u64>,
    pub(crate) max_value_bytes: usize,
}

/// sled's own default background flush interval.
pub const DEFAULT_FLUSH_EVERY_MS: u64 = 500;

/// Default largest value accepted (16 MiB).
pub const DEFAULT_MAX_VALUE_BYTES: usize = 16 * 1024 * 1024;

impl Default for SledStoreBuilder {
    fn default() -> Self {
        SledStoreBuilder {
            path: None,
            clock: system_clock(),
            durability: Durability::Periodic,
            sweep_interval: None,
            flush_every_ms: Some(DEFAULT_FLUSH_EVERY_MS),
            cache_capacity: None,
            max_value_bytes: DEFAULT_MAX_VALUE_BYTES,
        }
    }
}

impl fmt::Debug for SledStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SledStoreBuilder")
            .field("path", &self.path)
            .field("clock", &self.clock)
            .field("durability", &self.durability)
            .field("sweep_interval", &self.sweep_interval)
            .field("flush_every_ms", &self.flush_every_ms)
            .field("cache_capacity", &self.cache_capacity)
            .field("max_value_bytes", &self.max_value_bytes)
            .finish()
    }
}

impl SledStoreBuilder {
    /// The database directory (created if missing). Without a path, [`open`](Self::open)
    /// opens a temporary database that is deleted when the store is dropped.
    pub fn path(mut self, path: impl AsRef<Path>) -> Self {
        self.path = Some(path.as_ref().to_path_buf());
        self
    }

    /// The clock that decides expiry (default: the system clock). Inject a
    /// [`ManualClock`](mcp_kv_core::ManualClock) in tests.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The clock as an already shared handle.
    pub fn shared_clock(mut self, clock: SharedClock) -> Self {
        self.clock = clock;
        self
    }

    /// How durable an acknowledged write is (default [`Durability::Periodic`]).
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }

    /// Runs a background sweeper that culls expired entries every `interval` (default: no
    /// sweeper; expired entries are invisible anyway and `cull()` removes them on demand).
    /// `close()` stops it.
    pub fn sweep_interval(mut self, interval: Duration) -> Self {
        self.sweep_interval = Some(interval);
        self
    }

    /// sled's background flush interval in milliseconds (default 500); `None` disables it, so
    /// only [`Durability::Flush`], `close()` and dropping the store flush.
    pub fn flush_every_ms(mut self, every_ms: Option<u64>) -> Self {
        self.flush_every_ms = every_ms;
        self
    }

    /// Size of sled's page cache in bytes (default: sled's, 1 GiB).
    pub fn cache_capacity(mut self, bytes: u64) -> Self {
        self.cache_capacity = Some(bytes);
        self
    }

    /// Largest value accepted, in bytes (default 16 MiB).
    pub fn max_value_bytes(mut self, bytes: usize) -> Self {
        self.max_value_bytes = bytes;
        self
    }

    /// The sled configuration this builder opens.
    pub fn sled_config(&self) -> sled::Config {
        let mut config = sled::Config::new().flush_every_ms(self.flush_every_ms);
        config = match &self.path {
            Some(path) => config.path(path),
            None => config.temporary(true),
        };
        if let Some(bytes) = self.cache_capacity {
            config = config.cache_capacity(bytes);
        }
        config
    }

    /// Opens the database and builds the store.
    ///
    /// sled allows one process per database: a second process opening the same path gets an
    /// [`ErrorKind::Unavailable`] error.
    pub fn open(self) -> Result<SledStore> {
        self.validate()?;
        let persistent = self.path.is_some();
        let db = self
            .sled_config()
            .open()
            .map_err(|e| sled_error(Operation::Open, e))?;
        SledStore::from_parts(db, self, persistent)
    }

    /// Builds the store over an already open sled database, in its default tree (for callers
    /// that configure sled themselves or keep a raw handle beside the store). The path,
    /// `flush_every_ms` and `cache_capacity` set here are ignored: they are the database's own.
    /// The store reports itself persistent.
    pub fn build_with_db(self, db: sled::Db) -> Result<SledStore> {
        self.validate()?;
        SledStore::from_parts(db, self, true)
    }

    fn validate(&self) -> Result<()> {
        let config_error = |msg: &'static str| {
            Err(Error::new(ErrorKind::Config, msg)
                .with_operation(Operation::Open)
                .with_backend(crate::BACKEND))
        };
        if self.max_value_bytes == 0 {
            return config_error("max_value_bytes is zero");
        }
        if self.sweep_interval.is_some_and(|d| d.is_zero()) {
            return config_error("sweep interval is zero");
        }
        if self.flush_every_ms == Some(0) {
            return config_error("flush_every_ms is zero (use None to disable the periodic flush)");
        }
        Ok(())
    }
}
