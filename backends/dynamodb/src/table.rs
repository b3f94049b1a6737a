//! Building the SDK client and checking (or creating) the table.

use std::time::{Duration, Instant};

use aws_sdk_dynamodb::config::{
    BehaviorVersion, Credentials, Region, SharedHttpClient, SharedInterceptor,
};
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType, TableStatus,
    TimeToLiveSpecification, TimeToLiveStatus,
};
use aws_sdk_dynamodb::Client;
use mcp_kv_core::{Error, ErrorKind, Operation, Result};

use crate::config::{config_err, DynamoConfig};
use crate::encoding::{PK, SK, TTL};
use crate::error::{build_err, code, sdk_err};

const OPEN: Operation = Operation::Open;
/// How long `auto_create` waits for a new table to become ACTIVE.
const ACTIVE_WAIT: Duration = Duration::from_secs(120);

/// The HTTP client: plain HTTP always; HTTPS with the `rustls` feature.
fn http_client(config: &DynamoConfig) -> Result<SharedHttpClient> {
    let https = config
        .endpoint
        .as_deref()
        .is_none_or(|e| e.starts_with("https://"));
    #[cfg(feature = "rustls")]
    {
        use aws_smithy_http_client::tls;
        let _ = https;
        Ok(aws_smithy_http_client::Builder::new()
            .tls_provider(tls::Provider::Rustls(
                tls::rustls_provider::CryptoMode::Ring,
            ))
            .build_https())
    }
    #[cfg(not(feature = "rustls"))]
    {
        if https {
            return Err(config_err(
                "HTTPS endpoints (real AWS) need the `rustls` feature of mcp-kv-dynamodb; \
                 without it only http:// endpoints can be used",
            ));
        }
        Ok(aws_smithy_http_client::Builder::new().build_http())
    }
}

/// Builds the SDK client from the configuration.
pub(crate) async fn make_client(
    config: &DynamoConfig,
    interceptors: Vec<SharedInterceptor>,
) -> Result<Client> {
    let http = http_client(config)?;
    #[allow(unused_mut)]
    let mut builder = aws_sdk_dynamodb::config::Builder::new();
    #[allow(unused_mut)]
    let mut have_region = false;
    #[allow(unused_mut)]
    let mut have_credentials = false;
    #[cfg(feature = "aws-config")]
    if config.credentials.is_none() || config.region.is_none() {
        let mut loader = aws_config::defaults(BehaviorVersion::latest()).http_client(http.clone());
        if let Some(region) = &config.region {
            loader = loader.region(Region::new(region.clone()));
        }
        let sdk = loader.load().await;
        have_region = sdk.region().is_some();
        have_credentials = sdk.credentials_provider().is_some();
        builder = aws_sdk_dynamodb::config::Builder::from(&sdk);
    }
    builder = builder
        .behavior_version(BehaviorVersion::latest())
        .http_client(http)
        .timeout_config(
            aws_sdk_dynamodb::config::timeout::TimeoutConfig::builder()
                .operation_timeout(config.timeout)
                .connect_timeout(config.timeout.min(Duration::from_secs(3)))
                .build(),
        );
    match (&config.region, &config.endpoint) {
        (Some(region), _) => builder = builder.region(Region::new(region.clone())),
        (None, _) if have_region => {}
        // Emulators ignore the region; a fixed one keeps signing happy.
        (None, Some(_)) => builder = builder.region(Region::new(crate::ENDPOINT_DEFAULT_REGION)),
        (None, None) => {
            return Err(config_err(
                "no AWS region: set `region` (or enable the `aws-config` feature)",
            ))
        }
    }
    if let Some(c) = &config.credentials {
        builder = builder.credentials_provider(Credentials::new(
            c.access_key_id.clone(),
            c.secret_access_key.clone(),
            c.session_token.clone(),
            None,
            "mcp-kv-static",
        ));
    } else if !have_credentials {
        return Err(config_err(
            "no AWS credentials: set access_key_id and secret_access_key \
             (or enable the `aws-config` feature for the default credential chain)",
        ));
    }
    if let Some(endpoint) = &config.endpoint {
        builder = builder.endpoint_url(endpoint.clone());
    }
    for interceptor in interceptors {
        builder.push_interceptor(interceptor);
    }
    Ok(Client::from_conf(builder.build()))
}

/// Checks that `table` exists with our key schema; creates it when `auto_create` is on.
pub(crate) async fn ensure_table(client: &Client, table: &str, auto_create: bool) -> Result<()> {
    match client.describe_table().table_name(table).send().await {
        Ok(out) => {
            let Some(desc) = out.table else {
                return Err(config_err("DescribeTable returned no table description"));
            };
            check_schema(table, desc.key_schema())?;
            if desc.table_status() != Some(&TableStatus::Active) {
                wait_active(client, table).await?;
            }
            if auto_create {
                enable_ttl(client, table).await?;
            }
            Ok(())
        }
        Err(e) if code(&e) == Some("ResourceNotFoundException") => {
            if !auto_create {
                return Err(config_err(format!(
                    "DynamoDB table `{table}` does not exist: create it with partition key \
                     `{PK}` (S) and sort key `{SK}` (S), or set auto_create=true"
                )));
            }
            create(client, table).await?;
            wait_active(client, table).await?;
            enable_ttl(client, table).await
        }
        // The SDK refused to build the first request: the region (not a DNS label, empty)
        // or the endpoint is unusable. A configuration error, not a backend failure.
        Err(e @ SdkError::ConstructionFailure(_)) => Err(config_err(
            "cannot build a DynamoDB request from this configuration: check `region` \
             (e.g. us-east-1) and `endpoint`",
        )
        .with_source(e)),
        Err(e) => Err(sdk_err(OPEN, e)),
    }
}

fn check_schema(table: &str, schema: &[KeySchemaElement]) -> Result<()> {
    let has = |name: &str, ty: KeyType| {
        schema
            .iter()
            .any(|k| k.attribute_name() == name && *k.key_type() == ty)
    };
    if schema.len() == 2 && has(PK, KeyType::Hash) && has(SK, KeyType::Range) {
        Ok(())
    } else {
        Err(config_err(format!(
            "DynamoDB table `{table}` has another key schema: expected partition key `{PK}` \
             and sort key `{SK}`"
        )))
    }
}

async fn create(client: &Client, table: &str) -> Result<()> {
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(|e| build_err(OPEN, e))
    };
    let key = |name: &str, ty: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(ty)
            .build()
            .map_err(|e| build_err(OPEN, e))
    };
    let result = client
        .create_table()
        .table_name(table)
        .attribute_definitions(attr(PK)?)
        .attribute_definitions(attr(SK)?)
        .key_schema(key(PK, KeyType::Hash)?)
        .key_schema(key(SK, KeyType::Range)?)
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await;
    match result {
        Ok(_) => Ok(()),
        // Another process created it first.
        Err(e) if code(&e) == Some("ResourceInUseException") => Ok(()),
        Err(e) => Err(sdk_err(OPEN, e)),
    }
}

async fn wait_active(client: &Client, table: &str) -> Result<()> {
    let deadline = Instant::now() + ACTIVE_WAIT;
    let mut delay = Duration::from_millis(50);
    loop {
        let out = client
            .describe_table()
            .table_name(table)
            .send()
            .await
            .map_err(|e| sdk_err(OPEN, e))?;
        if out.table.as_ref().and_then(|t| t.table_status()) == Some(&TableStatus::Active) {
            return Ok(());
        }
        if Instant::now() + delay > deadline {
            return Err(Error::new(
                ErrorKind::Timeout,
                format!("DynamoDB table `{table}` did not become ACTIVE in time"),
            )
            .with_operation(OPEN)
            .with_backend(crate::BACKEND));
        }
        tokio::time::sleep(delay).await;
        delay = (delay * 2).min(Duration::from_secs(2));
    }
}

async fn enable_ttl(client: &Client, table: &str) -> Result<()> {
    let current = client
        .describe_time_to_live()
        .table_name(table)
        .send()
        .await
        .map_err(|e| sdk_err(OPEN, e))?;
    let desc = current.time_to_live_description;
    let status = desc.as_ref().and_then(|d| d.time_to_live_status());
    if matches!(
        status,
        Some(TimeToLiveStatus::Enabled | TimeToLiveStatus::Enabling)
    ) {
        return Ok(());
    }
    let spec = TimeToLiveSpecification::builder()
        .enabled(true)
        .attribute_name(TTL)
        .build()
        .map_err(|e| build_err(OPEN, e))?;
    match client
        .update_time_to_live()
        .table_name(table)
        .time_to_live_specification(spec)
        .send()
        .await
    {
        Ok(_) => Ok(()),
        // A concurrent auto_create enabled it already.
        Err(e) if code(&e) == Some("ValidationException") => Ok(()),
        Err(e) => Err(sdk_err(OPEN, e)),
    }
}
