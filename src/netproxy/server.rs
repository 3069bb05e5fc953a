//! The proxy's listeners: a loopback TCP port (and optionally a unix socket), one accept thread,
//! one thread per connection, a cap on live connections, and a handle that shuts it all down.

use std::collections::HashMap;
use std::io::{self, ErrorKind, Write};
use std::net::{Shutdown, SocketAddr, TcpListener};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::conn::Conn;
use super::http::response;
use super::log::EventLog;
use super::policy::NetPolicy;
use super::resolve::{Resolver, SystemResolver};
use super::session::{serve, Context};

/// Bounds on what one client can hold.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request head accepted (431 past it).
    pub max_head_bytes: usize,
    /// Time for a client to send its whole request head after connecting (408 past it).
    pub head_timeout: Duration,
    /// Time to establish the upstream TCP connection, per vetted address.
    pub connect_timeout: Duration,
    /// A tunnel with no bytes in either direction for this long is closed.
    pub idle_timeout: Duration,
    /// Live client connections; more are answered 503 at once.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_head_bytes: 32 * 1024,
            head_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(10),
            // Long enough for a model's streamed answer with pauses between events.
            idle_timeout: Duration::from_secs(600),
            max_connections: 256,
        }
    }
}

/// What to start.
pub struct ProxyConfig {
    pub policy: NetPolicy,
    pub resolver: Arc<dyn Resolver>,
    /// TCP listen address; must be loopback. Default `127.0.0.1:0` (an ephemeral port).
    pub listen: SocketAddr,
    /// Also serve on a unix socket at this path (created 0600; put it in a private directory).
    pub unix_socket: Option<PathBuf>,
    /// Append one line per refusal (and per error) here.
    pub log_path: Option<PathBuf>,
    /// Also log every allowed connection.
    pub log_allowed: bool,
    pub limits: Limits,
}

impl ProxyConfig {
    /// `policy` on 127.0.0.1:0 with the system resolver, no unix socket, no log, default limits.
    pub fn new(policy: NetPolicy) -> ProxyConfig {
        ProxyConfig {
            policy,
            resolver: Arc::new(SystemResolver::default()),
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            unix_socket: None,
            log_path: None,
            log_allowed: false,
            limits: Limits::default(),
        }
    }
}

/// Why the proxy did not start.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    #[error("proxy listen address {0} is not loopback: the proxy must not be reachable from other hosts")]
    NotLoopback(SocketAddr),
    #[error("cannot listen on {addr}: {source}")]
    Listen { addr: SocketAddr, source: io::Error },
    #[error("cannot listen on unix socket {path}: {source}")]
    Unix { path: PathBuf, source: io::Error },
    #[error("cannot open proxy log {path}: {source}")]
    Log { path: PathBuf, source: io::Error },
    #[error("cannot start the proxy thread: {0}")]
    Thread(io::Error),
}

/// A running proxy. Dropping it shuts it down too.
pub struct ProxyHandle {
    /// The loopback TCP address clients use (`http://{addr}`).
    pub addr: SocketAddr,
    /// The unix socket path, when one was asked for.
    pub unix_path: Option<PathBuf>,
    wake: Option<UnixStream>,
    accept: Option<JoinHandle<()>>,
    shared: Arc<Shared>,
    _twin: Vec<OwnedFd>,
}

struct Shared {
    ctx: Context,
    live: Mutex<HashMap<u64, Conn>>,
    drained: Condvar,
    next_id: AtomicU64,
}

/// Listeners bound, log open, no thread started yet: what an executor holds across `fork`, so
/// the forked child never inherits a running thread (it may then only do async-signal-safe work)
/// while clients connecting meanwhile already queue in the listen backlog.
pub struct Bound {
    /// The loopback TCP address clients use.
    pub addr: SocketAddr,
    tcp: TcpListener,
    /// The same port held on every other local address (see `twin`), while the proxy runs.
    twin: Vec<OwnedFd>,
    unix: Option<UnixListener>,
    unix_path: Option<PathBuf>,
    ctx: Context,
}

/// Binds the listeners and starts serving. The port is bound before this returns, so a client
/// started afterwards never races the proxy's start-up.
pub fn start(config: ProxyConfig) -> Result<ProxyHandle, ProxyError> {
    bind(config)?.serve()
}

/// Binds the listeners and opens the log; starts nothing ([`Bound::serve`] does).
pub fn bind(config: ProxyConfig) -> Result<Bound, ProxyError> {
    if !config.listen.ip().is_loopback() {
        return Err(ProxyError::NotLoopback(config.listen));
    }
    let listen_err = |source| ProxyError::Listen {
        addr: config.listen,
        source,
    };
    let (tcp, twin) = super::twin::bind(config.listen).map_err(listen_err)?;
    tcp.set_nonblocking(true).map_err(listen_err)?;
    let addr = tcp.local_addr().map_err(listen_err)?;
    // The log is for the user; losing it must not cost the network policy.
    let log = config
        .log_path
        .as_ref()
        .and_then(|path| match EventLog::open(path) {
            Ok(log) => Some(log),
            Err(source) => {
                eprintln!(
                    "{}: warning: {}; the proxy's refusals are not logged",
                    crate::exit::program_name(),
                    ProxyError::Log {
                        path: path.clone(),
                        source
                    }
                );
                None
            }
        });
    let unix = match &config.unix_socket {
        Some(path) => {
            let unix_err = |source| ProxyError::Unix {
                path: path.clone(),
                source,
            };
            let listener = UnixListener::bind(path).map_err(unix_err)?;
            std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                .and_then(|()| listener.set_nonblocking(true))
                .map_err(|e| {
                    let _ = std::fs::remove_file(path);
                    unix_err(e)
                })?;
            Some(listener)
        }
        None => None,
    };
    Ok(Bound {
        addr,
        tcp,
        twin,
        unix,
        unix_path: config.unix_socket,
        ctx: Context {
            policy: config.policy,
            resolver: config.resolver,
            log,
            log_allowed: config.log_allowed,
            limits: config.limits,
            stopping: Arc::new(AtomicBool::new(false)),
        },
    })
}

impl Bound {
    /// Starts the accept thread; connections already queued are served first.
    pub fn serve(self) -> Result<ProxyHandle, ProxyError> {
        let (wake, wake_rx) = UnixStream::pair().map_err(ProxyError::Thread)?;
        let shared = Arc::new(Shared {
            ctx: self.ctx,
            live: Mutex::new(HashMap::new()),
            drained: Condvar::new(),
            next_id: AtomicU64::new(0),
        });
        let loop_shared = Arc::clone(&shared);
        let (tcp, unix) = (self.tcp, self.unix);
        let accept = thread::Builder::new()
            .name("netproxy-accept".into())
            .spawn(move || accept_loop(tcp, unix, wake_rx, loop_shared))
            .map_err(ProxyError::Thread)?;
        Ok(ProxyHandle {
            addr: self.addr,
            unix_path: self.unix_path,
            wake: Some(wake),
            accept: Some(accept),
            shared,
            _twin: self.twin,
        })
    }
}

impl ProxyHandle {
    /// `http://127.0.0.1:PORT`, the value for `HTTP(S)_PROXY`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Client connections currently being served.
    pub fn active_connections(&self) -> usize {
        self.shared.live.lock().map_or(0, |live| live.len())
    }

    /// Stops accepting, closes every live connection, waits (briefly) for their threads, and
    /// removes the unix socket.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(mut wake) = self.wake.take() else {
            return;
        };
        self.shared.ctx.stopping.store(true, Ordering::Relaxed);
        let _ = wake.write_all(b"x");
        if let Some(accept) = self.accept.take() {
            let _ = accept.join();
        }
        let deadline = Instant::now() + Duration::from_secs(2);
        if let Ok(mut live) = self.shared.live.lock() {
            for conn in live.values() {
                let _ = conn.shutdown(Shutdown::Both);
            }
            // Threads still resolving or dialling finish within their own timeouts; we wait
            // only a little, they hold nothing but their own sockets.
            while !live.is_empty() {
                let left = deadline.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    break;
                }
                live = match self.shared.drained.wait_timeout(live, left) {
                    Ok((guard, _)) => guard,
                    Err(_) => break,
                };
            }
        }
        if let Some(path) = &self.unix_path {
            let _ = std::fs::remove_file(path);
        }
    }
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        self.stop();
    }
}

fn accept_loop(
    tcp: TcpListener,
    unix: Option<UnixListener>,
    wake: UnixStream,
    shared: Arc<Shared>,
) {
    loop {
        let mut fds = vec![
            PollFd::new(wake.as_fd(), PollFlags::POLLIN),
            PollFd::new(tcp.as_fd(), PollFlags::POLLIN),
        ];
        if let Some(unix) = &unix {
            fds.push(PollFd::new(unix.as_fd(), PollFlags::POLLIN));
        }
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(_) => return,
        }
        let ready = |i: usize| {
            fds.get(i)
                .and_then(|f| f.revents())
                .is_some_and(|r| !r.is_empty())
        };
        if ready(0) {
            return;
        }
        let (tcp_ready, unix_ready) = (ready(1), ready(2));
        drop(fds);
        if tcp_ready {
            drain(|| tcp.accept().map(|(s, _)| Conn::Tcp(s)), &shared);
        }
        if let (true, Some(unix)) = (unix_ready, &unix) {
            drain(|| unix.accept().map(|(s, _)| Conn::Unix(s)), &shared);
        }
    }
}

/// Accepts until the (non-blocking) listener has nothing left. Errors other than EINTR, be it
/// WouldBlock or a transient EMFILE/ECONNABORTED, go back to `poll`.
fn drain(mut accept: impl FnMut() -> io::Result<Conn>, shared: &Arc<Shared>) {
    loop {
        match accept() {
            Ok(conn) => admit(conn, shared),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) if e.kind() == ErrorKind::WouldBlock => return,
            Err(_) => {
                // Out of descriptors: the listener stays readable, so poll would spin.
                thread::sleep(Duration::from_millis(20));
                return;
            }
        }
    }
}

/// Hands a new client to its own thread, or answers 503 when at the cap.
fn admit(conn: Conn, shared: &Arc<Shared>) {
    // Accepted sockets inherit O_NONBLOCK from the listener on some systems (macOS).
    let blocking = match &conn {
        Conn::Tcp(s) => s.set_nonblocking(false),
        Conn::Unix(s) => s.set_nonblocking(false),
    };
    if blocking.is_err() {
        return;
    }
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    {
        let Ok(mut live) = shared.live.lock() else {
            return;
        };
        let Ok(clone) = conn.try_clone() else {
            return;
        };
        if live.len() >= shared.ctx.limits.max_connections {
            drop(live);
            busy(conn, shared);
            return;
        }
        live.insert(id, clone);
    }
    let thread_shared = Arc::clone(shared);
    let spawned = thread::Builder::new()
        .name("netproxy-conn".into())
        .spawn(move || {
            serve(conn, &thread_shared.ctx);
            if let Ok(mut live) = thread_shared.live.lock() {
                live.remove(&id);
                thread_shared.drained.notify_all();
            }
        });
    if spawned.is_err() {
        if let Ok(mut live) = shared.live.lock() {
            if let Some(conn) = live.remove(&id) {
                busy(conn, shared);
            }
        }
    }
}

fn busy(mut conn: Conn, shared: &Shared) {
    let message = "codex-launcher proxy is at its connection limit; retry shortly";
    if let Some(log) = &shared.ctx.log {
        log.line(&format!(
            "error too-many-connections client={}",
            conn.peer()
        ));
    }
    let _ = conn.set_write_timeout(Some(Duration::from_millis(100)));
    let _ = conn.write_all(&response(
        503,
        "Service Unavailable",
        "too-many-connections",
        message,
    ));
    let _ = conn.shutdown(Shutdown::Both);
}
