//! Benchmark (issue 16 acceptance 5): 200 HTTPS requests through a CONNECT tunnel of the egress
//! proxy against 200 direct ones, to a local TLS server. Ignored by default; run it with
//! `scripts/bench-proxy.sh` (needs python3 and openssl). Everything stays on 127.0.0.1.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;

use codex_launcher::netproxy::{self, NetPolicy, ProxyConfig, StaticResolver};

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn helper() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("scripts/bench_proxy_tls.py")
}

#[test]
#[ignore = "benchmark: run scripts/bench-proxy.sh"]
fn https_connect_through_the_proxy_vs_direct() {
    let n: usize = std::env::var("BENCH_CONNECTIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);
    let dir = tempfile::tempdir().unwrap();
    let (cert, key) = (dir.path().join("cert.pem"), dir.path().join("key.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
            "-nodes",
            "-days",
            "1",
        ])
        .args([
            "-subj",
            "/CN=bench.test",
            "-addext",
            "subjectAltName=DNS:bench.test",
        ])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .stderr(Stdio::null())
        .status()
        .expect("run openssl");
    assert!(made.success(), "openssl could not make a certificate");

    let mut server = KillOnDrop(
        Command::new("python3")
            .arg(helper())
            .arg("server")
            .args([&cert, &key])
            .stdout(Stdio::piped())
            .spawn()
            .expect("run python3"),
    );
    let mut line = String::new();
    BufReader::new(server.0.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let port: u16 = line.trim().parse().expect("server prints its port");

    // The benchmark name reaches the loopback server only through an explicit endpoint.
    let mut policy = NetPolicy::new();
    policy.allow("bench.test").unwrap();
    policy.allow_endpoint(&format!("127.0.0.1:{port}")).unwrap();
    let mut config = ProxyConfig::new(policy);
    config.resolver =
        Arc::new(StaticResolver::new().with("bench.test", &["127.0.0.1".parse().unwrap()]));
    let proxy = netproxy::start(config).unwrap();

    let out = Command::new("python3")
        .arg(helper())
        .arg("client")
        .arg(&cert)
        .arg(port.to_string())
        .arg(proxy.addr.to_string())
        .arg(n.to_string())
        .output()
        .expect("run python3 client");
    assert!(
        out.status.success(),
        "client failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let result: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let (direct, via, ratio) = (
        result["direct_s"].as_f64().unwrap(),
        result["proxy_s"].as_f64().unwrap(),
        result["ratio"].as_f64().unwrap(),
    );
    println!(
        "{n} HTTPS requests to a local TLS server: direct {:.1} ms ({:.2} ms each), through the proxy {:.1} ms ({:.2} ms each); ratio proxy/direct = {ratio:.2}",
        direct * 1e3,
        direct * 1e3 / n as f64,
        via * 1e3,
        via * 1e3 / n as f64,
    );
}
