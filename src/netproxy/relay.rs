//! The bwrap inner stage's hop into the proxy: a TCP listener on loopback inside the sandbox's
//! network namespace, each connection forwarded to the proxy's unix socket bound into the
//! sandbox. The relay is protocol-blind; every decision stays with the proxy outside.
//!
//! bwrap's `--unshare-net` brings `lo` up in the new namespace, so binding 127.0.0.1 works there.
//! Bind before starting the task (a client started first would find nothing listening,
//! claude-code #93862 in reference network-proxy.md §2.4).

use std::io;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::{self, JoinHandle};
use std::time::Duration;

use super::conn::Conn;
use super::splice::splice;

/// More connections than this are closed at once: the proxy caps its clients anyway, and the
/// relay runs in the sandbox's PID 1, whose threads the task must not be able to multiply.
const MAX_LIVE: usize = 512;
/// The proxy enforces the real idle limit; this only reaps pairs the proxy already dropped.
const IDLE: Duration = Duration::from_secs(3600);

/// Binds `127.0.0.1:port` (0 = ephemeral) in the current network namespace.
pub fn bind(port: u16) -> io::Result<TcpListener> {
    TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port)))
}

/// Serves `listener` on a background thread, forever: each connection is spliced to a fresh
/// connection to `proxy_socket`. The thread ends only if `accept` fails for good.
pub fn spawn(listener: TcpListener, proxy_socket: PathBuf) -> io::Result<JoinHandle<io::Error>> {
    thread::Builder::new()
        .name("netproxy-relay".into())
        .spawn(move || run(listener, &proxy_socket))
}

/// Accepts and forwards until `accept` fails persistently; returns that error.
pub fn run(listener: TcpListener, proxy_socket: &Path) -> io::Error {
    let live = Arc::new(AtomicUsize::new(0));
    let never = Arc::new(AtomicBool::new(false));
    let mut failures = 0;
    loop {
        let client = match listener.accept() {
            Ok((client, _)) => client,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                // EMFILE and friends are transient; a listener that fails again and again is gone.
                failures += 1;
                if failures > 100 {
                    return e;
                }
                thread::sleep(Duration::from_millis(10));
                continue;
            }
        };
        failures = 0;
        if live.fetch_add(1, Ordering::SeqCst) >= MAX_LIVE {
            live.fetch_sub(1, Ordering::SeqCst);
            let _ = client.shutdown(Shutdown::Both);
            continue;
        }
        let (live2, never2, path) = (
            Arc::clone(&live),
            Arc::clone(&never),
            proxy_socket.to_path_buf(),
        );
        let spawned = thread::Builder::new()
            .name("netproxy-relay-conn".into())
            .spawn(move || {
                forward(client, &path, &never2);
                live2.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            live.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

fn forward(client: TcpStream, proxy_socket: &Path, never: &Arc<AtomicBool>) {
    match UnixStream::connect(proxy_socket) {
        Ok(proxy) => {
            let _ = splice(Conn::Tcp(client), Conn::Unix(proxy), IDLE, never);
        }
        Err(_) => {
            let _ = client.shutdown(Shutdown::Both);
        }
    }
}
