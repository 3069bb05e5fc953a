//! Class: the probe cache (issue 13 #4). With the workspace at `$HOME` the cache is inside a
//! writable root, and every key field of an entry is readable in the sandbox. A task forges "no user
//! namespaces", "no /proc" and "bwrap lacks every feature", and plants temp-name symlinks. The next
//! launch, from the same workspace or from another one, must make the plan a clean run makes (at
//! most trading the system bubblewrap for the equally strong built-in one) and write nothing outside.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::scene::*;
use common::*;

/// `codex-run` where `HOME` is the workspace and no `XDG_CACHE_HOME` is set: the cache lives in
/// `ws/.cache/codex-launcher`. The ladder picks the backend (no `--backend`).
fn run_in(s: &Scene, cwd: &Path, extra: &[&str], script: &str) -> Command {
    let mut cmd = s.launcher("codex-run");
    cmd.env("HOME", &s.ws)
        .env_remove("XDG_CACHE_HOME")
        .arg("--cwd")
        .arg(cwd)
        .arg("--shared-home")
        .arg(&s.shared)
        .arg("--home")
        .arg(&s.home)
        .args(extra)
        .args(["--", "/bin/sh", "-c", script]);
    s.variant.wrap(&cmd)
}

/// What decides the sandbox in a `--dry-run --json` plan.
fn plan(s: &Scene, cwd: &Path) -> serde_json::Value {
    let out = output(&mut run_in(s, cwd, &["--dry-run", "--json"], "true"));
    assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
    let v: serde_json::Value = serde_json::from_str(&stdout(&out)).unwrap();
    serde_json::json!({
        "backend": v["backend"],
        "argv": v["plan"]["argv"],
        "rules": v["plan"]["rules"],
        "not_enforced": v["not_enforced"],
    })
}

fn family(p: &serde_json::Value) -> String {
    let backend = p["backend"].as_str().unwrap_or("");
    backend.split('-').next().unwrap_or("").to_string()
}

fn argv_has(plan: &serde_json::Value, flag: &str) -> bool {
    plan["argv"]
        .as_array()
        .is_some_and(|a| a.iter().any(|x| x == flag))
}

/// Inside the sandbox: every cached verdict turned into its weakest form, and symlinks to the
/// victim at every temp name a store could have used (old `.<name>.<pid>` and current prefix).
fn forge(s: &Scene, rng: &mut Rng) -> String {
    let random: Vec<String> = (0..32)
        .map(|_| format!(".codex-launcher-tmp-{:016x}", rng.next()))
        .collect();
    py(&format!(
        r#"
import json, os
d = os.path.expanduser("~/.cache/codex-launcher")
os.makedirs(d, exist_ok=True)
victim = {victim:?}
def weaken(v):
    if isinstance(v, bool): return False
    if isinstance(v, dict):
        if "available" in v: v.update(available=False, failed_step="unshare", errno=1, error="forged")
        else: v = {{k: False for k in v}}
    return v
for name in os.listdir(d):
    p = os.path.join(d, name)
    if not name.endswith(".json") or os.path.islink(p): continue
    doc = json.load(open(p))
    doc["value"] = weaken(doc["value"])
    json.dump(doc, open(p, "w"))
for name in ["userns-v3.json", "proc-mount-v1.json", "bwrap-help-v1.json"]:
    for pid in range({pid}, {pid} + 400):
        try: os.symlink(victim, os.path.join(d, f".{{name}}.{{pid}}"))
        except FileExistsError: pass
for n in {random:?}:
    os.symlink(victim, os.path.join(d, n))
print(sorted(os.listdir(d))[:3])
"#,
        victim = s.victim.display().to_string(),
        pid = std::process::id(),
        random = random,
    ))
}

#[test]
fn a_forged_cache_never_yields_a_weaker_plan() {
    for variant in Variant::all() {
        if variant.backend == Backend::Vendored {
            continue; // the ladder chooses here; Auto covers this uid
        }
        let s = Scene::new(variant);
        let mut rng = Rng::from_time(&format!("{variant:?}"));
        let ws2: PathBuf = s.base.join("ws2");
        std::fs::create_dir(&ws2).unwrap();
        std::os::unix::fs::lchown(&ws2, Some(variant.uid), Some(variant.uid)).unwrap_or(());

        // A run from elsewhere creates the homes and fills the cache in $HOME/.cache with honest
        // verdicts; the clean plans are made then.
        let out = output(&mut run_in(&s, &ws2, &[], "true"));
        assert_eq!(out.status.code(), Some(0), "{}", stderr(&out));
        // The cache dir the forging task will use exists for the clean plans too: plans list
        // (and bubblewrap masks) the launcher's state wherever it lies in a writable root.
        let cache_in_ws = s.ws.join(".cache/codex-launcher");
        std::fs::create_dir_all(&cache_in_ws).unwrap();
        for dir in [s.ws.join(".cache"), cache_in_ws] {
            std::os::unix::fs::lchown(&dir, Some(variant.uid), Some(variant.uid)).unwrap_or(());
        }
        let clean_ws = plan(&s, &s.ws);
        let clean_ws2 = plan(&s, &ws2);

        // Stage 1: a task whose workspace is $HOME forges the cache. bubblewrap keeps the
        // launcher's state read-only even there (checked below); Landlock cannot, so the forging
        // stage runs on Landlock, forced, whatever the ladder would pick.
        if variant.backend != Backend::Landlock && variant.backend != Backend::NoUserns {
            let mut blocked = s.launcher("codex-run");
            blocked
                .env("HOME", &s.ws)
                .env_remove("XDG_CACHE_HOME")
                .arg("--shared-home")
                .arg(&s.shared)
                .arg("--home")
                .arg(&s.home)
                .args([
                    "--",
                    "/bin/sh",
                    "-c",
                    "touch ~/.cache/codex-launcher/planted",
                ]);
            let out = output(&mut variant.wrap(&blocked));
            assert_ne!(
                out.status.code(),
                Some(0),
                "{variant:?}: the cache was writable"
            );
            assert!(!s.ws.join(".cache/codex-launcher/planted").exists());
        }
        let mut stage1 = s.launcher("codex-run");
        stage1
            .env("HOME", &s.ws)
            .env_remove("XDG_CACHE_HOME")
            .args(["--backend", "landlock"])
            .arg("--shared-home")
            .arg(&s.shared)
            .arg("--home")
            .arg(&s.home)
            .args(["--", "/bin/sh", "-c", &forge(&s, &mut rng)]);
        let out = output(&mut variant.wrap(&stage1));
        assert_eq!(out.status.code(), Some(0), "{variant:?}: {}", stderr(&out));

        let userns_entry = s.ws.join(".cache/codex-launcher/userns-v3.json");
        let bwrap_ladder = family(&clean_ws2) == "bwrap";
        if bwrap_ladder {
            let forged = std::fs::read_to_string(&userns_entry).unwrap();
            assert!(
                forged.contains("forged"),
                "{variant:?}: the forgery did not land: {forged}"
            );
        }

        // Stage 2 from the same workspace: the cache is inside a writable root and not used.
        assert_eq!(plan(&s, &s.ws), clean_ws, "{variant:?}");
        // From another workspace the cache is read, but weak verdicts are probed again.
        let got = plan(&s, &ws2);
        assert_eq!(family(&got), family(&clean_ws2), "{variant:?}: {got:#}");
        assert_eq!(
            got["not_enforced"], clean_ws2["not_enforced"],
            "{variant:?}"
        );
        assert_eq!(got["rules"], clean_ws2["rules"], "{variant:?}");
        for flag in ["--proc", "--unshare-pid", "--unshare-net", "--unshare-user"] {
            assert_eq!(
                argv_has(&got, flag),
                argv_has(&clean_ws2, flag),
                "{variant:?} {flag}"
            );
        }
        if clean_ws2["backend"] == "bwrap-vendored" || got["backend"] == clean_ws2["backend"] {
            assert_eq!(got["argv"], clean_ws2["argv"], "{variant:?}");
        }

        if bwrap_ladder {
            let now = std::fs::read_to_string(&userns_entry).unwrap();
            assert!(
                !now.contains("forged"),
                "{variant:?}: re-probed and stored: {now}"
            );
        }

        // Real launches: a fresh /proc (few processes) where the clean plan mounts one.
        for cwd in [&s.ws, &ws2] {
            let out = output(&mut run_in(&s, cwd, &[], "ls /proc | grep -c '^[0-9]'"));
            assert_eq!(out.status.code(), Some(0), "{variant:?}: {}", stderr(&out));
            if argv_has(&clean_ws2, "--proc") {
                let n: u32 = stdout(&out).trim().parse().unwrap();
                assert!(
                    n < 10,
                    "{variant:?}: {n} processes visible: the host's /proc"
                );
            }
        }
        s.assert_outside_untouched();
    }
}
