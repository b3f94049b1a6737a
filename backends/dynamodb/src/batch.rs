//! BatchGetItem (chunks of 100) and BatchWriteItem (chunks of 25), chunks in flight at once,
//! `UnprocessedKeys` / `UnprocessedItems` retried with exponential backoff until done or the
//! batch deadline.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use aws_sdk_dynamodb::types::{
    AttributeValue, DeleteRequest, KeysAndAttributes, PutRequest, WriteRequest,
};
use aws_sdk_dynamodb::Client;
use futures::{StreamExt, TryStreamExt};
use mcp_kv_core::{Error, ErrorKind, Operation, Result};

use crate::encoding::{EXP, SK};
use crate::error::{build_err, sdk_err};

/// A DynamoDB item.
pub(crate) type Item = HashMap<String, AttributeValue>;
/// A primary key `{pk, sk}`.
pub(crate) type KeyMap = HashMap<String, AttributeValue>;

/// Most keys of one BatchGetItem request.
pub const GET_CHUNK: usize = 100;
/// Most requests of one BatchWriteItem request.
pub const WRITE_CHUNK: usize = 25;

/// What a batch needs from the store.
pub(crate) struct Ctx<'a> {
    pub(crate) client: &'a Client,
    pub(crate) table: &'a str,
    /// When the whole call (every chunk, both phases of a `delete_many`) stops retrying
    /// unprocessed items; `None`: a `batch_deadline` too long for an `Instant`, never.
    pub(crate) deadline: Option<Instant>,
    pub(crate) concurrency: usize,
}

/// The delay before retry number `attempt` (1-based): 25 ms doubling up to 1 s, with jitter.
fn backoff(attempt: u32) -> Duration {
    let base = 25u64.saturating_mul(1 << attempt.min(6)).min(1000);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::from(d.subsec_nanos()))
        .unwrap_or(0);
    // Between half and all of the base delay.
    Duration::from_millis(base / 2 + nanos % (base / 2 + 1))
}

fn past_deadline(op: Operation, what: &'static str) -> Error {
    Error::new(ErrorKind::Timeout, what)
        .with_operation(op)
        .with_backend(crate::BACKEND)
}

impl Ctx<'_> {
    /// Whether sleeping `delay` more would end past the deadline.
    fn past(&self, delay: Duration) -> bool {
        self.deadline
            .is_some_and(|d| Instant::now().checked_add(delay).is_none_or(|t| t > d))
    }

    /// Fetches `keys` (distinct); returns the found items by stored sort key. With
    /// `key_only`, only `sk` and `exp` are fetched.
    pub(crate) async fn get(
        &self,
        op: Operation,
        keys: Vec<KeyMap>,
        key_only: bool,
    ) -> Result<HashMap<String, Item>> {
        let chunks: Vec<Vec<KeyMap>> = keys.chunks(GET_CHUNK).map(<[KeyMap]>::to_vec).collect();
        let found: Vec<Vec<Item>> = futures::stream::iter(chunks)
            .map(|chunk| self.get_chunk(op, chunk, key_only))
            .buffer_unordered(self.concurrency)
            .try_collect()
            .await?;
        let mut out = HashMap::new();
        for item in found.into_iter().flatten() {
            if let Some(AttributeValue::S(sk)) = item.get(SK) {
                out.insert(sk.clone(), item);
            }
        }
        Ok(out)
    }

    async fn get_chunk(
        &self,
        op: Operation,
        mut keys: Vec<KeyMap>,
        key_only: bool,
    ) -> Result<Vec<Item>> {
        let mut items = Vec::with_capacity(keys.len());
        let mut attempt = 0;
        loop {
            let mut ka = KeysAndAttributes::builder()
                .set_keys(Some(keys))
                .consistent_read(true);
            if key_only {
                ka = ka
                    .projection_expression("#sk, #e")
                    .expression_attribute_names("#sk", SK)
                    .expression_attribute_names("#e", EXP);
            }
            let ka = ka.build().map_err(|e| build_err(op, e))?;
            let out = self
                .client
                .batch_get_item()
                .request_items(self.table, ka)
                .send()
                .await
                .map_err(|e| sdk_err(op, e))?;
            if let Some(found) = out.responses.and_then(|mut r| r.remove(self.table)) {
                items.extend(found);
            }
            keys = out
                .unprocessed_keys
                .and_then(|mut u| u.remove(self.table))
                .map(|ka| ka.keys)
                .unwrap_or_default();
            if keys.is_empty() {
                return Ok(items);
            }
            attempt += 1;
            let delay = backoff(attempt);
            if self.past(delay) {
                return Err(past_deadline(
                    op,
                    "unprocessed keys remained past the batch deadline",
                ));
            }
            tokio::time::sleep(delay).await;
        }
    }

    /// Writes whole items (keys distinct).
    pub(crate) async fn put(&self, op: Operation, items: Vec<Item>) -> Result<()> {
        let requests = items
            .into_iter()
            .map(|item| {
                PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map(|p| WriteRequest::builder().put_request(p).build())
                    .map_err(|e| build_err(op, e))
            })
            .collect::<Result<Vec<_>>>()?;
        self.write(op, requests).await
    }

    /// Deletes `keys` (distinct).
    pub(crate) async fn delete(&self, op: Operation, keys: Vec<KeyMap>) -> Result<()> {
        let requests = keys
            .into_iter()
            .map(|key| {
                DeleteRequest::builder()
                    .set_key(Some(key))
                    .build()
                    .map(|d| WriteRequest::builder().delete_request(d).build())
                    .map_err(|e| build_err(op, e))
            })
            .collect::<Result<Vec<_>>>()?;
        self.write(op, requests).await
    }

    async fn write(&self, op: Operation, requests: Vec<WriteRequest>) -> Result<()> {
        let chunks: Vec<Vec<WriteRequest>> = requests
            .chunks(WRITE_CHUNK)
            .map(<[WriteRequest]>::to_vec)
            .collect();
        futures::stream::iter(chunks)
            .map(|chunk| self.write_chunk(op, chunk))
            .buffer_unordered(self.concurrency)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    async fn write_chunk(&self, op: Operation, mut requests: Vec<WriteRequest>) -> Result<()> {
        let mut attempt = 0;
        loop {
            let out = self
                .client
                .batch_write_item()
                .request_items(self.table, requests)
                .send()
                .await
                .map_err(|e| sdk_err(op, e))?;
            requests = out
                .unprocessed_items
                .and_then(|mut u| u.remove(self.table))
                .unwrap_or_default();
            if requests.is_empty() {
                return Ok(());
            }
            attempt += 1;
            let delay = backoff(attempt);
            if self.past(delay) {
                return Err(past_deadline(
                    op,
                    "unprocessed items remained past the batch deadline",
                ));
            }
            tokio::time::sleep(delay).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_grows_and_caps() {
        for attempt in 1..20 {
            let d = backoff(attempt);
            let base = 25u64.saturating_mul(1 << attempt.min(6)).min(1000);
            assert!(d >= Duration::from_millis(base / 2) && d <= Duration::from_millis(base));
        }
    }
}
