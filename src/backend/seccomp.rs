//! Seccomp filters (reference codex-linux-sandbox.md §7), compiled here to classic BPF and installed
//! with seccompiler.
//!
//! Deny-lists: a matching syscall fails with EPERM, everything else is allowed. An x86-64 x32 call
//! (`nr | 0x4000_0000`) has the same audit arch and would slip past a deny-list, so every x32 call is
//! refused (seccompiler's own compiler misses this: rust-vmm/seccompiler#74). Calls of any other
//! architecture (i386 through `int 0x80`) kill the process. The tests check every verdict against
//! seccompiler's compilation of the same rules.
//!
//! Beyond Codex 0.169, every filter also denies the keyring syscalls and the terminal ioctls that
//! push input, and the network-restricted one closes `sendmsg` while letting a plain `send()` on an
//! already connected socket through.

use std::collections::BTreeMap;

use seccompiler::{sock_filter, BpfProgram};

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

/// One comparison of a syscall argument, as the filter makes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Cond {
    arg: u8,
    /// Compare all 64 bits, or only the low 32 (what the kernel reads of an `int`).
    full: bool,
    op: CmpOp,
    value: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CmpOp {
    Eq,
    Ne,
    /// `arg & mask == value`.
    MaskedEq(u64),
    /// `arg & value != 0`: any of the bits set (one test where a rule per bit would take several).
    AnyBit,
}

/// A rule matches when all its conditions hold; a syscall is denied when any of its rules matches,
/// and unconditionally when it has none.
type Rule = Vec<Cond>;

/// A condition on the low 32 bits of `arg`.
fn dword(arg: u8, op: CmpOp, value: u64) -> Cond {
    Cond {
        arg,
        full: false,
        op,
        value,
    }
}

// `c_long` is i64 only on 64-bit targets, so the casts below are not redundant everywhere.
#[allow(clippy::unnecessary_cast)]
fn rules(mode: SeccompMode) -> BTreeMap<u32, Vec<Rule>> {
    let mut rules: BTreeMap<u32, Vec<Rule>> = BTreeMap::new();
    let unconditional: &[libc::c_long] = match mode {
        SeccompMode::Restricted => &NETWORK_DENIED,
        SeccompMode::VmSocketRestricted | SeccompMode::RelayOnly => &[],
        SeccompMode::ProxyOnly => &PROXY_ONLY_DENIED,
    };
    for &nr in unconditional.iter().chain(&ALWAYS_DENIED) {
        // An empty rule list matches the syscall unconditionally.
        rules.insert(nr as u32, vec![]);
    }
    // The kernel reads the request as `unsigned int` and ignores the upper half of the register,
    // so only the low 32 bits may be compared: a full compare would let `TIOCSTI` with garbage in
    // the upper half through.
    let ioctl = INJECTING_IOCTLS
        .iter()
        .map(|&request| vec![dword(1, CmpOp::Eq, request as u64)])
        .collect();
    rules.insert(libc::SYS_ioctl as u32, ioctl);
    // No setuid or setgid bit from inside: Landlock does not govern chmod, so a task run by root
    // (capabilities dropped, but still the owner of the system's files) could make any root-owned
    // binary setuid root for the next unprivileged user, and on every backend a root-launched task
    // could leave a setuid-root file in the workspace. The mode is a `mode_t` (32 bits).
    let setid = libc::S_ISUID as u64 | libc::S_ISGID as u64;
    for (nr, mode_arg, flags_arg) in MODE_SETTERS {
        let mode_sets_id = dword(mode_arg, CmpOp::AnyBit, setid);
        let rule = match flags_arg {
            None => vec![mode_sets_id],
            Some(flags) => {
                let creates = dword(flags, CmpOp::AnyBit, libc::O_CREAT as u64 | O_TMPFILE_BIT);
                vec![creates, mode_sets_id]
            }
        };
        rules.insert(nr as u32, vec![rule]);
    }
    if mode == SeccompMode::Restricted {
        // `send()` is `sendto` with no destination: it only reaches the peer of an already
        // connected socket (with `connect` denied, a socketpair or an inherited socket, whose peer
        // `write` reaches anyway), so it stays allowed. Any destination is refused. The pointer is
        // compared in full: a mappable address such as 0x1_0000_0000 has a zero low half.
        let destination = Cond {
            arg: 4,
            full: true,
            op: CmpOp::Ne,
            value: 0,
        };
        rules.insert(libc::SYS_sendto as u32, vec![vec![destination]]);
    }
    if mode == SeccompMode::ProxyOnly {
        proxy_only_socket_rules(&mut rules);
        return rules;
    }
    // The socket family is an `int`: compare the low 32 bits, as the kernel reads them.
    let (op, family) = match mode {
        SeccompMode::Restricted => (CmpOp::Ne, libc::AF_UNIX),
        _ => (CmpOp::Eq, libc::AF_VSOCK),
    };
    for nr in [libc::SYS_socket, libc::SYS_socketpair] {
        rules.insert(nr as u32, vec![vec![dword(0, op, family as u64)]]);
    }
    if mode == SeccompMode::RelayOnly {
        if let Some(socket) = rules.get_mut(&(libc::SYS_socket as u32)) {
            socket.push(vec![dword(0, CmpOp::Eq, libc::AF_UNIX as u64)]);
        }
    }
    rules
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
fn proxy_only_socket_rules(rules: &mut BTreeMap<u32, Vec<Rule>>) {
    // Any family but the two: one rule with two "not equal" conditions (both must hold).
    let mut socket = vec![vec![
        dword(0, CmpOp::Ne, libc::AF_INET as u64),
        dword(0, CmpOp::Ne, libc::AF_INET6 as u64),
    ]];
    // An internet socket of any type but SOCK_STREAM (1) in the type's low 4 bits (flags are OR'd
    // above them): every other type, 2 to 15, has bit 1, 2 or 3 set, and SOCK_STREAM none.
    // That is UDP, raw, SCTP's seqpacket, DCCP.
    for family in [libc::AF_INET, libc::AF_INET6] {
        socket.push(vec![
            dword(0, CmpOp::Eq, family as u64),
            dword(1, CmpOp::AnyBit, 0xe),
        ]);
    }
    // A stream socket of any protocol but TCP: Landlock's port rules cover TCP only, and MPTCP
    // (262), SCTP (132) or SMC (256) would connect and bind anywhere past them.
    for family in [libc::AF_INET, libc::AF_INET6] {
        socket.push(vec![
            dword(0, CmpOp::Eq, family as u64),
            dword(2, CmpOp::Ne, 0),
            dword(2, CmpOp::Ne, libc::IPPROTO_TCP as u64),
        ]);
    }
    rules.insert(libc::SYS_socket as u32, socket);
    rules.insert(
        libc::SYS_socketpair as u32,
        vec![vec![dword(0, CmpOp::Ne, libc::AF_UNIX as u64)]],
    );
    // TCP Fast Open connects inside the send calls, past Landlock's connect hook; the flags are
    // an `int`, at their place in each call: sendto(fd, buf, len, flags, addr, addrlen),
    // sendmsg(fd, msg, flags), sendmmsg(fd, msgvec, vlen, flags).
    for (nr, flags) in [
        (libc::SYS_sendto, 3),
        (libc::SYS_sendmsg, 2),
        (libc::SYS_sendmmsg, 3),
    ] {
        let fast_open = dword(flags, CmpOp::MaskedEq(MSG_FASTOPEN), MSG_FASTOPEN);
        rules.insert(nr as u32, vec![vec![fast_open]]);
    }
}

/// openat2 (Linux 5.6), the same number on every architecture.
const SYS_OPENAT2: u32 = 437;

/// `AUDIT_ARCH_*` of the architecture this binary runs as.
fn audit_arch() -> Result<u32, SeccompError> {
    match std::env::consts::ARCH {
        "x86_64" => Ok(0xc000_003e),
        "aarch64" => Ok(0xc000_00b7),
        "riscv64" => Ok(0xc000_00f3),
        other => Err(SeccompError(format!("no seccomp filter for {other}"))),
    }
}

/// Compiles the filter for `mode` on this architecture, written directly as classic BPF:
///
/// 1. another architecture's calls (i386 through `int 0x80`) kill the process; on x86-64 an x32
///    call (`nr | 0x4000_0000`, the same audit arch) fails with EPERM;
/// 2. `openat2` answers ENOSYS: it carries its mode behind a pointer seccomp cannot read, and C
///    libraries and runtimes then fall back to `openat`, which the rules can check;
/// 3. a binary search over the listed syscall numbers: an unlisted call is allowed after a handful
///    of comparisons, an unconditionally denied one gets EPERM;
/// 4. one chain of argument tests per distinct rule list, shared by the syscalls that have it.
///
/// The kernel translates and compiles every instruction at each install, and walks the program for
/// each syscall number to build its cache of always-allowed calls, so the program is kept short:
/// about a third of the instructions the generic rule compiler (seccompiler, the tests' oracle)
/// spends on the same rules.
pub fn build(mode: SeccompMode) -> Result<BpfProgram, SeccompError> {
    let arch = audit_arch()?;
    let rules = rules(mode);
    let mut chains: Vec<&Vec<Rule>> = Vec::new();
    let mut listed: Vec<(u32, Verdict)> = Vec::new();
    for (&nr, chain) in &rules {
        let verdict = if chain.is_empty() {
            Verdict::Denied
        } else {
            let at = chains.iter().position(|c| *c == chain).unwrap_or_else(|| {
                chains.push(chain);
                chains.len() - 1
            });
            Verdict::Chain(at)
        };
        listed.push((nr, verdict));
    }
    let chain_code: Vec<BpfProgram> = chains.iter().map(|c| chain(c)).collect::<Result<_, _>>()?;
    let mut program = vec![
        ins(BPF_LD_W_ABS, 0, 0, ARCH_OFFSET),
        ins(BPF_JMP_JEQ_K, 1, 0, arch),
        ins(BPF_RET_K, 0, 0, libc::SECCOMP_RET_KILL_PROCESS),
    ];
    if std::env::consts::ARCH == "x86_64" {
        program.extend([
            ins(BPF_LD_W_ABS, 0, 0, NR_OFFSET),
            ins(BPF_JMP_JSET_K, 0, 1, X32_SYSCALL_BIT),
            ins(BPF_RET_K, 0, 0, errno(libc::EPERM)),
        ]);
    }
    program.extend(dispatch(listed, &chain_code)?);
    for code in chain_code {
        program.extend(code);
    }
    Ok(program)
}

/// What the dispatch does with a listed syscall number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    /// EPERM, whatever the arguments.
    Denied,
    /// On to this chain of argument rules.
    Chain(usize),
}

const BPF_LD_W_ABS: u16 = 0x20;
const BPF_ALU_AND_K: u16 = 0x04 | 0x50;
const BPF_JMP_JEQ_K: u16 = 0x05 | 0x10;
const BPF_JMP_JGE_K: u16 = 0x05 | 0x30;
const BPF_JMP_JSET_K: u16 = 0x05 | 0x40;
const BPF_RET_K: u16 = 0x06;
const NR_OFFSET: u32 = 0;
const ARCH_OFFSET: u32 = 4;
/// `seccomp_data.args[0]`; each argument is 8 bytes, its low word first (little-endian).
const ARGS_OFFSET: u32 = 16;

fn ins(code: u16, jt: u8, jf: u8, k: u32) -> sock_filter {
    sock_filter { code, jt, jf, k }
}

/// The verdict that fails a call with `e`.
fn errno(e: i32) -> u32 {
    libc::SECCOMP_RET_ERRNO | e as u32
}

fn jump(n: usize) -> Result<u8, SeccompError> {
    u8::try_from(n).map_err(|_| SeccompError(format!("a jump of {n} instructions")))
}

/// `openat2` → ENOSYS, then a binary search over the listed numbers, ending in one shared EPERM;
/// `chains` follow it in order.
fn dispatch(
    mut listed: Vec<(u32, Verdict)>,
    chains: &[BpfProgram],
) -> Result<BpfProgram, SeccompError> {
    enum Op {
        /// EPERM, or on to a chain, when the number is this one.
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
    // Where each chain starts, counted from the first instruction after the shared EPERM.
    let starts: Vec<usize> = chains
        .iter()
        .scan(0, |at, c| {
            let start = *at;
            *at += c.len();
            Some(start)
        })
        .collect();
    let mut code = vec![
        ins(BPF_LD_W_ABS, 0, 0, NR_OFFSET),
        ins(BPF_JMP_JEQ_K, 0, 1, SYS_OPENAT2),
        ins(BPF_RET_K, 0, 0, errno(libc::ENOSYS)),
    ];
    for (i, op) in ops.iter().enumerate() {
        let to_eperm = ops.len() - i - 1;
        code.push(match *op {
            Op::Is(nr, Verdict::Denied) => ins(BPF_JMP_JEQ_K, jump(to_eperm)?, 0, nr),
            Op::Is(nr, Verdict::Chain(c)) => {
                ins(BPF_JMP_JEQ_K, jump(to_eperm + 1 + starts[c])?, 0, nr)
            }
            Op::AtLeast(nr, skip) => ins(BPF_JMP_JGE_K, jump(skip)?, 0, nr),
            Op::Allow => ins(BPF_RET_K, 0, 0, libc::SECCOMP_RET_ALLOW),
        });
    }
    code.push(ins(BPF_RET_K, 0, 0, errno(libc::EPERM)));
    Ok(code)
}

/// A syscall's argument tests: each rule in turn, EPERM when all its conditions hold, the next
/// rule when one fails; ALLOW after the last.
fn chain(rules: &[Rule]) -> Result<BpfProgram, SeccompError> {
    let mut code = Vec::new();
    for rule in rules {
        // Jumps to "this rule fails" are written as placeholders and aimed at the next rule once
        // the block's length is known: (instruction, true when the jt field is the one to aim).
        let start = code.len();
        let mut fails: Vec<(usize, bool)> = Vec::new();
        for cond in rule {
            condition(cond, &mut code, &mut fails)?;
        }
        code.push(ins(BPF_RET_K, 0, 0, errno(libc::EPERM)));
        let next = code.len();
        debug_assert!(fails.iter().all(|&(at, _)| at >= start));
        for (at, on_true) in fails {
            let to = jump(next - at - 1)?;
            if on_true {
                code[at].jt = to;
            } else {
                code[at].jf = to;
            }
        }
    }
    code.push(ins(BPF_RET_K, 0, 0, libc::SECCOMP_RET_ALLOW));
    Ok(code)
}

/// Appends the test of one condition: falls through when it holds, and records in `fails` the
/// jumps to take when it does not.
fn condition(
    cond: &Cond,
    code: &mut BpfProgram,
    fails: &mut Vec<(usize, bool)>,
) -> Result<(), SeccompError> {
    let low = ARGS_OFFSET + 8 * u32::from(cond.arg);
    if cond.arg > 5 {
        return Err(SeccompError(format!(
            "argument {} does not exist",
            cond.arg
        )));
    }
    let halves = |v: u64| (v as u32, (v >> 32) as u32);
    let (value_low, value_high) = halves(cond.value);
    if !cond.full && value_high != 0 {
        return Err(SeccompError(format!(
            "{:#x} does not fit the 32 bits compared",
            cond.value
        )));
    }
    // Loads one 32-bit word and tests it, falling through when `word & mask == value`.
    let word = |code: &mut BpfProgram, fails: &mut Vec<(usize, bool)>, offset, mask, value| {
        code.push(ins(BPF_LD_W_ABS, 0, 0, offset));
        match mask {
            // All of one bit: a single bit test.
            Some(m) if value == m && u32::count_ones(m) == 1 => {
                fails.push((code.len(), false));
                code.push(ins(BPF_JMP_JSET_K, 0, 0, m));
            }
            Some(m) => {
                code.push(ins(BPF_ALU_AND_K, 0, 0, m));
                fails.push((code.len(), false));
                code.push(ins(BPF_JMP_JEQ_K, 0, 0, value));
            }
            None => {
                fails.push((code.len(), false));
                code.push(ins(BPF_JMP_JEQ_K, 0, 0, value));
            }
        }
    };
    match (cond.op, cond.full) {
        (CmpOp::Eq, false) => word(code, fails, low, None, value_low),
        (CmpOp::MaskedEq(m), false) => word(code, fails, low, Some(m as u32), value_low),
        (CmpOp::AnyBit, false) => {
            code.push(ins(BPF_LD_W_ABS, 0, 0, low));
            fails.push((code.len(), false));
            code.push(ins(BPF_JMP_JSET_K, 0, 0, value_low));
        }
        (CmpOp::AnyBit, true) => {
            return Err(SeccompError("a 64-bit any-bit test is not needed".into()));
        }
        (CmpOp::Ne, false) => {
            code.push(ins(BPF_LD_W_ABS, 0, 0, low));
            fails.push((code.len(), true));
            code.push(ins(BPF_JMP_JEQ_K, 0, 0, value_low));
        }
        (CmpOp::Eq, true) => {
            word(code, fails, low, None, value_low);
            word(code, fails, low + 4, None, value_high);
        }
        (CmpOp::MaskedEq(m), true) => {
            let (mask_low, mask_high) = halves(m);
            word(code, fails, low, Some(mask_low), value_low);
            word(code, fails, low + 4, Some(mask_high), value_high);
        }
        (CmpOp::Ne, true) => {
            // Holds when either half differs: a differing low half skips the high test.
            code.push(ins(BPF_LD_W_ABS, 0, 0, low));
            code.push(ins(BPF_JMP_JEQ_K, 0, 2, value_low));
            code.push(ins(BPF_LD_W_ABS, 0, 0, low + 4));
            fails.push((code.len(), true));
            code.push(ins(BPF_JMP_JEQ_K, 0, 0, value_high));
        }
    }
    Ok(())
}

/// Installs `program` for this thread and its future children (sets no_new_privs first).
pub fn install(program: &BpfProgram) -> Result<(), SeccompError> {
    seccompiler::apply_filter(program).map_err(|e| SeccompError(e.to_string()))
}

#[cfg(test)]
#[path = "seccomp_tests.rs"]
mod tests;
