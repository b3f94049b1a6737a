//! Rows changed behind the store's back (with a raw connection, and in the file itself) give
//! `Corrupted` for the keys they touch; the other keys stay readable; nothing panics.

use std::time::Duration;

use bytes::Bytes;
use mcp_kv_core::{ErrorKind, KvStore, Result};
use mcp_kv_sqlite::{SqliteStore, DEFAULT_TABLE};

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

fn corrupted<T: std::fmt::Debug>(r: Result<T>, what: &str) {
    match r {
        Err(e) if e.kind() == ErrorKind::Corrupted => {
            let msg = e.to_string();
            assert!(
                !msg.contains("secret"),
                "{what}: the message leaks a value: {msg}"
            );
        }
        other => panic!("{what}: expected Corrupted, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_of_the_wrong_shape_are_corrupted_for_their_key_only() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv.db");
    let store = SqliteStore::open(&path).unwrap();
    for k in [
        "text_value",
        "text_expiry",
        "negative_expiry",
        "real_expiry",
        "good",
        "bad_key",
    ] {
        store
            .put("c", k, b("secret value"), Some(Duration::from_secs(3600)))
            .await
            .unwrap();
    }
    store.put("other", "k", b("fine"), None).await.unwrap();

    // Behind the store's back, while it is open.
    let raw = rusqlite::Connection::open(&path).unwrap();
    let t = DEFAULT_TABLE;
    raw.execute_batch(&format!(
        "UPDATE {t} SET value = 'secret text' WHERE key = 'text_value';
         UPDATE {t} SET expires_at = 'soon' WHERE key = 'text_expiry';
         UPDATE {t} SET expires_at = -5 WHERE key = 'negative_expiry';
         UPDATE {t} SET expires_at = 1.5 WHERE key = 'real_expiry';
         UPDATE {t} SET key = CAST(X'FF61' AS TEXT) WHERE key = 'bad_key';"
    ))
    .unwrap();

    for k in [
        "text_value",
        "text_expiry",
        "negative_expiry",
        "real_expiry",
    ] {
        corrupted(store.get("c", k).await, &format!("get {k}"));
        corrupted(store.get_entry("c", k).await, &format!("get_entry {k}"));
        corrupted(
            store.get_many("c", &["good", k]).await,
            &format!("get_many {k}"),
        );
        corrupted(store.take("c", k).await, &format!("take {k}"));
        corrupted(store.touch("c", k, None).await, &format!("touch {k}"));
        corrupted(
            store.put_if_absent("c", k, b("new"), None).await,
            &format!("put_if_absent {k}"),
        );
        corrupted(
            store
                .compare_and_swap("c", k, Some(b"secret value"), Some(b("new")), None)
                .await,
            &format!("compare_and_swap {k}"),
        );
        corrupted(
            store.compare_and_swap("c", k, None, None, None).await,
            &format!("compare_and_swap(absent) {k}"),
        );
    }
    // A failed take did not consume the row.
    corrupted(store.get("c", "text_value").await, "text_value after take");
    // A key that is not UTF-8 breaks the listing that reaches it, not the other keys.
    corrupted(
        store.keys("c", None, 100).await,
        "keys over a non-UTF-8 key",
    );
    assert_eq!(
        store.get("c", "good").await.unwrap(),
        Some(b("secret value"))
    );
    assert_eq!(store.get("other", "k").await.unwrap(), Some(b("fine")));
    assert_eq!(store.keys("other", None, 10).await.unwrap().keys, vec!["k"]);

    // The store can always repair a key by writing or deleting it.
    store
        .put("c", "text_value", b("repaired"), None)
        .await
        .unwrap();
    assert_eq!(
        store.get("c", "text_value").await.unwrap(),
        Some(b("repaired"))
    );
    assert!(store.delete("c", "text_expiry").await.unwrap());
    assert_eq!(store.get("c", "text_expiry").await.unwrap(), None);

    // With the non-UTF-8 key gone, the listing names every key that is there, the corrupted
    // ones included (reading them says `Corrupted`), as the sled and DynamoDB backends list
    // theirs: only a well-formed expiry in the past hides a row.
    raw.execute(
        &format!("DELETE FROM {t} WHERE key = CAST(X'FF61' AS TEXT)"),
        [],
    )
    .unwrap();
    let listed = ["good", "negative_expiry", "real_expiry", "text_value"];
    assert_eq!(store.keys("c", None, 100).await.unwrap().keys, listed);
    let paged = mcp_kv_core::testkit::all_keys(&store, "c", 1)
        .await
        .unwrap();
    assert_eq!(paged, listed);
    corrupted(store.get("c", "negative_expiry").await, "get after keys");
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_damaged_file_is_corrupted_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv.db");
    let store = SqliteStore::open(&path).unwrap();
    let entries = (0..200)
        .map(|i| (format!("k{i}"), Bytes::from(vec![7u8; 300])))
        .collect();
    store.put_many("c", entries, None).await.unwrap();
    store.close().await.unwrap();

    // Overwrite every page after the first (the schema page) with garbage.
    let mut bytes = std::fs::read(&path).unwrap();
    let page = u16::from_be_bytes([bytes[16], bytes[17]]) as usize;
    assert!(bytes.len() > page * 2);
    for (i, byte) in bytes[page..].iter_mut().enumerate() {
        *byte = (i as u8).wrapping_mul(31) ^ 0xA5;
    }
    std::fs::write(&path, &bytes).unwrap();

    match SqliteStore::open(&path) {
        Err(e) => assert!(
            matches!(e.kind(), ErrorKind::Corrupted | ErrorKind::Config),
            "open: {e}"
        ),
        Ok(store) => {
            let e = store.get("c", "k1").await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Corrupted, "{e}");
            let e = store.keys("c", None, 10).await.unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Corrupted, "{e}");
            let _ = store.close().await;
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_with_bad_names_break_listings_until_removed() {
    // What the crate docs promise about names written behind the store's back (a BLOB, or TEXT
    // that is not UTF-8): which calls fail, which calls remove them, and the SQL that does.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv.db");
    let store = SqliteStore::open(&path).unwrap();
    for k in ["a", "b", "c"] {
        store.put("good", k, b("v"), None).await.unwrap();
    }
    store.put("other", "k", b("v"), None).await.unwrap();
    let raw = rusqlite::Connection::open(&path).unwrap();
    let t = DEFAULT_TABLE;
    let insert = |c: &str, k: &str| {
        raw.execute(
            &format!("INSERT INTO {t} VALUES ({c}, {k}, X'00', NULL)"),
            [],
        )
        .unwrap()
    };

    // A bad key in a well-formed collection: every page of `keys()` that reaches it fails
    // (a BLOB sorts after all TEXT, so the last one), the collection itself stays listed.
    insert("'good'", "X'FF'");
    assert_eq!(
        store.keys("good", None, 2).await.unwrap().keys,
        vec!["a", "b"]
    );
    corrupted(
        store.keys("good", None, 3).await,
        "keys reaching a BLOB key",
    );
    let page = store.keys("good", None, 2).await.unwrap();
    corrupted(
        store.keys("good", page.next, 2).await,
        "the next page reaching a BLOB key",
    );
    assert_eq!(
        store.collections().await.unwrap(),
        vec!["good".to_string(), "other".to_string()]
    );
    // No `delete` can name it (names are &str, bound as TEXT); `clear` of its collection
    // removes it with the rest.
    assert_eq!(store.clear("good").await.unwrap(), 4);
    assert!(store.keys("good", None, 10).await.unwrap().keys.is_empty());

    // A bad collection name: `collections()` fails, and nothing in the API removes the row.
    insert("X'FF'", "'k'");
    insert("CAST(X'FF61' AS TEXT)", "'k'");
    corrupted(store.collections().await, "collections over a bad name");
    assert_eq!(store.keys("other", None, 10).await.unwrap().keys, vec!["k"]);
    // The SQL of the crate docs repairs it.
    let removed = raw
        .execute(
            &format!("DELETE FROM {t} WHERE typeof(collection) <> 'text' OR typeof(key) <> 'text'"),
            [],
        )
        .unwrap();
    assert_eq!(removed, 1);
    let removed = raw
        .execute(
            &format!("DELETE FROM {t} WHERE CAST(collection AS BLOB) = X'FF61'"),
            [],
        )
        .unwrap();
    assert_eq!(removed, 1);
    assert_eq!(
        store.collections().await.unwrap(),
        vec!["other".to_string()]
    );
    store.close().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_byte_inside_a_value_reads_back_changed() {
    // A limitation the crate docs state: SQLite checks the structure of its pages, not the
    // bytes of the values in them. A byte flipped inside every stored value, in the file of a
    // closed store, reads back as a different value without any error.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv.db");
    let store = SqliteStore::open(&path).unwrap();
    let entries = (0..200)
        .map(|i| (format!("k{i:03}"), Bytes::from(vec![7u8; 100])))
        .collect();
    store.put_many("c", entries, None).await.unwrap();
    store.close().await.unwrap();
    drop(store);

    let mut bytes = std::fs::read(&path).unwrap();
    let mut i = 0;
    while i + 100 <= bytes.len() {
        if bytes[i..i + 100].iter().all(|&b| b == 7) {
            bytes[i + 50] = 8;
            i += 100;
        } else {
            i += 1;
        }
    }
    std::fs::write(&path, &bytes).unwrap();

    let store = SqliteStore::open(&path).unwrap();
    for i in 0..200 {
        let v = store.get("c", &format!("k{i:03}")).await.unwrap().unwrap();
        assert_eq!(v.len(), 100);
        assert_eq!(v[50], 8, "SQLite noticed the change: update the crate docs");
    }
    store.close().await.unwrap();
}
