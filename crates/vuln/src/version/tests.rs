//! Known answers from each ecosystem's documentation, and property tests.

use super::*;
use proptest::prelude::*;

/// Asserts that `list` is strictly increasing under `eco`'s rules.
fn increasing(eco: Ecosystem, list: &[&str]) {
    for pair in list.windows(2) {
        let (a, b) = (pair[0], pair[1]);
        assert_eq!(compare(eco, a, b), Ok(Ordering::Less), "{eco}: {a} < {b}");
        assert_eq!(
            compare(eco, b, a),
            Ok(Ordering::Greater),
            "{eco}: {b} > {a}"
        );
    }
}

fn equal(eco: Ecosystem, a: &str, b: &str) {
    assert_eq!(compare(eco, a, b), Ok(Ordering::Equal), "{eco}: {a} == {b}");
}

/// semver.org §11: "1.0.0-alpha < 1.0.0-alpha.1 < 1.0.0-alpha.beta < 1.0.0-beta <
/// 1.0.0-beta.2 < 1.0.0-beta.11 < 1.0.0-rc.1 < 1.0.0" and "1.0.0 < 2.0.0 < 2.1.0 < 2.1.1".
#[test]
fn semver_spec_examples() {
    for eco in [Ecosystem::CratesIo, Ecosystem::Npm, Ecosystem::Go] {
        increasing(
            eco,
            &[
                "1.0.0-alpha",
                "1.0.0-alpha.1",
                "1.0.0-alpha.beta",
                "1.0.0-beta",
                "1.0.0-beta.2",
                "1.0.0-beta.11",
                "1.0.0-rc.1",
                "1.0.0",
                "2.0.0",
                "2.1.0",
                "2.1.1",
            ],
        );
        // §10: build metadata does not take part in precedence.
        equal(eco, "1.0.0+build.1", "1.0.0+build.2");
    }
}

/// Go module reference ("Pseudo-versions", "+incompatible"): a pseudo-version sorts
/// before the release it precedes and by its timestamp.
#[test]
fn go_prefix_pseudo_versions_and_incompatible() {
    increasing(
        Ecosystem::Go,
        &[
            "v0.0.0-20191109021931-daa7c04131f5",
            "v0.0.0-20200101000000-000000000000",
            "v0.1.0",
            "v1.2.3-pre",
            "v1.2.4-0.20191109021931-daa7c04131f5",
            "v1.2.4",
            "v2.0.0+incompatible",
            "v2.0.1",
        ],
    );
    equal(Ecosystem::Go, "v2.0.0+incompatible", "2.0.0");
    equal(Ecosystem::Go, "1.21", "v1.21.0");
    // The "0.0.0-0" RustSec writes for "every version" is below any release.
    increasing(Ecosystem::CratesIo, &["0.0.0-0", "0.0.0", "0.0.1"]);
}

/// PEP 440, "Summary of permitted suffixes and relative ordering": the example list.
#[test]
fn pep440_spec_ordering() {
    increasing(
        Ecosystem::PyPI,
        &[
            "1.dev0",
            "1.0.dev456",
            "1.0a1",
            "1.0a2.dev456",
            "1.0a12.dev456",
            "1.0a12",
            "1.0b1.dev456",
            "1.0b2",
            "1.0b2.post345.dev456",
            "1.0b2.post345",
            "1.0rc1.dev456",
            "1.0rc1",
            "1.0",
            "1.0+abc.5",
            "1.0+abc.7",
            "1.0+5",
            "1.0.post456.dev34",
            "1.0.post456",
            "1.0.15",
            "1.1.dev1",
        ],
    );
    // Epochs: 1!1.0 is above any version of epoch 0.
    increasing(Ecosystem::PyPI, &["2013.10", "2014.04", "1!1.0", "1!1.1"]);
}

/// PEP 440, "Normalization": alternative spellings of one version.
#[test]
fn pep440_normalization() {
    let eco = Ecosystem::PyPI;
    equal(eco, "1.0", "1.0.0");
    equal(eco, "1.1RC1", "1.1rc1");
    equal(eco, "1.1a1", "1.1.alpha1");
    equal(eco, "1.1b1", "1.1-beta-1");
    equal(eco, "1.1c1", "1.1rc1");
    equal(eco, "1.0pre1", "1.0rc1");
    equal(eco, "1.0preview1", "1.0rc1");
    equal(eco, "1.0a", "1.0a0");
    equal(eco, "1.0.post", "1.0.post0");
    equal(eco, "1.0-1", "1.0.post1");
    equal(eco, "1.0.rev1", "1.0.post1");
    equal(eco, "1.0r1", "1.0.post1");
    equal(eco, "1.0-dev1", "1.0.dev1");
    equal(eco, "v1.0", "1.0");
    equal(eco, "0!1.0", "1.0");
    equal(eco, "1.0+ubuntu-1", "1.0+ubuntu.1");
    assert!(parse(eco, "1.0-foo").is_err());
    assert!(parse(eco, "not a version").is_err());
}

/// Maven POM reference, "Version Order Specification": every example on the page.
#[test]
fn maven_spec_examples() {
    let eco = Ecosystem::Maven;
    increasing(eco, &["1", "1.1"]);
    increasing(eco, &["1-snapshot", "1", "1-sp"]);
    increasing(eco, &["1-foo2", "1-foo10"]);
    equal(eco, "1.foo", "1-foo");
    increasing(eco, &["1-foo", "1-1", "1.1"]);
    for v in [
        "1.ga",
        "1-ga",
        "1-0",
        "1.0",
        "1",
        "1.0.0",
        "1.final",
        "1.",
        "1-",
        "1.0.0-0.0.0",
    ] {
        equal(eco, v, "1");
    }
    equal(eco, "1.0.0-foo.0.0", "1-foo");
    increasing(eco, &["1-ga", "1-sp"]);
    increasing(eco, &["1-ga.1", "1-sp.1"]);
    increasing(eco, &["1-sp-1", "1-ga-1"]);
    equal(eco, "1-ga-1", "1-1");
    equal(eco, "1-a1", "1-alpha-1");
    // The splitting example: 1-1.foo-bar1baz-.1 is 1-1.foo-bar-1-baz-0.1.
    equal(eco, "1-1.foo-bar1baz-.1", "1-1.foo-bar-1-baz-0.1");
    // The qualifier order: alpha < beta < milestone < rc = cr < snapshot < "" < sp.
    increasing(
        eco,
        &[
            "1.0-alpha1",
            "1.0-beta1",
            "1.0-m1",
            "1.0-rc1",
            "1.0-snapshot",
            "1.0",
            "1.0-sp1",
        ],
    );
    equal(eco, "1.0-cr1", "1.0-rc1");
    equal(eco, "1.0-RELEASE", "1.0");
    equal(eco, "1.0-ALPHA1", "1.0-alpha1");
    // Other qualifiers sort after the known ones, alphabetically.
    increasing(eco, &["1.0-sp", "1.0-abc", "1.0-xyz"]);
    // Qualifiers below the release make pre-releases even after a dot; unknown ones
    // (jackson's `pr`) sort after the release, as in Maven itself.
    increasing(eco, &["2.0.0.alpha1", "2", "2.0.0.1"]);
    increasing(
        eco,
        &["2.9.10.7", "2.9.10.8", "2.10.0", "2.10.0.pr1", "2.10.1"],
    );
}

/// RubyGems `Gem::Version` documentation: "1.0.a.2" < "1.0.b1" < "1.0", segments,
/// and `-` as `.pre.`.
#[test]
fn rubygems_examples() {
    let eco = Ecosystem::RubyGems;
    increasing(eco, &["1.0.a.2", "1.0.b1", "1.0", "1.0.1", "1.1", "2"]);
    increasing(eco, &["1.0.a9", "1.0.a10"]);
    equal(eco, "1.0.0", "1");
    equal(eco, "1.0-1", "1.0.pre.1");
    increasing(eco, &["5.2.4.rc1", "5.2.4", "5.2.4.1"]);
    assert!(parse(eco, "v1.0").is_err());
}

/// Composer's documentation ("Versions and constraints", stability flags):
/// dev < alpha < beta < RC < stable, `v` prefix, four segments.
#[test]
fn packagist_examples() {
    let eco = Ecosystem::Packagist;
    increasing(
        eco,
        &[
            "1.0.0-dev",
            "1.0.0-alpha1",
            "1.0.0-alpha2",
            "1.0.0-beta1-dev",
            "1.0.0-beta1",
            "1.0.0-RC1",
            "1.0.0",
            "1.0.0-p1",
            "1.0.0.1",
            "1.0.1",
        ],
    );
    equal(eco, "v1.2.3", "1.2.3.0");
    equal(eco, "1.0.0-stable", "1.0.0");
    equal(eco, "1.0.0-a1", "1.0.0-alpha1");
    assert!(parse(eco, "dev-master").is_err());
    assert!(parse(eco, "1.2.3.4.5").is_err());
}

#[test]
fn major_upgrades() {
    assert!(is_major_upgrade(Ecosystem::CratesIo, "0.5.1", "0.10.0"));
    assert!(!is_major_upgrade(Ecosystem::CratesIo, "0.5.1", "0.5.9"));
    assert!(is_major_upgrade(Ecosystem::CratesIo, "0.0.1", "0.0.2"));
    assert!(!is_major_upgrade(Ecosystem::CratesIo, "1.2.0", "1.9.0"));
    assert!(is_major_upgrade(Ecosystem::Npm, "1.2.0", "2.0.0"));
    assert!(!is_major_upgrade(Ecosystem::Go, "v0.1.0", "v0.9.0"));
    assert!(is_major_upgrade(Ecosystem::PyPI, "1.9", "2.0"));
}

#[test]
fn bounded_input() {
    let long = "1.".repeat(200);
    for eco in Ecosystem::ALL {
        assert_eq!(parse(eco, ""), Err(VersionError::Size));
        assert!(parse(eco, &long).is_err());
    }
    assert!(parse(Ecosystem::CratesIo, "99999999999999999999999.0.0").is_err());
}

fn version_string() -> impl Strategy<Value = String> {
    prop_oneof![
        "[0-9]{1,3}(\\.[0-9]{1,3}){0,3}",
        "v?[0-9]{1,2}\\.[0-9]{1,2}\\.[0-9]{1,2}(-[a-z0-9]{1,4}(\\.[a-z0-9]{1,3})?)?",
        "[0-9]{1,2}(\\.[0-9]{1,2}){0,2}(a|b|rc|\\.post|\\.dev|-alpha|-beta|-sp|-snapshot|-RC|-p)?[0-9]?",
        "[0-9a-z.\\-]{1,12}",
    ]
}

proptest! {
    /// The order is total and consistent for every ecosystem: antisymmetric, and
    /// transitive on any three versions that parse.
    #[test]
    fn order_is_total_and_consistent(
        a in version_string(), b in version_string(), c in version_string()
    ) {
        for eco in Ecosystem::ALL {
            let (Ok(x), Ok(y), Ok(z)) = (parse(eco, &a), parse(eco, &b), parse(eco, &c)) else {
                continue;
            };
            prop_assert_eq!(x.cmp(&y), y.cmp(&x).reverse(), "{} {} {}", eco, a, b);
            prop_assert_eq!(x.cmp(&x), Ordering::Equal);
            if x <= y && y <= z {
                prop_assert!(x <= z, "{}: {} <= {} <= {}", eco, a, b, c);
            }
            if x == y {
                prop_assert_eq!(x.cmp(&z), y.cmp(&z));
            }
        }
    }

    /// No input panics any parser.
    #[test]
    fn parsers_never_panic(s in "\\PC{0,40}") {
        for eco in Ecosystem::ALL {
            let _ = parse(eco, &s);
        }
    }
}
