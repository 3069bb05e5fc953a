//! The backend ladder (DESIGN §3): a pure function of what was asked and what the host offers,
//! returning the backend and one verdict with a reason for every step, so `explain` and `doctor`
//! can say exactly why each backend was or was not used.

use serde::Serialize;

use crate::probe::bwrap::Launcher;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Backend {
    BwrapSystem,
    BwrapVendored,
    Landlock,
    Seatbelt,
    None,
}

impl Backend {
    pub fn name(self) -> &'static str {
        match self {
            Self::BwrapSystem => "bwrap-system",
            Self::BwrapVendored => "bwrap-vendored",
            Self::Landlock => "landlock",
            Self::Seatbelt => "seatbelt",
            Self::None => "none",
        }
    }
}

/// `--backend` / `CODEX_LAUNCHER_BACKEND`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum BackendRequest {
    Auto,
    Bwrap,
    BwrapSystem,
    BwrapVendored,
    Landlock,
    Seatbelt,
    None,
}

impl BackendRequest {
    /// With `auto`, the older `CODEX_LAUNCHER_BWRAP=system|vendored` still narrows the choice.
    pub fn with_bwrap_env(self, bwrap_env: Option<&str>) -> Result<Self, String> {
        if self != Self::Auto {
            return Ok(self);
        }
        match bwrap_env {
            None | Some("") | Some("auto") => Ok(Self::Auto),
            Some("system") => Ok(Self::BwrapSystem),
            Some("vendored") => Ok(Self::BwrapVendored),
            Some(other) => Err(format!(
                "invalid CODEX_LAUNCHER_BWRAP={other:?}: expected system, vendored or auto"
            )),
        }
    }

    /// [`Self::with_bwrap_env`] with the process's `CODEX_LAUNCHER_BWRAP`.
    pub fn with_bwrap_env_var(self) -> Result<Self, String> {
        self.with_bwrap_env(std::env::var("CODEX_LAUNCHER_BWRAP").ok().as_deref())
    }

    /// The sandbox the user insisted on (anything but `auto` and `none`), as its flag value.
    pub fn forced(self) -> Option<String> {
        use clap::ValueEnum;
        match self {
            Self::Auto | Self::None => None,
            other => other.to_possible_value().map(|v| v.get_name().to_string()),
        }
    }

    pub fn allows(self, backend: Backend) -> bool {
        match self {
            Self::Auto => backend != Backend::None,
            Self::Bwrap => matches!(backend, Backend::BwrapSystem | Backend::BwrapVendored),
            Self::BwrapSystem => backend == Backend::BwrapSystem,
            Self::BwrapVendored => backend == Backend::BwrapVendored,
            Self::Landlock => backend == Backend::Landlock,
            Self::Seatbelt => backend == Backend::Seatbelt,
            Self::None => backend == Backend::None,
        }
    }
}

/// The bubblewrap the ladder uses when it picks a bwrap backend for `request`: the system one
/// when allowed and usable, else the built-in one when allowed.
pub fn bwrap_launcher(
    request: BackendRequest,
    system: &Result<Launcher, String>,
) -> Option<Launcher> {
    match system {
        Ok(l) if request.allows(Backend::BwrapSystem) => Some(l.clone()),
        _ if request.allows(Backend::BwrapVendored) => Some(Launcher::Vendored),
        _ => None,
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "kebab-case")]
pub enum TargetOs {
    Linux,
    Macos,
}

impl TargetOs {
    /// The system this binary runs on.
    pub fn host() -> Self {
        if cfg!(target_os = "macos") {
            Self::Macos
        } else {
            Self::Linux
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Chosen,
    Unavailable,
    NotRequested,
    NotTried,
}

impl Verdict {
    pub fn name(self) -> &'static str {
        match self {
            Self::Chosen => "chosen",
            Self::Unavailable => "unavailable",
            Self::NotRequested => "not-requested",
            Self::NotTried => "not-tried",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub backend: Backend,
    pub verdict: Verdict,
    pub reason: String,
}

/// What the ladder looks at; every field is already probed.
#[derive(Debug, Clone)]
pub struct LadderInputs {
    pub os: TargetOs,
    pub request: BackendRequest,
    /// `Err(reason)` when user namespaces cannot be created.
    pub userns: Result<(), String>,
    pub system_bwrap: Result<Launcher, String>,
    pub landlock: Result<u32, String>,
    /// What Landlock could not enforce of this policy.
    pub landlock_gaps: Vec<String>,
    pub require_full_isolation: bool,
    /// `CODEX_SANDBOX=seatbelt`: Seatbelt cannot nest.
    pub inside_seatbelt: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Selection {
    pub backend: Backend,
    /// For the bwrap steps: which bubblewrap.
    #[serde(skip)]
    pub launcher: Option<Launcher>,
    pub ladder: Vec<Step>,
}

/// No backend can enforce the request.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Refusal {
    pub ladder: Vec<Step>,
    pub reason: String,
}

impl std::fmt::Display for Refusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.reason)
    }
}

/// Walks the ladder for `inputs.os`.
pub fn select(inputs: &LadderInputs) -> Result<Selection, Refusal> {
    let candidates: Vec<(Backend, Result<Option<Launcher>, String>)> = match inputs.os {
        TargetOs::Macos => vec![
            (Backend::Seatbelt, seatbelt_step(inputs)),
            (Backend::BwrapSystem, Err("bubblewrap is Linux only".into())),
            (
                Backend::BwrapVendored,
                Err("bubblewrap is Linux only".into()),
            ),
            (Backend::Landlock, Err("Landlock is Linux only".into())),
        ],
        TargetOs::Linux => vec![
            (Backend::BwrapSystem, bwrap_system_step(inputs)),
            (
                Backend::BwrapVendored,
                inputs.userns.clone().map(|()| Some(Launcher::Vendored)),
            ),
            (Backend::Landlock, landlock_step(inputs).map(|()| None)),
            (Backend::Seatbelt, Err("Seatbelt is macOS only".into())),
        ],
    };
    let mut ladder = Vec::new();
    let mut chosen: Option<(Backend, Option<Launcher>)> = None;
    if inputs.request == BackendRequest::None {
        chosen = Some((Backend::None, None));
    }
    for (backend, verdict) in candidates {
        let step = |verdict, reason: String| Step {
            backend,
            verdict,
            reason,
        };
        if let Some((winner, _)) = &chosen {
            ladder.push(step(
                Verdict::NotTried,
                format!("{} was chosen", winner.name()),
            ));
        } else if !inputs.request.allows(backend) {
            ladder.push(step(
                Verdict::NotRequested,
                format!("--backend {}", request_name(inputs.request)),
            ));
        } else {
            match verdict {
                Ok(launcher) => {
                    ladder.push(step(Verdict::Chosen, chosen_reason(backend, &launcher)));
                    chosen = Some((backend, launcher));
                }
                Err(reason) => ladder.push(step(Verdict::Unavailable, reason)),
            }
        }
    }
    if inputs.request == BackendRequest::None {
        ladder.insert(
            0,
            Step {
                backend: Backend::None,
                verdict: Verdict::Chosen,
                reason: "--backend none: no sandbox, as asked".into(),
            },
        );
    }
    match chosen {
        Some((backend, launcher)) => Ok(Selection {
            backend,
            launcher,
            ladder,
        }),
        None => {
            let tried: Vec<String> = ladder
                .iter()
                .filter(|s| {
                    s.verdict == Verdict::Unavailable
                        && inputs.request.allows(s.backend)
                        && native(inputs.os, s.backend)
                })
                .map(|s| format!("{}: {}", s.backend.name(), s.reason))
                .collect();
            let reason = if inputs.request == BackendRequest::Auto {
                format!(
                    "no sandbox backend can enforce this policy here ({})",
                    tried.join("; ")
                )
            } else if tried.is_empty() {
                // Nothing of what was asked for exists on this system at all.
                format!(
                    "--backend {} does not exist on {}; pick one of this system's backends or leave --backend out",
                    request_name(inputs.request),
                    match inputs.os {
                        TargetOs::Linux => "Linux",
                        TargetOs::Macos => "macOS",
                    }
                )
            } else {
                format!(
                    "--backend {} cannot be used here ({})",
                    request_name(inputs.request),
                    tried.join("; ")
                )
            };
            Err(Refusal { ladder, reason })
        }
    }
}

/// Whether `backend` exists on `os` at all (foreign steps are shown, but are no cause of a refusal).
fn native(os: TargetOs, backend: Backend) -> bool {
    match os {
        TargetOs::Linux => backend != Backend::Seatbelt,
        TargetOs::Macos => backend == Backend::Seatbelt,
    }
}

fn request_name(request: BackendRequest) -> &'static str {
    match request {
        BackendRequest::Auto => "auto",
        BackendRequest::Bwrap => "bwrap",
        BackendRequest::BwrapSystem => "bwrap-system",
        BackendRequest::BwrapVendored => "bwrap-vendored",
        BackendRequest::Landlock => "landlock",
        BackendRequest::Seatbelt => "seatbelt",
        BackendRequest::None => "none",
    }
}

fn chosen_reason(backend: Backend, launcher: &Option<Launcher>) -> String {
    match (backend, launcher) {
        (Backend::BwrapSystem, Some(Launcher::System { path, .. })) => {
            format!(
                "{} supports --perms and --as-pid-1; user namespaces work",
                path.display()
            )
        }
        (Backend::BwrapVendored, _) => "built-in bubblewrap 0.12.0; user namespaces work".into(),
        (Backend::Landlock, _) => "Landlock and seccomp can enforce this policy".into(),
        (Backend::Seatbelt, _) => "sandbox-exec is part of macOS".into(),
        _ => "chosen".into(),
    }
}

fn bwrap_system_step(inputs: &LadderInputs) -> Result<Option<Launcher>, String> {
    inputs.userns.clone()?;
    inputs.system_bwrap.clone().map(Some)
}

fn landlock_step(inputs: &LadderInputs) -> Result<(), String> {
    let abi = inputs.landlock.clone()?;
    if inputs.require_full_isolation && !inputs.landlock_gaps.is_empty() {
        return Err(format!(
            "full isolation required, but Landlock ABI {abi} cannot enforce: {}",
            inputs.landlock_gaps.join("; ")
        ));
    }
    Ok(())
}

fn seatbelt_step(inputs: &LadderInputs) -> Result<Option<Launcher>, String> {
    if inputs.inside_seatbelt {
        return Err(
            "already inside a Seatbelt sandbox (CODEX_SANDBOX=seatbelt), and Seatbelt cannot nest; the outer sandbox still applies, so run with --sandbox danger-full-access (or --backend none) to rely on it alone".into(),
        );
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linux() -> LadderInputs {
        LadderInputs {
            os: TargetOs::Linux,
            request: BackendRequest::Auto,
            userns: Ok(()),
            system_bwrap: Ok(Launcher::System {
                path: "/usr/bin/bwrap".into(),
                supports_argv0: true,
            }),
            landlock: Ok(6),
            landlock_gaps: vec!["read-only .git under /ws".into()],
            require_full_isolation: false,
            inside_seatbelt: false,
        }
    }

    fn verdicts(s: &[Step]) -> Vec<(&'static str, Verdict)> {
        s.iter().map(|s| (s.backend.name(), s.verdict)).collect()
    }

    #[test]
    fn system_bwrap_first_when_everything_works() {
        let s = select(&linux()).unwrap();
        assert_eq!(s.backend, Backend::BwrapSystem);
        assert_eq!(
            verdicts(&s.ladder),
            vec![
                ("bwrap-system", Verdict::Chosen),
                ("bwrap-vendored", Verdict::NotTried),
                ("landlock", Verdict::NotTried),
                ("seatbelt", Verdict::NotTried),
            ]
        );
    }

    #[test]
    fn old_system_bwrap_falls_to_vendored_with_its_reason() {
        let mut i = linux();
        i.system_bwrap = Err("/usr/bin/bwrap lacks --perms (too old)".into());
        let s = select(&i).unwrap();
        assert_eq!(s.backend, Backend::BwrapVendored);
        assert_eq!(s.launcher, Some(Launcher::Vendored));
        assert_eq!(s.ladder[0].reason, "/usr/bin/bwrap lacks --perms (too old)");
    }

    #[test]
    fn blocked_user_namespaces_fall_to_landlock_with_the_errno() {
        let mut i = linux();
        i.userns = Err(
            "creating a user namespace failed at unshare: No space left on device (ENOSPC)".into(),
        );
        let s = select(&i).unwrap();
        assert_eq!(s.backend, Backend::Landlock);
        assert!(s.ladder[0].reason.contains("ENOSPC"));
        assert!(s.ladder[1].reason.contains("ENOSPC"));
    }

    #[test]
    fn full_isolation_refuses_landlock_gaps() {
        let mut i = linux();
        i.userns = Err("ENOSPC".into());
        i.require_full_isolation = true;
        let r = select(&i).unwrap_err();
        assert!(
            r.reason.contains("read-only .git under /ws"),
            "{}",
            r.reason
        );
        i.landlock_gaps.clear();
        assert_eq!(select(&i).unwrap().backend, Backend::Landlock);
    }

    #[test]
    fn forced_backends_never_downgrade() {
        let mut i = linux();
        i.request = BackendRequest::BwrapSystem;
        i.system_bwrap = Err("no bwrap on PATH".into());
        let r = select(&i).unwrap_err();
        assert!(
            r.reason
                .starts_with("--backend bwrap-system cannot be used here"),
            "{}",
            r.reason
        );
        i.request = BackendRequest::Landlock;
        let s = select(&i).unwrap();
        assert_eq!(s.backend, Backend::Landlock);
        assert_eq!(s.ladder[0].verdict, Verdict::NotRequested);
        i.landlock = Err("ENOSYS".into());
        assert!(select(&i).is_err());
    }

    #[test]
    fn nothing_available_is_a_refusal_listing_each_cause() {
        let mut i = linux();
        i.userns = Err("userns: ENOSPC".into());
        i.landlock = Err("landlock: EOPNOTSUPP".into());
        let r = select(&i).unwrap_err();
        assert!(r.reason.contains("userns: ENOSPC") && r.reason.contains("landlock: EOPNOTSUPP"));
    }

    #[test]
    fn none_only_when_asked() {
        let mut i = linux();
        i.request = BackendRequest::None;
        assert_eq!(select(&i).unwrap().backend, Backend::None);
    }

    #[test]
    fn macos_uses_seatbelt_unless_nested() {
        let mut i = linux();
        i.os = TargetOs::Macos;
        assert_eq!(select(&i).unwrap().backend, Backend::Seatbelt);
        i.inside_seatbelt = true;
        assert!(select(&i).unwrap_err().reason.contains("cannot nest"));
    }

    #[test]
    fn bwrap_env_narrows_auto_only() {
        assert_eq!(
            BackendRequest::Auto.with_bwrap_env(Some("vendored")),
            Ok(BackendRequest::BwrapVendored)
        );
        assert_eq!(
            BackendRequest::Landlock.with_bwrap_env(Some("vendored")),
            Ok(BackendRequest::Landlock)
        );
        assert!(BackendRequest::Auto.with_bwrap_env(Some("bogus")).is_err());
    }
}
