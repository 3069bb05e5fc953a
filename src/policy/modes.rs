//! Codex's sandbox modes as permission profiles, so `run`, `explain` and the helper share one policy
//! model.

use std::path::{Path, PathBuf};

use super::PermissionProfile;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum SandboxMode {
    ReadOnly,
    WorkspaceWrite,
    DangerFullAccess,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Network {
    /// Only through the launcher's egress proxy: Codex reaches its model provider, Codex and its
    /// commands reach what `--allow-domain`/`--allow-endpoint` add, nothing else.
    Filtered,
    /// Unrestricted, host unix sockets included.
    On,
    /// Nothing at all (Codex cannot reach its model API either).
    Off,
    /// Only to the loopback proxy named by HTTP(S)_PROXY/ALL_PROXY (Seatbelt only).
    Proxy,
}

/// The profile for `mode`: read-only reads everything; workspace-write also writes the workspace,
/// `/tmp`, `$TMPDIR` and `extra_writable`; danger-full-access restricts nothing.
pub fn profile_for(
    mode: SandboxMode,
    network: Network,
    extra_writable: &[PathBuf],
) -> Result<PermissionProfile, String> {
    for root in extra_writable {
        if !root.is_absolute() {
            return Err(format!(
                "--writable-root {}: must be an absolute path",
                root.display()
            ));
        }
    }
    let net = match network {
        Network::On | Network::Proxy => "enabled",
        // The sandbox itself has no network; the proxy is the one way out.
        Network::Off | Network::Filtered => "restricted",
    };
    let special = |kind: &str, access: &str| {
        format!(
            r#"{{"path":{{"type":"special","value":{{"kind":"{kind}"}}}},"access":"{access}"}}"#
        )
    };
    let path = |p: &Path| {
        let quoted = serde_json::to_string(&p.to_string_lossy()).expect("a string serialises");
        format!(r#"{{"path":{{"type":"path","path":{quoted}}},"access":"write"}}"#)
    };
    let json = match mode {
        SandboxMode::DangerFullAccess => {
            format!(
                r#"{{"type":"managed","file_system":{{"type":"unrestricted"}},"network":"{net}"}}"#
            )
        }
        SandboxMode::ReadOnly => format!(
            r#"{{"type":"managed","file_system":{{"type":"restricted","entries":[{}]}},"network":"{net}"}}"#,
            special("root", "read")
        ),
        SandboxMode::WorkspaceWrite => {
            let mut entries = vec![
                special("root", "read"),
                special("project_roots", "write"),
                special("slash_tmp", "write"),
                special("tmpdir", "write"),
            ];
            entries.extend(extra_writable.iter().map(|p| path(p)));
            format!(
                r#"{{"type":"managed","file_system":{{"type":"restricted","entries":[{}]}},"network":"{net}"}}"#,
                entries.join(",")
            )
        }
    };
    PermissionProfile::parse(&json).map_err(|e| format!("internal profile for {mode:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_round_trip_through_the_profile_parser() {
        for mode in [
            SandboxMode::ReadOnly,
            SandboxMode::WorkspaceWrite,
            SandboxMode::DangerFullAccess,
        ] {
            for net in [Network::On, Network::Off] {
                profile_for(mode, net, &[PathBuf::from("/srv/a \"b\"")]).unwrap();
            }
        }
        assert!(profile_for(
            SandboxMode::WorkspaceWrite,
            Network::On,
            &[PathBuf::from("rel")]
        )
        .is_err());
    }
}
