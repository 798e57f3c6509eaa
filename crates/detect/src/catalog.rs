//! The loaded rules as operators name them: what `alerts rules` lists, and what a
//! suppression's rule is looked up in.

use serde::Serialize;

use crate::Level;
use crate::engine::building_blocks;
use crate::rules::RuleSet;

/// One loaded detection or correlation rule.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RuleInfo {
    /// What alerts carry as `rule_id`: the Sigma `id`, else the title.
    pub id: String,
    /// The Sigma `name`, when the rule has one (correlations reference rules by it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// The title.
    pub title: String,
    /// The level (medium when the rule names none, as alerts do).
    pub level: Level,
    /// `detection` or `correlation`.
    pub kind: &'static str,
    /// False for a building block: a rule only a correlation counts, never alerted alone.
    pub alerts: bool,
    /// Where it was loaded from (`builtin:linux/ssh_brute_force.yml` or a file path).
    pub origin: String,
}

impl RuleInfo {
    /// Whether `text` names this rule: its id exactly; its name, title or origin file
    /// name (with or without `.yml`) compared without case.
    pub fn is_named(&self, text: &str) -> bool {
        let text = text.trim();
        if self.id == text {
            return true;
        }
        // Only rule files name a rule: `component:oauth` is no file.
        let file = self
            .origin
            .rsplit(['/', '\\', ':'])
            .next()
            .filter(|f| f.ends_with(".yml") || f.ends_with(".yaml"));
        let stem = file.map(|f| {
            f.strip_suffix(".yml")
                .or_else(|| f.strip_suffix(".yaml"))
                .unwrap_or(f)
        });
        [Some(self.title.as_str()), self.name.as_deref(), file, stem]
            .into_iter()
            .flatten()
            .any(|n| !n.is_empty() && n.eq_ignore_ascii_case(text))
    }
}

impl RuleSet {
    /// Every detection and correlation rule in the set, in load order.
    pub fn catalog(&self) -> Vec<RuleInfo> {
        let blocks = building_blocks(&self.collection);
        let info = |id: &Option<String>,
                    name: &Option<String>,
                    title: &String,
                    level: Option<rsigma_parser::Level>,
                    kind: &'static str| {
            let id = id.clone().unwrap_or_else(|| title.clone());
            RuleInfo {
                origin: self.origins.get(&id).cloned().unwrap_or_default(),
                id,
                name: name.clone(),
                title: title.clone(),
                level: level.map_or(Level::Medium, Level::from),
                kind,
                alerts: !blocks.contains(title),
            }
        };
        let rules = self
            .collection
            .rules
            .iter()
            .map(|r| info(&r.id, &r.name, &r.title, r.level, "detection"));
        let correlations = self
            .collection
            .correlations
            .iter()
            .map(|c| info(&c.id, &c.name, &c.title, c.level, "correlation"));
        rules.chain(correlations).collect()
    }
}

/// Refuses a catalog in which two rules carry the same id: alerts, suppressions and
/// correlations name rules by id, so a second rule with an id would be silenced,
/// reported or counted as the first.
///
/// # Errors
/// A message naming the id and where both rules come from.
pub fn check_unique_ids(rules: &[RuleInfo]) -> Result<(), String> {
    let mut seen: std::collections::HashMap<&str, &RuleInfo> = std::collections::HashMap::new();
    for rule in rules {
        if let Some(first) = seen.insert(rule.id.as_str(), rule) {
            let from = |r: &RuleInfo| {
                if r.origin.is_empty() {
                    r.title.clone()
                } else {
                    format!("{} ({})", r.title, r.origin)
                }
            };
            return Err(format!(
                "two rules have the id {}: {} and {}; give one of them another id",
                rule.id,
                from(first),
                from(rule)
            ));
        }
    }
    Ok(())
}

/// Looks `text` up among `rules`: the one rule it names (see [`RuleInfo::is_named`]),
/// or why not.
///
/// # Errors
/// A message naming the candidates when several match, or saying where to look when
/// none does.
pub fn resolve<'a>(rules: &'a [RuleInfo], text: &str) -> Result<&'a RuleInfo, String> {
    let text = text.trim();
    if let Some(exact) = rules.iter().find(|r| r.id == text) {
        return Ok(exact);
    }
    let named: Vec<&RuleInfo> = rules.iter().filter(|r| r.is_named(text)).collect();
    match named.as_slice() {
        [one] => Ok(one),
        [] => Err(format!(
            "no loaded rule is named '{}'; give its id, name, title or file name \
             (`webqx-sec alerts rules` lists them), or '*' for every rule",
            text.chars().take(200).collect::<String>()
        )),
        many => Err(format!(
            "'{}' names {} rules ({}); give the id",
            text.chars().take(200).collect::<String>(),
            many.len(),
            many.iter()
                .take(5)
                .map(|r| format!("{} = {}", r.id, r.title))
                .collect::<Vec<_>>()
                .join("; ")
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_pack_is_listed_and_named_by_id_name_title_or_file() {
        let catalog = RuleSet::builtin().unwrap().catalog();
        assert!(catalog.len() > 20, "{}", catalog.len());
        let ids: std::collections::HashSet<&str> = catalog.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids.len(), catalog.len(), "ids are unique");
        assert!(catalog.iter().all(|r| r.origin.starts_with("builtin:")));
        let brute = resolve(&catalog, "SSH BRUTE FORCE from one source").unwrap();
        assert_eq!(
            (brute.kind, brute.alerts, brute.level),
            ("correlation", true, Level::High)
        );
        assert!(
            brute.origin.ends_with("ssh_brute_force.yml"),
            "{}",
            brute.origin
        );
        assert_eq!(resolve(&catalog, &brute.id).unwrap().title, brute.title);
        // The failure it counts is a building block: listed, never alerted alone; its
        // Sigma name finds it.
        let failed = resolve(&catalog, "webqx_ssh_failed_password").unwrap();
        assert!(!failed.alerts && failed.kind == "detection", "{failed:?}");
        // A file holding several rules names none of them alone; one holding one does.
        let shared = resolve(&catalog, "ssh_brute_force").unwrap_err();
        assert!(shared.contains("give the id"), "{shared}");
        let xss = resolve(&catalog, "web_xss.yml").unwrap();
        assert_eq!(resolve(&catalog, "web_xss").unwrap().id, xss.id);
        let missing = resolve(&catalog, "no such rule").unwrap_err();
        assert!(missing.contains("webqx-sec alerts rules"), "{missing}");
        assert_eq!(check_unique_ids(&catalog), Ok(()));
        let mut twice = catalog.clone();
        twice.push(RuleInfo {
            title: "Shadow".into(),
            origin: "site/shadow.yml".into(),
            ..xss.clone()
        });
        let err = check_unique_ids(&twice).unwrap_err();
        assert!(
            err.contains(&xss.id) && err.contains("site/shadow.yml"),
            "{err}"
        );
    }

    #[test]
    fn a_component_origin_is_no_file_name() {
        let oauth = RuleInfo {
            id: "oauth-auth-failures".into(),
            name: None,
            title: "Repeated failed OAuth client authentications".into(),
            level: Level::High,
            kind: "component",
            alerts: true,
            origin: "component:oauth".into(),
        };
        let rules = [oauth];
        assert!(resolve(&rules, "oauth").is_err());
        assert!(resolve(&rules, " oauth-auth-failures ").is_ok());
    }

    #[test]
    fn a_name_shared_by_several_rules_asks_for_the_id() {
        let mut set = RuleSet::new();
        for (file, id) in [
            ("a/dup.yml", "11111111-0000-4000-8000-000000000001"),
            ("b/dup.yml", "11111111-0000-4000-8000-000000000002"),
        ] {
            let yaml = format!(
                "title: Same title\nid: {id}\nlogsource:\n  product: linux\n  service: sshd\n\
                 detection:\n  sel:\n    message: x\n  condition: sel\n"
            );
            set.add_yaml(file, &yaml).unwrap();
        }
        let catalog = set.catalog();
        assert_eq!(catalog[1].origin, "b/dup.yml");
        let err = resolve(&catalog, "same title").unwrap_err();
        assert!(
            err.contains("names 2 rules") && err.contains("give the id"),
            "{err}"
        );
        assert_eq!(
            resolve(&catalog, "11111111-0000-4000-8000-000000000002").map(|r| r.origin.as_str()),
            Ok("b/dup.yml")
        );
    }
}
