//! Golden tests mirroring the text-only assertions of Codex's `seatbelt_tests.rs` (reference
//! codex-seatbelt.md §14; the number after each name is the reference's test number), plus our own
//! checks of section order, parameter order and the environment.

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};

use super::*;
use crate::hostview::LiveFs;
use crate::policy::{FileSystem, PermissionProfile, Policy, ResolveContext};

fn rules(entries: &[String], cwd: &Path) -> Rules {
    let json = format!(
        r#"{{"type":"managed","file_system":{{"type":"restricted","entries":[{}]}},"network":"restricted"}}"#,
        entries.join(",")
    );
    let profile = PermissionProfile::parse(&json).unwrap();
    let ctx = ResolveContext {
        policy_cwd: cwd.to_path_buf(),
        tmpdir: None,
    };
    match Policy::resolve(&profile, &ctx).file_system {
        FileSystem::Restricted(r) => r,
        FileSystem::Unrestricted => unreachable!(),
    }
}

fn path(p: &Path, access: &str) -> String {
    format!(
        r#"{{"path":{{"type":"path","path":"{}"}},"access":"{access}"}}"#,
        p.display()
    )
}

fn special(kind: &str, access: &str) -> String {
    format!(r#"{{"path":{{"type":"special","value":{{"kind":"{kind}"}}}},"access":"{access}"}}"#)
}

fn glob(pattern: &str) -> String {
    let quoted = serde_json::to_string(pattern).unwrap();
    format!(r#"{{"path":{{"type":"glob_pattern","pattern":{quoted}}},"access":"deny"}}"#)
}

fn cmd() -> Vec<OsString> {
    vec!["/bin/echo".into(), "hello world".into()]
}

fn build(rules: Option<&Rules>, cwd: &Path, network: NetworkInputs) -> SeatbeltPlan {
    let command = cmd();
    plan(&SeatbeltInputs {
        fs: &LiveFs::default(),
        rules,
        policy_cwd: cwd,
        network,
        command: &command,
    })
    .unwrap()
}

fn net_on() -> NetworkInputs {
    NetworkInputs {
        enabled: true,
        ..NetworkInputs::default()
    }
}

/// The `-D` arguments whose key starts with `prefix`.
fn defs(plan: &SeatbeltPlan, prefix: &str) -> Vec<String> {
    plan.argv
        .iter()
        .filter(|a| a.starts_with(&format!("-D{prefix}")))
        .cloned()
        .collect()
}

/// The three metadata require-nots of a root, as the upstream helper joins them.
fn metadata_requirements(root: &Path) -> String {
    PROTECTED_NAMES
        .iter()
        .map(|n| format!("(require-not (regex #\"{}\"))", metadata_regex(root, n)))
        .collect::<Vec<_>>()
        .join(" ")
}

fn network_text(net: &NetworkInputs) -> String {
    network_policy(net, &mut Params::default(), &LiveFs::default()).unwrap()
}

fn tmp() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn canon(p: &Path) -> PathBuf {
    p.canonicalize().unwrap()
}

#[test]
fn base_policy_allows_node_cpu_sysctls_1_and_sem_limit_2() {
    assert!(BASE_POLICY.contains("(sysctl-name \"machdep.cpu.brand_string\")"));
    assert!(BASE_POLICY.contains("(sysctl-name \"hw.model\")"));
    assert!(BASE_POLICY.contains("(sysctl-name \"kern.sysv.semmns\")"));
}

#[test]
fn base_policy_allows_kmp_registration_shm_read_create_and_unlink_3() {
    assert!(BASE_POLICY.contains(
        "(allow ipc-posix-shm-read-data\n  ipc-posix-shm-write-create\n  ipc-posix-shm-write-unlink\n  (ipc-posix-name-regex #\"^/__KMP_REGISTERED_LIB_[0-9]+$\"))"
    ));
}

#[test]
fn base_policy_has_no_preferences_and_starts_closed() {
    assert!(BASE_POLICY.starts_with("(version 1)"));
    assert!(BASE_POLICY.contains("\n(deny default)\n"));
    for p in ["cfprefs", "user-preference"] {
        assert!(!BASE_POLICY.contains(p), "{p}");
    }
}

#[test]
fn platform_defaults_grant_applications_and_scratch_only_with_minimal_4_5() {
    let dir = tmp();
    let ws = canon(dir.path());
    let minimal = rules(&[special("minimal", "read"), path(&ws, "read")], &ws);
    let p = build(Some(&minimal), &ws, NetworkInputs::default());
    for grant in PROCESS_PLATFORM_DEFAULTS.lines() {
        assert!(p.profile.contains(grant), "{grant}");
    }
    assert!(p.profile.contains("(subpath \"/Applications\")"));
    assert!(p.profile.contains(PLATFORM_DEFAULTS_POLICY));
    assert!(!PLATFORM_DEFAULTS_POLICY.contains("/Applications"));
    let plain = rules(&[path(&ws, "read")], &ws);
    let p = build(Some(&plain), &ws, NetworkInputs::default());
    for scratch in [
        "/Applications",
        "(subpath \"/tmp\")",
        "\"/private/tmp\"",
        "\"/var/tmp\"",
    ] {
        assert!(!p.profile.contains(scratch), "{scratch}");
    }
}

#[test]
fn create_seatbelt_args_routes_network_through_proxy_ports_6() {
    let net = NetworkInputs {
        proxy_ports: BTreeSet::from([43128, 48081]),
        has_proxy_config: true,
        ..NetworkInputs::default()
    };
    let text = network_text(&net);
    assert!(text.contains("(allow network-outbound (remote ip \"localhost:43128\"))"));
    assert!(text.contains("(allow network-outbound (remote ip \"localhost:48081\"))"));
    for absent in [
        "\n(allow network-outbound)\n",
        "(allow network-bind (local ip \"*:*\"))",
        "(allow network-inbound (local ip \"localhost:*\"))",
        "(allow network-outbound (remote ip \"*:53\"))",
    ] {
        assert!(!text.contains(absent), "{absent}");
    }
}

#[test]
fn dynamic_network_policy_allows_tls_without_darwin_user_cache_write_7() {
    let text = network_text(&net_on());
    assert!(text.contains("(global-name \"com.apple.trustd.agent\")"));
    assert!(!text.contains("DARWIN_USER_CACHE_DIR"));
    assert!(text.starts_with("(allow network-outbound)\n(allow network-inbound)\n"));
}

#[test]
fn explicit_unreadable_paths_are_excluded_from_full_disk_read_and_write_access_8() {
    let dir = tmp();
    let unreadable = canon(dir.path()).join("codex-unreadable");
    let r = rules(
        &[special("root", "write"), path(&unreadable, "none")],
        Path::new("/"),
    );
    let p = build(Some(&r), Path::new("/"), NetworkInputs::default());
    for key in ["READABLE_ROOT_0_EXCLUDED_0", "WRITABLE_ROOT_0_EXCLUDED_0"] {
        assert!(p
            .profile
            .contains(&format!("(require-not (literal (param \"{key}\")))")));
        assert!(p
            .profile
            .contains(&format!("(require-not (subpath (param \"{key}\")))")));
    }
    assert!(p.profile.contains(&metadata_requirements(Path::new("/"))));
    assert!(p.argv.contains(&format!(
        "-DREADABLE_ROOT_0_EXCLUDED_0={}",
        unreadable.display()
    )));
    assert_eq!(
        defs(&p, "WRITABLE_ROOT_"),
        vec![
            "-DWRITABLE_ROOT_0=/".to_string(),
            "-DWRITABLE_ROOT_0_EXCLUDED_0=/.codex".into(),
            format!("-DWRITABLE_ROOT_0_EXCLUDED_1={}", unreadable.display()),
        ]
    );
    assert!(
        !p.profile.contains("user-preference-read"),
        "a deny entry rules out preferences"
    );
}

#[test]
fn nested_protected_paths_cannot_be_bypassed_by_renaming_ancestors_9() {
    let dir = tmp();
    let ws = canon(dir.path());
    let file = ws.join(".github/workflows/release.yml");
    std::fs::create_dir_all(file.parent().unwrap()).unwrap();
    std::fs::write(&file, "x").unwrap();
    for access in ["none", "read"] {
        let r = rules(
            &[
                special("root", "read"),
                path(&ws, "write"),
                path(&file, access),
            ],
            &ws,
        );
        let p = build(Some(&r), &ws, NetworkInputs::default());
        let last_allow = p.profile.rfind("(allow file-write*").unwrap();
        for ancestor in [ws.clone(), ws.join(".github"), ws.join(".github/workflows")] {
            let (key, _) = p
                .params
                .iter()
                .find(|(k, v)| k.starts_with("PROTECTED_ANCESTOR_") && Path::new(v) == ancestor)
                .unwrap_or_else(|| {
                    panic!("{access}: no ancestor param for {}", ancestor.display())
                });
            let line = format!("(deny file-write-unlink (require-all (vnode-type DIRECTORY) (literal (param \"{key}\"))))");
            let at = p.profile.find(&line).unwrap_or_else(|| panic!("{line}"));
            assert!(
                at > last_allow,
                "{access}: ancestor denies come after every allow"
            );
        }
    }
    // Deny globs: each ancestor of the pattern gets an exact-regex unlink deny, after the allows.
    let r = rules(
        &[
            special("root", "read"),
            path(&ws, "write"),
            glob(&format!("{}/.githu?/workflows/*", ws.display())),
        ],
        &ws,
    );
    let p = build(Some(&r), &ws, NetworkInputs::default());
    let last_allow = p.profile.rfind("(allow file-write*").unwrap();
    let line = format!(
        "(deny file-write-unlink (require-all (vnode-type DIRECTORY) (regex #\"^{}/\\.githu[^/]$\")))",
        regex_escape(&ws.display().to_string())
    );
    assert!(p.profile.find(&line).unwrap() > last_allow, "{}", p.profile);
}

#[test]
fn prepared_managed_network_context_allows_only_its_proxy_ports_10() {
    let net = NetworkInputs {
        enabled: true,
        proxy_only: true,
        proxy_ports: BTreeSet::from([43123, 48081]),
        ..NetworkInputs::default()
    };
    let text = network_text(&net);
    assert!(text.contains("localhost:43123") && text.contains("localhost:48081"));
    for absent in [
        "localhost:9999",
        "(local ip \"*:*\")",
        "(allow network-outbound)\n",
    ] {
        assert!(!text.contains(absent), "{absent}");
    }
}

#[test]
fn explicit_unreadable_paths_are_excluded_from_readable_roots_11() {
    let dir = tmp();
    let readable = canon(dir.path()).join("codex-readable");
    let private = readable.join("private");
    std::fs::create_dir_all(&private).unwrap();
    let r = rules(
        &[path(&readable, "read"), path(&private, "none")],
        &readable,
    );
    let p = build(Some(&r), &readable, NetworkInputs::default());
    assert!(p.profile.contains("(require-not (literal (param \"READABLE_ROOT_0_EXCLUDED_0\"))) (require-not (subpath (param \"READABLE_ROOT_0_EXCLUDED_0\")))"));
    assert!(p
        .argv
        .contains(&format!("-DREADABLE_ROOT_0={}", readable.display())));
    assert!(p.argv.contains(&format!(
        "-DREADABLE_ROOT_0_EXCLUDED_0={}",
        private.display()
    )));
}

#[test]
fn glob_regexes_12_to_17() {
    let re = |p: &str, m| glob_to_regex(p, m).unwrap();
    let globstar = re("/tmp/repo/**/*.env", GlobMode::Subtree);
    assert_eq!(globstar, r"^/tmp/repo/(.*/)?[^/]*\.env$"); // 12
    assert_eq!(
        re("/tmp/repo/*/file[0-9]?.txt", GlobMode::Subtree),
        r"^/tmp/repo/[^/]*/file[0-9][^/]\.txt$"
    ); // 13
    assert_eq!(
        re("/tmp/repo/{.env,secrets.yml}", GlobMode::Subtree),
        r"^/tmp/repo/(\.env|secrets\.yml)$"
    ); // 14
    assert_eq!(
        re("/tmp/repo/{private", GlobMode::Exact),
        r"^/tmp/repo/(private)$"
    ); // 15
    assert_eq!(
        re(r"/tmp/repo/config\?.env", GlobMode::Subtree),
        r"^/tmp/repo/config\?\.env(/.*)?$"
    ); // 16
    assert_eq!(
        re("/tmp/repo/[*.env", GlobMode::Subtree),
        r"^/tmp/repo/\[[^/]*\.env$"
    ); // 17
    assert_eq!(re("/a/[!x]", GlobMode::Exact), "^/a/[^x]$");
    assert_eq!(re("/a/b", GlobMode::Exact), "^/a/b$");
    assert_eq!(glob_to_regex("", GlobMode::Subtree), None);
    // 12's matching claims, checked by a tiny matcher for this one shape.
    let matches = |p: &str| {
        let rest = p.strip_prefix("/tmp/repo/").unwrap();
        rest.rsplit('/').next().unwrap().ends_with(".env")
    };
    for (p, want) in [
        ("/tmp/repo/.env", true),
        ("/tmp/repo/app/.env", true),
        ("/tmp/repo/app/config.env", true),
        ("/tmp/repo/config.toml", false),
    ] {
        assert_eq!(matches(p), want, "{p}");
    }
}

#[test]
fn unreadable_glob_policy_includes_canonicalized_static_prefix_18() {
    let dir = tmp();
    let real = canon(dir.path()).join("real");
    std::fs::create_dir_all(&real).unwrap();
    let link = canon(dir.path()).join("link");
    symlink(&real, &link).unwrap();
    for suffix in ["**/*.env", "{app,service}/*.env", r"secret\?.env"] {
        let pattern = format!("{}/{suffix}", link.display());
        let r = rules(&[special("root", "read"), glob(&pattern)], &real);
        let p = build(Some(&r), &real, NetworkInputs::default());
        let canonical = format!("{}/{suffix}", real.display());
        let regex = glob_to_regex(&canonical, GlobMode::Subtree).unwrap();
        assert!(
            p.profile
                .contains(&format!("(deny file-read* (regex #\"{regex}\"))")),
            "{suffix}\n{}",
            p.profile
        );
        assert!(
            p.profile
                .contains(&format!("(deny file-write* (regex #\"{regex}\"))")),
            "{suffix}"
        );
    }
}

#[test]
fn preferences_access_requires_unrestricted_reads_19() {
    let dir = tmp();
    let ws = canon(dir.path());
    let markers = [
        "apple.cfprefs.",
        "com.apple.cfprefsd.daemon",
        "com.apple.cfprefsd.agent",
        "(allow user-preference-read)",
    ];
    let legacy = rules(&[special("root", "read"), path(&ws, "write")], &ws);
    let p = build(Some(&legacy), &ws, NetworkInputs::default());
    for m in markers {
        assert!(p.profile.contains(m), "{m}");
    }
    for entries in [
        vec![special("minimal", "read"), path(&ws, "read")],
        vec![path(&ws, "read")],
        vec![special("root", "read"), path(&ws.join("secret"), "none")],
        vec![special("root", "read"), glob("**/*.env")],
    ] {
        let r = rules(&entries, &ws);
        let p = build(Some(&r), &ws, NetworkInputs::default());
        for m in markers {
            assert!(!p.profile.contains(m), "{m} in {entries:?}");
        }
    }
    assert!(!PREFERENCES_POLICY.contains("user-preference-write"));
}

#[test]
fn create_seatbelt_args_allows_local_binding_when_explicitly_enabled_21() {
    let net = NetworkInputs {
        proxy_ports: BTreeSet::from([43128]),
        has_proxy_config: true,
        allow_local_binding: true,
        ..NetworkInputs::default()
    };
    let text = network_text(&net);
    for present in [
        "(allow network-bind (local ip \"*:*\"))",
        "(allow network-inbound (local ip \"localhost:*\"))",
        "(allow network-outbound (remote ip \"localhost:*\"))",
        "(allow network-outbound (remote ip \"*:53\"))",
    ] {
        assert!(text.contains(present), "{present}");
    }
    assert!(!text.contains("\n(allow network-outbound)\n"));
}

#[test]
fn proxy_config_without_ports_keeps_the_network_closed_22_23_24() {
    let configured = NetworkInputs {
        enabled: true,
        has_proxy_config: true,
        ..NetworkInputs::default()
    };
    let text = network_text(&configured);
    assert!(text.contains("(socket-domain AF_SYSTEM)"));
    for absent in [
        "(allow network-outbound)\n",
        "remote ip \"localhost:",
        "*:53",
    ] {
        assert!(!text.contains(absent), "22: {absent}");
    }
    let binding = NetworkInputs {
        has_proxy_config: true,
        allow_local_binding: true,
        ..NetworkInputs::default()
    };
    let text = network_text(&binding);
    assert!(
        text.contains("(allow network-bind (local ip \"*:*\"))") && !text.contains("*:53"),
        "23"
    );
    let managed = NetworkInputs {
        enabled: true,
        proxy_only: true,
        ..NetworkInputs::default()
    };
    let text = network_text(&managed);
    assert!(
        text.contains("(socket-domain AF_SYSTEM)")
            && !text.contains("(allow network-outbound)\n")
            && !text.contains("*:53"),
        "24"
    );
}

#[test]
fn create_seatbelt_args_allowlists_unix_socket_paths_25_26() {
    let dir = tmp();
    let sock = canon(dir.path()).join("example.sock");
    let net = NetworkInputs {
        unix_sockets: UnixSockets::Only(vec![sock.clone()]),
        ..NetworkInputs::default()
    };
    let p = build(None, dir.path(), net);
    assert!(p
        .profile
        .contains("(allow system-socket (socket-domain AF_UNIX))"));
    assert!(p.profile.contains(
        "(allow network-bind (local unix-socket (subpath (param \"UNIX_SOCKET_PATH_0\"))))"
    ));
    assert!(p.profile.contains(
        "(allow network-outbound (remote unix-socket (subpath (param \"UNIX_SOCKET_PATH_0\"))))"
    ));
    assert!(!p.profile.contains("(allow network* (subpath"));
    assert!(p
        .argv
        .contains(&format!("-DUNIX_SOCKET_PATH_0={}", sock.display())));
    assert_eq!(
        p.env_set[1],
        (NETWORK_DISABLED_ENV.to_string(), "1".to_string())
    );
}

#[test]
fn unix_socket_params_are_merged_sorted_and_deduplicated_27_30() {
    let params = unix_socket_params(
        &[
            PathBuf::from("/tmp/b.sock"),
            "/tmp/a.sock".into(),
            "/tmp/a.sock".into(),
        ],
        &LiveFs::default(),
    )
    .unwrap();
    assert_eq!(
        params,
        vec![
            (
                "UNIX_SOCKET_PATH_0".to_string(),
                PathBuf::from("/tmp/a.sock")
            ),
            ("UNIX_SOCKET_PATH_1".into(), "/tmp/b.sock".into())
        ]
    );
    let net = NetworkInputs {
        unix_sockets: UnixSockets::Only(vec![
            "/tmp/codex-proxy-use".into(),
            "/tmp/codex-browser-use".into(),
        ]),
        ..NetworkInputs::default()
    };
    let p = build(None, Path::new("/"), net);
    assert_eq!(
        defs(&p, "UNIX_SOCKET_PATH_"),
        vec![
            "-DUNIX_SOCKET_PATH_0=/tmp/codex-browser-use".to_string(),
            "-DUNIX_SOCKET_PATH_1=/tmp/codex-proxy-use".into()
        ]
    );
}

#[test]
fn full_network_keeps_blanket_rules_with_unix_sockets_28_and_lines_end_in_newlines_29() {
    let net = NetworkInputs {
        enabled: true,
        unix_sockets: UnixSockets::Only(vec!["/tmp/s".into()]),
        ..NetworkInputs::default()
    };
    let text = network_text(&net);
    for present in [
        "(allow network-outbound)\n",
        "(allow network-inbound)\n",
        "(remote unix-socket (subpath (param \"UNIX_SOCKET_PATH_0\")))",
    ] {
        assert!(text.contains(present), "{present}");
    }
    let lines = unix_socket_lines(
        &UnixSockets::Only(vec!["/tmp/s".into()]),
        &mut Params::default(),
        &LiveFs::default(),
    )
    .unwrap();
    assert!(lines.ends_with('\n'));
    assert_eq!(
        unix_socket_lines(
            &UnixSockets::None,
            &mut Params::default(),
            &LiveFs::default()
        )
        .unwrap(),
        ""
    );
}

#[test]
fn relative_paths_are_rejected_31() {
    assert_eq!(
        normalize_path_for_sandbox(Path::new("rel/x"), &LiveFs::default()),
        Err(SeatbeltError::Relative("rel/x".into()))
    );
    assert!(unix_socket_params(&["rel.sock".into()], &LiveFs::default()).is_err());
}

#[test]
fn all_unix_sockets_when_enabled_32() {
    let text = unix_socket_lines(
        &UnixSockets::AllowAll,
        &mut Params::default(),
        &LiveFs::default(),
    )
    .unwrap();
    assert_eq!(text, "(allow system-socket (socket-domain AF_UNIX))\n(allow network-bind (local unix-socket))\n(allow network-outbound (remote unix-socket))\n");
}

#[test]
fn full_network_with_proxy_is_still_proxy_only_33() {
    let net = NetworkInputs {
        enabled: true,
        proxy_ports: BTreeSet::from([43128]),
        has_proxy_config: true,
        ..NetworkInputs::default()
    };
    let text = network_text(&net);
    assert!(text.contains("localhost:43128"));
    assert!(
        !text.contains("(allow network-outbound)\n") && !text.contains("(allow network-inbound)\n")
    );
}

#[test]
fn read_only_git_and_codex_subpaths_34_and_pointer_files_46() {
    let dir = tmp();
    let base = canon(dir.path());
    let cwd = base.join("cwd");
    let repo = base.join("repo");
    let plain = base.join("plain");
    for d in [
        cwd.clone(),
        repo.join(".git"),
        repo.join(".codex"),
        plain.clone(),
    ] {
        std::fs::create_dir_all(d).unwrap();
    }
    let r = rules(
        &[
            special("root", "read"),
            path(&cwd, "write"),
            path(&repo, "write"),
            path(&plain, "write"),
        ],
        &cwd,
    );
    let p = build(Some(&r), &cwd, NetworkInputs::default());
    assert_eq!(
        defs(&p, "WRITABLE_ROOT_"),
        vec![
            format!("-DWRITABLE_ROOT_0={}", cwd.display()),
            format!("-DWRITABLE_ROOT_0_EXCLUDED_0={}/.codex", cwd.display()),
            format!("-DWRITABLE_ROOT_1={}", repo.display()),
            format!("-DWRITABLE_ROOT_1_EXCLUDED_0={}/.git", repo.display()),
            format!("-DWRITABLE_ROOT_1_EXCLUDED_1={}/.codex", repo.display()),
            format!("-DWRITABLE_ROOT_2={}", plain.display()),
        ]
    );
    assert!(p
        .profile
        .contains("(require-all (subpath (param \"WRITABLE_ROOT_0\"))"));
    for root in [&cwd, &repo, &plain] {
        assert!(
            p.profile.contains(&metadata_requirements(root)),
            "{}",
            root.display()
        );
    }
    assert_eq!(
        p.argv[p.argv.len() - 3..],
        ["--".to_string(), "/bin/echo".into(), "hello world".into()]
    );

    // 46: a `.git` pointer file protects the gitdir it names too, before `.git` itself.
    let worktree = base.join("worktree");
    let gitdir = base.join("actual-gitdir");
    std::fs::create_dir_all(&worktree).unwrap();
    std::fs::create_dir_all(&gitdir).unwrap();
    std::fs::write(worktree.join(".git"), "gitdir: ../actual-gitdir\n").unwrap();
    let r = rules(&[special("root", "read"), path(&worktree, "write")], &base);
    let p = build(Some(&r), &base, NetworkInputs::default());
    assert_eq!(
        defs(&p, "WRITABLE_ROOT_0_EXCLUDED"),
        vec![
            format!("-DWRITABLE_ROOT_0_EXCLUDED_0={}", gitdir.display()),
            format!("-DWRITABLE_ROOT_0_EXCLUDED_1={}/.git", worktree.display())
        ]
    );
}

#[test]
fn symlinked_writable_roots_are_refused_35() {
    let dir = tmp();
    let base = canon(dir.path());
    std::fs::create_dir_all(base.join("real")).unwrap();
    symlink(base.join("real"), base.join("link")).unwrap();
    let root = base.join("link/sub");
    let r = rules(&[special("root", "read"), path(&root, "write")], &base);
    let command = cmd();
    let e = plan(&SeatbeltInputs {
        fs: &LiveFs::default(),
        rules: Some(&r),
        policy_cwd: &base,
        network: NetworkInputs::default(),
        command: &command,
    })
    .unwrap_err();
    let text = e.to_string();
    assert!(
        text.contains("symlinked writable roots are not supported")
            && text.contains(&root.display().to_string()),
        "{text}"
    );
}

#[test]
fn writable_roots_get_anchor_denies_36_and_files_are_literal_37() {
    let dir = tmp();
    let base = canon(dir.path());
    let file = base.join("notes.txt");
    std::fs::write(&file, "").unwrap();
    let r = rules(
        &[
            special("root", "read"),
            path(&file, "write"),
            path(Path::new("/dev/null"), "write"),
        ],
        &base,
    );
    let p = build(Some(&r), &base, NetworkInputs::default());
    assert!(
        p.profile.contains("(literal (param \"WRITABLE_ROOT_0\"))")
            && p.profile.contains("(literal (param \"WRITABLE_ROOT_1\"))")
    );
    assert!(!p.profile.contains("(subpath (param \"WRITABLE_ROOT_"));
    for i in 0..2 {
        assert!(p.profile.contains(&format!("(deny file-write-unlink (require-all (literal (param \"WRITABLE_ROOT_{i}\")) (vnode-type DIRECTORY)))")));
    }
}

#[test]
fn first_time_dot_codex_creation_is_blocked_by_regex_45_and_cwd_repo_47() {
    let dir = tmp();
    let repo = canon(dir.path()).join("repo");
    std::fs::create_dir_all(repo.join(".git")).unwrap();
    std::fs::create_dir_all(repo.join(".codex")).unwrap();
    let r = rules(
        &[
            special("root", "read"),
            special("project_roots", "write"),
            special("slash_tmp", "write"),
        ],
        &repo,
    );
    let p = build(Some(&r), &repo, NetworkInputs::default());
    assert!(p.profile.contains(&metadata_requirements(&repo)));
    assert!(p
        .profile
        .contains(&metadata_requirements(&canon(Path::new("/tmp")))));
    let d = defs(&p, "WRITABLE_ROOT_");
    assert_eq!(
        d[..3],
        [
            format!("-DWRITABLE_ROOT_0={}", repo.display()),
            format!("-DWRITABLE_ROOT_0_EXCLUDED_0={}/.git", repo.display()),
            format!("-DWRITABLE_ROOT_0_EXCLUDED_1={}/.codex", repo.display())
        ]
    );
    assert!(
        !d.iter()
            .any(|a| a.starts_with("-DWRITABLE_ROOT_0") && a.contains(".agents")),
        "{d:?}"
    );
    assert_eq!(
        d[3],
        format!("-DWRITABLE_ROOT_1={}", canon(Path::new("/tmp")).display())
    );
    assert_eq!(
        p.argv[p.argv.len() - 2..],
        ["/bin/echo".to_string(), "hello world".into()]
    );
}

#[test]
fn argv_shape_param_order_and_section_order() {
    let dir = tmp();
    let ws = canon(dir.path());
    let secret = ws.join("secret");
    std::fs::create_dir_all(&secret).unwrap();
    let r = rules(
        &[path(&ws, "read"), path(&ws, "write"), path(&secret, "none")],
        &ws,
    );
    let net = NetworkInputs {
        unix_sockets: UnixSockets::Only(vec!["/tmp/x.sock".into()]),
        ..NetworkInputs::default()
    };
    let p = build(Some(&r), &ws, net);
    assert_eq!(p.argv[..2], [SANDBOX_EXEC.to_string(), "-p".into()]);
    assert_eq!(p.argv[2], p.profile);
    let keys: Vec<&str> = p
        .params
        .iter()
        .map(|(k, _)| k.split('_').next().unwrap())
        .collect();
    let mut order: Vec<&str> = keys.clone();
    order.dedup();
    assert_eq!(
        order,
        ["READABLE", "WRITABLE", "PROTECTED", "UNIX"],
        "{keys:?}"
    );
    let defines: Vec<String> = p.params.iter().map(|(k, v)| format!("-D{k}={v}")).collect();
    assert_eq!(p.argv[3..3 + defines.len()], defines[..]);
    assert_eq!(p.argv[3 + defines.len()], "--");
    let at = |needle: &str| p.profile.find(needle).unwrap_or_else(|| panic!("{needle}"));
    assert!(at("(deny default)") < at("; allow read-only file operations"));
    assert!(at("; allow read-only file operations") < at("(allow file-write*"));
    assert!(at("(allow file-write*") < at("AF_UNIX"));
    assert!(at("AF_UNIX") < at("PROTECTED_ANCESTOR_0"));
}

#[test]
fn environment_strips_inherited_markers_and_sets_ours() {
    let p = build(None, Path::new("/"), NetworkInputs::default());
    assert_eq!(p.env_remove, [SANDBOX_ENV, NETWORK_DISABLED_ENV]);
    assert_eq!(
        p.env_set,
        [
            (SANDBOX_ENV.to_string(), "seatbelt".to_string()),
            (NETWORK_DISABLED_ENV.to_string(), "1".to_string())
        ]
    );
    let p = build(None, Path::new("/"), net_on());
    assert_eq!(
        p.env_set,
        [(SANDBOX_ENV.to_string(), "seatbelt".to_string())]
    );
}

#[test]
fn unrestricted_filesystem_with_network_off_still_writes_everywhere() {
    let p = build(None, Path::new("/"), NetworkInputs::default());
    assert!(p
        .profile
        .contains("; allow read-only file operations\n(allow file-read*)"));
    assert!(p.profile.contains("(allow file-write* (regex #\"^/\"))"));
    assert!(!p.profile.contains("network-outbound"));
    assert!(p.params.is_empty());
}

#[test]
fn proxy_ports_come_from_loopback_proxy_variables_only() {
    let env = |pairs: &[(&str, &str)]| {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect::<Vec<_>>()
    };
    let (ports, configured) = proxy_ports(&env(&[
        ("HTTP_PROXY", "http://127.0.0.1:3128"),
        ("https_proxy", "https://localhost"),
        ("ALL_PROXY", "socks5h://[::1]"),
        ("FTP_PROXY", "proxy.corp.example:8080"),
        ("NO_PROXY", "localhost"),
        ("HTTPS_PROXY", "user:pw@LOCALHOST:8443/path"),
    ]));
    assert_eq!(ports, BTreeSet::from([443, 1080, 3128, 8443]));
    assert!(configured);
    assert_eq!(
        proxy_ports(&env(&[("HTTP_PROXY", " ")])),
        (BTreeSet::new(), false)
    );
    let (ports, configured) = proxy_ports(&env(&[("HTTP_PROXY", "http://10.0.0.1:3128")]));
    assert!(
        ports.is_empty() && configured,
        "a remote proxy counts as configured, with no port"
    );
}

/// A parsed S-expression.
#[derive(Debug)]
enum Sexp {
    Atom(String),
    Str(String),
    List(Vec<Sexp>),
}

/// Parses SBPL text: lists, atoms, `"..."` and `#"..."` strings with `\` escapes, `;` comments.
fn parse_sbpl(text: &str) -> Result<Vec<Sexp>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut stack: Vec<Vec<Sexp>> = vec![Vec::new()];
    let mut i = 0;
    while i < chars.len() {
        match chars[i] {
            ';' => {
                while i < chars.len() && chars[i] != '\n' {
                    i += 1;
                }
            }
            '(' => stack.push(Vec::new()),
            ')' => {
                let list = stack.pop().ok_or("unbalanced )")?;
                stack
                    .last_mut()
                    .ok_or(format!("unbalanced ) at {i}"))?
                    .push(Sexp::List(list));
            }
            c if c.is_whitespace() => {}
            '"' | '#' => {
                if chars[i] == '#' {
                    i += 1;
                    if chars.get(i) != Some(&'"') {
                        return Err(format!("# not followed by a string at {i}"));
                    }
                }
                i += 1;
                let mut s = String::new();
                loop {
                    match chars.get(i) {
                        None => return Err("unterminated string".into()),
                        Some('\\') => {
                            s.push('\\');
                            s.push(*chars.get(i + 1).ok_or("dangling escape")?);
                            i += 2;
                            continue;
                        }
                        Some('"') => break,
                        Some(c) => s.push(*c),
                    }
                    i += 1;
                }
                stack.last_mut().unwrap().push(Sexp::Str(s));
            }
            _ => {
                let start = i;
                while i < chars.len() && !chars[i].is_whitespace() && !"()\";".contains(chars[i]) {
                    i += 1;
                }
                stack
                    .last_mut()
                    .unwrap()
                    .push(Sexp::Atom(chars[start..i].iter().collect()));
                continue;
            }
        }
        i += 1;
    }
    if stack.len() != 1 {
        return Err(format!("{} unclosed (", stack.len() - 1));
    }
    Ok(stack.pop().unwrap())
}

const OPERATIONS: [&str; 4] = ["version", "allow", "deny", "import"];
const FILTERS: [&str; 30] = [
    "param",
    "path-literal",
    "subpath",
    "literal",
    "regex",
    "path",
    "require-all",
    "require-not",
    "require-any",
    "remote",
    "local",
    "target",
    "extension",
    "vnode-type",
    "socket-domain",
    "socket-protocol",
    "sysctl-name",
    "sysctl-name-prefix",
    "sysctl-name-regex",
    "global-name",
    "local-name",
    "iokit-registry-entry-class",
    "ipc-posix-name",
    "ipc-posix-name-prefix",
    "ipc-posix-name-regex",
    "with",
    "ip",
    "unix-socket",
    "appleevent-destination",
    "signal",
];
const ACTIONS: [&str; 30] = [
    "default",
    "process-exec",
    "process-fork",
    "signal",
    "process-info*",
    "file-read*",
    "file-write*",
    "file-write-data",
    "file-write-unlink",
    "file-ioctl",
    "file-read-metadata",
    "file-read-data",
    "file-map-executable",
    "file-test-existence",
    "sysctl-read",
    "sysctl-write",
    "iokit-open",
    "mach-lookup",
    "ipc-posix-sem",
    "ipc-posix-shm-read-data",
    "ipc-posix-shm-write-create",
    "ipc-posix-shm-write-unlink",
    "ipc-posix-shm-read*",
    "pseudo-tty",
    "network-outbound",
    "network-inbound",
    "network-bind",
    "system-socket",
    "user-preference-read",
    "network*",
];
const ATOMS: [&str; 8] = [
    "AF_UNIX",
    "AF_SYSTEM",
    "DIRECTORY",
    "CHARACTER-DEVICE",
    "same-sandbox",
    "ip",
    "unix-socket",
    "2",
];

/// Checks one form; collects every `(param "X")`.
fn check_filter(form: &Sexp, params: &mut BTreeSet<String>) -> Result<(), String> {
    match form {
        Sexp::Str(_) => Ok(()),
        Sexp::Atom(a) if ATOMS.contains(&a.as_str()) => Ok(()),
        Sexp::Atom(a) => Err(format!("unexpected atom {a}")),
        Sexp::List(items) => {
            let Some(Sexp::Atom(head)) = items.first() else {
                return Err(format!("list without an operator: {items:?}"));
            };
            if !FILTERS.contains(&head.as_str()) {
                return Err(format!("unknown filter {head}"));
            }
            if head == "param" {
                match &items[1..] {
                    [Sexp::Str(name)] => {
                        params.insert(name.clone());
                    }
                    other => return Err(format!("bad param {other:?}")),
                }
            }
            items[1..].iter().try_for_each(|f| check_filter(f, params))
        }
    }
}

/// Balanced, only known operations, actions and filters; returns the parameters used.
fn check_profile(profile: &str) -> Result<BTreeSet<String>, String> {
    let mut used = BTreeSet::new();
    for form in parse_sbpl(profile)? {
        let Sexp::List(items) = form else {
            return Err(format!("top-level non-list {form:?}"));
        };
        let Some(Sexp::Atom(op)) = items.first() else {
            return Err("top-level list without operator".into());
        };
        if !OPERATIONS.contains(&op.as_str()) {
            return Err(format!("unknown operation {op}"));
        }
        if op == "version" {
            match &items[1..] {
                [Sexp::Atom(v)] if v == "1" => continue,
                other => return Err(format!("bad version {other:?}")),
            }
        }
        let mut rest = items[1..].iter().peekable();
        let mut actions = 0;
        while let Some(Sexp::Atom(action)) = rest.peek() {
            if !ACTIONS.contains(&action.as_str()) {
                return Err(format!("unknown action {action}"));
            }
            actions += 1;
            rest.next();
        }
        if actions == 0 {
            return Err(format!("{op} without an action"));
        }
        for filter in rest {
            check_filter(filter, &mut used)?;
        }
    }
    Ok(used)
}

#[test]
fn the_parser_rejects_what_it_should() {
    assert!(check_profile("(version 1)(allow file-read*").is_err());
    assert!(check_profile("(version 1))").is_err());
    assert!(check_profile("(allow frobnicate)").is_err());
    assert!(check_profile("(allow file-read* (subpathx \"/\"))").is_err());
    assert!(check_profile("(allow file-read* (regex #\"^/a\\\"b$\"))").is_ok());
    assert!(check_profile("(allow file-read* (literal \"/a\")) ; comment (").is_ok());
}

#[test]
fn every_generated_profile_is_well_formed_over_a_policy_matrix() {
    let dir = tmp();
    let base = canon(dir.path());
    let ws = base.join("ws");
    let repo = base.join("repo");
    let worktree = base.join("worktree");
    for d in [
        ws.join("sub"),
        repo.join(".git"),
        repo.join(".agents"),
        worktree.clone(),
        base.join("gitdir"),
    ] {
        std::fs::create_dir_all(d).unwrap();
    }
    std::fs::write(worktree.join(".git"), "gitdir: ../gitdir\n").unwrap();
    std::fs::write(base.join("file"), "").unwrap();
    let quote = |s: &str| format!("{s}\"q");
    let reads: Vec<Vec<String>> = vec![
        vec![special("root", "read")],
        vec![special("minimal", "read"), path(&ws, "read")],
        vec![special("root", "read"), path(&ws.join("sub"), "none")],
        vec![path(&ws, "read"), path(&base, "read")],
        vec![special("root", "write"), path(&base.join("secret"), "none")],
    ];
    let writes: Vec<Vec<String>> = vec![
        vec![],
        vec![
            special("project_roots", "write"),
            special("slash_tmp", "write"),
        ],
        vec![
            path(&repo, "write"),
            path(&worktree, "write"),
            path(&base.join("file"), "write"),
        ],
        vec![
            path(&ws, "write"),
            path(&ws.join("sub"), "read"),
            glob("**/*.env"),
            glob(&quote(&format!("{}/odd", ws.display()))),
        ],
    ];
    let networks = vec![
        NetworkInputs::default(),
        net_on(),
        NetworkInputs {
            enabled: true,
            proxy_only: true,
            proxy_ports: BTreeSet::from([3128]),
            has_proxy_config: true,
            allow_local_binding: true,
            ..NetworkInputs::default()
        },
        NetworkInputs {
            unix_sockets: UnixSockets::Only(vec![base.join("b.sock"), base.join("a.sock")]),
            ..NetworkInputs::default()
        },
        NetworkInputs {
            enabled: true,
            unix_sockets: UnixSockets::AllowAll,
            ..NetworkInputs::default()
        },
        launcher_proxy(vec![]),
        launcher_proxy(vec![base.join("agent.sock")]),
    ];
    let mut checked = 0;
    for read in &reads {
        for write in &writes {
            for net in &networks {
                let entries: Vec<String> = read.iter().chain(write).cloned().collect();
                let r = rules(&entries, &ws);
                let p = build(Some(&r), &ws, net.clone()).with_proxy_port(43128);
                let used = check_profile(&p.profile)
                    .unwrap_or_else(|e| panic!("{e}\n{entries:?}\n{}", p.profile));
                let defined: BTreeSet<String> = p.params.iter().map(|(k, _)| k.clone()).collect();
                assert_eq!(
                    used, defined,
                    "every (param) has its -D and every -D is used: {entries:?}"
                );
                for (k, v) in &p.params {
                    assert!(p.argv.contains(&format!("-D{k}={v}")));
                }
                checked += 1;
            }
        }
    }
    for fixed in [
        build(None, &ws, NetworkInputs::default()),
        build(None, &ws, net_on()),
    ] {
        check_profile(&fixed.profile).unwrap();
        checked += 1;
    }
    assert!(checked >= 30, "{checked}");
}

/// Golden profiles: the whole text for three common policies, with the temp workspace path
/// replaced by `[WS]` so the snapshots are stable.
#[test]
fn golden_profiles() {
    let dir = tmp();
    let ws = canon(dir.path()).join("ws");
    std::fs::create_dir_all(ws.join(".git")).unwrap();
    let scenarios: Vec<(&str, Vec<String>, NetworkInputs)> = vec![
        (
            "workspace_write_network_on",
            vec![special("root", "read"), special("project_roots", "write")],
            net_on(),
        ),
        (
            "read_only_network_off",
            vec![special("root", "read")],
            NetworkInputs::default(),
        ),
        (
            "filtered_through_the_launchers_proxy",
            vec![special("root", "read"), special("project_roots", "write")],
            launcher_proxy(vec![]),
        ),
        (
            "minimal_with_proxy",
            vec![
                special("minimal", "read"),
                special("project_roots", "write"),
            ],
            NetworkInputs {
                enabled: true,
                proxy_only: true,
                proxy_ports: BTreeSet::from([3128]),
                has_proxy_config: true,
                ..NetworkInputs::default()
            },
        ),
    ];
    for (name, entries, net) in scenarios {
        let r = rules(&entries, &ws);
        let p = build(Some(&r), &ws, net).with_proxy_port(43128);
        let ws_text = ws.display().to_string();
        let shown = |s: &str| {
            s.replace(&regex_escape(&ws_text), "[WS]")
                .replace(&ws_text, "[WS]")
        };
        let mut golden = shown(&p.profile);
        golden.push_str("\n;; ---- parameters ----\n");
        for (k, v) in &p.params {
            golden.push_str(&format!(";; -D{k}={}\n", shown(v)));
        }
        for (k, v) in &p.env_set {
            golden.push_str(&format!(";; env {k}={v}\n"));
        }
        insta::assert_snapshot!(format!("seatbelt_{name}"), golden);
    }
}

/// `--network filtered`: TCP only to the launcher's proxy, whose port is known at launch.
fn launcher_proxy(sockets: Vec<PathBuf>) -> NetworkInputs {
    NetworkInputs {
        enabled: true,
        launcher_proxy: true,
        unix_sockets: UnixSockets::Connect(sockets),
        ..NetworkInputs::default()
    }
}

/// The lines of `profile` that open something on the network.
fn network_allows(profile: &str) -> Vec<&str> {
    profile
        .lines()
        .filter(|l| l.starts_with("(allow network") || l.contains("socket-domain AF_UNIX"))
        .collect()
}

#[test]
fn filtered_opens_only_the_launchers_proxy_port_once_it_is_bound() {
    let dir = tmp();
    let ws = canon(dir.path());
    let r = rules(
        &[special("root", "read"), special("project_roots", "write")],
        &ws,
    );
    // An inherited proxy variable names another loopback port: it must not be opened.
    let mut net = launcher_proxy(vec![]);
    net.has_proxy_config = true;
    let planned = build(Some(&r), &ws, net);
    assert!(
        network_allows(&planned.profile).is_empty(),
        "before the proxy is bound nothing may go out: {}",
        planned.profile
    );
    check_profile(&planned.profile).unwrap();
    let launched = planned.with_proxy_port(43128);
    assert_eq!(
        network_allows(&launched.profile),
        ["(allow network-outbound (remote ip \"localhost:43128\"))"]
    );
    assert_eq!(launched.argv[2], launched.profile);
    assert_eq!(launched.argv[3..], planned.argv[3..]);
    assert_eq!(launched.params, planned.params);
    // Everything but the port line is the plan's, byte for byte.
    let without = |p: &str| {
        p.lines()
            .filter(|l| !l.contains("localhost:") && !l.starts_with("; only the launcher"))
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(without(&launched.profile), without(&planned.profile));
    // Rendering is a function of the plan and the port, not of an earlier rendering.
    assert_eq!(
        launched.with_proxy_port(50000),
        planned.with_proxy_port(50000)
    );
    // A plan that does not wait for the proxy is left alone.
    let on = build(Some(&r), &ws, net_on());
    assert_eq!(on.with_proxy_port(43128), on);
}

#[test]
fn an_allowed_unix_socket_is_connect_only_and_exactly_that_path() {
    let dir = tmp();
    let ws = canon(dir.path());
    let sock = ws.join("agent.sock");
    let r = rules(
        &[special("root", "read"), special("project_roots", "write")],
        &ws,
    );
    let p = build(Some(&r), &ws, launcher_proxy(vec![sock.clone()])).with_proxy_port(43128);
    assert_eq!(
        network_allows(&p.profile),
        [
            "(allow network-outbound (remote ip \"localhost:43128\"))",
            "(allow system-socket (socket-domain AF_UNIX))",
            "(allow network-outbound (remote unix-socket (path-literal (param \"UNIX_SOCKET_PATH_0\"))))",
        ]
    );
    assert!(p
        .argv
        .contains(&format!("-DUNIX_SOCKET_PATH_0={}", sock.display())));
    assert!(!p.profile.contains("network-bind"), "{}", p.profile);
}
