//! Issue 16 acceptance 2 (and issue 15 acceptance 4's network part): real Codex 0.169 and 0.171
//! under `codex-run`, default `--network filtered`, against the local mock of the model API on
//! 127.0.0.1 (reached through the proxy, the provider's `base_url` being its only endpoint),
//! completes a turn; the command the mock asks for reaches the allowed domain and is refused a
//! domain nobody allowed. On the system and built-in bubblewrap and on Landlock; the host's
//! listener records what arrived.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::homes::homes;
use common::net::{HostServers, HELLO};
use common::*;

fn codexes() -> Vec<(&'static str, PathBuf)> {
    let mut out = Vec::new();
    for (version, var) in [
        ("0.169.0", "CODEX_REFERENCE_BIN"),
        ("0.171.0", "CODEX_REFERENCE_BIN_0171"),
    ] {
        match std::env::var_os(var) {
            Some(bin) => out.push((version, PathBuf::from(bin))),
            None => skip(&format!("{var} is not set")),
        }
    }
    out
}

#[test]
fn real_codex_reaches_its_provider_and_its_command_only_the_allowed_domain() {
    for (version, codex) in codexes() {
        for backend in ["auto", "bwrap-vendored", "landlock"] {
            let h = homes();
            let servers = HostServers::start(&h.s.base);
            let port = servers.tcp4;
            let mock = mock_model::start(&format!(
                "curl -sS -m 10 http://allowed.test:{port}/from-tool > allowed.out 2>&1; \
                 curl -sS -m 10 http://denied.test/ > denied.out 2>&1; true"
            ));
            h.write_shared("config.toml", mock.provider_config());
            let endpoint = format!("127.0.0.1:{port}");
            let mut cmd = Command::new(bin());
            cmd.current_dir(&h.s.ws)
                .env("XDG_CACHE_HOME", &h.s.cache)
                .env("XDG_STATE_HOME", h.home.parent().unwrap())
                .args(["run", "--backend", backend, "--codex-version", version])
                .args(["--allow-domain", "allowed.test"])
                .args(["--net-resolve", "allowed.test=127.0.0.1"])
                .args(["--allow-endpoint", &endpoint])
                .arg("--shared-home")
                .arg(&h.shared)
                .arg("--home")
                .arg(&h.home)
                .arg("--")
                .arg(&codex)
                .args(["exec", "--skip-git-repo-check", "go"])
                .stdin(std::process::Stdio::null());
            let out = output_within(&mut cmd, std::time::Duration::from_secs(90));
            let (o, e) = (stdout(&out), stderr(&out));
            let read = |name: &str| std::fs::read_to_string(h.s.ws.join(name)).unwrap_or_default();
            let context = format!(
                "{version} {backend}\nallowed.out: {}\ndenied.out: {}\n{e}",
                read("allowed.out"),
                read("denied.out")
            );
            assert_eq!(out.status.code(), Some(0), "{context}");
            assert!(o.contains(mock_model::FINAL_MESSAGE), "{context}");
            assert!(mock.requests().len() >= 2, "{context}");
            assert!(read("allowed.out").contains(HELLO), "{context}");
            assert!(
                servers
                    .hits()
                    .iter()
                    .any(|h| h.starts_with("tcp4 GET /from-tool")),
                "{context}"
            );
            assert!(
                read("denied.out").contains("refused denied.test:80"),
                "{context}"
            );
        }
    }
}
