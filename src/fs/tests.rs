//! `fs` against what a task can plant: symlinks, FIFOs, foreign-owned and world-writable dirs.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use super::lock::LOCK_WAIT;
use super::remove::REMOVE_DEPTH;
use super::*;

/// A temp dir (ours, 0700) with a victim file outside the dirs the tests operate in.
struct Scene {
    _tmp: tempfile::TempDir,
    base: PathBuf,
    victim: PathBuf,
}

fn scene() -> Scene {
    let tmp = tempfile::tempdir().unwrap();
    let base = tmp.path().join("base");
    std::fs::create_dir(&base).unwrap();
    let victim = tmp.path().join("victim");
    std::fs::write(&victim, "original").unwrap();
    std::fs::set_permissions(&victim, std::fs::Permissions::from_mode(0o644)).unwrap();
    Scene {
        base,
        victim,
        _tmp: tmp,
    }
}

impl Scene {
    fn dir(&self) -> Dir {
        Dir::anchor(&self.base).unwrap()
    }

    fn assert_victim_untouched(&self) {
        assert_eq!(std::fs::read_to_string(&self.victim).unwrap(), "original");
        let mode = std::fs::metadata(&self.victim).unwrap().mode() & 0o7777;
        assert_eq!(mode, 0o644, "victim mode changed");
    }
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn mkfifo(path: &Path) {
    nix::unistd::mkfifo(path, Mode::from_bits_truncate(0o600)).unwrap();
}

fn chown_nobody(path: &Path) {
    std::os::unix::fs::lchown(path, Some(65534), Some(65534)).unwrap();
}

#[test]
fn write_file_replaces_a_planted_symlink_and_never_writes_through_it() {
    let s = scene();
    let link = s.base.join("config.toml");
    std::os::unix::fs::symlink(&s.victim, &link).unwrap();
    // Old-style temp names pointing at the victim do not matter either.
    for pid in [1u32, std::process::id(), std::process::id() + 1] {
        std::os::unix::fs::symlink(&s.victim, s.base.join(format!(".config.toml.tmp-{pid}")))
            .unwrap();
    }
    s.dir()
        .write_file("config.toml", b"x = 1\n", 0o600)
        .unwrap();
    let meta = std::fs::symlink_metadata(&link).unwrap();
    assert!(meta.is_file(), "config.toml is a regular file again");
    assert_eq!(meta.mode() & 0o777, 0o600);
    assert_eq!(std::fs::read_to_string(&link).unwrap(), "x = 1\n");
    s.assert_victim_untouched();
}

#[test]
fn temp_names_are_unpredictable_and_recognisable() {
    let a = temp_name();
    let b = temp_name();
    assert_ne!(a, b);
    assert!(is_leftover_temp(&a));
    for old in [".config.toml.tmp-123", ".sessions.link-9", ".a.b.tmp-1"] {
        assert!(is_leftover_temp(OsStr::new(old)), "{old}");
    }
    for keep in [
        "config.toml",
        ".tmp-1",
        ".x.tmp-",
        ".x.tmp-12a",
        "x.tmp-1",
        ".env",
    ] {
        assert!(!is_leftover_temp(OsStr::new(keep)), "{keep}");
    }
}

#[test]
fn write_file_into_a_subdirectory_keeps_the_temp_file_in_the_top() {
    let s = scene();
    let top = s.dir();
    let sub = top.create_dirs(Path::new("a/b"), 0o700).unwrap();
    top.write_file_into(&sub, "f.md", b"hi", 0o600).unwrap();
    assert_eq!(
        std::fs::read_to_string(s.base.join("a/b/f.md")).unwrap(),
        "hi"
    );
    let names = top.names().unwrap();
    assert_eq!(names, vec![OsString::from("a")], "no temp file left");
}

#[test]
fn create_dirs_refuses_a_symlinked_component() {
    let s = scene();
    let outside = s.base.parent().unwrap().join("outside");
    std::fs::create_dir(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, s.base.join("state")).unwrap();
    let err = s
        .dir()
        .create_dirs(Path::new("state/codex-launcher/locks"), 0o700)
        .unwrap_err();
    assert!(err.to_string().contains("not trusted"), "{err}");
    assert!(std::fs::read_dir(&outside).unwrap().next().is_none());
}

#[test]
fn create_dirs_takes_group_and_other_write_away_from_our_dirs() {
    let s = scene();
    let open = s.base.join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let dir = s.dir().create_dirs(Path::new("open/new"), 0o700).unwrap();
    assert_eq!(std::fs::metadata(&open).unwrap().mode() & 0o777, 0o755);
    assert_eq!(dir.stat().unwrap().mode, 0o700);
}

#[test]
fn directories_owned_by_someone_else_are_refused() {
    if !is_root() {
        return crate::test_skip::skip("chown needs root");
    }
    let s = scene();
    let foreign = s.base.join("foreign");
    std::fs::create_dir(&foreign).unwrap();
    chown_nobody(&foreign);
    let err = s
        .dir()
        .create_dirs(Path::new("foreign/x"), 0o700)
        .unwrap_err();
    assert!(err.to_string().contains("owned by uid 65534"), "{err}");
    assert!(!foreign.join("x").exists());
    let err = private_dir(&foreign, 0o700).unwrap_err();
    assert!(err.to_string().contains("not trusted"), "{err}");
}

#[test]
fn private_dir_fixes_our_mode_and_never_follows_a_symlink() {
    let s = scene();
    let reg = s.base.join("reg");
    std::fs::create_dir(&reg).unwrap();
    std::fs::set_permissions(&reg, std::fs::Permissions::from_mode(0o777)).unwrap();
    private_dir(&reg, 0o700).unwrap();
    assert_eq!(std::fs::metadata(&reg).unwrap().mode() & 0o7777, 0o700);

    // Our own symlink in its place is replaced by a real directory; its target is left alone.
    let planted = s.base.join("planted");
    let elsewhere = s.base.parent().unwrap().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    std::fs::set_permissions(&elsewhere, std::fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::symlink(&elsewhere, &planted).unwrap();
    private_dir(&planted, 0o700).unwrap();
    assert!(std::fs::symlink_metadata(&planted).unwrap().is_dir());
    assert_eq!(
        std::fs::metadata(&elsewhere).unwrap().mode() & 0o7777,
        0o755
    );

    // Someone else's symlink is refused.
    if is_root() {
        let foreign = s.base.join("foreign-link");
        std::os::unix::fs::symlink(&elsewhere, &foreign).unwrap();
        chown_nobody(&foreign);
        assert!(private_dir(&foreign, 0o700).is_err());
        assert!(std::fs::symlink_metadata(&foreign)
            .unwrap()
            .file_type()
            .is_symlink());
    }
}

#[test]
fn lock_replaces_a_symlink_or_fifo_without_opening_it() {
    let s = scene();
    let dir = s.dir();
    std::os::unix::fs::symlink(&s.victim, s.base.join("a.lock")).unwrap();
    let missing_target = s.base.parent().unwrap().join("created-by-lock");
    std::os::unix::fs::symlink(&missing_target, s.base.join("b.lock")).unwrap();
    mkfifo(&s.base.join("c.lock"));
    for name in ["a.lock", "b.lock", "c.lock"] {
        let lock = dir.lock(name, false).unwrap();
        let meta = std::fs::symlink_metadata(s.base.join(name)).unwrap();
        assert!(meta.is_file(), "{name} is a regular file now");
        assert_eq!(meta.mode() & 0o777, 0o600);
        drop(lock);
    }
    assert!(!missing_target.exists());
    s.assert_victim_untouched();
}

#[test]
fn lock_repairs_a_directory_or_a_mode_of_ours_at_its_name() {
    let s = scene();
    let dir = s.dir();
    // A non-empty tree, one level of it closed, where the lock file belongs.
    std::fs::create_dir_all(s.base.join("d.lock/x/y")).unwrap();
    std::fs::write(s.base.join("d.lock/x/y/f"), "").unwrap();
    std::os::unix::fs::symlink(&s.victim, s.base.join("d.lock/x/link")).unwrap();
    std::fs::set_permissions(
        s.base.join("d.lock/x"),
        std::fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    // A lock file of ours with every bit taken away.
    std::fs::write(s.base.join("m.lock"), "").unwrap();
    std::fs::set_permissions(
        s.base.join("m.lock"),
        std::fs::Permissions::from_mode(0o000),
    )
    .unwrap();
    for name in ["d.lock", "m.lock"] {
        let lock = dir.lock(name, false).unwrap();
        let meta = std::fs::symlink_metadata(s.base.join(name)).unwrap();
        assert!(meta.is_file(), "{name}");
        assert_eq!(meta.mode() & 0o7777, 0o600, "{name}");
        drop(lock);
    }
    s.assert_victim_untouched();
}

#[test]
fn repair_mode_changes_only_what_is_ours_and_of_the_kind_asked() {
    let s = scene();
    let dir = s.dir();
    std::fs::create_dir(s.base.join("sub")).unwrap();
    std::fs::set_permissions(s.base.join("sub"), std::fs::Permissions::from_mode(0o000)).unwrap();
    std::os::unix::fs::symlink(&s.victim, s.base.join("link")).unwrap();
    assert_eq!(
        dir.repair_mode("sub", Kind::Dir, |m| m | 0o700).unwrap(),
        Some(0)
    );
    assert_eq!(
        std::fs::metadata(s.base.join("sub")).unwrap().mode() & 0o7777,
        0o700
    );
    // Already right, of another kind, a symlink (never followed) or missing: nothing changes.
    assert_eq!(
        dir.repair_mode("sub", Kind::Dir, |m| m | 0o700).unwrap(),
        None
    );
    assert_eq!(dir.repair_mode("sub", Kind::File, |_| 0o600).unwrap(), None);
    assert_eq!(
        dir.repair_mode("link", Kind::File, |_| 0o600).unwrap(),
        None
    );
    assert_eq!(
        dir.repair_mode("gone", Kind::File, |_| 0o600).unwrap(),
        None
    );
    s.assert_victim_untouched();
}

#[test]
fn lock_refuses_a_file_someone_else_owns() {
    if !is_root() {
        return crate::test_skip::skip("chown needs root");
    }
    let s = scene();
    let path = s.base.join("x.lock");
    std::fs::write(&path, "").unwrap();
    chown_nobody(&path);
    let err = s.dir().lock("x.lock", false).unwrap_err();
    assert!(err.to_string().contains("owned by uid 65534"), "{err}");
}

#[test]
fn a_removable_lock_goes_when_released_and_excludes_while_held() {
    let s = scene();
    let dir = s.dir();
    let lock = dir.lock("t.lock", true).unwrap();
    assert!(s.base.join("t.lock").is_file());
    let (tx, rx) = std::sync::mpsc::channel();
    let base = s.base.clone();
    let waiter = std::thread::spawn(move || {
        let dir = Dir::anchor(&base).unwrap();
        let again = dir.lock("t.lock", true).unwrap();
        tx.send(()).unwrap();
        drop(again);
    });
    std::thread::sleep(std::time::Duration::from_millis(50));
    assert!(
        rx.try_recv().is_err(),
        "second lock taken while the first is held"
    );
    drop(lock);
    rx.recv_timeout(std::time::Duration::from_secs(5)).unwrap();
    waiter.join().unwrap();
    assert!(!s.base.join("t.lock").exists());
}

#[test]
fn reads_never_open_a_fifo_or_follow_a_symlink() {
    let s = scene();
    mkfifo(&s.base.join("fifo"));
    std::os::unix::fs::symlink(&s.victim, s.base.join("link")).unwrap();
    let dir = s.dir();
    assert_eq!(dir.read_file("fifo").unwrap(), None);
    assert_eq!(dir.read_file("link").unwrap(), None);
    assert!(!dir.holds("link", b"original", 0o644).unwrap());
    std::fs::write(s.base.join("f"), "abc").unwrap();
    std::fs::set_permissions(s.base.join("f"), std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(dir.holds("f", b"abc", 0o600).unwrap());
    assert!(!dir.holds("f", b"abc", 0o644).unwrap());
}

#[test]
fn remove_any_deletes_a_tree_without_following_its_symlinks() {
    let s = scene();
    let outside = s.base.parent().unwrap().join("outside-tree");
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("keep"), "k").unwrap();
    let mut deep = s.base.join("rules");
    for i in 0..(REMOVE_DEPTH * 3) {
        deep = deep.join(format!("d{i}"));
    }
    std::fs::create_dir_all(&deep).unwrap();
    std::fs::write(deep.join("x.rules"), "allow").unwrap();
    std::os::unix::fs::symlink(&outside, s.base.join("rules/escape")).unwrap();
    std::os::unix::fs::symlink(&s.victim, deep.join("victim")).unwrap();
    mkfifo(&s.base.join("rules/fifo"));
    let dir = s.dir();
    assert!(dir.remove_any("rules").unwrap());
    assert!(dir.names().unwrap().is_empty(), "{:?}", dir.names());
    assert_eq!(std::fs::read_to_string(outside.join("keep")).unwrap(), "k");
    s.assert_victim_untouched();
    assert!(!dir.remove_any("rules").unwrap());
}

#[test]
fn symlink_replaces_a_file_atomically_and_leaves_no_temp() {
    let s = scene();
    std::fs::write(s.base.join("auth.json"), "stale").unwrap();
    let dir = s.dir();
    dir.symlink(Path::new("/shared/auth.json"), "auth.json")
        .unwrap();
    assert_eq!(
        std::fs::read_link(s.base.join("auth.json")).unwrap(),
        Path::new("/shared/auth.json")
    );
    assert_eq!(dir.names().unwrap(), vec![OsString::from("auth.json")]);
}

#[test]
fn link_new_links_the_open_file_not_what_its_name_holds_now() {
    let s = scene();
    let dir = s.dir();
    let mut first = dir.create_new("first", 0o644).unwrap();
    std::io::Write::write_all(&mut first, b"ours").unwrap();
    let ours = std::fs::symlink_metadata(s.base.join("first"))
        .unwrap()
        .ino();
    // A task moves the first name away and puts a symlink to the victim there before the link
    // is made.
    std::fs::rename(s.base.join("first"), s.base.join("moved")).unwrap();
    std::os::unix::fs::symlink(&s.victim, s.base.join("first")).unwrap();
    dir.link_new(&first, "second").unwrap();
    let linked = std::fs::symlink_metadata(s.base.join("second")).unwrap();
    assert_eq!(linked.ino(), ours);
    assert_eq!(std::fs::read(s.base.join("second")).unwrap(), b"ours");
    // A file with no name left cannot be linked: that fails, it links nothing else.
    std::fs::remove_file(s.base.join("moved")).unwrap();
    std::fs::remove_file(s.base.join("second")).unwrap();
    assert!(dir.link_new(&first, "fourth").is_err());
    assert!(std::fs::symlink_metadata(s.base.join("fourth")).is_err());
    // Nothing is replaced: a name already taken fails.
    std::fs::write(s.base.join("third"), "x").unwrap();
    let taken = dir.link_new(&first, "third").unwrap_err();
    assert_eq!(taken.errno(), Some(Errno::EEXIST));
    s.assert_victim_untouched();
}

#[test]
fn placeholder_replaces_a_symlink_and_has_the_exact_mode() {
    let s = scene();
    std::os::unix::fs::symlink(&s.victim, s.base.join("denied")).unwrap();
    let dir = s.dir();
    dir.placeholder("denied", 0o000).unwrap();
    let meta = std::fs::symlink_metadata(s.base.join("denied")).unwrap();
    assert!(meta.is_file() && meta.len() == 0);
    assert_eq!(meta.mode() & 0o7777, 0o000);
    dir.placeholder("denied", 0o000).unwrap();
    s.assert_victim_untouched();
}

#[test]
fn concurrent_placeholders_all_succeed_and_the_name_never_goes_missing() {
    let s = scene();
    // A planted directory and a wrong-mode file are replaced as well.
    std::fs::create_dir_all(s.base.join("empty/sub")).unwrap();
    std::fs::write(s.base.join("denied"), "x").unwrap();
    std::thread::scope(|scope| {
        for _ in 0..8 {
            scope.spawn(|| {
                let dir = s.dir();
                for _ in 0..200 {
                    dir.placeholder("empty", 0o444).unwrap();
                    dir.placeholder("denied", 0o000).unwrap();
                    // Once made, the name is always there for the next bind.
                    assert!(std::fs::symlink_metadata(s.base.join("empty")).is_ok());
                }
            });
        }
    });
    for (name, mode) in [("empty", 0o444), ("denied", 0o000)] {
        let meta = std::fs::symlink_metadata(s.base.join(name)).unwrap();
        assert!(meta.is_file() && meta.len() == 0, "{name}");
        assert_eq!(meta.mode() & 0o7777, mode, "{name}");
    }
    let mut names = s.dir().names().unwrap();
    names.sort();
    assert_eq!(
        names,
        vec![OsString::from("denied"), OsString::from("empty")]
    );
}

#[test]
fn names_with_separators_or_dots_are_refused() {
    let s = scene();
    let dir = s.dir();
    for bad in ["", ".", "..", "a/b", "/etc/passwd"] {
        assert!(dir.write_file(bad, b"x", 0o600).is_err(), "{bad:?}");
    }
    assert!(dir.create_dirs(Path::new("../x"), 0o700).is_err());
    assert!(dir.create_dirs(Path::new("/x"), 0o700).is_err());
}

#[test]
fn open_beneath_follows_nothing_inside_a_writable_root() {
    let s = scene();
    let ws = s.base.join("ws");
    std::fs::create_dir(&ws).unwrap();
    let elsewhere = s.base.parent().unwrap().join("elsewhere");
    std::fs::create_dir(&elsewhere).unwrap();
    // A task replaced ws/out by a link: the export must not land in `elsewhere`.
    std::os::unix::fs::symlink(&elsewhere, ws.join("out")).unwrap();
    assert!(open_beneath(&ws.join("out/locks"), std::slice::from_ref(&ws), 0o755).is_err());
    assert!(std::fs::read_dir(&elsewhere).unwrap().next().is_none());
    // Outside every root the user's own link is followed; inside, a fresh path is created.
    let dir = open_beneath(&ws.join("out/locks"), &[s.base.join("other")], 0o755).unwrap();
    dir.write_file("x", b"1", 0o600).unwrap();
    assert!(elsewhere.join("locks/x").is_file());
    open_beneath(&ws.join("a/b"), std::slice::from_ref(&ws), 0o755).unwrap();
    assert!(ws.join("a/b").is_dir());
}

#[test]
fn a_lock_that_changes_hands_is_waited_for_past_the_bound_and_a_stuck_one_is_not() {
    use std::time::Instant;
    let s = scene();
    // A queue of launches: the lock changes hands every 2 s for 8 s in all, longer than
    // LOCK_WAIT. A waiter behind them (it may slip in at a hand-over) is never refused.
    let first = s.dir().lock("queue", false).unwrap();
    std::thread::scope(|scope| {
        let holders = scope.spawn(|| {
            let mut held = first;
            for _ in 0..4 {
                std::thread::sleep(LOCK_WAIT * 2 / 5);
                drop(held);
                held = s.dir().lock("queue", false).unwrap();
            }
            drop(held);
        });
        let waited = s.dir().lock("queue", false);
        assert!(waited.is_ok(), "{waited:?}");
        drop(waited);
        holders.join().unwrap();
    });
    // One holder that keeps it: refused once the bound passes without a change of hands.
    let stuck = s.dir().lock("queue", false).unwrap();
    let started = Instant::now();
    let waiter = std::thread::scope(|scope| scope.spawn(|| s.dir().lock("queue", false)).join());
    assert!(matches!(waiter.unwrap(), Err(FsError::Held { .. })));
    assert!(started.elapsed() >= LOCK_WAIT && started.elapsed() < LOCK_WAIT * 2);
    drop(stuck);
}
