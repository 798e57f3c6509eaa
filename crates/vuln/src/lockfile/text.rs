//! Text helpers the readers share: UTF-8 checks, byte offsets to lines, and parser
//! errors turned into [`LockfileError`]s with positions.

use std::path::Path;

use super::LockfileError;

/// The bytes as UTF-8 text without a byte-order mark.
pub(crate) fn utf8<'a>(file: &Path, bytes: &'a [u8]) -> Result<&'a str, LockfileError> {
    match std::str::from_utf8(bytes) {
        Ok(text) => Ok(text.strip_prefix('\u{feff}').unwrap_or(text)),
        Err(e) => {
            let valid = bytes.get(..e.valid_up_to()).unwrap_or_default();
            let (line, column) = line_col(valid, valid.len());
            Err(LockfileError::syntax(
                file,
                line,
                Some(column),
                "invalid UTF-8; expected UTF-8 text",
            ))
        }
    }
}

/// 1-based line and column (in bytes) of a byte offset.
pub(crate) fn line_col(text: &[u8], offset: usize) -> (u32, u32) {
    let before = text.get(..offset.min(text.len())).unwrap_or_default();
    let line = before.iter().filter(|b| **b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|b| *b == b'\n')
        .map_or(0, |i| i + 1);
    (saturate(line), saturate(before.len() - line_start + 1))
}

/// A count as `u32`, saturating.
pub(crate) fn saturate(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// A TOML parse error with its position.
pub(crate) fn toml_error(file: &Path, text: &str, e: &toml::de::Error) -> LockfileError {
    let (line, column) = match e.span() {
        Some(span) => {
            let (l, c) = line_col(text.as_bytes(), span.start);
            (l, Some(c))
        }
        None => (0, None),
    };
    LockfileError::syntax(
        file,
        line,
        column,
        format!("not valid TOML for this file: {}", e.message()),
    )
}

/// A JSON parse error with its position.
pub(crate) fn json_error(file: &Path, e: &serde_json::Error) -> LockfileError {
    let column = (e.column() > 0).then(|| saturate(e.column()));
    LockfileError::syntax(
        file,
        saturate(e.line()),
        column,
        format!("not valid JSON for this file: {}", strip_position(e)),
    )
}

/// A YAML parse error with its position.
pub(crate) fn yaml_error(file: &Path, e: &yaml_serde::Error) -> LockfileError {
    let (line, column) = match e.location() {
        Some(at) => (saturate(at.line()), Some(saturate(at.column()))),
        None => (0, None),
    };
    LockfileError::syntax(
        file,
        line,
        column,
        format!("not valid YAML for this file: {e}"),
    )
}

/// serde_json's message without its trailing "at line L column C".
fn strip_position(e: &serde_json::Error) -> String {
    let message = e.to_string();
    match message.rfind(" at line ") {
        Some(at) => message.get(..at).unwrap_or(&message).to_string(),
        None => message,
    }
}

/// Lines (1-based) of every TOML `[[table]]` header with this name, in order.
pub(crate) fn array_table_lines(text: &str, table: &str) -> Vec<u32> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| {
            let line = line.trim();
            line.strip_prefix("[[")
                .and_then(|rest| rest.split(']').next())
                .is_some_and(|name| name.trim() == table)
        })
        .map(|(i, _)| saturate(i + 1))
        .collect()
}

/// The line of the n-th header, or 0.
pub(crate) fn nth_line(lines: &[u32], n: usize) -> u32 {
    lines.get(n).copied().unwrap_or(0)
}

/// PEP 503 normalization: lower case, runs of `-`, `_` and `.` as one `-`.
pub(crate) fn pep503(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_run = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_run {
                out.push('-');
            }
            in_run = true;
        } else {
            out.extend(c.to_lowercase());
            in_run = false;
        }
    }
    out
}

/// Deepest `[`/`{` nesting accepted in YAML text. Lockfiles nest flow collections two or
/// three deep; the YAML parser takes time quadratic in this depth (100,000 levels took
/// minutes), so deeper text is refused before it is parsed.
pub(crate) const MAX_YAML_FLOW_DEPTH: usize = 64;

/// Refuses YAML whose flow collections nest deeper than [`MAX_YAML_FLOW_DEPTH`]. A small
/// lexer: quoted scalars and comments are skipped; outside flow collections a bracket
/// opens one only where a node may start (after a space, `:`, `-`, `?`, `,` or at a
/// line start), so brackets inside plain text rarely count, and if they do the check
/// is only stricter.
pub(crate) fn yaml_depth_guard(file: &Path, text: &str) -> Result<(), LockfileError> {
    match yaml_too_deep(text) {
        None => Ok(()),
        Some((line, column)) => {
            let message =
                format!("brackets nest more than {MAX_YAML_FLOW_DEPTH} deep; expected a lockfile");
            Err(LockfileError::syntax(file, line, Some(column), message))
        }
    }
}

/// Where YAML text first nests flow collections deeper than [`MAX_YAML_FLOW_DEPTH`]
/// (1-based line and column), or `None`. OSV advisories in YAML get the same check.
pub(crate) fn yaml_too_deep(text: &str) -> Option<(u32, u32)> {
    let mut depth = 0usize;
    let mut quote: Option<char> = None;
    let mut chars = text.char_indices().peekable();
    let mut previous = '\n';
    while let Some((at, c)) = chars.next() {
        match quote {
            Some('"') if c == '\\' => {
                chars.next();
            }
            Some(q) if c == q => {
                if q == '\'' && chars.peek().is_some_and(|(_, n)| *n == '\'') {
                    chars.next();
                } else {
                    quote = None;
                }
            }
            Some(_) => {}
            None => match c {
                '#' if previous.is_whitespace() => {
                    for (_, n) in chars.by_ref() {
                        if n == '\n' {
                            break;
                        }
                    }
                }
                '"' | '\'' if depth > 0 || starts_node(previous) => quote = Some(c),
                '[' | '{' if depth > 0 || starts_node(previous) => {
                    depth += 1;
                    if depth > MAX_YAML_FLOW_DEPTH {
                        return Some(line_col(text.as_bytes(), at));
                    }
                }
                ']' | '}' => depth = depth.saturating_sub(1),
                _ => {}
            },
        }
        previous = c;
    }
    None
}

/// Whether a node may start after this character in block context.
fn starts_node(previous: char) -> bool {
    previous.is_whitespace() || matches!(previous, ':' | '-' | '?' | ',' | '[' | '{')
}
