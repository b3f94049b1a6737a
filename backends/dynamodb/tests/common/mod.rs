//! Shared helpers of the DynamoDB tests: the emulator endpoint, fresh tables, interceptors.
#![allow(dead_code)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use mcp_kv_dynamodb::aws_sdk_dynamodb::config::interceptors::BeforeTransmitInterceptorContextRef;
use mcp_kv_dynamodb::aws_sdk_dynamodb::config::{ConfigBag, Intercept, RuntimeComponents};
use mcp_kv_dynamodb::aws_sdk_dynamodb::error::BoxError;
use mcp_kv_dynamodb::{DynamoStore, DynamoStoreBuilder, ENDPOINT_ENV};

/// The emulator endpoint, or `None` (after a loud SKIPPED line) when the variable is missing.
/// With `CI=true` a missing endpoint fails the test.
pub fn endpoint(test: &str) -> Option<String> {
    match std::env::var(ENDPOINT_ENV) {
        Ok(v) if !v.is_empty() => Some(v),
        _ => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{test}: {ENDPOINT_ENV} is not set and CI=true (run scripts/test.sh)");
            }
            mcp_kv_core::testkit::announce_skip(
                test,
                &format!("{ENDPOINT_ENV} not set (run scripts/test.sh)"),
            );
            None
        }
    }
}

/// A table name unique to this process and call.
pub fn table_name(tag: &str) -> String {
    static SEQ: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "mcpkv-{tag}-{}-{nanos:x}-{}",
        std::process::id(),
        SEQ.fetch_add(1, Ordering::Relaxed)
    )
}

/// A builder for a fresh auto-created table on the emulator.
pub fn builder(endpoint: &str, table: &str) -> DynamoStoreBuilder {
    DynamoStore::builder(table)
        .region("us-east-1")
        .endpoint(endpoint)
        .credentials("test", "test")
        .auto_create(true)
}

/// Counts HTTP requests (one per attempt) sent by a client.
#[derive(Debug, Clone, Default)]
pub struct RequestCounter(pub Arc<AtomicUsize>);

impl RequestCounter {
    pub fn get(&self) -> usize {
        self.0.load(Ordering::SeqCst)
    }

    pub fn reset(&self) {
        self.0.store(0, Ordering::SeqCst);
    }
}

impl Intercept for RequestCounter {
    fn name(&self) -> &'static str {
        "RequestCounter"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }
}
