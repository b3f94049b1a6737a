//! A reply lost in a Redis Cluster: the one-shot operations are never sent twice.
//!
//! Every master is told to drop a client whose reply buffer passes 1 MiB (`CONFIG SET
//! client-output-buffer-limit "normal 1mb 0 0"`, restored at the end), so a `take` of a 2 MiB
//! value runs on the server — the key is gone — and then loses its connection before the reply
//! arrives. The cluster client used to re-send the `GETDEL`, whose second run answered
//! `Ok(None)`: the value lost with no error. Now the answer is the value or a temporary error,
//! never `None`. Alone in its test binary: the lowered limit would break other tests' large
//! values on the shared cluster.

mod common;

#[cfg(feature = "cluster")]
use mcp_kv_core::{Bytes, ErrorKind, KvStore};
#[cfg(feature = "cluster")]
use mcp_kv_redis::{RedisConfig, RedisStore};

#[cfg(feature = "cluster")]
async fn set_output_limit(urls: &str, limit: &str) {
    use redis::cluster_routing::{MultipleNodeRoutingInfo, RoutingInfo};
    let client = redis::cluster::ClusterClient::new(urls.split(',').collect::<Vec<_>>()).unwrap();
    let mut conn = client.get_async_connection().await.unwrap();
    let cmd = redis::cmd("CONFIG")
        .arg("SET")
        .arg("client-output-buffer-limit")
        .arg(limit)
        .clone();
    conn.route_command(
        cmd,
        RoutingInfo::MultiNode((MultipleNodeRoutingInfo::AllMasters, None)),
    )
    .await
    .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_take_whose_reply_is_lost_is_an_error_never_none() {
    let Some(urls) = common::env_or_skip(
        "MCP_KV_REDIS_CLUSTER_URLS",
        "a_take_whose_reply_is_lost_is_an_error_never_none",
    ) else {
        return;
    };
    #[cfg(not(feature = "cluster"))]
    {
        let _ = urls;
        common::feature_or_skip(
            false,
            "cluster",
            "a_take_whose_reply_is_lost_is_an_error_never_none",
        );
    }
    #[cfg(feature = "cluster")]
    {
        let config = RedisConfig::builder()
            .cluster_nodes(urls.split(','))
            .prefix(common::unique_prefix("lost-reply"))
            .build()
            .unwrap();
        let store = RedisStore::connect(config).await.unwrap();
        let value = Bytes::from(vec![7u8; 2 << 20]);
        let mut outcomes = Vec::new();
        set_output_limit(&urls, "normal 1mb 0 0").await;
        for i in 0..3 {
            let key = format!("big-{i}");
            let put = store.put("c", &key, value.clone(), None).await;
            let taken = store.take("c", &key).await;
            outcomes.push((put.is_ok(), taken));
        }
        set_output_limit(&urls, "normal 0 0 0").await;
        let _ = store.clear("c").await;
        for (put_ok, taken) in outcomes {
            assert!(put_ok, "the put itself has a small reply");
            match taken {
                Ok(Some(v)) => assert_eq!(v.len(), value.len()),
                Ok(None) => panic!("take answered None for a value it had removed"),
                Err(e) => assert!(
                    e.is_temporary()
                        && matches!(e.kind(), ErrorKind::Unavailable | ErrorKind::Timeout),
                    "{e}"
                ),
            }
        }
    }
}
