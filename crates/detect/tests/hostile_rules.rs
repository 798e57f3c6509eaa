//! Hostile rule files: alias bombs, deep nesting and huge inputs are refused or
//! handled without exhausting memory or the stack.

use webqx_detect::{MAX_RULE_FILE_BYTES, RuleSet};

#[test]
fn yaml_alias_bomb_is_refused_or_bounded() {
    let mut yaml = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x]\n");
    for i in 1..10 {
        let prev = i - 1;
        yaml.push_str(&format!(
            "a{i}: &a{i} [*a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}, *a{prev}]\n"
        ));
    }
    yaml.push_str(
        "title: bomb\nlogsource: {product: linux}\ndetection:\n  k: *a9\n  condition: k\n",
    );
    let mut set = RuleSet::new();
    let _ = set.add_yaml("bomb.yml", &yaml);
}

#[test]
fn deep_nesting_does_not_overflow_the_stack() {
    let depth = 100_000; // took minutes in the YAML parser before the depth check
    let yaml = format!(
        "title: deep\ndetection: {}{}\n",
        "[".repeat(depth),
        "]".repeat(depth)
    );
    assert!(yaml.len() < MAX_RULE_FILE_BYTES);
    let mut set = RuleSet::new();
    assert!(set.add_yaml("deep.yml", &yaml).is_err());
}

#[test]
fn block_nesting_and_compact_sequences_are_bounded_too() {
    let mut set = RuleSet::new();
    let compact = format!("title: t\ndetection:\n  k: {}x\n", "- ".repeat(1000));
    assert!(set.add_yaml("compact.yml", &compact).is_err());
    let mut indented = String::from("title: t\ndetection:\n");
    for i in 0..200 {
        indented.push_str(&format!("{}k{i}:\n", "  ".repeat(i + 1)));
    }
    assert!(set.add_yaml("indent.yml", &indented).is_err());
    // The real pack stays well inside the limit.
    assert!(RuleSet::builtin().is_ok());
}
