//! The OAuth scenarios on Redis (`MCP_KV_REDIS_URL`, started by `scripts/redis.sh`). Redis
//! expires entries by its own clock; the token stores use a manual clock, which decides
//! expiry from the records' timestamps (storage TTLs are longer than the lifetimes by the skew
//! allowance and a grace period, so the records are still there to be judged expired).

mod common;

use std::sync::Arc;

use common::Env;
use mcp_kv_core::{DynStore, ManualClock};
use mcp_kv_redis::RedisStore;

const VAR: &str = "MCP_KV_REDIS_URL";

fn url_or_skip(test: &str) -> Option<String> {
    match std::env::var(VAR) {
        Ok(v) if !v.trim().is_empty() => Some(v),
        _ => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("{test}: {VAR} is not set and CI=true (run scripts/test.sh)");
            }
            mcp_kv_core::testkit::announce_skip(
                test,
                &format!("{VAR} not set (run scripts/test.sh)"),
            );
            None
        }
    }
}

async fn make(test: &str) -> Option<Env> {
    let url = url_or_skip(test)?;
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    let short: String = test.chars().take(24).collect();
    let config = RedisStore::builder()
        .url(&url)
        .prefix(format!("t-oauth-{short}-{}-{nanos:x}:", std::process::id()))
        .build()
        .expect("redis config");
    let store = RedisStore::connect(config).await.expect("redis connects");
    let raw: DynStore = Arc::new(store);
    Some(Env::new("redis", test, raw, ManualClock::new(), false))
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
