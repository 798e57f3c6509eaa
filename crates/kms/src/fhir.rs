//! Field-level protection of FHIR R4 resources.
//!
//! A [`Policy`] names, per resource type, the elements that hold PHI. Protecting a
//! resource encrypts those elements and leaves a resource that is still structurally
//! valid FHIR:
//!
//! - a complex element (a `HumanName`, an `Address`, a `ContactPoint`, an `Attachment`)
//!   is replaced by an element that carries only the extension
//!   [`PROTECTED_URL`] whose `valueString` is the ciphertext of the whole original;
//! - a primitive (`birthDate`, a reference's `display`, an attachment's `data`) loses
//!   its value, and its `_element` sibling (where FHIR JSON carries a primitive's id and
//!   extensions, such as a birth time) is replaced by one holding only the extension,
//!   whose ciphertext covers both the value and the original sibling;
//! - a narrative (`text`) keeps its required `status` and `div`, with a placeholder
//!   `div`, and carries the extension;
//! - an `Identifier` named in the policy's `search` list keeps its `system` and gets
//!   its `value` encrypted *deterministically* (AES-SIV) with the system as context, and
//!   the marker extension [`SEARCH_URL`], so that a FHIR token search
//!   `identifier=<system>|<ciphertext>` still finds it.
//!
//! Each ciphertext is bound (as AEAD context) to the resource type and the element's
//! path, so it cannot be moved to another element. Unprotecting needs no policy: it
//! finds the extensions, checks that their ciphertexts were made with the policy's keys
//! (so this is not a decryption oracle for other keys), and restores the original JSON
//! exactly: the same values, numbers with their original digits, and the same key order
//! (for an `_element` sibling, as long as it stood next to its element, as FHIR JSON
//! writes it).

use crate::ops::{Plain, Ring};
use crate::types::KeyType;
use crate::{Kms, KmsError};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use webqx_audit::RequestContext;
use webqx_crypto::SecretBytes;

/// URL of the extension that carries an encrypted element.
pub const PROTECTED_URL: &str = "https://webqx.health/fhir/StructureDefinition/protected";
/// URL of the extension that marks an identifier protected for equality search.
pub const SEARCH_URL: &str = "https://webqx.health/fhir/StructureDefinition/protected-search";
/// Search marker values: whether protecting created the identifier's `extension` array
/// (so that unprotecting removes it again) or found one there.
const MARK_CREATED: &str = "value";
const MARK_KEPT: &str = "value;extension-kept";
const PLACEHOLDER_DIV: &str =
    "<div xmlns=\"http://www.w3.org/1999/xhtml\">This narrative is protected.</div>";
/// Deepest nesting of JSON the walker follows.
const MAX_DEPTH: usize = 64;

/// Which elements of one resource type are protected.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TypeRule {
    /// Element paths encrypted with the randomized key (`name`, `contact.telecom`,
    /// `deceased[x]`, `extension(<url>).value[x]`).
    #[serde(default)]
    pub protect: Vec<String>,
    /// Paths of `Identifier` elements whose `value` is encrypted deterministically.
    #[serde(default)]
    pub search: Vec<String>,
}

/// What to protect and with which keys.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Key ring (aes256-gcm or chacha20-poly1305) for randomized encryption.
    pub key: String,
    /// Key ring (aes256-siv) for searchable identifiers.
    pub search_key: String,
    /// Also protect the `display` of every Reference (they carry patients' names) and
    /// the identifier of references made by identifier (deterministically, like other
    /// identifiers).
    pub protect_reference_display: bool,
    /// Rules per resource type; `*` applies to every type.
    pub resources: BTreeMap<String, TypeRule>,
}

/// Default key ring for randomized field encryption.
pub const DEFAULT_KEY: &str = "fhir-phi";
/// Default key ring for searchable identifiers.
pub const DEFAULT_SEARCH_KEY: &str = "fhir-search";

impl Default for Policy {
    /// The HIPAA identifiers that appear in FHIR R4: names, telecom, addresses, birth
    /// and death dates, identifiers, photos, contacts, narratives and free-text notes,
    /// attached documents, and the names in references' `display`.
    fn default() -> Self {
        let rule = |protect: &[&str], search: &[&str]| TypeRule {
            protect: protect.iter().map(|s| s.to_string()).collect(),
            search: search.iter().map(|s| s.to_string()).collect(),
        };
        let person = ["name", "telecom", "address", "birthDate", "photo"];
        let mut resources = BTreeMap::new();
        resources.insert(
            "*".into(),
            rule(&["text", "note.text", "note.authorString"], &[]),
        );
        resources.insert(
            "Patient".into(),
            rule(
                &[
                    "name",
                    "telecom",
                    "address",
                    "birthDate",
                    "deceasedDateTime",
                    "photo",
                    "contact.name",
                    "contact.telecom",
                    "contact.address",
                    "extension(http://hl7.org/fhir/StructureDefinition/patient-mothersMaidenName).value[x]",
                    "extension(http://hl7.org/fhir/StructureDefinition/patient-birthPlace).value[x]",
                ],
                &["identifier"],
            ),
        );
        resources.insert("RelatedPerson".into(), rule(&person, &["identifier"]));
        resources.insert("Person".into(), rule(&person, &["identifier"]));
        resources.insert(
            "DocumentReference".into(),
            rule(&["content.attachment.data"], &[]),
        );
        resources.insert(
            "DiagnosticReport".into(),
            rule(&["presentedForm.data", "conclusion"], &[]),
        );
        resources.insert(
            "Observation".into(),
            rule(&["valueString", "component.valueString"], &[]),
        );
        resources.insert("Coverage".into(), rule(&["subscriberId"], &["identifier"]));
        resources.insert(
            "Communication".into(),
            rule(
                &["payload.contentString", "payload.contentAttachment.data"],
                &[],
            ),
        );
        resources.insert("Composition".into(), rule(&["section.text"], &[]));
        resources.insert("Consent".into(), rule(&["sourceAttachment.data"], &[]));
        Policy {
            key: DEFAULT_KEY.into(),
            search_key: DEFAULT_SEARCH_KEY.into(),
            protect_reference_display: true,
            resources,
        }
    }
}

/// One step of an element path.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Seg {
    /// A key, exactly.
    Key(String),
    /// `deceased[x]`: any key with this prefix followed by a type name.
    Choice(String),
    /// `extension(<url>)`: the extensions with this URL.
    Ext(String),
}

fn parse_path(path: &str) -> Result<Vec<Seg>, String> {
    let mut segs = Vec::new();
    let mut rest = path;
    while !rest.is_empty() {
        if let Some(after) = rest.strip_prefix("extension(") {
            let end = after
                .find(')')
                .ok_or_else(|| format!("'{path}': missing ')' after extension("))?;
            segs.push(Seg::Ext(after[..end].to_owned()));
            rest = &after[end + 1..];
        } else {
            let end = rest.find('.').unwrap_or(rest.len());
            let seg = &rest[..end];
            let valid = |s: &str| !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric());
            match seg.strip_suffix("[x]") {
                Some(prefix) if valid(prefix) => segs.push(Seg::Choice(prefix.to_owned())),
                None if valid(seg) => segs.push(Seg::Key(seg.to_owned())),
                _ => return Err(format!("'{path}': '{seg}' is not an element name")),
            }
            rest = &rest[end..];
        }
        match rest.strip_prefix('.') {
            Some(r) if !r.is_empty() => rest = r,
            Some(_) => return Err(format!("'{path}' ends with '.'")),
            None if rest.is_empty() => {}
            None => return Err(format!("'{path}': expected '.' after ')'")),
        }
    }
    match segs.last() {
        None => Err("an element path is empty".into()),
        Some(Seg::Ext(_)) => Err(format!(
            "'{path}': name the extension's value, e.g. '{path}.value[x]'"
        )),
        Some(_) => Ok(segs),
    }
}

impl Policy {
    /// Checks every path and key name, saying which is wrong.
    ///
    /// # Errors
    /// A message naming the first bad path or key name.
    pub fn validate(&self) -> Result<(), String> {
        for name in [&self.key, &self.search_key] {
            crate::keys::check_name(name).map_err(|e| format!("fhir policy key '{name}': {e}"))?;
        }
        for (rt, rule) in &self.resources {
            let valid_type =
                rt == "*" || (!rt.is_empty() && rt.chars().all(|c| c.is_ascii_alphabetic()));
            if !valid_type {
                return Err(format!("'{rt}' is not a FHIR resource type (or '*')"));
            }
            for path in rule.protect.iter().chain(&rule.search) {
                parse_path(path).map_err(|e| format!("{rt}: {e}"))?;
            }
        }
        Ok(())
    }
}

/// What protecting or unprotecting one resource did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    /// Elements encrypted or decrypted.
    pub elements: usize,
}

/// Where in a resource something failed, and what.
#[derive(Debug)]
pub struct ItemError {
    /// A path such as `Patient.name` or `Bundle.entry`.
    pub location: String,
    /// The failure.
    pub error: KmsError,
}

impl std::fmt::Display for ItemError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.location, self.error)
    }
}

fn item_err(location: &str, error: KmsError) -> ItemError {
    ItemError {
        location: location.to_owned(),
        error,
    }
}

/// One path segment as it appears in contexts and error locations: a JSON key with `\`
/// and `.` escaped, so that a key holding a dot (`"contact.name"`) never reads as a
/// nested path (`contact` → `name`) and cannot borrow that element's ciphertexts.
fn seg(key: &str) -> String {
    if key.contains(['.', '\\']) {
        key.replace('\\', "\\\\").replace('.', "\\.")
    } else {
        key.to_owned()
    }
}

fn context_for(path: &str) -> Vec<u8> {
    format!("fhir:{path}").into_bytes()
}

fn search_context(system: Option<&str>) -> Vec<u8> {
    format!("fhir-search:{}", system.unwrap_or("")).into_bytes()
}

fn protected_ext(ciphertext: String) -> Value {
    let mut ext = Map::new();
    ext.insert("url".into(), PROTECTED_URL.into());
    ext.insert("valueString".into(), ciphertext.into());
    Value::Object(ext)
}

/// The ciphertext of our extension in an `extension` array, and its index.
fn find_ext(obj: &Map<String, Value>, url: &str) -> Option<(usize, String)> {
    let list = obj.get("extension")?.as_array()?;
    list.iter().enumerate().find_map(|(i, e)| {
        let e = e.as_object()?;
        if e.get("url")?.as_str()? != url {
            return None;
        }
        let value = e.get("valueString")?.as_str()?;
        Some((i, value.to_owned()))
    })
}

/// An element we replaced wholesale: only our extension, plus (for a narrative) the
/// placeholder `status` and `div`.
fn is_wrapper(obj: &Map<String, Value>) -> bool {
    let Some(list) = obj.get("extension").and_then(Value::as_array) else {
        return false;
    };
    list.len() == 1
        && find_ext(obj, PROTECTED_URL).is_some()
        && obj
            .keys()
            .all(|k| k == "extension" || k == "status" || k == "div")
}

fn is_reference(obj: &Map<String, Value>) -> bool {
    obj.get("display").is_some_and(Value::is_string)
        && (obj.contains_key("reference")
            || obj.contains_key("identifier")
            || !(obj.contains_key("code") || obj.contains_key("system")))
}

/// A Reference that names its target by identifier (`{"identifier": {...}}`, with a
/// `reference`, `type` or `display` beside it, or alone): the identifier is a patient's
/// MRN or SSN as often as not.
fn is_logical_reference(obj: &Map<String, Value>) -> bool {
    let Some(Value::Object(id)) = obj.get("identifier") else {
        return false;
    };
    id.contains_key("value")
        && obj.keys().all(|k| {
            matches!(
                k.as_str(),
                "reference" | "type" | "display" | "_display" | "identifier" | "id" | "extension"
            )
        })
}

fn key_index(obj: &Map<String, Value>, key: &str) -> usize {
    obj.keys().position(|k| k == key).unwrap_or(obj.len())
}

fn json_bytes(v: &Value) -> SecretBytes {
    SecretBytes::new(serde_json::to_vec(v).unwrap_or_default())
}

/// What a selected element holds.
enum Shape {
    /// An object, or an array of objects.
    Objects,
    /// An array of primitives.
    Primitives,
    /// A single primitive.
    Primitive,
}

/// Encrypts (protect) or decrypts (unprotect) with keys loaded up front, so the walk
/// itself never waits.
struct Walker<'a> {
    policy: &'a Policy,
    random: &'a Ring,
    search: &'a Ring,
    stats: Stats,
    /// In the unprotect walk: re-encrypt each ciphertext in place under the newest key
    /// version instead of restoring it, so nothing is ever in clear.
    rewrap: bool,
}

impl Walker<'_> {
    fn seal(&self, plaintext: SecretBytes, path: &str) -> Result<String, ItemError> {
        let version = self.random.key.latest_version;
        let plain = Plain {
            plaintext,
            context: context_for(path),
        };
        Ok(self
            .random
            .seal_loaded(version, &plain)
            .map_err(|e| item_err(path, e))?
            .ciphertext)
    }

    fn open(&self, ciphertext: &str, path: &str) -> Result<Value, ItemError> {
        let env = self
            .random
            .parse_ciphertext(ciphertext)
            .map_err(|e| item_err(path, e))?;
        let opened = self
            .random
            .open_loaded(&env, &context_for(path))
            .map_err(|e| item_err(path, e))?;
        serde_json::from_slice(opened.plaintext.expose())
            .map_err(|_| item_err(path, KmsError::Decrypt))
    }

    /// Decrypts a randomized ciphertext and encrypts its bytes again under the newest
    /// version, with the same context.
    fn reseal(&self, ciphertext: &str, path: &str) -> Result<String, ItemError> {
        let env = self
            .random
            .parse_ciphertext(ciphertext)
            .map_err(|e| item_err(path, e))?;
        let opened = self
            .random
            .open_loaded(&env, &context_for(path))
            .map_err(|e| item_err(path, e))?;
        self.seal(opened.plaintext, path)
    }

    /// Re-encrypts the ciphertext of our extension in `obj` in place.
    fn reseal_ext(&mut self, obj: &mut Map<String, Value>, path: &str) -> Result<(), ItemError> {
        let Some((index, ciphertext)) = find_ext(obj, PROTECTED_URL) else {
            return Ok(());
        };
        let fresh = self.reseal(&ciphertext, path)?;
        if let Some(ext) = obj
            .get_mut("extension")
            .and_then(|l| l.get_mut(index))
            .and_then(Value::as_object_mut)
        {
            ext.insert("valueString".into(), fresh.into());
        }
        self.stats.elements += 1;
        Ok(())
    }

    // ---- protect ----

    fn protect_resource(
        &mut self,
        obj: &mut Map<String, Value>,
        depth: usize,
    ) -> Result<(), ItemError> {
        let rt = match obj.get("resourceType").and_then(Value::as_str) {
            Some(rt) if !rt.is_empty() => rt.to_owned(),
            _ => {
                return Err(item_err(
                    "(resource)",
                    KmsError::Invalid("not a FHIR resource: it has no resourceType".into()),
                ));
            }
        };
        let rules: Vec<&TypeRule> = ["*", rt.as_str()]
            .iter()
            .filter_map(|k| self.policy.resources.get(*k))
            .collect();
        for rule in rules {
            for path in &rule.protect {
                let segs = parse_path(path).map_err(|e| item_err(&rt, KmsError::Invalid(e)))?;
                self.apply(obj, &segs, &mut vec![seg(&rt)], false)?;
            }
            for path in &rule.search {
                let segs = parse_path(path).map_err(|e| item_err(&rt, KmsError::Invalid(e)))?;
                self.apply(obj, &segs, &mut vec![seg(&rt)], true)?;
            }
        }
        let mut path = vec![seg(&rt)];
        let keys: Vec<String> = obj
            .keys()
            .filter(|k| !k.starts_with('_'))
            .cloned()
            .collect();
        for k in keys {
            path.push(seg(&k));
            if let Some(child) = obj.get_mut(&k) {
                self.walk_nested(child, &mut path, depth + 1)?;
            }
            path.pop();
        }
        Ok(())
    }

    /// Follows a policy path from `obj` and protects what it reaches.
    fn apply(
        &mut self,
        obj: &mut Map<String, Value>,
        segs: &[Seg],
        path: &mut Vec<String>,
        search: bool,
    ) -> Result<(), ItemError> {
        let Some((first, rest)) = segs.split_first() else {
            return Ok(());
        };
        if let Seg::Ext(url) = first {
            path.push("extension".into());
            if let Some(Value::Array(list)) = obj.get_mut("extension") {
                for item in list.iter_mut().filter_map(Value::as_object_mut) {
                    if item.get("url").and_then(Value::as_str) == Some(url.as_str()) {
                        self.apply(item, rest, path, search)?;
                    }
                }
            }
            path.pop();
            return Ok(());
        }
        let keys: Vec<String> = obj
            .keys()
            .filter(|k| match first {
                Seg::Key(name) => *k == name,
                Seg::Choice(prefix) => k
                    .strip_prefix(prefix.as_str())
                    .is_some_and(|t| t.starts_with(|c: char| c.is_ascii_uppercase())),
                Seg::Ext(_) => false,
            })
            .cloned()
            .collect();
        for key in keys {
            path.push(seg(&key));
            let result = if rest.is_empty() {
                self.protect_element(obj, &key, &path.join("."), search)
            } else {
                match obj.get_mut(&key) {
                    Some(Value::Object(child)) => self.apply(child, rest, path, search),
                    Some(Value::Array(items)) => items
                        .iter_mut()
                        .filter_map(Value::as_object_mut)
                        .try_for_each(|child| self.apply(child, rest, path, search)),
                    _ => Ok(()),
                }
            };
            path.pop();
            result?;
        }
        Ok(())
    }

    fn protect_element(
        &mut self,
        obj: &mut Map<String, Value>,
        key: &str,
        path: &str,
        search: bool,
    ) -> Result<(), ItemError> {
        if search {
            return match obj.get_mut(key) {
                Some(Value::Object(id)) => self.protect_identifier(id, path),
                Some(Value::Array(items)) => items
                    .iter_mut()
                    .filter_map(Value::as_object_mut)
                    .try_for_each(|id| self.protect_identifier(id, path)),
                _ => Ok(()),
            };
        }
        let shape = match obj.get(key) {
            None | Some(Value::Null) => return Ok(()),
            Some(Value::Array(items)) if items.iter().any(|v| !v.is_object()) => Shape::Primitives,
            Some(Value::Array(_)) | Some(Value::Object(_)) => Shape::Objects,
            Some(_) => Shape::Primitive,
        };
        match shape {
            Shape::Primitives => self.protect_primitive_array(obj, key, path),
            Shape::Primitive => self.protect_primitive(obj, key, path),
            Shape::Objects => match obj.get_mut(key) {
                Some(Value::Array(items)) => {
                    items.iter_mut().try_for_each(|v| self.wrap_object(v, path))
                }
                Some(v) => self.wrap_object(v, path),
                None => Ok(()),
            },
        }
    }

    fn wrap_object(&mut self, value: &mut Value, path: &str) -> Result<(), ItemError> {
        let Value::Object(obj) = value else {
            return Ok(());
        };
        if is_wrapper(obj) {
            return Ok(());
        }
        let narrative = obj.contains_key("div");
        let ciphertext = self.seal(json_bytes(value), path)?;
        let mut wrapper = Map::new();
        wrapper.insert(
            "extension".into(),
            Value::Array(vec![protected_ext(ciphertext)]),
        );
        if narrative {
            wrapper.insert("status".into(), "generated".into());
            wrapper.insert("div".into(), PLACEHOLDER_DIV.into());
        }
        *value = Value::Object(wrapper);
        self.stats.elements += 1;
        Ok(())
    }

    /// Seals a primitive together with its `_element` sibling (id and extensions, which
    /// describe the same PHI, such as a birth time) and returns our holder.
    fn seal_primitive(
        &self,
        value: &Value,
        sibling: Option<&Value>,
        path: &str,
    ) -> Result<Value, ItemError> {
        let mut payload = Map::new();
        payload.insert("v".into(), value.clone());
        if let Some(sibling) = sibling {
            payload.insert("e".into(), sibling.clone());
        }
        let ciphertext = self.seal(json_bytes(&Value::Object(payload)), path)?;
        let mut holder = Map::new();
        holder.insert(
            "extension".into(),
            Value::Array(vec![protected_ext(ciphertext)]),
        );
        Ok(Value::Object(holder))
    }

    fn protect_primitive(
        &mut self,
        obj: &mut Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<(), ItemError> {
        let under = format!("_{key}");
        let Some(value) = obj.get(key) else {
            return Ok(());
        };
        let holder = self.seal_primitive(value, obj.get(&under), path)?;
        replace_pair(obj, key, &under, holder);
        self.stats.elements += 1;
        Ok(())
    }

    fn protect_primitive_array(
        &mut self,
        obj: &mut Map<String, Value>,
        key: &str,
        path: &str,
    ) -> Result<(), ItemError> {
        let under = format!("_{key}");
        let Some(Value::Array(values)) = obj.get(key) else {
            return Ok(());
        };
        let siblings = match obj.get(&under) {
            None => None,
            Some(Value::Array(s)) if s.len() == values.len() => Some(s.clone()),
            Some(_) => {
                let why = format!(
                    "'{under}' must be an array as long as '{key}' (FHIR JSON keeps the ids and \
                     extensions of a primitive array there); fix the resource"
                );
                return Err(item_err(path, KmsError::Invalid(why)));
            }
        };
        let mut holders = Vec::with_capacity(values.len());
        for (i, value) in values.iter().enumerate() {
            let sibling = siblings.as_ref().map(|s| &s[i]);
            holders.push(self.seal_primitive(value, sibling, path)?);
        }
        self.stats.elements += holders.len();
        replace_pair(obj, key, &under, Value::Array(holders));
        Ok(())
    }

    fn protect_identifier(
        &mut self,
        id: &mut Map<String, Value>,
        path: &str,
    ) -> Result<(), ItemError> {
        if find_ext(id, SEARCH_URL).is_some() {
            return Ok(());
        }
        let Some(value) = id.get("value").and_then(Value::as_str) else {
            return Ok(());
        };
        let context = search_context(id.get("system").and_then(Value::as_str));
        let plain = Plain {
            plaintext: SecretBytes::from_slice(value.as_bytes()),
            context,
        };
        let sealed = self
            .search
            .seal_loaded(self.search.key.latest_version, &plain)
            .map_err(|e| item_err(path, e))?;
        id.insert("value".into(), sealed.ciphertext.into());
        let kept = match id.get("extension") {
            None => false,
            Some(Value::Array(_)) => true,
            Some(_) => {
                let why = "an Identifier's extension must be an array; fix the resource";
                return Err(item_err(path, KmsError::Invalid(why.into())));
            }
        };
        let mut marker = Map::new();
        marker.insert("url".into(), SEARCH_URL.into());
        let mark = if kept { MARK_KEPT } else { MARK_CREATED };
        marker.insert("valueString".into(), mark.into());
        match id.get_mut("extension") {
            Some(Value::Array(list)) => list.push(Value::Object(marker)),
            _ => {
                id.shift_insert(
                    0,
                    "extension".into(),
                    Value::Array(vec![Value::Object(marker)]),
                );
            }
        }
        self.stats.elements += 1;
        Ok(())
    }

    /// Walks the rest of the resource: protects references' `display` and every nested
    /// resource (contained, Bundle entries, Parameters) under its own type's rules.
    fn walk_nested(
        &mut self,
        value: &mut Value,
        path: &mut Vec<String>,
        depth: usize,
    ) -> Result<(), ItemError> {
        if depth > MAX_DEPTH {
            return Err(item_err(
                &path.join("."),
                KmsError::Invalid(format!("nested deeper than {MAX_DEPTH} levels")),
            ));
        }
        match value {
            Value::Array(items) => items
                .iter_mut()
                .try_for_each(|v| self.walk_nested(v, path, depth + 1)),
            Value::Object(obj) => {
                if obj.get("resourceType").is_some_and(Value::is_string) {
                    return self.protect_resource(obj, depth + 1);
                }
                if is_wrapper(obj) {
                    return Ok(());
                }
                if self.policy.protect_reference_display && is_reference(obj) {
                    path.push("display".into());
                    let result = self.protect_primitive(obj, "display", &path.join("."));
                    path.pop();
                    result?;
                }
                if self.policy.protect_reference_display && is_logical_reference(obj) {
                    path.push("identifier".into());
                    let here = path.join(".");
                    let result = match obj.get_mut("identifier") {
                        Some(Value::Object(id)) => self.protect_identifier(id, &here),
                        _ => Ok(()),
                    };
                    path.pop();
                    result?;
                }
                let keys: Vec<String> = obj
                    .keys()
                    .filter(|k| !k.starts_with('_'))
                    .cloned()
                    .collect();
                for k in keys {
                    path.push(seg(&k));
                    let result = match obj.get_mut(&k) {
                        Some(child) => self.walk_nested(child, path, depth + 1),
                        None => Ok(()),
                    };
                    path.pop();
                    result?;
                }
                Ok(())
            }
            _ => Ok(()),
        }
    }

    // ---- unprotect ----

    fn unprotect(
        &mut self,
        value: &mut Value,
        path: &mut Vec<String>,
        depth: usize,
    ) -> Result<(), ItemError> {
        if depth > MAX_DEPTH {
            return Err(item_err(
                &path.join("."),
                KmsError::Invalid(format!("nested deeper than {MAX_DEPTH} levels")),
            ));
        }
        if let Value::Array(items) = value {
            return items
                .iter_mut()
                .try_for_each(|v| self.unprotect(v, path, depth + 1));
        }
        let rt = value
            .get("resourceType")
            .and_then(Value::as_str)
            .map(str::to_owned);
        match rt {
            Some(rt) => self.unprotect_object(value, &mut vec![seg(&rt)], depth),
            None => self.unprotect_object(value, path, depth),
        }
    }

    fn unprotect_object(
        &mut self,
        value: &mut Value,
        path: &mut Vec<String>,
        depth: usize,
    ) -> Result<(), ItemError> {
        let here = path.join(".");
        let wrapped = match &*value {
            Value::Object(obj) if is_wrapper(obj) => find_ext(obj, PROTECTED_URL).map(|(_, c)| c),
            _ => None,
        };
        if let Some(ciphertext) = wrapped {
            if self.rewrap {
                if let Value::Object(obj) = value {
                    self.reseal_ext(obj, &here)?;
                }
            } else {
                *value = self.open(&ciphertext, &here)?;
                self.stats.elements += 1;
            }
            return Ok(());
        }
        let Value::Object(obj) = value else {
            return Ok(());
        };
        if let Some((index, _)) = find_ext(obj, SEARCH_URL) {
            self.restore_identifier(obj, index, &here)?;
        }
        let underscored: Vec<String> = obj.keys().filter(|k| k.starts_with('_')).cloned().collect();
        for under in underscored {
            let key = under[1..].to_owned();
            path.push(seg(&key));
            let here = path.join(".");
            let result = if self.rewrap {
                self.reseal_holders(obj.get_mut(&under), &here)
            } else {
                self.restore_primitive(obj, &under, &key, &here)
            };
            path.pop();
            result?;
        }
        let keys: Vec<String> = obj
            .keys()
            .filter(|k| !k.starts_with('_'))
            .cloned()
            .collect();
        for k in keys {
            path.push(seg(&k));
            let result = match obj.get_mut(&k) {
                Some(child) => self.unprotect(child, path, depth + 1),
                None => Ok(()),
            };
            path.pop();
            result?;
        }
        Ok(())
    }

    /// Rewrap: re-encrypts our holders (one, or an array of them) in place.
    fn reseal_holders(&mut self, holder: Option<&mut Value>, path: &str) -> Result<(), ItemError> {
        match holder {
            Some(Value::Object(h)) if is_wrapper(h) => self.reseal_ext(h, path),
            Some(Value::Array(items)) => items
                .iter_mut()
                .filter_map(Value::as_object_mut)
                .filter(|h| is_wrapper(h))
                .try_for_each(|h| self.reseal_ext(h, path)),
            _ => Ok(()),
        }
    }

    /// Opens one of our holders: the original value and its original sibling.
    fn open_holder(
        &self,
        holder: &Value,
        path: &str,
    ) -> Result<Option<(Value, Option<Value>)>, ItemError> {
        let Value::Object(h) = holder else {
            return Ok(None);
        };
        if !is_wrapper(h) {
            return Ok(None);
        }
        let Some((_, ciphertext)) = find_ext(h, PROTECTED_URL) else {
            return Ok(None);
        };
        let Value::Object(mut payload) = self.open(&ciphertext, path)? else {
            return Err(item_err(path, KmsError::Decrypt));
        };
        let value = payload
            .remove("v")
            .ok_or_else(|| item_err(path, KmsError::Decrypt))?;
        Ok(Some((value, payload.remove("e"))))
    }

    fn restore_primitive(
        &mut self,
        obj: &mut Map<String, Value>,
        under: &str,
        key: &str,
        path: &str,
    ) -> Result<(), ItemError> {
        let (value, sibling) = match obj.get(under) {
            Some(Value::Array(holders)) if !holders.is_empty() => {
                let mut opened = Vec::with_capacity(holders.len());
                for h in holders {
                    match self.open_holder(h, path)? {
                        Some(pair) => opened.push(pair),
                        None => return Ok(()),
                    }
                }
                let (values, siblings): (Vec<Value>, Vec<Option<Value>>) =
                    opened.into_iter().unzip();
                let sibling = siblings.iter().any(Option::is_some).then(|| {
                    Value::Array(
                        siblings
                            .into_iter()
                            .map(Option::unwrap_or_default)
                            .collect(),
                    )
                });
                (Value::Array(values), sibling)
            }
            Some(Value::Array(_)) => return Ok(()),
            Some(h) => match self.open_holder(h, path)? {
                Some(pair) => pair,
                None => return Ok(()),
            },
            None => return Ok(()),
        };
        if obj.contains_key(key) {
            return Err(item_err(
                path,
                KmsError::Invalid(format!(
                    "both '{key}' and a protected '{under}' are present"
                )),
            ));
        }
        self.stats.elements += match &value {
            Value::Array(v) => v.len(),
            _ => 1,
        };
        let index = key_index(obj, under);
        match sibling {
            Some(sibling) => {
                obj.insert(under.to_owned(), sibling);
            }
            None => {
                obj.shift_remove(under);
            }
        }
        obj.shift_insert(index.min(obj.len()), key.to_owned(), value);
        Ok(())
    }

    fn restore_identifier(
        &mut self,
        id: &mut Map<String, Value>,
        ext_index: usize,
        path: &str,
    ) -> Result<(), ItemError> {
        let created = find_ext(id, SEARCH_URL).is_some_and(|(_, mark)| mark == MARK_CREATED);
        let ciphertext = id
            .get("value")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_owned();
        let env = self
            .search
            .parse_ciphertext(&ciphertext)
            .map_err(|e| item_err(path, e))?;
        let context = search_context(id.get("system").and_then(Value::as_str));
        let opened = self
            .search
            .open_loaded(&env, &context)
            .map_err(|e| item_err(path, e))?;
        if self.rewrap {
            let plain = Plain {
                plaintext: opened.plaintext,
                context,
            };
            let fresh = self
                .search
                .seal_loaded(self.search.key.latest_version, &plain)
                .map_err(|e| item_err(path, e))?;
            id.insert("value".into(), fresh.ciphertext.into());
            self.stats.elements += 1;
            return Ok(());
        }
        let value = String::from_utf8(opened.plaintext.expose().to_vec())
            .map_err(|_| item_err(path, KmsError::Decrypt))?;
        id.insert("value".into(), value.into());
        if let Some(Value::Array(list)) = id.get_mut("extension") {
            list.remove(ext_index);
            if list.is_empty() && created {
                id.shift_remove("extension");
            }
        }
        self.stats.elements += 1;
        Ok(())
    }
}

/// Removes `key` and puts `holder` in `under`: where `under` was, or where `key` was.
fn replace_pair(obj: &mut Map<String, Value>, key: &str, under: &str, holder: Value) {
    let index = key_index(obj, key);
    obj.shift_remove(key);
    if obj.contains_key(under) {
        obj.insert(under.to_owned(), holder);
    } else {
        obj.shift_insert(index.min(obj.len()), under.to_owned(), holder);
    }
}

fn patient_refs(resources: &[Value]) -> Vec<String> {
    resources
        .iter()
        .filter_map(|r| {
            let rt = r.get("resourceType")?.as_str()?;
            let id = r.get("id")?.as_str()?;
            (rt == "Patient").then(|| format!("Patient/{id}"))
        })
        .take(100)
        .collect()
}

/// Which direction a batch goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Direction {
    Protect,
    Unprotect,
    Rewrap,
}

impl Kms {
    async fn fhir_rings(&self, policy: &Policy) -> Result<(Ring, Ring), KmsError> {
        let mut random = self
            .ring(&policy.key, "FHIR field encryption", |t| {
                matches!(t, KeyType::Aes256Gcm | KeyType::ChaCha20Poly1305)
            })
            .await?;
        let mut search = self
            .ring(&policy.search_key, "searchable FHIR identifiers", |t| {
                t == KeyType::Aes256Siv
            })
            .await?;
        // The walk cannot stop to read the store, so start from fresh rows: a version
        // rotated in on another node a moment ago must be there.
        random.refresh(self).await?;
        search.refresh(self).await?;
        random.preload(self).await?;
        search.preload(self).await?;
        Ok((random, search))
    }

    /// Protects each resource (a resource, a Bundle, or one NDJSON line) in place.
    /// Items that fail are left unchanged and reported with where they failed.
    ///
    /// # Errors
    /// Request-wide failures (sealed, missing or disabled keys).
    pub async fn fhir_protect(
        &self,
        ctx: &RequestContext,
        policy: &Policy,
        resources: &mut [Value],
    ) -> Result<Vec<Result<Stats, ItemError>>, KmsError> {
        self.fhir_batch(ctx, policy, resources, Direction::Protect)
            .await
    }

    /// Restores each protected resource in place.
    ///
    /// # Errors
    /// Request-wide failures; tampered or foreign ciphertexts fail their item.
    pub async fn fhir_unprotect(
        &self,
        ctx: &RequestContext,
        policy: &Policy,
        resources: &mut [Value],
    ) -> Result<Vec<Result<Stats, ItemError>>, KmsError> {
        self.fhir_batch(ctx, policy, resources, Direction::Unprotect)
            .await
    }

    /// Re-encrypts every protected element under the keys' newest versions, without
    /// the plaintext leaving the service.
    ///
    /// # Errors
    /// As for [`Kms::fhir_unprotect`].
    pub async fn fhir_rewrap(
        &self,
        ctx: &RequestContext,
        policy: &Policy,
        resources: &mut [Value],
    ) -> Result<Vec<Result<Stats, ItemError>>, KmsError> {
        self.fhir_batch(ctx, policy, resources, Direction::Rewrap)
            .await
    }

    async fn fhir_batch(
        &self,
        ctx: &RequestContext,
        policy: &Policy,
        resources: &mut [Value],
        direction: Direction,
    ) -> Result<Vec<Result<Stats, ItemError>>, KmsError> {
        let action = match direction {
            Direction::Protect => "fhir.protect",
            Direction::Unprotect => "fhir.unprotect",
            Direction::Rewrap => "fhir.rewrap",
        };
        let rec = ctx.record(action, Some(format!("key:{}", policy.key)));
        self.audited(rec, async |rec| {
            self.check_batch(resources.len())?;
            policy.validate().map_err(KmsError::Invalid)?;
            let (random, search) = self.fhir_rings(policy).await?;
            let patients: Vec<Value> = patient_refs(resources)
                .iter()
                .map(|p| self.audit.hmac(p.as_bytes()))
                .collect();
            let mut walker = Walker {
                policy,
                random: &random,
                search: &search,
                stats: Stats::default(),
                rewrap: false,
            };
            let mut out = Vec::with_capacity(resources.len());
            for resource in resources.iter_mut() {
                out.push(run_one(&mut walker, resource, direction));
            }
            let elements: usize = out
                .iter()
                .filter_map(|r| r.as_ref().ok())
                .map(|s| s.elements)
                .sum();
            let failed = out.iter().filter(|r| r.is_err()).count();
            rec.detail("resources", out.len())
                .detail("failed", failed)
                .detail("elements", elements);
            if let Some(Err(e)) = out.iter().find(|r| r.is_err()) {
                // The server answers nothing but the errors when any resource fails.
                rec.fail(webqx_audit::Outcome::Failure, e.error.kind());
            }
            if !patients.is_empty() {
                rec.hmac.insert("patients".into(), patients.into());
            }
            Ok(out)
        })
        .await
    }
}

fn run_one(
    walker: &mut Walker<'_>,
    resource: &mut Value,
    direction: Direction,
) -> Result<Stats, ItemError> {
    let mut work = resource.clone();
    walker.stats = Stats::default();
    walker.rewrap = direction == Direction::Rewrap;
    match direction {
        Direction::Protect => {
            let Value::Object(obj) = &mut work else {
                return Err(item_err(
                    "(resource)",
                    KmsError::Invalid("a FHIR resource is a JSON object".into()),
                ));
            };
            walker.protect_resource(obj, 0)?;
            check_restorable(walker, &work, resource)?;
        }
        Direction::Unprotect | Direction::Rewrap => {
            walker.unprotect(&mut work, &mut Vec::new(), 0)?
        }
    }
    // Only a fully processed resource replaces the input: never half-protected.
    *resource = work;
    Ok(std::mem::take(&mut walker.stats))
}

/// Refuses a protected resource unless unprotecting it gives back exactly the input:
/// that catches input which already carried our extensions (genuine ones from an
/// earlier protect, or forged ones that would pass PHI through), whatever the path.
fn check_restorable(
    walker: &mut Walker<'_>,
    protected: &Value,
    original: &Value,
) -> Result<(), ItemError> {
    let stats = std::mem::take(&mut walker.stats);
    let mut restored = protected.clone();
    let back = walker.unprotect(&mut restored, &mut Vec::new(), 0);
    walker.stats = stats;
    if back.is_ok() && restored == *original {
        return Ok(());
    }
    Err(item_err(
        "(resource)",
        KmsError::Invalid(format!(
            "the resource already carries WebQx protection extensions ({PROTECTED_URL} or \
             {SEARCH_URL}): unprotect it first, or remove extensions that are not ours"
        )),
    ))
}

/// Refuses JSON in which one object repeats a key: FHIR forbids it, and a JSON parser
/// keeps only one of the values, silently. Anything else malformed is left to the
/// parser to report.
///
/// # Errors
/// A message naming the repeated key.
pub fn check_unique_keys(text: &[u8]) -> Result<(), String> {
    enum Frame {
        Object {
            keys: std::collections::HashSet<String>,
            expect_key: bool,
        },
        Array,
    }
    let mut stack: Vec<Frame> = Vec::new();
    let mut i = 0;
    while i < text.len() {
        match text[i] {
            b'{' => stack.push(Frame::Object {
                keys: Default::default(),
                expect_key: true,
            }),
            b'[' => stack.push(Frame::Array),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => {
                if let Some(Frame::Object { expect_key, .. }) = stack.last_mut() {
                    *expect_key = true;
                }
            }
            b'"' => {
                let start = i;
                i += 1;
                while i < text.len() && text[i] != b'"' {
                    i += if text[i] == b'\\' { 2 } else { 1 };
                }
                if let Some(Frame::Object { keys, expect_key }) = stack.last_mut()
                    && *expect_key
                {
                    *expect_key = false;
                    let raw = &text[start..(i + 1).min(text.len())];
                    let key: String = serde_json::from_slice(raw)
                        .unwrap_or_else(|_| String::from_utf8_lossy(raw).into_owned());
                    if !keys.insert(key.clone()) {
                        let shown: String = key.chars().take(100).collect();
                        return Err(format!(
                            "the key \"{shown}\" appears twice in one object; FHIR JSON allows each key once"
                        ));
                    }
                }
            }
            _ => {}
        }
        i += 1;
    }
    Ok(())
}

/// Protects then unprotects `resource` with the default policy and fixed in-memory keys
/// (no store, no audit), returning the protected and the restored forms. For fuzzing
/// the walker; never use it to protect real data.
///
/// # Errors
/// The walker's error for the item, as text.
#[doc(hidden)]
pub fn roundtrip_in_memory(resource: &Value) -> Result<(Value, Value), String> {
    let policy = Policy::default();
    let (random, search) = fuzz_rings(&policy);
    let mut walker = Walker {
        policy: &policy,
        random: &random,
        search: &search,
        stats: Stats::default(),
        rewrap: false,
    };
    let mut protected = resource.clone();
    run_one(&mut walker, &mut protected, Direction::Protect).map_err(|e| e.to_string())?;
    let mut restored = protected.clone();
    run_one(&mut walker, &mut restored, Direction::Unprotect).map_err(|e| e.to_string())?;
    Ok((protected, restored))
}

/// Unprotects hostile input with fixed in-memory keys, for fuzzing.
///
/// # Errors
/// The walker's error for the item, as text.
#[doc(hidden)]
pub fn unprotect_in_memory(resource: &mut Value) -> Result<(), String> {
    let policy = Policy::default();
    let (random, search) = fuzz_rings(&policy);
    let mut walker = Walker {
        policy: &policy,
        random: &random,
        search: &search,
        stats: Stats::default(),
        rewrap: false,
    };
    run_one(&mut walker, resource, Direction::Unprotect)
        .map(drop)
        .map_err(|e| e.to_string())
}

fn fuzz_rings(policy: &Policy) -> (Ring, Ring) {
    let random = Ring::in_memory(
        &policy.key,
        KeyType::Aes256Gcm,
        SecretBytes::from_slice(&[7u8; 32]),
    );
    let search = Ring::in_memory(
        &policy.search_key,
        KeyType::Aes256Siv,
        SecretBytes::from_slice(&[9u8; 64]),
    );
    (random, search)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_parse_and_bad_ones_are_explained() {
        assert_eq!(
            parse_path("contact.name").unwrap(),
            vec![Seg::Key("contact".into()), Seg::Key("name".into())]
        );
        assert_eq!(
            parse_path("extension(http://x.org/a.b).value[x]").unwrap(),
            vec![
                Seg::Ext("http://x.org/a.b".into()),
                Seg::Choice("value".into())
            ]
        );
        for bad in [
            "",
            "a..b",
            "a.",
            "extension(x",
            "extension(x)",
            "na-me",
            "[x]",
        ] {
            assert!(parse_path(bad).is_err(), "{bad}");
        }
        Policy::default().validate().unwrap();
    }

    #[test]
    fn repeated_keys_are_found_at_any_depth() {
        assert!(check_unique_keys(br#"{"a":1,"b":{"a":2},"c":[{"a":1},{"a":2}]}"#).is_ok());
        let e = check_unique_keys(br#"{"x":{"birthDate":"1970","birthDate":"1980"}}"#).unwrap_err();
        assert!(e.contains("birthDate"), "{e}");
        assert!(
            check_unique_keys(br#"{"a\u0062":1,"ab":2}"#).is_err(),
            "escapes are decoded"
        );
        assert!(
            check_unique_keys(br#"{"k":"v,\"k\":1"}"#).is_ok(),
            "strings are skipped"
        );
        for junk in [&b"{\"a"[..], b"\"", b"}}}]]", b"{\"a\":1,"] {
            let _ = check_unique_keys(junk);
        }
    }

    #[test]
    fn in_memory_round_trip() {
        let r = serde_json::json!({"resourceType": "Patient", "name": [{"family": "X"}], "birthDate": "2000-01-01"});
        let (protected, restored) = roundtrip_in_memory(&r).unwrap();
        assert!(!protected.to_string().contains("2000-01-01"));
        assert_eq!(restored, r);
        for bad in [
            serde_json::json!({"resourceType": "Patient", "name": [null], "_name": []}),
            serde_json::json!({"resourceType": "Patient", "identifier": [{"value": "1", "extension": 5}]}),
        ] {
            assert!(
                roundtrip_in_memory(&bad)
                    .unwrap_err()
                    .contains("fix the resource"),
                "{bad}"
            );
        }
        let kept = serde_json::json!({"resourceType": "Patient", "identifier": [{"value": "1", "extension": []}]});
        assert_eq!(roundtrip_in_memory(&kept).unwrap().1, kept);
        let mut hostile = protected.clone();
        hostile["name"][0]["extension"][0]["valueString"] = "wqx1:AAAA".into();
        assert!(unprotect_in_memory(&mut hostile).is_err());
    }

    #[test]
    fn references_and_codings_are_told_apart() {
        let r: Map<String, Value> =
            serde_json::from_str(r#"{"reference":"Patient/1","display":"Jane"}"#).unwrap();
        let c: Map<String, Value> =
            serde_json::from_str(r#"{"system":"s","code":"c","display":"Flu"}"#).unwrap();
        assert!(is_reference(&r));
        assert!(!is_reference(&c));
    }
}
