//! The egress proxy bounds what one client can hold: head size, time to send a head, live
//! connections, idle tunnels.

mod netproxy_harness;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::thread;
use std::time::{Duration, Instant};

use netproxy_harness::{connect, echo_through, policy, Proxy, RecordingResolver, Server};

fn read_all(mut s: TcpStream) -> String {
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn an_oversized_request_head_gets_431() {
    let proxy = Proxy::start_with(
        policy(&["a.test"], &[], &[]),
        RecordingResolver::default(),
        |c| c.limits.max_head_bytes = 1024,
    );
    let padding = "x".repeat(2000);
    let answer = proxy.exchange(&format!(
        "CONNECT a.test:443 HTTP/1.1\r\nX-Pad: {padding}\r\n\r\n"
    ));
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
    // Without any terminator, the cap still applies.
    let answer = proxy.exchange(&format!("CONNECT a.test:443 HTTP/1.1\r\nX-Pad: {padding}"));
    assert!(answer.starts_with("HTTP/1.1 431 "), "{answer}");
    assert!(proxy.resolver.asked().is_empty());
    assert!(
        proxy.log().contains("error head-too-large"),
        "{}",
        proxy.log()
    );
}

#[test]
fn a_client_that_never_sends_a_request_times_out() {
    let proxy = Proxy::start_with(policy(&[], &[], &[]), RecordingResolver::default(), |c| {
        c.limits.head_timeout = Duration::from_millis(300)
    });
    let started = Instant::now();
    let answer = read_all(TcpStream::connect(proxy.handle.addr).unwrap());
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_client_trickling_its_head_gets_no_longer_clock() {
    let proxy = Proxy::start_with(policy(&[], &[], &[]), RecordingResolver::default(), |c| {
        c.limits.head_timeout = Duration::from_millis(500)
    });
    let mut s = TcpStream::connect(proxy.handle.addr).unwrap();
    let reader = s.try_clone().unwrap();
    let started = Instant::now();
    let trickle = thread::spawn(move || {
        for b in b"CONNECT a.test:443 HTTP/1.1\r\nX-Slow: "
            .iter()
            .cycle()
            .take(200)
        {
            if s.write_all(&[*b]).is_err() {
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
    });
    let answer = read_all(reader);
    assert!(answer.starts_with("HTTP/1.1 408 "), "{answer}");
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    trickle.join().unwrap();
}

#[test]
fn connections_past_the_cap_get_503() {
    let proxy = Proxy::start_with(policy(&[], &[], &[]), RecordingResolver::default(), |c| {
        c.limits.max_connections = 2;
        c.limits.head_timeout = Duration::from_secs(5);
    });
    let held: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(proxy.handle.addr).unwrap())
        .collect();
    let deadline = Instant::now() + Duration::from_secs(5);
    while proxy.handle.active_connections() < 2 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    let answer = read_all(TcpStream::connect(proxy.handle.addr).unwrap());
    assert!(answer.starts_with("HTTP/1.1 503 "), "{answer}");
    assert!(
        answer.contains("X-Codex-Launcher-Refusal: too-many-connections"),
        "{answer}"
    );
    drop(held);
    let deadline = Instant::now() + Duration::from_secs(5);
    while proxy.handle.active_connections() > 0 && Instant::now() < deadline {
        thread::sleep(Duration::from_millis(10));
    }
    let answer = proxy.exchange("CONNECT b.test:443 HTTP/1.1\r\n\r\n");
    assert!(
        answer.starts_with("HTTP/1.1 403 "),
        "slots were not released: {answer}"
    );
}

#[test]
fn an_idle_tunnel_is_closed() {
    let echo = Server::echo();
    let resolver = RecordingResolver::default().with("allowed.test", &["127.0.0.1"]);
    let proxy = Proxy::start_with(
        policy(&["allowed.test"], &[], &[&echo.addr.to_string()]),
        resolver,
        |c| c.limits.idle_timeout = Duration::from_secs(1),
    );
    let stream = TcpStream::connect(proxy.handle.addr).unwrap();
    let mut tunnel = connect(stream, &format!("allowed.test:{}", echo.addr.port())).unwrap();
    // Traffic keeps it open past the idle limit...
    for _ in 0..4 {
        echo_through(&mut tunnel, b"keepalive");
        thread::sleep(Duration::from_millis(400));
    }
    // ...silence closes it.
    let started = Instant::now();
    tunnel
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut buf = [0u8; 8];
    assert!(matches!(tunnel.read(&mut buf), Ok(0) | Err(_)));
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}
