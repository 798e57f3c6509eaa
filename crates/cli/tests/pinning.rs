//! Certificate pinning (RFC 7469) end to end with the real binary and the real
//! `openssl`: `cert pin` on a file and on a live endpoint agrees with the pin that
//! openssl computes (RFC 7469 Appendix A's pipeline); pin sets need a backup pin; the CLI
//! refuses a server whose chain matches no configured pin (`--pin`, `WEBQX_PINS`).
//!
//! Under `CI=1` a missing `openssl` fails the test; otherwise the test is skipped loudly.

use std::process::{Command, Stdio};
use webqx_testkit::server::{Server, stderr, stdout};

const BIN: &str = env!("CARGO_BIN_EXE_webqx-sec");

fn have_openssl() -> bool {
    let ok = Command::new("openssl")
        .arg("version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "openssl missing; .ci/run installs it"
        );
        eprintln!("*** SKIPPED: openssl not installed ***");
    }
    ok
}

/// RFC 7469 Appendix A: the pin of the first certificate in `pem`, by openssl.
fn openssl_pin(pem: &std::path::Path) -> String {
    let script = format!(
        "openssl x509 -in '{}' -pubkey -noout | openssl pkey -pubin -outform der \
         | openssl dgst -sha256 -binary | openssl enc -base64",
        pem.display()
    );
    let out = Command::new("sh")
        .args(["-c", &script])
        .stderr(Stdio::inherit())
        .output()
        .expect("openssl runs");
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn pins_of(text: &str) -> Vec<String> {
    text.lines()
        .filter(|l| l.starts_with("pin-sha256="))
        .map(str::to_owned)
        .collect()
}

#[test]
fn cert_pin_agrees_with_openssl_and_the_cli_refuses_an_unpinned_server() {
    if !have_openssl() {
        return;
    }
    let server = Server::start(BIN, &[]);
    let chain = server.data.join("tls").join("server.pem");
    let expected = format!("pin-sha256=\"{}\"", openssl_pin(&chain));

    // From the file: one pin per certificate, with its subject.
    let out = server.cli(&["cert", "pin", chain.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    let text = stdout(&out);
    let file_pins = pins_of(&text);
    assert_eq!(file_pins.len(), 2, "{text}");
    assert_eq!(file_pins[0], expected);
    assert!(text.contains("# 0 CN=localhost"), "{text}");
    assert!(
        text.contains("# 1 CN=WebQx Security"),
        "the issuing CA: {text}"
    );

    // From the live endpoint: same chain, and a warning that trust was not checked.
    let hostport = server.addr.trim_start_matches("https://").to_owned();
    let out = server.cli(&["cert", "pin", &hostport]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(pins_of(&stdout(&out)), file_pins);
    assert!(
        stderr(&out).contains("WITHOUT checking trust"),
        "{}",
        stderr(&out)
    );

    // Pin sets: a backup pin is required.
    let backup = "pin-sha256=\"47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=\"";
    let chain_arg = chain.to_str().unwrap();
    let out = server.cli(&[
        "cert",
        "pins",
        "set",
        "ehr-api",
        &file_pins[0],
        &file_pins[1],
        "--chain",
        chain_arg,
    ]);
    assert_eq!(out.status.code(), Some(4), "no backup pin must be refused");
    assert!(stderr(&out).contains("backup pin"), "{}", stderr(&out));
    let out = server.cli(&["cert", "pins", "set", "ehr-api", &file_pins[0]]);
    assert_eq!(out.status.code(), Some(4), "a single pin must be refused");
    let out = server.cli(&[
        "cert",
        "pins",
        "set",
        "ehr-api",
        &file_pins[0],
        backup,
        "--chain",
        chain_arg,
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = server.cli(&["--json", "cert", "pins", "get", "ehr-api"]);
    let got: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got["pins"][0], file_pins[0].as_str());
    assert_eq!(got["pins"][1], backup);

    // A partner's pin set, whose pins have nothing to do with this server's chain: the
    // pins being stored do not pin the CLI's own connection.
    let partner = server.data.join("partner.pem");
    let made = std::process::Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
        ])
        .args([
            "-nodes",
            "-subj",
            "/CN=partner.example",
            "-days",
            "2",
            "-keyout",
        ])
        .arg(server.data.join("partner.key"))
        .arg("-out")
        .arg(&partner)
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "{}",
        String::from_utf8_lossy(&made.stderr)
    );
    let partner_pin = format!("pin-sha256=\"{}\"", openssl_pin(&partner));
    let out = server.cli(&[
        "cert",
        "pins",
        "set",
        "partner-api",
        &partner_pin,
        backup,
        "--chain",
        partner.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));

    // The CLI with pins: a matching pin works, a set without the server's keys refuses.
    let out = server.cli(&["--pin", &file_pins[0], "--pin", backup, "status"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = server.cli(&["--pin", &file_pins[1], "status"]);
    assert!(
        out.status.success(),
        "the CA's pin also matches: {}",
        stderr(&out)
    );
    let out = server.cli(&["--pin", backup, "status"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("certificate pinning failed"), "{err}");
    assert!(
        err.contains(&file_pins[0]),
        "the error names the pins seen: {err}"
    );
    let out = Command::new(BIN)
        .args(["--data-dir", server.data.to_str().unwrap(), "status"])
        .env(
            "WEBQX_PINS",
            format!("{backup};sha256/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
        )
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(3),
        "WEBQX_PINS is honoured: {}",
        stderr(&out)
    );

    let out = server.cli(&["cert", "pins", "delete", "ehr-api"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = server.cli(&["cert", "pins", "get", "ehr-api"]);
    assert_eq!(out.status.code(), Some(4));
    let out = server.cli(&["cert", "pin", "pin-sha256=\"garbage\""]);
    assert_eq!(
        out.status.code(),
        Some(2),
        "neither file nor HOST:PORT: {}",
        stderr(&out)
    );
}
