//! Where the shared login lives, so a token refresh inside a task reaches it (issue 15 item 9,
//! reference codex-config-and-auth.md §4.2).
//!
//! Codex saves a refreshed `auth.json` by resolving the per-task link chain to the real file, then
//! taking `<real>.lock`, writing a temp file next to it and renaming it over the real file. So the
//! *directory holding the real file* must be writable inside the sandbox, and nothing else of the
//! shared home may be. The real file therefore moves, once, into a directory of its own,
//! `<shared>/credentials/auth.json` (0700 / 0600), and `<shared>/auth.json` becomes the relative
//! symlink `credentials/auth.json`: the user's own Codex follows it the same way (reads through it,
//! and writes its refreshes into `credentials/`), and the per-task `auth.json` link resolves
//! through it. The outer layer makes only `<shared>/credentials` writable ([`credential_dir`]).
//!
//! The move happens under Codex's own commit lock (`<shared>/auth.json.lock`), so it never races a
//! refresh being saved by the user's Codex or by another task.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use super::{Action, HomeError};
use crate::fs::{self, Dir, Entry, Kind};

/// The credential directory's name inside the shared home.
pub const DIR: &str = "credentials";
const AUTH: &str = "auth.json";
/// Codex's commit lock for `<shared>/auth.json` (reference §4.2 step 4).
const COMMIT_LOCK: &str = "auth.json.lock";

/// The shared login, as found (and, for a plain file, moved).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum Credentials {
    /// No `<shared>/auth.json` (an API-key or logged-out user).
    Absent,
    /// In the credential directory; a refresh inside a task can be saved there.
    Dedicated { dir: PathBuf },
    /// The user's own symlink to somewhere else: left alone; a refresh inside a sandbox cannot be
    /// saved unless the outer layer makes that directory writable, which the launcher does not.
    Elsewhere { target: PathBuf },
}

/// The directory the outer layer must make writable for refreshes to be saved: `<shared>/credentials`
/// when the shared `auth.json` is (or will be moved there by the next prepare) a file the
/// launcher manages; None otherwise. Reads only (`lstat`), for the planner.
pub fn credential_dir(shared: &Path) -> Option<PathBuf> {
    let link = shared.join(AUTH);
    let meta = std::fs::symlink_metadata(&link).ok()?;
    let dir = shared.join(DIR);
    if meta.is_file() {
        return Some(dir);
    }
    (meta.file_type().is_symlink() && points_into_dir(shared)).then_some(dir)
}

/// Whether the symlink `<shared>/auth.json` names `<shared>/credentials/auth.json` (by its text:
/// what the credential file itself is, [`check`] judges without following it).
fn points_into_dir(shared: &Path) -> bool {
    let Ok(text) = std::fs::read_link(shared.join(AUTH)) else {
        return false;
    };
    crate::policy::resolve::normalize(&shared.join(text)) == shared.join(DIR).join(AUTH)
}

/// Makes sure the shared login sits in the credential directory, moving a plain
/// `<shared>/auth.json` there. A credential directory or file a task could have tampered with (not
/// ours, group/world writable, the file not a regular file) is refused: Codex would follow a
/// planted symlink and write fresh tokens wherever it points.
pub fn ensure(shared: &Path, actions: &mut Vec<Action>) -> Result<Credentials, HomeError> {
    let link = shared.join(AUTH);
    let Ok(meta) = std::fs::symlink_metadata(&link) else {
        return Ok(Credentials::Absent);
    };
    let dir_path = shared.join(DIR);
    if meta.file_type().is_symlink() {
        if !points_into_dir(shared) {
            let target = std::fs::canonicalize(&link).unwrap_or(link);
            return Ok(Credentials::Elsewhere { target });
        }
        check(&Dir::anchor(shared)?, actions)?;
        return Ok(Credentials::Dedicated { dir: dir_path });
    }
    if !meta.is_file() {
        return Ok(Credentials::Elsewhere { target: link });
    }
    let home = Dir::anchor(shared)?;
    let commit = home.lock(COMMIT_LOCK, false)?;
    // Read again under the lock: a refresh saved just before is the newest login, and another
    // prepare may have moved it already.
    if home.entry(AUTH)?.map(|e| e.kind) != Some(Kind::File) {
        drop(commit);
        return ensure(shared, actions);
    }
    let Some(bytes) = home.read_file(AUTH)? else {
        return Ok(Credentials::Absent);
    };
    let dir = home.create_dir(DIR, 0o700)?;
    dir.write_file(AUTH, &bytes, 0o600)?;
    home.symlink(&Path::new(DIR).join(AUTH), AUTH)?;
    drop(commit);
    actions.push(Action::new(&dir_path.join(AUTH), "moved"));
    Ok(Credentials::Dedicated { dir: dir_path })
}

/// The credential directory holds the login and Codex's commit lock, as regular files. Anything
/// else there (a symlink, FIFO, socket or directory) was planted: the user's own Codex would follow
/// a link at `auth.json.lock` or `auth.json.tmp*` when it next saves a login, so it goes.
///
/// A Landlock task of the user's can also chmod or hard-link what is here. Refusing that state
/// would lock the user out of every later launch, so the launcher's own files are repaired and
/// the repair reported: the login gets its 0600 back, and a file with another name somewhere (a
/// hard link from a workspace, through which every later task would rewrite the login) is copied
/// into a file of its own. Only a login someone else owns is refused.
fn check(shared: &Dir, actions: &mut Vec<Action>) -> Result<(), HomeError> {
    let refuse = |why: &str| {
        HomeError::Refused(format!(
            "{}: {why}; a task may have tampered with it: check it, remove it and log in again",
            shared.path().join(DIR).join(AUTH).display()
        ))
    };
    let dir = shared
        .open_dir(DIR)?
        .ok_or_else(|| refuse("the credential directory is missing"))?;
    match dir.entry(AUTH)? {
        Some(e) if e.kind == Kind::File && e.uid != euid() => {
            return Err(refuse(&format!("owned by uid {}, not {}", e.uid, euid())))
        }
        Some(e) if e.kind == Kind::File => {
            if !repair(&dir, AUTH.as_ref(), e, actions)? {
                return Err(refuse("larger than any login"));
            }
        }
        _ => return Err(refuse("not a regular file")),
    }
    for name in dir.names()? {
        if name == AUTH {
            continue;
        }
        let Some(e) = dir.entry(&name)? else {
            continue;
        };
        if e.kind == Kind::File && e.uid == euid() && repair(&dir, &name, e, actions)? {
            continue;
        }
        dir.remove_any(&name)?;
        actions.push(Action::new(&dir.path().join(&name), "removed"));
    }
    Ok(())
}

/// Whether `e` is a credential file as the launcher keeps it: a regular file of ours with no other
/// name, that nobody else can read or write.
pub(super) fn is_sound(e: &Entry) -> bool {
    e.kind == Kind::File && e.uid == euid() && e.nlink == 1 && e.mode & 0o077 == 0
}

/// Repairs the regular file `name` of ours in the credential directory (see [`check`]); false when
/// it cannot be kept: an aliased file too large to be a credential file, or one beside the login
/// that cannot be read.
fn repair(dir: &Dir, name: &OsStr, e: Entry, actions: &mut Vec<Action>) -> Result<bool, HomeError> {
    let path = dir.path().join(name);
    if is_sound(&e) {
        return Ok(true);
    }
    // Only the login's mode is ours to set: Codex decides its lock's and temp files'.
    if name == AUTH && (e.mode & 0o077 != 0 || e.mode & 0o600 != 0o600) {
        if let Some(old) = dir.repair_mode(name, Kind::File, |_| 0o600)? {
            if old & 0o077 != 0 {
                fs::report(
                    &path,
                    &format!(
                        "was readable or writable by others (mode {old:04o}); set back to 0600: \
                         it may have been read, log in again if in doubt"
                    ),
                );
            }
            actions.push(Action::new(&path, "repaired"));
        }
    }
    if e.nlink > 1 {
        let bytes = match dir.read_file_at_most(name, MAX_FILE_BYTES) {
            Ok(bytes) => bytes,
            // Any other file here that cannot be read is nobody's login: it goes.
            Err(_) if name != AUTH => None,
            Err(e) => return Err(e.into()),
        };
        let Some(bytes) = bytes else {
            return Ok(false);
        };
        // A fresh file renamed over the name: the other name keeps the old inode, and nothing
        // written through it reaches this one any more.
        dir.write_file(name, &bytes, 0o600)?;
        fs::report(
            &path,
            &format!(
                "had {} other name(s) (a hard link, from a workspace perhaps, through which a task \
                 could rewrite it); copied into a file of its own",
                e.nlink - 1
            ),
        );
        actions.push(Action::new(&path, "repaired"));
    }
    Ok(true)
}

/// Larger than any login or lock file Codex writes.
const MAX_FILE_BYTES: u64 = 1 << 20;

fn euid() -> u32 {
    nix::unistd::geteuid().as_raw()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_plain_login_moves_once_and_stays_readable_through_the_old_path() {
        let t = tempfile::tempdir().unwrap();
        let shared = t.path();
        std::fs::write(shared.join(AUTH), b"{\"tokens\":1}").unwrap();
        assert_eq!(credential_dir(shared), Some(shared.join(DIR)));
        let mut actions = Vec::new();
        let c = ensure(shared, &mut actions).unwrap();
        assert_eq!(
            c,
            Credentials::Dedicated {
                dir: shared.join(DIR)
            }
        );
        assert_eq!(actions.len(), 1);
        assert_eq!(std::fs::read(shared.join(AUTH)).unwrap(), b"{\"tokens\":1}");
        assert_eq!(
            std::fs::read_link(shared.join(AUTH)).unwrap(),
            Path::new("credentials/auth.json")
        );
        let mut again = Vec::new();
        assert_eq!(ensure(shared, &mut again).unwrap(), c);
        assert!(again.is_empty());
        assert_eq!(credential_dir(shared), Some(shared.join(DIR)));
    }

    #[test]
    fn links_and_other_plants_beside_the_login_are_removed() {
        let t = tempfile::tempdir().unwrap();
        let shared = t.path();
        std::fs::write(shared.join(AUTH), b"{}").unwrap();
        ensure(shared, &mut Vec::new()).unwrap();
        let dir = shared.join(DIR);
        let outside = shared.join("outside");
        std::os::unix::fs::symlink(&outside, dir.join(COMMIT_LOCK)).unwrap();
        std::os::unix::fs::symlink(&outside, dir.join("auth.json.tmp1")).unwrap();
        nix::unistd::mkfifo(&dir.join("fifo"), nix::sys::stat::Mode::S_IRWXU).unwrap();
        std::fs::create_dir(dir.join("sub")).unwrap();
        std::fs::write(dir.join("leftover.tmp"), b"x").unwrap();
        let mut actions = Vec::new();
        ensure(shared, &mut actions).unwrap();
        let mut left: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["auth.json", "leftover.tmp"]);
        assert_eq!(actions.len(), 4);
        assert!(!outside.exists());
    }

    #[test]
    fn a_tampered_credential_file_is_refused_and_foreign_links_left_alone() {
        let t = tempfile::tempdir().unwrap();
        let shared = t.path();
        std::fs::write(shared.join(AUTH), b"{}").unwrap();
        ensure(shared, &mut Vec::new()).unwrap();
        let real = shared.join(DIR).join(AUTH);
        std::fs::remove_file(&real).unwrap();
        std::fs::write(shared.join("elsewhere.json"), b"{}").unwrap();
        std::os::unix::fs::symlink(shared.join("elsewhere.json"), &real).unwrap();
        let e = ensure(shared, &mut Vec::new()).unwrap_err();
        assert!(e.to_string().contains("not a regular file"), "{e}");

        let t = tempfile::tempdir().unwrap();
        let shared = t.path();
        std::fs::write(shared.join("mine.json"), b"{}").unwrap();
        std::os::unix::fs::symlink("mine.json", shared.join(AUTH)).unwrap();
        assert!(matches!(
            ensure(shared, &mut Vec::new()).unwrap(),
            Credentials::Elsewhere { .. }
        ));
        assert_eq!(credential_dir(shared), None);
    }
}
