//! `codex-launcher install`: symlinks named for each personality, pointing at this binary, and
//! the generated shell completions and manual pages in the XDG data dir.
//!
//! Planning is pure (from what is on disk now to a list of actions); applying is the only effect.
//! Nothing is changed unless every link and file can be made: a link replaces only a symlink, and
//! a completion or page replaces only a file that carries our marker
//! ([`crate::completions::MARKER`]), so nothing the user wrote is ever overwritten.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::arg0::LINKED_NAMES;
use crate::exit::Failure;

/// What currently sits where a link should go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Existing {
    Missing,
    Symlink(PathBuf),
    /// A regular file, directory or anything else that is not ours to replace.
    NotASymlink,
}

/// One step of an install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkAction {
    Create {
        link: PathBuf,
        target: PathBuf,
    },
    Replace {
        link: PathBuf,
        old_target: PathBuf,
        target: PathBuf,
    },
    AlreadyCorrect {
        link: PathBuf,
    },
}

impl fmt::Display for LinkAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Create { link, target } => {
                write!(f, "create {} -> {}", link.display(), target.display())
            }
            Self::Replace {
                link,
                old_target,
                target,
            } => write!(
                f,
                "replace {} -> {} (was -> {})",
                link.display(),
                target.display(),
                old_target.display()
            ),
            Self::AlreadyCorrect { link } => write!(f, "keep {} (already correct)", link.display()),
        }
    }
}

/// Decides the actions for `bin_dir`, given what each link path holds now. Refuses the whole
/// install if any path holds something that is not a symlink.
pub fn plan(
    bin_dir: &Path,
    target: &Path,
    existing: impl Fn(&Path) -> Existing,
) -> Result<Vec<LinkAction>, Failure> {
    LINKED_NAMES
        .iter()
        .map(|name| {
            let link = bin_dir.join(name);
            match existing(&link) {
                Existing::Missing => Ok(LinkAction::Create { link, target: target.to_path_buf() }),
                Existing::Symlink(old) if old == target => Ok(LinkAction::AlreadyCorrect { link }),
                Existing::Symlink(old_target) => Ok(LinkAction::Replace {
                    link,
                    old_target,
                    target: target.to_path_buf(),
                }),
                Existing::NotASymlink => Err(Failure::refused(format!(
                    "refusing to replace {}: it exists and is not a symlink (move it away and retry)",
                    link.display()
                ))),
            }
        })
        .collect()
}

/// Reads what is at `path` without following a final symlink.
pub fn inspect(path: &Path) -> Existing {
    match std::fs::symlink_metadata(path) {
        Err(_) => Existing::Missing,
        Ok(meta) if meta.file_type().is_symlink() => match std::fs::read_link(path) {
            Ok(target) => Existing::Symlink(target),
            Err(_) => Existing::NotASymlink,
        },
        Ok(_) => Existing::NotASymlink,
    }
}

/// What currently sits where a generated file should go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExistingFile {
    Missing,
    /// A regular file we generated earlier, with its content.
    Ours(Vec<u8>),
    /// Anything else: a file the user wrote, a symlink, a directory.
    Foreign,
}

/// One generated file (completion script or manual page) of an install.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileAction {
    Write { path: PathBuf, bytes: Vec<u8> },
    Update { path: PathBuf, bytes: Vec<u8> },
    Current { path: PathBuf },
}

impl fmt::Display for FileAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Write { path, .. } => write!(f, "write {}", path.display()),
            Self::Update { path, .. } => write!(f, "update {}", path.display()),
            Self::Current { path } => write!(f, "keep {} (already current)", path.display()),
        }
    }
}

/// Every generated file, as (path relative to the data dir, content).
pub fn generated_files() -> Vec<(String, Vec<u8>)> {
    use crate::completions::{self, Program, Shell};
    let mut out = Vec::new();
    for program in Program::ALL {
        for shell in Shell::ALL {
            out.push((
                shell.data_path(program),
                completions::script(shell, program),
            ));
        }
    }
    for page in completions::man_pages() {
        out.push((page.data_path(), page.roff));
    }
    out
}

/// Decides the file actions under `data_dir`. Refuses the whole install if any path holds
/// something we did not generate.
pub fn plan_files(
    data_dir: &Path,
    files: Vec<(String, Vec<u8>)>,
    existing: impl Fn(&Path) -> ExistingFile,
) -> Result<Vec<FileAction>, Failure> {
    files
        .into_iter()
        .map(|(rel, bytes)| {
            let path = data_dir.join(rel);
            match existing(&path) {
                ExistingFile::Missing => Ok(FileAction::Write { path, bytes }),
                ExistingFile::Ours(old) if old == bytes => Ok(FileAction::Current { path }),
                ExistingFile::Ours(_) => Ok(FileAction::Update { path, bytes }),
                ExistingFile::Foreign => Err(Failure::refused(format!(
                    "refusing to replace {}: codex-launcher did not write it (move it away and retry)",
                    path.display()
                ))),
            }
        })
        .collect()
}

/// Reads what is at `path` without following a final symlink.
pub fn inspect_file(path: &Path) -> ExistingFile {
    match std::fs::symlink_metadata(path) {
        Err(_) => ExistingFile::Missing,
        Ok(meta) if meta.file_type().is_file() => match std::fs::read(path) {
            Ok(bytes) if crate::completions::is_generated(&bytes) => ExistingFile::Ours(bytes),
            _ => ExistingFile::Foreign,
        },
        Ok(_) => ExistingFile::Foreign,
    }
}

/// Writes the files through `fs` (no symlink followed below `data_dir`, atomic replacement),
/// checking each name again first: something that appeared since planning is left alone.
pub fn apply_files(data_dir: &Path, actions: &[FileAction]) -> Result<(), crate::fs::FsError> {
    let anchor = crate::fs::Dir::anchor_creating(data_dir)?;
    for action in actions {
        let (FileAction::Write { path, bytes } | FileAction::Update { path, bytes }) = action
        else {
            continue;
        };
        let rel = path.strip_prefix(data_dir).unwrap_or(path);
        let (parent, name) = crate::fs::split(rel)?;
        let dir = anchor.create_dirs(parent, 0o755)?;
        let ours = match dir.entry(name)? {
            None => true,
            Some(e) if e.kind == crate::fs::Kind::File => dir
                .read_file(name)?
                .is_some_and(|b| crate::completions::is_generated(&b)),
            Some(_) => false,
        };
        if !ours {
            return Err(crate::fs::FsError::Untrusted {
                path: path.clone(),
                reason: "it appeared during the install and codex-launcher did not write it".into(),
            });
        }
        dir.write_file(name, bytes, 0o644)?;
    }
    Ok(())
}

/// Carries out the actions. A replacement is atomic: a fresh link (under an unpredictable temp
/// name, through `fs`) is renamed over the old one, and only after checking again, without
/// following it, that the name still holds a symlink or nothing.
pub fn apply(actions: &[LinkAction]) -> io::Result<()> {
    for action in actions {
        match action {
            LinkAction::AlreadyCorrect { .. } => {}
            LinkAction::Create { link, target } | LinkAction::Replace { link, target, .. } => {
                let (dir, name) = crate::fs::split(link).map_err(io::Error::other)?;
                let dir = crate::fs::Dir::anchor(dir).map_err(io::Error::other)?;
                let in_the_way = dir
                    .entry(name)
                    .map_err(io::Error::other)?
                    .is_some_and(|e| e.kind != crate::fs::Kind::Symlink);
                if in_the_way {
                    return Err(io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        format!("{} appeared and is not a symlink", link.display()),
                    ));
                }
                dir.symlink(target, name).map_err(io::Error::other)?;
            }
        }
    }
    Ok(())
}

/// Where links go when `--bin-dir` is not given.
pub fn default_bin_dir() -> Result<PathBuf, Failure> {
    home_dir().map(|h| h.join(".local/bin"))
}

/// Where completions and pages go when `--data-dir` is not given: `$XDG_DATA_HOME`, else
/// `~/.local/share` (a relative `XDG_DATA_HOME` is invalid by the XDG spec and ignored).
pub fn default_data_dir() -> Result<PathBuf, Failure> {
    match std::env::var_os("XDG_DATA_HOME").map(PathBuf::from) {
        Some(dir) if dir.is_absolute() => Ok(dir),
        _ => home_dir().map(|h| h.join(".local/share")),
    }
}

fn home_dir() -> Result<PathBuf, Failure> {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|h| h.is_absolute())
        .ok_or_else(|| {
            Failure::usage("HOME is not set to an absolute path; pass --bin-dir and --data-dir")
        })
}

/// Whether `dir` is one of the directories of `path` (a `PATH` value), comparing real paths so
/// `~/.local/bin` reached through a symlink counts.
pub fn on_path(dir: &Path, path: &std::ffi::OsStr) -> bool {
    let real = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    let dir = real(dir);
    std::env::split_paths(path).any(|p| p.is_absolute() && real(&p) == dir)
}

/// `codex-launcher install`: plan everything, print it, then (unless `--dry-run`) do it.
pub fn run(args: crate::cli::InstallArgs) -> crate::exit::Outcome {
    let bin_dir = given_or("--bin-dir", args.bin_dir, default_bin_dir)?;
    let data_dir = given_or("--data-dir", args.data_dir, default_data_dir)?;
    let target = std::env::current_exe()
        .and_then(|p| p.canonicalize())
        .map_err(|e| Failure::refused(format!("cannot locate this executable: {e}")))?;
    let links = plan(&bin_dir, &target, inspect)?;
    let files = plan_files(&data_dir, generated_files(), inspect_file)?;
    let would = if args.dry_run { "would " } else { "" };
    for action in &links {
        println!("{would}{action}");
    }
    // Each file is listed in a dry run; a real install sums them up (29 lines would bury the
    // links and the PATH warning).
    let (mut changed, mut current) = (0, 0);
    for action in &files {
        match action {
            FileAction::Current { .. } => current += 1,
            _ if args.dry_run => println!("would {action}"),
            _ => changed += 1,
        }
    }
    if changed > 0 {
        println!(
            "write {changed} shell completion (bash, zsh, fish) and manual page files under {}",
            data_dir.display()
        );
    }
    if current > 0 {
        println!(
            "{would}keep {current} completion and manual page files under {} (already current)",
            data_dir.display()
        );
    }
    if !args.dry_run {
        // 0755 whatever the umask: a bin dir on PATH that others can write is theirs to run.
        crate::fs::create_dirs_with_mode(&bin_dir, 0o755)
            .map_err(|e| Failure::refused(format!("cannot create {}: {e}", bin_dir.display())))?;
        apply(&links).map_err(|e| {
            Failure::refused(format!("install into {} failed: {e}", bin_dir.display()))
        })?;
        apply_files(&data_dir, &files).map_err(|e| {
            Failure::refused(format!("install into {} failed: {e}", data_dir.display()))
        })?;
    }
    if !on_path(&bin_dir, &std::env::var_os("PATH").unwrap_or_default()) {
        eprintln!(
            "codex-launcher: warning: {dir} is not on PATH, so `codex-run` will not be found by name; \
             add it (export PATH=\"{dir}:$PATH\" in your shell's profile) or call {dir}/codex-run",
            dir = bin_dir.display()
        );
    }
    Ok(0)
}

/// The directory given for `flag` (which must be absolute: a relative one would land wherever the
/// command happened to run), else the default.
fn given_or(
    flag: &str,
    given: Option<PathBuf>,
    default: impl FnOnce() -> Result<PathBuf, Failure>,
) -> Result<PathBuf, Failure> {
    match given {
        Some(dir) if dir.is_absolute() => Ok(dir),
        Some(dir) => Err(Failure::usage(format!(
            "{flag} {}: must be an absolute path",
            dir.display()
        ))),
        None => default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(state: Existing) -> impl Fn(&Path) -> Existing {
        move |_| state.clone()
    }

    #[test]
    fn creates_missing_links() {
        let actions = plan(Path::new("/b"), Path::new("/x/cl"), all(Existing::Missing)).unwrap();
        assert_eq!(actions.len(), 3);
        assert!(
            matches!(&actions[0], LinkAction::Create { link, .. } if link == Path::new("/b/codex-run"))
        );
    }

    #[test]
    fn keeps_correct_links_and_replaces_foreign_ones() {
        let target = Path::new("/x/cl");
        let state = |p: &Path| {
            if p.ends_with("codex-run") {
                Existing::Symlink(PathBuf::from("/x/cl"))
            } else {
                Existing::Symlink(PathBuf::from("/old/cl"))
            }
        };
        let actions = plan(Path::new("/b"), target, state).unwrap();
        assert!(matches!(actions[0], LinkAction::AlreadyCorrect { .. }));
        assert!(matches!(actions[1], LinkAction::Replace { .. }));
    }

    #[test]
    fn writes_missing_files_updates_ours_and_refuses_foreign_ones() {
        let files = || vec![("a/x".to_string(), b"new".to_vec())];
        let data = Path::new("/d");
        let plan = |state: ExistingFile| plan_files(data, files(), move |_| state.clone());
        assert!(
            matches!(&plan(ExistingFile::Missing).unwrap()[0], FileAction::Write { path, .. } if path == Path::new("/d/a/x"))
        );
        assert!(matches!(
            plan(ExistingFile::Ours(b"new".to_vec())).unwrap()[0],
            FileAction::Current { .. }
        ));
        assert!(matches!(
            plan(ExistingFile::Ours(b"old".to_vec())).unwrap()[0],
            FileAction::Update { .. }
        ));
        let err = plan(ExistingFile::Foreign).unwrap_err();
        assert!(err.message.contains("/d/a/x"), "{}", err.message);
    }

    #[test]
    fn path_membership_compares_absolute_entries() {
        let p = |s: &str| std::ffi::OsString::from(s);
        assert!(on_path(Path::new("/usr/bin"), &p("/bin:/usr/bin")));
        assert!(!on_path(Path::new("/opt/x/bin"), &p("/bin:/usr/bin::.")));
    }

    #[test]
    fn refuses_when_a_regular_file_is_in_the_way() {
        let err = plan(Path::new("/b"), Path::new("/x"), all(Existing::NotASymlink)).unwrap_err();
        assert!(err.message.contains("/b/codex-run"), "{}", err.message);
    }
}
