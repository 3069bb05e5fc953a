//! Golden tests for the planner: each scenario builds a small tree in an in-memory host (the
//! same on every machine), plans, and compares the argv (one flag group per line, the fixture
//! root shown as `$WS`) with a reviewed snapshot.

use std::cell::RefCell;
use std::path::{Path, PathBuf};

use super::*;
use crate::hostview::FixtureFs;
use crate::policy::{FileSystem, PermissionProfile, Policy, ResolveContext};

struct Fixture {
    fs: RefCell<FixtureFs>,
    root: PathBuf,
}

impl Fixture {
    /// A Debian-like host (merged /usr, /lib64) with the scenario's tree under `/srv/fixture`.
    fn new() -> Self {
        let fs = FixtureFs::debian_like();
        let root = PathBuf::from("/srv/fixture");
        let fs = fs.dirs(&["/srv/fixture"]);
        Self {
            fs: RefCell::new(fs),
            root,
        }
    }

    fn mkdir(&self, rel: &str) -> PathBuf {
        let p = self.root.join(rel);
        self.fs.borrow_mut().add_dir(&p);
        p
    }

    fn write(&self, rel: &str, text: &str) {
        self.fs.borrow_mut().add_file(&self.root.join(rel), text);
    }

    fn symlink(&self, rel: &str, target: &Path) {
        self.fs
            .borrow_mut()
            .add_symlink(&self.root.join(rel), target);
    }

    fn options(&self, cwd: &Path) -> BwrapOptions {
        BwrapOptions {
            policy_cwd: cwd.to_path_buf(),
            command_cwd: None,
            inherit_pid_namespace: false,
            mount_proc: true,
            unshare_net: true,
            supports_argv0: true,
            daemon_dir: "/tmp/codex-daemon-0".into(),
            private_codex_dirs: false,
            sandbox_id: None,
            sandbox_uid_dirs: Vec::new(),
            registry_dir: "/tmp/codex-bwrap-synthetic-mount-targets-0".into(),
            denied_file: "/tmp/codex-bwrap-synthetic-mount-targets-0/denied-placeholder".into(),
            empty_file: "/tmp/codex-bwrap-synthetic-mount-targets-0/empty-placeholder".into(),
            info_fd: Some(5),
            proxy_dir_fd: None,
            inner: vec!["inner".into(), "--".into(), "true".into()],
        }
    }

    /// Plans `profile` (with `$WS` standing for the fixture root) and renders the result.
    fn plan(&self, profile: &str, opts: &BwrapOptions) -> String {
        let ws = self.root.display().to_string();
        let json = profile.replace("$WS", &ws);
        let profile = PermissionProfile::parse(&json).expect("profile parses");
        let ctx = ResolveContext {
            policy_cwd: opts.policy_cwd.clone(),
            tmpdir: None,
        };
        let FileSystem::Restricted(rules) = Policy::resolve(&profile, &ctx).file_system else {
            panic!("scenario needs a restricted filesystem")
        };
        let fs = self.fs.borrow();
        let mut deny_matches = Vec::new();
        for pattern in &rules.deny_globs {
            deny_matches.extend(
                crate::policy::glob_scan::expand(pattern, rules.glob_scan_max_depth, &*fs).unwrap(),
            );
        }
        let rendered = match writable_roots(&rules, &*fs)
            .and_then(|writable| plan(&rules, writable, &deny_matches, opts, &*fs))
        {
            Ok(plan) => render(&plan),
            Err(e) => format!("refused: {e}"),
        };
        rendered.replace(&ws, "$WS")
    }
}

/// One line per flag with its operands, so a diff shows which mount changed.
fn render(plan: &BwrapPlan) -> String {
    let mut out = String::new();
    let mut iter = plan.args.iter().map(|a| a.to_string_lossy().into_owned());
    while let Some(arg) = iter.next() {
        let operands = match arg.as_str() {
            "--bind" | "--ro-bind" | "--bind-try" | "--ro-bind-try" | "--ro-bind-fd" => 2,
            "--dev" | "--tmpfs" | "--remount-ro" | "--dir" | "--perms" | "--proc" | "--chdir"
            | "--info-fd" | "--cap-drop" | "--argv0" => 1,
            "--" => usize::MAX,
            _ => 0,
        };
        out.push_str(&arg);
        for _ in 0..operands {
            match iter.next() {
                Some(op) => {
                    out.push(' ');
                    out.push_str(&op);
                }
                None => break,
            }
        }
        out.push('\n');
    }
    for t in &plan.synthetic {
        out.push_str(&format!(
            "# synthetic {:?} {}{}\n",
            t.kind,
            t.path.display(),
            if t.preexisting { " (preexisting)" } else { "" }
        ));
    }
    out
}

fn path(access: &str, p: &str) -> String {
    format!(r#"{{"path":{{"type":"path","path":"{p}"}},"access":"{access}"}}"#)
}

fn special(access: &str, kind: &str) -> String {
    format!(r#"{{"path":{{"type":"special","value":{{"kind":"{kind}"}}}},"access":"{access}"}}"#)
}

fn managed(entries: &[String]) -> String {
    format!(
        r#"{{"type":"managed","file_system":{{"type":"restricted","entries":[{}]}},"network":"restricted"}}"#,
        entries.join(",")
    )
}

#[test]
fn read_only_disk() {
    let f = Fixture::new();
    let out = f.plan(&managed(&[special("read", "root")]), &f.options(&f.root));
    insta::assert_snapshot!(out);
}

#[test]
fn workspace_write_with_git_dir_and_missing_metadata() {
    let f = Fixture::new();
    let ws = f.mkdir("ws");
    f.mkdir("ws/.git/refs");
    let profile = managed(&[special("read", "root"), path("write", "$WS/ws")]);
    insta::assert_snapshot!(f.plan(&profile, &f.options(&ws)));
}

#[test]
fn worktree_gitdir_pointer_is_protected() {
    let f = Fixture::new();
    let ws = f.mkdir("wt");
    f.mkdir("main/.git/worktrees/wt");
    f.write("wt/.git", "gitdir: ../main/.git/worktrees/wt\n");
    let profile = managed(&[
        special("read", "root"),
        path("write", "$WS/wt"),
        path("write", "$WS/main"),
    ]);
    insta::assert_snapshot!(f.plan(&profile, &f.options(&ws)));
}

#[test]
fn denied_subdir_with_reopened_writable_child() {
    let f = Fixture::new();
    let ws = f.mkdir("ws");
    f.mkdir("ws/secret/out");
    f.write("ws/token", "x");
    let profile = managed(&[
        special("read", "root"),
        path("write", "$WS/ws"),
        path("none", "$WS/ws/secret"),
        path("write", "$WS/ws/secret/out"),
        path("none", "$WS/ws/token"),
        path("none", "$WS/ws/missing/deeper"),
    ]);
    insta::assert_snapshot!(f.plan(&profile, &f.options(&ws)));
}

#[test]
fn minimal_layout_binds_only_readable_roots() {
    let f = Fixture::new();
    let ws = f.mkdir("ws");
    f.mkdir("data");
    let profile = managed(&[
        special("read", "minimal"),
        path("read", "$WS/data"),
        path("write", "$WS/ws"),
    ]);
    insta::assert_snapshot!(f.plan(&profile, &f.options(&ws)));
}

#[test]
fn deny_glob_matches_become_unreadable_files() {
    let f = Fixture::new();
    let ws = f.mkdir("ws");
    f.mkdir("ws/sub/deep");
    f.write("ws/sub/a.env", "a");
    f.write("ws/sub/deep/b.env", "b");
    f.write("ws/sub/keep.txt", "c");
    let profile = managed(&[
        special("read", "root"),
        path("write", "$WS/ws"),
        r#"{"path":{"type":"glob_pattern","pattern":"$WS/ws/**/*.env"},"access":"none"}"#.into(),
    ]);
    insta::assert_snapshot!(f.plan(&profile, &f.options(&ws)));
}

#[test]
fn old_bwrap_without_argv0_no_proc_shared_pid_namespace() {
    let f = Fixture::new();
    let ws = f.mkdir("ws");
    let mut opts = f.options(&ws);
    opts.supports_argv0 = false;
    opts.mount_proc = false;
    opts.inherit_pid_namespace = true;
    opts.unshare_net = false;
    opts.info_fd = None;
    opts.command_cwd = Some(ws.join("."));
    let profile = managed(&[special("read", "root"), path("write", "$WS/ws")]);
    insta::assert_snapshot!(f.plan(&profile, &opts));
}

#[test]
fn writable_root_slash_keeps_dev_and_masks_daemon_dir() {
    let f = Fixture::new();
    let ws = f.mkdir("ws");
    let profile = managed(&[special("write", "root"), path("read", "$WS/ws/ro")]);
    insta::assert_snapshot!(f.plan(&profile, &f.options(&ws)));
}

#[test]
fn unenforceable_policies_are_refused() {
    let f = Fixture::new();
    let ws = f.mkdir("ws");
    f.mkdir("real");
    f.symlink("ws/link", &f.root.join("real"));
    f.write("file", "x");
    let cases = [
        managed(&[
            special("read", "root"),
            path("write", "$WS/ws"),
            path("none", "$WS/ws/link/x"),
        ]),
        managed(&[special("read", "root"), path("write", "$WS/file")]),
        managed(&[special("read", "root"), path("write", "$WS/daemon/sub")]),
    ];
    f.mkdir("daemon/sub");
    let mut opts = f.options(&ws);
    opts.daemon_dir = f.root.join("daemon");
    let out: Vec<String> = cases.iter().map(|c| f.plan(c, &opts)).collect();
    insta::assert_snapshot!(out.join("\n"));
}

#[test]
fn egress_proxy_gets_a_private_run_and_no_network() {
    let f = Fixture::new();
    let ws = f.mkdir("ws");
    let mut opts = f.options(&ws);
    opts.unshare_net = false;
    opts.proxy_dir_fd = Some(4);
    let out = f.plan(
        &managed(&[special("read", "root"), path("write", "$WS/ws")]),
        &opts,
    );
    // /run is a private tmpfs before any writable root is bound, holding only the socket dir.
    let run = out.find("--tmpfs /run\n").expect("private /run");
    let fd = out
        .find("--ro-bind-fd 4 /run/codex-launcher-proxy\n")
        .expect("socket dir");
    let ws_bind = out.find("--bind $WS/ws $WS/ws").expect("workspace");
    assert!(run < fd && fd < ws_bind, "{out}");
    assert!(out.contains("--unshare-net\n"), "{out}");
    insta::assert_snapshot!(out);
}
