//! Which keys of the per-task `config.toml` the launcher owns, per Codex version range (reference
//! codex-config-and-auth.md §1, §2): every key through which Codex's effective sandbox can be
//! chosen or left, and the feature/agent switches under the names each version reads.
//!
//! User keys matching [`removed`] are taken out of the user's document, wherever and however they
//! are written; [`entries`] are what the managed blocks then set.

use super::blocks::{self, Marker};
use super::edit::{Pattern, Seg};
use super::managed::ManagedConfig;

use Seg::{Any, Key};

/// How a Codex version spells the switch that removes subagent tools (reference §2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum AgentSwitch {
    /// Codex 0.169 and later (and an unknown version: the current names): `[agents].enabled =
    /// false` removes the tools unless `features.multi_agent_v2` is on, so that is pinned off too.
    /// `[features].multi_agent` only prints a deprecation warning there, twice per exec.
    #[default]
    Agents,
    /// Before 0.169: `[features].multi_agent = false`.
    FeaturesMultiAgent,
}

/// The first Codex release read as [`AgentSwitch::Agents`].
pub const AGENTS_SWITCH_SINCE: semver::Version = semver::Version::new(0, 169, 0);

impl AgentSwitch {
    pub fn for_version(version: Option<&semver::Version>) -> Self {
        match version {
            Some(v) if *v < AGENTS_SWITCH_SINCE => Self::FeaturesMultiAgent,
            _ => Self::Agents,
        }
    }
}

/// Sandbox keys: always the launcher's, whatever the outer layer.
///
/// - `sandbox_mode`, `default_permissions`: the highest layer setting either decides, and within a
///   layer `default_permissions` wins (§1.2), so a user `default_permissions` would beat the
///   managed `sandbox_mode`.
/// - `permissions`: profiles merge by name across layers (§1.5); none is needed once
///   `default_permissions` is the launcher's.
/// - `profile`: a load error in 0.169+ (§1.6), the profile selector before; `profiles.*` sandbox
///   and approval keys, for the versions that apply a selected profile.
/// - `sandbox_workspace_write.network_access`: commands get network only as the user allows it and
///   the outer layer can give it (read before removal, see `managed::user_allows_network`). The
///   table's other keys stay: `writable_roots` only widens Codex's inner layer inside the outer one,
///   the `exclude_*` keys narrow it.
/// - `approvals_reviewer`: `auto_review` hands escalations, which run outside the sandbox, to a
///   model instead of the user (§1.8).
/// - `features.use_legacy_landlock`: another inner sandbox, deprecated with a warning (§1.11).
/// - `projects.*.trust_level`: a trusted project's `.codex/config.toml` is a layer above the user's
///   and may set any of the above (§1.7); a task can write project directories.
const SANDBOX: &[Pattern] = &[
    &[Key("sandbox_mode")],
    &[Key("default_permissions")],
    &[Key("permissions")],
    &[Key("profile")],
    &[Key("profiles"), Any, Key("sandbox_mode")],
    &[Key("profiles"), Any, Key("default_permissions")],
    &[Key("profiles"), Any, Key("sandbox_workspace_write")],
    &[Key("profiles"), Any, Key("approvals_reviewer")],
    &[
        Key("profiles"),
        Any,
        Key("features"),
        Key("use_legacy_landlock"),
    ],
    &[Key("sandbox_workspace_write"), Key("network_access")],
    &[Key("approvals_reviewer")],
    &[Key("features"), Key("use_legacy_landlock")],
    &[Key("projects"), Any, Key("trust_level")],
];

/// Every spelling of the multi-agent switch, in any version: whichever the launcher sets, the
/// others must not contradict it.
const MULTI_AGENT: &[Pattern] = &[
    &[Key("features"), Key("multi_agent")],
    &[Key("features"), Key("multi_agent_v2")],
    &[Key("agents"), Key("enabled")],
];

const MEMORY: &[Pattern] = &[
    &[Key("features"), Key("memories")],
    &[Key("memories"), Key("generate_memories")],
    &[Key("memories"), Key("use_memories")],
];

/// The user keys removed under `m`.
pub fn removed(m: &ManagedConfig) -> Vec<Pattern> {
    let mut out = SANDBOX.to_vec();
    if m.multi_agent {
        out.extend_from_slice(MULTI_AGENT);
    }
    if m.memory {
        out.extend_from_slice(MEMORY);
    }
    out
}

/// Whether a `-c` override of `path` would set a key the launcher owns (or lie under one). The
/// user's `sandbox_workspace_write.network_access` is their consent to command network, not a
/// conflict.
pub fn overrides_managed(path: &[String], m: &ManagedConfig) -> bool {
    removed(m)
        .iter()
        .filter(|p| **p != [Key("sandbox_workspace_write"), Key("network_access")])
        .any(|p| {
            p.len() <= path.len()
                && p.iter().zip(path).all(|(s, k)| match s {
                    Key(name) => name == k,
                    Any => true,
                })
        })
}

/// One managed key: in which block, under which root table (`None`: the root), and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub marker: Marker,
    pub table: Option<&'static str>,
    pub key: &'static str,
    pub value: String,
}

fn entry(marker: Marker, table: Option<&'static str>, key: &'static str, value: &str) -> Entry {
    Entry {
        marker,
        table,
        key,
        value: value.to_string(),
    }
}

/// What the managed blocks set, in Multica's block order: memory blocks, multi-agent, sandbox.
/// `network` is the effective `network_access` (workspace-write only).
pub fn entries(m: &ManagedConfig, network: Option<bool>) -> Vec<Entry> {
    let mut out = Vec::new();
    if m.memory {
        out.push(entry(
            blocks::MEMORY_FEATURE,
            Some("features"),
            "memories",
            "false",
        ));
        out.push(entry(
            blocks::MEMORY_CONFIG,
            Some("memories"),
            "generate_memories",
            "false",
        ));
        out.push(entry(
            blocks::MEMORY_CONFIG,
            Some("memories"),
            "use_memories",
            "false",
        ));
    }
    if m.multi_agent {
        match m.sandbox.agent_switch {
            AgentSwitch::Agents => {
                out.push(entry(
                    blocks::MULTI_AGENT,
                    Some("agents"),
                    "enabled",
                    "false",
                ));
                out.push(entry(
                    blocks::MULTI_AGENT,
                    Some("features"),
                    "multi_agent_v2",
                    "false",
                ));
            }
            AgentSwitch::FeaturesMultiAgent => out.push(entry(
                blocks::MULTI_AGENT,
                Some("features"),
                "multi_agent",
                "false",
            )),
        }
    }
    out.push(entry(
        blocks::SANDBOX,
        None,
        "sandbox_mode",
        &format!("\"{}\"", m.sandbox.mode),
    ));
    if let Some(profile) = m.sandbox.default_permissions {
        out.push(entry(
            blocks::SANDBOX,
            None,
            "default_permissions",
            &format!("\"{profile}\""),
        ));
    }
    if let Some(net) = network {
        out.push(entry(
            blocks::SANDBOX,
            Some("sandbox_workspace_write"),
            "network_access",
            &net.to_string(),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_pick_the_agent_switch() {
        let v = |s: &str| semver::Version::parse(s).unwrap();
        assert_eq!(
            AgentSwitch::for_version(Some(&v("0.168.9"))),
            AgentSwitch::FeaturesMultiAgent
        );
        assert_eq!(
            AgentSwitch::for_version(Some(&v("0.169.0"))),
            AgentSwitch::Agents
        );
        assert_eq!(
            AgentSwitch::for_version(Some(&v("0.171.0"))),
            AgentSwitch::Agents
        );
        assert_eq!(AgentSwitch::for_version(None), AgentSwitch::Agents);
    }
}
