//! Pin sets stored per service (`/v1/pki/pins/{service}`), for mobile apps and partner
//! clients that pin our services' keys. Every change is audited.

use crate::pin::{Pin, PinSet};
use crate::stored::{RecordError, check_name};
use serde::{Deserialize, Serialize};
use std::sync::Arc;
use webqx_audit::{AuditLog, RequestContext};
use webqx_store::time::rfc3339;
use webqx_store::{Row, Store, now_ms, query};

/// A stored pin set.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct StoredPins {
    /// The service it pins (free text: `ehr-api`, `partner-lab.example:443`).
    pub service: String,
    /// The pins, `pin-sha256="…"`.
    #[schema(value_type = Vec<String>)]
    pub pins: Vec<Pin>,
    /// Who set it.
    pub updated_by: String,
    /// When (RFC 3339).
    pub updated: String,
}

/// A request to set a service's pins.
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPins {
    /// Two or more pins, at least one of them a backup pin.
    #[schema(value_type = Vec<String>)]
    pub pins: Vec<Pin>,
    /// The pins of the service's current chain (from `webqx-sec cert pin`), when known:
    /// the set must then match it and hold a pin outside it (the backup).
    #[serde(default)]
    #[schema(value_type = Option<Vec<String>>)]
    pub current: Option<Vec<Pin>>,
}

/// Pin sets kept in the store.
#[derive(Clone)]
pub struct PinSets {
    store: Store,
    audit: Arc<AuditLog>,
}

impl std::fmt::Debug for PinSets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinSets").finish_non_exhaustive()
    }
}

fn checked(req: &SetPins) -> Result<PinSet, RecordError> {
    let set = PinSet::new(req.pins.clone()).map_err(|e| RecordError::Invalid(e.to_string()))?;
    if let Some(current) = &req.current {
        let chain: Vec<crate::pin::ChainPin> = current
            .iter()
            .enumerate()
            .map(|(index, pin)| crate::pin::ChainPin {
                index,
                subject: String::new(),
                pin: *pin,
            })
            .collect();
        set.check_against(&chain)
            .map_err(|e| RecordError::Invalid(e.to_string()))?;
    }
    Ok(set)
}

impl PinSets {
    /// Pin sets over `store`, auditing to `audit`.
    pub fn new(store: Store, audit: Arc<AuditLog>) -> PinSets {
        PinSets { store, audit }
    }

    /// Sets (creates or replaces) the pins of `service`.
    ///
    /// # Errors
    /// [`RecordError::Invalid`] for a set without a backup pin or a bad service name.
    pub async fn put(
        &self,
        ctx: &RequestContext,
        service: &str,
        req: &SetPins,
    ) -> Result<StoredPins, RecordError> {
        let mut rec = ctx.record("pki.pins.set", Some(format!("service:{service}")));
        let pin_texts: Vec<String> = req.pins.iter().map(Pin::to_string).collect();
        rec.detail("pins", pin_texts.clone());
        self.audit
            .transact(rec, async |tx, rec| {
                check_name("service", service)?;
                checked(req)?;
                let text = serde_json::to_string(&pin_texts)
                    .map_err(|e| RecordError::Invalid(e.to_string()))?;
                let now = now_ms();
                query("DELETE FROM pki_pin_sets WHERE service = $1")
                    .bind(service)
                    .execute(tx.conn())
                    .await?;
                query(
                    "INSERT INTO pki_pin_sets (service, pins, updated_by, updated_ms) \
                     VALUES ($1, $2, $3, $4)",
                )
                .bind(service)
                .bind(&text)
                .bind(&rec.actor)
                .bind(now)
                .execute(tx.conn())
                .await?;
                Ok(StoredPins {
                    service: service.to_owned(),
                    pins: req.pins.clone(),
                    updated_by: rec.actor.clone(),
                    updated: rfc3339(now),
                })
            })
            .await
    }

    /// The pins of `service`.
    ///
    /// # Errors
    /// [`RecordError::NotFound`], storage and audit failures.
    pub async fn get(
        &self,
        ctx: &RequestContext,
        service: &str,
    ) -> Result<StoredPins, RecordError> {
        let rec = ctx.record("pki.pins.get", Some(format!("service:{service}")));
        self.audit
            .audited(rec, async |_| {
                let row = query(
                    "SELECT pins, updated_by, updated_ms FROM pki_pin_sets WHERE service = $1",
                )
                .bind(service)
                .fetch_optional(self.store.pool())
                .await?
                .ok_or_else(|| not_found(service))?;
                let text: String = row.try_get(0)?;
                let texts: Vec<String> = serde_json::from_str(&text).unwrap_or_default();
                let pins = texts.iter().filter_map(|t| Pin::parse(t).ok()).collect();
                Ok(StoredPins {
                    service: service.to_owned(),
                    pins,
                    updated_by: row.try_get(1)?,
                    updated: rfc3339(row.try_get(2)?),
                })
            })
            .await
    }

    /// Deletes the pins of `service`.
    ///
    /// # Errors
    /// [`RecordError::NotFound`], storage and audit failures.
    pub async fn delete(&self, ctx: &RequestContext, service: &str) -> Result<(), RecordError> {
        let rec = ctx.record("pki.pins.delete", Some(format!("service:{service}")));
        self.audit
            .transact(rec, async |tx, _| {
                let done = query("DELETE FROM pki_pin_sets WHERE service = $1")
                    .bind(service)
                    .execute(tx.conn())
                    .await?;
                if done.rows_affected() == 0 {
                    return Err(not_found(service));
                }
                Ok(())
            })
            .await
    }
}

fn not_found(service: &str) -> RecordError {
    RecordError::NotFound(format!(
        "no pin set for service '{}'",
        service.chars().take(255).collect::<String>()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn pin_sets_round_trip_and_need_a_backup_on_every_store() {
        for ts in webqx_testkit::test_stores() {
            let store = Store::open(&ts.config).await.unwrap();
            let sets = PinSets::new(store.clone(), AuditLog::start(store));
            let ctx = RequestContext::internal("test");
            let (a, b) = (Pin::of_spki(b"current"), Pin::of_spki(b"backup"));
            let lone = SetPins {
                pins: vec![a],
                current: None,
            };
            assert!(matches!(
                sets.put(&ctx, "api", &lone).await,
                Err(RecordError::Invalid(_))
            ));
            let no_backup = SetPins {
                pins: vec![a, b],
                current: Some(vec![a, b]),
            };
            assert!(matches!(
                sets.put(&ctx, "api", &no_backup).await,
                Err(RecordError::Invalid(_))
            ));
            let good = SetPins {
                pins: vec![a, b],
                current: Some(vec![a]),
            };
            sets.put(&ctx, "api", &good).await.unwrap();
            sets.put(&ctx, "api", &good).await.unwrap();
            assert_eq!(
                sets.get(&ctx, "api").await.unwrap().pins,
                vec![a, b],
                "{}",
                ts.label
            );
            sets.delete(&ctx, "api").await.unwrap();
            assert!(matches!(
                sets.get(&ctx, "api").await,
                Err(RecordError::NotFound(_))
            ));
        }
    }
}
