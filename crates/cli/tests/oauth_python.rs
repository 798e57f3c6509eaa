//! Interoperability with the Python libraries EHR integrations use (issue 6, "Real
//! clients"): `tests/python/oauth_client.py` registers the `private_key_jwt` client
//! "python-bulk-export" (an ES384 key as a JWKS; one whose coordinate authlib writes a
//! byte short, as it does for one key in 128) through our API, builds its client
//! assertion with authlib (`private_key_jwt_sign`), gets an access token from
//! `/oauth/token`, verifies it with PyJWT (and `cryptography`) against our JWKS fetched
//! by `PyJWKClient` over HTTPS with our CA, introspects it (active), revokes it, and
//! introspects it again (inactive). On SQLite, and on PostgreSQL when
//! `WEBQX_TEST_POSTGRES` is set.
//!
//! Needs `python3` with PyPI `pyjwt`, `authlib` and `cryptography` (`.ci/run` installs
//! them). Under `CI=1` their absence fails the test; otherwise it is skipped loudly.

use serde_json::Value;
use std::process::Command;
use webqx_testkit::server::Server;

const BIN: &str = env!("CARGO_BIN_EXE_webqx-sec");
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/oauth_client.py");

fn python_libraries() -> bool {
    let found = Command::new("python3")
        .args(["-c", "import jwt, authlib, cryptography"])
        .status()
        .is_ok_and(|s| s.success());
    if found {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "python3 with pyjwt, authlib and cryptography is missing; .ci/run installs them"
    );
    eprintln!("*** SKIPPED: python3 with pyjwt, authlib and cryptography is not installed ***");
    false
}

fn run_client(server: &Server) -> Value {
    let out = Command::new("python3")
        .arg(SCRIPT)
        .env("WEBQX_ADDR", &server.addr)
        .env("WEBQX_CACERT", server.ca())
        .env("WEBQX_TOKEN", server.admin_token())
        .env("NO_PROXY", "*")
        .env_remove("http_proxy")
        .env_remove("https_proxy")
        .env_remove("HTTP_PROXY")
        .env_remove("HTTPS_PROXY")
        .env_remove("ALL_PROXY")
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "client failed:\n{stdout}\n{stderr}\nserver log:\n{}",
        server.log()
    );
    serde_json::from_str(stdout.trim()).unwrap_or_else(|_| panic!("not JSON: {stdout}"))
}

#[test]
fn pyjwt_and_authlib_get_verify_introspect_and_revoke_a_token() {
    if !python_libraries() {
        return;
    }
    let mut stores = vec![("sqlite", Vec::new())];
    if let Some(env) = webqx_testkit::server::postgres_env() {
        stores.push(("postgres", env));
    }
    for (label, env) in stores {
        let server = Server::start(BIN, &env);
        let seen = run_client(&server);
        assert_eq!(seen["alg"], "EdDSA", "{label}: {seen}");
        assert_eq!(seen["kid"], "webqx-oauth-signing-v1");
        assert_eq!(seen["verified_scope"], "system/Observation.rs");
        assert_eq!(seen["active_before"], true);
        assert_eq!(seen["active_after"], false);
    }
}
