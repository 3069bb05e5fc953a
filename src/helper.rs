//! `codex-linux-sandbox`: Codex's helper contract (reference codex-linux-sandbox.md §4). Validates the
//! request, resolves the policy, and then either execs the command directly (nothing to isolate on the
//! filesystem), runs the outer bubblewrap stage, or, inside bubblewrap, the inner seccomp stage.

use std::path::{Path, PathBuf};

use crate::backend::landlock;
use crate::backend::seccomp::{self, SeccompMode};
use crate::cli::LinuxSandboxArgs;
use crate::exec;
use crate::exit::{Failure, Outcome};
use crate::plan::{self, BackendPlan, LaunchPlan, SandboxRequest};
use crate::policy::{PermissionProfile, Policy};
use crate::probe::cache::CacheDir;
use crate::probe::host;
use crate::select::BackendRequest;
use crate::synthetic;

/// Runs the helper; returns only when it fails before handing over to the command.
pub fn run(args: LinuxSandboxArgs) -> Outcome {
    let request = validate(&args)?;
    if args.apply_seccomp_then_exec {
        return inner_stage(&request);
    }
    let (info_read, info_write) =
        exec::info_pipe().map_err(|e| Failure::refused(format!("cannot create a pipe: {e}")))?;
    // TEMPORARY (issue 13): the new launch path calls this before planning.
    if let Ok(tmp) = plan::temp_dir() {
        synthetic::sweep_for_policy(&request.policy, &tmp);
    }
    let plan = plan::plan_launch(
        &request,
        host::probe(&CacheDir::for_policy(&request.policy)),
        Some(exec::raw(&info_write)),
    )?;
    tracing::debug!(backend = plan.backend.name(), ladder = ?plan.ladder, "backend chosen");
    execute(plan, info_read, info_write)
}

/// Carries out `plan`: the only place the helper creates files or starts processes.
pub fn execute(
    plan: LaunchPlan,
    info_read: std::os::fd::OwnedFd,
    info_write: std::os::fd::OwnedFd,
) -> Outcome {
    match plan.plan {
        BackendPlan::Direct => {
            install_seccomp(plan.seccomp)?;
            Err(exec::exec_command(&plan.command))
        }
        BackendPlan::Seatbelt(seatbelt_plan) => Err(exec::exec_seatbelt(&seatbelt_plan)),
        BackendPlan::Landlock(landlock_plan) => {
            landlock::apply(&landlock_plan).map_err(|e| Failure::refused(e.to_string()))?;
            install_seccomp(plan.seccomp)?;
            std::env::set_var(landlock::MARKER_ENV, "landlock");
            Err(exec::exec_command(&plan.command))
        }
        BackendPlan::Bwrap {
            launcher,
            bwrap,
            files,
        } => {
            synthetic::create_host_files(
                &files.daemon_dir,
                &files.registry_dir,
                &[(&files.denied_file, 0o000), (&files.empty_file, 0o444)],
            )
            .map_err(|e| {
                Failure::refused(format!("cannot prepare the sandbox's host files: {e}"))
            })?;
            let registration =
                synthetic::register(&files.registry_dir, &bwrap.synthetic).map_err(|e| {
                    Failure::refused(format!(
                        "cannot register mount targets in {}: {e}",
                        files.registry_dir.display()
                    ))
                })?;
            let ended =
                exec::supervise_bwrap(&launcher, &bwrap.args, vec![info_write], Some(info_read));
            if let Err(e) = registration.release() {
                tracing::debug!(error = %e, "mount target cleanup failed");
            }
            exec::exit_like(ended)
        }
    }
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
    })
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

fn seccomp_mode(policy: &Policy) -> Option<SeccompMode> {
    SeccompMode::for_policy(policy.network_restricted(), policy.is_full_disk_write())
}

fn install_seccomp(mode: Option<SeccompMode>) -> Result<(), Failure> {
    if let Some(mode) = mode {
        let program = seccomp::build(mode).map_err(|e| Failure::refused(e.to_string()))?;
        seccomp::install(&program).map_err(|e| Failure::refused(e.to_string()))?;
    }
    Ok(())
}

/// Inside bubblewrap: no capabilities may remain; filter, then run the command as PID 2.
fn inner_stage(request: &SandboxRequest) -> Outcome {
    if exec::holds_capabilities() {
        return Err(Failure::refused(
            "the inner stage still holds capabilities, so it is not inside the sandbox; --apply-seccomp-then-exec is for the helper's own use",
        ));
    }
    install_seccomp(seccomp_mode(&request.policy))?;
    exec::run_as_init(&request.command)
}
