//! The egress proxy refuses what the policy does not allow, before resolving or dialling, and
//! says so: 403, the refusal header, a sentence naming the host and the flag, one log line.
//! Every "forbidden" address below is either a loopback tripwire that counts connections or is
//! checked refused by the pure policy before the request is sent, so nothing leaves loopback.

mod netproxy_harness;

use std::net::TcpStream;

use codex_launcher::netproxy::host::parse_authority;
use codex_launcher::netproxy::{Decision, NetPolicy, Target};
use netproxy_harness::{connect, policy, Proxy, RecordingResolver, Server};

fn connect_answer(proxy: &Proxy, authority: &str) -> String {
    let stream = TcpStream::connect(proxy.handle.addr).unwrap();
    match connect(stream, authority) {
        Ok(_) => panic!("CONNECT {authority} was allowed"),
        Err(answer) => answer,
    }
}

/// Asserts the pure policy refuses `authority`, so sending it to the proxy cannot dial it.
fn assert_refused_before_dialling(policy: &NetPolicy, authority: &str) {
    let (host, port) = parse_authority(authority).expect("parses");
    let decision = policy.decide(&Target { host, port });
    assert!(
        matches!(decision, Decision::Refused(_)),
        "{authority}: {decision:?}"
    );
}

#[test]
fn a_name_not_on_the_allow_list_gets_403_naming_it_and_is_never_resolved() {
    let proxy = Proxy::start(
        policy(&["allowed.test"], &[], &[]),
        RecordingResolver::default(),
    );
    let answer = connect_answer(&proxy, "Not-Allowed.test:443");
    assert!(
        answer.starts_with(
            "HTTP/1.1 403 Forbidden by codex-launcher: not-allowed.test:443 not-allowed"
        ),
        "{answer}"
    );
    assert!(
        answer.contains("\r\nX-Codex-Launcher-Refusal: not-allowed\r\n"),
        "{answer}"
    );
    assert!(answer.contains("not-allowed.test:443: it is not on the allow list; to allow it, run the launcher with --allow-domain not-allowed.test."), "{answer}");
    let answer = proxy.exchange("GET http://other.test/x HTTP/1.1\r\nHost: other.test\r\n\r\n");
    assert!(answer.starts_with("HTTP/1.1 403 "), "{answer}");
    assert!(
        proxy.resolver.asked().is_empty(),
        "asked {:?}",
        proxy.resolver.asked()
    );
    let log = proxy.log();
    let lines: Vec<&str> = log.lines().collect();
    assert_eq!(lines.len(), 2, "{log}");
    assert!(
        lines[0].contains("refused CONNECT not-allowed.test:443 not-allowed"),
        "{log}"
    );
    assert!(
        lines[0].contains("--allow-domain not-allowed.test"),
        "{log}"
    );
    assert!(
        lines[1].contains("refused GET other.test:80 not-allowed"),
        "{log}"
    );
}

#[test]
fn deny_rules_win_over_allow_rules_and_endpoints() {
    let echo = Server::echo();
    let endpoint = format!("secret.allowed.test:{}", echo.addr.port());
    let resolver = RecordingResolver::default()
        .with("secret.allowed.test", &["127.0.0.1"])
        .with("www.allowed.test", &["127.0.0.1"]);
    let proxy = Proxy::start(
        policy(
            &["**.allowed.test"],
            &["SECRET.allowed.test."],
            &[&endpoint, &echo.addr.to_string()],
        ),
        resolver,
    );
    let answer = connect_answer(&proxy, &endpoint);
    assert!(
        answer.contains("X-Codex-Launcher-Refusal: denied"),
        "{answer}"
    );
    assert!(
        answer.contains("deny rule SECRET.allowed.test."),
        "{answer}"
    );
    assert!(
        !answer.contains("--allow-"),
        "a denied host offers no flag: {answer}"
    );
    assert_eq!(echo.hits(), 0);
    let stream = TcpStream::connect(proxy.handle.addr).unwrap();
    connect(stream, &format!("www.allowed.test:{}", echo.addr.port()))
        .expect("sibling still allowed");
    assert_eq!(proxy.resolver.asked(), vec!["www.allowed.test"]);
}

#[test]
fn every_spelling_of_loopback_is_refused_and_never_dialled() {
    let Some(tripwire) = Server::tripwire("127.0.0.1:0") else {
        panic!("cannot bind loopback")
    };
    let port = tripwire.addr.port();
    // Allow rules of every wildcard kind: none may match an IP literal.
    let proxy = Proxy::start(
        policy(&["**.test", "**.localhost"], &[], &[]),
        RecordingResolver::default(),
    );
    for host in [
        "127.0.0.1",
        "127.1",
        "127.0.1",
        "2130706433",
        "0x7f000001",
        "0x7f.0.0.1",
        "0X7F.1",
        "017700000001",
        "0177.0.0.1",
        "127.0.0.1.",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "[::127.0.0.1]",
        "[64:ff9b::7f00:1]",
        "[2002:7f00:1::]",
        "0",
        "0.0.0.0",
        "[::]",
        "[::1]",
    ] {
        let authority = format!("{host}:{port}");
        let answer = connect_answer(&proxy, &authority);
        assert!(answer.starts_with("HTTP/1.1 403 "), "{authority}: {answer}");
        let answer = proxy.exchange(&format!("GET http://{authority}/ HTTP/1.1\r\n\r\n"));
        assert!(
            answer.starts_with("HTTP/1.1 403 "),
            "GET {authority}: {answer}"
        );
    }
    assert_eq!(tripwire.hits(), 0, "a loopback spelling was dialled");
    assert!(proxy.resolver.asked().is_empty());
}

#[test]
fn every_spelling_of_the_metadata_address_is_refused() {
    let p = policy(&["**.internal"], &[], &[]);
    let proxy = Proxy::start(p.clone(), RecordingResolver::default());
    for host in [
        "169.254.169.254",
        "2852039166",
        "0xa9fea9fe",
        "0xa9.0xfe.0xa9.0xfe",
        "0251.0376.0251.0376",
        "169.254.43518",
        "169.16689662",
        "[::ffff:169.254.169.254]",
        "[::ffff:a9fe:a9fe]",
        "[64:ff9b::a9fe:a9fe]",
        "[fd00:ec2::254]",
        "100.100.100.200",
        "168.63.129.16",
        "[fe80::a9fe:a9fe]",
    ] {
        let authority = format!("{host}:80");
        assert_refused_before_dialling(&p, &authority);
        let answer = connect_answer(&proxy, &authority);
        assert!(
            answer.contains("X-Codex-Launcher-Refusal: non-public-address"),
            "{authority}: {answer}"
        );
        assert!(
            answer.contains("--allow-endpoint "),
            "{authority}: {answer}"
        );
    }
}

#[test]
fn an_allowed_name_resolving_to_a_private_address_is_refused_and_never_dialled() {
    let tripwire = Server::tripwire("127.0.0.1:0").unwrap();
    let port = tripwire.addr.port();
    let resolver = RecordingResolver::default()
        .with("rebind.test", &["127.0.0.1"])
        .with("mapped.test", &["::ffff:127.0.0.1"])
        .with("metadata.test", &["169.254.169.254"])
        .with("mixed.test", &["127.0.0.1", "10.0.0.1"])
        .with("ula.test", &["fd00:ec2::254"]);
    let proxy = Proxy::start(policy(&["*.test"], &[], &[]), resolver);
    for name in [
        "rebind.test",
        "mapped.test",
        "metadata.test",
        "mixed.test",
        "ula.test",
    ] {
        let answer = connect_answer(&proxy, &format!("{name}:{port}"));
        assert!(
            answer.contains("X-Codex-Launcher-Refusal: non-public-address"),
            "{name}: {answer}"
        );
        assert!(
            answer.contains(&format!("--allow-endpoint {name}:{port}")),
            "{name}: {answer}"
        );
    }
    assert_eq!(tripwire.hits(), 0, "a rebinding answer was dialled");
    let unknown = connect_answer(&proxy, "unknown.test:443");
    assert!(unknown.starts_with("HTTP/1.1 502 "), "{unknown}");
    assert!(
        unknown.contains("X-Codex-Launcher-Refusal: unresolvable"),
        "{unknown}"
    );
}

#[test]
fn an_explicit_loopback_endpoint_opens_that_port_and_nothing_else() {
    let echo = Server::echo();
    let other = Server::tripwire("127.0.0.1:0").unwrap();
    let (p, q) = (echo.addr.port(), other.addr.port());
    let resolver = RecordingResolver::default().with("localhost", &["127.0.0.1"]);
    let proxy = Proxy::start(policy(&[], &[], &[&format!("127.0.0.1:{p}")]), resolver);
    for spelling in ["127.0.0.1", "127.1", "2130706433"] {
        let stream = TcpStream::connect(proxy.handle.addr).unwrap();
        connect(stream, &format!("{spelling}:{p}")).unwrap_or_else(|a| panic!("{spelling}: {a}"));
    }
    let answer = connect_answer(&proxy, &format!("127.0.0.1:{q}"));
    assert!(
        answer.contains(&format!("--allow-endpoint 127.0.0.1:{q}")),
        "{answer}"
    );
    for authority in [
        format!("127.0.0.2:{p}"),
        format!("[::1]:{p}"),
        format!("localhost:{p}"),
    ] {
        let answer = connect_answer(&proxy, &authority);
        assert!(answer.starts_with("HTTP/1.1 403 "), "{authority}: {answer}");
    }
    assert_eq!(other.hits(), 0);
    assert!(proxy.resolver.asked().is_empty(), "localhost was resolved");
}

#[test]
fn malformed_hosts_and_non_proxy_requests_are_refused_without_lookups() {
    let proxy = Proxy::start(policy(&["**.test"], &[], &[]), RecordingResolver::default());
    for authority in [
        "1.2.3.256:443",
        "a..test:443",
        "exa%6dple.test:443",
        "[fe80::1%25lo]:443",
    ] {
        let answer = connect_answer(&proxy, authority);
        assert!(
            answer.contains("X-Codex-Launcher-Refusal: invalid-host"),
            "{authority}: {answer}"
        );
    }
    for request in [
        "GET /origin-form HTTP/1.1\r\nHost: a.test\r\n\r\n",
        "GET https://a.test/ HTTP/1.1\r\n\r\n",
        "GET http://a.test@b.test/ HTTP/1.1\r\n\r\n",
        "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
        "CONNECT a.test HTTP/1.1\r\n\r\n",
    ] {
        let answer = proxy.exchange(request);
        assert!(
            answer.starts_with("HTTP/1.1 400 ") || answer.starts_with("HTTP/1.1 403 "),
            "{request:?}: {answer}"
        );
    }
    assert!(
        proxy.resolver.asked().is_empty(),
        "asked {:?}",
        proxy.resolver.asked()
    );
}

#[test]
fn a_pipelined_request_for_another_host_never_reaches_it() {
    let origin = Server::http();
    let tripwire = Server::tripwire("127.0.0.1:0").unwrap();
    let resolver = RecordingResolver::default().with("allowed.test", &["127.0.0.1"]);
    let proxy = Proxy::start(
        policy(&["allowed.test"], &[], &[&origin.addr.to_string()]),
        resolver,
    );
    let (p, q) = (origin.addr.port(), tripwire.addr.port());
    let answer = proxy.exchange(&format!(
        "GET http://allowed.test:{p}/first HTTP/1.1\r\nHost: allowed.test\r\n\r\n\
         GET http://127.0.0.1:{q}/second HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    ));
    assert!(answer.starts_with("HTTP/1.1 200 OK"), "{answer}");
    assert_eq!(
        tripwire.hits(),
        0,
        "the second request was routed by its own URL"
    );
}
