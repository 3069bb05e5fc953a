//! Issue 16: `explain` shows the proxy, the allowlist (the model provider's destinations read
//! from the per-task config, then the user's) and how the backend enforces it; `--network on`
//! says it is unrestricted; `--require-full-isolation` refuses where a gap remains; the egress
//! flags are refused, with one line naming them, where they would mean nothing.

mod common;

use std::process::{Command, Output};

use common::*;

struct Explain {
    s: Setup,
    home: std::path::PathBuf,
}

impl Explain {
    fn new(config: &str) -> Explain {
        let s = setup();
        let home = s.base.join("home");
        std::fs::create_dir_all(home.join(".codex")).unwrap();
        std::fs::write(home.join(".codex/config.toml"), config).unwrap();
        Explain { s, home }
    }

    fn run(&self, args: &[&str]) -> Output {
        output(
            Command::new(bin())
                .current_dir(&self.s.ws)
                .env("HOME", &self.home)
                .env_remove("XDG_STATE_HOME")
                .env("XDG_CACHE_HOME", &self.s.cache)
                .env_remove("CODEX_HOME")
                .env_remove("CODEX_LAUNCHER_BACKEND")
                .arg("explain")
                .args(args)
                .args(["--", "true"]),
        )
    }
}

#[test]
fn explain_shows_the_proxy_allowlist_and_enforcement() {
    let e = Explain::new("model = \"gpt-5\"\n");
    for (backend, how) in [
        ("bwrap-vendored", "own network namespace"),
        (
            "landlock",
            "Landlock lets TCP connect only to the proxy's port",
        ),
    ] {
        let out = e.run(&["--backend", backend, "--allow-domain", "*.example.com"]);
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(0), "{backend}: {}", stderr(&out));
        assert!(
            text.contains("network: only through the launcher's proxy"),
            "{text}"
        );
        assert!(text.contains(how), "{backend}: {text}");
        for allowed in [
            "allowed: api.openai.com:443 (model provider)",
            "allowed: chatgpt.com:443 (model provider)",
            "allowed: auth.openai.com:443 (model provider)",
            "allowed: *.example.com (--allow-domain)",
        ] {
            assert!(
                text.contains(allowed),
                "{backend}: {allowed} missing from {text}"
            );
        }
        assert!(text.contains("codex-launcher/net/proxy.log"), "{text}");
        // Destinations allowed: the commands Codex runs get the network (only the proxy).
        let json: serde_json::Value = serde_json::from_slice(
            &e.run(&["--backend", backend, "--allow-domain", "a.test", "--json"])
                .stdout,
        )
        .unwrap();
        assert_eq!(
            json["egress"]["allow"][3], "a.test (--allow-domain)",
            "{json}"
        );
        if backend == "bwrap-vendored" {
            assert_eq!(json["inner"]["sandbox"]["network_access"], true, "{json}");
        }
    }
    // Without destinations of their own, Codex's commands get no network.
    let json: serde_json::Value =
        serde_json::from_slice(&e.run(&["--backend", "bwrap-vendored", "--json"]).stdout).unwrap();
    assert_eq!(json["inner"]["sandbox"]["network_access"], false, "{json}");
}

#[test]
fn a_custom_provider_opens_exactly_its_host_and_port() {
    let e = Explain::new(
        "model_provider = \"local\"\n[model_providers.local]\nname = \"local\"\nbase_url = \"http://127.0.0.1:4567/v1\"\nwire_api = \"responses\"\n",
    );
    let out = e.run(&["--backend", "bwrap-vendored"]);
    let text = stdout(&out);
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    assert!(
        text.contains("allowed: 127.0.0.1:4567 (model provider endpoint)"),
        "{text}"
    );
    assert!(!text.contains("openai"), "{text}");
    let json: serde_json::Value =
        serde_json::from_slice(&e.run(&["--backend", "bwrap-vendored", "--json"]).stdout).unwrap();
    let env = json["launch"]["env_set"].as_array().unwrap();
    let no_proxy = env.iter().find(|p| p["key"] == "NO_PROXY").unwrap();
    assert_eq!(
        no_proxy["value"], "",
        "loopback must go through the proxy: {json}"
    );
}

#[test]
fn gaps_are_said_and_refused_under_full_isolation() {
    let e = Explain::new("");
    let out = e.run(&["--network", "on"]);
    assert!(
        stdout(&out).contains("network filtering (--network on)"),
        "{}",
        stdout(&out)
    );
    let out = e.run(&["--network", "on", "--require-full-isolation"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(stderr(&out).contains("--network on"), "{}", stderr(&out));
    let out = e.run(&["--backend", "landlock", "--require-full-isolation"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("TCP to another host on the proxy's port number"),
        "{}",
        stderr(&out)
    );
}

#[test]
fn egress_flags_are_refused_where_they_mean_nothing() {
    let e = Explain::new("");
    for (args, needle) in [
        (
            vec!["--network", "on", "--allow-domain", "a.test"],
            "--allow-domain needs --network filtered",
        ),
        (
            vec!["--network", "off", "--allow-endpoint", "127.0.0.1:1"],
            "--allow-endpoint needs --network filtered",
        ),
        (
            vec!["--net-resolve", "a.test=127.0.0.1"],
            "--net-resolve a.test=127.0.0.1: the name is not allowed",
        ),
        (vec!["--allow-domain", "a b"], "--allow-domain a b:"),
        (
            vec!["--allow-endpoint", "example.com"],
            "expected host:port",
        ),
    ] {
        let out = e.run(&args);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {}", stderr(&out));
        let err = stderr(&out);
        assert_eq!(err.lines().count(), 1, "{args:?}: {err}");
        assert!(err.contains(needle), "{args:?}: {err}");
    }
}

#[test]
fn explain_for_macos_shows_seatbelt_filtering_through_the_proxy() {
    let e = Explain::new("model = \"gpt-5\"\n");
    for extra in [&[][..], &["--allow-domain", "*.example.com"][..]] {
        let mut args = vec!["--platform", "macos"];
        args.extend_from_slice(extra);
        let out = e.run(&args);
        let text = stdout(&out);
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        assert!(
            text.contains("network: only through the launcher's proxy at http://127.0.0.1:<port bound at launch> (the Seatbelt profile lets TCP out only to the proxy's loopback port"),
            "{text}"
        );
        assert!(
            text.contains("allowed: chatgpt.com:443 (model provider)"),
            "{text}"
        );
        assert!(!text.contains("unrestricted"), "{text}");
        args.push("--json");
        let json: serde_json::Value = serde_json::from_slice(&e.run(&args).stdout).unwrap();
        assert_eq!(json["backend"], "seatbelt", "{json}");
        let profile = json["plan"]["profile"].as_str().unwrap();
        // Until the proxy is bound at launch, the profile lets nothing out.
        assert!(
            !profile.lines().any(|l| l.starts_with("(allow network")),
            "{profile}"
        );
        assert!(profile.contains("; only the launcher's egress proxy, once it is bound"));
        assert_eq!(
            json["egress"]["proxy"], "http://127.0.0.1:<port bound at launch>",
            "{json}"
        );
    }
    let out = e.run(&["--platform", "macos", "--require-full-isolation"]);
    assert_ne!(out.status.code(), Some(0));
    assert!(
        stderr(&out).contains("share Codex's proxy"),
        "{}",
        stderr(&out)
    );
}
