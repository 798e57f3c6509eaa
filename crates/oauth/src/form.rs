//! Strict `application/x-www-form-urlencoded` parsing for the OAuth endpoints
//! (RFC 6749 §3.2: a parameter sent more than once is an error; empty values count as
//! absent). Names and values must be UTF-8 after percent-decoding.

use std::collections::BTreeMap;

/// Longest form body accepted, in bytes (an assertion is at most 8 KiB).
pub const MAX_FORM_BYTES: usize = 16 * 1024;
/// Most parameters accepted.
const MAX_PARAMS: usize = 32;

/// Why a form was refused; the text is safe to show (it never repeats a value).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormError {
    /// Over [`MAX_FORM_BYTES`] or too many parameters.
    TooLarge,
    /// Bad percent-encoding or not UTF-8.
    Malformed,
    /// A parameter was sent more than once; names it (names are ours, not secrets).
    Repeated(String),
}

impl std::fmt::Display for FormError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::TooLarge => write!(
                f,
                "the form is over {MAX_FORM_BYTES} bytes or {MAX_PARAMS} parameters"
            ),
            Self::Malformed => f.write_str(
                "the body is not application/x-www-form-urlencoded UTF-8 (bad percent-encoding)",
            ),
            Self::Repeated(name) => write!(f, "parameter '{name}' is sent more than once"),
        }
    }
}

impl std::error::Error for FormError {}

/// Parses a form body into its parameters. Empty values are dropped.
///
/// # Errors
/// [`FormError`].
pub fn parse(body: &[u8]) -> Result<BTreeMap<String, String>, FormError> {
    if body.len() > MAX_FORM_BYTES {
        return Err(FormError::TooLarge);
    }
    let mut out = BTreeMap::new();
    for pair in body.split(|b| *b == b'&').filter(|p| !p.is_empty()) {
        let (name, value) = match pair.iter().position(|b| *b == b'=') {
            Some(at) => (&pair[..at], &pair[at + 1..]),
            None => (pair, &[][..]),
        };
        let (name, value) = (decode(name)?, decode(value)?);
        if value.is_empty() {
            continue;
        }
        if out.contains_key(&name) {
            let shown: String = name.chars().take(40).filter(|c| !c.is_control()).collect();
            return Err(FormError::Repeated(shown));
        }
        out.insert(name, value);
        if out.len() > MAX_PARAMS {
            return Err(FormError::TooLarge);
        }
    }
    Ok(out)
}

/// Percent-decodes one name or value (`+` is a space).
///
/// # Errors
/// [`FormError::Malformed`].
pub fn decode(text: &[u8]) -> Result<String, FormError> {
    let mut bytes = Vec::with_capacity(text.len());
    let mut rest = text.iter();
    while let Some(&b) = rest.next() {
        match b {
            b'+' => bytes.push(b' '),
            b'%' => {
                let hi = rest.next().and_then(|h| hex(*h));
                let lo = rest.next().and_then(|l| hex(*l));
                match (hi, lo) {
                    (Some(hi), Some(lo)) => bytes.push(hi << 4 | lo),
                    _ => return Err(FormError::Malformed),
                }
            }
            other => bytes.push(other),
        }
    }
    String::from_utf8(bytes).map_err(|_| FormError::Malformed)
}

fn hex(digit: u8) -> Option<u8> {
    char::from(digit)
        .to_digit(16)
        .and_then(|d| u8::try_from(d).ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_decodes() {
        let form = parse(
            b"grant_type=client_credentials&scope=system%2F*.rs+webqx%3Akeys%2Fa%3Aencrypt&x=",
        )
        .unwrap();
        assert_eq!(form["grant_type"], "client_credentials");
        assert_eq!(form["scope"], "system/*.rs webqx:keys/a:encrypt");
        assert!(!form.contains_key("x"), "empty is absent");
    }

    #[test]
    fn refuses_repeats_bad_encoding_and_size() {
        assert_eq!(
            parse(b"scope=a&scope=b").unwrap_err(),
            FormError::Repeated("scope".into())
        );
        assert_eq!(parse(b"a=%zz").unwrap_err(), FormError::Malformed);
        assert_eq!(parse(b"a=%4").unwrap_err(), FormError::Malformed);
        assert_eq!(parse(b"a=%ff").unwrap_err(), FormError::Malformed);
        assert_eq!(
            parse(&vec![b'a'; MAX_FORM_BYTES + 1]).unwrap_err(),
            FormError::TooLarge
        );
        let many: Vec<String> = (0..40).map(|i| format!("p{i}=1")).collect();
        assert_eq!(
            parse(many.join("&").as_bytes()).unwrap_err(),
            FormError::TooLarge
        );
    }
}
