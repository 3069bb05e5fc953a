//! What the managed sandbox block tells Codex inside, given the outer layer (DESIGN §4) and, with
//! no outer sandbox, the platform seed matrix (reference multica-codex-home.md §6, with Linux kept
//! sandboxed as the issue asks).

use serde::Serialize;

use super::managed::SandboxSetting;
use super::managed_keys::AgentSwitch;
use crate::select::Backend;

/// The first Codex release whose Seatbelt honours `network_access` in workspace-write on macOS
/// (openai/codex#10390). None is known yet.
pub const DARWIN_NETWORK_FIX_VERSION: &str = "";

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Platform {
    Linux,
    Macos,
    Windows,
}

impl Platform {
    pub fn host() -> Self {
        match std::env::consts::OS {
            "macos" => Self::Macos,
            "windows" => Self::Windows,
            _ => Self::Linux,
        }
    }
}

/// `windows.sandbox` in the per-task config: absent, a native value, or anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum WindowsSandbox {
    Absent,
    Native,
    Undecidable,
}

impl WindowsSandbox {
    pub fn classify(value: Option<&toml_edit::Item>) -> Self {
        match value {
            None => Self::Absent,
            Some(item) => match item
                .as_str()
                .map(|s| s.trim().trim_matches(['"', '\'']).trim())
            {
                Some("") => Self::Absent,
                Some("unelevated") | Some("elevated") => Self::Native,
                _ => Self::Undecidable,
            },
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Decision {
    pub setting: SandboxSetting,
    pub reason: String,
    /// Printed as a warning when Codex runs unsandboxed without an outer layer.
    pub hint: Option<String>,
}

/// Parses `codex-cli 0.121.0`-style text; pre-release suffixes are ignored.
pub fn parse_version(text: &str) -> Option<semver::Version> {
    text.split(|c: char| c.is_whitespace() || c == 'v')
        .filter_map(|word| {
            let core: String = word
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect();
            let parts: Vec<&str> = core.split('.').collect();
            (parts.len() >= 3).then(|| semver::Version::parse(&parts[..3].join(".")).ok())?
        })
        .next()
}

/// What Codex inside is told, given the outer layer. `network_on`: whether the outer layer gives
/// network at all; the commands Codex runs get it only when the user's config also allows it
/// (`managed::apply_parsed` resolves that), as in plain Codex, whose workspace-write denies it.
pub fn decide(
    outer: Backend,
    network_on: bool,
    platform: Platform,
    codex_version: Option<&str>,
    windows: WindowsSandbox,
) -> Decision {
    let agent_switch = AgentSwitch::for_version(codex_version.and_then(parse_version).as_ref());
    let mut d = match outer {
        Backend::Seatbelt | Backend::Landlock => Decision {
            setting: SandboxSetting {
                mode: "danger-full-access",
                network_access: None,
                default_permissions: Some(":danger-full-access"),
                network_ceiling: network_on,
                agent_switch,
            },
            reason: format!(
                "the outer {} layer enforces the workspace; Codex's own sandbox cannot start inside it",
                outer.name()
            ),
            hint: None,
        },
        Backend::BwrapSystem | Backend::BwrapVendored => Decision {
            setting: workspace_write(),
            reason: "outer bubblewrap: Codex keeps its own workspace-write sandbox inside (nested user namespaces work)".into(),
            hint: None,
        },
        Backend::None => seed_matrix(platform, codex_version, windows),
    };
    d.setting.network_ceiling = network_on;
    d.setting.agent_switch = agent_switch;
    d
}

/// Workspace-write, commands without network until the user's config allows it.
fn workspace_write() -> SandboxSetting {
    SandboxSetting {
        mode: "workspace-write",
        network_access: Some(false),
        default_permissions: None,
        network_ceiling: false,
        agent_switch: AgentSwitch::default(),
    }
}

fn seed_matrix(
    platform: Platform,
    codex_version: Option<&str>,
    windows: WindowsSandbox,
) -> Decision {
    let ww = workspace_write();
    let danger = SandboxSetting {
        mode: "danger-full-access",
        network_access: None,
        ..workspace_write()
    };
    match platform {
        Platform::Linux => Decision {
            setting: ww,
            reason: "no outer sandbox on Linux: Codex's own workspace-write sandbox".into(),
            hint: None,
        },
        Platform::Macos => {
            let fixed = parse_version(DARWIN_NETWORK_FIX_VERSION);
            let have = codex_version.and_then(parse_version);
            match (fixed, have) {
                (Some(fixed), Some(have)) if have >= fixed => Decision {
                    setting: ww,
                    reason: "codex version includes the macOS network_access fix".into(),
                    hint: None,
                },
                (_, have) => Decision {
                    setting: danger,
                    reason: format!(
                        "codex on macOS: seatbelt ignores sandbox_workspace_write.network_access (openai/codex#10390){}",
                        if have.is_none() { " — version unknown, assuming broken" } else { "" }
                    ),
                    hint: Some("upgrade Codex CLI (e.g. `brew upgrade codex` or `npm i -g @openai/codex`) once a release including openai/codex#10390 is available, or run under codex-run's outer Seatbelt layer".into()),
                },
            }
        }
        Platform::Windows => match windows {
            WindowsSandbox::Absent => Decision {
                setting: danger,
                reason: "codex on windows: compatibility fallback; no native windows.sandbox configured".into(),
                hint: None,
            },
            WindowsSandbox::Native => Decision {
                setting: ww,
                reason: "codex on windows: native windows.sandbox configured; keeping workspace-write".into(),
                hint: None,
            },
            WindowsSandbox::Undecidable => Decision {
                setting: ww,
                reason: "codex on windows: windows.sandbox config undecidable; failing closed to workspace-write".into(),
                hint: None,
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_like_codex_prints_them() {
        assert_eq!(
            parse_version("codex-cli 0.121.0"),
            Some(semver::Version::new(0, 121, 0))
        );
        assert_eq!(
            parse_version("codex-cli 0.121.0-alpha.3"),
            Some(semver::Version::new(0, 121, 0))
        );
        assert_eq!(parse_version("v1.2"), None);
        assert_eq!(parse_version(""), None);
    }

    #[test]
    fn outer_layer_decides_first() {
        let d = decide(
            Backend::Landlock,
            true,
            Platform::Linux,
            None,
            WindowsSandbox::Absent,
        );
        assert_eq!(d.setting.mode, "danger-full-access");
        let d = decide(
            Backend::BwrapSystem,
            false,
            Platform::Linux,
            None,
            WindowsSandbox::Absent,
        );
        assert_eq!(d.setting.mode, "workspace-write");
        assert_eq!(d.setting.network_access, Some(false));
        assert!(!d.setting.network_ceiling);
        let d = decide(
            Backend::Seatbelt,
            true,
            Platform::Macos,
            None,
            WindowsSandbox::Absent,
        );
        assert_eq!(d.setting.mode, "danger-full-access");
    }

    #[test]
    fn seed_matrix_without_outer_layer() {
        let d = decide(
            Backend::None,
            false,
            Platform::Linux,
            None,
            WindowsSandbox::Absent,
        );
        assert_eq!(d.setting.mode, "workspace-write");
        assert_eq!(
            d.setting.network_access,
            Some(false),
            "commands get network only when the user's config allows it"
        );
        let d = decide(
            Backend::None,
            true,
            Platform::Macos,
            Some("codex-cli 9.9.9"),
            WindowsSandbox::Absent,
        );
        assert_eq!(d.setting.mode, "danger-full-access");
        assert!(d.hint.is_some() && !d.reason.contains("unknown"));
        let d = decide(
            Backend::None,
            true,
            Platform::Macos,
            None,
            WindowsSandbox::Absent,
        );
        assert!(d.reason.ends_with("version unknown, assuming broken"));
        for (w, mode) in [
            (WindowsSandbox::Absent, "danger-full-access"),
            (WindowsSandbox::Native, "workspace-write"),
            (WindowsSandbox::Undecidable, "workspace-write"),
        ] {
            assert_eq!(
                decide(Backend::None, true, Platform::Windows, None, w)
                    .setting
                    .mode,
                mode
            );
        }
        let item = toml_edit::value("Unelevated");
        assert_eq!(
            WindowsSandbox::classify(Some(&item)),
            WindowsSandbox::Undecidable
        );
        let item = toml_edit::value(" 'elevated' ");
        assert_eq!(
            WindowsSandbox::classify(Some(&item)),
            WindowsSandbox::Native
        );
    }
}
