//! `codex-linux-sandbox`: Codex's helper contract (reference codex-linux-sandbox.md §4). Validates the
//! request, resolves the policy, and then either execs the command directly (nothing to isolate on the
//! filesystem), runs the outer bubblewrap stage, or, inside bubblewrap, the inner seccomp stage.

use crate::backend::seccomp::SeccompMode;
use crate::cli::LinuxSandboxArgs;
use crate::exec;
use crate::exit::{Failure, Outcome};
use crate::plan;
use crate::request::{self, SandboxRequest};

/// Runs the helper; returns only when it fails before handing over to the command.
pub fn run(args: LinuxSandboxArgs) -> Outcome {
    let request = request::for_helper(&args)?;
    if args.apply_seccomp_then_exec {
        return inner_stage(&request);
    }
    let plan = plan::plan_here(&request, Vec::new())?;
    tracing::debug!(backend = plan.backend.name(), ladder = ?plan.ladder, "backend chosen");
    exec::exec_plan(&plan)
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
