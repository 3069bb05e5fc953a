//! Golden tests of whole launch plans on [`HostView`] fixtures: an in-memory host, fixed probe
//! verdicts and ids, so the snapshots are the same on any machine. Each renders the plan's
//! complete launch (program, argv, environment, descriptors, pre-exec steps) and its ladder.

use std::path::PathBuf;

use super::*;
use crate::hostview::FixtureFs;
use crate::policy::{modes, Policy, ResolveContext};
use crate::probe::host::UsernsVerdict;

const EXE: &str = "/usr/libexec/codex-launcher/codex-launcher";

/// A Debian-like host with merged /usr and /lib64, a user's workspace and a system bwrap.
fn debian() -> FixtureFs {
    FixtureFs::new()
        .dirs(&[
            "/usr/bin",
            "/usr/lib",
            "/usr/lib64",
            "/usr/sbin",
            "/etc",
            "/tmp",
            "/dev",
            "/proc",
            "/home/u/ws/.git/refs",
            "/home/u/.codex/sessions",
        ])
        .symlink("/bin", "usr/bin")
        .symlink("/lib", "usr/lib")
        .symlink("/lib64", "usr/lib64")
        .symlink("/sbin", "usr/sbin")
        .file(EXE, "")
        .file("/usr/bin/bwrap", "")
}

/// A host laid out differently: no /lib64, separate /bin, and the temp dir under /var.
fn other_layout() -> FixtureFs {
    FixtureFs::new()
        .dirs(&[
            "/usr/bin",
            "/usr/lib",
            "/bin",
            "/lib",
            "/etc",
            "/var/tmp/u",
            "/dev",
            "/proc",
            "/home/u/ws",
            "/home/u/.codex/sessions",
        ])
        .file(EXE, "")
}

fn facts(userns: bool, landlock: Result<u32, String>, uid: u32) -> HostFacts {
    HostFacts {
        os: "linux".into(),
        kernel: "6.1.0-fixture".into(),
        userns: UsernsVerdict {
            available: userns,
            failed_step: (!userns).then(|| "unshare(CLONE_NEWUSER|CLONE_NEWNS)".into()),
            errno: (!userns).then_some(libc::ENOSPC),
            error: (!userns).then(|| "No space left on device".into()),
        },
        landlock,
        seccomp_mode: 0,
        no_new_privs: false,
        apparmor_restrict_userns: None,
        max_user_namespaces: Some(if userns { 1000 } else { 0 }),
        unprivileged_userns_clone: None,
        uid,
        container: None,
        inside_sandbox: Vec::new(),
    }
}

fn view<'a>(fs: &'a FixtureFs, facts: HostFacts, tmpdir: Option<&str>) -> HostView<'a> {
    HostView {
        uid: facts.uid,
        facts,
        cwd: "/home/u/ws".into(),
        current_exe: Ok(EXE.into()),
        tmpdir: tmpdir.map(Into::into),
        env: Vec::new(),
        system_bwrap: Ok(Launcher::System {
            path: "/usr/bin/bwrap".into(),
            supports_argv0: true,
        }),
        proc_mount_allowed: true,
        launcher_state: Vec::new(),
        fs,
    }
}

/// What `codex-run` asks for: workspace-write on the workspace plus the per-task home and the
/// shared sessions dir, network restricted, the command started in the workspace.
fn run_request(backend: BackendRequest, tmpdir: Option<&str>) -> SandboxRequest {
    let ws = PathBuf::from("/home/u/ws");
    let profile = modes::profile_for(
        modes::SandboxMode::WorkspaceWrite,
        modes::Network::Off,
        &[PathBuf::from("/home/u/.codex/sessions")],
    )
    .unwrap();
    let policy = Policy::resolve(
        &profile,
        &ResolveContext {
            policy_cwd: ws.clone(),
            tmpdir: tmpdir.map(PathBuf::from),
        },
    );
    SandboxRequest {
        profile,
        policy,
        policy_cwd: ws.clone(),
        command_cwd: None,
        command: vec!["codex".into(), "exec".into(), "fix it".into()],
        backend,
        require_full_isolation: false,
        no_proc: false,
        inherit_pid_namespace: false,
        outer_layer: true,
        target: TargetOs::Linux,
        proxy_only: false,
        egress: None,
        accept_unfiltered_tcp: false,
        allow_unix_sockets: Vec::new(),
        env_set: vec![(
            "CODEX_HOME".into(),
            "/home/u/.local/state/t/codex-home".into(),
        )],
        chdir: Some(ws),
    }
}

/// The plan as a reviewer reads it: backend, ladder verdicts, the launch, what is not enforced.
fn render(plan: &LaunchPlan) -> String {
    let launch = plan.exec.to_json();
    let mut out = format!("backend: {}\n", plan.backend.name());
    for step in &plan.ladder {
        out.push_str(&format!(
            "ladder: {} {}: {}\n",
            step.backend.name(),
            step.verdict.name(),
            step.reason
        ));
    }
    out.push_str(&format!("program: {}\n", launch["program"]));
    out.push_str(&format!("supervision: {}\n", launch["supervision"]));
    out.push_str(&format!("fds: {}\n", launch["fds"]));
    out.push_str(&format!("env_set: {}\n", launch["env_set"]));
    for step in launch["pre_exec"].as_array().unwrap() {
        out.push_str(&format!("pre_exec: {step}\n"));
    }
    out.push_str("argv:\n");
    for arg in launch["argv"].as_array().unwrap() {
        out.push_str(&format!("  {}\n", arg.as_str().unwrap()));
    }
    for gap in &plan.not_enforced {
        out.push_str(&format!("not enforced: {gap}\n"));
    }
    out
}

/// `run_request` under `--network filtered` with one allowed domain and a local model provider.
fn filtered_request(backend: BackendRequest) -> SandboxRequest {
    let mut req = run_request(backend, None);
    let egress = crate::egress::Egress::from_flags(&["example.com".into()], &[], &[])
        .unwrap()
        .with_provider(crate::egress::Provider {
            rules: vec![],
            endpoints: vec!["127.0.0.1:4567".into()],
        });
    req.egress = Some(egress);
    req
}

fn planned_filtered(fs: &FixtureFs, facts: HostFacts, backend: BackendRequest) -> String {
    let mut host = view(fs, facts, None);
    host.env = vec![("HOME".into(), "/home/u".into())];
    match plan_launch(&filtered_request(backend), &host) {
        Ok(plan) => {
            let mut out = render(&plan);
            out.push_str(&egress_line(&plan));
            out.push_str(&format!("seccomp: {:?}\n", plan.seccomp));
            if let Some(egress) = &plan.egress {
                let spec = spec_with_proxy(&plan, "127.0.0.1:40000".parse().unwrap());
                out.push_str(&format!(
                    "launched env_set: {}\n",
                    spec.to_json()["env_set"]
                ));
                for step in &spec.steps {
                    if let PreExec::Landlock(l) = step {
                        out.push_str(&format!(
                            "launched landlock connect_tcp: {:?}\n",
                            l.connect_tcp
                        ));
                    }
                }
                let _ = egress;
            }
            out
        }
        Err(e) => format!("refused: {}", Failure::from(e)),
    }
}

#[test]
fn filtered_network_on_bwrap_relays_to_the_proxy() {
    let fs = debian();
    let out = planned_filtered(&fs, facts(true, Ok(6), 1000), BackendRequest::Auto);
    assert!(out.contains("--egress-relay"), "{out}");
    assert!(out.contains("\"fd\":4,\"source\":\"proxy_dir\""), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn filtered_network_on_landlock_allows_only_the_proxy_port() {
    let fs = other_layout();
    let out = planned_filtered(&fs, facts(false, Ok(6), 0), BackendRequest::Auto);
    assert!(
        out.contains("launched landlock connect_tcp: [40000]"),
        "{out}"
    );
    assert!(out.contains("seccomp: Some(ProxyOnly)"), "{out}");
    insta::assert_snapshot!(out);
}

#[test]
fn filtered_network_below_landlock_abi_4_is_refused() {
    let fs = other_layout();
    let out = planned_filtered(&fs, facts(false, Ok(3), 0), BackendRequest::Auto);
    assert!(
        out.starts_with("refused: --network filtered: Landlock ABI 3"),
        "{out}"
    );
}

fn planned(
    fs: &FixtureFs,
    facts: HostFacts,
    tmpdir: Option<&str>,
    backend: BackendRequest,
) -> String {
    let host = view(fs, facts, tmpdir);
    match plan_launch(&run_request(backend, tmpdir), &host) {
        Ok(plan) => render(&plan),
        Err(e) => format!("refused: {}", Failure::from(e)),
    }
}

#[test]
fn run_on_debian_with_system_bwrap() {
    let fs = debian();
    insta::assert_snapshot!(planned(
        &fs,
        facts(true, Ok(6), 1000),
        None,
        BackendRequest::Auto
    ));
}

#[test]
fn run_as_root_maps_to_uid_1000_with_private_codex_dirs() {
    let fs = debian();
    insta::assert_snapshot!(planned(
        &fs,
        facts(true, Ok(6), 0),
        None,
        BackendRequest::Auto
    ));
}

#[test]
fn run_on_another_layout_with_the_temp_dir_under_var() {
    let fs = other_layout();
    let out = planned(
        &fs,
        facts(true, Ok(6), 1000),
        Some("/var/tmp/u"),
        BackendRequest::BwrapVendored,
    );
    assert!(!out.contains("/lib64"), "{out}");
    assert!(
        out.contains("/var/tmp/u/codex-bwrap-synthetic-mount-targets-1000"),
        "{out}"
    );
    insta::assert_snapshot!(out);
}

#[test]
fn run_without_user_namespaces_on_landlock() {
    let fs = other_layout();
    insta::assert_snapshot!(planned(
        &fs,
        facts(false, Ok(6), 0),
        None,
        BackendRequest::Auto
    ));
}

#[test]
fn plans_do_not_depend_on_the_machine_they_are_made_on() {
    // The same fixture planned twice, and a plan made on this machine's view would differ: only
    // the fixture decides.
    let fs = debian();
    let a = planned(&fs, facts(true, Ok(6), 1000), None, BackendRequest::Auto);
    let b = planned(&fs, facts(true, Ok(6), 1000), None, BackendRequest::Auto);
    assert_eq!(a, b);
    assert!(a.contains("  --ro-bind\n  /\n  /\n"), "{a}");
}

/// `--network filtered` planned for macOS, then launched with the proxy on `port`: the plan's
/// ladder, the launched environment and argv with the profile reduced to its network lines.
fn planned_filtered_macos(allow: &[String], port: u16) -> (String, String) {
    let fs = debian();
    let mut host = view(&fs, facts(false, Err("not Linux".into()), 501), None);
    host.env = vec![
        ("HOME".into(), "/home/u".into()),
        // An inherited proxy on another loopback port opens nothing.
        ("HTTPS_PROXY".into(), "http://127.0.0.1:9999".into()),
    ];
    let mut req = filtered_request(BackendRequest::Auto);
    req.target = TargetOs::Macos;
    let egress = req.egress.take().unwrap();
    req.egress = Some(crate::egress::Egress {
        allow: allow.to_vec(),
        ..egress
    });
    let plan = plan_launch(&req, &host).unwrap();
    let BackendPlan::Seatbelt(seatbelt) = &plan.plan else {
        panic!("not seatbelt: {}", render(&plan));
    };
    let spec = spec_with_proxy(&plan, std::net::SocketAddr::from(([127, 0, 0, 1], port)));
    let profile = spec.argv[2].to_string_lossy().into_owned();
    let network: Vec<&str> = profile
        .lines()
        .filter(|l| {
            l.starts_with("(allow network")
                || l.starts_with("(allow system-socket")
                || l.starts_with("; only the launcher")
        })
        .collect();
    let mut out = format!("backend: {}\n", plan.backend.name());
    out.push_str(&format!(
        "planned profile is the one explained: {}\n",
        seatbelt.profile == plan.exec.argv[2].to_string_lossy()
    ));
    out.push_str(&format!(
        "planned network lines: {:?}\n",
        seatbelt
            .profile
            .lines()
            .filter(|l| l.starts_with("(allow network"))
            .collect::<Vec<_>>()
    ));
    for line in network {
        out.push_str(&format!("launched profile: {line}\n"));
    }
    out.push_str(&format!(
        "launched env_set: {}\n",
        spec.to_json()["env_set"]
    ));
    out.push_str(&format!(
        "launched argv after the profile: {:?}\n",
        &spec.argv[3..]
    ));
    for gap in &plan.not_enforced {
        out.push_str(&format!("not enforced: {gap}\n"));
    }
    out.push_str(&egress_line(&plan));
    (out, profile)
}

fn egress_line(plan: &LaunchPlan) -> String {
    format!(
        "egress: {}\n",
        plan.egress
            .as_ref()
            .map(|e| e.to_json())
            .unwrap_or_default()
    )
}

#[test]
fn filtered_network_on_seatbelt_allows_only_the_proxy_port() {
    let (out, profile) = planned_filtered_macos(&[], 43128);
    assert!(
        out.contains("launched profile: (allow network-outbound (remote ip \"localhost:43128\"))"),
        "{out}"
    );
    assert!(out.contains("planned network lines: []"), "{out}");
    assert!(!profile.contains("9999"), "{profile}");
    insta::assert_snapshot!(out);
}

#[test]
fn filtered_seatbelt_profile_does_not_depend_on_the_allowed_domains() {
    // Domains are the proxy's business: the profile only ever opens the proxy's port.
    let (_, without) = planned_filtered_macos(&[], 43128);
    let (out, with) =
        planned_filtered_macos(&["example.com".into(), "*.example.org:8443".into()], 43128);
    assert_eq!(with, without);
    insta::assert_snapshot!(out);
}
