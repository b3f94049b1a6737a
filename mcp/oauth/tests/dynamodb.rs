//! The OAuth scenarios on DynamoDB (`MCP_KV_DYNAMODB_ENDPOINT`, the local emulator started by
//! `scripts/dynamodb.sh`). Each test gets a table of its own, deleted when the test ends. The
//! store is given the test's manual clock: DynamoDB deletes expired items late, so the backend
//! checks expiry itself on every read and condition — with that clock.

mod common;

use std::sync::Arc;

use common::Env;
use mcp_kv_core::{DynStore, ManualClock};
use mcp_kv_dynamodb::{DynamoStore, ENDPOINT_ENV};

fn endpoint_or_skip(test: &str) -> Option<String> {
    match std::env::var(ENDPOINT_ENV) {
        Ok(v) if !v.trim().is_empty() => Some(v),
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

/// The store of one test, with its table: deletes the table when dropped at the test's end.
struct Table(Option<DynamoStore>);

impl Drop for Table {
    fn drop(&mut self) {
        if let Some(store) = self.0.take() {
            // Drop runs inside the test's runtime: delete on a thread of its own.
            let _ = std::thread::spawn(move || {
                if let Ok(rt) = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                {
                    let _ = rt.block_on(store.delete_table());
                }
            })
            .join();
        }
    }
}

async fn make(test: &str) -> Option<Env> {
    let endpoint = endpoint_or_skip(test)?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let short: String = test
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .take(20)
        .collect();
    let table = format!("oauth-{short}-{}-{nanos:x}", std::process::id());
    let clock = ManualClock::new();
    let store = DynamoStore::builder(&table)
        .region("us-east-1")
        .endpoint(&endpoint)
        .credentials("test", "test")
        .auto_create(true)
        .clock(clock.clone())
        .build()
        .await
        .expect("dynamodb store");
    let raw: DynStore = Arc::new(store.clone());
    let mut env = Env::new("dynamodb", test, raw, clock, true);
    env.guard = Some(Box::new(Table(Some(store))));
    Some(env)
}

scenarios!(make);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn raw_storage_holds_no_plaintext_secrets() {
    let Some(env) = make("raw_storage_holds_no_plaintext_secrets").await else {
        return;
    };
    common::raw_storage_holds_no_plaintext_secrets(&env).await;
    env.cleanup().await;
}
