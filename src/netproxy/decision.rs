//! What the proxy decided about one destination, and how that is told to the client and the log.
//!
//! Agents read a bare 403 as a glitch and retry around the proxy (srt#273, reference
//! network-proxy.md §2.7), so every refusal carries a reason worded as policy and, where one
//! exists, the launcher flag that would allow the destination.

use std::fmt;
use std::net::IpAddr;

use super::guard::AddrClass;
use super::host::Host;

/// The launcher flag that adds an allow rule for a domain (or a public IP literal).
pub const ALLOW_DOMAIN_FLAG: &str = "--allow-domain";
/// The launcher flag that opens one exact `host:port`, even on loopback or a private network.
pub const ALLOW_ENDPOINT_FLAG: &str = "--allow-endpoint";

/// A destination as the client asked for it, canonicalised.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Target {
    pub host: Host,
    pub port: u16,
}

impl fmt::Display for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.host, self.port)
    }
}

/// The verdict on a target before resolution.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allowed(Allowance),
    Refused(Refusal),
}

/// Why a target was allowed; decides how strictly its resolved addresses are checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Allowance {
    /// An allow rule (as written by the user) matched: resolved addresses must be public.
    Rule(String),
    /// The exact `host:port` was allowed as an endpoint: any address it resolves to is fine.
    Endpoint,
}

/// A refusal, with enough context to explain itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// What the client asked for: the canonical target, or the raw text when it did not parse.
    pub target: String,
    pub reason: RefusalReason,
}

/// Why a destination was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefusalReason {
    /// The host is not a valid name or IP literal (nothing was resolved).
    InvalidHost,
    /// A deny rule matched (deny beats allow).
    Denied { rule: String },
    /// No allow rule or endpoint names the host. `host` is canonical, for the suggested flag.
    NotAllowed { host: Host },
    /// The host, or an address it resolved to, is not public and the endpoint was not allowed.
    /// `resolved` is false for an IP literal.
    NonPublic {
        class: AddrClass,
        resolved: bool,
        endpoint: Target,
    },
    /// The name did not resolve (not a policy refusal: answered 502, not 403).
    Unresolvable { detail: String },
}

impl Refusal {
    pub fn new(target: impl fmt::Display, reason: RefusalReason) -> Refusal {
        Refusal {
            target: target.to_string(),
            reason,
        }
    }

    /// A stable kebab-case word for the `X-Codex-Launcher-Refusal` header and the log.
    pub fn code(&self) -> &'static str {
        match self.reason {
            RefusalReason::InvalidHost => "invalid-host",
            RefusalReason::Denied { .. } => "denied",
            RefusalReason::NotAllowed { .. } => "not-allowed",
            RefusalReason::NonPublic { .. } => "non-public-address",
            RefusalReason::Unresolvable { .. } => "unresolvable",
        }
    }

    /// True when the policy refused (403); false for a failure to resolve (502).
    pub fn is_policy(&self) -> bool {
        !matches!(self.reason, RefusalReason::Unresolvable { .. })
    }

    /// The launcher flag and argument that would allow this destination, if any would.
    pub fn allow_with(&self) -> Option<String> {
        match &self.reason {
            RefusalReason::NotAllowed { host } => {
                Some(format!("{ALLOW_DOMAIN_FLAG} {}", bare(host)))
            }
            RefusalReason::NonPublic { endpoint, .. } => {
                Some(format!("{ALLOW_ENDPOINT_FLAG} {endpoint}"))
            }
            _ => None,
        }
    }

    /// One human sentence: what was refused and why, plus the flag when there is one.
    pub fn message(&self) -> String {
        let why = match &self.reason {
            RefusalReason::InvalidHost => "it is not a valid host name or IP address".to_string(),
            RefusalReason::Denied { rule } => {
                format!("it matches the deny rule {rule} (deny rules win over allow rules)")
            }
            RefusalReason::NotAllowed { .. } => "it is not on the allow list".to_string(),
            RefusalReason::NonPublic {
                class,
                resolved: true,
                ..
            } => format!("it resolves to a {class} address, which is not reachable by default"),
            RefusalReason::NonPublic { class, .. } => {
                format!("it is a {class} address, which is not reachable by default")
            }
            RefusalReason::Unresolvable { detail } => {
                format!("it could not be resolved ({detail})")
            }
        };
        let mut text = format!(
            "codex-launcher network policy refused {}: {why}",
            self.target
        );
        if let Some(flag) = self.allow_with() {
            text.push_str(&format!("; to allow it, run the launcher with {flag}"));
        }
        text.push('.');
        text
    }
}

/// A host as a user would type it on the command line (IPv6 without brackets is fine there).
fn bare(host: &Host) -> String {
    match host {
        Host::Ip(IpAddr::V6(v6)) => v6.to_string(),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_allowed_names_the_host_and_the_flag() {
        let host = Host::parse("example.com").unwrap();
        let r = Refusal::new("example.com:443", RefusalReason::NotAllowed { host });
        assert_eq!(r.code(), "not-allowed");
        assert_eq!(
            r.allow_with().as_deref(),
            Some("--allow-domain example.com")
        );
        assert_eq!(
            r.message(),
            "codex-launcher network policy refused example.com:443: it is not on the allow list; \
             to allow it, run the launcher with --allow-domain example.com."
        );
    }

    #[test]
    fn denied_offers_no_flag() {
        let r = Refusal::new(
            "x.test:80",
            RefusalReason::Denied {
                rule: "*.test".into(),
            },
        );
        assert_eq!(r.allow_with(), None);
        assert!(r.message().contains("deny rule *.test"));
    }

    #[test]
    fn non_public_suggests_the_exact_endpoint() {
        let endpoint = Target {
            host: Host::parse("127.0.0.1").unwrap(),
            port: 8080,
        };
        let r = Refusal::new(
            "localhost:8080",
            RefusalReason::NonPublic {
                class: AddrClass::Loopback,
                resolved: true,
                endpoint,
            },
        );
        assert_eq!(
            r.allow_with().as_deref(),
            Some("--allow-endpoint 127.0.0.1:8080")
        );
        assert!(r.message().contains("resolves to a loopback address"));
    }
}
