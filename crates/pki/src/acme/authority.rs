//! The CA behind ACME: [`CaIssuer`] signs finalized orders with
//! [`Authority::sign_csr`] (source `acme`, the account as requester) and revokes with
//! [`Authority::revoke`]; both audit with the ACME account as the actor.

use super::{AcmeError, BoxFuture, IssuedChain, Issuer};
use crate::ca::names::{Name, allowed};
use crate::ca::{Authority, CaError, Profile, RevocationReason, SignRequest};
use std::time::Duration;
use webqx_audit::RequestContext;

/// [`Issuer`] over the service's CA.
#[derive(Clone)]
pub struct CaIssuer {
    authority: Authority,
    profile: Profile,
    issuer: Option<String>,
    ttl: Option<Duration>,
}

impl CaIssuer {
    /// Issues under `profile` from intermediate `issuer` (`None`: the default), with
    /// lifetime `ttl` (`None`: the profile's default).
    pub fn new(
        authority: Authority,
        profile: Profile,
        issuer: Option<String>,
        ttl: Option<Duration>,
    ) -> CaIssuer {
        CaIssuer {
            authority,
            profile,
            issuer,
            ttl,
        }
    }
}

fn from_ca(e: CaError) -> AcmeError {
    match e {
        CaError::AlreadyRevoked(_) => AcmeError::AlreadyRevoked,
        e if e.is_client_error() => AcmeError::BadCsr(e.to_string()),
        e => AcmeError::ServerInternal(format!("CA: {e}")),
    }
}

impl Issuer for CaIssuer {
    fn check_names<'a>(&'a self, names: &'a [String]) -> Result<(), String> {
        let rules = self
            .authority
            .settings()
            .profile(self.profile)
            .allowed_domains;
        for text in names {
            let name = Name::parse(text).map_err(|e| e.to_string())?;
            if !allowed(&name, &rules) {
                return Err(format!(
                    "{text} is outside the domains the {} profile allows; the operator can \
                     add it to [pki.{}] allowed_domains",
                    self.profile, self.profile
                ));
            }
        }
        Ok(())
    }

    fn sign<'a>(
        &'a self,
        ctx: &'a RequestContext,
        csr_der: &'a [u8],
    ) -> BoxFuture<'a, Result<IssuedChain, AcmeError>> {
        Box::pin(async move {
            let req = SignRequest {
                csr: csr_der.to_vec(),
                profile: self.profile,
                ttl: self.ttl,
                issuer: self.issuer.clone(),
                requester: ctx.actor.clone(),
                source: "acme".into(),
            };
            let issued = self.authority.sign_csr(ctx, req).await.map_err(from_ca)?;
            Ok(IssuedChain {
                serial: issued.serial,
                chain_pem: issued.chain_pem,
            })
        })
    }

    fn revoke<'a>(
        &'a self,
        ctx: &'a RequestContext,
        serial: &'a str,
        reason: u8,
    ) -> BoxFuture<'a, Result<(), AcmeError>> {
        Box::pin(async move {
            let reason = RevocationReason::from_code(i64::from(reason)).ok_or_else(|| {
                AcmeError::BadRevocationReason(format!("{reason} is not a CRLReason code"))
            })?;
            self.authority
                .revoke(ctx, serial, reason)
                .await
                .map_err(from_ca)
        })
    }
}
