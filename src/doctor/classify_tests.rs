//! Findings for the situations measured in real containers (tests/container_podman.rs runs the
//! same ones end to end).

use std::path::PathBuf;

use super::classify::{classify, Facts, Finding, Severity};
use super::remedy::Runtime;
use super::state_dirs::{DirCheck, Needed, Role};
use super::trial::{Attempt, Trial};
use super::verdict;
use crate::probe::host::{HostFacts, UsernsVerdict};

fn host(errno: Option<i32>, step: &str) -> HostFacts {
    HostFacts {
        os: "linux".into(),
        kernel: "6.8.0".into(),
        userns: UsernsVerdict {
            available: errno.is_none(),
            failed_step: errno.map(|_| step.into()),
            errno,
            error: errno.map(|e| format!("errno {e}")),
        },
        landlock: Ok(4),
        seccomp_mode: 0,
        no_new_privs: false,
        apparmor_restrict_userns: None,
        max_user_namespaces: Some(15000),
        unprivileged_userns_clone: None,
        uid: 1000,
        container: None,
        inside_sandbox: vec![],
    }
}

fn facts(host: HostFacts) -> Facts {
    Facts {
        host,
        runtime: Runtime::Other,
        effective_caps: Some(0),
        trial: None,
        cached_userns: None,
        cached_proc_allowed: None,
        fresh_proc_allowed: None,
        dirs: vec![dir(
            Role::TaskHome,
            "/home/codex/.local/state/codex-launcher/tasks",
            None,
        )],
        unresolved: vec![],
        task_writable: vec!["/workspace".into()],
        home: Some("/home/codex".into()),
        binary: "/bin/x".into(),
    }
}

fn dir(role: Role, path: &str, problem: Option<&str>) -> DirCheck {
    DirCheck {
        needed: Needed {
            role,
            path: PathBuf::from(path),
            from: "HOME",
        },
        problem: problem.map(String::from),
    }
}

fn trial(setup: &str, proc: Option<&str>) -> Option<Trial> {
    let attempt = |text: &str| Attempt {
        ok: text.is_empty(),
        stderr: text.into(),
    };
    Some(Trial {
        bwrap: "/usr/bin/bwrap".into(),
        setup: attempt(setup),
        proc: proc.map(attempt),
    })
}

fn causes(f: &[Finding]) -> Vec<&str> {
    f.iter().map(|f| f.cause.as_str()).collect()
}

#[test]
fn working_host_has_no_findings() {
    let mut f = facts(host(None, ""));
    f.trial = trial("", Some(""));
    let found = classify(&f, None);
    assert!(found.is_empty(), "{found:?}");
    assert_eq!(verdict(&found), "ok");
}

#[test]
fn enospc_names_max_user_namespaces() {
    let mut h = host(Some(libc::ENOSPC), "unshare");
    h.max_user_namespaces = Some(0);
    let f = classify(&facts(h), None);
    assert_eq!(causes(&f), ["max_user_namespaces"]);
    assert!(f[0].remedy.contains("sysctl"));
    assert_eq!(f[0].severity, Severity::Weakens, "Landlock still works");
}

#[test]
fn without_landlock_the_userns_causes_fail_runs() {
    let mut h = host(Some(libc::ENOSPC), "unshare");
    h.landlock = Err("the kernel has no Landlock support (ENOSYS)".into());
    let f = classify(&facts(h), None);
    assert_eq!(causes(&f), ["max_user_namespaces", "landlock_unavailable"]);
    assert_eq!(verdict(&f), "fails");
}

#[test]
fn apparmor_gets_a_profile_for_the_real_binary() {
    let mut h = host(Some(libc::EACCES), "mount(/, MS_SLAVE)");
    h.apparmor_restrict_userns = Some(true);
    let mut fx = facts(h);
    fx.binary = "/opt/cl/codex-launcher".into();
    let f = classify(&fx, None);
    assert_eq!(causes(&f), ["apparmor_userns"]);
    assert!(f[0]
        .remedy
        .contains("profile codex-launcher /opt/cl/codex-launcher"));
    assert!(f[0].remedy.contains("apparmor_parser -r"));
    let mut restricted = host(None, "");
    restricted.apparmor_restrict_userns = Some(true);
    let f = classify(
        &facts(restricted),
        Some("bwrap: loopback: Failed RTM_NEWADDR: Operation not permitted"),
    );
    assert_eq!(causes(&f), ["apparmor_userns"]);
}

#[test]
fn docker_default_profile_means_landlock() {
    let mut h = host(Some(libc::EPERM), "unshare");
    h.seccomp_mode = 2;
    let f = classify(&facts(h), None);
    assert_eq!(causes(&f), ["seccomp_blocks_unshare"]);
    assert_eq!(verdict(&f), "degraded");
    assert!(f[0].remedy.contains("--seccomp-profile"));
}

#[test]
fn docker_default_with_sys_admin_fails_at_pivot_root() {
    // unshare passes (CAP_SYS_ADMIN), so the probe says user namespaces work; bwrap then dies.
    let mut h = host(None, "");
    h.seccomp_mode = 2;
    h.uid = 0;
    let mut fx = facts(h);
    fx.runtime = Runtime::Docker;
    fx.trial = trial("bwrap: pivot_root: Operation not permitted", None);
    let f = classify(&fx, None);
    assert_eq!(causes(&f), ["pivot_root_refused"]);
    assert_eq!(verdict(&f), "fails");
    assert!(
        f[0].detail.contains("never allows pivot_root"),
        "{}",
        f[0].detail
    );
    assert!(f[0].remedy.contains("pivot_root"), "{}", f[0].remedy);
    assert!(f[0].remedy.contains("umount2"), "{}", f[0].remedy);
    assert!(
        f[0].remedy.contains("drop --cap-add SYS_ADMIN"),
        "{}",
        f[0].remedy
    );
}

#[test]
fn podman_ambient_capabilities_are_named() {
    let mut fx = facts(host(None, ""));
    fx.effective_caps = Some(0x2820_2000);
    fx.trial = trial(
        "bwrap: Unexpected capabilities but not setuid, old file caps config?",
        None,
    );
    let f = classify(&fx, None);
    assert_eq!(causes(&f), ["ambient_capabilities"]);
    assert!(f[0].detail.contains("0000000028202000"), "{}", f[0].detail);
}

#[test]
fn masked_proc_weakens_with_the_runtimes_remedy() {
    for (runtime, flag) in [
        (Runtime::Docker, "systempaths=unconfined"),
        (Runtime::Podman, "unmask=ALL"),
    ] {
        let mut fx = facts(host(None, ""));
        fx.runtime = runtime;
        fx.trial = trial(
            "",
            Some("bwrap: Can't mount proc on /newroot/proc: Operation not permitted"),
        );
        let f = classify(&fx, None);
        assert_eq!(causes(&f), ["masked_proc"]);
        assert_eq!(f[0].severity, Severity::Weakens);
        assert!(f[0].remedy.contains(flag), "{}", f[0].remedy);
    }
}

#[test]
fn unrecognised_text_is_never_no_problems() {
    let mut fx = facts(host(None, ""));
    fx.trial = trial("bwrap: something new: Invalid argument", None);
    let f = classify(&fx, None);
    assert_eq!(causes(&f), ["unrecognised_bwrap_error"]);
    assert_eq!(verdict(&f), "fails");
    assert!(f[0].detail.contains("something new"));

    let f = classify(&facts(host(None, "")), Some("bwrap: execvp foo: weird"));
    assert_eq!(causes(&f), ["unrecognised_bwrap_error"]);
    assert!(
        f[0].detail.contains("does not recognise"),
        "{}",
        f[0].detail
    );
}

#[test]
fn unwritable_state_fails_runs_and_unwritable_cache_is_a_note() {
    let mut fx = facts(host(None, ""));
    fx.dirs = vec![
        dir(
            Role::TaskHome,
            "/root/.local/state/codex-launcher/tasks",
            Some("/root: Read-only file system"),
        ),
        dir(
            Role::ProbeCache,
            "/root/.cache/codex-launcher",
            Some("/root: Read-only file system"),
        ),
    ];
    fx.home = Some("/root".into());
    fx.runtime = Runtime::Podman;
    let f = classify(&fx, None);
    assert_eq!(causes(&f), ["state_dir_unwritable", "cache_dir_unwritable"]);
    assert_eq!(verdict(&f), "fails");
    assert!(
        f[0].remedy.contains("podman run -v codex-state:/root"),
        "{}",
        f[0].remedy
    );
}

#[test]
fn home_set_to_root_gets_a_home_to_use() {
    let mut fx = facts(host(None, ""));
    fx.home = Some("/".into());
    fx.dirs = vec![dir(
        Role::TaskHome,
        "/.local/state/codex-launcher/tasks",
        Some("/: Permission denied"),
    )];
    let f = classify(&fx, None);
    assert!(
        f[0].remedy.starts_with("set HOME=/home/codex"),
        "{}",
        f[0].remedy
    );
}

#[test]
fn state_inside_the_workspace_is_reachable_by_the_task() {
    let mut fx = facts(host(None, ""));
    fx.dirs = vec![dir(
        Role::ProbeCache,
        "/workspace/.cache/codex-launcher",
        None,
    )];
    let f = classify(&fx, None);
    assert_eq!(causes(&f), ["state_in_workspace"]);
    assert_eq!(f[0].severity, Severity::Weakens);
}

#[test]
fn a_cache_that_says_userns_work_where_they_do_not_fails_runs() {
    let mut h = host(Some(libc::EPERM), "unshare");
    h.seccomp_mode = 2;
    let mut fx = facts(h);
    fx.cached_userns = Some(host(None, "").userns);
    let f = classify(&fx, None);
    assert_eq!(causes(&f), ["stale_probe_cache", "seccomp_blocks_unshare"]);
    assert_eq!(verdict(&f), "fails");
    assert!(f[0].remedy.contains("rm -rf"), "{}", f[0].remedy);
}

#[test]
fn a_cache_that_hides_working_userns_weakens() {
    let mut fx = facts(host(None, ""));
    fx.cached_userns = Some(host(Some(libc::EPERM), "unshare").userns);
    fx.trial = trial("", Some(""));
    let f = classify(&fx, None);
    assert_eq!(causes(&f), ["stale_probe_cache"]);
    assert_eq!(verdict(&f), "degraded");
}

#[test]
fn a_stale_proc_verdict_is_named() {
    let mut fx = facts(host(None, ""));
    fx.cached_proc_allowed = Some(true);
    fx.trial = trial(
        "",
        Some("bwrap: Can't mount proc on /newroot/proc: Operation not permitted"),
    );
    let f = classify(&fx, None);
    assert_eq!(causes(&f), ["stale_probe_cache", "masked_proc"]);
    assert_eq!(verdict(&f), "fails");
}

#[test]
fn a_proc_probe_that_misreads_the_refusal_is_named() {
    // bubblewrap 0.12 (the built-in copy) says "on /proc", not "on /newroot/proc".
    let mut fx = facts(host(None, ""));
    fx.cached_proc_allowed = Some(true);
    fx.fresh_proc_allowed = Some(true);
    fx.runtime = Runtime::Podman;
    fx.trial = trial(
        "",
        Some("bwrap: Can't mount proc on /proc: Operation not permitted"),
    );
    let f = classify(&fx, None);
    assert_eq!(causes(&f), ["proc_probe_misreads", "masked_proc"]);
    assert_eq!(verdict(&f), "fails");
    assert!(f[0].remedy.contains("unmask=ALL"), "{}", f[0].remedy);
}

#[test]
fn a_refused_uid_map_prescribes_apparmor_only_where_it_restricts_userns() {
    let text = "bwrap: setting up uid map: Permission denied";
    let mut f = facts(host(None, ""));
    let without = classify(&f, Some(text));
    assert!(
        causes(&without).contains(&"userns_restricted"),
        "{without:?}"
    );
    assert!(
        !causes(&without).contains(&"apparmor_userns"),
        "{without:?}"
    );
    f.host.apparmor_restrict_userns = Some(true);
    assert!(causes(&classify(&f, Some(text))).contains(&"apparmor_userns"));
}
