//! The egress proxy around one launch (issue 16): bound before the sandbox starts (a client
//! connecting early waits in the listen backlog), served only once the child is forked (the child
//! never inherits a running thread), shut down when the task has ended.
//!
//! Its files live in `$XDG_STATE_HOME/codex-launcher/net`, a directory every plan keeps
//! read-only: the log (opened no-follow, append-only) and, for bubblewrap, a fresh 0700 directory
//! holding the unix socket, reached through its descriptor, never by a path a task could swap.

use std::collections::HashMap;
use std::ffi::OsString;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::sync::Arc;

use crate::egress::{EgressPlan, SOCKET_NAME};
use crate::exit::Failure;
use crate::fs::Dir;
use crate::netproxy::{self, ProxyConfig, ProxyHandle, Resolver, SystemResolver};

/// Answers the `--net-resolve` names from the table and every other name from the system.
/// Either answer is vetted by the policy afterwards.
struct Mapped {
    table: HashMap<String, Vec<IpAddr>>,
    system: SystemResolver,
}

impl Resolver for Mapped {
    fn resolve(&self, name: &str) -> io::Result<Vec<IpAddr>> {
        match self.table.get(name) {
            Some(addrs) => Ok(addrs.clone()),
            None => self.system.resolve(name),
        }
    }
}

/// A proxy bound but not yet serving.
pub struct Bound {
    proxy: netproxy::Bound,
    socket: Option<SocketDir>,
}

/// The private directory holding the proxy's unix socket, and the descriptor bubblewrap binds.
struct SocketDir {
    parent: Dir,
    name: OsString,
    /// Kept open so the `/proc/self/fd` path of the socket stays valid until shutdown.
    _dir: Dir,
    /// A copy above the descriptors the plan passes, so installing those cannot clobber it.
    passed: OwnedFd,
}

/// A serving proxy; dropping it shuts the proxy down and removes its socket directory.
pub struct Running {
    handle: Option<ProxyHandle>,
    socket: Option<SocketDir>,
}

fn refused(what: &str, e: impl std::fmt::Display) -> Failure {
    Failure::refused(format!("egress proxy: {what}: {e}"))
}

/// The launcher's own directory for the proxy's files (created 0700), or why not.
fn net_dir(plan: &EgressPlan) -> Result<Dir, Failure> {
    let net_dir = plan
        .log
        .parent()
        .ok_or_else(|| refused("log path", plan.log.display()))?;
    if let Some(state) = net_dir.parent() {
        crate::fs::create_dirs_private(state)
            .map_err(|e| refused(&state.display().to_string(), e))?;
    }
    crate::fs::private_dir(net_dir, 0o700).map_err(|e| refused(&net_dir.display().to_string(), e))
}

fn via_fd(dir: &Dir, name: &str) -> PathBuf {
    PathBuf::from(format!("/proc/self/fd/{}/{name}", dir.as_raw_fd()))
}

/// Binds the proxy `plan` describes. Without a usable state dir (a HOME the user cannot write)
/// the proxy still runs: refusals are answered but not logged, and the socket directory is a
/// fresh one in the temp dir (a task that tampers with it can only cut its own connection).
pub fn bind(plan: &EgressPlan) -> Result<Bound, Failure> {
    let net = match net_dir(plan) {
        Ok(dir) => {
            sweep_dead_socket_dirs(&dir);
            Some(dir)
        }
        Err(f) => {
            eprintln!(
                "{}: warning: {f}; the proxy's refusals are not logged",
                crate::exit::program_name()
            );
            None
        }
    };
    let policy = plan
        .egress
        .policy()
        .map_err(|e| Failure::usage(e.to_string()))?;
    let mut table: HashMap<String, Vec<IpAddr>> = HashMap::new();
    for (name, addr) in &plan.egress.resolve {
        table.entry(name.clone()).or_default().push(*addr);
    }
    let mut config = ProxyConfig::new(policy);
    config.resolver = Arc::new(Mapped {
        table,
        system: SystemResolver::default(),
    });
    let log_name = plan
        .log
        .file_name()
        .map_or("proxy.log".into(), |n| n.to_string_lossy().into_owned());
    config.log_path = net.as_ref().map(|net| via_fd(net, &log_name));
    let socket = match plan.socket_parent {
        Some(_) => {
            let parent = match net {
                Some(net) => net,
                None => Dir::anchor(&std::env::temp_dir()).map_err(|e| refused("temp dir", e))?,
            };
            let socket = socket_dir(parent)?;
            config.unix_socket = Some(via_fd(&socket._dir, SOCKET_NAME));
            Some(socket)
        }
        None => None,
    };
    let proxy = netproxy::bind(config).map_err(|e| refused("start", e))?;
    Ok(Bound { proxy, socket })
}

const SOCKET_DIR_PREFIX: &str = "codex-launcher-proxy.";

/// Removes socket directories whose launcher is gone (killed before it could clean up): its pid
/// is not running here and nothing answers on its socket (the state dir may be shared with
/// launchers in another pid namespace, whose pids mean nothing here).
fn sweep_dead_socket_dirs(net: &Dir) {
    let Ok(names) = net.names() else { return };
    for name in names {
        let text = name.to_string_lossy();
        let Some(pid) = text
            .strip_prefix(SOCKET_DIR_PREFIX)
            .and_then(|rest| rest.split('.').next())
            .and_then(|pid| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if std::path::Path::new(&format!("/proc/{pid}")).exists() {
            continue;
        }
        if let Ok(Some(dir)) = net.open_dir(&name) {
            if std::os::unix::net::UnixStream::connect(via_fd(&dir, SOCKET_NAME)).is_ok() {
                continue;
            }
            let _ = dir.remove(SOCKET_NAME);
        }
        let _ = net.remove_dir(&name);
    }
}

/// A fresh, empty 0700 directory of ours in `parent`, for the proxy's socket.
fn socket_dir(parent: Dir) -> Result<SocketDir, Failure> {
    let name = OsString::from(format!(
        "{SOCKET_DIR_PREFIX}{}.{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos())
    ));
    let dir = parent
        .create_dir(&name, 0o700)
        .map_err(|e| refused("socket directory", e))?;
    let fresh = dir
        .names()
        .map_err(|e| refused("socket directory", e))?
        .is_empty()
        && dir.stat().is_ok_and(|st| st.mode == 0o700);
    if !fresh {
        return Err(refused("socket directory", "not fresh"));
    }
    // SAFETY: fcntl(F_DUPFD_CLOEXEC) returns a new descriptor we own, or -1.
    let copy = unsafe { libc::fcntl(dir.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 10) };
    if copy < 0 {
        return Err(refused("socket directory", io::Error::last_os_error()));
    }
    Ok(SocketDir {
        parent,
        name,
        _dir: dir,
        // SAFETY: `copy` was just returned by fcntl and is owned by nobody else.
        passed: unsafe { OwnedFd::from_raw_fd(copy) },
    })
}

impl Bound {
    /// The proxy's loopback TCP address.
    pub fn addr(&self) -> SocketAddr {
        self.proxy.addr
    }

    /// The socket directory's descriptor, for the plan's `FdSource::ProxyDir`.
    pub fn socket_dir_fd(&self) -> Option<RawFd> {
        self.socket.as_ref().map(|s| s.passed.as_raw_fd())
    }

    /// Starts serving.
    pub fn serve(self) -> Result<Running, Failure> {
        let handle = self.proxy.serve().map_err(|e| refused("start", e))?;
        Ok(Running {
            handle: Some(handle),
            socket: self.socket,
        })
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.shutdown();
        }
        if let Some(socket) = self.socket.take() {
            let _ = socket.parent.remove_dir(&socket.name);
        }
    }
}
