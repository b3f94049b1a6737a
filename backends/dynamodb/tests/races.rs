//! 32 tasks race on one key, 100 rounds: exactly one `take` gets the value and exactly one
//! `put_if_absent` stores its value.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use mcp_kv_core::KvStore;
use mcp_kv_dynamodb::DynamoStore;

const TASKS: usize = 32;
const ROUNDS: usize = 100;

async fn setup(test: &str) -> Option<Arc<DynamoStore>> {
    let endpoint = common::endpoint(test)?;
    let table = common::table_name("race");
    Some(Arc::new(
        common::builder(&endpoint, &table)
            .build()
            .await
            .expect("store"),
    ))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn take_race_has_one_winner() {
    let Some(store) = setup("take_race_has_one_winner").await else {
        return;
    };
    for round in 0..ROUNDS {
        let key = format!("code-{round}");
        store
            .put("race", &key, Bytes::from(format!("grant-{round}")), None)
            .await
            .unwrap();
        let barrier = Arc::new(tokio::sync::Barrier::new(TASKS));
        let tasks: Vec<_> = (0..TASKS)
            .map(|_| {
                let (store, key, barrier) = (store.clone(), key.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    store.take("race", &key).await
                })
            })
            .collect();
        let mut winners = Vec::new();
        for t in tasks {
            if let Some(v) = t.await.unwrap().unwrap() {
                winners.push(v);
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: {} winners", winners.len());
        assert_eq!(winners[0], Bytes::from(format!("grant-{round}")));
        assert_eq!(store.get("race", &key).await.unwrap(), None);
    }
    store.delete_table().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn put_if_absent_race_has_one_winner() {
    let Some(store) = setup("put_if_absent_race_has_one_winner").await else {
        return;
    };
    for round in 0..ROUNDS {
        let key = format!("slot-{round}");
        let barrier = Arc::new(tokio::sync::Barrier::new(TASKS));
        let tasks: Vec<_> = (0..TASKS)
            .map(|i| {
                let (store, key, barrier) = (store.clone(), key.clone(), barrier.clone());
                tokio::spawn(async move {
                    barrier.wait().await;
                    let won = store
                        .put_if_absent("race", &key, Bytes::from(format!("task-{i}")), None)
                        .await?;
                    Ok::<_, mcp_kv_core::Error>(won.then_some(i))
                })
            })
            .collect();
        let mut winners = Vec::new();
        for t in tasks {
            if let Some(i) = t.await.unwrap().unwrap() {
                winners.push(i);
            }
        }
        assert_eq!(winners.len(), 1, "round {round}: winners {winners:?}");
        assert_eq!(
            store.get("race", &key).await.unwrap(),
            Some(Bytes::from(format!("task-{}", winners[0])))
        );
    }
    store.delete_table().await.unwrap();
}
