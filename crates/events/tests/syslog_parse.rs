//! Properties of `syslog::parse` over generated input: it never panics, and what the
//! audit crate's RFC 5424 builder writes parses back to the same fields.

use proptest::prelude::*;
use webqx_audit::render::rfc5424 as builder;
use webqx_events::syslog::{self, Protocol};

fn header() -> impl Strategy<Value = String> {
    "[!-~]{0,20}".prop_filter("'-' is the NILVALUE", |s| s != "-")
}

fn sd_name() -> impl Strategy<Value = String> {
    "[!#-<>-\\\\^-~]{1,32}"
}

proptest! {
    #[test]
    fn parse_never_panics_on_bytes(raw in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = syslog::parse(&raw).map_err(|e| e.to_string());
    }

    #[test]
    fn parse_never_panics_on_syslog_like_text(raw in "<[0-9]{1,3}>(1 )?[ -~\\[\\]\"\\\\=]{0,200}") {
        let _ = syslog::parse(raw.as_bytes()).map_err(|e| e.to_string());
    }

    #[test]
    fn builder_output_parses_back(
        facility in 0u8..24,
        severity in 0u8..8,
        hostname in header(),
        app_name in header(),
        msgid in "[!-~]{0,32}".prop_filter("nil", |s| s != "-"),
        sd in proptest::collection::vec(
            (sd_name(), proptest::collection::vec((sd_name(), "\\PC{0,12}"), 0..3)),
            0..3,
        ),
        msg in "[^\u{feff}]{0,40}".prop_filter("a final LF is dropped", |m| !m.ends_with('\n')),
    ) {
        let elements: Vec<builder::SdElement> = sd
            .iter()
            .map(|(id, params)| builder::SdElement { id: id.clone(), params: params.clone() })
            .collect();
        let raw = builder::format(&builder::Message {
            facility,
            severity,
            timestamp: "2026-07-23T09:30:45.123456+02:00",
            hostname: &hostname,
            app_name: &app_name,
            procid: "",
            msgid: &msgid,
            structured_data: &elements,
            msg: &msg,
        });
        let m = syslog::parse(raw.as_bytes()).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let none_if_empty = |s: &str| (!s.is_empty()).then(|| s.to_owned());
        prop_assert_eq!(m.protocol(), Protocol::Rfc5424);
        prop_assert_eq!((m.facility(), m.severity()), (facility, severity));
        prop_assert_eq!(m.hostname().map(str::to_owned), none_if_empty(&hostname));
        prop_assert_eq!(m.app_name().map(str::to_owned), none_if_empty(&app_name));
        prop_assert_eq!(m.msgid().map(str::to_owned), none_if_empty(&msgid));
        prop_assert_eq!(m.procid(), None);
        let got: Vec<(String, Vec<(String, String)>)> = m
            .structured_data()
            .iter()
            .map(|e| (e.id.clone(), e.params.clone()))
            .collect();
        prop_assert_eq!(got, sd);
        prop_assert_eq!(m.msg(), Ok(msg.as_str()));
    }
}
