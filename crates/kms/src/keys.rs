//! Key ring lifecycle: create, list, show, rotate, configure, enable/disable, schedule
//! deletion, destroy. Every change commits together with its audit record.

use crate::types::{CreateKey, KeyConfig, KeyInfo, KeyState, KeyType, VersionInfo};
use crate::{Kms, KmsError};
use std::time::Duration;
use webqx_audit::RequestContext;
use webqx_crypto::envelope::valid_key_name;
use webqx_crypto::{SecretBytes, aead};
use webqx_store::time::{format_duration, parse_duration, rfc3339};
use webqx_store::{AnyRow, Row, WriteTx, now_ms, query};

const USABLE_OR_DISABLED: &[KeyState] = &[KeyState::Enabled, KeyState::Disabled];

/// Scheduler ticks that purge destroyed material again after a destruction.
const PURGE_REPEATS: u32 = 10;

/// Longest rotation period or deletion wait: ten years.
const MAX_PERIOD: Duration = Duration::from_secs(3650 * 86_400);

/// Shortest automatic rotation period.
const MIN_AUTO_ROTATE: Duration = Duration::from_secs(3600);
/// Most keys in one page of a list.
pub const MAX_PAGE: u32 = 1000;

const KEY_COLUMNS: &str = "name, id, key_type, state, exportable, latest_version, \
    min_decryption_version, min_encryption_version, auto_rotate_secs, deletion_due_ms, \
    created_ms, updated_ms, rotated_ms, destroyed_ms";

/// A key ring row.
#[derive(Debug, Clone)]
pub(crate) struct KeyRow {
    pub name: String,
    pub id: String,
    pub key_type: KeyType,
    pub state: KeyState,
    pub exportable: bool,
    pub latest_version: u32,
    pub min_decryption_version: u32,
    pub min_encryption_version: u32,
    pub auto_rotate_secs: Option<i64>,
    pub deletion_due_ms: Option<i64>,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub rotated_ms: i64,
    pub destroyed_ms: Option<i64>,
}

fn version(n: i64) -> u32 {
    u32::try_from(n).unwrap_or(0)
}

impl KeyRow {
    fn from_row(row: &AnyRow) -> Result<KeyRow, KmsError> {
        let corrupt = |what: &str| KmsError::Internal(format!("stored key has an unknown {what}"));
        let key_type: String = row.try_get("key_type")?;
        let state: String = row.try_get("state")?;
        Ok(KeyRow {
            name: row.try_get("name")?,
            id: row.try_get("id")?,
            key_type: KeyType::parse(&key_type).ok_or_else(|| corrupt("type"))?,
            state: KeyState::parse(&state).ok_or_else(|| corrupt("state"))?,
            exportable: row.try_get::<i64, _>("exportable")? != 0,
            latest_version: version(row.try_get("latest_version")?),
            min_decryption_version: version(row.try_get("min_decryption_version")?),
            min_encryption_version: version(row.try_get("min_encryption_version")?),
            auto_rotate_secs: row.try_get("auto_rotate_secs")?,
            deletion_due_ms: row.try_get("deletion_due_ms")?,
            created_ms: row.try_get("created_ms")?,
            updated_ms: row.try_get("updated_ms")?,
            rotated_ms: row.try_get("rotated_ms")?,
            destroyed_ms: row.try_get("destroyed_ms")?,
        })
    }

    /// Refuses use unless enabled.
    pub(crate) fn usable(&self) -> Result<(), KmsError> {
        match self.state {
            KeyState::Enabled => Ok(()),
            KeyState::Disabled => Err(KmsError::KeyDisabled(self.name.clone())),
            KeyState::PendingDeletion => Err(KmsError::KeyPendingDeletion(self.name.clone())),
            KeyState::Destroyed => Err(KmsError::KeyDestroyed(self.name.clone())),
        }
    }

    fn not_destroyed(&self) -> Result<(), KmsError> {
        match self.state {
            KeyState::Destroyed => Err(KmsError::KeyDestroyed(self.name.clone())),
            KeyState::PendingDeletion => Err(KmsError::KeyPendingDeletion(self.name.clone())),
            _ => Ok(()),
        }
    }
}

/// Associated data binding wrapped material to its key, version and type.
pub(crate) fn material_aad(key_id: &str, version: u32, key_type: KeyType) -> Vec<u8> {
    let mut aad = b"webqx-key-v1\0".to_vec();
    aad.extend_from_slice(key_id.as_bytes());
    aad.push(0);
    aad.extend_from_slice(&version.to_be_bytes());
    aad.extend_from_slice(key_type.as_str().as_bytes());
    aad
}

fn new_material(key_type: KeyType) -> Result<(SecretBytes, Option<Vec<u8>>), KmsError> {
    let random = |n| {
        webqx_crypto::rand::bytes(n)
            .map(SecretBytes::new)
            .map_err(crate::error::internal)
    };
    let signing = |alg| -> Result<(SecretBytes, Option<Vec<u8>>), KmsError> {
        let private = webqx_crypto::sign::generate(alg).map_err(crate::error::internal)?;
        let public = webqx_crypto::sign::public_key_spki(alg, private.expose())
            .map_err(crate::error::internal)?;
        Ok((private, Some(public)))
    };
    match key_type {
        KeyType::Aes256Gcm | KeyType::ChaCha20Poly1305 | KeyType::Hmac => Ok((random(32)?, None)),
        KeyType::Aes256Siv => Ok((random(webqx_crypto::daead::KEY_LEN)?, None)),
        KeyType::Ed25519 => signing(webqx_crypto::sign::Algorithm::Ed25519),
        KeyType::EcdsaP256 => signing(webqx_crypto::sign::Algorithm::EcdsaP256),
        KeyType::TangP521 => Ok((crate::tang::new_material()?, None)),
    }
}

pub(crate) fn check_name(name: &str) -> Result<(), KmsError> {
    if valid_key_name(name) {
        Ok(())
    } else {
        Err(KmsError::Invalid(
            "a key name is 1 to 128 characters of letters, digits, '.', '_' and '-', not \
             starting with '.' or '-'"
                .into(),
        ))
    }
}

fn auto_rotate(text: &str) -> Result<Option<i64>, KmsError> {
    let d =
        parse_duration(text).map_err(|e| KmsError::Invalid(format!("auto_rotate_period: {e}")))?;
    if d.is_zero() {
        return Ok(None);
    }
    if d < MIN_AUTO_ROTATE || d > MAX_PERIOD {
        return Err(KmsError::Invalid(
            "auto_rotate_period must be 0 (off), or between 1h and 3650d".into(),
        ));
    }
    Ok(Some(i64::try_from(d.as_secs()).unwrap_or(i64::MAX)))
}

impl Kms {
    pub(crate) async fn key_row<'e, E>(&self, exec: E, name: &str) -> Result<KeyRow, KmsError>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        check_name(name)?;
        let sql = format!("SELECT {KEY_COLUMNS} FROM keys WHERE name = $1");
        let row = query(sqlx::AssertSqlSafe(sql))
            .bind(name)
            .fetch_optional(exec)
            .await?
            .ok_or_else(|| KmsError::KeyNotFound(name.to_owned()))?;
        KeyRow::from_row(&row)
    }

    /// Unwrapped material of one version.
    pub(crate) async fn material(
        &self,
        key: &KeyRow,
        version: u32,
    ) -> Result<SecretBytes, KmsError> {
        let root = self.root()?;
        let wrapped = match self.cache.wrapped(key, version) {
            Some(w) => w,
            None => {
                let w = self.wrapped_from_store(key, version).await?;
                self.cache.put_wrapped(key, version, &w);
                w
            }
        };
        let aad = material_aad(&key.id, version, key.key_type);
        aead::open(aead::Algorithm::AesGcm, root.expose(), &aad, &wrapped).map_err(|_| {
            KmsError::Internal(format!("key '{}' v{version} does not unwrap", key.name))
        })
    }

    async fn wrapped_from_store(&self, key: &KeyRow, version: u32) -> Result<Vec<u8>, KmsError> {
        let row = query("SELECT wrapped FROM key_versions WHERE key_id = $1 AND version = $2")
            .bind(&key.id)
            .bind(i64::from(version))
            .fetch_optional(self.store.pool())
            .await?
            .ok_or_else(|| {
                KmsError::KeyVersion(format!("key '{}' has no version {version}", key.name))
            })?;
        let wrapped: Option<Vec<u8>> = row.try_get(0)?;
        wrapped.ok_or_else(|| KmsError::KeyDestroyed(key.name.clone()))
    }

    /// The key row for an operation: from the cache when fresh, else from the store.
    pub(crate) async fn cached_row(&self, name: &str) -> Result<KeyRow, KmsError> {
        if let Some(row) = self.cache.row(name) {
            return Ok(row);
        }
        let row = self.key_row(self.store.pool(), name).await?;
        self.cache.put_row(&row);
        Ok(row)
    }

    async fn add_version(
        &self,
        tx: &mut WriteTx,
        key: &KeyRow,
        version: u32,
    ) -> Result<(), KmsError> {
        let root = self.root()?;
        let (material, public) = new_material(key.key_type)?;
        let aad = material_aad(&key.id, version, key.key_type);
        let wrapped = aead::seal(
            aead::Algorithm::AesGcm,
            root.expose(),
            &aad,
            material.expose(),
        )
        .map_err(crate::error::internal)?;
        query(
            "INSERT INTO key_versions (key_id, version, wrapped, public_key, created_ms) \
               VALUES ($1, $2, $3, $4, $5)",
        )
        .bind(&key.id)
        .bind(i64::from(version))
        .bind(&wrapped)
        .bind(public)
        .bind(now_ms())
        .execute(tx.conn())
        .await?;
        Ok(())
    }

    /// Creates a key ring with its first version.
    ///
    /// # Errors
    /// [`KmsError::Invalid`] for a bad name or period, [`KmsError::KeyExists`],
    /// [`KmsError::Sealed`], storage and audit failures.
    pub async fn create_key(
        &self,
        ctx: &RequestContext,
        req: &CreateKey,
    ) -> Result<KeyInfo, KmsError> {
        let mut rec = ctx.record("key.create", Some(format!("key:{}", req.name)));
        rec.detail("type", req.key_type.as_str())
            .detail("exportable", req.exportable);
        self.transact(rec, async |tx, _| self.create_key_in(tx, req).await)
            .await
    }

    /// Creates a key ring inside the caller's transaction (which also carries the audit
    /// record).
    ///
    /// # Errors
    /// As for [`Kms::create_key`].
    pub async fn create_key_in(
        &self,
        tx: &mut WriteTx,
        req: &CreateKey,
    ) -> Result<KeyInfo, KmsError> {
        {
            self.root()?;
            check_name(&req.name)?;
            let auto = match &req.auto_rotate_period {
                Some(p) => auto_rotate(p)?,
                None => None,
            };
            let now = now_ms();
            let key = KeyRow {
                name: req.name.clone(),
                id: uuid::Uuid::now_v7().to_string(),
                key_type: req.key_type,
                state: KeyState::Enabled,
                exportable: req.exportable,
                latest_version: 1,
                min_decryption_version: 1,
                min_encryption_version: 0,
                auto_rotate_secs: auto,
                deletion_due_ms: None,
                created_ms: now,
                updated_ms: now,
                rotated_ms: now,
                destroyed_ms: None,
            };
            let inserted = query(
                "INSERT INTO keys (name, id, key_type, state, exportable, latest_version, \
                 min_decryption_version, min_encryption_version, auto_rotate_secs, \
                 created_ms, updated_ms, rotated_ms) \
                 VALUES ($1, $2, $3, 'enabled', $4, 1, 1, 0, $5, $6, $6, $6)",
            )
            .bind(&key.name)
            .bind(&key.id)
            .bind(key.key_type.as_str())
            .bind(i64::from(key.exportable))
            .bind(auto)
            .bind(now)
            .execute(tx.conn())
            .await;
            match inserted {
                Err(sqlx::Error::Database(db)) if db.is_unique_violation() => {
                    return Err(KmsError::KeyExists(key.name.clone()));
                }
                other => other?,
            };
            self.add_version(tx, &key, 1).await?;
            self.info_in(tx, &key).await
        }
    }

    async fn info_in(&self, tx: &mut WriteTx, key: &KeyRow) -> Result<KeyInfo, KmsError> {
        let key = self.key_row(tx.conn(), &key.name).await?;
        let versions = self.versions(tx.conn(), &key).await?;
        Ok(info(&key, versions))
    }

    async fn versions<'e, E>(&self, exec: E, key: &KeyRow) -> Result<Vec<VersionInfo>, KmsError>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any>,
    {
        if key.state == KeyState::Destroyed {
            return Ok(Vec::new());
        }
        let rows = query("SELECT version, public_key, created_ms FROM key_versions WHERE key_id = $1 ORDER BY version")
            .bind(&key.id)
            .fetch_all(exec)
            .await?;
        rows.iter()
            .map(|row| {
                let public: Option<Vec<u8>> = row.try_get(1)?;
                Ok(VersionInfo {
                    version: version(row.try_get(0)?),
                    created: rfc3339(row.try_get(2)?),
                    public_key_pem: public.map(|der| webqx_crypto::sign::pem("PUBLIC KEY", &der)),
                })
            })
            .collect()
    }

    /// A key ring's metadata. Reading metadata is audited like any other request.
    ///
    /// # Errors
    /// [`KmsError::KeyNotFound`], storage and audit failures.
    pub async fn key_info(&self, ctx: &RequestContext, name: &str) -> Result<KeyInfo, KmsError> {
        let rec = ctx.record("key.read", Some(format!("key:{name}")));
        self.audited(rec, async |_| {
            let key = self.key_row(self.store.pool(), name).await?;
            let versions = self.versions(self.store.pool(), &key).await?;
            Ok(info(&key, versions))
        })
        .await
    }

    /// Names after `cursor`, in name order, at most `limit` (capped at 1000), with the
    /// cursor for the next page.
    ///
    /// # Errors
    /// Storage and audit failures.
    pub async fn list_keys(
        &self,
        ctx: &RequestContext,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<(Vec<KeyInfo>, Option<String>), KmsError> {
        let rec = ctx.record("key.list", None);
        self.audited(rec, async |rec| {
            let limit = limit.clamp(1, MAX_PAGE);
            let sql =
                format!("SELECT {KEY_COLUMNS} FROM keys WHERE name > $1 ORDER BY name LIMIT $2");
            let rows = query(sqlx::AssertSqlSafe(sql))
                .bind(cursor.unwrap_or(""))
                .bind(i64::from(limit) + 1)
                .fetch_all(self.store.pool())
                .await?;
            let mut keys = rows
                .iter()
                .map(KeyRow::from_row)
                .collect::<Result<Vec<_>, _>>()?;
            let next = if keys.len() > limit as usize {
                keys.truncate(limit as usize);
                keys.last().map(|k| k.name.clone())
            } else {
                None
            };
            rec.detail("count", keys.len());
            Ok((keys.iter().map(|k| info(k, Vec::new())).collect(), next))
        })
        .await
    }

    /// Adds a new version and makes it the one encryption uses.
    ///
    /// # Errors
    /// [`KmsError::KeyNotFound`], [`KmsError::KeyDestroyed`],
    /// [`KmsError::KeyPendingDeletion`], [`KmsError::Sealed`], storage and audit failures.
    pub async fn rotate_key(&self, ctx: &RequestContext, name: &str) -> Result<KeyInfo, KmsError> {
        let rec = ctx.record("key.rotate", Some(format!("key:{name}")));
        self.transact(rec, async |tx, rec| {
            let key = self.key_row(tx.conn(), name).await?;
            key.not_destroyed()?;
            let next = key.latest_version.checked_add(1).ok_or_else(|| {
                KmsError::KeyVersion("the key has reached its last version".into())
            })?;
            self.add_version(tx, &key, next).await?;
            let now = now_ms();
            query("UPDATE keys SET latest_version = $1, rotated_ms = $2, updated_ms = $2 WHERE id = $3")
                .bind(i64::from(next))
                .bind(now)
                .bind(&key.id)
                .execute(tx.conn())
                .await?;
            rec.detail("version", next);
            self.info_in(tx, &key).await
        })
        .await
    }

    /// Changes minimum versions or the rotation period.
    ///
    /// # Errors
    /// [`KmsError::KeyVersion`] for versions outside `1..=latest` or an encryption
    /// minimum below the decryption minimum; others as for rotation.
    pub async fn configure_key(
        &self,
        ctx: &RequestContext,
        name: &str,
        change: &KeyConfig,
    ) -> Result<KeyInfo, KmsError> {
        let rec = ctx.record("key.configure", Some(format!("key:{name}")));
        self.transact(rec, async |tx, rec| {
            self.root()?;
            let key = self.key_row(tx.conn(), name).await?;
            key.not_destroyed()?;
            let min_dec = change
                .min_decryption_version
                .unwrap_or(key.min_decryption_version);
            let min_enc = change
                .min_encryption_version
                .unwrap_or(key.min_encryption_version);
            if min_dec < 1 || min_dec > key.latest_version {
                return Err(KmsError::KeyVersion(format!(
                    "min_decryption_version must be between 1 and the latest version ({})",
                    key.latest_version
                )));
            }
            if min_enc > key.latest_version || (min_enc != 0 && min_enc < min_dec) {
                return Err(KmsError::KeyVersion(format!(
                    "min_encryption_version must be 0, or between min_decryption_version \
                     ({min_dec}) and the latest version ({})",
                    key.latest_version
                )));
            }
            let auto = match &change.auto_rotate_period {
                Some(p) => auto_rotate(p)?,
                None => key.auto_rotate_secs,
            };
            query(
                "UPDATE keys SET min_decryption_version = $1, min_encryption_version = $2, \
                   auto_rotate_secs = $3, updated_ms = $4 WHERE id = $5",
            )
            .bind(i64::from(min_dec))
            .bind(i64::from(min_enc))
            .bind(auto)
            .bind(now_ms())
            .bind(&key.id)
            .execute(tx.conn())
            .await?;
            rec.detail("min_decryption_version", min_dec)
                .detail("min_encryption_version", min_enc);
            self.info_in(tx, &key).await
        })
        .await
    }

    fn deletion_due(&self, wait: Option<&str>) -> Result<Option<i64>, KmsError> {
        let wait = match wait {
            Some(text) => parse_duration(text)
                .map_err(|e| KmsError::Invalid(format!("waiting_period: {e}")))?,
            None => self.settings.default_deletion_wait,
        };
        if wait > MAX_PERIOD {
            return Err(KmsError::Invalid(
                "waiting_period must be at most 3650d".into(),
            ));
        }
        if wait < self.settings.min_deletion_wait {
            return Err(KmsError::Invalid(format!(
                "waiting_period must be at least {} (kms.min_deletion_wait)",
                format_duration(self.settings.min_deletion_wait)
            )));
        }
        Ok(Some(now_ms().saturating_add(
            i64::try_from(wait.as_millis()).unwrap_or(i64::MAX),
        )))
    }

    async fn set_state(
        &self,
        ctx: &RequestContext,
        name: &str,
        action: &str,
        (from, to): (&[KeyState], KeyState),
        due_ms: Result<Option<i64>, KmsError>,
    ) -> Result<KeyInfo, KmsError> {
        let rec = ctx.record(action, Some(format!("key:{name}")));
        self.transact(rec, async |tx, _| {
            self.root()?;
            let due_ms = due_ms?;
            let key = self.key_row(tx.conn(), name).await?;
            if !from.contains(&key.state) {
                if key.state == KeyState::Destroyed {
                    return Err(KmsError::KeyDestroyed(name.to_owned()));
                }
                return Err(KmsError::Invalid(format!(
                    "key '{name}' is {}; {action} does not apply",
                    key.state.as_str()
                )));
            }
            query(
                "UPDATE keys SET state = $1, deletion_due_ms = $2, updated_ms = $3 WHERE id = $4",
            )
            .bind(to.as_str())
            .bind(due_ms)
            .bind(now_ms())
            .bind(&key.id)
            .execute(tx.conn())
            .await?;
            self.info_in(tx, &key).await
        })
        .await
    }

    /// Makes a disabled key usable again.
    ///
    /// # Errors
    /// [`KmsError::Invalid`] unless the key is enabled or disabled.
    pub async fn enable_key(&self, ctx: &RequestContext, name: &str) -> Result<KeyInfo, KmsError> {
        self.set_state(
            ctx,
            name,
            "key.enable",
            (USABLE_OR_DISABLED, KeyState::Enabled),
            Ok(None),
        )
        .await
    }

    /// Refuses every operation with the key until enabled again.
    ///
    /// # Errors
    /// [`KmsError::Invalid`] unless the key is enabled or disabled.
    pub async fn disable_key(&self, ctx: &RequestContext, name: &str) -> Result<KeyInfo, KmsError> {
        self.set_state(
            ctx,
            name,
            "key.disable",
            (USABLE_OR_DISABLED, KeyState::Disabled),
            Ok(None),
        )
        .await
    }

    /// Schedules destruction after `wait` (the configured default when `None`). The
    /// key is refused for every use from now on.
    ///
    /// # Errors
    /// [`KmsError::Invalid`] for a waiting period below the configured minimum.
    pub async fn schedule_deletion(
        &self,
        ctx: &RequestContext,
        name: &str,
        wait: Option<&str>,
    ) -> Result<KeyInfo, KmsError> {
        let due = self.deletion_due(wait);
        let from = &[KeyState::Enabled, KeyState::Disabled][..];
        self.set_state(
            ctx,
            name,
            "key.schedule_deletion",
            (from, KeyState::PendingDeletion),
            due,
        )
        .await
    }

    /// Cancels a scheduled deletion; the key comes back disabled.
    ///
    /// # Errors
    /// [`KmsError::Invalid`] unless deletion is pending.
    pub async fn cancel_deletion(
        &self,
        ctx: &RequestContext,
        name: &str,
    ) -> Result<KeyInfo, KmsError> {
        let from = &[KeyState::PendingDeletion][..];
        self.set_state(
            ctx,
            name,
            "key.cancel_deletion",
            (from, KeyState::Disabled),
            Ok(None),
        )
        .await
    }

    /// Destroys the key's material now, if its deletion is due (crypto-shredding):
    /// every version's wrapped material is deleted, SQLite's freed pages are
    /// overwritten, and data encrypted under the key can never be decrypted again.
    ///
    /// # Errors
    /// [`KmsError::Invalid`] if no deletion is scheduled or it is not yet due.
    pub async fn destroy_key(&self, ctx: &RequestContext, name: &str) -> Result<KeyInfo, KmsError> {
        let rec = ctx.record("key.destroy", Some(format!("key:{name}")));
        let info = self
            .transact(rec, async |tx, rec| {
                self.root()?;
                let key = self.key_row(tx.conn(), name).await?;
                let now = now_ms();
                match (key.state, key.deletion_due_ms) {
                    (KeyState::PendingDeletion, Some(due)) if due <= now => {}
                    (KeyState::PendingDeletion, Some(due)) => {
                        return Err(KmsError::Invalid(format!(
                            "key '{name}' may be destroyed from {}; until then the deletion \
                             can be cancelled",
                            rfc3339(due)
                        )));
                    }
                    (KeyState::Destroyed, _) => {
                        return Err(KmsError::KeyDestroyed(name.to_owned()));
                    }
                    _ => {
                        return Err(KmsError::Invalid(format!(
                            "key '{name}' is not scheduled for deletion; schedule it first \
                             (`webqx-sec key schedule-deletion {name}`)"
                        )));
                    }
                }
                query(
                    "UPDATE key_versions SET wrapped = NULL, public_key = NULL WHERE key_id = $1",
                )
                .bind(&key.id)
                .execute(tx.conn())
                .await?;
                query(
                    "UPDATE keys SET state = 'destroyed', destroyed_ms = $1, updated_ms = $1, \
                       deletion_due_ms = NULL WHERE id = $2",
                )
                .bind(now)
                .bind(&key.id)
                .execute(tx.conn())
                .await?;
                rec.detail("versions", key.latest_version);
                self.info_in(tx, &key).await
            })
            .await?;
        self.purge_destroyed().await?;
        // Transactions open at this moment may keep old row versions alive (PostgreSQL):
        // the scheduler purges again on its next ticks.
        self.purges_left
            .store(PURGE_REPEATS, std::sync::atomic::Ordering::Relaxed);
        Ok(info)
    }

    async fn purge_destroyed(&self) -> Result<(), KmsError> {
        self.store
            .purge_deleted(webqx_store::PurgeTable::KeyVersions)
            .await?;
        Ok(())
    }

    /// Rotates every key whose rotation period has passed and destroys every key whose
    /// deletion is due. The scheduler calls this; several nodes may call it at once.
    ///
    /// # Errors
    /// Only if the keys cannot be listed; failures for single keys are logged.
    pub async fn run_due_work(&self, ctx: &RequestContext) -> Result<(u32, u32), KmsError> {
        if self.is_sealed() {
            return Ok((0, 0));
        }
        let left = self.purges_left.load(std::sync::atomic::Ordering::Relaxed);
        if left > 0 {
            self.purges_left
                .store(left - 1, std::sync::atomic::Ordering::Relaxed);
            if let Err(e) = self.purge_destroyed().await {
                tracing::warn!(error = %e, "purging destroyed key material failed; will retry");
            }
        }
        let now = now_ms();
        let due_rotation: Vec<String> = query(
            "SELECT name FROM keys WHERE state IN ('enabled', 'disabled') AND auto_rotate_secs IS NOT NULL \
             AND rotated_ms + auto_rotate_secs * 1000 <= $1",
        )
        .bind(now)
        .fetch_all(self.store.pool())
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;
        let due_deletion: Vec<String> = query(
            "SELECT name FROM keys WHERE state = 'pending_deletion' AND deletion_due_ms <= $1",
        )
        .bind(now)
        .fetch_all(self.store.pool())
        .await?
        .iter()
        .map(|r| r.try_get(0))
        .collect::<Result<_, _>>()?;

        let (mut rotated, mut destroyed) = (0, 0);
        for name in due_rotation {
            match self.rotate_if_due(ctx, &name).await {
                Ok(true) => rotated += 1,
                Ok(false) => {}
                Err(e) => tracing::warn!(key = %name, error = %e, "automatic rotation failed"),
            }
        }
        for name in due_deletion {
            match self.destroy_key(ctx, &name).await {
                Ok(_) => destroyed += 1,
                Err(e) => tracing::warn!(key = %name, error = %e, "scheduled destruction failed"),
            }
        }
        Ok((rotated, destroyed))
    }

    /// Rotates only if still due when the writer lock is held (another node may have
    /// just done it).
    async fn rotate_if_due(&self, ctx: &RequestContext, name: &str) -> Result<bool, KmsError> {
        let key = self.key_row(self.store.pool(), name).await?;
        let due = key
            .auto_rotate_secs
            .is_some_and(|s| key.rotated_ms + s * 1000 <= now_ms());
        if !due {
            return Ok(false);
        }
        let rec = ctx.record("key.rotate", Some(format!("key:{name}")));
        self.transact(rec, async |tx, rec| {
            let key = self.key_row(tx.conn(), name).await?;
            let still_due = key.auto_rotate_secs.is_some_and(|s| key.rotated_ms + s * 1000 <= now_ms());
            if !still_due {
                rec.detail("skipped", "already rotated by another node");
                return Ok(false);
            }
            let next = key.latest_version + 1;
            self.add_version(tx, &key, next).await?;
            query("UPDATE keys SET latest_version = $1, rotated_ms = $2, updated_ms = $2 WHERE id = $3")
                .bind(i64::from(next))
                .bind(now_ms())
                .bind(&key.id)
                .execute(tx.conn())
                .await?;
            rec.detail("version", next).detail("automatic", true);
            Ok(true)
        })
        .await
    }
}

fn info(key: &KeyRow, versions: Vec<VersionInfo>) -> KeyInfo {
    KeyInfo {
        name: key.name.clone(),
        key_type: key.key_type,
        state: key.state,
        exportable: key.exportable,
        latest_version: key.latest_version,
        min_decryption_version: key.min_decryption_version,
        min_encryption_version: key.min_encryption_version,
        auto_rotate_period: key
            .auto_rotate_secs
            .map(|s| format_duration(Duration::from_secs(u64::try_from(s).unwrap_or(0)))),
        deletion_date: key.deletion_due_ms.map(rfc3339),
        created: rfc3339(key.created_ms),
        updated: rfc3339(key.updated_ms),
        last_rotated: rfc3339(key.rotated_ms),
        destroyed: key.destroyed_ms.map(rfc3339),
        versions,
    }
}
