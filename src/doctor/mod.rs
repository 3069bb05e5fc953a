//! `codex-launcher doctor`: every problem a real run would hit here, and the remedy for the
//! runtime we are in. It probes afresh and compares with the cache a launch reads (which can be
//! stale), tries bubblewrap for real when user namespaces work, and checks the directories a run
//! writes.
//! Classification is pure (`classify`); the effects are here and in `trial` and `state_dirs`.

mod bwrap_text;
pub mod classify;
pub mod remedy;
pub mod seccomp_profile;
pub mod state_dirs;
pub mod trial;

#[cfg(test)]
mod classify_tests;

use std::path::{Path, PathBuf};

use crate::cli::DoctorArgs;
use crate::exit::{Failure, Outcome};
use crate::probe::host;

pub use classify::{Finding, Severity};
pub use remedy::apparmor_profile;

/// The one-word summary: `fails` when any finding does, `degraded` when runs work with less
/// isolation than this host could give, `ok` otherwise.
pub fn verdict(findings: &[Finding]) -> &'static str {
    match findings.iter().map(|f| f.severity).min() {
        Some(Severity::Fails) => "fails",
        Some(Severity::Weakens) => "degraded",
        _ => "ok",
    }
}

pub fn run(args: DoctorArgs) -> Outcome {
    if let Some(path) = &args.seccomp_profile {
        return print_seccomp_profile(path);
    }
    let binary = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map(|p| p.display().to_string())
        .map_err(|e| Failure::refused(format!("cannot locate this executable: {e}")))?;
    let facts = gather(binary);
    let findings = classify::classify(&facts, args.bwrap_stderr.as_deref());
    let usable = facts.host.userns.available || facts.host.landlock.is_ok();
    let verdict = verdict(&findings);
    if args.json {
        let report = serde_json::json!({
            "schema_version": crate::json_schema::SCHEMA_VERSION,
            "verdict": verdict,
            "sandbox_available": usable,
            "user_namespaces": facts.host.userns.available,
            "landlock_abi": facts.host.landlock.as_ref().ok(),
            "runtime": facts.runtime,
            "findings": findings,
            "bwrap_trial": facts.trial,
            "dirs": facts.dirs,
            "host": facts.host,
        });
        println!(
            "{}",
            serde_json::to_string_pretty(&report).expect("report serialises")
        );
    } else {
        print_text(&facts, &findings, verdict);
    }
    Ok(if verdict == "fails" { 1 } else { 0 })
}

fn gather(binary: String) -> classify::Facts {
    let env = |k: &str| std::env::var_os(k).filter(|v| !v.is_empty());
    use crate::probe::cache::CacheDir;
    let cache = CacheDir::for_launch(&[]);
    let (needed, unresolved) = state_dirs::needed(env, cache.path());
    // What a launch would see (through the cache), then the truth.
    let cached_userns = host::probe(&cache).userns;
    let host = host::probe(&CacheDir::disabled());
    let runtime = remedy::Runtime::from_markers(
        env("KUBERNETES_SERVICE_HOST").is_some(),
        Path::new("/run/.containerenv").exists(),
        Path::new("/.dockerenv").exists(),
        env("container").as_deref().and_then(|v| v.to_str()),
    );
    let workspace = env("CODEX_RUN_CWD")
        .map(PathBuf::from)
        .or_else(|| std::env::current_dir().ok());
    let mut task_writable: Vec<PathBuf> = workspace.into_iter().collect();
    if let Some(roots) = env("CODEX_RUN_WRITABLE_ROOTS") {
        task_writable.extend(std::env::split_paths(&roots).filter(|p| p.is_absolute()));
    }
    let launcher = {
        let cwd = task_writable
            .first()
            .map_or(Path::new("/"), |p| p.as_path());
        crate::probe::bwrap::system_bwrap(cwd, &task_writable, &CacheDir::disabled())
            .unwrap_or(crate::probe::bwrap::Launcher::Vendored)
    };
    // Only when the ladder would pick bubblewrap: otherwise the user-namespace findings say why not.
    let trial = host.userns.available.then(|| trial::run(&launcher));
    // The /proc verdict a launch with the network off would use (cached), and a fresh one.
    let proc_verdict = || crate::probe::proc_mount::proc_mount_allowed(&launcher, true, &cache);
    let cached_proc_allowed = (host.userns.available && cached_userns.available).then(proc_verdict);
    let fresh_proc_allowed = host.userns.available.then(|| uncached(proc_verdict));
    classify::Facts {
        cached_userns: Some(cached_userns),
        cached_proc_allowed,
        fresh_proc_allowed,
        effective_caps: effective_caps(),
        runtime,
        trial,
        dirs: needed.into_iter().map(state_dirs::check).collect(),
        unresolved,
        task_writable,
        home: env("HOME").map(PathBuf::from).filter(|p| p.is_absolute()),
        binary,
        host,
    }
}

/// Runs `f` with the probe cache out of its reach (no `XDG_CACHE_HOME`, no `HOME`), so it probes
/// the host afresh: the cache can be stale, and doctor has to see past it. Doctor is
/// single-threaded, so changing its own environment for the call affects nothing else.
fn uncached<T>(f: impl FnOnce() -> T) -> T {
    let saved = ["XDG_CACHE_HOME", "HOME"].map(|k| (k, std::env::var_os(k)));
    for (k, _) in &saved {
        std::env::remove_var(k);
    }
    let out = f();
    for (k, v) in saved {
        if let Some(v) = v {
            std::env::set_var(k, v);
        }
    }
    out
}

/// `CapEff` from /proc/self/status.
fn effective_caps() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let hex = status.lines().find_map(|l| l.strip_prefix("CapEff:"))?;
    u64::from_str_radix(hex.trim(), 16).ok()
}

fn print_text(facts: &classify::Facts, findings: &[Finding], verdict: &str) {
    let host = &facts.host;
    println!("kernel {} ({}), uid {}", host.kernel, host.os, host.uid);
    println!("user namespaces: {}", host.userns.reason());
    match &host.landlock {
        Ok(abi) => println!("landlock: ABI {abi}"),
        Err(e) => println!("landlock: unavailable: {e}"),
    }
    if let Some(c) = &host.container {
        println!("container: {c}");
    }
    if let Some(t) = &facts.trial {
        let said = |a: &trial::Attempt| {
            if a.ok {
                "works".to_string()
            } else {
                format!("fails: {}", a.stderr)
            }
        };
        println!("bubblewrap trial ({}): {}", t.bwrap, said(&t.setup));
        if let Some(p) = &t.proc {
            println!("bubblewrap with a fresh /proc: {}", said(p));
        }
    }
    for f in findings {
        let severity = match f.severity {
            Severity::Fails => "runs fail",
            Severity::Weakens => "weaker sandbox",
            Severity::Info => "note",
        };
        println!(
            "\ncause: {} ({severity})\n  {}\nremedy:\n  {}",
            f.cause,
            f.detail,
            f.remedy.replace('\n', "\n  ")
        );
    }
    match verdict {
        "ok" if findings.is_empty() => {
            println!("\nno problems found: runs here get the full sandbox")
        }
        "ok" => println!("\nverdict: ok (notes only)"),
        "degraded" => println!("\nverdict: degraded: runs work, with the gaps above"),
        _ => println!("\nverdict: fails: runs here fail until the problems above are fixed"),
    }
}

/// `--seccomp-profile FILE`: the profile with bubblewrap's calls allowed, on stdout.
fn print_seccomp_profile(path: &Path) -> Outcome {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Failure::refused(format!("{}: {e}", path.display())))?;
    let profile: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| Failure::refused(format!("{}: invalid JSON: {e}", path.display())))?;
    let patched = seccomp_profile::allow_bwrap(profile)
        .map_err(|e| Failure::refused(format!("{}: {e}", path.display())))?;
    println!(
        "{}",
        serde_json::to_string_pretty(&patched).expect("profile serialises")
    );
    Ok(0)
}
