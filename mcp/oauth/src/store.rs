//! [`TokenStore`]: every step of the flow, over any [`DynStore`].

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use mcp_kv_core::collection::{decode_json, encode_json};
use mcp_kv_core::{rules, DynStore, Error, ErrorKind, SharedClock};
use serde::de::DeserializeOwned;

use crate::client::{
    is_subset, normalize_scopes, validate_resource, ClientCredentials, ClientMetadata,
    RegisteredClient,
};
use crate::config::{Lifetimes, TokenStoreBuilder, EXPIRED_REPORT_GRACE};
use crate::crypto::{self, Kind};
use crate::records::{
    AccessGrant, AccessRecord, AuthorizationHandle, ClientRecord, CodeRecord, ConsentRecord,
    FamilyRecord, IssuedCode, PendingAuthorization, PendingRecord, RefreshRecord, TokenPair,
    UpstreamRecord, UpstreamTokens,
};
use crate::request::{AuthorizationRequest, CodeExchange, RefreshRequest};
use crate::secret::{ct_eq_str, Secret};
use crate::{OAuthError, Result};

/// How many compare-and-swap rounds an update of a shared record (client, pending
/// authorization, revoked family) tries before giving up with a temporary conflict.
const CAS_ROUNDS: usize = 32;
/// Longest client id, subject or client state accepted, in bytes.
const MAX_ID_BYTES: usize = 1024;

/// The collection names of one token store.
#[derive(Debug)]
struct Names {
    clients: String,
    pending: String,
    consents: String,
    codes: String,
    upstream: String,
    access: String,
    refresh: String,
    families: String,
}

impl Names {
    fn new(prefix: &str) -> Self {
        let n = |s: &str| format!("{prefix}.{s}");
        Names {
            clients: n("clients"),
            pending: n("pending"),
            consents: n("consents"),
            codes: n("codes"),
            upstream: n("upstream"),
            access: n("access"),
            refresh: n("refresh"),
            families: n("families"),
        }
    }
}

struct Inner {
    store: DynStore,
    encrypted: bool,
    lifetimes: Lifetimes,
    clock: SharedClock,
    names: Names,
}

/// The storage and security core of an MCP server's OAuth layer: client registrations,
/// pending authorizations, consent, one-time codes, upstream tokens, and the opaque tokens
/// issued to clients — over any [`DynStore`], with no HTTP in it.
///
/// Build one at server start with [`TokenStore::builder`], clone it freely (clones share
/// everything), and give it to every replica that shares the backend. See the
/// [crate docs](crate) for the whole flow and the threat model.
#[derive(Clone)]
pub struct TokenStore {
    inner: Arc<Inner>,
}

impl fmt::Debug for TokenStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenStore")
            .field("encrypted", &self.inner.encrypted)
            .field("lifetimes", &self.inner.lifetimes)
            .field("collections", &self.inner.names)
            .finish_non_exhaustive()
    }
}

fn check_id(value: &str, what: &'static str) -> Result<()> {
    if value.is_empty() || value.len() > MAX_ID_BYTES {
        return Err(OAuthError::InvalidRequest(what));
    }
    Ok(())
}

fn ms(d: Duration) -> u64 {
    mcp_kv_core::expiry::ttl_millis_ceil(d)
}

fn conflict() -> OAuthError {
    OAuthError::Storage(
        Error::new(
            ErrorKind::Conflict,
            "a record kept changing during an update",
        )
        .set_temporary(true),
    )
}

fn collision() -> OAuthError {
    OAuthError::Storage(Error::new(
        ErrorKind::Conflict,
        "a freshly generated identifier already exists",
    ))
}

fn mismatched_key() -> OAuthError {
    OAuthError::Storage(Error::corrupted("a stored record is bound to another key"))
}

impl TokenStore {
    /// A builder over `backend` (any store with atomic `put_if_absent`, `take` and
    /// `compare_and_swap`). Set an encryption keyring before `build()`.
    pub fn builder(backend: DynStore) -> TokenStoreBuilder {
        TokenStoreBuilder::new(backend)
    }

    pub(crate) fn from_parts(
        store: DynStore,
        encrypted: bool,
        lifetimes: Lifetimes,
        clock: SharedClock,
        prefix: &str,
    ) -> Self {
        TokenStore {
            inner: Arc::new(Inner {
                store,
                encrypted,
                lifetimes,
                clock,
                names: Names::new(prefix),
            }),
        }
    }

    /// The lifetimes in force.
    pub fn lifetimes(&self) -> Lifetimes {
        self.inner.lifetimes
    }

    /// Whether records are encrypted (false only with `insecure_plaintext_for_tests`).
    pub fn is_encrypted(&self) -> bool {
        self.inner.encrypted
    }

    // ---- time -------------------------------------------------------------------------

    fn now(&self) -> u64 {
        self.inner.clock.now_millis()
    }

    /// Whether something that expires at `expires_at_ms` is past it, skew allowance included.
    fn is_expired(&self, expires_at_ms: u64, now: u64) -> bool {
        now > expires_at_ms.saturating_add(ms(self.inner.lifetimes.clock_skew))
    }

    /// The storage TTL of a record with `lifetime`: lifetime + skew + report grace, so it is
    /// never zero, and never beyond the contract's maximum.
    fn storage_ttl(&self, lifetime: Duration) -> Duration {
        lifetime
            .saturating_add(self.inner.lifetimes.clock_skew)
            .saturating_add(EXPIRED_REPORT_GRACE)
            .clamp(Duration::from_millis(1), rules::MAX_TTL)
    }

    // ---- record I/O ---------------------------------------------------------------------

    async fn read<T: DeserializeOwned>(&self, collection: &str, key: &str) -> Result<Option<T>> {
        match self.inner.store.get(collection, key).await? {
            Some(bytes) => Ok(Some(decode_json(&bytes)?)),
            None => Ok(None),
        }
    }

    async fn insert<T: serde::Serialize>(
        &self,
        collection: &str,
        key: &str,
        record: &T,
        ttl: Option<Duration>,
    ) -> Result<()> {
        let bytes = encode_json(record)?;
        if self
            .inner
            .store
            .put_if_absent(collection, key, bytes, ttl)
            .await?
        {
            Ok(())
        } else {
            Err(collision())
        }
    }

    /// Takes a one-time record (a code, a pending authorization) atomically. A record that is
    /// there but does not open (tampered, planted, sealed under a key no longer held: a
    /// `Decryption` or `Corrupted` error) is **burned** too — deleted, the error returned —
    /// so a one-time record is never tried twice: the encryption wrapper's `take` leaves a
    /// value it cannot decrypt where it is.
    async fn take_one_time(
        &self,
        collection: &str,
        key: &str,
    ) -> std::result::Result<Option<mcp_kv_core::Bytes>, Error> {
        match self.inner.store.take(collection, key).await {
            Err(e) if matches!(e.kind(), ErrorKind::Decryption | ErrorKind::Corrupted) => {
                self.delete_best_effort(collection, key).await;
                Err(e)
            }
            taken => taken,
        }
    }

    /// Deletes, logging (without names) instead of failing: used where the step already
    /// succeeded and the record would expire anyway.
    async fn delete_best_effort(&self, collection: &str, key: &str) {
        if let Err(e) = self.inner.store.delete(collection, key).await {
            tracing::warn!(error = %e, "mcp-kv-oauth: best-effort delete failed");
        }
    }

    // ---- clients ------------------------------------------------------------------------

    /// Registers a client (RFC 7591): validates its redirect URIs (exact strings, `https` or
    /// loopback `http`, no fragment) and scopes, issues a client id (and a secret for a
    /// confidential client — stored only as a hash), stores the registration without TTL.
    pub async fn register_client(&self, metadata: ClientMetadata) -> Result<ClientCredentials> {
        let metadata = metadata.validated()?;
        let client_id = crypto::random_id();
        let secret = metadata
            .confidential
            .then(|| crypto::generate(Kind::ClientSecret));
        let record = ClientRecord {
            client: RegisteredClient {
                client_id: client_id.clone(),
                metadata,
                registered_at_ms: self.now(),
            },
            secret_key: secret
                .as_ref()
                .map(|s| crypto::storage_key(Kind::ClientSecret, s.expose_secret())),
        };
        self.insert(&self.inner.names.clients, &client_id, &record, None)
            .await?;
        Ok(ClientCredentials {
            client_id,
            client_secret: secret,
        })
    }

    async fn client_record(&self, client_id: &str) -> Result<Option<ClientRecord>> {
        if client_id.is_empty() || client_id.len() > MAX_ID_BYTES {
            return Ok(None);
        }
        let record: Option<ClientRecord> = self.read(&self.inner.names.clients, client_id).await?;
        match record {
            Some(r) if r.client.client_id != client_id => Err(mismatched_key()),
            r => Ok(r),
        }
    }

    /// Refuses a client that was deleted, or scopes it may no longer ask for, since a grant
    /// started: codes are issued and redeemed, and refresh tokens rotated, against the
    /// registration as it is now.
    async fn check_client_now(&self, client_id: &str, scopes: &[String]) -> Result<ClientRecord> {
        let client = self
            .client_record(client_id)
            .await?
            .ok_or(OAuthError::InvalidClient(
                "the client is no longer registered",
            ))?;
        if let Some(allowed) = &client.client.metadata.scopes {
            if !is_subset(scopes, allowed) {
                return Err(OAuthError::InvalidScope(
                    "scope no longer allowed for this client",
                ));
            }
        }
        Ok(client)
    }

    /// [`check_client_now`](Self::check_client_now), and the redirect URI must still be
    /// registered.
    async fn check_still_registered(
        &self,
        client_id: &str,
        redirect_uri: &str,
        scopes: &[String],
    ) -> Result<()> {
        let client = self.check_client_now(client_id, scopes).await?;
        if !client.client.metadata.allows_redirect(redirect_uri) {
            return Err(OAuthError::InvalidRedirectUri(
                "the redirect uri is no longer registered for this client",
            ));
        }
        Ok(())
    }

    /// The registration of `client_id`, if any.
    pub async fn get_client(&self, client_id: &str) -> Result<Option<RegisteredClient>> {
        Ok(self.client_record(client_id).await?.map(|r| r.client))
    }

    /// Replaces a client's metadata (same validation as registration); its id and secret
    /// stay, and so does its type: [`OAuthError::InvalidRequest`] if the update would make a
    /// public client confidential or the reverse. [`OAuthError::InvalidClient`] if it is not
    /// registered. Narrowed scopes or removed redirect URIs apply to grants in progress and to
    /// refresh.
    pub async fn update_client(
        &self,
        client_id: &str,
        metadata: ClientMetadata,
    ) -> Result<RegisteredClient> {
        let metadata = metadata.validated()?;
        let names = &self.inner.names;
        for _ in 0..CAS_ROUNDS {
            let Some(current) = self.inner.store.get(&names.clients, client_id).await? else {
                return Err(OAuthError::InvalidClient("unknown client"));
            };
            let mut record: ClientRecord = decode_json(&current)?;
            if record.client.client_id != client_id {
                return Err(mismatched_key());
            }
            // The secret (or its absence) was fixed at registration: a public client turned
            // "confidential" would authenticate with no secret at all.
            if metadata.confidential != record.secret_key.is_some() {
                return Err(OAuthError::InvalidRequest(
                    "a client cannot change between public and confidential",
                ));
            }
            record.client.metadata = metadata.clone();
            let new = encode_json(&record)?;
            if self
                .inner
                .store
                .compare_and_swap(&names.clients, client_id, Some(&current), Some(new), None)
                .await?
            {
                return Ok(record.client);
            }
        }
        Err(conflict())
    }

    /// Deletes a client registration; `true` if it existed. Its pending authorizations and
    /// codes can no longer complete, and its refresh tokens are refused; access tokens already
    /// issued stay valid until they expire (at most the access-token lifetime) or are revoked.
    pub async fn delete_client(&self, client_id: &str) -> Result<bool> {
        if client_id.is_empty() || client_id.len() > MAX_ID_BYTES {
            return Ok(false);
        }
        Ok(self
            .inner
            .store
            .delete(&self.inner.names.clients, client_id)
            .await?)
    }

    /// Authenticates a client at the token endpoint: a confidential client must present its
    /// secret (compared as hashes, in constant time); a public client must present none.
    pub async fn authenticate_client(
        &self,
        client_id: &str,
        client_secret: Option<&str>,
    ) -> Result<RegisteredClient> {
        let record = self
            .client_record(client_id)
            .await?
            .ok_or(OAuthError::InvalidClient("unknown client"))?;
        match (&record.secret_key, client_secret) {
            (None, None) => Ok(record.client),
            (Some(stored), Some(presented)) => {
                let presented = crypto::storage_key(Kind::ClientSecret, presented);
                if ct_eq_str(stored, &presented) {
                    Ok(record.client)
                } else {
                    Err(OAuthError::InvalidClient("client authentication failed"))
                }
            }
            (Some(_), None) => Err(OAuthError::InvalidClient("client secret required")),
            (None, Some(_)) => Err(OAuthError::InvalidClient("public client sent a secret")),
        }
    }

    // ---- pending authorizations ---------------------------------------------------------

    /// Starts an authorization: checks the client, the exact redirect URI, PKCE (`S256`
    /// only), scopes and resource, and stores a pending authorization for 15 minutes (by
    /// default) under the hash of a fresh 256-bit state.
    pub async fn begin_authorization(
        &self,
        request: AuthorizationRequest,
    ) -> Result<AuthorizationHandle> {
        let client = self
            .client_record(&request.client_id)
            .await?
            .ok_or(OAuthError::InvalidClient("unknown client"))?
            .client;
        if !client.metadata.allows_redirect(&request.redirect_uri) {
            return Err(OAuthError::InvalidRedirectUri(
                "redirect uri is not registered for this client",
            ));
        }
        crypto::check_challenge(&request.code_challenge, &request.code_challenge_method)?;
        let scopes = normalize_scopes(request.scopes)?;
        if let Some(allowed) = &client.metadata.scopes {
            if !is_subset(&scopes, allowed) {
                return Err(OAuthError::InvalidScope(
                    "scope not allowed for this client",
                ));
            }
        }
        validate_resource(&request.resource)?;
        if let Some(s) = &request.client_state {
            check_id(s, "client state is empty or too long")?;
        }
        let state = crypto::generate(Kind::Pending);
        let key = crypto::storage_key(Kind::Pending, state.expose_secret());
        let now = self.now();
        let lifetime = self.inner.lifetimes.pending;
        let record = PendingRecord {
            key: key.clone(),
            client_id: request.client_id,
            redirect_uri: request.redirect_uri,
            code_challenge: request.code_challenge,
            scopes,
            resource: request.resource,
            client_state: request.client_state,
            subject: None,
            created_at_ms: now,
            expires_at_ms: now.saturating_add(ms(lifetime)),
        };
        self.insert(
            &self.inner.names.pending,
            &key,
            &record,
            Some(self.storage_ttl(lifetime)),
        )
        .await?;
        Ok(AuthorizationHandle {
            state,
            expires_at_ms: record.expires_at_ms,
        })
    }

    fn pending_key(state: &str) -> Result<String> {
        if !crypto::well_formed(Kind::Pending, state) {
            return Err(OAuthError::InvalidGrant("unknown authorization state"));
        }
        Ok(crypto::storage_key(Kind::Pending, state))
    }

    fn check_pending(&self, record: &PendingRecord, key: &str) -> Result<()> {
        if record.key != key {
            return Err(mismatched_key());
        }
        if self.is_expired(record.expires_at_ms, self.now()) {
            return Err(OAuthError::Expired("authorization request expired"));
        }
        Ok(())
    }

    /// The pending authorization of `state` (for a consent page), without consuming it.
    pub async fn pending_authorization(&self, state: &str) -> Result<PendingAuthorization> {
        let key = Self::pending_key(state)?;
        let record: PendingRecord = self
            .read(&self.inner.names.pending, &key)
            .await?
            .ok_or(OAuthError::InvalidGrant("unknown authorization state"))?;
        self.check_pending(&record, &key)?;
        Ok((&record).into())
    }

    /// Records who the user is, once the upstream identity provider said so. Set once: a
    /// different subject later is [`OAuthError::InvalidGrant`].
    pub async fn attach_subject(&self, state: &str, subject: &str) -> Result<PendingAuthorization> {
        check_id(subject, "subject is empty or too long")?;
        let key = Self::pending_key(state)?;
        let names = &self.inner.names;
        for _ in 0..CAS_ROUNDS {
            let Some(entry) = self.inner.store.get_entry(&names.pending, &key).await? else {
                return Err(OAuthError::InvalidGrant("unknown authorization state"));
            };
            let mut record: PendingRecord = decode_json(&entry.value)?;
            self.check_pending(&record, &key)?;
            match &record.subject {
                Some(s) if s == subject => return Ok((&record).into()),
                Some(_) => {
                    return Err(OAuthError::InvalidGrant(
                        "authorization already belongs to another subject",
                    ))
                }
                None => record.subject = Some(subject.to_string()),
            }
            let new = encode_json(&record)?;
            let ttl = entry
                .ttl
                .or(Some(self.storage_ttl(self.inner.lifetimes.pending)));
            if self
                .inner
                .store
                .compare_and_swap(&names.pending, &key, Some(&entry.value), Some(new), ttl)
                .await?
            {
                return Ok((&record).into());
            }
        }
        Err(conflict())
    }

    /// Ends a pending authorization without a code (the user denied, or the upstream login
    /// failed), atomically; returns it so the transport can redirect with an error.
    pub async fn cancel_authorization(&self, state: &str) -> Result<PendingAuthorization> {
        let key = Self::pending_key(state)?;
        let bytes = self
            .take_one_time(&self.inner.names.pending, &key)
            .await?
            .ok_or(OAuthError::InvalidGrant("unknown authorization state"))?;
        let record: PendingRecord = decode_json(&bytes)?;
        if record.key != key {
            return Err(mismatched_key());
        }
        Ok((&record).into())
    }

    /// Completes an authorization: the subject must be attached and consent recorded for
    /// exactly this (subject, client, redirect URI, scopes). Consumes the pending
    /// authorization with the atomic `take` (so two completions cannot both get a code),
    /// stores the upstream tokens encrypted, and issues a one-time code bound to client,
    /// redirect URI, PKCE challenge, resource and subject, stored only as its hash.
    pub async fn complete_authorization(
        &self,
        state: &str,
        upstream: Option<UpstreamTokens>,
    ) -> Result<IssuedCode> {
        let key = Self::pending_key(state)?;
        let names = &self.inner.names;
        let seen: PendingRecord = self
            .read(&names.pending, &key)
            .await?
            .ok_or(OAuthError::InvalidGrant("unknown authorization state"))?;
        self.check_pending(&seen, &key)?;
        let subject = seen
            .subject
            .clone()
            .ok_or(OAuthError::InvalidRequest("the user is not known yet"))?;
        if !self
            .has_consent(
                &subject,
                &seen.client_id,
                &seen.redirect_uri,
                &seen.resource,
                &seen.scopes,
            )
            .await?
        {
            return Err(OAuthError::ConsentRequired);
        }
        self.check_still_registered(&seen.client_id, &seen.redirect_uri, &seen.scopes)
            .await?;
        let taken = self
            .take_one_time(&names.pending, &key)
            .await?
            .ok_or(OAuthError::InvalidGrant("authorization state already used"))?;
        let record: PendingRecord = decode_json(&taken)?;
        if record != seen {
            // Changed between the consent check and the take: refuse rather than guess.
            return Err(OAuthError::InvalidGrant(
                "authorization changed while completing",
            ));
        }
        let upstream_id = match upstream {
            Some(tokens) => Some(self.store_upstream(tokens).await?),
            None => None,
        };
        let code = crypto::generate(Kind::Code);
        let code_key = crypto::storage_key(Kind::Code, code.expose_secret());
        let now = self.now();
        let lifetime = self.inner.lifetimes.code;
        let code_record = CodeRecord {
            key: code_key.clone(),
            client_id: record.client_id.clone(),
            redirect_uri: record.redirect_uri.clone(),
            code_challenge: record.code_challenge.clone(),
            resource: record.resource.clone(),
            subject,
            scopes: record.scopes.clone(),
            upstream_id,
            issued_at_ms: now,
            expires_at_ms: now.saturating_add(ms(lifetime)),
        };
        self.insert(
            &names.codes,
            &code_key,
            &code_record,
            Some(self.storage_ttl(lifetime)),
        )
        .await?;
        Ok(IssuedCode {
            code,
            redirect_uri: record.redirect_uri.clone(),
            client_state: record.client_state.clone(),
            expires_in: lifetime,
        })
    }

    // ---- consent ------------------------------------------------------------------------

    /// The key of a consent: its whole tuple, resource included (v2; v1 consents, which did
    /// not bind the resource, are not found and are asked for again).
    fn consent_key(
        subject: &str,
        client_id: &str,
        redirect_uri: &str,
        resource: &str,
        scopes: &[String],
    ) -> String {
        let scopes = scopes.join(" ");
        crypto::tuple_key(
            b"mcp-kv-oauth/v2/consent",
            &[subject, client_id, redirect_uri, resource, &scopes],
        )
    }

    /// Records the user's consent to this client, redirect URI, resource (the MCP server the
    /// tokens are for, RFC 8707) and scopes, for `lifetime` (default: the configured consent
    /// lifetime). A consent for one resource is not one for another.
    pub async fn grant_consent(
        &self,
        subject: &str,
        client_id: &str,
        redirect_uri: &str,
        resource: &str,
        scopes: &[String],
        lifetime: Option<Duration>,
    ) -> Result<()> {
        check_id(subject, "subject is empty or too long")?;
        check_id(client_id, "client id is empty or too long")?;
        let scopes = normalize_scopes(scopes.iter().cloned())?;
        let lifetime = lifetime.unwrap_or(self.inner.lifetimes.consent);
        if lifetime.is_zero() {
            return Err(OAuthError::InvalidRequest("consent lifetime is zero"));
        }
        let now = self.now();
        let record = ConsentRecord {
            subject: subject.into(),
            client_id: client_id.into(),
            redirect_uri: redirect_uri.into(),
            resource: resource.into(),
            scopes: scopes.clone(),
            granted_at_ms: now,
            expires_at_ms: now.saturating_add(ms(lifetime)),
        };
        let key = Self::consent_key(subject, client_id, redirect_uri, resource, &scopes);
        self.inner
            .store
            .put(
                &self.inner.names.consents,
                &key,
                encode_json(&record)?,
                Some(self.storage_ttl(lifetime)),
            )
            .await?;
        Ok(())
    }

    /// Whether a live consent exists for exactly this (subject, client, redirect URI,
    /// resource, scope set); consulted before the consent screen may be skipped.
    pub async fn has_consent(
        &self,
        subject: &str,
        client_id: &str,
        redirect_uri: &str,
        resource: &str,
        scopes: &[String],
    ) -> Result<bool> {
        let scopes = normalize_scopes(scopes.iter().cloned())?;
        let key = Self::consent_key(subject, client_id, redirect_uri, resource, &scopes);
        let Some(record) = self
            .read::<ConsentRecord>(&self.inner.names.consents, &key)
            .await?
        else {
            return Ok(false);
        };
        let same = record.subject == subject
            && record.client_id == client_id
            && record.redirect_uri == redirect_uri
            && record.resource == resource
            && record.scopes == scopes;
        if !same {
            return Err(mismatched_key());
        }
        Ok(!self.is_expired(record.expires_at_ms, self.now()))
    }

    /// Withdraws a consent; `true` if one existed. It only stops the consent screen from being
    /// skipped: grants already issued under it live on until revoked
    /// ([`revoke`](Self::revoke), [`revoke_family`](Self::revoke_family)).
    pub async fn revoke_consent(
        &self,
        subject: &str,
        client_id: &str,
        redirect_uri: &str,
        resource: &str,
        scopes: &[String],
    ) -> Result<bool> {
        let scopes = normalize_scopes(scopes.iter().cloned())?;
        let key = Self::consent_key(subject, client_id, redirect_uri, resource, &scopes);
        Ok(self
            .inner
            .store
            .delete(&self.inner.names.consents, &key)
            .await?)
    }

    // ---- upstream tokens ----------------------------------------------------------------

    /// How long the upstream record is kept: as long as the longer-lived of its tokens. A
    /// token whose lifetime the upstream did not say (a refresh token usually) counts as our
    /// own refresh-token lifetime, so it is never dropped with a short-lived access token.
    fn upstream_ttl(&self, tokens: &UpstreamTokens) -> Duration {
        let unknown = self.inner.lifetimes.refresh_token;
        let access = tokens.access_expires_in.unwrap_or(unknown);
        let refresh = match &tokens.refresh_token {
            Some(_) => tokens.refresh_expires_in.unwrap_or(unknown),
            None => Duration::ZERO,
        };
        let lifetime = access.max(refresh);
        lifetime.clamp(Duration::from_secs(1), rules::MAX_TTL)
    }

    fn upstream_record(&self, tokens: &UpstreamTokens) -> UpstreamRecord {
        let now = self.now();
        UpstreamRecord {
            access_token: tokens.access_token.expose_secret().to_string(),
            refresh_token: tokens
                .refresh_token
                .as_ref()
                .map(|s| s.expose_secret().to_string()),
            token_type: tokens.token_type.clone(),
            scopes: tokens.scopes.clone(),
            access_expires_at_ms: tokens.access_expires_in.map(|d| now.saturating_add(ms(d))),
            refresh_expires_at_ms: tokens.refresh_expires_in.map(|d| now.saturating_add(ms(d))),
        }
    }

    async fn store_upstream(&self, tokens: UpstreamTokens) -> Result<String> {
        let id = crypto::random_id();
        let ttl = self.upstream_ttl(&tokens);
        let record = self.upstream_record(&tokens);
        self.insert(&self.inner.names.upstream, &id, &record, Some(ttl))
            .await?;
        Ok(id)
    }

    /// The upstream identity provider's tokens behind a verified access token, for
    /// server-side calls to the upstream API. Never send them to the MCP client.
    pub async fn upstream_tokens(&self, grant: &AccessGrant) -> Result<Option<UpstreamTokens>> {
        let Some(id) = &grant.upstream_id else {
            return Ok(None);
        };
        let Some(record) = self
            .read::<UpstreamRecord>(&self.inner.names.upstream, id)
            .await?
        else {
            return Ok(None);
        };
        let now = self.now();
        let left = |at: Option<u64>| at.map(|at| Duration::from_millis(at.saturating_sub(now)));
        Ok(Some(UpstreamTokens {
            access_token: Secret::new(record.access_token.as_str()),
            refresh_token: record.refresh_token.as_deref().map(Secret::new),
            token_type: record.token_type.clone(),
            scopes: record.scopes.clone(),
            access_expires_in: left(record.access_expires_at_ms),
            refresh_expires_in: left(record.refresh_expires_at_ms),
        }))
    }

    /// Replaces the upstream tokens behind a grant (after the server refreshed them
    /// upstream). [`OAuthError::InvalidGrant`] if the grant has none — also when they are
    /// gone since the grant was verified (revoked, expired): the replacement only ever
    /// overwrites the record that is there (`compare_and_swap`), so a refresh that finishes
    /// after a revocation never brings the tokens back.
    pub async fn replace_upstream_tokens(
        &self,
        grant: &AccessGrant,
        tokens: UpstreamTokens,
    ) -> Result<()> {
        let id = grant
            .upstream_id
            .as_ref()
            .ok_or(OAuthError::InvalidGrant("grant has no upstream tokens"))?;
        let ttl = self.upstream_ttl(&tokens);
        let new = encode_json(&self.upstream_record(&tokens))?;
        let (store, collection) = (&self.inner.store, &self.inner.names.upstream);
        loop {
            let Some(current) = store.get(collection, id).await? else {
                return Err(OAuthError::InvalidGrant(
                    "the grant's upstream tokens are gone (revoked or expired)",
                ));
            };
            if store
                .compare_and_swap(collection, id, Some(&current), Some(new.clone()), Some(ttl))
                .await?
            {
                return Ok(());
            }
            // Replaced or removed meanwhile: look again.
        }
    }

    // ---- code exchange ------------------------------------------------------------------

    /// Redeems an authorization code (`grant_type=authorization_code`).
    ///
    /// The code is consumed with the atomic `take` **before** anything is checked, so it is
    /// single-use across concurrent requests and replicas, and a redemption that fails a check
    /// — wrong client, wrong redirect URI, wrong PKCE verifier, other resource, expired —
    /// burns it. On success a new grant family starts with an access and a refresh token.
    pub async fn exchange_code(&self, exchange: CodeExchange) -> Result<TokenPair> {
        let code = exchange.code.expose_secret();
        if !crypto::well_formed(Kind::Code, code) {
            return Err(OAuthError::InvalidGrant(
                "unknown or used authorization code",
            ));
        }
        let key = crypto::storage_key(Kind::Code, code);
        let bytes = self
            .take_one_time(&self.inner.names.codes, &key)
            .await?
            .ok_or(OAuthError::InvalidGrant(
                "unknown or used authorization code",
            ))?;
        let record: CodeRecord = decode_json(&bytes)?;
        if record.key != key {
            return Err(mismatched_key());
        }
        if self.is_expired(record.expires_at_ms, self.now()) {
            return Err(OAuthError::Expired("authorization code expired"));
        }
        if !ct_eq_str(&record.client_id, &exchange.client_id) {
            return Err(OAuthError::InvalidClient(
                "code was issued to another client",
            ));
        }
        if !ct_eq_str(&record.redirect_uri, &exchange.redirect_uri) {
            return Err(OAuthError::InvalidRedirectUri(
                "redirect uri differs from the authorization request",
            ));
        }
        if let Some(resource) = &exchange.resource {
            if !ct_eq_str(&record.resource, resource) {
                return Err(OAuthError::AudienceMismatch);
            }
        }
        crypto::verify_pkce(
            exchange.code_verifier.expose_secret(),
            &record.code_challenge,
        )?;
        self.check_still_registered(&record.client_id, &record.redirect_uri, &record.scopes)
            .await?;
        self.start_family(record).await
    }

    async fn start_family(&self, code: CodeRecord) -> Result<TokenPair> {
        let names = &self.inner.names;
        let lt = self.inner.lifetimes;
        let now = self.now();
        let family_id = crypto::random_id();
        let access = crypto::generate(Kind::AccessToken);
        let refresh = crypto::generate(Kind::RefreshToken);
        let access_key = crypto::storage_key(Kind::AccessToken, access.expose_secret());
        let refresh_key = crypto::storage_key(Kind::RefreshToken, refresh.expose_secret());
        let family = FamilyRecord {
            family_id: family_id.clone(),
            client_id: code.client_id.clone(),
            subject: code.subject.clone(),
            scopes: code.scopes.clone(),
            audience: code.resource.clone(),
            upstream_id: code.upstream_id.clone(),
            generation: 0,
            refresh_key: refresh_key.clone(),
            access_key: access_key.clone(),
            previous_access_key: None,
            revoked: false,
            created_at_ms: now,
            expires_at_ms: now.saturating_add(ms(lt.refresh_token)),
        };
        self.insert(
            &names.families,
            &family_id,
            &family,
            Some(self.storage_ttl(lt.refresh_token)),
        )
        .await?;
        self.write_tokens(&family, &code.scopes, now).await?;
        Ok(TokenPair {
            access_token: access,
            refresh_token: refresh,
            token_type: "Bearer",
            expires_in: lt.access_token,
            scopes: code.scopes,
            audience: code.resource,
        })
    }

    /// Writes the access and refresh records of `family`'s current generation.
    async fn write_tokens(&self, family: &FamilyRecord, scopes: &[String], now: u64) -> Result<()> {
        let names = &self.inner.names;
        let lt = self.inner.lifetimes;
        let access = AccessRecord {
            key: family.access_key.clone(),
            family_id: family.family_id.clone(),
            generation: family.generation,
            client_id: family.client_id.clone(),
            subject: family.subject.clone(),
            scopes: scopes.to_vec(),
            audience: family.audience.clone(),
            upstream_id: family.upstream_id.clone(),
            issued_at_ms: now,
            expires_at_ms: now.saturating_add(ms(lt.access_token)),
        };
        let refresh = RefreshRecord {
            key: family.refresh_key.clone(),
            family_id: family.family_id.clone(),
            generation: family.generation,
            client_id: family.client_id.clone(),
            issued_at_ms: now,
            expires_at_ms: now.saturating_add(ms(lt.refresh_token)),
        };
        self.insert(
            &names.access,
            &access.key,
            &access,
            Some(self.storage_ttl(lt.access_token)),
        )
        .await?;
        self.insert(
            &names.refresh,
            &refresh.key,
            &refresh,
            Some(self.storage_ttl(lt.refresh_token)),
        )
        .await
    }

    // ---- verification -------------------------------------------------------------------

    /// Verifies an access token for a resource server whose audience (RFC 8707 resource) is
    /// `expected_audience`, with **one** store read: the access record holds every binding
    /// (client, subject, scopes, audience, expiry), and revoking a grant family deletes its
    /// access records, so revocation needs no second read.
    ///
    /// A refresh token, a code, or anything else is [`OAuthError::InvalidToken`]; an expired
    /// token [`OAuthError::Expired`]; a token for another audience
    /// [`OAuthError::AudienceMismatch`].
    pub async fn verify_access(&self, token: &str, expected_audience: &str) -> Result<AccessGrant> {
        if !crypto::well_formed(Kind::AccessToken, token) {
            return Err(OAuthError::InvalidToken("not an access token"));
        }
        let key = crypto::storage_key(Kind::AccessToken, token);
        let record: AccessRecord = self
            .read(&self.inner.names.access, &key)
            .await?
            .ok_or(OAuthError::InvalidToken("unknown or revoked access token"))?;
        if record.key != key {
            return Err(mismatched_key());
        }
        if self.is_expired(record.expires_at_ms, self.now()) {
            return Err(OAuthError::Expired("access token expired"));
        }
        if !ct_eq_str(&record.audience, expected_audience) {
            return Err(OAuthError::AudienceMismatch);
        }
        Ok(AccessGrant {
            client_id: record.client_id,
            subject: record.subject,
            scopes: record.scopes,
            audience: record.audience,
            expires_at_ms: record.expires_at_ms,
            family_id: record.family_id,
            upstream_id: record.upstream_id,
        })
    }

    // ---- refresh ------------------------------------------------------------------------

    /// Redeems a refresh token (`grant_type=refresh_token`) and rotates it.
    ///
    /// The refresh record names its grant family and generation; the family record names the
    /// one refresh token that may be used next. A token of an older generation — one already
    /// rotated — is reuse: the whole family is revoked (its newest access token stops
    /// verifying) and [`OAuthError::Revoked`] returned. Rotation writes the new tokens, then
    /// moves the family to the next generation with `compare_and_swap`; losing that swap
    /// means the same refresh token was presented concurrently, which is reuse too.
    ///
    /// The client must still be registered ([`OAuthError::InvalidClient`]) and still allowed
    /// the scopes ([`OAuthError::InvalidScope`]: ask for narrower ones). Before it rotates, the
    /// access token of the generation before the previous one is deleted; if that delete fails
    /// the refresh fails with a temporary storage error and nothing is rotated.
    pub async fn refresh(&self, request: RefreshRequest) -> Result<TokenPair> {
        let token = request.refresh_token.expose_secret();
        if !crypto::well_formed(Kind::RefreshToken, token) {
            return Err(OAuthError::InvalidGrant("unknown refresh token"));
        }
        let names = &self.inner.names;
        let lt = self.inner.lifetimes;
        let key = crypto::storage_key(Kind::RefreshToken, token);
        let record: RefreshRecord = self
            .read(&names.refresh, &key)
            .await?
            .ok_or(OAuthError::InvalidGrant("unknown refresh token"))?;
        if record.key != key {
            return Err(mismatched_key());
        }
        if !ct_eq_str(&record.client_id, &request.client_id) {
            return Err(OAuthError::InvalidClient(
                "refresh token was issued to another client",
            ));
        }
        let now = self.now();
        if self.is_expired(record.expires_at_ms, now) {
            return Err(OAuthError::Expired("refresh token expired"));
        }
        let Some(entry) = self
            .inner
            .store
            .get_entry(&names.families, &record.family_id)
            .await?
        else {
            return Err(OAuthError::Revoked("grant no longer exists"));
        };
        let family: FamilyRecord = decode_json(&entry.value)?;
        if family.family_id != record.family_id {
            return Err(mismatched_key());
        }
        if family.revoked {
            return Err(OAuthError::Revoked("grant was revoked"));
        }
        if family.generation != record.generation || !ct_eq_str(&family.refresh_key, &key) {
            self.revoke_family(&record.family_id).await?;
            return Err(OAuthError::Revoked(
                "refresh token reuse detected: the grant is revoked",
            ));
        }
        let scopes = match request.scopes {
            Some(s) => {
                let s = normalize_scopes(s)?;
                if !is_subset(&s, &family.scopes) {
                    return Err(OAuthError::InvalidScope("scope wider than the grant"));
                }
                s
            }
            None => family.scopes.clone(),
        };
        if let Some(resource) = &request.resource {
            if !ct_eq_str(&family.audience, resource) {
                return Err(OAuthError::AudienceMismatch);
            }
        }
        self.check_client_now(&family.client_id, &scopes).await?;
        // The generation before the current one should be gone since the last rotation (a
        // best-effort delete); this rotation forgets its key, so make sure before the swap —
        // otherwise a token whose delete failed twice would outlive `revoke_family`.
        if let Some(older) = &family.previous_access_key {
            self.inner.store.delete(&names.access, older).await?;
        }
        let access = crypto::generate(Kind::AccessToken);
        let refresh = crypto::generate(Kind::RefreshToken);
        let mut next = family.clone();
        next.generation = family.generation + 1;
        next.access_key = crypto::storage_key(Kind::AccessToken, access.expose_secret());
        next.refresh_key = crypto::storage_key(Kind::RefreshToken, refresh.expose_secret());
        next.previous_access_key = Some(family.access_key.clone());
        next.expires_at_ms = now.saturating_add(ms(lt.refresh_token));
        self.write_tokens(&next, &scopes, now).await?;
        let swapped = self
            .inner
            .store
            .compare_and_swap(
                &names.families,
                &family.family_id,
                Some(&entry.value),
                Some(encode_json(&next)?),
                Some(self.storage_ttl(lt.refresh_token)),
            )
            .await?;
        if !swapped {
            self.delete_best_effort(&names.access, &next.access_key)
                .await;
            self.delete_best_effort(&names.refresh, &next.refresh_key)
                .await;
            self.revoke_family(&family.family_id).await?;
            return Err(OAuthError::Revoked(
                "refresh token used concurrently: the grant is revoked",
            ));
        }
        // The previous generation's access token ends with the rotation (and stays named in
        // the family, for `revoke_family`, should this delete fail).
        self.delete_best_effort(&names.access, &family.access_key)
            .await;
        Ok(TokenPair {
            access_token: access,
            refresh_token: refresh,
            token_type: "Bearer",
            expires_in: lt.access_token,
            scopes,
            audience: family.audience,
        })
    }

    // ---- revocation ---------------------------------------------------------------------

    /// Revokes the grant family of an access or refresh token (RFC 7009): every token of the
    /// family stops working at once — the live access tokens are deleted before the family is
    /// marked revoked, so `verify_access`, with its single read, no longer finds them — and
    /// the upstream tokens are deleted. `false` if the token is unknown (RFC 7009 still
    /// answers 200). For the revocation endpoint, where the caller is a client, use
    /// [`revoke_for_client`](Self::revoke_for_client).
    pub async fn revoke(&self, token: &str) -> Result<bool> {
        self.revoke_checked(token, None).await
    }

    /// [`revoke`](Self::revoke) on behalf of the (authenticated) client `client_id`, as RFC
    /// 7009 §2.1 asks: a token issued to another client is refused with
    /// [`OAuthError::InvalidClient`] and stays valid.
    pub async fn revoke_for_client(&self, token: &str, client_id: &str) -> Result<bool> {
        self.revoke_checked(token, Some(client_id)).await
    }

    async fn revoke_checked(&self, token: &str, client_id: Option<&str>) -> Result<bool> {
        let names = &self.inner.names;
        let issued_to = |owner: &str| match client_id {
            Some(caller) if !ct_eq_str(owner, caller) => Err(OAuthError::InvalidClient(
                "the token was issued to another client",
            )),
            _ => Ok(()),
        };
        let family_id = if crypto::well_formed(Kind::AccessToken, token) {
            let key = crypto::storage_key(Kind::AccessToken, token);
            let record: Option<AccessRecord> = self.read(&names.access, &key).await?;
            let Some(record) = record else {
                return Ok(false);
            };
            issued_to(&record.client_id)?;
            self.inner.store.delete(&names.access, &key).await?;
            record.family_id
        } else if crypto::well_formed(Kind::RefreshToken, token) {
            let key = crypto::storage_key(Kind::RefreshToken, token);
            let record: Option<RefreshRecord> = self.read(&names.refresh, &key).await?;
            let Some(record) = record else {
                return Ok(false);
            };
            issued_to(&record.client_id)?;
            record.family_id
        } else {
            return Ok(false);
        };
        self.revoke_family(&family_id).await?;
        Ok(true)
    }

    /// Revokes a grant family by id (see [`AccessGrant::family_id`]).
    pub async fn revoke_family(&self, family_id: &str) -> Result<()> {
        let names = &self.inner.names;
        for _ in 0..CAS_ROUNDS {
            let Some(entry) = self
                .inner
                .store
                .get_entry(&names.families, family_id)
                .await?
            else {
                return Ok(());
            };
            let mut family: FamilyRecord = decode_json(&entry.value)?;
            if family.family_id != family_id {
                return Err(mismatched_key());
            }
            // Access tokens first: once the swap below succeeds, no rotation can add another.
            self.inner
                .store
                .delete(&names.access, &family.access_key)
                .await?;
            if let Some(prev) = &family.previous_access_key {
                self.inner.store.delete(&names.access, prev).await?;
            }
            if let Some(up) = &family.upstream_id {
                self.inner.store.delete(&names.upstream, up).await?;
            }
            if family.revoked {
                return Ok(());
            }
            family.revoked = true;
            let ttl = entry
                .ttl
                .or(Some(self.storage_ttl(self.inner.lifetimes.refresh_token)));
            if self
                .inner
                .store
                .compare_and_swap(
                    &names.families,
                    family_id,
                    Some(&entry.value),
                    Some(encode_json(&family)?),
                    ttl,
                )
                .await?
            {
                return Ok(());
            }
        }
        Err(conflict())
    }
}
