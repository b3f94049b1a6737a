//! How `(collection, key, value, expiry)` become a row, and back.
//!
//! | column | SQLite type | holds |
//! |---|---|---|
//! | `collection` | `TEXT` | the collection name, UTF-8 bytes as given (NUL included: SQLite compares TEXT with `memcmp` over its full length) |
//! | `key` | `TEXT` | the key, likewise; `keys()` orders by these bytes |
//! | `value` | `BLOB` | the value bytes, unchanged |
//! | `expires_at` | `INTEGER` or `NULL` | Unix epoch milliseconds after which the entry is expired (live while `now <= expires_at`), `NULL` for no expiry |
//!
//! A row whose `value` is not a BLOB, whose `expires_at` is neither NULL nor a non-negative
//! integer, or whose names are not UTF-8 was not written by this crate: reading it is
//! [`ErrorKind::Corrupted`], never a panic — for that key, or for a bad name the listing
//! (`keys`, `collections`) that reaches it (see the crate docs for repairing those).

use bytes::Bytes;
use rusqlite::types::ValueRef;
use rusqlite::ErrorCode;

use mcp_kv_core::{Error, ErrorKind, Operation};

/// The backend name in errors.
pub(crate) const BACKEND: &str = "sqlite";

/// `expires_at` as stored: epoch milliseconds, clamped into SQLite's signed 64-bit integers.
pub(crate) fn encode_expiry(expires_at: Option<u64>) -> Option<i64> {
    expires_at.map(|ms| i64::try_from(ms).unwrap_or(i64::MAX))
}

/// The current time as a SQL parameter.
pub(crate) fn encode_now(now_ms: u64) -> i64 {
    i64::try_from(now_ms).unwrap_or(i64::MAX)
}

/// Reads a stored `value` column.
pub(crate) fn decode_value(v: ValueRef<'_>) -> Result<Bytes, Error> {
    match v {
        ValueRef::Blob(b) => Ok(Bytes::copy_from_slice(b)),
        _ => Err(Error::corrupted("stored value is not a BLOB")),
    }
}

/// Reads a stored `expires_at` column.
pub(crate) fn decode_expiry(v: ValueRef<'_>) -> Result<Option<u64>, Error> {
    match v {
        ValueRef::Null => Ok(None),
        ValueRef::Integer(ms) => u64::try_from(ms)
            .map(Some)
            .map_err(|_| Error::corrupted("stored expiry is negative")),
        _ => Err(Error::corrupted("stored expiry is not an integer")),
    }
}

/// Reads a stored name (`collection` or `key`) column.
pub(crate) fn decode_name(v: ValueRef<'_>) -> Result<String, Error> {
    match v {
        ValueRef::Text(t) => std::str::from_utf8(t)
            .map(str::to_string)
            .map_err(|_| Error::corrupted("stored name is not UTF-8")),
        _ => Err(Error::corrupted("stored name is not TEXT")),
    }
}

/// Maps a rusqlite error to the contract's error kinds. Driver messages describe the failure
/// (SQLite's own text, our SQL with bound parameters), never the bound values.
pub(crate) fn map_sqlite(e: rusqlite::Error, op: Operation) -> Error {
    let (kind, context) = match &e {
        rusqlite::Error::SqliteFailure(f, _) => match f.code {
            ErrorCode::DatabaseBusy | ErrorCode::DatabaseLocked => (
                ErrorKind::Timeout,
                "the database stayed locked by another connection past the busy timeout",
            ),
            ErrorCode::DatabaseCorrupt | ErrorCode::NotADatabase => {
                (ErrorKind::Corrupted, "the database file is corrupted")
            }
            ErrorCode::ReadOnly => (ErrorKind::ReadOnly, "the database is read-only"),
            ErrorCode::CannotOpen => (ErrorKind::Unavailable, "cannot open the database file"),
            ErrorCode::DiskFull => (ErrorKind::Backend, "the disk is full"),
            ErrorCode::SystemIoFailure => (ErrorKind::Backend, "disk I/O error"),
            _ => (ErrorKind::Backend, "SQLite error"),
        },
        rusqlite::Error::FromSqlConversionFailure(..)
        | rusqlite::Error::InvalidColumnType(..)
        | rusqlite::Error::Utf8Error(_)
        | rusqlite::Error::IntegralValueOutOfRange(..) => {
            (ErrorKind::Corrupted, "a stored column does not decode")
        }
        _ => (ErrorKind::Backend, "SQLite error"),
    };
    Error::new(kind, context)
        .with_source(e)
        .with_operation(op)
        .with_backend(BACKEND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiry_round_trip_and_corruption() {
        assert_eq!(encode_expiry(None), None);
        assert_eq!(encode_expiry(Some(5)), Some(5));
        assert_eq!(encode_expiry(Some(u64::MAX)), Some(i64::MAX));
        assert_eq!(decode_expiry(ValueRef::Integer(5)).unwrap(), Some(5));
        assert_eq!(decode_expiry(ValueRef::Null).unwrap(), None);
        for bad in [
            ValueRef::Integer(-1),
            ValueRef::Real(1.5),
            ValueRef::Text(b"soon"),
            ValueRef::Blob(b"\x01"),
        ] {
            assert_eq!(decode_expiry(bad).unwrap_err().kind(), ErrorKind::Corrupted);
        }
    }

    #[test]
    fn values_and_names() {
        assert_eq!(decode_value(ValueRef::Blob(b"")).unwrap(), Bytes::new());
        assert_eq!(
            decode_value(ValueRef::Text(b"x")).unwrap_err().kind(),
            ErrorKind::Corrupted
        );
        assert_eq!(decode_name(ValueRef::Text(b"a\0b")).unwrap(), "a\0b");
        assert_eq!(
            decode_name(ValueRef::Text(b"\xff")).unwrap_err().kind(),
            ErrorKind::Corrupted
        );
        assert_eq!(
            decode_name(ValueRef::Integer(1)).unwrap_err().kind(),
            ErrorKind::Corrupted
        );
    }

    #[test]
    fn busy_is_a_temporary_timeout() {
        let e = rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_BUSY),
            None,
        );
        let e = map_sqlite(e, Operation::Put);
        assert_eq!(e.kind(), ErrorKind::Timeout);
        assert!(e.is_temporary());
        assert_eq!(e.backend(), Some(BACKEND));
    }
}
