//! Seccomp filters (reference codex-linux-sandbox.md §7), built with seccompiler.
//!
//! Deny-lists: a matching syscall fails with EPERM, everything else is allowed. seccompiler does not
//! handle the x86-64 x32 ABI (rust-vmm/seccompiler#74): an x32 call (`nr | 0x4000_0000`) has the same
//! audit arch and would slip past a deny-list, so we splice in a check that refuses every x32 call.
//! Calls of any other architecture (i386 through `int 0x80`) fail seccompiler's arch check, which
//! kills the process.
//!
//! Beyond Codex 0.169, every filter also denies the keyring syscalls and the terminal ioctls that
//! push input, and the network-restricted one closes `sendmsg` while letting a plain `send()` on an
//! already connected socket through.

use std::collections::BTreeMap;

use seccompiler::{
    sock_filter, BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition,
    SeccompFilter, SeccompRule, TargetArch,
};

/// Which filter a command gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SeccompMode {
    /// Network restricted: no sockets but AF_UNIX, no connect/bind/listen/accept/sendmsg/...,
    /// `sendto` only without a destination, no ptrace, process_vm_*; plus everything denied in
    /// every mode.
    Restricted,
    /// Network enabled inside a filesystem sandbox: no AF_VSOCK sockets; plus everything denied
    /// in every mode.
    VmSocketRestricted,
    /// Network only through the egress relay in bubblewrap's own network namespace: as
    /// [`Self::VmSocketRestricted`], and no `socket(AF_UNIX)` (a `socketpair` stays possible), so
    /// the host's pathname sockets in readable directories and writable roots (ssh-agent in
    /// `/tmp`, docker.sock in `/var/run`) stay out of reach too. The command's own unix sockets
    /// (tmux, git's credential-cache) go with them: the private `/run` hides only `/run`, host
    /// sockets live in `/tmp`, homes and `/var/lib` too (and appear there during a run through
    /// the live bind mounts), seccomp cannot read the path `connect(2)` names, and Landlock limits
    /// pathname sockets only from ABI 9. Abstract sockets would be safe (the namespace's own), but
    /// `socket(AF_UNIX)` cannot be allowed for them alone.
    RelayOnly,
    /// Network only through the launcher's proxy where nothing but Landlock's port rule stands
    /// between the task and the host: sockets only of AF_INET/AF_INET6 of type SOCK_STREAM
    /// (Landlock then limits connect to the proxy's port and refuses bind), no unix socket but a
    /// `socketpair` (before Landlock ABI 9 nothing else keeps a task from the host's pathname
    /// sockets: docker.sock, the D-Bus bus, ssh-agent), no TCP Fast Open sends, no ptrace,
    /// process_vm_*; plus everything denied in every mode.
    ProxyOnly,
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

/// Denied in every mode, unconditionally.
/// - io_uring: its socket and connect operations would bypass the socket rules (reference §7).
/// - The keyrings: the caller's session and user keyrings survive exec, setsid and every namespace
///   bwrap creates, so a task could read the caller's secrets and plant keys that the caller's next
///   tools trust; `request_key` can even make the kernel start `/sbin/request-key` on the host.
///   EPERM, as Docker's default profile answers, is what keyring users already cope with (a
///   Kerberos KEYRING cache falls back to files); nothing Codex runs needs them.
const ALWAYS_DENIED: [libc::c_long; 6] = [
    libc::SYS_io_uring_setup,
    libc::SYS_io_uring_enter,
    libc::SYS_io_uring_register,
    libc::SYS_add_key,
    libc::SYS_keyctl,
    libc::SYS_request_key,
];

/// `ioctl` requests that push bytes into a terminal's input queue: whatever a task injects there is
/// read by the caller's shell once the launcher exits, outside every sandbox. The new session the
/// executor starts already makes the kernel refuse TIOCSTI on the caller's terminal; this holds even
/// without it, and on kernels where CAP_SYS_ADMIN would override it.
const INJECTING_IOCTLS: [libc::c_ulong; 2] = [libc::TIOCSTI as _, libc::TIOCLINUX as _];

/// The calls that set a file's mode: (number, mode argument, flags argument for the `open` family,
/// whose mode only counts with `O_CREAT` or `O_TMPFILE`).
const MODE_SETTERS: [(libc::c_long, u8, Option<u8>); 9] = [
    (libc::SYS_chmod, 1, None),
    (libc::SYS_fchmod, 1, None),
    (libc::SYS_fchmodat, 2, None),
    (SYS_FCHMODAT2, 2, None),
    (libc::SYS_open, 2, Some(1)),
    (libc::SYS_openat, 3, Some(2)),
    (libc::SYS_creat, 1, None),
    (libc::SYS_mknod, 1, None),
    (libc::SYS_mknodat, 2, None),
];

/// `O_TMPFILE` without its `O_DIRECTORY` part: the bit that says "create".
const O_TMPFILE_BIT: u64 = 0o2000_0000;

/// fchmodat2 (Linux 6.6), not yet in every libc.
const SYS_FCHMODAT2: libc::c_long = 452;

/// Network restricted: denied unconditionally (reference §7.2, plus `sendmsg`). Seccomp cannot read
/// the `msghdr` behind `sendmsg`'s pointer, so it cannot tell whether `msg_name` names a host socket
/// (an AF_UNIX datagram reached a host pathname socket that way): both message calls go.
const NETWORK_DENIED: [libc::c_long; 16] = [
    libc::SYS_connect,
    libc::SYS_accept,
    libc::SYS_accept4,
    libc::SYS_sendmsg,
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
];

fn target_arch() -> Result<TargetArch, SeccompError> {
    TargetArch::try_from(std::env::consts::ARCH).map_err(|e| SeccompError(format!("{e:?}")))
}

fn condition(
    arg: u8,
    len: SeccompCmpArgLen,
    op: SeccompCmpOp,
    value: u64,
) -> Result<SeccompRule, SeccompError> {
    let condition =
        SeccompCondition::new(arg, len, op, value).map_err(|e| SeccompError(e.to_string()))?;
    SeccompRule::new(vec![condition]).map_err(|e| SeccompError(e.to_string()))
}

// `c_long` is i64 only on 64-bit targets, so the casts below are not redundant everywhere.
#[allow(clippy::unnecessary_cast)]
fn rules(mode: SeccompMode) -> Result<BTreeMap<i64, Vec<SeccompRule>>, SeccompError> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    let unconditional: &[libc::c_long] = match mode {
        SeccompMode::Restricted => &NETWORK_DENIED,
        SeccompMode::VmSocketRestricted | SeccompMode::RelayOnly => &[],
        SeccompMode::ProxyOnly => &PROXY_ONLY_DENIED,
    };
    for &nr in unconditional.iter().chain(&ALWAYS_DENIED) {
        // An empty rule list matches the syscall unconditionally.
        rules.insert(nr as i64, vec![]);
    }
    // The kernel reads the request as `unsigned int` and ignores the upper half of the register,
    // so only the low 32 bits may be compared (Dword): a full compare would let `TIOCSTI` with
    // garbage in the upper half through.
    let ioctl = INJECTING_IOCTLS
        .iter()
        .map(|&request| condition(1, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, request as u64))
        .collect::<Result<_, _>>()?;
    rules.insert(libc::SYS_ioctl as i64, ioctl);
    // No setuid or setgid bit from inside: Landlock does not govern chmod, so a task run by root
    // (capabilities dropped, but still the owner of the system's files) could make any root-owned
    // binary setuid root for the next unprivileged user, and on every backend a root-launched task
    // could leave a setuid-root file in the workspace. The mode is a `mode_t` (32 bits).
    for (nr, mode_arg, flags_arg) in MODE_SETTERS {
        let mut setid = Vec::new();
        for bit in [libc::S_ISUID as u64, libc::S_ISGID as u64] {
            let mode_has_bit = || {
                SeccompCondition::new(
                    mode_arg,
                    SeccompCmpArgLen::Dword,
                    SeccompCmpOp::MaskedEq(bit),
                    bit,
                )
                .map_err(|e| SeccompError(e.to_string()))
            };
            match flags_arg {
                None => setid.push(
                    SeccompRule::new(vec![mode_has_bit()?])
                        .map_err(|e| SeccompError(e.to_string()))?,
                ),
                Some(flags) => {
                    for create in [libc::O_CREAT as u64, O_TMPFILE_BIT] {
                        let creates = SeccompCondition::new(
                            flags,
                            SeccompCmpArgLen::Dword,
                            SeccompCmpOp::MaskedEq(create),
                            create,
                        )
                        .map_err(|e| SeccompError(e.to_string()))?;
                        setid.push(
                            SeccompRule::new(vec![creates, mode_has_bit()?])
                                .map_err(|e| SeccompError(e.to_string()))?,
                        );
                    }
                }
            }
        }
        rules.insert(nr as i64, setid);
    }
    if mode == SeccompMode::Restricted {
        // `send()` is `sendto` with no destination: it only reaches the peer of an already
        // connected socket (with `connect` denied, a socketpair or an inherited socket, whose peer
        // `write` reaches anyway), so it stays allowed. Any destination is refused. The pointer is compared in full (Qword): a mappable address such
        // as 0x1_0000_0000 has a zero low half.
        rules.insert(
            libc::SYS_sendto as i64,
            vec![condition(4, SeccompCmpArgLen::Qword, SeccompCmpOp::Ne, 0)?],
        );
    }
    if mode == SeccompMode::ProxyOnly {
        proxy_only_socket_rules(&mut rules)?;
        return Ok(rules);
    }
    // The socket family is an `int`: compare the low 32 bits, as the kernel reads them.
    let (op, family) = match mode {
        SeccompMode::Restricted => (SeccompCmpOp::Ne, libc::AF_UNIX),
        _ => (SeccompCmpOp::Eq, libc::AF_VSOCK),
    };
    for nr in [libc::SYS_socket, libc::SYS_socketpair] {
        rules.insert(
            nr as i64,
            vec![condition(
                0,
                SeccompCmpArgLen::Dword,
                op.clone(),
                family as u64,
            )?],
        );
    }
    if mode == SeccompMode::RelayOnly {
        if let Some(socket) = rules.get_mut(&(libc::SYS_socket as i64)) {
            socket.push(condition(
                0,
                SeccompCmpArgLen::Dword,
                SeccompCmpOp::Eq,
                libc::AF_UNIX as u64,
            )?);
        }
    }
    Ok(rules)
}

/// Denied outright in [`SeccompMode::ProxyOnly`]: another process's memory is another way out.
const PROXY_ONLY_DENIED: [libc::c_long; 3] = [
    libc::SYS_ptrace,
    libc::SYS_process_vm_readv,
    libc::SYS_process_vm_writev,
];

/// `MSG_FASTOPEN`: a `sendto`/`sendmsg` that connects a TCP socket as it sends.
const MSG_FASTOPEN: u64 = 0x2000_0000;

/// [`SeccompMode::ProxyOnly`]'s socket rules: a listed rule matching means EPERM.
#[allow(clippy::unnecessary_cast)]
fn proxy_only_socket_rules(
    rules: &mut BTreeMap<i64, Vec<SeccompRule>>,
) -> Result<(), SeccompError> {
    let cond = |arg, op, value: u64| {
        SeccompCondition::new(arg, SeccompCmpArgLen::Dword, op, value)
            .map_err(|e| SeccompError(e.to_string()))
    };
    let rule = |conds: Vec<SeccompCondition>| {
        SeccompRule::new(conds).map_err(|e| SeccompError(e.to_string()))
    };
    // Any family but the two: one rule with two "not equal" conditions (both must hold).
    let mut socket = vec![rule(vec![
        cond(0, SeccompCmpOp::Ne, libc::AF_INET as u64)?,
        cond(0, SeccompCmpOp::Ne, libc::AF_INET6 as u64)?,
    ])?];
    // An internet socket of any type but SOCK_STREAM (1) in the type's low 4 bits (flags are OR'd
    // above them): every other type, 2 to 15, has bit 1, 2 or 3 set, and SOCK_STREAM none.
    // That is UDP, raw, SCTP's seqpacket, DCCP.
    for family in [libc::AF_INET, libc::AF_INET6] {
        for bit in [0x2u64, 0x4, 0x8] {
            socket.push(rule(vec![
                cond(0, SeccompCmpOp::Eq, family as u64)?,
                cond(1, SeccompCmpOp::MaskedEq(bit), bit)?,
            ])?);
        }
    }
    // A stream socket of any protocol but TCP: Landlock's port rules cover TCP only, and MPTCP
    // (262), SCTP (132) or SMC (256) would connect and bind anywhere past them.
    for family in [libc::AF_INET, libc::AF_INET6] {
        socket.push(rule(vec![
            cond(0, SeccompCmpOp::Eq, family as u64)?,
            cond(2, SeccompCmpOp::Ne, 0)?,
            cond(2, SeccompCmpOp::Ne, libc::IPPROTO_TCP as u64)?,
        ])?);
    }
    rules.insert(libc::SYS_socket as i64, socket);
    rules.insert(
        libc::SYS_socketpair as i64,
        vec![rule(vec![cond(
            0,
            SeccompCmpOp::Ne,
            libc::AF_UNIX as u64,
        )?])?],
    );
    // TCP Fast Open connects inside sendto/sendmsg; the flags are an `int`.
    rules.insert(
        libc::SYS_sendto as i64,
        vec![rule(vec![cond(
            3,
            SeccompCmpOp::MaskedEq(MSG_FASTOPEN),
            MSG_FASTOPEN,
        )?])?],
    );
    for nr in [libc::SYS_sendmsg, libc::SYS_sendmmsg] {
        rules.insert(
            nr as i64,
            vec![rule(vec![cond(
                2,
                SeccompCmpOp::MaskedEq(MSG_FASTOPEN),
                MSG_FASTOPEN,
            )?])?],
        );
    }
    Ok(())
}

/// openat2 (Linux 5.6), the same number on every architecture.
const SYS_OPENAT2: u32 = 437;

/// Compiles the filter for `mode` on this architecture.
///
/// `openat2` answers ENOSYS: it carries its mode behind a pointer seccomp cannot read, and C
/// libraries and runtimes then fall back to `openat`, which the rules can check. (This used to be a
/// second filter stacked on the first; one filter costs the kernel one compilation instead of two,
/// and every later syscall one filter run.)
pub fn build(mode: SeccompMode) -> Result<BpfProgram, SeccompError> {
    let arch = target_arch()?;
    let mut rules = rules(mode)?;
    // Syscalls denied whatever their arguments are decided in the dispatch: seccompiler spends
    // five instructions on each, and the kernel compiles every instruction at each install.
    let dispatch: Vec<(u32, Verdict)> = rules
        .iter()
        .map(|(&nr, chain)| {
            let verdict = if chain.is_empty() {
                Verdict::Denied
            } else {
                Verdict::Rules
            };
            (nr as u32, verdict)
        })
        .collect();
    rules.retain(|_, chain| !chain.is_empty());
    let filter = SeccompFilter::new(
        rules,
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
    splice_dispatch(&mut program, dispatch)?;
    Ok(program)
}

/// What the dispatch does with a syscall number that has rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// EPERM, whatever the arguments.
    Denied,
    /// On to its chain of argument rules.
    Rules,
}

/// Where seccompiler's rule chains start: after its three-instruction architecture check and our
/// three-instruction x32 check (x86-64 only).
fn prologue_len(program: &BpfProgram) -> usize {
    let x32_check = program
        .get(4)
        .is_some_and(|i| i.code == BPF_JMP_JSET_K && i.k == X32_SYSCALL_BIT);
    if x32_check { 6 } else { 3 }.min(program.len())
}

const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JMP_JEQ_K: u16 = 0x05 | 0x10;
const BPF_JMP_JGE_K: u16 = 0x05 | 0x30;
const BPF_JMP_JSET_K: u16 = 0x05 | 0x40;
const BPF_RET_K: u16 = 0x06;
const NR_OFFSET: u32 = 0;

fn ins(code: u16, jt: u8, jf: u8, k: u32) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// Inserts, between the prologue and seccompiler's chains, `openat2` → ENOSYS and a binary search
/// over the syscall numbers that have rules: a syscall with none is allowed after a handful of
/// comparisons instead of after the whole linear chain (two instructions per listed syscall). That
/// is what the kernel walks for each of the ~450 syscall numbers when it installs the filter (to
/// build its cache of always-allowed calls), and what an uncached call runs. A syscall with
/// argument rules goes on to its chain, unchanged; an unlisted one would reach the chain's own
/// default, Allow.
fn splice_dispatch(
    program: &mut BpfProgram,
    mut listed: Vec<(u32, Verdict)>,
) -> Result<(), SeccompError> {
    enum Op {
        /// EPERM, or on to the chains, when the number is this one.
        Is(u32, Verdict),
        /// Jump `skip` instructions ahead when the number is at least this one.
        AtLeast(u32, usize),
        Allow,
    }
    fn search(keys: &[(u32, Verdict)], ops: &mut Vec<Op>) {
        if keys.len() <= 3 {
            ops.extend(keys.iter().map(|&(nr, v)| Op::Is(nr, v)));
            ops.push(Op::Allow);
            return;
        }
        let mid = keys.len() / 2;
        let at = ops.len();
        ops.push(Op::AtLeast(keys[mid].0, 0));
        search(&keys[..mid], ops);
        ops[at] = Op::AtLeast(keys[mid].0, ops.len() - at - 1);
        search(&keys[mid..], ops);
    }
    listed.sort_unstable_by_key(|(nr, _)| *nr);
    listed.dedup_by_key(|(nr, _)| *nr);
    let mut ops = Vec::new();
    search(&listed, &mut ops);
    let jump = |n: usize| {
        u8::try_from(n).map_err(|_| SeccompError(format!("dispatch jump of {n} instructions")))
    };
    let errno = |e: i32| libc::SECCOMP_RET_ERRNO | e as u32;
    let mut code = vec![
        ins(BPF_LD_W_ABS, 0, 0, NR_OFFSET),
        ins(BPF_JMP_JEQ_K, 0, 1, SYS_OPENAT2),
        ins(BPF_RET_K, 0, 0, errno(libc::ENOSYS)),
    ];
    // After the ops: one shared EPERM, then the chains.
    for (i, op) in ops.iter().enumerate() {
        let to_eperm = ops.len() - i - 1;
        code.push(match *op {
            Op::Is(nr, Verdict::Denied) => ins(BPF_JMP_JEQ_K, jump(to_eperm)?, 0, nr),
            Op::Is(nr, Verdict::Rules) => ins(BPF_JMP_JEQ_K, jump(to_eperm + 1)?, 0, nr),
            Op::AtLeast(nr, skip) => ins(BPF_JMP_JGE_K, jump(skip)?, 0, nr),
            Op::Allow => ins(BPF_RET_K, 0, 0, libc::SECCOMP_RET_ALLOW),
        });
    }
    code.push(ins(BPF_RET_K, 0, 0, errno(libc::EPERM)));
    let at = prologue_len(program);
    program.splice(at..at, code);
    Ok(())
}

/// Inserts `if (nr & X32_BIT) return EPERM` right after seccompiler's three-instruction
/// architecture check. All later jumps are relative and stay within the later part, so they keep
/// their targets.
fn splice_x32_denial(program: &mut BpfProgram) {
    let check = [
        ins(BPF_LD_W_ABS, 0, 0, NR_OFFSET),
        ins(BPF_JMP_JSET_K, 0, 1, X32_SYSCALL_BIT),
        ins(
            BPF_RET_K,
            0,
            0,
            libc::SECCOMP_RET_ERRNO | libc::EPERM as u32,
        ),
    ];
    let at = 3.min(program.len());
    program.splice(at..at, check);
}

/// Installs `program` for this thread and its future children (sets no_new_privs first).
pub fn install(program: &BpfProgram) -> Result<(), SeccompError> {
    seccompiler::apply_filter(program).map_err(|e| SeccompError(e.to_string()))
}

#[cfg(test)]
#[path = "seccomp_tests.rs"]
mod tests;
