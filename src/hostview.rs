//! What planning may know about the host, gathered by effectful code into one value so that
//! `plan::plan_launch` stays a pure function of the request and this view (DESIGN §2): the
//! probes' verdicts, the caller's ids and paths, the few environment variables a plan depends on,
//! and the filesystem as the planners see it, through [`FsView`].
//!
//! On a real launch the filesystem view reads the disk (each question once); golden tests build a
//! [`FixtureFs`] instead, so their snapshots are the same on any host.

use std::cell::RefCell;
use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::path::{Component, Path, PathBuf};

use crate::exit::Failure;
use crate::plan::SandboxRequest;
use crate::policy::FileSystem;
use crate::probe::bwrap::{self as bwrap_probe, Launcher};
use crate::probe::cache::CacheDir;
use crate::probe::host::{self, HostFacts};
use crate::probe::proc_mount;
use crate::select::Backend;

/// The kind of a filesystem entry, as `lstat` would say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Kind {
    Dir,
    File,
    Symlink,
    Other,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub kind: Kind,
    pub len: u64,
}

impl Meta {
    pub fn is_dir(&self) -> bool {
        self.kind == Kind::Dir
    }
    pub fn is_file(&self) -> bool {
        self.kind == Kind::File
    }
    pub fn is_symlink(&self) -> bool {
        self.kind == Kind::Symlink
    }
}

/// The questions planners ask of the filesystem. Nothing here changes it.
pub trait FsView {
    /// The entry itself, not following a final symlink.
    fn lstat(&self, path: &Path) -> Option<Meta>;
    /// Where a path leads, symlinks resolved; `None` when it does not exist.
    fn canonicalize(&self, path: &Path) -> Option<PathBuf>;
    /// A small file's text (at most `max` bytes), following symlinks.
    fn read_small(&self, path: &Path, max: u64) -> Option<String>;
    /// A directory's entries (name and kind, not following symlinks), following symlinks to it.
    fn read_dir(&self, path: &Path) -> std::io::Result<Vec<(OsString, Kind)>>;

    /// The entry a path leads to, following symlinks.
    fn stat(&self, path: &Path) -> Option<Meta> {
        self.lstat(&self.canonicalize(path)?)
    }
    fn exists(&self, path: &Path) -> bool {
        self.canonicalize(path).is_some()
    }
    fn is_dir(&self, path: &Path) -> bool {
        self.stat(path).is_some_and(|m| m.is_dir())
    }
}

/// The real filesystem, each answer remembered for the rest of the plan so that one launch sees
/// one consistent picture and asks the kernel once. Directories the launch itself will create
/// before exec (the per-task home, the shared `sessions/`) are seen as if they existed, so the
/// plan is made, and can be printed, before anything is created.
#[derive(Default)]
pub struct LiveFs {
    lstat: RefCell<HashMap<PathBuf, Option<Meta>>>,
    canonical: RefCell<HashMap<PathBuf, Option<PathBuf>>>,
    planned: Vec<PathBuf>,
}

impl LiveFs {
    /// A view in which `dirs` (absolute) and their parents exist as directories.
    pub fn with_planned_dirs(dirs: Vec<PathBuf>) -> Self {
        Self {
            planned: dirs,
            ..Self::default()
        }
    }

    fn is_planned(&self, path: &Path) -> bool {
        self.planned.iter().any(|d| d.starts_with(path))
    }
}

fn kind_of(t: std::fs::FileType) -> Kind {
    if t.is_symlink() {
        Kind::Symlink
    } else if t.is_dir() {
        Kind::Dir
    } else if t.is_file() {
        Kind::File
    } else {
        Kind::Other
    }
}

fn meta_of(m: &std::fs::Metadata) -> Meta {
    Meta {
        kind: kind_of(m.file_type()),
        len: m.len(),
    }
}

impl FsView for LiveFs {
    fn lstat(&self, path: &Path) -> Option<Meta> {
        if let Some(hit) = self.lstat.borrow().get(path) {
            return *hit;
        }
        let found = std::fs::symlink_metadata(path)
            .ok()
            .map(|m| meta_of(&m))
            .or_else(|| {
                self.is_planned(path).then_some(Meta {
                    kind: Kind::Dir,
                    len: 0,
                })
            });
        self.lstat.borrow_mut().insert(path.to_path_buf(), found);
        found
    }

    fn canonicalize(&self, path: &Path) -> Option<PathBuf> {
        if let Some(hit) = self.canonical.borrow().get(path) {
            return hit.clone();
        }
        let found = crate::fs::canonicalize(path).ok().or_else(|| {
            // A planned dir lands under its nearest existing ancestor, symlinks resolved.
            if !self.is_planned(path) {
                return None;
            }
            let (base, rest) = path.ancestors().skip(1).find_map(|a| {
                Some((crate::fs::canonicalize(a).ok()?, path.strip_prefix(a).ok()?))
            })?;
            Some(crate::policy::resolve::normalize(&base.join(rest)))
        });
        self.canonical
            .borrow_mut()
            .insert(path.to_path_buf(), found.clone());
        found
    }

    fn read_small(&self, path: &Path, max: u64) -> Option<String> {
        use std::io::Read;
        let mut text = String::new();
        std::fs::File::open(path)
            .ok()?
            .take(max)
            .read_to_string(&mut text)
            .ok()?;
        Some(text)
    }

    fn read_dir(&self, path: &Path) -> std::io::Result<Vec<(OsString, Kind)>> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            out.push((entry.file_name(), kind_of(entry.file_type()?)));
        }
        Ok(out)
    }
}

/// An in-memory host for golden tests: directories, files with content, and symlinks.
#[derive(Debug, Clone, Default)]
pub struct FixtureFs {
    nodes: BTreeMap<PathBuf, Node>,
}

#[derive(Debug, Clone)]
enum Node {
    Dir,
    File(String),
    Symlink(PathBuf),
}

impl FixtureFs {
    /// A Debian-like host: merged /usr (with /lib64), /etc, /tmp, /dev, /proc.
    pub fn debian_like() -> Self {
        Self::new()
            .dirs(&[
                "/usr/bin",
                "/usr/lib",
                "/usr/lib64",
                "/usr/sbin",
                "/etc",
                "/tmp",
                "/dev",
                "/proc",
            ])
            .symlink("/bin", "usr/bin")
            .symlink("/lib", "usr/lib")
            .symlink("/lib64", "usr/lib64")
            .symlink("/sbin", "usr/sbin")
    }

    /// A filesystem with only `/`.
    pub fn new() -> Self {
        let mut fs = Self::default();
        fs.nodes.insert(PathBuf::from("/"), Node::Dir);
        fs
    }

    fn parents(&mut self, path: &Path) {
        for ancestor in path.ancestors().skip(1) {
            self.nodes
                .entry(ancestor.to_path_buf())
                .or_insert(Node::Dir);
        }
    }

    /// Adds directories (and their parents).
    pub fn dirs(mut self, paths: &[&str]) -> Self {
        for p in paths {
            self.add_dir(Path::new(p));
        }
        self
    }

    pub fn file(mut self, path: &str, text: &str) -> Self {
        self.add_file(Path::new(path), text);
        self
    }

    pub fn symlink(mut self, path: &str, target: &str) -> Self {
        self.add_symlink(Path::new(path), Path::new(target));
        self
    }

    pub fn add_dir(&mut self, path: &Path) {
        self.parents(path);
        self.nodes.insert(path.to_path_buf(), Node::Dir);
    }

    pub fn add_file(&mut self, path: &Path, text: &str) {
        self.parents(path);
        self.nodes
            .insert(path.to_path_buf(), Node::File(text.into()));
    }

    pub fn add_symlink(&mut self, path: &Path, target: &Path) {
        self.parents(path);
        self.nodes
            .insert(path.to_path_buf(), Node::Symlink(target.to_path_buf()));
    }

    /// Resolves `path` component by component, following symlinks (at most 40 of them).
    fn resolve(&self, path: &Path) -> Option<PathBuf> {
        use std::collections::VecDeque;
        fn queue(p: &Path, rest: &mut VecDeque<OsString>) {
            for c in p.components().rev() {
                match c {
                    Component::Normal(n) => rest.push_front(n.to_os_string()),
                    Component::ParentDir => rest.push_front("..".into()),
                    _ => {}
                }
            }
        }
        let mut rest = VecDeque::new();
        queue(path, &mut rest);
        let mut current = PathBuf::from("/");
        let mut hops = 0;
        while let Some(part) = rest.pop_front() {
            if part == ".." {
                current.pop();
                continue;
            }
            let next = current.join(&part);
            match self.nodes.get(&next)? {
                Node::Symlink(target) => {
                    hops += 1;
                    if hops > 40 {
                        return None;
                    }
                    if target.is_absolute() {
                        current = PathBuf::from("/");
                    }
                    queue(target, &mut rest);
                }
                _ => current = next,
            }
        }
        Some(current)
    }
}

impl FsView for FixtureFs {
    fn lstat(&self, path: &Path) -> Option<Meta> {
        let parent = path
            .parent()
            .map_or(Some(PathBuf::from("/")), |p| self.resolve(p))?;
        let real = match path.file_name() {
            Some(name) => parent.join(name),
            None => parent,
        };
        Some(match self.nodes.get(&real)? {
            Node::Dir => Meta {
                kind: Kind::Dir,
                len: 4096,
            },
            Node::File(text) => Meta {
                kind: Kind::File,
                len: text.len() as u64,
            },
            Node::Symlink(_) => Meta {
                kind: Kind::Symlink,
                len: 0,
            },
        })
    }

    fn canonicalize(&self, path: &Path) -> Option<PathBuf> {
        self.resolve(path)
    }

    fn read_small(&self, path: &Path, max: u64) -> Option<String> {
        match self.nodes.get(&self.resolve(path)?)? {
            Node::File(text) => Some(text.chars().take(max as usize).collect()),
            _ => None,
        }
    }

    fn read_dir(&self, path: &Path) -> std::io::Result<Vec<(OsString, Kind)>> {
        let dir = self
            .resolve(path)
            .filter(|d| matches!(self.nodes.get(d), Some(Node::Dir)))
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::NotFound))?;
        Ok(self
            .nodes
            .iter()
            .filter(|(p, _)| p.parent() == Some(dir.as_path()) && **p != dir)
            .map(|(p, node)| {
                let kind = match node {
                    Node::Dir => Kind::Dir,
                    Node::File(_) => Kind::File,
                    Node::Symlink(_) => Kind::Symlink,
                };
                (p.file_name().unwrap_or_default().to_os_string(), kind)
            })
            .collect())
    }
}

/// Everything a plan may depend on besides the request.
pub struct HostView<'fs> {
    pub facts: HostFacts,
    pub uid: u32,
    /// The caller's working directory.
    pub cwd: PathBuf,
    /// This executable, canonical (what bubblewrap starts as the inner stage), or why unknown.
    pub current_exe: Result<PathBuf, String>,
    /// `$TMPDIR` as the caller set it.
    pub tmpdir: Option<OsString>,
    /// The environment variables a macOS plan reads (`CODEX_SANDBOX`, the proxy variables).
    pub env: Vec<(String, String)>,
    /// The system bubblewrap the ladder may use, or why not (not probed when unreachable).
    pub system_bwrap: Result<Launcher, String>,
    /// Whether bubblewrap may mount a fresh `/proc` here, for the launcher the ladder will use.
    pub proc_mount_allowed: bool,
    /// The launcher's own state and cache directories that exist (canonical): no plan may leave
    /// them writable, since the next launch reads them.
    pub launcher_state: Vec<PathBuf>,
    pub fs: &'fs dyn FsView,
}

impl HostView<'_> {
    /// The temp dir as Codex's helper sees it: `$TMPDIR` when set, else `/tmp`.
    pub fn temp_dir(&self) -> Result<PathBuf, String> {
        match self.tmpdir.as_ref().filter(|t| !t.is_empty()) {
            None => Ok(PathBuf::from("/tmp")),
            Some(t) => {
                let path = PathBuf::from(t);
                if path.is_absolute() && self.fs.is_dir(&path) {
                    Ok(path)
                } else {
                    Err(format!(
                        "TMPDIR={}: must be an absolute, existing directory",
                        path.display()
                    ))
                }
            }
        }
    }
}

/// Gathers the view of this host that planning `req` needs: probes only what the ladder can
/// reach (a Landlock host never walks PATH for bubblewrap; a bwrap plan probes `/proc` for the
/// bubblewrap it will use).
pub fn gather<'fs>(req: &SandboxRequest, fs: &'fs LiveFs) -> Result<HostView<'fs>, Failure> {
    // A cache inside a writable root of this launch is neither read nor written.
    let may_use_bwrap = req.may_use_bwrap();
    // The cache dir is resolved (against the writable roots) only when a probe may use it.
    let cache = may_use_bwrap.then(|| CacheDir::for_policy(&req.policy));
    let facts = host::probe_for(cache.as_ref());
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let current_exe = std::env::current_exe()
        .and_then(|p| crate::fs::canonicalize(&p))
        .map_err(|e| format!("cannot locate this executable: {e}"));
    let env = std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect();
    let restricted = match &req.policy.file_system {
        FileSystem::Restricted(rules) if !req.policy.is_full_disk_write() => Some(rules),
        _ => None,
    };
    let bwrap_reachable = may_use_bwrap && facts.userns.available;
    let mut system_bwrap = Err("not probed".to_string());
    let mut proc_mount_allowed = true;
    if let (true, Some(rules)) = (bwrap_reachable, restricted) {
        let writable = crate::backend::bwrap::writable_roots(rules, fs).unwrap_or_default();
        let cache = CacheDir::for_launch(&writable);
        if req.backend.allows(Backend::BwrapSystem) {
            system_bwrap = bwrap_probe::system_bwrap(&cwd, &writable, &cache);
        }
        if let Some(launcher) = crate::select::bwrap_launcher(req.backend, &system_bwrap) {
            proc_mount_allowed =
                proc_mount::proc_mount_allowed(&launcher, req.policy.network_restricted(), &cache);
        }
    }
    Ok(HostView {
        facts,
        uid: nix::unistd::getuid().as_raw(),
        cwd,
        current_exe,
        tmpdir: std::env::var_os("TMPDIR"),
        env,
        system_bwrap,
        proc_mount_allowed,
        launcher_state: launcher_state_dirs()
            .iter()
            .filter_map(|d| fs.canonicalize(d))
            .collect(),
        fs,
    })
}

/// `$XDG_CACHE_HOME/codex-launcher` and `$XDG_STATE_HOME/codex-launcher` (with the `~/.cache` and
/// `~/.local/state` defaults): the probe cache, the per-task locks and metadata, and the homes.
pub fn launcher_state_dirs() -> Vec<PathBuf> {
    let var = |name: &str| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    let home = var("HOME");
    let cache = var("XDG_CACHE_HOME").or_else(|| home.as_ref().map(|h| h.join(".cache")));
    let state = var("XDG_STATE_HOME").or_else(|| home.as_ref().map(|h| h.join(".local/state")));
    [cache, state]
        .into_iter()
        .flatten()
        .map(|base| base.join("codex-launcher"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixture_resolves_symlinks_like_the_kernel() {
        let fs = FixtureFs::new()
            .dirs(&["/usr/bin", "/home/u/ws"])
            .symlink("/bin", "usr/bin")
            .symlink("/home/u/link", "/home/u/ws")
            .file("/home/u/ws/.git", "gitdir: ../real\n");
        assert_eq!(fs.canonicalize(Path::new("/bin")), Some("/usr/bin".into()));
        assert_eq!(
            fs.canonicalize(Path::new("/home/u/link/.git")),
            Some("/home/u/ws/.git".into())
        );
        assert!(fs.lstat(Path::new("/bin")).unwrap().is_symlink());
        assert!(fs.stat(Path::new("/bin")).unwrap().is_dir());
        assert_eq!(fs.canonicalize(Path::new("/missing")), None);
        let names: Vec<_> = fs.read_dir(Path::new("/home/u")).unwrap();
        assert_eq!(names.len(), 2);
    }
}
