//! Every path the launcher writes during a launch is a site some attack test plants at, or lies
//! outside every writable root. The sites come from `strace -ff` of real launches (codex-run, a
//! second codex-run with changed shared files, the helper, a lock export; the first one also
//! refreshes an expired ChatGPT login), as root and uid 65534 on every backend, so a new write
//! site fails this test until an attack test covers it.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use common::scene::*;
use common::write_sites::*;
use common::*;

/// The directories a launch of this scene makes writable (codex-run's superset of the helper's).
fn writable_roots(s: &Scene) -> Vec<PathBuf> {
    vec![
        s.ws.clone(),
        s.tmp.clone(),
        PathBuf::from("/tmp"),
        s.home.clone(),
    ]
}

#[test]
fn every_write_site_of_a_launch_is_covered_by_an_attack_test() {
    if std::process::Command::new("strace")
        .arg("-V")
        .output()
        .is_err()
    {
        return skip("strace is not installed");
    }
    let mut observed = BTreeSet::new();
    let mut uncovered = BTreeSet::new();
    for variant in Variant::all() {
        let s = Scene::new(variant);
        // An expired ChatGPT login, so the first launch also refreshes and saves it.
        let tokens = common::token_server::start();
        let login = s.base.join("login.json");
        std::fs::write(&login, tokens.expired_login()).unwrap();
        std::fs::set_permissions(&login, std::os::unix::fs::PermissionsExt::from_mode(0o644))
            .unwrap();
        s.host_shell(&format!(
            "cd '{}' && echo '{{}}' > config.json && echo i > instructions.md && echo agents > AGENTS.md && mkdir -p rules skills/s && echo r > rules/a.rules && echo s > skills/s/SKILL.md && cp '{}' auth.json && chmod 600 auth.json",
            s.shared.display(),
            login.display()
        ));
        let export = s.ws.join("lock-export");
        let mut launches = Vec::new();
        for step in 0..2 {
            std::fs::write(
                s.shared.join("config.toml"),
                format!("model = \"m{step}\"\n"),
            )
            .unwrap();
            // The first run leaves a transcript, which the launcher copies to the shared tree.
            let script = if step == 0 {
                "D=\"$CODEX_HOME/sessions/2030/01/01\"; mkdir -p \"$D\" && echo '{}' > \"$D/rollout-x.jsonl\""
            } else {
                "true"
            };
            launches.push(s.codex_run_cmd(&[], script));
        }
        launches.push(s.helper_cmd("true"));
        launches.push(s.codex_run_cmd(&["--lock-export", export.to_str().unwrap()], "true"));
        for mut cmd in launches {
            cmd.env("CODEX_REFRESH_TOKEN_URL_OVERRIDE", tokens.url());
            let (out, sites) = trace(&s, &variant.wrap(&cmd));
            assert_eq!(out.status.code(), Some(0), "{variant:?}: {}", stderr(&out));
            for (site, raw) in sites {
                match covering(&site) {
                    None => {
                        uncovered.insert(format!(
                            "{} {}   ({})",
                            site.call,
                            site.path,
                            raw.display()
                        ));
                    }
                    Some((_, _, by)) if *by == OUTSIDE => {
                        let dir = raw.parent().unwrap_or(Path::new("/"));
                        let roots = writable_roots(&s);
                        let exposed = roots.iter().find(|w| dir.starts_with(w));
                        assert!(
                            exposed.is_none(),
                            "{} is listed as outside every writable root, but {} is writable",
                            raw.display(),
                            exposed.unwrap().display()
                        );
                    }
                    Some(_) => {}
                }
                observed.insert(site);
            }
        }
        assert_eq!(
            tokens.refreshes().len(),
            1,
            "{variant:?}: the login was not refreshed"
        );
    }
    assert!(
        uncovered.is_empty(),
        "write sites no attack test covers (plant at them in a tests/attack_*.rs file and list them in tests/common/write_sites.rs):\n{}",
        uncovered.into_iter().collect::<Vec<_>>().join("\n")
    );
    // Every answer names a test that exists.
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    for (_, _, by) in COVERED {
        let found = *by == OUTSIDE
            || root.join(format!("tests/{by}.rs")).is_file()
            || root.join(format!("src/{by}.rs")).is_file();
        assert!(found, "{by}: no such test file");
    }
    // The trace saw the launches at all: the sites every one of them has.
    for must in [
        "{home}/config.toml",
        "{state}/codex-launcher/locks/{hash}.lock",
        "{tmp}/codex-bwrap-synthetic-mount-targets-{uid}/lock",
    ] {
        assert!(
            observed.iter().any(|s| s.path == must),
            "{must} was never written"
        );
    }
    for must in [
        "{shared}/sessions/{pid}/{pid}/{pid}/rollout-x.jsonl",
        "{state}/codex-launcher/locks/*.sessions",
    ] {
        assert!(
            observed.iter().any(|s| glob(must, &s.path)),
            "{must} was never written: the transcript was not copied"
        );
    }
    eprintln!("{} distinct write sites, all covered", observed.len());
}

#[test]
fn the_site_patterns_match_as_meant() {
    assert!(glob("{home}/*.config.toml", "{home}/x.config.toml"));
    assert!(!glob("{home}/*.config.toml", "{home}/a/x.config.toml"));
    assert!(glob("*", "renameat"));
    assert!(!glob(
        "{home}/.codex-launcher-tmp-*",
        "{home}/.codex-launcher-tmp-*/a"
    ));
}
