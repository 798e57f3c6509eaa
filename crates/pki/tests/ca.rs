//! The CA end to end through the library, on every configured store: a data folder made
//! by earlier versions (local CA = root), issuing, CSR signing, revocation, status.

use std::sync::Arc;
use std::time::Duration;
use webqx_audit::{AuditLog, RequestContext};
use webqx_kms::{InitMethod, Kms, KmsError};
use webqx_pki::ca::{
    Authority, CaError, CertStatus, IssueRequest, KeyAlgorithm, ListQuery, PkiSettings, Profile,
    RevocationReason, SignRequest,
};
use webqx_store::Store;
use webqx_testkit::test_stores;

/// A store initialized the way `webqx-sec` 0.1 did it: the local CA's key in `ca.key`.
pub async fn legacy_service(
    config: &webqx_store::StoreConfig,
) -> (Store, Arc<AuditLog>, Arc<Kms>, String) {
    let store = Store::open(config).await.unwrap();
    let audit = AuditLog::start(store.clone());
    let kms = Arc::new(Kms::new(store.clone(), audit.clone(), Default::default()));
    let ctx = RequestContext::internal("test");
    kms.initialize(&ctx, InitMethod::KeyFile).await.unwrap();
    let ca = legacy_local_ca();
    let rec = ctx.record("test.setup", None);
    audit
        .transact(rec, async |tx, _| {
            kms.put_secret(tx, "ca.key", &ca.key_pkcs8).await?;
            Ok::<_, KmsError>(())
        })
        .await
        .unwrap();
    (store, audit, kms, ca.cert_pem)
}

/// The local CA exactly as version 0.1 made it: pathLenConstraint 0.
fn legacy_local_ca() -> webqx_pki::Ca {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::default();
    params
        .distinguished_name
        .push(DnType::CommonName, "WebQx Security Local CA test");
    params
        .distinguished_name
        .push(DnType::OrganizationName, "WebQx Security");
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params.self_signed(&key).unwrap();
    webqx_pki::Ca {
        name: "WebQx Security Local CA test".into(),
        cert_pem: cert.pem(),
        key_pkcs8: webqx_crypto::SecretBytes::new(key.serialize_der()),
    }
}

pub fn issue_req(names: &[&str]) -> IssueRequest {
    IssueRequest {
        names: names.iter().map(|s| s.to_string()).collect(),
        profile: Profile::TlsServer,
        key: KeyAlgorithm::EcdsaP256,
        ttl: None,
        issuer: None,
        store_key: false,
        requester: "token:test".into(),
        source: "api".into(),
    }
}

#[tokio::test]
async fn issue_sign_revoke_status_get_list() {
    for t in test_stores() {
        let (store, audit, kms, root_pem) = legacy_service(&t.config).await;
        let pki = Authority::new(store, kms, audit, PkiSettings::default());
        pki.adopt_root(&root_pem).await.unwrap();
        let reissued = pki.ensure_ready().await.unwrap();
        assert!(
            reissued.is_some(),
            "{}: a pathlen-0 root is re-issued",
            t.label
        );
        assert_eq!(pki.cas().len(), 2);
        let ctx = RequestContext::internal("test");

        let mut req = issue_req(&["localhost", "127.0.0.1"]);
        req.store_key = true;
        let issued = pki.issue(&ctx, req).await.unwrap();
        assert_eq!(issued.serial.len(), 32);
        assert!(
            issued
                .key_pem
                .as_ref()
                .unwrap()
                .expose()
                .starts_with(b"-----BEGIN PRIVATE KEY")
        );
        assert!(issued.chain_pem.starts_with(&issued.cert_pem));
        assert!(!format!("{issued:?}").contains("PRIVATE"));
        // rustls accepts the chain under the root.
        let mut chain = issued.chain_pem.clone();
        chain.push_str(&pki.root_pem());
        webqx_pki::server_config(
            issued.chain_pem.as_bytes(),
            issued.key_pem.as_ref().unwrap().expose(),
            webqx_pki::TlsVersions::Tls13,
        )
        .unwrap();
        // The kept key comes back, the same, for whoever may read it (audited).
        let kept = pki.stored_key(&ctx, &issued.serial).await.unwrap();
        assert_eq!(kept.expose(), issued.key_pem.as_ref().unwrap().expose());

        for alg in [
            KeyAlgorithm::EcdsaP384,
            KeyAlgorithm::Ed25519,
            KeyAlgorithm::Rsa2048,
        ] {
            let mut r = issue_req(&["localhost"]);
            r.key = alg;
            let other = pki.issue(&ctx, r).await.unwrap();
            // Not kept: nothing to read back.
            assert!(matches!(
                pki.stored_key(&ctx, &other.serial).await,
                Err(CaError::Invalid(_))
            ));
        }

        let err = pki
            .issue(&ctx, issue_req(&["evil.example"]))
            .await
            .unwrap_err();
        assert!(matches!(err, CaError::NameNotAllowed { .. }), "{err}");
        let mut long = issue_req(&["localhost"]);
        long.ttl = Some(Duration::from_secs(400 * 86_400));
        assert!(matches!(
            pki.issue(&ctx, long).await.unwrap_err(),
            CaError::TtlTooLong { .. }
        ));

        // A CSR made with rcgen.
        let key = rcgen::KeyPair::generate().unwrap();
        let csr = rcgen::CertificateParams::new(vec!["localhost".to_string()])
            .unwrap()
            .serialize_request(&key)
            .unwrap();
        let sign = SignRequest {
            csr: csr.pem().unwrap().into_bytes(),
            profile: Profile::TlsClient,
            ttl: Some(Duration::from_secs(3600)),
            issuer: None,
            requester: "acme:account/1".into(),
            source: "acme".into(),
        };
        let signed = pki.sign_csr(&ctx, sign.clone()).await.unwrap();
        assert!(signed.key_pem.is_none());
        // CSRs with Ed25519 and RSA keys: the certificate carries the CSR's key.
        for key in [
            rcgen::KeyPair::generate_for(&rcgen::PKCS_ED25519).unwrap(),
            rcgen::KeyPair::generate_rsa_for(&rcgen::PKCS_RSA_SHA256, rcgen::RsaKeySize::_2048)
                .unwrap(),
        ] {
            let csr = rcgen::CertificateParams::new(vec!["localhost".to_string()])
                .unwrap()
                .serialize_request(&key)
                .unwrap();
            let mut r = sign.clone();
            r.csr = csr.der().to_vec();
            let cert = pki.sign_csr(&ctx, r).await.unwrap();
            let der = webqx_pki::certs_from_pem(cert.cert_pem.as_bytes()).unwrap();
            let (_, parsed) = x509_parser::parse_x509_certificate(der[0].as_ref()).unwrap();
            assert_eq!(
                parsed.public_key().subject_public_key.data.as_ref(),
                key.public_key_raw()
            );
        }
        let mut bad = sign.clone();
        bad.csr = b"garbage".to_vec();
        assert!(matches!(
            pki.sign_csr(&ctx, bad).await,
            Err(CaError::BadCsr(_))
        ));
        let mut tampered = sign.clone();
        let mut der = csr.der().to_vec();
        let n = der.len();
        der[n - 5] ^= 1;
        tampered.csr = der;
        assert!(matches!(
            pki.sign_csr(&ctx, tampered).await,
            Err(CaError::CsrSignature) | Err(CaError::BadCsr(_))
        ));

        assert_eq!(pki.status(&signed.serial).await.unwrap(), CertStatus::Good);
        assert_eq!(pki.status("00ff").await.unwrap(), CertStatus::Unknown);
        // removeFromCRL would leave it valid in the full CRL; holds cannot be released.
        for reason in [
            RevocationReason::RemoveFromCrl,
            RevocationReason::CertificateHold,
        ] {
            assert!(matches!(
                pki.revoke(&ctx, &signed.serial, reason).await,
                Err(CaError::Invalid(_))
            ));
        }
        assert_eq!(pki.status(&signed.serial).await.unwrap(), CertStatus::Good);
        // The root signs intermediates and its CRL only.
        let mut from_root = issue_req(&["localhost"]);
        from_root.issuer = Some("root".into());
        assert!(matches!(
            pki.issue(&ctx, from_root).await,
            Err(CaError::Invalid(_))
        ));
        pki.revoke(
            &ctx,
            &signed.serial.to_uppercase(),
            RevocationReason::KeyCompromise,
        )
        .await
        .unwrap();
        assert!(matches!(
            pki.status(&signed.serial).await.unwrap(),
            CertStatus::Revoked {
                reason: RevocationReason::KeyCompromise,
                ..
            }
        ));
        assert!(matches!(
            pki.revoke(&ctx, &signed.serial, RevocationReason::Superseded)
                .await,
            Err(CaError::AlreadyRevoked(_))
        ));
        let rec = pki.get(&signed.serial).await.unwrap().unwrap();
        assert_eq!(rec.profile, Profile::TlsClient);
        assert_eq!(rec.requester, "acme:account/1");
        assert_eq!(rec.names, vec!["localhost"]);

        let page = pki
            .list(&ListQuery {
                limit: Some(2),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(page.items.len(), 2);
        let mut seen = page.items.len();
        let mut next = page.next;
        while let Some(c) = next {
            let p = pki
                .list(&ListQuery {
                    limit: Some(2),
                    cursor: Some(c),
                    ..Default::default()
                })
                .await
                .unwrap();
            seen += p.items.len();
            next = p.next;
        }
        assert_eq!(seen, 7, "{}", t.label);

        // A batch: all issued and stored, each with its own audit record; one bad
        // request refuses the whole batch.
        let batch = pki
            .issue_batch(&ctx, (0..20).map(|_| issue_req(&["localhost"])).collect())
            .await
            .unwrap();
        assert_eq!(batch.len(), 20);
        assert!(batch.iter().all(|i| i.key_pem.is_some()));
        assert_eq!(
            pki.status(&batch[7].serial).await.unwrap(),
            CertStatus::Good
        );
        let bad = vec![issue_req(&["localhost"]), issue_req(&["evil.example"])];
        assert!(matches!(
            pki.issue_batch(&ctx, bad).await,
            Err(CaError::NameNotAllowed { .. })
        ));
        let all = pki
            .list(&ListQuery {
                limit: Some(1000),
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(all.items.len(), 27, "{}", t.label);

        // CRL: the revoked serial is in it; a rebuild bumps the number.
        let crl = pki.crl(None).await.unwrap();
        let (_, parsed) = x509_parser::parse_x509_crl(&crl.der).unwrap();
        let listed: Vec<String> = parsed
            .iter_revoked_certificates()
            .map(|r| hex::encode(r.raw_serial()))
            .collect();
        assert_eq!(listed, vec![signed.serial.clone()], "{}", t.label);
        let again = pki
            .rebuild_crl(&pki.default_issuer().unwrap())
            .await
            .unwrap();
        assert_eq!(again.number, crl.number + 1);
        assert!(crl.pem().starts_with("-----BEGIN X509 CRL-----"));
    }
}

/// Revoking an intermediate: refused for the root and the default; afterwards it issues
/// nothing, the root's CRL lists it (and keeps its CRL number rising), and what it
/// issued reports revoked (cACompromise) to mTLS and OCSP status.
#[tokio::test]
async fn an_intermediate_is_revoked_through_the_root_crl() {
    for t in test_stores() {
        let (store, audit, kms, root_pem) = legacy_service(&t.config).await;
        let pki = Authority::new(store, kms, audit, PkiSettings::default());
        pki.adopt_root(&root_pem).await.unwrap();
        pki.ensure_ready().await.unwrap();
        let ctx = RequestContext::internal("test");
        let before = pki.rebuild_crl("root").await.unwrap().number;

        let lab = pki.create_intermediate(&ctx, "lab", false).await.unwrap();
        let mut req = issue_req(&["localhost"]);
        req.issuer = Some("lab".into());
        let leaf = pki.issue(&ctx, req.clone()).await.unwrap();
        assert_eq!(pki.status(&leaf.serial).await.unwrap(), CertStatus::Good);

        let e = pki
            .revoke_ca(&ctx, "root", RevocationReason::KeyCompromise)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("root cannot be revoked"), "{e}");
        let default = pki.cas().into_iter().find(|c| c.is_default).unwrap();
        let e = pki
            .revoke_ca(&ctx, &default.name, RevocationReason::KeyCompromise)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("default issuing CA"), "{e}");
        let e = pki
            .revoke_ca(&ctx, "lab", RevocationReason::RemoveFromCrl)
            .await
            .unwrap_err();
        assert!(e.to_string().contains("permanent"), "{e}");

        let revoked = pki
            .revoke_ca(&ctx, "lab", RevocationReason::KeyCompromise)
            .await
            .unwrap();
        assert!(revoked.revoked.is_some(), "{}", t.label);
        assert_eq!(revoked.revocation_reason.as_deref(), Some("keyCompromise"));
        let again = pki
            .revoke_ca(&ctx, "lab", RevocationReason::KeyCompromise)
            .await;
        assert!(
            matches!(again, Err(CaError::AlreadyRevoked(_))),
            "{again:?}"
        );

        let e = pki.issue(&ctx, req).await.unwrap_err();
        assert!(e.to_string().contains("revoked"), "{e}");
        match pki.status(&leaf.serial).await.unwrap() {
            CertStatus::Revoked { reason, .. } => {
                assert_eq!(reason, RevocationReason::CaCompromise)
            }
            other => panic!("{}: {other:?}", t.label),
        }

        let shown = pki.get(&leaf.serial).await.unwrap().unwrap();
        assert!(
            matches!(shown.status, CertStatus::Revoked { .. }),
            "{}: cert show agrees with OCSP",
            t.label
        );
        let q = ListQuery {
            issuer: Some("lab".into()),
            revoked: Some(true),
            ..ListQuery::default()
        };
        assert_eq!(pki.list(&q).await.unwrap().items.len(), 1, "{}", t.label);
        let q = ListQuery {
            issuer: Some("lab".into()),
            revoked: Some(false),
            ..ListQuery::default()
        };
        assert!(pki.list(&q).await.unwrap().items.is_empty());

        let crl = pki.crl(Some("root")).await.unwrap();
        assert!(crl.number > before, "CRL numbers rise");
        let (_, parsed) = x509_parser::parse_x509_crl(&crl.der).unwrap();
        let listed: Vec<String> = parsed
            .iter_revoked_certificates()
            .map(|r| hex::encode(r.raw_serial()))
            .collect();
        assert_eq!(listed, vec![lab.serial.clone()], "{}", t.label);
        // The default intermediate still issues.
        pki.issue(&ctx, issue_req(&["localhost"])).await.unwrap();
    }
}

#[tokio::test]
async fn issue_each_refuses_bad_requests_alone_and_issues_the_rest() {
    for t in test_stores() {
        let (store, audit, kms, root_pem) = legacy_service(&t.config).await;
        let pki = Authority::new(store, kms, audit, PkiSettings::default());
        pki.adopt_root(&root_pem).await.unwrap();
        pki.ensure_ready().await.unwrap();
        let ctx = RequestContext::internal("test");
        let mut long = issue_req(&["localhost"]);
        long.ttl = Some(Duration::from_secs(3650 * 86_400));
        let mut unknown_ca = issue_req(&["localhost"]);
        unknown_ca.issuer = Some("no-such-ca".into());
        let reqs = vec![
            (0, issue_req(&["localhost"])),
            (1, issue_req(&["evil.example"])),
            (2, long),
            (3, unknown_ca),
            (4, issue_req(&["127.0.0.1"])),
        ];
        let out = pki.issue_each(&ctx, reqs).await.unwrap();
        assert_eq!(out.len(), 5, "{}", t.label);
        assert!(matches!(out[1], Err(CaError::NameNotAllowed { .. })));
        assert!(matches!(out[2], Err(CaError::TtlTooLong { .. })));
        assert!(matches!(out[3], Err(CaError::CaNotFound(_))));
        for i in [0, 4] {
            let issued = out[i].as_ref().unwrap();
            assert!(issued.key_pem.is_some());
            assert_eq!(
                pki.status(&issued.serial).await.unwrap(),
                CertStatus::Good,
                "{}",
                t.label
            );
        }

        // Only refusals: nothing issued, each refusal answered.
        let out = pki
            .issue_each(&ctx, vec![(9, issue_req(&["evil.example"]))])
            .await
            .unwrap();
        assert!(matches!(out[..], [Err(CaError::NameNotAllowed { .. })]));
        let all = pki.list(&ListQuery::default()).await.unwrap();
        assert_eq!(all.items.len(), 2, "{}", t.label);

        // Empty and oversized batches are refused whole.
        assert!(matches!(
            pki.issue_each(&ctx, Vec::new()).await,
            Err(CaError::Invalid(m)) if m.contains("empty")
        ));
        let many = (0..=webqx_pki::ca::MAX_BATCH)
            .map(|i| (i, issue_req(&["localhost"])))
            .collect();
        assert!(matches!(
            pki.issue_each(&ctx, many).await,
            Err(CaError::Invalid(m)) if m.contains("at most 10000")
        ));
    }
}

/// Nothing outlives its issuer, and a certificate has at most 100 names.
#[tokio::test]
async fn leaves_end_with_their_issuer_and_name_lists_are_bounded() {
    for t in test_stores() {
        let (store, audit, kms, root_pem) = legacy_service(&t.config).await;
        let settings = PkiSettings {
            intermediate_ttl: Duration::from_secs(20 * 86_400),
            ..PkiSettings::default()
        };
        let pki = Authority::new(store, kms, audit, settings);
        pki.adopt_root(&root_pem).await.unwrap();
        pki.ensure_ready().await.unwrap();
        let ctx = RequestContext::internal("test");
        let issuing = pki.cas().into_iter().find(|c| c.is_default).unwrap();
        let leaf = pki.issue(&ctx, issue_req(&["localhost"])).await.unwrap();
        assert!(
            leaf.not_after <= issuing.not_after,
            "{}: {} outlives {}",
            t.label,
            leaf.not_after,
            issuing.not_after
        );

        let many: Vec<String> = (0..101).map(|i| format!("n{i}.localhost")).collect();
        let mut req = issue_req(&[]);
        req.names = many;
        let e = pki.issue(&ctx, req).await.unwrap_err();
        assert!(e.to_string().contains("at most 100"), "{e}");
    }
}
