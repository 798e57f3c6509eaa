//! What every handler shares.

use crate::config::Config;
use std::sync::Arc;
use webqx_audit::AuditLog;
use webqx_kms::Kms;
use webqx_kms::fhir::Policy;
use webqx_store::Store;
use webqx_tokens::Tokens;

/// Shared state of the API.
#[derive(Clone)]
pub struct AppState {
    /// Store.
    pub store: Store,
    /// Audit trail.
    pub audit: Arc<AuditLog>,
    /// Key service.
    pub kms: Arc<Kms>,
    /// Tokens.
    pub tokens: Arc<Tokens>,
    /// FHIR protection policy.
    pub policy: Arc<Policy>,
    /// Configuration.
    pub config: Arc<Config>,
    /// Prometheus renderer.
    pub metrics: metrics_exporter_prometheus::PrometheusHandle,
    /// The ACME server, when `[acme] enabled`.
    pub acme: Option<webqx_pki::acme::Acme>,
    /// SIEM sinks, when configured.
    pub sinks: Option<Arc<webqx_siem::sink::Sinks>>,
    /// The certificate authority.
    pub pki: webqx_pki::ca::Authority,
    /// The OAuth authorization server, when `[oauth] enabled`.
    pub oauth: Option<Arc<crate::oauth::OAuthService>>,
    /// The monitoring pipeline, when `[monitor] enabled`.
    pub monitor: Option<crate::monitor::Monitor>,
}
