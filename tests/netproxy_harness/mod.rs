//! Shared pieces for the egress proxy tests: loopback servers that count who reached them, a
//! resolver that records what it was asked, and raw HTTP/1 clients. Every server and every
//! address dialled here is on loopback.
#![allow(dead_code)]

use std::io::{Read, Write};
use std::net::{IpAddr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use codex_launcher::netproxy::{self, NetPolicy, ProxyConfig, ProxyHandle, Resolver};

/// A loopback TCP server that counts connections and runs `reply` on each.
pub struct Server {
    pub addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

impl Server {
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// Echoes every byte back until the client half-closes.
    pub fn echo() -> Server {
        Server::spawn("127.0.0.1:0", |mut s| {
            let mut buf = [0u8; 4096];
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 || s.write_all(&buf[..n]).is_err() {
                    break;
                }
            }
        })
    }

    /// Answers one HTTP request with 200 and a body that repeats the request head it received.
    pub fn http() -> Server {
        Server::spawn("127.0.0.1:0", |mut s| {
            let head = read_until_blank_line(&mut s);
            let body = format!("origin saw:\n{head}");
            let _ = write!(
                s,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        })
    }

    /// Counts connections and closes them: for "was this ever dialled?".
    pub fn tripwire(bind: &str) -> Option<Server> {
        TcpListener::bind(bind).ok()?;
        Some(Server::spawn(bind, |_| {}))
    }

    fn spawn(bind: &str, reply: impl Fn(TcpStream) + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind(bind).expect("bind loopback test server");
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&hits);
        let reply = Arc::new(reply);
        thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                counter.fetch_add(1, Ordering::SeqCst);
                let reply = Arc::clone(&reply);
                thread::spawn(move || reply(stream));
            }
        });
        Server { addr, hits }
    }
}

fn read_until_blank_line(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Answers from a table and records every name it was asked about.
#[derive(Default)]
pub struct RecordingResolver {
    pub table: Vec<(String, Vec<IpAddr>)>,
    pub asked: Mutex<Vec<String>>,
}

impl RecordingResolver {
    pub fn with(mut self, name: &str, addrs: &[&str]) -> RecordingResolver {
        let addrs = addrs.iter().map(|a| a.parse().unwrap()).collect();
        self.table.push((name.to_string(), addrs));
        self
    }

    pub fn asked(&self) -> Vec<String> {
        self.asked.lock().unwrap().clone()
    }
}

impl Resolver for RecordingResolver {
    fn resolve(&self, name: &str) -> std::io::Result<Vec<IpAddr>> {
        self.asked.lock().unwrap().push(name.to_string());
        self.table
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, a)| a.clone())
            .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such name"))
    }
}

/// A running proxy with its log file and the resolver it uses.
pub struct Proxy {
    pub handle: ProxyHandle,
    pub resolver: Arc<RecordingResolver>,
    pub log: PathBuf,
    pub dir: tempfile::TempDir,
}

impl Proxy {
    pub fn start(policy: NetPolicy, resolver: RecordingResolver) -> Proxy {
        Proxy::start_with(policy, resolver, |_| {})
    }

    pub fn start_with(
        policy: NetPolicy,
        resolver: RecordingResolver,
        tweak: impl FnOnce(&mut ProxyConfig),
    ) -> Proxy {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("proxy.log");
        let resolver = Arc::new(resolver);
        let mut config = ProxyConfig::new(policy);
        config.resolver = resolver.clone();
        config.log_path = Some(log.clone());
        tweak(&mut config);
        let handle = netproxy::start(config).expect("start proxy");
        Proxy {
            handle,
            resolver,
            log,
            dir,
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Sends `request` raw, half-closes, and returns everything the proxy sent back.
    pub fn exchange(&self, request: &str) -> String {
        exchange(self.handle.addr, request)
    }
}

pub fn exchange(addr: SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    s.write_all(request.as_bytes()).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    let _ = s.shutdown(Shutdown::Both);
    String::from_utf8_lossy(&out).into_owned()
}

/// Opens a CONNECT tunnel and returns the stream after the proxy's answer head, or the answer.
pub fn connect<S: Read + Write>(mut s: S, authority: &str) -> Result<S, String> {
    write!(
        s,
        "CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n\r\n"
    )
    .unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(1) => head.push(byte[0]),
            _ => break,
        }
    }
    let head = String::from_utf8_lossy(&head).into_owned();
    if head.starts_with("HTTP/1.1 200 ") {
        return Ok(s);
    }
    let mut rest = String::new();
    let _ = s.read_to_string(&mut rest);
    Err(head + &rest)
}

/// Round-trips `payload` through an established echo tunnel.
pub fn echo_through<S: Read + Write>(s: &mut S, payload: &[u8]) -> Vec<u8> {
    s.write_all(payload).unwrap();
    let mut got = vec![0u8; payload.len()];
    s.read_exact(&mut got).unwrap();
    got
}

pub fn policy(allow: &[&str], deny: &[&str], endpoints: &[&str]) -> NetPolicy {
    let mut p = NetPolicy::new();
    for r in allow {
        p.allow(r).unwrap();
    }
    for r in deny {
        p.deny(r).unwrap();
    }
    for r in endpoints {
        p.allow_endpoint(r).unwrap();
    }
    p
}
