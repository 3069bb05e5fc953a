//! The egress proxy lets allowed traffic through: CONNECT tunnels and plain-HTTP forwarding on
//! its TCP port and its unix socket, through the in-sandbox relay, and it shuts down cleanly.

#[path = "common/listeners.rs"]
mod listeners;
mod netproxy_harness;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use codex_launcher::netproxy::relay;
use listeners::{held_here, listening_sockets, socket_holders};
use netproxy_harness::{connect, echo_through, policy, Proxy, RecordingResolver, Server};

/// A test name mapped to loopback, opened by allowing exactly that loopback endpoint.
fn allowed_test_proxy(server: &Server) -> Proxy {
    let endpoint = server.addr.to_string();
    let resolver = RecordingResolver::default().with("allowed.test", &["127.0.0.1"]);
    Proxy::start_with(
        policy(&["allowed.test"], &[], &[&endpoint]),
        resolver,
        |c| c.log_allowed = true,
    )
}

#[test]
fn connect_to_an_allowed_name_tunnels_to_the_vetted_address() {
    let echo = Server::echo();
    let proxy = allowed_test_proxy(&echo);
    let stream = TcpStream::connect(proxy.handle.addr).unwrap();
    let authority = format!("Allowed.Test.:{}", echo.addr.port());
    let mut tunnel = connect(stream, &authority).expect("tunnel opens");
    assert_eq!(
        echo_through(&mut tunnel, b"ping through the proxy"),
        b"ping through the proxy"
    );
    assert_eq!(proxy.resolver.asked(), vec!["allowed.test"]);
    let log = proxy.log();
    assert!(
        log.contains(&format!(
            "allowed CONNECT allowed.test:{} via 127.0.0.1:{}",
            echo.addr.port(),
            echo.addr.port()
        )),
        "{log}"
    );
}

#[test]
fn bytes_sent_with_the_connect_head_reach_the_upstream() {
    let echo = Server::echo();
    let proxy = allowed_test_proxy(&echo);
    let mut s = TcpStream::connect(proxy.handle.addr).unwrap();
    let port = echo.addr.port();
    s.write_all(format!("CONNECT allowed.test:{port} HTTP/1.1\r\n\r\nearly bytes").as_bytes())
        .unwrap();
    let want = b"HTTP/1.1 200 Connection established\r\n\r\nearly bytes";
    let mut got = vec![0u8; want.len()];
    s.read_exact(&mut got).unwrap();
    assert_eq!(got, want);
}

#[test]
fn plain_http_is_forwarded_in_origin_form_without_hop_headers() {
    let origin = Server::http();
    let proxy = allowed_test_proxy(&origin);
    let port = origin.addr.port();
    let answer = proxy.exchange(&format!(
        "GET http://allowed.test:{port}/path?q=1 HTTP/1.1\r\nHost: ignored.test\r\nProxy-Connection: keep-alive\r\n\
         Proxy-Authorization: Basic c2VjcmV0\r\nAccept: */*\r\n\r\n"
    ));
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.contains(&format!("GET /path?q=1 HTTP/1.1\r\nHost: allowed.test:{port}\r\nAccept: */*\r\nConnection: close\r\n\r\n")), "{answer}");
    assert!(
        !answer.contains("c2VjcmV0") && !answer.contains("ignored.test"),
        "{answer}"
    );
}

#[test]
fn the_unix_socket_listener_serves_the_same_proxy() {
    let echo = Server::echo();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("proxy.sock");
    let resolver = RecordingResolver::default().with("allowed.test", &["127.0.0.1"]);
    let endpoint = echo.addr.to_string();
    let path = sock.clone();
    let proxy = Proxy::start_with(
        policy(&["allowed.test"], &[], &[&endpoint]),
        resolver,
        move |c| c.unix_socket = Some(path),
    );
    assert_eq!(proxy.handle.unix_path.as_deref(), Some(sock.as_path()));
    let mut tunnel = connect(
        UnixStream::connect(&sock).unwrap(),
        &format!("allowed.test:{}", echo.addr.port()),
    )
    .unwrap();
    assert_eq!(echo_through(&mut tunnel, b"over unix"), b"over unix");
    // Refusals are the same over the unix socket.
    let refused = connect(UnixStream::connect(&sock).unwrap(), "other.test:443").unwrap_err();
    assert!(refused.starts_with("HTTP/1.1 403 "), "{refused}");
}

#[test]
fn the_relay_carries_tcp_clients_to_the_proxy_unix_socket() {
    let echo = Server::echo();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("proxy.sock");
    let resolver = RecordingResolver::default().with("allowed.test", &["127.0.0.1"]);
    let endpoint = echo.addr.to_string();
    let path = sock.clone();
    let _proxy = Proxy::start_with(
        policy(&["allowed.test"], &[], &[&endpoint]),
        resolver,
        move |c| c.unix_socket = Some(path),
    );
    let listener = relay::bind(0).unwrap();
    let relay_addr = listener.local_addr().unwrap();
    relay::spawn(listener, sock).unwrap();
    for round in 0..3 {
        let stream = TcpStream::connect(relay_addr).unwrap();
        let mut tunnel = connect(stream, &format!("allowed.test:{}", echo.addr.port())).unwrap();
        let payload = format!("relayed {round}");
        assert_eq!(
            echo_through(&mut tunnel, payload.as_bytes()),
            payload.as_bytes()
        );
    }
    let refused = connect(
        TcpStream::connect(relay_addr).unwrap(),
        "elsewhere.test:443",
    )
    .unwrap_err();
    assert!(
        refused.contains("--allow-domain elsewhere.test"),
        "{refused}"
    );
}

#[test]
fn shutdown_closes_tunnels_stops_listening_and_removes_the_socket() {
    let echo = Server::echo();
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("proxy.sock");
    let resolver = RecordingResolver::default().with("allowed.test", &["127.0.0.1"]);
    let endpoint = echo.addr.to_string();
    let path = sock.clone();
    let proxy = Proxy::start_with(
        policy(&["allowed.test"], &[], &[&endpoint]),
        resolver,
        move |c| c.unix_socket = Some(path),
    );
    let addr = proxy.handle.addr;
    let listening = listening_sockets(addr.port());
    assert!(
        !listening.is_empty(),
        "the proxy is not listening on {addr}"
    );
    assert!(
        held_here(&listening)
            && socket_holders(&listening).contains(&std::env::current_exe().unwrap()),
        "the listener on {addr} is not this process's"
    );
    let mut tunnel = connect(
        TcpStream::connect(addr).unwrap(),
        &format!("allowed.test:{}", echo.addr.port()),
    )
    .unwrap();
    echo_through(&mut tunnel, b"alive");
    assert_eq!(proxy.handle.active_connections(), 1);
    let started = Instant::now();
    proxy.handle.shutdown();
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "shutdown took {:?}",
        started.elapsed()
    );
    tunnel
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut buf = [0u8; 16];
    assert!(
        matches!(tunnel.read(&mut buf), Ok(0) | Err(_)),
        "tunnel still open"
    );
    // Its own descriptors, by socket inode: see tests/common/listeners.rs.
    assert!(!held_here(&listening), "still listening on {addr}");
    assert!(!sock.exists(), "unix socket left behind");
}

/// Real curl, both ways a client uses an HTTP proxy: absolute-form GET and a CONNECT tunnel.
#[test]
fn curl_reaches_an_allowed_name_and_reads_the_refusal_for_another() {
    if std::process::Command::new("curl")
        .arg("--version")
        .output()
        .is_err()
    {
        assert!(std::env::var_os("CI").is_none(), "curl is missing under CI");
        eprintln!("skipped: curl is not installed");
        return;
    }
    let origin = Server::http();
    let proxy = allowed_test_proxy(&origin);
    let curl = |args: &[&str]| {
        let out = std::process::Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "10",
                "--noproxy",
                "",
                "-x",
                &proxy.handle.url(),
            ])
            .args(args)
            .env_clear()
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    let port = origin.addr.port();
    let forwarded = curl(&[&format!("http://allowed.test:{port}/plain")]);
    assert!(forwarded.contains("GET /plain HTTP/1.1"), "{forwarded}");
    let tunnelled = curl(&["-p", &format!("http://allowed.test:{port}/tunnel")]);
    assert!(tunnelled.contains("GET /tunnel HTTP/1.1"), "{tunnelled}");
    let refused = curl(&["http://denied.test/"]);
    assert!(
        refused.contains("run the launcher with --allow-domain denied.test."),
        "{refused}"
    );
    let refused = curl(&["-p", "http://denied.test/"]);
    assert!(refused.contains("403"), "{refused}");
}
