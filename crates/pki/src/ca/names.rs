//! Names in certificates: DNS names and IP addresses, and the allowed-domain rule.

use super::CaError;
use std::net::IpAddr;

/// A subject alternative name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Name {
    Dns(String),
    Ip(IpAddr),
}

impl Name {
    /// Reads `text` as an IP address or a DNS name (lowercased; a leading `*.` is a
    /// wildcard).
    pub(crate) fn parse(text: &str) -> Result<Name, CaError> {
        if let Ok(ip) = text.parse::<IpAddr>() {
            return Ok(Name::Ip(ip));
        }
        let lower = text.trim_end_matches('.').to_ascii_lowercase();
        let body = lower.strip_prefix("*.").unwrap_or(&lower);
        let ok = !body.is_empty()
            && lower.len() <= 253
            && body.split('.').all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            });
        if ok {
            Ok(Name::Dns(lower))
        } else {
            Err(CaError::BadName(text.chars().take(256).collect()))
        }
    }

    pub(crate) fn text(&self) -> String {
        match self {
            Name::Dns(d) => d.clone(),
            Name::Ip(ip) => ip.to_string(),
        }
    }
}

/// `text` as the CA writes it into a certificate (DNS names lowercased without a
/// trailing dot, IP addresses in canonical form), or `None` when it is not a name the CA
/// accepts. Checks that compare names with what a certificate will carry (mTLS
/// bindings) must compare this form.
pub fn canonical(text: &str) -> Option<String> {
    Name::parse(text).ok().map(|n| n.text())
}

/// Whether `name` is allowed by `allowed` (see [`super::ProfileSettings`]). A wildcard
/// name (`*.a.example.org`) needs a wildcard rule (`*.example.org`) or `*`: a rule for a
/// domain allows its names one by one, not a certificate for all of them at once.
pub(crate) fn allowed(name: &Name, allowed: &[String]) -> bool {
    allowed.iter().any(|rule| {
        if rule == "*" {
            return true;
        }
        match name {
            Name::Ip(ip) => rule.parse::<IpAddr>().is_ok_and(|r| r == *ip),
            Name::Dns(d) if d.starts_with("*.") && !rule.starts_with("*.") => false,
            Name::Dns(d) => {
                let rule = rule
                    .trim_start_matches("*.")
                    .trim_start_matches('.')
                    .to_ascii_lowercase();
                let d = d.strip_prefix("*.").unwrap_or(d);
                d == rule || d.ends_with(&format!(".{rule}"))
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowed_domains_cover_subdomains_and_exact_ips() {
        let rules = vec!["example.org".to_string(), "10.0.0.1".to_string()];
        let ok = |n: &str| allowed(&Name::parse(n).unwrap(), &rules);
        assert!(ok("example.org"));
        assert!(ok("a.b.example.org"));
        assert!(!ok("*.example.org"), "a wildcard needs a wildcard rule");
        assert!(!ok("*.a.example.org"));
        let wild = vec!["*.example.org".to_string()];
        assert!(allowed(&Name::parse("*.a.example.org").unwrap(), &wild));
        assert!(allowed(&Name::parse("www.example.org").unwrap(), &wild));
        assert!(ok("10.0.0.1"));
        assert!(!ok("badexample.org"));
        assert!(!ok("example.org.evil.com"));
        assert!(!ok("10.0.0.2"));
        assert!(Name::parse("bad name").is_err());
        assert!(Name::parse("").is_err());
        assert!(Name::parse("-a.org").is_err());
    }

    #[test]
    fn dns_names_are_letters_digits_and_hyphens() {
        assert_eq!(
            canonical("Svc.Example.ORG.").as_deref(),
            Some("svc.example.org")
        );
        assert_eq!(canonical("*.example.org").as_deref(), Some("*.example.org"));
        assert_eq!(canonical("::1").as_deref(), Some("::1"));
        for bad in [
            "a_b.example.org",
            "-a.example.org",
            "a..b",
            "",
            "*",
            "ex ample.org",
        ] {
            assert!(canonical(bad).is_none(), "{bad:?}");
        }
    }
}
