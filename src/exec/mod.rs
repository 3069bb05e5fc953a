//! The one executor (DESIGN §2): interprets a [`LaunchPlan`] for every backend and stage. It
//! creates the host files a bubblewrap plan names, registers the mount points bubblewrap will
//! create, then replaces itself with the program, supervises it, or becomes the sandbox's init, as
//! the plan's [`Supervision`] says. Everything it does was decided, and can be printed, beforehand.

pub mod egress;
mod process;
pub mod reap;
pub mod steps;

pub use process::{
    block, exec_bwrap, exec_failure, exit_like, restore_mask, set_handlers, Ended, FORWARDED,
};
pub use steps::holds_capabilities;

use crate::exit::{Failure, Outcome};
use crate::launch::{ExecSpec, Supervision};
use crate::plan::{BackendPlan, LaunchPlan};
use crate::synthetic;

/// Carries out `plan`; returns only when it fails before the command starts.
pub fn exec_plan(plan: &LaunchPlan) -> Outcome {
    exec_plan_then(plan, || {})
}

/// [`exec_plan`], running `after` once a supervised command has ended (and before leaving with its
/// code): the launcher's work that must wait until the sandbox is gone.
pub fn exec_plan_then(plan: &LaunchPlan, after: impl FnOnce()) -> Outcome {
    if matches!(plan.plan, BackendPlan::Seatbelt(_)) && !cfg!(target_os = "macos") {
        return Err(Failure::refused(
            "seatbelt sandbox is only available on macOS",
        ));
    }
    let registration = match &plan.plan {
        BackendPlan::Bwrap { files, bwrap, .. } => {
            refuse_directory_stdio()?;
            files.create()?;
            let registration =
                synthetic::register(&files.registry_dir, &bwrap.synthetic).map_err(|e| {
                    Failure::refused(format!(
                        "cannot register mount targets in {}: {e}",
                        files.registry_dir.display()
                    ))
                })?;
            Some(registration)
        }
        _ => None,
    };
    let ended = match &plan.egress {
        None => exec_spec(&plan.exec)?,
        Some(egress_plan) => {
            let bound = egress::bind(egress_plan)?;
            let spec = crate::plan::spec_with_proxy(plan, bound.addr());
            let dir_fd = bound.socket_dir_fd();
            let mut running = None;
            let ended = process::supervise_with(&spec, dir_fd, || {
                running = Some(bound.serve()?);
                Ok(())
            })?;
            drop(running);
            ended
        }
    };
    if let Some(registration) = registration {
        if let Err(e) = registration.release() {
            tracing::debug!(error = %e, "mount target cleanup failed");
        }
    }
    after();
    exit_like(ended)
}

/// A directory or O_PATH descriptor on stdin, stdout or stderr would let a command under
/// bubblewrap open host files relative to it, beneath none of bubblewrap's mounts (Landlock checks
/// such opens; bubblewrap cannot). No command needs one there.
fn refuse_directory_stdio() -> Result<(), Failure> {
    for fd in 0..=2 {
        // SAFETY: F_GETFL only reads the descriptor's status flags.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        if flags == -1 {
            continue;
        }
        // SAFETY: fd is a descriptor number; fstat only fills st.
        let is_dir = unsafe {
            let mut st: libc::stat = std::mem::zeroed();
            libc::fstat(fd, &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFDIR
        };
        let what = match (is_dir, flags & libc::O_PATH != 0) {
            (true, _) => "a directory",
            (false, true) => "an O_PATH descriptor",
            (false, false) => continue,
        };
        return Err(Failure::refused(format!(
            "standard descriptor {fd} is {what}: the sandboxed command could open host files through it, outside the sandbox; give it a file, a pipe or a terminal"
        )));
    }
    Ok(())
}

/// Runs one stage's spec. Returns how a supervised child ended; a replaced or init process never
/// returns on success.
pub fn exec_spec(spec: &ExecSpec) -> Result<Ended, Failure> {
    match spec.supervision {
        Supervision::Replace => replace(spec),
        Supervision::ReplaceUnlessGroupLeader if !process::leads_process_group() => replace(spec),
        Supervision::Supervise | Supervision::ReplaceUnlessGroupLeader => process::supervise(spec),
        Supervision::Init => process::run_as_init(spec),
    }
}

/// Applies the steps here and execs; returns only on failure.
fn replace(spec: &ExecSpec) -> Result<Ended, Failure> {
    steps::apply(&spec.steps, &spec.fds, &[])?;
    Err(process::exec_program(spec))
}
