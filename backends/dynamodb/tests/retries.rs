//! SDK retries: idempotent calls are retried after an outcome-unknown failure, the atomic
//! ones are not (a blind retry of an applied conditional write would fail its condition and
//! report a loss for a call that won).

mod common;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use aws_smithy_types::body::SdkBody;
use bytes::Bytes;
use common::RequestCounter;
use mcp_kv_core::{ErrorKind, KvStore};
use mcp_kv_dynamodb::aws_sdk_dynamodb::config::interceptors::BeforeDeserializationInterceptorContextMut;
use mcp_kv_dynamodb::aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use mcp_kv_dynamodb::aws_sdk_dynamodb::error::BoxError;

/// When armed, turns the next response into an HTTP 500: the request was applied, the reply
/// says it failed (as after a lost reply or a server fault).
#[derive(Debug, Clone, Default)]
struct FailNextResponse(Arc<AtomicBool>);

impl FailNextResponse {
    fn arm(&self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

impl Intercept for FailNextResponse {
    fn name(&self) -> &'static str {
        "FailNextResponse"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if self.0.swap(false, Ordering::SeqCst) {
            *context.response_mut().status_mut() = 500u16.try_into()?;
        }
        Ok(())
    }
}

/// While armed, turns every response into a bare HTTP 429 (no error code in the body or
/// headers), as a throttling proxy or load balancer in front of DynamoDB may answer. Only the
/// reply is replaced: the emulator has applied the request.
#[derive(Debug, Clone, Default)]
struct ThrottleWithoutCode(Arc<AtomicBool>);

impl Intercept for ThrottleWithoutCode {
    fn name(&self) -> &'static str {
        "ThrottleWithoutCode"
    }

    fn modify_before_deserialization(
        &self,
        context: &mut BeforeDeserializationInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if self.0.load(Ordering::SeqCst) {
            let response = context.response_mut();
            *response.status_mut() = 429u16.try_into()?;
            response.headers_mut().remove("x-amzn-errortype");
            *response.body_mut() = SdkBody::from("{}");
        }
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn throttling_without_an_error_code_is_temporary_unavailable() {
    let Some(endpoint) =
        common::endpoint("throttling_without_an_error_code_is_temporary_unavailable")
    else {
        return;
    };
    let table = common::table_name("throttle");
    let throttle = ThrottleWithoutCode::default();
    let store = common::builder(&endpoint, &table)
        .interceptor(throttle.clone())
        .build()
        .await
        .unwrap();
    store.put("t", "k", Bytes::from("v"), None).await.unwrap();

    throttle.0.store(true, Ordering::SeqCst);
    let errors = [
        ("get", store.get("t", "k").await.unwrap_err()),
        (
            "put",
            store
                .put("t", "k", Bytes::from("w"), None)
                .await
                .unwrap_err(),
        ),
        (
            "put_if_absent",
            store
                .put_if_absent("t", "n", Bytes::from("w"), None)
                .await
                .unwrap_err(),
        ),
        ("take", store.take("t", "k").await.unwrap_err()),
        ("keys", store.keys("t", None, 10).await.unwrap_err()),
    ];
    throttle.0.store(false, Ordering::SeqCst);
    for (op, err) in errors {
        // As a coded `ThrottlingException` is: temporary, retryable by the caller.
        assert_eq!(err.kind(), ErrorKind::Unavailable, "{op}: {err}");
        assert!(err.is_temporary(), "{op}: {err}");
    }
    // (The emulator applied the writes: only their replies were replaced.)
    store.delete_table().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atomic_writes_are_not_retried_blindly() {
    let Some(endpoint) = common::endpoint("atomic_writes_are_not_retried_blindly") else {
        return;
    };
    let table = common::table_name("retry");
    let fault = FailNextResponse::default();
    let counter = RequestCounter::default();
    let store = common::builder(&endpoint, &table)
        .interceptor(fault.clone())
        .interceptor(counter.clone())
        .build()
        .await
        .unwrap();

    // Idempotent: the SDK retries and the call succeeds.
    counter.reset();
    fault.arm();
    store.put("r", "p", Bytes::from("v"), None).await.unwrap();
    assert_eq!(counter.get(), 2, "put retried once");

    // put_if_absent applied, reply lost: a temporary error, not a false "someone else won".
    counter.reset();
    fault.arm();
    let err = store
        .put_if_absent("r", "k", Bytes::from("mine"), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable, "{err}");
    assert!(err.is_temporary());
    assert_eq!(counter.get(), 1, "put_if_absent not retried");
    assert_eq!(
        store.get("r", "k").await.unwrap(),
        Some(Bytes::from("mine"))
    );

    // compare_and_swap and take likewise.
    fault.arm();
    let err = store
        .compare_and_swap("r", "k", Some(b"mine"), Some(Bytes::from("next")), None)
        .await
        .unwrap_err();
    assert!(err.is_temporary());
    assert_eq!(
        store.get("r", "k").await.unwrap(),
        Some(Bytes::from("next"))
    );
    counter.reset();
    fault.arm();
    assert!(store.take("r", "k").await.unwrap_err().is_temporary());
    assert_eq!(counter.get(), 1, "take not retried");

    // A delete is conditional on a live entry: re-sent, it would answer `false` for the
    // delete that happened. A temporary error instead.
    store.put("r", "d", Bytes::from("v"), None).await.unwrap();
    counter.reset();
    fault.arm();
    let err = store.delete("r", "d").await.unwrap_err();
    assert!(err.is_temporary(), "{err}");
    assert_eq!(counter.get(), 1, "delete not retried");
    assert_eq!(store.get("r", "d").await.unwrap(), None);
    store.delete_table().await.unwrap();
}
