//! The whole conformance suite against a DynamoDB emulator (moto): with real TTLs, and with a
//! manual clock (the server never reads time: every read and condition uses the client's
//! clock, so a manual clock drives expiry completely).

mod common;

use std::sync::Arc;
use std::time::Duration;

use mcp_kv_core::testkit::Suite;
use mcp_kv_core::ManualClock;

/// The one case that needs low request latency (see `conformance_real_time`).
const SESSION_CASE: &str = "session_access_refreshes_idle_ttl";

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
    // run, other cases' requests queue for 100+ ms; a 1.5 s short TTL (default 600 ms) keeps
    // real expiry with enough slack for the TTL cases.
    let report = Suite::new("dynamodb (moto, real time)")
        .short_ttl(Duration::from_millis(1500))
        .skip(SESSION_CASE, "runs alone below (latency-sensitive)")
        .run(Arc::new(store.clone()))
        .await;
    // The session case refreshes a marker whose idle TTL must outlive several requests; with
    // the 32-task race cases queueing on the one-request-at-a-time emulator those requests can
    // take 300+ ms each on a loaded machine. Alone, the same case runs with the same TTLs.
    let alone = Suite::case_names()
        .into_iter()
        .filter(|c| *c != SESSION_CASE)
        .fold(
            Suite::new("dynamodb (moto, real time, session case alone)"),
            |s, c| s.skip(c, "ran in the full real-time suite"),
        )
        .short_ttl(Duration::from_millis(1500))
        // A fresh handle on the same table: the suite's lifecycle case closed the first one.
        .run(Arc::new(
            common::builder(&endpoint, &table)
                .build()
                .await
                .expect("store"),
        ))
        .await;
    store.delete_table().await.expect("delete table");
    report.assert_passed_skipping(&[NO_CULL, NOT_BOUNDED, SESSION_CASE]);
    assert_eq!(alone.passed, vec![SESSION_CASE], "{alone}");
    alone.assert_passed();
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
        // Races do not depend on the clock and run 200 rounds in the real-time suite.
        .race_rounds(50)
        .run(Arc::new(store.clone()))
        .await;
    store.delete_table().await.expect("delete table");
    report.assert_passed_skipping(&[NO_CULL, NOT_BOUNDED]);
}

/// DynamoDB expires items by its own TTL sweep: the store has no `cull`.
const NO_CULL: &str = "cull_removes_expired_entries";
/// The store has no per-collection entry bound.
const NOT_BOUNDED: &str = "eviction_in_bounded_store";
