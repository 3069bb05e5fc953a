//! The `--permission-profile` JSON that Codex passes to its helper (reference codex-linux-sandbox.md §3):
//! the tagged shape Codex emits today and the legacy untagged shape from older rollout files. Parsing,
//! validation and the canonical re-serialisation handed to the inner stage.

use std::num::NonZeroUsize;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// A whole permission profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum PermissionProfile {
    /// Sandboxed with the given filesystem and network rules.
    Managed {
        file_system: ManagedFileSystem,
        network: Network,
    },
    /// No sandbox at all.
    Disabled,
    /// Another sandbox encloses the command; only network rules apply.
    External { network: Network },
}

/// Filesystem part of a managed profile.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ManagedFileSystem {
    Restricted {
        entries: Vec<Entry>,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        glob_scan_max_depth: Option<NonZeroUsize>,
    },
    Unrestricted,
}

/// Whether the command may use the network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Network {
    Restricted,
    Enabled,
}

/// One filesystem rule: a path (or pattern) and the access it gets.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub path: FsPath,
    pub access: Access,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub missing_path_behavior: Option<MissingPathBehavior>,
}

/// Access levels; `none` is accepted as a spelling of `deny` and written back as `deny`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Access {
    Read,
    Write,
    #[serde(alias = "none")]
    Deny,
}

/// The only value Codex defines; it has no visible effect on Linux (reference §5.4.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum MissingPathBehavior {
    Skip,
}

/// What an entry names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum FsPath {
    /// An absolute path.
    Path { path: PathBuf },
    /// A glob; relative patterns are joined to the policy cwd.
    GlobPattern { pattern: String },
    /// A path that depends on the host or the invocation.
    Special { value: Special },
}

/// Host- or invocation-dependent paths.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Special {
    Root,
    Minimal,
    #[serde(alias = "current_working_directory")]
    ProjectRoots {
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subpath: Option<PathBuf>,
    },
    Tmpdir,
    SlashTmp,
    /// A token this version does not know; accepted and ignored, as Codex does.
    Unknown {
        path: String,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        subpath: Option<PathBuf>,
    },
}

/// The pre-tagged shape: `{"network": {"enabled": bool}, "file_system": {"entries": [...]}}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LegacyProfile {
    #[serde(default)]
    network: Option<LegacyNetwork>,
    #[serde(default)]
    file_system: Option<LegacyFileSystem>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LegacyNetwork {
    #[serde(default)]
    enabled: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct LegacyFileSystem {
    entries: Vec<Entry>,
    #[serde(default)]
    glob_scan_max_depth: Option<NonZeroUsize>,
}

/// Why a profile was rejected; the message names what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid permission profile JSON: {0}")]
pub struct ProfileError(pub String);

impl PermissionProfile {
    /// Parses either shape. An object with a `type` key is the tagged shape; anything else is
    /// tried as the legacy shape. Errors carry serde's position or the offending value.
    pub fn parse(json: &str) -> Result<Self, ProfileError> {
        let value: serde_json::Value =
            serde_json::from_str(json).map_err(|e| ProfileError(e.to_string()))?;
        let profile = if value.get("type").is_some() {
            serde_json::from_value::<PermissionProfile>(value)
                .map_err(|e| ProfileError(e.to_string()))?
        } else {
            let legacy: LegacyProfile = serde_json::from_value(value)
                .map_err(|e| ProfileError(format!("{e} (legacy profile shape)")))?;
            legacy.into_tagged()
        };
        profile.validate()?;
        Ok(profile)
    }

    /// The canonical JSON handed to the inner stage: tagged shape, `deny` spelled out, unknown
    /// fields gone, optional fields only when set.
    pub fn to_canonical_json(&self) -> String {
        serde_json::to_string(self).expect("profile types always serialise")
    }

    /// The network setting, with `disabled` meaning full network access.
    pub fn network(&self) -> Network {
        match self {
            Self::Managed { network, .. } | Self::External { network } => *network,
            Self::Disabled => Network::Enabled,
        }
    }

    fn validate(&self) -> Result<(), ProfileError> {
        let Self::Managed {
            file_system: ManagedFileSystem::Restricted { entries, .. },
            ..
        } = self
        else {
            return Ok(());
        };
        for entry in entries {
            match &entry.path {
                FsPath::Path { path } if !path.is_absolute() => {
                    return Err(ProfileError(format!(
                        "path entry {:?} must be absolute (use a project_roots subpath for relative paths)",
                        path.display().to_string()
                    )))
                }
                FsPath::Special {
                    value: Special::ProjectRoots { subpath: Some(sub) } | Special::Unknown { subpath: Some(sub), .. },
                } if sub.is_absolute() => {
                    return Err(ProfileError(format!(
                        "subpath {:?} must be relative",
                        sub.display().to_string()
                    )))
                }
                FsPath::GlobPattern { pattern } if pattern.is_empty() => {
                    return Err(ProfileError("glob_pattern must not be empty".into()))
                }
                _ => {}
            }
        }
        Ok(())
    }
}

impl LegacyProfile {
    fn into_tagged(self) -> PermissionProfile {
        let (entries, glob_scan_max_depth) = match self.file_system {
            Some(fs) => (fs.entries, fs.glob_scan_max_depth),
            None => (Vec::new(), None),
        };
        let enabled = self.network.and_then(|n| n.enabled) == Some(true);
        PermissionProfile::Managed {
            file_system: ManagedFileSystem::Restricted {
                entries,
                glob_scan_max_depth,
            },
            network: if enabled {
                Network::Enabled
            } else {
                Network::Restricted
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const WORKSPACE_WRITE: &str = r#"{"type":"managed","file_system":{"type":"restricted","entries":[{"path":{"type":"special","value":{"kind":"root"}},"access":"read"},{"path":{"type":"path","path":"/w"},"access":"write"},{"path":{"type":"special","value":{"kind":"slash_tmp"}},"access":"write"},{"path":{"type":"special","value":{"kind":"tmpdir"}},"access":"write"},{"path":{"type":"path","path":"/w/.git"},"access":"read","missing_path_behavior":"skip"}]},"network":"restricted"}"#;

    #[test]
    fn codex_profiles_round_trip_byte_for_byte() {
        let p = PermissionProfile::parse(WORKSPACE_WRITE).unwrap();
        assert_eq!(p.to_canonical_json(), WORKSPACE_WRITE);
    }

    #[test]
    fn canonical_form_normalises_aliases_and_drops_unknown_fields() {
        let p = PermissionProfile::parse(
            r#"{"type":"managed","extra":1,"file_system":{"type":"restricted","entries":[{"path":{"type":"special","value":{"kind":"current_working_directory"}},"access":"none"}]},"network":"enabled"}"#,
        )
        .unwrap();
        assert_eq!(
            p.to_canonical_json(),
            r#"{"type":"managed","file_system":{"type":"restricted","entries":[{"path":{"type":"special","value":{"kind":"project_roots"}},"access":"deny"}]},"network":"enabled"}"#
        );
    }

    #[test]
    fn legacy_shape_maps_to_managed_restricted() {
        let p = PermissionProfile::parse("{}").unwrap();
        assert_eq!(
            p,
            PermissionProfile::Managed {
                file_system: ManagedFileSystem::Restricted {
                    entries: vec![],
                    glob_scan_max_depth: None
                },
                network: Network::Restricted
            }
        );
        let p = PermissionProfile::parse(r#"{"network":{"enabled":true}}"#).unwrap();
        assert_eq!(p.network(), Network::Enabled);
        assert!(PermissionProfile::parse(r#"{"bogus":1}"#).is_err());
    }

    #[test]
    fn rejects_what_codex_rejects() {
        for bad in [
            "notjson",
            r#"{"type":"managed"}"#,
            r#"{"type":"external"}"#,
            r#"{"type":"bogus"}"#,
            r#"{"type":"managed","file_system":{"type":"restricted","entries":[{"path":{"type":"path","path":"sub"},"access":"read"}]},"network":"restricted"}"#,
            r#"{"type":"managed","file_system":{"type":"restricted","entries":[{"path":{"type":"special","value":{"kind":"bogus"}},"access":"read"}]},"network":"restricted"}"#,
            r#"{"type":"managed","file_system":{"type":"restricted","entries":[{"path":{"type":"special","value":{"kind":"root"}},"access":"bogus"}]},"network":"restricted"}"#,
            r#"{"type":"managed","file_system":{"type":"restricted","entries":[{"path":{"type":"special","value":{"kind":"root"}},"access":"read","missing_path_behavior":"error"}]},"network":"restricted"}"#,
            r#"{"type":"managed","file_system":{"type":"restricted","entries":[],"glob_scan_max_depth":0},"network":"restricted"}"#,
            r#"{"type":"managed","file_system":{"type":"restricted"},"network":"restricted"}"#,
            r#"{"type":"managed","file_system":{"type":"unrestricted"},"network":"sometimes"}"#,
        ] {
            let err = PermissionProfile::parse(bad).unwrap_err();
            assert!(
                err.to_string()
                    .starts_with("invalid permission profile JSON: "),
                "{err}"
            );
        }
    }

    #[test]
    fn relative_path_error_names_the_path() {
        let err = PermissionProfile::parse(
            r#"{"type":"managed","file_system":{"type":"restricted","entries":[{"path":{"type":"path","path":"sub/dir"},"access":"read"}]},"network":"restricted"}"#,
        )
        .unwrap_err();
        assert!(
            err.to_string().contains("\"sub/dir\" must be absolute"),
            "{err}"
        );
    }
}
