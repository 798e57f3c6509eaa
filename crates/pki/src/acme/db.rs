//! The ACME tables (migration 0004): rows in and out. Times are milliseconds.

use super::error::AcmeError;
use webqx_store::{AnyPool, Row, Store, now_ms, query};

/// An account row.
#[derive(Debug, Clone)]
pub struct Account {
    /// Id (UUIDv7).
    pub id: String,
    /// RFC 7638 thumbprint of the key.
    pub thumbprint: String,
    /// Canonical public JWK.
    pub jwk: String,
    /// `valid` or `deactivated`.
    pub status: String,
    /// Contact URLs, JSON array.
    pub contact: String,
}

/// An order row.
#[derive(Debug, Clone)]
pub struct Order {
    /// Id.
    pub id: String,
    /// Owner.
    pub account_id: String,
    /// `pending`, `ready`, `processing`, `valid` or `invalid`.
    pub status: String,
    /// DNS names, JSON array.
    pub names: Vec<String>,
    /// Expiry.
    pub expires_ms: i64,
    /// Problem document, JSON, when invalid.
    pub error: Option<String>,
    /// Certificate id once valid.
    pub cert_id: Option<String>,
}

/// An authorization row with its one http-01 challenge.
#[derive(Debug, Clone)]
pub struct Authz {
    /// Id (also the challenge's).
    pub id: String,
    /// Order.
    pub order_id: String,
    /// Owner.
    pub account_id: String,
    /// DNS name.
    pub name: String,
    /// Authorization status.
    pub status: String,
    /// Challenge token.
    pub token: String,
    /// Challenge status.
    pub chall_status: String,
    /// When the challenge was validated.
    pub validated_ms: Option<i64>,
    /// Problem document, JSON, when the challenge failed.
    pub error: Option<String>,
    /// Expiry.
    pub expires_ms: i64,
}

/// A certificate issued through ACME.
#[derive(Debug, Clone)]
pub struct Cert {
    /// Id (in its URL).
    pub id: String,
    /// CA serial, lowercase hex.
    pub serial: String,
    /// Owner.
    pub account_id: String,
    /// Leaf and intermediates, PEM.
    pub chain_pem: String,
    /// Revoked through ACME.
    pub revoked: bool,
}

/// The ACME tables of one store.
#[derive(Debug, Clone)]
pub struct Db {
    store: Store,
}

fn pool(db: &Db) -> &AnyPool {
    db.store.pool()
}

impl Db {
    /// Over `store`.
    pub fn new(store: Store) -> Db {
        Db { store }
    }

    /// Stores a fresh nonce and drops expired ones.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn put_nonce(&self, nonce: &str, lifetime_ms: i64) -> Result<(), AcmeError> {
        let now = now_ms();
        query("DELETE FROM acme_nonces WHERE expires_ms < $1")
            .bind(now)
            .execute(pool(self))
            .await?;
        query("INSERT INTO acme_nonces (nonce, expires_ms) VALUES ($1, $2)")
            .bind(nonce)
            .bind(now + lifetime_ms)
            .execute(pool(self))
            .await?;
        Ok(())
    }

    /// Uses up a nonce: true if it existed and had not expired.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn take_nonce(&self, nonce: &str) -> Result<bool, AcmeError> {
        let done = query("DELETE FROM acme_nonces WHERE nonce = $1 AND expires_ms >= $2")
            .bind(nonce)
            .bind(now_ms())
            .execute(pool(self))
            .await?;
        Ok(done.rows_affected() == 1)
    }

    /// The account with this key thumbprint.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn account_by_key(&self, thumbprint: &str) -> Result<Option<Account>, AcmeError> {
        self.account_where("thumbprint", thumbprint).await
    }

    /// The account with this id.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn account(&self, id: &str) -> Result<Option<Account>, AcmeError> {
        self.account_where("id", id).await
    }

    async fn account_where(&self, column: &str, value: &str) -> Result<Option<Account>, AcmeError> {
        let sql = match column {
            "id" => "SELECT id, thumbprint, jwk, status, contact FROM acme_accounts WHERE id = $1",
            _ => {
                "SELECT id, thumbprint, jwk, status, contact FROM acme_accounts \
                 WHERE thumbprint = $1"
            }
        };
        let Some(row) = query(sql).bind(value).fetch_optional(pool(self)).await? else {
            return Ok(None);
        };
        Ok(Some(Account {
            id: row.try_get(0)?,
            thumbprint: row.try_get(1)?,
            jwk: row.try_get(2)?,
            status: row.try_get(3)?,
            contact: row.try_get(4)?,
        }))
    }

    /// Creates an account.
    ///
    /// # Errors
    /// Storage failures (including a race on the same key).
    pub async fn insert_account(&self, a: &Account, tos: bool) -> Result<(), AcmeError> {
        query(
            "INSERT INTO acme_accounts (id, thumbprint, jwk, status, contact, tos, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7)",
        )
        .bind(&a.id)
        .bind(&a.thumbprint)
        .bind(&a.jwk)
        .bind(&a.status)
        .bind(&a.contact)
        .bind(i64::from(tos))
        .bind(now_ms())
        .execute(pool(self))
        .await?;
        Ok(())
    }

    /// Changes an account's status and contacts.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn update_account(&self, a: &Account) -> Result<(), AcmeError> {
        query("UPDATE acme_accounts SET status = $1, contact = $2 WHERE id = $3")
            .bind(&a.status)
            .bind(&a.contact)
            .bind(&a.id)
            .execute(pool(self))
            .await?;
        Ok(())
    }

    /// Creates an order and its authorizations, in one transaction.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn insert_order(&self, o: &Order, authzs: &[Authz]) -> Result<(), AcmeError> {
        let names = serde_json::to_string(&o.names).unwrap_or_default();
        let mut tx = pool(self).begin().await?;
        query(
            "INSERT INTO acme_orders (id, account_id, status, names, expires_ms, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(&o.id)
        .bind(&o.account_id)
        .bind(&o.status)
        .bind(names)
        .bind(o.expires_ms)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        for a in authzs {
            query(
                "INSERT INTO acme_authzs (id, order_id, account_id, name, status, token, \
                 chall_status, expires_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
            )
            .bind(&a.id)
            .bind(&a.order_id)
            .bind(&a.account_id)
            .bind(&a.name)
            .bind(&a.status)
            .bind(&a.token)
            .bind(&a.chall_status)
            .bind(a.expires_ms)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(())
    }

    /// An order.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn order(&self, id: &str) -> Result<Option<Order>, AcmeError> {
        let Some(row) = query(
            "SELECT id, account_id, status, names, expires_ms, error, cert_id FROM acme_orders \
             WHERE id = $1",
        )
        .bind(id)
        .fetch_optional(pool(self))
        .await?
        else {
            return Ok(None);
        };
        let names: String = row.try_get(3)?;
        Ok(Some(Order {
            id: row.try_get(0)?,
            account_id: row.try_get(1)?,
            status: row.try_get(2)?,
            names: serde_json::from_str(&names)
                .map_err(|e| AcmeError::ServerInternal(format!("order names: {e}")))?,
            expires_ms: row.try_get(4)?,
            error: row.try_get(5)?,
            cert_id: row.try_get(6)?,
        }))
    }

    /// The ids of an account's orders, newest first (at most 1000).
    ///
    /// # Errors
    /// Storage failures.
    pub async fn order_ids(&self, account_id: &str) -> Result<Vec<String>, AcmeError> {
        let rows = query(
            "SELECT id FROM acme_orders WHERE account_id = $1 ORDER BY created_ms DESC LIMIT 1000",
        )
        .bind(account_id)
        .fetch_all(pool(self))
        .await?;
        rows.iter()
            .map(|r| r.try_get::<String, _>(0).map_err(AcmeError::from))
            .collect()
    }

    /// Moves an order from one status to another; false if it was not in `from`.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn order_status(
        &self,
        id: &str,
        from: &str,
        to: &str,
        error: Option<&str>,
    ) -> Result<bool, AcmeError> {
        let done =
            query("UPDATE acme_orders SET status = $1, error = $2 WHERE id = $3 AND status = $4")
                .bind(to)
                .bind(error.map(str::to_owned))
                .bind(id)
                .bind(from)
                .execute(pool(self))
                .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records the certificate of an order and makes the order valid, in one transaction.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn finish_order(
        &self,
        order: &Order,
        cert: &Cert,
        fingerprint: &str,
    ) -> Result<(), AcmeError> {
        let mut tx = pool(self).begin().await?;
        query(
            "INSERT INTO acme_certs (id, serial, fingerprint, account_id, order_id, chain_pem, \
             revoked, created_ms) VALUES ($1, $2, $3, $4, $5, $6, 0, $7)",
        )
        .bind(&cert.id)
        .bind(&cert.serial)
        .bind(fingerprint)
        .bind(&cert.account_id)
        .bind(&order.id)
        .bind(&cert.chain_pem)
        .bind(now_ms())
        .execute(&mut *tx)
        .await?;
        query("UPDATE acme_orders SET status = 'valid', cert_id = $1 WHERE id = $2")
            .bind(&cert.id)
            .bind(&order.id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    /// The authorizations of an order.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn authzs(&self, order_id: &str) -> Result<Vec<Authz>, AcmeError> {
        let rows = query(AUTHZ_BY_ORDER)
            .bind(order_id)
            .fetch_all(pool(self))
            .await?;
        rows.iter().map(authz_row).collect()
    }

    /// One authorization.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn authz(&self, id: &str) -> Result<Option<Authz>, AcmeError> {
        let row = query(AUTHZ_BY_ID)
            .bind(id)
            .fetch_optional(pool(self))
            .await?;
        row.as_ref().map(authz_row).transpose()
    }

    /// Claims a pending challenge for validation; false if another request has it.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn claim_challenge(&self, id: &str) -> Result<bool, AcmeError> {
        let done = query(
            "UPDATE acme_authzs SET chall_status = 'processing' WHERE id = $1 \
             AND chall_status = 'pending'",
        )
        .bind(id)
        .execute(pool(self))
        .await?;
        Ok(done.rows_affected() == 1)
    }

    /// Records the outcome of a validation on the challenge and its authorization.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn settle_challenge(&self, id: &str, error: Option<&str>) -> Result<(), AcmeError> {
        let status = if error.is_some() { "invalid" } else { "valid" };
        query(
            "UPDATE acme_authzs SET chall_status = $1, status = $1, validated_ms = $2, \
             error = $3 WHERE id = $4",
        )
        .bind(status)
        .bind(error.is_none().then(now_ms))
        .bind(error.map(str::to_owned))
        .bind(id)
        .execute(pool(self))
        .await?;
        Ok(())
    }

    /// A certificate by id.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn cert(&self, id: &str) -> Result<Option<Cert>, AcmeError> {
        self.cert_where("id", id).await
    }

    /// A certificate by the SHA-256 of its DER.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn cert_by_fingerprint(&self, fp: &str) -> Result<Option<Cert>, AcmeError> {
        self.cert_where("fingerprint", fp).await
    }

    async fn cert_where(&self, column: &str, value: &str) -> Result<Option<Cert>, AcmeError> {
        let sql = if column == "id" {
            "SELECT id, serial, account_id, chain_pem, revoked FROM acme_certs WHERE id = $1"
        } else {
            "SELECT id, serial, account_id, chain_pem, revoked FROM acme_certs \
             WHERE fingerprint = $1"
        };
        let Some(row) = query(sql).bind(value).fetch_optional(pool(self)).await? else {
            return Ok(None);
        };
        Ok(Some(Cert {
            id: row.try_get(0)?,
            serial: row.try_get(1)?,
            account_id: row.try_get(2)?,
            chain_pem: row.try_get(3)?,
            revoked: row.try_get::<i64, _>(4)? != 0,
        }))
    }

    /// Marks a certificate revoked; false if it was already.
    ///
    /// # Errors
    /// Storage failures.
    pub async fn mark_revoked(&self, id: &str) -> Result<bool, AcmeError> {
        let done = query("UPDATE acme_certs SET revoked = 1 WHERE id = $1 AND revoked = 0")
            .bind(id)
            .execute(pool(self))
            .await?;
        Ok(done.rows_affected() == 1)
    }
}

macro_rules! authz_select {
    ($where:literal) => {
        concat!(
            "SELECT id, order_id, account_id, name, status, token, chall_status, validated_ms, \
             error, expires_ms FROM acme_authzs ",
            $where
        )
    };
}
const AUTHZ_BY_ORDER: &str = authz_select!("WHERE order_id = $1 ORDER BY name");
const AUTHZ_BY_ID: &str = authz_select!("WHERE id = $1");

fn authz_row(row: &webqx_store::AnyRow) -> Result<Authz, AcmeError> {
    Ok(Authz {
        id: row.try_get(0)?,
        order_id: row.try_get(1)?,
        account_id: row.try_get(2)?,
        name: row.try_get(3)?,
        status: row.try_get(4)?,
        token: row.try_get(5)?,
        chall_status: row.try_get(6)?,
        validated_ms: row.try_get(7)?,
        error: row.try_get(8)?,
        expires_ms: row.try_get(9)?,
    })
}
