//! `codex-linux-sandbox`: Codex's helper contract (reference codex-linux-sandbox.md §4). Validates the
//! request, resolves the policy, and then either execs the command directly (nothing to isolate on the
//! filesystem), runs the outer bubblewrap stage, or, inside bubblewrap, the inner seccomp stage.

use std::path::{Path, PathBuf};

use crate::backend::seccomp::SeccompMode;
use crate::cli::LinuxSandboxArgs;
use crate::exec;
use crate::exit::{Failure, Outcome};
use crate::plan::{self, SandboxRequest};
use crate::policy::PermissionProfile;
use crate::select::BackendRequest;

/// Runs the helper; returns only when it fails before handing over to the command.
pub fn run(args: LinuxSandboxArgs) -> Outcome {
    let request = validate(&args)?;
    if args.apply_seccomp_then_exec {
        return inner_stage(&request);
    }
    let plan = plan::plan_here(&request)?;
    tracing::debug!(backend = plan.backend.name(), ladder = ?plan.ladder, "backend chosen");
    exec::exec_plan(&plan)
}

fn validate(args: &LinuxSandboxArgs) -> Result<SandboxRequest, Failure> {
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
    let policy = plan::resolve_here(&profile, &policy_cwd);
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
        env_set: Vec::new(),
        chdir: None,
    })
}

/// Codex runs this helper for every command; an inherited variable must not switch its sandbox
/// off. `--backend none` on the command line is honoured, loudly.
fn refuse_weakening_env(backend: BackendRequest) -> Result<(), Failure> {
    if backend != BackendRequest::None {
        return Ok(());
    }
    if std::env::var_os("CODEX_LAUNCHER_BACKEND").is_some_and(|v| v == "none") {
        return Err(Failure::refused(
            "CODEX_LAUNCHER_BACKEND=none in the environment would run the command with no sandbox; unset it (pass --backend none to mean it)",
        ));
    }
    warn_unsandboxed();
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

/// Inside bubblewrap: no capabilities may remain; filter, then run the command as PID 2.
fn inner_stage(request: &SandboxRequest) -> Outcome {
    if exec::holds_capabilities() {
        return Err(Failure::refused(
            "the inner stage still holds capabilities, so it is not inside the sandbox; --apply-seccomp-then-exec is for the helper's own use",
        ));
    }
    let policy = &request.policy;
    let mode = SeccompMode::for_policy(policy.network_restricted(), policy.is_full_disk_write());
    let spec = plan::inner_stage_exec(&request.command, mode);
    exec::exec_spec(&spec).map(|ended| match ended {
        exec::Ended::Exited(code) => code as u8,
        exec::Ended::Signaled(sig) => 128 + sig as u8,
    })
}
