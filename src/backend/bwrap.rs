//! Builds the bubblewrap argv for a restricted filesystem policy (reference codex-linux-sandbox.md §5.4).
//!
//! Files that must be unreadable or stay empty get a bind of one of two placeholder files (mode 000,
//! and an empty read-only file); bubblewrap 0.12 closes an `--ro-bind-data` descriptor after one use,
//! so a shared descriptor cannot serve several paths.
//!
//! A function of the policy, the options and the current state of the paths it names (existence,
//! emptiness, symlinks): it reads the filesystem but never changes it. The mount points bubblewrap
//! will create on the host are returned as [`SyntheticTarget`]s so the caller can register and later
//! remove them.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use serde::Serialize;

use crate::hostview::FsView;
use crate::policy::resolve::{depth, MINIMAL_READ_ROOTS};
use crate::policy::{Access, Rules};

/// Metadata kept read-only inside every writable root, in canonical order. `.aws` joined in Codex 0.169.
pub const PROTECTED_NAMES: [&str; 4] = [".git", ".agents", ".codex", ".aws"];

/// Everything besides the policy that shapes the argv.
#[derive(Debug, Clone)]
pub struct BwrapOptions {
    /// `--sandbox-policy-cwd`, absolute.
    pub policy_cwd: PathBuf,
    /// `--command-cwd` as given, if it was.
    pub command_cwd: Option<PathBuf>,
    pub inherit_pid_namespace: bool,
    /// Mount a fresh `/proc` (false with `--no-proc` or when the kernel refuses it here).
    pub mount_proc: bool,
    pub unshare_net: bool,
    /// The bubblewrap in use understands `--argv0`.
    pub supports_argv0: bool,
    /// Codex's app-server socket dir, `/tmp/codex-daemon-<uid>`: always masked.
    pub daemon_dir: PathBuf,
    /// Mask it (and the synthetic mount-target registry) with an empty private (0700, writable)
    /// directory instead of an unusable one: for the outer layer around Codex itself, whose
    /// app-server and helper need their own there.
    pub private_codex_dirs: bool,
    /// `--uid N --gid N`: run as this id inside. Used when root launches the outer layer, because
    /// bubblewrap run as uid 0 without capabilities cannot nest, and Codex inside runs its own.
    pub sandbox_id: Option<u32>,
    /// Codex's per-uid dirs for the uid that runs inside when it differs from ours
    /// (`/tmp/codex-daemon-1000` and its registry): each gets an empty private tmpfs, so Codex
    /// inside never shares the host's.
    pub sandbox_uid_dirs: Vec<PathBuf>,
    /// The synthetic mount-target registry, kept read-only where a writable root exposes it.
    pub registry_dir: PathBuf,
    /// An empty file with mode 000, bound over files that must not be read.
    pub denied_file: PathBuf,
    /// An empty read-only file, bound where a path must stay absent or empty.
    pub empty_file: PathBuf,
    /// bwrap writes the sandbox init's host pid here, so signals can be forwarded to it.
    pub info_fd: Option<i32>,
    /// The egress proxy's private socket directory, open at this descriptor: with it, `/run`
    /// becomes a private tmpfs (the host's sockets there, docker.sock, the D-Bus system bus,
    /// `$XDG_RUNTIME_DIR`, vanish) holding only that directory, and the network is unshared.
    pub proxy_dir_fd: Option<i32>,
    /// Program and arguments to run inside (after `--`).
    pub inner: Vec<OsString>,
}

/// A path bubblewrap creates (or mounts over) on the host for the duration of a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SyntheticTarget {
    #[serde(serialize_with = "crate::launch::serialize_path_lossy")]
    pub path: PathBuf,
    pub kind: TargetKind,
    /// It existed (empty) before the run and must survive it.
    pub preexisting: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TargetKind {
    Dir,
    File,
}

/// The argv (without the program name) and the mount points it will create.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct BwrapPlan {
    pub args: Vec<OsString>,
    pub synthetic: Vec<SyntheticTarget>,
}

/// Policies bubblewrap cannot enforce as asked; refused rather than weakened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BwrapPlanError {
    #[error("app-server socket directory {0} cannot be a sandbox mount root")]
    DaemonDirIsRoot(PathBuf),
    #[error(
        "cannot enforce sandbox {kind} path {path} because it crosses writable symlink {symlink}"
    )]
    CrossesWritableSymlink {
        kind: &'static str,
        path: PathBuf,
        symlink: PathBuf,
    },
    #[error(
        "writable root {0} is not a directory; protected metadata under it cannot be enforced"
    )]
    WritableRootNotADirectory(PathBuf),
}

struct Planner<'a> {
    opts: &'a BwrapOptions,
    fs: &'a dyn FsView,
    /// Writable roots as mounted (canonical), in depth order.
    writable: Vec<PathBuf>,
    /// Paths whose effective access is read, in profile order.
    reads: Vec<PathBuf>,
    /// The policy cwd, canonical (its `.codex` counts as present even when missing).
    policy_cwd: PathBuf,
    /// Every path the profile names explicitly, any access.
    explicit: Vec<PathBuf>,
    args: Vec<OsString>,
    synthetic: Vec<SyntheticTarget>,
}

/// The existing writable roots as they will be mounted (canonical), in depth order. A root that is
/// not a directory cannot carry protected metadata and is refused.
pub fn writable_roots(rules: &Rules, fs: &dyn FsView) -> Result<Vec<PathBuf>, BwrapPlanError> {
    let mut writable: Vec<PathBuf> = Vec::new();
    for root in rules.paths_with(Access::Write) {
        let Some(meta) = fs.stat(&root) else {
            continue;
        };
        if !meta.is_dir() {
            return Err(BwrapPlanError::WritableRootNotADirectory(root));
        }
        let mounted = fs.canonicalize(&root).unwrap_or(root);
        if !writable.contains(&mounted) {
            writable.push(mounted);
        }
    }
    writable.sort_by_key(|p| depth(p));
    Ok(writable)
}

/// Plans the bwrap argv for `rules`; `writable` comes from [`writable_roots`], `deny_matches` are
/// the files deny globs expanded to.
pub fn plan(
    rules: &Rules,
    writable: Vec<PathBuf>,
    deny_matches: &[PathBuf],
    opts: &BwrapOptions,
    fs: &dyn FsView,
) -> Result<BwrapPlan, BwrapPlanError> {
    let mut planner = Planner {
        opts,
        fs,
        writable,
        reads: rules.paths_with(Access::Read),
        policy_cwd: fs
            .canonicalize(&opts.policy_cwd)
            .unwrap_or_else(|| opts.policy_cwd.clone()),
        explicit: rules.entries.iter().map(|(p, _)| p.clone()).collect(),
        args: Vec::new(),
        synthetic: Vec::new(),
    };
    let mut denies = rules.paths_with(Access::Deny);
    for m in deny_matches {
        if !denies.contains(m) {
            denies.push(m.clone());
        }
    }
    denies.sort_by_key(|p| depth(p));
    planner.build(rules, &denies)?;
    Ok(BwrapPlan {
        args: planner.args,
        synthetic: planner.synthetic,
    })
}

impl Planner<'_> {
    fn push<S: Into<OsString>>(&mut self, items: impl IntoIterator<Item = S>) {
        self.args.extend(items.into_iter().map(Into::into));
    }

    fn push_path(&mut self, flag: &str, path: &Path) {
        self.push([OsString::from(flag), path.into()]);
    }

    fn push_bind(&mut self, flag: &str, path: &Path) {
        self.push_bind_from(flag, path, path);
    }

    fn push_bind_from(&mut self, flag: &str, source: &Path, dest: &Path) {
        self.push([OsString::from(flag), source.into(), dest.into()]);
    }

    /// Binds the empty read-only placeholder at `path` (bubblewrap creates it on the host).
    fn push_empty_placeholder(&mut self, path: &Path) {
        let empty = self.opts.empty_file.clone();
        self.push_bind_from("--ro-bind", &empty, path);
        self.add_target(path, TargetKind::File, false);
    }

    fn build(&mut self, rules: &Rules, denies: &[PathBuf]) -> Result<(), BwrapPlanError> {
        let daemon = self.opts.daemon_dir.clone();
        if !self.opts.inherit_pid_namespace {
            self.push(["--as-pid-1"]);
        }
        self.push(["--new-session", "--die-with-parent"]);

        // Base layer: the whole disk read-only, or only the readable roots on an empty tmpfs.
        let readable = self.readable_roots(rules);
        match readable {
            None => {
                self.push(["--ro-bind", "/", "/", "--dev", "/dev"]);
                self.mask_daemon_if_exposed(Path::new("/"));
            }
            Some(roots) => {
                self.push(["--tmpfs", "/", "--dev", "/dev"]);
                for root in roots {
                    if root.starts_with(&daemon) {
                        return Err(BwrapPlanError::DaemonDirIsRoot(daemon));
                    }
                    self.push_bind("--ro-bind", &root);
                    self.mask_daemon_if_exposed(&root);
                }
            }
        }
        if let Some(fd) = self.opts.proxy_dir_fd {
            self.push(["--tmpfs", "/run"]);
            self.push([
                "--ro-bind-fd".to_string(),
                fd.to_string(),
                crate::egress::SOCKET_DIR_INSIDE.to_string(),
            ]);
        }
        if self.writable.iter().any(|r| r.starts_with(&daemon)) {
            return Err(BwrapPlanError::DaemonDirIsRoot(daemon));
        }

        // Deny roots that enclose writable roots are masked first, with the way down kept open.
        let writable = self.writable.clone();
        let enclosing: Vec<PathBuf> = denies
            .iter()
            .filter(|d| {
                self.deepest_writable(d).is_none()
                    && writable.iter().any(|w| is_strictly_under(w, d))
            })
            .cloned()
            .collect();
        for deny in &enclosing {
            self.emit_deny(deny)?;
        }

        for root in &writable {
            for deny in denies.iter().filter(|d| is_strictly_under(root, d)) {
                self.push_intermediate_dirs(deny, root);
            }
            self.push_bind("--bind", root);
            if root == Path::new("/") {
                self.push(["--dev", "/dev", "--bind-try", "/dev/shm", "/dev/shm"]);
            }
            self.mask_daemon_if_exposed(root);
            for path in self.read_only_subpaths(root) {
                self.emit_read_only(root, &path)?;
            }
            for dir in self.opts.sandbox_uid_dirs.clone() {
                if is_strictly_under(&dir, root)
                    && self.deepest_writable(&dir).as_deref() == Some(root)
                {
                    self.push(["--perms", "0700"]);
                    self.push_path("--tmpfs", &dir);
                    let existed = self.fs.lstat(&dir).is_some();
                    self.add_target(&dir, TargetKind::Dir, existed);
                }
            }
            let registry = self.opts.registry_dir.clone();
            if is_strictly_under(&registry, root) {
                if self.opts.private_codex_dirs {
                    // Codex inside keeps its own registry; ours stays out of its reach.
                    self.push(["--perms", "0700"]);
                    self.push_path("--tmpfs", &registry);
                } else {
                    self.push_bind("--ro-bind", &registry);
                }
            }
            let nested: Vec<PathBuf> = denies
                .iter()
                .filter(|d| self.deepest_writable(d).as_ref() == Some(root))
                .cloned()
                .collect();
            for deny in &nested {
                self.emit_deny(deny)?;
            }
        }
        let unrelated: Vec<PathBuf> = denies
            .iter()
            .filter(|d| self.deepest_writable(d).is_none() && !enclosing.contains(d))
            .cloned()
            .collect();
        for deny in &unrelated {
            self.emit_deny(deny)?;
        }

        self.push(["--unshare-user"]);
        if let Some(id) = self.opts.sandbox_id {
            self.push([
                "--uid".to_string(),
                id.to_string(),
                "--gid".to_string(),
                id.to_string(),
            ]);
        }
        if !self.opts.inherit_pid_namespace {
            self.push(["--unshare-pid"]);
        }
        self.push(["--unshare-ipc"]);
        if self.opts.unshare_net || self.opts.proxy_dir_fd.is_some() {
            self.push(["--unshare-net"]);
        }
        if self.opts.mount_proc && !self.opts.inherit_pid_namespace {
            self.push(["--proc", "/proc"]);
        }
        let command_cwd = self
            .opts
            .command_cwd
            .clone()
            .unwrap_or_else(|| self.opts.policy_cwd.clone());
        let canonical = self
            .fs
            .canonicalize(&command_cwd)
            .unwrap_or_else(|| command_cwd.clone());
        if canonical != command_cwd {
            self.push_path("--chdir", &canonical);
        }
        if let Some(fd) = self.opts.info_fd {
            self.push(["--info-fd".to_string(), fd.to_string()]);
        }
        self.push(["--cap-drop", "ALL"]);
        if self.opts.supports_argv0 {
            self.push(["--argv0", "codex-linux-sandbox"]);
        }
        self.push(["--"]);
        let inner = self.opts.inner.clone();
        self.push(inner);
        Ok(())
    }

    /// `None` means the whole disk is readable; otherwise the sorted roots to bind read-only.
    fn readable_roots(&self, rules: &Rules) -> Option<Vec<PathBuf>> {
        if rules.is_full_disk_read() {
            return None;
        }
        let mut roots = std::collections::BTreeSet::new();
        for path in &self.reads {
            if let Some(canonical) = self.fs.canonicalize(path) {
                roots.insert(canonical);
            }
        }
        roots.extend(self.writable.iter().cloned());
        if rules.minimal {
            roots.extend(
                MINIMAL_READ_ROOTS
                    .iter()
                    .map(PathBuf::from)
                    .filter(|p| self.fs.exists(p)),
            );
        }
        if roots.contains(Path::new("/")) {
            return None;
        }
        Some(roots.into_iter().collect())
    }

    fn mask_daemon_if_exposed(&mut self, mount: &Path) {
        let daemon = self.opts.daemon_dir.clone();
        if is_strictly_under(&daemon, mount) {
            if self.opts.private_codex_dirs {
                self.push(["--perms", "0700"]);
                self.push_path("--tmpfs", &daemon);
            } else {
                self.push(["--perms", "000"]);
                self.push_path("--tmpfs", &daemon);
                self.push_path("--remount-ro", &daemon);
            }
        }
    }

    fn deepest_writable(&self, path: &Path) -> Option<PathBuf> {
        self.writable
            .iter()
            .filter(|w| path.starts_with(w))
            .max_by_key(|w| depth(w))
            .cloned()
    }

    /// The read-only paths inside `root` (reference §5.4.3): protected names that exist, explicit
    /// non-write entries, then protected names that are missing; stable-sorted by depth.
    fn read_only_subpaths(&self, root: &Path) -> Vec<PathBuf> {
        let protected: Vec<PathBuf> = PROTECTED_NAMES
            .iter()
            .map(|n| root.join(n))
            .filter(|p| !self.explicit.contains(p))
            .collect();
        let present = |p: &PathBuf| {
            self.fs.lstat(p).is_some() || (root == self.policy_cwd && p.ends_with(".codex"))
        };
        let mut list: Vec<PathBuf> = protected.iter().filter(|p| present(p)).cloned().collect();
        for path in &self.reads {
            if is_strictly_under(path, root) && self.deepest_writable(path).as_deref() == Some(root)
            {
                list.push(path.clone());
            }
        }
        for gitdir in self
            .writable
            .iter()
            .filter_map(|w| resolved_gitdir(w, self.fs))
        {
            if self.deepest_writable(&gitdir).as_deref() == Some(root) && !list.contains(&gitdir) {
                list.push(gitdir);
            }
        }
        list.extend(protected.iter().filter(|p| !present(p)).cloned());
        list.sort_by_key(|p| depth(p));
        list
    }

    fn emit_read_only(&mut self, root: &Path, path: &Path) -> Result<(), BwrapPlanError> {
        check_no_symlink_below(root, path, "read-only", self.fs)?;
        let is_protected = path.parent() == Some(root)
            && path
                .file_name()
                .is_some_and(|n| PROTECTED_NAMES.iter().any(|p| n == *p));
        let empty = self.opts.empty_file.clone();
        match self.fs.lstat(path) {
            Some(meta) if is_protected && meta.is_dir() && dir_is_empty(path, self.fs) => {
                self.push_protected_tmpfs(path, true);
            }
            Some(meta) if is_protected && meta.is_file() && meta.len == 0 => {
                self.push_bind_from("--ro-bind", &empty, path);
                self.add_target(path, TargetKind::File, true);
            }
            Some(_) => self.push_bind("--ro-bind", path),
            // Around Codex itself, a missing `.codex` becomes an empty read-only file rather than
            // an empty directory: Codex warns about an untrusted project config for a directory
            // on every start, and a file stops the task creating one just as well.
            None if is_protected && self.opts.private_codex_dirs && path.ends_with(".codex") => {
                self.push_empty_placeholder(path)
            }
            None if is_protected => self.push_protected_tmpfs(path, false),
            None => self.push_empty_placeholder(&first_missing_component(path, self.fs)),
        }
        Ok(())
    }

    fn push_protected_tmpfs(&mut self, path: &Path, preexisting: bool) {
        self.push(["--perms", "555"]);
        self.push_path("--tmpfs", path);
        self.push_path("--remount-ro", path);
        self.add_target(path, TargetKind::Dir, preexisting);
    }

    fn emit_deny(&mut self, path: &Path) -> Result<(), BwrapPlanError> {
        if let Some(root) = self.deepest_writable(path) {
            check_no_symlink_below(&root, path, "deny-read", self.fs)?;
        }
        let writable_below: Vec<PathBuf> = self
            .writable
            .iter()
            .filter(|w| is_strictly_under(w, path))
            .cloned()
            .collect();
        match self.fs.stat(path) {
            Some(meta) if meta.is_dir() => {
                self.push([
                    "--perms",
                    if writable_below.is_empty() {
                        "000"
                    } else {
                        "111"
                    },
                ]);
                self.push_path("--tmpfs", path);
                for w in &writable_below {
                    self.push_intermediate_dirs(path, w);
                }
                self.push_path("--remount-ro", path);
            }
            Some(_) => {
                let denied = self.opts.denied_file.clone();
                self.push_bind_from("--ro-bind", &denied, path);
            }
            None => {
                let first = first_missing_component(path, self.fs);
                // Only a path a writable root could create needs a placeholder.
                if self.deepest_writable(&first).is_some() {
                    self.push_empty_placeholder(&first);
                }
            }
        }
        Ok(())
    }

    /// `--dir` for each directory from just below `ancestor` down to `target`.
    fn push_intermediate_dirs(&mut self, ancestor: &Path, target: &Path) {
        let Ok(rest) = target.strip_prefix(ancestor) else {
            return;
        };
        let mut current = ancestor.to_path_buf();
        for component in rest.components() {
            current.push(component);
            let c = current.clone();
            self.push_path("--dir", &c);
        }
    }

    fn add_target(&mut self, path: &Path, kind: TargetKind, preexisting: bool) {
        if !self.synthetic.iter().any(|t| t.path == path) {
            self.synthetic.push(SyntheticTarget {
                path: path.to_path_buf(),
                kind,
                preexisting,
            });
        }
    }
}

fn is_strictly_under(path: &Path, ancestor: &Path) -> bool {
    path != ancestor && path.starts_with(ancestor)
}

/// A directory that vanished since it was seen counts as empty: it was another launch's
/// placeholder, released meanwhile, and the tmpfs mask bubblewrap recreates it for is as strict.
fn dir_is_empty(path: &Path, fs: &dyn FsView) -> bool {
    match fs.read_dir(path) {
        Ok(entries) => entries.is_empty(),
        Err(e) => e.kind() == std::io::ErrorKind::NotFound,
    }
}

/// The shallowest missing path on the way down to `path`.
fn first_missing_component(path: &Path, fs: &dyn FsView) -> PathBuf {
    let mut current = PathBuf::new();
    for component in path.components() {
        current.push(component);
        if fs.lstat(&current).is_none() {
            return current;
        }
    }
    current
}

/// A symlink below a writable root could be repointed by the sandboxed command after we bind its
/// target, so any path crossing one cannot be protected: refuse.
fn check_no_symlink_below(
    root: &Path,
    path: &Path,
    kind: &'static str,
    fs: &dyn FsView,
) -> Result<(), BwrapPlanError> {
    let Ok(rest) = path.strip_prefix(root) else {
        return Ok(());
    };
    let mut current = root.to_path_buf();
    for component in rest.components() {
        current.push(component);
        match fs.lstat(&current) {
            Some(meta) if meta.is_symlink() => {
                return Err(BwrapPlanError::CrossesWritableSymlink {
                    kind,
                    path: path.to_path_buf(),
                    symlink: current,
                })
            }
            Some(_) => {}
            None => break,
        }
    }
    Ok(())
}

/// For a worktree or submodule, `.git` is a file `gitdir: <path>`; the directory it names holds the
/// refs and hooks and is protected like `.git` itself.
pub fn resolved_gitdir(root: &Path, fs: &dyn FsView) -> Option<PathBuf> {
    let pointer = root.join(".git");
    let meta = fs.lstat(&pointer)?;
    if !meta.is_file() || meta.len > 4096 {
        return None;
    }
    let text = fs.read_small(&pointer, 4096)?;
    let target = text.lines().next()?.strip_prefix("gitdir:")?.trim();
    fs.canonicalize(&root.join(target))
}

#[cfg(test)]
#[path = "bwrap_golden_tests.rs"]
mod golden_tests;
