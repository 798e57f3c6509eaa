//! The export formats and their dispatch.

use webqx_audit::TrailRecord;

/// An export or sink format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// The stored record, one JSON object per line, with `hash` and `prev_hash`.
    Jsonl,
    /// FHIR R4 AuditEvent, one per line (NDJSON).
    Fhir,
    /// IHE ATNA: DICOM audit message XML (as the MSG of RFC 5424 with MSGID
    /// `IHE+RFC-3881`).
    Atna,
    /// ArcSight Common Event Format.
    Cef,
    /// Elastic Common Schema JSON.
    Ecs,
    /// Open Cybersecurity Schema Framework JSON.
    Ocsf,
}

impl Format {
    /// Every format, for help texts.
    pub const ALL: [Format; 6] = [
        Format::Jsonl,
        Format::Fhir,
        Format::Atna,
        Format::Cef,
        Format::Ecs,
        Format::Ocsf,
    ];

    /// The format's name, as in config and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Format::Jsonl => "jsonl",
            Format::Fhir => "fhir",
            Format::Atna => "atna",
            Format::Cef => "cef",
            Format::Ecs => "ecs",
            Format::Ocsf => "ocsf",
        }
    }

    /// Reads a format name.
    pub fn parse(name: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|f| f.name() == name)
    }

    /// True when [`Format::render`] gives a JSON object.
    pub fn is_json(self) -> bool {
        !matches!(self, Format::Atna | Format::Cef)
    }

    /// The RFC 5424 MSGID to send this format under.
    pub fn msgid(self) -> &'static str {
        match self {
            Format::Atna => webqx_audit::render::atna::MSGID,
            Format::Cef => "CEF",
            _ => "webqx-audit",
        }
    }

    /// One record in this format, on one line (no trailing newline).
    pub fn render(self, rec: &TrailRecord) -> String {
        match self {
            Format::Jsonl => jsonl(rec),
            Format::Fhir => webqx_audit::render::fhir::render(rec).to_string(),
            Format::Atna => {
                webqx_audit::render::atna::render(&webqx_audit::render::fhir::render(rec))
            }
            Format::Cef => crate::cef::render(rec),
            Format::Ecs => crate::ecs::render(rec).to_string(),
            Format::Ocsf => crate::ocsf::render(rec).to_string(),
        }
    }
}

/// The stored body with its chain hashes added, so an export can be re-verified.
fn jsonl(rec: &TrailRecord) -> String {
    let mut value = serde_json::to_value(&rec.entry).unwrap_or_default();
    if let Some(obj) = value.as_object_mut() {
        obj.insert("hash".into(), rec.hash.clone().into());
        obj.insert("prev_hash".into(), rec.prev_hash.clone().into());
    }
    value.to_string()
}

/// One export line: the rendering, except ATNA, which is framed as the RFC 5424
/// message an ATNA repository receives (MSGID `IHE+RFC-3881`, facility authpriv).
pub fn export_line(format: Format, rec: &TrailRecord, hostname: &str) -> String {
    let text = format.render(rec);
    if format != Format::Atna {
        return text;
    }
    use webqx_audit::render::rfc5424;
    let severity = match rec.entry.outcome {
        webqx_audit::Outcome::Success => 5,
        webqx_audit::Outcome::Denied => 4,
        webqx_audit::Outcome::Failure => 3,
    };
    rfc5424::format(&rfc5424::Message {
        facility: rfc5424::FACILITY_AUTHPRIV,
        severity,
        timestamp: &rec.entry.time,
        hostname,
        app_name: "webqx-sec",
        procid: "",
        msgid: format.msgid(),
        structured_data: &[],
        msg: &text,
    })
}
