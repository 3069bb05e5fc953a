//! Who listens on a TCP port, by socket inode and owner: a test that asks "is anything still
//! listening" must not connect to find out, since the freed port may already be another test's,
//! a connect to a closed loopback port can reach itself (TCP simultaneous open), and a child
//! being spawned elsewhere keeps a closed listener alive until it execs.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

/// Inodes of the sockets listening on TCP `port` on this host (`/proc/net/tcp` and `tcp6`).
pub fn listening_sockets(port: u16) -> Vec<u64> {
    const LISTEN: &str = "0A";
    let mut inodes = Vec::new();
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let local_port = fields
                .get(1)
                .and_then(|a| a.rsplit(':').next())
                .and_then(|p| u16::from_str_radix(p, 16).ok());
            if local_port == Some(port) && fields.get(3) == Some(&LISTEN) {
                inodes.extend(fields.get(9).and_then(|i| i.parse::<u64>().ok()));
            }
        }
    }
    inodes
}

/// The executables of the processes holding any of `inodes` open.
pub fn socket_holders(inodes: &[u64]) -> Vec<PathBuf> {
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    procs
        .flatten()
        .filter(|proc| holds(&proc.path(), inodes))
        .filter_map(|proc| std::fs::read_link(proc.path().join("exe")).ok())
        .collect()
}

/// Whether this process still has any of `inodes` open. A child that another test thread is
/// spawning holds copies of every descriptor until it execs, so the socket itself may outlive
/// our close by that long; what we own is what our descriptor table says.
pub fn held_here(inodes: &[u64]) -> bool {
    holds(Path::new("/proc/self"), inodes)
}

fn holds(proc_dir: &Path, inodes: &[u64]) -> bool {
    let wanted: Vec<String> = inodes.iter().map(|i| format!("socket:[{i}]")).collect();
    let Ok(fds) = std::fs::read_dir(proc_dir.join("fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        std::fs::read_link(fd.path())
            .is_ok_and(|target| wanted.iter().any(|w| target.as_os_str() == w.as_str()))
    })
}
