//! Which rules see which events, and what Sigma's field names mean in our schema.
//!
//! Two tables live here, and `docs/detection.md` repeats them for readers:
//!
//! * [`DATASETS`]: for every `event.dataset`, the Sigma log sources whose rules may
//!   match it, and the fields that unfielded keyword searches look at. An event is
//!   only ever evaluated by the rules of its own dataset, which is the main reason
//!   the engine is fast: an sshd line never meets a web rule.
//! * [`FIELD_MAP`]: Sigma field names (as SigmaHQ rules write them) onto schema
//!   fields. Names that are already schema fields need no entry.

use rsigma_parser::LogSource;

/// One row of the dataset table.
#[derive(Debug)]
pub struct DatasetSpec {
    /// The `event.dataset` value.
    pub dataset: &'static str,
    /// Whether a rule with this log source applies to the dataset.
    accepts: fn(&LogSource) -> bool,
    /// Fields searched by keyword (unfielded) detections.
    pub keyword_fields: &'static [&'static str],
}

impl DatasetSpec {
    /// Whether a rule with `logsource` is evaluated on events of this dataset.
    pub fn accepts(&self, logsource: &LogSource) -> bool {
        (self.accepts)(logsource)
    }
}

fn is(value: &Option<String>, want: &str) -> bool {
    value
        .as_deref()
        .is_some_and(|v| v.eq_ignore_ascii_case(want))
}

fn linux_service(ls: &LogSource, services: &[&str]) -> bool {
    is(&ls.product, "linux")
        && ls.category.is_none()
        && ls
            .service
            .as_deref()
            .is_none_or(|s| services.iter().any(|want| s.eq_ignore_ascii_case(want)))
}

fn web(ls: &LogSource, server: &str) -> bool {
    let category_ok =
        ls.category.is_none() || is(&ls.category, "webserver") || is(&ls.category, "proxy");
    let product_ok = ls.product.is_none() || is(&ls.product, server);
    let service_ok = ls.service.is_none() || is(&ls.service, server);
    // A rule needs at least one of category or service to be a web rule at all.
    let is_web = ls.category.is_some() || is(&ls.service, server);
    is_web && category_ok && product_ok && service_ok
}

/// Error-log rules: SigmaHQ's convention (`service: apache` or `nginx`, no category),
/// and ours for either server's error log (`category: webserver`, `service: error`).
/// Request rules (`category: webserver` alone) do not compile here: error logs carry
/// no headers or bodies, and each dataset compiles its rules anew.
fn web_error_log(ls: &LogSource, server: &str) -> bool {
    let category_ok = ls.category.is_none() || is(&ls.category, "webserver");
    let product_ok = ls.product.is_none() || is(&ls.product, server);
    let service_ok = is(&ls.service, server) || is(&ls.service, "error");
    category_ok && product_ok && service_ok
}

const MESSAGE: &[&str] = &["message"];
const WEB_KEYWORDS: &[&str] = &["url.original", "url.decoded", "http.request.body.content"];
const ERROR_LOG_KEYWORDS: &[&str] = &["message", "url.original", "url.decoded"];

/// The dataset table: which log sources feed which dataset's rules.
pub const DATASETS: &[DatasetSpec] = &[
    DatasetSpec {
        dataset: "sshd",
        accepts: |ls| linux_service(ls, &["sshd", "auth"]),
        keyword_fields: MESSAGE,
    },
    DatasetSpec {
        dataset: "pam",
        accepts: |ls| linux_service(ls, &["auth", "pam"]),
        keyword_fields: MESSAGE,
    },
    DatasetSpec {
        dataset: "sudo",
        accepts: |ls| linux_service(ls, &["auth", "sudo"]),
        keyword_fields: MESSAGE,
    },
    DatasetSpec {
        dataset: "raw",
        accepts: |ls| is(&ls.product, "linux") && ls.category.is_none(),
        keyword_fields: MESSAGE,
    },
    DatasetSpec {
        dataset: "apache.access",
        accepts: |ls| web(ls, "apache"),
        keyword_fields: WEB_KEYWORDS,
    },
    DatasetSpec {
        dataset: "nginx.access",
        accepts: |ls| web(ls, "nginx"),
        keyword_fields: WEB_KEYWORDS,
    },
    DatasetSpec {
        dataset: "apache.error",
        accepts: |ls| web_error_log(ls, "apache"),
        keyword_fields: ERROR_LOG_KEYWORDS,
    },
    DatasetSpec {
        dataset: "nginx.error",
        accepts: |ls| web_error_log(ls, "nginx"),
        keyword_fields: ERROR_LOG_KEYWORDS,
    },
    DatasetSpec {
        dataset: "modsecurity.audit",
        accepts: |ls| {
            ["modsecurity", "apache", "nginx"]
                .iter()
                .any(|s| web(ls, s))
        },
        keyword_fields: WEB_KEYWORDS,
    },
    DatasetSpec {
        dataset: "fhir.auditevent",
        accepts: |ls| is(&ls.product, "ehr"),
        keyword_fields: MESSAGE,
    },
    DatasetSpec {
        dataset: "webqx.audit",
        accepts: |ls| is(&ls.product, "webqx"),
        keyword_fields: MESSAGE,
    },
];

/// Sigma field name → schema field(s). Several targets mean "any of them".
pub const FIELD_MAP: &[(&str, &[&str])] = &[
    // webserver (W3C extended log names, as SigmaHQ's webserver rules use them)
    ("cs-uri-query", &["url.decoded"]),
    ("cs-uri-stem", &["url.path"]),
    ("cs-uri", &["url.decoded"]),
    ("c-uri", &["url.decoded"]),
    ("c-uri-query", &["url.decoded"]),
    ("c-uri-stem", &["url.path"]),
    ("cs-method", &["http.request.method"]),
    ("sc-status", &["http.response.status_code"]),
    ("c-useragent", &["user_agent.original"]),
    ("cs-user-agent", &["user_agent.original"]),
    ("cs-referer", &["http.request.referrer"]),
    ("cs-cookie", &["http.request.cookies"]),
    ("c-ip", &["source.ip"]),
    ("cs-host", &["url.domain"]),
    ("cs-bytes", &["http.response.body.bytes"]),
    ("sc-bytes", &["http.response.body.bytes"]),
    // generic names some linux and custom rules use
    ("User", &["user.name"]),
    ("SourceIp", &["source.ip"]),
    ("CommandLine", &["process.command_line"]),
];

/// The dataset row for `event.dataset`, if the engine evaluates that dataset.
pub fn dataset(name: &str) -> Option<(usize, &'static DatasetSpec)> {
    DATASETS.iter().enumerate().find(|(_, d)| d.dataset == name)
}

/// The field mapping as an rsigma processing pipeline (YAML), built from [`FIELD_MAP`].
pub(crate) fn pipeline_yaml() -> String {
    let mut out = String::from(
        "name: webqx schema\npriority: 10\ntransformations:\n  - id: webqx_fields\n    \
         type: field_name_mapping\n    mapping:\n",
    );
    for (from, to) in FIELD_MAP {
        out.push_str(&format!("      '{from}':\n"));
        for target in *to {
            out.push_str(&format!("        - '{target}'\n"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ls(product: Option<&str>, service: Option<&str>, category: Option<&str>) -> LogSource {
        LogSource {
            product: product.map(str::to_owned),
            service: service.map(str::to_owned),
            category: category.map(str::to_owned),
            ..LogSource::default()
        }
    }

    fn accepted(logsource: &LogSource) -> Vec<&'static str> {
        DATASETS
            .iter()
            .filter(|d| d.accepts(logsource))
            .map(|d| d.dataset)
            .collect()
    }

    #[test]
    fn log_sources_route_to_their_datasets() {
        assert_eq!(
            accepted(&ls(Some("linux"), Some("sshd"), None)),
            ["sshd", "raw"]
        );
        assert_eq!(
            accepted(&ls(Some("linux"), None, None)),
            ["sshd", "pam", "sudo", "raw"]
        );
        assert_eq!(accepted(&ls(Some("linux"), Some("vsftpd"), None)), ["raw"]);
        assert_eq!(
            accepted(&ls(None, None, Some("webserver"))),
            ["apache.access", "nginx.access", "modsecurity.audit"]
        );
        assert_eq!(
            accepted(&ls(None, Some("error"), Some("webserver"))),
            ["apache.error", "nginx.error"]
        );
        assert_eq!(
            accepted(&ls(None, Some("apache"), None)),
            ["apache.access", "apache.error", "modsecurity.audit"]
        );
        assert_eq!(
            accepted(&ls(None, Some("nginx"), None)),
            ["nginx.access", "nginx.error", "modsecurity.audit"]
        );
        assert_eq!(
            accepted(&ls(None, Some("modsecurity"), None)),
            ["modsecurity.audit"]
        );
        assert_eq!(accepted(&ls(Some("ehr"), None, None)), ["fhir.auditevent"]);
        assert_eq!(
            accepted(&ls(Some("windows"), None, Some("process_creation"))),
            Vec::<&str>::new()
        );
    }

    #[test]
    fn the_field_map_is_a_valid_pipeline() {
        let pipeline = rsigma_eval::parse_pipeline(&pipeline_yaml()).expect("pipeline");
        assert_eq!(pipeline.transformations.len(), 1);
    }
}
