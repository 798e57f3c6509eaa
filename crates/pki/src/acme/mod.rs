//! An ACME server (RFC 8555) with the http-01 challenge, so that hosts get
//! certificates from our CA with standard clients such as certbot.
//!
//! This module owns the protocol: JWS checks, nonces, accounts, orders,
//! authorizations, validation, finalization, download and revocation, all kept in the
//! store (so several nodes can share the work). It knows no HTTP framework: the server
//! maps each request onto [`Acme::post`] (or the directory and nonce calls) and each
//! [`Reply`] or [`AcmeError`] back onto HTTP. Signing and revoking go through an
//! [`Issuer`], which the server backs with the CA.
//!
//! Not supported (refused with a clear error): key rollover (`keyChange`), pre-
//! authorization, wildcard names, `notBefore`/`notAfter` in orders, external account
//! binding, and other challenge types than http-01.

mod authority;
pub mod db;
pub mod error;
pub mod http01;
pub mod jws;
pub mod x509;

#[cfg(test)]
mod tests;

pub use authority::CaIssuer;
pub use error::AcmeError;
pub use http01::Http01;
pub use jws::{Jwk, Jws, Signer};

use db::{Account, Authz, Cert, Db, Order};
use serde_json::{Value, json};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use webqx_audit::RequestContext;
use webqx_store::{Store, now_ms, time::rfc3339};

/// A boxed future, for the object-safe [`Issuer`].
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A certificate the CA issued for an order.
#[derive(Debug, Clone)]
pub struct IssuedChain {
    /// Serial, lowercase hex.
    pub serial: String,
    /// Leaf and intermediates, PEM.
    pub chain_pem: String,
}

/// The CA as ACME sees it: the server backs it with [`crate::ca::Authority`] (profile
/// tls-server, source `acme`); tests back it with a throwaway CA.
pub trait Issuer: Send + Sync {
    /// Refuses names the CA would not issue for, saying why.
    fn check_names<'a>(&'a self, names: &'a [String]) -> Result<(), String>;
    /// Signs a DER CSR; `ctx.actor` is the ACME account.
    fn sign<'a>(
        &'a self,
        ctx: &'a RequestContext,
        csr_der: &'a [u8],
    ) -> BoxFuture<'a, Result<IssuedChain, AcmeError>>;
    /// Revokes a serial with an RFC 5280 reason code.
    fn revoke<'a>(
        &'a self,
        ctx: &'a RequestContext,
        serial: &'a str,
        reason: u8,
    ) -> BoxFuture<'a, Result<(), AcmeError>>;
}

/// Settings from `[acme]`.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Where http-01 looks.
    pub http01: Http01,
    /// How long an order (and its authorizations) stays usable.
    pub order_lifetime: Duration,
    /// How long an unused nonce stays valid.
    pub nonce_lifetime: Duration,
    /// Terms of service URL for the directory's `meta`, if any.
    pub terms_of_service: Option<String>,
}

/// What a request addresses (the path under `/acme/`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// `new-account`.
    NewAccount,
    /// `acct/{id}`.
    Account(String),
    /// `acct/{id}/orders`.
    AccountOrders(String),
    /// `new-order`.
    NewOrder,
    /// `order/{id}`.
    Order(String),
    /// `order/{id}/finalize`.
    Finalize(String),
    /// `authz/{id}`.
    Authz(String),
    /// `chall/{id}`.
    Challenge(String),
    /// `cert/{id}`.
    Cert(String),
    /// `revoke-cert`.
    RevokeCert,
    /// `key-change`.
    KeyChange,
}

impl Endpoint {
    /// A short name, for metrics.
    pub fn name(&self) -> &'static str {
        match self {
            Endpoint::NewAccount => "new-account",
            Endpoint::Account(_) => "account",
            Endpoint::AccountOrders(_) => "account-orders",
            Endpoint::NewOrder => "new-order",
            Endpoint::Order(_) => "order",
            Endpoint::Finalize(_) => "finalize",
            Endpoint::Authz(_) => "authz",
            Endpoint::Challenge(_) => "challenge",
            Endpoint::Cert(_) => "cert",
            Endpoint::RevokeCert => "revoke-cert",
            Endpoint::KeyChange => "key-change",
        }
    }

    /// The path, from `/acme/` on.
    pub fn path(&self) -> String {
        match self {
            Endpoint::NewAccount => "/acme/new-account".into(),
            Endpoint::Account(id) => format!("/acme/acct/{id}"),
            Endpoint::AccountOrders(id) => format!("/acme/acct/{id}/orders"),
            Endpoint::NewOrder => "/acme/new-order".into(),
            Endpoint::Order(id) => format!("/acme/order/{id}"),
            Endpoint::Finalize(id) => format!("/acme/order/{id}/finalize"),
            Endpoint::Authz(id) => format!("/acme/authz/{id}"),
            Endpoint::Challenge(id) => format!("/acme/chall/{id}"),
            Endpoint::Cert(id) => format!("/acme/cert/{id}"),
            Endpoint::RevokeCert => "/acme/revoke-cert".into(),
            Endpoint::KeyChange => "/acme/key-change".into(),
        }
    }
}

/// A reply body.
#[derive(Debug, Clone)]
pub enum Body {
    /// `application/json`.
    Json(Value),
    /// `application/pem-certificate-chain`.
    PemChain(String),
    /// Nothing.
    Empty,
}

/// A successful answer, for the server to write.
#[derive(Debug, Clone)]
pub struct Reply {
    /// HTTP status.
    pub status: u16,
    /// Body.
    pub body: Body,
    /// `Location`, if any.
    pub location: Option<String>,
    /// `Link` values (`<url>;rel="up"`), besides the index link the server adds.
    pub links: Vec<String>,
    /// Who made the request, for the audit record (`acme:account/<id>`).
    pub actor: Option<String>,
}

impl Reply {
    fn json(status: u16, body: Value) -> Reply {
        Reply {
            status,
            body: Body::Json(body),
            location: None,
            links: Vec::new(),
            actor: None,
        }
    }

    fn at(mut self, location: String) -> Reply {
        self.location = Some(location);
        self
    }

    fn up(mut self, url: String) -> Reply {
        self.links.push(format!("<{url}>;rel=\"up\""));
        self
    }
}

/// Who signed a verified request.
#[derive(Debug, Clone)]
enum Principal {
    /// An existing, valid account.
    Account(Account),
    /// A bare key (newAccount, or revocation by the certificate's key).
    Key(Jwk),
}

/// The ACME service. Cheap to clone.
#[derive(Clone)]
pub struct Acme {
    db: Db,
    settings: Arc<Settings>,
    issuer: Arc<dyn Issuer>,
}

impl std::fmt::Debug for Acme {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Acme").finish_non_exhaustive()
    }
}

fn new_id() -> String {
    uuid::Uuid::now_v7().simple().to_string()
}

fn random_b64(len: usize) -> Result<String, AcmeError> {
    let mut bytes = vec![0u8; len];
    aws_lc_rs::rand::fill(&mut bytes)
        .map_err(|_| AcmeError::ServerInternal("the system random generator failed".into()))?;
    Ok(jws::b64url(&bytes))
}

fn actor_of(account: &Account) -> String {
    format!("acme:account/{}", account.id)
}

impl Acme {
    /// A service over `store`, issuing through `issuer`.
    pub fn new(store: Store, settings: Settings, issuer: Arc<dyn Issuer>) -> Acme {
        Acme {
            db: Db::new(store),
            settings: Arc::new(settings),
            issuer,
        }
    }

    /// The directory object (RFC 8555 §7.1.1); `base` is `https://host:port`.
    pub fn directory(&self, base: &str) -> Value {
        let mut meta = json!({ "externalAccountRequired": false });
        if let Some(tos) = &self.settings.terms_of_service {
            meta["termsOfService"] = json!(tos);
        }
        json!({
            "newNonce": format!("{base}/acme/new-nonce"),
            "newAccount": format!("{base}{}", Endpoint::NewAccount.path()),
            "newOrder": format!("{base}{}", Endpoint::NewOrder.path()),
            "revokeCert": format!("{base}{}", Endpoint::RevokeCert.path()),
            "keyChange": format!("{base}{}", Endpoint::KeyChange.path()),
            "meta": meta,
        })
    }

    /// A fresh nonce, stored so that any node accepts it once.
    ///
    /// # Errors
    /// [`AcmeError::ServerInternal`] when the store fails.
    pub async fn new_nonce(&self) -> Result<String, AcmeError> {
        let nonce = random_b64(16)?;
        let lifetime = i64::try_from(self.settings.nonce_lifetime.as_millis()).unwrap_or(i64::MAX);
        self.db.put_nonce(&nonce, lifetime).await?;
        Ok(nonce)
    }

    /// Handles a signed POST to `endpoint`. `base` is `https://host:port` as the client
    /// addressed us; `ctx` is the request's audit context (its actor is replaced by the
    /// ACME account).
    ///
    /// # Errors
    /// [`AcmeError`] of the right ACME type for everything the client did wrong.
    pub async fn post(
        &self,
        base: &str,
        endpoint: &Endpoint,
        body: &[u8],
        ctx: &RequestContext,
    ) -> Result<Reply, AcmeError> {
        let jws = Jws::parse(body)?;
        let url = format!("{base}{}", endpoint.path());
        if jws.url != url {
            return Err(AcmeError::Unauthorized(format!(
                "the JWS \"url\" header must be the request URL {url}"
            )));
        }
        if !self.db.take_nonce(&jws.nonce).await? {
            return Err(AcmeError::BadNonce);
        }
        let principal = self.principal(base, endpoint, &jws).await?;
        let mut ctx = ctx.clone();
        if let Principal::Account(a) = &principal {
            ctx.actor = actor_of(a);
        }
        let mut reply = self.dispatch(base, endpoint, &jws, principal, &ctx).await?;
        reply.actor.get_or_insert(ctx.actor.clone());
        Ok(reply)
    }

    async fn principal(
        &self,
        base: &str,
        endpoint: &Endpoint,
        jws: &Jws,
    ) -> Result<Principal, AcmeError> {
        match &jws.signer {
            Signer::Jwk(key) => {
                if !matches!(endpoint, Endpoint::NewAccount | Endpoint::RevokeCert) {
                    return Err(AcmeError::Malformed(
                        "this request must name its account with \"kid\", not \"jwk\"".into(),
                    ));
                }
                jws.verify_with(key)?;
                Ok(Principal::Key(key.clone()))
            }
            Signer::Kid(kid) => {
                if *endpoint == Endpoint::NewAccount {
                    return Err(AcmeError::Malformed(
                        "newAccount must carry the account key as \"jwk\"".into(),
                    ));
                }
                let prefix = format!("{base}/acme/acct/");
                let id = kid
                    .strip_prefix(&prefix)
                    .ok_or(AcmeError::AccountDoesNotExist)?;
                let account = self
                    .db
                    .account(id)
                    .await?
                    .ok_or(AcmeError::AccountDoesNotExist)?;
                let key = Jwk::from_json(&serde_json::from_str(&account.jwk).unwrap_or_default())?;
                jws.verify_with(&key)?;
                if account.status != "valid" {
                    return Err(AcmeError::Unauthorized(format!(
                        "the account is {}; create a new one",
                        account.status
                    )));
                }
                Ok(Principal::Account(account))
            }
        }
    }

    async fn dispatch(
        &self,
        base: &str,
        endpoint: &Endpoint,
        jws: &Jws,
        principal: Principal,
        ctx: &RequestContext,
    ) -> Result<Reply, AcmeError> {
        let payload = jws.json()?;
        let account = match (endpoint, principal) {
            (Endpoint::NewAccount, Principal::Key(key)) => {
                return self.new_account(base, &key, payload).await;
            }
            (Endpoint::RevokeCert, p) => return self.revoke(p, payload, ctx).await,
            (_, Principal::Account(a)) => a,
            (_, Principal::Key(_)) => return Err(AcmeError::AccountDoesNotExist),
        };
        match endpoint {
            Endpoint::Account(id) => self.account(base, &account, id, payload).await,
            Endpoint::AccountOrders(id) => self.account_orders(base, &account, id, payload).await,
            Endpoint::NewOrder => self.new_order(base, &account, payload).await,
            Endpoint::Order(id) => {
                post_as_get(payload.as_ref())?;
                let order = self.owned_order(&account, id).await?;
                Ok(Reply::json(200, self.order_json(base, &order).await?))
            }
            Endpoint::Finalize(id) => self.finalize(base, &account, id, payload, ctx).await,
            Endpoint::Authz(id) => {
                post_as_get(payload.as_ref())?;
                let authz = self.owned_authz(&account, id).await?;
                Ok(Reply::json(200, authz_json(base, &authz)))
            }
            Endpoint::Challenge(id) => self.challenge(base, &account, id, payload).await,
            Endpoint::Cert(id) => {
                post_as_get(payload.as_ref())?;
                let cert = self.db.cert(id).await?.ok_or(AcmeError::NotFound)?;
                if cert.account_id != account.id {
                    return Err(unauthorized_object());
                }
                Ok(Reply {
                    status: 200,
                    body: Body::PemChain(cert.chain_pem),
                    location: None,
                    links: Vec::new(),
                    actor: None,
                })
            }
            Endpoint::KeyChange => Err(AcmeError::Malformed(
                "account key rollover is not supported; create a new account with the new key"
                    .into(),
            )),
            Endpoint::NewAccount | Endpoint::RevokeCert => Err(AcmeError::NotFound),
        }
    }

    async fn new_account(
        &self,
        base: &str,
        key: &Jwk,
        payload: Option<Value>,
    ) -> Result<Reply, AcmeError> {
        let payload = payload.unwrap_or_default();
        let thumbprint = key.thumbprint();
        if let Some(existing) = self.db.account_by_key(&thumbprint).await? {
            if existing.status != "valid" {
                return Err(AcmeError::Unauthorized(format!(
                    "the account of this key is {}; use a new key for a new account",
                    existing.status
                )));
            }
            let url = format!("{base}/acme/acct/{}", existing.id);
            let mut reply = Reply::json(200, account_json(base, &existing)).at(url);
            reply.actor = Some(actor_of(&existing));
            return Ok(reply);
        }
        if payload.get("onlyReturnExisting") == Some(&Value::Bool(true)) {
            return Err(AcmeError::AccountDoesNotExist);
        }
        if payload.get("externalAccountBinding").is_some() {
            return Err(AcmeError::Malformed(
                "external account binding is not supported; omit it".into(),
            ));
        }
        if self.settings.terms_of_service.is_some()
            && payload.get("termsOfServiceAgreed") != Some(&Value::Bool(true))
        {
            return Err(AcmeError::Malformed(
                "agree to the terms of service (termsOfServiceAgreed: true)".into(),
            ));
        }
        let account = Account {
            id: new_id(),
            thumbprint,
            jwk: key.canonical_json(),
            status: "valid".into(),
            contact: contacts(&payload)?,
        };
        let tos = payload.get("termsOfServiceAgreed") == Some(&Value::Bool(true));
        self.db.insert_account(&account, tos).await?;
        tracing::debug!(account = %account.id, "ACME account created");
        let url = format!("{base}/acme/acct/{}", account.id);
        let mut reply = Reply::json(201, account_json(base, &account)).at(url);
        reply.actor = Some(actor_of(&account));
        Ok(reply)
    }

    async fn account(
        &self,
        base: &str,
        account: &Account,
        id: &str,
        payload: Option<Value>,
    ) -> Result<Reply, AcmeError> {
        if id != account.id {
            return Err(AcmeError::Unauthorized(
                "the \"kid\" is not the account addressed; an account manages only itself".into(),
            ));
        }
        let mut account = account.clone();
        if let Some(update) = payload.filter(|p| p.as_object().is_some_and(|o| !o.is_empty())) {
            if update.get("contact").is_some() {
                account.contact = contacts(&update)?;
            }
            match update.get("status").and_then(Value::as_str) {
                None | Some("valid") => {}
                Some("deactivated") => account.status = "deactivated".into(),
                Some(other) => {
                    return Err(AcmeError::Malformed(format!(
                        "an account's status can only be set to \"deactivated\", not {other}"
                    )));
                }
            }
            self.db.update_account(&account).await?;
        }
        let url = format!("{base}/acme/acct/{}", account.id);
        Ok(Reply::json(200, account_json(base, &account)).at(url))
    }

    async fn account_orders(
        &self,
        base: &str,
        account: &Account,
        id: &str,
        payload: Option<Value>,
    ) -> Result<Reply, AcmeError> {
        post_as_get(payload.as_ref())?;
        if id != account.id {
            return Err(unauthorized_object());
        }
        let ids = self.db.order_ids(&account.id).await?;
        let urls: Vec<String> = ids
            .iter()
            .map(|id| format!("{base}/acme/order/{id}"))
            .collect();
        Ok(Reply::json(200, json!({ "orders": urls })))
    }

    async fn new_order(
        &self,
        base: &str,
        account: &Account,
        payload: Option<Value>,
    ) -> Result<Reply, AcmeError> {
        let payload = payload.ok_or_else(|| {
            AcmeError::Malformed("newOrder needs a payload with \"identifiers\"".into())
        })?;
        if payload.get("notBefore").is_some() || payload.get("notAfter").is_some() {
            return Err(AcmeError::Malformed(
                "notBefore/notAfter are not supported; the CA's profile sets the validity".into(),
            ));
        }
        let names = identifiers(&payload)?;
        self.issuer
            .check_names(&names)
            .map_err(AcmeError::RejectedIdentifier)?;
        let lifetime = i64::try_from(self.settings.order_lifetime.as_millis()).unwrap_or(i64::MAX);
        let order = Order {
            id: new_id(),
            account_id: account.id.clone(),
            status: "pending".into(),
            names: names.clone(),
            expires_ms: now_ms().saturating_add(lifetime),
            error: None,
            cert_id: None,
        };
        let authzs = names
            .iter()
            .map(|name| {
                Ok(Authz {
                    id: new_id(),
                    order_id: order.id.clone(),
                    account_id: account.id.clone(),
                    name: name.clone(),
                    status: "pending".into(),
                    token: random_b64(32)?,
                    chall_status: "pending".into(),
                    validated_ms: None,
                    error: None,
                    expires_ms: order.expires_ms,
                })
            })
            .collect::<Result<Vec<Authz>, AcmeError>>()?;
        self.db.insert_order(&order, &authzs).await?;
        let url = format!("{base}/acme/order/{}", order.id);
        Ok(Reply::json(201, self.order_json(base, &order).await?).at(url))
    }

    async fn owned_order(&self, account: &Account, id: &str) -> Result<Order, AcmeError> {
        let mut order = self.db.order(id).await?.ok_or(AcmeError::NotFound)?;
        if order.account_id != account.id {
            return Err(unauthorized_object());
        }
        let live = matches!(order.status.as_str(), "pending" | "ready");
        if live && order.expires_ms < now_ms() {
            let problem = json!({"type": "urn:ietf:params:acme:error:malformed",
                "detail": "the order expired before it was finalized"})
            .to_string();
            self.db
                .order_status(&order.id, &order.status, "invalid", Some(&problem))
                .await?;
            order.status = "invalid".into();
            order.error = Some(problem);
        }
        Ok(order)
    }

    async fn owned_authz(&self, account: &Account, id: &str) -> Result<Authz, AcmeError> {
        let authz = self.db.authz(id).await?.ok_or(AcmeError::NotFound)?;
        if authz.account_id != account.id {
            return Err(unauthorized_object());
        }
        Ok(authz)
    }

    async fn order_json(&self, base: &str, order: &Order) -> Result<Value, AcmeError> {
        let authzs = self.db.authzs(&order.id).await?;
        let mut body = json!({
            "status": order.status,
            "expires": rfc3339(order.expires_ms),
            "identifiers": order.names.iter()
                .map(|n| json!({"type": "dns", "value": n})).collect::<Vec<_>>(),
            "authorizations": authzs.iter()
                .map(|a| format!("{base}/acme/authz/{}", a.id)).collect::<Vec<_>>(),
            "finalize": format!("{base}/acme/order/{}/finalize", order.id),
        });
        if let Some(cert) = &order.cert_id {
            body["certificate"] = json!(format!("{base}/acme/cert/{cert}"));
        }
        if let Some(error) = &order.error {
            body["error"] = serde_json::from_str(error).unwrap_or(Value::Null);
        }
        Ok(body)
    }

    async fn challenge(
        &self,
        base: &str,
        account: &Account,
        id: &str,
        payload: Option<Value>,
    ) -> Result<Reply, AcmeError> {
        let mut authz = self.owned_authz(account, id).await?;
        let respond = payload.is_some();
        if respond && authz.expires_ms < now_ms() {
            return Err(AcmeError::Malformed("the authorization has expired".into()));
        }
        if respond && self.db.claim_challenge(&authz.id).await? {
            let key_auth = format!("{}.{}", authz.token, account.thumbprint);
            let outcome = self
                .settings
                .http01
                .validate(&authz.name, &authz.token, &key_auth)
                .await;
            let problem = outcome.err().map(|e| {
                tracing::debug!(name = %authz.name, error = %e, "http-01 validation failed");
                json!({"type": e.type_urn(), "detail": e.to_string(), "status": e.status()})
                    .to_string()
            });
            self.db
                .settle_challenge(&authz.id, problem.as_deref())
                .await?;
            self.advance_order(&authz.order_id, problem.as_deref())
                .await?;
            authz = self.db.authz(id).await?.ok_or(AcmeError::NotFound)?;
        }
        let up = format!("{base}/acme/authz/{}", authz.id);
        Ok(Reply::json(200, challenge_json(base, &authz)).up(up))
    }

    /// After a validation: a failure makes the order invalid, the last success ready.
    async fn advance_order(&self, order_id: &str, problem: Option<&str>) -> Result<(), AcmeError> {
        if let Some(problem) = problem {
            self.db
                .order_status(order_id, "pending", "invalid", Some(problem))
                .await?;
            return Ok(());
        }
        let authzs = self.db.authzs(order_id).await?;
        if authzs.iter().all(|a| a.status == "valid") {
            self.db
                .order_status(order_id, "pending", "ready", None)
                .await?;
        }
        Ok(())
    }

    async fn finalize(
        &self,
        base: &str,
        account: &Account,
        id: &str,
        payload: Option<Value>,
        ctx: &RequestContext,
    ) -> Result<Reply, AcmeError> {
        let order = self.owned_order(account, id).await?;
        let csr = payload
            .as_ref()
            .and_then(|p| p.get("csr"))
            .and_then(Value::as_str)
            .ok_or_else(|| {
                AcmeError::Malformed("finalize needs {\"csr\": base64url DER}".into())
            })?;
        let csr = jws::from_b64url(csr, "\"csr\"")?;
        if order.status != "ready" {
            return Err(AcmeError::OrderNotReady(format!(
                "the order is {}, not ready: complete its authorizations first",
                order.status
            )));
        }
        let asked = x509::csr_names(&csr)?;
        let ordered: std::collections::BTreeSet<String> = order.names.iter().cloned().collect();
        if asked != ordered {
            return Err(AcmeError::BadCsr(format!(
                "the CSR must name exactly the order's identifiers ({})",
                order.names.join(", ")
            )));
        }
        if !self
            .db
            .order_status(&order.id, "ready", "processing", None)
            .await?
        {
            return Err(AcmeError::OrderNotReady(
                "the order is being finalized".into(),
            ));
        }
        let issued = match self.issuer.sign(ctx, &csr).await {
            Ok(issued) => issued,
            Err(e) => {
                self.db
                    .order_status(&order.id, "processing", "ready", None)
                    .await?;
                return Err(e);
            }
        };
        let fingerprint = x509::fingerprint(&x509::leaf_der(&issued.chain_pem)?);
        let cert = Cert {
            id: new_id(),
            serial: issued.serial,
            account_id: account.id.clone(),
            chain_pem: issued.chain_pem,
            revoked: false,
        };
        self.db.finish_order(&order, &cert, &fingerprint).await?;
        tracing::debug!(order = %order.id, serial = %cert.serial, "ACME order finalized");
        let order = self.owned_order(account, id).await?;
        let url = format!("{base}/acme/order/{}", order.id);
        Ok(Reply::json(200, self.order_json(base, &order).await?).at(url))
    }

    async fn revoke(
        &self,
        principal: Principal,
        payload: Option<Value>,
        ctx: &RequestContext,
    ) -> Result<Reply, AcmeError> {
        let payload = payload.unwrap_or_default();
        let der = payload
            .get("certificate")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                AcmeError::Malformed("revokeCert needs {\"certificate\": base64url DER}".into())
            })?;
        let der = jws::from_b64url(der, "\"certificate\"")?;
        let reason = revocation_reason(&payload)?;
        let cert = self
            .db
            .cert_by_fingerprint(&x509::fingerprint(&der))
            .await?
            .ok_or_else(|| {
                AcmeError::Unauthorized("this certificate was not issued through ACME here".into())
            })?;
        let mut ctx = ctx.clone();
        match &principal {
            Principal::Account(a) if a.id == cert.account_id => {}
            Principal::Key(key) if *key == x509::cert_key(&der)? => {
                ctx.actor = format!("acme:key/{}", key.thumbprint());
            }
            _ => {
                return Err(AcmeError::Unauthorized(
                    "only the account that ordered the certificate, or its key, may revoke it"
                        .into(),
                ));
            }
        }
        if cert.revoked {
            return Err(AcmeError::AlreadyRevoked);
        }
        self.issuer.revoke(&ctx, &cert.serial, reason).await?;
        self.db.mark_revoked(&cert.id).await?;
        tracing::debug!(serial = %cert.serial, "ACME revocation");
        let mut reply = Reply::json(200, Value::Null);
        reply.body = Body::Empty;
        reply.actor = Some(ctx.actor);
        Ok(reply)
    }
}

fn post_as_get(payload: Option<&Value>) -> Result<(), AcmeError> {
    match payload {
        None => Ok(()),
        Some(_) => Err(AcmeError::Malformed(
            "this resource is read with POST-as-GET: an empty payload".into(),
        )),
    }
}

fn unauthorized_object() -> AcmeError {
    AcmeError::Unauthorized("this resource belongs to another account".into())
}

fn contacts(payload: &Value) -> Result<String, AcmeError> {
    let list = match payload.get("contact") {
        None | Some(Value::Null) => return Ok("[]".into()),
        Some(Value::Array(list)) => list,
        Some(_) => {
            return Err(AcmeError::Malformed(
                "\"contact\" must be an array of URLs".into(),
            ));
        }
    };
    if list.len() > 10 {
        return Err(AcmeError::Malformed("at most 10 contacts".into()));
    }
    for c in list {
        let ok = c.as_str().is_some_and(|s| {
            s.strip_prefix("mailto:").is_some_and(|addr| {
                addr.len() <= 254 && addr.contains('@') && !addr.contains([',', '?', ' '])
            })
        });
        if !ok {
            return Err(AcmeError::Malformed(
                "each contact must be one mailto: address (invalidContact)".into(),
            ));
        }
    }
    Ok(Value::Array(list.clone()).to_string())
}

/// A DNS name we can validate over http-01: LDH labels, no wildcard, no IP address.
fn valid_dns_name(name: &str) -> bool {
    let labels_ok = name.split('.').all(|l| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    });
    let not_ip = name.parse::<std::net::IpAddr>().is_err()
        && !name
            .rsplit('.')
            .next()
            .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()));
    name.len() <= 253 && labels_ok && not_ip
}

fn identifiers(payload: &Value) -> Result<Vec<String>, AcmeError> {
    let list = payload
        .get("identifiers")
        .and_then(Value::as_array)
        .filter(|l| !l.is_empty())
        .ok_or_else(|| AcmeError::Malformed("\"identifiers\" must be a non-empty array".into()))?;
    if list.len() > 100 {
        return Err(AcmeError::RejectedIdentifier(
            "at most 100 identifiers per order".into(),
        ));
    }
    let mut names = std::collections::BTreeSet::new();
    for id in list {
        let kind = id.get("type").and_then(Value::as_str).unwrap_or("");
        let value = id.get("value").and_then(Value::as_str).unwrap_or("");
        if kind != "dns" {
            return Err(AcmeError::UnsupportedIdentifier(format!(
                "identifier type \"{kind}\" is not supported; only \"dns\""
            )));
        }
        let name = value.to_ascii_lowercase();
        if !valid_dns_name(&name) {
            return Err(AcmeError::RejectedIdentifier(format!(
                "\"{}\" is not a DNS name that http-01 can validate (no wildcards, no IP \
                 addresses)",
                value.chars().take(80).collect::<String>()
            )));
        }
        names.insert(name);
    }
    Ok(names.into_iter().collect())
}

/// RFC 5280 CRLReason codes ACME accepts (RFC 8555 §7.6): 0-10 without 7 (unused).
fn revocation_reason(payload: &Value) -> Result<u8, AcmeError> {
    match payload.get("reason") {
        None | Some(Value::Null) => Ok(0),
        Some(v) => match v.as_u64() {
            Some(code @ (0..=6 | 8..=10)) => Ok(u8::try_from(code).unwrap_or(0)),
            _ => Err(AcmeError::BadRevocationReason(
                "\"reason\" must be an RFC 5280 CRLReason code: 0-6 or 8-10".into(),
            )),
        },
    }
}

fn account_json(base: &str, account: &Account) -> Value {
    json!({
        "status": account.status,
        "contact": serde_json::from_str::<Value>(&account.contact).unwrap_or(json!([])),
        "orders": format!("{base}/acme/acct/{}/orders", account.id),
    })
}

fn authz_json(base: &str, authz: &Authz) -> Value {
    let status = if authz.status == "pending" && authz.expires_ms < now_ms() {
        "expired"
    } else {
        authz.status.as_str()
    };
    json!({
        "identifier": {"type": "dns", "value": authz.name},
        "status": status,
        "expires": rfc3339(authz.expires_ms),
        "challenges": [challenge_json(base, authz)],
    })
}

fn challenge_json(base: &str, authz: &Authz) -> Value {
    let mut c = json!({
        "type": "http-01",
        "url": format!("{base}/acme/chall/{}", authz.id),
        "token": authz.token,
        "status": authz.chall_status,
    });
    if let Some(at) = authz.validated_ms {
        c["validated"] = json!(rfc3339(at));
    }
    if let Some(error) = &authz.error {
        c["error"] = serde_json::from_str(error).unwrap_or(Value::Null);
    }
    c
}
