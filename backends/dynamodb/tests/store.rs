//! DynamoDB-specific behaviour: table checks, size limits before I/O, hashed names, the TTL
//! attributes, expired items that DynamoDB has not deleted yet, corrupted items, errors.

mod common;

use std::collections::HashMap;
use std::time::Duration;

use bytes::Bytes;
use common::RequestCounter;
use mcp_kv_core::{system_clock, ErrorKind, KvStore};
use mcp_kv_dynamodb::aws_sdk_dynamodb::primitives::Blob;
use mcp_kv_dynamodb::aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TimeToLiveStatus,
};
use mcp_kv_dynamodb::encoding::{encode_name, HASH_PREFIX, MAX_SK_BYTES};
use mcp_kv_dynamodb::{DynamoStore, MAX_VALUE_BYTES};

fn s(v: &str) -> AttributeValue {
    AttributeValue::S(v.to_string())
}

fn n(v: u64) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

async fn raw_get(
    store: &DynamoStore,
    pk: &str,
    sk: &str,
) -> Option<HashMap<String, AttributeValue>> {
    store
        .client()
        .get_item()
        .table_name(store.table())
        .key("pk", s(pk))
        .key("sk", s(sk))
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .item
}

async fn raw_put(store: &DynamoStore, item: HashMap<String, AttributeValue>) {
    store
        .client()
        .put_item()
        .table_name(store.table())
        .set_item(Some(item))
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_table_is_a_config_error_naming_it() {
    let Some(endpoint) = common::endpoint("missing_table_is_a_config_error_naming_it") else {
        return;
    };
    let table = common::table_name("missing");
    let err = common::builder(&endpoint, &table)
        .auto_create(false)
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    assert!(!err.is_temporary());
    assert!(err.to_string().contains(&table), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn table_with_another_schema_is_refused() {
    let Some(endpoint) = common::endpoint("table_with_another_schema_is_refused") else {
        return;
    };
    let table = common::table_name("schema");
    let store = common::builder(&endpoint, &common::table_name("schema-helper"))
        .build()
        .await
        .unwrap();
    store
        .client()
        .create_table()
        .table_name(&table)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .unwrap(),
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name("id")
                .key_type(KeyType::Hash)
                .build()
                .unwrap(),
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .unwrap();
    let err = common::builder(&endpoint, &table)
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    store
        .client()
        .delete_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    store.delete_table().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn auto_create_registers_the_ttl_attribute_and_url_form_works() {
    let Some(endpoint) =
        common::endpoint("auto_create_registers_the_ttl_attribute_and_url_form_works")
    else {
        return;
    };
    let table = common::table_name("url");
    let url = format!(
        "dynamodb://{table}?region=us-east-1&endpoint={endpoint}&access_key_id=test\
         &secret_access_key=test&auto_create=true"
    );
    let store = DynamoStore::open(&url).await.unwrap();
    let ttl = store
        .client()
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .unwrap()
        .time_to_live_description
        .unwrap();
    assert_eq!(ttl.attribute_name(), Some("ttl"));
    assert_eq!(ttl.time_to_live_status(), Some(&TimeToLiveStatus::Enabled));
    // Opening again (table present, TTL on) is fine.
    let again = DynamoStore::open(&url).await.unwrap();
    assert!(format!("{again:?}").contains(&table));

    // exp in ms, ttl in seconds rounded up.
    let before = system_clock().now_millis();
    store
        .put(
            "c",
            "k",
            Bytes::from("v"),
            Some(Duration::from_millis(1500)),
        )
        .await
        .unwrap();
    let item = raw_get(&store, "c", "k").await.unwrap();
    let AttributeValue::N(exp) = &item["exp"] else {
        panic!("exp")
    };
    let AttributeValue::N(ttl) = &item["ttl"] else {
        panic!("ttl")
    };
    let (exp, ttl): (u64, u64) = (exp.parse().unwrap(), ttl.parse().unwrap());
    assert!(exp >= before + 1500 && exp <= system_clock().now_millis() + 1500);
    assert_eq!(ttl, exp.div_ceil(1000));
    assert_eq!(item["v"], AttributeValue::B(Blob::new("v")));
    // put without TTL drops both attributes.
    store.put("c", "k", Bytes::from("v2"), None).await.unwrap();
    let item = raw_get(&store, "c", "k").await.unwrap();
    assert!(!item.contains_key("exp") && !item.contains_key("ttl"));
    store.delete_table().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_values_fail_before_any_request() {
    let Some(endpoint) = common::endpoint("oversized_values_fail_before_any_request") else {
        return;
    };
    let table = common::table_name("size");
    let counter = RequestCounter::default();
    let store = common::builder(&endpoint, &table)
        .interceptor(counter.clone())
        .build()
        .await
        .unwrap();
    assert_eq!(store.capabilities().max_value_bytes, MAX_VALUE_BYTES);
    counter.reset();
    let big = Bytes::from(vec![7u8; MAX_VALUE_BYTES + 1]);
    let err = store.put("c", "k", big.clone(), None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ValueTooLarge);
    let err = store
        .put_if_absent("c", "k", big.clone(), None)
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ValueTooLarge);
    let batch = vec![("a".to_string(), Bytes::from("ok")), ("b".to_string(), big)];
    let err = store.put_many("c", batch, None).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ValueTooLarge);
    assert_eq!(counter.get(), 0, "no request for a rejected write");
    assert_eq!(store.get("c", "a").await.unwrap(), None);

    // The largest value, with the longest names (both hashed), fits in one item.
    let max = Bytes::from(vec![1u8; MAX_VALUE_BYTES]);
    let (c, k) = ("c".repeat(1024), "k".repeat(4096));
    store
        .put(&c, &k, max.clone(), Some(Duration::from_secs(60)))
        .await
        .unwrap();
    assert_eq!(store.get(&c, &k).await.unwrap(), Some(max));
    store.delete_table().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_and_prefix_names_are_hashed_without_collisions() {
    let Some(endpoint) = common::endpoint("long_and_prefix_names_are_hashed_without_collisions")
    else {
        return;
    };
    let table = common::table_name("hash");
    let store = common::builder(&endpoint, &table).build().await.unwrap();
    let long = "é".repeat(2000); // 4000 bytes
    let hashed = encode_name(&long, MAX_SK_BYTES).into_owned();
    assert!(hashed.starts_with(HASH_PREFIX));
    // A real key equal to the hashed form of another, and one merely starting with the prefix.
    let lookalike = hashed.clone();
    let prefixed = format!("{HASH_PREFIX}x");
    for (k, v) in [
        (&long, "long"),
        (&lookalike, "lookalike"),
        (&prefixed, "prefixed"),
    ] {
        store.put("h", k, Bytes::from(v), None).await.unwrap();
    }
    assert_eq!(
        store.get("h", &long).await.unwrap(),
        Some(Bytes::from("long"))
    );
    assert_eq!(
        store.get("h", &lookalike).await.unwrap(),
        Some(Bytes::from("lookalike"))
    );
    assert_eq!(
        store.get("h", &prefixed).await.unwrap(),
        Some(Bytes::from("prefixed"))
    );
    let mut keys = store.keys("h", None, 10).await.unwrap().keys;
    keys.sort();
    let mut expected = vec![long.clone(), lookalike.clone(), prefixed.clone()];
    expected.sort();
    assert_eq!(keys, expected);
    // The long key's item keeps the original in `k`.
    let item = raw_get(&store, "h", &hashed).await.unwrap();
    assert_eq!(item["k"], s(&long));
    assert_eq!(
        store.take("h", &long).await.unwrap(),
        Some(Bytes::from("long"))
    );
    assert_eq!(
        store.get("h", &lookalike).await.unwrap(),
        Some(Bytes::from("lookalike"))
    );
    // Collections (at most 1024 bytes) are never hashed: partition keys may hold 2048.
    let coll = "c".repeat(1024);
    store.put(&coll, "k", Bytes::from("v"), None).await.unwrap();
    assert!(store.collections().await.unwrap().contains(&coll));
    store.delete_table().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_items_still_in_the_table_are_absent_everywhere() {
    let Some(endpoint) = common::endpoint("expired_items_still_in_the_table_are_absent_everywhere")
    else {
        return;
    };
    let table = common::table_name("exp");
    let store = common::builder(&endpoint, &table).build().await.unwrap();
    let past = system_clock().now_millis() - 5_000;
    let expired = |k: &str| {
        HashMap::from([
            ("pk".to_string(), s("e")),
            ("sk".to_string(), s(k)),
            ("v".to_string(), AttributeValue::B(Blob::new("old"))),
            ("exp".to_string(), n(past)),
            ("ttl".to_string(), n(past.div_ceil(1000))),
        ])
    };
    for k in ["get", "take", "pia", "cas", "touch", "del", "keys"] {
        raw_put(&store, expired(k)).await;
    }
    assert_eq!(store.get("e", "get").await.unwrap(), None);
    assert_eq!(store.get_entry("e", "get").await.unwrap(), None);
    assert_eq!(
        store.get_many("e", &["get", "take"]).await.unwrap(),
        vec![None, None]
    );
    assert_eq!(store.take("e", "take").await.unwrap(), None);
    assert!(!store.touch("e", "touch", None).await.unwrap());
    assert!(!store.delete("e", "del").await.unwrap());
    assert!(!store
        .compare_and_swap("e", "cas", Some(b"old"), Some(Bytes::from("new")), None)
        .await
        .unwrap());
    assert!(store
        .compare_and_swap("e", "cas", None, Some(Bytes::from("new")), None)
        .await
        .unwrap());
    assert_eq!(
        store.get("e", "cas").await.unwrap(),
        Some(Bytes::from("new"))
    );
    assert!(store
        .put_if_absent("e", "pia", Bytes::from("fresh"), None)
        .await
        .unwrap());
    assert_eq!(
        store.get("e", "pia").await.unwrap(),
        Some(Bytes::from("fresh"))
    );
    let mut keys = store.keys("e", None, 100).await.unwrap().keys;
    keys.sort();
    assert_eq!(keys, vec!["cas".to_string(), "pia".to_string()]);
    assert_eq!(
        store
            .delete_many("e", &["get", "cas", "cas"])
            .await
            .unwrap(),
        1
    );
    assert_eq!(store.clear("e").await.unwrap(), 1);
    store.delete_table().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupted_items_are_errors_not_panics() {
    let Some(endpoint) = common::endpoint("corrupted_items_are_errors_not_panics") else {
        return;
    };
    let table = common::table_name("corrupt");
    let store = common::builder(&endpoint, &table).build().await.unwrap();
    let secret_key = "secret-key-name";
    raw_put(
        &store,
        HashMap::from([
            ("pk".to_string(), s("x")),
            ("sk".to_string(), s(secret_key)),
            ("v".to_string(), s("not binary")),
        ]),
    )
    .await;
    raw_put(
        &store,
        HashMap::from([
            ("pk".to_string(), s("x")),
            ("sk".to_string(), s("bad-exp")),
            ("v".to_string(), AttributeValue::B(Blob::new("v"))),
            ("exp".to_string(), s("soon")),
        ]),
    )
    .await;
    let err = store.get("x", secret_key).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Corrupted);
    assert!(!err.to_string().contains(secret_key), "{err}");
    assert_eq!(
        store.get("x", "bad-exp").await.unwrap_err().kind(),
        ErrorKind::Corrupted
    );
    assert_eq!(
        store.get_many("x", &["bad-exp"]).await.unwrap_err().kind(),
        ErrorKind::Corrupted
    );
    // A corrupted item can be deleted (it counts as present, as keys() lists it).
    assert!(store.delete("x", "bad-exp").await.unwrap());
    assert_eq!(store.get("x", "bad-exp").await.unwrap(), None);
    assert!(!store.delete("x", "bad-exp").await.unwrap());
    // Writes over a corrupted item repair it.
    store
        .put("x", secret_key, Bytes::from("ok"), None)
        .await
        .unwrap();
    assert_eq!(
        store.get("x", secret_key).await.unwrap(),
        Some(Bytes::from("ok"))
    );
    store.delete_table().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_lists_an_item_whose_expiry_does_not_decode_and_the_others() {
    let Some(endpoint) =
        common::endpoint("keys_lists_an_item_whose_expiry_does_not_decode_and_the_others")
    else {
        return;
    };
    let table = common::table_name("corrupt-keys");
    let store = common::builder(&endpoint, &table).build().await.unwrap();
    for k in ["a", "m", "z"] {
        store.put("x", k, Bytes::from("v"), None).await.unwrap();
    }
    let bad_exp = |sk: &str, exp: AttributeValue| {
        HashMap::from([
            ("pk".to_string(), s("x")),
            ("sk".to_string(), s(sk)),
            ("v".to_string(), AttributeValue::B(Blob::new("v"))),
            ("exp".to_string(), exp),
        ])
    };
    raw_put(&store, bad_exp("bad-text", s("soon"))).await;
    raw_put(&store, bad_exp("bad-real", AttributeValue::N("1.5".into()))).await;

    // Each damaged key is Corrupted on its own; the others stay readable.
    for k in ["bad-real", "bad-text"] {
        assert_eq!(
            store.get("x", k).await.unwrap_err().kind(),
            ErrorKind::Corrupted,
            "{k}"
        );
    }
    assert_eq!(store.get("x", "m").await.unwrap(), Some(Bytes::from("v")));
    // keys() lists them (they exist; `get` does not call them absent), whole and page by page.
    let all = ["a", "bad-real", "bad-text", "m", "z"];
    assert_eq!(store.keys("x", None, 10).await.unwrap().keys, all);
    let paged = mcp_kv_core::testkit::all_keys(&store, "x", 2)
        .await
        .unwrap();
    assert_eq!(paged, all);
    // delete() removes one and says it was there, as delete_many() would count it.
    assert!(store.delete("x", "bad-real").await.unwrap());
    assert_eq!(store.get("x", "bad-real").await.unwrap(), None);
    store
        .put("x", "bad-real", Bytes::from("v"), None)
        .await
        .unwrap();
    // clear() counts and removes them with the rest.
    assert_eq!(store.clear("x").await.unwrap(), 5);
    assert!(store.keys("x", None, 10).await.unwrap().keys.is_empty());
    store.delete_table().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_store_is_unavailable() {
    let Some(endpoint) = common::endpoint("closed_store_is_unavailable") else {
        return;
    };
    let table = common::table_name("closed");
    let store = common::builder(&endpoint, &table).build().await.unwrap();
    store.close().await.unwrap();
    store.close().await.unwrap();
    let err = store.get("c", "k").await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Unavailable);
    store
        .client()
        .delete_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreachable_endpoint_is_temporary() {
    // No emulator needed: nothing listens on this port.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let err = common::builder(&format!("http://127.0.0.1:{port}"), "mcpkv-nowhere")
        .timeout(Duration::from_secs(2))
        .build()
        .await
        .unwrap_err();
    assert!(
        matches!(err.kind(), ErrorKind::Unavailable | ErrorKind::Timeout),
        "{err}"
    );
    assert!(err.is_temporary());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_credentials_or_region_are_config_errors() {
    if cfg!(feature = "aws-config") {
        mcp_kv_core::testkit::announce_skip(
            "missing_credentials_or_region_are_config_errors",
            "built with the aws-config feature, whose default chain supplies them",
        );
        return;
    }
    let err = DynamoStore::builder("tbl")
        .endpoint("http://127.0.0.1:9")
        .build()
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config);
    let err = DynamoStore::builder("tbl")
        .credentials("a", "b")
        .endpoint("https://dynamodb.eu-west-1.amazonaws.com")
        .build()
        .await
        .unwrap_err();
    if !cfg!(feature = "rustls") {
        assert_eq!(err.kind(), ErrorKind::Config, "{err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_region_is_a_config_error() {
    // No emulator needed: the SDK refuses to build the first request. Was a permanent
    // `Backend` error ("request could not be built"), as if mcp-kv had a bug.
    let port = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    let endpoint = format!("http://127.0.0.1:{port}");
    for region in ["eu_west_1", "us east 1"] {
        let err = common::builder(&endpoint, "mcpkv-region")
            .region(region)
            .build()
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Config, "{region:?}: {err}");
        assert!(!err.is_temporary());
    }
    // `region=` left empty in a URL (an unset variable) is the same.
    let url = format!(
        "dynamodb://mcpkv-region?region=&endpoint={endpoint}&access_key_id=test\
         &secret_access_key=secret"
    );
    let err = DynamoStore::open(&url).await.unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Config, "{err}");
}
