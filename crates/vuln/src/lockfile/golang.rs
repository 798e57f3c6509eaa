//! `go.mod`: `require` (blocks and single lines), `replace` applied, `exclude` honoured,
//! and optionally the standard library as `stdlib`.

use std::path::Path;

use super::text::saturate;
use super::{Kind, Lockfile, LockfileError, NoteKind, Options, note, package};
use crate::package::Ecosystem;

struct Require {
    path: String,
    version: String,
    line: u32,
}

struct Replace {
    from: String,
    from_version: Option<String>,
    to: String,
    to_version: Option<String>,
}

#[derive(Default)]
struct GoMod {
    go: Option<(String, u32)>,
    toolchain: Option<(String, u32)>,
    requires: Vec<Require>,
    replaces: Vec<Replace>,
    excludes: Vec<(String, String)>,
}

/// Reads a go.mod.
pub(crate) fn read(file: &Path, text: &str, options: Options) -> Result<Lockfile, LockfileError> {
    let module = parse(file, text)?;
    let mut out = Lockfile {
        path: file.to_path_buf(),
        kind: Kind::GoMod,
        packages: vec![],
        notes: vec![],
    };
    for require in &module.requires {
        if module
            .excludes
            .iter()
            .any(|(p, v)| *p == require.path && *v == require.version)
        {
            out.notes.push(note(
                NoteKind::Skipped,
                file,
                require.line,
                format!(
                    "{} {}: excluded by an `exclude` directive",
                    require.path, require.version
                ),
            ));
            continue;
        }
        let replace = module.replaces.iter().rev().find(|r| {
            r.from == require.path
                && r.from_version
                    .as_ref()
                    .is_none_or(|v| *v == require.version)
        });
        match replace {
            None => out.packages.push(package(
                Ecosystem::Go,
                &require.path,
                &require.version,
                file,
                require.line,
            )),
            Some(Replace {
                to,
                to_version: Some(v),
                ..
            }) => {
                out.packages
                    .push(package(Ecosystem::Go, to, v, file, require.line));
            }
            Some(Replace {
                to_version: None, ..
            }) => out.notes.push(note(
                NoteKind::NotMatchable,
                file,
                require.line,
                format!("{}: replaced by a local folder, not checked", require.path),
            )),
        }
    }
    if options.go_stdlib {
        let version = module
            .toolchain
            .as_ref()
            .map(|(v, l)| (v.trim_start_matches("go").to_string(), *l));
        if let Some((version, line)) = version.or(module.go.clone()) {
            out.packages.push(package(
                Ecosystem::Go,
                "stdlib",
                format!("v{version}"),
                file,
                line,
            ));
        }
    }
    Ok(out)
}

/// The directives, with `//` comments removed.
fn parse(file: &Path, text: &str) -> Result<GoMod, LockfileError> {
    let mut module = GoMod::default();
    let mut block: Option<(String, u32)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = saturate(i + 1);
        let content = raw.split("//").next().unwrap_or("").trim();
        if content.is_empty() {
            continue;
        }
        if let Some((verb, _)) = &block {
            if content == ")" {
                block = None;
            } else {
                let verb = verb.clone();
                directive(file, line, &verb, content, &mut module)?;
            }
            continue;
        }
        let (verb, rest) = content.split_once([' ', '\t']).unwrap_or((content, ""));
        let rest = rest.trim();
        if rest == "(" {
            block = Some((verb.to_string(), line));
        } else {
            directive(file, line, verb, rest, &mut module)?;
        }
    }
    if let Some((verb, line)) = block {
        return Err(LockfileError::syntax(
            file,
            line,
            None,
            format!("`{} (` block is never closed; expected `)`", shown(&verb)),
        ));
    }
    Ok(module)
}

fn directive(
    file: &Path,
    line: u32,
    verb: &str,
    args: &str,
    module: &mut GoMod,
) -> Result<(), LockfileError> {
    let words = words(args);
    let bad = |expected: &str| {
        LockfileError::syntax(
            file,
            line,
            None,
            format!("malformed `{}`; expected {expected}", shown(verb)),
        )
    };
    match verb {
        "go" => module.go = Some((words.first().ok_or_else(|| bad("`go 1.N`"))?.clone(), line)),
        "toolchain" => {
            module.toolchain = Some((
                words.first().ok_or_else(|| bad("`toolchain goN`"))?.clone(),
                line,
            ))
        }
        "require" => match words.as_slice() {
            [path, version] if version.starts_with('v') => {
                module.requires.push(Require {
                    path: path.clone(),
                    version: version.clone(),
                    line,
                });
            }
            _ => return Err(bad("`module/path vX.Y.Z`")),
        },
        "exclude" => match words.as_slice() {
            [path, version] => module.excludes.push((path.clone(), version.clone())),
            _ => return Err(bad("`module/path vX.Y.Z`")),
        },
        "replace" => {
            let arrow = words
                .iter()
                .position(|w| w == "=>")
                .ok_or_else(|| bad("`old [v] => new [v]`"))?;
            let (left, right) = (
                words.get(..arrow).unwrap_or_default(),
                words.get(arrow + 1..).unwrap_or_default(),
            );
            let (from, from_version) = match left {
                [p] => (p.clone(), None),
                [p, v] => (p.clone(), Some(v.clone())),
                _ => return Err(bad("`old [v] => new [v]`")),
            };
            let (to, to_version) = match right {
                [p] => (p.clone(), None),
                [p, v] => (p.clone(), Some(v.clone())),
                _ => return Err(bad("`old [v] => new [v]`")),
            };
            module.replaces.push(Replace {
                from,
                from_version,
                to,
                to_version,
            });
        }
        "module" | "retract" | "godebug" | "tool" | "ignore" => {}
        _ => {
            return Err(LockfileError::syntax(
                file,
                line,
                Some(1),
                format!(
                    "unknown directive `{}`; expected module, go, toolchain, require, replace, exclude or retract",
                    shown(verb)
                ),
            ));
        }
    }
    Ok(())
}

/// Words separated by spaces; `"quoted"` and `` `raw` `` words are unquoted.
fn words(args: &str) -> Vec<String> {
    args.split_whitespace()
        .map(|w| w.trim_matches(|c| c == '"' || c == '`').to_string())
        .collect()
}

/// A word from the file, cut short for messages.
fn shown(word: &str) -> String {
    word.chars().take(32).collect()
}
