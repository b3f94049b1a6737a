//! Mapping SDK errors onto [`mcp_kv_core::Error`].
//!
//! Throttling, 5xx, timeouts and connection failures are temporary ([`ErrorKind::Unavailable`]
//! / [`ErrorKind::Timeout`]) — throttling whether DynamoDB names it with an error code or only
//! answers HTTP 429; validation errors are permanent ([`ErrorKind::Backend`]); a
//! missing table or refused credentials are [`ErrorKind::Config`]. Service messages are not
//! copied into the error (they may echo request data): only the error code and HTTP status.

use aws_sdk_dynamodb::config::http::HttpResponse;
use aws_sdk_dynamodb::config::interceptors::InterceptorContext;
use aws_sdk_dynamodb::config::retry::{ClassifyRetry, RetryAction};
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use mcp_kv_core::{Error, ErrorKind, Operation};

use crate::BACKEND;

/// The service error code of a failed call, if the service answered.
pub(crate) fn code<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> Option<&str> {
    err.as_service_error().and_then(|e| e.code())
}

/// Whether a call failed its condition expression.
pub(crate) fn is_condition_failed<E: ProvideErrorMetadata>(
    err: &SdkError<E, HttpResponse>,
) -> bool {
    code(err) == Some("ConditionalCheckFailedException")
}

/// Converts an SDK error of `operation`.
pub(crate) fn sdk_err<E>(operation: Operation, err: SdkError<E, HttpResponse>) -> Error
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    let error = match &err {
        SdkError::TimeoutError(_) => {
            Error::new(ErrorKind::Timeout, "DynamoDB request timed out").with_source(err)
        }
        SdkError::DispatchFailure(d) if d.is_timeout() => {
            Error::new(ErrorKind::Timeout, "DynamoDB connection timed out").with_source(err)
        }
        SdkError::DispatchFailure(_) => {
            Error::new(ErrorKind::Unavailable, "cannot reach DynamoDB").with_source(err)
        }
        SdkError::ResponseError(r) => {
            let status = r.raw().status().as_u16();
            let (kind, temporary) = by_status(status);
            Error::new(
                kind,
                format!("unreadable DynamoDB response (HTTP {status})"),
            )
            .set_temporary(temporary)
        }
        SdkError::ServiceError(s) => {
            let status = s.raw().status().as_u16();
            classify(code(&err).unwrap_or("unknown"), status)
        }
        SdkError::ConstructionFailure(_) => {
            Error::new(ErrorKind::Backend, "DynamoDB request could not be built").with_source(err)
        }
        _ => Error::new(ErrorKind::Backend, "DynamoDB call failed"),
    };
    error.with_operation(operation).with_backend(BACKEND)
}

/// The kind and temporary flag of a service error code.
fn classify(code: &str, status: u16) -> Error {
    let (kind, temporary) = match code {
        "ProvisionedThroughputExceededException"
        | "ThrottlingException"
        | "RequestLimitExceeded"
        | "LimitExceededException"
        | "InternalServerError"
        | "ServiceUnavailable"
        | "ServiceUnavailableException" => (ErrorKind::Unavailable, true),
        "TransactionConflictException" | "TransactionInProgressException" => {
            (ErrorKind::Conflict, true)
        }
        "ResourceNotFoundException"
        | "AccessDeniedException"
        | "UnrecognizedClientException"
        | "InvalidSignatureException"
        | "MissingAuthenticationTokenException"
        | "ExpiredTokenException"
        | "IncompleteSignatureException" => (ErrorKind::Config, false),
        _ => by_status(status),
    };
    let context = if code == "ResourceNotFoundException" {
        "DynamoDB table not found (ResourceNotFoundException)".to_string()
    } else {
        format!("DynamoDB error {code} (HTTP {status})")
    };
    Error::new(kind, context).set_temporary(temporary)
}

/// The kind and temporary flag of an answer by its HTTP status alone (no error code, or one
/// not listed in [`classify`]): 5xx and 429 (throttling, as the coded throttling errors) are
/// temporary [`ErrorKind::Unavailable`], anything else a permanent [`ErrorKind::Backend`].
fn by_status(status: u16) -> (ErrorKind, bool) {
    if status >= 500 || status == 429 {
        (ErrorKind::Unavailable, true)
    } else {
        (ErrorKind::Backend, false)
    }
}

/// A request that the SDK's builders refused (a bug of ours, not of the caller).
pub(crate) fn build_err(operation: Operation, err: aws_sdk_dynamodb::error::BuildError) -> Error {
    Error::new(ErrorKind::Backend, "DynamoDB request could not be built")
        .with_source(err)
        .with_operation(operation)
        .with_backend(BACKEND)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classification() {
        let e = classify("ProvisionedThroughputExceededException", 400);
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert!(e.is_temporary());
        let e = classify("ValidationException", 400);
        assert_eq!(e.kind(), ErrorKind::Backend);
        assert!(!e.is_temporary());
        let e = classify("Whatever", 503);
        assert!(e.is_temporary());
        assert_eq!(e.kind(), ErrorKind::Unavailable);
        assert_eq!(classify("Whatever", 404).kind(), ErrorKind::Backend);
        assert_eq!(
            classify("ResourceNotFoundException", 400).kind(),
            ErrorKind::Config
        );
        assert_eq!(
            classify("TransactionConflictException", 400).kind(),
            ErrorKind::Conflict
        );
    }

    #[test]
    fn throttling_without_an_error_code_is_temporary_like_coded_throttling() {
        let coded = classify("ThrottlingException", 400);
        // A service error without a code (`sdk_err` passes "unknown"), answered HTTP 429.
        let uncoded = classify("unknown", 429);
        assert_eq!(uncoded.kind(), coded.kind());
        assert_eq!(uncoded.kind(), ErrorKind::Unavailable);
        assert!(uncoded.is_temporary());
        // An unreadable 429 answer likewise.
        assert_eq!(by_status(429), (ErrorKind::Unavailable, true));
        assert_eq!(by_status(400), (ErrorKind::Backend, false));
    }
}

/// The SDK retry policy of non-idempotent calls (`put_if_absent`, `take`,
/// `compare_and_swap`): only errors that prove the request was not applied (throttling) are
/// retried. After a timeout, a dropped connection or a 5xx, the write may have happened; a
/// blind retry would then fail its condition and report a loss for a call that won (or lose
/// a taken value), so the caller gets a temporary error instead.
#[derive(Debug)]
pub(crate) struct RetryOnlyUnapplied;

impl ClassifyRetry for RetryOnlyUnapplied {
    fn classify_retry(&self, ctx: &InterceptorContext) -> RetryAction {
        let Some(Err(err)) = ctx.output_or_error() else {
            return RetryAction::NoActionIndicated;
        };
        let code = err.as_operation_error().and_then(|e| {
            e.downcast_ref::<PutItemError>()
                .and_then(|e| e.code())
                .or_else(|| e.downcast_ref::<DeleteItemError>().and_then(|e| e.code()))
        });
        match code {
            Some(code) if is_throttling(code) => RetryAction::NoActionIndicated,
            _ => RetryAction::RetryForbidden,
        }
    }

    fn name(&self) -> &'static str {
        "mcp-kv: retry only unapplied requests"
    }
}

/// Error codes of requests DynamoDB refused before applying them.
fn is_throttling(code: &str) -> bool {
    matches!(
        code,
        "ProvisionedThroughputExceededException" | "ThrottlingException" | "RequestLimitExceeded"
    )
}
