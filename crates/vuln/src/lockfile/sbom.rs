//! SBOMs in JSON: CycloneDX (`components`, nested) and SPDX (`packages` with a purl in
//! `externalRefs`). Packages come from their purls; entries without one, or with a purl
//! type we do not match, are notes.

use std::path::Path;

use serde_json::Value;

use super::json_lines::{JsonLines, pointer};
use super::purl::{Purl, purl_to_package};
use super::text::json_error;
use super::{Kind, Lockfile, LockfileError, NoteKind, note};

/// Reads a CycloneDX or SPDX JSON document, told apart by `bomFormat` / `spdxVersion`.
pub(crate) fn read(file: &Path, text: &str) -> Result<Lockfile, LockfileError> {
    let doc: Value = serde_json::from_str(text).map_err(|e| json_error(file, &e))?;
    let mut out = Lockfile {
        path: file.to_path_buf(),
        kind: Kind::SbomJson,
        packages: vec![],
        notes: vec![],
    };
    if doc.get("bomFormat").and_then(Value::as_str) == Some("CycloneDX") {
        cyclonedx(file, text, &doc, &mut out)?;
    } else if doc.get("spdxVersion").is_some() {
        spdx(file, text, &doc, &mut out)?;
    } else {
        return Err(LockfileError::syntax(
            file,
            1,
            None,
            "neither CycloneDX (`bomFormat`) nor SPDX (`spdxVersion`); expected a JSON SBOM",
        ));
    }
    Ok(out)
}

fn cyclonedx(
    file: &Path,
    text: &str,
    doc: &Value,
    out: &mut Lockfile,
) -> Result<(), LockfileError> {
    let lines = JsonLines::scan(text, &|path| {
        path.iter().step_by(2).all(|s| s == "components")
    });
    let mut pending: Vec<(Vec<String>, &Value)> = Vec::new();
    if let Some(top) = doc.get("components") {
        pending.push((vec!["components".to_string()], top));
    }
    while let Some((path, components)) = pending.pop() {
        let Some(list) = components.as_array() else {
            let line = lines.line(&pointer(&path));
            return Err(LockfileError::syntax(
                file,
                line,
                None,
                "expected `components` to be an array",
            ));
        };
        let mut nested = Vec::new();
        for (i, component) in list.iter().enumerate() {
            let mut here = path.clone();
            here.push(i.to_string());
            let line = lines.line(&pointer(&here));
            let name = component
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or("a component");
            from_purl(
                file,
                line,
                name,
                component.get("purl").and_then(Value::as_str),
                out,
            );
            if let Some(inner) = component.get("components") {
                here.push("components".to_string());
                nested.push((here, inner));
            }
        }
        pending.extend(nested.into_iter().rev());
    }
    Ok(())
}

fn spdx(file: &Path, text: &str, doc: &Value, out: &mut Lockfile) -> Result<(), LockfileError> {
    let lines = JsonLines::scan(text, &|path| {
        path.len() == 2 && path.first().is_some_and(|s| s == "packages")
    });
    let Some(packages) = doc.get("packages") else {
        return Ok(());
    };
    let Some(packages) = packages.as_array() else {
        return Err(LockfileError::syntax(
            file,
            0,
            None,
            "expected `packages` to be an array",
        ));
    };
    for (i, entry) in packages.iter().enumerate() {
        let line = lines.line(&pointer(&["packages", &i.to_string()]));
        let name = entry
            .get("name")
            .and_then(Value::as_str)
            .unwrap_or("a package");
        let purl = entry
            .get("externalRefs")
            .and_then(Value::as_array)
            .and_then(|refs| {
                refs.iter()
                    .find(|r| r.get("referenceType").and_then(Value::as_str) == Some("purl"))
                    .and_then(|r| r.get("referenceLocator"))
                    .and_then(Value::as_str)
            });
        from_purl(file, line, name, purl, out);
    }
    Ok(())
}

/// A package from a purl, or a note saying why not.
fn from_purl(file: &Path, line: u32, name: &str, purl: Option<&str>, out: &mut Lockfile) {
    let name: String = name.chars().take(200).collect();
    let Some(purl) = purl else {
        out.notes.push(note(
            NoteKind::NotMatchable,
            file,
            line,
            format!("{name}: no purl, not checked"),
        ));
        return;
    };
    if let Some(found) = purl_to_package(purl, file, line) {
        out.packages.push(found);
        return;
    }
    let message = match Purl::parse(purl) {
        None => format!("{name}: a malformed purl, not checked"),
        Some(p) if p.ecosystem_name().is_none() => {
            let ty: String = p.ty.chars().take(32).collect();
            format!("{name}: purl type `{ty}` is not matched, skipped")
        }
        Some(_) => format!("{name}: purl without a version, not checked"),
    };
    out.notes.push(note(NoteKind::Skipped, file, line, message));
}
