//! Reading a `POST /v1/events` body: its content coding undone ([`decode`]: none,
//! `identity` or `gzip`), then split into items ([`split`]): one JSON object, a JSON
//! array of objects, or NDJSON (one object per line). `application/json` is sniffed by
//! the first byte that is not white space (`[`: an array; otherwise one object, or
//! NDJSON when the body is not one JSON value); the NDJSON types are read by line.
//!
//! Each item is judged on its own (too large, not JSON, not an object, nested too
//! deeply): a bad item is reported with its [`Part::index`] and the others go on.
//! The index is what a client needs to find the item: its position in an array, or the
//! 0-based line on which it starts in NDJSON (blank lines count as lines and give no
//! item).

use serde_json::Value;
use std::borrow::Cow;
use std::io::Read;

/// Deepest nesting of an accepted event.
pub const MAX_DEPTH: usize = 32;

/// The media types `POST /v1/events` takes (without parameters), as the 415 answer
/// names them.
pub const ACCEPTED_TYPES: &str = "application/json (an object, an array, or NDJSON), or \
     application/x-ndjson (also application/ndjson, application/jsonl), with no charset \
     or charset=utf-8";

/// Limits of one body.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Most items.
    pub max_items: usize,
    /// Largest item, in bytes.
    pub max_item_bytes: usize,
}

/// Why the whole body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum BodyError {
    /// The body is empty.
    Empty,
    /// More items than allowed.
    TooManyItems(usize),
    /// A JSON array body that is not valid JSON.
    NotJson(String),
    /// The content type is not JSON or NDJSON (empty: none was sent).
    ContentType(String),
    /// More than one `Content-Type` header: which one the body is cannot be told.
    SeveralContentTypes,
    /// A charset other than UTF-8.
    Charset(String),
    /// A content coding other than `identity` and `gzip`.
    Encoding(String),
    /// `Content-Encoding: gzip`, but the body is not a whole, valid gzip stream.
    BadGzip,
    /// The body decompresses to more than this many bytes.
    TooLarge(usize),
}

/// At most 100 characters of a client's value, for a message.
fn shown(text: &str) -> String {
    text.chars()
        .take(100)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

impl std::fmt::Display for BodyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            BodyError::Empty => {
                f.write_str("the body is empty; send a JSON object, an array or NDJSON")
            }
            BodyError::TooManyItems(max) => write!(
                f,
                "the body holds more than {max} items ([monitor] max_items); send smaller batches"
            ),
            BodyError::NotJson(e) => write!(
                f,
                "the body is not JSON ({e}); send a JSON object, an array or NDJSON"
            ),
            BodyError::ContentType(t) if t.is_empty() => {
                write!(f, "the request has no Content-Type; send {ACCEPTED_TYPES}")
            }
            BodyError::ContentType(t) => write!(
                f,
                "content type '{t}' is not accepted; send {ACCEPTED_TYPES}"
            ),
            BodyError::SeveralContentTypes => write!(
                f,
                "the request has more than one Content-Type header; send one: {ACCEPTED_TYPES}"
            ),
            BodyError::Charset(c) => write!(
                f,
                "charset '{c}' is not accepted: JSON is UTF-8; send charset=utf-8 or none"
            ),
            BodyError::Encoding(e) => write!(
                f,
                "content coding '{e}' is not supported; send the body as it is, or with \
                 Content-Encoding: gzip"
            ),
            BodyError::BadGzip => f.write_str(
                "the body is not valid gzip (Content-Encoding: gzip); compress the whole \
                 body with gzip, or send it uncompressed without Content-Encoding",
            ),
            BodyError::TooLarge(max) => write!(
                f,
                "the body decompresses to more than {max} bytes (server.max_body_bytes); \
                 send smaller batches"
            ),
        }
    }
}

impl std::error::Error for BodyError {}

/// One item of a body: where it was, and the event object or why it was refused.
#[derive(Debug, Clone, PartialEq)]
pub struct Part {
    /// Its position in a JSON array, or the 0-based line on which it starts.
    pub index: usize,
    /// The event object, or why the item was refused.
    pub item: Result<Value, String>,
}

/// The body with its content coding undone. `content_encoding` is the
/// `Content-Encoding` header (its values joined by commas when sent several times):
/// none or `identity` leave the body as it is; `gzip` (or `x-gzip`) decompresses it,
/// every member of the stream, to at most `max_bytes`.
///
/// # Errors
/// [`BodyError::Encoding`] for any other coding, or several; [`BodyError::BadGzip`]
/// when the body is not a whole gzip stream (bad header, checksum, truncated, trailing
/// bytes); [`BodyError::TooLarge`] past `max_bytes`.
pub fn decode<'a>(
    content_encoding: Option<&str>,
    body: &'a [u8],
    max_bytes: usize,
) -> Result<Cow<'a, [u8]>, BodyError> {
    if !is_gzip(content_encoding)? {
        return Ok(Cow::Borrowed(body));
    }
    gunzip(body, max_bytes).map(Cow::Owned)
}

/// A gzip body decompressed, every member of the stream, to at most `max_bytes`.
///
/// # Errors
/// [`BodyError::BadGzip`] when the body is not a whole gzip stream;
/// [`BodyError::TooLarge`] past `max_bytes`.
pub fn gunzip(body: &[u8], max_bytes: usize) -> Result<Vec<u8>, BodyError> {
    if body.is_empty() {
        return Err(BodyError::BadGzip);
    }
    let limit = u64::try_from(max_bytes)
        .unwrap_or(u64::MAX)
        .saturating_add(1);
    let mut out = Vec::new();
    flate2::read::MultiGzDecoder::new(body)
        .take(limit)
        .read_to_end(&mut out)
        .map_err(|_| BodyError::BadGzip)?;
    if out.len() > max_bytes {
        return Err(BodyError::TooLarge(max_bytes));
    }
    Ok(out)
}

/// Whether the `Content-Encoding` header (see [`decode`]) asks for gzip (`true`) or no
/// coding (`false`).
///
/// # Errors
/// [`BodyError::Encoding`] for any other coding, or several.
pub fn is_gzip(content_encoding: Option<&str>) -> Result<bool, BodyError> {
    let coding = content_encoding.unwrap_or_default().trim();
    if coding.is_empty() || coding.eq_ignore_ascii_case("identity") {
        return Ok(false);
    }
    if coding.eq_ignore_ascii_case("gzip") || coding.eq_ignore_ascii_case("x-gzip") {
        return Ok(true);
    }
    Err(BodyError::Encoding(shown(coding)))
}

/// How the content type says to read the body.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `application/json`: an object, an array, or NDJSON (sniffed).
    Json,
    /// An NDJSON type: one object per line.
    Ndjson,
}

/// Refuses a content type [`split`] would refuse, before any work on the body.
///
/// # Errors
/// [`BodyError::ContentType`], [`BodyError::Charset`].
pub fn check_content_type(content_type: &str) -> Result<(), BodyError> {
    kind(content_type).map(|_| ())
}

/// Refuses a request that carries more than one `Content-Type` header (the first would
/// otherwise be taken silently).
///
/// # Errors
/// [`BodyError::SeveralContentTypes`].
pub fn check_single_content_type(headers: &axum::http::HeaderMap) -> Result<(), BodyError> {
    if headers
        .get_all(axum::http::header::CONTENT_TYPE)
        .iter()
        .nth(1)
        .is_some()
    {
        return Err(BodyError::SeveralContentTypes);
    }
    Ok(())
}

/// The body's kind from its `Content-Type` (parameters other than `charset` ignored).
fn kind(content_type: &str) -> Result<Kind, BodyError> {
    let mut parts = content_type.split(';');
    let essence = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    let kind = match essence.as_str() {
        "application/json" => Kind::Json,
        "application/x-ndjson" | "application/ndjson" | "application/jsonl" => Kind::Ndjson,
        _ => return Err(BodyError::ContentType(shown(&essence))),
    };
    for param in parts {
        let (name, value) = param.split_once('=').unwrap_or((param, ""));
        let value = value.trim().trim_matches('"');
        if name.trim().eq_ignore_ascii_case("charset") && !value.eq_ignore_ascii_case("utf-8") {
            return Err(BodyError::Charset(shown(value)));
        }
    }
    Ok(kind)
}

fn depth_ok(v: &Value, depth: usize) -> bool {
    if depth > MAX_DEPTH {
        return false;
    }
    match v {
        Value::Array(a) => a.iter().all(|x| depth_ok(x, depth + 1)),
        Value::Object(o) => o.values().all(|x| depth_ok(x, depth + 1)),
        _ => true,
    }
}

fn item(bytes: &[u8], limits: Limits) -> Result<Value, String> {
    if bytes.len() > limits.max_item_bytes {
        return Err(format!(
            "larger than {} bytes ([monitor] max_event_bytes)",
            limits.max_item_bytes
        ));
    }
    let value: Value = serde_json::from_slice(bytes).map_err(|e| format!("not JSON: {e}"))?;
    checked(value, limits)
}

fn checked(value: Value, limits: Limits) -> Result<Value, String> {
    if !value.is_object() {
        return Err("not a JSON object".into());
    }
    if !depth_ok(&value, 0) {
        return Err(format!("nested deeper than {MAX_DEPTH} levels"));
    }
    let _ = limits;
    Ok(value)
}

/// The body's items, in order, each with its index (see [`Part`]).
///
/// # Errors
/// [`BodyError`] when the body as a whole cannot be read: a content type or charset
/// that is not accepted, an empty body, too many items, an array that is not JSON.
pub fn split(content_type: &str, body: &[u8], limits: Limits) -> Result<Vec<Part>, BodyError> {
    let kind = kind(content_type)?;
    let Some(start) = body.iter().position(|b| !b.is_ascii_whitespace()) else {
        return Err(BodyError::Empty);
    };
    if kind == Kind::Json && body.get(start) == Some(&b'[') {
        return array(body, limits);
    }
    lines(body, start, limits)
}

fn array(body: &[u8], limits: Limits) -> Result<Vec<Part>, BodyError> {
    // The depth of the array is checked item by item; serde_json's own recursion limit
    // (128) bounds the parse.
    let values: Vec<Value> =
        serde_json::from_slice(body).map_err(|e| BodyError::NotJson(e.to_string()))?;
    if values.len() > limits.max_items {
        return Err(BodyError::TooManyItems(limits.max_items));
    }
    Ok(values
        .into_iter()
        .enumerate()
        .map(|(index, v)| {
            let item = if v.to_string().len() > limits.max_item_bytes {
                Err(format!(
                    "larger than {} bytes ([monitor] max_event_bytes)",
                    limits.max_item_bytes
                ))
            } else {
                checked(v, limits)
            };
            Part { index, item }
        })
        .collect())
}

/// One object (which may span lines: its index is the line it starts on), or NDJSON:
/// each line that is not blank is an item, indexed by its 0-based line number.
fn lines(body: &[u8], start: usize, limits: Limits) -> Result<Vec<Part>, BodyError> {
    if serde_json::from_slice::<serde::de::IgnoredAny>(body).is_ok() {
        let before = body.get(..start).unwrap_or_default();
        let index = before.iter().filter(|b| **b == b'\n').count();
        return Ok(vec![Part {
            index,
            item: item(body, limits),
        }]);
    }
    let mut out = Vec::new();
    for (index, line) in body.split(|b| *b == b'\n').enumerate() {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        if out.len() == limits.max_items {
            return Err(BodyError::TooManyItems(limits.max_items));
        }
        out.push(Part {
            index,
            item: item(line, limits),
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::io::Write;

    const L: Limits = Limits {
        max_items: 3,
        max_item_bytes: 100,
    };

    /// The items alone, in order.
    fn items(parts: Vec<Part>) -> Vec<Result<Value, String>> {
        parts.into_iter().map(|p| p.item).collect()
    }

    fn indexes(parts: &[Part]) -> Vec<usize> {
        parts.iter().map(|p| p.index).collect()
    }

    fn gzip(bytes: &[u8]) -> Vec<u8> {
        let mut z = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        z.write_all(bytes).unwrap();
        z.finish().unwrap()
    }

    #[test]
    fn object_array_and_ndjson() {
        let one = split("application/json", br#"{"a":1}"#, L).unwrap();
        assert_eq!(items(one), vec![Ok(json!({"a":1}))]);
        let arr = split("application/json", br#"[{"a":1}, 2, {"b":2}]"#, L).unwrap();
        assert_eq!(indexes(&arr), [0, 1, 2]);
        assert!(
            arr[1]
                .item
                .as_ref()
                .unwrap_err()
                .contains("not a JSON object")
        );
        let nd = split(
            "application/x-ndjson",
            b"{\"a\":1}\n\nnope\r\n{\"b\":2}\n",
            L,
        )
        .unwrap();
        assert_eq!(nd.len(), 3);
        assert!(nd[1].item.as_ref().unwrap_err().contains("not JSON"));
        // Sniffed: NDJSON sent as application/json.
        let sniffed = split("application/json", b"{\"a\":1}\n{\"b\":2}", L).unwrap();
        assert_eq!(sniffed.len(), 2);
        // A pretty-printed object is one item.
        let pretty = split("application/json", b"{\n \"a\": 1\n}\n", L).unwrap();
        assert_eq!(items(pretty), vec![Ok(json!({"a":1}))]);
    }

    #[test]
    fn an_ndjson_index_is_the_line_number() {
        // Lines 0 and 2 are blank; "nope" is on line 3, whatever comes before it.
        let nd = split(
            "application/x-ndjson",
            b"\n{\"a\":1}\n  \r\nnope\n\n\n{\"b\":2}\n",
            L,
        )
        .unwrap();
        assert_eq!(indexes(&nd), [1, 3, 6]);
        assert!(nd[1].item.is_err());
        // A lone object after blank lines starts on line 2.
        let one = split("application/x-ndjson", b"\n\n{\"a\":1}\n", L).unwrap();
        assert_eq!(indexes(&one), [2]);
        // Blank lines are not items: they count towards no limit.
        let spaced = split("application/x-ndjson", b"{}\n\n\n\n{}\n\n{}\n", L).unwrap();
        assert_eq!(indexes(&spaced), [0, 4, 6]);
    }

    #[test]
    fn only_json_and_ndjson_types_are_accepted() {
        for ct in [
            "application/json",
            "Application/JSON; charset=UTF-8",
            "application/json;charset=\"utf-8\"",
            "application/x-ndjson",
            "application/ndjson; charset=utf-8",
            "application/jsonl",
        ] {
            assert!(split(ct, b"{}", L).is_ok(), "{ct}");
        }
        for ct in [
            "",
            "text/plain",
            "text/plain; charset=utf-8",
            "application/x-www-form-urlencoded",
            "application/fhir+json",
            "application/octet-stream",
            "application/jsonx",
            "text/xml",
        ] {
            let e = split(ct, b"{}", L).unwrap_err();
            assert!(matches!(e, BodyError::ContentType(_)), "{ct}: {e:?}");
            assert!(e.to_string().contains("application/x-ndjson"), "{e}");
        }
        let e = split("application/json; charset=iso-8859-1", b"{}", L).unwrap_err();
        assert_eq!(e, BodyError::Charset("iso-8859-1".into()));
        assert!(e.to_string().contains("utf-8"));
    }

    #[test]
    fn limits_and_refusals() {
        assert_eq!(split("application/json", b"  \n", L), Err(BodyError::Empty));
        assert_eq!(
            split("application/json", b"[{},{},{},{}]", L),
            Err(BodyError::TooManyItems(3))
        );
        assert_eq!(
            split("application/x-ndjson", b"{}\n{}\n{}\n{}\n", L),
            Err(BodyError::TooManyItems(3))
        );
        let big = format!("{{\"a\":\"{}\"}}", "x".repeat(200));
        let r = split("application/json", big.as_bytes(), L).unwrap();
        assert!(r[0].item.as_ref().unwrap_err().contains("larger than"));
        let deep = format!(
            "{}{}",
            "{\"a\":".repeat(40),
            "1".to_owned() + &"}".repeat(40)
        );
        let r = split(
            "application/json",
            deep.as_bytes(),
            Limits {
                max_items: 3,
                max_item_bytes: 10_000,
            },
        )
        .unwrap();
        assert!(r[0].item.as_ref().unwrap_err().contains("nested deeper"));
        assert!(matches!(
            split("application/json", b"[{", L),
            Err(BodyError::NotJson(_))
        ));
    }

    #[test]
    fn gzip_is_undone_within_the_limit() {
        let body = b"{\"a\":1}\n{\"b\":2}\n";
        let z = gzip(body);
        for coding in ["gzip", "GZIP", " x-gzip "] {
            assert_eq!(&*decode(Some(coding), &z, 100).unwrap(), body, "{coding}");
        }
        // Two members (`cat a.gz b.gz`) are one stream.
        let mut two = gzip(b"{}\n");
        two.extend(gzip(b"{}\n"));
        assert_eq!(&*decode(Some("gzip"), &two, 100).unwrap(), b"{}\n{}\n");
        // Nothing to undo.
        for coding in [None, Some(""), Some("identity")] {
            assert!(matches!(decode(coding, body, 1), Ok(Cow::Borrowed(_))));
        }
        // A small bomb stops at the limit.
        let bomb = gzip(&vec![b' '; 1_000_000]);
        assert_eq!(
            decode(Some("gzip"), &bomb, 1000),
            Err(BodyError::TooLarge(1000))
        );
        assert!(
            decode(Some("gzip"), &z, body.len()).is_ok(),
            "exactly the limit"
        );
        assert_eq!(
            decode(Some("gzip"), &z, body.len() - 1),
            Err(BodyError::TooLarge(body.len() - 1))
        );
    }

    #[test]
    fn a_bogus_gzip_body_or_another_coding_is_refused() {
        let z = gzip(b"{\"a\":1}\n");
        let mut corrupt = z.clone();
        let mid = corrupt.len() / 2;
        corrupt[mid] ^= 0xff;
        let mut trailing = z.clone();
        trailing.extend_from_slice(b"{\"b\":2}");
        let truncated = &z[..z.len() - 4];
        for bad in [
            &b"{\"a\":1}"[..],
            b"",
            &corrupt,
            &trailing,
            truncated,
            &z[..3],
        ] {
            assert_eq!(
                decode(Some("gzip"), bad, 1000),
                Err(BodyError::BadGzip),
                "{bad:?}"
            );
        }
        for coding in [
            "deflate",
            "br",
            "zstd",
            "compress",
            "gzip, gzip",
            "gzip, identity",
        ] {
            let e = decode(Some(coding), &z, 1000).unwrap_err();
            assert!(matches!(e, BodyError::Encoding(_)), "{coding}: {e:?}");
            assert!(e.to_string().contains("gzip"), "{e}");
        }
    }

    proptest::proptest! {
        #[test]
        fn never_panics(ct in "(application/json|application/x-ndjson|text/plain|)", body in proptest::collection::vec(proptest::prelude::any::<u8>(), 0..300)) {
            let _ = split(&ct, &body, L);
            let _ = decode(Some("gzip"), &body, 1000);
        }

        #[test]
        fn ndjson_indexes_are_the_lines_of_the_items(lines in proptest::collection::vec("(|  |\\{\\}|x)", 0..12)) {
            let body = lines.join("\n");
            if let Ok(parts) = split("application/x-ndjson", body.as_bytes(), Limits { max_items: 100, max_item_bytes: 100 }) {
                for p in parts {
                    let line = lines[p.index].trim();
                    proptest::prop_assert!(!line.is_empty());
                }
            }
        }
    }
}
