//! The proxy's port on the other loopback address. Landlock's port rule admits `anyhost:P`, and
//! Seatbelt's `localhost:P` may name `::1` as well as `127.0.0.1`, so a local service on `[::1]:P`
//! (P being the proxy's ephemeral port on `127.0.0.1`) would be reachable from the sandbox
//! without the proxy. The proxy therefore also holds `[::1]:P`: bound, never listening, so a
//! connection there is refused at once. A port whose twin is taken is given back and another
//! one chosen.

use std::io;
use std::net::{SocketAddr, TcpListener};
use std::os::fd::{FromRawFd, OwnedFd};

/// Ephemeral ports tried before giving up (each is taken on `::1` only by chance).
const ATTEMPTS: usize = 16;

/// Binds `listen`; for an ephemeral port on IPv4 loopback, one whose `[::1]` twin it can hold
/// too, returned alongside. No twin where the host has no IPv6 loopback (nothing can listen
/// there either).
pub fn bind(listen: SocketAddr) -> io::Result<(TcpListener, Option<OwnedFd>)> {
    if listen.port() != 0 || !listen.ip().is_loopback() || !listen.is_ipv4() {
        return Ok((TcpListener::bind(listen)?, None));
    }
    for _ in 0..ATTEMPTS {
        let tcp = TcpListener::bind(listen)?;
        let port = tcp.local_addr()?.port();
        match hold_v6_loopback(port) {
            Ok(twin) => return Ok((tcp, Some(twin))),
            Err(e)
                if matches!(
                    e.raw_os_error(),
                    Some(libc::EADDRNOTAVAIL | libc::EAFNOSUPPORT)
                ) =>
            {
                return Ok((tcp, None))
            }
            Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        "no ephemeral port free on both 127.0.0.1 and ::1",
    ))
}

/// A TCP socket bound to `[::1]:port` that does not listen.
fn hold_v6_loopback(port: u16) -> io::Result<OwnedFd> {
    // SAFETY: plain socket(2); the result is a new descriptor or -1.
    let fd = unsafe { libc::socket(libc::AF_INET6, libc::SOCK_STREAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just created and is owned by nobody else.
    let owned = unsafe { OwnedFd::from_raw_fd(fd) };
    // SAFETY: an all-zero sockaddr_in6 is valid; the fields are then set.
    let mut addr: libc::sockaddr_in6 = unsafe { std::mem::zeroed() };
    addr.sin6_family = libc::AF_INET6 as libc::sa_family_t;
    addr.sin6_port = port.to_be();
    addr.sin6_addr.s6_addr = std::net::Ipv6Addr::LOCALHOST.octets();
    // SAFETY: `addr` is a valid sockaddr_in6 of the given length, `fd` an open socket.
    let bound = unsafe {
        libc::bind(
            fd,
            (&addr as *const libc::sockaddr_in6).cast(),
            std::mem::size_of::<libc::sockaddr_in6>() as libc::socklen_t,
        )
    };
    if bound != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Loud, and a failure under CI, which has IPv6 loopback.
    fn no_ipv6_loopback() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "prerequisite missing under CI: no IPv6 loopback"
        );
        eprintln!("skipped: no IPv6 loopback here");
    }

    #[test]
    fn the_proxy_port_is_held_on_ipv6_loopback_too() {
        if TcpListener::bind("[::1]:0").is_err() {
            no_ipv6_loopback();
            return;
        }
        let proxy = crate::netproxy::start(crate::netproxy::ProxyConfig::new(
            crate::netproxy::NetPolicy::new(),
        ))
        .unwrap();
        let port = proxy.addr.port();
        let taken = TcpListener::bind(("::1", port)).unwrap_err();
        assert_eq!(taken.kind(), io::ErrorKind::AddrInUse, "[::1]:{port}");
        let refused = std::net::TcpStream::connect(("::1", port)).unwrap_err();
        assert_eq!(refused.kind(), io::ErrorKind::ConnectionRefused);
        drop(proxy);
        // Given back with the proxy.
        TcpListener::bind(("::1", port)).unwrap();
    }

    #[test]
    fn a_port_whose_twin_is_taken_is_not_used() {
        let Ok(squatter) = TcpListener::bind("[::1]:0") else {
            no_ipv6_loopback();
            return;
        };
        let squatted = squatter.local_addr().unwrap().port();
        // The twin check alone: a taken port is reported as such.
        let err = hold_v6_loopback(squatted).unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::EADDRINUSE));
        for _ in 0..50 {
            let (tcp, twin) = bind("127.0.0.1:0".parse().unwrap()).unwrap();
            assert!(twin.is_some());
            assert_ne!(tcp.local_addr().unwrap().port(), squatted);
        }
    }
}
