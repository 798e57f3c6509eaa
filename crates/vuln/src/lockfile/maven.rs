//! Maven `pom.xml`: the declared `<dependency>` versions and the `<parent>`, with
//! `${property}` substitution from `<properties>`, `${project.version}` and the
//! versions this file's `<dependencyManagement>` gives. What this one file cannot
//! resolve is a note, never a guess.

use std::collections::HashMap;
use std::path::Path;

use roxmltree::{Document, Node, ParsingOptions};

use super::text::saturate;
use super::{Kind, Lockfile, LockfileError, NoteKind, note, package};
use crate::package::Ecosystem;

/// How many property references one version may go through.
const MAX_SUBSTITUTIONS: usize = 16;

/// Reads a pom.xml.
pub(crate) fn read(file: &Path, text: &str) -> Result<Lockfile, LockfileError> {
    let options = ParsingOptions {
        allow_dtd: false,
        nodes_limit: 4_000_000,
        ..ParsingOptions::default()
    };
    let doc = Document::parse_with_options(text, options).map_err(|e| {
        let at = e.pos();
        LockfileError::syntax(file, at.row, Some(at.col), format!("not valid XML: {e}"))
    })?;
    let project = doc.root_element();
    if project.tag_name().name() != "project" {
        return Err(LockfileError::syntax(
            file,
            1,
            None,
            "expected a Maven `<project>` root element",
        ));
    }
    let line_of = |node: Node| saturate(doc.text_pos_at(node.range().start).row as usize);
    let properties = properties(project);
    let mut out = Lockfile {
        path: file.to_path_buf(),
        kind: Kind::PomXml,
        packages: vec![],
        notes: vec![],
    };

    let managed: HashMap<(String, String), String> = child(project, "dependencyManagement")
        .and_then(|m| child(m, "dependencies"))
        .map(|deps| {
            children(deps, "dependency")
                .filter_map(|d| {
                    Some((
                        (text_of(d, "groupId")?, text_of(d, "artifactId")?),
                        text_of(d, "version")?,
                    ))
                })
                .collect()
        })
        .unwrap_or_default();

    if let Some(parent) = child(project, "parent") {
        add(file, line_of(parent), parent, None, &properties, &mut out);
    }
    if let Some(deps) = child(project, "dependencies") {
        for dependency in children(deps, "dependency") {
            let key = (
                text_of(dependency, "groupId").unwrap_or_default(),
                text_of(dependency, "artifactId").unwrap_or_default(),
            );
            add(
                file,
                line_of(dependency),
                dependency,
                managed.get(&key),
                &properties,
                &mut out,
            );
        }
    }
    Ok(out)
}

/// `<properties>` plus the project's own coordinates.
fn properties(project: Node) -> HashMap<String, String> {
    let mut map = HashMap::new();
    if let Some(props) = child(project, "properties") {
        for p in props.children().filter(Node::is_element) {
            map.insert(
                p.tag_name().name().to_string(),
                p.text().unwrap_or("").trim().to_string(),
            );
        }
    }
    let parent = child(project, "parent");
    let parent_version = parent.and_then(|p| text_of(p, "version"));
    let project_version = text_of(project, "version").or_else(|| parent_version.clone());
    let group = text_of(project, "groupId").or_else(|| parent.and_then(|p| text_of(p, "groupId")));
    for (key, value) in [
        ("project.version", project_version.clone()),
        ("pom.version", project_version.clone()),
        ("version", project_version),
        ("project.groupId", group),
        ("project.parent.version", parent_version.clone()),
        ("parent.version", parent_version),
    ] {
        if let Some(value) = value {
            map.insert(key.to_string(), value);
        }
    }
    map
}

/// Adds one dependency (or the parent): a package, or a note saying why not.
fn add(
    file: &Path,
    line: u32,
    node: Node,
    managed: Option<&String>,
    properties: &HashMap<String, String>,
    out: &mut Lockfile,
) {
    let group = text_of(node, "groupId").and_then(|g| substitute(&g, properties));
    let artifact = text_of(node, "artifactId").and_then(|a| substitute(&a, properties));
    let (Some(group), Some(artifact)) = (group, artifact) else {
        out.notes.push(note(
            NoteKind::Unresolved,
            file,
            line,
            "a dependency without a resolvable groupId and artifactId",
        ));
        return;
    };
    let name = format!("{group}:{artifact}");
    let Some(declared) = text_of(node, "version").or_else(|| managed.cloned()) else {
        let message =
            format!("{name}: no version here (inherited from a parent or a BOM), not checked");
        out.notes
            .push(note(NoteKind::Unresolved, file, line, message));
        return;
    };
    let Some(version) = substitute(&declared, properties) else {
        let message =
            format!("{name}: its version names a property this file does not define, not checked");
        out.notes
            .push(note(NoteKind::Unresolved, file, line, message));
        return;
    };
    if version.starts_with(['[', '(']) || version.contains(',') {
        out.notes.push(note(
            NoteKind::Unpinned,
            file,
            line,
            format!("{name}: a version range, not checked"),
        ));
        return;
    }
    out.packages
        .push(package(Ecosystem::Maven, name, version, file, line));
}

/// Replaces `${name}` references, recursively and boundedly; `None` when one is unknown.
fn substitute(value: &str, properties: &HashMap<String, String>) -> Option<String> {
    let mut current = value.to_string();
    for _ in 0..MAX_SUBSTITUTIONS {
        let Some(start) = current.find("${") else {
            return Some(current);
        };
        let end = start + current.get(start..)?.find('}')?;
        let name = current.get(start + 2..end)?;
        let replacement = properties.get(name)?;
        current = format!(
            "{}{}{}",
            current.get(..start)?,
            replacement,
            current.get(end + 1..)?
        );
        if current.len() > 1024 {
            return None;
        }
    }
    (!current.contains("${")).then_some(current)
}

fn child<'a, 'i>(node: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    node.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

fn children<'a, 'i>(node: Node<'a, 'i>, name: &'static str) -> impl Iterator<Item = Node<'a, 'i>> {
    node.children()
        .filter(move |c| c.is_element() && c.tag_name().name() == name)
}

fn text_of(node: Node, name: &str) -> Option<String> {
    let text = child(node, name)?.text()?.trim();
    (!text.is_empty()).then(|| text.to_string())
}
