//! The certificate authority end to end through the real binary, checked with the real
//! `openssl` (3.x) and `curl`: `openssl verify` of issued chains (every key type),
//! `openssl req` CSRs signed and bad CSRs refused (CA:TRUE, a name outside the allowed
//! domains, a tampered signature, garbage), `openssl crl -inform DER` listing a revoked
//! serial, `openssl ocsp` getting good then revoked (response signature verified with
//! `-CAfile`, nonce echoed; POST and GET), `openssl s_server` serving an issued
//! certificate to `curl --cacert` with our root. On SQLite, and on PostgreSQL when
//! `WEBQX_TEST_POSTGRES` is set.
//!
//! Under `CI=1` a missing program fails the test; otherwise the test is skipped loudly.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};
use webqx_testkit::server::{Server, stderr, stdout};

const BIN: &str = env!("CARGO_BIN_EXE_webqx-sec");

fn tools() -> bool {
    let missing: Vec<&str> = ["/usr/bin/openssl", "/usr/bin/curl"]
        .into_iter()
        .filter(|p| !Path::new(p).exists())
        .collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{missing:?} missing; .ci/run installs openssl and curl"
    );
    eprintln!("*** SKIPPED: {missing:?} not installed (openssl, curl) ***");
    false
}

/// Runs a program without proxies (everything is on 127.0.0.1).
fn run(program: &str, args: &[&str]) -> Output {
    Command::new(program)
        .args(args)
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("ALL_PROXY")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"))
}

fn ok(o: &Output, what: &str) -> String {
    assert!(o.status.success(), "{what}: {}\n{}", stdout(o), stderr(o));
    stdout(o)
}

fn openssl(args: &[&str]) -> Output {
    run("openssl", args)
}

struct Ca {
    server: Server,
    dir: tempfile::TempDir,
}

impl Ca {
    fn start(extra: Vec<(String, String)>) -> Ca {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = dir.path().join("webqx-sec.toml");
        std::fs::write(
            &config,
            "[pki]\nbase_url = \"https://ca.example.test:8443\"\ncrl_every = \"1h\"\n\
             [pki.tls-server]\nallowed_domains = [\"example.test\", \"127.0.0.1\", \"localhost\"]\n\
             max_ttl = \"90d\"\n\
             [pki.tls-client]\nallowed_domains = [\"clients.example.test\"]\n\
             [pki.secure-node]\nallowed_domains = [\"app.example.test\"]\n",
        )
        .expect("config");
        let mut env = vec![("WEBQX_CONFIG".to_string(), config.display().to_string())];
        env.extend(extra);
        Ca {
            server: Server::start(BIN, &env),
            dir,
        }
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn p(&self, name: &str) -> String {
        self.path(name).display().to_string()
    }

    fn cli(&self, args: &[&str]) -> Output {
        self.server.cli(args)
    }

    /// Issues with the CLI into `<stem>.chain.pem`, `<stem>.key`, `root.pem`; splits the
    /// chain into `<stem>.leaf.pem` and `<stem>.int.pem`. Returns the serial.
    fn issue(&self, stem: &str, args: &[&str]) -> String {
        let (chain, key, root) = (
            self.p(&format!("{stem}.chain.pem")),
            self.p(&format!("{stem}.key")),
            self.p("root.pem"),
        );
        let mut all = vec!["--json", "cert", "issue"];
        all.extend_from_slice(args);
        all.extend_from_slice(&["--out-cert", &chain, "--out-key", &key, "--out-root", &root]);
        let out = ok(&self.cli(&all), "cert issue");
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        assert!(
            v.get("private_key").is_none(),
            "key written to the file, not printed"
        );
        self.split(stem);
        v["serial"].as_str().expect("serial").to_owned()
    }

    fn split(&self, stem: &str) {
        let chain = std::fs::read_to_string(self.path(&format!("{stem}.chain.pem"))).unwrap();
        let certs: Vec<String> = chain
            .split_inclusive("-----END CERTIFICATE-----\n")
            .map(str::to_owned)
            .collect();
        assert_eq!(certs.len(), 2, "leaf and intermediate: {chain}");
        std::fs::write(self.path(&format!("{stem}.leaf.pem")), &certs[0]).unwrap();
        std::fs::write(self.path(&format!("{stem}.int.pem")), &certs[1]).unwrap();
    }

    fn verify(&self, stem: &str) {
        let out = openssl(&[
            "verify",
            "-CAfile",
            &self.p("root.pem"),
            "-untrusted",
            &self.p(&format!("{stem}.int.pem")),
            &self.p(&format!("{stem}.leaf.pem")),
        ]);
        assert!(
            ok(&out, "openssl verify").contains(": OK"),
            "{}",
            stdout(&out)
        );
    }

    /// `openssl ocsp` against our responder; returns stdout + stderr.
    fn ocsp(&self, stem: &str) -> String {
        let out = openssl(&[
            "ocsp",
            "-issuer",
            &self.p(&format!("{stem}.int.pem")),
            "-cert",
            &self.p(&format!("{stem}.leaf.pem")),
            "-url",
            &format!("{}/v1/pki/ocsp", self.server.addr),
            "-CAfile",
            &self.p("root.pem"),
            "-verify_other",
            &self.p(&format!("{stem}.int.pem")),
        ]);
        format!("{}{}", stdout(&out), stderr(&out))
    }
}

fn ocsp_url_ok(text: &str, status: &str) {
    assert!(
        text.contains("Response verify OK"),
        "signature verifies: {text}"
    );
    assert!(
        text.contains(&format!(".pem: {status}")),
        "status {status}: {text}"
    );
    assert!(
        !text.contains("nonce"),
        "nonce echoed (no nonce warning): {text}"
    );
}

fn flow(label: &str, extra: Vec<(String, String)>) {
    let ca = Ca::start(extra);

    // Issued with every key type; openssl verifies each chain under our root.
    let serial = ca.issue("web", &["www.example.test", "127.0.0.1"]);
    ca.verify("web");
    for key in ["p384", "ed25519", "rsa2048"] {
        ca.issue(key, &["svc.example.test", "--key", key, "--ttl", "30d"]);
        ca.verify(key);
        let k = openssl(&["pkey", "-in", &ca.p(&format!("{key}.key")), "-noout"]);
        ok(&k, &format!("{label}: openssl reads the {key} key"));
    }
    let text = ok(
        &openssl(&["x509", "-in", &ca.p("web.leaf.pem"), "-noout", "-text"]),
        "x509 -text",
    );
    assert!(
        text.contains("OCSP - URI:https://ca.example.test:8443/v1/pki/ocsp"),
        "{text}"
    );
    assert!(
        text.contains("URI:https://ca.example.test:8443/v1/pki/crl"),
        "{text}"
    );
    assert!(text.contains("TLS Web Server Authentication"), "{text}");
    assert!(text.contains("IP Address:127.0.0.1"), "{text}");

    // Policy refusals: a name outside the allowed domains, a lifetime over the maximum.
    let out = ca.cli(&["cert", "issue", "www.evil.test"]);
    assert_eq!(out.status.code(), Some(4), "{label}: {}", stderr(&out));
    assert!(
        stderr(&out).contains("not allowed for profile tls-server"),
        "{}",
        stderr(&out)
    );
    let out = ca.cli(&["cert", "issue", "www.example.test", "--ttl", "200d"]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));
    assert!(stderr(&out).contains("exceeds"), "{}", stderr(&out));

    // A CSR from `openssl req` is signed; its key stays with the requester.
    let req = |stem: &str, subj: &str, ext: &[&str]| {
        let mut args = vec![
            "req",
            "-new",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-nodes",
            "-keyout",
        ];
        let key = ca.p(&format!("{stem}.key"));
        let csr = ca.p(&format!("{stem}.csr"));
        args.extend_from_slice(&[&key, "-out", &csr, "-subj", subj]);
        for e in ext {
            args.extend_from_slice(&["-addext", e]);
        }
        ok(&openssl(&args), "openssl req");
        csr
    };
    let csr = req(
        "app",
        "/CN=app.example.test",
        &["subjectAltName=DNS:app.example.test"],
    );
    let chain = ca.p("app.chain.pem");
    let out = ca.cli(&[
        "cert",
        "sign",
        &csr,
        "--out-cert",
        &chain,
        "--profile",
        "secure-node",
    ]);
    ok(&out, "cert sign");
    ca.split("app");
    ca.verify("app");
    let text = ok(
        &openssl(&["x509", "-in", &ca.p("app.leaf.pem"), "-noout", "-text"]),
        "x509",
    );
    assert!(
        text.contains("TLS Web Server Authentication, TLS Web Client Authentication"),
        "{text}"
    );
    // The certificate is for the CSR's key.
    let a = ok(
        &openssl(&["x509", "-in", &ca.p("app.leaf.pem"), "-noout", "-pubkey"]),
        "pubkey",
    );
    let b = ok(
        &openssl(&["pkey", "-in", &ca.p("app.key"), "-pubout"]),
        "pubout",
    );
    assert_eq!(a, b);

    // Bad CSRs are refused with a clear reason (exit 4: request refused).
    let refuse = |csr: &str, needle: &str| {
        let out = ca.cli(&["cert", "sign", csr]);
        assert_eq!(
            out.status.code(),
            Some(4),
            "{label} {needle}: {}",
            stderr(&out)
        );
        assert!(stderr(&out).contains(needle), "{needle}: {}", stderr(&out));
    };
    let ca_csr = req(
        "caflag",
        "/CN=sub.example.test",
        &[
            "basicConstraints=critical,CA:TRUE",
            "subjectAltName=DNS:sub.example.test",
        ],
    );
    refuse(&ca_csr, "asks for a CA certificate");
    let evil = req("evil", "/CN=evil.test", &["subjectAltName=DNS:evil.test"]);
    refuse(&evil, "not allowed for profile");
    let good_der = ok(
        &openssl(&["req", "-in", &csr, "-outform", "DER"]),
        "csr der",
    );
    let _ = good_der;
    let der_path = ca.p("app.csr.der");
    ok(
        &openssl(&["req", "-in", &csr, "-outform", "DER", "-out", &der_path]),
        "csr to der",
    );
    let mut der = std::fs::read(&der_path).unwrap();
    // The last bytes are the signature's: flip one.
    let n = der.len();
    der[n - 3] ^= 0x01;
    std::fs::write(&der_path, &der).unwrap();
    let tampered = ca.p("tampered.csr");
    ok(
        &openssl(&["req", "-inform", "DER", "-in", &der_path, "-out", &tampered]),
        "re-encode tampered CSR",
    );
    refuse(&tampered, "signature does not verify");
    let garbage = ca.p("garbage.csr");
    std::fs::write(
        &garbage,
        "-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n",
    )
    .unwrap();
    refuse(&garbage, "cannot be read");

    // OCSP: good, then revoked after `cert revoke`, signature verified by openssl.
    ocsp_url_ok(&ca.ocsp("web"), "good");
    let out = ca.cli(&["cert", "revoke", &serial, "--reason", "keyCompromise"]);
    ok(&out, "cert revoke");
    let text = ca.ocsp("web");
    ocsp_url_ok(&text, "revoked");
    assert!(text.contains("Reason: keyCompromise"), "{text}");
    // Again revoking is a conflict (exit 4).
    let out = ca.cli(&["cert", "revoke", &serial]);
    assert_eq!(out.status.code(), Some(4), "{}", stderr(&out));

    // OCSP over GET (RFC 6960 appendix A.1), with curl.
    let req_der = ca.p("ocsp.req");
    ok(
        &openssl(&[
            "ocsp",
            "-issuer",
            &ca.p("web.int.pem"),
            "-cert",
            &ca.p("web.leaf.pem"),
            "-reqout",
            &req_der,
        ]),
        "ocsp -reqout",
    );
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(std::fs::read(&req_der).unwrap());
    let enc = b64
        .replace('+', "%2B")
        .replace('/', "%2F")
        .replace('=', "%3D");
    let resp = ca.p("ocsp.resp");
    let ca_pem = ca.server.ca().display().to_string();
    let out = run(
        "curl",
        &[
            "-sS",
            "--fail",
            "--cacert",
            &ca_pem,
            "-o",
            &resp,
            &format!("{}/v1/pki/ocsp/{enc}", ca.server.addr),
        ],
    );
    ok(&out, "curl GET ocsp");
    let out = openssl(&[
        "ocsp",
        "-respin",
        &resp,
        "-issuer",
        &ca.p("web.int.pem"),
        "-cert",
        &ca.p("web.leaf.pem"),
        "-CAfile",
        &ca.p("root.pem"),
        "-no_nonce",
    ]);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(
        text.contains("Response verify OK") && text.contains(": revoked"),
        "{text}"
    );

    // The CRL, DER through the CLI and PEM through curl, lists the revoked serial.
    let crl = ca.p("crl.der");
    ok(&ca.cli(&["cert", "crl", "--out", &crl]), "cert crl");
    let text = ok(
        &openssl(&["crl", "-inform", "DER", "-in", &crl, "-noout", "-text"]),
        "openssl crl",
    );
    assert!(text.contains(&serial.to_uppercase()), "{label}: {text}");
    assert!(text.contains("Key Compromise"), "{text}");
    let crl_pem = ca.p("crl.pem");
    let out = run(
        "curl",
        &[
            "-sS",
            "--fail",
            "--cacert",
            &ca_pem,
            "-o",
            &crl_pem,
            "-w",
            "%{content_type}",
            &format!("{}/v1/pki/crl", ca.server.addr),
        ],
    );
    assert_eq!(ok(&out, "curl crl"), "application/pkix-crl");
    let out = openssl(&[
        "crl",
        "-inform",
        "DER",
        "-in",
        &crl_pem,
        "-CAfile",
        &ca.p("web.int.pem"),
        "-noout",
    ]);
    let text = format!("{}{}", stdout(&out), stderr(&out));
    assert!(text.contains("verify OK"), "CRL signature verifies: {text}");
    // openssl verify with the CRL refuses the revoked certificate, accepts the others.
    let crl_pem_text = ok(&openssl(&["crl", "-inform", "DER", "-in", &crl]), "crl pem");
    std::fs::write(ca.path("crl.text.pem"), crl_pem_text).unwrap();
    let check = |stem: &str| {
        openssl(&[
            "verify",
            "-crl_check",
            "-CRLfile",
            &ca.p("crl.text.pem"),
            "-CAfile",
            &ca.p("root.pem"),
            "-untrusted",
            &ca.p(&format!("{stem}.int.pem")),
            &ca.p(&format!("{stem}.leaf.pem")),
        ])
    };
    let out = check("web");
    assert!(
        !out.status.success() && stderr(&out).contains("revoked")
            || stdout(&out).contains("revoked"),
        "{}{}",
        stdout(&out),
        stderr(&out)
    );
    ok(&check("app"), "not revoked passes the CRL check");

    // `cert list`, `cert show`, `ca list`.
    let list = ok(
        &ca.cli(&["--json", "cert", "list", "--revoked"]),
        "cert list",
    );
    let v: serde_json::Value = serde_json::from_str(&list).unwrap();
    assert_eq!(v["items"].as_array().unwrap().len(), 1, "{list}");
    let show = ok(
        &ca.cli(&["cert", "show", &serial.to_uppercase()]),
        "cert show",
    );
    assert!(
        show.contains("keyCompromise") && show.contains("www.example.test"),
        "{show}"
    );
    let cas = ok(&ca.cli(&["ca", "list"]), "ca list");
    assert!(
        cas.contains("root") && cas.contains("issuing") && cas.contains("(default)"),
        "{cas}"
    );
    drop(ca);
}

#[test]
fn openssl_verifies_signs_revokes_crl_ocsp_on_sqlite() {
    if !tools() {
        return;
    }
    flow("sqlite", Vec::new());
}

#[test]
fn openssl_flow_on_postgres() {
    if !tools() {
        return;
    }
    let Some(env) = webqx_testkit::server::postgres_env() else {
        eprintln!("*** SKIPPED: WEBQX_TEST_POSTGRES not set ***");
        return;
    };
    flow("postgres", env);
}

#[test]
fn curl_trusts_an_issued_server_certificate_served_by_openssl_s_server() {
    if !tools() {
        return;
    }
    let ca = Ca::start(Vec::new());
    ca.issue("srv", &["localhost", "127.0.0.1"]);
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let mut server = Command::new("openssl")
        .args([
            "s_server",
            "-accept",
            &format!("127.0.0.1:{port}"),
            "-cert",
            &ca.p("srv.leaf.pem"),
            "-key",
            &ca.p("srv.key"),
            "-cert_chain",
            &ca.p("srv.int.pem"),
            "-www",
            "-quiet",
        ])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("openssl s_server");
    let deadline = Instant::now() + Duration::from_secs(20);
    let out = loop {
        let out = run(
            "curl",
            &[
                "-sS",
                "--fail",
                "--cacert",
                &ca.p("root.pem"),
                &format!("https://127.0.0.1:{port}/"),
            ],
        );
        if out.status.success() || Instant::now() > deadline {
            break out;
        }
        std::thread::sleep(Duration::from_millis(200));
    };
    let _ = server.kill();
    let _ = server.wait();
    ok(
        &out,
        "curl --cacert root.pem to openssl s_server with the issued certificate",
    );
    // And curl against our own server (its certificate now comes from the intermediate).
    let out = run(
        "curl",
        &[
            "-sS",
            "--fail",
            "--cacert",
            &ca.server.ca().display().to_string(),
            &format!("{}/v1/pki/ca.pem", ca.server.addr),
        ],
    );
    assert!(ok(&out, "curl ca.pem").contains("BEGIN CERTIFICATE"));
}

/// Turns a data folder made by this version back into what version 0.1 left: its local
/// CA with pathLenConstraint 0 (same key, same name), a server certificate signed by it,
/// no CA hierarchy tables filled. Returns (legacy root PEM, legacy server leaf PEM).
fn make_legacy(data: &Path) -> (String, String) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        use rcgen::{
            BasicConstraints, CertificateParams, DistinguishedName, DnType,
            ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair, KeyUsagePurpose,
        };
        let store =
            webqx_store::Store::open(&webqx_store::StoreConfig::sqlite(&data.join("store.db")))
                .await
                .unwrap();
        let audit = webqx_audit::AuditLog::start(store.clone());
        let kms = webqx_kms::Kms::new(store.clone(), audit, Default::default());
        let key_hex = std::fs::read(data.join("unseal.key")).unwrap();
        let ctx = webqx_audit::RequestContext::internal("test");
        kms.unseal_with_key(&ctx, &webqx_crypto::SecretBytes::new(key_hex))
            .await
            .unwrap();
        let root_key = KeyPair::try_from(kms.get_secret("ca.key").await.unwrap().expose()).unwrap();
        let name = webqx_store::meta::get(store.pool(), "ca.name")
            .await
            .unwrap()
            .unwrap();
        let legacy_params = || {
            let mut p = CertificateParams::default();
            let mut dn = DistinguishedName::new();
            dn.push(DnType::CommonName, name.as_str());
            dn.push(DnType::OrganizationName, "WebQx Security");
            p.distinguished_name = dn;
            p.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
            p.key_usages = vec![
                KeyUsagePurpose::KeyCertSign,
                KeyUsagePurpose::CrlSign,
                KeyUsagePurpose::DigitalSignature,
            ];
            p
        };
        let root = legacy_params().self_signed(&root_key).unwrap().pem();
        let leaf_key = KeyPair::generate().unwrap();
        let mut leaf =
            CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()]).unwrap();
        leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        leaf.use_authority_key_identifier_extension = true;
        let issuer = Issuer::new(legacy_params(), root_key);
        let leaf = leaf.signed_by(&leaf_key, &issuer).unwrap().pem();
        std::fs::write(data.join("tls/ca.pem"), &root).unwrap();
        std::fs::write(data.join("tls/server.pem"), format!("{leaf}{root}")).unwrap();
        std::fs::write(data.join("tls/server.key"), leaf_key.serialize_pem()).unwrap();
        for sql in [
            "DELETE FROM pki_certs",
            "DELETE FROM pki_cas",
            "DELETE FROM pki_crls",
            "DELETE FROM secrets WHERE name LIKE 'pki.%'",
            "DELETE FROM meta WHERE name = 'tls.server.issuer'",
        ] {
            webqx_store::query(sql).execute(store.pool()).await.unwrap();
        }
        store.close().await;
        (root, leaf)
    })
}

#[test]
fn a_data_folder_of_the_previous_version_is_upgraded_in_place() {
    if !tools() {
        return;
    }
    let mut ca = Ca::start(Vec::new());
    ca.server.stop();
    let (legacy_root, legacy_leaf) = make_legacy(&ca.server.data);
    std::fs::write(ca.path("legacy-root.pem"), &legacy_root).unwrap();
    std::fs::write(ca.path("legacy-leaf.pem"), &legacy_leaf).unwrap();
    let before = ok(
        &openssl(&["x509", "-in", &ca.p("legacy-root.pem"), "-noout", "-text"]),
        "legacy root",
    );
    assert!(before.contains("pathlen:0"), "{before}");
    ca.server.spawn();

    // The root was re-issued with the same key and name, allowing one intermediate.
    let root = ca.server.ca().display().to_string();
    let after = ok(
        &openssl(&["x509", "-in", &root, "-noout", "-text"]),
        "new root",
    );
    assert!(after.contains("pathlen:1"), "{after}");
    let key = |f: &str| ok(&openssl(&["x509", "-in", f, "-noout", "-pubkey"]), "pubkey");
    assert_eq!(key(&root), key(&ca.p("legacy-root.pem")), "same root key");
    let subject = |f: &str| {
        ok(
            &openssl(&["x509", "-in", f, "-noout", "-subject"]),
            "subject",
        )
    };
    assert_eq!(
        subject(&root),
        subject(&ca.p("legacy-root.pem")),
        "same root name"
    );
    // Certificates the old root signed still verify under the new one.
    let out = openssl(&["verify", "-CAfile", &root, &ca.p("legacy-leaf.pem")]);
    assert!(ok(&out, "legacy leaf under the new root").contains(": OK"));
    // The server's certificate now comes from the intermediate, and clients trusting the
    // root reach it.
    let chain = std::fs::read_to_string(ca.server.data.join("tls/server.pem")).unwrap();
    assert_eq!(
        chain.matches("BEGIN CERTIFICATE").count(),
        2,
        "leaf + intermediate"
    );
    let out = run(
        "curl",
        &[
            "-sS",
            "--fail",
            "--cacert",
            &root,
            &format!("{}/v1/sys/health", ca.server.addr),
        ],
    );
    ok(&out, "curl with the upgraded root");
    let cas = ok(&ca.cli(&["ca", "list"]), "ca list");
    assert!(cas.contains("root") && cas.contains("(default)"), "{cas}");
    ca.issue("after", &["www.example.test"]);
    std::fs::copy(ca.server.ca(), ca.path("root.pem")).unwrap();
    ca.verify("after");
}
