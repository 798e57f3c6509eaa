//! Lines of JSON entries. serde_json keeps no positions, so after a document parsed,
//! this scanner walks its text once and records, for the paths a reader asks for, the
//! line of each object key and of each array element's first character.
//!
//! Paths are JSON pointers (RFC 6901: `/packages/node_modules~1a`).

use std::collections::HashMap;

/// Deepest nesting the scanner follows (serde_json itself stops at 128).
const MAX_DEPTH: usize = 256;

/// Line numbers by JSON pointer.
#[derive(Debug, Default)]
pub(crate) struct JsonLines {
    lines: HashMap<String, u32>,
}

impl JsonLines {
    /// Scans `text` (already known to be valid JSON), recording the paths for which
    /// `wanted` (given the path's segments) answers true.
    pub(crate) fn scan(text: &str, wanted: &dyn Fn(&[String]) -> bool) -> JsonLines {
        let bytes = text.as_bytes();
        let mut lines = HashMap::new();
        let mut frames: Vec<Frame> = Vec::new();
        let mut path: Vec<String> = Vec::new();
        let mut line = 1u32;
        let mut i = 0usize;
        while let Some(&b) = bytes.get(i) {
            match b {
                b'\n' => line = line.saturating_add(1),
                b'"' => {
                    let end = string_end(bytes, i);
                    if let Some(Frame::Object {
                        expecting_key: expecting @ true,
                    }) = frames.last_mut()
                    {
                        *expecting = false;
                        let raw = text.get(i..end).unwrap_or("\"\"");
                        let key = serde_json::from_str::<String>(raw).unwrap_or_default();
                        if let Some(segment) = path.last_mut() {
                            *segment = key;
                        }
                        record(&mut lines, &path, line, wanted);
                    } else {
                        element_start(&frames, &mut path, &mut lines, line, wanted);
                    }
                    i = end;
                    continue;
                }
                b'{' | b'[' => {
                    element_start(&frames, &mut path, &mut lines, line, wanted);
                    if frames.len() >= MAX_DEPTH {
                        break;
                    }
                    frames.push(if b == b'{' {
                        Frame::Object {
                            expecting_key: true,
                        }
                    } else {
                        Frame::Array { index: 0 }
                    });
                    path.push(String::new());
                }
                b'}' | b']' => {
                    frames.pop();
                    path.pop();
                }
                b',' => match frames.last_mut() {
                    Some(Frame::Object { expecting_key }) => *expecting_key = true,
                    Some(Frame::Array { index }) => *index += 1,
                    None => {}
                },
                b' ' | b'\t' | b'\r' | b':' => {}
                _ => element_start(&frames, &mut path, &mut lines, line, wanted),
            }
            i += 1;
        }
        JsonLines { lines }
    }

    /// The line of the entry at `pointer`, or 0.
    pub(crate) fn line(&self, pointer: &str) -> u32 {
        self.lines.get(pointer).copied().unwrap_or(0)
    }
}

enum Frame {
    Object { expecting_key: bool },
    Array { index: usize },
}

/// Marks the start of an array element (a no-op inside objects). Called again for each
/// character of a scalar element; only the first call records.
fn element_start(
    frames: &[Frame],
    path: &mut [String],
    lines: &mut HashMap<String, u32>,
    line: u32,
    wanted: &dyn Fn(&[String]) -> bool,
) {
    if let Some(Frame::Array { index }) = frames.last() {
        if let Some(segment) = path.last_mut() {
            *segment = index.to_string();
        }
        record(lines, path, line, wanted);
    }
}

fn record(
    lines: &mut HashMap<String, u32>,
    path: &[String],
    line: u32,
    wanted: &dyn Fn(&[String]) -> bool,
) {
    if wanted(path) {
        lines.entry(pointer(path)).or_insert(line);
    }
}

/// The JSON pointer of a path.
pub(crate) fn pointer<S: AsRef<str>>(path: &[S]) -> String {
    let mut out = String::new();
    for segment in path {
        out.push('/');
        out.push_str(&segment.as_ref().replace('~', "~0").replace('/', "~1"));
    }
    out
}

/// The index just past the string starting at `start` (a `"`).
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}
