//! Issue 16, unix sockets: `--allow-unix-socket PATH` (and `CODEX_RUN_ALLOW_UNIX_SOCKETS`) makes
//! exactly that host socket reachable where it can be enforced precisely, and is refused with one
//! line naming it where it cannot. On Linux neither bubblewrap nor Landlock can let one socket
//! through without letting the command create unix sockets, which reach every host socket it can
//! see (Landlock limits pathname sockets only from ABI 9), so the flag is refused before anything
//! runs, on every backend and uid; nothing reaches the host socket. macOS's Seatbelt names the one
//! socket in the profile (checked through `explain --platform macos`).

mod common;

use common::net::HostServers;
use common::scene::{Scene, Variant};
use common::*;

/// Connects to `path` and says so; also leaves a mark in the workspace, so a run is visible.
fn connect_script(path: &std::path::Path) -> String {
    format!(
        r#"touch ran-marker; python3 -c '
import socket
s = socket.socket(socket.AF_UNIX)
try:
    s.connect("{}")
    print("unix ok", s.recv(64))
except Exception as e:
    print("unix fail:" + repr(e))
'"#,
        path.display()
    )
}

#[test]
fn an_allowed_unix_socket_is_refused_on_linux_before_anything_runs() {
    for variant in Variant::all() {
        let scene = Scene::new(variant);
        let servers = HostServers::start(&scene.outside);
        let socket = servers.unix_path.to_str().unwrap().to_string();
        let script = connect_script(&servers.unix_path);
        for network in ["filtered", "off"] {
            let out = output(&mut variant.wrap(&scene.codex_run_cmd(
                &["--network", network, "--allow-unix-socket", &socket],
                &script,
            )));
            let err = stderr(&out);
            assert_eq!(out.status.code(), Some(125), "{variant:?} {network}: {err}");
            assert_eq!(err.lines().count(), 1, "{variant:?} {network}: {err}");
            assert!(
                err.contains(&format!(
                    "--allow-unix-socket {socket}: cannot be enforced on Linux"
                )),
                "{variant:?} {network}: {err}"
            );
            assert!(
                !scene.ws.join("ran-marker").exists(),
                "{variant:?} {network}: the command ran"
            );
            assert_eq!(
                servers.hits(),
                Vec::<String>::new(),
                "{variant:?} {network}"
            );
        }
        // Control: with the network on every host socket is reachable anyway, and the flag
        // changes nothing.
        let out = output(&mut variant.wrap(&scene.codex_run_cmd(
            &["--network", "on", "--allow-unix-socket", &socket],
            &script,
        )));
        assert_eq!(out.status.code(), Some(0), "{variant:?}: {}", stderr(&out));
        assert!(
            stdout(&out).contains("unix ok"),
            "{variant:?}: {}",
            stdout(&out)
        );
        assert_eq!(servers.hits(), ["unix"], "{variant:?}");
    }
}

#[test]
fn the_entrypoint_variable_is_refused_the_same_way() {
    let scene = Scene::new(Variant::all()[0]);
    let servers = HostServers::start(&scene.outside);
    let mut cmd = scene.launcher("codex-entrypoint");
    for (k, _) in std::env::vars() {
        if k.starts_with("CODEX_RUN_") {
            cmd.env_remove(k);
        }
    }
    cmd.env("CODEX_RUN_SHARED_HOME", &scene.shared)
        .env("CODEX_RUN_HOME", &scene.home)
        .env(
            "CODEX_RUN_ALLOW_UNIX_SOCKETS",
            format!("{}:", servers.unix_path.display()),
        )
        .args(["--", "/bin/sh", "-c", &connect_script(&servers.unix_path)]);
    let out = output(&mut scene.variant.wrap(&cmd));
    let err = stderr(&out);
    assert_eq!(out.status.code(), Some(125), "{err}");
    assert!(
        err.contains(&format!(
            "--allow-unix-socket {}: cannot be enforced on Linux",
            servers.unix_path.display()
        )),
        "{err}"
    );
    assert!(!scene.ws.join("ran-marker").exists());
    assert_eq!(servers.hits(), Vec::<String>::new());
}

#[test]
fn seatbelt_lets_the_command_connect_to_exactly_the_named_socket() {
    let s = setup();
    let explain = |flags: &[&str]| -> serde_json::Value {
        let out = output(
            std::process::Command::new(bin())
                .current_dir(&s.ws)
                .env("XDG_CACHE_HOME", &s.cache)
                .env_remove("CODEX_LAUNCHER_BACKEND")
                .env_remove("CODEX_SANDBOX")
                .args(["explain", "--platform", "macos", "--json"])
                .args(flags)
                .args(["--", "true"]),
        );
        assert_eq!(out.status.code(), Some(0), "{flags:?}: {}", stderr(&out));
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let unix_lines = |plan: &serde_json::Value| -> Vec<String> {
        plan["plan"]["profile"]
            .as_str()
            .unwrap()
            .lines()
            .filter(|l| l.contains("unix-socket") || l.contains("AF_UNIX"))
            .map(str::to_string)
            .collect()
    };
    let sock = "/var/run/agent-test.sock";
    for network in ["filtered", "off", "on"] {
        let plan = explain(&["--network", network, "--allow-unix-socket", sock]);
        assert_eq!(
            unix_lines(&plan),
            [
                "(allow system-socket (socket-domain AF_UNIX))",
                "(allow network-outbound (remote unix-socket (path-literal (param \"UNIX_SOCKET_PATH_0\"))))",
            ],
            "{network}"
        );
        let params = plan["plan"]["params"].as_array().unwrap();
        let socket_params: Vec<&serde_json::Value> = params
            .iter()
            .filter(|p| p["key"].as_str().unwrap().starts_with("UNIX_SOCKET_PATH"))
            .collect();
        assert_eq!(socket_params.len(), 1, "{network}: {params:?}");
        // Planned on Linux, the path is the one given (on a Mac /var would resolve to /private/var).
        assert_eq!(socket_params[0]["value"], sock, "{network}");
        if network == "on" {
            continue;
        }
        // Without the flag, no unix socket at all.
        assert_eq!(
            unix_lines(&explain(&["--network", network])),
            Vec::<String>::new()
        );
    }
}

#[test]
fn a_socket_path_with_dot_dot_is_refused() {
    // Read lexically, `link/../x.sock` is another socket than the one the kernel reaches.
    let s = setup();
    for path in ["/tmp/link/../agent.sock", "sub/../agent.sock"] {
        let out = output(
            std::process::Command::new(bin())
                .current_dir(&s.ws)
                .env("XDG_CACHE_HOME", &s.cache)
                .args([
                    "explain",
                    "--platform",
                    "macos",
                    "--allow-unix-socket",
                    path,
                ])
                .args(["--", "true"]),
        );
        let err = stderr(&out);
        assert_eq!(out.status.code(), Some(2), "{path}: {err}");
        assert_eq!(err.lines().count(), 1, "{path}: {err}");
        assert!(
            err.contains(&format!("--allow-unix-socket {path}: ")),
            "{path}: {err}"
        );
    }
}
