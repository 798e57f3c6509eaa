//! Shared set-up for the key service's behaviour tests.
#![allow(dead_code)]

use std::time::Duration;
use webqx_audit::{AuditLog, RequestContext};
use webqx_kms::{CreateKey, InitMethod, KeyType, Kms, KmsSettings, Plain};
use webqx_store::{Store, StoreConfig};

pub struct Env {
    pub store: Store,
    pub kms: Kms,
    pub ctx: RequestContext,
    pub label: &'static str,
}

pub fn settings() -> KmsSettings {
    KmsSettings {
        min_deletion_wait: Duration::ZERO,
        ..KmsSettings::default()
    }
}

/// A key service initialized with a key file, unsealed.
pub async fn unsealed(config: &StoreConfig, label: &'static str) -> Env {
    let store = Store::open(config).await.expect("store opens");
    let audit = AuditLog::start(store.clone());
    let kms = Kms::new(store.clone(), audit, settings());
    let ctx = RequestContext::internal("test");
    kms.initialize(&ctx, InitMethod::KeyFile)
        .await
        .expect("init");
    Env {
        store,
        kms,
        ctx,
        label,
    }
}

pub fn new_key(name: &str, key_type: KeyType) -> CreateKey {
    CreateKey {
        name: name.into(),
        key_type,
        ..CreateKey::default()
    }
}

pub fn plain(text: &str, context: &str) -> Plain {
    Plain {
        plaintext: webqx_crypto::SecretBytes::from_slice(text.as_bytes()),
        context: context.as_bytes().to_vec(),
    }
}

impl Env {
    pub async fn encrypt1(&self, key: &str, text: &str, context: &str) -> String {
        let out = self
            .kms
            .encrypt(&self.ctx, key, &[plain(text, context)], None)
            .await
            .expect("encrypt");
        out.into_iter().next().unwrap().expect("item").ciphertext
    }

    pub async fn decrypt1(
        &self,
        key: &str,
        ct: &str,
        context: &str,
    ) -> Result<String, webqx_kms::KmsError> {
        let out = self
            .kms
            .decrypt(
                &self.ctx,
                key,
                &[(ct.to_owned(), context.as_bytes().to_vec())],
            )
            .await?;
        let opened = out.into_iter().next().unwrap()?;
        Ok(String::from_utf8(opened.plaintext.expose().to_vec()).unwrap())
    }

    pub async fn audit_ok(&self) {
        let report = webqx_audit::verify(&self.store).await.unwrap();
        assert!(
            report.ok(),
            "{}: audit chain broken: {report:?}",
            self.label
        );
    }
}
