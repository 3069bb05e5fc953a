//! Issue 16 acceptance 1: through the proxy, a domain nobody allowed gets a 403 whose body names
//! it and the flag that would allow it, and the refusal is logged where the user can read it; a
//! host loopback listener (asked through the proxy: directly it is the previous test's case) and
//! the metadata address are refused by default, and reached once
//! `--allow-endpoint` names them. Every backend, as root and as uid 65534.

mod common;

use common::net::{HostServers, HELLO};
use common::scene::{Scene, Variant};
use common::*;

#[test]
fn other_domains_loopback_and_metadata_are_refused_by_the_proxy() {
    for variant in Variant::all() {
        let scene = Scene::new(variant);
        let servers = HostServers::start(&scene.outside);
        let port = servers.tcp4;
        let script = format!(
            "curl -sS -m 10 -w ' code=%{{http_code}}\\n' http://denied.test/; \
             curl -sS -m 10 -p https://denied-tunnel.test/ 2>&1; echo tunnel=$?; \
             curl -sS -m 10 -w ' code=%{{http_code}}\\n' --noproxy '' http://127.0.0.1:{port}/loopback; \
             curl -sS -m 10 -w ' code=%{{http_code}}\\n' http://169.254.169.254/latest/meta-data/"
        );
        let out = output(&mut variant.wrap(&scene.codex_run_cmd(&[], &script)));
        let said = stdout(&out);
        assert_eq!(out.status.code(), Some(0), "{variant:?}: {}", stderr(&out));
        assert!(
            said.contains("refused denied.test:80") && said.contains("--allow-domain denied.test"),
            "{variant:?}: {said}"
        );
        assert!(said.matches("code=403").count() == 3, "{variant:?}: {said}");
        assert!(
            said.contains("403") && !said.contains("tunnel=0"),
            "{variant:?}: {said}"
        );
        assert!(!said.contains(HELLO), "{variant:?}: {said}");
        assert_eq!(servers.hits(), Vec::<String>::new(), "{variant:?}");
        let log = std::fs::read_to_string(scene.state.join("codex-launcher/net/proxy.log"))
            .unwrap_or_else(|e| panic!("{variant:?}: proxy log: {e}"));
        for name in [
            "denied.test:80",
            "denied-tunnel.test:443",
            "169.254.169.254:80",
        ] {
            assert!(log.contains(name), "{variant:?}: {name} not in log:\n{log}");
        }

        // Named by --allow-endpoint, the loopback listener is reachable.
        let endpoint = format!("127.0.0.1:{port}");
        let out = output(&mut variant.wrap(&scene.codex_run_cmd(
            &["--allow-endpoint", &endpoint],
            &format!("curl -sS -m 10 http://127.0.0.1:{port}/loopback"),
        )));
        assert!(
            stdout(&out).contains(HELLO),
            "{variant:?}: {}",
            stderr(&out)
        );
        assert!(
            servers
                .hits()
                .iter()
                .any(|h| h.starts_with("tcp4 GET /loopback")),
            "{variant:?}"
        );
    }
}
