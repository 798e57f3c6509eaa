//! Network-bound disk encryption with the real clients: Debian's `clevis` (its `tang`
//! pin and `clevis luks`, which drive `curl` and `jose`) against our server's Tang
//! endpoints, on the plain-HTTP Tang listener and under `/tang` on the HTTPS API;
//! `cryptsetup` for a LUKS2 volume in a plain file; and the real `tangd` (served by
//! `socat`) as a control whose advertisement our parser must read.
//!
//! Under `CI=1` a missing program fails the test; otherwise the test is skipped loudly.

use base64::Engine as _;
use serde_json::{Value, json};
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};
use webqx_crypto::tang::{Point, ThumbprintHash};
use webqx_testkit::free_port;
use webqx_testkit::server::{Server, stderr};

const BIN: &str = env!("CARGO_BIN_EXE_webqx-sec");
const B64: base64::engine::GeneralPurpose = base64::engine::general_purpose::URL_SAFE_NO_PAD;

fn tools(paths: &[&str]) -> bool {
    let missing: Vec<&&str> = paths.iter().filter(|p| !Path::new(p).exists()).collect();
    if missing.is_empty() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{missing:?} missing; .ci/run installs clevis, clevis-luks, tang, jose, socat, cryptsetup-bin"
    );
    eprintln!("*** SKIPPED: {missing:?} not installed (clevis, tang, jose, socat, cryptsetup) ***");
    false
}

/// Runs a program with `stdin`, without proxies (everything here is on 127.0.0.1).
fn run(program: &str, args: &[&str], stdin: &[u8], env: &[(&str, &str)]) -> Output {
    let mut child = Command::new(program)
        .args(args)
        .envs(env.iter().copied())
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("ALL_PROXY")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("{program} runs: {e}"));
    child
        .stdin
        .take()
        .expect("stdin")
        .write_all(stdin)
        .expect("stdin");
    child.wait_with_output().expect("output")
}

/// A server with Tang on (ring `tang`, plain listener on its own port), and the ring.
struct Tang {
    server: Server,
    plain: String,
}

impl Tang {
    fn start(extra: &[(&str, &str)]) -> Tang {
        let port = free_port();
        let mut env = vec![
            ("WEBQX_TANG_ENABLED".to_string(), "true".to_string()),
            ("WEBQX_TANG_LISTEN".to_string(), format!("127.0.0.1:{port}")),
        ];
        env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let server = Server::start(BIN, &env);
        let out = server.cli(&["key", "create", "tang", "--type", "tang-p521"]);
        assert!(out.status.success(), "{}", stderr(&out));
        let plain = format!("http://127.0.0.1:{port}");
        wait_for(&plain);
        Tang { server, plain }
    }

    fn cli(&self, args: &[&str]) {
        let out = self.server.cli(args);
        assert!(out.status.success(), "{args:?}: {}", stderr(&out));
    }

    /// The advertisement from the plain listener.
    fn adv(&self) -> Value {
        let out = run("curl", &["-sf", &format!("{}/adv/", self.plain)], b"", &[]);
        assert!(
            out.status.success(),
            "adv: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice(&out.stdout).expect("adv is JSON")
    }

    /// The S256 thumbprint of the advertised signing key, computed by `jose`.
    fn thp(&self) -> String {
        jose_thp(&self.adv(), "verify")
    }

    /// `clevis encrypt tang` with `url` pinned to `thp`.
    fn bind(&self, url: &str, thp: &str, secret: &[u8]) -> Vec<u8> {
        let cfg = json!({"url": url, "thp": thp}).to_string();
        let ca = self.server.ca();
        let out = run(
            "clevis",
            &["encrypt", "tang", &cfg],
            secret,
            &[("CURL_CA_BUNDLE", ca.to_str().expect("path"))],
        );
        assert!(
            out.status.success(),
            "clevis encrypt: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out.stdout
    }
}

fn wait_for(url: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    let addr = url.trim_start_matches("http://");
    while std::net::TcpStream::connect(addr).is_err() {
        assert!(Instant::now() < deadline, "{url} does not listen");
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn decrypt(jwe: &[u8], ca: &Path) -> Result<Vec<u8>, String> {
    let out = run(
        "clevis",
        &["decrypt"],
        jwe,
        &[("CURL_CA_BUNDLE", ca.to_str().expect("path"))],
    );
    if out.status.success() {
        Ok(out.stdout)
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

/// The JWS payload's keys with `op`, thumbprinted (S256) by `jose`.
fn jose_thp(adv: &Value, op: &str) -> String {
    let keys = run(
        "jose",
        &["fmt", "-j-", "-g", "payload", "-y", "-o-"],
        adv.to_string().as_bytes(),
        &[],
    );
    assert!(
        keys.status.success(),
        "payload: {}",
        String::from_utf8_lossy(&keys.stderr)
    );
    let key = run(
        "jose",
        &["jwk", "use", "-i-", "-r", "-u", op, "-o-"],
        &keys.stdout,
        &[],
    );
    assert!(
        key.status.success(),
        "use {op}: {}",
        String::from_utf8_lossy(&key.stderr)
    );
    let thp = run(
        "jose",
        &["jwk", "thp", "-i-", "-a", "S256"],
        &key.stdout,
        &[],
    );
    assert!(thp.status.success());
    String::from_utf8_lossy(&thp.stdout).trim().to_owned()
}

/// The keys in an advertisement's payload.
fn adv_keys(adv: &Value) -> Vec<Value> {
    let payload = B64
        .decode(adv["payload"].as_str().expect("payload"))
        .expect("base64url payload");
    let set: Value = serde_json::from_slice(&payload).expect("JWK set");
    set["keys"].as_array().expect("keys").clone()
}

fn key_with_op(adv: &Value, op: &str) -> Point {
    let key = adv_keys(adv)
        .into_iter()
        .find(|k| k["key_ops"] == json!([op]))
        .unwrap_or_else(|| panic!("no {op} key"));
    webqx_kms::tang::parse_jwk(key.to_string().as_bytes()).expect("our parser reads it")
}

/// The `kid` (exchange key thumbprint) in a clevis JWE's protected header.
fn jwe_kid(jwe: &[u8]) -> String {
    let text = String::from_utf8_lossy(jwe);
    let header = text.split('.').next().expect("compact JWE");
    let header: Value = serde_json::from_slice(&B64.decode(header).expect("b64")).expect("json");
    header["kid"].as_str().expect("kid").to_owned()
}

/// Bind, recover, rotate (old bindings still recover, new ones use the new key), retire
/// the old version (its bindings fail), disable and destroy the ring (nothing
/// recovers), stop the server (nothing recovers). Plain HTTP and the HTTPS prefix.
#[test]
fn clevis_bindings_follow_rotation_retirement_revocation_and_the_server() {
    if !tools(&["/usr/bin/clevis", "/usr/bin/jose", "/usr/bin/curl"]) {
        return;
    }
    let mut t = Tang::start(&[("WEBQX_KMS_MIN_DELETION_WAIT", "0s")]);
    let ca = t.server.ca();
    let adv1 = t.adv();
    let thp1 = t.thp();
    assert_eq!(
        key_with_op(&adv1, "verify").thumbprint(ThumbprintHash::S256),
        thp1,
        "our RFC 7638 thumbprint equals jose's"
    );

    let old = t.bind(&t.plain, &thp1, b"volume key one");
    assert_eq!(decrypt(&old, &ca).unwrap(), b"volume key one");
    let over_tls = t.bind(&format!("{}/tang", t.server.addr), &thp1, b"over https");
    assert_eq!(decrypt(&over_tls, &ca).unwrap(), b"over https");
    assert_eq!(
        jwe_kid(&old),
        key_with_op(&adv1, "deriveKey").thumbprint(ThumbprintHash::S256)
    );

    t.cli(&["key", "rotate", "tang"]);
    let thp2 = t.thp();
    assert_ne!(thp1, thp2, "rotation advertises a new signing key");
    let new = t.bind(&t.plain, &thp2, b"volume key two");
    assert_ne!(
        jwe_kid(&new),
        jwe_kid(&old),
        "a new binding uses the new exchange key"
    );
    assert_eq!(
        decrypt(&old, &ca).unwrap(),
        b"volume key one",
        "old binding still recovers"
    );
    assert_eq!(decrypt(&new, &ca).unwrap(), b"volume key two");
    // A client still pinned to the old signing key gets the new keys signed by it too.
    let pinned = run(
        "curl",
        &["-sf", &format!("{}/adv/{thp1}", t.plain)],
        b"",
        &[],
    );
    let pinned: Value = serde_json::from_slice(&pinned.stdout).expect("pinned adv");
    assert_eq!(
        pinned["signatures"].as_array().map(Vec::len),
        Some(2),
        "{pinned}"
    );
    // (clevis itself only accepts a pin found among the advertised keys, so a new
    // binding pinned to the old key is refused by clevis, as with tangd.)

    let http = t.server.http();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let r = rt.block_on(http.post("/v1/keys/tang/config", json!({"min_decryption_version": 2})));
    assert_eq!(r.status, 200, "{}", r.text);
    let err = decrypt(&old, &ca).expect_err("retired version recovers nothing");
    assert!(err.contains("Error communicating with server"), "{err}");
    assert_eq!(decrypt(&new, &ca).unwrap(), b"volume key two");
    let gone = run(
        "curl",
        &[
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("{}/adv/{thp1}", t.plain),
        ],
        b"",
        &[],
    );
    assert_eq!(
        String::from_utf8_lossy(&gone.stdout),
        "404",
        "retired key no longer signs"
    );

    t.cli(&["key", "disable", "tang"]);
    assert!(
        decrypt(&new, &ca).is_err(),
        "a disabled ring recovers nothing"
    );
    t.cli(&["key", "enable", "tang"]);
    assert_eq!(decrypt(&new, &ca).unwrap(), b"volume key two");

    let audit = audit_text(&t.server);
    assert!(audit.contains("\"tang.recover\""), "recoveries are audited");
    let line = audit
        .lines()
        .find(|l| l.contains("tang.recover"))
        .unwrap_or_default();
    assert!(audit.contains(&jwe_kid(&new)), "with the kid: {line}");
    assert!(
        audit.contains("tang-unknown-key"),
        "and refusals with their reason"
    );
    let client_x = adv_keys(&adv1)[1]["x"].as_str().unwrap().to_owned();
    assert!(!audit.contains(&client_x), "no points in the trail");

    t.cli(&["key", "schedule-deletion", "tang", "--wait", "0s"]);
    assert!(
        decrypt(&new, &ca).is_err(),
        "a ring pending deletion recovers nothing"
    );
    // The scheduler (every second in tests) may destroy the due key first.
    let destroy = t.server.cli(&["key", "destroy", "tang"]);
    assert!(
        destroy.status.success() || stderr(&destroy).contains("was destroyed"),
        "{}",
        stderr(&destroy)
    );
    assert!(
        decrypt(&new, &ca).is_err(),
        "a destroyed ring recovers nothing"
    );

    t.server.stop();
    let err = decrypt(&old, &ca).expect_err("no server, no recovery");
    assert!(err.contains("Error communicating with server"), "{err}");
}

fn audit_text(server: &Server) -> String {
    let rt = tokio::runtime::Runtime::new().unwrap();
    let r = rt.block_on(server.http().get("/v1/audit/records"));
    assert_eq!(r.status, 200, "{}", r.text);
    r.text
}

/// The server's point multiplication agrees with `jose jwk exc` (the same ECMR
/// operation clevis runs) and every refusal gets tangd's status.
#[test]
fn recovery_matches_jose_and_refusals_get_tangd_statuses() {
    if !tools(&["/usr/bin/jose"]) {
        return;
    }
    let t = Tang::start(&[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let http = t.server.http().with_token(None);
    let adv: Value = rt.block_on(http.get("/tang/adv/")).json;
    let kid = key_with_op(&adv, "deriveKey").thumbprint(ThumbprintHash::S256);
    let sig_kid = key_with_op(&adv, "verify").thumbprint(ThumbprintHash::S1);
    let client = run(
        "jose",
        &["jwk", "gen", "-i", r#"{"alg":"ECMR","crv":"P-521"}"#],
        b"",
        &[],
    );
    let client: Value = serde_json::from_slice(&client.stdout).expect("jose key");
    let mut public = client.clone();
    public.as_object_mut().unwrap().remove("d");
    let jwk = |v: &Value| Some((v.to_string().into_bytes(), "application/jwk+json"));

    let r = rt.block_on(http.send("POST", &format!("/tang/rec/{kid}"), jwk(&public)));
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.headers["content-type"], "application/jwk+json");
    // jose computes client-private × server-public: the same point.
    let mut server_pub: Value = adv_keys(&adv)[1].clone();
    server_pub.as_object_mut().unwrap().remove("key_ops");
    let both = format!("{client}{server_pub}");
    let expect = run(
        "jose",
        &["jwk", "exc", "-i", r#"{"alg":"ECMR"}"#, "-l-", "-r-"],
        both.as_bytes(),
        &[],
    );
    let expect: Value = serde_json::from_slice(&expect.stdout).expect("jose exc");
    assert_eq!((&r.json["x"], &r.json["y"]), (&expect["x"], &expect["y"]));

    let post = |path: String, body: Option<(Vec<u8>, &'static str)>| {
        rt.block_on(http.send("POST", &path, body)).status
    };
    let mut off_curve = public.clone();
    off_curve["y"] = public["x"].clone();
    let mut short = public.clone();
    short["x"] = json!(B64.encode([7u8; 65]));
    assert_eq!(
        post(format!("/tang/rec/{kid}"), jwk(&off_curve)),
        400,
        "point off the curve"
    );
    assert_eq!(
        post(format!("/tang/rec/{kid}"), jwk(&short)),
        400,
        "short coordinate"
    );
    assert_eq!(
        post(format!("/tang/rec/{kid}"), jwk(&client)),
        400,
        "private key sent"
    );
    assert_eq!(
        post(
            format!("/tang/rec/{kid}"),
            Some((b"{".to_vec(), "application/jwk+json"))
        ),
        400
    );
    assert_eq!(
        post(
            format!("/tang/rec/{kid}"),
            Some((public.to_string().into_bytes(), "text/plain"))
        ),
        415
    );
    assert_eq!(
        post(
            format!("/tang/rec/{kid}"),
            Some((vec![b' '; 5000], "application/jwk+json"))
        ),
        413
    );
    // The JWK is read as sent: a content coding is refused, naming identity.
    let coded = rt.block_on(http.send_raw(
        "POST",
        &format!("/tang/rec/{kid}"),
        Some(public.to_string().into_bytes()),
        &[
            ("content-type", "application/jwk+json"),
            ("content-encoding", "gzip"),
        ],
    ));
    assert_eq!(coded.status, 415, "{}", coded.text);
    assert_eq!(coded.headers["accept-encoding"], "identity");
    assert_eq!(
        post(format!("/tang/rec/{sig_kid}"), jwk(&public)),
        403,
        "signing key's kid"
    );
    assert_eq!(
        post(
            "/tang/rec/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA".into(),
            jwk(&public)
        ),
        404
    );
    assert_eq!(
        post(format!("/tang/rec/{}", "x".repeat(300)), jwk(&public)),
        404
    );
    assert_eq!(
        rt.block_on(http.get(&format!("/tang/rec/{kid}"))).status,
        405
    );
    assert_eq!(
        rt.block_on(http.get("/tang/adv/AAAA")).status,
        404,
        "unknown pin"
    );
    // Pins under every hash jose knows are found, as with tangd.
    for hash in ThumbprintHash::ALL {
        let thp = key_with_op(&adv, "verify").thumbprint(hash);
        let status = rt.block_on(http.get(&format!("/tang/adv/{thp}"))).status;
        assert_eq!(status, 200, "{hash:?}");
    }

    // The plain listener serves Tang and nothing else.
    let plain_health = run(
        "curl",
        &[
            "-s",
            "-o",
            "/dev/null",
            "-w",
            "%{http_code}",
            &format!("{}/v1/sys/health", t.plain),
        ],
        b"",
        &[],
    );
    assert_eq!(String::from_utf8_lossy(&plain_health.stdout), "404");

    // Sealed: nothing useful.
    let admin = t.server.http();
    assert_eq!(
        rt.block_on(admin.post("/v1/sys/seal", json!({}))).status,
        200
    );
    assert_eq!(rt.block_on(http.get("/tang/adv/")).status, 503);
    assert_eq!(post(format!("/tang/rec/{kid}"), jwk(&public)), 503);
}

/// Tang off (the default): the routes answer 404; they are in the OpenAPI document,
/// without a token requirement.
#[test]
fn tang_is_off_unless_enabled() {
    let server = Server::start(BIN, &[]);
    let rt = tokio::runtime::Runtime::new().unwrap();
    let http = server.http().with_token(None);
    assert_eq!(rt.block_on(http.get("/tang/adv/")).status, 404);
    let doc = rt.block_on(http.get("/v1/openapi.json")).json;
    assert!(
        doc["paths"]["/tang/rec/{kid}"]["post"].is_object(),
        "documented"
    );
    assert_eq!(
        doc["paths"]["/tang/adv/"]["get"]["security"],
        serde_json::json!([{}])
    );
}

/// A LUKS2 volume in a plain file bound with `clevis luks bind`; its passphrase is
/// recovered through our server and opens the volume (`--test-passphrase`: this kernel
/// has no device-mapper).
#[test]
fn luks_volume_unlocks_through_our_tang() {
    if !tools(&[
        "/usr/bin/clevis",
        "/usr/bin/clevis-luks-bind",
        "/usr/sbin/cryptsetup",
    ]) {
        return;
    }
    let t = Tang::start(&[]);
    let dir = tempfile::tempdir().unwrap();
    let disk = dir.path().join("disk.img");
    let pass = dir.path().join("pass.txt");
    std::fs::File::create(&disk)
        .unwrap()
        .set_len(32 << 20)
        .unwrap();
    std::fs::write(&pass, b"operator passphrase").unwrap();
    let (d, p) = (disk.to_str().unwrap(), pass.to_str().unwrap());
    let fmt = run(
        "cryptsetup",
        &[
            "luksFormat",
            "-q",
            "--type",
            "luks2",
            "--pbkdf",
            "pbkdf2",
            "--pbkdf-force-iterations",
            "1000",
            "--key-file",
            p,
            d,
        ],
        b"",
        &[],
    );
    assert!(
        fmt.status.success(),
        "{}",
        String::from_utf8_lossy(&fmt.stderr)
    );
    let cfg = json!({"url": t.plain, "thp": t.thp()}).to_string();
    let bind = run(
        "clevis",
        &["luks", "bind", "-y", "-d", d, "-k", p, "tang", &cfg],
        b"",
        &[],
    );
    assert!(
        bind.status.success(),
        "{}",
        String::from_utf8_lossy(&bind.stderr)
    );

    let opens = || {
        let pass = run("clevis", &["luks", "pass", "-d", d, "-s", "1"], b"", &[]);
        if !pass.status.success() {
            return false;
        }
        let open = run(
            "cryptsetup",
            &["open", "--test-passphrase", d, "--key-file", "-"],
            &pass.stdout,
            &[],
        );
        open.status.success()
    };
    assert!(
        opens(),
        "clevis recovers the LUKS passphrase through our server"
    );
    t.cli(&["key", "disable", "tang"]);
    assert!(!opens(), "revoked: the volume stays locked");
}

/// A private tangd: keys in its own folder, served on 127.0.0.1 by socat.
struct Tangd {
    child: Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Tangd {
    fn start() -> Tangd {
        let dir = tempfile::tempdir().unwrap();
        let db = dir.path().join("db");
        std::fs::create_dir(&db).unwrap();
        let keygen = Command::new("/usr/libexec/tangd-keygen")
            .arg(&db)
            .status()
            .unwrap();
        assert!(keygen.success(), "tangd-keygen");
        let port = free_port();
        let child = Command::new("socat")
            .arg(format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork"))
            .arg(format!("EXEC:/usr/libexec/tangd {}", db.display()))
            .stderr(Stdio::null())
            .spawn()
            .expect("socat starts");
        let url = format!("http://127.0.0.1:{port}");
        wait_for(&url);
        Tangd {
            child,
            url,
            _dir: dir,
        }
    }
}

impl Drop for Tangd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Control: the real tangd's advertisement reads with our JWK parser, its ES512
/// signature verifies with our verifier, and its thumbprints agree with jose's.
#[test]
fn real_tangd_advertisement_reads_with_our_parser() {
    if !tools(&["/usr/libexec/tangd", "/usr/bin/socat", "/usr/bin/jose"]) {
        return;
    }
    let tangd = Tangd::start();
    let out = run("curl", &["-sf", &format!("{}/adv/", tangd.url)], b"", &[]);
    assert!(out.status.success(), "tangd answers");
    let adv: Value = serde_json::from_slice(&out.stdout).expect("JWS JSON");
    let verify = key_with_op(&adv, "verify");
    key_with_op(&adv, "deriveKey");
    assert_eq!(
        verify.thumbprint(ThumbprintHash::S256),
        jose_thp(&adv, "verify")
    );
    // One signing key: the flattened JWS JSON serialization (RFC 7515 §7.2.2).
    let sig = &adv;
    let input = format!(
        "{}.{}",
        sig["protected"].as_str().unwrap(),
        adv["payload"].as_str().unwrap()
    );
    let raw = B64.decode(sig["signature"].as_str().unwrap()).unwrap();
    assert!(webqx_crypto::tang::verify_es512(
        &verify,
        input.as_bytes(),
        &raw
    ));
    // Our advertisement with one signing key has the same shape.
    let ours = Tang::start(&[]).adv();
    let mut ours_top: Vec<&String> = ours.as_object().unwrap().keys().collect();
    let mut theirs_top: Vec<&String> = adv.as_object().unwrap().keys().collect();
    ours_top.sort();
    theirs_top.sort();
    assert_eq!(ours_top, theirs_top);
}

/// A Tang ring that is missing or of another type is the operator's mistake: clients get
/// 503, and the server's log says what to create.
#[test]
fn a_misconfigured_tang_ring_is_unavailable_not_a_client_error() {
    let rt = tokio::runtime::Runtime::new().unwrap();
    for ring in ["no-such-ring", "fhir-phi"] {
        let env = [
            ("WEBQX_TANG_ENABLED".to_owned(), "true".to_owned()),
            ("WEBQX_TANG_RING".to_owned(), ring.to_owned()),
        ];
        let server = Server::start(BIN, &env);
        let http = server.http().with_token(None);
        let r = rt.block_on(http.get("/tang/adv/"));
        assert_eq!(r.status, 503, "{ring}: {}", r.text);
        assert_eq!(
            r.json["type"], "https://webqx.health/problems/tang-unavailable",
            "{ring}"
        );
        assert!(
            server.log().contains("--type tang-p521"),
            "{ring}: {}",
            server.log()
        );
    }
}
