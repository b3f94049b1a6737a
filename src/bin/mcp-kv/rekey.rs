//! `mcp-kv rekey`: re-encrypts every entry under a new key, with progress.

use indicatif::{ProgressBar, ProgressStyle};
use mcp_kv::wrappers::encryption::{Encryption, EncryptionConfig, EncryptionKey, Keyring};
use mcp_kv::KvStore;

use crate::{store_err, CliResult};

/// Arguments of `rekey`. Keys are `ID:HEX` (a numeric key id, a colon, 64 hex digits) and are
/// read from the environment only, never from the command line, and never printed.
#[derive(Debug, clap::Args)]
pub struct Args {
    /// Environment variable holding the new active key, `ID:HEX`.
    #[arg(long, default_value = "MCP_KV_KEY")]
    key_env: String,
    /// Environment variable holding the old keys, `ID:HEX[,ID:HEX…]`.
    #[arg(long, default_value = "MCP_KV_OLD_KEYS")]
    old_keys_env: String,
    /// Also encrypt legacy plaintext entries (a migration to encryption).
    #[arg(long)]
    encrypt_plaintext: bool,
    /// Only the collections whose stored names start with this (a tenant's namespace prefix,
    /// e.g. `tenant-a:`); by default every collection of the store — with
    /// --encrypt-plaintext, also other tenants' and unencrypted ones.
    #[arg(long, default_value = "")]
    prefix: String,
}

fn parse_key(spec: &str, var: &str) -> CliResult<EncryptionKey> {
    let (id, hex_key) = spec
        .split_once(':')
        .ok_or_else(|| format!("{var}: expected ID:HEX"))?;
    let id: u32 = id
        .trim()
        .parse()
        .map_err(|_| format!("{var}: the key id must be a number"))?;
    let bytes = hex::decode(hex_key.trim()).map_err(|_| format!("{var}: the key is not hex"))?;
    EncryptionKey::from_bytes(id, &bytes).map_err(|e| format!("{var}: {}", e.context()))
}

pub async fn run(url: Option<&str>, args: Args) -> CliResult {
    let active = std::env::var(&args.key_env)
        .map_err(|_| format!("set {} to the new key (ID:HEX)", args.key_env))?;
    let mut keyring = Keyring::new(parse_key(&active, &args.key_env)?);
    if let Ok(old) = std::env::var(&args.old_keys_env) {
        for spec in old.split(',').filter(|s| !s.trim().is_empty()) {
            keyring = keyring
                .with_old_key(parse_key(spec, &args.old_keys_env)?)
                .map_err(store_err)?;
        }
    }
    let store = crate::open_existing(url, "store").await?;
    let config = EncryptionConfig::new().allow_legacy_plaintext(args.encrypt_plaintext);
    let enc = Encryption::new(store.clone(), keyring, config);
    let mut collections = store.collections().await.map_err(store_err)?;
    collections.retain(|c| c.starts_with(&args.prefix));
    let bar = ProgressBar::new(collections.len() as u64);
    bar.set_style(
        ProgressStyle::with_template("{spinner} {bar:40} {pos}/{len} collections {msg}")
            .map_err(|e| e.to_string())?,
    );
    let (mut scanned, mut rekeyed, mut plain, mut current) = (0, 0, 0, 0);
    let (mut failed, mut too_large) = (0, 0);
    for c in &collections {
        bar.set_message(c.clone());
        let r = enc.rekey_collection(c).await.map_err(store_err)?;
        scanned += r.scanned;
        rekeyed += r.rekeyed;
        plain += r.encrypted_plaintext;
        current += r.current;
        failed += r.failed;
        too_large += r.too_large;
        bar.inc(1);
    }
    bar.finish_and_clear();
    outln!(
        "scanned {scanned}, re-encrypted {rekeyed}, encrypted plaintext {plain}, \
         already current {current}, undecryptable {failed}, too large to encrypt {too_large}"
    );
    store.close().await.map_err(store_err)?;
    if failed > 0 {
        return Err(format!(
            "{failed} entries did not decrypt with any given key (or failed their tag) and were \
             left untouched"
        ));
    }
    if too_large > 0 {
        return Err(format!(
            "{too_large} plaintext entries are too large for the store once encrypted and were \
             left untouched"
        ));
    }
    Ok(())
}
