//! The main job of mcp-kv on the embedded default, no server needed:
//! puts and gets with TTL, one-time values, a typed collection and a session scope.
//!
//! Run it with `cargo run --example quickstart`.

use std::sync::Arc;
use std::time::Duration;

use mcp_kv::memory::MemoryStore;
use mcp_kv::{Bytes, DynStore, KvStore, KvStoreExt};

#[derive(Debug, serde::Serialize, serde::Deserialize)]
struct ToolStats {
    calls: u64,
    last_tool: String,
}

#[tokio::main]
async fn main() -> Result<(), mcp_kv::Error> {
    // Server start: build the store once; it lives as long as the server and is shared by
    // every client session.
    let store: DynStore = Arc::new(MemoryStore::new());
    println!("store: {store:?}");
    println!("capabilities: {:?}\n", store.capabilities());

    // Plain bytes with a TTL.
    store
        .put(
            "greetings",
            "en",
            Bytes::from_static(b"hello"),
            Some(Duration::from_millis(300)),
        )
        .await?;
    let entry = store.get_entry("greetings", "en").await?;
    println!(
        "put greetings/en = \"hello\" with ttl 300 ms -> get_entry: value {:?}, remaining ttl {:?}",
        entry
            .as_ref()
            .map(|e| String::from_utf8_lossy(&e.value).into_owned()),
        entry.and_then(|e| e.ttl)
    );
    tokio::time::sleep(Duration::from_millis(350)).await;
    println!(
        "after 350 ms -> get greetings/en: {:?} (expired)",
        store.get("greetings", "en").await?
    );

    // A one-time value: of two redemptions, exactly one gets it.
    store
        .put(
            "codes",
            "abc123",
            Bytes::from_static(b"grant for client-1"),
            Some(Duration::from_secs(300)),
        )
        .await?;
    let first = store.take("codes", "abc123").await?;
    let second = store.take("codes", "abc123").await?;
    println!(
        "\ntake codes/abc123 twice -> first: {:?}, second: {:?}",
        first.map(|b| String::from_utf8_lossy(&b).into_owned()),
        second
    );

    // A typed collection (JSON) with an atomic read-modify-write.
    let stats = store.collection::<ToolStats>("tool-stats");
    stats
        .put(
            "server-1",
            &ToolStats {
                calls: 0,
                last_tool: String::new(),
            },
            None,
        )
        .await?;
    for tool in ["search", "fetch", "search"] {
        stats
            .update("server-1", None, |s| {
                s.map(|s| ToolStats {
                    calls: s.calls + 1,
                    last_tool: tool.to_string(),
                })
            })
            .await?;
    }
    println!(
        "\ntyped collection tool-stats/server-1 after 3 updates: {:?}",
        stats.get("server-1").await?
    );

    // A session scope: state that lives and dies with one client session.
    let session = store.session("mcp-session-42", Duration::from_secs(1800))?;
    session.put_json("page", &2u32).await?;
    println!(
        "\nsession mcp-session-42: page = {:?}, active = {}",
        session.get_json::<u32>("page").await?,
        session.is_active().await?
    );
    let other = store.session("mcp-session-43", Duration::from_secs(1800))?;
    println!(
        "session mcp-session-43 sees page = {:?}",
        other.get_json::<u32>("page").await?
    );
    let removed = session.end().await?;
    println!(
        "session ended ({removed} entries removed): page = {:?}, active = {}",
        session.get_json::<u32>("page").await?,
        session.is_active().await?
    );

    // Server shutdown.
    store.close().await?;
    println!("\nstore closed");
    Ok(())
}
