//! The schema: one `WITHOUT ROWID` table per store, a version table, forward migrations, and
//! every SQL statement the store runs (built once per table name).

use rusqlite::{Connection, OptionalExtension, TransactionBehavior};

use mcp_kv_core::{Error, ErrorKind, Result};

use crate::encoding::map_sqlite;
use mcp_kv_core::Operation;

/// The table recording the schema version of each entry table in the file.
pub(crate) const VERSION_TABLE: &str = "mcp_kv_schema";

/// The schema version this build writes. Opening a file at a newer version fails with
/// [`ErrorKind::Config`]; an older one is migrated forward.
pub const SCHEMA_VERSION: i64 = 1;

/// One forward migration: from `version - 1` to `version`, for the entry table `t`.
type Migration = fn(&rusqlite::Transaction<'_>, &str) -> rusqlite::Result<()>;

/// `MIGRATIONS[i]` takes a table from version `i` to `i + 1`.
const MIGRATIONS: [Migration; SCHEMA_VERSION as usize] = [v1_create];

fn v1_create(tx: &rusqlite::Transaction<'_>, t: &str) -> rusqlite::Result<()> {
    tx.execute_batch(&format!(
        "CREATE TABLE \"{t}\" (
             collection TEXT NOT NULL,
             key        TEXT NOT NULL,
             value      BLOB NOT NULL,
             expires_at INTEGER,
             PRIMARY KEY (collection, key)
         ) WITHOUT ROWID;
         CREATE INDEX \"{t}_expires_at\" ON \"{t}\" (expires_at) WHERE expires_at IS NOT NULL;"
    ))
}

/// Creates the version table if needed and migrates `table` to [`SCHEMA_VERSION`], in one
/// immediate transaction (so two processes opening one new file do not race).
pub(crate) fn migrate(conn: &mut Connection, table: &str) -> Result<()> {
    let err = |e| map_sqlite(e, Operation::Open);
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(err)?;
    tx.execute_batch(&format!(
        "CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
             name    TEXT PRIMARY KEY NOT NULL,
             version INTEGER NOT NULL
         )"
    ))
    .map_err(err)?;
    let version: i64 = tx
        .query_row(
            &format!("SELECT version FROM {VERSION_TABLE} WHERE name = ?1"),
            [table],
            |r| r.get(0),
        )
        .optional()
        .map_err(err)?
        .unwrap_or(0);
    if version > SCHEMA_VERSION {
        return Err(Error::new(
            ErrorKind::Config,
            format!(
                "the table was written by a newer mcp-kv-sqlite (schema {version}; this build \
                 knows up to {SCHEMA_VERSION})"
            ),
        )
        .with_operation(Operation::Open));
    }
    if version < 0 {
        return Err(Error::corrupted("negative schema version").with_operation(Operation::Open));
    }
    if version == SCHEMA_VERSION {
        return Ok(());
    }
    for (from, migration) in MIGRATIONS.iter().enumerate().skip(version as usize) {
        migration(&tx, table).map_err(|e| {
            let kind = if from == 0 {
                "cannot create the table (does a table of that name already exist?)"
            } else {
                "a schema migration failed"
            };
            Error::new(ErrorKind::Config, kind)
                .with_source(e)
                .with_operation(Operation::Open)
        })?;
    }
    tx.execute(
        &format!(
            "INSERT INTO {VERSION_TABLE} (name, version) VALUES (?1, ?2)
             ON CONFLICT (name) DO UPDATE SET version = excluded.version"
        ),
        (table, SCHEMA_VERSION),
    )
    .map_err(err)?;
    tx.commit().map_err(err)
}

/// For a read-only store: checks, without writing anything, that the file holds `table` at the
/// schema version this build reads. A missing version table, version row or table is
/// [`ErrorKind::Config`] naming what is missing; a table at another version (newer, or older
/// and not yet migrated) is `Config` too; a negative version is `Corrupted`. SQLite's own
/// failures (a file that is not a database, one it cannot read here) are returned as they
/// come, for the caller to map or retry.
pub(crate) fn check(
    conn: &Connection,
    table: &str,
) -> std::result::Result<Result<()>, rusqlite::Error> {
    let config = |why: String| {
        Ok(Err(
            Error::new(ErrorKind::Config, why).with_operation(Operation::Open)
        ))
    };
    let exists = |name: &str| -> rusqlite::Result<bool> {
        conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = ?1 COLLATE NOCASE",
            [name],
            |r| r.get::<_, i64>(0),
        )
        .map(|n| n > 0)
    };
    if !exists(VERSION_TABLE)? {
        return config(format!(
            "the file holds no mcp-kv-sqlite store (no `{VERSION_TABLE}` table): it was not \
             created by mcp-kv-sqlite, and a read-only store does not create it"
        ));
    }
    let version: Option<i64> = conn
        .query_row(
            &format!("SELECT version FROM {VERSION_TABLE} WHERE name = ?1"),
            [table],
            |r| r.get(0),
        )
        .optional()?;
    let Some(version) = version else {
        return config(format!(
            "the file holds no mcp-kv-sqlite table `{table}` (no schema version recorded for \
             it): check the table name; a read-only store does not create it"
        ));
    };
    if version < 0 {
        return Ok(Err(
            Error::corrupted("negative schema version").with_operation(Operation::Open)
        ));
    }
    if version != SCHEMA_VERSION {
        let why = if version > SCHEMA_VERSION {
            format!(
                "the table `{table}` was written by a newer mcp-kv-sqlite (schema {version}; \
                 this build reads {SCHEMA_VERSION})"
            )
        } else {
            format!(
                "the table `{table}` is at schema {version} and needs a migration to \
                 {SCHEMA_VERSION}, which a read-only store does not run: open it once \
                 read-write"
            )
        };
        return config(why);
    }
    if !exists(table)? {
        return config(format!(
            "the schema version of `{table}` is recorded but the table is missing"
        ));
    }
    // The columns every statement reads: a table of that name with other columns is refused
    // here rather than on every read.
    if let Err(e) = conn.prepare(&format!(
        "SELECT collection, key, value, expires_at FROM \"{table}\" LIMIT 0"
    )) {
        return Ok(Err(Error::new(
            ErrorKind::Config,
            format!("the table `{table}` lacks the columns of an mcp-kv-sqlite table"),
        )
        .with_source(e)
        .with_operation(Operation::Open)));
    }
    Ok(Ok(()))
}

/// Every statement the store runs, with the table name filled in.
#[derive(Debug)]
pub(crate) struct Sql {
    pub(crate) get: String,
    pub(crate) put: String,
    pub(crate) delete: String,
    pub(crate) put_if_absent: String,
    pub(crate) take: String,
    pub(crate) swap: String,
    pub(crate) delete_if_equal: String,
    pub(crate) touch: String,
    pub(crate) keys_first: String,
    pub(crate) keys_after: String,
    pub(crate) collections: String,
    pub(crate) clear: String,
    pub(crate) cull: String,
}

/// A row is live at `now` (parameter `?now`) when it has no expiry or `now <= expires_at`.
/// The well-formedness checks keep conditional writes away from corrupted rows, which the
/// store then reports as [`ErrorKind::Corrupted`].
const LIVE: &str = "typeof(value) = 'blob' \
     AND (expires_at IS NULL OR (typeof(expires_at) = 'integer' AND expires_at >= :now))";

/// A row `keys()` lists: every row but a well-formed expired one — a corrupted row (an expiry
/// that is negative, a REAL, TEXT) is there, and reading it says `Corrupted`.
const LISTED: &str =
    "NOT (typeof(expires_at) = 'integer' AND expires_at >= 0 AND expires_at < :now)";

impl Sql {
    pub(crate) fn new(t: &str) -> Sql {
        let t = format!("\"{t}\"");
        Sql {
            get: format!("SELECT value, expires_at FROM {t} WHERE collection = ?1 AND key = ?2"),
            put: format!(
                "INSERT INTO {t} (collection, key, value, expires_at) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (collection, key) DO UPDATE \
                 SET value = excluded.value, expires_at = excluded.expires_at"
            ),
            delete: format!(
                "DELETE FROM {t} WHERE collection = ?1 AND key = ?2 RETURNING expires_at"
            ),
            // Wins when no row exists, or the row is a well-formed expired one (NULL never
            // is: NULL < x is NULL). A malformed row is left for the store to report.
            put_if_absent: format!(
                "INSERT INTO {t} (collection, key, value, expires_at) \
                 VALUES (:collection, :key, :value, :expires_at) \
                 ON CONFLICT (collection, key) DO UPDATE \
                 SET value = excluded.value, expires_at = excluded.expires_at \
                 WHERE typeof({t}.value) = 'blob' AND typeof({t}.expires_at) = 'integer' \
                 AND {t}.expires_at >= 0 AND {t}.expires_at < :now"
            ),
            take: format!(
                "DELETE FROM {t} WHERE collection = :collection AND key = :key AND {LIVE} \
                 RETURNING value"
            ),
            swap: format!(
                "UPDATE {t} SET value = :new, expires_at = :expires_at \
                 WHERE collection = :collection AND key = :key AND value = :current AND {LIVE}"
            ),
            delete_if_equal: format!(
                "DELETE FROM {t} \
                 WHERE collection = :collection AND key = :key AND value = :current AND {LIVE}"
            ),
            touch: format!(
                "UPDATE {t} SET expires_at = :expires_at \
                 WHERE collection = :collection AND key = :key AND {LIVE}"
            ),
            keys_first: format!(
                "SELECT key FROM {t} \
                 WHERE collection = :collection AND {LISTED} \
                 ORDER BY key LIMIT :limit"
            ),
            keys_after: format!(
                "SELECT key FROM {t} \
                 WHERE collection = :collection AND key > :after AND {LISTED} \
                 ORDER BY key LIMIT :limit"
            ),
            collections: format!("SELECT DISTINCT collection FROM {t} ORDER BY collection"),
            clear: format!("DELETE FROM {t} WHERE collection = ?1"),
            cull: format!("DELETE FROM {t} WHERE expires_at < ?1"),
        }
    }
}
