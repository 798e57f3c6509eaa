//! Builds the ACME service from `[acme]` over the store and the CA.

use crate::config::AcmeSection;
use std::collections::BTreeMap;
use webqx_pki::acme::{Acme, CaIssuer, Http01, Settings};
use webqx_pki::ca::{Authority, Profile};
use webqx_store::Store;
use webqx_store::time::parse_duration;

/// The ACME service, or `None` when `[acme]` is not enabled.
///
/// # Errors
/// A message naming the `[acme]` key that does not parse (`config check` catches these
/// first).
pub fn build(
    section: &AcmeSection,
    store: &Store,
    pki: &Authority,
) -> Result<Option<Acme>, String> {
    if !section.enabled {
        return Ok(None);
    }
    let duration =
        |key: &str, text: &str| parse_duration(text).map_err(|e| format!("[acme] {key}: {e}"));
    let mut resolve = BTreeMap::new();
    for (name, ip) in &section.resolve {
        let ip = ip
            .parse()
            .map_err(|_| format!("[acme] resolve: '{ip}' is not an IP address"))?;
        resolve.insert(name.to_ascii_lowercase(), ip);
    }
    let settings = Settings {
        http01: Http01 {
            port: section.http01_port,
            resolve,
            timeout: duration("validation_timeout", &section.validation_timeout)?,
        },
        order_lifetime: duration("order_lifetime", &section.order_lifetime)?,
        nonce_lifetime: duration("nonce_lifetime", &section.nonce_lifetime)?,
        terms_of_service: section.terms_of_service.clone(),
    };
    let profile: Profile = section
        .profile
        .parse()
        .map_err(|_| format!("[acme] profile: '{}' is not a profile", section.profile))?;
    let ttl = section
        .cert_ttl
        .as_deref()
        .map(|t| duration("cert_ttl", t))
        .transpose()?;
    let issuer = CaIssuer::new(pki.clone(), profile, section.issuer.clone(), ttl);
    Ok(Some(Acme::new(
        store.clone(),
        settings,
        std::sync::Arc::new(issuer),
    )))
}
