//! Bytes changed behind the store's back: `Corrupted` for that key, every other key readable,
//! no panic, and no key name or value in the error message.

use mcp_kv_core::encoding::encode_pair;
use mcp_kv_core::{Bytes, ErrorKind, KvStore};
use mcp_kv_sled::SledStore;

const C: &str = "tokens";

fn b(s: &str) -> Bytes {
    Bytes::copy_from_slice(s.as_bytes())
}

/// A store over a temporary database plus a raw handle on the same database.
fn store_and_raw() -> (SledStore, mcp_kv_sled::sled::Db) {
    let db = mcp_kv_sled::sled::Config::new()
        .temporary(true)
        .open()
        .unwrap();
    let store = SledStore::builder().build_with_db(db.clone()).unwrap();
    (store, db)
}

fn assert_corrupted<T: std::fmt::Debug>(r: mcp_kv_core::Result<T>, what: &str) {
    match r {
        Err(e) => {
            assert_eq!(e.kind(), ErrorKind::Corrupted, "{what}: {e}");
            let msg = e.to_string();
            assert!(
                !msg.contains("victim") && !msg.contains("secret"),
                "{what}: {msg}"
            );
            assert_eq!(e.backend(), Some("sled"), "{what}");
        }
        Ok(v) => panic!("{what}: expected Corrupted, got Ok({v:?})"),
    }
}

#[tokio::test]
async fn damaged_headers_are_corrupted_for_that_key_only() {
    let damages: [&[u8]; 6] = [
        b"",                          // empty
        b"\x07\x00secret",            // unknown format version
        b"\x01\x09secret",            // unknown tag
        b"\x01",                      // header cut short
        b"\x01\x01\x00\x00\x00",      // truncated expiry
        b"\xffsecret-without-header", // plain bytes
    ];
    for damage in damages {
        let (store, raw) = store_and_raw();
        for k in ["a", "victim", "z"] {
            store.put(C, k, b("secret-value"), None).await.unwrap();
        }
        raw.insert(encode_pair(C, "victim"), damage).unwrap();

        assert_corrupted(store.get(C, "victim").await, "get");
        assert_corrupted(store.get_entry(C, "victim").await, "get_entry");
        assert_corrupted(store.get_many(C, &["a", "victim"]).await, "get_many");
        assert_corrupted(store.get_entries(C, &["victim"]).await, "get_entries");
        assert_corrupted(
            store.put_if_absent(C, "victim", b("x"), None).await,
            "put_if_absent",
        );
        assert_corrupted(store.take(C, "victim").await, "take");
        assert_corrupted(
            store
                .compare_and_swap(C, "victim", None, Some(b("x")), None)
                .await,
            "compare_and_swap",
        );
        assert_corrupted(store.touch(C, "victim", None).await, "touch");
        // The failed atomic operations wrote nothing.
        assert_eq!(raw.get(encode_pair(C, "victim")).unwrap().unwrap(), damage);

        // Every other key stays readable.
        assert_eq!(store.get(C, "a").await.unwrap(), Some(b("secret-value")));
        assert_eq!(store.get(C, "z").await.unwrap(), Some(b("secret-value")));
        assert_eq!(
            store.get_many(C, &["a", "z"]).await.unwrap(),
            vec![Some(b("secret-value")), Some(b("secret-value"))]
        );

        // The damaged key stays listed, cull leaves it, delete repairs.
        let page = store.keys(C, None, 10).await.unwrap();
        assert_eq!(page.keys, vec!["a", "victim", "z"]);
        assert_eq!(store.cull().await.unwrap(), 0);
        // A plain `put` overwrites it.
        store.put(C, "victim", b("fresh"), None).await.unwrap();
        assert_eq!(store.get(C, "victim").await.unwrap(), Some(b("fresh")));
        raw.insert(encode_pair(C, "victim"), damage).unwrap();
        assert!(store.delete(C, "victim").await.unwrap());
        assert_eq!(store.get(C, "victim").await.unwrap(), None);
    }
}

#[tokio::test]
async fn flipped_value_bytes_never_panic() {
    // Every single-byte change of a stored entry with expiry either reads back as some value
    // (the value bytes or a later expiry changed) or is Corrupted — never a panic.
    let (store, raw) = store_and_raw();
    store
        .put(
            C,
            "k",
            b("0123456789"),
            Some(std::time::Duration::from_secs(60)),
        )
        .await
        .unwrap();
    store.put(C, "other", b("fine"), None).await.unwrap();
    let key = encode_pair(C, "k");
    let good = raw.get(&key).unwrap().unwrap().to_vec();
    for pos in 0..good.len() {
        for byte in [0x00, 0x01, 0x02, 0x7f, 0xff] {
            let mut bad = good.clone();
            bad[pos] = byte;
            raw.insert(&key, bad).unwrap();
            match store.get_entry(C, "k").await {
                Ok(_) => {}
                Err(e) => assert_eq!(e.kind(), ErrorKind::Corrupted),
            }
            assert_eq!(store.get(C, "other").await.unwrap(), Some(b("fine")));
        }
    }
}

#[tokio::test]
async fn damaged_names_are_corrupted_in_listings() {
    let (store, raw) = store_and_raw();
    store.put(C, "a", b("1"), None).await.unwrap();
    // A name shorter than its own length prefix, sorted before every real collection.
    raw.insert([0u8, 0, 0, 0x00], &b"\x01\x00v"[..]).unwrap();
    raw.insert([0u8, 0, 0, 0x09, b'x'], &b"\x01\x00v"[..])
        .unwrap();
    assert_corrupted(store.collections().await, "collections");
    // The well-formed collection is untouched.
    assert_eq!(store.keys(C, None, 10).await.unwrap().keys, vec!["a"]);
    assert_eq!(store.get(C, "a").await.unwrap(), Some(b("1")));
    // A key that is not UTF-8 inside a real collection.
    let mut bad = mcp_kv_core::encoding::collection_prefix(C);
    bad.extend_from_slice(&[0xff, 0xfe]);
    raw.insert(bad, &b"\x01\x00v"[..]).unwrap();
    assert_corrupted(store.keys(C, None, 10).await, "keys");
    assert_eq!(store.get(C, "a").await.unwrap(), Some(b("1")));
    // Every page that reaches it fails: the cursor cannot step past it.
    let page = store.keys(C, None, 1).await.unwrap();
    assert_eq!(page.keys, vec!["a"]);
    assert_corrupted(store.keys(C, page.next, 1).await, "the next page");

    // The repairs the crate docs name. `clear` of the collection removes a bad key with the
    // rest (it matches the prefix bytes, decoding nothing).
    assert_eq!(store.clear(C).await.unwrap(), 2);
    assert!(store.keys(C, None, 10).await.unwrap().keys.is_empty());
    // A bad collection prefix is out of every call's reach: remove it through `db()`.
    store.put(C, "a", b("1"), None).await.unwrap();
    assert_corrupted(store.collections().await, "collections, still");
    let bad: Vec<_> = store
        .db()
        .iter()
        .keys()
        .map(Result::unwrap)
        .filter(|k| mcp_kv_sled::encoding::decode_collection(k).is_err())
        .collect();
    assert_eq!(bad.len(), 2);
    for k in bad {
        store.db().remove(k).unwrap();
    }
    assert_eq!(store.collections().await.unwrap(), vec![C.to_string()]);
}

#[tokio::test]
async fn damage_to_sleds_own_file_loses_entries_without_an_error() {
    // A limitation the crate docs state: sled 0.34 checks its log messages' CRCs on recovery
    // and stops at the first that fails, so 4 KiB overwritten in the middle of the `db` file of
    // a closed database reopens fine, and the entries logged after the damage read as absent —
    // no `Corrupted`, no error at all. If this ever fails, sled started reporting it: update the
    // docs.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kv");
    let keys: Vec<String> = (0..2000).map(|i| format!("k{i:05}")).collect();
    let store = SledStore::open(&path).unwrap();
    for k in &keys {
        store
            .put(C, k, Bytes::from(vec![7u8; 100]), None)
            .await
            .unwrap();
    }
    store.close().await.unwrap();
    drop(store);

    let file = path.join("db");
    let mut bytes = std::fs::read(&file).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid..mid + 4096].fill(0xA5);
    std::fs::write(&file, &bytes).unwrap();

    let store = SledStore::open(&path).unwrap();
    let mut absent = 0;
    for k in &keys {
        match store.get(C, k).await.unwrap() {
            Some(v) => assert_eq!(v, Bytes::from(vec![7u8; 100])),
            None => absent += 1,
        }
    }
    assert!(absent > 0, "sled noticed the damage: update the crate docs");
    assert_eq!(
        store.keys(C, None, 5000).await.unwrap().keys.len(),
        keys.len() - absent
    );
}
