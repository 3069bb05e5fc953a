//! Seccomp filters (reference codex-linux-sandbox.md §7), built with seccompiler.
//!
//! Deny-lists: a matching syscall fails with EPERM, everything else is allowed. seccompiler does not
//! handle the x86-64 x32 ABI (rust-vmm/seccompiler#74): an x32 call (`nr | 0x4000_0000`) has the same
//! audit arch and would slip past a deny-list, so we splice in a check that refuses every x32 call.

use std::collections::BTreeMap;

use seccompiler::{
    sock_filter, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch,
};

/// Which filter a command gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SeccompMode {
    /// Network restricted: no sockets but AF_UNIX, no connect/bind/listen/accept/sendto/..., no
    /// ptrace, process_vm_*, io_uring.
    Restricted,
    /// Network enabled inside a filesystem sandbox: no AF_VSOCK sockets, no io_uring.
    VmSocketRestricted,
}

impl SeccompMode {
    /// The filter for a policy (reference §7.1): none when the network is enabled and the whole disk
    /// is writable, since then nothing is sandboxed.
    pub fn for_policy(network_restricted: bool, full_disk_write: bool) -> Option<Self> {
        match (network_restricted, full_disk_write) {
            (true, _) => Some(Self::Restricted),
            (false, false) => Some(Self::VmSocketRestricted),
            (false, true) => None,
        }
    }
}

/// A filter could not be built (only possible on an architecture seccompiler does not know).
#[derive(Debug, thiserror::Error)]
#[error("cannot build the seccomp filter: {0}")]
pub struct SeccompError(String);

const X32_SYSCALL_BIT: u32 = 0x4000_0000;
const IO_URING: [libc::c_long; 3] = [
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
];

fn target_arch() -> Result<TargetArch, SeccompError> {
    TargetArch::try_from(std::env::consts::ARCH).map_err(|e| SeccompError(format!("{e:?}")))
}

fn deny_unless_arg0(op: SeccompCmpOp, family: i32) -> Result<Vec<SeccompRule>, SeccompError> {
    let condition = SeccompCondition::new(0, SeccompCmpArgLen::Dword, op, family as u64)
        .map_err(|e| SeccompError(e.to_string()))?;
    Ok(vec![
        SeccompRule::new(vec![condition]).map_err(|e| SeccompError(e.to_string()))?
    ])
}

// `c_long` is i64 only on 64-bit targets, so the casts below are not redundant everywhere.
#[allow(clippy::unnecessary_cast)]
fn rules(mode: SeccompMode) -> Result<BTreeMap<i64, Vec<SeccompRule>>, SeccompError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    let unconditional: Vec<libc::c_long> = match mode {
        SeccompMode::Restricted => vec![
            libc::SYS_connect,
            libc::SYS_accept,
            libc::SYS_accept4,
            libc::SYS_sendto,
            libc::SYS_sendmmsg,
            libc::SYS_recvmmsg,
            libc::SYS_shutdown,
            libc::SYS_bind,
            libc::SYS_listen,
            libc::SYS_getsockname,
            libc::SYS_getpeername,
            libc::SYS_setsockopt,
            libc::SYS_getsockopt,
            libc::SYS_ptrace,
            libc::SYS_process_vm_readv,
            libc::SYS_process_vm_writev,
        ],
        SeccompMode::VmSocketRestricted => vec![],
    };
    for nr in unconditional.into_iter().chain(IO_URING) {
        // An empty rule list matches the syscall unconditionally.
        rules.insert(nr as i64, vec![]);
    }
    let (op, family) = match mode {
        SeccompMode::Restricted => (SeccompCmpOp::Ne, libc::AF_UNIX),
        SeccompMode::VmSocketRestricted => (SeccompCmpOp::Eq, libc::AF_VSOCK),
    };
    for nr in [libc::SYS_socket, libc::SYS_socketpair] {
        rules.insert(nr as i64, deny_unless_arg0(op.clone(), family)?);
    }
    Ok(rules)
}

/// Compiles the filter for `mode` on this architecture.
pub fn build(mode: SeccompMode) -> Result<BpfProgram, SeccompError> {
    let arch = target_arch()?;
    let filter = SeccompFilter::new(
        rules(mode)?,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
        arch,
    )
    .map_err(|e| SeccompError(e.to_string()))?;
    let mut program: BpfProgram = filter
        .try_into()
        .map_err(|e: seccompiler::BackendError| SeccompError(e.to_string()))?;
    if arch == TargetArch::x86_64 {
        splice_x32_denial(&mut program);
    }
    Ok(program)
}

/// Inserts `if (nr & X32_BIT) return EPERM` right after seccompiler's three-instruction
/// architecture check. All later jumps are relative and stay within the later part, so they keep
/// their targets.
fn splice_x32_denial(program: &mut BpfProgram) {
    const BPF_LD_W_ABS: u16 = 0x20;
    const BPF_JMP_JSET_K: u16 = 0x05 | 0x40;
    const BPF_RET_K: u16 = 0x06;
    const NR_OFFSET: u32 = 0;
    let check = [
        sock_filter {
            code: BPF_LD_W_ABS,
            jt: 0,
            jf: 0,
            k: NR_OFFSET,
        },
        sock_filter {
            code: BPF_JMP_JSET_K,
            jt: 0,
            jf: 1,
            k: X32_SYSCALL_BIT,
        },
        sock_filter {
            code: BPF_RET_K,
            jt: 0,
            jf: 0,
            k: libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
        },
    ];
    let at = 3.min(program.len());
    program.splice(at..at, check);
}

/// Installs `program` for this thread and its future children (sets no_new_privs first).
pub fn install(program: &BpfProgram) -> Result<(), SeccompError> {
    seccompiler::apply_filter(program).map_err(|e| SeccompError(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mode_follows_network_and_disk() {
        assert_eq!(
            SeccompMode::for_policy(true, true),
            Some(SeccompMode::Restricted)
        );
        assert_eq!(
            SeccompMode::for_policy(true, false),
            Some(SeccompMode::Restricted)
        );
        assert_eq!(
            SeccompMode::for_policy(false, false),
            Some(SeccompMode::VmSocketRestricted)
        );
        assert_eq!(SeccompMode::for_policy(false, true), None);
    }

    #[test]
    #[cfg(target_arch = "x86_64")]
    fn x32_check_follows_the_arch_prologue() {
        for mode in [SeccompMode::Restricted, SeccompMode::VmSocketRestricted] {
            let program = build(mode).unwrap();
            // arch load, arch compare, kill; then our nr load, x32 test, EPERM.
            assert_eq!(program[0].k, 4, "arch offset");
            assert_eq!(program[2].k, libc::SECCOMP_RET_KILL_PROCESS);
            assert_eq!(program[4].k, X32_SYSCALL_BIT);
            assert_eq!(program[5].k, libc::SECCOMP_RET_ERRNO | 1);
            assert!(program.len() < 200, "{}", program.len());
        }
    }
}
