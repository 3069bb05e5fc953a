//! The one request builder (DESIGN §2): every personality turns its arguments into a
//! [`SandboxRequest`] here — `codex-run`, its `--dry-run`, `explain`, `prepare-home` and the
//! entrypoint through [`for_run`], Codex's helper contract through [`for_helper`] — so what is
//! printed and what runs start from the same value.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::cli::{LinuxSandboxArgs, SandboxOptions};
use crate::exit::Failure;
use crate::policy::modes::{self, SandboxMode};
use crate::policy::{PermissionProfile, Policy, ResolveContext};
use crate::select::{Backend, BackendRequest, TargetOs};

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
    /// Network only through the launcher's egress proxy (`--network filtered`); the model
    /// provider's destinations are added once the per-task config is known.
    pub egress: Option<crate::egress::Egress>,
    /// `--accept-unfiltered-tcp`: below Landlock ABI 4, run `filtered` with direct TCP open.
    pub accept_unfiltered_tcp: bool,
    /// `--allow-unix-socket`: host unix sockets the command may connect to (absolute), where the
    /// network mode otherwise keeps them out of reach.
    pub allow_unix_sockets: Vec<PathBuf>,
    /// Variables the command gets on top of the launcher's environment (`CODEX_HOME` for a run).
    pub env_set: Vec<(OsString, OsString)>,
    /// Where the command starts (the workspace for a run); `None` keeps the caller's directory.
    pub chdir: Option<PathBuf>,
}

impl SandboxRequest {
    /// Whether the ladder may pick a bubblewrap backend for this request: only then is there a
    /// user-namespace probe, a bubblewrap to look for, or a mount point to make or clean up.
    pub fn may_use_bwrap(&self) -> bool {
        self.target == TargetOs::Linux
            && (self.backend.allows(Backend::BwrapSystem)
                || self.backend.allows(Backend::BwrapVendored))
    }

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
            Some(json) if matches!(json.trim(), "{}" | "[]") => {
                // Codex's helper reads these as "nothing granted"; from a person it is a mistake.
                return Err(Failure::usage(format!(
                    "--permission-profile {json}: an empty profile grants nothing; give file_system and network entries"
                )));
            }
            Some(json) => PermissionProfile::parse(json)
                .map_err(|e| Failure::usage(format!("--permission-profile: {e}")))?,
            None => modes::profile_for(opts.sandbox, effective_network(opts), &opts.writable_roots)
                .map_err(Failure::usage)?,
        };
        let backend = opts.backend.with_bwrap_env_var().map_err(Failure::usage)?;
        let egress = egress_for(opts)?;
        let allow_unix_sockets = unix_sockets_for(opts, &policy_cwd)?;
        // Without a filesystem sandbox there is nothing to keep a task inside the proxy.
        let egress = egress.filter(|_| opts.sandbox != SandboxMode::DangerFullAccess);
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
            egress,
            accept_unfiltered_tcp: opts.accept_unfiltered_tcp,
            allow_unix_sockets,
            env_set: Vec::new(),
            chdir: None,
        })
    }
}

/// `--network filtered` with `--sandbox danger-full-access` is `on`: with no sandbox nothing
/// would keep the task inside the proxy.
fn effective_network(opts: &SandboxOptions) -> modes::Network {
    match (opts.network, opts.sandbox) {
        (modes::Network::Filtered, SandboxMode::DangerFullAccess) => modes::Network::On,
        (network, _) => network,
    }
}

/// The egress policy of `--network filtered`; the allow flags mean nothing in another mode, so
/// they are refused there rather than ignored.
fn egress_for(opts: &SandboxOptions) -> Result<Option<crate::egress::Egress>, Failure> {
    let filtered =
        effective_network(opts) == modes::Network::Filtered && opts.permission_profile.is_none();
    if !filtered {
        let flag = [
            ("--allow-domain", &opts.allow_domains),
            ("--allow-endpoint", &opts.allow_endpoints),
            ("--net-resolve", &opts.net_resolve),
        ]
        .into_iter()
        .find(|(_, v)| !v.is_empty());
        if let Some((flag, _)) = flag {
            return Err(Failure::usage(format!(
                "{flag} needs --network filtered and a sandbox (the proxy it configures only runs there)"
            )));
        }
        return Ok(None);
    }
    crate::egress::Egress::from_flags(
        &opts.allow_domains,
        &opts.allow_endpoints,
        &opts.net_resolve,
    )
    .map(Some)
    .map_err(|e| Failure::usage(e.to_string()))
}

/// `--allow-unix-socket` paths, made absolute against the workspace. A `..` is refused: read
/// lexically it would name another socket than the kernel reaches when a link precedes it.
/// Kept under `--network on` too: Seatbelt still needs the rule.
fn unix_sockets_for(opts: &SandboxOptions, cwd: &Path) -> Result<Vec<PathBuf>, Failure> {
    let mut out = Vec::new();
    for path in &opts.allow_unix_sockets {
        let bad =
            |why: &str| Failure::usage(format!("--allow-unix-socket {}: {why}", path.display()));
        if path.as_os_str().is_empty() || path == Path::new("/") {
            return Err(bad("expected the path of a unix socket"));
        }
        if path
            .components()
            .any(|c| c == std::path::Component::ParentDir)
        {
            return Err(bad("name the socket without '..'"));
        }
        let absolute: PathBuf = cwd.join(path).components().collect();
        if !out.contains(&absolute) {
            out.push(absolute);
        }
    }
    Ok(out)
}

/// `profile` resolved for this process: relative to `policy_cwd`, with its `$TMPDIR`.
pub fn resolve_here(profile: &PermissionProfile, policy_cwd: &Path) -> Policy {
    let ctx = ResolveContext {
        policy_cwd: policy_cwd.to_path_buf(),
        tmpdir: std::env::var_os("TMPDIR").map(PathBuf::from),
    };
    Policy::resolve(profile, &ctx)
}

/// The helper's request: Codex's arguments, checked.
pub fn for_helper(args: &LinuxSandboxArgs) -> Result<SandboxRequest, Failure> {
    if args.command.is_empty() {
        return Err(Failure::usage(
            "no command given: put the command after `--`",
        ));
    }
    if args.managed_network.is_some() {
        return Err(Failure::usage(
            "--managed-network (managed network proxy mode) is not supported",
        ));
    }
    if !args.verify_fd_mount.is_empty() {
        return Err(Failure::usage("--verify-fd-mount is only meaningful for descriptor mounts, which this helper never creates"));
    }
    if args.apply_seccomp_then_exec && args.use_legacy_landlock {
        return Err(Failure::usage(
            "--apply-seccomp-then-exec cannot be combined with --use-legacy-landlock",
        ));
    }
    let json = args
        .permission_profile
        .as_deref()
        .ok_or_else(|| Failure::usage("missing --permission-profile JSON"))?;
    let profile = PermissionProfile::parse(json)
        .map_err(|e| Failure::usage(format!("--permission-profile: {e}")))?;
    let policy_cwd = absolute(&args.sandbox_policy_cwd)?;
    if !policy_cwd.is_dir() {
        return Err(Failure::usage(format!(
            "--sandbox-policy-cwd {}: not an existing directory",
            args.sandbox_policy_cwd.display()
        )));
    }
    let policy = resolve_here(&profile, &policy_cwd);
    let backend = if args.use_legacy_landlock {
        BackendRequest::Landlock
    } else {
        args.backend.with_bwrap_env_var().map_err(Failure::usage)?
    };
    refuse_weakening_env(backend)?;
    Ok(SandboxRequest {
        profile,
        policy,
        policy_cwd,
        command_cwd: args.command_cwd.clone(),
        command: args.command.clone(),
        backend,
        require_full_isolation: args.require_full_isolation,
        no_proc: args.no_proc,
        inherit_pid_namespace: args.inherit_pid_namespace,
        outer_layer: false,
        target: crate::select::TargetOs::Linux,
        proxy_only: false,
        egress: None,
        accept_unfiltered_tcp: false,
        allow_unix_sockets: Vec::new(),
        env_set: Vec::new(),
        chdir: None,
    })
}

/// Codex runs this helper for every command; an inherited variable must not switch its sandbox
/// off. `--backend none` on the command line is honoured, loudly.
fn refuse_weakening_env(backend: BackendRequest) -> Result<(), Failure> {
    let from_env = std::env::var("CODEX_LAUNCHER_BACKEND").ok();
    if let Some(weaker @ ("none" | "landlock")) = from_env.as_deref() {
        return Err(Failure::refused(format!(
            "CODEX_LAUNCHER_BACKEND={weaker} in the environment would run Codex's commands {}; unset it (pass --backend {weaker} to mean it)",
            if weaker == "none" { "with no sandbox" } else { "under Landlock where bubblewrap may be stronger" }
        )));
    }
    if backend == BackendRequest::None {
        warn_unsandboxed();
    }
    Ok(())
}

/// Said on stderr whenever a launch runs with no sandbox at all because it was asked to.
pub fn warn_unsandboxed() {
    eprintln!(
        "{}: warning: --backend none: the command runs with no sandbox",
        crate::exit::program_name()
    );
}

fn absolute(path: &Path) -> Result<PathBuf, Failure> {
    if path.as_os_str().is_empty() {
        return Err(Failure::usage("--sandbox-policy-cwd must not be empty"));
    }
    if path.is_absolute() {
        return Ok(path.to_path_buf());
    }
    let cwd = std::env::current_dir()
        .map_err(|e| Failure::refused(format!("cannot read the current directory: {e}")))?;
    Ok(crate::policy::resolve::normalize(&cwd.join(path)))
}

/// The run's outer policy: the sandbox options plus the per-task home and the shared sessions dir,
/// which Codex must be able to write; the command starts in the workspace with `CODEX_HOME` set.
pub fn for_run(
    sandbox: &SandboxOptions,
    home: &Path,
    shared: &Path,
    command: Vec<OsString>,
) -> Result<SandboxRequest, Failure> {
    check_writable_roots(sandbox)?;
    if sandbox.permission_profile.is_none() && sandbox.sandbox == SandboxMode::WorkspaceWrite {
        if let Some(ws) = &sandbox.cwd {
            refuse_system_dir(
                ws,
                "workspace",
                "run from a project directory (cd, --cwd, CODEX_RUN_CWD or the image's WORKDIR)",
            )?;
        }
    }
    let mut opts = sandbox.clone();
    if opts.permission_profile.is_none() && opts.sandbox != SandboxMode::DangerFullAccess {
        // Not the shared `sessions/`: the user's own Codex writes through that tree, so the
        // launcher copies the task's transcripts there after the run (home::sessions).
        opts.writable_roots.push(home.to_path_buf());
        // Where Codex saves a refreshed login (its lock, temp file and rename land next to the
        // real auth.json), when the launcher manages the shared credentials. Only for Codex: any
        // other task could plant links there that the user's own Codex later writes through.
        if runs_codex(&command) {
            opts.writable_roots
                .extend(crate::home::credentials::credential_dir(shared));
        }
    }
    let mut request = SandboxRequest::from_options(&opts, command)?;
    // Nothing will be sandboxed: a backend the user insisted on would silently not run. (Codex's
    // helper contract runs such a policy under its legacy-Landlock flag; that is not the user's.)
    if let Some(forced) = request.backend.forced() {
        if request.policy.is_full_disk_write() {
            return Err(Failure::refused(format!(
                "--backend {forced}: the policy leaves the whole filesystem writable, so there is nothing for it to enforce; narrow the policy, or drop --backend"
            )));
        }
    }
    request.env_set = vec![("CODEX_HOME".into(), home.as_os_str().to_owned())];
    request.chdir = Some(request.policy_cwd.clone());
    Ok(request)
}

/// Whether the command is Codex (by its program's name, as the user gave it).
pub fn runs_codex(command: &[OsString]) -> bool {
    command
        .first()
        .and_then(|c| Path::new(c).file_name())
        .is_some_and(|n| n == "codex")
}

/// Refuses making `/`, a system directory or a tree of other people's files writable (as written
/// or where it leads): that is no sandbox, and the user did not say `danger-full-access`. The
/// caller's own home may be a workspace (`cd ~ && codex-run`).
fn refuse_system_dir(path: &Path, what: &str, remedy: &str) -> Result<(), Failure> {
    let home = std::env::var_os("HOME").map(|h| crate::policy::resolve::normalize(Path::new(&h)));
    let written = crate::policy::resolve::normalize(path);
    let resolved = crate::fs::canonicalize(&written).ok();
    for p in std::iter::once(&written).chain(resolved.as_ref()) {
        if crate::plan::is_guarded_dir(p, true) && home.as_deref() != Some(p.as_path()) {
            return Err(Failure::refused(format!(
                "{what} {}: it would make {} writable, which is no sandbox; {remedy}, or pass --sandbox danger-full-access if you mean it",
                path.display(),
                if p == Path::new("/") { "the whole filesystem".to_string() } else { p.display().to_string() },
            )));
        }
    }
    Ok(())
}

/// The user's `--writable-root`s: each an existing directory, and not with a read-only sandbox
/// (which would silently drop them).
fn check_writable_roots(opts: &SandboxOptions) -> Result<(), Failure> {
    if opts.sandbox == SandboxMode::ReadOnly && !opts.writable_roots.is_empty() {
        return Err(Failure::usage(
            "--writable-root cannot be combined with --sandbox read-only; use --sandbox workspace-write",
        ));
    }
    for root in &opts.writable_roots {
        crate::fs::named::check(root)
            .map_err(|link| Failure::refused(link.message("--writable-root", root)))?;
        refuse_system_dir(root, "--writable-root", "name a directory of your own")?;
        if !root.is_dir() {
            return Err(Failure::usage(format!(
                "--writable-root {}: no such directory",
                root.display()
            )));
        }
    }
    Ok(())
}
