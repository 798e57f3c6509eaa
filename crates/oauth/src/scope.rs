//! OAuth scopes: the grammar we accept, which granted scope covers which requested one,
//! and how our own scopes map onto API token policies.
//!
//! Two families are understood:
//! - SMART on FHIR scopes (for the EHR's FHIR servers; they grant nothing in our API):
//!   v2 `system/Patient.rs`, `user/*.cruds`, and v1 `patient/Observation.read`,
//!   `.write`, `.*`. v1 permissions are read as their v2 letters (`read` = `rs`,
//!   `write` = `cud`, `*` = `cruds`). v2 query suffixes (`?category=…`) are refused,
//!   since we cannot check them.
//! - Ours, `webqx:keys/<name>:<operation>`: `<operation>` is a key operation of
//!   [`webqx_tokens::Operation`] in kebab-case, `<name>` a key name or a `prefix*`
//!   pattern (`*` for every key).
//!
//! Anything else is refused: a client cannot be registered with, or ask for, a scope
//! we would not know how to enforce.

use std::fmt;
use webqx_tokens::{Operation, Policy};

/// Longest scope parameter accepted (the whole space-separated list), in bytes.
pub const MAX_SCOPE_PARAM: usize = 4096;
/// Most scopes in one list.
pub const MAX_SCOPES: usize = 100;
/// Longest resource type name in a SMART scope.
const MAX_RESOURCE_LEN: usize = 64;

/// Operations a `webqx:keys/...` scope may name: those that act on keys. Administrative
/// operations (`sys`, `key-admin`, `oauth-admin`, …) are never granted to OAuth clients.
pub const KEY_OPERATIONS: [Operation; 12] = [
    Operation::Encrypt,
    Operation::Decrypt,
    Operation::Rewrap,
    Operation::Datakey,
    Operation::Sign,
    Operation::Verify,
    Operation::Hmac,
    Operation::Export,
    Operation::KeyRead,
    Operation::FhirProtect,
    Operation::FhirUnprotect,
    Operation::TdeRead,
];

/// The SMART context of a scope.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmartContext {
    /// `patient/`.
    Patient,
    /// `user/`.
    User,
    /// `system/` (backend services).
    System,
}

/// Why a scope was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ScopeError {
    /// The scope list is too long or has too many entries.
    TooLong,
    /// One scope does not follow either grammar; the text is the reason (the scope is
    /// client input and is not repeated here).
    Malformed(&'static str),
}

impl fmt::Display for ScopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooLong => write!(
                f,
                "the scope list is over {MAX_SCOPE_PARAM} bytes or {MAX_SCOPES} scopes; \
                 ask for fewer scopes"
            ),
            Self::Malformed(why) => write!(
                f,
                "a scope is not understood ({why}); use SMART scopes like \
                 system/Patient.rs or webqx:keys/<name>:<operation>"
            ),
        }
    }
}

impl std::error::Error for ScopeError {}

/// One parsed scope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Scope {
    /// A SMART on FHIR scope.
    Smart {
        /// `patient`, `user` or `system`.
        context: SmartContext,
        /// The FHIR resource type, or `*`.
        resource: String,
        /// v2 permission letters as a bit set: c=1, r=2, u=4, d=8, s=16.
        perms: u8,
    },
    /// `webqx:keys/<pattern>:<operation>`.
    Keys {
        /// A key name, or a `prefix*` pattern.
        pattern: String,
        /// The operation.
        operation: Operation,
    },
}

const PERM_LETTERS: [(char, u8); 5] = [('c', 1), ('r', 2), ('u', 4), ('d', 8), ('s', 16)];

impl Scope {
    /// Parses one scope.
    ///
    /// # Errors
    /// [`ScopeError::Malformed`] naming the broken part.
    pub fn parse(text: &str) -> Result<Scope, ScopeError> {
        if let Some(rest) = text.strip_prefix("webqx:keys/") {
            return parse_keys(rest);
        }
        parse_smart(text)
    }

    /// Whether granting `self` also grants `requested`.
    #[must_use]
    pub fn covers(&self, requested: &Scope) -> bool {
        match (self, requested) {
            (
                Scope::Smart {
                    context,
                    resource,
                    perms,
                },
                Scope::Smart {
                    context: c2,
                    resource: r2,
                    perms: p2,
                },
            ) => context == c2 && (resource == "*" || resource == r2) && p2 & !perms == 0,
            (
                Scope::Keys { pattern, operation },
                Scope::Keys {
                    pattern: p2,
                    operation: o2,
                },
            ) => operation == o2 && pattern_covers(pattern, p2),
            _ => false,
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Scope::Smart {
                context,
                resource,
                perms,
            } => {
                let context = match context {
                    SmartContext::Patient => "patient",
                    SmartContext::User => "user",
                    SmartContext::System => "system",
                };
                write!(f, "{context}/{resource}.")?;
                for (letter, bit) in PERM_LETTERS {
                    if perms & bit != 0 {
                        write!(f, "{letter}")?;
                    }
                }
                Ok(())
            }
            Scope::Keys { pattern, operation } => {
                write!(f, "webqx:keys/{pattern}:{}", operation.as_str())
            }
        }
    }
}

fn pattern_covers(outer: &str, inner: &str) -> bool {
    match outer.strip_suffix('*') {
        Some(prefix) => inner.starts_with(prefix),
        None => outer == inner,
    }
}

fn parse_keys(rest: &str) -> Result<Scope, ScopeError> {
    let (pattern, op) = rest.rsplit_once(':').ok_or(ScopeError::Malformed(
        "webqx:keys scope lacks ':<operation>'",
    ))?;
    let operation = Operation::parse(op)
        .filter(|op| KEY_OPERATIONS.contains(op))
        .ok_or(ScopeError::Malformed(
            "webqx:keys scope names no key operation",
        ))?;
    let name = pattern.strip_suffix('*').unwrap_or(pattern);
    let valid = pattern == "*" || webqx_crypto::envelope::valid_key_name(name);
    if !valid {
        return Err(ScopeError::Malformed(
            "webqx:keys scope has a bad key name or pattern",
        ));
    }
    Ok(Scope::Keys {
        pattern: pattern.to_owned(),
        operation,
    })
}

fn parse_smart(text: &str) -> Result<Scope, ScopeError> {
    let (context, rest) = text
        .split_once('/')
        .ok_or(ScopeError::Malformed("neither SMART nor webqx:keys"))?;
    let context = match context {
        "patient" => SmartContext::Patient,
        "user" => SmartContext::User,
        "system" => SmartContext::System,
        _ => {
            return Err(ScopeError::Malformed(
                "SMART context is not patient/user/system",
            ));
        }
    };
    if rest.contains('?') {
        return Err(ScopeError::Malformed(
            "SMART scope query parameters are not supported",
        ));
    }
    let (resource, perms) = rest
        .split_once('.')
        .ok_or(ScopeError::Malformed("SMART scope lacks '.<permissions>'"))?;
    let resource_ok = resource == "*"
        || (resource.len() <= MAX_RESOURCE_LEN
            && resource.starts_with(|c: char| c.is_ascii_uppercase())
            && resource.chars().all(|c| c.is_ascii_alphanumeric()));
    if !resource_ok {
        return Err(ScopeError::Malformed("SMART resource type is not valid"));
    }
    Ok(Scope::Smart {
        context,
        resource: resource.to_owned(),
        perms: smart_perms(perms)?,
    })
}

/// v1 names, or v2 letters in the order c, r, u, d, s, each at most once.
fn smart_perms(text: &str) -> Result<u8, ScopeError> {
    match text {
        "read" => return Ok(2 | 16),
        "write" => return Ok(1 | 4 | 8),
        "*" => return Ok(31),
        _ => {}
    }
    let mut bits = 0u8;
    let mut next = 0;
    for letter in text.chars() {
        let position = PERM_LETTERS[next..]
            .iter()
            .position(|(l, _)| *l == letter)
            .ok_or(ScopeError::Malformed(
                "SMART permissions must be read, write, * or cruds letters in order",
            ))?;
        bits |= PERM_LETTERS[next + position].1;
        next += position + 1;
    }
    if bits == 0 {
        return Err(ScopeError::Malformed("SMART scope has no permissions"));
    }
    Ok(bits)
}

/// Parses a space-separated scope list (the OAuth `scope` parameter). Repeated scopes
/// are kept once; the order is kept.
///
/// # Errors
/// [`ScopeError`] for an oversized list or any scope not understood.
pub fn parse_list(text: &str) -> Result<Vec<Scope>, ScopeError> {
    if text.len() > MAX_SCOPE_PARAM {
        return Err(ScopeError::TooLong);
    }
    let mut out: Vec<Scope> = Vec::new();
    for word in text.split(' ').filter(|w| !w.is_empty()) {
        let scope = Scope::parse(word)?;
        if !out.contains(&scope) {
            out.push(scope);
        }
        if out.len() > MAX_SCOPES {
            return Err(ScopeError::TooLong);
        }
    }
    Ok(out)
}

/// What a client gets: every requested scope must be covered by an allowed one; an
/// empty request gets everything allowed. `Err` holds the first requested scope that
/// is not allowed.
///
/// # Errors
/// The first requested scope no allowed scope covers.
pub fn grant(allowed: &[Scope], requested: &[Scope]) -> Result<Vec<Scope>, Scope> {
    if requested.is_empty() {
        return Ok(allowed.to_vec());
    }
    match requested
        .iter()
        .find(|want| !allowed.iter().any(|have| have.covers(want)))
    {
        Some(refused) => Err(refused.clone()),
        None => Ok(requested.to_vec()),
    }
}

/// Joins scopes into the OAuth `scope` form.
#[must_use]
pub fn join(scopes: &[Scope]) -> String {
    scopes
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The API token policies our scopes grant, one per `webqx:keys` scope (kept apart so
/// that `a:encrypt b:decrypt` does not also allow decrypting with `a`). SMART scopes
/// grant nothing in our API.
#[must_use]
pub fn key_grants(scopes: &[Scope]) -> Vec<Policy> {
    scopes
        .iter()
        .filter_map(|scope| match scope {
            Scope::Keys { pattern, operation } => Some(Policy {
                admin: false,
                operations: vec![*operation],
                keys: vec![pattern.clone()],
            }),
            Scope::Smart { .. } => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(text: &str) -> Scope {
        Scope::parse(text).unwrap()
    }

    #[test]
    fn smart_v1_and_v2_forms_parse_and_print_as_v2() {
        assert_eq!(s("system/Patient.read").to_string(), "system/Patient.rs");
        assert_eq!(s("user/*.write").to_string(), "user/*.cud");
        assert_eq!(
            s("patient/Observation.*").to_string(),
            "patient/Observation.cruds"
        );
        assert_eq!(s("system/*.rs").to_string(), "system/*.rs");
        for bad in [
            "system/Patient.sr",
            "system/Patient.rr",
            "system/Patient.",
            "system/patient.r",
            "system/Patient",
            "admin/Patient.r",
            "system/Patient.r?category=x",
            "system/../x.r",
            "openid",
            "",
        ] {
            assert!(Scope::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn smart_coverage() {
        assert!(s("system/*.rs").covers(&s("system/Patient.read")));
        assert!(s("system/*.rs").covers(&s("system/Patient.r")));
        assert!(s("system/Patient.*").covers(&s("system/Patient.cud")));
        assert!(!s("system/Patient.rs").covers(&s("system/Patient.write")));
        assert!(!s("system/Patient.rs").covers(&s("system/Observation.r")));
        assert!(!s("system/*.rs").covers(&s("user/Patient.r")));
        assert!(!s("system/Patient.rs").covers(&s("system/*.r")));
    }

    #[test]
    fn key_scopes() {
        assert!(s("webqx:keys/phi-*:encrypt").covers(&s("webqx:keys/phi-notes:encrypt")));
        assert!(s("webqx:keys/phi-*:encrypt").covers(&s("webqx:keys/phi-n*:encrypt")));
        assert!(!s("webqx:keys/phi-*:encrypt").covers(&s("webqx:keys/phi-notes:decrypt")));
        assert!(!s("webqx:keys/phi:encrypt").covers(&s("webqx:keys/phi*:encrypt")));
        assert!(s("webqx:keys/*:key-read").covers(&s("webqx:keys/x:key-read")));
        for bad in [
            "webqx:keys/phi:sys",
            "webqx:keys/phi:oauth-admin",
            "webqx:keys/phi:Encrypt",
            "webqx:keys/phi",
            "webqx:keys/../x:encrypt",
            "webqx:keys/:encrypt",
            "webqx:keys/a b:encrypt",
        ] {
            assert!(Scope::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn granting() {
        let allowed = parse_list("system/*.rs webqx:keys/phi-*:encrypt").unwrap();
        assert_eq!(grant(&allowed, &[]).unwrap(), allowed);
        let want = parse_list("webqx:keys/phi-a:encrypt system/Patient.r").unwrap();
        assert_eq!(grant(&allowed, &want).unwrap(), want);
        let too_much = parse_list("system/Patient.c").unwrap();
        assert_eq!(grant(&allowed, &too_much).unwrap_err(), too_much[0]);
    }

    #[test]
    fn lists_are_bounded_and_deduplicated() {
        assert_eq!(parse_list("  system/*.r  system/*.r ").unwrap().len(), 1);
        assert_eq!(parse_list(&"x".repeat(5000)), Err(ScopeError::TooLong));
        let many: Vec<String> = (0..101)
            .map(|i| format!("webqx:keys/k{i}:encrypt"))
            .collect();
        assert_eq!(parse_list(&many.join(" ")), Err(ScopeError::TooLong));
    }

    #[test]
    fn grants_stay_apart() {
        let scopes = parse_list("webqx:keys/a:encrypt webqx:keys/b:decrypt system/*.r").unwrap();
        let grants = key_grants(&scopes);
        assert_eq!(grants.len(), 2);
        let allows = |op, key| grants.iter().any(|g| g.allows(op, Some(key)));
        assert!(allows(Operation::Encrypt, "a"));
        assert!(allows(Operation::Decrypt, "b"));
        assert!(!allows(Operation::Decrypt, "a"));
    }
}
