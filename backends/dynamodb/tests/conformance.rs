//! The whole conformance suite against a DynamoDB emulator (moto): with real TTLs, and with a
//! manual clock (the server never reads time: every read and condition uses the client's
//! clock, so a manual clock drives expiry completely).

mod common;

use std::sync::Arc;

use mcp_kv_core::testkit::Suite;
use mcp_kv_core::ManualClock;

/// One suite at a time: both share one emulator that handles one request at a time, and the
/// real-time TTL cases need its latency low.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_real_time() {
    let Some(endpoint) = common::endpoint("conformance_real_time") else {
        return;
    };
    let _gate = ONE_AT_A_TIME.lock().await;
    let table = common::table_name("conf");
    let store = common::builder(&endpoint, &table)
        .build()
        .await
        .expect("store");
    // moto handles one request at a time (scripts/dynamodb.sh): while the 32-task race cases
    // run, other cases' requests queue for 100+ ms, more than the 600 ms default TTL leaves to
    // the session case's margins. 1.5 s keeps real expiry and enough slack.
    let report = Suite::new("dynamodb (moto, real time)")
        .short_ttl(std::time::Duration::from_millis(1500))
        .run(Arc::new(store.clone()))
        .await;
    store.delete_table().await.expect("delete table");
    report.assert_passed();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn conformance_manual_clock() {
    let Some(endpoint) = common::endpoint("conformance_manual_clock") else {
        return;
    };
    let _gate = ONE_AT_A_TIME.lock().await;
    let table = common::table_name("confm");
    let clock = ManualClock::new();
    let store = common::builder(&endpoint, &table)
        .clock(clock.clone())
        .build()
        .await
        .expect("store");
    let report = Suite::new("dynamodb (moto, manual clock)")
        .manual_clock(clock)
        .skip(
            "session_access_refreshes_idle_ttl",
            "Session times its refreshes with Instant (real time), not the injected manual \
             clock; runs under the system clock (conformance_real_time)",
        )
        .run(Arc::new(store.clone()))
        .await;
    store.delete_table().await.expect("delete table");
    report.assert_passed();
}
