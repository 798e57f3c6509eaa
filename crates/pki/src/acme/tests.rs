//! Protocol tests: a client written here (ES256 and RS256 keys from aws-lc-rs, CSRs
//! from rcgen) against [`Acme`] over a SQLite store, a throwaway CA, and an http-01
//! responder on loopback. Bad JWS of every kind must be refused with the right type.

use super::*;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{self as sig, EcdsaKeyPair, KeyPair as _};
use rcgen::{CertificateParams, CertificateSigningRequestParams, KeyPair};
use std::collections::BTreeMap;
use std::sync::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use webqx_store::StoreConfig;

const BASE: &str = "https://acme.test:8443";

struct TestIssuer {
    issuer: rcgen::Issuer<'static, KeyPair>,
    ca_pem: String,
    revoked: Mutex<Vec<(String, u8)>>,
}

impl TestIssuer {
    fn new() -> TestIssuer {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        let ca_pem = params.self_signed(&key).unwrap().pem();
        TestIssuer {
            issuer: rcgen::Issuer::new(params, key),
            ca_pem,
            revoked: Mutex::default(),
        }
    }
}

impl Issuer for TestIssuer {
    fn check_names<'a>(&'a self, names: &'a [String]) -> Result<(), String> {
        match names.iter().find(|n| !n.ends_with(".test")) {
            Some(n) => Err(format!("{n} is outside the allowed domains (.test)")),
            None => Ok(()),
        }
    }

    fn sign<'a>(
        &'a self,
        _ctx: &'a RequestContext,
        csr_der: &'a [u8],
    ) -> BoxFuture<'a, Result<IssuedChain, AcmeError>> {
        Box::pin(async move {
            let der = rustls_pki_types::CertificateSigningRequestDer::from(csr_der.to_vec());
            let params = CertificateSigningRequestParams::from_der(&der)
                .map_err(|e| AcmeError::BadCsr(e.to_string()))?;
            let cert = params.signed_by(&self.issuer).unwrap();
            let serial = format!("{:x}", self.revoked.lock().unwrap().len() + 1000);
            Ok(IssuedChain {
                serial,
                chain_pem: format!("{}{}", cert.pem(), self.ca_pem),
            })
        })
    }

    fn revoke<'a>(
        &'a self,
        _ctx: &'a RequestContext,
        serial: &'a str,
        reason: u8,
    ) -> BoxFuture<'a, Result<(), AcmeError>> {
        Box::pin(async move {
            self.revoked
                .lock()
                .unwrap()
                .push((serial.to_owned(), reason));
            Ok(())
        })
    }
}

enum Key {
    Ec(EcdsaKeyPair),
    Rsa(sig::RsaKeyPair),
}

struct Client {
    key: Key,
    kid: Option<String>,
}

impl Client {
    fn es256() -> Client {
        let key = EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        Client {
            key: Key::Ec(key),
            kid: None,
        }
    }

    fn rs256() -> Client {
        let key = sig::RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).unwrap();
        Client {
            key: Key::Rsa(key),
            kid: None,
        }
    }

    fn jwk(&self) -> Value {
        match &self.key {
            Key::Ec(k) => {
                let point = k.public_key().as_ref();
                json!({"kty": "EC", "crv": "P-256", "x": jws::b64url(&point[1..33]),
                    "y": jws::b64url(&point[33..])})
            }
            Key::Rsa(k) => {
                let c = aws_lc_rs::rsa::PublicKeyComponents::<Vec<u8>>::from(k.public_key());
                json!({"kty": "RSA", "n": jws::b64url(&c.n), "e": jws::b64url(&c.e)})
            }
        }
    }

    fn alg(&self) -> &'static str {
        match self.key {
            Key::Ec(_) => "ES256",
            Key::Rsa(_) => "RS256",
        }
    }

    fn sign(&self, input: &[u8]) -> Vec<u8> {
        let rng = SystemRandom::new();
        match &self.key {
            Key::Ec(k) => k.sign(&rng, input).unwrap().as_ref().to_vec(),
            Key::Rsa(k) => {
                let mut out = vec![0; k.public_modulus_len()];
                k.sign(&sig::RSA_PKCS1_SHA256, &rng, input, &mut out)
                    .unwrap();
                out
            }
        }
    }

    /// A JWS with header fields overridable for the bad-input tests.
    fn jws_with(&self, header: Value, payload: Option<&Value>) -> Vec<u8> {
        let protected = jws::b64url(header.to_string().as_bytes());
        let payload = payload.map_or(String::new(), |p| jws::b64url(p.to_string().as_bytes()));
        let signature = self.sign(format!("{protected}.{payload}").as_bytes());
        json!({"protected": protected, "payload": payload, "signature": jws::b64url(&signature)})
            .to_string()
            .into_bytes()
    }

    fn header(&self, url: &str, nonce: &str) -> Value {
        let mut h = json!({"alg": self.alg(), "nonce": nonce, "url": url});
        match &self.kid {
            Some(kid) => h["kid"] = json!(kid),
            None => h["jwk"] = self.jwk(),
        }
        h
    }
}

struct Harness {
    acme: Acme,
    issuer: Arc<TestIssuer>,
    answer: Arc<Mutex<String>>,
    ctx: RequestContext,
}

async fn responder(answer: Arc<Mutex<String>>) -> u16 {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            let mut buf = [0u8; 2048];
            let _ = s.read(&mut buf).await;
            let body = answer.lock().unwrap().clone();
            let reply = format!(
                "HTTP/1.0 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            );
            let _ = s.write_all(reply.as_bytes()).await;
        }
    });
    port
}

/// A harness over `config` (SQLite, and PostgreSQL when `WEBQX_TEST_POSTGRES` is set).
async fn harness(config: &StoreConfig) -> Harness {
    harness_with(config, Duration::from_secs(3600)).await
}

async fn harness_with(config: &StoreConfig, order_lifetime: Duration) -> Harness {
    let store = Store::open(config).await.unwrap();
    let answer = Arc::new(Mutex::new(String::new()));
    let port = responder(answer.clone()).await;
    let resolve: BTreeMap<String, std::net::IpAddr> = ["a.test", "b.test"]
        .iter()
        .map(|n| ((*n).to_owned(), [127, 0, 0, 1].into()))
        .collect();
    let settings = Settings {
        http01: Http01 {
            port,
            resolve,
            timeout: Duration::from_secs(3),
        },
        order_lifetime,
        nonce_lifetime: Duration::from_secs(3600),
        terms_of_service: None,
    };
    let issuer = Arc::new(TestIssuer::new());
    Harness {
        acme: Acme::new(store, settings, issuer.clone()),
        issuer,
        answer,
        ctx: RequestContext::internal("test"),
    }
}

impl Harness {
    async fn send(
        &self,
        c: &Client,
        ep: &Endpoint,
        payload: Option<&Value>,
    ) -> Result<Reply, AcmeError> {
        let nonce = self.acme.new_nonce().await.unwrap();
        let body = c.jws_with(c.header(&format!("{BASE}{}", ep.path()), &nonce), payload);
        self.acme.post(BASE, ep, &body, &self.ctx).await
    }

    async fn register(&self, c: &mut Client) {
        let r = self
            .send(
                c,
                &Endpoint::NewAccount,
                Some(&json!({"termsOfServiceAgreed": true})),
            )
            .await
            .unwrap();
        assert_eq!(r.status, 201);
        c.kid = r.location;
    }

    /// Orders `names` and answers the challenges correctly; returns the order id.
    async fn ready_order(&self, c: &Client, names: &[&str]) -> String {
        let ids: Vec<Value> = names
            .iter()
            .map(|n| json!({"type": "dns", "value": n}))
            .collect();
        let r = self
            .send(c, &Endpoint::NewOrder, Some(&json!({"identifiers": ids})))
            .await
            .unwrap();
        assert_eq!(r.status, 201);
        let order_id = last_segment(r.location.as_deref().unwrap());
        for authz_url in json_of(&r)["authorizations"].as_array().unwrap() {
            let authz = self
                .send(
                    c,
                    &Endpoint::Authz(last_segment(authz_url.as_str().unwrap())),
                    None,
                )
                .await
                .unwrap();
            let chall = &json_of(&authz)["challenges"][0];
            assert_eq!(chall["type"], "http-01");
            let thumb = Jwk::from_json(&c.jwk()).unwrap().thumbprint();
            *self.answer.lock().unwrap() = format!("{}.{thumb}", chall["token"].as_str().unwrap());
            let url = chall["url"].as_str().unwrap();
            let done = self
                .send(c, &Endpoint::Challenge(last_segment(url)), Some(&json!({})))
                .await
                .unwrap();
            assert_eq!(json_of(&done)["status"], "valid", "{:?}", json_of(&done));
        }
        order_id
    }

    async fn finalize(&self, c: &Client, order: &str, names: &[&str]) -> Result<Reply, AcmeError> {
        let key = KeyPair::generate().unwrap();
        let names: Vec<String> = names.iter().map(|n| (*n).to_owned()).collect();
        let csr = csr_params(names).serialize_request(&key).unwrap();
        let payload = json!({"csr": jws::b64url(csr.der())});
        self.send(c, &Endpoint::Finalize(order.to_owned()), Some(&payload))
            .await
    }
}

/// CSR parameters naming `names` only (rcgen's default subject has a common name that
/// is not a DNS name).
fn csr_params(names: Vec<String>) -> CertificateParams {
    let mut params = CertificateParams::new(names).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params
}

fn last_segment(url: &str) -> String {
    url.rsplit('/').next().unwrap().to_owned()
}

fn json_of(r: &Reply) -> &Value {
    match &r.body {
        Body::Json(v) => v,
        other => panic!("not JSON: {other:?}"),
    }
}

#[tokio::test]
async fn an_rs256_account_orders_validates_finalizes_downloads_and_revokes() {
    for ts in webqx_testkit::test_stores() {
        let h = harness(&ts.config).await;
        eprintln!("store: {}", ts.label);
        let mut c = Client::rs256();
        h.register(&mut c).await;
        let order = h.ready_order(&c, &["a.test", "b.test"]).await;
        let r = h
            .send(&c, &Endpoint::Order(order.clone()), None)
            .await
            .unwrap();
        assert_eq!(json_of(&r)["status"], "ready");

        let r = h.finalize(&c, &order, &["b.test", "a.test"]).await.unwrap();
        assert_eq!(json_of(&r)["status"], "valid");
        let cert_url = json_of(&r)["certificate"].as_str().unwrap().to_owned();
        let r = h
            .send(&c, &Endpoint::Cert(last_segment(&cert_url)), None)
            .await
            .unwrap();
        let Body::PemChain(chain) = r.body else {
            panic!("not a PEM chain")
        };
        assert_eq!(chain.matches("BEGIN CERTIFICATE").count(), 2);
        assert_eq!(
            r.actor.as_deref(),
            Some(&*format!(
                "acme:account/{}",
                last_segment(c.kid.as_deref().unwrap())
            ))
        );

        let leaf = x509::leaf_der(&chain).unwrap();
        let revoke = json!({"certificate": jws::b64url(&leaf), "reason": 4});
        h.send(&c, &Endpoint::RevokeCert, Some(&revoke))
            .await
            .unwrap();
        assert_eq!(h.issuer.revoked.lock().unwrap()[0].1, 4);
        let again = h
            .send(&c, &Endpoint::RevokeCert, Some(&revoke))
            .await
            .unwrap_err();
        assert_eq!(again.acme_type(), "alreadyRevoked");
    }
}

#[tokio::test]
async fn an_existing_account_is_found_by_its_key_and_only_return_existing_works() {
    for ts in webqx_testkit::test_stores() {
        let h = harness(&ts.config).await;
        eprintln!("store: {}", ts.label);
        let mut c = Client::es256();
        let only = json!({"onlyReturnExisting": true});
        let e = h
            .send(&c, &Endpoint::NewAccount, Some(&only))
            .await
            .unwrap_err();
        assert_eq!(e.acme_type(), "accountDoesNotExist");
        h.register(&mut c).await;
        let kid = c.kid.take();
        let r = h
            .send(&c, &Endpoint::NewAccount, Some(&only))
            .await
            .unwrap();
        assert_eq!((r.status, r.location), (200, kid.clone()));

        c.kid = kid;
        let id = last_segment(c.kid.as_deref().unwrap());
        let update = json!({"contact": ["mailto:ops@ehr.test"]});
        let r = h
            .send(&c, &Endpoint::Account(id.clone()), Some(&update))
            .await
            .unwrap();
        assert_eq!(json_of(&r)["contact"][0], "mailto:ops@ehr.test");
        let bad = json!({"contact": ["tel:+1555"]});
        assert!(
            h.send(&c, &Endpoint::Account(id.clone()), Some(&bad))
                .await
                .is_err()
        );
        let deactivate = json!({"status": "deactivated"});
        h.send(&c, &Endpoint::Account(id.clone()), Some(&deactivate))
            .await
            .unwrap();
        let e = h
            .send(
                &c,
                &Endpoint::NewOrder,
                Some(&json!({"identifiers": [
        {"type": "dns", "value": "a.test"}]})),
            )
            .await
            .unwrap_err();
        assert_eq!(e.acme_type(), "unauthorized");
        c.kid = None;
        let e = h
            .send(&c, &Endpoint::NewAccount, Some(&only))
            .await
            .unwrap_err();
        assert_eq!(
            e.acme_type(),
            "unauthorized",
            "a deactivated account stays closed"
        );
    }
}

#[tokio::test]
async fn an_unknown_or_replayed_nonce_is_a_bad_nonce() {
    for ts in webqx_testkit::test_stores() {
        let h = harness(&ts.config).await;
        eprintln!("store: {}", ts.label);
        let c = Client::es256();
        let url = format!("{BASE}/acme/new-account");
        let body = c.jws_with(c.header(&url, "never-issued"), Some(&json!({})));
        let e = h
            .acme
            .post(BASE, &Endpoint::NewAccount, &body, &h.ctx)
            .await
            .unwrap_err();
        assert_eq!((e.acme_type(), e.status()), ("badNonce", 400));

        let nonce = h.acme.new_nonce().await.unwrap();
        let body = c.jws_with(c.header(&url, &nonce), Some(&json!({})));
        h.acme
            .post(BASE, &Endpoint::NewAccount, &body, &h.ctx)
            .await
            .unwrap();
        let e = h
            .acme
            .post(BASE, &Endpoint::NewAccount, &body, &h.ctx)
            .await
            .unwrap_err();
        assert_eq!(e.acme_type(), "badNonce");
    }
}

#[tokio::test]
async fn a_bad_signature_alg_none_and_a_wrong_url_are_refused() {
    for ts in webqx_testkit::test_stores() {
        let h = harness(&ts.config).await;
        eprintln!("store: {}", ts.label);
        let c = Client::es256();
        let url = format!("{BASE}/acme/new-account");

        let nonce = h.acme.new_nonce().await.unwrap();
        let mut body: Value =
            serde_json::from_slice(&c.jws_with(c.header(&url, &nonce), Some(&json!({})))).unwrap();
        body["signature"] = json!(jws::b64url(&[7u8; 64]));
        let body = body.to_string();
        let e = h
            .acme
            .post(BASE, &Endpoint::NewAccount, body.as_bytes(), &h.ctx);
        assert_eq!(e.await.unwrap_err().acme_type(), "malformed");

        let nonce = h.acme.new_nonce().await.unwrap();
        let mut header = c.header(&url, &nonce);
        header["alg"] = json!("none");
        let body = c.jws_with(header, Some(&json!({})));
        let e = h
            .acme
            .post(BASE, &Endpoint::NewAccount, &body, &h.ctx)
            .await
            .unwrap_err();
        assert_eq!(e.acme_type(), "badSignatureAlgorithm");

        let nonce = h.acme.new_nonce().await.unwrap();
        let mut header = c.header(&url, &nonce);
        header["alg"] = json!("RS256");
        let body = c.jws_with(header, Some(&json!({})));
        let e = h
            .acme
            .post(BASE, &Endpoint::NewAccount, &body, &h.ctx)
            .await
            .unwrap_err();
        assert_eq!(
            e.acme_type(),
            "badSignatureAlgorithm",
            "alg must fit the key"
        );

        let nonce = h.acme.new_nonce().await.unwrap();
        let body = c.jws_with(
            c.header(&format!("{BASE}/acme/new-order"), &nonce),
            Some(&json!({})),
        );
        let e = h
            .acme
            .post(BASE, &Endpoint::NewAccount, &body, &h.ctx)
            .await
            .unwrap_err();
        assert_eq!((e.acme_type(), e.status()), ("unauthorized", 403));

        for junk in [
            &b""[..],
            b"{}",
            b"[1]",
            b"{\"protected\":\"!\",\"payload\":\"\",\"signature\":\"\"}",
        ] {
            let e = h
                .acme
                .post(BASE, &Endpoint::NewAccount, junk, &h.ctx)
                .await
                .unwrap_err();
            assert_eq!(e.acme_type(), "malformed");
        }
    }
}

#[tokio::test]
async fn another_accounts_kid_or_objects_are_refused() {
    for ts in webqx_testkit::test_stores() {
        let h = harness(&ts.config).await;
        eprintln!("store: {}", ts.label);
        let mut alice = Client::es256();
        let mut mallory = Client::es256();
        h.register(&mut alice).await;
        h.register(&mut mallory).await;
        let order = h.ready_order(&alice, &["a.test"]).await;

        // Mallory's own kid, Alice's order: refused.
        let e = h
            .send(&mallory, &Endpoint::Order(order.clone()), None)
            .await
            .unwrap_err();
        assert_eq!(e.acme_type(), "unauthorized");
        let e = h.finalize(&mallory, &order, &["a.test"]).await.unwrap_err();
        assert_eq!(e.acme_type(), "unauthorized");
        // Alice's kid, signed with Mallory's key: the signature does not verify.
        let forged = Client {
            key: std::mem::replace(
                &mut mallory.key,
                Key::Ec(EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap()),
            ),
            kid: alice.kid.clone(),
        };
        let e = h
            .send(&forged, &Endpoint::Order(order.clone()), None)
            .await
            .unwrap_err();
        assert_eq!(e.acme_type(), "malformed");
        // An account URL of another server, or none at all.
        let ghost = Client {
            kid: Some(format!("{BASE}/acme/acct/nobody")),
            ..Client::es256()
        };
        let e = h
            .send(&ghost, &Endpoint::Order(order), None)
            .await
            .unwrap_err();
        assert_eq!(e.acme_type(), "accountDoesNotExist");
        let _ = &mut alice;
    }
}

#[tokio::test]
async fn a_csr_whose_names_differ_from_the_order_is_a_bad_csr() {
    for ts in webqx_testkit::test_stores() {
        let h = harness(&ts.config).await;
        eprintln!("store: {}", ts.label);
        let mut c = Client::es256();
        h.register(&mut c).await;
        let order = h.ready_order(&c, &["a.test", "b.test"]).await;
        let e = h.finalize(&c, &order, &["a.test"]).await.unwrap_err();
        assert_eq!(e.acme_type(), "badCSR");
        let e = h
            .finalize(&c, &order, &["a.test", "b.test", "c.test"])
            .await
            .unwrap_err();
        assert_eq!(e.acme_type(), "badCSR");
        // The order is still ready: the right CSR goes through.
        h.finalize(&c, &order, &["a.test", "b.test"]).await.unwrap();
        let e = h
            .finalize(&c, &order, &["a.test", "b.test"])
            .await
            .unwrap_err();
        assert_eq!(e.acme_type(), "orderNotReady");
    }
}

#[tokio::test]
async fn a_wrong_token_file_fails_validation_and_the_order() {
    for ts in webqx_testkit::test_stores() {
        let h = harness(&ts.config).await;
        eprintln!("store: {}", ts.label);
        let mut c = Client::es256();
        h.register(&mut c).await;
        let ids = json!({"identifiers": [{"type": "dns", "value": "a.test"}]});
        let r = h.send(&c, &Endpoint::NewOrder, Some(&ids)).await.unwrap();
        let order = last_segment(r.location.as_deref().unwrap());
        let authz_url = json_of(&r)["authorizations"][0]
            .as_str()
            .unwrap()
            .to_owned();
        let authz = h
            .send(&c, &Endpoint::Authz(last_segment(&authz_url)), None)
            .await
            .unwrap();
        let chall = json_of(&authz)["challenges"][0]["url"]
            .as_str()
            .unwrap()
            .to_owned();
        *h.answer.lock().unwrap() = "not-the-key-authorization".into();
        let r = h
            .send(
                &c,
                &Endpoint::Challenge(last_segment(&chall)),
                Some(&json!({})),
            )
            .await
            .unwrap();
        assert_eq!(json_of(&r)["status"], "invalid");
        assert_eq!(
            json_of(&r)["error"]["type"],
            "urn:ietf:params:acme:error:incorrectResponse"
        );
        let r = h
            .send(&c, &Endpoint::Order(order.clone()), None)
            .await
            .unwrap();
        assert_eq!(json_of(&r)["status"], "invalid");
        let e = h.finalize(&c, &order, &["a.test"]).await.unwrap_err();
        assert_eq!(e.acme_type(), "orderNotReady");
    }
}

#[tokio::test]
async fn identifiers_outside_the_profile_or_not_dns_are_refused() {
    for ts in webqx_testkit::test_stores() {
        let h = harness(&ts.config).await;
        eprintln!("store: {}", ts.label);
        let mut c = Client::es256();
        h.register(&mut c).await;
        for (kind, value, expected) in [
            ("dns", "ehr.example.com", "rejectedIdentifier"),
            ("dns", "*.a.test", "rejectedIdentifier"),
            ("dns", "127.0.0.1", "rejectedIdentifier"),
            ("ip", "127.0.0.1", "unsupportedIdentifier"),
        ] {
            let ids = json!({"identifiers": [{"type": kind, "value": value}]});
            let e = h
                .send(&c, &Endpoint::NewOrder, Some(&ids))
                .await
                .unwrap_err();
            assert_eq!(e.acme_type(), expected, "{value}");
        }
    }
}

#[tokio::test]
async fn revocation_by_the_certificate_key_works_and_by_a_stranger_does_not() {
    for ts in webqx_testkit::test_stores() {
        let h = harness(&ts.config).await;
        eprintln!("store: {}", ts.label);
        let mut c = Client::es256();
        h.register(&mut c).await;
        let order = h.ready_order(&c, &["a.test"]).await;
        let cert_key = EcdsaKeyPair::generate(&sig::ECDSA_P256_SHA256_FIXED_SIGNING).unwrap();
        let pkcs8 = cert_key.to_pkcs8v1().unwrap();
        let rc_key = KeyPair::try_from(pkcs8.as_ref()).unwrap();
        let csr = csr_params(vec!["a.test".to_owned()])
            .serialize_request(&rc_key)
            .unwrap();
        let payload = json!({"csr": jws::b64url(csr.der())});
        let r = h
            .send(&c, &Endpoint::Finalize(order), Some(&payload))
            .await
            .unwrap();
        let cert_url = json_of(&r)["certificate"].as_str().unwrap().to_owned();
        let r = h
            .send(&c, &Endpoint::Cert(last_segment(&cert_url)), None)
            .await
            .unwrap();
        let Body::PemChain(chain) = r.body else {
            panic!("not a PEM chain")
        };
        let revoke = json!({"certificate": jws::b64url(&x509::leaf_der(&chain).unwrap())});

        let mut stranger = Client::es256();
        h.register(&mut stranger).await;
        let e = h
            .send(&stranger, &Endpoint::RevokeCert, Some(&revoke))
            .await
            .unwrap_err();
        assert_eq!(e.acme_type(), "unauthorized");
        let by_key = Client {
            key: Key::Ec(cert_key),
            kid: None,
        };
        let r = h
            .send(&by_key, &Endpoint::RevokeCert, Some(&revoke))
            .await
            .unwrap();
        assert!(r.actor.unwrap().starts_with("acme:key/"));
    }
}

#[tokio::test]
async fn post_as_get_takes_no_payload_and_key_change_is_refused() {
    for ts in webqx_testkit::test_stores() {
        let h = harness(&ts.config).await;
        eprintln!("store: {}", ts.label);
        let mut c = Client::es256();
        h.register(&mut c).await;
        let order = h.ready_order(&c, &["a.test"]).await;
        let e = h
            .send(&c, &Endpoint::Order(order), Some(&json!({})))
            .await
            .unwrap_err();
        assert_eq!(e.acme_type(), "malformed");
        let e = h
            .send(&c, &Endpoint::KeyChange, Some(&json!({})))
            .await
            .unwrap_err();
        assert_eq!(e.acme_type(), "malformed");
    }
}

#[test]
fn thumbprint_matches_rfc_7638_example() {
    // RFC 7638 §3.1: the example RSA key and its SHA-256 thumbprint.
    let jwk = json!({"kty": "RSA", "e": "AQAB", "alg": "RS256", "kid": "2011-04-29",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"});
    let key = Jwk::from_json(&jwk).unwrap();
    assert_eq!(
        key.thumbprint(),
        "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    );
}

#[tokio::test]
async fn an_expired_order_turns_invalid_and_its_challenges_are_refused() {
    for ts in webqx_testkit::test_stores() {
        let h = harness_with(&ts.config, Duration::from_millis(300)).await;
        let mut c = Client::es256();
        h.register(&mut c).await;
        let ids = json!({"identifiers": [{"type": "dns", "value": "a.test"}]});
        let r = h.send(&c, &Endpoint::NewOrder, Some(&ids)).await.unwrap();
        let order = last_segment(r.location.as_deref().unwrap());
        let authz = last_segment(json_of(&r)["authorizations"][0].as_str().unwrap());
        tokio::time::sleep(Duration::from_millis(400)).await;
        let r = h.send(&c, &Endpoint::Order(order), None).await.unwrap();
        assert_eq!(json_of(&r)["status"], "invalid", "{}", ts.label);
        let r = h
            .send(&c, &Endpoint::Authz(authz.clone()), None)
            .await
            .unwrap();
        assert_eq!(json_of(&r)["status"], "expired");
        let e = h
            .send(&c, &Endpoint::Challenge(authz), Some(&json!({})))
            .await
            .unwrap_err();
        assert_eq!(e.acme_type(), "malformed");
    }
}
