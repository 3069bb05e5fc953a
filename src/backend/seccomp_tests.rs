//! The filters judged by running their BPF programs on crafted `seccomp_data`, as the kernel would,
//! so each rule's verdict, and the arch and x32 guards, are checked without installing anything.

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

#[cfg(target_arch = "x86_64")]
mod x86_64 {
    use super::*;

    const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
    const AUDIT_ARCH_I386: u32 = 0x4000_0003;
    const ALLOW: u32 = libc::SECCOMP_RET_ALLOW;
    const EPERM: u32 = libc::SECCOMP_RET_ERRNO | libc::EPERM as u32;
    const KILL: u32 = libc::SECCOMP_RET_KILL_PROCESS;
    const MODES: [SeccompMode; 4] = [
        SeccompMode::Restricted,
        SeccompMode::VmSocketRestricted,
        SeccompMode::RelayOnly,
        SeccompMode::ProxyOnly,
    ];

    /// One syscall as a filter sees it (`struct seccomp_data`, little-endian).
    struct Call {
        nr: u32,
        arch: u32,
        args: [u64; 6],
    }

    fn call(nr: libc::c_long, args: &[u64]) -> Call {
        let mut all = [0; 6];
        all[..args.len()].copy_from_slice(args);
        Call {
            nr: nr as u32,
            arch: AUDIT_ARCH_X86_64,
            args: all,
        }
    }

    impl Call {
        /// The 32-bit word at `offset` of `seccomp_data`: nr, arch, ip (8 bytes), args (8 each).
        fn word(&self, offset: u32) -> u32 {
            match offset {
                0 => self.nr,
                4 => self.arch,
                8 | 12 => 0,
                16..=63 if offset.is_multiple_of(4) => {
                    let arg = self.args[(offset as usize - 16) / 8];
                    if offset.is_multiple_of(8) {
                        arg as u32
                    } else {
                        (arg >> 32) as u32
                    }
                }
                _ => panic!("load outside seccomp_data: {offset}"),
            }
        }
    }

    /// A classic-BPF interpreter for the instructions seccompiler and our splice emit.
    fn verdict(program: &BpfProgram, call: &Call) -> u32 {
        let (mut acc, mut pc) = (0u32, 0usize);
        loop {
            let ins = &program[pc];
            pc += 1;
            let taken = match ins.code {
                0x20 => {
                    acc = call.word(ins.k);
                    continue;
                }
                0x54 => {
                    acc &= ins.k;
                    continue;
                }
                0x05 => {
                    pc += ins.k as usize;
                    continue;
                }
                0x06 => return ins.k,
                0x15 => acc == ins.k,
                0x25 => acc > ins.k,
                0x35 => acc >= ins.k,
                0x45 => acc & ins.k != 0,
                other => panic!("unexpected BPF instruction {other:#x} at {}", pc - 1),
            };
            pc += usize::from(if taken { ins.jt } else { ins.jf });
        }
    }

    fn check(mode: SeccompMode, cases: &[(&str, Call, u32)]) {
        let program = build(mode).unwrap();
        for (name, c, want) in cases {
            assert_eq!(
                verdict(&program, c),
                *want,
                "{mode:?}: {name} should give {want:#x}"
            );
        }
    }

    #[test]
    fn x32_check_follows_the_arch_prologue() {
        for mode in MODES {
            let program = build(mode).unwrap();
            // arch load, arch compare, kill; then our nr load, x32 test, EPERM.
            assert_eq!(program[0].k, 4, "arch offset");
            assert_eq!(program[2].k, KILL);
            assert_eq!(program[4].k, X32_SYSCALL_BIT);
            assert_eq!(program[5].k, EPERM);
            // Far below the kernel's 4096-instruction limit, and small enough to stay cheap.
            eprintln!("LEN {mode:?} {}", program.len());
            assert!(program.len() < 200, "{mode:?}: {}", program.len());
        }
    }

    /// The same rules as seccompiler compiles them (linear chains), with the x32 check spliced in
    /// after its architecture check: the oracle [`build`] is held to.
    fn linear_program(mode: SeccompMode) -> BpfProgram {
        use seccompiler::{
            SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
            SeccompRule, TargetArch,
        };
        // An any-bit test is a rule per bit for seccompiler: the cross product of the bits of
        // every such condition in a rule.
        let expand = |rule: &Rule| -> Vec<Vec<SeccompCondition>> {
            let mut out: Vec<Vec<SeccompCondition>> = vec![vec![]];
            for c in rule {
                let len = || {
                    if c.full {
                        SeccompCmpArgLen::Qword
                    } else {
                        SeccompCmpArgLen::Dword
                    }
                };
                let alternatives: Vec<SeccompCondition> = match c.op {
                    CmpOp::AnyBit => (0..64)
                        .map(|b| 1u64 << b)
                        .filter(|bit| c.value & bit != 0)
                        .map(|bit| {
                            SeccompCondition::new(c.arg, len(), SeccompCmpOp::MaskedEq(bit), bit)
                                .unwrap()
                        })
                        .collect(),
                    op => {
                        let op = match op {
                            CmpOp::Eq => SeccompCmpOp::Eq,
                            CmpOp::Ne => SeccompCmpOp::Ne,
                            CmpOp::MaskedEq(m) => SeccompCmpOp::MaskedEq(m),
                            CmpOp::AnyBit => unreachable!(),
                        };
                        vec![SeccompCondition::new(c.arg, len(), op, c.value).unwrap()]
                    }
                };
                out = out
                    .iter()
                    .flat_map(|prefix| {
                        alternatives.iter().map(move |alt| {
                            let mut p = prefix.clone();
                            p.push(alt.clone());
                            p
                        })
                    })
                    .collect();
            }
            out
        };
        let rules = rules(mode)
            .into_iter()
            .map(|(nr, chain)| {
                let chain = chain
                    .iter()
                    .flat_map(expand)
                    .map(|conds| SeccompRule::new(conds).unwrap())
                    .collect();
                (i64::from(nr), chain)
            })
            .collect();
        let filter = SeccompFilter::new(
            rules,
            SeccompAction::Allow,
            SeccompAction::Errno(libc::EPERM as u32),
            TargetArch::x86_64,
        )
        .unwrap();
        let mut program: BpfProgram = filter.try_into().unwrap();
        let x32_check = [
            ins(BPF_LD_W_ABS, 0, 0, NR_OFFSET),
            ins(BPF_JMP_JSET_K, 0, 1, X32_SYSCALL_BIT),
            ins(BPF_RET_K, 0, 0, EPERM),
        ];
        program.splice(3..3, x32_check);
        program
    }

    /// What the linear chains decide, stacked under the former second filter that answered
    /// `openat2` with ENOSYS: what [`build`] must still decide.
    fn linear_verdict(linear: &BpfProgram, c: &Call) -> u32 {
        match verdict(linear, c) {
            ALLOW if c.arch == AUDIT_ARCH_X86_64 && c.nr == SYS_OPENAT2 => {
                libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32
            }
            v => v,
        }
    }

    #[test]
    fn dispatch_decides_every_syscall_as_the_linear_chains_do() {
        let interesting = [
            0,
            u64::MAX,
            libc::AF_UNIX as u64,
            libc::AF_INET as u64,
            libc::AF_INET6 as u64,
            libc::AF_VSOCK as u64,
            libc::SOCK_STREAM as u64,
            libc::SOCK_DGRAM as u64,
            libc::IPPROTO_TCP as u64,
            262,
            libc::TIOCSTI,
            libc::TIOCLINUX,
            (libc::O_CREAT | libc::O_WRONLY) as u64,
            O_TMPFILE_BIT,
            libc::S_ISUID as u64 | 0o755,
            libc::S_ISGID as u64 | 0o644,
            MSG_FASTOPEN,
            0x1_0000_0000,
        ];
        let mut arg_sets: Vec<Vec<u64>> = vec![vec![]];
        for &a in &interesting {
            for pos in 0..5 {
                let mut args = vec![0; 6];
                args[pos] = a;
                arg_sets.push(args.clone());
                args[pos + 1] = a;
                arg_sets.push(args);
            }
        }
        for mode in MODES {
            let program = build(mode).unwrap();
            let linear = linear_program(mode);
            for nr in (0..600).chain([X32_SYSCALL_BIT as i64 | 437, X32_SYSCALL_BIT as i64 | 16]) {
                for args in &arg_sets {
                    for arch in [AUDIT_ARCH_X86_64, AUDIT_ARCH_I386] {
                        let c = Call {
                            arch,
                            ..call(nr as libc::c_long, args)
                        };
                        assert_eq!(
                            verdict(&program, &c),
                            linear_verdict(&linear, &c),
                            "{mode:?}: syscall {nr:#x} arch {arch:#x} args {args:?}"
                        );
                    }
                }
            }
        }
    }

    /// Every pair of argument positions, each with every interesting value, on every syscall a
    /// filter lists: the compiled tests agree with seccompiler's on mixed arguments too (flags
    /// in one position and a mode in the next, a family and a type, a pointer's halves).
    #[test]
    fn argument_tests_agree_with_the_oracle_on_every_pair_of_arguments() {
        let values = [
            0,
            1,
            2,
            3,
            0xe,
            u64::MAX,
            0xffff_ffff_0000_0000 | libc::TIOCSTI,
            0x1_0000_0000,
            libc::AF_UNIX as u64,
            libc::AF_INET as u64,
            libc::AF_INET6 as u64,
            libc::AF_VSOCK as u64,
            (libc::SOCK_DGRAM | libc::SOCK_CLOEXEC) as u64,
            libc::IPPROTO_TCP as u64,
            262,
            libc::TIOCSTI,
            libc::TIOCLINUX,
            libc::O_CREAT as u64,
            (libc::O_CREAT | libc::O_WRONLY) as u64,
            O_TMPFILE_BIT | libc::O_DIRECTORY as u64,
            libc::S_ISUID as u64,
            libc::S_ISGID as u64 | 0o644,
            0o6755,
            0o777,
            MSG_FASTOPEN,
            MSG_FASTOPEN | 0x40,
        ];
        for mode in MODES {
            let program = build(mode).unwrap();
            let linear = linear_program(mode);
            for &nr in rules(mode).keys() {
                for first in 0..6 {
                    for second in first + 1..6 {
                        for &a in &values {
                            for &b in &values {
                                let mut args = [0; 6];
                                args[first] = a;
                                args[second] = b;
                                let c = call(nr as libc::c_long, &args);
                                assert_eq!(
                                    verdict(&program, &c),
                                    linear_verdict(&linear, &c),
                                    "{mode:?}: syscall {nr} args {args:?}"
                                );
                            }
                        }
                    }
                }
            }
        }
    }

    #[test]
    fn openat2_answers_enosys_so_callers_fall_back_to_openat() {
        for mode in MODES {
            check(
                mode,
                &[(
                    "openat2",
                    call(SYS_OPENAT2 as libc::c_long, &[]),
                    libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32,
                )],
            );
        }
    }

    #[test]
    fn other_architectures_are_killed_and_x32_refused() {
        for mode in MODES {
            let i386 = |nr| Call {
                arch: AUDIT_ARCH_I386,
                ..call(nr, &[])
            };
            check(
                mode,
                &[
                    // i386 numbers through `int 0x80`: getpid, socketcall, keyctl.
                    ("i386 getpid", i386(20), KILL),
                    ("i386 socketcall", i386(102), KILL),
                    ("i386 keyctl", i386(288), KILL),
                    (
                        "x32 getpid",
                        call(X32_SYSCALL_BIT as libc::c_long | libc::SYS_getpid, &[]),
                        EPERM,
                    ),
                    (
                        "x32 keyctl",
                        call(X32_SYSCALL_BIT as libc::c_long | libc::SYS_keyctl, &[]),
                        EPERM,
                    ),
                    ("native getpid", call(libc::SYS_getpid, &[]), ALLOW),
                ],
            );
        }
    }

    #[test]
    fn keyrings_and_io_uring_are_denied_in_every_mode() {
        for mode in MODES {
            check(
                mode,
                &[
                    ("add_key", call(libc::SYS_add_key, &[]), EPERM),
                    ("keyctl", call(libc::SYS_keyctl, &[11, 0]), EPERM),
                    ("request_key", call(libc::SYS_request_key, &[]), EPERM),
                    (
                        "io_uring_setup",
                        call(libc::SYS_io_uring_setup, &[1]),
                        EPERM,
                    ),
                    ("read", call(libc::SYS_read, &[0]), ALLOW),
                    ("execve", call(libc::SYS_execve, &[]), ALLOW),
                ],
            );
        }
    }

    #[test]
    fn terminal_injection_is_denied_whatever_the_upper_bits() {
        let ioctl = |request: u64| call(libc::SYS_ioctl, &[0, request, 0x7ffd_0000]);
        let sti = libc::TIOCSTI;
        for mode in MODES {
            check(
                mode,
                &[
                    ("TIOCSTI", ioctl(sti), EPERM),
                    (
                        "TIOCSTI, garbage above",
                        ioctl(0xdead_beef_0000_0000 | sti),
                        EPERM,
                    ),
                    ("TIOCLINUX", ioctl(libc::TIOCLINUX), EPERM),
                    ("TCGETS", ioctl(libc::TCGETS), ALLOW),
                    ("TIOCGWINSZ", ioctl(libc::TIOCGWINSZ), ALLOW),
                    ("FIONREAD", ioctl(libc::FIONREAD), ALLOW),
                    ("TIOCSTI in the upper half only", ioctl(sti << 32), ALLOW),
                ],
            );
        }
    }

    #[test]
    fn restricted_network_allows_send_only_without_a_destination() {
        let sendto = |dest: u64| call(libc::SYS_sendto, &[3, 0x7ffd_0000, 1, 0, dest, 110]);
        let socket = |family: u64| call(libc::SYS_socket, &[family, libc::SOCK_DGRAM as u64]);
        let af_unix = libc::AF_UNIX as u64;
        check(
            SeccompMode::Restricted,
            &[
                ("send()", sendto(0), ALLOW),
                ("sendto(path)", sendto(0x7ffd_1234_5678), EPERM),
                ("sendto(low half zero)", sendto(0x1_0000_0000), EPERM),
                ("sendmsg", call(libc::SYS_sendmsg, &[3, 0, 0]), EPERM),
                ("sendmmsg", call(libc::SYS_sendmmsg, &[3, 0, 1]), EPERM),
                ("connect", call(libc::SYS_connect, &[3]), EPERM),
                ("recvfrom", call(libc::SYS_recvfrom, &[3]), ALLOW),
                ("recvmsg", call(libc::SYS_recvmsg, &[3]), ALLOW),
                ("socket(AF_UNIX)", socket(af_unix), ALLOW),
                ("socket(AF_INET)", socket(libc::AF_INET as u64), EPERM),
                (
                    "socket(AF_INET with upper bits)",
                    socket(1 << 32 | libc::AF_INET as u64),
                    EPERM,
                ),
                (
                    "socketpair(AF_UNIX)",
                    call(libc::SYS_socketpair, &[af_unix]),
                    ALLOW,
                ),
                ("ptrace", call(libc::SYS_ptrace, &[0]), EPERM),
            ],
        );
    }

    #[test]
    fn network_enabled_mode_only_refuses_vsock() {
        check(
            SeccompMode::VmSocketRestricted,
            &[
                (
                    "sendto(addr)",
                    call(libc::SYS_sendto, &[3, 0, 1, 0, 0x7ffd_0000]),
                    ALLOW,
                ),
                ("sendmsg", call(libc::SYS_sendmsg, &[3]), ALLOW),
                ("connect", call(libc::SYS_connect, &[3]), ALLOW),
                (
                    "socket(AF_INET)",
                    call(libc::SYS_socket, &[libc::AF_INET as u64]),
                    ALLOW,
                ),
                (
                    "socket(AF_VSOCK)",
                    call(libc::SYS_socket, &[libc::AF_VSOCK as u64]),
                    EPERM,
                ),
                ("ptrace", call(libc::SYS_ptrace, &[0]), ALLOW),
            ],
        );
    }

    const AF_UNIX: u64 = libc::AF_UNIX as u64;
    const AF_INET: u64 = libc::AF_INET as u64;
    const AF_INET6: u64 = libc::AF_INET6 as u64;
    const STREAM: u64 = libc::SOCK_STREAM as u64;
    const DGRAM: u64 = libc::SOCK_DGRAM as u64;
    const CLOEXEC: u64 = libc::SOCK_CLOEXEC as u64;

    #[test]
    fn relay_only_refuses_unix_sockets_but_not_tcp_or_socketpair() {
        check(
            SeccompMode::RelayOnly,
            &[
                (
                    "unix stream",
                    call(libc::SYS_socket, &[AF_UNIX, STREAM]),
                    EPERM,
                ),
                (
                    "unix dgram",
                    call(libc::SYS_socket, &[AF_UNIX, DGRAM]),
                    EPERM,
                ),
                (
                    "tcp",
                    call(libc::SYS_socket, &[AF_INET, STREAM | CLOEXEC]),
                    ALLOW,
                ),
                ("tcp6", call(libc::SYS_socket, &[AF_INET6, STREAM]), ALLOW),
                // Codex's nested bubblewrap brings up loopback in its namespace over netlink.
                (
                    "netlink",
                    call(libc::SYS_socket, &[libc::AF_NETLINK as u64, 3]),
                    ALLOW,
                ),
                (
                    "socketpair",
                    call(libc::SYS_socketpair, &[AF_UNIX, STREAM]),
                    ALLOW,
                ),
                (
                    "vsock",
                    call(libc::SYS_socket, &[libc::AF_VSOCK as u64, STREAM]),
                    EPERM,
                ),
                ("connect", call(libc::SYS_connect, &[3]), ALLOW),
            ],
        );
    }

    #[test]
    fn proxy_only_allows_nothing_but_tcp_sockets() {
        check(
            SeccompMode::ProxyOnly,
            &[
                (
                    "tcp",
                    call(libc::SYS_socket, &[AF_INET, STREAM | CLOEXEC]),
                    ALLOW,
                ),
                ("tcp6", call(libc::SYS_socket, &[AF_INET6, STREAM]), ALLOW),
                (
                    "tcp by number",
                    call(
                        libc::SYS_socket,
                        &[AF_INET, STREAM, libc::IPPROTO_TCP as u64],
                    ),
                    ALLOW,
                ),
                // Landlock's port rules cover TCP only: MPTCP, SCTP and SMC streams would pass.
                (
                    "mptcp",
                    call(
                        libc::SYS_socket,
                        &[AF_INET, STREAM, libc::IPPROTO_MPTCP as u64],
                    ),
                    EPERM,
                ),
                (
                    "mptcp6",
                    call(libc::SYS_socket, &[AF_INET6, STREAM | CLOEXEC, 262]),
                    EPERM,
                ),
                (
                    "sctp stream",
                    call(
                        libc::SYS_socket,
                        &[AF_INET, STREAM, libc::IPPROTO_SCTP as u64],
                    ),
                    EPERM,
                ),
                (
                    "smc",
                    call(libc::SYS_socket, &[AF_INET6, STREAM, 256]),
                    EPERM,
                ),
                ("udp", call(libc::SYS_socket, &[AF_INET, DGRAM]), EPERM),
                (
                    "udp6",
                    call(libc::SYS_socket, &[AF_INET6, DGRAM | CLOEXEC]),
                    EPERM,
                ),
                (
                    "raw",
                    call(libc::SYS_socket, &[AF_INET, libc::SOCK_RAW as u64]),
                    EPERM,
                ),
                (
                    "sctp",
                    call(libc::SYS_socket, &[AF_INET, libc::SOCK_SEQPACKET as u64]),
                    EPERM,
                ),
                ("unix", call(libc::SYS_socket, &[AF_UNIX, STREAM]), EPERM),
                (
                    "netlink",
                    call(libc::SYS_socket, &[libc::AF_NETLINK as u64, 3]),
                    EPERM,
                ),
                (
                    "packet",
                    call(libc::SYS_socket, &[libc::AF_PACKET as u64, 3]),
                    EPERM,
                ),
                (
                    "socketpair",
                    call(libc::SYS_socketpair, &[AF_UNIX, STREAM]),
                    ALLOW,
                ),
                (
                    "socketpair inet",
                    call(libc::SYS_socketpair, &[AF_INET, STREAM]),
                    EPERM,
                ),
                ("connect", call(libc::SYS_connect, &[3]), ALLOW),
                ("send", call(libc::SYS_sendto, &[3, 0, 1, 0, 0, 0]), ALLOW),
                (
                    "fast open",
                    call(libc::SYS_sendto, &[3, 0, 1, MSG_FASTOPEN, 0x1000, 16]),
                    EPERM,
                ),
                (
                    "fast open sendmsg",
                    call(libc::SYS_sendmsg, &[3, 0x1000, MSG_FASTOPEN]),
                    EPERM,
                ),
                ("sendmsg", call(libc::SYS_sendmsg, &[3, 0x1000, 0]), ALLOW),
                // sendmmsg's flags come after the vector's length.
                (
                    "fast open sendmmsg",
                    call(libc::SYS_sendmmsg, &[3, 0x1000, 1, MSG_FASTOPEN]),
                    EPERM,
                ),
                (
                    "sendmmsg of 1 with no flags",
                    call(libc::SYS_sendmmsg, &[3, 0x1000, 1, 0]),
                    ALLOW,
                ),
                ("ptrace", call(libc::SYS_ptrace, &[16]), EPERM),
            ],
        );
    }
}
