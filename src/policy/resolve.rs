//! Turns a permission profile into concrete paths (reference codex-linux-sandbox.md §3.5): special
//! paths resolved against the policy cwd and `$TMPDIR`, one effective access per path, and the
//! predicates that decide whether a filesystem sandbox is needed at all.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::profile::{
    Access, Entry, FsPath, ManagedFileSystem, Network, PermissionProfile, Special,
};

/// Read roots that `minimal` stands for; each is used only if it exists.
pub const MINIMAL_READ_ROOTS: [&str; 8] = [
    "/bin",
    "/sbin",
    "/usr",
    "/etc",
    "/lib",
    "/lib64",
    "/nix/store",
    "/run/current-system/sw",
];

/// Inputs that special paths depend on.
#[derive(Debug, Clone)]
pub struct ResolveContext {
    /// `--sandbox-policy-cwd`, absolute.
    pub policy_cwd: PathBuf,
    /// `$TMPDIR` as the helper saw it.
    pub tmpdir: Option<PathBuf>,
}

/// A profile with every path made concrete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Policy {
    pub file_system: FileSystem,
    pub network: Network,
}

/// The filesystem side of a resolved policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileSystem {
    /// Nothing is restricted (`unrestricted`, `disabled`, `external`).
    Unrestricted,
    Restricted(Rules),
}

/// Concrete filesystem rules.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Rules {
    /// Entries in profile order, paths absolute and lexically normalised.
    pub entries: Vec<(PathBuf, Access)>,
    /// Absolute deny globs.
    pub deny_globs: Vec<String>,
    /// `minimal` was present: the platform read roots are readable.
    pub minimal: bool,
    pub glob_scan_max_depth: Option<usize>,
}

impl Policy {
    /// Resolves `profile` against `ctx`.
    pub fn resolve(profile: &PermissionProfile, ctx: &ResolveContext) -> Self {
        let file_system = match profile {
            PermissionProfile::Managed {
                file_system:
                    ManagedFileSystem::Restricted {
                        entries,
                        glob_scan_max_depth,
                    },
                ..
            } => FileSystem::Restricted(Rules::resolve(entries, *glob_scan_max_depth, ctx)),
            _ => FileSystem::Unrestricted,
        };
        Self {
            file_system,
            network: profile.network(),
        }
    }

    /// Writes are allowed everywhere and nothing is narrowed, so no filesystem sandbox is needed.
    pub fn is_full_disk_write(&self) -> bool {
        match &self.file_system {
            FileSystem::Unrestricted => true,
            FileSystem::Restricted(rules) => rules.is_full_disk_write(),
        }
    }

    pub fn network_restricted(&self) -> bool {
        self.network == Network::Restricted
    }

    /// Where a task under this policy may write: its write entries, or `/` when the whole disk is
    /// writable. What lies below them is what the launcher must not trust afterwards.
    pub fn writable_roots(&self) -> Vec<PathBuf> {
        match &self.file_system {
            FileSystem::Restricted(rules) if !self.is_full_disk_write() => {
                rules.paths_with(Access::Write)
            }
            _ => vec![PathBuf::from("/")],
        }
    }
}

impl Rules {
    fn resolve(
        entries: &[Entry],
        depth: Option<std::num::NonZeroUsize>,
        ctx: &ResolveContext,
    ) -> Self {
        let mut rules = Rules {
            glob_scan_max_depth: depth.map(|d| d.get()),
            ..Rules::default()
        };
        for entry in entries {
            match &entry.path {
                FsPath::Path { path } => rules.entries.push((normalize(path), entry.access)),
                FsPath::GlobPattern { pattern } => {
                    // Only deny globs mean anything on Linux; read/write globs grant nothing extra.
                    if entry.access == Access::Deny {
                        let absolute = if Path::new(pattern).is_absolute() {
                            pattern.clone()
                        } else {
                            format!("{}/{}", ctx.policy_cwd.display(), pattern)
                        };
                        rules.deny_globs.push(absolute);
                    }
                }
                FsPath::Special { value } => match value {
                    Special::Root => rules.entries.push((PathBuf::from("/"), entry.access)),
                    Special::Minimal => rules.minimal = true,
                    Special::ProjectRoots { subpath } => {
                        let path = match subpath {
                            Some(sub) => ctx.policy_cwd.join(sub),
                            None => ctx.policy_cwd.clone(),
                        };
                        rules.entries.push((normalize(&path), entry.access));
                    }
                    Special::Tmpdir => {
                        if let Some(tmp) = ctx.tmpdir.as_ref().filter(|t| t.is_absolute()) {
                            rules.entries.push((normalize(tmp), entry.access));
                        }
                    }
                    Special::SlashTmp => rules.entries.push((PathBuf::from("/tmp"), entry.access)),
                    Special::Unknown { .. } => {}
                },
            }
        }
        rules
    }

    /// One access per distinct path: deny beats write beats read on the same path.
    pub fn effective(&self) -> BTreeMap<&Path, Access> {
        let mut map: BTreeMap<&Path, Access> = BTreeMap::new();
        for (path, access) in &self.entries {
            map.entry(path.as_path())
                .and_modify(|a| *a = (*a).max(*access))
                .or_insert(*access);
        }
        map
    }

    /// Paths whose effective access is `access`, in first-appearance order, without duplicates.
    pub fn paths_with(&self, access: Access) -> Vec<PathBuf> {
        let effective = self.effective();
        let mut seen = std::collections::BTreeSet::new();
        self.entries
            .iter()
            .filter(|(p, _)| effective.get(p.as_path()) == Some(&access) && seen.insert(p.clone()))
            .map(|(p, _)| p.clone())
            .collect()
    }

    /// `/` is readable (a root entry with read or write).
    pub fn is_full_disk_read(&self) -> bool {
        self.entries
            .iter()
            .any(|(p, a)| p == Path::new("/") && *a != Access::Deny)
    }

    /// `/` is writable and no entry narrows it (reference §3.5).
    pub fn is_full_disk_write(&self) -> bool {
        let root_write = self
            .entries
            .iter()
            .any(|(p, a)| p == Path::new("/") && *a == Access::Write);
        let narrowing = self.entries.iter().any(|(p, a)| match a {
            Access::Read => p != Path::new("/"),
            Access::Deny => true,
            Access::Write => false,
        });
        root_write && !narrowing && self.deny_globs.is_empty()
    }

    /// The access a path gets: the deepest entry covering it wins.
    pub fn access_for(&self, path: &Path) -> Option<Access> {
        self.effective()
            .into_iter()
            .filter(|(root, _)| path.starts_with(root))
            .max_by_key(|(root, _)| depth(root))
            .map(|(_, access)| access)
    }
}

/// Number of normal components (`/` is 0, `/a/b` is 2).
pub fn depth(path: &Path) -> usize {
    path.components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .count()
}

/// Lexical normalisation: drops `.` and trailing slashes, applies `..` without touching the disk.
pub fn normalize(path: &Path) -> PathBuf {
    let mut out = PathBuf::from("/");
    for component in path.components() {
        match component {
            Component::Normal(c) => out.push(c),
            Component::ParentDir => {
                out.pop();
            }
            Component::RootDir | Component::CurDir | Component::Prefix(_) => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> ResolveContext {
        ResolveContext {
            policy_cwd: PathBuf::from("/ws"),
            tmpdir: Some(PathBuf::from("/t")),
        }
    }

    fn rules(json_entries: &str) -> Rules {
        let profile = PermissionProfile::parse(&format!(
            r#"{{"type":"managed","file_system":{{"type":"restricted","entries":[{json_entries}]}},"network":"restricted"}}"#
        ))
        .unwrap();
        match Policy::resolve(&profile, &ctx()).file_system {
            FileSystem::Restricted(r) => r,
            FileSystem::Unrestricted => unreachable!(),
        }
    }

    const ROOT_READ: &str =
        r#"{"path":{"type":"special","value":{"kind":"root"}},"access":"read"}"#;
    const ROOT_WRITE: &str =
        r#"{"path":{"type":"special","value":{"kind":"root"}},"access":"write"}"#;

    #[test]
    fn specials_resolve_against_cwd_and_tmpdir() {
        let r = rules(&format!(
            r#"{ROOT_READ},{{"path":{{"type":"special","value":{{"kind":"project_roots","subpath":"a/./b"}}}},"access":"write"}},{{"path":{{"type":"special","value":{{"kind":"tmpdir"}}}},"access":"write"}},{{"path":{{"type":"special","value":{{"kind":"slash_tmp"}}}},"access":"write"}},{{"path":{{"type":"glob_pattern","pattern":"**/*.env"}},"access":"deny"}}"#
        ));
        assert_eq!(
            r.paths_with(Access::Write),
            vec![PathBuf::from("/ws/a/b"), "/t".into(), "/tmp".into()]
        );
        assert_eq!(r.deny_globs, vec!["/ws/**/*.env".to_string()]);
        assert!(r.is_full_disk_read());
    }

    #[test]
    fn deny_beats_write_beats_read_on_the_same_path() {
        let r = rules(&format!(
            r#"{ROOT_READ},{{"path":{{"type":"path","path":"/ws/sub"}},"access":"write"}},{{"path":{{"type":"path","path":"/ws/sub"}},"access":"none"}},{{"path":{{"type":"path","path":"/ws"}},"access":"read"}},{{"path":{{"type":"path","path":"/ws"}},"access":"write"}}"#
        ));
        assert_eq!(r.access_for(Path::new("/ws/sub/x")), Some(Access::Deny));
        assert_eq!(r.access_for(Path::new("/ws/conf")), Some(Access::Write));
        assert_eq!(r.access_for(Path::new("/etc")), Some(Access::Read));
    }

    #[test]
    fn full_disk_write_only_without_narrowing_entries() {
        assert!(rules(ROOT_WRITE).is_full_disk_write());
        assert!(rules(&format!("{ROOT_WRITE},{ROOT_READ}")).is_full_disk_write());
        assert!(rules(&format!(
            r#"{ROOT_WRITE},{{"path":{{"type":"path","path":"/x"}},"access":"write"}}"#
        ))
        .is_full_disk_write());
        assert!(!rules(&format!(
            r#"{ROOT_WRITE},{{"path":{{"type":"path","path":"/x"}},"access":"read"}}"#
        ))
        .is_full_disk_write());
        assert!(!rules(&format!(
            r#"{ROOT_WRITE},{{"path":{{"type":"path","path":"/x"}},"access":"deny"}}"#
        ))
        .is_full_disk_write());
        assert!(!rules(&format!(
            r#"{ROOT_WRITE},{{"path":{{"type":"glob_pattern","pattern":"*.env"}},"access":"deny"}}"#
        ))
        .is_full_disk_write());
        assert!(!rules(ROOT_READ).is_full_disk_write());
    }

    #[test]
    fn relative_tmpdir_is_ignored() {
        let profile = PermissionProfile::parse(r#"{"type":"managed","file_system":{"type":"restricted","entries":[{"path":{"type":"special","value":{"kind":"tmpdir"}},"access":"write"}]},"network":"enabled"}"#).unwrap();
        let ctx = ResolveContext {
            policy_cwd: "/ws".into(),
            tmpdir: Some("rel/x".into()),
        };
        let FileSystem::Restricted(r) = Policy::resolve(&profile, &ctx).file_system else {
            unreachable!()
        };
        assert!(r.entries.is_empty());
    }
}
