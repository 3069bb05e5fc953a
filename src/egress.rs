//! The run's egress policy (DESIGN §10, issue 16), decided before anything starts: which
//! destinations the launcher's proxy opens, for whom, and what the task is told about it. Pure;
//! `exec::egress` starts the proxy this describes.
//!
//! Codex's own destinations come from the per-task config: the built-in OpenAI provider's hosts,
//! or exactly the `host:port` of a custom provider's `base_url` (a provider on `127.0.0.1:P`
//! opens `127.0.0.1:P` and nothing else on loopback). The user adds domains (`--allow-domain`)
//! and exact endpoints (`--allow-endpoint`). One proxy serves Codex and the commands it runs, so
//! a command can reach the model provider too: it gains nothing the agent does not already have.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use serde::Serialize;

use crate::netproxy::host::{parse_authority_or, Host};
use crate::netproxy::{NetPolicy, Rule, RuleError};

/// The relay's port on loopback inside bubblewrap's network namespace: fixed, so the task's
/// proxy variables are known when the plan is made.
pub const RELAY_PORT: u16 = 3128;
/// Where the proxy's private socket directory appears inside bubblewrap.
pub const SOCKET_DIR_INSIDE: &str = "/run/codex-launcher-proxy";
/// The proxy's socket in that directory.
pub const SOCKET_NAME: &str = "proxy.sock";

/// The hosts Codex's built-in OpenAI provider talks to (reference network-proxy.md §3): the
/// ChatGPT backend, the login and token refresh, and the API in API-key mode.
pub const OPENAI_HOSTS: [&str; 3] = ["chatgpt.com", "auth.openai.com", "api.openai.com"];

/// What the proxy opens and how names are answered.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Egress {
    /// Codex's model provider: domain rules (public addresses only) ...
    pub provider_rules: Vec<String>,
    /// ... and exact `host:port` endpoints (a custom `base_url`, which may be local).
    pub provider_endpoints: Vec<String>,
    /// `--allow-domain`: domains (`*.suffix`, optional `:port`) for Codex and its commands.
    pub allow: Vec<String>,
    /// `--allow-endpoint`: exact `host:port`s, the only way into loopback or private space.
    pub endpoints: Vec<String>,
    /// `--net-resolve NAME=ADDR`: answers for these names only; the address is still vetted.
    pub resolve: Vec<(String, IpAddr)>,
}

/// Why the egress options were refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EgressError {
    #[error("{flag} {value}: {source}")]
    Rule {
        flag: &'static str,
        value: String,
        source: RuleError,
    },
    #[error("--net-resolve {0}: expected NAME=ADDRESS (an IP address)")]
    ResolveSyntax(String),
    #[error("--net-resolve {0}: the name is not allowed by any --allow-domain or --allow-endpoint; a mapping only applies to a name the policy already allows")]
    ResolveNotAllowed(String),
    #[error("model provider {provider}: base_url {url:?} is not an http(s) URL with a host")]
    BaseUrl { provider: String, url: String },
}

impl Egress {
    /// The user's flags, checked; the provider's destinations are added by [`Self::with_provider`].
    pub fn from_flags(
        allow: &[String],
        endpoints: &[String],
        resolve: &[String],
    ) -> Result<Egress, EgressError> {
        fn rule_err(flag: &'static str, value: &str) -> impl FnOnce(RuleError) -> EgressError {
            let value = value.to_string();
            move |source| EgressError::Rule {
                flag,
                value,
                source,
            }
        }
        let mut probe = NetPolicy::new();
        for a in allow {
            probe.allow(a).map_err(rule_err("--allow-domain", a))?;
        }
        for e in endpoints {
            probe
                .allow_endpoint(e)
                .map_err(rule_err("--allow-endpoint", e))?;
        }
        let mut mapped = Vec::new();
        for entry in resolve {
            let (name, addr) = entry
                .split_once('=')
                .and_then(|(n, a)| Some((Host::parse(n).ok()?, a.trim().parse::<IpAddr>().ok()?)))
                .ok_or_else(|| EgressError::ResolveSyntax(entry.clone()))?;
            let Host::Name(name) = name else {
                return Err(EgressError::ResolveSyntax(entry.clone()));
            };
            let named = |texts: &[String]| {
                texts.iter().any(|t| {
                    Rule::parse(t).is_ok_and(|r| {
                        matches!(&r.pattern, crate::netproxy::policy::Pattern::Exact(Host::Name(n)) if *n == name)
                    })
                })
            };
            if !named(allow) && !named(endpoints) {
                return Err(EgressError::ResolveNotAllowed(entry.clone()));
            }
            mapped.push((name, addr));
        }
        Ok(Egress {
            allow: allow.to_vec(),
            endpoints: endpoints.to_vec(),
            resolve: mapped,
            ..Egress::default()
        })
    }

    /// Adds Codex's model provider as the per-task config names it.
    pub fn with_provider(mut self, provider: Provider) -> Egress {
        self.provider_rules = provider.rules;
        self.provider_endpoints = provider.endpoints;
        self
    }

    /// Whether the commands Codex runs get any destination of their own.
    pub fn user_allowed_any(&self) -> bool {
        !self.allow.is_empty() || !self.endpoints.is_empty()
    }

    /// The proxy's policy: every rule and endpoint, provider's and user's.
    pub fn policy(&self) -> Result<NetPolicy, RuleError> {
        let mut policy = NetPolicy::new();
        for rule in self.provider_rules.iter().chain(&self.allow) {
            policy.allow(rule)?;
        }
        for endpoint in self.provider_endpoints.iter().chain(&self.endpoints) {
            policy.allow_endpoint(endpoint)?;
        }
        Ok(policy)
    }

    /// Whether an allowed endpoint is on loopback: then loopback must go through the proxy
    /// (`NO_PROXY` left empty), since inside the sandbox it is not the host's.
    pub fn loopback_endpoint(&self) -> bool {
        self.provider_endpoints
            .iter()
            .chain(&self.endpoints)
            .filter_map(|e| parse_authority_or(e, 0).ok())
            .any(|(host, _)| match host {
                Host::Ip(ip) => ip.is_loopback(),
                Host::Name(name) => name == "localhost" || name.ends_with(".localhost"),
            })
            || self.resolve.iter().any(|(_, ip)| ip.is_loopback())
    }

    /// The task's proxy variables for a proxy it reaches at `addr`.
    pub fn env(&self, addr: SocketAddr) -> Vec<(String, String)> {
        crate::netproxy::env::proxy_env(addr, !self.loopback_endpoint())
    }

    /// One line per destination, for `explain`.
    pub fn describe(&self) -> Vec<String> {
        let mut out = Vec::new();
        for r in &self.provider_rules {
            out.push(format!("{r} (model provider)"));
        }
        for e in &self.provider_endpoints {
            out.push(format!("{e} (model provider endpoint)"));
        }
        for r in &self.allow {
            out.push(format!("{r} (--allow-domain)"));
        }
        for e in &self.endpoints {
            out.push(format!("{e} (--allow-endpoint)"));
        }
        for (name, ip) in &self.resolve {
            out.push(format!("{name} resolves to {ip} (--net-resolve)"));
        }
        out
    }
}

/// Where Codex's model traffic goes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Provider {
    pub rules: Vec<String>,
    pub endpoints: Vec<String>,
}

/// The destinations of the provider `config` selects (`model_provider`, default `openai`): a
/// custom `[model_providers.X] base_url` is exactly its `host:port`; the built-in OpenAI
/// provider is its three hosts on 443, or `openai_base_url`/`chatgpt_base_url` where set. A
/// provider that signs in with the ChatGPT login (the built-in one, or `requires_openai_auth`)
/// also reaches the token endpoint: `token_url` (Codex's `CODEX_REFRESH_TOKEN_URL_OVERRIDE`, from
/// the user's environment) or `auth.openai.com`.
pub fn provider_destinations(
    config: &toml_edit::Table,
    token_url: Option<&str>,
) -> Result<Provider, EgressError> {
    let name = config
        .get("model_provider")
        .and_then(|v| v.as_str())
        .unwrap_or("openai");
    let table = config
        .get("model_providers")
        .and_then(|p| p.as_table_like())
        .and_then(|p| p.get(name))
        .and_then(|p| p.as_table_like());
    let custom = table
        .and_then(|p| p.get("base_url"))
        .and_then(|u| u.as_str());
    let chatgpt_login = table
        .and_then(|p| p.get("requires_openai_auth"))
        .and_then(|v| v.as_bool())
        .unwrap_or(false);
    let endpoint = |url: &str| {
        url_authority(url).ok_or_else(|| EgressError::BaseUrl {
            provider: name.to_string(),
            url: url.to_string(),
        })
    };
    let token =
        |provider: &mut Provider| -> Result<(), EgressError> {
            match token_url {
                Some(url) => provider.endpoints.push(url_authority(url).ok_or_else(|| {
                    EgressError::BaseUrl {
                        provider: "CODEX_REFRESH_TOKEN_URL_OVERRIDE".into(),
                        url: url.to_string(),
                    }
                })?),
                None => provider.rules.push("auth.openai.com:443".into()),
            }
            Ok(())
        };
    if let Some(url) = custom {
        let mut provider = Provider {
            rules: Vec::new(),
            endpoints: vec![endpoint(url)?],
        };
        if chatgpt_login {
            token(&mut provider)?;
        }
        return Ok(provider);
    }
    if name != "openai" {
        // An unknown provider without a base_url: Codex itself refuses it; nothing to open.
        return Ok(Provider::default());
    }
    let mut provider = Provider::default();
    let overridden = |key: &str| config.get(key).and_then(|v| v.as_str());
    match overridden("openai_base_url") {
        Some(url) => provider.endpoints.push(endpoint(url)?),
        None => provider.rules.push("api.openai.com:443".into()),
    }
    match overridden("chatgpt_base_url") {
        Some(url) => provider.endpoints.push(endpoint(url)?),
        None => provider.rules.push("chatgpt.com:443".into()),
    }
    token(&mut provider)?;
    Ok(provider)
}

/// `host:port` of an `http(s)://` URL (the scheme's port when none is written).
fn url_authority(url: &str) -> Option<String> {
    let (scheme, rest) = url.trim().split_once("://")?;
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "https" | "wss" => 443,
        "http" | "ws" => 80,
        _ => return None,
    };
    let authority = rest.split(['/', '?', '#']).next()?;
    let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
    let (host, port) = parse_authority_or(authority, default_port).ok()?;
    Some(format!("{host}:{port}"))
}

/// What the executor starts: the proxy's policy, where it logs, and how the task reaches it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EgressPlan {
    pub egress: Egress,
    /// The proxy's event log, in the launcher's state dir (no sandbox writes there).
    pub log: PathBuf,
    /// Where the executor creates the proxy's private socket directory (bubblewrap only).
    pub socket_parent: Option<PathBuf>,
    /// The address the task's proxy variables name when it is fixed at plan time (bubblewrap's
    /// relay); `None`: the proxy's own ephemeral loopback port, known once it is bound.
    pub task_sees: Option<SocketAddr>,
}

impl EgressPlan {
    /// The `egress` object of `explain --json`.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "proxy": match self.task_sees {
                Some(addr) => format!("http://{addr} (relay inside the sandbox)"),
                None => "http://127.0.0.1:<port bound at launch>".into(),
            },
            "allow": self.egress.describe(),
            "log": self.log.to_string_lossy(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider_destinations_default(config: &toml_edit::Table) -> Result<Provider, EgressError> {
        provider_destinations(config, None)
    }

    #[test]
    fn a_chatgpt_login_reaches_the_token_endpoint_the_user_set() {
        let p =
            provider_destinations(&root(""), Some("http://127.0.0.1:4444/oauth/token")).unwrap();
        assert_eq!(p.endpoints, ["127.0.0.1:4444"]);
        assert!(!p.rules.iter().any(|r| r.starts_with("auth.")));
        let custom =
            "model_provider = \"m\"\n[model_providers.m]\nbase_url = \"http://127.0.0.1:9/v1\"\n";
        let p = provider_destinations(&root(custom), None).unwrap();
        assert_eq!((p.endpoints.len(), p.rules.len()), (1, 0));
        let with_login = format!("{custom}requires_openai_auth = true\n");
        let p = provider_destinations(&root(&with_login), None).unwrap();
        assert_eq!(p.rules, ["auth.openai.com:443"]);
    }

    fn root(text: &str) -> toml_edit::Table {
        text.parse::<toml_edit::DocumentMut>()
            .unwrap()
            .as_table()
            .clone()
    }

    #[test]
    fn the_default_provider_is_openai_on_443() {
        let p = provider_destinations_default(&root("")).unwrap();
        assert_eq!(
            p.rules,
            [
                "api.openai.com:443",
                "chatgpt.com:443",
                "auth.openai.com:443"
            ]
        );
        assert!(p.endpoints.is_empty());
    }

    #[test]
    fn a_custom_provider_is_exactly_its_host_and_port() {
        let p = provider_destinations_default(&root(
            "model_provider = \"mock\"\n[model_providers.mock]\nbase_url = \"http://127.0.0.1:4567/v1\"\n",
        ))
        .unwrap();
        assert!(p.rules.is_empty());
        assert_eq!(p.endpoints, ["127.0.0.1:4567"]);
        let p = provider_destinations_default(&root(
            "model_provider = \"a\"\nmodel_providers.a.base_url = \"https://user@LLM.Example.COM/x\"\n",
        ))
        .unwrap();
        assert_eq!(p.endpoints, ["llm.example.com:443"]);
        let p = provider_destinations_default(&root(
            "model_provider = \"v6\"\n[model_providers.v6]\nbase_url = \"http://[::1]:9/\"\n",
        ))
        .unwrap();
        assert_eq!(p.endpoints, ["[::1]:9"]);
        assert!(provider_destinations_default(&root(
            "model_provider = \"bad\"\n[model_providers.bad]\nbase_url = \"file:///x\"\n"
        ))
        .is_err());
    }

    #[test]
    fn a_provider_on_loopback_opens_only_its_port() {
        let mut egress = Egress::from_flags(&[], &[], &[]).unwrap();
        egress = egress.with_provider(Provider {
            rules: vec![],
            endpoints: vec!["127.0.0.1:4567".into()],
        });
        let policy = egress.policy().unwrap();
        let decide = |s: &str| {
            let (host, port) = crate::netproxy::host::parse_authority(s).unwrap();
            matches!(
                policy.decide(&crate::netproxy::Target { host, port }),
                crate::netproxy::Decision::Allowed(_)
            )
        };
        assert!(decide("127.0.0.1:4567"));
        assert!(!decide("127.0.0.1:4568"));
        assert!(!decide("localhost:4567"));
        assert!(!decide("169.254.169.254:80"));
        assert!(egress.loopback_endpoint());
        let env = egress.env("127.0.0.1:3128".parse().unwrap());
        assert!(env.contains(&("NO_PROXY".into(), String::new())));
    }

    #[test]
    fn a_mapping_needs_its_name_allowed() {
        assert!(matches!(
            Egress::from_flags(&[], &[], &["a.test=127.0.0.1".into()]),
            Err(EgressError::ResolveNotAllowed(_))
        ));
        assert!(matches!(
            Egress::from_flags(&["*.test".into()], &[], &["a.test=127.0.0.1".into()]),
            Err(EgressError::ResolveNotAllowed(_))
        ));
        assert!(matches!(
            Egress::from_flags(&["a.test".into()], &[], &["a.test".into()]),
            Err(EgressError::ResolveSyntax(_))
        ));
        let e = Egress::from_flags(&["a.test:8080".into()], &[], &["A.test=::1".into()]).unwrap();
        assert_eq!(e.resolve, [("a.test".to_string(), "::1".parse().unwrap())]);
        assert!(e.loopback_endpoint());
        assert!(matches!(
            Egress::from_flags(&["bad host".into()], &[], &[]),
            Err(EgressError::Rule {
                flag: "--allow-domain",
                ..
            })
        ));
        assert!(matches!(
            Egress::from_flags(&[], &["example.com".into()], &[]),
            Err(EgressError::Rule {
                flag: "--allow-endpoint",
                ..
            })
        ));
    }
}
