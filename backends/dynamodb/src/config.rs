//! The configuration of a [`DynamoStore`]: a builder and a URL form.
//!
//! ```text
//! dynamodb://TABLE?region=eu-west-1
//! dynamodb://TABLE?region=us-east-1&endpoint=http://127.0.0.1:8000&access_key_id=AKIA…&secret_access_key=…&auto_create=true
//! ```
//!
//! Query options (values may be percent-encoded; `+` is kept literally, as AWS secret keys
//! contain it):
//!
//! | option | meaning |
//! |---|---|
//! | `region` | AWS region (default: the `aws-config` chain, or `us-east-1` with an `endpoint`) |
//! | `endpoint` | endpoint override, e.g. a local emulator `http://127.0.0.1:8000` |
//! | `access_key_id`, `secret_access_key`, `session_token` | static credentials |
//! | `auto_create` | `true`: create the table (on demand, TTL enabled) when it is missing |
//! | `timeout_ms` | per-operation timeout in milliseconds (default 10 000) |
//! | `batch_deadline_ms` | how long one batch call retries its unprocessed items, all chunks together (default 30 000) |
//! | `batch_concurrency` | batch chunks in flight at once (default 8) |
//!
//! Unknown options are a [`ErrorKind::Config`] error. `Debug` never shows credentials.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_dynamodb::config::{Intercept, SharedInterceptor};
use mcp_kv_core::{Clock, Error, ErrorKind, Result, SharedClock};

use crate::store::DynamoStore;

/// Static AWS credentials. `Debug` shows neither the secret nor the session token.
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StaticCredentials {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// An optional session token (temporary credentials).
    pub session_token: Option<String>,
}

impl StaticCredentials {
    /// Credentials from an access key id and a secret access key.
    pub fn new(access_key_id: impl Into<String>, secret_access_key: impl Into<String>) -> Self {
        StaticCredentials {
            access_key_id: access_key_id.into(),
            secret_access_key: secret_access_key.into(),
            session_token: None,
        }
    }

    /// Adds a session token.
    pub fn with_session_token(mut self, token: impl Into<String>) -> Self {
        self.session_token = Some(token.into());
        self
    }
}

impl fmt::Debug for StaticCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StaticCredentials")
            .field("access_key_id", &redact_id(&self.access_key_id))
            .field("secret_access_key", &"<redacted>")
            .field(
                "session_token",
                &self.session_token.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Shows at most the first four characters of an access key id (`AKIA…`).
fn redact_id(id: &str) -> String {
    let head: String = id.chars().take(4).collect();
    format!("{head}…")
}

/// The settings of a [`DynamoStore`]. Build one with [`DynamoConfig::builder`] or
/// [`DynamoConfig::from_url`].
#[derive(Clone)]
#[non_exhaustive]
pub struct DynamoConfig {
    /// The table name (3..=255 characters of `a-z A-Z 0-9 _ - .`).
    pub table: String,
    /// The AWS region; `None`: from the `aws-config` chain, or `us-east-1` with an endpoint.
    pub region: Option<String>,
    /// An endpoint override (a local emulator, a VPC endpoint).
    pub endpoint: Option<String>,
    /// Static credentials; `None`: the default chain (feature `aws-config`).
    pub credentials: Option<StaticCredentials>,
    /// Create the table when it is missing (on-demand billing, TTL attribute enabled).
    pub auto_create: bool,
    /// Timeout of one operation, retries included.
    pub timeout: Duration,
    /// How long one batch call (all its chunks together) retries `UnprocessedKeys` /
    /// `UnprocessedItems` before it fails with [`ErrorKind::Timeout`].
    pub batch_deadline: Duration,
    /// How many batch chunks (BatchGetItem of 100, BatchWriteItem of 25) run at once.
    pub batch_concurrency: usize,
}

impl DynamoConfig {
    /// A configuration builder for `table`.
    pub fn builder(table: impl Into<String>) -> DynamoStoreBuilder {
        DynamoStoreBuilder::new(table)
    }

    /// Parses `dynamodb://TABLE?option=value&…` (see the [module docs](self)).
    pub fn from_url(url: &str) -> Result<DynamoConfig> {
        let rest = url
            .strip_prefix("dynamodb://")
            .ok_or_else(|| config_err("URL must start with dynamodb://"))?;
        let (table, query) = match rest.split_once('?') {
            Some((t, q)) => (t, q),
            None => (rest, ""),
        };
        let table = table.trim_end_matches('/');
        let mut cfg = DynamoConfig::new(decode(table)?);
        let (mut key_id, mut secret, mut token) = (None, None, None);
        for pair in query.split('&').filter(|p| !p.is_empty()) {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            let value = decode(value)?;
            match name {
                "region" => cfg.region = Some(value),
                "endpoint" => cfg.endpoint = Some(value),
                "access_key_id" => key_id = Some(value),
                "secret_access_key" => secret = Some(value),
                "session_token" => token = Some(value),
                "auto_create" => cfg.auto_create = parse_bool(name, &value)?,
                "timeout_ms" => cfg.timeout = Duration::from_millis(parse_num(name, &value)?),
                "batch_deadline_ms" => {
                    cfg.batch_deadline = Duration::from_millis(parse_num(name, &value)?)
                }
                "batch_concurrency" => {
                    cfg.batch_concurrency = usize::try_from(parse_num(name, &value)?)
                        .map_err(|_| config_err("batch_concurrency is out of range"))?
                }
                other => {
                    return Err(config_err(format!(
                        "unknown option `{}` in the dynamodb URL",
                        other.chars().take(40).collect::<String>()
                    )))
                }
            }
        }
        cfg.credentials = match (key_id, secret) {
            (Some(id), Some(secret)) => {
                let mut c = StaticCredentials::new(id, secret);
                c.session_token = token;
                Some(c)
            }
            (None, None) if token.is_none() => None,
            _ => {
                return Err(config_err(
                    "access_key_id and secret_access_key must be given together",
                ))
            }
        };
        cfg.validate()?;
        Ok(cfg)
    }

    fn new(table: String) -> Self {
        DynamoConfig {
            table,
            region: None,
            endpoint: None,
            credentials: None,
            auto_create: false,
            timeout: Duration::from_secs(10),
            batch_deadline: Duration::from_secs(30),
            batch_concurrency: 8,
        }
    }

    /// Checks the table name and the options.
    pub fn validate(&self) -> Result<()> {
        let t = &self.table;
        let valid = (3..=255).contains(&t.len())
            && t.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-' | b'.'));
        if !valid {
            return Err(config_err(
                "table name must be 3..=255 characters of a-z A-Z 0-9 _ - .",
            ));
        }
        if let Some(e) = &self.endpoint {
            if !(e.starts_with("http://") || e.starts_with("https://")) {
                return Err(config_err("endpoint must start with http:// or https://"));
            }
        }
        if self.batch_concurrency == 0 {
            return Err(config_err("batch_concurrency must be at least 1"));
        }
        if self.timeout.is_zero() || self.batch_deadline.is_zero() {
            return Err(config_err("timeouts must be positive"));
        }
        Ok(())
    }
}

impl fmt::Debug for DynamoConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamoConfig")
            .field("table", &self.table)
            .field("region", &self.region)
            .field("endpoint", &self.endpoint)
            .field("credentials", &self.credentials)
            .field("auto_create", &self.auto_create)
            .field("timeout", &self.timeout)
            .field("batch_deadline", &self.batch_deadline)
            .field("batch_concurrency", &self.batch_concurrency)
            .finish()
    }
}

/// Builds a [`DynamoStore`]: `DynamoStore::builder("table").region(…).build().await`.
#[must_use]
pub struct DynamoStoreBuilder {
    pub(crate) config: DynamoConfig,
    pub(crate) clock: Option<SharedClock>,
    pub(crate) interceptors: Vec<SharedInterceptor>,
    pub(crate) client: Option<aws_sdk_dynamodb::Client>,
}

impl DynamoStoreBuilder {
    /// A builder for `table` with default settings.
    pub fn new(table: impl Into<String>) -> Self {
        Self::from_config(DynamoConfig::new(table.into()))
    }

    /// A builder starting from a parsed configuration.
    pub fn from_config(config: DynamoConfig) -> Self {
        DynamoStoreBuilder {
            config,
            clock: None,
            interceptors: Vec::new(),
            client: None,
        }
    }

    /// A builder from a `dynamodb://` URL (see [`DynamoConfig::from_url`]).
    pub fn from_url(url: &str) -> Result<Self> {
        DynamoConfig::from_url(url).map(Self::from_config)
    }

    /// The AWS region.
    pub fn region(mut self, region: impl Into<String>) -> Self {
        self.config.region = Some(region.into());
        self
    }

    /// An endpoint override, e.g. `http://127.0.0.1:8000` for a local emulator.
    pub fn endpoint(mut self, endpoint: impl Into<String>) -> Self {
        self.config.endpoint = Some(endpoint.into());
        self
    }

    /// Static credentials.
    pub fn credentials(
        mut self,
        access_key_id: impl Into<String>,
        secret_access_key: impl Into<String>,
    ) -> Self {
        self.config.credentials = Some(StaticCredentials::new(access_key_id, secret_access_key));
        self
    }

    /// Static credentials with a session token, or any [`StaticCredentials`].
    pub fn static_credentials(mut self, credentials: StaticCredentials) -> Self {
        self.config.credentials = Some(credentials);
        self
    }

    /// Creates the table when it is missing (default `false`: a missing table is a
    /// [`ErrorKind::Config`] error).
    pub fn auto_create(mut self, on: bool) -> Self {
        self.config.auto_create = on;
        self
    }

    /// Timeout of one operation, SDK retries included (default 10 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.config.timeout = timeout;
        self
    }

    /// How long unprocessed batch items are retried (default 30 s).
    pub fn batch_deadline(mut self, deadline: Duration) -> Self {
        self.config.batch_deadline = deadline;
        self
    }

    /// Batch chunks in flight at once (default 8).
    pub fn batch_concurrency(mut self, n: usize) -> Self {
        self.config.batch_concurrency = n;
        self
    }

    /// The clock used for expiry (default: the system clock).
    ///
    /// DynamoDB evaluates conditions on the server with the `:now` the client sends, so every
    /// writer sharing a table should have a reasonably synchronised clock; a manual clock only
    /// makes sense for a single test process.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Some(Arc::new(clock));
        self
    }

    /// The clock, already shared.
    pub fn shared_clock(mut self, clock: SharedClock) -> Self {
        self.clock = Some(clock);
        self
    }

    /// Adds an SDK interceptor to the client the builder creates (metrics, request counting,
    /// fault injection in tests). Ignored when [`client`](Self::client) is given.
    pub fn interceptor(mut self, interceptor: impl Intercept + 'static) -> Self {
        self.interceptors.push(SharedInterceptor::new(interceptor));
        self
    }

    /// Uses a ready SDK client instead of building one; region, endpoint, credentials and
    /// timeouts of this builder are then ignored.
    pub fn client(mut self, client: aws_sdk_dynamodb::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// The configuration so far.
    pub fn config(&self) -> &DynamoConfig {
        &self.config
    }

    /// Validates, connects, checks (or creates) the table and returns the store.
    pub async fn build(self) -> Result<DynamoStore> {
        DynamoStore::from_builder(self).await
    }
}

impl fmt::Debug for DynamoStoreBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DynamoStoreBuilder")
            .field("config", &self.config)
            .field("clock", &self.clock)
            .field("interceptors", &self.interceptors.len())
            .field("client", &self.client.is_some())
            .finish()
    }
}

pub(crate) fn config_err(msg: impl Into<std::borrow::Cow<'static, str>>) -> Error {
    Error::new(ErrorKind::Config, msg)
        .with_backend(crate::BACKEND)
        .with_operation(mcp_kv_core::Operation::Open)
}

fn decode(s: &str) -> Result<String> {
    // `+` stays a plus sign: AWS secret keys contain it and are often pasted unencoded.
    mcp_kv_core::encoding::unescape(s)
        .map_err(|_| config_err("malformed percent-encoding in the dynamodb URL"))
}

fn parse_bool(name: &str, value: &str) -> Result<bool> {
    match value {
        "" | "true" | "1" | "yes" | "on" => Ok(true),
        "false" | "0" | "no" | "off" => Ok(false),
        _ => Err(config_err(format!("option `{name}` must be true or false"))),
    }
}

fn parse_num(name: &str, value: &str) -> Result<u64> {
    value
        .parse()
        .map_err(|_| config_err(format!("option `{name}` must be a number")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_round_trip() {
        let c = DynamoConfig::from_url(
            "dynamodb://my-table?region=eu-west-1&endpoint=http%3A%2F%2F127.0.0.1%3A8000\
             &access_key_id=AKIAEXAMPLE&secret_access_key=s3cr3t%2Fx&auto_create=true&timeout_ms=500",
        )
        .unwrap();
        assert_eq!(c.table, "my-table");
        assert_eq!(c.region.as_deref(), Some("eu-west-1"));
        assert_eq!(c.endpoint.as_deref(), Some("http://127.0.0.1:8000"));
        assert!(c.auto_create);
        assert_eq!(c.timeout, Duration::from_millis(500));
        let creds = c.credentials.clone().unwrap();
        assert_eq!(creds.secret_access_key, "s3cr3t/x");
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("s3cr3t"), "{dbg}");
        assert!(!dbg.contains("AKIAEXAMPLE"), "{dbg}");
        // `+` is kept (AWS secrets contain it); unencoded endpoints work too.
        let c = DynamoConfig::from_url(
            "dynamodb://tbl?access_key_id=AK&secret_access_key=a+b/c&region=us-east-1",
        )
        .unwrap();
        assert_eq!(c.credentials.unwrap().secret_access_key, "a+b/c");
        let c = DynamoConfig::from_url("dynamodb://tbl?endpoint=http://127.0.0.1:8000").unwrap();
        assert_eq!(c.endpoint.as_deref(), Some("http://127.0.0.1:8000"));
    }

    #[test]
    fn bad_urls_are_config_errors() {
        for url in [
            "redis://x",
            "dynamodb://ab",
            "dynamodb://bad name",
            "dynamodb://table?nope=1",
            "dynamodb://table?auto_create=maybe",
            "dynamodb://table?access_key_id=x",
            "dynamodb://table?endpoint=ftp://x",
            "dynamodb://table?secret_access_key=%zz",
        ] {
            let err = DynamoConfig::from_url(url).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::Config, "{url}");
        }
        let err = DynamoConfig::from_url("dynamodb://table?secret_access_key=hunter2").unwrap_err();
        assert!(!err.to_string().contains("hunter2"));
    }

    #[test]
    fn builder_debug_redacts() {
        let b = DynamoStoreBuilder::new("table").static_credentials(
            StaticCredentials::new("AKIASECRETID", "topsecret").with_session_token("tok123"),
        );
        let dbg = format!("{b:?}");
        assert!(!dbg.contains("topsecret") && !dbg.contains("tok123") && !dbg.contains("SECRETID"));
    }
}
