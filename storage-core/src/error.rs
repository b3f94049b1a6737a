//! The one error type of mcp-kv: a kind, a temporary flag, the operation, the backend and
//! context — never a value, a secret or a token.

use std::borrow::Cow;
use std::fmt;

/// Result alias used across mcp-kv.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What went wrong, in a form a caller can match on.
///
/// `#[non_exhaustive]`: new kinds may be added; match with a wildcard arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A collection or key name breaks the name rules (empty or too long).
    InvalidKey,
    /// A TTL is zero or beyond the maximum (~100 years).
    InvalidTtl,
    /// A value is larger than `capabilities().max_value_bytes`; nothing was written.
    ValueTooLarge,
    /// The store does not support this operation (see [`Capabilities`](crate::Capabilities)).
    Unsupported,
    /// A value could not be serialized.
    Serialization,
    /// A ciphertext could not be decrypted (wrong key, tampered, or plaintext).
    Decryption,
    /// Stored bytes do not decode: the store holds something it did not write.
    Corrupted,
    /// The store is read-only.
    ReadOnly,
    /// The operation did not finish within its deadline.
    Timeout,
    /// The backend cannot be reached (connection refused, closed store, …).
    Unavailable,
    /// A concurrent writer won (e.g. a typed `update` gave up after its retries).
    Conflict,
    /// The configuration is invalid (bad URL, missing table, unknown option, …).
    Config,
    /// Any other backend failure.
    Backend,
}

impl ErrorKind {
    /// A short, stable, lower-case name of the kind.
    pub fn as_str(self) -> &'static str {
        match self {
            ErrorKind::InvalidKey => "invalid key",
            ErrorKind::InvalidTtl => "invalid ttl",
            ErrorKind::ValueTooLarge => "value too large",
            ErrorKind::Unsupported => "unsupported",
            ErrorKind::Serialization => "serialization",
            ErrorKind::Decryption => "decryption",
            ErrorKind::Corrupted => "corrupted",
            ErrorKind::ReadOnly => "read-only",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Unavailable => "unavailable",
            ErrorKind::Conflict => "conflict",
            ErrorKind::Config => "config",
            ErrorKind::Backend => "backend",
        }
    }

    /// Whether errors of this kind are temporary by default (worth retrying).
    pub fn is_temporary_by_default(self) -> bool {
        matches!(self, ErrorKind::Timeout | ErrorKind::Unavailable)
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The operation of the [`KvStore`](crate::KvStore) contract an error came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[allow(missing_docs)] // one variant per trait method, named alike
pub enum Operation {
    Get,
    GetEntry,
    Put,
    Delete,
    GetMany,
    GetEntries,
    PutMany,
    DeleteMany,
    PutIfAbsent,
    Take,
    CompareAndSwap,
    Touch,
    Keys,
    Collections,
    Clear,
    Cull,
    Close,
    /// Opening or configuring a store.
    Open,
    /// Anything outside the trait (a typed collection, a session, a tool).
    Other,
}

impl Operation {
    /// Every operation of the trait, in declaration order.
    pub const ALL: [Operation; 17] = [
        Operation::Get,
        Operation::GetEntry,
        Operation::Put,
        Operation::Delete,
        Operation::GetMany,
        Operation::GetEntries,
        Operation::PutMany,
        Operation::DeleteMany,
        Operation::PutIfAbsent,
        Operation::Take,
        Operation::CompareAndSwap,
        Operation::Touch,
        Operation::Keys,
        Operation::Collections,
        Operation::Clear,
        Operation::Cull,
        Operation::Close,
    ];

    /// The method name, e.g. `"put_if_absent"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Get => "get",
            Operation::GetEntry => "get_entry",
            Operation::Put => "put",
            Operation::Delete => "delete",
            Operation::GetMany => "get_many",
            Operation::GetEntries => "get_entries",
            Operation::PutMany => "put_many",
            Operation::DeleteMany => "delete_many",
            Operation::PutIfAbsent => "put_if_absent",
            Operation::Take => "take",
            Operation::CompareAndSwap => "compare_and_swap",
            Operation::Touch => "touch",
            Operation::Keys => "keys",
            Operation::Collections => "collections",
            Operation::Clear => "clear",
            Operation::Cull => "cull",
            Operation::Close => "close",
            Operation::Open => "open",
            Operation::Other => "other",
        }
    }

    /// Whether repeating the operation after an unknown outcome is harmless.
    ///
    /// `put_if_absent`, `take` and `compare_and_swap` are not: a retry after a lost reply could
    /// report a loss for a call that won, or consume twice. Retry wrappers must use this.
    pub fn is_idempotent(self) -> bool {
        !matches!(
            self,
            Operation::PutIfAbsent | Operation::Take | Operation::CompareAndSwap
        )
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

type Source = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The error of every mcp-kv operation.
///
/// Messages carry the kind, the operation, the backend and a context written by mcp-kv itself;
/// they never carry a stored value, a secret or a token. Names of collections and keys are not
/// echoed either (a key may be derived from a token): lengths are reported instead.
///
/// ```
/// use mcp_kv_core::{Error, ErrorKind, Operation};
///
/// let err = Error::new(ErrorKind::Unavailable, "connection refused")
///     .with_operation(Operation::Get)
///     .with_backend("redis");
/// assert!(err.is_temporary());
/// assert_eq!(err.to_string(), "get on redis: unavailable: connection refused");
/// ```
pub struct Error {
    kind: ErrorKind,
    temporary: bool,
    operation: Option<Operation>,
    backend: Option<&'static str>,
    context: Cow<'static, str>,
    source: Option<Source>,
}

impl Error {
    /// A new error of `kind`; temporary when the kind is temporary by default
    /// ([`ErrorKind::Timeout`], [`ErrorKind::Unavailable`]).
    pub fn new(kind: ErrorKind, context: impl Into<Cow<'static, str>>) -> Self {
        Error {
            kind,
            temporary: kind.is_temporary_by_default(),
            operation: None,
            backend: None,
            context: context.into(),
            source: None,
        }
    }

    /// Shorthand for an [`ErrorKind::Unsupported`] error of `operation`.
    pub fn unsupported(operation: Operation) -> Self {
        Error::new(ErrorKind::Unsupported, "not supported by this store").with_operation(operation)
    }

    /// Shorthand for an [`ErrorKind::Corrupted`] error.
    pub fn corrupted(context: impl Into<Cow<'static, str>>) -> Self {
        Error::new(ErrorKind::Corrupted, context)
    }

    /// Sets the operation (only when none is set yet, so the innermost layer's stays).
    pub fn with_operation(mut self, operation: Operation) -> Self {
        if self.operation.is_none() || self.operation == Some(Operation::Other) {
            self.operation = Some(operation);
        }
        self
    }

    /// Sets the backend (only when none is set yet, so the innermost layer's stays).
    pub fn with_backend(mut self, backend: &'static str) -> Self {
        if self.backend.is_none() {
            self.backend = Some(backend);
        }
        self
    }

    /// Marks the error temporary (worth retrying) or permanent.
    pub fn set_temporary(mut self, temporary: bool) -> Self {
        self.temporary = temporary;
        self
    }

    /// Attaches the underlying error. Its `Display` must not contain secrets: backends attach
    /// driver errors, which describe the failure, not the data.
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// Attaches an already boxed underlying error.
    pub fn with_boxed_source(mut self, source: Source) -> Self {
        self.source = Some(source);
        self
    }

    /// The kind of error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// Whether the same call may succeed if repeated later.
    pub fn is_temporary(&self) -> bool {
        self.temporary
    }

    /// The operation the error came from, when known.
    pub fn operation(&self) -> Option<Operation> {
        self.operation
    }

    /// The backend the error came from, when known.
    pub fn backend(&self) -> Option<&'static str> {
        self.backend
    }

    /// The context message.
    pub fn context(&self) -> &str {
        &self.context
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.operation, self.backend) {
            (Some(op), Some(b)) => write!(f, "{op} on {b}: ")?,
            (Some(op), None) => write!(f, "{op}: ")?,
            (None, Some(b)) => write!(f, "{b}: ")?,
            (None, None) => {}
        }
        write!(f, "{}", self.kind)?;
        if !self.context.is_empty() {
            write!(f, ": {}", self.context)?;
        }
        if let Some(source) = &self.source {
            write!(f, " ({source})")?;
        }
        Ok(())
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Error")
            .field("kind", &self.kind)
            .field("temporary", &self.temporary)
            .field("operation", &self.operation)
            .field("backend", &self.backend)
            .field("context", &self.context)
            .field("source", &self.source.as_ref().map(|s| s.to_string()))
            .finish()
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.source
            .as_ref()
            .map(|s| s.as_ref() as &(dyn std::error::Error + 'static))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temporary_defaults_follow_kind() {
        assert!(Error::new(ErrorKind::Timeout, "").is_temporary());
        assert!(!Error::new(ErrorKind::Corrupted, "").is_temporary());
        assert!(Error::new(ErrorKind::Backend, "")
            .set_temporary(true)
            .is_temporary());
    }

    #[test]
    fn innermost_operation_and_backend_win() {
        let e = Error::new(ErrorKind::Backend, "x")
            .with_operation(Operation::Take)
            .with_backend("sqlite")
            .with_operation(Operation::Get)
            .with_backend("memory");
        assert_eq!(e.operation(), Some(Operation::Take));
        assert_eq!(e.backend(), Some("sqlite"));
        assert_eq!(e.to_string(), "take on sqlite: backend: x");
    }

    #[test]
    fn idempotency() {
        assert!(Operation::Get.is_idempotent());
        assert!(!Operation::Take.is_idempotent());
        assert!(!Operation::PutIfAbsent.is_idempotent());
        assert!(!Operation::CompareAndSwap.is_idempotent());
    }

    #[test]
    fn error_is_send_sync_static() {
        fn check<T: Send + Sync + 'static>() {}
        check::<Error>();
    }
}
