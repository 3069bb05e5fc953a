//! The egress policy: allow and deny rules on domains, plus exact endpoints. Pure: no I/O.
//!
//! Order of evaluation (reference network-proxy.md §6.3): canonicalise the host → deny rules →
//! endpoints and allow rules → (the caller resolves, only if allowed) → [`NetPolicy::vet`] on the
//! answer. Nothing is resolved before the allow step, so a refused name never reaches a resolver
//! (a DNS query is itself a way out: `secret.attacker.example`).

use std::net::{IpAddr, SocketAddr};

use super::decision::{Allowance, Decision, Refusal, RefusalReason, Target};
use super::guard::{classify, embedded_v4, AddrClass};
use super::host::{canonical_ip, split_port, Host, HostError};

/// Why a rule could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    #[error("invalid network rule {rule:?}: {source}")]
    Host { rule: String, source: HostError },
    #[error("invalid network rule {0:?}: a wildcard must be a whole first label (*.example.com or **.example.com) of a DNS name")]
    Wildcard(String),
    #[error("invalid network endpoint {0:?}: expected host:port")]
    EndpointPort(String),
}

/// What a rule's host part matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    /// Exactly this name or IP (`example.com`, `1.2.3.4`, `[2001:db8::1]`).
    Exact(Host),
    /// `*.example.com`: strict subdomains, not the apex (Codex's and srt's meaning).
    Subdomains(String),
    /// `**.example.com`: the apex and every subdomain.
    ApexAndSubdomains(String),
}

/// One allow or deny rule: a host pattern and an optional port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub pattern: Pattern,
    /// `None` matches every port.
    pub port: Option<u16>,
    /// The rule as the user wrote it, for messages.
    pub text: String,
}

impl Rule {
    /// Parses `example.com`, `*.example.com`, `**.example.com`, an IP literal (any IPv4
    /// spelling, bracketed IPv6), each with an optional `:port`. Case and a trailing dot are
    /// ignored. Wildcards apply to names only: `*.0.0.1` is refused, never matched against IPs.
    pub fn parse(text: &str) -> Result<Rule, RuleError> {
        let host_err = |source| RuleError::Host {
            rule: text.to_string(),
            source,
        };
        let (host, port) = split_port(text.trim()).map_err(host_err)?;
        let (wildcard, rest) = if let Some(rest) = host.strip_prefix("**.") {
            (Some(true), rest)
        } else if let Some(rest) = host.strip_prefix("*.") {
            (Some(false), rest)
        } else {
            (None, host)
        };
        let parsed = Host::parse(rest).map_err(|e| match rest.contains('*') {
            true => RuleError::Wildcard(text.to_string()),
            false => host_err(e),
        })?;
        let pattern = match (wildcard, parsed) {
            (None, host) => Pattern::Exact(host),
            (Some(apex), Host::Name(suffix)) if apex => Pattern::ApexAndSubdomains(suffix),
            (Some(_), Host::Name(suffix)) => Pattern::Subdomains(suffix),
            (Some(_), Host::Ip(_)) => return Err(RuleError::Wildcard(text.to_string())),
        };
        Ok(Rule {
            pattern,
            port,
            text: text.trim().to_string(),
        })
    }

    /// Whether this rule covers `host:port`. With `embedded`, an IPv4 rule also covers IPv6
    /// addresses that deliver to that IPv4 (NAT64, 6to4, compatible): used for deny rules, where
    /// matching more is the safe side.
    fn matches(&self, host: &Host, port: u16, embedded: bool) -> bool {
        if self.port.is_some_and(|p| p != port) {
            return false;
        }
        match (&self.pattern, host) {
            (Pattern::Exact(want), got) if want == got => true,
            (Pattern::Exact(Host::Ip(IpAddr::V4(want))), Host::Ip(IpAddr::V6(got))) => {
                embedded && embedded_v4(*got) == Some(*want)
            }
            (Pattern::Subdomains(suffix), Host::Name(name)) => is_subdomain(name, suffix),
            (Pattern::ApexAndSubdomains(suffix), Host::Name(name)) => {
                name == suffix || is_subdomain(name, suffix)
            }
            _ => false,
        }
    }
}

fn is_subdomain(name: &str, suffix: &str) -> bool {
    name.len() > suffix.len() + 1
        && name.ends_with(suffix)
        && name.as_bytes()[name.len() - suffix.len() - 1] == b'.'
}

/// Allow rules, deny rules and exact endpoints. Empty = everything refused.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NetPolicy {
    allow: Vec<Rule>,
    deny: Vec<Rule>,
    endpoints: Vec<Target>,
}

impl NetPolicy {
    /// A policy that refuses everything until rules are added.
    pub fn new() -> NetPolicy {
        NetPolicy::default()
    }

    /// Adds an allow rule (see [`Rule::parse`]). Resolved addresses must still be public.
    pub fn allow(&mut self, rule: &str) -> Result<&mut NetPolicy, RuleError> {
        self.allow.push(Rule::parse(rule)?);
        Ok(self)
    }

    /// Adds a deny rule; deny rules win over allow rules and endpoints.
    pub fn deny(&mut self, rule: &str) -> Result<&mut NetPolicy, RuleError> {
        self.deny.push(Rule::parse(rule)?);
        Ok(self)
    }

    /// Opens exactly `host:port` (port required), whatever class of address it is or resolves
    /// to (a name endpoint excepts link-local and metadata answers): the model provider's
    /// `127.0.0.1:P`, a test server. Nothing else on that host or on
    /// loopback becomes reachable, and a name endpoint does not open its IP for other names,
    /// except that a name allowed by a rule may resolve to an IP endpoint on the same port.
    pub fn allow_endpoint(&mut self, endpoint: &str) -> Result<&mut NetPolicy, RuleError> {
        let rule = Rule::parse(endpoint)?;
        match (rule.pattern, rule.port) {
            (Pattern::Exact(host), Some(port)) => self.endpoints.push(Target { host, port }),
            _ => return Err(RuleError::EndpointPort(endpoint.to_string())),
        }
        Ok(self)
    }

    /// The allow rules, deny rules and endpoints, for `explain`.
    pub fn rules(&self) -> (&[Rule], &[Rule], &[Target]) {
        (&self.allow, &self.deny, &self.endpoints)
    }

    /// Decides on a canonical target before anything is resolved.
    pub fn decide(&self, target: &Target) -> Decision {
        let Target { host, port } = target;
        if let Some(rule) = self.deny.iter().find(|r| r.matches(host, *port, true)) {
            return Decision::Refused(Refusal::new(
                target,
                RefusalReason::Denied {
                    rule: rule.text.clone(),
                },
            ));
        }
        if self.endpoints.contains(target) {
            return Decision::Allowed(Allowance::Endpoint);
        }
        if let Some(rule) = self.allow.iter().find(|r| r.matches(host, *port, false)) {
            return Decision::Allowed(Allowance::Rule(rule.text.clone()));
        }
        // For an IP literal the useful hint depends on its class: a rule can open a public IP,
        // only an endpoint opens a loopback or private one.
        let reason = match host.ip().map(classify) {
            Some(class) if class != AddrClass::Public => RefusalReason::NonPublic {
                class,
                resolved: false,
                endpoint: target.clone(),
            },
            _ => RefusalReason::NotAllowed { host: host.clone() },
        };
        Decision::Refused(Refusal::new(target, reason))
    }

    /// Checks the addresses an allowed target resolved to (or its own IP literal) and returns
    /// the socket addresses to dial, in order. One non-public address refuses the whole answer:
    /// dialling only the public ones would let a rebinding resolver pick which one we try.
    /// `this_host` lists this machine's own addresses (`local_addrs::this_host_addresses`),
    /// refused like loopback even when public.
    pub fn vet(
        &self,
        target: &Target,
        allowance: &Allowance,
        answers: &[IpAddr],
        this_host: &[IpAddr],
    ) -> Result<Vec<SocketAddr>, Refusal> {
        if answers.is_empty() {
            return Err(Refusal::new(
                target,
                RefusalReason::Unresolvable {
                    detail: "no addresses".into(),
                },
            ));
        }
        let mut vetted = Vec::with_capacity(answers.len());
        for answer in answers {
            let ip = canonical_ip(*answer);
            let as_host = Host::Ip(ip);
            if let Some(rule) = self
                .deny
                .iter()
                .find(|r| r.matches(&as_host, target.port, true))
            {
                return Err(Refusal::new(
                    target,
                    RefusalReason::Denied {
                        rule: rule.text.clone(),
                    },
                ));
            }
            let class = match classify(ip) {
                AddrClass::Public if this_host.iter().any(|h| canonical_ip(*h) == ip) => {
                    AddrClass::ThisHost
                }
                class => class,
            };
            let exact_endpoint = self.endpoints.contains(&Target {
                host: as_host,
                port: target.port,
            });
            // A name endpoint (`localhost:11434`) may resolve into loopback or private space,
            // but not to a metadata or link-local address: that is what a rebinding attack on
            // an allowed internal name aims for, and no model provider lives there. Only an
            // exact IP endpoint opens those.
            let name_endpoint_ok = *allowance == Allowance::Endpoint
                && !matches!(class, AddrClass::LinkLocal | AddrClass::Metadata);
            if class != AddrClass::Public && !name_endpoint_ok && !exact_endpoint {
                return Err(Refusal::new(
                    target,
                    RefusalReason::NonPublic {
                        class,
                        resolved: target.host.ip().is_none(),
                        endpoint: target.clone(),
                    },
                ));
            }
            vetted.push(SocketAddr::new(ip, target.port));
        }
        Ok(vetted)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(s: &str) -> Target {
        let (host, port) = super::super::host::parse_authority(s).unwrap();
        Target { host, port }
    }

    fn policy(allow: &[&str], deny: &[&str], endpoints: &[&str]) -> NetPolicy {
        let mut p = NetPolicy::new();
        for r in allow {
            p.allow(r).unwrap();
        }
        for r in deny {
            p.deny(r).unwrap();
        }
        for r in endpoints {
            p.allow_endpoint(r).unwrap();
        }
        p
    }

    fn allowed(p: &NetPolicy, t: &str) -> bool {
        matches!(p.decide(&target(t)), Decision::Allowed(_))
    }

    fn reason(p: &NetPolicy, t: &str) -> RefusalReason {
        match p.decide(&target(t)) {
            Decision::Refused(r) => r.reason,
            other => panic!("{t} was {other:?}"),
        }
    }

    #[test]
    fn exact_rules_match_only_that_name_in_any_case() {
        let p = policy(&["Example.COM."], &[], &[]);
        assert!(allowed(&p, "example.com:443"));
        assert!(allowed(&p, "EXAMPLE.com.:80"));
        assert!(!allowed(&p, "www.example.com:443"));
        assert!(!allowed(&p, "notexample.com:443"));
        assert!(!allowed(&p, "example.com.evil.test:443"));
    }

    #[test]
    fn single_star_is_subdomains_only_double_star_includes_apex() {
        let p = policy(&["*.example.com"], &[], &[]);
        assert!(allowed(&p, "a.example.com:443"));
        assert!(allowed(&p, "a.b.example.com:443"));
        assert!(!allowed(&p, "example.com:443"));
        assert!(!allowed(&p, "badexample.com:443"));
        let p = policy(&["**.example.com"], &[], &[]);
        assert!(allowed(&p, "example.com:443"));
        assert!(allowed(&p, "a.example.com:443"));
        assert!(!allowed(&p, "badexample.com:443"));
    }

    #[test]
    fn rule_ports_restrict_and_bare_rules_cover_every_port() {
        let p = policy(&["github.com:443", "[2001:db8::1]:8443"], &[], &[]);
        assert!(allowed(&p, "github.com:443"));
        assert!(!allowed(&p, "github.com:22"));
        assert!(allowed(&p, "[2001:db8::1]:8443"));
        let p = policy(&["github.com"], &[], &[]);
        assert!(allowed(&p, "github.com:22"));
    }

    #[test]
    fn deny_beats_allow_and_endpoints() {
        let p = policy(
            &["**.example.com"],
            &["secret.example.com"],
            &["secret.example.com:443"],
        );
        assert!(allowed(&p, "www.example.com:443"));
        assert!(matches!(
            reason(&p, "secret.example.com:443"),
            RefusalReason::Denied { .. }
        ));
        let p = policy(&["*.example.com"], &["*.example.com:22"], &[]);
        assert!(allowed(&p, "a.example.com:443"));
        assert!(matches!(
            reason(&p, "a.example.com:22"),
            RefusalReason::Denied { .. }
        ));
    }

    #[test]
    fn deny_on_an_ip_covers_every_spelling() {
        let p = policy(&["1.2.3.4"], &["1.2.3.4"], &[]);
        for t in [
            "1.2.3.4:80",
            "16909060:80",
            "0x1020304:80",
            "[::ffff:1.2.3.4]:80",
            "[64:ff9b::102:304]:80",
            "[2002:102:304::]:80",
        ] {
            assert!(matches!(reason(&p, t), RefusalReason::Denied { .. }), "{t}");
        }
    }

    #[test]
    fn wildcards_never_match_ips() {
        assert!(matches!(
            Rule::parse("*.0.0.1"),
            Err(RuleError::Wildcard(_))
        ));
        assert!(matches!(
            Rule::parse("*"),
            Err(RuleError::Wildcard(_)) | Err(RuleError::Host { .. })
        ));
        assert!(matches!(
            Rule::parse("a*.example.com"),
            Err(RuleError::Wildcard(_))
        ));
        let p = policy(&["**.com"], &[], &[]);
        assert!(!allowed(&p, "1.2.3.4:443"));
    }

    #[test]
    fn ip_literals_need_an_endpoint_when_not_public() {
        let p = policy(&["127.0.0.1", "**.example.com"], &[], &["127.0.0.1:8080"]);
        assert!(allowed(&p, "127.0.0.1:8080"));
        assert!(allowed(&p, "127.1:8080"));
        // The allow rule lets the literal through decide, and vet refuses it as loopback.
        let t = target("127.0.0.1:8081");
        let Decision::Allowed(a) = p.decide(&t) else {
            panic!()
        };
        assert!(p.vet(&t, &a, &["127.0.0.1".parse().unwrap()], &[]).is_err());
        let p = policy(&[], &[], &["127.0.0.1:8080"]);
        for t in [
            "127.0.0.1:8081",
            "[::1]:8080",
            "127.0.0.2:8080",
            "localhost:8080",
        ] {
            assert!(!allowed(&p, t), "{t}");
        }
        assert!(matches!(
            reason(&p, "2852039166:80"),
            RefusalReason::NonPublic {
                class: AddrClass::LinkLocal,
                ..
            }
        ));
        assert!(matches!(
            reason(&p, "8.8.8.8:53"),
            RefusalReason::NotAllowed { .. }
        ));
    }

    #[test]
    fn vet_refuses_the_whole_answer_when_one_address_is_private() {
        let p = policy(&["allowed.test"], &[], &[]);
        let t = target("allowed.test:443");
        let a = Allowance::Rule("allowed.test".into());
        let ips = |list: &[&str]| {
            list.iter()
                .map(|s| s.parse().unwrap())
                .collect::<Vec<IpAddr>>()
        };
        assert_eq!(
            p.vet(&t, &a, &ips(&["1.1.1.1"]), &[]).unwrap(),
            vec!["1.1.1.1:443".parse().unwrap()]
        );
        for bad in [
            &["1.1.1.1", "10.0.0.1"][..],
            &["::ffff:127.0.0.1"],
            &["169.254.169.254"],
            &["fd00:ec2::254"],
        ] {
            let err = p.vet(&t, &a, &ips(bad), &[]).unwrap_err();
            assert_eq!(err.code(), "non-public-address", "{bad:?}");
        }
        assert_eq!(p.vet(&t, &a, &[], &[]).unwrap_err().code(), "unresolvable");
        let this_host = ips(&["192.0.2.1", "1.1.1.1"]);
        let err = p.vet(&t, &a, &ips(&["1.1.1.1"]), &this_host).unwrap_err();
        assert!(matches!(
            err.reason,
            RefusalReason::NonPublic {
                class: AddrClass::ThisHost,
                ..
            }
        ));
    }

    #[test]
    fn a_name_may_resolve_to_an_explicit_ip_endpoint_on_the_same_port_only() {
        let p = policy(&["allowed.test"], &[], &["127.0.0.1:4000"]);
        let a = Allowance::Rule("allowed.test".into());
        let lo = ["127.0.0.1".parse().unwrap()];
        assert!(p.vet(&target("allowed.test:4000"), &a, &lo, &lo).is_ok());
        assert!(p.vet(&target("allowed.test:4001"), &a, &lo, &lo).is_err());
    }

    #[test]
    fn a_name_endpoint_opens_private_space_but_not_metadata() {
        let p = policy(&[], &[], &["models.internal:8080", "169.254.169.254:80"]);
        let t = target("models.internal:8080");
        let Decision::Allowed(a) = p.decide(&t) else {
            panic!()
        };
        let ip = |s: &str| [s.parse::<IpAddr>().unwrap()];
        assert!(p.vet(&t, &a, &ip("127.0.0.1"), &[]).is_ok());
        assert!(p.vet(&t, &a, &ip("10.1.2.3"), &[]).is_ok());
        assert!(p.vet(&t, &a, &ip("169.254.169.254"), &[]).is_err());
        assert!(p.vet(&t, &a, &ip("fd00:ec2::254"), &[]).is_err());
        let t = target("169.254.169.254:80");
        let Decision::Allowed(a) = p.decide(&t) else {
            panic!()
        };
        assert!(p.vet(&t, &a, &ip("169.254.169.254"), &[]).is_ok());
    }

    #[test]
    fn endpoints_need_a_port_and_no_wildcard() {
        let mut p = NetPolicy::new();
        assert!(matches!(
            p.allow_endpoint("127.0.0.1"),
            Err(RuleError::EndpointPort(_))
        ));
        assert!(matches!(
            p.allow_endpoint("*.example.com:443"),
            Err(RuleError::EndpointPort(_))
        ));
        assert!(p.allow_endpoint("localhost:1455").is_ok());
    }
}
