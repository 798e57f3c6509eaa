//! Compact JSON text written by hand: the same bytes `serde_json::to_string` writes
//! (same escapes, members in order, numbers as they were read), without serde's
//! machinery. Every event that enters a correlation window is written once; through
//! serde that was a tenth of `hunt`'s detecting thread.

use serde_json::Value;

/// Appends `value` as compact JSON.
pub fn write_value(value: &Value, out: &mut String) {
    match value {
        Value::Null => out.push_str("null"),
        Value::Bool(true) => out.push_str("true"),
        Value::Bool(false) => out.push_str("false"),
        // Numbers keep the text they were read or made as (`arbitrary_precision`).
        Value::Number(n) => out.push_str(n.as_str()),
        Value::String(s) => write_str(s, out),
        Value::Array(items) => {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_value(item, out);
            }
            out.push(']');
        }
        Value::Object(map) => {
            out.push('{');
            for (i, (k, v)) in map.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                write_str(k, out);
                out.push(':');
                write_value(v, out);
            }
            out.push('}');
        }
    }
}

/// Appends `text` as a JSON string: `"` and `\` escaped, control characters as `\n`,
/// `\t`… or `\u00XX` (lower-case hex), everything else (including non-ASCII) as is.
pub fn write_str(text: &str, out: &mut String) {
    out.reserve(text.len() + 2);
    out.push('"');
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        // Eight bytes at a time while none needs escaping (most text).
        if let Some(word) = bytes
            .get(i..i + 8)
            .and_then(|w| <[u8; 8]>::try_from(w).ok())
            && !needs_escape(u64::from_le_bytes(word))
        {
            i += 8;
            continue;
        }
        if b >= 0x20 && b != b'"' && b != b'\\' {
            i += 1;
            continue;
        }
        // Byte `i` is ASCII, so both slices end on character boundaries.
        out.push_str(&text[start..i]);
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            b'\n' => out.push_str("\\n"),
            b'\r' => out.push_str("\\r"),
            b'\t' => out.push_str("\\t"),
            0x08 => out.push_str("\\b"),
            0x0c => out.push_str("\\f"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.push_str("\\u00");
                out.push(char::from(HEX[usize::from(b >> 4)]));
                out.push(char::from(HEX[usize::from(b & 0xf)]));
            }
        }
        i += 1;
        start = i;
    }
    out.push_str(&text[start..]);
    out.push('"');
}

/// Whether any of the eight bytes in `word` is a control character, `"` or `\`
/// (the bit tricks of "Bit Twiddling Hacks", S. E. Anderson: a byte below `n`, for
/// `n` ≤ 128, and a zero byte after XOR with the byte sought; exact, not a guess).
fn needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let zero_byte = |x: u64| x.wrapping_sub(ONES) & !x & HIGH;
    let control = word.wrapping_sub(ONES * 0x20) & !word & HIGH;
    let quote = zero_byte(word ^ (ONES * u64::from(b'"')));
    let backslash = zero_byte(word ^ (ONES * u64::from(b'\\')));
    control | quote | backslash != 0
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn text(v: &Value) -> String {
        let mut out = String::new();
        write_value(v, &mut out);
        out
    }

    #[test]
    fn writes_what_serde_json_writes() {
        let all_bytes: String = (0u8..0x80).map(char::from).collect();
        for v in [
            json!(null),
            json!({"a": [1, -2.5, 1e300, true, false, null, {}, []], "b": {"c": "d"}}),
            json!(all_bytes),
            json!("é ü \u{2028} \u{10FFFF} \u{7f} / <script>"),
            serde_json::from_str::<Value>("[1.50, 1E5, -0, 12345678901234567890123]").unwrap(),
        ] {
            assert_eq!(text(&v), serde_json::to_string(&v).unwrap(), "{v:?}");
        }
    }

    fn value() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            any::<f64>()
                .prop_filter("finite", |f| f.is_finite())
                .prop_map(Value::from),
            any::<String>().prop_map(Value::String),
            "[\\x00-\\x7f\"\\\\é]{0,40}".prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 48, 6, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
                prop::collection::vec((any::<String>(), inner), 0..6)
                    .prop_map(|members| Value::Object(members.into_iter().collect())),
            ]
        })
    }

    proptest! {
        #[test]
        fn any_value_is_written_as_serde_json_writes_it(v in value()) {
            prop_assert_eq!(text(&v), serde_json::to_string(&v).unwrap());
        }
    }
}
