//! `LaunchPlan`: everything a sandboxed launch will do, decided before anything is done. `explain`
//! prints it; the helper (and `run`) execute the very same value.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::backend::bwrap::{self, BwrapOptions, BwrapPlan};
use crate::backend::landlock::{self, LandlockPlan};
use crate::backend::seatbelt::{self, SeatbeltPlan};
use crate::backend::seccomp::SeccompMode;
use crate::cli::SandboxOptions;
use crate::exit::Failure;
use crate::policy::glob_scan;
use crate::policy::{modes, FileSystem, PermissionProfile, Policy, ResolveContext, Rules};
use crate::probe::bwrap::{self as bwrap_probe, Launcher};
use crate::probe::cache::CacheDir;
use crate::probe::host::HostFacts;
use crate::probe::proc_mount;
use crate::select::{
    self, Backend, BackendRequest, LadderInputs, Refusal, Step, TargetOs, Verdict,
};
use crate::synthetic;

/// A validated request to run a command under a policy.
#[derive(Debug, Clone)]
pub struct SandboxRequest {
    pub profile: PermissionProfile,
    pub policy: Policy,
    /// Absolute.
    pub policy_cwd: PathBuf,
    pub command_cwd: Option<PathBuf>,
    pub command: Vec<OsString>,
    pub backend: BackendRequest,
    pub require_full_isolation: bool,
    pub no_proc: bool,
    pub inherit_pid_namespace: bool,
    /// The sandbox wraps Codex itself (codex-run), not one of Codex's commands.
    pub outer_layer: bool,
    /// The system the plan is for (explain can plan for macOS on Linux).
    pub target: TargetOs,
    /// Network only through the loopback proxy in the proxy variables (`--network proxy`).
    pub proxy_only: bool,
}

#[derive(Debug)]
pub struct LaunchPlan {
    pub backend: Backend,
    pub ladder: Vec<Step>,
    pub not_enforced: Vec<String>,
    pub seccomp: Option<SeccompMode>,
    pub plan: BackendPlan,
    pub host: HostFacts,
    pub command: Vec<OsString>,
}

#[derive(Debug)]
pub enum BackendPlan {
    /// Exec in place: the filesystem is unrestricted, or no sandbox was asked for.
    Direct,
    Bwrap {
        launcher: Launcher,
        bwrap: BwrapPlan,
        files: BwrapFiles,
    },
    Landlock(LandlockPlan),
    Seatbelt(SeatbeltPlan),
}

/// Host files the bwrap plan refers to, created just before launch.
#[derive(Debug, Clone)]
pub struct BwrapFiles {
    pub daemon_dir: PathBuf,
    pub registry_dir: PathBuf,
    pub denied_file: PathBuf,
    pub empty_file: PathBuf,
}

/// The id root runs as inside an outer bubblewrap layer (so Codex's own bubblewrap can nest).
pub const OUTER_ROOT_SANDBOX_ID: u32 = 1000;

/// Why no plan could be made.
#[derive(Debug)]
pub enum PlanError {
    /// The ladder found no backend; carries every step's reason and what was probed.
    Refused(Box<(Refusal, HostFacts)>),
    Failed(Failure),
}

impl From<Failure> for PlanError {
    fn from(f: Failure) -> Self {
        Self::Failed(f)
    }
}

impl From<PlanError> for Failure {
    fn from(e: PlanError) -> Self {
        match e {
            PlanError::Refused(boxed) => Failure::refused(boxed.0.reason),
            PlanError::Failed(f) => f,
        }
    }
}

impl SandboxRequest {
    /// The request `run`/`explain` options describe, for `command` in the workspace.
    pub fn from_options(opts: &SandboxOptions, command: Vec<OsString>) -> Result<Self, Failure> {
        let here = || {
            std::env::current_dir()
                .map_err(|e| Failure::refused(format!("cannot read the current directory: {e}")))
        };
        let cwd = match &opts.cwd {
            Some(dir) if dir.is_absolute() => dir.clone(),
            Some(dir) => here()?.join(dir),
            None => here()?,
        };
        if !cwd.is_dir() {
            return Err(Failure::usage(format!(
                "--cwd {}: not an existing directory",
                cwd.display()
            )));
        }
        let policy_cwd = crate::policy::resolve::normalize(&cwd);
        let profile = match &opts.permission_profile {
            Some(json) => PermissionProfile::parse(json)
                .map_err(|e| Failure::usage(format!("--permission-profile: {e}")))?,
            None => modes::profile_for(opts.sandbox, opts.network, &opts.writable_roots)
                .map_err(Failure::usage)?,
        };
        let backend = opts.backend.with_bwrap_env_var().map_err(Failure::usage)?;
        Ok(Self {
            policy: resolve_here(&profile, &policy_cwd),
            profile,
            policy_cwd,
            command_cwd: None,
            command: if command.is_empty() {
                vec!["codex".into()]
            } else {
                command
            },
            backend,
            require_full_isolation: opts.require_full_isolation,
            no_proc: false,
            inherit_pid_namespace: false,
            outer_layer: true,
            target: TargetOs::host(),
            proxy_only: opts.network == modes::Network::Proxy,
        })
    }
}

/// `profile` resolved for this process: relative to `policy_cwd`, with its `$TMPDIR`.
pub fn resolve_here(profile: &PermissionProfile, policy_cwd: &Path) -> Policy {
    let ctx = ResolveContext {
        policy_cwd: policy_cwd.to_path_buf(),
        tmpdir: std::env::var_os("TMPDIR").map(PathBuf::from),
    };
    Policy::resolve(profile, &ctx)
}

/// The system temp dir as Codex's helper sees it: `$TMPDIR` when set, else `/tmp`.
pub fn temp_dir() -> Result<PathBuf, Failure> {
    match std::env::var_os("TMPDIR").filter(|t| !t.is_empty()) {
        None => Ok(PathBuf::from("/tmp")),
        Some(t) => {
            let path = PathBuf::from(&t);
            if path.is_absolute() && path.is_dir() {
                Ok(path)
            } else {
                Err(Failure::refused(format!(
                    "TMPDIR={}: must be an absolute, existing directory",
                    path.display()
                )))
            }
        }
    }
}

fn refused(e: impl std::fmt::Display) -> Failure {
    Failure::refused(e.to_string())
}

/// Decides backend and plan for `req` on `host`. Reads the filesystem and the probe caches; creates
/// nothing. `info_fd` is the descriptor bwrap will report its sandbox pid on, if any.
pub fn plan_launch(
    req: &SandboxRequest,
    host: HostFacts,
    info_fd: Option<i32>,
) -> Result<LaunchPlan, PlanError> {
    let direct = |reason: &str, seccomp| LaunchPlan::direct(req, host.clone(), reason, seccomp);
    if req.backend == BackendRequest::None {
        return Ok(direct("--backend none: no sandbox, as asked", None));
    }
    if req.target == TargetOs::Macos {
        return plan_macos(req, host);
    }
    if req.proxy_only {
        return Err(Failure::usage(
            "--network proxy: only Seatbelt (macOS) can limit traffic to a loopback proxy; use --network on or off here",
        )
        .into());
    }
    let network_restricted = req.policy.network_restricted();
    let seccomp = SeccompMode::for_policy(network_restricted, req.policy.is_full_disk_write());
    let rules = match &req.policy.file_system {
        FileSystem::Restricted(rules) if !req.policy.is_full_disk_write() => rules,
        _ => return Ok(direct(
            "the policy leaves the whole filesystem writable: no filesystem sandbox, seccomp only",
            seccomp,
        )),
    };

    let uid = nix::unistd::getuid().as_raw();
    let daemon_dir = PathBuf::from(format!("/tmp/codex-daemon-{uid}"));
    let mut deny_matches = Vec::new();
    for pattern in &rules.deny_globs {
        deny_matches
            .extend(glob_scan::expand(pattern, rules.glob_scan_max_depth).map_err(refused)?);
    }
    // Only what the ladder can reach is probed: a warm bwrap launch never plans Landlock, and a
    // Landlock launch never walks PATH for bwrap.
    let bwrap_reachable = host.userns.available
        && (req.backend.allows(Backend::BwrapSystem) || req.backend.allows(Backend::BwrapVendored));
    let landlock_plan = match &host.landlock {
        Ok(abi) if !bwrap_reachable => Some(landlock::plan(
            rules,
            *abi,
            network_restricted,
            &deny_matches,
            &daemon_dir,
        )),
        _ => None,
    };
    let writable = bwrap_reachable.then(|| bwrap::writable_roots(rules));
    let inputs = LadderInputs {
        os: TargetOs::Linux,
        request: req.backend,
        userns: if host.userns.available {
            Ok(())
        } else {
            Err(host.userns.reason())
        },
        system_bwrap: match &writable {
            _ if !req.backend.allows(Backend::BwrapSystem) => Err("not probed".into()),
            None => Err("not probed".into()),
            Some(Ok(w)) => {
                let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
                bwrap_probe::system_bwrap(&cwd, w, &CacheDir::for_launch(w))
            }
            Some(Err(e)) => Err(e.to_string()),
        },
        landlock: host.landlock.clone(),
        landlock_gaps: landlock_plan
            .as_ref()
            .map(|p| p.not_enforced.clone())
            .unwrap_or_default(),
        require_full_isolation: req.require_full_isolation,
        inside_seatbelt: false,
    };
    let selection =
        select::select(&inputs).map_err(|r| PlanError::Refused(Box::new((r, host.clone()))))?;
    let (plan, not_enforced) = match selection.backend {
        Backend::Landlock => {
            let plan = landlock_plan.expect("landlock chosen only with an ABI");
            let gaps = plan.not_enforced.clone();
            (BackendPlan::Landlock(plan), gaps)
        }
        Backend::BwrapSystem | Backend::BwrapVendored => {
            let launcher = selection
                .launcher
                .clone()
                .expect("bwrap steps carry a launcher");
            let writable = writable
                .expect("bwrap is chosen only when reachable")
                .map_err(refused)?;
            plan_bwrap(
                req,
                rules,
                writable,
                &deny_matches,
                launcher,
                daemon_dir,
                uid,
                info_fd,
            )?
        }
        other => {
            return Err(Failure::refused(format!("{} cannot run on Linux", other.name())).into())
        }
    };
    Ok(LaunchPlan {
        backend: selection.backend,
        ladder: selection.ladder,
        not_enforced,
        seccomp,
        plan,
        host,
        command: req.command.clone(),
    })
}

/// macOS: Seatbelt, or nothing when the policy restricts nothing (there is no seccomp to fall
/// back on, so a network restriction alone still needs Seatbelt).
fn plan_macos(req: &SandboxRequest, host: HostFacts) -> Result<LaunchPlan, PlanError> {
    let rules = match &req.policy.file_system {
        FileSystem::Restricted(rules) if !rules.is_full_disk_write() => Some(rules),
        _ => None,
    };
    let network_restricted = req.policy.network_restricted() || req.proxy_only;
    if rules.is_none() && !network_restricted {
        return Ok(LaunchPlan::direct(
            req,
            host,
            "the policy restricts neither the filesystem nor the network",
            None,
        ));
    }
    let inputs = LadderInputs {
        os: TargetOs::Macos,
        request: req.backend,
        userns: Err("not Linux".into()),
        system_bwrap: Err("not Linux".into()),
        landlock: Err("not Linux".into()),
        landlock_gaps: Vec::new(),
        require_full_isolation: req.require_full_isolation,
        inside_seatbelt: std::env::var_os(seatbelt::SANDBOX_ENV).is_some_and(|v| v == "seatbelt"),
    };
    let selection =
        select::select(&inputs).map_err(|r| PlanError::Refused(Box::new((r, host.clone()))))?;
    let env: Vec<(String, String)> = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let (proxy_ports, has_proxy_config) = if req.proxy_only {
        seatbelt::proxy_ports(&env)
    } else {
        Default::default()
    };
    let network = seatbelt::NetworkInputs {
        enabled: !req.policy.network_restricted(),
        proxy_only: req.proxy_only,
        proxy_ports,
        has_proxy_config,
        ..Default::default()
    };
    let plan = seatbelt::plan(&seatbelt::SeatbeltInputs {
        rules,
        policy_cwd: &req.policy_cwd,
        network,
        command: &req.command,
    })
    .map_err(refused)?;
    Ok(LaunchPlan {
        backend: selection.backend,
        ladder: selection.ladder,
        not_enforced: Vec::new(),
        seccomp: None,
        plan: BackendPlan::Seatbelt(plan),
        host,
        command: req.command.clone(),
    })
}

#[allow(clippy::too_many_arguments)]
fn plan_bwrap(
    req: &SandboxRequest,
    rules: &Rules,
    writable: Vec<PathBuf>,
    deny_matches: &[PathBuf],
    launcher: Launcher,
    daemon_dir: PathBuf,
    uid: u32,
    info_fd: Option<i32>,
) -> Result<(BackendPlan, Vec<String>), Failure> {
    let registry_dir = synthetic::registry_dir(&temp_dir()?, uid);
    let unshare_net = req.policy.network_restricted();
    let proc_allowed =
        proc_mount::proc_mount_allowed(&launcher, unshare_net, &CacheDir::for_launch(&writable));
    let mount_proc = !req.no_proc && !req.inherit_pid_namespace && proc_allowed;
    let mut not_enforced = Vec::new();
    if !proc_allowed && !req.no_proc && !req.inherit_pid_namespace {
        not_enforced.push(
            "a fresh /proc (the kernel refused to mount one here; the host's stays visible)".into(),
        );
    }
    let files = BwrapFiles {
        denied_file: registry_dir.join("denied-placeholder"),
        empty_file: registry_dir.join("empty-placeholder"),
        daemon_dir,
        registry_dir,
    };
    let options = BwrapOptions {
        policy_cwd: req.policy_cwd.clone(),
        command_cwd: req.command_cwd.clone(),
        inherit_pid_namespace: req.inherit_pid_namespace,
        mount_proc,
        unshare_net,
        supports_argv0: launcher.supports_argv0(),
        daemon_dir: files.daemon_dir.clone(),
        private_codex_dirs: req.outer_layer,
        sandbox_id: (req.outer_layer && uid == 0).then_some(OUTER_ROOT_SANDBOX_ID),
        registry_dir: files.registry_dir.clone(),
        denied_file: files.denied_file.clone(),
        empty_file: files.empty_file.clone(),
        info_fd,
        inner: inner_argv(req, launcher.supports_argv0())?,
    };
    let bwrap = bwrap::plan(rules, writable, deny_matches, &options).map_err(refused)?;
    Ok((
        BackendPlan::Bwrap {
            launcher,
            bwrap,
            files,
        },
        not_enforced,
    ))
}

/// The program bubblewrap starts inside: this binary, as `codex-linux-sandbox` either by `--argv0`
/// or, for an old bwrap without it, by the `linux-sandbox` subcommand.
fn inner_argv(req: &SandboxRequest, supports_argv0: bool) -> Result<Vec<OsString>, Failure> {
    let exe = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(|e| Failure::refused(format!("cannot locate this executable: {e}")))?;
    let mut argv: Vec<OsString> = vec![exe.clone().into()];
    let named_helper = exe.file_name().is_some_and(|n| n == "codex-linux-sandbox");
    if !supports_argv0 && !named_helper {
        argv.push("linux-sandbox".into());
    }
    argv.push("--sandbox-policy-cwd".into());
    argv.push(req.policy_cwd.clone().into());
    if let Some(cc) = &req.command_cwd {
        argv.push("--command-cwd".into());
        argv.push(cc.clone().into());
    }
    argv.push("--permission-profile".into());
    argv.push(req.profile.to_canonical_json().into());
    argv.push("--apply-seccomp-then-exec".into());
    argv.push("--".into());
    argv.extend(req.command.iter().cloned());
    Ok(argv)
}

fn lossy(items: &[OsString]) -> Vec<String> {
    items
        .iter()
        .map(|a| a.to_string_lossy().into_owned())
        .collect()
}

fn path_str(p: &Path) -> String {
    p.display().to_string()
}

impl LaunchPlan {
    /// Exec `req`'s command in place, without a sandbox backend (seccomp at most), for `reason`.
    fn direct(
        req: &SandboxRequest,
        host: HostFacts,
        reason: &str,
        seccomp: Option<SeccompMode>,
    ) -> Self {
        LaunchPlan {
            backend: Backend::None,
            ladder: vec![Step {
                backend: Backend::None,
                verdict: Verdict::Chosen,
                reason: reason.into(),
            }],
            not_enforced: Vec::new(),
            seccomp,
            plan: BackendPlan::Direct,
            host,
            command: req.command.clone(),
        }
    }

    /// The stable JSON shape `explain --json` prints (keys documented in the README).
    pub fn to_json(&self) -> Value {
        let plan = match &self.plan {
            BackendPlan::Direct => json!({ "kind": "direct", "seccomp": self.seccomp }),
            BackendPlan::Bwrap {
                launcher, bwrap, ..
            } => json!({
                "kind": "bwrap",
                "program": match launcher {
                    Launcher::System { path, .. } => path_str(path),
                    Launcher::Vendored => "built-in bubblewrap 0.12.0".into(),
                },
                "argv": lossy(&bwrap.args),
                "synthetic_mount_targets": bwrap.synthetic,
                "seccomp": self.seccomp,
            }),
            BackendPlan::Landlock(p) => json!({
                "kind": "landlock",
                "abi": p.abi,
                "rules": p.rules,
                "restrict_tcp": p.restrict_tcp,
                "scoped_signals_and_abstract_sockets": p.scoped,
                "no_new_privs": true,
                "seccomp": self.seccomp,
            }),
            BackendPlan::Seatbelt(p) => json!({
                "kind": "seatbelt",
                "program": seatbelt::SANDBOX_EXEC,
                "profile": p.profile,
                "params": p.params.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>(),
                "argv": p.argv,
                "env_remove": p.env_remove,
                "env_set": p.env_set.iter().map(|(k, v)| json!({"key": k, "value": v})).collect::<Vec<_>>(),
            }),
        };
        json!({
            "backend": self.backend.name(),
            "ladder": self.ladder,
            "plan": plan,
            "not_enforced": self.not_enforced,
            "command": lossy(&self.command),
            "host": self.host,
        })
    }

    /// A few readable lines for `explain` without `--json`.
    pub fn to_text(&self) -> String {
        let mut out = format!("backend: {}\nladder:\n", self.backend.name());
        for s in &self.ladder {
            out.push_str(&format!(
                "  {:<15} {:<13} {}\n",
                s.backend.name(),
                s.verdict.name(),
                s.reason
            ));
        }
        match &self.plan {
            BackendPlan::Direct => out.push_str("plan: exec directly\n"),
            BackendPlan::Bwrap { bwrap, .. } => {
                out.push_str("plan: bwrap");
                for a in lossy(&bwrap.args) {
                    out.push(' ');
                    out.push_str(&a);
                }
                out.push('\n');
            }
            BackendPlan::Landlock(p) => {
                out.push_str(&format!(
                    "plan: landlock ABI {} (tcp restricted: {}, scoped: {})\n",
                    p.abi, p.restrict_tcp, p.scoped
                ));
                for r in &p.rules {
                    out.push_str(&format!("  {:?} {}\n", r.grant, r.path.display()));
                }
            }
            BackendPlan::Seatbelt(p) => {
                out.push_str(&format!(
                    "plan: {} -p <profile, {} lines>",
                    seatbelt::SANDBOX_EXEC,
                    p.profile.lines().count()
                ));
                for (k, v) in &p.params {
                    out.push_str(&format!(" -D{k}={v}"));
                }
                out.push('\n');
            }
        }
        out.push_str(&format!(
            "seccomp: {}\n",
            self.seccomp.map_or("none".into(), |m| format!("{m:?}"))
        ));
        if !self.not_enforced.is_empty() {
            out.push_str("not enforced:\n");
            for g in &self.not_enforced {
                out.push_str(&format!("  - {g}\n"));
            }
        }
        out
    }
}
