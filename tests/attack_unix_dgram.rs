//! Host unix sockets from a network-restricted task: the host listens on an AF_UNIX datagram socket
//! at a path outside every writable root and on an abstract name; the task tries every way to send
//! to them (sendto, sendmsg and sendmmsg with a name, from plain and socketpair sockets, connect).
//! From the host: no datagram arrives. Socketpairs inside keep working for send() and write();
//! sendmsg is the price (seccomp cannot see whether its msghdr names a host socket).

mod common;

use std::os::linux::net::SocketAddrExt;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};

use common::attack::*;
use common::*;

/// Two host sockets anyone may send to (mode 0777, like /dev/log or a notify socket).
struct HostSockets {
    path: std::path::PathBuf,
    abstract_name: String,
    by_path: UnixDatagram,
    by_name: UnixDatagram,
}

fn listen(s: &Setup) -> HostSockets {
    let path = s.base.join(unique("host")).with_extension("sock");
    let by_path = UnixDatagram::bind(&path).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o777)).unwrap();
    let abstract_name = unique("cl-test-abstract");
    let addr = SocketAddr::from_abstract_name(abstract_name.as_bytes()).unwrap();
    let by_name = UnixDatagram::bind_addr(&addr).unwrap();
    for sock in [&by_path, &by_name] {
        sock.set_nonblocking(true).unwrap();
    }
    HostSockets {
        path,
        abstract_name,
        by_path,
        by_name,
    }
}

impl HostSockets {
    /// Every datagram that arrived, as text: (by path, by abstract name).
    fn received(&self) -> (Vec<String>, Vec<String>) {
        let drain = |sock: &UnixDatagram| {
            let mut got = Vec::new();
            let mut buf = [0u8; 256];
            while let Ok(n) = sock.recv(&mut buf) {
                got.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
            got
        };
        (drain(&self.by_path), drain(&self.by_name))
    }

    fn probe(&self) -> Vec<String> {
        vec![
            PYTHON.into(),
            fixture("unix_send.py").display().to_string(),
            self.path.display().to_string(),
            self.abstract_name.clone(),
        ]
    }
}

const ATTACKS: [&str; 6] = [
    "sendto",
    "sendmsg",
    "sendmmsg",
    "connect",
    "pair_sendto",
    "pair_sendmsg",
];

#[test]
fn the_harness_sees_an_unsandboxed_task_reach_both_host_sockets() {
    if !require(root()) {
        return;
    }
    for uid in UIDS {
        let s = setup();
        let host = listen(&s);
        let out = output(&mut as_uid(unsandboxed(&s, &host.probe()), uid));
        let (by_path, by_name) = host.received();
        let all = [
            "sendto",
            "sendmsg",
            "sendmmsg",
            "pair-sendto",
            "pair-sendmsg",
        ];
        for got in [by_path, by_name] {
            assert_eq!(got, all, "uid {uid:?}\n{}", stdout(&out));
        }
    }
}

#[test]
fn a_network_restricted_task_cannot_send_to_host_unix_sockets() {
    if !require(root()) {
        return;
    }
    for t in targets(&[Network::Restricted]) {
        let s = setup();
        let host = listen(&s);
        let out = output(&mut as_uid(sandboxed(&s, t, &host.probe()), t.uid));
        let context = format!("{t:?}\nstdout: {}\nstderr: {}", stdout(&out), stderr(&out));
        assert_eq!(out.status.code(), Some(0), "{context}");
        let lines = results(&stdout(&out));
        for tag in ["path", "abstract"] {
            for attack in ATTACKS {
                let name = format!("{tag}_{attack}");
                assert_eq!(
                    result(&lines, &name, &context),
                    "EPERM",
                    "{name}: {context}"
                );
            }
        }
        // Only a check of the whole 64-bit pointer refuses this; the kernel would say EFAULT.
        assert_eq!(
            result(&lines, "sendto_high_pointer", &context),
            "EPERM",
            "{context}"
        );
        let (by_path, by_name) = host.received();
        assert!(
            by_path.is_empty() && by_name.is_empty(),
            "{by_path:?} {by_name:?}: {context}"
        );
    }
}

#[test]
fn socketpairs_still_carry_data_without_sendmsg() {
    if !require(root()) {
        return;
    }
    for t in targets(&[Network::Restricted]) {
        let s = setup();
        let host = listen(&s);
        let out = output(&mut as_uid(sandboxed(&s, t, &host.probe()), t.uid));
        let context = format!("{t:?}\nstdout: {}\nstderr: {}", stdout(&out), stderr(&out));
        let lines = results(&stdout(&out));
        for kind in ["stream", "dgram", "seqpacket"] {
            // send() is sendto without a destination: allowed, unlike Codex 0.169.
            for how in ["send", "write"] {
                let name = format!("pair_{kind}_{how}");
                assert_eq!(result(&lines, &name, &context), "ok", "{name}: {context}");
            }
            // What breaks: sendmsg, even on a socketpair (so no SCM_RIGHTS fd passing).
            let name = format!("pair_{kind}_sendmsg");
            assert_eq!(
                result(&lines, &name, &context),
                "EPERM",
                "{name}: {context}"
            );
        }
    }
}

#[test]
fn landlock_scopes_abstract_sockets_when_the_network_is_on() {
    if !require(root().and(landlock_abi_at_least(6))) {
        return;
    }
    // With the network on, seccomp lets sockets through; Landlock's scope (ABI >= 6) still keeps
    // abstract names bound outside the sandbox out of reach. Pathname sockets stay reachable by
    // design there (network enabled), as with bwrap and Codex.
    for t in targets(&[Network::Enabled])
        .into_iter()
        .filter(|t| t.backend == "landlock")
    {
        let s = setup();
        let host = listen(&s);
        let out = output(&mut as_uid(sandboxed(&s, t, &host.probe()), t.uid));
        let context = format!("{t:?}\nstdout: {}\nstderr: {}", stdout(&out), stderr(&out));
        let lines = results(&stdout(&out));
        for attack in ATTACKS {
            let name = format!("abstract_{attack}");
            assert_eq!(
                result(&lines, &name, &context),
                "EPERM",
                "{name}: {context}"
            );
        }
        let (_, by_name) = host.received();
        assert!(by_name.is_empty(), "{by_name:?} arrived: {context}");
    }
}
